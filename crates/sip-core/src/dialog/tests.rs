//! Scenario tests of the dialog layer in simulated time: messages are
//! serialized and parsed back with the `sip` crate between the peers, as
//! they would be on the wire.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{HeaderName, Message, Method, Request, Response, StatusCode};

use super::*;

const CALL_ID: &str = "a84b4c76e66710@pc33.atlanta.example.com";
const ALICE_TAG: &str = "1928301774";
const BOB_TAG: &str = "a6c85cf";

fn parse(text: &str) -> Message {
    let text = text.trim_start().replace('\n', "\r\n");
    Message::parse(Bytes::from(text)).unwrap()
}

fn request(text: &str) -> Request {
    match parse(text) {
        Message::Request(request) => request,
        Message::Response(_) => panic!("not a request"),
    }
}

fn response(text: &str) -> Response {
    match parse(text) {
        Message::Response(response) => response,
        Message::Request(_) => panic!("not a response"),
    }
}

/// Serializes and parses back, as the network would.
fn over_wire_request(request: &Request) -> Request {
    match Message::parse(request.to_bytes()).unwrap() {
        Message::Request(request) => request,
        Message::Response(_) => panic!("not a request"),
    }
}

fn over_wire_response(response: &Response) -> Response {
    match Message::parse(response.to_bytes()).unwrap() {
        Message::Response(response) => response,
        Message::Request(_) => panic!("not a response"),
    }
}

/// Alice's INVITE as she sent it.
fn invite_sent() -> Request {
    request(&format!(
        "
INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8
Max-Forwards: 70
To: Bob <sip:bob@biloxi.example.com>
From: Alice <sip:alice@atlanta.example.com>;tag={ALICE_TAG}
Call-ID: {CALL_ID}
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.example.com>
Content-Length: 0

"
    ))
}

/// Alice's INVITE as Bob receives it, through p1 then p2.
fn invite_received() -> Request {
    request(&format!(
        "
INVITE sip:bob@192.0.2.4 SIP/2.0
Via: SIP/2.0/UDP p2.biloxi.example.com;branch=z9hG4bKp2
Via: SIP/2.0/UDP p1.atlanta.example.com;branch=z9hG4bKp1
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8
Max-Forwards: 68
Record-Route: <sip:p2.biloxi.example.com;lr>
Record-Route: <sip:p1.atlanta.example.com;lr>
To: Bob <sip:bob@biloxi.example.com>
From: Alice <sip:alice@atlanta.example.com>;tag={ALICE_TAG}
Call-ID: {CALL_ID}
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.example.com>
Content-Length: 0

"
    ))
}

/// A response to the INVITE; `to_tag` empty for none, `extra` header lines
/// (each ending with a newline).
fn invite_response(status: &str, to_tag: &str, extra: &str) -> Response {
    let tag = if to_tag.is_empty() {
        String::new()
    } else {
        format!(";tag={to_tag}")
    };
    response(&format!(
        "
SIP/2.0 {status}
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8
{extra}To: Bob <sip:bob@biloxi.example.com>{tag}
From: Alice <sip:alice@atlanta.example.com>;tag={ALICE_TAG}
Call-ID: {CALL_ID}
CSeq: 314159 INVITE
Content-Length: 0

"
    ))
}

const LOOSE_ROUTES: &str =
    "Record-Route: <sip:p2.biloxi.example.com;lr>, <sip:p1.atlanta.example.com;lr>\n";
const BOB_CONTACT: &str = "Contact: <sip:bob@192.0.2.4>\n";

fn bob_answer(status: &str) -> Response {
    invite_response(status, BOB_TAG, &format!("{LOOSE_ROUTES}{BOB_CONTACT}"))
}

fn config() -> DialogConfig {
    DialogConfig {
        seed: 42,
        ..DialogConfig::default()
    }
}

fn uris(routes: &[sip::Uri]) -> Vec<String> {
    routes.iter().map(|uri| uri.to_string()).collect()
}

fn route_headers(request: &Request) -> Vec<String> {
    request
        .headers
        .routes()
        .map(|route| route.unwrap().uri.to_string())
        .collect()
}

fn drain_transmits(dialog: &mut Dialog) -> Vec<DialogTransmit> {
    std::iter::from_fn(|| dialog.poll_transmit()).collect()
}

fn drain_events(dialog: &mut Dialog) -> Vec<DialogEvent> {
    std::iter::from_fn(|| dialog.poll_event()).collect()
}

/// Alice (UAC) and Bob (UAS) with a confirmed, acknowledged dialog.
fn confirmed_pair(t0: Instant) -> (Dialog, Dialog) {
    let ok = bob_answer("200 OK");
    let mut bob = Dialog::new_uas(&invite_received(), &ok, config(), t0).unwrap();
    let mut alice = Dialog::new_uac(&invite_sent(), &over_wire_response(&ok), config()).unwrap();
    let ack = over_wire_request(&alice.ack(None).unwrap());
    assert_eq!(
        bob.handle_request(&ack, t0).unwrap(),
        RequestVerdict::Accept
    );
    (alice, bob)
}

// ---- UAC dialog creation (§12.1.2) ----

