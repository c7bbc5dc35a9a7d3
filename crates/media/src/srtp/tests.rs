#![allow(clippy::unwrap_used)]

use super::keys::{derive, SessionKeys};
use super::*;
use crate::error::SrtpError;
use crate::rtp::RtpHeader;

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .map(|c| char::from(c).to_digit(16).unwrap() as u8)
        .collect();
    digits
        .chunks(2)
        .map(|pair| pair[0] << 4 | pair[1])
        .collect()
}

fn array<const N: usize>(text: &str) -> [u8; N] {
    hex(text).try_into().unwrap()
}

const SUITES: [SrtpSuite; 2] = [
    SrtpSuite::AesCm128HmacSha1_80,
    SrtpSuite::AesCm128HmacSha1_32,
];

/// RFC 3711 Appendix B.3 master key and salt, also used by libsrtp's
/// own validation vectors.
fn rfc_master() -> ([u8; 16], [u8; 14]) {
    (
        array("E1F97A0D3E018BE0D64FA32C06DE4139"),
        array("0EC675AD498AFEEBB6960B3AABE6"),
    )
}

fn pair(suite: SrtpSuite) -> (SrtpContext, SrtpContext) {
    let (key, salt) = rfc_master();
    (
        SrtpContext::new(suite, &key, &salt).unwrap(),
        SrtpContext::new(suite, &key, &salt).unwrap(),
    )
}

fn rtp(seq: u16, ssrc: u32, payload_len: usize) -> Vec<u8> {
    let mut packet = Vec::with_capacity(payload_len + 64);
    RtpHeader {
        marker: false,
        payload_type: 0,
        sequence_number: seq,
        timestamp: u32::from(seq) * 160,
        ssrc,
    }
    .append(&[], &mut packet)
    .unwrap();
    packet.extend((0..payload_len).map(|i| (i as u8) ^ (seq as u8)));
    packet
}

#[test]
fn rfc3711_b3_key_derivation() {
    let (key, salt) = rfc_master();
    let mut cipher_key = [0u8; 16];
    derive(&key, &salt, 0x00, &mut cipher_key);
    assert_eq!(cipher_key, array::<16>("C61E7A93744F39EE10734AFE3FF7A087"));
    let mut cipher_salt = [0u8; 14];
    derive(&key, &salt, 0x02, &mut cipher_salt);
    assert_eq!(cipher_salt, array::<14>("30CBBC08863D8C85D49DB34A9AE1"));
    // The RFC lists 94 octets of the authentication key stream.
    let mut auth = [0u8; 94];
    derive(&key, &salt, 0x01, &mut auth);
    assert_eq!(
        auth.to_vec(),
        hex(
            "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA48F0A0ACF3C34E2359E6CDBCE
             E049646C43D9327AD175578EF72270986371C10C9A369AC2F94A8C5FBCDDDC25
             6D6E919A48B610EF17C2041E474035766B68642C59BBFC2F34DB60DBDFB2"
        )
    );
}

