//! Call setup and teardown in both directions.

use super::*;

#[test]
fn pstn_to_teams_basic_call() {
    let mut h = Harness::new();
    h.send(
        &carrier_invite(
            "carrier-call-1",
            "X-Carrier-Id: 42\nX-Internal-Route: secret\n",
        ),
        Harness::carrier(),
    );

    // 100 Trying straight back to the carrier.
    let (trying, hop) = h.response(100);
    assert_eq!(reply_addr(&hop), "192.0.2.10:5060".parse().unwrap());
    assert_eq!(trying.headers.call_id().unwrap(), "carrier-call-1");

    // The INVITE towards Teams.
    let (invite, hop) = h.request(Method::Invite);
    assert_eq!(
        invite.uri.as_str(),
        "sip:+14255550123@sip.pstnhub.microsoft.com;user=phone"
    );
    assert_eq!(
        hop,
        NextHop::Resolve {
            uri: sip::Uri::parse("sip:sip.pstnhub.microsoft.com:5061;transport=tls").unwrap(),
            transport: Transport::Tls,
        }
    );
    let h_ = &invite.headers;
    assert_eq!(
        h_.get_str(&HeaderName::Contact),
        Some("<sip:+12065550199@contoso.customers.example.net:5061;transport=tls>")
    );
    assert_eq!(
        h_.get_str(&HeaderName::RecordRoute),
        Some("<sip:contoso.customers.example.net:5061;transport=tls;lr>")
    );
    assert_eq!(
        h_.get_str(&HeaderName::from("X-MS-SBC")),
        Some("Switchboard/SBC/test")
    );
    let from = h_.from().unwrap();
    assert_eq!(
        from.uri.as_str(),
        "sip:+12065550199@contoso.customers.example.net;user=phone"
    );
    assert_eq!(from.display_name, Some("Alice"));
    assert!(from.tag().is_some());
    assert_ne!(h_.call_id().unwrap(), "carrier-call-1");
    let via = h_.top_via().unwrap();
    assert_eq!(via.transport, "TLS");
    assert_eq!(via.host.to_string(), "contoso.customers.example.net");
    assert_eq!(h_.vias().count(), 1);
    assert_eq!(h_.get_str(&HeaderName::from("X-Carrier-Id")), Some("42"));
    assert_eq!(h_.get_str(&HeaderName::from("X-Internal-Route")), None);
    assert_eq!(
        h_.get_str(&HeaderName::from("X-Provider")),
        None,
        "add is for the trunk"
    );
    assert!(h_.supports("timer"));
    assert_eq!(h_.max_forwards().unwrap(), 69);
    // SRTP towards Teams, on our media address.
    let offer = sdp_of(&invite.body);
    assert_eq!(offer.media[0].proto, "RTP/SAVP");
    assert_eq!(offer.media[0].cryptos().count(), 1);
    assert!(offer.media[0].rtcp_mux());
    assert_eq!(offer.connection.as_ref().unwrap().address, "198.51.100.2");
    // Topology hiding: nothing of the carrier's addressing.
    let text = wire_text(invite.clone());
    assert!(!text.contains("192.0.2."), "{text}");
    assert!(!text.contains("203.0.113.1"), "{text}");
    assert!(h.events.iter().any(|e| matches!(
        e,
        B2buaEvent::CallStarted { called: Some(n), .. } if n.as_str() == "+12065550100"
    )));

    // Teams: 100, two forked 180s, 183 with SDP, 200.
    h.deliver(reply(&invite, 100, "", "", None), Harness::teams());
    h.quiet();
    for tag in ["fork-1", "fork-2"] {
        let ringing = reply(
            &invite,
            180,
            tag,
            "Contact: <sip:api-du-b.pstnhub.microsoft.com:443;transport=tls>\n",
            None,
        );
        h.deliver(ringing, Harness::teams());
    }
    let (first, hop) = h.response(180);
    assert_eq!(reply_addr(&hop), "192.0.2.10:5060".parse().unwrap());
    let (second, _) = h.response(180);
    let our_tag = first.headers.to().unwrap().tag().unwrap().to_owned();
    assert_eq!(second.headers.to().unwrap().tag(), Some(our_tag.as_str()));
    assert_eq!(first.headers.call_id().unwrap(), "carrier-call-1");
    assert_eq!(
        first.headers.get_str(&HeaderName::Contact),
        Some("<sip:12065550100@203.0.113.1:5060>")
    );
    let progress = reply(
        &invite,
        183,
        "fork-1",
        TEAMS_DIALOG,
        Some(&teams_sdp(1, "sendrecv")),
    );
    h.deliver(progress, Harness::teams());
    let (early, _) = h.response(183);
    let early_sdp = sdp_of(&early.body);
    assert_eq!(early_sdp.media[0].proto, "RTP/AVP");
    assert_eq!(early_sdp.media[0].cryptos().count(), 0);
    let ok = reply(
        &invite,
        200,
        "fork-1",
        TEAMS_DIALOG,
        Some(&teams_sdp(1, "sendrecv")),
    );
    h.deliver(ok, Harness::teams());

    // ACK on the Teams leg, through Teams' Record-Route (not ours).
    let (ack, hop) = h.request(Method::Ack);
    assert_eq!(
        resolve_uri(&hop),
        "sip:sip-du-a-us.pstnhub.microsoft.com:5061;transport=tls;lr"
    );
    assert_eq!(
        ack.headers.call_id().unwrap(),
        invite.headers.call_id().unwrap()
    );
    assert_eq!(ack.headers.to().unwrap().tag(), Some("fork-1"));
    assert_eq!(ack.headers.routes().count(), 1);
    assert!(ack
        .uri
        .as_str()
        .starts_with("sip:api-du-b.pstnhub.microsoft.com"));

    // 200 to the carrier with plain RTP on our address.
    let (carrier_ok, _) = h.response(200);
    assert_eq!(
        carrier_ok.headers.to().unwrap().tag(),
        Some(our_tag.as_str())
    );
    let answer = sdp_of(&carrier_ok.body);
    assert_eq!(answer.media[0].proto, "RTP/AVP");
    assert_eq!(answer.connection.as_ref().unwrap().address, "198.51.100.2");
    assert_eq!(
        answer.to_string(),
        early_sdp.to_string(),
        "same answer as in the 183"
    );
    let text = wire_text(carrier_ok.clone());
    for hidden in ["pstnhub", "52.114", "contoso", "fork-1", "crypto"] {
        assert!(!text.contains(hidden), "{hidden} in {text}");
    }
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallAnswered { .. })
    ));
    h.quiet();

    // The carrier's ACK ends the 2xx retransmissions.
    h.send(
        &format!(
            "ACK sip:2065550100@203.0.113.1:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-ack1
Max-Forwards: 70
From: <sip:2065550199@192.0.2.10>;tag=carrier-tag
To: <sip:2065550100@203.0.113.1>;tag={our_tag}
Call-ID: carrier-call-1
CSeq: 1 ACK

"
        ),
        Harness::carrier(),
    );
    h.advance(Duration::from_secs(10));
    h.quiet();

    // BYE from the carrier: 200 at once, BYE to Teams.
    let established = Established {
        teams_invite: invite.clone(),
        teams_ok: reply(&invite, 200, "fork-1", TEAMS_DIALOG, None),
        carrier_ok,
    };
    h.carrier_in_dialog(&established, "BYE", 2, "", None);
    let (bye_ok, hop) = h.response(200);
    assert_eq!(bye_ok.headers.cseq().unwrap().method, Method::Bye);
    assert_eq!(reply_addr(&hop), "192.0.2.10:5060".parse().unwrap());
    let (bye, hop) = h.request(Method::Bye);
    assert_eq!(
        resolve_uri(&hop),
        "sip:sip-du-a-us.pstnhub.microsoft.com:5061;transport=tls;lr"
    );
    assert_eq!(bye.headers.cseq().unwrap().seq, 2);
    assert_eq!(
        bye.headers.get_str(&HeaderName::from("X-MS-SBC")),
        Some("Switchboard/SBC/test")
    );
    h.deliver(reply(&bye, 200, "", "", None), Harness::teams());
    h.quiet();
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::Hangup(Party::Caller),
            answered_at: Some(_),
            ..
        })
    ));
    h.settle();
}

