//! examples/contact-center.toml end to end: SIPp calls the contact-center
//! number, hears the flow, presses a key with SIPp's RFC 4733 capture,
//! waits in the queue and is connected to an emulated Teams agent, who is
//! rung through Direct Routing by `switchboard serve`.
#![allow(clippy::unwrap_used)]

mod common;

use common::{free_udp_port, sipp, wait_for_log, System};
use std::path::Path;
use std::process::Stdio;

/// The caller: presses `digit` after `digit_at_ms`, stays `stay_ms`, hangs
/// up. Returns whether SIPp's scenario passed.
fn caller(system: &System, digit: char, digit_at_ms: u32, stay_ms: u32) -> bool {
    let scenario = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/uac_ivr.xml"),
    )
    .unwrap()
    .replace(
        "DTMF_FILE",
        &format!("/usr/share/sip-tester/dtmf_2833_{digit}.pcap"),
    )
    .replace("DIGIT_AT_MS", &digit_at_ms.to_string())
    .replace("STAY_MS", &stay_ms.to_string());
    std::fs::write(system.dir.join("uac_ivr.xml"), scenario).unwrap();
    let media_port = free_udp_port() & !1;
    sipp()
        .current_dir(&system.dir)
        .arg(format!("127.0.0.1:{}", system.sbc_udp))
        .args(["-sf", "uac_ivr.xml", "-s", "+15550100"])
        .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args(["-mp", &media_port.to_string()])
        .args(["-p", &free_udp_port().to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error"])
        .args(["-trace_msg", "-message_file", "caller-messages.log"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// The example with its prompts generated into the test's own directory
/// (tests run side by side) and `edit` applied.
fn start(test: &str, edit: impl Fn(String) -> String) -> System {
    System::start("contact-center.toml", test, |config| {
        let config: String = config
            .lines()
            .map(|line| {
                if line.starts_with("prompts_dir = ") {
                    "prompts_dir = \"prompts\"".to_owned()
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        edit(config)
    })
}

/// The emulator's log lines of kind `kind` naming `user`.
fn teams_events<'a>(log: &'a str, kind: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(kind)).collect()
}

const SUPPORT: [&str; 3] = ["dana", "emil", "fatima"];

#[test]
fn pressing_2_queues_for_support_and_a_teams_agent_answers() {
    let metrics = common::free_tcp_port();
    let system = start("cc-answer", |config| {
        config.replace(
            "[contact_center]\n",
            "[contact_center]\nrecord_calls = true\n",
        ) + &format!("\n[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n")
    });
    assert!(
        caller(&system, '2', 6000, 9000),
        "{}",
        system.log("caller-messages")
    );
    let teams = wait_for_log(&system.dir.join("emulator.log"), "Ended", 1);
    let rung = teams_events(&teams, "event=CallReceived");
    assert_eq!(rung.len(), 1, "{teams}");
    assert!(
        SUPPORT
            .iter()
            .any(|agent| rung[0].contains(&format!("user: \"{agent}\""))),
        "a support agent: {}",
        rung[0]
    );
    assert_eq!(teams_events(&teams, "event=Answered").len(), 1, "{teams}");
    let sbc = wait_for_log(&system.dir.join("switchboard.log"), "Completed", 1);
    for kind in ["Queued", "Answered", "Completed"] {
        assert!(sbc.contains(kind), "no {kind} in the ACD log:\n{sbc}");
    }
    assert!(!sbc.contains("Abandoned"), "{sbc}");

    // The CDR, from the event log serve wrote (data/switchboard.db); the
    // log line above may come just before the append.
    let csv = exported(&system, "csv", 1);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one call:\n{csv}");
    assert!(lines[0].starts_with("interaction,tenant,"), "{csv}");
    let row = lines[1];
    for field in [
        "+15550100",
        "+12065550199",
        "main:greeting>main:menu>main:support",
        ",answered,",
    ] {
        assert!(row.contains(field), "no {field} in {row}");
    }
    let json = exported(&system, "json", 1);
    let cdr: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(cdr["outcome"], "answered");
    assert_eq!(cdr["queue"], 2, "support");
    assert!(cdr["talk_ms"].as_u64().unwrap() > 1000, "{cdr}");
    assert!(cdr["wait_ms"].as_u64().unwrap() >= 2000, "rang 3 s: {cdr}");

    // The agent call was recorded: stereo, 8 kHz, as long as the talk.
    let log = wait_for_log(&system.dir.join("switchboard.log"), "recording finished", 1);
    let recordings: Vec<_> = std::fs::read_dir(system.dir.join("data/recordings"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(recordings.len(), 1, "{log}");
    let wav = std::fs::read(&recordings[0]).unwrap();
    assert_eq!(&wav[..4], b"RIFF");
    let channels = u16::from_le_bytes([wav[22], wav[23]]);
    let rate = u32::from_le_bytes([wav[24], wav[25], wav[26], wav[27]]);
    assert_eq!((channels, rate), (2, 8000));
    let seconds = (wav.len() - 44) as f64 / (8000.0 * 2.0 * 2.0);
    let talk = cdr["talk_ms"].as_u64().unwrap() as f64 / 1000.0;
    assert!(
        (seconds - talk).abs() < 1.0,
        "{seconds} s of WAV for {talk} s of talk"
    );

    // Prometheus sees the contact center and the relay's work.
    let scraped = common::scrape(metrics);
    assert!(
        scraped.contains("switchboard_contact_center_calls_total 1\n"),
        "{scraped}"
    );
    assert!(scraped.contains("switchboard_calls 0\n"), "{scraped}");
    assert!(
        scraped.contains(
            "switchboard_contact_center_problems_total{what=\"event_log_append_failed\"} 0\n"
        ),
        "{scraped}"
    );
    let received = scraped
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_media_packets_total{what=\"received\"} "))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap();
    assert!(received > 0, "{scraped}");
}

/// The export once it holds `calls` CDRs (waits up to 10 s).
fn exported(system: &System, format: &str, calls: usize) -> String {
    let header = usize::from(format == "csv");
    for _ in 0..100 {
        let text = cdr_export(system, format);
        if text.lines().count() >= calls + header {
            return text;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("fewer than {calls} CDRs: {}", cdr_export(system, format));
}

/// `switchboard cdr export --format FORMAT` in the system's directory.
fn cdr_export(system: &System, format: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .current_dir(&system.dir)
        .args([
            "cdr",
            "export",
            "--config",
            "switchboard.toml",
            "--format",
            format,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn an_agent_who_does_not_answer_is_followed_by_the_next() {
    let system = start("cc-next", |config| {
        // The first agent of support (all equally idle: the first
        // configured) never answers; Teams gives up after 2 s with 408.
        config.replacen(
            "name = \"dana\"\nnumber = \"+14255550311\"\nobject_id = \"00000000-0000-4000-8000-000000000303\"\nbehaviour = \"answer\"\nring_ms = 3000",
            "name = \"dana\"\nnumber = \"+14255550311\"\nobject_id = \"00000000-0000-4000-8000-000000000303\"\nbehaviour = \"no_answer\"\nring_ms = 2000",
            1,
        )
    });
    assert!(
        caller(&system, '2', 6000, 12000),
        "{}",
        system.log("caller-messages")
    );
    let teams = wait_for_log(&system.dir.join("emulator.log"), "event=Answered", 1);
    let rung = teams_events(&teams, "event=CallReceived");
    assert!(rung.len() >= 2, "{teams}");
    assert!(rung[0].contains("user: \"dana\""), "{}", rung[0]);
    assert!(!rung[1].contains("user: \"dana\""), "{}", rung[1]);
    let sbc = wait_for_log(&system.dir.join("switchboard.log"), "RingNoAnswer", 1);
    assert!(sbc.contains("Answered"), "{sbc}");
}

#[test]
fn a_caller_who_hangs_up_in_the_queue_abandons() {
    let system = start("cc-abandon", |config| {
        // Agents ring for 20 s: the caller leaves first.
        config.replace("ring_ms = 3000", "ring_ms = 20000")
    });
    assert!(
        caller(&system, '1', 6000, 2000),
        "{}",
        system.log("caller-messages")
    );
    let sbc = wait_for_log(&system.dir.join("switchboard.log"), "Abandoned", 1);
    assert!(sbc.contains("Queued"), "{sbc}");
    assert!(!sbc.contains("Completed"), "{sbc}");
    let json = exported(&system, "json", 1);
    let cdr: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(cdr["outcome"], "abandoned", "{json}");
    assert_eq!(cdr["queue"], 1, "sales");
    // The ringing agent's leg was cancelled.
    let teams = wait_for_log(&system.dir.join("emulator.log"), "Ended", 1);
    assert!(teams.contains("487"), "{teams}");
}

#[test]
fn a_caller_who_waits_too_long_leaves_a_voicemail() {
    let system = start("cc-voicemail", |config| {
        // Nobody answers; once the caller has waited 10 s (checked when
        // the ringing agent's 15 s are over) it goes to the support
        // mailbox. SIPp sends no audio: the media timeout is lifted.
        config
            .replace("ring_ms = 3000", "ring_ms = 60000")
            .replace("timeout_secs = 30", "timeout_secs = 300")
            .replace(
                "{ name = \"support\", strategy = \"longest_idle\", alert_secs = 15, wrap_up_secs = 5 }",
                "{ name = \"support\", strategy = \"longest_idle\", alert_secs = 15, wrap_up_secs = 5, max_wait_secs = 10, overflow = { voicemail = \"support\" } }",
            )
    });
    // Presses 2, waits in line, hears the greeting and the beep, says
    // nothing: the message ends on silence and switchboard hangs up.
    let _ = caller(&system, '2', 6000, 40_000);
    let log = wait_for_log(&system.dir.join("switchboard.log"), "recording finished", 1);
    assert!(log.contains("Overflowed"), "{log}");
    let mailbox = system.dir.join("data/voicemail/support");
    let messages: Vec<_> = std::fs::read_dir(&mailbox).unwrap().collect();
    assert_eq!(messages.len(), 1, "{log}");
    let json = exported(&system, "json", 1);
    let cdr: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(cdr["transfer_target"], "voicemail:support", "{json}");
    // switchboard ended the call (the caller got a BYE).
    let messages = system.log("caller-messages");
    assert!(messages.contains("BYE sip:"), "{messages}");
}
