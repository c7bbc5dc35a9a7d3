//! Our user agent server: answers each INVITE with 180 and a 200 carrying
//! an SDP answer, keeps the dialog, lets it retransmit the 2xx until the ACK
//! (RFC 3261 §13.3.1.4), answers BYE with 200 (§15.1.2). Everything SIP is
//! decided by `sip-core`; this file only wires the pieces together.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use sip::{HeaderName, Method, Request, Response, StatusCode};
use sip_core::{
    unknown_dialog_response, Dialog, DialogConfig, DialogEvent, DialogId, DialogTransmit,
    LayerEvent, RequestVerdict, TimerConfig, TransactionEvent, TransactionKey,
};

use crate::endpoint::{destination, Endpoint, TransactionUser};

/// The SDP answer of our 200.
const SDP_ANSWER: &str = "v=0\r\no=switchboard 1 1 IN IP4 127.0.0.1\r\ns=-\r\n\
c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// What our UAS saw and did, for the assertions.
#[derive(Debug, Default)]
pub(crate) struct UasReport {
    /// New INVITEs answered with 180 and 200.
    pub(crate) invites_answered: usize,
    /// ACKs a dialog accepted as the acknowledgement of its 2xx.
    pub(crate) confirmed_by_ack: usize,
    /// BYEs a dialog accepted and we answered with 200.
    pub(crate) byes_answered: usize,
    /// Copies of a 2xx the dialogs retransmitted (§13.3.1.4).
    pub(crate) retransmitted_2xx: usize,
    /// INVITE retransmissions our server transactions absorbed.
    pub(crate) absorbed_invites: usize,
    /// BYE retransmissions our server transactions absorbed, replaying the 200.
    pub(crate) absorbed_byes: usize,
    /// ACKs a dialog absorbed (retransmitted, or after the BYE).
    pub(crate) stale_acks: usize,
    /// Anything that should not happen against a well-behaved peer.
    pub(crate) errors: Vec<String>,
}

struct UasDialog {
    dialog: Dialog,
    /// Where the INVITE came from: the 2xx retransmissions go there too.
    peer: SocketAddr,
    acked: bool,
}

/// Our UAS on its own UDP port.
pub(crate) struct Uas {
    endpoint: Endpoint,
    config: DialogConfig,
    dialogs: HashMap<DialogId, UasDialog>,
    /// What happened so far.
    pub(crate) report: UasReport,
}

impl Uas {
    /// A UAS on a fresh port of 127.0.0.1.
    pub(crate) fn new(timers: TimerConfig) -> Self {
        Self {
            endpoint: Endpoint::bind(timers),
            config: DialogConfig { timers, seed: 7 },
            dialogs: HashMap::new(),
            report: UasReport::default(),
        }
    }

    /// Where SIPp sends its calls.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.endpoint.addr()
    }

    /// Every dialog created so far, with whether an ACK confirmed it.
    pub(crate) fn dialogs(&self) -> impl Iterator<Item = (&Dialog, bool)> + '_ {
        self.dialogs
            .values()
            .map(|entry| (&entry.dialog, entry.acked))
    }

    /// Errors of the UAS and of its endpoint.
    pub(crate) fn errors(&self) -> Vec<String> {
        [&self.report.errors, &self.endpoint.errors]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    fn send_response(&mut self, key: &TransactionKey, response: Response, now: Instant) {
        if let Err(error) = self.endpoint.layer.send_response(key, response, now) {
            self.report
                .errors
                .push(format!("send_response {key:?}: {error}"));
        }
    }

    /// 180 then 200 with our To tag and Contact; the 180 creates the early
    /// dialog (§12.1.1), the 200 confirms it and starts its retransmissions.
    fn answer_invite(&mut self, key: TransactionKey, invite: Request, now: Instant) {
        let Some(peer) = self.endpoint.source_of(&key) else {
            self.report.errors.push(format!("no source for {key:?}"));
            return;
        };
        let to = invite.headers.get_str(&HeaderName::To).unwrap_or_default();
        let to = format!("{to};tag={}", sip::new_tag());
        let contact = self.endpoint.contact("uas");
        let response = |status| {
            let mut response = Response::for_request(&invite, status);
            response.headers.set(HeaderName::To, to.clone());
            response.headers.push(HeaderName::Contact, contact.clone());
            response
        };
        let ringing = response(StatusCode::RINGING);
        let mut dialog = match Dialog::new_uas(&invite, &ringing, self.config, now) {
            Ok(dialog) => dialog,
            Err(error) => {
                self.report.errors.push(format!("new_uas: {error}"));
                self.send_response(
                    &key,
                    Response::for_request(&invite, StatusCode::BAD_REQUEST),
                    now,
                );
                return;
            }
        };
        self.send_response(&key, ringing, now);
        let mut ok = response(StatusCode::OK);
        ok.headers.set(HeaderName::ContentType, "application/sdp");
        ok.body = Bytes::from_static(SDP_ANSWER.as_bytes());
        self.send_response(&key, ok.clone(), now);
        if let Err(error) = dialog.handle_sent_response(&ok, now) {
            self.report
                .errors
                .push(format!("handle_sent_response: {error}"));
        }
        self.report.invites_answered += 1;
        let entry = UasDialog {
            dialog,
            peer,
            acked: false,
        };
        self.dialogs.insert(entry.dialog.id().clone(), entry);
    }

    /// A request with a To tag: its dialog decides (§12.2.2).
    fn handle_in_dialog(&mut self, key: TransactionKey, request: Request, now: Instant) {
        let verdict = match DialogId::of_incoming_request(&request) {
            Ok(id) => match self.dialogs.get_mut(&id) {
                Some(entry) => entry.dialog.handle_request(&request, now),
                None => Ok(unknown_dialog_response(&request)
                    .map_or(RequestVerdict::Absorb, RequestVerdict::Reject)),
            },
            Err(error) => Err(error),
        };
        match verdict {
            Ok(RequestVerdict::Accept) if request.method == Method::Bye => {
                self.send_response(&key, Response::for_request(&request, StatusCode::OK), now);
                self.report.byes_answered += 1;
            }
            Ok(RequestVerdict::Accept) => {
                self.report
                    .errors
                    .push(format!("unexpected {} in a dialog", request.method));
                let response = Response::for_request(&request, StatusCode::NOT_IMPLEMENTED);
                self.send_response(&key, response, now);
            }
            Ok(RequestVerdict::Reject(response)) => {
                self.report.errors.push(format!(
                    "dialog rejected {} with {}",
                    request.method, response.status.0
                ));
                self.send_response(&key, response, now);
            }
            Ok(RequestVerdict::Absorb) => {}
            Err(error) => self
                .report
                .errors
                .push(format!("{} in a dialog: {error}", request.method)),
        }
    }

    fn handle_ack(&mut self, ack: Request, now: Instant) {
        let entry = DialogId::of_incoming_request(&ack)
            .ok()
            .and_then(|id| self.dialogs.get_mut(&id));
        let Some(entry) = entry else {
            self.report.stale_acks += 1;
            return;
        };
        match entry.dialog.handle_request(&ack, now) {
            Ok(RequestVerdict::Accept) => {
                entry.acked = true;
                self.report.confirmed_by_ack += 1;
            }
            Ok(RequestVerdict::Absorb) => self.report.stale_acks += 1,
            Ok(RequestVerdict::Reject(response)) => self
                .report
                .errors
                .push(format!("ACK rejected with {}", response.status.0)),
            Err(error) => self.report.errors.push(format!("ACK: {error}")),
        }
    }
}

