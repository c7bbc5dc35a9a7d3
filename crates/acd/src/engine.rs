//! The engine: all tenants' queues, agents and interactions, driven by
//! `handle_*` inputs and drained through `poll_*` outputs.
//!
//! After every input the engine dispatches to a fixpoint: no waiting
//! interaction is left with a free agent who qualifies for it. Work is
//! event-driven, never a sweep over all agents x all calls:
//!
//! - a call joins, returns from a failed ring, or gains agents over time
//!   (a bullseye ring opens, a tier joins; one timer per caller): the
//!   queue's strategy picks among the queue's free agents
//!   ([`crate::dispatch`], O(log n) without skill filters);
//! - an agent becomes free (available, presence, opt-in): it takes the
//!   best caller across its queues, by aged score then arrival
//!   (fairness), looking only at the head of each class of callers
//!   (priority x skills of their own, [`crate::queue`]): O(queues of the
//!   agent x classes x priorities), whatever the length of the lines;
//! - a caller's place in line is a binary search per priority,
//!   O(priorities x log n);
//! - timers live in one ordered map, O(log t).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::agent::{
    deadline, Agent, AgentInput, AgentState, AgentStateRequest, AgentStatus, Outcome, RingOutcome,
};
use crate::command::{CancelReason, Command, InteractionKind, OverflowReason};
use crate::config::{EngineConfig, NoAgentsScope, OverflowAction, QueueStrategy, TeamsIdentity};
use crate::dispatch::{rank, ring_for, select};
use crate::error::{ConfigError, InputError};
use crate::event::{Event, EventKind, IgnoreReason, InputKind, InteractionStatus};
use crate::ids::{AgentId, InteractionId, Priority, QueueId, TenantId};
use crate::interaction::{
    CallAttributes, Callback, EndReason, Interaction, InteractionState, InteractionTimers,
};
use crate::presence::Presence;
use crate::queue::{IdleKey, LineOrder, Queue};
use crate::rng::XorShift;
use crate::timer::{Timer, TimerKey, Timers};

/// Overflows to another queue one call may take before it is
/// disconnected (ends loops such as A -> B -> A).
const MAX_QUEUE_HOPS: u8 = 8;

/// Counters kept beside the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineStats {
    /// Inputs that did not apply (each also logged as
    /// [`EventKind::InputIgnored`]).
    pub ignored_inputs: u64,
    /// Events logged.
    pub events: u64,
    /// Commands issued.
    pub commands: u64,
}

/// A queue's state for wallboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueSnapshot {
    /// Calls in line (callbacks not counted).
    pub waiting: usize,
    /// Callbacks in line.
    pub callbacks: usize,
    /// The longest current wait in line.
    pub longest_wait: Option<Duration>,
    /// Agents logged in and opted in.
    pub staffed: usize,
    /// Agents free for the queue now.
    pub idle: usize,
}

struct Tenant {
    presence_routing: bool,
    next_interaction: u64,
}

