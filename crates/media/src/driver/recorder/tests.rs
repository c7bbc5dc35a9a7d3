//! The recorder thread's desk over memory sinks: gaps become silence and
//! are counted, pauses reach the file, voicemails end themselves, a
//! sink that fails ends its recording with an error, never a panic.
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::io::{Cursor, Read, SeekFrom};
use std::rc::Rc;

use super::*;

const ID: RecordingId = RecordingId(3);

/// A sink that keeps its bytes for the test and fails (disk full) once
/// `limit` bytes were written.
#[derive(Clone)]
struct Sink {
    file: Rc<RefCell<Cursor<Vec<u8>>>>,
    limit: usize,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut file = self.file.borrow_mut();
        if file.position() as usize + buf.len() > self.limit {
            return Err(io::Error::other("no space left on device"));
        }
        file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Sink {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.borrow_mut().seek(pos)
    }
}

type Opened = Rc<RefCell<Vec<(PathBuf, Sink)>>>;

/// A desk whose files hold `limit` bytes at most; the sinks it opened.
fn desk(
    limit: usize,
) -> (
    RecorderDesk<Sink, impl FnMut(&Path) -> io::Result<Sink>>,
    Opened,
) {
    let opened: Opened = Rc::default();
    let list = Rc::clone(&opened);
    let open = move |path: &Path| {
        if path.starts_with("/missing") {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        let sink = Sink {
            file: Rc::default(),
            limit,
        };
        list.borrow_mut().push((path.to_path_buf(), sink.clone()));
        Ok(sink)
    };
    (RecorderDesk::new(open), opened)
}

fn open(kind: RecordingKind, path: &str) -> RecorderMessage {
    RecorderMessage::Open {
        id: ID,
        path: PathBuf::from(path),
        kind,
        shard: 1,
        reply: None,
    }
}

fn frame(index: u64, caller: i16, agent: i16, paused: bool) -> RecorderMessage {
    let mut caller_pcm = [0i16; RECORDED_FRAME_LEN];
    let mut agent_pcm = [0i16; RECORDED_FRAME_LEN];
    for (n, (c, a)) in caller_pcm.iter_mut().zip(&mut agent_pcm).enumerate() {
        // A square wave: loud enough to be speech.
        let sign = if n % 8 < 4 { 1 } else { -1 };
        *c = caller * sign;
        *a = agent * sign;
    }
    RecorderMessage::Frame(RecordedFrame {
        id: ID,
        index,
        paused,
        caller: if paused {
            [0; RECORDED_FRAME_LEN]
        } else {
            caller_pcm
        },
        agent: if paused {
            [0; RECORDED_FRAME_LEN]
        } else {
            agent_pcm
        },
    })
}

fn wav(sink: &Sink) -> (hound::WavSpec, Vec<i16>) {
    let mut bytes = Vec::new();
    let mut file = sink.file.borrow_mut();
    file.set_position(0);
    file.read_to_end(&mut bytes).unwrap();
    let mut reader = hound::WavReader::new(Cursor::new(bytes)).unwrap();
    let samples = reader.samples::<i16>().map(Result::unwrap).collect();
    (reader.spec(), samples)
}

#[test]
fn dropped_frames_become_counted_silence_and_pauses_reach_the_file() {
    let (mut desk, opened) = desk(usize::MAX);
    let nothing = desk.handle(open(RecordingKind::Call(PauseMode::Silence), "/r/a.wav"));
    assert!(nothing.stop.is_none() && nothing.event.is_none());
    for message in [
        frame(0, 1000, -2000, false),
        frame(1, 1000, -2000, false),
        // 2 was dropped by the shard.
        frame(3, 1000, -2000, false),
        frame(4, 0, 0, true),
        frame(3, 5, 5, false), // a repeat: ignored
    ] {
        let outcome = desk.handle(message);
        assert!(outcome.event.is_none() && outcome.stop.is_none());
    }
    // 5 dropped too, then the shard stopped after 6 frames.
    let outcome = desk.handle(RecorderMessage::Ended {
        id: ID,
        frames: 6,
        end: RecordingEnd::Stopped,
    });
    assert!(outcome.stop.is_none());
    assert_eq!(
        outcome.event,
        Some(MediaEvent::RecordingFinished {
            id: ID,
            path: PathBuf::from("/r/a.wav"),
            duration: Duration::from_millis(120),
            // Frame 5, lost while paused, counts as paused too.
            paused: Duration::from_millis(40),
            dropped_frames: 2,
            has_speech: None,
            end: RecordingEnd::Stopped,
        })
    );
    let (spec, samples) = wav(&opened.borrow()[0].1);
    assert_eq!((spec.channels, spec.sample_rate), (2, 8000));
    assert_eq!(samples.len(), 6 * 160 * 2);
    let frames: Vec<&[i16]> = samples.chunks(320).collect();
    assert_eq!(&frames[0][..4], &[1000, -2000, 1000, -2000]);
    for silent in [2, 4, 5] {
        assert!(frames[silent].iter().all(|&s| s == 0), "frame {silent}");
    }
    assert_eq!(frames[3][0], 1000);
    // Messages for a finished recording are ignored.
    assert!(desk.handle(frame(6, 1, 1, false)).event.is_none());
}

#[test]
fn a_full_disk_ends_the_recording_with_an_error() {
    // Room for the header and about ten frames.
    let (mut desk, opened) = desk(44 + 10 * 640);
    desk.handle(open(RecordingKind::Call(PauseMode::Silence), "/r/full.wav"));
    let mut failed = None;
    for index in 0..1000 {
        let outcome = desk.handle(frame(index, 100, 100, false));
        if let Some(event) = outcome.event {
            assert_eq!(outcome.stop, Some((1, ID)), "the shard stops tapping");
            failed = Some((index, event));
            break;
        }
    }
    let (index, event) = failed.expect("the recording fails");
    // hound buffers nothing: the write past the limit fails at once.
    assert!(index <= 11, "{index}");
    let MediaEvent::RecordingFinished { end, id, .. } = event else {
        panic!("{event:?}");
    };
    assert_eq!(id, ID);
    let RecordingEnd::Failed(reason) = end else {
        panic!("{end:?}");
    };
    assert!(reason.contains("no space left"), "{reason}");
    // The shard's last frames and its end find nothing to do.
    assert!(desk.handle(frame(2000, 1, 1, false)).event.is_none());
    let ended = RecorderMessage::Ended {
        id: ID,
        frames: 2001,
        end: RecordingEnd::Stopped,
    };
    assert!(desk.handle(ended).event.is_none());
    assert_eq!(opened.borrow().len(), 1);
}

#[test]
fn a_file_that_cannot_be_created_is_refused() {
    let (mut desk, _) = desk(usize::MAX);
    // Asked by a blocking start: the answer goes back to the caller.
    let (reply, answer) = std::sync::mpsc::sync_channel(1);
    let outcome = desk.handle(RecorderMessage::Open {
        id: ID,
        path: PathBuf::from("/missing/a.wav"),
        kind: RecordingKind::Call(PauseMode::Silence),
        shard: 0,
        reply: Some(reply),
    });
    assert_eq!(outcome.stop, Some((0, ID)));
    assert!(outcome.event.is_none());
    let (reply, result) = outcome.reply.unwrap();
    reply.send(result).unwrap();
    let error = answer.recv().unwrap().unwrap_err();
    assert!(matches!(error, RecordError::Create(_)), "{error}");
    assert!(
        error.to_string().contains("creating recording file"),
        "{error}"
    );

    // A detached start: reported as the recording's end.
    let outcome = desk.handle(open(RecordingKind::Call(PauseMode::Cut), "/missing/b.wav"));
    assert_eq!(outcome.stop, Some((1, ID)));
    let Some(MediaEvent::RecordingFinished { end, path, .. }) = outcome.event else {
        panic!("{:?}", outcome.event);
    };
    assert_eq!(path, PathBuf::from("/missing/b.wav"));
    assert!(matches!(end, RecordingEnd::Failed(reason) if reason.contains("not found")));
}

fn voicemail(max_length_ms: u64) -> RecordingKind {
    RecordingKind::Voicemail(VoicemailConfig {
        max_length: Duration::from_millis(max_length_ms),
        min_length: Duration::from_millis(100),
        silence_timeout: Duration::from_millis(200),
        silence_threshold_dbfs: -40.0,
    })
}

#[test]
fn a_voicemail_ends_itself_at_its_length_or_on_silence() {
    let (mut desk, opened) = desk(usize::MAX);
    desk.handle(open(voicemail(300), "/r/long.wav"));
    let mut ended = None;
    for index in 0..100 {
        let outcome = desk.handle(frame(index, 5000, 0, false));
        if outcome.event.is_some() {
            ended = Some((index, outcome));
            break;
        }
    }
    let (index, outcome) = ended.unwrap();
    assert_eq!(index, 14);
    assert_eq!(outcome.stop, Some((1, ID)));
    assert!(matches!(
        outcome.event,
        Some(MediaEvent::RecordingFinished {
            end: RecordingEnd::MaxLength,
            duration,
            has_speech: Some(true),
            ..
        }) if duration == Duration::from_millis(300)
    ));
    let (spec, samples) = wav(&opened.borrow()[0].1);
    assert_eq!((spec.channels, samples.len()), (1, 15 * 160));

    // 200 ms of speech, then silence: over after 200 ms of it, the
    // silence left out of the file.
    desk.handle(open(voicemail(60_000), "/r/short.wav"));
    let mut ended = None;
    for index in 0..100 {
        let level = if index < 10 { 5000 } else { 0 };
        let outcome = desk.handle(frame(index, level, 0, false));
        if outcome.event.is_some() {
            ended = Some((index, outcome));
            break;
        }
    }
    let (index, outcome) = ended.unwrap();
    assert_eq!(index, 19);
    assert!(matches!(
        outcome.event,
        Some(MediaEvent::RecordingFinished {
            end: RecordingEnd::Silence,
            duration,
            ..
        }) if duration == Duration::from_millis(200)
    ));
}

#[test]
fn open_files_are_completed_when_the_shards_are_gone() {
    let (mut desk, opened) = desk(usize::MAX);
    desk.handle(open(RecordingKind::Call(PauseMode::Silence), "/r/c.wav"));
    desk.handle(frame(0, 1, 2, false));
    let events = desk.finish_all();
    assert_eq!(events.len(), 1);
    assert!(matches!(
        &events[0],
        MediaEvent::RecordingFinished { end: RecordingEnd::Stopped, duration, .. }
            if *duration == Duration::from_millis(20)
    ));
    let (_, samples) = wav(&opened.borrow()[0].1);
    assert_eq!(samples.len(), 320);
}

#[test]
fn a_full_channel_drops_frames_but_keeps_opens_and_ends_in_order() {
    let (sender, receiver) = std::sync::mpsc::sync_channel(2);
    let mut link = RecorderLink::new(sender);
    let frame = |index| match frame(index, 1, 1, false) {
        RecorderMessage::Frame(frame) => frame,
        _ => unreachable!(),
    };
    assert!(link.send_frame(frame(0)));
    assert!(link.send_frame(frame(1)));
    assert!(!link.send_frame(frame(2)), "full: dropped");
    link.send_control(RecorderMessage::Ended {
        id: ID,
        frames: 3,
        end: RecordingEnd::Stopped,
    });
    assert!(link.is_waiting());
    receiver.recv().unwrap();
    // Room again, but a frame may not overtake the waiting end.
    assert!(!link.send_frame(frame(3)));
    link.flush();
    assert!(!link.is_waiting());
    assert!(matches!(receiver.recv().unwrap(), RecorderMessage::Frame(f) if f.index == 1));
    assert!(matches!(
        receiver.recv().unwrap(),
        RecorderMessage::Ended { frames: 3, .. }
    ));
    assert!(link.send_frame(frame(4)));
}
