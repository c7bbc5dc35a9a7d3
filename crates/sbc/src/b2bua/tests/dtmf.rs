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

/// The carrier's SDP with PCMU only: no telephone-event.
fn pcmu_only(version: u32) -> String {
    peer_sdp("192.0.2.10", version, "0", "", "sendrecv")
}

/// A carrier -> Teams call whose carrier offers PCMU only; Teams answers
/// PCMU with telephone-event 101 when it was offered.
fn establish_pcmu_only(h: &mut Harness, call_id: &str) -> (Established, sdp::Session) {
    let invite = carrier_invite(call_id, "").replace(CARRIER_SDP, &pcmu_only(1));
    let teams_invite = h.place_call(&invite, Harness::carrier());
    let offered = sdp_of(&teams_invite.body);
    let answer = if offered.media[0].telephone_events().next().is_some() {
        teams_sdp(1, "sendrecv").replace("RTP/SAVP 0 8 101", "RTP/SAVP 0 101")
    } else {
        teams_sdp(1, "sendrecv")
            .replace("RTP/SAVP 0 8 101", "RTP/SAVP 0")
            .replace("a=rtpmap:101 telephone-event/8000\r\n", "")
    };
    let teams_ok = reply(&teams_invite, 200, "teams-tag", TEAMS_DIALOG, Some(&answer));
    let carrier_ok = h.answered_by(teams_ok.clone(), Harness::teams());
    h.ack_carrier(&carrier_ok);
    h.quiet();
    let call = Established {
        teams_invite,
        teams_ok,
        carrier_ok,
    };
    (call, offered)
}

#[test]
fn teams_is_offered_telephone_event_an_info_carrier_did_not_offer() {
    let (mut h, media) = harness(Some("info"));
    let (call, offered) = establish_pcmu_only(&mut h, "c-info-add-event");
    // Teams gets telephone-event at PCMU's clock rate, events 0-15.
    let audio = &offered.media[0];
    assert_eq!(audio.formats, ["0", "101"]);
    let event = audio.telephone_events().next().unwrap();
    assert_eq!((event.payload_type, event.clock_rate), (101, 8000));
    assert_eq!(audio.fmtp(101).unwrap().params, "0-15");
    // The carrier's answer names only what it offered (RFC 3264 §6.1).
    let answer = sdp_of(&call.carrier_ok.body);
    assert_eq!(answer.media[0].formats, ["0"]);
    assert!(!wire_text(call.carrier_ok.clone()).contains("telephone-event"));
    // The relay may send events to Teams only.
    assert_eq!(media.codec("52.114.1.1").telephone_event, Some(101));
    assert_eq!(media.codec("192.0.2.10").telephone_event, None);
    // INFO digits still become events for the Teams leg.
    let (teams_leg, _) = media.stream("52.114.1.1");
    h.carrier_request(
        &call.carrier_ok,
        "INFO",
        2,
        "",
        Some(("application/dtmf-relay", "Signal=7\r\nDuration=120\r\n")),
    );
    h.response(200);
    h.quiet();
    let id = h.started_call();
    assert_eq!(
        dtmf_events(&h),
        [(id, teams_leg, '7', Duration::from_millis(120))]
    );
    // A re-offer from the carrier, still without it, keeps it.
    h.carrier_in_dialog(&call, "INVITE", 3, "", Some(&pcmu_only(2)));
    let (reinvite, _) = h.request(Method::Invite);
    let reoffer = sdp_of(&reinvite.body);
    assert_eq!(reoffer.media[0].formats, ["0", "101"]);
    assert_eq!(reoffer.media[0].fmtp(101).unwrap().params, "0-15");
}

