//! `[api]`: serve's HTTP API for supervisors, wallboards and the agent
//! desktop (JSON over HTTP/1.1, `Authorization: Bearer <token>`).
//!
//! | request | what |
//! |---|---|
//! | `GET /api/v1/calls` | the contact center's live calls |
//! | `GET /api/v1/queues` | per queue: waiting, callbacks, longest wait, agents staffed and idle |
//! | `GET /api/v1/agents` | per agent: state and Teams presence |
//! | `PUT /api/v1/agents/{tenant}/{agent}/state` | `{"state":"available"\|"not_ready"\|"log_in"\|"log_out","reason":3}` |
//! | `PUT /api/v1/agents/{tenant}/{agent}/queues/{queue}` | `{"opted_in":false}`: stop (or start) taking the queue's calls |
//! | `POST /api/v1/calls/{id}/supervise` | `{"user":"<agent name, number or object id>","mode":"listen"\|"whisper"\|"barge"}` |
//! | `PUT /api/v1/calls/{id}/supervise` | `{"mode":"whisper"}` |
//! | `POST /api/v1/calls/{id}/parties` | `{"user":...}` or `{"number":"+1..."}`: a 3-way call |
//! | `POST /api/v1/calls/{id}/consult` | same body: the caller waits, the agent talks to the target |
//! | `POST /api/v1/calls/{id}/consult/{complete,merge,cancel}` | transfer, 3-way, or back to the caller |
//! | `DELETE /api/v1/calls/{id}` | hang up every leg of the call |
//!
//! Answers: 200 with JSON, 202 for accepted call requests (their
//! outcome shows in the call list and the event log), 400 bad body, 401
//! no or wrong token, 404 unknown call or agent, 409 not possible in the
//! call's state, 503 while serve shuts down. Bodies are capped at 16 KiB.
//! The token is one secret for the whole node; per-user sign-in (Entra ID)
//! comes with the agent desktop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::center::{AgentRequest, Snapshot, SuperviseMode};

/// The `[api]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiConfig {
    pub(crate) listen: SocketAddr,
    /// The bearer token, or a file holding it (first line).
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    token_file: Option<PathBuf>,
}

impl ApiConfig {
    /// Reads `[api]`; the token must be at least 16 characters.
    pub(crate) fn from_value(value: toml::Value, base: &std::path::Path) -> anyhow::Result<Self> {
        let mut config: ApiConfig = value.try_into().context("[api] is not valid")?;
        let token = match (&config.token, &config.token_file) {
            (Some(token), None) => token.clone(),
            (None, Some(file)) => {
                let path = base.join(file);
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("[api] token_file {}", path.display()))?;
                text.lines().next().unwrap_or_default().trim().to_owned()
            }
            _ => anyhow::bail!("[api] needs exactly one of token and token_file"),
        };
        if token.len() < 16 {
            anyhow::bail!("[api] the token must be at least 16 characters");
        }
        config.token = Some(token);
        Ok(config)
    }

    fn token(&self) -> &str {
        self.token.as_deref().unwrap_or_default()
    }
}

/// Whom a call request names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Target {
    /// A Teams user: an agent's name, number or object id.
    User(String),
    /// A PSTN number (E.164).
    Number(String),
}

/// A request about one call, as the API received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallRequest {
    Supervise {
        user: String,
        mode: SuperviseMode,
    },
    SetSuperviseMode(SuperviseMode),
    AddParty(Target),
    Consult(Target),
    CompleteConsult,
    MergeConsult,
    CancelConsult,
    /// Pause (`true`) or resume the call's recording (PCI DSS: while
    /// the caller gives card details).
    PauseRecording(bool),
    HangUp,
}

/// Why a request failed, as HTTP tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotFound(String),
    Conflict(String),
    BadRequest(String),
}

/// What the API asks of serve's loop.
#[derive(Debug)]
pub(crate) enum ApiCommand {
    Snapshot(oneshot::Sender<Snapshot>),
    Call {
        call: u64,
        request: CallRequest,
        reply: oneshot::Sender<Result<(), Refusal>>,
    },
    Agent {
        tenant: String,
        agent: String,
        request: AgentRequest,
        reply: oneshot::Sender<Result<(), Refusal>>,
    },
}

/// The API's counters.
#[derive(Debug, Default)]
pub(crate) struct ApiCounters {
    pub(crate) requests: AtomicU64,
    pub(crate) unauthorized: AtomicU64,
    pub(crate) refused: AtomicU64,
}

