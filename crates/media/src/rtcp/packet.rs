//! Reading compound RTCP packets: zero-copy views validated once.

use crate::error::RtcpError;

/// Packet type of a sender report (RFC 3550 §6.4.1).
pub(crate) const SR: u8 = 200;
/// Packet type of a receiver report (RFC 3550 §6.4.2).
pub(crate) const RR: u8 = 201;
/// Packet type of source description (RFC 3550 §6.5).
pub(crate) const SDES: u8 = 202;
/// Packet type of goodbye (RFC 3550 §6.6).
pub(crate) const BYE: u8 = 203;

/// Length of one report block (RFC 3550 §6.4.1).
pub(crate) const REPORT_BLOCK_LEN: usize = 24;

fn be16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// A compound RTCP packet that passed the checks of RFC 3550 §A.2.
///
/// - every packet has version 2;
/// - the first packet is an SR or RR;
/// - only the last packet may be padded, with a valid padding count;
/// - the length fields add up to the length of the compound;
/// - SR, RR, SDES and BYE bodies hold what their count fields announce.
///
/// Other packet types (APP, feedback, XR) are kept as
/// [`RtcpPacket::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpCompound<'a> {
    buf: &'a [u8],
}

impl<'a> RtcpCompound<'a> {
    /// Checks `buf` as one compound RTCP packet (the whole datagram, after
    /// SRTCP unprotection).
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtcpError> {
        let mut offset = 0;
        loop {
            if let [first, _, high, low, ..] = buf[offset..] {
                let len = (usize::from(u16::from_be_bytes([high, low])) + 1) * 4;
                if first & 0x20 != 0 && offset + len < buf.len() {
                    return Err(RtcpError::PaddingNotLast(offset));
                }
            }
            let (packet, len) = parse_packet(buf, offset)?;
            if offset == 0 {
                let packet_type = packet.packet_type();
                if packet_type != SR && packet_type != RR {
                    return Err(RtcpError::FirstNotReport(packet_type));
                }
            }
            offset += len;
            if offset == buf.len() {
                return Ok(Self { buf });
            }
        }
    }

    /// The whole compound.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The packets in order.
    pub fn packets(&self) -> RtcpPackets<'a> {
        RtcpPackets {
            buf: self.buf,
            offset: 0,
        }
    }
}

/// Iterator over the packets of an [`RtcpCompound`].
#[derive(Debug, Clone)]
pub struct RtcpPackets<'a> {
    buf: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for RtcpPackets<'a> {
    type Item = RtcpPacket<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.offset >= self.buf.len() {
            return None;
        }
        // The compound was validated: this only fails past the end.
        let (packet, len) = parse_packet(self.buf, self.offset).ok()?;
        self.offset += len;
        Some(packet)
    }
}

