//! What travels beside the audio through a transcoding bridge:
//! telephone-events, comfort noise, RTCP.

use super::*;
use crate::{RtcpCompound, RtcpPacket, RtcpWriter};

/// A key press of `digit` from `phone` starting at its current
/// timestamp: six updates 20 ms apart, then the end three times (RFC 4733
/// §2.5.1.4), each delivered at its time. Returns the event's timestamp.
fn press(call: &mut Call, from: LegKey, code: u8) -> u32 {
    let phone = if from == CARRIER {
        &mut call.carrier
    } else {
        &mut call.teams
    };
    let te = phone.codec.telephone_event_pt.unwrap();
    let step = phone.codec.ts_per_frame();
    let start = phone.ts;
    let mut packets = Vec::new();
    for k in 1..=6u16 {
        let event = TelephoneEvent {
            event: code,
            end: false,
            volume: 10,
            duration: k * step as u16,
        };
        packets.push(phone.packet(te, k == 1, start, &event.to_bytes()));
    }
    for _ in 0..3 {
        let event = TelephoneEvent {
            event: code,
            end: true,
            volume: 10,
            duration: 6 * step as u16,
        };
        packets.push(phone.packet(te, false, start, &event.to_bytes()));
    }
    phone.ts = start.wrapping_add(6 * step);
    for (n, packet) in packets.iter().enumerate() {
        assert!(matches!(call.deliver(from, packet), Verdict::Forward(_)));
        if n < 6 {
            call.now += FRAME;
        }
    }
    start
}

/// The digits a receiver at `rate` makes of the events in `got`.
fn digits(got: &[Got], pt: u8, rate: u32) -> Vec<(u8, Duration)> {
    let mut receiver = TelephoneEventReceiver::new(TelephoneEventReceiverConfig {
        clock_rate: rate,
        ..TelephoneEventReceiverConfig::default()
    });
    let now = Instant::now();
    let mut found = Vec::new();
    for got in got.iter().filter(|got| got.pt == pt) {
        let mut p = vec![0x80, (u8::from(got.marker) << 7) | got.pt];
        p.extend_from_slice(&got.seq.to_be_bytes());
        p.extend_from_slice(&got.ts.to_be_bytes());
        p.extend_from_slice(&got.ssrc.to_be_bytes());
        p.extend_from_slice(&got.payload);
        receiver
            .handle_rtp(now, &RtpPacket::parse(&p).unwrap())
            .unwrap();
        while let Some(event) = receiver.poll_event() {
            if let ReceivedEvent::Ended {
                digit, duration, ..
            } = event
            {
                found.push((digit.event_code(), duration));
            }
        }
    }
    found
}

#[test]
fn a_key_press_crosses_with_the_other_legs_type_clock_and_numbering() {
    let pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
    let opus = codec(LegEncoding::Opus, 111, Some(110));
    let mut call = Call::new(pcmu, opus, false);
    for _ in 0..20 {
        call.talk();
    }
    let last_audio = call.teams.audio().last().unwrap().ts;
    press(&mut call, CARRIER, 5);
    let events: Vec<&Got> = call.teams.got.iter().filter(|got| got.pt == 110).collect();
    assert_eq!(events.len(), 9);
    // One event: one timestamp for all its packets, the marker on the
    // first, durations on the 48 kHz clock (160 at 8 kHz is 960).
    let ts = events[0].ts;
    assert!(events.iter().all(|got| got.ts == ts));
    assert!(events[0].marker && events[1..].iter().all(|got| !got.marker));
    let durations: Vec<u16> = events
        .iter()
        .map(|got| TelephoneEvent::parse(&got.payload).unwrap().duration)
        .collect();
    assert_eq!(
        durations,
        [960, 1920, 2880, 3840, 4800, 5760, 5760, 5760, 5760]
    );
    // Placed where the audio is: the frame after the last one sent.
    let offset = ts.wrapping_sub(last_audio.wrapping_add(960)) as i32;
    assert!(offset.abs() <= 960, "event {offset} ticks off the audio");
    // The numbering runs on through audio and events alike.
    for pair in call.teams.got.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq.wrapping_add(1));
        assert_eq!(pair[1].ssrc, pair[0].ssrc);
    }
    assert_eq!(
        digits(&call.teams.got, 110, 48_000),
        [(5, Duration::from_millis(120))]
    );
    // The other way: 48 kHz durations become 8 kHz ones.
    for _ in 0..5 {
        call.talk();
    }
    press(&mut call, TEAMS, 9);
    assert_eq!(
        digits(&call.carrier.got, 101, 8000),
        [(9, Duration::from_millis(120))]
    );
}