#[test]
fn teams_hangs_up() {
    let mut h = Harness::new();
    let call = h.establish("c-teams-bye");
    h.teams_in_dialog(&call, "BYE", 1, "", None);
    let (ok, hop) = h.response(200);
    assert_eq!(ok.headers.cseq().unwrap().method, Method::Bye);
    assert!(matches!(
        hop,
        NextHop::Reply {
            connection: Some(ConnectionId(7)),
            ..
        }
    ));
    let (bye, hop) = h.request(Method::Bye);
    assert_eq!(resolve_uri(&hop), "sip:2065550199@192.0.2.10:5060");
    assert_eq!(bye.headers.call_id().unwrap(), "c-teams-bye");
    assert_eq!(
        bye.headers.from().unwrap().tag(),
        call.carrier_ok.headers.to().unwrap().tag()
    );
    assert_eq!(
        bye.headers.get_str(&HeaderName::from("X-Provider")),
        Some("example")
    );
    let text = wire_text(bye.clone());
    assert!(
        !text.contains("pstnhub") && !text.contains("contoso"),
        "{text}"
    );
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::Hangup(Party::Callee),
            ..
        })
    ));
    h.deliver(reply(&bye, 200, "", "", None), Harness::carrier());
    h.quiet();
    h.settle();
}

