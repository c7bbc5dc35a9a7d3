//! Switchboard's own end of one leg ([`LocalEndpoint`]) and the codec it
//! speaks ([`LegCodec`]): a play paced on the leg's own RTP clock and
//! sent as an RTP stream of our own SSRC (RFC 3550 §5.1: random SSRC,
//! initial sequence number and timestamp), G.711 encoding (ITU-T G.711),
//! the DTMF listener and the RTCP reporter.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::listen::DtmfListener;
use super::playout::{Playout, Tick};
use super::report::{RtcpReporter, SenderState};
use crate::error::RelayError;
use crate::g711::G711;
use crate::relay::{LegKey, MediaEvent};
use crate::rtp::RtpPacket;
use crate::server::{FrameSource, MediaRate, PlayEnd, PlayRequestId, FRAME_DURATION};

/// Length of the RTP header we write (no CSRC, no extension).
const RTP_HEADER_LEN: usize = 12;
/// Samples of the longest codec frame (16 kHz, 20 ms).
const MAX_CODEC_FRAME: usize = 320;

/// How a leg's audio is encoded. Only G.711 for now; the codec module's
/// codecs (G.722, Opus) will join here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LegEncoding {
    /// G.711 μ-law, `PCMU/8000` (RFC 3551 §4.5.14).
    Pcmu,
    /// G.711 A-law, `PCMA/8000` (RFC 3551 §4.5.14).
    Pcma,
}

impl LegEncoding {
    /// The RTP clock rate.
    pub const fn clock_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma => 8_000,
        }
    }

    /// The rate of the PCM it encodes.
    pub const fn media_rate(self) -> MediaRate {
        match self {
            Self::Pcmu | Self::Pcma => MediaRate::Narrowband,
        }
    }

    /// Its static payload type (RFC 3551 §6).
    pub const fn static_payload_type(self) -> Option<u8> {
        match self {
            Self::Pcmu => Some(0),
            Self::Pcma => Some(8),
        }
    }

    pub(crate) fn g711(self) -> G711 {
        match self {
            Self::Pcmu => G711::Mulaw,
            Self::Pcma => G711::Alaw,
        }
    }
}

/// The negotiated [`Codec`](crate::Codec), if the relay can play and
/// listen in it (G.711 only for now).
impl TryFrom<crate::Codec> for LegEncoding {
    type Error = RelayError;

    fn try_from(codec: crate::Codec) -> Result<Self, RelayError> {
        match codec {
            crate::Codec::Pcmu => Ok(Self::Pcmu),
            crate::Codec::Pcma => Ok(Self::Pcma),
            _ => Err(RelayError::UnsupportedCodec(
                "only G.711 is played and listened to",
            )),
        }
    }
}

/// What the relay needs to play into and listen on a leg: the codec
/// negotiated in its SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegCodec {
    /// Payload type of the audio codec (`m=` line / `a=rtpmap`).
    pub payload_type: u8,
    /// The audio codec.
    pub encoding: LegEncoding,
    /// Payload type of `telephone-event/8000` (RFC 4733 §7.1.1), if
    /// negotiated.
    pub telephone_event_pt: Option<u8>,
    /// Packet time (`a=ptime`); only 20 ms is supported.
    pub ptime: Duration,
}

impl LegCodec {
    /// `encoding` on its static payload type, telephone-events on
    /// payload type 101 (the usual choice), 20 ms packets.
    pub fn new(encoding: LegEncoding) -> Self {
        Self {
            payload_type: encoding.static_payload_type().unwrap_or(96),
            encoding,
            telephone_event_pt: Some(101),
            ptime: FRAME_DURATION,
        }
    }

    fn check(&self) -> Result<(), RelayError> {
        if self.payload_type > 127 || self.telephone_event_pt.is_some_and(|pt| pt > 127) {
            return Err(RelayError::UnsupportedCodec("payload type above 127"));
        }
        if self.telephone_event_pt == Some(self.payload_type) {
            return Err(RelayError::UnsupportedCodec(
                "telephone-event on the audio payload type",
            ));
        }
        if self.ptime != FRAME_DURATION {
            return Err(RelayError::UnsupportedCodec("ptime other than 20 ms"));
        }
        Ok(())
    }

    /// Timestamp units in one 20 ms frame.
    fn ts_per_frame(&self) -> u32 {
        self.encoding.clock_rate() / 50
    }
}

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
}

