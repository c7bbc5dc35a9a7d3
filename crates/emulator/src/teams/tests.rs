//! The rules of the Direct Routing spec, one test each, driven through a
//! simulated SBC with simulated time.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{HeaderName, Message, Method, Request, Response, StatusCode};

use super::*;
use crate::config::{EmulatorConfig, ProxyMode};
use crate::error::CallError;

const CONFIG: &str = r#"
[emulator]
seed = 3

[[emulator.proxies]]
fqdn = "sip.pstnhub.microsoft.com"
listen = "127.0.0.1:15061"

[[emulator.proxies]]
fqdn = "sip2.pstnhub.microsoft.com"
listen = "127.0.0.1:15062"

[[emulator.tenants]]
id = "provider-tenant"
domains = ["customers.example.net"]

[[emulator.tenants.users]]
name = "reception"
number = "+15550001000"
object_id = "oid-reception"
ring_ms = 0

[[emulator.tenants]]
id = "contoso-tenant"
domains = ["contoso.customers.example.net"]

[[emulator.tenants.users]]
name = "alice"
number = "+14255550100"
object_id = "oid-alice"
ring_ms = 2000
endpoints = 2

[[emulator.tenants.users]]
name = "bob"
number = "+14255550101"
object_id = "oid-bob"
behaviour = "busy"
ring_ms = 500

[[emulator.tenants.users]]
name = "carol"
number = "+14255550102"
object_id = "oid-carol"
behaviour = "no_answer"
ring_ms = 30000

[[emulator.tenants.users]]
name = "dave"
number = "+14255550103"
object_id = "oid-dave"
behaviour = "decline"
ring_ms = 1000

[[emulator.tenants.users]]
name = "erin"
number = "+14255550104"
object_id = "oid-erin"
early_media = true
ring_ms = 1000
"#;

const OFFER: &str =
    "v=0\r\no=sbc 10 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 40000 RTP/SAVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtcp-mux\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\n";

const SBC_CERT: [&str; 2] = ["*.customers.example.net", "customers.example.net"];
const ALLOW_WITH_REFER: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, PRACK, UPDATE, REFER, SUBSCRIBE, NOTIFY";

/// A simulated SBC in front of the proxy, with its own clock.
struct Sbc {
    proxy: TeamsProxy,
    now: Instant,
    sent: Vec<Transmit>,
    events: Vec<Event>,
    cert: Vec<String>,
    cseq: u32,
}

impl Sbc {
    fn new() -> Sbc {
        let config = EmulatorConfig::from_toml(CONFIG).unwrap();
        let mut sbc = Sbc {
            proxy: TeamsProxy::new(&config, 3).unwrap(),
            now: Instant::now(),
            sent: Vec::new(),
            events: Vec::new(),
            cert: SBC_CERT.iter().map(|s| (*s).to_owned()).collect(),
            cseq: 0,
        };
        sbc.collect();
        sbc
    }

    fn source(&self) -> Source {
        Source {
            proxy: ProxyId(0),
            connection: ConnectionRef(7),
            peer_names: self.cert.clone(),
        }
    }

    fn send(&mut self, message: impl Into<Message>) {
        let source = self.source();
        self.proxy.handle_message(message.into(), source, self.now);
        self.collect();
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.proxy.handle_timeout(self.now);
        self.collect();
    }

    fn collect(&mut self) {
        while let Some(transmit) = self.proxy.poll_transmit() {
            self.sent.push(transmit);
        }
        while let Some(event) = self.proxy.poll_event() {
            self.events.push(event);
        }
    }

    /// Responses the proxy sent, taken out.
    fn responses(&mut self) -> Vec<(Destination, Response)> {
        let mut out = Vec::new();
        self.sent.retain(|t| match &t.message {
            Message::Response(r) => {
                out.push((t.destination.clone(), r.clone()));
                false
            }
            Message::Request(_) => true,
        });
        out
    }

    /// Requests the proxy sent, taken out.
    fn requests(&mut self) -> Vec<(Destination, Request)> {
        let mut out = Vec::new();
        self.sent.retain(|t| match &t.message {
            Message::Request(r) => {
                out.push((t.destination.clone(), r.clone()));
                false
            }
            Message::Response(_) => true,
        });
        out
    }

    fn statuses(&mut self) -> Vec<u16> {
        self.responses().iter().map(|(_, r)| r.status.0).collect()
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn next_cseq(&mut self) -> u32 {
        self.cseq += 1;
        self.cseq
    }
}

/// What an SBC INVITE looks like; each test changes one thing.
struct InviteSpec {
    ruri: String,
    contact: String,
    record_route: Option<String>,
    sdp: Option<String>,
    extra: Vec<(&'static str, String)>,
}

impl InviteSpec {
    fn to(number: &str) -> InviteSpec {
        InviteSpec {
            ruri: format!("sip:{number}@sip.pstnhub.microsoft.com;user=phone"),
            contact: "<sip:+12065550199@contoso.customers.example.net:5061;transport=tls>".into(),
            record_route: None,
            sdp: Some(OFFER.to_owned()),
            extra: vec![
                ("X-MS-SBC", "Switchboard/SBC/0.1".into()),
                ("Allow", ALLOW_WITH_REFER.into()),
            ],
        }
    }

    fn contact(mut self, contact: &str) -> InviteSpec {
        self.contact = contact.to_owned();
        self
    }

