//! The endpoints Graph POSTs to: the validation handshake of a new
//! subscription (answer 200, `text/plain`, the decoded
//! `validationToken`), change notifications and lifecycle notifications.
//!
//! Each item is checked (a watched tenant, its secret `clientState`),
//! queued for that tenant's watcher and acknowledged with 202 at once;
//! the watcher does the work. Bodies over 1 MiB or not JSON get 400.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use tokio::sync::mpsc;

use super::counters::PresenceCounters;

/// Where the router takes change notifications.
pub(crate) const NOTIFICATION_PATH: &str = "/graph/notifications";

/// Where it takes lifecycle notifications (the notification path takes
/// them too).
pub(crate) const LIFECYCLE_PATH: &str = "/graph/lifecycle";

/// The largest notification body accepted.
const MAX_BODY: usize = 1024 * 1024;

/// The longest validation token echoed.
const MAX_VALIDATION_TOKEN: usize = 4096;

/// A notification item for a tenant's watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Inbound {
    /// A user's presence changed; availability and activity are absent
    /// in basic notifications (the watcher GETs them).
    Change {
        subscription_id: String,
        object_id: String,
        availability: Option<String>,
        activity: Option<String>,
    },
    /// `reauthorizationRequired`, `subscriptionRemoved`, `missed`...
    Lifecycle {
        subscription_id: String,
        event: String,
    },
}

/// Where a tenant's notifications go.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) client_state: String,
    pub(crate) inbox: mpsc::Sender<Inbound>,
    /// Set when an item was dropped on a full inbox: the watcher then
    /// takes a snapshot.
    pub(crate) overflow: Arc<AtomicBool>,
}

#[derive(Clone)]
struct Routes {
    /// By lower-case tenant id.
    tenants: Arc<HashMap<String, Route>>,
    counters: Arc<PresenceCounters>,
}