#[test]
fn ringing_too_long_cancels_the_callee_and_answers_480() {
    let mut h = Harness::new();
    let invite = ringing(&mut h, "c-noanswer");
    // Still ringing just before the limit.
    h.advance(Duration::from_secs(179));
    h.quiet();
    // (Short of Timer G's first 480 retransmission, 500 ms later.)
    h.advance(Duration::from_millis(1_100));
    let (unavailable, _) = h.response(480);
    assert_eq!(unavailable.headers.cseq().unwrap().method, Method::Invite);
    let (cancel, _) = h.request(Method::Cancel);
    assert_eq!(
        cancel.headers.top_via().unwrap().branch(),
        invite.headers.top_via().unwrap().branch()
    );
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::NoAnswer,
            ..
        })
    ));
    // The carrier acknowledges the 480 (same branch as its INVITE).
    let to = String::from_utf8_lossy(unavailable.headers.get(&HeaderName::To).unwrap());
    h.send(
        &format!(
            "ACK sip:2065550100@203.0.113.1:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-c-noanswer
Max-Forwards: 70
From: \"Alice\" <sip:2065550199@192.0.2.10>;tag=carrier-tag
To: {to}
Call-ID: c-noanswer
CSeq: 1 ACK

"
        ),
        Harness::carrier(),
    );
    h.deliver(reply(&cancel, 200, "t1", "", None), Harness::teams());
    h.deliver(reply(&invite, 487, "t1", "", None), Harness::teams());
    h.request(Method::Ack);
    h.quiet();
    h.settle();
}

#[test]
fn cancel_while_ringing() {
    let mut h = Harness::new();
    let invite = ringing(&mut h, "c-cancel");
    h.send(
        "CANCEL sip:2065550100@203.0.113.1:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-c-cancel
Max-Forwards: 70
From: \"Alice\" <sip:2065550199@192.0.2.10>;tag=carrier-tag
To: <sip:2065550100@203.0.113.1>
Call-ID: c-cancel
CSeq: 1 CANCEL

",
        Harness::carrier(),
    );
    let (ok, _) = h.response(200);
    assert_eq!(ok.headers.cseq().unwrap().method, Method::Cancel);
    let (terminated, _) = h.response(487);
    assert_eq!(terminated.headers.cseq().unwrap().method, Method::Invite);
    let (cancel, hop) = h.request(Method::Cancel);
    assert_eq!(
        cancel.headers.call_id().unwrap(),
        invite.headers.call_id().unwrap()
    );
    assert_eq!(
        cancel.headers.top_via().unwrap().branch(),
        invite.headers.top_via().unwrap().branch()
    );
    assert_eq!(
        resolve_uri(&hop),
        "sip:sip.pstnhub.microsoft.com:5061;transport=tls"
    );
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::Cancelled,
            answered_at: None,
            ..
        })
    ));
    // Teams confirms: 200 to CANCEL, 487 to the INVITE (which we ACK).
    h.deliver(reply(&cancel, 200, "", "", None), Harness::teams());
    h.deliver(reply(&invite, 487, "t1", "", None), Harness::teams());
    let (ack, _) = h.request(Method::Ack);
    assert_eq!(ack.headers.cseq().unwrap().seq, 1);
    h.quiet();
    h.settle();
    // A 200 crossing the CANCEL would be ended at once.
}