/// The contact-center engine (sans-IO).
///
/// Feed it inputs with `handle_*` (each takes `now`; an earlier `now`
/// than before is treated as the latest seen), then drain, in this
/// order: [`Engine::poll_command`] until `None` (carry each out),
/// [`Engine::poll_event`] until `None` (append to the log), and
/// [`Engine::poll_timeout`] for when to call [`Engine::handle_timeout`].
pub struct Engine {
    tenants: BTreeMap<TenantId, Tenant>,
    numbers: BTreeMap<String, QueueId>,
    queues: BTreeMap<QueueId, Queue>,
    agents: BTreeMap<AgentId, Agent>,
    interactions: BTreeMap<InteractionId, Interaction>,
    next_place: u64,
    timers: Timers,
    commands: VecDeque<Command>,
    events: VecDeque<Event>,
    next_seq: u64,
    clock: Option<Instant>,
    rng: XorShift,
    dirty_calls: Vec<InteractionId>,
    dirty_agents: VecDeque<AgentId>,
    emptied: Vec<QueueId>,
    stats: EngineStats,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("tenants", &self.tenants.len())
            .field("queues", &self.queues.len())
            .field("agents", &self.agents.len())
            .field("interactions", &self.interactions.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine for `config`, every agent offline. Refuses duplicate
    /// ids, references across tenants, unknown references and settings
    /// out of range.
    pub fn new(config: EngineConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut engine = Self {
            tenants: BTreeMap::new(),
            numbers: BTreeMap::new(),
            queues: BTreeMap::new(),
            agents: BTreeMap::new(),
            interactions: BTreeMap::new(),
            next_place: 0,
            timers: Timers::default(),
            commands: VecDeque::new(),
            events: VecDeque::new(),
            next_seq: 0,
            clock: None,
            rng: XorShift::new(config.seed),
            dirty_calls: Vec::new(),
            dirty_agents: VecDeque::new(),
            emptied: Vec::new(),
            stats: EngineStats::default(),
        };
        for tenant in config.tenants {
            engine.tenants.insert(
                tenant.id,
                Tenant {
                    presence_routing: tenant.presence_routing,
                    next_interaction: 1,
                },
            );
        }
        for queue in config.queues {
            engine.queues.insert(queue.id, Queue::new(queue));
        }
        for agent in config.agents {
            for membership in &agent.queues {
                if let Some(queue) = engine.queues.get_mut(&membership.queue) {
                    queue.levels.insert(membership.level);
                }
            }
            engine.agents.insert(agent.id, Agent::new(agent));
        }
        for number in config.numbers {
            engine.numbers.insert(number.number, number.queue);
        }
        Ok(engine)
    }

    // ----- outputs -----

    /// The next order for the call layer.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// The next entry of the event log.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Engine::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    // ----- queries -----

    /// The queue a phone number leads to.
    pub fn queue_for_number(&self, number: &str) -> Option<QueueId> {
        self.numbers.get(number).copied()
    }

    /// An agent's state.
    pub fn agent_status(&self, agent: AgentId) -> Option<AgentStatus> {
        self.agents.get(&agent).map(|a| a.machine.state.status())
    }

    /// An agent's Teams identity (how to ring them).
    pub fn agent_identity(&self, agent: AgentId) -> Option<&TeamsIdentity> {
        self.agents.get(&agent).map(|a| &a.config.identity)
    }

    /// An agent's last reported Teams presence.
    pub fn agent_presence(&self, agent: AgentId) -> Option<Presence> {
        self.agents.get(&agent).map(|a| a.presence)
    }

    /// An interaction's state; `None` once it ended.
    pub fn interaction_status(&self, interaction: InteractionId) -> Option<InteractionStatus> {
        self.interactions
            .get(&interaction)
            .map(|call| call.state.status())
    }

    /// The named values the call arrived with
    /// ([`CallAttributes::values`]: IVR input, CRM lookup results), for
    /// the agent's screen when it rings; a callback keeps its call's.
    /// `None` once the interaction ended.
    pub fn call_values(&self, interaction: InteractionId) -> Option<&BTreeMap<String, String>> {
        self.interactions.get(&interaction).map(|call| &call.values)
    }

    /// A queue's counts at `now`.
    pub fn queue_snapshot(&self, queue: QueueId, now: Instant) -> Option<QueueSnapshot> {
        let queue = self.queues.get(&queue)?;
        Some(QueueSnapshot {
            waiting: queue.voice_len(),
            callbacks: queue.len() - queue.voice_len(),
            longest_wait: queue.longest_wait(now),
            staffed: queue.staffed,
            idle: queue.idle.len(),
        })
    }

    /// Estimated wait for the caller at `position` (1 = next):
    /// `AHT x position / N`, where AHT is the mean handle time (talk plus
    /// wrap-up) of the queue's last `handle_time_samples` calls (the
    /// configured default before any) and N the agents staffing the queue
    /// (logged in, opted in, not signed out of Teams). `None` when no
    /// agent staffs it.
    pub fn estimated_wait(&self, queue: QueueId, position: u32) -> Option<Duration> {
        self.queues.get(&queue)?.estimated_wait(position)
    }

    /// Counters.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    // ----- inputs -----

    /// A call arrived for `queue` of `tenant` (after any IVR). Returns the
    /// id the engine gave it.
    pub fn handle_call_arrived(
        &mut self,
        now: Instant,
        tenant: TenantId,
        queue: QueueId,
        attributes: CallAttributes,
        priority: Priority,
    ) -> Result<InteractionId, InputError> {
        if !self.tenants.contains_key(&tenant) {
            return Err(InputError::UnknownTenant(tenant));
        }
        if queue.tenant() != tenant {
            return Err(InputError::CrossTenant {
                first: tenant.to_string(),
                second: queue.to_string(),
            });
        }
        if !self.queues.contains_key(&queue) {
            return Err(InputError::UnknownQueue(queue));
        }
        let now = self.tick(now);
        let id = self.new_interaction_id(tenant)?;
        let place = self.take_place();
        self.interactions.insert(
            id,
            Interaction {
                id,
                callback: None,
                queue,
                priority,
                skills: attributes.skills,
                values: attributes.values,
                entered_at: now,
                place,
                original_position: 0,
                hops: 0,
                tried: Default::default(),
                state: InteractionState::Waiting,
                timers: InteractionTimers::default(),
            },
        );
        self.enqueue(id, now);
        self.dispatch(now);
        Ok(id)
    }

    /// The agent answered the ring.
    pub fn handle_agent_answered(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        agent: AgentId,
    ) -> Result<(), InputError> {
        let input = InputKind::AgentAnswered;
        let Some(now) = self.live_pair(now, interaction, agent, input)? else {
            return Ok(());
        };
        let Some(call) = self.interactions.get(&interaction) else {
            return Ok(());
        };
        let queue = call.queue;
        let ringing = match &call.state {
            InteractionState::Ringing { agents, .. } if agents.contains(&agent) => agents.clone(),
            InteractionState::Ringing { .. } => {
                self.ignore(
                    now,
                    input,
                    Some(agent),
                    Some(interaction),
                    IgnoreReason::NotRinging,
                );
                return Ok(());
            }
            other => {
                let reason = IgnoreReason::InteractionState(other.status());
                self.ignore(now, input, Some(agent), Some(interaction), reason);
                return Ok(());
            }
        };
        if self.step_agent(agent, now, AgentInput::Answered { interaction }) != Outcome::Applied {
            let reason = IgnoreReason::AgentState(self.status_of(agent));
            self.ignore(now, input, Some(agent), Some(interaction), reason);
            return Ok(());
        }
        for other in ringing.into_iter().filter(|other| *other != agent) {
            self.cancel_ring(
                now,
                interaction,
                queue,
                other,
                CancelReason::AnsweredElsewhere,
            );
        }
        self.leave_line_timers(interaction);
        let Some(call) = self.interactions.get_mut(&interaction) else {
            return Ok(());
        };
        let wait = now.saturating_duration_since(call.entered_at);
        let kind = call.kind();
        match &mut call.callback {
            None => {
                call.state = InteractionState::Connected { agent, since: now };
                self.push_command(Command::Connect { interaction, agent });
            }
            Some(callback) => {
                callback.attempts = callback.attempts.saturating_add(1);
                let command = Command::PlaceCallback {
                    interaction,
                    agent,
                    number: callback.number.clone(),
                    attempt: callback.attempts,
                };
                call.state = InteractionState::CallbackDialing { agent };
                self.push_command(command);
            }
        }
        self.emit(
            now,
            interaction.tenant(),
            EventKind::Answered {
                interaction,
                queue,
                agent,
                kind,
                wait,
            },
        );
        self.dispatch(now);
        Ok(())
    }

    /// The agent declined the ring.
    pub fn handle_agent_rejected(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        agent: AgentId,
    ) -> Result<(), InputError> {
        self.ring_failed_input(now, interaction, agent, RingOutcome::Rejected)
    }

    /// The call layer gave up ringing the agent (no answer, busy,
    /// unreachable) before the engine's alert time.
    pub fn handle_agent_no_answer(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        agent: AgentId,
    ) -> Result<(), InputError> {
        self.ring_failed_input(now, interaction, agent, RingOutcome::NoAnswer)
    }

    /// The interaction ended: a caller who hangs up while waiting or
    /// ringing abandons; a connected call completes (the agent wraps up).
    pub fn handle_call_ended(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        reason: EndReason,
    ) -> Result<(), InputError> {
        let live = self.check_interaction(interaction)?;
        let now = self.tick(now);
        if !live {
            let reason = IgnoreReason::InteractionGone;
            self.ignore(now, InputKind::CallEnded, None, Some(interaction), reason);
            return Ok(());
        }
        let Some(call) = self.interactions.get(&interaction) else {
            return Ok(());
        };
        let (queue_id, state, kind) = (call.queue, call.state.clone(), call.kind());
        let (waiter, original_position) = (call.waiter(), call.original_position);
        let tenant = interaction.tenant();
        match state {
            InteractionState::Waiting | InteractionState::Ringing { .. } => {
                let while_ringing = matches!(state, InteractionState::Ringing { .. });
                if let InteractionState::Ringing { agents, .. } = &state {
                    for agent in agents {
                        self.cancel_ring(
                            now,
                            interaction,
                            queue_id,
                            *agent,
                            CancelReason::CallerGone,
                        );
                    }
                }
                let Some(queue) = self.queues.get_mut(&queue_id) else {
                    return Ok(());
                };
                queue.remove(waiter.priority, waiter.place);
                let position = queue.position(&waiter, now);
                let wait = now.saturating_duration_since(waiter.entered_at);
                let event = match (kind, reason) {
                    (InteractionKind::Callback, _) => EventKind::CallbackCancelled {
                        interaction,
                        queue: queue_id,
                    },
                    (InteractionKind::Voice, EndReason::CallerHangup) => EventKind::Abandoned {
                        interaction,
                        queue: queue_id,
                        wait,
                        position,
                        original_position,
                        while_ringing,
                    },
                    (InteractionKind::Voice, reason) => EventKind::Dequeued {
                        interaction,
                        queue: queue_id,
                        wait,
                        reason,
                    },
                };
                self.emit(now, tenant, event);
            }
            InteractionState::Connected { agent, since } => {
                let talk = now.saturating_duration_since(since);
                let wrap_up = self
                    .queues
                    .get(&queue_id)
                    .map_or(Duration::ZERO, |queue| queue.config.wrap_up);
                self.emit(
                    now,
                    tenant,
                    EventKind::Completed {
                        interaction,
                        queue: queue_id,
                        agent,
                        talk,
                        reason,
                    },
                );
                if let Some(record) = self.agents.get_mut(&agent) {
                    record.calls = record.calls.saturating_add(1);
                    record.talk = record.talk.saturating_add(talk);
                    if wrap_up.is_zero() {
                        record.wrapping = None;
                        if let Some(queue) = self.queues.get_mut(&queue_id) {
                            queue.record_handle_time(talk);
                        }
                    } else {
                        record.wrapping = Some((interaction, queue_id, talk));
                    }
                }
                self.step_agent(
                    agent,
                    now,
                    AgentInput::CallEnded {
                        interaction,
                        wrap_up,
                    },
                );
            }
            InteractionState::CallbackDialing { agent } => {
                let input = AgentInput::CallEnded {
                    interaction,
                    wrap_up: Duration::ZERO,
                };
                self.step_agent(agent, now, input);
                let event = EventKind::CallbackCancelled {
                    interaction,
                    queue: queue_id,
                };
                self.emit(now, tenant, event);
            }
            InteractionState::CallbackRetryWait { .. }
            | InteractionState::CallbackOffered { .. } => {
                let event = EventKind::CallbackCancelled {
                    interaction,
                    queue: queue_id,
                };
                self.emit(now, tenant, event);
            }
        }
        self.forget(interaction);
        self.dispatch(now);
        Ok(())
    }

    /// The agent's Teams presence changed.
    pub fn handle_presence(
        &mut self,
        now: Instant,
        agent: AgentId,
        presence: Presence,
    ) -> Result<(), InputError> {
        self.check_agent(agent)?;
        let now = self.tick(now);
        let Some(record) = self.agents.get_mut(&agent) else {
            return Ok(());
        };
        if record.presence == presence {
            self.ignore(
                now,
                InputKind::Presence,
                Some(agent),
                None,
                IgnoreReason::Unchanged,
            );
            return Ok(());
        }
        record.presence = presence;
        self.emit(
            now,
            agent.tenant(),
            EventKind::PresenceChanged { agent, presence },
        );
        self.sync_agent(agent);
        self.dispatch(now);
        Ok(())
    }

    /// The agent (or a supervisor) asks to log in or out, to be available
    /// or not ready.
    pub fn handle_agent_state_request(
        &mut self,
        now: Instant,
        agent: AgentId,
        request: AgentStateRequest,
    ) -> Result<(), InputError> {
        self.check_agent(agent)?;
        let now = self.tick(now);
        match self.step_agent(agent, now, AgentInput::Request(request)) {
            Outcome::Applied => {}
            Outcome::Ignored => {
                let reason = IgnoreReason::AgentState(self.status_of(agent));
                let input = InputKind::AgentStateRequest(request);
                self.ignore(now, input, Some(agent), None, reason);
            }
            Outcome::OfferWithdrawn(interaction) => {
                let queue = self.interactions.get(&interaction).map(|call| call.queue);
                if let Some(queue) = queue {
                    self.push_command(Command::CancelRing {
                        interaction,
                        agent,
                        reason: CancelReason::AgentUnavailable,
                    });
                    self.emit(
                        now,
                        agent.tenant(),
                        EventKind::RingCancelled {
                            interaction,
                            queue,
                            agent,
                            reason: CancelReason::AgentUnavailable,
                        },
                    );
                    self.release_ring(interaction, agent, false, now);
                }
            }
        }
        self.dispatch(now);
        Ok(())
    }

    /// The agent opts in to (or out of) one of their queues.
    pub fn handle_membership(
        &mut self,
        now: Instant,
        agent: AgentId,
        queue: QueueId,
        opted_in: bool,
    ) -> Result<(), InputError> {
        self.check_agent(agent)?;
        if queue.tenant() != agent.tenant() {
            return Err(InputError::CrossTenant {
                first: agent.to_string(),
                second: queue.to_string(),
            });
        }
        let now = self.tick(now);
        let Some(record) = self.agents.get_mut(&agent) else {
            return Ok(());
        };
        let Some(membership) = record.config.queues.iter_mut().find(|m| m.queue == queue) else {
            return Err(InputError::NotAMember { agent, queue });
        };
        if membership.opted_in == opted_in {
            self.ignore(
                now,
                InputKind::Membership,
                Some(agent),
                None,
                IgnoreReason::Unchanged,
            );
            return Ok(());
        }
        membership.opted_in = opted_in;
        self.emit(
            now,
            agent.tenant(),
            EventKind::MembershipChanged {
                agent,
                queue,
                opted_in,
            },
        );
        self.sync_agent(agent);
        self.dispatch(now);
        Ok(())
    }

    /// The caller accepted a callback to `number`: while waiting (e.g.
    /// pressed a digit) or after an [`OverflowAction::OfferCallback`].
    /// The call's id ends (the call layer hangs up the caller, no abandon
    /// is counted); the returned callback keeps the caller's place.
    /// `Ok(None)` if the call is not in a state to take it (ignored).
    pub fn handle_callback_requested(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        number: String,
    ) -> Result<Option<InteractionId>, InputError> {
        let live = self.check_interaction(interaction)?;
        let now = self.tick(now);
        let input = InputKind::CallbackRequested;
        if !live {
            self.ignore(
                now,
                input,
                None,
                Some(interaction),
                IgnoreReason::InteractionGone,
            );
            return Ok(None);
        }
        let Some(call) = self.interactions.get(&interaction) else {
            return Ok(None);
        };
        let takes_it = call.callback.is_none()
            && matches!(
                call.state,
                InteractionState::Waiting | InteractionState::CallbackOffered { .. }
            );
        if !takes_it {
            let reason = IgnoreReason::InteractionState(call.state.status());
            self.ignore(now, input, None, Some(interaction), reason);
            return Ok(None);
        }
        let tenant = interaction.tenant();
        let callback_id = self.new_interaction_id(tenant)?;
        let Some(call) = self.interactions.get(&interaction) else {
            return Ok(None);
        };
        let expires_at = self
            .queues
            .get(&call.queue)
            .and_then(|queue| queue.config.callback.max_age)
            .map(|age| deadline(now, age));
        let callback = Interaction {
            id: callback_id,
            callback: Some(Callback {
                number,
                attempts: 0,
                requested_at: now,
                expires_at,
            }),
            queue: call.queue,
            priority: call.priority,
            skills: call.skills.clone(),
            values: call.values.clone(),
            entered_at: call.entered_at,
            place: call.place,
            original_position: call.original_position,
            hops: call.hops,
            tried: Default::default(),
            state: InteractionState::Waiting,
            timers: InteractionTimers::default(),
        };
        let queue = call.queue;
        self.forget(interaction);
        self.emit(
            now,
            tenant,
            EventKind::CallbackRequested {
                interaction,
                callback: callback_id,
                queue,
            },
        );
        self.interactions.insert(callback_id, callback);
        if let Some(at) = expires_at {
            let key = self.timers.arm(at, Timer::CallbackExpiry(callback_id));
            if let Some(callback) = self.interactions.get_mut(&callback_id) {
                callback.timers.expiry = Some(key);
            }
        }
        self.join_line(callback_id, now);
        self.dirty_calls.push(callback_id);
        self.dispatch(now);
        Ok(Some(callback_id))
    }

    /// The outcome of a [`Command::PlaceCallback`]: the caller answered
    /// (`reached`) or not (retried after the queue's delay, up to its
    /// attempts).
    pub fn handle_callback_result(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        reached: bool,
    ) -> Result<(), InputError> {
        let live = self.check_interaction(interaction)?;
        let now = self.tick(now);
        let input = InputKind::CallbackResult;
        if !live {
            self.ignore(
                now,
                input,
                None,
                Some(interaction),
                IgnoreReason::InteractionGone,
            );
            return Ok(());
        }
        let Some(call) = self.interactions.get(&interaction) else {
            return Ok(());
        };
        let InteractionState::CallbackDialing { agent } = call.state else {
            let reason = IgnoreReason::InteractionState(call.state.status());
            self.ignore(now, input, None, Some(interaction), reason);
            return Ok(());
        };
        let attempt = call
            .callback
            .as_ref()
            .map_or(0, |callback| callback.attempts);
        let expired = call.callback.as_ref().is_some_and(|cb| cb.expired(now));
        let queue_id = call.queue;
        let tenant = interaction.tenant();
        self.emit(
            now,
            tenant,
            EventKind::CallbackAttempted {
                interaction,
                queue: queue_id,
                agent,
                attempt,
                reached,
            },
        );
        if reached {
            if let Some(call) = self.interactions.get_mut(&interaction) {
                call.state = InteractionState::Connected { agent, since: now };
            }
            self.push_command(Command::Connect { interaction, agent });
        } else {
            let input = AgentInput::CallEnded {
                interaction,
                wrap_up: Duration::ZERO,
            };
            self.step_agent(agent, now, input);
            let policy = self
                .queues
                .get(&queue_id)
                .map(|queue| queue.config.callback);
            match policy {
                _ if expired => self.expire_callback(interaction, now),
                Some(policy) if attempt < policy.max_attempts => {
                    let until = deadline(now, policy.retry_delay);
                    let key = self.timers.arm(until, Timer::Callback(interaction));
                    if let Some(call) = self.interactions.get_mut(&interaction) {
                        call.state = InteractionState::CallbackRetryWait { until };
                        call.timers.callback = Some(key);
                    }
                }
                _ => {
                    let event = EventKind::CallbackFailed {
                        interaction,
                        queue: queue_id,
                        attempts: attempt,
                    };
                    self.emit(now, tenant, event);
                    self.forget(interaction);
                }
            }
        }
        self.dispatch(now);
        Ok(())
    }

    /// Time passed: alert timeouts, wrap-up ends, maximum waits, bullseye
    /// and tier expansion, announcements, callback retries.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.tick(now);
        while let Some((key, timer)) = self.timers.pop_due(now) {
            match timer {
                Timer::Agent(agent) => self.agent_deadline(agent, key, now),
                Timer::MaxWait(id) => {
                    let Some(call) = self.interactions.get_mut(&id) else {
                        continue;
                    };
                    if call.timers.max_wait == Some(key) {
                        call.timers.max_wait = None;
                    }
                    if call.state == InteractionState::Waiting && call.callback.is_none() {
                        let action = self
                            .queues
                            .get(&call.queue)
                            .map(|queue| queue.config.on_max_wait.clone())
                            .unwrap_or_default();
                        self.overflow(id, OverflowReason::MaxWait, action, now);
                    }
                }
                Timer::Expansion(id) => {
                    let Some(call) = self.interactions.get_mut(&id) else {
                        continue;
                    };
                    if call.timers.expansion == Some(key) {
                        call.timers.expansion = None;
                    }
                    if call.state == InteractionState::Waiting {
                        self.dirty_calls.push(id);
                        self.arm_expansion(id, now);
                    }
                }
                Timer::Announce(id) => {
                    let Some(call) = self.interactions.get_mut(&id) else {
                        continue;
                    };
                    if call.timers.announce == Some(key) {
                        call.timers.announce = None;
                    }
                    let waiting = call.state == InteractionState::Waiting;
                    let queue = call.queue;
                    if waiting {
                        self.announce(id, now);
                    }
                    let period = self
                        .queues
                        .get(&queue)
                        .and_then(|queue| queue.config.announce)
                        .map(|policy| policy.period);
                    if let (Some(period), Some(call)) = (period, self.interactions.get_mut(&id)) {
                        let in_queue = matches!(
                            call.state,
                            InteractionState::Waiting | InteractionState::Ringing { .. }
                        );
                        if in_queue && call.timers.announce.is_none() {
                            let key = self.timers.arm(deadline(now, period), Timer::Announce(id));
                            call.timers.announce = Some(key);
                        }
                    }
                }
                Timer::Callback(id) => self.callback_deadline(id, key, now),
                Timer::CallbackExpiry(id) => {
                    let Some(call) = self.interactions.get_mut(&id) else {
                        continue;
                    };
                    if call.timers.expiry == Some(key) {
                        call.timers.expiry = None;
                    }
                    let in_line = matches!(
                        call.state,
                        InteractionState::Waiting | InteractionState::CallbackRetryWait { .. }
                    );
                    if in_line && call.callback.as_ref().is_some_and(|cb| cb.expired(now)) {
                        self.expire_callback(id, now);
                    }
                }
            }
            self.dispatch(now);
        }
    }

