//! Transcoding bridges on simulated time: two phones, one on each leg,
//! each with a real encoder and decoder of its leg's codec; what one
//! says goes through the relay and is decoded and measured at the other.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use super::super::test_support::{
    carrier_addr, context, leg_config, teams_addr, CARRIER, CARRIER_PORT, TEAMS, TEAMS_PORT,
};
use super::super::*;
use crate::codec::test_signal::measure;
use crate::codec::{AudioDecoder, AudioEncoder, EncoderConfig};
use crate::{
    DtmfDigit, LegCodec, LegEncoding, ReceivedEvent, RtpPacket, SrtpContext, TelephoneEvent,
    TelephoneEventPackets, TelephoneEventReceiver, TelephoneEventReceiverConfig,
    TelephoneEventSenderConfig, G711,
};

mod events;
mod ptime;
mod reorder;

const FRAME: Duration = Duration::from_millis(20);
const TONE: (f64, f64) = (1000.0, 8000.0);

/// `encoding` on `pt`, telephone-events on `te`.
fn codec(encoding: LegEncoding, pt: u8, te: Option<u8>) -> LegCodec {
    let mut codec = LegCodec::new(encoding);
    codec.payload_type = pt;
    codec.telephone_event_pt = te;
    codec
}

/// One RTP packet as a phone got it.
#[derive(Debug, Clone)]
struct Got {
    ssrc: u32,
    seq: u16,
    ts: u32,
    marker: bool,
    pt: u8,
    payload: Vec<u8>,
}

/// A far end: sends a 1 kHz tone in its codec, decodes what it gets.
struct Phone {
    codec: LegCodec,
    encoder: Box<dyn AudioEncoder>,
    decoder: Box<dyn AudioDecoder>,
    ssrc: u32,
    seq: u16,
    ts: u32,
    sample: usize,
    /// SRTP toward the relay and from it.
    srtp: Option<(SrtpContext, SrtpContext)>,
    got: Vec<Got>,
    pcm: Vec<i16>,
}

impl Phone {
    fn new(codec: LegCodec, ssrc: u32) -> Self {
        let native = codec.encoding.codec();
        Self {
            codec,
            encoder: native.new_encoder(&EncoderConfig::default()).unwrap(),
            decoder: native.new_decoder().unwrap(),
            ssrc,
            seq: 1000,
            ts: 50_000,
            sample: 0,
            srtp: None,
            got: Vec::new(),
            pcm: Vec::new(),
        }
    }

    fn rate(&self) -> u32 {
        self.codec.encoding.codec().sample_rate()
    }

    /// A packet of `pt` with the next sequence number and timestamp `ts`.
    fn packet(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        if let Some((tx, _)) = &mut self.srtp {
            tx.protect_rtp(&mut p).unwrap();
        }
        p
    }

    /// The next 20 ms of the tone.
    fn tone(&mut self) -> Vec<u8> {
        let len = self.encoder.frame_len();
        let rate = f64::from(self.rate());
        let pcm: Vec<i16> = (self.sample..self.sample + len)
            .map(|i| {
                (TONE.1 * (2.0 * std::f64::consts::PI * TONE.0 * i as f64 / rate).sin()) as i16
            })
            .collect();
        self.sample += len;
        let mut payload = vec![0u8; self.encoder.max_payload_len()];
        let written = self.encoder.encode(&pcm, &mut payload).unwrap();
        let ts = self.ts;
        self.ts = ts.wrapping_add(self.codec.ts_per_frame());
        self.packet(self.codec.payload_type, false, ts, &payload[..written])
    }

    /// 20 ms of the tone that never arrive (its sequence number and
    /// timestamp are used up).
    fn lose(&mut self) {
        self.tone();
    }

    fn hear(&mut self, packet: &[u8]) {
        let mut packet = packet.to_vec();
        if let Some((_, rx)) = &mut self.srtp {
            rx.unprotect_rtp(&mut packet).unwrap();
        }
        let p = RtpPacket::parse(&packet).unwrap();
        if p.payload_type() == self.codec.payload_type {
            let mut pcm = vec![0i16; 5760];
            let n = self.decoder.decode(p.payload(), &mut pcm).unwrap();
            self.pcm.extend_from_slice(&pcm[..n]);
        }
        self.got.push(Got {
            ssrc: p.ssrc(),
            seq: p.sequence_number(),
            ts: p.timestamp(),
            marker: p.marker(),
            pt: p.payload_type(),
            payload: p.payload().to_vec(),
        });
    }

