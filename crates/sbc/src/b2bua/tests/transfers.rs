//! REFER from Teams and INVITE with Replaces.

use super::*;

const TARGET_MRI: &str = "8:orgid:2cbad4c0-e1c4-4cde-8f9f-0a6f2a5c7b4e";

/// A message's body as text.
fn body(request: &Request) -> String {
    String::from_utf8(request.body.to_vec()).unwrap()
}

#[test]
fn refer_to_another_teams_user_keeps_x_m_and_x_t() {
    let mut h = Harness::new();
    let call = h.establish("c-refer");
    let refer_to =
        format!("<sip:sip.pstnhub.microsoft.com;x-m={TARGET_MRI};x-t={TENANT_ID};user=phone>");
    let referred_by =
        format!("<sip:+14255550123@sip.pstnhub.microsoft.com;x-m=8:orgid:aaaa;x-t={TENANT_ID}>");
    h.teams_in_dialog(
        &call,
        "REFER",
        1,
        &format!("Refer-To: {refer_to}\nReferred-By: {referred_by}\n"),
        None,
    );
    let (accepted, _) = h.response(202);
    assert_eq!(accepted.headers.cseq().unwrap().method, Method::Refer);
    let (trying, hop) = h.request(Method::Notify);
    assert_eq!(
        resolve_uri(&hop),
        "sip:sip-du-a-us.pstnhub.microsoft.com:5061;transport=tls;lr"
    );
    assert_eq!(trying.headers.get_str(&HeaderName::Event), Some("refer"));
    assert!(trying
        .headers
        .get_str(&HeaderName::SubscriptionState)
        .unwrap()
        .starts_with("active"));
    assert_eq!(
        trying.headers.get_str(&HeaderName::ContentType),
        Some("message/sipfrag;version=2.0")
    );
    assert_eq!(body(&trying), "SIP/2.0 100 Trying\r\n");
    h.deliver(reply(&trying, 200, "", "", None), Harness::teams());

    // The new INVITE goes back into Teams with x-m and x-t kept.
    let (invite, hop) = h.request(Method::Invite);
    assert_eq!(
        invite.uri.as_str(),
        format!("sip:sip.pstnhub.microsoft.com;x-m={TARGET_MRI};x-t={TENANT_ID};user=phone")
    );
    assert_eq!(
        resolve_uri(&hop),
        "sip:sip.pstnhub.microsoft.com:5061;transport=tls"
    );
    assert_ne!(
        invite.headers.call_id().unwrap(),
        call.teams_invite.headers.call_id().unwrap()
    );
    assert_eq!(
        invite.headers.get_str(&HeaderName::ReferredBy),
        Some(referred_by.as_str())
    );
    assert_eq!(invite.headers.get(&HeaderName::Replaces), None);
    assert_eq!(
        invite.headers.from().unwrap().uri.as_str(),
        "sip:+12065550199@contoso.customers.example.net;user=phone"
    );
    assert_eq!(
        invite.headers.get_str(&HeaderName::Contact),
        Some("<sip:+12065550199@contoso.customers.example.net:5061;transport=tls>")
    );
    let offer = sdp_of(&invite.body);
    assert_eq!(offer.media[0].proto, "RTP/SAVP");
    assert_eq!(
        offer.direction_of(&offer.media[0]),
        sdp::Direction::SendRecv
    );
    assert!(!wire_text(invite.clone()).contains("192.0.2."));

    // The target answers: ACK, final NOTIFY, BYE of the old leg, and the
    // carrier is re-offered the new leg's media.
    let new_dialog = "Contact: <sip:api-du-c.pstnhub.microsoft.com:443;transport=tls;x-i=new>
Record-Route: <sip:sip-du-b-us.pstnhub.microsoft.com:5061;transport=tls;lr>
";
    h.deliver(
        reply(
            &invite,
            200,
            "new-tag",
            new_dialog,
            Some(&teams_sdp(7, "sendrecv")),
        ),
        Harness::teams(),
    );
    let (ack, hop) = h.request(Method::Ack);
    assert_eq!(
        ack.headers.call_id().unwrap(),
        invite.headers.call_id().unwrap()
    );
    assert_eq!(
        resolve_uri(&hop),
        "sip:sip-du-b-us.pstnhub.microsoft.com:5061;transport=tls;lr"
    );
    let (done, _) = h.request(Method::Notify);
    assert_eq!(body(&done), "SIP/2.0 200 OK\r\n");
    assert!(done
        .headers
        .get_str(&HeaderName::SubscriptionState)
        .unwrap()
        .starts_with("terminated"));
    let (bye, _) = h.request(Method::Bye);
    assert_eq!(
        bye.headers.call_id().unwrap(),
        call.teams_invite.headers.call_id().unwrap()
    );
    let (reinvite, hop) = h.request(Method::Invite);
    assert_eq!(resolve_uri(&hop), "sip:2065550199@192.0.2.10:5060");
    assert_eq!(reinvite.headers.call_id().unwrap(), "c-refer");
    let reoffer = sdp_of(&reinvite.body);
    assert_eq!(reoffer.media[0].proto, "RTP/AVP");
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallTransferred {
            party: Party::Callee,
            to: LegPeer::Teams(_),
            ..
        })
    ));
    h.quiet();
    h.deliver(
        reply(
            &reinvite,
            200,
            "",
            "Contact: <sip:2065550199@192.0.2.10:5060>\n",
            Some(CARRIER_SDP),
        ),
        Harness::carrier(),
    );
    h.request(Method::Ack);
    h.quiet();

    // The carrier hangs up: the BYE goes to the new Teams leg.
    h.carrier_in_dialog(&call, "BYE", 3, "", None);
    h.response(200);
    let (bye, hop) = h.request(Method::Bye);
    assert_eq!(
        bye.headers.call_id().unwrap(),
        invite.headers.call_id().unwrap()
    );
    assert_eq!(
        resolve_uri(&hop),
        "sip:sip-du-b-us.pstnhub.microsoft.com:5061;transport=tls;lr"
    );
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::Hangup(Party::Caller),
            ..
        })
    ));
    h.deliver(reply(&bye, 200, "", "", None), Harness::teams());
    h.settle();
}