#[test]
fn a_key_press_toward_a_leg_without_telephone_events_is_dropped() {
    let pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
    let g722 = codec(LegEncoding::G722, 9, None);
    let mut call = Call::new(pcmu, g722, false);
    call.talk();
    let event = TelephoneEvent {
        event: 1,
        end: false,
        volume: 10,
        duration: 160,
    };
    let ts = call.carrier.ts;
    let packet = call.carrier.packet(101, true, ts, &event.to_bytes());
    assert_eq!(
        call.deliver(CARRIER, &packet),
        Verdict::Drop(DropReason::UnmappedPayload)
    );
}

#[test]
fn comfort_noise_crosses_as_cn_or_becomes_silence() {
    for target_has_cn in [true, false] {
        let mut g722 = codec(LegEncoding::G722, 9, Some(101));
        g722.comfort_noise_pt = Some(13);
        let mut pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
        pcmu.comfort_noise_pt = target_has_cn.then_some(13);
        let mut call = Call::new(g722, pcmu, false);
        for _ in 0..10 {
            let packet = call.carrier.tone();
            call.deliver(CARRIER, &packet);
            call.now += FRAME;
        }
        let last = call.teams.got.last().unwrap().clone();
        // 500 ms of silence: one CN packet, then nothing.
        let ts = call.carrier.ts;
        let packet = call.carrier.packet(13, false, ts, &[50]);
        let verdict = call.deliver(CARRIER, &packet);
        call.carrier.ts = ts.wrapping_add(25 * 160);
        call.now += 25 * FRAME;
        let packet = call.carrier.tone();
        call.deliver(CARRIER, &packet);
        let got = &call.teams.got;
        // Ten frames, the CN packet or nothing, the first frame after.
        assert_eq!(got.len(), 11 + usize::from(target_has_cn));
        if target_has_cn {
            assert!(matches!(verdict, Verdict::Forward(_)));
            let cn = &got[10];
            assert_eq!((cn.pt, cn.payload.as_slice()), (13, &[50][..]));
            assert_eq!(cn.seq, last.seq.wrapping_add(1));
            let offset = cn.ts.wrapping_sub(last.ts.wrapping_add(160)) as i32;
            assert!(offset.abs() <= 160, "CN {offset} ticks off the audio");
        } else {
            assert_eq!(verdict, Verdict::Consumed);
            assert_eq!(got[10].seq, last.seq.wrapping_add(1));
        }
        // Speech resumes as a talkspurt, half a second on.
        let resumed = got.iter().rev().find(|got| got.pt == 0).unwrap();
        assert!(resumed.marker);
        let jump = resumed.ts.wrapping_sub(last.ts);
        assert!((4000..=4400).contains(&jump), "jump {jump}");
    }
}

#[test]
fn a_transcoding_bridge_ends_rtcp_and_reports_for_the_stream_each_leg_gets() {
    let pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
    let opus = codec(LegEncoding::Opus, 111, Some(110));
    let mut call = Call::new(pcmu, opus, false);
    // The carrier's receiver report is not passed on to Teams.
    let mut compound = Vec::new();
    RtcpWriter::new(&mut compound)
        .receiver_report(call.carrier.ssrc, &[])
        .unwrap();
    assert_eq!(call.deliver(CARRIER, &compound), Verdict::Consumed);
    let mut reports = Vec::new();
    let mut buf = [0u8; 1500];
    for _ in 0..400 {
        call.talk();
        call.relay.handle_timeout(call.now);
        while let Some(out) = call.relay.poll_transmit(call.now, &mut buf) {
            let packet = &buf[..out.len];
            if crate::classify(packet) == crate::PacketKind::Rtcp && out.destination == teams_addr()
            {
                reports.push(packet.to_vec());
            } else {
                call.route(out, &buf);
            }
        }
    }
    assert!(!reports.is_empty());
    let rtp = call.teams.audio();
    let ssrc = rtp[0].ssrc;
    let last_ts = rtp.last().unwrap().ts;
    let mut senders = 0;
    for report in &reports {
        for packet in RtcpCompound::parse(report).unwrap().packets() {
            if let RtcpPacket::SenderReport(sr) = packet {
                // The SSRC Teams gets RTP from, on its 48 kHz clock.
                assert_eq!(sr.ssrc(), ssrc);
                let info = sr.sender_info();
                let ahead = info.rtp_timestamp.wrapping_sub(last_ts) as i32;
                assert!(ahead.abs() < 48_000 * 8, "{ahead}");
                assert!(info.packet_count > 0);
                senders += 1;
            }
        }
    }
    assert!(senders > 0);
}

