//! Transfers asked for by Teams: REFER (RFC 3515, RFC 5589 §6 blind
//! transfer) carried out by the SBC, and INVITE with Replaces (RFC 3891)
//! taking over one of Teams' legs.
//!
//! REFER: 202, a NOTIFY with `message/sipfrag` `100 Trying` (RFC 3515
//! §2.4.4), a new INVITE to the Refer-To target: back into Teams with the
//! URI's `x-m` / `x-t` kept, or out through the tenant's carrier trunk
//! for a PSTN number. Its 2xx connects the remaining party to the new leg
//! (re-INVITE with the new description), a final NOTIFY reports the
//! outcome and the referrer's leg is released with BYE. A failed target
//! leaves the call as it was, with the failure in the NOTIFY.

use std::time::Instant;

use bytes::Bytes;
use sip::{HeaderName, Method, Request, Response, StatusCode};
use sip_core::TransactionKey;

use super::call::{
    Call, CallState, InviteTemplate, Leg, LegDialog, OutboundRoute, OwnReinvite, Purpose,
    ReinviteKind, Topology, Transfer, UacLeg, UasLeg,
};
use super::checks;
use super::codecs;
use super::io::{B2buaEvent, CallId, EndReason, LegId, LegPeer, Source};
use super::sdp_rewrite::{LegSdp, RewriteError, SdpRole};
use super::session_timer::{self, UasTimer};
use super::setup::write_sdp;
use super::wire;
use super::B2bua;
use crate::config::Transport;
use crate::error::MediaError;
use crate::number::E164;
use crate::security::Peer;
use crate::teams::ProxyFailover;
use sdp::Session;

/// What an outbound leg of a call in progress is (see
/// [`B2bua::uac_leg_offering`]).
pub(super) struct NewUacLeg<'a> {
    pub(super) id: LegId,
    pub(super) party: super::Party,
    pub(super) peer: LegPeer,
    /// The peer of the leg whose media the offer is made from
    /// ([`LegPeer::Local`] for switchboard's own): an offer from one that
    /// sends INFO or in-band tones to one that takes RFC 4733 events only
    /// gets a telephone-event, as an INVITE from it would
    /// ([`B2bua::adds_events`]).
    pub(super) source_peer: LegPeer,
    pub(super) transport: Transport,
    pub(super) number: Option<E164>,
    pub(super) contact_user: Option<&'a str>,
    pub(super) template: InviteTemplate,
    pub(super) route: OutboundRoute,
}

/// `Content-Type` of REFER progress reports.
const SIPFRAG: &str = "message/sipfrag;version=2.0";

