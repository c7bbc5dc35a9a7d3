//! The reorder stage of a transcoding direction: the decoder takes
//! audio in order only (a packet from before the audio already decoded
//! is refused, `codec/transcoder.rs`), so packets that arrive after a
//! gap in the sequence numbers (RFC 3550 §5.1: the sequence number lets
//! a receiver restore the order) wait here a short time
//! ([`RelayConfig::reorder_wait`](crate::RelayConfig::reorder_wait))
//! for the missing one.
//!
//! - The missing packet arrives within the wait: it is decoded, then
//!   those held after it, in order.
//! - The wait of a held packet ends (the relay's timer, or the next
//!   packet to arrive): the gaps before it are given up (counted in
//!   [`RelayCounters::transcode_lost`]) and the held packets decoded;
//!   the decoder conceals the missing audio from the timestamp gap
//!   (libopus PLC, silence for G.711 and G.722), as for any loss.
//! - A packet whose place was given up, or one already taken (a
//!   duplicate), is late: dropped.
//!
//! Packets beside the audio (RFC 4733 events, RFC 3389 comfort noise,
//! packets taken before the transcoder) are carried at once, never
//! held: they only fill their place in the sequence. A sequence number
//! far ahead or behind (RFC 3550 Appendix A.1 `MAX_DROPOUT`,
//! `MAX_MISORDER`) or another SSRC is a new stream: what is held is
//! decoded and the order starts again.
//!
//! The buffer is fixed ([`MAX_HELD`] packets of up to
//! [`MAX_HELD_PAYLOAD`] bytes), made with the direction; a packet that
//! does not fit gives up the gaps before it instead of waiting.
//!
//! [`RelayCounters::transcode_lost`]: crate::RelayCounters::transcode_lost

use std::ops::Range;
use std::time::{Duration, Instant};

/// Packets held at most per direction (a 20 ms wait holds one or two).
pub(super) const MAX_HELD: usize = 4;
/// Longest audio payload held: anything a 1500-byte datagram carries.
pub(super) const MAX_HELD_PAYLOAD: usize = 1488;
/// Sequence numbers ahead of the expected one still taken as a gap
/// (RFC 3550 Appendix A.1).
const MAX_DROPOUT: u16 = 3000;
/// Sequence numbers behind the expected one taken as late packets
/// (RFC 3550 Appendix A.1); further behind is a new stream.
const MAX_MISORDER: u16 = 100;

/// One packet waiting for the gap before it.
#[derive(Debug, Clone, Copy)]
struct Held {
    seq: u16,
    /// When its wait ends.
    due: Instant,
    /// Audio to decode (its timestamp and payload length); `None`: a
    /// packet carried already, which only fills its place.
    audio: Option<(u32, usize)>,
}

/// Where a packet falls in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// The expected sequence number (or the stream's first packet).
    Next,
    /// After a gap.
    Ahead,
    /// Its place was given up or taken: late, or a duplicate.
    Late,
    /// Another SSRC, or a jump beyond reordering: a new stream.
    Restart,
}

/// Which gaps [`ReorderStage::release`] gives up on.
#[derive(Debug, Clone, Copy)]
pub(super) enum GiveUp {
    /// None: only packets now in sequence are released.
    Nothing,
    /// Those before a held packet whose wait is over at this instant.
    Due(Instant),
    /// Those before this sequence number.
    Below(u16),
    /// All of them.
    All,
}

/// A held packet let go, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Released {
    /// Audio to decode: its timestamp and where its payload is
    /// ([`ReorderStage::payload`]).
    Audio {
        timestamp: u32,
        payload: Range<usize>,
    },
    /// A packet carried already.
    Carried,
}

/// The reorder stage of one direction; see the module docs.
#[derive(Debug)]
pub(super) struct ReorderStage {
    wait: Duration,
    ssrc: u32,
    /// The next sequence number to take; `None` before the first packet.
    expected: Option<u16>,
    held: [Option<Held>; MAX_HELD],
    /// The payload of `held[i]` starts at `i * MAX_HELD_PAYLOAD`.
    payloads: Vec<u8>,
}

