//! Real-peer tests: SIPp (Debian package `sip-tester`) talks UDP on
//! 127.0.0.1 to a small user agent built from `sip` and `sip-core`.
//!
//! The user agents (`sipp/uas.rs`, `sipp/uac.rs`) are drivers, not a second
//! SIP stack: transactions, dialogs, 2xx retransmission, ACK and BYE all
//! come from `sip-core`; the driver (`sipp/endpoint.rs`) only moves
//! datagrams and sleeps until the earliest `poll_timeout`. SIPp itself is
//! started and read by `sipp/peer.rs`. A missing `sipp` fails the tests.
#![allow(clippy::unwrap_used)]

#[path = "sipp/endpoint.rs"]
mod endpoint;
#[path = "sipp/peer.rs"]
mod peer;
#[path = "sipp/uac.rs"]
mod uac;
#[path = "sipp/uas.rs"]
mod uas;

use std::net::UdpSocket;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{Message, Method, Uri};
use sip_core::{
    fill_via_sent_by, ClientInviteState, ClientInviteTransaction, DialogState, Timer, TimerConfig,
    TransactionEvent, TransactionKey,
};

use endpoint::{recv_until, turn, TransactionUser};
use peer::{free_udp_port, Sipp, SippStats};
use uac::{new_invite, CallOutcome, Uac};
use uas::Uas;

/// How long the driver sleeps at most before checking whether SIPp ended.
const CHILD_POLL: Duration = Duration::from_millis(50);

/// Drives our user agent until SIPp exits (or `limit` passes, which fails).
fn run_until_exit(tu: &mut impl TransactionUser, sipp: &mut Sipp, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = sipp.try_exit() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "SIPp still runs after {limit:?}\n{}",
            sipp.diagnostics()
        );
        turn(tu, Instant::now() + CHILD_POLL);
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|arg| (*arg).to_owned()).collect()
}

/// SIPp's embedded `uac` scenario (INVITE, 100/180 optional, 200, ACK,
/// pause, BYE, 200) calls our UAS `calls` times.
const EMBEDDED_UAC: &[&str] = &["-sn", "uac"];

/// The same calls with each response matched to its transaction; see the
/// comment in the file for why the lossy test needs it.
const UAC_MATCHING_TRANSACTIONS: &[&str] = &[
    "-sf",
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/uac_txn.xml"),
];

/// SIPp runs `scenario` against our UAS `calls` times, at most 5 at once,
/// each call held 200 ms; `extra` adds options.
fn sipp_calls_our_uas(
    name: &str,
    scenario: &[&str],
    uas: &Uas,
    calls: u64,
    extra: &[&str],
) -> Sipp {
    let target = uas.addr().to_string();
    let port = free_udp_port().to_string();
    let calls = calls.to_string();
    let mut list = scenario.to_vec();
    list.extend([target.as_str(), "-i", "127.0.0.1", "-p", &port]);
    list.extend(["-m", &calls, "-l", "5", "-d", "200"]);
    list.extend(["-timeout", "30s", "-timeout_error"]);
    list.extend(extra);
    Sipp::start(name, &args(&list))
}

/// The checks both UAS tests share: SIPp and our side agree that every
/// call was set up and torn down, and nothing went wrong on our side.
fn assert_all_calls_completed(uas: &Uas, sipp: &Sipp, status: ExitStatus, calls: u64) {
    let diagnostics = sipp.diagnostics();
    assert!(status.success(), "SIPp exited with {status}\n{diagnostics}");
    assert_eq!(
        sipp.stats(),
        SippStats {
            created: calls,
            successful: calls,
            failed: 0
        },
        "SIPp's statistics\n{diagnostics}"
    );
    assert_eq!(
        sipp.unexpected_messages(),
        "",
        "SIPp saw unexpected messages"
    );
    let report = &uas.report;
    assert_eq!(uas.errors(), Vec::<String>::new(), "our UAS: {report:?}");
    let calls = usize::try_from(calls).unwrap();
    assert_eq!(report.invites_answered, calls, "{report:?}");
    assert_eq!(report.byes_answered, calls, "{report:?}");
    assert_eq!(uas.dialogs().count(), calls, "one dialog per call");
    for (dialog, _) in uas.dialogs() {
        assert_eq!(dialog.state(), DialogState::Terminated, "{:?}", dialog.id());
        assert_eq!(dialog.poll_timeout(), None, "2xx retransmission stopped");
    }
}

