use std::io::Cursor;
use std::time::Duration;

use media::{MediaRate, VoicemailConfig, VoicemailEnd, VoicemailRecorder, VoicemailState};

use crate::sine;

const RATE: MediaRate = MediaRate::Narrowband;
const FRAME: usize = 160;

/// Feeds `audio` frame by frame until the recorder ends; returns the
/// frame count taken, the summary and the file's samples.
fn run(
    config: VoicemailConfig,
    audio: &[i16],
) -> (usize, media::VoicemailSummary, hound::WavSpec, Vec<i16>) {
    let mut sink = Cursor::new(Vec::new());
    let mut recorder = VoicemailRecorder::new(&mut sink, RATE, config).unwrap();
    let mut taken = 0;
    for frame in audio.chunks_exact(FRAME) {
        taken += 1;
        if recorder.handle_frame(frame).unwrap() != VoicemailState::Recording {
            break;
        }
    }
    let summary = recorder.finish().unwrap();
    let mut reader = hound::WavReader::new(Cursor::new(sink.into_inner())).unwrap();
    let spec = reader.spec();
    let samples = reader.samples::<i16>().map(Result::unwrap).collect();
    (taken, summary, spec, samples)
}

/// `seconds` of speech-level tone.
fn speech(seconds: f64) -> Vec<i16> {
    sine(440.0, 8_000, seconds, 8_000.0)
}

/// `seconds` of line noise at about -60 dBFS.
fn quiet(seconds: f64) -> Vec<i16> {
    sine(1_000.0, 8_000, seconds, 40.0)
}

#[test]
fn silence_ends_the_message_and_is_left_out() {
    let audio = [speech(2.0), quiet(10.0)].concat();
    let (taken, summary, spec, samples) = run(VoicemailConfig::default(), &audio);
    // 2 s of speech, then 3 s of silence end it.
    assert_eq!(taken, 250);
    assert_eq!(summary.end, Some(VoicemailEnd::Silence));
    assert!(summary.has_speech);
    assert_eq!(summary.length, Duration::from_secs(2));
    assert_eq!(spec.channels, 1);
    assert_eq!(spec.sample_rate, 8_000);
    assert_eq!(samples, speech(2.0));
}

#[test]
fn pauses_shorter_than_the_timeout_are_kept() {
    let audio = [speech(1.0), quiet(2.0), speech(1.0), quiet(5.0)].concat();
    let (taken, summary, _, samples) = run(VoicemailConfig::default(), &audio);
    assert_eq!(taken, 350);
    assert_eq!(summary.end, Some(VoicemailEnd::Silence));
    assert_eq!(summary.length, Duration::from_secs(4));
    assert_eq!(samples, audio[..4 * 8_000]);
}

#[test]
fn max_length_ends_a_long_message() {
    let config = VoicemailConfig {
        max_length: Duration::from_secs(3),
        ..VoicemailConfig::default()
    };
    let audio = speech(10.0);
    let (taken, summary, _, samples) = run(config, &audio);
    assert_eq!(taken, 150);
    assert_eq!(summary.end, Some(VoicemailEnd::MaxLength));
    assert_eq!(summary.length, Duration::from_secs(3));
    assert_eq!(samples.len(), 3 * 8_000);
}

#[test]
fn silence_cannot_end_it_before_the_minimum_length() {
    let config = VoicemailConfig {
        min_length: Duration::from_secs(5),
        ..VoicemailConfig::default()
    };
    // Nobody speaks: 3 s of silence would end it, but not before 5 s.
    let (taken, summary, _, samples) = run(config, &quiet(20.0));
    assert_eq!(taken, 250);
    assert_eq!(summary.end, Some(VoicemailEnd::Silence));
    assert!(!summary.has_speech);
    // The 3 s that ended it are left out of the 5 s.
    assert_eq!(summary.length, Duration::from_secs(2));
    assert_eq!(samples.len(), 2 * 8_000);
}

#[test]
fn stop_ends_it_and_later_frames_are_ignored() {
    let mut sink = Cursor::new(Vec::new());
    let mut recorder = VoicemailRecorder::new(&mut sink, RATE, VoicemailConfig::default()).unwrap();
    let audio = [speech(1.0), quiet(0.5)].concat();
    for frame in audio.chunks_exact(FRAME) {
        assert_eq!(
            recorder.handle_frame(frame).unwrap(),
            VoicemailState::Recording
        );
    }
    recorder.stop();
    let ended = VoicemailState::Ended(VoicemailEnd::Stopped);
    assert_eq!(recorder.state(), ended);
    assert_eq!(recorder.handle_frame(&speech(0.02)).unwrap(), ended);
    let summary = recorder.finish().unwrap();
    // The trailing half second of silence is dropped.
    assert_eq!(summary.length, Duration::from_secs(1));
    let reader = hound::WavReader::new(Cursor::new(sink.into_inner())).unwrap();
    assert_eq!(reader.duration(), 8_000);
}

#[test]
fn zero_timeout_turns_silence_detection_off() {
    let config = VoicemailConfig {
        silence_timeout: Duration::ZERO,
        max_length: Duration::from_secs(4),
        ..VoicemailConfig::default()
    };
    let (taken, summary, _, samples) = run(config, &quiet(10.0));
    assert_eq!(taken, 200);
    assert_eq!(summary.end, Some(VoicemailEnd::MaxLength));
    assert_eq!(samples.len(), 4 * 8_000);
    assert!(!summary.has_speech);
}
