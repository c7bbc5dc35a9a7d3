//! Switchboard as the far end of a leg, on simulated time: the relay is
//! woken at its own `poll_timeout` (plus some lateness), as a shard does.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::super::test_support::{
    carrier_addr as caller_addr, context, leg_config, rtp, send, teams_addr as agent_addr,
    CARRIER as CALLER, CARRIER_PORT as CALLER_PORT, TEAMS as AGENT, TEAMS_PORT as AGENT_PORT,
};
use super::super::*;
use crate::server::{MediaRate, MohPlayer, PlayEnd, PlayItem, Prompt, PromptPlayer};
use crate::tone::{Tone, TonePlayer};
use crate::{
    DtmfDigit, DtmfMethod, FrameSource, LegCodec, LegEncoding, PlayRequestId, RtcpCompound,
    RtcpPacket, RtcpWriter, SenderInfo, TelephoneEvent, G711,
};

const FRAME: Duration = Duration::from_millis(20);
const CALLER_SSRC: u32 = 0xca11;
const AGENT_SSRC: u32 = 0xa9e7;

fn pcmu() -> LegCodec {
    LegCodec::new(LegEncoding::Pcmu)
}

/// A relay with the caller's leg, given PCMU + telephone-event 101,
/// optionally SRTP (caller sends with key 0x11, we with 0x22).
fn caller_alone(now: Instant, srtp: bool) -> MediaRelay {
    let mut relay = MediaRelay::new(RelayConfig::default());
    let config = leg_config(CALLER_PORT, caller_addr(), srtp);
    relay.add_leg(now, CALLER, config).unwrap();
    relay.set_codec(now, CALLER, pcmu()).unwrap();
    relay
}

/// The caller's leg bridged with an agent's leg (no codec).
fn caller_and_agent(now: Instant) -> MediaRelay {
    let mut relay = caller_alone(now, false);
    let config = leg_config(AGENT_PORT, agent_addr(), false);
    relay.add_leg(now, AGENT, config).unwrap();
    relay.bridge(now, CALLER, AGENT).unwrap();
    relay
}

fn sine(hz: f32, rate: MediaRate, duration: Duration) -> Vec<i16> {
    let n = rate.samples_in(duration);
    (0..n)
        .map(|i| {
            let t = i as f32 / rate.hz() as f32;
            (8_000.0 * (2.0 * std::f32::consts::PI * hz * t).sin()) as i16
        })
        .collect()
}

fn prompt(hz: f32, rate: MediaRate, duration: Duration) -> Box<dyn FrameSource> {
    let mut player = PromptPlayer::new(rate);
    let prompt = Prompt::from_samples(rate, sine(hz, rate, duration));
    player
        .play(PlayRequestId(0), [PlayItem::Prompt(prompt)], false)
        .unwrap();
    Box::new(player)
}

fn music() -> Box<dyn FrameSource> {
    let rate = MediaRate::Narrowband;
    Box::new(MohPlayer::new(Prompt::from_samples(
        rate,
        sine(440.0, rate, Duration::from_secs(1)),
    )))
}

/// A packet the relay made.
#[derive(Debug, Clone)]
struct Sent {
    at: Instant,
    to: SocketAddr,
    packet: Vec<u8>,
}

impl Sent {
    fn is_rtcp(&self) -> bool {
        crate::classify(&self.packet) == crate::PacketKind::Rtcp
    }
}

/// What the relay sends and reports when woken at `now`.
fn wake(relay: &mut MediaRelay, now: Instant, sent: &mut Vec<Sent>, events: &mut Vec<MediaEvent>) {
    relay.handle_timeout(now);
    let mut buf = [0u8; 1500];
    while let Some(out) = relay.poll_transmit(now, &mut buf) {
        sent.push(Sent {
            at: now,
            to: out.destination,
            packet: buf[..out.len].to_vec(),
        });
    }
    events.extend(std::iter::from_fn(|| relay.poll_event()));
}

