use std::io::Cursor;
use std::time::Duration;

use media::{CallRecorder, MediaRate, PauseMode, RecordError, CHECKPOINT_INTERVAL};

fn caller_frame(n: usize, len: usize) -> Vec<i16> {
    (0..len).map(|i| (n * 10 + i % 7) as i16 + 1).collect()
}

fn agent_frame(n: usize, len: usize) -> Vec<i16> {
    (0..len).map(|i| -((n * 10 + i % 5) as i16) - 1).collect()
}

/// Records 50 frames, 25 paused, 25 more; returns the file.
fn record(rate: MediaRate, mode: PauseMode) -> (Vec<u8>, media::RecordingSummary) {
    let len = rate.frame_len();
    let mut sink = Cursor::new(Vec::new());
    let mut recorder = CallRecorder::new(&mut sink, rate, mode).unwrap();
    for n in 0..100 {
        if n == 50 {
            recorder.pause();
            assert!(recorder.is_paused());
        }
        if n == 75 {
            recorder.resume();
        }
        recorder
            .handle_frame(&caller_frame(n, len), &agent_frame(n, len))
            .unwrap();
    }
    let summary = recorder.finish().unwrap();
    (sink.into_inner(), summary)
}

fn read(bytes: Vec<u8>) -> (hound::WavSpec, Vec<i16>) {
    let mut reader = hound::WavReader::new(Cursor::new(bytes)).unwrap();
    let spec = reader.spec();
    let samples = reader.samples::<i16>().map(Result::unwrap).collect();
    (spec, samples)
}

#[test]
fn records_caller_left_agent_right_with_silent_pauses() {
    for rate in [MediaRate::Narrowband, MediaRate::Wideband] {
        let len = rate.frame_len();
        let (bytes, summary) = record(rate, PauseMode::Silence);
        assert_eq!(summary.length, Duration::from_secs(2));
        assert_eq!(summary.paused, Duration::from_millis(500));
        let (spec, samples) = read(bytes);
        assert_eq!(spec.channels, 2);
        assert_eq!(spec.sample_rate, rate.hz());
        assert_eq!(spec.bits_per_sample, 16);
        assert_eq!(samples.len(), 100 * len * 2);
        for (n, frame) in samples.chunks(2 * len).enumerate() {
            let left: Vec<i16> = frame.iter().step_by(2).copied().collect();
            let right: Vec<i16> = frame.iter().skip(1).step_by(2).copied().collect();
            if (50..75).contains(&n) {
                assert!(frame.iter().all(|&s| s == 0), "frame {n} was paused");
            } else {
                assert_eq!(left, caller_frame(n, len), "frame {n}");
                assert_eq!(right, agent_frame(n, len), "frame {n}");
            }
        }
    }
}

#[test]
fn cut_pauses_leave_nothing_of_the_span() {
    let len = MediaRate::Narrowband.frame_len();
    let (bytes, summary) = record(MediaRate::Narrowband, PauseMode::Cut);
    assert_eq!(summary.length, Duration::from_millis(1_500));
    assert_eq!(summary.paused, Duration::from_millis(500));
    let (_, samples) = read(bytes);
    assert_eq!(samples.len(), 75 * len * 2);
    // Frame 50 of the file is frame 75 of the call.
    let left: Vec<i16> = samples[50 * 2 * len..51 * 2 * len]
        .iter()
        .step_by(2)
        .copied()
        .collect();
    assert_eq!(left, caller_frame(75, len));
}

#[test]
fn the_file_is_readable_before_the_call_ends() {
    let rate = MediaRate::Narrowband;
    let len = rate.frame_len();
    let mut sink = Cursor::new(Vec::new());
    let mut recorder = CallRecorder::new(&mut sink, rate, PauseMode::Silence).unwrap();
    let checkpoint_frames = rate.frames_in(CHECKPOINT_INTERVAL);
    for n in 0..checkpoint_frames + 10 {
        recorder
            .handle_frame(&caller_frame(n, len), &agent_frame(n, len))
            .unwrap();
    }
    assert_eq!(recorder.length(), Duration::from_millis(5_200));
    // Without finish, the header already covers the first checkpoint.
    drop(recorder);
    let (_, samples) = read(sink.get_ref().clone());
    assert!(samples.len() >= checkpoint_frames * len * 2);
}

#[test]
fn refuses_frames_of_the_wrong_length() {
    let mut sink = Cursor::new(Vec::new());
    let mut recorder =
        CallRecorder::new(&mut sink, MediaRate::Wideband, PauseMode::Silence).unwrap();
    let error = recorder.handle_frame(&[0; 160], &[0; 320]).unwrap_err();
    assert!(matches!(
        error,
        RecordError::FrameLength {
            expected: 320,
            got: 160
        }
    ));
    assert_eq!(recorder.length(), Duration::ZERO);
}
