//! The INVITE client transaction: RFC 3261 §17.1.1 with the Accepted state
//! of RFC 6026 §7.2 and §8.4, and the 64*T1 wait for a final response
//! after a CANCEL (RFC 3261 §9.1).

use std::time::Instant;

use sip::{Method, Request, Response};

use super::derived::{build_ack, build_cancel};
use super::error::TransactionError;
use super::event::{Outputs, TransactionEvent, Transmit};
use super::key::TransactionKey;
use super::timers::{earliest, expired, Retransmit, Timer};
use crate::TimerConfig;

/// The states of figure 5 of RFC 3261 as amended by RFC 6026 figure 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientInviteState {
    /// INVITE sent, nothing received; Timers A (UDP) and B run.
    Calling,
    /// A provisional response arrived; once a CANCEL was sent, the
    /// [`Timer::Cancel`] waits 64*T1 for the final response (§9.1).
    Proceeding,
    /// A 300-699 arrived and was acknowledged; Timer D absorbs its
    /// retransmissions.
    Completed,
    /// A 2xx arrived; Timer M passes further 2xx (retransmissions and other
    /// forks) to the TU.
    Accepted,
    /// Over; drop the transaction.
    Terminated,
}

#[derive(Debug)]
enum State {
    Calling {
        timer_a: Option<Retransmit>,
        timer_b: Instant,
    },
    Proceeding {
        /// Set once the CANCEL was sent: when to give up waiting for a final
        /// response (§9.1).
        timer_cancel: Option<Instant>,
    },
    Completed {
        ack: Box<Request>,
        timer_d: Instant,
    },
    Accepted {
        timer_m: Instant,
    },
    Terminated,
}

/// An INVITE client transaction (sans-IO).
///
/// Creating it queues the INVITE. After creation and after every
/// `handle_*` call, drain the outputs in this order:
/// 1. [`poll_transmit`](Self::poll_transmit) until `None` (the INVITE, its
///    retransmissions, the ACK of a non-2xx final response);
/// 2. [`poll_event`](Self::poll_event) until `None` (responses for the TU,
///    timeout, transport error, terminated);
/// 3. [`poll_timeout`](Self::poll_timeout), and call
///    [`handle_timeout`](Self::handle_timeout) when that instant is reached.
///
/// Once [`TransactionEvent::Terminated`] was returned the transaction does
/// nothing more and can be dropped.
#[derive(Debug)]
pub struct ClientInviteTransaction {
    key: TransactionKey,
    /// The INVITE, until a final response: retransmissions, CANCEL and the
    /// ACK of a non-2xx need it; a finished transaction waits 32 s more
    /// and should not keep it (nor the datagram it points into).
    request: Option<Request>,
    config: TimerConfig,
    reliable: bool,
    state: State,
    out: Outputs,
}

impl ClientInviteTransaction {
    /// Starts the transaction for `request` (an INVITE with an RFC 3261
    /// branch) over a `reliable` (TCP, TLS) or unreliable (UDP) transport.
    pub fn new(
        request: Request,
        reliable: bool,
        config: TimerConfig,
        now: Instant,
    ) -> Result<Self, TransactionError> {
        if request.method != Method::Invite {
            return Err(TransactionError::WrongMethod {
                method: request.method.clone(),
            });
        }
        let key = TransactionKey::client(&request)?;
        // Building the ACK and the CANCEL needs a CSeq: refuse early.
        request.headers.cseq()?;
        let mut out = Outputs::default();
        out.transmit(request.clone());
        let state = State::Calling {
            timer_a: (!reliable).then(|| Retransmit::start(now, config.t1)),
            timer_b: now + config.t1x64(),
        };
        Ok(Self {
            key,
            request: Some(request),
            config,
            reliable,
            state,
            out,
        })
    }

    /// The key responses are matched against.
    pub fn key(&self) -> &TransactionKey {
        &self.key
    }

