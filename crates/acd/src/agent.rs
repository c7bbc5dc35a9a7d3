//! The agent state machine: offline, available, reserved (ringing), on
//! call, wrap-up, not ready (with a reason).
//!
//! [`AgentMachine::step`] is total: every (state, input) pair has an
//! outcome, written out without a wildcard arm so the compiler checks it.
//! An input that does not apply leaves the state unchanged and reports
//! [`Outcome::Ignored`]; the engine counts and logs it. Requests made
//! while on a call (not ready, log out) are remembered and applied when
//! the call and its wrap-up end.

use std::time::{Duration, Instant};

use crate::config::AgentConfig;
use crate::ids::{InteractionId, QueueId, ReasonCode};
use crate::presence::Presence;
use crate::queue::IdleKey;
use crate::timer::TimerKey;

/// An agent's routing state, without its data (for events and queries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AgentStatus {
    /// Logged out.
    Offline,
    /// Idle, waiting for a call.
    Available,
    /// Being rung for one interaction.
    Reserved,
    /// On one interaction.
    OnCall,
    /// After-call work.
    WrapUp,
    /// Logged in but taking no calls.
    NotReady,
}

/// Why an agent is not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotReadyReason {
    /// The agent (or a supervisor) chose it, with a tenant-defined code.
    Requested(ReasonCode),
    /// The agent let `max_no_answer` consecutive alerts go unanswered.
    MissedAlerts,
}

/// A change an agent (or a supervisor for them) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AgentStateRequest {
    /// Log in; the agent becomes available.
    LogIn,
    /// Log out (after the current call and wrap-up, if on one).
    LogOut,
    /// Become available (logs in if needed; ends wrap-up early).
    Available,
    /// Take no calls, for a reason (after the current call, if on one).
    NotReady(ReasonCode),
}

/// How a ring ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RingOutcome {
    /// The agent declined.
    Rejected,
    /// The call layer gave up (no answer, unreachable, busy).
    NoAnswer,
    /// The engine's alert time passed.
    AlertTimeout,
}

/// What to become when a call (and its wrap-up) ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterCall {
    Available,
    NotReady(NotReadyReason),
    Offline,
}

/// The state with its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentState {
    Offline,
    Available {
        /// Idle since (longest-idle ranks by it).
        since: Instant,
    },
    Reserved {
        interaction: InteractionId,
        alert_until: Instant,
        /// Restored if the ring is cancelled through no fault of the agent.
        idle_since: Instant,
    },
    OnCall {
        interaction: InteractionId,
        since: Instant,
        then: AfterCall,
    },
    WrapUp {
        until: Instant,
        since: Instant,
        then: AfterCall,
    },
    NotReady {
        reason: NotReadyReason,
        since: Instant,
    },
}

impl AgentState {
    pub(crate) fn status(&self) -> AgentStatus {
        match self {
            AgentState::Offline => AgentStatus::Offline,
            AgentState::Available { .. } => AgentStatus::Available,
            AgentState::Reserved { .. } => AgentStatus::Reserved,
            AgentState::OnCall { .. } => AgentStatus::OnCall,
            AgentState::WrapUp { .. } => AgentStatus::WrapUp,
            AgentState::NotReady { .. } => AgentStatus::NotReady,
        }
    }

    pub(crate) fn not_ready_reason(&self) -> Option<NotReadyReason> {
        match self {
            AgentState::NotReady { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// The deadline the engine must wake up for, if any.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            AgentState::Reserved { alert_until, .. } => Some(*alert_until),
            AgentState::WrapUp { until, .. } => Some(*until),
            AgentState::Offline
            | AgentState::Available { .. }
            | AgentState::OnCall { .. }
            | AgentState::NotReady { .. } => None,
        }
    }
}

/// An input to the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentInput {
    Request(AgentStateRequest),
    /// The engine reserves the agent for an interaction (rings them).
    Offer {
        interaction: InteractionId,
        alert_until: Instant,
    },
    Answered {
        interaction: InteractionId,
    },
    /// Rejected, not answered, or the alert time passed.
    RingFailed {
        interaction: InteractionId,
    },
    /// The ring stopped through no fault of the agent (caller hung up,
    /// another agent answered).
    RingCancelled {
        interaction: InteractionId,
    },
    CallEnded {
        interaction: InteractionId,
        wrap_up: Duration,
    },
    WrapUpExpired,
}

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Applied,
    /// The input does not apply in this state; nothing changed.
    Ignored,
    /// The agent left a ring by request (not ready, log out): the engine
    /// cancels the ring and returns the interaction to its queue.
    OfferWithdrawn(InteractionId),
}

