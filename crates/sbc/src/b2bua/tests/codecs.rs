//! Codec negotiation: legs share a codec whenever they can; otherwise each
//! is given one of its own and the relay transcodes.

use super::*;
use crate::{DialTarget, E164};

/// Trunk b's side of a call to it.
pub(super) const TRUNK_B_SIDE: CalleeSide = CalleeSide {
    sent_by: "UDP 198.18.0.10:5060",
    branch: "b",
    contact: "<sip:b@198.18.0.10:5060>",
};

/// The first stream of an SDP body.
fn media(body: &[u8]) -> sdp::Media {
    sdp_of(body).media.remove(0)
}

pub(super) fn formats(body: &[u8]) -> Vec<String> {
    media(body).formats
}

/// The carrier calls +14155550123 (routed to trunk b) offering `offer`;
/// returns the INVITE trunk b gets.
fn call_trunk_b(h: &mut Harness, call_id: &str, offer: &str) -> Request {
    let invite = carrier_invite(call_id, "")
        .replace("2065550100@", "4155550123@")
        .replace(CARRIER_SDP, offer);
    h.place_call(&invite, Harness::carrier())
}

/// Trunk b's 200 to `invite`, answering with `answer`.
fn b_ok(invite: &Request, answer: &str) -> Response {
    let contact = format!("Contact: {}\n", TRUNK_B_SIDE.contact);
    reply(invite, 200, "b-tag", &contact, Some(answer))
}

/// Trunk b answers `invite` with `answer`; returns its 200 and the one
/// the carrier got, which is acknowledged.
fn answer_from_b(h: &mut Harness, invite: &Request, answer: &str) -> (Response, Response) {
    let ok = b_ok(invite, answer);
    let carrier_ok = h.answered_by(ok.clone(), Harness::trunk_b());
    h.ack_carrier(&carrier_ok);
    (ok, carrier_ok)
}

/// What was sent, as `METHOD` or status code, in order.
fn sent(h: &mut Harness) -> Vec<String> {
    h.out
        .drain(..)
        .map(|o| match o.message {
            Message::Request(r) => r.method.to_string(),
            Message::Response(r) => r.status.0.to_string(),
        })
        .collect()
}

/// A transcoded call: the carrier offers PCMU only, trunk b takes PCMA
/// and telephone-event.
fn transcoded_call(h: &mut Harness, call_id: &str) -> (Request, Response, Established) {
    let offer = peer_sdp("192.0.2.10", 1, "0", "", "sendrecv");
    let invite = call_trunk_b(h, call_id, &offer);
    let answer = peer_sdp("198.18.0.10", 1, "8 101", TELEPHONE_EVENT, "sendrecv");
    let (b_ok, carrier_ok) = answer_from_b(h, &invite, &answer);
    let established = Established {
        teams_invite: invite.clone(),
        teams_ok: b_ok.clone(),
        carrier_ok,
    };
    (invite, b_ok, established)
}

