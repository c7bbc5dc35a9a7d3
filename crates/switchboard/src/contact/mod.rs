//! `serve`'s contact center: [`Center`]'s inputs from the B2BUA and the
//! relay, its actions carried out on them, its event log written.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use acd::{HttpFailure, RequestId};
use anyhow::Context;
use media::{
    EspeakNg, HoldPlayer, InfoDigit, LegKey, MediaDriver, MediaEvent, MediaRate, PauseMode,
    PlayEnd, PlayRequestId, PromptError, PromptPlayer, PromptSet, VoicemailConfig,
};
use sbc::{B2bua, B2buaEvent, CallId, Config, DialTarget, EndReason, Party, E164};
use tokio::sync::mpsc;

use store::{EndCause, Recorder, SqliteStore, Store, WallClock};

mod layout;

use crate::api::{ApiCommand, CallRequest, Refusal, Target};
use crate::center::{Action, AgentRequestError, Center, CenterConfig, Fact, Request, RequestError};
use crate::relay::RelayAnchor;

/// The prompt looped while a caller waits in a queue, when the prompts
/// directory has one (`music-on-hold.wav`); silence between the
/// announcements otherwise.
const MUSIC_ON_HOLD: &str = "music-on-hold";

/// The contact center of a running `serve`.
pub(crate) struct ContactCenter {
    center: Center,
    /// The media layouts applied to calls with parties.
    layouts: layout::Layouts,
    /// Calls whose recording started.
    recorded: std::collections::HashSet<CallId>,
    relay: Arc<MediaDriver>,
    prompts: PromptSet,
    /// The event log's writer task: batches of what the log must hold,
    /// acknowledged once durable (see [`ContactCenter::commit`]).
    writer: mpsc::UnboundedSender<LogBatch>,
    /// Appends the writer could not make (kept and retried).
    log_failures: Arc<std::sync::atomic::AtomicU64>,
    /// This run's number in the log (record keys are `run<N>/call<n>`).
    run: u64,
    /// Batches sent and not yet durable, each with the actions that wait
    /// for it, oldest first.
    held: VecDeque<(u64, Vec<Action>)>,
    next_batch: u64,
    /// Each call's caller leg on the relay (the leg prompts play to) and
    /// its codec.
    callers: HashMap<CallId, LegKey>,
    codecs: HashMap<CallId, media::LegCodec>,
    /// Plays in progress: the call and what their end means.
    plays: HashMap<PlayRequestId, (CallId, PlayPurpose)>,
    /// Voicemails being recorded, by the call they end.
    voicemails: HashMap<media::RecordingId, CallId>,
    next_play: u64,
    /// CRM lookups: the client, and where their answers go.
    http: reqwest::Client,
    http_done: mpsc::UnboundedSender<HttpDone>,
    http_failures: u64,
    /// Where agent calls are recorded (`None`: not recorded).
    recordings: Option<std::path::PathBuf>,
    /// Where voicemail messages go, a directory per mailbox.
    voicemail_dir: std::path::PathBuf,
}

/// One entry for the event log, in order.
#[derive(Debug)]
enum LogOp {
    /// The engine's events of an interaction go to a call's record.
    Link(acd::InteractionId, String),
    Engine(acd::Event),
    Call(String, acd::TenantId, Instant, store::CallFact),
}

/// A batch for the log's writer.
#[derive(Debug)]
pub(crate) struct LogBatch {
    id: u64,
    ops: Vec<LogOp>,
}

/// The log's writer: appends each batch in one durable transaction, then
/// acknowledges it with its id. A failed append is kept by the recorder
/// and retried with the next batch; the acknowledgement goes out anyway
/// (calls go on; the failure is logged and counted).
async fn write_log(
    mut recorder: Recorder,
    mut batches: mpsc::UnboundedReceiver<LogBatch>,
    durable: mpsc::UnboundedSender<u64>,
    failures: Arc<std::sync::atomic::AtomicU64>,
) {
    while let Some(batch) = batches.recv().await {
        let mut last = batch.id;
        let mut pending = vec![batch];
        // Everything already queued goes in the same transaction.
        while let Ok(more) = batches.try_recv() {
            last = more.id;
            pending.push(more);
        }
        for op in pending.into_iter().flat_map(|b| b.ops) {
            match op {
                LogOp::Link(interaction, call) => recorder.link(interaction, &call),
                LogOp::Engine(event) => recorder.engine_event(&event),
                LogOp::Call(call, tenant, at, fact) => recorder.call(&call, tenant, at, fact),
            }
        }
        if let Err(error) = recorder.flush().await {
            let failed = failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            tracing::error!(%error, failures = failed, "event log append failed (kept, retried)");
        }
        if durable.send(last).is_err() {
            return;
        }
    }
}

