//! `switchboard serve`: the SBC's driver.
//!
//! The B2BUA (`sbc::B2bua`) is sans-IO; this module only moves bytes and
//! timers for it, as quinn's `ConnectionDriver` does for `quinn-proto`:
//! messages from the transport go to `handle_message`, due timers to
//! `handle_timeout`. What it wants sent goes out from the loop itself when
//! that cannot block (UDP to an address: `try_send`); everything else (DNS
//! per RFC 3263 with the config's `[hosts]` map first, TCP/TLS connects)
//! goes to a sender task per destination ("lane"), which reports failures
//! back as transport errors. Messages to one destination stay in order
//! (a 180 never overtakes the 100 before it: once one waits in its lane,
//! the next ones queue behind it), while a slow DNS answer or a connect
//! timeout towards one peer never holds up the others.
//!
//! What the transport cannot parse never reaches the B2BUA: it is answered
//! here from its bytes (`sbc::response_for_unparsable`: 400 naming the
//! defect, 505 for another SIP version, 513 for an oversized message,
//! RFC 3261 §21.4.1, §21.5.6, §21.4.11) by a task of its own, or dropped
//! when it is too broken to answer.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use media::{DriverConfig, DtmfDigit, MediaDriver, MediaEvent, RelayConfig};
use sbc::{B2bua, B2buaEvent, B2buaSettings, Config, NextHop, Outgoing, ProxyHealth, Stats};
use sip::Response;
use sip_transport::{
    CertificateFiles, ClientAuth, ConnectionId, Dns, Flow, Inbound, ResolvedTarget, SipResolver,
    SipResolverConfig, SipTransport, Target, TlsClient, TlsClientFiles, TlsServer, TlsServerFiles,
    TransportConfig, TransportError, TransportKind, Unparsable,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::contact::{ContactCenter, HttpDone};
use crate::metrics::Metrics;
use crate::pii::Pii;
use crate::relay::RelayAnchor;

/// Answers to unparsable messages waiting for their task; beyond this a
/// flood's answers are dropped.
const ANSWER_QUEUE: usize = 1024;

/// Loads `path` and runs the SBC until Ctrl-C.
pub(crate) async fn run(path: &Path) -> anyhow::Result<()> {
    // Relative paths in the file are taken from the working directory,
    // as for the TLS files.
    run_config(load_config(path)?, Path::new(".")).await
}

/// Runs the SBC on `config` until Ctrl-C; relative paths of the contact
/// center are taken from `base`.
pub(crate) async fn run_config(config: Config, base: &Path) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let (transport, inbound, unparsable) = SipTransport::with_unparsable(transport_config(&config));
    let tls_server = tls_server(&config)?;
    let mut udp_local = Vec::new();
    for listener in &config.sbc.listen {
        let bound = match listener.transport {
            sbc::Transport::Udp => {
                let addr = transport.bind_udp(listener.addr).await?;
                udp_local.push(addr);
                addr
            }
            sbc::Transport::Tcp => transport.listen_tcp(listener.addr).await?,
            sbc::Transport::Tls => {
                let server = tls_server
                    .clone()
                    .context("a tls listener needs [sbc.tls] cert and key")?;
                transport.listen_tls(listener.addr, server).await?
            }
        };
        tracing::info!(transport = ?listener.transport, %bound, "listening");
    }
    let tls_client = tls_client(&config)?;
    transport.set_tls_client(tls_client.clone());
    let reloader = tokio::spawn(reload_on_hangup(tls_server, tls_client));
    let resolver = SipResolver::new(resolver_config(&config))?;

    let stats = Arc::new(Stats::default());
    raise_open_files(&config.media);
    let (relay, media_events) = start_relay(&config)?;
    let metrics = Arc::new(Metrics {
        stats: Arc::clone(&stats),
        relay: Arc::clone(&relay),
        calls: std::sync::atomic::AtomicU64::new(0),
        center: crate::metrics::CenterCounters::default(),
        api: Arc::default(),
        graph: std::sync::OnceLock::new(),
    });
    if let Some(addr) = config.metrics {
        crate::metrics::start(addr, Arc::clone(&metrics)).await?;
    }
    let (http_done, http_results) = mpsc::unbounded_channel();
    let (durable_tx, durable) = mpsc::unbounded_channel();
    let center = ContactCenter::from_config(
        &config,
        base,
        Arc::clone(&relay),
        http_done,
        durable_tx,
        Instant::now(),
    )
    .await?;
    let shutdown = CancellationToken::new();
    let (presence, graph_router, graph_service) = match (&config.graph, &center) {
        (Some(raw), Some(center)) => {
            let graph = crate::graph::GraphConfig::from_value(raw.clone(), base)?;
            if graph.notification_url.is_some() && config.api.is_none() {
                anyhow::bail!("[graph] notification_url needs [api] listen to receive them");
            }
            let (service, updates) = crate::graph::PresenceService::start(
                graph,
                center.watched_tenants(),
                shutdown.clone(),
            )?;
            let _ = metrics.graph.set(service.counters());
            tracing::info!(
                notifications = crate::graph::NOTIFICATION_PATH,
                lifecycle = crate::graph::LIFECYCLE_PATH,
                "Teams presence from Microsoft Graph"
            );
            let router = service.router();
            (Some(updates), Some(router), Some(service))
        }
        (Some(_), None) => anyhow::bail!("[graph] needs a [contact_center] (its agents' presence)"),
        (None, _) => (None, None, None),
    };
    let (api_tx, api_commands) = mpsc::channel(64);
    if let Some(raw) = config.api.clone() {
        let api_config = crate::api::ApiConfig::from_value(raw, base)?;
        if center.is_none() {
            anyhow::bail!("[api] needs a [contact_center]");
        }
        let counters = Arc::clone(&metrics.api);
        crate::api::start(&api_config, api_tx, counters, graph_router).await?;
    }
    let b2bua = B2bua::new(
        Arc::clone(&config),
        Arc::clone(&stats),
        B2buaSettings::default(),
        Box::new(RelayAnchor::new(relay, media_ip(&config))),
        Box::new(fill_random),
        Instant::now(),
    );
    let driver = Driver {
        b2bua,
        center,
        metrics,
        transport: transport.clone(),
        udp_local,
        lanes: HashMap::new(),
        lanes_swept_at: 0,
    };
    let center_inputs = CenterInputs {
        http_results,
        durable,
        api: api_commands,
        presence,
    };
    let result = driver
        .run(inbound, unparsable, media_events, center_inputs, resolver)
        .await;
    // Graph subscriptions are deleted on the way out.
    shutdown.cancel();
    if let Some(service) = graph_service {
        let _ = tokio::time::timeout(Duration::from_secs(4), service.stopped()).await;
    }
    reloader.abort();
    transport.shutdown().await;
    result
}

