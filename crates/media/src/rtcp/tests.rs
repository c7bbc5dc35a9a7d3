#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use super::*;
use crate::error::RtcpError;

fn block(ssrc: u32) -> ReportBlock {
    ReportBlock {
        ssrc,
        fraction_lost: 64,
        cumulative_lost: -3,
        extended_highest_sequence: 0x0001_0005,
        jitter: 42,
        last_sender_report: 0x1234_5678,
        delay_since_last_sender_report: 65_536,
    }
}

fn info() -> SenderInfo {
    SenderInfo {
        ntp_timestamp: 0xe1f0_0000_8000_0000,
        rtp_timestamp: 160,
        packet_count: 7,
        octet_count: 1120,
    }
}

#[test]
fn compound_round_trip() {
    let mut buf = vec![];
    RtcpWriter::new(&mut buf)
        .sender_report(0xaaaa, &info(), &[block(1), block(2)])
        .unwrap()
        .source_description(
            0xaaaa,
            &[
                SdesItem::cname(b"sbc@example.net"),
                SdesItem {
                    kind: 6,
                    value: b"switchboard",
                },
            ],
        )
        .unwrap()
        .goodbye(&[0xaaaa, 0xbbbb], Some(b"done"))
        .unwrap();
    assert_eq!(buf.len() % 4, 0);
    let compound = RtcpCompound::parse(&buf).unwrap();
    let packets: Vec<_> = compound.packets().collect();
    assert_eq!(packets.len(), 3);
    let RtcpPacket::SenderReport(sr) = packets[0] else {
        panic!("{:?}", packets[0]);
    };
    assert_eq!(sr.ssrc(), 0xaaaa);
    assert_eq!(sr.sender_info(), info());
    assert_eq!(
        sr.report_blocks().collect::<Vec<_>>(),
        vec![block(1), block(2)]
    );
    assert!(sr.profile_extension().is_empty());
    let RtcpPacket::SourceDescription(sdes) = packets[1] else {
        panic!("{:?}", packets[1]);
    };
    let chunks: Vec<_> = sdes.chunks().collect();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].ssrc(), 0xaaaa);
    assert_eq!(chunks[0].cname(), Some(&b"sbc@example.net"[..]));
    assert_eq!(chunks[0].items().count(), 2);
    let RtcpPacket::Goodbye(bye) = packets[2] else {
        panic!("{:?}", packets[2]);
    };
    assert_eq!(bye.sources().collect::<Vec<_>>(), vec![0xaaaa, 0xbbbb]);
    assert_eq!(bye.reason(), Some(&b"done"[..]));
    assert_eq!(packets[2].packet_type(), 203);
}

#[test]
fn receiver_report_bytes() {
    // An RR with one block, written by hand from RFC 3550 §6.4.2.
    let bytes = [
        0x81, 201, 0, 7, // V=2 RC=1, length 7
        0, 0, 0x11, 0x11, // sender SSRC
        0, 0, 0x22, 0x22, // source
        0x40, 0xff, 0xff, 0xfe, // fraction 1/4, cumulative lost -2
        0, 1, 0, 5, // ext highest seq
        0, 0, 0, 42, // jitter
        0x12, 0x34, 0x56, 0x78, // LSR
        0, 1, 0, 0, // DLSR
    ];
    let compound = RtcpCompound::parse(&bytes).unwrap();
    let Some(RtcpPacket::ReceiverReport(rr)) = compound.packets().next() else {
        panic!();
    };
    assert_eq!(rr.ssrc(), 0x1111);
    let b = rr.report_blocks().next().unwrap();
    assert_eq!(b.ssrc, 0x2222);
    assert_eq!(b.fraction_lost, 64);
    assert_eq!(b.cumulative_lost, -2);
    assert_eq!(b.extended_highest_sequence, 0x0001_0005);
    assert_eq!(b.jitter, 42);
    assert_eq!(b.last_sender_report, 0x1234_5678);
    assert_eq!(b.delay_since_last_sender_report, 0x0001_0000);
    // The writer produces the same bytes.
    let mut out = vec![];
    RtcpWriter::new(&mut out)
        .receiver_report(
            0x1111,
            &[ReportBlock {
                ssrc: 0x2222,
                cumulative_lost: -2,
                ..block(0)
            }],
        )
        .unwrap();
    assert_eq!(out, bytes);
}

