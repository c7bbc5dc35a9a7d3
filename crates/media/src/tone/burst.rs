//! The one tone generator of the crate: a [`Burst`] is a stretch of one
//! or two summed sines (or of silence) of a fixed length, optionally with
//! raised-cosine ramps at both ends. [`TonePlayer`](super::TonePlayer)
//! plays its cadences as a series of bursts and the built-in prompts
//! render their melodies from them.
//!
//! Every burst starts at phase zero; within a burst the oscillators keep
//! their phase from one sample to the next, so audio cut into frames is
//! the same as audio made in one piece.

use super::TONE_SAMPLE_RATE;

/// Peak of a 0 dBm0 sine in 16-bit linear PCM (G.711 full load is
/// +3.14 dBm0 A-law, +3.17 dBm0 μ-law).
pub(crate) const DBM0_PEAK: f32 = 22_700.0;

/// One sine oscillator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Oscillator {
    /// Phase in cycles, 0..1.
    phase: f64,
    /// Cycles per sample.
    step: f64,
    amplitude: f32,
}

impl Oscillator {
    /// A sine of `hz` with this `peak` in 16-bit PCM, at `sample_rate`;
    /// silent when `hz` is not positive.
    pub(crate) fn new(hz: f32, sample_rate: u32, peak: f32) -> Self {
        Oscillator {
            phase: 0.0,
            step: f64::from(hz) / f64::from(sample_rate),
            amplitude: if hz > 0.0 { peak } else { 0.0 },
        }
    }

    /// A sine of `hz` at `level_dbm0`, at 8 kHz; silent when the level is
    /// not finite (no frequency).
    pub(crate) fn at_dbm0(hz: f32, level_dbm0: f32) -> Self {
        let peak = if level_dbm0.is_finite() {
            DBM0_PEAK * 10f32.powf(level_dbm0 / 20.0)
        } else {
            0.0
        };
        Oscillator::new(hz, TONE_SAMPLE_RATE, peak)
    }

    /// No sound at all.
    pub(crate) fn silent() -> Self {
        Oscillator::new(0.0, TONE_SAMPLE_RATE, 0.0)
    }

    fn next(&mut self) -> f32 {
        let value = self.amplitude * (std::f64::consts::TAU * self.phase).sin() as f32;
        self.phase = (self.phase + self.step).fract();
        value
    }
}

/// Samples in `ms` milliseconds at `sample_rate`.
pub(crate) fn ms_to_samples(ms: u32, sample_rate: u32) -> u64 {
    u64::from(ms) * u64::from(sample_rate) / 1000
}

/// A stretch of tone or silence, yielded sample by sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Burst {
    /// The summed sines; `None` for silence.
    sines: Option<[Oscillator; 2]>,
    /// Length in samples.
    len: u64,
    /// Samples of raised-cosine ramp at each end; 0 for none.
    ramp: u64,
    /// Samples yielded so far.
    position: u64,
}

impl Burst {
    /// `sines` summed (silence for `None`) for `len` samples, at full
    /// level throughout.
    pub(crate) fn new(sines: Option<[Oscillator; 2]>, len: u64) -> Self {
        Burst {
            sines,
            len,
            ramp: 0,
            position: 0,
        }
    }

    /// `sines` summed for `len` samples, faded in and out over `ramp`
    /// samples (at most half the burst, at least one sample), so there
    /// is no click at either end.
    pub(crate) fn ramped(sines: [Oscillator; 2], len: u64, ramp: u64) -> Self {
        Burst {
            ramp: ramp.min(len / 2).max(1),
            ..Burst::new(Some(sines), len)
        }
    }

    /// Samples not yielded yet.
    pub(crate) fn remaining(&self) -> u64 {
        self.len - self.position
    }

    /// The fade-in/fade-out gain of the next sample.
    fn gain(&self) -> f32 {
        let edge = self.position.min(self.len - 1 - self.position);
        if edge < self.ramp {
            0.5 - 0.5 * (std::f32::consts::PI * edge as f32 / self.ramp as f32).cos()
        } else {
            1.0
        }
    }
}

impl Iterator for Burst {
    type Item = i16;

    fn next(&mut self) -> Option<i16> {
        if self.position == self.len {
            return None;
        }
        let gain = self.gain();
        self.position += 1;
        let Some([low, high]) = &mut self.sines else {
            return Some(0);
        };
        // Two tones at most +0 dBm0 each stay within i16; the cast
        // saturates anyway.
        Some((gain * (low.next() + high.next())).round() as i16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_have_their_length_and_start_at_phase_zero() {
        let sine = Oscillator::new(1_000.0, 8_000, 10_000.0);
        let tone: Vec<i16> = Burst::new(Some([sine, Oscillator::silent()]), 8).collect();
        // A quarter cycle every two samples.
        assert_eq!(tone, [0, 7071, 10_000, 7071, 0, -7071, -10_000, -7071]);
        assert_eq!(Burst::new(None, 3).collect::<Vec<_>>(), [0, 0, 0]);
        assert_eq!(Burst::new(Some([sine; 2]), 0).count(), 0);
        let mut burst = Burst::new(None, 2);
        assert_eq!(burst.remaining(), 2);
        burst.next();
        assert_eq!(burst.remaining(), 1);
    }

    #[test]
    fn ramps_fade_both_ends() {
        let sines = [
            Oscillator::new(700.0, 16_000, 8_192.0),
            Oscillator::silent(),
        ];
        let flat: Vec<i16> = Burst::new(Some(sines), 400).collect();
        let ramped: Vec<i16> = Burst::ramped(sines, 400, 80).collect();
        for (i, (&faded, &full)) in ramped.iter().zip(&flat).enumerate() {
            let edge = i.min(399 - i) as f64;
            let gain = if edge < 80.0 {
                (1.0 - (std::f64::consts::PI * edge / 80.0).cos()) / 2.0
            } else {
                1.0
            };
            let expected = gain * f64::from(full);
            assert!(
                (f64::from(faded) - expected).abs() <= 1.0,
                "{i}: {faded} {expected}"
            );
        }
        assert_eq!((ramped[0], ramped[399]), (0, 0));
        assert_eq!(ramped[80..320], flat[80..320]);
        // A ramp longer than half the burst is cut to half: 2000 Hz at
        // 8 kHz is 0, +peak, 0, -peak, and the gain 0, 0.5, 0.5, 0.
        let sine = Oscillator::new(2_000.0, 8_000, 10_000.0);
        let short: Vec<i16> = Burst::ramped([sine, Oscillator::silent()], 4, 100).collect();
        assert_eq!(short, [0, 5_000, 0, 0]);
    }
}