impl B2bua {
    /// A REFER within `leg_id`'s dialog.
    pub(super) fn on_refer(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        key: &TransactionKey,
        request: &Request,
        now: Instant,
    ) {
        let Some(LegPeer::Teams(tenant_name)) = call.leg(leg_id).map(|l| l.peer.clone()) else {
            // Only Teams asks the SBC to transfer (Direct Routing).
            let response = Response::for_request(request, StatusCode::FORBIDDEN);
            return self.respond(key, response, now);
        };
        // Parties still ringing would join a call whose legs are changing.
        if call.state != CallState::Confirmed || call.transfer.is_some() || !call.parties.is_empty()
        {
            let response = Response::for_request(request, StatusCode::REQUEST_PENDING);
            return self.respond(key, response, now);
        }
        let Some(remaining) = call.peer_of(leg_id) else {
            return;
        };
        let refer_to = match request.headers.refer_to() {
            Ok(Some(refer_to)) => refer_to,
            _ => {
                let response = checks::bad_request(request, "no usable Refer-To");
                return self.respond(key, response, now);
            }
        };
        let Some(scope) = self.router.tenant(&tenant_name) else {
            let response = Response::for_request(request, StatusCode::FORBIDDEN);
            return self.respond(key, response, now);
        };
        let target = match scope.refer_target(&refer_to) {
            Ok(target) => target,
            Err(error) => {
                let mut response = Response::for_request(request, StatusCode::FORBIDDEN);
                response.reason = Bytes::from(format!("Forbidden ({error})"));
                return self.respond(key, response, now);
            }
        };
        let flow = target
            .number
            .as_ref()
            .and_then(|n| match scope.tenant().dids.get(n) {
                Some(crate::config::Destination::Flow(flow)) => Some((n.clone(), flow.clone())),
                _ => None,
            });
        if let Some((did, flow)) = flow {
            return self.refer_to_flow(call, leg_id, key, request, tenant_name, did, flow, now);
        }
        let teams_user = target.number.as_ref().is_some_and(|n| {
            let tenant = scope.tenant();
            tenant.dids.contains_key(n)
                || tenant
                    .dids
                    .values()
                    .any(|d| matches!(d, crate::config::Destination::TeamsUser(u) if u == n))
        });
        let (peer, route, number, to) = if target.x_m.is_some() || teams_user {
            let Some(pinger) = &self.pinger else {
                return;
            };
            let to = format!("<{}>", target.request_uri);
            (
                LegPeer::Teams(tenant_name.clone()),
                OutboundRoute::Teams {
                    failover: ProxyFailover::new(pinger, now),
                    user: target.number.clone(),
                    request_uri: Some(target.request_uri.clone()),
                },
                target.number.clone(),
                to,
            )
        } else {
            let Some(number) = target.number.clone() else {
                return;
            };
            match scope.route_to_pstn(number.as_str()) {
                Ok(out) => {
                    let to = out
                        .request_uris
                        .first()
                        .map_or_else(|| "<sip:invalid.invalid>".to_owned(), |u| format!("<{u}>"));
                    (
                        LegPeer::Trunk(out.trunk.clone()),
                        OutboundRoute::Targets {
                            uris: out.request_uris,
                            transport: out.transport,
                        },
                        Some(number),
                        to,
                    )
                }
                Err(rejection) => return self.reject(key, request, &rejection, now),
            }
        };
        self.accept_refer(call, leg_id, key, request, now);
        self.notify(call, leg_id, StatusCode::TRYING, false, now);

        let referred_by = request
            .headers
            .get(&HeaderName::ReferredBy)
            .map(Bytes::copy_from_slice);
        let new_id = self.next_leg_id();
        let party = call.leg(leg_id).map_or(super::Party::Callee, |l| l.party);
        let remaining_number = call.leg(remaining).and_then(|l| l.number.clone());
        let remaining_peer = call.leg(remaining).map_or(LegPeer::Uri, |l| l.peer.clone());
        let transport = match &route {
            OutboundRoute::Teams { .. } => Transport::Tls,
            OutboundRoute::Targets { transport, .. } => *transport,
            OutboundRoute::Local { .. } => Transport::Udp,
        };
        let template = self.transfer_template(&peer, remaining_number.as_ref(), to, referred_by);
        let contact_user = remaining_number.as_ref().map(|n| n.as_str().to_owned());
        let source = call.leg(remaining).and_then(|l| l.sdp.received());
        let leg = source.and_then(|mut source| {
            // The remaining party may be held while Teams transfers it; the
            // new party is offered a live stream.
            for media in source.media.iter_mut().filter(|m| !m.is_rejected()) {
                media.set_direction(sdp::Direction::SendRecv);
            }
            source.set_direction(None);
            let new = NewUacLeg {
                id: new_id,
                party,
                peer,
                source_peer: remaining_peer,
                transport,
                number,
                contact_user: contact_user.as_deref(),
                template,
                route,
            };
            self.uac_leg_offering(call.id, new, &source).ok()
        });
        let Some(leg) = leg else {
            return self.notify(call, leg_id, StatusCode::SERVICE_UNAVAILABLE, true, now);
        };
        call.legs.push(leg);
        call.transfer = Some(Transfer {
            referrer: leg_id,
            target: new_id,
        });
        if !self.start_attempt(call, new_id, None, None, now) {
            self.transfer_failed(call, StatusCode::SERVICE_UNAVAILABLE, now);
        }
    }

    /// A REFER to one of the tenant's contact-center numbers (a queue's or
    /// a flow's DID): the remaining party goes back into the contact
    /// center. The REFER is accepted and reported done at once (RFC 3515
    /// §2.4.5: 202, then NOTIFY 200), the referrer's leg is ended, and the
    /// call becomes one switchboard answers itself, announced again with
    /// [`B2buaEvent::LocalCallStarted`] so the application runs the flow.
    #[allow(clippy::too_many_arguments)]
    fn refer_to_flow(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        key: &TransactionKey,
        request: &Request,
        tenant: crate::config::TenantName,
        did: E164,
        flow: String,
        now: Instant,
    ) {
        let Some(remaining) = call.peer_of(leg_id) else {
            return;
        };
        self.accept_refer(call, leg_id, key, request, now);
        self.notify(call, leg_id, StatusCode::OK, true, now);
        self.drop_leg(call, leg_id, StatusCode::OK, now);
        // The remaining party is the caller of the call switchboard now
        // answers; the callee position names no leg.
        if let Some(leg) = call.leg_mut(remaining) {
            leg.party = super::Party::Caller;
        }
        call.caller = remaining;
        call.callee = self.next_leg_id();
        call.topology = Topology::Local;
        call.dials.clear();
        call.local = true;
        call.tenant = Some(tenant.clone());
        let caller = call.leg(remaining).and_then(|l| l.number.clone());
        self.events.push_back(B2buaEvent::LocalCallStarted {
            call: call.id,
            leg: remaining,
            codec: super::local::audio_codec(call, remaining),
            tenant,
            did,
            caller,
            flow,
            at: now,
        });
    }