#[test]
fn uac_dialog_from_180_then_200_keeps_its_id() {
    let mut dialog = Dialog::new_uac(&invite_sent(), &bob_answer("180 Ringing"), config()).unwrap();
    assert_eq!(dialog.state(), DialogState::Early);
    assert_eq!(dialog.role(), DialogRole::Uac);
    let early_id = dialog.id().clone();
    assert_eq!(
        early_id,
        DialogId {
            call_id: CALL_ID.to_owned(),
            local_tag: ALICE_TAG.to_owned(),
            remote_tag: BOB_TAG.to_owned()
        }
    );
    assert_eq!(dialog.local_seq(), Some(314159));
    assert_eq!(dialog.remote_seq(), None);

    let ok = invite_response(
        "200 OK",
        BOB_TAG,
        "Record-Route: <sip:p2.biloxi.example.com;lr>, <sip:p1.atlanta.example.com;lr>\nContact: <sip:bob@192.0.2.99>\n",
    );
    dialog.handle_response(&ok, Instant::now()).unwrap();
    assert_eq!(dialog.state(), DialogState::Confirmed);
    assert_eq!(dialog.id(), &early_id);
    assert_eq!(dialog.remote_target().to_string(), "sip:bob@192.0.2.99");
    assert_eq!(
        dialog.local_uri().to_string(),
        "sip:alice@atlanta.example.com"
    );
    assert_eq!(
        dialog.remote_uri().to_string(),
        "sip:bob@biloxi.example.com"
    );
    assert!(!dialog.is_secure());
}

#[test]
fn uac_route_set_is_the_record_route_reversed() {
    let dialog = Dialog::new_uac(&invite_sent(), &bob_answer("200 OK"), config()).unwrap();
    assert_eq!(
        uris(dialog.route_set()),
        [
            "sip:p1.atlanta.example.com;lr",
            "sip:p2.biloxi.example.com;lr"
        ]
    );
}

#[test]
fn uac_2xx_recomputes_the_route_set_of_the_early_dialog() {
    let ringing = invite_response("180 Ringing", BOB_TAG, BOB_CONTACT);
    let mut dialog = Dialog::new_uac(&invite_sent(), &ringing, config()).unwrap();
    assert!(dialog.route_set().is_empty());
    dialog
        .handle_response(&bob_answer("200 OK"), Instant::now())
        .unwrap();
    assert_eq!(dialog.route_set().len(), 2);
}

#[test]
fn sips_request_uri_makes_the_dialog_secure() {
    let text = invite_sent().to_bytes();
    let text =
        String::from_utf8(text.to_vec())
            .unwrap()
            .replacen("sip:bob@biloxi", "sips:bob@biloxi", 1);
    let invite = request(&text.replace("\r\n", "\n"));
    let ok = invite_response("200 OK", BOB_TAG, "Contact: <sips:bob@192.0.2.4>\n");
    assert!(Dialog::new_uac(&invite, &ok, config()).unwrap().is_secure());
}

#[test]
fn responses_that_cannot_create_a_dialog_are_refused() {
    let trying = invite_response("100 Trying", "", "");
    assert_eq!(
        Dialog::new_uac(&invite_sent(), &trying, config()).unwrap_err(),
        DialogError::NotDialogCreating(100)
    );
    let tagless = invite_response("180 Ringing", "", BOB_CONTACT);
    assert_eq!(
        Dialog::new_uac(&invite_sent(), &tagless, config()).unwrap_err(),
        DialogError::NotDialogCreating(180)
    );
    let busy = invite_response("486 Busy Here", BOB_TAG, "");
    assert_eq!(
        Dialog::new_uac(&invite_sent(), &busy, config()).unwrap_err(),
        DialogError::NotDialogCreating(486)
    );
    let no_contact = invite_response("200 OK", BOB_TAG, "");
    assert_eq!(
        Dialog::new_uac(&invite_sent(), &no_contact, config()).unwrap_err(),
        DialogError::MissingContact
    );
}

#[test]
fn tagless_2xx_creates_a_dialog_with_the_null_tag() {
    let ok = invite_response("200 OK", "", BOB_CONTACT);
    let mut dialog = Dialog::new_uac(&invite_sent(), &ok, config()).unwrap();
    assert_eq!(dialog.id().remote_tag, "");
    let bye = over_wire_request(&dialog.request(Method::Bye, Instant::now()).unwrap());
    assert_eq!(bye.headers.to().unwrap().tag(), None);
}

// ---- Requests within the dialog (§12.2.1.1) ----

#[test]
fn requests_carry_the_dialog_headers() {
    let t0 = Instant::now();
    let mut dialog = Dialog::new_uac(&invite_sent(), &bob_answer("200 OK"), config()).unwrap();
    dialog.ack(None).unwrap();
    let mut branches = Vec::new();
    for (i, method) in [
        Method::Info,
        Method::Update,
        Method::Refer,
        Method::Notify,
        Method::Options,
        Method::Invite,
    ]
    .into_iter()
    .enumerate()
    {
        let built = dialog.request(method.clone(), t0).unwrap();
        let request = over_wire_request(&built);
        assert_eq!(request.method, method);
        assert_eq!(request.uri.to_string(), "sip:bob@192.0.2.4");
        assert_eq!(
            route_headers(&request),
            [
                "sip:p1.atlanta.example.com;lr",
                "sip:p2.biloxi.example.com;lr"
            ]
        );
        let to = request.headers.to().unwrap();
        assert_eq!(to.tag(), Some(BOB_TAG));
        assert_eq!(to.uri.to_string(), "sip:bob@biloxi.example.com");
        assert_eq!(to.display_name, Some("Bob"));
        let from = request.headers.from().unwrap();
        assert_eq!(from.tag(), Some(ALICE_TAG));
        assert_eq!(from.uri.to_string(), "sip:alice@atlanta.example.com");
        assert_eq!(request.headers.call_id().unwrap(), CALL_ID);
        let cseq = request.headers.cseq().unwrap();
        assert_eq!(cseq.seq, 314160 + i as u32);
        assert_eq!(cseq.method, method);
        assert_eq!(request.headers.max_forwards().unwrap(), 70);
        let via = request.headers.top_via().unwrap();
        assert_eq!(via.host, sip::Host::Name(VIA_SENT_BY_PLACEHOLDER));
        let branch = via.branch().unwrap().to_owned();
        assert!(branch.starts_with("z9hG4bK"), "{branch}");
        branches.push(branch);
        let contact = request.headers.get(&HeaderName::Contact);
        let refresh = matches!(
            method,
            Method::Update | Method::Refer | Method::Notify | Method::Invite
        );
        assert_eq!(contact.is_some(), refresh, "{method}");
        if refresh {
            assert_eq!(contact.unwrap(), b"<sip:alice@pc33.atlanta.example.com>");
        }
    }
    branches.sort();
    branches.dedup();
    assert_eq!(branches.len(), 6, "every request has a fresh branch");
    assert_eq!(dialog.local_seq(), Some(314165));
}