/// Wakes the relay at each of its timeouts, `late(n)` after it, until
/// `until`.
fn run(
    relay: &mut MediaRelay,
    until: Instant,
    mut late: impl FnMut(usize) -> Duration,
) -> (Vec<Sent>, Vec<MediaEvent>) {
    let (mut sent, mut events) = (Vec::new(), Vec::new());
    for n in 0.. {
        let Some(at) = relay.poll_timeout() else {
            break;
        };
        let now = at + late(n);
        if now > until {
            break;
        }
        wake(relay, now, &mut sent, &mut events);
    }
    (sent, events)
}

fn header(packet: &[u8]) -> (u32, u16, u32, bool, u8) {
    let p = crate::RtpPacket::parse(packet).unwrap();
    (
        p.ssrc(),
        p.sequence_number(),
        p.timestamp(),
        p.marker(),
        p.payload_type(),
    )
}

/// Frequency of μ-law payloads from zero crossings.
fn frequency(payloads: &[&[u8]]) -> f32 {
    let mut pcm = Vec::new();
    for payload in payloads {
        let mut frame = vec![0i16; payload.len()];
        G711::Mulaw.decode(payload, &mut frame);
        pcm.extend(frame);
    }
    let crossings = pcm.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f32 / 2.0 / (pcm.len() as f32 / 8000.0)
}

fn rtp_to(sent: &[Sent], to: SocketAddr) -> Vec<Sent> {
    sent.iter()
        .filter(|s| s.to == to && !s.is_rtcp())
        .cloned()
        .collect()
}

#[test]
fn a_prompt_is_paced_from_its_start_whatever_the_wake_ups() {
    let start = Instant::now();
    let mut relay = caller_alone(start, false);
    relay
        .play(
            start,
            CALLER,
            PlayRequestId(7),
            prompt(1000.0, MediaRate::Narrowband, Duration::from_millis(500)),
        )
        .unwrap();
    assert!(relay.is_playing(CALLER));
    // Wake-ups 0-14 ms late, varying: the frames keep their slots.
    let (sent, events) = run(&mut relay, start + Duration::from_secs(1), |n| {
        Duration::from_millis((n as u64 * 7) % 15)
    });
    let frames = rtp_to(&sent, caller_addr());
    assert_eq!(frames.len(), 25);
    let (ssrc, seq0, ts0, marker, pt) = header(&frames[0].packet);
    assert!(marker);
    assert_eq!(pt, 0);
    for (n, frame) in frames.iter().enumerate() {
        let slot = start + FRAME * n as u32;
        assert!(
            frame.at >= slot && frame.at < slot + Duration::from_millis(15),
            "frame {n}"
        );
        assert_eq!(frame.packet.len(), 12 + 160);
        let (s, seq, ts, m, _) = header(&frame.packet);
        assert_eq!(s, ssrc);
        assert_eq!(seq, seq0.wrapping_add(n as u16));
        assert_eq!(ts, ts0.wrapping_add(160 * n as u32));
        assert_eq!(m, n == 0);
    }
    let payloads: Vec<&[u8]> = frames.iter().map(|f| &f.packet[12..]).collect();
    let hz = frequency(&payloads);
    assert!((hz - 1000.0).abs() < 10.0, "{hz} Hz");
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, MediaEvent::PlayFinished { .. }))
            .collect::<Vec<_>>(),
        [&MediaEvent::PlayFinished {
            leg: CALLER,
            request: PlayRequestId(7),
            end: PlayEnd::Completed
        }]
    );
    assert!(!relay.is_playing(CALLER));
    assert_eq!(relay.counters().local_rtp, 25);
}

