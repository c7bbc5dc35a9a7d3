//! `[emulator.graph]`: the emulated Microsoft Graph presence API and
//! Entra ID token endpoint, and the app registration they accept.
//!
//! ```toml
//! [emulator.graph]
//! listen = "127.0.0.1:18080"
//! client_id = "11111111-2222-3333-4444-555555555555"
//! client_secret = "emulator-secret"
//! ```
//!
//! The users are those of `[[emulator.tenants.users]]` (tenant `id` and
//! `object_id`), each with an optional `presence` (`"Available"`, or
//! `"Busy/InACall"` for an availability and activity).

use std::net::SocketAddr;

use serde::Deserialize;

use crate::error::ConfigError;

/// `[emulator.graph]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphConfig {
    /// `listen` (default `127.0.0.1:18080`): the plain HTTP address of
    /// both `https://login.microsoftonline.com` (`/{tenant}/oauth2/v2.0/token`)
    /// and `https://graph.microsoft.com` (`/v1.0/...`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// `client_id`: the application (client) id of the app registration
    /// the token endpoint accepts, in every tenant (admin consent given).
    pub client_id: String,
    /// `client_secret`: its secret.
    pub client_secret: String,
    /// `token_lifetime_secs` (default 3599): the `expires_in` of issued
    /// tokens; short values let tests watch tokens being refreshed.
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_secs: u64,
    /// `presence_requests_per_30s` (default 1500, Graph's limit per
    /// application per tenant): `getPresencesByUserId` calls allowed in
    /// any 30 seconds before 429.
    #[serde(default = "default_presence_rate")]
    pub presence_requests_per_30s: u32,
    /// `notification_retries` (default 3): how many times a change
    /// notification that got no 2xx within 3 s is sent again before a
    /// `missed` lifecycle notification.
    #[serde(default = "default_retries")]
    pub notification_retries: u32,
    /// `notification_retry_ms` (default 1000): the first retry delay,
    /// doubled for each further retry.
    #[serde(default = "default_retry_ms")]
    pub notification_retry_ms: u64,
    /// `basic_notifications` (default false): send presence changes as
    /// today's Graph documentation shows basic notifications (the user id
    /// only; the subscriber GETs the presence) instead of with
    /// `availability` and `activity` in `resourceData`.
    #[serde(default)]
    pub basic_notifications: bool,
}

impl GraphConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: &str| ConfigError::Invalid {
            key: format!("emulator.graph.{key}"),
            reason: reason.to_owned(),
        };
        if self.client_id.trim().is_empty() {
            return Err(invalid("client_id", "empty"));
        }
        if self.client_secret.is_empty() {
            return Err(invalid("client_secret", "empty"));
        }
        if !(1..=86_400).contains(&self.token_lifetime_secs) {
            return Err(invalid("token_lifetime_secs", "expected 1 to 86400"));
        }
        if self.presence_requests_per_30s == 0 {
            return Err(invalid("presence_requests_per_30s", "at least 1"));
        }
        if self.notification_retries > 10 {
            return Err(invalid("notification_retries", "at most 10"));
        }
        if !(1..=60_000).contains(&self.notification_retry_ms) {
            return Err(invalid("notification_retry_ms", "expected 1 to 60000"));
        }
        Ok(())
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 18080))
}

fn default_token_lifetime() -> u64 {
    3599
}

fn default_presence_rate() -> u32 {
    1500
}

fn default_retries() -> u32 {
    3
}

fn default_retry_ms() -> u64 {
    1000
}
