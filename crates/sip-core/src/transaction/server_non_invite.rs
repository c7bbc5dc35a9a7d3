//! The non-INVITE server transaction: RFC 3261 §17.2.2.

use std::time::Instant;

use sip::{Method, Request, Response};

use super::error::TransactionError;
use super::event::{Outputs, TransactionEvent, Transmit};
use super::key::TransactionKey;
use crate::TimerConfig;

/// The states of figure 8 of RFC 3261.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerNonInviteState {
    /// Request received, the TU has not answered.
    Trying,
    /// The TU sent a provisional response.
    Proceeding,
    /// The TU sent a final response; Timer J absorbs request retransmissions.
    Completed,
    /// Over; drop the transaction.
    Terminated,
}

#[derive(Debug)]
enum State {
    Trying,
    Proceeding {
        provisional: Response,
    },
    Completed {
        response: Response,
        timer_j: Instant,
    },
    Terminated,
}

/// A non-INVITE server transaction (sans-IO).
///
/// The TU answers through [`send_response`](Self::send_response). After
/// every `handle_*`/`send_response` call, drain the outputs in this order:
/// 1. [`poll_transmit`](Self::poll_transmit) until `None` (responses and
///    their replays on request retransmissions);
/// 2. [`poll_event`](Self::poll_event) until `None` (absorbed
///    retransmissions, transport error, terminated);
/// 3. [`poll_timeout`](Self::poll_timeout), and call
///    [`handle_timeout`](Self::handle_timeout) when that instant is reached.
///
/// Once [`TransactionEvent::Terminated`] was returned the transaction does
/// nothing more and can be dropped.
#[derive(Debug)]
pub struct ServerNonInviteTransaction {
    key: TransactionKey,
    /// Dropped at the final response: a finished transaction lingers for
    /// Timer J/K/L/M and should not keep the request (nor its datagram).
    request: Option<Request>,
    config: TimerConfig,
    reliable: bool,
    state: State,
    out: Outputs,
}

impl ServerNonInviteTransaction {
    /// Creates the transaction for a received request (neither INVITE nor
    /// ACK), which arrived over a `reliable` (TCP, TLS) or unreliable (UDP)
    /// transport.
    pub fn new(
        request: Request,
        reliable: bool,
        config: TimerConfig,
        _now: Instant,
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
        let key = TransactionKey::server(&request)?;
        Ok(Self {
            key,
            request: Some(request),
            config,
            reliable,
            state: State::Trying,
            out: Outputs::default(),
        })
    }

    /// The key requests are matched against.
    pub fn key(&self) -> &TransactionKey {
        &self.key
    }

    /// The request that created this transaction; `None` once it was
    /// answered with a final response or ended (it no longer needs it).
    pub fn request(&self) -> Option<&Request> {
        self.request.as_ref()
    }

    /// Whether the transport is reliable (Timer J zero).
    pub fn reliable(&self) -> bool {
        self.reliable
    }

    /// The current state.
    pub fn state(&self) -> ServerNonInviteState {
        match self.state {
            State::Trying => ServerNonInviteState::Trying,
            State::Proceeding { .. } => ServerNonInviteState::Proceeding,
            State::Completed { .. } => ServerNonInviteState::Completed,
            State::Terminated => ServerNonInviteState::Terminated,
        }
    }

    /// A retransmission of the request arrived: replay the last response,
    /// if any (§17.2.2).
    pub fn handle_request(&mut self, _request: Request, _now: Instant) {
        match &self.state {
            State::Trying => {}
            State::Proceeding {
                provisional: response,
            }
            | State::Completed { response, .. } => self.out.transmit(response.clone()),
            State::Terminated => return,
        }
        self.out.event(TransactionEvent::RetransmissionAbsorbed);
    }

    /// The TU answers the request (§17.2.2); nothing may follow a final
    /// response.
    pub fn send_response(
        &mut self,
        response: Response,
        now: Instant,
    ) -> Result<(), TransactionError> {
        let status = response.status;
        if !(100..=699).contains(&status.0) {
            return Err(TransactionError::InvalidStatus(status.0));
        }
        if !matches!(self.state, State::Trying | State::Proceeding { .. }) {
            return Err(TransactionError::ResponseNotAllowed {
                status: status.0,
                state: self.state().name(),
            });
        }
        self.out.transmit(response.clone());
        self.state = if status.is_provisional() {
            State::Proceeding {
                provisional: response,
            }
        } else {
            self.request = None;
            State::Completed {
                response,
                timer_j: now + self.config.timer_j(self.reliable),
            }
        };
        Ok(())
    }

