//! The UDP driver on loopback: a carrier (plain RTP) and Teams (SRTP)
//! as two real sockets, packets relayed both ways and checked byte for
//! byte after decryption; hijack drop; media timeout event; switchboard
//! itself as the far end of a caller's leg (a prompt played, a key press
//! heard), plain and SRTP; a three-party conference with a listening
//! supervisor; a PCMU leg bridged to a G.722 leg through the transcoder;
//! the DSCP mark of relayed packets.
#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use media::{
    ConferenceRole, DriverConfig, DropReason, DtmfDigit, DtmfMethod, G722Decoder, LegCodec,
    LegEncoding, LegKey, LegSrtp, MediaDriver, MediaEvent, MediaIo, MediaRate, PlayEnd, PlayItem,
    PlayRequestId, Prompt, PromptPlayer, RelayConfig, SrtpContext, SrtpSuite, TelephoneEvent, G711,
};

/// A driver on loopback with 100 ports from `first_port`, `shards`
/// shards and `io`, the rest as by default.
fn loopback(first_port: u16, shards: usize, io: MediaIo) -> DriverConfig {
    DriverConfig {
        bind: "127.0.0.1".parse().unwrap(),
        first_port,
        last_port: first_port + 99,
        shards,
        io,
        ..DriverConfig::default()
    }
}

/// Where the io_uring run of a test takes its ports: this far above the
/// epoll run's.
const URING_PORTS: u16 = 3000;

/// Runs `$body(io, first_port)` as two tests: `$epoll` on epoll from
/// port `$port`, `$uring` on io_uring ([`MediaIo::Uring`]) from
/// `$port` + [`URING_PORTS`]. The io_uring run fails where the kernel or
/// a seccomp policy refuses io_uring.
macro_rules! on_both_backends {
    ($body:ident($port:expr): $epoll:ident, $uring:ident) => {
        #[test]
        fn $epoll() {
            $body(MediaIo::Epoll, $port);
        }

        #[test]
        fn $uring() {
            $body(MediaIo::Uring, $port + URING_PORTS);
        }
    };
}

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

