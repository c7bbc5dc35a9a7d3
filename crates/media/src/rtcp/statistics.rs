//! Reception statistics of one remote source, as RFC 3550 §A.1 (sequence
//! number validation), §A.3 (expected and lost packets) and §A.8
//! (interarrival jitter) compute them, and the report block they yield.

use std::time::{Duration, Instant};

use super::ReportBlock;

/// RFC 3550 §A.1: sequential packets needed before a source is valid.
const MIN_SEQUENTIAL: u8 = 2;
/// RFC 3550 §A.1: largest forward jump taken as packet loss.
const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 §A.1: largest backward jump taken as reordering.
const MAX_MISORDER: u16 = 100;
/// RFC 3550 §A.1: sequence number modulus.
const RTP_SEQ_MOD: u32 = 1 << 16;

/// What [`ReceptionStatistics::handle_packet`] made of a packet's
/// sequence number (RFC 3550 §A.1 `update_seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceVerdict {
    /// Counted: in order, a permissible gap, a duplicate or reordered.
    Valid,
    /// The source is still on probation: not counted yet.
    Probation,
    /// A very large jump: not counted, unless the next packet follows it.
    Jumped,
    /// Two sequential packets after a large jump: the sender restarted,
    /// statistics start over from this packet (counted).
    Restarted,
}

/// Reception statistics of one synchronization source (RFC 3550 §A.1,
/// the `source` structure).
///
/// Feed every RTP packet of the source with [`handle_packet`], every SR
/// from it with [`handle_sender_report`], and take a report block with
/// [`report_block`] when an RTCP report is due.
///
/// [`handle_packet`]: ReceptionStatistics::handle_packet
/// [`handle_sender_report`]: ReceptionStatistics::handle_sender_report
/// [`report_block`]: ReceptionStatistics::report_block
#[derive(Debug, Clone)]
pub struct ReceptionStatistics {
    ssrc: u32,
    clock_rate: u32,
    /// Set by the first packet (RFC 3550 §A.1: "when a new source is
    /// heard for the first time").
    heard: bool,
    max_seq: u16,
    /// Shifted count of sequence number cycles.
    cycles: u32,
    base_seq: u32,
    /// Last 'bad' sequence number + 1.
    bad_seq: u32,
    probation: u8,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Relative transit time of the previous packet, none before the
    /// first counted one.
    transit: Option<i32>,
    /// Jitter scaled by 16 (RFC 3550 §A.8).
    jitter: u32,
    /// Arrival time origin for converting `Instant`s to timestamp units.
    epoch: Option<Instant>,
    /// Middle 32 bits of the last SR's NTP timestamp and its arrival.
    last_sender_report: Option<(u32, Instant)>,
}

impl ReceptionStatistics {
    /// Statistics for `ssrc`, whose payload format has a clock of
    /// `clock_rate` Hz (8000 for G.711).
    pub fn new(ssrc: u32, clock_rate: u32) -> Self {
        Self {
            ssrc,
            clock_rate,
            heard: false,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: RTP_SEQ_MOD + 1,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter: 0,
            epoch: None,
            last_sender_report: None,
        }
    }

    /// The source these statistics are about.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Takes one RTP packet of the source, with its sequence number, RTP
    /// timestamp and arrival time.
    pub fn handle_packet(&mut self, seq: u16, rtp_timestamp: u32, now: Instant) -> SequenceVerdict {
        if !self.heard {
            self.heard = true;
            self.init_seq(seq);
            self.max_seq = seq.wrapping_sub(1);
            self.probation = MIN_SEQUENTIAL;
        }
        let verdict = self.update_seq(seq);
        if matches!(verdict, SequenceVerdict::Restarted) {
            self.transit = None;
        }
        if matches!(verdict, SequenceVerdict::Valid | SequenceVerdict::Restarted) {
            self.update_jitter(rtp_timestamp, now);
        }
        verdict
    }

