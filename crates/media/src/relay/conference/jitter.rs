//! The jitter buffer of one conference participant: its decoded audio
//! placed by RTP timestamp on a timeline of samples (RFC 3550 §5.1: the
//! timestamp places each packet's first sample; on the codec's clock,
//! RFC 3551 §4.5: 8 kHz for G.711 and G.722, RFC 7587 §4.1: 48 kHz for
//! Opus), one 20 ms frame taken per mix tick. A packet may hold any
//! number of samples (RFC 3551 §4.5: 10, 20, 30 or 60 ms of G.711 are
//! all in use): a 30 ms packet fills a frame and a half, two 10 ms
//! packets one frame.
//!
//! - Audio whose turn has passed (before the next sample to play) is
//!   late and dropped; the rest of a packet only partly late is kept. A
//!   packet whose samples are all held already is a duplicate.
//! - A packet that would start more than [`DEPTH`]` - 1` frames (or its
//!   own length, when longer) after the next sample to play makes room
//!   by dropping the oldest audio held (the sender's clock runs faster
//!   than the mix, or the shard fell behind): the delay stays bounded.
//! - A tick takes the frame at the next sample to play. Samples of it
//!   not held play as silence (lost, or too late to wait for) when
//!   audio after it is held; otherwise, with part of it held, the rest
//!   is still to come (a 30 ms packet covers half of the next frame) and
//!   the tick waits for it, the participant silent.
//! - With nothing held the participant is silent for the tick and the
//!   buffer waits where it is (silence suppression, RFC 3389 comfort
//!   noise, a delayed packet), so the delay grows by a frame, within
//!   the bound. A gap found later in front of the audio held (packets
//!   lost while waiting, a talkspurt whose timestamps jumped) is skipped
//!   as far as silence was already played for it while waiting, which
//!   brings the delay back down; the rest of a gap plays as silence, so
//!   a lost packet is its own length of silence, no more, no less.
//! - A new SSRC, another clock rate, a sequence number beyond the
//!   RFC 3550 §A.1 limits ([`MAX_DROPOUT`], [`MAX_MISORDER`]) or a
//!   timestamp more than [`MAX_LATE`] in the past starts the buffer
//!   over. Until its first frame is played, a packet a little before
//!   the first one held is still taken (the first two packets swapped).
//!
//! Packets are decoded before they come here (in arrival order: the
//! relay's own end of the leg decodes what it receives) and live in the
//! buffer itself, at the member's codec rate (no allocation after it is
//! made).

use std::time::Duration;

use crate::codec::MAX_PACKET_DURATION;
use crate::server::MediaRate;

/// Frames of delay at most in front of the packet just taken (its own
/// length instead, when longer), plus one.
pub(crate) const DEPTH: usize = 3;
/// Samples of the longest frame: 20 ms at 16 kHz.
pub(crate) const MAX_FRAME_LEN: usize = 320;
/// Packets behind the highest one still taken as late ones of this
/// stream (RFC 3550 §A.1); further behind, the stream restarted.
const MAX_MISORDER: u16 = 100;
/// Packets ahead still taken as this stream after a loss (RFC 3550
/// §A.1); further ahead, the stream restarted.
const MAX_DROPOUT: u16 = 3000;
/// Audio further in the past than this is not late: the sender's
/// timestamps jumped back, and the buffer starts over.
const MAX_LATE: Duration = Duration::from_secs(1);
/// Audio the buffer spans: the longest packet, as far ahead as it may
/// start.
const SPAN: Duration = MAX_PACKET_DURATION.saturating_mul(2);
/// Samples of [`SPAN`] at 16 kHz.
const RING_LEN: usize = 3840;

/// What became of a packet handed to [`JitterBuffer::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Held for its ticks; `discarded` frames of older audio (rounded
    /// up) were dropped for room.
    Held {
        /// Frames dropped to make room.
        discarded: u32,
    },
    /// Its ticks have passed.
    Late,
    /// The buffer already holds it.
    Duplicate,
}

/// The stream held and where its timestamps sit on the timeline.
#[derive(Debug, Clone, Copy)]
struct Stream {
    ssrc: u32,
    clock_rate: u32,
    highest_seq: u16,
    /// The last packet's timestamp and its place on the timeline.
    anchor: (u32, i64),
}

