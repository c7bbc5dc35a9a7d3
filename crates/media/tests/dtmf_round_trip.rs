//! DTMF end to end: generated tones through G.711 into the detector,
//! generated telephone-events through RTP into the receiver, and the
//! router joining the three sources of one call.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use media::{
    DtmfDetector, DtmfDigit, DtmfEvent, DtmfMethod, DtmfRouter, EventEnd, InbandEvent,
    InfoContentType, InfoDigit, LegDtmfConfig, ReceivedEvent, RtpHeader, RtpPacket,
    TelephoneEventReceiver, TelephoneEventSender, Tone, TonePlayer, ToneRegion, FRAME_SAMPLES,
    G711,
};

/// Plays `tones` (each followed by `gap` of silence) in 20 ms G.711
/// frames through a detector; returns its events.
fn play_through_detector(codec: G711, tones: &[Tone], gap: Duration) -> Vec<InbandEvent> {
    let mut detector = DtmfDetector::default();
    let mut events = Vec::new();
    let mut frame = [0u8; FRAME_SAMPLES];
    let silence_frames = gap.as_millis() as usize / 20;
    for &tone in tones {
        let mut player = TonePlayer::new(tone);
        while !player.is_finished() {
            player.fill_g711(codec, &mut frame);
            detector.handle_g711(codec, &frame);
        }
        let mut silence = TonePlayer::new(Tone::Dtmf {
            digit: DtmfDigit::Zero,
            duration: Duration::ZERO,
        });
        for _ in 0..silence_frames {
            silence.fill_g711(codec, &mut frame);
            detector.handle_g711(codec, &frame);
        }
        events.extend(std::iter::from_fn(|| detector.poll_event()));
    }
    events
}

#[test]
fn generated_dtmf_is_detected_for_every_key_and_both_laws() {
    for codec in [G711::Mulaw, G711::Alaw] {
        let tones: Vec<_> = DtmfDigit::ALL
            .iter()
            .map(|&digit| Tone::Dtmf {
                digit,
                duration: Duration::from_millis(100),
            })
            .collect();
        let events = play_through_detector(codec, &tones, Duration::from_millis(100));
        let began: Vec<_> = events
            .iter()
            .filter(|e| matches!(e, InbandEvent::Began { .. }))
            .map(InbandEvent::digit)
            .collect();
        assert_eq!(began, DtmfDigit::ALL, "{codec:?}");
        for event in &events {
            if let InbandEvent::Ended { duration, .. } = *event {
                assert!(
                    duration.abs_diff(Duration::from_millis(100)) < Duration::from_millis(5),
                    "{duration:?}"
                );
            }
        }
    }
}

#[test]
fn call_progress_tones_are_not_dtmf() {
    for region in [ToneRegion::Us, ToneRegion::Uk, ToneRegion::Europe] {
        for tone in [
            Tone::Ringback(region),
            Tone::Busy(region),
            Tone::Congestion(region),
        ] {
            let mut detector = DtmfDetector::default();
            let mut player = TonePlayer::new(tone);
            let mut frame = [0u8; FRAME_SAMPLES];
            for _ in 0..500 {
                player.fill_g711(G711::Mulaw, &mut frame);
                detector.handle_g711(G711::Mulaw, &frame);
            }
            assert_eq!(detector.poll_event(), None, "{tone:?}");
        }
    }
}

#[test]
fn ringback_cadence_through_g711() {
    // UK ringback: 0.4 on, 0.2 off, 0.4 on, 2.0 off, in 20 ms frames.
    let mut player = TonePlayer::new(Tone::Ringback(ToneRegion::Uk));
    let mut frame = [0u8; FRAME_SAMPLES];
    let mut pcm = [0i16; FRAME_SAMPLES];
    let mut pattern = String::new();
    for _ in 0..300 {
        player.fill_g711(G711::Alaw, &mut frame);
        G711::Alaw.decode(&frame, &mut pcm);
        let energy: f64 =
            pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / FRAME_SAMPLES as f64;
        pattern.push(if energy > 10_000.0 { '#' } else { '.' });
    }
    let cycle = format!(
        "{}{}{}{}",
        "#".repeat(20),
        ".".repeat(10),
        "#".repeat(20),
        ".".repeat(100)
    );
    assert_eq!(pattern, cycle.repeat(2));
}

