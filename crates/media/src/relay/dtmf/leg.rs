//! One leg's DTMF machinery for bridges: how its peer takes key presses
//! ([`LegDtmf`]), the receivers of what it sends, and the stream of our
//! own that carries presses to it (RFC 4733 events or tones).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::duplicate::DuplicateFilter;
use crate::dtmf::{
    DtmfDetector, DtmfDigit, DtmfMethod, InbandEvent, ReceivedEvent, TelephoneEventReceiver,
    TelephoneEventReceiverConfig, TelephoneEventSender, TelephoneEventSenderConfig,
};
use crate::error::RelayError;
use crate::g711::G711;
use crate::relay::local::{LegCodec, LegEncoding, Rng};
use crate::relay::transmit::{Schedule, TimedSender};
use crate::relay::MediaEvent;
use crate::rtp::RtpPacket;
use crate::tone::{Tone, TonePlayer, FRAME_SAMPLES};

/// Length of the RTP header we write (no CSRC, no extension).
const RTP_HEADER_LEN: usize = 12;
/// One tone frame, and the update interval of our RFC 4733 events
/// (§2.5.1.2: a sender matching its audio packet time).
const FRAME: Duration = Duration::from_millis(20);
/// Silent frames after a press played as tones: ITU-T Q.24 asks for
/// 40 ms between two tones, so the same key twice is heard twice.
const TONE_GAP_FRAMES: u32 = 3;
/// Presses are held at least this long (Q.24 recognises 40 ms tones)...
const MIN_PRESS: Duration = Duration::from_millis(40);
/// ... and at most this long (a stuck INFO `Duration`).
const MAX_PRESS: Duration = Duration::from_secs(8);
/// Presses waiting to be sent to one leg; more are dropped.
const MAX_QUEUED: usize = 32;

/// How a leg's peer takes DTMF, and the payload types of the leg's
/// stream to speak it in; given with
/// [`MediaRelay::set_dtmf`](crate::MediaRelay::set_dtmf).
///
/// `method` is also how the peer is taken to send its own presses: a
/// peer that takes in-band tones sends tones, which are listened for in
/// its G.711 audio while it is bridged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegDtmf {
    /// RFC 4733 events, SIP INFO (sent by the call layer:
    /// [`MediaEvent::BridgedDtmf`](crate::MediaEvent::BridgedDtmf)) or
    /// in-band tones.
    pub method: DtmfMethod,
    /// The leg's `telephone-event` payload type, if negotiated.
    pub telephone_event_pt: Option<u8>,
    /// Clock rate of that `telephone-event/<rate>` (its duration field).
    pub telephone_event_rate: u32,
    /// The payload type of the leg's audio.
    pub audio_pt: u8,
    /// The audio's G.711 law; `None` for other codecs, which carry no
    /// tones we make or listen for.
    pub g711: Option<G711>,
    /// The RTP clock rate of the leg's stream.
    pub clock_rate: u32,
}

impl LegDtmf {
    /// A leg whose peer takes `method`, on the leg's negotiated `codec`.
    pub fn with_codec(method: DtmfMethod, codec: &LegCodec) -> Self {
        let g711 = match codec.encoding {
            LegEncoding::Pcmu => Some(G711::Mulaw),
            LegEncoding::Pcma => Some(G711::Alaw),
            _ => None,
        };
        LegDtmf {
            method,
            telephone_event_pt: codec.telephone_event_pt,
            telephone_event_rate: codec.telephone_event_rate,
            audio_pt: codec.payload_type,
            g711,
            clock_rate: codec.encoding.clock_rate(),
        }
    }

    pub(super) fn check(&self) -> Result<(), RelayError> {
        let types = [Some(self.audio_pt), self.telephone_event_pt];
        if types.iter().flatten().any(|&pt| pt > 127) {
            return Err(RelayError::UnsupportedCodec("payload type above 127"));
        }
        if self.telephone_event_pt == Some(self.audio_pt) {
            return Err(RelayError::UnsupportedCodec(
                "telephone-event on the audio payload type",
            ));
        }
        if self.telephone_event_rate == 0 || self.clock_rate == 0 {
            return Err(RelayError::UnsupportedCodec("clock rate 0"));
        }
        Ok(())
    }

