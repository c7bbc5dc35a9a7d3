//! The engine's configuration model: tenants, numbers, queues, agents,
//! skills. Plain data with Teams' defaults; [`crate::Engine::new`] checks
//! it (ids unique, every reference within one tenant, ranges).
//!
//! Loading it from TOML or the store belongs to the binary; this crate
//! takes the values.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::error::{AssetRef, ConfigError};
use crate::ids::{AgentId, FlowId, Proficiency, PromptId, QueueId, SkillId, TenantId};

/// The longest duration any setting accepts (one day). Keeps every
/// deadline computable.
pub const MAX_SETTING: Duration = Duration::from_secs(24 * 3600);

/// Everything the engine routes.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Customer tenants.
    pub tenants: Vec<TenantConfig>,
    /// Phone numbers that lead to queues.
    pub numbers: Vec<NumberConfig>,
    /// Call queues.
    pub queues: Vec<QueueConfig>,
    /// Agents.
    pub agents: Vec<AgentConfig>,
    /// Seed of the random strategies (give a fresh one per process in
    /// production; tests fix it so runs repeat).
    pub seed: u64,
}

/// A customer tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantConfig {
    /// The tenant's id in switchboard.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// The Microsoft Entra tenant id (a GUID).
    pub teams_tenant_id: String,
    /// Presence-based routing: only agents whose Teams presence is
    /// [`crate::Presence::Available`] get calls. On by default.
    pub presence_routing: bool,
}

impl TenantConfig {
    /// A tenant with presence-based routing on.
    pub fn new(id: TenantId, name: impl Into<String>, teams_tenant_id: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            teams_tenant_id: teams_tenant_id.into(),
            presence_routing: true,
        }
    }
}

/// A phone number (E.164) that leads to a queue; the queue's id names
/// the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberConfig {
    /// The number, e.g. `+12065550100`.
    pub number: String,
    /// Where its calls queue.
    pub queue: QueueId,
}

/// How a queue picks among the agents free for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QueueStrategy {
    /// The agent idle the longest (FreeSWITCH's and Teams' default).
    #[default]
    LongestIdle,
    /// The next agent after the one offered last, in membership order.
    RoundRobin,
    /// Every free agent at once; the first to answer gets the call
    /// (Teams "attendant").
    RingAll,
    /// Always from the top of the membership order (serial, linear).
    Serial,
    /// The agent with the least talk time since logging in.
    LeastTalkTime,
    /// The agent with the fewest answered calls since logging in.
    FewestCalls,
    /// Any free agent, uniformly.
    Random,
    /// Any free agent, in proportion to its membership weight.
    WeightedRandom,
}

/// A skill a call needs, at a minimum level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkillRequirement {
    /// The skill.
    pub skill: SkillId,
    /// The lowest proficiency that qualifies.
    pub min: Proficiency,
}

/// One ring of bullseye routing: after the caller waited `after`, agents
/// who meet the relaxed requirements qualify too. Ring 0 is the queue's
/// and the call's requirements as given; ring `n` lowers every minimum by
/// `lower_by` steps (never below 1) and drops the skills in `drop`. Agents
/// of an inner ring are preferred over agents of an outer one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BullseyeRing {
    /// How long the caller waits before this ring opens.
    pub after: Duration,
    /// Steps by which every minimum proficiency is lowered.
    pub lower_by: u8,
    /// Skills no longer required.
    pub drop: Vec<SkillId>,
}

/// Priority aging: a caller's score is
/// `base priority + min(waited minutes x points_per_minute, max_bonus)`,
/// computed in thousandths of a point so it grows smoothly. With the
/// default (no aging) callers are served by base priority, then in order
/// of arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PriorityAging {
    /// Points gained per minute of waiting.
    pub points_per_minute: u32,
    /// The most points aging can add.
    pub max_bonus: u32,
}

/// Where a call goes when it leaves a queue early. Carried out by the
/// call layer ([`crate::Command::Overflow`]), except [`OverflowAction::Queue`],
/// which the engine does itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OverflowAction {
    /// Join another queue of the same tenant (waiting starts anew there).
    Queue(QueueId),
    /// Run an IVR flow.
    Flow(FlowId),
    /// Forward to one user (an agent of the tenant), outside the queue.
    Agent(AgentId),
    /// Leave a voicemail in a shared mailbox.
    Voicemail {
        /// The mailbox (e.g. a Microsoft 365 group id).
        mailbox: String,
    },
    /// Offer a callback: the call layer plays the offer; if the caller
    /// accepts, [`crate::Engine::handle_callback_requested`] turns the call
    /// into a callback that keeps the caller's place.
    OfferCallback,
    /// Forward to an external number (E.164).
    ExternalNumber(String),
    /// Play a prompt (if any) and hang up.
    Disconnect {
        /// The prompt to play first.
        prompt: Option<PromptId>,
    },
}

