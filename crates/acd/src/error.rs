//! The crate's errors, one enum per operation whose callers react
//! differently: building an engine from configuration, and feeding it an
//! input that names objects it does not know (or that cross tenants).
//!
//! Inputs that are well-formed but late or out of place (an answer after
//! the ring was cancelled, a hang-up for a call already gone) are not
//! errors: the engine ignores them, counts them and logs an
//! [`crate::EventKind::InputIgnored`] event.

use crate::ids::{AgentId, FlowId, PromptId, QueueId, TenantId};

/// Why a configuration was refused by [`crate::Engine::new`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Two tenants share an id.
    #[error("tenant {0} is defined twice")]
    DuplicateTenant(TenantId),
    /// Two queues share an id.
    #[error("queue {0} is defined twice")]
    DuplicateQueue(QueueId),
    /// Two agents share an id.
    #[error("agent {0} is defined twice")]
    DuplicateAgent(AgentId),
    /// A phone number is mapped twice.
    #[error("number {0} is mapped twice")]
    DuplicateNumber(String),
    /// An agent lists the same queue twice.
    #[error("agent {agent} is a member of queue {queue} twice")]
    DuplicateMembership {
        /// The agent.
        agent: AgentId,
        /// The queue.
        queue: QueueId,
    },
    /// An object belongs to a tenant that is not configured.
    #[error("{object} belongs to tenant {tenant}, which is not configured")]
    UnknownTenant {
        /// The object, e.g. `queue tenant1/queue2`.
        object: String,
        /// The missing tenant.
        tenant: TenantId,
    },
    /// An object refers to another tenant's object.
    #[error("{object} refers to {target}, which belongs to another tenant")]
    CrossTenant {
        /// The referring object.
        object: String,
        /// The referenced object.
        target: String,
    },
    /// An object refers to a queue that is not configured.
    #[error("{object} refers to queue {queue}, which is not configured")]
    UnknownQueue {
        /// The referring object.
        object: String,
        /// The missing queue.
        queue: QueueId,
    },
    /// An overflow action forwards to an agent that is not configured.
    #[error("{object} refers to agent {agent}, which is not configured")]
    UnknownAgent {
        /// The referring object.
        object: String,
        /// The missing agent.
        agent: AgentId,
    },
    /// A flow or prompt reference in an action points to another tenant.
    #[error("{object} refers to {target} of another tenant")]
    ForeignAsset {
        /// The referring object.
        object: String,
        /// The flow or prompt.
        target: AssetRef,
    },
    /// A value is outside its allowed range.
    #[error("{object}: {field} = {value} is outside {allowed}")]
    OutOfRange {
        /// The object, e.g. `queue tenant1/queue2`.
        object: String,
        /// The field, e.g. `alert_time`.
        field: &'static str,
        /// The value given, in the field's unit.
        value: u64,
        /// The allowed range, in words.
        allowed: &'static str,
    },
}

/// A flow or prompt named in an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssetRef {
    /// A flow.
    Flow(FlowId),
    /// A prompt.
    Prompt(PromptId),
}

impl std::fmt::Display for AssetRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AssetRef::Flow(flow) => flow.fmt(f),
            AssetRef::Prompt(prompt) => prompt.fmt(f),
        }
    }
}

/// Why an input was refused: it names an object the engine never knew,
/// or objects of different tenants. The engine's state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The tenant is not configured.
    #[error("unknown tenant {0}")]
    UnknownTenant(TenantId),
    /// The queue is not configured.
    #[error("unknown queue {0}")]
    UnknownQueue(QueueId),
    /// The agent is not configured.
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    /// The engine never issued this interaction id.
    #[error("unknown interaction {0}")]
    UnknownInteraction(crate::ids::InteractionId),
    /// The input mixes objects of two tenants.
    #[error("{first} and {second} belong to different tenants")]
    CrossTenant {
        /// The first object.
        first: String,
        /// The second object.
        second: String,
    },
    /// The agent is not a member of the queue.
    #[error("agent {agent} is not a member of queue {queue}")]
    NotAMember {
        /// The agent.
        agent: AgentId,
        /// The queue.
        queue: QueueId,
    },
}
