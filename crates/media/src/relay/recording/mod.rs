//! Recording taps: the audio the relay receives on a leg, after SRTP
//! unprotect, decoded by the relay's own end of the leg (G.711, G.722,
//! Opus) at 8 kHz, the recording rate (wideband codecs are halved), and
//! cut into 20 ms frames on one timeline per recording, for a writer
//! elsewhere
//! ([`CallRecorder`](crate::CallRecorder),
//! [`VoicemailRecorder`](crate::VoicemailRecorder)).
//!
//! # One timeline for both channels
//!
//! Frame `n` of a recording started at `start` holds the audio of
//! `start + n × 20 ms` to `start + (n + 1) × 20 ms` on the relay's clock,
//! whether packets came or not: silence (no packets, a hold, a muted
//! phone) is zeros, so a 10 s call gives 10 s of file and both channels
//! stay in step. Frame `n` goes out [`RECORDING_DELAY`] after its end,
//! which is how late a packet may arrive and still be in the file.
//!
//! Where a packet's samples go: the first packet of a stream (RFC 3550
//! §5.1: an SSRC) is placed by its arrival (its audio ending when it
//! arrived); the following ones by their RTP timestamp relative to that
//! anchor (counted on the codec's RTP clock: 8 kHz for G.711 and G.722,
//! RFC 3551 §4.5.2, 48 kHz for Opus, RFC 7587 §4.1), so network jitter
//! and a shard that read a burst late do not
//! tear the audio. A timestamp that disagrees with the arrival by more
//! than [`MAX_SKEW`] (a sender that paused without advancing its clock,
//! a new stream, clock drift built up) re-anchors on the arrival.
//!
//! # Pause (PCI DSS)
//!
//! From [`MediaRelay::pause_recording`] on, every frame that goes out is
//! silent and marked paused, including the up to [`RECORDING_DELAY`] of
//! audio received just before; after [`MediaRelay::resume_recording`]
//! the frames that began before the resume stay silent. What was said
//! while paused never leaves the relay.
//!
//! Nothing here allocates per packet or per frame: each recording holds
//! a ring of [`RING_SAMPLES`] per channel, allocated when it starts, and
//! the output queue grows to its working size once.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use super::{LegKey, MediaRelay};
use crate::error::RelayError;
use crate::rtp::RtpPacket;
use crate::server::FRAME_DURATION;

/// Samples in one recorded frame (20 ms at 8 kHz, the recording rate
/// whatever the legs' codecs).
pub const RECORDED_FRAME_LEN: usize = 160;
/// How long after its end a frame goes out: packets later than this
/// (relative to their stream) miss the file.
pub const RECORDING_DELAY: Duration = Duration::from_millis(100);
/// A timestamp this far (in time) from the packet's arrival re-anchors
/// its stream on the arrival.
pub(crate) const MAX_SKEW: Duration = Duration::from_millis(200);

/// Samples a second at the recorded rate.
const RATE: u64 = 8_000;
/// Ring of each channel: 500 ms, a whole number of frames, more than
/// the delay plus the skew plus the longest packet (60 ms).
const RING_SAMPLES: usize = 4_000;
const MAX_SKEW_SAMPLES: i64 = (MAX_SKEW.as_millis() as i64) * RATE as i64 / 1_000;

/// Names a recording in commands and events. [`MediaDriver`] makes
/// them; a caller of [`MediaRelay`] directly picks its own.
///
/// [`MediaDriver`]: crate::MediaDriver
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordingId(pub u64);

impl fmt::Display for RecordingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "recording {}", self.0)
    }
}

/// Why a recording ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordingEnd {
    /// Stopped by command (or the driver shut down).
    Stopped,
    /// One of its legs was removed (the call ended).
    LegRemoved,
    /// A voicemail reached its maximum length.
    MaxLength,
    /// A voicemail ended on silence.
    Silence,
    /// The file could not be created or written (the reason, for the
    /// log); what was written before is kept, with a valid header where
    /// the disk allowed it.
    Failed(String),
}

