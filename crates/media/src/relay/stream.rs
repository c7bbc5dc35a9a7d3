//! One outgoing RTP stream toward a leg, kept continuous while its
//! source changes (RFC 3550 §5.1, §8.2; RFC 7667 §3.2.1.3, the
//! "media translator" that rewrites SSRC, sequence number and timestamp).
//!
//! The far end sees one SSRC with sequence numbers that go up by one and
//! timestamps that follow the wall clock, even when the packets behind
//! it switch from one upstream source to another (re-INVITE with a new
//! SSRC, a transfer to another leg, a prompt instead of the relay).
//! While one source keeps sending, the offsets are constant and the
//! header is only changed where the offsets say so (none at all for a
//! call that never switches).

use std::time::Instant;

/// Rewrite state of one stream; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OutStream {
    active: Option<Active>,
}

#[derive(Debug, Clone, Copy)]
struct Active {
    /// The SSRC the far end sees: the first source's.
    ssrc: u32,
    /// The upstream SSRC packets come from now.
    source: u32,
    seq_offset: u16,
    ts_offset: u32,
    /// Highest outgoing sequence number, its timestamp and when it left.
    highest_seq: u16,
    highest_ts: u32,
    highest_at: Instant,
}

/// How to undo / redo the rewrite for RTCP that mentions the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamMap {
    /// Upstream SSRC now feeding the stream.
    pub(crate) source: u32,
    /// SSRC the far end sees.
    pub(crate) ssrc: u32,
    pub(crate) seq_offset: u16,
    pub(crate) ts_offset: u32,
}

