//! Change-notification subscriptions to presence (Graph `subscription`
//! resource): the request checks Graph applies, the stored subscription
//! and its JSON.

use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::{json, Value};

use super::time::{format_datetime, parse_datetime};
use super::wire::Refusal;

/// At most this many user ids in one presence subscription.
pub(crate) const MAX_SUBSCRIBED_IDS: usize = 650;

/// A presence subscription lives at most one hour.
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// `clientState` is at most 128 characters.
const MAX_CLIENT_STATE: usize = 128;

/// The body of `POST /subscriptions`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubscriptionRequest {
    change_type: Option<String>,
    notification_url: Option<String>,
    lifecycle_notification_url: Option<String>,
    resource: Option<String>,
    expiration_date_time: Option<String>,
    client_state: Option<String>,
    latest_supported_tls_version: Option<String>,
}

/// The body of `PATCH /subscriptions/{id}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RenewRequest {
    pub(crate) expiration_date_time: Option<String>,
}

/// A checked subscription request, before the validation handshake.
#[derive(Debug, Clone)]
pub(crate) struct NewSubscription {
    pub(crate) resource: String,
    pub(crate) user_ids: Vec<String>,
    pub(crate) notification_url: String,
    pub(crate) lifecycle_url: Option<String>,
    pub(crate) client_state: Option<String>,
    pub(crate) expires: SystemTime,
    pub(crate) tls_version: String,
}

impl NewSubscription {
    /// Checks a request as Graph does for presence.
    pub(crate) fn check(
        request: SubscriptionRequest,
        now: SystemTime,
    ) -> Result<NewSubscription, Refusal> {
        let change_type = request
            .change_type
            .ok_or_else(|| Refusal::invalid_request("changeType is a required property."))?;
        if change_type != "updated" {
            return Err(Refusal::invalid_request(format!(
                "Invalid 'changeType' attribute: '{change_type}'. Presence supports 'updated' only."
            )));
        }
        let notification_url = request
            .notification_url
            .ok_or_else(|| Refusal::invalid_request("notificationUrl is a required property."))?;
        check_url("notificationUrl", &notification_url)?;
        if let Some(url) = &request.lifecycle_notification_url {
            check_url("lifecycleNotificationUrl", url)?;
        }
        let resource = request
            .resource
            .ok_or_else(|| Refusal::invalid_request("resource is a required property."))?;
        let user_ids = parse_resource(&resource)?;
        let expires = check_expiration(request.expiration_date_time.as_deref(), now)?;
        if let Some(state) = &request.client_state {
            if state.chars().count() > MAX_CLIENT_STATE {
                return Err(Refusal::invalid_request(
                    "clientState must be at most 128 characters long.",
                ));
            }
        }
        Ok(NewSubscription {
            resource,
            user_ids,
            notification_url,
            lifecycle_url: request.lifecycle_notification_url,
            client_state: request.client_state,
            expires,
            tls_version: request
                .latest_supported_tls_version
                .unwrap_or_else(|| "v1_2".to_owned()),
        })
    }

    /// The distinct URLs the validation handshake must reach.
    pub(crate) fn urls_to_validate(&self) -> Vec<String> {
        let mut urls = vec![self.notification_url.clone()];
        if let Some(url) = &self.lifecycle_url {
            if *url != self.notification_url {
                urls.push(url.clone());
            }
        }
        urls
    }
}

/// A live subscription.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub(crate) id: String,
    /// The tenant key (lower-case id) and the tenant id as configured.
    pub(crate) tenant: String,
    pub(crate) tenant_id: String,
    pub(crate) app: String,
    pub(crate) spec: NewSubscription,
    /// Lower-case user ids, for matching.
    pub(crate) users_lower: Vec<String>,
    /// When the token that created, renewed or reauthorized it expires:
    /// then Graph asks for reauthorization.
    pub(crate) authorized_until: SystemTime,
    pub(crate) reauthorization_sent: bool,
}

impl Subscription {
    pub(crate) fn covers(&self, user_lower: &str) -> bool {
        self.users_lower.iter().any(|id| id == user_lower)
    }

    pub(crate) fn json(&self) -> Value {
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.spec.resource,
            "applicationId": self.app,
            "changeType": "updated",
            "clientState": self.spec.client_state,
            "notificationUrl": self.spec.notification_url,
            "notificationQueryOptions": null,
            "lifecycleNotificationUrl": self.spec.lifecycle_url,
            "expirationDateTime": format_datetime(self.spec.expires),
            "creatorId": self.app,
            "includeResourceData": null,
            "latestSupportedTlsVersion": self.spec.tls_version,
            "encryptionCertificate": null,
            "encryptionCertificateId": null,
            "notificationUrlAppId": null,
        })
    }
}

