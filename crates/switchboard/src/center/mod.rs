//! The contact center on calls: IVR flows ([`acd::FlowRun`]) and the ACD
//! ([`acd::Engine`]) driven by the B2BUA's calls and the media plane.
//!
//! Like the crates it joins, this part is sans-IO: calls, digits, media
//! and dial outcomes come in as `handle_*` inputs with the time, and what
//! must happen goes out as [`Action`]s (play, hold, dial, cancel, hang
//! up) and [`acd::Event`]s (the event log, to be made durable before the
//! actions run). `serve` carries the actions out on the B2BUA and the
//! relay.
//!
//! A call to a flow DID runs its tenant's flow (`<flows_dir>/<tenant>/
//! <flow>.toml|json`); an `enqueue` hands it to the engine, which puts it
//! on hold (music) and rings agents one after another through
//! [`sbc::B2bua::dial`]; the answer bridges caller and agent, a decline
//! or the alert time moves on to the next agent; a caller hanging up
//! while queued abandons.

mod callback;
mod config;
mod parties;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_parties;
mod views;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use acd::{
    AgentId, AgentStateRequest, CallAttributes, Command, Engine, Flow, FlowCatalog, FlowCommand,
    FlowRun, FlowSet, InteractionId, OverflowAction, Presence, Priority, PromptId, QueueId,
    RequestId, TenantId, TransferTarget,
};
use anyhow::Context;
use sbc::{CallId, DialTarget, LegId, E164};
use sip::StatusCode;

pub(crate) use self::config::CenterConfig;
use self::config::LateAction;
pub(crate) use self::parties::{Layout, MixRole, Request, RequestError, SuperviseMode};
pub(crate) use self::views::{AgentRequest, AgentRequestError, Snapshot};

/// Something `serve` must do for the contact center.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Play prompts to the caller (stopping whatever plays); report the
    /// end with [`Center::handle_prompt_finished`] and `request`.
    Play {
        call: CallId,
        request: Option<RequestId>,
        prompts: Vec<String>,
        barge_in: bool,
    },
    /// Stop prompts and music: the caller hears the bridged party.
    StopPlay { call: CallId },
    /// Music on hold until told otherwise.
    Hold { call: CallId },
    /// Say the caller's place in line (and the estimated wait) over the
    /// music.
    Announce {
        call: CallId,
        position: u32,
        ewt: Option<Duration>,
    },
    /// Ring an agent's Teams user; report with [`Center::handle_dialled`].
    Dial {
        call: CallId,
        interaction: InteractionId,
        agent: AgentId,
        number: E164,
    },
    /// Stop ringing a leg.
    CancelDial { call: CallId, leg: LegId },
    /// Play `prompts`, a beep, then record the caller's message for
    /// `mailbox`; report the end with [`Center::handle_voicemail_done`].
    Voicemail {
        call: CallId,
        mailbox: String,
        prompts: Vec<String>,
    },
    /// Send the call to someone outside the queues (a flow's transfer, an
    /// overflow to a number or an agent); report with
    /// [`Center::handle_transfer_dialled`].
    Transfer { call: CallId, target: DialTarget },
    /// POST `body` (JSON) to a CRM webhook; report the JSON object it
    /// answers (or why none) with [`Center::handle_http_result`].
    Http {
        call: CallId,
        request: RequestId,
        url: String,
        body: serde_json::Value,
        timeout: Duration,
    },
    /// End the call.
    HangUp { call: CallId },
    /// Ring `target` as one more party of a connected call; report with
    /// [`Center::handle_party_dialled`], then its answer or failure.
    AddParty { call: CallId, target: DialTarget },
    /// Hang up one party of the call.
    HangUpParty { call: CallId, leg: LegId },
    /// Two parties are left: the B2BUA carries them as a two-party call.
    Pair { call: CallId, a: LegId, b: LegId },
    /// Route the call's media so.
    Arrange { call: CallId, layout: Layout },
    /// A callback's turn: ring the agent's Teams user on a new call of
    /// `tenant` (the SBC's name), showing the customer's number; report
    /// with [`Center::handle_originated`].
    Originate {
        tenant: String,
        interaction: InteractionId,
        agent: AgentId,
        number: E164,
        caller_id: E164,
    },
    /// The agent is on the line: dial the customer of the callback on the
    /// PSTN; report with [`Center::handle_customer_dialled`].
    DialCustomer {
        call: CallId,
        interaction: InteractionId,
        number: E164,
        /// The number the customer called, shown to them.
        caller_id: Option<E164>,
    },
}