#[test]
fn cumulative_lost_is_24_bit_signed_and_clamped() {
    for (lost, written) in [
        (8_388_607, 8_388_607),
        (9_000_000, 8_388_607),
        (-8_388_608, -8_388_608),
        (-9_000_000, -8_388_608),
        (0, 0),
    ] {
        let mut out = vec![];
        RtcpWriter::new(&mut out)
            .receiver_report(
                1,
                &[ReportBlock {
                    cumulative_lost: lost,
                    ..block(2)
                }],
            )
            .unwrap();
        let compound = RtcpCompound::parse(&out).unwrap();
        let Some(RtcpPacket::ReceiverReport(rr)) = compound.packets().next() else {
            panic!();
        };
        let b = rr.report_blocks().next().unwrap();
        assert_eq!(b.cumulative_lost, written, "{lost}");
        assert_eq!(b.fraction_lost, 64);
    }
}

#[test]
fn unknown_types_and_padding_on_the_last_packet() {
    let mut buf = vec![];
    RtcpWriter::new(&mut buf).receiver_report(1, &[]).unwrap();
    // A padded APP packet (PT 204, subtype 3): name + 4 data + 4 padding.
    buf.extend_from_slice(&[0xa3, 204, 0, 4, 0, 0, 0, 1, b'n', b'a', b'm', b'e']);
    buf.extend_from_slice(&[9, 9, 9, 9, 0, 0, 0, 4]);
    let compound = RtcpCompound::parse(&buf).unwrap();
    let packets: Vec<_> = compound.packets().collect();
    let RtcpPacket::Other(app) = packets[1] else {
        panic!();
    };
    assert_eq!(app.packet_type(), 204);
    assert_eq!(app.count(), 3);
    assert_eq!(
        app.body(),
        &[0, 0, 0, 1, b'n', b'a', b'm', b'e', 9, 9, 9, 9]
    );
}

#[test]
fn rfc3550_a2_validity_checks() {
    let mut rr = vec![];
    RtcpWriter::new(&mut rr)
        .receiver_report(1, &[block(2)])
        .unwrap();
    let mut sdes = vec![];
    RtcpWriter::new(&mut sdes)
        .receiver_report(1, &[])
        .unwrap()
        .source_description(1, &[SdesItem::cname(b"x")])
        .unwrap();

    assert!(matches!(
        RtcpCompound::parse(&[]),
        Err(RtcpError::Truncated { needed: 4, .. })
    ));
    // Version 1.
    let mut bad = rr.clone();
    bad[0] = 0x41;
    assert_eq!(
        RtcpCompound::parse(&bad),
        Err(RtcpError::Version {
            offset: 0,
            version: 1
        })
    );
    // Starts with SDES.
    assert_eq!(
        RtcpCompound::parse(&sdes[8..]),
        Err(RtcpError::FirstNotReport(202))
    );
    // Length field past the end, and a trailing partial packet.
    assert!(matches!(
        RtcpCompound::parse(&rr[..rr.len() - 4]),
        Err(RtcpError::Truncated { .. })
    ));
    let mut trailing = rr.clone();
    trailing.extend_from_slice(&[0x80, 202]);
    assert!(matches!(
        RtcpCompound::parse(&trailing),
        Err(RtcpError::Truncated { offset: 32, .. })
    ));
    // Padding bit on the first of two packets.
    let mut padded_first = sdes.clone();
    padded_first[0] |= 0x20;
    assert_eq!(
        RtcpCompound::parse(&padded_first),
        Err(RtcpError::PaddingNotLast(0))
    );
    // Padding count zero, or larger than the body.
    let mut zero_pad = rr.clone();
    zero_pad[0] |= 0x20;
    *zero_pad.last_mut().unwrap() = 0;
    assert_eq!(RtcpCompound::parse(&zero_pad), Err(RtcpError::Padding(0)));
    *zero_pad.last_mut().unwrap() = 29;
    assert_eq!(RtcpCompound::parse(&zero_pad), Err(RtcpError::Padding(0)));
    // RC=1 but no room for the block.
    let short_rr = [0x81, 201, 0, 1, 0, 0, 0, 1];
    assert!(matches!(
        RtcpCompound::parse(&short_rr),
        Err(RtcpError::Malformed {
            packet_type: 201,
            ..
        })
    ));
    // SR without sender info.
    let short_sr = [0x80, 200, 0, 1, 0, 0, 0, 1];
    assert!(matches!(
        RtcpCompound::parse(&short_sr),
        Err(RtcpError::Malformed {
            packet_type: 200,
            ..
        })
    ));
    // SDES item running past the end, and chunk without terminator.
    let mut long_item = sdes.clone();
    long_item[8 + 9] = 200; // the CNAME length
    assert!(matches!(
        RtcpCompound::parse(&long_item),
        Err(RtcpError::Malformed {
            packet_type: 202,
            ..
        })
    ));
    let mut two_chunks = sdes.clone();
    two_chunks[8] = 0x82; // SC=2, only one chunk present
    assert!(matches!(
        RtcpCompound::parse(&two_chunks),
        Err(RtcpError::Malformed {
            packet_type: 202,
            ..
        })
    ));
    // BYE: SC=2 with one SSRC; reason longer than the packet.
    let mut bye = rr.clone();
    bye.extend_from_slice(&[0x82, 203, 0, 1, 0, 0, 0, 1]);
    assert!(matches!(
        RtcpCompound::parse(&bye),
        Err(RtcpError::Malformed {
            packet_type: 203,
            ..
        })
    ));
    let mut bye = rr.clone();
    bye.extend_from_slice(&[0x81, 203, 0, 2, 0, 0, 0, 1, 9, b'a', b'b', b'c']);
    assert!(matches!(
        RtcpCompound::parse(&bye),
        Err(RtcpError::Malformed {
            packet_type: 203,
            ..
        })
    ));
}

