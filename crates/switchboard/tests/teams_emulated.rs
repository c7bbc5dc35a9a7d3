//! The whole Connect model on loopback, as README's demo runs it: SIPp as
//! the carrier, `switchboard serve`, and `switchboard emulate teams` as the
//! Teams Direct Routing proxies (mutual TLS, SRTP offers, OPTIONS health),
//! all three real processes configured by examples/teams.toml on free
//! ports.
#![allow(clippy::unwrap_used)]

mod common;

use common::{free_tcp_port, free_udp_port, sipp, wait_for_log, Running};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A running system: the emulator, the SBC, their logs.
struct System {
    dir: PathBuf,
    sbc_udp: u16,
    _emulator: Running,
    _switchboard: Running,
}

impl System {
    fn start(test: &str) -> System {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("teams-{test}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/teams.toml");
        let sbc_udp = free_udp_port();
        let sbc_tls = free_tcp_port();
        let proxies = [free_tcp_port(), free_tcp_port(), free_tcp_port()];
        let certs = dir.join("tls");
        let config = std::fs::read_to_string(example)
            .unwrap()
            .replace("127.0.0.1:5060", &format!("127.0.0.1:{sbc_udp}"))
            .replace("127.0.0.1:5061", &format!("127.0.0.1:{sbc_tls}"))
            .replace(
                "signalling_port = 5061",
                &format!("signalling_port = {sbc_tls}"),
            )
            .replace("port = 5061", &format!("port = {sbc_tls}"))
            .replace("127.0.0.1:15061", &format!("127.0.0.1:{}", proxies[0]))
            .replace("127.0.0.1:15062", &format!("127.0.0.1:{}", proxies[1]))
            .replace("127.0.0.1:15063", &format!("127.0.0.1:{}", proxies[2]))
            .replace("testdata/tls", certs.to_str().unwrap());
        let config_path = dir.join("teams.toml");
        std::fs::write(&config_path, config).unwrap();

        let emulator = spawn(&dir, "emulator", &["emulate", "teams"], &config_path);
        wait_for_log(&dir.join("emulator.log"), "listening", 3);
        let switchboard = spawn(&dir, "switchboard", &["serve"], &config_path);
        wait_for_log(&dir.join("switchboard.log"), "listening", 2);
        System {
            dir,
            sbc_udp,
            _emulator: emulator,
            _switchboard: switchboard,
        }
    }

    /// SIPp's built-in UAC calls `number` through the SBC; returns its
    /// exit code, and the messages it received (`-trace_msg`).
    fn call(&self, number: &str, calls: u32) -> (i32, String) {
        let status = sipp()
            .current_dir(&self.dir)
            .arg(format!("127.0.0.1:{}", self.sbc_udp))
            .args(["-sn", "uac", "-s", number, "-i", "127.0.0.1"])
            .args(["-p", &free_udp_port().to_string()])
            .args(["-m", &calls.to_string(), "-r", "5", "-d", "300"])
            .args(["-nostdin", "-timeout", "30s", "-timeout_error"])
            .args(["-trace_msg", "-message_file", "uac-messages.log"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        let messages = std::fs::read_to_string(self.dir.join("uac-messages.log")).unwrap();
        (status.code().unwrap_or(-1), messages)
    }

    fn emulator_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("emulator.log")).unwrap()
    }
}

fn spawn(dir: &Path, name: &str, args: &[&str], config: &Path) -> Running {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .current_dir(dir)
        .args(args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Running(child)
}

/// The SIP status lines SIPp received, in order.
fn statuses(messages: &str) -> Vec<u16> {
    messages
        .lines()
        .filter_map(|line| line.strip_prefix("SIP/2.0 "))
        .filter_map(|rest| rest.get(..3)?.parse().ok())
        .collect()
}

#[test]
fn pstn_call_rings_a_teams_user_through_direct_routing_and_completes() {
    let system = System::start("answer");
    // +12065550100 is contoso's DID for adele (answers after 2 s on two
    // endpoints, so two 180s with their own tags reach the carrier).
    let (code, messages) = system.call("+12065550100", 2);
    assert_eq!(code, 0, "{messages}");
    let statuses = statuses(&messages);
    assert!(statuses.contains(&180), "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        4,
        "{statuses:?}"
    );
    let teams = wait_for_log(&system.dir.join("emulator.log"), "Answered", 2);
    assert!(teams.contains("CallReceived"), "{teams}");
    // Teams saw the SBC's X-MS-SBC header and the tenant's FQDN.
    assert!(teams.contains("Switchboard/SBC/0.1"), "{teams}");
}

#[test]
fn busy_teams_user_gives_the_carrier_486() {
    let system = System::start("busy");
    // +12065550101 rings megan, who is busy.
    let (code, messages) = system.call("+12065550101", 1);
    assert_ne!(code, 0, "SIPp's uac expects a 200");
    assert!(statuses(&messages).contains(&486), "{messages}");
    assert!(!statuses(&messages).contains(&200), "{messages}");
}

#[test]
fn teams_marks_the_sbc_active_after_the_options_exchange() {
    let system = System::start("options");
    let log = wait_for_log(&system.dir.join("emulator.log"), "SbcStatusChanged", 1);
    assert!(log.contains("OptionsReceived"), "{log}");
    assert!(log.contains("Active"), "{}", system.emulator_log());
}
