//! Switchboard as the far end of a leg (the IVR, queue music, a caller
//! on hold): what the relay does for a leg given a codec with
//! [`MediaRelay::set_codec`].
//!
//! - Playing ([`FrameSource`]): 20 ms PCM frames, converted to the
//!   codec's rate if needed (`rate`), encoded (G.711, G.722 or Opus,
//!   `codec`), paced on the
//!   leg's own RTP clock without drift (`playout`), sent as an RTP
//!   stream of our own SSRC that the relay's continuity rewrite splices
//!   with the relayed one (RFC 3550 §5.1, RFC 7667 §3.2.1.3), SRTP
//!   protected like relayed packets. The bridge partner's RTP toward the
//!   leg is held back meanwhile.
//! - Listening (`listen`): RFC 4733 telephone-events (§2.5.2) and
//!   in-band tones (ITU-T Q.24; G.711 and G.722), one
//!   [`MediaEvent::Dtmf`](super::MediaEvent::Dtmf) per press.
//! - What the leg receives, decoded once for the listeners (`heard`).
//! - RTCP (`report`): SR/RR with SDES CNAME while switchboard is the only
//!   end of the leg, or the end of a transcoding bridge (RFC 3550 §6.2,
//!   §6.4, §7.1), SRTCP on SRTP legs.
//!
//! This file holds the table commands, the timers of the legs' local
//! ends, and [`MediaRelay::poll_transmit`]. Nothing here allocates per
//! packet or per frame once a leg has its codec and a play has started.
//!
//! Timers: a binary heap of (instant, slot), lazily deleted. Each local
//! end remembers the earliest instant the heap holds for it
//! (`scheduled`); an earlier need pushes a new entry, a later one waits
//! for the entry in place to fire and is pushed then, and an entry that
//! is not its leg's `scheduled` any more is skipped. A leg whose time
//! has come goes to the `ready` queue until `poll_transmit` has sent all
//! it has.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

mod codec;
mod endpoint;
mod heard;
mod listen;
mod playout;
mod rate;
mod report;

pub use self::codec::{LegCodec, LegEncoding};
pub(crate) use self::endpoint::{Hearing, LocalEndpoint, Rng};
pub(crate) use self::rate::FrameConverter;

use self::endpoint::{LocalPacket, StreamCounts};
use super::{Forward, LegKey, MediaRelay, Origin, Timer};
use crate::error::RelayError;
use crate::server::{FrameSource, PlayRequestId};

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

impl MediaRelay {
    fn local_mut(&mut self, key: LegKey) -> Result<&mut LocalEndpoint, RelayError> {
        self.leg_mut(key)?
            .local
            .as_deref_mut()
            .ok_or(RelayError::NoCodec(key))
    }

    /// Sets the codec of a leg (from its SDP), which makes switchboard
    /// able to play into it and to listen on it: while the leg is not
    /// bridged, what it sends is taken here ([`Verdict::Consumed`]) for
    /// DTMF and RTCP statistics, and it gets RTCP reports from us.
    /// Again after a re-INVITE: a new codec, the same stream.
    ///
    /// On a bridged leg whose partner has a codec too it also chooses
    /// how the bridge carries packets (see [`MediaRelay::bridge`]): the
    /// same codec and payload types forward as they are, the same codec
    /// on other payload types forwards with the types rewritten, and
    /// another codec (or clock rate) transcodes; a re-INVITE that
    /// changes one side's codec switches between them in the same
    /// streams. A conference member's mix follows its new rate.
    ///
    /// [`Verdict::Consumed`]: super::Verdict::Consumed
    pub fn set_codec(
        &mut self,
        now: Instant,
        key: LegKey,
        codec: LegCodec,
    ) -> Result<(), RelayError> {
        let slot = self.slot(key)?;
        let Self { legs, rng, .. } = self;
        let leg = legs
            .get_mut(slot)
            .and_then(Option::as_mut)
            .ok_or(RelayError::UnknownLeg(key))?;
        match &mut leg.local {
            Some(local) => local.set_codec(now, codec)?,
            None => leg.local = Some(Box::new(LocalEndpoint::new(now, key, codec, rng)?)),
        }
        leg.clock_rate = codec.encoding.clock_rate();
        let (peer, member) = (leg.peer, leg.member.is_some());
        // Room for this leg's timers and queue entry, once.
        self.timers.reserve(2);
        self.ready.reserve(1);
        self.arm(slot);
        if member {
            self.tune_room(key.session);
        }
        match peer {
            Some(peer) => self.plan_bridge(slot, peer),
            None => Ok(()),
        }
    }

