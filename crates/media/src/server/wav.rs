//! Prompts: audio held in memory at the media rate, loaded from WAV files.
//!
//! Reads RIFF/WAVE (Microsoft "Multimedia Programming Interface and Data
//! Specifications 1.0", 1991, and the `WAVE_FORMAT_EXTENSIBLE` addendum)
//! through `hound`: 16-bit linear PCM only, mono or stereo, 8 kHz to
//! 48 kHz. Stereo is averaged to mono; other rates are resampled (see
//! [`resample`](super::resample)) to 8 kHz for G.711 calls or 16 kHz for
//! G.722 calls. Compressed files (A-law, μ-law, ADPCM, MP3 in WAV), 8-,
//! 24- and 32-bit or float samples get a [`WavError`] naming the problem,
//! so an operator knows how to convert the file (e.g.
//! `sox in.wav -b 16 -c 1 -r 8000 out.wav`).

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::error::{PromptError, WavError};
use super::rate::MediaRate;
use super::resample::resample;

/// Longest prompt accepted: music on hold loops, so ten minutes is plenty,
/// and it bounds the memory a file can take (48 kHz stereo: 110 MB while
/// loading, 9.6 MB kept at 8 kHz).
pub const MAX_PROMPT_DURATION: Duration = Duration::from_secs(600);

/// Lowest and highest sample rates accepted in a file.
const RATES: std::ops::RangeInclusive<u32> = 8_000..=48_000;

/// Audio ready to play: mono 16-bit samples at one [`MediaRate`]. Cloning
/// is cheap (the samples are shared), so players and prompt sets hold
/// clones.
#[derive(Clone, PartialEq, Eq)]
pub struct Prompt {
    rate: MediaRate,
    samples: Arc<[i16]>,
}

impl Prompt {
    /// A prompt from samples already at `rate`.
    pub fn from_samples(rate: MediaRate, samples: impl Into<Arc<[i16]>>) -> Self {
        Self {
            rate,
            samples: samples.into(),
        }
    }

    /// `duration` of silence (rounded down to whole samples).
    pub fn silence(rate: MediaRate, duration: Duration) -> Self {
        Self::from_samples(rate, vec![0; rate.samples_in(duration)])
    }

    /// Reads a WAV stream and converts it to `rate`.
    pub fn from_wav<R: Read>(reader: R, rate: MediaRate) -> Result<Self, WavError> {
        let mut reader = hound::WavReader::new(reader)?;
        let spec = reader.spec();
        if spec.sample_format == hound::SampleFormat::Float || spec.bits_per_sample != 16 {
            return Err(WavError::SampleFormat {
                bits_per_sample: spec.bits_per_sample,
                float: spec.sample_format == hound::SampleFormat::Float,
            });
        }
        if spec.channels > 2 {
            return Err(WavError::Channels(spec.channels));
        }
        if !RATES.contains(&spec.sample_rate) {
            return Err(WavError::SampleRate(spec.sample_rate));
        }
        let frames = u64::from(reader.duration());
        let duration = Duration::from_nanos(frames * 1_000_000_000 / u64::from(spec.sample_rate));
        if duration > MAX_PROMPT_DURATION {
            return Err(WavError::TooLong {
                duration,
                max: MAX_PROMPT_DURATION,
            });
        }

        // The header's length is only a hint: a lying header must not
        // reserve more than a minute up front.
        let mut mono = Vec::with_capacity((reader.duration() as usize).min(48_000 * 60));
        let mut samples = reader.samples::<i16>();
        if spec.channels == 2 {
            while let Some(left) = samples.next() {
                let right = samples
                    .next()
                    .ok_or(WavError::Malformed("stereo data ends inside a frame"))??;
                // The mean of two i16 fits i16.
                mono.push(((i32::from(left?) + i32::from(right)) / 2) as i16);
            }
        } else {
            for sample in samples {
                mono.push(sample?);
            }
        }

        if spec.sample_rate == rate.hz() {
            return Ok(Self::from_samples(rate, mono));
        }
        let scaled = mono.iter().map(|&s| f32::from(s) / 32_768.0).collect();
        let converted = resample(scaled, spec.sample_rate, rate.hz())?;
        let samples: Vec<i16> = converted
            .iter()
            // Clamped to the i16 range first, so the cast cannot wrap.
            .map(|&s| (s * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16)
            .collect();
        Ok(Self::from_samples(rate, samples))
    }

    /// Opens and reads a WAV file (see [`Prompt::from_wav`]).
    pub fn open(path: impl AsRef<Path>, rate: MediaRate) -> Result<Self, WavError> {
        Self::from_wav(BufReader::new(File::open(path)?), rate)
    }

    /// The rate of the samples.
    pub fn rate(&self) -> MediaRate {
        self.rate
    }

    /// `Ok` when the prompt is at `rate`, else [`PromptError::Rate`].
    pub(crate) fn check_rate(&self, rate: MediaRate) -> Result<(), PromptError> {
        if self.rate == rate {
            Ok(())
        } else {
            Err(PromptError::Rate {
                expected: rate,
                found: self.rate,
            })
        }
    }

    /// The samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// The prompt has no sample.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// How long the prompt plays.
    pub fn duration(&self) -> Duration {
        self.rate.duration_of(self.samples.len())
    }
}

impl fmt::Debug for Prompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prompt")
            .field("rate", &self.rate)
            .field("duration", &self.duration())
            .finish()
    }
}
