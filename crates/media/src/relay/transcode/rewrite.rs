//! One codec on both legs of a bridge, on other payload type numbers
//! (RFC 3551 §3 and RFC 3264 §5.1: dynamic types are each offerer's
//! choice, e.g. telephone-event 101 on one leg and 96 on the other):
//! packets are forwarded with the payload type rewritten, no decoding.
//!
//! - Audio takes the other leg's audio type.
//! - RFC 4733 telephone-events take its telephone-event type, their
//!   duration field scaled when the two `telephone-event/<rate>` differ
//!   (§2.3.5: timestamp units of the event's clock); an event that
//!   becomes longer than 0xFFFF units goes on in segments, the packet's
//!   timestamp advanced 0xFFFF a segment (§2.5.1.3; packet for packet:
//!   no closing packets of our own, which the transcoding path sends).
//!   Toward a leg without telephone-event they are dropped.
//! - RFC 3389 comfort noise takes its CN type; toward a leg without CN
//!   it is dropped (the leg hears silence, as from a sender that
//!   suppresses silence without CN, RFC 3551 §4.1).
//! - Anything else goes as it is, as on a plain bridge.

use super::super::local::LegCodec;
use super::super::DropReason;
use crate::rtp::RtpPacketMut;
use crate::TELEPHONE_EVENT_LEN;

/// The payload type rewrite from one leg's codec to its partner's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::relay) struct PayloadMap {
    pub(super) from: LegCodec,
    pub(super) to: LegCodec,
}

/// Longest duration of one segment of an event (RFC 4733 §2.5.1.3).
pub(super) const SEGMENT: u32 = 0xFFFF;

/// The segment a point `total` units into a long event falls in
/// (RFC 4733 §2.5.1.3): how many whole segments come before it, and its
/// duration within its own segment. A duration of exactly 0xFFFF stays
/// in its segment (it closes it); the next unit starts the next one.
pub(super) fn segment_of(total: u64) -> (u32, u16) {
    let before = total.saturating_sub(1) / u64::from(SEGMENT);
    let within = total - before * u64::from(SEGMENT);
    // `within` is 1..=0xFFFF (0 for 0); `before` fits u32 for any
    // 16-bit duration scaled by a ratio of clock rates below 2^16.
    (
        u32::try_from(before).unwrap_or(u32::MAX),
        u16::try_from(within).unwrap_or(u16::MAX),
    )
}

/// Scales the duration field of each event report in `payload` from
/// `from` to `to` units a second. A single report longer than 0xFFFF
/// units once scaled is cut into segments (RFC 4733 §2.5.1.3): its
/// duration becomes the one within its segment and the returned offset
/// (0xFFFF a segment) is to be added to the packet's timestamp. Several
/// reports in one packet (§2.5.1.5, short events) saturate instead.
pub(super) fn scale_durations(payload: &mut [u8], from: u32, to: u32) -> u32 {
    if from == to {
        return 0;
    }
    let scale = |report: &[u8]| {
        let duration = u64::from(u16::from_be_bytes([report[2], report[3]]));
        duration * u64::from(to) / u64::from(from.max(1))
    };
    if payload.len() == TELEPHONE_EVENT_LEN {
        let (segments, duration) = segment_of(scale(payload));
        payload[2..4].copy_from_slice(&duration.to_be_bytes());
        return segments.wrapping_mul(SEGMENT);
    }
    for report in payload.chunks_exact_mut(TELEPHONE_EVENT_LEN) {
        let scaled = u16::try_from(scale(report)).unwrap_or(u16::MAX);
        report[2..4].copy_from_slice(&scaled.to_be_bytes());
    }
    0
}