    /// Plays `source` toward the leg, in place of the play in progress
    /// (which ends as [`PlayEnd::Stopped`](crate::PlayEnd::Stopped),
    /// the new one going on from its next frame). While it plays, the
    /// bridge partner's RTP is not sent to the leg
    /// ([`DropReason::LocalPlayback`](super::DropReason::LocalPlayback));
    /// when it ends, relaying resumes in the same stream. Ends with
    /// [`MediaEvent::PlayFinished`](super::MediaEvent::PlayFinished).
    /// Bridging or unbridging the leg does not stop it.
    pub fn play(
        &mut self,
        now: Instant,
        key: LegKey,
        request: PlayRequestId,
        source: Box<dyn FrameSource>,
    ) -> Result<(), RelayError> {
        let slot = self.slot(key)?;
        let Self { legs, events, .. } = self;
        let leg = legs
            .get_mut(slot)
            .and_then(Option::as_mut)
            .ok_or(RelayError::UnknownLeg(key))?;
        let local = leg.local.as_deref_mut().ok_or(RelayError::NoCodec(key))?;
        local.play(now, request, source, events);
        leg.local_source = true;
        self.arm(slot);
        Ok(())
    }

    /// Stops the leg's play (reported as
    /// [`PlayEnd::Stopped`](crate::PlayEnd::Stopped)); returns whether
    /// one was playing.
    pub fn stop_playing(&mut self, key: LegKey) -> Result<bool, RelayError> {
        let slot = self.slot(key)?;
        let Self { legs, events, .. } = self;
        let leg = legs
            .get_mut(slot)
            .and_then(Option::as_mut)
            .ok_or(RelayError::UnknownLeg(key))?;
        let stopped = match leg.local.as_deref_mut() {
            Some(local) => local.stop(events).is_some(),
            None => false,
        };
        leg.local_source = false;
        Ok(stopped)
    }

    /// Whether a play is in progress on the leg.
    pub fn is_playing(&self, key: LegKey) -> bool {
        self.leg(key)
            .ok()
            .and_then(|leg| leg.local.as_deref())
            .is_some_and(LocalEndpoint::is_playing)
    }

    /// The source the leg plays, to change it as it plays (see
    /// [`FrameSource::as_any_mut`]).
    pub fn playing_source(&mut self, key: LegKey) -> Option<&mut dyn FrameSource> {
        self.local_mut(key).ok()?.source_mut()
    }

    /// Reports RFC 4733 key presses of the leg also while it is bridged
    /// (as [`MediaEvent::Dtmf`](super::MediaEvent::Dtmf)); forwarding
    /// does not change. Needs the leg's codec (its telephone-event
    /// payload type).
    pub fn set_report_dtmf(&mut self, key: LegKey, report: bool) -> Result<(), RelayError> {
        self.local_mut(key)?.set_report_dtmf(report);
        Ok(())
    }

    /// The wall clock (time since the Unix epoch) at `now`, for the NTP
    /// timestamps of our SRs; without it they are zero (RFC 3550
    /// §6.4.1 allows that).
    pub fn set_wallclock(&mut self, now: Instant, since_unix_epoch: Duration) {
        self.wallclock = Some((now, since_unix_epoch));
    }

