//! Calls out of a call switchboard answered itself: the contact center
//! rings an agent's Teams user for a caller waiting in a flow or queue.
//!
//! [`B2bua::dial`] adds an outbound leg to the call: an INVITE through the
//! Direct Routing trunk of the call's tenant (Request-URI
//! `sip:+E164@<Teams proxy>;user=phone`, the tenant's SBC FQDN in Contact,
//! From the caller's number, X-MS-SBC), failing over between the Teams
//! proxies as any call to Teams. Its SDP offer is the caller's own offer
//! narrowed to the codec switchboard answered the caller with (plus
//! telephone-event; added when the caller's trunk sends INFO or in-band
//! tones and offered none, as for an INVITE from it: module `codecs`),
//! anchored on the media plane with our SRTP key, so
//! that once the agent answers the relay bridges the two legs without
//! transcoding; if the target may not take that codec (a trunk's
//! `codecs`), it is offered its own list and the relay transcodes
//! (module `codecs`). Several legs may ring at once (ring-all); the first to
//! answer is bridged and the others are cancelled (RFC 3261 §9.1). The
//! application hears [`B2buaEvent::DialProgress`], `DialAnswered` and
//! `DialFailed`, and may give up on a leg with [`B2bua::cancel_dial`]
//! (agent alert time over). After an answer the call is an ordinary
//! two-party call: BYE from either side ends it, re-INVITEs are relayed,
//! and REFER from the agent's Teams client transfers the caller.
//!
//! The same outbound legs serve [`B2bua::add_party`] (`parties`) and
//! [`B2bua::originate`] (`originate`); this module routes them, offers
//! them media and reports their outcome.

use std::time::Instant;

use sdp::Session;
use sip::StatusCode;

use super::call::{Call, CallState, LegDialog, OutboundRoute, Topology};
use super::io::{B2buaEvent, CallId, EndReason, LegId, LegPeer, Party};
use super::local::audio_codec;
use super::transfer::NewUacLeg;
use super::B2bua;
use crate::config::{TenantName, Transport, TrunkName};
use crate::error::DialError;
use crate::number::E164;
use crate::teams::ProxyFailover;

/// Whom [`B2bua::dial`] rings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialTarget {
    /// A Teams user of the call's tenant, by the phone number assigned to
    /// them (Direct Routing routes it to the user's Teams clients).
    TeamsUser(E164),
    /// A number on the PSTN, through the tenant's carrier trunk and dial
    /// plan (as a Teams user's own call to it would go).
    Pstn(E164),
}

/// Where an outbound leg of a contact-center call goes.
pub(super) struct DialRoute {
    pub(super) peer: LegPeer,
    pub(super) route: OutboundRoute,
    /// The number rung.
    pub(super) number: E164,
    /// The To header.
    pub(super) to: String,
    pub(super) transport: Transport,
    /// The carrier trunk used, for admission.
    pub(super) trunk: Option<TrunkName>,
}

impl B2bua {
    /// Rings `target` for `call`, a call switchboard answered itself and
    /// no dialled leg has answered yet. Returns the new leg, named again
    /// in the `Dial*` events.
    pub fn dial(
        &mut self,
        call: CallId,
        target: DialTarget,
        now: Instant,
    ) -> Result<LegId, DialError> {
        self.dial_as(call, target, None, now)
    }

    /// As [`B2bua::dial`], with `caller_id` as the From number the target
    /// sees (`None`: the caller's number). For an originated call whose
    /// caller is an agent, e.g. the tenant's DID towards the customer.
    pub fn dial_as(
        &mut self,
        call: CallId,
        target: DialTarget,
        caller_id: Option<E164>,
        now: Instant,
    ) -> Result<LegId, DialError> {
        self.with_call(call, DialError::NoSuchCall, now, |b2bua, call| {
            b2bua.dial_in(call, target, caller_id, now)
        })
    }

    /// Stops ringing `leg` of `call` (CANCEL); `DialFailed` with 487
    /// follows (and `CallEnded` for the first leg of an originated call).
    /// A leg that is not ringing is left alone.
    pub fn cancel_dial(&mut self, call: CallId, leg: LegId, now: Instant) {
        let Some(mut taken) = self.calls.remove(&call) else {
            return;
        };
        if taken.dials.contains(&leg) || taken.parties.contains(&leg) {
            self.give_up_dial(&mut taken, leg, now);
        }
        self.put_back(taken);
        self.drain(now, None);
    }

