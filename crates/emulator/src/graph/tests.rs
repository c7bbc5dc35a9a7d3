//! The Graph emulator over loopback HTTP: a reqwest client plays the
//! application, a small axum server plays its notification endpoint.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::example::{self, ALICE, APP, BOB, CAROL, OTHER_TENANT, SECRET, TENANT};
use super::time::format_datetime;
use super::{follow_calls, LifecycleEvent, RunningGraph};
use crate::teams::{CallId, Event, Party, ProxyId};

const WAIT: Duration = Duration::from_secs(5);
const BY_USER_ID: &str = "/communications/getPresencesByUserId";

struct Harness {
    graph: RunningGraph,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

impl Harness {
    async fn start(extra: &str) -> Harness {
        let shutdown = CancellationToken::new();
        let graph = super::start_graph(&example::config(extra).unwrap(), shutdown.clone())
            .await
            .unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        Harness {
            graph,
            http,
            shutdown,
        }
    }

    async fn token_response(&self, tenant: &str, secret: &str) -> (u16, Value) {
        self.token_request(
            tenant,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", APP),
                ("client_secret", secret),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await
    }

    async fn token_request(&self, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let url = format!("{}/{tenant}/oauth2/v2.0/token", self.graph.login_url());
        let response = self.http.post(url).form(form).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn token(&self, tenant: &str) -> String {
        let (status, body) = self.token_response(tenant, SECRET).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.graph.base_url()))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, headers, json)
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let (status, _, json) = self.call(Method::GET, path, token, None).await;
        (status, json)
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let (status, _, json) = self.call(Method::POST, path, token, Some(body)).await;
        (status, json)
    }

    async fn patch(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let (status, _, json) = self.call(Method::PATCH, path, token, Some(body)).await;
        (status, json)
    }

    async fn subscribe(
        &self,
        token: &str,
        receiver: &Receiver,
        ids: &[&str],
        lifetime: Duration,
    ) -> (u16, Value) {
        let list: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
        self.post(
            "/subscriptions",
            token,
            json!({
                "changeType": "updated",
                "notificationUrl": receiver.url("notify"),
                "lifecycleNotificationUrl": receiver.url("lifecycle"),
                "resource": format!("/communications/presences?$filter=id in ({})", list.join(",")),
                "expirationDateTime": format_datetime(SystemTime::now() + lifetime),
                "clientState": "secret-state",
            }),
        )
        .await
    }

