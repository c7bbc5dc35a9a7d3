//! Recording a caller's message (voicemail) as a mono WAV file (RIFF/WAVE
//! PCM, 16-bit, at the media rate), ended by a maximum length or by
//! silence.
//!
//! Silence detection is an energy gate: a frame is silent when its RMS
//! level is below [`VoicemailConfig::silence_threshold_dbfs`] (dB relative
//! to a full-scale square wave, 32768). The message ends once
//! [`VoicemailConfig::silence_timeout`] of consecutive silent frames
//! follows at least [`VoicemailConfig::min_length`] of recording, so a
//! caller who takes a breath before speaking is not cut off. Silent
//! frames are held back (in a preallocated ring) until speech follows,
//! so the silence that ended the message is not in the file.

use std::io::{Seek, Write};
use std::time::Duration;

use super::error::RecordError;
use super::rate::{MediaRate, FRAME_DURATION};
use super::recorder::MAX_DATA_BYTES;

/// Limits of a voicemail recording.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoicemailConfig {
    /// Longest message; recording ends when it is reached (and at the
    /// 4 GiB WAV limit whatever this says).
    pub max_length: Duration,
    /// Silence cannot end the message before this much was recorded.
    pub min_length: Duration,
    /// This much silence in a row ends the message; zero turns silence
    /// detection off.
    pub silence_timeout: Duration,
    /// Frames whose RMS level is below this are silent (dBFS, e.g. -40).
    pub silence_threshold_dbfs: f32,
}

impl Default for VoicemailConfig {
    /// Two minutes at most, one second at least, three seconds of silence
    /// below -40 dBFS to end.
    fn default() -> Self {
        Self {
            max_length: Duration::from_secs(120),
            min_length: Duration::from_secs(1),
            silence_timeout: Duration::from_secs(3),
            silence_threshold_dbfs: -40.0,
        }
    }
}

/// Why a message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoicemailEnd {
    /// [`VoicemailConfig::silence_timeout`] of silence.
    Silence,
    /// [`VoicemailConfig::max_length`] reached.
    MaxLength,
    /// [`VoicemailRecorder::stop`] (the caller pressed a key or hung up).
    Stopped,
}

/// Where a voicemail recording is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoicemailState {
    /// Taking frames.
    Recording,
    /// Ended; further frames are ignored. Call
    /// [`VoicemailRecorder::finish`].
    Ended(VoicemailEnd),
}

/// What a finished message holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoicemailSummary {
    /// Length of the file's audio (trailing silence left out).
    pub length: Duration,
    /// Why it ended (`None`: finished while still recording).
    pub end: Option<VoicemailEnd>,
    /// At least one frame was above the silence threshold; a message
    /// without is usually discarded.
    pub has_speech: bool,
}

/// Records a caller's message into a mono WAV file.
///
/// Feed [`handle_frame`](Self::handle_frame) every 20 ms until it returns
/// [`VoicemailState::Ended`] (or call [`stop`](Self::stop)), then
/// [`finish`](Self::finish).
pub struct VoicemailRecorder<W: Write + Seek> {
    writer: hound::WavWriter<W>,
    rate: MediaRate,
    state: VoicemailState,
    /// Frames taken (written and held back).
    frames: usize,
    written_frames: usize,
    max_frames: usize,
    min_frames: usize,
    /// Frame energy (sum of squares) below which a frame is silent.
    threshold_energy: u64,
    /// Silent frames held back: a ring of `silence_frames` frame slots.
    held: Vec<i16>,
    held_start: usize,
    held_count: usize,
    silence_frames: usize,
    has_speech: bool,
}

