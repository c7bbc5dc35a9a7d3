//! The recorder thread: the one place recordings touch the disk. Shards
//! tap legs ([`MediaRelay`](crate::MediaRelay)'s recordings) and hand
//! the 20 ms frames over a bounded channel; this thread owns the
//! [`CallRecorder`]s and [`VoicemailRecorder`]s and their files.
//!
//! A shard never blocks on the channel: a frame that does not fit is
//! dropped and counted, and becomes silence in the file (each frame
//! carries its index, so the timeline holds). Messages that must not be
//! lost (a recording's opening and its end) wait in the shard's backlog
//! ([`RecorderLink`]) when the channel is full, and frames are dropped
//! while they wait, so nothing overtakes them.
//!
//! The thread ends a recording itself when its file fails or a
//! voicemail is over: it asks the shard to stop tapping, then reports
//! [`MediaEvent::RecordingFinished`].

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use super::shard::{Command, Shard};
use crate::relay::{MediaEvent, RecordedFrame, RecordingEnd, RecordingId, RECORDED_FRAME_LEN};
use crate::server::{
    CallRecorder, MediaRate, PauseMode, RecordError, VoicemailConfig, VoicemailEnd,
    VoicemailRecorder, VoicemailState, FRAME_DURATION,
};

/// What a recording writes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RecordingKind {
    /// Stereo WAV, caller left, agent right.
    Call(PauseMode),
    /// Mono WAV, ended by its limits.
    Voicemail(VoicemailConfig),
}

/// The answer to a blocking start: the file is open, or why not.
pub(crate) type OpenReply = SyncSender<Result<(), RecordError>>;

/// From the shards to the recorder thread.
#[derive(Debug)]
pub(crate) enum RecorderMessage {
    /// Create the file of a new recording (before any of its frames).
    Open {
        id: RecordingId,
        path: PathBuf,
        kind: RecordingKind,
        /// The shard that taps it.
        shard: usize,
        reply: Option<OpenReply>,
    },
    Frame(RecordedFrame),
    /// The shard stopped the recording after `frames` frames.
    Ended {
        id: RecordingId,
        frames: u64,
        end: RecordingEnd,
    },
}

/// A shard's end of the channel to the recorder thread.
#[derive(Debug)]
pub(crate) struct RecorderLink {
    sender: SyncSender<RecorderMessage>,
    /// Messages that must not be lost, waiting for room in order.
    backlog: VecDeque<RecorderMessage>,
}

impl RecorderLink {
    pub(crate) fn new(sender: SyncSender<RecorderMessage>) -> Self {
        Self {
            sender,
            backlog: VecDeque::new(),
        }
    }

    /// Hands a frame over; `false`: dropped (no room, or messages wait).
    pub(crate) fn send_frame(&mut self, frame: RecordedFrame) -> bool {
        self.backlog.is_empty() && self.sender.try_send(RecorderMessage::Frame(frame)).is_ok()
    }

    /// Hands over a message that must arrive, now or from the backlog.
    pub(crate) fn send_control(&mut self, message: RecorderMessage) {
        if !self.backlog.is_empty() {
            self.backlog.push_back(message);
            return;
        }
        if let Err(TrySendError::Full(message)) = self.sender.try_send(message) {
            self.backlog.push_back(message);
        }
        // Disconnected: the recorder thread is gone, nothing to tell.
    }

    /// Moves what the backlog holds into the channel, as far as it fits.
    pub(crate) fn flush(&mut self) {
        while let Some(message) = self.backlog.pop_front() {
            match self.sender.try_send(message) {
                Ok(()) => {}
                Err(TrySendError::Full(message)) => {
                    self.backlog.push_front(message);
                    return;
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.backlog.clear();
                    return;
                }
            }
        }
    }

    /// Messages wait for room.
    pub(crate) fn is_waiting(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Sends the backlog, waiting for room (the shard is stopping).
    pub(crate) fn flush_blocking(&mut self) {
        for message in self.backlog.drain(..) {
            if self.sender.send(message).is_err() {
                break;
            }
        }
    }
}

/// A shard's command queue, for the recorder thread to stop a tap.
pub(crate) struct ShardPost {
    pub(crate) commands: Sender<Command>,
    pub(crate) waker: Arc<mio::Waker>,
}

enum Writer<W: Write + Seek> {
    Call(CallRecorder<W>),
    Voicemail(VoicemailRecorder<W>),
}

struct Active<W: Write + Seek> {
    path: PathBuf,
    shard: usize,
    writer: Writer<W>,
    /// Index of the next frame expected.
    next: u64,
    dropped: u64,
}

impl<W: Write + Seek> Active<W> {
    /// Writes frames of silence up to `index` (frames the shard dropped),
    /// then `frame` if given. `Some(end)`: a voicemail is over.
    fn write(
        &mut self,
        index: u64,
        frame: Option<&RecordedFrame>,
    ) -> Result<Option<RecordingEnd>, RecordError> {
        const SILENCE: [i16; RECORDED_FRAME_LEN] = [0; RECORDED_FRAME_LEN];
        while self.next < index {
            self.dropped += 1;
            self.next += 1;
            if let Some(end) = self.write_one(&SILENCE, &SILENCE, None)? {
                return Ok(Some(end));
            }
        }
        let Some(frame) = frame else {
            return Ok(None);
        };
        self.next += 1;
        self.write_one(&frame.caller, &frame.agent, Some(frame.paused))
    }

