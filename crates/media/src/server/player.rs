//! Prompt playback, frame by frame: [`PromptPlayer`] plays queued
//! sequences of prompts and pauses (IVR menus, announcements) with
//! barge-in; [`MohPlayer`] loops music on hold and keeps its position
//! while paused; [`HoldPlayer`] puts announcements over music on hold
//! the way a queue does ("you are number 3 in line", then the music
//! goes on where it stopped).
//!
//! Sans-IO: the caller's 20 ms media tick pulls a frame with
//! `poll_frame`, then drains `poll_event`. Nothing allocates per frame:
//! sequences are built when they are queued, and the event queue is
//! preallocated.

use std::collections::VecDeque;
use std::time::Duration;

use super::error::PromptError;
use super::rate::MediaRate;
use super::wav::Prompt;

/// One step of a sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayItem {
    /// Play a prompt to its end.
    Prompt(Prompt),
    /// Play silence (pauses between phrases, or waiting before a retry).
    Silence(Duration),
}

/// Caller-chosen id of a queued sequence, returned in
/// [`PlayerEvent::Finished`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlayRequestId(pub u64);

/// How a sequence ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayEnd {
    /// Every item was played.
    Completed,
    /// Cut short by [`PromptPlayer::handle_barge_in`] (the caller spoke
    /// or pressed a key).
    BargedIn,
    /// Dropped by [`PromptPlayer::stop`].
    Stopped,
}

/// What a player reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayerEvent {
    /// A sequence ended; the next queued one, if any, has started.
    Finished {
        /// The id it was queued with.
        request: PlayRequestId,
        /// How it ended.
        end: PlayEnd,
    },
}

/// A queued sequence and how far it has played.
#[derive(Debug)]
struct Sequence {
    request: PlayRequestId,
    items: Vec<PlayItem>,
    barge_in: bool,
    item: usize,
    offset: usize,
}

/// Events a player holds before they are drained without reallocating.
const EVENT_CAPACITY: usize = 8;

/// Plays sequences of prompts and silences, one after the other.
///
/// Drive it every 20 ms: [`poll_frame`](Self::poll_frame) fills the next
/// frame (silence when idle), then [`poll_event`](Self::poll_event) until
/// `None` tells which sequences ended.
#[derive(Debug)]
pub struct PromptPlayer {
    rate: MediaRate,
    current: Option<Sequence>,
    queue: VecDeque<Sequence>,
    events: VecDeque<PlayerEvent>,
}

impl PromptPlayer {
    /// An idle player at `rate`.
    pub fn new(rate: MediaRate) -> Self {
        Self {
            rate,
            current: None,
            queue: VecDeque::new(),
            events: VecDeque::with_capacity(EVENT_CAPACITY),
        }
    }

    /// The rate of the frames it produces.
    pub fn rate(&self) -> MediaRate {
        self.rate
    }

    /// Queues a sequence after anything already playing or queued.
    /// `barge_in` lets [`handle_barge_in`](Self::handle_barge_in) cut it
    /// short. An empty sequence finishes on the next frame.
    pub fn play(
        &mut self,
        request: PlayRequestId,
        items: impl IntoIterator<Item = PlayItem>,
        barge_in: bool,
    ) -> Result<(), PromptError> {
        let items: Vec<PlayItem> = items.into_iter().collect();
        for item in &items {
            if let PlayItem::Prompt(prompt) = item {
                prompt.check_rate(self.rate)?;
            }
        }
        let sequence = Sequence {
            request,
            items,
            barge_in,
            item: 0,
            offset: 0,
        };
        if self.current.is_none() {
            self.current = Some(sequence);
        } else {
            self.queue.push_back(sequence);
        }
        Ok(())
    }

    /// The caller spoke or pressed a key: stops the playing sequence if it
    /// was queued with `barge_in` (reported as [`PlayEnd::BargedIn`]) and
    /// starts the next one. Returns whether a sequence was stopped.
    pub fn handle_barge_in(&mut self) -> bool {
        match self.current.take() {
            Some(sequence) if sequence.barge_in => {
                self.finish(sequence.request, PlayEnd::BargedIn);
                self.current = self.queue.pop_front();
                true
            }
            other => {
                self.current = other;
                false
            }
        }
    }

    /// Drops the playing and every queued sequence, each reported as
    /// [`PlayEnd::Stopped`].
    pub fn stop(&mut self) {
        while let Some(sequence) = self.current.take() {
            self.finish(sequence.request, PlayEnd::Stopped);
            self.current = self.queue.pop_front();
        }
    }

    /// A sequence is playing or queued.
    pub fn is_playing(&self) -> bool {
        self.current.is_some()
    }