/// The state plus the count of consecutive unanswered alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AgentMachine {
    pub(crate) state: AgentState,
    pub(crate) missed: u32,
}

/// `now + duration`, or `now` in the (unreachable with validated
/// settings) case the sum does not fit.
pub(crate) fn deadline(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration).unwrap_or(now)
}

impl AgentMachine {
    pub(crate) fn offline() -> Self {
        Self {
            state: AgentState::Offline,
            missed: 0,
        }
    }

    /// One transition. `max_no_answer` 0 never parks the agent.
    pub(crate) fn step(
        self,
        now: Instant,
        input: AgentInput,
        max_no_answer: u32,
    ) -> (Self, Outcome) {
        use AgentInput as I;
        use AgentState as S;
        use AgentStateRequest as R;

        let ignored = (self, Outcome::Ignored);
        let to = |state: AgentState| {
            (
                Self {
                    state,
                    missed: self.missed,
                },
                Outcome::Applied,
            )
        };
        let fresh = |state: AgentState| (Self { state, missed: 0 }, Outcome::Applied);
        let after_call = |then: AfterCall| match then {
            AfterCall::Available => S::Available { since: now },
            AfterCall::NotReady(reason) => S::NotReady { reason, since: now },
            AfterCall::Offline => S::Offline,
        };
        let requested = |code| NotReadyReason::Requested(code);

        match self.state {
            S::Offline => match input {
                I::Request(R::LogIn | R::Available) => fresh(S::Available { since: now }),
                I::Request(R::NotReady(code)) => fresh(S::NotReady {
                    reason: requested(code),
                    since: now,
                }),
                I::Request(R::LogOut)
                | I::Offer { .. }
                | I::Answered { .. }
                | I::RingFailed { .. }
                | I::RingCancelled { .. }
                | I::CallEnded { .. }
                | I::WrapUpExpired => ignored,
            },
            S::Available { since } => match input {
                I::Request(R::LogOut) => to(S::Offline),
                I::Request(R::NotReady(code)) => to(S::NotReady {
                    reason: requested(code),
                    since: now,
                }),
                I::Offer {
                    interaction,
                    alert_until,
                } => to(S::Reserved {
                    interaction,
                    alert_until,
                    idle_since: since,
                }),
                I::Request(R::LogIn | R::Available)
                | I::Answered { .. }
                | I::RingFailed { .. }
                | I::RingCancelled { .. }
                | I::CallEnded { .. }
                | I::WrapUpExpired => ignored,
            },
            S::Reserved {
                interaction: ringing,
                idle_since,
                ..
            } => match input {
                I::Request(R::LogOut) => (
                    Self {
                        state: S::Offline,
                        missed: self.missed,
                    },
                    Outcome::OfferWithdrawn(ringing),
                ),
                I::Request(R::NotReady(code)) => (
                    Self {
                        state: S::NotReady {
                            reason: requested(code),
                            since: now,
                        },
                        missed: self.missed,
                    },
                    Outcome::OfferWithdrawn(ringing),
                ),
                I::Answered { interaction } if interaction == ringing => fresh(S::OnCall {
                    interaction,
                    since: now,
                    then: AfterCall::Available,
                }),
                I::RingFailed { interaction } if interaction == ringing => {
                    let missed = self.missed.saturating_add(1);
                    if max_no_answer > 0 && missed >= max_no_answer {
                        fresh(S::NotReady {
                            reason: NotReadyReason::MissedAlerts,
                            since: now,
                        })
                    } else {
                        (
                            Self {
                                state: S::Available { since: now },
                                missed,
                            },
                            Outcome::Applied,
                        )
                    }
                }
                I::RingCancelled { interaction } if interaction == ringing => {
                    to(S::Available { since: idle_since })
                }
                I::Request(R::LogIn | R::Available)
                | I::Offer { .. }
                | I::Answered { .. }
                | I::RingFailed { .. }
                | I::RingCancelled { .. }
                | I::CallEnded { .. }
                | I::WrapUpExpired => ignored,
            },
            S::OnCall {
                interaction: current,
                since,
                then,
            } => {
                let pending = |then_next: AfterCall| {
                    if then_next == then {
                        ignored
                    } else {
                        to(S::OnCall {
                            interaction: current,
                            since,
                            then: then_next,
                        })
                    }
                };
                match input {
                    I::Request(R::LogOut) => pending(AfterCall::Offline),
                    I::Request(R::Available) => pending(AfterCall::Available),
                    I::Request(R::NotReady(code)) => pending(AfterCall::NotReady(requested(code))),
                    I::CallEnded {
                        interaction,
                        wrap_up,
                    } if interaction == current => {
                        if wrap_up.is_zero() {
                            to(after_call(then))
                        } else {
                            to(S::WrapUp {
                                until: deadline(now, wrap_up),
                                since: now,
                                then,
                            })
                        }
                    }
                    I::Request(R::LogIn)
                    | I::Offer { .. }
                    | I::Answered { .. }
                    | I::RingFailed { .. }
                    | I::RingCancelled { .. }
                    | I::CallEnded { .. }
                    | I::WrapUpExpired => ignored,
                }
            }
            S::WrapUp { until, then, .. } => match input {
                I::Request(R::LogOut) => to(S::Offline),
                I::Request(R::Available) => to(S::Available { since: now }),
                I::Request(R::NotReady(code)) => to(S::NotReady {
                    reason: requested(code),
                    since: now,
                }),
                I::WrapUpExpired if now >= until => to(after_call(then)),
                I::Request(R::LogIn)
                | I::Offer { .. }
                | I::Answered { .. }
                | I::RingFailed { .. }
                | I::RingCancelled { .. }
                | I::CallEnded { .. }
                | I::WrapUpExpired => ignored,
            },
            S::NotReady { reason, .. } => match input {
                I::Request(R::LogOut) => to(S::Offline),
                I::Request(R::Available) => fresh(S::Available { since: now }),
                I::Request(R::NotReady(code)) if requested(code) != reason => to(S::NotReady {
                    reason: requested(code),
                    since: now,
                }),
                I::Request(R::LogIn | R::NotReady(_))
                | I::Offer { .. }
                | I::Answered { .. }
                | I::RingFailed { .. }
                | I::RingCancelled { .. }
                | I::CallEnded { .. }
                | I::WrapUpExpired => ignored,
            },
        }
    }
}

