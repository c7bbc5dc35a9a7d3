//! G.722 and Opus legs: everything switchboard does with a leg's codec
//! (plays, DTMF, recording, conferences, RTCP) in the wideband codecs,
//! checked with real encoders and decoders at the far ends.

use super::*;
use crate::codec::test_signal::measure;
use crate::codec::EncoderConfig;
use crate::{ConferenceRole, RecordingId, RecordingOutput};

/// `encoding` on its usual payload types: Opus on 111 with
/// telephone-event 110 (at 48 kHz), the others on their static type
/// with 101.
fn leg_codec(encoding: LegEncoding) -> LegCodec {
    let mut codec = LegCodec::new(encoding);
    if encoding == LegEncoding::Opus {
        codec.payload_type = 111;
        codec.telephone_event_pt = Some(110);
    }
    codec
}

/// A relay with one leg per codec (keys 1/0, 1/1, ...; ports 40000,
/// 40002, ...; far ends on 192.0.2.10:5000, :5001, ...), not bridged.
fn legs(now: Instant, codecs: &[LegCodec]) -> MediaRelay {
    let mut relay = MediaRelay::new(RelayConfig::default());
    for (n, &codec) in codecs.iter().enumerate() {
        let key = LegKey::new(1, n as u64);
        relay
            .add_leg(now, key, leg_config(port(n), far(n), false))
            .unwrap();
        relay.set_codec(now, key, codec).unwrap();
    }
    relay
}

fn port(n: usize) -> u16 {
    40000 + 2 * n as u16
}

fn far(n: usize) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 10], 5000 + n as u16))
}

/// A far end talking in its leg's codec: `tones` (Hz, amplitude) at
/// the codec's own rate, 20 ms a packet.
struct Talker {
    codec: LegCodec,
    encoder: Box<dyn crate::AudioEncoder>,
    tones: Vec<(f64, f64)>,
    seq: u16,
    ts: u32,
    sample: usize,
}

impl Talker {
    fn new(codec: LegCodec, tones: &[(f64, f64)]) -> Self {
        let encoder = codec
            .encoding
            .codec()
            .new_encoder(&EncoderConfig::default());
        Self {
            codec,
            encoder: encoder.unwrap(),
            tones: tones.to_vec(),
            seq: 1,
            ts: 1000,
            sample: 0,
        }
    }

    fn next_packet(&mut self) -> Vec<u8> {
        let len = self.encoder.frame_len();
        let rate = f64::from(self.codec.encoding.codec().sample_rate());
        let pcm: Vec<i16> = (self.sample..self.sample + len)
            .map(|i| {
                let t = i as f64 / rate;
                let value: f64 = self
                    .tones
                    .iter()
                    .map(|&(hz, amplitude)| amplitude * (2.0 * std::f64::consts::PI * hz * t).sin())
                    .sum();
                value as i16
            })
            .collect();
        self.sample += len;
        let mut payload = vec![0u8; self.encoder.max_payload_len()];
        let written = self.encoder.encode(&pcm, &mut payload).unwrap();
        let packet = rtp(
            0x5000,
            self.seq,
            self.ts,
            self.codec.payload_type,
            false,
            &payload[..written],
        );
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(self.codec.ts_per_frame());
        packet
    }
}

/// The audio of `packets` decoded by a far end of `codec`, at the
/// codec's own rate.
fn decode(codec: LegCodec, packets: &[Sent]) -> Vec<i16> {
    let mut decoder = codec.encoding.codec().new_decoder().unwrap();
    let mut pcm = Vec::new();
    let mut frame = vec![0i16; 5760];
    for sent in packets {
        let packet = crate::RtpPacket::parse(&sent.packet).unwrap();
        assert_eq!(packet.payload_type(), codec.payload_type);
        let n = decoder.decode(packet.payload(), &mut frame).unwrap();
        pcm.extend_from_slice(&frame[..n]);
    }
    pcm
}

