//! Calls with more than two parties, and calls switchboard originates.

use super::recorded_media::{LegOp, MediaLog};
use super::*;
use crate::{DialError, DialTarget, PartyError, TenantName, E164};

/// The flow config with a recorded media plane.
fn harness() -> (Harness, MediaLog) {
    Harness::recorded(&flow_config())
}

fn contoso() -> TenantName {
    TenantName::new("contoso")
}

/// A Teams leg we placed: its INVITE and the 200 that answered it.
struct TeamsLeg {
    id: LegId,
    invite: Request,
    ok: Response,
}

impl TeamsLeg {
    /// For [`Harness::teams_in_dialog`], which only reads the Teams side.
    fn dialog(&self) -> Established {
        Established {
            teams_invite: self.invite.clone(),
            teams_ok: self.ok.clone(),
            carrier_ok: self.ok.clone(),
        }
    }
}

/// Answers the INVITE just sent to Teams with 180 then 200 (`extra`
/// header lines on the 200); checks the ACK.
fn answer_teams(h: &mut Harness, id: LegId, invite: Request, tag: &str, extra: &str) -> TeamsLeg {
    h.deliver(
        reply(&invite, 180, tag, TEAMS_DIALOG, None),
        Harness::teams(),
    );
    let headers = format!("{TEAMS_DIALOG}{extra}");
    let ok = reply(&invite, 200, tag, &headers, Some(&teams_sdp(1, "sendrecv")));
    h.deliver(ok.clone(), Harness::teams());
    let (ack, _) = h.request(Method::Ack);
    assert_eq!(
        ack.headers.call_id().unwrap(),
        invite.headers.call_id().unwrap()
    );
    TeamsLeg { id, invite, ok }
}

/// A caller in the flow talking to an agent (dialled, answered).
struct TwoParty {
    call: CallId,
    caller: LegId,
    carrier_ok: Response,
    agent: TeamsLeg,
}

fn two_party(h: &mut Harness, call_id: &str) -> TwoParty {
    let (carrier_ok, call, id, invite) = h.dialled(call_id);
    let caller = h
        .events
        .iter()
        .find_map(|e| match e {
            B2buaEvent::LocalCallStarted { leg, .. } => Some(*leg),
            _ => None,
        })
        .unwrap();
    let agent = answer_teams(h, id, invite, "agent-tag", "");
    h.quiet();
    TwoParty {
        call,
        caller,
        carrier_ok,
        agent,
    }
}

/// A two-party call with a third party added and answered.
fn three_way(h: &mut Harness, call_id: &str, third_extra: &str) -> (TwoParty, TeamsLeg) {
    let two = two_party(h, call_id);
    let id = h
        .b2bua
        .add_party(two.call, teams_user("+14255550124"), None, h.now)
        .unwrap();
    h.pump();
    let (invite, _) = h.request(Method::Invite);
    let third = answer_teams(h, id, invite, "third-tag", third_extra);
    h.quiet();
    (two, third)
}

#[test]
fn a_third_party_is_rung_through_direct_routing_and_joins_without_disturbing_the_call() {
    let (mut h, media) = harness();
    let two = two_party(&mut h, "party-1");
    h.events.clear();
    let third = h
        .b2bua
        .add_party(two.call, teams_user("+14255550124"), None, h.now)
        .unwrap();
    h.pump();
    let (invite, hop) = h.request(Method::Invite);
    assert!(resolve_uri(&hop).starts_with("sip:sip.pstnhub.microsoft.com:5061"));
    let to = invite.headers.get_str(&HeaderName::To).unwrap();
    assert_eq!(
        to,
        "<sip:+14255550124@sip.pstnhub.microsoft.com;user=phone>"
    );
    // SRTP with our own key, the codec the caller was answered with, on
    // an anchor of its own (not the agent's either).
    assert_rings_teams_user(&invite, "+14255550124", &two.carrier_ok);
    let offer = sdp_of(&invite.body);
    let agent_offer = sdp_of(&two.agent.invite.body);
    assert_ne!(offer.media[0].port, agent_offer.media[0].port);
    assert_eq!(
        offer.direction_of(&offer.media[0]),
        sdp::Direction::SendRecv
    );

    let leg = answer_teams(&mut h, third, invite, "third-tag", "");
    // Nothing reached the caller or the agent: no CANCEL, no re-INVITE.
    h.quiet();
    assert!(h.saw(|e| matches!(e,
        B2buaEvent::DialProgress { leg, status, .. } if *leg == third && status.0 == 180)));
    assert!(h.saw(|e| matches!(e,
        B2buaEvent::DialAnswered { leg, codec: Some(codec), .. }
            if *leg == third && codec.encoding == "PCMU")));
    assert!(!h.saw(|e| matches!(
        e,
        B2buaEvent::DialFailed { .. } | B2buaEvent::CallEnded { .. } | B2buaEvent::PartyLeft { .. }
    )));
    // The pair's bridge is lifted: the application mixes now.
    assert!(media
        .leg_ops()
        .contains(&LegOp::Unbridge(two.caller, two.agent.id)));
    assert_eq!(leg.id, third);
    assert_eq!(h.b2bua.call_count(), 1);
}