    /// Whether tones can be listened for or made on the leg: G.711 at
    /// 8 kHz.
    fn tones(&self) -> Option<G711> {
        self.g711.filter(|_| self.clock_rate == 8000)
    }
}

/// A press played as tones, one 20 ms frame at a time.
#[derive(Debug, Clone)]
struct TonePress {
    player: TonePlayer,
    /// Frames still to send, the silent gap included.
    frames_left: u32,
    next_at: Instant,
    timestamp: u32,
    first: bool,
}

/// The RTP stream of our own toward the leg: random SSRC, sequence
/// number and clock (RFC 3550 §5.1), spliced into what the leg receives
/// by the relay's continuity rewrite.
#[derive(Debug, Clone, Copy)]
struct OwnStream {
    ssrc: u32,
    seq: u16,
    epoch: Instant,
    ts_base: u32,
}

impl OwnStream {
    fn clock(&self, at: Instant, clock_rate: u32) -> u32 {
        let elapsed = at.saturating_duration_since(self.epoch);
        let units = elapsed.as_nanos() * u128::from(clock_rate) / 1_000_000_000;
        // RTP timestamps are modulo 2^32.
        self.ts_base.wrapping_add(units as u32)
    }

    /// Writes an RTP header into `buf` (at least 12 bytes), taking the
    /// next sequence number.
    fn header(&mut self, buf: &mut [u8], marker: bool, payload_type: u8, timestamp: u32) {
        let number = self.seq;
        self.seq = number.wrapping_add(1);
        buf[0] = 0x80;
        buf[1] = (u8::from(marker) << 7) | payload_type;
        buf[2..4].copy_from_slice(&number.to_be_bytes());
        buf[4..8].copy_from_slice(&timestamp.to_be_bytes());
        buf[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
    }
}

/// One leg's DTMF state; see the module docs.
#[derive(Debug)]
pub(in crate::relay) struct LegDtmfState {
    settings: LegDtmf,
    /// The peer's telephone-events, when they are converted.
    receiver: TelephoneEventReceiver,
    /// The peer's tones, when it sends them (`method` in-band, G.711).
    detector: Option<DtmfDetector>,
    /// Presses heard on the leg, for its bridge partner.
    heard: VecDeque<(DtmfDigit, Duration)>,
    stream: OwnStream,
    events: TelephoneEventSender,
    tone_queue: VecDeque<(DtmfDigit, Duration)>,
    tone: Option<TonePress>,
    /// Presses given to the leg in two forms (`duplicate.rs`).
    duplicates: DuplicateFilter,
    /// Its place on the relay's timers.
    schedule: Schedule,
}

fn receiver(settings: &LegDtmf) -> TelephoneEventReceiver {
    TelephoneEventReceiver::new(TelephoneEventReceiverConfig {
        clock_rate: settings.telephone_event_rate,
        ..TelephoneEventReceiverConfig::default()
    })
}

fn sender(settings: &LegDtmf) -> TelephoneEventSender {
    let rate = settings.telephone_event_rate;
    TelephoneEventSender::new(TelephoneEventSenderConfig {
        clock_rate: rate,
        interval: rate / 50,
        ..TelephoneEventSenderConfig::default()
    })
}

fn detector(settings: &LegDtmf) -> Option<DtmfDetector> {
    let listens = settings.method == DtmfMethod::Inband && settings.tones().is_some();
    listens.then(DtmfDetector::default)
}

impl LegDtmfState {
    pub(in crate::relay) fn new(now: Instant, settings: LegDtmf, rng: &mut Rng) -> Self {
        let bits = rng.next();
        LegDtmfState {
            settings,
            receiver: receiver(&settings),
            detector: detector(&settings),
            heard: VecDeque::with_capacity(4),
            stream: OwnStream {
                ssrc: bits as u32,
                seq: rng.next() as u16,
                epoch: now,
                ts_base: (bits >> 32) as u32,
            },
            events: sender(&settings),
            tone_queue: VecDeque::with_capacity(4),
            tone: None,
            duplicates: DuplicateFilter::default(),
            schedule: Schedule::default(),
        }
    }

