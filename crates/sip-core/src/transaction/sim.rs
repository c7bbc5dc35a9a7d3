//! A two-peer simulation in simulated time: a client and a server
//! [`TransactionLayer`] exchange messages through a lossy fake network with
//! a fixed latency (as quinn's `Pair::drive`). Nothing sleeps.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sip::{Message, Method};

use super::layer::{LayerEvent, TransactionLayer};
use super::testing::{invite, ms, request, response};
use super::{TransactionEvent, TransactionKey};
use crate::{ServerInviteState, Timer, TimerConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    ToServer,
    ToClient,
}

/// One packet on the wire: when it was sent, which way, what, and whether
/// the network delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Packet {
    at: Duration,
    direction: Direction,
    what: String,
    delivered: bool,
}

type Loss = Box<dyn FnMut(Direction, &str) -> bool>;

struct Pair {
    t0: Instant,
    now: Instant,
    reliable: bool,
    latency: Duration,
    client: TransactionLayer,
    server: TransactionLayer,
    to_server: VecDeque<(Instant, Message)>,
    to_client: VecDeque<(Instant, Message)>,
    /// Whether to lose a packet, given its direction and summary.
    loss: Loss,
    /// The server TU answers every new INVITE or non-INVITE with these
    /// (delay, status) pairs.
    answers: Vec<(Duration, u16)>,
    scheduled: Vec<(Instant, TransactionKey, sip::Response)>,
    wire: Vec<Packet>,
    client_events: Vec<(Duration, LayerEvent)>,
    server_events: Vec<(Duration, LayerEvent)>,
}

