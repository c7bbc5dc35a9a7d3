//! The streams of a conference: the tick schedule, the jitter buffer
//! seen through the relay, DTMF, plays.

use super::*;
use crate::server::{MediaRate, PlayEnd, PlayItem, PlayRequestId, Prompt, PromptPlayer};
use crate::{DtmfDigit, DtmfMethod, TelephoneEvent};

#[test]
fn one_frame_per_tick_for_ten_seconds_without_drift() {
    let voices = [Voice::Level(1000), Voice::Level(2000), Voice::ComfortNoise];
    let mut sim = Sim::new(&voices, false);
    for key in [A, B, C] {
        sim.join(key, ConferenceRole::Normal);
    }
    // Woken 0 to 8 ms late, in no pattern that follows the ticks.
    sim.late = |n| MS * ((n * 37 % 9) as u32);
    sim.run(Duration::from_secs(10) + 10 * MS);
    for phone in &sim.phones {
        // Ticks at 20 ms, 40 ms, ..., 10 s.
        assert_eq!(phone.got.len(), 500, "{:?}", phone.key);
        let first = &phone.got[0];
        assert!(first.marker);
        for (n, got) in phone.got.iter().enumerate() {
            let due = sim.start + MS * (20 * (n as u32 + 1));
            assert!(
                got.at >= due && got.at <= due + 8 * MS,
                "frame {n} at {:?}",
                got.at - due
            );
            assert_eq!(got.ssrc, first.ssrc);
            assert_eq!(got.seq, first.seq.wrapping_add(n as u16));
            // The RTP clock of the mix follows the ticks exactly.
            assert_eq!(got.ts, first.ts.wrapping_add(160 * n as u32));
            assert_eq!(got.marker, n == 0);
        }
    }
    // Comfort noise is silence, and stalls nothing.
    sim.assert_hears(A, 100, 10_000, 2000.0);
    sim.assert_hears(C, 100, 10_000, 3000.0);
    let counters = sim.relay.counters();
    assert_eq!(counters.local_rtp, 1500);
    assert_eq!(counters.conference_frames_mixed, 1000);
}

#[test]
fn reordered_packets_are_mixed_in_order_and_duplicates_and_late_ones_dropped() {
    let mut sim = Sim::new(&[Voice::Silent, Voice::Silent], false);
    sim.join(A, ConferenceRole::Normal);
    sim.join(B, ConferenceRole::Normal);
    let level = |seq: u16| 500 * (i16::try_from(seq % 6).unwrap() + 1);
    // Just after tick 0, then every other tick: A's frames 2k + 1 and
    // 2k arrive in that order, 2k twice.
    sim.run(25 * MS);
    for k in 0..10u16 {
        for seq in [2 * k + 1, 2 * k, 2 * k] {
            let packet = sim.phone(A).packet(seq, 0, &mulaw(level(seq)));
            assert_eq!(sim.deliver(A, &packet), Verdict::Consumed);
        }
        sim.run(40 * MS);
    }
    let heard: Vec<f64> = sim.phones[1].got.iter().map(Got::level).collect();
    // Tick 0 had nothing yet; then frames 0, 1, 2, ... one per tick.
    assert_eq!(heard.len(), 21);
    for (seq, &got) in (0u16..).zip(&heard[1..]) {
        let expected = f64::from(level(seq));
        assert!((got - expected).abs() < expected * 0.05, "{heard:?}");
    }
    let counters = *sim.relay.counters();
    assert_eq!(counters.conference_frames_dropped, 10);
    assert_eq!(counters.conference_frames_late, 0);
    assert_eq!(counters.conference_frames_mixed, 20);
    // Frame 3 again, long after its tick: late.
    let packet = sim.phone(A).packet(3, 0, &mulaw(level(3)));
    sim.deliver(A, &packet);
    assert_eq!(sim.relay.counters().conference_frames_late, 1);
}

/// The phone on `key` presses 5 (RFC 4733, payload type 101): start,
/// two updates, three end packets, 20 ms apart, in place of its audio.
fn press_five(sim: &mut Sim, key: LegKey) {
    let voice = sim.phone(key).voice;
    sim.phone(key).voice = Voice::Silent;
    for (n, duration) in [160u16, 320, 480, 640, 640, 640].into_iter().enumerate() {
        let event = TelephoneEvent::dtmf(DtmfDigit::Five, n >= 3, 10, duration);
        // One event: one timestamp (RFC 4733 §2.5.1.2).
        let at = (1000 + n as u16, 48_000);
        let packet = sim.phone(key).packet_at(at, 101, &event.to_bytes());
        assert_eq!(sim.deliver(key, &packet), Verdict::Consumed);
        sim.run(20 * MS);
    }
    sim.phone(key).voice = voice;
}

