#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::dtmf::{
    DtmfDetector, DtmfDigit, DtmfMethod, InbandEvent, ReceivedEvent, TelephoneEvent,
    TelephoneEventReceiver, TelephoneEventReceiverConfig,
};
use crate::g711::G711;
use crate::relay::test_support::{
    carrier_addr, context, leg_config, rtp, send, teams_addr, CARRIER, CARRIER_PORT, TEAMS,
    TEAMS_PORT,
};
use crate::relay::{DropReason, LegDtmf, LegKey, MediaEvent, MediaRelay, RelayConfig, Verdict};
use crate::rtp::RtpPacket;
use crate::tone::{Tone, TonePlayer};
use crate::SrtpContext;

const EVENT_PT: u8 = 101;

fn dtmf(method: DtmfMethod, g711: G711) -> LegDtmf {
    LegDtmf {
        method,
        telephone_event_pt: Some(EVENT_PT),
        telephone_event_rate: 8000,
        audio_pt: g711.payload_type(),
        g711: Some(g711),
        clock_rate: 8000,
    }
}

/// A carrier leg (plain RTP, A-law) whose peer takes `carrier`, bridged
/// to a Teams leg (SRTP, μ-law; Teams sends with key 0x11, we send to it
/// with 0x22) that takes RFC 4733.
fn call(now: Instant, carrier: DtmfMethod) -> MediaRelay {
    let mut relay = MediaRelay::new(RelayConfig::default());
    let a = leg_config(CARRIER_PORT, carrier_addr(), false);
    let b = leg_config(TEAMS_PORT, teams_addr(), true);
    relay.add_leg(now, CARRIER, a).unwrap();
    relay.add_leg(now, TEAMS, b).unwrap();
    relay
        .set_dtmf(now, CARRIER, dtmf(carrier, G711::Alaw))
        .unwrap();
    relay
        .set_dtmf(now, TEAMS, dtmf(DtmfMethod::Rfc4733, G711::Mulaw))
        .unwrap();
    relay.bridge(now, CARRIER, TEAMS).unwrap();
    relay
}

fn event_packet(seq: u16, ts: u32, marker: bool, event: TelephoneEvent) -> Vec<u8> {
    rtp(0xca, seq, ts, EVENT_PT, marker, &event.to_bytes())
}

/// Packets the relay sent: when, where to, the bytes.
type Sent = Vec<(Instant, SocketAddr, Vec<u8>)>;

/// Runs the relay's timers from `from` to `to` in 5 ms steps; returns
/// what it sent (time, destination, packet) and its events.
fn drive(relay: &mut MediaRelay, from: Instant, to: Instant) -> (Sent, Vec<MediaEvent>) {
    let mut sent = Vec::new();
    let mut events = Vec::new();
    let mut now = from;
    let mut buf = [0u8; 1500];
    while now <= to {
        relay.handle_timeout(now);
        while let Some(out) = relay.poll_transmit(now, &mut buf) {
            sent.push((now, out.destination, buf[..out.len].to_vec()));
        }
        events.extend(std::iter::from_fn(|| relay.poll_event()));
        now += Duration::from_millis(5);
    }
    (sent, events)
}

fn bridged_dtmf(events: &[MediaEvent]) -> Vec<(LegKey, LegKey, DtmfDigit, Duration)> {
    events
        .iter()
        .filter_map(|event| match event {
            MediaEvent::BridgedDtmf {
                leg,
                peer,
                digit,
                duration,
            } => Some((*leg, *peer, *digit, *duration)),
            _ => None,
        })
        .collect()
}

/// (seq, ts, ssrc, marker, pt, payload) of a decrypted packet.
fn fields(packet: &[u8]) -> (u16, u32, u32, bool, u8, Vec<u8>) {
    let p = RtpPacket::parse(packet).unwrap();
    (
        p.sequence_number(),
        p.timestamp(),
        p.ssrc(),
        p.marker(),
        p.payload_type(),
        p.payload().to_vec(),
    )
}