#[test]
fn rfc3711_b2_aes_cm_keystream() {
    // B.2 gives the session salt already shifted: F0..FD, SSRC 0, index 0.
    let key: [u8; 16] = array("2B7E151628AED2A6ABF7158809CF4F3C");
    let salt: [u8; 14] = array("F0F1F2F3F4F5F6F7F8F9FAFBFCFD");
    let keys = SessionKeys::from_session_keys(&key, &salt, &[0; 20]);
    // 65282 blocks, counters ...0000 to ...FF01.
    let mut keystream = vec![0u8; 1_044_512];
    keys.apply_keystream(0, 0, &mut keystream);
    assert_eq!(
        keystream[..48].to_vec(),
        hex("E03EAD0935C95E80E166B16DD92B4EB4
             D23513162B02D0F72A43A2FE4A5F97AB
             41E95B3BB0A2E8DD477901E4FCA894C0")
    );
    assert_eq!(
        keystream[keystream.len() - 48..].to_vec(),
        hex("EC8CDF7398607CB0F2D21675EA9EA1E4
             362B7C3C6773516318A077D7FC5073AE
             6A2CC3787889374FBEB4C81B17BA6C44")
    );
}

/// Packets protected by libsrtp 2.5.0 (`tests/libsrtp/interop.c`) with
/// the RFC 3711 B.3 master key: the same vectors as libsrtp's own
/// `srtp_validate`.
#[test]
fn libsrtp_reference_packets() {
    let plain = hex("800f1234decafbadcafebabeabababababababababababababababab");
    let srtp_80 =
        hex("800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb");
    let srtp_32 = hex("800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc");
    for (suite, expected) in [
        (SrtpSuite::AesCm128HmacSha1_80, &srtp_80),
        (SrtpSuite::AesCm128HmacSha1_32, &srtp_32),
    ] {
        let (mut tx, mut rx) = pair(suite);
        let mut packet = plain.clone();
        tx.protect_rtp(&mut packet).unwrap();
        assert_eq!(&packet, expected, "{suite:?}");
        rx.unprotect_rtp(&mut packet).unwrap();
        assert_eq!(packet, plain);
    }
    // SRTCP: libsrtp starts its SRTCP index at 1 (E flag set).
    let rtcp = hex("81c8000bcafebabeabababababababababababababababab");
    let srtcp_1 =
        hex("81c8000bcafebabe7128035be487b9bdbef89041f977a5a880000001993e08cd54d6c1230798");
    let srtcp_2 =
        hex("81c8000bcafebabe621934ea9f788cdad295b3a512d8bc5f80000002c8dc9c552c823658cdac");
    let (mut tx, mut rx) = pair(SrtpSuite::AesCm128HmacSha1_80);
    for expected in [&srtcp_1, &srtcp_2] {
        let mut packet = expected.clone();
        rx.unprotect_rtcp(&mut packet).unwrap();
        assert_eq!(packet, rtcp);
    }
    // Ours starts at 0 (RFC 3711 §3.4); the second packet matches
    // libsrtp's first byte for byte.
    let mut first = rtcp.clone();
    tx.protect_rtcp(&mut first).unwrap();
    assert_eq!(first[first.len() - 14..first.len() - 10], [0x80, 0, 0, 0]);
    let mut second = rtcp.clone();
    tx.protect_rtcp(&mut second).unwrap();
    assert_eq!(second, srtcp_1);
}

#[test]
fn round_trips_with_csrcs_extension_and_padding() {
    for suite in SUITES {
        let (mut tx, mut rx) = pair(suite);
        let mut plain = vec![0xb1, 0x60, 0x12, 0x34, 0, 0, 1, 0, 0xca, 0xfe, 0xba, 0xbe];
        plain.extend_from_slice(&[0, 0, 0, 9]); // CSRC
        plain.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0x55, 0, 0]); // extension
        plain.extend_from_slice(&[1, 2, 3, 4, 5, 0, 0, 3]); // payload + padding
        let mut packet = plain.clone();
        tx.protect_rtp(&mut packet).unwrap();
        assert_eq!(packet.len(), plain.len() + suite.rtp_tag_len());
        // Header, CSRC and extension in the clear, payload encrypted.
        assert_eq!(packet[..24], plain[..24]);
        assert_ne!(packet[24..32], plain[24..32]);
        rx.unprotect_rtp(&mut packet).unwrap();
        assert_eq!(packet, plain);
        let parsed = crate::RtpPacket::parse(&packet).unwrap();
        assert_eq!(parsed.payload(), &[1, 2, 3, 4, 5]);

        let mut rtcp = vec![];
        crate::RtcpWriter::new(&mut rtcp)
            .receiver_report(0xcafe_babe, &[])
            .unwrap()
            .source_description(0xcafe_babe, &[crate::SdesItem::cname(b"x@y")])
            .unwrap();
        let plain = rtcp.clone();
        tx.protect_rtcp(&mut rtcp).unwrap();
        assert_eq!(rtcp.len(), plain.len() + 14);
        assert_eq!(rtcp[..8], plain[..8]);
        assert_ne!(rtcp[8..plain.len()], plain[8..]);
        rx.unprotect_rtcp(&mut rtcp).unwrap();
        assert_eq!(rtcp, plain);
    }
}