/// Switchboard's own end of one leg; see the module docs.
#[derive(Debug)]
pub(crate) struct LocalEndpoint {
    key: LegKey,
    codec: LegCodec,
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
    /// The earliest instant the relay's timer heap holds for this leg.
    pub(crate) scheduled: Option<Instant>,
    /// In the relay's queue of legs with packets to send.
    pub(crate) queued: bool,
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
            report_dtmf: false,
            ssrc: bits as u32,
            epoch: now,
            ts_base: (bits >> 32) as u32,
            seq: rng.next() as u16,
            playout: None,
            free_at: None,
            listener: DtmfListener::new(key),
            reporter: RtcpReporter::new(now, codec.encoding.clock_rate(), rng),
            pcm: [0; MAX_CODEC_FRAME],
            scheduled: None,
            queued: false,
        })
    }

    /// A new codec from a re-INVITE. A play goes on (G.711 to G.711
    /// needs no new converter).
    pub(crate) fn set_codec(&mut self, codec: LegCodec) -> Result<(), RelayError> {
        codec.check()?;
        if codec.encoding != self.codec.encoding {
            self.listener.reset_audio();
        }
        self.codec = codec;
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
        let elapsed = at.saturating_duration_since(self.epoch);
        let units =
            elapsed.as_nanos() * u128::from(self.codec.encoding.clock_rate()) / 1_000_000_000;
        // RTP timestamps are modulo 2^32.
        self.ts_base.wrapping_add(units as u32)
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

    /// The earliest instant something is due: a frame, the end of a
    /// telephone-event whose end packets were lost, an RTCP report.
    pub(crate) fn poll_timeout(&self) -> Instant {
        let mut next = self.reporter.poll_timeout();
        if let Some(playout) = &self.playout {
            next = next.min(playout.next_at());
        }
        if let Some(dtmf) = self.listener.poll_timeout() {
            next = next.min(dtmf);
        }
        next
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant, events: &mut VecDeque<MediaEvent>) {
        self.listener.handle_timeout(now, events);
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) has a packet at
    /// `now`.
    pub(crate) fn has_transmit(&self, now: Instant) -> bool {
        self.playout.as_ref().is_some_and(|p| p.is_due(now)) || self.reporter.is_due(now)
    }

    /// An RTP packet from the peer, already authenticated and decrypted,
    /// looked at as `hearing` says.
    pub(crate) fn handle_rtp(
        &mut self,
        now: Instant,
        packet: &RtpPacket<'_>,
        hearing: Hearing,
        events: &mut VecDeque<MediaEvent>,
    ) {
        let payload_type = packet.payload_type();
        let alone = hearing == Hearing::Alone;
        if hearing != Hearing::Bridged {
            self.reporter.handle_rtp(now, packet);
        }
        if Some(payload_type) == self.codec.telephone_event_pt {
            if alone || self.report_dtmf {
                self.listener.handle_telephone_event(now, packet, events);
            }
        } else if alone && payload_type == self.codec.payload_type {
            let law = self.codec.encoding.g711();
            self.listener
                .handle_audio(now, law, packet.payload(), events);
        }
    }

    /// An RTCP compound from the peer of a leg that is not bridged.
    pub(crate) fn handle_rtcp(&mut self, now: Instant, compound: &[u8]) {
        self.reporter.handle_rtcp(now, compound);
    }

    /// Writes the next packet due at `now` into `buf`: a frame of the
    /// play, else an RTCP report (only when `alone`: a bridged leg's
    /// RTCP is relayed end to end). `counts` and `wallclock` (NTP time
    /// of `now`) feed an SR.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
        alone: bool,
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
        let sender = SenderState {
            ntp,
            rtp_timestamp: self.clock(now),
            packets: counts.packets,
            octets: counts.octets,
        };
        self.reporter
            .poll_report(now, alone, self.ssrc, sender, rng, buf)
            .map(LocalPacket::Rtcp)
    }

    /// Writes one 20 ms frame of `pcm` into `buf` as an RTP packet of our
    /// stream: SSRC, the next sequence number (RFC 3550 §5.1), the
    /// timestamp and marker given, the codec's payload type; returns its
    /// length, `None` without room.
    fn write_frame(
        codec: LegCodec,
        (ssrc, seq, timestamp, marker): (u32, &mut u16, u32, bool),
        pcm: &[i16],
        buf: &mut [u8],
    ) -> Option<usize> {
        let len = RTP_HEADER_LEN + pcm.len();
        let packet = buf.get_mut(..len)?;
        let number = *seq;
        *seq = number.wrapping_add(1);
        packet[0] = 0x80;
        packet[1] = (u8::from(marker) << 7) | codec.payload_type;
        packet[2..4].copy_from_slice(&number.to_be_bytes());
        packet[4..8].copy_from_slice(&timestamp.to_be_bytes());
        packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
        codec
            .encoding
            .g711()
            .encode(pcm, &mut packet[RTP_HEADER_LEN..]);
        Some(len)
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
        let len = Self::write_frame(self.codec, stream, pcm, buf)?;
        self.free_at = Some(at + FRAME_DURATION);
        self.reporter.handle_sent();
        Some(len)
    }
}
