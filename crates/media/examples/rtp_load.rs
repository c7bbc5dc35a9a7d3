//! RTP load generator for the media relay benchmark (`bench/media-relay.sh`).
//!
//! Simulates K calls, each with a carrier leg (plain RTP) and a Teams leg
//! (plain RTP, or SRTP with `--srtp`), sending 20 ms G.711 packets (172
//! bytes, 50 packets/s each way) through a relay and measuring what comes
//! out: loss, one-way latency through the relay and the jitter it adds
//! (|D| of RFC 3550 §6.4.1 between consecutive packets of a stream), plus
//! the relay's CPU time from /proc.
//!
//! Relays:
//! - `--target switchboard`: this crate's [`media::MediaDriver`] in this
//!   process, `--shards` threads, `--io epoll|uring|auto` (the
//!   driver's [`media::MediaIo`]; epoll by default) (CPU from /proc/self/task/*, threads
//!   named `media-shard-*`);
//! - `--target rtpengine --ng 127.0.0.1:2223 --pid PID`: a running
//!   rtpengine, sessions set up with offer/answer over its ng control
//!   protocol (bencode over UDP), CPU from /proc/PID/stat;
//! - `--target static --base-port P --pid PID`: a running relay with
//!   fixed ports and nothing to set up (the io_uring experiment's
//!   `minirelay`): call i's carrier side sends to 127.0.0.1:(P + 4i),
//!   its Teams side to 127.0.0.1:(P + 4i + 2); plain RTP only; CPU from
//!   /proc/PID/stat. The relay learns where to send by latching, so it
//!   drops each call's first carrier packet (the Teams side has not
//!   sent yet): expect a loss of one packet per call.
//!
//! Modes:
//! - `--calls K --duration S`: one run at 50 pps per stream;
//! - `--search K1,K2,...`: runs with more and more calls until the relay
//!   uses 80 % of a core or loses 0.1 %; prints the largest K that held
//!   (`--repeat N`: N runs a step, judged by the run of median relay CPU);
//! - `--flood`: every call sends as fast as the generator can; reports
//!   relayed packets per second and per relay CPU-second.
//!
//! Each generator socket serves many calls (`--sockets` per side): the
//! relay sees one source address per side, which its latching handles
//! per leg. Receiving is batched (`recvmmsg` through quinn-udp, GRO
//! batches split); sending is one `sendmsg` per packet, since every
//! packet of a tick goes to a different relay port (GSO needs one
//! destination, and `sendmmsg` has no safe wrapper in our dependencies).
//!
//! Output: markdown table rows on stdout. This is a benchmark tool: keys
//! are derived from the call number, not random.

use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::{
    DriverConfig, LegKey, LegSrtp, MediaDriver, MediaIo, RelayConfig, SrtpContext, SrtpSuite,
};
use quinn_udp::{RecvMeta, UdpSocketState, BATCH_SIZE};

type Error = Box<dyn std::error::Error + Send + Sync>;

const PACKET: usize = 172;
const PTIME: Duration = Duration::from_millis(20);
const SSRC_BASE: u32 = 0x5000_0000;
/// Send times kept per stream, indexed by sequence number modulo this.
const HISTORY: usize = 256;

#[derive(Debug, Clone, PartialEq)]
enum Target {
    Switchboard,
    Rtpengine { ng: SocketAddr, pid: u32 },
    Static { base_port: u16, pid: u32 },
}

#[derive(Debug, Clone)]
struct Options {
    target: Target,
    calls: usize,
    search: Vec<usize>,
    /// Runs per search step; the step is judged by the run of median
    /// relay CPU (this machine's runs vary by up to 30 %).
    repeat: usize,
    flood: bool,
    srtp: bool,
    duration: Duration,
    warmup: Duration,
    shards: usize,
    io: MediaIo,
    sockets: usize,
    gso: bool,
    coalesce: Duration,
    gen_coalesce: Duration,
    first_port: u16,
}

