//! A call switchboard answered itself rings an agent's Teams user.

use super::*;
use crate::{DialError, DialTarget};

#[test]
fn the_agent_is_rung_through_direct_routing_with_the_callers_codec() {
    let mut h = Harness::with(&flow_config(), B2buaSettings::default());
    let (carrier_ok, call, leg, invite) = h.dialled("dial-1");
    assert_rings_teams_user(&invite, "+14255550123", &carrier_ok);

    h.deliver(
        reply(&invite, 180, "agent-tag", TEAMS_DIALOG, None),
        Harness::teams(),
    );
    assert!(h.saw(|e| matches!(e,
        B2buaEvent::DialProgress { call: c, leg: l, status } if *c == call && *l == leg && status.0 == 180)));
    let answer = teams_sdp(1, "sendrecv").replace("RTP/SAVP 0 8 101", "RTP/SAVP 0 101");
    h.deliver(
        reply(&invite, 200, "agent-tag", TEAMS_DIALOG, Some(&answer)),
        Harness::teams(),
    );
    h.request(Method::Ack);
    assert!(h.saw(|e| matches!(e,
        B2buaEvent::DialAnswered { call: c, leg: l, .. } if *c == call && *l == leg)));
    // Nothing goes to the caller: it was answered long ago.
    h.quiet();

    // From now on the caller's re-offers go to the agent.
    let hold = carrier_sdp(2, "sendonly");
    h.carrier_request(
        &carrier_ok,
        "INVITE",
        2,
        "",
        Some(("application/sdp", &hold)),
    );
    let (reinvite, _) = h.request(Method::Invite);
    assert_eq!(
        reinvite.headers.call_id().unwrap(),
        invite.headers.call_id().unwrap()
    );
    h.deliver(
        reply(
            &reinvite,
            200,
            "",
            TEAMS_DIALOG,
            Some(&teams_sdp(2, "recvonly")),
        ),
        Harness::teams(),
    );
    h.request(Method::Ack);
    let (held, _) = h.response(200);
    h.carrier_request(&held, "ACK", 2, "", None);

    // The agent hangs up: the caller gets BYE, the call ends.
    let established = Established {
        teams_ok: reply(&invite, 200, "agent-tag", TEAMS_DIALOG, Some(&answer)),
        teams_invite: invite,
        carrier_ok,
    };
    h.teams_in_dialog(&established, "BYE", 9, "", None);
    h.response(200);
    let (carrier_bye, _) = h.request(Method::Bye);
    assert_eq!(carrier_bye.headers.call_id().unwrap(), "dial-1");
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::Hangup(Party::Callee),
            ..
        })
    ));
}

#[test]
fn a_busy_agent_leaves_the_caller_in_the_flow() {
    let mut h = Harness::with(&flow_config(), B2buaSettings::default());
    let (_, call, leg, invite) = h.dialled("dial-2");
    h.deliver(reply(&invite, 486, "agent-tag", "", None), Harness::teams());
    h.request(Method::Ack);
    assert!(h.saw(|e| matches!(e,
        B2buaEvent::DialFailed { call: c, leg: l, status, .. } if *c == call && *l == leg && status.0 == 486)));
    h.quiet();
    assert_eq!(h.b2bua.call_count(), 1, "the caller is still there");
    // The next agent can be tried, and the application can still end it.
    let again = h
        .b2bua
        .dial(call, teams_user("+14255550124"), h.now)
        .unwrap();
    assert_ne!(again, leg);
    h.pump();
    let (second, _) = h.request(Method::Invite);
    assert!(second.uri.to_string().starts_with("sip:+14255550124@"));
    h.b2bua.hang_up(call, h.now);
    h.pump();
    // The caller gets its BYE; the ringing leg's CANCEL waits for a
    // provisional response (RFC 3261 §9.1).
    let (bye, _) = h.request(Method::Bye);
    assert_eq!(bye.headers.call_id().unwrap(), "dial-2");
}

#[test]
fn cancelling_a_dial_sends_cancel_and_reports_487() {
    let mut h = Harness::with(&flow_config(), B2buaSettings::default());
    let (_, call, leg, invite) = h.dialled("dial-3");
    h.deliver(
        reply(&invite, 180, "agent-tag", TEAMS_DIALOG, None),
        Harness::teams(),
    );
    h.b2bua.cancel_dial(call, leg, h.now);
    h.pump();
    let (cancel, _) = h.request(Method::Cancel);
    assert_eq!(
        cancel.headers.call_id().unwrap(),
        invite.headers.call_id().unwrap()
    );
    assert!(h.saw(|e| matches!(e,
        B2buaEvent::DialFailed { leg: l, status, .. } if *l == leg && status.0 == 487)));
    // The agent's late 487 is absorbed.
    h.deliver(reply(&cancel, 200, "", "", None), Harness::teams());
    h.deliver(reply(&invite, 487, "agent-tag", "", None), Harness::teams());
    h.request(Method::Ack);
    h.quiet();
    assert_eq!(h.b2bua.call_count(), 1);
}