/// On SIGHUP, re-reads the TLS certificates and keys: new handshakes use
/// them, open connections keep theirs. A file that fails to load leaves the
/// old configuration in place.
async fn reload_on_hangup(server: Option<TlsServer>, client: Option<TlsClient>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(err) => {
            tracing::warn!(%err, "no SIGHUP handler: certificates reload only on restart");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        if let Some(server) = &server {
            match server.reload() {
                Ok(()) => tracing::info!("reloaded the TLS server certificates"),
                Err(err) => tracing::error!(%err, "TLS server certificates not reloaded"),
            }
        }
        if let Some(client) = &client {
            match client.reload() {
                Ok(()) => tracing::info!("reloaded the TLS client certificate and roots"),
                Err(err) => tracing::error!(%err, "TLS client certificate not reloaded"),
            }
        }
    }
}

fn load_config(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    Ok(Config::from_toml_str(&text, &path.display().to_string())?)
}

/// Random bytes from the operating system (SRTP keys, nonce secret, ids).
fn fill_random(buf: &mut [u8]) {
    if let Err(err) = getrandom::fill(buf) {
        // Without an entropy source no key can be trusted: stop the node
        // rather than hand out predictable SRTP keys.
        tracing::error!(%err, "the operating system gave no random bytes");
        std::process::abort();
    }
}

fn transport_config(config: &Config) -> TransportConfig {
    TransportConfig {
        advertised_host: config.sbc.advertised_host.clone(),
        ..TransportConfig::default()
    }
}

/// Descriptors switchboard keeps besides media sockets: SIP connections,
/// HTTP, databases, recordings being written.
const OTHER_FILES: u64 = 4096;

/// Raises the soft limit of open files to the hard one. Every media port
/// in use is a socket, so the usual soft limit of 1024 would refuse
/// calls at about 250 concurrent (two legs with RTP and RTCP each, or
/// 500 with rtcp-mux), long before the port range is used up. Logs a
/// warning when even the hard limit is below the port range plus
/// [`OTHER_FILES`]. Returns the soft limit before and after.
fn raise_open_files(media: &sbc::MediaSettings) -> Option<(u64, u64)> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(error) => {
            tracing::warn!(%error, "cannot read the open-file limit");
            return None;
        }
    };
    let needed = u64::from(media.ports.1 - media.ports.0) + 1 + OTHER_FILES;
    let raised = if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(error) => {
                tracing::warn!(%error, soft, hard, "cannot raise the open-file limit");
                soft
            }
        }
    } else {
        soft
    };
    if raised < needed {
        tracing::warn!(
            limit = raised,
            needed,
            "the open-file limit is below the media port range: calls will be refused \
             before the ports run out (raise it, e.g. LimitNOFILE= in the systemd unit)"
        );
    } else {
        tracing::info!(before = soft, limit = raised, "open-file limit");
    }
    Some((soft, raised))
}