    /// Amplitude of the tone in what it heard after `skip` seconds, and
    /// the signal to noise ratio in dB.
    fn heard_tone(&self, skip: f64) -> (f64, f64) {
        let skip = (f64::from(self.rate()) * skip) as usize;
        let (amplitudes, snr) = measure(&self.pcm, self.rate(), &[TONE], skip);
        (amplitudes[0], snr)
    }

    fn audio(&self) -> Vec<&Got> {
        self.got
            .iter()
            .filter(|got| got.pt == self.codec.payload_type)
            .collect()
    }
}

struct Call {
    relay: MediaRelay,
    now: Instant,
    carrier: Phone,
    teams: Phone,
}

impl Call {
    /// The carrier's leg and Teams' leg bridged with these codecs; Teams
    /// on SRTP if `srtp` (it sends with key 0x11, we with 0x22).
    fn new(carrier: LegCodec, teams: LegCodec, srtp: bool) -> Self {
        let now = Instant::now();
        let mut relay = MediaRelay::new(RelayConfig::default());
        for (key, port, addr, srtp) in [
            (CARRIER, CARRIER_PORT, carrier_addr(), false),
            (TEAMS, TEAMS_PORT, teams_addr(), srtp),
        ] {
            relay
                .add_leg(now, key, leg_config(port, addr, srtp))
                .unwrap();
        }
        relay.set_codec(now, CARRIER, carrier).unwrap();
        relay.set_codec(now, TEAMS, teams).unwrap();
        relay.bridge(now, CARRIER, TEAMS).unwrap();
        let mut teams = Phone::new(teams, 0x7ea5);
        if srtp {
            teams.srtp = Some((context(0x11), context(0x22)));
        }
        Self {
            relay,
            now,
            carrier: Phone::new(carrier, 0xca11),
            teams,
        }
    }

    /// Delivers a packet from `from` at the current time, then what the
    /// relay has waiting; each packet goes to the phone it is for.
    fn deliver(&mut self, from: LegKey, packet: &[u8]) -> Verdict {
        let (port, addr) = if from == CARRIER {
            (CARRIER_PORT, carrier_addr())
        } else {
            (TEAMS_PORT, teams_addr())
        };
        let mut buf = [0u8; 1500];
        buf[..packet.len()].copy_from_slice(packet);
        let verdict = self
            .relay
            .handle_packet(self.now, port, addr, &mut buf, packet.len());
        if let Verdict::Forward(out) = verdict {
            self.route(out, &buf);
        }
        while let Some(out) = self.relay.poll_transmit(self.now, &mut buf) {
            self.route(out, &buf);
        }
        verdict
    }

    fn route(&mut self, out: Forward, buf: &[u8]) {
        let packet = &buf[..out.len];
        if crate::classify(packet) != crate::PacketKind::Rtp {
            return;
        }
        if out.destination == teams_addr() {
            self.teams.hear(packet);
        } else {
            self.carrier.hear(packet);
        }
    }

    /// Both phones say 20 ms of the tone, then time goes on 20 ms.
    fn talk(&mut self) {
        let packet = self.carrier.tone();
        self.deliver(CARRIER, &packet);
        let packet = self.teams.tone();
        self.deliver(TEAMS, &packet);
        self.now += FRAME;
    }
}

/// `heard` (what Teams decoded from A-law) is, sample for sample, what
/// the μ-law payloads `sent` say: within half an A-law step (1/32 of the
/// level, 8 at the bottom), plus the μ-law step of a level near zero.
fn assert_heard_as_said(heard: &[i16], sent: &[u8]) {
    let mut said = vec![0i16; sent.len()];
    G711::Mulaw.decode(sent, &mut said);
    assert_eq!(heard.len(), said.len());
    for (&heard, &said) in heard.iter().zip(&said) {
        let error = (i32::from(heard) - i32::from(said)).abs();
        assert!(
            error <= (i32::from(said).abs() / 32).max(8),
            "{said} -> {heard}"
        );
    }
}

