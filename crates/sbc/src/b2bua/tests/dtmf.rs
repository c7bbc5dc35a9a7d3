//! DTMF between a carrier and Teams: INFO towards a peer that takes RFC
//! 4733 is answered and handed to the media relay, presses the relay
//! took out of RTP go to an INFO carrier as INFO.

use super::recorded_media::MediaLog;
use super::*;
use crate::config::DtmfMode;

/// The carrier trunk with `dtmf = "{mode}"` (none: the default).
fn harness(mode: Option<&str>) -> (Harness, MediaLog) {
    match mode {
        Some(mode) => Harness::recorded(&with_carrier_dtmf(CONFIG, mode)),
        None => Harness::recorded(CONFIG),
    }
}

fn dtmf_events(h: &Harness) -> Vec<(CallId, LegId, char, Duration)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            B2buaEvent::Dtmf {
                call,
                to_leg,
                digit,
                duration,
            } => Some((*call, *to_leg, *digit, *duration)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_media_plane_learns_each_legs_dtmf_mode() {
    for (mode, expected) in [
        (None, DtmfMode::Rfc4733),
        (Some("info"), DtmfMode::Info),
        (Some("inband"), DtmfMode::Inband),
    ] {
        let (mut h, media) = harness(mode);
        h.establish("c-modes");
        assert_eq!(media.stream("192.0.2.10").1.dtmf, expected, "{mode:?}");
        assert_eq!(
            media.stream("52.114.1.1").1.dtmf,
            DtmfMode::Rfc4733,
            "Teams"
        );
    }
}

#[test]
fn carrier_info_towards_teams_is_answered_and_handed_to_the_relay() {
    let (mut h, media) = harness(Some("info"));
    let call = h.establish("c-info-dtmf");
    let id = h.started_call();
    let (teams_leg, _) = media.stream("52.114.1.1");
    let presses = [
        ("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"),
        ("application/dtmf-relay", "Signal=#\r\n"),
        ("application/dtmf", "9"),
    ];
    for (n, (content_type, body)) in presses.into_iter().enumerate() {
        h.carrier_request(
            &call.carrier_ok,
            "INFO",
            2 + n as u32,
            "",
            Some((content_type, body)),
        );
        let (ok, hop) = h.response(200);
        assert_eq!(ok.headers.cseq().unwrap().method, Method::Info);
        assert_eq!(reply_addr(&hop), "192.0.2.10:5060".parse().unwrap());
        // Not relayed: Teams takes DTMF as RFC 4733 only.
        h.quiet();
    }
    let ms = Duration::from_millis;
    assert_eq!(
        dtmf_events(&h),
        [
            (id, teams_leg, '5', ms(160)),
            (id, teams_leg, '#', ms(100)),
            (id, teams_leg, '9', ms(100)),
        ]
    );
    // A body that names no key is refused, and nothing is handed on.
    h.carrier_request(
        &call.carrier_ok,
        "INFO",
        9,
        "",
        Some(("application/dtmf-relay", "Signal=X")),
    );
    let (bad, _) = h.response(400);
    assert_eq!(&bad.reason[..], b"Signal names no key");
    h.quiet();
    assert_eq!(dtmf_events(&h).len(), 3);
    // Other INFO is relayed as before.
    h.carrier_request(
        &call.carrier_ok,
        "INFO",
        10,
        "",
        Some(("application/json", "{}")),
    );
    let (info, _) = h.request(Method::Info);
    assert_eq!(&info.body[..], b"{}");
    h.deliver(reply(&info, 200, "", "", None), Harness::teams());
    h.response(200);
    h.quiet();
}

#[test]
fn rfc4733_carrier_info_is_converted_too() {
    let (mut h, media) = harness(None);
    let call = h.establish("c-info-default");
    h.carrier_request(
        &call.carrier_ok,
        "INFO",
        2,
        "",
        Some(("application/dtmf-relay", "Signal=1\r\nDuration=100\r\n")),
    );
    h.response(200);
    h.quiet();
    let (teams_leg, _) = media.stream("52.114.1.1");
    assert_eq!(dtmf_events(&h)[0].1, teams_leg);
}

#[test]
fn presses_from_rtp_reach_an_info_carrier_as_info_in_its_dialog() {
    let (mut h, media) = harness(Some("info"));
    let call = h.establish("c-info-out");
    let id = h.started_call();
    let (carrier_leg, _) = media.stream("192.0.2.10");
    let ms = Duration::from_millis;
    h.b2bua.send_dtmf_info(id, carrier_leg, '5', ms(160), h.now);
    h.pump();
    let (first, hop) = h.request(Method::Info);
    assert_eq!(resolve_uri(&hop), "sip:2065550199@192.0.2.10:5060");
    assert_eq!(
        first.headers.get_str(&HeaderName::ContentType),
        Some("application/dtmf-relay")
    );
    assert_eq!(&first.body[..], b"Signal=5\r\nDuration=160\r\n");
    // In the carrier's dialog: its Call-ID, our tag, its tag.
    let carrier_ok = &call.carrier_ok;
    assert_eq!(
        first.headers.call_id().unwrap(),
        carrier_ok.headers.call_id().unwrap()
    );
    assert_eq!(
        first.headers.get_str(&HeaderName::From),
        carrier_ok.headers.get_str(&HeaderName::To)
    );
    assert!(first
        .headers
        .get_str(&HeaderName::To)
        .unwrap()
        .contains("tag=carrier-tag"));
    h.deliver(reply(&first, 200, "", "", None), Harness::carrier());
    h.quiet();
    // The next one takes the next CSeq.
    h.b2bua.send_dtmf_info(id, carrier_leg, '*', ms(90), h.now);
    h.pump();
    let (second, _) = h.request(Method::Info);
    let (one, two) = (
        first.headers.cseq().unwrap(),
        second.headers.cseq().unwrap(),
    );
    assert_eq!((one.method, two.method), (Method::Info, Method::Info));
    assert_eq!(two.seq, one.seq + 1);
    assert_eq!(&second.body[..], b"Signal=*\r\nDuration=90\r\n");
    h.deliver(reply(&second, 200, "", "", None), Harness::carrier());
    assert_eq!(h.stats.dtmf_info_failures(), 0);
    h.quiet();
}

#[test]
fn a_failed_info_is_counted_and_the_call_goes_on() {
    let (mut h, media) = harness(Some("info"));
    let call = h.establish("c-info-fail");
    let id = h.started_call();
    let (carrier_leg, _) = media.stream("192.0.2.10");
    let ms = Duration::from_millis;
    let failed = |h: &Harness| {
        h.events
            .iter()
            .filter_map(|e| match e {
                B2buaEvent::DtmfInfoFailed { leg, status, .. } => Some((*leg, status.0)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    h.b2bua.send_dtmf_info(id, carrier_leg, '3', ms(100), h.now);
    h.pump();
    let (info, _) = h.request(Method::Info);
    h.deliver(reply(&info, 500, "", "", None), Harness::carrier());
    h.quiet();
    assert_eq!(failed(&h), [(carrier_leg, 500)]);
    // No answer at all: Timer F (32 s).
    h.b2bua.send_dtmf_info(id, carrier_leg, '4', ms(100), h.now);
    h.pump();
    h.request(Method::Info);
    h.advance(Duration::from_secs(40));
    h.out
        .retain(|o| !matches!(&o.message, Message::Request(r) if r.method == Method::Info));
    h.quiet();
    assert_eq!(failed(&h), [(carrier_leg, 500), (carrier_leg, 408)]);
    // Not a key, no such leg: refused before anything is sent.
    h.b2bua.send_dtmf_info(id, carrier_leg, 'x', ms(100), h.now);
    h.b2bua.send_dtmf_info(id, LegId(999), '1', ms(100), h.now);
    h.pump();
    h.quiet();
    assert_eq!(h.stats.dtmf_info_failures(), 4);
    // The call is still up: a BYE from the carrier ends it normally.
    assert!(!h.saw(|e| matches!(e, B2buaEvent::CallEnded { .. })));
    h.carrier_request(&call.carrier_ok, "BYE", 5, "", None);
    h.response(200);
    h.request(Method::Bye);
}
