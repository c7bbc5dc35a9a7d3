//! RTCP of a leg switchboard terminates (RFC 3550 §6): an SR while it
//! sends (§6.4.1: sender info and a report block about what it hears),
//! an RR while it only listens (§6.4.2), each with an SDES CNAME (§6.5,
//! RFC 7022: a random one per leg), every 5 s randomized to 0.5-1.5
//! times that (§6.2, §6.3.1), the first after half the interval
//! (§6.2, "initial"). The report block comes from the
//! [`ReceptionStatistics`] of the source heard (§A.1, §A.3, §A.8), whose
//! SRs give LSR and DLSR.

use std::time::{Duration, Instant};

use super::endpoint::Rng;
use crate::rtcp::{
    ReceptionStatistics, RtcpCompound, RtcpPacket, RtcpWriter, SdesItem, SenderInfo,
};
use crate::rtp::RtpPacket;

/// The RTCP report interval before randomization (RFC 3550 §6.2
/// recommends 5 s as the minimum).
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_secs(5);
/// Length of the random CNAME (hex digits).
const CNAME_LEN: usize = 16;
/// Room for SR + one block + SDES: 52 + 4 + 4 + 2 + 16 + 2 bytes.
const COMPOUND_CAPACITY: usize = 128;

/// What an SR says about the stream we send (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SenderState {
    /// NTP timestamp of now (0 without a wall clock).
    pub(crate) ntp: u64,
    /// RTP timestamp of now on the sending clock.
    pub(crate) rtp_timestamp: u32,
    /// Packets and payload octets sent in the stream.
    pub(crate) packets: u32,
    pub(crate) octets: u32,
}

/// The report schedule and reception statistics of one leg.
#[derive(Debug)]
pub(crate) struct RtcpReporter {
    next: Instant,
    clock_rate: u32,
    received: Option<ReceptionStatistics>,
    sent_since_report: bool,
    cname: [u8; CNAME_LEN],
    compound: Vec<u8>,
}

fn randomized(interval: Duration, rng: &mut Rng) -> Duration {
    interval.mul_f64(0.5 + rng.unit())
}

impl RtcpReporter {
    pub(crate) fn new(now: Instant, clock_rate: u32, rng: &mut Rng) -> Self {
        let mut cname = [0u8; CNAME_LEN];
        let hex = b"0123456789abcdef";
        for digit in &mut cname {
            *digit = hex[(rng.next() % 16) as usize];
        }
        Self {
            next: now + randomized(REPORT_INTERVAL / 2, rng),
            clock_rate,
            received: None,
            sent_since_report: false,
            cname,
            compound: Vec::with_capacity(COMPOUND_CAPACITY),
        }
    }

    /// The leg's codec now counts `clock_rate` units a second: the
    /// statistics start over with the next packet.
    pub(crate) fn set_clock_rate(&mut self, clock_rate: u32) {
        self.clock_rate = clock_rate;
        self.received = None;
    }

    /// An RTP packet from the leg's peer. A new SSRC starts new
    /// statistics (the old source is gone).
    pub(crate) fn handle_rtp(&mut self, now: Instant, packet: &RtpPacket<'_>) {
        let ssrc = packet.ssrc();
        let received = match &mut self.received {
            Some(received) if received.ssrc() == ssrc => received,
            other => other.insert(ReceptionStatistics::new(ssrc, self.clock_rate)),
        };
        received.handle_packet(packet.sequence_number(), packet.timestamp(), now);
    }

    /// An RTCP compound from the leg's peer: its SR about the source we
    /// hear gives the LSR/DLSR of our next report block.
    pub(crate) fn handle_rtcp(&mut self, now: Instant, compound: &[u8]) {
        let (Some(received), Ok(compound)) = (&mut self.received, RtcpCompound::parse(compound))
        else {
            return;
        };
        for packet in compound.packets() {
            if let RtcpPacket::SenderReport(report) = packet {
                if report.ssrc() == received.ssrc() {
                    received.handle_sender_report(report.sender_info().ntp_timestamp, now);
                }
            }
        }
    }

    /// We sent an RTP packet: the next report is an SR.
    pub(crate) fn handle_sent(&mut self) {
        self.sent_since_report = true;
    }

    pub(crate) fn poll_timeout(&self) -> Instant {
        self.next
    }

    pub(crate) fn is_due(&self, now: Instant) -> bool {
        self.next <= now
    }

    /// If a report is due, schedules the next one and writes this one
    /// into `out` (SR with `sender` if we sent since the last report, else
    /// RR, from `ssrc`); returns its length. `None` when not due, or when
    /// `send` is false (the report is skipped: someone else reports on
    /// the leg) or `out` is too small.
    pub(crate) fn poll_report(
        &mut self,
        now: Instant,
        send: bool,
        ssrc: u32,
        sender: SenderState,
        rng: &mut Rng,
        out: &mut [u8],
    ) -> Option<usize> {
        if !self.is_due(now) {
            return None;
        }
        self.next = now + randomized(REPORT_INTERVAL, rng);
        let sends = std::mem::take(&mut self.sent_since_report);
        if !send {
            return None;
        }
        let block = self.received.as_mut().and_then(|r| r.report_block(now));
        let blocks = block.as_slice();
        self.compound.clear();
        let mut writer = RtcpWriter::new(&mut self.compound);
        let written = if sends {
            let info = SenderInfo {
                ntp_timestamp: sender.ntp,
                rtp_timestamp: sender.rtp_timestamp,
                packet_count: sender.packets,
                octet_count: sender.octets,
            };
            writer.sender_report(ssrc, &info, blocks)
        } else {
            writer.receiver_report(ssrc, blocks)
        };
        written
            .and_then(|writer| writer.source_description(ssrc, &[SdesItem::cname(&self.cname)]))
            .ok()?;
        let len = self.compound.len();
        out.get_mut(..len)?.copy_from_slice(&self.compound);
        Some(len)
    }
}
