#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sdp::Direction;

use super::test_support::{
    buffer, carrier_addr as carrier_sdp, context, leg_config, send, teams_addr as teams_sdp,
    CARRIER, CARRIER_PORT, TEAMS, TEAMS_PORT,
};
use super::*;
use crate::RtcpWriter;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A 172-byte G.711 packet: 12-byte header and 160 bytes of payload.
fn rtp(ssrc: u32, seq: u16, ts: u32, fill: u8) -> Vec<u8> {
    test_support::rtp(ssrc, seq, ts, 0, false, &[fill; 160])
}

fn forwarded(verdict: Verdict) -> Forward {
    match verdict {
        Verdict::Forward(forward) => forward,
        Verdict::Drop(reason) => panic!("dropped: {reason}"),
        Verdict::Consumed => panic!("consumed"),
    }
}

fn plain_call(now: Instant, config: RelayConfig) -> MediaRelay {
    let mut relay = MediaRelay::new(config);
    let carrier = leg_config(CARRIER_PORT, carrier_sdp(), false);
    let teams = leg_config(TEAMS_PORT, teams_sdp(), false);
    relay.add_leg(now, CARRIER, carrier).unwrap();
    relay.add_leg(now, TEAMS, teams).unwrap();
    relay.bridge(now, CARRIER, TEAMS).unwrap();
    relay
}

/// Carrier plain RTP, Teams SRTP: Teams sends with key 0x11 (our inbound
/// context for that leg), we send to Teams with key 0x22.
fn srtp_call(now: Instant) -> MediaRelay {
    let mut relay = plain_call(now, RelayConfig::default());
    relay.remove_leg(TEAMS).unwrap();
    let teams = leg_config(TEAMS_PORT, teams_sdp(), true);
    relay.add_leg(now, TEAMS, teams).unwrap();
    relay.bridge(now, CARRIER, TEAMS).unwrap();
    relay
}

#[test]
fn forwards_both_ways_unchanged() {
    let now = Instant::now();
    let mut relay = plain_call(now, RelayConfig::default());
    let packet = rtp(0x1234, 1, 160, 0xd5);
    let (verdict, out) = send(&mut relay, now, CARRIER_PORT, carrier_sdp(), &packet);
    assert_eq!(
        forwarded(verdict),
        Forward {
            local_port: TEAMS_PORT,
            destination: teams_sdp(),
            len: 172
        }
    );
    assert_eq!(out, packet);
    let back = rtp(0x9999, 7, 1000, 0xff);
    let (verdict, out) = send(&mut relay, now, TEAMS_PORT, teams_sdp(), &back);
    assert_eq!(forwarded(verdict).local_port, CARRIER_PORT);
    assert_eq!(forwarded(verdict).destination, carrier_sdp());
    assert_eq!(out, back);
    assert_eq!(relay.counters().forwarded_rtp, 2);
    let stats = relay.leg_stats(TEAMS).unwrap();
    assert_eq!((stats.packets_in, stats.packets_out), (1, 1));
    assert_eq!((stats.bytes_in, stats.bytes_out), (172, 172));
}

