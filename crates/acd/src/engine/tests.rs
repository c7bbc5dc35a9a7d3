#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use super::*;
use crate::config::{
    AgentConfig, AnnouncePolicy, BullseyeRing, NoAgentsPolicy, PriorityAging, QueueConfig,
    QueueMembership, SkillRequirement, TenantConfig,
};
use crate::ids::{Proficiency, ReasonCode, SkillId};
use crate::NotReadyReason;

pub(crate) const T1: TenantId = TenantId::new(1);
pub(crate) const T2: TenantId = TenantId::new(2);

pub(crate) fn queue_id(tenant: TenantId, n: u32) -> QueueId {
    QueueId::new(tenant, n)
}

pub(crate) fn agent_id(tenant: TenantId, n: u32) -> AgentId {
    AgentId::new(tenant, n)
}

pub(crate) fn agent(id: AgentId, queues: &[QueueId]) -> AgentConfig {
    let mut config = AgentConfig::new(id, format!("agent {id}"), TeamsIdentity::default());
    config.queues = queues.iter().map(|q| QueueMembership::new(*q)).collect();
    config
}

pub(crate) fn config(queues: Vec<QueueConfig>, agents: Vec<AgentConfig>) -> EngineConfig {
    EngineConfig {
        tenants: vec![
            TenantConfig::new(T1, "one", "00000000-0000-0000-0000-000000000001"),
            TenantConfig::new(T2, "two", "00000000-0000-0000-0000-000000000002"),
        ],
        numbers: Vec::new(),
        queues,
        agents,
        seed: 7,
    }
}