#[test]
fn late_200_after_cancel_is_acknowledged_and_ended() {
    let mut h = Harness::new();
    let invite = ringing(&mut h, "c-race");
    h.send(
        "CANCEL sip:2065550100@203.0.113.1:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-c-race
Max-Forwards: 70
From: \"Alice\" <sip:2065550199@192.0.2.10>;tag=carrier-tag
To: <sip:2065550100@203.0.113.1>
Call-ID: c-race
CSeq: 1 CANCEL

",
        Harness::carrier(),
    );
    h.response(200);
    h.response(487);
    h.request(Method::Cancel);
    h.deliver(
        reply(
            &invite,
            200,
            "t1",
            TEAMS_DIALOG,
            Some(&teams_sdp(1, "sendrecv")),
        ),
        Harness::teams(),
    );
    let (ack, _) = h.request(Method::Ack);
    let (bye, hop) = h.request(Method::Bye);
    assert_eq!(ack.headers.to().unwrap().tag(), Some("t1"));
    assert_eq!(bye.headers.to().unwrap().tag(), Some("t1"));
    assert_eq!(
        resolve_uri(&hop),
        "sip:sip-du-a-us.pstnhub.microsoft.com:5061;transport=tls;lr"
    );
    h.quiet();
}

#[test]
fn busy_is_relayed() {
    let mut h = Harness::new();
    let invite = h.place_call(&carrier_invite("c-busy", ""), Harness::carrier());
    h.deliver(
        reply(&invite, 486, "t1", "Reason: Q.850;cause=17;text=\"User busy\"\nContact: <sip:secret.pstnhub.microsoft.com>\n", None),
        Harness::teams(),
    );
    let (ack, _) = h.request(Method::Ack);
    assert_eq!(ack.headers.to().unwrap().tag(), Some("t1"));
    let (busy, hop) = h.response(486);
    assert_eq!(reply_addr(&hop), "192.0.2.10:5060".parse().unwrap());
    assert_eq!(
        busy.headers.get_str(&HeaderName::Reason),
        Some("Q.850;cause=17;text=\"User busy\"")
    );
    assert!(!wire_text(busy.clone()).contains("pstnhub"));
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::Rejected(StatusCode(486)),
            ..
        })
    ));
    h.quiet();
    assert_eq!(h.b2bua.gate().active_calls(), 0);
    h.settle();
}

#[test]
fn failover_to_sip2_on_503_and_on_silence() {
    let mut h = Harness::new();
    h.send(&carrier_invite("c-failover", ""), Harness::carrier());
    h.response(100);
    let (first, hop) = h.request(Method::Invite);
    assert!(resolve_uri(&hop).starts_with("sip:sip.pstnhub"));
    h.deliver(
        reply(&first, 503, "t1", "Retry-After: 30\n", None),
        Harness::teams(),
    );
    h.request(Method::Ack);
    let (second, hop) = h.request(Method::Invite);
    assert!(resolve_uri(&hop).starts_with("sip:sip2.pstnhub"), "{hop:?}");
    assert_eq!(
        second.uri.as_str(),
        "sip:+14255550123@sip2.pstnhub.microsoft.com;user=phone"
    );
    assert_ne!(
        second.headers.call_id().unwrap(),
        first.headers.call_id().unwrap()
    );
    assert!(h.events.iter().any(|e| matches!(
        e,
        B2buaEvent::CloseConnection { host, port: 5061 } if host == "sip.pstnhub.microsoft.com"
    )));
    // sip2 never answers: after failover_after, sip3.
    h.advance(Duration::from_secs(5));
    let (third, hop) = h.request(Method::Invite);
    assert!(resolve_uri(&hop).starts_with("sip:sip3.pstnhub"), "{hop:?}");
    assert_eq!(third.uri.host().to_string(), "sip3.pstnhub.microsoft.com");
    // sip3 answers: the call goes on normally.
    h.deliver(
        reply(
            &third,
            200,
            "t3",
            TEAMS_DIALOG,
            Some(&teams_sdp(1, "sendrecv")),
        ),
        Harness::teams(),
    );
    h.request(Method::Ack);
    h.response(200);
    // A late 200 from the silent sip2 is ACKed and ended.
    h.deliver(
        reply(
            &second,
            200,
            "t2",
            TEAMS_DIALOG,
            Some(&teams_sdp(1, "sendrecv")),
        ),
        Harness::teams(),
    );
    let (ack, _) = h.request(Method::Ack);
    assert_eq!(ack.headers.to().unwrap().tag(), Some("t2"));
    let (bye, _) = h.request(Method::Bye);
    assert_eq!(
        bye.headers.call_id().unwrap(),
        second.headers.call_id().unwrap()
    );
    h.quiet();
    assert_eq!(h.stats.proxy_failovers(), 2);
    h.deliver(reply(&bye, 200, "", "", None), Harness::teams());
    assert_eq!(h.b2bua.call_count(), 1, "the answered call goes on");
}