impl Default for OverflowAction {
    fn default() -> Self {
        OverflowAction::Disconnect { prompt: None }
    }
}

/// Which calls the no-agents action applies to (Teams' "new calls only"
/// or "all calls").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoAgentsScope {
    /// Calls arriving while no agent is logged in (Asterisk `joinempty`).
    NewCalls,
    /// Those, and every waiting call when the last agent leaves
    /// (Asterisk `leavewhenempty`).
    AllCalls,
}

/// What to do when no agent staffs a queue: none is logged in and
/// opted in, or all of them are signed out of Teams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoAgentsPolicy {
    /// The action.
    pub action: OverflowAction,
    /// Which calls it applies to.
    pub scope: NoAgentsScope,
}

/// Periodic position and estimated-wait announcements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnouncePolicy {
    /// Time between two announcements to one caller.
    pub period: Duration,
    /// Announce once when the caller joins, too.
    pub on_entry: bool,
}

/// Callback retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallbackPolicy {
    /// Attempts to reach the caller before giving up (at least 1).
    pub max_attempts: u32,
    /// Wait between two attempts; the callback keeps its place meanwhile.
    pub retry_delay: Duration,
    /// How long a caller who was offered a callback by
    /// [`OverflowAction::OfferCallback`] has to accept it.
    pub offer_timeout: Duration,
    /// How long a callback may wait for an agent, from the caller's
    /// request, before it expires
    /// ([`crate::EventKind::CallbackExpired`]); `None`, the default:
    /// never. A callback being rung or dialled when its time is up
    /// finishes that attempt and expires if it would wait again.
    pub max_age: Option<Duration>,
}

impl Default for CallbackPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            retry_delay: Duration::from_secs(300),
            offer_timeout: Duration::from_secs(60),
            max_age: None,
        }
    }
}

/// A call queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// The queue's id (it names the tenant).
    pub id: QueueId,
    /// Display name.
    pub name: String,
    /// How an agent is picked.
    pub strategy: QueueStrategy,
    /// How long an agent is rung before the next one is tried, 15-180 s
    /// (Teams' range); default 30 s.
    pub alert_time: Duration,
    /// After-call work time, then the agent is available again; default 0.
    pub wrap_up: Duration,
    /// Skills every call of this queue needs (calls may add their own).
    pub requirements: Vec<SkillRequirement>,
    /// Bullseye rings, by increasing `after`.
    pub bullseye: Vec<BullseyeRing>,
    /// Tier rule: agents of level `n` join a call once it waited
    /// `(n - 1) x tier_wait`; lower levels are always preferred. Default 0
    /// (all levels at once, lower first).
    pub tier_wait: Duration,
    /// Priority aging.
    pub aging: PriorityAging,
    /// More than this many calls waiting (callbacks not counted) makes the
    /// newest overflow; default 50 (Teams).
    pub max_queue_length: u32,
    /// What a call that finds the queue full does.
    pub on_queue_full: OverflowAction,
    /// Longest wait before the timeout action; default 1200 s (Teams).
    /// Callbacks never time out.
    pub max_wait: Duration,
    /// What a call that waited `max_wait` does.
    pub on_max_wait: OverflowAction,
    /// What to do without agents; `None` lets calls wait (join empty).
    pub no_agents: Option<NoAgentsPolicy>,
    /// Position and estimated-wait announcements; `None`: none.
    pub announce: Option<AnnouncePolicy>,
    /// Callback retries.
    pub callback: CallbackPolicy,
    /// Handle time assumed for the estimated wait before any call of the
    /// queue was handled; default 180 s.
    pub default_handle_time: Duration,
    /// How many recent handle times the estimate averages; default 20.
    pub handle_time_samples: u32,
}

impl QueueConfig {
    /// A longest-idle queue with Teams' defaults.
    pub fn new(id: QueueId, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            strategy: QueueStrategy::LongestIdle,
            alert_time: Duration::from_secs(30),
            wrap_up: Duration::ZERO,
            requirements: Vec::new(),
            bullseye: Vec::new(),
            tier_wait: Duration::ZERO,
            aging: PriorityAging::default(),
            max_queue_length: 50,
            on_queue_full: OverflowAction::default(),
            max_wait: Duration::from_secs(1200),
            on_max_wait: OverflowAction::default(),
            no_agents: None,
            announce: None,
            callback: CallbackPolicy::default(),
            default_handle_time: Duration::from_secs(180),
            handle_time_samples: 20,
        }
    }
}