    /// Cancels the ringing `leg`: 487 reported, an originated call ended.
    pub(super) fn give_up_dial(&mut self, call: &mut Call, leg: LegId, now: Instant) {
        let status = StatusCode::REQUEST_TERMINATED;
        if leg == call.caller {
            self.originate_failed(call, leg, status, EndReason::Local, now);
        } else {
            self.dial_failed(call, leg, status, now);
        }
    }

    fn dial_in(
        &mut self,
        call: &mut Call,
        target: DialTarget,
        caller_id: Option<E164>,
        now: Instant,
    ) -> Result<LegId, DialError> {
        if !call.answers_itself() || call.state != CallState::Confirmed {
            return Err(DialError::NotLocal);
        }
        let tenant = call.tenant.clone().ok_or(DialError::NoTeams)?;
        let route = self.dial_route(&tenant, target, now)?;
        let source = offer_source(call, call.caller).ok_or(DialError::NotLocal)?;
        let caller = call.leg(call.caller);
        let source_peer = caller.map_or(LegPeer::Local, |l| l.peer.clone());
        let from = caller_id.or_else(|| caller.and_then(|l| l.number.clone()));
        let id = self.place_leg(call, route, from.as_ref(), (&source, source_peer), now)?;
        call.dials.push(id);
        Ok(id)
    }

    /// Where `target` is reached for `tenant`: a Teams user through
    /// Direct Routing, a PSTN number through the tenant's carrier trunk
    /// and dial plan.
    pub(super) fn dial_route(
        &self,
        tenant: &TenantName,
        target: DialTarget,
        now: Instant,
    ) -> Result<DialRoute, DialError> {
        match target {
            DialTarget::TeamsUser(user) => {
                let pinger = self.pinger.as_ref().ok_or(DialError::NoTeams)?;
                let proxy = self
                    .config
                    .teams
                    .as_ref()
                    .and_then(|t| t.proxies.first())
                    .map(|p| p.fqdn.clone())
                    .ok_or(DialError::NoTeams)?;
                Ok(DialRoute {
                    peer: LegPeer::Teams(tenant.clone()),
                    route: OutboundRoute::Teams {
                        failover: ProxyFailover::new(pinger, now),
                        user: Some(user.clone()),
                        request_uri: None,
                    },
                    to: format!("<sip:{user}@{proxy};user=phone>"),
                    number: user,
                    transport: Transport::Tls,
                    trunk: None,
                })
            }
            DialTarget::Pstn(number) => {
                let scope = self.router.tenant(tenant).ok_or(DialError::NoTeams)?;
                let out = scope
                    .route_to_pstn(number.as_str())
                    .map_err(|rejection| DialError::Refused(rejection.status.0))?;
                let to = out
                    .request_uris
                    .first()
                    .map_or_else(|| "<sip:invalid.invalid>".to_owned(), |u| format!("<{u}>"));
                let transport = out.transport;
                Ok(DialRoute {
                    peer: LegPeer::Trunk(out.trunk.clone()),
                    route: OutboundRoute::Targets {
                        uris: out.request_uris,
                        transport,
                    },
                    number,
                    to,
                    transport,
                    trunk: Some(out.trunk),
                })
            }
        }
    }

    /// Adds an outbound leg to `call` along `route`, From `from_number`
    /// (the tenant's FQDN or our carrier-facing host), offering `source`
    /// anchored for it, and sends its INVITE. `source` comes with the
    /// peer of the leg it was taken from ([`LegPeer::Local`]: made here),
    /// which decides whether the offer gets a telephone-event
    /// ([`NewUacLeg::source_peer`]).
    pub(super) fn place_leg(
        &mut self,
        call: &mut Call,
        route: DialRoute,
        from_number: Option<&E164>,
        (source, source_peer): (&Session, LegPeer),
        now: Instant,
    ) -> Result<LegId, DialError> {
        let template = self.transfer_template(&route.peer, from_number, route.to, None);
        let id = self.next_leg_id();
        let contact_user = from_number.map(|n| n.as_str().to_owned());
        let new = NewUacLeg {
            id,
            party: Party::Callee,
            peer: route.peer,
            source_peer,
            transport: route.transport,
            number: Some(route.number),
            contact_user: contact_user.as_deref(),
            template,
            route: route.route,
        };
        let leg = self.uac_leg_offering(call.id, new, source)?;
        call.legs.push(leg);
        if !self.start_attempt(call, id, None, None, now) {
            self.drop_leg(call, id, StatusCode::SERVICE_UNAVAILABLE, now);
            return Err(DialError::Unreachable);
        }
        Ok(id)
    }