    // ----- input checks -----

    fn check_agent(&self, agent: AgentId) -> Result<(), InputError> {
        if !self.tenants.contains_key(&agent.tenant()) {
            return Err(InputError::UnknownTenant(agent.tenant()));
        }
        if !self.agents.contains_key(&agent) {
            return Err(InputError::UnknownAgent(agent));
        }
        Ok(())
    }

    /// `Ok(true)` for a live interaction, `Ok(false)` for one that ended.
    fn check_interaction(&self, interaction: InteractionId) -> Result<bool, InputError> {
        if self.interactions.contains_key(&interaction) {
            return Ok(true);
        }
        let issued = self
            .tenants
            .get(&interaction.tenant())
            .is_some_and(|tenant| (1..tenant.next_interaction).contains(&interaction.local()));
        if issued {
            Ok(false)
        } else {
            Err(InputError::UnknownInteraction(interaction))
        }
    }

    fn check_pair(&self, interaction: InteractionId, agent: AgentId) -> Result<bool, InputError> {
        if interaction.tenant() != agent.tenant() {
            return Err(InputError::CrossTenant {
                first: interaction.to_string(),
                second: agent.to_string(),
            });
        }
        self.check_agent(agent)?;
        self.check_interaction(interaction)
    }

    // ----- bookkeeping -----