/// Sends keys with a telephone-event sender as RTP, drops the packets
/// listed, and receives the rest.
fn send_and_receive(keys: &[DtmfDigit], drop: impl Fn(usize) -> bool) -> Vec<ReceivedEvent> {
    let start = Instant::now();
    let mut sender = TelephoneEventSender::default();
    for &digit in keys {
        sender.handle_digit(start, digit, Duration::from_millis(120));
    }
    let mut receiver = TelephoneEventReceiver::default();
    let mut sequence: u16 = 65_530;
    let mut sent = 0;
    let mut events = Vec::new();
    // A 20 ms audio clock: timestamps advance 160 per tick.
    for tick in 0..200u32 {
        let now = start + Duration::from_millis(u64::from(tick) * 20);
        let timestamp = 1_000_000u32.wrapping_add(tick * 160);
        while let Some(packet) = sender.poll_transmit(now, timestamp) {
            let header = RtpHeader {
                marker: packet.marker,
                payload_type: 101,
                sequence_number: sequence,
                timestamp: packet.timestamp,
                ssrc: 0x5eed,
            };
            sequence = sequence.wrapping_add(1);
            let mut datagram = Vec::new();
            header.append(&[], &mut datagram).unwrap();
            datagram.extend_from_slice(&packet.event.to_bytes());
            if !drop(sent) {
                receiver
                    .handle_rtp(now, &RtpPacket::parse(&datagram).unwrap())
                    .unwrap();
            }
            sent += 1;
        }
        receiver.handle_timeout(now);
        events.extend(std::iter::from_fn(|| receiver.poll_event()));
    }
    events
}

#[test]
fn telephone_events_round_trip_through_rtp() {
    let keys = [DtmfDigit::Four, DtmfDigit::Four, DtmfDigit::Pound];
    let events = send_and_receive(&keys, |_| false);
    let ended: Vec<_> = events
        .iter()
        .filter_map(|e| match *e {
            ReceivedEvent::Ended {
                digit, units, end, ..
            } => Some((digit, units, end)),
            ReceivedEvent::Began { .. } => None,
        })
        .collect();
    assert_eq!(
        ended,
        keys.iter()
            .map(|&digit| (digit, 960, EventEnd::EndBit))
            .collect::<Vec<_>>()
    );
    // Every other packet lost: still each key once.
    let events = send_and_receive(&keys, |index| index % 2 == 1);
    let began: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, ReceivedEvent::Began { .. }))
        .map(ReceivedEvent::digit)
        .collect();
    assert_eq!(began, keys);
}

#[test]
fn router_joins_rfc4733_info_and_inband() {
    const CALLER: &str = "caller";
    const AGENT: &str = "agent";
    let start = Instant::now();
    let mut router = DtmfRouter::default();
    router.add_leg(CALLER, LegDtmfConfig::default());
    router.add_leg(
        AGENT,
        LegDtmfConfig {
            rfc4733: false,
            info: true,
            inband: false,
            detect_inband: true,
        },
    );
    router.set_bridged(true);

    // The caller's phone sends 7 as RFC 4733 and leaves the tone in its
    // audio: the receiver and the detector both report it.
    let mut detector = DtmfDetector::default();
    let mut player = TonePlayer::new(Tone::Dtmf {
        digit: DtmfDigit::Seven,
        duration: Duration::from_millis(100),
    });
    let mut frame = [0u8; FRAME_SAMPLES];
    for _ in 0..10 {
        player.fill_g711(G711::Mulaw, &mut frame);
        detector.handle_g711(G711::Mulaw, &frame);
    }
    router.handle_digit(
        start + Duration::from_millis(100),
        CALLER,
        DtmfMethod::Rfc4733,
        DtmfDigit::Seven,
        Duration::from_millis(100),
    );
    while let Some(event) = detector.poll_event() {
        if let InbandEvent::Ended { digit, duration } = event {
            router.handle_digit(
                start + Duration::from_millis(140),
                CALLER,
                DtmfMethod::Inband,
                digit,
                duration,
            );
        }
    }
    let events: Vec<_> = std::iter::from_fn(|| router.poll_event()).collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(
        events[0],
        DtmfEvent::Digit {
            leg: CALLER,
            digit: DtmfDigit::Seven,
            source: DtmfMethod::Rfc4733,
            ..
        }
    ));
    let DtmfEvent::Send {
        leg: AGENT,
        digit,
        duration,
        method: DtmfMethod::Info,
    } = events[1]
    else {
        panic!("{events:?}");
    };
    // The INFO body for the agent, read back as the agent would.
    let body = InfoDigit {
        digit,
        duration: Some(duration),
    }
    .to_body(InfoContentType::DtmfRelay);
    assert_eq!(body, "Signal=7\r\nDuration=100\r\n");

    // The agent answers with INFO: it reaches the caller as RFC 4733.
    let info =
        InfoDigit::parse("application/dtmf-relay", b"Signal= #\r\nDuration= 250\r\n").unwrap();
    router.handle_digit(
        start + Duration::from_secs(2),
        AGENT,
        DtmfMethod::Info,
        info.digit,
        info.duration.unwrap(),
    );
    let events: Vec<_> = std::iter::from_fn(|| router.poll_event()).collect();
    assert_eq!(
        events,
        [
            DtmfEvent::Digit {
                leg: AGENT,
                digit: DtmfDigit::Pound,
                duration: Duration::from_millis(250),
                source: DtmfMethod::Info
            },
            DtmfEvent::Send {
                leg: CALLER,
                digit: DtmfDigit::Pound,
                duration: Duration::from_millis(250),
                method: DtmfMethod::Rfc4733
            },
        ]
    );
}
