//! The dialog as receiver of requests: in-dialog request validation
//! (RFC 3261 §12.2.2), re-INVITE collisions (§14.2) and the UA core's 2xx
//! retransmission until the ACK arrives (§13.3.1.4, RFC 6026 §7.1).

use std::time::{Duration, Instant};

use sip::{Method, Request, Response, StatusCode};

use super::request::is_target_refresh;
use super::state::{IncomingInvite, OutgoingInvite, Retransmit2xx};
use super::wire;
use super::{
    Dialog, DialogError, DialogEvent, DialogId, DialogState, DialogTransmit, TerminationReason,
};

/// Seconds range of the `Retry-After` of a 500 to an overlapping INVITE (RFC 3261 §14.2).
const RETRY_AFTER_MAX_SECS: u64 = 10;

/// Floor of the retransmission interval, whatever the configured timers.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// What to do with a request received within a dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestVerdict {
    /// Pass it to the TU. The dialog has recorded its CSeq, and its Contact
    /// if it is a target refresh. For an ACK: it acknowledged our 2xx and
    /// the retransmissions stopped (its body may hold the SDP answer).
    Accept,
    /// Send this response through the request's server transaction; the
    /// TU does not process the request (CSeq out of order, glare, dialog
    /// terminated, unreadable Contact).
    Reject(Response),
    /// Drop it: an ACK that matches no 2xx awaiting one (a retransmitted
    /// or stale ACK).
    Absorb,
}

/// The 481 for a request that matches no dialog (RFC 3261 §12.2.2), or
/// `None` for an ACK, which is never answered.
pub fn unknown_dialog_response(request: &Request) -> Option<Response> {
    (request.method != Method::Ack)
        .then(|| wire::response_to(request, StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST, None))
}

impl Dialog {
    /// Validates and records a request received within this dialog
    /// (RFC 3261 §12.2.2), route it here by
    /// [`DialogId::of_incoming_request`].
    ///
    /// - ACK with the CSeq number of our 2xx: stops its retransmissions
    ///   ([`RequestVerdict::Accept`]); any other ACK is absorbed.
    /// - On a terminated dialog: 481.
    /// - CSeq lower than the last one received: 500 (§12.2.2).
    /// - INVITE while the peer's previous INVITE has no final answer: 500
    ///   with a random `Retry-After` of 0-10 s (§14.2); while our own
    ///   INVITE has no final answer: 491 (§14.2).
    /// - Target refresh (INVITE, UPDATE, SUBSCRIBE, NOTIFY, REFER): the
    ///   Contact, if present, becomes the remote target; an unreadable one
    ///   gets 400.
    /// - BYE: the dialog terminates ([`TerminationReason::Bye`]); the TU
    ///   answers 200 (and 487 to a pending INVITE, §15.1.2).
    ///
    /// A request of another dialog is [`DialogError::WrongDialog`].
    pub fn handle_request(
        &mut self,
        request: &Request,
        now: Instant,
    ) -> Result<RequestVerdict, DialogError> {
        let _ = now; // nothing received within a dialog starts a timer today
        if DialogId::of_incoming_request(request)? != self.id {
            return Err(DialogError::WrongDialog);
        }
        let seq = request.headers.cseq()?.seq;
        if request.method == Method::Ack {
            return Ok(match self.incoming_invite {
                Some(IncomingInvite::Accepted { cseq, .. }) if cseq == seq => {
                    self.incoming_invite = None;
                    RequestVerdict::Accept
                }
                _ => RequestVerdict::Absorb,
            });
        }
        if self.state == DialogState::Terminated {
            return Ok(self.reject(request, StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST, None));
        }
        if request.method == Method::Cancel {
            // Matched by the transaction layer against the INVITE; it shares its CSeq.
            return Ok(RequestVerdict::Accept);
        }
        if self.remote_seq.is_some_and(|last| seq < last) {
            return Ok(self.reject(request, StatusCode::SERVER_INTERNAL_ERROR, None));
        }
        self.remote_seq = Some(self.remote_seq.map_or(seq, |last| last.max(seq)));

        if request.method == Method::Invite {
            match self.incoming_invite {
                Some(IncomingInvite::Pending { .. }) => {
                    let secs = self.rng.in_range(0, RETRY_AFTER_MAX_SECS);
                    let retry_after = secs.to_string();
                    return Ok(self.reject(
                        request,
                        StatusCode::SERVER_INTERNAL_ERROR,
                        Some(retry_after),
                    ));
                }
                // The peer may only send a new INVITE once it has our 2xx
                // (§14.1): the ACK was lost or overtaken; stop retransmitting.
                Some(IncomingInvite::Accepted { .. }) => self.incoming_invite = None,
                None => {}
            }
            if matches!(self.outgoing_invite, Some(OutgoingInvite::Pending { .. })) {
                return Ok(self.reject(request, StatusCode::REQUEST_PENDING, None));
            }
        }
        if is_target_refresh(&request.method) {
            match wire::contact_uri(&request.headers) {
                Ok(Some(target)) => self.remote_target = target,
                Ok(None) => {}
                Err(_) => return Ok(self.reject(request, StatusCode::BAD_REQUEST, None)),
            }
        }
        match request.method {
            Method::Invite => self.incoming_invite = Some(IncomingInvite::Pending { cseq: seq }),
            Method::Bye => {
                // A BYE proves the peer has our 2xx even if its ACK is lost.
                self.incoming_invite = None;
                self.terminate(Some(TerminationReason::Bye));
            }
            _ => {}
        }
        Ok(RequestVerdict::Accept)
    }