#[test]
fn writer_limits() {
    let mut out = vec![];
    let blocks = vec![block(1); 32];
    assert_eq!(
        RtcpWriter::new(&mut out).receiver_report(1, &blocks).err(),
        Some(RtcpError::TooManyEntries(32))
    );
    let long = [b'a'; 256];
    assert_eq!(
        RtcpWriter::new(&mut out)
            .source_description(1, &[SdesItem::cname(&long)])
            .err(),
        Some(RtcpError::TextTooLong(256))
    );
    assert_eq!(
        RtcpWriter::new(&mut out).goodbye(&[1], Some(&long)).err(),
        Some(RtcpError::TextTooLong(256))
    );
    assert!(out.is_empty());
    // 31 blocks is the maximum and parses back.
    RtcpWriter::new(&mut out)
        .receiver_report(1, &blocks[..31])
        .unwrap();
    let compound = RtcpCompound::parse(&out).unwrap();
    let Some(RtcpPacket::ReceiverReport(rr)) = compound.packets().next() else {
        panic!();
    };
    assert_eq!(rr.report_blocks().len(), 31);
}

#[test]
fn sdes_chunks_from_another_writer() {
    // Two chunks; the first has two items and needs 2 bytes of null
    // padding, the second's CNAME ends exactly on a boundary + null word.
    let mut buf = vec![];
    RtcpWriter::new(&mut buf).receiver_report(1, &[]).unwrap();
    buf.extend_from_slice(&[0x82, 202, 0, 7]);
    buf.extend_from_slice(&[0, 0, 0, 1, 1, 2, b'a', b'b', 2, 1, b'c', 0]);
    buf.extend_from_slice(&[0, 0, 0, 2, 1, 6, b'd', b'e', b'f', b'g', b'h', b'i']);
    buf.extend_from_slice(&[0, 0, 0, 0]);
    let compound = RtcpCompound::parse(&buf).unwrap();
    let Some(RtcpPacket::SourceDescription(sdes)) = compound.packets().nth(1) else {
        panic!();
    };
    let chunks: Vec<_> = sdes.chunks().collect();
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0].cname(), Some(&b"ab"[..]));
    assert_eq!(
        chunks[0].items().nth(1),
        Some(SdesItem {
            kind: 2,
            value: b"c"
        })
    );
    assert_eq!(chunks[1].ssrc(), 2);
    assert_eq!(chunks[1].cname(), Some(&b"defghi"[..]));
}

fn at(start: Instant, ms: u64) -> Instant {
    start + Duration::from_millis(ms)
}

#[test]
fn probation_then_counting() {
    let t0 = Instant::now();
    let mut stats = ReceptionStatistics::new(7, 8000);
    assert_eq!(stats.report_block(t0), None);
    assert_eq!(stats.handle_packet(100, 0, t0), SequenceVerdict::Probation);
    assert_eq!(
        stats.handle_packet(101, 160, at(t0, 20)),
        SequenceVerdict::Valid
    );
    assert_eq!(stats.received(), 1);
    assert_eq!(stats.expected(), 1);
    // A non-sequential packet during probation restarts it.
    let mut other = ReceptionStatistics::new(8, 8000);
    assert_eq!(other.handle_packet(10, 0, t0), SequenceVerdict::Probation);
    assert_eq!(other.handle_packet(12, 0, t0), SequenceVerdict::Probation);
    assert_eq!(other.handle_packet(13, 0, t0), SequenceVerdict::Valid);
}

