//! Calls switchboard originates (callbacks): there is no inbound leg, the
//! first leg is an outbound INVITE (RFC 3261 §13.2) to a Teams user
//! through Direct Routing (the tenant's SBC FQDN in Contact, SRTP with
//! SDES) or to a PSTN number through the tenant's carrier trunk and dial
//! plan. The call is admitted like any other ([`crate::Gate::admit_call`]:
//! the node's, the trunk's and the tenant's limits; it counts among the
//! active calls until it ends).
//!
//! With no caller to take media from, the offer lists the codecs of the
//! target's trunk (its `codecs`, in order; PCMU, PCMA and
//! telephone-event towards Teams or when none of them is known here).
//! The leg takes the caller's position: [`B2buaEvent::CallStarted`] (from
//! [`LegPeer::Local`]) when its INVITE is sent, then `DialProgress`, and
//! `DialAnswered` with the negotiated codec, after which the call is a
//! local call whose caller is that leg ([`B2bua::dial`] and
//! [`B2bua::add_party`] work, its BYE ends the call); or `DialFailed`
//! followed by `CallEnded`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use sdp::{Direction, Fmtp, Media, Origin, Rtpmap, Session};
use sip::StatusCode;

use super::call::{Call, CallState};
use super::io::{B2buaEvent, CallId, EndReason, LegId, LegPeer, Party};
use super::{B2bua, DialTarget};
use crate::config::TenantName;
use crate::error::DialError;
use crate::number::E164;

/// Codecs an originated offer can name: encoding, payload type, clock
/// rate (RFC 3551 static types; telephone-event on a dynamic one).
const KNOWN_CODECS: &[(&str, u8, u32)] = &[
    ("PCMU", 0, 8000),
    ("PCMA", 8, 8000),
    ("G722", 9, 8000),
    ("G729", 18, 8000),
    ("telephone-event", 101, 8000),
];

/// Offered when the trunk names no codec known here.
const DEFAULT_CODECS: &[&str] = &["PCMU", "PCMA", "telephone-event"];

impl B2bua {
    /// Calls `target` for `tenant` with `caller_id` as the From number
    /// (e.g. the tenant's DID for a customer callback, the customer's
    /// number when an agent is rung first). Returns the new call and its
    /// first leg, named in the `Dial*` events that follow.
    pub fn originate(
        &mut self,
        tenant: &TenantName,
        target: DialTarget,
        caller_id: E164,
        now: Instant,
    ) -> Result<(CallId, LegId), DialError> {
        if !self.config.tenants.contains_key(tenant) {
            return Err(DialError::UnknownTenant);
        }
        let route = self.dial_route(tenant, target, now)?;
        let source = originate_offer(&self.trunk_codecs(&route.peer));
        let permit = self
            .gate
            .admit_call(route.trunk.as_ref(), Some(tenant), now)
            .map_err(|_| DialError::CallLimit)?;
        let (to, called) = (route.peer.clone(), route.number.clone());
        let call_id = self.next_call_id();
        // Neither position names a leg until the INVITE is placed.
        let nobody = self.next_leg_id();
        let mut call = Call::new(call_id, Vec::new(), nobody, nobody, permit, true);
        call.tenant = Some(tenant.clone());
        // switchboard's own offer: no leg to take DTMF from.
        let offer = (&source, LegPeer::Local);
        let leg_id = match self.place_leg(&mut call, route, Some(&caller_id), offer, now) {
            Ok(leg) => leg,
            Err(error) => {
                if let Some(permit) = call.permit.take() {
                    self.gate.release_call(permit);
                }
                self.forget(&call);
                self.drain(now, None);
                return Err(error);
            }
        };
        call.caller = leg_id;
        if let Some(leg) = call.leg_mut(leg_id) {
            leg.party = Party::Caller;
        }
        call.dials.push(leg_id);
        self.events.push_back(B2buaEvent::CallStarted {
            call: call_id,
            from: LegPeer::Local,
            to,
            caller: Some(caller_id),
            called: Some(called),
            at: now,
        });
        self.put_back(call);
        self.drain(now, None);
        Ok((call_id, leg_id))
    }

    /// The first leg of an originated call answered (its ACK is sent,
    /// its answer taken): the call is up, switchboard its other party.
    pub(super) fn originate_answered(&mut self, call: &mut Call, leg_id: LegId, now: Instant) {
        call.state = CallState::Confirmed;
        call.answered_at = Some(now);
        call.hangup_at = self.settings.max_call_duration.map(|max| now + max);
        self.update_media(call, leg_id);
        self.report_dial_answered(call, leg_id, now);
    }

    /// The first leg of an originated call failed or was given up:
    /// `DialFailed`, then the call ends.
    pub(super) fn originate_failed(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        status: StatusCode,
        reason: EndReason,
        now: Instant,
    ) {
        call.dials.retain(|l| *l != leg_id);
        self.dial_failed_leg(call, leg_id, status, now);
        self.end_call(call, reason, now);
    }
}

/// An offer of `codecs` (a trunk's, by encoding name) on placeholder
/// address and port, which anchoring replaces.
fn originate_offer(codecs: &[String]) -> Session {
    let named = |names: &mut dyn Iterator<Item = &str>| -> Vec<(&str, u8, u32)> {
        let mut found: Vec<(&str, u8, u32)> = Vec::new();
        for name in names {
            let known = KNOWN_CODECS
                .iter()
                .find(|(known, _, _)| known.eq_ignore_ascii_case(name));
            if let Some(&codec) = known {
                if !found.contains(&codec) {
                    found.push(codec);
                }
            }
        }
        found
    };
    let mut chosen = named(&mut codecs.iter().map(String::as_str));
    if chosen.iter().all(|(name, _, _)| *name == "telephone-event") {
        chosen = named(&mut DEFAULT_CODECS.iter().copied());
    }
    // Not 0.0.0.0 nor port 0, which would read as hold and refusal.
    let placeholder = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut session = Session::new(Origin::new(0, 0, placeholder));
    session.set_connection_address(placeholder);
    let formats = chosen.iter().map(|(_, pt, _)| pt.to_string());
    let mut audio = Media::new("audio", 9, "RTP/AVP", formats);
    for (name, pt, rate) in &chosen {
        audio.push_attribute(&Rtpmap::new(*pt, *name, *rate));
        if *name == "telephone-event" {
            audio.push_attribute(&Fmtp::new(*pt, "0-16"));
        }
    }
    audio.push_attribute(Direction::SendRecv);
    session.media.push(audio);
    session
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_the_trunks_known_codecs_in_its_order() {
        let codecs = ["PCMA", "opus", "PCMU", "telephone-event", "pcma"].map(String::from);
        let offer = originate_offer(&codecs);
        let formats: Vec<u8> = offer.media[0].payload_types().collect();
        assert_eq!(formats, [8, 0, 101]);
        assert_eq!(
            offer.media[0].codec(101).map(|c| c.encoding),
            Some("telephone-event".to_owned())
        );
        // Nothing known (or only events): G.711 and telephone-event.
        for codecs in [vec![], vec!["AMR".to_owned(), "telephone-event".to_owned()]] {
            let formats: Vec<u8> = originate_offer(&codecs).media[0].payload_types().collect();
            assert_eq!(formats, [0, 8, 101]);
        }
    }
}
