//! The non-INVITE client transaction: RFC 3261 §17.1.2.

use std::time::Instant;

use sip::{Method, Request, Response};

use super::error::TransactionError;
use super::event::{Outputs, TransactionEvent, Transmit};
use super::key::TransactionKey;
use super::timers::{earliest, Retransmit, Timer};
use crate::TimerConfig;

/// The states of figure 6 of RFC 3261.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientNonInviteState {
    /// Request sent, nothing received; Timers E (UDP) and F run.
    Trying,
    /// A provisional response arrived; Timer E continues at T2.
    Proceeding,
    /// A final response arrived; Timer K absorbs its retransmissions.
    Completed,
    /// Over; drop the transaction.
    Terminated,
}

#[derive(Debug)]
enum State {
    Trying {
        timer_e: Option<Retransmit>,
        timer_f: Instant,
    },
    Proceeding {
        timer_e: Option<Retransmit>,
        timer_f: Instant,
    },
    Completed {
        timer_k: Instant,
    },
    Terminated,
}

/// A non-INVITE client transaction (sans-IO).
///
/// Creating it queues the request. After creation and after every
/// `handle_*` call, drain the outputs in this order:
/// 1. [`poll_transmit`](Self::poll_transmit) until `None` (the request and
///    its retransmissions);
/// 2. [`poll_event`](Self::poll_event) until `None` (responses for the TU,
///    timeout, transport error, terminated);
/// 3. [`poll_timeout`](Self::poll_timeout), and call
///    [`handle_timeout`](Self::handle_timeout) when that instant is reached.
///
/// Once [`TransactionEvent::Terminated`] was returned the transaction does
/// nothing more and can be dropped.
#[derive(Debug)]
pub struct ClientNonInviteTransaction {
    key: TransactionKey,
    /// Dropped at the final response: a finished transaction lingers for
    /// Timer J/K/L/M and should not keep the request (nor its datagram).
    request: Option<Request>,
    config: TimerConfig,
    reliable: bool,
    state: State,
    out: Outputs,
}

