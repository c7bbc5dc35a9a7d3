//! Pacing of what a leg plays: frame `n` of a play is due at
//! `start + n × 20 ms` and carries RTP timestamp `start_ts + n × 160`
//! (RFC 3550 §5.1: the timestamp follows the sampling clock), so the
//! schedule does not drift however late each wake-up is. A shard that
//! fell behind sends the missed frames back to back, up to
//! [`MAX_BURST`]; further behind, it skips to the current slot (the
//! timestamps jump with the time lost, the audio goes on where it was)
//! and marks the packet as the start of a talkspurt (RFC 3551 §4.1).

use std::time::{Duration, Instant};

use super::rate::FrameConverter;
use crate::server::{FrameSource, FrameStatus, MediaRate, PlayRequestId, FRAME_DURATION};

/// Late frames sent in one burst before the schedule skips ahead.
pub(crate) const MAX_BURST: u64 = 3;

/// Samples of the longest frame a source produces (16 kHz).
const MAX_SOURCE_FRAME: usize = 320;

/// What [`Playout::poll_frame`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    /// The next frame is not due yet.
    NotDue,
    /// A frame is in `out`.
    Frame {
        /// Its RTP timestamp on the leg's local clock.
        timestamp: u32,
        /// First packet of a talkspurt.
        marker: bool,
    },
    /// The source has ended.
    Ended,
}

/// One play: a source and its schedule.
pub(crate) struct Playout {
    request: PlayRequestId,
    source: Box<dyn FrameSource>,
    converter: FrameConverter,
    start: Instant,
    start_ts: u32,
    ts_per_frame: u32,
    /// Index of the next frame.
    next: u64,
    marker: bool,
    input: [i16; MAX_SOURCE_FRAME],
}

impl std::fmt::Debug for Playout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playout")
            .field("request", &self.request)
            .field("start", &self.start)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

fn frames(n: u64) -> Duration {
    // 20 ms frames: 2^64 µs is far beyond any call.
    Duration::from_micros(n.saturating_mul(FRAME_DURATION.as_micros() as u64))
}

impl Playout {
    /// Plays `source` toward a leg whose codec works at `codec_rate`
    /// with `ts_per_frame` timestamp units per 20 ms, frame 0 at `start`
    /// with timestamp `start_ts`. `marker`: the first packet starts a
    /// talkspurt (not when it continues the previous play seamlessly).
    pub(crate) fn new(
        request: PlayRequestId,
        source: Box<dyn FrameSource>,
        codec_rate: MediaRate,
        start: Instant,
        start_ts: u32,
        ts_per_frame: u32,
        marker: bool,
    ) -> Self {
        let converter = FrameConverter::new(source.rate(), codec_rate);
        Self {
            request,
            source,
            converter,
            start,
            start_ts,
            ts_per_frame,
            next: 0,
            marker,
            input: [0; MAX_SOURCE_FRAME],
        }
    }

    /// The leg's codec changed: frames from the next on are converted to
    /// `codec_rate`, the next one carries `next_ts` and each after it
    /// `ts_per_frame` more, starting a talkspurt.
    pub(crate) fn retarget(&mut self, codec_rate: MediaRate, next_ts: u32, ts_per_frame: u32) {
        self.converter = FrameConverter::new(self.source.rate(), codec_rate);
        // RTP timestamps are modulo 2^32.
        self.start_ts = next_ts.wrapping_sub((self.next as u32).wrapping_mul(ts_per_frame));
        self.ts_per_frame = ts_per_frame;
        self.marker = true;
    }

    pub(crate) fn request(&self) -> PlayRequestId {
        self.request
    }

    pub(crate) fn source_mut(&mut self) -> &mut dyn FrameSource {
        self.source.as_mut()
    }

    /// When the next frame is due.
    pub(crate) fn next_at(&self) -> Instant {
        self.start + frames(self.next)
    }

    /// Whether a frame is due at `now`.
    pub(crate) fn is_due(&self, now: Instant) -> bool {
        self.next_at() <= now
    }