#[test]
fn strict_router_becomes_the_request_uri() {
    // After reversal p1 (no lr: a strict router) is the first hop.
    let ok = invite_response(
        "200 OK",
        BOB_TAG,
        "Record-Route: <sip:p2.biloxi.example.com;lr>, <sip:p1.atlanta.example.com>\nContact: <sip:bob@192.0.2.4>\n",
    );
    let mut dialog = Dialog::new_uac(&invite_sent(), &ok, config()).unwrap();
    let bye = over_wire_request(&dialog.request(Method::Bye, Instant::now()).unwrap());
    assert_eq!(bye.uri.to_string(), "sip:p1.atlanta.example.com");
    assert_eq!(
        route_headers(&bye),
        ["sip:p2.biloxi.example.com;lr", "sip:bob@192.0.2.4"]
    );
}

#[test]
fn no_route_set_sends_straight_to_the_remote_target() {
    let ok = invite_response("200 OK", BOB_TAG, BOB_CONTACT);
    let mut dialog = Dialog::new_uac(&invite_sent(), &ok, config()).unwrap();
    let info = over_wire_request(&dialog.request(Method::Info, Instant::now()).unwrap());
    assert_eq!(info.uri.to_string(), "sip:bob@192.0.2.4");
    assert!(info.headers.get(&HeaderName::Route).is_none());
}

#[test]
fn ack_reuses_the_invite_cseq_and_carries_a_body() {
    let mut dialog = Dialog::new_uac(&invite_sent(), &bob_answer("200 OK"), config()).unwrap();
    let info = dialog.request(Method::Info, Instant::now()).unwrap();
    let sdp = Bytes::from_static(b"v=0\r\n");
    let ack = over_wire_request(&dialog.ack(Some(("application/sdp", sdp.clone()))).unwrap());
    assert_eq!(ack.method, Method::Ack);
    let cseq = ack.headers.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (314159, Method::Ack));
    assert_eq!(route_headers(&ack).len(), 2);
    assert_eq!(ack.body, sdp);
    assert_eq!(
        ack.headers.get(&HeaderName::ContentType).unwrap(),
        b"application/sdp"
    );
    assert_ne!(
        ack.headers.top_via().unwrap().branch(),
        over_wire_request(&info).headers.top_via().unwrap().branch()
    );
    assert_eq!(
        dialog.ack(None).unwrap_err(),
        DialogError::AlreadyAcknowledged
    );
}

#[test]
fn retransmitted_2xx_replays_the_ack() {
    let t0 = Instant::now();
    let ok = bob_answer("200 OK");
    let mut dialog = Dialog::new_uac(&invite_sent(), &ok, config()).unwrap();
    dialog.handle_response(&ok, t0).unwrap();
    assert!(
        dialog.poll_transmit().is_none(),
        "nothing to replay before the TU acks"
    );
    let ack = dialog.ack(None).unwrap();
    dialog.handle_response(&ok, t0).unwrap();
    assert_eq!(drain_transmits(&mut dialog), [DialogTransmit::Ack(ack)]);
}

#[test]
fn fill_via_sent_by_keeps_the_branch() {
    let mut dialog = Dialog::new_uac(&invite_sent(), &bob_answer("200 OK"), config()).unwrap();
    let mut bye = dialog.request(Method::Bye, Instant::now()).unwrap();
    let branch = bye.headers.top_via().unwrap().branch().unwrap().to_owned();
    fill_via_sent_by(&mut bye, "TLS", "192.0.2.1:5061").unwrap();
    let bye = over_wire_request(&bye);
    let via = bye.headers.top_via().unwrap();
    assert_eq!(via.transport, "TLS");
    assert_eq!(via.host, sip::Host::Ipv4("192.0.2.1".parse().unwrap()));
    assert_eq!(via.port, Some(5061));
    assert_eq!(via.branch(), Some(branch.as_str()));
    assert_eq!(bye.headers.vias().count(), 1);
}

#[test]
fn bye_terminates_and_later_requests_fail() {
    let mut dialog = Dialog::new_uac(&invite_sent(), &bob_answer("200 OK"), config()).unwrap();
    dialog.request(Method::Bye, Instant::now()).unwrap();
    assert_eq!(dialog.state(), DialogState::Terminated);
    assert_eq!(
        dialog.request(Method::Info, Instant::now()).unwrap_err(),
        DialogError::Terminated
    );
    assert!(
        dialog.poll_event().is_none(),
        "a BYE of our own raises no event"
    );
}

#[test]
fn ack_and_cancel_are_not_in_dialog_requests() {
    let mut dialog = Dialog::new_uac(&invite_sent(), &bob_answer("200 OK"), config()).unwrap();
    for method in [Method::Ack, Method::Cancel] {
        assert_eq!(
            dialog.request(method.clone(), Instant::now()).unwrap_err(),
            DialogError::NotInDialogMethod(method)
        );
    }
}