#[test]
fn a_press_is_sent_to_teams_as_rfc4733_in_its_srtp_stream() {
    let start = Instant::now();
    let mut relay = call(start, DtmfMethod::Info);
    let mut teams_rx = context(0x22);
    // The carrier's audio reaches Teams first: the stream Teams sees.
    let audio = |seq: u16| {
        rtp(
            0xaa,
            seq,
            1000 + 160 * u32::from(seq),
            8,
            false,
            &[0xd5; 160],
        )
    };
    let mut before = Vec::new();
    for seq in 0..3u16 {
        let at = start + Duration::from_millis(20 * u64::from(seq));
        let (verdict, mut out) = send(&mut relay, at, CARRIER_PORT, carrier_addr(), &audio(seq));
        assert!(matches!(verdict, Verdict::Forward(_)), "{verdict:?}");
        teams_rx.unprotect_rtp(&mut out).unwrap();
        before.push(fields(&out));
    }
    let (last_seq, last_ts, ssrc, ..) = before[2].clone();

    // The carrier's INFO: 5 for 100 ms, 100 ms after the last audio.
    let press = start + Duration::from_millis(140);
    relay
        .send_dtmf(press, TEAMS, DtmfDigit::Five, Duration::from_millis(100))
        .unwrap();
    assert_eq!(relay.poll_timeout(), Some(press));
    let (mut sent, _) = drive(&mut relay, press, press + Duration::from_millis(25));
    // Audio arriving meanwhile is held back.
    let (verdict, _) = send(
        &mut relay,
        press + Duration::from_millis(30),
        CARRIER_PORT,
        carrier_addr(),
        &audio(3),
    );
    assert_eq!(verdict, Verdict::Drop(DropReason::LocalPlayback));
    let (rest, _) = drive(
        &mut relay,
        press + Duration::from_millis(30),
        press + Duration::from_millis(295),
    );
    sent.extend(rest);
    let packets: Vec<_> = sent
        .into_iter()
        .map(|(at, to, mut packet)| {
            assert_eq!(to, teams_addr());
            teams_rx.unprotect_rtp(&mut packet).unwrap();
            (at.duration_since(press).as_millis(), fields(&packet))
        })
        .collect();
    // Start at 0, updates every 20 ms to 100 ms, the end three times.
    let shape: Vec<_> = packets
        .iter()
        .map(|(ms, (.., marker, pt, payload))| {
            let event = TelephoneEvent::parse(payload).unwrap();
            assert_eq!((*pt, event.event), (EVENT_PT, 5));
            (*ms, *marker, event.end, event.duration)
        })
        .collect();
    assert_eq!(
        shape,
        [
            (0, true, false, 0),
            (20, false, false, 160),
            (40, false, false, 320),
            (60, false, false, 480),
            (80, false, false, 640),
            (100, false, true, 800),
            (120, false, true, 800),
            (140, false, true, 800),
        ]
    );
    // One stream: Teams' SSRC, sequence numbers on from the audio's, on
    // every packet the event's timestamp, 100 ms after the last audio's.
    for (i, (_, (seq, ts, packet_ssrc, ..))) in packets.iter().enumerate() {
        assert_eq!(*packet_ssrc, ssrc);
        assert_eq!(*seq, last_seq.wrapping_add(1 + i as u16));
        assert_eq!(*ts, last_ts.wrapping_add(100 * 8));
    }
    // Audio flows again after the event, its clock 300 ms after the
    // event's start.
    let after = press + Duration::from_millis(300);
    let (verdict, mut out) = send(&mut relay, after, CARRIER_PORT, carrier_addr(), &audio(4));
    assert!(matches!(verdict, Verdict::Forward(_)), "{verdict:?}");
    teams_rx.unprotect_rtp(&mut out).unwrap();
    let (seq, ts, packet_ssrc, marker, ..) = fields(&out);
    assert_eq!(packet_ssrc, ssrc);
    assert_eq!(seq, last_seq.wrapping_add(9));
    assert_eq!(ts, last_ts.wrapping_add((100 + 300) * 8));
    assert!(marker, "a new talkspurt");
    assert_eq!(relay.counters().local_rtp, 8);
}

