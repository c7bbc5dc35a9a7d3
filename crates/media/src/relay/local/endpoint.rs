//! Switchboard's own end of one leg ([`LocalEndpoint`]) in the codec the
//! leg speaks ([`LegCodec`]): a play paced on the leg's own RTP clock and
//! sent as an RTP stream of our own SSRC (RFC 3550 §5.1: random SSRC,
//! initial sequence number and timestamp), encoded in the leg's codec
//! (G.711, G.722, Opus: see `codec.rs`), what the leg receives decoded
//! for the listeners (`heard.rs`), the DTMF listener and the RTCP
//! reporter.

use std::collections::VecDeque;
use std::time::Instant;

use super::codec::LegCodec;
use super::heard::HeardAudio;
use super::listen::DtmfListener;
use super::playout::{Playout, Tick};
use super::report::{RtcpReporter, SenderState};
use crate::codec::AudioEncoder;
use crate::error::RelayError;
use crate::relay::transmit::{Schedule, TimedSender};
use crate::relay::{LegKey, MediaEvent};
use crate::rtp::RtpPacket;
use crate::server::{FrameSource, PlayEnd, PlayRequestId, FRAME_DURATION};

/// Length of the RTP header we write (no CSRC, no extension).
const RTP_HEADER_LEN: usize = 12;
/// Samples of the longest codec frame (16 kHz, 20 ms).
const MAX_CODEC_FRAME: usize = 320;

/// A small non-cryptographic generator (xorshift64*) for SSRCs, initial
/// sequence numbers and timestamps, CNAMEs and RTCP intervals; seeded
/// from the process's hash keys, so no clock is read.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn from_entropy() -> Self {
        use std::hash::BuildHasher;
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
        Self(seed | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What switchboard's end of a leg does with the RTP the leg receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hearing {
    /// Not bridged: everything is for us (statistics, telephone-events,
    /// in-band tones).
    Alone,
    /// Bridged: only telephone-events, and only when reporting DTMF.
    Bridged,
    /// Bridged through a transcoder: statistics for our reports (RTCP
    /// ends here), telephone-events when reporting DTMF.
    Transcoded,
    /// In a conference: statistics for our reports, telephone-events
    /// when reporting DTMF; the audio goes to the mix.
    Conference,
}

/// A packet [`LocalEndpoint::poll_transmit`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LocalPacket {
    /// RTP of `len` bytes.
    Rtp(usize),
    /// An RTCP compound of `len` bytes.
    Rtcp(usize),
}

/// What the relay knows of the stream toward the leg, for an SR.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StreamCounts {
    pub(crate) packets: u32,
    pub(crate) octets: u32,
    /// The source feeding the stream and its RTP timestamp now, when it
    /// is not our own end (a transcoding bridge's): the SR speaks for it.
    pub(crate) source: Option<(u32, u32)>,
}

/// Switchboard's own end of one leg; see the module docs.
pub(crate) struct LocalEndpoint {
    key: LegKey,
    codec: LegCodec,
    encoder: Box<dyn AudioEncoder>,
    heard: HeardAudio,
    report_dtmf: bool,
    ssrc: u32,
    /// The local RTP clock: `ts_base` at `epoch`.
    epoch: Instant,
    ts_base: u32,
    seq: u16,
    playout: Option<Playout>,
    /// End of the last frame sent: a play starting before then goes on
    /// from there, so two plays never overlap on the clock.
    free_at: Option<Instant>,
    listener: DtmfListener,
    reporter: RtcpReporter,
    pcm: [i16; MAX_CODEC_FRAME],
    /// Its place on the relay's timers.
    schedule: Schedule,
}

impl std::fmt::Debug for LocalEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEndpoint")
            .field("key", &self.key)
            .field("codec", &self.codec)
            .field("ssrc", &self.ssrc)
            .field("playing", &self.playout.is_some())
            .finish_non_exhaustive()
    }
}