#[test]
fn with_two_agents_ringing_the_first_answer_wins() {
    let mut h = Harness::with(&flow_config(), B2buaSettings::default());
    let (_, call, first, first_invite) = h.dialled("dial-4");
    let second = h
        .b2bua
        .dial(call, teams_user("+14255550124"), h.now)
        .unwrap();
    h.pump();
    let (second_invite, _) = h.request(Method::Invite);
    for invite in [&first_invite, &second_invite] {
        h.deliver(
            reply(invite, 180, "t", TEAMS_DIALOG, None),
            Harness::teams(),
        );
    }
    h.deliver(
        reply(
            &second_invite,
            200,
            "t",
            TEAMS_DIALOG,
            Some(&teams_sdp(1, "sendrecv")),
        ),
        Harness::teams(),
    );
    h.request(Method::Ack);
    let (cancel, _) = h.request(Method::Cancel);
    assert_eq!(
        cancel.headers.call_id().unwrap(),
        first_invite.headers.call_id().unwrap()
    );
    assert!(h.saw(|e| matches!(e,
        B2buaEvent::DialAnswered { leg, .. } if *leg == second)));
    assert!(h.saw(|e| matches!(e,
        B2buaEvent::DialFailed { leg, status, .. } if *leg == first && status.0 == 487)));
    // No third dial once an agent is connected.
    assert_eq!(
        h.b2bua.dial(call, teams_user("+14255550123"), h.now),
        Err(DialError::NotLocal)
    );
}

#[test]
fn only_calls_waiting_in_a_flow_can_dial() {
    let mut h = Harness::new();
    h.establish("ordinary");
    let call = h.started_call();
    assert_eq!(
        h.b2bua.dial(call, teams_user("+14255550123"), h.now),
        Err(DialError::NotLocal)
    );
    assert_eq!(
        h.b2bua
            .dial(CallId(999_999), teams_user("+14255550123"), h.now),
        Err(DialError::NoSuchCall)
    );
}

#[test]
fn a_pstn_number_is_dialled_through_the_tenants_carrier_trunk() {
    let mut h = Harness::with(&flow_config(), B2buaSettings::default());
    let (_, call) = h.flow_call("dial-pstn");
    h.quiet();
    let number = E164::parse("+18005550100").unwrap();
    let leg = h.b2bua.dial(call, DialTarget::Pstn(number), h.now).unwrap();
    h.pump();
    let (invite, hop) = h.request(Method::Invite);
    // The carrier's national format, to its first target, plain RTP.
    assert_eq!(invite.uri.to_string(), "sip:18005550100@192.0.2.10:5060");
    assert_eq!(resolve_uri(&hop), "sip:18005550100@192.0.2.10:5060");
    let offer = sdp_of(&invite.body);
    assert_eq!(offer.media[0].proto, "RTP/AVP");
    assert!(offer.media[0].cryptos().next().is_none());
    h.deliver(
        reply(
            &invite,
            200,
            "far",
            "Contact: <sip:far@192.0.2.10>\n",
            Some(CARRIER_SDP),
        ),
        Harness::carrier(),
    );
    h.request(Method::Ack);
    assert!(h.saw(|e| matches!(e,
        B2buaEvent::DialAnswered { leg: l, .. } if *l == leg)));
    // A number the tenant's dial plan refuses.
    let barring = with_dial_plan_deny(&flow_config(), "+1900");
    let mut h = Harness::with(&barring, B2buaSettings::default());
    let (_, call) = h.flow_call("dial-barred");
    let barred = E164::parse("+19005550100").unwrap();
    assert!(matches!(
        h.b2bua.dial(call, DialTarget::Pstn(barred), h.now),
        Err(DialError::Refused(_))
    ));
}

#[test]
fn an_agent_refer_to_a_flow_number_puts_the_caller_back_in_the_contact_center() {
    let mut h = Harness::with(&flow_config(), B2buaSettings::default());
    let (carrier_ok, call, leg, invite) = h.dialled("dial-back");
    let answer = teams_sdp(1, "sendrecv");
    let agent_ok = reply(&invite, 200, "agent-tag", TEAMS_DIALOG, Some(&answer));
    h.deliver(agent_ok.clone(), Harness::teams());
    h.request(Method::Ack);
    h.events.clear();
    let established = Established {
        teams_ok: agent_ok,
        teams_invite: invite,
        carrier_ok: carrier_ok.clone(),
    };
    // The agent transfers the caller to the contact-center number.
    h.teams_in_dialog(
        &established,
        "REFER",
        7,
        "Refer-To: <sip:+12065550102@sip.pstnhub.microsoft.com;user=phone>\n",
        None,
    );
    h.response(202);
    let (notify, _) = h.request(Method::Notify);
    assert_eq!(String::from_utf8_lossy(&notify.body), "SIP/2.0 200 OK\r\n");
    let (bye, _) = h.request(Method::Bye);
    assert_eq!(
        bye.headers.call_id().unwrap(),
        established.teams_invite.headers.call_id().unwrap(),
        "the agent's leg ends"
    );
    let started = h.events.iter().find_map(|e| match e {
        B2buaEvent::LocalCallStarted {
            call, flow, did, ..
        } => Some((*call, flow.clone(), did.clone())),
        _ => None,
    });
    let (again, flow, did) = started.expect("the call is announced again");
    assert_eq!(again, call);
    assert_eq!(flow, "contoso-main");
    assert_eq!(did.as_str(), "+12065550102");
    // switchboard answers for the caller again: its INFO is ours, and a
    // new agent can be dialled.
    h.carrier_request(
        &carrier_ok,
        "INFO",
        5,
        "",
        Some(("application/dtmf-relay", "Signal=1\r\nDuration=100\r\n")),
    );
    h.response(200);
    assert!(h.saw(|e| matches!(e, B2buaEvent::Info { .. })));
    let next = h
        .b2bua
        .dial(call, teams_user("+14255550124"), h.now)
        .unwrap();
    assert_ne!(next, leg);
}