/// One packet of a compound. More types may be interpreted later; until
/// then they arrive as [`RtcpPacket::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpPacket<'a> {
    /// SR (RFC 3550 §6.4.1).
    SenderReport(SenderReport<'a>),
    /// RR (RFC 3550 §6.4.2).
    ReceiverReport(ReceiverReport<'a>),
    /// SDES (RFC 3550 §6.5).
    SourceDescription(SourceDescription<'a>),
    /// BYE (RFC 3550 §6.6).
    Goodbye(Goodbye<'a>),
    /// Any other packet type, unparsed.
    Other(OtherPacket<'a>),
}

impl RtcpPacket<'_> {
    /// The packet type field (200 for SR, ...).
    pub fn packet_type(&self) -> u8 {
        match self {
            RtcpPacket::SenderReport(_) => SR,
            RtcpPacket::ReceiverReport(_) => RR,
            RtcpPacket::SourceDescription(_) => SDES,
            RtcpPacket::Goodbye(_) => BYE,
            RtcpPacket::Other(other) => other.packet_type(),
        }
    }
}

/// Parses the packet at `offset`; returns it and its length (padding
/// included).
fn parse_packet(buf: &[u8], offset: usize) -> Result<(RtcpPacket<'_>, usize), RtcpError> {
    let rest = buf.get(offset..).unwrap_or_default();
    let truncated = |needed| RtcpError::Truncated {
        offset,
        needed,
        available: rest.len(),
    };
    if rest.len() < 4 {
        return Err(truncated(4));
    }
    let version = rest[0] >> 6;
    if version != 2 {
        return Err(RtcpError::Version { offset, version });
    }
    let count = usize::from(rest[0] & 0x1f);
    let packet_type = rest[1];
    let len = (usize::from(be16(rest, 2)) + 1) * 4;
    let Some(packet) = rest.get(..len) else {
        return Err(truncated(len));
    };
    let content_len = if rest[0] & 0x20 != 0 {
        let padding = usize::from(packet[len - 1]);
        if padding == 0 || padding > len - 4 {
            return Err(RtcpError::Padding(offset));
        }
        len - padding
    } else {
        len
    };
    let packet = &packet[..content_len];
    let malformed = |reason| RtcpError::Malformed {
        offset,
        packet_type,
        reason,
    };
    let parsed = match packet_type {
        SR => {
            if packet.len() < 28 + REPORT_BLOCK_LEN * count {
                return Err(malformed("shorter than its sender info and report blocks"));
            }
            RtcpPacket::SenderReport(SenderReport { packet })
        }
        RR => {
            if packet.len() < 8 + REPORT_BLOCK_LEN * count {
                return Err(malformed("shorter than its report blocks"));
            }
            RtcpPacket::ReceiverReport(ReceiverReport { packet })
        }
        SDES => {
            let mut at = 4;
            for _ in 0..count {
                at = sdes_chunk_end(packet, at).map_err(malformed)?;
            }
            RtcpPacket::SourceDescription(SourceDescription { packet })
        }
        BYE => {
            let sources_end = 4 + 4 * count;
            if packet.len() < sources_end {
                return Err(malformed("shorter than its SSRC list"));
            }
            if let Some(&reason_len) = packet.get(sources_end) {
                if packet.len() < sources_end + 1 + usize::from(reason_len) {
                    return Err(malformed("reason runs past the end"));
                }
            }
            RtcpPacket::Goodbye(Goodbye { packet })
        }
        _ => RtcpPacket::Other(OtherPacket { packet }),
    };
    Ok((parsed, len))
}

/// Checks the SDES chunk starting at `at`; returns where the next one
/// starts (RFC 3550 §6.5: SSRC, items, a null item, zeros to a 32-bit
/// boundary).
fn sdes_chunk_end(packet: &[u8], at: usize) -> Result<usize, &'static str> {
    let mut at = at + 4;
    if packet.len() < at {
        return Err("chunk shorter than its SSRC");
    }
    loop {
        match packet.get(at) {
            None => return Err("chunk without a terminating null item"),
            Some(0) => return Ok((at + 4) & !3),
            Some(_) => {
                let Some(&len) = packet.get(at + 1) else {
                    return Err("item without its length");
                };
                at += 2 + usize::from(len);
                if at > packet.len() {
                    return Err("item runs past the end");
                }
            }
        }
    }
}

/// Sender information of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// NTP timestamp (64-bit fixed point, seconds since 1900).
    pub ntp_timestamp: u64,
    /// RTP timestamp of the same instant.
    pub rtp_timestamp: u32,
    /// Packets sent since the start of transmission.
    pub packet_count: u32,
    /// Payload octets sent since the start of transmission.
    pub octet_count: u32,
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction of packets lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost, a 24-bit signed value (negative with
    /// duplicates).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (cycles in the high 16
    /// bits).
    pub extended_highest_sequence: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received (LSR),
    /// 0 if none.
    pub last_sender_report: u32,
    /// Delay since that SR (DLSR) in 1/65536 seconds, 0 if none.
    pub delay_since_last_sender_report: u32,
}

impl ReportBlock {
    fn read(block: &[u8]) -> Self {
        let lost = u32::from_be_bytes([0, block[5], block[6], block[7]]);
        Self {
            ssrc: be32(block, 0),
            fraction_lost: block[4],
            // Sign-extend 24 bits.
            cumulative_lost: ((lost << 8) as i32) >> 8,
            extended_highest_sequence: be32(block, 8),
            jitter: be32(block, 12),
            last_sender_report: be32(block, 16),
            delay_since_last_sender_report: be32(block, 20),
        }
    }
}

fn report_blocks(packet: &[u8], at: usize) -> impl ExactSizeIterator<Item = ReportBlock> + '_ {
    let count = usize::from(packet[0] & 0x1f);
    packet[at..at + REPORT_BLOCK_LEN * count]
        .chunks_exact(REPORT_BLOCK_LEN)
        .map(ReportBlock::read)
}

/// A sender report (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport<'a> {
    packet: &'a [u8],
}

impl<'a> SenderReport<'a> {
    /// SSRC of the sender.
    pub fn ssrc(&self) -> u32 {
        be32(self.packet, 4)
    }

    /// The sender information.
    pub fn sender_info(&self) -> SenderInfo {
        SenderInfo {
            ntp_timestamp: u64::from(be32(self.packet, 8)) << 32 | u64::from(be32(self.packet, 12)),
            rtp_timestamp: be32(self.packet, 16),
            packet_count: be32(self.packet, 20),
            octet_count: be32(self.packet, 24),
        }
    }

