//! The emulated Microsoft Graph and Entra ID token endpoint, sans-IO:
//! every request is a method call with the wall-clock time as an input
//! (Graph speaks in `DateTimeOffset`s), the notifications to POST are
//! drained with [`GraphService::poll_delivery`], and
//! [`GraphService::poll_timeout`] says when sessions or subscriptions
//! expire next ([`GraphService::handle_timeout`]).
//!
//! Drain order after any input: `handle_timeout` (if due), then
//! `poll_delivery` until `None`, then `poll_timeout`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::{json, Value};

use super::presence::{Pair, UserPresence, PREFERRED_PAIRS, SESSION_PAIRS};
use super::stats::StatsCounters;
use super::subscriptions::{
    check_expiration, NewSubscription, RenewRequest, Subscription, SubscriptionRequest,
};
use super::time::parse_duration;
use super::wire::{
    change_notification, lifecycle_notification, presence_json, NotificationContext, Refusal,
    TokenRefusal,
};
use super::{LifecycleEvent, SubscriptionInfo};
use crate::config::EmulatorConfig;
use crate::error::GraphError;
use crate::graph::GraphConfig;
use crate::teams::rng::SplitMix64;

/// At most this many ids in one `getPresencesByUserId`.
pub(crate) const MAX_BATCH_IDS: usize = 650;

/// The window of the `getPresencesByUserId` rate limit.
const RATE_WINDOW: Duration = Duration::from_secs(30);

/// `setPresence` session lifetimes: default, minimum, maximum.
const SESSION_DEFAULT: Duration = Duration::from_secs(5 * 60);
const SESSION_MIN: Duration = Duration::from_secs(5 * 60);
const SESSION_MAX: Duration = Duration::from_secs(4 * 3600);

/// The form of `POST /{tenant}/oauth2/v2.0/token`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

/// Who is calling Graph: the tenant and app of the bearer token.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    tenant: String,
    app: String,
    token_expires: SystemTime,
}

/// A POST Graph makes to a subscriber.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) subscription_id: String,
    pub(crate) url: String,
    pub(crate) body: Value,
    /// Where and what to send if every attempt fails (the `missed`
    /// lifecycle notification of a change notification).
    pub(crate) missed: Option<(String, Value)>,
}

#[derive(Debug)]
struct Token {
    tenant: String,
    app: String,
    expires: SystemTime,
}

#[derive(Debug)]
struct Directory {
    /// The tenant id as configured.
    id: String,
    /// By lower-case object id.
    users: HashMap<String, User>,
    /// User name to lower-case object id.
    names: HashMap<String, String>,
}