#[test]
fn telephone_events_are_reported_when_asked_and_never_mixed() {
    let mut sim = Sim::new(&[Voice::Level(1000), Voice::Level(2000)], false);
    sim.join(A, ConferenceRole::Normal);
    sim.join(B, ConferenceRole::Normal);
    sim.relay.set_report_dtmf(A, true).unwrap();
    sim.run(200 * MS);
    press_five(&mut sim, A);
    // B does not report DTMF: its key press is heard by nobody.
    press_five(&mut sim, B);
    let dtmf: Vec<_> = sim
        .events
        .iter()
        .filter_map(|event| match event {
            MediaEvent::Dtmf {
                leg, digit, method, ..
            } => Some((*leg, *digit, *method)),
            _ => None,
        })
        .collect();
    assert_eq!(dtmf, [(A, DtmfDigit::Five, DtmfMethod::Rfc4733)]);
    // While A pressed, B heard silence: the events were not audio.
    sim.assert_hears(B, 260, 320, 0.0);
    sim.assert_hears(A, 380, 440, 0.0);
    sim.run(200 * MS);
    sim.assert_hears(B, 500, 640, 1000.0);
}

#[test]
fn a_play_replaces_the_mix_for_its_leg_only() {
    let mut sim = Sim::three_party([ConferenceRole::Normal; 3]);
    sim.run(200 * MS);
    // A beep of 10 frames at level 3000 toward A.
    let rate = MediaRate::Narrowband;
    let mut player = PromptPlayer::new(rate);
    let prompt = Prompt::from_samples(rate, vec![3000; 1600]);
    player
        .play(PlayRequestId(0), [PlayItem::Prompt(prompt)], false)
        .unwrap();
    sim.relay
        .play(sim.now, A, PlayRequestId(4), Box::new(player))
        .unwrap();
    sim.run(500 * MS);
    sim.assert_hears(A, 100, 200, 6000.0);
    sim.assert_hears(A, 210, 400, 3000.0);
    sim.assert_hears(A, 440, 700, 6000.0);
    // The others go on hearing A.
    sim.assert_hears(B, 100, 700, 5000.0);
    let finished = sim.events.iter().any(|event| {
        *event
            == MediaEvent::PlayFinished {
                leg: A,
                request: PlayRequestId(4),
                end: PlayEnd::Completed,
            }
    });
    assert!(finished, "{:?}", sim.events);
    // One stream throughout: same SSRC, no sequence gap, timestamps
    // never going back.
    let got = &sim.phones[0].got;
    for pair in got.windows(2) {
        assert_eq!(pair[1].ssrc, pair[0].ssrc);
        assert_eq!(pair[1].seq, pair[0].seq.wrapping_add(1));
        let step = pair[1].ts.wrapping_sub(pair[0].ts);
        assert!((160..=320).contains(&step), "{step}");
    }
    assert!(got.len() >= 33, "{}", got.len());
}

#[test]
fn thirty_ms_packets_are_mixed_sample_for_sample() {
    let mut sim = Sim::new(&[Voice::Silent, Voice::Silent], false);
    sim.join(A, ConferenceRole::Normal);
    sim.join(B, ConferenceRole::Normal);
    // Each 30 ms packet of A a level of its own: a sample added, lost
    // or moved shows in what B hears.
    let level = |n: usize| 500 * (i16::try_from(n % 7).unwrap() + 1);
    let mut said = Vec::new();
    for n in 0..50usize {
        // Packet n is said by 30 (n + 1) ms and arrives 3 ms later.
        let at = sim.start + MS * (30 * (n as u32 + 1) + 3);
        let wait = at - sim.now;
        sim.run(wait);
        let mut payload = [0u8; 240];
        G711::Mulaw.encode(&[level(n); 240], &mut payload);
        let packet = sim
            .phone(A)
            .packet_at((n as u16, n as u32 * 240), 0, &payload);
        assert_eq!(sim.deliver(A, &packet), Verdict::Consumed);
        let sample = crate::mulaw_decode(crate::mulaw_encode(level(n)));
        said.extend(std::iter::repeat_n(sample, 240));
    }
    sim.run(100 * MS);
    // Silent frames before A's first, and one tick where half a frame
    // waited for the packet with its other half (then the delay fits
    // the 30 ms cadence); the rest is what A said, sample for sample.
    let frames: Vec<&[i16]> = sim.phones[1]
        .got
        .iter()
        .map(|got| got.samples.as_slice())
        .skip_while(|frame| frame.iter().all(|&s| s == 0))
        .collect();
    let silent = |frame: &[i16]| frame.iter().all(|&s| s == 0);
    let waits = frames[..said.len() / 160]
        .iter()
        .filter(|frame| silent(frame))
        .count();
    assert!(waits <= 1, "{waits} silent frames");
    let heard: Vec<i16> = frames
        .iter()
        .filter(|frame| !silent(frame))
        .flat_map(|frame| frame.iter().copied())
        .collect();
    assert_eq!(heard.len(), said.len());
    let wrong = heard.iter().zip(&said).position(|(a, b)| a != b);
    assert_eq!(wrong, None, "first wrong sample");
    let counters = sim.relay.counters();
    assert_eq!(
        (
            counters.conference_frames_late,
            counters.conference_frames_dropped
        ),
        (0, 0)
    );
}
