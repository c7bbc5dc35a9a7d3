//! How a bridge carries packets between legs whose codecs differ: the
//! media-aware relay of RFC 7092 §3.1.3 becomes, where it must, the
//! transcoding translator of RFC 7667 §3.2.1.3 / RFC 3550 §7.
//!
//! Decided by [`MediaRelay::bridge`] and again by
//! [`MediaRelay::set_codec`] on a bridged leg (a re-INVITE), for each
//! direction from the two legs' [`LegCodec`]s:
//!
//! - Either leg without a codec, or the same codec on the same payload
//!   types: forwarding as it always was, no decoding (the common case;
//!   the offer/answer makes the legs share a codec whenever it can).
//! - The same codec on other payload type numbers: forwarding with the
//!   types rewritten (`rewrite.rs`).
//! - Another encoding or clock rate: transcoding (`direction.rs`): the
//!   audio decoded, resampled (rubato) and encoded in the target's codec
//!   as a stream of its own, which the relay's continuity rewrite splices
//!   into the target leg's stream (RFC 3550 §5.1: the target sees one
//!   SSRC, sequence numbers one by one, its codec's timestamps: + 160 a
//!   20 ms frame for G.711 and G.722, RFC 3551 §4.5.2, + 960 for Opus,
//!   RFC 7587 §4.1); RFC 4733 telephone-events carried across (§2.5,
//!   long events in §2.5.1.3 segments on the target's clock), RFC 3389
//!   comfort noise carried or turned into silence, packet loss
//!   concealed. Audio after a gap in the sequence numbers waits up to
//!   [`RelayConfig::reorder_wait`](crate::RelayConfig::reorder_wait) for
//!   the missing packet (`reorder.rs`), on the relay's timers
//!   (`transmit.rs`): a packet reordered on the way is decoded in its
//!   place, one later than that is dropped ([`DropReason::Late`]).
//!
//! A transcoding bridge is the RTP end of each leg for RTCP (RFC 3550
//! §7.1: a translator that changes the encoding cannot pass the
//! reports on): each leg's RTCP is taken by its own end here and the
//! relay reports to each leg itself, its SR speaking for the stream the
//! leg receives. SRTP is removed and applied per leg as for any packet.
//!
//! A frame beyond the first that one packet gives (a packet longer than
//! 20 ms, the padded tail of a talkspurt, audio let go by the reorder
//! stage, the second packet at a long event's segment boundary) waits
//! for [`MediaRelay::poll_transmit`]. The transcoders and their buffers
//! are made when the bridge is planned; nothing allocates per packet.

mod direction;
mod reorder;
mod rewrite;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use self::direction::Transcoding;
use self::rewrite::PayloadMap;
use super::local::LegCodec;
use super::{DropReason, Forward, MediaRelay, Origin, Timer};
use crate::error::RelayError;
use crate::rtp::RtpPacket;

/// How packets from a leg reach its bridge partner, when not forwarded
/// as they are.
#[derive(Debug)]
pub(super) enum Conversion {
    /// The same codec: payload types rewritten.
    Rewrite(PayloadMap),
    /// Another codec: decoded and encoded.
    Transcode(Box<Transcoding>),
}

impl Conversion {
    pub(super) fn is_transcode(&self) -> bool {
        matches!(self, Self::Transcode(_))
    }

    /// The codecs it was planned for.
    fn codecs(&self) -> (LegCodec, LegCodec) {
        match self {
            Self::Rewrite(map) => (map.from, map.to),
            Self::Transcode(transcoding) => (transcoding.from, transcoding.to),
        }
    }
}

/// What packets from a leg with codec `from` to one with codec `to`
/// need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Forward,
    Rewrite,
    Transcode,
}

fn plan(from: Option<LegCodec>, to: Option<LegCodec>) -> Plan {
    let (Some(from), Some(to)) = (from, to) else {
        return Plan::Forward;
    };
    if from.encoding != to.encoding {
        return Plan::Transcode;
    }
    // A type the sender does not use needs no counterpart.
    let same = |sent: Option<u8>, taken: Option<u8>| sent.is_none() || sent == taken;
    let events_same = same(from.telephone_event_pt, to.telephone_event_pt)
        && (from.telephone_event_pt.is_none()
            || from.telephone_event_rate == to.telephone_event_rate);
    if from.payload_type == to.payload_type
        && events_same
        && same(from.comfort_noise_pt, to.comfort_noise_pt)
    {
        Plan::Forward
    } else {
        Plan::Rewrite
    }
}

