//! OPTIONS keepalive towards the Teams proxies and their health.
//!
//! Every `options_interval` (60 s) the SBC sends OPTIONS (RFC 3261 §11) to
//! each proxy. A proxy is healthy when it answered 2xx within the last
//! three intervals (Microsoft's rule for SBCs, applied in the other
//! direction). A 503 with Retry-After (RFC 3261 §21.5.4) marks it down for
//! that long. Failover order keeps the configured order (sip, sip2, sip3)
//! with healthy proxies first, then unhealthy ones, then those marked down.
//!
//! Sans-IO: drain [`OptionsPinger::poll_transmit`] until `None`, sleep
//! until [`OptionsPinger::poll_timeout`], and report each probe's final
//! response with [`OptionsPinger::handle_response`]. A probe that gets no
//! answer (timeout, TCP or TLS failure) needs no report: health lapses by
//! itself three intervals after the last 2xx. Each change between Active
//! and Inactive comes out once from [`OptionsPinger::poll_health_change`]
//! (the pinger wakes at the lapse instant, so the report is not late).

use std::time::{Duration, Instant};

use sip::StatusCode;

use crate::config::{ProxyAddr, TeamsTrunk};

/// A proxy's index in the configured list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProxyId(pub usize);

#[derive(Debug, Clone)]
struct ProxyState {
    addr: ProxyAddr,
    next_probe: Instant,
    last_ok: Option<Instant>,
    down_until: Option<Instant>,
    /// What [`OptionsPinger::poll_health_change`] last reported.
    reported: ProxyHealth,
}

/// A proxy's health as the SBC sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyHealth {
    /// It answered OPTIONS with 2xx within the last three intervals.
    Active,
    /// It did not (or never did); calls try it after the active ones.
    Inactive,
}

/// A change of a proxy's health, reported once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChange {
    /// The proxy.
    pub proxy: ProxyId,
    /// Its address.
    pub addr: ProxyAddr,
    /// Its health from now on.
    pub health: ProxyHealth,
}

/// An OPTIONS request to send: Request-URI
/// [`crate::TeamsTrunk::options_uri`], Contact
/// [`crate::TeamsTrunk::options_contact`], over TLS to the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsProbe {
    /// The proxy to probe.
    pub proxy: ProxyId,
    /// Its address.
    pub addr: ProxyAddr,
}

/// The OPTIONS schedule and health of every Teams proxy.
#[derive(Debug, Clone)]
pub struct OptionsPinger {
    proxies: Vec<ProxyState>,
    interval: Duration,
}

impl OptionsPinger {
    /// A pinger whose first probes are due at `now`.
    pub fn new(teams: &TeamsTrunk, now: Instant) -> OptionsPinger {
        OptionsPinger {
            proxies: teams
                .proxies
                .iter()
                .map(|addr| ProxyState {
                    addr: addr.clone(),
                    next_probe: now,
                    last_ok: None,
                    down_until: None,
                    reported: ProxyHealth::Inactive,
                })
                .collect(),
            interval: teams.options_interval,
        }
    }

