use std::io::Cursor;
use std::time::Duration;

use media::{MediaRate, Prompt, WavError, MAX_PROMPT_DURATION};

use crate::{rms, sine, wav_bytes};

/// Zero crossings per second of `samples` at `rate` (twice the frequency
/// of a pure tone).
fn crossings_per_second(samples: &[i16], rate: u32) -> f64 {
    let crossings = samples
        .windows(2)
        .filter(|pair| (pair[0] < 0) != (pair[1] < 0))
        .count();
    crossings as f64 * f64::from(rate) / samples.len() as f64
}

#[test]
fn loads_mono_8k_unchanged() {
    let samples: Vec<i16> = (0..800).map(|i| (i * 37 % 2000 - 1000) as i16).collect();
    let prompt = Prompt::from_wav(
        Cursor::new(wav_bytes(8_000, 1, &samples)),
        MediaRate::Narrowband,
    )
    .unwrap();
    assert_eq!(prompt.rate(), MediaRate::Narrowband);
    assert_eq!(prompt.samples(), &samples[..]);
    assert_eq!(prompt.duration(), Duration::from_millis(100));
}

#[test]
fn keeps_16k_for_wideband_and_upsamples_8k() {
    let samples = sine(1_000.0, 16_000, 0.5, 10_000.0);
    let wide = Prompt::from_wav(
        Cursor::new(wav_bytes(16_000, 1, &samples)),
        MediaRate::Wideband,
    )
    .unwrap();
    assert_eq!(wide.samples(), &samples[..]);

    let narrow = sine(1_000.0, 8_000, 0.5, 10_000.0);
    let up = Prompt::from_wav(
        Cursor::new(wav_bytes(8_000, 1, &narrow)),
        MediaRate::Wideband,
    )
    .unwrap();
    assert!((7_990..=8_010).contains(&up.len()), "{}", up.len());
    let middle = &up.samples()[800..7_200];
    assert!((crossings_per_second(middle, 16_000) - 2_000.0).abs() < 20.0);
    assert!((rms(middle) - 7_071.0).abs() < 150.0, "rms {}", rms(middle));
}

#[test]
fn resamples_cd_and_studio_rates_to_8k() {
    for rate in [16_000, 44_100, 48_000] {
        let samples = sine(440.0, rate, 1.0, 10_000.0);
        let prompt = Prompt::from_wav(
            Cursor::new(wav_bytes(rate, 1, &samples)),
            MediaRate::Narrowband,
        )
        .unwrap();
        assert!(
            (7_990..=8_010).contains(&prompt.len()),
            "{rate}: {} samples",
            prompt.len()
        );
        let middle = &prompt.samples()[400..7_600];
        let crossings = crossings_per_second(middle, 8_000);
        assert!((crossings - 880.0).abs() < 10.0, "{rate}: {crossings}");
        assert!(
            (rms(middle) - 7_071.0).abs() < 150.0,
            "{rate}: rms {}",
            rms(middle)
        );
    }
}

#[test]
fn downmixes_stereo() {
    // Left a tone, right silent: the mono mix is the tone at half level.
    let tone = sine(500.0, 8_000, 0.5, 16_000.0);
    let interleaved: Vec<i16> = tone.iter().flat_map(|&s| [s, 0]).collect();
    let prompt = Prompt::from_wav(
        Cursor::new(wav_bytes(8_000, 2, &interleaved)),
        MediaRate::Narrowband,
    )
    .unwrap();
    assert_eq!(prompt.len(), tone.len());
    for (mixed, original) in prompt.samples().iter().zip(&tone) {
        assert_eq!(*mixed, original / 2);
    }
}

fn wav_with_spec(spec: hound::WavSpec, samples: usize) -> Vec<u8> {
    let mut cursor = Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut cursor, spec).unwrap();
    for _ in 0..samples * usize::from(spec.channels) {
        match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Float, _) => writer.write_sample(0.0f32).unwrap(),
            (_, 8) => writer.write_sample(0i8).unwrap(),
            _ => writer.write_sample(0i32).unwrap(),
        }
    }
    writer.finalize().unwrap();
    cursor.into_inner()
}