#[test]
fn presses_queue_one_after_the_other() {
    let start = Instant::now();
    let mut relay = call(start, DtmfMethod::Info);
    for digit in [DtmfDigit::One, DtmfDigit::One, DtmfDigit::Pound] {
        relay
            .send_dtmf(start, TEAMS, digit, Duration::from_millis(60))
            .unwrap();
    }
    let (sent, _) = drive(&mut relay, start, start + Duration::from_secs(2));
    let mut teams_rx = context(0x22);
    let mut starts = Vec::new();
    let mut ends = 0;
    for (at, _, mut packet) in sent {
        teams_rx.unprotect_rtp(&mut packet).unwrap();
        let (_, ts, _, marker, _, payload) = fields(&packet);
        let event = TelephoneEvent::parse(&payload).unwrap();
        if marker {
            starts.push((at.duration_since(start).as_millis(), event.event, ts));
        }
        ends += usize::from(event.end);
    }
    assert_eq!(ends, 9, "three end packets per press");
    // 60 ms press, ends at 60, 80, 100, then a 100 ms pause.
    let times: Vec<_> = starts.iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(times, [(0, 1), (200, 1), (400, 11)]);
    // Timestamps follow the time between them.
    assert_eq!(starts[1].2.wrapping_sub(starts[0].2), 200 * 8);
}

#[test]
fn refused_when_the_leg_cannot_take_it() {
    let now = Instant::now();
    let mut relay = call(now, DtmfMethod::Info);
    let five = (DtmfDigit::Five, Duration::from_millis(100));
    // The carrier takes INFO: the call layer sends that.
    assert!(matches!(
        relay.send_dtmf(now, CARRIER, five.0, five.1),
        Err(crate::RelayError::NoDtmf(CARRIER, _))
    ));
    let mut without = dtmf(DtmfMethod::Rfc4733, G711::Mulaw);
    without.telephone_event_pt = None;
    relay.set_dtmf(now, TEAMS, without).unwrap();
    assert!(relay.send_dtmf(now, TEAMS, five.0, five.1).is_err());
    let mut clash = without;
    clash.telephone_event_pt = Some(0);
    assert!(relay.set_dtmf(now, TEAMS, clash).is_err());
    relay.remove_leg(TEAMS).unwrap();
    assert!(relay.send_dtmf(now, TEAMS, five.0, five.1).is_err());
}

/// The packets of one press as Teams sends them (RFC 4733 §2.5.1: start,
/// updates, three end packets), with their offsets in ms.
fn teams_press(digit: DtmfDigit, first_seq: u16, ts: u32) -> Vec<(u64, Vec<u8>)> {
    let mut packets = Vec::new();
    for (i, units) in [0u16, 160, 320, 480, 640].into_iter().enumerate() {
        let event = TelephoneEvent::dtmf(digit, false, 10, units);
        let seq = first_seq + i as u16;
        packets.push((20 * i as u64, event_packet(seq, ts, i == 0, event)));
    }
    for i in 0..3u16 {
        let event = TelephoneEvent::dtmf(digit, true, 10, 800);
        packets.push((
            100 + 20 * u64::from(i),
            event_packet(first_seq + 5 + i, ts, false, event),
        ));
    }
    packets
}

#[test]
fn teams_events_toward_an_info_carrier_are_reported_once_per_press() {
    let start = Instant::now();
    let mut relay = call(start, DtmfMethod::Info);
    let mut teams_tx = context(0x11);
    let mut events = Vec::new();
    let presses = [
        (DtmfDigit::Seven, 0),
        (DtmfDigit::Seven, 400),
        (DtmfDigit::Star, 800),
    ];
    for (n, (digit, at)) in presses.into_iter().enumerate() {
        let seq = 10 * n as u16;
        let ts = 8 * at as u32;
        for (offset, mut packet) in teams_press(digit, seq, ts) {
            teams_tx.protect_rtp(&mut packet).unwrap();
            let now = start + Duration::from_millis(at + offset);
            let (verdict, _) = send(&mut relay, now, TEAMS_PORT, teams_addr(), &packet);
            assert_eq!(verdict, Verdict::Consumed, "not forwarded as RTP");
            events.extend(std::iter::from_fn(|| relay.poll_event()));
        }
    }
    // Audio still goes through.
    let mut audio = rtp(0xca, 100, 9000, 0, false, &[0xff; 160]);
    teams_tx.protect_rtp(&mut audio).unwrap();
    let now = start + Duration::from_millis(1000);
    let (verdict, _) = send(&mut relay, now, TEAMS_PORT, teams_addr(), &audio);
    assert!(matches!(verdict, Verdict::Forward(_)), "{verdict:?}");
    let hundred = Duration::from_millis(100);
    assert_eq!(
        bridged_dtmf(&events),
        [
            (TEAMS, CARRIER, DtmfDigit::Seven, hundred),
            (TEAMS, CARRIER, DtmfDigit::Seven, hundred),
            (TEAMS, CARRIER, DtmfDigit::Star, hundred),
        ]
    );
    assert_eq!(relay.counters().dtmf_converted, 3);
    assert_eq!(relay.counters().forwarded_rtp, 1);
}