    /// The transport failed to send a response (§17.2.4).
    pub fn handle_transport_error(&mut self, _now: Instant) {
        if !matches!(self.state, State::Terminated) {
            self.out.event(TransactionEvent::TransportError);
            self.terminate();
        }
    }

    /// Fires the timers due at `now` (only Timer J).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::Completed { timer_j, .. } = self.state {
            if timer_j <= now {
                self.terminate();
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Completed { timer_j, .. } => Some(timer_j),
            _ => None,
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

impl ServerNonInviteState {
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

    use sip::Message;

    use super::*;
    use crate::transaction::testing::{events, ms, request, response, sent_at, Machine, Output};

    fn start(reliable: bool, t0: Instant) -> ServerNonInviteTransaction {
        let options = request("OPTIONS", "z9hG4bKopt", "");
        ServerNonInviteTransaction::new(options, reliable, TimerConfig::default(), t0).unwrap()
    }

    #[test]
    fn replays_the_last_response_on_retransmission_until_timer_j() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        let options = txn.request().unwrap().clone();
        // Trying: nothing to replay yet.
        txn.handle_request(options.clone(), t0 + ms(500));
        let out = txn.drain(t0, t0 + ms(500));
        assert!(matches!(
            out[..],
            [(_, Output::Event(TransactionEvent::RetransmissionAbsorbed))]
        ));
        txn.send_response(response(&options, 180, None), t0 + ms(600))
            .unwrap();
        assert_eq!(txn.state(), ServerNonInviteState::Proceeding);
        txn.drain(t0, t0 + ms(600));
        txn.handle_request(options.clone(), t0 + ms(1_500));
        let out = txn.drain(t0, t0 + ms(1_500));
        assert!(matches!(&out[0].1, Output::Sent(Message::Response(r)) if r.status.0 == 180));
        txn.send_response(response(&options, 200, Some("x")), t0 + ms(2_000))
            .unwrap();
        assert_eq!(txn.state(), ServerNonInviteState::Completed);
        assert!(txn.request().is_none(), "answered: the request is let go");
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(34_000)), "Timer J = 64*T1");
        txn.drain(t0, t0 + ms(2_000));
        txn.handle_request(options.clone(), t0 + ms(3_500));
        let out = txn.drain(t0, t0 + ms(3_500));
        assert!(matches!(&out[0].1, Output::Sent(Message::Response(r)) if r.status.0 == 200));
        assert!(matches!(
            txn.send_response(response(&options, 500, None), t0 + ms(3_600)),
            Err(TransactionError::ResponseNotAllowed {
                status: 500,
                state: "Completed"
            })
        ));
        let out = txn.run_until(t0, t0 + ms(60_000));
        assert!(sent_at(&out).is_empty());
        assert!(
            matches!(events(&out)[..], [(at, TransactionEvent::Terminated)] if at == ms(34_000))
        );
    }

    #[test]
    fn timer_j_is_zero_over_tcp() {
        let t0 = Instant::now();
        let mut txn = start(true, t0);
        txn.send_response(response(txn.request().unwrap(), 200, Some("x")), t0 + ms(5))
            .unwrap();
        assert_eq!(sent_at(&txn.drain(t0, t0 + ms(5))), [ms(5)]);
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(5)));
        let out = txn.run_until(t0, t0 + ms(5));
        assert_eq!(sent_at(&out), Vec::<Duration>::new());
        assert_eq!(txn.state(), ServerNonInviteState::Terminated);
    }

    #[test]
    fn transport_error_terminates() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        txn.handle_transport_error(t0);
        assert!(matches!(
            txn.poll_event(),
            Some(TransactionEvent::TransportError)
        ));
        assert!(matches!(
            txn.poll_event(),
            Some(TransactionEvent::Terminated)
        ));
    }
}