/// Starts the RTP/SRTP relay's threads on `[media]`; its events come on
/// the returned channel (a thread moves them from the relay's std channel
/// to the async loop).
fn start_relay(
    config: &Config,
) -> anyhow::Result<(Arc<MediaDriver>, mpsc::UnboundedReceiver<MediaEvent>)> {
    let media = &config.media;
    let driver_config = DriverConfig {
        bind: media.bind.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        first_port: media.ports.0,
        last_port: media.ports.1,
        shards: media.threads,
        dscp: media.dscp,
        io: match media.io {
            sbc::MediaIoMode::Epoll => media::MediaIo::Epoll,
            sbc::MediaIoMode::Uring => media::MediaIo::Uring,
            sbc::MediaIoMode::Auto => media::MediaIo::Auto,
        },
        relay: RelayConfig {
            media_timeout: media.timeout,
            hold_timeout: media.hold_timeout,
            ..RelayConfig::default()
        },
        ..DriverConfig::default()
    };
    let (driver, events) =
        MediaDriver::start(driver_config).context("cannot start the media relay")?;
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("media-events".to_owned())
        .spawn(move || {
            for event in events {
                if tx.send(event).is_err() {
                    break;
                }
            }
        })?;
    tracing::info!(
        ports = %format_args!("{}-{}", media.ports.0, media.ports.1),
        threads = driver.shards(),
        io = ?driver.io(),
        "media relay started"
    );
    Ok((Arc::new(driver), rx))
}

/// The address media is anchored on (written in SDP): `[media]
/// advertised_ip`, else the advertised host if it is an IP, else the
/// first listener's.
fn media_ip(config: &Config) -> IpAddr {
    config
        .media
        .advertised_ip
        .or_else(|| {
            config
                .sbc
                .advertised_host
                .as_deref()
                .and_then(|host| host.parse().ok())
        })
        .or_else(|| config.sbc.listen.first().map(|l| l.addr.ip()))
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

fn tls_server(config: &Config) -> anyhow::Result<Option<TlsServer>> {
    let Some(tls) = &config.sbc.tls else {
        return Ok(None);
    };
    let client_auth = match &tls.ca_bundle {
        // Teams presents a client certificate; carriers on TLS may not.
        Some(ca_bundle) => ClientAuth::Optional {
            ca_bundle: ca_bundle.clone(),
        },
        None => ClientAuth::None,
    };
    let server = TlsServer::load(TlsServerFiles {
        certificates: vec![certificate_files(&tls.cert, &tls.key)],
        client_auth,
    })?;
    Ok(Some(server))
}

fn tls_client(config: &Config) -> anyhow::Result<Option<TlsClient>> {
    let Some(tls) = &config.sbc.tls else {
        return Ok(None);
    };
    let Some(ca_bundle) = &tls.ca_bundle else {
        return Ok(None);
    };
    let client = TlsClient::load(TlsClientFiles {
        ca_bundle: ca_bundle.clone(),
        certificate: Some(certificate_files(&tls.cert, &tls.key)),
    })?;
    Ok(Some(client))
}

fn certificate_files(chain: &Path, key: &Path) -> CertificateFiles {
    CertificateFiles {
        chain: PathBuf::from(chain),
        key: PathBuf::from(key),
    }
}

fn resolver_config(config: &Config) -> SipResolverConfig {
    let static_hosts = config
        .hosts
        .iter()
        .map(|(name, addrs)| {
            let addrs = addrs
                .iter()
                .map(|a| SocketAddr::new(a.ip, a.port.unwrap_or(0)))
                .collect();
            (name.to_owned(), addrs)
        })
        .collect();
    SipResolverConfig {
        static_hosts,
        dns: Dns::System,
        dns_timeout: Some(Duration::from_secs(2)),
    }
}

fn kind(transport: sbc::Transport) -> TransportKind {
    match transport {
        sbc::Transport::Udp => TransportKind::Udp,
        sbc::Transport::Tcp => TransportKind::Tcp,
        sbc::Transport::Tls => TransportKind::Tls,
    }
}

fn sbc_transport(kind: TransportKind) -> sbc::Transport {
    match kind {
        TransportKind::Udp => sbc::Transport::Udp,
        TransportKind::Tcp => sbc::Transport::Tcp,
        TransportKind::Tls => sbc::Transport::Tls,
    }
}

fn source(flow: &Flow) -> sbc::Source {
    sbc::Source {
        remote: flow.remote,
        transport: sbc_transport(flow.transport),
        tls_peer_names: flow
            .peer_certificate
            .as_ref()
            .map(|cert| {
                let mut names = cert.dns_names().to_vec();
                if names.is_empty() {
                    names.extend(cert.common_name().map(str::to_owned));
                }
                names
            })
            .unwrap_or_default(),
        connection: flow.connection.map(|id| sbc::ConnectionId(id.as_u64())),
    }
}

/// What the contact center gets from outside the SIP loop: CRM answers,
/// the event log's durability acknowledgements, API requests.
struct CenterInputs {
    http_results: mpsc::UnboundedReceiver<HttpDone>,
    durable: mpsc::UnboundedReceiver<u64>,
    api: mpsc::Receiver<crate::api::ApiCommand>,
    /// Teams presence from Microsoft Graph, when `[graph]` is set.
    presence: Option<mpsc::Receiver<crate::graph::PresenceUpdate>>,
}

/// A send that failed, handed back to the B2BUA.
struct SendFailure(Outgoing);

/// A connection opened for a next hop, remembered so the B2BUA can have it
/// dropped (Teams: close the connection of a proxy that answered 503).
struct Opened {
    host: String,
    port: u16,
    connection: ConnectionId,
}

struct Driver {
    b2bua: B2bua,
    /// `[contact_center]`, when configured.
    center: Option<ContactCenter>,
    /// What `[metrics]` reports.
    metrics: Arc<Metrics>,
    transport: SipTransport,
    udp_local: Vec<SocketAddr>,
    /// Sender tasks by destination.
    lanes: HashMap<LaneKey, Lane>,
    /// Lanes at the last sweep of finished ones.
    lanes_swept_at: usize,
}

/// A destination whose messages must stay in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LaneKey {
    Connection(u64),
    Address(SocketAddr, sbc::Transport),
    Uri(String, sbc::Transport),
}

