//! The jitter buffer of one conference participant: decoded 20 ms
//! frames put back in sequence-number order (RFC 3550 §5.1: the
//! sequence number "may be used by the receiver ... to restore packet
//! sequence"), at most [`DEPTH`] of them, one taken per mix tick.
//!
//! - A frame whose turn has passed (its sequence number before the next
//!   one to play, within [`MAX_MISORDER`]) is late and dropped; one
//!   already held is a duplicate and dropped.
//! - A frame too far ahead for the buffer makes room by dropping the
//!   oldest held ones (the sender's clock runs faster than the mix, or
//!   the shard fell behind): at most [`DEPTH`] frames of delay.
//! - A tick takes the earliest frame held, skipping a missing one (lost,
//!   or too late to wait for); with nothing held the participant is
//!   silent for that tick and the buffer waits where it is (silence
//!   suppression, RFC 3389 comfort noise, a delayed packet), so the
//!   delay grows by a frame on an underrun, up to [`DEPTH`].
//! - A new SSRC, or a jump beyond the RFC 3550 §A.1 limits
//!   ([`MAX_DROPOUT`], [`MAX_MISORDER`]), starts the buffer over. Until
//!   its first frame is played, a frame a little before the first one
//!   held is still taken (the first two packets swapped).
//!
//! Frames are decoded before they come here (in arrival order: the
//! relay's own end of the leg decodes what it receives) and live in the
//! buffer itself, at the member's codec rate (no allocation after it is
//! made).

use crate::server::MediaRate;

/// Frames held at most.
pub(crate) const DEPTH: usize = 3;
/// Samples of the longest frame: 20 ms at 16 kHz.
pub(crate) const MAX_FRAME_LEN: usize = 320;
/// Packets behind the next one to play still taken as late ones of this
/// stream (RFC 3550 §A.1); further behind, the stream restarted.
const MAX_MISORDER: u16 = 100;
/// Packets ahead still taken as this stream after a loss (RFC 3550
/// §A.1); further ahead, the stream restarted.
const MAX_DROPOUT: u16 = 3000;

/// What became of a packet handed to [`JitterBuffer::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Held for its tick; `discarded` older frames were dropped for room.
    Held {
        /// Frames dropped to make room.
        discarded: u32,
    },
    /// Its tick has passed.
    Late,
    /// The buffer already holds it.
    Duplicate,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    seq: u16,
    full: bool,
    samples: [i16; MAX_FRAME_LEN],
}

/// See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct JitterBuffer {
    /// Samples of a frame.
    frame_len: usize,
    /// The stream held; `None` before its first packet.
    ssrc: Option<u32>,
    /// Sequence number of the next frame to play.
    next: u16,
    /// Nothing played since the start: `next` is only the first arrival.
    fresh: bool,
    slots: [Slot; DEPTH],
}

impl JitterBuffer {
    /// An empty buffer of 20 ms frames at `rate`.
    pub(crate) fn new(rate: MediaRate) -> Self {
        Self {
            frame_len: rate.frame_len().min(MAX_FRAME_LEN),
            ssrc: None,
            next: 0,
            fresh: true,
            slots: [Slot {
                seq: 0,
                full: false,
                samples: [0; MAX_FRAME_LEN],
            }; DEPTH],
        }
    }
}

/// How far `seq` is ahead of `base` (negative: behind), RFC 3550 §A.1
/// arithmetic modulo 2^16.
fn distance(seq: u16, base: u16) -> i32 {
    i32::from(seq.wrapping_sub(base) as i16)
}

