//! Recording taps on simulated time: packets arrive with jitter, in
//! bursts, with gaps; the relay is woken at its own `poll_timeout`.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::super::test_support::{
    self, carrier_addr as caller_addr, context, leg_config, teams_addr as agent_addr,
    CARRIER as CALLER, CARRIER_PORT as CALLER_PORT, TEAMS as AGENT, TEAMS_PORT as AGENT_PORT,
};
use super::super::*;
use crate::{LegCodec, LegEncoding, G711};

const ID: RecordingId = RecordingId(7);
const MS: Duration = Duration::from_millis(1);

fn leg(relay: &mut MediaRelay, now: Instant, key: LegKey, port: u16, remote: SocketAddr) {
    let config = leg_config(port, remote, false);
    relay.add_leg(now, key, config).unwrap();
}

/// Caller and agent bridged, both with PCMU.
fn call(now: Instant) -> MediaRelay {
    let mut relay = MediaRelay::new(RelayConfig::default());
    leg(&mut relay, now, CALLER, CALLER_PORT, caller_addr());
    leg(&mut relay, now, AGENT, AGENT_PORT, agent_addr());
    relay.bridge(now, CALLER, AGENT).unwrap();
    for key in [CALLER, AGENT] {
        relay
            .set_codec(now, key, LegCodec::new(LegEncoding::Pcmu))
            .unwrap();
    }
    relay
}

