//! Random sequences of inputs, with time, against a two-tenant contact
//! center that uses every feature at once. After every step:
//!
//! - the engine is consistent: an agent is reserved or on a call for at
//!   most one interaction and that interaction agrees; no interaction is
//!   both in line and ringing or connected; indexes match states;
//! - nobody is stuck: no agent is reserved past its alert time or in
//!   wrap-up past its end, and every deadline has a timer;
//! - dispatch reached its fixpoint: no waiting interaction has a free
//!   agent who qualifies (so every queued call is offered as soon as a
//!   suitable agent is available);
//! - nothing crosses tenants; the log is numbered without gaps, in time
//!   order.
//!
//! At the end every agent comes back and answers: every interaction
//! drains and no agent is left ringing, talking or wrapping up.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use proptest::prelude::*;

use crate::*;

const T1: TenantId = TenantId::new(1);
const T2: TenantId = TenantId::new(2);
const FRENCH: SkillId = SkillId(1);
const GERMAN: SkillId = SkillId(2);

fn level(n: u8) -> Proficiency {
    Proficiency::new(n).unwrap()
}

fn queues() -> Vec<QueueId> {
    vec![
        QueueId::new(T1, 1),
        QueueId::new(T1, 2),
        QueueId::new(T1, 3),
        QueueId::new(T2, 1),
        QueueId::new(T2, 2),
    ]
}

fn agents() -> Vec<AgentId> {
    let mut agents: Vec<AgentId> = (1..=5).map(|n| AgentId::new(T1, n)).collect();
    agents.extend((1..=3).map(|n| AgentId::new(T2, n)));
    agents
}

