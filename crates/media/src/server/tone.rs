//! The melodies of the built-in prompts: sine tones with 5 ms
//! raised-cosine ramps (no click at either end) and gaps, rendered by the
//! crate's tone generator ([`Burst`]).

use super::rate::MediaRate;
use crate::tone::{ms_to_samples, Burst, Oscillator};

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

impl Segment {
    /// This piece at `rate`.
    fn burst(self, rate: MediaRate) -> Burst {
        match self {
            Segment::Gap { ms } => Burst::new(None, ms_to_samples(ms, rate.hz())),
            Segment::Tone { hz, ms } => Burst::ramped(
                [
                    Oscillator::new(hz, rate.hz(), AMPLITUDE),
                    Oscillator::silent(),
                ],
                ms_to_samples(ms, rate.hz()),
                ms_to_samples(RAMP_MS, rate.hz()),
            ),
        }
    }
}

/// Renders `segments` at `rate`.
pub(crate) fn render(rate: MediaRate, segments: &[Segment]) -> Vec<i16> {
    segments
        .iter()
        .flat_map(|segment| segment.burst(rate))
        .collect()
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
