//! What the emulated Graph did, for tests.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of the emulated Graph, from
/// [`RunningGraph::stats`](crate::RunningGraph::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraphStats {
    /// Access tokens issued.
    pub tokens_issued: u64,
    /// Token requests refused (unknown tenant, wrong secret...).
    pub token_refusals: u64,
    /// Graph requests refused with 401 (no, unknown or expired token).
    pub unauthenticated: u64,
    /// `getPresencesByUserId` calls refused with 429.
    pub throttled: u64,
    /// Subscriptions created.
    pub subscriptions_created: u64,
    /// Subscription requests whose validation handshake failed.
    pub validation_failures: u64,
    /// Notifications (change and lifecycle) acknowledged with a 2xx.
    pub notifications_delivered: u64,
    /// Notification attempts that failed (no 2xx within 3 s).
    pub notification_failures: u64,
    /// `missed` lifecycle notifications sent after every retry failed.
    pub missed_sent: u64,
    /// Other lifecycle notifications sent (`reauthorizationRequired`,
    /// `subscriptionRemoved`).
    pub lifecycle_sent: u64,
}

#[derive(Debug, Default)]
pub(crate) struct StatsCounters {
    pub(crate) tokens_issued: AtomicU64,
    pub(crate) token_refusals: AtomicU64,
    pub(crate) unauthenticated: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) subscriptions_created: AtomicU64,
    pub(crate) validation_failures: AtomicU64,
    pub(crate) notifications_delivered: AtomicU64,
    pub(crate) notification_failures: AtomicU64,
    pub(crate) missed_sent: AtomicU64,
    pub(crate) lifecycle_sent: AtomicU64,
}

impl StatsCounters {
    pub(crate) fn snapshot(&self) -> GraphStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        GraphStats {
            tokens_issued: get(&self.tokens_issued),
            token_refusals: get(&self.token_refusals),
            unauthenticated: get(&self.unauthenticated),
            throttled: get(&self.throttled),
            subscriptions_created: get(&self.subscriptions_created),
            validation_failures: get(&self.validation_failures),
            notifications_delivered: get(&self.notifications_delivered),
            notification_failures: get(&self.notification_failures),
            missed_sent: get(&self.missed_sent),
            lifecycle_sent: get(&self.lifecycle_sent),
        }
    }
}
