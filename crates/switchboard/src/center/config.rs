//! `[contact_center]`: queues, agents, flows and prompts per tenant, read
//! from the raw TOML the SBC configuration keeps, checked against the
//! SBC's tenants and turned into the engine's configuration.
//!
//! ```toml
//! [contact_center]
//! flows_dir = "flows"      # <flows_dir>/<tenant>/*.toml or *.json
//! prompts_dir = "prompts"  # WAV prompts; default phrases are built in
//! data_dir = "data"        # the event log and CDRs: data/switchboard.db
//! record_calls = true      # stereo WAVs of agent calls: data/recordings/
//!
//! [contact_center.prompts]  # spoken at startup with espeak-ng if missing
//! "contoso/welcome" = "Welcome to Contoso."
//!
//! [contact_center.tenants.contoso]
//! queues = [{ name = "sales", strategy = "longest_idle", alert_secs = 20 }]
//!
//! [[contact_center.tenants.contoso.agents]]
//! name = "adele"
//! number = "+14255550123"
//! object_id = "1f7c0c52-0000-4000-8000-000000000001"
//! queues = ["sales"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use acd::{
    AgentConfig, AgentId, AnnouncePolicy, BullseyeRing, CallbackPolicy, EngineConfig,
    NoAgentsPolicy, NoAgentsScope, OverflowAction, PriorityAging, Proficiency, QueueConfig,
    QueueId, QueueMembership, QueueStrategy, SkillId, SkillRequirement, TeamsIdentity,
    TenantConfig, TenantId,
};
use anyhow::{bail, Context};
use serde::Deserialize;

/// The `[contact_center]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default = "default_flows_dir")]
    flows_dir: PathBuf,
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    /// Record every call answered by an agent (stereo WAV, caller left,
    /// agent right) into `<data_dir>/recordings/`.
    #[serde(default)]
    record_calls: bool,
    #[serde(default)]
    prompts_dir: Option<PathBuf>,
    #[serde(default)]
    prompts: BTreeMap<String, String>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    tenants: BTreeMap<String, RawTenant>,
}

