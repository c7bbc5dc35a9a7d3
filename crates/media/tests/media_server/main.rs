//! Media server functions (issue 4, point 5): WAV prompts, playback,
//! prompt sets, recording, voicemail and conference mixing.
#![allow(clippy::unwrap_used)]

mod mixer;
mod player;
mod prompts;
mod recorder;
mod voicemail;
mod wav;

use std::io::Cursor;
use std::path::PathBuf;

/// A 16-bit PCM WAV file in memory.
pub(crate) fn wav_bytes(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut cursor, spec).unwrap();
    for &sample in samples {
        writer.write_sample(sample).unwrap();
    }
    writer.finalize().unwrap();
    cursor.into_inner()
}

/// `seconds` of a sine of `hz` at `rate`, peak `amplitude`.
pub(crate) fn sine(hz: f64, rate: u32, seconds: f64, amplitude: f64) -> Vec<i16> {
    let n = (f64::from(rate) * seconds).round() as usize;
    (0..n)
        .map(|i| {
            (amplitude * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin())
                as i16
        })
        .collect()
}

/// RMS level of `samples`.
pub(crate) fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    (sum / samples.len() as f64).sqrt()
}

/// A fresh, empty directory under the system temp dir.
pub(crate) fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("media-server-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
