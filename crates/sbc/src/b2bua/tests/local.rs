//! Calls switchboard answers itself (a DID routed to a flow).

use super::*;

#[test]
fn a_flow_did_is_answered_by_switchboard_with_anchored_g711() {
    let mut h = Harness::with(&flow_config(), B2buaSettings::default());
    let (ok, call) = h.flow_call("local-1");
    // Nothing went anywhere else: no INVITE out.
    h.quiet();
    let answer = sdp_of(&ok.body);
    let media = &answer.media[0];
    assert_eq!(answer.direction_of(media), sdp::Direction::SendRecv);
    assert_eq!(media.proto, "RTP/AVP");
    assert!((40000..=40999).contains(&media.port), "{}", media.port);
    assert_eq!(
        answer.connection.as_ref().unwrap().address,
        "198.51.100.2",
        "our media address, not the carrier's"
    );
    // One voice codec (PCMU, the carrier's first) plus telephone-event.
    let formats: Vec<_> = media.payload_types().collect();
    assert_eq!(formats, [0, 101], "{answer:?}");
    assert!(ok
        .headers
        .get(&HeaderName::Contact)
        .is_some_and(|c| String::from_utf8_lossy(c).contains("203.0.113.1")));
    // The application ends it: BYE to the carrier.
    h.b2bua.hang_up(call, h.now);
    h.pump();
    let (bye, _) = h.request(Method::Bye);
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::Local,
            ..
        })
    ));
    h.deliver(reply(&bye, 200, "", "", None), Harness::carrier());
    h.quiet();
    h.settle();
}

#[test]
fn dtmf_info_reaches_the_application_and_hold_is_answered_locally() {
    let mut h = Harness::with(&flow_config(), B2buaSettings::default());
    let (ok, call) = h.flow_call("local-2");
    let caller = h
        .events
        .iter()
        .find_map(|e| match e {
            B2buaEvent::LocalCallStarted { leg, .. } => Some(*leg),
            _ => None,
        })
        .unwrap();
    let dtmf = "Signal=5\r\nDuration=160\r\n";
    h.carrier_request(&ok, "INFO", 2, "", Some(("application/dtmf-relay", dtmf)));
    h.response(200);
    assert!(h.saw(|e| matches!(
        e,
        B2buaEvent::Info { call: c, leg, content_type, body }
            if *c == call && *leg == caller && content_type == "application/dtmf-relay"
                && body.as_ref() == dtmf.as_bytes()
    )));
    // Hold: the carrier sends sendonly; we answer recvonly, same port.
    let hold = carrier_sdp(2, "sendonly");
    h.carrier_request(&ok, "INVITE", 3, "", Some(("application/sdp", &hold)));
    let (held, _) = h.response(200);
    let first = sdp_of(&ok.body);
    let answer = sdp_of(&held.body);
    assert_eq!(answer.media[0].port, first.media[0].port);
    assert_eq!(
        answer.direction_of(&answer.media[0]),
        sdp::Direction::RecvOnly
    );
    assert_eq!(
        answer.origin.session_id, first.origin.session_id,
        "same session, next version"
    );
    assert!(answer.origin.session_version > first.origin.session_version);
    h.carrier_request(&held, "ACK", 3, "", None);
    // A REFER has nobody to transfer to.
    h.carrier_request(
        &ok,
        "REFER",
        4,
        "Refer-To: <sip:+14255550199@192.0.2.10>\n",
        None,
    );
    h.response(403);
    // The caller hangs up.
    h.carrier_request(&ok, "BYE", 5, "", None);
    h.response(200);
    assert!(matches!(
        h.last_event(),
        Some(B2buaEvent::CallEnded {
            reason: EndReason::Hangup(Party::Caller),
            ..
        })
    ));
    h.quiet();
    h.settle();
}

#[test]
fn a_flow_did_without_a_common_codec_gets_488() {
    let mut h = Harness::with(&flow_config(), B2buaSettings::default());
    let g729 = flow_invite("local-3")
        .replace("RTP/AVP 0 8 101", "RTP/AVP 18")
        .replace(
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
            "",
        );
    h.send(&g729, Harness::carrier());
    h.response(100);
    h.response(488);
    assert!(!h.saw(|e| matches!(e, B2buaEvent::LocalCallStarted { .. })));
}

#[test]
fn an_srtp_offer_to_a_flow_is_answered_with_our_own_key() {
    let mut h = Harness::with(&flow_config(), B2buaSettings::default());
    let savp = flow_invite("local-4").replace(
        "m=audio 30000 RTP/AVP 0 8 101\r\n",
        "m=audio 30000 RTP/SAVP 0 8 101\r\n\
         a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\n",
    );
    assert!(savp.contains("RTP/SAVP"), "the test offer lost its shape");
    h.send(&savp, Harness::carrier());
    h.response(100);
    let (ok, _) = h.response(200);
    let answer = sdp_of(&ok.body);
    let media = &answer.media[0];
    assert_eq!(media.proto, "RTP/SAVP");
    let crypto: Vec<_> = media.cryptos().collect();
    assert_eq!(crypto.len(), 1, "{answer:?}");
    assert_eq!(crypto[0].tag, 1);
    assert_eq!(crypto[0].suite, "AES_CM_128_HMAC_SHA1_80");
    let (key, salt) = crypto[0].master_key_salt().unwrap();
    assert_eq!((key.len(), salt.len()), (16, 14));
    assert!(
        key.iter().any(|b| *b != 0),
        "a real key, not the placeholder"
    );
}
