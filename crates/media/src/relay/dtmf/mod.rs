//! DTMF between bridged legs whose peers take key presses in different
//! forms: RFC 4733 telephone-events, SIP INFO (sent by the call layer)
//! or in-band tones. What the relay does for a leg given its
//! [`LegDtmf`] with [`MediaRelay::set_dtmf`]; legs without one (and
//! bridges of two RFC 4733 legs) forward telephone-events as RTP as
//! they always did.
//!
//! From leg A to its bridge partner B:
//! - A's telephone-events go on as RTP when B takes RFC 4733. When B
//!   takes INFO or tones they are not forwarded: they are received here
//!   (RFC 4733 §2.5.2: one press per event, its three redundant end
//!   packets and late updates collapsed, an event whose end packets were
//!   all lost ended by a timeout) and each press is reported once as
//!   [`MediaEvent::BridgedDtmf`] for the call layer to send as INFO, or
//!   played to B as tones.
//! - A's G.711 audio, when A's peer sends tones (its method is in-band):
//!   tones are listened for (ITU-T Q.24, `DtmfDetector`) and each press
//!   goes to B as RFC 4733 events, or as a `BridgedDtmf` for INFO. The
//!   tones themselves still reach B in the audio: the relay forwards
//!   G.711 as it is and does not filter them out.
//!
//! Toward a leg, presses converted as above and those of
//! [`MediaRelay::send_dtmf`] (a press that came as SIP INFO) go out on
//! an RTP stream of our own (RFC 3550 §5.1: random SSRC, sequence and
//! clock) that the relay's continuity rewrite splices into what the leg
//! receives, SRTP protected like any packet:
//! - RFC 4733 §2.5.1: the leg's telephone-event payload type, the first
//!   packet with the marker bit, updates every 20 ms with the duration
//!   so far (in units of its `telephone-event/<rate>`), the end packet
//!   three times, one key after the other with a 100 ms pause;
//! - tones (ITU-T Q.23 frequencies) in 20 ms G.711 frames on the leg's
//!   audio payload type, followed by 60 ms of silence.
//!
//! While a press is sent, the partner's audio toward the leg is held
//! back ([`DropReason::LocalPlayback`]), so the key is not heard twice
//! (RFC 4733 §2.5.1.1) and the two sources do not interleave. Our
//! events follow RFC 4733 §2.5.1.3 for presses longer than 0xFFFF units
//! of the leg's `telephone-event/<rate>` (1.37 s at 48 kHz): segments
//! 0xFFFF apart, each closed by packets of duration 0xFFFF
//! (`TelephoneEventSender`).
//!
//! A carrier that sends a press both as INFO and as RFC 4733 events
//! would have it reach the leg twice (our events and its own, forwarded
//! or converted): within `DUPLICATE_WINDOW` (1 s) the later copy is
//! not given, whichever form comes first (`duplicate.rs`,
//! [`DropReason::DuplicateDtmf`], [`RelayCounters::dtmf_duplicates`]).
//! Between two legs that both take INFO the relay never sees the INFO
//! (the call layer relays it), so a carrier's events converted to
//! [`MediaEvent::BridgedDtmf`] there are not matched against it.
//!
//! Timers and the ready queue are the relay's (`transmit.rs`, shared
//! with the local ends); packets come out of
//! [`MediaRelay::poll_transmit`]. Nothing allocates per packet.
//!
//! [`DropReason::LocalPlayback`]: super::DropReason::LocalPlayback
//! [`RelayCounters::dtmf_duplicates`]: super::RelayCounters::dtmf_duplicates

mod duplicate;
mod leg;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

pub use self::leg::LegDtmf;
pub(super) use self::leg::LegDtmfState;
use super::transmit::Sender;
use super::{leg_at, DropReason, LegKey, MediaEvent, MediaRelay};
use crate::dtmf::{DtmfDigit, DtmfMethod, TelephoneEvent};
use crate::error::RelayError;
use crate::rtp::RtpPacket;

