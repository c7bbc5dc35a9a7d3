//! RFC 3389 comfort noise: the CN payload (§3), noise generated at the
//! signalled level, and a silence detector that sends CN in place of
//! silent frames for codecs without their own DTX (G.711, G.722).
//!
//! The level is in -dBov: 0 is the level of a full-scale square wave, so
//! the RMS of 16-bit noise at level L is 32767 · 10^(-L/20) (§3). The
//! spectral information (reflection coefficients, §3.2) is parsed past
//! but not modelled: generated noise is white, which §4 allows.

use super::CodecError;

/// The static payload type of CN at 8000 Hz (RFC 3551 §6); other clock
/// rates use a dynamic one.
pub const CN_PAYLOAD_TYPE: u8 = 13;

/// RMS of a 0 dBov signal in 16-bit PCM.
const FULL_SCALE: f64 = 32767.0;
/// Quietest level the payload carries.
const MIN_LEVEL: u8 = 127;

/// An RFC 3389 comfort noise payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ComfortNoise {
    /// Noise level in -dBov, 0..=127 (0 loudest).
    pub level: u8,
    /// Count of reflection coefficients that followed the level (the
    /// model order, §3.2); not interpreted here.
    pub order: usize,
}

impl ComfortNoise {
    /// A payload of `level` -dBov (capped at 127) without spectral
    /// information.
    pub fn new(level: u8) -> Self {
        Self {
            level: level.min(MIN_LEVEL),
            order: 0,
        }
    }

    /// Reads a CN payload: a level byte whose top bit must be 0, then any
    /// number of reflection coefficients.
    pub fn parse(payload: &[u8]) -> Result<Self, CodecError> {
        let (&level, coefficients) = payload
            .split_first()
            .ok_or(CodecError::ComfortNoise("empty payload"))?;
        if level & 0x80 != 0 {
            return Err(CodecError::ComfortNoise("reserved bit of the level set"));
        }
        Ok(Self {
            level,
            order: coefficients.len(),
        })
    }

    /// Writes the level byte into `out` (no spectral information: order
    /// 0, §3.2); returns 1.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, CodecError> {
        let first = out
            .first_mut()
            .ok_or(CodecError::BufferTooSmall { len: 0, needed: 1 })?;
        *first = self.level.min(MIN_LEVEL);
        Ok(1)
    }

    /// The level of `pcm`, rounded to whole dB; digital silence is 127.
    pub fn from_pcm(pcm: &[i16]) -> Self {
        if pcm.is_empty() {
            return Self::new(MIN_LEVEL);
        }
        let energy: f64 = pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
        let rms = (energy / pcm.len() as f64).sqrt();
        if rms < 1e-3 {
            return Self::new(MIN_LEVEL);
        }
        let level = (-20.0 * (rms / FULL_SCALE).log10()).round();
        // Clamped into 0..=127 first, so the cast is exact.
        Self::new(level.clamp(0.0, f64::from(MIN_LEVEL)) as u8)
    }

    /// RMS amplitude of noise at this level, in 16-bit units.
    pub fn rms(&self) -> f64 {
        FULL_SCALE * 10f64.powf(-f64::from(self.level) / 20.0)
    }
}

/// White noise at the level of the last [`ComfortNoise`] received, from
/// a seeded generator (deterministic for tests).
#[derive(Debug, Clone)]
pub struct ComfortNoiseGenerator {
    state: u32,
    amplitude: f64,
}

impl ComfortNoiseGenerator {
    /// A generator at `noise`'s level; `seed` picks the sequence.
    pub fn new(noise: ComfortNoise, seed: u32) -> Self {
        let mut generator = Self {
            state: seed | 1,
            amplitude: 0.0,
        };
        generator.handle_comfort_noise(noise);
        generator
    }

    /// Takes the level of a newly received CN payload.
    pub fn handle_comfort_noise(&mut self, noise: ComfortNoise) {
        // Uniform noise on [-a, a] has an RMS of a / √3.
        self.amplitude = noise.rms() * 3f64.sqrt();
    }

    /// Fills `out` with noise.
    pub fn fill(&mut self, out: &mut [i16]) {
        for sample in out {
            // xorshift32 (Marsaglia 2003).
            self.state ^= self.state << 13;
            self.state ^= self.state >> 17;
            self.state ^= self.state << 5;
            let unit = f64::from(self.state) / f64::from(u32::MAX) * 2.0 - 1.0;
            // Clamped into i16 first.
            *sample = (unit * self.amplitude)
                .round()
                .clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16;
        }
    }
}

/// What to send for one frame, as decided by [`SilenceSuppressor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuppressorOutput {
    /// Encode and send the frame; `marker` is set on the first packet
    /// after silence (RFC 3551 §4.1).
    Audio {
        /// RTP marker bit.
        marker: bool,
    },
    /// Send this CN payload (payload type 13 at 8 kHz) instead.
    ComfortNoise(ComfortNoise),
    /// Send nothing: the receiver keeps generating noise.
    Nothing,
}