#[test]
fn invite_timeout_fails_over_and_finally_408() {
    let settings = B2buaSettings {
        failover_after: Duration::from_secs(60),
        ..B2buaSettings::default()
    };
    let mut h = Harness::with(CONFIG, settings);
    h.place_call(&carrier_invite("c-timeout", ""), Harness::carrier());
    // Timer B (64*T1 = 32 s) on each proxy in turn.
    h.advance(Duration::from_secs(33));
    let (_, hop) = h.request(Method::Invite);
    assert!(resolve_uri(&hop).starts_with("sip:sip2."));
    h.advance(Duration::from_secs(33));
    let (_, hop) = h.request(Method::Invite);
    assert!(resolve_uri(&hop).starts_with("sip:sip3."));
    h.advance(Duration::from_secs(33));
    h.response(408);
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::Unreachable(StatusCode(408)),
            ..
        })
    ));
    h.settle();
}

#[test]
fn a_408_after_ringing_is_no_answer_not_a_reason_to_fail_over() {
    let mut h = Harness::new();
    let invite = h.place_call(&carrier_invite("c-rang", ""), Harness::carrier());
    h.deliver(
        reply(&invite, 180, "t1", TEAMS_DIALOG, None),
        Harness::teams(),
    );
    h.response(180);
    // The user's clients rang; Teams gives up with 408.
    h.deliver(reply(&invite, 408, "t1", "", None), Harness::teams());
    h.request(Method::Ack);
    h.response(408);
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::Rejected(StatusCode(408)),
            ..
        })
    ));
    assert_eq!(h.stats.proxy_failovers(), 0, "no INVITE to sip2");
    h.quiet();
}

#[test]
fn decline_is_never_retried() {
    let mut h = Harness::new();
    let invite = h.place_call(&carrier_invite("c-decline", ""), Harness::carrier());
    h.deliver(reply(&invite, 603, "t1", "", None), Harness::teams());
    h.request(Method::Ack);
    h.response(603);
    h.quiet();
    assert_eq!(h.stats.proxy_failovers(), 0);
    h.settle();
}

