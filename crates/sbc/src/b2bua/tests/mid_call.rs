//! Requests within an established call, session timers, call duration.

use super::*;

#[test]
fn carrier_hold_reaches_teams_as_inactive() {
    let mut h = Harness::new();
    let call = h.establish("c-hold");
    let first_offer = sdp_of(&call.teams_invite.body);
    h.carrier_in_dialog(&call, "INVITE", 2, "", Some(&carrier_sdp(2, "sendonly")));
    let (reinvite, hop) = h.request(Method::Invite);
    assert_eq!(
        resolve_uri(&hop),
        "sip:sip-du-a-us.pstnhub.microsoft.com:5061;transport=tls;lr"
    );
    assert_eq!(reinvite.headers.cseq().unwrap().seq, 2);
    let offer = sdp_of(&reinvite.body);
    let text = offer.to_string();
    assert!(text.contains("a=inactive\r\n"), "{text}");
    assert!(
        !text.contains("sendonly") && !text.contains("0.0.0.0"),
        "{text}"
    );
    assert_eq!(offer.media[0].proto, "RTP/SAVP");
    assert_eq!(offer.origin.session_id, first_offer.origin.session_id);
    assert_eq!(
        offer.origin.session_version,
        first_offer.origin.session_version + 1
    );
    assert_eq!(
        offer.media[0].cryptos().next().unwrap().keys,
        first_offer.media[0].cryptos().next().unwrap().keys,
        "SRTP key kept"
    );
    assert_eq!(
        reinvite.headers.get_str(&HeaderName::from("X-MS-SBC")),
        Some("Switchboard/SBC/test")
    );
    // Teams answers inactive; the carrier gets its answer.
    h.deliver(
        reply(
            &reinvite,
            200,
            "",
            "Contact: <sip:api-du-b.pstnhub.microsoft.com:443;transport=tls;x-i=7c1e>\n",
            Some(&teams_sdp(2, "inactive")),
        ),
        Harness::teams(),
    );
    let (ack, _) = h.request(Method::Ack);
    assert_eq!(ack.headers.cseq().unwrap().seq, 2);
    let (ok, _) = h.response(200);
    assert_eq!(ok.headers.cseq().unwrap().method, Method::Invite);
    let answer = sdp_of(&ok.body);
    assert_eq!(answer.media[0].proto, "RTP/AVP");
    assert!(answer.to_string().contains("a=inactive"));
    h.quiet();
}