/// Amplitudes of `tones` in `pcm` at `rate` after its first 200 ms.
fn amplitudes(pcm: &[i16], rate: u32, tones: &[f64]) -> Vec<f64> {
    let tones: Vec<(f64, f64)> = tones.iter().map(|&hz| (hz, 1.0)).collect();
    measure(pcm, rate, &tones, rate as usize / 5).0
}

#[test]
fn a_prompt_plays_on_g722_and_opus_legs_in_their_codec_and_clock() {
    for (encoding, step) in [(LegEncoding::G722, 160), (LegEncoding::Opus, 960)] {
        let start = Instant::now();
        let codec = leg_codec(encoding);
        let mut relay = legs(start, &[codec]);
        let source = prompt(1000.0, MediaRate::Narrowband, Duration::from_secs(1));
        relay
            .play(start, LegKey::new(1, 0), PlayRequestId(1), source)
            .unwrap();
        let (sent, _) = run(&mut relay, start + Duration::from_secs(2), |_| {
            Duration::ZERO
        });
        let frames = rtp_to(&sent, far(0));
        assert_eq!(frames.len(), 50, "{encoding:?}");
        let (ssrc, seq0, ts0, _, _) = header(&frames[0].packet);
        for (n, frame) in frames.iter().enumerate() {
            let (s, seq, ts, _, _) = header(&frame.packet);
            assert_eq!((s, seq), (ssrc, seq0.wrapping_add(n as u16)));
            assert_eq!(ts, ts0.wrapping_add(step * n as u32), "{encoding:?}");
        }
        if encoding == LegEncoding::G722 {
            assert!(frames.iter().all(|frame| frame.packet.len() == 12 + 160));
        }
        let rate = codec.encoding.codec().sample_rate();
        let pcm = decode(codec, &frames);
        assert_eq!(pcm.len(), 50 * rate as usize / 50);
        let amplitude = amplitudes(&pcm, rate, &[1000.0])[0];
        assert!(
            (amplitude / 8000.0 - 1.0).abs() < 0.15,
            "{encoding:?}: {amplitude}"
        );
    }
}

/// `digit` as in-band tones for 100 ms, then 100 ms of silence.
fn inband_press(codec: LegCodec, digit: DtmfDigit) -> Vec<Vec<u8>> {
    let (low, high) = digit.frequencies();
    let mut talker = Talker::new(
        codec,
        &[(f64::from(low), 6000.0), (f64::from(high), 6000.0)],
    );
    let mut packets: Vec<Vec<u8>> = (0..5).map(|_| talker.next_packet()).collect();
    talker.tones.clear();
    packets.extend((0..5).map(|_| talker.next_packet()));
    packets
}

#[test]
fn key_presses_are_heard_on_wideband_legs() {
    let start = Instant::now();
    let g722 = leg_codec(LegEncoding::G722);
    let opus = leg_codec(LegEncoding::Opus);
    let mut relay = legs(start, &[g722, opus]);
    let mut events = Vec::new();
    let mut now = start;
    // In-band on G.722; on Opus the same tones are not listened for.
    for (n, codec) in [(0, g722), (1, opus)] {
        for packet in inband_press(codec, DtmfDigit::from_char('5').unwrap()) {
            send(&mut relay, now, port(n), far(n), &packet);
            now += FRAME;
        }
    }
    // RFC 4733 on Opus: telephone-event/48000, 960 units a 20 ms update.
    for k in 1..=6u16 {
        let end = k == 6;
        let event = TelephoneEvent::dtmf(DtmfDigit::from_char('7').unwrap(), end, 10, 960 * k);
        let packet = rtp(0x5000, 100 + k, 90_000, 110, k == 1, &event.to_bytes());
        let (verdict, _) = send(&mut relay, now, port(1), far(1), &packet);
        assert_eq!(verdict, Verdict::Consumed);
        now += FRAME;
    }
    events.extend(std::iter::from_fn(|| relay.poll_event()));
    let presses: Vec<(LegKey, char, DtmfMethod, Duration)> = events
        .iter()
        .filter_map(|event| match event {
            MediaEvent::Dtmf {
                leg,
                digit,
                method,
                duration,
            } => Some((*leg, digit.as_char(), *method, *duration)),
            _ => None,
        })
        .collect();
    assert_eq!(presses.len(), 2, "{presses:?}");
    let (leg, digit, method, _) = presses[0];
    assert_eq!(
        (leg, digit, method),
        (LegKey::new(1, 0), '5', DtmfMethod::Inband)
    );
    assert_eq!(
        presses[1],
        (
            LegKey::new(1, 1),
            '7',
            DtmfMethod::Rfc4733,
            Duration::from_millis(120)
        )
    );
}