impl JitterBuffer {
    /// Frames held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().filter(|slot| slot.full).count()
    }

    fn restart(&mut self, ssrc: u32, seq: u16) {
        self.ssrc = Some(ssrc);
        self.next = seq;
        self.fresh = true;
        for slot in &mut self.slots {
            slot.full = false;
        }
    }

    /// An audio packet of stream `ssrc`, decoded: `pcm` is the frame of
    /// sequence number `seq` (a shorter one ends in silence, a longer one
    /// is cut at 20 ms).
    pub(crate) fn push(&mut self, ssrc: u32, seq: u16, pcm: &[i16]) -> Arrival {
        if self.ssrc != Some(ssrc) {
            self.restart(ssrc, seq);
        }
        let ahead = distance(seq, self.next);
        if ahead < 0 && self.fresh && self.fits_from(seq) {
            self.next = seq;
        } else if ahead < 0 && ahead >= -i32::from(MAX_MISORDER) {
            return Arrival::Late;
        } else if ahead < 0 || ahead >= i32::from(MAX_DROPOUT) {
            self.restart(ssrc, seq);
        }
        if self.slots.iter().any(|slot| slot.full && slot.seq == seq) {
            return Arrival::Duplicate;
        }
        let mut discarded = 0;
        // DEPTH is 3: the casts are exact.
        if distance(seq, self.next) >= DEPTH as i32 {
            self.next = seq.wrapping_sub(DEPTH as u16 - 1);
            let next = self.next;
            for slot in &mut self.slots {
                if slot.full && distance(slot.seq, next) < 0 {
                    slot.full = false;
                    discarded += 1;
                }
            }
        }
        // Every held frame is in [next, next + DEPTH) and they differ:
        // with `seq` not held, a slot is free.
        let Some(slot) = self.slots.iter_mut().find(|slot| !slot.full) else {
            return Arrival::Held { discarded };
        };
        let frame = &mut slot.samples[..self.frame_len];
        let copied = pcm.len().min(frame.len());
        frame[..copied].copy_from_slice(&pcm[..copied]);
        frame[copied..].fill(0);
        slot.seq = seq;
        slot.full = true;
        Arrival::Held { discarded }
    }

    /// Whether every held frame is less than [`DEPTH`] after `seq`.
    fn fits_from(&self, seq: u16) -> bool {
        let fits = |slot: &Slot| (0..DEPTH as i32).contains(&distance(slot.seq, seq));
        self.slots.iter().filter(|slot| slot.full).all(fits)
    }

    /// The frame of this tick: the earliest held, or `None` (silence).
    pub(crate) fn pop(&mut self) -> Option<&[i16]> {
        let next = self.next;
        let slot = self
            .slots
            .iter_mut()
            .filter(|slot| slot.full)
            .min_by_key(|slot| distance(slot.seq, next))?;
        slot.full = false;
        self.next = slot.seq.wrapping_add(1);
        self.fresh = false;
        Some(&slot.samples[..self.frame_len])
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

    fn push(buffer: &mut JitterBuffer, seq: u16) -> Arrival {
        buffer.push(7, seq, &payload(frame_level(seq)))
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
        assert_eq!(buffer.len(), 3);
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
        // 4 would leave 8 out of the three frames held.
        assert_eq!(push(&mut buffer, 4), Arrival::Late);
        assert_eq!(popped(&mut buffer), Some(frame_level(7)));
        assert_eq!(popped(&mut buffer), Some(frame_level(8)));
    }

    #[test]
    fn duplicates_and_late_frames_are_dropped() {
        let mut buffer = narrowband();
        push(&mut buffer, 65535);
        assert_eq!(push(&mut buffer, 65535), Arrival::Duplicate);
        assert_eq!(popped(&mut buffer), Some(frame_level(65535)));
        // Played: the same number again is late, not a new frame.
        assert_eq!(push(&mut buffer, 65535), Arrival::Late);
        // Across the wrap: 1 held, 0 missing, then 0 arrives after 1 played.
        push(&mut buffer, 1);
        assert_eq!(popped(&mut buffer), Some(frame_level(1)));
        assert_eq!(push(&mut buffer, 0), Arrival::Late);
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
        assert_eq!(buffer.len(), 2);
        assert_eq!(popped(&mut buffer), Some(frame_level(3)));
        assert_eq!(popped(&mut buffer), Some(frame_level(5)));
        // Frame 4 was skipped: late now.
        assert_eq!(push(&mut buffer, 4), Arrival::Late);
    }

    #[test]
    fn a_new_stream_or_a_jump_starts_over() {
        let mut buffer = narrowband();
        push(&mut buffer, 100);
        push(&mut buffer, 101);
        // Far behind: a restarted sender, not a late packet.
        assert_eq!(push(&mut buffer, 65136), Arrival::Held { discarded: 0 });
        assert_eq!(buffer.len(), 1);
        assert_eq!(popped(&mut buffer), Some(frame_level(65136)));
        // Another SSRC: its frames replace the old stream's.
        push(&mut buffer, 20);
        let other = buffer.push(8, 9000, &payload(frame_level(3)));
        assert_eq!(other, Arrival::Held { discarded: 0 });
        assert_eq!(buffer.len(), 1);
        assert_eq!(popped(&mut buffer), Some(frame_level(3)));
    }

    #[test]
    fn a_short_payload_ends_in_silence_and_a_long_one_is_cut() {
        let mut buffer = narrowband();
        buffer.push(1, 0, &[-8; 80]);
        let frame = buffer.pop().unwrap();
        assert_eq!(frame.len(), FRAME_LEN);
        assert!(frame[..80].iter().all(|&s| s == -8));
        assert!(frame[80..].iter().all(|&s| s == 0));
        let mut wide = JitterBuffer::new(MediaRate::Wideband);
        wide.push(1, 0, &[5; 400]);
        let frame = wide.pop().unwrap();
        assert_eq!(frame.len(), 320);
        assert!(frame.iter().all(|&s| s == 5));
    }
}
