//! Codec negotiation: legs share a codec whenever they can; otherwise each
//! is given one of its own and the relay transcodes.

use std::sync::Mutex;

use super::local::{answered, in_dialog};
use super::*;
use crate::error::MediaError;
use crate::{DialTarget, E164};

/// An `update` of the media plane: the leg and its streams.
type Update = (LegId, Vec<StreamMedia>);

/// Every `update` the media plane got.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Update>>>);

impl Seen {
    /// The first stream of the last update whose peer is at `ip`.
    fn stream(&self, ip: &str) -> StreamMedia {
        let updates = self.0.lock().unwrap();
        updates
            .iter()
            .rev()
            .filter_map(|(_, streams)| streams.first())
            .find(|s| s.remote.is_some_and(|r| r.ip().to_string() == ip))
            .cloned()
            .unwrap_or_else(|| panic!("no update for {ip}: {updates:?}"))
    }

    /// The codec the media plane was last told for the leg at `ip`.
    fn codec(&self, ip: &str) -> StreamCodec {
        self.stream(ip).codec.unwrap()
    }
}

struct Watched {
    ports: PortAllocator,
    seen: Seen,
}

impl MediaAnchor for Watched {
    fn allocate(
        &mut self,
        call: CallId,
        leg: LegId,
        stream: usize,
        rtcp_mux: bool,
    ) -> Result<SocketAddr, MediaError> {
        self.ports.allocate(call, leg, stream, rtcp_mux)
    }

    fn update(&mut self, call: CallId, leg: LegId, streams: &[StreamMedia]) {
        self.seen.0.lock().unwrap().push((leg, streams.to_vec()));
        self.ports.update(call, leg, streams);
    }

    fn bridge(&mut self, call: CallId, a: LegId, b: LegId) {
        self.ports.bridge(call, a, b);
    }

    fn release(&mut self, call: CallId, leg: LegId) {
        self.ports.release(call, leg);
    }
}

