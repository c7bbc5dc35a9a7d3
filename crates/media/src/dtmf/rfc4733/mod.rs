//! RFC 4733 telephone-events: the payload ([`TelephoneEvent`]), a
//! receiver that reports each key press exactly once
//! ([`TelephoneEventReceiver`]) and a sender that produces the packet
//! sequence of a key press ([`TelephoneEventSender`],
//! [`TelephoneEventPackets`]).
//!
//! - §2.3: the 4-byte event report (event, E bit, reserved bit, volume,
//!   duration); §3.2: DTMF event codes 0-15.
//! - §2.5.1.2: the first packet of an event carries the marker bit,
//!   updates carry the same RTP timestamp and the cumulative duration.
//! - §2.5.1.3: events longer than 0xFFFF timestamp units are cut into
//!   segments, each with its own timestamp (old timestamp + 0xFFFF).
//! - §2.5.1.4: the final packet of the event (E bit) and of each segment
//!   is sent three times.
//! - §2.5.2: the receiver keys an event by its RTP timestamp, starts it
//!   on its first packet (marker or not, the start may be lost), ends it
//!   on the E bit, on a packet with a newer timestamp or after a timeout
//!   (all end packets lost), and ignores redundant and late packets.
//!
//! Not implemented: several events in one packet and RFC 2198
//! redundancy (`audio/red`), non-DTMF events (flash, RFC 4734 tones:
//! ignored by the receiver), state events.

mod receiver;
mod sender;

pub use receiver::{EventEnd, ReceivedEvent, TelephoneEventReceiver, TelephoneEventReceiverConfig};
pub use sender::{
    TelephoneEventPacket, TelephoneEventPackets, TelephoneEventSender, TelephoneEventSenderConfig,
};

use crate::dtmf::digit::DtmfDigit;
use crate::dtmf::error::DtmfError;

/// Length of one event report (RFC 4733 §2.3).
pub const TELEPHONE_EVENT_LEN: usize = 4;

/// One RFC 4733 §2.3 event report: the payload of a telephone-event RTP
/// packet.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     event     |E|R| volume    |          duration             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TelephoneEvent {
    /// Event code (0-15 are DTMF keys, RFC 4733 §3.2).
    pub event: u8,
    /// E bit: this report ends the event.
    pub end: bool,
    /// Power level as -dBm0, 0..=63 (RFC 4733 §2.3.4); larger values are
    /// written as 63.
    pub volume: u8,
    /// Duration so far in timestamp units (RFC 4733 §2.3.5).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first event report of `payload`. Bytes after it are
    /// ignored; the reserved bit is ignored as §2.3 asks of receivers.
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let Some(&[event, flags, high, low]) = payload.first_chunk::<TELEPHONE_EVENT_LEN>() else {
            return Err(DtmfError::EventTruncated(payload.len()));
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([high, low]),
        })
    }

    /// The report for `digit`.
    pub fn dtmf(digit: DtmfDigit, end: bool, volume: u8, duration: u16) -> Self {
        TelephoneEvent {
            event: digit.event_code(),
            end,
            volume,
            duration,
        }
    }

    /// The DTMF key of this event, `None` for other events.
    pub fn digit(&self) -> Option<DtmfDigit> {
        DtmfDigit::from_event_code(self.event)
    }

    /// The report as its 4 bytes (reserved bit zero).
    pub fn to_bytes(&self) -> [u8; TELEPHONE_EVENT_LEN] {
        let end = if self.end { 0x80 } else { 0 };
        let [high, low] = self.duration.to_be_bytes();
        [self.event, end | self.volume.min(63), high, low]
    }

    /// Writes the report at the start of `out`; returns its length (4).
    pub fn write(&self, out: &mut [u8]) -> Result<usize, DtmfError> {
        let Some(slot) = out.first_chunk_mut::<TELEPHONE_EVENT_LEN>() else {
            return Err(DtmfError::BufferTooSmall {
                len: out.len(),
                needed: TELEPHONE_EVENT_LEN,
            });
        };
        *slot = self.to_bytes();
        Ok(TELEPHONE_EVENT_LEN)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sipp_end_packet() {
        // Last packet of SIPp's dtmf_2833_1.pcap: key 1, E bit, volume
        // 10, 2240 units.
        let event = TelephoneEvent::parse(&[0x01, 0x8a, 0x08, 0xc0]).unwrap();
        assert_eq!(
            event,
            TelephoneEvent {
                event: 1,
                end: true,
                volume: 10,
                duration: 2240
            }
        );
        assert_eq!(event.digit(), Some(DtmfDigit::One));
        assert_eq!(event.to_bytes(), [0x01, 0x8a, 0x08, 0xc0]);
    }

    #[test]
    fn reserved_bit_is_ignored_and_extra_bytes_too() {
        let event = TelephoneEvent::parse(&[16, 0x40 | 0x05, 0, 160, 9, 9]).unwrap();
        assert!(!event.end);
        assert_eq!(event.volume, 5);
        assert_eq!(event.duration, 160);
        assert_eq!(event.digit(), None);
    }

    #[test]
    fn short_payload_and_buffer_are_refused() {
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::EventTruncated(3))
        );
        let event = TelephoneEvent::dtmf(DtmfDigit::Pound, false, 99, 400);
        assert_eq!(event.to_bytes(), [11, 63, 0x01, 0x90]);
        let mut out = [0u8; 3];
        assert_eq!(
            event.write(&mut out),
            Err(DtmfError::BufferTooSmall { len: 3, needed: 4 })
        );
        let mut out = [0u8; 8];
        assert_eq!(event.write(&mut out), Ok(4));
        assert_eq!(TelephoneEvent::parse(&out).unwrap().duration, 400);
    }
}
