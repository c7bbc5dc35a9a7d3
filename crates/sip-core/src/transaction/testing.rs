//! Test support: SIP fixtures and a timer runner for single transactions.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{HeaderName, Message, Request, Response, StatusCode};

use super::event::{TransactionEvent, Transmit};
use super::{
    ClientInviteTransaction, ClientNonInviteTransaction, ServerInviteTransaction,
    ServerNonInviteTransaction,
};

pub(crate) fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

pub(crate) fn parse_request(text: &str) -> Request {
    match Message::parse(Bytes::from(text.replace('\n', "\r\n"))).unwrap() {
        Message::Request(request) => request,
        Message::Response(_) => panic!("not a request"),
    }
}

/// An INVITE from Alice through two proxies (RFC 3665 style), with the
/// given top Via branch.
pub(crate) fn invite(branch: &str) -> Request {
    request("INVITE", branch, "")
}

/// A request of `method` with the given top Via branch and extra To params.
pub(crate) fn request(method: &str, branch: &str, to_params: &str) -> Request {
    parse_request(&format!(
        "{method} sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch={branch}
Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnashds8
Max-Forwards: 69
Route: <sip:p1.example.com;lr>
Route: <sip:p2.example.com;lr>
To: Bob <sip:bob@biloxi.example.com>{to_params}
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 {method}
Contact: <sip:alice@pc33.atlanta.example.com>
Content-Length: 0

"
    ))
}

/// The response of status `status` to `request`, with To tag `to_tag`.
pub(crate) fn response(request: &Request, status: u16, to_tag: Option<&str>) -> Response {
    let mut response = Response::for_request(request, StatusCode(status));
    if let Some(tag) = to_tag {
        let to = response.headers.get(&HeaderName::To).unwrap();
        let tagged = format!("{};tag={tag}", String::from_utf8_lossy(to));
        response.headers.set(HeaderName::To, tagged);
    }
    response
}

/// A header's raw values, as strings.
pub(crate) fn values(message: &Message, name: HeaderName) -> Vec<String> {
    message
        .headers()
        .get_all(&name)
        .map(|value| String::from_utf8_lossy(value).into_owned())
        .collect()
}

/// What a single transaction produced at an instant.
#[derive(Debug)]
pub(crate) enum Output {
    Sent(Message),
    Event(TransactionEvent),
}

/// The inputs and outputs every transaction type shares.
pub(crate) trait Machine {
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
    fn poll_transmit(&mut self) -> Option<Transmit>;
    fn poll_event(&mut self) -> Option<TransactionEvent>;
    fn handle_transport_error(&mut self, now: Instant);

    /// Drains transmits then events, stamping them with `now - t0`.
    fn drain(&mut self, t0: Instant, now: Instant) -> Vec<(Duration, Output)> {
        let mut out = Vec::new();
        while let Some(transmit) = self.poll_transmit() {
            out.push((now - t0, Output::Sent(transmit.message)));
        }
        while let Some(event) = self.poll_event() {
            out.push((now - t0, Output::Event(event)));
        }
        out
    }

    /// Fires the timers in order up to and including `until`.
    fn run_until(&mut self, t0: Instant, until: Instant) -> Vec<(Duration, Output)> {
        let mut out = Vec::new();
        while let Some(at) = self.poll_timeout().filter(|at| *at <= until) {
            self.handle_timeout(at);
            out.extend(self.drain(t0, at));
        }
        out
    }
}

macro_rules! impl_machine {
    ($($ty:ty),*) => {$(
        impl Machine for $ty {
            fn poll_timeout(&self) -> Option<Instant> {
                <$ty>::poll_timeout(self)
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$ty>::handle_timeout(self, now)
            }
            fn poll_transmit(&mut self) -> Option<Transmit> {
                <$ty>::poll_transmit(self)
            }
            fn poll_event(&mut self) -> Option<TransactionEvent> {
                <$ty>::poll_event(self)
            }
            fn handle_transport_error(&mut self, now: Instant) {
                <$ty>::handle_transport_error(self, now)
            }
        }
    )*};
}

impl_machine!(
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction
);

/// The instants (offsets from t0) at which messages were sent.
pub(crate) fn sent_at(outputs: &[(Duration, Output)]) -> Vec<Duration> {
    outputs
        .iter()
        .filter(|(_, output)| matches!(output, Output::Sent(_)))
        .map(|(at, _)| *at)
        .collect()
}

/// The events, with their instants.
pub(crate) fn events(outputs: &[(Duration, Output)]) -> Vec<(Duration, &TransactionEvent)> {
    outputs
        .iter()
        .filter_map(|(at, output)| match output {
            Output::Event(event) => Some((*at, event)),
            Output::Sent(_) => None,
        })
        .collect()
}

/// Seconds as a Duration with millisecond precision, for readable lists.
pub(crate) fn secs(list: &[f64]) -> Vec<Duration> {
    list.iter()
        .map(|s| Duration::from_millis((s * 1000.0).round() as u64))
        .collect()
}