#[test]
fn a_press_whose_end_packets_are_lost_ends_on_the_timeout() {
    let start = Instant::now();
    let mut relay = call(start, DtmfMethod::Info);
    let mut teams_tx = context(0x11);
    for (offset, mut packet) in teams_press(DtmfDigit::Two, 0, 0).into_iter().take(4) {
        teams_tx.protect_rtp(&mut packet).unwrap();
        let now = start + Duration::from_millis(offset);
        send(&mut relay, now, TEAMS_PORT, teams_addr(), &packet);
    }
    let (_, events) = drive(&mut relay, start, start + Duration::from_millis(200));
    assert_eq!(bridged_dtmf(&events), []);
    let (_, events) = drive(
        &mut relay,
        start + Duration::from_millis(200),
        start + Duration::from_secs(1),
    );
    let reported = bridged_dtmf(&events);
    assert_eq!(reported.len(), 1, "{events:?}");
    assert_eq!(reported[0].2, DtmfDigit::Two);
}

#[test]
fn events_between_two_rfc4733_legs_are_forwarded_as_they_are() {
    let start = Instant::now();
    let mut relay = call(start, DtmfMethod::Rfc4733);
    let mut teams_tx = context(0x11);
    for (offset, mut packet) in teams_press(DtmfDigit::Nine, 0, 0) {
        let plain = packet.clone();
        teams_tx.protect_rtp(&mut packet).unwrap();
        let now = start + Duration::from_millis(offset);
        let (verdict, out) = send(&mut relay, now, TEAMS_PORT, teams_addr(), &packet);
        assert!(matches!(verdict, Verdict::Forward(_)), "{verdict:?}");
        assert_eq!(out, plain);
    }
    let (sent, events) = drive(&mut relay, start, start + Duration::from_secs(1));
    assert!(sent.is_empty() && bridged_dtmf(&events).is_empty());
}

/// Decodes the G.711 frames `sent` toward `to` and listens for tones.
fn tones_heard(sent: &Sent, to: SocketAddr) -> Vec<DtmfDigit> {
    let mut detector = DtmfDetector::default();
    let mut heard = Vec::new();
    for (_, destination, packet) in sent {
        if *destination != to {
            continue;
        }
        let (.., pt, payload) = fields(packet);
        assert_eq!(pt, 8, "A-law, the carrier's audio");
        detector.handle_g711(G711::Alaw, &payload);
        while let Some(event) = detector.poll_event() {
            if let InbandEvent::Ended { digit, .. } = event {
                heard.push(digit);
            }
        }
    }
    // Silence to end the last tone.
    detector.handle_g711(G711::Alaw, &[0xd5; 480]);
    while let Some(event) = detector.poll_event() {
        if let InbandEvent::Ended { digit, .. } = event {
            heard.push(digit);
        }
    }
    heard
}

#[test]
fn teams_events_become_tones_toward_an_inband_carrier() {
    let start = Instant::now();
    let mut relay = call(start, DtmfMethod::Inband);
    let mut teams_tx = context(0x11);
    let mut sent = Vec::new();
    for (n, digit) in [DtmfDigit::Three, DtmfDigit::Three, DtmfDigit::D]
        .into_iter()
        .enumerate()
    {
        let at = 300 * n as u64;
        for (offset, mut packet) in teams_press(digit, 10 * n as u16, 8 * at as u32) {
            teams_tx.protect_rtp(&mut packet).unwrap();
            let now = start + Duration::from_millis(at + offset);
            let (verdict, _) = send(&mut relay, now, TEAMS_PORT, teams_addr(), &packet);
            assert_eq!(verdict, Verdict::Consumed);
        }
        let from = start + Duration::from_millis(at);
        let (out, events) = drive(&mut relay, from, from + Duration::from_millis(295));
        assert!(bridged_dtmf(&events).is_empty());
        sent.extend(out);
    }
    let (out, _) = drive(
        &mut relay,
        start + Duration::from_millis(900),
        start + Duration::from_secs(2),
    );
    sent.extend(out);
    assert_eq!(
        tones_heard(&sent, carrier_addr()),
        [DtmfDigit::Three, DtmfDigit::Three, DtmfDigit::D]
    );
    // 100 ms tone + 60 ms gap: 8 frames a press, 20 ms apart.
    assert_eq!(sent.len(), 24);
    assert_eq!(relay.counters().dtmf_converted, 3);
}