#[test]
fn a_wideband_prompt_plays_on_a_g711_leg() {
    let start = Instant::now();
    let mut relay = caller_alone(start, false);
    let source = prompt(1000.0, MediaRate::Wideband, Duration::from_millis(400));
    relay.play(start, CALLER, PlayRequestId(1), source).unwrap();
    let (sent, _) = run(&mut relay, start + Duration::from_secs(1), |_| {
        Duration::ZERO
    });
    let frames = rtp_to(&sent, caller_addr());
    assert_eq!(frames.len(), 20);
    let payloads: Vec<&[u8]> = frames[1..].iter().map(|f| &f.packet[12..]).collect();
    let hz = frequency(&payloads);
    assert!((hz - 1000.0).abs() < 10.0, "{hz} Hz");
}

#[test]
fn a_new_play_goes_on_from_the_next_frame_of_the_one_it_replaces() {
    let start = Instant::now();
    let mut relay = caller_alone(start, false);
    relay
        .play(start, CALLER, PlayRequestId(1), music())
        .unwrap();
    let (mut sent, mut events) = run(&mut relay, start + Duration::from_millis(105), |_| {
        Duration::ZERO
    });
    // 5 ms after frame 5 went out: frame 6 is due at 120 ms.
    let now = start + Duration::from_millis(105);
    let source = prompt(600.0, MediaRate::Narrowband, Duration::from_millis(100));
    relay.play(now, CALLER, PlayRequestId(2), source).unwrap();
    let (more, more_events) = run(&mut relay, start + Duration::from_secs(1), |_| {
        Duration::ZERO
    });
    sent.extend(more);
    events.extend(more_events);
    let frames = rtp_to(&sent, caller_addr());
    assert_eq!(frames.len(), 6 + 5);
    let (_, seq0, ts0, _, _) = header(&frames[0].packet);
    for (n, frame) in frames.iter().enumerate() {
        assert_eq!(frame.at, start + FRAME * n as u32);
        let (_, seq, ts, marker, _) = header(&frame.packet);
        assert_eq!(
            (seq, ts),
            (
                seq0.wrapping_add(n as u16),
                ts0.wrapping_add(160 * n as u32)
            )
        );
        assert_eq!(marker, n == 0, "frame {n}");
    }
    let finished: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::PlayFinished { request, end, .. } => Some((*request, *end)),
            _ => None,
        })
        .collect();
    assert_eq!(
        finished,
        [
            (PlayRequestId(1), PlayEnd::Stopped),
            (PlayRequestId(2), PlayEnd::Completed)
        ]
    );
}

#[test]
fn playing_replaces_the_partner_and_stopping_resumes_the_same_stream() {
    let start = Instant::now();
    let mut relay = caller_and_agent(start);
    let (mut sent, mut events) = (Vec::new(), Vec::new());
    let mut to_caller: Vec<(Instant, Vec<u8>)> = Vec::new();
    let mut play_at = None;
    for step in 0..60u32 {
        let now = start + FRAME * step;
        if step == 20 {
            relay.play(now, CALLER, PlayRequestId(3), music()).unwrap();
            play_at = Some(now);
        }
        if step == 40 {
            assert!(relay.stop_playing(CALLER).unwrap());
        }
        // The agent talks 5 ms into each slot, the caller too.
        let at = now + Duration::from_millis(5);
        wake(&mut relay, now, &mut sent, &mut events);
        let agent_seq = 500 + step as u16;
        let packet = rtp(
            AGENT_SSRC,
            agent_seq,
            u32::from(agent_seq) * 160,
            0,
            false,
            &[0x55; 160],
        );
        let (verdict, out) = send(&mut relay, at, AGENT_PORT, agent_addr(), &packet);
        if (20..40).contains(&step) {
            assert_eq!(
                verdict,
                Verdict::Drop(DropReason::LocalPlayback),
                "step {step}"
            );
        } else {
            to_caller.push((at, out));
        }
        let packet = rtp(CALLER_SSRC, step as u16, step * 160, 0, false, &[0x11; 160]);
        let (verdict, _) = send(&mut relay, at, CALLER_PORT, caller_addr(), &packet);
        assert!(matches!(verdict, Verdict::Forward(f) if f.destination == agent_addr()));
    }
    to_caller.extend(
        rtp_to(&sent, caller_addr())
            .into_iter()
            .map(|s| (s.at, s.packet)),
    );
    to_caller.sort_by_key(|(at, _)| *at);
    assert_eq!(to_caller.len(), 60);
    // Local frames between the agent's, one stream throughout.
    let (ssrc, seq0, _, _, _) = header(&to_caller[0].1);
    assert_eq!(ssrc, AGENT_SSRC);
    let mut last_ts = None;
    for (n, (_, packet)) in to_caller.iter().enumerate() {
        let (s, seq, ts, _, _) = header(packet);
        assert_eq!((s, seq), (ssrc, seq0.wrapping_add(n as u16)), "packet {n}");
        if let Some(last) = last_ts {
            let step = ts.wrapping_sub(last);
            assert!(
                (1..=400).contains(&step),
                "packet {n}: timestamp step {step}"
            );
        }
        last_ts = Some(ts);
    }
    let local = rtp_to(&sent, caller_addr());
    assert_eq!(local.len(), 20);
    assert_eq!(local[0].at, play_at.unwrap());
    assert!(events.contains(&MediaEvent::PlayFinished {
        leg: CALLER,
        request: PlayRequestId(3),
        end: PlayEnd::Stopped
    }));
    assert_eq!(relay.counters().dropped(DropReason::LocalPlayback), 20);
}