fn parse_args() -> Result<Options, Error> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        target: Target::Switchboard,
        calls: 100,
        search: Vec::new(),
        repeat: 1,
        flood: false,
        srtp: false,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(2),
        shards: 1,
        io: MediaIo::Epoll,
        sockets: 4,
        gso: true,
        coalesce: DriverConfig::default().coalesce,
        gen_coalesce: Duration::from_micros(1000),
        first_port: 30000,
    };
    let (mut target, mut ng, mut pid, mut base_port) = ("switchboard".to_owned(), None, None, None);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--target" => target = value()?,
            "--ng" => ng = Some(SocketAddr::from_str(&value()?)?),
            "--pid" => pid = Some(value()?.parse()?),
            "--base-port" => base_port = Some(value()?.parse()?),
            "--calls" => options.calls = value()?.parse()?,
            "--search" => {
                options.search = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            "--repeat" => options.repeat = value()?.parse::<usize>()?.max(1),
            "--flood" => options.flood = true,
            "--srtp" => options.srtp = true,
            "--duration" => options.duration = Duration::from_secs_f64(value()?.parse()?),
            "--warmup" => options.warmup = Duration::from_secs_f64(value()?.parse()?),
            "--shards" => options.shards = value()?.parse()?,
            "--io" => {
                options.io = match value()?.as_str() {
                    "epoll" => MediaIo::Epoll,
                    "uring" => MediaIo::Uring,
                    "auto" => MediaIo::Auto,
                    other => return Err(format!("--io {other}: epoll, uring or auto").into()),
                }
            }
            "--sockets" => options.sockets = value()?.parse()?,
            "--no-gso" => options.gso = false,
            "--coalesce-us" => options.coalesce = Duration::from_micros(value()?.parse()?),
            "--gen-coalesce-us" => {
                options.gen_coalesce = Duration::from_micros(value()?.parse()?);
            }
            "--first-port" => options.first_port = value()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    options.target = match target.as_str() {
        "switchboard" => Target::Switchboard,
        "rtpengine" => Target::Rtpengine {
            ng: ng.ok_or("--ng is needed for rtpengine")?,
            pid: pid.ok_or("--pid is needed for rtpengine")?,
        },
        "static" if options.srtp => {
            return Err("--target static relays plain RTP only: drop --srtp".into())
        }
        "static" => Target::Static {
            base_port: base_port.ok_or("--base-port is needed for static")?,
            pid: pid.ok_or("--pid is needed for static")?,
        },
        other => return Err(format!("unknown target {other}").into()),
    };
    Ok(options)
}

// ---------------------------------------------------------------- CPU time

/// utime + stime of a /proc stat file, assuming USER_HZ = 100.
fn stat_cpu(path: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time of this process's threads whose name starts with `prefix`.
fn threads_cpu(prefix: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.starts_with(prefix))
        })
        .filter_map(|task| stat_cpu(&task.path().join("stat").to_string_lossy()))
        .sum()
}

// ---------------------------------------------------------------- histogram

/// Microsecond histogram: 1 µs buckets to 1 ms, 10 µs to 100 ms, 1 ms to
/// 10 s.
struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    max: u64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            buckets: vec![0; 1000 + 9900 + 9900],
            count: 0,
            max: 0,
        }
    }

    fn record(&mut self, micros: u64) {
        let bucket = match micros {
            0..1000 => micros,
            1000..100_000 => 1000 + (micros - 1000) / 10,
            _ => (10_900 + (micros - 100_000) / 1000).min(19_799),
        };
        self.buckets[bucket as usize] += 1;
        self.count += 1;
        self.max = self.max.max(micros);
    }

    fn value(bucket: usize) -> u64 {
        let b = bucket as u64;
        match b {
            0..1000 => b,
            1000..10_900 => 1000 + (b - 1000) * 10,
            _ => 100_000 + (b - 10_900) * 1000,
        }
    }

    fn percentile(&self, p: f64) -> u64 {
        let wanted = ((self.count as f64) * p).ceil() as u64;
        let mut seen = 0;
        for (bucket, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= wanted.max(1) {
                return Self::value(bucket);
            }
        }
        self.max
    }
}

fn ms(micros: u64) -> String {
    format!("{:.2}", micros as f64 / 1000.0)
}

// ---------------------------------------------------------------- bencode / ng

enum Bencode {
    Bytes(Vec<u8>),
    Int(i64),
    List(Vec<Bencode>),
    Dict(Vec<(Vec<u8>, Bencode)>),
}

