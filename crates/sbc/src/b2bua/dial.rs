//! Calls out of a call switchboard answered itself: the contact center
//! rings an agent's Teams user for a caller waiting in a flow or queue.
//!
//! [`B2bua::dial`] adds an outbound leg to the call: an INVITE through the
//! Direct Routing trunk of the call's tenant (Request-URI
//! `sip:+E164@<Teams proxy>;user=phone`, the tenant's SBC FQDN in Contact,
//! From the caller's number, X-MS-SBC), failing over between the Teams
//! proxies as any call to Teams. Its SDP offer is the caller's own offer
//! narrowed to the codec switchboard answered the caller with (plus
//! telephone-event), anchored on the media plane with our SRTP key, so
//! that once the agent answers the relay bridges the two legs without
//! transcoding. Several legs may ring at once (ring-all); the first to
//! answer is bridged and the others are cancelled (RFC 3261 §9.1). The
//! application hears [`B2buaEvent::DialProgress`], `DialAnswered` and
//! `DialFailed`, and may give up on a leg with [`B2bua::cancel_dial`]
//! (agent alert time over). After an answer the call is an ordinary
//! two-party call: BYE from either side ends it, re-INVITEs are relayed,
//! and REFER from the agent's Teams client transfers the caller.

use std::time::Instant;

use sdp::Session;
use sip::{Response, StatusCode};

use super::call::{Call, CallState, OutboundRoute};
use super::io::{B2buaEvent, CallId, LegId, LegPeer, Party};
use super::transfer::NewUacLeg;
use super::wire;
use super::B2bua;
use crate::config::Transport;
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
        let mut taken = self.calls.remove(&call).ok_or(DialError::NoSuchCall)?;
        let result = self.dial_in(&mut taken, target, now);
        self.put_back(taken);
        self.drain(now, None);
        result
    }

    /// Stops ringing `leg` of `call` (CANCEL); `DialFailed` with 487
    /// follows. A leg that is not ringing is left alone.
    pub fn cancel_dial(&mut self, call: CallId, leg: LegId, now: Instant) {
        let Some(mut taken) = self.calls.remove(&call) else {
            return;
        };
        if taken.dials.contains(&leg) {
            self.dial_failed(&mut taken, leg, StatusCode::REQUEST_TERMINATED, now);
        }
        self.put_back(taken);
        self.drain(now, None);
    }

    fn dial_in(
        &mut self,
        call: &mut Call,
        target: DialTarget,
        now: Instant,
    ) -> Result<LegId, DialError> {
        if !call.answers_itself() || call.state != CallState::Confirmed {
            return Err(DialError::NotLocal);
        }
        let tenant = call.tenant.clone().ok_or(DialError::NoTeams)?;
        let (peer, route, number, to, transport) = match target {
            DialTarget::TeamsUser(user) => {
                let pinger = self.pinger.as_ref().ok_or(DialError::NoTeams)?;
                let proxy = self
                    .config
                    .teams
                    .as_ref()
                    .and_then(|t| t.proxies.first())
                    .map(|p| p.fqdn.clone())
                    .ok_or(DialError::NoTeams)?;
                let route = OutboundRoute::Teams {
                    failover: ProxyFailover::new(pinger, now),
                    user: Some(user.clone()),
                    request_uri: None,
                };
                let to = format!("<sip:{user}@{proxy};user=phone>");
                (LegPeer::Teams(tenant), route, user, to, Transport::Tls)
            }
            DialTarget::Pstn(number) => {
                let scope = self.router.tenant(&tenant).ok_or(DialError::NoTeams)?;
                let out = scope
                    .route_to_pstn(number.as_str())
                    .map_err(|rejection| DialError::Refused(rejection.status.0))?;
                let to = out
                    .request_uris
                    .first()
                    .map_or_else(|| "<sip:invalid.invalid>".to_owned(), |u| format!("<{u}>"));
                let transport = out.transport;
                let route = OutboundRoute::Targets {
                    uris: out.request_uris,
                    transport,
                };
                (LegPeer::Trunk(out.trunk), route, number, to, transport)
            }
        };
        let source = agent_offer_source(call).ok_or(DialError::NotLocal)?;
        let caller_number = call.leg(call.caller).and_then(|l| l.number.clone());
        let template = self.transfer_template(&peer, caller_number.as_ref(), to, None);
        let id = self.next_leg_id();
        let contact_user = caller_number.as_ref().map(|n| n.as_str().to_owned());
        let new = NewUacLeg {
            id,
            party: Party::Callee,
            peer,
            transport,
            number: Some(number),
            contact_user: contact_user.as_deref(),
            template,
            route,
        };
        let leg = self.uac_leg_offering(call.id, new, &source)?;
        call.legs.push(leg);
        call.dials.push(id);
        if !self.start_attempt(call, id, None, None, now) {
            call.dials.retain(|l| *l != id);
            self.drop_leg(call, id, StatusCode::SERVICE_UNAVAILABLE, now);
            return Err(DialError::Unreachable);
        }
        Ok(id)
    }

    pub(super) fn dial_progress(&mut self, call: &Call, leg: LegId, status: StatusCode) {
        self.events.push_back(B2buaEvent::DialProgress {
            call: call.id,
            leg,
            status,
        });
    }

    /// A dialled leg answered (its ACK is sent): bridge it with the
    /// caller, cancel the other dialled legs.
    pub(super) fn dial_answered(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        response: &Response,
        now: Instant,
    ) {
        call.dials.retain(|l| *l != leg_id);
        for other in std::mem::take(&mut call.dials) {
            self.dial_failed_leg(call, other, StatusCode::REQUEST_TERMINATED, now);
        }
        if let (Some(body), Some(leg)) = (
            wire::sdp_body(&response.headers, &response.body),
            call.leg_mut(leg_id),
        ) {
            let _ = leg.sdp.receive(&body);
        }
        call.callee = leg_id;
        call.agent = Some(leg_id);
        call.hangup_at = self.settings.max_call_duration.map(|max| now + max);
        self.update_media(call, leg_id);
        self.media.bridge(call.id, call.caller, leg_id);
        self.events.push_back(B2buaEvent::DialAnswered {
            call: call.id,
            leg: leg_id,
            at: now,
        });
    }

    /// A dialled leg failed or is given up: it leaves the call, which goes
    /// on with the caller alone.
    pub(super) fn dial_failed(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        status: StatusCode,
        now: Instant,
    ) {
        call.dials.retain(|l| *l != leg_id);
        self.dial_failed_leg(call, leg_id, status, now);
    }

    fn dial_failed_leg(
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

/// The caller's offer narrowed to what switchboard answered it with: the
/// codec the relay will carry unchanged once an agent answers, and
/// telephone-event. Streams are offered live (`sendrecv`).
fn agent_offer_source(call: &Call) -> Option<Session> {
    let caller = call.leg(call.caller)?;
    let mut offer = caller.sdp.received()?;
    let answer = caller.sdp.sent()?;
    for (media, answered) in offer.media.iter_mut().zip(&answer.media) {
        if media.is_rejected() {
            continue;
        }
        let kept: Vec<u8> = answered.payload_types().collect();
        let refused: Vec<u8> = media
            .payload_types()
            .filter(|pt| !kept.contains(pt))
            .collect();
        for pt in refused {
            media.remove_payload_type(pt);
        }
        media.set_direction(sdp::Direction::SendRecv);
    }
    offer.set_direction(None);
    Some(offer)
}
