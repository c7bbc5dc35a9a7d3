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
mod parties;
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

/// The carrier's SDP offer (plain RTP).
pub(super) const CARRIER_SDP: &str = "v=0\r\no=carrier 1000 1 IN IP4 192.0.2.10\r\ns=-\r\n\
    c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 8 101\r\n\
    a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n";

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
        let media = PortAllocator::new("198.51.100.2".parse().unwrap(), 40000, 40999);
        Harness::with_media(config, settings, Box::new(media))
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
        Source {
            remote: "192.0.2.10:5060".parse().unwrap(),
            transport: Transport::Udp,
            tls_peer_names: vec![],
            connection: None,
        }
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
    /// Sets up a carrier -> Teams call up to both ACKs.
    pub(super) fn establish(&mut self, call_id: &str) -> Established {
        self.send(&carrier_invite(call_id, ""), Harness::carrier());
        self.response(100);
        let (invite, _) = self.request(Method::Invite);
        let ok = reply(
            &invite,
            200,
            "teams-tag",
            TEAMS_DIALOG,
            Some(&teams_sdp(1, "sendrecv")),
        );
        self.deliver(ok.clone(), Harness::teams());
        self.request(Method::Ack);
        let (carrier_ok, _) = self.response(200);
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
        let to = call.carrier_ok.headers.get_str(&HeaderName::To).unwrap();
        let head = format!(
            "{method} sip:2065550199@203.0.113.1:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{method}-{cseq}
Max-Forwards: 70
From: \"Alice\" <sip:2065550199@192.0.2.10>;tag=carrier-tag
To: {to}
Call-ID: {}
CSeq: {cseq} {method}
Contact: <sip:2065550199@192.0.2.10:5060>
{extra}",
            call.carrier_ok.headers.call_id().unwrap()
        );
        self.send(
            &with_body(&head, sdp.map(|s| ("application/sdp", s))),
            Harness::carrier(),
        );
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
        let invite = &call.teams_invite;
        let from = call.teams_ok.headers.get_str(&HeaderName::To).unwrap();
        let to = invite.headers.get_str(&HeaderName::From).unwrap();
        let contact = invite.headers.contact().unwrap().unwrap().uri.to_uri();
        let head = format!(
            "{method} {contact} SIP/2.0
Via: SIP/2.0/TLS 52.114.16.5:41000;branch=z9hG4bK-t{method}-{cseq}
Max-Forwards: 70
From: {from}
To: {to}
Call-ID: {}
CSeq: {cseq} {method}
Contact: <sip:api-du-b.pstnhub.microsoft.com:443;transport=tls;x-i=7c1e>
{extra}",
            invite.headers.call_id().unwrap()
        );
        self.send(&with_body(&head, body), Harness::teams());
    }
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