impl ReorderStage {
    pub(super) fn new(wait: Duration) -> Self {
        Self {
            wait,
            ssrc: 0,
            expected: None,
            held: [None; MAX_HELD],
            payloads: vec![0; MAX_HELD * MAX_HELD_PAYLOAD],
        }
    }

    /// Distance of `seq` after the expected sequence number (modulo
    /// 2^16).
    fn distance(&self, seq: u16) -> u16 {
        seq.wrapping_sub(self.expected.unwrap_or(seq))
    }

    /// Where a packet `seq` of `ssrc` falls.
    pub(super) fn place(&self, seq: u16, ssrc: u32) -> Place {
        let Some(expected) = self.expected else {
            return Place::Next;
        };
        if ssrc != self.ssrc {
            return Place::Restart;
        }
        let distance = seq.wrapping_sub(expected);
        if distance == 0 {
            Place::Next
        } else if distance < MAX_DROPOUT {
            let held = self.held.iter().flatten().any(|held| held.seq == seq);
            if held {
                Place::Late
            } else {
                Place::Ahead
            }
        } else if distance >= 0u16.wrapping_sub(MAX_MISORDER) {
            Place::Late
        } else {
            Place::Restart
        }
    }

    /// Whether packets are held.
    pub(super) fn holds(&self) -> bool {
        self.held.iter().any(Option::is_some)
    }

    /// A new stream of `ssrc` from its next packet on; call after
    /// releasing everything held ([`GiveUp::All`]).
    pub(super) fn restart(&mut self, ssrc: u32) {
        self.ssrc = ssrc;
        self.expected = None;
    }

    /// `seq` was taken (decoded or carried) in order.
    pub(super) fn advance(&mut self, seq: u16, ssrc: u32) {
        self.ssrc = ssrc;
        self.expected = Some(seq.wrapping_add(1));
    }

    /// Gives up the sequence numbers before `seq` (after releasing the
    /// packets held there, [`GiveUp::Below`]); adds them to `lost`.
    pub(super) fn skip_to(&mut self, seq: u16, lost: &mut u64) {
        if self.expected.is_some() {
            *lost += u64::from(self.distance(seq));
            self.expected = Some(seq);
        }
    }

    /// Holds packet `seq` (arrived at `now`, [`Place::Ahead`]): audio
    /// with its timestamp and payload, or `None` for a packet carried
    /// already. `false`: it cannot wait (no wait configured, no room,
    /// too long).
    pub(super) fn hold(&mut self, now: Instant, seq: u16, audio: Option<(u32, &[u8])>) -> bool {
        if self.wait.is_zero() {
            return false;
        }
        let Some(index) = self.held.iter().position(Option::is_none) else {
            return false;
        };
        let audio = match audio {
            Some((timestamp, payload)) => {
                if payload.len() > MAX_HELD_PAYLOAD {
                    return false;
                }
                let start = index * MAX_HELD_PAYLOAD;
                let Some(room) = self.payloads.get_mut(start..start + payload.len()) else {
                    return false;
                };
                room.copy_from_slice(payload);
                Some((timestamp, payload.len()))
            }
            None => None,
        };
        self.held[index] = Some(Held {
            seq,
            due: now + self.wait,
            audio,
        });
        true
    }

