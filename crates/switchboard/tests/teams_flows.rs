//! Call flows between a PSTN carrier (SIPp), `switchboard serve` and
//! Microsoft Teams Direct Routing, end to end on loopback. The Teams
//! emulator runs in this process (`emulator::start`), so a test can act as
//! Teams users and as Microsoft's operator (place calls, transfer, hold,
//! take a proxy down) and assert on what the Teams proxies saw; the SBC
//! is the real binary, configured by examples/teams.toml on free ports.
//!
//! OPTIONS health runs on a 1 s interval in the tests that watch it (the
//! SBC's `options_interval_secs`, the emulator's `health_window_secs`), so
//! "three silent intervals" take seconds, not minutes.
#![allow(clippy::unwrap_used)]

mod common;

use common::{free_tcp_port, free_udp_port, free_udp_port_on, sipp, Running};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use emulator::{
    CallId, EmulatorConfig, Event, Party, ProxyId, ProxyMode, RejectReason, RunningEmulator,
    SbcStatus, TeamsProxy, TransferTarget,
};
use sip::{Method, StatusCode};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// How long a test waits for one thing to happen.
const WAIT: Duration = Duration::from_secs(20);

/// A Teams user of contoso added to the example, who answers after
/// 500 ms: the target of transfers to a Teams user.
const JONI: &str = r#"[[emulator.tenants.users]]
name = "joni"
number = "+14255550125"
object_id = "5e1c9a2b-3d4f-4a6b-8c7d-9e0f1a2b3c4d"
behaviour = "answer"
ring_ms = 500

"#;

/// Where the example's contoso users end and fabrikam's tenant begins.
const FABRIKAM_TENANT: &str = "[[emulator.tenants]]\nid = \"0f7e2a44";

/// Contoso's DID that rings adele (answers after 2 s on two endpoints).
const ADELE_DID: &str = "+12065550100";

/// `text` with `from` replaced; the example must still contain `from`.
fn rewrite(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "examples/teams.toml lost {from:?}");
    text.replace(from, to)
}

/// The carrier, the SBC and the Teams emulator, running.
struct System {
    dir: PathBuf,
    sbc_udp: u16,
    /// The carrier trunk's target (`targets` of `[trunks.carrier1]`).
    carrier_port: u16,
    /// Everything the emulator reported, in order.
    events: Arc<Mutex<Vec<Event>>>,
    shutdown: CancellationToken,
    emulator: RunningEmulator,
    runtime: tokio::runtime::Runtime,
    switchboard: Running,
}

impl Drop for System {
    fn drop(&mut self) {
        // The runtime, dropped next, ends the emulator's tasks.
        self.shutdown.cancel();
    }
}