#[test]
fn a_pcmu_offer_to_a_pcma_trunk_is_transcoded() {
    let (mut h, seen) = Harness::recorded(&with_trunk_b(CONFIG, r#"["PCMA", "telephone-event"]"#));
    let offer = peer_sdp("192.0.2.10", 1, "0", "", "sendrecv");
    let invite = call_trunk_b(&mut h, "tc-1", &offer);
    // Trunk b is offered its own list: PCMA and telephone-event.
    let offered = media(&invite.body);
    assert_eq!(offered.formats, ["8", "101"]);
    assert_eq!(offered.rtpmap(8).unwrap().to_string(), "8 PCMA/8000");
    assert_eq!(
        offered.rtpmap(101).unwrap().to_string(),
        "101 telephone-event/8000"
    );
    assert_eq!(offered.fmtp(101).unwrap().params, "0-15");
    let answer = peer_sdp("198.18.0.10", 1, "8 101", TELEPHONE_EVENT, "sendrecv");
    let (_, carrier_ok) = answer_from_b(&mut h, &invite, &answer);
    // The carrier's answer is a subset of its offer: PCMU only.
    let answered = media(&carrier_ok.body);
    assert_eq!(answered.formats, ["0"]);
    assert!(answered.telephone_events().next().is_none());
    // Each leg's own codec reaches the media plane.
    let a = seen.codec("192.0.2.10");
    assert_eq!(
        (
            a.payload_type,
            a.encoding.as_str(),
            a.clock_rate,
            a.telephone_event
        ),
        (0, "PCMU", 8000, None)
    );
    let b = seen.codec("198.18.0.10");
    assert_eq!(
        (
            b.payload_type,
            b.encoding.as_str(),
            b.clock_rate,
            b.telephone_event
        ),
        (8, "PCMA", 8000, Some(101))
    );
    assert_eq!(h.stats.transcoded_calls(), 1);
    assert_eq!(h.stats.untranscodable_offers(), 0);
    h.quiet();
}

#[test]
fn a_shared_codec_is_offered_as_the_intersection_without_transcoding() {
    let (mut h, seen) = Harness::recorded(&with_trunk_b(CONFIG, r#"["PCMA", "telephone-event"]"#));
    let invite = call_trunk_b(&mut h, "tc-shared", CARRIER_SDP);
    assert_eq!(formats(&invite.body), ["8", "101"]);
    let answer = peer_sdp("198.18.0.10", 1, "8 101", TELEPHONE_EVENT, "sendrecv");
    let (_, carrier_ok) = answer_from_b(&mut h, &invite, &answer);
    assert_eq!(formats(&carrier_ok.body), ["8", "101"]);
    assert_eq!(seen.codec("192.0.2.10"), seen.codec("198.18.0.10"));
    assert_eq!(seen.codec("192.0.2.10").encoding, "PCMA");
    assert_eq!(h.stats.transcoded_calls(), 0);
}

#[test]
fn a_g729_only_offer_passes_unfiltered_and_is_counted() {
    let (mut h, seen) = Harness::recorded(&with_trunk_b(CONFIG, ""));
    let offer = peer_sdp("192.0.2.10", 1, "18", "", "sendrecv");
    let invite = call_trunk_b(&mut h, "tc-g729", &offer);
    assert_eq!(formats(&invite.body), ["18"]);
    assert_eq!(h.stats.untranscodable_offers(), 1);
    let answer = peer_sdp("198.18.0.10", 1, "18", "", "sendrecv");
    let (_, carrier_ok) = answer_from_b(&mut h, &invite, &answer);
    assert_eq!(formats(&carrier_ok.body), ["18"]);
    assert_eq!(seen.codec("198.18.0.10").encoding, "G729");
    assert_eq!(h.stats.transcoded_calls(), 0);
}

#[test]
fn teams_to_a_g722_only_trunk_is_transcoded() {
    let (mut h, seen) = Harness::recorded(&with_trunk_b(CONFIG, r#"["G722", "telephone-event"]"#));
    let text = format!(
        "INVITE sip:+12065550111@contoso.customers.example.net:5061;user=phone;transport=tls SIP/2.0
Via: SIP/2.0/TLS 52.114.16.5:41000;branch=z9hG4bK-teams-g722
Max-Forwards: 70
From: <sip:+14255550123@sip.pstnhub.microsoft.com;user=phone>;tag=teams-from
To: <sip:+12065550111@contoso.customers.example.net>
Call-ID: teams-g722
CSeq: 1 INVITE
Contact: <sip:api-du-b.pstnhub.microsoft.com:443;transport=tls;x-i=99>
Record-Route: <sip:sip-du-a-us.pstnhub.microsoft.com:5061;transport=tls;lr>
Content-Type: application/sdp

{}",
        teams_sdp(1, "sendrecv")
    );
    let invite = h.place_call(&text, Harness::teams());
    assert_eq!(invite.uri.as_str(), "sip:12065550111@198.18.0.10:5060");
    let offered = media(&invite.body);
    assert_eq!(offered.proto, "RTP/AVP");
    assert_eq!(offered.formats, ["9", "101"]);
    let answer = peer_sdp("198.18.0.10", 1, "9 101", TELEPHONE_EVENT, "sendrecv");
    let ok = h.answered_by(b_ok(&invite, &answer), Harness::trunk_b());
    let answered = media(&ok.body);
    assert_eq!(answered.proto, "RTP/SAVP");
    assert_eq!(answered.formats, ["0", "101"]);
    assert_eq!(answered.cryptos().next().unwrap().tag, 2);
    assert_eq!(seen.codec("52.114.1.1").encoding, "PCMU");
    assert_eq!(seen.codec("52.114.1.1").telephone_event, Some(101));
    assert_eq!(seen.codec("198.18.0.10").encoding, "G722");
    assert_eq!(h.stats.transcoded_calls(), 1);
}

#[test]
fn an_opus_offer_towards_teams_is_transcoded() {
    let (mut h, seen) = Harness::recorded(CONFIG);
    let opus = peer_sdp(
        "192.0.2.10",
        1,
        "111 110",
        "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
         a=rtpmap:110 telephone-event/48000\r\na=fmtp:110 0-15\r\n",
        "sendrecv",
    );
    let invite = carrier_invite("tc-opus", "").replace(CARRIER_SDP, &opus);
    let invite = h.place_call(&invite, Harness::carrier());
    // Teams gets what Direct Routing takes and switchboard transcodes
    // (comfort noise too: the media plane makes it).
    let offered = media(&invite.body);
    assert_eq!(offered.proto, "RTP/SAVP");
    assert_eq!(offered.formats, ["9", "0", "8", "13", "101"]);
    assert!(!wire_text(invite.clone()).contains("opus"));
    let ok = reply(
        &invite,
        200,
        "teams-tag",
        TEAMS_DIALOG,
        Some(&teams_sdp(1, "sendrecv")),
    );
    let carrier_ok = h.answered_by(ok, Harness::teams());
    let answered = media(&carrier_ok.body);
    assert_eq!(answered.formats, ["111", "110"]);
    assert_eq!(
        answered.rtpmap(111).unwrap().to_string(),
        "111 opus/48000/2"
    );
    assert_eq!(
        answered.fmtp(111).unwrap().params,
        "minptime=10;useinbandfec=1"
    );
    let carrier = seen.codec("192.0.2.10");
    assert_eq!(
        (
            carrier.payload_type,
            carrier.clock_rate,
            carrier.telephone_event
        ),
        (111, 48000, Some(110))
    );
    assert_eq!(seen.codec("52.114.1.1").encoding, "PCMU");
    assert_eq!(h.stats.transcoded_calls(), 1);
}

#[test]
fn hold_on_a_transcoded_call_keeps_each_legs_codec() {
    let (mut h, seen) = Harness::recorded(&with_trunk_b(CONFIG, r#"["PCMA", "telephone-event"]"#));
    let (invite, b_ok, call) = transcoded_call(&mut h, "tc-hold");
    // The carrier holds, still with PCMU only: nothing to share.
    let hold = peer_sdp("192.0.2.10", 2, "0", "", "sendonly");
    h.carrier_in_dialog(&call, "INVITE", 2, "", Some(&hold));
    let (reinvite, _) = h.request(Method::Invite);
    let offered = media(&reinvite.body);
    assert_eq!(offered.formats, ["8", "101"], "b keeps PCMA");
    assert_eq!(offered.direction(), Some(sdp::Direction::SendOnly));
    let answer = peer_sdp("198.18.0.10", 2, "8 101", TELEPHONE_EVENT, "recvonly");
    let ok = relayed_answer_from_b(&mut h, &reinvite, &answer);
    let answered = media(&ok.body);
    assert_eq!(answered.formats, ["0"], "the carrier keeps PCMU");
    assert_eq!(answered.direction(), Some(sdp::Direction::RecvOnly));
    assert_eq!(seen.codec("192.0.2.10").encoding, "PCMU");
    assert_eq!(
        seen.stream("192.0.2.10").1.direction,
        sdp::Direction::SendOnly
    );
    assert_eq!(seen.codec("198.18.0.10").encoding, "PCMA");
    h.carrier_in_dialog(&call, "ACK", 2, "", None);
    h.quiet();

    // Trunk b holds: the carrier is offered PCMU, b answered PCMA.
    let hold = peer_sdp("198.18.0.10", 3, "8 101", TELEPHONE_EVENT, "sendonly");
    let request = callee_request(
        &TRUNK_B_SIDE,
        (&invite, &b_ok),
        "INVITE",
        2,
        "",
        Some(("application/sdp", &hold)),
    );
    h.send(&request, Harness::trunk_b());
    let (reinvite, _) = h.request(Method::Invite);
    assert_eq!(formats(&reinvite.body), ["0"]);
    let answer = peer_sdp("192.0.2.10", 3, "0", "", "recvonly");
    h.deliver(
        reply(&reinvite, 200, "", "", Some(&answer)),
        Harness::carrier(),
    );
    h.request(Method::Ack);
    let (ok, _) = h.response(200);
    assert_eq!(formats(&ok.body), ["8", "101"]);
    assert_eq!(seen.codec("192.0.2.10").encoding, "PCMU");
    assert_eq!(seen.codec("198.18.0.10").encoding, "PCMA");
    h.quiet();
}

/// A carrier call to Teams transcoded from the start: the carrier offers
/// Opus only, Teams gets its own list and answers PCMU.
fn opus_call_to_teams(h: &mut Harness, call_id: &str) -> Established {
    let opus = peer_sdp(
        "192.0.2.10",
        1,
        "111",
        "a=rtpmap:111 opus/48000/2\r\n",
        "sendrecv",
    );
    let call = h.establish_invite(&carrier_invite(call_id, "").replace(CARRIER_SDP, &opus));
    assert_eq!(
        formats(&call.teams_invite.body),
        ["9", "0", "8", "13", "101"]
    );
    assert_eq!(formats(&call.carrier_ok.body), ["111"]);
    call
}

/// Teams' answer naming `formats` (of `0 8 101`).
pub(super) fn teams_answer(version: u32, formats: &str, direction: &str) -> String {
    teams_sdp(version, direction).replace("RTP/SAVP 0 8 101", &format!("RTP/SAVP {formats}"))
}

#[test]
fn a_reoffer_with_a_shared_codec_ends_transcoding_towards_teams() {
    let (mut h, seen) = Harness::recorded(CONFIG);
    let call = opus_call_to_teams(&mut h, "tc-share-teams");
    assert_eq!(seen.codec("192.0.2.10").encoding, "opus");
    assert_eq!(seen.codec("52.114.1.1").encoding, "PCMU");
    // The carrier re-offers Opus, PCMA and PCMU: Teams takes both G.711.
    let reoffer = peer_sdp(
        "192.0.2.10",
        2,
        "111 8 0 101",
        &format!("a=rtpmap:111 opus/48000/2\r\n{TELEPHONE_EVENT}"),
        "sendrecv",
    );
    h.carrier_in_dialog(&call, "INVITE", 2, "", Some(&reoffer));
    let (reinvite, _) = h.request(Method::Invite);
    let offered = media(&reinvite.body);
    assert_eq!(offered.formats, ["8", "0", "101"], "the shared codecs");
    assert_eq!(offered.proto, "RTP/SAVP");
    assert_eq!(
        offered.rtpmap(101).unwrap().to_string(),
        "101 telephone-event/8000"
    );
    // Teams keeps PCMU.
    let answer = teams_answer(2, "0 101", "sendrecv");
    h.deliver(
        reply(&reinvite, 200, "", "", Some(&answer)),
        Harness::teams(),
    );
    h.request(Method::Ack);
    let (ok, _) = h.response(200);
    let answered = media(&ok.body);
    assert_eq!(
        answered.formats,
        ["0", "101"],
        "the carrier is answered PCMU"
    );
    assert_eq!(answered.proto, "RTP/AVP");
    h.carrier_in_dialog(&call, "ACK", 2, "", None);
    h.quiet();
    // Both legs report one codec: the relay forwards.
    let carrier = seen.codec("192.0.2.10");
    assert_eq!(carrier, seen.codec("52.114.1.1"));
    assert_eq!(
        (
            carrier.payload_type,
            carrier.encoding.as_str(),
            carrier.telephone_event
        ),
        (0, "PCMU", Some(101))
    );
    // Shared from now on: the next re-offer is filtered, not replaced.
    let hold = peer_sdp("192.0.2.10", 3, "8 0 101", TELEPHONE_EVENT, "sendonly");
    h.carrier_in_dialog(&call, "INVITE", 3, "", Some(&hold));
    let (reinvite, _) = h.request(Method::Invite);
    assert_eq!(formats(&reinvite.body), ["8", "0", "101"]);
}

#[test]
fn a_trunk_call_shares_a_codec_again_and_transcodes_again_without_one() {
    let (mut h, seen) = Harness::recorded(&with_trunk_b(CONFIG, r#"["PCMA", "telephone-event"]"#));
    let (_, _, call) = transcoded_call(&mut h, "tc-share-b");
    // The carrier now lists PCMA too, its telephone-event on 96.
    let reoffer = peer_sdp(
        "192.0.2.10",
        2,
        "0 8 96",
        "a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n",
        "sendrecv",
    );
    h.carrier_in_dialog(&call, "INVITE", 2, "", Some(&reoffer));
    let (reinvite, _) = h.request(Method::Invite);
    let offered = media(&reinvite.body);
    // b's session keeps its number for telephone-event (RFC 3264 §8.3.2).
    assert_eq!(offered.formats, ["8", "101"]);
    assert_eq!(
        offered.rtpmap(101).unwrap().to_string(),
        "101 telephone-event/8000"
    );
    assert_eq!(offered.fmtp(101).unwrap().params, "0-15");
    assert!(offered.rtpmap(96).is_none());
    let answer = peer_sdp("198.18.0.10", 2, "8 101", TELEPHONE_EVENT, "sendrecv");
    let ok = relayed_answer_from_b(&mut h, &reinvite, &answer);
    let answered = media(&ok.body);
    // The carrier is answered PCMA in its own numbers.
    assert_eq!(answered.formats, ["8", "96"]);
    assert_eq!(
        answered.rtpmap(96).unwrap().to_string(),
        "96 telephone-event/8000"
    );
    h.carrier_in_dialog(&call, "ACK", 2, "", None);
    h.quiet();
    let (a, b) = (seen.codec("192.0.2.10"), seen.codec("198.18.0.10"));
    assert!(a.same_codec(&b), "{a:?} {b:?}");
    assert_eq!(
        (a.payload_type, a.telephone_event, b.telephone_event),
        (8, Some(96), Some(101))
    );

    // PCMU only again: b keeps PCMA, the carrier is transcoded again.
    let reoffer = peer_sdp("192.0.2.10", 3, "0", "", "sendrecv");
    h.carrier_in_dialog(&call, "INVITE", 3, "", Some(&reoffer));
    let (reinvite, _) = h.request(Method::Invite);
    assert_eq!(formats(&reinvite.body), ["8", "101"]);
    let answer = peer_sdp("198.18.0.10", 3, "8 101", TELEPHONE_EVENT, "sendrecv");
    let ok = relayed_answer_from_b(&mut h, &reinvite, &answer);
    assert_eq!(formats(&ok.body), ["0"]);
    assert_eq!(seen.codec("192.0.2.10").encoding, "PCMU");
    assert_eq!(seen.codec("198.18.0.10").encoding, "PCMA");
}

#[test]
fn an_answer_with_a_codec_not_offered_is_refused_with_488() {
    let (mut h, _) = Harness::recorded(&with_trunk_b(CONFIG, r#"["PCMA", "telephone-event"]"#));
    let offer = peer_sdp("192.0.2.10", 1, "0", "", "sendrecv");
    let invite = call_trunk_b(&mut h, "tc-bad", &offer);
    // Offered PCMA, b answers PCMU.
    let answer = peer_sdp("198.18.0.10", 1, "0", "", "sendrecv");
    h.deliver(b_ok(&invite, &answer), Harness::trunk_b());
    let mut out = sent(&mut h);
    out.sort();
    assert_eq!(out, ["488", "ACK", "BYE"]);
    assert_eq!(h.stats.answers_not_offered(), 1);
    assert_eq!(h.stats.transcoded_calls(), 0);
    assert!(h.events.iter().any(|e| matches!(
        e,
        B2buaEvent::CallEnded {
            reason: EndReason::Rejected(StatusCode::NOT_ACCEPTABLE_HERE),
            ..
        }
    )));

    // In a re-INVITE: 488 to the offerer, the session stays.
    let (_, call) = hold_answered_with_g729(&mut h, "tc-bad-reinvite");
    assert_eq!(h.stats.answers_not_offered(), 2);
    // b took the new session: it is offered the old one again.
    let (restore, _) = h.request(Method::Invite);
    assert_eq!(formats(&restore.body), ["8", "101"]);
    let answer = peer_sdp("198.18.0.10", 3, "8 101", TELEPHONE_EVENT, "sendrecv");
    h.deliver(
        reply(&restore, 200, "", "", Some(&answer)),
        Harness::trunk_b(),
    );
    h.request(Method::Ack);
    h.quiet();
    // The next re-offer still gets b's PCMA.
    let resume = peer_sdp("192.0.2.10", 3, "0", "", "sendrecv");
    h.carrier_in_dialog(&call, "INVITE", 3, "", Some(&resume));
    let (reinvite, _) = h.request(Method::Invite);
    assert_eq!(formats(&reinvite.body), ["8", "101"]);
}

/// Trunk b answers `restore` (the re-INVITE giving back its session
/// after [`hold_answered_with_g729`]) with PCMA: it is back on PCMA, not
/// on hold, and the call goes on.
pub(super) fn takes_the_restore(
    h: &mut Harness,
    seen: &super::recorded_media::MediaLog,
    restore: &Request,
) {
    let answer = peer_sdp("198.18.0.10", 3, "8 101", TELEPHONE_EVENT, "sendrecv");
    h.deliver(
        reply(restore, 200, "", "", Some(&answer)),
        Harness::trunk_b(),
    );
    h.request(Method::Ack);
    h.quiet();
    assert_eq!(seen.codec("198.18.0.10").encoding, "PCMA");
    assert_eq!(
        seen.stream("198.18.0.10").1.direction,
        sdp::Direction::SendRecv
    );
    assert!(!h.saw(|e| matches!(e, B2buaEvent::CallEnded { .. })));
}

/// The carrier holds a transcoded call and trunk b answers the re-INVITE
/// with G.729, which it was not offered: the carrier gets 488, b has
/// the call on hold with G.729. Returns b's re-INVITE and the call.
pub(super) fn hold_answered_with_g729(h: &mut Harness, call_id: &str) -> (Request, Established) {
    let (_, _, call) = transcoded_call(h, call_id);
    let hold = peer_sdp("192.0.2.10", 2, "0", "", "sendonly");
    h.carrier_in_dialog(&call, "INVITE", 2, "", Some(&hold));
    let (reinvite, _) = h.request(Method::Invite);
    assert_eq!(
        media(&reinvite.body).direction(),
        Some(sdp::Direction::SendOnly)
    );
    let bad = peer_sdp("198.18.0.10", 2, "18", "", "recvonly");
    h.deliver(
        reply(&reinvite, 200, "", "", Some(&bad)),
        Harness::trunk_b(),
    );
    h.request(Method::Ack);
    h.response(488);
    (reinvite, call)
}

#[test]
fn a_peer_that_took_an_offer_the_other_could_not_be_answered_is_restored() {
    let (mut h, seen) = Harness::recorded(&with_trunk_b(CONFIG, r#"["PCMA", "telephone-event"]"#));
    let (reinvite, call) = hold_answered_with_g729(&mut h, "tc-restore");
    // b is re-offered the session in force before: PCMA, not on hold,
    // the o= version above the one it accepted (RFC 3264 §8).
    let (restore, _) = h.request(Method::Invite);
    let offered = sdp_of(&restore.body);
    let held = sdp_of(&reinvite.body);
    assert_eq!(offered.media[0].formats, ["8", "101"]);
    assert_eq!(offered.media[0].direction(), Some(sdp::Direction::SendRecv));
    assert_eq!(offered.origin.session_id, held.origin.session_id);
    assert_eq!(
        offered.origin.session_version,
        held.origin.session_version + 1
    );
    assert!(restore.headers.cseq().unwrap().seq > reinvite.headers.cseq().unwrap().seq);
    h.quiet();
    takes_the_restore(&mut h, &seen, &restore);
    // The carrier can hold again.
    let hold = peer_sdp("192.0.2.10", 3, "0", "", "sendonly");
    h.carrier_in_dialog(&call, "INVITE", 3, "", Some(&hold));
    let (reinvite, _) = h.request(Method::Invite);
    assert_eq!(formats(&reinvite.body), ["8", "101"]);
}

#[test]
fn a_peer_that_refuses_its_old_session_back_ends_the_call() {
    let (mut h, _) = Harness::recorded(&with_trunk_b(CONFIG, r#"["PCMA", "telephone-event"]"#));
    hold_answered_with_g729(&mut h, "tc-restore-refused");
    let (restore, _) = h.request(Method::Invite);
    h.deliver(reply(&restore, 488, "", "", None), Harness::trunk_b());
    // Both parties get a BYE saying why (b's INVITE transaction ACKs its
    // 488 itself).
    let byes: Vec<Request> = h
        .out
        .drain(..)
        .filter_map(|o| match o.message {
            Message::Request(r) if r.method == Method::Bye => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(byes.len(), 2, "{byes:?}");
    for bye in &byes {
        assert_eq!(
            bye.headers.get_str(&HeaderName::Reason),
            Some("SIP;cause=488;text=\"session not restored\"")
        );
    }
    assert!(h.events.iter().any(|e| matches!(
        e,
        B2buaEvent::CallEnded {
            reason: EndReason::SessionNotRestored(Party::Callee),
            ..
        }
    )));
}

#[test]
fn a_refer_to_a_trunk_without_the_callers_codec_transcodes() {
    let (mut h, seen) = Harness::recorded(&with_trunk_b(CONFIG, r#"["G722", "telephone-event"]"#));
    let call = h.establish("tc-refer");
    let refer_to = "<sip:+13125550142@sip.pstnhub.microsoft.com;user=phone>";
    let (invite, _) = h.teams_refer(&call, 1, refer_to);
    assert_eq!(invite.uri.as_str(), "sip:13125550142@198.18.0.10:5060");
    assert_eq!(formats(&invite.body), ["9", "101"]);
    let answer = peer_sdp("198.18.0.10", 1, "9 101", TELEPHONE_EVENT, "sendrecv");
    h.deliver(b_ok(&invite, &answer), Harness::trunk_b());
    h.request(Method::Ack);
    h.request(Method::Notify);
    h.request(Method::Bye);
    // The carrier is re-offered its own codec, not b's.
    let (reinvite, _) = h.request(Method::Invite);
    assert_eq!(formats(&reinvite.body), ["0", "101"]);
    let answer = peer_sdp("192.0.2.10", 2, "0 101", TELEPHONE_EVENT, "sendrecv");
    h.deliver(
        reply(&reinvite, 200, "", "", Some(&answer)),
        Harness::carrier(),
    );
    h.request(Method::Ack);
    assert_eq!(seen.codec("192.0.2.10").encoding, "PCMU");
    assert_eq!(seen.codec("198.18.0.10").encoding, "G722");
    assert_eq!(h.stats.transcoded_calls(), 1);
}

#[test]
fn an_agent_dialled_through_a_trunk_without_the_callers_codec_transcodes() {
    let config = with_trunk_b(&flow_config(), r#"["G722", "telephone-event"]"#);
    let (mut h, seen) = Harness::recorded(&config);
    let (ok, call) = h.flow_call("tc-dial");
    let number = E164::parse("+18005550100").unwrap();
    let leg = h.b2bua.dial(call, DialTarget::Pstn(number), h.now).unwrap();
    h.pump();
    let (invite, _) = h.request(Method::Invite);
    assert_eq!(formats(&invite.body), ["9", "101"]);
    let answer = peer_sdp("198.18.0.10", 1, "9 101", TELEPHONE_EVENT, "sendrecv");
    h.deliver(
        reply(
            &invite,
            200,
            "far",
            "Contact: <sip:far@198.18.0.10>\n",
            Some(&answer),
        ),
        Harness::trunk_b(),
    );
    h.request(Method::Ack);
    let codec = h.events.iter().find_map(|e| match e {
        B2buaEvent::DialAnswered { leg: l, codec, .. } if *l == leg => codec.clone(),
        _ => None,
    });
    assert_eq!(codec.unwrap().encoding, "G722");
    assert_eq!(seen.codec("192.0.2.10").encoding, "PCMU");
    assert_eq!(h.stats.transcoded_calls(), 1);
    // The caller's re-offer keeps the agent's G.722.
    let hold = peer_sdp("192.0.2.10", 2, "0 8 101", TELEPHONE_EVENT, "sendonly");
    h.carrier_request(&ok, "INVITE", 2, "", Some(("application/sdp", &hold)));
    let (reinvite, _) = h.request(Method::Invite);
    assert_eq!(formats(&reinvite.body), ["9", "101"]);
}

/// Trunk b answers the re-INVITE relayed to it with `answer` (200, then
/// our ACK); what the carrier is answered.
fn relayed_answer_from_b(h: &mut Harness, reinvite: &Request, answer: &str) -> Response {
    h.deliver(
        reply(reinvite, 200, "", "", Some(answer)),
        Harness::trunk_b(),
    );
    h.request(Method::Ack);
    h.response(200).0
}
