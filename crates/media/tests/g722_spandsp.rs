//! G.722 against spandsp (Debian `libspandsp-dev`), an independent
//! bit-exact implementation: the encoders must give the same codes byte
//! for byte and the decoders the same samples, on seconds of a
//! speech-like signal, on clipping levels, on SIPp's recorded speech
//! (`/usr/share/sip-tester/g711a.pcap`, Debian `sip-tester`) and, for the
//! decoders, on random codes. The one intended difference: where the
//! decoder's output overflows 16 bits, spandsp 0.0.6 wraps around and we
//! saturate.
//!
//! `tests/spandsp/g722.c` is compiled with `cc` at test time; it reads
//! PCM or codes on stdin and writes the other on stdout.
#![allow(clippy::unwrap_used)]

mod c_program;

use std::path::PathBuf;
use std::sync::OnceLock;

use media::{alaw_decode, G722Decoder, G722Encoder, RtpPacket};

fn spandsp_binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        c_program::compile(
            "spandsp/g722.c",
            "spandsp-g722",
            "spandsp",
            "libspandsp-dev",
        )
    })
}

/// Runs spandsp's `operation` over `input`, returning its output bytes.
fn spandsp(operation: &str, input: Vec<u8>) -> Vec<u8> {
    c_program::run(
        spandsp_binary(),
        &[operation],
        input,
        &format!("spandsp {operation}"),
    )
}

fn spandsp_encode(pcm: &[i16]) -> Vec<u8> {
    spandsp("encode", pcm.iter().flat_map(|s| s.to_le_bytes()).collect())
}

fn spandsp_decode(codes: &[u8]) -> Vec<i16> {
    spandsp("decode", codes.to_vec())
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect()
}

/// Encodes in 20 ms packets, as a call would.
fn ours_encode(pcm: &[i16]) -> Vec<u8> {
    let mut encoder = G722Encoder::new();
    let mut codes = Vec::new();
    let mut packet = [0u8; 160];
    for frame in pcm.chunks(320) {
        let len = encoder.encode_samples(frame, &mut packet).unwrap();
        codes.extend_from_slice(&packet[..len]);
    }
    codes
}

fn ours_decode(codes: &[u8]) -> Vec<i16> {
    let mut decoder = G722Decoder::new();
    let mut pcm = Vec::new();
    let mut packet = [0i16; 320];
    for payload in codes.chunks(160) {
        let len = decoder.decode_samples(payload, &mut packet).unwrap();
        pcm.extend_from_slice(&packet[..len]);
    }
    pcm
}

