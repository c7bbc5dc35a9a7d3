//! Requests within a dialog (RFC 3261 §12.2): ACK of our 2xx, BYE from
//! either side (§15), re-INVITE, UPDATE (RFC 3311) and INFO (RFC 6086)
//! relayed to the other leg with the SDP rewritten (answered here when
//! switchboard is the other party: a local or mixed call; INFO with a
//! key press for a peer that does not take INFO is answered, `dtmf`),
//! session
//! refreshes answered on their own leg (RFC 4028), and the per-call
//! timers. A relayed offer whose answer cannot be given to the offerer
//! (RFC 3264 §6.1) is refused with 488 and the session stays (§8); the
//! other peer, which took the new one, is offered the previous one
//! again, and the call ends with BYE and a Reason header (RFC 3326) if
//! it will not take it back.
//!
//! Our own re-INVITEs (a session refresh, the new description after a
//! transfer, a restore, the offer of an INVITE with Replaces): a
//! non-2xx final response or a timeout leaves the session as it was
//! (RFC 3261 §14.1), so what we sent the leg, with its codec choice and
//! SRTP keys, goes back to the description in force and the media
//! plane is told again; the refused offer still counts as the previous
//! SDP for the next `o=` version (RFC 3264 §8, see `sdp_rewrite`). A
//! 491 is retried when the leg's dialog ends its back-off
//! (`sip_core::DialogEvent::GlareRetry`: 2.1-4 s in 10 ms units on a
//! leg whose Call-ID we own, 0-2 s otherwise, drawn from a seed of the
//! B2BUA's random source), at most [`GLARE_RETRIES`] times; not when an
//! offer/answer exchange completed on the leg meanwhile (the peer's own
//! re-INVITE, relayed and answered from the other leg, brought the two
//! in line). An INVITE with Replaces is not retried: its 491 goes to
//! Teams.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{HeaderName, Method, Request, Response, StatusCode};
use sip_core::{DialogId, RequestVerdict, TransactionKey};

use super::call::{Call, CallState, LegDialog, OwnReinvite, Purpose, ReinviteKind, Topology};
use super::checks;
use super::io::{EndReason, LegId};
use super::sdp_rewrite::{LocalDescription, RewriteError, SdpRole};
use super::session_timer::{self, UasTimer};
use super::wire::{self, SDP};
use super::{peer_matches, B2bua};
use crate::security::Peer;

/// How long to wait before trying a refresh again after it could not be
/// sent (an INVITE in progress, a 491).
const REFRESH_RETRY: Duration = Duration::from_secs(2);

/// How many times one of our re-INVITEs is sent again after a 491
/// before the B2BUA gives up on it (RFC 3261 §14.1 sets no limit).
pub(super) const GLARE_RETRIES: u32 = 3;

impl B2bua {
    /// The ACK of a 2xx we sent (RFC 3261 §13.3.1.4); it may carry the
    /// answer to the offer of our 2xx.
    pub(super) fn on_ack(&mut self, ack: &Request, now: Instant) {
        let Ok(id) = DialogId::of_incoming_request(ack) else {
            return;
        };
        let Some(&(call_id, leg_id)) = self.dialogs.get(&(id.call_id, id.local_tag)) else {
            return;
        };
        let Some(mut call) = self.calls.remove(&call_id) else {
            return;
        };
        let mut accepted = false;
        if let Some(dialog) = call.leg_mut(leg_id).and_then(|l| l.dialog_mut()) {
            accepted = dialog.handle_request(ack, now) == Ok(RequestVerdict::Accept);
        }
        if accepted {
            if let Some(body) = wire::sdp_body(&ack.headers, &ack.body) {
                if let Some(leg) = call.leg_mut(leg_id) {
                    // Too late to refuse: taken as it is.
                    let _ = leg.sdp.receive_answer(&body, false);
                }
                self.update_media(&call, leg_id);
            }
            self.send_pending_bye(&mut call, leg_id, now);
        }
        self.flush_leg(&mut call, leg_id, now);
        self.put_back(call);
    }