fn be16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// Whether `a` is after `b` in sequence-number order (RFC 3550 §A.1).
fn seq_after(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

impl OutStream {
    /// The mapping in force, `None` before the first packet.
    pub(crate) fn map(&self) -> Option<StreamMap> {
        self.active.map(|a| StreamMap {
            source: a.source,
            ssrc: a.ssrc,
            seq_offset: a.seq_offset,
            ts_offset: a.ts_offset,
        })
    }

    /// The upstream source feeding the stream and its RTP timestamp at
    /// `now` (the highest packet's, advanced by the time since at
    /// `clock_rate`), in the source's own numbering: what an SR sent for
    /// it says before the RTCP rewrite maps it (RFC 3550 §6.4.1).
    pub(crate) fn source_clock(&self, now: Instant, clock_rate: u32) -> Option<(u32, u32)> {
        let active = self.active?;
        let elapsed = now.saturating_duration_since(active.highest_at);
        let ticks = elapsed.as_nanos() * u128::from(clock_rate) / 1_000_000_000;
        // RTP timestamps are modulo 2^32.
        let timestamp = active
            .highest_ts
            .wrapping_sub(active.ts_offset)
            .wrapping_add(ticks as u32);
        Some((active.source, timestamp))
    }

    /// Rewrites SSRC, sequence number and timestamp of the RTP packet in
    /// `packet` (a validated header of at least 12 bytes) in place.
    /// `clock_rate` converts the silence between two sources into
    /// timestamp units.
    pub(crate) fn rewrite(&mut self, now: Instant, packet: &mut [u8], clock_rate: u32) {
        let (seq, ts, ssrc) = (be16(packet, 2), be32(packet, 4), be32(packet, 8));
        let active = match &mut self.active {
            None => self.active.insert(Active {
                ssrc,
                source: ssrc,
                seq_offset: 0,
                ts_offset: 0,
                highest_seq: seq,
                highest_ts: ts,
                highest_at: now,
            }),
            Some(active) => {
                if active.source != ssrc {
                    // A new source: continue right after the highest
                    // packet sent, with the timestamp advanced by the
                    // time that passed since (at least one tick).
                    let elapsed = now.saturating_duration_since(active.highest_at);
                    let ticks = elapsed.as_micros() * u128::from(clock_rate) / 1_000_000;
                    // RTP timestamps are modulo 2^32.
                    let ticks = (ticks.max(1) & 0xffff_ffff) as u32;
                    let out_seq = active.highest_seq.wrapping_add(1);
                    let out_ts = active.highest_ts.wrapping_add(ticks);
                    active.source = ssrc;
                    active.seq_offset = out_seq.wrapping_sub(seq);
                    active.ts_offset = out_ts.wrapping_sub(ts);
                    // Marker: the start of a talkspurt for the receiver's
                    // jitter buffer (RFC 3551 §4.1).
                    packet[1] |= 0x80;
                }
                active
            }
        };
        let out_seq = seq.wrapping_add(active.seq_offset);
        let out_ts = ts.wrapping_add(active.ts_offset);
        if seq_after(out_seq, active.highest_seq) {
            active.highest_seq = out_seq;
            // The clock reads the newest timestamp at the time it was
            // first sent: packets that repeat a timestamp (the updates
            // and end packets of an RFC 4733 event keep the event's
            // start, §2.5.1.2) do not move it, or a source that follows
            // an event would start that much too early.
            if out_ts != active.highest_ts {
                active.highest_ts = out_ts;
                active.highest_at = now;
            }
        }
        packet[2..4].copy_from_slice(&out_seq.to_be_bytes());
        packet[4..8].copy_from_slice(&out_ts.to_be_bytes());
        packet[8..12].copy_from_slice(&active.ssrc.to_be_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn packet(ssrc: u32, seq: u16, ts: u32) -> [u8; 12] {
        let mut p = [0u8; 12];
        p[0] = 0x80;
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p[4..8].copy_from_slice(&ts.to_be_bytes());
        p[8..12].copy_from_slice(&ssrc.to_be_bytes());
        p
    }

    fn fields(p: &[u8]) -> (u32, u16, u32, bool) {
        (be32(p, 8), be16(p, 2), be32(p, 4), p[1] & 0x80 != 0)
    }

    #[test]
    fn one_source_passes_unchanged() {
        let mut stream = OutStream::default();
        let t0 = Instant::now();
        for i in 0..5u16 {
            let mut p = packet(7, 65533u16.wrapping_add(i), 1000 + 160 * u32::from(i));
            let before = p;
            stream.rewrite(t0, &mut p, 8000);
            assert_eq!(p, before);
        }
    }

    #[test]
    fn new_source_continues_sequence_and_clock() {
        let mut stream = OutStream::default();
        let t0 = Instant::now();
        let mut p = packet(1, 100, 5000);
        stream.rewrite(t0, &mut p, 8000);
        let mut p = packet(1, 101, 5160);
        stream.rewrite(t0 + Duration::from_millis(20), &mut p, 8000);
        // 60 ms later a different source with unrelated numbers.
        let mut p = packet(2, 40000, 9_000_000);
        stream.rewrite(t0 + Duration::from_millis(80), &mut p, 8000);
        assert_eq!(fields(&p), (1, 102, 5160 + 480, true));
        let mut p = packet(2, 40001, 9_000_160);
        stream.rewrite(t0 + Duration::from_millis(100), &mut p, 8000);
        assert_eq!(fields(&p), (1, 103, 5160 + 640, false));
        assert_eq!(
            stream.map(),
            Some(StreamMap {
                source: 2,
                ssrc: 1,
                seq_offset: 102u16.wrapping_sub(40000),
                ts_offset: (5160u32 + 480).wrapping_sub(9_000_000),
            })
        );
    }

    #[test]
    fn an_event_keeps_the_clock_at_its_start() {
        let mut stream = OutStream::default();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        // An RFC 4733 event from 0 to 140 ms: six packets, one timestamp.
        for (i, at) in [0u64, 20, 40, 60, 100, 140].into_iter().enumerate() {
            let mut p = packet(5, 10 + i as u16, 8000);
            stream.rewrite(ms(at), &mut p, 8000);
        }
        // Audio of another source 160 ms after the event began: its
        // timestamp is 160 ms (1280 units) after the event's.
        let mut p = packet(6, 500, 1);
        stream.rewrite(ms(160), &mut p, 8000);
        assert_eq!(fields(&p), (5, 16, 8000 + 1280, true));
    }

    #[test]
    fn late_packet_does_not_move_the_highest() {
        let mut stream = OutStream::default();
        let t0 = Instant::now();
        for seq in [10u16, 12, 11] {
            let mut p = packet(1, seq, u32::from(seq) * 160);
            stream.rewrite(t0, &mut p, 8000);
        }
        let mut p = packet(9, 0, 0);
        stream.rewrite(t0, &mut p, 8000);
        assert_eq!(fields(&p).1, 13);
    }
}