/// What the log must know about a call that the engine does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fact {
    /// The call reached a flow: who called which number.
    Started { caller: String, did: String },
    /// The flow entered a node.
    FlowStep { flow: String, node: String },
    /// The call was sent to `target` (a number or a Teams user).
    Transferred { target: String },
    /// The engine's events for this interaction belong to the call.
    Queued(InteractionId),
    /// The call ended (`by_caller`: the caller hung up; `connected`: an
    /// agent had answered).
    Ended { by_caller: bool, connected: bool },
}

/// A [`Fact`] about `call` of `tenant`, at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallFact {
    pub(crate) call: CallId,
    pub(crate) tenant: TenantId,
    pub(crate) at: Instant,
    pub(crate) fact: Fact,
}

/// A loaded tenant: its engine id and flows by file stem.
#[derive(Debug)]
struct Tenant {
    id: TenantId,
    flows: HashMap<String, Arc<Flow>>,
}

/// One call in the contact center.
#[derive(Debug)]
struct CenterCall {
    tenant: TenantId,
    /// The flow's name in the configuration (its file stem).
    flow: String,
    run: Option<FlowRun>,
    interaction: Option<InteractionId>,
    /// An agent answered: the call is bridged.
    connected: bool,
    /// Hang up once the prompt playing now ends.
    hang_up_after_prompt: bool,
    /// What it was queued with (the attributes go on to an overflow
    /// flow).
    queued_with: Option<(CallAttributes, Priority)>,
    /// The caller's number as the SBC saw it (a callback dials it).
    caller: Option<String>,
    /// The number called (a callback shows it to the customer).
    did: Option<String>,
    /// The queue offered a callback and waits for the caller's "1".
    offering_callback: bool,
    /// switchboard placed the call for a callback: its first leg is the
    /// agent's, the customer is dialled once the agent answers.
    originated: bool,
    /// The leg in the caller's place (the agent's on a callback), while
    /// it is on the call.
    first_leg: Option<LegId>,
    /// The leg that answered for the call (agent, transfer target,
    /// callback customer).
    second_leg: Option<LegId>,
    /// Supervisors, third parties, consultations.
    parties: parties::Parties,
}

impl CenterCall {
    /// The caller's leg while it is on the call: the first one, or on a
    /// callback the customer's, dialled once the agent answered.
    fn callers_leg(&self) -> Option<LegId> {
        if self.originated {
            self.second_leg
        } else {
            self.first_leg
        }
    }
}

/// A ringing agent leg.
#[derive(Debug, Clone, Copy)]
struct Ring {
    call: CallId,
    interaction: InteractionId,
    agent: AgentId,
    /// The engine gave up on it (CancelRing): its failure is no news.
    cancelled: bool,
}

/// Counters of what the contact center refused or could not do.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CenterStats {
    pub(crate) calls: u64,
    pub(crate) unknown_flow: u64,
    pub(crate) engine_refused: u64,
    pub(crate) unsupported: u64,
}

/// The contact center's state.
#[derive(Debug)]
pub(crate) struct Center {
    engine: Engine,
    tenants: HashMap<String, Tenant>,
    prompt_names: HashMap<PromptId, String>,
    calls: HashMap<CallId, CenterCall>,
    by_interaction: HashMap<InteractionId, CallId>,
    rings: HashMap<LegId, Ring>,
    /// Legs of transfers outside the queues, by the call they serve.
    transfers: HashMap<LegId, CallId>,
    /// Teams users a flow may transfer to: the agents, by object id, SIP
    /// address and number (lower case).
    users: HashMap<String, E164>,
    actions: VecDeque<Action>,
    events: VecDeque<acd::Event>,
    /// What the calls' flows did (nodes entered, bad input...): each
    /// call's path through its flow, for the log and the CDR.
    flow_events: VecDeque<(CallId, acd::FlowEvent)>,
    facts: VecDeque<CallFact>,
    /// Overflows the engine ordered, carried out after its commands.
    overflows: VecDeque<(CallId, OverflowAction)>,
    /// Callbacks waiting for an agent, by interaction.
    callbacks: HashMap<InteractionId, callback::Pending>,
    /// Customer legs of callbacks being dialled, with their call and
    /// interaction.
    customer_dials: HashMap<LegId, (CallId, InteractionId)>,
    /// The configured agents and queues by name (the API's).
    agent_names: Vec<views::Named<AgentId>>,
    queue_names: Vec<views::Named<QueueId>>,
    /// The latest input's time.
    clock: Instant,
    stats: CenterStats,
}

