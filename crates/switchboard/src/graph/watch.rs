//! One customer tenant's presence watcher: subscriptions of at most 650
//! users each, a snapshot after subscribing (so no change falls between
//! the two), renewal before expiry, the lifecycle events, and polling
//! while a subscription cannot be made.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{GraphClient, GraphFailure, PresenceReport};
use super::config::{GraphConfig, SUBSCRIPTION_LIFETIME_SECS};
use super::counters::PresenceCounters;
use super::notifications::Inbound;
use super::presence::{availability, PresenceUpdate};

/// Users per subscription and per `getPresencesByUserId`.
pub(crate) const MAX_IDS: usize = 650;

/// The first wait after a failed subscription or snapshot, doubled up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A 429 without Retry-After waits this; a longer Retry-After is cut to
/// [`MAX_THROTTLE_WAIT`].
const DEFAULT_THROTTLE_WAIT: Duration = Duration::from_secs(5);
const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(120);

/// A failed renewal is tried again after this (while the subscription
/// lives).
const RENEW_RETRY: Duration = Duration::from_secs(30);

/// Deleting the subscriptions at shutdown takes at most this.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(3);

/// A subscription's state (Graph `subscription` resource).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Subscription {
    /// None: its users are polled; a subscription is tried at `retry_at`
    /// (never without a notification URL).
    Polling {
        retry_at: Option<Instant>,
        backoff: Duration,
    },
    /// Graph notifies changes until `expires`; renewed from `renew_at`.
    Active {
        id: String,
        expires: SystemTime,
        renew_at: Instant,
    },
}

#[derive(Debug)]
struct Group {
    /// At most [`MAX_IDS`] object ids, as watched.
    ids: Vec<String>,
    subscription: Subscription,
}

/// Watches one tenant until shutdown.
pub(crate) struct TenantWatcher {
    tenant_id: String,
    client: GraphClient,
    config: Arc<GraphConfig>,
    client_state: String,
    groups: Vec<Group>,
    /// Lower-case object id to the id as watched.
    watched: HashMap<String, String>,
    /// The last availability and activity reported, by lower-case id.
    known: HashMap<String, (String, String)>,
    updates: mpsc::Sender<PresenceUpdate>,
    inbox: mpsc::Receiver<Inbound>,
    overflow: Arc<AtomicBool>,
    counters: Arc<PresenceCounters>,
    /// A full snapshot is due then (after a failed one).
    resync_at: Option<Instant>,
    resync_backoff: Duration,
    /// The next poll, while a group has no subscription.
    poll_at: Option<Instant>,
    shutdown: CancellationToken,
}

/// What a [`TenantWatcher`] needs.
pub(crate) struct WatcherParts {
    pub(crate) tenant_id: String,
    pub(crate) object_ids: Vec<String>,
    pub(crate) client: GraphClient,
    pub(crate) config: Arc<GraphConfig>,
    pub(crate) client_state: String,
    pub(crate) updates: mpsc::Sender<PresenceUpdate>,
    pub(crate) inbox: mpsc::Receiver<Inbound>,
    pub(crate) overflow: Arc<AtomicBool>,
    pub(crate) counters: Arc<PresenceCounters>,
    pub(crate) shutdown: CancellationToken,
}

impl TenantWatcher {
    pub(crate) fn new(parts: WatcherParts) -> TenantWatcher {
        let watched: HashMap<String, String> = parts
            .object_ids
            .iter()
            .map(|id| (id.to_ascii_lowercase(), id.clone()))
            .collect();
        let initial = parts
            .config
            .notification_url
            .as_ref()
            .map(|_| Instant::now());
        let groups = parts
            .object_ids
            .chunks(MAX_IDS)
            .map(|ids| Group {
                ids: ids.to_vec(),
                subscription: Subscription::Polling {
                    retry_at: initial,
                    backoff: FIRST_BACKOFF,
                },
            })
            .collect();
        TenantWatcher {
            tenant_id: parts.tenant_id,
            client: parts.client,
            config: parts.config,
            client_state: parts.client_state,
            groups,
            watched,
            known: HashMap::new(),
            updates: parts.updates,
            inbox: parts.inbox,
            overflow: parts.overflow,
            counters: parts.counters,
            resync_at: None,
            resync_backoff: FIRST_BACKOFF,
            poll_at: None,
            shutdown: parts.shutdown,
        }
    }