/// The router of [`NOTIFICATION_PATH`] and [`LIFECYCLE_PATH`].
pub(crate) fn router(tenants: HashMap<String, Route>, counters: Arc<PresenceCounters>) -> Router {
    let routes = Routes {
        tenants: Arc::new(tenants),
        counters,
    };
    Router::new()
        .route(NOTIFICATION_PATH, post(receive))
        .route(LIFECYCLE_PATH, post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(routes)
}

async fn receive(
    State(routes): State<Routes>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Some(token) = query
        .as_deref()
        .and_then(|q| query_value(q, "validationToken"))
    {
        return match token {
            Some(token) if token.len() <= MAX_VALIDATION_TOKEN => {
                PresenceCounters::add(&routes.counters.validations);
                (
                    StatusCode::OK,
                    [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                    token,
                )
                    .into_response()
            }
            _ => StatusCode::BAD_REQUEST.into_response(),
        };
    }
    let Ok(body) = body else {
        PresenceCounters::add(&routes.counters.notifications_malformed);
        return StatusCode::BAD_REQUEST.into_response();
    };
    let items = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut envelope)) => match envelope.remove("value") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => {
            PresenceCounters::add(&routes.counters.notifications_malformed);
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    for item in &items {
        routes.accept(item);
    }
    StatusCode::ACCEPTED.into_response()
}

impl Routes {
    fn accept(&self, item: &Value) {
        let counters = &self.counters;
        let route = item["tenantId"]
            .as_str()
            .and_then(|tenant| self.tenants.get(&tenant.to_ascii_lowercase()));
        let Some(route) = route else {
            PresenceCounters::add(&counters.notifications_rejected);
            return;
        };
        let state = item["clientState"].as_str().unwrap_or_default();
        if !same_secret(state.as_bytes(), route.client_state.as_bytes()) {
            PresenceCounters::add(&counters.notifications_rejected);
            return;
        }
        let Some(inbound) = inbound(item) else {
            PresenceCounters::add(&counters.notifications_rejected);
            return;
        };
        let lifecycle = matches!(inbound, Inbound::Lifecycle { .. });
        match route.inbox.try_send(inbound) {
            Ok(()) if lifecycle => PresenceCounters::add(&counters.lifecycle_events),
            Ok(()) => PresenceCounters::add(&counters.notifications_accepted),
            Err(mpsc::error::TrySendError::Full(_)) => {
                PresenceCounters::add(&counters.notifications_dropped);
                route.overflow.store(true, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                PresenceCounters::add(&counters.notifications_dropped);
            }
        }
    }
}

/// A change or lifecycle item; `None` if it names no user.
fn inbound(item: &Value) -> Option<Inbound> {
    let subscription_id = item["subscriptionId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if let Some(event) = item["lifecycleEvent"].as_str() {
        return Some(Inbound::Lifecycle {
            subscription_id,
            event: event.to_owned(),
        });
    }
    let data = &item["resourceData"];
    let object_id = data["id"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| item["resource"].as_str().and_then(resource_user))?;
    if object_id.is_empty() {
        return None;
    }
    Some(Inbound::Change {
        subscription_id,
        object_id,
        availability: data["availability"].as_str().map(str::to_owned),
        activity: data["activity"].as_str().map(str::to_owned),
    })
}

/// The user of `communications/presences('id')` or
/// `communications/presences/id`.
fn resource_user(resource: &str) -> Option<String> {
    let rest = resource
        .trim_start_matches('/')
        .strip_prefix("communications/presences")?;
    let id = match rest.strip_prefix("('") {
        Some(quoted) => quoted.strip_suffix("')")?,
        None => rest.strip_prefix('/')?,
    };
    Some(id.to_owned())
}

/// The form-decoded value of `key` in a query: `None` if absent,
/// `Some(None)` if not decodable.
fn query_value(query: &str, key: &str) -> Option<Option<String>> {
    let raw = query
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))?;
    Some(form_decode(raw))
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX`
/// a byte; the result must be UTF-8.
fn form_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = char::from(input.next()?).to_digit(16)?;
                let low = char::from(input.next()?).to_digit(16)?;
                bytes.push(u8::try_from(high * 16 + low).ok()?);
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).ok()
}

/// Compares in time independent of where the strings differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn validation_tokens_are_form_decoded() {
        assert_eq!(
            query_value(
                "validationToken=Validation%3A+Testing+a%2Bb",
                "validationToken"
            ),
            Some(Some("Validation: Testing a+b".to_owned()))
        );
        assert_eq!(query_value("other=1", "validationToken"), None);
        assert_eq!(
            query_value("x=1&validationToken=%zz", "validationToken"),
            Some(None)
        );
        assert_eq!(
            query_value("validationToken=%C3%28", "validationToken"),
            Some(None)
        );
        assert_eq!(
            query_value("validationToken=%4", "validationToken"),
            Some(None)
        );
    }

    #[test]
    fn items_name_their_user() {
        let rich = serde_json::json!({
            "subscriptionId": "s",
            "resource": "communications/presences('u-1')",
            "resourceData": {"id": "u-1", "availability": "Busy", "activity": "InACall"},
        });
        assert_eq!(
            inbound(&rich),
            Some(Inbound::Change {
                subscription_id: "s".to_owned(),
                object_id: "u-1".to_owned(),
                availability: Some("Busy".to_owned()),
                activity: Some("InACall".to_owned()),
            })
        );
        let basic = serde_json::json!({"resource": "communications/presences/u-2"});
        assert!(
            matches!(inbound(&basic), Some(Inbound::Change { object_id, availability: None, .. }) if object_id == "u-2")
        );
        let lifecycle = serde_json::json!({"subscriptionId": "s", "lifecycleEvent": "missed"});
        assert!(
            matches!(inbound(&lifecycle), Some(Inbound::Lifecycle { event, .. }) if event == "missed")
        );
        assert_eq!(inbound(&serde_json::json!({"resource": "users"})), None);
        assert_eq!(
            resource_user("/communications/presences('x')").as_deref(),
            Some("x")
        );
    }
}
