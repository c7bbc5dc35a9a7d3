//! Matching callers and agents: who qualifies for a call (tenant,
//! opt-in, tier, skills with bullseye rings) and whom a queue's strategy
//! picks among them.
//!
//! Order of preference among qualified free agents: the innermost
//! bullseye ring the agent meets, then the lowest tier level, then the
//! strategy's rank (longest idle, position, talk time, ...). The free-agent
//! index is sorted by (tier, rank), so the scan stops at the first agent
//! who meets ring 0: O(log n) when no skill filters, O(free agents of the
//! queue) in the worst case. Ring-all, random and weighted-random collect
//! every agent of the best (ring, tier) group.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Instant;

use crate::agent::Agent;
use crate::config::QueueStrategy;
use crate::ids::{AgentId, TenantId};
use crate::interaction::Interaction;
use crate::queue::{IdleKey, Queue, Rank};
use crate::rng::XorShift;

const AGENT_MIN: AgentId = AgentId::new(TenantId::new(0), 0);

/// The innermost bullseye ring in which `agent` qualifies for `call` of
/// `queue` at `now` (0: the requirements as given), or `None`. Does not
/// look at the agent's state: callers check routability.
pub(crate) fn ring_for(
    agent: &Agent,
    queue: &Queue,
    call: &Interaction,
    now: Instant,
) -> Option<usize> {
    // The hard tenant wall: nothing else may let a call cross it.
    if agent.config.id.tenant() != call.id.tenant() || queue.config.id != call.queue {
        return None;
    }
    let membership = agent.config.membership(queue.config.id)?;
    if !membership.opted_in {
        return None;
    }
    let waited = now.saturating_duration_since(call.entered_at);
    if !queue.tier_joined(membership.level, waited) {
        return None;
    }
    let open = queue.open_rings(waited);
    (0..=open).find(|&ring| meets_ring(agent, queue, call, ring))
}

fn meets_ring(agent: &Agent, queue: &Queue, call: &Interaction, ring: usize) -> bool {
    let relax = ring
        .checked_sub(1)
        .and_then(|at| queue.config.bullseye.get(at));
    queue
        .config
        .requirements
        .iter()
        .chain(call.skills.iter())
        .all(|need| {
            let (dropped, min) = match relax {
                None => (false, need.min),
                Some(ring) => (
                    ring.drop.contains(&need.skill),
                    need.min.lowered(ring.lower_by),
                ),
            };
            dropped
                || agent
                    .config
                    .proficiency(need.skill)
                    .is_some_and(|level| level >= min)
        })
}

/// The strategy's rank of a free agent in a queue.
pub(crate) fn rank(
    strategy: QueueStrategy,
    agent: &Agent,
    position: u32,
    idle_since: Instant,
) -> Rank {
    match strategy {
        QueueStrategy::LongestIdle => Rank::Time(idle_since),
        QueueStrategy::RoundRobin | QueueStrategy::Serial => Rank::Number(u64::from(position)),
        QueueStrategy::LeastTalkTime => {
            Rank::Number(u64::try_from(agent.talk.as_nanos()).unwrap_or(u64::MAX))
        }
        QueueStrategy::FewestCalls => Rank::Number(agent.calls),
        QueueStrategy::RingAll | QueueStrategy::Random | QueueStrategy::WeightedRandom => {
            Rank::Number(0)
        }
    }
}

fn first_tier(queue: &Queue) -> Option<u8> {
    queue.idle.first().map(|key| key.tier)
}

fn next_tier(queue: &Queue, tier: u8) -> Option<u8> {
    let start = IdleKey {
        tier: tier.checked_add(1)?,
        rank: Rank::MIN,
        agent: AGENT_MIN,
    };
    queue.idle.range(start..).next().map(|key| key.tier)
}

/// The free agents of one tier in the strategy's order (round-robin:
/// starting after the agent offered last).
fn tier_order(queue: &Queue, tier: u8) -> Box<dyn Iterator<Item = &IdleKey> + '_> {
    let start = IdleKey {
        tier,
        rank: Rank::MIN,
        agent: AGENT_MIN,
    };
    let same_tier = move |key: &&IdleKey| key.tier == tier;
    match (queue.config.strategy, queue.cursor) {
        (QueueStrategy::RoundRobin, Some((rank, agent))) => {
            let pivot = IdleKey { tier, rank, agent };
            let after = queue
                .idle
                .range((Bound::Excluded(pivot), Bound::Unbounded))
                .take_while(same_tier);
            let before = queue.idle.range(start..=pivot);
            Box::new(after.chain(before))
        }
        _ => Box::new(queue.idle.range(start..).take_while(same_tier)),
    }
}

/// The agents to ring for `call`, per the queue's strategy; empty if no
/// free agent qualifies. With `skip_tried`, agents who let this call
/// ring out are passed over.
pub(crate) fn select(
    queue: &Queue,
    agents: &BTreeMap<AgentId, Agent>,
    call: &Interaction,
    now: Instant,
    skip_tried: bool,
    rng: &mut XorShift,
) -> Vec<IdleKey> {
    let strategy = queue.config.strategy;
    let collect = matches!(
        strategy,
        QueueStrategy::RingAll | QueueStrategy::Random | QueueStrategy::WeightedRandom
    );
    let waited = now.saturating_duration_since(call.entered_at);
    let mut best: Option<(usize, u8)> = None;
    let mut group: Vec<IdleKey> = Vec::new();
    let mut tier = first_tier(queue);
    'tiers: while let Some(level) = tier {
        if !queue.tier_joined(level, waited) {
            break;
        }
        for key in tier_order(queue, level) {
            if skip_tried && call.tried.contains(&key.agent) {
                continue;
            }
            let Some(agent) = agents.get(&key.agent) else {
                continue;
            };
            let Some(ring) = ring_for(agent, queue, call, now) else {
                continue;
            };
            let candidate = (ring, level);
            match best {
                Some(current) if candidate > current => {}
                Some(current) if candidate == current => {
                    if collect {
                        group.push(*key);
                    }
                }
                _ => {
                    best = Some(candidate);
                    group.clear();
                    group.push(*key);
                }
            }
            if ring == 0 && !collect {
                break 'tiers;
            }
        }
        if best.is_some_and(|(ring, _)| ring == 0) {
            break;
        }
        tier = next_tier(queue, level);
    }
    match strategy {
        QueueStrategy::Random if !group.is_empty() => {
            let len = u64::try_from(group.len()).unwrap_or(u64::MAX);
            let at = usize::try_from(rng.below(len)).unwrap_or(0);
            group.get(at).copied().into_iter().collect()
        }
        QueueStrategy::WeightedRandom if !group.is_empty() => {
            let weight = |key: &IdleKey| {
                agents
                    .get(&key.agent)
                    .and_then(|agent| agent.config.membership(queue.config.id))
                    .map_or(1, |membership| u64::from(membership.weight.max(1)))
            };
            let total: u64 = group.iter().map(weight).sum();
            let mut draw = rng.below(total);
            let mut chosen = group.first().copied();
            for key in &group {
                let w = weight(key);
                if draw < w {
                    chosen = Some(*key);
                    break;
                }
                draw -= w;
            }
            chosen.into_iter().collect()
        }
        _ => group,
    }
}
