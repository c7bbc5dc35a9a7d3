//! Our user agent client: one call at a time, INVITE in a client INVITE
//! transaction tracked by a [`UacInvite`], the ACK the dialog builds
//! (RFC 3261 §13.2.2.4), a short hold, then BYE built by the dialog in a
//! client non-INVITE transaction (§15.1.1).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sip::{HeaderName, Method, Request, Response, StatusCode, Uri};
use sip_core::{
    ClientInviteState, DialogConfig, DialogState, DialogTransmit, LayerEvent, RequestVerdict,
    TimerConfig, TransactionEvent, TransactionKey, UacInvite, UacInviteEvent,
    VIA_SENT_BY_PLACEHOLDER,
};

use crate::endpoint::{destination, Endpoint, TransactionUser};

/// The SDP offer of our INVITE.
const SDP_OFFER: &str = "v=0\r\no=switchboard 1 1 IN IP4 127.0.0.1\r\ns=-\r\n\
c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// A dialog-creating INVITE from `local` to `target` with an SDP offer;
/// its Via carries the dialog layer's placeholder sent-by, to be filled in
/// by the transport.
pub(crate) fn new_invite(local: SocketAddr, target: &Uri) -> Request {
    Request::builder(Method::Invite, target.clone())
        .header(
            HeaderName::Via,
            format!(
                "SIP/2.0/UDP {VIA_SENT_BY_PLACEHOLDER};branch={}",
                sip::new_branch()
            ),
        )
        .header(HeaderName::MaxForwards, "70")
        .header(
            HeaderName::From,
            format!("<sip:uac@{local}>;tag={}", sip::new_tag()),
        )
        .header(HeaderName::To, format!("<{target}>"))
        .header(HeaderName::CallId, sip::new_call_id())
        .header(HeaderName::CSeq, "1 INVITE")
        .header(HeaderName::Contact, format!("<sip:uac@{local}>"))
        .body("application/sdp", SDP_OFFER)
        .build()
}

/// How one call ended, for the assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallOutcome {
    /// A 1xx with a To tag created an early dialog.
    pub(crate) early_dialog: bool,
    /// The final status of the INVITE.
    pub(crate) invite_status: Option<u16>,
    /// The client INVITE transaction's state when the call ended
    /// (`None` once terminated and removed).
    pub(crate) invite_transaction: Option<ClientInviteState>,
    /// An ACK built by the dialog went out.
    pub(crate) acked: bool,
    /// The BYE went in a client non-INVITE transaction.
    pub(crate) bye_in_non_invite_transaction: bool,
    /// The final status of the BYE.
    pub(crate) bye_status: Option<u16>,
    /// The dialog's state at the end.
    pub(crate) dialog: Option<DialogState>,
}

struct Call {
    invite_key: TransactionKey,
    invite: UacInvite,
    outcome: CallOutcome,
    acked_at: Option<Instant>,
    bye_key: Option<TransactionKey>,
}

/// Our UAC on its own UDP port, calling `target`.
pub(crate) struct Uac {
    endpoint: Endpoint,
    config: DialogConfig,
    target: Uri,
    /// How long the call stays up between the ACK and the BYE.
    hold: Duration,
    call: Option<Call>,
    /// Anything that should not happen against a well-behaved peer.
    pub(crate) errors: Vec<String>,
}

impl Uac {
    /// A UAC on a fresh port of 127.0.0.1.
    pub(crate) fn new(timers: TimerConfig, target: Uri, hold: Duration) -> Self {
        Self {
            endpoint: Endpoint::bind(timers),
            config: DialogConfig { timers, seed: 11 },
            target,
            hold,
            call: None,
            errors: Vec::new(),
        }
    }

