//! `switchboard emulate`: faithful local stand-ins for Microsoft services.

use std::path::Path;

use anyhow::Context;
use emulator::EmulatorConfig;
use tokio_util::sync::CancellationToken;

fn load(path: &Path) -> anyhow::Result<EmulatorConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    EmulatorConfig::from_toml(&text).with_context(|| format!("{}: [emulator]", path.display()))
}

/// Writes the emulator's test CA and the proxy and SBC certificates.
pub(crate) fn certs(path: &Path) -> anyhow::Result<()> {
    let config = load(path)?;
    let paths = emulator::write_certificates_for(&config, &config.cert_dir)?;
    println!("CA: {}", paths.ca.display());
    println!(
        "SBC: {} {}",
        paths.sbc_cert.display(),
        paths.sbc_key.display()
    );
    for (fqdn, cert, _key) in &paths.proxies {
        println!("{fqdn}: {}", cert.display());
    }
    Ok(())
}

/// Runs the Teams Direct Routing emulator until Ctrl-C, generating its
/// certificates first if the CA is not there yet, and logs what Teams
/// sees (calls received, rejected, answered, OPTIONS, SBC health).
pub(crate) async fn teams(path: &Path) -> anyhow::Result<()> {
    let config = load(path)?;
    if !emulator::ca_path(&config.cert_dir).exists() {
        emulator::write_certificates_for(&config, &config.cert_dir)?;
        tracing::info!(dir = %config.cert_dir.display(), "generated test certificates");
    }
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let running = emulator::start(config, shutdown.clone()).await?;
    let mut events = running.subscribe();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => tracing::info!(?event, "teams"),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "event log fell behind");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            () = shutdown.cancelled() => break,
        }
    }
    running.stopped().await;
    Ok(())
}