impl MediaRelay {
    /// Plans both directions of the bridge of the legs in slots `a` and
    /// `b` from their codecs, keeping a direction whose codecs did not
    /// change (its stream goes on). On an error (a transcoder could not
    /// be made) both directions forward as they are.
    pub(super) fn plan_bridge(&mut self, a: usize, b: usize) -> Result<(), RelayError> {
        let codec = |slot: usize| {
            let leg = self.legs.get(slot)?.as_ref()?;
            leg.local.as_deref().map(|local| local.codec())
        };
        let (codec_a, codec_b) = (codec(a), codec(b));
        let wait = self.config.reorder_wait;
        let mut result = Ok(());
        for (from, to, slot) in [(codec_a, codec_b, a), (codec_b, codec_a, b)] {
            let Some(leg) = self.legs.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let (Some(from_codec), Some(to_codec)) = (from, to) else {
                leg.convert = None;
                continue;
            };
            if leg
                .convert
                .as_ref()
                .is_some_and(|convert| convert.codecs() == (from_codec, to_codec))
            {
                continue;
            }
            leg.convert = match plan(from, to) {
                Plan::Forward => None,
                Plan::Rewrite => Some(Conversion::Rewrite(PayloadMap {
                    from: from_codec,
                    to: to_codec,
                })),
                Plan::Transcode => {
                    match Transcoding::new(from_codec, to_codec, wait, &mut self.rng) {
                        Ok(transcoding) => {
                            // Room for its reorder timer (and one stale one).
                            self.timers.reserve(2);
                            Some(Conversion::Transcode(Box::new(transcoding)))
                        }
                        Err(error) => {
                            result = Err(RelayError::Codec(error));
                            None
                        }
                    }
                }
            };
        }
        if result.is_err() {
            for slot in [a, b] {
                if let Some(leg) = self.legs.get_mut(slot).and_then(Option::as_mut) {
                    leg.convert = None;
                }
            }
        }
        // Room in the queue of frames to send for every leg (each is in
        // it at most once), so that queueing never allocates.
        let legs = self.index.len();
        let queued = self.transcode_ready.len();
        self.transcode_ready.reserve(legs.saturating_sub(queued));
        result
    }

    /// Carries the RTP packet in `buf[..len]` from the leg in `slot` to
    /// its partner in `peer` through the bridge's conversion.
    pub(super) fn convert_rtp(
        &mut self,
        now: Instant,
        slot: usize,
        peer: usize,
        buf: &mut [u8],
        len: usize,
    ) -> Result<Option<Forward>, DropReason> {
        let target = self
            .legs
            .get(peer)
            .and_then(Option::as_ref)
            .ok_or(DropReason::NoPeer)?;
        // Nothing is transcoded for a leg that would not take it: its
        // stream just has a gap, a talkspurt when it resumes.
        let refused = if !target.receives() {
            Some(DropReason::OnHold)
        } else if target.local_source {
            Some(DropReason::LocalPlayback)
        } else {
            None
        };
        if let Some(reason) = refused {
            self.pass_by_transcoder(now, slot, buf.get(..len).unwrap_or_default());
            return Err(reason);
        }
        let Self {
            legs,
            counters,
            transcode_ready,
            timers,
            ..
        } = self;
        let leg = legs
            .get_mut(slot)
            .and_then(Option::as_mut)
            .ok_or(DropReason::UnknownPort)?;
        let len = match leg.convert.as_mut() {
            None => len,
            Some(Conversion::Rewrite(map)) => {
                map.apply(buf.get_mut(..len).ok_or(DropReason::Malformed)?)?;
                len
            }
            Some(Conversion::Transcode(transcoding)) => {
                let written = transcoding.handle_rtp(now, buf, len, counters);
                follow_up(transcode_ready, timers, slot, transcoding);
                let Some(written) = written? else {
                    counters.consumed += 1;
                    return Ok(None);
                };
                written
            }
        };
        self.send_to(now, peer, Origin::Relayed, false, None, buf, len)
            .map(Some)
    }

