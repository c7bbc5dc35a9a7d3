//! Re-INVITEs the B2BUA sends of its own accord (the re-offer after a
//! transfer, a restore): a refused one leaves the session as it was
//! (RFC 3261 §14.1, RFC 3264 §8), a 491 is retried after the back-off.

use super::codecs::{formats, hold_answered_with_g729, takes_the_restore, teams_answer};
use super::*;
use crate::b2bua::in_dialog::GLARE_RETRIES;

const TARGET_MRI: &str = "8:orgid:2cbad4c0-e1c4-4cde-8f9f-0a6f2a5c7b4e";

/// Teams transfers an established carrier call to another Teams user,
/// who answers with PCMA only; returns the call, the target's INVITE and
/// our re-INVITE offering the carrier the new media.
fn transferred(h: &mut Harness, call_id: &str) -> (Established, Request, Request) {
    let call = h.establish(call_id);
    let refer_to = format!("<sip:sip.pstnhub.microsoft.com;x-m={TARGET_MRI};x-t={TENANT_ID}>");
    let (invite, _) = h.teams_refer(&call, 1, &refer_to);
    h.deliver(
        reply(
            &invite,
            200,
            "target-tag",
            TEAMS_DIALOG,
            Some(&teams_answer(7, "8 101", "sendrecv")),
        ),
        Harness::teams(),
    );
    h.request(Method::Ack);
    h.request(Method::Notify);
    h.request(Method::Bye);
    let (reinvite, _) = h.request(Method::Invite);
    assert_eq!(reinvite.headers.call_id().unwrap(), call_id);
    h.quiet();
    (call, invite, reinvite)
}

/// Moves the clock in 10 ms steps (the unit of RFC 3261 §14.1 back-offs)
/// until a request is sent, at most `limit`; returns how long it took
/// and the request. Retransmissions of the 488 the carrier got for its
/// re-INVITE (it sends no ACK here) are passed over.
fn wait_for_request(h: &mut Harness, limit: Duration) -> (Duration, Option<Request>) {
    let step = Duration::from_millis(10);
    let mut waited = Duration::ZERO;
    while waited < limit {
        h.advance(step);
        waited += step;
        while let Some(outgoing) = h.out.pop_front() {
            match outgoing.message {
                Message::Request(request) => return (waited, Some(request)),
                Message::Response(response) => assert_eq!(response.status.0, 488),
            }
        }
    }
    (waited, None)
}

#[test]
fn a_refused_transfer_reoffer_leaves_the_next_offer_on_the_old_session() {
    let (mut h, seen) = Harness::recorded(CONFIG);
    let (call, _, reinvite) = transferred(&mut h, "own-488");
    let before = sdp_of(&call.carrier_ok.body);
    let refused = sdp_of(&reinvite.body);
    assert_eq!(formats(&reinvite.body), ["8", "101"]);
    assert_eq!(
        refused.origin.session_version,
        before.origin.session_version + 1
    );
    h.deliver(reply(&reinvite, 488, "", "", None), Harness::carrier());
    h.request(Method::Ack);
    h.quiet();
    assert_eq!(seen.codec("192.0.2.10").encoding, "PCMU");

    // The refresh that follows offers the session in force, not the
    // refused one: its codecs and direction, the o= line of the refused
    // offer (the previous SDP of RFC 3264 §8) one version up.
    h.advance(Duration::from_secs(2));
    let (refresh, _) = h.request(Method::Invite);
    let offer = sdp_of(&refresh.body);
    assert_eq!(offer.media[0].formats, before.media[0].formats);
    assert_eq!(
        offer.direction_of(&offer.media[0]),
        before.direction_of(&before.media[0])
    );
    assert_eq!(offer.origin.session_id, refused.origin.session_id);
    assert_eq!(
        offer.origin.session_version,
        refused.origin.session_version + 1
    );
    let mut unversioned = offer.clone();
    unversioned.origin.session_version = before.origin.session_version;
    assert_eq!(unversioned.to_string(), before.to_string());
    h.deliver(
        reply(
            &refresh,
            200,
            "",
            "Contact: <sip:2065550199@192.0.2.10:5060>\n",
            Some(&carrier_sdp(2, "sendrecv")),
        ),
        Harness::carrier(),
    );
    h.request(Method::Ack);
    h.quiet();
    assert_eq!(seen.codec("192.0.2.10").encoding, "PCMU");
    // Sent again unchanged, the same version.
    h.advance(Duration::from_secs(900));
    let (again, _) = h.request(Method::Invite);
    assert_eq!(sdp_of(&again.body).origin, offer.origin);
}

