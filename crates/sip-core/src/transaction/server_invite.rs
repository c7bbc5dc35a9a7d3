//! The INVITE server transaction: RFC 3261 §17.2.1 with the Accepted state
//! of RFC 6026 §7.1 and §8.5-§8.7.

use std::time::{Duration, Instant};

use sip::{Method, Request, Response, StatusCode};

use super::error::TransactionError;
use super::event::{Outputs, TransactionEvent, Transmit};
use super::key::TransactionKey;
use super::timers::{earliest, Retransmit, Timer};
use crate::TimerConfig;

/// How long the TU may stay silent before the transaction answers
/// 100 (Trying) itself (§17.2.1).
pub const TRYING_DELAY: Duration = Duration::from_millis(200);

/// The states of figure 7 of RFC 3261 as amended by RFC 6026 figure 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerInviteState {
    /// INVITE received; no final response yet.
    Proceeding,
    /// A 300-699 was sent; Timer G retransmits it (UDP) until the ACK,
    /// Timer H gives up.
    Completed,
    /// The ACK of the 300-699 arrived; Timer I absorbs ACK retransmissions.
    Confirmed,
    /// A 2xx was sent; Timer L absorbs INVITE retransmissions while the TU
    /// retransmits the 2xx.
    Accepted,
    /// Over; drop the transaction.
    Terminated,
}

#[derive(Debug)]
enum State {
    Proceeding {
        /// When to send 100 (Trying) if the TU has not answered.
        trying_at: Option<Instant>,
    },
    Completed {
        timer_g: Option<Retransmit>,
        timer_h: Instant,
        response: Response,
    },
    Confirmed {
        timer_i: Instant,
    },
    Accepted {
        timer_l: Instant,
    },
    Terminated,
}

/// An INVITE server transaction (sans-IO).
///
/// The TU answers through [`send_response`](Self::send_response). After
/// creation and after every `handle_*`/`send_response` call, drain the
/// outputs in this order:
/// 1. [`poll_transmit`](Self::poll_transmit) until `None` (responses and
///    their retransmissions, the automatic 100 Trying);
/// 2. [`poll_event`](Self::poll_event) until `None` (absorbed
///    retransmissions, ACKs of a 2xx for the TU, timeout, transport error,
///    terminated);
/// 3. [`poll_timeout`](Self::poll_timeout), and call
///    [`handle_timeout`](Self::handle_timeout) when that instant is reached.
///
/// Once [`TransactionEvent::Terminated`] was returned the transaction does
/// nothing more and can be dropped.
#[derive(Debug)]
pub struct ServerInviteTransaction {
    key: TransactionKey,
    /// Dropped at the final response: a finished transaction lingers for
    /// Timer J/K/L/M and should not keep the request (nor its datagram).
    request: Option<Request>,
    config: TimerConfig,
    reliable: bool,
    state: State,
    last_provisional: Option<Response>,
    /// The To tag of the responses sent, to match an RFC 2543 ACK.
    to_tag: Option<Box<str>>,
    out: Outputs,
}