fn default_flows_dir() -> PathBuf {
    PathBuf::from("flows")
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    /// Skill names; a skill's id (as flows' `enqueue` nodes give it) is
    /// its place in this list, from 1.
    #[serde(default)]
    skills: Vec<String>,
    #[serde(default)]
    queues: Vec<RawQueue>,
    #[serde(default)]
    agents: Vec<RawAgent>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    name: String,
    #[serde(default)]
    strategy: Strategy,
    /// Agent alert time, 15-180 s (default 30).
    #[serde(default = "default_alert_secs")]
    alert_secs: u64,
    #[serde(default)]
    wrap_up_secs: u64,
    /// Most callers waiting (default 50); beyond, `overflow` applies.
    #[serde(default = "default_max_length")]
    max_length: u32,
    /// Longest wait (default 1200 s); beyond, `overflow` applies.
    #[serde(default = "default_max_wait_secs")]
    max_wait_secs: u64,
    /// What a call that overflows (queue full, waited too long) does
    /// (default: disconnect).
    #[serde(default)]
    overflow: Option<RawOverflow>,
    /// Announce position and estimated wait every this many seconds
    /// (and once on entry); off by default.
    #[serde(default)]
    announce_secs: Option<u64>,
    /// Callbacks (`overflow = "callback"`): attempts and delays.
    #[serde(default)]
    callback: Option<RawCallback>,
    /// Skills every call needs: `{ french = 3 }` (proficiency 1-5).
    #[serde(default)]
    requires: BTreeMap<String, u8>,
    /// Bullseye rings: `[{ after_secs = 30, lower_by = 1, drop = ["french"] }]`.
    #[serde(default)]
    bullseye: Vec<RawRing>,
    /// Agents of tier level n join a call after it waited (n - 1) x this.
    #[serde(default)]
    tier_wait_secs: u64,
    /// Priority aging: `{ points_per_minute = 1, max_bonus = 10 }`.
    #[serde(default)]
    aging: Option<RawAging>,
    /// Without agents: `{ action = "disconnect" | { queue = ... } ...,
    /// all_calls = false }`; default: calls wait.
    #[serde(default)]
    no_agents: Option<RawNoAgents>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRing {
    after_secs: u64,
    #[serde(default)]
    lower_by: u8,
    #[serde(default)]
    drop: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAging {
    points_per_minute: u32,
    max_bonus: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNoAgents {
    action: RawOverflow,
    /// Also the waiting calls when the last agent leaves.
    #[serde(default)]
    all_calls: bool,
}

/// `callback = { attempts = 3, retry_secs = 300, offer_secs = 15,
/// max_age_secs = 14400 }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCallback {
    /// Tries to reach the customer (default 3).
    #[serde(default = "default_callback_attempts")]
    attempts: u32,
    /// Wait between two tries (default 300 s).
    #[serde(default = "default_callback_retry_secs")]
    retry_secs: u64,
    /// How long the caller has to accept the offer (default 15 s).
    #[serde(default = "default_callback_offer_secs")]
    offer_secs: u64,
    /// A callback no agent took by then is dropped (default: never).
    #[serde(default)]
    max_age_secs: Option<u64>,
}

fn default_callback_attempts() -> u32 {
    3
}

fn default_callback_retry_secs() -> u64 {
    300
}

fn default_callback_offer_secs() -> u64 {
    15
}

fn default_alert_secs() -> u64 {
    30
}

fn default_max_length() -> u32 {
    50
}

fn default_max_wait_secs() -> u64 {
    1200
}

/// `overflow = "disconnect"`, `{ disconnect_with = "all-agents-busy" }`
/// (a prompt, then hang up), `"callback"` (offer to call back),
/// `{ queue = "sales" }`, `{ flow = "main" }`, `{ number = "+1..." }`,
/// `{ agent = "adele" }` or `{ voicemail = "support" }` (a mailbox).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum RawOverflow {
    Disconnect,
    DisconnectWith(String),
    Callback,
    Queue(String),
    Flow(String),
    Number(String),
    Agent(String),
    Voicemail(String),
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Strategy {
    #[default]
    LongestIdle,
    RoundRobin,
    RingAll,
    Serial,
    LeastTalkTime,
    FewestCalls,
    Random,
    WeightedRandom,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    name: String,
    /// The Teams phone number (E.164) the agent is rung on.
    number: String,
    object_id: String,
    /// `["sales", { queue = "support", level = 2, position = 1, weight = 3 }]`.
    #[serde(default)]
    queues: Vec<RawMembership>,
    /// `{ french = 4 }` (proficiency 1-5).
    #[serde(default)]
    skills: BTreeMap<String, u8>,
    /// Alerts missed in a row before the agent is made not ready
    /// (default 3; 0 never).
    #[serde(default)]
    max_no_answer: Option<u32>,
}

/// A queue by name, or with its tier level, order and weight.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawMembership {
    Name(String),
    Detailed {
        queue: String,
        #[serde(default = "default_level")]
        level: u8,
        #[serde(default)]
        position: u32,
        #[serde(default = "default_weight")]
        weight: u32,
    },
}

fn default_level() -> u8 {
    1
}

fn default_weight() -> u32 {
    1
}

/// The contact center's settings, resolved.
#[derive(Debug, Clone)]
pub(crate) struct CenterConfig {
    pub(crate) engine: EngineConfig,
    /// Tenants by the SBC's tenant name: id, flows directory, queue ids.
    pub(crate) tenants: BTreeMap<String, TenantSetup>,
    pub(crate) prompts_dir: Option<PathBuf>,
    /// The event log and CDRs: `<data_dir>/switchboard.db` (SQLite).
    pub(crate) database: PathBuf,
    /// Where call recordings go, when calls are recorded.
    pub(crate) recordings: Option<PathBuf>,
    /// Where voicemail messages go: `<data_dir>/voicemail/<mailbox>/`.
    pub(crate) voicemail: PathBuf,
    /// Prompt texts to speak at startup when their file is missing.
    pub(crate) prompt_texts: BTreeMap<String, String>,
    /// Agents' presence comes from Microsoft Graph (`[graph]`); without
    /// it they count as Available.
    pub(crate) presence_from_graph: bool,
}

/// A queue's action naming a flow or prompt, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LateAction {
    /// Its overflows run the flow.
    OverflowFlow(QueueId, String),
    /// Its overflows play the prompt, then hang up.
    OverflowGoodbye(QueueId, String),
    /// Without agents, calls hear the prompt, then are hung up.
    NoAgentsGoodbye(QueueId, String),
}