#[test]
fn refer_to_a_pstn_number_goes_out_the_tenants_trunk() {
    let mut h = Harness::new();
    let call = h.establish("c-refer-pstn");
    let (invite, hop) = h.teams_refer(
        &call,
        1,
        "<sip:+13125550142@sip.pstnhub.microsoft.com;user=phone>",
    );
    assert_eq!(invite.uri.as_str(), "sip:13125550142@192.0.2.10:5060");
    assert_eq!(resolve_uri(&hop), "sip:13125550142@192.0.2.10:5060");
    assert_eq!(
        invite.headers.from().unwrap().uri.as_str(),
        "sip:12065550199@203.0.113.1:5060"
    );
    assert_eq!(
        invite.headers.get_str(&HeaderName::from("X-Provider")),
        Some("example")
    );
    let offer = sdp_of(&invite.body);
    assert_eq!(offer.media[0].proto, "RTP/AVP");
    // Busy: the NOTIFY says so and the call stays with Teams.
    h.deliver(reply(&invite, 486, "x", "", None), Harness::carrier());
    h.request(Method::Ack);
    let (notify, _) = h.request(Method::Notify);
    assert_eq!(body(&notify), "SIP/2.0 486 Busy Here\r\n");
    h.quiet();
    assert_eq!(h.b2bua.call_count(), 1);
    // A second REFER succeeds.
    let (invite, _) = h.teams_refer(
        &call,
        2,
        "<sip:+13125550142@sip.pstnhub.microsoft.com;user=phone>",
    );
    h.deliver(
        reply(
            &invite,
            200,
            "y",
            "Contact: <sip:13125550142@192.0.2.10:5060>\n",
            Some(CARRIER_SDP),
        ),
        Harness::carrier(),
    );
    h.request(Method::Ack);
    let (notify, _) = h.request(Method::Notify);
    assert_eq!(body(&notify), "SIP/2.0 200 OK\r\n");
    h.request(Method::Bye);
    h.request(Method::Invite);
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallTransferred {
            to: LegPeer::Trunk(_),
            ..
        })
    ));
}

#[test]
fn refer_to_another_tenant_is_refused() {
    let mut h = Harness::new();
    let call = h.establish("c-refer-other");
    h.teams_in_dialog(
        &call,
        "REFER",
        1,
        &format!("Refer-To: <sip:sip.pstnhub.microsoft.com;x-m={TARGET_MRI};x-t=00000000-0000-0000-0000-000000000000>\n"),
        None,
    );
    h.response(403);
    h.quiet();
    // A carrier cannot make us transfer.
    h.carrier_in_dialog(
        &call,
        "REFER",
        2,
        "Refer-To: <sip:+13125550142@192.0.2.10>\n",
        None,
    );
    h.response(403);
    h.quiet();
}