impl ServerInviteTransaction {
    /// Creates the transaction for a received INVITE, which arrived over a
    /// `reliable` (TCP, TLS) or unreliable (UDP) transport.
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
        let key = TransactionKey::server(&request)?;
        Ok(Self {
            key,
            request: Some(request),
            config,
            reliable,
            state: State::Proceeding {
                trying_at: Some(now + TRYING_DELAY),
            },
            last_provisional: None,
            to_tag: None,
            out: Outputs::default(),
        })
    }

    /// The key requests are matched against.
    pub fn key(&self) -> &TransactionKey {
        &self.key
    }

    /// The INVITE that created this transaction; `None` once it was
    /// answered with a final response or ended (it no longer needs it).
    pub fn request(&self) -> Option<&Request> {
        self.request.as_ref()
    }

    /// Whether the transport is reliable (no retransmissions, Timer I zero).
    pub fn reliable(&self) -> bool {
        self.reliable
    }

    /// The current state.
    pub fn state(&self) -> ServerInviteState {
        match self.state {
            State::Proceeding { .. } => ServerInviteState::Proceeding,
            State::Completed { .. } => ServerInviteState::Completed,
            State::Confirmed { .. } => ServerInviteState::Confirmed,
            State::Accepted { .. } => ServerInviteState::Accepted,
            State::Terminated => ServerInviteState::Terminated,
        }
    }

    /// The To tag of the responses sent so far, if they had one.
    pub fn response_to_tag(&self) -> Option<&str> {
        self.to_tag.as_deref()
    }

    /// A request matched to this transaction arrived: a retransmission of
    /// the INVITE or an ACK (§17.2.1, RFC 6026 §8.7).
    pub fn handle_request(&mut self, request: Request, now: Instant) {
        if request.method == Method::Ack {
            match &self.state {
                State::Completed { .. } => {
                    self.state = State::Confirmed {
                        timer_i: now + self.config.timer_i_k(self.reliable),
                    };
                }
                State::Confirmed { .. } => self.out.event(TransactionEvent::RetransmissionAbsorbed),
                State::Accepted { .. } => self.out.event(TransactionEvent::Ack(request)),
                // An ACK before any final response acknowledges nothing.
                State::Proceeding { .. } | State::Terminated => {}
            }
            return;
        }
        match &self.state {
            State::Proceeding { .. } => {
                if let Some(provisional) = &self.last_provisional {
                    self.out.transmit(provisional.clone());
                }
            }
            State::Completed { response, .. } => self.out.transmit(response.clone()),
            State::Confirmed { .. } | State::Accepted { .. } => {}
            State::Terminated => return,
        }
        self.out.event(TransactionEvent::RetransmissionAbsorbed);
    }

    /// The TU answers the INVITE (§17.2.1). A 2xx may be sent again while
    /// Accepted (the TU retransmits it, RFC 6026 §8.5); anything else after
    /// a final response is refused.
    pub fn send_response(
        &mut self,
        response: Response,
        now: Instant,
    ) -> Result<(), TransactionError> {
        let status = response.status;
        if !(100..=699).contains(&status.0) {
            return Err(TransactionError::InvalidStatus(status.0));
        }
        match &self.state {
            State::Proceeding { .. } => {}
            State::Accepted { .. } if status.is_success() => {
                self.out.transmit(response);
                return Ok(());
            }
            _ => {
                return Err(TransactionError::ResponseNotAllowed {
                    status: status.0,
                    state: self.state().name(),
                })
            }
        }
        if let Ok(to) = response.headers.to() {
            self.to_tag = to.tag().map(Box::from);
        }
        self.out.transmit(response.clone());
        self.state = if status.is_provisional() {
            self.last_provisional = Some(response);
            State::Proceeding { trying_at: None }
        } else if status.is_success() {
            self.request = None;
            self.last_provisional = None;
            State::Accepted {
                timer_l: now + self.config.t1x64(),
            }
        } else {
            self.request = None;
            self.last_provisional = None;
            State::Completed {
                timer_g: (!self.reliable).then(|| Retransmit::start(now, self.config.t1)),
                timer_h: now + self.config.t1x64(),
                response,
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

    /// Fires the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let t2 = self.config.t2;
        match &mut self.state {
            State::Proceeding { trying_at } => {
                if trying_at.is_some_and(|at| at <= now) {
                    *trying_at = None;
                    if let Some(request) = &self.request {
                        let trying = trying_response(request);
                        self.out.transmit(trying.clone());
                        self.last_provisional = Some(trying);
                    }
                }
            }
            State::Completed { timer_h, .. } if *timer_h <= now => {
                self.out
                    .event(TransactionEvent::Timeout { timer: Timer::H });
                self.terminate();
            }
            State::Completed {
                timer_g, response, ..
            } => {
                if let Some(g) = timer_g.as_mut().filter(|g| g.at <= now) {
                    g.rearm(now, (g.interval * 2).min(t2));
                    self.out.transmit(response.clone());
                }
            }
            State::Confirmed { timer_i: at } | State::Accepted { timer_l: at } => {
                if *at <= now {
                    self.terminate();
                }
            }
            State::Terminated => {}
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Proceeding { trying_at } => *trying_at,
            State::Completed {
                timer_g, timer_h, ..
            } => earliest([timer_g.map(|g| g.at), Some(*timer_h)]),
            State::Confirmed { timer_i: at } | State::Accepted { timer_l: at } => Some(*at),
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
        self.last_provisional = None;
        self.out.event(TransactionEvent::Terminated);
    }
}

/// The 100 (Trying) of §8.2.6.1: the request's Via, From, To (no tag),
/// Call-ID, CSeq and Timestamp.
fn trying_response(request: &Request) -> Response {
    Response::for_request(request, StatusCode::TRYING)
}

impl ServerInviteState {
    /// The RFC name of the state.
    pub fn name(self) -> &'static str {
        match self {
            Self::Proceeding => "Proceeding",
            Self::Completed => "Completed",
            Self::Confirmed => "Confirmed",
            Self::Accepted => "Accepted",
            Self::Terminated => "Terminated",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sip::{HeaderName, Message};

    use super::*;
    use crate::transaction::testing::{
        events, invite, ms, request, response, secs, sent_at, values, Machine, Output,
    };

    const BRANCH: &str = "z9hG4bKsrv1";

    fn start(reliable: bool, t0: Instant) -> ServerInviteTransaction {
        ServerInviteTransaction::new(invite(BRANCH), reliable, TimerConfig::default(), t0).unwrap()
    }

    fn status_of(output: &Output) -> u16 {
        match output {
            Output::Sent(Message::Response(r)) => r.status.0,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    #[test]
    fn sends_100_trying_after_200_ms_of_tu_silence() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        assert!(
            txn.drain(t0, t0).is_empty(),
            "nothing before the TU had its chance"
        );
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(200)));
        let out = txn.run_until(t0, t0 + ms(1_000));
        assert_eq!(sent_at(&out), [ms(200)]);
        let Output::Sent(trying) = &out[0].1 else {
            panic!("expected the 100")
        };
        assert_eq!(status_of(&out[0].1), 100);
        assert_eq!(values(trying, HeaderName::Via).len(), 2, "all Vias copied");
        assert_eq!(
            values(trying, HeaderName::To),
            ["Bob <sip:bob@biloxi.example.com>"]
        );
        assert_eq!(values(trying, HeaderName::CSeq), ["314159 INVITE"]);
        // A retransmitted INVITE replays the 100.
        txn.handle_request(invite(BRANCH), t0 + ms(500));
        let out = txn.drain(t0, t0 + ms(500));
        assert_eq!(status_of(&out[0].1), 100);
        assert!(matches!(
            out[1].1,
            Output::Event(TransactionEvent::RetransmissionAbsorbed)
        ));
    }

    #[test]
    fn automatic_100_echoes_the_timestamp() {
        let t0 = Instant::now();
        let mut request = invite(BRANCH);
        request.headers.push(HeaderName::Timestamp, "54.8");
        let mut txn =
            ServerInviteTransaction::new(request, false, TimerConfig::default(), t0).unwrap();
        let out = txn.run_until(t0, t0 + ms(200));
        let Output::Sent(trying) = &out[0].1 else {
            panic!("expected the 100")
        };
        assert_eq!(values(trying, HeaderName::Timestamp), ["54.8"]);
    }

    #[test]
    fn no_automatic_100_when_the_tu_answers_in_time() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        txn.send_response(response(&invite(BRANCH), 180, Some("t")), t0 + ms(150))
            .unwrap();
        assert_eq!(sent_at(&txn.drain(t0, t0 + ms(150))), [ms(150)]);
        assert_eq!(txn.poll_timeout(), None);
        txn.handle_request(invite(BRANCH), t0 + ms(500));
        let out = txn.drain(t0, t0 + ms(500));
        assert_eq!(status_of(&out[0].1), 180, "last provisional replayed");
        assert_eq!(txn.response_to_tag(), Some("t"));
    }

    #[test]
    fn non_2xx_is_retransmitted_by_timer_g_until_timer_h() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        txn.send_response(response(&invite(BRANCH), 486, Some("t")), t0)
            .unwrap();
        assert_eq!(txn.state(), ServerInviteState::Completed);
        assert_eq!(sent_at(&txn.drain(t0, t0)), [Duration::ZERO]);
        let out = txn.run_until(t0, t0 + ms(60_000));
        assert_eq!(
            sent_at(&out),
            secs(&[0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
        );
        assert!(matches!(
            events(&out)[..],
            [(at, TransactionEvent::Timeout { timer: Timer::H }), (_, TransactionEvent::Terminated)]
                if at == ms(32_000)
        ));
    }

    #[test]
    fn ack_confirms_and_timer_i_absorbs_ack_retransmissions() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        txn.send_response(response(&invite(BRANCH), 486, Some("t")), t0)
            .unwrap();
        txn.drain(t0, t0);
        // An INVITE retransmission replays the final response.
        txn.handle_request(invite(BRANCH), t0 + ms(100));
        let out = txn.drain(t0, t0 + ms(100));
        assert_eq!(status_of(&out[0].1), 486);
        let ack = request("ACK", BRANCH, ";tag=t");
        txn.handle_request(ack.clone(), t0 + ms(700));
        assert_eq!(txn.state(), ServerInviteState::Confirmed);
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(5_700)), "Timer I = T4");
        txn.handle_request(ack, t0 + ms(900));
        assert!(matches!(
            txn.poll_event(),
            Some(TransactionEvent::RetransmissionAbsorbed)
        ));
        let out = txn.run_until(t0, t0 + ms(60_000));
        assert!(sent_at(&out).is_empty(), "Timer G stopped by the ACK");
        assert!(
            matches!(events(&out)[..], [(at, TransactionEvent::Terminated)] if at == ms(5_700))
        );
    }

    #[test]
    fn over_tcp_no_timer_g_and_timer_i_is_zero() {
        let t0 = Instant::now();
        let mut txn = start(true, t0);
        txn.send_response(response(&invite(BRANCH), 404, Some("t")), t0)
            .unwrap();
        txn.drain(t0, t0);
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(32_000)), "only Timer H");
        txn.handle_request(request("ACK", BRANCH, ";tag=t"), t0 + ms(40));
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(40)));
        txn.handle_timeout(t0 + ms(40));
        assert_eq!(txn.state(), ServerInviteState::Terminated);
    }

    #[test]
    fn accepted_absorbs_invites_sends_tu_2xx_and_passes_acks_up() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        let ok = response(&invite(BRANCH), 200, Some("t"));
        txn.send_response(ok.clone(), t0 + ms(100)).unwrap();
        assert_eq!(txn.state(), ServerInviteState::Accepted);
        assert_eq!(txn.poll_timeout(), Some(t0 + ms(32_100)), "Timer L = 64*T1");
        txn.drain(t0, t0 + ms(100));
        txn.handle_request(invite(BRANCH), t0 + ms(500));
        let out = txn.drain(t0, t0 + ms(500));
        assert!(
            sent_at(&out).is_empty(),
            "the TU retransmits the 2xx, not us"
        );
        assert!(matches!(
            out[..],
            [(_, Output::Event(TransactionEvent::RetransmissionAbsorbed))]
        ));
        // The TU's retransmission goes out.
        txn.send_response(ok, t0 + ms(600)).unwrap();
        assert_eq!(sent_at(&txn.drain(t0, t0 + ms(600))), [ms(600)]);
        // Anything but a 2xx is refused.
        let err = txn.send_response(response(&invite(BRANCH), 500, Some("t")), t0 + ms(700));
        assert!(matches!(
            err,
            Err(TransactionError::ResponseNotAllowed {
                status: 500,
                state: "Accepted"
            })
        ));
        // An ACK reaching the transaction belongs to the TU.
        txn.handle_request(request("ACK", BRANCH, ";tag=t"), t0 + ms(800));
        assert!(
            matches!(txn.poll_event(), Some(TransactionEvent::Ack(ack)) if ack.method == Method::Ack)
        );
        let out = txn.run_until(t0, t0 + ms(60_000));
        assert!(
            matches!(events(&out)[..], [(at, TransactionEvent::Terminated)] if at == ms(32_100))
        );
    }

    #[test]
    fn refuses_a_second_final_and_bad_status() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        assert!(matches!(
            txn.send_response(response(&invite(BRANCH), 99, None), t0),
            Err(TransactionError::InvalidStatus(99))
        ));
        txn.send_response(response(&invite(BRANCH), 486, Some("t")), t0)
            .unwrap();
        assert!(matches!(
            txn.send_response(response(&invite(BRANCH), 200, Some("t")), t0),
            Err(TransactionError::ResponseNotAllowed {
                status: 200,
                state: "Completed"
            })
        ));
    }

    #[test]
    fn transport_error_terminates() {
        let t0 = Instant::now();
        let mut txn = start(false, t0);
        txn.send_response(response(&invite(BRANCH), 486, Some("t")), t0)
            .unwrap();
        txn.handle_transport_error(t0 + ms(1));
        let out = txn.drain(t0, t0 + ms(1));
        assert!(matches!(
            events(&out)[..],
            [
                (_, TransactionEvent::TransportError),
                (_, TransactionEvent::Terminated)
            ]
        ));
        assert_eq!(txn.state(), ServerInviteState::Terminated);
        assert_eq!(txn.poll_timeout(), None);
    }
}