impl ClientNonInviteTransaction {
    /// Starts the transaction for `request` (neither INVITE nor ACK, with an
    /// RFC 3261 branch) over a `reliable` (TCP, TLS) or unreliable (UDP)
    /// transport.
    pub fn new(
        request: Request,
        reliable: bool,
        config: TimerConfig,
        now: Instant,
    ) -> Result<Self, TransactionError> {
        match request.method {
            Method::Ack => return Err(TransactionError::AckIsNotATransaction),
            Method::Invite => {
                return Err(TransactionError::WrongMethod {
                    method: Method::Invite,
                })
            }
            _ => {}
        }
        let key = TransactionKey::client(&request)?;
        let mut out = Outputs::default();
        out.transmit(request.clone());
        let state = State::Trying {
            timer_e: (!reliable).then(|| Retransmit::start(now, config.t1)),
            timer_f: now + config.t1x64(),
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

    /// The request this transaction sends; `None` once a final response
    /// arrived or the transaction ended (it no longer needs it).
    pub fn request(&self) -> Option<&Request> {
        self.request.as_ref()
    }

    /// Whether the transport is reliable (no retransmissions, Timer K zero).
    pub fn reliable(&self) -> bool {
        self.reliable
    }

    /// The current state.
    pub fn state(&self) -> ClientNonInviteState {
        match self.state {
            State::Trying { .. } => ClientNonInviteState::Trying,
            State::Proceeding { .. } => ClientNonInviteState::Proceeding,
            State::Completed { .. } => ClientNonInviteState::Completed,
            State::Terminated => ClientNonInviteState::Terminated,
        }
    }

    /// A response matched to this transaction arrived (§17.1.2.2).
    pub fn handle_response(&mut self, response: Response, now: Instant) {
        let (timer_e, timer_f) = match self.state {
            State::Trying { timer_e, timer_f } | State::Proceeding { timer_e, timer_f } => {
                (timer_e, timer_f)
            }
            State::Completed { .. } => {
                if response.status.is_final() {
                    self.out.event(TransactionEvent::RetransmissionAbsorbed);
                }
                return;
            }
            State::Terminated => return,
        };
        self.state = if response.status.is_provisional() {
            State::Proceeding { timer_e, timer_f }
        } else {
            self.request = None;
            State::Completed {
                timer_k: now + self.config.timer_i_k(self.reliable),
            }
        };
        self.out.event(TransactionEvent::Response(response));
    }

    /// The transport failed to send the request (§17.1.4).
    pub fn handle_transport_error(&mut self, _now: Instant) {
        if !matches!(self.state, State::Terminated) {
            self.out.event(TransactionEvent::TransportError);
            self.terminate();
        }
    }

    /// Fires the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let t2 = self.config.t2;
        match &mut self.state {
            State::Trying { timer_f, .. } | State::Proceeding { timer_f, .. }
                if *timer_f <= now =>
            {
                self.out
                    .event(TransactionEvent::Timeout { timer: Timer::F });
                self.terminate();
            }
            State::Trying { timer_e, .. } => {
                if let Some(e) = timer_e.as_mut().filter(|e| e.at <= now) {
                    e.rearm(now, (e.interval * 2).min(t2));
                    if let Some(request) = &self.request {
                        self.out.transmit(request.clone());
                    }
                }
            }
            State::Proceeding { timer_e, .. } => {
                if let Some(e) = timer_e.as_mut().filter(|e| e.at <= now) {
                    e.rearm(now, t2);
                    if let Some(request) = &self.request {
                        self.out.transmit(request.clone());
                    }
                }
            }
            State::Completed { timer_k } => {
                if *timer_k <= now {
                    self.terminate();
                }
            }
            State::Terminated => {}
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Trying { timer_e, timer_f } | State::Proceeding { timer_e, timer_f } => {
                earliest([timer_e.map(|e| e.at), Some(*timer_f)])
            }
            State::Completed { timer_k } => Some(*timer_k),
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

impl ClientNonInviteState {
    /// The RFC name of the state.
    pub fn name(self) -> &'static str {
        match self {
            Self::Trying => "Trying",
            Self::Proceeding => "Proceeding",
            Self::Completed => "Completed",
            Self::Terminated => "Terminated",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::transaction::testing::{events, ms, request, response, secs, sent_at, Machine};

    fn start(reliable: bool, t0: Instant) -> ClientNonInviteTransaction {
        let bye = request("BYE", "z9hG4bKbye1", ";tag=b0b");
        let mut txn =
            ClientNonInviteTransaction::new(bye, reliable, TimerConfig::default(), t0).unwrap();
        assert_eq!(sent_at(&txn.drain(t0, t0)), [Duration::ZERO]);
        txn
    }

    #[test]
    fn timer_e_doubles_up_to_t2_and_timer_f_fires_at_64_t1() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        let out = txn.run_until(t0, t0 + ms(60_000));
        assert_eq!(
            sent_at(&out),
            secs(&[0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
        );
        assert!(matches!(
            events(&out)[..],
            [(at, TransactionEvent::Timeout { timer: Timer::F }), (_, TransactionEvent::Terminated)]
                if at == ms(32_000)
        ));
    }

    #[test]
    fn after_a_provisional_timer_e_continues_at_t2() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        let bye = txn.request().unwrap().clone();
        let early = txn.run_until(t0, t0 + ms(700));
        assert_eq!(sent_at(&early), secs(&[0.5]));
        txn.handle_response(response(&bye, 100, None), t0 + ms(700));
        assert_eq!(txn.state(), ClientNonInviteState::Proceeding);
        assert!(
            matches!(txn.poll_event(), Some(TransactionEvent::Response(r)) if r.status.0 == 100)
        );
        let out = txn.run_until(t0, t0 + ms(60_000));
        // The pending Timer E (1.5 s) still fires, then every T2.
        assert_eq!(
            sent_at(&out),
            secs(&[1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5])
        );
        assert!(matches!(
            events(&out)[..],
            [(at, TransactionEvent::Timeout { timer: Timer::F }), (_, TransactionEvent::Terminated)]
                if at == ms(32_000)
        ));
    }

    #[test]
    fn final_response_completes_and_timer_k_is_t4_over_udp() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        let bye = txn.request().unwrap().clone();
        let ok = response(&bye, 200, None);
        txn.handle_response(ok.clone(), t0 + ms(300));
        assert_eq!(txn.state(), ClientNonInviteState::Completed);
        assert!(
            matches!(txn.poll_event(), Some(TransactionEvent::Response(r)) if r.status.0 == 200)
        );
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(5_300)), "Timer K = T4");
        txn.handle_response(ok, t0 + ms(800));
        assert!(matches!(
            txn.poll_event(),
            Some(TransactionEvent::RetransmissionAbsorbed)
        ));
        assert!(txn.poll_transmit().is_none());
        let out = txn.run_until(t0, t0 + ms(10_000));
        assert!(sent_at(&out).is_empty(), "no retransmission once Completed");
        assert!(
            matches!(events(&out)[..], [(at, TransactionEvent::Terminated)] if at == ms(5_300))
        );
    }

    #[test]
    fn over_tcp_no_retransmission_and_timer_k_is_zero() {
        let t0 = Instant::now();
        let mut txn = start(true, t0);
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(32_000)), "only Timer F");
        let bye = txn.request().unwrap().clone();
        txn.handle_response(response(&bye, 481, None), t0 + ms(50));
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(50)));
        txn.handle_timeout(t0 + ms(50));
        assert_eq!(txn.state(), ClientNonInviteState::Terminated);
    }

    #[test]
    fn refuses_invite_and_ack() {
        let t0 = Instant::now();
        let config = TimerConfig::default();
        let ack = request("ACK", "z9hG4bKa", ";tag=x");
        assert!(matches!(
            ClientNonInviteTransaction::new(ack, false, config, t0),
            Err(TransactionError::AckIsNotATransaction)
        ));
        let invite = request("INVITE", "z9hG4bKa", "");
        assert!(ClientNonInviteTransaction::new(invite, false, config, t0).is_err());
    }
}