impl Pair {
    fn new(reliable: bool, answers: &[(u64, u16)]) -> Self {
        let t0 = Instant::now();
        Self {
            t0,
            now: t0,
            reliable,
            latency: ms(10),
            client: TransactionLayer::new(TimerConfig::default()),
            server: TransactionLayer::new(TimerConfig::default()),
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            loss: Box::new(|_, _| false),
            answers: answers
                .iter()
                .map(|&(delay, status)| (ms(delay), status))
                .collect(),
            scheduled: Vec::new(),
            wire: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    /// Loses the first `n` packets, whatever they are.
    fn lose_first(mut self, n: usize) -> Self {
        let mut seen = 0;
        self.loss = Box::new(move |_, _| {
            seen += 1;
            seen <= n
        });
        self
    }

    /// Loses the first `n` packets going `direction` summarized as `what`,
    /// for each (direction, what, n).
    fn lose(mut self, rules: &[(Direction, &'static str, usize)]) -> Self {
        let mut rules: Vec<_> = rules.to_vec();
        self.loss = Box::new(move |direction, what| {
            rules.iter_mut().any(|(d, w, left)| {
                let hit = *d == direction && *w == what && *left > 0;
                if hit {
                    *left -= 1;
                }
                hit
            })
        });
        self
    }

    fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Runs the simulation until `until` (offset from t0), stepping from one
    /// event (timer, delivery, TU answer) to the next.
    fn drive(&mut self, until: Duration) {
        let until = self.t0 + until;
        loop {
            self.pump();
            let next = [
                self.client.poll_timeout(),
                self.server.poll_timeout(),
                self.to_server.front().map(|(at, _)| *at),
                self.to_client.front().map(|(at, _)| *at),
                self.scheduled.iter().map(|(at, ..)| *at).min(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(at) if at <= until => self.now = self.now.max(at),
                _ => {
                    self.now = until;
                    return;
                }
            }
            let now = self.now;
            while self.to_server.front().is_some_and(|(at, _)| *at <= now) {
                let (_, message) = self.to_server.pop_front().unwrap();
                match message {
                    Message::Request(r) => {
                        self.server.handle_request(r, self.reliable, now).unwrap()
                    }
                    Message::Response(r) => self.server.handle_response(r, now).unwrap(),
                }
            }
            while self.to_client.front().is_some_and(|(at, _)| *at <= now) {
                let (_, message) = self.to_client.pop_front().unwrap();
                match message {
                    Message::Request(r) => {
                        self.client.handle_request(r, self.reliable, now).unwrap()
                    }
                    Message::Response(r) => self.client.handle_response(r, now).unwrap(),
                }
            }
            let (due, later) = std::mem::take(&mut self.scheduled)
                .into_iter()
                .partition(|(at, ..)| *at <= now);
            self.scheduled = later;
            for (_, key, answer) in due {
                self.server.send_response(&key, answer, now).unwrap();
            }
            self.client.handle_timeout(now);
            self.server.handle_timeout(now);
        }
    }

    /// Moves every output of both layers: transmits onto the wire, events
    /// into the logs, new requests to the server TU.
    fn pump(&mut self) {
        let now = self.now;
        while let Some(transmit) = self.client.poll_transmit() {
            self.send(Direction::ToServer, transmit.message);
        }
        while let Some(transmit) = self.server.poll_transmit() {
            self.send(Direction::ToClient, transmit.message);
        }
        while let Some(event) = self.client.poll_event() {
            self.client_events.push((now - self.t0, event));
        }
        while let Some(event) = self.server.poll_event() {
            if let LayerEvent::Request { key, request } = &event {
                for &(delay, status) in &self.answers {
                    let tag = (status > 100).then_some("srv");
                    let answer = response(request, status, tag);
                    self.scheduled.push((now + delay, key.clone(), answer));
                }
            }
            self.server_events.push((now - self.t0, event));
        }
    }

    fn send(&mut self, direction: Direction, message: Message) {
        let what = match &message {
            Message::Request(r) => r.method.as_str().to_owned(),
            Message::Response(r) => r.status.0.to_string(),
        };
        // Every packet goes through the wire format and back.
        let message = Message::parse(message.to_bytes()).unwrap();
        let delivered = !(self.loss)(direction, &what);
        self.wire.push(Packet {
            at: self.elapsed(),
            direction,
            what,
            delivered,
        });
        if delivered {
            let queue = match direction {
                Direction::ToServer => &mut self.to_server,
                Direction::ToClient => &mut self.to_client,
            };
            queue.push_back((self.now + self.latency, message));
        }
    }

    /// The wire log as (milliseconds, what, delivered).
    fn wire(&self) -> Vec<(u128, &str, bool)> {
        self.wire
            .iter()
            .map(|p| (p.at.as_millis(), p.what.as_str(), p.delivered))
            .collect()
    }

    /// When the client TU saw each response status.
    fn client_responses(&self) -> Vec<(u128, u16)> {
        self.client_events
            .iter()
            .filter_map(|(at, event)| match event {
                LayerEvent::Transaction {
                    event: TransactionEvent::Response(r),
                    ..
                } => Some((at.as_millis(), r.status.0)),
                _ => None,
            })
            .collect()
    }

    /// When each side saw the last event of a transaction (`Terminated`) and
    /// whether anything failed (timeout, transport error).
    fn ends(events: &[(Duration, LayerEvent)]) -> (Vec<u128>, usize) {
        let mut ended = Vec::new();
        let mut failures = 0;
        for (at, event) in events {
            match event {
                LayerEvent::Transaction {
                    event: TransactionEvent::Terminated,
                    ..
                } => ended.push(at.as_millis()),
                LayerEvent::Transaction {
                    event: TransactionEvent::Timeout { .. } | TransactionEvent::TransportError,
                    ..
                } => failures += 1,
                _ => {}
            }
        }
        (ended, failures)
    }
}

#[test]
fn invite_rejected_over_a_lossless_network() {
    let mut pair = Pair::new(false, &[(1_000, 486)]);
    let key = pair
        .client
        .send_request(invite("z9hG4bKp1"), false, pair.t0)
        .unwrap();
    pair.drive(ms(2_000));
    assert_eq!(
        pair.wire(),
        [
            (0, "INVITE", true),
            (210, "100", true),
            (1_010, "486", true),
            (1_020, "ACK", true)
        ]
    );
    assert_eq!(pair.client_responses(), [(220, 100), (1_020, 486)]);
    // The client released its INVITE at the final response (it keeps the
    // ACK to repeat): key the server side from the same INVITE.
    let client = pair.client.client_invite(&key).unwrap();
    assert_eq!(client.state(), crate::ClientInviteState::Completed);
    assert!(client.request().is_none());
    let server_key = TransactionKey::server(&invite("z9hG4bKp1")).unwrap();
    assert_eq!(
        pair.server.server_invite(&server_key).unwrap().state(),
        ServerInviteState::Confirmed
    );
    pair.drive(ms(60_000));
    // Client: Timer D (32 s) after the 486; server: Timer I (T4) after the ACK.
    assert_eq!(Pair::ends(&pair.client_events), (vec![33_020], 0));
    assert_eq!(Pair::ends(&pair.server_events), (vec![6_030], 0));
    assert!(pair.client.is_empty() && pair.server.is_empty());
    assert_eq!(pair.wire().len(), 4, "nothing retransmitted");
}

#[test]
fn invite_completes_although_the_first_three_packets_are_lost() {
    let mut pair = Pair::new(false, &[(0, 486)]).lose_first(3);
    pair.client
        .send_request(invite("z9hG4bKp2"), false, pair.t0)
        .unwrap();
    pair.drive(ms(60_000));
    assert_eq!(
        pair.wire(),
        [
            (0, "INVITE", false),
            (500, "INVITE", false),
            (1_500, "INVITE", false),
            (3_500, "INVITE", true),
            (3_510, "486", true),
            (3_520, "ACK", true),
        ]
    );
    assert_eq!(pair.client_responses(), [(3_520, 486)]);
    assert_eq!(Pair::ends(&pair.client_events), (vec![35_520], 0));
    assert_eq!(Pair::ends(&pair.server_events), (vec![8_530], 0));
}

#[test]
fn lost_final_responses_and_ack_are_recovered_by_timer_g() {
    let mut pair = Pair::new(false, &[(0, 180), (100, 486)]).lose(&[
        (Direction::ToClient, "486", 2),
        (Direction::ToServer, "ACK", 1),
    ]);
    pair.client
        .send_request(invite("z9hG4bKp3"), false, pair.t0)
        .unwrap();
    pair.drive(ms(60_000));
    assert_eq!(
        pair.wire(),
        [
            (0, "INVITE", true),
            (10, "180", true),
            (110, "486", false),
            (610, "486", false),  // Timer G = T1
            (1_610, "486", true), // 2*T1
            (1_620, "ACK", false),
            (3_610, "486", true), // 4*T1, absorbed: the ACK is re-sent
            (3_620, "ACK", true),
        ]
    );
    assert_eq!(
        pair.client_responses(),
        [(20, 180), (1_620, 486)],
        "one final to the TU"
    );
    let absorbed = pair
        .client_events
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                LayerEvent::Transaction {
                    event: TransactionEvent::RetransmissionAbsorbed,
                    ..
                }
            )
        })
        .count();
    assert_eq!(absorbed, 1);
    assert_eq!(Pair::ends(&pair.server_events), (vec![3_630 + 5_000], 0));
    assert_eq!(Pair::ends(&pair.client_events), (vec![33_620], 0));
}

#[test]
fn invite_accepted_then_both_sides_wait_for_timers_l_and_m() {
    let mut pair = Pair::new(false, &[(50, 200)]);
    pair.client
        .send_request(invite("z9hG4bKp4"), false, pair.t0)
        .unwrap();
    pair.drive(ms(60_000));
    assert_eq!(pair.wire(), [(0, "INVITE", true), (60, "200", true)]);
    assert_eq!(pair.client_responses(), [(70, 200)]);
    assert_eq!(Pair::ends(&pair.client_events), (vec![32_070], 0));
    assert_eq!(Pair::ends(&pair.server_events), (vec![32_060], 0));
}

#[test]
fn non_invite_over_tcp_never_retransmits_and_ends_at_once() {
    let mut pair = Pair::new(true, &[(300, 200)]);
    pair.client
        .send_request(request("OPTIONS", "z9hG4bKp5", ""), true, pair.t0)
        .unwrap();
    pair.drive(ms(60_000));
    assert_eq!(pair.wire(), [(0, "OPTIONS", true), (310, "200", true)]);
    // Timers J and K are zero over a reliable transport.
    assert_eq!(Pair::ends(&pair.server_events), (vec![310], 0));
    assert_eq!(Pair::ends(&pair.client_events), (vec![320], 0));
}

#[test]
fn non_invite_request_retransmitted_until_it_gets_through() {
    let mut pair = Pair::new(false, &[(0, 200)]).lose_first(2);
    pair.client
        .send_request(request("BYE", "z9hG4bKp6", ";tag=x"), false, pair.t0)
        .unwrap();
    pair.drive(ms(60_000));
    assert_eq!(
        pair.wire(),
        [
            (0, "BYE", false),
            (500, "BYE", false),
            (1_500, "BYE", true),
            (1_510, "200", true)
        ]
    );
    assert_eq!(
        Pair::ends(&pair.client_events),
        (vec![1_520 + 5_000], 0),
        "Timer K = T4"
    );
    assert_eq!(
        Pair::ends(&pair.server_events),
        (vec![1_510 + 32_000], 0),
        "Timer J"
    );
}

#[test]
fn a_dead_network_times_the_invite_out_at_64_t1() {
    let mut pair = Pair::new(false, &[]).lose_first(usize::MAX);
    pair.client
        .send_request(invite("z9hG4bKp7"), false, pair.t0)
        .unwrap();
    pair.drive(ms(60_000));
    let sent: Vec<u128> = pair.wire().iter().map(|(at, ..)| *at).collect();
    assert_eq!(sent, [0, 500, 1_500, 3_500, 7_500, 15_500, 31_500]);
    assert_eq!(Pair::ends(&pair.client_events), (vec![32_000], 1));
    assert!(pair.server_events.is_empty());
}

#[test]
fn cancel_of_a_ringing_invite() {
    let mut pair = Pair::new(false, &[(0, 180)]);
    let key = pair
        .client
        .send_request(invite("z9hG4bKp8"), false, pair.t0)
        .unwrap();
    pair.drive(ms(100));
    let cancel = pair.client.send_cancel(&key, pair.now).unwrap();
    assert_eq!(cancel.method(), &Method::Cancel);
    pair.answers.clear();
    pair.drive(ms(200));
    // The server TU sees the CANCEL, finds the INVITE, answers 200 and 487.
    let (cancel_key, cancel_request) = pair
        .server_events
        .iter()
        .find_map(|(_, e)| match e {
            LayerEvent::Request { key, request } if request.method == Method::Cancel => {
                Some((key.clone(), request.clone()))
            }
            _ => None,
        })
        .unwrap();
    let invite_key = pair.server.cancelled_invite(&cancel_key).unwrap();
    let invite_request = pair
        .server
        .server_invite(&invite_key)
        .unwrap()
        .request()
        .unwrap()
        .clone();
    let now = pair.now;
    pair.server
        .send_response(
            &cancel_key,
            response(&cancel_request, 200, Some("srv")),
            now,
        )
        .unwrap();
    pair.server
        .send_response(
            &invite_key,
            response(&invite_request, 487, Some("srv")),
            now,
        )
        .unwrap();
    pair.drive(ms(60_000));
    let statuses: Vec<u16> = pair.client_responses().iter().map(|(_, s)| *s).collect();
    assert_eq!(statuses, [180, 200, 487]);
    let wire: Vec<&str> = pair.wire().iter().map(|(_, what, _)| *what).collect();
    assert_eq!(wire, ["INVITE", "180", "CANCEL", "200", "487", "ACK"]);
    assert_eq!(Pair::ends(&pair.client_events).1, 0);
    assert!(pair.client.is_empty() && pair.server.is_empty());
}

/// When the client TU saw a Timeout, and of which timer.
fn timeouts(events: &[(Duration, LayerEvent)]) -> Vec<(u128, Timer)> {
    events
        .iter()
        .filter_map(|(at, event)| match event {
            LayerEvent::Transaction {
                event: TransactionEvent::Timeout { timer },
                ..
            } => Some((at.as_millis(), *timer)),
            _ => None,
        })
        .collect()
}

#[test]
fn cancel_asked_before_any_provisional_goes_out_after_the_100_trying() {
    let mut pair = Pair::new(false, &[]);
    let key = pair
        .client
        .send_request(invite("z9hG4bKp9"), false, pair.t0)
        .unwrap();
    pair.client.send_cancel(&key, pair.t0).unwrap();
    pair.drive(ms(100));
    // The server TU never answers the INVITE, only the CANCEL (no 487).
    pair.answers = vec![(Duration::ZERO, 200)];
    pair.drive(ms(60_000));
    assert_eq!(
        pair.wire(),
        [
            (0, "INVITE", true),
            (210, "100", true), // the server transaction's own 100 Trying
            (220, "CANCEL", true),
            (230, "200", true),
        ]
    );
    assert_eq!(pair.client_responses(), [(220, 100), (240, 200)]);
    // CANCEL: Timer K (T4); INVITE: Timer::Cancel 64*T1 after the CANCEL.
    assert_eq!(Pair::ends(&pair.client_events), (vec![5_240, 32_220], 1));
    assert_eq!(timeouts(&pair.client_events), [(32_220, Timer::Cancel)]);
    assert!(pair.client.is_empty());
}

#[test]
fn cancelled_invite_without_a_487_is_destroyed_after_64_t1() {
    let mut pair = Pair::new(false, &[(0, 180)]);
    let key = pair
        .client
        .send_request(invite("z9hG4bKp10"), false, pair.t0)
        .unwrap();
    pair.drive(ms(100));
    pair.answers = vec![(Duration::ZERO, 200)];
    pair.client.send_cancel(&key, pair.now).unwrap();
    pair.drive(ms(32_099));
    assert!(pair.client.client_invite(&key).is_some(), "still waiting");
    pair.drive(ms(60_000));
    let wire: Vec<&str> = pair.wire().iter().map(|(_, what, _)| *what).collect();
    assert_eq!(wire, ["INVITE", "180", "CANCEL", "200"]);
    assert_eq!(timeouts(&pair.client_events), [(32_100, Timer::Cancel)]);
    assert_eq!(Pair::ends(&pair.client_events), (vec![5_120, 32_100], 1));
    assert!(pair.client.is_empty());
    assert_eq!(pair.client.stats().timeouts, 1);
}

#[test]
fn a_2xx_retransmitted_after_timer_m_is_a_stray_response_for_the_dialog() {
    let mut pair = Pair::new(false, &[(50, 200)]);
    let invite = invite("z9hG4bKp11");
    pair.client
        .send_request(invite.clone(), false, pair.t0)
        .unwrap();
    // The server's dialog keeps retransmitting its 2xx without a
    // transaction (no ACK reaches it in this test): once inside Timer M,
    // once after it (Timer M fires at 32 070 on the client).
    let ok = Message::Response(response(&invite, 200, Some("srv")));
    pair.drive(ms(20_000));
    pair.send(Direction::ToClient, ok.clone());
    pair.drive(ms(32_065));
    pair.send(Direction::ToClient, ok);
    pair.drive(ms(60_000));
    assert_eq!(
        pair.client_responses(),
        [(70, 200), (20_010, 200)],
        "inside Timer M the transaction passes the 2xx up"
    );
    let strays: Vec<(u128, u16)> = pair
        .client_events
        .iter()
        .filter_map(|(at, event)| match event {
            LayerEvent::StrayResponse(r) => Some((at.as_millis(), r.status.0)),
            _ => None,
        })
        .collect();
    assert_eq!(strays, [(32_075, 200)]);
    assert_eq!(Pair::ends(&pair.client_events), (vec![32_070], 0));
    assert_eq!(pair.client.stats().stray_responses, 1);
}