impl LocalEndpoint {
    pub(crate) fn new(
        now: Instant,
        key: LegKey,
        codec: LegCodec,
        rng: &mut Rng,
    ) -> Result<Self, RelayError> {
        codec.check()?;
        // Random SSRC, sequence number and timestamp (RFC 3550 §5.1).
        let bits = rng.next();
        Ok(Self {
            key,
            codec,
            encoder: codec.encoding.local_encoder()?,
            heard: HeardAudio::new(codec.encoding)?,
            report_dtmf: false,
            ssrc: bits as u32,
            epoch: now,
            ts_base: (bits >> 32) as u32,
            seq: rng.next() as u16,
            playout: None,
            free_at: None,
            listener: DtmfListener::new(key, codec.telephone_event_rate),
            reporter: RtcpReporter::new(now, codec.encoding.clock_rate(), rng),
            pcm: [0; MAX_CODEC_FRAME],
            schedule: Schedule::default(),
        })
    }

    /// A new codec from a re-INVITE, from `now` on. Another encoding
    /// gets a new encoder and decoder, and a play goes on in it from
    /// its next frame; another clock rate restarts the local clock where
    /// it was (so timestamps go on from the same point, in new units)
    /// and the reception statistics.
    pub(crate) fn set_codec(&mut self, now: Instant, codec: LegCodec) -> Result<(), RelayError> {
        codec.check()?;
        if codec.encoding != self.codec.encoding {
            let encoder = codec.encoding.local_encoder()?;
            let heard = HeardAudio::new(codec.encoding)?;
            self.encoder = encoder;
            self.heard = heard;
            self.listener.reset_audio();
        }
        let clock_rate = codec.encoding.clock_rate();
        if clock_rate != self.codec.encoding.clock_rate() {
            self.ts_base = self.clock(now);
            self.epoch = now;
            self.reporter.set_clock_rate(clock_rate);
        }
        self.listener
            .set_telephone_event_rate(codec.telephone_event_rate);
        self.codec = codec;
        if let Some(playout) = &mut self.playout {
            let next = playout.next_at();
            let timestamp = clock_at(self.epoch, self.ts_base, clock_rate, next);
            playout.retarget(codec.encoding.media_rate(), timestamp, codec.ts_per_frame());
        }
        Ok(())
    }

    /// The leg's codec.
    pub(crate) fn codec(&self) -> LegCodec {
        self.codec
    }

    pub(crate) fn set_report_dtmf(&mut self, report: bool) {
        self.report_dtmf = report;
    }

    pub(crate) fn reports_dtmf(&self) -> bool {
        self.report_dtmf
    }

    pub(crate) fn is_playing(&self) -> bool {
        self.playout.is_some()
    }

    pub(crate) fn source_mut(&mut self) -> Option<&mut dyn FrameSource> {
        self.playout.as_mut().map(Playout::source_mut)
    }

    /// The local RTP clock at `at`.
    fn clock(&self, at: Instant) -> u32 {
        clock_at(
            self.epoch,
            self.ts_base,
            self.codec.encoding.clock_rate(),
            at,
        )
    }

    /// Starts playing `source`, in place of the play in progress (which
    /// ends as [`PlayEnd::Stopped`]).
    pub(crate) fn play(
        &mut self,
        now: Instant,
        request: PlayRequestId,
        source: Box<dyn FrameSource>,
        events: &mut VecDeque<MediaEvent>,
    ) {
        let continues = self.stop(events).or(self.free_at).filter(|&at| at >= now);
        let start = continues.unwrap_or(now);
        let playout = Playout::new(
            request,
            source,
            self.codec.encoding.media_rate(),
            start,
            self.clock(start),
            self.codec.ts_per_frame(),
            continues.is_none(),
        );
        self.playout = Some(playout);
    }

    /// Ends the play in progress as [`PlayEnd::Stopped`]; returns when
    /// its next frame would have been due.
    pub(crate) fn stop(&mut self, events: &mut VecDeque<MediaEvent>) -> Option<Instant> {
        let playout = self.playout.take()?;
        self.finish(&playout, PlayEnd::Stopped, events);
        Some(playout.next_at())
    }

    fn finish(&self, playout: &Playout, end: PlayEnd, events: &mut VecDeque<MediaEvent>) {
        events.push_back(MediaEvent::PlayFinished {
            leg: self.key,
            request: playout.request(),
            end,
        });
    }