// ---- UAS dialog creation (§12.1.1) and received requests (§12.2.2) ----

#[test]
fn uas_dialog_from_invite_and_180() {
    let t0 = Instant::now();
    let ringing = bob_answer("180 Ringing");
    let mut dialog = Dialog::new_uas(&invite_received(), &ringing, config(), t0).unwrap();
    assert_eq!(dialog.state(), DialogState::Early);
    assert_eq!(dialog.role(), DialogRole::Uas);
    assert_eq!(dialog.id().local_tag, BOB_TAG);
    assert_eq!(dialog.id().remote_tag, ALICE_TAG);
    assert_eq!(
        uris(dialog.route_set()),
        [
            "sip:p2.biloxi.example.com;lr",
            "sip:p1.atlanta.example.com;lr"
        ]
    );
    assert_eq!(
        dialog.remote_target().to_string(),
        "sip:alice@pc33.atlanta.example.com"
    );
    assert_eq!(dialog.remote_seq(), Some(314159));
    assert_eq!(dialog.local_seq(), None);
    assert_eq!(
        dialog.poll_timeout(),
        None,
        "a 1xx is not retransmitted by the core"
    );
    assert_eq!(
        dialog.request(Method::Bye, t0).unwrap_err(),
        DialogError::ByeNotAllowed,
        "the callee may not BYE an early dialog"
    );
    assert_eq!(
        dialog.request(Method::Invite, t0).unwrap_err(),
        DialogError::InviteInProgress
    );

    dialog
        .handle_sent_response(&bob_answer("200 OK"), t0)
        .unwrap();
    assert_eq!(dialog.state(), DialogState::Confirmed);
    let ack = over_wire_request(
        &Dialog::new_uac(&invite_sent(), &bob_answer("200 OK"), config())
            .unwrap()
            .ack(None)
            .unwrap(),
    );
    assert_eq!(
        dialog.handle_request(&ack, t0).unwrap(),
        RequestVerdict::Accept
    );

    let info = over_wire_request(&dialog.request(Method::Info, t0).unwrap());
    let cseq = info.headers.cseq().unwrap();
    assert_eq!(cseq.seq, 1, "the UAS picks its first local CSeq");
    assert_eq!(info.uri.to_string(), "sip:alice@pc33.atlanta.example.com");
    assert_eq!(info.headers.to().unwrap().tag(), Some(ALICE_TAG));
    assert_eq!(info.headers.from().unwrap().tag(), Some(BOB_TAG));
    assert_eq!(
        route_headers(&info),
        [
            "sip:p2.biloxi.example.com;lr",
            "sip:p1.atlanta.example.com;lr"
        ]
    );
}

#[test]
fn uas_final_non_2xx_ends_the_early_dialog() {
    let t0 = Instant::now();
    let mut dialog =
        Dialog::new_uas(&invite_received(), &bob_answer("180 Ringing"), config(), t0).unwrap();
    dialog
        .handle_sent_response(&bob_answer("486 Busy Here"), t0)
        .unwrap();
    assert_eq!(dialog.state(), DialogState::Terminated);
}