impl LaneKey {
    fn of(next_hop: &NextHop) -> LaneKey {
        match next_hop {
            NextHop::Reply {
                connection: Some(id),
                ..
            } => LaneKey::Connection(id.0),
            NextHop::Reply {
                remote, transport, ..
            } => LaneKey::Address(*remote, *transport),
            NextHop::Resolve { uri, transport } => LaneKey::Uri(uri.to_string(), *transport),
        }
    }
}

/// A sender task's queue and how many messages wait in it.
struct Lane {
    queue: mpsc::UnboundedSender<Outgoing>,
    pending: Arc<AtomicUsize>,
}

/// Whether a message could go out from the loop itself.
enum Direct {
    Sent,
    Failed(TransportError),
    /// Needs the [`Sender`] (DNS, a connection, a full socket buffer).
    NotNow,
}

impl Driver {
    async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut unparsable: mpsc::Receiver<Unparsable>,
        mut media_events: mpsc::UnboundedReceiver<MediaEvent>,
        inputs: CenterInputs,
        resolver: SipResolver,
    ) -> anyhow::Result<()> {
        let CenterInputs {
            mut http_results,
            mut durable,
            api: mut api_commands,
            presence,
        } = inputs;
        let mut presence = presence.unwrap_or_else(|| mpsc::channel(1).1);
        let (failed_tx, mut failed) = mpsc::unbounded_channel::<SendFailure>();
        let (opened_tx, mut opened) = mpsc::unbounded_channel::<Opened>();
        let sender = Arc::new(Sender {
            transport: self.transport.clone(),
            resolver,
            udp_local: self.udp_local.clone(),
            failed: failed_tx,
            opened: opened_tx,
        });
        let lanes = tokio_util::task::TaskTracker::new();
        let (mut answers, answer_queue) = UnparsableAnswers::new();
        let answerer = tokio::spawn(send_answers(self.transport.clone(), answer_queue));
        let mut connections: HashMap<(String, u16), ConnectionId> = HashMap::new();
        let shutdown = tokio::signal::ctrl_c();
        tokio::pin!(shutdown);
        loop {
            self.settle(&sender, &lanes, &mut connections);
            let calls = self.b2bua.call_count() as u64;
            self.metrics.calls.store(calls, Ordering::Relaxed);
            if let Some(center) = &self.center {
                let (stats, http_failures, log_failures) = center.counters();
                self.metrics.center.set(stats, http_failures, log_failures);
            }
            let center_deadline = self.center.as_ref().and_then(ContactCenter::poll_timeout);
            let deadline = [self.b2bua.poll_timeout(), center_deadline]
                .into_iter()
                .flatten()
                .min();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                message = inbound.recv() => {
                    let Some(Inbound { message, source: flow }) = message else { break };
                    let now = Instant::now();
                    self.b2bua.handle_message(message, source(&flow), now);
                    // Take what else arrived meanwhile before draining:
                    // one wake-up for a burst.
                    for _ in 0..BATCH {
                        let Ok(Inbound { message, source: flow }) = inbound.try_recv() else {
                            break;
                        };
                        self.b2bua.handle_message(message, source(&flow), now);
                    }
                }
                Some(bad) = unparsable.recv() => answers.handle(bad),
                Some(event) = media_events.recv() => self.handle_media(event),
                Some(batch) = durable.recv() => {
                    if let Some(center) = &mut self.center {
                        center.handle_durable(&mut self.b2bua, batch, Instant::now());
                    }
                }
                Some(done) = http_results.recv() => {
                    if let Some(center) = &mut self.center {
                        center.handle_http_done(done, Instant::now());
                    }
                }
                Some(command) = api_commands.recv() => {
                    if let Some(center) = &mut self.center {
                        center.handle_api(command, Instant::now());
                    }
                }
                Some(update) = presence.recv() => {
                    if let Some(center) = &mut self.center {
                        center.handle_presence(Instant::now(), &update);
                    }
                }
                Some(SendFailure(outgoing)) = failed.recv() => {
                    self.b2bua.handle_transport_error(&outgoing, Instant::now());
                }
                Some(Opened { host, port, connection }) = opened.recv() => {
                    connections.insert((host.to_ascii_lowercase(), port), connection);
                }
                () = sleep => {
                    let now = Instant::now();
                    self.b2bua.handle_timeout(now);
                    if let Some(center) = &mut self.center {
                        center.handle_timeout(now);
                    }
                }
                _ = &mut shutdown => {
                    tracing::info!("shutting down");
                    break;
                }
            }
        }
        self.lanes.clear();
        lanes.close();
        // Let queued messages (e.g. BYEs at shutdown) go, briefly.
        let _ = tokio::time::timeout(Duration::from_secs(1), lanes.wait()).await;
        answerer.abort();
        Ok(())
    }

    /// Drains the B2BUA; with a contact center, hands its events to the
    /// log's writer (their actions run once they are durable) until
    /// nothing is left to do.
    fn settle(
        &mut self,
        sender: &Arc<Sender>,
        lanes: &tokio_util::task::TaskTracker,
        connections: &mut HashMap<(String, u16), ConnectionId>,
    ) {
        loop {
            self.drain(sender, lanes, connections);
            let Some(center) = self.center.as_mut() else {
                return;
            };
            if !center.has_work() {
                return;
            }
            center.commit(&mut self.b2bua);
        }
    }

    fn handle_media(&mut self, event: MediaEvent) {
        match event {
            MediaEvent::MediaTimeout { leg, idle, on_hold } => {
                let call = RelayAnchor::call_of(leg);
                tracing::info!(%call, idle_ms = idle.as_millis() as u64, on_hold, "media timeout: call ended");
                self.b2bua.end_on_media_timeout(call, Instant::now());
            }
            MediaEvent::Latched { leg, source, rtcp } => {
                tracing::debug!(call = %RelayAnchor::call_of(leg), %source, rtcp, "media latched");
            }
            MediaEvent::Refused { leg, reason } => {
                tracing::warn!(call = %RelayAnchor::call_of(leg), %reason, "media relay refused a change");
            }
            // A press on one leg for a peer that takes INFO: the relay
            // did not forward its RTP. The digit is never logged.
            MediaEvent::BridgedDtmf {
                peer,
                digit,
                duration,
                ..
            } => {
                let (call, leg) = (RelayAnchor::call_of(peer), RelayAnchor::leg_of(peer));
                tracing::debug!(%call, %leg, "DTMF to send as INFO");
                self.b2bua
                    .send_dtmf_info(call, leg, digit.as_char(), duration, Instant::now());
            }
            other => match &mut self.center {
                Some(center) => center.handle_media_event(&other, Instant::now()),
                None => tracing::debug!(?other, "media event"),
            },
        }
    }

    fn drain(
        &mut self,
        sender: &Arc<Sender>,
        lanes: &tokio_util::task::TaskTracker,
        connections: &mut HashMap<(String, u16), ConnectionId>,
    ) {
        loop {
            self.send_all(sender, lanes);
            let events: Vec<B2buaEvent> = std::iter::from_fn(|| self.b2bua.poll_event()).collect();
            if events.is_empty() {
                break;
            }
            for event in events {
                match event {
                    B2buaEvent::CloseConnection { host, port } => {
                        if let Some(id) = connections.remove(&(host.to_ascii_lowercase(), port)) {
                            self.transport.close_connection(id);
                        }
                    }
                    B2buaEvent::Dtmf {
                        call,
                        to_leg,
                        digit,
                        duration,
                    } => self.send_dtmf(call, to_leg, digit, duration),
                    event => {
                        log_event(&event);
                        self.tell_center(&event);
                    }
                }
            }
        }
    }

    /// Has the relay send a key press that came as INFO on the other leg
    /// (RFC 4733 events or tones, as `to_leg`'s peer takes them); a
    /// refusal comes back as [`MediaEvent::Refused`]. The digit is never
    /// logged.
    fn send_dtmf(&self, call: sbc::CallId, to_leg: sbc::LegId, digit: char, duration: Duration) {
        let Some(digit) = DtmfDigit::from_char(digit) else {
            return;
        };
        tracing::debug!(%call, leg = %to_leg, "DTMF from INFO to the media relay");
        let key = RelayAnchor::key(call, to_leg, 0);
        if let Err(error) = self
            .metrics
            .relay
            .detached()
            .send_dtmf(key, digit, duration)
        {
            tracing::warn!(%call, %error, "DTMF not queued");
        }
    }

    /// Hands a B2BUA event to the contact center; without one, a call to
    /// a flow has nobody to talk to and is ended.
    fn tell_center(&mut self, event: &B2buaEvent) {
        let now = Instant::now();
        match &mut self.center {
            Some(center) => {
                center.handle_b2bua_event(event, now);
            }
            None => {
                if let B2buaEvent::LocalCallStarted { call, .. } = event {
                    tracing::warn!(%call, "a flow DID called, but no [contact_center] is configured: call ended");
                    self.b2bua.hang_up(*call, now);
                }
            }
        }
    }

    /// Sends (or queues) everything the B2BUA has to send.
    fn send_all(&mut self, sender: &Arc<Sender>, lanes: &tokio_util::task::TaskTracker) {
        while let Some(outgoing) = self.b2bua.poll_transmit() {
            let key = LaneKey::of(&outgoing.next_hop);
            let waiting = self
                .lanes
                .get(&key)
                .is_some_and(|lane| lane.pending.load(Ordering::Acquire) > 0);
            if !waiting {
                match self.try_direct(&outgoing) {
                    Direct::Sent => continue,
                    Direct::Failed(err) => {
                        tracing::debug!(%err, "send failed");
                        self.b2bua.handle_transport_error(&outgoing, Instant::now());
                        continue;
                    }
                    Direct::NotNow => {}
                }
            }
            self.enqueue(key, outgoing, sender, lanes);
        }
    }
}