/// An agent at run time.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    /// Skills sorted by id.
    pub(crate) config: AgentConfig,
    pub(crate) machine: AgentMachine,
    pub(crate) presence: Presence,
    /// Entries of the agent in the queues' free-agent indexes.
    pub(crate) idle_in: Vec<(QueueId, IdleKey)>,
    /// Queues that count the agent as staffing them.
    pub(crate) staffed_in: Vec<QueueId>,
    /// The alert or wrap-up deadline armed for the agent.
    pub(crate) timer: Option<TimerKey>,
    /// Calls answered since logging in (fewest-calls).
    pub(crate) calls: u64,
    /// Talk time since logging in (least-talk-time).
    pub(crate) talk: Duration,
    /// The call being wrapped up: interaction, queue, talk time.
    pub(crate) wrapping: Option<(InteractionId, QueueId, Duration)>,
}

impl Agent {
    pub(crate) fn new(mut config: AgentConfig) -> Self {
        config.skills.sort_by_key(|(skill, _)| *skill);
        config.skills.dedup_by_key(|(skill, _)| *skill);
        Self {
            config,
            machine: AgentMachine::offline(),
            presence: Presence::Unknown,
            idle_in: Vec::new(),
            staffed_in: Vec::new(),
            timer: None,
            calls: 0,
            talk: Duration::ZERO,
            wrapping: None,
        }
    }

    /// Whether the agent may be offered a call now (any queue).
    pub(crate) fn is_routable(&self, presence_routing: bool) -> bool {
        matches!(self.machine.state, AgentState::Available { .. })
            && (!presence_routing || self.presence.is_routable())
    }

