//! Packets of any whole number of 10 ms (RFC 3551 §4.5: G.711 may use
//! any) through an A-law -> μ-law bridge: the samples come out as they
//! went in, placed by their RTP timestamps and re-framed into the
//! target's 20 ms packets, with nothing added or taken away but a lost
//! packet's own span.

use super::*;
use crate::codec::test_signal::{tones, SPEECH_TONES};
use crate::{alaw_encode, mulaw_decode, mulaw_encode};

/// What the carrier said, as A-law decodes it (zeros where a packet was
/// lost), and what Teams heard.
struct Said {
    said: Vec<i16>,
    call: Call,
}

/// The carrier says `packets` packets of `ptime_ms` of the speech-like
/// test signal in A-law, each delivered when its audio has been said
/// (`burst` at a time, as a shard that read a batch late hands them
/// over); those in `lost` never arrive.
fn say(ptime_ms: usize, packets: usize, burst: usize, lost: &[usize]) -> Said {
    let pcma = codec(LegEncoding::Pcma, 8, Some(101));
    let pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
    let mut call = Call::new(pcma, pcmu, false);
    let len = ptime_ms * 8;
    let pcm = tones(&SPEECH_TONES, 8000, 0, len * packets);
    let mut said = Vec::new();
    let mut pending = Vec::new();
    for (n, chunk) in pcm.chunks_exact(len).enumerate() {
        let payload: Vec<u8> = chunk.iter().map(|&s| alaw_encode(s)).collect();
        let ts = call.carrier.ts;
        call.carrier.ts = ts.wrapping_add(len as u32);
        let packet = call.carrier.packet(8, n == 0, ts, &payload);
        let mut decoded = vec![0i16; len];
        G711::Alaw.decode(&payload, &mut decoded);
        if lost.contains(&n) {
            decoded.fill(0);
        } else {
            pending.push(packet);
        }
        said.extend_from_slice(&decoded);
        call.now += Duration::from_millis(ptime_ms as u64);
        if pending.len() >= burst || n + 1 == packets {
            for packet in pending.drain(..) {
                let verdict = call.deliver(CARRIER, &packet);
                assert!(
                    matches!(verdict, Verdict::Forward(_) | Verdict::Consumed),
                    "{verdict:?}"
                );
            }
        }
    }
    Said { said, call }
}

/// Teams got one continuous μ-law stream of 20 ms packets starting at
/// the carrier's first timestamp, whose samples are the carrier's, as
/// μ-law quantises them, sample for sample: all of them but the last
/// partial frame.
fn assert_heard_as_said(said: &Said) {
    let teams = &said.call.teams;
    let got = teams.audio();
    assert_stream(&got, 160);
    assert_eq!(got[0].ts, 50_000, "the carrier's first timestamp");
    assert!(got.iter().all(|got| got.payload.len() == 160));
    let expected: Vec<i16> = said
        .said
        .iter()
        .map(|&s| mulaw_decode(mulaw_encode(s)))
        .collect();
    let heard = &teams.pcm;
    assert_eq!(heard.len(), expected.len() / 160 * 160, "samples heard");
    if let Some(at) = heard.iter().zip(&expected).position(|(a, b)| a != b) {
        panic!("sample {at}: heard {} for {}", heard[at], expected[at]);
    }
    let counters = said.call.relay.counters();
    assert_eq!(counters.transcode_errors, 0);
    assert_eq!(counters.frames_transcoded, got.len() as u64);
}

#[test]
fn thirty_ms_packets_come_out_as_20_ms_frames_sample_for_sample() {
    // 41 packets of 240: 61 frames and 80 samples waiting for the rest.
    let said = say(30, 41, 1, &[]);
    assert_heard_as_said(&said);
    assert_eq!(said.call.teams.audio().len(), 61);
}

#[test]
fn ten_40_and_60_ms_packets_come_out_sample_for_sample() {
    for (ptime, packets, frames) in [(10, 121, 60), (40, 25, 50), (60, 20, 60)] {
        let said = say(ptime, packets, 1, &[]);
        assert_heard_as_said(&said);
        assert_eq!(said.call.teams.audio().len(), frames, "{ptime} ms");
    }
}

#[test]
fn packets_read_in_bursts_change_nothing() {
    // Three packets handed over at once, the frames they make queued
    // until the relay is polled.
    for ptime in [10, 30, 60] {
        let said = say(ptime, 2400 / ptime, 3, &[]);
        assert_heard_as_said(&said);
        assert_eq!(said.call.teams.audio().len(), 120, "{ptime} ms");
    }
}

#[test]
fn a_lost_30_ms_packet_is_exactly_240_samples_of_silence() {
    let said = say(30, 40, 1, &[10]);
    // The loss is inside the stream: no talkspurt, no gap in timestamps.
    assert_heard_as_said(&said);
    let heard = &said.call.teams.pcm;
    assert_eq!(heard.len(), 40 * 240);
    assert!(heard[2400..2640].iter().all(|&s| s == 0));
    // Speech on both sides of it: the silence is the lost packet's.
    let loud = |samples: &[i16]| samples.iter().any(|&s| s.unsigned_abs() > 1000);
    assert!(loud(&heard[2320..2400]) && loud(&heard[2640..2720]));
    let silent = heard.iter().filter(|&&s| s == 0).count();
    let silent_said = said.said.iter().filter(|&&s| s == 0).count();
    assert_eq!(silent, silent_said);
}