impl Driver {
    /// Queues `outgoing` in its destination's lane, starting the lane's
    /// task if it has none (or it ended after being idle).
    fn enqueue(
        &mut self,
        key: LaneKey,
        outgoing: Outgoing,
        sender: &Arc<Sender>,
        lanes: &tokio_util::task::TaskTracker,
    ) {
        let mut outgoing = outgoing;
        loop {
            let lane = self.lanes.entry(key.clone()).or_insert_with(|| {
                let (queue, receiver) = mpsc::unbounded_channel();
                let pending = Arc::new(AtomicUsize::new(0));
                lanes.spawn(Arc::clone(sender).run(receiver, Arc::clone(&pending)));
                Lane { queue, pending }
            });
            lane.pending.fetch_add(1, Ordering::AcqRel);
            match lane.queue.send(outgoing) {
                Ok(()) => break,
                // The lane's task ended (idle): a new one takes it.
                Err(mpsc::error::SendError(back)) => {
                    lane.pending.fetch_sub(1, Ordering::AcqRel);
                    self.lanes.remove(&key);
                    outgoing = back;
                }
            }
        }
        // Forget lanes whose task ended, now and then.
        if self.lanes.len() > 2 * self.lanes_swept_at.max(64) {
            self.lanes.retain(|_, lane| !lane.queue.is_closed());
            self.lanes_swept_at = self.lanes.len();
        }
    }