    /// The BYE that waited for the ACK of our 2xx.
    fn send_pending_bye(&mut self, call: &mut Call, leg_id: LegId, now: Instant) {
        let Some(leg) = call.leg_mut(leg_id) else {
            return;
        };
        if !leg.bye_pending {
            return;
        }
        leg.bye_pending = false;
        let bye = leg
            .dialog_mut()
            .and_then(|d| d.request(Method::Bye, now).ok());
        if let Some(bye) = bye {
            self.send_in_dialog(call, leg_id, bye, Some(Purpose::Ignore), now);
        }
        if call.state != CallState::Terminated {
            // A replaced leg, or a party hung up, kept only for this BYE.
            if !call.holds_place(leg_id) && call.transfer.is_none_or(|t| t.target != leg_id) {
                call.legs.retain(|l| l.id != leg_id);
                self.forget_leg(call, leg_id);
            }
        }
    }

    /// A request with a To tag.
    pub(super) fn on_in_dialog(
        &mut self,
        key: TransactionKey,
        request: Request,
        peer: &Peer,
        now: Instant,
    ) {
        let found = DialogId::of_incoming_request(&request)
            .ok()
            .and_then(|id| self.dialogs.get(&(id.call_id, id.local_tag)).copied());
        let Some((call_id, leg_id)) = found else {
            return self.no_dialog(&key, &request, now);
        };
        let Some(mut call) = self.calls.remove(&call_id) else {
            return self.no_dialog(&key, &request, now);
        };
        let allowed = call
            .leg(leg_id)
            .is_some_and(|l| peer_matches(&l.peer, peer));
        if !allowed {
            self.put_back(call);
            let response = Response::for_request(&request, StatusCode::FORBIDDEN);
            return self.respond(&key, response, now);
        }
        let verdict = match call.leg_mut(leg_id).map(|l| &mut l.dialog) {
            Some(LegDialog::Uas(uas)) => {
                uas.dialog.as_mut().map(|d| d.handle_request(&request, now))
            }
            Some(LegDialog::Uac(uac)) => uac
                .attempt
                .as_mut()
                .map(|a| a.uac.handle_request(&request, now)),
            None => None,
        };
        self.flush_leg(&mut call, leg_id, now);
        match verdict {
            Some(Ok(RequestVerdict::Accept)) => {
                if call.state == CallState::Terminated {
                    let response = Response::for_request(
                        &request,
                        StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST,
                    );
                    self.respond(&key, response, now);
                } else {
                    self.dispatch_in_dialog(&mut call, leg_id, key, request, now);
                }
            }
            Some(Ok(RequestVerdict::Reject(response))) => self.respond(&key, response, now),
            Some(Ok(RequestVerdict::Absorb)) => {}
            Some(Err(_)) | None => self.no_dialog(&key, &request, now),
        }
        self.put_back(call);
    }

    fn no_dialog(&mut self, key: &TransactionKey, request: &Request, now: Instant) {
        if let Some(response) = sip_core::unknown_dialog_response(request) {
            self.respond(key, response, now);
        }
    }

    /// An accepted request within `leg`'s dialog.
    fn dispatch_in_dialog(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        key: TransactionKey,
        request: Request,
        now: Instant,
    ) {
        match request.method {
            Method::Bye => self.on_bye(call, leg_id, &key, &request, now),
            Method::Invite | Method::Update => self.on_offer(call, leg_id, key, request, now),
            Method::Info if call.answers_offers() => {
                self.on_local_info(call, leg_id, &key, &request, now);
            }
            Method::Info => self.on_info(call, leg_id, key, request, now),
            Method::Refer if call.answers_offers() => {
                // Nobody to transfer: switchboard is the other party.
                let response = Response::for_request(&request, StatusCode::FORBIDDEN);
                self.respond(&key, response, now);
            }
            Method::Refer => self.on_refer(call, leg_id, &key, &request, now),
            Method::Notify | Method::Options | Method::Prack => {
                let response = self.in_dialog_ok(call, leg_id, &request);
                self.respond(&key, response, now);
            }
            _ => {
                let mut response = Response::for_request(&request, StatusCode::METHOD_NOT_ALLOWED);
                response.headers.push(HeaderName::Allow, checks::ALLOW);
                self.respond(&key, response, now);
            }
        }
    }

