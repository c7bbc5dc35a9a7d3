//! Rendering of short tone sequences (sine tones with 5 ms raised-cosine
//! ramps, so no click at either end), used for the built-in beep and the
//! fallback prompts.

use super::rate::MediaRate;

/// One piece of a tone sequence.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Segment {
    /// A sine tone of `hz` for `ms` milliseconds.
    Tone {
        /// Frequency.
        hz: f32,
        /// Length in milliseconds.
        ms: u32,
    },
    /// Silence for `ms` milliseconds.
    Gap {
        /// Length in milliseconds.
        ms: u32,
    },
}

/// Peak amplitude of the tones: -12 dBFS, loud and far from clipping
/// after G.711.
const AMPLITUDE: f32 = 8_192.0;
/// Ramp at each end of a tone.
const RAMP_MS: u32 = 5;

/// Renders `segments` at `rate`.
pub(crate) fn render(rate: MediaRate, segments: &[Segment]) -> Vec<i16> {
    let per_ms = rate.hz() as usize / 1_000;
    let total: u32 = segments
        .iter()
        .map(|segment| match *segment {
            Segment::Tone { ms, .. } | Segment::Gap { ms } => ms,
        })
        .sum();
    let mut samples = Vec::with_capacity(total as usize * per_ms);
    for segment in segments {
        match *segment {
            Segment::Gap { ms } => samples.resize(samples.len() + ms as usize * per_ms, 0),
            Segment::Tone { hz, ms } => {
                let len = ms as usize * per_ms;
                let ramp = (RAMP_MS as usize * per_ms).min(len / 2).max(1);
                let step = 2.0 * std::f32::consts::PI * hz / rate.hz() as f32;
                for i in 0..len {
                    let edge = i.min(len - 1 - i);
                    let gain = if edge < ramp {
                        0.5 - 0.5 * (std::f32::consts::PI * edge as f32 / ramp as f32).cos()
                    } else {
                        1.0
                    };
                    // |sin| <= 1 and gain <= 1: within ±8192.
                    samples.push((AMPLITUDE * gain * (step * i as f32).sin()) as i16);
                }
            }
        }
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_lengths_and_ramps() {
        let samples = render(
            MediaRate::Narrowband,
            &[
                Segment::Tone {
                    hz: 1_000.0,
                    ms: 100,
                },
                Segment::Gap { ms: 50 },
            ],
        );
        assert_eq!(samples.len(), 1_200);
        assert_eq!(samples[0], 0);
        assert!(samples[800..].iter().all(|&s| s == 0));
        let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!((8_000..=8_192).contains(&peak), "peak {peak}");
    }
}