#[test]
fn srtp_protects_played_frames_and_reports() {
    let start = Instant::now();
    let mut relay = caller_alone(start, true);
    relay
        .play(start, CALLER, PlayRequestId(1), music())
        .unwrap();
    let (sent, _) = run(&mut relay, start + Duration::from_secs(9), |_| {
        Duration::from_millis(1)
    });
    let mut rx = context(0x22);
    let mut frames = 0;
    let mut reports = 0;
    for s in &sent {
        let mut packet = s.packet.clone();
        if s.is_rtcp() {
            rx.unprotect_rtcp(&mut packet).unwrap();
            RtcpCompound::parse(&packet).unwrap();
            reports += 1;
        } else {
            rx.unprotect_rtp(&mut packet).unwrap();
            assert_eq!(packet.len(), 172);
            frames += 1;
        }
    }
    assert_eq!(frames, 450);
    // The first after 1.25-3.75 s, then every 2.5-7.5 s.
    assert!((1..=3).contains(&reports), "{reports} reports");
}

/// The packets of one RFC 4733 key press: start, updates, three ends.
fn key_press(digit: DtmfDigit, seq: u16, ts: u32) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    for (n, duration) in [160u16, 320, 480, 640, 640, 640].into_iter().enumerate() {
        let end = n >= 3;
        let event = TelephoneEvent::dtmf(digit, end, 10, duration);
        packets.push(rtp(
            CALLER_SSRC,
            seq + n as u16,
            ts,
            101,
            n == 0,
            &event.to_bytes(),
        ));
    }
    packets
}

