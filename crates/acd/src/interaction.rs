//! Interactions (calls and callbacks) and their states: waiting in line,
//! ringing one agent or more, connected, and the callback states.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::command::InteractionKind;
use crate::config::SkillRequirement;
use crate::event::InteractionStatus;
use crate::ids::{AgentId, InteractionId, Priority, QueueId};
use crate::queue::Waiter;
use crate::timer::TimerKey;

/// What the call layer (or an IVR flow) knows about a call on arrival.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallAttributes {
    /// Skills the call needs on top of the queue's requirements.
    pub skills: Vec<SkillRequirement>,
    /// Named values shown to the agent before answering: digits the
    /// caller entered, CRM lookup results (the "context notes"; see
    /// [`crate::Engine::call_values`]). The engine routes on skills only
    /// and keeps these as they are. Personal data: do not log unredacted.
    pub values: BTreeMap<String, String>,
}

/// Why an interaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndReason {
    /// The caller hung up (while waiting or ringing: an abandon).
    CallerHangup,
    /// The agent hung up.
    AgentHangup,
    /// Transferred away from the queue by the call layer.
    Transferred,
    /// A network or media failure.
    Failed,
}

/// Callback data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Callback {
    pub(crate) number: String,
    /// Attempts started so far.
    pub(crate) attempts: u32,
    /// When the caller asked for it.
    pub(crate) requested_at: Instant,
    /// When it expires (the queue's `callback.max_age`), if ever.
    pub(crate) expires_at: Option<Instant>,
}

impl Callback {
    pub(crate) fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InteractionState {
    Waiting,
    Ringing {
        agents: Vec<AgentId>,
        since: Instant,
    },
    Connected {
        agent: AgentId,
        since: Instant,
    },
    CallbackDialing {
        agent: AgentId,
    },
    CallbackRetryWait {
        until: Instant,
    },
    CallbackOffered {
        until: Instant,
    },
}

impl InteractionState {
    pub(crate) fn status(&self) -> InteractionStatus {
        match self {
            InteractionState::Waiting => InteractionStatus::Waiting,
            InteractionState::Ringing { .. } => InteractionStatus::Ringing,
            InteractionState::Connected { .. } => InteractionStatus::Connected,
            InteractionState::CallbackDialing { .. } => InteractionStatus::CallbackDialing,
            InteractionState::CallbackRetryWait { .. } => InteractionStatus::CallbackRetryWait,
            InteractionState::CallbackOffered { .. } => InteractionStatus::CallbackOffered,
        }
    }
}

/// Timers an interaction owns; all cancelled when it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct InteractionTimers {
    pub(crate) max_wait: Option<TimerKey>,
    pub(crate) expansion: Option<TimerKey>,
    pub(crate) announce: Option<TimerKey>,
    pub(crate) callback: Option<TimerKey>,
    /// A callback's maximum age.
    pub(crate) expiry: Option<TimerKey>,
}

#[derive(Debug, Clone)]
pub(crate) struct Interaction {
    pub(crate) id: InteractionId,
    pub(crate) callback: Option<Callback>,
    pub(crate) queue: QueueId,
    pub(crate) priority: Priority,
    pub(crate) skills: Vec<SkillRequirement>,
    /// [`CallAttributes::values`], kept for the agent's screen.
    pub(crate) values: BTreeMap<String, String>,
    /// Joined the current queue (a callback: when its call joined).
    pub(crate) entered_at: Instant,
    /// Place in line, kept across rings and by callbacks.
    pub(crate) place: u64,
    pub(crate) original_position: u32,
    /// Overflows to another queue so far (loops end at a limit).
    pub(crate) hops: u8,
    /// Agents that let this interaction ring out, skipped while others
    /// qualify.
    pub(crate) tried: BTreeSet<AgentId>,
    pub(crate) state: InteractionState,
    pub(crate) timers: InteractionTimers,
}

impl Interaction {
    pub(crate) fn kind(&self) -> InteractionKind {
        if self.callback.is_some() {
            InteractionKind::Callback
        } else {
            InteractionKind::Voice
        }
    }

    pub(crate) fn waiter(&self) -> Waiter {
        Waiter {
            id: self.id,
            priority: self.priority,
            place: self.place,
            entered_at: self.entered_at,
            voice: self.callback.is_none(),
        }
    }
}