/// One 20 ms frame of a recording, both directions at 8 kHz. A channel
/// that received nothing in the frame's span is zeros.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordedFrame {
    /// The recording.
    pub id: RecordingId,
    /// Frame number from the start (frame `n` starts `n × 20 ms` in).
    pub index: u64,
    /// Recorded while paused: both channels are zeros.
    pub paused: bool,
    /// What the first leg sent (the caller: left channel; a voicemail's
    /// only channel).
    pub caller: [i16; RECORDED_FRAME_LEN],
    /// What the second leg sent (the agent: right channel); zeros for a
    /// voicemail.
    pub agent: [i16; RECORDED_FRAME_LEN],
}

impl fmt::Debug for RecordedFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedFrame")
            .field("id", &self.id)
            .field("index", &self.index)
            .field("paused", &self.paused)
            .finish_non_exhaustive()
    }
}

/// What [`MediaRelay::poll_recording`] gives.
// A frame is the common case and must not be boxed (an allocation per
// frame); the other variant is rare.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingOutput {
    /// The next frame of a recording; frames of one recording come in
    /// order, every index once.
    Frame(RecordedFrame),
    /// A recording ended after `frames` frames (all already given).
    Ended {
        /// The recording.
        id: RecordingId,
        /// Number of frames it gave.
        frames: u64,
        /// Why: [`RecordingEnd::Stopped`] or [`RecordingEnd::LegRemoved`].
        end: RecordingEnd,
    },
}

/// The side of a call recording a leg is heard on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordingChannel {
    /// The left channel: the caller (a voicemail's only channel).
    Caller,
    /// The right channel: the agent, and whoever else speaks for the
    /// contact center (a consulted colleague, a third party).
    Agent,
}

impl RecordingChannel {
    fn index(self) -> usize {
        match self {
            Self::Caller => 0,
            Self::Agent => 1,
        }
    }
}

/// A leg's link to the recording that taps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tap {
    slot: usize,
    source: usize,
}

/// Where a stream's timestamps sit on the recording's timeline.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    ssrc: u32,
    timestamp: u32,
    position: i64,
}

/// One tapped leg of a recording: what its peer says, placed on the
/// recording's timeline, mixed into its channel as frames go out.
#[derive(Debug)]
struct Source {
    key: LegKey,
    /// The leg's slot in the relay.
    leg_slot: usize,
    /// [`RecordingChannel::index`].
    channel: usize,
    /// Samples not yet given out, at `position % RING_SAMPLES`.
    ring: Vec<i16>,
    anchor: Option<Anchor>,
    /// Taken out of the recording: no more audio comes, and what the
    /// ring holds goes out with the frames before this one.
    gone_from: Option<u64>,
}

impl Source {
    fn new(key: LegKey, leg_slot: usize, channel: usize) -> Self {
        Self {
            key,
            leg_slot,
            channel,
            ring: vec![0; RING_SAMPLES],
            anchor: None,
            gone_from: None,
        }
    }

    /// Where a packet of `samples` samples starts on the timeline, its
    /// audio having ended by `arrival` (samples since the start); its
    /// timestamp counts `clock_rate` units a second.
    fn place(
        &mut self,
        (ssrc, timestamp, clock_rate): (u32, u32, u32),
        samples: i64,
        arrival: i64,
    ) -> i64 {
        let by_arrival = arrival - samples;
        if let Some(anchor) = self.anchor.filter(|anchor| anchor.ssrc == ssrc) {
            // Timestamps are modulo 2^32: the signed difference.
            let delta = i64::from(timestamp.wrapping_sub(anchor.timestamp) as i32);
            let position = anchor.position + delta * RATE as i64 / i64::from(clock_rate.max(1));
            if (position - by_arrival).abs() <= MAX_SKEW_SAMPLES {
                return position;
            }
        }
        self.anchor = Some(Anchor {
            ssrc,
            timestamp,
            position: by_arrival,
        });
        by_arrival
    }
}