    /// An RTP packet (`packet`, decrypted) from the leg in `slot` that
    /// does not reach its transcoder (taken or dropped before it): it
    /// fills its place in the direction's order (see `reorder.rs`).
    pub(super) fn pass_by_transcoder(&mut self, now: Instant, slot: usize, packet: &[u8]) {
        let Self {
            legs,
            counters,
            transcode_ready,
            timers,
            ..
        } = self;
        let Some(transcoding) = transcoding_at(legs, slot) else {
            return;
        };
        let Ok(packet) = RtpPacket::parse(packet) else {
            return;
        };
        let (seq, ssrc) = (packet.sequence_number(), packet.ssrc());
        transcoding.handle_other(now, seq, ssrc, counters);
        follow_up(transcode_ready, timers, slot, transcoding);
    }

    /// The reorder timer of the transcoding direction of the leg in
    /// `slot`, set for `at`, fired at `now`: the audio held past its
    /// wait is decoded, its frames queued for
    /// [`MediaRelay::poll_transmit`].
    pub(super) fn handle_transcode_timer(&mut self, now: Instant, at: Instant, slot: usize) {
        let Self {
            legs,
            counters,
            transcode_ready,
            timers,
            ..
        } = self;
        let Some(transcoding) = transcoding_at(legs, slot) else {
            return;
        };
        if transcoding.scheduled != Some(at) {
            // Superseded by an earlier entry, or another direction since.
            return;
        }
        transcoding.scheduled = None;
        transcoding.handle_timeout(now, counters);
        follow_up(transcode_ready, timers, slot, transcoding);
    }

    /// The next frame a transcoding bridge has waiting (see the module
    /// docs), written into `buf`; part of
    /// [`MediaRelay::poll_transmit`].
    pub(super) fn poll_transcoded(&mut self, now: Instant, buf: &mut [u8]) -> Option<Forward> {
        while let Some(&slot) = self.transcode_ready.front() {
            let Self { legs, counters, .. } = self;
            let leg = legs.get_mut(slot).and_then(Option::as_mut);
            let Some((peer, transcoding)) = leg.and_then(|leg| match leg.convert.as_mut() {
                Some(Conversion::Transcode(transcoding)) => Some((leg.peer, transcoding)),
                _ => None,
            }) else {
                // Unbridged or replanned since.
                self.transcode_ready.pop_front();
                continue;
            };
            let written = transcoding.poll_frame(buf, counters);
            let (Some(peer), Some(len)) = (peer, written) else {
                transcoding.queued = false;
                self.transcode_ready.pop_front();
                continue;
            };
            match self.send_to(now, peer, Origin::Relayed, false, None, buf, len) {
                Ok(forward) => return Some(forward),
                Err(reason) => {
                    self.drop(None, reason);
                }
            }
        }
        None
    }
}

/// The transcoding direction of the leg in `slot`, if it has one.
fn transcoding_at(legs: &mut [Option<super::Leg>], slot: usize) -> Option<&mut Transcoding> {
    match legs.get_mut(slot)?.as_mut()?.convert.as_mut()? {
        Conversion::Transcode(transcoding) => Some(&mut **transcoding),
        Conversion::Rewrite(_) => None,
    }
}

/// After the direction in `slot` took input or time: its frame queued
/// for [`MediaRelay::poll_transmit`] if it has one, its reorder timer
/// armed.
fn follow_up(
    transcode_ready: &mut std::collections::VecDeque<usize>,
    timers: &mut BinaryHeap<Reverse<(Instant, Timer)>>,
    slot: usize,
    transcoding: &mut Transcoding,
) {
    if transcoding.has_frame() && !transcoding.queued {
        transcoding.queued = true;
        transcode_ready.push_back(slot);
    }
    arm(timers, slot, transcoding);
}

/// Puts the reorder deadline of the transcoding direction of the leg in
/// `slot` on the relay's timer heap, unless an entry at least as early
/// is there (entries are lazily deleted, as in `transmit.rs`).
fn arm(
    timers: &mut BinaryHeap<Reverse<(Instant, Timer)>>,
    slot: usize,
    transcoding: &mut Transcoding,
) {
    let Some(due) = transcoding.poll_timeout() else {
        return;
    };
    if transcoding
        .scheduled
        .is_none_or(|scheduled| due < scheduled)
    {
        transcoding.scheduled = Some(due);
        timers.push(Reverse((due, Timer::Transcode(slot))));
    }
}
