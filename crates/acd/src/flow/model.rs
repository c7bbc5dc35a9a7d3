//! A validated flow: typed nodes whose targets are indices into the
//! flow's node list, compiled patterns, resolved queues and prompts.
//! Only the loader ([`crate::FlowSet`]) builds one, so the interpreter
//! can trust every index.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use regex_lite::Regex;

use crate::config::SkillRequirement;
use crate::flow::command::TransferTarget;
use crate::flow::schedule::{Schedule, ScheduleState};
use crate::ids::{FlowId, PromptId, QueueId, TenantId};

/// A node's place in [`Flow::nodes`].
pub(crate) type NodeIndex = usize;

/// An IVR flow, validated at load ([`crate::FlowSet`]); run it with
/// [`crate::FlowRun`].
#[derive(Debug)]
pub struct Flow {
    pub(crate) id: FlowId,
    pub(crate) name: String,
    pub(crate) file: String,
    pub(crate) entry: NodeIndex,
    pub(crate) nodes: Vec<Node>,
    pub(crate) schedules: Vec<Schedule>,
    pub(crate) max_prompt_time: Duration,
}

impl Flow {
    /// The flow's id.
    pub fn id(&self) -> FlowId {
        self.id
    }

    /// Its display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file it was loaded from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The ids of its nodes, in file order.
    pub fn node_ids(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|node| node.id.as_str())
    }

    /// Whether the flow's schedule `schedule` is open at `at` (for
    /// wallboards); `None` if the flow has no such schedule.
    pub fn schedule_state(&self, schedule: &str, at: SystemTime) -> Option<ScheduleState> {
        self.schedules
            .iter()
            .find(|s| s.id == schedule)
            .map(|s| s.state_at(at))
    }
}

#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) id: String,
    pub(crate) kind: NodeKind,
}

/// How a menu or a digit collection asks again.
#[derive(Debug)]
pub(crate) struct Retry {
    /// Further attempts after the first.
    pub(crate) retries: u32,
    /// Played before asking again after wrong input.
    pub(crate) invalid_prompts: Vec<PromptId>,
    /// Played before asking again after no input.
    pub(crate) timeout_prompts: Vec<PromptId>,
    /// Where the caller goes when the attempts are used up.
    pub(crate) fallback: NodeIndex,
}

#[derive(Debug)]
pub(crate) struct Menu {
    pub(crate) prompts: Vec<PromptId>,
    pub(crate) barge_in: bool,
    pub(crate) options: BTreeMap<char, NodeIndex>,
    /// Wait for a key after the prompts.
    pub(crate) timeout: Duration,
    pub(crate) retry: Retry,
}

#[derive(Debug)]
pub(crate) struct Collect {
    pub(crate) prompts: Vec<PromptId>,
    pub(crate) barge_in: bool,
    pub(crate) attribute: String,
    pub(crate) min_length: usize,
    pub(crate) max_length: usize,
    /// Anchored: the whole input must match.
    pub(crate) pattern: Option<Regex>,
    pub(crate) terminator: Option<char>,
    /// Wait for the first digit after the prompts.
    pub(crate) timeout: Duration,
    /// Wait for each further digit.
    pub(crate) inter_digit_timeout: Duration,
    pub(crate) retry: Retry,
    pub(crate) next: NodeIndex,
}

#[derive(Debug)]
pub(crate) struct HttpLookup {
    pub(crate) url: String,
    /// The attributes posted; `None`: all of them.
    pub(crate) send: Option<Vec<String>>,
    pub(crate) timeout: Duration,
    /// Put before every attribute name the result sets.
    pub(crate) prefix: String,
    pub(crate) next: NodeIndex,
    pub(crate) failure: NodeIndex,
}

#[derive(Debug)]
pub(crate) struct Enqueue {
    pub(crate) queue: QueueId,
    pub(crate) priority: u8,
    /// An attribute holding the priority (an integer, clamped to
    /// 0-255); `priority` when it is missing or not a number.
    pub(crate) priority_attribute: Option<String>,
    pub(crate) skills: Vec<SkillRequirement>,
}

#[derive(Debug)]
pub(crate) enum NodeKind {
    Play {
        prompts: Vec<PromptId>,
        barge_in: bool,
        next: NodeIndex,
    },
    Menu(Menu),
    Collect(Collect),
    HttpLookup(HttpLookup),
    Set {
        attribute: String,
        value: String,
        next: NodeIndex,
    },
    Branch {
        cases: Vec<(Condition, NodeIndex)>,
        default: NodeIndex,
    },
    Enqueue(Enqueue),
    Transfer(TransferTarget),
    Voicemail {
        mailbox: String,
        prompts: Vec<PromptId>,
    },
    Hangup {
        prompt: Option<PromptId>,
    },
}