/// What the end of a play means.
#[derive(Debug, Clone)]
enum PlayPurpose {
    /// The flow's request (`None`: music on hold, or a last prompt
    /// before hanging up).
    Flow(Option<RequestId>),
    /// The voicemail greeting and beep: record the message next.
    Greeting { mailbox: String },
}

/// The answer of a CRM lookup, back from its task.
#[derive(Debug)]
pub(crate) struct HttpDone {
    call: CallId,
    request: RequestId,
    result: Result<serde_json::Map<String, serde_json::Value>, HttpFailure>,
}

/// The largest webhook answer read; a longer one is a bad body.
const MAX_HTTP_BODY: usize = 64 * 1024;

impl ContactCenter {
    /// The contact center of `config` (`None` without `[contact_center]`);
    /// relative paths are taken from `base`.
    pub(crate) async fn from_config(
        config: &Config,
        base: &Path,
        relay: Arc<MediaDriver>,
        http_done: mpsc::UnboundedSender<HttpDone>,
        durable: mpsc::UnboundedSender<u64>,
        now: Instant,
    ) -> anyhow::Result<Option<ContactCenter>> {
        let Some(raw) = config.contact_center.clone() else {
            return Ok(None);
        };
        let tenants: BTreeMap<String, String> = config
            .tenants
            .iter()
            .map(|(name, tenant)| (name.as_str().to_owned(), tenant.teams_tenant_id.clone()))
            .collect();
        let mut center_config = CenterConfig::from_value(raw, &tenants, base)?;
        center_config.presence_from_graph = config.graph.is_some();
        let prompts = prompt_set(&center_config)?;
        let mut names: Vec<String> = prompts.names().map(str::to_owned).collect();
        names.sort();
        let center = Center::new(&center_config, &names, now)?;
        let database = &center_config.database;
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(database)
                .await
                .with_context(|| format!("opening the event log {}", database.display()))?,
        );
        let recorder = Recorder::resume(store, WallClock::new(now, SystemTime::now())).await?;
        let run = recorder.run();
        tracing::info!(
            prompts = names.len(),
            log = %database.display(),
            run,
            closed = recorder.closed_on_resume(),
            "contact center started"
        );
        let (writer, batches) = mpsc::unbounded_channel();
        let log_failures = Arc::new(std::sync::atomic::AtomicU64::new(0));
        tokio::spawn(write_log(
            recorder,
            batches,
            durable,
            Arc::clone(&log_failures),
        ));
        Ok(Some(ContactCenter {
            center,
            layouts: layout::Layouts::default(),
            recorded: std::collections::HashSet::new(),
            relay,
            prompts,
            writer,
            log_failures,
            run,
            held: VecDeque::new(),
            next_batch: 1,
            callers: HashMap::new(),
            codecs: HashMap::new(),
            plays: HashMap::new(),
            voicemails: HashMap::new(),
            next_play: 1,
            http: http_client()?,
            http_done,
            http_failures: 0,
            voicemail_dir: center_config.voicemail.clone(),
            recordings: match &center_config.recordings {
                Some(dir) => {
                    std::fs::create_dir_all(dir).with_context(|| {
                        format!("cannot create the recordings directory {}", dir.display())
                    })?;
                    Some(dir.clone())
                }
                None => None,
            },
        }))
    }

    /// When [`ContactCenter::handle_timeout`] is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.center.poll_timeout()
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.center.handle_timeout(now);
    }

    /// Whether [`ContactCenter::commit`] has something to do.
    pub(crate) fn has_work(&self) -> bool {
        self.center.has_output()
    }

    /// Sends the center's events to the log's writer and holds its
    /// actions until the writer says they are durable
    /// ([`ContactCenter::handle_durable`]); without events, the actions
    /// run at once. The SIP loop never waits for the disk.
    pub(crate) fn commit(&mut self, b2bua: &mut B2bua) {
        let ops = self.record();
        let actions: Vec<Action> = std::iter::from_fn(|| self.center.poll_action()).collect();
        if ops.is_empty() && self.held.is_empty() {
            return self.act(b2bua, actions, Instant::now());
        }
        let id = self.next_batch;
        self.next_batch += 1;
        if self.writer.send(LogBatch { id, ops }).is_err() {
            tracing::error!("the event log writer stopped: actions run undurably");
            return self.act(b2bua, actions, Instant::now());
        }
        self.held.push_back((id, actions));
    }

    /// The writer made every batch up to `id` durable: their actions run.
    pub(crate) fn handle_durable(&mut self, b2bua: &mut B2bua, id: u64, now: Instant) {
        while self.held.front().is_some_and(|(batch, _)| *batch <= id) {
            if let Some((_, actions)) = self.held.pop_front() {
                self.act(b2bua, actions, now);
            }
        }
    }

    /// What the log must get for the center's events and call facts:
    /// links and starts first, the engine's events, then ends.
    fn record(&mut self) -> Vec<LogOp> {
        let mut ops = Vec::new();
        let mut ends = Vec::new();
        while let Some(fact) = self.center.poll_fact() {
            let key = self.call_key(fact.call);
            let stored = match fact.fact {
                Fact::Queued(interaction) => {
                    ops.push(LogOp::Link(interaction, key));
                    continue;
                }
                Fact::Started { caller, did } => store::CallFact::Started { caller, did },
                Fact::FlowStep { flow, node } => store::CallFact::FlowStep { flow, node },
                Fact::Transferred { target } => store::CallFact::Transferred { target },
                Fact::Ended {
                    by_caller,
                    connected,
                } => {
                    let cause = match (by_caller, connected) {
                        (true, _) => EndCause::CallerHangup,
                        (false, true) => EndCause::AgentHangup,
                        (false, false) => EndCause::System,
                    };
                    let ended = store::CallFact::Ended { cause };
                    ends.push(LogOp::Call(key, fact.tenant, fact.at, ended));
                    continue;
                }
            };
            ops.push(LogOp::Call(key, fact.tenant, fact.at, stored));
        }
        while let Some(event) = self.center.poll_event() {
            tracing::info!(seq = event.seq, kind = ?event.kind, "acd");
            ops.push(LogOp::Engine(event));
        }
        while let Some((call, event)) = self.center.poll_flow_event() {
            tracing::info!(%call, kind = ?event.kind, "flow");
        }
        ops.extend(ends);
        ops
    }

    /// The log's record key of a call (as [`Recorder::call_key`]).
    fn call_key(&self, call: CallId) -> String {
        format!("run{}/call{}", self.run, call.0)
    }

    /// A B2BUA event; returns whether it was about a contact-center call.
    pub(crate) fn handle_b2bua_event(&mut self, event: &B2buaEvent, now: Instant) -> bool {
        match event {
            B2buaEvent::LocalCallStarted {
                call,
                leg,
                codec,
                tenant,
                did,
                caller,
                flow,
                ..
            } => {
                let key = RelayAnchor::key(*call, *leg, 0);
                self.callers.insert(*call, key);
                // Only legs switchboard talks on get a codec (and so a
                // DTMF listener and RTCP reports): relayed legs stay lean.
                match codec.as_ref().and_then(crate::relay::leg_codec) {
                    Some(codec) => {
                        self.codecs.insert(*call, codec);
                        if let Err(error) = self.relay.detached().set_codec(key, codec) {
                            tracing::error!(%call, %error, "no codec on the caller's leg");
                        }
                    }
                    None => {
                        tracing::warn!(%call, "the caller's codec is not G.711: no prompts or in-band digits")
                    }
                }
                let mut attributes = BTreeMap::from([("called".to_owned(), did.to_string())]);
                if let Some(caller) = caller {
                    attributes.insert("caller".to_owned(), caller.to_string());
                }
                self.center.handle_call_started(
                    now,
                    SystemTime::now(),
                    (*call, *leg),
                    tenant.as_str(),
                    flow,
                    attributes,
                );
            }
            // Tied to the leg that sent it, as the relay's digits are: the
            // center takes only the caller's as its input.
            B2buaEvent::Info {
                call,
                leg,
                content_type,
                body,
            } if self.center.has_call(*call) => {
                if let Ok(info) = InfoDigit::parse(content_type, body) {
                    self.center
                        .handle_digit(now, (*call, *leg), info.digit.as_char());
                }
            }
            B2buaEvent::DialAnswered {
                call, leg, codec, ..
            } if self.center.has_call(*call) => {
                let codec = codec.as_ref().and_then(crate::relay::leg_codec);
                self.answered(*call, *leg, codec);
                self.center.handle_dial_answered(now, *call, *leg);
            }
            B2buaEvent::DialFailed {
                call, leg, status, ..
            } => {
                if self.center.is_party(*call, *leg) {
                    self.center.handle_party_left(now, *call, *leg);
                } else {
                    self.center.handle_dial_failed(now, *leg, *status);
                }
            }
            B2buaEvent::PartyLeft { call, leg, .. } if self.center.has_call(*call) => {
                self.layouts.forget_leg(RelayAnchor::key(*call, *leg, 0));
                self.center.handle_party_left(now, *call, *leg);
            }
            B2buaEvent::CallEnded { call, reason, .. } if self.center.has_call(*call) => {
                self.callers.remove(call);
                self.codecs.remove(call);
                self.layouts.forget_call(*call);
                self.recorded.remove(call);
                self.plays.retain(|_, (c, _)| c != call);
                let by_caller = matches!(reason, EndReason::Hangup(Party::Caller));
                self.center.handle_call_ended(now, *call, by_caller);
                tracing::debug!(stats = ?self.center.stats(), "contact center");
            }
            _ => return false,
        }
        true
    }

    /// The center's counters, the CRM lookups and event-log appends
    /// that failed.
    pub(crate) fn counters(&self) -> (crate::center::CenterStats, u64, u64) {
        let log_failures = self.log_failures.load(std::sync::atomic::Ordering::Relaxed);
        (self.center.stats(), self.http_failures, log_failures)
    }

    /// A CRM lookup answered (or failed).
    pub(crate) fn handle_http_done(&mut self, done: HttpDone, now: Instant) {
        if let Err(error) = &done.result {
            self.http_failures += 1;
            tracing::warn!(call = %done.call, %error, failures = self.http_failures, "CRM lookup failed");
        }
        self.center
            .handle_http_result(now, done.call, done.request, done.result);
    }

    /// A dialled leg of a contact-center call answered with `codec`: it
    /// gets the codec (so it can hear music and be mixed), the first leg
    /// of a callback becomes the one prompts play to, the first party to
    /// join a caller starts the call's recording.
    fn answered(&mut self, call: CallId, leg: sbc::LegId, codec: Option<media::LegCodec>) {
        let key = RelayAnchor::key(call, leg, 0);
        let Some(codec) = codec else {
            tracing::warn!(%call, "the answered leg's codec is not G.711: no music, mixing or recording");
            return;
        };
        if let Err(error) = self.relay.detached().set_codec(key, codec) {
            tracing::error!(%call, %error, "no codec on the answered leg");
            return;
        }
        if self.callers.get(&call) == Some(&key) || !self.codecs.contains_key(&call) {
            self.codecs.insert(call, codec);
            return;
        }
        if self.recorded.insert(call) {
            self.start_recording(call, leg);
        }
    }

    /// A request of the API.
    pub(crate) fn handle_api(&mut self, command: ApiCommand, now: Instant) {
        match command {
            ApiCommand::Snapshot(reply) => {
                let _ = reply.send(self.center.snapshot(now));
            }
            ApiCommand::Call {
                call,
                request,
                reply,
            } => {
                let _ = reply.send(self.call_request(now, CallId(call), request));
            }
            ApiCommand::Agent {
                tenant,
                agent,
                request,
                reply,
            } => {
                let result = self
                    .center
                    .handle_agent_request(now, &tenant, &agent, request)
                    .map_err(|error| match error {
                        AgentRequestError::UnknownAgent { .. }
                        | AgentRequestError::UnknownQueue(_) => {
                            Refusal::NotFound(error.to_string())
                        }
                        AgentRequestError::Refused(_) => Refusal::Conflict(error.to_string()),
                    });
                let _ = reply.send(result);
            }
        }
    }

    fn call_request(
        &mut self,
        now: Instant,
        call: CallId,
        request: CallRequest,
    ) -> Result<(), Refusal> {
        let target = |center: &Center, target: Target| match target {
            Target::User(user) => center
                .resolve_user(call, &user)
                .map(DialTarget::TeamsUser)
                .ok_or_else(|| Refusal::NotFound(format!("no Teams user {user}"))),
            Target::Number(number) => E164::parse(&number)
                .map(DialTarget::Pstn)
                .map_err(|_| Refusal::BadRequest(format!("{number} is not E.164"))),
        };
        let request = match request {
            CallRequest::Supervise { user, mode } => Request::Supervise {
                supervisor: target(&self.center, Target::User(user))?,
                mode,
            },
            CallRequest::SetSuperviseMode(mode) => Request::SetSuperviseMode(mode),
            CallRequest::AddParty(to) => Request::AddParty(target(&self.center, to)?),
            CallRequest::Consult(to) => Request::Consult(target(&self.center, to)?),
            CallRequest::CompleteConsult => Request::CompleteConsult,
            CallRequest::MergeConsult => Request::MergeConsult,
            CallRequest::CancelConsult => Request::CancelConsult,
            CallRequest::PauseRecording(pause) => return self.pause_recording(call, pause),
            CallRequest::HangUp => Request::HangUp,
        };
        self.center
            .handle_request(now, call, request)
            .map_err(|error| match error {
                RequestError::NoSuchCall => Refusal::NotFound(error.to_string()),
                _ => Refusal::Conflict(error.to_string()),
            })
    }

    /// Pauses (or resumes) the call's recording: the file holds silence
    /// meanwhile, including what was said just before the pause.
    fn pause_recording(&mut self, call: CallId, pause: bool) -> Result<(), Refusal> {
        if !self.center.has_call(call) {
            return Err(Refusal::NotFound(format!("no call {}", call.0)));
        }
        let id = self
            .layouts
            .recording_of(call)
            .ok_or_else(|| Refusal::Conflict("the call is not being recorded".to_owned()))?;
        let detached = self.relay.detached();
        let done = if pause {
            detached.pause_recording(id)
        } else {
            detached.resume_recording(id)
        };
        done.map_err(|error| Refusal::Conflict(error.to_string()))?;
        tracing::info!(%call, pause, "recording paused or resumed");
        Ok(())
    }

    /// A Teams user's presence from Microsoft Graph.
    pub(crate) fn handle_presence(&mut self, now: Instant, update: &crate::graph::PresenceUpdate) {
        let agent =
            self.center
                .handle_presence(now, &update.tenant_id, &update.object_id, update.presence);
        tracing::info!(
            user = %update.object_id,
            presence = ?update.presence,
            activity = %update.activity,
            agent,
            "Teams presence"
        );
    }

    /// The agents whose presence to watch, by Teams tenant.
    pub(crate) fn watched_tenants(&self) -> Vec<crate::graph::WatchedTenant> {
        let mut tenants: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (tenant, object_id) in self.center.watched_users() {
            tenants.entry(tenant).or_default().push(object_id);
        }
        tenants
            .into_iter()
            .map(|(tenant_id, object_ids)| crate::graph::WatchedTenant {
                tenant_id,
                object_ids,
            })
            .collect()
    }

    /// Starts recording the call with the party on `leg` when calls are
    /// recorded; the recording ends with the call (its legs freed).
    fn start_recording(&mut self, call: CallId, leg: sbc::LegId) {
        let (Some(dir), Some(caller)) = (&self.recordings, self.callers.get(&call)) else {
            return;
        };
        let path = dir.join(format!("{}.wav", self.call_key(call).replace('/', "-")));
        let agent = RelayAnchor::key(call, leg, 0);
        let detached = self.relay.detached();
        // The recorder decodes both legs with the codecs they were given.
        if !self.codecs.contains_key(&call) {
            tracing::warn!(%call, "call not recorded: its codec is not G.711");
            return;
        }
        let caller = *caller;
        let started = detached.start_recording(caller, agent, &path, PauseMode::Silence);
        match started {
            Ok(id) => {
                tracing::info!(%call, path = %path.display(), "recording");
                self.layouts.recording_started(id, caller, agent);
            }
            Err(error) => tracing::error!(%call, %error, "call not recorded"),
        }
    }

    /// A relay event: digits (from any leg with a codec; the center takes
    /// the caller's only), prompt and recording ends.
    pub(crate) fn handle_media_event(&mut self, event: &MediaEvent, now: Instant) {
        match event {
            MediaEvent::Dtmf { leg, digit, .. } => {
                let call = RelayAnchor::call_of(*leg);
                let leg = RelayAnchor::leg_of(*leg);
                self.center.handle_digit(now, (call, leg), digit.as_char());
            }
            MediaEvent::PlayFinished { request, end, .. } => {
                let Some((call, purpose)) = self.plays.remove(request) else {
                    return;
                };
                // A play cut short by a key press or replaced by the
                // next one is no news for the flow.
                match (purpose, *end == PlayEnd::Completed) {
                    (PlayPurpose::Flow(flow_request), true) => {
                        self.center.handle_prompt_finished(now, call, flow_request);
                    }
                    (PlayPurpose::Greeting { mailbox }, _) => {
                        self.record_message(now, call, &mailbox);
                    }
                    _ => {}
                }
            }
            MediaEvent::RecordingFinished {
                id,
                path,
                duration,
                paused,
                dropped_frames,
                has_speech,
                end,
            } => {
                self.layouts.recording_finished(*id);
                tracing::info!(
                    path = %path.display(),
                    secs = duration.as_secs_f64(),
                    paused_secs = paused.as_secs_f64(),
                    dropped_frames,
                    ?has_speech,
                    ?end,
                    "recording finished"
                );
                if let Some(call) = self.voicemails.remove(id) {
                    self.center.handle_voicemail_done(now, call);
                }
            }
            _ => {}
        }
    }

    /// Records the caller's message into `<data_dir>/voicemail/<mailbox>/`.
    fn record_message(&mut self, now: Instant, call: CallId, mailbox: &str) {
        let Some(key) = self.callers.get(&call).copied() else {
            return;
        };
        // Mailbox names come from flow files: keep them to one path part.
        let safe: String = mailbox
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "@.-_".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = self.voicemail_dir.join(&safe);
        let name = format!("{}.wav", self.call_key(call).replace('/', "-"));
        let started = std::fs::create_dir_all(&dir)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                self.relay
                    .detached()
                    .start_voicemail(key, dir.join(&name), VoicemailConfig::default())
                    .map_err(|e| e.to_string())
            });
        match started {
            Ok(id) => {
                self.voicemails.insert(id, call);
            }
            Err(error) => {
                tracing::error!(%call, %error, "no voicemail recorded: call ended");
                self.center.handle_voicemail_done(now, call);
            }
        }
    }

    /// Carries out the center's actions.
    fn act(&mut self, b2bua: &mut B2bua, actions: Vec<Action>, now: Instant) {
        for action in actions {
            match action {
                Action::Dial {
                    call,
                    interaction,
                    agent,
                    number,
                } => {
                    let leg = b2bua.dial(call, DialTarget::TeamsUser(number), now);
                    self.center
                        .handle_dialled(now, call, interaction, agent, leg);
                }
                Action::CancelDial { call, leg } => b2bua.cancel_dial(call, leg, now),
                Action::Transfer { call, target } => {
                    let leg = b2bua.dial(call, target, now);
                    self.center.handle_transfer_dialled(call, leg);
                }
                Action::Http {
                    call,
                    request,
                    url,
                    body,
                    timeout,
                } => {
                    let (client, done) = (self.http.clone(), self.http_done.clone());
                    tokio::spawn(async move {
                        let result = tokio::time::timeout(timeout, lookup(&client, &url, &body))
                            .await
                            .unwrap_or(Err(HttpFailure::Timeout));
                        // The loop is gone at shutdown: nothing to report to.
                        let _ = done.send(HttpDone {
                            call,
                            request,
                            result,
                        });
                    });
                }
                Action::HangUp { call } => b2bua.hang_up(call, now),
                Action::Originate {
                    tenant,
                    interaction,
                    agent,
                    number,
                    caller_id,
                } => {
                    let tenant = sbc::TenantName::new(tenant);
                    let target = DialTarget::TeamsUser(number);
                    let placed = b2bua.originate(&tenant, target, caller_id, now);
                    if let Ok((call, leg)) = &placed {
                        self.callers.insert(*call, RelayAnchor::key(*call, *leg, 0));
                    }
                    self.center
                        .handle_originated(now, interaction, agent, placed);
                }
                Action::AddParty { call, target } => {
                    let leg = b2bua.add_party(call, target, None, now);
                    self.center.handle_party_dialled(call, leg);
                }
                Action::HangUpParty { call, leg } => {
                    if let Err(error) = b2bua.hang_up_party(call, leg, now) {
                        tracing::warn!(%call, %error, "party not hung up");
                    }
                }
                Action::Pair { call, a, b } => {
                    if let Err(error) = b2bua.pair(call, a, b, now) {
                        tracing::warn!(%call, %error, "legs not paired");
                    }
                }
                Action::Arrange { call, layout } => self.arrange(call, &layout),
                Action::DialCustomer {
                    call,
                    interaction,
                    number,
                    caller_id,
                } => {
                    let leg = b2bua.dial_as(call, DialTarget::Pstn(number), caller_id, now);
                    self.center
                        .handle_customer_dialled(now, call, interaction, leg);
                }
                Action::Voicemail {
                    call,
                    mailbox,
                    prompts,
                } => {
                    let mut prompts = prompts;
                    prompts.push("beep".to_owned());
                    self.play(call, prompts, false, PlayPurpose::Greeting { mailbox });
                }
                Action::Play { .. }
                | Action::StopPlay { .. }
                | Action::Hold { .. }
                | Action::Announce { .. } => self.media(action),
            }
        }
    }

    /// Plays, holds and announcements on a caller's leg.
    fn media(&mut self, action: Action) {
        let call = match &action {
            Action::Play { call, .. }
            | Action::StopPlay { call }
            | Action::Hold { call }
            | Action::Announce { call, .. } => *call,
            _ => return,
        };
        let Some(key) = self.callers.get(&call).copied() else {
            return;
        };
        let relay = Arc::clone(&self.relay);
        let detached = relay.detached();
        let result = match action {
            Action::Play {
                request,
                prompts,
                barge_in,
                ..
            } => {
                return self.play(call, prompts, barge_in, PlayPurpose::Flow(request));
            }
            Action::StopPlay { .. } => detached.stop_playing(key),
            Action::Hold { .. } => return self.hold_music(call, key),
            Action::Announce { position, ewt, .. } => {
                let mut items = match self.prompts.queue_position(position) {
                    Ok(items) => items,
                    Err(error) => {
                        tracing::warn!(%call, %error, "no position announcement");
                        return;
                    }
                };
                if let Some(wait) = ewt {
                    items.extend(self.prompts.estimated_wait(wait).unwrap_or_default());
                }
                let id = PlayRequestId(self.next_play);
                self.next_play += 1;
                detached.update_source(key, move |source| {
                    let hold = source
                        .as_any_mut()
                        .and_then(|any| any.downcast_mut::<HoldPlayer>());
                    if let Some(hold) = hold {
                        // A refused sequence leaves the music playing.
                        let _ = hold.announce(id, items, false);
                    }
                })
            }
            _ => return,
        };
        if let Err(error) = result {
            tracing::error!(%call, %error, "media command not queued");
        }
    }

    /// Music on hold (or silence between announcements) on `key`.
    fn hold_music(&mut self, call: CallId, key: LegKey) {
        let music = self.prompts.get(MUSIC_ON_HOLD).ok().cloned();
        let player = match HoldPlayer::new(self.prompts.rate(), music) {
            Ok(player) => player,
            Err(error) => return tracing::warn!(%call, %error, "no music on hold"),
        };
        let id = self.play_id(call, PlayPurpose::Flow(None));
        if let Err(error) = self.relay.detached().play(key, id, Box::new(player)) {
            tracing::error!(%call, %error, "music on hold not queued");
        }
    }

    fn play_id(&mut self, call: CallId, purpose: PlayPurpose) -> PlayRequestId {
        let id = PlayRequestId(self.next_play);
        self.next_play += 1;
        self.plays.insert(id, (call, purpose));
        id
    }

    /// Plays `prompts` for `purpose` on the caller's leg. A play that
    /// cannot start counts as played: the flow goes on, a voicemail
    /// greeting goes straight to recording.
    fn play(&mut self, call: CallId, prompts: Vec<String>, barge_in: bool, purpose: PlayPurpose) {
        let Some(key) = self.callers.get(&call).copied() else {
            return;
        };
        let names: Vec<&str> = prompts.iter().map(String::as_str).collect();
        let id = self.play_id(call, purpose);
        let mut player = PromptPlayer::new(self.prompts.rate());
        let played = self
            .prompts
            .say(&names)
            .map_err(|e| e.to_string())
            .and_then(|items| player.play(id, items, barge_in).map_err(|e| e.to_string()))
            .and_then(|()| {
                self.relay
                    .detached()
                    .play(key, id, Box::new(player))
                    .map_err(|e| e.to_string())
            });
        let Err(error) = played else {
            return;
        };
        tracing::warn!(%call, %error, "prompt not played");
        match self.plays.remove(&id) {
            Some((_, PlayPurpose::Flow(request))) => {
                self.center
                    .handle_prompt_finished(Instant::now(), call, request);
            }
            Some((_, PlayPurpose::Greeting { mailbox })) => {
                self.record_message(Instant::now(), call, &mailbox);
            }
            None => {}
        }
    }
}

