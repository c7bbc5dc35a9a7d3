//! Telling packets apart on one port.
//!
//! - RFC 7983 §7 (updating RFC 5764 §5.1.2): the first byte separates
//!   STUN (0..=3), DTLS (20..=63) and RTP/RTCP (128..=191).
//! - RFC 5761 §4: RTP and RTCP share a port (`a=rtcp-mux`) by the second
//!   byte: 192..=223 is RTCP (RTCP packet types 192..=223, which as RTP
//!   would be payload types 64..=95 with the marker bit set; those payload
//!   types must therefore not be used for RTP on a muxed port).

/// What a datagram on a media port is; see [`classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PacketKind {
    /// RTP (or SRTP).
    Rtp,
    /// RTCP (or SRTCP).
    Rtcp,
    /// STUN (ICE connectivity checks).
    Stun,
    /// DTLS.
    Dtls,
    /// Anything else, including packets too short to tell.
    Unknown,
}

/// Classifies a datagram received on a port that carries RTP and RTCP
/// (and possibly STUN and DTLS).
pub fn classify(packet: &[u8]) -> PacketKind {
    let Some(&first) = packet.first() else {
        return PacketKind::Unknown;
    };
    match first {
        0..=3 => PacketKind::Stun,
        20..=63 => PacketKind::Dtls,
        128..=191 => match packet.get(1) {
            Some(192..=223) => PacketKind::Rtcp,
            Some(_) => PacketKind::Rtp,
            None => PacketKind::Unknown,
        },
        _ => PacketKind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5761_payload_type_range() {
        // SR (200), RR (201), SDES (202), BYE (203), APP (204), RTPFB (205).
        for pt in 200..=205u8 {
            assert_eq!(classify(&[0x80, pt, 0, 1]), PacketKind::Rtcp, "{pt}");
        }
        assert_eq!(classify(&[0x80, 192]), PacketKind::Rtcp);
        assert_eq!(classify(&[0x80, 223]), PacketKind::Rtcp);
        // PCMU with and without marker, telephone-event with marker, PT 96.
        for second in [0u8, 0x80, 0x80 | 101, 96, 191, 224, 0x7f] {
            assert_eq!(classify(&[0x80, second]), PacketKind::Rtp, "{second}");
        }
    }

    #[test]
    fn rfc7983_first_byte() {
        assert_eq!(classify(&[0x00, 0x01]), PacketKind::Stun);
        assert_eq!(classify(&[22, 0xfe]), PacketKind::Dtls);
        assert_eq!(classify(&[0x40, 0]), PacketKind::Unknown);
        assert_eq!(classify(&[0xc0, 0]), PacketKind::Unknown);
        assert_eq!(classify(&[0x80]), PacketKind::Unknown);
        assert_eq!(classify(&[]), PacketKind::Unknown);
    }
}
