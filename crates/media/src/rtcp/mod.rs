//! RTCP (RFC 3550 §6): compound packets and reception statistics.
//!
//! - [`RtcpCompound`]: reads a compound packet validated per RFC 3550
//!   §A.2 into zero-copy views of SR (§6.4.1), RR (§6.4.2), SDES (§6.5)
//!   and BYE (§6.6); other types are kept unparsed.
//! - [`RtcpWriter`]: appends SR, RR, SDES and BYE packets to a buffer.
//! - [`ReceptionStatistics`]: sequence validation with wraparound and
//!   probation (§A.1), expected / lost / fraction lost (§A.3) and
//!   interarrival jitter (§A.8), summarised as a [`ReportBlock`].

mod packet;
mod statistics;
mod write;

pub(crate) use packet::{BYE, REPORT_BLOCK_LEN, RR, SDES, SR};

pub use packet::{
    Goodbye, OtherPacket, ReceiverReport, ReportBlock, RtcpCompound, RtcpPacket, RtcpPackets,
    SdesChunk, SdesChunks, SdesItem, SenderInfo, SenderReport, SourceDescription,
};
pub use statistics::{ReceptionStatistics, SequenceVerdict};
pub use write::RtcpWriter;

#[cfg(test)]
mod tests;