impl System {
    /// Starts the emulator and the SBC from examples/teams.toml (plus
    /// Teams user joni, then `tweak`), and waits until the SBC's OPTIONS
    /// made it Active on every proxy.
    fn start(test: &str, tweak: impl FnOnce(String) -> String) -> System {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("teams-flows-{test}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/teams.toml");
        let (sbc_udp, sbc_tls) = (free_udp_port(), free_tcp_port());
        let carrier_port = free_udp_port();
        let certs = dir.join("tls");
        let mut config = std::fs::read_to_string(example).unwrap();
        for (from, to) in [
            ("127.0.0.1:5060", format!("127.0.0.1:{sbc_udp}")),
            ("127.0.0.1:5061", format!("127.0.0.1:{sbc_tls}")),
            ("127.0.0.1:5090", format!("127.0.0.1:{carrier_port}")),
            (
                "signalling_port = 5061",
                format!("signalling_port = {sbc_tls}"),
            ),
            ("port = 5061", format!("port = {sbc_tls}")),
            ("testdata/tls", certs.to_str().unwrap().to_owned()),
            (FABRIKAM_TENANT, format!("{JONI}{FABRIKAM_TENANT}")),
        ] {
            config = rewrite(&config, from, &to);
        }
        let config = tweak(config);

        // The proxies listen on ports the system picks; the SBC's [hosts]
        // then names them.
        let proxies = ["127.0.0.1:15061", "127.0.0.1:15062", "127.0.0.1:15063"];
        let emulator_config = proxies.iter().fold(config.clone(), |text, proxy| {
            rewrite(&text, proxy, "127.0.0.1:0")
        });
        let emulator_config = EmulatorConfig::from_toml(&emulator_config).unwrap();
        emulator::write_certificates_for(&emulator_config, &emulator_config.cert_dir).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let shutdown = CancellationToken::new();
        let emulator = runtime
            .block_on(emulator::start(emulator_config, shutdown.clone()))
            .unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let mut received = emulator.subscribe();
        let sink = Arc::clone(&events);
        runtime.spawn(async move {
            loop {
                match received.recv().await {
                    Ok(event) => sink.lock().unwrap().push(event),
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                }
            }
        });
        let mut config = config;
        for (index, proxy) in proxies.iter().enumerate() {
            let addr = emulator.local_addr(ProxyId(index)).unwrap();
            config = rewrite(&config, proxy, &addr.to_string());
        }
        let config_path = dir.join("teams.toml");
        std::fs::write(&config_path, config).unwrap();

        let switchboard = common::spawn(&dir, "switchboard", &["serve"], &config_path);
        let system = System {
            dir,
            sbc_udp,
            carrier_port,
            events,
            shutdown,
            emulator,
            runtime,
            switchboard,
        };
        for proxy in 0..3 {
            system.wait_event(
                &format!("the SBC's OPTIONS to proxy {proxy}"),
                |e| matches!(e, Event::OptionsReceived { proxy: p, .. } if p.0 == proxy),
            );
        }
        system.wait_event("the SBC Active", |e| {
            matches!(
                e,
                Event::SbcStatusChanged {
                    status: SbcStatus::Active,
                    ..
                }
            )
        });
        system
    }

