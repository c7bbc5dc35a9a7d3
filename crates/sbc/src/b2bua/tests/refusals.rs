//! Requests refused before a call exists.

use super::*;

fn stranger() -> Source {
    udp_peer("198.51.100.66:5060")
}

#[test]
fn unknown_source_gets_403() {
    let mut h = Harness::new();
    h.send(&carrier_invite("c-stranger", ""), stranger());
    let (response, hop) = h.response(403);
    assert_eq!(reply_addr(&hop), "198.51.100.66:5060".parse().unwrap());
    assert_eq!(response.headers.call_id().unwrap(), "c-stranger");
    h.quiet();
    assert!(h.events.is_empty());
    assert_eq!(h.stats.rejected(crate::RejectReason::UnknownSource), 1);
    // Teams' subnet without a Teams certificate is refused as well.
    let fake = Source {
        tls_peer_names: vec!["evil.example".to_owned()],
        ..Harness::teams()
    };
    h.send(&carrier_invite("c-fake-teams", ""), fake);
    h.response(403);
    h.settle();
}

#[test]
fn over_the_limit_gets_503_with_retry_after() {
    let config = CONFIG.replace("max_concurrent_calls = 10", "max_concurrent_calls = 1");
    let mut h = Harness::with(&config, B2buaSettings::default());
    h.place_call(&carrier_invite("c-first", ""), Harness::carrier());
    h.send(&carrier_invite("c-second", ""), Harness::carrier());
    h.response(100);
    let (busy, _) = h.response(503);
    assert_eq!(busy.headers.get_str(&HeaderName::RetryAfter), Some("5"));
    h.quiet();
    assert_eq!(h.b2bua.gate().active_calls(), 1);
}

#[test]
fn unrouted_numbers_get_404() {
    let mut h = Harness::new();
    let text = carrier_invite("c-404", "").replace("sip:2065550100@", "sip:2065550777@");
    h.send(&text, Harness::carrier());
    h.response(100);
    h.response(404);
    h.quiet();
    h.settle();
}

#[test]
fn malformed_requests() {
    let mut h = Harness::new();
    // Unknown URI scheme.
    let text = carrier_invite("c-416", "").replace(
        "INVITE sip:2065550100@203.0.113.1:5060 SIP/2.0",
        "INVITE mailto:support@example.net SIP/2.0",
    );
    h.send(&text, Harness::carrier());
    h.response(416);
    // An extension we do not support.
    h.send(
        &carrier_invite("c-420", "Require: 100rel, precondition\n"),
        Harness::carrier(),
    );
    let (response, _) = h.response(420);
    assert_eq!(
        response.headers.get_str(&HeaderName::Unsupported),
        Some("100rel, precondition")
    );
    // No hops left.
    let text = carrier_invite("c-483", "").replace("Max-Forwards: 70", "Max-Forwards: 0");
    h.send(&text, Harness::carrier());
    h.response(483);
    // A header that does not parse: 400 naming it.
    h.send(
        &carrier_invite("c-400", "Session-Expires: soon\n"),
        Harness::carrier(),
    );
    let (response, _) = h.response(400);
    let reason = String::from_utf8(response.reason.to_vec()).unwrap();
    assert!(reason.contains("Session-Expires"), "{reason}");
    // No SDP offer.
    let text = carrier_invite("c-488", "");
    let text = &text[..text.find("Content-Type").unwrap()];
    h.send(&format!("{text}\n"), Harness::carrier());
    h.response(100);
    h.response(488);
    // A session interval below our Min-SE.
    h.send(
        &carrier_invite("c-422", "Session-Expires: 30\n"),
        Harness::carrier(),
    );
    h.response(100);
    let (response, _) = h.response(422);
    assert_eq!(response.headers.min_se().unwrap(), Some(90));
    h.quiet();
    assert_eq!(h.b2bua.gate().active_calls(), 0);
    assert!(h.events.is_empty());
    h.settle();
}

