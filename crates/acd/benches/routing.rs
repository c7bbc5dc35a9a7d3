//! Routing decisions at contact-center scale: 10,000 agents in 500 queues
//! (10 tenants of 50 queues and 1,000 agents; every agent in 4 queues of
//! its tenant at tier 1-3, 2 skills at proficiency 1-5; the queues cycle
//! through the 8 strategies, a fifth require a skill, half have tiers that
//! join after 20 s, half age priorities up to a cap, half relax skills with
//! bullseye rings) and 100,000 calls waiting (priority 0-3, 30 % with a
//! skill of their own). Simulated time moves 1 ms per decision.
//!
//! ```text
//! cargo bench -p acd --bench routing -j2
//! ```
//!
//! A decision is one input that makes the engine pick a pairing:
//!
//! - "agent freed": a connected call ends, the agent becomes available
//!   and takes the best waiting call of its queues (or stays free);
//! - "call arrives": a call joins its queue (rung at once if a free agent
//!   qualifies, else queued with its position).
//!
//! Each is timed alone with `Instant` around the `handle_*` call (the
//! answer to the ring, the replacement call and the draining of commands
//! and events are not timed). Printed: p50, p99, max and decisions per
//! second of busy core time, first in lockstep with a naive router that
//! scans every waiting call (agent freed) or every agent (call arrives)
//! per decision, asserting that both pick the same call for every freed
//! agent, then for the engine alone over a longer run; criterion's mean
//! per decision follows. Without `--bench` (`cargo test --benches`) a
//! small version runs once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::time::{Duration, Instant};

use acd::{
    AgentConfig, AgentId, AgentStateRequest, BullseyeRing, CallAttributes, Command, EndReason,
    Engine, EngineConfig, InteractionId, InteractionStatus, Presence, Priority, PriorityAging,
    Proficiency, QueueConfig, QueueId, QueueMembership, QueueStrategy, SkillId, SkillRequirement,
    TeamsIdentity, TenantConfig, TenantId, MAX_SETTING,
};
use criterion::Criterion;

const STRATEGIES: [QueueStrategy; 8] = [
    QueueStrategy::LongestIdle,
    QueueStrategy::RoundRobin,
    QueueStrategy::RingAll,
    QueueStrategy::Serial,
    QueueStrategy::LeastTalkTime,
    QueueStrategy::FewestCalls,
    QueueStrategy::Random,
    QueueStrategy::WeightedRandom,
];
const SKILLS: u64 = 6;
const QUEUES_PER_AGENT: usize = 4;
const STEP: Duration = Duration::from_millis(1);

/// The size of one run.
#[derive(Debug, Clone, Copy)]
struct Scale {
    tenants: u32,
    queues_per_tenant: u32,
    agents_per_tenant: u32,
    waiting: usize,
    lockstep: usize,
    engine_only: usize,
}

const FULL: Scale = Scale {
    tenants: 10,
    queues_per_tenant: 50,
    agents_per_tenant: 1000,
    waiting: 100_000,
    lockstep: 3_000,
    engine_only: 100_000,
};

const SMOKE: Scale = Scale {
    tenants: 2,
    queues_per_tenant: 10,
    agents_per_tenant: 100,
    waiting: 2_000,
    lockstep: 200,
    engine_only: 500,
};

/// splitmix64: the bench's own randomness, fixed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    fn proficiency(&mut self, low: u64, high: u64) -> Proficiency {
        let level = low + self.below(high - low + 1);
        Proficiency::new(u8::try_from(level).unwrap()).unwrap()
    }

    fn skill(&mut self) -> SkillId {
        SkillId(u32::try_from(1 + self.below(SKILLS)).unwrap())
    }
}