    fn tick(&mut self, now: Instant) -> Instant {
        let now = match self.clock {
            Some(last) if last > now => last,
            _ => now,
        };
        self.clock = Some(now);
        now
    }

    fn take_place(&mut self) -> u64 {
        self.next_place += 1;
        self.next_place
    }

    fn new_interaction_id(&mut self, tenant: TenantId) -> Result<InteractionId, InputError> {
        let record = self
            .tenants
            .get_mut(&tenant)
            .ok_or(InputError::UnknownTenant(tenant))?;
        let id = InteractionId::new(tenant, record.next_interaction);
        record.next_interaction += 1;
        Ok(id)
    }

    fn emit(&mut self, at: Instant, tenant: TenantId, kind: EventKind) {
        self.next_seq += 1;
        self.stats.events += 1;
        self.events.push_back(Event {
            seq: self.next_seq,
            tenant,
            at,
            kind,
        });
    }

    fn push_command(&mut self, command: Command) {
        self.stats.commands += 1;
        self.commands.push_back(command);
    }

    fn ignore(
        &mut self,
        now: Instant,
        input: InputKind,
        agent: Option<AgentId>,
        interaction: Option<InteractionId>,
        reason: IgnoreReason,
    ) {
        self.stats.ignored_inputs += 1;
        let tenant = agent
            .map(AgentId::tenant)
            .or(interaction.map(InteractionId::tenant));
        if let Some(tenant) = tenant {
            let kind = EventKind::InputIgnored {
                input,
                agent,
                interaction,
                reason,
            };
            self.emit(now, tenant, kind);
        }
    }