    fn write_one(
        &mut self,
        caller: &[i16],
        agent: &[i16],
        paused: Option<bool>,
    ) -> Result<Option<RecordingEnd>, RecordError> {
        match &mut self.writer {
            Writer::Call(recorder) => {
                match paused {
                    Some(true) if !recorder.is_paused() => recorder.pause(),
                    Some(false) if recorder.is_paused() => recorder.resume(),
                    _ => {}
                }
                recorder.handle_frame(caller, agent)?;
                Ok(None)
            }
            Writer::Voicemail(recorder) => match recorder.handle_frame(caller)? {
                VoicemailState::Recording => Ok(None),
                VoicemailState::Ended(end) => Ok(Some(voicemail_end(end))),
            },
        }
    }

    /// Completes the file; the event that says so.
    fn finish(self, id: RecordingId, end: RecordingEnd) -> MediaEvent {
        let written = FRAME_DURATION * u32::try_from(self.next).unwrap_or(u32::MAX);
        let (duration, paused, has_speech, end) = match self.writer {
            Writer::Call(recorder) => {
                let length = recorder.length();
                match recorder.finish() {
                    Ok(summary) => (summary.length, summary.paused, None, end),
                    Err(error) => (length, Duration::ZERO, None, failed(&error)),
                }
            }
            Writer::Voicemail(recorder) => match recorder.finish() {
                Ok(summary) => (
                    summary.length,
                    Duration::ZERO,
                    Some(summary.has_speech),
                    end,
                ),
                Err(error) => (written, Duration::ZERO, None, failed(&error)),
            },
        };
        MediaEvent::RecordingFinished {
            id,
            path: self.path,
            duration,
            paused,
            dropped_frames: self.dropped,
            has_speech,
            end,
        }
    }

    /// The event of a recording whose file failed (the writer, dropped,
    /// completes the header as far as the disk lets it).
    fn fail(self, id: RecordingId, error: &RecordError) -> MediaEvent {
        let duration = FRAME_DURATION * u32::try_from(self.next).unwrap_or(u32::MAX);
        MediaEvent::RecordingFinished {
            id,
            path: self.path,
            duration,
            paused: Duration::ZERO,
            dropped_frames: self.dropped,
            has_speech: None,
            end: failed(error),
        }
    }
}

fn voicemail_end(end: VoicemailEnd) -> RecordingEnd {
    match end {
        VoicemailEnd::Silence => RecordingEnd::Silence,
        VoicemailEnd::MaxLength => RecordingEnd::MaxLength,
        VoicemailEnd::Stopped => RecordingEnd::Stopped,
    }
}

fn failed(error: &RecordError) -> RecordingEnd {
    RecordingEnd::Failed(error.to_string())
}

/// What the thread does after a message, in this order: stop the
/// shard's tap, answer a blocking start, report the event.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) stop: Option<(usize, RecordingId)>,
    pub(crate) reply: Option<(OpenReply, Result<(), RecordError>)>,
    pub(crate) event: Option<MediaEvent>,
}

/// The recordings the thread writes, over any sink `open` makes (files;
/// memory or failing sinks in tests).
pub(crate) struct RecorderDesk<W: Write + Seek, F: FnMut(&Path) -> io::Result<W>> {
    open: F,
    active: HashMap<RecordingId, Active<W>>,
}

impl<W: Write + Seek, F: FnMut(&Path) -> io::Result<W>> RecorderDesk<W, F> {
    pub(crate) fn new(open: F) -> Self {
        Self {
            open,
            active: HashMap::new(),
        }
    }

    pub(crate) fn handle(&mut self, message: RecorderMessage) -> Outcome {
        match message {
            RecorderMessage::Open {
                id,
                path,
                kind,
                shard,
                reply,
            } => self.open(id, path, kind, shard, reply),
            RecorderMessage::Frame(frame) => self.frame(&frame),
            RecorderMessage::Ended { id, frames, end } => self.ended(id, frames, end),
        }
    }

