//! Audio that arrives out of order at a transcoding bridge: held for
//! the missing packet up to the reorder wait (20 ms by default), then
//! concealed; what comes later than that, or twice, is dropped.

use super::*;

impl Call {
    /// Runs the relay's timers at the current time and routes what it
    /// sends; returns how many packets went out.
    fn tick(&mut self) -> usize {
        self.relay.handle_timeout(self.now);
        let mut buf = [0u8; 1500];
        let mut sent = 0;
        while let Some(out) = self.relay.poll_transmit(self.now, &mut buf) {
            self.route(out, &buf);
            sent += 1;
        }
        sent
    }
}

#[test]
fn a_reordered_pair_is_decoded_in_order() {
    let pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
    let pcma = codec(LegEncoding::Pcma, 8, Some(101));
    let mut call = Call::new(pcmu, pcma, false);
    let mut sent = Vec::new();
    let mut n = 0;
    while n < 30 {
        if n == 10 {
            // 10 and 11 swapped on the way, 5 ms apart.
            let ten = call.carrier.tone();
            let eleven = call.carrier.tone();
            sent.extend_from_slice(&ten[12..]);
            sent.extend_from_slice(&eleven[12..]);
            assert_eq!(call.deliver(CARRIER, &eleven), Verdict::Consumed, "held");
            call.now += Duration::from_millis(5);
            assert!(matches!(call.deliver(CARRIER, &ten), Verdict::Forward(_)));
            call.now += FRAME * 2 - Duration::from_millis(5);
            n += 2;
            continue;
        }
        let packet = call.carrier.tone();
        sent.extend_from_slice(&packet[12..]);
        assert!(matches!(
            call.deliver(CARRIER, &packet),
            Verdict::Forward(_)
        ));
        call.now += FRAME;
        n += 1;
    }
    let got = call.teams.audio();
    assert_eq!(got.len(), 30);
    assert_stream(&got, 160);
    // Sample for sample what was said, in its order.
    assert_heard_as_said(&call.teams.pcm, &sent);
    let counters = call.relay.counters();
    assert_eq!(counters.transcode_reordered, 1);
    assert_eq!(counters.transcode_lost, 0);
    assert_eq!(counters.dropped_total(), 0);
}

#[test]
fn a_missing_packet_is_concealed_when_the_wait_ends() {
    let opus = codec(LegEncoding::Opus, 111, Some(110));
    let pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
    let mut call = Call::new(opus, pcmu, false);
    let mut late = None;
    for n in 0..60 {
        if n == 40 {
            // Delayed by far more than the wait.
            late = Some(call.carrier.tone());
            call.now += FRAME;
            continue;
        }
        let packet = call.carrier.tone();
        let verdict = call.deliver(CARRIER, &packet);
        if n == 41 {
            // Held for 40; nothing else arrives before the timer.
            assert_eq!(verdict, Verdict::Consumed);
            let due = call.now + Duration::from_millis(20);
            assert!(call.relay.poll_timeout().is_some_and(|at| at <= due));
            let arrived = call.now;
            call.now = arrived + Duration::from_millis(19);
            assert_eq!(call.tick(), 0, "still waiting");
            call.now = arrived + Duration::from_millis(20);
            // The concealed 20 ms and packet 41, on the timer alone.
            assert_eq!(call.tick(), 2);
            call.now = arrived;
        }
        call.now += FRAME;
        if n == 45 {
            let verdict = call.deliver(CARRIER, late.as_ref().unwrap());
            assert_eq!(verdict, Verdict::Drop(DropReason::Late));
        }
    }
    let got = call.teams.audio();
    // Nothing missing on the PCMU side: the lost 20 ms was concealed.
    assert!(got.len() >= 58, "{}", got.len());
    assert_stream(&got, 160);
    // libopus carries the tone on through the loss rather than silence.
    let quiet = call
        .teams
        .pcm
        .chunks_exact(160)
        .skip(10)
        .filter(|frame| frame.iter().map(|&s| i32::from(s).abs()).max() < Some(1000))
        .count();
    assert_eq!(quiet, 0);
    let counters = call.relay.counters();
    assert_eq!(counters.transcode_lost, 1);
    assert_eq!(counters.dropped(DropReason::Late), 1);
    assert_eq!(counters.transcode_errors, 0);
}

#[test]
fn duplicates_are_dropped_held_or_not() {
    let pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
    let pcma = codec(LegEncoding::Pcma, 8, Some(101));
    let mut call = Call::new(pcmu, pcma, false);
    for _ in 0..5 {
        let packet = call.carrier.tone();
        call.deliver(CARRIER, &packet);
        call.now += FRAME;
    }
    let packet = call.carrier.tone();
    assert!(matches!(
        call.deliver(CARRIER, &packet),
        Verdict::Forward(_)
    ));
    assert_eq!(
        call.deliver(CARRIER, &packet),
        Verdict::Drop(DropReason::Late)
    );
    call.now += FRAME;
    // 6 is lost; 7 is held, and so is not taken twice either.
    call.carrier.lose();
    let held = call.carrier.tone();
    assert_eq!(call.deliver(CARRIER, &held), Verdict::Consumed);
    assert_eq!(
        call.deliver(CARRIER, &held),
        Verdict::Drop(DropReason::Late)
    );
    call.now += FRAME;
    assert!(call.tick() > 0);
    let got = call.teams.audio();
    assert_eq!(got.len(), 8, "6 + the concealed one + 7");
    assert_stream_short(&got);
    let counters = call.relay.counters();
    assert_eq!(counters.dropped(DropReason::Late), 2);
    assert_eq!(counters.transcode_errors, 0);
}

/// Consecutive sequence numbers and 20 ms timestamps, however few.
fn assert_stream_short(got: &[&Got]) {
    for pair in got.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq.wrapping_add(1));
        assert_eq!(pair[1].ts, pair[0].ts.wrapping_add(160));
    }
}

#[test]
fn without_a_wait_a_gap_is_concealed_at_once() {
    let pcmu = codec(LegEncoding::Pcmu, 0, Some(101));
    let pcma = codec(LegEncoding::Pcma, 8, Some(101));
    let mut call = Call::new(pcmu, pcma, false);
    let config = RelayConfig {
        reorder_wait: Duration::ZERO,
        ..RelayConfig::default()
    };
    call.relay = MediaRelay::new(config);
    for (key, port, addr) in [
        (CARRIER, CARRIER_PORT, carrier_addr()),
        (TEAMS, TEAMS_PORT, teams_addr()),
    ] {
        let leg = leg_config(port, addr, false);
        call.relay.add_leg(call.now, key, leg).unwrap();
    }
    call.relay.set_codec(call.now, CARRIER, pcmu).unwrap();
    call.relay.set_codec(call.now, TEAMS, pcma).unwrap();
    call.relay.bridge(call.now, CARRIER, TEAMS).unwrap();
    let first = call.carrier.tone();
    call.deliver(CARRIER, &first);
    call.carrier.lose();
    let third = call.carrier.tone();
    assert!(matches!(call.deliver(CARRIER, &third), Verdict::Forward(_)));
    assert_eq!(call.teams.audio().len(), 3);
    assert_eq!(call.relay.counters().transcode_lost, 1);
}
