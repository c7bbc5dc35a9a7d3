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
    caller_at(&system.dir, system.sbc_udp, digit, digit_at_ms, stay_ms)
}

/// [`caller`] for the system in `dir` whose SBC listens on `sbc_udp`.
fn caller_at(dir: &Path, sbc_udp: u16, digit: char, digit_at_ms: u32, stay_ms: u32) -> bool {
    let scenario = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/uac_ivr.xml"),
    )
    .unwrap();
    run_caller(dir, sbc_udp, &scenario, digit, digit_at_ms, stay_ms)
}

/// A caller who speaks: A-law, and SIPp's 7 s `g711a.pcap` played
/// `audio_at_ms` after the key press, then `stay_ms` more on the line.
fn speaking_caller_at(dir: &Path, sbc_udp: u16, audio_at_ms: u32, stay_ms: u32) -> bool {
    let scenario = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/uac_ivr.xml"),
    )
    .unwrap()
    .replace("RTP/AVP 0 101", "RTP/AVP 8 101")
    .replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000")
    .replace(
        "<pause milliseconds=\"STAY_MS\"/>",
        &format!(
            "<pause milliseconds=\"{audio_at_ms}\"/>\
             <nop><action><exec play_pcap_audio=\"/usr/share/sip-tester/g711a.pcap\"/></action></nop>\
             <pause milliseconds=\"STAY_MS\"/>"
        ),
    );
    assert!(scenario.contains("g711a.pcap") && scenario.contains("PCMA"));
    run_caller(dir, sbc_udp, &scenario, '2', 6000, stay_ms)
}

