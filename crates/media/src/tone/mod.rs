//! Tone generation into 8 kHz linear PCM and G.711 payloads: DTMF keys
//! (ITU-T Q.23 frequencies), call-progress tones (ringback, busy,
//! congestion) with the cadences of ITU-T E.180 and its Supplement 2
//! (country values) for North America, the United Kingdom and the CEPT
//! 425 Hz plan of most of Europe, and a beep.
//!
//! | Tone | US (precise tone plan) | UK | Europe (CEPT) |
//! |------|------------------------|----|---------------|
//! | ringback | 440+480 Hz, 2 s on, 4 s off | 400+450 Hz, 0.4 on, 0.2 off, 0.4 on, 2.0 off | 425 Hz, 1 s on, 4 s off |
//! | busy | 480+620 Hz, 0.5 on, 0.5 off | 400 Hz, 0.375 on, 0.375 off | 425 Hz, 0.5 on, 0.5 off |
//! | congestion | 480+620 Hz, 0.25 on, 0.25 off | 400 Hz, 0.4 on, 0.35 off, 0.225 on, 0.525 off | 425 Hz, 0.25 on, 0.25 off |
//!
//! Oscillators keep their phase from one call to the next, so audio cut
//! into 20 ms frames is the same as audio made in one piece; each burst
//! of a cadence starts at phase zero (no click at the start). The
//! samples come from [`Burst`], the generator the built-in prompts use
//! too.

mod burst;

use std::time::Duration;

use crate::dtmf::DtmfDigit;
use crate::g711::G711;
pub(crate) use burst::{ms_to_samples, Burst, Oscillator};

/// Sample rate of the generated audio.
pub const TONE_SAMPLE_RATE: u32 = 8000;
/// Samples in a 20 ms frame at 8 kHz (one G.711 payload at ptime 20).
pub const FRAME_SAMPLES: usize = 160;

/// DTMF levels: high group 2 dB above the low group (ETSI ES 201 235-2
/// pre-emphasis).
const DTMF_LOW_DBM0: f32 = -8.0;
const DTMF_HIGH_DBM0: f32 = -6.0;

/// Which country values to use for call-progress tones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToneRegion {
    /// North America: the precise tone plan (ANSI T1.401, E.180 Suppl. 2).
    Us,
    /// United Kingdom (BT SIN 350, E.180 Suppl. 2).
    Uk,
    /// Europe: CEPT 425 Hz tones (ETSI TR 101 041, E.180 Suppl. 2).
    Europe,
}

/// A tone to play.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tone {
    /// A DTMF key held for `duration`, then silence.
    Dtmf {
        /// The key.
        digit: DtmfDigit,
        /// How long.
        duration: Duration,
    },
    /// Ringback ("ringing tone", E.180 §2.3), repeated.
    Ringback(ToneRegion),
    /// Busy tone (E.180 §2.4), repeated.
    Busy(ToneRegion),
    /// Congestion ("reorder") tone (E.180 §2.5), repeated.
    Congestion(ToneRegion),
    /// A 1000 Hz beep of 200 ms, once.
    Beep,
    /// Any other tone.
    Custom(ToneSpec),
}

/// The make-up of a tone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneSpec {
    /// One or two frequencies in hertz; 0 for none.
    pub frequencies: [f32; 2],
    /// Level of each frequency, dBm0.
    pub levels_dbm0: [f32; 2],
    /// On and off times in milliseconds, alternating, starting with on;
    /// empty for a continuous tone.
    pub cadence_ms: &'static [u32],
    /// Repeat the cadence; otherwise play it once and fall silent.
    pub repeat: bool,
}

const fn pair(low: f32, high: f32, level: f32, cadence_ms: &'static [u32]) -> ToneSpec {
    ToneSpec {
        frequencies: [low, high],
        levels_dbm0: [level, level],
        cadence_ms,
        repeat: true,
    }
}

const fn single(hz: f32, level: f32, cadence_ms: &'static [u32]) -> ToneSpec {
    ToneSpec {
        frequencies: [hz, 0.0],
        levels_dbm0: [level, f32::NEG_INFINITY],
        cadence_ms,
        repeat: true,
    }
}