    /// The INVITE this transaction sends; `None` once a final response
    /// arrived or the transaction ended (it no longer needs it).
    pub fn request(&self) -> Option<&Request> {
        self.request.as_ref()
    }

    /// Whether the transport is reliable (no retransmissions, Timer D zero).
    pub fn reliable(&self) -> bool {
        self.reliable
    }

    /// The current state.
    pub fn state(&self) -> ClientInviteState {
        match self.state {
            State::Calling { .. } => ClientInviteState::Calling,
            State::Proceeding { .. } => ClientInviteState::Proceeding,
            State::Completed { .. } => ClientInviteState::Completed,
            State::Accepted { .. } => ClientInviteState::Accepted,
            State::Terminated => ClientInviteState::Terminated,
        }
    }

    /// Whether a CANCEL was sent for this INVITE ([`cancel`](Self::cancel)).
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self.state,
            State::Proceeding {
                timer_cancel: Some(_)
            }
        )
    }

    /// Builds the CANCEL for this INVITE (§9.1) and starts [`Timer::Cancel`]:
    /// if no final response arrives within 64*T1, the transaction times out
    /// and terminates. Send the CANCEL in its own non-INVITE client
    /// transaction. Only allowed once, in the Proceeding state: in Calling
    /// the CANCEL must wait for a provisional response (the
    /// [`TransactionLayer`](crate::TransactionLayer) holds it until then).
    pub fn cancel(&mut self, now: Instant) -> Result<Request, TransactionError> {
        let not_allowed = TransactionError::CancelNotAllowed {
            state: self.state().name(),
        };
        let (State::Proceeding { timer_cancel }, Some(request)) = (&mut self.state, &self.request)
        else {
            return Err(not_allowed);
        };
        if timer_cancel.is_some() {
            return Err(TransactionError::AlreadyCancelled);
        }
        let cancel = build_cancel(request)?;
        *timer_cancel = Some(now + self.config.t1x64());
        Ok(cancel)
    }

    /// A response matched to this transaction arrived (§17.1.1.2).
    pub fn handle_response(&mut self, response: Response, now: Instant) {
        let status = response.status;
        match &self.state {
            State::Calling { .. } | State::Proceeding { .. } => {
                // 300-699 is acknowledged here (§17.1.1.3); build the ACK
                // before the response moves to the TU.
                let ack = match &self.request {
                    Some(invite) if status.is_final() && !status.is_success() => {
                        Some(build_ack(invite, &response))
                    }
                    _ => None,
                };
                if status.is_final() {
                    self.request = None;
                }
                self.out.event(TransactionEvent::Response(response));
                match ack {
                    // A second provisional keeps a running Timer::Cancel.
                    None if status.is_provisional() => {
                        if let State::Calling { .. } = self.state {
                            self.state = State::Proceeding { timer_cancel: None };
                        }
                    }
                    None => {
                        self.state = State::Accepted {
                            timer_m: now + self.config.t1x64(),
                        }
                    }
                    Some(Ok(ack)) => {
                        self.out.transmit(ack.clone());
                        self.state = State::Completed {
                            ack: Box::new(ack),
                            timer_d: now + self.config.timer_d(self.reliable),
                        };
                    }
                    // Unreachable: `new` checked the CSeq and the top Via
                    // the ACK copies. Without an ACK there is nothing to
                    // wait for.
                    Some(Err(_)) => self.terminate(),
                }
            }
            State::Completed { ack, .. } => {
                if status.is_final() && !status.is_success() {
                    self.out.transmit((**ack).clone());
                    self.out.event(TransactionEvent::RetransmissionAbsorbed);
                }
            }
            State::Accepted { .. } => {
                if status.is_success() {
                    self.out.event(TransactionEvent::Response(response));
                }
            }
            State::Terminated => {}
        }
    }

    /// The transport failed to send the INVITE or the ACK (§17.1.4).
    pub fn handle_transport_error(&mut self, _now: Instant) {
        if !matches!(self.state, State::Terminated) {
            self.out.event(TransactionEvent::TransportError);
            self.terminate();
        }
    }

    /// Fires the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.state {
            State::Calling { timer_a, timer_b } => {
                if expired(Some(*timer_b), now) {
                    self.out
                        .event(TransactionEvent::Timeout { timer: Timer::B });
                    self.terminate();
                } else if let Some(a) = timer_a.as_mut().filter(|a| a.at <= now) {
                    a.rearm(now, a.interval * 2);
                    if let Some(invite) = &self.request {
                        self.out.transmit(invite.clone());
                    }
                }
            }
            State::Proceeding {
                timer_cancel: Some(at),
            } => {
                if *at <= now {
                    self.out.event(TransactionEvent::Timeout {
                        timer: Timer::Cancel,
                    });
                    self.terminate();
                }
            }
            State::Completed { timer_d: at, .. } | State::Accepted { timer_m: at } => {
                if *at <= now {
                    self.terminate();
                }
            }
            State::Proceeding { timer_cancel: None } | State::Terminated => {}
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Calling { timer_a, timer_b } => {
                earliest([timer_a.map(|a| a.at), Some(*timer_b)])
            }
            State::Proceeding { timer_cancel } => *timer_cancel,
            State::Completed { timer_d: at, .. } | State::Accepted { timer_m: at } => Some(*at),
            State::Terminated => None,
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.poll_transmit(&self.key)
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.out.poll_event()
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.request = None;
        self.out.event(TransactionEvent::Terminated);
    }
}

