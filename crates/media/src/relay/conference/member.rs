//! A leg's place in its session's conference: its role, its jitter
//! buffer at the rate of the leg's codec, and the conversions between
//! that rate and the conference's mix rate (16 kHz while any member
//! speaks a wideband codec, else 8 kHz), each way with the relay's 2:1
//! frame converter. Everything lives in the member itself, made at join:
//! nothing allocates per packet or per tick.

use super::jitter::{Arrival, JitterBuffer, MAX_FRAME_LEN};
use super::ConferenceRole;
use crate::relay::local::FrameConverter;
use crate::relay::RelayCounters;
use crate::rtp::RtpPacket;
use crate::server::MediaRate;

/// A conference member (in its leg, boxed).
#[derive(Debug)]
pub(in crate::relay) struct Member {
    pub(super) role: ConferenceRole,
    /// The rate of the leg's codec.
    rate: MediaRate,
    mix_rate: MediaRate,
    jitter: JitterBuffer,
    to_mix: FrameConverter,
    from_mix: FrameConverter,
    /// This tick's frame at the mix rate.
    for_mix: [i16; MAX_FRAME_LEN],
    /// What the member hears this tick, at its own rate.
    hears: [i16; MAX_FRAME_LEN],
}

impl Member {
    pub(super) fn new(role: ConferenceRole, rate: MediaRate, mix_rate: MediaRate) -> Self {
        Self {
            role,
            rate,
            mix_rate,
            jitter: JitterBuffer::new(rate),
            to_mix: FrameConverter::new(rate, mix_rate),
            from_mix: FrameConverter::new(mix_rate, rate),
            for_mix: [0; MAX_FRAME_LEN],
            hears: [0; MAX_FRAME_LEN],
        }
    }

    /// The leg's codec rate or the mix rate changed: frames held at
    /// another rate are dropped.
    pub(super) fn retune(&mut self, rate: MediaRate, mix_rate: MediaRate) {
        if rate != self.rate {
            self.jitter = JitterBuffer::new(rate);
        }
        if (rate, mix_rate) != (self.rate, self.mix_rate) {
            self.to_mix = FrameConverter::new(rate, mix_rate);
            self.from_mix = FrameConverter::new(mix_rate, rate);
        }
        self.rate = rate;
        self.mix_rate = mix_rate;
    }

    /// A packet from the member's peer, already checked, its timestamp
    /// on a `clock_rate` clock, and its audio decoded at the leg's rate:
    /// into the jitter buffer, counted.
    pub(in crate::relay) fn handle_audio(
        &mut self,
        (packet, clock_rate): (&RtpPacket<'_>, u32),
        pcm: &[i16],
        counters: &mut RelayCounters,
    ) {
        let (ssrc, seq) = (packet.ssrc(), packet.sequence_number());
        let timestamp = (packet.timestamp(), clock_rate);
        match self.jitter.push(ssrc, seq, timestamp, pcm) {
            Arrival::Held { discarded } => {
                counters.conference_frames_dropped += u64::from(discarded);
            }
            Arrival::Late => counters.conference_frames_late += 1,
            Arrival::Duplicate => counters.conference_frames_dropped += 1,
        }
    }

    /// This tick's frame from the jitter buffer at the mix rate, `None`
    /// when there is none (silence).
    pub(super) fn frame_for_mix(&mut self) -> Option<&[i16]> {
        let frame = self.jitter.pop()?;
        let out = &mut self.for_mix[..self.mix_rate.frame_len()];
        self.to_mix.convert(frame, out);
        Some(out)
    }

    /// What the member hears, from its mix at the mix rate: the same at
    /// its own rate.
    pub(super) fn hear(&mut self, mixed: &[i16]) -> &[i16] {
        let out = &mut self.hears[..self.rate.frame_len()];
        self.from_mix.convert(mixed, out);
        out
    }
}
