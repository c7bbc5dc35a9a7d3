//! Sample-rate conversion of whole prompts at load time, with `rubato`'s
//! band-limited sinc interpolator.
//!
//! Why rubato's sinc resampler for every ratio, 16 -> 8 kHz included: a
//! prompt is converted once when it is loaded, never per frame, so cost
//! hardly matters, and one anti-aliased path (Blackman-Harris² window,
//! cutoff chosen by rubato below the lower Nyquist frequency) covers
//! 44.1 kHz (ratio 80/441) as well as 2:1 without a second filter to
//! design and test. The FFT resampler is left out (`default-features =
//! false`) to keep `realfft`/`rustfft` out of the build.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Async, FixedAsync, Resampler, SincInterpolationParameters, WindowFunction};

use super::error::WavError;

/// Sinc filter length: long enough for a steep low-pass at telephony
/// rates, short enough to load a 10-minute prompt in well under a second.
const SINC_LEN: usize = 128;
/// Input frames the resampler takes per call.
const CHUNK: usize = 1024;

/// Converts mono `samples` from `from` Hz to `to` Hz. Equal rates return
/// the input untouched.
pub(crate) fn resample(samples: Vec<f32>, from: u32, to: u32) -> Result<Vec<f32>, WavError> {
    if from == to || samples.is_empty() {
        return Ok(samples);
    }
    let failed = |reason: String| WavError::Resample { from, to, reason };
    let parameters = SincInterpolationParameters::new(SINC_LEN, WindowFunction::BlackmanHarris2);
    let ratio = f64::from(to) / f64::from(from);
    let mut resampler =
        Async::<f32>::new_sinc(ratio, 1.0, &parameters, CHUNK, 1, FixedAsync::Input)
            .map_err(|error| failed(error.to_string()))?;
    let input = InterleavedSlice::new(&samples[..], 1, samples.len())
        .map_err(|error| failed(error.to_string()))?;
    let output = resampler
        .process_all(&input, samples.len(), None)
        .map_err(|error| failed(error.to_string()))?;
    Ok(output.take_data())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: u32, seconds: f32) -> Vec<f32> {
        let n = (rate as f32 * seconds) as usize;
        (0..n)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    fn rms(samples: &[f32]) -> f32 {
        (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
    }

    #[test]
    fn keeps_length_and_passband_level() {
        for from in [16_000, 44_100, 48_000] {
            let out = resample(sine(1_000.0, from, 1.0), from, 8_000).unwrap();
            assert!(
                (7_990..=8_010).contains(&out.len()),
                "{from}: {}",
                out.len()
            );
            // A 1 kHz tone keeps its level (0.5 / sqrt 2).
            let level = rms(&out[400..7_600]);
            assert!((level - 0.3536).abs() < 0.01, "{from}: rms {level}");
        }
    }

    #[test]
    fn removes_what_the_lower_rate_cannot_carry() {
        // 6 kHz is above the 4 kHz Nyquist frequency of 8 kHz: without the
        // low-pass it would alias to 2 kHz at full level.
        let out = resample(sine(6_000.0, 48_000, 1.0), 48_000, 8_000).unwrap();
        let level = rms(&out[400..7_600]);
        assert!(level < 0.005, "aliased rms {level}");
    }

    #[test]
    fn upsamples_eight_to_sixteen() {
        let out = resample(sine(500.0, 8_000, 0.5), 8_000, 16_000).unwrap();
        assert!((7_990..=8_010).contains(&out.len()));
        assert!((rms(&out[400..7_600]) - 0.3536).abs() < 0.01);
    }
}