impl ClientInviteState {
    /// The RFC name of the state.
    pub fn name(self) -> &'static str {
        match self {
            Self::Calling => "Calling",
            Self::Proceeding => "Proceeding",
            Self::Completed => "Completed",
            Self::Accepted => "Accepted",
            Self::Terminated => "Terminated",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use sip::{HeaderName, Message};

    use super::*;
    use crate::transaction::testing::{
        events, invite, ms, response, secs, sent_at, values, Machine, Output,
    };

    const BRANCH: &str = "z9hG4bK74bf9";

    fn start(reliable: bool, t0: Instant) -> ClientInviteTransaction {
        let mut txn =
            ClientInviteTransaction::new(invite(BRANCH), reliable, TimerConfig::default(), t0)
                .unwrap();
        let first = txn.drain(t0, t0);
        assert_eq!(
            sent_at(&first),
            [Duration::ZERO],
            "the INVITE is sent at once"
        );
        txn
    }

    #[test]
    fn unanswered_invite_over_udp_doubles_timer_a_and_times_out_at_64_t1() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(500)));
        let out = txn.run_until(t0, t0 + ms(60_000));
        assert_eq!(sent_at(&out), secs(&[0.5, 1.5, 3.5, 7.5, 15.5, 31.5]));
        let events = events(&out);
        assert!(matches!(
            events[..],
            [
                (at, TransactionEvent::Timeout { timer: Timer::B }),
                (at2, TransactionEvent::Terminated)
            ] if at == ms(32_000) && at2 == ms(32_000)
        ));
        assert_eq!(txn.state(), ClientInviteState::Terminated);
        assert_eq!(txn.poll_timeout(), None);
    }

    #[test]
    fn late_wake_ups_do_not_shift_timer_a() {
        // The driver wakes 120 ms after each deadline: the retransmissions
        // keep the 0, T1, 3T1, ... 31T1 grid (plus 120 ms) and the last one
        // still goes out before Timer B.
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        let mut out = Vec::new();
        while let Some(at) = txn.poll_timeout() {
            let late = at + ms(120);
            txn.handle_timeout(late);
            out.extend(txn.drain(t0, late));
        }
        assert_eq!(sent_at(&out), secs(&[0.62, 1.62, 3.62, 7.62, 15.62, 31.62]));
        assert!(matches!(
            events(&out)[..],
            [(at, TransactionEvent::Timeout { timer: Timer::B }), (_, TransactionEvent::Terminated)]
                if at == ms(32_120)
        ));
    }

    #[test]
    fn unanswered_invite_over_tcp_never_retransmits_and_times_out_at_64_t1() {
        let t0 = Instant::now();
        let mut txn = start(true, t0);
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(32_000)));
        let out = txn.run_until(t0, t0 + ms(60_000));
        assert!(sent_at(&out).is_empty());
        assert!(matches!(
            events(&out)[..],
            [(at, TransactionEvent::Timeout { timer: Timer::B }), (_, TransactionEvent::Terminated)]
                if at == ms(32_000)
        ));
    }

    #[test]
    fn provisional_stops_retransmissions_and_goes_to_proceeding() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        let invite = txn.request().unwrap().clone();
        txn.run_until(t0, t0 + ms(600)); // one retransmission at 0.5 s
        txn.handle_response(response(&invite, 180, Some("b1")), t0 + ms(700));
        assert_eq!(txn.state(), ClientInviteState::Proceeding);
        let out = txn.drain(t0, t0 + ms(700));
        assert!(
            matches!(&out[..], [(_, Output::Event(TransactionEvent::Response(r)))] if r.status.0 == 180)
        );
        assert_eq!(txn.poll_timeout(), None, "no A, no B in Proceeding");
        // Further provisional responses still reach the TU.
        txn.handle_response(response(&invite, 183, Some("b1")), t0 + ms(800));
        assert!(
            matches!(txn.poll_event(), Some(TransactionEvent::Response(r)) if r.status.0 == 183)
        );
    }

    #[test]
    fn non_2xx_is_acknowledged_with_exactly_the_headers_of_17_1_1_3() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        let invite = txn.request().unwrap().clone();
        txn.handle_response(response(&invite, 486, Some("8321234356")), t0 + ms(100));
        assert_eq!(txn.state(), ClientInviteState::Completed);
        let ack = match txn.poll_transmit() {
            Some(Transmit {
                message: Message::Request(ack),
                ..
            }) => ack,
            other => panic!("expected the ACK, got {other:?}"),
        };
        assert_eq!(ack.method, Method::Ack);
        assert_eq!(ack.uri.to_string(), "sip:bob@biloxi.example.com");
        let ack = Message::Request(ack);
        assert_eq!(
            values(&ack, HeaderName::Via),
            ["SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK74bf9"],
            "top Via only"
        );
        assert_eq!(values(&ack, HeaderName::MaxForwards), ["69"]);
        assert_eq!(
            values(&ack, HeaderName::Route),
            ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
        assert_eq!(
            values(&ack, HeaderName::From),
            ["Alice <sip:alice@atlanta.example.com>;tag=1928301774"]
        );
        assert_eq!(
            values(&ack, HeaderName::To),
            ["Bob <sip:bob@biloxi.example.com>;tag=8321234356"],
            "To of the response, with its tag"
        );
        assert_eq!(
            values(&ack, HeaderName::CallId),
            ["a84b4c76e66710@pc33.atlanta.example.com"]
        );
        assert_eq!(values(&ack, HeaderName::CSeq), ["314159 ACK"]);
        assert!(values(&ack, HeaderName::Contact).is_empty());
        assert!(ack.body().is_empty());
        assert!(
            matches!(txn.poll_event(), Some(TransactionEvent::Response(r)) if r.status.0 == 486)
        );
    }

    #[test]
    fn retransmitted_final_is_acknowledged_again_and_timer_d_is_32_s_over_udp() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        let invite = txn.request().unwrap().clone();
        let busy = response(&invite, 486, Some("x"));
        txn.handle_response(busy.clone(), t0 + ms(100));
        txn.drain(t0, t0 + ms(100));
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(32_100)), "Timer D");
        txn.handle_response(busy, t0 + ms(600));
        let out = txn.drain(t0, t0 + ms(600));
        assert!(matches!(
            &out[..],
            [
                (_, Output::Sent(Message::Request(ack))),
                (_, Output::Event(TransactionEvent::RetransmissionAbsorbed))
            ] if ack.method == Method::Ack
        ));
        let out = txn.run_until(t0, t0 + ms(40_000));
        assert!(
            matches!(events(&out)[..], [(at, TransactionEvent::Terminated)] if at == ms(32_100))
        );
    }

    #[test]
    fn timer_d_is_zero_over_tcp() {
        let t0 = Instant::now();
        let mut txn = start(true, t0);
        let invite = txn.request().unwrap().clone();
        txn.handle_response(response(&invite, 603, Some("x")), t0 + ms(100));
        txn.drain(t0, t0 + ms(100));
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(100)));
        txn.handle_timeout(t0 + ms(100));
        assert_eq!(txn.state(), ClientInviteState::Terminated);
    }

    #[test]
    fn accepted_passes_every_2xx_up_until_timer_m() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        let invite = txn.request().unwrap().clone();
        txn.handle_response(response(&invite, 180, Some("a")), t0 + ms(100));
        txn.handle_response(response(&invite, 200, Some("a")), t0 + ms(1_000));
        assert_eq!(txn.state(), ClientInviteState::Accepted);
        // Finished: the INVITE (and the datagram under it) is let go.
        assert!(txn.request().is_none());
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(33_000)), "Timer M = 64*T1");
        // A retransmission and a 2xx from another fork: both to the TU.
        txn.handle_response(response(&invite, 200, Some("a")), t0 + ms(1_500));
        txn.handle_response(response(&invite, 200, Some("fork2")), t0 + ms(1_600));
        // A late non-2xx is not for the TU any more.
        txn.handle_response(response(&invite, 500, Some("fork3")), t0 + ms(1_700));
        let out = txn.drain(t0, t0 + ms(1_700));
        assert!(sent_at(&out).is_empty(), "the ACK of a 2xx is the TU's job");
        let statuses: Vec<u16> = events(&out)
            .iter()
            .map(|(_, event)| match event {
                TransactionEvent::Response(r) => r.status.0,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(statuses, [180, 200, 200, 200]);
        let out = txn.run_until(t0, t0 + ms(40_000));
        assert!(
            matches!(events(&out)[..], [(at, TransactionEvent::Terminated)] if at == ms(33_000))
        );
    }

    #[test]
    fn transport_error_terminates() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        txn.handle_transport_error(t0 + ms(10));
        assert_eq!(txn.state(), ClientInviteState::Terminated);
        assert!(matches!(
            txn.poll_event(),
            Some(TransactionEvent::TransportError)
        ));
        assert!(matches!(
            txn.poll_event(),
            Some(TransactionEvent::Terminated)
        ));
        assert_eq!(txn.poll_timeout(), None);
        txn.handle_transport_error(t0 + ms(20));
        assert!(txn.poll_event().is_none(), "reported once");
    }

    #[test]
    fn cancel_is_built_in_proceeding_only_and_only_once() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        assert!(matches!(
            txn.cancel(t0),
            Err(TransactionError::CancelNotAllowed { state: "Calling" })
        ));
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(500)), "nothing armed");
        let invite = txn.request().unwrap().clone();
        txn.handle_response(response(&invite, 180, Some("b")), t0 + ms(100));
        assert!(!txn.is_cancelled());
        let cancel = txn.cancel(t0 + ms(200)).unwrap();
        assert!(txn.is_cancelled());
        assert!(matches!(
            txn.cancel(t0 + ms(300)),
            Err(TransactionError::AlreadyCancelled)
        ));
        assert_eq!(cancel.method, Method::Cancel);
        assert_eq!(cancel.uri.to_string(), "sip:bob@biloxi.example.com");
        let cancel = Message::Request(cancel);
        assert_eq!(
            values(&cancel, HeaderName::Via),
            ["SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK74bf9"]
        );
        assert_eq!(
            values(&cancel, HeaderName::To),
            ["Bob <sip:bob@biloxi.example.com>"],
            "To of the INVITE, not of the response"
        );
        assert_eq!(values(&cancel, HeaderName::CSeq), ["314159 CANCEL"]);
        assert_eq!(values(&cancel, HeaderName::Route).len(), 2);
        assert_eq!(
            values(&cancel, HeaderName::CallId),
            ["a84b4c76e66710@pc33.atlanta.example.com"]
        );
        txn.handle_response(response(&invite, 487, Some("b")), t0 + ms(400));
        assert!(matches!(
            txn.cancel(t0 + ms(500)),
            Err(TransactionError::CancelNotAllowed { state: "Completed" })
        ));
    }

    #[test]
    fn cancelled_invite_without_final_times_out_64_t1_after_the_cancel() {
        for reliable in [false, true] {
            let t0 = Instant::now();
            let mut txn = start(reliable, t0);
            let invite = txn.request().unwrap().clone();
            txn.handle_response(response(&invite, 180, Some("b")), t0 + ms(100));
            txn.drain(t0, t0 + ms(100));
            assert_eq!(txn.poll_timeout(), None, "Proceeding waits for the TU");
            txn.cancel(t0 + ms(250)).unwrap();
            assert_eq!(txn.poll_timeout(), Some(t0 + ms(32_250)), "Timer::Cancel");
            // Another provisional does not restart the wait.
            txn.handle_response(response(&invite, 183, Some("b")), t0 + ms(20_000));
            assert_eq!(txn.poll_timeout(), Some(t0 + ms(32_250)));
            txn.handle_timeout(t0 + ms(32_249));
            assert_eq!(txn.state(), ClientInviteState::Proceeding);
            let out = txn.run_until(t0, t0 + ms(60_000));
            assert!(sent_at(&out).is_empty());
            assert!(matches!(
                events(&out)[..],
                [
                    (_, TransactionEvent::Response(_)),
                    (at, TransactionEvent::Timeout { timer: Timer::Cancel }),
                    (at2, TransactionEvent::Terminated)
                ] if at == ms(32_250) && at2 == ms(32_250)
            ));
            assert_eq!(txn.state(), ClientInviteState::Terminated);
        }
    }

    #[test]
    fn final_after_the_cancel_stops_the_cancel_wait() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        let invite = txn.request().unwrap().clone();
        txn.handle_response(response(&invite, 180, Some("b")), t0 + ms(100));
        txn.cancel(t0 + ms(200)).unwrap();
        txn.handle_response(response(&invite, 487, Some("b")), t0 + ms(300));
        assert_eq!(txn.state(), ClientInviteState::Completed);
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(32_300)), "Timer D");
        let out = txn.run_until(t0, t0 + ms(60_000));
        assert!(
            matches!(events(&out)[..], [(_, TransactionEvent::Response(_)), (_, TransactionEvent::Response(_)), (at, TransactionEvent::Terminated)] if at == ms(32_300)),
            "no Timer::Cancel timeout: {out:?}"
        );
    }

    #[test]
    fn refuses_non_invite_and_branch_without_cookie() {
        let t0 = Instant::now();
        let config = TimerConfig::default();
        assert!(matches!(
            ClientInviteTransaction::new(invite("old-style-branch"), false, config, t0),
            Err(TransactionError::MissingBranch)
        ));
        let bye = crate::transaction::testing::request("BYE", BRANCH, ";tag=x");
        assert!(matches!(
            ClientInviteTransaction::new(bye, false, config, t0),
            Err(TransactionError::WrongMethod {
                method: Method::Bye
            })
        ));
    }
}
