//! Microsoft Graph presence and the Entra ID client credentials grant,
//! emulated over plain HTTP on loopback, as described in
//! `shared/specs/graph-and-entra.md` ("Presence", "Bot token"):
//!
//! - `POST /{tenant}/oauth2/v2.0/token` (RFC 6749 §4.4 client
//!   credentials; Entra's `AADSTS` error bodies), tokens scoped to the
//!   tenant, expiring after `token_lifetime_secs`;
//! - `GET /v1.0/users/{id}/presence`, `POST /v1.0/communications/getPresencesByUserId`
//!   (at most 650 ids, 1500 calls per 30 s per app and tenant, then 429
//!   with `Retry-After`);
//! - `POST /v1.0/users/{id}/presence/setPresence`, `clearPresence`,
//!   `setUserPreferredPresence`, `clearUserPreferredPresence`, with
//!   Graph's aggregation of presence sessions ([`presence`]);
//! - `POST /v1.0/subscriptions` on `/communications/presences?$filter=id in (...)`
//!   with the validation handshake, `GET`/`PATCH`/`DELETE /v1.0/subscriptions/{id}`,
//!   `POST /v1.0/subscriptions/{id}/reauthorize`; change notifications on
//!   every change of a subscribed user's presence, and lifecycle
//!   notifications (`reauthorizationRequired` when the token that
//!   authorized a subscription expires, `missed` when notifications could
//!   not be delivered, see [`delivery`], any of them on demand with
//!   [`RunningGraph::send_lifecycle`]).
//!
//! Differences from Microsoft's service, on purpose: plain HTTP, `http:`
//! notification URLs accepted (loopback tests), opaque tokens instead of
//! signed JWTs, no encrypted rich notifications.

mod config;
mod delivery;
pub mod example;
mod presence;
mod server;
mod service;
mod stats;
mod subscriptions;
mod time;
mod wire;

#[cfg(test)]
mod tests;

use std::time::SystemTime;

pub use config::GraphConfig;
pub(crate) use presence::Pair;
pub use presence::{ACTIVITIES, AVAILABILITIES};
pub(crate) use server::{follow_calls, start};
pub use server::{start_graph, RunningGraph};
pub use stats::GraphStats;

/// A lifecycle notification's `lifecycleEvent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleEvent {
    /// The subscription must be reauthorized (`POST .../reauthorize`) or
    /// renewed, or it will be removed.
    ReauthorizationRequired,
    /// The subscription was removed; create a new one.
    SubscriptionRemoved,
    /// Notifications were lost; resynchronise with GET.
    Missed,
}

impl LifecycleEvent {
    /// Graph's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleEvent::ReauthorizationRequired => "reauthorizationRequired",
            LifecycleEvent::SubscriptionRemoved => "subscriptionRemoved",
            LifecycleEvent::Missed => "missed",
        }
    }
}

/// A live subscription, as the emulator holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionInfo {
    /// Its id.
    pub id: String,
    /// The tenant of the app that created it.
    pub tenant_id: String,
    /// The subscribed user ids.
    pub user_ids: Vec<String>,
    /// `expirationDateTime`.
    pub expiration: SystemTime,
    /// `clientState`.
    pub client_state: Option<String>,
    /// `notificationUrl`.
    pub notification_url: String,
    /// `lifecycleNotificationUrl`.
    pub lifecycle_notification_url: Option<String>,
}
