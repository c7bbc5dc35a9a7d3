//! `switchboard demo`: the Connect model on loopback with embedded
//! defaults: the SBC of examples/teams.toml and, in the same process, the
//! Teams Direct Routing emulator it talks to (two customer tenants, their
//! Teams users, three proxies). Carriers are whoever calls 127.0.0.1:5060
//! over UDP, e.g. SIPp.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// The configuration the demo runs, as shipped in examples/.
const TEAMS_EXAMPLE: &str = include_str!("../../../examples/teams.toml");

/// Where the demo keeps its generated certificates unless told otherwise.
pub(crate) fn default_data_dir() -> PathBuf {
    std::env::temp_dir().join("switchboard-demo")
}

/// Runs the emulator and the SBC until Ctrl-C.
pub(crate) async fn run(data_dir: &Path) -> anyhow::Result<()> {
    let certs = data_dir.join("tls");
    let certs_text = certs
        .to_str()
        .context("the data directory must be valid UTF-8")?;
    let text = TEAMS_EXAMPLE.replace("testdata/tls", certs_text);
    let sbc_config = sbc::Config::from_toml_str(&text, "examples/teams.toml (embedded)")?;
    let emulator_config = emulator::EmulatorConfig::from_toml(&text)?;
    if !emulator::ca_path(&emulator_config.cert_dir).exists() {
        emulator::write_certificates_for(&emulator_config, &emulator_config.cert_dir)?;
    }
    let shutdown = CancellationToken::new();
    let teams = emulator::start(emulator_config, shutdown.clone()).await?;
    let mut events = teams.subscribe();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            tracing::info!(?event, "teams");
        }
    });
    println!("switchboard demo: SBC on udp 127.0.0.1:5060 and tls 127.0.0.1:5061,");
    println!(
        "emulated Teams proxies on 127.0.0.1:15061-15063, certificates in {}.",
        certs.display()
    );
    println!("Call a Teams user through it, e.g.:");
    println!("  sipp -sn uac -s +12065550100 127.0.0.1:5060 -m 1   (contoso: adele answers)");
    println!("  sipp -sn uac -s +12065550101 127.0.0.1:5060 -m 1   (contoso: megan is busy)");
    let result = crate::serve::run_config(sbc_config, Path::new(".")).await;
    shutdown.cancel();
    teams.stopped().await;
    result
}