#[test]
fn tampering_is_detected_and_leaves_the_buffer_alone() {
    for suite in SUITES {
        let (mut tx, mut rx) = pair(suite);
        let mut packet = rtp(1000, 42, 160);
        tx.protect_rtp(&mut packet).unwrap();
        for at in [1, 3, 11, 12, 100, packet.len() - 1] {
            let mut tampered = packet.clone();
            tampered[at] ^= 0x01;
            let before = tampered.clone();
            assert_eq!(
                rx.unprotect_rtp(&mut tampered),
                Err(SrtpError::AuthenticationFailed),
                "{suite:?} byte {at}"
            );
            assert_eq!(tampered, before);
        }
        // A failed packet does not advance the replay window.
        rx.unprotect_rtp(&mut packet).unwrap();

        let mut rtcp = vec![];
        crate::RtcpWriter::new(&mut rtcp)
            .receiver_report(42, &[])
            .unwrap();
        tx.protect_rtcp(&mut rtcp).unwrap();
        // Header, payload, E||index and tag.
        for at in [1, 5, 8, rtcp.len() - 12, rtcp.len() - 1] {
            let mut tampered = rtcp.clone();
            tampered[at] ^= 0x80;
            assert_eq!(
                rx.unprotect_rtcp(&mut tampered),
                Err(SrtpError::AuthenticationFailed),
                "{suite:?} RTCP byte {at}"
            );
        }
        rx.unprotect_rtcp(&mut rtcp).unwrap();
        // A context with another key refuses both.
        let mut other = SrtpContext::new(suite, &[1; 16], &[2; 14]).unwrap();
        let mut packet = rtp(1001, 42, 20);
        tx.protect_rtp(&mut packet).unwrap();
        assert_eq!(
            other.unprotect_rtp(&mut packet),
            Err(SrtpError::AuthenticationFailed)
        );
    }
}

#[test]
fn replays_are_refused() {
    let (mut tx, mut rx) = pair(SrtpSuite::AesCm128HmacSha1_80);
    let mut packets: Vec<Vec<u8>> = (0..100u16)
        .map(|seq| {
            let mut p = rtp(seq, 7, 20);
            tx.protect_rtp(&mut p).unwrap();
            p
        })
        .collect();
    let mut first = packets[10].clone();
    rx.unprotect_rtp(&mut first).unwrap();
    let mut again = packets[10].clone();
    assert_eq!(rx.unprotect_rtp(&mut again), Err(SrtpError::Replayed(10)));
    // Older than the first packet: index 5 is still in the window.
    rx.unprotect_rtp(&mut packets[5]).unwrap();
    rx.unprotect_rtp(&mut packets[99]).unwrap();
    // 99 - 35 = 64: left of the window.
    assert_eq!(rx.unprotect_rtp(&mut packets[35]), Err(SrtpError::TooOld));
    rx.unprotect_rtp(&mut packets[36]).unwrap();
    let mut again = packets[99].clone();
    assert_eq!(rx.unprotect_rtp(&mut again), Err(SrtpError::Replayed(99)));

    // SRTCP.
    let mut compounds: Vec<Vec<u8>> = (0..70)
        .map(|_| {
            let mut c = vec![];
            crate::RtcpWriter::new(&mut c)
                .receiver_report(7, &[])
                .unwrap();
            tx.protect_rtcp(&mut c).unwrap();
            c
        })
        .collect();
    let mut copy = compounds[3].clone();
    rx.unprotect_rtcp(&mut compounds[3]).unwrap();
    assert_eq!(rx.unprotect_rtcp(&mut copy), Err(SrtpError::Replayed(3)));
    rx.unprotect_rtcp(&mut compounds[69]).unwrap();
    assert_eq!(rx.unprotect_rtcp(&mut compounds[5]), Err(SrtpError::TooOld));
    rx.unprotect_rtcp(&mut compounds[6]).unwrap();

    // The sender refuses to reuse an index (same sequence number).
    let mut reuse = rtp(99, 7, 20);
    assert_eq!(tx.protect_rtp(&mut reuse), Err(SrtpError::IndexReused(99)));
    assert_eq!(reuse, rtp(99, 7, 20));
}

#[test]
fn rollover_with_reordering() {
    for suite in SUITES {
        let (mut tx, mut rx) = pair(suite);
        let order: Vec<u16> = vec![
            65_530, 65_531, 65_532, 65_533, 65_534, 65_535, 0, 1, 2, 3, 4,
        ];
        let protected: Vec<(u16, Vec<u8>)> = order
            .iter()
            .map(|&seq| {
                let mut p = rtp(seq, 9, 40);
                tx.protect_rtp(&mut p).unwrap();
                (seq, p)
            })
            .collect();
        assert_eq!(tx.rollover_counter(9), Some(1));
        // Deliver out of order around the wrap.
        for i in [0usize, 1, 2, 4, 7, 3, 6, 5, 9, 8, 10] {
            let (seq, mut packet) = protected[i].clone();
            rx.unprotect_rtp(&mut packet)
                .unwrap_or_else(|e| panic!("{suite:?} seq {seq}: {e}"));
            assert_eq!(packet, rtp(seq, 9, 40));
        }
        assert_eq!(rx.rollover_counter(9), Some(1));
        // A late packet from before the wrap still has ROC 0: a replay.
        let mut late = protected[5].1.clone();
        assert_eq!(
            rx.unprotect_rtp(&mut late),
            Err(SrtpError::Replayed(65_535))
        );
    }
}