/// A press of `digit` held `units` of the phone's telephone-event clock,
/// as `TelephoneEventPackets` sends it (an update every 50 ms, segments
/// of 0xFFFF units for a long press, the end three times), each
/// delivered at its time.
fn long_press(call: &mut Call, from: LegKey, digit: DtmfDigit, units: u32) {
    let start = call.now;
    let phone = if from == CARRIER {
        &mut call.carrier
    } else {
        &mut call.teams
    };
    let rate = phone.codec.telephone_event_rate;
    let te = phone.codec.telephone_event_pt.unwrap();
    let ts = phone.ts;
    phone.ts = ts.wrapping_add(units);
    let config = TelephoneEventSenderConfig {
        clock_rate: rate,
        interval: rate / 20,
        ..TelephoneEventSenderConfig::default()
    };
    for sent in TelephoneEventPackets::new(digit, units, ts, &config) {
        let micros = u64::from(sent.offset) * 1_000_000 / u64::from(rate);
        call.now = start + Duration::from_micros(micros);
        let phone = if from == CARRIER {
            &mut call.carrier
        } else {
            &mut call.teams
        };
        let packet = phone.packet(te, sent.marker, sent.timestamp, &sent.event.to_bytes());
        let verdict = call.deliver(from, &packet);
        assert!(matches!(verdict, Verdict::Forward(_)), "{verdict:?}");
    }
}

/// The telephone-events `got` on `pt`: timestamp and report.
fn events_of(got: &[Got], pt: u8) -> Vec<(u32, TelephoneEvent)> {
    got.iter()
        .filter(|got| got.pt == pt)
        .map(|got| (got.ts, TelephoneEvent::parse(&got.payload).unwrap()))
        .collect()
}

#[test]
fn a_long_press_goes_on_in_segments_on_the_faster_clock() {
    let pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
    let opus = codec(LegEncoding::Opus, 111, Some(110));
    let mut call = Call::new(pcmu, opus, false);
    for _ in 0..5 {
        call.talk();
    }
    // 3 s: 24000 units at 8 kHz, 144000 at 48 kHz, past 0xFFFF twice.
    long_press(&mut call, CARRIER, DtmfDigit::Five, 3 * 8000);
    let events = events_of(&call.teams.got, 110);
    let first = events[0].0;
    let mut segments: Vec<u32> = events.iter().map(|(ts, _)| ts - first).collect();
    segments.dedup();
    assert_eq!(segments, [0, 0xFFFF, 2 * 0xFFFF]);
    assert!(events.iter().all(|(_, event)| event.event == 5));
    // Each full segment closed by a packet of 0xFFFF without the E bit,
    // right before the next segment's first.
    for segment in 0..2 {
        let closing = events
            .iter()
            .position(|(ts, event)| *ts == first + segment * 0xFFFF && event.duration == 0xFFFF)
            .unwrap();
        assert!(!events[closing].1.end);
        assert_eq!(events[closing + 1].0, first + (segment + 1) * 0xFFFF);
    }
    // Durations grow within a segment and restart in the next.
    for pair in events.windows(2) {
        if pair[0].0 == pair[1].0 {
            assert!(pair[1].1.duration >= pair[0].1.duration, "{pair:?}");
        }
    }
    // The end three times in the last segment, with the remainder.
    let ends: Vec<_> = events.iter().filter(|(_, event)| event.end).collect();
    assert_eq!(ends.len(), 3);
    for (ts, event) in ends {
        assert_eq!(*ts, first + 2 * 0xFFFF);
        assert_eq!(u32::from(event.duration), 144_000 - 2 * 0xFFFF);
    }
    assert_eq!(
        digits(&call.teams.got, 110, 48_000),
        [(5, Duration::from_secs(3))]
    );

    // The other way: Teams' own segments of 0xFFFF at 48 kHz are one
    // event of 24000 units at 8 kHz.
    for _ in 0..5 {
        call.talk();
    }
    long_press(&mut call, TEAMS, DtmfDigit::Nine, 3 * 48_000);
    let back = events_of(&call.carrier.got, 101);
    assert!(back.iter().all(|(ts, _)| *ts == back[0].0), "{back:?}");
    assert!(back.iter().all(|(_, event)| event.duration <= 24_000));
    let ends: Vec<_> = back.iter().filter(|(_, event)| event.end).collect();
    assert_eq!(ends.len(), 3);
    assert!(ends.iter().all(|(_, event)| event.duration == 24_000));
    assert_eq!(
        digits(&call.carrier.got, 101, 8000),
        [(9, Duration::from_secs(3))]
    );
    assert_eq!(call.relay.counters().dropped_total(), 0);
}