#[test]
fn teams_hold_and_info_are_relayed_to_the_carrier() {
    // A carrier that takes DTMF as INFO gets Teams' INFO as it is.
    let codecs = "codecs = [\"PCMU\", \"PCMA\", \"telephone-event\"]";
    let config = CONFIG.replace(codecs, &format!("{codecs}\ndtmf = \"info\""));
    let mut h = Harness::with(&config, B2buaSettings::default());
    let call = h.establish("c-thold");
    h.teams_in_dialog(
        &call,
        "INVITE",
        2,
        "",
        Some(("application/sdp", &teams_sdp(2, "inactive"))),
    );
    let (reinvite, hop) = h.request(Method::Invite);
    assert_eq!(resolve_uri(&hop), "sip:2065550199@192.0.2.10:5060");
    let offer = sdp_of(&reinvite.body);
    assert_eq!(offer.media[0].proto, "RTP/AVP");
    assert!(offer.to_string().contains("a=inactive"));
    // Glare: the carrier sends its own re-INVITE meanwhile and gets 491.
    h.carrier_in_dialog(&call, "INVITE", 2, "", Some(&carrier_sdp(2, "sendrecv")));
    h.response(491);
    h.deliver(
        reply(
            &reinvite,
            200,
            "",
            "Contact: <sip:2065550199@192.0.2.10:5060>\n",
            Some(&carrier_sdp(3, "inactive")),
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
    let answer = sdp_of(&ok.body);
    assert_eq!(answer.media[0].proto, "RTP/SAVP");
    assert_eq!(answer.media[0].cryptos().next().unwrap().tag, 2);
    h.quiet();
    h.teams_in_dialog(&call, "ACK", 2, "", None);
    h.quiet();

    // INFO (DTMF) from Teams reaches the carrier with its body.
    h.teams_in_dialog(
        &call,
        "INFO",
        3,
        "",
        Some(("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n")),
    );
    let (info, _) = h.request(Method::Info);
    assert_eq!(
        info.headers.get_str(&HeaderName::ContentType),
        Some("application/dtmf-relay")
    );
    assert_eq!(&info.body[..], b"Signal=5\r\nDuration=160\r\n");
    h.deliver(reply(&info, 200, "", "", None), Harness::carrier());
    let (ok, _) = h.response(200);
    assert_eq!(ok.headers.cseq().unwrap().method, Method::Info);
    h.quiet();

    // UPDATE from the carrier, refused by Teams: the status crosses.
    h.carrier_in_dialog(&call, "UPDATE", 3, "", Some(&carrier_sdp(4, "sendrecv")));
    let (update, _) = h.request(Method::Update);
    let refused = sdp_of(&update.body);
    h.deliver(reply(&update, 488, "", "", None), Harness::teams());
    h.response(488);
    h.quiet();
    // The refused offer changed nothing (RFC 3264 §8): the next offer
    // takes its version again.
    h.carrier_in_dialog(&call, "INVITE", 4, "", Some(&carrier_sdp(5, "sendrecv")));
    let (reinvite, _) = h.request(Method::Invite);
    let offer = sdp_of(&reinvite.body);
    assert_eq!(offer.origin.session_version, refused.origin.session_version);
    h.deliver(
        reply(
            &reinvite,
            200,
            "",
            "Contact: <sip:api-du-b.pstnhub.microsoft.com:443>\n",
            Some(&teams_sdp(3, "sendrecv")),
        ),
        Harness::teams(),
    );
    h.request(Method::Ack);
    h.response(200);
    h.quiet();
}

#[test]
fn we_refresh_the_carrier_leg_and_answer_teams_refreshes() {
    let mut h = Harness::new();
    let call = h.establish("c-refresh");
    // The carrier asked for no session timer: we granted 1800 s with us
    // as refresher.
    assert_eq!(
        call.carrier_ok.headers.get_str(&HeaderName::SessionExpires),
        Some("1800;refresher=uas")
    );
    h.advance(Duration::from_secs(899));
    h.quiet();
    h.advance(Duration::from_secs(1));
    let (refresh, hop) = h.request(Method::Invite);
    assert_eq!(resolve_uri(&hop), "sip:2065550199@192.0.2.10:5060");
    assert_eq!(
        refresh.headers.get_str(&HeaderName::SessionExpires),
        Some("1800;refresher=uac")
    );
    let offer = sdp_of(&refresh.body);
    let sent = sdp_of(&call.carrier_ok.body);
    assert_eq!(offer.origin, sent.origin, "no change, same version");
    h.deliver(
        reply(
            &refresh,
            200,
            "",
            "Session-Expires: 1800;refresher=uac\nContact: <sip:2065550199@192.0.2.10:5060>\n",
            Some(CARRIER_SDP),
        ),
        Harness::carrier(),
    );
    h.request(Method::Ack);
    h.quiet();
    // A Teams refresh with unchanged SDP is answered on its own leg.
    h.teams_in_dialog(
        &call,
        "INVITE",
        2,
        "Session-Expires: 600;refresher=uac\nSupported: timer\n",
        Some(("application/sdp", &teams_sdp(1, "sendrecv"))),
    );
    let (ok, _) = h.response(200);
    assert_eq!(
        ok.headers.get_str(&HeaderName::SessionExpires),
        Some("600;refresher=uac")
    );
    let ours = sdp_of(&ok.body);
    let first = sdp_of(&call.teams_invite.body);
    assert_eq!(ours.origin, first.origin);
    h.quiet();
    // An UPDATE without body likewise.
    h.teams_in_dialog(
        &call,
        "UPDATE",
        3,
        "Session-Expires: 600;refresher=uac\n",
        None,
    );
    let (ok, _) = h.response(200);
    assert!(ok.body.is_empty());
    h.quiet();
}

#[test]
fn session_expires_when_teams_stops_refreshing() {
    let mut h = Harness::new();
    let invite = h.place_call(&carrier_invite("c-expire", ""), Harness::carrier());
    assert_eq!(
        invite.headers.get_str(&HeaderName::SessionExpires),
        Some("1800")
    );
    assert_eq!(invite.headers.min_se().unwrap(), Some(90));
    let extra = format!("{TEAMS_DIALOG}Session-Expires: 120;refresher=uas\nRequire: timer\n");
    h.deliver(
        reply(&invite, 200, "t1", &extra, Some(&teams_sdp(1, "sendrecv"))),
        Harness::teams(),
    );
    h.request(Method::Ack);
    let (carrier_ok, _) = h.response(200);
    h.ack_carrier(&carrier_ok);
    // Teams must refresh within 120 - 32 s.
    h.advance(Duration::from_secs(87));
    h.quiet();
    h.advance(Duration::from_secs(1));
    let (first, _) = h.request(Method::Bye);
    let (second, _) = h.request(Method::Bye);
    let mut ids = [
        first.headers.call_id().unwrap().to_owned(),
        second.headers.call_id().unwrap().to_owned(),
    ];
    ids.sort();
    let mut expected = [
        "c-expire".to_owned(),
        invite.headers.call_id().unwrap().to_owned(),
    ];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::SessionExpired(Party::Callee),
            ..
        })
    ));
    assert_eq!(h.b2bua.call_count(), 0);
    h.settle();
}