/// `expirationDateTime`: required, in the future, at most an hour ahead.
pub(crate) fn check_expiration(text: Option<&str>, now: SystemTime) -> Result<SystemTime, Refusal> {
    let text =
        text.ok_or_else(|| Refusal::invalid_request("expirationDateTime is a required property."))?;
    let expires = parse_datetime(text).ok_or_else(|| {
        Refusal::bad_request(format!(
            "Cannot convert the literal '{text}' to the expected type 'Edm.DateTimeOffset'."
        ))
    })?;
    if expires <= now {
        return Err(Refusal::invalid_request(
            "Subscription expiration can only be in the future.",
        ));
    }
    if expires > now + MAX_LIFETIME {
        return Err(Refusal::invalid_request(
            "Subscription expiration can only be 60 minutes in the future.",
        ));
    }
    Ok(expires)
}

/// An absolute `http:` or `https:` URL. Graph itself requires `https`;
/// the emulator also takes `http` so tests can listen on loopback.
fn check_url(name: &str, url: &str) -> Result<(), Refusal> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !url.contains(' ') => Ok(()),
        _ => Err(Refusal::invalid_request(format!(
            "Invalid '{name}': '{url}'. It must be an absolute HTTPS URL."
        ))),
    }
}

/// The user ids of a presence resource:
/// `/communications/presences?$filter=id in ('a','b')` or
/// `/communications/presences/{id}`.
pub(crate) fn parse_resource(resource: &str) -> Result<Vec<String>, Refusal> {
    let unsupported = || {
        Refusal::invalid_request(format!(
            "Resource '{resource}' is not supported. Use \
             /communications/presences?$filter=id in ('id1','id2')."
        ))
    };
    let path = resource.trim().trim_start_matches('/');
    let prefix = "communications/presences";
    let rest = match (path.get(..prefix.len()), path.get(prefix.len()..)) {
        (Some(head), Some(rest)) if head.eq_ignore_ascii_case(prefix) => rest,
        _ => return Err(unsupported()),
    };
    let ids = if let Some(id) = rest.strip_prefix('/') {
        if id.is_empty() || id.contains(['/', '?', '\'']) {
            return Err(unsupported());
        }
        vec![id.to_owned()]
    } else if let Some(filter) = rest.strip_prefix("?$filter=") {
        parse_id_filter(filter).ok_or_else(|| {
            Refusal::invalid_request(format!("Invalid filter clause: '{filter}'."))
        })?
    } else {
        return Err(unsupported());
    };
    if ids.len() > MAX_SUBSCRIBED_IDS {
        return Err(Refusal::invalid_request(format!(
            "The number of ids in the filter ({}) exceeds the maximum of {MAX_SUBSCRIBED_IDS}.",
            ids.len()
        )));
    }
    Ok(ids)
}

/// `id in ('a', 'b')` (whitespace free around the tokens).
fn parse_id_filter(filter: &str) -> Option<Vec<String>> {
    let rest = filter.trim_start();
    let rest = rest.strip_prefix("id")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let rest = rest.trim_start().strip_prefix("in")?.trim_start();
    let list = rest.strip_prefix('(')?.trim_end().strip_suffix(')')?;
    let mut ids = Vec::new();
    for item in list.split(',') {
        let id = item.trim().strip_prefix('\'')?.strip_suffix('\'')?;
        if id.is_empty() || id.contains('\'') {
            return None;
        }
        ids.push(id.to_owned());
    }
    Some(ids)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn presence_resources() {
        assert_eq!(
            parse_resource("/communications/presences?$filter=id in ('a','b')").unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            parse_resource("communications/presences?$filter=id in ( 'a' , 'b' )").unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            parse_resource("/communications/presences/x").unwrap(),
            ["x"]
        );
        for bad in [
            "/users/a/presence",
            "/communications/presences",
            "/communications/presences?$filter=id eq 'a'",
            "/communications/presences?$filter=id in ('a',)",
            "/communications/presences?$filter=idin ('a')",
            "/communications/presences?$filter=id in 'a'",
        ] {
            assert!(parse_resource(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn at_most_650_ids() {
        let ids = |n: usize| {
            let list: Vec<String> = (0..n).map(|i| format!("'id-{i}'")).collect();
            format!(
                "/communications/presences?$filter=id in ({})",
                list.join(",")
            )
        };
        assert_eq!(parse_resource(&ids(650)).unwrap().len(), 650);
        let err = parse_resource(&ids(651)).unwrap_err();
        assert_eq!((err.status, err.code), (400, "InvalidRequest"));
    }

    #[test]
    fn expiration_within_the_hour() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let at = |secs: u64| format_datetime(now + Duration::from_secs(secs));
        assert!(check_expiration(Some(&at(3600)), now).is_ok());
        assert!(check_expiration(Some(&at(3601)), now).is_err());
        assert!(check_expiration(Some(&format_datetime(now)), now).is_err());
        assert!(check_expiration(Some("tomorrow"), now).is_err());
        assert!(check_expiration(None, now).is_err());
    }
}