#[test]
fn sipp_uac_completes_20_calls_with_our_uas() {
    let mut uas = Uas::new(TimerConfig::default());
    let mut sipp = sipp_calls_our_uas("uac-20-calls", EMBEDDED_UAC, &uas, 20, &["-r", "10"]);
    let status = run_until_exit(&mut uas, &mut sipp, Duration::from_secs(40));

    assert_all_calls_completed(&uas, &sipp, status, 20);
    let report = &uas.report;
    assert_eq!(report.confirmed_by_ack, 20, "{report:?}");
    assert!(uas.dialogs().all(|(_, acked)| acked), "every 2xx was ACKed");
}

#[test]
fn sipp_uac_with_10_percent_loss_completes_every_call() {
    const CALLS: u64 = 10;
    let mut uas = Uas::new(TimerConfig::default());
    let extra = ["-r", "5", "-lost", "10"];
    let scenario = UAC_MATCHING_TRANSACTIONS;
    let mut sipp = sipp_calls_our_uas("uac-lossy-calls", scenario, &uas, CALLS, &extra);
    let status = run_until_exit(&mut uas, &mut sipp, Duration::from_secs(40));

    assert_all_calls_completed(&uas, &sipp, status, CALLS);
    // SIPp draws its losses from a clock-seeded rand(): which messages it
    // drops differs per run, so compare with what its message log says it
    // dropped. Each dropped copy of our 200 (INVITE) was followed by another
    // copy, which only the dialog's §13.3.1.4 retransmission sends; each
    // dropped 200 (BYE) by a BYE retransmission that our server transaction
    // absorbed by replaying the 200 (§17.2.2).
    let lost = sipp.lost_on_receipt();
    let lost_invite_2xx = lost.iter().filter(|m| m.is_response(200, "INVITE")).count();
    let lost_bye_2xx = lost.iter().filter(|m| m.is_response(200, "BYE")).count();
    let report = &uas.report;
    let context = format!(
        "SIPp dropped on receipt {lost:?} and {} of its own sends; our side: {report:?}",
        sipp.lost_on_sending()
    );
    assert!(report.retransmitted_2xx >= lost_invite_2xx, "{context}");
    assert!(report.absorbed_byes >= lost_bye_2xx, "{context}");
    // A dropped ACK is made up for by a 2xx retransmission SIPp re-ACKs, or
    // overtaken by the BYE: every dialog ended (checked above) and none
    // reported an AckTimeout (no errors).
}

