//! `[graph]`: how switchboard reaches Microsoft Graph for Teams presence.
//!
//! ```toml
//! [graph]
//! client_id = "11111111-2222-3333-4444-555555555555"
//! client_secret_file = "graph-secret.txt"
//! notification_url = "https://sbc.example.net/graph/notifications"
//! # defaults:
//! # login_url = "https://login.microsoftonline.com"
//! # base_url = "https://graph.microsoft.com/v1.0"
//! # lifecycle_notification_url = notification_url
//! # renew_before_secs = 600
//! # poll_secs = 60
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// A presence subscription lives at most an hour; switchboard asks for
/// 59 minutes so clock skew never makes Graph refuse it.
pub(crate) const SUBSCRIPTION_LIFETIME_SECS: u64 = 59 * 60;

/// The `[graph]` table.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GraphConfig {
    /// `login_url`: the Entra ID authority (tokens at
    /// `{login_url}/{tenant}/oauth2/v2.0/token`).
    #[serde(default = "default_login_url")]
    pub(crate) login_url: String,
    /// `base_url`: Microsoft Graph with its version.
    #[serde(default = "default_base_url")]
    pub(crate) base_url: String,
    /// `client_id`: the app registration (multi-tenant, admin consent
    /// in each customer tenant, application permission Presence.Read.All).
    pub(crate) client_id: String,
    /// `client_secret`, or `client_secret_file` (first line; relative to
    /// the configuration file).
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    client_secret_file: Option<PathBuf>,
    /// `notification_url`: the public URL Graph POSTs change
    /// notifications to (served by [`super::PresenceService::router`] at
    /// [`super::NOTIFICATION_PATH`]); without it presence is polled.
    #[serde(default)]
    pub(crate) notification_url: Option<String>,
    /// `lifecycle_notification_url` (default: `notification_url`): where
    /// Graph POSTs lifecycle notifications ([`super::LIFECYCLE_PATH`]
    /// serves them too).
    #[serde(default)]
    pub(crate) lifecycle_notification_url: Option<String>,
    /// `renew_before_secs` (default 600): renew a subscription this long
    /// before it expires.
    #[serde(default = "default_renew_before")]
    pub(crate) renew_before_secs: u64,
    /// `poll_secs` (default 60): the polling period while no subscription
    /// can be made.
    #[serde(default = "default_poll")]
    pub(crate) poll_secs: u64,
}

impl std::fmt::Debug for GraphConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphConfig")
            .field("login_url", &self.login_url)
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("notification_url", &self.notification_url)
            .field(
                "lifecycle_notification_url",
                &self.lifecycle_notification_url,
            )
            .field("renew_before_secs", &self.renew_before_secs)
            .field("poll_secs", &self.poll_secs)
            .finish()
    }
}

impl GraphConfig {
    /// Reads and checks `[graph]`; `base` is the directory of the
    /// configuration file, for `client_secret_file`.
    pub(crate) fn from_value(value: toml::Value, base: &Path) -> anyhow::Result<GraphConfig> {
        let mut config: GraphConfig = value.try_into().context("[graph] is not valid")?;
        let secret = match (&config.client_secret, &config.client_secret_file) {
            (Some(secret), None) => secret.clone(),
            (None, Some(file)) => {
                let path = base.join(file);
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("[graph] client_secret_file {}", path.display()))?;
                text.lines().next().unwrap_or_default().trim().to_owned()
            }
            _ => anyhow::bail!("[graph] needs exactly one of client_secret and client_secret_file"),
        };
        if secret.is_empty() {
            anyhow::bail!("[graph] the client secret is empty");
        }
        config.client_secret = Some(secret);
        config.client_secret_file = None;
        if config.client_id.trim().is_empty() {
            anyhow::bail!("[graph] client_id is empty");
        }
        config.login_url = checked_url("login_url", &config.login_url)?;
        config.base_url = checked_url("base_url", &config.base_url)?;
        if let Some(url) = &config.notification_url {
            checked_url("notification_url", url)?;
        }
        if let Some(url) = &config.lifecycle_notification_url {
            checked_url("lifecycle_notification_url", url)?;
            if config.notification_url.is_none() {
                anyhow::bail!("[graph] lifecycle_notification_url needs notification_url");
            }
        }
        if config.renew_before_secs == 0 || config.renew_before_secs >= SUBSCRIPTION_LIFETIME_SECS {
            anyhow::bail!(
                "[graph] renew_before_secs: expected 1 to {}",
                SUBSCRIPTION_LIFETIME_SECS - 1
            );
        }
        if !(1..=3600).contains(&config.poll_secs) {
            anyhow::bail!("[graph] poll_secs: expected 1 to 3600");
        }
        Ok(config)
    }

    pub(crate) fn client_secret(&self) -> &str {
        self.client_secret.as_deref().unwrap_or_default()
    }

    /// Where lifecycle notifications go, when subscriptions are made.
    pub(crate) fn lifecycle_url(&self) -> Option<&str> {
        self.lifecycle_notification_url
            .as_deref()
            .or(self.notification_url.as_deref())
    }
}