#[test]
fn roc_advances_over_many_wraps() {
    let (mut tx, mut rx) = pair(SrtpSuite::AesCm128HmacSha1_32);
    let mut seq: u16 = 60_000;
    // Steps of 1000 keep the estimate unambiguous (< 2^15).
    for _ in 0..300 {
        let mut p = rtp(seq, 1, 8);
        tx.protect_rtp(&mut p).unwrap();
        rx.unprotect_rtp(&mut p).unwrap();
        assert_eq!(p, rtp(seq, 1, 8));
        seq = seq.wrapping_add(1000);
    }
    assert_eq!(rx.rollover_counter(1), Some(5));
    assert_eq!(tx.rollover_counter(1), rx.rollover_counter(1));
}

#[test]
fn streams_are_per_ssrc() {
    let (mut tx, mut rx) = pair(SrtpSuite::AesCm128HmacSha1_80);
    let mut a = rtp(65_535, 1, 10);
    let mut b = rtp(65_535, 2, 10);
    tx.protect_rtp(&mut a).unwrap();
    tx.protect_rtp(&mut b).unwrap();
    rx.unprotect_rtp(&mut a).unwrap();
    rx.unprotect_rtp(&mut b).unwrap();
    let mut a = rtp(0, 1, 10);
    tx.protect_rtp(&mut a).unwrap();
    rx.unprotect_rtp(&mut a).unwrap();
    assert_eq!(rx.rollover_counter(1), Some(1));
    assert_eq!(rx.rollover_counter(2), Some(0));
    assert_eq!(rx.rollover_counter(3), None);
}

#[test]
fn unencrypted_srtcp_is_authenticated_only() {
    let (key, salt) = rfc_master();
    let mut rx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &key, &salt).unwrap();
    let keys = SessionKeys::derive(&key, &salt, super::keys::SRTCP_LABELS);
    let mut plain = vec![];
    crate::RtcpWriter::new(&mut plain)
        .receiver_report(5, &[])
        .unwrap();
    let mut packet = plain.clone();
    packet.extend_from_slice(&7u32.to_be_bytes()); // E = 0, index 7
    let tag = keys.tag(&packet, None);
    packet.extend_from_slice(&tag[..10]);
    rx.unprotect_rtcp(&mut packet).unwrap();
    assert_eq!(packet, plain);
}

#[test]
fn short_and_malformed_packets() {
    let (mut tx, mut rx) = pair(SrtpSuite::AesCm128HmacSha1_80);
    assert_eq!(
        rx.unprotect_rtp(&mut vec![0x80; 21]),
        Err(SrtpError::TooShort {
            len: 21,
            needed: 22
        })
    );
    assert_eq!(
        rx.unprotect_rtcp(&mut vec![0x80; 21]),
        Err(SrtpError::TooShort {
            len: 21,
            needed: 22
        })
    );
    let mut v1 = vec![0x40; 40];
    assert_eq!(
        rx.unprotect_rtp(&mut v1),
        Err(SrtpError::Rtp(crate::RtpError::Version(1)))
    );
    assert_eq!(rx.unprotect_rtcp(&mut v1), Err(SrtpError::RtcpVersion(1)));
    assert!(matches!(
        tx.protect_rtp(&mut vec![0x80; 5]),
        Err(SrtpError::Rtp(crate::RtpError::Truncated { .. }))
    ));
    assert!(matches!(
        tx.protect_rtcp(&mut vec![0x80; 5]),
        Err(SrtpError::TooShort { .. })
    ));
    // Slices need room for the trailer.
    let mut buf = rtp(1, 1, 20);
    let len = buf.len();
    assert_eq!(
        tx.protect_rtp_slice(&mut buf, len),
        Err(SrtpError::BufferTooSmall {
            len,
            needed: len + 10
        })
    );
    buf.resize(len + 10, 0);
    assert_eq!(tx.protect_rtp_slice(&mut buf, len), Ok(len + 10));
    assert_eq!(rx.unprotect_rtp_slice(&mut buf), Ok(len));
    assert_eq!(
        SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &[0; 15], &[0; 14]).err(),
        Some(SrtpError::KeyLength { key: 15, salt: 14 })
    );
}

