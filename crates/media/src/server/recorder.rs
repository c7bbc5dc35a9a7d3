//! Whole-call recording as a stereo WAV file: left channel the caller,
//! right channel the agent (RIFF/WAVE PCM, 16-bit, at the media rate).
//!
//! Frames go to the sink as they come (`hound`'s WAV writer over any
//! `Write + Seek`), so a call of any length takes no memory beyond one
//! frame; the header is brought up to date every
//! [`CHECKPOINT_INTERVAL`], so a crash loses at most that much.
//!
//! # Pause (PCI-DSS)
//!
//! While the agent takes card details the recording is paused: nothing
//! said then reaches the sink. [`PauseMode`] picks what the file holds
//! for the span: [`PauseMode::Silence`] (the default) writes zeros, so
//! the file's timeline stays that of the call (a supervisor can match a
//! moment of the call to the recording, and the gap is audible);
//! [`PauseMode::Cut`] writes nothing, so the file is shorter than the
//! call.

use std::io::{Seek, Write};
use std::time::Duration;

use super::error::RecordError;
use super::rate::{MediaRate, FRAME_DURATION};

/// How often the WAV header is rewritten with the current length.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(5);

/// Bytes a WAV `data` chunk can hold (its length is a u32), less room for
/// the header.
pub(crate) const MAX_DATA_BYTES: u64 = u32::MAX as u64 - 1_024;

/// What a paused span becomes in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PauseMode {
    /// Silence as long as the pause: the file keeps the call's timeline.
    #[default]
    Silence,
    /// Nothing: the span is cut out of the file.
    Cut,
}

/// What a finished recording holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingSummary {
    /// Length of the file's audio.
    pub length: Duration,
    /// Time spent paused (silent or cut, by the [`PauseMode`]).
    pub paused: Duration,
}

/// Records a call into a stereo WAV file, caller left and agent right.
///
/// Call [`handle_frame`](Self::handle_frame) every 20 ms with both
/// directions' decoded frames (silence for a side that sent nothing),
/// [`pause`](Self::pause) / [`resume`](Self::resume) around sensitive
/// spans, and [`finish`](Self::finish) at hang-up.
pub struct CallRecorder<W: Write + Seek> {
    writer: hound::WavWriter<W>,
    rate: MediaRate,
    mode: PauseMode,
    paused: bool,
    written_frames: u64,
    paused_frames: u64,
    since_checkpoint: usize,
    checkpoint_frames: usize,
    max_frames: u64,
}

impl<W: Write + Seek> CallRecorder<W> {
    /// Starts a recording at `rate` into `sink` (positioned at its start;
    /// wrap a file in a `BufWriter`). Writes the WAV header.
    pub fn new(sink: W, rate: MediaRate, mode: PauseMode) -> Result<Self, RecordError> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: rate.hz(),
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let frame_bytes = rate.frame_len() as u64 * 4;
        Ok(Self {
            writer: hound::WavWriter::new(sink, spec)?,
            rate,
            mode,
            paused: false,
            written_frames: 0,
            paused_frames: 0,
            since_checkpoint: 0,
            checkpoint_frames: rate.frames_in(CHECKPOINT_INTERVAL),
            max_frames: MAX_DATA_BYTES / frame_bytes,
        })
    }

    /// Records one frame of each direction (each
    /// [`MediaRate::frame_len`] samples).
    pub fn handle_frame(&mut self, caller: &[i16], agent: &[i16]) -> Result<(), RecordError> {
        let expected = self.rate.frame_len();
        for frame in [caller, agent] {
            if frame.len() != expected {
                return Err(RecordError::FrameLength {
                    expected,
                    got: frame.len(),
                });
            }
        }
        if self.paused {
            self.paused_frames += 1;
            if self.mode == PauseMode::Cut {
                return Ok(());
            }
        }
        if self.written_frames >= self.max_frames {
            return Err(RecordError::Full(self.length()));
        }
        // Exactly 2 * frame_len samples are written below, as reserved:
        // hound's buffered writer panics only on a count mismatch, and the
        // WAV spec is 16-bit integer, as it requires.
        let reserved = (2 * expected) as u32;
        let mut out = self.writer.get_i16_writer(reserved);
        if self.paused {
            for _ in 0..reserved {
                out.write_sample(0i16);
            }
        } else {
            for (&left, &right) in caller.iter().zip(agent) {
                out.write_sample(left);
                out.write_sample(right);
            }
        }
        out.flush()?;
        self.written_frames += 1;
        self.since_checkpoint += 1;
        if self.since_checkpoint >= self.checkpoint_frames {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Stops recording what is said until [`resume`](Self::resume).
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Records again.
    pub fn resume(&mut self) {
        self.paused = false;
    }

    /// Paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Length of the audio written so far.
    pub fn length(&self) -> Duration {
        FRAME_DURATION * u32::try_from(self.written_frames).unwrap_or(u32::MAX)
    }

    /// Rewrites the header with the current length and flushes the sink,
    /// so the file is a valid WAV up to here (also done every
    /// [`CHECKPOINT_INTERVAL`]).
    pub fn checkpoint(&mut self) -> Result<(), RecordError> {
        self.since_checkpoint = 0;
        Ok(self.writer.flush()?)
    }

    /// Completes the header and flushes the sink.
    pub fn finish(self) -> Result<RecordingSummary, RecordError> {
        let summary = RecordingSummary {
            length: self.length(),
            paused: FRAME_DURATION * u32::try_from(self.paused_frames).unwrap_or(u32::MAX),
        };
        self.writer.finalize()?;
        Ok(summary)
    }
}

impl<W: Write + Seek> std::fmt::Debug for CallRecorder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRecorder")
            .field("rate", &self.rate)
            .field("mode", &self.mode)
            .field("paused", &self.paused)
            .field("written_frames", &self.written_frames)
            .finish()
    }
}
