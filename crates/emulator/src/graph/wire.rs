//! Graph's and Entra ID's error bodies, and the change and lifecycle
//! notifications Graph POSTs to subscribers.

use std::time::SystemTime;

use serde_json::{json, Value};

use super::presence::Pair;
use super::time::{format_datetime, format_entra_timestamp, format_error_date};

/// The message Graph answers a body that is not the JSON it expects.
pub(crate) const UNREADABLE_JSON: &str = "Unable to read JSON request payload. Please ensure \
Content-Type header is set and payload is of valid JSON format.";

/// A Graph error answer:
/// `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// Seconds, sent as `Retry-After` (429).
    pub(crate) retry_after: Option<u64>,
}

impl Refusal {
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal::new(400, "BadRequest", message)
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Refusal {
        Refusal::new(400, "InvalidRequest", message)
    }

    pub(crate) fn unauthenticated(message: impl Into<String>) -> Refusal {
        Refusal::new(401, "InvalidAuthenticationToken", message)
    }

    pub(crate) fn unreadable() -> Refusal {
        Refusal::bad_request(UNREADABLE_JSON)
    }

    pub(crate) fn no_user(id: &str) -> Refusal {
        Refusal::new(
            404,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property \
                 objects are not present."
            ),
        )
    }

    pub(crate) fn no_subscription() -> Refusal {
        Refusal::new(404, "ResourceNotFound", "The object was not found.")
    }

    pub(crate) fn throttled(retry_after: u64) -> Refusal {
        Refusal {
            retry_after: Some(retry_after),
            ..Refusal::new(
                429,
                "TooManyRequests",
                "Too many requests. The request rate of getPresencesByUserId is limited \
                 per application per tenant.",
            )
        }
    }

    pub(crate) fn body(&self, request_id: &str, now: SystemTime) -> Value {
        json!({"error": {
            "code": self.code,
            "message": self.message,
            "innerError": {
                "date": format_error_date(now),
                "request-id": request_id,
                "client-request-id": request_id,
            },
        }})
    }
}

/// An Entra ID token endpoint error (OAuth 2.0, RFC 6749 §5.2, with
/// Entra's `AADSTS` codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenRefusal {
    pub(crate) status: u16,
    /// The RFC 6749 `error`: `invalid_request`, `invalid_client`...
    pub(crate) error: &'static str,
    /// The AADSTS number.
    pub(crate) aadsts: u32,
    pub(crate) description: String,
}

impl TokenRefusal {
    pub(crate) fn new(
        status: u16,
        error: &'static str,
        aadsts: u32,
        description: impl Into<String>,
    ) -> TokenRefusal {
        TokenRefusal {
            status,
            error,
            aadsts,
            description: description.into(),
        }
    }

    pub(crate) fn missing(parameter: &str) -> TokenRefusal {
        TokenRefusal::new(
            400,
            "invalid_request",
            900_144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    pub(crate) fn body(&self, trace_id: &str, correlation_id: &str, now: SystemTime) -> Value {
        let timestamp = format_entra_timestamp(now);
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.aadsts, self.description
            ),
            "error_codes": [self.aadsts],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.aadsts),
        })
    }
}

/// A presence as Graph returns it from `GET /users/{id}/presence` and
/// `getPresencesByUserId`.
pub(crate) fn presence_json(id: &str, pair: Pair) -> Value {
    json!({
        "id": id,
        "availability": pair.availability,
        "activity": pair.activity,
        "statusMessage": null,
    })
}

/// What a change notification says about the subscription it belongs to.
pub(crate) struct NotificationContext<'a> {
    pub(crate) subscription_id: &'a str,
    pub(crate) client_state: Option<&'a str>,
    pub(crate) tenant_id: &'a str,
    pub(crate) expires: SystemTime,
}

/// One item of a presence change notification. With `basic` the shape
/// of today's documentation (no resource data: the subscriber GETs the
/// presence), otherwise availability and activity in `resourceData`.
pub(crate) fn change_notification(
    context: &NotificationContext<'_>,
    id: &str,
    pair: Pair,
    basic: bool,
) -> Value {
    if basic {
        return json!({
            "subscriptionId": context.subscription_id,
            "clientState": context.client_state,
            "changeType": "updated",
            "tenantId": context.tenant_id,
            "resource": format!("communications/presences/{id}"),
            "subscriptionExpirationDateTime": format_datetime(context.expires),
            "resourceData": {
                "@odata.id": format!("users/{id}/presence"),
                "@odata.type": "#microsoft.graph.presence",
                "id": id,
            },
            "organizationId": context.tenant_id,
        });
    }
    json!({
        "subscriptionId": context.subscription_id,
        "clientState": context.client_state,
        "changeType": "updated",
        "tenantId": context.tenant_id,
        "resource": format!("communications/presences('{id}')"),
        "subscriptionExpirationDateTime": format_datetime(context.expires),
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.presence",
            "@odata.id": format!("communications/presences('{id}')"),
            "id": id,
            "availability": pair.availability,
            "activity": pair.activity,
        },
    })
}

/// One lifecycle notification item (`reauthorizationRequired`,
/// `subscriptionRemoved`, `missed`).
pub(crate) fn lifecycle_notification(context: &NotificationContext<'_>, event: &str) -> Value {
    json!({
        "subscriptionId": context.subscription_id,
        "subscriptionExpirationDateTime": format_datetime(context.expires),
        "tenantId": context.tenant_id,
        "clientState": context.client_state,
        "lifecycleEvent": event,
    })
}

/// The `validationToken` Graph sends to a new notification URL: a
/// sentence, form-encoded in the query (`+` for spaces).
pub(crate) fn validation_token(request_id: &str) -> String {
    format!(
        "Validation: Testing client application reachability for subscription Request-Id: {request_id}"
    )
}

/// Form encoding (`application/x-www-form-urlencoded` rules) for a
/// query value.
pub(crate) fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_tokens_are_form_encoded() {
        let token = validation_token("abc-1");
        assert_eq!(
            form_encode(&token),
            "Validation%3A+Testing+client+application+reachability+for+subscription+Request-Id%3A+abc-1"
        );
    }

    #[test]
    fn graph_errors_have_the_documented_shape() {
        let body = Refusal::throttled(3).body("r-1", SystemTime::UNIX_EPOCH);
        assert_eq!(body["error"]["code"], "TooManyRequests");
        assert_eq!(body["error"]["innerError"]["request-id"], "r-1");
        assert_eq!(body["error"]["innerError"]["date"], "1970-01-01T00:00:00Z");
        let entra = TokenRefusal::missing("scope").body("t", "c", SystemTime::UNIX_EPOCH);
        assert_eq!(entra["error"], "invalid_request");
        assert_eq!(entra["error_codes"][0], 900_144);
        assert!(entra["error_description"]
            .as_str()
            .is_some_and(|d| d.starts_with("AADSTS900144: ")));
    }
}