/// xorshift64*, seeded: the same noise on every run.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// Four seconds at 16 kHz that move like speech: a gliding fundamental
/// with harmonics up to 7 kHz, syllable-rate amplitude, noise bursts
/// (fricatives), a pause, and a stretch driven into clipping.
fn speech_like() -> Vec<i16> {
    let mut noise = Noise(0x5eed_6722);
    let tau = 2.0 * std::f64::consts::PI;
    let mut phase = 0.0;
    (0..64_000)
        .map(|i| {
            let t = f64::from(i) / 16_000.0;
            let pitch = 120.0 + 60.0 * (tau * 0.7 * t).sin();
            phase += tau * pitch / 16_000.0;
            let voiced: f64 = (1..=40)
                .filter(|k| f64::from(*k) * pitch < 7000.0)
                .map(|k| (f64::from(k) * phase).sin() / f64::from(k))
                .sum();
            let syllable = 0.5 + 0.5 * (tau * 4.0 * t).sin();
            let fricative = if (t * 3.0).fract() < 0.15 {
                3000.0 * noise.unit()
            } else {
                30.0 * noise.unit()
            };
            let level = match t {
                t if (1.5..1.8).contains(&t) => 0.0,
                t if (3.0..3.3).contains(&t) => 40_000.0,
                _ => 9000.0,
            };
            (level * syllable * voiced + fricative).clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// SIPp's recorded announcement, A-law at 8 kHz, taken to 16 kHz by
/// linear interpolation.
fn sipp_speech() -> Vec<i16> {
    let path = "/usr/share/sip-tester/g711a.pcap";
    let bytes = std::fs::read(path).unwrap_or_else(|error| {
        panic!("cannot read {path}: {error}. It comes with the Debian package sip-tester (scripts/test installs it).")
    });
    assert_eq!(
        &bytes[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian microsecond pcap"
    );
    let mut narrowband = Vec::new();
    let mut offset = 24;
    while offset + 16 <= bytes.len() {
        let captured =
            u32::from_le_bytes(bytes[offset + 8..offset + 12].try_into().unwrap()) as usize;
        let frame = &bytes[offset + 16..offset + 16 + captured];
        offset += 16 + captured;
        // Ethernet II + IPv4 + UDP.
        if frame.len() < 42 || frame[12..14] != [0x08, 0x00] || frame[23] != 17 {
            continue;
        }
        let udp = &frame[14 + usize::from(frame[14] & 0x0f) * 4..];
        let packet = RtpPacket::parse(&udp[8..]).unwrap();
        if packet.payload_type() == 8 {
            narrowband.extend(packet.payload().iter().map(|&code| alaw_decode(code)));
        }
    }
    assert!(
        narrowband.len() > 40_000,
        "{} samples of speech",
        narrowband.len()
    );
    narrowband
        .windows(2)
        .flat_map(|pair| {
            [
                pair[0],
                ((i32::from(pair[0]) + i32::from(pair[1])) / 2) as i16,
            ]
        })
        .collect()
}

fn assert_same_codes(pcm: &[i16], what: &str) {
    let ours = ours_encode(pcm);
    let theirs = spandsp_encode(pcm);
    assert_eq!(ours.len(), pcm.len() / 2);
    assert_eq!(
        theirs.len(),
        ours.len(),
        "{what}: spandsp gave {} codes",
        theirs.len()
    );
    if let Some(at) = ours.iter().zip(&theirs).position(|(a, b)| a != b) {
        panic!(
            "{what}: code {at} differs: ours {:#04x}, spandsp {:#04x}",
            ours[at], theirs[at]
        );
    }
}

/// Same samples, except that where the receive QMF overflows 16 bits
/// spandsp wraps around (a cast to `int16_t`) and we saturate: there our
/// sample is at a rail. Returns how many samples were at a rail.
fn assert_same_samples(codes: &[u8], what: &str) -> usize {
    let ours = ours_decode(codes);
    let theirs = spandsp_decode(codes);
    assert_eq!(
        theirs.len(),
        ours.len(),
        "{what}: spandsp gave {} samples",
        theirs.len()
    );
    let mut saturated = 0;
    for (at, (&a, &b)) in ours.iter().zip(&theirs).enumerate() {
        if a == i16::MAX || a == i16::MIN {
            saturated += 1;
            // Wrapped: an overflow upwards lands negative and the other
            // way round.
            assert!(
                a == b || (a > 0) != (b > 0),
                "{what}: sample {at}: ours {a}, spandsp {b}"
            );
        } else {
            assert_eq!(a, b, "{what}: sample {at} differs");
        }
    }
    saturated
}

#[test]
fn encoder_matches_spandsp_byte_for_byte() {
    let speech = speech_like();
    // The signal has to exercise the codec: loud, quiet and clipped.
    assert!(speech.contains(&i16::MAX) && speech.contains(&i16::MIN));
    assert_same_codes(&speech, "speech-like signal");
    assert_same_codes(&sipp_speech(), "SIPp's g711a.pcap");
    let mut noise = Noise(7);
    let full_scale: Vec<i16> = (0..16_000)
        .map(|_| (noise.unit() * 32767.0) as i16)
        .collect();
    assert_same_codes(&full_scale, "full-scale noise");
}

#[test]
fn decoder_matches_spandsp_sample_for_sample() {
    let speech = speech_like();
    let codes = spandsp_encode(&speech);
    let saturated = assert_same_samples(&codes, "spandsp's codes of the speech-like signal");
    // Only the clipped stretch reaches the rails.
    assert!(
        saturated > 0 && saturated < speech.len() / 100,
        "{saturated} samples at a rail"
    );
    let saturated = assert_same_samples(&ours_encode(&sipp_speech()), "our codes of SIPp's speech");
    assert_eq!(saturated, 0);
    let mut noise = Noise(11);
    let random: Vec<u8> = (0..32_000).map(|_| noise.next() as u8).collect();
    assert_same_samples(&random, "random codes");
}

#[test]
fn decoded_speech_stays_close_to_the_input() {
    // Not only equal to spandsp: both also reproduce the speech (the QMF
    // pair delays by 22 samples).
    let speech = sipp_speech();
    let decoded = ours_decode(&ours_encode(&speech));
    let (mut signal, mut noise) = (0.0, 0.0);
    for (&a, &b) in speech.iter().zip(&decoded[22..]) {
        signal += f64::from(a).powi(2);
        noise += (f64::from(a) - f64::from(b)).powi(2);
    }
    let snr = 10.0 * (signal / noise).log10();
    assert!(snr > 15.0, "SNR {snr:.1} dB");
}