#[test]
fn latches_onto_the_nat_address_and_drops_a_hijacker() {
    let now = Instant::now();
    let mut relay = plain_call(now, RelayConfig::default());
    // The carrier is behind NAT: its packets come from another address
    // than its SDP said.
    let nat = addr("203.0.113.5:61000");
    let (verdict, _) = send(&mut relay, now, CARRIER_PORT, nat, &rtp(1, 1, 0, 0));
    forwarded(verdict);
    assert_eq!(relay.latched_source(CARRIER), Some(nat));
    assert_eq!(
        relay.poll_event(),
        Some(MediaEvent::Latched {
            leg: CARRIER,
            source: nat,
            rtcp: false
        })
    );
    // Symmetric RTP: Teams' media goes back to the NAT address.
    let (verdict, _) = send(&mut relay, now, TEAMS_PORT, teams_sdp(), &rtp(2, 1, 0, 0));
    assert_eq!(forwarded(verdict).destination, nat);
    // Someone else sends to the carrier port: dropped, nothing changes.
    let attacker = addr("203.0.113.66:4444");
    let later = now + Duration::from_millis(20);
    let (verdict, _) = send(
        &mut relay,
        later,
        CARRIER_PORT,
        attacker,
        &rtp(1, 2, 160, 0),
    );
    assert_eq!(verdict, Verdict::Drop(DropReason::UnlatchedSource));
    assert_eq!(relay.latched_source(CARRIER), Some(nat));
    assert_eq!(relay.counters().dropped(DropReason::UnlatchedSource), 1);
    assert_eq!(relay.leg_stats(CARRIER).unwrap().dropped, 1);
    // Even the SDP address is refused once latched elsewhere.
    let (verdict, _) = send(
        &mut relay,
        later,
        CARRIER_PORT,
        carrier_sdp(),
        &rtp(1, 3, 320, 0),
    );
    assert_eq!(verdict, Verdict::Drop(DropReason::UnlatchedSource));
    // After 2 s of silence from the latched source, a new one may latch.
    let quiet = now + Duration::from_millis(2100);
    let (verdict, _) = send(
        &mut relay,
        quiet,
        CARRIER_PORT,
        attacker,
        &rtp(1, 4, 480, 0),
    );
    forwarded(verdict);
    assert_eq!(relay.latched_source(CARRIER), Some(attacker));
}

#[test]
fn first_packet_policy_keeps_the_latch_until_the_sdp_changes() {
    let now = Instant::now();
    let config = RelayConfig {
        latch: LatchPolicy::FirstPacket,
        ..RelayConfig::default()
    };
    let mut relay = plain_call(now, config);
    let first = addr("203.0.113.5:61000");
    forwarded(send(&mut relay, now, CARRIER_PORT, first, &rtp(1, 1, 0, 0)).0);
    let much_later = now + Duration::from_secs(60);
    let other = addr("203.0.113.9:62000");
    let (verdict, _) = send(
        &mut relay,
        much_later,
        CARRIER_PORT,
        other,
        &rtp(1, 2, 0, 0),
    );
    assert_eq!(verdict, Verdict::Drop(DropReason::UnlatchedSource));
    // A re-INVITE names a new address: the latch is cleared.
    relay
        .update_remote(much_later, CARRIER, Some(other), None)
        .unwrap();
    assert_eq!(relay.latched_source(CARRIER), None);
    forwarded(
        send(
            &mut relay,
            much_later,
            CARRIER_PORT,
            other,
            &rtp(1, 3, 0, 0),
        )
        .0,
    );
    assert_eq!(relay.latched_source(CARRIER), Some(other));
}

#[test]
fn sdp_only_policy_accepts_only_the_sdp_address() {
    let now = Instant::now();
    let config = RelayConfig {
        latch: LatchPolicy::SdpOnly,
        ..RelayConfig::default()
    };
    let mut relay = plain_call(now, config);
    let nat = addr("203.0.113.5:61000");
    let (verdict, _) = send(&mut relay, now, CARRIER_PORT, nat, &rtp(1, 1, 0, 0));
    assert_eq!(verdict, Verdict::Drop(DropReason::UnlatchedSource));
    forwarded(
        send(
            &mut relay,
            now,
            CARRIER_PORT,
            carrier_sdp(),
            &rtp(1, 2, 0, 0),
        )
        .0,
    );
}