fn digits(events: &[MediaEvent]) -> Vec<(DtmfDigit, DtmfMethod)> {
    events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf {
                leg, digit, method, ..
            } => {
                assert_eq!(*leg, CALLER);
                Some((*digit, *method))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn telephone_events_on_a_leg_alone_give_one_digit_per_press() {
    let mut now = Instant::now();
    let mut relay = caller_alone(now, false);
    let mut events = Vec::new();
    for (press, digit) in [DtmfDigit::Five, DtmfDigit::Five, DtmfDigit::Pound]
        .into_iter()
        .enumerate()
    {
        let (seq, ts) = (100 + 10 * press as u16, 8000 * press as u32);
        for packet in key_press(digit, seq, ts) {
            let (verdict, _) = send(&mut relay, now, CALLER_PORT, caller_addr(), &packet);
            assert_eq!(verdict, Verdict::Consumed);
            now += FRAME;
        }
        events.extend(std::iter::from_fn(|| relay.poll_event()));
        now += Duration::from_millis(500);
    }
    assert_eq!(
        digits(&events),
        [
            (DtmfDigit::Five, DtmfMethod::Rfc4733),
            (DtmfDigit::Five, DtmfMethod::Rfc4733),
            (DtmfDigit::Pound, DtmfMethod::Rfc4733)
        ]
    );
    assert_eq!(relay.counters().consumed, 18);
    // A leg without a codec still drops what it cannot relay.
    let config = leg_config(AGENT_PORT, agent_addr(), false);
    relay.add_leg(now, AGENT, config).unwrap();
    let (verdict, _) = send(
        &mut relay,
        now,
        AGENT_PORT,
        agent_addr(),
        &key_press(DtmfDigit::One, 1, 0)[0],
    );
    assert_eq!(verdict, Verdict::Drop(DropReason::NoPeer));
}

#[test]
fn a_press_sent_in_band_and_as_telephone_event_is_reported_once() {
    let mut now = Instant::now();
    let mut relay = caller_alone(now, false);
    // Audio carrying 7 for 100 ms, then silence, with RFC 4733 packets
    // for the same press alongside.
    let mut tone = TonePlayer::new(Tone::Dtmf {
        digit: DtmfDigit::Seven,
        duration: Duration::from_millis(100),
    });
    let events_7 = key_press(DtmfDigit::Seven, 1000, 4000);
    let mut payload = [0u8; 160];
    for n in 0..15u16 {
        tone.fill_g711(G711::Mulaw, &mut payload);
        let audio = rtp(CALLER_SSRC, n, 160 * u32::from(n), 0, false, &payload);
        send(&mut relay, now, CALLER_PORT, caller_addr(), &audio);
        if let Some(event) = events_7.get(usize::from(n)) {
            send(&mut relay, now, CALLER_PORT, caller_addr(), event);
        }
        now += FRAME;
    }
    // Then 3 in band only.
    let mut tone = TonePlayer::new(Tone::Dtmf {
        digit: DtmfDigit::Three,
        duration: Duration::from_millis(100),
    });
    for n in 15..30u16 {
        tone.fill_g711(G711::Mulaw, &mut payload);
        let audio = rtp(CALLER_SSRC, n, 160 * u32::from(n), 0, false, &payload);
        send(&mut relay, now, CALLER_PORT, caller_addr(), &audio);
        now += FRAME;
    }
    let events: Vec<_> = std::iter::from_fn(|| relay.poll_event()).collect();
    let heard = digits(&events);
    assert_eq!(heard.len(), 2, "{heard:?}");
    assert_eq!(heard[0].0, DtmfDigit::Seven);
    assert_eq!(heard[1], (DtmfDigit::Three, DtmfMethod::Inband));
}

#[test]
fn a_press_whose_end_packets_are_lost_ends_on_the_relay_timer() {
    let start = Instant::now();
    let mut relay = caller_alone(start, false);
    for packet in &key_press(DtmfDigit::Nine, 1, 0)[..2] {
        send(&mut relay, start, CALLER_PORT, caller_addr(), packet);
    }
    let early: Vec<_> = std::iter::from_fn(|| relay.poll_event()).collect();
    assert_eq!(digits(&early), []);
    let deadline = relay.poll_timeout().unwrap();
    assert_eq!(deadline, start + Duration::from_millis(250));
    let (mut sent, mut events) = (Vec::new(), Vec::new());
    wake(&mut relay, deadline, &mut sent, &mut events);
    assert_eq!(digits(&events), [(DtmfDigit::Nine, DtmfMethod::Rfc4733)]);
}

#[test]
fn a_bridged_leg_reports_telephone_events_only_when_asked_and_still_forwards() {
    let mut now = Instant::now();
    let mut relay = caller_and_agent(now);
    let mut events = Vec::new();
    for (press, report) in [false, true].into_iter().enumerate() {
        relay.set_report_dtmf(CALLER, report).unwrap();
        let (seq, ts) = (10 * press as u16, 8000 * press as u32);
        for packet in key_press(DtmfDigit::Two, seq, ts) {
            let (verdict, out) = send(&mut relay, now, CALLER_PORT, caller_addr(), &packet);
            assert!(matches!(verdict, Verdict::Forward(f) if f.destination == agent_addr()));
            assert_eq!(out, packet);
            now += FRAME;
        }
        events.extend(std::iter::from_fn(|| relay.poll_event()));
        now += Duration::from_secs(2);
    }
    assert_eq!(digits(&events), [(DtmfDigit::Two, DtmfMethod::Rfc4733)]);
    // The agent's leg has no codec: nothing to report with.
    assert_eq!(
        relay.set_report_dtmf(AGENT, true),
        Err(RelayError::NoCodec(AGENT))
    );
}

#[test]
fn reports_are_sr_while_playing_and_rr_while_listening() {
    let start = Instant::now();
    let mut relay = caller_alone(start, false);
    // 2026-01-01 as the wall clock at `start`.
    let unix = Duration::from_secs(1_767_225_600);
    relay.set_wallclock(start, unix);
    relay
        .play(
            start,
            CALLER,
            PlayRequestId(1),
            prompt(500.0, MediaRate::Narrowband, Duration::from_secs(12)),
        )
        .unwrap();
    let (mut sent, mut events) = (Vec::new(), Vec::new());
    let caller_sr_ntp = 0x1122_3344_5566_7788u64;
    for step in 0..1500u32 {
        let now = start + FRAME * step;
        wake(&mut relay, now, &mut sent, &mut events);
        // The caller talks, and sends an SR at 1 s.
        let packet = rtp(CALLER_SSRC, step as u16, step * 160, 0, false, &[0xff; 160]);
        send(
            &mut relay,
            now + Duration::from_millis(3),
            CALLER_PORT,
            caller_addr(),
            &packet,
        );
        if step == 50 {
            let mut sr = Vec::new();
            let info = SenderInfo {
                ntp_timestamp: caller_sr_ntp,
                ..SenderInfo::default()
            };
            RtcpWriter::new(&mut sr)
                .sender_report(CALLER_SSRC, &info, &[])
                .unwrap();
            let (verdict, _) = send(&mut relay, now, CALLER_PORT, caller_addr(), &sr);
            assert_eq!(verdict, Verdict::Consumed);
        }
    }
    let our_ssrc = header(&rtp_to(&sent, caller_addr())[0].packet).0;
    let reports: Vec<&Sent> = sent.iter().filter(|s| s.is_rtcp()).collect();
    assert!(reports.len() >= 3, "{} reports", reports.len());
    // Sent at the next 20 ms wake-up after they are due.
    assert!(reports[0].at >= start + Duration::from_millis(1250));
    assert!(reports[0].at <= start + Duration::from_millis(3770));
    for pair in reports.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(2480) && gap <= Duration::from_millis(7520),
            "{gap:?}"
        );
    }
    let mut kinds = Vec::new();
    for report in &reports {
        let compound = RtcpCompound::parse(&report.packet).unwrap();
        let mut packets = compound.packets();
        let frames_before = rtp_to(&sent, caller_addr())
            .iter()
            .filter(|s| s.at <= report.at)
            .count();
        match packets.next().unwrap() {
            RtcpPacket::SenderReport(sr) => {
                assert_eq!(sr.ssrc(), our_ssrc);
                let info = sr.sender_info();
                assert_eq!(info.packet_count as usize, frames_before);
                assert_eq!(info.octet_count as usize, frames_before * 160);
                let elapsed = report.at - start;
                let seconds = (info.ntp_timestamp >> 32) - 2_208_988_800;
                assert_eq!(seconds, (unix + elapsed).as_secs());
                let block = sr.report_blocks().next().unwrap();
                assert_eq!(block.ssrc, CALLER_SSRC);
                assert_eq!(block.cumulative_lost, 0);
                assert_eq!(block.last_sender_report, (caller_sr_ntp >> 16) as u32);
                kinds.push("SR");
            }
            RtcpPacket::ReceiverReport(rr) => {
                assert_eq!(rr.ssrc(), our_ssrc);
                assert_eq!(rr.report_blocks().next().unwrap().ssrc, CALLER_SSRC);
                kinds.push("RR");
            }
            other => panic!("{other:?}"),
        }
        let Some(RtcpPacket::SourceDescription(sdes)) = packets.next() else {
            panic!("no SDES");
        };
        assert_eq!(sdes.chunks().next().unwrap().cname().unwrap().len(), 16);
    }
    // The prompt ends at 12 s: a report more than one interval (7.5 s)
    // later follows one sent after the last frame, so it is an RR, and
    // there is one in the 10 s up to 30 s.
    let after: Vec<_> = reports
        .iter()
        .zip(&kinds)
        .filter(|(r, _)| r.at > start + Duration::from_millis(12_000 + 7_520))
        .map(|(_, kind)| *kind)
        .collect();
    assert!(
        !after.is_empty() && after.iter().all(|kind| *kind == "RR"),
        "{kinds:?}"
    );
    assert_eq!(kinds[0], "SR");
}