impl Bencode {
    fn str(s: &str) -> Self {
        Bencode::Bytes(s.as_bytes().to_vec())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Bencode::Bytes(b) => {
                out.extend_from_slice(format!("{}:", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Bencode::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            Bencode::List(items) => {
                out.push(b'l');
                items.iter().for_each(|i| i.encode(out));
                out.push(b'e');
            }
            Bencode::Dict(entries) => {
                out.push(b'd');
                let mut sorted: Vec<_> = entries.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                for (k, v) in sorted {
                    Bencode::Bytes(k.clone()).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }

    fn decode(input: &[u8]) -> Option<(Bencode, &[u8])> {
        match *input.first()? {
            b'i' => {
                let end = input.iter().position(|&c| c == b'e')?;
                let n = std::str::from_utf8(&input[1..end]).ok()?.parse().ok()?;
                Some((Bencode::Int(n), &input[end + 1..]))
            }
            b'l' | b'd' => {
                let dict = input[0] == b'd';
                let mut rest = &input[1..];
                let (mut list, mut entries) = (Vec::new(), Vec::new());
                while *rest.first()? != b'e' {
                    let (item, next) = Bencode::decode(rest)?;
                    if dict {
                        let Bencode::Bytes(key) = item else {
                            return None;
                        };
                        let (value, next) = Bencode::decode(next)?;
                        entries.push((key, value));
                        rest = next;
                    } else {
                        list.push(item);
                        rest = next;
                    }
                }
                let value = if dict {
                    Bencode::Dict(entries)
                } else {
                    Bencode::List(list)
                };
                Some((value, &rest[1..]))
            }
            _ => {
                let colon = input.iter().position(|&c| c == b':')?;
                let len: usize = std::str::from_utf8(&input[..colon]).ok()?.parse().ok()?;
                let body = input.get(colon + 1..colon + 1 + len)?;
                Some((Bencode::Bytes(body.to_vec()), &input[colon + 1 + len..]))
            }
        }
    }

    fn get(&self, key: &str) -> Option<&Bencode> {
        let Bencode::Dict(entries) = self else {
            return None;
        };
        entries
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v)
    }

    fn text(&self) -> Option<String> {
        let Bencode::Bytes(b) = self else { return None };
        Some(String::from_utf8_lossy(b).into_owned())
    }
}

/// An ng protocol client (rtpengine's control protocol).
struct NgClient {
    socket: UdpSocket,
    server: SocketAddr,
    cookie: u64,
}

impl NgClient {
    fn new(server: SocketAddr) -> Result<Self, Error> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(Self {
            socket,
            server,
            cookie: 0,
        })
    }

    fn request(&mut self, entries: Vec<(&str, Bencode)>) -> Result<Bencode, Error> {
        self.cookie += 1;
        let cookie = format!("{}_{}", std::process::id(), self.cookie);
        let dict = Bencode::Dict(
            entries
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v))
                .collect(),
        );
        let mut out = format!("{cookie} ").into_bytes();
        dict.encode(&mut out);
        self.socket.send_to(&out, self.server)?;
        let mut buf = vec![0u8; 65536];
        loop {
            let len = self.socket.recv(&mut buf)?;
            let reply = &buf[..len];
            let Some(space) = reply.iter().position(|&c| c == b' ') else {
                continue;
            };
            if &reply[..space] != cookie.as_bytes() {
                continue;
            }
            let (value, _) = Bencode::decode(&reply[space + 1..]).ok_or("bad ng reply")?;
            let result = value.get("result").and_then(Bencode::text);
            if !matches!(result.as_deref(), Some("ok" | "pong")) {
                let reason = value.get("error-reason").and_then(Bencode::text);
                return Err(format!("ng error: {result:?} {reason:?}").into());
            }
            return Ok(value);
        }
    }
}

// ---------------------------------------------------------------- calls

fn sdp_body(port: u16, proto: &str, crypto: Option<&sdp::Crypto>) -> String {
    let mut session = sdp::Session::parse(
        format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} {proto} 0\r\na=rtpmap:0 PCMU/8000\r\na=rtcp-mux\r\na=sendrecv\r\n"
        )
        .as_bytes(),
    )
    // A fixed, valid body: parsing cannot fail.
    .expect("fixed SDP parses");
    if let Some(crypto) = crypto {
        session.media[0].add_crypto(crypto);
    }
    session.to_string()
}

/// Where the relay listens for one leg, and the crypto it uses toward it.
fn parse_answer(body: &str) -> Result<(SocketAddr, Option<sdp::Crypto>), Error> {
    let session = sdp::Session::parse(body.as_bytes())?;
    let media = session.media.first().ok_or("no m= line")?;
    let ip = session
        .connection_of(media)
        .and_then(sdp::Connection::ip)
        .ok_or("no c= line")?;
    let crypto = media
        .cryptos()
        .find(|c| c.suite == SrtpSuite::AesCm128HmacSha1_80.sdp_name());
    Ok((SocketAddr::new(ip, media.port), crypto))
}

fn key_of(call: usize, side: u8) -> ([u8; 16], [u8; 14]) {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&(call as u64).to_be_bytes());
    key[8] = side;
    let mut salt = [side ^ 0x5a; 14];
    salt[..8].copy_from_slice(&(call as u64 ^ 0xa5a5).to_be_bytes());
    (key, salt)
}

/// One call as the generator sees it.
struct Call {
    /// Relay address the carrier side sends to, and the Teams side.
    relay_carrier: SocketAddr,
    relay_teams: SocketAddr,
    /// SRTP: Teams' sending context, and its receiving one.
    teams_tx: Option<SrtpContext>,
    teams_rx: Option<SrtpContext>,
}

/// Sets up calls on the relay; tears them down on drop of the session.
enum Relay {
    Switchboard(MediaDriver),
    Rtpengine {
        ng: NgClient,
        pid: u32,
    },
    /// A relay with fixed ports: call i at `base_port + 4i` (carrier)
    /// and `base_port + 4i + 2` (Teams).
    Static {
        base_port: u16,
        pid: u32,
    },
}