#[test]
fn a_call_recording_decodes_g722_and_opus_legs_to_8_khz() {
    let start = Instant::now();
    let codecs = [leg_codec(LegEncoding::G722), leg_codec(LegEncoding::Opus)];
    let mut relay = legs(start, &codecs);
    let (caller, agent) = (LegKey::new(1, 0), LegKey::new(1, 1));
    relay
        .start_call_recording(start, RecordingId(1), caller, agent)
        .unwrap();
    let mut talkers = [
        Talker::new(codecs[0], &[(1000.0, 8000.0)]),
        Talker::new(codecs[1], &[(600.0, 8000.0)]),
    ];
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for step in 0..100u32 {
        // 0 to 8 ms of network jitter: the timestamps place the audio.
        let now = start + FRAME * step + Duration::from_millis(u64::from(step * 7 % 9));
        for (n, talker) in talkers.iter_mut().enumerate() {
            send(&mut relay, now, port(n), far(n), &talker.next_packet());
        }
        relay.handle_timeout(now);
        while let Some(output) = relay.poll_recording() {
            if let RecordingOutput::Frame(frame) = output {
                left.extend_from_slice(&frame.caller);
                right.extend_from_slice(&frame.agent);
            }
        }
    }
    assert!(left.len() >= 90 * 160, "{}", left.len());
    let caller_heard = amplitudes(&left, 8000, &[1000.0, 600.0]);
    let agent_heard = amplitudes(&right, 8000, &[1000.0, 600.0]);
    // Clean: no audio torn by a misread timestamp.
    for (channel, hz) in [(&left, 1000.0), (&right, 600.0)] {
        let (_, snr) = measure(channel, 8000, &[(hz, 1.0)], 1600);
        assert!(snr > 15.0, "{hz} Hz channel: SNR {snr:.1} dB");
    }
    assert!(
        (caller_heard[0] / 8000.0 - 1.0).abs() < 0.2,
        "{caller_heard:?}"
    );
    assert!(caller_heard[1] < 400.0, "{caller_heard:?}");
    assert!(
        (agent_heard[1] / 8000.0 - 1.0).abs() < 0.2,
        "{agent_heard:?}"
    );
    assert!(agent_heard[0] < 400.0, "{agent_heard:?}");
}