#[test]
fn invite_with_replaces_takes_over_the_teams_leg() {
    let mut h = Harness::new();
    let call = h.establish("c-replaces");
    let old_call_id = call.teams_invite.headers.call_id().unwrap().to_owned();
    let our_tag = call
        .teams_invite
        .headers
        .from()
        .unwrap()
        .tag()
        .unwrap()
        .to_owned();
    let text = format!(
        "INVITE sip:+12065550199@contoso.customers.example.net:5061;transport=tls SIP/2.0
Via: SIP/2.0/TLS 52.114.16.5:41000;branch=z9hG4bK-replaces
Max-Forwards: 70
From: <sip:+14255550124@sip.pstnhub.microsoft.com;user=phone>;tag=rep-tag
To: <sip:+12065550199@contoso.customers.example.net>
Call-ID: replacing-call
CSeq: 1 INVITE
Contact: <sip:api-du-d.pstnhub.microsoft.com:443;transport=tls;x-i=rep>
Record-Route: <sip:sip-du-a-us.pstnhub.microsoft.com:5061;transport=tls;lr>
Replaces: {old_call_id};to-tag={our_tag};from-tag=teams-tag
Content-Type: application/sdp

{}",
        teams_sdp(1, "sendrecv")
    );
    let reinvite = h.place_call(&text, Harness::teams());
    assert_eq!(reinvite.headers.call_id().unwrap(), "c-replaces");
    assert_eq!(sdp_of(&reinvite.body).media[0].proto, "RTP/AVP");
    h.quiet();
    h.deliver(
        reply(
            &reinvite,
            200,
            "",
            "Contact: <sip:2065550199@192.0.2.10:5060>\n",
            Some(CARRIER_SDP),
        ),
        Harness::carrier(),
    );
    h.request(Method::Ack);
    let (ok, hop) = h.response(200);
    assert!(matches!(
        hop,
        NextHop::Reply {
            connection: Some(ConnectionId(7)),
            ..
        }
    ));
    assert_eq!(ok.headers.call_id().unwrap(), "replacing-call");
    assert!(ok.headers.to().unwrap().tag().is_some());
    assert_eq!(sdp_of(&ok.body).media[0].proto, "RTP/SAVP");
    let (bye, _) = h.request(Method::Bye);
    assert_eq!(bye.headers.call_id().unwrap(), old_call_id);
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallTransferred { .. })
    ));
    h.quiet();
    // Replaces naming no dialog: 481.
    let unknown = text
        .replace(&old_call_id, "no-such-call")
        .replace("replacing-call", "replacing-2")
        .replace("z9hG4bK-replaces", "z9hG4bK-replaces-2");
    h.send(&unknown, Harness::teams());
    h.response(100);
    h.response(481);
    h.quiet();
}

#[test]
fn teams_may_end_the_referrers_leg_before_the_target_answers() {
    let mut h = Harness::new();
    let call = h.establish("c-refer-bye");
    let (invite, _) = h.teams_refer(
        &call,
        1,
        &format!("<sip:sip.pstnhub.microsoft.com;x-m={TARGET_MRI};x-t={TENANT_ID}>"),
    );
    // Teams releases the referrer itself.
    h.teams_in_dialog(&call, "BYE", 2, "", None);
    h.response(200);
    h.quiet();
    assert_eq!(h.b2bua.call_count(), 1, "the carrier stays");
    h.deliver(
        reply(
            &invite,
            200,
            "n1",
            TEAMS_DIALOG,
            Some(&teams_sdp(3, "sendrecv")),
        ),
        Harness::teams(),
    );
    h.request(Method::Ack);
    // No NOTIFY or BYE on the gone leg; the carrier is re-offered.
    let (reinvite, _) = h.request(Method::Invite);
    assert_eq!(reinvite.headers.call_id().unwrap(), "c-refer-bye");
    h.quiet();
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallTransferred { .. })
    ));
}

#[test]
fn failed_transfer_after_the_referrer_left_ends_the_call() {
    let mut h = Harness::new();
    let call = h.establish("c-refer-fail");
    let (invite, _) = h.teams_refer(
        &call,
        1,
        &format!("<sip:sip.pstnhub.microsoft.com;x-m={TARGET_MRI};x-t={TENANT_ID}>"),
    );
    h.teams_in_dialog(&call, "BYE", 2, "", None);
    h.response(200);
    h.deliver(reply(&invite, 480, "n1", "", None), Harness::teams());
    h.request(Method::Ack);
    let (bye, _) = h.request(Method::Bye);
    assert_eq!(bye.headers.call_id().unwrap(), "c-refer-fail");
    h.quiet();
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::Hangup(Party::Callee),
            ..
        })
    ));
    assert_eq!(h.b2bua.gate().active_calls(), 0);
    h.settle();
}