    /// An RTP packet from the peer, already authenticated and decrypted,
    /// looked at as `hearing` says; `decode`: its audio is wanted
    /// elsewhere ([`heard_pcm`](Self::heard_pcm),
    /// [`heard_narrowband`](Self::heard_narrowband)) whatever the
    /// hearing.
    pub(crate) fn handle_rtp(
        &mut self,
        now: Instant,
        packet: &RtpPacket<'_>,
        hearing: Hearing,
        decode: bool,
        events: &mut VecDeque<MediaEvent>,
    ) {
        self.heard.clear();
        let payload_type = packet.payload_type();
        let alone = hearing == Hearing::Alone;
        if hearing != Hearing::Bridged {
            self.reporter.handle_rtp(now, packet);
        }
        if Some(payload_type) == self.codec.telephone_event_pt {
            if alone || self.report_dtmf {
                self.listener.handle_telephone_event(now, packet, events);
            }
            return;
        }
        if payload_type != self.codec.payload_type {
            // Comfort noise, another payload type: nothing to hear.
            return;
        }
        let inband = alone && self.codec.encoding.carries_inband_dtmf();
        if !(inband || decode) || self.heard.decode(packet.payload()).is_err() {
            // A payload that does not decode is the peer's problem:
            // silence for the listeners.
            return;
        }
        if inband {
            if let Some(samples) = self.heard.narrowband() {
                self.listener.handle_audio(now, samples, events);
            }
        }
    }

    /// The audio of the last packet handed to
    /// [`handle_rtp`](Self::handle_rtp), at the codec's media rate, if it
    /// was decoded.
    pub(crate) fn heard_pcm(&self) -> Option<&[i16]> {
        self.heard.pcm()
    }

    /// The same at 8 kHz.
    pub(crate) fn heard_narrowband(&mut self) -> Option<&[i16]> {
        self.heard.narrowband()
    }

    /// The relay sent the leg a packet of a transcoding bridge: the next
    /// report is an SR.
    pub(crate) fn handle_sent(&mut self) {
        self.reporter.handle_sent();
    }

    /// An RTCP compound from the peer of a leg that is not bridged.
    pub(crate) fn handle_rtcp(&mut self, now: Instant, compound: &[u8]) {
        self.reporter.handle_rtcp(now, compound);
    }

