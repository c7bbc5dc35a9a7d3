//! Scenario tests of the B2BUA in simulated time: a carrier and "Teams"
//! are played by hand-written SIP messages; everything the B2BUA sends is
//! serialized, parsed back and asserted on.
#![allow(clippy::unwrap_used)]

mod calls;
mod codecs;
mod dial;
mod dtmf;
mod local;
mod mid_call;
mod own_reinvites;
mod parties;
mod recorded_media;
mod refusals;
mod robustness;
mod transfers;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{HeaderName, Message, Method, Request, Response, StatusCode};

use super::*;
use crate::config::Config;
use crate::stats::Stats;
use crate::{DialTarget, E164};

pub(super) const CONFIG: &str = r#"
[sbc]
max_concurrent_calls = 10

[sbc.listen]
udp = ["203.0.113.1:5060"]
tls = ["203.0.113.1:5061"]
[sbc.tls]
cert = "c.pem"
key = "k.pem"

[trunks.carrier]
allow = ["192.0.2.0/24"]
targets = ["sip:192.0.2.10:5060", "sip:192.0.2.11:5060"]
codecs = ["PCMU", "PCMA", "telephone-event"]
[trunks.carrier.headers]
pass = ["P-Asserted-Identity", "Privacy", "History-Info", "X-*"]
strip = ["X-Internal-*"]
[trunks.carrier.headers.add]
X-Provider = "example"
[trunks.carrier.numbers]
country_code = "1"
national_prefix = "1"
international_prefix = "011"
national_digits = 10
outbound = "national"

[teams]
base_fqdn = "customers.example.net"
trunk_fqdn = "sbc1.customers.example.net"
source_subnets = ["52.112.0.0/14"]
x_ms_sbc = "Switchboard/SBC/test"

[tenants.contoso]
tenant_id = "b59a9bc4-0e7f-4f1b-8d43-04d9b2eb0a11"
label = "contoso"
carrier_trunk = "carrier"
[tenants.contoso.dids]
"+12065550100" = "+14255550123"
"+12065550101" = "+14255550124"
"#;

pub(super) const TENANT_ID: &str = "b59a9bc4-0e7f-4f1b-8d43-04d9b2eb0a11";

/// `config` with `from` replaced by `to` once; `from` must be there.
pub(super) fn edit(config: &str, from: &str, to: &str) -> String {
    assert!(config.contains(from), "the test config lost {from:?}");
    config.replacen(from, to, 1)
}

/// The test config with DID +12065550102 routed to flow `contoso-main`.
pub(super) fn flow_config() -> String {
    let did = "\"+12065550101\" = \"+14255550124\"\n";
    let flow = "\"+12065550102\" = { flow = \"contoso-main\" }\n";
    edit(CONFIG, did, &format!("{did}{flow}"))
}

/// `config` with the carrier trunk's DTMF mode set to `mode`.
pub(super) fn with_carrier_dtmf(config: &str, mode: &str) -> String {
    let codecs = "codecs = [\"PCMU\", \"PCMA\", \"telephone-event\"]\n";
    edit(config, codecs, &format!("{codecs}dtmf = \"{mode}\"\n"))
}

