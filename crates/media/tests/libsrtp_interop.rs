//! SRTP and SRTCP against libsrtp2 (Debian `libsrtp2-dev`): packets that
//! libsrtp protects are unprotected here and the other way round, for both
//! SDES suites, across a sequence number rollover, in and out of order.
//!
//! `tests/libsrtp/interop.c` is compiled with `cc` at test time; it reads
//! packets as hex lines on stdin and writes the results as hex lines.
#![allow(clippy::unwrap_used)]

mod c_program;

use std::path::PathBuf;
use std::sync::OnceLock;

use media::{RtcpWriter, RtpHeader, SdesItem, SenderInfo, SrtpContext, SrtpError, SrtpSuite};

const KEY: [u8; 16] = [
    0x3c, 0x1f, 0x72, 0x09, 0xa4, 0x5e, 0x88, 0x10, 0x2b, 0xd6, 0x91, 0x7e, 0x04, 0xc3, 0x55, 0xfa,
];
const SALT: [u8; 14] = [
    0x61, 0x0d, 0xe2, 0x47, 0x9b, 0x33, 0x18, 0xc5, 0x7a, 0x02, 0xee, 0x46, 0xb9, 0x2c,
];

/// libsrtp's `srtp_err_status_auth_fail` and `srtp_err_status_replay_fail`.
const ERR_AUTH_FAIL: &str = "ERR 7";
const ERR_REPLAY_FAIL: &str = "ERR 9";

const SUITES: [SrtpSuite; 2] = [
    SrtpSuite::AesCm128HmacSha1_80,
    SrtpSuite::AesCm128HmacSha1_32,
];

fn interop_binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        c_program::compile(
            "libsrtp/interop.c",
            "libsrtp-interop",
            "srtp2",
            "libsrtp2-dev",
        )
    })
}

/// Runs libsrtp over `packets`; one output line per packet.
fn libsrtp(suite: SrtpSuite, operation: &str, packets: &[Vec<u8>]) -> Vec<String> {
    let tag = match suite {
        SrtpSuite::AesCm128HmacSha1_80 => "80",
        SrtpSuite::AesCm128HmacSha1_32 => "32",
        _ => unreachable!("suite not in this test"),
    };
    let mut key_salt = KEY.to_vec();
    key_salt.extend_from_slice(&SALT);
    let mut input = String::new();
    for packet in packets {
        input.push_str(&hex(packet));
        input.push('\n');
    }
    let output = c_program::run(
        interop_binary(),
        &[tag, &hex(&key_salt), operation],
        input.into_bytes(),
        &format!("interop {operation}"),
    );
    let lines: Vec<String> = String::from_utf8(output)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), packets.len(), "one line per packet");
    lines
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(!text.starts_with("ERR"), "libsrtp refused a packet: {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn context(suite: SrtpSuite) -> SrtpContext {
    SrtpContext::new(suite, &KEY, &SALT).unwrap()
}

/// `count` RTP packets from `first_seq` on, with varied payload lengths,
/// some with CSRCs and a header extension, some padded.
fn rtp_packets(first_seq: u16, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let seq = first_seq.wrapping_add(i as u16);
            let header = RtpHeader {
                marker: i % 50 == 0,
                payload_type: if i % 7 == 0 { 101 } else { 0 },
                sequence_number: seq,
                timestamp: (i as u32).wrapping_mul(160),
                ssrc: 0x5eed_0001,
            };
            let csrcs: &[u32] = if i % 11 == 0 { &[7, 8] } else { &[] };
            let mut packet = Vec::with_capacity(256);
            header.append(csrcs, &mut packet).unwrap();
            if i % 13 == 0 {
                packet[0] |= 0x10;
                packet.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, i as u8, 0, 0]);
            }
            let payload_len = [160, 20, 4, 1, 0][i % 5];
            packet.extend((0..payload_len).map(|j| (i + j) as u8));
            if i % 17 == 0 {
                packet[0] |= 0x20;
                packet.extend_from_slice(&[0, 0, 3]);
            }
            packet
        })
        .collect()
}

fn rtcp_compounds(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let mut compound = Vec::new();
            RtcpWriter::new(&mut compound)
                .sender_report(
                    0x5eed_0001,
                    &SenderInfo {
                        ntp_timestamp: 0xe000_0000_0000_0000 + i as u64,
                        rtp_timestamp: i as u32 * 160,
                        packet_count: i as u32,
                        octet_count: i as u32 * 160,
                    },
                    &[],
                )
                .unwrap()
                .source_description(
                    0x5eed_0001,
                    &[SdesItem::cname(&b"switchboard@example.net"[..1 + i % 23])],
                )
                .unwrap();
            compound
        })
        .collect()
}

/// Swaps neighbours: 1 0 3 2 5 4 ...
fn reordered<T: Clone>(items: &[T]) -> Vec<T> {
    let mut out = items.to_vec();
    for pair in out.chunks_exact_mut(2) {
        pair.swap(0, 1);
    }
    out
}