fn config(scale: Scale, rng: &mut Rng) -> EngineConfig {
    let mut config = EngineConfig {
        seed: 7,
        ..EngineConfig::default()
    };
    for t in 1..=scale.tenants {
        let tenant = TenantId::new(t);
        config.tenants.push(TenantConfig::new(
            tenant,
            format!("t{t}"),
            format!("entra-{t}"),
        ));
        for q in 1..=scale.queues_per_tenant {
            let id = QueueId::new(tenant, q);
            let mut queue = QueueConfig::new(id, format!("q{q}"));
            let n = usize::try_from(q).unwrap();
            queue.strategy = STRATEGIES[n % STRATEGIES.len()];
            queue.max_wait = MAX_SETTING;
            queue.max_queue_length = u32::MAX;
            if n % 5 == 0 {
                queue.requirements = vec![SkillRequirement {
                    skill: rng.skill(),
                    min: rng.proficiency(1, 3),
                }];
            }
            if n % 2 == 0 {
                queue.tier_wait = Duration::from_secs(20);
            }
            if n % 4 < 2 {
                queue.aging = PriorityAging {
                    points_per_minute: 6,
                    max_bonus: 3,
                };
            }
            if n % 4 != 1 {
                queue.bullseye = vec![
                    BullseyeRing {
                        after: Duration::from_secs(30),
                        lower_by: 1,
                        drop: vec![],
                    },
                    BullseyeRing {
                        after: Duration::from_secs(90),
                        lower_by: 4,
                        drop: (1..=u32::try_from(SKILLS).unwrap()).map(SkillId).collect(),
                    },
                ];
            }
            config.queues.push(queue);
        }
        for a in 1..=scale.agents_per_tenant {
            let id = AgentId::new(tenant, a);
            let mut agent = AgentConfig::new(id, format!("a{a}"), TeamsIdentity::default());
            let first = rng.skill();
            let second = SkillId(
                1 + (first.0 + u32::try_from(rng.below(SKILLS - 1)).unwrap())
                    % u32::try_from(SKILLS).unwrap(),
            );
            agent.skills = vec![
                (first, rng.proficiency(1, 5)),
                (second, rng.proficiency(1, 5)),
            ];
            agent.max_no_answer = 0;
            while agent.queues.len() < QUEUES_PER_AGENT {
                let q = 1 + u32::try_from(rng.below(u64::from(scale.queues_per_tenant))).unwrap();
                let queue = QueueId::new(tenant, q);
                if agent.queues.iter().any(|m| m.queue == queue) {
                    continue;
                }
                let level = match rng.below(10) {
                    0..=5 => 1,
                    6..=8 => 2,
                    _ => 3,
                };
                agent.queues.push(QueueMembership {
                    level,
                    position: a,
                    weight: 1 + u32::try_from(rng.below(4)).unwrap(),
                    ..QueueMembership::new(queue)
                });
            }
            config.agents.push(agent);
        }
    }
    config
}

// ----- the baseline -----

struct NaiveCall {
    id: InteractionId,
    queue: usize,
    priority: u8,
    skills: Vec<SkillRequirement>,
    entered_at: Instant,
    place: u64,
}

struct NaiveAgent {
    config: AgentConfig,
    free_since: Option<Instant>,
}

/// A router that keeps flat lists and scans them whole for every
/// decision: correct (the same qualification and line order as the
/// engine) but O(waiting calls) per freed agent and O(agents) per call.
struct Naive {
    queues: Vec<QueueConfig>,
    queue_index: HashMap<QueueId, usize>,
    agents: Vec<NaiveAgent>,
    agent_index: HashMap<AgentId, usize>,
    calls: Vec<NaiveCall>,
    call_slot: HashMap<InteractionId, usize>,
}

impl Naive {
    fn new(config: &EngineConfig) -> Self {
        Self {
            queues: config.queues.clone(),
            queue_index: config
                .queues
                .iter()
                .enumerate()
                .map(|(at, q)| (q.id, at))
                .collect(),
            agents: config
                .agents
                .iter()
                .map(|a| NaiveAgent {
                    config: a.clone(),
                    free_since: None,
                })
                .collect(),
            agent_index: config
                .agents
                .iter()
                .enumerate()
                .map(|(at, a)| (a.id, at))
                .collect(),
            calls: Vec::new(),
            call_slot: HashMap::new(),
        }
    }

    fn add_call(&mut self, call: NaiveCall) {
        self.call_slot.insert(call.id, self.calls.len());
        self.calls.push(call);
    }