    /// An outbound leg whose INVITE offers `source` rewritten for it
    /// (anchored on the media plane, our SRTP key towards Teams, a
    /// telephone-event added as for an INVITE from `new.source_peer`);
    /// its anchors are released again if the offer cannot be written.
    pub(super) fn uac_leg_offering(
        &mut self,
        call: CallId,
        new: NewUacLeg<'_>,
        source: &Session,
    ) -> Result<Leg, MediaError> {
        let secure = matches!(new.peer, LegPeer::Teams(_));
        let adds_events = self.adds_events(&new.source_peer, &new.peer);
        let sdp = LegSdp::new(secure, self.codec_policy(&new.peer), self.random_u64());
        let mut leg = self.new_leg(
            new.id,
            new.party,
            new.peer,
            new.transport,
            new.number,
            new.contact_user,
            sdp,
            LegDialog::Uac(Box::new(UacLeg {
                template: new.template,
                route: new.route,
                attempt: None,
            })),
        );
        let written = write_sdp(
            &mut *self.media,
            &mut self.random,
            self.gate.stats(),
            call,
            &mut leg,
            source,
            SdpRole::Offer,
            adds_events,
        );
        match written {
            Ok(offer) => {
                if let LegDialog::Uac(uac) = &mut leg.dialog {
                    uac.template.sdp = offer.to_bytes();
                }
                Ok(leg)
            }
            Err(error) => {
                self.media.release(call, new.id);
                Err(match error {
                    RewriteError::Media(error) => error,
                    // An offer is written from what the other leg sent,
                    // whatever its codecs: only anchoring fails.
                    _ => MediaError::Relay("offer not written".to_owned()),
                })
            }
        }
    }

    /// 202 Accepted to a REFER on `leg_id` (RFC 3515 §2.4.2), with our
    /// Contact and, towards Teams, X-MS-SBC.
    fn accept_refer(
        &mut self,
        call: &Call,
        leg_id: LegId,
        key: &TransactionKey,
        request: &Request,
        now: Instant,
    ) {
        let mut accepted = Response::for_request(request, StatusCode::ACCEPTED);
        if let Some(leg) = call.leg(leg_id) {
            accepted
                .headers
                .push(HeaderName::Contact, leg.contact.clone());
        }
        if let Some(teams) = &self.config.teams {
            accepted
                .headers
                .push(HeaderName::from("X-MS-SBC"), teams.x_ms_sbc.clone());
        }
        self.respond(key, accepted, now);
    }

    /// From, To and headers of the INVITE to a transfer target.
    pub(super) fn transfer_template(
        &self,
        peer: &LegPeer,
        remaining_number: Option<&E164>,
        to: String,
        referred_by: Option<Bytes>,
    ) -> InviteTemplate {
        let anonymous = "<sip:anonymous@anonymous.invalid>".to_owned();
        let mut headers: Vec<(HeaderName, Bytes)> = vec![(
            HeaderName::Allow,
            Bytes::from_static(checks::ALLOW.as_bytes()),
        )];
        let from = match peer {
            LegPeer::Teams(tenant) => {
                if let Some(teams) = &self.config.teams {
                    headers.push((
                        HeaderName::from("X-MS-SBC"),
                        Bytes::from(teams.x_ms_sbc.clone()),
                    ));
                }
                if let Some(referred_by) = referred_by {
                    headers.push((HeaderName::ReferredBy, referred_by));
                }
                let fqdn = self.teams_host(tenant).map(|(f, _)| f).unwrap_or_default();
                remaining_number.map_or(anonymous, |n| format!("<sip:{n}@{fqdn};user=phone>"))
            }
            LegPeer::Trunk(name) => match self.config.trunks.get(name) {
                Some(trunk) => {
                    for (header, value) in &trunk.headers.add {
                        headers.push((
                            HeaderName::from(header.as_str()),
                            Bytes::from(value.clone()),
                        ));
                    }
                    let host = self.local_host(trunk.transport);
                    remaining_number.map_or(anonymous, |n| {
                        format!("<sip:{}@{host}>", trunk.numbers.format(n))
                    })
                }
                None => anonymous,
            },
            LegPeer::Uri | LegPeer::Local => anonymous,
        };
        InviteTemplate {
            from,
            to,
            max_forwards: 70,
            headers,
            sdp: Bytes::new(),
        }
    }

