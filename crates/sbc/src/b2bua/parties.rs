//! Calls with more than two parties: 3-way calls, consults, supervisors.
//!
//! [`B2bua::add_party`] rings one more leg for a contact-center call (one
//! switchboard answered or originated) that is answered: a local call, a
//! two-party call or a mixed one. It is offered what [`B2bua::dial`]
//! offers (the codec agreed with the caller, SRTP with SDES towards
//! Teams) and rings on its own: its answer cancels nobody. Once it answers
//! the call is *mixed* ([`Topology::Mixed`]): every member talks to
//! switchboard, whose application mixes their media through the relay.
//! The B2BUA then relays nothing between legs: a re-INVITE or UPDATE on a
//! member is answered on its own leg (our anchor and codec kept, hold
//! mirrored per RFC 3264 §8.4, `o=` version moved on), INFO goes to the
//! application, REFER is refused (403), and a BYE ends that leg only
//! ([`B2buaEvent::PartyLeft`]; RFC 3261 §15.1.2). Session timers stay per
//! leg (RFC 4028): an expired session or a lost dialog ends its leg only.
//!
//! How the topology moves:
//! - a party answers: local or paired -> mixed (a paired call's bridge is
//!   lifted with [`MediaAnchor::unbridge`](super::MediaAnchor::unbridge));
//! - a member leaves ([`B2bua::hang_up_party`], its BYE): with one member
//!   left the call is local again with that member as its caller (the
//!   application may `dial` for it); with none it ends
//!   ([`B2buaEvent::CallEnded`], no `PartyLeft`);
//! - [`B2bua::pair`]`(a, b)`: two-party again, `a` in the caller's
//!   position and `b` in the callee's (whatever they held before),
//!   bridged with [`MediaAnchor::bridge`](super::MediaAnchor::bridge)`(a,
//!   b)`: re-INVITEs are relayed between them and a BYE from one ends the
//!   other. No re-INVITE is sent: the legs keep their codecs, and where
//!   they differ (a leg given its own list, module `codecs`) the relay
//!   transcodes, as their [`StreamCodec`](super::StreamCodec)s show.

use std::time::Instant;

use sip::StatusCode;

use super::call::{Call, CallState, Topology};
use super::dial::{offer_source, transferring};
use super::io::{B2buaEvent, CallId, EndReason, LegId, LegPeer, Party};
use super::{B2bua, DialTarget};
use crate::error::{DialError, PartyError};
use crate::number::E164;

impl B2bua {
    /// Rings `target` as one more party of `call`, a call switchboard
    /// answered or originated, once it is answered. `caller_id` is the
    /// From number it sees (`None`: the caller's, as [`B2bua::dial`]).
    /// Returns the new leg: `DialProgress`, then `DialAnswered` (the call
    /// is mixed from then on) or `DialFailed` follow; the other legs are
    /// left alone either way.
    pub fn add_party(
        &mut self,
        call: CallId,
        target: DialTarget,
        caller_id: Option<E164>,
        now: Instant,
    ) -> Result<LegId, DialError> {
        self.with_call(call, DialError::NoSuchCall, now, |b2bua, call| {
            b2bua.add_party_in(call, target, caller_id, now)
        })
    }