    /// Errors of the UAC and of its endpoint.
    pub(crate) fn errors(&self) -> Vec<String> {
        [&self.errors, &self.endpoint.errors]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// Sends a new INVITE; the previous call must be finished.
    pub(crate) fn start_call(&mut self, now: Instant) {
        assert!(self.call.is_none(), "one call at a time");
        let mut invite = new_invite(self.endpoint.addr(), &self.target);
        self.endpoint.fill_via(&mut invite);
        let tracker = UacInvite::new(invite.clone(), self.config).expect("a valid INVITE");
        let invite_key = self
            .endpoint
            .send_request(invite, destination(&self.target), now);
        self.endpoint.flush(now);
        self.call = Some(Call {
            invite_key,
            invite: tracker,
            outcome: CallOutcome {
                early_dialog: false,
                invite_status: None,
                invite_transaction: None,
                acked: false,
                bye_in_non_invite_transaction: false,
                bye_status: None,
                dialog: None,
            },
            acked_at: None,
            bye_key: None,
        });
    }

    /// Whether the current call is over: the BYE was answered, or the
    /// INVITE failed.
    pub(crate) fn call_finished(&self) -> bool {
        self.call.as_ref().is_some_and(|call| {
            call.outcome.bye_status.is_some()
                || call
                    .outcome
                    .invite_status
                    .is_some_and(|status| status >= 300)
        })
    }

    /// Ends the current call's bookkeeping and tells how it went.
    pub(crate) fn finish_call(&mut self) -> CallOutcome {
        let call = self.call.take().expect("a call was started");
        let mut outcome = call.outcome;
        outcome.invite_transaction = self
            .endpoint
            .layer
            .client_invite(&call.invite_key)
            .map(|transaction| transaction.state());
        outcome.dialog = call.invite.dialog().map(|dialog| dialog.state());
        outcome
    }
}

impl TransactionUser for Uac {
    fn endpoint(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let call = self.call.as_ref()?;
        let bye_due = match (call.acked_at, &call.bye_key) {
            (Some(acked_at), None) => Some(acked_at + self.hold),
            _ => None,
        };
        [call.invite.poll_timeout(), bye_due]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        let Some(call) = self.call.as_mut() else {
            return;
        };
        call.invite.handle_timeout(now);
        let bye_due = call.acked_at.is_some_and(|at| at + self.hold <= now);
        if !bye_due || call.bye_key.is_some() {
            return;
        }
        let Some(dialog) = call.invite.dialog_mut() else {
            self.errors.push("acknowledged without a dialog".to_owned());
            return;
        };
        match dialog.request(Method::Bye, now) {
            Ok(mut bye) => {
                self.endpoint.fill_via(&mut bye);
                let to = destination(&bye.uri);
                let key = self.endpoint.send_request(bye, to, now);
                call.outcome.bye_in_non_invite_transaction =
                    self.endpoint.layer.client_non_invite(&key).is_some();
                call.bye_key = Some(key);
            }
            Err(error) => self.errors.push(format!("BYE: {error}")),
        }
    }

    fn drain_dialogs(&mut self, now: Instant) {
        let Some(call) = self.call.as_mut() else {
            return;
        };
        while let Some(transmit) = call.invite.poll_transmit() {
            match transmit {
                // A replay of our ACK for a retransmitted 2xx.
                DialogTransmit::Ack(mut ack) => {
                    self.endpoint.fill_via(&mut ack);
                    let to = destination(&ack.uri);
                    self.endpoint.send_raw(ack, to);
                }
                DialogTransmit::Request(mut request) => {
                    self.errors.push(format!("dialog sent {}", request.method));
                    self.endpoint.fill_via(&mut request);
                    let to = destination(&request.uri);
                    self.endpoint.send_request(request, to, now);
                }
                DialogTransmit::Response(response) => self
                    .errors
                    .push(format!("UAC dialog retransmitted a {}", response.status.0)),
            }
        }
        while let Some(event) = call.invite.poll_event() {
            match event {
                UacInviteEvent::EarlyDialog(_) => call.outcome.early_dialog = true,
                UacInviteEvent::Confirmed(_) => match call.invite.ack(None) {
                    Ok(mut ack) => {
                        self.endpoint.fill_via(&mut ack);
                        let to = destination(&ack.uri);
                        self.endpoint.send_raw(ack, to);
                        call.outcome.acked = true;
                        call.acked_at = Some(now);
                    }
                    Err(error) => self.errors.push(format!("ACK: {error}")),
                },
                other => self.errors.push(format!("UAC event {other:?}")),
            }
        }
    }

    fn handle_event(&mut self, event: LayerEvent, now: Instant) {
        let Some(call) = self.call.as_mut() else {
            self.errors.push(format!("{event:?} between calls"));
            return;
        };
        let response = match event {
            LayerEvent::Transaction {
                key,
                event: TransactionEvent::Response(response),
            } => {
                let status = response.status;
                if status.is_final() {
                    if key == call.invite_key {
                        call.outcome.invite_status.get_or_insert(status.0);
                    } else if call.bye_key.as_ref() == Some(&key) {
                        call.outcome.bye_status = Some(status.0);
                    }
                }
                response
            }
            // A 2xx retransmitted after Timer M: the dialog re-ACKs it.
            LayerEvent::StrayResponse(response) => response,
            LayerEvent::Transaction {
                event: TransactionEvent::Terminated | TransactionEvent::RetransmissionAbsorbed,
                ..
            } => return,
            LayerEvent::Request { key, request } => {
                self.errors.push(format!("peer sent {}", request.method));
                let response = match call.invite.handle_request(&request, now) {
                    Ok(RequestVerdict::Reject(response)) => Some(response),
                    Ok(RequestVerdict::Accept) => {
                        Some(Response::for_request(&request, StatusCode::NOT_IMPLEMENTED))
                    }
                    Ok(RequestVerdict::Absorb) | Err(_) => None,
                };
                if let Some(response) = response {
                    let _ = self.endpoint.layer.send_response(&key, response, now);
                }
                return;
            }
            other => {
                self.errors.push(format!("layer event {other:?}"));
                return;
            }
        };
        if let Err(error) = call.invite.handle_response(&response, now) {
            self.errors
                .push(format!("{} response: {error}", response.status.0));
        }
    }
}