#[test]
fn a_party_hold_is_answered_on_its_own_leg_and_not_relayed() {
    let (mut h, _) = harness();
    let (two, third) = three_way(&mut h, "party-hold", "");
    let our_offer = sdp_of(&third.invite.body);
    // Hold: their sendonly gets our recvonly, same port and key.
    h.teams_in_dialog(
        &third.dialog(),
        "INVITE",
        20,
        "",
        Some(("application/sdp", &teams_sdp(2, "sendonly"))),
    );
    let (held, _) = h.response(200);
    h.quiet();
    let answer = sdp_of(&held.body);
    let media = &answer.media[0];
    assert_eq!(answer.direction_of(media), sdp::Direction::RecvOnly);
    assert_eq!(media.port, our_offer.media[0].port);
    assert_eq!(answer.origin.session_id, our_offer.origin.session_id);
    assert!(answer.origin.session_version > our_offer.origin.session_version);
    let formats: Vec<u8> = media.payload_types().collect();
    assert_eq!(formats, [0, 101], "the codec in use is kept");
    let ours = our_offer.media[0].cryptos().next().unwrap();
    let answered = media.cryptos().next().unwrap();
    assert_eq!(answered.tag, 2, "the offered tag is echoed");
    assert_eq!(answered.master_key_salt(), ours.master_key_salt());
    h.teams_in_dialog(&third.dialog(), "ACK", 20, "", None);
    // Inactive gets inactive; again nothing goes to the other legs.
    h.teams_in_dialog(
        &third.dialog(),
        "INVITE",
        21,
        "",
        Some(("application/sdp", &teams_sdp(3, "inactive"))),
    );
    let (inactive, _) = h.response(200);
    h.quiet();
    let answer = sdp_of(&inactive.body);
    assert_eq!(
        answer.direction_of(&answer.media[0]),
        sdp::Direction::Inactive
    );
    // The caller's and the agent's offers are answered on their own legs
    // too: nothing is relayed in a mixed call.
    let hold = carrier_sdp(2, "sendonly");
    h.carrier_request(
        &two.carrier_ok,
        "INVITE",
        2,
        "",
        Some(("application/sdp", &hold)),
    );
    let (caller_held, _) = h.response(200);
    let answer = sdp_of(&caller_held.body);
    assert_eq!(
        answer.direction_of(&answer.media[0]),
        sdp::Direction::RecvOnly
    );
    h.quiet();
    // INFO goes to the application; REFER has nobody to transfer.
    h.teams_in_dialog(
        &two.agent.dialog(),
        "INFO",
        22,
        "",
        Some(("application/dtmf-relay", "Signal=7\r\nDuration=100\r\n")),
    );
    h.response(200);
    // It names the agent's leg, not the caller's.
    assert!(h.saw(|e| matches!(e,
        B2buaEvent::Info { call, leg, .. } if *call == two.call && *leg == two.agent.id)));
    assert!(!h.saw(|e| matches!(e,
        B2buaEvent::Info { leg, .. } if *leg == two.caller)));
    h.teams_in_dialog(
        &two.agent.dialog(),
        "REFER",
        23,
        "Refer-To: <sip:+14255550199@sip.pstnhub.microsoft.com;user=phone>\n",
        None,
    );
    h.response(403);
    h.quiet();
}