/// Consecutive sequence numbers, one SSRC, timestamps `step` apart.
fn assert_stream(got: &[&Got], step: u32) {
    assert!(got.len() > 10, "{} packets", got.len());
    for pair in got.windows(2) {
        assert_eq!(pair[1].ssrc, pair[0].ssrc);
        assert_eq!(pair[1].seq, pair[0].seq.wrapping_add(1));
        assert_eq!(pair[1].ts, pair[0].ts.wrapping_add(step), "{pair:?}");
        assert!(!pair[1].marker);
    }
}

#[test]
fn pcmu_to_pcma_keeps_every_sample_within_g711_quantisation() {
    let pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
    let pcma = codec(LegEncoding::Pcma, 8, Some(101));
    let mut call = Call::new(pcmu, pcma, false);
    let mut sent = Vec::new();
    for _ in 0..50 {
        let packet = call.carrier.tone();
        sent.extend_from_slice(&packet[12..]);
        assert!(matches!(
            call.deliver(CARRIER, &packet),
            Verdict::Forward(_)
        ));
        call.now += FRAME;
    }
    let got = call.teams.audio();
    assert_eq!(got.len(), 50);
    assert_stream(&got, 160);
    assert!(got.iter().all(|got| got.payload.len() == 160));
    // What the carrier said, against what Teams decodes from A-law.
    assert_heard_as_said(&call.teams.pcm, &sent);
    let counters = call.relay.counters();
    assert_eq!(
        (counters.frames_transcoded, counters.transcode_errors),
        (50, 0)
    );
}

#[test]
fn a_carrier_that_changes_source_mid_call_is_still_heard() {
    let pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
    let pcma = codec(LegEncoding::Pcma, 8, Some(101));
    let mut call = Call::new(pcmu, pcma, false);
    for _ in 0..25 {
        let packet = call.carrier.tone();
        call.deliver(CARRIER, &packet);
        call.now += FRAME;
    }
    // Early media ends, the answer comes from another source: a new
    // SSRC whose clock and sequence numbers are far behind the first.
    call.carrier.ssrc = 0x5ec0;
    call.carrier.ts = call.carrier.ts.wrapping_sub(1_000_000);
    call.carrier.seq = call.carrier.seq.wrapping_sub(20_000);
    for _ in 0..25 {
        let packet = call.carrier.tone();
        assert!(matches!(
            call.deliver(CARRIER, &packet),
            Verdict::Forward(_)
        ));
        call.now += FRAME;
    }
    let got = call.teams.audio();
    assert_eq!(got.len(), 50, "every frame of both sources");
    // One stream toward Teams, on without a jump; the new source
    // starts a talk spurt (RFC 3551 §4.1: the marker bit).
    assert_stream(&got[..25], 160);
    assert_stream(&got[25..], 160);
    let (last, first) = (got[24], got[25]);
    assert_eq!(
        (first.ssrc, first.seq),
        (last.ssrc, last.seq.wrapping_add(1))
    );
    assert_eq!(first.ts, last.ts.wrapping_add(160));
    assert!(first.marker);
    let counters = call.relay.counters();
    assert_eq!(
        (counters.frames_transcoded, counters.transcode_errors),
        (50, 0)
    );
}

#[test]
fn pcmu_and_g722_hear_each_other_in_their_own_codecs() {
    let pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
    let g722 = codec(LegEncoding::G722, 9, Some(101));
    let mut call = Call::new(pcmu, g722, false);
    for _ in 0..75 {
        call.talk();
    }
    // G.722 and PCMU both count 160 a 20 ms frame (RFC 3551 §4.5.2).
    for (phone, pt, payload) in [(&call.teams, 9, 160), (&call.carrier, 0, 160)] {
        let got = phone.audio();
        assert!(got.len() >= 73, "{}", got.len());
        assert_stream(&got, 160);
        assert!(got
            .iter()
            .all(|got| got.pt == pt && got.payload.len() == payload));
        let (amplitude, snr) = phone.heard_tone(0.5);
        assert!(
            (amplitude / TONE.1 - 1.0).abs() < 0.15,
            "amplitude {amplitude}"
        );
        assert!(snr > 20.0, "SNR {snr:.1} dB");
    }
}