/// Who an agent is in Microsoft Teams: how the call layer rings them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TeamsIdentity {
    /// The Microsoft Entra tenant id (a GUID).
    pub tenant: String,
    /// The user's Entra object id (a GUID).
    pub user_object_id: String,
    /// The user's Teams phone number (E.164), if any.
    pub phone_number: Option<String>,
    /// The user's SIP URI, if any.
    pub sip_uri: Option<String>,
}

/// An agent's membership of one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueMembership {
    /// The queue (of the agent's tenant).
    pub queue: QueueId,
    /// Tier level, 1 (first) and up; see [`QueueConfig::tier_wait`].
    pub level: u8,
    /// Place in the queue's order for serial and round-robin (lower
    /// first; ties by agent id).
    pub position: u32,
    /// Weight for weighted-random (at least 1).
    pub weight: u32,
    /// Whether the agent takes this queue's calls now (opt in / opt out).
    pub opted_in: bool,
}

impl QueueMembership {
    /// Level 1, position 0, weight 1, opted in.
    pub fn new(queue: QueueId) -> Self {
        Self {
            queue,
            level: 1,
            position: 0,
            weight: 1,
            opted_in: true,
        }
    }
}

/// An agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// The agent's id (it names the tenant).
    pub id: AgentId,
    /// Display name.
    pub name: String,
    /// The agent's Teams identity.
    pub identity: TeamsIdentity,
    /// Skills and proficiency.
    pub skills: Vec<(SkillId, Proficiency)>,
    /// Queue memberships.
    pub queues: Vec<QueueMembership>,
    /// Consecutive alerts not answered before the agent is made not ready
    /// ([`crate::NotReadyReason::MissedAlerts`]); 0 never; default 3.
    pub max_no_answer: u32,
}

impl AgentConfig {
    /// An agent without skills or queues.
    pub fn new(id: AgentId, name: impl Into<String>, identity: TeamsIdentity) -> Self {
        Self {
            id,
            name: name.into(),
            identity,
            skills: Vec::new(),
            queues: Vec::new(),
            max_no_answer: 3,
        }
    }

    /// The agent's proficiency in `skill`; `skills` is sorted by the engine.
    pub(crate) fn proficiency(&self, skill: SkillId) -> Option<Proficiency> {
        self.skills
            .binary_search_by_key(&skill, |(id, _)| *id)
            .ok()
            .and_then(|at| self.skills.get(at))
            .map(|(_, level)| *level)
    }

    /// The agent's membership of `queue`.
    pub(crate) fn membership(&self, queue: QueueId) -> Option<&QueueMembership> {
        self.queues.iter().find(|m| m.queue == queue)
    }
}

impl EngineConfig {
    /// Checks ids, tenants, references and ranges.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let mut tenants = BTreeSet::new();
        for tenant in &self.tenants {
            if !tenants.insert(tenant.id) {
                return Err(ConfigError::DuplicateTenant(tenant.id));
            }
        }
        let known_tenant = |object: String, tenant: TenantId| {
            if tenants.contains(&tenant) {
                Ok(())
            } else {
                Err(ConfigError::UnknownTenant { object, tenant })
            }
        };
        let mut queues = BTreeSet::new();
        for queue in &self.queues {
            known_tenant(format!("queue {}", queue.id), queue.id.tenant())?;
            if !queues.insert(queue.id) {
                return Err(ConfigError::DuplicateQueue(queue.id));
            }
        }
        let mut agents = BTreeSet::new();
        for agent in &self.agents {
            known_tenant(format!("agent {}", agent.id), agent.id.tenant())?;
            if !agents.insert(agent.id) {
                return Err(ConfigError::DuplicateAgent(agent.id));
            }
        }
        for queue in &self.queues {
            check_queue(queue, &queues, &agents)?;
        }
        for agent in &self.agents {
            check_agent(agent, &queues)?;
        }
        let mut numbers = BTreeSet::new();
        for number in &self.numbers {
            let object = format!("number {}", number.number);
            if !queues.contains(&number.queue) {
                return Err(ConfigError::UnknownQueue {
                    object,
                    queue: number.queue,
                });
            }
            if !numbers.insert(number.number.as_str()) {
                return Err(ConfigError::DuplicateNumber(number.number.clone()));
            }
        }
        Ok(())
    }
}