#[test]
fn an_inband_carrier_gets_telephone_event_on_a_free_payload_type() {
    let (mut h, _) = harness(Some("inband"));
    // 101 is taken by another codec of the carrier's that Teams takes.
    let sdp = peer_sdp(
        "192.0.2.10",
        1,
        "0 101",
        "a=rtpmap:101 SILK/16000\r\n",
        "sendrecv",
    );
    let invite = carrier_invite("c-inband-pt", "").replace(CARRIER_SDP, &sdp);
    let teams_invite = h.place_call(&invite, Harness::carrier());
    let offered = sdp_of(&teams_invite.body);
    let audio = &offered.media[0];
    let event = audio.telephone_events().next().unwrap();
    assert_eq!(audio.formats, ["0", "101", "96"]);
    assert_eq!((event.payload_type, event.clock_rate), (96, 8000));
    assert_eq!(audio.fmtp(96).unwrap().params, "0-15");
}

#[test]
fn an_rfc4733_carrier_without_telephone_event_is_offered_as_it_is() {
    let (mut h, media) = harness(None);
    let (call, offered) = establish_pcmu_only(&mut h, "c-rfc4733-no-event");
    assert_eq!(offered.media[0].formats, ["0"]);
    assert!(!wire_text(call.teams_invite.clone()).contains("telephone-event"));
    assert_eq!(media.codec("52.114.1.1").telephone_event, None);
    assert_eq!(media.codec("192.0.2.10").telephone_event, None);
}

/// Asserts that `offer` lists PCMU and telephone-event 101 at 8000 Hz,
/// events 0-15, the one switchboard adds.
fn assert_offers_added_event(offer: &sdp::Session) {
    let audio = &offer.media[0];
    assert_eq!(audio.formats, ["0", "101"]);
    let event = audio.telephone_events().next().unwrap();
    assert_eq!((event.payload_type, event.clock_rate), (101, 8000));
    assert_eq!(audio.fmtp(101).unwrap().params, "0-15");
}

/// A call from the carrier (PCMU only) to the flow number, answered by
/// switchboard and acknowledged: our 200, the call and the caller's leg.
fn pcmu_only_flow_call(h: &mut Harness, call_id: &str) -> (Response, CallId, LegId) {
    h.send(
        &flow_invite(call_id).replace(CARRIER_SDP, &pcmu_only(1)),
        Harness::carrier(),
    );
    h.response(100);
    let (ok, _) = h.response(200);
    h.carrier_request(&ok, "ACK", 1, "", None);
    let (call, leg) = h
        .events
        .iter()
        .find_map(|e| match e {
            B2buaEvent::LocalCallStarted { call, leg, .. } => Some((*call, *leg)),
            _ => None,
        })
        .unwrap();
    // switchboard answered with what the caller offered: no events.
    assert_eq!(sdp_of(&ok.body).media[0].formats, ["0"]);
    (ok, call, leg)
}

/// Teams' answer with PCMU and telephone-event 101.
fn teams_pcmu_and_event(version: u32) -> String {
    teams_sdp(version, "sendrecv").replace("RTP/SAVP 0 8 101", "RTP/SAVP 0 101")
}

#[test]
fn an_agent_dialled_for_an_info_caller_is_offered_telephone_event() {
    let config = with_carrier_dtmf(&flow_config(), "info");
    let (mut h, media) = Harness::recorded(&config);
    let (caller_ok, call, _) = pcmu_only_flow_call(&mut h, "dial-info-event");
    let agent = h
        .b2bua
        .dial(call, teams_user("+14255550123"), h.now)
        .unwrap();
    h.pump();
    let (invite, _) = h.request(Method::Invite);
    assert_offers_added_event(&sdp_of(&invite.body));
    agent_answers(&mut h, &invite);
    // The caller, answered long ago, hears nothing of it.
    h.quiet();
    assert_eq!(media.codec("52.114.1.1").telephone_event, Some(101));
    assert_eq!(media.codec("192.0.2.10").telephone_event, None);
    // The caller's INFO digits become events for the agent.
    h.carrier_request(
        &caller_ok,
        "INFO",
        2,
        "",
        Some(("application/dtmf-relay", "Signal=4\r\nDuration=120\r\n")),
    );
    h.response(200);
    h.quiet();
    assert_eq!(
        dtmf_events(&h),
        [(call, agent, '4', Duration::from_millis(120))]
    );
}

