//! The UDP driver on loopback: a carrier (plain RTP) and Teams (SRTP)
//! as two real sockets, packets relayed both ways and checked byte for
//! byte after decryption; hijack drop; media timeout event; switchboard
//! itself as the far end of a caller's leg (a prompt played, a key press
//! heard), plain and SRTP.
#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use media::{
    DriverConfig, DropReason, DtmfDigit, DtmfMethod, LegCodec, LegEncoding, LegKey, LegSrtp,
    MediaDriver, MediaEvent, MediaRate, PlayEnd, PlayItem, PlayRequestId, Prompt, PromptPlayer,
    RelayConfig, SrtpContext, SrtpSuite, TelephoneEvent, G711,
};

fn context(byte: u8) -> SrtpContext {
    SrtpContext::new(
        SrtpSuite::AesCm128HmacSha1_80,
        &[byte; 16],
        &[byte ^ 0x5a; 14],
    )
    .unwrap()
}

fn rtp(ssrc: u32, seq: u16, fill: u8) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..160u32).map(|i| fill.wrapping_add(i as u8)));
    p
}

fn endpoint() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket
}

fn recv(socket: &UdpSocket) -> Vec<u8> {
    let mut buf = [0u8; 1500];
    let (len, _) = socket.recv_from(&mut buf).unwrap();
    buf[..len].to_vec()
}