#[test]
fn srtp_to_rtp_and_back_with_independent_contexts() {
    let now = Instant::now();
    let mut relay = srtp_call(now);
    // Teams' side: it encrypts with its key (0x11) and decrypts ours (0x22).
    let mut teams_tx = context(0x11);
    let mut teams_rx = context(0x22);

    // Teams -> carrier: SRTP in, plain RTP out, byte-exact.
    for seq in 0..5u16 {
        let plain = rtp(0xabcd, 1000 + seq, 160 * u32::from(seq), seq as u8);
        let mut protected = plain.clone();
        teams_tx.protect_rtp(&mut protected).unwrap();
        assert_ne!(protected[12..172], plain[12..]);
        let (verdict, out) = send(&mut relay, now, TEAMS_PORT, teams_sdp(), &protected);
        let forward = forwarded(verdict);
        assert_eq!(forward.destination, carrier_sdp());
        assert_eq!(out, plain);
    }

    // Carrier -> Teams: plain in, SRTP out that Teams can decrypt.
    for seq in 0..5u16 {
        let plain = rtp(
            0x5555,
            7 + seq,
            8000 + 160 * u32::from(seq),
            0x40 + seq as u8,
        );
        let (verdict, out) = send(&mut relay, now, CARRIER_PORT, carrier_sdp(), &plain);
        assert_eq!(forwarded(verdict).len, 182);
        let mut received = out.clone();
        teams_rx.unprotect_rtp(&mut received).unwrap();
        assert_eq!(received, plain);
    }

    // SRTCP from Teams arrives at the carrier as plain RTCP.
    let mut rtcp = Vec::new();
    RtcpWriter::new(&mut rtcp)
        .receiver_report(0xabcd, &[])
        .unwrap();
    let mut srtcp = rtcp.clone();
    teams_tx.protect_rtcp(&mut srtcp).unwrap();
    let (verdict, out) = send(&mut relay, now, TEAMS_PORT, teams_sdp(), &srtcp);
    assert_eq!(forwarded(verdict).local_port, CARRIER_PORT);
    assert_eq!(out, rtcp);
    // And the carrier's RTCP reaches Teams as SRTCP.
    let mut rtcp = Vec::new();
    RtcpWriter::new(&mut rtcp)
        .receiver_report(0x5555, &[])
        .unwrap();
    let (verdict, out) = send(&mut relay, now, CARRIER_PORT, carrier_sdp(), &rtcp);
    assert_eq!(forwarded(verdict).len, rtcp.len() + 14);
    let mut received = out;
    teams_rx.unprotect_rtcp(&mut received).unwrap();
    assert_eq!(received, rtcp);
    assert_eq!(relay.counters().forwarded_rtcp, 2);
}

#[test]
fn srtp_authentication_failure_and_replay_are_dropped_before_latching() {
    let now = Instant::now();
    let mut relay = srtp_call(now);
    let mut teams_tx = context(0x11);
    let mut packet = rtp(0xabcd, 1, 160, 1);
    teams_tx.protect_rtp(&mut packet).unwrap();

    // A forger without the key, from another address: dropped, no latch.
    let forger = addr("203.0.113.66:4444");
    let mut forged = packet.clone();
    forged[20] ^= 1;
    let (verdict, _) = send(&mut relay, now, TEAMS_PORT, forger, &forged);
    assert_eq!(verdict, Verdict::Drop(DropReason::Authentication));
    assert_eq!(relay.latched_source(TEAMS), None);

    forwarded(send(&mut relay, now, TEAMS_PORT, teams_sdp(), &packet).0);
    let (verdict, _) = send(&mut relay, now, TEAMS_PORT, teams_sdp(), &packet);
    assert_eq!(verdict, Verdict::Drop(DropReason::Replay));
    let counters = relay.counters();
    assert_eq!(counters.dropped(DropReason::Authentication), 1);
    assert_eq!(counters.dropped(DropReason::Replay), 1);
    assert_eq!(counters.dropped_total(), 2);
    assert_eq!(counters.received, 3);
}

/// Sequence and timestamp as the receiver reads them.
fn header(packet: &[u8]) -> (u32, u16, u32) {
    let p = RtpPacket::parse(packet).unwrap();
    (p.ssrc(), p.sequence_number(), p.timestamp())
}