    /// A NOTIFY of the REFER's progress on `leg` (RFC 3515 §2.4.5).
    fn notify(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        status: StatusCode,
        last: bool,
        now: Instant,
    ) {
        let expires = self.settings.refer_expires.as_secs();
        let built = call
            .leg_mut(leg_id)
            .and_then(|l| l.dialog_mut())
            .map(|d| d.request(Method::Notify, now));
        let Some(Ok(mut notify)) = built else {
            return;
        };
        notify.headers.push(HeaderName::Event, "refer");
        let state = if last {
            "terminated;reason=noresource".to_owned()
        } else {
            format!("active;expires={expires}")
        };
        notify.headers.push(HeaderName::SubscriptionState, state);
        notify.headers.set(HeaderName::ContentType, SIPFRAG);
        notify.body = wire::sipfrag(status);
        self.send_in_dialog(call, leg_id, notify, None, now);
    }

    /// The transfer target answered: it takes the referrer's place.
    pub(super) fn complete_transfer(&mut self, call: &mut Call, now: Instant) {
        let Some(transfer) = call.transfer.take() else {
            return;
        };
        let Some(party) = call.leg(transfer.referrer).map(|l| l.party) else {
            return;
        };
        let remaining = call.party_leg(party.other());
        self.notify(call, transfer.referrer, StatusCode::OK, true, now);
        match party {
            super::Party::Caller => call.caller = transfer.target,
            super::Party::Callee => call.callee = transfer.target,
        }
        self.drop_leg(call, transfer.referrer, StatusCode::OK, now);
        self.connect(call, remaining, transfer.target, now);
        let to = call
            .leg(transfer.target)
            .map_or(LegPeer::Uri, |l| l.peer.clone());
        self.events.push_back(B2buaEvent::CallTransferred {
            call: call.id,
            party,
            to,
            at: now,
        });
    }

    /// Media now flows between `remaining` and `new`: the remaining party
    /// is re-offered the new leg's description (its codecs, live again if
    /// it was held for the transfer), or its own codec again when the new
    /// leg was given its own list (the relay transcodes: an answer names
    /// only the codec its peer chose, `codecs`). A
    /// telephone-event the new leg was offered for want of one from the
    /// remaining party ([`NewUacLeg::source_peer`]) stays out of it.
    fn connect(&mut self, call: &mut Call, remaining: LegId, new: LegId, now: Instant) {
        self.update_media(call, new);
        self.media.bridge(call.id, remaining, new);
        let mut source = call.leg(new).and_then(|l| l.sdp.received());
        let transcoded = call.leg(new).map(|l| l.sdp.transcoded_streams());
        let call_id = call.id;
        let (adds_events, added_to_new) = match (call.leg(new), call.leg(remaining)) {
            (Some(n), Some(r)) => (
                self.adds_events(&n.peer, &r.peer),
                self.adds_events(&r.peer, &n.peer),
            ),
            _ => (false, false),
        };
        let remaining_sdp = call.leg(remaining).and_then(|l| l.sdp.received());
        if let (true, Some(source), Some(remaining_sdp)) =
            (added_to_new, &mut source, remaining_sdp)
        {
            for (media, theirs) in source.media.iter_mut().zip(&remaining_sdp.media) {
                codecs::drop_added_events(media, theirs);
            }
        }
        if let (Some(source), Some(leg)) = (source, call.leg_mut(remaining)) {
            // Stays in force if the re-offer fails (RFC 3261 §14.1).
            let before = leg.sdp.local_description();
            leg.sdp
                .set_transcoded_streams(transcoded.unwrap_or_default());
            let written = write_sdp(
                &mut *self.media,
                &mut self.random,
                self.gate.stats(),
                call_id,
                leg,
                &source,
                SdpRole::OfferFromAnswer,
                adds_events,
            );
            if written.is_ok() {
                self.send_reoffer(call, remaining, before, now);
            } else {
                leg.sdp.withdraw_offer(before);
            }
        }
        self.count_transcoding(call, remaining, new);
    }