fn load(bytes: Vec<u8>) -> Result<Prompt, WavError> {
    Prompt::from_wav(Cursor::new(bytes), MediaRate::Narrowband)
}

#[test]
fn refuses_other_sample_formats() {
    let spec = |bits, format, channels, rate| hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: format,
    };
    let int = hound::SampleFormat::Int;
    let float = hound::SampleFormat::Float;
    assert!(matches!(
        load(wav_with_spec(spec(8, int, 1, 8_000), 10)),
        Err(WavError::SampleFormat {
            bits_per_sample: 8,
            float: false
        })
    ));
    assert!(matches!(
        load(wav_with_spec(spec(24, int, 1, 8_000), 10)),
        Err(WavError::SampleFormat {
            bits_per_sample: 24,
            float: false
        })
    ));
    assert!(matches!(
        load(wav_with_spec(spec(32, float, 1, 8_000), 10)),
        Err(WavError::SampleFormat {
            bits_per_sample: 32,
            float: true
        })
    ));
    assert!(matches!(
        load(wav_with_spec(spec(16, int, 3, 8_000), 10)),
        Err(WavError::Channels(3))
    ));
    assert!(matches!(
        load(wav_with_spec(spec(16, int, 1, 6_000), 10)),
        Err(WavError::SampleRate(6_000))
    ));
    assert!(matches!(
        load(wav_with_spec(spec(16, int, 1, 96_000), 10)),
        Err(WavError::SampleRate(96_000))
    ));
}

/// A canonical 44-byte WAV header with the given format tag, announcing
/// `data_len` bytes of data (none follow).
fn raw_header(format_tag: u16, bits: u16, rate: u32, data_len: u32) -> Vec<u8> {
    let block_align = bits / 8;
    let mut header = Vec::new();
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&(36 + data_len).to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    header.extend_from_slice(&16u32.to_le_bytes());
    header.extend_from_slice(&format_tag.to_le_bytes());
    header.extend_from_slice(&1u16.to_le_bytes());
    header.extend_from_slice(&rate.to_le_bytes());
    header.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
    header.extend_from_slice(&block_align.to_le_bytes());
    header.extend_from_slice(&bits.to_le_bytes());
    header.extend_from_slice(b"data");
    header.extend_from_slice(&data_len.to_le_bytes());
    header
}

#[test]
fn refuses_compressed_files() {
    // G.711 A-law (6) and μ-law (7) and IMA ADPCM (0x11) in WAV.
    for tag in [6u16, 7, 0x11] {
        let mut bytes = raw_header(tag, 8, 8_000, 4);
        bytes.extend_from_slice(&[0xd5; 4]);
        assert!(
            matches!(load(bytes), Err(WavError::Compressed)),
            "tag {tag}"
        );
    }
}

#[test]
fn refuses_prompts_over_ten_minutes_before_reading_them() {
    // The header announces 601 s of 8 kHz audio; the data is not there,
    // and is never read.
    let bytes = raw_header(1, 16, 8_000, 601 * 8_000 * 2);
    match load(bytes) {
        Err(WavError::TooLong { duration, max }) => {
            assert_eq!(duration, Duration::from_secs(601));
            assert_eq!(max, MAX_PROMPT_DURATION);
        }
        other => panic!("{other:?}"),
    }
    // Exactly ten minutes is allowed (then fails on the missing data).
    let bytes = raw_header(1, 16, 8_000, 600 * 8_000 * 2);
    assert!(matches!(load(bytes), Err(WavError::Io(_))));
}

#[test]
fn refuses_garbage_and_truncated_files() {
    assert!(matches!(
        load(b"RIFX\0\0\0\0WAVE".to_vec()),
        Err(WavError::Malformed(_))
    ));
    assert!(matches!(load(Vec::new()), Err(WavError::Io(_))));
    let mut truncated = wav_bytes(8_000, 1, &[1; 100]);
    truncated.truncate(truncated.len() - 11);
    assert!(load(truncated).is_err());
}

#[test]
fn open_reports_a_missing_file() {
    let error = Prompt::open("/nonexistent/prompt.wav", MediaRate::Narrowband).unwrap_err();
    assert!(matches!(error, WavError::Io(ref e) if e.kind() == std::io::ErrorKind::NotFound));
}