/// μ-law of a `hz` tone, samples `from..from + 160` of it.
fn tone(hz: f64, from: u32) -> Vec<u8> {
    let pcm: Vec<i16> = (from..from + 160)
        .map(|n| {
            let t = f64::from(n) / 8000.0;
            (10_000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect();
    let mut out = vec![0u8; 160];
    G711::Mulaw.encode(&pcm, &mut out);
    out
}

/// A PCMU packet.
fn rtp(ssrc: u32, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    test_support::rtp(ssrc, seq, ts, 0, false, payload)
}

/// A relay driven as a shard drives it, collecting what it records.
struct Sim {
    relay: MediaRelay,
    now: Instant,
    frames: Vec<RecordedFrame>,
    ends: Vec<(RecordingId, u64, RecordingEnd)>,
}

impl Sim {
    fn new(relay: MediaRelay, now: Instant) -> Self {
        Self {
            relay,
            now,
            frames: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// A sim whose relay records the call of `CALLER` and `AGENT` as
    /// `ID` from `now`.
    fn recording(relay: MediaRelay, now: Instant) -> Self {
        let mut sim = Self::new(relay, now);
        sim.relay
            .start_call_recording(now, ID, CALLER, AGENT)
            .unwrap();
        sim
    }

    fn drain(&mut self) {
        while let Some(output) = self.relay.poll_recording() {
            match output {
                RecordingOutput::Frame(frame) => self.frames.push(frame),
                RecordingOutput::Ended { id, frames, end } => self.ends.push((id, frames, end)),
            }
        }
        let mut buf = [0u8; 1500];
        while self.relay.poll_transmit(self.now, &mut buf).is_some() {}
        while self.relay.poll_event().is_some() {}
    }

    /// Wakes the relay at each of its timeouts up to `at` (each 1 ms
    /// late), then sets the clock to `at`.
    fn advance(&mut self, at: Instant) {
        while let Some(due) = self.relay.poll_timeout() {
            let wake = due + MS;
            if wake > at {
                break;
            }
            self.now = self.now.max(wake);
            self.relay.handle_timeout(self.now);
            self.drain();
        }
        self.now = self.now.max(at);
    }

    fn receive(&mut self, port: u16, from: SocketAddr, packet: &[u8]) {
        let mut buf = [0u8; 1500];
        buf[..packet.len()].copy_from_slice(packet);
        self.relay
            .handle_packet(self.now, port, from, &mut buf, packet.len());
        self.drain();
    }

    fn stop(&mut self, id: RecordingId) {
        self.relay.stop_recording(self.now, id).unwrap();
        self.drain();
    }
}

/// A sender's packets: 20 ms of `hz` each, the `n`th sent at
/// `start + (n + 1) × 20 ms + jitter(n)` unless `skip(n)`.
struct Stream {
    ssrc: u32,
    ts0: u32,
    hz: f64,
    port: u16,
    from: SocketAddr,
}

impl Stream {
    fn packet(&self, n: u32) -> Vec<u8> {
        let ts = self.ts0.wrapping_add(n * 160);
        rtp(self.ssrc, n as u16, ts, &tone(self.hz, n * 160))
    }
}

fn energy(samples: &[i16]) -> f64 {
    samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64
}

/// Power of `samples` at `hz` (Goertzel).
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

fn channel(frames: &[RecordedFrame], range: std::ops::Range<usize>, agent: bool) -> Vec<i16> {
    frames[range]
        .iter()
        .flat_map(|f| if agent { f.agent } else { f.caller })
        .collect()
}

/// Sends both streams over `duration`, caller jittered by up to 15 ms,
/// the agent silent from 400 to 700 ms.
fn jittered_call(sim: &mut Sim, start: Instant, duration: Duration) {
    let caller = Stream {
        ssrc: 0xca11,
        ts0: 123_456,
        hz: 1000.0,
        port: CALLER_PORT,
        from: caller_addr(),
    };
    let agent = Stream {
        ssrc: 0xa9e7,
        ts0: u32::MAX - 800,
        hz: 400.0,
        port: AGENT_PORT,
        from: agent_addr(),
    };
    let mut arrivals = Vec::new();
    let packets = (duration.as_millis() / 20) as u32;
    let mut seed = 0x2545_f491_u32;
    for n in 0..packets {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let jitter = MS * (seed % 16);
        let sent = start + MS * (20 * (n + 1));
        arrivals.push((sent + jitter, true, n));
        let at = 20 * (n + 1);
        if !(400..700).contains(&at) {
            arrivals.push((sent + MS, false, n));
        }
    }
    arrivals.sort_by_key(|&(at, caller, n)| (at, caller, n));
    for (at, is_caller, n) in arrivals {
        sim.advance(at);
        let stream = if is_caller { &caller } else { &agent };
        sim.receive(stream.port, stream.from, &stream.packet(n));
    }
}

#[test]
fn both_legs_are_recorded_on_one_timeline() {
    let start = Instant::now();
    let mut sim = Sim::recording(call(start), start);
    assert_eq!(sim.relay.recording_of(CALLER), Some(ID));
    assert_eq!(sim.relay.recording_of(AGENT), Some(ID));
    jittered_call(&mut sim, start, Duration::from_millis(1000));
    // The last packets arrive up to 15 ms after the second.
    sim.advance(start + Duration::from_millis(1020));
    sim.stop(ID);

    // One frame per 20 ms of the clock, in order, then the end.
    assert_eq!(sim.ends, [(ID, 51, RecordingEnd::Stopped)]);
    let indices: Vec<u64> = sim.frames.iter().map(|f| f.index).collect();
    assert_eq!(indices, (0..51).collect::<Vec<_>>());
    assert!(sim.frames.iter().all(|f| f.id == ID && !f.paused));
    assert_eq!(sim.relay.recording_of(CALLER), None);

    // The caller's tone is whole despite 15 ms of jitter: no frame
    // after the first is without it, and it is 1 kHz.
    for frame in &sim.frames[1..49] {
        let silent = frame.caller.windows(40).any(|w| w.iter().all(|&s| s == 0));
        assert!(!silent, "caller frame {} has a hole", frame.index);
    }
    let left = channel(&sim.frames, 2..48, false);
    assert!(power_at(&left, 1000.0) > 100.0 * power_at(&left, 400.0));
    // The agent: 400 Hz, silence in its gap (400-700 ms, give or take a
    // frame), on the same timeline as the caller.
    let right = channel(&sim.frames, 2..18, true);
    assert!(power_at(&right, 400.0) > 100.0 * power_at(&right, 1000.0));
    for frame in &sim.frames[21..34] {
        assert!(
            frame.agent.iter().all(|&s| s == 0),
            "agent frame {}",
            frame.index
        );
    }
    for frame in sim.frames[2..19].iter().chain(&sim.frames[36..49]) {
        assert!(energy(&frame.agent) > 1e6, "agent frame {}", frame.index);
    }
}

#[test]
fn the_file_follows_the_clock_without_packets() {
    let start = Instant::now();
    let mut sim = Sim::recording(call(start), start);
    sim.advance(start + Duration::from_secs(10));
    // Frames went out as the clock went, not all at the stop.
    assert!(sim.frames.len() >= 490, "{}", sim.frames.len());
    sim.stop(ID);
    assert_eq!(sim.frames.len(), 500);
    assert_eq!(sim.ends, [(ID, 500, RecordingEnd::Stopped)]);
    assert!(sim
        .frames
        .iter()
        .all(|f| f.caller == [0; 160] && f.agent == [0; 160]));
}

#[test]
fn a_burst_read_late_lands_by_timestamp() {
    let start = Instant::now();
    let mut sim = Sim::recording(call(start), start);
    let caller = Stream {
        ssrc: 1,
        ts0: 5_000,
        hz: 1000.0,
        port: CALLER_PORT,
        from: caller_addr(),
    };
    for n in 0..25u32 {
        // Packets 10..15 sat in the socket until 300 ms.
        let at = if (10..15).contains(&n) {
            300
        } else {
            20 * (n + 1)
        };
        sim.advance(start + MS * at.max(20 * (n + 1)));
        sim.receive(caller.port, caller.from, &caller.packet(n));
    }
    sim.advance(start + Duration::from_millis(500));
    sim.stop(ID);
    assert_eq!(sim.frames.len(), 25);
    for frame in &sim.frames[..25] {
        assert!(energy(&frame.caller) > 1e6, "frame {}", frame.index);
    }
    // Samples in order: the tone's phase runs on across the burst.
    let left = channel(&sim.frames, 0..25, false);
    let expected: Vec<u8> = (0..25).flat_map(|n| tone(1000.0, n * 160)).collect();
    let mut decoded = vec![0i16; expected.len()];
    G711::Mulaw.decode(&expected, &mut decoded);
    assert_eq!(left, decoded);
}

#[test]
fn packets_of_10_30_and_60_ms_land_sample_for_sample() {
    for ptime in [10u32, 30, 60] {
        let start = Instant::now();
        let mut sim = Sim::recording(call(start), start);
        let len = 8 * ptime;
        let mut said = Vec::new();
        for n in 0..600 / ptime {
            let pcm: Vec<i16> = (n * len..(n + 1) * len)
                .map(|k| (8000.0 * (f64::from(k) * 0.3).sin()) as i16)
                .collect();
            let mut payload = vec![0u8; pcm.len()];
            G711::Mulaw.encode(&pcm, &mut payload);
            said.extend_from_slice(&payload);
            // Each packet arrives once said.
            sim.advance(start + MS * (ptime * (n + 1)));
            let packet = rtp(9, n as u16, 5_000 + n * len, &payload);
            sim.receive(CALLER_PORT, caller_addr(), &packet);
        }
        sim.advance(start + Duration::from_millis(800));
        sim.stop(ID);
        // The first packet ends at its arrival: frame 0 starts with it,
        // and every sample follows in its place, none added or lost.
        let left = channel(&sim.frames, 0..30, false);
        let mut decoded = vec![0i16; said.len()];
        G711::Mulaw.decode(&said, &mut decoded);
        assert_eq!(left.len(), decoded.len());
        let wrong = left.iter().zip(&decoded).position(|(a, b)| a != b);
        assert_eq!(wrong, None, "{ptime} ms: first wrong sample");
        assert!(sim.frames[30..].iter().all(|f| f.caller == [0; 160]));
    }
}

#[test]
fn a_new_stream_or_a_stale_clock_reanchors_on_arrival() {
    let start = Instant::now();
    let mut sim = Sim::recording(call(start), start);
    let first = Stream {
        ssrc: 1,
        ts0: 0,
        hz: 1000.0,
        port: CALLER_PORT,
        from: caller_addr(),
    };
    for n in 0..10u32 {
        sim.advance(start + MS * (20 * (n + 1)));
        sim.receive(first.port, first.from, &first.packet(n));
    }
    // The same SSRC after 400 ms of nothing, its timestamps not moved on
    // (a muted phone): placed by arrival, not over the first 200 ms.
    for n in 10..15u32 {
        sim.advance(start + MS * (20 * (n + 1) + 400));
        sim.receive(first.port, first.from, &first.packet(n));
    }
    sim.advance(start + Duration::from_millis(1000));
    sim.stop(ID);
    assert_eq!(sim.frames.len(), 50);
    let loud: Vec<u64> = sim
        .frames
        .iter()
        .filter(|f| energy(&f.caller) > 1e6)
        .map(|f| f.index)
        .collect();
    assert_eq!(loud, (0..10).chain(30..35).collect::<Vec<_>>());
}

#[test]
fn a_pause_silences_everything_said_until_the_resume() {
    let start = Instant::now();
    let mut sim = Sim::recording(call(start), start);
    let caller = Stream {
        ssrc: 9,
        ts0: 77,
        hz: 1000.0,
        port: CALLER_PORT,
        from: caller_addr(),
    };
    let (mut paused, mut resumed) = (false, false);
    for n in 0..50u32 {
        let at = 20 * (n + 1);
        if at >= 310 && !paused {
            sim.advance(start + MS * 310);
            sim.relay.pause_recording(sim.now, ID).unwrap();
            paused = true;
        }
        if at >= 610 && !resumed {
            sim.advance(start + MS * 610);
            sim.relay.resume_recording(sim.now, ID).unwrap();
            resumed = true;
        }
        sim.advance(start + MS * at);
        sim.receive(caller.port, caller.from, &caller.packet(n));
    }
    sim.advance(start + Duration::from_millis(1000));
    sim.stop(ID);
    assert_eq!(sim.frames.len(), 50);
    for frame in &sim.frames {
        let begins = frame.index * 20;
        let ends = begins + 20;
        let overlaps_pause = ends > 310 && begins < 610;
        if overlaps_pause {
            assert!(frame.paused, "frame {} is paused", frame.index);
        }
        if frame.paused {
            assert_eq!(frame.caller, [0; 160], "frame {}", frame.index);
        }
    }
    // What was said before the pause (less the delay) and after the
    // resume is there.
    for frame in sim.frames[..9].iter().chain(&sim.frames[31..49]) {
        assert!(
            !frame.paused && energy(&frame.caller) > 1e6,
            "frame {}",
            frame.index
        );
    }
}

#[test]
fn removing_a_leg_ends_its_recording() {
    let start = Instant::now();
    let mut sim = Sim::recording(call(start), start);
    sim.advance(start + Duration::from_millis(500));
    sim.relay.remove_leg(AGENT).unwrap();
    sim.drain();
    let ends = std::mem::take(&mut sim.ends);
    assert_eq!(ends.len(), 1);
    let (id, frames, end) = &ends[0];
    assert_eq!((*id, end), (ID, &RecordingEnd::LegRemoved));
    // Up to the last tick the relay saw: within a frame of 500 ms.
    assert!((24..=25).contains(frames), "{frames}");
    assert_eq!(sim.frames.len() as u64, *frames);
    assert_eq!(sim.relay.recording_of(CALLER), None);
    // The caller's packets go on without a recording.
    sim.receive(CALLER_PORT, caller_addr(), &rtp(1, 1, 1, &[0xff; 160]));
    sim.advance(start + Duration::from_secs(1));
    assert!(sim.ends.is_empty());
    assert!(sim.relay.poll_timeout().is_some());
    assert!(matches!(
        sim.relay.stop_recording(sim.now, ID),
        Err(RelayError::UnknownRecording(ID))
    ));
}

#[test]
fn a_voicemail_records_what_an_srtp_caller_says() {
    let start = Instant::now();
    let mut relay = MediaRelay::new(RelayConfig::default());
    let config = leg_config(CALLER_PORT, caller_addr(), true);
    relay.add_leg(start, CALLER, config).unwrap();
    relay
        .set_codec(start, CALLER, LegCodec::new(LegEncoding::Pcma))
        .unwrap();
    let mut sim = Sim::new(relay, start);
    sim.relay.start_voicemail(start, ID, CALLER).unwrap();
    let mut sender = context(0x11);
    let pcm: Vec<i16> = (0..160)
        .map(|n| if n % 2 == 0 { 6000 } else { -6000 })
        .collect();
    let mut alaw = vec![0u8; 160];
    G711::Alaw.encode(&pcm, &mut alaw);
    for n in 0..10u32 {
        sim.advance(start + MS * (20 * (n + 1)));
        let mut packet = rtp(5, n as u16, n * 160, &alaw);
        packet[1] = 8;
        sender.protect_rtp(&mut packet).unwrap();
        sim.receive(CALLER_PORT, caller_addr(), &packet);
    }
    sim.advance(start + Duration::from_millis(200));
    sim.stop(ID);
    assert_eq!(sim.frames.len(), 10);
    let mut decoded = vec![0i16; 160];
    G711::Alaw.decode(&alaw, &mut decoded);
    // Decrypted and decoded: the caller's samples, nothing on the right.
    assert!(sim.frames.iter().all(|f| f.agent == [0; 160]));
    assert_eq!(sim.frames[5].caller.as_slice(), decoded.as_slice());
}

#[test]
fn recordings_are_refused_clearly() {
    let now = Instant::now();
    let mut relay = call(now);
    leg(&mut relay, now, LegKey::new(2, 0), 40004, agent_addr());
    assert_eq!(
        relay.start_call_recording(now, ID, CALLER, LegKey::new(2, 0)),
        Err(RelayError::NoCodec(LegKey::new(2, 0)))
    );
    assert_eq!(
        relay.start_voicemail(now, ID, LegKey::new(3, 0)),
        Err(RelayError::UnknownLeg(LegKey::new(3, 0)))
    );
    assert_eq!(
        relay.start_call_recording(now, ID, CALLER, CALLER),
        Err(RelayError::AlreadyRecorded(CALLER))
    );
    // A refused start leaves nothing behind.
    assert_eq!(relay.recording_of(CALLER), None);
    assert_eq!(relay.poll_timeout(), relay.poll_timeout());
    relay.start_call_recording(now, ID, CALLER, AGENT).unwrap();
    assert_eq!(
        relay.start_voicemail(now, RecordingId(8), AGENT),
        Err(RelayError::AlreadyRecorded(AGENT))
    );
    relay
        .set_codec(now, LegKey::new(2, 0), LegCodec::new(LegEncoding::Pcmu))
        .unwrap();
    assert_eq!(
        relay.start_voicemail(now, ID, LegKey::new(2, 0)),
        Err(RelayError::RecordingExists(ID))
    );
    let ghost = RecordingId(99);
    assert_eq!(
        relay.pause_recording(now, ghost),
        Err(RelayError::UnknownRecording(ghost))
    );
    assert_eq!(
        relay.resume_recording(now, ghost),
        Err(RelayError::UnknownRecording(ghost))
    );
    assert_eq!(
        relay.stop_recording(now, ghost),
        Err(RelayError::UnknownRecording(ghost))
    );
}

#[test]
fn late_and_odd_packets_never_panic() {
    let start = Instant::now();
    let mut sim = Sim::recording(call(start), start);
    sim.advance(start + Duration::from_secs(2));
    let odd: [(u32, usize); 5] = [(0, 0), (u32::MAX, 1), (1 << 31, 160), (7, 1200), (3, 481)];
    for (ts, len) in odd {
        sim.receive(CALLER_PORT, caller_addr(), &rtp(1, 1, ts, &vec![0x55; len]));
        sim.receive(AGENT_PORT, agent_addr(), &rtp(2, 1, ts, &vec![0x55; len]));
    }
    // A packet from before the recording began.
    sim.receive(
        CALLER_PORT,
        caller_addr(),
        &rtp(1, 2, 1u32.wrapping_sub(160 * 200), &[0x55; 160]),
    );
    sim.advance(start + Duration::from_secs(3));
    sim.stop(ID);
    assert_eq!(sim.frames.len(), 150);
}

/// A consulted colleague on the agent's side.
const COLLEAGUE: LegKey = LegKey::new(1, 2);
const COLLEAGUE_PORT: u16 = 40004;

fn colleague_addr() -> SocketAddr {
    "203.0.113.30:7000".parse().unwrap()
}

/// Each 20 ms from `from` to `to`: the caller says 1 kHz, the agent
/// 400 Hz and the colleague 2 kHz, each only while `speaking` says so.
fn three_speak(
    sim: &mut Sim,
    start: Instant,
    (from, to): (u32, u32),
    speaking: impl Fn(LegKey) -> bool,
) {
    let streams = [
        (CALLER, 0xca11, 1000.0, CALLER_PORT, caller_addr()),
        (AGENT, 0xa9e7, 400.0, AGENT_PORT, agent_addr()),
        (COLLEAGUE, 0xc011, 2000.0, COLLEAGUE_PORT, colleague_addr()),
    ];
    for n in from..to {
        sim.advance(start + MS * (20 * (n + 1)));
        for (key, ssrc, hz, port, addr) in streams {
            if speaking(key) {
                let stream = Stream {
                    ssrc,
                    ts0: 0,
                    hz,
                    port,
                    from: addr,
                };
                sim.receive(port, addr, &stream.packet(n));
            }
        }
    }
}

/// A recorded call (caller and agent) with a colleague's leg beside it,
/// not recorded yet.
fn recorded_with_colleague(start: Instant) -> Sim {
    let mut relay = call(start);
    leg(
        &mut relay,
        start,
        COLLEAGUE,
        COLLEAGUE_PORT,
        colleague_addr(),
    );
    relay
        .set_codec(start, COLLEAGUE, LegCodec::new(LegEncoding::Pcmu))
        .unwrap();
    Sim::recording(relay, start)
}

#[test]
fn a_colleague_joins_the_agent_side_and_the_recording_outlives_the_agent() {
    let start = Instant::now();
    let mut sim = recorded_with_colleague(start);
    // 0-400 ms: caller and agent; the colleague is not recorded yet.
    three_speak(&mut sim, start, (0, 20), |_| true);
    sim.relay
        .add_to_recording(sim.now, ID, COLLEAGUE, RecordingChannel::Agent)
        .unwrap();
    assert_eq!(sim.relay.recording_of(COLLEAGUE), Some(ID));
    // 400-800 ms: all three; then the agent hangs up (a consult
    // transfer completed) and the colleague talks with the caller.
    three_speak(&mut sim, start, (20, 40), |_| true);
    sim.relay.remove_leg(AGENT).unwrap();
    sim.drain();
    three_speak(&mut sim, start, (40, 60), |key| key != AGENT);
    assert!(
        sim.ends.is_empty(),
        "the agent side still has the colleague"
    );
    sim.advance(start + Duration::from_millis(1220));
    sim.stop(ID);
    assert_eq!(sim.ends, [(ID, 61, RecordingEnd::Stopped)]);

    let right = |range| channel(&sim.frames, range, true);
    let (before, both, after) = (right(4..18), right(24..38), right(44..58));
    // Before joining, the colleague is not in the file.
    assert!(power_at(&before, 400.0) > 100.0 * power_at(&before, 2000.0));
    // Together, agent and colleague are mixed on the right.
    let (agent, colleague) = (power_at(&both, 400.0), power_at(&both, 2000.0));
    assert!(
        agent > colleague / 4.0 && colleague > agent / 4.0,
        "{agent} {colleague}"
    );
    // After the agent left: the colleague alone, the caller still left.
    assert!(power_at(&after, 2000.0) > 100.0 * power_at(&after, 400.0));
    let left = channel(&sim.frames, 44..58, false);
    assert!(power_at(&left, 1000.0) > 100.0 * power_at(&left, 2000.0));
}

#[test]
fn the_recording_ends_when_a_side_has_nobody_left() {
    let start = Instant::now();
    let mut sim = recorded_with_colleague(start);
    sim.relay
        .add_to_recording(start, ID, COLLEAGUE, RecordingChannel::Agent)
        .unwrap();
    three_speak(&mut sim, start, (0, 10), |_| true);
    // Taken out by command: the recording goes on, the leg is free.
    sim.relay.remove_from_recording(sim.now, COLLEAGUE).unwrap();
    assert_eq!(sim.relay.recording_of(COLLEAGUE), None);
    assert_eq!(
        sim.relay.remove_from_recording(sim.now, COLLEAGUE),
        Err(RelayError::NotRecorded(COLLEAGUE))
    );
    sim.relay.remove_leg(COLLEAGUE).unwrap();
    three_speak(&mut sim, start, (10, 20), |key| key != COLLEAGUE);
    assert!(sim.ends.is_empty());
    // The agent was the last on the right: the recording ends, and what
    // the agent said before hanging up is in it.
    sim.relay.remove_leg(AGENT).unwrap();
    sim.drain();
    let [(id, frames, RecordingEnd::LegRemoved)] = sim.ends.as_slice() else {
        panic!("{:?}", sim.ends);
    };
    assert_eq!(*id, ID);
    assert_eq!(sim.frames.len() as u64, *frames);
    let last_agent = channel(&sim.frames, 15..19, true);
    assert!(power_at(&last_agent, 400.0) > 100.0 * power_at(&last_agent, 2000.0));
    assert_eq!(sim.relay.recording_of(CALLER), None);
}

#[test]
fn legs_are_added_to_recordings_only_where_they_fit() {
    let now = Instant::now();
    let mut relay = call(now);
    leg(&mut relay, now, COLLEAGUE, COLLEAGUE_PORT, colleague_addr());
    assert_eq!(
        relay.add_to_recording(now, ID, COLLEAGUE, RecordingChannel::Agent),
        Err(RelayError::NoCodec(COLLEAGUE))
    );
    relay
        .set_codec(now, COLLEAGUE, LegCodec::new(LegEncoding::Pcmu))
        .unwrap();
    assert_eq!(
        relay.add_to_recording(now, ID, COLLEAGUE, RecordingChannel::Agent),
        Err(RelayError::UnknownRecording(ID))
    );
    relay.start_voicemail(now, ID, CALLER).unwrap();
    assert_eq!(
        relay.add_to_recording(now, ID, COLLEAGUE, RecordingChannel::Agent),
        Err(RelayError::NoAgentChannel(ID))
    );
    assert_eq!(relay.recording_of(COLLEAGUE), None);
    assert_eq!(
        relay.add_to_recording(now, ID, CALLER, RecordingChannel::Caller),
        Err(RelayError::AlreadyRecorded(CALLER))
    );
    relay
        .add_to_recording(now, ID, COLLEAGUE, RecordingChannel::Caller)
        .unwrap();
    assert_eq!(relay.recording_of(COLLEAGUE), Some(ID));
}