#[test]
fn a_silent_caller_alone_with_switchboard_times_out() {
    let start = Instant::now();
    let mut relay = caller_alone(start, false);
    relay
        .play(start, CALLER, PlayRequestId(1), music())
        .unwrap();
    let (_, events) = run(&mut relay, start + Duration::from_secs(31), |_| {
        Duration::ZERO
    });
    assert!(events
        .iter()
        .any(|e| matches!(e, MediaEvent::MediaTimeout { leg, .. } if *leg == CALLER)));
}

#[test]
fn commands_are_checked() {
    let now = Instant::now();
    let mut relay = caller_and_agent(now);
    assert_eq!(
        relay.play(now, AGENT, PlayRequestId(1), music()),
        Err(RelayError::NoCodec(AGENT))
    );
    let ghost = LegKey::new(9, 9);
    assert_eq!(
        relay.set_codec(now, ghost, pcmu()),
        Err(RelayError::UnknownLeg(ghost))
    );
    let mut codec = pcmu();
    codec.ptime = Duration::from_millis(30);
    assert!(matches!(
        relay.set_codec(now, CALLER, codec),
        Err(RelayError::UnsupportedCodec(_))
    ));
    codec = pcmu();
    codec.telephone_event_pt = Some(0);
    assert!(matches!(
        relay.set_codec(now, CALLER, codec),
        Err(RelayError::UnsupportedCodec(_))
    ));
    assert_eq!(relay.stop_playing(CALLER), Ok(false));
    // A playing leg removed: its play ends, nothing is left to send.
    relay.play(now, CALLER, PlayRequestId(4), music()).unwrap();
    relay.remove_leg(CALLER).unwrap();
    let events: Vec<_> = std::iter::from_fn(|| relay.poll_event()).collect();
    assert_eq!(
        events,
        [MediaEvent::PlayFinished {
            leg: CALLER,
            request: PlayRequestId(4),
            end: PlayEnd::Stopped
        }]
    );
    let (sent, _) = run(&mut relay, now + Duration::from_secs(1), |_| Duration::ZERO);
    assert!(sent.is_empty());
}

#[test]
fn a_hold_player_can_be_reached_while_it_plays() {
    let now = Instant::now();
    let mut relay = caller_alone(now, false);
    let hold = crate::HoldPlayer::new(MediaRate::Narrowband, None).unwrap();
    relay
        .play(now, CALLER, PlayRequestId(1), Box::new(hold))
        .unwrap();
    let source = relay.playing_source(CALLER).unwrap();
    let hold = source
        .as_any_mut()
        .and_then(|any| any.downcast_mut::<crate::HoldPlayer>())
        .unwrap();
    hold.announce(PlayRequestId(2), [PlayItem::Silence(FRAME)], false)
        .unwrap();
    assert!(hold.announcements().is_playing());
}

mod wideband;
