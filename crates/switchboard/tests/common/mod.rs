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

/// `switchboard emulate teams` and `switchboard serve` on one of the
/// example files, moved to free loopback ports, with their logs in a
/// scratch directory.
pub(crate) struct System {
    pub(crate) dir: PathBuf,
    pub(crate) sbc_udp: u16,
    _emulator: Running,
    _switchboard: Running,
}

impl System {
    /// `examples/EXAMPLE` for test `test`, its text changed by `edit`
    /// after the ports and certificate paths were.
    pub(crate) fn start(example: &str, test: &str, edit: impl Fn(String) -> String) -> System {
        // Ports free a moment ago may be taken by the time a process binds
        // them (tests run side by side): a process that exits before it
        // listens is started again on other ports.
        for _ in 0..3 {
            if let Some(system) = System::try_start(example, test, &edit) {
                return system;
            }
        }
        panic!("{test}: the emulator or switchboard did not start three times");
    }

    fn try_start(example: &str, test: &str, edit: &dyn Fn(String) -> String) -> Option<System> {
        let dir = scratch_dir(&format!("system-{test}"));
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let sbc_udp = free_udp_port();
        let sbc_tls = free_tcp_port();
        let proxies = [free_tcp_port(), free_tcp_port(), free_tcp_port()];
        let certs = dir.join("tls");
        let config = std::fs::read_to_string(repo.join("examples").join(example))
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
            .replace("testdata/tls", certs.to_str().unwrap())
            .replace(
                "\"examples/",
                &format!("\"{}/examples/", repo.canonicalize().unwrap().display()),
            );
        let config = edit(config);
        let config_path = dir.join("switchboard.toml");
        std::fs::write(&config_path, config).unwrap();

        let mut emulator = spawn(&dir, "emulator", &["emulate", "teams"], &config_path);
        if !listening(&mut emulator, &dir.join("emulator.log"), 3) {
            return None;
        }
        let mut switchboard = spawn(&dir, "switchboard", &["serve"], &config_path);
        if !listening(&mut switchboard, &dir.join("switchboard.log"), 2) {
            return None;
        }
        Some(System {
            dir,
            sbc_udp,
            _emulator: emulator,
            _switchboard: switchboard,
        })
    }

    pub(crate) fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }
}

/// Whether `process` logged `listening` `count` times within 20 s; false
/// when it exited first (a port taken meanwhile); panics on a hang.
fn listening(process: &mut Running, log: &Path, count: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.matches("listening").count() >= count {
            return true;
        }
        if process.0.try_wait().ok().flatten().is_some() {
            eprintln!("{} exited before listening:\n{text}", log.display());
            return false;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not log \"listening\" {count} times:\n{text}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `switchboard ARGS --config CONFIG` in `dir`, logging to DIR/NAME.log.
pub(crate) fn spawn(dir: &Path, name: &str, args: &[&str], config: &Path) -> Running {
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

/// `GET /metrics` of a switchboard whose `[metrics]` listens on `port`:
/// the whole HTTP response.
pub(crate) fn scrape(port: u16) -> String {
    let (status, body) = http(port, "GET", "/metrics", None, None);
    assert_eq!(status, 200, "{body}");
    body
}

/// One HTTP/1.1 request to 127.0.0.1:`port` (with a bearer `token` and
/// a JSON `body` if given): the status and the response's body.
#[allow(dead_code)]
pub(crate) fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: sbc\r\nConnection: close\r\n");
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {response}"));
    let body = match response.split_once("\r\n\r\n") {
        Some((_, body)) => body.to_owned(),
        None => String::new(),
    };
    (status, body)
}

/// The RTP payloads of a little-endian Ethernet/IPv4/UDP pcap (SIPp's).
#[allow(dead_code)]
pub(crate) fn pcap_rtp_payloads(path: &str) -> Vec<Vec<u8>> {
    let data = std::fs::read(path)
        .unwrap_or_else(|e| panic!("{path}: {e}; install sip-tester (scripts/test does)"));
    assert_eq!(&data[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut payloads = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let len = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &data[at + 16..at + 16 + len];
        at += 16 + len;
        // Ethernet (14), IPv4 with its header length, UDP (8), RTP (12).
        let ip = &frame[14..];
        let udp = &ip[usize::from(ip[0] & 0x0f) * 4..];
        payloads.push(udp[8 + 12..].to_vec());
    }
    payloads
}

/// Copies of every UDP datagram this host receives for `port` (a raw
/// socket: needs CAP_NET_RAW, as SIPp's `play_pcap_audio` does).
#[allow(dead_code)]
pub(crate) struct UdpTap(socket2::Socket);

impl UdpTap {
    pub(crate) fn open() -> UdpTap {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket =
            Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP)).unwrap_or_else(|e| {
                panic!("a raw UDP socket needs CAP_NET_RAW (root), like SIPp's pcap play: {e}")
            });
        socket
            .set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        socket.set_recv_buffer_size(8 << 20).unwrap();
        UdpTap(socket)
    }

    /// RTP payloads of the datagrams to `port`, until nothing came for
    /// 200 ms after `until` passed.
    pub(crate) fn rtp_payloads_to(&self, port: u16, until: std::time::Instant) -> Vec<Vec<u8>> {
        self.rtp_to(port, until)
            .into_iter()
            .map(|(_, payload)| payload)
            .collect()
    }

    /// (payload type, payload) of the RTP datagrams to `port`, as
    /// [`UdpTap::rtp_payloads_to`].
    pub(crate) fn rtp_to(&self, port: u16, until: std::time::Instant) -> Vec<(u8, Vec<u8>)> {
        use std::io::Read;
        let mut packets = Vec::new();
        let mut buf = [0u8; 2048];
        loop {
            match (&self.0).read(&mut buf) {
                Ok(len) => {
                    let ip = &buf[..len];
                    let udp = &ip[usize::from(ip[0] & 0x0f) * 4..];
                    let to = u16::from_be_bytes([udp[2], udp[3]]);
                    if to == port && udp.len() > 8 + 12 && udp[8] >> 6 == 2 {
                        // The relay coalesces equal-size packets to one
                        // destination into one GSO send, which a raw socket
                        // on loopback sees unsegmented, the packets back to
                        // back: split where the same SSRC starts again (the
                        // receiver's socket gets them one by one).
                        let data = &udp[8..];
                        let size = (12..data.len())
                            .find(|&at| {
                                data.len() % at == 0
                                    && data[at] >> 6 == 2
                                    && data[at + 8..at + 12] == data[8..12]
                            })
                            .unwrap_or(data.len());
                        for packet in data.chunks(size) {
                            packets.push((packet[1] & 0x7f, packet[12..].to_vec()));
                        }
                    }
                }
                Err(_) if std::time::Instant::now() > until => return packets,
                Err(_) => {}
            }
        }
    }
}