#[test]
fn a_491_to_a_restore_is_retried_after_the_owners_back_off() {
    let (mut h, seen) = Harness::recorded(&with_trunk_b(CONFIG, r#"["PCMA", "telephone-event"]"#));
    hold_answered_with_g729(&mut h, "own-491");
    // Trunk b's leg is the one whose INVITE we sent: we own its Call-ID.
    let (restore, _) = h.request(Method::Invite);
    h.deliver(reply(&restore, 491, "", "", None), Harness::trunk_b());
    h.request(Method::Ack);
    h.quiet();
    let (waited, retry) = wait_for_request(&mut h, Duration::from_secs(5));
    assert!(
        (Duration::from_millis(2100)..=Duration::from_secs(4)).contains(&waited),
        "retried after {waited:?}"
    );
    let retry = retry.unwrap();
    assert_eq!(retry.method, Method::Invite);
    assert_eq!(retry.headers.call_id(), restore.headers.call_id());
    assert!(retry.headers.cseq().unwrap().seq > restore.headers.cseq().unwrap().seq);
    // The same offer: identical, so the same o= version (RFC 3264 §8).
    assert_eq!(retry.body, restore.body);
    h.quiet();
    takes_the_restore(&mut h, &seen, &retry);
    let (_, more) = wait_for_request(&mut h, Duration::from_secs(10));
    assert!(more.is_none(), "{more:?}");
}

#[test]
fn a_restore_refused_with_491_every_time_ends_the_call_after_the_retries() {
    let (mut h, _) = Harness::recorded(&with_trunk_b(CONFIG, r#"["PCMA", "telephone-event"]"#));
    hold_answered_with_g729(&mut h, "own-491-again");
    let (mut restore, _) = h.request(Method::Invite);
    for _ in 0..GLARE_RETRIES {
        h.deliver(reply(&restore, 491, "", "", None), Harness::trunk_b());
        h.request(Method::Ack);
        h.quiet();
        assert!(!h.saw(|e| matches!(e, B2buaEvent::CallEnded { .. })));
        let (waited, retry) = wait_for_request(&mut h, Duration::from_secs(4));
        assert!(waited >= Duration::from_millis(2100), "{waited:?}");
        restore = retry.unwrap();
        assert_eq!(restore.method, Method::Invite);
    }
    h.deliver(reply(&restore, 491, "", "", None), Harness::trunk_b());
    h.request(Method::Ack);
    let byes: Vec<Request> = h
        .out
        .drain(..)
        .filter_map(|o| match o.message {
            Message::Request(r) => Some(r),
            Message::Response(_) => None,
        })
        .collect();
    assert_eq!(byes.len(), 2, "{byes:?}");
    for bye in &byes {
        assert_eq!(bye.method, Method::Bye);
        assert_eq!(
            bye.headers.get_str(&HeaderName::Reason),
            Some("SIP;cause=488;text=\"session not restored\"")
        );
    }
    assert!(h.saw(|e| matches!(
        e,
        B2buaEvent::CallEnded {
            reason: EndReason::SessionNotRestored(Party::Callee),
            ..
        }
    )));
}

#[test]
fn a_491_to_a_transfer_reoffer_is_retried_within_two_seconds() {
    let (mut h, seen) = Harness::recorded(CONFIG);
    // The carrier's leg: its INVITE we received, the Call-ID is not ours.
    let (_, _, reinvite) = transferred(&mut h, "own-491-uas");
    h.deliver(reply(&reinvite, 491, "", "", None), Harness::carrier());
    h.request(Method::Ack);
    h.quiet();
    let (waited, retry) = wait_for_request(&mut h, Duration::from_secs(3));
    assert!(waited <= Duration::from_secs(2), "retried after {waited:?}");
    let retry = retry.unwrap();
    assert_eq!(retry.method, Method::Invite);
    assert_eq!(retry.body, reinvite.body);
    h.quiet();
    let answer = peer_sdp("192.0.2.10", 2, "8 101", TELEPHONE_EVENT, "sendrecv");
    h.deliver(
        reply(
            &retry,
            200,
            "",
            "Contact: <sip:2065550199@192.0.2.10:5060>\n",
            Some(&answer),
        ),
        Harness::carrier(),
    );
    h.request(Method::Ack);
    h.quiet();
    assert_eq!(seen.codec("192.0.2.10").encoding, "PCMA");
}

#[test]
fn a_491_retry_is_dropped_when_the_peer_renegotiated_meanwhile() {
    let mut h = Harness::new();
    let (call, target_invite, reinvite) = transferred(&mut h, "own-491-moot");
    let refused = sdp_of(&reinvite.body);
    h.deliver(reply(&reinvite, 491, "", "", None), Harness::carrier());
    h.request(Method::Ack);
    h.quiet();
    // Before its back-off ends, the carrier offers itself: relayed to
    // the transfer target, whose answer brings both legs in line.
    h.carrier_in_dialog(&call, "INVITE", 2, "", Some(&carrier_sdp(2, "sendonly")));
    let (relayed, _) = h.request(Method::Invite);
    assert_eq!(
        relayed.headers.call_id(),
        target_invite.headers.call_id(),
        "to the new leg"
    );
    h.deliver(
        reply(
            &relayed,
            200,
            "",
            TEAMS_DIALOG,
            Some(&teams_answer(8, "8 101", "inactive")),
        ),
        Harness::teams(),
    );
    h.request(Method::Ack);
    let (ok, _) = h.response(200);
    // Our answer follows the refused offer's version (RFC 3264 §8).
    let answer = sdp_of(&ok.body);
    assert_eq!(
        answer.origin.session_version,
        refused.origin.session_version + 1
    );
    h.carrier_in_dialog(&call, "ACK", 2, "", None);
    h.quiet();
    h.advance(Duration::from_secs(5));
    h.quiet();
}