    /// Acts on the Teams proxies (as a user or the operator).
    fn teams<R: Send + 'static>(
        &self,
        action: impl FnOnce(&mut TeamsProxy, Instant) -> R + Send + 'static,
    ) -> R {
        self.runtime
            .block_on(self.emulator.with_proxy(action))
            .expect("the emulator is running")
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// The first event matching `wanted`, waiting up to [`WAIT`] for it.
    fn wait_event(&self, what: &str, wanted: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(event) = self.events().into_iter().find(|e| wanted(e)) {
                return event;
            }
            assert!(
                Instant::now() < deadline,
                "Teams never saw {what}; it saw {:#?}\nswitchboard log:\n{}",
                self.events(),
                self.switchboard_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The (first) call Teams received for `user`.
    fn call_received(&self, user: &str) -> Event {
        self.wait_event(
            &format!("a call for {user}"),
            |e| matches!(e, Event::CallReceived { user: u, .. } if u == user),
        )
    }

    fn wait_answered(&self, call: CallId) {
        self.wait_event(&format!("{call} answered"), |e| {
            *e == Event::Answered { call }
        });
    }

    fn switchboard_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("switchboard.log")).unwrap_or_default()
    }

    /// Waits up to [`WAIT`] until the SBC's log has `count` lines that
    /// contain every one of `needles`.
    fn wait_log(&self, needles: &[&str], count: usize) {
        let deadline = Instant::now() + WAIT;
        loop {
            let log = self.switchboard_log();
            let found = log
                .lines()
                .filter(|line| needles.iter().all(|n| line.contains(n)))
                .count();
            if found >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the SBC never logged {needles:?} {count} times:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIPp as the carrier calling `number` through the SBC from
    /// `source_ip`: the built-in uac (holding the call 300 ms), or
    /// `scenario` from tests/sipp.
    fn carrier_call(&self, name: &str, number: &str, source_ip: &str, scenario: &str) -> Sipp {
        let mut command = sipp();
        command
            .arg(format!("127.0.0.1:{}", self.sbc_udp))
            .args(["-s", number, "-i", source_ip])
            .args(["-p", &free_udp_port_on(source_ip).to_string()]);
        if scenario == "uac" {
            command.args(["-sn", "uac", "-d", "300"]);
        } else {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/sipp")
                .join(scenario);
            command.arg("-sf").arg(path);
        }
        Sipp::spawn(&self.dir, name, command)
    }

    /// SIPp's built-in uas on the carrier trunk's target, ready for one
    /// call.
    fn carrier_uas(&self) -> Sipp {
        let mut command = sipp();
        command
            .args(["-sn", "uas", "-i", "127.0.0.1"])
            .args(["-p", &self.carrier_port.to_string()]);
        let uas = Sipp::spawn(&self.dir, "uas", command);
        let deadline = Instant::now() + WAIT;
        while UdpSocket::bind(("127.0.0.1", self.carrier_port)).is_ok() {
            assert!(Instant::now() < deadline, "SIPp's uas did not bind");
            std::thread::sleep(Duration::from_millis(20));
        }
        uas
    }
}

/// A SIPp process for one call, its messages traced (`-trace_msg`).
struct Sipp {
    name: String,
    dir: PathBuf,
    process: Running,
}

impl Sipp {
    fn spawn(dir: &Path, name: &str, mut command: Command) -> Sipp {
        let child = command
            .current_dir(dir)
            .args(["-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error"])
            .args([
                "-trace_msg",
                "-message_file",
                &format!("{name}-messages.log"),
            ])
            .args(["-trace_err", "-error_file", &format!("{name}-errors.log")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Sipp {
            name: name.to_owned(),
            dir: dir.to_owned(),
            process: Running(child),
        }
    }

    /// Waits for SIPp to end; its exit code and the messages it traced.
    fn finish(mut self) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(45);
        let status = loop {
            if let Some(status) = self.process.0.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "SIPp {} still running:\n{}",
                self.name,
                self.messages()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        (status.code().unwrap_or(-1), self.messages())
    }

    fn messages(&self) -> String {
        let log = self.dir.join(format!("{}-messages.log", self.name));
        let errors = self.dir.join(format!("{}-errors.log", self.name));
        format!(
            "{}{}",
            std::fs::read_to_string(log).unwrap_or_default(),
            std::fs::read_to_string(errors).unwrap_or_default()
        )
    }
}

/// The messages SIPp received, from its `-trace_msg` log (not the copies
/// its `-trace_err` log adds).
fn received(messages: &str) -> Vec<&str> {
    messages
        .split("-----------------------------------------------")
        .filter_map(|entry| {
            let (heading, message) = entry.split_once("\n\n")?;
            heading
                .contains("message received [")
                .then(|| message.trim())
        })
        .collect()
}

/// The requests with `method` SIPp received.
fn requests<'a>(messages: &'a str, method: &str) -> Vec<&'a str> {
    let start = format!("{method} ");
    received(messages)
        .into_iter()
        .filter(|m| m.starts_with(&start))
        .collect()
}

/// The status codes SIPp received, in order.
fn statuses(messages: &str) -> Vec<u16> {
    received(messages)
        .into_iter()
        .filter_map(|m| m.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok())
        .collect()
}

/// The values of header `name` in `message`.
fn header<'a>(message: &'a str, name: &str) -> Vec<&'a str> {
    message
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| {
            let (header, value) = line.split_once(':')?;
            header
                .trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
        .collect()
}

fn proxy_of(event: &Event) -> ProxyId {
    match event {
        Event::CallReceived { proxy, .. } => *proxy,
        other => panic!("not a call: {other:?}"),
    }
}

fn call_of(event: &Event) -> CallId {
    match event {
        Event::CallReceived { call, .. } | Event::CallPlaced { call, .. } => *call,
        other => panic!("not a call: {other:?}"),
    }
}

/// A PSTN call to adele, with proxy sip in `mode`, reaches her through
/// sip2. Returns what Teams saw and how long sip2's INVITE took.
fn fails_over_from_sip_to_sip2(test: &str, mode: ProxyMode) -> (Vec<Event>, Duration) {
    let system = System::start(test, |c| c);
    system.teams(move |proxy, _| proxy.set_proxy_mode(ProxyId(0), mode).unwrap());
    let started = Instant::now();
    let uac = system.carrier_call("uac", ADELE_DID, "127.0.0.1", "uac");
    let call = system.call_received("adele");
    let took = started.elapsed();
    assert_eq!(proxy_of(&call), ProxyId(1), "{call:?}");
    system.wait_answered(call_of(&call));
    let (code, messages) = uac.finish();
    assert_eq!(code, 0, "{messages}");
    assert_eq!(statuses(&messages).last(), Some(&200), "{messages}");
    let events = system.events();
    let calls: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::CallReceived { .. }))
        .collect();
    assert_eq!(calls.len(), 1, "one Teams call: {calls:?}");
    (events, took)
}