    /// 200 to a request within `leg`'s dialog (Contact on target
    /// refreshes, X-MS-SBC towards Teams).
    pub(super) fn in_dialog_ok(&self, call: &Call, leg_id: LegId, request: &Request) -> Response {
        let mut response = Response::for_request(request, StatusCode::OK);
        if let Some(leg) = call.leg(leg_id) {
            if wire::is_target_refresh(&request.method) {
                response
                    .headers
                    .push(HeaderName::Contact, leg.contact.clone());
            }
            if leg.is_teams() {
                if let Some(teams) = &self.config.teams {
                    response
                        .headers
                        .push(HeaderName::from("X-MS-SBC"), teams.x_ms_sbc.clone());
                }
            }
        }
        response
    }

    /// BYE (RFC 3261 §15.1.2): 200 at once, BYE on the other leg.
    fn on_bye(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        key: &TransactionKey,
        request: &Request,
        now: Instant,
    ) {
        let response = self.in_dialog_ok(call, leg_id, request);
        self.respond(key, response, now);
        let Some(party) = call.leg(leg_id).map(|l| l.party) else {
            return;
        };
        if matches!(&call.topology, Topology::Mixed(members) if members.contains(&leg_id)) {
            return self.party_hung_up(call, leg_id, EndReason::Hangup(party), now);
        }
        // Teams may end the transferor's leg itself once the transfer is
        // accepted; the call goes on with the new leg.
        if let Some(transfer) = call.transfer {
            if transfer.referrer == leg_id {
                self.media.release(call.id, leg_id);
                if let Some(leg) = call.leg_mut(leg_id) {
                    leg.timer = None;
                }
                return;
            }
            if transfer.target == leg_id {
                return self.transfer_failed(call, StatusCode::REQUEST_TERMINATED, now);
            }
        }
        let current = [call.caller, call.callee];
        if !current.contains(&leg_id) {
            // An old leg (replaced) hung up: nothing else to do.
            self.media.release(call.id, leg_id);
            call.legs.retain(|l| l.id != leg_id);
            self.forget_leg(call, leg_id);
            return;
        }
        self.end_call(call, EndReason::Hangup(party), now);
    }

    /// re-INVITE or UPDATE: a refresh that changes nothing is answered on
    /// this leg; an offer goes to the other leg.
    fn on_offer(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        key: TransactionKey,
        request: Request,
        now: Instant,
    ) {
        let timer = session_timer::negotiate_as_uas(&request, &self.settings);
        if let UasTimer::TooSmall(min_se) = timer {
            let mut response =
                Response::for_request(&request, StatusCode::SESSION_INTERVAL_TOO_SMALL);
            response.headers.push(HeaderName::MinSe, min_se.to_string());
            if let Some(dialog) = call.leg_mut(leg_id).and_then(|l| l.dialog_mut()) {
                let _ = dialog.handle_sent_response(&response, now);
            }
            return self.respond(&key, response, now);
        }
        let body = wire::sdp_body(&request.headers, &request.body);
        let unchanged = match (&body, call.leg(leg_id)) {
            (None, _) => true,
            (Some(body), Some(leg)) => leg.sdp.is_unchanged(body),
            (Some(_), None) => false,
        };
        if unchanged {
            return self.answer_refresh(call, leg_id, &key, &request, timer, body.is_some(), now);
        }
        if let (true, Some(body)) = (call.answers_offers(), &body) {
            return self.answer_local_reoffer(call, leg_id, &key, &request, body, now);
        }
        self.relay(call, leg_id, key, request, now);
    }

    /// A session refresh (RFC 4028 §10) or an offer-less re-INVITE,
    /// answered here with our last description of this leg.
    #[allow(clippy::too_many_arguments)]
    fn answer_refresh(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        key: &TransactionKey,
        request: &Request,
        timer: UasTimer,
        had_offer: bool,
        now: Instant,
    ) {
        let mut response = self.in_dialog_ok(call, leg_id, request);
        for (name, value) in timer.headers() {
            response.headers.push(name, value);
        }
        let Some(leg) = call.leg_mut(leg_id) else {
            return;
        };
        let is_invite = request.method == Method::Invite;
        if is_invite || had_offer {
            if let Some(ours) = leg.sdp.sent_again() {
                response.headers.set(HeaderName::ContentType, SDP);
                response.body = ours;
            }
        }
        match timer.timer(now) {
            Some(timer) => leg.timer = Some(timer),
            None => {
                if let Some(timer) = &mut leg.timer {
                    timer.refreshed(now);
                }
            }
        }
        if is_invite {
            if let Some(dialog) = leg.dialog_mut() {
                let _ = dialog.handle_sent_response(&response, now);
            }
        }
        self.respond(key, response, now);
        self.flush_leg(call, leg_id, now);
    }

