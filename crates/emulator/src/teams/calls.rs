//! Calls through the emulated proxy, both directions: ringing a Teams
//! user (100, one 180 per forked endpoint with its own To tag, optional
//! 183 with SDP, then 200 / 486 / 603 / 408 after the ring time, RFC 3261
//! §13.3), CANCEL (§9.2), requests and responses within the dialog (§12.2,
//! §15 BYE, §14 re-INVITE for hold, RFC 3515 REFER and its NOTIFYs), and
//! the responses to calls placed from Teams (§13.2.2).

use std::time::Instant;

use bytes::Bytes;
use sdp::Session;
use sip::{HeaderName, Method, Request, Response, StatusCode};
use sip_core::{
    fill_via_sent_by, unknown_dialog_response, Dialog, DialogEvent, DialogTransmit, RequestVerdict,
    TransactionKey, UacInvite, UacInviteEvent,
};

use super::directory::UserRef;
use super::event::{
    CallId, ConnectionRef, Destination, Event, Party, ProxyId, RejectReason, Source,
};
use super::media::{self, MediaSession, KEY_SALT_LEN};
use super::proxy::{ClientRoute, Purpose, TeamsProxy};
use super::sbc::CheckedInvite;
use super::wire;
use crate::config::Behaviour;

/// One call through the proxy.
#[derive(Debug)]
pub(super) struct Call {
    pub(super) user: UserRef,
    pub(super) proxy: ProxyId,
    pub(super) sip_call_id: String,
    pub(super) media: MediaSession,
    pub(super) state: CallState,
    /// Where requests within the dialog go (top Record-Route, else
    /// Contact, of the SBC).
    pub(super) next_hop: Destination,
    /// For calls from the SBC: the connection of its INVITE, where our
    /// 2xx retransmissions go.
    pub(super) connection: Option<ConnectionRef>,
    /// Our Contact header value.
    pub(super) contact: String,
    /// The SBC listed REFER in Allow.
    pub(super) sbc_allows_refer: bool,
    pub(super) on_hold: bool,
    /// The hold state our pending re-INVITE asks for.
    pub(super) pending_hold: Option<bool>,
}

/// Where a call stands.
#[derive(Debug)]
pub(super) enum CallState {
    /// A call from the SBC whose INVITE server transaction is Proceeding
    /// (RFC 3261 §17.2.1): the user's endpoints ring.
    Proceeding(Box<Ringing>),
    /// A call from Teams whose INVITE has no final response yet (RFC 3261
    /// §17.1.1 Calling / Proceeding).
    Calling(Box<Calling>),
    /// The dialog is Confirmed (RFC 3261 §12).
    Confirmed(Box<Dialog>),
}

#[derive(Debug)]
pub(super) struct Ringing {
    invite_key: TransactionKey,
    invite: Request,
    /// One To tag per endpoint; the first one answers.
    tags: Vec<String>,
    answer: Session,
    final_at: Instant,
}

#[derive(Debug)]
pub(super) struct Calling {
    pub(super) invite_key: TransactionKey,
    pub(super) uac: UacInvite,
    pub(super) cancelled: bool,
}

impl Call {
    /// When the call needs [`TeamsProxy::call_timeout`].
    pub(super) fn deadline(&self) -> Option<Instant> {
        match &self.state {
            CallState::Proceeding(ringing) => Some(ringing.final_at),
            CallState::Calling(calling) => calling.uac.poll_timeout(),
            CallState::Confirmed(dialog) => dialog.poll_timeout(),
        }
    }
}