/// See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct JitterBuffer {
    /// Samples a second, and in a frame.
    rate: u32,
    frame_len: usize,
    /// Samples the ring holds: [`SPAN`] at `rate`.
    ring_len: usize,
    /// The stream held; `None` before its first packet.
    stream: Option<Stream>,
    /// Timeline position of the next sample to play.
    next: i64,
    /// End of the latest audio taken: nothing is held from there on.
    end: i64,
    /// Start of the packet that starts latest.
    last_start: i64,
    /// Nothing played since the start: `next` is only the first arrival.
    fresh: bool,
    /// Samples of silence played while waiting, not yet taken back by
    /// skipping a gap.
    waited: i64,
    /// The sample at position `p` is in slot `p mod ring_len`, if held.
    samples: [i16; RING_LEN],
    held: [bool; RING_LEN],
    /// The frame [`pop`](Self::pop) gives.
    out: [i16; MAX_FRAME_LEN],
}

impl JitterBuffer {
    /// An empty buffer of 20 ms frames at `rate`.
    pub(crate) fn new(rate: MediaRate) -> Self {
        Self {
            rate: rate.hz(),
            frame_len: rate.frame_len().min(MAX_FRAME_LEN),
            ring_len: rate.samples_in(SPAN).min(RING_LEN),
            stream: None,
            next: 0,
            end: 0,
            last_start: 0,
            fresh: true,
            waited: 0,
            samples: [0; RING_LEN],
            held: [false; RING_LEN],
            out: [0; MAX_FRAME_LEN],
        }
    }
}

/// How far `seq` is ahead of `base` (negative: behind), RFC 3550 §A.1
/// arithmetic modulo 2^16.
fn distance(seq: u16, base: u16) -> i32 {
    i32::from(seq.wrapping_sub(base) as i16)
}

/// Samples in `duration` (at most a few seconds) at `rate` a second.
fn samples_in(rate: u32, duration: Duration) -> i64 {
    // A few thousand milliseconds: the cast is exact.
    duration.as_millis() as i64 * i64::from(rate) / 1000
}

