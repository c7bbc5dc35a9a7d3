//! Helpers shared by the integration tests that run the real binary and
//! real peers on loopback.
// Each test file uses a different subset of these.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when the test ends, however it ends.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A UDP port free on 127.0.0.1 a moment ago.
pub(crate) fn free_udp_port() -> u16 {
    free_udp_port_on("127.0.0.1")
}

/// A UDP port free on `ip` a moment ago.
pub(crate) fn free_udp_port_on(ip: &str) -> u16 {
    UdpSocket::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP port free on 127.0.0.1 a moment ago.
pub(crate) fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// SIPp, or a clear failure when it is not installed.
pub(crate) fn sipp() -> Command {
    let found = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "sipp not found: install sip-tester (Debian); scripts/test does it"
    );
    Command::new("sipp")
}

/// A fresh, empty directory `name` for one test's files.
pub(crate) fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits up to 20 s until the file `log` holds `needle` `count` times;
/// returns its text.
pub(crate) fn wait_for_log(log: &Path, needle: &str, count: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.matches(needle).count() >= count {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not log {needle:?} {count} times:\n{text}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `switchboard serve --config CONFIG`, logging at `rust_log` to
/// DIR/switchboard.log, once it logged `listening` for each of its
/// `listeners`.
pub(crate) fn start_serve(config: &Path, dir: &Path, rust_log: &str, listeners: usize) -> Running {
    let log = dir.join("switchboard.log");
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", rust_log)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let running = Running(child);
    wait_for_log(&log, "listening", listeners);
    running
}
