//! Teams presence from Microsoft Graph (`shared/specs/graph-and-entra.md`,
//! "Presence" and "Bot token"), the input of presence-based routing.
//!
//! [`PresenceService::start`] runs one watcher per customer tenant
//! ([`watch`]): a client credentials token from Entra ID (cached,
//! refreshed before it expires), change-notification subscriptions to
//! `/communications/presences` (650 users each, a random `clientState`,
//! renewed `renew_before_secs` before they expire, reauthorized,
//! recreated when removed), a `getPresencesByUserId` snapshot after
//! subscribing and after `missed` (batches of 650, 429s waited out), and
//! polling every `poll_secs` while a subscription cannot be made.
//! Updates come out of an mpsc receiver as [`PresenceUpdate`]s; only
//! changes are reported.
//!
//! [`PresenceService::router`] serves Graph's POSTs ([`notifications`]):
//! mount it on an HTTP server that `notification_url` reaches.
//!
//! ```no_run
//! # async fn demo(config: toml::Value) -> anyhow::Result<()> {
//! use tokio_util::sync::CancellationToken;
//! let config = GraphConfig::from_value(config, std::path::Path::new("."))?;
//! let tenants = vec![WatchedTenant {
//!     tenant_id: "8f0c1a36-4c1e-4a43-9d8e-0c6f1e2b7a11".to_owned(),
//!     object_ids: vec!["5b2f0c43-3c2c-4d8e-9a53-0e2d1f4b8c21".to_owned()],
//! }];
//! let (service, mut updates) = PresenceService::start(config, tenants, CancellationToken::new())?;
//! let _router = service.router(); // beside the HTTP API
//! while let Some(update) = updates.recv().await {
//!     println!("{} {:?} {}", update.object_id, update.presence, update.activity);
//! }
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod counters;
mod notifications;
mod presence;
mod watch;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) use config::GraphConfig;
pub(crate) use counters::PresenceCounters;
pub(crate) use notifications::{LIFECYCLE_PATH, NOTIFICATION_PATH};
pub(crate) use presence::PresenceUpdate;

use client::GraphClient;
use notifications::Route;
use watch::{TenantWatcher, WatcherParts};

/// Updates waiting for the contact center.
const UPDATE_BACKLOG: usize = 1024;

/// Notification items waiting for a tenant's watcher.
const INBOX_BACKLOG: usize = 1024;

/// A customer tenant and the agents whose presence matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WatchedTenant {
    /// The Entra tenant id.
    pub(crate) tenant_id: String,
    /// The agents' Entra object ids.
    pub(crate) object_ids: Vec<String>,
}

/// The running presence client.
pub(crate) struct PresenceService {
    router: axum::Router,
    counters: Arc<PresenceCounters>,
    tracker: TaskTracker,
}

impl PresenceService {
    /// Starts watching `tenants` (within a tokio runtime); the watchers
    /// stop, deleting their subscriptions, when `shutdown` is cancelled.
    /// Ids that are not GUID-like (letters, digits, `-`, `_`, `.`) are
    /// skipped with a warning.
    pub(crate) fn start(
        config: GraphConfig,
        tenants: Vec<WatchedTenant>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<(PresenceService, mpsc::Receiver<PresenceUpdate>)> {
        let config = Arc::new(config);
        let counters = Arc::new(PresenceCounters::default());
        let http = http_client()?;
        let (updates, receiver) = mpsc::channel(UPDATE_BACKLOG);
        let tracker = TaskTracker::new();
        let mut routes = HashMap::new();
        for (key, (tenant_id, object_ids)) in merge(tenants) {
            let (inbox_tx, inbox) = mpsc::channel(INBOX_BACKLOG);
            let overflow = Arc::new(AtomicBool::new(false));
            let client_state = random_client_state()?;
            routes.insert(
                key,
                Route {
                    client_state: client_state.clone(),
                    inbox: inbox_tx,
                    overflow: Arc::clone(&overflow),
                },
            );
            let client = GraphClient::new(
                http.clone(),
                Arc::clone(&config),
                tenant_id.clone(),
                Arc::clone(&counters),
            );
            let watcher = TenantWatcher::new(WatcherParts {
                tenant_id,
                object_ids,
                client,
                config: Arc::clone(&config),
                client_state,
                updates: updates.clone(),
                inbox,
                overflow,
                counters: Arc::clone(&counters),
                shutdown: shutdown.clone(),
            });
            tracker.spawn(watcher.run());
        }
        tracker.close();
        let router = notifications::router(routes, Arc::clone(&counters));
        Ok((
            PresenceService {
                router,
                counters,
                tracker,
            },
            receiver,
        ))
    }

    /// The routes of [`NOTIFICATION_PATH`] and [`LIFECYCLE_PATH`], to
    /// merge into an HTTP server.
    pub(crate) fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// The counters, for metrics.
    pub(crate) fn counters(&self) -> Arc<PresenceCounters> {
        Arc::clone(&self.counters)
    }

    /// Waits until every watcher stopped (after shutdown).
    pub(crate) async fn stopped(&self) {
        self.tracker.wait().await;
    }
}

/// One entry per tenant (ids compared without case), usable ids only,
/// tenants without agents left out.
fn merge(tenants: Vec<WatchedTenant>) -> BTreeMap<String, (String, Vec<String>)> {
    let mut merged: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for tenant in tenants {
        let entry = merged
            .entry(tenant.tenant_id.to_ascii_lowercase())
            .or_insert_with(|| (tenant.tenant_id.clone(), Vec::new()));
        for id in tenant.object_ids {
            let usable = !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !usable {
                tracing::warn!(tenant = %tenant.tenant_id, "an agent object id that is no GUID: skipped");
                continue;
            }
            if !entry.1.iter().any(|known| known.eq_ignore_ascii_case(&id)) {
                entry.1.push(id);
            }
        }
    }
    merged.retain(|_, (_, ids)| !ids.is_empty());
    merged
}

/// 32 random bytes in hex: the secret Graph echoes in `clientState`.
fn random_client_state() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Graph's HTTP client: rustls with ring and the Mozilla roots, no
/// redirects.
fn http_client() -> anyhow::Result<reqwest::Client> {
    // reqwest takes rustls' process-wide provider; the SIP transport
    // passes ring explicitly, so installing it here changes nothing else.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("the HTTP client of Microsoft Graph")
}