impl Center {
    /// The engine and flows of `config`; `prompts` are the names of the
    /// prompts the media server has (flows naming others do not load).
    /// Agents are logged in, and Available unless their presence comes
    /// from Microsoft Graph ([`Center::handle_presence`]).
    pub(crate) fn new(
        config: &CenterConfig,
        prompts: &[String],
        now: Instant,
    ) -> anyhow::Result<Center> {
        let mut prompt_names = HashMap::new();
        let mut tenants = HashMap::new();
        let mut engine_config = config.engine.clone();
        for (name, setup) in &config.tenants {
            let mut catalog = FlowCatalog::new(setup.id);
            catalog.queues = setup.queues.clone();
            for (n, prompt) in prompts.iter().enumerate() {
                let id = PromptId::new(setup.id, n as u32 + 1);
                catalog.prompts.insert(prompt.clone(), id);
                prompt_names.insert(id, prompt.clone());
            }
            let flows = load_flows(&catalog, &setup.flows_dir)?;
            for late in &setup.late_actions {
                let (queue, action) = match late {
                    LateAction::OverflowFlow(queue, flow) => {
                        let Some(flow) = flows.get(flow) else {
                            anyhow::bail!("[contact_center.tenants.{name}]: overflow to flow {flow}, which did not load");
                        };
                        (queue, OverflowAction::Flow(flow.id()))
                    }
                    LateAction::OverflowGoodbye(queue, prompt)
                    | LateAction::NoAgentsGoodbye(queue, prompt) => {
                        let Some(id) = catalog.prompts.get(prompt) else {
                            anyhow::bail!("[contact_center.tenants.{name}]: no prompt {prompt}");
                        };
                        (queue, OverflowAction::Disconnect { prompt: Some(*id) })
                    }
                };
                let Some(config) = engine_config.queues.iter_mut().find(|q| q.id == *queue) else {
                    continue;
                };
                match (late, &mut config.no_agents) {
                    (LateAction::NoAgentsGoodbye(..), Some(policy)) => policy.action = action,
                    (LateAction::NoAgentsGoodbye(..), None) => {}
                    _ => {
                        config.on_queue_full = action.clone();
                        config.on_max_wait = action;
                    }
                }
            }
            tenants.insert(
                name.clone(),
                Tenant {
                    id: setup.id,
                    flows,
                },
            );
        }
        let mut engine = Engine::new(engine_config).context("the contact-center configuration")?;
        for agent in &config.engine.agents {
            engine
                .handle_agent_state_request(now, agent.id, AgentStateRequest::LogIn)
                .context("logging agents in")?;
            // Without Microsoft Graph, agents count as Available; with
            // it, they route once Graph reports them so.
            if !config.presence_from_graph {
                engine
                    .handle_presence(now, agent.id, Presence::Available)
                    .context("agent presence")?;
            }
        }
        let (agent_names, queue_names) = views::names(config);
        let mut users = HashMap::new();
        for agent in &config.engine.agents {
            let identity = &agent.identity;
            let Some(number) = identity
                .phone_number
                .as_deref()
                .and_then(|n| E164::parse(n).ok())
            else {
                continue;
            };
            let names = [Some(&identity.user_object_id), identity.sip_uri.as_ref()];
            for name in names.into_iter().flatten() {
                users.insert(name.to_ascii_lowercase(), number.clone());
            }
            users.insert(number.as_str().to_owned(), number);
        }
        let mut center = Center {
            engine,
            tenants,
            prompt_names,
            calls: HashMap::new(),
            by_interaction: HashMap::new(),
            rings: HashMap::new(),
            transfers: HashMap::new(),
            users,
            actions: VecDeque::new(),
            events: VecDeque::new(),
            flow_events: VecDeque::new(),
            facts: VecDeque::new(),
            overflows: VecDeque::new(),
            callbacks: HashMap::new(),
            customer_dials: HashMap::new(),
            agent_names,
            queue_names,
            clock: now,
            stats: CenterStats::default(),
        };
        center.pump_engine();
        Ok(center)
    }

    pub(crate) fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub(crate) fn poll_event(&mut self) -> Option<acd::Event> {
        self.events.pop_front()
    }

    pub(crate) fn poll_flow_event(&mut self) -> Option<(CallId, acd::FlowEvent)> {
        self.flow_events.pop_front()
    }

    pub(crate) fn poll_fact(&mut self) -> Option<CallFact> {
        self.facts.pop_front()
    }

    /// Whether outputs wait to be taken.
    pub(crate) fn has_output(&self) -> bool {
        !(self.actions.is_empty()
            && self.events.is_empty()
            && self.flow_events.is_empty()
            && self.facts.is_empty())
    }

    pub(crate) fn stats(&self) -> CenterStats {
        self.stats
    }