/// `base` with carrier trunk `b` at 198.18.0.10 (`codecs` as written,
/// default when empty) for calls from `carrier` to +1415..., and as
/// contoso's trunk to the PSTN.
fn config_with_b(base: &str, codecs: &str) -> String {
    let base = base.replace("carrier_trunk = \"carrier\"", "carrier_trunk = \"b\"");
    let codecs = if codecs.is_empty() {
        String::new()
    } else {
        format!("codecs = {codecs}\n")
    };
    format!(
        "{base}
[trunks.b]
allow = [\"198.18.0.0/24\"]
targets = [\"sip:198.18.0.10:5060\"]
{codecs}[trunks.b.numbers]
country_code = \"1\"
national_prefix = \"1\"
international_prefix = \"011\"
national_digits = 10
outbound = \"national\"

[[routes]]
from = \"carrier\"
prefix = \"+1415\"
to_trunk = \"b\"
"
    )
}

fn harness(config: &str) -> (Harness, Seen) {
    let seen = Seen::default();
    let media = Watched {
        ports: PortAllocator::new("198.51.100.2".parse().unwrap(), 40000, 40999),
        seen: seen.clone(),
    };
    let h = Harness::with_media(config, B2buaSettings::default(), Box::new(media));
    (h, seen)
}

fn trunk_b() -> Source {
    Source {
        remote: "198.18.0.10:5060".parse().unwrap(),
        transport: Transport::Udp,
        tls_peer_names: vec![],
        connection: None,
    }
}

/// An SDP of the carrier (192.0.2.10) or trunk b (198.18.0.10).
fn sdp(ip: &str, version: u32, formats: &str, attributes: &str, direction: &str) -> String {
    format!(
        "v=0\r\no=peer 1000 {version} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio 30000 RTP/AVP {formats}\r\n{attributes}a={direction}\r\n"
    )
}

const EVENTS: &str = "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

/// The first stream of an SDP body.
fn media(body: &[u8]) -> sdp::Media {
    sdp::Session::parse(body).unwrap().media.remove(0)
}

fn formats(body: &[u8]) -> Vec<String> {
    media(body).formats
}

/// The carrier calls +14155550123 (routed to trunk b) offering `offer`;
/// returns the INVITE trunk b gets.
fn call_trunk_b(h: &mut Harness, call_id: &str, offer: &str) -> Request {
    let invite = carrier_invite(call_id, "")
        .replace("2065550100@", "4155550123@")
        .replace(CARRIER_SDP, offer);
    h.send(&invite, Harness::carrier());
    h.response(100);
    h.request(Method::Invite).0
}

/// Trunk b answers `invite` with `answer`; returns its 200 and the one
/// the carrier got, which is acknowledged.
fn answer_from_b(h: &mut Harness, invite: &Request, answer: &str) -> (Response, Response) {
    let ok = reply(
        invite,
        200,
        "b-tag",
        "Contact: <sip:b@198.18.0.10:5060>\n",
        Some(answer),
    );
    h.deliver(ok.clone(), trunk_b());
    h.request(Method::Ack);
    let (carrier_ok, _) = h.response(200);
    h.ack_carrier(&carrier_ok);
    (ok, carrier_ok)
}

/// A request from trunk b in the dialog of `invite` and its 200 `ok`.
fn from_b(invite: &Request, ok: &Response, method: &str, cseq: u32, body: Option<&str>) -> String {
    let from = ok.headers.get_str(&HeaderName::To).unwrap();
    let to = invite.headers.get_str(&HeaderName::From).unwrap();
    let contact = invite.headers.contact().unwrap().unwrap().uri.to_uri();
    let head = format!(
        "{method} {contact} SIP/2.0
Via: SIP/2.0/UDP 198.18.0.10:5060;branch=z9hG4bK-b{method}-{cseq}
Max-Forwards: 70
From: {from}
To: {to}
Call-ID: {}
CSeq: {cseq} {method}
Contact: <sip:b@198.18.0.10:5060>
",
        invite.headers.call_id().unwrap()
    );
    with_body(&head, body.map(|b| ("application/sdp", b)))
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
    let offer = sdp("192.0.2.10", 1, "0", "", "sendrecv");
    let invite = call_trunk_b(h, call_id, &offer);
    let answer = sdp("198.18.0.10", 1, "8 101", EVENTS, "sendrecv");
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
    let (mut h, seen) = harness(&config_with_b(CONFIG, r#"["PCMA", "telephone-event"]"#));
    let offer = sdp("192.0.2.10", 1, "0", "", "sendrecv");
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
    let answer = sdp("198.18.0.10", 1, "8 101", EVENTS, "sendrecv");
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
    let (mut h, seen) = harness(&config_with_b(CONFIG, r#"["PCMA", "telephone-event"]"#));
    let invite = call_trunk_b(&mut h, "tc-shared", CARRIER_SDP);
    assert_eq!(formats(&invite.body), ["8", "101"]);
    let answer = sdp("198.18.0.10", 1, "8 101", EVENTS, "sendrecv");
    let (_, carrier_ok) = answer_from_b(&mut h, &invite, &answer);
    assert_eq!(formats(&carrier_ok.body), ["8", "101"]);
    assert_eq!(seen.codec("192.0.2.10"), seen.codec("198.18.0.10"));
    assert_eq!(seen.codec("192.0.2.10").encoding, "PCMA");
    assert_eq!(h.stats.transcoded_calls(), 0);
}

#[test]
fn a_g729_only_offer_passes_unfiltered_and_is_counted() {
    let (mut h, seen) = harness(&config_with_b(CONFIG, ""));
    let offer = sdp("192.0.2.10", 1, "18", "", "sendrecv");
    let invite = call_trunk_b(&mut h, "tc-g729", &offer);
    assert_eq!(formats(&invite.body), ["18"]);
    assert_eq!(h.stats.untranscodable_offers(), 1);
    let answer = sdp("198.18.0.10", 1, "18", "", "sendrecv");
    let (_, carrier_ok) = answer_from_b(&mut h, &invite, &answer);
    assert_eq!(formats(&carrier_ok.body), ["18"]);
    assert_eq!(seen.codec("198.18.0.10").encoding, "G729");
    assert_eq!(h.stats.transcoded_calls(), 0);
}

#[test]
fn teams_to_a_g722_only_trunk_is_transcoded() {
    let (mut h, seen) = harness(&config_with_b(CONFIG, r#"["G722", "telephone-event"]"#));
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
    h.send(&text, Harness::teams());
    h.response(100);
    let (invite, _) = h.request(Method::Invite);
    assert_eq!(invite.uri.as_str(), "sip:12065550111@198.18.0.10:5060");
    let offered = media(&invite.body);
    assert_eq!(offered.proto, "RTP/AVP");
    assert_eq!(offered.formats, ["9", "101"]);
    let answer = sdp("198.18.0.10", 1, "9 101", EVENTS, "sendrecv");
    h.deliver(
        reply(
            &invite,
            200,
            "b-tag",
            "Contact: <sip:b@198.18.0.10:5060>\n",
            Some(&answer),
        ),
        trunk_b(),
    );
    h.request(Method::Ack);
    let (ok, _) = h.response(200);
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
    let (mut h, seen) = harness(CONFIG);
    let opus = sdp(
        "192.0.2.10",
        1,
        "111 110",
        "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
         a=rtpmap:110 telephone-event/48000\r\na=fmtp:110 0-15\r\n",
        "sendrecv",
    );
    let invite = carrier_invite("tc-opus", "").replace(CARRIER_SDP, &opus);
    h.send(&invite, Harness::carrier());
    h.response(100);
    let (invite, _) = h.request(Method::Invite);
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
    h.deliver(ok, Harness::teams());
    h.request(Method::Ack);
    let (carrier_ok, _) = h.response(200);
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
    let (mut h, seen) = harness(&config_with_b(CONFIG, r#"["PCMA", "telephone-event"]"#));
    let (invite, b_ok, call) = transcoded_call(&mut h, "tc-hold");
    // The carrier holds (and now lists PCMA too, which b could take).
    let hold = sdp("192.0.2.10", 2, "0 8", "", "sendonly");
    h.carrier_in_dialog(&call, "INVITE", 2, "", Some(&hold));
    let (reinvite, _) = h.request(Method::Invite);
    let offered = media(&reinvite.body);
    assert_eq!(offered.formats, ["8", "101"], "b keeps PCMA");
    assert_eq!(offered.direction(), Some(sdp::Direction::SendOnly));
    let answer = sdp("198.18.0.10", 2, "8 101", EVENTS, "recvonly");
    h.deliver(reply(&reinvite, 200, "", "", Some(&answer)), trunk_b());
    h.request(Method::Ack);
    let (ok, _) = h.response(200);
    let answered = media(&ok.body);
    assert_eq!(answered.formats, ["0"], "the carrier keeps PCMU");
    assert_eq!(answered.direction(), Some(sdp::Direction::RecvOnly));
    assert_eq!(seen.codec("192.0.2.10").encoding, "PCMU");
    assert_eq!(
        seen.stream("192.0.2.10").direction,
        sdp::Direction::SendOnly
    );
    assert_eq!(seen.codec("198.18.0.10").encoding, "PCMA");
    h.carrier_in_dialog(&call, "ACK", 2, "", None);
    h.quiet();

    // Trunk b holds: the carrier is offered PCMU, b answered PCMA.
    let hold = sdp("198.18.0.10", 3, "8 101", EVENTS, "sendonly");
    h.send(&from_b(&invite, &b_ok, "INVITE", 2, Some(&hold)), trunk_b());
    let (reinvite, _) = h.request(Method::Invite);
    assert_eq!(formats(&reinvite.body), ["0"]);
    let answer = sdp("192.0.2.10", 3, "0", "", "recvonly");
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

#[test]
fn an_answer_with_a_codec_not_offered_is_refused_with_488() {
    let (mut h, _) = harness(&config_with_b(CONFIG, r#"["PCMA", "telephone-event"]"#));
    let offer = sdp("192.0.2.10", 1, "0", "", "sendrecv");
    let invite = call_trunk_b(&mut h, "tc-bad", &offer);
    // Offered PCMA, b answers PCMU.
    let answer = sdp("198.18.0.10", 1, "0", "", "sendrecv");
    h.deliver(
        reply(
            &invite,
            200,
            "b-tag",
            "Contact: <sip:b@198.18.0.10:5060>\n",
            Some(&answer),
        ),
        trunk_b(),
    );
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
    let (_, _, call) = transcoded_call(&mut h, "tc-bad-reinvite");
    let reoffer = sdp("192.0.2.10", 2, "0", "", "sendonly");
    h.carrier_in_dialog(&call, "INVITE", 2, "", Some(&reoffer));
    let (reinvite, _) = h.request(Method::Invite);
    let bad = sdp("198.18.0.10", 2, "18", "", "recvonly");
    h.deliver(reply(&reinvite, 200, "", "", Some(&bad)), trunk_b());
    h.request(Method::Ack);
    h.response(488);
    assert_eq!(h.stats.answers_not_offered(), 2);
    h.quiet();
    // The next re-offer still gets b's PCMA.
    let resume = sdp("192.0.2.10", 3, "0", "", "sendrecv");
    h.carrier_in_dialog(&call, "INVITE", 3, "", Some(&resume));
    let (reinvite, _) = h.request(Method::Invite);
    assert_eq!(formats(&reinvite.body), ["8", "101"]);
}

#[test]
fn a_refer_to_a_trunk_without_the_callers_codec_transcodes() {
    let (mut h, seen) = harness(&config_with_b(CONFIG, r#"["G722", "telephone-event"]"#));
    let call = h.establish("tc-refer");
    h.teams_in_dialog(
        &call,
        "REFER",
        1,
        "Refer-To: <sip:+13125550142@sip.pstnhub.microsoft.com;user=phone>\n",
        None,
    );
    h.response(202);
    h.request(Method::Notify);
    let (invite, _) = h.request(Method::Invite);
    assert_eq!(invite.uri.as_str(), "sip:13125550142@198.18.0.10:5060");
    assert_eq!(formats(&invite.body), ["9", "101"]);
    let answer = sdp("198.18.0.10", 1, "9 101", EVENTS, "sendrecv");
    h.deliver(
        reply(
            &invite,
            200,
            "b-tag",
            "Contact: <sip:b@198.18.0.10:5060>\n",
            Some(&answer),
        ),
        trunk_b(),
    );
    h.request(Method::Ack);
    h.request(Method::Notify);
    h.request(Method::Bye);
    // The carrier is re-offered its own codec, not b's.
    let (reinvite, _) = h.request(Method::Invite);
    assert_eq!(formats(&reinvite.body), ["0", "101"]);
    let answer = sdp("192.0.2.10", 2, "0 101", EVENTS, "sendrecv");
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
    let (mut h, seen) = harness(&config_with_b(
        &super::local::config(),
        r#"["G722", "telephone-event"]"#,
    ));
    let (ok, call) = answered(&mut h, "tc-dial");
    let number = E164::parse("+18005550100").unwrap();
    let leg = h.b2bua.dial(call, DialTarget::Pstn(number), h.now).unwrap();
    h.pump();
    let (invite, _) = h.request(Method::Invite);
    assert_eq!(formats(&invite.body), ["9", "101"]);
    let answer = sdp("198.18.0.10", 1, "9 101", EVENTS, "sendrecv");
    h.deliver(
        reply(
            &invite,
            200,
            "far",
            "Contact: <sip:far@198.18.0.10>\n",
            Some(&answer),
        ),
        trunk_b(),
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
    let hold = sdp("192.0.2.10", 2, "0 8 101", EVENTS, "sendonly");
    let request = in_dialog("INVITE", 2, &ok, "Content-Type: application/sdp\n", &hold);
    h.send(&request, Harness::carrier());
    let (reinvite, _) = h.request(Method::Invite);
    assert_eq!(formats(&reinvite.body), ["9", "101"]);
}
