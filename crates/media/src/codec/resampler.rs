//! Streaming sample-rate conversion between codec rates (8, 16 and
//! 48 kHz) for the transcoder, with `rubato`'s sinc resampler.
//!
//! Unlike the prompt loader (`server/resample.rs`), which converts whole
//! files once, this runs per packet: input is gathered into fixed 10 ms
//! chunks (every packet time here is a multiple), each chunk resampled
//! into a buffer allocated once. The ratios are simple fractions, so the
//! sinc table is read at exact points ("nearest" interpolation with an
//! oversampling factor divisible by 2, 3 and 6); a 64-tap filter keeps a
//! 20 ms packet at 48 kHz cheap.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

use super::CodecError;

/// Sinc filter length in input samples when upsampling.
const SINC_LEN: usize = 64;
/// Sub-sample resolution of the sinc table: 96 = 2^5 · 3.
const OVERSAMPLING: usize = 96;

/// A mono resampler fed any number of samples at a time.
pub(super) struct StreamResampler {
    resampler: Async<f32>,
    from: u32,
    to: u32,
    /// Input gathered towards the next chunk.
    chunk: Vec<f32>,
    filled: usize,
    output: Vec<f32>,
}

impl StreamResampler {
    pub(super) fn new(from: u32, to: u32) -> Result<Self, CodecError> {
        let failed = |reason: String| CodecError::Resample { from, to, reason };
        let chunk_len = (from / 100) as usize;
        // The filter spans input samples: downsampling by n needs it n
        // times longer for the same transition band.
        let sinc_len = SINC_LEN * (from / to).clamp(1, 4) as usize;
        let mut parameters =
            SincInterpolationParameters::new(sinc_len, WindowFunction::BlackmanHarris2);
        parameters.oversampling_factor = OVERSAMPLING;
        parameters.interpolation = SincInterpolationType::Nearest;
        let ratio = f64::from(to) / f64::from(from);
        let resampler =
            Async::<f32>::new_sinc(ratio, 1.0, &parameters, chunk_len, 1, FixedAsync::Input)
                .map_err(|error| failed(error.to_string()))?;
        let output = vec![0.0; resampler.output_frames_max()];
        Ok(Self {
            resampler,
            from,
            to,
            chunk: vec![0.0; chunk_len],
            filled: 0,
            output,
        })
    }

    /// Feeds `samples`; `sink` gets the output of every completed chunk.
    pub(super) fn push(
        &mut self,
        samples: &[i16],
        mut sink: impl FnMut(&[f32]),
    ) -> Result<(), CodecError> {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = rest.len().min(self.chunk.len() - self.filled);
            for (slot, &sample) in self.chunk[self.filled..].iter_mut().zip(&rest[..take]) {
                *slot = f32::from(sample);
            }
            self.filled += take;
            rest = &rest[take..];
            if self.filled == self.chunk.len() {
                self.filled = 0;
                let written = self.process()?;
                sink(&self.output[..written]);
            }
        }
        Ok(())
    }

    fn process(&mut self) -> Result<usize, CodecError> {
        let (from, to) = (self.from, self.to);
        let failed = |reason: String| CodecError::Resample { from, to, reason };
        let frames = self.chunk.len();
        let out_frames = self.output.len();
        let input = InterleavedSlice::new(&self.chunk[..], 1, frames)
            .map_err(|error| failed(error.to_string()))?;
        let mut output = InterleavedSlice::new_mut(&mut self.output[..], 1, out_frames)
            .map_err(|error| failed(error.to_string()))?;
        let (_, written) = self
            .resampler
            .process_into_buffer(&input, &mut output, None)
            .map_err(|error| failed(error.to_string()))?;
        Ok(written)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn run(from: u32, to: u32, freq: f64, packet: usize) -> Vec<f32> {
        let mut resampler = StreamResampler::new(from, to).unwrap();
        let input: Vec<i16> = (0..from as usize)
            .map(|i| {
                (10_000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(from)).sin())
                    as i16
            })
            .collect();
        let mut output = Vec::new();
        for piece in input.chunks(packet) {
            resampler
                .push(piece, |out| output.extend_from_slice(out))
                .unwrap();
        }
        output
    }

    fn rms(samples: &[f32]) -> f32 {
        (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
    }

    #[test]
    fn converts_rates_in_any_packet_size() {
        for (from, to) in [
            (8000, 48_000),
            (48_000, 8000),
            (8000, 16_000),
            (16_000, 48_000),
            (48_000, 16_000),
        ] {
            for packet in [from as usize / 50, from as usize / 100 * 3, 7] {
                let out = run(from, to, 1000.0, packet);
                // One second in; the last partial chunk stays buffered.
                let expected = to as usize;
                assert!(
                    out.len() + to as usize / 100 >= expected && out.len() <= expected,
                    "{from}->{to}: {}",
                    out.len()
                );
                let level = rms(&out[to as usize / 10..]);
                assert!((level - 7071.0).abs() < 150.0, "{from}->{to}: rms {level}");
            }
        }
    }

    #[test]
    fn filters_what_the_lower_rate_cannot_carry() {
        let out = run(48_000, 8000, 6000.0, 960);
        assert!(rms(&out[800..]) < 100.0, "aliased rms {}", rms(&out[800..]));
    }
}