    /// Tells the dialog about a response the TU sent to an INVITE of the
    /// peer (responses to other requests need not be reported). A 2xx
    /// confirms an early dialog and starts the retransmission schedule of
    /// RFC 3261 §13.3.1.4 from `now`: T1, 2*T1, 4*T1, ... capped at T2,
    /// until the ACK arrives or 64*T1 passes
    /// ([`DialogEvent::AckTimeout`]). A final non-2xx ends an early dialog.
    ///
    /// Responses to INVITEs the dialog did not accept (the 491 or 500 of a
    /// [`RequestVerdict::Reject`]) are ignored.
    pub fn handle_sent_response(
        &mut self,
        response: &Response,
        now: Instant,
    ) -> Result<(), DialogError> {
        if response.headers.call_id()? != self.id.call_id {
            return Err(DialogError::WrongDialog);
        }
        let cseq = response.headers.cseq()?;
        let pending = match self.incoming_invite {
            Some(IncomingInvite::Pending { cseq: pending }) => pending,
            _ => return Ok(()),
        };
        if cseq.method != Method::Invite || cseq.seq != pending {
            return Ok(());
        }
        let status = response.status;
        if status.is_provisional() {
            return Ok(());
        }
        if status.is_success() {
            if self.state == DialogState::Early {
                self.state = DialogState::Confirmed;
            }
            let timers = self.config.timers;
            self.incoming_invite = Some(IncomingInvite::Accepted {
                cseq: pending,
                retransmit: Box::new(Retransmit2xx {
                    response: response.clone(),
                    next: now + timers.t1,
                    interval: timers.t1,
                    give_up: now + timers.t1x64(),
                }),
            });
        } else {
            self.incoming_invite = None;
            if self.state == DialogState::Early {
                self.terminate(None);
            }
        }
        Ok(())
    }

    /// The §13.3.1.4 schedule: one retransmission per due time, then the
    /// give-up with a BYE for the TU.
    pub(super) fn run_2xx_retransmission(&mut self, now: Instant) {
        let t2 = self.config.timers.t2;
        let Some(IncomingInvite::Accepted { retransmit, .. }) = &mut self.incoming_invite else {
            return;
        };
        if now >= retransmit.give_up {
            self.incoming_invite = None;
            match self.request(Method::Bye, now) {
                Ok(bye) => self
                    .events
                    .push_back(DialogEvent::AckTimeout { bye: Box::new(bye) }),
                // Only a dialog that cannot build requests any more (CSeq
                // exhausted) lands here; end it without a BYE.
                Err(_) => self.terminate(None),
            }
            return;
        }
        if now < retransmit.next {
            return;
        }
        self.transmits
            .push_back(DialogTransmit::Response(retransmit.response.clone()));
        // A late caller gets one copy, and the schedule resumes after `now`.
        while retransmit.next <= now {
            // The floor keeps a zero T1 from looping forever.
            retransmit.interval = (retransmit.interval * 2).min(t2).max(MIN_INTERVAL);
            retransmit.next += retransmit.interval;
        }
    }

    fn reject(
        &self,
        request: &Request,
        status: StatusCode,
        retry_after: Option<String>,
    ) -> RequestVerdict {
        RequestVerdict::Reject(wire::response_to(request, status, retry_after))
    }
}