#[test]
fn a_bye_from_the_third_party_ends_only_its_leg() {
    let (mut h, media) = harness();
    let (two, third) = three_way(&mut h, "party-bye", "");
    h.events.clear();
    h.teams_in_dialog(&third.dialog(), "BYE", 30, "", None);
    h.response(200);
    h.quiet();
    assert_eq!(
        h.events,
        [B2buaEvent::PartyLeft {
            call: two.call,
            leg: third.id,
            reason: EndReason::Hangup(Party::Callee),
            at: h.now,
        }]
    );
    assert!(media.leg_ops().contains(&LegOp::Release(third.id)));
    assert!(!media.leg_ops().contains(&LegOp::Release(two.agent.id)));
    assert!(!media.leg_ops().contains(&LegOp::Release(two.caller)));
    assert_eq!(h.b2bua.call_count(), 1);
    // Caller and agent stay mixed until paired: a re-offer is answered
    // here, not relayed.
    h.teams_in_dialog(
        &two.agent.dialog(),
        "INVITE",
        31,
        "",
        Some(("application/sdp", &teams_sdp(2, "sendonly"))),
    );
    h.response(200);
    h.quiet();
    h.teams_in_dialog(&two.agent.dialog(), "ACK", 31, "", None);
    // Paired again: a BYE from one ends the other.
    h.b2bua
        .pair(two.call, two.caller, two.agent.id, h.now)
        .unwrap();
    assert_eq!(
        media.last_leg_op(),
        Some(LegOp::Bridge(two.caller, two.agent.id))
    );
    h.teams_in_dialog(&two.agent.dialog(), "BYE", 32, "", None);
    h.response(200);
    let (bye, _) = h.request(Method::Bye);
    assert_eq!(bye.headers.call_id().unwrap(), "party-bye");
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::Hangup(Party::Callee),
            ..
        })
    ));
    h.deliver(reply(&bye, 200, "", "", None), Harness::carrier());
    h.settle();
}

#[test]
fn when_the_caller_leaves_a_three_way_the_agent_and_the_third_party_stay() {
    let (mut h, media) = harness();
    let (two, third) = three_way(&mut h, "party-caller", "");
    h.events.clear();
    h.carrier_request(&two.carrier_ok, "BYE", 5, "", None);
    h.response(200);
    h.quiet();
    assert!(matches!(
        h.events.as_slice(),
        [B2buaEvent::PartyLeft { leg, reason: EndReason::Hangup(Party::Caller), .. }]
            if *leg == two.caller
    ));
    // The agent (not the original caller) and the third party talk.
    h.b2bua
        .pair(two.call, two.agent.id, third.id, h.now)
        .unwrap();
    assert_eq!(
        media.last_leg_op(),
        Some(LegOp::Bridge(two.agent.id, third.id))
    );
    // The third party's hold now reaches the agent.
    h.teams_in_dialog(
        &third.dialog(),
        "INVITE",
        40,
        "",
        Some(("application/sdp", &teams_sdp(2, "sendonly"))),
    );
    let (relayed, _) = h.request(Method::Invite);
    assert_eq!(
        relayed.headers.call_id().unwrap(),
        two.agent.invite.headers.call_id().unwrap()
    );
    let offer = sdp_of(&relayed.body);
    assert_eq!(
        offer.direction_of(&offer.media[0]),
        sdp::Direction::Inactive,
        "hold towards Teams is inactive"
    );
    h.deliver(
        reply(
            &relayed,
            200,
            "",
            TEAMS_DIALOG,
            Some(&teams_sdp(2, "inactive")),
        ),
        Harness::teams(),
    );
    h.request(Method::Ack);
    h.response(200);
    h.teams_in_dialog(&third.dialog(), "ACK", 40, "", None);
    // The third party hangs up: the agent gets BYE, the call ends.
    h.teams_in_dialog(&third.dialog(), "BYE", 41, "", None);
    h.response(200);
    let (bye, _) = h.request(Method::Bye);
    assert_eq!(
        bye.headers.call_id().unwrap(),
        two.agent.invite.headers.call_id().unwrap()
    );
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::Hangup(Party::Callee),
            ..
        })
    ));
    h.deliver(reply(&bye, 200, "", "", None), Harness::teams());
    h.settle();
}