#[test]
fn relays_rtp_and_srtp_between_two_sockets() {
    let config = DriverConfig {
        bind: "127.0.0.1".parse().unwrap(),
        first_port: 46000,
        last_port: 46999,
        shards: 2,
        relay: RelayConfig {
            media_timeout: Duration::from_millis(400),
            ..RelayConfig::default()
        },
        ..DriverConfig::default()
    };
    let (driver, events) = MediaDriver::start(config).unwrap();
    let (carrier_leg, teams_leg) = (LegKey::new(42, 0), LegKey::new(42, 1));
    let carrier_ports = driver.allocate_leg(carrier_leg, true).unwrap();
    let teams_ports = driver.allocate_leg(teams_leg, true).unwrap();
    assert_ne!(carrier_ports.rtp, teams_ports.rtp);
    assert_eq!(carrier_ports.rtp % 2, 0);
    assert_eq!(carrier_ports.rtcp, None);

    let carrier = endpoint();
    let teams = endpoint();
    let relay_carrier = SocketAddr::from(([127, 0, 0, 1], carrier_ports.rtp));
    let relay_teams = SocketAddr::from(([127, 0, 0, 1], teams_ports.rtp));
    driver
        .update_remote(carrier_leg, Some(carrier.local_addr().unwrap()), None)
        .unwrap();
    driver
        .update_remote(teams_leg, Some(teams.local_addr().unwrap()), None)
        .unwrap();
    // Teams encrypts with 0x11, we encrypt toward Teams with 0x22.
    let srtp = LegSrtp {
        inbound: context(0x11),
        outbound: context(0x22),
    };
    driver.update_srtp(teams_leg, Some(srtp)).unwrap();
    driver.bridge(carrier_leg, teams_leg).unwrap();

    let (mut teams_tx, mut teams_rx) = (context(0x11), context(0x22));
    for seq in 0..50u16 {
        // Carrier -> Teams: plain in, SRTP out.
        let plain = rtp(0xca11, seq, seq as u8);
        carrier.send_to(&plain, relay_carrier).unwrap();
        let mut got = recv(&teams);
        assert_eq!(got.len(), plain.len() + 10);
        teams_rx.unprotect_rtp(&mut got).unwrap();
        assert_eq!(got, plain);

        // Teams -> carrier: SRTP in, plain out.
        let plain = rtp(0x7ea5, 1000 + seq, seq as u8 ^ 0xff);
        let mut protected = plain.clone();
        teams_tx.protect_rtp(&mut protected).unwrap();
        teams.send_to(&protected, relay_teams).unwrap();
        assert_eq!(recv(&carrier), plain);
    }

    // A third party sends to the carrier port: not relayed.
    let intruder = endpoint();
    intruder.send_to(&rtp(0xbad, 50, 0), relay_carrier).unwrap();
    // A last genuine packet proves the intruder's was not relayed first.
    carrier.send_to(&rtp(0xca11, 50, 1), relay_carrier).unwrap();
    let mut got = recv(&teams);
    teams_rx.unprotect_rtp(&mut got).unwrap();
    assert_eq!(got, rtp(0xca11, 50, 1));

    let counters = driver.counters().unwrap();
    assert_eq!(counters.relay.forwarded_rtp, 101);
    assert_eq!(counters.relay.dropped(DropReason::UnlatchedSource), 1);
    assert_eq!(counters.legs, 2);
    assert!(counters.recv_batches >= 1 && counters.recv_datagrams == 102);

    // Both go silent: media timeout for both legs.
    let mut timed_out = Vec::new();
    while timed_out.len() < 2 {
        match events.recv_timeout(Duration::from_secs(3)).unwrap() {
            MediaEvent::MediaTimeout { leg, .. } => timed_out.push(leg),
            MediaEvent::Latched { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    timed_out.sort();
    assert_eq!(timed_out, [carrier_leg, teams_leg]);

    driver.free_leg(carrier_leg).unwrap();
    driver.free_leg(teams_leg).unwrap();
    assert_eq!(driver.counters().unwrap().legs, 0);
    // The port is closed: it can be bound again.
    UdpSocket::bind(relay_carrier).unwrap();
    driver.shutdown();
}

#[test]
fn legs_of_sessions_in_different_shards_are_not_bridged() {
    let config = DriverConfig {
        bind: "127.0.0.1".parse().unwrap(),
        first_port: 47000,
        last_port: 47099,
        shards: 2,
        ..DriverConfig::default()
    };
    let (driver, _events) = MediaDriver::start(config).unwrap();
    // Find two sessions in different shards by trying to bridge.
    let a = LegKey::new(1, 0);
    driver.allocate_leg(a, false).unwrap();
    let mut refused = false;
    for session in 2..10 {
        let b = LegKey::new(session, 0);
        let ports = driver.allocate_leg(b, false).unwrap();
        assert_eq!(ports.rtcp, Some(ports.rtp + 1));
        if matches!(
            driver.bridge(a, b),
            Err(media::DriverError::DifferentShards(..))
        ) {
            refused = true;
        }
    }
    assert!(refused);
}

#[test]
fn detached_commands_run_in_order_and_report_refusals() {
    let config = DriverConfig {
        bind: "127.0.0.1".parse().unwrap(),
        first_port: 47100,
        last_port: 47199,
        shards: 2,
        ..DriverConfig::default()
    };
    let (driver, events) = MediaDriver::start(config).unwrap();
    let detached = driver.detached();
    let (a, b) = (LegKey::new(9, 0), LegKey::new(9, 1));
    let ports_a = detached.allocate_leg(a, false).unwrap();
    let ports_b = detached.allocate_leg(b, true).unwrap();
    assert_eq!(ports_a.rtcp, Some(ports_a.rtp + 1));
    assert_eq!(ports_b.rtcp, None);
    let (left, right) = (endpoint(), endpoint());
    detached
        .update_remote(a, Some(left.local_addr().unwrap()), None)
        .unwrap();
    detached
        .update_remote(b, Some(right.local_addr().unwrap()), None)
        .unwrap();
    detached.bridge(a, b).unwrap();
    // Queued behind the commands above: relayed as soon as they ran.
    let packet = rtp(0xabc, 1, 7);
    left.send_to(&packet, ("127.0.0.1", ports_a.rtp)).unwrap();
    assert_eq!(recv(&right), packet);

    // A command the shard refuses comes back as an event, naming the leg.
    let ghost = LegKey::new(9, 5);
    detached.update_remote(ghost, None, None).unwrap();
    let refused = loop {
        match events.recv_timeout(Duration::from_secs(2)).unwrap() {
            MediaEvent::Refused { leg, reason } => break (leg, reason),
            _ => continue,
        }
    };
    assert_eq!(refused.0, ghost);
    assert!(refused.1.contains("no leg"), "{}", refused.1);

    detached.free_leg(a).unwrap();
    detached.free_leg(b).unwrap();
    // A blocking call after them sees their effect.
    assert_eq!(driver.counters().unwrap().legs, 0);
    UdpSocket::bind(("127.0.0.1", ports_a.rtp)).unwrap();
    UdpSocket::bind(("127.0.0.1", ports_a.rtp + 1)).unwrap();
    driver.shutdown();
}

/// A 1 kHz tone of `frames` 20 ms frames at 8 kHz, as a player.
fn tone_prompt(frames: usize) -> PromptPlayer {
    let samples: Vec<i16> = (0..frames * 160)
        .map(|i| {
            let t = i as f32 / 8000.0;
            (8_000.0 * (2.0 * std::f32::consts::PI * 1000.0 * t).sin()) as i16
        })
        .collect();
    let mut player = PromptPlayer::new(MediaRate::Narrowband);
    let prompt = Prompt::from_samples(MediaRate::Narrowband, samples);
    player
        .play(PlayRequestId(0), [PlayItem::Prompt(prompt)], false)
        .unwrap();
    player
}

/// Frequency of μ-law audio from its zero crossings.
fn frequency(payloads: &[Vec<u8>]) -> f32 {
    let mut pcm = Vec::new();
    for payload in payloads {
        let mut frame = vec![0i16; payload.len()];
        G711::Mulaw.decode(payload, &mut frame);
        pcm.extend(frame);
    }
    let crossings = pcm.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f32 / 2.0 / (pcm.len() as f32 / 8000.0)
}

/// The driver plays a prompt to a caller socket, then hears the caller
/// press 5 (RFC 4733); with `srtp`, both ways are SRTP.
fn plays_a_prompt_and_hears_a_key_press(first_port: u16, srtp: bool) {
    const FRAMES: usize = 30;
    let config = DriverConfig {
        bind: "127.0.0.1".parse().unwrap(),
        first_port,
        last_port: first_port + 99,
        shards: 1,
        ..DriverConfig::default()
    };
    let (driver, events) = MediaDriver::start(config).unwrap();
    let leg = LegKey::new(77, 0);
    let ports = driver.allocate_leg(leg, true).unwrap();
    let caller = endpoint();
    let relay_addr = SocketAddr::from(([127, 0, 0, 1], ports.rtp));
    driver
        .update_remote(leg, Some(caller.local_addr().unwrap()), None)
        .unwrap();
    // The caller encrypts with 0x33, we toward it with 0x44.
    let (mut caller_tx, mut caller_rx) = (context(0x33), context(0x44));
    if srtp {
        let keys = LegSrtp {
            inbound: context(0x33),
            outbound: context(0x44),
        };
        driver.update_srtp(leg, Some(keys)).unwrap();
    }
    driver
        .set_codec(leg, LegCodec::new(LegEncoding::Pcmu))
        .unwrap();
    driver
        .play(leg, PlayRequestId(9), Box::new(tone_prompt(FRAMES)))
        .unwrap();

    let mut arrivals = Vec::new();
    let mut payloads = Vec::new();
    let mut first = None;
    while arrivals.len() < FRAMES {
        let mut packet = recv(&caller);
        let at = Instant::now();
        if media::classify(&packet) != media::PacketKind::Rtp {
            continue; // an early RTCP report
        }
        if srtp {
            caller_rx.unprotect_rtp(&mut packet).unwrap();
        }
        let rtp = media::RtpPacket::parse(&packet).unwrap();
        assert_eq!(rtp.payload_type(), 0);
        let (seq, ts) = (rtp.sequence_number(), rtp.timestamp());
        let (seq0, ts0) = *first.get_or_insert((seq, ts));
        let n = arrivals.len();
        assert_eq!(seq, seq0.wrapping_add(n as u16), "packet {n}");
        assert_eq!(ts, ts0.wrapping_add(160 * n as u32), "packet {n}");
        payloads.push(rtp.payload().to_vec());
        arrivals.push(at);
    }
    // Paced at 20 ms: the frames are never early, and a loaded machine
    // may only delay them.
    let span = arrivals[FRAMES - 1] - arrivals[0];
    let nominal = Duration::from_millis(20 * (FRAMES as u64 - 1));
    assert!(span + Duration::from_millis(30) >= nominal, "{span:?}");
    assert!(span < nominal + Duration::from_millis(400), "{span:?}");
    let hz = frequency(&payloads);
    assert!((hz - 1000.0).abs() < 15.0, "{hz} Hz");
    let finished = loop {
        match events.recv_timeout(Duration::from_secs(2)).unwrap() {
            MediaEvent::PlayFinished { leg, request, end } => break (leg, request, end),
            _ => continue,
        }
    };
    assert_eq!(finished, (leg, PlayRequestId(9), PlayEnd::Completed));

    // The caller presses 5: start, two updates, three end packets.
    for (n, duration) in [160u16, 320, 480, 640, 640, 640].into_iter().enumerate() {
        let event = TelephoneEvent::dtmf(DtmfDigit::Five, n >= 3, 10, duration);
        let mut packet = vec![0x80, if n == 0 { 0x80 | 101 } else { 101 }];
        packet.extend_from_slice(&(1000 + n as u16).to_be_bytes());
        packet.extend_from_slice(&48_000u32.to_be_bytes());
        packet.extend_from_slice(&0xca11u32.to_be_bytes());
        packet.extend_from_slice(&event.to_bytes());
        if srtp {
            caller_tx.protect_rtp(&mut packet).unwrap();
        }
        caller.send_to(&packet, relay_addr).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut heard = Vec::new();
    let deadline = Instant::now() + Duration::from_millis(800);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok(MediaEvent::Dtmf {
                leg: from,
                digit,
                method,
                ..
            }) => {
                heard.push((from, digit, method));
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    assert_eq!(heard, [(leg, DtmfDigit::Five, DtmfMethod::Rfc4733)]);
    let counters = driver.counters().unwrap();
    assert_eq!(counters.relay.local_rtp, FRAMES as u64);
    assert_eq!(counters.relay.consumed, 6);
    driver.shutdown();
}

#[test]
fn plays_a_prompt_to_a_caller_and_hears_a_key_press() {
    plays_a_prompt_and_hears_a_key_press(48_100, false);
}

#[test]
fn plays_a_prompt_to_an_srtp_caller_and_hears_a_key_press() {
    plays_a_prompt_and_hears_a_key_press(48_200, true);
}