impl JitterBuffer {
    /// Samples held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.held.iter().filter(|&&held| held).count()
    }

    fn slot(&self, position: i64) -> usize {
        // Below ring_len, itself at most RING_LEN.
        position.rem_euclid(self.ring_len as i64) as usize
    }

    fn restart(&mut self, ssrc: u32, seq: u16, timestamp: u32, clock_rate: u32) {
        self.stream = Some(Stream {
            ssrc,
            clock_rate,
            highest_seq: seq,
            anchor: (timestamp, 0),
        });
        self.next = 0;
        self.end = 0;
        self.last_start = 0;
        self.fresh = true;
        self.waited = 0;
        self.held.fill(false);
    }

    /// Drops what is held before `position` and makes it the next
    /// sample to play; returns the samples dropped.
    fn advance(&mut self, position: i64) -> usize {
        let mut dropped = 0;
        for at in self.next..position.min(self.end) {
            let slot = self.slot(at);
            dropped += usize::from(std::mem::take(&mut self.held[slot]));
        }
        self.next = position;
        dropped
    }

    /// Where a packet with these numbers starts on the timeline; `None`
    /// when it belongs to no stream held (see the module docs).
    fn place(&mut self, ssrc: u32, seq: u16, timestamp: u32, clock_rate: u32) -> Option<i64> {
        let stream = self
            .stream
            .as_mut()
            .filter(|stream| stream.ssrc == ssrc && stream.clock_rate == clock_rate)?;
        let ahead = distance(seq, stream.highest_seq);
        if ahead >= i32::from(MAX_DROPOUT) || ahead < -i32::from(MAX_MISORDER) {
            return None;
        }
        let (anchor_ts, anchor_at) = stream.anchor;
        // Timestamps are modulo 2^32: the signed difference, in samples.
        let ticks = i64::from(timestamp.wrapping_sub(anchor_ts) as i32);
        let start = anchor_at + (ticks * i64::from(self.rate)).div_euclid(i64::from(clock_rate));
        if start < self.next - samples_in(self.rate, MAX_LATE) {
            return None;
        }
        if ahead > 0 {
            stream.highest_seq = seq;
        }
        stream.anchor = (timestamp, start);
        Some(start)
    }

    /// An audio packet of stream `ssrc`, decoded: `pcm` holds the
    /// samples from RTP timestamp `timestamp` (on a `clock_rate` clock)
    /// on, of the packet with sequence number `seq`.
    pub(crate) fn push(
        &mut self,
        ssrc: u32,
        seq: u16,
        (timestamp, clock_rate): (u32, u32),
        pcm: &[i16],
    ) -> Arrival {
        let clock_rate = clock_rate.max(1);
        let start = match self.place(ssrc, seq, timestamp, clock_rate) {
            Some(start) => start,
            None => {
                self.restart(ssrc, seq, timestamp, clock_rate);
                0
            }
        };
        let longest = samples_in(self.rate, MAX_PACKET_DURATION);
        // A slice's length fits i64.
        let len = (pcm.len() as i64).min(longest);
        let end = start + len;
        let frame = self.frame_len as i64;
        let lead = ((DEPTH as i64 - 1) * frame).max(len);
        if start < self.next && self.fresh && self.last_start - start <= lead {
            self.next = start;
        }
        if end <= self.next {
            return Arrival::Late;
        }
        let from = start.max(self.next);
        if (from..end).all(|at| self.held[self.slot(at)]) {
            return Arrival::Duplicate;
        }
        let dropped = if start - self.next > lead {
            self.advance(start - lead)
        } else {
            0
        };
        for at in from..end {
            let slot = self.slot(at);
            // `at - start` is below `len`, within `pcm`.
            self.samples[slot] = pcm[(at - start) as usize];
            self.held[slot] = true;
        }
        self.end = self.end.max(end);
        self.last_start = self.last_start.max(start);
        Arrival::Held {
            // At most the ring's samples.
            discarded: dropped.div_ceil(self.frame_len) as u32,
        }
    }

    /// The frame of this tick, or `None` (silence): see the module docs.
    pub(crate) fn pop(&mut self) -> Option<&[i16]> {
        let frame = self.frame_len as i64;
        loop {
            if self.end <= self.next {
                self.waited += frame;
                return None;
            }
            let frame_end = self.next + frame;
            let held = (self.next..frame_end)
                .filter(|&at| self.held[self.slot(at)])
                .count();
            if held == 0 {
                // All that is held is after this frame: the gap is
                // skipped as far as silence was played for it.
                let first = (frame_end..self.end)
                    .find(|&at| self.held[self.slot(at)])
                    .unwrap_or(self.end);
                let skip = (first - self.next).min(self.waited);
                if skip > 0 {
                    self.next += skip;
                    self.waited -= skip;
                    continue;
                }
            } else if held < self.frame_len && self.end <= frame_end {
                self.waited += frame;
                return None;
            }
            break;
        }
        for (k, at) in (self.next..self.next + frame).enumerate() {
            let slot = self.slot(at);
            self.out[k] = if std::mem::take(&mut self.held[slot]) {
                self.samples[slot]
            } else {
                0
            };
        }
        self.next += frame;
        self.fresh = false;
        Some(&self.out[..self.frame_len])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FRAME_LEN: usize = 160;

    /// A frame of one level.
    fn payload(level: i16) -> [i16; FRAME_LEN] {
        [level; FRAME_LEN]
    }

    /// The level marking frame `seq`.
    fn frame_level(seq: u16) -> i16 {
        100 * (i16::try_from(seq % 50).unwrap() + 1)
    }

    /// Frame `seq` of a 20 ms stream whose frame 0 is at timestamp 0.
    fn push(buffer: &mut JitterBuffer, seq: u16) -> Arrival {
        let ts = u32::from(seq).wrapping_mul(160);
        buffer.push(7, seq, (ts, 8000), &payload(frame_level(seq)))
    }

    /// The same with sequence numbers and timestamps wrapping together:
    /// frame 0 at timestamp 0, frame 65535 just before it.
    fn push_wrapping(buffer: &mut JitterBuffer, seq: u16) -> Arrival {
        let ts = u32::from(seq.wrapping_add(1))
            .wrapping_mul(160)
            .wrapping_sub(160);
        buffer.push(7, seq, (ts, 8000), &payload(frame_level(seq)))
    }

    fn narrowband() -> JitterBuffer {
        JitterBuffer::new(MediaRate::Narrowband)
    }

    /// The level of the frame taken, checking the frame is that level.
    fn popped(buffer: &mut JitterBuffer) -> Option<i16> {
        let frame = buffer.pop()?;
        assert!(frame.iter().all(|&s| s == frame[0]));
        Some(frame[0])
    }

    #[test]
    fn reordered_frames_come_out_in_order() {
        let mut buffer = narrowband();
        assert_eq!(push(&mut buffer, 10), Arrival::Held { discarded: 0 });
        assert_eq!(push(&mut buffer, 12), Arrival::Held { discarded: 0 });
        assert_eq!(push(&mut buffer, 11), Arrival::Held { discarded: 0 });
        assert_eq!(buffer.len(), 3 * FRAME_LEN);
        for seq in [10, 11, 12] {
            assert_eq!(popped(&mut buffer), Some(frame_level(seq)));
        }
        assert_eq!(popped(&mut buffer), None);
    }

    #[test]
    fn the_first_two_frames_may_come_swapped() {
        let mut buffer = narrowband();
        push(&mut buffer, 8);
        assert_eq!(push(&mut buffer, 7), Arrival::Held { discarded: 0 });
        // 4 would put 8 more than two frames after the first to play.
        assert_eq!(push(&mut buffer, 4), Arrival::Late);
        assert_eq!(popped(&mut buffer), Some(frame_level(7)));
        assert_eq!(popped(&mut buffer), Some(frame_level(8)));
    }

    #[test]
    fn duplicates_and_late_frames_are_dropped() {
        let mut buffer = narrowband();
        push_wrapping(&mut buffer, 65535);
        assert_eq!(push_wrapping(&mut buffer, 65535), Arrival::Duplicate);
        assert_eq!(popped(&mut buffer), Some(frame_level(65535)));
        // Played: the same number again is late, not a new frame.
        assert_eq!(push_wrapping(&mut buffer, 65535), Arrival::Late);
        // Across the wrap: 1 held, 0 missing (silence), then 0 arrives
        // after its tick.
        push_wrapping(&mut buffer, 1);
        assert_eq!(popped(&mut buffer), Some(0));
        assert_eq!(popped(&mut buffer), Some(frame_level(1)));
        assert_eq!(push_wrapping(&mut buffer, 0), Arrival::Late);
        assert_eq!(popped(&mut buffer), None);
    }

    #[test]
    fn holds_at_most_three_frames() {
        let mut buffer = narrowband();
        for seq in 0..3 {
            assert_eq!(push(&mut buffer, seq), Arrival::Held { discarded: 0 });
        }
        assert_eq!(push(&mut buffer, 3), Arrival::Held { discarded: 1 });
        // 5 needs 3..=5: 1 and 2 go.
        assert_eq!(push(&mut buffer, 5), Arrival::Held { discarded: 2 });
        assert_eq!(buffer.len(), 2 * FRAME_LEN);
        assert_eq!(popped(&mut buffer), Some(frame_level(3)));
        // Frame 4 missing with 5 held: its silence, then 5.
        assert_eq!(popped(&mut buffer), Some(0));
        assert_eq!(popped(&mut buffer), Some(frame_level(5)));
        assert_eq!(push(&mut buffer, 4), Arrival::Late);
    }

    #[test]
    fn a_gap_after_waiting_is_skipped_as_far_as_silence_was_played() {
        let mut buffer = narrowband();
        push(&mut buffer, 0);
        assert_eq!(popped(&mut buffer), Some(frame_level(0)));
        // Two ticks with nothing, then frame 3 (1 and 2 lost): the two
        // silent ticks stood for them.
        assert_eq!(popped(&mut buffer), None);
        assert_eq!(popped(&mut buffer), None);
        push(&mut buffer, 3);
        assert_eq!(popped(&mut buffer), Some(frame_level(3)));
        // One silent tick, then frame 6 (4 and 5 lost): one skipped, one
        // frame of silence.
        assert_eq!(popped(&mut buffer), None);
        push(&mut buffer, 6);
        assert_eq!(popped(&mut buffer), Some(0));
        assert_eq!(popped(&mut buffer), Some(frame_level(6)));
    }

    #[test]
    fn a_new_stream_or_a_jump_starts_over() {
        let mut buffer = narrowband();
        push(&mut buffer, 100);
        push(&mut buffer, 101);
        // Far behind: a restarted sender, not a late packet.
        assert_eq!(push(&mut buffer, 65136), Arrival::Held { discarded: 0 });
        assert_eq!(buffer.len(), FRAME_LEN);
        assert_eq!(popped(&mut buffer), Some(frame_level(65136)));
        // Another SSRC: its frames replace the old stream's.
        push(&mut buffer, 20);
        let other = buffer.push(8, 9000, (5, 8000), &payload(frame_level(3)));
        assert_eq!(other, Arrival::Held { discarded: 0 });
        assert_eq!(buffer.len(), FRAME_LEN);
        assert_eq!(popped(&mut buffer), Some(frame_level(3)));
        // The next sequence number but a timestamp a minute back: the
        // sender's clock started over.
        let back = buffer.push(8, 9001, (5u32.wrapping_sub(480_000), 8000), &payload(9));
        assert_eq!(back, Arrival::Held { discarded: 0 });
        assert_eq!(popped(&mut buffer), Some(9));
    }

    /// Packet `n` of `len` samples of a ramp (sample `k` of the stream
    /// is `k`), 8 kHz, packet 0 at timestamp `first_ts`.
    fn ramp_packet(buffer: &mut JitterBuffer, len: usize, n: usize, first_ts: u32) -> Arrival {
        let pcm: Vec<i16> = (n * len..(n + 1) * len).map(|s| s as i16).collect();
        let ts = first_ts.wrapping_add((n * len) as u32);
        buffer.push(1, n as u16, (ts, 8000), &pcm)
    }

    #[test]
    fn packets_of_10_30_and_60_ms_play_every_sample_once() {
        for len in [80, 240, 480] {
            for offset in [0, 40, 120] {
                // Packet n arrives once said, at (n + 1) × len samples;
                // ticks every 160 samples from `offset`, before an
                // arrival at the same time.
                let mut buffer = narrowband();
                let mut heard = Vec::new();
                let (mut waits, mut started) = (0, false);
                let packets = 4800 / len;
                let mut next_packet = 0;
                for time in (0..=4800 + 480).step_by(40) {
                    if time % 160 == offset {
                        match buffer.pop() {
                            Some(frame) => {
                                heard.extend_from_slice(frame);
                                started = true;
                            }
                            None if started && next_packet < packets => waits += 1,
                            None => {}
                        }
                    }
                    if next_packet < packets && time == (next_packet + 1) * len {
                        let arrival = ramp_packet(&mut buffer, len, next_packet, u32::MAX - 100);
                        assert_eq!(arrival, Arrival::Held { discarded: 0 });
                        next_packet += 1;
                    }
                }
                let said: Vec<i16> = (0..4800).collect();
                assert_eq!(heard, said, "{len} a packet, ticks at {offset}");
                // A 30 ms packet covers half of a frame: once, its tick
                // waits for the rest, then the delay is right.
                assert!(waits <= 1, "{len}, {offset}: {waits} waits");
            }
        }
    }

    #[test]
    fn a_lost_30_ms_packet_is_240_samples_of_silence() {
        let mut buffer = narrowband();
        ramp_packet(&mut buffer, 240, 0, 1000);
        assert_eq!(buffer.pop().unwrap().to_vec(), (0..160).collect::<Vec<_>>());
        // Packet 1 lost; packet 2 arrives before the next tick.
        ramp_packet(&mut buffer, 240, 2, 1000);
        let mut heard: Vec<i16> = (0..160).collect();
        while let Some(frame) = buffer.pop() {
            heard.extend_from_slice(frame);
        }
        // 0..640 played, 640..720 waits for packet 3.
        let mut expected: Vec<i16> = (0..240).collect();
        expected.extend([0; 240]);
        expected.extend(480..640);
        assert_eq!(heard, expected);
    }

    #[test]
    fn a_partial_frame_waits_for_the_rest() {
        let mut buffer = narrowband();
        buffer.push(1, 0, (0, 8000), &[-8; 80]);
        assert_eq!(buffer.pop(), None);
        buffer.push(1, 1, (80, 8000), &[-9; 80]);
        let frame = buffer.pop().unwrap();
        assert!(frame[..80].iter().all(|&s| s == -8));
        assert!(frame[80..].iter().all(|&s| s == -9));
        // Wideband: 25 ms (400 samples) is a frame and a quarter, kept.
        let mut wide = JitterBuffer::new(MediaRate::Wideband);
        wide.push(1, 0, (0, 8000), &[5; 400]);
        assert_eq!(wide.pop().unwrap(), [5; 320]);
        assert_eq!(wide.pop(), None);
        // G.722 counts 8 kHz: the next packet starts 200 ticks on.
        wide.push(1, 1, (200, 8000), &[6; 400]);
        let frame = wide.pop().unwrap();
        assert!(frame[..80].iter().all(|&s| s == 5));
        assert!(frame[80..].iter().all(|&s| s == 6));
    }

    #[test]
    fn opus_timestamps_count_48_khz() {
        let mut wide = JitterBuffer::new(MediaRate::Wideband);
        // 60 ms packets: 2880 ticks, 960 samples at 16 kHz.
        for n in 0..3u16 {
            let level = i16::try_from(n).unwrap() + 1;
            let arrival = wide.push(1, n, (u32::from(n) * 2880, 48_000), &[level; 960]);
            assert_eq!(arrival, Arrival::Held { discarded: 0 });
            for _ in 0..3 {
                assert_eq!(wide.pop().unwrap(), [level; 320]);
            }
        }
        assert_eq!(wide.pop(), None);
    }
}
