//! Ending calls and legs (RFC 3261 §15): a final response to an
//! unanswered INVITE we received, CANCEL for one we sent (§9.1), BYE for
//! a confirmed dialog once our 2xx is acknowledged; media and the call
//! permit released.

use std::time::Instant;

use bytes::Bytes;
use sip::{HeaderName, Method, StatusCode};
use sip_core::DialogError;

use super::call::{Call, CallState, LegDialog};
use super::io::{B2buaEvent, CallId, EndReason, LegId};
use super::setup::uas_response;
use super::B2bua;

/// The Reason header of a BYE for a call whose media stopped.
const MEDIA_TIMEOUT_REASON: &str = "SIP;cause=408;text=\"media timeout\"";

/// The Reason header of a BYE for a call whose parties' sessions could
/// not be brought back in line ([`EndReason::SessionNotRestored`]).
const SESSION_NOT_RESTORED_REASON: &str = "SIP;cause=488;text=\"session not restored\"";

impl B2bua {
    /// Ends the call `id`.
    /// Ends `call` because its media stopped: the relay saw a leg send
    /// nothing for `[media] timeout_secs`. Both parties get a BYE (or the
    /// final response / CANCEL their state calls for) with
    /// `Reason: SIP;cause=408;text="media timeout"` (RFC 3326).
    pub fn end_on_media_timeout(&mut self, call: CallId, now: Instant) {
        self.end_call_by_id(call, EndReason::MediaTimeout, now);
        self.drain(now, None);
    }

    pub(super) fn end_call_by_id(&mut self, id: CallId, reason: EndReason, now: Instant) {
        if let Some(mut call) = self.calls.remove(&id) {
            self.end_call(&mut call, reason, now);
            self.put_back(call);
        }
    }

    /// Ends a call in any state: unanswered INVITEs get a final response
    /// (the caller) or a CANCEL (outbound), confirmed dialogs a BYE (once
    /// our 2xx is acknowledged, RFC 3261 §15), media and the call permit
    /// are released.
    pub(super) fn end_call(&mut self, call: &mut Call, reason: EndReason, now: Instant) {
        if call.state == CallState::Terminated {
            return;
        }
        call.state = CallState::Terminated;
        let status = match reason {
            // A BYE on the caller's early dialog ends its INVITE (§15.1.2).
            EndReason::Cancelled | EndReason::Hangup(_) => StatusCode::REQUEST_TERMINATED,
            EndReason::Rejected(status) | EndReason::Unreachable(status) => status,
            EndReason::MediaUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            EndReason::NoAnswer => StatusCode::TEMPORARILY_UNAVAILABLE,
            _ => StatusCode::SERVER_INTERNAL_ERROR,
        };
        let reason_header = match reason {
            // RFC 3326: why the SBC, not a party, ended the call.
            EndReason::MediaTimeout => Some(MEDIA_TIMEOUT_REASON),
            EndReason::SessionNotRestored(_) => Some(SESSION_NOT_RESTORED_REASON),
            _ => None,
        };
        let ids: Vec<LegId> = call.legs.iter().map(|l| l.id).collect();
        for id in ids {
            self.close_leg(call, id, status, reason_header, now);
        }
        if let Some(permit) = call.permit.take() {
            self.gate.release_call(permit);
        }
        self.events.push_back(B2buaEvent::CallEnded {
            call: call.id,
            reason,
            answered_at: call.answered_at,
            at: now,
        });
    }

    /// Takes one leg out of a call that goes on (a cancelled INVITE with
    /// Replaces, a failed transfer target, a replaced leg).
    pub(super) fn drop_leg(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        status: StatusCode,
        now: Instant,
    ) {
        self.close_leg(call, leg_id, status, None, now);
        let keep = call.leg(leg_id).is_some_and(|l| l.bye_pending);
        if !keep {
            call.legs.retain(|l| l.id != leg_id);
            self.forget_leg(call, leg_id);
        }
    }

    /// Ends one leg's dialog: final response, CANCEL or BYE (with
    /// `reason_header` as its Reason header); frees its media.
    pub(super) fn close_leg(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        status: StatusCode,
        reason_header: Option<&'static str>,
        now: Instant,
    ) {
        let call_id = call.id;
        let x_ms_sbc = self.config.teams.as_ref().map(|t| t.x_ms_sbc.clone());
        let mut respond = None;
        let mut bye = None;
        let mut orphan = false;
        if let Some(leg) = call.leg_mut(leg_id) {
            let is_teams = leg.is_teams();
            let contact = leg.contact.clone();
            let record_route = leg.record_route.clone();
            match &mut leg.dialog {
                LegDialog::Uas(uas) if !uas.finished => {
                    let response = uas_response(
                        uas,
                        status,
                        &contact,
                        record_route.as_deref(),
                        is_teams.then_some(x_ms_sbc).flatten().as_deref(),
                        None,
                    );
                    if let Some(dialog) = &mut uas.dialog {
                        let _ = dialog.handle_sent_response(&response, now);
                    }
                    uas.finished = true;
                    respond = Some((uas.invite_key.clone(), response));
                }
                LegDialog::Uas(uas) => {
                    if let Some(dialog) = &mut uas.dialog {
                        match dialog.request(Method::Bye, now) {
                            Ok(request) => bye = Some(request),
                            Err(DialogError::ByeNotAllowed) => leg.bye_pending = true,
                            Err(_) => {}
                        }
                    }
                }
                LegDialog::Uac(uac) => match &mut uac.attempt {
                    Some(attempt) if !attempt.finished => orphan = true,
                    Some(attempt) => {
                        if let Some(dialog) = attempt.uac.dialog_mut() {
                            bye = dialog.request(Method::Bye, now).ok();
                        }
                    }
                    None => {}
                },
            }
        }
        if let Some((key, response)) = respond {
            self.respond(&key, response, now);
        }
        if orphan {
            self.orphan_attempt(call, leg_id, now);
        }
        if let Some(mut bye) = bye {
            if let Some(reason) = reason_header {
                bye.headers
                    .push(HeaderName::Reason, Bytes::from_static(reason.as_bytes()));
            }
            self.send_in_dialog(call, leg_id, bye, None, now);
        }
        if let Some(leg) = call.leg_mut(leg_id) {
            leg.timer = None;
        }
        self.media.release(call_id, leg_id);
    }
}
