//! `switchboard serve` between two real SIP peers: SIPp as the calling
//! carrier, SIPp as the called side, the real binary in the middle.
#![allow(clippy::unwrap_used)]

mod common;

use common::{free_udp_port, scratch_dir, sipp, start_serve, Running};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The loopback example's shape on free ports: one UDP carrier trunk from
/// 127.0.0.1, every call routed to the UAS.
fn loopback_config(dir: &Path, sbc_port: u16, uas_port: u16, max_calls: u32) -> PathBuf {
    let config = format!(
        r#"
[sbc]
max_concurrent_calls = {max_calls}
max_calls_per_second = 1000

[sbc.listen]
udp = ["127.0.0.1:{sbc_port}"]

[trunks.loop]
allow = ["127.0.0.1/32"]
transport = "udp"
targets = ["sip:127.0.0.1:{uas_port}"]

[[routes]]
from = "loop"
prefix = ""
to_uri = "sip:127.0.0.1:{uas_port}"
"#
    );
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, config).unwrap();
    path
}

fn start_switchboard(config: &Path, dir: &Path) -> Running {
    start_serve(config, dir, "info", 1)
}

fn wait_for_log(dir: &Path, needle: &str, count: usize) -> String {
    common::wait_for_log(&dir.join("switchboard.log"), needle, count)
}