fn run_caller(
    dir: &Path,
    sbc_udp: u16,
    scenario: &str,
    digit: char,
    digit_at_ms: u32,
    stay_ms: u32,
) -> bool {
    let scenario = scenario
        .replace(
            "DTMF_FILE",
            &format!("/usr/share/sip-tester/dtmf_2833_{digit}.pcap"),
        )
        .replace("DIGIT_AT_MS", &digit_at_ms.to_string())
        .replace("STAY_MS", &stay_ms.to_string());
    std::fs::write(dir.join("uac_ivr.xml"), scenario).unwrap();
    let media_port = free_udp_port() & !1;
    sipp()
        .current_dir(dir)
        .arg(format!("127.0.0.1:{sbc_udp}"))
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
    for family in [
        "switchboard_dtmf_total{what=\"info_duplicate\"} 0\n",
        "switchboard_dtmf_total{what=\"media_duplicate\"} 0\n",
        "switchboard_media_transcoding_total{what=\"lost\"} 0\n",
        "switchboard_conference_frames_total{what=\"late\"} ",
    ] {
        assert!(scraped.contains(family), "no {family} in {scraped}");
    }
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

const TOKEN: &str = "test-token-0123456789";

/// The calls `GET /api/v1/calls` lists.
fn live_calls(api: u16) -> Vec<serde_json::Value> {
    let (status, body) = common::http(api, "GET", "/api/v1/calls", Some(TOKEN), None);
    assert_eq!(status, 200, "{body}");
    let calls: serde_json::Value = serde_json::from_str(&body).unwrap();
    calls["calls"].as_array().cloned().unwrap_or_default()
}

/// Waits up to 20 s for a call in `state`; returns its id.
fn call_in_state(api: u16, state: &str) -> u64 {
    for _ in 0..200 {
        if let Some(call) = live_calls(api).iter().find(|c| c["state"] == state) {
            return call["id"].as_u64().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no call {state}: {:?}", live_calls(api));
}

#[test]
fn a_supervisor_listens_then_whispers_then_barges_in_through_the_api() {
    let api = common::free_tcp_port();
    let system = start("cc-supervise", |config| {
        config + &format!("\n[api]\nlisten = \"127.0.0.1:{api}\"\ntoken = \"{TOKEN}\"\n")
    });
    wait_for_log(&system.dir.join("switchboard.log"), "API at", 1);
    let caller = {
        let (dir, sbc_udp) = (system.dir.clone(), system.sbc_udp);
        std::thread::spawn(move || caller_at(&dir, sbc_udp, '2', 6000, 20_000))
    };
    let call = call_in_state(api, "connected");
    let path = format!("/api/v1/calls/{call}/supervise");
    // Calls are not recorded here: nothing to pause.
    let pause = format!("/api/v1/calls/{call}/recording/pause");
    assert_eq!(common::http(api, "POST", &pause, Some(TOKEN), None).0, 409);

    // Refusals: no token, an unknown call, a bad mode, an unknown user.
    let listen = r#"{"user":"alex","mode":"listen"}"#;
    assert_eq!(common::http(api, "POST", &path, None, Some(listen)).0, 401);
    let wrong = Some("wrong-token-0123456789");
    assert_eq!(common::http(api, "POST", &path, wrong, Some(listen)).0, 401);
    let elsewhere = "/api/v1/calls/999999/supervise";
    assert_eq!(
        common::http(api, "POST", elsewhere, Some(TOKEN), Some(listen)).0,
        404
    );
    let bad_mode = r#"{"user":"alex","mode":"shout"}"#;
    let (status, _) = common::http(api, "POST", &path, Some(TOKEN), Some(bad_mode));
    assert!((400..500).contains(&status), "{status}");
    let nobody = r#"{"user":"nobody","mode":"listen"}"#;
    assert_eq!(
        common::http(api, "POST", &path, Some(TOKEN), Some(nobody)).0,
        404
    );

    // Alex listens: Teams rings alex, who answers after 3 s.
    let (status, body) = common::http(api, "POST", &path, Some(TOKEN), Some(listen));
    assert_eq!(status, 202, "{body}");
    let teams = wait_for_log(&system.dir.join("emulator.log"), "event=Answered", 2);
    assert!(
        teams_events(&teams, "event=CallReceived")
            .iter()
            .any(|l| l.contains("user: \"alex\"")),
        "{teams}"
    );
    for _ in 0..50 {
        if live_calls(api).iter().any(|c| c["parties"] == 1) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        live_calls(api).iter().any(|c| c["parties"] == 1),
        "{:?}",
        live_calls(api)
    );
    // The modes, one after the other.
    for mode in ["whisper", "barge", "listen"] {
        let body = format!("{{\"mode\":\"{mode}\"}}");
        let (status, answer) = common::http(api, "PUT", &path, Some(TOKEN), Some(&body));
        assert_eq!(status, 202, "{mode}: {answer}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // The wallboard and the agents.
    let (status, queues) = common::http(api, "GET", "/api/v1/queues", Some(TOKEN), None);
    assert_eq!(status, 200);
    assert!(queues.contains("\"name\":\"support\""), "{queues}");
    let (status, agents) = common::http(api, "GET", "/api/v1/agents", Some(TOKEN), None);
    assert_eq!(status, 200);
    assert!(agents.contains("\"status\":\"on_call\""), "{agents}");

    assert!(caller.join().unwrap(), "{}", system.log("caller-messages"));
    // The supervisor's Teams client got the call's mixed audio.
    let teams = wait_for_log(&system.dir.join("emulator.log"), "event=MediaStats", 2);
    let (received, stats) = media_received(&teams, "alex");
    assert!(received > 100, "{stats}");
    let log = system.log("switchboard");
    assert!(!log.contains("media layout step refused"), "{log}");
}

/// The emulator's call id of the call `user` received.
fn teams_call_of(teams: &str, user: &str) -> String {
    teams_events(teams, "event=CallReceived")
        .iter()
        .find(|l| l.contains(&format!("user: \"{user}\"")))
        .and_then(|l| l.split("call: CallId(").nth(1))
        .and_then(|rest| rest.split(')').next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("{user} was not rung:\n{teams}"))
}

/// The packets the emulated Teams client of `user` received on its call,
/// and the emulator's `MediaStats` line saying so.
fn media_received<'a>(teams: &'a str, user: &str) -> (u64, &'a str) {
    let call = teams_call_of(teams, user);
    let stats = teams_events(teams, "event=MediaStats")
        .into_iter()
        .find(|l| l.contains(&format!("call: CallId({call})")))
        .unwrap_or_else(|| panic!("no media stats for {user}'s call {call}:\n{teams}"));
    let received = stats
        .split("received: ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stats}"));
    (received, stats)
}

#[test]
fn an_agent_consults_a_colleague_then_transfers_the_caller_to_them() {
    let api = common::free_tcp_port();
    let system = start("cc-consult", |config| {
        config.replace(
            "[contact_center]\n",
            "[contact_center]\nrecord_calls = true\n",
        ) + &format!("\n[api]\nlisten = \"127.0.0.1:{api}\"\ntoken = \"{TOKEN}\"\n")
    });
    wait_for_log(&system.dir.join("switchboard.log"), "API at", 1);
    let caller = {
        let (dir, sbc_udp) = (system.dir.clone(), system.sbc_udp);
        std::thread::spawn(move || speaking_caller_at(&dir, sbc_udp, 11_000, 7_000))
    };
    let call = call_in_state(api, "connected");
    let connected = std::time::Instant::now();
    // The agent pauses the recording for 1.5 s (card details).
    let recording = |action: &str| {
        let path = format!("/api/v1/calls/{call}/recording/{action}");
        common::http(api, "POST", &path, Some(TOKEN), None)
    };
    assert_eq!(recording("stop").0, 404);
    let ghost = "/api/v1/calls/987654/recording/pause";
    assert_eq!(common::http(api, "POST", ghost, Some(TOKEN), None).0, 404);
    assert_eq!(recording("pause").0, 202);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(recording("resume").0, 202);
    let consult = format!("/api/v1/calls/{call}/consult");
    // Nothing to complete yet.
    let complete = format!("{consult}/complete");
    assert_eq!(
        common::http(api, "POST", &complete, Some(TOKEN), None).0,
        409
    );
    let (status, body) = common::http(
        api,
        "POST",
        &consult,
        Some(TOKEN),
        Some(r#"{"user":"bianca"}"#),
    );
    assert_eq!(status, 202, "{body}");
    // One consultation at a time.
    let again = common::http(
        api,
        "POST",
        &consult,
        Some(TOKEN),
        Some(r#"{"user":"chen"}"#),
    );
    assert_eq!(again.0, 409, "{}", again.1);
    // Bianca answers after 3 s; the agent hands the caller over.
    wait_for_log(&system.dir.join("emulator.log"), "event=Answered", 2);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (status, body) = common::http(api, "POST", &complete, Some(TOKEN), None);
    assert_eq!(status, 202, "{body}");
    let completed = connected.elapsed().as_secs_f64();
    let teams = wait_for_log(&system.dir.join("emulator.log"), "event=Ended", 1);
    let agent = SUPPORT
        .iter()
        .find(|a| teams.contains(&format!("user: \"{a}\"")))
        .unwrap_or_else(|| panic!("no support agent rung:\n{teams}"));
    let agent_call = teams_call_of(&teams, agent);
    assert!(
        teams_events(&teams, "event=Ended")[0].contains(&format!("CallId({agent_call})")),
        "the agent leaves first:\n{teams}"
    );
    // The caller talks with bianca until hanging up.
    assert!(caller.join().unwrap(), "{}", system.log("caller-messages"));
    let hung_up = connected.elapsed().as_secs_f64();
    let teams = wait_for_log(&system.dir.join("emulator.log"), "event=MediaStats", 2);
    let (received, stats) = media_received(&teams, "bianca");
    assert!(received > 0, "{stats}");
    let ended = teams_events(&teams, "event=Ended");
    assert_eq!(ended.len(), 2, "{teams}");
    let json = exported(&system, "json", 1);
    let cdr: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert!(
        cdr["transfer_target"]
            .as_str()
            .unwrap_or_default()
            .starts_with("consult:"),
        "{json}"
    );
    let log = system.log("switchboard");
    assert!(!log.contains("media layout step refused"), "{log}");

    // One recording of the whole call, not only of the first agent:
    // bianca joined its agent side and it ended with the caller.
    let log = wait_for_log(&system.dir.join("switchboard.log"), "recording finished", 1);
    let paused: f64 = log
        .lines()
        .find(|l| l.contains("recording finished"))
        .and_then(|l| l.split("paused_secs=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no paused_secs in {log}"));
    assert!((1.2..2.5).contains(&paused), "paused {paused} s");
    let (seconds, right) = stereo_wav_right(&system);
    assert!(
        (seconds - hung_up).abs() < 1.5,
        "{seconds} s of WAV for {hung_up} s from answer to hang-up"
    );
    // After the handover bianca echoes the caller's speech on the right.
    let after = &right[((completed + 0.5) * 8000.0) as usize..right.len() - 4000];
    let rms =
        (after.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / after.len() as f64).sqrt();
    assert!(rms > 100.0, "right channel after the transfer: rms {rms}");
}

/// The only call recording's length in seconds and its right channel.
fn stereo_wav_right(system: &System) -> (f64, Vec<i16>) {
    let recordings: Vec<_> = std::fs::read_dir(system.dir.join("data/recordings"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    let wav = std::fs::read(&recordings[0]).unwrap();
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 2, "stereo");
    let right: Vec<i16> = wav[44..]
        .chunks_exact(4)
        .map(|frame| i16::from_le_bytes([frame[2], frame[3]]))
        .collect();
    (right.len() as f64 / 8000.0, right)
}

#[test]
fn a_caller_keeps_their_place_with_a_callback_and_is_called_back() {
    let api = common::free_tcp_port();
    let customer_port = free_udp_port();
    let system = start("cc-callback", |config| {
        // Support takes nobody in line: callers are offered a callback.
        config
            .replace("sip:127.0.0.1:5090", &format!("sip:127.0.0.1:{customer_port}"))
            .replace(
                "{ name = \"support\", strategy = \"longest_idle\", alert_secs = 15, wrap_up_secs = 5 }",
                "{ name = \"support\", strategy = \"longest_idle\", alert_secs = 15, wrap_up_secs = 5, max_length = 0, overflow = \"callback\", callback = { offer_secs = 20 } }",
            )
            + &format!("\n[api]\nlisten = \"127.0.0.1:{api}\"\ntoken = \"{TOKEN}\"\n")
    });
    assert!(std::fs::read_to_string(system.dir.join("switchboard.toml"))
        .unwrap()
        .contains("overflow = \"callback\""));
    wait_for_log(&system.dir.join("switchboard.log"), "API at", 1);
    let agent_state = |agent: &str, state: &str| {
        let path = format!("/api/v1/agents/contoso/{agent}/state");
        let body = format!("{{\"state\":\"{state}\",\"reason\":2}}");
        common::http(api, "PUT", &path, Some(TOKEN), Some(&body))
    };
    for agent in SUPPORT {
        assert_eq!(agent_state(agent, "not_ready").0, 200);
    }
    assert_eq!(agent_state("nobody", "available").0, 404);
    let membership = |queue: &str, opted_in: bool| {
        let path = format!("/api/v1/agents/contoso/dana/queues/{queue}");
        let body = format!("{{\"opted_in\":{opted_in}}}");
        common::http(api, "PUT", &path, Some(TOKEN), Some(&body)).0
    };
    assert_eq!(membership("nowhere", false), 404);
    assert_eq!(membership("support", false), 200);
    assert_eq!(membership("support", true), 200);

    // The customer's phone, behind the carrier.
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/uas_answer_bye.xml");
    let mut customer = common::Running(
        sipp()
            .current_dir(&system.dir)
            .arg("-sf")
            .arg(&scenario)
            .args([
                "-i",
                "127.0.0.1",
                "-mi",
                "127.0.0.1",
                "-p",
                &customer_port.to_string(),
            ])
            .args(["-m", "1", "-nostdin", "-timeout", "90s"])
            .args(["-trace_msg", "-message_file", "customer-messages.log"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // The caller presses 2, hears the offer and presses 1; switchboard
    // confirms and hangs up.
    let scenario = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/uac_ivr.xml"),
    )
    .unwrap()
    .replace(
        "<pause milliseconds=\"STAY_MS\"/>",
        "<pause milliseconds=\"3000\"/>\
         <nop><action><exec play_pcap_audio=\"/usr/share/sip-tester/dtmf_2833_1.pcap\"/></action></nop>\
         <pause milliseconds=\"STAY_MS\"/>",
    );
    let _ = run_caller(&system.dir, system.sbc_udp, &scenario, '2', 6000, 15_000);
    let log = wait_for_log(&system.dir.join("switchboard.log"), "CallbackRequested", 1);
    assert!(log.contains("Overflowed"), "{log}");
    let messages = system.log("caller-messages");
    assert!(
        messages.contains("BYE sip:"),
        "switchboard hung up: {messages}"
    );

    // An agent becomes available: Teams rings them with the customer's
    // number, then the customer is dialled from the contact-center number.
    assert_eq!(agent_state("dana", "available").0, 200);
    let log = wait_for_log(&system.dir.join("switchboard.log"), "reached: true", 1);
    let teams = system.log("emulator");
    let rung = teams_events(&teams, "event=CallReceived");
    assert_eq!(rung.len(), 1, "{teams}");
    assert!(rung[0].contains("user: \"dana\""), "{}", rung[0]);
    assert!(rung[0].contains("+12065550199"), "{}", rung[0]);
    let status = customer.0.wait().unwrap();
    let invite = std::fs::read_to_string(system.dir.join("customer-messages.log")).unwrap();
    assert!(status.success(), "{invite}\n{log}");
    assert!(invite.contains("INVITE sip:+12065550199@"), "{invite}");
    let from = invite
        .lines()
        .find(|l| l.starts_with("From:"))
        .unwrap_or_default();
    assert!(from.contains("+15550100"), "{from}");
    // Both calls have a CDR; the callback one ended answered.
    let json = exported(&system, "json", 2);
    assert!(json.contains("\"outcome\":\"answered\""), "{json}");
}

#[test]
fn calls_go_only_to_agents_whom_microsoft_graph_reports_available() {
    let (api, graph) = (common::free_tcp_port(), common::free_tcp_port());
    let system = start("cc-presence", |config| {
        // Dana and Emil are Away in Teams; Fatima is Available.
        let config = ["dana", "emil"].iter().fold(config, |config, agent| {
            config.replace(
                &format!("name = \"{agent}\"\n"),
                &format!("name = \"{agent}\"\npresence = \"Away\"\n"),
            )
        });
        // The Teams users' table has the same names: only the emulator's
        // entries (after [emulator]) may take a presence.
        let (serve, emulated) = config.split_once("[emulator]").unwrap();
        let serve = serve.replace("presence = \"Away\"\n", "");
        format!(
            "{serve}[emulator]{emulated}\n\
             [emulator.graph]\nlisten = \"127.0.0.1:{graph}\"\nclient_id = \"app\"\nclient_secret = \"secret-0123456789\"\n\n\
             [graph]\nlogin_url = \"http://127.0.0.1:{graph}\"\nbase_url = \"http://127.0.0.1:{graph}/v1.0\"\n\
             client_id = \"app\"\nclient_secret = \"secret-0123456789\"\n\
             notification_url = \"http://127.0.0.1:{api}/graph/notifications\"\n\n\
             [api]\nlisten = \"127.0.0.1:{api}\"\ntoken = \"{TOKEN}\"\n"
        )
    });
    wait_for_log(&system.dir.join("switchboard.log"), "API at", 1);
    // The snapshot from Graph reaches the ACD.
    let mut agents = String::new();
    for _ in 0..100 {
        agents = common::http(api, "GET", "/api/v1/agents", Some(TOKEN), None).1;
        if agents.matches("\"presence\":\"Away\"").count() == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        agents.matches("\"presence\":\"Away\"").count(),
        2,
        "{agents}"
    );
    assert!(
        caller(&system, '2', 6000, 6000),
        "{}",
        system.log("caller-messages")
    );
    let teams = wait_for_log(&system.dir.join("emulator.log"), "Ended", 1);
    let rung = teams_events(&teams, "event=CallReceived");
    assert_eq!(rung.len(), 1, "{teams}");
    assert!(rung[0].contains("user: \"fatima\""), "{}", rung[0]);
    // Teams made Fatima Busy (in a call) and Available again: Graph
    // notified switchboard both times.
    let log = wait_for_log(
        &system.dir.join("switchboard.log"),
        "000000000305 presence=Available",
        2,
    );
    assert!(
        log.contains("000000000305 presence=Busy activity=InACall"),
        "{log}"
    );
}

#[test]
fn a_third_party_joins_and_the_call_goes_on_when_the_caller_leaves() {
    let api = common::free_tcp_port();
    let system = start("cc-three-way", |config| {
        config + &format!("\n[api]\nlisten = \"127.0.0.1:{api}\"\ntoken = \"{TOKEN}\"\n")
    });
    wait_for_log(&system.dir.join("switchboard.log"), "API at", 1);
    let caller = {
        let (dir, sbc_udp) = (system.dir.clone(), system.sbc_udp);
        std::thread::spawn(move || speaking_caller_at(&dir, sbc_udp, 9_000, 7_000))
    };
    let call = call_in_state(api, "connected");
    let parties = format!("/api/v1/calls/{call}/parties");
    let bad = common::http(
        api,
        "POST",
        &parties,
        Some(TOKEN),
        Some(r#"{"number":"12"}"#),
    );
    assert_eq!(bad.0, 400, "{}", bad.1);
    let (status, body) = common::http(
        api,
        "POST",
        &parties,
        Some(TOKEN),
        Some(r#"{"user":"chen"}"#),
    );
    assert_eq!(status, 202, "{body}");
    wait_for_log(&system.dir.join("emulator.log"), "event=Answered", 2);
    // The caller speaks to both, then hangs up; agent and chen talk on.
    assert!(caller.join().unwrap(), "{}", system.log("caller-messages"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    let calls = live_calls(api);
    assert!(
        calls
            .iter()
            .any(|c| c["id"] == call && c["state"] == "connected"),
        "{calls:?}"
    );
    let teams = system.log("emulator");
    assert!(!teams.contains("event=Ended"), "{teams}");
    // A supervisor ends the call: both Teams legs get a BYE.
    let path = format!("/api/v1/calls/{call}");
    assert_eq!(common::http(api, "DELETE", &path, None, None).0, 401);
    assert_eq!(common::http(api, "DELETE", &path, Some(TOKEN), None).0, 202);
    let teams = wait_for_log(&system.dir.join("emulator.log"), "event=MediaStats", 2);
    let (received, stats) = media_received(&teams, "chen");
    // At least the 7 s of the caller's speech, mixed (50 frames/s).
    assert!(received > 300, "{stats}");
    let log = system.log("switchboard");
    assert!(!log.contains("media layout step refused"), "{log}");
    assert!(
        log.contains("CallerHangup"),
        "the ACD's part ended with the caller: {log}"
    );
}
