//! The presence client's counters, for `[metrics]`.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the presence client did; every field only grows.
#[derive(Debug, Default)]
pub(crate) struct PresenceCounters {
    /// Notification items accepted (right tenant and clientState).
    pub(crate) notifications_accepted: AtomicU64,
    /// Items ignored: unknown tenant, wrong clientState, no user id.
    pub(crate) notifications_rejected: AtomicU64,
    /// Requests refused with 400: not JSON, or too large.
    pub(crate) notifications_malformed: AtomicU64,
    /// Items dropped because a tenant's queue was full (a resync follows).
    pub(crate) notifications_dropped: AtomicU64,
    /// Validation handshakes answered.
    pub(crate) validations: AtomicU64,
    /// Lifecycle notifications accepted.
    pub(crate) lifecycle_events: AtomicU64,
    /// Token requests that failed.
    pub(crate) token_failures: AtomicU64,
    /// Subscription creations, renewals or reauthorizations that failed.
    pub(crate) subscription_failures: AtomicU64,
    /// Subscriptions created.
    pub(crate) subscriptions_created: AtomicU64,
    /// Subscriptions renewed.
    pub(crate) renewals: AtomicU64,
    /// Subscriptions reauthorized.
    pub(crate) reauthorizations: AtomicU64,
    /// Polls made while no subscription could be made.
    pub(crate) polls: AtomicU64,
    /// Snapshots taken (start, `missed`, removed subscriptions, overflow).
    pub(crate) resyncs: AtomicU64,
    /// 429 answers of Graph.
    pub(crate) throttled: AtomicU64,
    /// Availability values switchboard does not know (routed as Unknown).
    pub(crate) unknown_availability: AtomicU64,
    /// Presence updates handed to the contact center.
    pub(crate) updates: AtomicU64,
}

impl PresenceCounters {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every counter: a metric name suffix, a help text and the value.
    pub(crate) fn samples(&self) -> [(&'static str, &'static str, u64); 16] {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        [
            (
                "notifications_accepted",
                "Graph notification items accepted.",
                get(&self.notifications_accepted),
            ),
            (
                "notifications_rejected",
                "Graph notification items ignored (tenant, clientState, no user).",
                get(&self.notifications_rejected),
            ),
            (
                "notifications_malformed",
                "Graph notification requests refused (bad JSON, too large).",
                get(&self.notifications_malformed),
            ),
            (
                "notifications_dropped",
                "Graph notification items dropped on a full queue.",
                get(&self.notifications_dropped),
            ),
            (
                "validations",
                "Graph subscription validation handshakes answered.",
                get(&self.validations),
            ),
            (
                "lifecycle_events",
                "Graph lifecycle notifications accepted.",
                get(&self.lifecycle_events),
            ),
            (
                "token_failures",
                "Entra ID token requests that failed.",
                get(&self.token_failures),
            ),
            (
                "subscription_failures",
                "Graph subscription requests that failed.",
                get(&self.subscription_failures),
            ),
            (
                "subscriptions_created",
                "Graph presence subscriptions created.",
                get(&self.subscriptions_created),
            ),
            (
                "renewals",
                "Graph presence subscriptions renewed.",
                get(&self.renewals),
            ),
            (
                "reauthorizations",
                "Graph presence subscriptions reauthorized.",
                get(&self.reauthorizations),
            ),
            (
                "polls",
                "Presence polls while no subscription could be made.",
                get(&self.polls),
            ),
            ("resyncs", "Presence snapshots taken.", get(&self.resyncs)),
            ("throttled", "Graph 429 answers.", get(&self.throttled)),
            (
                "unknown_availability",
                "Presence availability values not understood.",
                get(&self.unknown_availability),
            ),
            (
                "updates",
                "Presence updates handed to the contact center.",
                get(&self.updates),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_name_every_counter_once() {
        let counters = PresenceCounters::default();
        PresenceCounters::add(&counters.polls);
        PresenceCounters::add(&counters.polls);
        let samples = counters.samples();
        let mut names: Vec<&str> = samples.iter().map(|(name, _, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), samples.len());
        assert!(samples.contains(&(
            "polls",
            "Presence polls while no subscription could be made.",
            2
        )));
        assert_eq!(samples.iter().map(|(_, _, v)| v).sum::<u64>(), 2);
    }
}
