//! Random sequences of inputs (responses, retransmissions, ACKs, TU answers,
//! CANCELs, timeouts at random instants, transport errors) drive each transaction
//! type: nothing panics, timers never point at the past after
//! `handle_timeout`, `Terminated` comes exactly once and last, and every
//! transaction ends once its peer and TU finish.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use super::testing::{invite, ms, request, response, Machine};
use super::{
    ClientInviteState, ClientInviteTransaction, ClientNonInviteState, ClientNonInviteTransaction,
    ServerInviteState, ServerInviteTransaction, ServerNonInviteState, ServerNonInviteTransaction,
    TransactionEvent,
};
use crate::TimerConfig;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

const STATUSES: &[u16] = &[100, 180, 183, 200, 202, 302, 404, 486, 487, 500, 603];
const RUNS: u64 = 300;
const STEPS: usize = 40;

/// Watches the outputs of one transaction for the invariants.
#[derive(Default)]
struct Watch {
    terminated: bool,
}

impl Watch {
    fn drain(&mut self, m: &mut impl Machine) {
        while m.poll_transmit().is_some() {
            assert!(!self.terminated, "transmit after Terminated");
        }
        while let Some(event) = m.poll_event() {
            assert!(!self.terminated, "event {event:?} after Terminated");
            self.terminated = matches!(event, TransactionEvent::Terminated);
        }
    }
}

/// Runs `RUNS` random sequences: `make` builds a transaction, `input`
/// applies one random input, `finish` plays a cooperative peer and TU, and
/// `is_terminated` reads the state.
fn exercise<M: Machine>(
    make: impl Fn(bool, Instant) -> M,
    input: impl Fn(&mut M, &mut Rng, Instant),
    finish: impl Fn(&mut M, Instant),
    is_terminated: impl Fn(&M) -> bool,
) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for run in 0..RUNS {
        let t0 = Instant::now();
        let mut now = t0;
        let mut m = make(run % 2 == 0, t0);
        let mut watch = Watch::default();
        watch.drain(&mut m);
        for _ in 0..STEPS {
            match rng.below(10) {
                0..=3 => {
                    now += ms(rng.below(3_000));
                    m.handle_timeout(now);
                    assert!(
                        m.poll_timeout().is_none_or(|at| at > now),
                        "a timer still due after handle_timeout"
                    );
                }
                4 if rng.below(8) == 0 => m.handle_transport_error(now),
                _ => input(&mut m, &mut rng, now),
            }
            watch.drain(&mut m);
            assert_eq!(watch.terminated, is_terminated(&m));
        }
        finish(&mut m, now);
        watch.drain(&mut m);
        let end = now + Duration::from_secs(100);
        while let Some(at) = m.poll_timeout().filter(|at| *at <= end) {
            m.handle_timeout(at);
            watch.drain(&mut m);
        }
        assert!(is_terminated(&m), "run {run} did not end");
        assert!(watch.terminated);
    }
}

#[test]
fn client_invite_survives_random_responses() {
    exercise(
        |reliable, t0| {
            ClientInviteTransaction::new(invite("z9hG4bKr"), reliable, TimerConfig::default(), t0)
                .unwrap()
        },
        |m, rng, now| {
            if rng.below(6) == 0 {
                // Refused outside Proceeding or when already cancelled.
                let _ = m.cancel(now);
                return;
            }
            let tag = rng.pick(&["a", "b"]);
            let status = rng.pick(STATUSES);
            m.handle_response(response(&invite("z9hG4bKr"), status, Some(tag)), now);
        },
        |m, now| m.handle_response(response(&invite("z9hG4bKr"), 487, Some("a")), now),
        |m| m.state() == ClientInviteState::Terminated,
    );
}

#[test]
fn client_non_invite_survives_random_responses() {
    let bye = || request("BYE", "z9hG4bKr", ";tag=x");
    exercise(
        |reliable, t0| {
            ClientNonInviteTransaction::new(bye(), reliable, TimerConfig::default(), t0).unwrap()
        },
        |m, rng, now| m.handle_response(response(&bye(), rng.pick(STATUSES), None), now),
        // Timer F ends it whatever the peer does.
        |_, _| {},
        |m| m.state() == ClientNonInviteState::Terminated,
    );
}

#[test]
fn server_invite_survives_random_requests_and_tu_answers() {
    exercise(
        |reliable, t0| {
            ServerInviteTransaction::new(invite("z9hG4bKr"), reliable, TimerConfig::default(), t0)
                .unwrap()
        },
        |m, rng, now| match rng.below(3) {
            0 => m.handle_request(invite("z9hG4bKr"), now),
            1 => m.handle_request(request("ACK", "z9hG4bKr", ";tag=t"), now),
            _ => {
                let answer = response(&invite("z9hG4bKr"), rng.pick(STATUSES), Some("t"));
                let _refused_after_a_final = m.send_response(answer, now);
            }
        },
        // The TU answers (refused if it already did); Timers H, I or L end it.
        |m, now| {
            let _ = m.send_response(response(&invite("z9hG4bKr"), 500, Some("t")), now);
        },
        |m| m.state() == ServerInviteState::Terminated,
    );
}

#[test]
fn server_non_invite_survives_random_requests_and_tu_answers() {
    let options = || request("OPTIONS", "z9hG4bKr", "");
    exercise(
        |reliable, t0| {
            ServerNonInviteTransaction::new(options(), reliable, TimerConfig::default(), t0)
                .unwrap()
        },
        |m, rng, now| {
            if rng.below(2) == 0 {
                m.handle_request(options(), now);
            } else {
                let _ = m.send_response(response(&options(), rng.pick(STATUSES), Some("t")), now);
            }
        },
        |m, now| {
            let _ = m.send_response(response(&options(), 200, Some("t")), now);
        },
        |m| m.state() == ServerNonInviteState::Terminated,
    );
}