#[derive(Debug)]
struct User {
    object_id: String,
    presence: UserPresence,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchRequest {
    ids: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionRequest {
    session_id: Option<String>,
    availability: Option<String>,
    activity: Option<String>,
    expiration_duration: Option<String>,
}

/// The emulated Graph.
#[derive(Debug)]
pub(crate) struct GraphService {
    config: GraphConfig,
    /// By lower-case tenant id.
    tenants: HashMap<String, Directory>,
    /// Lower-case tenant ids and verified domains to the tenant key.
    aliases: HashMap<String, String>,
    tokens: HashMap<String, Token>,
    subscriptions: BTreeMap<String, Subscription>,
    /// `getPresencesByUserId` calls by (tenant, app) in the last 30 s.
    batch_calls: HashMap<(String, String), VecDeque<SystemTime>>,
    rng: SplitMix64,
    deliveries: VecDeque<Delivery>,
    stats: Arc<StatsCounters>,
}

impl GraphService {
    pub(crate) fn new(
        config: &EmulatorConfig,
        graph: &GraphConfig,
        seed: u64,
        stats: Arc<StatsCounters>,
    ) -> GraphService {
        let mut tenants = HashMap::new();
        let mut aliases = HashMap::new();
        for tenant in &config.tenants {
            let key = tenant.id.to_ascii_lowercase();
            let mut users = HashMap::new();
            let mut names = HashMap::new();
            for user in &tenant.users {
                let pair = user
                    .presence
                    .as_deref()
                    .and_then(Pair::from_setting)
                    .unwrap_or(Pair::AVAILABLE);
                let user_key = user.object_id.to_ascii_lowercase();
                names.insert(user.name.clone(), user_key.clone());
                users.entry(user_key).or_insert(User {
                    object_id: user.object_id.clone(),
                    presence: UserPresence::new(pair),
                });
            }
            aliases.insert(key.clone(), key.clone());
            for domain in &tenant.domains {
                aliases.insert(domain.to_ascii_lowercase(), key.clone());
            }
            tenants.insert(
                key,
                Directory {
                    id: tenant.id.clone(),
                    users,
                    names,
                },
            );
        }
        GraphService {
            config: graph.clone(),
            tenants,
            aliases,
            tokens: HashMap::new(),
            subscriptions: BTreeMap::new(),
            batch_calls: HashMap::new(),
            rng: SplitMix64::new(seed ^ 0x6772_6170_6800_0000),
            deliveries: VecDeque::new(),
            stats,
        }
    }

    /// A fresh request id (also the `trace_id` / `correlation_id` of
    /// Entra errors and the tail of validation tokens).
    pub(crate) fn request_id(&mut self) -> String {
        self.rng.guid()
    }

    // --- Entra ID -------------------------------------------------------

    /// `POST /{tenant}/oauth2/v2.0/token` with the client credentials
    /// grant (RFC 6749 §4.4); `tenant` may be the id or a verified
    /// domain.
    pub(crate) fn issue_token(
        &mut self,
        tenant: &str,
        form: &TokenForm,
        now: SystemTime,
    ) -> Result<Value, TokenRefusal> {
        let result = self.check_token_request(tenant, form);
        let key = match result {
            Ok(key) => key,
            Err(refusal) => {
                self.stats.token_refusals.fetch_add(1, Ordering::Relaxed);
                return Err(refusal);
            }
        };
        let lifetime = self.config.token_lifetime_secs;
        let token = format!(
            "emu.{:016x}{:016x}.{:016x}",
            self.rng.next_u64(),
            self.rng.next_u64(),
            self.rng.next_u64()
        );
        self.tokens.retain(|_, token| token.expires > now);
        self.tokens.insert(
            token.clone(),
            Token {
                tenant: key,
                app: self.config.client_id.clone(),
                expires: now + Duration::from_secs(lifetime),
            },
        );
        self.stats.tokens_issued.fetch_add(1, Ordering::Relaxed);
        Ok(json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }))
    }