    /// Reception report blocks.
    pub fn report_blocks(&self) -> impl ExactSizeIterator<Item = ReportBlock> + 'a {
        report_blocks(self.packet, 28)
    }

    /// Profile-specific extension after the report blocks.
    pub fn profile_extension(&self) -> &'a [u8] {
        let count = usize::from(self.packet[0] & 0x1f);
        &self.packet[28 + REPORT_BLOCK_LEN * count..]
    }
}

/// A receiver report (RFC 3550 §6.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    packet: &'a [u8],
}

impl<'a> ReceiverReport<'a> {
    /// SSRC of the packet's sender.
    pub fn ssrc(&self) -> u32 {
        be32(self.packet, 4)
    }

    /// Reception report blocks.
    pub fn report_blocks(&self) -> impl ExactSizeIterator<Item = ReportBlock> + 'a {
        report_blocks(self.packet, 8)
    }

    /// Profile-specific extension after the report blocks.
    pub fn profile_extension(&self) -> &'a [u8] {
        let count = usize::from(self.packet[0] & 0x1f);
        &self.packet[8 + REPORT_BLOCK_LEN * count..]
    }
}

/// A source description packet (RFC 3550 §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceDescription<'a> {
    packet: &'a [u8],
}

impl<'a> SourceDescription<'a> {
    /// The chunks, one per source.
    pub fn chunks(&self) -> SdesChunks<'a> {
        SdesChunks {
            packet: self.packet,
            at: 4,
            remaining: self.packet[0] & 0x1f,
        }
    }
}

/// Iterator over the chunks of a [`SourceDescription`].
#[derive(Debug, Clone)]
pub struct SdesChunks<'a> {
    packet: &'a [u8],
    at: usize,
    remaining: u8,
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = SdesChunk<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        // Validated by `parse_packet`: fails only on a logic error.
        let end = sdes_chunk_end(self.packet, self.at).ok()?;
        let chunk = SdesChunk {
            ssrc: be32(self.packet, self.at),
            items: &self.packet[self.at + 4..end.min(self.packet.len())],
        };
        self.at = end;
        Some(chunk)
    }
}

/// One SDES chunk: a source and its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    ssrc: u32,
    items: &'a [u8],
}

impl<'a> SdesChunk<'a> {
    /// The source described.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Its items, in order.
    pub fn items(&self) -> impl Iterator<Item = SdesItem<'a>> + 'a {
        let items = self.items;
        let mut at = 0;
        std::iter::from_fn(move || {
            let kind = *items.get(at)?;
            if kind == 0 {
                return None;
            }
            let len = usize::from(*items.get(at + 1)?);
            let value = items.get(at + 2..at + 2 + len)?;
            at += 2 + len;
            Some(SdesItem { kind, value })
        })
    }

    /// The CNAME item's value, if present.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items()
            .find(|item| item.kind == SdesItem::CNAME)
            .map(|item| item.value)
    }
}

/// One SDES item (RFC 3550 §6.5.1 to §6.5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItem<'a> {
    /// Item type, e.g. [`SdesItem::CNAME`].
    pub kind: u8,
    /// Item text (UTF-8 by the RFC, not checked), at most 255 bytes.
    pub value: &'a [u8],
}

impl<'a> SdesItem<'a> {
    /// Canonical end-point identifier (RFC 3550 §6.5.1).
    pub const CNAME: u8 = 1;

    /// A CNAME item.
    pub fn cname(value: &'a [u8]) -> Self {
        Self {
            kind: Self::CNAME,
            value,
        }
    }
}

/// A goodbye packet (RFC 3550 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Goodbye<'a> {
    packet: &'a [u8],
}

impl<'a> Goodbye<'a> {
    /// The sources leaving.
    pub fn sources(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        let count = usize::from(self.packet[0] & 0x1f);
        self.packet[4..4 + 4 * count]
            .chunks_exact(4)
            .map(|s| be32(s, 0))
    }

    /// The reason for leaving, if given.
    pub fn reason(&self) -> Option<&'a [u8]> {
        let at = 4 + 4 * usize::from(self.packet[0] & 0x1f);
        let len = usize::from(*self.packet.get(at)?);
        self.packet.get(at + 1..at + 1 + len)
    }
}

/// A packet of a type this crate does not interpret (APP, RTPFB, PSFB,
/// XR, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtherPacket<'a> {
    packet: &'a [u8],
}

impl<'a> OtherPacket<'a> {
    /// Packet type.
    pub fn packet_type(&self) -> u8 {
        self.packet[1]
    }

    /// The 5-bit count / format field.
    pub fn count(&self) -> u8 {
        self.packet[0] & 0x1f
    }

    /// The packet after its 4-byte header, without padding.
    pub fn body(&self) -> &'a [u8] {
        &self.packet[4..]
    }
}