/// Silence -> comfort noise without a VAD: a frame quieter than a
/// threshold is silent; after a hangover of silent frames a CN packet is
/// sent, then again when the level moves by 3 dB or more, or every
/// `refresh` frames (RFC 3389 §4 leaves the update policy open).
#[derive(Debug, Clone)]
pub struct SilenceSuppressor {
    threshold: u8,
    hangover: usize,
    refresh: usize,
    silent_frames: usize,
    since_update: usize,
    last_sent: Option<ComfortNoise>,
}

impl SilenceSuppressor {
    /// Frames at or below `threshold` (in -dBov, e.g. 55) are silent;
    /// `hangover` silent frames are still sent as audio, and CN is
    /// repeated every `refresh` silent frames.
    pub fn new(threshold: u8, hangover: usize, refresh: usize) -> Self {
        Self {
            threshold,
            hangover,
            refresh: refresh.max(1),
            silent_frames: 0,
            since_update: 0,
            last_sent: None,
        }
    }

    /// Decides what to send for the next frame of PCM.
    pub fn handle_frame(&mut self, pcm: &[i16]) -> SuppressorOutput {
        let noise = ComfortNoise::from_pcm(pcm);
        if noise.level < self.threshold {
            let marker = self.last_sent.is_some();
            self.silent_frames = 0;
            self.last_sent = None;
            return SuppressorOutput::Audio { marker };
        }
        self.silent_frames += 1;
        if self.silent_frames <= self.hangover {
            return SuppressorOutput::Audio { marker: false };
        }
        self.since_update += 1;
        let due = match self.last_sent {
            None => true,
            Some(last) => {
                last.level.abs_diff(noise.level) >= 3 || self.since_update >= self.refresh
            }
        };
        if due {
            self.since_update = 0;
            self.last_sent = Some(noise);
            SuppressorOutput::ComfortNoise(noise)
        } else {
            SuppressorOutput::Nothing
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_payloads() {
        let noise = ComfortNoise::parse(&[0x40, 1, 2, 3]).unwrap();
        assert_eq!(
            noise,
            ComfortNoise {
                level: 64,
                order: 3
            }
        );
        let mut out = [0u8; 4];
        assert_eq!(ComfortNoise::new(64).write(&mut out).unwrap(), 1);
        assert_eq!(out[0], 0x40);
        assert_eq!(ComfortNoise::parse(&out[..1]).unwrap().level, 64);
        assert!(ComfortNoise::parse(&[]).is_err());
        assert!(ComfortNoise::parse(&[0x80]).is_err());
        assert!(ComfortNoise::new(64).write(&mut []).is_err());
        assert_eq!(ComfortNoise::new(200).level, 127);
    }

    #[test]
    fn generates_noise_at_the_signalled_level() {
        for level in [20u8, 40, 60, 70] {
            let mut generator = ComfortNoiseGenerator::new(ComfortNoise::new(level), 7);
            let mut frame = vec![0i16; 8000];
            generator.fill(&mut frame);
            let measured = ComfortNoise::from_pcm(&frame).level;
            assert!(measured.abs_diff(level) <= 1, "{level} -> {measured}");
            // Roughly zero mean, not a constant.
            let mean = frame.iter().map(|&s| f64::from(s)).sum::<f64>() / 8000.0;
            assert!(mean.abs() < ComfortNoise::new(level).rms() / 10.0);
        }
        assert_eq!(ComfortNoise::from_pcm(&[0; 160]).level, 127);
        // A full-scale square wave is 0 dBov.
        let square: Vec<i16> = (0..160)
            .map(|i| if i % 2 == 0 { 32767 } else { -32767 })
            .collect();
        assert_eq!(ComfortNoise::from_pcm(&square).level, 0);
    }

    #[test]
    fn suppresses_silence_after_the_hangover() {
        let mut suppressor = SilenceSuppressor::new(55, 2, 10);
        let mut speech = vec![0i16; 160];
        ComfortNoiseGenerator::new(ComfortNoise::new(20), 1).fill(&mut speech);
        let mut quiet = vec![0i16; 160];
        ComfortNoiseGenerator::new(ComfortNoise::new(70), 2).fill(&mut quiet);

        assert_eq!(
            suppressor.handle_frame(&speech),
            SuppressorOutput::Audio { marker: false }
        );
        assert_eq!(
            suppressor.handle_frame(&quiet),
            SuppressorOutput::Audio { marker: false }
        );
        assert_eq!(
            suppressor.handle_frame(&quiet),
            SuppressorOutput::Audio { marker: false }
        );
        let SuppressorOutput::ComfortNoise(noise) = suppressor.handle_frame(&quiet) else {
            panic!("CN expected after the hangover");
        };
        assert!(noise.level.abs_diff(70) <= 2, "level {}", noise.level);
        let mut sent = 1;
        for _ in 0..20 {
            if let SuppressorOutput::ComfortNoise(_) = suppressor.handle_frame(&quiet) {
                sent += 1;
            }
        }
        assert_eq!(sent, 3, "one CN, then a refresh every 10 frames");
        assert_eq!(
            suppressor.handle_frame(&speech),
            SuppressorOutput::Audio { marker: true }
        );
    }
}