    /// Sends a UDP message whose destination needs no DNS right away.
    fn try_direct(&self, outgoing: &Outgoing) -> Direct {
        let result = match &outgoing.next_hop {
            NextHop::Reply {
                connection: None,
                remote,
                transport: sbc::Transport::Udp,
            } => match &outgoing.message {
                sip::Message::Response(response) => {
                    let flow = Flow {
                        transport: TransportKind::Udp,
                        local: local_for(&self.udp_local, *remote),
                        remote: *remote,
                        connection: None,
                        peer_certificate: None,
                    };
                    self.transport.try_send_udp_response(response, &flow)
                }
                request => self.transport.try_send_datagram(request, None, *remote),
            },
            NextHop::Resolve {
                uri,
                transport: sbc::Transport::Udp,
            } if uri.param("maddr").is_none() => {
                let ip = match uri.host() {
                    sip::Host::Ipv4(ip) => IpAddr::V4(ip),
                    sip::Host::Ipv6(ip) => IpAddr::V6(ip),
                    sip::Host::Name(_) => return Direct::NotNow,
                };
                let to = SocketAddr::new(ip, uri.port().unwrap_or(5060));
                self.transport
                    .try_send_datagram(&outgoing.message, None, to)
            }
            _ => return Direct::NotNow,
        };
        match result {
            Ok(Some(_)) => Direct::Sent,
            Ok(None) => Direct::NotNow,
            Err(err) => Direct::Failed(err),
        }
    }
}