    /// The next OPTIONS due at `now`, if any; call until `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<OptionsProbe> {
        let interval = self.interval;
        let (index, state) = self
            .proxies
            .iter_mut()
            .enumerate()
            .find(|(_, p)| p.next_probe <= now)?;
        // Keep the schedule regular; skip missed slots after a long pause.
        while state.next_probe <= now {
            state.next_probe += interval;
        }
        Some(OptionsProbe {
            proxy: ProxyId(index),
            addr: state.addr.clone(),
        })
    }

    /// When [`OptionsPinger::poll_transmit`] or
    /// [`OptionsPinger::poll_health_change`] next has something: the next
    /// probe, or the instant an Active proxy's last answer gets too old.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let lapses = self.proxies.iter().filter_map(|p| {
            let ok = p.last_ok.filter(|_| p.reported == ProxyHealth::Active)?;
            Some(ok + 3 * self.interval + Duration::from_millis(1))
        });
        self.proxies
            .iter()
            .map(|p| p.next_probe)
            .chain(lapses)
            .min()
    }

    /// The next proxy whose health changed since it was last reported
    /// (every proxy starts Inactive); call until `None`.
    pub fn poll_health_change(&mut self, now: Instant) -> Option<HealthChange> {
        let interval = self.interval;
        let (index, state) = self
            .proxies
            .iter_mut()
            .enumerate()
            .find(|(_, p)| health_at(p.last_ok, interval, now) != p.reported)?;
        state.reported = health_at(state.last_ok, interval, now);
        Some(HealthChange {
            proxy: ProxyId(index),
            addr: state.addr.clone(),
            health: state.reported,
        })
    }

    /// A final response to an OPTIONS probe of `proxy` (or any request
    /// sent to it): 2xx proves it healthy; 503 with `retry_after` marks it
    /// down for that long.
    pub fn handle_response(
        &mut self,
        proxy: ProxyId,
        status: StatusCode,
        retry_after: Option<Duration>,
        now: Instant,
    ) {
        let Some(p) = self.proxies.get_mut(proxy.0) else {
            return;
        };
        if status.is_success() {
            p.last_ok = Some(now);
            p.down_until = None;
        } else if status.0 == 503 {
            if let Some(wait) = retry_after {
                p.down_until = Some(now + wait);
            }
        }
    }

    /// Marks `proxy` down until `until` (a 503 with Retry-After on a call).
    pub(crate) fn mark_down(&mut self, proxy: ProxyId, until: Instant) {
        if let Some(p) = self.proxies.get_mut(proxy.0) {
            p.down_until = Some(until);
        }
    }

    /// Whether `proxy` answered OPTIONS within the last three intervals.
    pub fn is_healthy(&self, proxy: ProxyId, now: Instant) -> bool {
        self.proxies
            .get(proxy.0)
            .is_some_and(|p| health_at(p.last_ok, self.interval, now) == ProxyHealth::Active)
    }

    /// Whether `proxy` is marked down by a Retry-After.
    pub fn is_down(&self, proxy: ProxyId, now: Instant) -> bool {
        self.proxies
            .get(proxy.0)
            .is_some_and(|p| p.down_until.is_some_and(|until| now < until))
    }

    /// The order to try proxies in: configured order, healthy first, then
    /// unhealthy, then marked down.
    pub fn failover_order(&self, now: Instant) -> Vec<ProxyId> {
        let mut order: Vec<ProxyId> = (0..self.proxies.len()).map(ProxyId).collect();
        order.sort_by_key(|&id| (self.is_down(id, now), !self.is_healthy(id, now)));
        order
    }

    /// The address of `proxy`.
    pub fn addr(&self, proxy: ProxyId) -> Option<&ProxyAddr> {
        self.proxies.get(proxy.0).map(|p| &p.addr)
    }
}