    fn remove_call(&mut self, id: InteractionId) {
        let Some(slot) = self.call_slot.remove(&id) else {
            return;
        };
        self.calls.swap_remove(slot);
        if let Some(moved) = self.calls.get(slot) {
            self.call_slot.insert(moved.id, slot);
        }
    }

    fn set_free(&mut self, agent: AgentId, since: Option<Instant>) {
        let at = self.agent_index[&agent];
        self.agents[at].free_since = since;
    }

    /// The innermost bullseye ring in which the agent qualifies, and its
    /// tier level.
    fn qualifies(
        &self,
        agent: &AgentConfig,
        call: &NaiveCall,
        now: Instant,
    ) -> Option<(usize, u8)> {
        let queue = &self.queues[call.queue];
        let membership = agent.queues.iter().find(|m| m.queue == queue.id)?;
        let waited = now.saturating_duration_since(call.entered_at);
        let steps = u32::from(membership.level.saturating_sub(1));
        if queue.tier_wait * steps > waited {
            return None;
        }
        let open = queue.bullseye.iter().filter(|r| r.after <= waited).count();
        (0..=open)
            .find(|&ring| {
                let relax = ring.checked_sub(1).map(|at| &queue.bullseye[at]);
                queue.requirements.iter().chain(&call.skills).all(|need| {
                    let (dropped, lower) =
                        relax.map_or((false, 0), |r| (r.drop.contains(&need.skill), r.lower_by));
                    let min = need.min.get().saturating_sub(lower).max(1);
                    dropped
                        || agent
                            .skills
                            .iter()
                            .any(|(skill, level)| *skill == need.skill && level.get() >= min)
                })
            })
            .map(|ring| (ring, membership.level))
    }

    fn order(&self, call: &NaiveCall, now: Instant) -> (Reverse<u64>, Instant, u64) {
        let aging = self.queues[call.queue].aging;
        let waited = now.saturating_duration_since(call.entered_at).as_millis();
        let gained = waited * u128::from(aging.points_per_minute) / 60;
        let bonus = gained.min(u128::from(aging.max_bonus) * 1000);
        let score = u128::from(call.priority) * 1000 + bonus;
        (
            Reverse(u64::try_from(score).unwrap()),
            call.entered_at,
            call.place,
        )
    }

    /// Agent freed: every waiting call, best line order among those the
    /// agent qualifies for.
    fn pick_call(&self, agent: AgentId, now: Instant) -> Option<InteractionId> {
        let agent = &self.agents[self.agent_index[&agent]].config;
        self.calls
            .iter()
            .filter(|call| self.qualifies(agent, call, now).is_some())
            .min_by_key(|call| self.order(call, now))
            .map(|call| call.id)
    }

    /// Call arrives: every agent, the free one of the innermost ring and
    /// lowest tier, longest idle first.
    fn pick_agent(&self, call: InteractionId, now: Instant) -> Option<AgentId> {
        let call = &self.calls[*self.call_slot.get(&call)?];
        self.agents
            .iter()
            .filter_map(|agent| {
                let since = agent.free_since?;
                let (ring, level) = self.qualifies(&agent.config, call, now)?;
                Some((ring, level, since, agent.config.id))
            })
            .min()
            .map(|best| best.3)
    }
}

// ----- the driver -----

/// Latencies of one kind of decision.
#[derive(Default)]
struct Samples(Vec<Duration>);

impl Samples {
    fn report(&mut self, name: &str) {
        let samples = &mut self.0;
        if samples.is_empty() {
            return;
        }
        samples.sort_unstable();
        let n = samples.len();
        let total: Duration = samples.iter().sum();
        let at = |q: usize| samples[(n * q / 100).min(n - 1)];
        let per_second = n as f64 / total.as_secs_f64();
        println!(
            "{name:<34} n={n:>6}  p50={:>9.2?}  p99={:>9.2?}  max={:>9.2?}  mean={:>9.2?}  {per_second:>10.0} decisions/s",
            at(50),
            at(99),
            samples[n - 1],
            total / u32::try_from(n).unwrap(),
        );
    }
}