    /// Takes an SR from the source: its NTP timestamp and arrival time
    /// make the LSR and DLSR fields of the next report block.
    pub fn handle_sender_report(&mut self, ntp_timestamp: u64, now: Instant) {
        // The middle 32 bits of the 64-bit NTP timestamp.
        let middle = (ntp_timestamp >> 16) as u32;
        self.last_sender_report = Some((middle, now));
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// RFC 3550 §A.1 `update_seq`.
    fn update_seq(&mut self, seq: u16) -> SequenceVerdict {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            // Packets must be in sequence while on probation.
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return SequenceVerdict::Valid;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SequenceVerdict::Probation;
        }
        let mut verdict = SequenceVerdict::Valid;
        if udelta < MAX_DROPOUT {
            // In order, with a permissible gap.
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            // A very large jump.
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets: the sender restarted.
                self.init_seq(seq);
                verdict = SequenceVerdict::Restarted;
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return SequenceVerdict::Jumped;
            }
        }
        // Otherwise a duplicate or reordered packet: counted as received.
        self.received = self.received.wrapping_add(1);
        verdict
    }

    /// RFC 3550 §A.8: J += (|D| - J) / 16, in timestamp units.
    fn update_jitter(&mut self, rtp_timestamp: u32, now: Instant) {
        let epoch = *self.epoch.get_or_insert(now);
        let arrival = timestamp_units(now.saturating_duration_since(epoch), self.clock_rate);
        // Modular arithmetic: transit times wrap with the timestamps.
        let transit = arrival.wrapping_sub(rtp_timestamp) as i32;
        if let Some(previous) = self.transit {
            let d = transit.wrapping_sub(previous).unsigned_abs();
            let jitter =
                i64::from(self.jitter) + i64::from(d) - ((i64::from(self.jitter) + 8) >> 4);
            self.jitter = u32::try_from(jitter.max(0)).unwrap_or(u32::MAX);
        }
        self.transit = Some(transit);
    }

    /// Extended highest sequence number received (cycles in the high 16
    /// bits).
    pub fn extended_highest_sequence(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected: extended highest minus base plus one (§A.3).
    pub fn expected(&self) -> u32 {
        if self.probation > 0 || !self.heard {
            return 0;
        }
        self.extended_highest_sequence()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Packets received and counted (duplicates included, §A.3).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Cumulative packets lost, clamped to the 24-bit signed range of a
    /// report block (§A.3; negative when duplicates arrived).
    pub fn cumulative_lost(&self) -> i32 {
        let lost = i64::from(self.expected()) - i64::from(self.received);
        // Clamped into the i32 range.
        lost.clamp(-0x80_0000, 0x7f_ffff) as i32
    }

    /// Interarrival jitter in timestamp units (§A.8).
    pub fn jitter(&self) -> u32 {
        self.jitter >> 4
    }

    /// The report block for the next RTCP report, or `None` while the
    /// source is not yet valid. Starts a new interval for the fraction
    /// lost (§A.3).
    pub fn report_block(&mut self, now: Instant) -> Option<ReportBlock> {
        if !self.heard || self.probation > 0 {
            return None;
        }
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            // lost_interval <= expected_interval, so this is at most 256;
            // 256 (all lost) is written as 255.
            u8::try_from((lost_interval << 8) / i64::from(expected_interval)).unwrap_or(u8::MAX)
        };
        let (last_sender_report, delay_since_last_sender_report) = match self.last_sender_report {
            Some((lsr, at)) => {
                let delay = now.saturating_duration_since(at);
                let units = delay.as_nanos() * 65_536 / 1_000_000_000;
                (lsr, u32::try_from(units).unwrap_or(u32::MAX))
            }
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost(),
            extended_highest_sequence: self.extended_highest_sequence(),
            jitter: self.jitter(),
            last_sender_report,
            delay_since_last_sender_report,
        })
    }
}

/// `elapsed` in units of a `clock_rate` Hz clock, modulo 2^32.
fn timestamp_units(elapsed: Duration, clock_rate: u32) -> u32 {
    let units = elapsed.as_nanos() * u128::from(clock_rate) / 1_000_000_000;
    // RTP timestamps are modulo 2^32.
    units as u32
}