#[test]
fn an_agent_dialled_for_an_rfc4733_caller_is_offered_what_the_caller_has() {
    let (mut h, _) = Harness::recorded(&flow_config());
    let (_, call, _) = pcmu_only_flow_call(&mut h, "dial-rfc4733");
    h.b2bua
        .dial(call, teams_user("+14255550123"), h.now)
        .unwrap();
    h.pump();
    let (invite, _) = h.request(Method::Invite);
    assert_eq!(sdp_of(&invite.body).media[0].formats, ["0"]);
    assert!(!wire_text(invite).contains("telephone-event"));
}

#[test]
fn a_party_added_to_an_info_callers_call_is_offered_telephone_event() {
    let config = with_carrier_dtmf(&flow_config(), "info");
    let (mut h, _) = Harness::recorded(&config);
    let (_, call, _) = pcmu_only_flow_call(&mut h, "party-info-event");
    h.b2bua
        .dial(call, teams_user("+14255550123"), h.now)
        .unwrap();
    h.pump();
    let (invite, _) = h.request(Method::Invite);
    agent_answers(&mut h, &invite);
    h.quiet();
    // The third party's offer is made from the caller's media.
    h.b2bua
        .add_party(call, teams_user("+14255550124"), None, h.now)
        .unwrap();
    h.pump();
    let (third, _) = h.request(Method::Invite);
    assert_offers_added_event(&sdp_of(&third.body));
}

#[test]
fn a_transfer_target_of_an_info_caller_is_offered_telephone_event_the_caller_is_not() {
    let (mut h, media) = harness(Some("info"));
    let (call, _) = establish_pcmu_only(&mut h, "c-info-refer");
    let (invite, _) = h.teams_refer(
        &call,
        1,
        "<sip:+14255550124@sip.pstnhub.microsoft.com;user=phone>",
    );
    assert_offers_added_event(&sdp_of(&invite.body));
    // The target answers with it; the carrier's re-offer, made from that
    // answer, leaves it out: the carrier never offered it.
    let target_dialog = "Contact: <sip:api-du-c.pstnhub.microsoft.com:443;transport=tls;x-i=new>
Record-Route: <sip:sip-du-b-us.pstnhub.microsoft.com:5061;transport=tls;lr>
";
    let ok = reply(
        &invite,
        200,
        "new-tag",
        target_dialog,
        Some(&teams_pcmu_and_event(7).replace("52.114.1.1", "52.114.1.2")),
    );
    h.deliver(ok, Harness::teams());
    h.request(Method::Ack);
    h.request(Method::Notify);
    h.request(Method::Bye);
    let (reinvite, _) = h.request(Method::Invite);
    assert_eq!(reinvite.headers.call_id().unwrap(), "c-info-refer");
    assert_eq!(sdp_of(&reinvite.body).media[0].formats, ["0"]);
    assert!(!wire_text(reinvite.clone()).contains("telephone-event"));
    h.quiet();
    let answer = reply(
        &reinvite,
        200,
        "",
        "Contact: <sip:2065550199@192.0.2.10:5060>\n",
        Some(&pcmu_only(2)),
    );
    h.deliver(answer, Harness::carrier());
    h.request(Method::Ack);
    h.quiet();
    // The relay sends events to the target only.
    assert_eq!(media.codec("52.114.1.2").telephone_event, Some(101));
    assert_eq!(media.codec("192.0.2.10").telephone_event, None);
}

/// A confirmed call from the carrier (RFC 4733, the default) to trunk b,
/// which takes DTMF as INFO: the INFO target of the duplicate tests.
struct InfoTrunkCall {
    h: Harness,
    /// Our 200 to the carrier, for its requests in the dialog.
    carrier_ok: Response,
    call: CallId,
    /// Trunk b's leg.
    b_leg: LegId,
    /// The carrier's next CSeq.
    cseq: u32,
    /// The carrier's INFOs answered 200.
    answered: u32,
}