#[test]
fn stream_to_the_carrier_stays_continuous_across_a_transfer() {
    let mut now = Instant::now();
    let mut relay = plain_call(now, RelayConfig::default());
    let mut seen = Vec::new();
    for i in 0..10u16 {
        let packet = rtp(0xaaaa, 30000 + i, 1_000_000 + 160 * u32::from(i), 0);
        seen.push(header(
            &send(&mut relay, now, TEAMS_PORT, teams_sdp(), &packet).1,
        ));
        now += Duration::from_millis(20);
    }
    // Transfer: the carrier leg is re-bridged to a new Teams leg whose
    // stream has another SSRC and unrelated numbers.
    let new_teams = LegKey::new(2, 1);
    let new_addr = addr("198.51.100.30:51000");
    let config = leg_config(40004, new_addr, false);
    relay.add_leg(now, new_teams, config).unwrap();
    relay.bridge(now, CARRIER, new_teams).unwrap();
    assert_eq!(relay.peer_of(TEAMS), None);
    // The old leg's packets now go nowhere.
    let stale = rtp(0xaaaa, 30010, 0, 0);
    let (verdict, _) = send(&mut relay, now, TEAMS_PORT, teams_sdp(), &stale);
    assert_eq!(verdict, Verdict::Drop(DropReason::NoPeer));
    now += Duration::from_millis(100);
    for i in 0..10u16 {
        let packet = rtp(0xbbbb, 5 + i, 77 + 160 * u32::from(i), 0);
        let (verdict, out) = send(&mut relay, now, 40004, new_addr, &packet);
        assert_eq!(forwarded(verdict).destination, carrier_sdp());
        seen.push(header(&out));
        now += Duration::from_millis(20);
    }
    for pair in seen.windows(2) {
        let ((ssrc0, seq0, ts0), (ssrc1, seq1, ts1)) = (pair[0], pair[1]);
        assert_eq!((ssrc0, ssrc1), (0xaaaa, 0xaaaa));
        assert_eq!(seq1, seq0.wrapping_add(1));
        let step = ts1.wrapping_sub(ts0);
        assert!((160..=160 * 6).contains(&step), "timestamp step {step}");
    }
    // The gap was 120 ms: 960 timestamp units.
    assert_eq!(seen[10].2.wrapping_sub(seen[9].2), 960);
}

#[test]
fn a_prompt_and_the_relay_share_one_stream() {
    let mut now = Instant::now();
    let mut relay = srtp_call(now);
    let mut teams_rx = context(0x22);
    let mut seqs = Vec::new();
    for i in 0..3u16 {
        let out = send(
            &mut relay,
            now,
            CARRIER_PORT,
            carrier_sdp(),
            &rtp(7, i, 0, 0),
        )
        .1;
        let mut out = out;
        teams_rx.unprotect_rtp(&mut out).unwrap();
        seqs.push(header(&out).1);
        now += Duration::from_millis(20);
    }
    for i in 0..3u16 {
        let (mut buf, len) = buffer(&rtp(0xfeed, 900 + i, 0, 1));
        let forward = forwarded(relay.handle_injected_rtp(now, TEAMS, &mut buf, len));
        assert_eq!(forward.destination, teams_sdp());
        let mut out = buf[..forward.len].to_vec();
        teams_rx.unprotect_rtp(&mut out).unwrap();
        let (ssrc, seq, _) = header(&out);
        assert_eq!(ssrc, 7);
        seqs.push(seq);
        now += Duration::from_millis(20);
    }
    assert_eq!(seqs, [0, 1, 2, 3, 4, 5]);
}

