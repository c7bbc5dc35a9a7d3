//! A queue at run time: the line of waiting interactions and the index
//! of free agents.
//!
//! - The line is one FIFO per base priority (`BTreeMap` by place). Within
//!   one priority the oldest caller has the highest aged score, so the
//!   best caller is among the heads: iterating by score is a merge of the
//!   heads, O(p) per caller for p distinct priorities, whatever the
//!   length of the line.
//! - The free-agent index holds the agents that are available, routable
//!   and opted in, ordered by (tier level, the strategy's rank, agent id):
//!   the first entry of the lowest joined tier is the strategy's pick
//!   when no skills filter, O(log n).

use std::cmp::Reverse;
use std::collections::{btree_map, BTreeMap, BTreeSet, VecDeque};
use std::iter::Peekable;
use std::time::{Duration, Instant};

use crate::agent::deadline;
use crate::config::{PriorityAging, QueueConfig};
use crate::ids::{AgentId, InteractionId, Priority};

/// One interaction in line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Waiter {
    pub(crate) id: InteractionId,
    pub(crate) priority: Priority,
    /// Order of joining; a callback keeps its caller's place.
    pub(crate) place: u64,
    pub(crate) entered_at: Instant,
    pub(crate) voice: bool,
}

/// The strategy's rank of a free agent (lower is picked first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rank {
    Number(u64),
    Time(Instant),
}

impl Rank {
    pub(crate) const MIN: Rank = Rank::Number(0);
}

/// An entry of the free-agent index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct IdleKey {
    pub(crate) tier: u8,
    pub(crate) rank: Rank,
    pub(crate) agent: AgentId,
}

/// Sort key of a waiter at a given time: best first.
pub(crate) type LineOrder = (Reverse<u64>, Instant, u64);

pub(crate) struct Queue {
    pub(crate) config: QueueConfig,
    line: BTreeMap<Reverse<Priority>, BTreeMap<u64, Waiter>>,
    len: usize,
    voice_len: usize,
    pub(crate) idle: BTreeSet<IdleKey>,
    /// Agents logged in, opted in and not signed out of Teams.
    pub(crate) staffed: usize,
    /// Round-robin memory: the last agent offered a call.
    pub(crate) cursor: Option<(Rank, AgentId)>,
    /// The tier levels of the queue's members (from configuration).
    pub(crate) levels: BTreeSet<u8>,
    handle_times: VecDeque<Duration>,
}

/// `base x 1000 + min(waited_ms x points_per_minute / 60, max_bonus x 1000)`:
/// the aged priority in thousandths of a point.
pub(crate) fn score(aging: PriorityAging, priority: Priority, waited: Duration) -> u64 {
    let base = u128::from(priority.0) * 1000;
    let gained = waited.as_millis() * u128::from(aging.points_per_minute) / 60;
    let bonus = gained.min(u128::from(aging.max_bonus) * 1000);
    u64::try_from(base + bonus).unwrap_or(u64::MAX)
}

impl Queue {
    pub(crate) fn new(config: QueueConfig) -> Self {
        Self {
            config,
            line: BTreeMap::new(),
            len: 0,
            voice_len: 0,
            idle: BTreeSet::new(),
            staffed: 0,
            cursor: None,
            levels: BTreeSet::new(),
            handle_times: VecDeque::new(),
        }
    }

    pub(crate) fn insert(&mut self, waiter: Waiter) {
        let bucket = self.line.entry(Reverse(waiter.priority)).or_default();
        if bucket.insert(waiter.place, waiter).is_none() {
            self.len += 1;
            if waiter.voice {
                self.voice_len += 1;
            }
        }
    }

    pub(crate) fn remove(&mut self, priority: Priority, place: u64) -> Option<Waiter> {
        let bucket = self.line.get_mut(&Reverse(priority))?;
        let waiter = bucket.remove(&place)?;
        if bucket.is_empty() {
            self.line.remove(&Reverse(priority));
        }
        self.len -= 1;
        if waiter.voice {
            self.voice_len -= 1;
        }
        Some(waiter)
    }

