//! SIPp, the third-party peer: finding it, running it with its traces in a
//! directory of their own, killing it when a test fails, and reading what
//! it reports (statistics CSV, message log).

use std::fs::{self, File};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The `sipp` executable on PATH; a missing one fails the test: these tests
/// are part of the gate, never skipped.
pub(crate) fn sipp_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("sipp"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("`sipp` is not on PATH: install sip-tester (Debian); scripts/test does it")
        })
}

/// A UDP port on 127.0.0.1 that was free a moment ago (bound to port 0,
/// then released for SIPp to take).
pub(crate) fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    socket
        .local_addr()
        .expect("bound socket has an address")
        .port()
}

/// A running SIPp; dropping it kills the process if it still runs, so a
/// failing assertion never leaves SIPp behind.
pub(crate) struct Sipp {
    child: Child,
    dir: PathBuf,
    status: Option<ExitStatus>,
}

impl Sipp {
    /// Starts `sipp args..` with stdin disabled and every trace (statistics,
    /// unexpected messages, messages, final screen) written under a fresh
    /// directory named after `name`.
    pub(crate) fn start(name: &str, args: &[String]) -> Self {
        let binary = sipp_binary();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sipp-{name}"));
        // A previous run's traces would be read as this run's.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the SIPp trace directory");
        let trace = |file: &str| dir.join(file).display().to_string();
        let child = Command::new(&binary)
            .args(args)
            .args(["-nostdin", "-trace_stat", "-stf", &trace("stat.csv")])
            .args(["-trace_err", "-error_file", &trace("errors.log")])
            .args(["-trace_msg", "-message_file", &trace("messages.log")])
            .args(["-trace_screen", "-screen_file", &trace("screen.log")])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(File::create(dir.join("stdout.log")).expect("create stdout.log"))
            .stderr(File::create(dir.join("stderr.log")).expect("create stderr.log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Self {
            child,
            dir,
            status: None,
        }
    }

    /// The exit status, if SIPp has ended.
    pub(crate) fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("wait for SIPp");
        }
        self.status
    }

    /// Waits until SIPp has bound UDP `port` (it takes a moment to start),
    /// by looking for the port in the kernel's socket table.
    pub(crate) fn wait_bound(&mut self, port: u16, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let needle = format!(":{port:04X} ");
        loop {
            let bound = ["/proc/net/udp", "/proc/net/udp6"].iter().any(|table| {
                fs::read_to_string(table).is_ok_and(|text| {
                    text.lines()
                        .filter_map(|line| line.split_whitespace().nth(1))
                        .any(|local| format!("{local} ").ends_with(&needle))
                })
            });
            if bound {
                return;
            }
            assert!(
                self.try_exit().is_none(),
                "SIPp ended before binding port {port}\n{}",
                self.diagnostics()
            );
            assert!(
                Instant::now() < deadline,
                "SIPp did not bind port {port} within {timeout:?}\n{}",
                self.diagnostics()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The cumulative call counters of SIPp's last statistics line.
    pub(crate) fn stats(&self) -> SippStats {
        let csv = self.read("stat.csv");
        let mut lines = csv.lines().filter(|line| !line.trim().is_empty());
        let header: Vec<&str> = lines.next().unwrap_or_default().split(';').collect();
        let last: Vec<&str> = lines.next_back().unwrap_or_default().split(';').collect();
        let counter = |name: &str| -> u64 {
            header
                .iter()
                .position(|column| *column == name)
                .and_then(|at| last.get(at))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in SIPp statistics:\n{csv}"))
        };
        SippStats {
            created: counter("TotalCallCreated"),
            successful: counter("SuccessfulCall(C)"),
            failed: counter("FailedCall(C)"),
        }
    }

    /// The messages SIPp received and then dropped itself (`-lost`), in
    /// order, from its message log.
    pub(crate) fn lost_on_receipt(&self) -> Vec<LostMessage> {
        lost_on_receipt(&self.read("messages.log"))
    }

    /// How many messages SIPp dropped instead of sending them (`-lost`).
    pub(crate) fn lost_on_sending(&self) -> usize {
        self.read("messages.log")
            .matches("message voluntary lost (while sending)")
            .count()
    }

    /// Unexpected messages SIPp reported (`-trace_err`); empty if none.
    pub(crate) fn unexpected_messages(&self) -> String {
        self.read("errors.log")
    }

    /// SIPp's own words, for assertion messages: stderr, the unexpected
    /// messages and the final screen.
    pub(crate) fn diagnostics(&self) -> String {
        format!(
            "--- SIPp traces in {}\n--- stderr:\n{}\n--- errors.log:\n{}\n--- screen.log:\n{}",
            self.dir.display(),
            self.read("stderr.log"),
            self.read("errors.log"),
            self.read("screen.log"),
        )
    }

    fn read(&self, file: &str) -> String {
        fs::read_to_string(self.dir.join(file)).unwrap_or_default()
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Call counters from SIPp's statistics file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SippStats {
    /// Calls SIPp started (UAC) or accepted (UAS).
    pub(crate) created: u64,
    /// Calls that ran their scenario to the end.
    pub(crate) successful: u64,
    /// Calls that failed (timeout, unexpected message, retransmissions exhausted).
    pub(crate) failed: u64,
}

/// A message SIPp received and dropped: its start line and CSeq method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LostMessage {
    /// `SIP/2.0 200 OK`, `INVITE sip:...`
    pub(crate) start_line: String,
    /// The method of its CSeq header.
    pub(crate) cseq_method: String,
}

impl LostMessage {
    /// Whether it is a `status` response to a `method` request.
    pub(crate) fn is_response(&self, status: u16, method: &str) -> bool {
        self.start_line.starts_with(&format!("SIP/2.0 {status} ")) && self.cseq_method == method
    }
}

/// SIPp logs each received message as a block opened by "message received",
/// and right after the block the marker "message lost (recv)" when `-lost`
/// made it drop that message.
fn lost_on_receipt(log: &str) -> Vec<LostMessage> {
    let mut lost = Vec::new();
    let mut current: Option<LostMessage> = None;
    let mut expect_start_line = false;
    for line in log.lines() {
        if line.contains("message lost (recv)") {
            lost.extend(current.take());
        }
        if line.contains("message received [") {
            current = Some(LostMessage {
                start_line: String::new(),
                cseq_method: String::new(),
            });
            expect_start_line = true;
        } else if line.contains("message sent (") {
            current = None;
        } else if let Some(message) = current.as_mut() {
            if expect_start_line && !line.trim().is_empty() {
                message.start_line = line.trim().to_owned();
                expect_start_line = false;
            } else if let Some(cseq) = line.strip_prefix("CSeq:") {
                message.cseq_method = cseq.split_whitespace().nth(1).unwrap_or("").to_owned();
            }
        }
    }
    lost
}

#[test]
fn lost_messages_are_read_from_the_sipp_message_log() {
    let log = "\
----------------------------------------------- 2026-11-25 00:04:30.3
UDP message received [313] bytes :

SIP/2.0 180 Ringing
CSeq: 1 INVITE

UDP message lost (recv).----------------------------------------------- 2026-11-25 00:04:30.4
UDP message received [472] bytes :

SIP/2.0 200 OK
CSeq: 1 INVITE

----------------------------------------------- 2026-11-25 00:04:30.5
UDP message sent (364 bytes):

ACK sip:service@127.0.0.1:15070 SIP/2.0
CSeq: 1 ACK

UDP message lost (recv).----------------------------------------------- 2026-11-25 00:04:30.6
UDP message received [309] bytes :

SIP/2.0 200 OK
CSeq: 2 BYE

UDP message lost (recv).";
    let lost = lost_on_receipt(log);
    assert_eq!(lost.len(), 2, "{lost:?}");
    assert!(lost[0].is_response(180, "INVITE"));
    assert!(lost[1].is_response(200, "BYE"));
}
