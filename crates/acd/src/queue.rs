//! A queue at run time: the line of waiting interactions and the index
//! of free agents.
//!
//! - The line is split into classes: callers of one base priority who
//!   need the same skills of their own. Whether an agent qualifies for a
//!   caller depends, within one class, only on how long the caller waited
//!   (tiers join and bullseye rings open with time), so the oldest caller
//!   of a class is the one an agent qualifies for first: if the agent
//!   does not qualify for the head, it qualifies for nobody in the class.
//!   Within one priority an older caller never has a lower aged score
//!   (same aging for all, capped for all at the same bonus), so the heads
//!   of a priority's classes, ordered by place, are in score order at any
//!   time; iterating the heads by score is a merge across priorities,
//!   O(p) per head for p distinct priorities. A newly free agent thus
//!   looks at one caller per class, whatever the length of the line
//!   ([`Queue::heads_by_score`]).
//! - Places come from one counter and a caller's `entered_at` is set with
//!   its place from a clock that never goes back, so place order is
//!   arrival order (a callback keeps its caller's place and arrival).
//! - The free-agent index holds the agents that are available, routable
//!   and opted in, ordered by (tier level, the strategy's rank, agent id):
//!   the first entry of the lowest joined tier is the strategy's pick
//!   when no skills filter, O(log n).