    fn add_party_in(
        &mut self,
        call: &mut Call,
        target: DialTarget,
        caller_id: Option<E164>,
        now: Instant,
    ) -> Result<LegId, DialError> {
        match call.state {
            CallState::Terminated => return Err(DialError::NoSuchCall),
            _ if !call.local => return Err(DialError::NotLocal),
            CallState::Calling => return Err(DialError::NotAnswered),
            CallState::Confirmed => {}
        }
        if transferring(call) {
            return Err(DialError::TransferPending);
        }
        let tenant = call.tenant.clone().ok_or(DialError::NoTeams)?;
        let route = self.dial_route(&tenant, target, now)?;
        let up = call.up_legs();
        // The caller's media if it is still there, else another party's.
        let source_leg = up
            .iter()
            .copied()
            .find(|l| *l == call.caller)
            .or_else(|| up.first().copied())
            .ok_or(DialError::NotAnswered)?;
        let source = offer_source(call, source_leg).ok_or(DialError::NotAnswered)?;
        let source_peer = call
            .leg(source_leg)
            .map_or(LegPeer::Local, |l| l.peer.clone());
        let from = caller_id.or_else(|| call.leg(source_leg).and_then(|l| l.number.clone()));
        let offer = (&source, source_peer);
        let id = self.place_leg(call, route, from.as_ref(), offer, now)?;
        call.parties.push(id);
        Ok(id)
    }

    /// Ends one leg of `call`, a call switchboard answered or originated:
    /// BYE if it is up ([`B2buaEvent::PartyLeft`] follows, or
    /// [`B2buaEvent::CallEnded`] if it was the last one), CANCEL if it
    /// still rings (`DialFailed` with 487, as [`B2bua::cancel_dial`]). A
    /// two-party call goes on with the other party alone with switchboard.
    pub fn hang_up_party(
        &mut self,
        call: CallId,
        leg: LegId,
        now: Instant,
    ) -> Result<(), PartyError> {
        self.with_call(call, PartyError::NoSuchCall, now, |b2bua, call| {
            b2bua.hang_up_party_in(call, leg, now)
        })
    }

    fn hang_up_party_in(
        &mut self,
        call: &mut Call,
        leg: LegId,
        now: Instant,
    ) -> Result<(), PartyError> {
        check_call(call)?;
        if call.leg(leg).is_none() {
            return Err(PartyError::NoSuchLeg(leg));
        }
        if call.dials.contains(&leg) || call.parties.contains(&leg) {
            self.give_up_dial(call, leg, now);
            return Ok(());
        }
        if !call.holds_place(leg) {
            return Err(PartyError::NotUp(leg));
        }
        if transferring(call) {
            return Err(PartyError::TransferPending);
        }
        if call.topology == Topology::Paired {
            // Lift the pairing: the other party stays, alone with us.
            call.topology = Topology::Mixed(vec![call.caller, call.callee]);
        } else if call.topology == Topology::Local {
            call.topology = Topology::Mixed(vec![call.caller]);
        }
        self.end_party(call, leg, EndReason::Local, now);
        Ok(())
    }

    /// Makes `call` a two-party call between its up legs `a` (in the
    /// caller's position) and `b` (in the callee's): their media are
    /// bridged, their re-INVITEs relayed to each other, and a BYE from one
    /// ends the other. Every other leg must be down (hang it up first);
    /// legs still ringing may stay and make the call mixed again when they
    /// answer.
    pub fn pair(
        &mut self,
        call: CallId,
        a: LegId,
        b: LegId,
        now: Instant,
    ) -> Result<(), PartyError> {
        self.with_call(call, PartyError::NoSuchCall, now, |b2bua, call| {
            b2bua.pair_in(call, a, b)
        })
    }

    fn pair_in(&mut self, call: &mut Call, a: LegId, b: LegId) -> Result<(), PartyError> {
        check_call(call)?;
        if a == b {
            return Err(PartyError::SameLeg);
        }
        let up = call.up_legs();
        for leg in [a, b] {
            if call.leg(leg).is_none() {
                return Err(PartyError::NoSuchLeg(leg));
            }
            if !up.contains(&leg) {
                return Err(PartyError::NotUp(leg));
            }
        }
        if up.iter().any(|l| *l != a && *l != b) {
            return Err(PartyError::OthersUp);
        }
        if transferring(call) {
            return Err(PartyError::TransferPending);
        }
        if call.topology == Topology::Paired && call.caller == a && call.callee == b {
            return Ok(());
        }
        call.caller = a;
        call.callee = b;
        for (leg, party) in [(a, Party::Caller), (b, Party::Callee)] {
            if let Some(leg) = call.leg_mut(leg) {
                leg.party = party;
            }
        }
        call.topology = Topology::Paired;
        let differ = match (call.leg(a), call.leg(b)) {
            (Some(a), Some(b)) => a.sdp.codecs_differ(&b.sdp),
            _ => Vec::new(),
        };
        for leg in [a, b] {
            if let Some(leg) = call.leg_mut(leg) {
                leg.sdp.set_transcoded_streams(differ.clone());
            }
        }
        self.media.bridge(call.id, a, b);
        self.count_transcoding(call, a, b);
        Ok(())
    }

