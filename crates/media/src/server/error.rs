//! Errors of the media server functions, one enum per operation:
//! [`WavError`] for loading a prompt, [`PromptError`] for prompt sets
//! and playback, [`RecordError`] for recordings, [`MixerError`] for
//! the conference mixer.

use std::path::PathBuf;
use std::time::Duration;

/// Why a WAV file could not become a [`Prompt`](crate::Prompt).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WavError {
    /// Reading the file failed.
    #[error("reading WAV: {0}")]
    Io(#[from] std::io::Error),
    /// The RIFF/WAVE structure is broken (no `RIFF`/`WAVE` tag, missing or
    /// inconsistent `fmt ` chunk, bad data length).
    #[error("ill-formed WAV: {0}")]
    Malformed(&'static str),
    /// The format tag names a compressed or unknown encoding (ADPCM,
    /// A-law, μ-law, MP3, ...): only linear PCM is read.
    #[error("WAV is compressed or in an unknown encoding; convert it to 16-bit linear PCM")]
    Compressed,
    /// Linear PCM, but not 16-bit integers (8-bit unsigned, 24-bit,
    /// 32-bit, or IEEE float).
    #[error(
        "WAV has {bits_per_sample}-bit {} samples; only 16-bit integer PCM is read",
        if *.float { "float" } else { "integer" }
    )]
    SampleFormat {
        /// Bits per sample announced by the file.
        bits_per_sample: u16,
        /// The samples are IEEE floats.
        float: bool,
    },
    /// More than two channels.
    #[error("WAV has {0} channels; only mono and stereo are read")]
    Channels(u16),
    /// A sample rate outside 8 kHz ..= 48 kHz.
    #[error("WAV sample rate {0} Hz is outside 8000..=48000 Hz")]
    SampleRate(u32),
    /// The file plays longer than the limit.
    #[error("WAV plays {duration:?}, the limit is {max:?}")]
    TooLong {
        /// Duration announced by the file.
        duration: Duration,
        /// The limit ([`MAX_PROMPT_DURATION`](crate::MAX_PROMPT_DURATION)).
        max: Duration,
    },
    /// The resampler refused the conversion (reported by `rubato`).
    #[error("resampling {from} Hz to {to} Hz failed: {reason}")]
    Resample {
        /// Rate of the file.
        from: u32,
        /// Media rate asked for.
        to: u32,
        /// The resampler's message.
        reason: String,
    },
}

impl From<hound::Error> for WavError {
    fn from(error: hound::Error) -> Self {
        match error {
            hound::Error::IoError(error) => Self::Io(error),
            hound::Error::FormatError(reason) => Self::Malformed(reason),
            hound::Error::Unsupported => Self::Compressed,
            // Only raised on reading samples of the wrong type or width,
            // which the loader checks before reading.
            hound::Error::TooWide | hound::Error::InvalidSampleFormat => {
                Self::Malformed("sample format does not match the header")
            }
            hound::Error::UnfinishedSample => Self::Malformed("data ends inside a sample"),
        }
    }
}

/// Why a prompt set could not be built or generated, could not say
/// something, or a prompt could not be played.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// A WAV file of the prompt directory could not be loaded.
    #[error("prompt {path}: {source}")]
    Load {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        source: WavError,
    },
    /// The prompt directory could not be listed or written.
    #[error("prompt directory {path}: {source}")]
    Directory {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A prompt is at another rate than the set or player it was given to.
    #[error("prompt at {found:?}, expected {expected:?}")]
    Rate {
        /// The rate of the set or player.
        expected: crate::MediaRate,
        /// The rate of the prompt.
        found: crate::MediaRate,
    },
    /// A phrase needs a prompt that the set does not hold.
    #[error("prompt {0:?} is not in the prompt set")]
    Missing(String),
    /// The text-to-speech program is not installed (or not at the path
    /// given).
    #[error("text-to-speech program {program:?} not found; the built-in tone prompts stay in use")]
    SynthesizerNotFound {
        /// The program that was run.
        program: PathBuf,
    },
    /// The text-to-speech program ran but failed.
    #[error("text-to-speech program {program:?} failed for prompt {prompt:?}: {stderr}")]
    SynthesizerFailed {
        /// The program that was run.
        program: PathBuf,
        /// The prompt it was synthesizing.
        prompt: String,
        /// Its exit status and standard error.
        stderr: String,
    },
}

/// Why a recording failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The file could not be created (no such directory, no permission,
    /// a file of that name exists already).
    #[error("creating recording file: {0}")]
    Create(std::io::Error),
    /// Writing to the sink failed.
    #[error("writing recording: {0}")]
    Io(#[from] std::io::Error),
    /// The WAV writer refused (reported by `hound`).
    #[error("WAV writer: {0}")]
    Wav(String),
    /// A frame of the wrong length was given.
    #[error("frame of {got} samples, the media rate needs {expected}")]
    FrameLength {
        /// Samples per frame at the recording's rate.
        expected: usize,
        /// Samples given.
        got: usize,
    },
    /// The recording reached the 4 GiB size limit of a WAV file.
    #[error("recording reached the WAV size limit after {0:?}")]
    Full(Duration),
}

impl From<hound::Error> for RecordError {
    fn from(error: hound::Error) -> Self {
        match error {
            hound::Error::IoError(error) => Self::Io(error),
            other => Self::Wav(other.to_string()),
        }
    }
}

/// Why the conference mixer refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MixerError {
    /// No participant has this id.
    #[error("no participant {0}")]
    UnknownParticipant(crate::ParticipantId),
    /// A participant with this id is already in the conference.
    #[error("participant {0} is already in the conference")]
    DuplicateParticipant(crate::ParticipantId),
    /// A whisperer's target is not in the conference, or is the
    /// whisperer itself.
    #[error("whisper target {0} is not another participant of the conference")]
    WhisperTarget(crate::ParticipantId),
    /// A frame of the wrong length was given.
    #[error("frame of {got} samples, the media rate needs {expected}")]
    FrameLength {
        /// Samples per frame at the conference's rate.
        expected: usize,
        /// Samples given.
        got: usize,
    },
}