    /// Whether the agent counts as staffing its (opted-in) queues.
    pub(crate) fn is_staffing(&self, presence_routing: bool) -> bool {
        self.machine.state != AgentState::Offline
            && !(presence_routing && self.presence.is_offline())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> InteractionId {
        InteractionId::new(crate::TenantId::new(1), n)
    }

    fn states(now: Instant) -> Vec<AgentState> {
        let later = now + Duration::from_secs(30);
        let mut states = vec![
            AgentState::Offline,
            AgentState::Available { since: now },
            AgentState::Reserved {
                interaction: id(1),
                alert_until: later,
                idle_since: now,
            },
            AgentState::NotReady {
                reason: NotReadyReason::MissedAlerts,
                since: now,
            },
            AgentState::NotReady {
                reason: NotReadyReason::Requested(ReasonCode(4)),
                since: now,
            },
        ];
        for then in [
            AfterCall::Available,
            AfterCall::Offline,
            AfterCall::NotReady(NotReadyReason::Requested(ReasonCode(2))),
        ] {
            states.push(AgentState::OnCall {
                interaction: id(1),
                since: now,
                then,
            });
            states.push(AgentState::WrapUp {
                until: later,
                since: now,
                then,
            });
            states.push(AgentState::WrapUp {
                until: now,
                since: now,
                then,
            });
        }
        states
    }

    fn inputs(now: Instant) -> Vec<AgentInput> {
        let mut inputs = vec![AgentInput::WrapUpExpired];
        for request in [
            AgentStateRequest::LogIn,
            AgentStateRequest::LogOut,
            AgentStateRequest::Available,
            AgentStateRequest::NotReady(ReasonCode(4)),
            AgentStateRequest::NotReady(ReasonCode(5)),
        ] {
            inputs.push(AgentInput::Request(request));
        }
        for interaction in [id(1), id(2)] {
            inputs.extend([
                AgentInput::Offer {
                    interaction,
                    alert_until: now + Duration::from_secs(30),
                },
                AgentInput::Answered { interaction },
                AgentInput::RingFailed { interaction },
                AgentInput::RingCancelled { interaction },
                AgentInput::CallEnded {
                    interaction,
                    wrap_up: Duration::ZERO,
                },
                AgentInput::CallEnded {
                    interaction,
                    wrap_up: Duration::from_secs(10),
                },
            ]);
        }
        inputs
    }

    /// Every (state, input) pair: an ignored input changes nothing, an
    /// applied one leads to a state with the same invariants (a ring or
    /// call always names its interaction, deadlines are in the future
    /// or now).
    #[test]
    fn every_state_input_pair_has_an_outcome() {
        let now = Instant::now();
        for state in states(now) {
            for input in inputs(now) {
                for missed in [0, 1, 2] {
                    let machine = AgentMachine { state, missed };
                    let (next, outcome) = machine.step(now, input, 3);
                    match outcome {
                        Outcome::Ignored => assert_eq!(next, machine, "{state:?} {input:?}"),
                        Outcome::Applied => {}
                        Outcome::OfferWithdrawn(interaction) => {
                            assert!(
                                matches!(state, AgentState::Reserved { interaction: i, .. } if i == interaction)
                            );
                            assert!(matches!(
                                next.state,
                                AgentState::Offline | AgentState::NotReady { .. }
                            ));
                        }
                    }
                    if let Some(at) = next.state.deadline() {
                        assert!(at >= now);
                    }
                    assert!(next.missed <= 3);
                }
            }
        }
    }

    #[test]
    fn missed_alerts_park_the_agent_after_the_limit() {
        let now = Instant::now();
        let mut machine = AgentMachine::offline();
        machine = machine
            .step(now, AgentInput::Request(AgentStateRequest::LogIn), 2)
            .0;
        for round in 0..2 {
            let offer = AgentInput::Offer {
                interaction: id(round),
                alert_until: now,
            };
            machine = machine.step(now, offer, 2).0;
            assert_eq!(machine.state.status(), AgentStatus::Reserved);
            machine = machine
                .step(
                    now,
                    AgentInput::RingFailed {
                        interaction: id(round),
                    },
                    2,
                )
                .0;
        }
        assert_eq!(
            machine.state.not_ready_reason(),
            Some(NotReadyReason::MissedAlerts)
        );
        assert_eq!(machine.missed, 0);
    }

    #[test]
    fn an_answer_resets_the_missed_count() {
        let now = Instant::now();
        let machine = AgentMachine {
            state: AgentState::Reserved {
                interaction: id(1),
                alert_until: now,
                idle_since: now,
            },
            missed: 2,
        };
        let (next, _) = machine.step(now, AgentInput::Answered { interaction: id(1) }, 3);
        assert_eq!(next.missed, 0);
        assert_eq!(next.state.status(), AgentStatus::OnCall);
    }

    #[test]
    fn not_ready_on_a_call_applies_after_wrap_up() {
        let now = Instant::now();
        let machine = AgentMachine {
            state: AgentState::OnCall {
                interaction: id(1),
                since: now,
                then: AfterCall::Available,
            },
            missed: 0,
        };
        let request = AgentInput::Request(AgentStateRequest::NotReady(ReasonCode(9)));
        let (machine, outcome) = machine.step(now, request, 3);
        assert_eq!(outcome, Outcome::Applied);
        assert_eq!(machine.state.status(), AgentStatus::OnCall);
        let ended = AgentInput::CallEnded {
            interaction: id(1),
            wrap_up: Duration::from_secs(5),
        };
        let (machine, _) = machine.step(now, ended, 3);
        assert_eq!(machine.state.status(), AgentStatus::WrapUp);
        let (early, outcome) = machine.step(now, AgentInput::WrapUpExpired, 3);
        assert_eq!(outcome, Outcome::Ignored);
        assert_eq!(early, machine);
        let (machine, _) = machine.step(now + Duration::from_secs(5), AgentInput::WrapUpExpired, 3);
        assert_eq!(
            machine.state.not_ready_reason(),
            Some(NotReadyReason::Requested(ReasonCode(9)))
        );
    }
}