#[test]
fn teams_to_pstn_with_identity_headers() {
    let mut h = Harness::new();
    let text = format!(
        "INVITE sip:+12065550111@contoso.customers.example.net:5061;user=phone;transport=tls SIP/2.0
Via: SIP/2.0/TLS 52.114.16.5:41000;branch=z9hG4bK-teams-out
Max-Forwards: 70
From: <sip:anonymous@anonymous.invalid>;tag=teams-from
To: <sip:+12065550111@contoso.customers.example.net>
Call-ID: teams-out-1
CSeq: 1 INVITE
Contact: <sip:api-du-b.pstnhub.microsoft.com:443;transport=tls;x-i=99>
Record-Route: <sip:sip-du-a-us.pstnhub.microsoft.com:5061;transport=tls;lr>
P-Asserted-Identity: <sip:+14255550123@sip.pstnhub.microsoft.com;user=phone>, <tel:+14255550123>
Privacy: id
History-Info: <sip:+14255550123@sip.pstnhub.microsoft.com;user=phone>;index=1
Diversion: <sip:+14255550999@sip.pstnhub.microsoft.com>
Supported: timer
Content-Type: application/sdp

{}",
        teams_sdp(1, "sendrecv")
    );
    h.send(&text, Harness::teams());
    let (_, hop) = h.response(100);
    assert!(matches!(
        hop,
        NextHop::Reply {
            connection: Some(ConnectionId(7)),
            ..
        }
    ));
    let (invite, hop) = h.request(Method::Invite);
    // National format towards the US carrier, first target.
    assert_eq!(invite.uri.as_str(), "sip:12065550111@192.0.2.10:5060");
    assert_eq!(resolve_uri(&hop), "sip:12065550111@192.0.2.10:5060");
    assert!(matches!(
        hop,
        NextHop::Resolve {
            transport: Transport::Udp,
            ..
        }
    ));
    let headers = &invite.headers;
    assert_eq!(
        headers.from().unwrap().uri.as_str(),
        "sip:anonymous@anonymous.invalid"
    );
    assert_eq!(headers.get_str(&HeaderName::Privacy), Some("id"));
    assert_eq!(
        headers.get_str(&HeaderName::PAssertedIdentity),
        Some("<sip:14255550123@203.0.113.1:5060;user=phone>, <sip:14255550123@203.0.113.1:5060;user=phone>")
    );
    assert!(
        headers.get_str(&HeaderName::HistoryInfo).is_some(),
        "passed by policy"
    );
    assert_eq!(
        headers.get_str(&HeaderName::Diversion),
        None,
        "not in the pass list"
    );
    assert_eq!(
        headers.get_str(&HeaderName::from("X-Provider")),
        Some("example")
    );
    assert_eq!(headers.get_str(&HeaderName::from("X-MS-SBC")), None);
    assert_eq!(
        headers.contact().unwrap().unwrap().uri.host().to_string(),
        "203.0.113.1"
    );
    let offer = sdp_of(&invite.body);
    assert_eq!(offer.media[0].proto, "RTP/AVP");
    assert_eq!(offer.media[0].cryptos().count(), 0);
    let text = wire_text(invite.clone());
    for hidden in ["52.114", "api-du-b", "teams-out-1", "contoso"] {
        assert!(!text.contains(hidden), "{hidden} in {text}");
    }
    // The carrier answers; Teams gets SRTP with its crypto tag echoed.
    h.deliver(
        reply(
            &invite,
            200,
            "c1",
            "Contact: <sip:12065550111@192.0.2.10:5060>\n",
            Some(CARRIER_SDP),
        ),
        Harness::carrier(),
    );
    let (ack, hop) = h.request(Method::Ack);
    assert_eq!(resolve_uri(&hop), "sip:12065550111@192.0.2.10:5060");
    assert_eq!(
        ack.headers.get_str(&HeaderName::from("X-Provider")),
        Some("example")
    );
    let (ok, hop) = h.response(200);
    assert!(matches!(
        hop,
        NextHop::Reply {
            connection: Some(ConnectionId(7)),
            ..
        }
    ));
    let headers = &ok.headers;
    assert_eq!(
        headers.get_str(&HeaderName::Contact),
        Some("<sip:+12065550111@contoso.customers.example.net:5061;transport=tls>")
    );
    let routes: Vec<String> = headers
        .record_routes()
        .map(|r| r.unwrap().uri.to_string())
        .collect();
    assert_eq!(
        routes,
        [
            "sip:contoso.customers.example.net:5061;transport=tls;lr",
            "sip:sip-du-a-us.pstnhub.microsoft.com:5061;transport=tls;lr"
        ]
    );
    assert_eq!(
        headers.get_str(&HeaderName::from("X-MS-SBC")),
        Some("Switchboard/SBC/test")
    );
    assert!(headers.get_str(&HeaderName::SessionExpires).is_some());
    let answer = sdp_of(&ok.body);
    assert_eq!(answer.media[0].proto, "RTP/SAVP");
    assert_eq!(answer.media[0].cryptos().next().unwrap().tag, 2);
    assert!(!wire_text(ok.clone()).contains("192.0.2."));
    h.quiet();
}

#[test]
fn carrier_targets_fail_over_on_5xx_not_on_486() {
    let mut h = Harness::new();
    let invite_text = |id: &str| {
        format!(
            "INVITE sip:+12065550111@contoso.customers.example.net SIP/2.0
Via: SIP/2.0/TLS 52.114.16.5:41000;branch=z9hG4bK-{id}
Max-Forwards: 70
From: <sip:+14255550123@sip.pstnhub.microsoft.com>;tag=tf
To: <sip:+12065550111@contoso.customers.example.net>
Call-ID: {id}
CSeq: 1 INVITE
Contact: <sip:api-du-b.pstnhub.microsoft.com:443;transport=tls>
Content-Type: application/sdp

{}",
            teams_sdp(1, "sendrecv")
        )
    };
    let first = h.place_call(&invite_text("out-5xx"), Harness::teams());
    assert_eq!(
        first.headers.from().unwrap().uri.as_str(),
        "sip:14255550123@203.0.113.1:5060"
    );
    h.deliver(reply(&first, 500, "c1", "", None), Harness::carrier());
    h.request(Method::Ack);
    let (second, hop) = h.request(Method::Invite);
    assert_eq!(resolve_uri(&hop), "sip:12065550111@192.0.2.11:5060");
    h.deliver(reply(&second, 503, "c2", "", None), Harness::carrier());
    h.request(Method::Ack);
    // No target left: the caller gets 500 (a 503 must not cross, RFC 3261 §16.7).
    h.response(500);
    h.quiet();

    let first = h.place_call(&invite_text("out-486"), Harness::teams());
    h.deliver(reply(&first, 486, "c1", "", None), Harness::carrier());
    h.request(Method::Ack);
    h.response(486);
    h.quiet();
}