/// Where a recording is with pausing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capture {
    Recording,
    Paused,
    /// Resumed; frames before `from` still hold paused audio.
    Resuming {
        from: u64,
    },
}

#[derive(Debug)]
struct Recording {
    id: RecordingId,
    start: Instant,
    /// 1 (a voicemail) or 2 (a call: caller, agent).
    channels: usize,
    /// The tapped legs; a removed one leaves `None`, so that the others'
    /// [`Tap`]s stay valid.
    sources: Vec<Option<Source>>,
    next_frame: u64,
    capture: Capture,
}

impl Recording {
    /// Samples from the start to `now`.
    fn position(&self, now: Instant) -> i64 {
        let elapsed = now.saturating_duration_since(self.start).as_nanos();
        // Below 2^63 samples for any call shorter than 36 million years.
        (elapsed * u128::from(RATE) / 1_000_000_000) as i64
    }

    /// Frames whose due time (end + delay) has come.
    fn frames_due(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.start);
        let ready = elapsed.saturating_sub(RECORDING_DELAY).as_nanos();
        (ready / FRAME_DURATION.as_nanos()) as u64
    }

    /// Frames begun by `now`: the length of the file when it stops.
    fn frames_begun(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.start).as_nanos();
        elapsed.div_ceil(FRAME_DURATION.as_nanos()) as u64
    }

    /// A packet's audio at 8 kHz, its timestamp on a `clock_rate` clock.
    fn handle_audio(
        &mut self,
        now: Instant,
        source: usize,
        (packet, clock_rate): (&RtpPacket<'_>, u32),
        pcm: &[i16],
    ) {
        let arrival = self.position(now);
        let emitted = self.next_frame as i64 * RECORDED_FRAME_LEN as i64;
        let Some(source) = self.sources.get_mut(source).and_then(Option::as_mut) else {
            return;
        };
        let samples = pcm.len() as i64;
        let stream = (packet.ssrc(), packet.timestamp(), clock_rate);
        let start = source.place(stream, samples, arrival);
        // Only what is not given out yet and fits the ring.
        let first = start.max(emitted);
        let end = (start + samples).min(emitted + RING_SAMPLES as i64);
        let mut at = first;
        while at < end {
            // `at` is at least `emitted` >= 0 and `at - start` within the packet.
            let index = (at as usize) % RING_SAMPLES;
            let run = ((end - at) as usize).min(RING_SAMPLES - index);
            let from = (at - start) as usize;
            source.ring[index..index + run].copy_from_slice(&pcm[from..from + run]);
            at += run as i64;
        }
    }

    /// The next frame, taken out of the rings.
    fn take_frame(&mut self) -> RecordedFrame {
        let index = self.next_frame;
        let paused = match self.capture {
            Capture::Recording => false,
            Capture::Paused => true,
            Capture::Resuming { from } if index >= from => {
                self.capture = Capture::Recording;
                false
            }
            Capture::Resuming { .. } => true,
        };
        let mut frame = RecordedFrame {
            id: self.id,
            index,
            paused,
            caller: [0; RECORDED_FRAME_LEN],
            agent: [0; RECORDED_FRAME_LEN],
        };
        // RING_SAMPLES is a whole number of frames: no wrap inside one.
        let at = (index % (RING_SAMPLES / RECORDED_FRAME_LEN) as u64) as usize * RECORDED_FRAME_LEN;
        for tapped in &mut self.sources {
            if tapped
                .as_ref()
                .is_some_and(|s| s.gone_from.is_some_and(|gone| index >= gone))
            {
                *tapped = None;
            }
            let Some(source) = tapped else { continue };
            let samples = &mut source.ring[at..at + RECORDED_FRAME_LEN];
            if !paused {
                let out = if source.channel == 0 {
                    &mut frame.caller
                } else {
                    &mut frame.agent
                };
                // Two or more legs on one side are mixed.
                for (out, sample) in out.iter_mut().zip(samples.iter()) {
                    *out = out.saturating_add(*sample);
                }
            }
            samples.fill(0);
        }
        self.next_frame += 1;
        frame
    }
}