/// Health given the last 2xx: Active for three intervals after it.
fn health_at(last_ok: Option<Instant>, interval: Duration, now: Instant) -> ProxyHealth {
    match last_ok {
        Some(ok) if now.saturating_duration_since(ok) <= 3 * interval => ProxyHealth::Active,
        _ => ProxyHealth::Inactive,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::config::Config;

    pub(crate) fn pinger(now: Instant) -> OptionsPinger {
        let config = Config::from_toml_str(crate::teams::tests::TEAMS, "t.toml").unwrap();
        OptionsPinger::new(config.teams.as_ref().unwrap(), now)
    }

    fn drain(p: &mut OptionsPinger, now: Instant) -> Vec<usize> {
        std::iter::from_fn(|| p.poll_transmit(now))
            .map(|probe| probe.proxy.0)
            .collect()
    }

    #[test]
    fn probes_every_proxy_at_start_then_every_minute() {
        let t0 = Instant::now();
        let mut p = pinger(t0);
        assert_eq!(p.poll_timeout(), Some(t0));
        let probes: Vec<_> = std::iter::from_fn(|| p.poll_transmit(t0)).collect();
        assert_eq!(probes.len(), 3);
        assert_eq!(probes[0].addr.fqdn, "sip.pstnhub.microsoft.com");
        assert_eq!(probes[2].addr.fqdn, "sip3.pstnhub.microsoft.com");
        let t60 = t0 + Duration::from_secs(60);
        assert_eq!(p.poll_timeout(), Some(t60));
        assert!(drain(&mut p, t60 - Duration::from_millis(1)).is_empty());
        assert_eq!(drain(&mut p, t60), [0, 1, 2]);
        // After a long stall, one probe each, not a burst of missed ones.
        let late = t0 + Duration::from_secs(600);
        assert_eq!(drain(&mut p, late), [0, 1, 2]);
        assert!(p.poll_timeout().unwrap() > late);
    }

    #[test]
    fn healthy_for_three_intervals_after_an_answer() {
        let t0 = Instant::now();
        let mut p = pinger(t0);
        let sip2 = ProxyId(1);
        assert!(!p.is_healthy(sip2, t0));
        p.handle_response(sip2, StatusCode::OK, None, t0);
        assert!(p.is_healthy(sip2, t0 + Duration::from_secs(180)));
        assert!(!p.is_healthy(sip2, t0 + Duration::from_secs(181)));
        // A non-2xx answer (e.g. 403 for an unknown Contact FQDN) is not health.
        p.handle_response(ProxyId(0), StatusCode(403), None, t0);
        assert!(!p.is_healthy(ProxyId(0), t0));
    }

    #[test]
    fn failover_order_healthy_first_down_last() {
        let t0 = Instant::now();
        let mut p = pinger(t0);
        let ids = |v: Vec<ProxyId>| v.into_iter().map(|i| i.0).collect::<Vec<_>>();
        assert_eq!(ids(p.failover_order(t0)), [0, 1, 2]);
        p.handle_response(ProxyId(2), StatusCode::OK, None, t0);
        p.handle_response(ProxyId(1), StatusCode::OK, None, t0);
        assert_eq!(ids(p.failover_order(t0)), [1, 2, 0]);
        p.handle_response(
            ProxyId(1),
            StatusCode(503),
            Some(Duration::from_secs(30)),
            t0,
        );
        assert_eq!(ids(p.failover_order(t0)), [2, 0, 1]);
        assert_eq!(
            ids(p.failover_order(t0 + Duration::from_secs(31))),
            [1, 2, 0]
        );
    }

    #[test]
    fn health_changes_are_reported_once_and_on_time() {
        let t0 = Instant::now();
        let mut p = pinger(t0);
        let changes = |p: &mut OptionsPinger, now| {
            std::iter::from_fn(|| p.poll_health_change(now))
                .map(|c| (c.proxy.0, c.health))
                .collect::<Vec<_>>()
        };
        // Everything starts Inactive: nothing to report.
        assert!(changes(&mut p, t0).is_empty());
        p.handle_response(ProxyId(0), StatusCode::OK, None, t0);
        assert_eq!(changes(&mut p, t0), [(0, ProxyHealth::Active)]);
        assert!(changes(&mut p, t0).is_empty());
        // The pinger wakes when the answer lapses, not a probe later.
        let lapse = t0 + Duration::from_secs(180) + Duration::from_millis(1);
        assert_eq!(p.poll_timeout(), Some(t0));
        drain(&mut p, t0);
        for minute in 1..=3 {
            let probe = t0 + Duration::from_secs(60 * minute);
            assert_eq!(p.poll_timeout(), Some(probe));
            drain(&mut p, probe);
            assert!(changes(&mut p, probe).is_empty());
        }
        assert_eq!(p.poll_timeout(), Some(lapse));
        assert_eq!(changes(&mut p, lapse), [(0, ProxyHealth::Inactive)]);
        assert!(changes(&mut p, lapse).is_empty());
        // A new answer makes it Active again.
        p.handle_response(ProxyId(0), StatusCode::OK, None, lapse);
        assert_eq!(changes(&mut p, lapse), [(0, ProxyHealth::Active)]);
    }
}