/// One tenant of the contact center.
#[derive(Debug, Clone)]
pub(crate) struct TenantSetup {
    pub(crate) id: TenantId,
    pub(crate) flows_dir: PathBuf,
    pub(crate) queues: BTreeMap<String, QueueId>,
    /// Queue actions that name a flow or a prompt, resolved to their ids
    /// once those are loaded.
    pub(crate) late_actions: Vec<LateAction>,
}

impl CenterConfig {
    /// Reads `[contact_center]` of a configuration whose tenants are
    /// `sbc_tenants` (name -> Teams tenant id); relative paths are taken
    /// from `base` (`serve` uses the working directory, as for TLS files).
    pub(crate) fn from_value(
        value: toml::Value,
        sbc_tenants: &BTreeMap<String, String>,
        base: &Path,
    ) -> anyhow::Result<CenterConfig> {
        let raw: Raw = value.try_into().context("[contact_center] is not valid")?;
        let mut engine = EngineConfig {
            tenants: Vec::new(),
            numbers: Vec::new(),
            queues: Vec::new(),
            agents: Vec::new(),
            seed: raw.seed.unwrap_or(1),
        };
        let mut tenants = BTreeMap::new();
        for (index, (name, tenant)) in raw.tenants.iter().enumerate() {
            let Some(teams_tenant_id) = sbc_tenants.get(name) else {
                bail!(
                    "[contact_center.tenants.{name}]: no [tenants.{name}] in the SBC configuration"
                );
            };
            let id = TenantId::new(index as u32 + 1);
            let skills = &tenant.skills;
            engine
                .tenants
                .push(TenantConfig::new(id, name.clone(), teams_tenant_id.clone()));
            let mut queues = BTreeMap::new();
            for (q, queue) in tenant.queues.iter().enumerate() {
                queues.insert(queue.name.clone(), QueueId::new(id, q as u32 + 1));
            }
            let agent_ids: BTreeMap<&str, AgentId> = tenant
                .agents
                .iter()
                .enumerate()
                .map(|(a, agent)| (agent.name.as_str(), AgentId::new(id, a as u32 + 1)))
                .collect();
            let mut late_actions = Vec::new();
            let mut seen: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
            for (q, queue) in tenant.queues.iter().enumerate() {
                if !(15..=180).contains(&queue.alert_secs) {
                    bail!(
                        "[contact_center.tenants.{name}] queue {}: alert_secs must be 15..=180",
                        queue.name
                    );
                }
                let queue_id = QueueId::new(id, q as u32 + 1);
                if !seen.insert(queue.name.as_str()) {
                    bail!(
                        "[contact_center.tenants.{name}]: queue {} twice",
                        queue.name
                    );
                }
                let mut config = QueueConfig::new(queue_id, queue.name.clone());
                config.strategy = queue.strategy.into();
                config.alert_time = Duration::from_secs(queue.alert_secs);
                config.wrap_up = Duration::from_secs(queue.wrap_up_secs);
                config.max_queue_length = queue.max_length;
                config.max_wait = Duration::from_secs(queue.max_wait_secs);
                config.announce = queue.announce_secs.map(|secs| AnnouncePolicy {
                    period: Duration::from_secs(secs.max(10)),
                    on_entry: true,
                });
                let place = || format!("[contact_center.tenants.{name}] queue {}", queue.name);
                let targets = Targets {
                    queues: &queues,
                    agents: &agent_ids,
                    this: queue_id,
                };
                let action = match &queue.overflow {
                    Some(raw) => targets.action(raw).with_context(place)?,
                    None => OverflowAction::Disconnect { prompt: None },
                };
                match &queue.overflow {
                    Some(RawOverflow::Flow(flow)) => {
                        late_actions.push(LateAction::OverflowFlow(queue_id, flow.clone()));
                    }
                    Some(RawOverflow::DisconnectWith(prompt)) => {
                        late_actions.push(LateAction::OverflowGoodbye(queue_id, prompt.clone()));
                    }
                    _ => {}
                }
                config.requirements = requirements(&queue.requires, skills).with_context(place)?;
                for ring in &queue.bullseye {
                    let drop = ring
                        .drop
                        .iter()
                        .map(|skill| skill_id(skills, skill))
                        .collect::<anyhow::Result<_>>()
                        .with_context(place)?;
                    config.bullseye.push(BullseyeRing {
                        after: Duration::from_secs(ring.after_secs),
                        lower_by: ring.lower_by,
                        drop,
                    });
                }
                config.bullseye.sort_by_key(|ring| ring.after);
                config.tier_wait = Duration::from_secs(queue.tier_wait_secs);
                if let Some(aging) = &queue.aging {
                    config.aging = PriorityAging {
                        points_per_minute: aging.points_per_minute,
                        max_bonus: aging.max_bonus,
                    };
                }
                if let Some(no_agents) = &queue.no_agents {
                    match &no_agents.action {
                        RawOverflow::Flow(_) => bail!("{}: no_agents cannot run a flow", place()),
                        RawOverflow::DisconnectWith(prompt) => {
                            late_actions.push(LateAction::NoAgentsGoodbye(queue_id, prompt.clone()))
                        }
                        _ => {}
                    }
                    config.no_agents = Some(NoAgentsPolicy {
                        action: targets.action(&no_agents.action).with_context(place)?,
                        scope: if no_agents.all_calls {
                            NoAgentsScope::AllCalls
                        } else {
                            NoAgentsScope::NewCalls
                        },
                    });
                }
                if let Some(callback) = &queue.callback {
                    if callback.attempts == 0 {
                        bail!("{}: callback attempts must be at least 1", place());
                    }
                    config.callback = CallbackPolicy {
                        max_attempts: callback.attempts,
                        retry_delay: Duration::from_secs(callback.retry_secs),
                        offer_timeout: Duration::from_secs(callback.offer_secs.max(5)),
                        max_age: callback.max_age_secs.map(Duration::from_secs),
                    };
                }
                config.on_queue_full = action.clone();
                config.on_max_wait = action;
                engine.queues.push(config);
            }
            for (a, agent) in tenant.agents.iter().enumerate() {
                if sbc::E164::parse(&agent.number).is_err() {
                    bail!(
                        "[contact_center.tenants.{name}] agent {}: number is not E.164",
                        agent.name
                    );
                }
                let identity = TeamsIdentity {
                    tenant: teams_tenant_id.clone(),
                    user_object_id: agent.object_id.clone(),
                    phone_number: Some(agent.number.clone()),
                    sip_uri: None,
                };
                let mut config =
                    AgentConfig::new(AgentId::new(id, a as u32 + 1), agent.name.clone(), identity);
                let place = || format!("[contact_center.tenants.{name}] agent {}", agent.name);
                for membership in &agent.queues {
                    let (queue, level, position, weight) = match membership {
                        RawMembership::Name(queue) => (queue, 1, 0, 1),
                        RawMembership::Detailed {
                            queue,
                            level,
                            position,
                            weight,
                        } => (queue, *level, *position, *weight),
                    };
                    let Some(queue_id) = queues.get(queue) else {
                        bail!("{}: no queue {queue}", place());
                    };
                    if level == 0 || weight == 0 {
                        bail!("{}: queue {queue}: level and weight start at 1", place());
                    }
                    let mut joined = QueueMembership::new(*queue_id);
                    (joined.level, joined.position, joined.weight) = (level, position, weight);
                    config.queues.push(joined);
                }
                for requirement in requirements(&agent.skills, skills).with_context(place)? {
                    config.skills.push((requirement.skill, requirement.min));
                }
                if let Some(max) = agent.max_no_answer {
                    config.max_no_answer = max;
                }
                engine.agents.push(config);
            }
            tenants.insert(
                name.clone(),
                TenantSetup {
                    id,
                    flows_dir: base.join(&raw.flows_dir).join(name),
                    queues,
                    late_actions,
                },
            );
        }
        Ok(CenterConfig {
            engine,
            tenants,
            prompts_dir: raw.prompts_dir.map(|dir| base.join(dir)),
            database: base.join(&raw.data_dir).join("switchboard.db"),
            voicemail: base.join(&raw.data_dir).join("voicemail"),
            recordings: raw
                .record_calls
                .then(|| base.join(&raw.data_dir).join("recordings")),
            prompt_texts: raw.prompts,
            presence_from_graph: false,
        })
    }
}