#[test]
fn loss_wraparound_and_fraction() {
    let t0 = Instant::now();
    let mut stats = ReceptionStatistics::new(7, 8000);
    let mut seq: u16 = 65_530;
    let mut ts: u32 = 0;
    let mut sent = 0;
    // 20 packets across the wrap, every 5th lost (after probation).
    for i in 0..20u32 {
        if i < 2 || i % 5 != 0 {
            stats.handle_packet(seq, ts, at(t0, u64::from(i) * 20));
        }
        sent += 1;
        seq = seq.wrapping_add(1);
        ts += 160;
    }
    assert_eq!(sent, 20);
    // Base is the second packet (65531); highest is 65530 + 19 = 13 after wrap.
    assert_eq!(stats.extended_highest_sequence(), (1 << 16) + 13);
    assert_eq!(stats.expected(), 19);
    // Lost: i = 5, 10, 15 (i = 0 is the probation packet, before base).
    assert_eq!(stats.received(), 16);
    assert_eq!(stats.cumulative_lost(), 3);
    let report = stats.report_block(at(t0, 400)).unwrap();
    assert_eq!(report.ssrc, 7);
    assert_eq!(report.cumulative_lost, 3);
    assert_eq!(report.fraction_lost, (3 * 256 / 19) as u8);
    assert_eq!(report.extended_highest_sequence, 65_536 + 13);
    // Perfect timing: no jitter.
    assert_eq!(report.jitter, 0);
    assert_eq!(report.last_sender_report, 0);
    // Next interval: 10 packets, none lost, one duplicate.
    for i in 0..10u32 {
        stats.handle_packet(seq, ts, at(t0, 400 + u64::from(i) * 20));
        seq = seq.wrapping_add(1);
        ts += 160;
    }
    stats.handle_packet(seq.wrapping_sub(1), ts - 160, at(t0, 600));
    let report = stats.report_block(at(t0, 620)).unwrap();
    assert_eq!(report.fraction_lost, 0);
    assert_eq!(report.cumulative_lost, 2);
}

#[test]
fn large_jump_and_restart() {
    let t0 = Instant::now();
    let mut stats = ReceptionStatistics::new(7, 8000);
    stats.handle_packet(1000, 0, t0);
    stats.handle_packet(1001, 0, t0);
    stats.handle_packet(1002, 0, t0);
    // A jump of 10,000: dropped once, then taken as a restart.
    assert_eq!(stats.handle_packet(11_000, 0, t0), SequenceVerdict::Jumped);
    assert_eq!(stats.received(), 2);
    assert_eq!(
        stats.handle_packet(11_001, 0, t0),
        SequenceVerdict::Restarted
    );
    assert_eq!(stats.received(), 1);
    assert_eq!(stats.expected(), 1);
    // Reordering within MAX_MISORDER is counted, no new cycle.
    assert_eq!(stats.handle_packet(10_990, 0, t0), SequenceVerdict::Valid);
    assert_eq!(stats.extended_highest_sequence(), 11_001);
    assert_eq!(stats.cumulative_lost(), -1);
}

#[test]
fn jitter_follows_rfc3550_a8() {
    let t0 = Instant::now();
    let mut stats = ReceptionStatistics::new(7, 8000);
    // Packets every 20 ms (160 units); the third arrives 5 ms (40 units) late.
    stats.handle_packet(1, 0, t0);
    stats.handle_packet(2, 160, at(t0, 20));
    stats.handle_packet(3, 320, at(t0, 45));
    // D = 40: J = 0 + 40 - (0 + 8) / 16 = 40 (scaled by 16) -> 2.
    assert_eq!(stats.jitter(), 2);
    stats.handle_packet(4, 480, at(t0, 60));
    // D = -40 -> |D| = 40: J = 40 + 40 - (48 >> 4 = 3) = 77 -> 4.
    assert_eq!(stats.jitter(), 4);
    // Timestamps wrapping around 2^32 make no spurious jitter.
    let mut wrap = ReceptionStatistics::new(9, 8000);
    let mut ts = u32::MAX - 200;
    for i in 0..5u16 {
        wrap.handle_packet(i, ts, at(t0, u64::from(i) * 20));
        ts = ts.wrapping_add(160);
    }
    assert_eq!(wrap.jitter(), 0);
}

#[test]
fn lsr_and_dlsr() {
    let t0 = Instant::now();
    let mut stats = ReceptionStatistics::new(7, 8000);
    stats.handle_packet(1, 0, t0);
    stats.handle_packet(2, 160, t0);
    stats.handle_sender_report(0x0000_1234_5678_0000, t0);
    let report = stats.report_block(at(t0, 1500)).unwrap();
    assert_eq!(report.last_sender_report, 0x1234_5678);
    // 1.5 s in 1/65536 s.
    assert_eq!(report.delay_since_last_sender_report, 98_304);
}