    fn status_of(&self, agent: AgentId) -> AgentStatus {
        self.agent_status(agent).unwrap_or(AgentStatus::Offline)
    }

    fn presence_routing(&self, tenant: TenantId) -> bool {
        self.tenants
            .get(&tenant)
            .is_none_or(|tenant| tenant.presence_routing)
    }

    /// One agent transition, with its event, wrap-up accounting and the
    /// agent's indexes and timer brought in line.
    fn step_agent(&mut self, id: AgentId, now: Instant, input: AgentInput) -> Outcome {
        let Some(agent) = self.agents.get_mut(&id) else {
            return Outcome::Ignored;
        };
        let before = agent.machine;
        let (after, outcome) = before.step(now, input, agent.config.max_no_answer);
        agent.machine = after;
        if outcome == Outcome::Ignored {
            return outcome;
        }
        let (from, to) = (before.state.status(), after.state.status());
        if from == AgentStatus::Offline && to != AgentStatus::Offline {
            agent.calls = 0;
            agent.talk = Duration::ZERO;
        }
        let wrapped = match before.state {
            AgentState::WrapUp { since, .. } if to != AgentStatus::WrapUp => {
                agent.wrapping.take().map(|done| (done, since))
            }
            _ => None,
        };
        let reason = after.state.not_ready_reason();
        if from != to || before.state.not_ready_reason() != reason {
            let kind = EventKind::AgentStateChanged {
                agent: id,
                from,
                to,
                reason,
            };
            self.emit(now, id.tenant(), kind);
        }
        if let Some(((interaction, queue, talk), since)) = wrapped {
            let wrap_up = now.saturating_duration_since(since);
            if let Some(record) = self.queues.get_mut(&queue) {
                record.record_handle_time(talk.saturating_add(wrap_up));
            }
            let kind = EventKind::WrapUpEnded {
                agent: id,
                interaction,
                queue,
                wrap_up,
            };
            self.emit(now, id.tenant(), kind);
        }
        self.sync_agent(id);
        outcome
    }

    /// Brings the free-agent indexes, staffing counts and the agent's
    /// timer in line with the agent's state, presence and opt-ins.
    fn sync_agent(&mut self, id: AgentId) {
        let presence_routing = self.presence_routing(id.tenant());
        let Some(agent) = self.agents.get_mut(&id) else {
            return;
        };
        let idle_since = match agent.machine.state {
            AgentState::Available { since } if agent.is_routable(presence_routing) => Some(since),
            _ => None,
        };
        let staffing = agent.is_staffing(presence_routing);
        let mut want_idle: Vec<(QueueId, IdleKey)> = Vec::new();
        let mut want_staffed: Vec<QueueId> = Vec::new();
        for membership in agent.config.queues.iter().filter(|m| m.opted_in) {
            let Some(queue) = self.queues.get(&membership.queue) else {
                continue;
            };
            if staffing {
                want_staffed.push(membership.queue);
            }
            if let Some(since) = idle_since {
                let key = IdleKey {
                    tier: membership.level,
                    rank: rank(queue.config.strategy, agent, membership.position, since),
                    agent: id,
                };
                want_idle.push((membership.queue, key));
            }
        }
        let mut gained = false;
        for (queue, key) in &agent.idle_in {
            if !want_idle.contains(&(*queue, *key)) {
                if let Some(queue) = self.queues.get_mut(queue) {
                    queue.idle.remove(key);
                }
            }
        }
        for (queue, key) in &want_idle {
            if !agent.idle_in.contains(&(*queue, *key)) {
                if let Some(queue) = self.queues.get_mut(queue) {
                    queue.idle.insert(*key);
                    gained = true;
                }
            }
        }
        agent.idle_in = want_idle;
        for queue in &agent.staffed_in {
            if !want_staffed.contains(queue) {
                if let Some(record) = self.queues.get_mut(queue) {
                    record.staffed = record.staffed.saturating_sub(1);
                    if record.staffed == 0 {
                        self.emptied.push(*queue);
                    }
                }
            }
        }
        for queue in &want_staffed {
            if !agent.staffed_in.contains(queue) {
                if let Some(record) = self.queues.get_mut(queue) {
                    record.staffed += 1;
                }
            }
        }
        agent.staffed_in = want_staffed;
        let want_timer = agent.machine.state.deadline();
        if agent.timer.map(|key| key.at) != want_timer {
            self.timers.cancel(agent.timer.take());
            agent.timer = want_timer.map(|at| self.timers.arm(at, Timer::Agent(id)));
        }
        if gained {
            self.dirty_agents.push_back(id);
        }
    }