#[test]
fn pstn_call_fails_over_to_sip2_when_sip_answers_503() {
    let (events, took) = fails_over_from_sip_to_sip2("failover-503", ProxyMode::Unavailable);
    assert!(
        events.contains(&Event::Rejected {
            method: Method::Invite,
            status: StatusCode::SERVICE_UNAVAILABLE,
            reason: RejectReason::ProxyUnavailable,
        }),
        "sip answered 503 first: {events:#?}"
    );
    // Straight on after the 503, no waiting for a timer.
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn pstn_call_fails_over_to_sip2_when_sip_is_silent() {
    let (events, took) = fails_over_from_sip_to_sip2("failover-silent", ProxyMode::Silent);
    assert!(
        !events.iter().any(|e| matches!(e, Event::Rejected { .. })),
        "{events:#?}"
    );
    // sip was tried first (it answered the SBC's OPTIONS) and given up
    // after B2buaSettings::failover_after (5 s) without even a 100.
    assert!(took >= Duration::from_secs(4), "{took:?}");
}

/// The example with OPTIONS every second, and the emulator's proxies
/// marking an SBC Inactive after 3 s without them.
fn fast_options(config: String) -> String {
    let config = rewrite(
        &config,
        "options_interval_secs = 60",
        "options_interval_secs = 1",
    );
    rewrite(
        &config,
        "\n[emulator]\n",
        "\n[emulator]\nhealth_window_secs = 3\n",
    )
}

#[test]
fn the_sbc_marks_a_silent_proxy_inactive_and_calls_skip_it() {
    let system = System::start("proxy-inactive", fast_options);
    let sip = ["Teams proxy", "sip.pstnhub.microsoft.com"];
    system.wait_log(&[sip[0], sip[1], "Active"], 1);
    system.teams(|proxy, _| proxy.set_proxy_mode(ProxyId(0), ProxyMode::Silent).unwrap());
    // Three unanswered 1 s intervals later.
    system.wait_log(&[sip[0], sip[1], "Inactive"], 1);

    // A call now goes to sip2 first: no 5 s wait for sip to fail.
    let started = Instant::now();
    let uac = system.carrier_call("uac", ADELE_DID, "127.0.0.1", "uac");
    let call = system.call_received("adele");
    let took = started.elapsed();
    assert_eq!(proxy_of(&call), ProxyId(1), "{call:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    system.wait_answered(call_of(&call));
    let (code, messages) = uac.finish();
    assert_eq!(code, 0, "{messages}");

    // sip answers again: Active again.
    system.teams(|proxy, _| proxy.set_proxy_mode(ProxyId(0), ProxyMode::Up).unwrap());
    system.wait_log(&[sip[0], sip[1], "Active"], 2);
    // sip2 and sip3 never lapsed.
    for other in ["sip2.pstnhub.microsoft.com", "sip3.pstnhub.microsoft.com"] {
        system.wait_log(&[sip[0], other, "Active"], 1);
        assert!(
            !system
                .switchboard_log()
                .lines()
                .any(|l| l.contains(other) && l.contains("Inactive")),
            "{}",
            system.switchboard_log()
        );
    }
}

#[test]
fn teams_marks_the_sbc_inactive_when_its_options_stop() {
    let mut system = System::start("sbc-inactive", fast_options);
    let inactive = |e: &Event| {
        matches!(
            e,
            Event::SbcStatusChanged {
                status: SbcStatus::Inactive,
                ..
            }
        )
    };
    // Active and staying so while the OPTIONS come every second.
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !system.events().iter().any(inactive),
        "{:#?}",
        system.events()
    );
    system.switchboard.0.kill().unwrap();
    let stopped = Instant::now();
    system.wait_event("the SBC Inactive", inactive);
    assert!(
        stopped.elapsed() >= Duration::from_secs(1),
        "{:?}",
        stopped.elapsed()
    );
}

#[test]
fn teams_user_calls_the_pstn_with_asserted_identity_and_hidden_topology() {
    let system = System::start("teams-to-pstn", |c| c);
    let uas = system.carrier_uas();
    let call = system.teams(|proxy, now| proxy.place_call("adele", "+12065550199", now).unwrap());
    system.wait_event("the carrier's 180", |e| {
        *e == Event::Progress {
            call,
            status: StatusCode::RINGING,
        }
    });
    system.wait_answered(call);
    system.teams(move |proxy, now| proxy.hang_up(call, now).unwrap());
    let (code, messages) = uas.finish();
    assert_eq!(code, 0, "{messages}");

    let invites = requests(&messages, "INVITE");
    assert_eq!(invites.len(), 1, "{messages}");
    let invite = invites[0];
    // The carrier's national format, on the carrier's own address.
    let request_line = invite.lines().next().unwrap();
    assert!(
        request_line.starts_with(&format!(
            "INVITE sip:12065550199@127.0.0.1:{}",
            system.carrier_port
        )),
        "{invite}"
    );
    // Teams' ForwardPAI identity, as a number in the carrier's format on
    // the SBC's host; adele's SIP address is no number and stays behind.
    let pai = header(invite, "P-Asserted-Identity").join(", ");
    assert!(pai.contains("sip:14255550123@"), "{invite}");
    assert!(!pai.contains("adele"), "{invite}");
    assert_eq!(header(invite, "Privacy"), ["id"], "{invite}");
    // Topology hiding: one Via (the SBC's), the SBC's Contact, and no
    // Teams host, proxy address or Record-Route anywhere.
    let vias = header(invite, "Via");
    assert_eq!(vias.len(), 1, "{invite}");
    assert!(vias[0].starts_with("SIP/2.0/UDP "), "{invite}");
    let contact = header(invite, "Contact").join(", ");
    assert!(contact.contains("sbc1.customers.example.net"), "{invite}");
    assert!(header(invite, "Record-Route").is_empty(), "{invite}");
    for message in received(&messages) {
        for teams in ["pstnhub", "microsoft", "X-MS-SBC", ";transport=tls"] {
            assert!(
                !message
                    .to_ascii_lowercase()
                    .contains(&teams.to_ascii_lowercase()),
                "{teams} leaked to the carrier:\n{message}"
            );
        }
    }
    assert_eq!(requests(&messages, "BYE").len(), 1, "{messages}");
}

/// The carrier (tests/sipp/uac_transferred.xml) calls adele, who answers;
/// she transfers the call to `target` and the SBC accepts the REFER.
/// Returns the carrier's SIPp and adele's call.
fn carrier_call_transferred(system: &System, target: TransferTarget) -> (Sipp, CallId) {
    let uac = system.carrier_call("uac", ADELE_DID, "127.0.0.1", "uac_transferred.xml");
    let adele = call_of(&system.call_received("adele"));
    system.wait_answered(adele);
    // The SBC's ACK confirms Teams' dialog; REFER needs it confirmed.
    let deadline = Instant::now() + WAIT;
    while let Err(error) = system.teams({
        let target = target.clone();
        move |proxy, now| proxy.transfer(adele, target, now)
    }) {
        assert!(Instant::now() < deadline, "REFER not sent: {error}");
        std::thread::sleep(Duration::from_millis(50));
    }
    system.wait_event("202 to the REFER", |e| {
        *e == Event::ReferAnswered {
            call: adele,
            status: StatusCode::ACCEPTED,
        }
    });
    (uac, adele)
}

/// NOTIFYs of the transfer of `call`: sipfrag 100 then 200, the last one
/// terminating the subscription.
fn assert_transfer_notified(system: &System, call: CallId) {
    system.wait_event(
        "the final NOTIFY",
        |e| matches!(e, Event::NotifyReceived { call: c, terminated: true, .. } if *c == call),
    );
    let notifies: Vec<(String, bool)> = system
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::NotifyReceived {
                call: c,
                sipfrag,
                terminated,
            } if c == call => Some((sipfrag, terminated)),
            _ => None,
        })
        .collect();
    assert_eq!(notifies.len(), 2, "{notifies:?}");
    assert!(notifies[0].0.starts_with("SIP/2.0 100"), "{notifies:?}");
    assert!(!notifies[0].1, "{notifies:?}");
    assert!(notifies[1].0.starts_with("SIP/2.0 200"), "{notifies:?}");
}