impl MediaRelay {
    /// Sets how the leg's peer takes DTMF and the payload types of the
    /// leg's stream (from its SDP); again after a re-INVITE. See the
    /// module docs of `relay/dtmf` for what changes on a bridge. On a leg
    /// without a codec ([`MediaRelay::set_codec`]) it also sets the RTP
    /// clock rate of the stream toward the leg.
    pub fn set_dtmf(&mut self, now: Instant, key: LegKey, dtmf: LegDtmf) -> Result<(), RelayError> {
        dtmf.check()?;
        let slot = self.slot(key)?;
        let Self { legs, rng, .. } = self;
        let leg = leg_at(legs, slot, key)?;
        match &mut leg.dtmf {
            Some(state) => state.update(now, dtmf),
            None => leg.dtmf = Some(Box::new(LegDtmfState::new(now, dtmf, rng))),
        }
        if leg.local.is_none() {
            leg.clock_rate = dtmf.clock_rate;
        }
        // Room for its timer and queue entry, once.
        self.timers.reserve(2);
        self.ready.reserve(1);
        Ok(())
    }

    /// Sends `digit`, held for `duration` (40 ms to 8 s), to the leg's
    /// peer the way it takes DTMF ([`LegDtmf::method`]): RFC 4733
    /// events or tones, after the presses already queued. For a press
    /// that arrived as SIP INFO on the other leg. Refused
    /// ([`RelayError::NoDtmf`]) for a leg without [`LegDtmf`], one that
    /// takes INFO, one without telephone-event (RFC 4733) or without
    /// G.711 audio (tones), and beyond 32 queued presses. A press the
    /// leg just got as RFC 4733 events (or tones) from its bridge
    /// partner, the same press sent both ways, is not sent again
    /// (`Ok`, counted in
    /// [`RelayCounters::dtmf_duplicates`](crate::RelayCounters::dtmf_duplicates);
    /// see the module docs of `relay/dtmf`).
    pub fn send_dtmf(
        &mut self,
        now: Instant,
        key: LegKey,
        digit: DtmfDigit,
        duration: Duration,
    ) -> Result<(), RelayError> {
        let slot = self.slot(key)?;
        let state = self
            .legs
            .get_mut(slot)
            .and_then(Option::as_mut)
            .and_then(|leg| leg.dtmf.as_deref_mut())
            .ok_or(RelayError::NoDtmf(key, "no DTMF settings"))?;
        if let Some(reason) = state.refusal() {
            return Err(RelayError::NoDtmf(key, reason));
        }
        if state.duplicates().handle_ours(now, digit, duration) {
            self.counters.dtmf_duplicates += 1;
            return Ok(());
        }
        state
            .send(now, digit, duration)
            .map_err(|reason| RelayError::NoDtmf(key, reason))?;
        self.arm(slot, Sender::Dtmf);
        Ok(())
    }