#[test]
fn teams_cancels_a_call_to_the_pstn() {
    let mut h = Harness::new();
    let text = format!(
        "INVITE sip:+12065550111@contoso.customers.example.net SIP/2.0
Via: SIP/2.0/TLS 52.114.16.5:41000;branch=z9hG4bK-tc
Max-Forwards: 70
From: <sip:+14255550123@sip.pstnhub.microsoft.com>;tag=tf
To: <sip:+12065550111@contoso.customers.example.net>
Call-ID: teams-cancel
CSeq: 1 INVITE
Contact: <sip:api-du-b.pstnhub.microsoft.com:443;transport=tls>
Content-Type: application/sdp

{}",
        teams_sdp(1, "sendrecv")
    );
    h.send(&text, Harness::teams());
    let (trying, _) = h.response(100);
    assert_eq!(
        trying.headers.get_str(&HeaderName::from("X-MS-SBC")),
        Some("Switchboard/SBC/test")
    );
    let (invite, _) = h.request(Method::Invite);
    h.deliver(
        reply(
            &invite,
            183,
            "c1",
            "Contact: <sip:12065550111@192.0.2.10>\n",
            Some(CARRIER_SDP),
        ),
        Harness::carrier(),
    );
    let (early, _) = h.response(183);
    let early_sdp = sdp_of(&early.body);
    assert_eq!(early_sdp.media[0].proto, "RTP/SAVP");
    assert_eq!(
        early.headers.get_str(&HeaderName::from("X-MS-SBC")),
        Some("Switchboard/SBC/test")
    );
    h.send(
        "CANCEL sip:+12065550111@contoso.customers.example.net SIP/2.0
Via: SIP/2.0/TLS 52.114.16.5:41000;branch=z9hG4bK-tc
Max-Forwards: 70
From: <sip:+14255550123@sip.pstnhub.microsoft.com>;tag=tf
To: <sip:+12065550111@contoso.customers.example.net>
Call-ID: teams-cancel
CSeq: 1 CANCEL

",
        Harness::teams(),
    );
    let (ok, _) = h.response(200);
    assert_eq!(
        ok.headers.get_str(&HeaderName::from("X-MS-SBC")),
        Some("Switchboard/SBC/test")
    );
    let (terminated, _) = h.response(487);
    assert!(terminated.headers.to().unwrap().tag().is_some());
    let (cancel, hop) = h.request(Method::Cancel);
    assert_eq!(resolve_uri(&hop), "sip:12065550111@192.0.2.10:5060");
    assert_eq!(
        cancel.headers.call_id().unwrap(),
        invite.headers.call_id().unwrap()
    );
    h.quiet();
    h.settle();
}

#[test]
fn session_interval_too_small_is_retried_with_min_se() {
    let mut h = Harness::new();
    let invite = h.place_call(&carrier_invite("c-422", ""), Harness::carrier());
    h.deliver(
        reply(&invite, 422, "t1", "Min-SE: 3600\n", None),
        Harness::teams(),
    );
    h.request(Method::Ack);
    let (again, hop) = h.request(Method::Invite);
    assert!(
        resolve_uri(&hop).starts_with("sip:sip.pstnhub"),
        "same proxy"
    );
    assert_eq!(
        again.headers.get_str(&HeaderName::SessionExpires),
        Some("3600")
    );
    h.quiet();
    assert_eq!(h.stats.proxy_failovers(), 0);
}

/// A carrier call to adele, ringing: Teams sent 180 (tag `t1`), the
/// carrier got it. Returns the INVITE Teams got.
fn ringing(h: &mut Harness, call_id: &str) -> Request {
    let invite = h.place_call(&carrier_invite(call_id, ""), Harness::carrier());
    h.deliver(
        reply(
            &invite,
            180,
            "t1",
            "Contact: <sip:api-du-b.pstnhub.microsoft.com:443;transport=tls>\n",
            None,
        ),
        Harness::teams(),
    );
    h.response(180);
    invite
}