#[test]
fn teams_transfers_a_pstn_call_to_another_teams_user() {
    let system = System::start("refer-to-user", |c| c);
    let (uac, adele) = carrier_call_transferred(&system, TransferTarget::User("joni".into()));
    // The new INVITE's Request-URI has no number: Teams found joni by the
    // x-m (and x-t) the SBC kept from the Refer-To.
    let joni = system.call_received("joni");
    let Event::CallReceived {
        call: joni_call,
        tenant,
        referred_by,
        proxy,
        ..
    } = joni.clone()
    else {
        unreachable!()
    };
    assert_eq!(tenant, "b59a9bc4-0e7f-4f1b-8d43-04d9b2eb0a11", "{joni:?}");
    assert_eq!(proxy, ProxyId(0), "{joni:?}");
    // Referred-By names the transferor as Teams wrote it.
    let referred_by = referred_by.unwrap_or_default();
    assert!(
        referred_by.contains("x-m=8:orgid:3f2b8c1d") && referred_by.contains("x-t="),
        "{joni:?}"
    );
    system.wait_answered(joni_call);
    assert_transfer_notified(&system, adele);
    // The transferor's leg is released by the SBC.
    system.wait_event("adele's leg ended", |e| {
        *e == Event::Ended {
            call: adele,
            by: Party::Sbc,
            status: None,
        }
    });

    // The carrier stays connected to joni until it hangs up itself.
    let (code, messages) = uac.finish();
    assert_eq!(code, 0, "{messages}");
    assert_eq!(requests(&messages, "INVITE").len(), 1, "{messages}");
    assert!(requests(&messages, "BYE").is_empty(), "{messages}");
    system.wait_event("joni's leg ended by the carrier's BYE", |e| {
        *e == Event::Ended {
            call: joni_call,
            by: Party::Sbc,
            status: None,
        }
    });
}