#[derive(Clone)]
struct ApiState {
    token: Arc<str>,
    loop_tx: mpsc::Sender<ApiCommand>,
    counters: Arc<ApiCounters>,
}

/// Starts the API on `[api] listen`, with `extra` routes (e.g. Microsoft
/// Graph's notifications) beside it; commands go to `loop_tx`.
pub(crate) async fn start(
    config: &ApiConfig,
    loop_tx: mpsc::Sender<ApiCommand>,
    counters: Arc<ApiCounters>,
    extra: Option<Router>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen for the API on {}", config.listen))?;
    let bound = listener.local_addr()?;
    let state = ApiState {
        token: Arc::from(config.token()),
        loop_tx,
        counters,
    };
    let api = Router::new()
        .route("/api/v1/calls", get(calls))
        .route("/api/v1/queues", get(queues))
        .route("/api/v1/agents", get(agents))
        .route("/api/v1/agents/{tenant}/{agent}/state", put(agent_state))
        .route(
            "/api/v1/agents/{tenant}/{agent}/queues/{queue}",
            put(agent_queue),
        )
        .route("/api/v1/calls/{id}", delete(hang_up))
        .route(
            "/api/v1/calls/{id}/supervise",
            post(supervise).put(supervise_mode),
        )
        .route("/api/v1/calls/{id}/parties", post(add_party))
        .route("/api/v1/calls/{id}/consult", post(consult))
        .route("/api/v1/calls/{id}/consult/{step}", post(consult_step))
        .route("/api/v1/calls/{id}/recording/{action}", post(recording))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(DefaultBodyLimit::max(16 * 1024))
        .with_state(state);
    let app = match extra {
        Some(extra) => api.merge(extra),
        None => api,
    };
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "API stopped");
        }
    });
    tracing::info!(%bound, "API at /api/v1");
    Ok(bound)
}

/// Compares in time independent of where the strings differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn authorize(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    state.counters.requests.fetch_add(1, Ordering::Relaxed);
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !same_secret(presented.as_bytes(), state.token.as_bytes()) {
        state.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(serde_json::json!({"error": "unauthorized"})),
        )
            .into_response();
    }
    next.run(request).await
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Sends `command` to the loop and waits for its answer.
async fn ask<T>(
    state: &ApiState,
    command: ApiCommand,
    answer: oneshot::Receiver<T>,
) -> Result<T, Response> {
    let gone = || error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    state.loop_tx.send(command).await.map_err(|_| gone())?;
    answer.await.map_err(|_| gone())
}

async fn snapshot(state: &ApiState) -> Result<Snapshot, Response> {
    let (reply, answer) = oneshot::channel();
    ask(state, ApiCommand::Snapshot(reply), answer).await
}

async fn calls(State(state): State<ApiState>) -> Response {
    match snapshot(&state).await {
        Ok(s) => Json(serde_json::json!({ "calls": s.calls })).into_response(),
        Err(response) => response,
    }
}

async fn queues(State(state): State<ApiState>) -> Response {
    match snapshot(&state).await {
        Ok(s) => Json(serde_json::json!({ "queues": s.queues })).into_response(),
        Err(response) => response,
    }
}

async fn agents(State(state): State<ApiState>) -> Response {
    match snapshot(&state).await {
        Ok(s) => Json(serde_json::json!({ "agents": s.agents })).into_response(),
        Err(response) => response,
    }
}

fn refused(state: &ApiState, refusal: Refusal) -> Response {
    state.counters.refused.fetch_add(1, Ordering::Relaxed);
    match refusal {
        Refusal::NotFound(why) => error(StatusCode::NOT_FOUND, &why),
        Refusal::Conflict(why) => error(StatusCode::CONFLICT, &why),
        Refusal::BadRequest(why) => error(StatusCode::BAD_REQUEST, &why),
    }
}

async fn call_request(state: &ApiState, call: u64, request: CallRequest) -> Response {
    let (reply, answer) = oneshot::channel();
    let command = ApiCommand::Call {
        call,
        request,
        reply,
    };
    match ask(state, command, answer).await {
        Ok(Ok(())) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({"call": call})),
        )
            .into_response(),
        Ok(Err(refusal)) => refused(state, refusal),
        Err(response) => response,
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Listen,
    Whisper,
    Barge,
}