    fn build(&self) -> Request {
        let mut text = format!(
            "INVITE {} SIP/2.0\r\n\
             Via: SIP/2.0/TLS sbc1.customers.example.net:5061;branch={}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:+12065550199@contoso.customers.example.net>;tag={}\r\n\
             To: <{}>\r\n\
             Call-ID: {}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: {}\r\n",
            self.ruri,
            sip::new_branch(),
            sip::new_tag(),
            self.ruri,
            sip::new_call_id(),
            self.contact
        );
        if let Some(rr) = &self.record_route {
            text.push_str(&format!("Record-Route: {rr}\r\n"));
        }
        for (name, value) in &self.extra {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        finish(text, self.sdp.as_deref(), "application/sdp")
    }
}

fn finish(mut text: String, body: Option<&str>, content_type: &str) -> Request {
    let body = body.unwrap_or("");
    if !body.is_empty() {
        text.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    match Message::parse(Bytes::from(text)).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!("built a request"),
    }
}

fn rejected(events: &[Event]) -> Option<(u16, RejectReason)> {
    events.iter().find_map(|e| match e {
        Event::Rejected { status, reason, .. } => Some((status.0, *reason)),
        _ => None,
    })
}

/// Sends an INVITE and returns the final status and the Rejected event.
fn refused(sbc: &mut Sbc, invite: Request) -> (u16, RejectReason) {
    sbc.send(invite);
    let statuses = sbc.statuses();
    let events = sbc.take_events();
    let (status, reason) = rejected(&events).unwrap();
    assert_eq!(statuses, vec![status], "one final response, no 100");
    (status, reason)
}

/// An ACK for a 2xx (new branch, To tag of the 2xx).
fn ack_for(invite: &Request, ok: &Response) -> Request {
    let text = format!(
        "ACK {} SIP/2.0\r\nVia: SIP/2.0/TLS sbc1.customers.example.net:5061;branch={}\r\n\
         Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} ACK\r\n",
        ok.headers.contact().unwrap().unwrap().uri.as_str(),
        sip::new_branch(),
        invite.headers.get_str(&HeaderName::From).unwrap(),
        ok.headers.get_str(&HeaderName::To).unwrap(),
        invite.headers.call_id().unwrap(),
        invite.headers.cseq().unwrap().seq,
    );
    finish(text, None, "")
}

/// A request of the SBC within the dialog of `invite` answered by `ok`.
fn in_dialog(
    sbc: &mut Sbc,
    method: &str,
    invite: &Request,
    ok: &Response,
    extra: &str,
    body: Option<(&str, &str)>,
) -> Request {
    let seq = 100 + sbc.next_cseq();
    let mut text = format!(
        "{method} {} SIP/2.0\r\nVia: SIP/2.0/TLS sbc1.customers.example.net:5061;branch={}\r\n\
         Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {seq} {method}\r\n\
         Contact: <sip:contoso.customers.example.net:5061;transport=tls>\r\n{extra}",
        ok.headers.contact().unwrap().unwrap().uri.as_str(),
        sip::new_branch(),
        invite.headers.get_str(&HeaderName::From).unwrap(),
        ok.headers.get_str(&HeaderName::To).unwrap(),
        invite.headers.call_id().unwrap(),
    );
    let (content_type, body) = body.unwrap_or(("", ""));
    if body.is_empty() {
        text.push_str("Content-Length: 0\r\n\r\n");
        return finish_raw(text);
    }
    finish(text, Some(body), content_type)
}

fn finish_raw(text: String) -> Request {
    match Message::parse(Bytes::from(text)).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!("built a request"),
    }
}

/// The SBC's answer to a request of the proxy.
fn answer(
    request: &Request,
    status: StatusCode,
    to_tag: &str,
    extra: &[(HeaderName, &str)],
    sdp: Option<&str>,
) -> Response {
    let mut response = Response::for_request(request, status);
    let has_tag = request.headers.to().unwrap().tag().is_some();
    if !has_tag && status != StatusCode::TRYING {
        let to = format!(
            "{};tag={to_tag}",
            request.headers.get_str(&HeaderName::To).unwrap()
        );
        response.headers.set(HeaderName::To, to);
    }
    for (name, value) in extra {
        response.headers.push(name.clone(), (*value).to_owned());
    }
    if let Some(sdp) = sdp {
        response
            .headers
            .set(HeaderName::ContentType, "application/sdp");
        response.body = Bytes::from(sdp.to_owned());
    }
    response
}

fn call_received(events: &[Event]) -> (CallId, String, String) {
    events
        .iter()
        .find_map(|e| match e {
            Event::CallReceived {
                call, tenant, user, ..
            } => Some((*call, tenant.clone(), user.clone())),
            _ => None,
        })
        .unwrap()
}

#[test]
fn tenant_found_by_full_fqdn_then_without_the_first_label() {
    let mut sbc = Sbc::new();
    sbc.send(InviteSpec::to("+14255550100").build());
    let (_, tenant, user) = call_received(&sbc.take_events());
    assert_eq!(
        (tenant.as_str(), user.as_str()),
        ("contoso-tenant", "alice")
    );

    // sbc1.customers.example.net is no tenant domain: its parent is.
    sbc.send(
        InviteSpec::to("+15550001000")
            .contact("<sip:+12065550199@sbc1.customers.example.net:5061;transport=tls>")
            .build(),
    );
    let (_, tenant, user) = call_received(&sbc.take_events());
    assert_eq!(
        (tenant.as_str(), user.as_str()),
        ("provider-tenant", "reception")
    );

    // One label deeper under contoso, with a certificate covering it.
    sbc.cert.push("*.contoso.customers.example.net".into());
    sbc.send(
        InviteSpec::to("+14255550100")
            .contact("<sip:sbc9.contoso.customers.example.net:5061;transport=tls>")
            .build(),
    );
    let (_, tenant, _) = call_received(&sbc.take_events());
    assert_eq!(tenant, "contoso-tenant");
}

#[test]
fn ip_address_in_contact_gets_403() {
    let mut sbc = Sbc::new();
    let invite = InviteSpec::to("+14255550100")
        .contact("<sip:+12065550199@192.0.2.10:5061;transport=tls>")
        .build();
    assert_eq!(
        refused(&mut sbc, invite),
        (403, RejectReason::ContactNotFqdn)
    );
}

#[test]
fn only_the_first_contact_counts() {
    let mut sbc = Sbc::new();
    let invite = InviteSpec::to("+14255550100")
        .contact("<sip:192.0.2.10:5061>, <sip:contoso.customers.example.net:5061;transport=tls>")
        .build();
    assert_eq!(
        refused(&mut sbc, invite),
        (403, RejectReason::ContactNotFqdn)
    );
}

#[test]
fn unknown_tenant_gets_403() {
    let mut sbc = Sbc::new();
    sbc.cert = vec!["*.fabrikam.example.org".into()];
    let invite = InviteSpec::to("+14255550100")
        .contact("<sip:sbc1.fabrikam.example.org:5061;transport=tls>")
        .build();
    assert_eq!(
        refused(&mut sbc, invite),
        (403, RejectReason::UnknownTenant)
    );
}

#[test]
fn certificate_must_cover_the_contact_fqdn() {
    let mut sbc = Sbc::new();
    sbc.cert = vec!["sbc1.customers.example.net".into()];
    let invite = InviteSpec::to("+14255550100").build();
    assert_eq!(
        refused(&mut sbc, invite),
        (403, RejectReason::CertificateMismatch)
    );
    // No client certificate at all.
    sbc.cert.clear();
    let invite = InviteSpec::to("+14255550100").build();
    assert_eq!(
        refused(&mut sbc, invite),
        (403, RejectReason::CertificateMismatch)
    );
}

#[test]
fn unknown_number_gets_404() {
    let mut sbc = Sbc::new();
    // reception is a user, but of the provider tenant, not contoso.
    let invite = InviteSpec::to("+15550001000").build();
    assert_eq!(refused(&mut sbc, invite), (404, RejectReason::UnknownUser));
    let invite = InviteSpec::to("+19999999999").build();
    assert_eq!(refused(&mut sbc, invite), (404, RejectReason::UnknownUser));
}

#[test]
fn invite_without_sdp_offer_gets_488() {
    let mut sbc = Sbc::new();
    let mut spec = InviteSpec::to("+14255550100");
    spec.sdp = None;
    assert_eq!(
        refused(&mut sbc, spec.build()),
        (488, RejectReason::NoSdpOffer)
    );
}

#[test]
fn sdp_without_sdes_crypto_gets_488() {
    let mut sbc = Sbc::new();
    let mut spec = InviteSpec::to("+14255550100");
    spec.sdp = Some(
        OFFER
            .lines()
            .filter(|l| !l.starts_with("a=crypto"))
            .map(|l| format!("{l}\r\n"))
            .collect(),
    );
    assert_eq!(
        refused(&mut sbc, spec.build()),
        (488, RejectReason::NoSrtpCrypto)
    );
    spec.sdp = Some(OFFER.replace("RTP/SAVP", "RTP/AVP"));
    assert_eq!(
        refused(&mut sbc, spec.build()),
        (488, RejectReason::NoSrtpCrypto)
    );
}

#[test]
fn replaces_is_rejected() {
    let mut sbc = Sbc::new();
    let mut spec = InviteSpec::to("+14255550100");
    spec.extra
        .push(("Replaces", "abc@host;to-tag=1;from-tag=2".into()));
    assert_eq!(
        refused(&mut sbc, spec.build()),
        (403, RejectReason::Replaces)
    );
}

#[test]
fn record_route_must_name_the_contact_fqdn() {
    let mut sbc = Sbc::new();
    let mut spec = InviteSpec::to("+14255550100");
    spec.record_route = Some("<sip:192.0.2.10:5061;transport=tls;lr>".into());
    assert_eq!(
        refused(&mut sbc, spec.build()),
        (403, RejectReason::RecordRouteMismatch)
    );
    spec.record_route = Some("<sip:other.customers.example.net:5061;transport=tls;lr>".into());
    assert_eq!(
        refused(&mut sbc, spec.build()),
        (403, RejectReason::RecordRouteMismatch)
    );
    // Identical FQDNs: accepted; in-dialog requests go to the Record-Route.
    spec.record_route = Some("<sip:contoso.customers.example.net:5071;transport=tls;lr>".into());
    let invite = spec.build();
    sbc.send(invite.clone());
    let (call, _, _) = call_received(&sbc.take_events());
    sbc.advance(Duration::from_millis(2000));
    let ok = sbc
        .responses()
        .into_iter()
        .find(|(_, r)| r.status == StatusCode::OK)
        .unwrap()
        .1;
    sbc.send(ack_for(&invite, &ok));
    sbc.proxy.hang_up(call, sbc.now).unwrap();
    sbc.collect();
    let (to, bye) = sbc.requests().pop().unwrap();
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(
        to,
        Destination::Sbc {
            host: "contoso.customers.example.net".into(),
            port: 5071
        }
    );
    assert!(bye
        .headers
        .get_str(&HeaderName::Route)
        .unwrap()
        .contains("contoso.customers.example.net:5071"));
}

#[test]
fn forked_ringing_then_answer_then_bye_from_the_sbc() {
    let mut sbc = Sbc::new();
    let invite = InviteSpec::to("+14255550100").build();
    sbc.send(invite.clone());
    let events = sbc.take_events();
    let (call, _, _) = call_received(&events);
    assert!(events.iter().any(
        |e| matches!(e, Event::CallReceived { x_ms_sbc: Some(v), .. } if v == "Switchboard/SBC/0.1")
    ));
    let provisional = sbc.responses();
    let statuses: Vec<u16> = provisional.iter().map(|(_, r)| r.status.0).collect();
    assert_eq!(statuses, vec![100, 180, 180]);
    assert!(provisional
        .iter()
        .all(|(d, _)| *d == Destination::Connection(ConnectionRef(7))));
    let tags: Vec<String> = provisional[1..]
        .iter()
        .map(|(_, r)| r.headers.to().unwrap().tag().unwrap().to_owned())
        .collect();
    assert_ne!(tags[0], tags[1], "each endpoint has its own To tag");

    // Nothing before the ring time.
    sbc.advance(Duration::from_millis(1999));
    assert!(sbc.responses().is_empty());
    sbc.advance(Duration::from_millis(1));
    let (_, ok) = sbc.responses().pop().unwrap();
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.headers.to().unwrap().tag(), Some(tags[0].as_str()));
    let answer = sdp::Session::parse(&ok.body).unwrap();
    let audio = &answer.media[0];
    assert_eq!(audio.proto, "RTP/SAVP");
    assert!(audio.rtcp_mux());
    assert!(audio.telephone_events().next().is_some());
    let crypto = audio.cryptos().next().unwrap();
    assert_ne!(crypto.keys[0].key_salt, vec![0u8; 30]);
    assert!(ok
        .headers
        .contact()
        .unwrap()
        .unwrap()
        .uri
        .as_str()
        .starts_with("sip:sip.pstnhub.microsoft.com:5061"));
    assert!(sbc.take_events().contains(&Event::Answered { call }));