impl Relay {
    fn cpu(&self) -> Duration {
        match self {
            Relay::Switchboard(_) => threads_cpu("media-shard"),
            Relay::Rtpengine { pid, .. } | Relay::Static { pid, .. } => {
                stat_cpu(&format!("/proc/{pid}/stat")).unwrap_or_default()
            }
        }
    }

    fn setup(
        &mut self,
        stage: usize,
        call: usize,
        carrier: SocketAddr,
        teams: SocketAddr,
        srtp: bool,
    ) -> Result<Call, Error> {
        let suite = SrtpSuite::AesCm128HmacSha1_80;
        let (teams_key, teams_salt) = key_of(call, 1);
        match self {
            Relay::Switchboard(driver) => {
                let session = (stage as u64) << 32 | call as u64;
                let (a, b) = (LegKey::new(session, 0), LegKey::new(session, 1));
                let ports_a = driver.allocate_leg(a, true)?;
                let ports_b = driver.allocate_leg(b, true)?;
                driver.update_remote(a, Some(carrier), None)?;
                driver.update_remote(b, Some(teams), None)?;
                let (mut teams_tx, mut teams_rx) = (None, None);
                if srtp {
                    let (relay_key, relay_salt) = key_of(call, 2);
                    driver.update_srtp(
                        b,
                        Some(LegSrtp {
                            inbound: SrtpContext::new(suite, &teams_key, &teams_salt)?,
                            outbound: SrtpContext::new(suite, &relay_key, &relay_salt)?,
                        }),
                    )?;
                    teams_tx = Some(SrtpContext::new(suite, &teams_key, &teams_salt)?);
                    teams_rx = Some(SrtpContext::new(suite, &relay_key, &relay_salt)?);
                }
                driver.bridge(a, b)?;
                let ip = carrier.ip();
                Ok(Call {
                    relay_carrier: SocketAddr::new(ip, ports_a.rtp),
                    relay_teams: SocketAddr::new(ip, ports_b.rtp),
                    teams_tx,
                    teams_rx,
                })
            }
            Relay::Static { base_port, .. } => {
                let relay = |side: usize| {
                    u16::try_from(4 * call + side)
                        .ok()
                        .and_then(|offset| base_port.checked_add(offset))
                        .map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
                        .ok_or("static relay port past 65535")
                };
                Ok(Call {
                    relay_carrier: relay(0)?,
                    relay_teams: relay(2)?,
                    teams_tx: None,
                    teams_rx: None,
                })
            }
            Relay::Rtpengine { ng, .. } => {
                let call_id = format!("load-{}-{stage}-{call}", std::process::id());
                let mut offer = vec![
                    ("command", Bencode::str("offer")),
                    ("call-id", Bencode::str(&call_id)),
                    ("from-tag", Bencode::str("carrier")),
                    (
                        "sdp",
                        Bencode::str(&sdp_body(carrier.port(), "RTP/AVP", None)),
                    ),
                    ("ICE", Bencode::str("remove")),
                    ("DTLS", Bencode::str("off")),
                ];
                if srtp {
                    offer.push(("transport-protocol", Bencode::str("RTP/SAVP")));
                }
                let reply = ng.request(offer)?;
                let body = reply.get("sdp").and_then(Bencode::text).ok_or("no sdp")?;
                let (relay_teams, relay_crypto) = parse_answer(&body)?;
                let (mut teams_tx, mut teams_rx, mut answer_crypto) = (None, None, None);
                if srtp {
                    let relay_crypto = relay_crypto.ok_or("no AES_CM_128_HMAC_SHA1_80 offered")?;
                    teams_rx = Some(SrtpContext::from_crypto(&relay_crypto)?);
                    teams_tx = Some(SrtpContext::new(suite, &teams_key, &teams_salt)?);
                    answer_crypto =
                        Some(suite.sdes_crypto(relay_crypto.tag, &teams_key, &teams_salt));
                }
                let proto = if srtp { "RTP/SAVP" } else { "RTP/AVP" };
                let answer = vec![
                    ("command", Bencode::str("answer")),
                    ("call-id", Bencode::str(&call_id)),
                    ("from-tag", Bencode::str("carrier")),
                    ("to-tag", Bencode::str("teams")),
                    (
                        "sdp",
                        Bencode::str(&sdp_body(teams.port(), proto, answer_crypto.as_ref())),
                    ),
                    ("ICE", Bencode::str("remove")),
                ];
                let reply = ng.request(answer)?;
                let body = reply.get("sdp").and_then(Bencode::text).ok_or("no sdp")?;
                let (relay_carrier, _) = parse_answer(&body)?;
                Ok(Call {
                    relay_carrier,
                    relay_teams,
                    teams_tx,
                    teams_rx,
                })
            }
        }
    }

