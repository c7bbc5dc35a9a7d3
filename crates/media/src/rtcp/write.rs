//! Writing compound RTCP packets.

use super::packet::{SdesItem, SenderInfo, BYE, REPORT_BLOCK_LEN, RR, SDES, SR};
use super::ReportBlock;
use crate::error::RtcpError;

/// Appends RTCP packets to a buffer, one call per packet, to build a
/// compound (RFC 3550 §6.1: start with an SR or RR, include an SDES
/// CNAME, end with BYE when leaving).
///
/// ```
/// use media::{ReportBlock, RtcpCompound, RtcpWriter, SdesItem};
///
/// let mut buf = Vec::with_capacity(128);
/// RtcpWriter::new(&mut buf)
///     .receiver_report(0x1111, &[ReportBlock { ssrc: 0x2222, ..Default::default() }])?
///     .source_description(0x1111, &[SdesItem::cname(b"sbc@example.net")])?;
/// let compound = RtcpCompound::parse(&buf)?;
/// assert_eq!(compound.packets().count(), 2);
/// # Ok::<(), media::RtcpError>(())
/// ```
#[derive(Debug)]
pub struct RtcpWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> RtcpWriter<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Self { out }
    }

    /// Appends an SR.
    pub fn sender_report(
        &mut self,
        ssrc: u32,
        info: &SenderInfo,
        blocks: &[ReportBlock],
    ) -> Result<&mut Self, RtcpError> {
        let count = checked_count(blocks.len())?;
        let start = self.header(count, SR);
        self.out.extend_from_slice(&ssrc.to_be_bytes());
        self.out
            .extend_from_slice(&info.ntp_timestamp.to_be_bytes());
        self.out
            .extend_from_slice(&info.rtp_timestamp.to_be_bytes());
        self.out.extend_from_slice(&info.packet_count.to_be_bytes());
        self.out.extend_from_slice(&info.octet_count.to_be_bytes());
        self.report_blocks(blocks);
        self.finish(start);
        Ok(self)
    }

    /// Appends an RR.
    pub fn receiver_report(
        &mut self,
        ssrc: u32,
        blocks: &[ReportBlock],
    ) -> Result<&mut Self, RtcpError> {
        let count = checked_count(blocks.len())?;
        let start = self.header(count, RR);
        self.out.extend_from_slice(&ssrc.to_be_bytes());
        self.report_blocks(blocks);
        self.finish(start);
        Ok(self)
    }

    /// Appends an SDES packet with one chunk: `ssrc` and its `items`.
    pub fn source_description(
        &mut self,
        ssrc: u32,
        items: &[SdesItem<'_>],
    ) -> Result<&mut Self, RtcpError> {
        if let Some(long) = items.iter().find(|item| item.value.len() > 255) {
            return Err(RtcpError::TextTooLong(long.value.len()));
        }
        // The 16-bit length field counts 32-bit words.
        let items_len: usize = items.iter().map(|item| 2 + item.value.len()).sum();
        if items_len > 0xffff * 4 - 12 {
            return Err(RtcpError::TooManyEntries(items.len()));
        }
        let start = self.header(1, SDES);
        self.out.extend_from_slice(&ssrc.to_be_bytes());
        for item in items {
            self.out.push(item.kind);
            // At most 255 (checked above).
            self.out.push(item.value.len() as u8);
            self.out.extend_from_slice(item.value);
        }
        // The null item, then zeros to the next 32-bit boundary.
        self.out.push(0);
        self.pad_to_word(start);
        self.finish(start);
        Ok(self)
    }

    /// Appends a BYE for `sources`, with an optional reason.
    pub fn goodbye(
        &mut self,
        sources: &[u32],
        reason: Option<&[u8]>,
    ) -> Result<&mut Self, RtcpError> {
        let count = checked_count(sources.len())?;
        if let Some(reason) = reason.filter(|r| r.len() > 255) {
            return Err(RtcpError::TextTooLong(reason.len()));
        }
        let start = self.header(count, BYE);
        for source in sources {
            self.out.extend_from_slice(&source.to_be_bytes());
        }
        if let Some(reason) = reason {
            // At most 255 (checked above).
            self.out.push(reason.len() as u8);
            self.out.extend_from_slice(reason);
            self.pad_to_word(start);
        }
        self.finish(start);
        Ok(self)
    }

    /// Writes a header with a zero length field; returns its offset.
    fn header(&mut self, count: u8, packet_type: u8) -> usize {
        let start = self.out.len();
        self.out
            .extend_from_slice(&[0x80 | count, packet_type, 0, 0]);
        start
    }

    fn report_blocks(&mut self, blocks: &[ReportBlock]) {
        for block in blocks {
            let mut bytes = [0u8; REPORT_BLOCK_LEN];
            bytes[0..4].copy_from_slice(&block.ssrc.to_be_bytes());
            // 24-bit two's complement, clamped (RFC 3550 §6.4.1).
            let lost = block.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff);
            bytes[4..8].copy_from_slice(&lost.to_be_bytes());
            bytes[4] = block.fraction_lost;
            bytes[8..12].copy_from_slice(&block.extended_highest_sequence.to_be_bytes());
            bytes[12..16].copy_from_slice(&block.jitter.to_be_bytes());
            bytes[16..20].copy_from_slice(&block.last_sender_report.to_be_bytes());
            bytes[20..24].copy_from_slice(&block.delay_since_last_sender_report.to_be_bytes());
            self.out.extend_from_slice(&bytes);
        }
    }

    /// Zeros up to a 32-bit boundary of the packet at `start`.
    fn pad_to_word(&mut self, start: usize) {
        while (self.out.len() - start) % 4 != 0 {
            self.out.push(0);
        }
    }

    /// Fills in the length field of the packet at `start`.
    fn finish(&mut self, start: usize) {
        let words = (self.out.len() - start) / 4 - 1;
        // Callers bound their packets below 2^16 words.
        let words = u16::try_from(words).unwrap_or(u16::MAX);
        self.out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
    }
}

fn checked_count(count: usize) -> Result<u8, RtcpError> {
    u8::try_from(count)
        .ok()
        .filter(|&c| c <= 31)
        .ok_or(RtcpError::TooManyEntries(count))
}