#[test]
fn unparsable_requests_get_505_and_513() {
    let text = carrier_invite("c-505", "").replace("SIP/2.0\n", "SIP/3.0\n");
    let text = text.replace('\n', "\r\n");
    let bytes = text.as_bytes();
    let error = Message::parse(Bytes::copy_from_slice(bytes)).unwrap_err();
    let response = response_for_unparsable(bytes, &error).unwrap();
    assert_eq!(response.status, StatusCode::VERSION_NOT_SUPPORTED);
    let big = format!(
        "{}X-Padding: {}\r\n\r\n",
        carrier_invite("c-513", "")
            .split("Content-Type")
            .next()
            .unwrap()
            .replace('\n', "\r\n"),
        "p".repeat(70_000)
    );
    let error = Message::parse(Bytes::from(big.clone())).unwrap_err();
    let response = response_for_unparsable(big.as_bytes(), &error).unwrap();
    assert_eq!(response.status, StatusCode::MESSAGE_TOO_LARGE);
    assert_eq!(response.headers.call_id().unwrap(), "c-513");
}

#[test]
fn options_and_unknown_dialogs() {
    let mut h = Harness::new();
    // Our own keepalives went to the three proxies at start.
    assert_eq!(h.options.len(), 3);
    let probe = h.options[0].message.as_request().unwrap().clone();
    assert_eq!(probe.uri.as_str(), "sip:sip.pstnhub.microsoft.com:5061");
    assert_eq!(
        probe.headers.get_str(&HeaderName::Contact),
        Some("<sip:sbc1.customers.example.net:5061;transport=tls>")
    );
    h.deliver(reply(&probe, 200, "p1", "", None), Harness::teams());
    // Teams' OPTIONS to a tenant FQDN.
    h.send(
        "OPTIONS sip:contoso.customers.example.net:5061;transport=tls SIP/2.0
Via: SIP/2.0/TLS 52.114.16.5:41000;branch=z9hG4bK-opt
Max-Forwards: 70
From: <sip:sip.pstnhub.microsoft.com>;tag=o1
To: <sip:contoso.customers.example.net>
Call-ID: opt-1
CSeq: 1 OPTIONS

",
        Harness::teams(),
    );
    let (ok, _) = h.response(200);
    assert_eq!(
        ok.headers.get_str(&HeaderName::Contact),
        Some("<sip:contoso.customers.example.net:5061;transport=tls>")
    );
    assert!(ok.headers.allow().any(|m| m.unwrap() == Method::Refer));
    assert_eq!(
        ok.headers.get_str(&HeaderName::from("X-MS-SBC")),
        Some("Switchboard/SBC/test")
    );
    // A BYE for no dialog.
    h.send(
        "BYE sip:x@203.0.113.1 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-nobye
Max-Forwards: 70
From: <sip:2065550199@192.0.2.10>;tag=a
To: <sip:x@203.0.113.1>;tag=b
Call-ID: nothing
CSeq: 5 BYE

",
        Harness::carrier(),
    );
    h.response(481);
    // Keepalives keep coming every 60 s.
    h.advance(Duration::from_secs(60));
    assert_eq!(h.options.len(), 6);
    h.quiet();
}

#[test]
fn full_transaction_table_answers_503_until_transactions_finish() {
    let config = CONFIG.replace(
        "max_concurrent_calls = 10\n",
        "max_concurrent_calls = 10\nmax_transactions = 1000\n",
    ) + "[security.flood]\nmax_requests = 100000\n";
    let mut h = Harness::with(&config, B2buaSettings::default());
    let options = |n: usize| {
        format!(
            "OPTIONS sip:203.0.113.1:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-full-{n}
Max-Forwards: 70
From: <sip:carrier@192.0.2.10>;tag=f{n}
To: <sip:203.0.113.1>
Call-ID: full-{n}
CSeq: 1 OPTIONS

"
        )
    };
    // Each answered OPTIONS keeps its transaction for Timer J (32 s).
    for n in 0..1000 {
        h.send(&options(n), Harness::carrier());
        h.response(200);
    }
    h.send(&options(1000), Harness::carrier());
    let (busy, _) = h.response(503);
    assert!(busy.headers.retry_after().unwrap().is_some());
    // Once Timer J let them go, there is room again.
    h.advance(Duration::from_secs(33));
    h.send(&options(1001), Harness::carrier());
    h.response(200);
}