/// An absolute `https:` (or, for the emulator, `http:`) URL without a
/// trailing slash.
fn checked_url(key: &str, url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !url.contains(' ') => {
            Ok(url.trim_end_matches('/').to_owned())
        }
        _ => anyhow::bail!("[graph] {key}: `{url}` is not an absolute http(s) URL"),
    }
}

fn default_login_url() -> String {
    "https://login.microsoftonline.com".to_owned()
}

fn default_base_url() -> String {
    "https://graph.microsoft.com/v1.0".to_owned()
}

fn default_renew_before() -> u64 {
    600
}

fn default_poll() -> u64 {
    60
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<GraphConfig> {
        let table: toml::Table = toml::from_str(text).unwrap();
        GraphConfig::from_value(toml::Value::Table(table), Path::new("."))
    }

    #[test]
    fn defaults_and_redaction() {
        let config = parse("client_id = \"app\"\nclient_secret = \"hush\"\n").unwrap();
        assert_eq!(config.login_url, "https://login.microsoftonline.com");
        assert_eq!(config.base_url, "https://graph.microsoft.com/v1.0");
        assert_eq!((config.renew_before_secs, config.poll_secs), (600, 60));
        assert_eq!(config.client_secret(), "hush");
        assert!(config.lifecycle_url().is_none());
        assert!(!format!("{config:?}").contains("hush"));
    }

    #[test]
    fn a_secret_file_and_urls() {
        let dir = std::env::temp_dir().join(format!("graph-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("secret"), "from-file\nignored\n").unwrap();
        let text = "client_id = \"app\"\nclient_secret_file = \"secret\"\n\
                    notification_url = \"https://sbc.example.net/graph/notifications\"\n\
                    base_url = \"http://127.0.0.1:18080/v1.0/\"\n";
        let table: toml::Table = toml::from_str(text).unwrap();
        let config = GraphConfig::from_value(toml::Value::Table(table), &dir).unwrap();
        assert_eq!(config.client_secret(), "from-file");
        assert_eq!(config.base_url, "http://127.0.0.1:18080/v1.0");
        assert_eq!(
            config.lifecycle_url(),
            Some("https://sbc.example.net/graph/notifications")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn clear_refusals() {
        let cases = [
            ("client_id = \"app\"\n", "exactly one of"),
            (
                "client_id = \"app\"\nclient_secret = \"s\"\nclient_secret_file = \"f\"\n",
                "exactly one of",
            ),
            (
                "client_id = \"app\"\nclient_secret = \"s\"\npoll = 5\n",
                "not valid",
            ),
            (
                "client_id = \"app\"\nclient_secret = \"s\"\nnotification_url = \"/graph\"\n",
                "notification_url",
            ),
            (
                "client_id = \"app\"\nclient_secret = \"s\"\nrenew_before_secs = 3540\n",
                "renew_before_secs",
            ),
            (
                "client_id = \"app\"\nclient_secret = \"s\"\npoll_secs = 0\n",
                "poll_secs",
            ),
        ];
        for (text, expected) in cases {
            let err = format!("{:#}", parse(text).unwrap_err());
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