fn config() -> EngineConfig {
    let q = queues();
    let mut french = QueueConfig::new(q[0], "french");
    french.requirements = vec![SkillRequirement {
        skill: FRENCH,
        min: level(3),
    }];
    french.bullseye = vec![
        BullseyeRing {
            after: Duration::from_secs(20),
            lower_by: 2,
            drop: vec![],
        },
        BullseyeRing {
            after: Duration::from_secs(40),
            lower_by: 4,
            drop: vec![FRENCH, GERMAN],
        },
    ];
    french.wrap_up = Duration::from_secs(5);
    french.tier_wait = Duration::from_secs(10);
    french.max_wait = Duration::from_secs(300);
    french.on_max_wait = OverflowAction::Queue(q[1]);
    french.announce = Some(AnnouncePolicy {
        period: Duration::from_secs(30),
        on_entry: true,
    });
    french.max_queue_length = 4;
    french.on_queue_full = OverflowAction::OfferCallback;
    french.callback.max_age = Some(Duration::from_secs(150));
    french.alert_time = Duration::from_secs(15);

    let mut attendant = QueueConfig::new(q[1], "attendant");
    attendant.strategy = QueueStrategy::RingAll;
    attendant.no_agents = Some(NoAgentsPolicy {
        action: OverflowAction::Voicemail {
            mailbox: "general".into(),
        },
        scope: NoAgentsScope::AllCalls,
    });
    attendant.aging = PriorityAging {
        points_per_minute: 2,
        max_bonus: 4,
    };
    attendant.max_wait = Duration::from_secs(200);
    // Every queue can serve every call in the end (callbacks never time
    // out, so the final drain needs it).
    attendant.bullseye = vec![BullseyeRing {
        after: Duration::from_secs(60),
        lower_by: 0,
        drop: vec![GERMAN],
    }];
    attendant.on_max_wait = OverflowAction::Queue(q[0]);

    let mut rotation = QueueConfig::new(q[2], "rotation");
    rotation.strategy = QueueStrategy::RoundRobin;
    rotation.callback.max_attempts = 2;
    rotation.callback.retry_delay = Duration::from_secs(20);
    rotation.callback.max_age = Some(Duration::from_secs(90));
    rotation.wrap_up = Duration::from_secs(3);
    rotation.max_wait = Duration::from_secs(400);
    rotation.bullseye = vec![BullseyeRing {
        after: Duration::from_secs(90),
        lower_by: 1,
        drop: vec![],
    }];

    let mut random = QueueConfig::new(q[3], "random");
    random.strategy = QueueStrategy::Random;
    random.max_wait = Duration::from_secs(400);
    random.no_agents = Some(NoAgentsPolicy {
        action: OverflowAction::Disconnect {
            prompt: Some(PromptId::new(T2, 1)),
        },
        scope: NoAgentsScope::NewCalls,
    });
    let mut weighted = QueueConfig::new(q[4], "weighted");
    weighted.strategy = QueueStrategy::WeightedRandom;
    weighted.max_wait = Duration::from_secs(400);
    weighted.on_max_wait = OverflowAction::Queue(q[3]);

    let a = agents();
    let member = |queue: QueueId, level: u8, position: u32| QueueMembership {
        level,
        position,
        weight: position + 1,
        ..QueueMembership::new(queue)
    };
    let agent = |id: AgentId, skills: Vec<(SkillId, Proficiency)>, queues: Vec<QueueMembership>| {
        let mut config = AgentConfig::new(id, id.to_string(), TeamsIdentity::default());
        config.skills = skills;
        config.queues = queues;
        config.max_no_answer = 2;
        config
    };
    let agents = vec![
        agent(
            a[0],
            vec![(FRENCH, level(5))],
            vec![member(q[0], 1, 0), member(q[1], 1, 0)],
        ),
        agent(
            a[1],
            vec![(FRENCH, level(2)), (GERMAN, level(4))],
            vec![member(q[0], 2, 1), member(q[2], 1, 0)],
        ),
        agent(a[2], vec![], vec![member(q[1], 1, 1), member(q[2], 1, 1)]),
        agent(
            a[3],
            vec![(GERMAN, level(2))],
            vec![member(q[0], 1, 2), member(q[1], 2, 2), member(q[2], 1, 2)],
        ),
        agent(a[4], vec![(FRENCH, level(3))], vec![member(q[2], 1, 3)]),
        agent(a[5], vec![], vec![member(q[3], 1, 0), member(q[4], 1, 0)]),
        agent(
            a[6],
            vec![(GERMAN, level(5))],
            vec![member(q[3], 1, 1), member(q[4], 1, 1)],
        ),
        agent(a[7], vec![], vec![member(q[4], 1, 2)]),
    ];
    let mut tenant2 = TenantConfig::new(T2, "two", "t2");
    tenant2.presence_routing = false;
    EngineConfig {
        tenants: vec![TenantConfig::new(T1, "one", "t1"), tenant2],
        numbers: vec![NumberConfig {
            number: "+15550100".into(),
            queue: q[0],
        }],
        queues: vec![french, attendant, rotation, random, weighted],
        agents,
        seed: 11,
    }
}

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Arrive {
        queue: usize,
        priority: u8,
        german: Option<u8>,
    },
    End {
        call: usize,
        agent_hangup: bool,
    },
    Answer {
        ring: usize,
    },
    Reject {
        ring: usize,
    },
    NoAnswer {
        ring: usize,
    },
    AnswerAny {
        call: usize,
        agent: usize,
    },
    State {
        agent: usize,
        request: usize,
    },
    Presence {
        agent: usize,
        presence: usize,
    },
    Membership {
        agent: usize,
        queue: usize,
        opted_in: bool,
    },
    CallbackRequest {
        call: usize,
    },
    CallbackResult {
        call: usize,
        reached: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..40_000).prop_map(Op::Advance),
        4 => (0usize..5, 0u8..4, proptest::option::of(1u8..=5))
            .prop_map(|(queue, priority, german)| Op::Arrive { queue, priority, german }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(call, agent_hangup)| Op::End { call, agent_hangup }),
        4 => any::<usize>().prop_map(|ring| Op::Answer { ring }),
        1 => any::<usize>().prop_map(|ring| Op::Reject { ring }),
        1 => any::<usize>().prop_map(|ring| Op::NoAnswer { ring }),
        1 => (any::<usize>(), 0usize..8).prop_map(|(call, agent)| Op::AnswerAny { call, agent }),
        3 => (0usize..8, 0usize..6).prop_map(|(agent, request)| Op::State { agent, request }),
        2 => (0usize..8, 0usize..5).prop_map(|(agent, presence)| Op::Presence { agent, presence }),
        1 => (0usize..8, 0usize..5, any::<bool>())
            .prop_map(|(agent, queue, opted_in)| Op::Membership { agent, queue, opted_in }),
        1 => any::<usize>().prop_map(|call| Op::CallbackRequest { call }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(call, reached)| Op::CallbackResult { call, reached }),
    ]
}

