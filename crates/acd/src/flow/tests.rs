//! Helpers shared by the flow tests; the example files under
//! `examples/flows`; a flow run that ends in the engine.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::{
    AgentConfig, EngineConfig, QueueConfig, QueueMembership, TeamsIdentity, TenantConfig,
};
use crate::error::FlowError;
use crate::flow::{Flow, FlowCatalog, FlowCommand, FlowRun, FlowSet, RequestId};
use crate::ids::{AgentId, PromptId, QueueId, SkillId, TenantId};
use crate::{AgentStateRequest, Command, Engine, Presence, Proficiency};

pub(crate) const TENANT: TenantId = TenantId::new(1);

pub(crate) const PROMPTS: &[&str] = &[
    "welcome",
    "menu",
    "invalid",
    "no-input",
    "enter-account",
    "closed",
    "holiday",
    "goodbye",
    "greeting",
    "contoso/welcome",
    "contoso/main-menu",
    "contoso/invalid",
    "contoso/no-input",
    "contoso/enter-account",
    "contoso/invalid-account",
    "contoso/holiday",
    "contoso/closed",
    "fabrikam/enter-invoice",
    "fabrikam/invalid",
    "fabrikam/closed",
];

/// Queues `sales` (1), `support` (2), `billing` (3) of [`TENANT`],
/// `elsewhere` of tenant 2, and the prompts of [`PROMPTS`] numbered
/// from 1 in that order.
pub(crate) fn catalog() -> FlowCatalog {
    let mut catalog = FlowCatalog::new(TENANT);
    for (n, name) in ["sales", "support", "billing"].iter().enumerate() {
        catalog
            .queues
            .insert((*name).to_owned(), QueueId::new(TENANT, n as u32 + 1));
    }
    catalog
        .queues
        .insert("elsewhere".into(), QueueId::new(TenantId::new(2), 1));
    for (n, name) in PROMPTS.iter().enumerate() {
        catalog
            .prompts
            .insert((*name).to_owned(), PromptId::new(TENANT, n as u32 + 1));
    }
    catalog
}

/// The id of a prompt of [`PROMPTS`].
pub(crate) fn prompt(name: &str) -> PromptId {
    catalog().prompts[name]
}

/// One TOML flow, loaded as `test.toml`.
pub(crate) fn load(text: &str) -> Result<Arc<Flow>, Vec<FlowError>> {
    let (set, errors) = FlowSet::from_sources(&catalog(), &[("test.toml", text)]);
    if !errors.is_empty() {
        return Err(errors);
    }
    let flow = set.iter().next().unwrap().clone();
    Ok(flow)
}

/// 2026-01-12 (a Monday) at `hh:mm` UTC.
pub(crate) fn monday_utc(hour: u64, minute: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_768_176_000 + hour * 3600 + minute * 60)
}

/// A run with a clock and its commands.
pub(crate) struct Call {
    pub(crate) run: FlowRun,
    pub(crate) now: Instant,
}

impl Call {
    pub(crate) fn start(flow: Arc<Flow>, wall: SystemTime, attributes: &[(&str, &str)]) -> Self {
        let now = Instant::now();
        let attributes: BTreeMap<String, String> = attributes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self {
            run: FlowRun::start(now, wall, flow, attributes),
            now,
        }
    }

    pub(crate) fn drain(&mut self) -> Vec<FlowCommand> {
        std::iter::from_fn(|| self.run.poll_command()).collect()
    }

    /// Moves the clock (to the millisecond) and fires due timers.
    pub(crate) fn advance(&mut self, secs: f64) {
        self.now += Duration::from_millis((secs * 1000.0).round() as u64);
        self.run.handle_timeout(self.now);
    }

    pub(crate) fn press(&mut self, keys: &str) {
        for key in keys.chars() {
            self.run.handle_digit(self.now, key);
        }
    }

    pub(crate) fn finish_prompt(&mut self, id: RequestId) {
        self.run.handle_prompt_finished(self.now, id);
    }

    /// Drains, and reports the last playback among the commands played.
    pub(crate) fn finish_played(&mut self) {
        let id = playback(&self.drain());
        self.finish_prompt(id);
    }
}

/// The id of the last playback among `commands`.
pub(crate) fn playback(commands: &[FlowCommand]) -> RequestId {
    commands
        .iter()
        .rev()
        .find_map(|c| match c {
            FlowCommand::PlayPrompts { id, .. } => Some(*id),
            _ => None,
        })
        .unwrap()
}