impl NodeKind {
    /// The nodes this one can lead to (with repeats).
    pub(crate) fn targets(&self) -> Vec<NodeIndex> {
        match self {
            NodeKind::Play { next, .. } | NodeKind::Set { next, .. } => vec![*next],
            NodeKind::Menu(menu) => menu
                .options
                .values()
                .copied()
                .chain([menu.retry.fallback])
                .collect(),
            NodeKind::Collect(collect) => vec![collect.next, collect.retry.fallback],
            NodeKind::HttpLookup(lookup) => vec![lookup.next, lookup.failure],
            NodeKind::Branch { cases, default } => cases
                .iter()
                .map(|(_, target)| *target)
                .chain([*default])
                .collect(),
            NodeKind::Enqueue(_)
            | NodeKind::Transfer(_)
            | NodeKind::Voicemail { .. }
            | NodeKind::Hangup { .. } => Vec::new(),
        }
    }

    /// Whether the node waits for the caller (a key, or the timer that
    /// stands for no key). Prompts and lookups end on their own: a loop
    /// of them alone never hears the caller.
    pub(crate) fn waits_for_caller(&self) -> bool {
        matches!(self, NodeKind::Menu(_) | NodeKind::Collect(_))
    }
}

/// Numeric comparisons of a branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    LessThan,
    AtMost,
    GreaterThan,
    AtLeast,
}

/// Which schedule states a case accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScheduleCheck {
    Open,
    /// Not open: closed hours and holidays.
    Closed,
    Holiday,
}

/// One test of a branch.
#[derive(Debug)]
pub(crate) enum Condition {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String, bool),
    Matches(String, Regex),
    Compare(String, Comparison, f64),
    Schedule(usize, ScheduleCheck),
}

impl Condition {
    /// Whether the condition holds for `attributes` at wall-clock `at`.
    /// Comparisons and patterns fail on a missing attribute; comparisons
    /// fail on a value that is not a number.
    pub(crate) fn holds(
        &self,
        attributes: &BTreeMap<String, String>,
        schedules: &[Schedule],
        at: SystemTime,
    ) -> bool {
        match self {
            Condition::Equals(name, value) => attributes.get(name) == Some(value),
            Condition::NotEquals(name, value) => attributes.get(name) != Some(value),
            Condition::Exists(name, wanted) => attributes.contains_key(name) == *wanted,
            Condition::Matches(name, pattern) => attributes
                .get(name)
                .is_some_and(|value| pattern.is_match(value)),
            Condition::Compare(name, comparison, bound) => {
                let Some(value) = attributes
                    .get(name)
                    .and_then(|value| value.trim().parse::<f64>().ok())
                    .filter(|value| value.is_finite())
                else {
                    return false;
                };
                match comparison {
                    Comparison::LessThan => value < *bound,
                    Comparison::AtMost => value <= *bound,
                    Comparison::GreaterThan => value > *bound,
                    Comparison::AtLeast => value >= *bound,
                }
            }
            Condition::Schedule(index, check) => {
                let Some(schedule) = schedules.get(*index) else {
                    return false;
                };
                let state = schedule.state_at(at);
                match check {
                    ScheduleCheck::Open => state == ScheduleState::Open,
                    ScheduleCheck::Closed => state != ScheduleState::Open,
                    ScheduleCheck::Holiday => state == ScheduleState::Holiday,
                }
            }
        }
    }
}

/// What the loader checks names against: the tenant's queues and
/// prompts, by the names flow files use.
#[derive(Debug, Clone)]
pub struct FlowCatalog {
    /// The tenant whose flows these are (flow ids are made in it).
    pub tenant: TenantId,
    /// Queues by name (e.g. `"sales"`).
    pub queues: BTreeMap<String, QueueId>,
    /// Recorded prompts by name (e.g. `"contoso/welcome"`).
    pub prompts: BTreeMap<String, PromptId>,
}

impl FlowCatalog {
    /// An empty catalog for `tenant`.
    pub fn new(tenant: TenantId) -> Self {
        Self {
            tenant,
            queues: BTreeMap::new(),
            prompts: BTreeMap::new(),
        }
    }
}