#[test]
fn carrier_tones_reach_teams_as_rfc4733_and_still_pass_as_audio() {
    let start = Instant::now();
    let mut relay = call(start, DtmfMethod::Inband);
    let mut teams_rx = context(0x22);
    // 6 (120 ms), a 100 ms pause, then 6 again, in 20 ms A-law frames.
    let mut tone = [0i16; 960];
    TonePlayer::new(Tone::Dtmf {
        digit: DtmfDigit::Six,
        duration: Duration::from_millis(120),
    })
    .fill(&mut tone);
    let mut pcm = Vec::new();
    for _ in 0..2 {
        pcm.extend_from_slice(&tone);
        pcm.extend(std::iter::repeat_n(0, 800));
    }
    let mut audio_out = 0;
    let mut events_out = Vec::new();
    let mut now = start;
    for (n, chunk) in pcm.chunks(160).enumerate() {
        let mut payload = [0u8; 160];
        G711::Alaw.encode(chunk, &mut payload);
        let packet = rtp(
            0xaa,
            n as u16,
            160 * n as u32,
            8,
            false,
            &payload[..chunk.len()],
        );
        let (verdict, mut out) = send(&mut relay, now, CARRIER_PORT, carrier_addr(), &packet);
        if let Verdict::Forward(_) = verdict {
            teams_rx.unprotect_rtp(&mut out).unwrap();
            let (.., pt, _) = fields(&out);
            assert_eq!(pt, 8);
            audio_out += 1;
        }
        let (sent, _) = drive(&mut relay, now, now + Duration::from_millis(19));
        for (_, to, mut packet) in sent {
            assert_eq!(to, teams_addr());
            teams_rx.unprotect_rtp(&mut packet).unwrap();
            events_out.push(fields(&packet));
        }
        now += Duration::from_millis(20);
    }
    let (sent, _) = drive(&mut relay, now, now + Duration::from_secs(1));
    for (_, _, mut packet) in sent {
        teams_rx.unprotect_rtp(&mut packet).unwrap();
        events_out.push(fields(&packet));
    }
    let presses: Vec<_> = events_out
        .iter()
        .filter(|(.., marker, pt, _)| *marker && *pt == EVENT_PT)
        .map(|(.., payload)| TelephoneEvent::parse(payload).unwrap().event)
        .collect();
    assert_eq!(presses, [6, 6]);
    let ends = events_out
        .iter()
        .filter(|(.., pt, payload)| *pt == EVENT_PT && TelephoneEvent::parse(payload).unwrap().end)
        .count();
    assert_eq!(ends, 6);
    assert!(audio_out > 10, "the tones pass as audio too: {audio_out}");
    assert_eq!(relay.counters().dtmf_converted, 2);
}

/// The carrier's own RFC 4733 packets of one press (plain RTP, its
/// SSRC), with their offsets in ms: as Teams sends them.
fn carrier_press(digit: DtmfDigit, first_seq: u16, ts: u32) -> Vec<(u64, Vec<u8>)> {
    teams_press(digit, first_seq, ts)
}

/// Sends the carrier's packets of one press starting at `at`, running
/// the relay's timers between them; returns the verdicts, what was sent
/// meanwhile and the relay's events.
fn carrier_sends(
    relay: &mut MediaRelay,
    at: Instant,
    packets: Vec<(u64, Vec<u8>)>,
) -> (Vec<Verdict>, Sent) {
    let mut verdicts = Vec::new();
    let mut sent = Vec::new();
    let mut now = at;
    for (offset, packet) in packets {
        let time = at + Duration::from_millis(offset);
        let (out, _) = drive(relay, now, time - Duration::from_millis(1));
        sent.extend(out);
        now = time;
        let (verdict, _) = send(relay, now, CARRIER_PORT, carrier_addr(), &packet);
        verdicts.push(verdict);
    }
    (verdicts, sent)
}