impl TransactionUser for Uas {
    fn endpoint(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.dialogs
            .values()
            .filter_map(|entry| entry.dialog.poll_timeout())
            .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        for entry in self.dialogs.values_mut() {
            entry.dialog.handle_timeout(now);
        }
    }

    fn drain_dialogs(&mut self, now: Instant) {
        let Self {
            endpoint,
            dialogs,
            report,
            ..
        } = self;
        for entry in dialogs.values_mut() {
            while let Some(transmit) = entry.dialog.poll_transmit() {
                match transmit {
                    DialogTransmit::Response(response) => {
                        report.retransmitted_2xx += 1;
                        endpoint.send_raw(response, entry.peer);
                    }
                    DialogTransmit::Ack(mut ack) => {
                        endpoint.fill_via(&mut ack);
                        let to = destination(&ack.uri);
                        endpoint.send_raw(ack, to);
                    }
                    DialogTransmit::Request(mut request) => {
                        endpoint.fill_via(&mut request);
                        let to = destination(&request.uri);
                        endpoint.send_request(request, to, now);
                    }
                }
            }
            while let Some(event) = entry.dialog.poll_event() {
                match event {
                    DialogEvent::AckTimeout { bye } => {
                        report.errors.push("2xx never acknowledged".to_owned());
                        let mut bye = *bye;
                        endpoint.fill_via(&mut bye);
                        let to = destination(&bye.uri);
                        endpoint.send_request(bye, to, now);
                    }
                    DialogEvent::Terminated { .. } => {}
                    other => report.errors.push(format!("dialog event {other:?}")),
                }
            }
        }
    }

    fn handle_event(&mut self, event: LayerEvent, now: Instant) {
        match event {
            LayerEvent::Request { key, request } => {
                let in_dialog = request.headers.to().is_ok_and(|to| to.tag().is_some());
                if in_dialog {
                    self.handle_in_dialog(key, request, now);
                } else if request.method == Method::Invite {
                    self.answer_invite(key, request, now);
                } else {
                    self.report
                        .errors
                        .push(format!("unexpected out-of-dialog {}", request.method));
                    let response = Response::for_request(&request, StatusCode::NOT_IMPLEMENTED);
                    self.send_response(&key, response, now);
                }
            }
            LayerEvent::Ack(ack) => self.handle_ack(ack, now),
            LayerEvent::Transaction { key, event } => match event {
                TransactionEvent::RetransmissionAbsorbed => match key.method() {
                    Method::Invite => self.report.absorbed_invites += 1,
                    Method::Bye => self.report.absorbed_byes += 1,
                    _ => {}
                },
                TransactionEvent::Terminated => {}
                // The 200 to a BYE we sent after an AckTimeout (reported there).
                TransactionEvent::Response(_) if *key.method() == Method::Bye => {}
                other => self
                    .report
                    .errors
                    .push(format!("transaction {key:?}: {other:?}")),
            },
            other => self.report.errors.push(format!("layer event {other:?}")),
        }
    }
}