use std::cmp::Reverse;
use std::collections::{btree_map, BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::agent::deadline;
use crate::config::{PriorityAging, QueueConfig, SkillRequirement};
use crate::ids::{AgentId, InteractionId, Priority, Proficiency, SkillId};

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

/// Callers who need the same skills of their own (numbered per queue,
/// forgotten when the last such caller leaves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ClassId(u64);

/// A call's own skills, sorted: the key of its class.
type ClassSkills = Vec<(SkillId, Proficiency)>;

#[derive(Debug, Default)]
struct Classes {
    ids: BTreeMap<ClassSkills, ClassId>,
    /// Each class's skills and how many callers are in it.
    live: BTreeMap<ClassId, (ClassSkills, usize)>,
    next: u64,
}

impl Classes {
    fn acquire(&mut self, skills: &[SkillRequirement]) -> ClassId {
        let mut key: ClassSkills = skills.iter().map(|need| (need.skill, need.min)).collect();
        key.sort_unstable();
        let id = match self.ids.get(&key) {
            Some(id) => *id,
            None => {
                self.next += 1;
                let id = ClassId(self.next);
                self.ids.insert(key.clone(), id);
                self.live.insert(id, (key, 0));
                id
            }
        };
        if let Some((_, count)) = self.live.get_mut(&id) {
            *count += 1;
        }
        id
    }

    fn release(&mut self, id: ClassId) {
        let Some((_, count)) = self.live.get_mut(&id) else {
            return;
        };
        *count = count.saturating_sub(1);
        if *count == 0 {
            if let Some((key, _)) = self.live.remove(&id) {
                self.ids.remove(&key);
            }
        }
    }
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

/// The callers of one base priority.
#[derive(Debug, Default)]
struct PriorityLine {
    /// Every caller by place, with its arrival and class: the line's order
    /// at any time, so a place in line is a binary search.
    arrivals: VecDeque<(u64, Instant, ClassId)>,
    /// The head of each class, by place.
    heads: BTreeMap<u64, (ClassId, Waiter)>,
}

impl PriorityLine {
    /// Where `place` is, or would go, in `arrivals`.
    fn find(&self, place: u64) -> usize {
        self.arrivals
            .partition_point(|(other, _, _)| *other < place)
    }
}

pub(crate) struct Queue {
    pub(crate) config: QueueConfig,
    /// One line per (priority, class), by place.
    line: BTreeMap<(Reverse<Priority>, ClassId), BTreeMap<u64, Waiter>>,
    /// Per priority: every caller and the head of every class.
    priorities: BTreeMap<Reverse<Priority>, PriorityLine>,
    classes: Classes,
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
            priorities: BTreeMap::new(),
            classes: Classes::default(),
            len: 0,
            voice_len: 0,
            idle: BTreeSet::new(),
            staffed: 0,
            cursor: None,
            levels: BTreeSet::new(),
            handle_times: VecDeque::new(),
        }
    }

    /// Puts `waiter`, who needs `skills` of their own, in line at its
    /// place; a place already in line is left as it is. O(log n) (a
    /// callback or a caller back from a failed ring goes back to its old
    /// place, a shift of the shorter side of its priority's line).
    pub(crate) fn insert(&mut self, waiter: Waiter, skills: &[SkillRequirement]) {
        let priority = Reverse(waiter.priority);
        let line = self.priorities.entry(priority).or_default();
        let at = line.find(waiter.place);
        if line
            .arrivals
            .get(at)
            .is_some_and(|(place, _, _)| *place == waiter.place)
        {
            return;
        }
        let class = self.classes.acquire(skills);
        line.arrivals
            .insert(at, (waiter.place, waiter.entered_at, class));
        let bucket = self.line.entry((priority, class)).or_default();
        let old_head = bucket.keys().next().copied();
        bucket.insert(waiter.place, waiter);
        if old_head.is_none_or(|head| waiter.place < head) {
            if let Some(head) = old_head {
                line.heads.remove(&head);
            }
            line.heads.insert(waiter.place, (class, waiter));
        }
        self.len += 1;
        if waiter.voice {
            self.voice_len += 1;
        }
    }

    /// Takes the caller of `priority` at `place` out of line. O(log n),
    /// plus a shift of the shorter side of the priority's line.
    pub(crate) fn remove(&mut self, priority: Priority, place: u64) -> Option<Waiter> {
        let priority = Reverse(priority);
        let line = self.priorities.get_mut(&priority)?;
        let at = line.find(place);
        let &(found, _, class) = line.arrivals.get(at)?;
        if found != place {
            return None;
        }
        let key = (priority, class);
        let bucket = self.line.get_mut(&key)?;
        let waiter = bucket.remove(&place)?;
        line.arrivals.remove(at);
        if line.heads.remove(&place).is_some() {
            if let Some(next) = bucket.values().next() {
                line.heads.insert(next.place, (class, *next));
            }
        }
        if bucket.is_empty() {
            self.line.remove(&key);
        }
        if line.arrivals.is_empty() {
            self.priorities.remove(&priority);
        }
        self.classes.release(class);
        self.len -= 1;
        if waiter.voice {
            self.voice_len -= 1;
        }
        Some(waiter)
    }

    #[cfg(test)]
    pub(crate) fn get(&self, priority: Priority, place: u64) -> Option<&Waiter> {
        let line = self.priorities.get(&Reverse(priority))?;
        let (found, _, class) = line.arrivals.get(line.find(place))?;
        if *found != place {
            return None;
        }
        self.line.get(&(Reverse(priority), *class))?.get(&place)
    }

    /// Checks the line's indexes against each other (tests).
    #[cfg(test)]
    pub(crate) fn check_line(&self) -> Result<(), String> {
        let id = self.config.id;
        let mut count = 0;
        for ((priority, class), bucket) in &self.line {
            let Some((head, first)) = bucket.first_key_value() else {
                return Err(format!("{id}: empty class line kept"));
            };
            let line = self.priorities.get(priority);
            if line.and_then(|line| line.heads.get(head)) != Some(&(*class, *first)) {
                return Err(format!("{id}: head {head} not indexed"));
            }
            for (place, waiter) in bucket {
                count += 1;
                let filed = line.and_then(|line| line.arrivals.get(line.find(*place)));
                if filed != Some(&(*place, waiter.entered_at, *class))
                    || waiter.place != *place
                    || waiter.priority != priority.0
                {
                    return Err(format!("{id}: place {place} misfiled"));
                }
            }
        }
        for (priority, line) in &self.priorities {
            let arrivals: Vec<_> = line.arrivals.iter().collect();
            for pair in arrivals.windows(2) {
                if let [(before, at_before, _), (after, at_after, _)] = pair {
                    if before >= after || at_before > at_after {
                        return Err(format!(
                            "{id}: priority {} not in arrival order at place {after}",
                            priority.0 .0
                        ));
                    }
                }
            }
            if line.arrivals.is_empty() {
                return Err(format!("{id}: empty priority line kept"));
            }
        }
        let heads: usize = self.priorities.values().map(|line| line.heads.len()).sum();
        let arrivals: usize = self
            .priorities
            .values()
            .map(|line| line.arrivals.len())
            .sum();
        if heads != self.line.len() || count != arrivals || count != self.len {
            return Err(format!(
                "{id}: {heads} heads, {} classes, {arrivals} arrivals, {count} in line, len {}",
                self.line.len(),
                self.len
            ));
        }
        let classes: usize = self.classes.live.values().map(|(_, n)| *n).sum();
        if classes != count || self.classes.ids.len() != self.classes.live.len() {
            return Err(format!("{id}: class counts disagree"));
        }
        Ok(())
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
        self.order_of(waiter.priority, waiter.entered_at, waiter.place, now)
    }

    fn order_of(
        &self,
        priority: Priority,
        entered_at: Instant,
        place: u64,
        now: Instant,
    ) -> LineOrder {
        let waited = now.saturating_duration_since(entered_at);
        (
            Reverse(score(self.config.aging, priority, waited)),
            entered_at,
            place,
        )
    }

    /// The head of every class, best first at `now`: the callers a newly
    /// free agent has to look at, in the order it prefers them.
    pub(crate) fn heads_by_score(&self, now: Instant) -> HeadsByScore<'_> {
        let mut heads = HeadsByScore {
            queue: self,
            streams: self
                .priorities
                .values()
                .map(|line| (None, line.heads.values()))
                .collect(),
            now,
        };
        for at in 0..heads.streams.len() {
            heads.advance(at);
        }
        heads
    }

    /// The line of one class, in order, from its head.
    pub(crate) fn class_line(
        &self,
        priority: Priority,
        class: ClassId,
    ) -> impl Iterator<Item = &Waiter> {
        self.line
            .get(&(Reverse(priority), class))
            .into_iter()
            .flat_map(|bucket| bucket.values())
    }

    /// 1-based place in line of `waiter` at `now`: per priority, the
    /// callers ahead are those who arrived earlier than the first one who
    /// is not (aging is the same for all of them), found by binary search.
    /// O(p log n).
    pub(crate) fn position(&self, waiter: &Waiter, now: Instant) -> u32 {
        let mine = self.order(waiter, now);
        let ahead: usize = self
            .priorities
            .iter()
            .map(|(priority, line)| {
                line.arrivals.partition_point(|(place, entered_at, _)| {
                    self.order_of(priority.0, *entered_at, *place, now) < mine
                })
            })
            .sum();
        u32::try_from(ahead + 1).unwrap_or(u32::MAX)
    }

    pub(crate) fn longest_wait(&self, now: Instant) -> Option<Duration> {
        self.priorities
            .values()
            .filter_map(|line| line.arrivals.front())
            .map(|(_, entered_at, _)| now.saturating_duration_since(*entered_at))
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

/// A class's head with its order at the time of the merge.
type ScoredHead<'a> = (LineOrder, &'a (ClassId, Waiter));