    fn check_token_request(&self, tenant: &str, form: &TokenForm) -> Result<String, TokenRefusal> {
        let Some(key) = self.aliases.get(&tenant.to_ascii_lowercase()).cloned() else {
            return Err(TokenRefusal::new(
                400,
                "invalid_request",
                90_002,
                format!(
                    "Tenant '{tenant}' not found. Check to make sure you have the correct \
                     tenant ID and are signing in to the correct cloud."
                ),
            ));
        };
        let grant = form
            .grant_type
            .as_deref()
            .ok_or_else(|| TokenRefusal::missing("grant_type"))?;
        if grant != "client_credentials" {
            return Err(TokenRefusal::new(
                400,
                "unsupported_grant_type",
                70_003,
                format!("The app requested an unsupported grant type '{grant}'."),
            ));
        }
        let client_id = form
            .client_id
            .as_deref()
            .ok_or_else(|| TokenRefusal::missing("client_id"))?;
        if !client_id.eq_ignore_ascii_case(&self.config.client_id) {
            return Err(TokenRefusal::new(
                400,
                "unauthorized_client",
                700_016,
                format!(
                    "Application with identifier '{client_id}' was not found in the directory \
                     '{tenant}'. This can happen if the application has not been installed by \
                     the administrator of the tenant or consented to by any user in the tenant."
                ),
            ));
        }
        let Some(secret) = form.client_secret.as_deref() else {
            return Err(TokenRefusal::new(
                401,
                "invalid_client",
                7_000_216,
                "'client_assertion', 'client_secret' or 'request' is required for the \
                 'client_credentials' grant type.",
            ));
        };
        if secret != self.config.client_secret {
            return Err(TokenRefusal::new(
                401,
                "invalid_client",
                7_000_215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the \
                     request is the client secret value, not the client secret ID, for a \
                     secret added to app '{client_id}'."
                ),
            ));
        }
        let scope = form
            .scope
            .as_deref()
            .ok_or_else(|| TokenRefusal::missing("scope"))?;
        if !scope.ends_with("/.default") || scope.contains(' ') {
            return Err(TokenRefusal::new(
                400,
                "invalid_scope",
                1_002_012,
                format!(
                    "The provided value for scope {scope} is not valid. Client credential \
                     flows must have a scope value with /.default suffixed to the resource \
                     identifier (application ID URI)."
                ),
            ));
        }
        Ok(key)
    }

    /// Checks the `Authorization: Bearer` header of a Graph request.
    pub(crate) fn authenticate(
        &self,
        authorization: Option<&str>,
        now: SystemTime,
    ) -> Result<Caller, Refusal> {
        let refuse = |message: &str| {
            self.stats.unauthenticated.fetch_add(1, Ordering::Relaxed);
            Err(Refusal::unauthenticated(message))
        };
        let bearer = authorization.and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        let Some(bearer) = bearer.filter(|token| !token.is_empty()) else {
            return refuse("Access token is empty.");
        };
        let Some(token) = self.tokens.get(bearer) else {
            return refuse("Access token validation failure. Invalid audience.");
        };
        if token.expires <= now {
            return refuse("Lifetime validation failed, the token is expired.");
        }
        Ok(Caller {
            tenant: token.tenant.clone(),
            app: token.app.clone(),
            token_expires: token.expires,
        })
    }

    // --- presence -------------------------------------------------------

    /// `GET /users/{id}/presence`.
    pub(crate) fn presence(&self, caller: &Caller, id: &str) -> Result<Value, Refusal> {
        let user = self.user(caller, id)?;
        let mut body = presence_json(&user.object_id, user.presence.current());
        body["@odata.context"] = Value::String(format!(
            "https://graph.microsoft.com/v1.0/$metadata#users('{}')/presence/$entity",
            user.object_id
        ));
        Ok(body)
    }

    /// `POST /communications/getPresencesByUserId`: at most 650 ids,
    /// at most `presence_requests_per_30s` calls per app and tenant in
    /// any 30 s; ids that are no user get `PresenceUnknown`.
    pub(crate) fn presences_by_user_id(
        &mut self,
        caller: &Caller,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Value, Refusal> {
        let limit = self.config.presence_requests_per_30s as usize;
        let calls = self
            .batch_calls
            .entry((caller.tenant.clone(), caller.app.clone()))
            .or_default();
        while calls
            .front()
            .is_some_and(|at| now.duration_since(*at).unwrap_or_default() >= RATE_WINDOW)
        {
            calls.pop_front();
        }
        if calls.len() >= limit {
            let oldest = calls.front().copied().unwrap_or(now);
            let free_at = oldest + RATE_WINDOW;
            let wait = free_at.duration_since(now).unwrap_or_default();
            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(Refusal::throttled(secs.max(1)));
        }
        calls.push_back(now);
        let request: BatchRequest =
            serde_json::from_slice(body).map_err(|_| Refusal::unreadable())?;
        let ids = request
            .ids
            .ok_or_else(|| Refusal::bad_request("The parameter 'ids' is required."))?;
        if ids.is_empty() {
            return Err(Refusal::bad_request(
                "The parameter 'ids' must not be empty.",
            ));
        }
        if ids.len() > MAX_BATCH_IDS {
            return Err(Refusal::bad_request(format!(
                "The number of user ids ({}) exceeds the maximum of {MAX_BATCH_IDS}.",
                ids.len()
            )));
        }
        let directory = self.tenants.get(&caller.tenant);
        let value: Vec<Value> = ids
            .iter()
            .map(
                |id| match directory.and_then(|d| d.users.get(&id.to_ascii_lowercase())) {
                    Some(user) => presence_json(&user.object_id, user.presence.current()),
                    None => presence_json(id, Pair::UNKNOWN),
                },
            )
            .collect();
        Ok(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.presence)",
            "value": value,
        }))
    }

    /// `POST /users/{id}/presence/setPresence`: an application's session
    /// (its `sessionId` must be its app id), PT5M to PT4H (default
    /// PT5M), one of the four documented pairs.
    pub(crate) fn set_presence(
        &mut self,
        caller: &Caller,
        id: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), Refusal> {
        let request: SessionRequest =
            serde_json::from_slice(body).map_err(|_| Refusal::unreadable())?;
        check_session_id(caller, request.session_id.as_deref())?;
        let pair = requested_pair(&SESSION_PAIRS, &request)?;
        let lifetime = match request.expiration_duration.as_deref() {
            None => SESSION_DEFAULT,
            Some(text) => parse_duration(text)
                .filter(|d| (SESSION_MIN..=SESSION_MAX).contains(d))
                .ok_or_else(|| {
                    Refusal::bad_request(format!(
                        "Invalid expirationDuration '{text}': the valid range is PT5M to PT4H."
                    ))
                })?,
        };
        let session = caller.app.clone();
        self.change_user(caller, id, now, |presence| {
            presence.set_session(&session, pair, now + lifetime);
        })
    }

    /// `POST /users/{id}/presence/clearPresence`.
    pub(crate) fn clear_presence(
        &mut self,
        caller: &Caller,
        id: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), Refusal> {
        let request: SessionRequest =
            serde_json::from_slice(body).map_err(|_| Refusal::unreadable())?;
        check_session_id(caller, request.session_id.as_deref())?;
        let session = caller.app.clone();
        self.change_user(caller, id, now, |presence| {
            presence.clear_session(&session);
        })
    }

    /// `POST /users/{id}/presence/setUserPreferredPresence`: default
    /// expiration one day for Busy and DoNotDisturb, seven days otherwise.
    pub(crate) fn set_user_preferred_presence(
        &mut self,
        caller: &Caller,
        id: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), Refusal> {
        let request: SessionRequest =
            serde_json::from_slice(body).map_err(|_| Refusal::unreadable())?;
        let pair = requested_pair(&PREFERRED_PAIRS, &request)?;
        let lifetime = match request.expiration_duration.as_deref() {
            None if matches!(pair.availability, "Busy" | "DoNotDisturb") => {
                Duration::from_secs(86_400)
            }
            None => Duration::from_secs(7 * 86_400),
            Some(text) => parse_duration(text)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    Refusal::bad_request(format!("Invalid expirationDuration '{text}'."))
                })?,
        };
        self.change_user(caller, id, now, |presence| {
            presence.set_preferred(Some((pair, now + lifetime)));
        })
    }

    /// `POST /users/{id}/presence/clearUserPreferredPresence`.
    pub(crate) fn clear_user_preferred_presence(
        &mut self,
        caller: &Caller,
        id: &str,
        now: SystemTime,
    ) -> Result<(), Refusal> {
        self.change_user(caller, id, now, |presence| presence.set_preferred(None))
    }

    fn user(&self, caller: &Caller, id: &str) -> Result<&User, Refusal> {
        self.tenants
            .get(&caller.tenant)
            .and_then(|d| d.users.get(&id.to_ascii_lowercase()))
            .ok_or_else(|| Refusal::no_user(id))
    }

    fn change_user(
        &mut self,
        caller: &Caller,
        id: &str,
        now: SystemTime,
        change: impl FnOnce(&mut UserPresence),
    ) -> Result<(), Refusal> {
        let user_key = id.to_ascii_lowercase();
        let user = self
            .tenants
            .get_mut(&caller.tenant)
            .and_then(|d| d.users.get_mut(&user_key))
            .ok_or_else(|| Refusal::no_user(id))?;
        change(&mut user.presence);
        user.presence.expire(now);
        let tenant = caller.tenant.clone();
        self.republish(&tenant, &user_key, now);
        Ok(())
    }

    /// Notifies the subscribers of a user whose aggregate changed.
    fn republish(&mut self, tenant: &str, user_key: &str, now: SystemTime) {
        let Some(directory) = self.tenants.get_mut(tenant) else {
            return;
        };
        let Some(user) = directory.users.get_mut(user_key) else {
            return;
        };
        let Some(pair) = user.presence.republish() else {
            return;
        };
        let object_id = user.object_id.clone();
        let basic = self.config.basic_notifications;
        for subscription in self.subscriptions.values() {
            if subscription.tenant != tenant
                || subscription.spec.expires <= now
                || !subscription.covers(user_key)
            {
                continue;
            }
            let context = context(subscription);
            let item = change_notification(&context, &object_id, pair, basic);
            let missed = subscription.spec.lifecycle_url.as_ref().map(|url| {
                let item = lifecycle_notification(&context, LifecycleEvent::Missed.as_str());
                (url.clone(), json!({ "value": [item] }))
            });
            self.deliveries.push_back(Delivery {
                subscription_id: subscription.id.clone(),
                url: subscription.spec.notification_url.clone(),
                body: json!({ "value": [item] }),
                missed,
            });
        }
    }

    // --- subscriptions --------------------------------------------------

    /// Checks `POST /subscriptions` before the validation handshake.
    pub(crate) fn check_subscription(
        &self,
        body: &[u8],
        now: SystemTime,
    ) -> Result<NewSubscription, Refusal> {
        let request: SubscriptionRequest =
            serde_json::from_slice(body).map_err(|_| Refusal::unreadable())?;
        NewSubscription::check(request, now)
    }

    /// Stores a subscription whose URLs answered the handshake; its JSON.
    pub(crate) fn add_subscription(&mut self, caller: &Caller, spec: NewSubscription) -> Value {
        let id = self.rng.guid();
        let tenant_id = self
            .tenants
            .get(&caller.tenant)
            .map_or_else(|| caller.tenant.clone(), |d| d.id.clone());
        let subscription = Subscription {
            id: id.clone(),
            tenant: caller.tenant.clone(),
            tenant_id,
            app: caller.app.clone(),
            users_lower: spec
                .user_ids
                .iter()
                .map(|u| u.to_ascii_lowercase())
                .collect(),
            spec,
            authorized_until: caller.token_expires,
            reauthorization_sent: false,
        };
        let body = subscription.json();
        self.subscriptions.insert(id, subscription);
        self.stats
            .subscriptions_created
            .fetch_add(1, Ordering::Relaxed);
        body
    }

    /// `GET /subscriptions/{id}`.
    pub(crate) fn subscription(
        &self,
        caller: &Caller,
        id: &str,
        now: SystemTime,
    ) -> Result<Value, Refusal> {
        let subscription = self.find(caller, id, now)?;
        Ok(subscription.json())
    }

    /// `GET /subscriptions`: the caller's live subscriptions.
    pub(crate) fn list_subscriptions(&self, caller: &Caller, now: SystemTime) -> Value {
        let value: Vec<Value> = self
            .subscriptions
            .values()
            .filter(|s| s.tenant == caller.tenant && s.app == caller.app && s.spec.expires > now)
            .map(|s| {
                let mut json = s.json();
                if let Some(object) = json.as_object_mut() {
                    object.remove("@odata.context");
                }
                json
            })
            .collect();
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions",
            "value": value,
        })
    }

    /// `PATCH /subscriptions/{id}` with a new `expirationDateTime` (also
    /// reauthorizes it).
    pub(crate) fn renew_subscription(
        &mut self,
        caller: &Caller,
        id: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Value, Refusal> {
        self.find(caller, id, now)?;
        let request: RenewRequest =
            serde_json::from_slice(body).map_err(|_| Refusal::unreadable())?;
        let expires = check_expiration(request.expiration_date_time.as_deref(), now)?;
        let subscription = self
            .subscriptions
            .get_mut(id)
            .ok_or_else(Refusal::no_subscription)?;
        subscription.spec.expires = expires;
        subscription.authorized_until = caller.token_expires;
        subscription.reauthorization_sent = false;
        Ok(subscription.json())
    }

    /// `DELETE /subscriptions/{id}`.
    pub(crate) fn delete_subscription(
        &mut self,
        caller: &Caller,
        id: &str,
        now: SystemTime,
    ) -> Result<(), Refusal> {
        self.find(caller, id, now)?;
        self.subscriptions.remove(id);
        Ok(())
    }

    /// `POST /subscriptions/{id}/reauthorize`.
    pub(crate) fn reauthorize_subscription(
        &mut self,
        caller: &Caller,
        id: &str,
        now: SystemTime,
    ) -> Result<(), Refusal> {
        self.find(caller, id, now)?;
        if let Some(subscription) = self.subscriptions.get_mut(id) {
            subscription.authorized_until = caller.token_expires;
            subscription.reauthorization_sent = false;
        }
        Ok(())
    }

    fn find(&self, caller: &Caller, id: &str, now: SystemTime) -> Result<&Subscription, Refusal> {
        self.subscriptions
            .get(id)
            .filter(|s| s.tenant == caller.tenant && s.app == caller.app && s.spec.expires > now)
            .ok_or_else(Refusal::no_subscription)
    }

    // --- the operator and the SIP side ------------------------------------

    /// Sets the state of a user's Teams client session (`Offline`: signed
    /// out).
    pub(crate) fn set_client_presence(
        &mut self,
        tenant: &str,
        object_id: &str,
        pair: Pair,
        now: SystemTime,
    ) -> Result<(), GraphError> {
        let tenant_key = self
            .aliases
            .get(&tenant.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| GraphError::UnknownUser(format!("{tenant}/{object_id}")))?;
        let user_key = object_id.to_ascii_lowercase();
        let user = self
            .tenants
            .get_mut(&tenant_key)
            .and_then(|d| d.users.get_mut(&user_key))
            .ok_or_else(|| GraphError::UnknownUser(format!("{tenant}/{object_id}")))?;
        user.presence.set_client(pair);
        user.presence.expire(now);
        self.republish(&tenant_key, &user_key, now);
        Ok(())
    }

    /// A user (by name) entered or left an answered Direct Routing call.
    pub(crate) fn set_in_call(
        &mut self,
        tenant: &str,
        user_name: &str,
        call: u64,
        in_call: bool,
        now: SystemTime,
    ) {
        let tenant_key = tenant.to_ascii_lowercase();
        let Some(directory) = self.tenants.get_mut(&tenant_key) else {
            return;
        };
        let Some(user_key) = directory.names.get(user_name).cloned() else {
            return;
        };
        if let Some(user) = directory.users.get_mut(&user_key) {
            user.presence.set_in_call(call, in_call);
            user.presence.expire(now);
        }
        self.republish(&tenant_key, &user_key, now);
    }

    /// The presence Graph reports for a user.
    pub(crate) fn current_presence(&self, tenant: &str, object_id: &str) -> Option<Pair> {
        let key = self.aliases.get(&tenant.to_ascii_lowercase())?;
        let user = self
            .tenants
            .get(key)?
            .users
            .get(&object_id.to_ascii_lowercase())?;
        Some(user.presence.current())
    }

    /// Sends a lifecycle notification now, as Graph does when tokens
    /// expire, permissions change or notifications were dropped.
    /// `subscriptionRemoved` also deletes the subscription.
    pub(crate) fn send_lifecycle(
        &mut self,
        id: &str,
        event: LifecycleEvent,
        now: SystemTime,
    ) -> Result<(), GraphError> {
        let subscription = self
            .subscriptions
            .get_mut(id)
            .filter(|s| s.spec.expires > now)
            .ok_or_else(|| GraphError::UnknownSubscription(id.to_owned()))?;
        let Some(url) = subscription.spec.lifecycle_url.clone() else {
            return Err(GraphError::NoLifecycleUrl(id.to_owned()));
        };
        if event == LifecycleEvent::ReauthorizationRequired {
            subscription.reauthorization_sent = true;
        }
        let item = lifecycle_notification(&context(subscription), event.as_str());
        self.deliveries.push_back(Delivery {
            subscription_id: id.to_owned(),
            url,
            body: json!({ "value": [item] }),
            missed: None,
        });
        self.stats.lifecycle_sent.fetch_add(1, Ordering::Relaxed);
        if event == LifecycleEvent::SubscriptionRemoved {
            self.subscriptions.remove(id);
        }
        Ok(())
    }

    /// The live subscriptions.
    pub(crate) fn subscriptions(&self, now: SystemTime) -> Vec<SubscriptionInfo> {
        self.subscriptions
            .values()
            .filter(|s| s.spec.expires > now)
            .map(|s| SubscriptionInfo {
                id: s.id.clone(),
                tenant_id: s.tenant_id.clone(),
                user_ids: s.spec.user_ids.clone(),
                expiration: s.spec.expires,
                client_state: s.spec.client_state.clone(),
                notification_url: s.spec.notification_url.clone(),
                lifecycle_notification_url: s.spec.lifecycle_url.clone(),
            })
            .collect()
    }

    // --- time -----------------------------------------------------------

    /// Expires subscriptions, presence sessions and preferences due by
    /// `now`, and asks for reauthorization of subscriptions whose token
    /// expired.
    pub(crate) fn handle_timeout(&mut self, now: SystemTime) {
        self.subscriptions.retain(|_, s| s.spec.expires > now);
        let mut due = Vec::new();
        for (tenant, directory) in &mut self.tenants {
            for (user_key, user) in &mut directory.users {
                if user.presence.next_expiry().is_some_and(|at| at <= now) {
                    user.presence.expire(now);
                    due.push((tenant.clone(), user_key.clone()));
                }
            }
        }
        for (tenant, user_key) in due {
            self.republish(&tenant, &user_key, now);
        }
        let reauthorize: Vec<String> = self
            .subscriptions
            .values()
            .filter(|s| {
                !s.reauthorization_sent
                    && s.authorized_until <= now
                    && s.spec.lifecycle_url.is_some()
            })
            .map(|s| s.id.clone())
            .collect();
        for id in reauthorize {
            // The subscription exists and has a lifecycle URL (filtered
            // just above), so this cannot fail.
            let _ = self.send_lifecycle(&id, LifecycleEvent::ReauthorizationRequired, now);
        }
    }

    /// When [`GraphService::handle_timeout`] has something to do next.
    pub(crate) fn poll_timeout(&self) -> Option<SystemTime> {
        let users = self
            .tenants
            .values()
            .flat_map(|d| d.users.values())
            .filter_map(|u| u.presence.next_expiry());
        let subscriptions = self.subscriptions.values().flat_map(|s| {
            let reauthorize = (!s.reauthorization_sent && s.spec.lifecycle_url.is_some())
                .then_some(s.authorized_until);
            std::iter::once(s.spec.expires).chain(reauthorize)
        });
        users.chain(subscriptions).min()
    }

    /// The next POST to make to a subscriber.
    pub(crate) fn poll_delivery(&mut self) -> Option<Delivery> {
        self.deliveries.pop_front()
    }
}

fn context(subscription: &Subscription) -> NotificationContext<'_> {
    NotificationContext {
        subscription_id: &subscription.id,
        client_state: subscription.spec.client_state.as_deref(),
        tenant_id: &subscription.tenant_id,
        expires: subscription.spec.expires,
    }
}

fn check_session_id(caller: &Caller, session: Option<&str>) -> Result<(), Refusal> {
    match session {
        Some(session) if session.eq_ignore_ascii_case(&caller.app) => Ok(()),
        Some(session) => Err(Refusal::bad_request(format!(
            "Invalid sessionId '{session}': provide the ID of the application."
        ))),
        None => Err(Refusal::bad_request(
            "The parameter 'sessionId' is required.",
        )),
    }
}

fn requested_pair(
    pairs: &[(&'static str, &'static str)],
    request: &SessionRequest,
) -> Result<Pair, Refusal> {
    let availability = request.availability.as_deref().unwrap_or_default();
    let activity = request.activity.as_deref().unwrap_or_default();
    Pair::among(pairs, availability, activity).ok_or_else(|| {
        Refusal::bad_request(format!(
            "The combination of availability '{availability}' and activity '{activity}' is \
             not supported."
        ))
    })
}