    /// Relays a re-INVITE, UPDATE or INFO from `from` to the other leg.
    pub(super) fn relay(
        &mut self,
        call: &mut Call,
        from: LegId,
        key: TransactionKey,
        request: Request,
        now: Instant,
    ) {
        if ![call.caller, call.callee].contains(&from) {
            // A leg a transfer replaced: its dialog only waits to end.
            let gone = Response::for_request(&request, StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST);
            return self.refuse_relay(call, from, &key, gone, now);
        }
        let busy = Response::for_request(&request, StatusCode::REQUEST_PENDING);
        let to = match call.peer_of(from) {
            Some(to) if call.transfer.is_none() && call.state == CallState::Confirmed => to,
            _ => return self.refuse_relay(call, from, &key, busy, now),
        };
        let built = call
            .leg_mut(to)
            .and_then(|l| l.dialog_mut())
            .map(|d| d.request(request.method.clone(), now));
        let mut out = match built {
            Some(Ok(out)) => out,
            _ => return self.refuse_relay(call, from, &key, busy, now),
        };
        if let Some(body) = wire::sdp_body(&request.headers, &request.body) {
            for leg in [from, to] {
                if let Some(leg) = call.leg_mut(leg) {
                    leg.sdp.checkpoint();
                }
            }
            match self.rewrite_across(call, from, to, &body, SdpRole::Offer) {
                Ok(offer) => {
                    out.headers.set(HeaderName::ContentType, SDP);
                    out.body = offer.to_bytes();
                }
                Err(_) => {
                    for leg in [from, to] {
                        if let Some(leg) = call.leg_mut(leg) {
                            leg.sdp.rollback();
                        }
                    }
                    let response = Response::for_request(&request, StatusCode::NOT_ACCEPTABLE_HERE);
                    return self.refuse_relay(call, from, &key, response, now);
                }
            }
        } else if !request.body.is_empty() {
            if let Some(content_type) = request.headers.get(&HeaderName::ContentType) {
                out.headers.set(
                    HeaderName::ContentType,
                    Bytes::copy_from_slice(content_type),
                );
                out.body = request.body.clone();
            }
        }
        let (from_peer, to_peer) = match (call.leg(from), call.leg(to)) {
            (Some(f), Some(t)) => (f.peer.clone(), t.peer.clone()),
            _ => return,
        };
        let policies = self.policies(&[&from_peer, &to_peer]);
        for (name, value) in wire::carried(&policies, &request.headers) {
            if name != HeaderName::PAssertedIdentity {
                out.headers.push(name, value);
            }
        }
        if matches!(request.method, Method::Invite | Method::Update) {
            if let Some(timer) = call.leg(to).and_then(|l| l.timer) {
                out.headers.push(HeaderName::Supported, "timer");
                out.headers
                    .push(HeaderName::SessionExpires, timer.request_header());
            }
        }
        let purpose = Purpose::Relay {
            call: call.id,
            from,
            to,
            server: key,
            request: Box::new(request),
        };
        self.send_in_dialog(call, to, out, Some(purpose), now);
    }

    /// Refuses a request that cannot be relayed now.
    fn refuse_relay(
        &mut self,
        call: &mut Call,
        from: LegId,
        key: &TransactionKey,
        response: Response,
        now: Instant,
    ) {
        if let Some(dialog) = call.leg_mut(from).and_then(|l| l.dialog_mut()) {
            let _ = dialog.handle_sent_response(&response, now);
        }
        self.respond(key, response, now);
        self.flush_leg(call, from, now);
    }