    /// The next instant [`Center::handle_timeout`] is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let runs = self
            .calls
            .values()
            .filter_map(|c| c.run.as_ref()?.poll_timeout());
        runs.chain(self.engine.poll_timeout()).min()
    }

    /// Whether `call` belongs to the contact center.
    pub(crate) fn has_call(&self, call: CallId) -> bool {
        self.calls.contains_key(&call)
    }

    // ----- inputs -----

    /// switchboard answered a call to `flow` of `tenant` (the SBC's
    /// names) on the caller's `leg`.
    pub(crate) fn handle_call_started(
        &mut self,
        now: Instant,
        wall: SystemTime,
        (call, leg): (CallId, LegId),
        tenant: &str,
        flow: &str,
        attributes: BTreeMap<String, String>,
    ) {
        self.clock = now;
        self.stats.calls += 1;
        let found = self
            .tenants
            .get(tenant)
            .and_then(|t| Some((t.id, Arc::clone(t.flows.get(flow)?))));
        let flow_name = flow.to_owned();
        let Some((tenant_id, flow)) = found else {
            self.stats.unknown_flow += 1;
            tracing::warn!(%call, tenant, flow, "no such flow loaded: call ended");
            self.actions.push_back(Action::HangUp { call });
            return;
        };
        match self.calls.remove(&call) {
            // An agent sent the caller back to a contact-center number:
            // its interaction ends as transferred, the flow starts over.
            Some(previous) => {
                self.rings.retain(|_, ring| ring.call != call);
                self.transfers.retain(|_, c| *c != call);
                let target = format!("flow:{flow_name}");
                self.fact(call, tenant_id, now, Fact::Transferred { target });
                if let Some(interaction) = previous.interaction {
                    self.by_interaction.remove(&interaction);
                    let result = self.engine.handle_call_ended(
                        now,
                        interaction,
                        acd::EndReason::Transferred,
                    );
                    self.engine_input(result);
                }
            }
            None => {
                let field = |name: &str| attributes.get(name).cloned().unwrap_or_default();
                let fact = Fact::Started {
                    caller: field("caller"),
                    did: field("called"),
                };
                self.fact(call, tenant_id, now, fact);
            }
        }
        let caller = attributes.get("caller").cloned();
        let did = attributes.get("called").cloned();
        let run = FlowRun::start(now, wall, flow, attributes);
        self.calls.insert(
            call,
            CenterCall {
                tenant: tenant_id,
                flow: flow_name,
                run: Some(run),
                interaction: None,
                connected: false,
                hang_up_after_prompt: false,
                queued_with: None,
                caller,
                did,
                offering_callback: false,
                originated: false,
                first_leg: Some(leg),
                second_leg: None,
                parties: parties::Parties::default(),
            },
        );
        self.pump_run(now, call);
    }

    /// A key was pressed on `leg` of `call` (RFC 4733, INFO or in-band).
    /// Only the caller's presses drive its flow or answer a callback
    /// offer: an agent's, a supervisor's or an added party's are not the
    /// caller's input and are dropped.
    pub(crate) fn handle_digit(&mut self, now: Instant, (call, leg): (CallId, LegId), digit: char) {
        self.clock = now;
        let Some(entry) = self.calls.get(&call) else {
            return;
        };
        if entry.callers_leg() != Some(leg) {
            // Never the digit: key presses may be card numbers.
            tracing::debug!(%call, %leg, "a key press from another party than the caller: not its input");
            return;
        }
        if entry.offering_callback {
            if digit == '1' {
                self.request_callback(now, call);
            } else {
                // Another key cut the offer short: back to the music.
                self.actions.push_back(Action::Hold { call });
            }
            return;
        }
        if let Some(run) = self.calls.get_mut(&call).and_then(|c| c.run.as_mut()) {
            run.handle_digit(now, digit);
            self.pump_run(now, call);
        }
    }

    /// A playback started with [`Action::Play`] ended.
    pub(crate) fn handle_prompt_finished(
        &mut self,
        now: Instant,
        call: CallId,
        request: Option<RequestId>,
    ) {
        self.clock = now;
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        if entry.hang_up_after_prompt {
            entry.hang_up_after_prompt = false;
            self.actions.push_back(Action::HangUp { call });
            return;
        }
        if entry.offering_callback {
            self.actions.push_back(Action::Hold { call });
            return;
        }
        if let (Some(run), Some(request)) = (entry.run.as_mut(), request) {
            run.handle_prompt_finished(now, request);
            self.pump_run(now, call);
        }
    }

    /// The answer to an [`Action::Http`].
    pub(crate) fn handle_http_result(
        &mut self,
        now: Instant,
        call: CallId,
        request: RequestId,
        result: Result<serde_json::Map<String, serde_json::Value>, acd::HttpFailure>,
    ) {
        self.clock = now;
        if let Some(run) = self.calls.get_mut(&call).and_then(|c| c.run.as_mut()) {
            run.handle_http_result(now, request, result);
            self.pump_run(now, call);
        }
    }

    /// The outcome of an [`Action::Dial`].
    pub(crate) fn handle_dialled(
        &mut self,
        now: Instant,
        call: CallId,
        interaction: InteractionId,
        agent: AgentId,
        leg: Result<LegId, sbc::DialError>,
    ) {
        self.clock = now;
        match leg {
            Ok(leg) => {
                self.rings.insert(
                    leg,
                    Ring {
                        call,
                        interaction,
                        agent,
                        cancelled: false,
                    },
                );
            }
            Err(error) => {
                tracing::warn!(%call, %error, "agent not rung");
                let result = self.engine_no_answer(now, interaction, agent);
                self.engine_input(result);
            }
        }
        self.pump_engine();
    }

    /// The outcome of an [`Action::Transfer`].
    pub(crate) fn handle_transfer_dialled(
        &mut self,
        call: CallId,
        leg: Result<LegId, sbc::DialError>,
    ) {
        match leg {
            Ok(leg) => {
                self.transfers.insert(leg, call);
            }
            Err(error) => {
                tracing::warn!(%call, %error, "transfer not placed: call ended");
                self.actions.push_back(Action::HangUp { call });
            }
        }
    }

    /// A dialled agent leg answered (the B2BUA bridged it).
    pub(crate) fn handle_dial_answered(&mut self, now: Instant, call: CallId, leg: LegId) {
        self.clock = now;
        if self.is_party(call, leg) {
            return self.party_answered(call, leg);
        }
        if self.transfers.remove(&leg).is_some() {
            if let Some(entry) = self.calls.get_mut(&call) {
                entry.connected = true;
                entry.second_leg = Some(leg);
            }
            self.actions.push_back(Action::StopPlay { call });
            return;
        }
        if self.customer_dials.contains_key(&leg) {
            return self.customer_answered(now, leg);
        }
        let Some(ring) = self.rings.remove(&leg) else {
            return;
        };
        if let Some(entry) = self.calls.get_mut(&call) {
            // A callback's agent waits (on hold) for the customer.
            if entry.originated {
                self.actions.push_back(Action::Hold { call });
            } else {
                entry.connected = true;
                entry.second_leg = Some(leg);
            }
        }
        let result = self
            .engine
            .handle_agent_answered(now, ring.interaction, ring.agent);
        self.engine_input(result);
        self.pump_engine();
    }

    /// A dialled agent leg failed or was cancelled.
    pub(crate) fn handle_dial_failed(&mut self, now: Instant, leg: LegId, status: StatusCode) {
        self.clock = now;
        if self.customer_dials.contains_key(&leg) {
            return self.customer_not_reached(now, leg);
        }
        if let Some(call) = self.transfers.remove(&leg) {
            tracing::info!(%call, status = status.0, "transfer target did not answer: call ended");
            self.actions.push_back(Action::HangUp { call });
            return;
        }
        let Some(ring) = self.rings.remove(&leg) else {
            return;
        };
        if ring.cancelled {
            return;
        }
        let result = if matches!(status.0, 486 | 600 | 603) {
            self.engine
                .handle_agent_rejected(now, ring.interaction, ring.agent)
        } else {
            self.engine_no_answer(now, ring.interaction, ring.agent)
        };
        self.engine_input(result);
        self.pump_engine();
    }

    /// The call ended; `by_caller`: the caller hung up (else the agent
    /// or switchboard).
    pub(crate) fn handle_call_ended(&mut self, now: Instant, call: CallId, by_caller: bool) {
        self.clock = now;
        let Some(mut entry) = self.calls.remove(&call) else {
            return;
        };
        if let Some(run) = entry.run.as_mut() {
            run.handle_hangup(now);
            while let Some(event) = run.poll_event() {
                self.flow_events.push_back((call, event));
            }
        }
        // On a callback, the first leg ("the caller") is the agent's.
        let by_caller = by_caller != entry.originated;
        let ended = Fact::Ended {
            by_caller,
            connected: entry.connected,
        };
        self.fact(call, entry.tenant, now, ended);
        self.rings.retain(|_, ring| ring.call != call);
        self.transfers.retain(|_, c| *c != call);
        if entry.originated && !entry.connected {
            // The ring's or the dial's outcome tells the engine; an agent
            // who hangs up while the customer rings ends this attempt.
            if let Some(interaction) = entry.interaction {
                self.by_interaction.remove(&interaction);
            }
            self.abandon_customer_dials(now, call);
        } else if let Some(interaction) = entry.interaction {
            self.by_interaction.remove(&interaction);
            let reason = match (entry.connected, by_caller) {
                (_, true) => acd::EndReason::CallerHangup,
                (true, false) => acd::EndReason::AgentHangup,
                (false, false) => acd::EndReason::Failed,
            };
            let result = self.engine.handle_call_ended(now, interaction, reason);
            self.engine_input(result);
        }
        self.pump_engine();
    }

    /// Due timers of the flows and the engine.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.clock = now;
        let due: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| {
                c.run
                    .as_ref()
                    .and_then(FlowRun::poll_timeout)
                    .is_some_and(|at| at <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for call in due {
            if let Some(run) = self.calls.get_mut(&call).and_then(|c| c.run.as_mut()) {
                run.handle_timeout(now);
            }
            self.pump_run(now, call);
        }
        self.engine.handle_timeout(now);
        self.pump_engine();
    }

    // ----- internals -----

    /// The Teams number an agent is rung on.
    fn agent_number(&self, agent: AgentId) -> Option<E164> {
        self.engine
            .agent_identity(agent)
            .and_then(|identity| identity.phone_number.as_deref())
            .and_then(|n| E164::parse(n).ok())
    }

    fn engine_no_answer(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        agent: AgentId,
    ) -> Result<(), acd::InputError> {
        self.engine.handle_agent_no_answer(now, interaction, agent)
    }

    fn engine_input(&mut self, result: Result<(), acd::InputError>) {
        if let Err(error) = result {
            self.stats.engine_refused += 1;
            tracing::warn!(%error, "the ACD refused an input");
        }
    }

    fn prompt_names(&self, prompts: &[PromptId]) -> Vec<String> {
        prompts
            .iter()
            .filter_map(|id| self.prompt_names.get(id).cloned())
            .collect()
    }

    /// Carries out what the call's flow asks.
    fn pump_run(&mut self, now: Instant, call: CallId) {
        while let Some(command) = self
            .calls
            .get_mut(&call)
            .and_then(|c| c.run.as_mut())
            .and_then(FlowRun::poll_command)
        {
            let finished = command.is_final();
            self.flow_command(now, call, command);
            if finished {
                self.drain_flow_events(call);
                if let Some(entry) = self.calls.get_mut(&call) {
                    entry.run = None;
                }
                break;
            }
        }
        self.drain_flow_events(call);
        self.pump_engine();
    }

    fn drain_flow_events(&mut self, call: CallId) {
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        let (tenant, flow) = (entry.tenant, entry.flow.clone());
        let Some(run) = entry.run.as_mut() else {
            return;
        };
        while let Some(event) = run.poll_event() {
            if let acd::FlowEventKind::NodeEntered { node } = &event.kind {
                self.facts.push_back(CallFact {
                    call,
                    tenant,
                    at: event.at,
                    fact: Fact::FlowStep {
                        flow: flow.clone(),
                        node: node.clone(),
                    },
                });
            }
            self.flow_events.push_back((call, event));
        }
    }

    fn fact(&mut self, call: CallId, tenant: TenantId, at: Instant, fact: Fact) {
        self.facts.push_back(CallFact {
            call,
            tenant,
            at,
            fact,
        });
    }

    fn flow_command(&mut self, now: Instant, call: CallId, command: FlowCommand) {
        match command {
            FlowCommand::PlayPrompts {
                id,
                prompts,
                barge_in,
            } => {
                let prompts = self.prompt_names(&prompts);
                self.actions.push_back(Action::Play {
                    call,
                    request: Some(id),
                    prompts,
                    barge_in,
                });
            }
            FlowCommand::StopPrompts { .. } => self.actions.push_back(Action::StopPlay { call }),
            FlowCommand::Enqueue {
                queue,
                priority,
                attributes,
            } => self.enqueue(now, call, queue, attributes, priority),
            FlowCommand::Transfer {
                target: TransferTarget::Queue(queue),
            } => {
                let attributes = CallAttributes::default();
                self.enqueue(now, call, queue, attributes, Priority(0));
            }
            FlowCommand::Hangup { prompt } => self.hang_up_saying(call, prompt),
            FlowCommand::HttpLookup {
                id,
                url,
                body,
                timeout,
            } => self.actions.push_back(Action::Http {
                call,
                request: id,
                url,
                body,
                timeout,
            }),
            FlowCommand::Transfer {
                target: TransferTarget::TeamsUser(user),
            } => match self.users.get(&user.to_ascii_lowercase()).cloned() {
                Some(number) => self.transfer(now, call, DialTarget::TeamsUser(number)),
                None => {
                    self.stats.unsupported += 1;
                    tracing::warn!(%call, "transfer to a Teams user who is no configured agent: call ended");
                    self.actions.push_back(Action::HangUp { call });
                }
            },
            FlowCommand::Transfer {
                target: TransferTarget::ExternalNumber(number),
            } => match E164::parse(&number) {
                Ok(number) => self.transfer(now, call, DialTarget::Pstn(number)),
                Err(_) => {
                    tracing::warn!(%call, "transfer to a number that is not E.164: call ended");
                    self.actions.push_back(Action::HangUp { call });
                }
            },
            FlowCommand::Voicemail { mailbox, prompts } => {
                let prompts = self.prompt_names(&prompts);
                self.voicemail(now, call, mailbox, prompts);
            }
            // Digits come in anyway; attributes stay in the run.
            _ => {}
        }
    }

    /// Takes a message: the call leaves the flow or queue for `mailbox`.
    fn voicemail(&mut self, now: Instant, call: CallId, mailbox: String, prompts: Vec<String>) {
        if let Some(tenant) = self.calls.get(&call).map(|c| c.tenant) {
            let target = format!("voicemail:{mailbox}");
            self.fact(call, tenant, now, Fact::Transferred { target });
        }
        self.actions.push_back(Action::Voicemail {
            call,
            mailbox,
            prompts,
        });
    }

    /// The caller's message is recorded (or could not be): the call ends.
    pub(crate) fn handle_voicemail_done(&mut self, now: Instant, call: CallId) {
        self.clock = now;
        if self.calls.contains_key(&call) {
            self.actions.push_back(Action::HangUp { call });
        }
    }

    /// Sends the call outside the queues.
    fn transfer(&mut self, now: Instant, call: CallId, target: DialTarget) {
        if let Some(tenant) = self.calls.get(&call).map(|c| c.tenant) {
            let label = match &target {
                DialTarget::TeamsUser(n) => format!("teams:{n}"),
                DialTarget::Pstn(n) => format!("pstn:{n}"),
                _ => "other".to_owned(),
            };
            self.fact(call, tenant, now, Fact::Transferred { target: label });
        }
        self.actions.push_back(Action::Transfer { call, target });
    }

    fn hang_up_saying(&mut self, call: CallId, prompt: Option<PromptId>) {
        let prompts = self.prompt_names(&prompt.into_iter().collect::<Vec<_>>());
        self.hang_up_after(call, prompts);
    }

    /// Plays `prompts`, then hangs up (at once without prompts).
    fn hang_up_after(&mut self, call: CallId, prompts: Vec<String>) {
        if prompts.is_empty() {
            self.actions.push_back(Action::HangUp { call });
            return;
        }
        if let Some(entry) = self.calls.get_mut(&call) {
            entry.hang_up_after_prompt = true;
        }
        self.actions.push_back(Action::Play {
            call,
            request: None,
            prompts,
            barge_in: false,
        });
    }

    fn enqueue(
        &mut self,
        now: Instant,
        call: CallId,
        queue: QueueId,
        attributes: CallAttributes,
        priority: Priority,
    ) {
        let Some(tenant) = self.calls.get(&call).map(|c| c.tenant) else {
            return;
        };
        let kept = (attributes.clone(), priority);
        match self
            .engine
            .handle_call_arrived(now, tenant, queue, attributes, priority)
        {
            Ok(interaction) => {
                if let Some(entry) = self.calls.get_mut(&call) {
                    entry.interaction = Some(interaction);
                    entry.queued_with = Some(kept);
                }
                self.fact(call, tenant, now, Fact::Queued(interaction));
                self.by_interaction.insert(interaction, call);
                self.actions.push_back(Action::Hold { call });
            }
            Err(error) => {
                self.stats.engine_refused += 1;
                tracing::warn!(%call, %error, "not queued: call ended");
                self.actions.push_back(Action::HangUp { call });
            }
        }
    }

    /// Carries out the engine's commands and collects its events.
    fn pump_engine(&mut self) {
        while let Some(command) = self.engine.poll_command() {
            self.engine_command(command);
        }
        // Overflows taken out of the engine: carried out here, where the
        // time is known.
        while let Some((call, action)) = self.overflows.pop_front() {
            self.overflow(self.clock, call, action);
        }
        while let Some(event) = self.engine.poll_event() {
            self.callback_event(&event);
            self.events.push_back(event);
        }
    }

    fn engine_command(&mut self, command: Command) {
        match command {
            Command::RingAgent {
                interaction,
                agent,
                kind: acd::InteractionKind::Callback,
                ..
            } => self.ring_for_callback(interaction, agent),
            Command::RingAgent {
                interaction, agent, ..
            } => {
                let Some(call) = self.by_interaction.get(&interaction).copied() else {
                    return;
                };
                let number = self.agent_number(agent);
                match number {
                    Some(number) => self.actions.push_back(Action::Dial {
                        call,
                        interaction,
                        agent,
                        number,
                    }),
                    None => {
                        tracing::warn!(%agent, "agent without a Teams phone number");
                        self.stats.unsupported += 1;
                    }
                }
            }
            Command::CancelRing {
                interaction, agent, ..
            } => {
                let found = self
                    .rings
                    .iter_mut()
                    .find(|(_, r)| r.interaction == interaction && r.agent == agent);
                if let Some((leg, ring)) = found {
                    ring.cancelled = true;
                    self.actions.push_back(Action::CancelDial {
                        call: ring.call,
                        leg: *leg,
                    });
                }
            }
            Command::Connect { interaction, .. } => {
                if let Some(call) = self.by_interaction.get(&interaction) {
                    self.actions.push_back(Action::StopPlay { call: *call });
                }
            }
            Command::Announce {
                interaction,
                position,
                ewt,
            } => {
                if let Some(call) = self.by_interaction.get(&interaction) {
                    self.actions.push_back(Action::Announce {
                        call: *call,
                        position,
                        ewt,
                    });
                }
            }
            Command::Overflow {
                interaction,
                action: OverflowAction::OfferCallback,
                ..
            } => self.offer_callback(interaction),
            Command::PlaceCallback {
                interaction,
                number,
                ..
            } => self.place_callback(interaction, &number),
            Command::Overflow {
                interaction,
                action,
                ..
            } => {
                let Some(call) = self.by_interaction.remove(&interaction) else {
                    return;
                };
                if let Some(entry) = self.calls.get_mut(&call) {
                    entry.interaction = None;
                }
                self.overflows.push_back((call, action));
            }
            other => {
                self.stats.unsupported += 1;
                tracing::warn!(command = ?other, "ACD command not wired yet");
            }
        }
    }
}