impl TeamsProxy {
    /// Rings the user of a checked INVITE.
    pub(super) fn ring(
        &mut self,
        key: &TransactionKey,
        invite: Request,
        source: &Source,
        checked: CheckedInvite,
        now: Instant,
    ) {
        let Some((tenant, user)) = self.directory.user(checked.user) else {
            return;
        };
        let (tenant_id, user_name) = (tenant.id.clone(), user.name.clone());
        let (ring_time, endpoints, early_media) =
            (user.ring_time, user.endpoints, user.early_media);
        let port = self.allocate_media_port();
        let key_salt = self.rng.bytes(KEY_SALT_LEN);
        let session_id = self.rng.next_u64() >> 2;
        let mut media = MediaSession::new(self.media_ip, port, key_salt, session_id);
        let Ok(answer) = media.answer(&checked.offer) else {
            return self.reject(key, &invite, source.proxy, RejectReason::NoCommonCodec, now);
        };
        let Ok(sip_call_id) = invite.headers.call_id().map(str::to_owned) else {
            return;
        };
        let contact = wire::contact(&self.proxy_fqdn(source.proxy), &self.rng.guid());
        let tags: Vec<String> = (0..endpoints.max(1)).map(|_| sip::new_tag()).collect();

        self.respond(key, wire::response(&invite, StatusCode::TRYING, None), now);
        for tag in &tags {
            let mut ringing = wire::response(&invite, StatusCode::RINGING, Some(tag));
            ringing.headers.push(HeaderName::Contact, contact.clone());
            ringing.headers.push(HeaderName::Allow, wire::ALLOW);
            self.respond(key, ringing, now);
        }
        if let (true, Some(tag)) = (early_media, tags.first()) {
            let mut progress = wire::response(&invite, StatusCode::SESSION_PROGRESS, Some(tag));
            progress.headers.push(HeaderName::Contact, contact.clone());
            set_sdp(&mut progress, &answer);
            self.respond(key, progress, now);
        }

        let id = self.new_call_id();
        let header = |name: HeaderName| invite.headers.get_str(&name).map(str::to_owned);
        self.events.push_back(Event::CallReceived {
            call: id,
            tenant: tenant_id,
            user: user_name,
            from: invite
                .headers
                .from()
                .map(|from| from.uri.as_str().to_owned())
                .unwrap_or_default(),
            x_ms_sbc: header(wire::x_ms_sbc()),
            referred_by: header(HeaderName::ReferredBy),
            proxy: source.proxy,
        });
        let call = Call {
            user: checked.user,
            proxy: source.proxy,
            sip_call_id: sip_call_id.clone(),
            media,
            next_hop: checked.next_hop,
            connection: Some(source.connection),
            contact,
            sbc_allows_refer: wire::allows_refer(&invite.headers),
            on_hold: false,
            pending_hold: None,
            state: CallState::Proceeding(Box::new(Ringing {
                invite_key: key.clone(),
                invite,
                tags,
                answer,
                final_at: now + ring_time,
            })),
        };
        self.calls.insert(id, call);
        self.by_call_id.insert(sip_call_id, id);
    }