#[test]
fn teams_transfers_a_pstn_call_to_a_pstn_number() {
    let system = System::start("refer-to-number", |c| c);
    let uas = system.carrier_uas();
    let (uac, adele) =
        carrier_call_transferred(&system, TransferTarget::Number("+12065550123".into()));
    assert_transfer_notified(&system, adele);
    system.wait_event("adele's leg ended", |e| {
        *e == Event::Ended {
            call: adele,
            by: Party::Sbc,
            status: None,
        }
    });
    let (code, messages) = uac.finish();
    assert_eq!(code, 0, "{messages}");
    assert_eq!(requests(&messages, "INVITE").len(), 1, "{messages}");

    // The target's INVITE left through the carrier trunk, in its format;
    // the carrier's BYE reached it.
    let (code, target) = uas.finish();
    assert_eq!(code, 0, "{target}");
    let invites = requests(&target, "INVITE");
    assert_eq!(invites.len(), 1, "{target}");
    assert!(
        invites[0].starts_with(&format!(
            "INVITE sip:12065550123@127.0.0.1:{}",
            system.carrier_port
        )),
        "{target}"
    );
    assert_eq!(requests(&target, "BYE").len(), 1, "{target}");
    let calls = system
        .events()
        .iter()
        .filter(|e| matches!(e, Event::CallReceived { .. }))
        .count();
    assert_eq!(calls, 1, "the target is no Teams call");
}

#[test]
fn teams_holds_and_resumes_a_pstn_call() {
    let system = System::start("hold", |c| c);
    let uac = system.carrier_call("uac", ADELE_DID, "127.0.0.1", "uac_held.xml");
    let adele = call_of(&system.call_received("adele"));
    system.wait_answered(adele);
    let deadline = Instant::now() + WAIT;
    while let Err(error) = system.teams(move |proxy, now| proxy.hold(adele, now)) {
        assert!(Instant::now() < deadline, "hold not sent: {error}");
        std::thread::sleep(Duration::from_millis(50));
    }
    system.wait_event("on hold", |e| {
        *e == Event::HoldChanged {
            call: adele,
            on_hold: true,
            by: Party::Teams,
        }
    });
    system.teams(move |proxy, now| proxy.resume(adele, now).unwrap());
    system.wait_event("resumed", |e| {
        *e == Event::HoldChanged {
            call: adele,
            on_hold: false,
            by: Party::Teams,
        }
    });
    let (code, messages) = uac.finish();
    assert_eq!(code, 0, "{messages}");
    let reinvites = requests(&messages, "INVITE");
    assert_eq!(reinvites.len(), 2, "{messages}");
    assert!(reinvites[0].contains("a=inactive"), "{}", reinvites[0]);
    assert!(!reinvites[1].contains("a=inactive"), "{}", reinvites[1]);
    system.wait_event("the carrier's BYE", |e| {
        *e == Event::Ended {
            call: adele,
            by: Party::Sbc,
            status: None,
        }
    });
}

