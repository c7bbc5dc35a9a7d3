//! The thin HTTP driver of [`GraphService`]: an axum server on the
//! configured address, a task that runs the service's timers and hands
//! its deliveries to one ordered sender task per subscription, and
//! [`RunningGraph`] to act as Teams users in tests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::delivery::{run_queue, validate, RetryPolicy};
use super::presence::Pair;
use super::service::{Caller, Delivery, GraphService, TokenForm};
use super::stats::{GraphStats, StatsCounters};
use super::wire::{Refusal, TokenRefusal};
use super::{LifecycleEvent, SubscriptionInfo};
use crate::config::EmulatorConfig;
use crate::error::{ConfigError, GraphError, RunError};
use crate::teams::Event;

/// Request bodies larger than this are refused (413).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Graph's JSON content type.
const GRAPH_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// The running Graph emulator: its address, and the hands of the Teams
/// users and of Microsoft's operators.
#[derive(Clone)]
pub struct RunningGraph {
    addr: SocketAddr,
    shared: Shared,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for RunningGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningGraph")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct Shared {
    service: Arc<Mutex<GraphService>>,
    /// Wakes the timer task after a request changed something.
    wake: Arc<Notify>,
    http: reqwest::Client,
    stats: Arc<StatsCounters>,
}

impl Shared {
    /// Runs `f` on the service at the current time, then wakes the timer
    /// task to drain what it queued.
    fn with<R>(&self, f: impl FnOnce(&mut GraphService, SystemTime) -> R) -> R {
        let result = {
            let mut service = self.service.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut service, SystemTime::now())
        };
        self.wake.notify_one();
        result
    }
}

/// Starts the Graph emulator of `config.graph` alone (no SIP proxies,
/// no certificates needed); it stops when `shutdown` is cancelled.
pub async fn start_graph(
    config: &EmulatorConfig,
    shutdown: CancellationToken,
) -> Result<RunningGraph, RunError> {
    config.validate()?;
    let seed = config.seed.unwrap_or_else(crate::driver::random_seed);
    start(config, seed, shutdown).await
}

pub(crate) async fn start(
    config: &EmulatorConfig,
    seed: u64,
    shutdown: CancellationToken,
) -> Result<RunningGraph, RunError> {
    let Some(graph) = &config.graph else {
        return Err(RunError::Config(ConfigError::Invalid {
            key: "emulator.graph".to_owned(),
            reason: "no [emulator.graph] table".to_owned(),
        }));
    };
    let stats = Arc::new(StatsCounters::default());
    let service = GraphService::new(config, graph, seed, Arc::clone(&stats));
    // reqwest takes rustls' process-wide provider (it is built without
    // one); ring is the workspace's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("switchboard-graph-emulator")
        .build()
        .map_err(|error| RunError::HttpClient(error.to_string()))?;
    let shared = Shared {
        service: Arc::new(Mutex::new(service)),
        wake: Arc::new(Notify::new()),
        http,
        stats,
    };
    let listener = tokio::net::TcpListener::bind(graph.listen)
        .await
        .map_err(|source| RunError::GraphListen {
            addr: graph.listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| RunError::GraphListen {
            addr: graph.listen,
            source,
        })?;
    let tracker = TaskTracker::new();
    let app = router(shared.clone());
    let stop = shutdown.clone();
    tracker.spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
        if let Err(error) = serve.await {
            tracing::warn!(%error, "Graph emulator stopped");
        }
    });
    let policy = RetryPolicy {
        retries: graph.notification_retries,
        first_delay: Duration::from_millis(graph.notification_retry_ms),
    };
    tracker.spawn(drive(
        shared.clone(),
        policy,
        tracker.clone(),
        shutdown.clone(),
    ));
    tracing::info!(%addr, "Microsoft Graph emulator listening");
    Ok(RunningGraph {
        addr,
        shared,
        tracker,
        shutdown,
    })
}