fn check_queue(
    queue: &QueueConfig,
    queues: &BTreeSet<QueueId>,
    agents: &BTreeSet<AgentId>,
) -> Result<(), ConfigError> {
    let object = format!("queue {}", queue.id);
    let secs = queue.alert_time.as_secs();
    if !(15..=180).contains(&secs) || queue.alert_time.subsec_nanos() != 0 {
        return Err(ConfigError::OutOfRange {
            object,
            field: "alert_time",
            value: secs,
            allowed: "15..=180 whole seconds",
        });
    }
    let durations = [
        ("wrap_up", queue.wrap_up),
        ("tier_wait", queue.tier_wait),
        ("max_wait", queue.max_wait),
        ("default_handle_time", queue.default_handle_time),
        ("callback.retry_delay", queue.callback.retry_delay),
        ("callback.offer_timeout", queue.callback.offer_timeout),
    ];
    for (field, value) in durations
        .into_iter()
        .chain(
            queue
                .bullseye
                .iter()
                .map(|ring| ("bullseye.after", ring.after)),
        )
        .chain(queue.announce.iter().map(|a| ("announce.period", a.period)))
        .chain(
            queue
                .callback
                .max_age
                .iter()
                .map(|age| ("callback.max_age", *age)),
        )
    {
        if value > MAX_SETTING {
            return Err(ConfigError::OutOfRange {
                object,
                field,
                value: value.as_secs(),
                allowed: "at most 86400 seconds",
            });
        }
    }
    if let Some(announce) = &queue.announce {
        if announce.period < Duration::from_secs(1) {
            return Err(ConfigError::OutOfRange {
                object,
                field: "announce.period",
                value: announce.period.as_secs(),
                allowed: "at least 1 second",
            });
        }
    }
    if queue.callback.max_attempts == 0 {
        return Err(ConfigError::OutOfRange {
            object,
            field: "callback.max_attempts",
            value: 0,
            allowed: "at least 1",
        });
    }
    if queue.handle_time_samples == 0 || queue.handle_time_samples > 1000 {
        return Err(ConfigError::OutOfRange {
            object,
            field: "handle_time_samples",
            value: u64::from(queue.handle_time_samples),
            allowed: "1..=1000",
        });
    }
    let actions = [&queue.on_queue_full, &queue.on_max_wait]
        .into_iter()
        .chain(queue.no_agents.iter().map(|policy| &policy.action));
    for action in actions {
        check_action(&object, queue.id.tenant(), action, queues, agents)?;
    }
    Ok(())
}

fn check_action(
    object: &str,
    tenant: TenantId,
    action: &OverflowAction,
    queues: &BTreeSet<QueueId>,
    agents: &BTreeSet<AgentId>,
) -> Result<(), ConfigError> {
    let foreign = |target: String| ConfigError::CrossTenant {
        object: object.to_owned(),
        target,
    };
    match action {
        OverflowAction::Queue(queue) => {
            if queue.tenant() != tenant {
                return Err(foreign(format!("queue {queue}")));
            }
            if !queues.contains(queue) {
                return Err(ConfigError::UnknownQueue {
                    object: object.to_owned(),
                    queue: *queue,
                });
            }
        }
        OverflowAction::Agent(agent) => {
            if agent.tenant() != tenant {
                return Err(foreign(format!("agent {agent}")));
            }
            if !agents.contains(agent) {
                return Err(ConfigError::UnknownAgent {
                    object: object.to_owned(),
                    agent: *agent,
                });
            }
        }
        OverflowAction::Flow(flow) if flow.tenant() != tenant => {
            return Err(ConfigError::ForeignAsset {
                object: object.to_owned(),
                target: AssetRef::Flow(*flow),
            });
        }
        OverflowAction::Disconnect {
            prompt: Some(prompt),
        } if prompt.tenant() != tenant => {
            return Err(ConfigError::ForeignAsset {
                object: object.to_owned(),
                target: AssetRef::Prompt(*prompt),
            });
        }
        OverflowAction::Flow(_)
        | OverflowAction::Voicemail { .. }
        | OverflowAction::OfferCallback
        | OverflowAction::ExternalNumber(_)
        | OverflowAction::Disconnect { .. } => {}
    }
    Ok(())
}

fn check_agent(agent: &AgentConfig, queues: &BTreeSet<QueueId>) -> Result<(), ConfigError> {
    let object = format!("agent {}", agent.id);
    let mut seen = BTreeSet::new();
    for membership in &agent.queues {
        if membership.queue.tenant() != agent.id.tenant() {
            return Err(ConfigError::CrossTenant {
                object,
                target: format!("queue {}", membership.queue),
            });
        }
        if !queues.contains(&membership.queue) {
            return Err(ConfigError::UnknownQueue {
                object,
                queue: membership.queue,
            });
        }
        if !seen.insert(membership.queue) {
            return Err(ConfigError::DuplicateMembership {
                agent: agent.id,
                queue: membership.queue,
            });
        }
        if membership.level == 0 {
            return Err(ConfigError::OutOfRange {
                object,
                field: "queues.level",
                value: 0,
                allowed: "1..=255",
            });
        }
        if membership.weight == 0 {
            return Err(ConfigError::OutOfRange {
                object,
                field: "queues.weight",
                value: 0,
                allowed: "at least 1",
            });
        }
    }
    Ok(())
}