    #[cfg(test)]
    pub(crate) fn get(&self, priority: Priority, place: u64) -> Option<&Waiter> {
        self.line.get(&Reverse(priority))?.get(&place)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Waiting calls, callbacks not counted.
    pub(crate) fn voice_len(&self) -> usize {
        self.voice_len
    }

    pub(crate) fn waiters(&self) -> impl Iterator<Item = &Waiter> {
        self.line.values().flat_map(|bucket| bucket.values())
    }

    pub(crate) fn order(&self, waiter: &Waiter, now: Instant) -> LineOrder {
        let waited = now.saturating_duration_since(waiter.entered_at);
        (
            Reverse(score(self.config.aging, waiter.priority, waited)),
            waiter.entered_at,
            waiter.place,
        )
    }

    /// The line, best first, at `now`.
    pub(crate) fn by_score(&self, now: Instant) -> ByScore<'_> {
        ByScore {
            queue: self,
            heads: self
                .line
                .values()
                .map(|bucket| bucket.values().peekable())
                .collect(),
            now,
        }
    }

    /// 1-based place in line of `waiter` at `now`. O(length of the line).
    pub(crate) fn position(&self, waiter: &Waiter, now: Instant) -> u32 {
        let mine = self.order(waiter, now);
        let ahead = self
            .waiters()
            .filter(|other| self.order(other, now) < mine)
            .count();
        u32::try_from(ahead + 1).unwrap_or(u32::MAX)
    }

    pub(crate) fn longest_wait(&self, now: Instant) -> Option<Duration> {
        self.line
            .values()
            .filter_map(|bucket| bucket.values().next())
            .map(|waiter| now.saturating_duration_since(waiter.entered_at))
            .max()
    }

    /// How many bullseye rings are open after `waited` (0: only the
    /// requirements as given).
    pub(crate) fn open_rings(&self, waited: Duration) -> usize {
        self.config
            .bullseye
            .iter()
            .filter(|ring| ring.after <= waited)
            .count()
    }

    /// Whether agents of tier `level` may take a call that waited `waited`.
    pub(crate) fn tier_joined(&self, level: u8, waited: Duration) -> bool {
        let steps = u32::from(level.saturating_sub(1));
        self.config.tier_wait.saturating_mul(steps) <= waited
    }

    /// The next time a caller who joined at `entered_at` gains agents (a
    /// ring opens or a tier joins), after `now`.
    pub(crate) fn next_expansion(&self, entered_at: Instant, now: Instant) -> Option<Instant> {
        let rings = self.config.bullseye.iter().map(|ring| ring.after);
        let tiers = self
            .levels
            .iter()
            .filter(|_| !self.config.tier_wait.is_zero())
            .map(|&level| {
                self.config
                    .tier_wait
                    .saturating_mul(u32::from(level.saturating_sub(1)))
            });
        rings
            .chain(tiers)
            .map(|after| deadline(entered_at, after))
            .filter(|at| *at > now)
            .min()
    }

    pub(crate) fn record_handle_time(&mut self, handle: Duration) {
        let samples = usize::try_from(self.config.handle_time_samples).unwrap_or(usize::MAX);
        self.handle_times.push_back(handle);
        while self.handle_times.len() > samples {
            self.handle_times.pop_front();
        }
    }

    /// Mean of the recent handle times, or the configured default.
    pub(crate) fn average_handle_time(&self) -> Duration {
        let count = u32::try_from(self.handle_times.len()).unwrap_or(u32::MAX);
        if count == 0 {
            return self.config.default_handle_time;
        }
        let total: Duration = self.handle_times.iter().sum();
        total / count
    }

    /// `AHT x position / staffed agents`; `None` without agents.
    pub(crate) fn estimated_wait(&self, position: u32) -> Option<Duration> {
        let agents = u128::try_from(self.staffed).ok().filter(|n| *n > 0)?;
        let millis = self.average_handle_time().as_millis() * u128::from(position) / agents;
        Some(Duration::from_millis(
            u64::try_from(millis).unwrap_or(u64::MAX),
        ))
    }
}

/// The line merged across priorities, best first.
pub(crate) struct ByScore<'a> {
    queue: &'a Queue,
    heads: Vec<Peekable<btree_map::Values<'a, u64, Waiter>>>,
    now: Instant,
}

impl<'a> Iterator for ByScore<'a> {
    type Item = &'a Waiter;

    fn next(&mut self) -> Option<&'a Waiter> {
        let (queue, now) = (self.queue, self.now);
        let best = self
            .heads
            .iter_mut()
            .enumerate()
            .filter_map(|(at, head)| head.peek().map(|waiter| (queue.order(waiter, now), at)))
            .min()?
            .1;
        self.heads.get_mut(best)?.next()
    }
}