    /// Fills `out` (normally one frame) with the next samples; whatever
    /// no sequence covers is silence. Returns whether a sequence was
    /// playing at the start of the frame.
    pub fn poll_frame(&mut self, out: &mut [i16]) -> bool {
        let active = self.is_playing();
        let mut filled = 0;
        loop {
            self.settle();
            let Some(sequence) = self.current.as_mut() else {
                break;
            };
            if filled == out.len() {
                break;
            }
            // `settle` left the cursor on an item with samples left.
            let Some(item) = sequence.items.get(sequence.item) else {
                break;
            };
            let len = item_len(self.rate, item);
            let n = (len - sequence.offset).min(out.len() - filled);
            let dest = &mut out[filled..filled + n];
            match item {
                PlayItem::Prompt(prompt) => {
                    dest.copy_from_slice(&prompt.samples()[sequence.offset..sequence.offset + n]);
                }
                PlayItem::Silence(_) => dest.fill(0),
            }
            sequence.offset += n;
            filled += n;
        }
        out[filled..].fill(0);
        active
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<PlayerEvent> {
        self.events.pop_front()
    }

    /// Moves the cursor past items that are played out, finishing the
    /// sequence (and starting the next) when none is left.
    fn settle(&mut self) {
        while let Some(sequence) = self.current.as_mut() {
            match sequence.items.get(sequence.item) {
                Some(item) if sequence.offset < item_len(self.rate, item) => return,
                Some(_) => {
                    sequence.item += 1;
                    sequence.offset = 0;
                }
                None => {
                    let request = sequence.request;
                    self.finish(request, PlayEnd::Completed);
                    self.current = self.queue.pop_front();
                }
            }
        }
    }

    fn finish(&mut self, request: PlayRequestId, end: PlayEnd) {
        self.events
            .push_back(PlayerEvent::Finished { request, end });
    }
}

/// Samples an item plays for.
fn item_len(rate: MediaRate, item: &PlayItem) -> usize {
    match item {
        PlayItem::Prompt(prompt) => prompt.len(),
        PlayItem::Silence(duration) => rate.samples_in(*duration),
    }
}

/// Loops one prompt forever (music on hold); pausing keeps the position,
/// so the music goes on where it stopped.
#[derive(Debug, Clone)]
pub struct MohPlayer {
    prompt: Prompt,
    position: usize,
    paused: bool,
}

impl MohPlayer {
    /// A player at the start of `prompt`, playing.
    pub fn new(prompt: Prompt) -> Self {
        Self {
            prompt,
            position: 0,
            paused: false,
        }
    }

    /// The rate of the music.
    pub fn rate(&self) -> MediaRate {
        self.prompt.rate()
    }

    /// Stops advancing; frames are silent until [`resume`](Self::resume).
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Goes on from where [`pause`](Self::pause) stopped.
    pub fn resume(&mut self) {
        self.paused = false;
    }

    /// Paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Offset into the music (wraps at its end).
    pub fn position(&self) -> Duration {
        self.prompt.rate().duration_of(self.position)
    }

    /// Fills `out` with the next samples, wrapping at the end of the
    /// music. Paused, or with empty music, the frame is silent and
    /// `false` is returned.
    pub fn poll_frame(&mut self, out: &mut [i16]) -> bool {
        let samples = self.prompt.samples();
        if self.paused || samples.is_empty() {
            out.fill(0);
            return false;
        }
        let mut filled = 0;
        while filled < out.len() {
            let n = (samples.len() - self.position).min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&samples[self.position..self.position + n]);
            filled += n;
            self.position = (self.position + n) % samples.len();
        }
        true
    }
}

/// What a caller waiting in a queue hears: music on hold, interrupted by
/// announcements. While an announcement plays the music is paused; when
/// the last one finishes the music resumes where it stopped.
#[derive(Debug)]
pub struct HoldPlayer {
    music: Option<MohPlayer>,
    announcements: PromptPlayer,
}

impl HoldPlayer {
    /// A hold player at `rate` looping `music` (silence between
    /// announcements without it).
    pub fn new(rate: MediaRate, music: Option<Prompt>) -> Result<Self, PromptError> {
        if let Some(prompt) = &music {
            prompt.check_rate(rate)?;
        }
        Ok(Self {
            music: music.map(MohPlayer::new),
            announcements: PromptPlayer::new(rate),
        })
    }

    /// Queues an announcement (see [`PromptPlayer::play`]).
    pub fn announce(
        &mut self,
        request: PlayRequestId,
        items: impl IntoIterator<Item = PlayItem>,
        barge_in: bool,
    ) -> Result<(), PromptError> {
        self.announcements.play(request, items, barge_in)
    }

    /// The announcements, for barge-in, stop and state.
    pub fn announcements(&mut self) -> &mut PromptPlayer {
        &mut self.announcements
    }

    /// The rate of the frames it produces.
    pub fn rate(&self) -> MediaRate {
        self.announcements.rate()
    }

    /// The music, for its position.
    pub fn music(&self) -> Option<&MohPlayer> {
        self.music.as_ref()
    }

    /// Fills `out` with the announcement if one plays, else the music.
    pub fn poll_frame(&mut self, out: &mut [i16]) {
        if self.announcements.is_playing() {
            if let Some(music) = self.music.as_mut() {
                music.pause();
            }
            self.announcements.poll_frame(out);
        } else if let Some(music) = self.music.as_mut() {
            music.resume();
            music.poll_frame(out);
        } else {
            out.fill(0);
        }
    }

    /// The next announcement event (see [`PromptPlayer::poll_event`]).
    pub fn poll_event(&mut self) -> Option<PlayerEvent> {
        self.announcements.poll_event()
    }
}