/// How many more queued inbound messages one wake-up of the loop takes.
const BATCH: usize = 64;

/// Answers messages that did not parse: builds the response on the loop,
/// leaves the sending to [`send_answers`], and counts.
struct UnparsableAnswers {
    queue: mpsc::Sender<(Response, Flow)>,
    /// Answered (queued for sending).
    answered: u64,
    /// Too broken to answer, or not requests.
    unanswered: u64,
    /// Answers dropped because the queue was full.
    dropped: u64,
}

impl UnparsableAnswers {
    fn new() -> (UnparsableAnswers, mpsc::Receiver<(Response, Flow)>) {
        let (queue, rx) = mpsc::channel(ANSWER_QUEUE);
        let answers = UnparsableAnswers {
            queue,
            answered: 0,
            unanswered: 0,
            dropped: 0,
        };
        (answers, rx)
    }

    fn handle(&mut self, bad: Unparsable) {
        let Unparsable {
            bytes,
            error,
            source,
        } = bad;
        let Some(response) = sbc::response_for_unparsable(&bytes, &error) else {
            self.unanswered += 1;
            tracing::debug!(
                %error,
                transport = %source.transport,
                from = %Pii(source.remote),
                unanswered = self.unanswered,
                "dropped a message that did not parse"
            );
            return;
        };
        let status = response.status.0;
        if self.queue.try_send((response, source.clone())).is_err() {
            self.dropped += 1;
            tracing::debug!(dropped = self.dropped, "answer queue full");
            return;
        }
        self.answered += 1;
        tracing::debug!(
            %error,
            status,
            transport = %source.transport,
            from = %Pii(source.remote),
            answered = self.answered,
            "answering a message that did not parse"
        );
    }
}

/// Sends the answers to messages that did not parse back to their source.
async fn send_answers(transport: SipTransport, mut queue: mpsc::Receiver<(Response, Flow)>) {
    while let Some((response, source)) = queue.recv().await {
        if let Err(err) = transport.reply(response, &source).await {
            tracing::debug!(%err, "answer to a message that did not parse not sent");
        }
    }
}

/// One log line per call event; numbers are personal data ([`Pii`]).
fn log_event(event: &B2buaEvent) {
    match event {
        B2buaEvent::CallStarted {
            call,
            from,
            to,
            caller,
            called,
            ..
        } => tracing::info!(
            %call,
            ?from,
            ?to,
            caller = %Pii(OrNone(caller.as_ref())),
            called = %Pii(OrNone(called.as_ref())),
            "CallStarted"
        ),
        B2buaEvent::CallAnswered { call, .. } => tracing::info!(%call, "CallAnswered"),
        B2buaEvent::CallTransferred {
            call, party, to, ..
        } => {
            tracing::info!(%call, ?party, ?to, "CallTransferred")
        }
        B2buaEvent::CallEnded {
            call,
            reason,
            answered_at,
            at,
        } => {
            let talk = answered_at.map(|answered| at.saturating_duration_since(answered));
            tracing::info!(%call, ?reason, ?talk, "CallEnded")
        }
        B2buaEvent::LocalCallStarted {
            call,
            tenant,
            did,
            caller,
            flow,
            ..
        } => tracing::info!(
            %call,
            tenant = %tenant.as_str(),
            did = %Pii(did),
            caller = %Pii(OrNone(caller.as_ref())),
            %flow,
            "LocalCallStarted"
        ),
        // The body may carry DTMF digits (card numbers): never logged.
        B2buaEvent::Info {
            call,
            leg,
            content_type,
            ..
        } => tracing::debug!(%call, %leg, %content_type, "Info"),
        B2buaEvent::DtmfInfoFailed { call, leg, status } => {
            tracing::warn!(%call, %leg, status = status.0, "INFO with a key press failed");
        }
        B2buaEvent::ProxyHealth { host, health, .. } => match health {
            ProxyHealth::Active => tracing::info!(proxy = %host, "Teams proxy Active"),
            ProxyHealth::Inactive => tracing::warn!(proxy = %host, "Teams proxy Inactive"),
        },
        other => tracing::info!(event = ?other, "b2bua"),
    }
}