    fn teardown(&mut self, stage: usize, calls: usize) -> Result<(), Error> {
        for call in 0..calls {
            match self {
                Relay::Switchboard(driver) => {
                    let session = (stage as u64) << 32 | call as u64;
                    driver.free_leg(LegKey::new(session, 0))?;
                    driver.free_leg(LegKey::new(session, 1))?;
                }
                Relay::Rtpengine { ng, .. } => {
                    let call_id = format!("load-{}-{stage}-{call}", std::process::id());
                    ng.request(vec![
                        ("command", Bencode::str("delete")),
                        ("call-id", Bencode::str(&call_id)),
                    ])?;
                }
                // Nothing was set up.
                Relay::Static { .. } => {}
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- traffic

/// Generator sockets of one side.
struct Side {
    send: Vec<UdpSocket>,
}

/// Like the relay's sockets: none of the receive ancillary data
/// quinn-udp enables (the generator uses none). On loopback a sender
/// pays for the receiver's socket, so what the generator's sockets ask
/// for the kernel to do per datagram would be charged to the relay.
/// `RTP_LOAD_CMSGS=1` keeps them, for comparison.
fn quiet_cmsgs(socket: &impl std::os::fd::AsFd) {
    use nix::sys::socket::{setsockopt, sockopt};
    if std::env::var_os("RTP_LOAD_CMSGS").is_some() {
        return;
    }
    let _ = setsockopt(socket, sockopt::Ipv4PacketInfo, &false);
    let _ = setsockopt(socket, sockopt::IpRecvTos, &false);
    let _ = setsockopt(socket, sockopt::ReceiveTimestampns, &false);
}

fn bind_side(count: usize) -> Result<(Side, Vec<mio::net::UdpSocket>), Error> {
    let mut send = Vec::new();
    let mut recv = Vec::new();
    for _ in 0..count {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        let state = UdpSocketState::new((&socket).into())?;
        state.set_recv_buffer_size((&socket).into(), 4 << 20)?;
        state.set_send_buffer_size((&socket).into(), 4 << 20)?;
        recv.push(mio::net::UdpSocket::from_std(socket.try_clone()?));
        send.push(socket);
    }
    Ok((Side { send }, recv))
}

/// Shared between the sender and receiver threads.
struct Shared {
    /// Send time (ns since `epoch`) per stream and sequence number.
    sent_at: Vec<AtomicU64>,
    epoch: Instant,
    sent: AtomicU64,
    send_errors: AtomicU64,
    done: AtomicBool,
}

struct Received {
    packets: u64,
    unknown: u64,
    decrypt_failures: u64,
    latency: Histogram,
    jitter: Histogram,
}

/// Receives on every generator socket until `shared.done` and a drain.
#[allow(clippy::too_many_arguments)]
fn receive_loop(
    sockets: Vec<mio::net::UdpSocket>,
    carrier_sockets: usize,
    streams: usize,
    measure_from: Instant,
    measure_until: Instant,
    mut teams_rx: Vec<Option<SrtpContext>>,
    shared: Arc<Shared>,
    coalesce: Duration,
) -> io::Result<Received> {
    let mut poll = mio::Poll::new()?;
    let mut states = Vec::new();
    let mut sockets = sockets;
    for (i, socket) in sockets.iter_mut().enumerate() {
        poll.registry()
            .register(socket, mio::Token(i), mio::Interest::READABLE)?;
        states.push(UdpSocketState::new((&*socket).into())?);
        quiet_cmsgs(&*socket);
    }
    const SLOT: usize = 65_536 + 320;
    let mut buf = vec![0u8; SLOT * BATCH_SIZE];
    let mut meta = [RecvMeta::default(); BATCH_SIZE];
    let mut events = mio::Events::with_capacity(256);
    let mut last_transit = vec![None::<i64>; streams];
    let mut out = Received {
        packets: 0,
        unknown: 0,
        decrypt_failures: 0,
        latency: Histogram::new(),
        jitter: Histogram::new(),
    };
    let mut done_at = None;
    let mut ready: Vec<usize> = (0..sockets.len()).collect();
    loop {
        if shared.done.load(Ordering::Relaxed) && done_at.is_none() {
            done_at = Some(Instant::now());
        }
        if done_at.is_some_and(|t| t.elapsed() > Duration::from_millis(500)) {
            return Ok(out);
        }
        if ready.is_empty() {
            poll.poll(&mut events, Some(Duration::from_millis(50)))?;
            ready.extend(events.iter().map(|e| e.token().0));
        }
        let before = out.packets + out.unknown + out.decrypt_failures;
        for index in std::mem::take(&mut ready) {
            let socket = &sockets[index];
            let state = &states[index];
            loop {
                let mut slots = buf.chunks_exact_mut(SLOT);
                let mut iovs: [IoSliceMut<'_>; BATCH_SIZE] =
                    std::array::from_fn(|_| IoSliceMut::new(slots.next().unwrap_or_default()));
                let n = match state.recv(socket.into(), &mut iovs, &mut meta) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                };
                let drained = n < BATCH_SIZE;
                let now = Instant::now();
                let now_ns = now.duration_since(shared.epoch).as_nanos() as i64;
                for (m, slot) in meta.iter().zip(buf.chunks_exact_mut(SLOT)).take(n) {
                    let stride = if m.stride == 0 { m.len } else { m.stride };
                    for datagram in slot[..m.len].chunks_mut(stride) {
                        if datagram.len() < 12 {
                            out.unknown += 1;
                            continue;
                        }
                        let seq = u16::from_be_bytes([datagram[2], datagram[3]]);
                        let ssrc = u32::from_be_bytes(datagram[8..12].try_into().unwrap_or([0; 4]));
                        let stream = ssrc.wrapping_sub(SSRC_BASE) as usize;
                        if stream >= streams {
                            out.unknown += 1;
                            continue;
                        }
                        // Even streams are carrier -> Teams and arrive on
                        // Teams sockets, SRTP-protected with --srtp.
                        if index >= carrier_sockets && stream % 2 == 0 {
                            if let Some(rx) = &mut teams_rx[stream / 2] {
                                if rx.unprotect_rtp_slice(datagram).is_err() {
                                    out.decrypt_failures += 1;
                                    continue;
                                }
                            }
                        }
                        out.packets += 1;
                        if now < measure_from || now >= measure_until {
                            continue;
                        }
                        let sent = shared.sent_at[stream * HISTORY + usize::from(seq) % HISTORY]
                            .load(Ordering::Relaxed) as i64;
                        let transit = now_ns - sent;
                        out.latency.record((transit / 1000).max(0) as u64);
                        if let Some(last) = last_transit[stream] {
                            out.jitter.record(((transit - last).abs() / 1000) as u64);
                        }
                        last_transit[stream] = Some(transit);
                    }
                }
                if drained {
                    break;
                }
            }
        }
        // Like the relay: wait before the next round rather than being
        // woken by every datagram. On loopback the sender pays for the
        // receiver's wake-up, so this keeps the generator's wake-ups off
        // the relay's CPU time (a NIC does not wake anyone).
        if out.packets + out.unknown + out.decrypt_failures != before && !coalesce.is_zero() {
            std::thread::sleep(coalesce);
            ready.extend(0..sockets.len());
        }
    }
}

fn rtp_packet(buf: &mut [u8; PACKET + 16], stream: usize, seq: u16) {
    buf[0] = 0x80;
    buf[1] = 0;
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&(u32::from(seq).wrapping_mul(160)).to_be_bytes());
    buf[8..12].copy_from_slice(&(SSRC_BASE + stream as u32).to_be_bytes());
    buf[12..PACKET].fill(0xd5);
}

struct RunResult {
    calls: usize,
    sent: u64,
    received: Received,
    relay_cpu: Duration,
    generator_cpu: Duration,
    window: Duration,
    /// Warm-up plus window: how long the sender sent.
    sending: Duration,
    send_errors: u64,
}

impl RunResult {
    fn loss(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        (self.sent.saturating_sub(self.received.packets)) as f64 * 100.0 / self.sent as f64
    }

    /// Packets relayed in the window per second, and sent per second.
    fn rates(&self) -> (f64, f64) {
        let relayed = self.received.latency.count as f64 / self.window.as_secs_f64();
        (relayed, self.sent as f64 / self.sending.as_secs_f64())
    }

    /// The brief's criterion (< 80 % of a core, < 0.1 % loss), the
    /// generator sending the load it should (50 pps per stream) and the
    /// relay keeping pace with it (no backlog growing in the window).
    fn held(&self) -> bool {
        let (relayed, sent) = self.rates();
        let target = (self.calls * 100) as f64;
        self.loss() < 0.1
            && self.relay_cpu_percent() < 80.0
            && sent >= 0.97 * target
            && relayed >= 0.97 * sent
    }

    fn relay_cpu_percent(&self) -> f64 {
        self.relay_cpu.as_secs_f64() * 100.0 / self.window.as_secs_f64()
    }
}

fn run(
    relay: &mut Relay,
    options: &Options,
    stage: usize,
    calls: usize,
) -> Result<RunResult, Error> {
    let (carrier, carrier_recv) = bind_side(options.sockets)?;
    let (teams, teams_recv) = bind_side(options.sockets)?;
    let mut call_list = Vec::with_capacity(calls);
    for call in 0..calls {
        let c = carrier.send[call % options.sockets].local_addr()?;
        let t = teams.send[call % options.sockets].local_addr()?;
        call_list.push(relay.setup(stage, call, c, t, options.srtp)?);
    }
    let streams = 2 * calls;
    let shared = Arc::new(Shared {
        sent_at: (0..streams * HISTORY).map(|_| AtomicU64::new(0)).collect(),
        epoch: Instant::now(),
        sent: AtomicU64::new(0),
        send_errors: AtomicU64::new(0),
        done: AtomicBool::new(false),
    });
    let start = Instant::now() + Duration::from_millis(100);
    let measure_from = start + options.warmup;
    let end = measure_from + options.duration;
    let teams_rx: Vec<_> = call_list.iter_mut().map(|c| c.teams_rx.take()).collect();
    let mut sockets = carrier_recv;
    sockets.extend(teams_recv);
    let receiver = {
        let shared = shared.clone();
        let carrier_sockets = options.sockets;
        let coalesce = options.gen_coalesce;
        std::thread::Builder::new()
            .name("gen-recv".into())
            .spawn(move || {
                receive_loop(
                    sockets,
                    carrier_sockets,
                    streams,
                    measure_from,
                    end,
                    teams_rx,
                    shared,
                    coalesce,
                )
            })?
    };
    let sender = {
        let shared = shared.clone();
        let flood = options.flood;
        let sockets_per_side = options.sockets;
        std::thread::Builder::new()
            .name("gen-send".into())
            .spawn(move || {
                send_loop(
                    call_list,
                    carrier,
                    teams,
                    sockets_per_side,
                    flood,
                    start,
                    // Past the window, so that the sender is still there
                    // when its CPU time is read at the end.
                    end + Duration::from_millis(200),
                    &shared,
                )
            })?
    };
    // Sample the relay's CPU at the start and end of the window.
    std::thread::sleep(measure_from.saturating_duration_since(Instant::now()));
    let relay_cpu0 = relay.cpu();
    let gen_cpu0 = threads_cpu("gen-");
    let t0 = Instant::now();
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    let relay_cpu1 = relay.cpu();
    let gen_cpu1 = threads_cpu("gen-");
    let window = t0.elapsed();
    sender.join().map_err(|_| "sender panicked")?;
    let received = receiver.join().map_err(|_| "receiver panicked")??;
    relay.teardown(stage, calls)?;
    Ok(RunResult {
        calls,
        sent: shared.sent.load(Ordering::Relaxed),
        received,
        relay_cpu: relay_cpu1.saturating_sub(relay_cpu0),
        generator_cpu: gen_cpu1.saturating_sub(gen_cpu0),
        window,
        sending: options.warmup + window + Duration::from_millis(200),
        send_errors: shared.send_errors.load(Ordering::Relaxed),
    })
}

#[allow(clippy::too_many_arguments)]
fn send_loop(
    mut calls: Vec<Call>,
    carrier: Side,
    teams: Side,
    sockets: usize,
    flood: bool,
    start: Instant,
    end: Instant,
    shared: &Shared,
) {
    let count = calls.len();
    let mut buf = [0u8; PACKET + 16];
    let mut seq: u16 = 0;
    let send = |call: usize, c: &mut Call, seq: u16, buf: &mut [u8; PACKET + 16]| {
        for (stream, socket, to) in [
            (2 * call, &carrier.send[call % sockets], c.relay_carrier),
            (2 * call + 1, &teams.send[call % sockets], c.relay_teams),
        ] {
            rtp_packet(buf, stream, seq);
            let mut len = PACKET;
            if stream % 2 == 1 {
                if let Some(tx) = &mut c.teams_tx {
                    match tx.protect_rtp_slice(buf, PACKET) {
                        Ok(n) => len = n,
                        Err(_) => continue,
                    }
                }
            }
            let at = shared.epoch.elapsed().as_nanos() as u64;
            shared.sent_at[stream * HISTORY + usize::from(seq) % HISTORY]
                .store(at, Ordering::Relaxed);
            loop {
                match socket.send_to(&buf[..len], to) {
                    Ok(_) => {
                        shared.sent.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                    Err(_) => {
                        shared.send_errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
    };
    std::thread::sleep(start.saturating_duration_since(Instant::now()));
    if flood {
        while Instant::now() < end {
            for (i, call) in calls.iter_mut().enumerate() {
                send(i, call, seq, &mut buf);
            }
            seq = seq.wrapping_add(1);
        }
    } else {
        // Call i sends at start + i * 20 ms / K + n * 20 ms.
        let mut period = start;
        while period < end {
            let mut next_call = 0;
            while next_call < count {
                let now = Instant::now();
                let due = period + PTIME * (next_call as u32) / (count as u32);
                if due > now {
                    // Never spin: what is due after a late wake-up goes
                    // out in one go (the send time is taken per packet).
                    std::thread::sleep((due - now).max(Duration::from_micros(100)));
                    continue;
                }
                let (i, call) = (next_call, &mut calls[next_call]);
                send(i, call, seq, &mut buf);
                next_call += 1;
                // Send everything due now in one go.
                while next_call < count
                    && period + PTIME * (next_call as u32) / (count as u32) <= now
                {
                    let call = &mut calls[next_call];
                    send(next_call, call, seq, &mut buf);
                    next_call += 1;
                }
            }
            seq = seq.wrapping_add(1);
            period += PTIME;
        }
    }
    shared.done.store(true, Ordering::Relaxed);
}

fn print_header(options: &Options) {
    let mode = if options.srtp {
        "SRTP <-> RTP"
    } else {
        "plain RTP"
    };
    let target = match &options.target {
        Target::Switchboard => format!(
            "switchboard ({} shard(s), {:?})",
            options.shards, options.io
        ),
        Target::Rtpengine { .. } => "rtpengine userspace".to_owned(),
        Target::Static { base_port, pid } => {
            format!("static relay (pid {pid}, ports from {base_port})")
        }
    };
    println!(
        "\n#### {target}, {mode}{}\n",
        if options.flood { ", flood" } else { "" }
    );
    println!(
        "| calls | sent pps | relayed pps | loss % | relay CPU % | relayed pps per relay CPU-s | latency p50 / p99 / max ms | added jitter p99 ms | generator CPU % |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---|---:|---:|");
}

fn print_row(r: &RunResult) {
    let secs = r.window.as_secs_f64();
    let (relayed_pps, sent_pps) = r.rates();
    let cpu = r.relay_cpu.as_secs_f64();
    let per_core = if cpu > 0.0 {
        r.received.latency.count as f64 / cpu
    } else {
        0.0
    };
    println!(
        "| {} | {:.0} | {:.0} | {:.3} | {:.1} | {:.0} | {} / {} / {} | {} | {:.1} |",
        r.calls,
        sent_pps,
        relayed_pps,
        r.loss(),
        r.relay_cpu_percent(),
        per_core,
        ms(r.received.latency.percentile(0.5)),
        ms(r.received.latency.percentile(0.99)),
        ms(r.received.latency.max),
        ms(r.received.jitter.percentile(0.99)),
        r.generator_cpu.as_secs_f64() * 100.0 / secs,
    );
    if r.received.unknown + r.received.decrypt_failures + r.send_errors > 0 {
        println!(
            "<!-- unknown {} decrypt failures {} send errors {} -->",
            r.received.unknown, r.received.decrypt_failures, r.send_errors
        );
    }
}

fn main() -> Result<(), Error> {
    let options = parse_args()?;
    let mut relay = match &options.target {
        Target::Switchboard => {
            let config = DriverConfig {
                bind: "127.0.0.1".parse()?,
                first_port: options.first_port,
                last_port: options.first_port.saturating_add(19_999),
                shards: options.shards,
                io: options.io,
                relay: RelayConfig::default(),
                socket_buffer: 1 << 20,
                gso: options.gso,
                coalesce: options.coalesce,
                ..DriverConfig::default()
            };
            // No media timeout fires during a run; events are not needed.
            let (driver, _events) = MediaDriver::start(config)?;
            Relay::Switchboard(driver)
        }
        Target::Rtpengine { ng, pid } => {
            let mut ng = NgClient::new(*ng)?;
            ng.request(vec![("command", Bencode::str("ping"))])?;
            Relay::Rtpengine { ng, pid: *pid }
        }
        Target::Static { base_port, pid } => Relay::Static {
            base_port: *base_port,
            pid: *pid,
        },
    };
    print_header(&options);
    if options.search.is_empty() {
        let result = run(&mut relay, &options, 0, options.calls)?;
        print_row(&result);
        if let Relay::Switchboard(driver) = &relay {
            // How well the driver batched: datagrams per system call.
            let c = driver.counters()?;
            println!(
                "<!-- driver: {} datagrams in {} recvmmsg, {} sent in {} send calls -->",
                c.recv_datagrams, c.recv_batches, c.sent_datagrams, c.send_calls
            );
        }
        return Ok(());
    }
    let (mut held, mut voice) = (None, None);
    let mut stage = 0;
    for &calls in &options.search {
        let mut runs = Vec::with_capacity(options.repeat);
        for _ in 0..options.repeat {
            stage += 1;
            let result = run(&mut relay, &options, stage, calls)?;
            print_row(&result);
            runs.push(result);
        }
        runs.sort_by(|a, b| a.relay_cpu_percent().total_cmp(&b.relay_cpu_percent()));
        let result = runs.swap_remove(runs.len() / 2);
        if options.repeat > 1 {
            println!(
                "<!-- {calls} calls: median relay CPU {:.1} % -->",
                result.relay_cpu_percent()
            );
        }
        if !result.held() {
            break;
        }
        held = Some(calls);
        if result.received.latency.percentile(0.99) <= 20_000 {
            voice = Some(calls);
        }
    }
    let calls =
        |n: Option<usize>| n.map_or("none of the steps".to_owned(), |c| format!("{c} calls"));
    println!(
        "\nHeld under 80 % relay CPU with < 0.1 % loss, relaying as fast as sent: {}; \
         of those with p99 latency <= 20 ms: {}\n",
        calls(held),
        calls(voice)
    );
    Ok(())
}