impl<W: Write + Seek> VoicemailRecorder<W> {
    /// Starts a message at `rate` into `sink` (positioned at its start).
    /// Writes the WAV header and allocates everything it will need.
    pub fn new(sink: W, rate: MediaRate, config: VoicemailConfig) -> Result<Self, RecordError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate.hz(),
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let frame_len = rate.frame_len();
        let silence_frames = rate.frames_in(config.silence_timeout);
        // RMS threshold as an amplitude, then as a frame's sum of squares.
        let amplitude = 32_768.0 * 10f64.powf(f64::from(config.silence_threshold_dbfs) / 20.0);
        let threshold_energy = (amplitude * amplitude * frame_len as f64) as u64;
        Ok(Self {
            writer: hound::WavWriter::new(sink, spec)?,
            rate,
            state: VoicemailState::Recording,
            frames: 0,
            written_frames: 0,
            max_frames: rate
                .frames_in(config.max_length)
                .min((MAX_DATA_BYTES / (frame_len as u64 * 2)) as usize),
            min_frames: rate.frames_in(config.min_length),
            threshold_energy,
            held: vec![0; silence_frames * frame_len],
            held_start: 0,
            held_count: 0,
            silence_frames,
            has_speech: false,
        })
    }

    /// Takes one frame ([`MediaRate::frame_len`] samples) and says whether
    /// the message goes on.
    pub fn handle_frame(&mut self, frame: &[i16]) -> Result<VoicemailState, RecordError> {
        let frame_len = self.rate.frame_len();
        if frame.len() != frame_len {
            return Err(RecordError::FrameLength {
                expected: frame_len,
                got: frame.len(),
            });
        }
        if self.state != VoicemailState::Recording {
            return Ok(self.state);
        }
        self.frames += 1;
        let energy: u64 = frame
            .iter()
            .map(|&s| u64::from(s.unsigned_abs()).pow(2))
            .sum();
        if energy < self.threshold_energy && self.silence_frames > 0 {
            self.hold(frame)?;
            if self.held_count >= self.silence_frames && self.frames >= self.min_frames {
                self.state = VoicemailState::Ended(VoicemailEnd::Silence);
            }
        } else {
            if energy >= self.threshold_energy {
                self.has_speech = true;
            }
            self.write_held()?;
            self.write(frame)?;
        }
        if self.state == VoicemailState::Recording && self.frames >= self.max_frames {
            self.state = VoicemailState::Ended(VoicemailEnd::MaxLength);
        }
        Ok(self.state)
    }

    /// Ends the message now (the caller pressed the end key or hung up).
    pub fn stop(&mut self) {
        if self.state == VoicemailState::Recording {
            self.state = VoicemailState::Ended(VoicemailEnd::Stopped);
        }
    }

    /// Where the recording is.
    pub fn state(&self) -> VoicemailState {
        self.state
    }

    /// Completes the file, leaving out silence still held back.
    pub fn finish(self) -> Result<VoicemailSummary, RecordError> {
        let summary = VoicemailSummary {
            length: FRAME_DURATION * u32::try_from(self.written_frames).unwrap_or(u32::MAX),
            end: match self.state {
                VoicemailState::Recording => None,
                VoicemailState::Ended(end) => Some(end),
            },
            has_speech: self.has_speech,
        };
        self.writer.finalize()?;
        Ok(summary)
    }

    /// Holds a silent frame back; when the ring is full its oldest frame
    /// is written to make room.
    fn hold(&mut self, frame: &[i16]) -> Result<(), RecordError> {
        let frame_len = self.rate.frame_len();
        if self.held_count == self.silence_frames {
            let start = self.held_start * frame_len;
            write_samples(&mut self.writer, &self.held[start..start + frame_len])?;
            self.written_frames += 1;
            self.held_start = (self.held_start + 1) % self.silence_frames;
            self.held_count -= 1;
        }
        let slot = (self.held_start + self.held_count) % self.silence_frames * frame_len;
        self.held[slot..slot + frame_len].copy_from_slice(frame);
        self.held_count += 1;
        Ok(())
    }

    /// Writes the held-back silence: speech followed it.
    fn write_held(&mut self) -> Result<(), RecordError> {
        let frame_len = self.rate.frame_len();
        while self.held_count > 0 {
            let start = self.held_start * frame_len;
            write_samples(&mut self.writer, &self.held[start..start + frame_len])?;
            self.written_frames += 1;
            self.held_start = (self.held_start + 1) % self.silence_frames;
            self.held_count -= 1;
        }
        Ok(())
    }

    fn write(&mut self, frame: &[i16]) -> Result<(), RecordError> {
        write_samples(&mut self.writer, frame)?;
        self.written_frames += 1;
        Ok(())
    }
}

/// Writes a frame through hound's buffered 16-bit writer.
fn write_samples<W: Write + Seek>(
    writer: &mut hound::WavWriter<W>,
    samples: &[i16],
) -> Result<(), RecordError> {
    // Exactly `samples.len()` samples are written, as reserved, into a
    // 16-bit integer WAV: hound panics only on a mismatch of either.
    let mut out = writer.get_i16_writer(samples.len() as u32);
    for &sample in samples {
        out.write_sample(sample);
    }
    Ok(out.flush()?)
}

impl<W: Write + Seek> std::fmt::Debug for VoicemailRecorder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoicemailRecorder")
            .field("rate", &self.rate)
            .field("state", &self.state)
            .field("frames", &self.frames)
            .field("written_frames", &self.written_frames)
            .finish()
    }
}