    /// The NTP timestamp (RFC 3550 §4: 32.32 fixed point from 1900) of
    /// `now`.
    fn ntp(&self, now: Instant) -> u64 {
        let Some((at, unix)) = self.wallclock else {
            return 0;
        };
        let time = match now.checked_duration_since(at) {
            Some(after) => unix + after,
            None => unix.saturating_sub(at.saturating_duration_since(now)),
        };
        let seconds = time.as_secs().wrapping_add(NTP_UNIX_OFFSET);
        let fraction = (u64::from(time.subsec_nanos()) << 32) / 1_000_000_000;
        (seconds << 32) | fraction
    }

    /// Puts the leg's next due time on the timer heap, unless an entry
    /// at least as early is there or the leg waits in `ready`.
    pub(super) fn arm(&mut self, slot: usize) {
        let Some(local) = self
            .legs
            .get_mut(slot)
            .and_then(Option::as_mut)
            .and_then(|leg| leg.local.as_deref_mut())
        else {
            return;
        };
        if local.queued {
            return;
        }
        let due = local.poll_timeout();
        if local.scheduled.is_none_or(|scheduled| due < scheduled) {
            local.scheduled = Some(due);
            self.timers.push(Reverse((due, Timer::Leg(slot))));
        }
    }

    /// Runs the local ends and conferences whose time has come: DTMF
    /// end timeouts here, packets to send into `ready` (conferences:
    /// into `conference_ready`).
    pub(super) fn handle_local_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, timer))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let slot = match timer {
                Timer::Leg(slot) => slot,
                Timer::Conference(session) => {
                    self.handle_conference_timer(now, at, session);
                    continue;
                }
            };
            let Some(local) = self
                .legs
                .get_mut(slot)
                .and_then(Option::as_mut)
                .and_then(|leg| leg.local.as_deref_mut())
            else {
                continue;
            };
            if local.scheduled != Some(at) {
                // Superseded by an earlier entry, or the slot's old leg.
                continue;
            }
            local.scheduled = None;
            local.handle_timeout(now, &mut self.events);
            if local.has_transmit(now) {
                local.queued = true;
                self.ready.push_back(slot);
            } else {
                self.arm(slot);
            }
        }
    }

    /// The next packet made here, written into `buf` (at least 1500
    /// bytes, like a received datagram's): a frame of a play, a
    /// conference's mix or an RTCP report, rewritten into the leg's
    /// stream and protected like a relayed packet. Call after [`MediaRelay::handle_timeout`] until
    /// `None`. Packets that cannot go (no destination yet, the peer
    /// holds) are counted as drops and skipped.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Forward> {
        while let Some(&slot) = self.ready.front() {
            let ntp = self.ntp(now);
            let Self {
                legs, rng, events, ..
            } = self;
            let Some(leg) = legs.get_mut(slot).and_then(Option::as_mut) else {
                self.ready.pop_front();
                continue;
            };
            let transcoded = leg.transcoded();
            let counts = StreamCounts {
                packets: leg.rtp_out,
                octets: leg.payload_out,
                source: transcoded
                    .then(|| leg.out.source_clock(now, leg.clock_rate))
                    .flatten(),
            };
            let reports = leg.peer.is_none() || transcoded;
            let Some(local) = leg.local.as_deref_mut() else {
                self.ready.pop_front();
                continue;
            };
            let packet = local.poll_transmit(now, reports, counts, ntp, rng, buf, events);
            leg.local_source = local.is_playing();
            let (rtcp, len) = match packet {
                Some(LocalPacket::Rtp(len)) => (false, len),
                Some(LocalPacket::Rtcp(len)) => (true, len),
                None => {
                    local.queued = false;
                    self.ready.pop_front();
                    self.arm(slot);
                    continue;
                }
            };
            match self.send_to(now, slot, Origin::Local, rtcp, None, buf, len) {
                Ok(forward) => return Some(forward),
                Err(reason) => {
                    self.drop(None, reason);
                }
            }
        }
        if let Some(forward) = self.poll_transcoded(now, buf) {
            return Some(forward);
        }
        self.poll_conference_transmit(now, buf)
    }
}

#[cfg(test)]
mod tests;
