//! What the API shows and changes outside calls: the live calls, the
//! queues (a wallboard's figures), the agents with their state and Teams
//! presence; agents' state requests; presence reports from Microsoft
//! Graph.

use std::time::Instant;

use acd::{AgentId, AgentStateRequest, AgentStatus, Presence, QueueId, ReasonCode};
use serde::Serialize;

use super::Center;

/// An agent or queue by the names of the configuration.
#[derive(Debug, Clone)]
pub(super) struct Named<Id> {
    pub(super) tenant: String,
    pub(super) name: String,
    pub(super) id: Id,
}

/// Everything the API lists, at one instant.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Snapshot {
    pub(crate) calls: Vec<CallView>,
    pub(crate) queues: Vec<QueueView>,
    pub(crate) agents: Vec<AgentView>,
}

/// A call in the contact center.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CallView {
    pub(crate) id: u64,
    pub(crate) tenant: String,
    pub(crate) flow: String,
    /// `flow`, `queued`, `ringing`, `connected`, `callback`...
    pub(crate) state: String,
    pub(crate) caller: Option<String>,
    /// Supervisors, third parties and consulted parties on the call.
    pub(crate) parties: usize,
}

/// A queue's live figures.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueueView {
    pub(crate) tenant: String,
    pub(crate) name: String,
    pub(crate) waiting: usize,
    pub(crate) callbacks: usize,
    pub(crate) longest_wait_secs: Option<u64>,
    pub(crate) staffed: usize,
    pub(crate) idle: usize,
}

/// An agent's state.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AgentView {
    pub(crate) tenant: String,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) presence: String,
}

/// An agent state change asked through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AgentRequest {
    LogIn,
    LogOut,
    Available,
    NotReady(u16),
    /// Takes (true) or stops taking (false) the calls of a queue.
    Queue {
        queue: String,
        opted_in: bool,
    },
}

/// Why an agent request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AgentRequestError {
    #[error("no agent {name} in tenant {tenant}")]
    UnknownAgent { tenant: String, name: String },
    #[error("no queue {0} in the agent's tenant")]
    UnknownQueue(String),
    #[error("the ACD refused it: {0}")]
    Refused(String),
}

fn status_name(status: AgentStatus) -> &'static str {
    match status {
        AgentStatus::Offline => "offline",
        AgentStatus::Available => "available",
        AgentStatus::Reserved => "ringing",
        AgentStatus::OnCall => "on_call",
        AgentStatus::WrapUp => "wrap_up",
        AgentStatus::NotReady => "not_ready",
        _ => "other",
    }
}

fn presence_name(presence: Presence) -> &'static str {
    match presence {
        Presence::Available => "Available",
        Presence::AvailableIdle => "AvailableIdle",
        Presence::Busy => "Busy",
        Presence::BusyIdle => "BusyIdle",
        Presence::DoNotDisturb => "DoNotDisturb",
        Presence::BeRightBack => "BeRightBack",
        Presence::Away => "Away",
        Presence::Offline => "Offline",
        _ => "PresenceUnknown",
    }
}

impl Center {
    /// The calls, queues and agents now.
    pub(crate) fn snapshot(&self, now: Instant) -> Snapshot {
        let mut calls: Vec<CallView> = self
            .calls
            .iter()
            .map(|(id, call)| {
                let state = if call.offering_callback {
                    "callback_offered"
                } else if call.connected {
                    "connected"
                } else if call.originated {
                    "callback"
                } else if let Some(interaction) = call.interaction {
                    match self.engine.interaction_status(interaction) {
                        Some(acd::InteractionStatus::Ringing) => "ringing",
                        _ => "queued",
                    }
                } else {
                    "flow"
                };
                CallView {
                    id: id.0,
                    tenant: self.tenant_name(call.tenant).unwrap_or_default(),
                    flow: call.flow.clone(),
                    state: state.to_owned(),
                    caller: call.caller.clone(),
                    parties: call.parties.count(),
                }
            })
            .collect();
        calls.sort_by_key(|c| c.id);
        let queues = self
            .queue_names
            .iter()
            .filter_map(|q| {
                let snapshot = self.engine.queue_snapshot(q.id, now)?;
                Some(QueueView {
                    tenant: q.tenant.clone(),
                    name: q.name.clone(),
                    waiting: snapshot.waiting,
                    callbacks: snapshot.callbacks,
                    longest_wait_secs: snapshot.longest_wait.map(|w| w.as_secs()),
                    staffed: snapshot.staffed,
                    idle: snapshot.idle,
                })
            })
            .collect();
        let agents = self
            .agent_names
            .iter()
            .map(|a| AgentView {
                tenant: a.tenant.clone(),
                name: a.name.clone(),
                status: self
                    .engine
                    .agent_status(a.id)
                    .map_or("unknown", status_name)
                    .to_owned(),
                presence: presence_name(self.engine.agent_presence(a.id).unwrap_or_default())
                    .to_owned(),
            })
            .collect();
        Snapshot {
            calls,
            queues,
            agents,
        }
    }