#[test]
fn our_uac_completes_10_calls_with_sipp_uas() {
    const CALLS: u64 = 10;
    let port = free_udp_port();
    let calls = CALLS.to_string();
    let list = [
        "-sn",
        "uas",
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-m",
        &calls,
        "-timeout",
        "30s",
        "-timeout_error",
    ];
    let mut sipp = Sipp::start("uas-10-calls", &args(&list));
    sipp.wait_bound(port, Duration::from_secs(5));
    let target: Uri = format!("sip:service@127.0.0.1:{port}").parse().unwrap();
    let mut uac = Uac::new(TimerConfig::default(), target, Duration::from_millis(50));

    let mut outcomes = Vec::new();
    for call in 0..CALLS {
        uac.start_call(Instant::now());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !uac.call_finished() {
            assert!(
                Instant::now() < deadline,
                "call {call} did not finish: {:?}\n{}",
                uac.errors(),
                sipp.diagnostics()
            );
            turn(&mut uac, Instant::now() + CHILD_POLL);
        }
        outcomes.push(uac.finish_call());
    }
    let status = run_until_exit(&mut uac, &mut sipp, Duration::from_secs(20));

    let expected = CallOutcome {
        early_dialog: true,
        invite_status: Some(200),
        invite_transaction: Some(ClientInviteState::Accepted),
        acked: true,
        bye_in_non_invite_transaction: true,
        bye_status: Some(200),
        dialog: Some(DialogState::Terminated),
    };
    for (call, outcome) in outcomes.iter().enumerate() {
        assert_eq!(*outcome, expected, "call {call}");
    }
    assert_eq!(uac.errors(), Vec::<String>::new());
    let diagnostics = sipp.diagnostics();
    assert!(status.success(), "SIPp exited with {status}\n{diagnostics}");
    let stats = sipp.stats();
    assert_eq!(
        (stats.successful, stats.failed),
        (CALLS, 0),
        "{diagnostics}"
    );
    assert_eq!(
        sipp.unexpected_messages(),
        "",
        "SIPp saw unexpected messages"
    );
}

#[test]
fn invite_to_a_silent_peer_is_retransmitted_then_times_out() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let local = socket.local_addr().unwrap();
    let timers = TimerConfig {
        t1: Duration::from_millis(50),
        ..TimerConfig::default()
    };
    let target: Uri = format!("sip:silent@{silent_addr}").parse().unwrap();
    let mut invite = new_invite(local, &target);
    fill_via_sent_by(&mut invite, "UDP", &local.to_string()).unwrap();
    let key = TransactionKey::client(&invite).unwrap();

    let start = Instant::now();
    let mut transaction = ClientInviteTransaction::new(invite, false, timers, start).unwrap();
    let mut events = Vec::new();
    let mut sent_at = Vec::new();
    let mut buffer = [0; 2048];
    while !matches!(events.last(), Some(TransactionEvent::Terminated)) {
        while let Some(transmit) = transaction.poll_transmit() {
            socket
                .send_to(&transmit.message.to_bytes(), silent_addr)
                .unwrap();
            sent_at.push(start.elapsed());
        }
        events.extend(std::iter::from_fn(|| transaction.poll_event()));
        let Some(at) = transaction.poll_timeout() else {
            break;
        };
        assert!(start.elapsed() < Duration::from_secs(10), "{events:?}");
        let received = recv_until(&socket, &mut buffer, at);
        assert_eq!(received, None, "nothing ever answers");
        transaction.handle_timeout(Instant::now());
    }
    let elapsed = start.elapsed();

    assert!(
        matches!(
            &events[..],
            [
                TransactionEvent::Timeout { timer: Timer::B },
                TransactionEvent::Terminated
            ]
        ),
        "{events:?}"
    );
    assert_eq!(transaction.state(), ClientInviteState::Terminated);
    let timer_b = timers.t1x64();
    assert!(
        elapsed >= timer_b && elapsed < timer_b + Duration::from_secs(1),
        "Timer B fired after {elapsed:?}; sent at {sent_at:?}"
    );
    // Sent at 0, T1, 3T1, 7T1, 15T1, 31T1, 63T1; Timer B at 64T1 (§17.1.1.2).
    silent.set_nonblocking(true).unwrap();
    let mut received = 0;
    while let Ok((len, _)) = silent.recv_from(&mut buffer) {
        let message = Message::parse(Bytes::copy_from_slice(&buffer[..len])).unwrap();
        let Message::Request(request) = message else {
            panic!("the silent peer received a response");
        };
        assert_eq!(request.method, Method::Invite);
        assert_eq!(
            TransactionKey::client(&request).unwrap(),
            key,
            "same branch"
        );
        received += 1;
    }
    assert_eq!(
        received, 7,
        "INVITE and 6 retransmissions within 64*T1; sent at {sent_at:?}, Timer B after {elapsed:?}"
    );
}