/// The presses Teams gets (starts of events, marker bit) among `sent`,
/// as event codes, and its end packets.
fn presses_to_teams(sent: &Sent, teams_rx: &mut SrtpContext) -> (Vec<u8>, usize) {
    let mut starts = Vec::new();
    let mut ends = 0;
    for (_, to, packet) in sent {
        assert_eq!(*to, teams_addr());
        let mut packet = packet.clone();
        teams_rx.unprotect_rtp(&mut packet).unwrap();
        let (.., marker, pt, payload) = fields(&packet);
        assert_eq!(pt, EVENT_PT);
        let event = TelephoneEvent::parse(&payload).unwrap();
        if marker {
            starts.push(event.event);
        }
        ends += usize::from(event.end);
    }
    (starts, ends)
}

#[test]
fn an_info_after_the_same_press_as_events_is_not_sent_again() {
    let start = Instant::now();
    // The carrier's events go on to Teams as RTP (Teams takes RFC 4733).
    let mut relay = call(start, DtmfMethod::Info);
    let mut packets = carrier_press(DtmfDigit::Five, 0, 800);
    let rest = packets.split_off(3);
    let (verdicts, _) = carrier_sends(&mut relay, start, packets);
    // Its INFO arrives 50 ms into the press: the call layer asks for it.
    let info = start + Duration::from_millis(50);
    relay
        .send_dtmf(info, TEAMS, DtmfDigit::Five, Duration::from_millis(100))
        .unwrap();
    let (more, _) = carrier_sends(&mut relay, start, rest);
    let (sent, _) = drive(&mut relay, info, start + Duration::from_secs(1));
    assert!(verdicts
        .iter()
        .chain(&more)
        .all(|verdict| matches!(verdict, Verdict::Forward(_))));
    assert!(sent.is_empty(), "no press of ours: {} packets", sent.len());
    assert_eq!(relay.counters().dtmf_duplicates, 1);
    assert_eq!(relay.counters().local_rtp, 0);
}

#[test]
fn events_after_the_same_press_as_info_are_dropped() {
    let start = Instant::now();
    let mut relay = call(start, DtmfMethod::Info);
    let mut teams_rx = context(0x22);
    relay
        .send_dtmf(start, TEAMS, DtmfDigit::Five, Duration::from_millis(100))
        .unwrap();
    // The carrier's events of the same press, 30 ms behind its INFO.
    let at = start + Duration::from_millis(30);
    let (out, _) = drive(&mut relay, start, at - Duration::from_millis(1));
    let (verdicts, mut sent) =
        carrier_sends(&mut relay, at, carrier_press(DtmfDigit::Five, 0, 800));
    sent.splice(0..0, out);
    let (rest, _) = drive(
        &mut relay,
        at + Duration::from_millis(140),
        start + Duration::from_secs(1),
    );
    sent.extend(rest);
    assert_eq!(verdicts.len(), 8);
    assert!(verdicts
        .iter()
        .all(|verdict| *verdict == Verdict::Drop(DropReason::DuplicateDtmf)));
    // Teams gets the press once: ours.
    assert_eq!(presses_to_teams(&sent, &mut teams_rx), (vec![5], 3));
    let counters = relay.counters();
    assert_eq!(counters.dtmf_duplicates, 1);
    assert_eq!(counters.dropped(DropReason::DuplicateDtmf), 8);
}

#[test]
fn the_same_key_in_the_two_forms_far_apart_is_two_presses() {
    let start = Instant::now();
    let mut relay = call(start, DtmfMethod::Info);
    let mut teams_rx = context(0x22);
    let hundred = Duration::from_millis(100);
    // Events first, an INFO of the same key 2 s later.
    let (verdicts, _) = carrier_sends(&mut relay, start, carrier_press(DtmfDigit::Five, 0, 800));
    assert!(verdicts
        .iter()
        .all(|verdict| matches!(verdict, Verdict::Forward(_))));
    let info = start + Duration::from_secs(2);
    relay
        .send_dtmf(info, TEAMS, DtmfDigit::Five, hundred)
        .unwrap();
    let (sent, _) = drive(&mut relay, info, info + Duration::from_millis(300));
    assert_eq!(presses_to_teams(&sent, &mut teams_rx), (vec![5], 3));
    // An INFO, then events of the same key 1.2 s after its press ended.
    let info = start + Duration::from_secs(4);
    relay
        .send_dtmf(info, TEAMS, DtmfDigit::Five, hundred)
        .unwrap();
    let (sent, _) = drive(&mut relay, info, info + Duration::from_millis(300));
    assert_eq!(presses_to_teams(&sent, &mut teams_rx), (vec![5], 3));
    let at = info + hundred + Duration::from_millis(1200);
    let (verdicts, _) = carrier_sends(&mut relay, at, carrier_press(DtmfDigit::Five, 20, 48_000));
    assert!(verdicts
        .iter()
        .all(|verdict| matches!(verdict, Verdict::Forward(_))));
    assert_eq!(relay.counters().dtmf_duplicates, 0);
}