    /// Subscribes, takes the first snapshot, then follows notifications
    /// and timers until shutdown; deletes its subscriptions on the way
    /// out.
    pub(crate) async fn run(mut self) {
        for group in 0..self.groups.len() {
            self.subscribe(group).await;
        }
        self.resync_all().await;
        loop {
            if self.overflow.swap(false, Ordering::Relaxed) {
                self.resync_all().await;
            }
            let wake = self.next_wake();
            let shutdown = self.shutdown.clone();
            tokio::select! {
                () = shutdown.cancelled() => break,
                inbound = self.inbox.recv() => match inbound {
                    Some(inbound) => self.handle(inbound).await,
                    None => break,
                },
                () = sleep_until(wake) => self.handle_timers().await,
            }
        }
        self.goodbye().await;
    }

    fn next_wake(&self) -> Option<Instant> {
        let groups = self.groups.iter().filter_map(|g| match &g.subscription {
            Subscription::Polling { retry_at, .. } => *retry_at,
            Subscription::Active { renew_at, .. } => Some(*renew_at),
        });
        groups.chain(self.resync_at).chain(self.poll_at).min()
    }

    async fn handle_timers(&mut self) {
        let now = Instant::now();
        if self.resync_at.is_some_and(|at| at <= now) {
            self.resync_all().await;
        }
        if self.poll_at.is_some_and(|at| at <= now) {
            self.poll().await;
        }
        for group in 0..self.groups.len() {
            let now = Instant::now();
            let (subscribe, renew) = match &self.groups[group].subscription {
                Subscription::Polling { retry_at, .. } => {
                    (retry_at.is_some_and(|at| at <= now), false)
                }
                Subscription::Active { renew_at, .. } => (false, *renew_at <= now),
            };
            if subscribe && self.subscribe(group).await {
                self.resync(group).await;
            }
            if renew {
                self.renew(group).await;
            }
        }
    }

    async fn handle(&mut self, inbound: Inbound) {
        match inbound {
            Inbound::Change {
                object_id,
                availability: Some(availability),
                activity,
                ..
            } => {
                let activity = activity.unwrap_or_default();
                self.apply(&object_id, &availability, &activity).await;
            }
            // A basic notification: the presence must be read.
            Inbound::Change { object_id, .. } => {
                if !self.watched.contains_key(&object_id.to_ascii_lowercase()) {
                    return;
                }
                match self.client.presence(&object_id).await {
                    Ok(report) => self.apply_report(&report).await,
                    Err(why) => {
                        tracing::info!(tenant = %self.tenant_id, %why, "Graph presence read failed");
                        self.schedule_resync();
                    }
                }
            }
            Inbound::Lifecycle {
                subscription_id,
                event,
            } => self.lifecycle(&subscription_id, &event).await,
        }
    }

    async fn lifecycle(&mut self, subscription_id: &str, event: &str) {
        let group = self.groups.iter().position(
            |g| matches!(&g.subscription, Subscription::Active { id, .. } if id == subscription_id),
        );
        let Some(group) = group else {
            tracing::debug!(tenant = %self.tenant_id, event, "lifecycle event of an old subscription");
            return;
        };
        tracing::info!(tenant = %self.tenant_id, event, "Graph lifecycle event");
        match event {
            "reauthorizationRequired" => {
                match self.client.reauthorize_subscription(subscription_id).await {
                    Ok(()) => PresenceCounters::add(&self.counters.reauthorizations),
                    Err(why) => {
                        PresenceCounters::add(&self.counters.subscription_failures);
                        tracing::info!(tenant = %self.tenant_id, %why, "reauthorization failed, renewing");
                        self.renew(group).await;
                    }
                }
            }
            "subscriptionRemoved" => {
                self.groups[group].subscription = Subscription::Polling {
                    retry_at: None,
                    backoff: FIRST_BACKOFF,
                };
                self.subscribe(group).await;
                self.resync(group).await;
            }
            "missed" => self.resync(group).await,
            other => {
                tracing::debug!(tenant = %self.tenant_id, event = other, "unknown lifecycle event");
            }
        }
    }