    // Without ACK the 200 is retransmitted on the same connection.
    sbc.advance(Duration::from_millis(500));
    let (to, again) = sbc.responses().pop().unwrap();
    assert_eq!(
        (to, again.status),
        (Destination::Connection(ConnectionRef(7)), StatusCode::OK)
    );
    sbc.send(ack_for(&invite, &ok));
    sbc.advance(Duration::from_secs(5));
    assert!(
        sbc.responses().is_empty(),
        "the ACK stopped the retransmissions"
    );

    let bye = in_dialog(&mut sbc, "BYE", &invite, &ok, "", None);
    sbc.send(bye);
    assert_eq!(sbc.statuses(), vec![200]);
    assert!(sbc.take_events().contains(&Event::Ended {
        call,
        by: Party::Sbc,
        status: None
    }));
    assert_eq!(sbc.proxy.call_count(), 0);
}

#[test]
fn early_media_sends_183_with_sdp() {
    let mut sbc = Sbc::new();
    sbc.send(InviteSpec::to("+14255550104").build());
    let responses = sbc.responses();
    let statuses: Vec<u16> = responses.iter().map(|(_, r)| r.status.0).collect();
    assert_eq!(statuses, vec![100, 180, 183]);
    assert!(
        sdp::Session::parse(&responses[2].1.body).unwrap().media[0]
            .cryptos()
            .count()
            == 1
    );
}

#[test]
fn busy_decline_and_no_answer() {
    for (number, ring, status) in [
        ("+14255550101", 500, 486),
        ("+14255550103", 1000, 603),
        ("+14255550102", 30000, 408),
    ] {
        let mut sbc = Sbc::new();
        sbc.send(InviteSpec::to(number).build());
        let (call, _, _) = call_received(&sbc.take_events());
        assert_eq!(sbc.statuses(), vec![100, 180]);
        sbc.advance(Duration::from_millis(ring - 1));
        assert!(sbc.statuses().is_empty());
        sbc.advance(Duration::from_millis(1));
        assert_eq!(sbc.statuses(), vec![status]);
        assert!(sbc.take_events().contains(&Event::Ended {
            call,
            by: Party::Teams,
            status: Some(StatusCode(status)),
        }));
    }
}

#[test]
fn cancel_gets_200_and_the_invite_487() {
    let mut sbc = Sbc::new();
    let invite = InviteSpec::to("+14255550100").build();
    sbc.send(invite.clone());
    let (call, _, _) = call_received(&sbc.take_events());
    sbc.responses();
    let cancel = sip_core::build_cancel(&invite).unwrap();
    sbc.send(cancel);
    let responses = sbc.responses();
    let mut finals: Vec<(u16, Method)> = responses
        .iter()
        .map(|(_, r)| (r.status.0, r.headers.cseq().unwrap().method))
        .collect();
    finals.sort_by_key(|(s, _)| *s);
    assert_eq!(finals, vec![(200, Method::Cancel), (487, Method::Invite)]);
    let tags: Vec<Option<String>> = responses
        .iter()
        .map(|(_, r)| r.headers.to().unwrap().tag().map(str::to_owned))
        .collect();
    assert!(
        tags[0].is_some() && tags[0] == tags[1],
        "same To tag on both"
    );
    assert!(sbc.take_events().contains(&Event::Ended {
        call,
        by: Party::Sbc,
        status: Some(StatusCode::REQUEST_TERMINATED),
    }));
    sbc.advance(Duration::from_secs(3));
    assert!(sbc.statuses().is_empty(), "no answer after the CANCEL");
}

fn options(contact: &str) -> Request {
    let text = format!(
        "OPTIONS sip:sip.pstnhub.microsoft.com:5061 SIP/2.0\r\n\
         Via: SIP/2.0/TLS sbc1.customers.example.net:5061;branch={}\r\nMax-Forwards: 70\r\n\
         From: <sip:sbc1.customers.example.net:5061>;tag={}\r\nTo: <sip:sip.pstnhub.microsoft.com:5061>\r\n\
         Call-ID: {}\r\nCSeq: 1 OPTIONS\r\nContact: {contact}\r\nContent-Length: 0\r\n\r\n",
        sip::new_branch(),
        sip::new_tag(),
        sip::new_call_id()
    );
    finish_raw(text)
}

#[test]
fn options_make_the_sbc_active_and_silence_inactive() {
    let mut sbc = Sbc::new();
    let fqdn = "sbc1.customers.example.net";
    sbc.send(options(
        "<sip:sbc1.customers.example.net:5061;transport=tls>",
    ));
    let responses = sbc.responses();
    assert_eq!(responses.len(), 1);
    assert_eq!(
        responses[0].0,
        Destination::Connection(ConnectionRef(7)),
        "same connection"
    );
    assert_eq!(responses[0].1.status, StatusCode::OK);
    assert_eq!(sbc.proxy.sbc_status(fqdn), SbcStatus::Inactive);
    let (to, probe) = sbc.requests().pop().unwrap();
    assert_eq!(probe.method, Method::Options);
    assert_eq!(
        to,
        Destination::Sbc {
            host: fqdn.into(),
            port: 5061
        }
    );
    assert_eq!(probe.uri.host().to_string(), fqdn);

    sbc.send(answer(&probe, StatusCode::OK, "x", &[], None));
    assert_eq!(sbc.proxy.sbc_status(fqdn), SbcStatus::Active);
    // The derived trunk shares the base trunk's health.
    assert_eq!(
        sbc.proxy.sbc_status("contoso.customers.example.net"),
        SbcStatus::Active
    );
    let events = sbc.take_events();
    assert!(events.contains(&Event::SbcStatusChanged {
        fqdn: fqdn.into(),
        status: SbcStatus::Active
    }));

    // Two minutes later, another OPTIONS keeps it Active.
    sbc.advance(Duration::from_secs(120));
    sbc.send(options(
        "<sip:sbc1.customers.example.net:5061;transport=tls>",
    ));
    sbc.advance(Duration::from_secs(179));
    assert_eq!(sbc.proxy.sbc_status(fqdn), SbcStatus::Active);
    // Three minutes of silence: Inactive.
    sbc.advance(Duration::from_secs(1));
    assert_eq!(sbc.proxy.sbc_status(fqdn), SbcStatus::Inactive);
    assert!(sbc.take_events().contains(&Event::SbcStatusChanged {
        fqdn: fqdn.into(),
        status: SbcStatus::Inactive
    }));
}

#[test]
fn options_from_unknown_or_uncovered_fqdns_are_refused() {
    let mut sbc = Sbc::new();
    sbc.send(options(
        "<sip:sbc1.fabrikam.example.org:5061;transport=tls>",
    ));
    assert_eq!(sbc.statuses(), vec![403]);
    assert_eq!(
        rejected(&sbc.take_events()),
        Some((403, RejectReason::UnknownTenant))
    );
    assert!(sbc.requests().is_empty(), "no OPTIONS back");

    sbc.cert = vec!["other.customers.example.net".into()];
    sbc.send(options(
        "<sip:sbc1.customers.example.net:5061;transport=tls>",
    ));
    assert_eq!(
        rejected(&sbc.take_events()),
        Some((403, RejectReason::CertificateMismatch))
    );

    sbc.cert = SBC_CERT.iter().map(|s| (*s).to_owned()).collect();
    let mut with_rr = options("<sip:sbc1.customers.example.net:5061;transport=tls>");
    with_rr.headers.push(
        HeaderName::RecordRoute,
        "<sip:sbc1.fabrikam.example.org;lr>",
    );
    sbc.send(with_rr);
    assert_eq!(
        rejected(&sbc.take_events()),
        Some((403, RejectReason::UnknownTenant))
    );

    sbc.send(options("<sip:192.0.2.1:5061;transport=tls>"));
    assert_eq!(
        rejected(&sbc.take_events()),
        Some((403, RejectReason::ContactNotFqdn))
    );

    // An `@` with an empty user part is malformed (RFC 3261 §19.1.1).
    sbc.send(options(
        "<sip:@sbc1.customers.example.net:5061;transport=tls>",
    ));
    assert_eq!(
        rejected(&sbc.take_events()),
        Some((400, RejectReason::BadHeader))
    );
}

#[test]
fn unavailable_proxy_answers_503_with_retry_after_and_silent_one_nothing() {
    let mut sbc = Sbc::new();
    sbc.proxy
        .set_proxy_mode(ProxyId(0), ProxyMode::Unavailable)
        .unwrap();
    sbc.send(InviteSpec::to("+14255550100").build());
    let (_, response) = sbc.responses().pop().unwrap();
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers.retry_after().unwrap().unwrap().seconds, 30);
    assert_eq!(
        rejected(&sbc.take_events()),
        Some((503, RejectReason::ProxyUnavailable))
    );

