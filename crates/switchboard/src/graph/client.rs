//! Microsoft Graph over HTTP for one customer tenant: the client
//! credentials token (RFC 6749 §4.4, cached and refreshed before it
//! expires, fetched again after a 401), presence reads and presence
//! subscriptions.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::RETRY_AFTER;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::config::GraphConfig;
use super::counters::PresenceCounters;

/// The scope of the client credentials grant for Graph.
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Every request gives up after this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer read from Entra ID or Graph (650 presences take
/// about 100 KiB).
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// A presence as Graph reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PresenceReport {
    pub(crate) id: String,
    pub(crate) availability: String,
    pub(crate) activity: String,
}

/// Why a Graph call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GraphFailure {
    /// No token: Entra ID refused, or could not be reached.
    Token(String),
    /// No answer (connection, timeout).
    Transport(String),
    /// An answer other than 2xx, with Graph's error code and Retry-After.
    Status {
        status: u16,
        code: Option<String>,
        retry_after: Option<Duration>,
    },
    /// A 2xx whose body is not what Graph sends.
    BadAnswer,
}

impl std::fmt::Display for GraphFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GraphFailure::Token(why) => write!(f, "no token: {why}"),
            GraphFailure::Transport(why) => write!(f, "transport: {why}"),
            GraphFailure::Status { status, code, .. } => {
                write!(f, "HTTP {status} {}", code.as_deref().unwrap_or_default())
            }
            GraphFailure::BadAnswer => f.write_str("an unexpected answer"),
        }
    }
}

impl GraphFailure {
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            GraphFailure::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct CachedToken {
    value: String,
    refresh_at: Instant,
}

/// Graph for one tenant.
pub(crate) struct GraphClient {
    http: reqwest::Client,
    config: Arc<GraphConfig>,
    tenant_id: String,
    token: Option<CachedToken>,
    counters: Arc<PresenceCounters>,
}

impl GraphClient {
    pub(crate) fn new(
        http: reqwest::Client,
        config: Arc<GraphConfig>,
        tenant_id: String,
        counters: Arc<PresenceCounters>,
    ) -> GraphClient {
        GraphClient {
            http,
            config,
            tenant_id,
            token: None,
            counters,
        }
    }

    /// A token that is not about to expire.
    async fn token(&mut self) -> Result<String, GraphFailure> {
        if let Some(token) = &self.token {
            if Instant::now() < token.refresh_at {
                return Ok(token.value.clone());
            }
        }
        match self.fetch_token().await {
            Ok(token) => {
                let value = token.value.clone();
                self.token = Some(token);
                Ok(value)
            }
            Err(why) => {
                PresenceCounters::add(&self.counters.token_failures);
                tracing::warn!(tenant = %self.tenant_id, %why, "Entra ID token request failed");
                Err(GraphFailure::Token(why))
            }
        }
    }

