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
//! This file holds the table commands and the local end's packets for
//! [`MediaRelay::poll_transmit`] (its timers: `transmit.rs`). Nothing
//! here allocates per packet or per frame once a leg has its codec and
//! a play has started.

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
use super::transmit::Sender;
use super::{leg_at, LegKey, MediaRelay};
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
        let leg = leg_at(legs, slot, key)?;
        match &mut leg.local {
            Some(local) => local.set_codec(now, codec)?,
            None => leg.local = Some(Box::new(LocalEndpoint::new(now, key, codec, rng)?)),
        }
        leg.clock_rate = codec.encoding.clock_rate();
        let (peer, member) = (leg.peer, leg.member.is_some());
        // Room for this leg's timers and queue entry, once.
        self.timers.reserve(2);
        self.ready.reserve(1);
        self.arm(slot, Sender::Local);
        if member {
            self.tune_room(key.session);
        }
        match peer {
            Some(peer) => self.plan_bridge(slot, peer),
            None => Ok(()),
        }
    }

    /// A re-INVITE changed the leg's codec: a leg given one
    /// ([`MediaRelay::set_codec`], for plays, recording or a bridge)
    /// takes the new one; a leg without one stays without (it is only
    /// forwarded, and a codec would make it decode for nothing).
    pub fn update_codec(
        &mut self,
        now: Instant,
        key: LegKey,
        codec: LegCodec,
    ) -> Result<(), RelayError> {
        if self.leg(key)?.local.is_none() {
            return Ok(());
        }
        self.set_codec(now, key, codec)
    }

    /// Takes the codec [`MediaRelay::set_codec`] gave the leg away again:
    /// a re-INVITE left it with a codec switchboard neither plays nor
    /// transcodes, which its bridge partner shares. A bridge then
    /// forwards as it is (no transcoding, no renumbering); a play in
    /// progress ends as [`PlayEnd::Stopped`](crate::PlayEnd::Stopped).
    /// Refused ([`RelayError::CodecInUse`]) while the leg is recorded or
    /// in a conference, which decode it. A leg without one: nothing to do.
    pub fn clear_codec(&mut self, _now: Instant, key: LegKey) -> Result<(), RelayError> {
        let slot = self.slot(key)?;
        let Self { legs, events, .. } = self;
        let leg = leg_at(legs, slot, key)?;
        if leg.tap.is_some() || leg.member.is_some() {
            return Err(RelayError::CodecInUse(key));
        }
        let Some(mut local) = leg.local.take() else {
            return Ok(());
        };
        local.stop(events);
        match leg.peer {
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
        let leg = leg_at(legs, slot, key)?;
        let local = leg.local.as_deref_mut().ok_or(RelayError::NoCodec(key))?;
        local.play(now, request, source, events);
        leg.local_source = true;
        self.arm(slot, Sender::Local);
        Ok(())
    }

    /// Stops the leg's play (reported as
    /// [`PlayEnd::Stopped`](crate::PlayEnd::Stopped)); returns whether
    /// one was playing.
    pub fn stop_playing(&mut self, key: LegKey) -> Result<bool, RelayError> {
        let slot = self.slot(key)?;
        let Self { legs, events, .. } = self;
        let leg = leg_at(legs, slot, key)?;
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

    /// The local end's next packet due at `now`, written into `buf`:
    /// whether it is RTCP, and its length; `None` once all is sent (see
    /// [`MediaRelay::poll_transmit`]).
    pub(super) fn poll_local_packet(
        &mut self,
        now: Instant,
        slot: usize,
        buf: &mut [u8],
    ) -> Option<(bool, usize)> {
        let ntp = self.ntp(now);
        let Self {
            legs, rng, events, ..
        } = self;
        let leg = legs.get_mut(slot).and_then(Option::as_mut)?;
        let transcoded = leg.transcoded();
        let counts = StreamCounts {
            packets: leg.rtp_out,
            octets: leg.payload_out,
            source: transcoded
                .then(|| leg.out.source_clock(now, leg.clock_rate))
                .flatten(),
        };
        let reports = leg.peer.is_none() || transcoded;
        let local = leg.local.as_deref_mut()?;
        let packet = local.poll_transmit(now, reports, counts, ntp, rng, buf, events);
        leg.local_source = local.is_playing();
        match packet? {
            LocalPacket::Rtp(len) => Some((false, len)),
            LocalPacket::Rtcp(len) => Some((true, len)),
        }
    }
}

#[cfg(test)]
mod tests;