    fn agent_deadline(&mut self, id: AgentId, key: TimerKey, now: Instant) {
        let Some(agent) = self.agents.get_mut(&id) else {
            return;
        };
        if agent.timer == Some(key) {
            agent.timer = None;
        }
        match agent.machine.state {
            AgentState::Reserved {
                interaction,
                alert_until,
                ..
            } if alert_until <= now => {
                self.ring_failed(now, interaction, id, RingOutcome::AlertTimeout);
            }
            AgentState::WrapUp { until, .. } if until <= now => {
                self.step_agent(id, now, AgentInput::WrapUpExpired);
            }
            _ => self.sync_agent(id),
        }
    }

    fn callback_deadline(&mut self, id: InteractionId, key: TimerKey, now: Instant) {
        let Some(call) = self.interactions.get_mut(&id) else {
            return;
        };
        if call.timers.callback == Some(key) {
            call.timers.callback = None;
        }
        match call.state {
            InteractionState::CallbackRetryWait { until } if until <= now => {
                call.tried.clear();
                self.return_to_queue(id, now);
            }
            InteractionState::CallbackOffered { until } if until <= now => {
                let queue = call.queue;
                let event = EventKind::CallbackCancelled {
                    interaction: id,
                    queue,
                };
                self.emit(now, id.tenant(), event);
                self.forget(id);
            }
            _ => {}
        }
    }

    /// A callback reached its queue's maximum age: logged and dropped.
    fn expire_callback(&mut self, id: InteractionId, now: Instant) {
        let Some(call) = self.interactions.get(&id) else {
            return;
        };
        let Some(callback) = &call.callback else {
            return;
        };
        let kind = EventKind::CallbackExpired {
            interaction: id,
            queue: call.queue,
            age: now.saturating_duration_since(callback.requested_at),
            attempts: callback.attempts,
        };
        self.emit(now, id.tenant(), kind);
        self.forget(id);
    }

    // ----- the line -----

    /// A call joins its queue: the no-agents rule, the line, timers,
    /// an offer, the length limit.
    fn enqueue(&mut self, id: InteractionId, now: Instant) {
        let Some(call) = self.interactions.get(&id) else {
            return;
        };
        let Some(queue) = self.queues.get(&call.queue) else {
            return;
        };
        let voice = call.callback.is_none();
        if let Some(policy) = &queue.config.no_agents {
            if voice && queue.staffed == 0 {
                let action = policy.action.clone();
                self.overflow(id, OverflowReason::NoAgents, action, now);
                return;
            }
        }
        let (queue_id, priority, kind) = (call.queue, call.priority, call.kind());
        let max_wait = deadline(call.entered_at, queue.config.max_wait);
        let announce = queue.config.announce;
        self.join_line(id, now);
        let position = self
            .interactions
            .get(&id)
            .zip(self.queues.get(&queue_id))
            .map_or(1, |(call, queue)| queue.position(&call.waiter(), now));
        let max_wait_key = voice.then(|| self.timers.arm(max_wait, Timer::MaxWait(id)));
        let announce_key = announce.filter(|_| voice).map(|policy| {
            self.timers
                .arm(deadline(now, policy.period), Timer::Announce(id))
        });
        if let Some(call) = self.interactions.get_mut(&id) {
            call.original_position = position;
            call.timers.max_wait = max_wait_key;
            call.timers.announce = announce_key;
        }
        self.emit(
            now,
            id.tenant(),
            EventKind::Queued {
                interaction: id,
                queue: queue_id,
                kind,
                priority,
                position,
            },
        );
        if announce.is_some_and(|policy| policy.on_entry) && voice {
            self.announce(id, now);
        }
        self.offer_call(id, now);
        let Some(call) = self.interactions.get(&id) else {
            return;
        };
        let Some(queue) = self.queues.get(&queue_id) else {
            return;
        };
        let limit = usize::try_from(queue.config.max_queue_length).unwrap_or(usize::MAX);
        if voice && call.state == InteractionState::Waiting && queue.voice_len() > limit {
            let action = queue.config.on_queue_full.clone();
            self.overflow(id, OverflowReason::QueueFull, action, now);
        }
    }

    /// Puts the interaction in its queue's line at its place.
    fn join_line(&mut self, id: InteractionId, now: Instant) {
        let Some(call) = self.interactions.get_mut(&id) else {
            return;
        };
        call.state = InteractionState::Waiting;
        if let Some(queue) = self.queues.get_mut(&call.queue) {
            queue.insert(call.waiter(), &call.skills);
        }
        self.arm_expansion(id, now);
    }

    fn arm_expansion(&mut self, id: InteractionId, now: Instant) {
        let Some(call) = self.interactions.get_mut(&id) else {
            return;
        };
        self.timers.cancel(call.timers.expansion.take());
        let next = self
            .queues
            .get(&call.queue)
            .and_then(|queue| queue.next_expansion(call.entered_at, now));
        call.timers.expansion = next.map(|at| self.timers.arm(at, Timer::Expansion(id)));
    }

    /// Cancels the timers that only matter while in line.
    fn leave_line_timers(&mut self, id: InteractionId) {
        let Some(call) = self.interactions.get_mut(&id) else {
            return;
        };
        self.timers.cancel(call.timers.max_wait.take());
        self.timers.cancel(call.timers.expansion.take());
        self.timers.cancel(call.timers.announce.take());
    }

    /// Removes the interaction: out of the line, timers cancelled.
    fn forget(&mut self, id: InteractionId) {
        let Some(call) = self.interactions.remove(&id) else {
            return;
        };
        if call.state == InteractionState::Waiting {
            if let Some(queue) = self.queues.get_mut(&call.queue) {
                queue.remove(call.priority, call.place);
            }
        }
        let timers = call.timers;
        for key in [
            timers.max_wait,
            timers.expansion,
            timers.announce,
            timers.callback,
            timers.expiry,
        ] {
            self.timers.cancel(key);
        }
    }

    /// Back in line after every ring failed (place kept), or overflowed
    /// if the maximum wait passed meanwhile or the queue emptied.
    fn return_to_queue(&mut self, id: InteractionId, now: Instant) {
        let Some(call) = self.interactions.get(&id) else {
            return;
        };
        let Some(queue) = self.queues.get(&call.queue) else {
            return;
        };
        if call.callback.as_ref().is_some_and(|cb| cb.expired(now)) {
            self.expire_callback(id, now);
            return;
        }
        if call.callback.is_none() {
            if now >= deadline(call.entered_at, queue.config.max_wait) {
                let action = queue.config.on_max_wait.clone();
                self.overflow(id, OverflowReason::MaxWait, action, now);
                return;
            }
            if let Some(policy) = &queue.config.no_agents {
                if policy.scope == NoAgentsScope::AllCalls && queue.staffed == 0 {
                    let action = policy.action.clone();
                    self.overflow(id, OverflowReason::NoAgents, action, now);
                    return;
                }
            }
        }
        self.join_line(id, now);
        self.dirty_calls.push(id);
    }