impl Center {
    /// Carries out a queue's overflow (full, waited too long, no agents).
    fn overflow(&mut self, now: Instant, call: CallId, action: OverflowAction) {
        match action {
            OverflowAction::Disconnect { prompt } => self.hang_up_saying(call, prompt),
            // The engine moves the call to the other queue itself and
            // never orders it; hold music goes on.
            OverflowAction::Queue(_) => {}
            OverflowAction::Flow(flow) => self.start_flow(now, call, flow),
            OverflowAction::Agent(agent) => {
                let number = self.agent_number(agent);
                match number {
                    Some(number) => self.transfer(now, call, DialTarget::TeamsUser(number)),
                    None => self.actions.push_back(Action::HangUp { call }),
                }
            }
            OverflowAction::ExternalNumber(number) => match E164::parse(&number) {
                Ok(number) => self.transfer(now, call, DialTarget::Pstn(number)),
                Err(_) => self.actions.push_back(Action::HangUp { call }),
            },
            OverflowAction::Voicemail { mailbox } => {
                self.voicemail(now, call, mailbox, vec!["leave-message".to_owned()]);
            }
            other => {
                self.stats.unsupported += 1;
                tracing::warn!(%call, action = ?other, "overflow to a callback offer is not wired yet: call ended");
                self.actions.push_back(Action::HangUp { call });
            }
        }
    }