#[test]
fn calls_from_an_unknown_source_get_403() {
    // Teams' signalling only from 127.0.0.1, so 127.0.0.2 is neither Teams
    // nor the carrier (127.0.0.1/32).
    let system = System::start("unknown-source", |c| {
        rewrite(
            &c,
            r#"source_subnets = ["127.0.0.0/8"]"#,
            r#"source_subnets = ["127.0.0.1/32"]"#,
        )
    });
    let (code, messages) = system
        .carrier_call("stranger", ADELE_DID, "127.0.0.2", "uac")
        .finish();
    assert_ne!(code, 0, "SIPp's uac expects a 200: {messages}");
    assert_eq!(statuses(&messages), [403], "{messages}");
    // The carrier itself still gets through.
    let (code, messages) = system
        .carrier_call("carrier", ADELE_DID, "127.0.0.1", "uac")
        .finish();
    assert_eq!(code, 0, "{messages}");
    let calls = system
        .events()
        .iter()
        .filter(|e| matches!(e, Event::CallReceived { .. }))
        .count();
    assert_eq!(calls, 1, "only the carrier's call reached Teams");
}

/// Request `n` with `method` from `socket` to the SBC (no body).
fn request(method: &str, socket: &UdpSocket, sbc: SocketAddr, n: usize) -> String {
    let local = socket.local_addr().unwrap();
    let ip = local.ip();
    format!(
        "{method} sip:+12065550100@{sbc} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-flood-{n}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{ip}>;tag=flood{n}\r\n\
         To: <sip:+12065550100@{sbc}>\r\n\
         Call-ID: flood-{n}@{ip}\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:probe@{local}>\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Sends request `n` with `method` from `socket` to the SBC.
fn send(method: &str, socket: &UdpSocket, sbc: SocketAddr, n: usize) {
    socket
        .send_to(request(method, socket, sbc, n).as_bytes(), sbc)
        .unwrap();
}

/// The status lines answered to `socket` until it is quiet for 1 s.
fn answers(socket: &UdpSocket) -> Vec<u16> {
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut statuses = Vec::new();
    while let Ok(len) = socket.recv(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..len]);
        if let Some(code) = text.strip_prefix("SIP/2.0 ").and_then(|r| r.get(..3)) {
            statuses.push(code.parse().unwrap());
        }
    }
    statuses
}

#[test]
fn a_flooding_unknown_source_is_blocked() {
    // At most 10 requests per 2 s from one unknown source.
    let system = System::start("flood", |c| {
        rewrite(&c, "max_requests = 30", "max_requests = 10")
    });
    let sbc: SocketAddr = format!("127.0.0.1:{}", system.sbc_udp).parse().unwrap();
    let flooder = UdpSocket::bind("127.0.0.3:0").unwrap();
    for n in 0..25 {
        send("OPTIONS", &flooder, sbc, n);
    }
    // Refused while under the limit, then not answered at all.
    assert_eq!(answers(&flooder), [403; 10]);
    send("OPTIONS", &flooder, sbc, 100);
    send("INVITE", &flooder, sbc, 101);
    assert_eq!(answers(&flooder), [0u16; 0], "still blocked");

    // Only that source: another unknown one is still answered, and the
    // carrier's OPTIONS are.
    let other = UdpSocket::bind("127.0.0.4:0").unwrap();
    send("OPTIONS", &other, sbc, 0);
    assert_eq!(answers(&other), [403]);
    let carrier = UdpSocket::bind("127.0.0.1:0").unwrap();
    send("OPTIONS", &carrier, sbc, 0);
    assert_eq!(answers(&carrier), [200]);
    // Teams never heard of any of it.
    assert!(
        !system
            .events()
            .iter()
            .any(|e| matches!(e, Event::CallReceived { .. })),
        "{:#?}",
        system.events()
    );
}