impl PayloadMap {
    /// Rewrites the RTP packet in `packet` (authenticated, decrypted and
    /// valid) for the partner.
    pub(super) fn apply(&self, packet: &mut [u8]) -> Result<(), DropReason> {
        let mut packet = RtpPacketMut::parse(packet).map_err(|_| DropReason::Malformed)?;
        let payload_type = packet.as_packet().payload_type();
        let (from, to) = (self.from, self.to);
        let rewritten = if payload_type == from.payload_type {
            to.payload_type
        } else if Some(payload_type) == from.telephone_event_pt {
            let target = to.telephone_event_pt.ok_or(DropReason::UnmappedPayload)?;
            let rates = (from.telephone_event_rate, to.telephone_event_rate);
            let offset = scale_durations(packet.payload_mut(), rates.0, rates.1);
            if offset != 0 {
                let timestamp = packet.as_packet().timestamp();
                packet.set_timestamp(timestamp.wrapping_add(offset));
            }
            target
        } else if Some(payload_type) == from.comfort_noise_pt {
            to.comfort_noise_pt.ok_or(DropReason::UnmappedPayload)?
        } else {
            return Ok(());
        };
        packet.set_payload_type(rewritten);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{LegEncoding, TelephoneEvent};

    fn packet(pt: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 0x80 | pt, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn rewrites_audio_events_and_comfort_noise() {
        let mut from = LegCodec::new(LegEncoding::Pcmu);
        from.comfort_noise_pt = Some(13);
        let mut to = LegCodec::new(LegEncoding::Pcmu);
        to.telephone_event_pt = Some(96);
        to.telephone_event_rate = 16_000;
        let map = PayloadMap { from, to };
        let mut audio = packet(0, &[0xff; 160]);
        map.apply(&mut audio).unwrap();
        assert_eq!(audio, packet(0, &[0xff; 160]));
        let event = TelephoneEvent {
            event: 5,
            end: true,
            volume: 10,
            duration: 800,
        };
        let mut dtmf = packet(101, &event.to_bytes());
        map.apply(&mut dtmf).unwrap();
        // Marker kept, type rewritten, 800 units at 8 kHz are 1600 at 16.
        assert_eq!(dtmf[1], 0x80 | 96);
        let scaled = TelephoneEvent::parse(&dtmf[12..]).unwrap();
        assert_eq!((scaled.event, scaled.end, scaled.duration), (5, true, 1600));
        // No CN on the other leg: dropped. Another type: as it is.
        let mut cn = packet(13, &[40]);
        assert_eq!(map.apply(&mut cn), Err(DropReason::UnmappedPayload));
        let mut other = packet(18, &[1, 2]);
        map.apply(&mut other).unwrap();
        assert_eq!(other, packet(18, &[1, 2]));
        let back = PayloadMap { from: to, to: from };
        let mut dtmf = packet(96, &event.to_bytes());
        back.apply(&mut dtmf).unwrap();
        assert_eq!(dtmf[1], 0x80 | 101);
        assert_eq!(TelephoneEvent::parse(&dtmf[12..]).unwrap().duration, 400);
    }

    #[test]
    fn a_long_event_scaled_up_goes_on_in_segments() {
        assert_eq!(segment_of(0), (0, 0));
        assert_eq!(segment_of(0xFFFF), (0, 0xFFFF), "closes its segment");
        assert_eq!(segment_of(0x1_0000), (1, 1));
        let mut from = LegCodec::new(LegEncoding::Pcmu);
        from.telephone_event_rate = 8000;
        let mut to = from;
        to.telephone_event_pt = Some(96);
        to.telephone_event_rate = 48_000;
        let map = PayloadMap { from, to };
        // 3 s: 24000 units at 8 kHz, 144000 at 48 kHz: the third segment.
        let event = TelephoneEvent {
            event: 5,
            end: true,
            volume: 10,
            duration: 24_000,
        };
        let mut dtmf = packet(101, &event.to_bytes());
        map.apply(&mut dtmf).unwrap();
        let p = crate::RtpPacket::parse(&dtmf).unwrap();
        assert_eq!(p.timestamp(), 160 + 2 * 0xFFFF);
        let scaled = TelephoneEvent::parse(p.payload()).unwrap();
        assert_eq!(u32::from(scaled.duration), 144_000 - 2 * 0xFFFF);
        assert!(scaled.end);
        // Several reports in one packet are short events: they saturate.
        let mut two = [event.to_bytes(), event.to_bytes()].concat();
        assert_eq!(scale_durations(&mut two, 8000, 48_000), 0);
        assert_eq!(&two[2..4], &[0xff, 0xff]);
    }
}