fn example_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/flows")
}

#[test]
fn every_example_flow_loads_without_errors() {
    let dir = example_dir();
    let files = std::fs::read_dir(&dir).unwrap().count();
    let (set, errors) = FlowSet::load_dir(&catalog(), &dir);
    assert_eq!(errors, Vec::<FlowError>::new(), "{errors:#?}");
    assert!(files >= 2);
    assert_eq!(set.len(), files);
}

#[test]
fn load_dir_reports_an_unreadable_directory() {
    let (set, errors) = FlowSet::load_dir(&catalog(), Path::new("/nonexistent/flows"));
    assert!(set.is_empty());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].file, "/nonexistent/flows");
    assert!(matches!(
        errors[0].reason,
        crate::FlowErrorKind::Unreadable(_)
    ));
}

/// Contoso's example, support path: menu 2, account number, CRM lookup
/// (gold tier, priority 7), then the engine rings an agent with the
/// CRM's notes available.
#[test]
fn example_flow_enqueues_into_the_engine() {
    let (set, errors) = FlowSet::load_dir(&catalog(), &example_dir());
    assert!(errors.is_empty(), "{errors:?}");
    let flow = set.get(crate::FlowId::new(TENANT, 1)).unwrap().clone();
    // 10:00 in New York.
    let mut call = Call::start(flow, monday_utc(15, 0), &[("caller", "+12065550100")]);
    let greeting = playback(&call.drain());
    call.finish_prompt(greeting);
    let menu = call.drain();
    assert!(menu.contains(&FlowCommand::CollectDigits {
        max_digits: 1,
        terminator: None
    }));
    call.press("2");
    let account = call.drain();
    assert_eq!(
        account[0],
        FlowCommand::StopPrompts {
            id: playback(&menu)
        }
    );
    call.finish_prompt(playback(&account));
    call.press("123456#");
    let lookup = call.drain();
    let Some(FlowCommand::HttpLookup { id, body, url, .. }) = lookup.last().cloned() else {
        panic!("{lookup:?}");
    };
    assert_eq!(url, "https://crm.contoso.example/ivr/lookup");
    assert_eq!(
        body,
        serde_json::json!({"account": "123456", "caller": "+12065550100"})
    );
    let answer = serde_json::json!({"tier": "gold", "priority": 7, "name": "Ada Lovelace"});
    let serde_json::Value::Object(answer) = answer else {
        unreachable!()
    };
    call.run.handle_http_result(call.now, id, Ok(answer));
    let commands = call.drain();
    let Some(FlowCommand::Enqueue {
        queue,
        priority,
        attributes,
    }) = commands.last().cloned()
    else {
        panic!("{commands:?}");
    };
    assert!(call.run.is_finished());
    assert_eq!(priority.0, 7);
    assert_eq!(attributes.values["segment"], "gold");

    let mut config = EngineConfig {
        tenants: vec![TenantConfig::new(TENANT, "contoso", "t1")],
        ..EngineConfig::default()
    };
    config.queues.push(QueueConfig::new(queue, "support"));
    let agent = AgentId::new(TENANT, 1);
    let mut agent_config = AgentConfig::new(agent, "Grace", TeamsIdentity::default());
    agent_config.queues.push(QueueMembership::new(queue));
    agent_config
        .skills
        .push((SkillId(1), Proficiency::new(3).unwrap()));
    config.agents.push(agent_config);
    let mut engine = Engine::new(config).unwrap();
    let now = call.now;
    engine
        .handle_agent_state_request(now, agent, AgentStateRequest::LogIn)
        .unwrap();
    engine
        .handle_presence(now, agent, Presence::Available)
        .unwrap();
    let interaction = engine
        .handle_call_arrived(now, queue.tenant(), queue, attributes, priority)
        .unwrap();
    let rung = std::iter::from_fn(|| engine.poll_command()).any(|c| {
        matches!(c, Command::RingAgent { interaction: i, agent: a, .. } if i == interaction && a == agent)
    });
    assert!(rung);
    let notes = engine.call_values(interaction).unwrap();
    assert_eq!(notes["crm_name"], "Ada Lovelace");
    assert_eq!(notes["account"], "123456");
}
