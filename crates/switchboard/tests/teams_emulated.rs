//! The whole Connect model on loopback, as README's demo runs it: SIPp as
//! the carrier, `switchboard serve`, and `switchboard emulate teams` as the
//! Teams Direct Routing proxies (mutual TLS, SRTP offers, OPTIONS health),
//! all three real processes configured by examples/teams.toml on free
//! ports.
#![allow(clippy::unwrap_used)]

mod common;

use common::{free_udp_port, pcap_rtp_payloads, sipp, wait_for_log, System, UdpTap};
use std::path::Path;
use std::process::Stdio;

/// SIPp's built-in UAC calls `number` through the SBC; returns its exit
/// code, and the messages it received (`-trace_msg`).
fn call(system: &System, number: &str, calls: u32) -> (i32, String) {
    let status = sipp()
        .current_dir(&system.dir)
        .arg(format!("127.0.0.1:{}", system.sbc_udp))
        .args(["-sn", "uac", "-s", number, "-i", "127.0.0.1"])
        .args(["-p", &free_udp_port().to_string()])
        .args(["-m", &calls.to_string(), "-r", "5", "-d", "300"])
        .args(["-nostdin", "-timeout", "30s", "-timeout_error"])
        .args(["-trace_msg", "-message_file", "uac-messages.log"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let messages = std::fs::read_to_string(system.dir.join("uac-messages.log")).unwrap();
    (status.code().unwrap_or(-1), messages)
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
    let system = System::start("teams.toml", "answer", |c| c);
    // +12065550100 is contoso's DID for adele (answers after 2 s on two
    // endpoints, so two 180s with their own tags reach the carrier).
    let (code, messages) = call(&system, "+12065550100", 2);
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
    let system = System::start("teams.toml", "busy", |c| c);
    // +12065550101 rings megan, who is busy.
    let (code, messages) = call(&system, "+12065550101", 1);
    assert_ne!(code, 0, "SIPp's uac expects a 200");
    assert!(statuses(&messages).contains(&486), "{messages}");
    assert!(!statuses(&messages).contains(&200), "{messages}");
}

#[test]
fn teams_marks_the_sbc_active_after_the_options_exchange() {
    let system = System::start("teams.toml", "options", |c| c);
    let log = wait_for_log(&system.dir.join("emulator.log"), "SbcStatusChanged", 1);
    assert!(log.contains("OptionsReceived"), "{log}");
    assert!(log.contains("Active"), "{}", system.log("emulator"));
}

/// SIPp's g711a.pcap: 7 s of A-law speech.
const SPEECH_PCAP: &str = "/usr/share/sip-tester/g711a.pcap";

/// The RTP payloads of a pcap file (classic format, Ethernet, IPv4/UDP).
#[test]
fn carrier_audio_crosses_srtp_to_teams_and_comes_back_intact() {
    let system = System::start("teams.toml", "media", |c| c);
    let sent = pcap_rtp_payloads(SPEECH_PCAP);
    assert!(sent.len() > 200, "{} packets in the pcap", sent.len());
    let scenario = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/uac_pcap_echo.xml"),
    )
    .unwrap()
    .replace("PCAP_FILE", SPEECH_PCAP);
    std::fs::write(system.dir.join("uac_pcap_echo.xml"), scenario).unwrap();
    // An even port with its neighbours free: SIPp binds -mp and -mp + 2.
    let media_port = loop {
        let port = free_udp_port() & !1;
        if (0..4).all(|i| std::net::UdpSocket::bind(("127.0.0.1", port + i)).is_ok()) {
            break port;
        }
    };
    let tap = UdpTap::open();
    let sipp = sipp()
        .current_dir(&system.dir)
        .arg(format!("127.0.0.1:{}", system.sbc_udp))
        .args(["-sf", "uac_pcap_echo.xml", "-s", "+12065550100"])
        .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args(["-mp", &media_port.to_string()])
        .args(["-p", &free_udp_port().to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error"])
        .args(["-trace_msg", "-message_file", "pcap-messages.log"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut sipp = common::Running(sipp);
    // Ringing (2 s) + 7 s of speech + the echo's way back.
    let back = tap.rtp_payloads_to(
        media_port,
        std::time::Instant::now() + std::time::Duration::from_secs(12),
    );
    let status = sipp.0.wait().unwrap();
    let messages =
        std::fs::read_to_string(system.dir.join("pcap-messages.log")).unwrap_or_default();
    assert!(status.success(), "SIPp failed: {messages}");

    // Every packet came back, decrypted, in order, payload intact.
    assert!(
        back.len() >= sent.len() * 99 / 100,
        "{} of {} packets came back",
        back.len(),
        sent.len()
    );
    let first = sent
        .iter()
        .position(|p| *p == back[0])
        .expect("the first packet back is one SIPp sent");
    for (i, payload) in back.iter().enumerate() {
        assert_eq!(
            Some(payload),
            sent.get(first + i),
            "packet {i} back differs from packet {} sent",
            first + i
        );
    }
    // The emulated Teams client decrypted every packet: none refused.
    let log = wait_for_log(&system.dir.join("emulator.log"), "MediaStats", 1);
    let stats = log.lines().find(|l| l.contains("MediaStats")).unwrap();
    assert!(stats.contains("refused: 0"), "{stats}");
    assert!(
        stats.contains(&format!("received: {}", back.len()))
            || stats.contains(&format!("echoed: {}", back.len())),
        "{stats}"
    );
}

#[test]
fn a_call_without_media_is_ended_with_a_reason_after_the_media_timeout() {
    let system = System::start("teams.toml", "media-timeout", |config| {
        config.replace("timeout_secs = 30", "timeout_secs = 1")
    });
    // SIPp's built-in UAC sends no RTP and would hang up after 10 s.
    let status = sipp()
        .current_dir(&system.dir)
        .arg(format!("127.0.0.1:{}", system.sbc_udp))
        .args(["-sn", "uac", "-s", "+12065550100", "-i", "127.0.0.1"])
        .args(["-p", &free_udp_port().to_string()])
        .args(["-m", "1", "-d", "10000", "-nostdin", "-timeout", "30s"])
        .args(["-trace_msg", "-message_file", "uac-messages.log"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let messages = std::fs::read_to_string(system.dir.join("uac-messages.log")).unwrap();
    assert!(!status.success(), "SIPp's uac does not expect a BYE");
    let bye = messages
        .split("\n\n")
        .find(|m| m.contains("BYE sip:"))
        .unwrap_or_else(|| panic!("no BYE reached the carrier: {messages}"));
    assert!(
        bye.contains("Reason: SIP;cause=408;text=\"media timeout\""),
        "{bye}"
    );
    let log = wait_for_log(&system.dir.join("switchboard.log"), "media timeout", 1);
    assert!(log.contains("call ended"), "{log}");
    // Teams' side got its BYE too.
    wait_for_log(&system.dir.join("emulator.log"), "Ended", 1);
}

/// The digits of the emulated Teams client's `DtmfReceived` events, in
/// the order it logged them.
fn teams_digits(log: &str) -> Vec<char> {
    log.lines()
        .filter(|line| line.contains("DtmfReceived"))
        .filter_map(|line| {
            let rest = &line[line.find("digit: '")? + "digit: '".len()..];
            rest.chars().next()
        })
        .collect()
}

#[test]
fn carrier_info_digits_reach_teams_as_rfc4733_once_each() {
    let log = info_dtmf_call("info-dtmf", |scenario| scenario);
    assert!(log.contains("duration: 160ms"), "{log}");
}

#[test]
fn a_press_sent_both_as_info_and_rfc4733_reaches_teams_once() {
    // The carrier sends its "1" twice over: RFC 4733 events in its RTP
    // (SIPp's pcap of a "1") and, at once, an INFO.
    let log = info_dtmf_call("info-and-rfc4733", |scenario| {
        let first_info = "<send retrans=\"500\">\n    <![CDATA[\n\n      INFO";
        assert!(scenario.contains(first_info));
        scenario.replacen(
            first_info,
            &format!(
                "<nop><action><exec play_pcap_audio=\"/usr/share/sip-tester/dtmf_2833_1.pcap\"/></action></nop>\n  {first_info}"
            ),
            1,
        )
    });
    assert!(log.contains("DtmfReceived"), "{log}");
}

/// A call from a carrier whose trunk takes DTMF as INFO, running
/// `uac_info_dtmf.xml` (edited by `edit`): its presses 1, 2, 2, # reach
/// the emulated Teams client as RFC 4733 events, each once. Returns the
/// emulator's log.
fn info_dtmf_call(test: &str, edit: impl Fn(String) -> String) -> String {
    let system = System::start("teams.toml", test, |config| {
        assert!(
            config.contains("dtmf = \"rfc4733\""),
            "the carrier's dtmf key"
        );
        config.replace("dtmf = \"rfc4733\"", "dtmf = \"info\"")
    });
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/uac_info_dtmf.xml");
    let scenario = edit(std::fs::read_to_string(scenario).unwrap());
    std::fs::write(system.dir.join("scenario.xml"), scenario).unwrap();
    let media_port = free_udp_port() & !1;
    let status = sipp()
        .current_dir(&system.dir)
        .arg(format!("127.0.0.1:{}", system.sbc_udp))
        .arg("-sf")
        .arg("scenario.xml")
        .args(["-s", "+12065550100", "-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args(["-mp", &media_port.to_string()])
        .args(["-p", &free_udp_port().to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error"])
        .args(["-trace_msg", "-message_file", "info-messages.log"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let messages =
        std::fs::read_to_string(system.dir.join("info-messages.log")).unwrap_or_default();
    assert!(status.success(), "SIPp failed: {messages}");
    // Every INFO was answered 200 (the scenario checks each) and each
    // press reached Teams as RFC 4733 telephone-events, the only DTMF
    // Direct Routing takes.
    wait_for_log(&system.dir.join("emulator.log"), "DtmfReceived", 4);
    // Nothing more arrives: the three redundant end packets of each
    // press count once, and so does a press sent in both forms.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let log = system.log("emulator");
    assert_eq!(teams_digits(&log), ['1', '2', '2', '#'], "{log}");
    log
}
