//! What the engine asks the call layer to do. The engine never touches
//! SIP or media: it decides, the call layer carries out and reports back
//! through the `handle_*` inputs.

use std::time::{Duration, Instant};

use crate::config::OverflowAction;
use crate::ids::{AgentId, InteractionId, QueueId};

/// Whether an interaction is a live call or a callback owed to a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InteractionKind {
    /// A caller on the line.
    Voice,
    /// A caller who asked to be called back; no call exists until the
    /// agent has answered and [`Command::PlaceCallback`] dials them.
    Callback,
}

/// Why a ring was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelReason {
    /// The alert time passed.
    AlertTimeout,
    /// Another agent answered first (ring-all).
    AnsweredElsewhere,
    /// The caller hung up (or the callback was cancelled).
    CallerGone,
    /// The agent went not ready or logged out while ringing.
    AgentUnavailable,
}

/// Why a call left its queue early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OverflowReason {
    /// More than the maximum number of calls were waiting.
    QueueFull,
    /// The call waited the maximum wait.
    MaxWait,
    /// No agent staffs the queue.
    NoAgents,
}

/// An order for the call layer, drained with [`crate::Engine::poll_command`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Ring the agent (their Teams identity: [`crate::Engine::agent_identity`]);
    /// report [`crate::Engine::handle_agent_answered`] or
    /// [`crate::Engine::handle_agent_rejected`]. The engine itself cancels
    /// the ring at `alert_until`.
    RingAgent {
        /// The interaction offered.
        interaction: InteractionId,
        /// The agent rung.
        agent: AgentId,
        /// The queue that offers it.
        queue: QueueId,
        /// A live call or a callback.
        kind: InteractionKind,
        /// When the engine gives up on this agent.
        alert_until: Instant,
    },
    /// Stop ringing the agent (hang up their leg if it was answered late).
    CancelRing {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
        /// Why.
        reason: CancelReason,
    },
    /// Bridge the caller and the agent who answered.
    Connect {
        /// The interaction.
        interaction: InteractionId,
        /// The agent.
        agent: AgentId,
    },
    /// The agent answered a callback: dial the caller and bridge them to
    /// the agent; report [`crate::Engine::handle_callback_result`].
    PlaceCallback {
        /// The callback.
        interaction: InteractionId,
        /// The agent waiting on the line.
        agent: AgentId,
        /// The number to dial (personal data: do not log unredacted).
        number: String,
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// Tell the caller their place in line and the estimated wait.
    Announce {
        /// The waiting call.
        interaction: InteractionId,
        /// 1 = next to be served.
        position: u32,
        /// The estimate, when one can be made (see
        /// [`crate::Engine::estimated_wait`]).
        ewt: Option<Duration>,
    },
    /// The call leaves the queue: carry out the action. The engine has
    /// forgotten the call, except after [`OverflowAction::OfferCallback`],
    /// where it keeps the caller's place until the offer is accepted or
    /// expires.
    Overflow {
        /// The call.
        interaction: InteractionId,
        /// The queue it leaves.
        queue: QueueId,
        /// Why.
        reason: OverflowReason,
        /// What to do.
        action: OverflowAction,
    },
}
