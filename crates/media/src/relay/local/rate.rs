//! Frame-by-frame 2:1 sample-rate conversion between the two
//! [`MediaRate`]s, for a player whose rate is not the leg codec's (a
//! 16 kHz prompt set on a G.711 leg, an 8 kHz one on a G.722 or Opus
//! leg), for a conference member whose rate is not the mix's, and for
//! wideband audio heard at 8 kHz (in-band DTMF, recordings).
//!
//! Prompts are resampled once at load time with rubato (`server`); this
//! is the per-frame path, so it is a fixed 31-tap low-pass FIR
//! (Blackman-windowed sinc, cutoff 3.6 kHz at 16 kHz) run on the 16 kHz
//! side: decimation keeps every other output, interpolation filters the
//! zero-stuffed input. State carries over from frame to frame and
//! nothing allocates.

use crate::server::MediaRate;

const TAPS: usize = 31;
const HISTORY: usize = TAPS - 1;
/// Samples of the longest frame (16 kHz, 20 ms).
const MAX_FRAME: usize = 320;
/// Cutoff as a fraction of the 16 kHz rate: 3.6 kHz, below the 4 kHz
/// Nyquist frequency of 8 kHz with room for the transition band.
const CUTOFF: f32 = 3_600.0 / 16_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Same,
    /// 16 -> 8 kHz.
    Halve,
    /// 8 -> 16 kHz.
    Double,
}

/// Converts frames of one rate to the other; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct FrameConverter {
    mode: Mode,
    taps: [f32; TAPS],
    /// The last `HISTORY` samples at 16 kHz, then room for a frame.
    work: [f32; HISTORY + MAX_FRAME],
}

impl FrameConverter {
    /// A converter from frames at `from` to frames at `to`.
    pub(crate) fn new(from: MediaRate, to: MediaRate) -> Self {
        let mode = match (from, to) {
            (MediaRate::Wideband, MediaRate::Narrowband) => Mode::Halve,
            (MediaRate::Narrowband, MediaRate::Wideband) => Mode::Double,
            _ => Mode::Same,
        };
        let mut taps = [0.0f32; TAPS];
        let middle = (TAPS / 2) as f32;
        for (n, tap) in taps.iter_mut().enumerate() {
            let x = n as f32 - middle;
            let sinc = if x == 0.0 {
                2.0 * CUTOFF
            } else {
                (2.0 * std::f32::consts::PI * CUTOFF * x).sin() / (std::f32::consts::PI * x)
            };
            let phase = 2.0 * std::f32::consts::PI * n as f32 / (TAPS - 1) as f32;
            let window = 0.42 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos();
            *tap = sinc * window;
        }
        let sum: f32 = taps.iter().sum();
        for tap in &mut taps {
            *tap /= sum;
        }
        Self {
            mode,
            taps,
            work: [0.0; HISTORY + MAX_FRAME],
        }
    }

    /// Samples an input frame has, given the output frame length.
    pub(crate) fn input_len(&self, output_len: usize) -> usize {
        match self.mode {
            Mode::Same => output_len,
            Mode::Halve => output_len * 2,
            Mode::Double => output_len / 2,
        }
    }

    /// Converts one frame: `input` of [`input_len`](Self::input_len)
    /// samples into `out` (at most 320 samples on the 16 kHz side).
    pub(crate) fn convert(&mut self, input: &[i16], out: &mut [i16]) {
        match self.mode {
            Mode::Same => {
                let n = input.len().min(out.len());
                out[..n].copy_from_slice(&input[..n]);
            }
            Mode::Halve => {
                let n = input.len().min(MAX_FRAME);
                for (slot, &sample) in self.work[HISTORY..].iter_mut().zip(&input[..n]) {
                    *slot = f32::from(sample);
                }
                for (i, sample) in out.iter_mut().enumerate().take(n / 2) {
                    *sample = self.filtered(2 * i + 1, 1.0);
                }
                self.keep_history(n);
            }
            Mode::Double => {
                let n = (input.len() * 2).min(MAX_FRAME);
                for (i, slot) in self.work[HISTORY..HISTORY + n].iter_mut().enumerate() {
                    *slot = if i % 2 == 0 {
                        f32::from(input[i / 2])
                    } else {
                        0.0
                    };
                }
                for (i, sample) in out.iter_mut().enumerate().take(n) {
                    *sample = self.filtered(i, 2.0);
                }
                self.keep_history(n);
            }
        }
    }