#[test]
fn hanging_up_a_ringing_party_cancels_it_and_hanging_up_the_call_byes_every_leg() {
    let (mut h, _) = harness();
    let (two, third) = three_way(&mut h, "party-end", "");
    // A fourth party, still ringing, is cancelled alone.
    let fourth = h
        .b2bua
        .add_party(two.call, teams_user("+14255550125"), None, h.now)
        .unwrap();
    h.pump();
    let (invite, _) = h.request(Method::Invite);
    h.deliver(
        reply(&invite, 180, "fourth", TEAMS_DIALOG, None),
        Harness::teams(),
    );
    h.b2bua.hang_up_party(two.call, fourth, h.now).unwrap();
    h.pump();
    let (cancel, _) = h.request(Method::Cancel);
    assert_eq!(
        cancel.headers.call_id().unwrap(),
        invite.headers.call_id().unwrap()
    );
    h.quiet();
    assert!(h.saw(|e| matches!(e,
        B2buaEvent::DialFailed { leg, status, .. } if *leg == fourth && status.0 == 487)));
    h.deliver(reply(&cancel, 200, "", "", None), Harness::teams());
    h.deliver(reply(&invite, 487, "fourth", "", None), Harness::teams());
    h.request(Method::Ack);
    h.quiet();
    // The whole call: BYE to the caller, the agent and the third party.
    h.events.clear();
    h.b2bua.hang_up(two.call, h.now);
    h.pump();
    let mut ended = Vec::new();
    for _ in 0..3 {
        let (bye, _) = h.request(Method::Bye);
        ended.push(bye.headers.call_id().unwrap().to_owned());
        let source = if bye.headers.call_id().unwrap() == "party-end" {
            Harness::carrier()
        } else {
            Harness::teams()
        };
        h.deliver(reply(&bye, 200, "", "", None), source);
    }
    h.quiet();
    ended.sort();
    let mut expected = vec![
        "party-end".to_owned(),
        two.agent.invite.headers.call_id().unwrap().to_owned(),
        third.invite.headers.call_id().unwrap().to_owned(),
    ];
    expected.sort();
    assert_eq!(ended, expected);
    assert!(matches!(
        h.events.as_slice(),
        [B2buaEvent::CallEnded {
            reason: EndReason::Local,
            ..
        }]
    ));
    h.settle();
}

#[test]
fn hanging_up_an_answered_party_sends_bye_and_the_last_one_alone_is_back_in_the_flow() {
    let (mut h, media) = harness();
    let (two, third) = three_way(&mut h, "party-drop", "");
    h.events.clear();
    h.b2bua
        .hang_up_party(two.call, two.agent.id, h.now)
        .unwrap();
    h.pump();
    let (bye, _) = h.request(Method::Bye);
    assert_eq!(
        bye.headers.call_id().unwrap(),
        two.agent.invite.headers.call_id().unwrap()
    );
    h.quiet();
    assert!(matches!(h.events.as_slice(),
        [B2buaEvent::PartyLeft { leg, reason: EndReason::Local, .. }] if *leg == two.agent.id));
    assert!(media.leg_ops().contains(&LegOp::Release(two.agent.id)));
    h.deliver(reply(&bye, 200, "", "", None), Harness::teams());
    // The third party hangs up too: the caller is alone with switchboard
    // again and may be dialled for as in the flow.
    h.teams_in_dialog(&third.dialog(), "BYE", 50, "", None);
    h.response(200);
    h.quiet();
    let again = h
        .b2bua
        .dial(two.call, teams_user("+14255550125"), h.now)
        .unwrap();
    h.pump();
    let (invite, _) = h.request(Method::Invite);
    answer_teams(&mut h, again, invite, "again", "");
    assert_eq!(media.last_leg_op(), Some(LegOp::Bridge(two.caller, again)));
    // The caller leaving now ends the call.
    h.carrier_request(&two.carrier_ok, "BYE", 6, "", None);
    h.response(200);
    let (bye, _) = h.request(Method::Bye);
    h.deliver(reply(&bye, 200, "", "", None), Harness::teams());
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::Hangup(Party::Caller),
            ..
        })
    ));
    h.settle();
}

#[test]
fn a_party_session_refresh_glare_and_expiry_stay_on_its_leg() {
    let (mut h, _) = harness();
    // The third party makes us the refresher at 45 s.
    let (two, third) = three_way(&mut h, "party-timer", "Session-Expires: 90;refresher=uac\n");
    h.advance(Duration::from_secs(46));
    let (refresh, _) = h.request(Method::Invite);
    assert_eq!(
        refresh.headers.call_id().unwrap(),
        third.invite.headers.call_id().unwrap()
    );
    h.quiet();
    // The third party re-offers meanwhile: glare, 491 (RFC 3261 §14.2).
    h.teams_in_dialog(
        &third.dialog(),
        "INVITE",
        60,
        "",
        Some(("application/sdp", &teams_sdp(2, "sendonly"))),
    );
    h.response(491);
    h.quiet();
    h.teams_in_dialog(&third.dialog(), "ACK", 60, "", None);
    h.deliver(
        reply(
            &refresh,
            200,
            "",
            &format!("{TEAMS_DIALOG}Session-Expires: 90;refresher=uas\n"),
            Some(&teams_sdp(1, "sendrecv")),
        ),
        Harness::teams(),
    );
    h.request(Method::Ack);
    h.quiet();
    // Now Teams must refresh, and does not: only its leg ends.
    h.events.clear();
    h.advance(Duration::from_secs(70));
    let (bye, _) = h.request(Method::Bye);
    assert_eq!(
        bye.headers.call_id().unwrap(),
        third.invite.headers.call_id().unwrap()
    );
    h.quiet();
    assert!(matches!(h.events.as_slice(),
        [B2buaEvent::PartyLeft { leg, reason: EndReason::SessionExpired(Party::Callee), .. }]
            if *leg == third.id));
    assert_eq!(h.b2bua.call_count(), 1);
    h.b2bua
        .pair(two.call, two.caller, two.agent.id, h.now)
        .unwrap();
}