fn level(n: u8) -> Proficiency {
    Proficiency::new(n).unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// An engine with a clock, its output collected.
pub(crate) struct Harness {
    pub(crate) engine: Engine,
    pub(crate) now: Instant,
    pub(crate) commands: Vec<Command>,
    pub(crate) events: Vec<Event>,
}

impl Harness {
    pub(crate) fn new(config: EngineConfig) -> Self {
        Self {
            engine: Engine::new(config).unwrap(),
            now: Instant::now(),
            commands: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Drains the engine; returns the commands issued since the last drain.
    pub(crate) fn drain(&mut self) -> Vec<Command> {
        let mut fresh = Vec::new();
        while let Some(command) = self.engine.poll_command() {
            fresh.push(command);
        }
        while let Some(event) = self.engine.poll_event() {
            self.events.push(event);
        }
        self.commands.extend(fresh.iter().cloned());
        fresh
    }

    pub(crate) fn advance(&mut self, by: Duration) -> Vec<Command> {
        self.now += by;
        self.engine.handle_timeout(self.now);
        self.engine.check_invariants(self.now).unwrap();
        self.drain()
    }

    pub(crate) fn login(&mut self, agent: AgentId) -> Vec<Command> {
        self.engine
            .handle_agent_state_request(self.now, agent, AgentStateRequest::LogIn)
            .unwrap();
        self.engine
            .handle_presence(self.now, agent, Presence::Available)
            .unwrap();
        self.engine.check_invariants(self.now).unwrap();
        self.drain()
    }

    pub(crate) fn call(&mut self, queue: QueueId) -> InteractionId {
        self.call_with(queue, Priority(0), Vec::new())
    }

    pub(crate) fn call_with(
        &mut self,
        queue: QueueId,
        priority: Priority,
        skills: Vec<SkillRequirement>,
    ) -> InteractionId {
        let id = self
            .engine
            .handle_call_arrived(
                self.now,
                queue.tenant(),
                queue,
                CallAttributes {
                    skills,
                    ..CallAttributes::default()
                },
                priority,
            )
            .unwrap();
        self.engine.check_invariants(self.now).unwrap();
        id
    }

    pub(crate) fn answer(&mut self, call: InteractionId, agent: AgentId) -> Vec<Command> {
        self.engine
            .handle_agent_answered(self.now, call, agent)
            .unwrap();
        self.engine.check_invariants(self.now).unwrap();
        self.drain()
    }

    pub(crate) fn hang_up(&mut self, call: InteractionId) -> Vec<Command> {
        self.engine
            .handle_call_ended(self.now, call, EndReason::CallerHangup)
            .unwrap();
        self.engine.check_invariants(self.now).unwrap();
        self.drain()
    }

    pub(crate) fn status(&self, agent: AgentId) -> AgentStatus {
        self.engine.agent_status(agent).unwrap()
    }

    pub(crate) fn event_kinds(&self) -> impl Iterator<Item = &EventKind> {
        self.events.iter().map(|event| &event.kind)
    }
}

/// The (interaction, agent) pairs rung by `commands`.
pub(crate) fn rings(commands: &[Command]) -> Vec<(InteractionId, AgentId)> {
    commands
        .iter()
        .filter_map(|command| match command {
            Command::RingAgent {
                interaction, agent, ..
            } => Some((*interaction, *agent)),
            _ => None,
        })
        .collect()
}

fn rung_agents(commands: &[Command]) -> Vec<AgentId> {
    rings(commands)
        .into_iter()
        .map(|(_, agent)| agent)
        .collect()
}

fn one_queue(strategy: QueueStrategy, agents: u32) -> (Harness, QueueId, Vec<AgentId>) {
    let q = queue_id(T1, 1);
    let mut queue = QueueConfig::new(q, "sales");
    queue.strategy = strategy;
    let ids: Vec<AgentId> = (1..=agents).map(|n| agent_id(T1, n)).collect();
    let agents = ids
        .iter()
        .enumerate()
        .map(|(at, id)| {
            let mut config = agent(*id, &[q]);
            config.queues[0].position = at as u32;
            config
        })
        .collect();
    (Harness::new(config(vec![queue], agents)), q, ids)
}

// ----- configuration and tenants -----

#[test]
fn configuration_refuses_references_across_tenants() {
    let q1 = queue_id(T1, 1);
    let q2 = queue_id(T2, 1);
    let queues = vec![QueueConfig::new(q1, "a"), QueueConfig::new(q2, "b")];
    let err = Engine::new(config(queues.clone(), vec![agent(agent_id(T1, 1), &[q2])])).unwrap_err();
    assert!(matches!(err, ConfigError::CrossTenant { .. }), "{err}");

    let mut overflowing = QueueConfig::new(q1, "a");
    overflowing.on_max_wait = OverflowAction::Queue(q2);
    let err =
        Engine::new(config(vec![overflowing, QueueConfig::new(q2, "b")], vec![])).unwrap_err();
    assert!(matches!(err, ConfigError::CrossTenant { .. }), "{err}");

    let mut fast = QueueConfig::new(q1, "a");
    fast.alert_time = secs(5);
    let err = Engine::new(config(vec![fast], vec![])).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::OutOfRange {
                field: "alert_time",
                ..
            }
        ),
        "{err}"
    );

    let err = Engine::new(config(
        queues,
        vec![agent(agent_id(T1, 1), &[queue_id(T1, 9)])],
    ))
    .unwrap_err();
    assert!(matches!(err, ConfigError::UnknownQueue { .. }), "{err}");
}

#[test]
fn inputs_naming_other_tenants_or_unknown_objects_are_refused() {
    let (mut h, q, agents) = one_queue(QueueStrategy::LongestIdle, 1);
    let now = h.now;
    let err = h
        .engine
        .handle_call_arrived(now, T2, q, CallAttributes::default(), Priority(0))
        .unwrap_err();
    assert!(matches!(err, InputError::CrossTenant { .. }));
    h.login(agents[0]);
    let call = h.call(q);
    let stranger = agent_id(T2, 1);
    let err = h
        .engine
        .handle_agent_answered(now, call, stranger)
        .unwrap_err();
    assert!(matches!(err, InputError::CrossTenant { .. }));
    let never = InteractionId::new(T1, 99);
    let err = h
        .engine
        .handle_call_ended(now, never, EndReason::CallerHangup)
        .unwrap_err();
    assert_eq!(err, InputError::UnknownInteraction(never));
    let err = h
        .engine
        .handle_presence(now, agent_id(T1, 42), Presence::Available)
        .unwrap_err();
    assert_eq!(err, InputError::UnknownAgent(agent_id(T1, 42)));
}

#[test]
fn a_call_is_never_offered_to_another_tenants_agent() {
    let q1 = queue_id(T1, 1);
    let q2 = queue_id(T2, 1);
    let a1 = agent_id(T1, 1);
    let a2 = agent_id(T2, 1);
    let mut h = Harness::new(config(
        vec![QueueConfig::new(q1, "one"), QueueConfig::new(q2, "two")],
        vec![agent(a1, &[q1]), agent(a2, &[q2])],
    ));
    h.login(a1);
    let call = h.call(q2);
    assert!(
        rings(&h.drain()).is_empty(),
        "tenant 1's free agent must not ring"
    );
    assert_eq!(
        h.engine.interaction_status(call),
        Some(InteractionStatus::Waiting)
    );
    assert_eq!(rings(&h.login(a2)), vec![(call, a2)]);
}

// ----- strategies -----

#[test]
fn longest_idle_picks_the_agent_free_the_longest() {
    let (mut h, q, a) = one_queue(QueueStrategy::LongestIdle, 3);
    h.login(a[2]);
    h.advance(secs(1));
    h.login(a[0]);
    h.advance(secs(1));
    h.login(a[1]);
    h.call(q);
    assert_eq!(rung_agents(&h.drain()), vec![a[2]]);
    h.call(q);
    assert_eq!(rung_agents(&h.drain()), vec![a[0]]);
}

#[test]
fn round_robin_remembers_the_last_agent() {
    let (mut h, q, a) = one_queue(QueueStrategy::RoundRobin, 3);
    for agent in &a {
        h.login(*agent);
    }
    let mut order = Vec::new();
    for _ in 0..4 {
        let call = h.call(q);
        let rung = rung_agents(&h.drain());
        order.extend(rung.iter().copied());
        h.answer(call, rung[0]);
        h.hang_up(call);
    }
    assert_eq!(order, vec![a[0], a[1], a[2], a[0]]);
}

#[test]
fn serial_always_starts_from_the_top() {
    let (mut h, q, a) = one_queue(QueueStrategy::Serial, 3);
    for agent in &a {
        h.login(*agent);
    }
    for _ in 0..2 {
        let call = h.call(q);
        assert_eq!(rung_agents(&h.drain()), vec![a[0]]);
        h.answer(call, a[0]);
        h.hang_up(call);
    }
    // The top agent lets it ring out: the next one down is tried.
    let call = h.call(q);
    h.drain();
    let next = h.advance(secs(30));
    assert_eq!(rings(&next), vec![(call, a[1])]);
}

#[test]
fn ring_all_rings_everyone_and_the_first_answer_wins() {
    let (mut h, q, a) = one_queue(QueueStrategy::RingAll, 3);
    for agent in &a {
        h.login(*agent);
    }
    let call = h.call(q);
    let mut rung = rung_agents(&h.drain());
    rung.sort();
    assert_eq!(rung, a);
    let after = h.answer(call, a[1]);
    let cancelled: Vec<AgentId> = after
        .iter()
        .filter_map(|c| match c {
            Command::CancelRing {
                agent,
                reason: CancelReason::AnsweredElsewhere,
                ..
            } => Some(*agent),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled, vec![a[0], a[2]]);
    assert!(after.contains(&Command::Connect {
        interaction: call,
        agent: a[1]
    }));
    // The loser's late answer is ignored, not a second connection.
    let ignored = h.engine.stats().ignored_inputs;
    h.answer(call, a[0]);
    assert_eq!(h.engine.stats().ignored_inputs, ignored + 1);
    assert_eq!(h.status(a[0]), AgentStatus::Available);
    assert_eq!(h.status(a[1]), AgentStatus::OnCall);
}

#[test]
fn least_talk_time_and_fewest_calls_prefer_the_least_loaded() {
    for strategy in [QueueStrategy::LeastTalkTime, QueueStrategy::FewestCalls] {
        let (mut h, q, a) = one_queue(strategy, 2);
        h.login(a[1]);
        h.login(a[0]);
        // a[1] is idle longer but takes one call first.
        let call = h.call(q);
        let first = rung_agents(&h.drain())[0];
        h.answer(call, first);
        h.advance(secs(60));
        h.hang_up(call);
        h.call(q);
        let second = rung_agents(&h.drain())[0];
        assert_ne!(first, second, "{strategy:?}");
    }
}

#[test]
fn weighted_random_follows_the_weights_and_repeats_with_the_seed() {
    let run = || {
        let q = queue_id(T1, 1);
        let mut queue = QueueConfig::new(q, "w");
        queue.strategy = QueueStrategy::WeightedRandom;
        let (heavy, light) = (agent_id(T1, 1), agent_id(T1, 2));
        let mut a = agent(heavy, &[q]);
        a.queues[0].weight = 9;
        let mut h = Harness::new(config(vec![queue], vec![a, agent(light, &[q])]));
        h.login(heavy);
        h.login(light);
        let mut picks = Vec::new();
        for _ in 0..400 {
            let call = h.call(q);
            let agent = rung_agents(&h.drain())[0];
            picks.push(agent);
            h.hang_up(call);
        }
        (picks, heavy)
    };
    let (picks, heavy) = run();
    let heavy_share = picks.iter().filter(|a| **a == heavy).count();
    assert!((320..=390).contains(&heavy_share), "{heavy_share} of 400");
    assert_eq!(run().0, picks, "same seed, same picks");
}

#[test]
fn random_spreads_calls() {
    let (mut h, q, a) = one_queue(QueueStrategy::Random, 4);
    for agent in &a {
        h.login(*agent);
    }
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let call = h.call(q);
        seen.insert(rung_agents(&h.drain())[0]);
        h.hang_up(call);
    }
    assert_eq!(seen.len(), 4);
}

// ----- alerts, no-answer, wrap-up, presence, opt-in -----

#[test]
fn an_unanswered_alert_moves_to_the_next_agent() {
    let (mut h, q, a) = one_queue(QueueStrategy::Serial, 2);
    h.login(a[0]);
    h.login(a[1]);
    let call = h.call(q);
    assert_eq!(rung_agents(&h.drain()), vec![a[0]]);
    assert!(h.advance(secs(29)).is_empty());
    let next = h.advance(secs(1));
    assert!(next.contains(&Command::CancelRing {
        interaction: call,
        agent: a[0],
        reason: CancelReason::AlertTimeout
    }));
    assert_eq!(rings(&next), vec![(call, a[1])]);
    assert!(h.event_kinds().any(|kind| matches!(kind,
        EventKind::RingNoAnswer { agent, outcome: RingOutcome::AlertTimeout, rang, .. }
            if *agent == a[0] && *rang == secs(30))));
}

#[test]
fn consecutive_missed_alerts_make_the_agent_not_ready() {
    let (mut h, q, a) = one_queue(QueueStrategy::LongestIdle, 1);
    h.login(a[0]);
    let call = h.call(q);
    for _ in 0..2 {
        h.drain();
        h.engine.handle_agent_rejected(h.now, call, a[0]).unwrap();
        h.engine.check_invariants(h.now).unwrap();
        // The only agent gets it again (a new round).
        assert_eq!(h.status(a[0]), AgentStatus::Reserved);
    }
    h.advance(secs(30));
    assert_eq!(h.status(a[0]), AgentStatus::NotReady);
    assert!(h.event_kinds().any(|kind| matches!(
        kind,
        EventKind::AgentStateChanged {
            reason: Some(NotReadyReason::MissedAlerts),
            ..
        }
    )));
    assert_eq!(
        h.engine.interaction_status(call),
        Some(InteractionStatus::Waiting)
    );
    // Back to available: the call is offered again.
    h.engine
        .handle_agent_state_request(h.now, a[0], AgentStateRequest::Available)
        .unwrap();
    assert_eq!(rings(&h.drain()), vec![(call, a[0])]);
}

#[test]
fn wrap_up_ends_after_the_queue_time() {
    let q = queue_id(T1, 1);
    let mut queue = QueueConfig::new(q, "w");
    queue.wrap_up = secs(20);
    let a = agent_id(T1, 1);
    let mut h = Harness::new(config(vec![queue], vec![agent(a, &[q])]));
    h.login(a);
    let call = h.call(q);
    h.answer(call, a);
    h.advance(secs(100));
    h.hang_up(call);
    assert_eq!(h.status(a), AgentStatus::WrapUp);
    let second = h.call(q);
    assert!(rings(&h.drain()).is_empty());
    h.advance(secs(19));
    assert_eq!(h.status(a), AgentStatus::WrapUp);
    assert_eq!(rings(&h.advance(secs(1))), vec![(second, a)]);
    assert!(h.event_kinds().any(|kind| matches!(kind,
        EventKind::WrapUpEnded { wrap_up, .. } if *wrap_up == secs(20))));
    // Handle time 100 + 20 s feeds the estimate: 1 agent, position 2.
    assert_eq!(h.engine.estimated_wait(q, 2), Some(secs(240)));
}

#[test]
fn presence_routing_only_rings_available_agents_unless_switched_off() {
    let q = queue_id(T1, 1);
    let a = agent_id(T1, 1);
    let build = |presence_routing: bool| {
        let mut cfg = config(vec![QueueConfig::new(q, "p")], vec![agent(a, &[q])]);
        cfg.tenants[0].presence_routing = presence_routing;
        Harness::new(cfg)
    };
    let mut h = build(true);
    h.login(a);
    h.engine.handle_presence(h.now, a, Presence::Busy).unwrap();
    let call = h.call(q);
    assert!(rings(&h.drain()).is_empty());
    h.engine
        .handle_presence(h.now, a, Presence::Available)
        .unwrap();
    assert_eq!(rings(&h.drain()), vec![(call, a)]);

    let mut h = build(false);
    h.engine
        .handle_agent_state_request(h.now, a, AgentStateRequest::LogIn)
        .unwrap();
    h.engine
        .handle_presence(h.now, a, Presence::DoNotDisturb)
        .unwrap();
    let call = h.call(q);
    assert_eq!(rings(&h.drain()), vec![(call, a)]);
}

#[test]
fn opting_out_stops_calls_and_opting_in_takes_the_waiting_one() {
    let (mut h, q, a) = one_queue(QueueStrategy::LongestIdle, 1);
    h.login(a[0]);
    h.engine.handle_membership(h.now, a[0], q, false).unwrap();
    let call = h.call(q);
    assert!(rings(&h.drain()).is_empty());
    h.engine.handle_membership(h.now, a[0], q, true).unwrap();
    assert_eq!(rings(&h.drain()), vec![(call, a[0])]);
    let err = h
        .engine
        .handle_membership(h.now, a[0], queue_id(T1, 5), true)
        .unwrap_err();
    assert!(matches!(err, InputError::NotAMember { .. }));
}

#[test]
fn not_ready_while_ringing_cancels_the_ring_and_tries_the_next_agent() {
    let (mut h, q, a) = one_queue(QueueStrategy::Serial, 2);
    h.login(a[0]);
    h.login(a[1]);
    let call = h.call(q);
    h.drain();
    h.engine
        .handle_agent_state_request(h.now, a[0], AgentStateRequest::NotReady(ReasonCode(3)))
        .unwrap();
    let after = h.drain();
    assert!(after.contains(&Command::CancelRing {
        interaction: call,
        agent: a[0],
        reason: CancelReason::AgentUnavailable
    }));
    assert_eq!(rings(&after), vec![(call, a[1])]);
}

#[test]
fn not_ready_during_a_call_applies_when_it_ends() {
    let (mut h, q, a) = one_queue(QueueStrategy::LongestIdle, 1);
    h.login(a[0]);
    let call = h.call(q);
    h.answer(call, a[0]);
    h.engine
        .handle_agent_state_request(h.now, a[0], AgentStateRequest::NotReady(ReasonCode(1)))
        .unwrap();
    assert_eq!(h.status(a[0]), AgentStatus::OnCall);
    h.hang_up(call);
    assert_eq!(h.status(a[0]), AgentStatus::NotReady);
    h.call(q);
    assert!(rings(&h.drain()).is_empty());
}

// ----- tiers, skills, priority, fairness -----

#[test]
fn higher_tiers_join_after_the_tier_wait() {
    let q = queue_id(T1, 1);
    let mut queue = QueueConfig::new(q, "t");
    queue.tier_wait = secs(20);
    let (first, second) = (agent_id(T1, 1), agent_id(T1, 2));
    let mut tier2 = agent(second, &[q]);
    tier2.queues[0].level = 2;
    let mut h = Harness::new(config(vec![queue], vec![agent(first, &[q]), tier2]));
    h.login(second);
    let call = h.call(q);
    assert!(rings(&h.drain()).is_empty(), "tier 2 waits");
    assert!(h.advance(secs(19)).is_empty());
    assert_eq!(rings(&h.advance(secs(1))), vec![(call, second)]);
}

#[test]
fn bullseye_rings_relax_requirements_and_inner_agents_come_first() {
    let q = queue_id(T1, 1);
    let french = SkillId(1);
    let mut queue = QueueConfig::new(q, "fr");
    queue.requirements = vec![SkillRequirement {
        skill: french,
        min: level(4),
    }];
    queue.bullseye = vec![BullseyeRing {
        after: secs(30),
        lower_by: 2,
        drop: vec![],
    }];
    let (expert, novice) = (agent_id(T1, 1), agent_id(T1, 2));
    let mut e = agent(expert, &[q]);
    e.skills = vec![(french, level(5))];
    let mut n = agent(novice, &[q]);
    n.skills = vec![(french, level(2))];
    let mut h = Harness::new(config(vec![queue], vec![e, n]));
    h.login(novice);
    let call = h.call(q);
    assert!(rings(&h.drain()).is_empty(), "the novice is outside ring 0");
    assert_eq!(rings(&h.advance(secs(30))), vec![(call, novice)]);
    h.answer(call, novice);

    // Both free, ring 1 open: the expert (ring 0) is preferred even though
    // the novice has been idle longer.
    let mut h2 = Harness::new(h_config_two_skilled(q, french));
    h2.login(novice);
    h2.advance(secs(5));
    h2.login(expert);
    let later = h2.call(q);
    assert_eq!(rings(&h2.drain()), vec![(later, expert)]);
}

fn h_config_two_skilled(q: QueueId, skill: SkillId) -> EngineConfig {
    let mut queue = QueueConfig::new(q, "fr");
    queue.requirements = vec![SkillRequirement {
        skill,
        min: level(4),
    }];
    queue.bullseye = vec![BullseyeRing {
        after: Duration::ZERO,
        lower_by: 2,
        drop: vec![],
    }];
    let mut e = agent(agent_id(T1, 1), &[q]);
    e.skills = vec![(skill, level(5))];
    let mut n = agent(agent_id(T1, 2), &[q]);
    n.skills = vec![(skill, level(2))];
    config(vec![queue], vec![e, n])
}

#[test]
fn call_skills_add_to_the_queue_requirements() {
    let q = queue_id(T1, 1);
    let german = SkillId(2);
    let (plain, speaker) = (agent_id(T1, 1), agent_id(T1, 2));
    let mut s = agent(speaker, &[q]);
    s.skills = vec![(german, level(3))];
    let mut h = Harness::new(config(
        vec![QueueConfig::new(q, "q")],
        vec![agent(plain, &[q]), s],
    ));
    h.login(plain);
    h.login(speaker);
    let call = h.call_with(
        q,
        Priority(0),
        vec![SkillRequirement {
            skill: german,
            min: level(3),
        }],
    );
    assert_eq!(rings(&h.drain()), vec![(call, speaker)]);
}

/// Caller P0 waits from 0 s; a caller of `priority` arrives at `at`; an
/// agent logs in one second later. Returns whether the old caller rings.
fn old_caller_served_first(priority: u8, at: u64) -> bool {
    let q = queue_id(T1, 1);
    let mut queue = QueueConfig::new(q, "p");
    queue.aging = PriorityAging {
        points_per_minute: 1,
        max_bonus: 3,
    };
    let a = agent_id(T1, 1);
    let mut h = Harness::new(config(vec![queue], vec![agent(a, &[q])]));
    let old = h.call_with(q, Priority(0), vec![]);
    h.advance(secs(at));
    let new = h.call_with(q, Priority(priority), vec![]);
    h.advance(secs(1));
    let rung = rings(&h.login(a));
    assert_eq!(rung.len(), 1);
    assert!(rung[0] == (old, a) || rung[0] == (new, a));
    rung[0].0 == old
}

#[test]
fn priority_then_aging_decide_who_is_served_first() {
    // Without aging time, priority 2 beats priority 0.
    assert!(!old_caller_served_first(2, 0));
    // 101 s of aging: 1.68 points < 2.02.
    assert!(!old_caller_served_first(2, 100));
    // 131 s: 2.18 points > 2.02.
    assert!(old_caller_served_first(2, 130));
    // The bonus is capped at 3: never above priority 5.
    assert!(!old_caller_served_first(5, 900));
    // Equal scores: the earlier caller.
    assert!(old_caller_served_first(0, 10));
}

#[test]
fn an_agent_in_several_queues_takes_the_longest_waiting_caller() {
    let (q1, q2) = (queue_id(T1, 1), queue_id(T1, 2));
    let a = agent_id(T1, 1);
    let mut h = Harness::new(config(
        vec![QueueConfig::new(q1, "one"), QueueConfig::new(q2, "two")],
        vec![agent(a, &[q1, q2])],
    ));
    let older = h.call(q2);
    h.advance(secs(10));
    let newer = h.call(q1);
    h.advance(secs(1));
    let rung = h.login(a);
    assert_eq!(rings(&rung), vec![(older, a)]);
    h.answer(older, a);
    assert_eq!(rings(&h.hang_up(older)), vec![(newer, a)]);
}

// ----- exits: full, max wait, no agents -----

#[test]
fn a_full_queue_overflows_the_newest_call() {
    let q = queue_id(T1, 1);
    let mut queue = QueueConfig::new(q, "small");
    queue.max_queue_length = 1;
    queue.on_queue_full = OverflowAction::Voicemail {
        mailbox: "sales".into(),
    };
    let mut h = Harness::new(config(vec![queue], vec![]));
    let first = h.call(q);
    let second = h.call(q);
    let out = h.drain();
    assert_eq!(
        out,
        vec![Command::Overflow {
            interaction: second,
            queue: q,
            reason: OverflowReason::QueueFull,
            action: OverflowAction::Voicemail {
                mailbox: "sales".into()
            },
        }]
    );
    assert_eq!(
        h.engine.interaction_status(first),
        Some(InteractionStatus::Waiting)
    );
    assert_eq!(h.engine.interaction_status(second), None);
}

#[test]
fn max_wait_moves_the_call_to_the_overflow_queue() {
    let (q1, q2) = (queue_id(T1, 1), queue_id(T1, 2));
    let mut first = QueueConfig::new(q1, "first");
    first.max_wait = secs(60);
    first.on_max_wait = OverflowAction::Queue(q2);
    let a = agent_id(T1, 1);
    let mut h = Harness::new(config(
        vec![first, QueueConfig::new(q2, "backup")],
        vec![agent(a, &[q2])],
    ));
    h.login(a);
    let call = h.call(q1);
    assert!(h.advance(secs(59)).is_empty());
    assert_eq!(rings(&h.advance(secs(1))), vec![(call, a)]);
    assert!(h.event_kinds().any(|kind| matches!(kind,
        EventKind::Overflowed { reason: OverflowReason::MaxWait, action: OverflowAction::Queue(to), .. } if *to == q2)));
}

#[test]
fn no_agents_action_applies_to_new_calls_and_when_the_last_agent_leaves() {
    let q = queue_id(T1, 1);
    let mut queue = QueueConfig::new(q, "n");
    queue.no_agents = Some(NoAgentsPolicy {
        action: OverflowAction::ExternalNumber("+15550100".into()),
        scope: NoAgentsScope::AllCalls,
    });
    let (a, b) = (agent_id(T1, 1), agent_id(T1, 2));
    let mut h = Harness::new(config(vec![queue], vec![agent(a, &[q]), agent(b, &[q])]));
    let lonely = h.call(q);
    assert!(matches!(h.drain().as_slice(),
        [Command::Overflow { interaction, reason: OverflowReason::NoAgents, .. }] if *interaction == lonely));

    h.login(a);
    let c1 = h.call(q);
    h.answer(c1, a);
    let c2 = h.call(q);
    h.drain();
    // b logs in busy on presence: staffed but not routable.
    h.engine
        .handle_agent_state_request(h.now, b, AgentStateRequest::NotReady(ReasonCode(1)))
        .unwrap();
    h.engine
        .handle_agent_state_request(h.now, b, AgentStateRequest::LogOut)
        .unwrap();
    assert!(h.drain().is_empty(), "a still staffs the queue");
    h.engine
        .handle_agent_state_request(h.now, a, AgentStateRequest::LogOut)
        .unwrap();
    assert!(h.drain().is_empty(), "logging out applies after the call");
    let out = h.hang_up(c1);
    assert!(
        matches!(out.as_slice(),
        [Command::Overflow { interaction, reason: OverflowReason::NoAgents, .. }] if *interaction == c2),
        "{out:?}"
    );
}

// ----- announcements, estimated wait -----

#[test]
fn announcements_give_position_and_estimated_wait() {
    let q = queue_id(T1, 1);
    let mut queue = QueueConfig::new(q, "a");
    queue.announce = Some(AnnouncePolicy {
        period: secs(45),
        on_entry: true,
    });
    queue.default_handle_time = secs(120);
    let (a, b) = (agent_id(T1, 1), agent_id(T1, 2));
    let mut h = Harness::new(config(vec![queue], vec![agent(a, &[q]), agent(b, &[q])]));
    h.login(a);
    h.login(b);
    let c1 = h.call(q);
    let c2 = h.call(q);
    h.answer(c1, a);
    h.answer(c2, b);
    let c3 = h.call(q);
    let c4 = h.call(q);
    let entry = h.drain();
    assert!(entry.contains(&Command::Announce {
        interaction: c3,
        position: 1,
        ewt: Some(secs(60))
    }));
    assert!(entry.contains(&Command::Announce {
        interaction: c4,
        position: 2,
        ewt: Some(secs(120))
    }));
    let periodic = h.advance(secs(45));
    assert_eq!(periodic.len(), 2);
    h.hang_up(c3);
    let periodic = h.advance(secs(45));
    assert_eq!(
        periodic,
        vec![Command::Announce {
            interaction: c4,
            position: 1,
            ewt: Some(secs(60))
        }]
    );
}

// ----- callbacks -----

#[test]
fn a_callback_keeps_the_callers_place_and_retries() {
    let q = queue_id(T1, 1);
    let mut queue = QueueConfig::new(q, "cb");
    queue.callback.max_attempts = 2;
    queue.callback.retry_delay = secs(60);
    let a = agent_id(T1, 1);
    let mut h = Harness::new(config(vec![queue], vec![agent(a, &[q])]));
    let first = h.call(q);
    h.advance(secs(5));
    let second = h.call(q);
    let callback = h
        .engine
        .handle_callback_requested(h.now, first, "+15550199".into())
        .unwrap()
        .unwrap();
    assert_eq!(h.engine.interaction_status(first), None);
    // The caller's leg hangs up afterwards: not an abandon.
    h.hang_up(first);
    assert!(!h
        .event_kinds()
        .any(|k| matches!(k, EventKind::Abandoned { .. })));
    assert_eq!(h.engine.queue_snapshot(q, h.now).unwrap().callbacks, 1);

    h.login(a);
    assert_eq!(
        rings(&h.commands),
        vec![(callback, a)],
        "the callback kept its place"
    );
    let placed = h.answer(callback, a);
    assert_eq!(
        placed,
        vec![Command::PlaceCallback {
            interaction: callback,
            agent: a,
            number: "+15550199".into(),
            attempt: 1
        }]
    );
    // Not reached: the agent is free again and takes the live call.
    h.engine
        .handle_callback_result(h.now, callback, false)
        .unwrap();
    assert_eq!(rings(&h.drain()), vec![(second, a)]);
    h.answer(second, a);
    // Retry after the delay, still ahead of anyone newer, only once the
    // agent is free.
    let third = h.call(q);
    assert!(h.advance(secs(60)).is_empty());
    assert_eq!(rings(&h.hang_up(second)), vec![(callback, a)]);
    h.answer(callback, a);
    h.engine
        .handle_callback_result(h.now, callback, false)
        .unwrap();
    h.drain();
    assert!(h
        .event_kinds()
        .any(|k| matches!(k, EventKind::CallbackFailed { attempts: 2, .. })));
    assert_eq!(h.engine.interaction_status(callback), None);
    assert_eq!(rings(&h.commands).last(), Some(&(third, a)));
}

#[test]
fn a_callback_offer_on_overflow_keeps_the_place_until_it_expires() {
    let q = queue_id(T1, 1);
    let mut queue = QueueConfig::new(q, "cb");
    queue.max_wait = secs(30);
    queue.on_max_wait = OverflowAction::OfferCallback;
    queue.callback.offer_timeout = secs(20);
    let a = agent_id(T1, 1);
    let mut h = Harness::new(config(vec![queue], vec![agent(a, &[q])]));
    let taker = h.call(q);
    let decliner = h.call(q);
    let out = h.advance(secs(30));
    assert_eq!(out.len(), 2);
    assert_eq!(
        h.engine.interaction_status(taker),
        Some(InteractionStatus::CallbackOffered)
    );
    let later = h.call(q);
    let callback = h
        .engine
        .handle_callback_requested(h.now, taker, "+15550100".into())
        .unwrap()
        .unwrap();
    h.advance(secs(20));
    assert_eq!(h.engine.interaction_status(decliner), None);
    assert!(h.event_kinds().any(|k| matches!(k,
        EventKind::CallbackCancelled { interaction, .. } if *interaction == decliner)));
    h.login(a);
    assert_eq!(rings(&h.commands).last(), Some(&(callback, a)));
    assert_eq!(
        h.engine.interaction_status(later),
        Some(InteractionStatus::Waiting)
    );
}

#[test]
fn a_callback_expires_after_its_queues_max_age() {
    let q = queue_id(T1, 1);
    let mut queue = QueueConfig::new(q, "cb");
    queue.callback.max_age = Some(secs(120));
    let a = agent_id(T1, 1);
    let mut h = Harness::new(config(vec![queue], vec![agent(a, &[q])]));
    let call = h.call(q);
    h.advance(secs(30));
    let callback = h
        .engine
        .handle_callback_requested(h.now, call, "+15550199".into())
        .unwrap()
        .unwrap();
    // Counted from the request, not from the call's arrival.
    h.advance(secs(119));
    assert_eq!(
        h.engine.interaction_status(callback),
        Some(InteractionStatus::Waiting)
    );
    h.advance(secs(1));
    assert_eq!(h.engine.interaction_status(callback), None);
    assert_eq!(h.engine.queue_snapshot(q, h.now).unwrap().callbacks, 0);
    assert!(h.event_kinds().any(|k| matches!(k,
        EventKind::CallbackExpired { interaction, age, attempts: 0, .. }
            if *interaction == callback && *age == secs(120))));
    // The agent who comes later finds nothing to call back.
    assert!(rings(&h.login(a)).is_empty());
}

#[test]
fn a_callback_being_dialled_at_its_max_age_finishes_the_attempt_then_expires() {
    let q = queue_id(T1, 1);
    let mut queue = QueueConfig::new(q, "cb");
    queue.callback.max_age = Some(secs(60));
    queue.callback.retry_delay = secs(10);
    let a = agent_id(T1, 1);
    let mut h = Harness::new(config(vec![queue], vec![agent(a, &[q])]));
    let call = h.call(q);
    let callback = h
        .engine
        .handle_callback_requested(h.now, call, "+15550199".into())
        .unwrap()
        .unwrap();
    h.advance(secs(50));
    assert_eq!(rings(&h.login(a)), vec![(callback, a)]);
    h.answer(callback, a);
    h.advance(secs(20));
    assert_eq!(
        h.engine.interaction_status(callback),
        Some(InteractionStatus::CallbackDialing),
        "the attempt under way goes on"
    );
    h.engine
        .handle_callback_result(h.now, callback, false)
        .unwrap();
    h.engine.check_invariants(h.now).unwrap();
    h.drain();
    // Not reached, and too old to retry: expired, not failed.
    assert_eq!(h.engine.interaction_status(callback), None);
    assert!(h.event_kinds().any(|k| matches!(k,
        EventKind::CallbackExpired { interaction, attempts: 1, .. } if *interaction == callback)));
    assert!(!h
        .event_kinds()
        .any(|k| matches!(k, EventKind::CallbackFailed { .. })));
    assert_eq!(h.engine.agent_status(a), Some(AgentStatus::Available));
}

// ----- abandons and the log -----

#[test]
fn hanging_up_while_queued_or_ringing_is_an_abandon() {
    let (mut h, q, a) = one_queue(QueueStrategy::LongestIdle, 1);
    let waiting = h.call(q);
    let behind = h.call(q);
    h.advance(secs(12));
    h.hang_up(behind);
    assert!(h.event_kinds().any(|k| matches!(k,
        EventKind::Abandoned { interaction, wait, position: 2, original_position: 2, while_ringing: false, .. }
            if *interaction == behind && *wait == secs(12))));
    h.login(a[0]);
    let out = h.hang_up(waiting);
    assert!(out.contains(&Command::CancelRing {
        interaction: waiting,
        agent: a[0],
        reason: CancelReason::CallerGone
    }));
    assert!(h.event_kinds().any(|k| matches!(k,
        EventKind::Abandoned { interaction, while_ringing: true, .. } if *interaction == waiting)));
    assert_eq!(h.status(a[0]), AgentStatus::Available);
    // A second hang-up of the same call is ignored, not an error.
    h.hang_up(waiting);
    assert!(h.event_kinds().any(|k| matches!(
        k,
        EventKind::InputIgnored {
            reason: IgnoreReason::InteractionGone,
            ..
        }
    )));
}

#[test]
fn the_log_numbers_events_in_order_and_answers_carry_the_wait() {
    let (mut h, q, a) = one_queue(QueueStrategy::LongestIdle, 1);
    let call = h.call(q);
    h.advance(secs(8));
    h.login(a[0]);
    h.advance(secs(2));
    h.answer(call, a[0]);
    h.advance(secs(30));
    h.hang_up(call);
    let seqs: Vec<u64> = h.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert!(h.events.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(h.events.iter().all(|e| e.tenant == T1));
    assert!(h.event_kinds().any(|k| matches!(k,
        EventKind::Answered { wait, kind: InteractionKind::Voice, .. } if *wait == secs(10))));
    assert!(h.event_kinds().any(|k| matches!(k,
        EventKind::Completed { talk, reason: EndReason::CallerHangup, .. } if *talk == secs(30))));
}

#[test]
fn time_going_backwards_is_treated_as_no_time() {
    let (mut h, q, a) = one_queue(QueueStrategy::LongestIdle, 1);
    h.login(a[0]);
    let call = h.call(q);
    let earlier = h.now - secs(100);
    h.engine.handle_timeout(earlier);
    h.engine.handle_agent_answered(earlier, call, a[0]).unwrap();
    h.engine.check_invariants(h.now).unwrap();
    assert_eq!(h.status(a[0]), AgentStatus::OnCall);
}

#[test]
fn thousands_of_agents_and_calls_dispatch_without_a_quadratic_sweep() {
    let q = queue_id(T1, 1);
    let agents: Vec<AgentConfig> = (1..=3000).map(|n| agent(agent_id(T1, n), &[q])).collect();
    let mut queue = QueueConfig::new(q, "big");
    queue.max_queue_length = 10_000;
    let mut h = Harness::new(config(vec![queue], agents));
    for n in 1..=3000 {
        h.engine
            .handle_agent_state_request(h.now, agent_id(T1, n), AgentStateRequest::LogIn)
            .unwrap();
        h.engine
            .handle_presence(h.now, agent_id(T1, n), Presence::Available)
            .unwrap();
    }
    let started = std::time::Instant::now();
    let mut rung = 0;
    for _ in 0..4000 {
        h.engine
            .handle_call_arrived(h.now, T1, q, CallAttributes::default(), Priority(0))
            .unwrap();
        while let Some(command) = h.engine.poll_command() {
            rung += usize::from(matches!(command, Command::RingAgent { .. }));
        }
        while h.engine.poll_event().is_some() {}
    }
    assert_eq!(rung, 3000);
    assert_eq!(h.engine.queue_snapshot(q, h.now).unwrap().waiting, 1000);
    // Generous bound for a debug build on a shared machine.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    h.engine.check_invariants(h.now).unwrap();
}

#[test]
fn numbers_lead_to_their_queue_and_snapshots_count_the_line() {
    let q = queue_id(T1, 1);
    let a = agent_id(T1, 1);
    let mut cfg = config(vec![QueueConfig::new(q, "q")], vec![agent(a, &[q])]);
    cfg.numbers = vec![crate::NumberConfig {
        number: "+12065550100".into(),
        queue: q,
    }];
    let mut h = Harness::new(cfg);
    assert_eq!(h.engine.queue_for_number("+12065550100"), Some(q));
    assert_eq!(h.engine.queue_for_number("+12065550101"), None);
    h.call(q);
    h.advance(secs(7));
    h.call(q);
    let snapshot = h.engine.queue_snapshot(q, h.now).unwrap();
    assert_eq!(
        (snapshot.waiting, snapshot.staffed, snapshot.idle),
        (2, 0, 0)
    );
    assert_eq!(snapshot.longest_wait, Some(secs(7)));
    h.login(a);
    let snapshot = h.engine.queue_snapshot(q, h.now).unwrap();
    assert_eq!(
        (snapshot.waiting, snapshot.staffed, snapshot.idle),
        (1, 1, 0)
    );
}

#[test]
fn a_ring_the_call_layer_gives_up_on_counts_as_a_miss_and_a_transfer_away_is_no_abandon() {
    let (mut h, q, a) = one_queue(QueueStrategy::LongestIdle, 1);
    h.login(a[0]);
    let call = h.call(q);
    h.drain();
    h.engine.handle_agent_no_answer(h.now, call, a[0]).unwrap();
    h.engine.check_invariants(h.now).unwrap();
    h.drain();
    assert!(h.event_kinds().any(|k| matches!(
        k,
        EventKind::RingNoAnswer {
            outcome: RingOutcome::NoAnswer,
            ..
        }
    )));
    assert_eq!(h.engine.agents.get(&a[0]).unwrap().machine.missed, 1);
    h.engine
        .handle_call_ended(h.now, call, EndReason::Transferred)
        .unwrap();
    h.drain();
    assert!(h.event_kinds().any(|k| matches!(
        k,
        EventKind::Dequeued {
            reason: EndReason::Transferred,
            ..
        }
    )));
    assert!(!h
        .event_kinds()
        .any(|k| matches!(k, EventKind::Abandoned { .. })));
}