    /// A token, a receiver that answers the validation handshake, and a
    /// subscription of its URLs to `ids` for `lifetime`, created.
    async fn subscribed(&self, ids: &[&str], lifetime: Duration) -> (String, Receiver, Value) {
        let token = self.token(TENANT).await;
        let receiver = Receiver::start(true).await;
        let (status, created) = self.subscribe(&token, &receiver, ids, lifetime).await;
        assert_eq!(status, 201, "{created}");
        (token, receiver, created)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A subscriber's endpoint: `/notify` and `/lifecycle` record what Graph
/// POSTs; the validation handshake is answered per `echo`.
struct Receiver {
    addr: SocketAddr,
    received: mpsc::UnboundedReceiver<(String, Value)>,
    /// The status `/notify` answers notifications with.
    notify_status: Arc<AtomicU16>,
}

#[derive(Clone)]
struct ReceiverState {
    echo: bool,
    notify_status: Arc<AtomicU16>,
    sink: mpsc::UnboundedSender<(String, Value)>,
}

#[derive(serde::Deserialize)]
struct Validation {
    #[serde(rename = "validationToken")]
    validation_token: Option<String>,
}

impl Receiver {
    async fn start(echo: bool) -> Receiver {
        let (sink, received) = mpsc::unbounded_channel();
        let notify_status = Arc::new(AtomicU16::new(202));
        let state = ReceiverState {
            echo,
            notify_status: Arc::clone(&notify_status),
            sink,
        };
        let app = Router::new()
            .route(
                "/notify",
                post(|state, query, body| receive("notify", state, query, body)),
            )
            .route(
                "/lifecycle",
                post(|state, query, body| receive("lifecycle", state, query, body)),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            addr,
            received,
            notify_status,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    async fn next(&mut self) -> (String, Value) {
        tokio::time::timeout(WAIT, self.received.recv())
            .await
            .expect("a notification in time")
            .unwrap()
    }

    /// Skips validation requests.
    async fn next_notification(&mut self) -> (String, Value) {
        loop {
            let (path, body) = self.next().await;
            if !path.ends_with("validation") {
                return (path, body);
            }
        }
    }

    async fn nothing_for(&mut self, duration: Duration) {
        let next = tokio::time::timeout(duration, async {
            loop {
                let (path, body) = self.received.recv().await.unwrap();
                if !path.ends_with("validation") {
                    return (path, body);
                }
            }
        })
        .await;
        assert!(next.is_err(), "unexpected {next:?}");
    }
}

async fn receive(
    path: &'static str,
    State(state): State<ReceiverState>,
    Query(query): Query<Validation>,
    body: Bytes,
) -> Response {
    if let Some(token) = query.validation_token {
        let _ = state
            .sink
            .send((format!("{path} validation"), Value::String(token.clone())));
        let answer = if state.echo { token } else { "nope".to_owned() };
        return (StatusCode::OK, [("content-type", "text/plain")], answer).into_response();
    }
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = state.sink.send((path.to_owned(), value));
    let status = if path == "notify" {
        state.notify_status.load(Ordering::Relaxed)
    } else {
        202
    };
    StatusCode::from_u16(status).unwrap().into_response()
}

/// The `error` of an Entra ID error, the `error.code` of a Graph one.
fn error_code(body: &Value) -> &str {
    let error = &body["error"];
    error["code"]
        .as_str()
        .or(error.as_str())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_token_endpoint_answers_like_entra() {
    let h = Harness::start("").await;
    let (status, body) = h.token_response(TENANT, SECRET).await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    // A verified domain names the tenant too.
    assert_eq!(h.token_response("contoso.example.net", SECRET).await.0, 200);

    let (status, body) = h.token_response(TENANT, "wrong").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], json!([7_000_215]));
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS7000215: Invalid client secret"));
    assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());

    let (status, body) = h.token_response("no-such-tenant", SECRET).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["error_codes"], json!([90_002]));

    let form = |grant: &'static str, scope: &'static str| {
        [
            ("grant_type", grant),
            ("client_id", APP),
            ("client_secret", SECRET),
            ("scope", scope),
        ]
    };
    let password = form("password", "https://graph.microsoft.com/.default");
    let (status, body) = h.token_request(TENANT, &password).await;
    assert_eq!((status, error_code(&body)), (400, "unsupported_grant_type"));
    let scope = form("client_credentials", "Presence.Read.All");
    let (status, body) = h.token_request(TENANT, &scope).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_scope"));
    let stats = h.graph.stats();
    assert_eq!((stats.tokens_issued, stats.token_refusals), (2, 4));
}

#[tokio::test]
async fn graph_needs_a_live_token_of_the_users_tenant() {
    let h = Harness::start("token_lifetime_secs = 1").await;
    let alice = format!("/users/{ALICE}/presence");
    let url = format!("{}{alice}", h.graph.base_url());
    let response = h.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(body["error"]["message"], "Access token is empty.");

    let (status, body) = h.get(&alice, "forged").await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "InvalidAuthenticationToken")
    );

    let other = h.token(OTHER_TENANT).await;
    let (status, body) = h.get(&alice, &other).await;
    assert_eq!(status, 404, "{body}");

    let token = h.token(TENANT).await;
    let (status, _) = h.get(&alice, &token).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = h.get(&alice, &token).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error"]["message"],
        "Lifetime validation failed, the token is expired."
    );
    assert_eq!(h.graph.stats().unauthenticated, 3);
}