struct World {
    engine: Engine,
    naive: Naive,
    /// The baseline follows every pairing the engine makes.
    mirror: bool,
    rng: Rng,
    now: Instant,
    queues: Vec<QueueId>,
    waiting: HashSet<InteractionId>,
    connected: Vec<(InteractionId, AgentId)>,
    next_place: u64,
    target: usize,
    agreed: u64,
    kept_free: u64,
    events: u64,
}

impl World {
    fn build(scale: Scale) -> Self {
        let mut rng = Rng(0x5eed);
        let config = config(scale, &mut rng);
        let naive = Naive::new(&config);
        let queues = config.queues.iter().map(|q| q.id).collect();
        let agents: Vec<AgentId> = config.agents.iter().map(|a| a.id).collect();
        let mut world = Self {
            engine: Engine::new(config).expect("the bench's configuration is valid"),
            naive,
            mirror: true,
            rng,
            now: Instant::now(),
            queues,
            waiting: HashSet::new(),
            connected: Vec::new(),
            next_place: 0,
            target: scale.waiting,
            agreed: 0,
            kept_free: 0,
            events: 0,
        };
        for agent in agents {
            let now = world.now;
            let engine = &mut world.engine;
            engine
                .handle_agent_state_request(now, agent, AgentStateRequest::LogIn)
                .unwrap();
            engine
                .handle_presence(now, agent, Presence::Available)
                .unwrap();
            world.naive.set_free(agent, Some(now));
            world.settle(None);
        }
        while world.waiting.len() < world.target {
            world.now += STEP;
            world.timeouts();
            world.arrive();
        }
        world
    }

    fn timeouts(&mut self) {
        if self.engine.poll_timeout().is_some_and(|at| at <= self.now) {
            self.engine.handle_timeout(self.now);
            self.settle(None);
        }
    }

    /// Drains the engine: answers every ring at once and mirrors the
    /// pairings in the baseline. Returns the call rung for `agent`.
    fn settle(&mut self, agent: Option<AgentId>) -> Option<InteractionId> {
        let mut picked = None;
        let mut answered = HashSet::new();
        while let Some(command) = self.engine.poll_command() {
            match command {
                Command::RingAgent {
                    interaction,
                    agent: rung,
                    ..
                } => {
                    if Some(rung) == agent && picked.is_none() {
                        picked = Some(interaction);
                    }
                    self.waiting.remove(&interaction);
                    if self.mirror {
                        self.naive.remove_call(interaction);
                        self.naive.set_free(rung, None);
                    }
                    if answered.insert(interaction) {
                        self.engine
                            .handle_agent_answered(self.now, interaction, rung)
                            .unwrap();
                    }
                }
                Command::CancelRing {
                    agent: cancelled, ..
                } if self.mirror => {
                    self.naive.set_free(cancelled, Some(self.now));
                }
                Command::Connect { interaction, agent } => {
                    self.connected.push((interaction, agent));
                }
                _ => {}
            }
        }
        while self.engine.poll_event().is_some() {
            self.events += 1;
        }
        picked
    }

    /// A new call; returns the engine's and the baseline's decision time.
    fn arrive(&mut self) -> (Duration, Option<Duration>) {
        let queue = self.queues[usize::try_from(self.rng.below(self.queues.len() as u64)).unwrap()];
        let priority = match self.rng.below(10) {
            0..=6 => 0,
            7 | 8 => 1,
            _ => 2 + u8::try_from(self.rng.below(2)).unwrap(),
        };
        let skills = if self.rng.percent(30) {
            vec![SkillRequirement {
                skill: self.rng.skill(),
                min: self.rng.proficiency(1, 3),
            }]
        } else {
            Vec::new()
        };
        let attributes = CallAttributes {
            skills: skills.clone(),
            ..CallAttributes::default()
        };
        let start = Instant::now();
        let id = self
            .engine
            .handle_call_arrived(
                self.now,
                queue.tenant(),
                queue,
                attributes,
                Priority(priority),
            )
            .unwrap();
        let engine = start.elapsed();
        self.next_place += 1;
        let mut naive = None;
        if self.mirror {
            self.naive.add_call(NaiveCall {
                id,
                queue: self.naive.queue_index[&queue],
                priority,
                skills,
                entered_at: self.now,
                place: self.next_place,
            });
            let start = Instant::now();
            black_box(self.naive.pick_agent(id, self.now));
            naive = Some(start.elapsed());
        }
        if self.engine.interaction_status(id) == Some(InteractionStatus::Waiting) {
            self.waiting.insert(id);
        }
        self.settle(None);
        (engine, naive)
    }

