//! RTCP relayed through a translator that rewrites RTP headers (RFC 3550
//! §7.2, RFC 7667 §3.2.1.3): the SSRCs, the SR's RTP timestamp and the
//! report blocks' extended highest sequence number are mapped the same
//! way as the RTP streams they describe, so each end reads reports about
//! the stream it sees.
//!
//! For RTCP from leg X toward its peer P:
//! - X's own SSRC (sender of SR/RR, SDES chunks, BYE, feedback sender)
//!   becomes the SSRC P sees for X's media, and the SR's RTP timestamp
//!   gets the same offset as X's RTP packets;
//! - a report block (or feedback media SSRC) about the stream X receives
//!   from us names the SSRC P itself sends, and its highest sequence
//!   number is taken back by our sequence offset.
//!
//! Packets: SR, RR (§6.4), SDES (§6.5), BYE (§6.6), RTPFB/PSFB (RFC 4585
//! §6.1), and the sender SSRC of any other type.

use super::stream::StreamMap;
use crate::rtcp::{BYE, REPORT_BLOCK_LEN, RR, SDES, SR};

/// Transport-layer and payload-specific feedback (RFC 4585 §6.1).
const RTPFB: u8 = 205;
const PSFB: u8 = 206;

fn read32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at + 4)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn write32(buf: &mut [u8], at: usize, value: u32) {
    if let Some(bytes) = buf.get_mut(at..at + 4) {
        bytes.copy_from_slice(&value.to_be_bytes());
    }
}

/// The two mappings that apply to one RTCP compound.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RtcpMap {
    /// How the sender's own media is rewritten toward the receiver.
    pub(crate) sender: Option<StreamMap>,
    /// How the media the sender receives from us was rewritten.
    pub(crate) reported: Option<StreamMap>,
}

impl RtcpMap {
    /// Maps the sender's SSRC at `at`; returns whether it was its own.
    fn sender_ssrc(&self, buf: &mut [u8], at: usize) -> bool {
        match (self.sender, read32(buf, at)) {
            (Some(map), Some(ssrc)) if ssrc == map.source => {
                write32(buf, at, map.ssrc);
                true
            }
            _ => false,
        }
    }

    /// Maps an SSRC that names the stream the sender receives from us;
    /// returns the mapping when it did.
    fn reported_ssrc(&self, buf: &mut [u8], at: usize) -> Option<StreamMap> {
        let map = self.reported?;
        if read32(buf, at)? != map.ssrc {
            return None;
        }
        write32(buf, at, map.source);
        Some(map)
    }

    fn report_blocks(&self, buf: &mut [u8], first: usize, count: usize) {
        for block in 0..count {
            let at = first + block * REPORT_BLOCK_LEN;
            if let Some(map) = self.reported_ssrc(buf, at) {
                if let Some(highest) = read32(buf, at + 8) {
                    // The low 16 bits are a sequence number of the
                    // rewritten stream; the cycle count is kept as the
                    // reporter counted it.
                    let seq = (highest as u16).wrapping_sub(map.seq_offset);
                    write32(buf, at + 8, (highest & 0xffff_0000) | u32::from(seq));
                }
            }
        }
    }

    /// Rewrites the compound in `buf`, which [`RtcpCompound::parse`]
    /// accepted.
    ///
    /// [`RtcpCompound::parse`]: crate::RtcpCompound::parse
    pub(crate) fn apply(&self, buf: &mut [u8]) {
        let mut offset = 0;
        while let Some(header) = buf.get(offset..offset + 4) {
            let count = usize::from(header[0] & 0x1f);
            let packet_type = header[1];
            let len = (usize::from(u16::from_be_bytes([header[2], header[3]])) + 1) * 4;
            match packet_type {
                SR => {
                    if self.sender_ssrc(buf, offset + 4) {
                        let at = offset + 16;
                        if let (Some(map), Some(ts)) = (self.sender, read32(buf, at)) {
                            write32(buf, at, ts.wrapping_add(map.ts_offset));
                        }
                    }
                    self.report_blocks(buf, offset + 28, count);
                }
                RR => {
                    self.sender_ssrc(buf, offset + 4);
                    self.report_blocks(buf, offset + 8, count);
                }
                SDES => {
                    let end = (offset + len).min(buf.len());
                    let mut at = offset + 4;
                    for _ in 0..count {
                        self.sender_ssrc(buf, at);
                        // Items until the null item, then to a 32-bit
                        // boundary (RFC 3550 §6.5).
                        at += 4;
                        while at < end && buf[at] != 0 {
                            at += 2 + usize::from(buf.get(at + 1).copied().unwrap_or(0));
                        }
                        at = (at + 4) & !3;
                    }
                }
                BYE => {
                    for source in 0..count {
                        self.sender_ssrc(buf, offset + 4 + 4 * source);
                    }
                }
                RTPFB | PSFB => {
                    self.sender_ssrc(buf, offset + 4);
                    self.reported_ssrc(buf, offset + 8);
                }
                _ => {
                    if len >= 8 {
                        self.sender_ssrc(buf, offset + 4);
                    }
                }
            }
            offset += len;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{ReportBlock, RtcpCompound, RtcpPacket, RtcpWriter, SdesItem, SenderInfo};

    const MAP_SENDER: StreamMap = StreamMap {
        source: 0xaaaa,
        ssrc: 0x1111,
        seq_offset: 0,
        ts_offset: 1000,
    };
    const MAP_REPORTED: StreamMap = StreamMap {
        source: 0xbbbb,
        ssrc: 0x2222,
        seq_offset: 10,
        ts_offset: 0,
    };

    #[test]
    fn sr_sdes_bye_are_mapped() {
        let mut buf = Vec::new();
        let mut writer = RtcpWriter::new(&mut buf);
        let block = ReportBlock {
            ssrc: 0x2222,
            fraction_lost: 0,
            cumulative_lost: 0,
            extended_highest_sequence: 0x1_0005,
            jitter: 3,
            last_sender_report: 0,
            delay_since_last_sender_report: 0,
        };
        let info = SenderInfo {
            ntp_timestamp: 1,
            rtp_timestamp: 500,
            packet_count: 1,
            octet_count: 160,
        };
        writer.sender_report(0xaaaa, &info, &[block]).unwrap();
        writer
            .source_description(0xaaaa, &[SdesItem::cname(b"carrier")])
            .unwrap();
        writer.goodbye(&[0xaaaa, 0x5555], None).unwrap();
        let map = RtcpMap {
            sender: Some(MAP_SENDER),
            reported: Some(MAP_REPORTED),
        };
        map.apply(&mut buf);
        let compound = RtcpCompound::parse(&buf).unwrap();
        let mut packets = compound.packets();
        let Some(RtcpPacket::SenderReport(sr)) = packets.next() else {
            panic!("SR first")
        };
        assert_eq!(sr.ssrc(), 0x1111);
        assert_eq!(sr.sender_info().rtp_timestamp, 1500);
        let block = sr.report_blocks().next().unwrap();
        assert_eq!(block.ssrc, 0xbbbb);
        assert_eq!(block.extended_highest_sequence, 0x1_0000 + 0xffff - 4);
        let Some(RtcpPacket::SourceDescription(sdes)) = packets.next() else {
            panic!("SDES second")
        };
        assert_eq!(sdes.chunks().next().unwrap().ssrc(), 0x1111);
        let Some(RtcpPacket::Goodbye(bye)) = packets.next() else {
            panic!("BYE third")
        };
        assert_eq!(bye.sources().collect::<Vec<_>>(), [0x1111, 0x5555]);
    }
}