    sbc.proxy
        .set_proxy_mode(ProxyId(0), ProxyMode::Silent)
        .unwrap();
    sbc.send(InviteSpec::to("+14255550100").build());
    sbc.send(options(
        "<sip:sbc1.customers.example.net:5061;transport=tls>",
    ));
    sbc.advance(Duration::from_secs(40));
    assert!(
        sbc.sent.is_empty(),
        "a silent proxy sends nothing, not even 100"
    );
    assert!(sbc.take_events().is_empty());
}

/// Places a call from alice; the SBC answers it. Returns the call, the
/// INVITE and the SBC's 200.
fn outbound_call(sbc: &mut Sbc, allow: &str) -> (CallId, Request, Response) {
    let call = sbc
        .proxy
        .place_call("alice", "+12065550199", sbc.now)
        .unwrap();
    sbc.collect();
    let (to, invite) = sbc.requests().pop().unwrap();
    assert_eq!(
        to,
        Destination::Sbc {
            host: "contoso.customers.example.net".into(),
            port: 5061
        }
    );
    let ringing = answer(&invite, StatusCode::RINGING, "sbc-tag", &[], None);
    sbc.send(ringing);
    let ok = answer(
        &invite,
        StatusCode::OK,
        "sbc-tag",
        &[
            (
                HeaderName::Contact,
                "<sip:+12065550199@contoso.customers.example.net:5061;transport=tls>",
            ),
            (HeaderName::Allow, allow),
        ],
        Some(OFFER),
    );
    sbc.send(ok.clone());
    (call, invite, ok)
}