    fn open(
        &mut self,
        id: RecordingId,
        path: PathBuf,
        kind: RecordingKind,
        shard: usize,
        reply: Option<OpenReply>,
    ) -> Outcome {
        let rate = MediaRate::Narrowband;
        let writer = (self.open)(&path)
            .map_err(RecordError::Create)
            .and_then(|sink| match kind {
                RecordingKind::Call(mode) => CallRecorder::new(sink, rate, mode).map(Writer::Call),
                RecordingKind::Voicemail(config) => {
                    VoicemailRecorder::new(sink, rate, config).map(Writer::Voicemail)
                }
            });
        match writer {
            Ok(writer) => {
                let active = Active {
                    path,
                    shard,
                    writer,
                    next: 0,
                    dropped: 0,
                };
                self.active.insert(id, active);
                Outcome {
                    reply: reply.map(|reply| (reply, Ok(()))),
                    ..Outcome::default()
                }
            }
            Err(error) => {
                let stop = Some((shard, id));
                match reply {
                    Some(reply) => Outcome {
                        stop,
                        reply: Some((reply, Err(error))),
                        event: None,
                    },
                    None => Outcome {
                        stop,
                        reply: None,
                        event: Some(MediaEvent::RecordingFinished {
                            id,
                            path,
                            duration: Duration::ZERO,
                            paused: Duration::ZERO,
                            dropped_frames: 0,
                            has_speech: None,
                            end: failed(&error),
                        }),
                    },
                }
            }
        }
    }

    fn frame(&mut self, frame: &RecordedFrame) -> Outcome {
        // Frames of a recording that ended here (or never opened) are
        // the shard's last ones before it heard: ignored.
        let Some(active) = self.active.get_mut(&frame.id) else {
            return Outcome::default();
        };
        if frame.index < active.next {
            return Outcome::default();
        }
        match active.write(frame.index, Some(frame)) {
            Ok(None) => Outcome::default(),
            Ok(Some(end)) => self.end_here(frame.id, Ok(end)),
            Err(error) => self.end_here(frame.id, Err(error)),
        }
    }

    fn ended(&mut self, id: RecordingId, frames: u64, end: RecordingEnd) -> Outcome {
        let Some(mut active) = self.active.remove(&id) else {
            return Outcome::default();
        };
        let event = match active.write(frames, None) {
            Ok(None) => active.finish(id, end),
            Ok(Some(own)) => active.finish(id, own),
            Err(error) => active.fail(id, &error),
        };
        Outcome {
            event: Some(event),
            ..Outcome::default()
        }
    }

    /// Ends a recording the thread decided to end.
    fn end_here(&mut self, id: RecordingId, end: Result<RecordingEnd, RecordError>) -> Outcome {
        let Some(active) = self.active.remove(&id) else {
            return Outcome::default();
        };
        let stop = Some((active.shard, id));
        let event = match end {
            Ok(end) => active.finish(id, end),
            Err(error) => active.fail(id, &error),
        };
        Outcome {
            stop,
            reply: None,
            event: Some(event),
        }
    }

    /// Completes every file still open (the shards are gone).
    pub(crate) fn finish_all(&mut self) -> Vec<MediaEvent> {
        self.active
            .drain()
            .map(|(id, active)| active.finish(id, RecordingEnd::Stopped))
            .collect()
    }
}

/// Creates a recording's file; never overwrites one.
fn create(path: &Path) -> io::Result<BufWriter<File>> {
    let file = OpenOptions::new().write(true).create_new(true).open(path)?;
    Ok(BufWriter::with_capacity(64 * 1024, file))
}

/// The thread's loop, until every shard has hung up.
pub(crate) fn run(
    messages: Receiver<RecorderMessage>,
    events: Sender<MediaEvent>,
    shards: Vec<ShardPost>,
) {
    let mut desk = RecorderDesk::new(create);
    for message in messages.iter() {
        let outcome = desk.handle(message);
        if let Some((shard, id)) = outcome.stop {
            if let Some(post) = shards.get(shard) {
                let stop: Command = Box::new(move |shard: &mut Shard, now| {
                    // Stopped meanwhile by a command or a freed leg: fine.
                    let _ = shard.relay.stop_recording(now, id);
                });
                if post.commands.send(stop).is_ok() {
                    let _ = post.waker.wake();
                }
            }
        }
        if let Some((reply, result)) = outcome.reply {
            // The caller may have given up waiting.
            let _ = reply.send(result);
        }
        if let Some(event) = outcome.event {
            let _ = events.send(event);
        }
    }
    for event in desk.finish_all() {
        let _ = events.send(event);
    }
}

#[cfg(test)]
mod tests;