#[test]
fn bye_waits_for_the_ack_of_our_2xx() {
    let mut h = Harness::new();
    let invite = h.place_call(&carrier_invite("c-noack", ""), Harness::carrier());
    let ok = reply(
        &invite,
        200,
        "t1",
        TEAMS_DIALOG,
        Some(&teams_sdp(1, "sendrecv")),
    );
    h.deliver(ok.clone(), Harness::teams());
    h.request(Method::Ack);
    let (carrier_ok, _) = h.response(200);
    let call = Established {
        teams_invite: invite,
        teams_ok: ok,
        carrier_ok: carrier_ok.clone(),
    };
    // Teams hangs up before the carrier's ACK arrived.
    h.teams_in_dialog(&call, "BYE", 1, "", None);
    h.response(200);
    h.quiet();
    // The ACK releases our BYE (RFC 3261 §15).
    h.ack_carrier(&carrier_ok);
    let (bye, _) = h.request(Method::Bye);
    assert_eq!(bye.headers.call_id().unwrap(), "c-noack");
    h.quiet();
    assert_eq!(h.b2bua.call_count(), 0);
    h.settle();
}

#[test]
fn a_teams_refresh_keeps_the_session_alive() {
    let mut h = Harness::new();
    let invite = h.place_call(&carrier_invite("c-alive", ""), Harness::carrier());
    let extra = format!("{TEAMS_DIALOG}Session-Expires: 120;refresher=uas\nRequire: timer\n");
    let ok = reply(&invite, 200, "t1", &extra, Some(&teams_sdp(1, "sendrecv")));
    h.deliver(ok.clone(), Harness::teams());
    h.request(Method::Ack);
    let (carrier_ok, _) = h.response(200);
    h.ack_carrier(&carrier_ok);
    let call = Established {
        teams_invite: invite,
        teams_ok: ok,
        carrier_ok,
    };
    h.advance(Duration::from_secs(60));
    h.teams_in_dialog(
        &call,
        "UPDATE",
        1,
        "Session-Expires: 120;refresher=uac\n",
        None,
    );
    h.response(200);
    h.advance(Duration::from_secs(60));
    let byes = h
        .out
        .iter()
        .filter(|o| matches!(&o.message, Message::Request(r) if r.method == Method::Bye))
        .count();
    assert_eq!(byes, 0, "refreshed at 60 s, alive at 120 s");
}

#[test]
fn maximum_call_duration_ends_the_call() {
    let settings = B2buaSettings {
        max_call_duration: Some(Duration::from_secs(3600)),
        session_expires: None,
        ..B2buaSettings::default()
    };
    let mut h = Harness::with(CONFIG, settings);
    let call = h.establish("c-max");
    assert_eq!(
        call.carrier_ok.headers.get_str(&HeaderName::SessionExpires),
        None
    );
    h.advance(Duration::from_secs(3599));
    h.quiet();
    h.advance(Duration::from_secs(1));
    let mut byes: Vec<String> = Vec::new();
    while let Some(out) = h.out.pop_front() {
        if let Message::Request(r) = &out.message {
            assert_eq!(r.method, Method::Bye);
            byes.push(r.headers.call_id().unwrap().to_owned());
        }
    }
    assert_eq!(byes.len(), 2, "{byes:?}");
    assert!(byes.contains(&"c-max".to_owned()));
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::MaxDuration,
            ..
        })
    ));
    assert_eq!(h.b2bua.gate().active_calls(), 0);
    h.settle();
}

#[test]
fn a_media_timeout_ends_both_legs_with_a_reason_header() {
    let mut h = Harness::new();
    let call = h.establish("c-media-timeout");
    let id = h.started_call();
    h.b2bua.end_on_media_timeout(id, h.now);
    h.pump();
    let (first, _) = h.request(Method::Bye);
    let (second, _) = h.request(Method::Bye);
    let mut ids = Vec::new();
    for bye in [&first, &second] {
        assert_eq!(
            bye.headers.get_str(&HeaderName::Reason),
            Some("SIP;cause=408;text=\"media timeout\"")
        );
        ids.push(bye.headers.call_id().unwrap().to_owned());
    }
    ids.sort();
    let mut expected = vec![
        "c-media-timeout".to_owned(),
        call.teams_invite.headers.call_id().unwrap().to_owned(),
    ];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::MediaTimeout,
            ..
        })
    ));
    // A second report for the same call finds nothing left to end.
    h.b2bua.end_on_media_timeout(id, h.now);
    h.pump();
    h.quiet();
    assert_eq!(h.b2bua.call_count(), 0);
}