#[test]
fn rtcp_ssrcs_follow_the_rewritten_streams() {
    let mut now = Instant::now();
    let mut relay = plain_call(now, RelayConfig::default());
    // Teams' first stream 0xaaaa, then a new source 0xbbbb after a
    // re-INVITE: the carrier keeps seeing 0xaaaa.
    for (ssrc, seq) in [(0xaaaa, 10), (0xbbbb, 500)] {
        send(
            &mut relay,
            now,
            TEAMS_PORT,
            teams_sdp(),
            &rtp(ssrc, seq, 0, 0),
        );
        now += Duration::from_millis(20);
    }
    // Teams' SR about its current stream 0xbbbb reaches the carrier as
    // a report from 0xaaaa.
    let mut rtcp = Vec::new();
    let info = crate::SenderInfo::default();
    RtcpWriter::new(&mut rtcp)
        .sender_report(0xbbbb, &info, &[])
        .unwrap();
    let out = send(&mut relay, now, TEAMS_PORT, teams_sdp(), &rtcp).1;
    assert_eq!(&out[4..8], &0xaaaa_u32.to_be_bytes());
    // The carrier's RR about 0xaaaa reaches Teams as a report about its
    // current stream 0xbbbb, sequence number back in Teams' numbering.
    send(
        &mut relay,
        now,
        CARRIER_PORT,
        carrier_sdp(),
        &rtp(0x77, 1, 0, 0),
    );
    let block = crate::ReportBlock {
        ssrc: 0xaaaa,
        extended_highest_sequence: 11,
        ..crate::ReportBlock::default()
    };
    let mut rr = Vec::new();
    RtcpWriter::new(&mut rr)
        .receiver_report(0x77, &[block])
        .unwrap();
    let out = send(&mut relay, now, CARRIER_PORT, carrier_sdp(), &rr).1;
    let compound = RtcpCompound::parse(&out).unwrap();
    let Some(crate::RtcpPacket::ReceiverReport(report)) = compound.packets().next() else {
        panic!("RR");
    };
    let block = report.report_blocks().next().unwrap();
    assert_eq!(block.ssrc, 0xbbbb);
    assert_eq!(block.extended_highest_sequence, 500);
}

#[test]
fn rtcp_on_a_separate_port_latches_and_routes_separately() {
    let now = Instant::now();
    let mut relay = MediaRelay::new(RelayConfig::default());
    let mut a = LegConfig::new(LegPorts {
        rtp: 40000,
        rtcp: Some(40001),
    });
    a.remote = Some(addr("192.0.2.10:5004"));
    a.remote_rtcp = Some(addr("192.0.2.10:5005"));
    let mut b = LegConfig::new(LegPorts {
        rtp: 40002,
        rtcp: Some(40003),
    });
    b.remote = Some(addr("198.51.100.20:6000"));
    b.remote_rtcp = Some(addr("198.51.100.20:6001"));
    relay.add_leg(now, CARRIER, a).unwrap();
    relay.add_leg(now, TEAMS, b).unwrap();
    relay.bridge(now, CARRIER, TEAMS).unwrap();
    let mut rr = Vec::new();
    RtcpWriter::new(&mut rr).receiver_report(1, &[]).unwrap();
    let nat_rtcp = addr("203.0.113.5:7001");
    let forward = forwarded(send(&mut relay, now, 40001, nat_rtcp, &rr).0);
    assert_eq!(forward.local_port, 40003);
    assert_eq!(forward.destination, addr("198.51.100.20:6001"));
    let forward = forwarded(send(&mut relay, now, 40003, addr("198.51.100.20:6001"), &rr).0);
    assert_eq!((forward.local_port, forward.destination), (40001, nat_rtcp));
    // RTP arriving on an RTCP port is refused.
    let (verdict, _) = send(&mut relay, now, 40001, nat_rtcp, &rtp(1, 1, 0, 0));
    assert_eq!(verdict, Verdict::Drop(DropReason::Malformed));
}

