//! Per-source flood protection in the manner of Kamailio's `pike` module:
//! a source that sends more than `max_requests` requests within one
//! sampling window is blocked for `block_for`; its requests are dropped
//! without an answer. Memory is bounded: at most `max_tracked_sources`
//! sources are tracked, idle ones are swept, and when the table is full
//! the oldest entry is forgotten (and counted).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

use crate::config::FloodSettings;

/// One source's sampling state.
#[derive(Debug)]
struct Sample {
    window_start: Instant,
    count: u32,
    blocked_until: Option<Instant>,
    /// Matches the queue entry that currently stands for this source.
    generation: u64,
}

/// What the guard decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FloodVerdict {
    /// Within limits.
    Allow,
    /// Blocked; `newly` on the request that crossed the limit.
    Blocked {
        /// This request started the block.
        newly: bool,
    },
}

/// The per-source request rate table.
#[derive(Debug)]
pub(crate) struct FloodGuard {
    settings: FloodSettings,
    sources: HashMap<IpAddr, Sample>,
    /// Sources in the order their current window (or block) started;
    /// entries whose generation is outdated are skipped.
    order: VecDeque<(IpAddr, u64)>,
    next_generation: u64,
}

impl FloodGuard {
    pub(crate) fn new(settings: FloodSettings) -> FloodGuard {
        FloodGuard {
            settings,
            sources: HashMap::new(),
            order: VecDeque::new(),
            next_generation: 0,
        }
    }

    /// Number of sources tracked.
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.sources.len()
    }

    fn is_idle(&self, sample: &Sample, now: Instant) -> bool {
        sample.blocked_until.is_none_or(|until| now >= until)
            && now >= sample.window_start + self.settings.window
    }

    /// Drops queue entries at the front that are outdated or idle.
    fn sweep(&mut self, now: Instant) {
        while let Some(&(ip, generation)) = self.order.front() {
            let remove = match self.sources.get(&ip) {
                Some(s) if s.generation == generation => self.is_idle(s, now),
                _ => true,
            };
            if !remove {
                break;
            }
            self.order.pop_front();
            if self
                .sources
                .get(&ip)
                .is_some_and(|s| s.generation == generation)
            {
                self.sources.remove(&ip);
            }
        }
        // Outdated entries behind a live front are few (one per window
        // restart); compact if they ever dominate.
        if self.order.len() > 2 * self.settings.max_tracked_sources + 16 {
            let sources = &self.sources;
            self.order
                .retain(|(ip, g)| sources.get(ip).is_some_and(|s| s.generation == *g));
        }
    }

    /// Forgets the oldest live source; returns whether one was forgotten.
    fn evict_oldest(&mut self) -> bool {
        while let Some((ip, generation)) = self.order.pop_front() {
            if self
                .sources
                .get(&ip)
                .is_some_and(|s| s.generation == generation)
            {
                self.sources.remove(&ip);
                return true;
            }
        }
        false
    }

    fn stamp(&mut self, ip: IpAddr) -> u64 {
        self.next_generation += 1;
        self.order.push_back((ip, self.next_generation));
        self.next_generation
    }

    /// Counts one request from `ip`. The second value is true when a
    /// watched source was forgotten to make room.
    pub(crate) fn handle_request(&mut self, ip: IpAddr, now: Instant) -> (FloodVerdict, bool) {
        self.sweep(now);
        let mut evicted = false;
        if !self.sources.contains_key(&ip) {
            while self.sources.len() >= self.settings.max_tracked_sources {
                if !self.evict_oldest() {
                    break;
                }
                evicted = true;
            }
            let generation = self.stamp(ip);
            self.sources.insert(
                ip,
                Sample {
                    window_start: now,
                    count: 0,
                    blocked_until: None,
                    generation,
                },
            );
        }
        let window = self.settings.window;
        let restart = match self.sources.get_mut(&ip) {
            None => false,
            Some(s) => {
                if let Some(until) = s.blocked_until {
                    if now < until {
                        return (FloodVerdict::Blocked { newly: false }, evicted);
                    }
                    s.blocked_until = None;
                    s.window_start = now;
                    s.count = 0;
                    true
                } else if now >= s.window_start + window {
                    s.window_start = now;
                    s.count = 0;
                    true
                } else {
                    false
                }
            }
        };
        if restart {
            let generation = self.stamp(ip);
            if let Some(s) = self.sources.get_mut(&ip) {
                s.generation = generation;
            }
        }
        let Some(s) = self.sources.get_mut(&ip) else {
            return (FloodVerdict::Allow, evicted);
        };
        s.count = s.count.saturating_add(1);
        if s.count > self.settings.max_requests {
            s.blocked_until = Some(now + self.settings.block_for);
            return (FloodVerdict::Blocked { newly: true }, evicted);
        }
        (FloodVerdict::Allow, evicted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn guard(max_sources: usize) -> FloodGuard {
        FloodGuard::new(FloodSettings {
            window: Duration::from_secs(2),
            max_requests: 3,
            block_for: Duration::from_secs(10),
            max_tracked_sources: max_sources,
        })
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    #[test]
    fn blocks_after_too_many_in_a_window_then_releases() {
        let mut g = guard(100);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(g.handle_request(ip(1), t0).0, FloodVerdict::Allow);
        }
        assert_eq!(
            g.handle_request(ip(1), t0).0,
            FloodVerdict::Blocked { newly: true }
        );
        // Another source is unaffected.
        assert_eq!(g.handle_request(ip(2), t0).0, FloodVerdict::Allow);
        // Still blocked later on, though the window has passed.
        let t5 = t0 + Duration::from_secs(5);
        assert_eq!(
            g.handle_request(ip(1), t5).0,
            FloodVerdict::Blocked { newly: false }
        );
        let t11 = t0 + Duration::from_secs(11);
        assert_eq!(g.handle_request(ip(1), t11).0, FloodVerdict::Allow);
    }

    #[test]
    fn a_steady_rate_below_the_limit_is_never_blocked() {
        let mut g = guard(100);
        let t0 = Instant::now();
        for i in 0..100u64 {
            // Three per two seconds.
            let now = t0 + Duration::from_millis(700 * i);
            assert_eq!(
                g.handle_request(ip(1), now).0,
                FloodVerdict::Allow,
                "request {i}"
            );
        }
    }

    #[test]
    fn table_is_bounded_and_evictions_are_reported() {
        let mut g = guard(4);
        let t0 = Instant::now();
        let mut evictions = 0;
        for n in 0..50 {
            let (_, evicted) = g.handle_request(ip(n), t0);
            evictions += usize::from(evicted);
            assert!(g.tracked() <= 4);
        }
        assert_eq!(evictions, 46);
        assert!(g.order.len() <= 2 * 4 + 16);
    }

    #[test]
    fn idle_sources_are_swept_without_counting_as_evictions() {
        let mut g = guard(4);
        let t0 = Instant::now();
        for n in 0..4 {
            g.handle_request(ip(n), t0);
        }
        let later = t0 + Duration::from_secs(3);
        for n in 10..14 {
            let (_, evicted) = g.handle_request(ip(n), later);
            assert!(!evicted);
        }
        assert_eq!(g.tracked(), 4);
    }

    #[test]
    fn queue_stays_bounded_for_one_long_lived_source() {
        let mut g = guard(4);
        let t0 = Instant::now();
        for i in 0..1000u64 {
            g.handle_request(ip(1), t0 + Duration::from_secs(3 * i));
        }
        assert!(g.order.len() <= 2);
    }
}