impl InfoTrunkCall {
    fn new(call_id: &str) -> InfoTrunkCall {
        let b_targets = "targets = [\"sip:198.18.0.10:5060\"]\n";
        let config = edit(
            &with_trunk_b(CONFIG, ""),
            b_targets,
            &format!("{b_targets}dtmf = \"info\"\n"),
        );
        let (mut h, media) = Harness::recorded(&config);
        let invite = carrier_invite(call_id, "").replace("2065550100@", "4155550123@");
        let b_invite = h.place_call(&invite, Harness::carrier());
        let answer = peer_sdp("198.18.0.10", 1, "0 101", TELEPHONE_EVENT, "sendrecv");
        let contact = format!("Contact: {}\n", super::codecs::TRUNK_B_SIDE.contact);
        let b_ok = reply(&b_invite, 200, "b-tag", &contact, Some(&answer));
        let carrier_ok = h.answered_by(b_ok, Harness::trunk_b());
        h.ack_carrier(&carrier_ok);
        h.quiet();
        let (b_leg, b_stream) = media.stream("198.18.0.10");
        // Trunk b answered: the media plane knows it takes INFO.
        assert_eq!(b_stream.dtmf, DtmfMode::Info);
        let call = h.started_call();
        InfoTrunkCall {
            h,
            carrier_ok,
            call,
            b_leg,
            cseq: 2,
            answered: 0,
        }
    }

    /// The carrier's INFO with a press of `digit` (100 ms), which the
    /// B2BUA relays to trunk b unless it is a duplicate.
    fn info(&mut self, digit: char) {
        let body = format!("Signal={digit}\r\nDuration=100\r\n");
        let relay = Some(("application/dtmf-relay", body.as_str()));
        self.h
            .carrier_request(&self.carrier_ok, "INFO", self.cseq, "", relay);
        self.cseq += 1;
    }

    /// A press of `digit` (100 ms) the media relay took out of the
    /// carrier's RTP for trunk b.
    fn converted(&mut self, digit: char) {
        let h = &mut self.h;
        let duration = Duration::from_millis(100);
        h.b2bua
            .send_dtmf_info(self.call, self.b_leg, digit, duration, h.now);
        h.pump();
    }

    fn advance_ms(&mut self, ms: u64) {
        self.h.advance(Duration::from_millis(ms));
    }

    /// Answers every INFO sent to trunk b with 200 and returns their
    /// keys, in order; asserts the carrier's INFOs were all answered 200
    /// and nothing else was sent.
    fn infos_to_b(&mut self) -> Vec<char> {
        let mut keys = Vec::new();
        while let Some(Outgoing { message, next_hop }) = self.h.out.pop_front() {
            match message {
                Message::Request(info) if info.method == Method::Info => {
                    assert!(resolve_uri(&next_hop).contains("@198.18.0.10:5060"));
                    let body = std::str::from_utf8(&info.body).unwrap();
                    let key = body.strip_prefix("Signal=").unwrap().chars().next();
                    keys.push(key.unwrap());
                    let ok = reply(&info, 200, "", "", None);
                    self.h.deliver(ok, Harness::trunk_b());
                }
                Message::Response(ok) if ok.status == StatusCode::OK => {
                    assert_eq!(ok.headers.cseq().unwrap().method, Method::Info);
                    assert_eq!(reply_addr(&next_hop), "192.0.2.10:5060".parse().unwrap());
                    self.answered += 1;
                }
                other => panic!("unexpected {}", summary(&other)),
            }
        }
        assert_eq!(self.answered, self.cseq - 2, "the carrier's INFOs answered");
        keys
    }
}