/// What overflow actions may name in one tenant.
struct Targets<'a> {
    queues: &'a BTreeMap<String, QueueId>,
    agents: &'a BTreeMap<&'a str, AgentId>,
    this: QueueId,
}

impl Targets<'_> {
    /// The engine's action for `raw` (a flow is resolved by the caller).
    fn action(&self, raw: &RawOverflow) -> anyhow::Result<OverflowAction> {
        Ok(match raw {
            // The prompt and the flow are resolved once the prompts and
            // flows are loaded (`TenantSetup::late_actions`).
            RawOverflow::Disconnect | RawOverflow::DisconnectWith(_) | RawOverflow::Flow(_) => {
                OverflowAction::Disconnect { prompt: None }
            }
            RawOverflow::Callback => OverflowAction::OfferCallback,
            RawOverflow::Queue(other) => match self.queues.get(other) {
                Some(other) if *other != self.this => OverflowAction::Queue(*other),
                _ => bail!("overflow to unknown or same queue {other}"),
            },
            RawOverflow::Number(number) => {
                if sbc::E164::parse(number).is_err() {
                    bail!("overflow number {number} is not E.164");
                }
                OverflowAction::ExternalNumber(number.clone())
            }
            RawOverflow::Voicemail(mailbox) => OverflowAction::Voicemail {
                mailbox: mailbox.clone(),
            },
            RawOverflow::Agent(agent) => match self.agents.get(agent.as_str()) {
                Some(agent) => OverflowAction::Agent(*agent),
                None => bail!("overflow to unknown agent {agent}"),
            },
        })
    }
}