    async fn fetch_token(&self) -> Result<CachedToken, String> {
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.config.login_url, self.tenant_id
        );
        let asked = Instant::now();
        let response = self
            .http
            .post(url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.config.client_id.as_str()),
                ("client_secret", self.config.client_secret()),
                ("scope", GRAPH_SCOPE),
            ])
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = read_json(response).await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            // `error_description` starts with the AADSTS code and message;
            // its trace lines are not needed in logs.
            let error = body["error"].as_str().unwrap_or("unknown");
            let description = body["error_description"]
                .as_str()
                .and_then(|d| d.lines().next())
                .unwrap_or_default();
            return Err(format!("HTTP {} {error}: {description}", status.as_u16()));
        }
        let value = body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or("no access_token in the answer")?
            .to_owned();
        // Entra sends a number; older endpoints sent a string.
        let expires_in = body["expires_in"]
            .as_u64()
            .or_else(|| body["expires_in"].as_str().and_then(|s| s.parse().ok()))
            .ok_or("no expires_in in the answer")?;
        let lifetime = Duration::from_secs(expires_in);
        let margin = (lifetime / 4).min(Duration::from_secs(300));
        Ok(CachedToken {
            value,
            refresh_at: asked + (lifetime - margin),
        })
    }

    /// One Graph request with a token; after a 401 the token is fetched
    /// again and the request repeated once. The JSON answer (`Null` when
    /// empty) of a 2xx.
    async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, GraphFailure> {
        let mut retried = false;
        loop {
            let token = self.token().await?;
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.config.base_url))
                .bearer_auth(token)
                .timeout(REQUEST_TIMEOUT);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| GraphFailure::Transport(e.to_string()))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !retried {
                self.token = None;
                retried = true;
                continue;
            }
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let answer = read_json(response).await;
            if !status.is_success() {
                let code = answer
                    .ok()
                    .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
                return Err(GraphFailure::Status {
                    status: status.as_u16(),
                    code,
                    retry_after,
                });
            }
            return answer;
        }
    }

    /// `POST /communications/getPresencesByUserId` for at most 650 ids.
    pub(crate) async fn presences(
        &mut self,
        ids: &[String],
    ) -> Result<Vec<PresenceReport>, GraphFailure> {
        let body = json!({ "ids": ids });
        let answer = self
            .request(
                Method::POST,
                "/communications/getPresencesByUserId",
                Some(&body),
            )
            .await?;
        let items = answer["value"].as_array().ok_or(GraphFailure::BadAnswer)?;
        Ok(items.iter().filter_map(report).collect())
    }

    /// `GET /users/{id}/presence`.
    pub(crate) async fn presence(&mut self, id: &str) -> Result<PresenceReport, GraphFailure> {
        let path = format!("/users/{}/presence", path_segment(id));
        let answer = self.request(Method::GET, &path, None).await?;
        report(&answer).ok_or(GraphFailure::BadAnswer)
    }

    /// `POST /subscriptions` on the presence of `ids` (at most 650); the
    /// subscription id and its expiration.
    pub(crate) async fn create_subscription(
        &mut self,
        ids: &[String],
        client_state: &str,
        lifetime: Duration,
    ) -> Result<(String, SystemTime), GraphFailure> {
        let Some(notification_url) = self.config.notification_url.clone() else {
            return Err(GraphFailure::BadAnswer);
        };
        let quoted: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
        let requested = SystemTime::now() + lifetime;
        let body = json!({
            "changeType": "updated",
            "notificationUrl": notification_url,
            "lifecycleNotificationUrl": self.config.lifecycle_url(),
            "resource": format!("/communications/presences?$filter=id in ({})", quoted.join(",")),
            "expirationDateTime": format_time(requested),
            "clientState": client_state,
        });
        let answer = self
            .request(Method::POST, "/subscriptions", Some(&body))
            .await?;
        let id = answer["id"].as_str().ok_or(GraphFailure::BadAnswer)?;
        let expires = expiration(&answer).unwrap_or(requested);
        Ok((id.to_owned(), expires))
    }

    /// `PATCH /subscriptions/{id}`: the new expiration.
    pub(crate) async fn renew_subscription(
        &mut self,
        id: &str,
        lifetime: Duration,
    ) -> Result<SystemTime, GraphFailure> {
        let requested = SystemTime::now() + lifetime;
        let body = json!({ "expirationDateTime": format_time(requested) });
        let path = format!("/subscriptions/{}", path_segment(id));
        let answer = self.request(Method::PATCH, &path, Some(&body)).await?;
        Ok(expiration(&answer).unwrap_or(requested))
    }

    /// `POST /subscriptions/{id}/reauthorize`.
    pub(crate) async fn reauthorize_subscription(&mut self, id: &str) -> Result<(), GraphFailure> {
        let path = format!("/subscriptions/{}/reauthorize", path_segment(id));
        self.request(Method::POST, &path, None).await.map(drop)
    }

    /// `DELETE /subscriptions/{id}`.
    pub(crate) async fn delete_subscription(&mut self, id: &str) -> Result<(), GraphFailure> {
        let path = format!("/subscriptions/{}", path_segment(id));
        self.request(Method::DELETE, &path, None).await.map(drop)
    }
}

fn report(item: &Value) -> Option<PresenceReport> {
    Some(PresenceReport {
        id: item["id"].as_str()?.to_owned(),
        availability: item["availability"].as_str()?.to_owned(),
        activity: item["activity"].as_str().unwrap_or_default().to_owned(),
    })
}

/// Ids come from the configuration and Graph: GUIDs. Anything else is
/// percent-encoded so it stays one path segment.
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn expiration(subscription: &Value) -> Option<SystemTime> {
    let ms = store::parse_time(subscription["expirationDateTime"].as_str()?)?;
    UNIX_EPOCH.checked_add(Duration::from_millis(u64::try_from(ms).ok()?))
}

fn format_time(time: SystemTime) -> String {
    let ms = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    store::format_unix_ms(ms)
}

/// The JSON of an answer (`Null` when empty), at most [`MAX_ANSWER`]
/// bytes.
async fn read_json(mut response: reqwest::Response) -> Result<Value, GraphFailure> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| GraphFailure::Transport(e.to_string()))?
    {
        if bytes.len() + chunk.len() > MAX_ANSWER {
            return Err(GraphFailure::BadAnswer);
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|_| GraphFailure::BadAnswer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_segments() {
        let time = UNIX_EPOCH + Duration::from_millis(1_714_566_600_250);
        assert_eq!(format_time(time), "2024-05-01T12:30:00.250Z");
        let graph = json!({"expirationDateTime": "2024-05-01T12:30:00.2500000Z"});
        assert_eq!(expiration(&graph), Some(time));
        assert_eq!(path_segment("5b2f0c43-3c2c"), "5b2f0c43-3c2c");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }
}