#[test]
fn a_conference_of_g711_g722_and_opus_members_mixes_wideband() {
    let start = Instant::now();
    let codecs = [
        leg_codec(LegEncoding::Pcmu),
        leg_codec(LegEncoding::G722),
        leg_codec(LegEncoding::Opus),
        leg_codec(LegEncoding::G722),
    ];
    // What each says; the first G.722 member also 6 kHz, which only a
    // 16 kHz mix carries to the other G.722 member.
    let tones = [500.0, 1000.0, 1500.0, 2000.0, 6000.0];
    let says: [&[(f64, f64)]; 4] = [
        &[(500.0, 4000.0)],
        &[(1000.0, 4000.0), (6000.0, 4000.0)],
        &[(1500.0, 4000.0)],
        &[(2000.0, 4000.0)],
    ];
    let mut relay = legs(start, &codecs);
    for n in 0..4 {
        relay
            .join_conference(start, LegKey::new(1, n), ConferenceRole::Normal)
            .unwrap();
    }
    let mut talkers: Vec<Talker> = codecs
        .iter()
        .zip(says)
        .map(|(&codec, says)| Talker::new(codec, says))
        .collect();
    let (mut sent, mut events) = (Vec::new(), Vec::new());
    for step in 0..100u32 {
        let now = start + FRAME * step + Duration::from_millis(7);
        for (n, talker) in talkers.iter_mut().enumerate() {
            let (verdict, _) = send(&mut relay, now, port(n), far(n), &talker.next_packet());
            assert_eq!(verdict, Verdict::Consumed);
        }
        wake(
            &mut relay,
            now + Duration::from_millis(13),
            &mut sent,
            &mut events,
        );
    }
    let mut heard = Vec::new();
    for (n, codec) in codecs.iter().enumerate() {
        let frames = rtp_to(&sent, far(n));
        assert!(frames.len() >= 95, "member {n}: {}", frames.len());
        // Each member's own clock: 160 a tick, 960 for Opus.
        let step = codec.ts_per_frame();
        let (_, _, ts0, _, _) = header(&frames[0].packet);
        for (k, frame) in frames.iter().enumerate() {
            assert_eq!(header(&frame.packet).2, ts0.wrapping_add(step * k as u32));
        }
        let rate = codec.encoding.codec().sample_rate();
        heard.push(amplitudes(&decode(*codec, &frames), rate, &tones));
    }
    // Everyone hears the others' speech-band tones, not its own.
    for (n, amplitudes) in heard.iter().enumerate() {
        for (k, amplitude) in amplitudes[..4].iter().enumerate() {
            if k == n {
                assert!(
                    *amplitude < 400.0,
                    "member {n} hears itself: {amplitudes:?}"
                );
            } else {
                assert!(
                    (amplitude / 4000.0 - 1.0).abs() < 0.25,
                    "member {n}: {amplitudes:?}"
                );
            }
        }
    }
    // 6 kHz: through the 16 kHz mix to the other G.722 member (G.711
    // cannot carry it; the G.711 member hears 2 kHz at its level only,
    // nothing folded onto it, as checked above).
    assert!(heard[3][4] > 2000.0, "{:?}", heard[3]);
    assert_eq!(relay.counters().conference_frames_late, 0);
}

#[test]
fn reports_on_an_opus_leg_count_its_48_khz_clock() {
    let start = Instant::now();
    let mut relay = legs(start, &[leg_codec(LegEncoding::Opus)]);
    relay.set_wallclock(start, Duration::from_secs(1_767_225_600));
    let source = prompt(500.0, MediaRate::Wideband, Duration::from_secs(20));
    relay
        .play(start, LegKey::new(1, 0), PlayRequestId(1), source)
        .unwrap();
    let (sent, _) = run(&mut relay, start + Duration::from_secs(20), |_| {
        Duration::ZERO
    });
    let reports: Vec<crate::SenderInfo> = sent
        .iter()
        .filter(|sent| sent.is_rtcp())
        .filter_map(|sent| {
            let compound = RtcpCompound::parse(&sent.packet).ok()?;
            compound.packets().find_map(|packet| match packet {
                RtcpPacket::SenderReport(sr) => Some(sr.sender_info()),
                _ => None,
            })
        })
        .collect();
    assert!(reports.len() >= 2, "{} SRs", reports.len());
    for pair in reports.windows(2) {
        let ntp = pair[1].ntp_timestamp - pair[0].ntp_timestamp;
        let seconds = ntp as f64 / (1u64 << 32) as f64;
        let ticks = f64::from(pair[1].rtp_timestamp.wrapping_sub(pair[0].rtp_timestamp));
        assert!(
            (ticks / seconds - 48_000.0).abs() < 100.0,
            "{ticks} in {seconds} s"
        );
    }
}