const REQUESTS: [AgentStateRequest; 6] = [
    AgentStateRequest::LogIn,
    AgentStateRequest::LogOut,
    AgentStateRequest::Available,
    AgentStateRequest::Available,
    AgentStateRequest::NotReady(ReasonCode(1)),
    AgentStateRequest::NotReady(ReasonCode(2)),
];

const PRESENCES: [Presence; 5] = [
    Presence::Available,
    Presence::Available,
    Presence::Busy,
    Presence::DoNotDisturb,
    Presence::Offline,
];

struct World {
    engine: Engine,
    now: Instant,
    calls: Vec<InteractionId>,
    rings: Vec<(InteractionId, AgentId)>,
    dialing: Vec<InteractionId>,
    connected: Vec<InteractionId>,
    last_seq: u64,
    last_at: Option<Instant>,
}

fn pick<T: Copy>(items: &[T], at: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[at % items.len()])
}

impl World {
    fn new() -> Self {
        Self {
            engine: Engine::new(config()).unwrap(),
            now: Instant::now(),
            calls: Vec::new(),
            rings: Vec::new(),
            dialing: Vec::new(),
            connected: Vec::new(),
            last_seq: 0,
            last_at: None,
        }
    }

    /// Applies one input; a refusal is only allowed for inputs that mix
    /// tenants.
    fn apply(&mut self, op: &Op) {
        let now = self.now;
        let agents = agents();
        let queues = queues();
        let e = &mut self.engine;
        let result: Result<(), InputError> = match *op {
            Op::Advance(ms) => {
                self.now += Duration::from_millis(ms);
                Ok(())
            }
            Op::Arrive {
                queue,
                priority,
                german,
            } => {
                let queue = queues[queue];
                let skills = german
                    .map(|n| {
                        vec![SkillRequirement {
                            skill: GERMAN,
                            min: level(n),
                        }]
                    })
                    .unwrap_or_default();
                let id = e
                    .handle_call_arrived(
                        now,
                        queue.tenant(),
                        queue,
                        CallAttributes {
                            skills,
                            ..CallAttributes::default()
                        },
                        Priority(priority),
                    )
                    .unwrap();
                self.calls.push(id);
                Ok(())
            }
            Op::End { call, agent_hangup } => match pick(&self.calls, call) {
                Some(call) => {
                    let reason = if agent_hangup {
                        EndReason::AgentHangup
                    } else {
                        EndReason::CallerHangup
                    };
                    e.handle_call_ended(now, call, reason)
                }
                None => Ok(()),
            },
            Op::Answer { ring } => match pick(&self.rings, ring) {
                Some((call, agent)) => e.handle_agent_answered(now, call, agent),
                None => Ok(()),
            },
            Op::Reject { ring } => match pick(&self.rings, ring) {
                Some((call, agent)) => e.handle_agent_rejected(now, call, agent),
                None => Ok(()),
            },
            Op::NoAnswer { ring } => match pick(&self.rings, ring) {
                Some((call, agent)) => e.handle_agent_no_answer(now, call, agent),
                None => Ok(()),
            },
            Op::AnswerAny { call, agent } => match pick(&self.calls, call) {
                Some(call) => e.handle_agent_answered(now, call, agents[agent]),
                None => Ok(()),
            },
            Op::State { agent, request } => {
                e.handle_agent_state_request(now, agents[agent], REQUESTS[request])
            }
            Op::Presence { agent, presence } => {
                e.handle_presence(now, agents[agent], PRESENCES[presence])
            }
            Op::Membership {
                agent,
                queue,
                opted_in,
            } => e.handle_membership(now, agents[agent], queues[queue], opted_in),
            Op::CallbackRequest { call } => match pick(&self.calls, call) {
                Some(call) => e
                    .handle_callback_requested(now, call, "+15550199".into())
                    .map(|callback| self.calls.extend(callback)),
                None => Ok(()),
            },
            Op::CallbackResult { call, reached } => match pick(&self.calls, call) {
                Some(call) => e.handle_callback_result(now, call, reached),
                None => Ok(()),
            },
        };
        match result {
            Ok(()) => {}
            Err(InputError::CrossTenant { .. } | InputError::NotAMember { .. }) => {}
            Err(other) => panic!("{op:?} refused: {other}"),
        }
        self.engine.handle_timeout(self.now);
        self.observe();
    }