    /// Creates the group's subscription; whether it worked. Failing, the
    /// group is polled and the subscription tried again later.
    async fn subscribe(&mut self, group: usize) -> bool {
        if self.config.notification_url.is_none() {
            self.polling(group, None, FIRST_BACKOFF);
            return false;
        }
        let ids = self.groups[group].ids.clone();
        let lifetime = Duration::from_secs(SUBSCRIPTION_LIFETIME_SECS);
        match self
            .client
            .create_subscription(&ids, &self.client_state, lifetime)
            .await
        {
            Ok((id, expires)) => {
                PresenceCounters::add(&self.counters.subscriptions_created);
                tracing::info!(tenant = %self.tenant_id, users = ids.len(), "Graph presence subscription created");
                let renew_at = self.renew_time(expires);
                self.groups[group].subscription = Subscription::Active {
                    id,
                    expires,
                    renew_at,
                };
                if self
                    .groups
                    .iter()
                    .all(|g| matches!(g.subscription, Subscription::Active { .. }))
                {
                    self.poll_at = None;
                }
                true
            }
            Err(why) => {
                PresenceCounters::add(&self.counters.subscription_failures);
                tracing::warn!(tenant = %self.tenant_id, %why, "Graph presence subscription failed: polling");
                let backoff = match &self.groups[group].subscription {
                    Subscription::Polling { backoff, .. } => *backoff,
                    Subscription::Active { .. } => FIRST_BACKOFF,
                };
                self.polling(
                    group,
                    Some(Instant::now() + backoff),
                    (backoff * 2).min(MAX_BACKOFF),
                );
                false
            }
        }
    }

    fn polling(&mut self, group: usize, retry_at: Option<Instant>, backoff: Duration) {
        self.groups[group].subscription = Subscription::Polling { retry_at, backoff };
        if self.poll_at.is_none() {
            self.poll_at = Some(Instant::now() + self.poll_period());
        }
    }

    async fn renew(&mut self, group: usize) {
        let Subscription::Active { id, expires, .. } = self.groups[group].subscription.clone()
        else {
            return;
        };
        let lifetime = Duration::from_secs(SUBSCRIPTION_LIFETIME_SECS);
        match self.client.renew_subscription(&id, lifetime).await {
            Ok(expires) => {
                PresenceCounters::add(&self.counters.renewals);
                let renew_at = self.renew_time(expires);
                self.groups[group].subscription = Subscription::Active {
                    id,
                    expires,
                    renew_at,
                };
            }
            Err(why) => {
                PresenceCounters::add(&self.counters.subscription_failures);
                let gone = why.status() == Some(404) || expires <= SystemTime::now();
                tracing::info!(tenant = %self.tenant_id, %why, gone, "Graph subscription renewal failed");
                if gone {
                    self.groups[group].subscription = Subscription::Polling {
                        retry_at: None,
                        backoff: FIRST_BACKOFF,
                    };
                    if self.subscribe(group).await {
                        self.resync(group).await;
                    }
                } else {
                    self.groups[group].subscription = Subscription::Active {
                        id,
                        expires,
                        renew_at: Instant::now() + RENEW_RETRY,
                    };
                }
            }
        }
    }

    /// `renew_before_secs` before `expires`, at least a second from now.
    fn renew_time(&self, expires: SystemTime) -> Instant {
        let left = expires
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        let before = Duration::from_secs(self.config.renew_before_secs);
        Instant::now() + left.saturating_sub(before).max(Duration::from_secs(1))
    }

    fn poll_period(&self) -> Duration {
        Duration::from_secs(self.config.poll_secs)
    }

