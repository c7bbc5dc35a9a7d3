//! `switchboard serve` answering malformed and refused requests: raw UDP
//! datagrams and TCP bytes to the real binary, each answer parsed with the
//! `sip` crate. Messages that do not parse get 400 naming the defect, 505
//! or 513 (RFC 3261 §21.4.1, §21.5.6, §21.4.11); parsed ones the B2BUA
//! refuses get 483, 416, 420 (with Unsupported) or 403; garbage gets
//! nothing and the node keeps serving.
#![allow(clippy::unwrap_used)]

mod common;

use common::{free_tcp_port, free_udp_port, scratch_dir, start_serve, Running};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{HeaderName, Message, Response};

/// How long an answer may take.
const WAIT: Duration = Duration::from_secs(5);

/// One carrier trunk that only 127.0.0.1 may use, listening on UDP and
/// TCP; calls would go to a port nobody answers (none get that far).
fn config(dir: &Path, udp: u16, tcp: u16) -> PathBuf {
    let unused = free_udp_port();
    let metrics = metrics_port(dir);
    let config = format!(
        r#"
[metrics]
listen = "127.0.0.1:{metrics}"

[sbc]
max_concurrent_calls = 10
max_calls_per_second = 1000

[sbc.listen]
udp = ["127.0.0.1:{udp}"]
tcp = ["127.0.0.1:{tcp}"]

[trunks.carrier]
allow = ["127.0.0.1/32"]
transport = "udp"
targets = ["sip:127.0.0.1:{unused}"]

[[routes]]
from = "carrier"
prefix = ""
to_uri = "sip:127.0.0.1:{unused}"
"#
    );
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// The metrics port of the test in `dir` (picked once, kept in a file).
fn metrics_port(dir: &Path) -> u16 {
    let file = dir.join("metrics.port");
    if let Ok(port) = std::fs::read_to_string(&file) {
        return port.trim().parse().unwrap();
    }
    let port = free_tcp_port();
    std::fs::write(file, port.to_string()).unwrap();
    port
}

fn start_switchboard(config: &Path, dir: &Path) -> Running {
    start_serve(config, dir, "info,switchboard=debug", 2)
}

fn wait_for_log(dir: &Path, needle: &str, count: usize) -> String {
    common::wait_for_log(&dir.join("switchboard.log"), needle, count)
}

/// A request from `local` with Content-Length 0; `extra` header lines end
/// in CRLF.
fn request(start: &str, transport: &str, local: SocketAddr, call_id: &str, extra: &str) -> String {
    let method = start.split(' ').next().unwrap();
    format!(
        "{start}\r\nVia: SIP/2.0/{transport} {local};branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+15551230000@127.0.0.1>;tag=t-{call_id}\r\n\
         To: <sip:+15559870000@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
}

fn parse_response(bytes: &[u8]) -> Response {
    match Message::parse(Bytes::copy_from_slice(bytes)).unwrap() {
        Message::Response(response) => response,
        Message::Request(request) => panic!("a request: {}", request.method),
    }
}

/// A UDP peer of the SBC.
struct Peer {
    socket: UdpSocket,
    sbc: SocketAddr,
}

impl Peer {
    fn new(ip: &str, sbc: SocketAddr) -> Peer {
        let socket = UdpSocket::bind((ip, 0)).unwrap();
        Peer { socket, sbc }
    }

    fn local(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    fn send(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.sbc).unwrap();
    }

    /// The final response of the request `call_id` (provisional ones and
    /// retransmissions of earlier answers are skipped).
    fn final_response(&self, call_id: &str) -> Response {
        let deadline = Instant::now() + WAIT;
        loop {
            let response = self
                .receive_until(deadline)
                .unwrap_or_else(|| panic!("no final response to {call_id}"));
            if response.headers.call_id().unwrap() == call_id && response.status.0 >= 200 {
                return response;
            }
        }
    }

    /// Waits until the SBC answers an OPTIONS: its listeners are bound
    /// before its B2BUA runs, and until then nothing is answered.
    fn wait_until_serving(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for attempt in 0.. {
            assert!(Instant::now() < deadline, "switchboard never answered");
            let call_id = format!("ready-{attempt}");
            let local = self.local();
            let options = request(
                "OPTIONS sip:sbc@127.0.0.1 SIP/2.0",
                "UDP",
                local,
                &call_id,
                "",
            );
            self.send(options.as_bytes());
            let wait = Instant::now() + Duration::from_millis(250);
            while let Some(response) = self.receive_until(wait) {
                if response.headers.call_id().unwrap().starts_with("ready-") {
                    return;
                }
            }
        }
    }

    /// Nothing about `call_id` arrives for a while.
    fn no_response(&self, call_id: &str, wait: Duration) {
        let deadline = Instant::now() + wait;
        while let Some(response) = self.receive_until(deadline) {
            assert_ne!(
                response.headers.call_id().ok(),
                Some(call_id),
                "unexpected answer {}",
                response.status.0
            );
        }
    }

    fn receive_until(&self, deadline: Instant) -> Option<Response> {
        let mut buf = vec![0u8; 65_536];
        let left = deadline.checked_duration_since(Instant::now())?;
        self.socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match self.socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                assert_eq!(from, self.sbc, "answered from the listener");
                Some(parse_response(&buf[..n]))
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Reads whole messages (no bodies) off a stream until one arrived or the
/// peer closed: the message, and whether the stream then closed.
fn read_tcp_response(stream: &mut TcpStream) -> (Option<Response>, bool) {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return (Some(parse_response(&buf[..end + 4])), false);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return (None, true),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (None, true),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (None, false)
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// Whether the SBC closes the stream within the wait.
fn closes(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn malformed_and_refused_requests_get_the_right_answer() {
    let dir = scratch_dir("serve-malformed-answers");
    let (udp, tcp) = (free_udp_port(), free_tcp_port());
    let config = config(&dir, udp, tcp);
    let _switchboard = start_switchboard(&config, &dir);
    let sbc: SocketAddr = format!("127.0.0.1:{udp}").parse().unwrap();
    let carrier = Peer::new("127.0.0.1", sbc);
    carrier.wait_until_serving();
    let local = carrier.local();
    let see = || format!("see {}", dir.display());

    // A header that does not parse: 400 naming it.
    let garbled = request(
        "OPTIONS sip:sbc@127.0.0.1 SIP/2.0",
        "UDP",
        local,
        "garbled",
        "",
    )
    .replace("Content-Length: 0", "Content-Length: zero");
    carrier.send(garbled.as_bytes());
    let response = carrier.final_response("garbled");
    assert_eq!(response.status.0, 400, "{}", see());
    let reason = String::from_utf8_lossy(&response.reason).into_owned();
    assert!(reason.contains("Content-Length"), "reason {reason:?}");
    assert_eq!(response.headers.call_id().unwrap(), "garbled");

    // A body shorter than its Content-Length says: 400 naming that.
    let short = request(
        "OPTIONS sip:sbc@127.0.0.1 SIP/2.0",
        "UDP",
        local,
        "short",
        "",
    )
    .replace("Content-Length: 0", "Content-Length: 10");
    carrier.send(short.as_bytes());
    let response = carrier.final_response("short");
    assert_eq!(response.status.0, 400, "{}", see());
    let reason = String::from_utf8_lossy(&response.reason).into_owned();
    assert!(reason.contains("Content-Length 10"), "reason {reason:?}");

    // Another SIP version: 505.
    let version = request("OPTIONS sip:sbc@127.0.0.1 SIP/3.0", "UDP", local, "v3", "");
    carrier.send(version.as_bytes());
    assert_eq!(carrier.final_response("v3").status.0, 505, "{}", see());

    // Parsed, refused by the B2BUA's checks.
    let hops = request(
        "INVITE sip:+15559870000@127.0.0.1 SIP/2.0",
        "UDP",
        local,
        "hops",
        "",
    )
    .replace("Max-Forwards: 70", "Max-Forwards: 0");
    carrier.send(hops.as_bytes());
    assert_eq!(carrier.final_response("hops").status.0, 483, "{}", see());

    let scheme = request(
        "INVITE mailto:x@example.com SIP/2.0",
        "UDP",
        local,
        "mailto",
        "",
    );
    carrier.send(scheme.as_bytes());
    assert_eq!(carrier.final_response("mailto").status.0, 416, "{}", see());

    let require = request(
        "INVITE sip:+15559870000@127.0.0.1 SIP/2.0",
        "UDP",
        local,
        "require",
        "Require: frobnicate\r\n",
    );
    carrier.send(require.as_bytes());
    let response = carrier.final_response("require");
    assert_eq!(response.status.0, 420, "{}", see());
    assert_eq!(
        response.headers.get_str(&HeaderName::Unsupported),
        Some("frobnicate")
    );

    // A source no trunk allows: 403.
    let stranger = Peer::new("127.0.0.2", sbc);
    let unknown = request(
        "OPTIONS sip:sbc@127.0.0.1 SIP/2.0",
        "UDP",
        stranger.local(),
        "stranger",
        "",
    );
    stranger.send(unknown.as_bytes());
    assert_eq!(
        stranger.final_response("stranger").status.0,
        403,
        "{}",
        see()
    );
    // Counted, and scraped by Prometheus.
    let metrics = common::scrape(metrics_port(&dir));
    assert!(
        metrics.contains("switchboard_sip_refused_total{reason=\"unknown_source\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE switchboard_media_dropped_total counter\n"),
        "{metrics}"
    );
    assert!(metrics.contains("switchboard_media_legs 0\n"), "{metrics}");
    assert!(metrics.contains("switchboard_calls 0\n"), "{metrics}");

    // Garbage: no answer, and the node keeps serving.
    carrier.send(b"\x16\x03\x01\x00\xa5 garbage \xff\xfe\r\n\r\n");
    carrier.send(b"INVITE\r\n\r\n");
    carrier.no_response("alive", Duration::from_millis(500));
    let alive = request(
        "OPTIONS sip:sbc@127.0.0.1 SIP/2.0",
        "UDP",
        local,
        "alive",
        "",
    );
    carrier.send(alive.as_bytes());
    assert_eq!(carrier.final_response("alive").status.0, 200, "{}", see());

    // Logged at debug, the source redacted.
    wait_for_log(&dir, "answering a message that did not parse", 3);
    let log = wait_for_log(&dir, "dropped a message that did not parse", 2);
    assert!(!log.contains(&local.to_string()), "{log}");
}

#[test]
fn over_tcp_answers_keep_the_connection_while_its_framing_holds() {
    let dir = scratch_dir("serve-malformed-tcp");
    let (udp, tcp) = (free_udp_port(), free_tcp_port());
    let config = config(&dir, udp, tcp);
    let _switchboard = start_switchboard(&config, &dir);
    let udp: SocketAddr = format!("127.0.0.1:{udp}").parse().unwrap();
    Peer::new("127.0.0.1", udp).wait_until_serving();
    let sbc: SocketAddr = format!("127.0.0.1:{tcp}").parse().unwrap();

    // Another version, with a readable Content-Length: 505 on the
    // connection, which then still serves.
    let mut stream = TcpStream::connect(sbc).unwrap();
    let local = stream.local_addr().unwrap();
    let version = request(
        "OPTIONS sip:sbc@127.0.0.1 SIP/3.0",
        "TCP",
        local,
        "tcp-v3",
        "",
    );
    stream.write_all(version.as_bytes()).unwrap();
    let (response, _) = read_tcp_response(&mut stream);
    let response = response.expect("an answer");
    assert_eq!(response.status.0, 505, "see {}", dir.display());
    let alive = request(
        "OPTIONS sip:sbc@127.0.0.1 SIP/2.0",
        "TCP",
        local,
        "tcp-ok",
        "",
    );
    stream.write_all(alive.as_bytes()).unwrap();
    let (response, _) = read_tcp_response(&mut stream);
    assert_eq!(response.expect("an answer").status.0, 200);

    // A Content-Length that does not parse: 400 naming it, then the
    // connection closes (where the next message starts is unknown).
    let mut stream = TcpStream::connect(sbc).unwrap();
    let local = stream.local_addr().unwrap();
    let garbled = request(
        "OPTIONS sip:sbc@127.0.0.1 SIP/2.0",
        "TCP",
        local,
        "tcp-cl",
        "",
    )
    .replace("Content-Length: 0", "Content-Length: zero");
    stream.write_all(garbled.as_bytes()).unwrap();
    let (response, _) = read_tcp_response(&mut stream);
    let response = response.expect("an answer");
    assert_eq!(response.status.0, 400, "see {}", dir.display());
    assert!(String::from_utf8_lossy(&response.reason).contains("Content-Length"));
    assert!(closes(&mut stream), "the connection closes after the 400");

    // Larger than the 64 KiB limit (more than a UDP datagram can carry):
    // 513, then the connection closes (its framing is lost).
    let mut stream = TcpStream::connect(sbc).unwrap();
    let local = stream.local_addr().unwrap();
    let big = request(
        "INVITE sip:+15559870000@127.0.0.1 SIP/2.0",
        "TCP",
        local,
        "tcp-big",
        "Content-Type: application/sdp\r\n",
    )
    .replace("Content-Length: 0", "Content-Length: 70000");
    stream.write_all(big.as_bytes()).unwrap();
    let (response, _) = read_tcp_response(&mut stream);
    let response = response.expect("an answer");
    assert_eq!(response.status.0, 513, "see {}", dir.display());
    assert_eq!(response.headers.call_id().unwrap(), "tcp-big");
    assert!(closes(&mut stream), "the connection closes after the 513");
}