impl From<Mode> for SuperviseMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Listen => SuperviseMode::Listen,
            Mode::Whisper => SuperviseMode::Whisper,
            Mode::Barge => SuperviseMode::Barge,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuperviseBody {
    user: String,
    mode: Mode,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeBody {
    mode: Mode,
}

async fn supervise(
    State(state): State<ApiState>,
    Path(call): Path<u64>,
    Json(body): Json<SuperviseBody>,
) -> Response {
    let request = CallRequest::Supervise {
        user: body.user,
        mode: body.mode.into(),
    };
    call_request(&state, call, request).await
}

async fn supervise_mode(
    State(state): State<ApiState>,
    Path(call): Path<u64>,
    Json(body): Json<ModeBody>,
) -> Response {
    let request = CallRequest::SetSuperviseMode(body.mode.into());
    call_request(&state, call, request).await
}

async fn hang_up(State(state): State<ApiState>, Path(call): Path<u64>) -> Response {
    call_request(&state, call, CallRequest::HangUp).await
}

async fn add_party(
    State(state): State<ApiState>,
    Path(call): Path<u64>,
    Json(target): Json<Target>,
) -> Response {
    call_request(&state, call, CallRequest::AddParty(target)).await
}

async fn consult(
    State(state): State<ApiState>,
    Path(call): Path<u64>,
    Json(target): Json<Target>,
) -> Response {
    call_request(&state, call, CallRequest::Consult(target)).await
}

async fn consult_step(
    State(state): State<ApiState>,
    Path((call, step)): Path<(u64, String)>,
) -> Response {
    let request = match step.as_str() {
        "complete" => CallRequest::CompleteConsult,
        "merge" => CallRequest::MergeConsult,
        "cancel" => CallRequest::CancelConsult,
        _ => return error(StatusCode::NOT_FOUND, "no such consult step"),
    };
    call_request(&state, call, request).await
}

async fn recording(
    State(state): State<ApiState>,
    Path((call, action)): Path<(u64, String)>,
) -> Response {
    let request = match action.as_str() {
        "pause" => CallRequest::PauseRecording(true),
        "resume" => CallRequest::PauseRecording(false),
        _ => return error(StatusCode::NOT_FOUND, "no such recording action"),
    };
    call_request(&state, call, request).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StateName {
    LogIn,
    LogOut,
    Available,
    NotReady,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateBody {
    state: StateName,
    #[serde(default)]
    reason: Option<u16>,
}

async fn agent_state(
    State(state): State<ApiState>,
    Path((tenant, agent)): Path<(String, String)>,
    Json(body): Json<StateBody>,
) -> Response {
    let request = match body.state {
        StateName::LogIn => AgentRequest::LogIn,
        StateName::LogOut => AgentRequest::LogOut,
        StateName::Available => AgentRequest::Available,
        StateName::NotReady => AgentRequest::NotReady(body.reason.unwrap_or(0)),
    };
    agent_request(&state, tenant, agent, request).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MembershipBody {
    opted_in: bool,
}

async fn agent_queue(
    State(state): State<ApiState>,
    Path((tenant, agent, queue)): Path<(String, String, String)>,
    Json(body): Json<MembershipBody>,
) -> Response {
    let request = AgentRequest::Queue {
        queue,
        opted_in: body.opted_in,
    };
    agent_request(&state, tenant, agent, request).await
}

async fn agent_request(
    state: &ApiState,
    tenant: String,
    agent: String,
    request: AgentRequest,
) -> Response {
    let (reply, answer) = oneshot::channel();
    let command = ApiCommand::Agent {
        tenant,
        agent,
        request,
        reply,
    };
    match ask(state, command, answer).await {
        Ok(Ok(())) => Json(serde_json::json!({"ok": true})).into_response(),
        Ok(Err(refusal)) => refused(state, refusal),
        Err(response) => response,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!same_secret(b"0123456789abcdef", b"0123456789abcdeg"));
        assert!(!same_secret(b"0123456789abcdef", b"0123456789abcde"));
        assert!(!same_secret(b"", b"x"));
    }

    #[test]
    fn the_config_needs_one_long_token() {
        let dir = std::env::temp_dir();
        let read = |text: &str| ApiConfig::from_value(toml::from_str(text).unwrap(), &dir);
        assert!(read("listen = \"127.0.0.1:0\"\ntoken = \"short\"").is_err());
        assert!(read("listen = \"127.0.0.1:0\"").is_err());
        let ok = read("listen = \"127.0.0.1:0\"\ntoken = \"0123456789abcdef\"").unwrap();
        assert_eq!(ok.token(), "0123456789abcdef");
        assert!(read("listen = \"127.0.0.1:0\"\ntoken = \"0123456789abcdef\"\nport = 1").is_err());
    }
}