#[test]
fn an_info_then_the_same_press_from_rtp_reaches_an_info_trunk_once() {
    let mut c = InfoTrunkCall::new("c-dup-info-first");
    c.info('5');
    assert_eq!(c.infos_to_b(), ['5']);
    c.advance_ms(200);
    c.converted('5');
    assert_eq!(c.infos_to_b(), [], "the press from RTP is the same");
    assert_eq!(c.h.stats.dtmf_duplicates(), 1);
    assert_eq!(c.h.stats.dtmf_info_failures(), 0);
    assert!(!c.h.saw(|e| matches!(e, B2buaEvent::DtmfInfoFailed { .. })));
}

#[test]
fn a_press_from_rtp_then_the_same_info_reaches_an_info_trunk_once() {
    let mut c = InfoTrunkCall::new("c-dup-rtp-first");
    c.converted('#');
    assert_eq!(c.infos_to_b(), ['#']);
    c.advance_ms(400);
    // The carrier's INFO is answered 200 here, not relayed.
    c.info('#');
    assert_eq!(c.infos_to_b(), []);
    assert_eq!(c.h.stats.dtmf_duplicates(), 1);
}

#[test]
fn the_same_key_pressed_again_after_the_window_reaches_an_info_trunk_again() {
    let mut c = InfoTrunkCall::new("c-dup-later");
    c.info('5');
    c.advance_ms(100);
    c.converted('5');
    assert_eq!(c.infos_to_b(), ['5']);
    c.advance_ms(1400);
    // 1.5 s later: the same key, pressed again, the other form first.
    c.converted('5');
    c.advance_ms(100);
    c.info('5');
    assert_eq!(c.infos_to_b(), ['5']);
    assert_eq!(c.h.stats.dtmf_duplicates(), 2);
    // A press in one form only is forgotten after its window: an INFO
    // of a 100 ms press, then 1.2 s later the key from RTP alone.
    c.advance_ms(3000);
    c.info('5');
    assert_eq!(c.infos_to_b(), ['5']);
    c.advance_ms(1200);
    c.converted('5');
    assert_eq!(c.infos_to_b(), ['5']);
    assert_eq!(c.h.stats.dtmf_duplicates(), 2);
}

#[test]
fn different_keys_each_reach_an_info_trunk() {
    let mut c = InfoTrunkCall::new("c-dup-keys");
    // 5 and 6 pressed quickly, each sent both ways, the forms crossing.
    c.info('5');
    c.advance_ms(50);
    c.converted('6');
    c.advance_ms(70);
    c.converted('5');
    c.advance_ms(30);
    c.info('6');
    assert_eq!(c.infos_to_b(), ['5', '6']);
    assert_eq!(c.h.stats.dtmf_duplicates(), 2);
}

#[test]
fn a_quick_double_press_reaches_an_info_trunk_twice() {
    let mut c = InfoTrunkCall::new("c-dup-double");
    // 5 twice within 300 ms, each press as INFO then from RTP.
    c.info('5');
    c.advance_ms(100);
    c.converted('5');
    c.advance_ms(150);
    c.info('5');
    c.advance_ms(100);
    c.converted('5');
    assert_eq!(c.infos_to_b(), ['5', '5']);
    // 9 twice, both INFOs before both presses from RTP.
    c.advance_ms(3000);
    c.info('9');
    c.advance_ms(200);
    c.info('9');
    c.advance_ms(50);
    c.converted('9');
    c.advance_ms(200);
    c.converted('9');
    assert_eq!(c.infos_to_b(), ['9', '9']);
    assert_eq!(c.h.stats.dtmf_duplicates(), 4);
}

/// The dialled Teams agent answers `invite` with PCMU and
/// telephone-event; we ACK.
fn agent_answers(h: &mut Harness, invite: &Request) {
    let ok = reply(
        invite,
        200,
        "agent-tag",
        TEAMS_DIALOG,
        Some(&teams_pcmu_and_event(1)),
    );
    h.deliver(ok, Harness::teams());
    h.request(Method::Ack);
}