/// The HTTP client of CRM lookups: rustls with ring and the Mozilla
/// roots, HTTP/1.1, no redirects (a webhook that moves is a failure).
fn http_client() -> anyhow::Result<reqwest::Client> {
    // reqwest takes rustls' process-wide provider; the SIP transport
    // passes ring explicitly, so installing it here changes nothing else.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("the HTTP client of CRM lookups")
}

/// POSTs `body` to `url` and reads the JSON object it answers.
pub(crate) async fn lookup(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Map<String, serde_json::Value>, HttpFailure> {
    let transport = |error: reqwest::Error| HttpFailure::Transport(error.to_string());
    let mut response = client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(transport)?;
    if !response.status().is_success() {
        return Err(HttpFailure::Status(response.status().as_u16()));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if bytes.len() + chunk.len() > MAX_HTTP_BODY {
            return Err(HttpFailure::BadBody);
        }
        bytes.extend_from_slice(&chunk);
    }
    match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(HttpFailure::BadBody),
    }
}

/// The prompts flows may name: the built-in set, the files of
/// `prompts_dir`, and there first (with `espeak-ng`, when installed) the
/// default phrases and the configured texts spoken into files that are
/// missing. Without `espeak-ng` a configured text that has no file is a
/// beep, with a warning.
fn prompt_set(config: &CenterConfig) -> anyhow::Result<PromptSet> {
    let rate = MediaRate::Narrowband;
    let Some(dir) = &config.prompts_dir else {
        let mut set = PromptSet::builtin(rate);
        placeholders(&mut set, config)?;
        return Ok(set);
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the prompts directory {}", dir.display()))?;
    let speaker = EspeakNg::new();
    match speaker.generate_missing(dir) {
        Ok(_) => {
            for (name, text) in &config.prompt_texts {
                let file = dir.join(format!("{name}.wav"));
                if !file.exists() {
                    speaker
                        .synthesize(name, text, &file)
                        .with_context(|| format!("prompt {name}"))?;
                }
            }
        }
        Err(PromptError::SynthesizerNotFound { .. }) => {
            tracing::warn!("espeak-ng not found: built-in tones stand in for missing prompts");
        }
        Err(error) => return Err(error).context("generating the default prompts"),
    }
    let mut set = PromptSet::load(dir, rate).context("loading prompts")?;
    placeholders(&mut set, config)?;
    Ok(set)
}

/// A beep for every configured text that has no prompt yet.
fn placeholders(set: &mut PromptSet, config: &CenterConfig) -> anyhow::Result<()> {
    let beep = set.get("beep").context("the built-in beep")?.clone();
    for name in config.prompt_texts.keys() {
        if set.get(name).is_err() {
            tracing::warn!(prompt = %name, "no recording and no espeak-ng: a beep stands in");
            set.insert(name.clone(), beep.clone())?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-connection HTTP server answering `response` (raw bytes) to
    /// the first request; returns its URL and the request it got.
    async fn server(response: Vec<u8>) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/lookup", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then the body its Content-Length announces.
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
            }
            socket.write_all(&response).await.unwrap();
            let _ = socket.shutdown().await;
            String::from_utf8_lossy(&request).into_owned()
        });
        (url, task)
    }

    fn http(status: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[tokio::test]
    async fn a_lookup_posts_json_and_reads_the_object() {
        let client = http_client().unwrap();
        let (url, request) = server(http("200 OK", r#"{"tier":"gold","balance":12}"#)).await;
        let body = serde_json::json!({ "caller": "+12065550199" });
        let answer = lookup(&client, &url, &body).await.unwrap();
        assert_eq!(answer["tier"], "gold");
        assert_eq!(answer["balance"], 12);
        let request = request.await.unwrap();
        assert!(
            request.starts_with("POST /lookup HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request
            .to_ascii_lowercase()
            .contains("content-type: application/json"));
        assert!(
            request.ends_with(r#"{"caller":"+12065550199"}"#),
            "{request}"
        );
    }

    #[tokio::test]
    async fn bad_answers_are_failures_not_panics() {
        let client = http_client().unwrap();
        let body = serde_json::json!({});
        let (url, _) = server(http("500 Internal Server Error", "{}")).await;
        assert_eq!(
            lookup(&client, &url, &body).await,
            Err(HttpFailure::Status(500))
        );
        let (url, _) = server(http("200 OK", "[1, 2]")).await;
        assert_eq!(
            lookup(&client, &url, &body).await,
            Err(HttpFailure::BadBody)
        );
        let (url, _) = server(http("200 OK", "not json")).await;
        assert_eq!(
            lookup(&client, &url, &body).await,
            Err(HttpFailure::BadBody)
        );
        let huge = format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_HTTP_BODY));
        let (url, _) = server(http("200 OK", &huge)).await;
        assert_eq!(
            lookup(&client, &url, &body).await,
            Err(HttpFailure::BadBody)
        );
        // Nobody listening.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", closed.local_addr().unwrap());
        drop(closed);
        assert!(matches!(
            lookup(&client, &url, &body).await,
            Err(HttpFailure::Transport(_))
        ));
    }
}