    /// The transfer target could not be reached: the NOTIFY says why and
    /// the call stays as it was (or ends, if the referrer already left).
    pub(super) fn transfer_failed(&mut self, call: &mut Call, status: StatusCode, now: Instant) {
        let Some(transfer) = call.transfer.take() else {
            return;
        };
        self.notify(call, transfer.referrer, status, true, now);
        self.drop_leg(call, transfer.target, status, now);
        let referrer_alive = call
            .leg(transfer.referrer)
            .and_then(|l| l.confirmed())
            .is_some_and(|d| d.state() == sip_core::DialogState::Confirmed);
        if !referrer_alive {
            let party = call
                .leg(transfer.referrer)
                .map_or(super::Party::Callee, |l| l.party);
            self.end_call(call, EndReason::Hangup(party), now);
        }
    }

    /// An INVITE with Replaces (RFC 3891 §3): from Teams, for one of our
    /// confirmed Teams legs; the new leg's offer goes to the remaining
    /// party as a re-INVITE, whose answer answers the new INVITE.
    pub(super) fn on_replaces(
        &mut self,
        key: TransactionKey,
        request: Request,
        source: &Source,
        peer: &Peer,
        now: Instant,
    ) {
        self.respond(
            &key,
            Response::for_request(&request, StatusCode::TRYING),
            now,
        );
        if *peer != Peer::Teams {
            let response = Response::for_request(&request, StatusCode::FORBIDDEN);
            return self.respond(&key, response, now);
        }
        let found = match request.headers.replaces() {
            Ok(Some(replaces)) => {
                let by = |tag: &str| {
                    self.dialogs
                        .get(&(replaces.call_id.to_owned(), tag.to_owned()))
                        .copied()
                };
                by(replaces.to_tag).or_else(|| by(replaces.from_tag))
            }
            _ => {
                let response = checks::bad_request(&request, "unreadable Replaces");
                return self.respond(&key, response, now);
            }
        };
        let no_dialog =
            Response::for_request(&request, StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST);
        let Some((call_id, old)) = found else {
            return self.respond(&key, no_dialog, now);
        };
        let Some(mut call) = self.calls.remove(&call_id) else {
            return self.respond(&key, no_dialog, now);
        };
        let usable = call.state == CallState::Confirmed
            && call.topology == Topology::Paired
            && call.parties.is_empty()
            && call.transfer.is_none()
            && call
                .leg(old)
                .is_some_and(|l| l.is_teams() && l.confirmed().is_some())
            && [call.caller, call.callee].contains(&old);
        if !usable {
            self.put_back(call);
            return self.respond(&key, no_dialog, now);
        }
        let Some(offer) = wire::sdp_body(&request.headers, &request.body) else {
            self.put_back(call);
            let response = Response::for_request(&request, StatusCode::NOT_ACCEPTABLE_HERE);
            return self.respond(&key, response, now);
        };
        let timer = session_timer::negotiate_as_uas(&request, &self.settings);
        if let UasTimer::TooSmall(min_se) = timer {
            self.put_back(call);
            let mut response =
                Response::for_request(&request, StatusCode::SESSION_INTERVAL_TOO_SMALL);
            response.headers.push(HeaderName::MinSe, min_se.to_string());
            return self.respond(&key, response, now);
        }
        let Some(old_leg) = call.leg(old) else {
            return self.put_back(call);
        };
        let (party, peer, number) = (old_leg.party, old_leg.peer.clone(), old_leg.number.clone());
        let remaining = call.party_leg(party.other());
        let contact_user = call
            .leg(remaining)
            .and_then(|l| l.number.as_ref().map(|n| n.as_str().to_owned()));
        let new_id = self.next_leg_id();
        let local_tag = sip::new_tag();
        let sdp = LegSdp::new(true, self.codec_policy(&peer), self.random_u64());
        let leg = self.new_leg(
            new_id,
            party,
            peer,
            Transport::Tls,
            number,
            contact_user.as_deref(),
            sdp,
            LegDialog::Uas(Box::new(UasLeg {
                invite: request.clone(),
                invite_key: key.clone(),
                reply: source.reply_hop(),
                local_tag: local_tag.clone(),
                dialog: None,
                answered: false,
                finished: false,
                timer,
            })),
        );
        call.legs.push(leg);
        if let Ok(sip_call_id) = request.headers.call_id() {
            let sip_call_id = sip_call_id.to_owned();
            self.index_dialog(&mut call, new_id, sip_call_id, local_tag);
        }
        self.index_invite(&mut call, new_id, key.clone());
        let Some(before) = call.leg(remaining).map(|l| l.sdp.local_description()) else {
            return self.put_back(call);
        };
        let offer = self.rewrite_across(&mut call, new_id, remaining, &offer, SdpRole::Offer);
        let built = call
            .leg_mut(remaining)
            .and_then(|l| l.dialog_mut())
            .map(|d| d.request(Method::Invite, now));
        match (offer, built) {
            (Ok(offer), Some(Ok(mut reinvite))) => {
                reinvite.headers.set(HeaderName::ContentType, wire::SDP);
                reinvite.body = offer.to_bytes();
                let purpose = Purpose::Replaces {
                    call: call_id,
                    leg: remaining,
                    new: new_id,
                };
                let sent = self
                    .send_in_dialog(&call, remaining, reinvite, Some(purpose), now)
                    .is_some();
                if let Some(leg) = call.leg_mut(remaining) {
                    if sent {
                        leg.own_reinvite = Some(OwnReinvite::Proceeding {
                            kind: ReinviteKind::Replaces,
                            before,
                            retries: 0,
                        });
                    } else {
                        leg.sdp.withdraw_offer(before);
                    }
                }
            }
            _ => {
                if let Some(leg) = call.leg_mut(remaining) {
                    leg.sdp.withdraw_offer(before);
                }
                self.update_media(&call, remaining);
                self.drop_leg(&mut call, new_id, StatusCode::REQUEST_PENDING, now);
            }
        }
        self.put_back(call);
    }