    /// When the wait of the first held packet ends.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.held.iter().flatten().map(|held| held.due).min()
    }

    /// The next held packet to take: the one now in sequence, or, where
    /// `give_up` says, the first one after a gap (the sequence numbers
    /// skipped are added to `lost`). `None`: nothing to take now.
    pub(super) fn release(&mut self, give_up: GiveUp, lost: &mut u64) -> Option<Released> {
        let expected = self.expected?;
        let index = match self.index_of(expected) {
            Some(index) => index,
            None => {
                let (index, first) = self.first_held()?;
                let give = match give_up {
                    GiveUp::Nothing => false,
                    GiveUp::Due(now) => self.held.iter().flatten().any(|held| held.due <= now),
                    GiveUp::Below(seq) => self.distance(first.seq) < self.distance(seq),
                    GiveUp::All => true,
                };
                if !give {
                    return None;
                }
                *lost += u64::from(self.distance(first.seq));
                index
            }
        };
        let held = self.held[index].take()?;
        self.expected = Some(held.seq.wrapping_add(1));
        Some(match held.audio {
            Some((timestamp, len)) => {
                let start = index * MAX_HELD_PAYLOAD;
                Released::Audio {
                    timestamp,
                    payload: start..start + len,
                }
            }
            None => Released::Carried,
        })
    }

    /// The payload of audio [`Released`] last.
    pub(super) fn payload(&self, range: Range<usize>) -> &[u8] {
        self.payloads.get(range).unwrap_or_default()
    }

    fn index_of(&self, seq: u16) -> Option<usize> {
        self.held
            .iter()
            .position(|held| held.is_some_and(|held| held.seq == seq))
    }

    /// The held packet closest after the expected sequence number.
    fn first_held(&self) -> Option<(usize, Held)> {
        self.held
            .iter()
            .enumerate()
            .filter_map(|(index, held)| Some((index, (*held)?)))
            .min_by_key(|(_, held)| self.distance(held.seq))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn drain(stage: &mut ReorderStage, give_up: GiveUp, lost: &mut u64) -> Vec<Released> {
        std::iter::from_fn(|| stage.release(give_up, lost)).collect()
    }

    #[test]
    fn a_gap_waits_then_is_given_up_in_order() {
        let now = Instant::now();
        let wait = Duration::from_millis(20);
        let mut stage = ReorderStage::new(wait);
        let mut lost = 0;
        assert_eq!(stage.place(10, 7), Place::Next);
        stage.advance(10, 7);
        // 11 is missing; 13 and 12 arrive.
        assert_eq!(stage.place(13, 7), Place::Ahead);
        assert!(stage.hold(now, 13, Some((1300, &[3; 5]))));
        assert_eq!(stage.place(12, 7), Place::Ahead);
        assert!(stage.hold(now + wait / 2, 12, None));
        assert_eq!(stage.place(13, 7), Place::Late, "a duplicate");
        assert_eq!(stage.poll_timeout(), Some(now + wait));
        assert!(drain(&mut stage, GiveUp::Nothing, &mut lost).is_empty());
        assert!(drain(&mut stage, GiveUp::Due(now + wait / 2), &mut lost).is_empty());
        let released = drain(&mut stage, GiveUp::Due(now + wait), &mut lost);
        assert_eq!(lost, 1);
        assert_eq!(released.len(), 2);
        assert_eq!(released[0], Released::Carried);
        let Released::Audio { timestamp, payload } = released[1].clone() else {
            panic!("{released:?}");
        };
        assert_eq!((timestamp, stage.payload(payload)), (1300, &[3u8; 5][..]));
        assert!(!stage.holds());
        // 11 now comes too late; 14 is next.
        assert_eq!(stage.place(11, 7), Place::Late);
        assert_eq!(stage.place(14, 7), Place::Next);
        // Far off, or another SSRC: a new stream.
        assert_eq!(stage.place(14 + MAX_DROPOUT, 7), Place::Restart);
        assert_eq!(
            stage.place(14u16.wrapping_sub(MAX_MISORDER + 1), 7),
            Place::Restart
        );
        assert_eq!(stage.place(14, 8), Place::Restart);
    }

    #[test]
    fn a_full_buffer_or_no_wait_refuses_to_hold() {
        let now = Instant::now();
        let mut stage = ReorderStage::new(Duration::from_millis(20));
        stage.advance(0, 1);
        for seq in 2..2 + MAX_HELD as u16 {
            assert!(stage.hold(now, seq, None));
        }
        assert!(!stage.hold(now, 9, None));
        let mut lost = 0;
        // Giving up below 4 releases 2 and 3 (1 lost), keeps the rest.
        let released = drain(&mut stage, GiveUp::Below(4), &mut lost);
        assert_eq!(released.len(), 4, "2, 3, and then 4, 5 in sequence");
        assert_eq!(lost, 1);
        let too_long = [0u8; MAX_HELD_PAYLOAD + 1];
        assert!(!stage.hold(now, 8, Some((0, &too_long))));
        let mut off = ReorderStage::new(Duration::ZERO);
        off.advance(0, 1);
        assert!(!off.hold(now, 2, None));
    }
}