impl ToneSpec {
    /// The spec of a tone; `None` for [`Tone::Dtmf`], whose length is
    /// not a constant.
    pub fn of(tone: Tone) -> Option<ToneSpec> {
        use ToneRegion::{Europe, Uk, Us};
        Some(match tone {
            Tone::Dtmf { .. } => return None,
            Tone::Ringback(Us) => pair(440.0, 480.0, -19.0, &[2000, 4000]),
            Tone::Ringback(Uk) => pair(400.0, 450.0, -19.0, &[400, 200, 400, 2000]),
            Tone::Ringback(Europe) => single(425.0, -13.0, &[1000, 4000]),
            Tone::Busy(Us) => pair(480.0, 620.0, -24.0, &[500, 500]),
            Tone::Busy(Uk) => single(400.0, -19.0, &[375, 375]),
            Tone::Busy(Europe) => single(425.0, -13.0, &[500, 500]),
            Tone::Congestion(Us) => pair(480.0, 620.0, -24.0, &[250, 250]),
            Tone::Congestion(Uk) => single(400.0, -19.0, &[400, 350, 225, 525]),
            Tone::Congestion(Europe) => single(425.0, -13.0, &[250, 250]),
            Tone::Beep => ToneSpec {
                repeat: false,
                ..single(1000.0, -10.0, &[200])
            },
            Tone::Custom(spec) => spec,
        })
    }
}

/// The bursts of a tone, in order.
#[derive(Debug, Clone)]
enum Cadence {
    /// On and off times in milliseconds, alternating, starting with on;
    /// `next` is the index of the part to come.
    Pattern {
        sines: [Oscillator; 2],
        ms: &'static [u32],
        repeat: bool,
        next: usize,
    },
    /// One burst (a DTMF key, or a tone without cadence), then silence.
    Once(Option<Burst>),
}

impl Iterator for Cadence {
    type Item = Burst;

    fn next(&mut self) -> Option<Burst> {
        match self {
            Cadence::Once(burst) => burst.take(),
            Cadence::Pattern {
                sines,
                ms,
                repeat,
                next,
            } => {
                let part = match *next {
                    part if part < ms.len() => part,
                    _ if *repeat => 0,
                    _ => return None,
                };
                let part_ms = *ms.get(part)?;
                *next = part + 1;
                // A zero-length part still takes one sample.
                let len = ms_to_samples(part_ms, TONE_SAMPLE_RATE).max(1);
                Some(Burst::new((part % 2 == 0).then_some(*sines), len))
            }
        }
    }
}

/// Plays a [`Tone`] as 8 kHz audio, frame after frame.
///
/// Call [`fill`](Self::fill) or [`fill_g711`](Self::fill_g711) once per
/// outgoing frame (usually [`FRAME_SAMPLES`]); time is the number of
/// samples asked for, no clock is read and nothing allocates.
#[derive(Debug, Clone)]
pub struct TonePlayer {
    tone: Tone,
    cadence: Cadence,
    /// The burst being played; `None` once the tone has finished.
    burst: Option<Burst>,
}

impl TonePlayer {
    /// A player at the start of `tone`.
    pub fn new(tone: Tone) -> Self {
        let mut cadence = match (tone, ToneSpec::of(tone)) {
            (_, Some(spec)) => {
                let sines = [
                    Oscillator::at_dbm0(spec.frequencies[0], spec.levels_dbm0[0]),
                    Oscillator::at_dbm0(spec.frequencies[1], spec.levels_dbm0[1]),
                ];
                if spec.cadence_ms.is_empty() {
                    // Continuous: 2^64 samples are millions of years.
                    Cadence::Once(Some(Burst::new(Some(sines), u64::MAX)))
                } else {
                    Cadence::Pattern {
                        sines,
                        ms: spec.cadence_ms,
                        repeat: spec.repeat,
                        next: 0,
                    }
                }
            }
            (Tone::Dtmf { digit, duration }, None) => {
                let (low, high) = digit.frequencies();
                let sines = [
                    Oscillator::at_dbm0(low, DTMF_LOW_DBM0),
                    Oscillator::at_dbm0(high, DTMF_HIGH_DBM0),
                ];
                let samples = duration.as_micros() * u128::from(TONE_SAMPLE_RATE) / 1_000_000;
                let len = u64::try_from(samples).unwrap_or(u64::MAX);
                Cadence::Once((len > 0).then(|| Burst::new(Some(sines), len)))
            }
            // ToneSpec::of is None only for Dtmf.
            (_, None) => Cadence::Once(None),
        };
        TonePlayer {
            tone,
            burst: cadence.next(),
            cadence,
        }
    }

    /// The tone being played.
    pub fn tone(&self) -> Tone {
        self.tone
    }

    /// A tone that is not repeated has played to its end.
    pub fn is_finished(&self) -> bool {
        self.burst.is_none()
    }