    /// The other leg answered a relayed request.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_relay_response(
        &mut self,
        call_id: super::CallId,
        from: LegId,
        to: LegId,
        server: &TransactionKey,
        request: &Request,
        response: &Response,
        now: Instant,
    ) {
        let Some(mut call) = self.take_call_with_response(call_id, to, response, now) else {
            return;
        };
        let status = response.status;
        if status.is_provisional() {
            return self.put_back(call);
        }
        let is_invite = request.method == Method::Invite;
        let mut out;
        let mut refused = false;
        let mut restore = None;
        if status.is_success() {
            if is_invite {
                self.ack_leg(&mut call, to);
            }
            if let Some(leg) = call.leg_mut(to) {
                session_timer::renew(&mut leg.timer, session_timer::from_2xx(response, now), now);
            }
            out = self.in_dialog_ok(&call, from, request);
            out.status = status;
            // Without an offer in the request, the 2xx carries one; it is
            // passed on as it is.
            let offered = wire::sdp_body(&request.headers, &request.body).is_some();
            if let Some(body) = wire::sdp_body(&response.headers, &response.body) {
                let role = SdpRole::Answer;
                match self.rewrite_across_checked(&mut call, to, from, &body, role, offered) {
                    Ok(answer) => {
                        out.headers.set(HeaderName::ContentType, SDP);
                        out.body = answer.to_bytes();
                    }
                    Err(_) => refused = offered,
                }
            } else if !response.body.is_empty() && !is_invite {
                if let Some(content_type) = response.headers.get(&HeaderName::ContentType) {
                    out.headers.set(
                        HeaderName::ContentType,
                        Bytes::copy_from_slice(content_type),
                    );
                    out.body = response.body.clone();
                }
            }
            if matches!(request.method, Method::Invite | Method::Update) {
                let timer = session_timer::negotiate_as_uas(request, &self.settings);
                for (name, value) in timer.headers() {
                    out.headers.push(name, value);
                }
                if let Some(leg) = call.leg_mut(from) {
                    session_timer::renew(&mut leg.timer, timer.timer(now), now);
                }
            }
            if refused {
                // The answer cannot be given to the offerer (a codec we did
                // not offer, no codec in common): its offer is refused and the
                // previous session stays (RFC 3264 §8). The other leg's peer
                // took the new one: it is offered the previous one again.
                out = Response::for_request(request, StatusCode::NOT_ACCEPTABLE_HERE);
                if let Some(leg) = call.leg_mut(from) {
                    leg.sdp.rollback();
                }
                restore = call.leg_mut(to).map(|l| l.sdp.rollback_to_reoffer());
                self.update_media(&call, from);
                self.update_media(&call, to);
            }
        } else {
            let mapped = match status.0 {
                491 => StatusCode::REQUEST_PENDING,
                _ => wire::map_final(status),
            };
            out = Response::for_request(request, mapped);
            if let Some(leg) = call.leg_mut(from) {
                leg.sdp.rollback();
            }
            // Our offer reached `to`'s peer, which refused it.
            if let Some(leg) = call.leg_mut(to) {
                leg.sdp.rollback_refused();
            }
            self.update_media(&call, from);
            self.update_media(&call, to);
        }
        if is_invite {
            if let Some(dialog) = call.leg_mut(from).and_then(|l| l.dialog_mut()) {
                let _ = dialog.handle_sent_response(&out, now);
            }
        }
        self.respond(server, out, now);
        self.flush_leg(&mut call, from, now);
        if let Some(offer) = restore {
            self.restore(&mut call, to, offer, now);
        }
        if matches!(status.0, 408 | 481) {
            let party = call.leg(to).map_or(super::Party::Callee, |l| l.party);
            self.end_call(&mut call, EndReason::DialogLost(party), now);
        }
        self.put_back(call);
    }

    /// ACK for the 2xx to our re-INVITE on `leg` (RFC 3261 §13.2.2.4).
    pub(super) fn ack_leg(&mut self, call: &mut Call, leg_id: LegId) {
        let Some(leg) = call.leg_mut(leg_id) else {
            return;
        };
        let (transport, via_host, peer) = (leg.transport, leg.via_host.clone(), leg.peer.clone());
        let ack = leg.dialog_mut().and_then(|d| d.ack(None).ok());
        if let Some(mut ack) = ack {
            self.finish(&peer, transport, &via_host, &mut ack);
            let hop = wire::dialog_next_hop(&ack, transport);
            self.send_direct(ack.into(), hop);
        }
    }

    /// Sends a re-INVITE with `leg`'s current description (a session
    /// refresh, RFC 4028 §7.4).
    pub(super) fn reoffer(&mut self, call: &mut Call, leg_id: LegId, now: Instant) -> bool {
        let Some(before) = call.leg(leg_id).map(|l| l.sdp.local_description()) else {
            return false;
        };
        self.send_reoffer(call, leg_id, before, now)
    }

    /// Sends a re-INVITE with `leg`'s description, written by the caller
    /// since it took `before` (which stays in force if the peer refuses
    /// it).
    pub(super) fn send_reoffer(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        before: LocalDescription,
        now: Instant,
    ) -> bool {
        self.send_own_offer(call, leg_id, ReinviteKind::Reoffer, before, 0, now)
    }

    /// Offers `leg`'s peer the session in force before the offer it
    /// accepted and the other leg could not be answered with (`offer`:
    /// whether `LegSdp::rollback_to_reoffer` made one): RFC 3261 §14.1
    /// keeps a failed re-INVITE's session, but this peer took the new
    /// one. The call ends with BYE and a Reason header when that cannot
    /// be done.
    fn restore(&mut self, call: &mut Call, leg_id: LegId, offer: bool, now: Instant) {
        let before = call.leg(leg_id).map(|l| l.sdp.local_description());
        let sent = match (offer, before) {
            (true, Some(before)) => {
                self.send_own_offer(call, leg_id, ReinviteKind::Restore, before, 0, now)
            }
            _ => false,
        };
        if !sent {
            let party = call.leg(leg_id).map_or(super::Party::Callee, |l| l.party);
            self.lose_leg(call, leg_id, EndReason::SessionNotRestored(party), now);
        }
    }

    /// Sends `leg`'s peer a re-INVITE of our own (`kind`, sent again
    /// `retries` times after a 491) carrying our description of the leg;
    /// `before` is what it replaces. When it cannot be sent, `before`
    /// comes back.
    fn send_own_offer(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        kind: ReinviteKind,
        before: LocalDescription,
        retries: u32,
        now: Instant,
    ) -> bool {
        let purpose = match kind {
            ReinviteKind::Reoffer => Purpose::Reoffer {
                call: call.id,
                leg: leg_id,
            },
            ReinviteKind::Restore => Purpose::Restore {
                call: call.id,
                leg: leg_id,
            },
            // Sent by `on_replaces` with its own purpose.
            ReinviteKind::Replaces => return false,
        };
        let Some(leg) = call.leg_mut(leg_id) else {
            return false;
        };
        let timer = leg.timer;
        let Some(offer) = leg.sdp.sent_again() else {
            leg.sdp.withdraw_offer(before);
            return false;
        };
        let Some(Ok(mut request)) = leg.dialog_mut().map(|d| d.request(Method::Invite, now)) else {
            leg.sdp.withdraw_offer(before);
            return false;
        };
        request.headers.push(HeaderName::Supported, "timer");
        if let Some(timer) = timer {
            request
                .headers
                .push(HeaderName::SessionExpires, timer.request_header());
        }
        request.headers.set(HeaderName::ContentType, SDP);
        request.body = offer;
        let sent = self
            .send_in_dialog(call, leg_id, request, Some(purpose), now)
            .is_some();
        if let Some(leg) = call.leg_mut(leg_id) {
            if sent {
                leg.own_reinvite = Some(OwnReinvite::Proceeding {
                    kind,
                    before,
                    retries,
                });
            } else {
                leg.sdp.withdraw_offer(before);
            }
        }
        sent
    }

    /// Our own re-INVITE on `leg` got the final response `status` (a
    /// timeout counts as 408). Unless it is a 2xx, the session in force
    /// stays (RFC 3261 §14.1): our description goes back to the one
    /// before and the media plane hears of it again. Returns whether it
    /// will be sent again (a 491 within [`GLARE_RETRIES`]).
    pub(super) fn own_reinvite_ended(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        status: StatusCode,
    ) -> bool {
        let Some(leg) = call.leg_mut(leg_id) else {
            return false;
        };
        let Some(OwnReinvite::Proceeding {
            kind,
            before,
            retries,
        }) = leg.own_reinvite.take()
        else {
            return false;
        };
        if status.is_success() {
            return false;
        }
        let refused = leg.sdp.offer_refused(before);
        let retry = status == StatusCode::REQUEST_PENDING
            && retries < GLARE_RETRIES
            && kind != ReinviteKind::Replaces;
        if retry {
            leg.own_reinvite = Some(OwnReinvite::BackingOff {
                kind,
                offer: refused,
                exchanges: leg.sdp.exchanges(),
                retries: retries + 1,
            });
        }
        self.update_media(call, leg_id);
        retry
    }

    /// The 491 back-off of `leg`'s dialog is over (RFC 3261 §14.1): our
    /// re-INVITE refused with 491 goes again, unless an offer/answer
    /// exchange completed on the leg meanwhile (the session was
    /// renegotiated from the other leg's: nothing is left to bring in
    /// line) or another INVITE is under way on it (its exchange does
    /// that).
    pub(super) fn retry_own_reinvite(&mut self, call: &mut Call, leg_id: LegId, now: Instant) {
        if call.state == CallState::Terminated {
            return;
        }
        let Some(leg) = call.leg_mut(leg_id) else {
            return;
        };
        let Some(OwnReinvite::BackingOff {
            kind,
            offer,
            exchanges,
            retries,
        }) = leg.own_reinvite.take()
        else {
            // The 491 was to a relayed request: its offerer retries.
            return;
        };
        if leg.sdp.exchanges() != exchanges {
            return;
        }
        let before = leg.sdp.local_description();
        leg.sdp.retry_offer(offer);
        self.send_own_offer(call, leg_id, kind, before, retries, now);
    }

    /// The answer to our re-INVITE restoring `leg`'s session: taken if it
    /// names a codec we offered (RFC 3264 §6.1); anything else ends the
    /// call, the peers' sessions being out of line.
    pub(super) fn on_restore_response(
        &mut self,
        call_id: super::CallId,
        leg_id: LegId,
        response: &Response,
        now: Instant,
    ) {
        let Some(mut call) = self.take_call_with_response(call_id, leg_id, response, now) else {
            return;
        };
        let status = response.status;
        if status.is_provisional() {
            return self.put_back(call);
        }
        if self.own_reinvite_ended(&mut call, leg_id, status) {
            return self.put_back(call);
        }
        let mut restored = false;
        if status.is_success() {
            self.ack_leg(&mut call, leg_id);
            let body = wire::sdp_body(&response.headers, &response.body);
            if let (Some(body), Some(leg)) = (body, call.leg_mut(leg_id)) {
                match leg.sdp.receive_answer(&body, true) {
                    Ok(_) => restored = true,
                    Err(RewriteError::CodecNotOffered { .. }) => {
                        self.gate.stats().record_answer_not_offered();
                    }
                    Err(_) => {}
                }
            }
        }
        if restored {
            self.update_media(&call, leg_id);
            if let Some(leg) = call.leg_mut(leg_id) {
                session_timer::renew(&mut leg.timer, session_timer::from_2xx(response, now), now);
            }
        } else if call.state != CallState::Terminated {
            let party = call.leg(leg_id).map_or(super::Party::Callee, |l| l.party);
            self.lose_leg(&mut call, leg_id, EndReason::SessionNotRestored(party), now);
        }
        self.put_back(call);
    }

    /// The answer to our own re-INVITE on `leg`.
    pub(super) fn on_reoffer_response(
        &mut self,
        call_id: super::CallId,
        leg_id: LegId,
        response: &Response,
        now: Instant,
    ) {
        let Some(mut call) = self.take_call_with_response(call_id, leg_id, response, now) else {
            return;
        };
        let status = response.status;
        if status.is_success() {
            self.own_reinvite_ended(&mut call, leg_id, status);
            self.ack_leg(&mut call, leg_id);
            if let Some(body) = wire::sdp_body(&response.headers, &response.body) {
                if let Some(leg) = call.leg_mut(leg_id) {
                    // An answer with a codec we did not offer changes
                    // nothing on our side (RFC 3264 §6.1).
                    if let Err(RewriteError::CodecNotOffered { .. }) =
                        leg.sdp.receive_answer(&body, true)
                    {
                        self.gate.stats().record_answer_not_offered();
                    }
                }
                self.update_media(&call, leg_id);
            }
            if let Some(leg) = call.leg_mut(leg_id) {
                session_timer::renew(&mut leg.timer, session_timer::from_2xx(response, now), now);
            }
        } else if status.is_final() {
            let retrying = self.own_reinvite_ended(&mut call, leg_id, status);
            if matches!(status.0, 408 | 481) {
                let party = call.leg(leg_id).map_or(super::Party::Callee, |l| l.party);
                self.lose_leg(&mut call, leg_id, EndReason::DialogLost(party), now);
            } else if retrying {
                // Sent again when the back-off ends; the session lapses
                // at the deadline set when it was first sent.
            } else if let Some(timer) = call.leg_mut(leg_id).and_then(|l| l.timer.as_mut()) {
                timer.deadline = now + REFRESH_RETRY;
            }
        }
        self.put_back(call);
    }

    /// Whatever of call `id` is due: dialog timers (2xx retransmission,
    /// glare back-off), silent targets, session timers, the maximum call
    /// duration.
    pub(super) fn on_call_timeout(&mut self, id: super::CallId, now: Instant) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        let legs: Vec<LegId> = call.legs.iter().map(|l| l.id).collect();
        for leg_id in legs {
            let mut silent = false;
            let mut unanswered = false;
            if let Some(leg) = call.leg_mut(leg_id) {
                match &mut leg.dialog {
                    LegDialog::Uas(uas) => {
                        if let Some(dialog) = &mut uas.dialog {
                            dialog.handle_timeout(now);
                        }
                    }
                    LegDialog::Uac(uac) => {
                        if let Some(attempt) = &mut uac.attempt {
                            attempt.uac.handle_timeout(now);
                            if attempt.failover_at.is_some_and(|at| at <= now) {
                                attempt.failover_at = None;
                                silent = !attempt.finished;
                            }
                            if attempt.ring_until.is_some_and(|at| at <= now) {
                                attempt.ring_until = None;
                                unanswered = !attempt.finished;
                            }
                        }
                    }
                }
            }
            self.flush_leg(&mut call, leg_id, now);
            if silent && call.state != CallState::Terminated {
                self.abandon_attempt(&mut call, leg_id, now);
            }
            let calling = call.state == CallState::Calling;
            if unanswered && calling && leg_id == call.callee {
                self.end_call(&mut call, EndReason::NoAnswer, now);
            } else if unanswered && calling && leg_id == call.caller {
                // The first leg of an originated call rang out.
                call.dials.retain(|l| *l != leg_id);
                self.events.push_back(super::B2buaEvent::DialFailed {
                    call: call.id,
                    leg: leg_id,
                    status: StatusCode::TEMPORARILY_UNAVAILABLE,
                    at: now,
                });
                self.end_call(&mut call, EndReason::NoAnswer, now);
            } else if unanswered && call.state != CallState::Terminated {
                // A transfer target that does not answer: as if silent.
                self.abandon_attempt(&mut call, leg_id, now);
            }
            let due = call
                .leg(leg_id)
                .and_then(|l| l.timer)
                .filter(|t| t.deadline <= now);
            if let (Some(timer), false) = (due, call.state == CallState::Terminated) {
                if timer.we_refresh {
                    let sent = self.reoffer(&mut call, leg_id, now);
                    if let Some(timer) = call.leg_mut(leg_id).and_then(|l| l.timer.as_mut()) {
                        timer.deadline = if sent {
                            // The 2xx moves it; if none comes the session
                            // lapses at the interval's end.
                            now + timer.interval / 2
                        } else {
                            now + REFRESH_RETRY
                        };
                    }
                } else {
                    let party = call.leg(leg_id).map_or(super::Party::Caller, |l| l.party);
                    self.lose_leg(&mut call, leg_id, EndReason::SessionExpired(party), now);
                }
            }
        }
        if call.hangup_at.is_some_and(|at| at <= now) {
            call.hangup_at = None;
            self.end_call(&mut call, EndReason::MaxDuration, now);
        }
        self.put_back(call);
    }
}
