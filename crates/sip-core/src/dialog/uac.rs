//! The dialog as sender of requests: responses to requests within the
//! dialog (RFC 3261 §12.2.1.2), the 2xx that confirms an early dialog
//! (§13.2.2.4), target refresh by 2xx (§12.2.1.2) and the 491 back-off
//! (§14.1, RFC 3311 §5.1).

use std::time::{Duration, Instant};

use sip::{Method, Request, Response, StatusCode};

use super::request::is_target_refresh;
use super::state::OutgoingInvite;
use super::wire;
use super::{
    Dialog, DialogError, DialogId, DialogRole, DialogState, DialogTransmit, TerminationReason,
};

/// Back-off after a 491 for the owner of the Call-ID, in 10 ms units: 2.1-4 s (RFC 3261 §14.1).
const OWNER_BACKOFF_TICKS: (u64, u64) = (210, 400);
/// Back-off after a 491 for the other side, in 10 ms units: 0-2 s (RFC 3261 §14.1).
const OTHER_BACKOFF_TICKS: (u64, u64) = (0, 200);

impl Dialog {
    /// Processes a response to a request this dialog built (route it here by
    /// [`DialogId::of_incoming_response`]); a client transaction timeout is
    /// reported as a locally generated 408 (RFC 3261 §8.1.3.1).
    ///
    /// - 2xx to our INVITE: an early dialog becomes confirmed with the route
    ///   set recomputed from the 2xx's Record-Route (§13.2.2.4); the Contact
    ///   becomes the remote target (§12.2.1.2). Build the ACK with
    ///   [`ack`](Dialog::ack); retransmissions of the 2xx replay that ACK
    ///   through [`poll_transmit`](Dialog::poll_transmit).
    /// - 2xx to another target refresh (UPDATE, SUBSCRIBE, NOTIFY, REFER):
    ///   its Contact becomes the remote target.
    /// - 491 to our INVITE or UPDATE: a back-off starts, 2.1-4 s if we sent
    ///   the dialog-creating INVITE (we own the Call-ID), 0-2 s otherwise;
    ///   [`DialogEvent::GlareRetry`](super::DialogEvent::GlareRetry) tells
    ///   when to try again (§14.1).
    /// - Final non-2xx to the INVITE of an early dialog: the dialog ends.
    /// - 481 or 408 to any request: the dialog ends (§12.2.1.2).
    pub fn handle_response(
        &mut self,
        response: &Response,
        now: Instant,
    ) -> Result<(), DialogError> {
        let id = DialogId::of_incoming_response(response)?;
        let foreign_tag = !id.remote_tag.is_empty() && id.remote_tag != self.id.remote_tag;
        if id.call_id != self.id.call_id || id.local_tag != self.id.local_tag || foreign_tag {
            return Err(DialogError::WrongDialog);
        }
        let cseq = response.headers.cseq()?;
        if cseq.method == Method::Invite {
            return self.handle_invite_response(response, cseq.seq, now);
        }
        let status = response.status;
        if self.state == DialogState::Terminated {
            return Ok(());
        }
        if status.is_success() && is_target_refresh(&cseq.method) {
            if let Some(target) = wire::contact_uri(&response.headers)? {
                self.remote_target = target;
            }
        } else if status == StatusCode::REQUEST_PENDING && cseq.method == Method::Update {
            self.schedule_glare_retry(Method::Update, now);
        } else if is_gone(status) {
            self.terminate(Some(TerminationReason::Gone(status)));
        }
        Ok(())
    }

    fn handle_invite_response(
        &mut self,
        response: &Response,
        seq: u32,
        now: Instant,
    ) -> Result<(), DialogError> {
        let status = response.status;
        match &self.outgoing_invite {
            Some(OutgoingInvite::Pending { cseq }) if *cseq == seq => {}
            Some(OutgoingInvite::Accepted { cseq, ack }) if *cseq == seq => {
                if let (true, Some(ack)) = (status.is_success(), ack) {
                    self.transmits
                        .push_back(DialogTransmit::Ack(Request::clone(ack)));
                }
                return Ok(());
            }
            // A response to an INVITE that is no longer ours to track.
            _ => return Ok(()),
        }
        if status.is_provisional() {
            return Ok(());
        }
        if status.is_success() {
            let target = wire::contact_uri(&response.headers)?;
            if self.state == DialogState::Early {
                let mut route_set = wire::record_route(&response.headers)?;
                route_set.reverse();
                self.remote_target = target.ok_or(DialogError::MissingContact)?;
                self.route_set = route_set;
                self.state = DialogState::Confirmed;
            } else if let Some(target) = target {
                self.remote_target = target;
            }
            self.outgoing_invite = Some(OutgoingInvite::Accepted {
                cseq: seq,
                ack: None,
            });
            return Ok(());
        }
        self.outgoing_invite = None;
        if self.state == DialogState::Early {
            self.terminate(Some(TerminationReason::Rejected(status)));
        } else if status == StatusCode::REQUEST_PENDING {
            self.schedule_glare_retry(Method::Invite, now);
        } else if is_gone(status) {
            self.terminate(Some(TerminationReason::Gone(status)));
        }
        Ok(())
    }

    /// RFC 3261 §14.1: the owner of the Call-ID waits 2.1-4 s, the other side
    /// 0-2 s, both in units of 10 ms.
    fn schedule_glare_retry(&mut self, method: Method, now: Instant) {
        let (low, high) = match self.role {
            DialogRole::Uac => OWNER_BACKOFF_TICKS,
            DialogRole::Uas => OTHER_BACKOFF_TICKS,
        };
        let ticks = self.rng.in_range(low, high);
        self.glare_retry = Some((now + Duration::from_millis(ticks * 10), method));
    }
}

/// 481 and 408 end the dialog a request was sent in (RFC 3261 §12.2.1.2).
fn is_gone(status: StatusCode) -> bool {
    status == StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST || status == StatusCode::REQUEST_TIMEOUT
}