#[test]
fn party_operations_refuse_what_they_cannot_do() {
    let (mut h, _) = harness();
    let (two, third) = three_way(&mut h, "party-errors", "");
    let nobody = LegId(999_999);
    assert_eq!(
        h.b2bua.hang_up_party(CallId(999_999), two.caller, h.now),
        Err(PartyError::NoSuchCall)
    );
    assert_eq!(
        h.b2bua.hang_up_party(two.call, nobody, h.now),
        Err(PartyError::NoSuchLeg(nobody))
    );
    assert_eq!(
        h.b2bua.pair(two.call, third.id, third.id, h.now),
        Err(PartyError::SameLeg)
    );
    assert_eq!(
        h.b2bua.pair(two.call, two.caller, nobody, h.now),
        Err(PartyError::NoSuchLeg(nobody))
    );
    assert_eq!(
        h.b2bua.pair(two.call, two.caller, third.id, h.now),
        Err(PartyError::OthersUp)
    );
    let ringing = h
        .b2bua
        .add_party(two.call, teams_user("+14255550125"), None, h.now)
        .unwrap();
    assert_eq!(
        h.b2bua.pair(two.call, two.caller, ringing, h.now),
        Err(PartyError::NotUp(ringing))
    );
    assert_eq!(
        h.b2bua
            .add_party(CallId(999_999), teams_user("+14255550125"), None, h.now),
        Err(DialError::NoSuchCall)
    );
    // dial keeps its meaning: only for a caller alone in the flow.
    assert_eq!(
        h.b2bua.dial(two.call, teams_user("+14255550125"), h.now),
        Err(DialError::NotLocal)
    );
    // An ordinary call is its parties' business.
    h.out.clear();
    let mut plain = Harness::new();
    plain.establish("ordinary");
    let call = plain.started_call();
    assert_eq!(
        plain
            .b2bua
            .add_party(call, teams_user("+14255550125"), None, plain.now),
        Err(DialError::NotLocal)
    );
    assert_eq!(
        plain.b2bua.hang_up_party(call, LegId(1), plain.now),
        Err(PartyError::NotLocal)
    );
    assert_eq!(
        plain.b2bua.pair(call, LegId(1), LegId(2), plain.now),
        Err(PartyError::NotLocal)
    );
    plain.quiet();
}

