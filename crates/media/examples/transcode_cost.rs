//! CPU cost of a transcoding bridge per 20 ms frame, through
//! [`media::MediaRelay::handle_packet`] (the whole per-packet path:
//! latching, decode, resample, encode, continuity rewrite), one thread,
//! simulated time.
//!
//! `cargo run -p media --release --example transcode_cost`
//!
//! Prints a markdown table: µs of CPU per frame in each direction of a
//! call (a call costs both), against plain forwarding.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media::{
    EncoderConfig, LegCodec, LegConfig, LegEncoding, LegKey, LegPorts, MediaRelay, RelayConfig,
    Verdict,
};

const FRAMES: usize = 5_000;

/// `FRAMES` packets of a 440 + 1000 Hz signal in `encoding`.
fn packets(encoding: LegEncoding, pt: u8) -> Vec<Vec<u8>> {
    let codec = encoding.codec();
    let mut encoder = codec.new_encoder(&EncoderConfig::default()).unwrap();
    let rate = f64::from(codec.sample_rate());
    let len = encoder.frame_len();
    let step = LegCodec::new(encoding).telephone_event_rate / 50;
    let mut payload = vec![0u8; encoder.max_payload_len()];
    (0..FRAMES)
        .map(|n| {
            let pcm: Vec<i16> = (n * len..(n + 1) * len)
                .map(|i| {
                    let t = i as f64 / rate;
                    let tau = 2.0 * std::f64::consts::PI;
                    (4000.0 * (tau * 440.0 * t).sin() + 3000.0 * (tau * 1000.0 * t).sin()) as i16
                })
                .collect();
            let written = encoder.encode(&pcm, &mut payload).unwrap();
            let mut p = vec![0x80, pt];
            p.extend_from_slice(&(n as u16).to_be_bytes());
            p.extend_from_slice(&(n as u32 * step).to_be_bytes());
            p.extend_from_slice(&0x1234u32.to_be_bytes());
            p.extend_from_slice(&payload[..written]);
            p
        })
        .collect()
}

fn codec(encoding: LegEncoding) -> LegCodec {
    let mut codec = LegCodec::new(encoding);
    if encoding == LegEncoding::Opus {
        codec.payload_type = 111;
    }
    codec
}

/// µs per packet sent from a leg in `from` to one in `to`.
fn cost(from: LegEncoding, to: LegEncoding) -> f64 {
    let start = Instant::now();
    let mut relay = MediaRelay::new(RelayConfig::default());
    let source: SocketAddr = "192.0.2.1:5004".parse().unwrap();
    for (leg, port, remote) in [
        (0, 40000, source),
        (1, 40002, "192.0.2.2:5004".parse().unwrap()),
    ] {
        let mut config = LegConfig::new(LegPorts {
            rtp: port,
            rtcp: None,
        });
        config.remote = Some(remote);
        let key = LegKey::new(1, leg);
        relay.add_leg(start, key, config).unwrap();
    }
    relay
        .set_codec(start, LegKey::new(1, 0), codec(from))
        .unwrap();
    relay
        .set_codec(start, LegKey::new(1, 1), codec(to))
        .unwrap();
    relay
        .bridge(start, LegKey::new(1, 0), LegKey::new(1, 1))
        .unwrap();
    let packets = packets(from, codec(from).payload_type);
    let mut buf = [0u8; 1500];
    let mut sent = 0;
    let clock = Instant::now();
    for (n, packet) in packets.iter().enumerate() {
        let now = start + Duration::from_millis(20 * n as u64);
        buf[..packet.len()].copy_from_slice(packet);
        if let Verdict::Forward(_) = relay.handle_packet(now, 40000, source, &mut buf, packet.len())
        {
            sent += 1;
        }
        while relay.poll_transmit(now, &mut buf).is_some() {
            sent += 1;
        }
    }
    let elapsed = clock.elapsed();
    assert!(sent >= FRAMES - 2, "{sent} of {FRAMES} sent");
    elapsed.as_secs_f64() * 1e6 / FRAMES as f64
}

fn main() {
    println!("| direction | µs CPU per 20 ms frame |");
    println!("|---|---|");
    for (from, to) in [
        (LegEncoding::Pcmu, LegEncoding::Pcmu),
        (LegEncoding::Pcmu, LegEncoding::Pcma),
        (LegEncoding::Pcmu, LegEncoding::G722),
        (LegEncoding::G722, LegEncoding::Pcmu),
        (LegEncoding::Pcmu, LegEncoding::Opus),
        (LegEncoding::Opus, LegEncoding::Pcmu),
    ] {
        println!("| {from:?} -> {to:?} | {:.1} |", cost(from, to));
    }
}