#[test]
fn media_timeout_is_raised_once_per_silence() {
    let start = Instant::now();
    let config = RelayConfig {
        media_timeout: Duration::from_secs(5),
        hold_timeout: Some(Duration::from_secs(60)),
        ..RelayConfig::default()
    };
    let mut relay = plain_call(start, config);
    while relay.poll_event().is_some() {}
    let mut now = start;
    let mut events = Vec::new();
    // The carrier keeps sending, Teams goes silent after 1 s.
    while now < start + Duration::from_secs(8) {
        send(
            &mut relay,
            now,
            CARRIER_PORT,
            carrier_sdp(),
            &rtp(1, 0, 0, 0),
        );
        if now < start + Duration::from_secs(1) {
            send(&mut relay, now, TEAMS_PORT, teams_sdp(), &rtp(2, 0, 0, 0));
        }
        now += Duration::from_millis(100);
        while let Some(deadline) = relay.poll_timeout().filter(|d| *d <= now) {
            relay.handle_timeout(deadline.max(now));
        }
        events.extend(std::iter::from_fn(|| relay.poll_event()));
    }
    events.retain(|e| matches!(e, MediaEvent::MediaTimeout { .. }));
    let [MediaEvent::MediaTimeout { leg, idle, on_hold }] = events[..] else {
        panic!("one timeout, got {events:?}");
    };
    assert_eq!(leg, TEAMS);
    assert!(!on_hold);
    // Within the scan resolution (a quarter of the timeout).
    assert!(idle >= Duration::from_secs(5) && idle < Duration::from_millis(6300));
    // Packets again, then silence again: a second event.
    send(&mut relay, now, TEAMS_PORT, teams_sdp(), &rtp(2, 0, 0, 0));
    relay.handle_timeout(now + Duration::from_secs(10));
    let legs: Vec<LegKey> = std::iter::from_fn(|| relay.poll_event())
        .filter_map(|e| match e {
            MediaEvent::MediaTimeout { leg, .. } => Some(leg),
            _ => None,
        })
        .collect();
    assert_eq!(legs, [CARRIER, TEAMS], "both silent for 10 s now");
}

#[test]
fn hold_has_its_own_timeout_and_drops_media_toward_the_holder() {
    let start = Instant::now();
    let config = RelayConfig {
        media_timeout: Duration::from_secs(5),
        hold_timeout: Some(Duration::from_secs(60)),
        ..RelayConfig::default()
    };
    let mut relay = plain_call(start, config);
    // Teams put the carrier on hold: its SDP says sendonly (music), the
    // carrier answers recvonly and stops sending.
    relay
        .set_direction(start, TEAMS, Direction::SendOnly)
        .unwrap();
    relay
        .set_direction(start, CARRIER, Direction::RecvOnly)
        .unwrap();
    let (verdict, _) = send(
        &mut relay,
        start,
        CARRIER_PORT,
        carrier_sdp(),
        &rtp(1, 0, 0, 0),
    );
    assert_eq!(verdict, Verdict::Drop(DropReason::OnHold));
    let mut now = start;
    let mut timeouts = Vec::new();
    while now < start + Duration::from_secs(70) {
        forwarded(send(&mut relay, now, TEAMS_PORT, teams_sdp(), &rtp(2, 0, 0, 0)).0);
        now += Duration::from_secs(1);
        relay.handle_timeout(now);
        while let Some(event) = relay.poll_event() {
            if let MediaEvent::MediaTimeout { leg, idle, on_hold } = event {
                timeouts.push((leg, idle.as_secs(), on_hold));
            }
        }
    }
    // Not after 5 s (the media timeout), once after 60 s.
    assert_eq!(timeouts, [(CARRIER, 60, true)]);
    assert_eq!(relay.counters().dropped(DropReason::OnHold), 1);
}