#[test]
fn pcma_and_opus_hear_each_other_in_their_own_codecs() {
    let pcma = codec(LegEncoding::Pcma, 8, Some(101));
    let opus = codec(LegEncoding::Opus, 111, Some(110));
    let mut call = Call::new(pcma, opus, false);
    for _ in 0..100 {
        call.talk();
    }
    // Opus counts 960 a frame on its 48 kHz clock (RFC 7587 §4.1).
    for (phone, step) in [(&call.teams, 960), (&call.carrier, 160)] {
        let got = phone.audio();
        assert!(got.len() >= 98, "{}", got.len());
        assert_stream(&got, step);
        let (amplitude, snr) = phone.heard_tone(1.0);
        assert!(
            (amplitude / TONE.1 - 1.0).abs() < 0.2,
            "amplitude {amplitude}"
        );
        assert!(snr > 15.0, "SNR {snr:.1} dB");
    }
    assert_eq!(call.relay.counters().transcode_errors, 0);
}

#[test]
fn a_reinvite_to_another_codec_switches_to_transcoding_in_the_same_stream() {
    let pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
    let mut call = Call::new(pcmu, pcmu, false);
    for _ in 0..10 {
        call.talk();
    }
    // Forwarded as it was sent: the carrier's own packets.
    let before = call.teams.got.clone();
    assert_eq!(before.len(), 10);
    assert!(before.iter().all(|got| got.ssrc == call.carrier.ssrc));
    assert_eq!(call.relay.counters().frames_transcoded, 0);
    // Teams re-INVITEs to G.722.
    let g722 = codec(LegEncoding::G722, 9, Some(101));
    call.relay.set_codec(call.now, TEAMS, g722).unwrap();
    call.teams = Phone::new(g722, 0x7ea5);
    call.teams.seq = 5000;
    for _ in 0..50 {
        call.talk();
    }
    let after = call.teams.audio();
    assert!(after.len() >= 48);
    let last = before.last().unwrap();
    let first = after[0];
    // One stream across the switch: the SSRC Teams knew, the next
    // sequence number, the timestamp 20 ms on, a new talkspurt.
    assert_eq!(first.ssrc, last.ssrc);
    assert_eq!(first.seq, last.seq.wrapping_add(1));
    assert_eq!(first.ts, last.ts.wrapping_add(160));
    assert!(first.marker);
    assert_stream(&after, 160);
    let (amplitude, _) = call.teams.heard_tone(0.5);
    assert!(
        (amplitude / TONE.1 - 1.0).abs() < 0.15,
        "amplitude {amplitude}"
    );
    // And back in G.722 toward the carrier, still PCMU.
    let back = call.carrier.audio();
    assert!(back
        .iter()
        .skip(10)
        .all(|got| got.pt == 0 && got.payload.len() == 160));
    // Back to PCMU: forwarding again, still one stream.
    call.relay.set_codec(call.now, TEAMS, pcmu).unwrap();
    call.teams = Phone::new(pcmu, 0x7ea5);
    let before = call.relay.counters().frames_transcoded;
    let packet = call.carrier.tone();
    let mut expected = packet.clone();
    call.deliver(CARRIER, &packet);
    assert_eq!(call.relay.counters().frames_transcoded, before);
    let got = &call.teams.got[0];
    assert_eq!(got.ssrc, last.ssrc);
    assert_eq!(got.payload, expected.split_off(12));
}

#[test]
fn legs_that_come_to_share_a_codec_the_relay_does_not_know_are_forwarded() {
    let pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
    let pcma = codec(LegEncoding::Pcma, 8, Some(101));
    let mut call = Call::new(pcmu, pcma, false);
    for _ in 0..5 {
        call.talk();
    }
    assert_eq!(call.relay.counters().frames_transcoded, 10);
    // A re-INVITE leaves both with G.729 (payload type 18), which
    // switchboard does not decode: the codecs are taken away again.
    let now = call.now;
    call.relay.clear_codec(now, CARRIER).unwrap();
    call.relay.clear_codec(now, TEAMS).unwrap();
    call.relay.clear_codec(now, TEAMS).unwrap();
    // A later re-INVITE's codec goes only to legs that have one: these
    // stay without, and forwarded.
    call.relay.update_codec(now, CARRIER, pcmu).unwrap();
    call.relay.update_codec(now, TEAMS, pcma).unwrap();
    let g729 = [0x5au8; 20];
    let packet = call.carrier.packet(18, false, 123_456, &g729);
    assert!(matches!(
        call.deliver(CARRIER, &packet),
        Verdict::Forward(_)
    ));
    let last = call.teams.got.last().unwrap();
    assert_eq!((last.pt, last.payload.as_slice()), (18, g729.as_slice()));
    assert_eq!(
        call.relay.counters().frames_transcoded,
        10,
        "not transcoded"
    );
    // A recorded leg keeps its codec: the recording decodes it.
    let mut call = Call::new(pcmu, pcma, false);
    let id = RecordingId(1);
    call.relay
        .start_call_recording(call.now, id, CARRIER, TEAMS)
        .unwrap();
    assert_eq!(
        call.relay.clear_codec(call.now, CARRIER),
        Err(RelayError::CodecInUse(CARRIER))
    );
}