#[test]
fn call_from_teams_carries_pai_privacy_and_an_sdes_offer() {
    let mut sbc = Sbc::new();
    let (call, invite, _) = outbound_call(&mut sbc, ALLOW_WITH_REFER);
    assert_eq!(
        invite.uri.as_str(),
        "sip:+12065550199@contoso.customers.example.net:5061;user=phone;transport=tls"
    );
    let pai: Vec<&[u8]> = invite
        .headers
        .get_all(&HeaderName::PAssertedIdentity)
        .collect();
    assert_eq!(
        pai,
        vec![
            &b"<tel:+14255550100>"[..],
            &b"<sip:alice@contoso.customers.example.net>"[..]
        ]
    );
    assert_eq!(invite.headers.get_str(&HeaderName::Privacy), Some("id"));
    assert!(invite
        .headers
        .from()
        .unwrap()
        .uri
        .as_str()
        .starts_with("sip:anonymous@"));
    let offer = sdp::Session::parse(&invite.body).unwrap();
    assert_eq!(offer.media[0].proto, "RTP/SAVP");
    assert_eq!(offer.media[0].cryptos().count(), 2);
    assert!(invite
        .headers
        .top_via()
        .unwrap()
        .to_string()
        .starts_with("SIP/2.0/TLS sip.pstnhub.microsoft.com:5061"));

    let events = sbc.take_events();
    assert!(events.contains(&Event::Progress {
        call,
        status: StatusCode::RINGING
    }));
    assert!(events.contains(&Event::Answered { call }));
    let (to, ack) = sbc.requests().pop().unwrap();
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(
        to,
        Destination::Sbc {
            host: "contoso.customers.example.net".into(),
            port: 5061
        }
    );
}

