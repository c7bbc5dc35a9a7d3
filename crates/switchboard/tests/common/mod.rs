//! Helpers shared by the integration tests that run the real binary and
//! real peers on loopback.
// Each test file uses a different subset of these.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};

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