    /// The filter output for the `i`-th sample of the frame in `work`.
    fn filtered(&self, i: usize, gain: f32) -> i16 {
        let window = &self.work[i..i + TAPS];
        let sum: f32 = window.iter().zip(&self.taps).map(|(x, h)| x * h).sum();
        // `as` saturates: a full-scale input cannot wrap.
        (sum * gain).round() as i16
    }

    /// Moves the last `HISTORY` samples of the frame of `n` to the front.
    fn keep_history(&mut self, n: usize) {
        self.work.copy_within(n..n + HISTORY, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f32, rate: f32, start: usize, out: &mut [i16]) {
        for (i, sample) in out.iter_mut().enumerate() {
            let t = (start + i) as f32 / rate;
            *sample = (10_000.0 * (2.0 * std::f32::consts::PI * hz * t).sin()) as i16;
        }
    }

    fn rms(samples: &[i16]) -> f32 {
        let sum: f32 = samples.iter().map(|&s| f32::from(s) * f32::from(s)).sum();
        (sum / samples.len() as f32).sqrt()
    }

    /// Frequency from zero crossings.
    fn frequency(samples: &[i16], rate: f32) -> f32 {
        let crossings = samples
            .windows(2)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count();
        crossings as f32 / 2.0 / (samples.len() as f32 / rate)
    }

    #[test]
    fn halving_keeps_a_passband_tone_and_removes_what_would_alias() {
        for (hz, passes) in [(1_000.0, true), (6_000.0, false)] {
            let mut converter = FrameConverter::new(MediaRate::Wideband, MediaRate::Narrowband);
            assert_eq!(converter.input_len(160), 320);
            let (mut input, mut out) = ([0i16; 320], [0i16; 160]);
            let mut all = Vec::new();
            for frame in 0..10 {
                sine(hz, 16_000.0, frame * 320, &mut input);
                converter.convert(&input, &mut out);
                all.extend_from_slice(&out);
            }
            let level = rms(&all[160..]);
            if passes {
                assert!((level - 7_071.0).abs() < 300.0, "{hz} Hz: rms {level}");
                let found = frequency(&all[160..], 8_000.0);
                assert!((found - hz).abs() < 15.0, "{found}");
            } else {
                assert!(level < 300.0, "{hz} Hz aliased: rms {level}");
            }
        }
    }

    #[test]
    fn doubling_keeps_the_tone_and_level() {
        let mut converter = FrameConverter::new(MediaRate::Narrowband, MediaRate::Wideband);
        assert_eq!(converter.input_len(320), 160);
        let (mut input, mut out) = ([0i16; 160], [0i16; 320]);
        let mut all = Vec::new();
        for frame in 0..10 {
            sine(700.0, 8_000.0, frame * 160, &mut input);
            converter.convert(&input, &mut out);
            all.extend_from_slice(&out);
        }
        let level = rms(&all[320..]);
        assert!((level - 7_071.0).abs() < 300.0, "rms {level}");
        let found = frequency(&all[320..], 16_000.0);
        assert!((found - 700.0).abs() < 15.0, "{found}");
    }

    #[test]
    fn same_rate_copies() {
        let mut converter = FrameConverter::new(MediaRate::Narrowband, MediaRate::Narrowband);
        let input: Vec<i16> = (0..160).collect();
        let mut out = [0i16; 160];
        converter.convert(&input, &mut out);
        assert_eq!(&out[..], &input[..]);
    }
}