#[test]
fn cancel_of_a_call_from_teams() {
    let mut sbc = Sbc::new();
    let call = sbc
        .proxy
        .place_call("alice", "+12065550199", sbc.now)
        .unwrap();
    sbc.collect();
    let (_, invite) = sbc.requests().pop().unwrap();
    sbc.send(answer(&invite, StatusCode::RINGING, "t", &[], None));
    sbc.proxy.hang_up(call, sbc.now).unwrap();
    sbc.collect();
    let (_, cancel) = sbc.requests().pop().unwrap();
    assert_eq!(cancel.method, Method::Cancel);
    sbc.send(answer(&cancel, StatusCode::OK, "t", &[], None));
    sbc.send(answer(
        &invite,
        StatusCode::REQUEST_TERMINATED,
        "t",
        &[],
        None,
    ));
    assert!(sbc.take_events().contains(&Event::Ended {
        call,
        by: Party::Teams,
        status: Some(StatusCode::REQUEST_TERMINATED),
    }));
    // The 487 is acknowledged by the transaction (RFC 3261 §17.1.1.3).
    assert!(sbc.requests().iter().any(|(_, r)| r.method == Method::Ack));
}

#[test]
fn refer_carries_x_m_x_t_and_referred_by_and_notify_reports_progress() {
    let mut sbc = Sbc::new();
    let (call, _, _) = outbound_call(&mut sbc, ALLOW_WITH_REFER);
    sbc.requests();
    sbc.take_events();

    sbc.proxy
        .transfer(call, TransferTarget::User("bob".into()), sbc.now)
        .unwrap();
    sbc.collect();
    let (to, refer) = sbc.requests().pop().unwrap();
    assert_eq!(refer.method, Method::Refer);
    assert_eq!(
        to,
        Destination::Sbc {
            host: "contoso.customers.example.net".into(),
            port: 5061
        }
    );
    let refer_to = refer.headers.refer_to().unwrap().unwrap().uri.to_uri();
    assert_eq!(refer_to.host().to_string(), "sip.pstnhub.microsoft.com");
    assert_eq!(refer_to.param("x-m"), Some(Some("8:orgid:oid-bob")));
    assert_eq!(refer_to.param("x-t"), Some(Some("contoso-tenant")));
    let referred_by = refer.headers.referred_by().unwrap().unwrap().uri.to_uri();
    assert_eq!(referred_by.param("x-m"), Some(Some("8:orgid:oid-alice")));
    assert_eq!(referred_by.param("x-t"), Some(Some("contoso-tenant")));
    assert!(referred_by
        .param("x-ti")
        .flatten()
        .is_some_and(|ti| ti.len() == 36));
    assert!(sbc.take_events().iter().any(|e| matches!(e, Event::ReferSent { refer_to, .. } if refer_to.contains("x-m=8:orgid:oid-bob"))));

    sbc.send(answer(&refer, StatusCode::ACCEPTED, "", &[], None));
    assert!(sbc.take_events().contains(&Event::ReferAnswered {
        call,
        status: StatusCode::ACCEPTED
    }));

    // The SBC reports progress with NOTIFY message/sipfrag (RFC 3515 §2.4.4).
    let notify = {
        let text = format!(
            "NOTIFY sip:sip.pstnhub.microsoft.com:5061 SIP/2.0\r\n\
             Via: SIP/2.0/TLS contoso.customers.example.net:5061;branch={}\r\nMax-Forwards: 70\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 NOTIFY\r\nEvent: refer\r\n\
             Subscription-State: terminated;reason=noresource\r\n\
             Contact: <sip:contoso.customers.example.net:5061;transport=tls>\r\n",
            sip::new_branch(),
            refer.headers.get_str(&HeaderName::To).unwrap(),
            refer.headers.get_str(&HeaderName::From).unwrap(),
            refer.headers.call_id().unwrap(),
        );
        finish(
            text,
            Some("SIP/2.0 200 OK\r\n"),
            "message/sipfrag;version=2.0",
        )
    };
    sbc.send(notify);
    assert_eq!(sbc.statuses(), vec![200]);
    assert!(sbc.take_events().contains(&Event::NotifyReceived {
        call,
        sipfrag: "SIP/2.0 200 OK".into(),
        terminated: true,
    }));

    // The transfer's new INVITE comes back with the Refer-To's x-m/x-t and
    // no user part: it rings bob.
    let mut spec = InviteSpec::to("ignored");
    spec.ruri = refer_to.as_str().to_owned();
    spec.extra.push((
        "Referred-By",
        refer
            .headers
            .get_str(&HeaderName::ReferredBy)
            .unwrap()
            .to_owned(),
    ));
    sbc.send(spec.build());
    let events = sbc.take_events();
    let (_, tenant, user) = call_received(&events);
    assert_eq!((tenant.as_str(), user.as_str()), ("contoso-tenant", "bob"));
    assert!(events.iter().any(
        |e| matches!(e, Event::CallReceived { referred_by: Some(r), .. } if r.contains("x-ti="))
    ));

    // An x-t that is not the tenant of the FQDN is refused.
    sbc.responses();
    spec.ruri =
        "sip:sip.pstnhub.microsoft.com:5061;transport=tls;x-m=8:orgid:oid-bob;x-t=other".into();
    assert_eq!(
        refused(&mut sbc, spec.build()),
        (403, RejectReason::TenantMismatch)
    );
}