impl RunningGraph {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What stands in for `https://login.microsoftonline.com`.
    pub fn login_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What stands in for `https://graph.microsoft.com/v1.0`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1.0", self.addr)
    }

    /// Sets the state of a user's Teams client, as the user would by
    /// signing in or out or by their activity: any Graph availability and
    /// activity (`Offline` signs the client out). Application sessions,
    /// calls and a preferred presence still weigh in the aggregate.
    pub fn set_presence(
        &self,
        tenant_id: &str,
        object_id: &str,
        availability: &str,
        activity: &str,
    ) -> Result<(), GraphError> {
        let pair = Pair::known(availability, activity)
            .ok_or_else(|| GraphError::UnknownPresence(format!("{availability}/{activity}")))?;
        self.shared
            .with(|service, now| service.set_client_presence(tenant_id, object_id, pair, now))
    }

    /// The presence Graph reports for a user: availability and activity.
    pub fn presence(&self, tenant_id: &str, object_id: &str) -> Option<(String, String)> {
        self.shared.with(|service, _| {
            service
                .current_presence(tenant_id, object_id)
                .map(|pair| (pair.availability.to_owned(), pair.activity.to_owned()))
        })
    }

    /// Sends a lifecycle notification for a subscription now (it must
    /// have a `lifecycleNotificationUrl`); `subscriptionRemoved` also
    /// deletes it.
    pub fn send_lifecycle(
        &self,
        subscription_id: &str,
        event: LifecycleEvent,
    ) -> Result<(), GraphError> {
        self.shared
            .with(|service, now| service.send_lifecycle(subscription_id, event, now))
    }

    /// The live subscriptions.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        self.shared.with(|service, now| service.subscriptions(now))
    }

    /// What it did so far.
    pub fn stats(&self) -> GraphStats {
        self.shared.stats.snapshot()
    }

    /// A user entered or left an answered call (from the SIP side).
    pub(crate) fn set_in_call(&self, tenant: &str, user_name: &str, call: u64, in_call: bool) {
        self.shared.with(|service, now| {
            service.set_in_call(tenant, user_name, call, in_call, now);
        });
    }

    /// Stops it and waits until every task ended.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.stopped().await;
    }

    /// Waits until it stopped (after the shutdown token was cancelled).
    pub async fn stopped(self) {
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// Follows the SIP emulator's events: a user in an answered call is
/// Busy/InACall until it ends.
pub(crate) async fn follow_calls(
    graph: RunningGraph,
    mut events: broadcast::Receiver<Event>,
    shutdown: CancellationToken,
) {
    let mut calls: HashMap<u64, (String, String)> = HashMap::new();
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => return,
            event = events.recv() => event,
        };
        match event {
            Ok(Event::CallReceived {
                call, tenant, user, ..
            }) => {
                calls.insert(call.0, (tenant, user));
            }
            Ok(Event::Answered { call }) => {
                if let Some((tenant, user)) = calls.get(&call.0) {
                    graph.set_in_call(tenant, user, call.0, true);
                }
            }
            Ok(Event::Ended { call, .. } | Event::CallFailed { call, .. }) => {
                if let Some((tenant, user)) = calls.remove(&call.0) {
                    graph.set_in_call(&tenant, &user, call.0, false);
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "Graph emulator: SIP events lost, presence may lag");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Runs the service's timers and sends what it queues.
async fn drive(
    shared: Shared,
    policy: RetryPolicy,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    let mut queues: HashMap<String, mpsc::UnboundedSender<Delivery>> = HashMap::new();
    loop {
        let (deliveries, wake_at) = {
            let mut service = shared
                .service
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = SystemTime::now();
            if service.poll_timeout().is_some_and(|at| at <= now) {
                service.handle_timeout(now);
            }
            let deliveries: Vec<Delivery> =
                std::iter::from_fn(|| service.poll_delivery()).collect();
            (deliveries, service.poll_timeout())
        };
        for delivery in deliveries {
            let delivery = match queues.get(&delivery.subscription_id) {
                Some(queue) => match queue.send(delivery) {
                    Ok(()) => continue,
                    Err(mpsc::error::SendError(delivery)) => delivery,
                },
                None => delivery,
            };
            let (tx, rx) = mpsc::unbounded_channel();
            let id = delivery.subscription_id.clone();
            // The receiver is alive: it was created on the line above.
            let _ = tx.send(delivery);
            queues.insert(id, tx);
            tracker.spawn(run_queue(
                shared.http.clone(),
                rx,
                policy,
                Arc::clone(&shared.stats),
                shutdown.clone(),
            ));
        }
        queues.retain(|_, queue| !queue.is_closed());
        let sleep = wake_at.map(|at| at.duration_since(SystemTime::now()).unwrap_or_default());
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = shared.wake.notified() => {}
            () = sleep_for(sleep) => {}
        }
    }
}

async fn sleep_for(duration: Option<Duration>) {
    match duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => std::future::pending().await,
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/v1.0/users/{id}/presence", get(get_presence))
        .route("/v1.0/users/{id}/presence/setPresence", post(set_presence))
        .route(
            "/v1.0/users/{id}/presence/clearPresence",
            post(clear_presence),
        )
        .route(
            "/v1.0/users/{id}/presence/setUserPreferredPresence",
            post(set_preferred),
        )
        .route(
            "/v1.0/users/{id}/presence/clearUserPreferredPresence",
            post(clear_preferred),
        )
        .route(
            "/v1.0/communications/getPresencesByUserId",
            post(presences_by_user_id),
        )
        .route(
            "/v1.0/subscriptions",
            post(create_subscription).get(list_subscriptions),
        )
        .route(
            "/v1.0/subscriptions/{id}",
            get(get_subscription)
                .patch(renew_subscription)
                .delete(delete_subscription),
        )
        .route(
            "/v1.0/subscriptions/{id}/reauthorize",
            post(reauthorize_subscription),
        )
        .fallback(unknown_segment)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

async fn token(
    State(shared): State<Shared>,
    Path(tenant): Path<String>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(form)| form).unwrap_or_default();
    let (result, trace, correlation) = shared.with(|service, now| {
        (
            service.issue_token(&tenant, &form, now),
            service.request_id(),
            service.request_id(),
        )
    });
    match result {
        Ok(body) => json_response(StatusCode::OK, "application/json; charset=utf-8", &body),
        Err(refusal) => token_refusal(&refusal, &trace, &correlation),
    }
}

/// Authenticates, then runs `f`; a Graph response either way.
fn graph_call(
    shared: &Shared,
    headers: &HeaderMap,
    f: impl FnOnce(
        &mut GraphService,
        &Caller,
        SystemTime,
    ) -> Result<(StatusCode, Option<Value>), Refusal>,
) -> Response {
    let authorization = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let (result, request_id, now) = shared.with(|service, now| {
        let result = service
            .authenticate(authorization, now)
            .and_then(|caller| f(service, &caller, now));
        (result, service.request_id(), now)
    });
    graph_response(result, &request_id, now)
}

async fn get_presence(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    graph_call(&shared, &headers, |service, caller, _| {
        service.presence(caller, &id).map(ok_json)
    })
}

async fn presences_by_user_id(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    graph_call(&shared, &headers, |service, caller, now| {
        service
            .presences_by_user_id(caller, &body, now)
            .map(ok_json)
    })
}

async fn set_presence(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    graph_call(&shared, &headers, |service, caller, now| {
        service.set_presence(caller, &id, &body, now).map(ok_empty)
    })
}

async fn clear_presence(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    graph_call(&shared, &headers, |service, caller, now| {
        service
            .clear_presence(caller, &id, &body, now)
            .map(ok_empty)
    })
}

async fn set_preferred(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    graph_call(&shared, &headers, |service, caller, now| {
        service
            .set_user_preferred_presence(caller, &id, &body, now)
            .map(ok_empty)
    })
}

async fn clear_preferred(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    graph_call(&shared, &headers, |service, caller, now| {
        service
            .clear_user_preferred_presence(caller, &id, now)
            .map(ok_empty)
    })
}

/// `POST /subscriptions`: checks, the validation handshake with each
/// URL (outside the lock), then 201 with the subscription.
async fn create_subscription(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let (checked, request_id, now) = shared.with(|service, now| {
        let checked = service.authenticate(authorization, now).and_then(|caller| {
            let spec = service.check_subscription(&body, now)?;
            Ok((caller, spec))
        });
        (checked, service.request_id(), now)
    });
    let (caller, spec) = match checked {
        Ok(checked) => checked,
        Err(refusal) => return graph_response(Err(refusal), &request_id, now),
    };
    for url in spec.urls_to_validate() {
        if let Err(why) = validate(&shared.http, &url, &request_id).await {
            shared
                .stats
                .validation_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let refusal = Refusal::new(
                400,
                "ValidationError",
                format!(
                    "Subscription validation request failed. Notification endpoint must \
                     respond with 200 OK to validation request. {why}"
                ),
            );
            return graph_response(Err(refusal), &request_id, SystemTime::now());
        }
    }
    let body = shared.with(|service, _| service.add_subscription(&caller, spec));
    let mut response = graph_response(
        Ok((StatusCode::CREATED, Some(body.clone()))),
        &request_id,
        now,
    );
    if let Some(location) = body["id"].as_str().and_then(|id| {
        HeaderValue::from_str(&format!(
            "https://graph.microsoft.com/v1.0/subscriptions/{id}"
        ))
        .ok()
    }) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

async fn list_subscriptions(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    graph_call(&shared, &headers, |service, caller, now| {
        Ok(ok_json(service.list_subscriptions(caller, now)))
    })
}

async fn get_subscription(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    graph_call(&shared, &headers, |service, caller, now| {
        service.subscription(caller, &id, now).map(ok_json)
    })
}

async fn renew_subscription(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    graph_call(&shared, &headers, |service, caller, now| {
        service
            .renew_subscription(caller, &id, &body, now)
            .map(ok_json)
    })
}

async fn delete_subscription(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    graph_call(&shared, &headers, |service, caller, now| {
        service
            .delete_subscription(caller, &id, now)
            .map(no_content)
    })
}

async fn reauthorize_subscription(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    graph_call(&shared, &headers, |service, caller, now| {
        service
            .reauthorize_subscription(caller, &id, now)
            .map(no_content)
    })
}

async fn unknown_segment(State(shared): State<Shared>, uri: Uri) -> Response {
    let (request_id, now) = shared.with(|service, now| (service.request_id(), now));
    let segment = uri.path().rsplit('/').next().unwrap_or_default().to_owned();
    let refusal = Refusal::bad_request(format!("Resource not found for the segment '{segment}'."));
    graph_response(Err(refusal), &request_id, now)
}

fn ok_json(body: Value) -> (StatusCode, Option<Value>) {
    (StatusCode::OK, Some(body))
}

fn ok_empty((): ()) -> (StatusCode, Option<Value>) {
    (StatusCode::OK, None)
}

fn no_content((): ()) -> (StatusCode, Option<Value>) {
    (StatusCode::NO_CONTENT, None)
}

fn graph_response(
    result: Result<(StatusCode, Option<Value>), Refusal>,
    request_id: &str,
    now: SystemTime,
) -> Response {
    let mut response = match result {
        Ok((status, Some(body))) => json_response(status, GRAPH_JSON, &body),
        Ok((status, None)) => status.into_response(),
        Err(refusal) => {
            let status =
                StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = json_response(status, GRAPH_JSON, &refusal.body(request_id, now));
            if let Some(secs) = refusal.retry_after {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(secs));
            }
            if status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
                    ),
                );
            }
            response
        }
    };
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("request-id", value.clone());
        response.headers_mut().insert("client-request-id", value);
    }
    response
}

fn token_refusal(refusal: &TokenRefusal, trace: &str, correlation: &str) -> Response {
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = refusal.body(trace, correlation, SystemTime::now());
    json_response(status, "application/json; charset=utf-8", &body)
}

fn json_response(status: StatusCode, content_type: &'static str, body: &Value) -> Response {
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body.to_string(),
    )
        .into_response()
}