/// One priority's class heads, by place.
type Heads<'a> = btree_map::Values<'a, u64, (ClassId, Waiter)>;

/// The heads of the classes, merged across priorities, best first.
pub(crate) struct HeadsByScore<'a> {
    queue: &'a Queue,
    /// Per priority: the next head with its order at `now`, and the rest.
    streams: Vec<(Option<ScoredHead<'a>>, Heads<'a>)>,
    now: Instant,
}

impl HeadsByScore<'_> {
    fn advance(&mut self, at: usize) {
        let (queue, now) = (self.queue, self.now);
        if let Some((next, rest)) = self.streams.get_mut(at) {
            *next = rest.next().map(|head| (queue.order(&head.1, now), head));
        }
    }
}

impl<'a> Iterator for HeadsByScore<'a> {
    /// A class's head and the class.
    type Item = (&'a Waiter, ClassId);

    fn next(&mut self) -> Option<(&'a Waiter, ClassId)> {
        let (_, at) = self
            .streams
            .iter()
            .enumerate()
            .filter_map(|(at, (next, _))| next.map(|(order, _)| (order, at)))
            .min()?;
        let (class, waiter) = self.streams.get(at)?.0?.1;
        self.advance(at);
        Some((waiter, *class))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! The line's indexes against brute force: random arrivals of several
    //! priorities and classes, removals anywhere, returns to an old place,
    //! and time that runs past the aging cap.

    use proptest::prelude::*;

    use super::*;
    use crate::ids::{QueueId, TenantId};

    #[derive(Debug, Clone)]
    enum Op {
        Arrive { priority: u8, class: usize },
        Remove(usize),
        Return(usize),
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..4, 0usize..4).prop_map(|(priority, class)| Op::Arrive { priority, class }),
            2 => any::<usize>().prop_map(Op::Remove),
            1 => any::<usize>().prop_map(Op::Return),
            3 => (0u64..90_000).prop_map(Op::Advance),
        ]
    }