    /// Runs another flow of the call's tenant on it (an overflow to a
    /// flow).
    fn start_flow(&mut self, now: Instant, call: CallId, flow: acd::FlowId) {
        let found = self.calls.get(&call).and_then(|entry| {
            let tenant = self.tenants.values().find(|t| t.id == entry.tenant)?;
            tenant
                .flows
                .iter()
                .find(|(_, f)| f.id() == flow)
                .map(|(name, f)| (name.clone(), Arc::clone(f)))
        });
        let Some((name, flow)) = found else {
            tracing::warn!(%call, "overflow to a flow that is not loaded: call ended");
            self.actions.push_back(Action::HangUp { call });
            return;
        };
        let attributes = self
            .calls
            .get(&call)
            .and_then(|c| c.queued_with.as_ref())
            .map(|(a, _)| a.values.clone())
            .unwrap_or_default();
        if let Some(entry) = self.calls.get_mut(&call) {
            entry.flow = name;
            entry.run = Some(FlowRun::start(now, SystemTime::now(), flow, attributes));
        }
        self.pump_run(now, call);
    }
}

/// The flows of one tenant by file stem; a bad file is reported and left
/// out, the others load.
fn load_flows(catalog: &FlowCatalog, dir: &Path) -> anyhow::Result<HashMap<String, Arc<Flow>>> {
    if !dir.is_dir() {
        anyhow::bail!("flows directory {} does not exist", dir.display());
    }
    let (set, errors) = FlowSet::load_dir(catalog, dir);
    for error in &errors {
        tracing::error!(%error, "flow not loaded");
    }
    let flows = set
        .iter()
        .map(|flow| {
            let stem = Path::new(flow.file())
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            (stem, Arc::clone(flow))
        })
        .collect();
    Ok(flows)
}
