//! Random input never panics the parsers or SRTP, and protection round
//! trips for arbitrary packets.
#![allow(clippy::unwrap_used)]

use media::{
    classify, RtcpCompound, RtcpPacket, RtpHeader, RtpPacket, SrtpContext, SrtpError, SrtpSuite,
};
use proptest::prelude::*;

fn walk_rtcp(compound: &RtcpCompound<'_>) -> usize {
    let mut touched = 0;
    for packet in compound.packets() {
        touched += match packet {
            RtcpPacket::SenderReport(sr) => {
                let _ = sr.sender_info();
                sr.report_blocks().count() + sr.profile_extension().len()
            }
            RtcpPacket::ReceiverReport(rr) => {
                rr.report_blocks().count() + rr.profile_extension().len()
            }
            RtcpPacket::SourceDescription(sdes) => sdes
                .chunks()
                .map(|chunk| chunk.items().count() + chunk.cname().map_or(0, <[u8]>::len))
                .sum(),
            RtcpPacket::Goodbye(bye) => bye.sources().count() + bye.reason().map_or(0, <[u8]>::len),
            RtcpPacket::Other(other) => other.body().len(),
            _ => 0,
        };
    }
    touched
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = classify(&bytes);
        if let Ok(packet) = RtpPacket::parse(&bytes) {
            prop_assert!(packet.payload_offset() + packet.payload().len() + packet.padding_len() == bytes.len());
            let _ = packet.csrcs().count();
            if let Some(extension) = packet.extension() {
                let _ = extension.elements().count();
            }
        }
        if let Ok(compound) = RtcpCompound::parse(&bytes) {
            walk_rtcp(&compound);
        }
        let mut context = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &[1; 16], &[2; 14]).unwrap();
        let mut buf = bytes.clone();
        prop_assert!(context.unprotect_rtp(&mut buf).is_err());
        prop_assert_eq!(&buf, &bytes);
        prop_assert!(context.unprotect_rtcp(&mut buf).is_err());
        prop_assert_eq!(&buf, &bytes);
        let _ = context.protect_rtp(&mut buf);
        let _ = context.protect_rtcp(&mut bytes.clone());
    }

    /// RTP-looking and RTCP-looking input: version 2 and plausible types,
    /// to reach deeper than the version check.
    #[test]
    fn version_2_input_never_panics(
        first in 0x80u8..0xc0,
        second in prop_oneof![Just(200u8), Just(201u8), Just(202u8), Just(203u8), any::<u8>()],
        rest in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut bytes = vec![first, second];
        bytes.extend_from_slice(&rest);
        if let Ok(packet) = RtpPacket::parse(&bytes) {
            if let Some(extension) = packet.extension() {
                let _ = extension.elements().count();
            }
        }
        if let Ok(compound) = RtcpCompound::parse(&bytes) {
            walk_rtcp(&compound);
        }
    }

    #[test]
    fn protection_round_trips(
        suite in prop_oneof![Just(SrtpSuite::AesCm128HmacSha1_80), Just(SrtpSuite::AesCm128HmacSha1_32)],
        key in any::<[u8; 16]>(),
        salt in any::<[u8; 14]>(),
        seqs in proptest::collection::vec(any::<u16>(), 1..20),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut tx = SrtpContext::new(suite, &key, &salt).unwrap();
        let mut rx = SrtpContext::new(suite, &key, &salt).unwrap();
        for seq in seqs {
            let mut packet = Vec::new();
            RtpHeader { marker: false, payload_type: 0, sequence_number: seq, timestamp: 0, ssrc: 1 }
                .append(&[], &mut packet)
                .unwrap();
            packet.extend_from_slice(&payload);
            let plain = packet.clone();
            // Random sequence numbers jump about: the sender may refuse
            // (reuse or too old), and whatever it sends the receiver takes.
            match tx.protect_rtp(&mut packet) {
                Ok(()) => {
                    rx.unprotect_rtp(&mut packet).unwrap();
                    prop_assert_eq!(packet, plain);
                }
                Err(SrtpError::IndexReused(_) | SrtpError::TooOld) => prop_assert_eq!(packet, plain),
                Err(other) => prop_assert!(false, "{}", other),
            }
        }
    }
}