#[test]
fn protect_and_unprotect_do_not_reallocate() {
    for suite in SUITES {
        let (mut tx, mut rx) = pair(suite);
        // 12-byte header + 160 bytes of G.711 = 172 bytes.
        let mut packet = Vec::with_capacity(172 + suite.rtp_overhead());
        packet.extend_from_slice(&rtp(500, 3, 160));
        assert_eq!(packet.len(), 172);
        let (ptr, capacity) = (packet.as_ptr(), packet.capacity());
        tx.protect_rtp(&mut packet).unwrap();
        assert_eq!(packet.len(), 172 + suite.rtp_overhead());
        rx.unprotect_rtp(&mut packet).unwrap();
        assert_eq!(packet.len(), 172);
        assert_eq!((packet.as_ptr(), packet.capacity()), (ptr, capacity));

        let mut rtcp = Vec::with_capacity(64);
        crate::RtcpWriter::new(&mut rtcp)
            .receiver_report(3, &[])
            .unwrap()
            .source_description(3, &[crate::SdesItem::cname(b"a@b")])
            .unwrap();
        let (ptr, capacity) = (rtcp.as_ptr(), rtcp.capacity());
        tx.protect_rtcp(&mut rtcp).unwrap();
        rx.unprotect_rtcp(&mut rtcp).unwrap();
        assert_eq!((rtcp.as_ptr(), rtcp.capacity()), (ptr, capacity));
    }
}

#[test]
fn sdes_key_parameters_via_sdp() {
    let key: [u8; 16] = core::array::from_fn(|i| i as u8);
    let salt: [u8; 14] = core::array::from_fn(|i| 16 + i as u8);
    let crypto = SrtpSuite::AesCm128HmacSha1_80.sdes_crypto(1, &key, &salt);
    assert_eq!(
        crypto.to_string(),
        "1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
    );
    // What Teams sends, read by the sdp crate, gives working contexts.
    let body = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
        m=audio 5000 RTP/SAVP 0\r\n\
        a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\n\
        a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\n\
        a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31|1:1\r\n\
        a=crypto:4 AES_256_CM_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLQ==\r\n\
        a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd UNENCRYPTED_SRTP\r\n";
    let session = sdp::Session::parse(body.as_bytes()).unwrap();
    let cryptos: Vec<_> = session.media[0].cryptos().collect();
    assert_eq!(cryptos.len(), 5);
    let mut from_sdp = SrtpContext::from_crypto(&cryptos[0]).unwrap();
    assert_eq!(from_sdp.suite(), SrtpSuite::AesCm128HmacSha1_80);
    let mut direct = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &key, &salt).unwrap();
    let mut packet = rtp(1, 1, 10);
    direct.protect_rtp(&mut packet).unwrap();
    from_sdp.unprotect_rtp(&mut packet).unwrap();
    assert_eq!(packet, rtp(1, 1, 10));
    assert_eq!(
        SrtpContext::from_crypto(&cryptos[1]).unwrap().suite(),
        SrtpSuite::AesCm128HmacSha1_32
    );
    assert_eq!(
        SrtpContext::from_crypto(&cryptos[2]).err(),
        Some(SrtpError::UnsupportedKeyParams("MKI"))
    );
    assert_eq!(
        SrtpContext::from_crypto(&cryptos[3]).err(),
        Some(SrtpError::UnsupportedSuite(
            "AES_256_CM_HMAC_SHA1_80".into()
        ))
    );
    assert_eq!(
        SrtpContext::from_crypto(&cryptos[4]).err(),
        Some(SrtpError::UnsupportedKeyParams("session parameters"))
    );
    assert_eq!(
        SrtpSuite::from_sdp_name("AES_CM_128_HMAC_SHA1_32"),
        Some(SrtpSuite::AesCm128HmacSha1_32)
    );
    assert_eq!(SrtpSuite::from_sdp_name("aes_cm_128_hmac_sha1_80"), None);
    // Debug never shows keys.
    assert!(!format!("{from_sdp:?}").contains("cipher"));
}