    /// An added party answered (its ACK is sent, its answer taken): it
    /// joins the call, which is mixed from now on.
    pub(super) fn party_answered(&mut self, call: &mut Call, leg_id: LegId, now: Instant) {
        call.parties.retain(|l| *l != leg_id);
        self.update_media(call, leg_id);
        let mut members = call.up_legs();
        if call.topology == Topology::Paired {
            self.media.unbridge(call.id, call.caller, call.callee);
        }
        if !members.contains(&leg_id) {
            members.push(leg_id);
        }
        call.topology = Topology::Mixed(members);
        self.report_dial_answered(call, leg_id, now);
    }

    /// A member of a mixed call sent BYE (answered already): its leg is
    /// released and the call goes on without it.
    pub(super) fn party_hung_up(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        reason: EndReason,
        now: Instant,
    ) {
        self.media.release(call.id, leg_id);
        call.legs.retain(|l| l.id != leg_id);
        self.forget_leg(call, leg_id);
        self.party_gone(call, leg_id, reason, now);
    }

    /// Ends a member of a mixed call on our side (BYE).
    fn end_party(&mut self, call: &mut Call, leg_id: LegId, reason: EndReason, now: Instant) {
        if let Topology::Mixed(members) = &mut call.topology {
            members.retain(|l| *l != leg_id);
        }
        self.drop_leg(call, leg_id, StatusCode::REQUEST_TERMINATED, now);
        self.party_gone(call, leg_id, reason, now);
    }

    /// `leg` is lost (its session expired, its dialog failed): only that
    /// leg when it is a member of a mixed call, else the whole call.
    pub(super) fn lose_leg(
        &mut self,
        call: &mut Call,
        leg: LegId,
        reason: EndReason,
        now: Instant,
    ) {
        if matches!(&call.topology, Topology::Mixed(members) if members.contains(&leg))
            && call.state == CallState::Confirmed
        {
            self.end_party(call, leg, reason, now);
        } else {
            self.end_call(call, reason, now);
        }
    }

    /// `leg_id` left a mixed call: the call ends with its last member, is
    /// local with its only one, and goes on mixed otherwise.
    fn party_gone(&mut self, call: &mut Call, leg_id: LegId, reason: EndReason, now: Instant) {
        let members = match &mut call.topology {
            Topology::Mixed(members) => {
                members.retain(|l| *l != leg_id);
                members.clone()
            }
            _ => Vec::new(),
        };
        match members.as_slice() {
            [] => return self.end_call(call, reason, now),
            [alone] => {
                let alone = *alone;
                call.caller = alone;
                call.callee = self.next_leg_id();
                if let Some(leg) = call.leg_mut(alone) {
                    leg.party = Party::Caller;
                }
                call.topology = Topology::Local;
            }
            _ => {}
        }
        self.events.push_back(B2buaEvent::PartyLeft {
            call: call.id,
            leg: leg_id,
            reason,
            at: now,
        });
    }
}

/// Whether `call` can have its parties changed by the application.
fn check_call(call: &Call) -> Result<(), PartyError> {
    if call.state == CallState::Terminated {
        return Err(PartyError::NoSuchCall);
    }
    if !call.local {
        return Err(PartyError::NotLocal);
    }
    Ok(())
}