    /// Writes the next packet due at `now` into `buf`: a frame of the
    /// play, else an RTCP report (only when `reports`: a leg alone or
    /// bridged through a transcoder; other bridged legs' RTCP is relayed
    /// end to end). `counts` and `wallclock` (NTP time of `now`) feed an
    /// SR.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
        reports: bool,
        counts: StreamCounts,
        ntp: u64,
        rng: &mut Rng,
        buf: &mut [u8],
        events: &mut VecDeque<MediaEvent>,
    ) -> Option<LocalPacket> {
        while let Some(playout) = &mut self.playout {
            let frame_len = self.codec.encoding.media_rate().frame_len();
            let pcm = &mut self.pcm[..frame_len];
            match playout.poll_frame(now, pcm) {
                Tick::NotDue => break,
                Tick::Ended => {
                    if let Some(playout) = self.playout.take() {
                        self.free_at = Some(playout.next_at());
                        self.finish(&playout, PlayEnd::Completed, events);
                    }
                }
                Tick::Frame { timestamp, marker } => {
                    self.free_at = Some(playout.next_at());
                    let pcm = &self.pcm[..frame_len];
                    let Some(len) = Self::write_frame(
                        self.codec,
                        self.encoder.as_mut(),
                        (self.ssrc, &mut self.seq, timestamp, marker),
                        pcm,
                        buf,
                    ) else {
                        // No room: the frame is lost, the schedule goes on.
                        continue;
                    };
                    self.reporter.handle_sent();
                    return Some(LocalPacket::Rtp(len));
                }
            }
        }
        let (ssrc, rtp_timestamp) = counts.source.unwrap_or((self.ssrc, self.clock(now)));
        let sender = SenderState {
            ntp,
            rtp_timestamp,
            packets: counts.packets,
            octets: counts.octets,
        };
        self.reporter
            .poll_report(now, reports, ssrc, sender, rng, buf)
            .map(LocalPacket::Rtcp)
    }

    /// Writes one 20 ms frame of `pcm` into `buf` as an RTP packet of our
    /// stream: SSRC, the next sequence number (RFC 3550 §5.1), the
    /// timestamp and marker given, the codec's payload type, the frame
    /// encoded with `encoder`; returns its length, `None` without room
    /// (or if the encoder refused, which a frame of the right length
    /// never makes it do).
    fn write_frame(
        codec: LegCodec,
        encoder: &mut dyn AudioEncoder,
        (ssrc, seq, timestamp, marker): (u32, &mut u16, u32, bool),
        pcm: &[i16],
        buf: &mut [u8],
    ) -> Option<usize> {
        let payload = buf.get_mut(RTP_HEADER_LEN..)?;
        let payload_len = encoder.encode(pcm, payload).ok()?;
        let packet = &mut buf[..RTP_HEADER_LEN];
        let number = *seq;
        *seq = number.wrapping_add(1);
        packet[0] = 0x80;
        packet[1] = (u8::from(marker) << 7) | codec.payload_type;
        packet[2..4].copy_from_slice(&number.to_be_bytes());
        packet[4..8].copy_from_slice(&timestamp.to_be_bytes());
        packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
        Some(RTP_HEADER_LEN + payload_len)
    }

    /// Writes a frame made elsewhere (a conference's mix for this leg)
    /// covering `at` to `at + 20 ms` into `buf` as the next packet of our
    /// stream, its timestamp our clock at `at`. `None` while a play has
    /// the stream, while the last frame sent still covers `at` (no two
    /// frames overlap on the clock), or without room. After a gap the
    /// packet starts a talkspurt (marker, RFC 3551 §4.1).
    pub(crate) fn write_mixed(
        &mut self,
        at: Instant,
        pcm: &[i16],
        buf: &mut [u8],
    ) -> Option<usize> {
        if self.playout.is_some() || self.free_at.is_some_and(|free| at < free) {
            return None;
        }
        let frame_len = self.codec.encoding.media_rate().frame_len();
        let pcm = pcm.get(..frame_len)?;
        let marker = self.free_at != Some(at);
        let timestamp = self.clock(at);
        let stream = (self.ssrc, &mut self.seq, timestamp, marker);
        let len = Self::write_frame(self.codec, self.encoder.as_mut(), stream, pcm, buf)?;
        self.free_at = Some(at + FRAME_DURATION);
        self.reporter.handle_sent();
        Some(len)
    }
}

impl TimedSender for LocalEndpoint {
    fn schedule(&mut self) -> &mut Schedule {
        &mut self.schedule
    }

    /// A frame, the end of a telephone-event whose end packets were
    /// lost, an RTCP report.
    fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.reporter.poll_timeout();
        if let Some(playout) = &self.playout {
            next = next.min(playout.next_at());
        }
        if let Some(dtmf) = self.listener.poll_timeout() {
            next = next.min(dtmf);
        }
        Some(next)
    }

    fn handle_timeout(&mut self, now: Instant, events: &mut VecDeque<MediaEvent>) {
        self.listener.handle_timeout(now, events);
    }

    /// A frame of the play or an RTCP report
    /// ([`poll_transmit`](Self::poll_transmit)).
    fn has_transmit(&self, now: Instant) -> bool {
        self.playout.as_ref().is_some_and(|p| p.is_due(now)) || self.reporter.is_due(now)
    }
}

/// The RTP clock that reads `ts_base` at `epoch` and counts `clock_rate`
/// units a second, at `at`.
fn clock_at(epoch: Instant, ts_base: u32, clock_rate: u32, at: Instant) -> u32 {
    let elapsed = at.saturating_duration_since(epoch);
    let units = elapsed.as_nanos() * u128::from(clock_rate) / 1_000_000_000;
    // RTP timestamps are modulo 2^32.
    ts_base.wrapping_add(units as u32)
}