#[test]
fn an_originated_call_to_a_teams_user_then_dials_the_customer() {
    let (mut h, media) = harness();
    let did = E164::parse("+12065550102").unwrap();
    let (call, leg) = h
        .b2bua
        .originate(&contoso(), teams_user("+14255550123"), did, h.now)
        .unwrap();
    h.pump();
    assert_eq!(h.b2bua.gate().active_calls(), 1);
    let (invite, _) = h.request(Method::Invite);
    assert_eq!(
        invite.uri.to_string(),
        "sip:+14255550123@sip.pstnhub.microsoft.com;user=phone"
    );
    assert_eq!(
        invite.headers.get_str(&HeaderName::To).unwrap(),
        "<sip:+14255550123@sip.pstnhub.microsoft.com;user=phone>"
    );
    let from = invite.headers.from().unwrap();
    assert_eq!(
        from.uri.to_string(),
        "sip:+12065550102@contoso.customers.example.net;user=phone"
    );
    let contact = invite.headers.get_str(&HeaderName::Contact).unwrap();
    assert!(
        contact.contains("contoso.customers.example.net"),
        "{contact}"
    );
    assert!(invite.headers.get(&HeaderName::from("X-MS-SBC")).is_some());
    let offer = sdp_of(&invite.body);
    assert_eq!(offer.media[0].proto, "RTP/SAVP");
    assert!(offer.media[0].cryptos().next().is_some());
    assert!(offer.media[0].rtcp_mux());
    let formats: Vec<u8> = offer.media[0].payload_types().collect();
    assert_eq!(formats, [0, 8, 101]);
    assert_eq!(offer.connection.as_ref().unwrap().address, "198.51.100.2");
    assert!(h.saw(|e| matches!(e,
        B2buaEvent::CallStarted { call: c, from: LegPeer::Local, to: LegPeer::Teams(_), .. }
            if *c == call)));

    // The agent answers with PCMA: that is the call's codec.
    h.deliver(
        reply(&invite, 180, "agent", TEAMS_DIALOG, None),
        Harness::teams(),
    );
    assert!(h.saw(|e| matches!(e,
        B2buaEvent::DialProgress { leg: l, status, .. } if *l == leg && status.0 == 180)));
    let pcma = teams_sdp(1, "sendrecv").replace("RTP/SAVP 0 8 101", "RTP/SAVP 8 101");
    let ok = reply(&invite, 200, "agent", TEAMS_DIALOG, Some(&pcma));
    h.deliver(ok.clone(), Harness::teams());
    h.request(Method::Ack);
    h.quiet();
    assert!(h.saw(|e| matches!(e,
        B2buaEvent::DialAnswered { leg: l, codec: Some(codec), .. }
            if *l == leg && codec.encoding == "PCMA" && codec.telephone_event == Some(101))));
    // A re-offer listing PCMU first keeps the call in PCMA.
    let agent = TeamsLeg {
        id: leg,
        invite,
        ok,
    };
    h.teams_in_dialog(
        &agent.dialog(),
        "INVITE",
        8,
        "",
        Some(("application/sdp", &teams_sdp(2, "sendrecv"))),
    );
    let (reanswer, _) = h.response(200);
    h.quiet();
    let formats: Vec<u8> = sdp_of(&reanswer.body).media[0].payload_types().collect();
    assert_eq!(formats, [8, 101]);
    h.teams_in_dialog(&agent.dialog(), "ACK", 8, "", None);
    // Then the customer, through the carrier trunk, in PCMA too, seeing
    // the tenant's number (not the agent's).
    let customer = E164::parse("+18005550100").unwrap();
    let did = E164::parse("+12065550102").unwrap();
    let second = h
        .b2bua
        .dial_as(call, DialTarget::Pstn(customer), Some(did), h.now)
        .unwrap();
    h.pump();
    let (pstn, _) = h.request(Method::Invite);
    assert_eq!(pstn.uri.to_string(), "sip:18005550100@192.0.2.10:5060");
    let from = pstn.headers.from().unwrap();
    assert_eq!(from.uri.to_string(), "sip:12065550102@203.0.113.1:5060");
    let offer = sdp_of(&pstn.body);
    assert_eq!(offer.media[0].proto, "RTP/AVP");
    let formats: Vec<u8> = offer.media[0].payload_types().collect();
    assert_eq!(formats, [8, 101]);
    h.deliver(
        reply(
            &pstn,
            200,
            "far",
            "Contact: <sip:far@192.0.2.10>\n",
            Some(&CARRIER_SDP.replace("RTP/AVP 0 8 101", "RTP/AVP 8 101")),
        ),
        Harness::carrier(),
    );
    h.request(Method::Ack);
    assert!(h.saw(|e| matches!(e,
        B2buaEvent::DialAnswered { leg: l, .. } if *l == second)));
    assert_eq!(media.last_leg_op(), Some(LegOp::Bridge(leg, second)));
    // The agent hangs up: the customer gets BYE, the call ends.
    h.teams_in_dialog(&agent.dialog(), "BYE", 9, "", None);
    h.response(200);
    let (bye, _) = h.request(Method::Bye);
    assert_eq!(
        bye.headers.call_id().unwrap(),
        pstn.headers.call_id().unwrap()
    );
    assert_eq!(agent.id, leg);
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::Hangup(Party::Caller),
            answered_at: Some(_),
            ..
        })
    ));
    h.deliver(reply(&bye, 200, "", "", None), Harness::carrier());
    h.settle();
}

