//! The crate's errors, one enum per operation whose callers react
//! differently: building an engine from configuration, feeding it an
//! input that names objects it does not know (or that cross tenants),
//! and loading IVR flow files.
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

/// A problem found while loading a flow file
/// ([`crate::FlowSet::from_sources`]): the file, the node when one is to
/// blame, and the reason. A flow with any error is not loaded; the other
/// flows are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {reason}", node_label(.node))]
pub struct FlowError {
    /// The file's name as given to the loader.
    pub file: String,
    /// The node's id, when the problem is in one node.
    pub node: Option<String>,
    /// What is wrong.
    pub reason: FlowErrorKind,
}

fn node_label(node: &Option<String>) -> String {
    match node {
        Some(node) => format!(": node `{node}`"),
        None => String::new(),
    }
}

/// What is wrong in a flow file (see [`FlowError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlowErrorKind {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Unreadable(String),
    /// The file name ends neither in `.toml` nor in `.json`.
    #[error("unsupported file type (expected .toml or .json)")]
    UnsupportedFormat,
    /// The text is not valid TOML or JSON.
    #[error("syntax: {0}")]
    Syntax(String),
    /// A field is missing, unknown, or of the wrong type.
    #[error("{0}")]
    Shape(String),
    /// Another file already defines a flow with this id.
    #[error("flow id {id} is already defined in {first_file}")]
    DuplicateFlow {
        /// The flow's number within the tenant.
        id: u32,
        /// The file that defined it first.
        first_file: String,
    },
    /// The flow has more nodes than a flow may have.
    #[error("{count} nodes, more than the {max} a flow may have")]
    TooManyNodes {
        /// Nodes in the file.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// `entry` names no node, or is empty.
    #[error("the entry node `{0}` does not exist")]
    MissingEntry(String),
    /// Two nodes share an id.
    #[error("the node id is defined twice")]
    DuplicateNode,
    /// A target (`next`, an option, a fallback...) names no node.
    #[error("`{field}` leads to node `{target}`, which does not exist")]
    UnknownTarget {
        /// The field, e.g. `next`, `options.1`, `cases[0].next`.
        field: String,
        /// The missing node.
        target: String,
    },
    /// The queue is not in the catalog given to the loader.
    #[error("queue `{0}` is not known")]
    UnknownQueue(String),
    /// The catalog maps the queue name to another tenant's queue.
    #[error("queue `{0}` belongs to another tenant")]
    ForeignQueue(String),
    /// The prompt is not in the catalog given to the loader.
    #[error("prompt `{0}` is not known")]
    UnknownPrompt(String),
    /// A condition names a schedule the flow does not define.
    #[error("schedule `{0}` is not defined in this flow")]
    UnknownSchedule(String),
    /// No path from the entry node leads to the node. An error, not a
    /// warning: such a node is almost always a forgotten link, and the
    /// previous version of the flow keeps running while it is fixed.
    #[error("no path from the entry node leads here")]
    Unreachable,
    /// A loop of nodes none of which waits for the caller (a menu or a
    /// digit collection): it would spin, or replay prompts forever.
    #[error("loop without caller input: {}", .0.join(" -> "))]
    LoopWithoutInput(Vec<String>),
    /// A menu without options.
    #[error("the menu has no options")]
    MenuWithoutOptions,
    /// A node that must speak has no prompt (the caller would hear
    /// silence).
    #[error("`{0}` is empty: the node plays nothing")]
    MissingPrompts(&'static str),
    /// A menu key or terminator is not a DTMF key.
    #[error("`{0}` is not a DTMF key (one of 0-9, *, #)")]
    BadDtmfKey(String),
    /// A regular expression does not compile.
    #[error("pattern `{pattern}` is not a valid regular expression: {error}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// Why.
        error: String,
    },
    /// Two schedules share an id.
    #[error("schedule `{0}` is defined twice")]
    DuplicateSchedule(String),
    /// The time zone is not in the IANA database (chrono-tz).
    #[error("schedule `{schedule}`: time zone `{zone}` is not in the IANA database")]
    UnknownTimeZone {
        /// The schedule.
        schedule: String,
        /// The zone given.
        zone: String,
    },
    /// Opening hours that do not read as `HH:MM-HH:MM` with start before
    /// end, or that overlap.
    #[error("schedule `{schedule}`: hours `{hours}` on {day}: {why}")]
    BadHours {
        /// The schedule.
        schedule: String,
        /// The day (`mon`..`sun`) or the override's date.
        day: String,
        /// The span given.
        hours: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// A date that is neither `YYYY-MM-DD` nor `MM-DD`, or that does not
    /// exist.
    #[error("schedule `{schedule}`: `{date}` is not a date (YYYY-MM-DD, or MM-DD for every year)")]
    BadDate {
        /// The schedule.
        schedule: String,
        /// The text given.
        date: String,
    },
    /// A branch condition that names no attribute or schedule, or not
    /// exactly one test.
    #[error("cases[{index}]: {why}")]
    BadCondition {
        /// The case's index.
        index: usize,
        /// Why.
        why: String,
    },
    /// A number outside its range.
    #[error("`{field}` = {value} is outside {allowed}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// The allowed range, in words.
        allowed: &'static str,
    },
    /// A lookup URL that is not `http://` or `https://`.
    #[error("`{0}` is not an http:// or https:// URL")]
    BadUrl(String),
    /// A transfer number that is not E.164.
    #[error("`{0}` is not an E.164 number (+ then 7 to 15 digits)")]
    BadPhoneNumber(String),
    /// A transfer needs exactly one of `teams_user`, `queue`, `number`.
    #[error("a transfer needs exactly one of `teams_user`, `queue`, `number`")]
    BadTransferTarget,
    /// An attribute name that is empty or too long.
    #[error("attribute name `{0}` is empty or longer than 64 bytes")]
    BadAttributeName(String),
}