    pub(in crate::relay) fn settings(&self) -> &LegDtmf {
        &self.settings
    }

    /// New settings (a re-INVITE): receivers and the sender whose clock
    /// changed start again; our stream goes on.
    pub(in crate::relay) fn update(&mut self, now: Instant, settings: LegDtmf) {
        let old = self.settings;
        if old.telephone_event_rate != settings.telephone_event_rate {
            self.receiver = receiver(&settings);
            self.events = sender(&settings);
        }
        if old.method != settings.method || old.tones() != settings.tones() {
            self.detector = detector(&settings);
        }
        if old.clock_rate != settings.clock_rate {
            self.stream.ts_base = self.stream.clock(now, old.clock_rate);
            self.stream.epoch = now;
        }
        if settings.tones().is_none() {
            self.tone_queue.clear();
            self.tone = None;
        }
        self.settings = settings;
    }

    /// Whether the partner's audio toward the leg is held back: a press
    /// is being sent (RFC 4733 §2.5.1.1: not as tone and event at once).
    pub(in crate::relay) fn holds_audio(&self) -> bool {
        self.events.is_sending() || self.tone.is_some()
    }

    /// Why a press cannot be sent to the leg now, if it cannot.
    pub(in crate::relay) fn refusal(&self) -> Option<&'static str> {
        match self.settings.method {
            DtmfMethod::Rfc4733 if self.settings.telephone_event_pt.is_none() => {
                Some("no telephone-event negotiated")
            }
            DtmfMethod::Rfc4733 if self.events.queued() >= MAX_QUEUED => {
                Some("too many presses queued")
            }
            DtmfMethod::Inband if self.settings.tones().is_none() => Some("tones need G.711 audio"),
            DtmfMethod::Inband if self.tone_queue.len() >= MAX_QUEUED => {
                Some("too many presses queued")
            }
            DtmfMethod::Info => Some("the leg takes DTMF in SIP INFO"),
            DtmfMethod::Rfc4733 | DtmfMethod::Inband => None,
        }
    }

    /// The presses given to the leg each way, to match duplicates.
    pub(super) fn duplicates(&mut self) -> &mut DuplicateFilter {
        &mut self.duplicates
    }