/// Prints an optional value, or `-`.
struct OrNone<T>(Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for OrNone<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(value) => value.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// Sends one lane's messages in order; resolves next hops; reports
/// failures.
struct Sender {
    transport: SipTransport,
    resolver: SipResolver,
    udp_local: Vec<SocketAddr>,
    failed: mpsc::UnboundedSender<SendFailure>,
    opened: mpsc::UnboundedSender<Opened>,
}

/// How long a lane's task waits for more before it ends.
const LANE_IDLE: Duration = Duration::from_secs(30);

impl Sender {
    /// Serves one lane: sends its messages in order, ends after
    /// [`LANE_IDLE`] without any (after sending what raced in).
    async fn run(
        self: Arc<Self>,
        mut queue: mpsc::UnboundedReceiver<Outgoing>,
        pending: Arc<AtomicUsize>,
    ) {
        loop {
            let outgoing = match tokio::time::timeout(LANE_IDLE, queue.recv()).await {
                Ok(Some(outgoing)) => outgoing,
                Ok(None) => break,
                Err(_idle) => {
                    queue.close();
                    while let Ok(outgoing) = queue.try_recv() {
                        self.send_or_report(outgoing).await;
                        pending.fetch_sub(1, Ordering::AcqRel);
                    }
                    break;
                }
            };
            self.send_or_report(outgoing).await;
            pending.fetch_sub(1, Ordering::AcqRel);
        }
    }

    async fn send_or_report(&self, outgoing: Outgoing) {
        if let Err(err) = self.send(&outgoing).await {
            tracing::debug!(%err, "send failed");
            let _ = self.failed.send(SendFailure(outgoing));
        }
    }

    async fn send(&self, outgoing: &Outgoing) -> anyhow::Result<()> {
        match &outgoing.next_hop {
            NextHop::Reply {
                connection,
                remote,
                transport,
            } => {
                let flow = Flow {
                    transport: kind(*transport),
                    local: local_for(&self.udp_local, *remote),
                    remote: *remote,
                    connection: connection.map(|c| ConnectionId::from_u64(c.0)),
                    peer_certificate: None,
                };
                match &outgoing.message {
                    sip::Message::Response(response) => {
                        self.transport
                            .send_response(response.clone(), &flow)
                            .await?;
                    }
                    sip::Message::Request(_) => {
                        let target = match flow.connection {
                            Some(id) => Target::Connection(id),
                            None => Target::Resolved(ResolvedTarget::new(flow.transport, *remote)),
                        };
                        self.transport
                            .send(outgoing.message.clone(), &target)
                            .await?;
                    }
                }
            }
            NextHop::Resolve { uri, transport } => {
                let wanted = kind(*transport);
                let targets = self.resolver.resolve(uri).await?;
                let mut last_error = None;
                for target in targets.into_iter().filter(|t| t.transport == wanted) {
                    match self
                        .transport
                        .send(outgoing.message.clone(), &Target::Resolved(target))
                        .await
                    {
                        Ok(flow) => {
                            if let Some(connection) = flow.connection {
                                let host = uri.host().to_string();
                                let port = uri.port().unwrap_or(match wanted {
                                    TransportKind::Tls => 5061,
                                    _ => 5060,
                                });
                                let _ = self.opened.send(Opened {
                                    host,
                                    port,
                                    connection,
                                });
                            }
                            return Ok(());
                        }
                        Err(err) => last_error = Some(err),
                    }
                }
                match last_error {
                    Some(err) => return Err(err.into()),
                    None => anyhow::bail!("no {wanted:?} target for {uri}"),
                }
            }
        }
        Ok(())
    }
}

/// The UDP socket of the same address family as `remote`.
fn local_for(udp_local: &[SocketAddr], remote: SocketAddr) -> SocketAddr {
    udp_local
        .iter()
        .copied()
        .find(|local| local.is_ipv4() == remote.is_ipv4())
        .unwrap_or_else(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_limit() {
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        // A soft limit below the hard one, as shells and systemd give.
        let low = if soft < hard { soft } else { hard - 1 };
        setrlimit(Resource::RLIMIT_NOFILE, low, hard).unwrap();
        let raised = super::raise_open_files(&sbc::MediaSettings::default());
        assert_eq!(raised, Some((low, hard)));
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (hard, hard));
    }
}