    /// `DialAnswered` for `leg`, with the codec it talks.
    pub(super) fn report_dial_answered(&mut self, call: &Call, leg: LegId, now: Instant) {
        self.events.push_back(B2buaEvent::DialAnswered {
            call: call.id,
            leg,
            codec: audio_codec(call, leg),
            at: now,
        });
    }

    pub(super) fn dial_progress(&mut self, call: &Call, leg: LegId, status: StatusCode) {
        self.events.push_back(B2buaEvent::DialProgress {
            call: call.id,
            leg,
            status,
        });
    }

    /// A dialled leg answered (its ACK is sent, its answer taken): the
    /// first leg of an originated call is up; otherwise the other dialled
    /// legs are cancelled and the leg is bridged with the caller, or joins
    /// the parties of a call that became mixed while it rang.
    pub(super) fn dial_answered(&mut self, call: &mut Call, leg_id: LegId, now: Instant) {
        call.dials.retain(|l| *l != leg_id);
        if leg_id == call.caller {
            return self.originate_answered(call, leg_id, now);
        }
        for other in std::mem::take(&mut call.dials) {
            self.dial_failed_leg(call, other, StatusCode::REQUEST_TERMINATED, now);
        }
        if call.topology != Topology::Local {
            return self.party_answered(call, leg_id, now);
        }
        call.callee = leg_id;
        call.topology = Topology::Paired;
        call.hangup_at = self.settings.max_call_duration.map(|max| now + max);
        // The caller keeps its codec on later re-offers if the agent was
        // given its own.
        let transcoded = call.leg(leg_id).map(|l| l.sdp.transcoded_streams());
        if let (Some(transcoded), Some(caller)) = (transcoded, call.leg_mut(call.caller)) {
            caller.sdp.set_transcoded_streams(transcoded);
        }
        self.update_media(call, leg_id);
        self.media.bridge(call.id, call.caller, leg_id);
        self.count_transcoding(call, call.caller, leg_id);
        self.report_dial_answered(call, leg_id, now);
    }

    /// A dialled leg or added party failed or is given up: it leaves the
    /// call, which goes on without it.
    pub(super) fn dial_failed(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        status: StatusCode,
        now: Instant,
    ) {
        call.dials.retain(|l| *l != leg_id);
        call.parties.retain(|l| *l != leg_id);
        self.dial_failed_leg(call, leg_id, status, now);
    }

    /// `leg_id` is dropped from `call` and reported failed with `status`.
    pub(super) fn dial_failed_leg(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        status: StatusCode,
        now: Instant,
    ) {
        self.drop_leg(call, leg_id, status, now);
        self.events.push_back(B2buaEvent::DialFailed {
            call: call.id,
            leg: leg_id,
            status,
            at: now,
        });
    }
}

/// Whether a transfer is under way: a REFER's target ringing, or an
/// INVITE with Replaces waiting for the remaining party's answer.
pub(super) fn transferring(call: &Call) -> bool {
    call.transfer.is_some()
        || call.legs.iter().any(|l| {
            l.id != call.caller && matches!(&l.dialog, LegDialog::Uas(uas) if !uas.finished)
        })
}

/// What `leg`'s peer sent narrowed to what was agreed with it: the codec
/// the relay carries unchanged once another leg is bridged with it (the
/// first voice codec both sides listed), comfort noise and
/// telephone-event. Streams are offered live (`sendrecv`).
pub(super) fn offer_source(call: &Call, leg: LegId) -> Option<Session> {
    let leg = call.leg(leg)?;
    let mut offer = leg.sdp.received()?;
    let ours = leg.sdp.sent()?;
    for (media, agreed) in offer.media.iter_mut().zip(&ours.media) {
        if media.is_rejected() {
            continue;
        }
        let kept: Vec<u8> = agreed.payload_types().collect();
        let mut voice = 0;
        let refused: Vec<u8> = media
            .payload_types()
            .filter(|pt| {
                if !kept.contains(pt) {
                    return true;
                }
                let is_voice = media
                    .codec(*pt)
                    .is_none_or(|c| !c.is_telephone_event() && !c.is_comfort_noise());
                if is_voice {
                    voice += 1;
                }
                is_voice && voice > 1
            })
            .collect();
        for pt in refused {
            media.remove_payload_type(pt);
        }
        media.set_direction(sdp::Direction::SendRecv);
    }
    offer.set_direction(None);
    Some(offer)
}