    /// Queues a press to send to the leg the way its peer takes them.
    pub(in crate::relay) fn send(
        &mut self,
        now: Instant,
        digit: DtmfDigit,
        duration: Duration,
    ) -> Result<(), &'static str> {
        if let Some(reason) = self.refusal() {
            return Err(reason);
        }
        let duration = duration.clamp(MIN_PRESS, MAX_PRESS);
        if self.settings.method == DtmfMethod::Inband {
            self.tone_queue.push_back((digit, duration));
            if self.tone.is_none() {
                self.next_tone(now);
            }
        } else {
            self.events.handle_digit(now, digit, duration);
        }
        Ok(())
    }

    fn next_tone(&mut self, at: Instant) {
        self.tone = self.tone_queue.pop_front().map(|(digit, duration)| {
            let frames = duration.as_micros().div_ceil(FRAME.as_micros());
            TonePress {
                player: TonePlayer::new(Tone::Dtmf { digit, duration }),
                frames_left: u32::try_from(frames).unwrap_or(u32::MAX) + TONE_GAP_FRAMES,
                next_at: at,
                timestamp: self.stream.clock(at, self.settings.clock_rate),
                first: true,
            }
        });
    }

    /// An RTP packet the peer sent, bridged to a partner that takes
    /// `partner`; returns whether it is taken here (a telephone-event
    /// the partner takes another way). Presses go to `heard`.
    pub(in crate::relay) fn handle_bridged_rtp(
        &mut self,
        now: Instant,
        packet: &RtpPacket<'_>,
        partner: DtmfMethod,
    ) -> bool {
        let payload_type = packet.payload_type();
        if Some(payload_type) == self.settings.telephone_event_pt {
            if partner == DtmfMethod::Rfc4733 {
                return false;
            }
            // A malformed event payload is the peer's problem.
            let _ = self.receiver.handle_rtp(now, packet);
            self.collect_events();
            return true;
        }
        if partner == DtmfMethod::Inband || payload_type != self.settings.audio_pt {
            return false;
        }
        if let (Some(detector), Some(law)) = (&mut self.detector, self.settings.tones()) {
            detector.handle_g711(law, packet.payload());
            while let Some(event) = detector.poll_event() {
                if let InbandEvent::Ended { digit, duration } = event {
                    self.heard.push_back((digit, duration));
                }
            }
        }
        false
    }

    /// Whether packets of the leg's peer are looked at: a partner that
    /// takes presses another way than the peer gives them.
    pub(in crate::relay) fn converts_for(&self, partner: DtmfMethod) -> bool {
        partner != DtmfMethod::Rfc4733
            || (self.settings.method == DtmfMethod::Inband && self.detector.is_some())
    }

    fn collect_events(&mut self) {
        while let Some(event) = self.receiver.poll_event() {
            if let ReceivedEvent::Ended {
                digit, duration, ..
            } = event
            {
                self.heard.push_back((digit, duration));
            }
        }
    }

    /// The next press heard on the leg, for its partner.
    pub(in crate::relay) fn poll_heard(&mut self) -> Option<(DtmfDigit, Duration)> {
        self.heard.pop_front()
    }

    /// Writes the next packet due at `now` into `buf` (at least 1500
    /// bytes): a telephone-event, or a frame of tones; returns its
    /// length.
    pub(in crate::relay) fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<usize> {
        if let Some(len) = self.poll_tone(now, buf) {
            return Some(len);
        }
        let pt = self.settings.telephone_event_pt?;
        let timestamp = self.stream.clock(now, self.settings.clock_rate);
        let packet = self.events.poll_transmit(now, timestamp)?;
        let payload = buf.get_mut(RTP_HEADER_LEN..)?;
        let len = packet.event.write(payload).ok()?;
        self.stream.header(buf, packet.marker, pt, packet.timestamp);
        Some(RTP_HEADER_LEN + len)
    }

    fn poll_tone(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let law = self.settings.tones()?;
        let tone = self.tone.as_mut().filter(|tone| tone.next_at <= now)?;
        let payload = buf.get_mut(RTP_HEADER_LEN..RTP_HEADER_LEN + FRAME_SAMPLES)?;
        tone.player.fill_g711(law, payload);
        let (marker, timestamp) = (tone.first, tone.timestamp);
        tone.first = false;
        // One 20 ms G.711 frame: 160 units of the 8 kHz clock.
        tone.timestamp = tone.timestamp.wrapping_add(FRAME_SAMPLES as u32);
        tone.next_at += FRAME;
        tone.frames_left = tone.frames_left.saturating_sub(1);
        if tone.frames_left == 0 {
            let next = tone.next_at;
            self.next_tone(next);
        }
        self.stream
            .header(buf, marker, self.settings.audio_pt, timestamp);
        Some(RTP_HEADER_LEN + FRAME_SAMPLES)
    }
}

impl TimedSender for LegDtmfState {
    fn schedule(&mut self) -> &mut Schedule {
        &mut self.schedule
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let tone = self.tone.as_ref().map(|tone| tone.next_at);
        [
            self.receiver.poll_timeout(),
            self.events.poll_timeout(),
            tone,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Ends an event whose end packets were all lost (its press is then
    /// heard, for [`poll_heard`](Self::poll_heard)).
    fn handle_timeout(&mut self, now: Instant, _events: &mut VecDeque<MediaEvent>) {
        self.receiver.handle_timeout(now);
        self.collect_events();
    }

    /// A telephone-event or a frame of tones
    /// ([`poll_transmit`](Self::poll_transmit)).
    fn has_transmit(&self, now: Instant) -> bool {
        let due = |at: Option<Instant>| at.is_some_and(|at| at <= now);
        due(self.events.poll_timeout()) || due(self.tone.as_ref().map(|tone| tone.next_at))
    }
}
