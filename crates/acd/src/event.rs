//! The append-only event log: every state change of the engine, in
//! order, with a sequence number. Metrics, wallboards, CDRs and webhooks
//! are projections of it:
//!
//! - offered: [`EventKind::Queued`]; answered and its wait:
//!   [`EventKind::Answered`]; abandoned and its wait:
//!   [`EventKind::Abandoned`] (service level counts both against a
//!   threshold);
//! - handle time: [`EventKind::Completed`] (talk) plus
//!   [`EventKind::WrapUpEnded`] (after-call work);
//! - ring-no-answer: [`EventKind::RingNoAnswer`];
//! - occupancy: [`EventKind::AgentStateChanged`] timestamps.

use std::time::{Duration, Instant};

use crate::agent::{AgentStateRequest, AgentStatus, NotReadyReason, RingOutcome};
use crate::command::{CancelReason, InteractionKind, OverflowReason};
use crate::config::OverflowAction;
use crate::ids::{AgentId, InteractionId, Priority, QueueId, TenantId};
use crate::interaction::EndReason;
use crate::presence::Presence;

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Increases by one per event, engine-wide, from 1.
    pub seq: u64,
    /// The tenant the event belongs to.
    pub tenant: TenantId,
    /// When it happened (the `now` of the input that caused it).
    pub at: Instant,
    /// What happened.
    pub kind: EventKind,
}

/// The state of an interaction, for queries and ignored-input reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InteractionStatus {
    /// In its queue's line.
    Waiting,
    /// Being offered to one agent or more.
    Ringing,
    /// Talking to an agent.
    Connected,
    /// A callback whose agent answered; the caller is being dialled.
    CallbackDialing,
    /// A callback between two attempts (keeps its place).
    CallbackRetryWait,
    /// Overflowed with a callback offer the caller has not taken yet.
    CallbackOffered,
}

/// The input an [`EventKind::InputIgnored`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InputKind {
    /// [`crate::Engine::handle_agent_answered`].
    AgentAnswered,
    /// [`crate::Engine::handle_agent_rejected`] or
    /// [`crate::Engine::handle_agent_no_answer`].
    AgentRingFailed,
    /// [`crate::Engine::handle_call_ended`].
    CallEnded,
    /// [`crate::Engine::handle_presence`].
    Presence,
    /// [`crate::Engine::handle_agent_state_request`].
    AgentStateRequest(AgentStateRequest),
    /// [`crate::Engine::handle_membership`].
    Membership,
    /// [`crate::Engine::handle_callback_requested`].
    CallbackRequested,
    /// [`crate::Engine::handle_callback_result`].
    CallbackResult,
}

/// Why an input was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IgnoreReason {
    /// The agent's state does not take this input.
    AgentState(AgentStatus),
    /// The interaction's state does not take this input.
    InteractionState(InteractionStatus),
    /// The interaction already ended.
    InteractionGone,
    /// The agent is not being rung for this interaction.
    NotRinging,
    /// The input repeats the current value.
    Unchanged,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A call (or callback) joined a queue's line.
    Queued {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// Call or callback.
        kind: InteractionKind,
        /// Base priority.
        priority: Priority,
        /// Place in line on joining, 1 = next.
        position: u32,
    },
    /// An agent is rung.
    AgentOffered {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
        /// When the alert times out.
        alert_until: Instant,
    },
    /// An agent did not answer (rejected, no answer, alert timeout).
    RingNoAnswer {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
        /// How the ring ended.
        outcome: RingOutcome,
        /// How long the agent was rung.
        rang: Duration,
    },
    /// A ring stopped through no fault of the agent.
    RingCancelled {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
        /// Why.
        reason: CancelReason,
    },
    /// An agent answered.
    Answered {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
        /// Call or callback.
        kind: InteractionKind,
        /// Time since the interaction joined this queue (for a callback,
        /// since the original call joined).
        wait: Duration,
    },
    /// A waiting (or ringing) caller hung up.
    Abandoned {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// Time since joining the queue.
        wait: Duration,
        /// Place in line when hanging up.
        position: u32,
        /// Place in line on joining.
        original_position: u32,
        /// Whether an agent was being rung at the time.
        while_ringing: bool,
    },
    /// A connected interaction ended.
    Completed {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
        /// Talk time.
        talk: Duration,
        /// Who or what ended it.
        reason: EndReason,
    },
    /// A waiting or ringing call left the queue for another reason than
    /// the caller hanging up (transferred away by the call layer, failed).
    Dequeued {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// Time since joining the queue.
        wait: Duration,
        /// Why.
        reason: EndReason,
    },
    /// A call left its queue early.
    Overflowed {
        /// The interaction.
        interaction: InteractionId,
        /// The queue it left.
        queue: QueueId,
        /// Why.
        reason: OverflowReason,
        /// Where it went.
        action: OverflowAction,
    },
    /// A position announcement was ordered.
    Announced {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// Place in line.
        position: u32,
        /// Estimated wait.
        ewt: Option<Duration>,
    },
    /// A caller asked for a callback; the call ends, the callback takes
    /// its place.
    CallbackRequested {
        /// The call.
        interaction: InteractionId,
        /// The new callback.
        callback: InteractionId,
        /// The queue.
        queue: QueueId,
    },
    /// A callback attempt ended.
    CallbackAttempted {
        /// The callback.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: AgentId,
        /// 1 for the first attempt.
        attempt: u32,
        /// Whether the caller was reached.
        reached: bool,
    },
    /// A callback gave up after its last attempt.
    CallbackFailed {
        /// The callback.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// Attempts made.
        attempts: u32,
    },
    /// A callback waited its queue's `callback.max_age` without reaching
    /// the caller and was dropped.
    CallbackExpired {
        /// The callback.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
        /// Since the caller's request.
        age: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// A callback (or an untaken callback offer) was withdrawn.
    CallbackCancelled {
        /// The interaction.
        interaction: InteractionId,
        /// The queue.
        queue: QueueId,
    },
    /// An agent's state changed.
    AgentStateChanged {
        /// The agent.
        agent: AgentId,
        /// The old state.
        from: AgentStatus,
        /// The new state.
        to: AgentStatus,
        /// The reason, when the new state is not ready.
        reason: Option<NotReadyReason>,
    },
    /// An agent's wrap-up ended.
    WrapUpEnded {
        /// The agent.
        agent: AgentId,
        /// The interaction wrapped up.
        interaction: InteractionId,
        /// Its queue.
        queue: QueueId,
        /// After-call work time.
        wrap_up: Duration,
    },
    /// An agent's Teams presence changed.
    PresenceChanged {
        /// The agent.
        agent: AgentId,
        /// The new presence.
        presence: Presence,
    },
    /// An agent opted in to or out of a queue.
    MembershipChanged {
        /// The agent.
        agent: AgentId,
        /// The queue.
        queue: QueueId,
        /// In or out.
        opted_in: bool,
    },
    /// An input did not apply and changed nothing.
    InputIgnored {
        /// The input.
        input: InputKind,
        /// The agent it named, if any.
        agent: Option<AgentId>,
        /// The interaction it named, if any.
        interaction: Option<InteractionId>,
        /// Why it was ignored.
        reason: IgnoreReason,
    },
}