    /// Writes the next `out.len()` samples; returns how many belong to
    /// the tone (on or off parts) before it finished. Samples after the
    /// end are silence.
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        for (written, sample) in out.iter_mut().enumerate() {
            let Some(burst) = &mut self.burst else {
                out[written..].fill(0);
                return written;
            };
            // The cadence yields no empty burst, so there is a sample.
            *sample = burst.next().unwrap_or(0);
            if burst.remaining() == 0 {
                self.burst = self.cadence.next();
            }
        }
        out.len()
    }

    /// Writes the next `out.len()` samples as G.711; returns how many
    /// belong to the tone.
    pub fn fill_g711(&mut self, codec: G711, out: &mut [u8]) -> usize {
        let mut written = 0;
        let mut pcm = [0i16; FRAME_SAMPLES];
        for chunk in out.chunks_mut(FRAME_SAMPLES) {
            let pcm = &mut pcm[..chunk.len()];
            written += self.fill(pcm);
            codec.encode(pcm, chunk);
        }
        written
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::burst::DBM0_PEAK;
    use super::*;

    fn frame_energies(player: &mut TonePlayer, frames: usize) -> Vec<f64> {
        let mut frame = [0i16; FRAME_SAMPLES];
        (0..frames)
            .map(|_| {
                player.fill(&mut frame);
                frame
                    .iter()
                    .map(|&s| f64::from(s) * f64::from(s))
                    .sum::<f64>()
                    / FRAME_SAMPLES as f64
            })
            .collect()
    }

    /// On/off pattern of 20 ms frames, as run lengths starting with on.
    fn runs(energies: &[f64]) -> Vec<usize> {
        let mut runs = Vec::new();
        let mut on = true;
        let mut count = 0;
        for &energy in energies {
            if (energy > 1000.0) == on {
                count += 1;
            } else {
                runs.push(count);
                on = !on;
                count = 1;
            }
        }
        runs.push(count);
        runs
    }

    #[test]
    fn us_ringback_cadence() {
        let mut player = TonePlayer::new(Tone::Ringback(ToneRegion::Us));
        let energies = frame_energies(&mut player, 600);
        assert_eq!(runs(&energies), [100, 200, 100, 200]);
        // -19 dBm0 per tone: the mean square of two sines, over the 2 s
        // burst (the 40 Hz beat makes single frames differ).
        let expected = 2.0 * f64::from(DBM0_PEAK).powi(2) / 2.0 * 10f64.powf(-1.9);
        let burst = energies[..100].iter().sum::<f64>() / 100.0;
        assert!((burst / expected - 1.0).abs() < 0.02, "{burst} {expected}");
    }

    #[test]
    fn other_cadences() {
        let cases = [
            (Tone::Busy(ToneRegion::Us), vec![25, 25, 25, 25]),
            (Tone::Congestion(ToneRegion::Us), vec![13, 12, 13, 12]),
            (Tone::Ringback(ToneRegion::Uk), vec![20, 10, 20, 100]),
            (Tone::Ringback(ToneRegion::Europe), vec![50, 200]),
            (Tone::Busy(ToneRegion::Europe), vec![25, 25, 25, 25]),
        ];
        for (tone, expected) in cases {
            let mut player = TonePlayer::new(tone);
            let frames = expected.iter().sum();
            let runs = runs(&frame_energies(&mut player, frames));
            assert_eq!(runs, expected, "{tone:?}");
        }
    }

    #[test]
    fn frames_are_phase_continuous() {
        let tone = Tone::Dtmf {
            digit: DtmfDigit::Nine,
            duration: Duration::from_millis(500),
        };
        let mut whole = vec![0i16; 4000];
        TonePlayer::new(tone).fill(&mut whole);
        let mut framed = Vec::new();
        let mut player = TonePlayer::new(tone);
        let mut frame = [0i16; 160];
        // Odd frame sizes too.
        for size in [160, 7, 153, 160, 1, 159].into_iter().cycle().take(40) {
            player.fill(&mut frame[..size]);
            framed.extend_from_slice(&frame[..size]);
            if framed.len() >= 4000 {
                break;
            }
        }
        assert_eq!(&framed[..4000], &whole[..]);
    }

    #[test]
    fn finite_tones_end() {
        let mut player = TonePlayer::new(Tone::Beep);
        let mut frame = [1i16; 160];
        let mut tone_samples = 0;
        for _ in 0..20 {
            tone_samples += player.fill(&mut frame);
        }
        assert_eq!(tone_samples, 1600);
        assert!(player.is_finished());
        assert!(frame.iter().all(|&s| s == 0));
        let mut player = TonePlayer::new(Tone::Dtmf {
            digit: DtmfDigit::One,
            duration: Duration::ZERO,
        });
        assert!(player.is_finished());
        assert_eq!(player.fill(&mut frame), 0);
    }

    #[test]
    fn g711_frames() {
        let mut player = TonePlayer::new(Tone::Beep);
        let mut payload = [0u8; FRAME_SAMPLES];
        assert_eq!(player.fill_g711(G711::Alaw, &mut payload), 160);
        let mut decoded = [0i16; FRAME_SAMPLES];
        G711::Alaw.decode(&payload, &mut decoded);
        let peak = decoded.iter().map(|s| s.unsigned_abs()).max().unwrap();
        let expected = DBM0_PEAK * 10f32.powf(-0.5);
        assert!((f32::from(peak) / expected - 1.0).abs() < 0.05, "{peak}");
    }
}