#[test]
fn srtp_libsrtp_to_ours_and_back_across_rollover() {
    for suite in SUITES {
        let plain = rtp_packets(65_000, 2_000);

        // libsrtp protects; ours protects the same: byte for byte equal.
        let theirs: Vec<Vec<u8>> = libsrtp(suite, "protect-rtp", &plain)
            .iter()
            .map(|line| unhex(line))
            .collect();
        let mut sender = context(suite);
        for (packet, expected) in plain.iter().zip(&theirs) {
            let mut ours = packet.clone();
            sender.protect_rtp(&mut ours).unwrap();
            let seq = u16::from_be_bytes([packet[2], packet[3]]);
            assert_eq!(&ours, expected, "{suite:?} seq {seq}");
        }
        assert_eq!(sender.rollover_counter(0x5eed_0001), Some(1));

        // Ours unprotects libsrtp's packets, reordered around the wrap.
        let mut receiver = context(suite);
        for (packet, original) in reordered(&theirs).iter().zip(reordered(&plain)) {
            let mut packet = packet.clone();
            receiver.unprotect_rtp(&mut packet).unwrap();
            assert_eq!(packet, original);
        }
        assert_eq!(receiver.rollover_counter(0x5eed_0001), Some(1));

        // libsrtp unprotects ours, reordered, then refuses a replay and a
        // tampered packet.
        let mut sender = context(suite);
        let mut ours: Vec<Vec<u8>> = plain
            .iter()
            .map(|packet| {
                let mut packet = packet.clone();
                sender.protect_rtp(&mut packet).unwrap();
                packet
            })
            .collect();
        let last = ours.len() - 1;
        let replay = ours[last].clone();
        let mut tampered = rtp_packets(65_000u16.wrapping_add(2_000), 1).remove(0);
        sender.protect_rtp(&mut tampered).unwrap();
        tampered[20] ^= 0x40;
        ours = reordered(&ours);
        ours.push(replay);
        ours.push(tampered);
        let lines = libsrtp(suite, "unprotect-rtp", &ours);
        for (line, original) in lines.iter().zip(reordered(&plain)) {
            assert_eq!(unhex(line), original, "{suite:?}");
        }
        assert_eq!(lines[lines.len() - 2], ERR_REPLAY_FAIL);
        assert_eq!(lines[lines.len() - 1], ERR_AUTH_FAIL);
    }
}

#[test]
fn srtp_seventy_thousand_packets() {
    // Two rollovers (seq 65,500 + 70,000), libsrtp -> ours.
    let suite = SrtpSuite::AesCm128HmacSha1_80;
    let plain: Vec<Vec<u8>> = (0..70_000usize)
        .map(|i| {
            let mut packet = Vec::with_capacity(64);
            RtpHeader {
                marker: false,
                payload_type: 8,
                sequence_number: 65_500u16.wrapping_add(i as u16),
                timestamp: i as u32 * 160,
                ssrc: 0x0bad_cafe,
            }
            .append(&[], &mut packet)
            .unwrap();
            packet.extend_from_slice(&(i as u32).to_be_bytes());
            packet
        })
        .collect();
    let theirs = libsrtp(suite, "protect-rtp", &plain);
    let mut receiver = context(suite);
    for (line, original) in theirs.iter().zip(&plain) {
        let mut packet = unhex(line);
        receiver.unprotect_rtp(&mut packet).unwrap();
        assert_eq!(&packet, original);
    }
    assert_eq!(receiver.rollover_counter(0x0bad_cafe), Some(2));
}

#[test]
fn srtcp_libsrtp_to_ours_and_back() {
    for suite in SUITES {
        let plain = rtcp_compounds(300);

        // libsrtp numbers SRTCP from 1, ours from 0: after one throwaway
        // packet ours matches libsrtp byte for byte.
        let theirs: Vec<Vec<u8>> = libsrtp(suite, "protect-rtcp", &plain)
            .iter()
            .map(|line| unhex(line))
            .collect();
        let mut sender = context(suite);
        sender.protect_rtcp(&mut plain[0].clone()).unwrap();
        for (compound, expected) in plain.iter().zip(&theirs) {
            let mut ours = compound.clone();
            sender.protect_rtcp(&mut ours).unwrap();
            assert_eq!(&ours, expected, "{suite:?}");
        }

        let mut receiver = context(suite);
        for (packet, original) in reordered(&theirs).iter().zip(reordered(&plain)) {
            let mut packet = packet.clone();
            receiver.unprotect_rtcp(&mut packet).unwrap();
            assert_eq!(packet, original);
        }
        let mut replay = theirs[299].clone();
        assert_eq!(
            receiver.unprotect_rtcp(&mut replay),
            Err(SrtpError::Replayed(300))
        );

        let mut sender = context(suite);
        let mut ours: Vec<Vec<u8>> = plain
            .iter()
            .map(|compound| {
                let mut packet = compound.clone();
                sender.protect_rtcp(&mut packet).unwrap();
                packet
            })
            .collect();
        let mut tampered = plain[10].clone();
        sender.protect_rtcp(&mut tampered).unwrap();
        tampered[12] ^= 1;
        ours.push(tampered);
        let lines = libsrtp(suite, "unprotect-rtcp", &ours);
        for (line, original) in lines.iter().zip(&plain) {
            assert_eq!(&unhex(line), original, "{suite:?}");
        }
        assert_eq!(lines[lines.len() - 1], ERR_AUTH_FAIL);
    }
}