#[test]
fn drop_reasons_are_counted() {
    let now = Instant::now();
    let mut relay = plain_call(now, RelayConfig::default());
    let stun = [0u8, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42];
    assert_eq!(
        send(&mut relay, now, 1234, carrier_sdp(), &rtp(1, 0, 0, 0)).0,
        Verdict::Drop(DropReason::UnknownPort)
    );
    assert_eq!(
        send(&mut relay, now, CARRIER_PORT, carrier_sdp(), &stun).0,
        Verdict::Drop(DropReason::NotRtp)
    );
    // Padding bit with a padding count larger than the payload.
    let mut bad = rtp(1, 0, 0, 0);
    bad[0] |= 0x20;
    *bad.last_mut().unwrap() = 255;
    assert_eq!(
        send(&mut relay, now, CARRIER_PORT, carrier_sdp(), &bad).0,
        Verdict::Drop(DropReason::Malformed)
    );
    let lonely = LegKey::new(9, 0);
    relay
        .add_leg(
            now,
            lonely,
            LegConfig::new(LegPorts {
                rtp: 40010,
                rtcp: None,
            }),
        )
        .unwrap();
    assert_eq!(
        send(&mut relay, now, 40010, carrier_sdp(), &rtp(1, 0, 0, 0)).0,
        Verdict::Drop(DropReason::NoPeer)
    );
    // Bridged to a leg whose address nobody knows yet.
    let unknown = LegKey::new(9, 1);
    relay
        .add_leg(
            now,
            unknown,
            LegConfig::new(LegPorts {
                rtp: 40012,
                rtcp: None,
            }),
        )
        .unwrap();
    relay.bridge(now, lonely, unknown).unwrap();
    assert_eq!(
        send(&mut relay, now, 40010, carrier_sdp(), &rtp(1, 1, 0, 0)).0,
        Verdict::Drop(DropReason::NoDestination)
    );
    let counters = relay.counters();
    for reason in [
        DropReason::UnknownPort,
        DropReason::NotRtp,
        DropReason::Malformed,
        DropReason::NoPeer,
        DropReason::NoDestination,
    ] {
        assert_eq!(counters.dropped(reason), 1, "{reason}");
    }
    assert_eq!(counters.dropped_total(), 5);
    let mut total = RelayCounters::default();
    total.add(counters);
    total.add(counters);
    assert_eq!(total.dropped(DropReason::NotRtp), 2);
}

#[test]
fn table_updates_are_checked() {
    let now = Instant::now();
    let mut relay = plain_call(now, RelayConfig::default());
    let ports = LegPorts {
        rtp: CARRIER_PORT,
        rtcp: None,
    };
    assert_eq!(
        relay.add_leg(now, CARRIER, LegConfig::new(ports)),
        Err(RelayError::LegExists(CARRIER))
    );
    assert_eq!(
        relay.add_leg(now, LegKey::new(5, 5), LegConfig::new(ports)),
        Err(RelayError::PortInUse(CARRIER_PORT))
    );
    assert_eq!(
        relay.bridge(now, CARRIER, CARRIER),
        Err(RelayError::SelfBridge(CARRIER))
    );
    assert_eq!(relay.remove_leg(CARRIER), Ok(ports));
    assert_eq!(relay.peer_of(TEAMS), None);
    assert_eq!(
        relay.remove_leg(CARRIER),
        Err(RelayError::UnknownLeg(CARRIER))
    );
    // The port is free again, and the slot is reused.
    relay
        .add_leg(now, LegKey::new(5, 5), LegConfig::new(ports))
        .unwrap();
    assert_eq!(relay.len(), 2);
    relay.remove_leg(TEAMS).unwrap();
    relay.remove_leg(LegKey::new(5, 5)).unwrap();
    assert!(relay.is_empty());
    assert_eq!(relay.poll_timeout(), None);
}

proptest! {
    #[test]
    fn random_datagrams_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        port in prop_oneof![Just(CARRIER_PORT), Just(TEAMS_PORT), any::<u16>()],
        extra in 0usize..20,
    ) {
        let now = Instant::now();
        let mut relay = srtp_call(now);
        let mut buf = data.clone();
        buf.resize(data.len() + extra, 0);
        let len = data.len();
        let verdict = relay.handle_packet(now, port, teams_sdp(), &mut buf, len);
        if let Verdict::Forward(forward) = verdict {
            prop_assert!(forward.len <= buf.len());
        }
        // A length past the buffer is refused, not a panic.
        relay.handle_packet(now, port, teams_sdp(), &mut buf, len + extra + 1);
    }
}