#[test]
fn carrier_tones_after_the_same_press_as_info_are_not_converted_again() {
    let start = Instant::now();
    let mut relay = call(start, DtmfMethod::Inband);
    let mut teams_rx = context(0x22);
    relay
        .send_dtmf(start, TEAMS, DtmfDigit::Six, Duration::from_millis(120))
        .unwrap();
    // The same press as tones in the carrier's audio, 20 ms later.
    let mut pcm = [0i16; 960 + 800];
    TonePlayer::new(Tone::Dtmf {
        digit: DtmfDigit::Six,
        duration: Duration::from_millis(120),
    })
    .fill(&mut pcm[..960]);
    let mut sent = Vec::new();
    let mut now = start;
    for (n, chunk) in pcm.chunks(160).enumerate() {
        let (out, _) = drive(&mut relay, now, now + Duration::from_millis(19));
        sent.extend(out);
        now += Duration::from_millis(20);
        let mut payload = [0u8; 160];
        G711::Alaw.encode(chunk, &mut payload);
        let packet = rtp(0xaa, n as u16, 160 * n as u32, 8, false, &payload);
        // Held back while our press plays, or forwarded: never sent here.
        send(&mut relay, now, CARRIER_PORT, carrier_addr(), &packet);
    }
    let (out, _) = drive(&mut relay, now, now + Duration::from_secs(1));
    sent.extend(out);
    assert_eq!(presses_to_teams(&sent, &mut teams_rx), (vec![6], 3));
    let counters = relay.counters();
    assert_eq!(counters.dtmf_duplicates, 1);
    assert_eq!(counters.dtmf_converted, 0);
}

#[test]
fn a_long_press_of_ours_at_48_khz_goes_in_segments() {
    let start = Instant::now();
    let mut relay = call(start, DtmfMethod::Info);
    let mut wideband = dtmf(DtmfMethod::Rfc4733, G711::Mulaw);
    wideband.telephone_event_rate = 48_000;
    wideband.clock_rate = 48_000;
    relay.set_dtmf(start, TEAMS, wideband).unwrap();
    relay
        .send_dtmf(start, TEAMS, DtmfDigit::Pound, Duration::from_secs(3))
        .unwrap();
    let (sent, _) = drive(&mut relay, start, start + Duration::from_secs(4));
    let mut teams_rx = context(0x22);
    let mut receiver = TelephoneEventReceiver::new(TelephoneEventReceiverConfig {
        clock_rate: 48_000,
        ..TelephoneEventReceiverConfig::default()
    });
    let mut timestamps = Vec::new();
    let mut heard = Vec::new();
    for (at, _, mut packet) in sent {
        teams_rx.unprotect_rtp(&mut packet).unwrap();
        let parsed = RtpPacket::parse(&packet).unwrap();
        timestamps.push(parsed.timestamp());
        receiver.handle_rtp(at, &parsed).unwrap();
        while let Some(event) = receiver.poll_event() {
            if let ReceivedEvent::Ended {
                digit, duration, ..
            } = event
            {
                heard.push((digit, duration));
            }
        }
    }
    let first = timestamps[0];
    let mut segments: Vec<u32> = timestamps.iter().map(|ts| ts.wrapping_sub(first)).collect();
    segments.sort_unstable();
    segments.dedup();
    // 144000 units: two full segments (their closing packets interleave
    // with the next one's first updates) and the rest.
    assert_eq!(segments, [0, 0xFFFF, 2 * 0xFFFF]);
    assert_eq!(heard, [(DtmfDigit::Pound, Duration::from_secs(3))]);
}