    /// A tenant's name in the configuration (the SBC's).
    pub(super) fn tenant_name(&self, id: acd::TenantId) -> Option<String> {
        self.tenants
            .iter()
            .find(|(_, t)| t.id == id)
            .map(|(name, _)| name.clone())
    }

    /// An agent (or their supervisor) asks for a state change.
    pub(crate) fn handle_agent_request(
        &mut self,
        now: Instant,
        tenant: &str,
        name: &str,
        request: AgentRequest,
    ) -> Result<(), AgentRequestError> {
        self.clock = now;
        let agent = self
            .agent_names
            .iter()
            .find(|a| a.tenant == tenant && a.name == name)
            .map(|a| a.id)
            .ok_or_else(|| AgentRequestError::UnknownAgent {
                tenant: tenant.to_owned(),
                name: name.to_owned(),
            })?;
        let request = match request {
            AgentRequest::Queue { queue, opted_in } => {
                let queue = self
                    .queue_names
                    .iter()
                    .find(|q| q.tenant == tenant && q.name == queue)
                    .map(|q| q.id)
                    .ok_or(AgentRequestError::UnknownQueue(queue))?;
                let result = self.engine.handle_membership(now, agent, queue, opted_in);
                self.pump_engine();
                return result.map_err(|e| AgentRequestError::Refused(e.to_string()));
            }
            AgentRequest::LogIn => AgentStateRequest::LogIn,
            AgentRequest::LogOut => AgentStateRequest::LogOut,
            AgentRequest::Available => AgentStateRequest::Available,
            AgentRequest::NotReady(code) => AgentStateRequest::NotReady(ReasonCode(code)),
        };
        let result = self.engine.handle_agent_state_request(now, agent, request);
        self.pump_engine();
        result.map_err(|e| AgentRequestError::Refused(e.to_string()))
    }

    /// Microsoft Graph reported a Teams user's presence: routing follows
    /// it for the agents with that identity. Returns whether the user is
    /// an agent.
    pub(crate) fn handle_presence(
        &mut self,
        now: Instant,
        teams_tenant: &str,
        object_id: &str,
        presence: Presence,
    ) -> bool {
        self.clock = now;
        let agents: Vec<AgentId> = self
            .agent_names
            .iter()
            .filter(|a| {
                self.engine.agent_identity(a.id).is_some_and(|identity| {
                    identity.tenant.eq_ignore_ascii_case(teams_tenant)
                        && identity.user_object_id.eq_ignore_ascii_case(object_id)
                })
            })
            .map(|a| a.id)
            .collect();
        for agent in &agents {
            let result = self.engine.handle_presence(now, *agent, presence);
            self.engine_input(result);
        }
        self.pump_engine();
        !agents.is_empty()
    }

    /// The (Teams tenant id, object id) of every agent: whose presence
    /// to watch.
    pub(crate) fn watched_users(&self) -> Vec<(String, String)> {
        self.agent_names
            .iter()
            .filter_map(|a| {
                let identity = self.engine.agent_identity(a.id)?;
                Some((identity.tenant.clone(), identity.user_object_id.clone()))
            })
            .collect()
    }
}

/// The names of the configured agents and queues.
pub(super) fn names(config: &super::CenterConfig) -> (Vec<Named<AgentId>>, Vec<Named<QueueId>>) {
    let tenant_of = |id: acd::TenantId| {
        config
            .tenants
            .iter()
            .find(|(_, t)| t.id == id)
            .map(|(name, _)| name.clone())
            .unwrap_or_default()
    };
    let agents = config
        .engine
        .agents
        .iter()
        .map(|a| Named {
            tenant: tenant_of(a.id.tenant()),
            name: a.name.clone(),
            id: a.id,
        })
        .collect();
    let queues = config
        .engine
        .queues
        .iter()
        .map(|q| Named {
            tenant: tenant_of(q.id.tenant()),
            name: q.name.clone(),
            id: q.id,
        })
        .collect();
    (agents, queues)
}