    async fn poll(&mut self) {
        let ids: Vec<String> = self
            .groups
            .iter()
            .filter(|g| matches!(g.subscription, Subscription::Polling { .. }))
            .flat_map(|g| g.ids.iter().cloned())
            .collect();
        if ids.is_empty() {
            self.poll_at = None;
            return;
        }
        PresenceCounters::add(&self.counters.polls);
        if !self.snapshot(&ids).await {
            tracing::info!(tenant = %self.tenant_id, "Graph presence poll failed");
        }
        self.poll_at = Some(Instant::now() + self.poll_period());
    }

    async fn resync(&mut self, group: usize) {
        let ids = self.groups[group].ids.clone();
        PresenceCounters::add(&self.counters.resyncs);
        if !self.snapshot(&ids).await {
            self.schedule_resync();
        }
    }

    async fn resync_all(&mut self) {
        let ids: Vec<String> = self
            .groups
            .iter()
            .flat_map(|g| g.ids.iter().cloned())
            .collect();
        PresenceCounters::add(&self.counters.resyncs);
        if self.snapshot(&ids).await {
            self.resync_at = None;
            self.resync_backoff = FIRST_BACKOFF;
        } else {
            self.schedule_resync();
        }
    }

    fn schedule_resync(&mut self) {
        self.resync_at = Some(Instant::now() + self.resync_backoff);
        self.resync_backoff = (self.resync_backoff * 2).min(MAX_BACKOFF);
    }

    /// Reads the presence of `ids` in batches of 650, waiting out 429s;
    /// whether every batch was read.
    async fn snapshot(&mut self, ids: &[String]) -> bool {
        for batch in ids.chunks(MAX_IDS) {
            let reports = loop {
                match self.client.presences(batch).await {
                    Ok(reports) => break reports,
                    Err(GraphFailure::Status {
                        status: 429,
                        retry_after,
                        ..
                    }) => {
                        PresenceCounters::add(&self.counters.throttled);
                        let wait = retry_after
                            .unwrap_or(DEFAULT_THROTTLE_WAIT)
                            .min(MAX_THROTTLE_WAIT);
                        tokio::select! {
                            () = self.shutdown.cancelled() => return false,
                            () = tokio::time::sleep(wait) => {}
                        }
                    }
                    Err(why) => {
                        tracing::info!(tenant = %self.tenant_id, %why, "Graph presence snapshot failed");
                        return false;
                    }
                }
            };
            for report in &reports {
                self.apply_report(report).await;
            }
        }
        true
    }

    async fn apply_report(&mut self, report: &PresenceReport) {
        self.apply(&report.id, &report.availability, &report.activity)
            .await;
    }

    /// Hands on a watched user's presence if it changed.
    async fn apply(&mut self, object_id: &str, availability_text: &str, activity: &str) {
        let key = object_id.to_ascii_lowercase();
        let Some(watched) = self.watched.get(&key) else {
            return;
        };
        let now = (availability_text.to_owned(), activity.to_owned());
        if self.known.get(&key) == Some(&now) {
            return;
        }
        let presence = availability(availability_text).unwrap_or_else(|| {
            PresenceCounters::add(&self.counters.unknown_availability);
            acd::Presence::Unknown
        });
        let update = PresenceUpdate {
            tenant_id: self.tenant_id.clone(),
            object_id: watched.clone(),
            presence,
            activity: activity.to_owned(),
        };
        self.known.insert(key, now);
        PresenceCounters::add(&self.counters.updates);
        // The contact center stopped: nothing left to tell.
        let _ = self.updates.send(update).await;
    }

    /// Deletes the subscriptions, so Graph stops calling.
    async fn goodbye(&mut self) {
        let ids: Vec<String> = self
            .groups
            .iter()
            .filter_map(|g| match &g.subscription {
                Subscription::Active { id, .. } => Some(id.clone()),
                Subscription::Polling { .. } => None,
            })
            .collect();
        let client = &mut self.client;
        let delete_all = async {
            for id in &ids {
                let _ = client.delete_subscription(id).await;
            }
        };
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, delete_all).await;
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