#[test]
fn an_originated_call_to_the_pstn_goes_out_the_tenants_trunk_and_can_add_a_party() {
    let (mut h, media) = harness();
    let did = E164::parse("+12065550102").unwrap();
    let customer = E164::parse("+18005550100").unwrap();
    let (call, leg) = h
        .b2bua
        .originate(&contoso(), DialTarget::Pstn(customer), did, h.now)
        .unwrap();
    h.pump();
    let (invite, hop) = h.request(Method::Invite);
    assert_eq!(invite.uri.to_string(), "sip:18005550100@192.0.2.10:5060");
    assert_eq!(resolve_uri(&hop), "sip:18005550100@192.0.2.10:5060");
    assert_eq!(
        invite.headers.get_str(&HeaderName::To).unwrap(),
        "<sip:18005550100@192.0.2.10:5060>"
    );
    let from = invite.headers.from().unwrap();
    assert_eq!(from.uri.to_string(), "sip:12065550102@203.0.113.1:5060");
    let contact = invite.headers.get_str(&HeaderName::Contact).unwrap();
    assert_eq!(contact, "<sip:+12065550102@203.0.113.1:5060>");
    assert_eq!(
        invite.headers.get_str(&HeaderName::from("X-Provider")),
        Some("example")
    );
    let offer = sdp_of(&invite.body);
    assert_eq!(offer.media[0].proto, "RTP/AVP");
    assert!(offer.media[0].cryptos().next().is_none());
    let formats: Vec<u8> = offer.media[0].payload_types().collect();
    assert_eq!(formats, [0, 8, 101]);
    assert!(h.saw(|e| matches!(
        e,
        B2buaEvent::CallStarted {
            from: LegPeer::Local,
            to: LegPeer::Trunk(_),
            ..
        }
    )));
    // Not answered yet: no party can join.
    assert_eq!(
        h.b2bua
            .add_party(call, teams_user("+14255550123"), None, h.now),
        Err(DialError::NotAnswered)
    );
    let ok = reply(
        &invite,
        200,
        "customer",
        "Contact: <sip:customer@192.0.2.10>\n",
        Some(CARRIER_SDP),
    );
    h.deliver(ok.clone(), Harness::carrier());
    h.request(Method::Ack);
    assert!(h.saw(|e| matches!(e,
        B2buaEvent::DialAnswered { leg: l, codec: Some(codec), .. }
            if *l == leg && codec.encoding == "PCMU")));
    // An agent joins as a party: From is the customer's number, the
    // codec the customer answered with.
    let agent = h
        .b2bua
        .add_party(call, teams_user("+14255550123"), None, h.now)
        .unwrap();
    h.pump();
    let (agent_invite, _) = h.request(Method::Invite);
    let from = agent_invite.headers.get_str(&HeaderName::From).unwrap();
    assert!(from.contains("+18005550100"), "{from}");
    let formats: Vec<u8> = sdp_of(&agent_invite.body).media[0]
        .payload_types()
        .collect();
    assert_eq!(formats, [0, 101]);
    answer_teams(&mut h, agent, agent_invite, "agent", "");
    assert!(!media
        .leg_ops()
        .iter()
        .any(|op| matches!(op, LegOp::Bridge(..))));
    // The customer hangs up: the agent stays, alone with switchboard.
    h.events.clear();
    let bye = format!(
        "BYE sip:+12065550102@203.0.113.1:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-cust-bye
Max-Forwards: 70
From: {}
To: {}
Call-ID: {}
CSeq: 2 BYE

",
        ok.headers.get_str(&HeaderName::To).unwrap(),
        invite.headers.get_str(&HeaderName::From).unwrap(),
        invite.headers.call_id().unwrap()
    );
    h.send(&bye, Harness::carrier());
    h.response(200);
    h.quiet();
    assert!(matches!(h.events.as_slice(),
        [B2buaEvent::PartyLeft { leg: l, reason: EndReason::Hangup(Party::Caller), .. }] if *l == leg));
    h.b2bua.hang_up(call, h.now);
    h.pump();
    let (bye, _) = h.request(Method::Bye);
    h.deliver(reply(&bye, 200, "", "", None), Harness::teams());
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::Local,
            ..
        })
    ));
    h.settle();
}

