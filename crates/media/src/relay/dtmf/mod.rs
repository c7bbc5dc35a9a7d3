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
//! (RFC 4733 §2.5.1.1) and the two sources do not interleave.
//!
//! Timers have their own heap here (lazily deleted, as the local ends'
//! do) inside [`MediaRelay::poll_timeout`] and
//! [`MediaRelay::handle_timeout`]; packets come out of
//! [`MediaRelay::poll_dtmf_transmit`], drained after
//! [`MediaRelay::poll_transmit`]. Nothing allocates per packet.
//!
//! [`DropReason::LocalPlayback`]: super::DropReason::LocalPlayback

mod leg;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::time::{Duration, Instant};

pub use self::leg::LegDtmf;
pub(super) use self::leg::LegDtmfState;
use super::{Forward, LegKey, MediaEvent, MediaRelay, Origin};
use crate::dtmf::{DtmfDigit, DtmfMethod};
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
        let leg = legs
            .get_mut(slot)
            .and_then(Option::as_mut)
            .ok_or(RelayError::UnknownLeg(key))?;
        match &mut leg.dtmf {
            Some(state) => state.update(now, dtmf),
            None => leg.dtmf = Some(Box::new(LegDtmfState::new(now, dtmf, rng))),
        }
        if leg.local.is_none() {
            leg.clock_rate = dtmf.clock_rate;
        }
        // Room for its timer and queue entry, once.
        self.dtmf_timers.reserve(2);
        self.dtmf_ready.reserve(1);
        Ok(())
    }

    /// Sends `digit`, held for `duration` (40 ms to 8 s), to the leg's
    /// peer the way it takes DTMF ([`LegDtmf::method`]): RFC 4733
    /// events or tones, after the presses already queued. For a press
    /// that arrived as SIP INFO on the other leg. Refused
    /// ([`RelayError::NoDtmf`]) for a leg without [`LegDtmf`], one that
    /// takes INFO, one without telephone-event (RFC 4733) or without
    /// G.711 audio (tones), and beyond 32 queued presses.
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
        state
            .send(now, digit, duration)
            .map_err(|reason| RelayError::NoDtmf(key, reason))?;
        self.arm_dtmf(slot);
        Ok(())
    }

    /// Looks at an RTP packet (`packet`, decrypted) from the leg in
    /// `slot` to its partner in `peer`; returns whether it is taken
    /// here (not forwarded).
    pub(super) fn handle_bridged_dtmf(
        &mut self,
        now: Instant,
        slot: usize,
        peer: usize,
        packet: &[u8],
    ) -> bool {
        let partner = match self.legs.get(peer).and_then(Option::as_ref) {
            Some(leg) => match leg.dtmf.as_deref() {
                Some(state) => state.settings().method,
                None => return false,
            },
            None => return false,
        };
        let Some(state) = self
            .legs
            .get_mut(slot)
            .and_then(Option::as_mut)
            .and_then(|leg| leg.dtmf.as_deref_mut())
        else {
            return false;
        };
        if !state.converts_for(partner) {
            return false;
        }
        let Ok(packet) = RtpPacket::parse(packet) else {
            return false;
        };
        let taken = state.handle_bridged_rtp(now, &packet, partner);
        self.deliver_heard(now, slot);
        // The receiver's end timeout may have moved.
        self.arm_dtmf(slot);
        taken
    }

    /// Hands the presses heard on the leg in `slot` to its bridge
    /// partner: played to it, or reported for INFO. Without a partner
    /// (unbridged since) they are dropped.
    fn deliver_heard(&mut self, now: Instant, slot: usize) {
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
            self.arm_dtmf(peer);
        }
    }

    /// Puts the DTMF due time of the leg in `slot` on the heap, unless
    /// an entry at least as early is there or it waits in `dtmf_ready`.
    fn arm_dtmf(&mut self, slot: usize) {
        let Some(state) = self
            .legs
            .get_mut(slot)
            .and_then(Option::as_mut)
            .and_then(|leg| leg.dtmf.as_deref_mut())
        else {
            return;
        };
        if state.queued {
            return;
        }
        let Some(due) = state.poll_timeout() else {
            return;
        };
        if state.scheduled.is_none_or(|scheduled| due < scheduled) {
            state.scheduled = Some(due);
            self.dtmf_timers.push(Reverse((due, slot)));
        }
    }

    /// The earliest DTMF due time.
    pub(super) fn poll_dtmf_timeout(&self) -> Option<Instant> {
        self.dtmf_timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Runs the legs whose DTMF time has come: receiver end timeouts,
    /// packets to send into `dtmf_ready`.
    pub(super) fn handle_dtmf_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, slot))) = self.dtmf_timers.peek() {
            if at > now {
                break;
            }
            self.dtmf_timers.pop();
            let Some(state) = self
                .legs
                .get_mut(slot)
                .and_then(Option::as_mut)
                .and_then(|leg| leg.dtmf.as_deref_mut())
            else {
                continue;
            };
            if state.scheduled != Some(at) {
                // Superseded by an earlier entry, or the slot's old leg.
                continue;
            }
            state.scheduled = None;
            state.handle_timeout(now);
            if state.has_transmit(now) {
                state.queued = true;
                self.dtmf_ready.push_back(slot);
            } else {
                self.arm_dtmf(slot);
            }
            self.deliver_heard(now, slot);
        }
    }

    /// The next DTMF packet made here (RFC 4733 events and tones toward
    /// a leg, see `relay/dtmf`), written into `buf` (at least 1500
    /// bytes), rewritten into the leg's stream and protected like a
    /// relayed packet. Call after [`MediaRelay::poll_transmit`] until
    /// `None`. Packets that cannot go (no destination yet, the peer
    /// holds) are counted as drops and skipped.
    pub fn poll_dtmf_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Forward> {
        while let Some(&slot) = self.dtmf_ready.front() {
            let state = self
                .legs
                .get_mut(slot)
                .and_then(Option::as_mut)
                .and_then(|leg| leg.dtmf.as_deref_mut());
            let Some(state) = state else {
                self.dtmf_ready.pop_front();
                continue;
            };
            let Some(len) = state.poll_transmit(now, buf) else {
                state.queued = false;
                self.dtmf_ready.pop_front();
                self.arm_dtmf(slot);
                continue;
            };
            match self.send_to(now, slot, Origin::Local, false, None, buf, len) {
                Ok(forward) => return Some(forward),
                Err(reason) => {
                    self.drop(None, reason);
                }
            }
        }
        None
    }
}
