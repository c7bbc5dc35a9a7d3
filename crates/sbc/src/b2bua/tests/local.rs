//! Calls switchboard answers itself (a DID routed to a flow).

use super::*;

/// The test config with DID +12065550102 routed to flow `contoso-main`.
pub(super) fn config() -> String {
    let with_flow = CONFIG.replace(
        "\"+12065550101\" = \"+14255550124\"\n",
        "\"+12065550101\" = \"+14255550124\"\n\"+12065550102\" = { flow = \"contoso-main\" }\n",
    );
    assert_ne!(with_flow, CONFIG, "the test config lost its DIDs");
    with_flow
}

fn invite_to_flow(call_id: &str) -> String {
    carrier_invite(call_id, "").replace("2065550100@", "2065550102@")
}

/// Carrier's in-dialog request to us, in the dialog of `ok`.
pub(super) fn in_dialog(method: &str, cseq: u32, ok: &Response, extra: &str, body: &str) -> String {
    let to = String::from_utf8_lossy(ok.headers.get(&HeaderName::To).unwrap()).into_owned();
    let call_id = ok.headers.call_id().unwrap().to_owned();
    format!(
        "{method} sip:2065550102@203.0.113.1:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{call_id}-{cseq}
Max-Forwards: 70
From: \"Alice\" <sip:2065550199@192.0.2.10>;tag=carrier-tag
To: {to}
Call-ID: {call_id}
CSeq: {cseq} {method}
Contact: <sip:2065550199@192.0.2.10:5060>
{extra}
{body}"
    )
}

/// Answers the flow call `call_id`; returns the 200 and the call's id.
pub(super) fn answered(h: &mut Harness, call_id: &str) -> (Response, CallId) {
    h.send(&invite_to_flow(call_id), Harness::carrier());
    h.response(100);
    let (ok, _) = h.response(200);
    let Some(B2buaEvent::LocalCallStarted {
        call, flow, did, ..
    }) = h
        .events
        .iter()
        .find(|e| matches!(e, B2buaEvent::LocalCallStarted { .. }))
        .cloned()
    else {
        panic!("no LocalCallStarted: {:?}", h.events);
    };
    assert_eq!(flow, "contoso-main");
    assert_eq!(did.as_str(), "+12065550102");
    h.send(&in_dialog("ACK", 1, &ok, "", ""), Harness::carrier());
    (ok, call)
}

#[test]
fn a_flow_did_is_answered_by_switchboard_with_anchored_g711() {
    let mut h = Harness::with(&config(), B2buaSettings::default());
    let (ok, call) = answered(&mut h, "local-1");
    // Nothing went anywhere else: no INVITE out.
    h.quiet();
    let answer = sdp::Session::parse(&ok.body).unwrap();
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
    let mut h = Harness::with(&config(), B2buaSettings::default());
    let (ok, call) = answered(&mut h, "local-2");
    let dtmf = "Signal=5\r\nDuration=160\r\n";
    h.send(
        &in_dialog(
            "INFO",
            2,
            &ok,
            "Content-Type: application/dtmf-relay\n",
            dtmf,
        ),
        Harness::carrier(),
    );
    h.response(200);
    assert!(h.events.iter().any(|e| matches!(
        e,
        B2buaEvent::Info { call: c, content_type, body }
            if *c == call && content_type == "application/dtmf-relay" && body.as_ref() == dtmf.as_bytes()
    )));
    // Hold: the carrier sends sendonly; we answer recvonly, same port.
    let hold = CARRIER_SDP
        .replace("a=sendrecv", "a=sendonly")
        .replace("o=carrier 1000 1", "o=carrier 1000 2");
    h.send(
        &in_dialog("INVITE", 3, &ok, "Content-Type: application/sdp\n", &hold),
        Harness::carrier(),
    );
    let (held, _) = h.response(200);
    let first = sdp::Session::parse(&ok.body).unwrap();
    let answer = sdp::Session::parse(&held.body).unwrap();
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
    h.send(&in_dialog("ACK", 3, &held, "", ""), Harness::carrier());
    // A REFER has nobody to transfer to.
    h.send(
        &in_dialog(
            "REFER",
            4,
            &ok,
            "Refer-To: <sip:+14255550199@192.0.2.10>\n",
            "",
        ),
        Harness::carrier(),
    );
    h.response(403);
    // The caller hangs up.
    h.send(&in_dialog("BYE", 5, &ok, "", ""), Harness::carrier());
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
    let mut h = Harness::with(&config(), B2buaSettings::default());
    let g729 = invite_to_flow("local-3")
        .replace("RTP/AVP 0 8 101", "RTP/AVP 18")
        .replace(
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
            "",
        );
    h.send(&g729, Harness::carrier());
    h.response(100);
    h.response(488);
    assert!(!h
        .events
        .iter()
        .any(|e| matches!(e, B2buaEvent::LocalCallStarted { .. })));
}

#[test]
fn an_srtp_offer_to_a_flow_is_answered_with_our_own_key() {
    let mut h = Harness::with(&config(), B2buaSettings::default());
    let savp = invite_to_flow("local-4").replace(
        "m=audio 30000 RTP/AVP 0 8 101\r\n",
        "m=audio 30000 RTP/SAVP 0 8 101\r\n\
         a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\n",
    );
    assert!(savp.contains("RTP/SAVP"), "the test offer lost its shape");
    h.send(&savp, Harness::carrier());
    h.response(100);
    let (ok, _) = h.response(200);
    let answer = sdp::Session::parse(&ok.body).unwrap();
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