    fn announce(&mut self, id: InteractionId, now: Instant) {
        let Some(call) = self.interactions.get(&id) else {
            return;
        };
        let Some(queue) = self.queues.get(&call.queue) else {
            return;
        };
        let position = queue.position(&call.waiter(), now);
        let ewt = queue.estimated_wait(position);
        let queue = call.queue;
        self.push_command(Command::Announce {
            interaction: id,
            position,
            ewt,
        });
        self.emit(
            now,
            id.tenant(),
            EventKind::Announced {
                interaction: id,
                queue,
                position,
                ewt,
            },
        );
    }

    /// The call leaves its queue early.
    fn overflow(
        &mut self,
        id: InteractionId,
        reason: OverflowReason,
        action: OverflowAction,
        now: Instant,
    ) {
        let Some(call) = self.interactions.get(&id) else {
            return;
        };
        let from = call.queue;
        let hops = call.hops;
        let action = match action {
            OverflowAction::Queue(target)
                if hops >= MAX_QUEUE_HOPS
                    || target.tenant() != id.tenant()
                    || !self.queues.contains_key(&target) =>
            {
                OverflowAction::Disconnect { prompt: None }
            }
            other => other,
        };
        if call.state == InteractionState::Waiting {
            if let Some(queue) = self.queues.get_mut(&from) {
                queue.remove(call.priority, call.place);
            }
        }
        self.leave_line_timers(id);
        self.emit(
            now,
            id.tenant(),
            EventKind::Overflowed {
                interaction: id,
                queue: from,
                reason,
                action: action.clone(),
            },
        );
        match action {
            OverflowAction::Queue(target) => {
                let place = self.take_place();
                if let Some(call) = self.interactions.get_mut(&id) {
                    call.hops = hops.saturating_add(1);
                    call.queue = target;
                    call.entered_at = now;
                    call.place = place;
                    call.tried.clear();
                }
                self.enqueue(id, now);
            }
            OverflowAction::OfferCallback => {
                let timeout = self
                    .queues
                    .get(&from)
                    .map_or(Duration::ZERO, |queue| queue.config.callback.offer_timeout);
                let until = deadline(now, timeout);
                let key = self.timers.arm(until, Timer::Callback(id));
                if let Some(call) = self.interactions.get_mut(&id) {
                    call.state = InteractionState::CallbackOffered { until };
                    call.timers.callback = Some(key);
                }
                self.push_command(Command::Overflow {
                    interaction: id,
                    queue: from,
                    reason,
                    action,
                });
            }
            action => {
                self.push_command(Command::Overflow {
                    interaction: id,
                    queue: from,
                    reason,
                    action,
                });
                self.forget(id);
            }
        }
    }

    /// When the last agent of a queue leaves, calls in line take the
    /// no-agents action if it applies to all calls.
    fn leave_when_empty(&mut self, queue: QueueId, now: Instant) {
        let Some(record) = self.queues.get(&queue) else {
            return;
        };
        let Some(policy) = &record.config.no_agents else {
            return;
        };
        if policy.scope != NoAgentsScope::AllCalls || record.staffed > 0 {
            return;
        }
        let action = policy.action.clone();
        let waiting: Vec<InteractionId> = record
            .waiters()
            .filter(|waiter| waiter.voice)
            .map(|waiter| waiter.id)
            .collect();
        for id in waiting {
            self.overflow(id, OverflowReason::NoAgents, action.clone(), now);
        }
    }

    // ----- rings -----

    /// An input about `agent` and `interaction`: `now` (as the log has it)
    /// while the interaction is live, else `None` after logging the input
    /// as ignored; an error when either is unknown or they belong to
    /// different tenants.
    fn live_pair(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        agent: AgentId,
        input: InputKind,
    ) -> Result<Option<Instant>, InputError> {
        let live = self.check_pair(interaction, agent)?;
        let now = self.tick(now);
        if !live {
            self.ignore(
                now,
                input,
                Some(agent),
                Some(interaction),
                IgnoreReason::InteractionGone,
            );
            return Ok(None);
        }
        Ok(Some(now))
    }

    fn ring_failed_input(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        agent: AgentId,
        outcome: RingOutcome,
    ) -> Result<(), InputError> {
        let input = InputKind::AgentRingFailed;
        let Some(now) = self.live_pair(now, interaction, agent, input)? else {
            return Ok(());
        };
        if let Some(reason) = self.ring_failed(now, interaction, agent, outcome) {
            self.ignore(now, input, Some(agent), Some(interaction), reason);
        }
        self.dispatch(now);
        Ok(())
    }

    /// The agent's ring ended unanswered; `Some(reason)` if it was not
    /// ringing for this interaction.
    fn ring_failed(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        agent: AgentId,
        outcome: RingOutcome,
    ) -> Option<IgnoreReason> {
        let call = self.interactions.get(&interaction)?;
        let since = match &call.state {
            InteractionState::Ringing { agents, since } if agents.contains(&agent) => *since,
            InteractionState::Ringing { .. } => return Some(IgnoreReason::NotRinging),
            other => return Some(IgnoreReason::InteractionState(other.status())),
        };
        let queue = call.queue;
        if self.step_agent(agent, now, AgentInput::RingFailed { interaction }) != Outcome::Applied {
            return Some(IgnoreReason::AgentState(self.status_of(agent)));
        }
        if outcome == RingOutcome::AlertTimeout {
            self.push_command(Command::CancelRing {
                interaction,
                agent,
                reason: CancelReason::AlertTimeout,
            });
        }
        self.emit(
            now,
            interaction.tenant(),
            EventKind::RingNoAnswer {
                interaction,
                queue,
                agent,
                outcome,
                rang: now.saturating_duration_since(since),
            },
        );
        self.release_ring(interaction, agent, true, now);
        None
    }

    /// Stops one agent's ring through no fault of theirs.
    fn cancel_ring(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        queue: QueueId,
        agent: AgentId,
        reason: CancelReason,
    ) {
        self.step_agent(agent, now, AgentInput::RingCancelled { interaction });
        self.push_command(Command::CancelRing {
            interaction,
            agent,
            reason,
        });
        self.emit(
            now,
            interaction.tenant(),
            EventKind::RingCancelled {
                interaction,
                queue,
                agent,
                reason,
            },
        );
    }

    /// Takes the agent off the interaction's ring; when none is left the
    /// interaction goes back in line.
    fn release_ring(&mut self, id: InteractionId, agent: AgentId, failed: bool, now: Instant) {
        let Some(call) = self.interactions.get_mut(&id) else {
            return;
        };
        let InteractionState::Ringing { agents, .. } = &mut call.state else {
            return;
        };
        agents.retain(|other| *other != agent);
        let empty = agents.is_empty();
        if failed {
            call.tried.insert(agent);
        }
        if empty {
            self.return_to_queue(id, now);
        }
    }

    // ----- dispatch -----

