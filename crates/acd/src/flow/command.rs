//! What a flow run asks the call layer to do, and the reports it takes
//! back.

use std::fmt;
use std::time::{Duration, Instant};

use crate::ids::{Priority, PromptId, QueueId};
use crate::interaction::CallAttributes;

/// Names one [`FlowCommand::PlayPrompts`] or [`FlowCommand::HttpLookup`]
/// of a run, so that its report ([`crate::FlowRun::handle_prompt_finished`],
/// [`crate::FlowRun::handle_http_result`]) cannot be mistaken for the
/// report of a later one: a prompt cut short by a digit, or a lookup
/// answered after its timeout, is reported late and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The id's number (increases by one per request within a run).
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request{}", self.0)
    }
}

/// Where a [`FlowCommand::Transfer`] sends the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferTarget {
    /// A Teams user (user principal name or Entra object id).
    TeamsUser(String),
    /// A queue, without the flow's skills and priority: hand it to
    /// [`crate::Engine::handle_call_arrived`] with
    /// [`crate::FlowRun::attributes`] and priority 0 (a flow that wants
    /// skills or priority uses an `enqueue` node).
    Queue(QueueId),
    /// An external number, E.164 (personal data: do not log unredacted).
    ExternalNumber(String),
}

/// Why an HTTP lookup produced no result, as reported by the call layer
/// to [`crate::FlowRun::handle_http_result`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpFailure {
    /// No answer within the node's timeout.
    #[error("timed out")]
    Timeout,
    /// The webhook answered with a status other than 2xx.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The body was not a JSON object.
    #[error("the body is not a JSON object")]
    BadBody,
    /// Connection, TLS or DNS failure.
    #[error("transport: {0}")]
    Transport(String),
}

/// An order from a [`crate::FlowRun`], drained with
/// [`crate::FlowRun::poll_command`]. [`FlowCommand::Enqueue`],
/// [`FlowCommand::Transfer`], [`FlowCommand::Voicemail`] and
/// [`FlowCommand::Hangup`] end the run ([`FlowCommand::is_final`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowCommand {
    /// Play the prompts in order, then report
    /// [`crate::FlowRun::handle_prompt_finished`] with `id`. With
    /// `barge_in` the caller may interrupt with a digit.
    PlayPrompts {
        /// Names this playback in its report.
        id: RequestId,
        /// The prompts, in order.
        prompts: Vec<PromptId>,
        /// Whether a digit interrupts the playback.
        barge_in: bool,
    },
    /// Stop the playback `id` now (a digit barged in, or it outlived the
    /// flow's `max_prompt_time`); its report is no longer needed.
    StopPrompts {
        /// The playback.
        id: RequestId,
    },
    /// The caller is asked for digits: forward every DTMF digit to
    /// [`crate::FlowRun::handle_digit`] (they always are welcome; this
    /// tells a media layer that must subscribe to tones to do it now).
    /// The run keeps the timers itself.
    CollectDigits {
        /// The most digits the node takes (a menu: 1).
        max_digits: usize,
        /// The key that ends the input early, if any.
        terminator: Option<char>,
    },
    /// POST `body` (a JSON object) to `url`, give up after `timeout`, and
    /// report [`crate::FlowRun::handle_http_result`] with `id`.
    HttpLookup {
        /// Names this lookup in its report.
        id: RequestId,
        /// The webhook, `http://` or `https://`.
        url: String,
        /// The attributes the node sends, as a JSON object of strings
        /// (personal data: do not log unredacted).
        body: serde_json::Value,
        /// How long to wait for the answer.
        timeout: Duration,
    },
    /// An attribute of the call was set (caller input, lookup result,
    /// `set` node): show it on the agent's screen if one is open.
    SetAttribute {
        /// The attribute's name.
        name: String,
        /// Its new value.
        value: String,
    },
    /// Hand the call to the ACD: all three fields go straight to
    /// [`crate::Engine::handle_call_arrived`] (with `queue.tenant()`).
    Enqueue {
        /// The queue.
        queue: QueueId,
        /// The caller's base priority.
        priority: Priority,
        /// The node's skills and every attribute of the run.
        attributes: CallAttributes,
    },
    /// Transfer the call (blind).
    Transfer {
        /// Where to.
        target: TransferTarget,
    },
    /// Play the greeting prompts, then record a voicemail for `mailbox`.
    Voicemail {
        /// The mailbox (e.g. a Microsoft 365 group or user id).
        mailbox: String,
        /// The greeting, played before the tone.
        prompts: Vec<PromptId>,
    },
    /// Play the prompt, if any, then hang up.
    Hangup {
        /// The last words.
        prompt: Option<PromptId>,
    },
}

impl FlowCommand {
    /// Whether the command ends the run (the call leaves the flow).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            FlowCommand::Enqueue { .. }
                | FlowCommand::Transfer { .. }
                | FlowCommand::Voicemail { .. }
                | FlowCommand::Hangup { .. }
        )
    }
}

/// What happened in a [`crate::FlowRun`], for the event log, drained with
/// [`crate::FlowRun::poll_event`]. Carries node ids, never digits or
/// attribute values (personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlowEvent {
    /// When.
    pub at: Instant,
    /// What.
    pub kind: FlowEventKind,
}

/// The kinds of [`FlowEvent`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowEventKind {
    /// The run reached a node (every node passed through, in order).
    NodeEntered {
        /// The node's id in the flow file.
        node: String,
    },
    /// A menu or collection got no input in time; `attempt` counts from 0.
    NoInput {
        /// The node.
        node: String,
        /// The attempt that got none.
        attempt: u32,
    },
    /// A menu got a key without an option, or a collection an input
    /// that failed its length or pattern.
    InvalidInput {
        /// The node.
        node: String,
        /// The attempt that got it.
        attempt: u32,
    },
    /// A lookup answered, or failed or timed out (`answered` false).
    LookupEnded {
        /// The node.
        node: String,
        /// Whether an answer came.
        answered: bool,
    },
    /// The run ended: by its final command at `node`, or because the
    /// caller hung up while at `node`.
    Ended {
        /// Where (`None` if the flow broke, which validation prevents).
        node: Option<String>,
        /// Whether the caller hung up.
        caller_hung_up: bool,
    },
}