    fn observe(&mut self) {
        let now = self.now;
        while let Some(command) = self.engine.poll_command() {
            match command {
                Command::RingAgent {
                    interaction,
                    agent,
                    alert_until,
                    ..
                } => {
                    assert_eq!(
                        interaction.tenant(),
                        agent.tenant(),
                        "offered across tenants"
                    );
                    assert!(alert_until > now);
                    self.rings.push((interaction, agent));
                }
                Command::PlaceCallback {
                    interaction, agent, ..
                } => {
                    assert_eq!(interaction.tenant(), agent.tenant());
                    self.dialing.push(interaction);
                }
                Command::Connect { interaction, agent } => {
                    assert_eq!(interaction.tenant(), agent.tenant());
                    self.connected.push(interaction);
                }
                Command::CancelRing {
                    interaction, agent, ..
                } => {
                    self.rings.retain(|ring| *ring != (interaction, agent));
                }
                Command::Announce { position, .. } => assert!(position >= 1),
                Command::Overflow {
                    interaction, queue, ..
                } => {
                    assert_eq!(interaction.tenant(), queue.tenant());
                }
            }
        }
        while let Some(event) = self.engine.poll_event() {
            assert_eq!(event.seq, self.last_seq + 1, "log has a gap");
            self.last_seq = event.seq;
            assert!(
                self.last_at.is_none_or(|at| at <= event.at),
                "log goes back in time"
            );
            self.last_at = Some(event.at);
            assert!(event.at <= now);
            if let EventKind::AgentOffered {
                interaction, agent, ..
            } = event.kind
            {
                assert_eq!(event.tenant, interaction.tenant());
                assert_eq!(event.tenant, agent.tenant());
            }
        }
        if let Err(broken) = self.engine.check_invariants(now) {
            panic!("{broken}\n{}", self.engine.dump());
        }
        assert!(self.engine.poll_timeout().is_none_or(|at| at > now));
    }

    /// Everyone comes back and answers everything until nothing is left.
    fn drain_to_the_end(&mut self) {
        let queues = queues();
        for agent in agents() {
            let now = self.now;
            self.engine
                .handle_agent_state_request(now, agent, AgentStateRequest::Available)
                .unwrap();
            self.engine
                .handle_presence(now, agent, Presence::Available)
                .unwrap();
            for queue in &queues {
                let _ = self.engine.handle_membership(now, agent, *queue, true);
            }
            self.observe();
        }
        for _ in 0..400 {
            let now = self.now;
            for (call, agent) in std::mem::take(&mut self.rings) {
                self.engine.handle_agent_answered(now, call, agent).unwrap();
            }
            for call in std::mem::take(&mut self.dialing) {
                self.engine.handle_callback_result(now, call, true).unwrap();
            }
            for call in std::mem::take(&mut self.connected) {
                self.engine
                    .handle_call_ended(now, call, EndReason::AgentHangup)
                    .unwrap();
            }
            self.now += Duration::from_secs(5);
            self.engine.handle_timeout(self.now);
            self.observe();
            if self.engine.live_interactions() == 0 && self.rings.is_empty() {
                break;
            }
        }
        assert_eq!(
            self.engine.live_interactions(),
            0,
            "interactions left over:\n{}",
            self.engine.dump()
        );
        self.now += Duration::from_secs(60);
        self.engine.handle_timeout(self.now);
        self.observe();
        for agent in agents() {
            let status = self.engine.agent_status(agent).unwrap();
            assert!(
                matches!(status, AgentStatus::Available | AgentStatus::NotReady),
                "{agent} left {status:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_inputs_keep_every_invariant(ops in proptest::collection::vec(op(), 1..160)) {
        let mut world = World::new();
        for op in &ops {
            world.apply(op);
        }
        world.drain_to_the_end();
    }
}