#[test]
fn the_same_codec_on_other_payload_types_is_forwarded_with_the_types_rewritten() {
    let carrier = codec(LegEncoding::Pcmu, 0, Some(101));
    let teams = codec(LegEncoding::Pcmu, 0, Some(96));
    let mut call = Call::new(carrier, teams, false);
    let packet = call.carrier.tone();
    call.deliver(CARRIER, &packet);
    // Audio as it was: not decoded.
    assert_eq!(call.teams.got[0].payload, packet[12..]);
    assert_eq!(call.teams.got[0].ssrc, call.carrier.ssrc);
    let event = TelephoneEvent {
        event: 1,
        end: false,
        volume: 10,
        duration: 160,
    };
    let ts = call.carrier.ts;
    let packet = call.carrier.packet(101, true, ts, &event.to_bytes());
    call.deliver(CARRIER, &packet);
    let got = &call.teams.got[1];
    assert_eq!((got.pt, got.marker, got.ts), (96, true, ts));
    assert_eq!(got.payload, event.to_bytes());
    // And back: 96 becomes 101.
    let packet = call.teams.packet(96, false, 7, &event.to_bytes());
    call.deliver(TEAMS, &packet);
    assert_eq!(call.carrier.got[0].pt, 101);
    assert_eq!(call.relay.counters().frames_transcoded, 0);
}

#[test]
fn srtp_on_one_side_is_removed_and_applied_around_the_transcoder() {
    let pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
    let g722 = codec(LegEncoding::G722, 9, Some(101));
    let mut call = Call::new(pcmu, g722, true);
    for _ in 0..50 {
        call.talk();
    }
    // Each phone decrypted (Teams) and decoded what it got.
    for phone in [&call.teams, &call.carrier] {
        assert!(phone.audio().len() >= 48);
        let (amplitude, snr) = phone.heard_tone(0.5);
        assert!(
            (amplitude / TONE.1 - 1.0).abs() < 0.15,
            "amplitude {amplitude}"
        );
        assert!(snr > 20.0, "SNR {snr:.1} dB");
    }
    // A packet forged without the key is refused before the decoder.
    let forged = call.teams.forged_tone();
    assert_eq!(
        call.deliver(TEAMS, &forged),
        Verdict::Drop(DropReason::Authentication)
    );
    assert_eq!(call.relay.counters().transcode_errors, 0);
}

impl Phone {
    /// A tone packet with a made-up authentication tag.
    fn forged_tone(&mut self) -> Vec<u8> {
        let srtp = self.srtp.take();
        let mut packet = self.tone();
        self.srtp = srtp;
        packet.extend_from_slice(&[0; 10]);
        packet
    }
}

#[test]
fn a_lost_opus_packet_is_concealed_without_a_gap() {
    let opus = codec(LegEncoding::Opus, 111, Some(110));
    let pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
    let mut call = Call::new(opus, pcmu, false);
    for n in 0..60 {
        if n == 40 {
            call.carrier.lose();
        } else {
            let packet = call.carrier.tone();
            call.deliver(CARRIER, &packet);
        }
        call.now += FRAME;
    }
    let got = call.teams.audio();
    // Nothing missing on the PCMU side: the lost 20 ms was concealed.
    assert!(got.len() >= 58, "{}", got.len());
    assert_stream(&got, 160);
    // libopus carries the tone on through the loss rather than silence.
    let samples = &call.teams.pcm;
    let quiet = samples
        .chunks_exact(160)
        .skip(10)
        .filter(|frame| frame.iter().map(|&s| i32::from(s).abs()).max() < Some(1000))
        .count();
    assert_eq!(quiet, 0);
}