#[test]
fn refer_to_a_number_and_refer_not_allowed() {
    let mut sbc = Sbc::new();
    let (call, _, _) = outbound_call(&mut sbc, ALLOW_WITH_REFER);
    sbc.requests();
    sbc.proxy
        .transfer(call, TransferTarget::Number("+12065550123".into()), sbc.now)
        .unwrap();
    sbc.collect();
    let (_, refer) = sbc.requests().pop().unwrap();
    assert_eq!(
        refer.headers.get_str(&HeaderName::ReferTo),
        Some("<sip:+12065550123@sip.pstnhub.microsoft.com;user=phone>")
    );

    let mut other = Sbc::new();
    let (call, _, _) = outbound_call(&mut other, "INVITE, ACK, CANCEL, BYE, OPTIONS");
    assert_eq!(
        other.proxy.transfer(
            call,
            TransferTarget::Number("+12065550123".into()),
            other.now
        ),
        Err(CallError::ReferNotAllowed)
    );
}

#[test]
fn hold_and_resume_with_a_inactive_both_ways() {
    let mut sbc = Sbc::new();
    let (call, _, _) = outbound_call(&mut sbc, ALLOW_WITH_REFER);
    sbc.requests();
    sbc.take_events();

    sbc.proxy.hold(call, sbc.now).unwrap();
    sbc.collect();
    let (_, reinvite) = sbc.requests().pop().unwrap();
    assert_eq!(reinvite.method, Method::Invite);
    assert!(reinvite.headers.to().unwrap().tag().is_some());
    let held = sdp::Session::parse(&reinvite.body).unwrap();
    assert_eq!(held.direction_of(&held.media[0]), sdp::Direction::Inactive);
    assert!(!String::from_utf8_lossy(&reinvite.body).contains("0.0.0.0"));
    // A second re-INVITE while this one is pending is refused.
    assert!(sbc.proxy.resume(call, sbc.now).is_err());
    let inactive_answer = OFFER.replace("a=rtcp-mux\r\n", "a=rtcp-mux\r\na=inactive\r\n");
    sbc.send(answer(
        &reinvite,
        StatusCode::OK,
        "",
        &[(
            HeaderName::Contact,
            "<sip:contoso.customers.example.net:5061;transport=tls>",
        )],
        Some(&inactive_answer),
    ));
    assert!(sbc.take_events().contains(&Event::HoldChanged {
        call,
        on_hold: true,
        by: Party::Teams
    }));
    assert_eq!(sbc.proxy.is_on_hold(call), Some(true));
    assert!(sbc.requests().iter().any(|(_, r)| r.method == Method::Ack));

    sbc.proxy.resume(call, sbc.now).unwrap();
    sbc.collect();
    let (_, reinvite) = sbc.requests().pop().unwrap();
    assert!(String::from_utf8_lossy(&reinvite.body).contains("a=sendrecv"));
    sbc.send(answer(
        &reinvite,
        StatusCode::OK,
        "",
        &[(
            HeaderName::Contact,
            "<sip:contoso.customers.example.net:5061;transport=tls>",
        )],
        Some(OFFER),
    ));
    assert!(sbc.take_events().contains(&Event::HoldChanged {
        call,
        on_hold: false,
        by: Party::Teams
    }));
}