fn start_uas(dir: &Path, port: u16, scenario: &str) -> Running {
    let child = sipp()
        .current_dir(dir)
        .args(["-sn", scenario, "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-nostdin", "-timeout", "60s", "-trace_err"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Running(child)
}

/// Runs a SIPp UAC to completion; returns its exit code and the last row of
/// its statistics, as (successful, failed) call counts.
fn run_uac(dir: &Path, sbc_port: u16, calls: u32, rate: u32, hold_ms: u32) -> (i32, u64, u64) {
    let uac_port = free_udp_port();
    let status = sipp()
        .current_dir(dir)
        .arg(format!("127.0.0.1:{sbc_port}"))
        .args(["-sn", "uac", "-i", "127.0.0.1", "-p", &uac_port.to_string()])
        .args(["-m", &calls.to_string(), "-r", &rate.to_string()])
        .args(["-d", &hold_ms.to_string()])
        .args(["-nostdin", "-timeout", "40s", "-timeout_error"])
        .args(["-trace_stat", "-stf", "uac.csv", "-trace_err"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let csv = std::fs::read_to_string(dir.join("uac.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(';').collect();
    let last: Vec<&str> = lines.last().unwrap().split(';').collect();
    let column = |name: &str| -> u64 {
        let index = header.iter().position(|h| *h == name).unwrap();
        last[index].parse().unwrap()
    };
    (
        status.code().unwrap_or(-1),
        column("SuccessfulCall(C)"),
        column("FailedCall(C)"),
    )
}

#[test]
fn carrier_calls_pass_through_the_b2bua_and_complete() {
    let dir = scratch_dir("serve-basic");
    let (sbc_port, uas_port) = (free_udp_port(), free_udp_port());
    let config = loopback_config(&dir, sbc_port, uas_port, 100);
    let _switchboard = start_switchboard(&config, &dir);
    let _uas = start_uas(&dir, uas_port, "uas");
    let (code, ok, failed) = run_uac(&dir, sbc_port, 20, 10, 200);
    assert_eq!((code, ok, failed), (0, 20, 0), "see {}", dir.display());
    // The last events may be logged just after SIPp saw its last 200.
    wait_for_log(&dir, "CallEnded", 20);
    let log = std::fs::read_to_string(dir.join("switchboard.log")).unwrap();
    assert_eq!(log.matches("CallAnswered").count(), 20, "{log}");
    assert_eq!(log.matches("CallEnded").count(), 20, "{log}");
}

#[test]
fn busy_called_side_reaches_the_caller_as_a_failure() {
    let dir = scratch_dir("serve-busy");
    let (sbc_port, uas_port) = (free_udp_port(), free_udp_port());
    let config = loopback_config(&dir, sbc_port, uas_port, 100);
    let _switchboard = start_switchboard(&config, &dir);
    // A UAS that answers every INVITE with 486 Busy Here.
    let scenario = dir.join("busy.xml");
    std::fs::write(&scenario, BUSY_UAS).unwrap();
    let child = sipp()
        .current_dir(&dir)
        .args([
            "-sf",
            "busy.xml",
            "-i",
            "127.0.0.1",
            "-p",
            &uas_port.to_string(),
        ])
        .args(["-nostdin", "-timeout", "60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _uas = Running(child);
    let (code, ok, failed) = run_uac(&dir, sbc_port, 3, 10, 0);
    // SIPp's uac expects a 200: every call fails, none hangs until timeout.
    assert_eq!((ok, failed), (0, 3), "exit {code}, see {}", dir.display());
    let errors = uac_errors(&dir);
    assert!(
        errors.contains("486"),
        "the carrier should see 486: {errors}"
    );
}

#[test]
fn calls_over_the_concurrency_limit_are_refused_with_503() {
    let dir = scratch_dir("serve-limit");
    let (sbc_port, uas_port) = (free_udp_port(), free_udp_port());
    // Two calls at a time on the node; the UAC holds 10 calls for 2 s each.
    let config = loopback_config(&dir, sbc_port, uas_port, 2);
    let _switchboard = start_switchboard(&config, &dir);
    let _uas = start_uas(&dir, uas_port, "uas");
    let (_code, ok, failed) = run_uac(&dir, sbc_port, 10, 50, 2000);
    assert_eq!(ok + failed, 10);
    assert!(ok >= 2, "the first calls fit: {ok} ok");
    assert!(
        failed >= 1,
        "calls above the limit must be refused: {failed} failed"
    );
    assert!(uac_errors(&dir).contains("503"), "refused with 503");
}

/// What SIPp's UAC logged as unexpected messages (`-trace_err`).
fn uac_errors(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("uac_") && name.ends_with("_errors.log")
        })
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect()
}

const BUSY_UAS: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy uas">
  <recv request="INVITE" />
  <send>
    <![CDATA[
      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" crlf="true" />
</scenario>
"#;

/// A TCP port whose accept queue is full: a new connection to it hangs
/// (its SYN is dropped) until the connecting side gives up. Returns the
/// port and the connections that fill the queue (keep them open).
fn blackhole_tcp_port() -> (u16, socket2::Socket, Vec<std::net::TcpStream>) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut filling = Vec::new();
    loop {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(stream) => filling.push(stream),
            // This one hung: so will the SBC's.
            Err(_) => return (addr.port(), listener, filling),
        }
        assert!(filling.len() < 64, "the accept queue never filled up");
    }
}

#[test]
fn a_next_hop_that_never_accepts_does_not_hold_up_other_calls() {
    let dir = scratch_dir("serve-lanes");
    let (sbc_port, uas_port) = (free_udp_port(), free_udp_port());
    let (blackhole, _listener, _filling) = blackhole_tcp_port();
    let config = loopback_config(&dir, sbc_port, uas_port, 100);
    // Numbers starting with 9 go over TCP to the blackhole, ahead of the
    // catch-all route to the UAS.
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[[routes]]",
        &format!(
            "[[routes]]\nfrom = \"loop\"\nprefix = \"9\"\nto_uri = \"sip:127.0.0.1:{blackhole};transport=tcp\"\n\n[[routes]]"
        ),
    );
    std::fs::write(&config, text).unwrap();
    let _switchboard = start_switchboard(&config, &dir);
    let _uas = start_uas(&dir, uas_port, "uas");
    // A call whose outbound INVITE waits on a TCP connect (10 s timeout).
    let stuck = sipp()
        .current_dir(&dir)
        .arg(format!("127.0.0.1:{sbc_port}"))
        .args(["-sn", "uac", "-s", "9123", "-i", "127.0.0.1"])
        .args(["-p", &free_udp_port().to_string(), "-m", "1"])
        .args(["-nostdin", "-timeout", "30s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _stuck = Running(stuck);
    wait_for_log(&dir, "CallStarted", 1);
    // Meanwhile other calls go through at once, not after the connect.
    let started = Instant::now();
    let (code, ok, failed) = run_uac(&dir, sbc_port, 5, 10, 0);
    let took = started.elapsed();
    assert_eq!((code, ok, failed), (0, 5, 0), "see {}", dir.display());
    assert!(
        took < Duration::from_secs(5),
        "{took:?}, see {}",
        dir.display()
    );
}

/// An even UDP port on 127.0.0.1 with its three neighbours free (SIPp
/// binds -mp and -mp + 2).
fn free_media_port() -> u16 {
    loop {
        let port = free_udp_port() & !1;
        if (0..4).all(|i| std::net::UdpSocket::bind(("127.0.0.1", port + i)).is_ok()) {
            return port;
        }
    }
}

/// The shift (in samples; positive: `back` is late) at which `back`
/// best matches `sent`, and the normalised correlation there, over two
/// seconds of `sent` from its first sound.
fn best_match(sent: &[i16], back: &[i16]) -> (isize, f64) {
    let start = sent.iter().position(|s| s.abs() > 500).unwrap_or(0);
    let window = &sent[start..(start + 16_000).min(sent.len())];
    let mut best = (0, 0.0);
    for shift in -4_000isize..4_000 {
        let Some(from) = start.checked_add_signed(shift) else {
            continue;
        };
        let Some(other) = back.get(from..from + window.len()) else {
            continue;
        };
        let (mut dot, mut a, mut b) = (0f64, 0f64, 0f64);
        for (x, y) in window.iter().zip(other) {
            let (x, y) = (f64::from(*x), f64::from(*y));
            dot += x * y;
            a += x * x;
            b += y * y;
        }
        let score = dot / (a.sqrt() * b.sqrt()).max(1.0);
        if score > best.1 {
            best = (shift, score);
        }
    }
    best
}

#[test]
fn an_a_law_caller_reaches_a_mu_law_only_trunk_through_the_transcoder() {
    const SPEECH_PCAP: &str = "/usr/share/sip-tester/g711a.pcap";
    let dir = scratch_dir("serve-transcode");
    let (sbc_port, uas_port) = (free_udp_port(), free_udp_port());
    let config = loopback_config(&dir, sbc_port, uas_port, 10);
    // The called trunk takes only mu-law; the caller offers only A-law.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            "transport = \"udp\"\n",
            "transport = \"udp\"\ncodecs = [\"PCMU\", \"telephone-event\"]\n",
        )
        .replace(
            &format!("to_uri = \"sip:127.0.0.1:{uas_port}\""),
            "to_trunk = \"loop\"",
        );
    assert!(text.contains("to_trunk"));
    std::fs::write(&config, text).unwrap();
    let _switchboard = start_switchboard(&config, &dir);
    // The called side echoes every RTP packet back (SIPp -rtp_echo).
    let uas_media = free_media_port();
    let _uas = Running(
        sipp()
            .current_dir(&dir)
            .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &uas_port.to_string()])
            .args([
                "-mi",
                "127.0.0.1",
                "-mp",
                &uas_media.to_string(),
                "-rtp_echo",
            ])
            .args(["-nostdin", "-timeout", "60s"])
            .args(["-trace_msg", "-message_file", "uas-messages.log"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let scenario = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/uac_pcap_echo.xml"),
    )
    .unwrap()
    .replace("PCAP_FILE", SPEECH_PCAP);
    std::fs::write(dir.join("uac_pcap_echo.xml"), scenario).unwrap();
    let media_port = free_media_port();
    let tap = common::UdpTap::open();
    let mut uac = Running(
        sipp()
            .current_dir(&dir)
            .arg(format!("127.0.0.1:{sbc_port}"))
            .args(["-sf", "uac_pcap_echo.xml", "-s", "+12065550100"])
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-mp", &media_port.to_string()])
            .args(["-p", &free_udp_port().to_string()])
            .args(["-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error"])
            .args(["-trace_msg", "-message_file", "uac-messages.log"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let back = tap.rtp_to(media_port, Instant::now() + Duration::from_secs(10));
    let status = uac.0.wait().unwrap();
    let uac_log = std::fs::read_to_string(dir.join("uac-messages.log")).unwrap_or_default();
    assert!(status.success(), "SIPp failed: {uac_log}");
    // Each side was offered and answered its own codec.
    let uas_log = std::fs::read_to_string(dir.join("uas-messages.log")).unwrap_or_default();
    assert!(
        uas_log.contains("m=audio") && uas_log.contains("RTP/AVP 0"),
        "{uas_log}"
    );
    assert!(!uas_log.contains("PCMA"), "{uas_log}");
    let answer = uac_log.split("SIP/2.0 200").nth(1).unwrap_or_default();
    assert!(answer.contains("RTP/AVP 8"), "{uac_log}");

    // The speech came back A-law (mu-law on the far side, transcoded
    // both ways) and sounds the same.
    let sent = common::pcap_rtp_payloads(SPEECH_PCAP);
    assert!(
        back.len() >= sent.len() * 95 / 100,
        "{} of {} packets came back",
        back.len(),
        sent.len()
    );
    assert!(
        back.iter().all(|(pt, _)| *pt == 8),
        "payload types {:?}",
        back.iter()
            .map(|p| p.0)
            .collect::<std::collections::BTreeSet<_>>()
    );
    let decode = |packets: &mut dyn Iterator<Item = &Vec<u8>>| -> Vec<i16> {
        packets
            .flatten()
            .map(|code| media::alaw_decode(*code))
            .collect()
    };
    let sent = decode(&mut sent.iter());
    let back = decode(&mut back.iter().map(|(_, p)| p));
    let (lag, score) = best_match(&sent, &back);
    assert!(score > 0.98, "correlation {score} at lag {lag}");
}