    /// A connected call ends; returns the engine's and the baseline's
    /// decision time for the freed agent, after checking they agree.
    fn free_agent(&mut self) -> (Duration, Option<Duration>) {
        if self.connected.is_empty() {
            return (Duration::ZERO, None);
        }
        let at = usize::try_from(self.rng.below(self.connected.len() as u64)).unwrap();
        let (call, agent) = self.connected.swap_remove(at);
        let start = Instant::now();
        self.engine
            .handle_call_ended(self.now, call, EndReason::AgentHangup)
            .unwrap();
        let engine = start.elapsed();
        let mut naive = None;
        let mut expected = None;
        if self.mirror {
            self.naive.set_free(agent, Some(self.now));
            let start = Instant::now();
            expected = self.naive.pick_call(agent, self.now);
            naive = Some(start.elapsed());
        }
        let picked = self.settle(Some(agent));
        if picked.is_none() {
            self.kept_free += 1;
        }
        if self.mirror {
            assert_eq!(picked, expected, "engine and baseline disagree for {agent}");
            self.agreed += 1;
        }
        (engine, naive)
    }

    /// One round: time moves, timers fire, an agent is freed, calls
    /// arrive until the line is full again.
    fn round(&mut self) -> [(Duration, Option<Duration>); 2] {
        self.now += STEP;
        self.timeouts();
        let freed = self.free_agent();
        let mut arrived = self.arrive();
        while self.waiting.len() < self.target {
            arrived = self.arrive();
        }
        [freed, arrived]
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let scale = if full { FULL } else { SMOKE };
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("routing bench {scale:?}");
    println!("load average before: {}", loadavg.trim());

    let start = Instant::now();
    let mut world = World::build(scale);
    println!(
        "built in {:.1?}: {} waiting, {} connected, {} events so far",
        start.elapsed(),
        world.waiting.len(),
        world.connected.len(),
        world.events,
    );

    let (mut engine_freed, mut engine_arrived) = (Samples::default(), Samples::default());
    let (mut naive_freed, mut naive_arrived) = (Samples::default(), Samples::default());
    for _ in 0..scale.lockstep {
        let [freed, arrived] = world.round();
        engine_freed.0.push(freed.0);
        engine_arrived.0.push(arrived.0);
        naive_freed.0.extend(freed.1);
        naive_arrived.0.extend(arrived.1);
    }
    println!(
        "lockstep: {} decisions, engine and baseline picked the same call for every freed agent ({} kept free)",
        world.agreed, world.kept_free
    );
    engine_freed.report("engine: agent freed");
    naive_freed.report("baseline (scan all calls): freed");
    engine_arrived.report("engine: call arrives");
    naive_arrived.report("baseline (scan all agents): arr.");

    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    criterion.bench_function("baseline/agent_freed", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| world.round()[0].1.unwrap_or_default())
                .sum()
        })
    });

    world.mirror = false;
    let (mut engine_freed, mut engine_arrived) = (Samples::default(), Samples::default());
    let start = Instant::now();
    for _ in 0..scale.engine_only {
        let [freed, arrived] = world.round();
        engine_freed.0.push(freed.0);
        engine_arrived.0.push(arrived.0);
    }
    println!(
        "engine alone: {} rounds in {:.1?} wall (with the untimed answers and arrivals); {} waiting, {} events logged in all",
        scale.engine_only,
        start.elapsed(),
        world.waiting.len(),
        world.events,
    );
    engine_freed.report("engine: agent freed");
    engine_arrived.report("engine: call arrives");

    criterion.bench_function("engine/agent_freed", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| world.round()[0].0).sum())
    });
    criterion.bench_function("engine/call_arrives", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| world.round()[1].0).sum())
    });
    criterion.final_summary();
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average after: {}", loadavg.trim());
}