/// `config` with carrier trunk `b` at 198.18.0.10 (`codecs` as written,
/// default when empty) for calls from `carrier` to +1415..., and as
/// contoso's trunk to the PSTN.
pub(super) fn with_trunk_b(config: &str, codecs: &str) -> String {
    let config = edit(
        config,
        "carrier_trunk = \"carrier\"",
        "carrier_trunk = \"b\"",
    );
    let codecs = if codecs.is_empty() {
        String::new()
    } else {
        format!("codecs = {codecs}\n")
    };
    format!(
        "{config}
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

/// `config` with contoso's dial plan refusing numbers under `prefix`.
pub(super) fn with_dial_plan_deny(config: &str, prefix: &str) -> String {
    let dids = "[tenants.contoso.dids]";
    let plan = format!("[tenants.contoso.dial_plan]\ndeny = [\"{prefix}\"]\n{dids}");
    edit(config, dids, &plan)
}

/// The carrier's SDP offer (plain RTP).
pub(super) const CARRIER_SDP: &str = "v=0\r\no=carrier 1000 1 IN IP4 192.0.2.10\r\ns=-\r\n\
    c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 8 101\r\n\
    a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n";

/// The carrier's SDP with another version and direction.
pub(super) fn carrier_sdp(version: u32, direction: &str) -> String {
    CARRIER_SDP
        .replace("1000 1 IN", &format!("1000 {version} IN"))
        .replace("a=sendrecv", &format!("a={direction}"))
}

/// The rtpmap and fmtp lines of telephone-event as payload type 101.
pub(super) const TELEPHONE_EVENT: &str = "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

/// A plain RTP SDP of a peer at `ip` (the carrier, trunk b) offering
/// `formats`, described by `attributes`.
pub(super) fn peer_sdp(
    ip: &str,
    version: u32,
    formats: &str,
    attributes: &str,
    direction: &str,
) -> String {
    format!(
        "v=0\r\no=peer 1000 {version} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio 30000 RTP/AVP {formats}\r\n{attributes}a={direction}\r\n"
    )
}

/// An SDP body, parsed.
pub(super) fn sdp_of(body: &[u8]) -> sdp::Session {
    sdp::Session::parse(body).unwrap()
}

/// Teams' SDP (SRTP with SDES); `version` for re-offers.
pub(super) fn teams_sdp(version: u32, direction: &str) -> String {
    format!(
        "v=0\r\no=- 5000 {version} IN IP4 52.114.1.1\r\ns=session\r\n\
         c=IN IP4 52.114.1.1\r\nt=0 0\r\nm=audio 50000 RTP/SAVP 0 8 101\r\n\
         a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\n\
         a=rtcp-mux\r\na=rtpmap:101 telephone-event/8000\r\na={direction}\r\n"
    )
}

/// The B2BUA with a port allocator, a counter as random source and a
/// simulated clock; collects what it sends and reports.
pub(super) struct Harness {
    pub(super) b2bua: B2bua,
    pub(super) now: Instant,
    pub(super) out: VecDeque<Outgoing>,
    pub(super) events: Vec<B2buaEvent>,
    pub(super) stats: Arc<Stats>,
    /// OPTIONS keepalives sent to the Teams proxies.
    pub(super) options: Vec<Outgoing>,
}

impl Harness {
    pub(super) fn new() -> Harness {
        Harness::with(CONFIG, B2buaSettings::default())
    }

    pub(super) fn with(config: &str, settings: B2buaSettings) -> Harness {
        Harness::with_media(config, settings, Box::new(test_ports()))
    }

    /// A harness whose B2BUA anchors media with `media`.
    pub(super) fn with_media(
        config: &str,
        settings: B2buaSettings,
        media: Box<dyn MediaAnchor + Send>,
    ) -> Harness {
        let config = Arc::new(Config::from_toml_str(config, "b2bua.toml").unwrap());
        let stats = Arc::new(Stats::default());
        let mut n = 0u8;
        let random = Box::new(move |buf: &mut [u8]| {
            for b in buf {
                n = n.wrapping_add(7);
                *b = n;
            }
        });
        let now = Instant::now();
        let b2bua = B2bua::new(config, Arc::clone(&stats), settings, media, random, now);
        let mut h = Harness {
            b2bua,
            now,
            out: VecDeque::new(),
            events: Vec::new(),
            stats,
            options: Vec::new(),
        };
        h.b2bua.handle_timeout(now);
        h.pump();
        h
    }

    /// The carrier at 192.0.2.10 over UDP.
    pub(super) fn carrier() -> Source {
        udp_peer("192.0.2.10:5060")
    }

    /// Trunk b (see [`with_trunk_b`]) over UDP.
    pub(super) fn trunk_b() -> Source {
        udp_peer("198.18.0.10:5060")
    }

    /// Teams' proxy over TLS.
    pub(super) fn teams() -> Source {
        Source {
            remote: "52.114.16.5:41000".parse().unwrap(),
            transport: Transport::Tls,
            tls_peer_names: vec!["sip.pstnhub.microsoft.com".to_owned()],
            connection: Some(ConnectionId(7)),
        }
    }

    /// Parses `text` (LF or CRLF line ends; Content-Length is computed)
    /// and hands it to the B2BUA.
    pub(super) fn send(&mut self, text: &str, source: Source) {
        let message = parse(text);
        self.deliver(message, source);
    }

    /// Hands a message to the B2BUA, through the wire.
    pub(super) fn deliver(&mut self, message: impl Into<Message>, source: Source) {
        let message = Message::parse(message.into().to_bytes()).unwrap();
        self.b2bua.handle_message(message, source, self.now);
        self.pump();
    }

    /// Moves the clock by `by`, firing every timer on the way.
    pub(super) fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        loop {
            let next = self.b2bua.poll_timeout();
            match next {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    self.b2bua.handle_timeout(self.now);
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = end;
        self.b2bua.handle_timeout(end);
        self.pump();
    }

    pub(super) fn pump(&mut self) {
        while let Some(outgoing) = self.b2bua.poll_transmit() {
            // Everything sent must parse back.
            let message = Message::parse(outgoing.message.to_bytes()).unwrap();
            let outgoing = Outgoing {
                message,
                next_hop: outgoing.next_hop,
            };
            let options =
                matches!(&outgoing.message, Message::Request(r) if r.method == Method::Options);
            if options {
                self.options.push(outgoing);
            } else {
                self.out.push_back(outgoing);
            }
        }
        while let Some(event) = self.b2bua.poll_event() {
            self.events.push(event);
        }
    }

    /// The next message sent, which must be a `method` request.
    pub(super) fn request(&mut self, method: Method) -> (Request, NextHop) {
        let next = self.out.pop_front();
        match next {
            Some(Outgoing {
                message: Message::Request(r),
                next_hop,
            }) if r.method == method => (r, next_hop),
            other => panic!(
                "expected {method}, got {:?}",
                other.map(|o| summary(&o.message))
            ),
        }
    }

    /// The next message sent, which must be a `status` response.
    pub(super) fn response(&mut self, status: u16) -> (Response, NextHop) {
        let next = self.out.pop_front();
        match next {
            Some(Outgoing {
                message: Message::Response(r),
                next_hop,
            }) if r.status.0 == status => (r, next_hop),
            other => panic!(
                "expected {status}, got {:?}",
                other.map(|o| summary(&o.message))
            ),
        }
    }

    /// Asserts nothing more was sent.
    pub(super) fn quiet(&mut self) {
        let left: Vec<String> = self.out.iter().map(|o| summary(&o.message)).collect();
        assert!(left.is_empty(), "unexpected messages: {left:?}");
    }

    /// Lets every transaction finish (Timer M, K, J, ...) and checks
    /// that nothing of past calls is left.
    pub(super) fn settle(&mut self) {
        self.advance(Duration::from_secs(70));
        self.out.clear();
        let t = self.b2bua.table_sizes();
        let left = [t.calls, t.dialogs, t.invites, t.client, t.server, t.orphans];
        assert_eq!(left, [0; 6], "{t:?}");
        assert_eq!(self.b2bua.gate().active_calls(), 0);
    }

    /// The last event.
    pub(super) fn last_event(&self) -> Option<&B2buaEvent> {
        self.events.last()
    }

    /// Whether any event so far passes `check`.
    pub(super) fn saw(&self, check: impl Fn(&B2buaEvent) -> bool) -> bool {
        self.events.iter().any(check)
    }

    /// The id of the last call started.
    pub(super) fn started_call(&self) -> CallId {
        self.events
            .iter()
            .rev()
            .find_map(|e| match e {
                B2buaEvent::CallStarted { call, .. } => Some(*call),
                _ => None,
            })
            .unwrap()
    }
}

/// The port allocator every harness anchors media with.
pub(super) fn test_ports() -> PortAllocator {
    PortAllocator::new("198.51.100.2".parse().unwrap(), 40000, 40999)
}

/// A peer at `remote` over UDP.
pub(super) fn udp_peer(remote: &str) -> Source {
    Source {
        remote: remote.parse().unwrap(),
        transport: Transport::Udp,
        tls_peer_names: vec![],
        connection: None,
    }
}

/// A Teams user, by number, to dial.
pub(super) fn teams_user(number: &str) -> DialTarget {
    DialTarget::TeamsUser(E164::parse(number).unwrap())
}

/// `METHOD uri` or `status reason`, for failure messages.
pub(super) fn summary(message: &Message) -> String {
    match message {
        Message::Request(r) => format!("{} {}", r.method, r.uri),
        Message::Response(r) => format!("{} {:?}", r.status.0, r.headers.cseq().ok()),
    }
}

/// A message from text with LF line ends and no Content-Length.
pub(super) fn parse(text: &str) -> Message {
    let text = text.trim_start().replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let body = body.replace('\n', "\r\n");
    let head = head.replace('\n', "\r\n");
    let wire = format!("{head}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    Message::parse(Bytes::from(wire)).unwrap()
}

/// A response to `request` as a peer would send it: its Via, From, To
/// (with `tag`), Call-ID and CSeq, then `extra` lines and an SDP `body`.
pub(super) fn reply(
    request: &Request,
    status: u16,
    tag: &str,
    extra: &str,
    sdp: Option<&str>,
) -> Response {
    let mut response = Response::for_request(request, StatusCode(status));
    if !tag.is_empty() && request.headers.to().unwrap().tag().is_none() {
        let to = request.headers.get_str(&HeaderName::To).unwrap();
        response
            .headers
            .set(HeaderName::To, format!("{to};tag={tag}"));
    }
    for line in extra.lines().filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').unwrap();
        response
            .headers
            .push(HeaderName::from(name.trim()), value.trim().to_owned());
    }
    if let Some(sdp) = sdp {
        response
            .headers
            .set(HeaderName::ContentType, "application/sdp");
        response.body = Bytes::from(sdp.to_owned());
    }
    response
}

/// The text of a message on the wire.
pub(super) fn wire_text(message: impl Into<Message>) -> String {
    String::from_utf8(message.into().to_bytes().to_vec()).unwrap()
}

/// The carrier's INVITE for DID 2065550100.
pub(super) fn carrier_invite(call_id: &str, extra: &str) -> String {
    format!(
        "INVITE sip:2065550100@203.0.113.1:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{call_id}
Max-Forwards: 70
From: \"Alice\" <sip:2065550199@192.0.2.10>;tag=carrier-tag
To: <sip:2065550100@203.0.113.1>
Call-ID: {call_id}
CSeq: 1 INVITE
Contact: <sip:2065550199@192.0.2.10:5060>
{extra}Content-Type: application/sdp

{CARRIER_SDP}"
    )
}

/// The Contact and Record-Route Teams answers with.
pub(super) const TEAMS_DIALOG: &str =
    "Contact: <sip:api-du-b.pstnhub.microsoft.com:443;transport=tls;x-i=7c1e>
Record-Route: <sip:contoso.customers.example.net:5061;transport=tls;lr>
Record-Route: <sip:sip-du-a-us.pstnhub.microsoft.com:5061;transport=tls;lr>
";

/// A confirmed call from the carrier to Teams; returns the INVITE Teams
/// got and its 200 as sent (for requests within the dialog).
pub(super) struct Established {
    /// The INVITE sent to Teams.
    pub(super) teams_invite: Request,
    /// Teams' 200.
    pub(super) teams_ok: Response,
    /// The 200 the carrier got.
    pub(super) carrier_ok: Response,
}

impl Harness {
    /// Sends the INVITE `text` from `source`; after our 100 Trying,
    /// returns the INVITE sent on.
    pub(super) fn place_call(&mut self, text: &str, source: Source) -> Request {
        self.send(text, source);
        self.response(100);
        self.request(Method::Invite).0
    }

    /// The callee's 200 `ok` from `source`: we ACK it and answer the
    /// caller, whose 200 is returned (not yet acknowledged).
    pub(super) fn answered_by(&mut self, ok: Response, source: Source) -> Response {
        self.deliver(ok, source);
        self.request(Method::Ack);
        self.response(200).0
    }

    /// Sets up a carrier -> Teams call up to both ACKs.
    pub(super) fn establish(&mut self, call_id: &str) -> Established {
        self.establish_invite(&carrier_invite(call_id, ""))
    }

    /// [`Self::establish`] with the carrier's INVITE as given.
    pub(super) fn establish_invite(&mut self, carrier_invite: &str) -> Established {
        let invite = self.place_call(carrier_invite, Harness::carrier());
        let ok = reply(
            &invite,
            200,
            "teams-tag",
            TEAMS_DIALOG,
            Some(&teams_sdp(1, "sendrecv")),
        );
        let carrier_ok = self.answered_by(ok.clone(), Harness::teams());
        self.ack_carrier(&carrier_ok);
        self.quiet();
        Established {
            teams_invite: invite,
            teams_ok: ok,
            carrier_ok,
        }
    }

    /// The carrier's ACK of our 200.
    pub(super) fn ack_carrier(&mut self, ok: &Response) {
        let call_id = ok.headers.call_id().unwrap().to_owned();
        self.send(
            &format!(
                "ACK sip:2065550100@203.0.113.1:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-ack-{call_id}
Max-Forwards: 70
From: \"Alice\" <sip:2065550199@192.0.2.10>;tag=carrier-tag
To: {}
Call-ID: {call_id}
CSeq: 1 ACK

",
                ok.headers.get_str(&HeaderName::To).unwrap()
            ),
            Harness::carrier(),
        );
    }

    /// A request from the carrier within the established call.
    pub(super) fn carrier_in_dialog(
        &mut self,
        call: &Established,
        method: &str,
        cseq: u32,
        extra: &str,
        sdp: Option<&str>,
    ) {
        let body = sdp.map(|s| ("application/sdp", s));
        self.carrier_request(&call.carrier_ok, method, cseq, extra, body);
    }

    /// A request from the carrier in the dialog of our 200 `ok`:
    /// `extra` header lines, then a body as (content type, text).
    pub(super) fn carrier_request(
        &mut self,
        ok: &Response,
        method: &str,
        cseq: u32,
        extra: &str,
        body: Option<(&str, &str)>,
    ) {
        let target = ok.headers.contact().unwrap().unwrap().uri.to_uri();
        let to = ok.headers.get_str(&HeaderName::To).unwrap();
        let call_id = ok.headers.call_id().unwrap();
        let head = format!(
            "{method} {target} SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{call_id}-{method}-{cseq}
Max-Forwards: 70
From: \"Alice\" <sip:2065550199@192.0.2.10>;tag=carrier-tag
To: {to}
Call-ID: {call_id}
CSeq: {cseq} {method}
Contact: <sip:2065550199@192.0.2.10:5060>
{extra}"
        );
        self.send(&with_body(&head, body), Harness::carrier());
    }

    /// A request from Teams within the established call.
    pub(super) fn teams_in_dialog(
        &mut self,
        call: &Established,
        method: &str,
        cseq: u32,
        extra: &str,
        body: Option<(&str, &str)>,
    ) {
        let request = callee_request(
            &TEAMS_SIDE,
            (&call.teams_invite, &call.teams_ok),
            method,
            cseq,
            extra,
            body,
        );
        self.send(&request, Harness::teams());
    }

    /// Teams REFERs the call to `refer_to`; after our 202 and the NOTIFY
    /// of 100 Trying, returns the INVITE sent to the target.
    pub(super) fn teams_refer(
        &mut self,
        call: &Established,
        cseq: u32,
        refer_to: &str,
    ) -> (Request, NextHop) {
        let refer_to = format!("Refer-To: {refer_to}\n");
        self.teams_in_dialog(call, "REFER", cseq, &refer_to, None);
        self.response(202);
        self.request(Method::Notify);
        self.request(Method::Invite)
    }
}

/// How a peer we sent an INVITE to writes requests within its dialog.
pub(super) struct CalleeSide {
    /// Transport and address of its Via.
    pub(super) sent_by: &'static str,
    /// Starts its branches, after the magic cookie.
    pub(super) branch: &'static str,
    pub(super) contact: &'static str,
}

/// Teams' side of a call to Teams.
pub(super) const TEAMS_SIDE: CalleeSide = CalleeSide {
    sent_by: "TLS 52.114.16.5:41000",
    branch: "t",
    contact: "<sip:api-du-b.pstnhub.microsoft.com:443;transport=tls;x-i=7c1e>",
};

/// A request from the callee in the dialog set up by the INVITE it got
/// and its 200: `extra` header lines, then a body as (content type, text).
pub(super) fn callee_request(
    side: &CalleeSide,
    (invite, ok): (&Request, &Response),
    method: &str,
    cseq: u32,
    extra: &str,
    body: Option<(&str, &str)>,
) -> String {
    let CalleeSide {
        sent_by,
        branch,
        contact,
    } = side;
    let target = invite.headers.contact().unwrap().unwrap().uri.to_uri();
    let from = ok.headers.get_str(&HeaderName::To).unwrap();
    let to = invite.headers.get_str(&HeaderName::From).unwrap();
    let head = format!(
        "{method} {target} SIP/2.0
Via: SIP/2.0/{sent_by};branch=z9hG4bK-{branch}{method}-{cseq}
Max-Forwards: 70
From: {from}
To: {to}
Call-ID: {}
CSeq: {cseq} {method}
Contact: {contact}
{extra}",
        invite.headers.call_id().unwrap()
    );
    with_body(&head, body)
}

/// A message from header lines (each ending in a newline) and a body.
pub(super) fn with_body(head: &str, body: Option<(&str, &str)>) -> String {
    match body {
        Some((content_type, body)) => format!("{head}Content-Type: {content_type}\n\n{body}"),
        None => format!("{head}\n"),
    }
}

/// The socket address of a `NextHop::Reply`.
pub(super) fn reply_addr(hop: &NextHop) -> SocketAddr {
    match hop {
        NextHop::Reply { remote, .. } => *remote,
        other => panic!("not a reply: {other:?}"),
    }
}

/// The URI of a `NextHop::Resolve`.
pub(super) fn resolve_uri(hop: &NextHop) -> String {
    match hop {
        NextHop::Resolve { uri, .. } => uri.to_string(),
        other => panic!("not a request hop: {other:?}"),
    }
}

/// The carrier's INVITE for DID 2065550102, a flow in [`flow_config`].
pub(super) fn flow_invite(call_id: &str) -> String {
    carrier_invite(call_id, "").replace("2065550100@", "2065550102@")
}

impl Harness {
    /// A call to the flow, answered by switchboard and acknowledged by
    /// the carrier; returns our 200 and the call's id.
    pub(super) fn flow_call(&mut self, call_id: &str) -> (Response, CallId) {
        self.send(&flow_invite(call_id), Harness::carrier());
        self.response(100);
        let (ok, _) = self.response(200);
        let Some(B2buaEvent::LocalCallStarted {
            call, flow, did, ..
        }) = self
            .events
            .iter()
            .find(|e| matches!(e, B2buaEvent::LocalCallStarted { .. }))
            .cloned()
        else {
            panic!("no LocalCallStarted: {:?}", self.events);
        };
        assert_eq!(flow, "contoso-main");
        assert_eq!(did.as_str(), "+12065550102");
        self.carrier_request(&ok, "ACK", 1, "", None);
        (ok, call)
    }

    /// A flow call, answered, that then dials the Teams user
    /// +14255550123: our 200 to the caller, the call, the dialled leg
    /// and the INVITE sent for it.
    pub(super) fn dialled(&mut self, call_id: &str) -> (Response, CallId, LegId, Request) {
        let (ok, call) = self.flow_call(call_id);
        self.quiet();
        let leg = self
            .b2bua
            .dial(call, teams_user("+14255550123"), self.now)
            .unwrap();
        self.pump();
        let (invite, _) = self.request(Method::Invite);
        (ok, call, leg, invite)
    }
}

/// Checks the INVITE we sent to ring Teams user `number` for a flow call
/// whose caller got our 200 `caller_ok`: Direct Routing addressing and
/// headers, the caller's number, SRTP with our key, only the codec the
/// caller was answered with, on an anchor of its own.
pub(super) fn assert_rings_teams_user(invite: &Request, number: &str, caller_ok: &Response) {
    assert_eq!(
        invite.uri.to_string(),
        format!("sip:{number}@sip.pstnhub.microsoft.com;user=phone")
    );
    let contact = invite.headers.get_str(&HeaderName::Contact).unwrap();
    assert!(
        contact.contains("contoso.customers.example.net"),
        "{contact}"
    );
    let from = invite.headers.get_str(&HeaderName::From).unwrap();
    assert!(from.contains("+12065550199"), "the caller's number: {from}");
    assert!(invite.headers.get(&HeaderName::from("X-MS-SBC")).is_some());
    let offer = sdp_of(&invite.body);
    let caller_answer = sdp_of(&caller_ok.body);
    assert_eq!(offer.media[0].proto, "RTP/SAVP");
    assert!(offer.media[0].cryptos().next().is_some());
    let offered: Vec<u8> = offer.media[0].payload_types().collect();
    let answered_with: Vec<u8> = caller_answer.media[0].payload_types().collect();
    assert_eq!(offered, answered_with);
    assert_ne!(
        offer.media[0].port, caller_answer.media[0].port,
        "own anchor"
    );
}