    /// A call's timer fired: the ring time is over, or its dialog has a
    /// retransmission or give-up due.
    pub(super) fn call_timeout(&mut self, id: CallId, now: Instant) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        match &mut call.state {
            CallState::Proceeding(_) => self.finish_ringing(id, now),
            CallState::Calling(calling) => {
                calling.uac.handle_timeout(now);
                self.pump(id, now);
            }
            CallState::Confirmed(dialog) => {
                dialog.handle_timeout(now);
                self.pump(id, now);
            }
        }
    }

    /// The final response of the ringing user, by behaviour.
    fn finish_ringing(&mut self, id: CallId, now: Instant) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let behaviour = self
            .directory
            .user(call.user)
            .map_or(Behaviour::Answer, |(_, user)| user.behaviour);
        let status = match behaviour {
            Behaviour::Answer => return self.answer(id, now),
            Behaviour::Busy => StatusCode::BUSY_HERE,
            Behaviour::NoAnswer => StatusCode::REQUEST_TIMEOUT,
            Behaviour::Decline => StatusCode::DECLINE,
        };
        self.refuse_ringing(id, status, Party::Teams, now);
    }

    /// Ends a ringing call with a final non-2xx.
    pub(super) fn refuse_ringing(
        &mut self,
        id: CallId,
        status: StatusCode,
        by: Party,
        now: Instant,
    ) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let CallState::Proceeding(ringing) = &call.state else {
            return;
        };
        let response = wire::response(
            &ringing.invite,
            status,
            ringing.tags.first().map(String::as_str),
        );
        let key = ringing.invite_key.clone();
        self.respond(&key, response, now);
        self.events.push_back(Event::Ended {
            call: id,
            by,
            status: Some(status),
        });
        self.end_call(id);
    }

    /// 200 with the SDP answer from the first endpoint; the dialog starts
    /// retransmitting it until the ACK (RFC 3261 §13.3.1.4).
    fn answer(&mut self, id: CallId, now: Instant) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let CallState::Proceeding(ringing) = &call.state else {
            return;
        };
        let mut ok = wire::response(
            &ringing.invite,
            StatusCode::OK,
            ringing.tags.first().map(String::as_str),
        );
        ok.headers.push(HeaderName::Contact, call.contact.clone());
        ok.headers.push(HeaderName::Allow, wire::ALLOW);
        set_sdp(&mut ok, &ringing.answer);
        let key = ringing.invite_key.clone();
        match Dialog::new_uas(&ringing.invite, &ok, self.dialog_config, now) {
            Ok(dialog) => {
                call.state = CallState::Confirmed(Box::new(dialog));
                self.respond(&key, ok, now);
                self.events.push_back(Event::Answered { call: id });
            }
            // The INVITE was checked (Contact, tags), so this is a bug;
            // fail the call rather than the process.
            Err(_) => self.refuse_ringing(id, StatusCode::SERVER_INTERNAL_ERROR, Party::Teams, now),
        }
    }

    /// CANCEL of a ringing call (RFC 3261 §9.2): 200 to the CANCEL, 487 to
    /// the INVITE; 481 when no INVITE matches.
    pub(super) fn on_cancel(&mut self, key: &TransactionKey, cancel: &Request, now: Instant) {
        let invite_key = self.layer.cancelled_invite(key);
        let status = if invite_key.is_some() {
            StatusCode::OK
        } else {
            StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST
        };
        let ringing = self.calls.iter().find_map(|(id, call)| match &call.state {
            CallState::Proceeding(r) if Some(&r.invite_key) == invite_key.as_ref() => {
                Some((*id, r.tags.first().cloned()))
            }
            _ => None,
        });
        // RFC 3261 §9.2: the 200 to the CANCEL carries the To tag of the
        // responses to the INVITE.
        let tag = ringing.as_ref().and_then(|(_, tag)| tag.clone());
        self.respond(key, wire::response(cancel, status, tag.as_deref()), now);
        if let Some((id, _)) = ringing {
            self.refuse_ringing(id, StatusCode::REQUEST_TERMINATED, Party::Sbc, now);
        }
    }

    /// A request within a dialog (To tag present).
    pub(super) fn on_in_dialog(&mut self, key: &TransactionKey, request: &Request, now: Instant) {
        let id = request
            .headers
            .call_id()
            .ok()
            .and_then(|call_id| self.by_call_id.get(call_id).copied());
        let verdict = id.and_then(|id| {
            let call = self.calls.get_mut(&id)?;
            match &mut call.state {
                CallState::Confirmed(dialog) => dialog.handle_request(request, now).ok(),
                CallState::Calling(calling) => calling.uac.handle_request(request, now).ok(),
                CallState::Proceeding(_) => None,
            }
        });
        match (id, verdict) {
            (Some(id), Some(RequestVerdict::Accept)) => {
                self.accept_in_dialog(id, key, request, now)
            }
            (_, Some(RequestVerdict::Reject(response))) => self.respond(key, response, now),
            (_, Some(RequestVerdict::Absorb)) => {}
            _ => {
                if let Some(response) = unknown_dialog_response(request) {
                    self.respond(key, response, now);
                }
            }
        }
        if let Some(id) = id {
            self.pump(id, now);
        }
    }

    fn accept_in_dialog(
        &mut self,
        id: CallId,
        key: &TransactionKey,
        request: &Request,
        now: Instant,
    ) {
        match request.method {
            Method::Bye => {
                self.respond(key, wire::response(request, StatusCode::OK, None), now);
                self.events.push_back(Event::Ended {
                    call: id,
                    by: Party::Sbc,
                    status: None,
                });
                self.end_call(id);
            }
            Method::Invite => self.on_reinvite(id, key, request, now),
            Method::Update => {
                let response = self.answer_offer(id, request, false);
                self.respond(key, response, now);
            }
            Method::Notify => {
                self.respond(key, wire::response(request, StatusCode::OK, None), now);
                let terminated = request
                    .headers
                    .get_str(&HeaderName::SubscriptionState)
                    .is_some_and(|s| s.trim().to_ascii_lowercase().starts_with("terminated"));
                self.events.push_back(Event::NotifyReceived {
                    call: id,
                    sipfrag: String::from_utf8_lossy(&request.body).trim().to_owned(),
                    terminated,
                });
            }
            Method::Options | Method::Info => {
                self.respond(key, wire::response(request, StatusCode::OK, None), now);
            }
            _ => {
                let mut response = wire::response(request, StatusCode::METHOD_NOT_ALLOWED, None);
                response.headers.push(HeaderName::Allow, wire::ALLOW);
                self.respond(key, response, now);
            }
        }
    }

    /// A re-INVITE of the SBC (hold with `a=inactive`, resume, refresh):
    /// answered with our SDP; the dialog learns of the final response.
    fn on_reinvite(&mut self, id: CallId, key: &TransactionKey, request: &Request, now: Instant) {
        let response = self.answer_offer(id, request, true);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if let CallState::Confirmed(dialog) = &mut call.state {
            // Only a response of another dialog fails here; ours cannot.
            let _ = dialog.handle_sent_response(&response, now);
        }
        let on_hold = response.status.is_success()
            && !request.body.is_empty()
            && Session::parse(&request.body).is_ok_and(|offer| media::is_inactive(&offer));
        let changed = response.status.is_success() && on_hold != call.on_hold;
        if changed {
            call.on_hold = on_hold;
        }
        self.respond(key, response, now);
        if changed {
            self.events.push_back(Event::HoldChanged {
                call: id,
                on_hold,
                by: Party::Sbc,
            });
        }
    }

    /// 200 with our answer to the request's offer (or our last description
    /// as a new offer when it has none); 488 when the offer is refused.
    fn answer_offer(&mut self, id: CallId, request: &Request, with_contact: bool) -> Response {
        let Some(call) = self.calls.get_mut(&id) else {
            return wire::response(request, StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST, None);
        };
        let sdp = if request.body.is_empty() {
            call.media.local.clone()
        } else {
            match Session::parse(&request.body)
                .map_err(|_| RejectReason::BadSdp)
                .and_then(|offer| call.media.answer(&offer))
            {
                Ok(answer) => Some(answer),
                Err(_) => return wire::response(request, StatusCode::NOT_ACCEPTABLE_HERE, None),
            }
        };
        let mut ok = wire::response(request, StatusCode::OK, None);
        if with_contact {
            ok.headers.push(HeaderName::Contact, call.contact.clone());
        }
        if let Some(sdp) = sdp {
            set_sdp(&mut ok, &sdp);
        }
        ok
    }

    /// An ACK without transaction: for our 2xx.
    pub(super) fn on_ack(&mut self, ack: &Request, now: Instant) {
        let Some(id) = self.call_of(&ack.headers) else {
            return;
        };
        if let Some(CallState::Confirmed(dialog)) = self.calls.get_mut(&id).map(|c| &mut c.state) {
            // Stale or foreign ACKs are absorbed by the dialog.
            let _ = dialog.handle_request(ack, now);
        }
        self.pump(id, now);
    }

    /// A 2xx retransmitted after its transaction ended: the dialog replays
    /// its ACK (RFC 3261 §13.2.2.4).
    pub(super) fn on_stray_response(&mut self, response: &Response, now: Instant) {
        let Some(id) = self.call_of(&response.headers) else {
            return;
        };
        if let Some(CallState::Confirmed(dialog)) = self.calls.get_mut(&id).map(|c| &mut c.state) {
            let _ = dialog.handle_response(response, now);
        }
        self.pump(id, now);
    }

    /// A response to one of our requests.
    pub(super) fn on_response(&mut self, key: &TransactionKey, response: Response, now: Instant) {
        let Some(route) = self.client_routes.get(key) else {
            return;
        };
        match route.purpose.clone() {
            Purpose::OptionsProbe { fqdn } => {
                if !response.status.is_final() {
                    return;
                }
                self.events.push_back(Event::OptionsAnswered {
                    fqdn: fqdn.clone(),
                    status: response.status,
                });
                if response.status.is_success() {
                    if let Some((fqdn, status)) = self.health.options_answered(&fqdn, now) {
                        self.events
                            .push_back(Event::SbcStatusChanged { fqdn, status });
                    }
                }
            }
            Purpose::Invite { call } => self.on_invite_response(call, &response, now),
            Purpose::Cancel => {}
            Purpose::InDialog { call, method } => {
                self.on_in_dialog_response(call, &method, &response, now);
            }
        }
    }

    /// Our request timed out or could not be sent: a 408 (RFC 3261
    /// §8.1.3.1).
    pub(super) fn on_client_failure(&mut self, key: &TransactionKey) {
        let Some(route) = self.client_routes.get(key) else {
            return;
        };
        let status = StatusCode::REQUEST_TIMEOUT;
        match route.purpose.clone() {
            Purpose::OptionsProbe { fqdn } => {
                self.events
                    .push_back(Event::OptionsAnswered { fqdn, status });
            }
            Purpose::Invite { call } => {
                if let Some(Call {
                    state: CallState::Calling(calling),
                    ..
                }) = self.calls.get(&call)
                {
                    let by_teams = calling.cancelled;
                    self.call_failed(call, status, by_teams);
                }
            }
            Purpose::Cancel => {}
            Purpose::InDialog { call, method } => match method {
                Method::Refer => self.events.push_back(Event::ReferAnswered { call, status }),
                Method::Invite => {
                    if let Some(call) = self.calls.get_mut(&call) {
                        call.pending_hold = None;
                    }
                }
                _ => {}
            },
        }
    }

    fn call_failed(&mut self, id: CallId, status: StatusCode, cancelled: bool) {
        if cancelled {
            self.events.push_back(Event::Ended {
                call: id,
                by: Party::Teams,
                status: Some(status),
            });
        } else {
            self.events
                .push_back(Event::CallFailed { call: id, status });
        }
        self.end_call(id);
    }

    /// A response to the INVITE of a call from Teams.
    fn on_invite_response(&mut self, id: CallId, response: &Response, now: Instant) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let calling = match &mut call.state {
            CallState::Calling(calling) => calling,
            CallState::Confirmed(dialog) => {
                // A 2xx retransmission: the dialog replays the ACK.
                let _ = dialog.handle_response(response, now);
                return self.pump(id, now);
            }
            CallState::Proceeding(_) => return,
        };
        // Responses of another dialog or call are dropped.
        let _ = calling.uac.handle_response(response, now);
        let status = response.status;
        if status.is_success() {
            call.sbc_allows_refer = wire::allows_refer(&response.headers);
            if let Ok(answer) = Session::parse(&response.body) {
                call.media.remote = Some(answer);
            }
        }
        if status.is_provisional() && status != StatusCode::TRYING {
            self.events.push_back(Event::Progress { call: id, status });
        }
        self.pump(id, now);
    }

    /// A response to a request within a call's dialog.
    fn on_in_dialog_response(
        &mut self,
        id: CallId,
        method: &Method,
        response: &Response,
        now: Instant,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let CallState::Confirmed(dialog) = &mut call.state else {
            return;
        };
        let _ = dialog.handle_response(response, now);
        let status = response.status;
        let mut event = None;
        let mut ack = None;
        match *method {
            Method::Invite if status.is_success() => {
                // A retransmitted 2xx finds the ACK built: the dialog
                // replays it through poll_transmit.
                ack = dialog.ack(None).ok();
                if let Some(on_hold) = call.pending_hold.take() {
                    call.on_hold = on_hold;
                    event = Some(Event::HoldChanged {
                        call: id,
                        on_hold,
                        by: Party::Teams,
                    });
                }
            }
            Method::Invite if status.is_final() => call.pending_hold = None,
            Method::Refer if status.is_final() => {
                event = Some(Event::ReferAnswered { call: id, status });
            }
            _ => {}
        }
        if let Some(ack) = ack {
            self.send_direct(id, ack);
        }
        self.events.extend(event);
        self.pump(id, now);
    }

    /// Sends an ACK (no transaction) to the call's next hop.
    pub(super) fn send_direct(&mut self, id: CallId, mut request: Request) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let sent_by = wire::sent_by(&self.proxy_fqdn(call.proxy));
        // A request built by a dialog always has a Via with a branch.
        let _ = fill_via_sent_by(&mut request, "TLS", &sent_by);
        self.transmits.push_back(super::event::Transmit {
            proxy: call.proxy,
            destination: call.next_hop.clone(),
            message: request.into(),
        });
    }

    /// Sends a request built by a dialog in a new client transaction.
    pub(super) fn send_in_dialog(
        &mut self,
        id: CallId,
        mut request: Request,
        now: Instant,
    ) -> Result<(), crate::CallError> {
        let Some(call) = self.calls.get(&id) else {
            return Err(crate::CallError::UnknownCall(id.0));
        };
        let sent_by = wire::sent_by(&self.proxy_fqdn(call.proxy));
        fill_via_sent_by(&mut request, "TLS", &sent_by)
            .map_err(|e| crate::CallError::Sip(e.to_string()))?;
        let route = ClientRoute {
            purpose: Purpose::InDialog {
                call: id,
                method: request.method.clone(),
            },
            proxy: call.proxy,
            destination: call.next_hop.clone(),
        };
        self.send_request(request, route, now).map(|_| ())
    }

    /// Moves what a call's dialog (or UAC INVITE) queued: ACKs and 2xx
    /// retransmissions straight out, requests in transactions, events
    /// turned into ours.
    pub(super) fn pump(&mut self, id: CallId, now: Instant) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let mut transmits = Vec::new();
        let mut dialog_events = Vec::new();
        let mut uac_events = Vec::new();
        match &mut call.state {
            CallState::Confirmed(dialog) => {
                while let Some(t) = dialog.poll_transmit() {
                    transmits.push(t);
                }
                while let Some(e) = dialog.poll_event() {
                    dialog_events.push(e);
                }
            }
            CallState::Calling(calling) => {
                while let Some(t) = calling.uac.poll_transmit() {
                    transmits.push(t);
                }
                while let Some(e) = calling.uac.poll_event() {
                    uac_events.push(e);
                }
            }
            CallState::Proceeding(_) => {}
        }
        let (proxy, connection, next_hop) = (call.proxy, call.connection, call.next_hop.clone());
        for transmit in transmits {
            match transmit {
                DialogTransmit::Ack(ack) => self.send_direct(id, ack),
                DialogTransmit::Response(response) => {
                    let destination =
                        connection.map_or_else(|| next_hop.clone(), Destination::Connection);
                    self.transmits.push_back(super::event::Transmit {
                        proxy,
                        destination,
                        message: response.into(),
                    });
                }
                DialogTransmit::Request(request) => {
                    // Only fails when the transaction layer is full.
                    let _ = self.send_in_dialog(id, request, now);
                }
            }
        }
        for event in dialog_events {
            match event {
                DialogEvent::AckTimeout { bye } => {
                    let _ = self.send_in_dialog(id, *bye, now);
                    self.events.push_back(Event::Ended {
                        call: id,
                        by: Party::Teams,
                        status: None,
                    });
                    self.end_call(id);
                }
                DialogEvent::Terminated { .. } if self.calls.contains_key(&id) => {
                    // A BYE is reported where it is answered; this is a
                    // 481/408 to one of our requests.
                    self.events.push_back(Event::Ended {
                        call: id,
                        by: Party::Sbc,
                        status: None,
                    });
                    self.end_call(id);
                }
                _ => {}
            }
        }
        for event in uac_events {
            match event {
                UacInviteEvent::Confirmed(_) => self.confirm_outbound(id),
                UacInviteEvent::Rejected(status) => {
                    let cancelled = matches!(
                        self.calls.get(&id).map(|c| &c.state),
                        Some(CallState::Calling(c)) if c.cancelled
                    );
                    self.call_failed(id, status, cancelled);
                }
                _ => {}
            }
        }
    }

    /// The SBC answered a call from Teams: ACK, keep the dialog, learn its
    /// next hop and whether it takes REFER.
    fn confirm_outbound(&mut self, id: CallId) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        let ack = match call.state {
            CallState::Calling(calling) => {
                let mut uac = calling.uac;
                let ack = uac.ack(None).ok();
                match uac.into_dialog() {
                    Some(dialog) => {
                        let target = dialog
                            .route_set()
                            .first()
                            .cloned()
                            .unwrap_or_else(|| dialog.remote_target().clone());
                        call.next_hop = wire::destination(&target, self.sbc_port);
                        call.state = CallState::Confirmed(Box::new(dialog));
                        ack
                    }
                    // Confirmed means a dialog exists; without one the call
                    // is over.
                    None => {
                        self.by_call_id.remove(&call.sip_call_id);
                        return;
                    }
                }
            }
            other => {
                call.state = other;
                None
            }
        };
        let answered = ack.is_some();
        self.calls.insert(id, call);
        if let Some(ack) = ack {
            self.send_direct(id, ack);
        }
        if answered {
            self.events.push_back(Event::Answered { call: id });
        }
    }

    /// The call a message belongs to, by Call-ID.
    fn call_of(&self, headers: &sip::Headers) -> Option<CallId> {
        let call_id = headers.call_id().ok()?;
        self.by_call_id.get(call_id).copied()
    }
}

/// Sets an SDP body.
pub(super) fn set_sdp(response: &mut Response, sdp: &Session) {
    response
        .headers
        .set(HeaderName::ContentType, "application/sdp");
    response.body = Bytes::from(sdp.to_string());
}