    /// Matches waiting interactions and free agents until nothing more
    /// can be matched.
    fn dispatch(&mut self, now: Instant) {
        loop {
            if let Some(queue) = self.emptied.pop() {
                self.leave_when_empty(queue, now);
                continue;
            }
            if !self.dirty_calls.is_empty() {
                let mut calls = std::mem::take(&mut self.dirty_calls);
                calls.sort_unstable();
                calls.dedup();
                let mut ordered: Vec<(LineOrder, InteractionId)> = calls
                    .into_iter()
                    .filter_map(|id| {
                        let call = self.interactions.get(&id)?;
                        let queue = self.queues.get(&call.queue)?;
                        (call.state == InteractionState::Waiting)
                            .then(|| (queue.order(&call.waiter(), now), id))
                    })
                    .collect();
                ordered.sort_unstable();
                for (_, id) in ordered {
                    self.offer_call(id, now);
                }
                continue;
            }
            if let Some(agent) = self.dirty_agents.pop_front() {
                self.offer_agent(agent, now);
                continue;
            }
            break;
        }
    }

    /// Call-driven: the queue's strategy picks among its free agents.
    fn offer_call(&mut self, id: InteractionId, now: Instant) {
        let Some(call) = self.interactions.get(&id) else {
            return;
        };
        if call.state != InteractionState::Waiting {
            return;
        }
        let Some(queue) = self.queues.get(&call.queue) else {
            return;
        };
        let mut picks = select(queue, &self.agents, call, now, true, &mut self.rng);
        if picks.is_empty() && !call.tried.is_empty() {
            // Everyone qualified already let it ring out: start a new round.
            picks = select(queue, &self.agents, call, now, false, &mut self.rng);
            if !picks.is_empty() {
                if let Some(call) = self.interactions.get_mut(&id) {
                    call.tried.clear();
                }
            }
        }
        if !picks.is_empty() {
            self.offer(id, picks, now);
        }
    }

    /// The best caller for `agent` among `queues` (highest aged score,
    /// then longest waiting) who has not let it ring out, with its
    /// queue; and the callers ahead of it who did (their own round
    /// decides whether to come back to the agent).
    ///
    /// Looks at the head of each class in score order and stops at the
    /// first head that is worse than the best so far: a class whose head
    /// does not qualify has no caller who does ([`crate::queue`]).
    /// O(classes x priorities) per queue, whatever the length of the line.
    pub(crate) fn best_call_for(
        &self,
        agent: &Agent,
        queues: impl Iterator<Item = QueueId>,
        now: Instant,
    ) -> (
        Option<(LineOrder, InteractionId, QueueId)>,
        Vec<InteractionId>,
    ) {
        let mut best: Option<(LineOrder, InteractionId, QueueId)> = None;
        let mut retry = Vec::new();
        for queue_id in queues {
            let Some(queue) = self.queues.get(&queue_id) else {
                continue;
            };
            let mut best_here: Option<(LineOrder, InteractionId)> = None;
            let mut tried = Vec::new();
            for (head, class) in queue.heads_by_score(now) {
                if best_here.is_some_and(|(order, _)| queue.order(head, now) > order) {
                    break;
                }
                for waiter in queue.class_line(head.priority, class) {
                    let Some(call) = self.interactions.get(&waiter.id) else {
                        continue;
                    };
                    let order = queue.order(waiter, now);
                    if call.tried.contains(&agent.config.id) {
                        tried.push((order, waiter.id));
                        continue;
                    }
                    if ring_for(agent, queue, call, now).is_some()
                        && best_here.is_none_or(|(current, _)| order < current)
                    {
                        best_here = Some((order, waiter.id));
                    }
                    break;
                }
            }
            retry.extend(
                tried
                    .into_iter()
                    .filter(|(order, _)| best_here.is_none_or(|(best, _)| *order < best))
                    .map(|(_, id)| id),
            );
            if let Some((order, id)) = best_here {
                if best.as_ref().is_none_or(|(current, _, _)| order < *current) {
                    best = Some((order, id, queue_id));
                }
            }
        }
        (best, retry)
    }

    /// Agent-driven: a newly free agent takes the best caller across its
    /// queues ([`Engine::best_call_for`]).
    fn offer_agent(&mut self, id: AgentId, now: Instant) {
        let Some(agent) = self.agents.get(&id) else {
            return;
        };
        let (best, retry) =
            self.best_call_for(agent, agent.idle_in.iter().map(|(queue, _)| *queue), now);
        let best = best.and_then(|(_, call, queue)| {
            let (_, key) = agent.idle_in.iter().find(|(q, _)| *q == queue)?;
            Some((call, *key))
        });
        self.dirty_calls.extend(retry);
        let Some((call, key)) = best else {
            return;
        };
        let ring_all = self
            .interactions
            .get(&call)
            .and_then(|call| self.queues.get(&call.queue))
            .is_some_and(|queue| queue.config.strategy == QueueStrategy::RingAll);
        if ring_all {
            // The ring goes to the best group of agents, which may not
            // include this one: if so, it looks again.
            self.offer_call(call, now);
            if self
                .agents
                .get(&id)
                .is_some_and(|agent| !agent.idle_in.is_empty())
            {
                self.dirty_agents.push_back(id);
            }
        } else {
            self.offer(call, vec![key], now);
        }
    }

    /// Rings `picks` for the interaction.
    fn offer(&mut self, id: InteractionId, picks: Vec<IdleKey>, now: Instant) {
        let Some(call) = self.interactions.get(&id) else {
            return;
        };
        let (queue_id, waiter, kind) = (call.queue, call.waiter(), call.kind());
        let Some(queue) = self.queues.get_mut(&queue_id) else {
            return;
        };
        let alert_until = deadline(now, queue.config.alert_time);
        if queue.config.strategy == QueueStrategy::RoundRobin {
            if let Some(first) = picks.first() {
                queue.cursor = Some((first.rank, first.agent));
            }
        }
        queue.remove(waiter.priority, waiter.place);
        let mut rung = Vec::new();
        for key in picks {
            let agent = key.agent;
            if agent.tenant() != id.tenant() {
                continue;
            }
            let input = AgentInput::Offer {
                interaction: id,
                alert_until,
            };
            if self.step_agent(agent, now, input) != Outcome::Applied {
                continue;
            }
            rung.push(agent);
            self.push_command(Command::RingAgent {
                interaction: id,
                agent,
                queue: queue_id,
                kind,
                alert_until,
            });
            self.emit(
                now,
                id.tenant(),
                EventKind::AgentOffered {
                    interaction: id,
                    queue: queue_id,
                    agent,
                    alert_until,
                },
            );
        }
        if rung.is_empty() {
            if let (Some(queue), Some(call)) =
                (self.queues.get_mut(&queue_id), self.interactions.get(&id))
            {
                queue.insert(waiter, &call.skills);
            }
            return;
        }
        if let Some(call) = self.interactions.get_mut(&id) {
            call.state = InteractionState::Ringing {
                agents: rung,
                since: now,
            };
        }
        self.timers.cancel(
            self.interactions
                .get_mut(&id)
                .and_then(|call| call.timers.expansion.take()),
        );
    }
}

#[cfg(test)]
mod invariants;
#[cfg(test)]
mod tests;