#[test]
fn a_failed_originated_call_reports_dial_failed_then_call_ended() {
    let (mut h, _) = harness();
    let did = E164::parse("+12065550102").unwrap();
    let (call, leg) = h
        .b2bua
        .originate(&contoso(), teams_user("+14255550123"), did.clone(), h.now)
        .unwrap();
    h.pump();
    let (invite, _) = h.request(Method::Invite);
    h.events.clear();
    h.deliver(reply(&invite, 486, "busy", "", None), Harness::teams());
    h.request(Method::Ack);
    h.quiet();
    assert_eq!(
        h.events,
        [
            B2buaEvent::DialFailed {
                call,
                leg,
                status: StatusCode(486),
                at: h.now,
            },
            B2buaEvent::CallEnded {
                call,
                reason: EndReason::Rejected(StatusCode(486)),
                answered_at: None,
                at: h.now,
            },
        ]
    );
    assert_eq!(h.b2bua.gate().active_calls(), 0);
    h.settle();
    // Cancelled by the application while it rings: 487, CANCEL.
    let (call, leg) = h
        .b2bua
        .originate(&contoso(), teams_user("+14255550123"), did.clone(), h.now)
        .unwrap();
    h.pump();
    let (invite, _) = h.request(Method::Invite);
    h.deliver(
        reply(&invite, 180, "ring", TEAMS_DIALOG, None),
        Harness::teams(),
    );
    h.events.clear();
    h.b2bua.hang_up_party(call, leg, h.now).unwrap();
    h.pump();
    let (cancel, _) = h.request(Method::Cancel);
    assert!(matches!(
        h.events.as_slice(),
        [
            B2buaEvent::DialFailed {
                status: StatusCode(487),
                ..
            },
            B2buaEvent::CallEnded {
                reason: EndReason::Local,
                ..
            },
        ]
    ));
    h.deliver(reply(&cancel, 200, "", "", None), Harness::teams());
    h.deliver(reply(&invite, 487, "ring", "", None), Harness::teams());
    h.request(Method::Ack);
    h.settle();
    // Refused before anything is sent.
    assert_eq!(
        h.b2bua.originate(
            &TenantName::new("fabrikam"),
            teams_user("+14255550123"),
            did.clone(),
            h.now
        ),
        Err(DialError::UnknownTenant)
    );
    h.quiet();
}

#[test]
fn an_originated_call_that_rings_out_ends_with_no_answer() {
    let (mut h, _) = harness();
    let did = E164::parse("+12065550102").unwrap();
    let (call, leg) = h
        .b2bua
        .originate(&contoso(), teams_user("+14255550123"), did, h.now)
        .unwrap();
    h.pump();
    let (invite, _) = h.request(Method::Invite);
    h.deliver(
        reply(&invite, 180, "ring", TEAMS_DIALOG, None),
        Harness::teams(),
    );
    h.events.clear();
    h.advance(Duration::from_secs(181));
    let (cancel, _) = h.request(Method::Cancel);
    assert!(matches!(h.events.as_slice(), [
        B2buaEvent::DialFailed { call: c, leg: l, status: StatusCode(480), .. },
        B2buaEvent::CallEnded { reason: EndReason::NoAnswer, answered_at: None, .. },
    ] if *c == call && *l == leg));
    h.deliver(reply(&cancel, 200, "", "", None), Harness::teams());
    h.deliver(reply(&invite, 487, "ring", "", None), Harness::teams());
    h.request(Method::Ack);
    h.settle();
}

#[test]
fn originated_calls_count_against_the_call_limits() {
    let (mut h, _) = Harness::recorded(&edit(
        &flow_config(),
        "max_concurrent_calls = 10",
        "max_concurrent_calls = 1",
    ));
    let did = E164::parse("+12065550102").unwrap();
    h.b2bua
        .originate(&contoso(), teams_user("+14255550123"), did.clone(), h.now)
        .unwrap();
    h.pump();
    assert_eq!(h.b2bua.gate().active_calls(), 1);
    assert_eq!(
        h.b2bua
            .originate(&contoso(), teams_user("+14255550124"), did, h.now),
        Err(DialError::CallLimit)
    );
    assert_eq!(
        h.stats
            .rejected(crate::stats::RejectReason::NodeConcurrentLimit),
        1
    );
    let (invite, _) = h.request(Method::Invite);
    h.quiet();
    // A number the tenant's dial plan refuses is not admitted at all.
    let barred = E164::parse("+19005550100").unwrap();
    let mut barring = Harness::with(
        &with_dial_plan_deny(&flow_config(), "+1900"),
        B2buaSettings::default(),
    );
    let did = E164::parse("+12065550102").unwrap();
    assert!(matches!(
        barring
            .b2bua
            .originate(&contoso(), DialTarget::Pstn(barred), did, barring.now),
        Err(DialError::Refused(_))
    ));
    assert_eq!(barring.b2bua.gate().active_calls(), 0);
    drop(invite);
}
