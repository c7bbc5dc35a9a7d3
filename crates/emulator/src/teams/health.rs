//! SBC health as the Direct Routing proxies track it: an SBC is "Active"
//! once it sends OPTIONS and answers the proxy's own OPTIONS with 200, and
//! stays so while OPTIONS keep arriving; three 1-minute intervals without
//! one make it "Inactive" (an Active SBC is preferred for calls from
//! Teams).
//!
//! In the hosting model only the base trunk sends OPTIONS; a derived
//! trunk (`contoso.customers.example.net`) that sends none shares the
//! health of the trunks one label under the same domain
//! (`sbc1.customers.example.net`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::event::SbcStatus;

/// How long an SBC stays Active without OPTIONS: three 1-minute intervals.
pub const HEALTH_WINDOW: Duration = Duration::from_secs(180);

#[derive(Debug, Clone)]
struct Record {
    last_options: Instant,
    /// The SBC answered our OPTIONS with 200 since it last became active
    /// (or since its first OPTIONS).
    answered: bool,
    status: SbcStatus,
}

/// Health per SBC FQDN (lower case).
#[derive(Debug, Clone)]
pub(crate) struct Health {
    records: BTreeMap<String, Record>,
    /// How long an SBC stays Active without OPTIONS ([`HEALTH_WINDOW`]
    /// unless configured shorter for tests).
    window: Duration,
}

impl Default for Health {
    fn default() -> Health {
        Health::new(HEALTH_WINDOW)
    }
}

/// A status change to report.
pub(crate) type Change = (String, SbcStatus);

impl Health {
    /// No SBC known yet; Active ones lapse after `window` without OPTIONS.
    pub(crate) fn new(window: Duration) -> Health {
        Health {
            records: BTreeMap::new(),
            window,
        }
    }

    /// The SBC sent OPTIONS.
    pub(crate) fn options_received(&mut self, fqdn: &str, now: Instant) -> Option<Change> {
        let fqdn = fqdn.to_ascii_lowercase();
        let record = self.records.entry(fqdn.clone()).or_insert(Record {
            last_options: now,
            answered: false,
            status: SbcStatus::Inactive,
        });
        if now >= record.last_options + self.window {
            // Silent for too long, even if no timeout ran meanwhile.
            record.answered = false;
        }
        record.last_options = now;
        Self::settle(fqdn, record, self.window, now)
    }

    /// The SBC answered our OPTIONS with 200.
    pub(crate) fn options_answered(&mut self, fqdn: &str, now: Instant) -> Option<Change> {
        let fqdn = fqdn.to_ascii_lowercase();
        let record = self.records.get_mut(&fqdn)?;
        record.answered = true;
        Self::settle(fqdn, record, self.window, now)
    }

    /// Marks SBCs without OPTIONS for the window (three minutes) Inactive.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Vec<Change> {
        self.records
            .iter_mut()
            .filter_map(|(fqdn, record)| Self::settle(fqdn.clone(), record, self.window, now))
            .collect()
    }

    /// When an Active SBC turns Inactive unless it sends OPTIONS.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.records
            .values()
            .filter(|r| r.status == SbcStatus::Active)
            .map(|r| r.last_options + self.window)
            .min()
    }

    /// The status of `fqdn`: its own if it sent OPTIONS, else Active if a
    /// sibling trunk (same parent domain) is.
    pub(crate) fn status(&self, fqdn: &str) -> SbcStatus {
        let fqdn = fqdn.to_ascii_lowercase();
        if let Some(record) = self.records.get(&fqdn) {
            return record.status;
        }
        let parent = |name: &str| name.split_once('.').map(|(_, rest)| rest.to_owned());
        let Some(own_parent) = parent(&fqdn) else {
            return SbcStatus::Inactive;
        };
        let sibling_active = self.records.iter().any(|(name, record)| {
            record.status == SbcStatus::Active && parent(name).as_ref() == Some(&own_parent)
        });
        if sibling_active {
            SbcStatus::Active
        } else {
            SbcStatus::Inactive
        }
    }

    fn settle(fqdn: String, record: &mut Record, window: Duration, now: Instant) -> Option<Change> {
        let fresh = now < record.last_options + window;
        let status = if fresh && record.answered {
            SbcStatus::Active
        } else {
            SbcStatus::Inactive
        };
        if !fresh {
            // Coming back needs a new exchange of OPTIONS.
            record.answered = false;
        }
        if status == record.status {
            return None;
        }
        record.status = status;
        Some((fqdn, status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_after_both_options_inactive_after_three_silent_minutes() {
        let t0 = Instant::now();
        let mut health = Health::default();
        let fqdn = "sbc1.customers.example.net";
        assert_eq!(health.options_received(fqdn, t0), None);
        assert_eq!(health.status(fqdn), SbcStatus::Inactive);
        assert_eq!(
            health.options_answered(fqdn, t0),
            Some((fqdn.to_owned(), SbcStatus::Active))
        );
        assert_eq!(health.poll_timeout(), Some(t0 + HEALTH_WINDOW));
        // OPTIONS every minute keep it Active.
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(health.options_received(fqdn, t1), None);
        assert!(health.handle_timeout(t0 + HEALTH_WINDOW).is_empty());
        // Then silence: Inactive three minutes after the last one.
        let late = t1 + HEALTH_WINDOW - Duration::from_millis(1);
        assert!(health.handle_timeout(late).is_empty());
        assert_eq!(
            health.handle_timeout(t1 + HEALTH_WINDOW),
            vec![(fqdn.to_owned(), SbcStatus::Inactive)]
        );
        assert_eq!(health.poll_timeout(), None);
        // A new OPTIONS alone is not enough: our OPTIONS must be answered.
        let t2 = t1 + Duration::from_secs(600);
        assert_eq!(health.options_received(fqdn, t2), None);
        assert_eq!(health.status(fqdn), SbcStatus::Inactive);
        assert!(health.options_answered(fqdn, t2).is_some());
    }

    #[test]
    fn derived_trunks_share_the_base_trunk_health() {
        let t0 = Instant::now();
        let mut health = Health::default();
        health.options_received("sbc1.customers.example.net", t0);
        health.options_answered("sbc1.customers.example.net", t0);
        assert_eq!(
            health.status("contoso.customers.example.net"),
            SbcStatus::Active
        );
        assert_eq!(health.status("contoso.example.org"), SbcStatus::Inactive);
        assert_eq!(health.status("localhost"), SbcStatus::Inactive);
    }
}