#[test]
fn requests_out_of_cseq_order_get_500() {
    let t0 = Instant::now();
    let (mut alice, mut bob) = confirmed_pair(t0);
    let first = over_wire_request(&alice.request(Method::Info, t0).unwrap());
    let second = over_wire_request(&alice.request(Method::Info, t0).unwrap());
    assert_eq!(
        bob.handle_request(&second, t0).unwrap(),
        RequestVerdict::Accept
    );
    assert_eq!(bob.remote_seq(), Some(314161));
    match bob.handle_request(&first, t0).unwrap() {
        RequestVerdict::Reject(response) => {
            assert_eq!(response.status, StatusCode::SERVER_INTERNAL_ERROR);
            let response = over_wire_response(&response);
            assert_eq!(response.headers.cseq().unwrap().seq, 314160);
            assert_eq!(response.headers.to().unwrap().tag(), Some(BOB_TAG));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(bob.remote_seq(), Some(314161));
}

#[test]
fn requests_for_another_dialog_are_refused() {
    let t0 = Instant::now();
    let (mut alice, _) = confirmed_pair(t0);
    let mut bob = Dialog::new_uas(
        &invite_received(),
        &invite_response("200 OK", "other", BOB_CONTACT),
        config(),
        t0,
    )
    .unwrap();
    let info = over_wire_request(&alice.request(Method::Info, t0).unwrap());
    assert_eq!(
        bob.handle_request(&info, t0).unwrap_err(),
        DialogError::WrongDialog
    );
}

#[test]
fn unknown_dialog_gets_481_and_ack_gets_nothing() {
    let t0 = Instant::now();
    let (mut alice, _) = confirmed_pair(t0);
    let info = over_wire_request(&alice.request(Method::Info, t0).unwrap());
    let response = unknown_dialog_response(&info).unwrap();
    assert_eq!(response.status, StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST);
    assert_eq!(
        over_wire_response(&response).headers.call_id().unwrap(),
        CALL_ID
    );
    let mut alice2 = Dialog::new_uac(&invite_sent(), &bob_answer("200 OK"), config()).unwrap();
    let ack = alice2.ack(None).unwrap();
    assert!(unknown_dialog_response(&ack).is_none());
}

#[test]
fn peer_bye_terminates_and_later_requests_get_481() {
    let t0 = Instant::now();
    let (mut alice, mut bob) = confirmed_pair(t0);
    let bye = over_wire_request(&alice.request(Method::Bye, t0).unwrap());
    assert_eq!(
        bob.handle_request(&bye, t0).unwrap(),
        RequestVerdict::Accept
    );
    assert_eq!(bob.state(), DialogState::Terminated);
    assert_eq!(
        drain_events(&mut bob),
        [DialogEvent::Terminated {
            reason: TerminationReason::Bye
        }]
    );
    let mut stray = bye.clone();
    stray.headers.set(HeaderName::CSeq, "314170 INFO");
    stray.method = Method::Info;
    match bob.handle_request(&stray, t0).unwrap() {
        RequestVerdict::Reject(r) => {
            assert_eq!(r.status, StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn target_refresh_by_request_and_by_2xx() {
    let t0 = Instant::now();
    let (mut alice, mut bob) = confirmed_pair(t0);
    // Alice moves: her UPDATE carries a new Contact.
    let mut update = alice.request(Method::Update, t0).unwrap();
    update
        .headers
        .set(HeaderName::Contact, "<sip:alice@198.51.100.7:5070>");
    let update = over_wire_request(&update);
    assert_eq!(
        bob.handle_request(&update, t0).unwrap(),
        RequestVerdict::Accept
    );
    assert_eq!(
        bob.remote_target().to_string(),
        "sip:alice@198.51.100.7:5070"
    );
    // Bob answers with a new Contact of his own: Alice follows.
    let mut ok = Response::for_request(&update, StatusCode::OK);
    ok.headers
        .push(HeaderName::Contact, "<sip:bob@203.0.113.9>");
    alice.handle_response(&over_wire_response(&ok), t0).unwrap();
    assert_eq!(alice.remote_target().to_string(), "sip:bob@203.0.113.9");
    // A non-refresh request's Contact changes nothing.
    let mut info = alice.request(Method::Info, t0).unwrap();
    info.headers
        .push(HeaderName::Contact, "<sip:elsewhere@192.0.2.200>");
    bob.handle_request(&over_wire_request(&info), t0).unwrap();
    assert_eq!(
        bob.remote_target().to_string(),
        "sip:alice@198.51.100.7:5070"
    );
}

#[test]
fn re_invite_2xx_refreshes_the_target_and_needs_an_ack() {
    let t0 = Instant::now();
    let (mut alice, mut bob) = confirmed_pair(t0);
    let reinvite = over_wire_request(&alice.request(Method::Invite, t0).unwrap());
    assert_eq!(
        bob.handle_request(&reinvite, t0).unwrap(),
        RequestVerdict::Accept
    );
    let mut ok = Response::for_request(&reinvite, StatusCode::OK);
    ok.headers
        .push(HeaderName::Contact, "<sip:bob@203.0.113.9>");
    bob.handle_sent_response(&ok, t0).unwrap();
    alice.handle_response(&over_wire_response(&ok), t0).unwrap();
    assert_eq!(alice.remote_target().to_string(), "sip:bob@203.0.113.9");
    let ack = over_wire_request(&alice.ack(None).unwrap());
    assert_eq!(ack.headers.cseq().unwrap().seq, 314160);
    assert_eq!(ack.uri.to_string(), "sip:bob@203.0.113.9");
    assert_eq!(
        bob.handle_request(&ack, t0).unwrap(),
        RequestVerdict::Accept
    );
    assert_eq!(bob.poll_timeout(), None);
    assert_eq!(
        bob.handle_request(&ack, t0).unwrap(),
        RequestVerdict::Absorb
    );
}

#[test]
fn responses_481_and_408_end_the_dialog() {
    let t0 = Instant::now();
    for status in [
        StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST,
        StatusCode::REQUEST_TIMEOUT,
    ] {
        let (mut alice, _) = confirmed_pair(t0);
        let info = alice.request(Method::Info, t0).unwrap();
        let gone = Response::for_request(&over_wire_request(&info), status);
        alice.handle_response(&gone, t0).unwrap();
        assert_eq!(alice.state(), DialogState::Terminated);
        assert_eq!(
            drain_events(&mut alice),
            [DialogEvent::Terminated {
                reason: TerminationReason::Gone(status)
            }]
        );
    }
}

// ---- 2xx retransmission by the UAS core (§13.3.1.4) ----

#[test]
fn uas_retransmits_2xx_until_64_t1_then_asks_for_bye() {
    let t0 = Instant::now();
    let ok = bob_answer("200 OK");
    let mut bob = Dialog::new_uas(&invite_received(), &ok, config(), t0).unwrap();
    assert_eq!(bob.state(), DialogState::Confirmed);
    let mut sent_at = Vec::new();
    let mut now = t0;
    while let Some(at) = bob.poll_timeout() {
        assert!(at >= now, "time never goes back");
        now = at;
        bob.handle_timeout(now);
        for transmit in drain_transmits(&mut bob) {
            assert_eq!(transmit, DialogTransmit::Response(ok.clone()));
            sent_at.push((now - t0).as_millis());
        }
        if !drain_events(&mut bob).is_empty() {
            assert_eq!(now - t0, Duration::from_secs(32));
            break;
        }
    }
    assert_eq!(
        sent_at,
        [500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    );
    assert_eq!(bob.state(), DialogState::Terminated);
    assert_eq!(bob.poll_timeout(), None);
}

#[test]
fn ack_timeout_event_carries_the_bye() {
    let t0 = Instant::now();
    let mut bob = Dialog::new_uas(&invite_received(), &bob_answer("200 OK"), config(), t0).unwrap();
    bob.handle_timeout(t0 + Duration::from_secs(32));
    let events = drain_events(&mut bob);
    let [DialogEvent::AckTimeout { bye }] = events.as_slice() else {
        panic!("{events:?}")
    };
    let bye = over_wire_request(bye);
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(bye.uri.to_string(), "sip:alice@pc33.atlanta.example.com");
    assert_eq!(bye.headers.from().unwrap().tag(), Some(BOB_TAG));
    assert_eq!(bye.headers.to().unwrap().tag(), Some(ALICE_TAG));
    assert_eq!(bye.headers.cseq().unwrap().method, Method::Bye);
}

#[test]
fn ack_stops_the_retransmissions() {
    let t0 = Instant::now();
    let ok = bob_answer("200 OK");
    let mut bob = Dialog::new_uas(&invite_received(), &ok, config(), t0).unwrap();
    bob.handle_timeout(t0 + Duration::from_millis(500));
    bob.handle_timeout(t0 + Duration::from_millis(1500));
    assert_eq!(drain_transmits(&mut bob).len(), 2);
    assert_eq!(bob.poll_timeout(), Some(t0 + Duration::from_millis(3500)));

    let mut alice = Dialog::new_uac(&invite_sent(), &ok, config()).unwrap();
    let ack = over_wire_request(&alice.ack(None).unwrap());
    let mut wrong = ack.clone();
    wrong.headers.set(HeaderName::CSeq, "314158 ACK");
    assert_eq!(
        bob.handle_request(&wrong, t0).unwrap(),
        RequestVerdict::Absorb
    );
    assert!(bob.poll_timeout().is_some());
    assert_eq!(
        bob.handle_request(&ack, t0 + Duration::from_secs(2))
            .unwrap(),
        RequestVerdict::Accept
    );
    assert_eq!(bob.poll_timeout(), None);
    bob.handle_timeout(t0 + Duration::from_secs(40));
    assert!(bob.poll_transmit().is_none());
    assert!(bob.poll_event().is_none());
    assert_eq!(bob.state(), DialogState::Confirmed);
}

#[test]
fn retransmission_follows_the_configured_timers() {
    let t0 = Instant::now();
    let timers = crate::TimerConfig {
        t1: Duration::from_millis(100),
        t2: Duration::from_millis(300),
        ..crate::TimerConfig::default()
    };
    let config = DialogConfig { timers, seed: 1 };
    let mut bob = Dialog::new_uas(&invite_received(), &bob_answer("200 OK"), config, t0).unwrap();
    let mut due = Vec::new();
    while let Some(at) = bob.poll_timeout() {
        bob.handle_timeout(at);
        due.push((at - t0).as_millis());
        if bob.state() == DialogState::Terminated {
            break;
        }
    }
    assert_eq!(&due[..5], [100, 300, 600, 900, 1200]);
    assert_eq!(*due.last().unwrap(), 6400);
}

// ---- Glare (§14) ----

#[test]
fn crossing_re_invites_get_491_and_back_off_by_role() {
    let t0 = Instant::now();
    let (mut alice, mut bob) = confirmed_pair(t0);
    let from_alice = over_wire_request(&alice.request(Method::Invite, t0).unwrap());
    let from_bob = over_wire_request(&bob.request(Method::Invite, t0).unwrap());

    let verdict_at_bob = bob.handle_request(&from_alice, t0).unwrap();
    let verdict_at_alice = alice.handle_request(&from_bob, t0).unwrap();
    let (RequestVerdict::Reject(to_alice), RequestVerdict::Reject(to_bob)) =
        (verdict_at_bob, verdict_at_alice)
    else {
        panic!("both re-INVITEs must be rejected");
    };
    assert_eq!(to_alice.status, StatusCode::REQUEST_PENDING);
    assert_eq!(to_bob.status, StatusCode::REQUEST_PENDING);

    let t1 = t0 + Duration::from_millis(40);
    alice
        .handle_response(&over_wire_response(&to_alice), t1)
        .unwrap();
    bob.handle_response(&over_wire_response(&to_bob), t1)
        .unwrap();
    let alice_retry = alice.poll_timeout().unwrap() - t1;
    let bob_retry = bob.poll_timeout().unwrap() - t1;
    // Alice sent the initial INVITE: she owns the Call-ID.
    assert!(
        (Duration::from_millis(2100)..=Duration::from_secs(4)).contains(&alice_retry),
        "{alice_retry:?}"
    );
    assert!(bob_retry <= Duration::from_secs(2), "{bob_retry:?}");
    assert_eq!(alice_retry.as_millis() % 10, 0);
    assert_eq!(bob_retry.as_millis() % 10, 0);

    // Too early: refused; on time: the event, then the retry goes through.
    assert!(matches!(
        bob.request(Method::Invite, t1),
        Err(DialogError::GlareBackOff { .. })
    ));
    bob.handle_timeout(t1 + bob_retry);
    assert_eq!(
        drain_events(&mut bob),
        [DialogEvent::GlareRetry {
            method: Method::Invite
        }]
    );
    let retry = over_wire_request(&bob.request(Method::Invite, t1 + bob_retry).unwrap());
    assert_eq!(
        alice.handle_request(&retry, t1 + bob_retry).unwrap(),
        RequestVerdict::Accept
    );
}

#[test]
fn glare_back_off_is_deterministic_for_a_seed() {
    let delays: Vec<Duration> = (0..2)
        .map(|_| {
            let t0 = Instant::now();
            let (mut alice, mut bob) = confirmed_pair(t0);
            let reinvite = over_wire_request(&alice.request(Method::Invite, t0).unwrap());
            bob.request(Method::Invite, t0).unwrap();
            let RequestVerdict::Reject(pending) = bob.handle_request(&reinvite, t0).unwrap() else {
                panic!()
            };
            alice.handle_response(&pending, t0).unwrap();
            alice.poll_timeout().unwrap() - t0
        })
        .collect();
    assert_eq!(delays[0], delays[1]);
}

#[test]
fn second_invite_while_the_first_is_unanswered_gets_500_retry_after() {
    let t0 = Instant::now();
    let (mut alice, mut bob) = confirmed_pair(t0);
    let first = over_wire_request(&alice.request(Method::Invite, t0).unwrap());
    assert_eq!(
        bob.handle_request(&first, t0).unwrap(),
        RequestVerdict::Accept
    );
    // A broken peer sends another INVITE before our final response.
    let mut second = first.clone();
    second.headers.set(HeaderName::CSeq, "314161 INVITE");
    match bob.handle_request(&second, t0).unwrap() {
        RequestVerdict::Reject(response) => {
            let response = over_wire_response(&response);
            assert_eq!(response.status, StatusCode::SERVER_INTERNAL_ERROR);
            let retry_after: u64 =
                std::str::from_utf8(response.headers.get(&HeaderName::RetryAfter).unwrap())
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
            assert!(retry_after <= 10);
        }
        other => panic!("{other:?}"),
    }
    // And we may not start one of our own meanwhile.
    assert_eq!(
        bob.request(Method::Invite, t0).unwrap_err(),
        DialogError::InviteInProgress
    );
}

#[test]
fn update_491_backs_off_too() {
    let t0 = Instant::now();
    let (_, mut bob) = confirmed_pair(t0);
    let update = over_wire_request(&bob.request(Method::Update, t0).unwrap());
    let pending = Response::for_request(&update, StatusCode::REQUEST_PENDING);
    bob.handle_response(&pending, t0).unwrap();
    let at = bob.poll_timeout().unwrap();
    assert!(at - t0 <= Duration::from_secs(2));
    bob.handle_timeout(at);
    assert_eq!(
        drain_events(&mut bob),
        [DialogEvent::GlareRetry {
            method: Method::Update
        }]
    );
}

// ---- Forking (§13.2.2.4) ----

fn drain_uac(uac: &mut UacInvite) -> (Vec<DialogTransmit>, Vec<UacInviteEvent>) {
    (
        std::iter::from_fn(|| uac.poll_transmit()).collect(),
        std::iter::from_fn(|| uac.poll_event()).collect(),
    )
}

fn fork_id(tag: &str) -> DialogId {
    DialogId {
        call_id: CALL_ID.to_owned(),
        local_tag: ALICE_TAG.to_owned(),
        remote_tag: tag.to_owned(),
    }
}

#[test]
fn forked_invite_confirms_one_and_ends_the_late_fork() {
    let t0 = Instant::now();
    let mut uac = UacInvite::new(invite_sent(), config()).unwrap();
    assert_eq!(uac.state(), UacInviteState::Calling);
    uac.handle_response(&invite_response("100 Trying", "", ""), t0)
        .unwrap();
    assert_eq!(uac.state(), UacInviteState::Proceeding);
    let contact_a = "Contact: <sip:bob@192.0.2.10>\n";
    let contact_b = "Contact: <sip:bob@192.0.2.20>\n";
    uac.handle_response(&invite_response("180 Ringing", "fork-a", contact_a), t0)
        .unwrap();
    uac.handle_response(&invite_response("180 Ringing", "fork-b", contact_b), t0)
        .unwrap();
    uac.handle_response(&invite_response("180 Ringing", "fork-a", contact_a), t0)
        .unwrap();
    assert_eq!(uac.early_dialogs().count(), 2);
    let (transmits, events) = drain_uac(&mut uac);
    assert!(transmits.is_empty());
    assert_eq!(
        events,
        [
            UacInviteEvent::EarlyDialog(fork_id("fork-a")),
            UacInviteEvent::EarlyDialog(fork_id("fork-b"))
        ]
    );

    let t1 = t0 + Duration::from_secs(3);
    let ok_b = invite_response("200 OK", "fork-b", contact_b);
    uac.handle_response(&ok_b, t1).unwrap();
    assert_eq!(uac.state(), UacInviteState::Accepted);
    assert_eq!(
        drain_uac(&mut uac).1,
        [UacInviteEvent::Confirmed(fork_id("fork-b"))]
    );
    let dialog = uac.dialog().unwrap();
    assert_eq!(dialog.id(), &fork_id("fork-b"));
    assert_eq!(dialog.state(), DialogState::Confirmed);
    assert_eq!(uac.early_dialogs().count(), 1);
    let ack = uac.ack(None).unwrap();
    assert_eq!(ack.uri.to_string(), "sip:bob@192.0.2.20");

    // Fork A answers too: ACK + BYE for it, nothing changes for fork B.
    let t2 = t1 + Duration::from_secs(1);
    let ok_a = invite_response("200 OK", "fork-a", contact_a);
    uac.handle_response(&ok_a, t2).unwrap();
    let (transmits, events) = drain_uac(&mut uac);
    assert_eq!(events, [UacInviteEvent::ForkEnded(fork_id("fork-a"))]);
    let [DialogTransmit::Ack(ack_a), DialogTransmit::Request(bye_a)] = transmits.as_slice() else {
        panic!("{transmits:?}")
    };
    let ack_a = over_wire_request(ack_a);
    let bye_a = over_wire_request(bye_a);
    assert_eq!(ack_a.uri.to_string(), "sip:bob@192.0.2.10");
    assert_eq!(ack_a.headers.to().unwrap().tag(), Some("fork-a"));
    assert_eq!(ack_a.headers.cseq().unwrap().seq, 314159);
    assert_eq!(bye_a.method, Method::Bye);
    assert_eq!(bye_a.uri.to_string(), "sip:bob@192.0.2.10");
    assert_eq!(bye_a.headers.to().unwrap().tag(), Some("fork-a"));
    assert_eq!(bye_a.headers.cseq().unwrap().seq, 314160);
    assert_eq!(uac.dialog().unwrap().id(), &fork_id("fork-b"));
    assert_eq!(uac.early_dialogs().count(), 0);

    // Retransmissions: each fork's own ACK is replayed, no new BYE.
    uac.handle_response(&ok_a, t2).unwrap();
    uac.handle_response(&ok_b, t2).unwrap();
    let (transmits, events) = drain_uac(&mut uac);
    assert!(events.is_empty());
    assert_eq!(transmits.len(), 2);
    assert!(
        matches!(&transmits[0], DialogTransmit::Ack(a) if a.headers.to().unwrap().tag() == Some("fork-a"))
    );
    assert_eq!(transmits[1], DialogTransmit::Ack(ack));

    // The BYE's 200 reaches the ended fork.
    let bye_ok = Response::for_request(&bye_a, StatusCode::OK);
    uac.handle_response(&over_wire_response(&bye_ok), t2)
        .unwrap();

    // The window closes 64*T1 after the first 2xx.
    assert_eq!(uac.poll_timeout(), Some(t1 + Duration::from_secs(32)));
    uac.handle_timeout(t1 + Duration::from_secs(32));
    assert_eq!(uac.state(), UacInviteState::Completed);
    assert_eq!(uac.poll_timeout(), None);
    let dialog = uac.into_dialog().unwrap();
    assert_eq!(dialog.id(), &fork_id("fork-b"));
}

#[test]
fn early_dialogs_still_early_when_the_window_closes_are_ended() {
    let t0 = Instant::now();
    let mut uac = UacInvite::new(invite_sent(), config()).unwrap();
    uac.handle_response(
        &invite_response("183 Session Progress", "fork-a", BOB_CONTACT),
        t0,
    )
    .unwrap();
    uac.handle_response(&invite_response("200 OK", "fork-b", BOB_CONTACT), t0)
        .unwrap();
    drain_uac(&mut uac);
    uac.handle_timeout(t0 + Duration::from_secs(32));
    assert_eq!(
        drain_uac(&mut uac).1,
        [UacInviteEvent::EarlyDialogEnded(fork_id("fork-a"))]
    );
    assert_eq!(uac.early_dialogs().count(), 0);
}

#[test]
fn tagless_1xx_and_2xx_per_rfc() {
    let t0 = Instant::now();
    let mut uac = UacInvite::new(invite_sent(), config()).unwrap();
    uac.handle_response(&invite_response("180 Ringing", "", BOB_CONTACT), t0)
        .unwrap();
    assert_eq!(uac.state(), UacInviteState::Proceeding);
    assert_eq!(uac.early_dialogs().count(), 0, "no To tag, no dialog");
    uac.handle_response(&invite_response("200 OK", "", BOB_CONTACT), t0)
        .unwrap();
    assert_eq!(
        drain_uac(&mut uac).1,
        [UacInviteEvent::Confirmed(fork_id(""))]
    );
    assert_eq!(uac.dialog().unwrap().state(), DialogState::Confirmed);
}

#[test]
fn final_non_2xx_ends_every_early_dialog() {
    let t0 = Instant::now();
    let mut uac = UacInvite::new(invite_sent(), config()).unwrap();
    uac.handle_response(&invite_response("180 Ringing", "fork-a", BOB_CONTACT), t0)
        .unwrap();
    uac.handle_response(&invite_response("180 Ringing", "fork-b", BOB_CONTACT), t0)
        .unwrap();
    drain_uac(&mut uac);
    uac.handle_response(&invite_response("486 Busy Here", "fork-a", ""), t0)
        .unwrap();
    assert_eq!(uac.state(), UacInviteState::Terminated);
    assert_eq!(uac.early_dialogs().count(), 0);
    assert_eq!(
        drain_uac(&mut uac).1,
        [UacInviteEvent::Rejected(StatusCode::BUSY_HERE)]
    );
    assert!(uac.dialog().is_none());
}

#[test]
fn requests_in_early_dialogs_are_routed_by_tag() {
    let t0 = Instant::now();
    let mut uac = UacInvite::new(invite_sent(), config()).unwrap();
    uac.handle_response(&invite_response("180 Ringing", BOB_TAG, BOB_CONTACT), t0)
        .unwrap();
    // Bob's early dialog sends Alice an UPDATE.
    let mut bob =
        Dialog::new_uas(&invite_received(), &bob_answer("180 Ringing"), config(), t0).unwrap();
    let update = over_wire_request(&bob.request(Method::Update, t0).unwrap());
    assert_eq!(
        uac.handle_request(&update, t0).unwrap(),
        RequestVerdict::Accept
    );
    assert_eq!(uac.early_dialogs().next().unwrap().remote_seq(), Some(1));
    // A request for a tag nobody knows: 481.
    let mut stranger = update.clone();
    stranger
        .headers
        .set(HeaderName::From, "<sip:bob@biloxi.example.com>;tag=nobody");
    let verdict = uac.handle_request(&stranger, t0).unwrap();
    assert!(
        matches!(verdict, RequestVerdict::Reject(r) if r.status == StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST)
    );
}

#[test]
fn responses_to_another_invite_are_refused() {
    let mut uac = UacInvite::new(invite_sent(), config()).unwrap();
    let text = String::from_utf8(bob_answer("180 Ringing").to_bytes().to_vec()).unwrap();
    let other_call = response(&text.replace(CALL_ID, "other@host").replace("\r\n", "\n"));
    assert_eq!(
        uac.handle_response(&other_call, Instant::now())
            .unwrap_err(),
        DialogError::WrongDialog
    );
}