fn relays_rtp_and_srtp_between_two_sockets_on(io: MediaIo, first_port: u16) {
    let config = DriverConfig {
        last_port: first_port + 999,
        relay: RelayConfig {
            media_timeout: Duration::from_millis(400),
            ..RelayConfig::default()
        },
        ..loopback(first_port, 2, io)
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
    let config = loopback(47000, 2, MediaIo::Epoll);
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
    let config = loopback(47100, 2, MediaIo::Epoll);
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
fn plays_a_prompt_and_hears_a_key_press(io: MediaIo, first_port: u16, srtp: bool) {
    const FRAMES: usize = 30;
    let config = loopback(first_port, 1, io);
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

fn plays_a_prompt_to_a_caller(io: MediaIo, first_port: u16) {
    plays_a_prompt_and_hears_a_key_press(io, first_port, false);
}

fn plays_a_prompt_to_an_srtp_caller(io: MediaIo, first_port: u16) {
    plays_a_prompt_and_hears_a_key_press(io, first_port, true);
}

on_both_backends!(plays_a_prompt_to_a_caller(48_100):
    plays_a_prompt_to_a_caller_and_hears_a_key_press,
    plays_a_prompt_to_a_caller_and_hears_a_key_press_on_io_uring);
on_both_backends!(plays_a_prompt_to_an_srtp_caller(48_200):
    plays_a_prompt_to_an_srtp_caller_and_hears_a_key_press,
    plays_a_prompt_to_an_srtp_caller_and_hears_a_key_press_on_io_uring);

/// A fresh directory for one test's recordings.
fn recording_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-media-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// μ-law RTP of a `hz` tone, 20 ms: packet `n` of a stream.
fn tone_packet(ssrc: u32, n: u32, hz: f64) -> Vec<u8> {
    let pcm: Vec<i16> = (n * 160..(n + 1) * 160)
        .map(|i| (8_000.0 * (2.0 * std::f64::consts::PI * hz * f64::from(i) / 8000.0).sin()) as i16)
        .collect();
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&(n as u16).to_be_bytes());
    p.extend_from_slice(&(n * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    let mut payload = vec![0u8; 160];
    G711::Mulaw.encode(&pcm, &mut payload);
    p.extend(payload);
    p
}

/// Power of `samples` (8 kHz) at `hz` (Goertzel).
fn power_at(samples: &[i16], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// The samples of one channel of `wav` between `from` and `to` seconds.
fn span(channel: &[i16], from: f64, to: f64) -> &[i16] {
    &channel[(from * 8000.0) as usize..(to * 8000.0) as usize]
}

/// Every 10 ms of `samples` holds a tone (RMS above 1000), no hole.
fn loud(samples: &[i16]) -> bool {
    samples.chunks(80).all(|window| {
        let energy: f64 = window.iter().map(|&s| f64::from(s).powi(2)).sum();
        energy / window.len() as f64 > 1e6
    })
}

fn read_wav(path: &std::path::Path) -> (hound::WavSpec, Vec<Vec<i16>>) {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let channels = usize::from(spec.channels);
    let split = (0..channels)
        .map(|c| samples.iter().skip(c).step_by(channels).copied().collect())
        .collect();
    (spec, split)
}

fn recording_finished(events: &std::sync::mpsc::Receiver<MediaEvent>) -> MediaEvent {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left).unwrap() {
            event @ MediaEvent::RecordingFinished { .. } => return event,
            _ => continue,
        }
    }
}

/// Two G.711 legs bridged with their codecs, plus their far ends.
fn g711_call(
    driver: &MediaDriver,
    session: u64,
) -> (
    (LegKey, UdpSocket, SocketAddr),
    (LegKey, UdpSocket, SocketAddr),
) {
    let mut legs = Vec::new();
    for n in 0..2 {
        let key = LegKey::new(session, n);
        let ports = driver.allocate_leg(key, true).unwrap();
        let far = endpoint();
        driver
            .update_remote(key, Some(far.local_addr().unwrap()), None)
            .unwrap();
        driver
            .set_codec(key, LegCodec::new(LegEncoding::Pcmu))
            .unwrap();
        legs.push((key, far, SocketAddr::from(([127, 0, 0, 1], ports.rtp))));
    }
    driver.bridge(legs[0].0, legs[1].0).unwrap();
    let agent = legs.pop().unwrap();
    (legs.pop().unwrap(), agent)
}

/// 2 s of a call recorded: the caller says 1 kHz, the agent 400 Hz
/// with 0.5 s of nothing from 0.6 s, the recording paused from 1.4 to
/// 1.7 s. The WAV has the caller left, the agent right, the gap and the
/// pause as silence, and the length of the call.
fn records_a_call_as_stereo_wav_on(io: MediaIo, first_port: u16) {
    let config = loopback(first_port, 1, io);
    let (driver, events) = MediaDriver::start(config).unwrap();
    let ((caller, caller_far, caller_port), (agent, agent_far, agent_port)) =
        g711_call(&driver, 31);
    let path = recording_dir(&format!("call-{io:?}")).join("call.wav");

    let before_start = Instant::now();
    let id = driver
        .start_recording(caller, agent, &path, media::PauseMode::Silence)
        .unwrap();
    let started = Instant::now();
    let (mut paused, mut resumed) = (false, false);
    // When the pause and resume commands ran (before, after each).
    let mut pause_window = (started, started);
    let mut resume_window = (started, started);
    // When each packet actually left (the loop may run late when the
    // machine is busy): the file's timeline follows arrivals.
    let mut sent_at = Vec::with_capacity(100);
    for n in 0..100u32 {
        let due = started + Duration::from_millis(20 * u64::from(n));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        sent_at.push(Instant::now());
        let at = 20 * n;
        if at >= 1400 && !paused {
            let before = Instant::now();
            driver.pause_recording(id).unwrap();
            pause_window = (before, Instant::now());
            paused = true;
        }
        if at >= 1700 && !resumed {
            let before = Instant::now();
            driver.resume_recording(id).unwrap();
            resume_window = (before, Instant::now());
            resumed = true;
        }
        caller_far
            .send_to(&tone_packet(0xca11, n, 1000.0), caller_port)
            .unwrap();
        if !(600..1100).contains(&at) {
            agent_far
                .send_to(&tone_packet(0xa9e7, n, 400.0), agent_port)
                .unwrap();
        }
    }
    std::thread::sleep(
        (started + Duration::from_secs(2)).saturating_duration_since(Instant::now()),
    );
    let before_stop = Instant::now();
    driver.stop_recording(id).unwrap();
    let stopped = Instant::now();

    let MediaEvent::RecordingFinished {
        id: finished,
        path: written,
        duration,
        paused,
        dropped_frames,
        has_speech,
        end,
    } = recording_finished(&events)
    else {
        unreachable!()
    };
    assert_eq!(
        (finished, &written, end),
        (id, &path, media::RecordingEnd::Stopped)
    );
    assert_eq!((dropped_frames, has_speech), (0, None));
    // The recording ran from the start command to the stop command,
    // to the next 20 ms.
    let (shortest, longest) = (before_stop - started, stopped - before_start);
    assert!(
        duration + Duration::from_millis(20) >= shortest
            && duration <= longest + Duration::from_millis(20),
        "{duration:?} outside {shortest:?}..{longest:?}"
    );
    // As long as the commands were apart (a loaded machine may run the
    // loop late: measure, not assume), plus the frames silenced before
    // the pause took effect (up to 120 ms) and 20 ms frames on each side.
    let shortest = resume_window.0.saturating_duration_since(pause_window.1);
    let longest = resume_window.1.saturating_duration_since(pause_window.0);
    assert!(
        paused + Duration::from_millis(40) >= shortest
            && paused <= longest + Duration::from_millis(160),
        "{paused:?} outside {shortest:?}..{longest:?}"
    );

    let (spec, channels) = read_wav(&path);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let (left, right) = (&channels[0], &channels[1]);
    assert_eq!(left.len() as u128, duration.as_millis() * 8);
    // Caller left, agent right.
    let l = span(left, 0.2, 0.5);
    let r = span(right, 0.2, 0.5);
    assert!(power_at(l, 1000.0) > 100.0 * power_at(l, 400.0));
    assert!(power_at(r, 400.0) > 100.0 * power_at(r, 1000.0));
    // Seconds into the file of an instant (the file starts at `started`).
    let secs = |at: Instant| at.saturating_duration_since(started).as_secs_f64();
    // The agent's gap (packets 30..55 not sent) is silence, the caller
    // goes on. The recorder places audio by RTP timestamp once a stream
    // runs, so a sender running late on a loaded machine has its audio
    // after the gap placed earlier than it was sent: the gap checked is
    // where sending times and timestamps agree (packet n is 20 ms x n
    // after packet 0).
    let by_timestamp = |n: u32| secs(sent_at[0]) + f64::from(n) * 0.02;
    let gap = (
        (secs(sent_at[30]) + 0.06).max(by_timestamp(30) + 0.06),
        (secs(sent_at[55]) - 0.02).min(by_timestamp(55) - 0.02),
    );
    assert!(
        gap.1 - gap.0 > 0.2,
        "the loop ran too late to check: {gap:?}"
    );
    assert!(span(right, gap.0, gap.1).iter().all(|&s| s == 0), "{gap:?}");
    assert!(loud(span(left, gap.0, gap.1)));
    // The pause is silence on both sides; before and after, speech.
    let pause = (secs(pause_window.1) + 0.02, secs(resume_window.0) - 0.02);
    assert!(
        span(left, pause.0, pause.1).iter().all(|&s| s == 0),
        "{pause:?}"
    );
    assert!(span(right, pause.0, pause.1).iter().all(|&s| s == 0));
    let before = secs(pause_window.0) - 0.3;
    let after = secs(resume_window.1) + 0.1;
    for channel in [left, right] {
        assert!(loud(span(channel, before, before + 0.1)), "{before}");
        assert!(loud(span(channel, after, after + 0.1)), "{after}");
    }
    assert_eq!(driver.counters().unwrap().recording_frames_dropped, 0);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    driver.shutdown();
}

/// A caller leaves 0.8 s of message and then says nothing: the
/// voicemail ends by itself on silence, the silence left out.
fn a_voicemail_ends_on_silence_on(io: MediaIo, first_port: u16) {
    let config = loopback(first_port, 1, io);
    let (driver, events) = MediaDriver::start(config).unwrap();
    let leg = LegKey::new(41, 0);
    let ports = driver.allocate_leg(leg, true).unwrap();
    let caller = endpoint();
    driver
        .update_remote(leg, Some(caller.local_addr().unwrap()), None)
        .unwrap();
    driver
        .set_codec(leg, LegCodec::new(LegEncoding::Pcmu))
        .unwrap();
    let path = recording_dir(&format!("voicemail-{io:?}")).join("message.wav");
    let limits = media::VoicemailConfig {
        max_length: Duration::from_secs(10),
        min_length: Duration::from_millis(300),
        silence_timeout: Duration::from_millis(500),
        silence_threshold_dbfs: -40.0,
    };
    let id = driver.start_voicemail(leg, &path, limits).unwrap();
    let relay_addr = SocketAddr::from(([127, 0, 0, 1], ports.rtp));
    let started = Instant::now();
    for n in 0..150u32 {
        let due = started + Duration::from_millis(20 * u64::from(n));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let mut packet = tone_packet(0x5, n, 700.0);
        if n >= 40 {
            // μ-law silence after 0.8 s.
            packet[12..].fill(0xff);
        }
        caller.send_to(&packet, relay_addr).unwrap();
        if let Ok(event) = events.try_recv() {
            let MediaEvent::RecordingFinished {
                id: finished,
                duration,
                has_speech,
                end,
                dropped_frames,
                ..
            } = event
            else {
                continue;
            };
            assert_eq!(finished, id);
            assert_eq!(end, media::RecordingEnd::Silence);
            assert_eq!((has_speech, dropped_frames), (Some(true), 0));
            // 0.8 s of message, give or take the first packet's arrival.
            let ms = duration.as_millis();
            assert!((760..=860).contains(&ms), "{duration:?}");
            // Over after the silence timeout, not much later.
            let over = started.elapsed();
            assert!(over >= Duration::from_millis(1300), "{over:?}");
            assert!(over < Duration::from_millis(2500), "{over:?}");
            let (spec, channels) = read_wav(&path);
            assert_eq!((spec.channels, spec.sample_rate), (1, 8000));
            assert_eq!(channels[0].len() as u128, ms * 8);
            let speech = span(&channels[0], 0.1, 0.7);
            assert!(power_at(speech, 700.0) > 100.0 * power_at(speech, 1000.0));
            // The shard stopped tapping before the event came.
            assert!(matches!(
                driver.stop_recording(id),
                Err(media::DriverError::Relay(
                    media::RelayError::UnknownRecording(_)
                ))
            ));
            std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
            driver.shutdown();
            return;
        }
    }
    panic!("the voicemail did not end on silence");
}

/// Paths that cannot be created are refused (blocking: an error;
/// detached: a failed end), a start on a leg without codec is refused,
/// and freeing a leg completes its recording.
fn recording_errors_and_freed_legs_end_cleanly_on(io: MediaIo, first_port: u16) {
    let config = loopback(first_port, 2, io);
    let (driver, events) = MediaDriver::start(config).unwrap();
    let ((caller, caller_far, caller_port), (agent, _agent_far, _)) = g711_call(&driver, 51);
    let mode = media::PauseMode::Silence;
    let missing = std::path::Path::new("/nonexistent-switchboard-dir/call.wav");

    let error = driver
        .start_recording(caller, agent, missing, mode)
        .unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(error, media::DriverError::Recording { ref path, .. } if path == missing),
        "{text}"
    );
    assert!(
        text.contains("nonexistent-switchboard-dir") && text.contains("creating"),
        "{text}"
    );

    let id = driver
        .detached()
        .start_recording(caller, agent, missing, mode)
        .unwrap();
    let MediaEvent::RecordingFinished {
        id: failed, end, ..
    } = recording_finished(&events)
    else {
        unreachable!()
    };
    assert_eq!(failed, id);
    assert!(
        matches!(end, media::RecordingEnd::Failed(ref reason) if reason.contains("creating")),
        "{end:?}"
    );

    // A leg without a codec, a leg that does not exist.
    let bare = LegKey::new(51, 2);
    driver.allocate_leg(bare, true).unwrap();
    assert!(matches!(
        driver.start_voicemail(
            bare,
            std::env::temp_dir().join("switchboard-never-created.wav"),
            Default::default()
        ),
        Err(media::DriverError::Relay(media::RelayError::NoCodec(_)))
    ));
    let ghost = driver
        .detached()
        .start_voicemail(
            LegKey::new(51, 9),
            std::env::temp_dir().join("switchboard-never-created.wav"),
            Default::default(),
        )
        .unwrap();
    let MediaEvent::RecordingFinished {
        id: failed, end, ..
    } = recording_finished(&events)
    else {
        unreachable!()
    };
    assert_eq!(failed, ghost);
    assert!(
        matches!(end, media::RecordingEnd::Failed(ref reason) if reason.contains("no leg")),
        "{end:?}"
    );

    // The failures left the legs free to record; an existing file is
    // not overwritten.
    let path = recording_dir(&format!("freed-{io:?}")).join("call.wav");
    let id = driver.start_recording(caller, agent, &path, mode).unwrap();
    assert!(matches!(
        driver.start_recording(caller, agent, &path, mode),
        Err(media::DriverError::Relay(
            media::RelayError::AlreadyRecorded(_)
        ))
    ));
    let started = Instant::now();
    for n in 0..15u32 {
        caller_far
            .send_to(&tone_packet(1, n, 1000.0), caller_port)
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    driver.free_leg(caller).unwrap();
    let elapsed = started.elapsed();
    let MediaEvent::RecordingFinished {
        id: finished,
        duration,
        end,
        ..
    } = recording_finished(&events)
    else {
        unreachable!()
    };
    assert_eq!((finished, end), (id, media::RecordingEnd::LegRemoved));
    assert!(
        duration + Duration::from_millis(60) >= elapsed
            && duration <= elapsed + Duration::from_millis(60),
        "{duration:?} for {elapsed:?}"
    );
    // A complete file: its header says what it holds.
    let (spec, channels) = read_wav(&path);
    assert_eq!(spec.channels, 2);
    assert_eq!(channels[0].len() as u128, duration.as_millis() * 8);
    let error = driver
        .start_voicemail(agent, &path, Default::default())
        .unwrap_err();
    assert!(error.to_string().contains("exists"), "{error}");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    driver.shutdown();
}

/// The μ-law audio of the RTP packets `socket` holds, after the first
/// `skip`, until it has been quiet for 300 ms (at most 500 packets).
fn drain_audio(socket: &UdpSocket, skip: usize) -> Vec<i16> {
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 1500];
    let mut packets = 0;
    let mut pcm = Vec::new();
    while let Ok((len, _)) = socket.recv_from(&mut buf) {
        assert!(packets < 500, "the stream does not stop");
        if media::classify(&buf[..len]) != media::PacketKind::Rtp {
            continue;
        }
        let rtp = media::RtpPacket::parse(&buf[..len]).unwrap();
        assert_eq!(rtp.payload_type(), 0);
        packets += 1;
        if packets > skip {
            let mut frame = vec![0i16; rtp.payload().len()];
            G711::Mulaw.decode(rtp.payload(), &mut frame);
            pcm.extend(frame);
        }
    }
    pcm
}

/// Three far ends in one session's conference through the driver: the
/// caller says 500 Hz, the agent 1 kHz (they were bridged, joining
/// unbridges them), a supervisor 1.5 kHz while listening (joined with
/// a detached command). Each hears the others it may hear, never
/// itself; nobody hears the supervisor.
fn three_sockets_in_a_conference_on(io: MediaIo, first_port: u16) {
    const PACKETS: u32 = 40;
    let config = loopback(first_port, 2, io);
    let (driver, events) = MediaDriver::start(config).unwrap();
    let (caller, agent) = g711_call(&driver, 61);
    let supervisor_key = LegKey::new(61, 2);
    let ports = driver.allocate_leg(supervisor_key, true).unwrap();
    let supervisor = (
        supervisor_key,
        endpoint(),
        SocketAddr::from(([127, 0, 0, 1], ports.rtp)),
    );
    let detached = driver.detached();
    // No codec yet: refused, reported as an event.
    detached
        .join_conference(supervisor_key, ConferenceRole::Listen)
        .unwrap();
    let refused = loop {
        match events.recv_timeout(Duration::from_secs(2)).unwrap() {
            MediaEvent::Refused { leg, reason } => break (leg, reason),
            _ => continue,
        }
    };
    assert_eq!(refused.0, supervisor_key);
    assert!(refused.1.contains("no codec"), "{}", refused.1);
    detached
        .update_remote(
            supervisor_key,
            Some(supervisor.1.local_addr().unwrap()),
            None,
        )
        .unwrap();
    detached
        .set_codec(supervisor_key, LegCodec::new(LegEncoding::Pcmu))
        .unwrap();
    detached
        .join_conference(supervisor_key, ConferenceRole::Listen)
        .unwrap();
    driver
        .join_conference(caller.0, ConferenceRole::Normal)
        .unwrap();
    driver
        .join_conference(agent.0, ConferenceRole::Normal)
        .unwrap();
    assert!(matches!(
        driver.set_conference_role(caller.0, ConferenceRole::Whisper { target: caller.0 }),
        Err(media::DriverError::Relay(media::RelayError::WhisperTarget(
            _
        )))
    ));

    let parties = [(&caller, 500.0), (&agent, 1000.0), (&supervisor, 1500.0)];
    for n in 0..PACKETS {
        for (ssrc, ((_, far, relay), hz)) in (1..).zip(parties) {
            far.send_to(&tone_packet(ssrc, n, hz), relay).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The last frames mixed, everyone leaves: the streams stop.
    std::thread::sleep(Duration::from_millis(60));
    for ((key, _, _), _) in parties {
        driver.leave_conference(*key).unwrap();
    }
    let heard: Vec<Vec<i16>> = parties
        .iter()
        .map(|((_, far, _), _)| drain_audio(far, 10))
        .collect();
    for (who, samples) in ["caller", "agent", "supervisor"].iter().zip(&heard) {
        assert!(
            samples.len() >= 160 * 20,
            "{who}: {} samples",
            samples.len()
        );
    }
    let power = |who: usize, hz: f64| power_at(&heard[who], hz) / heard[who].len() as f64;
    // Mix-minus: each hears the others, not itself; the listener is
    // heard by nobody.
    for (who, hears, not) in [
        (0, &[1000.0][..], &[500.0, 1500.0][..]),
        (1, &[500.0], &[1000.0, 1500.0]),
        (2, &[500.0, 1000.0], &[1500.0]),
    ] {
        for &loud in hears {
            for &quiet in not {
                assert!(
                    power(who, loud) > 100.0 * power(who, quiet),
                    "party {who}: {loud} Hz {} vs {quiet} Hz {}",
                    power(who, loud),
                    power(who, quiet)
                );
            }
        }
    }
    let counters = driver.counters().unwrap();
    assert!(counters.relay.conference_frames_mixed >= u64::from(PACKETS) * 2);
    assert!(counters.relay.local_rtp >= u64::from(PACKETS) * 3);
    driver.free_leg(caller.0).unwrap();
    driver.shutdown();
}

/// A carrier on PCMU bridged to an agent on G.722 through the driver:
/// the relay transcodes, the agent gets G.722 (payload type 9, 160
/// timestamp units a packet) that decodes to the carrier's 1 kHz tone.
/// A codec refused by a detached command leaves the bridge as it was.
fn transcodes_between_a_pcmu_and_a_g722_socket_on(io: MediaIo, first_port: u16) {
    const PACKETS: u32 = 50;
    let config = loopback(first_port, 2, io);
    let (driver, events) = MediaDriver::start(config).unwrap();
    let ((_, carrier, to_carrier), (agent_key, agent, _)) = g711_call(&driver, 71);
    let mut g722 = LegCodec::new(LegEncoding::G722);
    g722.telephone_event_pt = Some(96);
    driver.set_codec(agent_key, g722).unwrap();
    let mut broken = g722;
    broken.payload_type = 200;
    driver.detached().set_codec(agent_key, broken).unwrap();
    let refused = loop {
        match events.recv_timeout(Duration::from_secs(2)).unwrap() {
            MediaEvent::Refused { leg, reason } => break (leg, reason),
            _ => continue,
        }
    };
    assert_eq!(refused.0, agent_key);
    let mut decoder = G722Decoder::new();
    let mut wideband = Vec::new();
    let mut stamps = Vec::new();
    for n in 0..PACKETS {
        carrier
            .send_to(&tone_packet(0xca11, n, 1000.0), to_carrier)
            .unwrap();
        let packet = recv(&agent);
        let rtp = media::RtpPacket::parse(&packet).unwrap();
        assert_eq!((rtp.payload_type(), rtp.payload().len()), (9, 160));
        stamps.push((rtp.sequence_number(), rtp.timestamp()));
        let mut pcm = [0i16; 320];
        decoder.decode_samples(rtp.payload(), &mut pcm).unwrap();
        wideband.extend_from_slice(&pcm);
    }
    for pair in stamps.windows(2) {
        assert_eq!(pair[1].0, pair[0].0.wrapping_add(1));
        assert_eq!(pair[1].1, pair[0].1.wrapping_add(160));
    }
    // 1 kHz and nothing much else, at 8 kHz (every other sample: the
    // carrier's tone has nothing above 4 kHz to fold).
    let narrow: Vec<i16> = wideband.iter().skip(1600).step_by(2).copied().collect();
    let tone = power_at(&narrow, 1000.0);
    assert!(tone > 100.0 * power_at(&narrow, 2000.0), "{tone}");
    assert!(tone > 100.0 * power_at(&narrow, 500.0), "{tone}");
    let counters = driver.counters().unwrap();
    assert_eq!(counters.relay.frames_transcoded, u64::from(PACKETS));
    assert_eq!(counters.relay.transcode_errors, 0);
    driver.shutdown();
}

#[path = "support/tos.rs"]
mod tos;

/// Relayed RTP leaves with the configured DSCP mark (here AF41, 34), so
/// that networks with QoS can give it priority.
fn relayed_packets_carry_the_configured_dscp_mark_on(io: MediaIo, first_port: u16) {
    let config = DriverConfig {
        dscp: 34,
        ..loopback(first_port, 1, io)
    };
    let (driver, _events) = MediaDriver::start(config).unwrap();
    let ((_, carrier, relay_carrier), (_, agent, _)) = g711_call(&driver, 7);
    tos::ask_for_tos(&agent);
    for seq in 0..3u16 {
        let packet = rtp(0xca11, seq, 7);
        carrier.send_to(&packet, relay_carrier).unwrap();
        assert_eq!(tos::recv_with_tos(&agent), (packet, Some(34 << 2)));
    }
    driver.shutdown();
}

/// The remote ports of the IPv4 UDP sockets bound to `port`, sorted (0:
/// not connected), from /proc/net/udp.
fn remote_ports(port: u16) -> Vec<u16> {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap();
    let hex_port = |address: &str| u16::from_str_radix(address.split(':').nth(1).unwrap(), 16);
    let mut remotes: Vec<u16> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let (local, remote) = (fields.next()?, fields.next()?);
            (hex_port(local).ok()? == port).then(|| hex_port(remote).ok())?
        })
        .collect();
    remotes.sort_unstable();
    remotes
}

/// Waits up to 2 s for `remote_ports(port)` to be `expected`.
fn wait_for_remote_ports(port: u16, expected: &[u16]) {
    let give_up = Instant::now() + Duration::from_secs(2);
    while remote_ports(port) != expected && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(remote_ports(port), expected);
}

/// A carrier that moves to a new address mid-call: the leg latches onto
/// the new source once the old one has been quiet, the other leg's audio
/// follows it, and the old address is refused from then on. The port's
/// socket is connected to the latched source, with a catch socket for
/// every other one.
fn relatches_onto_a_new_source_after_silence_and_refuses_the_old_one_on(
    io: MediaIo,
    first_port: u16,
) {
    let config = DriverConfig {
        relay: RelayConfig {
            latch: media::LatchPolicy::RelatchAfter(Duration::from_millis(200)),
            ..RelayConfig::default()
        },
        ..loopback(first_port, 1, io)
    };
    let (driver, _events) = MediaDriver::start(config).unwrap();
    let ((_, carrier, relay_carrier), (_, agent, relay_agent)) = g711_call(&driver, 9);
    let relayed = |from: &UdpSocket, to_relay, packet: Vec<u8>, to: &UdpSocket| {
        from.send_to(&packet, to_relay).unwrap();
        assert_eq!(recv(to), packet);
    };
    let port_of = |socket: &UdpSocket| socket.local_addr().unwrap().port();
    assert_eq!(remote_ports(relay_carrier.port()), [0]);
    relayed(&carrier, relay_carrier, rtp(0xca11, 0, 1), &agent);
    relayed(&agent, relay_agent, rtp(0xa6e7, 0, 2), &carrier);
    wait_for_remote_ports(relay_carrier.port(), &[0, port_of(&carrier)]);

    std::thread::sleep(Duration::from_millis(300));
    let moved = endpoint();
    relayed(&moved, relay_carrier, rtp(0xca11, 1, 3), &agent);
    relayed(&agent, relay_agent, rtp(0xa6e7, 1, 4), &moved);
    wait_for_remote_ports(relay_carrier.port(), &[0, port_of(&moved)]);

    carrier.send_to(&rtp(0xca11, 2, 5), relay_carrier).unwrap();
    // The next genuine packet proves the old address's was not relayed.
    relayed(&moved, relay_carrier, rtp(0xca11, 3, 6), &agent);
    let counters = driver.counters().unwrap();
    assert_eq!(counters.relay.dropped(DropReason::UnlatchedSource), 1);
    assert_eq!(counters.io_errors, 0);
    driver.shutdown();
}

on_both_backends!(relays_rtp_and_srtp_between_two_sockets_on(46_000): relays_rtp_and_srtp_between_two_sockets, relays_rtp_and_srtp_between_two_sockets_on_io_uring);

on_both_backends!(records_a_call_as_stereo_wav_on(48_300): records_a_call_as_stereo_wav, records_a_call_as_stereo_wav_on_io_uring);

on_both_backends!(recording_errors_and_freed_legs_end_cleanly_on(48_500): recording_errors_and_freed_legs_end_cleanly, recording_errors_and_freed_legs_end_cleanly_on_io_uring);

on_both_backends!(three_sockets_in_a_conference_on(48_600): three_sockets_in_a_conference, three_sockets_in_a_conference_on_io_uring);

on_both_backends!(relayed_packets_carry_the_configured_dscp_mark_on(48_900): relayed_packets_carry_the_configured_dscp_mark, relayed_packets_carry_the_configured_dscp_mark_on_io_uring);

on_both_backends!(relatches_onto_a_new_source_after_silence_and_refuses_the_old_one_on(47_200): relatches_onto_a_new_source_after_silence_and_refuses_the_old_one, relatches_onto_a_new_source_after_silence_and_refuses_the_old_one_on_io_uring);

on_both_backends!(a_voicemail_ends_on_silence_on(48_400): a_voicemail_ends_on_silence, a_voicemail_ends_on_silence_on_io_uring);

on_both_backends!(transcodes_between_a_pcmu_and_a_g722_socket_on(48_800): transcodes_between_a_pcmu_and_a_g722_socket, transcodes_between_a_pcmu_and_a_g722_socket_on_io_uring);

/// Waits up to a second for `address` to be free to bind.
fn bindable_soon(address: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    while UdpSocket::bind(address).is_err() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// A freed leg's port, and after a shutdown every port, is given back
/// to the system (with io_uring: once the socket's receive is
/// cancelled), and the driver runs on the I/O it was asked for.
fn ports_are_released_on(io: MediaIo, first_port: u16) {
    let (driver, _events) = MediaDriver::start(loopback(first_port, 1, io)).unwrap();
    assert_eq!(driver.io(), io);
    let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let (freed, kept) = (LegKey::new(5, 0), LegKey::new(5, 1));
    let freed_port = at(driver.allocate_leg(freed, false).unwrap().rtp);
    let kept_port = at(driver.allocate_leg(kept, true).unwrap().rtp);
    assert!(
        UdpSocket::bind(freed_port).is_err(),
        "the leg holds its port"
    );
    driver.free_leg(freed).unwrap();
    assert!(bindable_soon(freed_port), "{freed_port} still bound");
    assert!(UdpSocket::bind(kept_port).is_err());
    driver.shutdown();
    assert!(bindable_soon(kept_port), "{kept_port} still bound");
}

on_both_backends!(ports_are_released_on(47_300):
    ports_are_released, ports_are_released_on_io_uring);

/// On io_uring a datagram longer than a receive buffer (2 KiB, far
/// above the path MTU RTP keeps to) is dropped and counted, and the
/// packets after it are relayed as ever.
#[test]
fn an_oversized_datagram_is_dropped_and_counted_on_io_uring() {
    let (driver, _events) = MediaDriver::start(loopback(50_400, 1, MediaIo::Uring)).unwrap();
    let ((_, carrier, relay_carrier), (_, agent, _)) = g711_call(&driver, 8);
    let mut oversized = rtp(0xca11, 1, 7);
    oversized.resize(3000, 7);
    carrier.send_to(&oversized, relay_carrier).unwrap();
    let packet = rtp(0xca11, 2, 7);
    carrier.send_to(&packet, relay_carrier).unwrap();
    assert_eq!(recv(&agent), packet);
    let counters = driver.counters().unwrap();
    assert_eq!(counters.recv_truncated, 1);
    assert_eq!(counters.recv_datagrams, 2);
    driver.shutdown();
}