/// The recordings of one relay and what they have to give.
#[derive(Debug, Default)]
pub(super) struct Recordings {
    slots: Vec<Option<Recording>>,
    free: Vec<usize>,
    index: HashMap<RecordingId, usize>,
    out: VecDeque<RecordingOutput>,
    next_tick: Option<Instant>,
    /// The latest time seen, for a leg removed without one.
    clock: Option<Instant>,
}

impl Recordings {
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.next_tick
    }

    /// An audio packet received on a tapped leg, already authenticated,
    /// decrypted and decoded: `pcm` at 8 kHz, the packet's timestamp on
    /// a `clock_rate` clock. (Telephone-events and comfort noise are not
    /// audio: silence in the file.)
    pub(super) fn handle_audio(
        &mut self,
        now: Instant,
        tap: Tap,
        packet: (&RtpPacket<'_>, u32),
        pcm: &[i16],
    ) {
        self.clock = Some(self.clock.map_or(now, |clock| clock.max(now)));
        if let Some(recording) = self.slots.get_mut(tap.slot).and_then(Option::as_mut) {
            recording.handle_audio(now, tap.source, packet, pcm);
        }
    }

    /// Gives out the frames that are due.
    fn handle_timeout(&mut self, now: Instant) {
        self.clock = Some(self.clock.map_or(now, |clock| clock.max(now)));
        let Some(tick) = self.next_tick else { return };
        if now < tick {
            return;
        }
        for recording in self.slots.iter_mut().flatten() {
            let due = recording.frames_due(now);
            while recording.next_frame < due {
                let frame = recording.take_frame();
                self.out.push_back(RecordingOutput::Frame(frame));
            }
        }
        self.next_tick = Some(now + FRAME_DURATION);
    }

    fn get_mut(&mut self, id: RecordingId) -> Result<&mut Recording, RelayError> {
        let slot = *self
            .index
            .get(&id)
            .ok_or(RelayError::UnknownRecording(id))?;
        self.slots
            .get_mut(slot)
            .and_then(Option::as_mut)
            .ok_or(RelayError::UnknownRecording(id))
    }
}

impl MediaRelay {
    /// Starts recording a call: what `caller` receives (its peer's
    /// speech) as the left channel, what `agent` receives as the right,
    /// from `now` on. Both legs need their codec
    /// ([`MediaRelay::set_codec`]) and no other recording; they
    /// need not be bridged. Frames come out of
    /// [`MediaRelay::poll_recording`].
    pub fn start_call_recording(
        &mut self,
        now: Instant,
        id: RecordingId,
        caller: LegKey,
        agent: LegKey,
    ) -> Result<(), RelayError> {
        if caller == agent {
            return Err(RelayError::AlreadyRecorded(agent));
        }
        self.start_recording(now, id, &[caller, agent])
    }

    /// Starts recording what `key` receives (a caller's message), as a
    /// one-channel recording: [`RecordedFrame::caller`].
    pub fn start_voicemail(
        &mut self,
        now: Instant,
        id: RecordingId,
        key: LegKey,
    ) -> Result<(), RelayError> {
        self.start_recording(now, id, &[key])
    }