    /// Looks at an RTP packet (`packet`, decrypted) from the leg in
    /// `slot` to its partner in `peer`; returns whether it is taken
    /// here (not forwarded), or why it is dropped: a telephone-event of
    /// a press the partner already got from us
    /// ([`DropReason::DuplicateDtmf`]).
    pub(super) fn handle_bridged_dtmf(
        &mut self,
        now: Instant,
        slot: usize,
        peer: usize,
        packet: &[u8],
    ) -> Result<bool, DropReason> {
        let partner = match self.legs.get(peer).and_then(Option::as_ref) {
            Some(leg) => match leg.dtmf.as_deref() {
                Some(state) => state.settings().method,
                None => return Ok(false),
            },
            None => return Ok(false),
        };
        let Some(state) = self
            .legs
            .get_mut(slot)
            .and_then(Option::as_mut)
            .and_then(|leg| leg.dtmf.as_deref_mut())
        else {
            return Ok(false);
        };
        let Ok(parsed) = RtpPacket::parse(packet) else {
            return Ok(false);
        };
        let event_pt = state.settings().telephone_event_pt;
        if state.converts_for(partner) {
            let taken = state.handle_bridged_rtp(now, &parsed, partner);
            self.deliver_heard(now, slot);
            // The receiver's end timeout may have moved.
            self.arm(slot, Sender::Dtmf);
            if taken {
                self.pass_by_transcoder(now, slot, packet);
                return Ok(true);
            }
        }
        if Some(parsed.payload_type()) != event_pt {
            return Ok(false);
        }
        // A telephone-event forwarded to the partner.
        let Ok(event) = TelephoneEvent::parse(parsed.payload()) else {
            return Ok(false);
        };
        let Some(target) = self
            .legs
            .get_mut(peer)
            .and_then(Option::as_mut)
            .and_then(|leg| leg.dtmf.as_deref_mut())
        else {
            return Ok(false);
        };
        let (duplicate, first) =
            target
                .duplicates()
                .handle_forwarded(now, parsed.timestamp(), event.event);
        if first {
            self.counters.dtmf_duplicates += 1;
        }
        if duplicate {
            self.pass_by_transcoder(now, slot, packet);
            return Err(DropReason::DuplicateDtmf);
        }
        Ok(false)
    }

    /// Hands the presses heard on the leg in `slot` to its bridge
    /// partner: played to it, or reported for INFO. Without a partner
    /// (unbridged since) they are dropped.
    pub(super) fn deliver_heard(&mut self, now: Instant, slot: usize) {
        let Some(leg) = self.legs.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let (key, peer) = (leg.key, leg.peer);
        let Some(state) = leg.dtmf.as_deref_mut() else {
            return;
        };
        let Some(peer) = peer else {
            while state.poll_heard().is_some() {
                self.counters.dtmf_undelivered += 1;
            }
            return;
        };
        let Self {
            legs,
            events,
            counters,
            ..
        } = self;
        let (from, to) = if slot < peer {
            let (low, high) = legs.split_at_mut(peer);
            (&mut low[slot], &mut high[0])
        } else {
            let (low, high) = legs.split_at_mut(slot);
            (&mut high[0], &mut low[peer])
        };
        let (Some(from), Some(to)) = (from.as_mut(), to.as_mut()) else {
            return;
        };
        let (Some(heard), Some(target)) = (from.dtmf.as_deref_mut(), to.dtmf.as_deref_mut()) else {
            return;
        };
        let mut sent = false;
        while let Some((digit, duration)) = heard.poll_heard() {
            let delivered = match target.settings().method {
                DtmfMethod::Info => {
                    events.push_back(MediaEvent::BridgedDtmf {
                        leg: key,
                        peer: to.key,
                        digit,
                        duration,
                    });
                    true
                }
                DtmfMethod::Rfc4733 | DtmfMethod::Inband => {
                    if target.refusal().is_none()
                        && target.duplicates().handle_converted(now, digit)
                    {
                        // Sent to it already: the press came as INFO too.
                        counters.dtmf_duplicates += 1;
                        continue;
                    }
                    let queued = target.send(now, digit, duration).is_ok();
                    sent |= queued;
                    queued
                }
            };
            if delivered {
                counters.dtmf_converted += 1;
            } else {
                counters.dtmf_undelivered += 1;
            }
        }
        if sent {
            self.arm(peer, Sender::Dtmf);
        }
    }

    /// The DTMF packet toward the leg in `slot` due at `now`, written
    /// into `buf`: whether it is RTCP (never), and its length; `None`
    /// once all is sent (see [`MediaRelay::poll_transmit`]).
    pub(super) fn poll_dtmf_packet(
        &mut self,
        now: Instant,
        slot: usize,
        buf: &mut [u8],
    ) -> Option<(bool, usize)> {
        let state = self.legs.get_mut(slot)?.as_mut()?.dtmf.as_deref_mut()?;
        state.poll_transmit(now, buf).map(|len| (false, len))
    }
}