    /// If the next frame is due at `now`, pulls it from the source into
    /// `out` (one frame at the codec rate).
    pub(crate) fn poll_frame(&mut self, now: Instant, out: &mut [i16]) -> Tick {
        if !self.is_due(now) {
            return Tick::NotDue;
        }
        let late = now.saturating_duration_since(self.next_at());
        if late >= frames(MAX_BURST) {
            // The slot `now` falls in: frames in between are not sent.
            let elapsed = now.saturating_duration_since(self.start);
            self.next = (elapsed.as_micros() / FRAME_DURATION.as_micros()) as u64;
            self.marker = true;
        }
        let wanted = self.converter.input_len(out.len()).min(MAX_SOURCE_FRAME);
        let input = &mut self.input[..wanted];
        if self.source.poll_frame(input) == FrameStatus::Ended {
            return Tick::Ended;
        }
        self.converter.convert(input, out);
        // RTP timestamps are modulo 2^32.
        let timestamp = self
            .start_ts
            .wrapping_add((self.next as u32).wrapping_mul(self.ts_per_frame));
        let marker = std::mem::take(&mut self.marker);
        self.next += 1;
        Tick::Frame { timestamp, marker }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::server::{PlayItem, Prompt, PromptPlayer};

    fn counting_prompt(frames: usize) -> Box<dyn FrameSource> {
        let samples: Vec<i16> = (0..frames * 160).map(|i| (i / 160) as i16).collect();
        let mut player = PromptPlayer::new(MediaRate::Narrowband);
        let prompt = Prompt::from_samples(MediaRate::Narrowband, samples);
        player
            .play(PlayRequestId(1), [PlayItem::Prompt(prompt)], false)
            .unwrap();
        Box::new(player)
    }

    #[test]
    fn frames_follow_the_start_instant_not_the_wake_ups() {
        let start = Instant::now();
        let mut playout = Playout::new(
            PlayRequestId(1),
            counting_prompt(10),
            MediaRate::Narrowband,
            start,
            1000,
            160,
            true,
        );
        let mut out = [0i16; 160];
        // Each wake-up comes 7 ms late: the schedule stays on 20 ms.
        for n in 0..10u64 {
            let due = playout.next_at();
            assert_eq!(due, start + frames(n));
            assert_eq!(
                playout.poll_frame(due - Duration::from_millis(1), &mut out),
                Tick::NotDue
            );
            let tick = playout.poll_frame(due + Duration::from_millis(7), &mut out);
            assert_eq!(
                tick,
                Tick::Frame {
                    timestamp: 1000 + 160 * n as u32,
                    marker: n == 0
                }
            );
            assert_eq!(out[0], n as i16);
        }
        assert_eq!(
            playout.poll_frame(start + frames(10), &mut out),
            Tick::Ended
        );
    }

    #[test]
    fn a_late_shard_bursts_then_skips_ahead() {
        let start = Instant::now();
        let mut playout = Playout::new(
            PlayRequestId(1),
            counting_prompt(50),
            MediaRate::Narrowband,
            start,
            0,
            160,
            false,
        );
        let mut out = [0i16; 160];
        // 50 ms late: frames 0, 1 and 2 go at once.
        let now = start + Duration::from_millis(50);
        let mut stamps = Vec::new();
        while let Tick::Frame { timestamp, .. } = playout.poll_frame(now, &mut out) {
            stamps.push(timestamp);
        }
        assert_eq!(stamps, [0, 160, 320]);
        // Then 200 ms of nothing: one frame for the current slot (index
        // 12), its timestamp jumping by the time lost, marked.
        let now = start + Duration::from_millis(250);
        let tick = playout.poll_frame(now, &mut out);
        assert_eq!(
            tick,
            Tick::Frame {
                timestamp: 12 * 160,
                marker: true
            }
        );
        // The audio goes on where it was.
        assert_eq!(out[0], 3);
        assert_eq!(playout.poll_frame(now, &mut out), Tick::NotDue);
        assert_eq!(playout.next_at(), start + frames(13));
    }
}
