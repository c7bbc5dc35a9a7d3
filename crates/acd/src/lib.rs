//! switchboard's contact-center engine (ACD): tenants, numbers, queues,
//! agents, skills and interactions, routing, and the append-only event
//! log. Pure and sans-IO, in the manner of quinn-proto: no sockets, no
//! clocks, no store. Time is an input (`now: Instant` on every call),
//! decisions are [`Command`]s for the call layer, and every state change
//! is an [`Event`] with a sequence number.
//!
//! - Model: typed ids that carry their tenant ([`AgentId::tenant`]);
//!   nothing is ever offered across tenants ([`Engine`] checks the tenant
//!   on every match and every input).
//! - Agents: Teams identity, skills with proficiency 1-5
//!   ([`Proficiency`]), per-queue membership with tier level, position,
//!   weight and opt-in; states offline, available, reserved, on call,
//!   wrap-up and not ready with a reason ([`AgentStatus`]), a total
//!   state machine; Teams presence as input ([`Presence`]) with
//!   presence-based routing on by default; max-no-answer.
//! - Queues ([`QueueConfig`]): eight strategies ([`QueueStrategy`]),
//!   tiers that join after a wait, skill requirements with bullseye
//!   rings, priority with aging, fairness across queues, maximum length,
//!   maximum wait and no-agents actions ([`OverflowAction`]), alert time,
//!   wrap-up, estimated wait and position announcements, callbacks that
//!   keep the caller's place and expire after a maximum age.
//!
//! - IVR flows ([`FlowSet`], [`FlowRun`]): menus, digit collection,
//!   CRM lookups whose answers become call attributes
//!   ([`CallAttributes::values`]), branches on attributes and business
//!   hours per time zone, and a final [`FlowCommand::Enqueue`] that goes
//!   straight to [`Engine::handle_call_arrived`]; files validated at
//!   load with the file, node and reason of every problem; each run
//!   logs its nodes, failed inputs, lookups and end ([`FlowEvent`]).
//!
//! Persistence plugs in later through the `#[non_exhaustive]`
//! [`Command`] and [`EventKind`] enums.
//!
//! ```no_run
//! use std::time::Instant;
//! use acd::{
//!     AgentId, AgentStateRequest, CallAttributes, Command, Engine, EngineConfig, Presence,
//!     Priority, QueueId, TenantId,
//! };
//!
//! # fn config() -> EngineConfig { unimplemented!() }
//! # fn wait_until(_: Option<Instant>) {}
//! let mut engine = Engine::new(config())?;
//! let tenant = TenantId::new(1);
//! let agent = AgentId::new(tenant, 1);
//! engine.handle_agent_state_request(Instant::now(), agent, AgentStateRequest::LogIn)?;
//! engine.handle_presence(Instant::now(), agent, Presence::Available)?;
//! let queue = QueueId::new(tenant, 1);
//! engine.handle_call_arrived(Instant::now(), tenant, queue, CallAttributes::default(), Priority(0))?;
//! loop {
//!     while let Some(command) = engine.poll_command() {
//!         match command {
//!             Command::RingAgent { interaction, agent, .. } => {
//!                 // ring engine.agent_identity(agent) through Teams; later:
//!                 engine.handle_agent_answered(Instant::now(), interaction, agent)?;
//!             }
//!             _ => { /* carry out */ }
//!         }
//!     }
//!     while let Some(event) = engine.poll_event() {
//!         // append to the log
//!         # let _ = event;
//!     }
//!     wait_until(engine.poll_timeout());
//!     engine.handle_timeout(Instant::now());
//! }
//! # #[allow(unreachable_code)]
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod agent;
mod command;
mod config;
mod dispatch;
mod engine;
mod error;
mod event;
mod flow;
mod ids;
mod interaction;
mod presence;
#[cfg(test)]
mod proptests;
mod queue;
mod rng;
mod timer;

pub use agent::{AgentStateRequest, AgentStatus, NotReadyReason, RingOutcome};
pub use command::{CancelReason, Command, InteractionKind, OverflowReason};
pub use config::{
    AgentConfig, AnnouncePolicy, BullseyeRing, CallbackPolicy, EngineConfig, NoAgentsPolicy,
    NoAgentsScope, NumberConfig, OverflowAction, PriorityAging, QueueConfig, QueueMembership,
    QueueStrategy, SkillRequirement, TeamsIdentity, TenantConfig, MAX_SETTING,
};
pub use engine::{Engine, EngineStats, QueueSnapshot};
pub use error::{AssetRef, ConfigError, FlowError, FlowErrorKind, InputError};
pub use event::{Event, EventKind, IgnoreReason, InputKind, InteractionStatus};
pub use flow::{
    Flow, FlowCatalog, FlowCommand, FlowEvent, FlowEventKind, FlowRun, FlowSet, HttpFailure,
    RequestId, ScheduleState, TransferTarget,
};
pub use ids::{
    AgentId, FlowId, InteractionId, Priority, Proficiency, PromptId, QueueId, ReasonCode, SkillId,
    TenantId,
};
pub use interaction::{CallAttributes, EndReason};
pub use presence::Presence;