    fn skills(class: usize) -> Vec<SkillRequirement> {
        let need = |skill, min| SkillRequirement {
            skill: SkillId(skill),
            min: Proficiency::new(min).unwrap(),
        };
        match class {
            0 => vec![],
            1 => vec![need(1, 2)],
            2 => vec![need(2, 1), need(1, 3)],
            _ => vec![need(1, 3), need(2, 1)],
        }
    }

    proptest! {
        #[test]
        fn indexes_agree_with_sorting_the_whole_line(
            points_per_minute in 0u32..8,
            max_bonus in 0u32..4,
            ops in proptest::collection::vec(op(), 1..120),
        ) {
            let tenant = TenantId::new(1);
            let mut config = QueueConfig::new(QueueId::new(tenant, 1), "q");
            config.aging = PriorityAging { points_per_minute, max_bonus };
            let mut queue = Queue::new(config);
            let mut now = Instant::now();
            let mut next_place = 0;
            let mut waiting: Vec<(Waiter, usize)> = Vec::new();
            let mut out: Vec<(Waiter, usize)> = Vec::new();
            for op in ops {
                match op {
                    Op::Arrive { priority, class } => {
                        next_place += 1;
                        let waiter = Waiter {
                            id: InteractionId::new(tenant, next_place),
                            priority: Priority(priority),
                            place: next_place,
                            entered_at: now,
                            voice: class != 3,
                        };
                        queue.insert(waiter, &skills(class));
                        waiting.push((waiter, class));
                    }
                    Op::Remove(at) if !waiting.is_empty() => {
                        let (waiter, class) = waiting.swap_remove(at % waiting.len());
                        prop_assert_eq!(queue.remove(waiter.priority, waiter.place), Some(waiter));
                        out.push((waiter, class));
                    }
                    Op::Return(at) if !out.is_empty() => {
                        let (waiter, class) = out.swap_remove(at % out.len());
                        queue.insert(waiter, &skills(class));
                        waiting.push((waiter, class));
                    }
                    Op::Remove(_) | Op::Return(_) => {}
                    Op::Advance(ms) => now += Duration::from_millis(ms),
                }
                queue.check_line().map_err(TestCaseError::fail)?;
                prop_assert_eq!(queue.len(), waiting.len());
                let mut sorted: Vec<(LineOrder, Waiter, usize)> = waiting
                    .iter()
                    .map(|(waiter, class)| (queue.order(waiter, now), *waiter, *class))
                    .collect();
                sorted.sort_unstable_by_key(|(order, _, _)| *order);
                for (at, (_, waiter, _)) in sorted.iter().enumerate() {
                    prop_assert_eq!(queue.position(waiter, now) as usize, at + 1);
                }
                // The heads come best first, one per (priority, skills),
                // each the best caller of its class.
                let mut seen = Vec::new();
                let mut expected: Vec<Waiter> = Vec::new();
                for (_, waiter, class) in &sorted {
                    // Classes 2 and 3 list the same skills in another order.
                    let key = (waiter.priority, (*class).min(2));
                    if !seen.contains(&key) {
                        seen.push(key);
                        expected.push(*waiter);
                    }
                }
                let heads: Vec<Waiter> = queue.heads_by_score(now).map(|(waiter, _)| *waiter).collect();
                prop_assert_eq!(heads, expected);
                let longest = waiting.iter().map(|(w, _)| now.saturating_duration_since(w.entered_at)).max();
                prop_assert_eq!(queue.longest_wait(now), longest);
            }
        }
    }
}