/// A skill's id: its place in the tenant's `skills`, from 1.
fn skill_id(skills: &[String], name: &str) -> anyhow::Result<SkillId> {
    skills
        .iter()
        .position(|s| s == name)
        .map(|i| SkillId(i as u32 + 1))
        .ok_or_else(|| anyhow::anyhow!("unknown skill {name} (not in the tenant's skills)"))
}

/// `{ skill = level }` as requirements (level 1-5).
fn requirements(
    levels: &BTreeMap<String, u8>,
    skills: &[String],
) -> anyhow::Result<Vec<SkillRequirement>> {
    levels
        .iter()
        .map(|(skill, level)| {
            let min = Proficiency::new(*level)
                .ok_or_else(|| anyhow::anyhow!("skill {skill}: level {level} is not 1-5"))?;
            Ok(SkillRequirement {
                skill: skill_id(skills, skill)?,
                min,
            })
        })
        .collect()
}

impl From<Strategy> for QueueStrategy {
    fn from(strategy: Strategy) -> Self {
        match strategy {
            Strategy::LongestIdle => QueueStrategy::LongestIdle,
            Strategy::RoundRobin => QueueStrategy::RoundRobin,
            Strategy::RingAll => QueueStrategy::RingAll,
            Strategy::Serial => QueueStrategy::Serial,
            Strategy::LeastTalkTime => QueueStrategy::LeastTalkTime,
            Strategy::FewestCalls => QueueStrategy::FewestCalls,
            Strategy::Random => QueueStrategy::Random,
            Strategy::WeightedRandom => QueueStrategy::WeightedRandom,
        }
    }
}