    /// The remaining party answered the re-INVITE made for an INVITE with
    /// Replaces.
    pub(super) fn on_replaces_response(
        &mut self,
        call_id: CallId,
        remaining: LegId,
        new: LegId,
        response: &Response,
        now: Instant,
    ) {
        let Some(mut call) = self.take_call_with_response(call_id, remaining, response, now) else {
            return;
        };
        let status = response.status;
        if status.is_provisional() {
            return self.put_back(call);
        }
        // On a failure the remaining party keeps its session (RFC 3261
        // §14.1): our description of its leg goes back too.
        self.own_reinvite_ended(&mut call, remaining, status);
        if !status.is_success() {
            self.drop_leg(&mut call, new, wire::map_final(status), now);
            return self.put_back(call);
        }
        self.ack_leg(&mut call, remaining);
        if call.topology != Topology::Paired {
            // A party joined meanwhile: the call is mixed, nothing to replace.
            self.drop_leg(&mut call, new, StatusCode::REQUEST_PENDING, now);
            return self.put_back(call);
        }
        if let Some(leg) = call.leg_mut(remaining) {
            if let Some(timer) = session_timer::from_2xx(response, now) {
                leg.timer = Some(timer);
            }
        }
        let answer = match wire::sdp_body(&response.headers, &response.body) {
            Some(body) => self
                .rewrite_across(&mut call, remaining, new, &body, SdpRole::Answer)
                .ok(),
            None => None,
        };
        let Some(party) = call.leg(new).map(|l| l.party) else {
            return self.put_back(call);
        };
        self.respond_uas(&mut call, new, StatusCode::OK, answer, None, now);
        let old = call.party_leg(party);
        match party {
            super::Party::Caller => call.caller = new,
            super::Party::Callee => call.callee = new,
        }
        self.drop_leg(&mut call, old, StatusCode::OK, now);
        // Transcoded from now on only where the two codecs differ.
        let differ = match (call.leg(remaining), call.leg(new)) {
            (Some(r), Some(n)) => r.sdp.codecs_differ(&n.sdp),
            _ => Vec::new(),
        };
        for leg in [remaining, new] {
            if let Some(leg) = call.leg_mut(leg) {
                leg.sdp.set_transcoded_streams(differ.clone());
            }
        }
        self.media.bridge(call_id, remaining, new);
        self.count_transcoding(&call, remaining, new);
        let to = call.leg(new).map_or(LegPeer::Uri, |l| l.peer.clone());
        self.events.push_back(B2buaEvent::CallTransferred {
            call: call_id,
            party,
            to,
            at: now,
        });
        self.put_back(call);
    }
}