#[test]
fn hold_from_the_sbc_is_answered_inactive() {
    let mut sbc = Sbc::new();
    let invite = InviteSpec::to("+14255550104").build();
    sbc.send(invite.clone());
    let (call, _, _) = call_received(&sbc.take_events());
    sbc.advance(Duration::from_millis(1000));
    let ok = sbc
        .responses()
        .into_iter()
        .find(|(_, r)| r.status == StatusCode::OK)
        .unwrap()
        .1;
    sbc.send(ack_for(&invite, &ok));
    sbc.take_events();

    let held = OFFER
        .replace("a=rtcp-mux\r\n", "a=rtcp-mux\r\na=inactive\r\n")
        .replace("o=sbc 10 1", "o=sbc 10 2");
    let reinvite = in_dialog(
        &mut sbc,
        "INVITE",
        &invite,
        &ok,
        "",
        Some(("application/sdp", &held)),
    );
    sbc.send(reinvite.clone());
    let (_, response) = sbc.responses().pop().unwrap();
    assert_eq!(response.status, StatusCode::OK);
    let answer = sdp::Session::parse(&response.body).unwrap();
    assert_eq!(
        answer.direction_of(&answer.media[0]),
        sdp::Direction::Inactive
    );
    let first = sdp::Session::parse(&ok.body).unwrap();
    assert_eq!(answer.origin.session_id, first.origin.session_id);
    assert_eq!(
        answer.origin.session_version,
        first.origin.session_version + 1
    );
    assert!(sbc.take_events().contains(&Event::HoldChanged {
        call,
        on_hold: true,
        by: Party::Sbc
    }));
    assert_eq!(sbc.proxy.is_on_hold(call), Some(true));
}

#[test]
fn in_dialog_request_for_no_call_gets_481() {
    let mut sbc = Sbc::new();
    let invite = InviteSpec::to("+14255550100").build();
    let fake_ok = answer(
        &invite,
        StatusCode::OK,
        "nope",
        &[(HeaderName::Contact, "<sip:sip.pstnhub.microsoft.com:5061>")],
        None,
    );
    let bye = in_dialog(&mut sbc, "BYE", &invite, &fake_ok, "", None);
    sbc.send(bye);
    assert_eq!(sbc.statuses(), vec![481]);
}

#[test]
fn unknown_users_and_numbers_are_refused_by_the_api() {
    let mut sbc = Sbc::new();
    assert_eq!(
        sbc.proxy.place_call("zoe", "+12065550199", sbc.now),
        Err(CallError::UnknownUser("zoe".into()))
    );
    assert_eq!(
        sbc.proxy.place_call("alice", "2065550199", sbc.now),
        Err(CallError::BadNumber("2065550199".into()))
    );
    for id in [ProxyId(0), ProxyId(1)] {
        sbc.proxy
            .set_proxy_mode(id, ProxyMode::Unavailable)
            .unwrap();
    }
    assert_eq!(
        sbc.proxy.place_call("alice", "+12065550199", sbc.now),
        Err(CallError::NoProxyAvailable)
    );
}

#[test]
fn outbound_invite_timeout_is_a_408_failure() {
    let mut sbc = Sbc::new();
    let call = sbc
        .proxy
        .place_call("alice", "+12065550199", sbc.now)
        .unwrap();
    sbc.collect();
    // Over TLS nothing is retransmitted; Timer B fires after 64*T1.
    sbc.advance(Duration::from_secs(33));
    assert!(sbc.take_events().contains(&Event::CallFailed {
        call,
        status: StatusCode::REQUEST_TIMEOUT
    }));
    assert_eq!(sbc.proxy.call_count(), 0);
}

#[test]
fn random_bytes_never_panic() {
    let mut sbc = Sbc::new();
    let mut state = 0x1234_5678_u64;
    for round in 0..500 {
        let len = (round % 300) + 1;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect();
        let mut text = b"INVITE sip:+14255550100@sip.pstnhub.microsoft.com SIP/2.0\r\n".to_vec();
        text.extend_from_slice(&bytes);
        if let Ok(message) = Message::parse(Bytes::from(text)) {
            sbc.send(message);
        }
    }
}