#[tokio::test]
async fn presence_of_one_user_and_of_many() {
    let h = Harness::start("").await;
    let token = h.token(TENANT).await;
    let alice = format!("/users/{ALICE}/presence");
    let (status, body) = h.get(&alice, &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], ALICE);
    assert_eq!(body["availability"], "Available");
    assert_eq!(body["activity"], "Available");
    assert!(body["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/presence/$entity"));

    let (status, body) = h
        .post(
            BY_USER_ID,
            &token,
            json!({"ids": [ALICE, BOB.to_uppercase(), "00000000-0000-0000-0000-000000000000"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.presence)"
    );
    let value = body["value"].as_array().unwrap();
    assert_eq!(value.len(), 3);
    assert_eq!(
        (value[1]["id"].as_str(), value[1]["availability"].as_str()),
        (Some(BOB), Some("Away"))
    );
    assert_eq!(value[2]["availability"], "PresenceUnknown");

    let ids: Vec<String> = (0..651).map(|i| format!("id-{i}")).collect();
    let (status, body) = h.post(BY_USER_ID, &token, json!({ "ids": ids })).await;
    assert_eq!((status, error_code(&body)), (400, "BadRequest"));
    let (status, _) = h.post(BY_USER_ID, &token, json!({"ids": ids[..650]})).await;
    assert_eq!(status, 200);
    let (status, _) = h.post(BY_USER_ID, &token, json!({"userIds": []})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn batch_calls_are_throttled_per_app_and_tenant() {
    let h = Harness::start("presence_requests_per_30s = 3").await;
    let token = h.token(TENANT).await;
    for _ in 0..3 {
        let (status, _) = h.post(BY_USER_ID, &token, json!({"ids": [ALICE]})).await;
        assert_eq!(status, 200);
    }
    let (status, headers, body) = h
        .call(
            Method::POST,
            BY_USER_ID,
            &token,
            Some(json!({"ids": [ALICE]})),
        )
        .await;
    assert_eq!((status, error_code(&body)), (429, "TooManyRequests"));
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    let other = h.token(OTHER_TENANT).await;
    let (status, _) = h.post(BY_USER_ID, &other, json!({"ids": [ALICE]})).await;
    assert_eq!(status, 200, "another tenant has its own budget");
    assert_eq!(h.graph.stats().throttled, 1);
}

#[tokio::test]
async fn set_presence_is_validated_and_notified_with_client_state() {
    let h = Harness::start("").await;
    let (token, mut receiver, created) =
        h.subscribed(&[ALICE, BOB], Duration::from_secs(3000)).await;
    let (path, validation) = receiver.next().await;
    assert_eq!(path, "notify validation");
    assert!(validation
        .as_str()
        .unwrap()
        .starts_with("Validation: Testing client application reachability"));
    assert_eq!(receiver.next().await.0, "lifecycle validation");
    assert_eq!(created["changeType"], "updated");
    assert_eq!(created["clientState"], "secret-state");
    assert_eq!(
        created["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity"
    );
    let id = created["id"].as_str().unwrap().to_owned();

    let set = |availability: &str, activity: &str, duration: &str, session: &str| {
        json!({
            "sessionId": session,
            "availability": availability,
            "activity": activity,
            "expirationDuration": duration,
        })
    };
    let path = format!("/users/{ALICE}/presence/setPresence");
    for bad in [
        set("Busy", "Presenting", "PT1H", APP),
        set("Offline", "Offline", "PT1H", APP),
        set("Busy", "InACall", "PT4M", APP),
        set("Busy", "InACall", "PT4H1M", APP),
        set("Busy", "InACall", "PT1H", "someone-else"),
    ] {
        let (status, body) = h.post(&path, &token, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = h
        .post(&path, &token, set("Busy", "InACall", "PT1H", APP))
        .await;
    assert_eq!(status, 200);
    let (path, body) = receiver.next_notification().await;
    assert_eq!(path, "notify");
    let item = &body["value"][0];
    assert_eq!(item["subscriptionId"], id.as_str());
    assert_eq!(item["clientState"], "secret-state");
    assert_eq!(item["changeType"], "updated");
    assert_eq!(item["tenantId"], TENANT);
    assert_eq!(
        item["resource"],
        format!("communications/presences('{ALICE}')")
    );
    assert!(item["subscriptionExpirationDateTime"].is_string());
    let data = &item["resourceData"];
    assert_eq!(data["@odata.type"], "#Microsoft.Graph.presence");
    assert_eq!(data["id"], ALICE);
    assert_eq!(data["availability"], "Busy");
    assert_eq!(data["activity"], "InACall");

    // The user's own preference wins over the app's session.
    let (status, _) = h
        .post(
            &format!("/users/{ALICE}/presence/setUserPreferredPresence"),
            &token,
            json!({"availability": "DoNotDisturb", "activity": "DoNotDisturb"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = receiver.next_notification().await;
    assert_eq!(
        body["value"][0]["resourceData"]["availability"],
        "DoNotDisturb"
    );
    let (status, _) = h
        .post(
            &format!("/users/{ALICE}/presence/clearUserPreferredPresence"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = receiver.next_notification().await;
    assert_eq!(body["value"][0]["resourceData"]["availability"], "Busy");

    // The operator's hand: Bob's Teams client goes offline.
    h.graph
        .set_presence(TENANT, BOB, "Offline", "Offline")
        .unwrap();
    let (_, body) = receiver.next_notification().await;
    assert_eq!(body["value"][0]["resourceData"]["id"], BOB);
    assert_eq!(body["value"][0]["resourceData"]["availability"], "Offline");
    assert_eq!(
        h.graph.presence(TENANT, BOB),
        Some(("Offline".to_owned(), "Offline".to_owned()))
    );
    // Carol is in no subscription of this tenant.
    h.graph
        .set_presence(OTHER_TENANT, CAROL, "Busy", "InAMeeting")
        .unwrap();
    receiver.nothing_for(Duration::from_millis(300)).await;
    assert!(h.graph.set_presence(TENANT, BOB, "Green", "Green").is_err());
}

#[tokio::test]
async fn a_failed_validation_handshake_refuses_the_subscription() {
    let h = Harness::start("").await;
    let token = h.token(TENANT).await;
    let mut receiver = Receiver::start(false).await;
    let (status, body) = h
        .subscribe(&token, &receiver, &[ALICE], Duration::from_secs(600))
        .await;
    assert_eq!((status, error_code(&body)), (400, "ValidationError"));
    assert_eq!(receiver.next().await.0, "notify validation");
    assert!(h.graph.subscriptions().is_empty());

    let (status, body) = h
        .post(
            "/subscriptions",
            &token,
            json!({
                "changeType": "updated",
                "notificationUrl": "http://127.0.0.1:9/nobody",
                "resource": format!("/communications/presences?$filter=id in ('{ALICE}')"),
                "expirationDateTime": format_datetime(SystemTime::now() + Duration::from_secs(600)),
            }),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "ValidationError"));
    assert_eq!(h.graph.stats().validation_failures, 2);
}

#[tokio::test]
async fn subscriptions_are_limited_to_650_users_and_an_hour() {
    let h = Harness::start("").await;
    let token = h.token(TENANT).await;
    let receiver = Receiver::start(true).await;
    let ids: Vec<String> = (0..651).map(|i| format!("user-{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (status, body) = h
        .subscribe(&token, &receiver, &refs, Duration::from_secs(600))
        .await;
    assert_eq!((status, error_code(&body)), (400, "InvalidRequest"));
    let (status, _) = h
        .subscribe(&token, &receiver, &refs[..650], Duration::from_secs(600))
        .await;
    assert_eq!(status, 201);
    let (status, body) = h
        .subscribe(&token, &receiver, &[ALICE], Duration::from_secs(3700))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "Subscription expiration can only be 60 minutes in the future."
    );
}

#[tokio::test]
async fn subscriptions_renew_and_expire() {
    let h = Harness::start("").await;
    let (token, mut receiver, created) = h.subscribed(&[ALICE], Duration::from_millis(1500)).await;
    let renewed_id = created["id"].as_str().unwrap().to_owned();
    let (status, short) = h
        .subscribe(&token, &receiver, &[BOB], Duration::from_millis(1500))
        .await;
    assert_eq!(status, 201);
    let expiring = format!("/subscriptions/{}", short["id"].as_str().unwrap());
    let renewing = format!("/subscriptions/{renewed_id}");

    let later = format_datetime(SystemTime::now() + Duration::from_secs(3500));
    let later = json!({"expirationDateTime": later});
    let (status, renewed) = h.patch(&renewing, &token, later.clone()).await;
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(renewed["expirationDateTime"], later["expirationDateTime"]);
    let too_late = format_datetime(SystemTime::now() + Duration::from_secs(4000));
    let too_late = json!({"expirationDateTime": too_late});
    assert_eq!(h.patch(&renewing, &token, too_late).await.0, 400);

    tokio::time::sleep(Duration::from_millis(1700)).await;
    let live: Vec<String> = h.graph.subscriptions().into_iter().map(|s| s.id).collect();
    assert_eq!(live, std::slice::from_ref(&renewed_id));
    h.graph
        .set_presence(TENANT, BOB, "Busy", "InAMeeting")
        .unwrap();
    receiver.nothing_for(Duration::from_millis(400)).await;
    assert_eq!(h.get(&expiring, &token).await.0, 404);
    assert_eq!(h.patch(&expiring, &token, later).await.0, 404);

    h.graph.set_presence(TENANT, ALICE, "Away", "Away").unwrap();
    let (_, body) = receiver.next_notification().await;
    assert_eq!(body["value"][0]["subscriptionId"], renewed_id.as_str());

    let (status, _, _) = h.call(Method::DELETE, &renewing, &token, None).await;
    assert_eq!(status, 204);
    assert!(h.graph.subscriptions().is_empty());
}

#[tokio::test]
async fn undelivered_notifications_end_in_a_missed_lifecycle_notification() {
    let h = Harness::start("notification_retries = 1\nnotification_retry_ms = 20").await;
    let (_, mut receiver, created) = h.subscribed(&[ALICE], Duration::from_secs(600)).await;
    receiver.notify_status.store(500, Ordering::Relaxed);
    h.graph
        .set_presence(TENANT, ALICE, "Busy", "InAMeeting")
        .unwrap();
    assert_eq!(receiver.next_notification().await.0, "notify");
    assert_eq!(receiver.next_notification().await.0, "notify", "one retry");
    let (path, body) = receiver.next_notification().await;
    assert_eq!(path, "lifecycle");
    let item = &body["value"][0];
    assert_eq!(item["lifecycleEvent"], "missed");
    assert_eq!(item["subscriptionId"], created["id"]);
    assert_eq!(item["clientState"], "secret-state");
    let stats = h.graph.stats();
    assert_eq!((stats.notification_failures, stats.missed_sent), (2, 1));
}

#[tokio::test]
async fn lifecycle_notifications_and_reauthorization() {
    let h = Harness::start("token_lifetime_secs = 1").await;
    let (_, mut receiver, created) = h.subscribed(&[ALICE], Duration::from_secs(600)).await;
    let id = created["id"].as_str().unwrap().to_owned();
    // The token that authorized it expires: Graph asks once.
    let (path, body) = receiver.next_notification().await;
    assert_eq!(path, "lifecycle");
    assert_eq!(
        body["value"][0]["lifecycleEvent"],
        "reauthorizationRequired"
    );
    assert_eq!(body["value"][0]["tenantId"], TENANT);
    receiver.nothing_for(Duration::from_millis(300)).await;
    let fresh = h.token(TENANT).await;
    let reauthorize = format!("/subscriptions/{id}/reauthorize");
    let (status, _, _) = h.call(Method::POST, &reauthorize, &fresh, None).await;
    assert_eq!(status, 204);

    h.graph
        .send_lifecycle(&id, LifecycleEvent::SubscriptionRemoved)
        .unwrap();
    let (_, body) = receiver.next_notification().await;
    assert_eq!(body["value"][0]["lifecycleEvent"], "subscriptionRemoved");
    assert!(h.graph.subscriptions().is_empty());
    assert!(h.graph.send_lifecycle(&id, LifecycleEvent::Missed).is_err());
}

#[tokio::test]
async fn basic_notifications_carry_only_the_user_id() {
    let h = Harness::start("basic_notifications = true").await;
    let (_, mut receiver, _) = h.subscribed(&[ALICE], Duration::from_secs(600)).await;
    h.graph.set_presence(TENANT, ALICE, "Away", "Away").unwrap();
    let (_, body) = receiver.next_notification().await;
    let item = &body["value"][0];
    assert_eq!(
        item["resource"],
        format!("communications/presences/{ALICE}")
    );
    assert_eq!(
        item["resourceData"]["@odata.id"],
        format!("users/{ALICE}/presence")
    );
    assert!(item["resourceData"].get("availability").is_none());
}

#[tokio::test]
async fn a_user_in_an_answered_call_is_busy_in_a_call() {
    let h = Harness::start("").await;
    let (events, receiver) = broadcast::channel(16);
    let stop = CancellationToken::new();
    let follower = tokio::spawn(follow_calls(h.graph.clone(), receiver, stop.clone()));
    let call = CallId(7);
    let presence = || h.graph.presence(TENANT, ALICE).unwrap();
    events
        .send(Event::CallReceived {
            call,
            tenant: TENANT.to_owned(),
            user: "alice".to_owned(),
            from: "sip:+12065550100@sbc.example.net".to_owned(),
            x_ms_sbc: None,
            referred_by: None,
            proxy: ProxyId(0),
        })
        .unwrap();
    events.send(Event::Answered { call }).unwrap();
    let busy = ("Busy".to_owned(), "InACall".to_owned());
    let deadline = tokio::time::Instant::now() + WAIT;
    while presence() != busy {
        assert!(tokio::time::Instant::now() < deadline, "never busy");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    events
        .send(Event::Ended {
            call,
            by: Party::Sbc,
            status: None,
        })
        .unwrap();
    let available = ("Available".to_owned(), "Available".to_owned());
    while presence() != available {
        assert!(tokio::time::Instant::now() < deadline, "never back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    follower.await.unwrap();
}