    fn start_recording(
        &mut self,
        now: Instant,
        id: RecordingId,
        keys: &[LegKey],
    ) -> Result<(), RelayError> {
        if self.recordings.index.contains_key(&id) {
            return Err(RelayError::RecordingExists(id));
        }
        let mut sources = Vec::with_capacity(keys.len());
        for (channel, &key) in keys.iter().enumerate() {
            sources.push(Some(Source::new(key, self.tappable(key)?, channel)));
        }
        let leg_slots: Vec<usize> = sources.iter().flatten().map(|s| s.leg_slot).collect();
        let recording = Recording {
            id,
            start: now,
            channels: keys.len(),
            sources,
            next_frame: 0,
            capture: Capture::Recording,
        };
        let recordings = &mut self.recordings;
        let slot = match recordings.free.pop() {
            Some(slot) => {
                recordings.slots[slot] = Some(recording);
                slot
            }
            None => {
                recordings.slots.push(Some(recording));
                recordings.slots.len() - 1
            }
        };
        recordings.index.insert(id, slot);
        // Room for this recording's frames of a tick and of its stop, once.
        recordings.out.reserve(8);
        if recordings.next_tick.is_none() {
            recordings.next_tick = Some(now + FRAME_DURATION);
        }
        for (source, leg_slot) in leg_slots.into_iter().enumerate() {
            if let Some(leg) = self.legs.get_mut(leg_slot).and_then(Option::as_mut) {
                leg.tap = Some(Tap { slot, source });
            }
        }
        Ok(())
    }

    /// The slot of a leg that may join a recording: it has its codec and
    /// no recording yet.
    fn tappable(&self, key: LegKey) -> Result<usize, RelayError> {
        let slot = self.slot(key)?;
        let leg = self.leg(key)?;
        if leg.local.is_none() {
            return Err(RelayError::NoCodec(key));
        }
        if leg.tap.is_some() {
            return Err(RelayError::AlreadyRecorded(key));
        }
        Ok(slot)
    }

    /// Adds what `key`'s peer says to a running call recording, from now
    /// on, on `channel`, mixed with the legs already there: a consulted
    /// colleague or a third party joins the agent's side. The leg needs
    /// its codec and no other recording. A voicemail has no agent side
    /// ([`RelayError::NoAgentChannel`]).
    pub fn add_to_recording(
        &mut self,
        _now: Instant,
        id: RecordingId,
        key: LegKey,
        channel: RecordingChannel,
    ) -> Result<(), RelayError> {
        let leg_slot = self.tappable(key)?;
        let slot = *self
            .recordings
            .index
            .get(&id)
            .ok_or(RelayError::UnknownRecording(id))?;
        let recording = self.recordings.get_mut(id)?;
        let channel = channel.index();
        if channel >= recording.channels {
            return Err(RelayError::NoAgentChannel(id));
        }
        let tapped = Some(Source::new(key, leg_slot, channel));
        let source = match recording.sources.iter().position(Option::is_none) {
            Some(free) => {
                recording.sources[free] = tapped;
                free
            }
            None => {
                recording.sources.push(tapped);
                recording.sources.len() - 1
            }
        };
        if let Some(leg) = self.legs.get_mut(leg_slot).and_then(Option::as_mut) {
            leg.tap = Some(Tap { slot, source });
        }
        Ok(())
    }

    /// Stops recording `key` from `now` (its channel keeps the other
    /// legs on it, or goes silent); the recording goes on. What the leg
    /// said up to now stays in the file.
    pub fn remove_from_recording(&mut self, now: Instant, key: LegKey) -> Result<(), RelayError> {
        let slot = self.slot(key)?;
        let tap = self.leg(key)?.tap.ok_or(RelayError::NotRecorded(key))?;
        self.detach_tap(now, tap);
        if let Some(leg) = self.legs.get_mut(slot).and_then(Option::as_mut) {
            leg.tap = None;
        }
        Ok(())
    }

    /// Takes a tapped leg out of its recording at `now` (what it said
    /// before still goes out); returns whether its channel has no other
    /// leg left.
    fn detach_tap(&mut self, now: Instant, tap: Tap) -> bool {
        let Some(recording) = self
            .recordings
            .slots
            .get_mut(tap.slot)
            .and_then(Option::as_mut)
        else {
            return false;
        };
        let gone_from = recording.frames_begun(now);
        let Some(source) = recording
            .sources
            .get_mut(tap.source)
            .and_then(Option::as_mut)
        else {
            return false;
        };
        source.gone_from = Some(gone_from);
        let channel = source.channel;
        !recording
            .sources
            .iter()
            .flatten()
            .any(|other| other.channel == channel && other.gone_from.is_none())
    }

