//! Supervisors, 3-way calls and consultations on a connected call, driven
//! by hand.
#![allow(clippy::unwrap_used)]

use super::tests::{actions, events, queued_for_support, setup, Setup};
use super::*;

/// The caller's leg ([`queued_for_support`] starts calls on leg 1).
const CALLER: LegId = LegId(1);
/// The agent's leg.
const AGENT: LegId = LegId(100);

/// A call answered by a support agent on [`AGENT`].
fn connected(s: &mut Setup, call: CallId) {
    let Action::Dial {
        interaction, agent, ..
    } = queued_for_support(s, call)
    else {
        unreachable!()
    };
    s.center
        .handle_dialled(s.now, call, interaction, agent, Ok(AGENT));
    s.center.handle_dial_answered(s.now, call, AGENT);
    actions(&mut s.center);
    events(&mut s.center);
}

fn user(number: &str) -> DialTarget {
    DialTarget::TeamsUser(E164::parse(number).unwrap())
}

/// The last layout ordered for `call`.
fn layout(actions: &[Action], call: CallId) -> Layout {
    actions
        .iter()
        .rev()
        .find_map(|a| match a {
            Action::Arrange { call: c, layout } if *c == call => Some(layout.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no layout in {actions:?}"))
}

#[test]
fn a_supervisor_listens_then_whispers_then_barges_and_leaves() {
    let mut s = setup("supervise");
    let call = CallId(7);
    let request = Request::Supervise {
        supervisor: user("+14255550124"),
        mode: SuperviseMode::Listen,
    };
    // Not before an agent answers.
    s.center.handle_call_started(
        s.now,
        SystemTime::now(),
        (CallId(8), LegId(1)),
        "contoso",
        "main",
        BTreeMap::new(),
    );
    actions(&mut s.center);
    assert_eq!(
        s.center.handle_request(s.now, CallId(8), request.clone()),
        Err(RequestError::NotConnected)
    );
    assert_eq!(
        s.center.handle_request(s.now, CallId(9), request.clone()),
        Err(RequestError::NoSuchCall)
    );
    connected(&mut s, call);
    s.center
        .handle_request(s.now, call, request.clone())
        .unwrap();
    assert_eq!(
        actions(&mut s.center),
        [Action::AddParty {
            call,
            target: user("+14255550124")
        }]
    );
    // One party at a time.
    assert_eq!(
        s.center.handle_request(s.now, call, request),
        Err(RequestError::Busy)
    );
    let supervisor = LegId(200);
    s.center.handle_party_dialled(call, Ok(supervisor));
    assert!(s.center.is_party(call, supervisor));
    s.center.handle_dial_answered(s.now, call, supervisor);
    let mixed = layout(&actions(&mut s.center), call);
    assert_eq!(
        mixed.mixed,
        [
            (CALLER, MixRole::Normal),
            (AGENT, MixRole::Normal),
            (supervisor, MixRole::Listen)
        ]
    );
    assert!(mixed.bridged.is_empty() && mixed.held.is_empty());
    for (mode, role) in [
        (SuperviseMode::Whisper, MixRole::Whisper(AGENT)),
        (SuperviseMode::Barge, MixRole::Barge),
    ] {
        s.center
            .handle_request(s.now, call, Request::SetSuperviseMode(mode))
            .unwrap();
        let now = layout(&actions(&mut s.center), call);
        assert_eq!(now.mixed[2], (supervisor, role));
    }
    // The supervisor hangs up: caller and agent are a pair again.
    s.center.handle_party_left(s.now, call, supervisor);
    let after = actions(&mut s.center);
    assert_eq!(layout(&after, call).bridged, [(CALLER, AGENT)]);
    assert!(
        after.contains(&Action::Pair {
            call,
            a: CALLER,
            b: AGENT
        }),
        "{after:?}"
    );
    assert_eq!(
        s.center.handle_request(
            s.now,
            call,
            Request::SetSuperviseMode(SuperviseMode::Listen)
        ),
        Err(RequestError::NoSupervisor)
    );
}

#[test]
fn a_consultation_holds_the_caller_then_transfers_to_the_consulted_party() {
    let mut s = setup("consult");
    let call = CallId(7);
    connected(&mut s, call);
    assert_eq!(
        s.center
            .handle_request(s.now, call, Request::CompleteConsult),
        Err(RequestError::NoConsult)
    );
    let target = DialTarget::Pstn(E164::parse("+18005550100").unwrap());
    s.center
        .handle_request(s.now, call, Request::Consult(target.clone()))
        .unwrap();
    let started = actions(&mut s.center);
    assert!(
        started.contains(&Action::AddParty { call, target }),
        "{started:?}"
    );
    // The caller hears music from the start.
    assert_eq!(layout(&started, call).held, [CALLER]);
    let consulted = LegId(300);
    s.center.handle_party_dialled(call, Ok(consulted));
    s.center.handle_dial_answered(s.now, call, consulted);
    let talking = layout(&actions(&mut s.center), call);
    assert_eq!(
        (talking.held, talking.bridged),
        (vec![CALLER], vec![(AGENT, consulted)])
    );
    s.center
        .handle_request(s.now, call, Request::CompleteConsult)
        .unwrap();
    let done = actions(&mut s.center);
    assert!(
        done.contains(&Action::HangUpParty { call, leg: AGENT }),
        "{done:?}"
    );
    assert_eq!(layout(&done, call).bridged, [(CALLER, consulted)]);
    // The agent is free (wrap-up); the caller's call goes on.
    let log = events(&mut s.center);
    assert!(
        log.iter().any(|e| matches!(
            e,
            acd::EventKind::Completed {
                reason: acd::EndReason::Transferred,
                ..
            }
        )),
        "{log:?}"
    );
    let facts: Vec<Fact> = std::iter::from_fn(|| s.center.poll_fact())
        .map(|f| f.fact)
        .collect();
    assert!(
        facts.contains(&Fact::Transferred {
            target: "consult:300".to_owned()
        }),
        "{facts:?}"
    );
    // The agent's BYE (ordered above) comes back as the party leaving.
    s.center.handle_party_left(s.now, call, AGENT);
    assert!(s.center.has_call(call));
}

#[test]
fn a_failed_or_cancelled_consultation_gives_the_caller_back() {
    let mut s = setup("consult-cancel");
    let call = CallId(7);
    connected(&mut s, call);
    let target = user("+14255550124");
    s.center
        .handle_request(s.now, call, Request::Consult(target.clone()))
        .unwrap();
    actions(&mut s.center);
    s.center
        .handle_party_dialled(call, Err(sbc::DialError::Unreachable));
    assert_eq!(
        layout(&actions(&mut s.center), call).bridged,
        [(CALLER, AGENT)]
    );
    s.center
        .handle_request(s.now, call, Request::Consult(target))
        .unwrap();
    s.center.handle_party_dialled(call, Ok(LegId(301)));
    s.center.handle_dial_answered(s.now, call, LegId(301));
    actions(&mut s.center);
    s.center
        .handle_request(s.now, call, Request::CancelConsult)
        .unwrap();
    assert_eq!(
        actions(&mut s.center),
        [Action::HangUpParty {
            call,
            leg: LegId(301)
        }]
    );
    s.center.handle_party_left(s.now, call, LegId(301));
    let back = actions(&mut s.center);
    assert_eq!(layout(&back, call).bridged, [(CALLER, AGENT)]);
    assert!(back.iter().any(|a| matches!(a, Action::Pair { .. })));
}

#[test]
fn in_a_3_way_call_the_others_talk_on_when_the_caller_leaves() {
    let mut s = setup("three-way");
    let call = CallId(7);
    connected(&mut s, call);
    let third = LegId(400);
    s.center
        .handle_request(s.now, call, Request::AddParty(user("+14255550124")))
        .unwrap();
    s.center.handle_party_dialled(call, Ok(third));
    s.center.handle_dial_answered(s.now, call, third);
    let all = layout(&actions(&mut s.center), call);
    assert_eq!(
        all.mixed,
        [
            (CALLER, MixRole::Normal),
            (AGENT, MixRole::Normal),
            (third, MixRole::Normal)
        ]
    );
    // The caller hangs up: the ACD's part ends (as the caller's hang-up),
    // agent and third party are paired.
    s.center.handle_party_left(s.now, call, CALLER);
    let after = actions(&mut s.center);
    assert!(
        after.contains(&Action::Pair {
            call,
            a: third,
            b: AGENT
        }),
        "{after:?}"
    );
    let log = events(&mut s.center);
    assert!(
        log.iter()
            .any(|e| matches!(e, acd::EventKind::Completed { .. })),
        "{log:?}"
    );
    // With one of them gone too, nothing is left to carry.
    s.center.handle_party_left(s.now, call, AGENT);
    assert_eq!(actions(&mut s.center), [Action::HangUp { call }]);
}