    /// Pauses a recording from now: the frames that go out from here on
    /// are silent (see the module docs).
    pub fn pause_recording(&mut self, _now: Instant, id: RecordingId) -> Result<(), RelayError> {
        self.recordings.get_mut(id)?.capture = Capture::Paused;
        Ok(())
    }

    /// Resumes a paused recording: audio from now on is recorded again.
    pub fn resume_recording(&mut self, now: Instant, id: RecordingId) -> Result<(), RelayError> {
        let recording = self.recordings.get_mut(id)?;
        if recording.capture != Capture::Recording {
            let from = recording.frames_begun(now);
            recording.capture = Capture::Resuming { from };
        }
        Ok(())
    }

    /// Stops a recording at `now`: its remaining frames (up to `now`,
    /// packets still in [`RECORDING_DELAY`] included) and then
    /// [`RecordingOutput::Ended`] are ready in
    /// [`MediaRelay::poll_recording`].
    pub fn stop_recording(&mut self, now: Instant, id: RecordingId) -> Result<(), RelayError> {
        let slot = *self
            .recordings
            .index
            .get(&id)
            .ok_or(RelayError::UnknownRecording(id))?;
        self.end_recording(slot, now, RecordingEnd::Stopped);
        Ok(())
    }

    /// The recording that taps the leg, if any.
    pub fn recording_of(&self, key: LegKey) -> Option<RecordingId> {
        let tap = self.leg(key).ok()?.tap?;
        Some(self.recordings.slots.get(tap.slot)?.as_ref()?.id)
    }

    /// The ids of all recordings.
    pub(crate) fn recording_ids(&self) -> Vec<RecordingId> {
        self.recordings.index.keys().copied().collect()
    }

    /// The next recorded frame or end; call after
    /// [`MediaRelay::handle_timeout`] and after the recording commands
    /// until `None`.
    pub fn poll_recording(&mut self) -> Option<RecordingOutput> {
        self.recordings.out.pop_front()
    }

    /// Takes a leg that goes away out of its recording, and ends the
    /// recording when that leaves a channel without legs (the caller
    /// hung up, or the agent with nobody else on that side), at the
    /// latest time seen: within a tick of now.
    pub(super) fn end_recording_of_leg(&mut self, tap: Tap) {
        let now = self.recordings.clock;
        let start = self
            .recordings
            .slots
            .get(tap.slot)
            .and_then(Option::as_ref)
            .map(|recording| recording.start);
        if let Some(start) = start {
            let now = now.map_or(start, |now| now.max(start));
            if self.detach_tap(now, tap) {
                self.end_recording(tap.slot, now, RecordingEnd::LegRemoved);
            }
        }
    }

    /// Gives out the recording's frames up to `now`, then its end, and
    /// unhooks it from its legs.
    fn end_recording(&mut self, slot: usize, now: Instant, end: RecordingEnd) {
        let recordings = &mut self.recordings;
        let Some(mut recording) = recordings.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let frames = recording.frames_begun(now);
        while recording.next_frame < frames {
            let frame = recording.take_frame();
            recordings.out.push_back(RecordingOutput::Frame(frame));
        }
        recordings.out.push_back(RecordingOutput::Ended {
            id: recording.id,
            frames: recording.next_frame,
            end,
        });
        recordings.index.remove(&recording.id);
        recordings.free.push(slot);
        if recordings.index.is_empty() {
            recordings.next_tick = None;
        }
        for (source, tapped) in recording.sources.iter().enumerate() {
            let Some(tapped) = tapped else { continue };
            if let Some(leg) = self.legs.get_mut(tapped.leg_slot).and_then(Option::as_mut) {
                if leg.key == tapped.key && leg.tap == Some(Tap { slot, source }) {
                    leg.tap = None;
                }
            }
        }
    }

    /// Recording part of [`MediaRelay::handle_timeout`].
    pub(super) fn handle_recording_timers(&mut self, now: Instant) {
        self.recordings.handle_timeout(now);
    }
}

#[cfg(test)]
mod tests;
