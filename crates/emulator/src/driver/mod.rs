//! The thin tokio driver of [`TeamsProxy`]: one `sip-transport` TLS
//! listener per proxy (mutual TLS: the SBC must present a certificate of
//! the test CA), outgoing TLS connections to the SBC with the proxy's own
//! certificate, and one task that only moves messages and timers.
//!
//! Messages to one destination leave in order from a small sender task
//! per destination, so a slow TLS handshake to one SBC never stalls the
//! proxy; a failed send comes back as
//! [`TeamsProxy::handle_send_failure`].

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sip_transport::{
    CertificateFiles, ClientAuth, ConnectionId, Inbound, ResolvedTarget, SipTransport, Target,
    TlsClient, TlsClientFiles, TlsServer, TlsServerFiles, TransportConfig, TransportKind,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::certs::{ca_path, proxy_cert_paths};
use crate::config::EmulatorConfig;
use crate::error::RunError;
use crate::graph::RunningGraph;
use crate::teams::{
    CallId, ConnectionRef, Destination, Event, ProxyId, Source, TeamsProxy, Transmit,
};

/// A sender task with nothing to send for this long ends.
const SENDER_IDLE: std::time::Duration = std::time::Duration::from_secs(300);

/// How many events a slow subscriber may fall behind.
const EVENT_BACKLOG: usize = 1024;

mod media;

type Command = Box<dyn FnOnce(&mut TeamsProxy, Instant) + Send>;

/// Runs the emulated Teams proxies of `config` until `shutdown` is
/// cancelled: TLS listeners on the configured addresses with the
/// certificates of `config.cert_dir` (see
/// [`write_certificates_for`](crate::write_certificates_for)).
pub async fn run(config: EmulatorConfig, shutdown: CancellationToken) -> Result<(), RunError> {
    let emulator = start(config, shutdown.clone()).await?;
    shutdown.cancelled().await;
    emulator.stopped().await;
    Ok(())
}

/// Starts the emulator and returns a handle to watch its events and act
/// as Teams users; it stops when `shutdown` is cancelled.
pub async fn start(
    config: EmulatorConfig,
    shutdown: CancellationToken,
) -> Result<RunningEmulator, RunError> {
    config.validate()?;
    let seed = config.seed.unwrap_or_else(random_seed);
    let mut proxy = TeamsProxy::new(&config, seed)?;
    let media_sockets = media::MediaSockets::default();
    proxy.set_media_ports(media_sockets.source(config.media_ip));
    let ca = ca_path(&config.cert_dir);
    let tracker = TaskTracker::new();
    let (inbound_tx, inbound_rx) = mpsc::channel(1024);
    let mut transports = Vec::new();
    let mut addrs = Vec::new();
    for (index, proxy_config) in config.proxies.iter().enumerate() {
        let (chain, key) = proxy_cert_paths(&config.cert_dir, &proxy_config.fqdn);
        let certificate = CertificateFiles { chain, key };
        let tls_error = |source| RunError::Tls {
            proxy: proxy_config.fqdn.clone(),
            source,
        };
        let server = TlsServer::load(TlsServerFiles {
            certificates: vec![certificate.clone()],
            client_auth: ClientAuth::Required {
                ca_bundle: ca.clone(),
            },
        })
        .map_err(tls_error)?;
        let client = TlsClient::load(TlsClientFiles {
            ca_bundle: ca.clone(),
            certificate: Some(certificate),
        })
        .map_err(tls_error)?;
        let (transport, mut received) = SipTransport::new(TransportConfig {
            advertised_host: Some(proxy_config.fqdn.clone()),
            ..TransportConfig::default()
        });
        transport.set_tls_client(Some(client));
        let addr = transport
            .listen_tls(proxy_config.listen, server)
            .await
            .map_err(|source| RunError::Listen {
                proxy: proxy_config.fqdn.clone(),
                source,
            })?;
        let forward = inbound_tx.clone();
        let stop = shutdown.clone();
        tracker.spawn(async move {
            loop {
                let inbound = tokio::select! {
                    () = stop.cancelled() => break,
                    inbound = received.recv() => inbound,
                };
                let Some(inbound) = inbound else { break };
                if forward.send((ProxyId(index), inbound)).await.is_err() {
                    break;
                }
            }
        });
        tracing::info!(proxy = %proxy_config.fqdn, %addr, "Teams proxy emulator listening");
        transports.push(transport);
        addrs.push(addr);
    }
    let (events, _) = broadcast::channel(EVENT_BACKLOG);
    let graph = match &config.graph {
        Some(_) => {
            let graph = crate::graph::start(&config, seed, shutdown.clone()).await?;
            let calls = events.subscribe();
            tracker.spawn(crate::graph::follow_calls(
                graph.clone(),
                calls,
                shutdown.clone(),
            ));
            Some(graph)
        }
        None => None,
    };
    let (commands_tx, commands_rx) = mpsc::channel(64);
    let driver = Driver {
        proxy,
        config: Arc::new(config),
        transports: transports.clone(),
        connections: Connections::default(),
        senders: HashMap::new(),
        events: events.clone(),
        media: HashMap::new(),
        media_sockets,
        tracker: tracker.clone(),
        shutdown: shutdown.clone(),
    };
    let (failures_tx, failures_rx) = mpsc::unbounded_channel();
    tracker.spawn(driver.run(inbound_rx, commands_rx, failures_tx, failures_rx));
    tracker.close();
    Ok(RunningEmulator {
        addrs,
        events,
        commands: commands_tx,
        tracker,
        transports,
        graph,
        shutdown,
    })
}

/// A running emulator: its listening addresses, its event stream, and a
/// way to act on the proxies (place calls, transfer, switch modes).
#[derive(Debug)]
pub struct RunningEmulator {
    addrs: Vec<SocketAddr>,
    events: broadcast::Sender<Event>,
    commands: mpsc::Sender<Command>,
    tracker: TaskTracker,
    transports: Vec<SipTransport>,
    graph: Option<RunningGraph>,
    shutdown: CancellationToken,
}

impl RunningEmulator {
    /// The Microsoft Graph emulator, when `[emulator.graph]` is
    /// configured.
    pub fn graph(&self) -> Option<&RunningGraph> {
        self.graph.as_ref()
    }

    /// The address proxy `proxy` listens on (with the port the system
    /// chose for a configured port 0).
    pub fn local_addr(&self, proxy: ProxyId) -> Option<SocketAddr> {
        self.addrs.get(proxy.0).copied()
    }

    /// Every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Runs `action` on the proxies (as a Teams user or the operator) and
    /// returns its result; `None` once the emulator stopped.
    pub async fn with_proxy<R: Send + 'static>(
        &self,
        action: impl FnOnce(&mut TeamsProxy, Instant) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        let command: Command = Box::new(move |proxy, now| {
            // The caller may have given up waiting; the action ran anyway.
            let _ = tx.send(action(proxy, now));
        });
        self.commands.send(command).await.ok()?;
        rx.await.ok()
    }

    /// Stops the emulator and waits until every task ended.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.stopped().await;
    }

    /// Waits until the emulator stopped (after the shutdown token was
    /// cancelled).
    pub async fn stopped(self) {
        self.tracker.wait().await;
        if let Some(graph) = self.graph {
            graph.stopped().await;
        }
        for transport in &self.transports {
            transport.shutdown().await;
        }
    }
}

/// The driver's names for transport connections.
#[derive(Debug, Default)]
struct Connections {
    next: u64,
    by_id: HashMap<(usize, ConnectionId), ConnectionRef>,
    by_ref: HashMap<ConnectionRef, ConnectionId>,
}

impl Connections {
    fn name(&mut self, proxy: ProxyId, id: ConnectionId) -> ConnectionRef {
        if let Some(name) = self.by_id.get(&(proxy.0, id)) {
            return *name;
        }
        self.next += 1;
        let name = ConnectionRef(self.next);
        self.by_id.insert((proxy.0, id), name);
        self.by_ref.insert(name, id);
        name
    }
}

struct Driver {
    proxy: TeamsProxy,
    config: Arc<EmulatorConfig>,
    transports: Vec<SipTransport>,
    connections: Connections,
    /// One ordered sender per proxy and destination.
    senders: HashMap<(ProxyId, Destination), mpsc::UnboundedSender<Transmit>>,
    events: broadcast::Sender<Event>,
    /// The stop switch of each answered call's audio.
    media: HashMap<CallId, CancellationToken>,
    media_sockets: media::MediaSockets,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Driver {
    async fn run(
        mut self,
        mut inbound: mpsc::Receiver<(ProxyId, Inbound)>,
        mut commands: mpsc::Receiver<Command>,
        failures_tx: mpsc::UnboundedSender<Transmit>,
        mut failures: mpsc::UnboundedReceiver<Transmit>,
    ) {
        loop {
            let wake = self.proxy.poll_timeout();
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                Some((proxy, received)) = inbound.recv() => {
                    let source = self.source(proxy, &received);
                    self.proxy.handle_message(received.message, source, Instant::now());
                }
                Some(command) = commands.recv() => command(&mut self.proxy, Instant::now()),
                Some(failed) = failures.recv() => self.proxy.handle_send_failure(&failed, Instant::now()),
                () = sleep_until(wake) => self.proxy.handle_timeout(Instant::now()),
            }
            while let Some(transmit) = self.proxy.poll_transmit() {
                self.send(transmit, &failures_tx);
            }
            while let Some(event) = self.proxy.poll_event() {
                // Events hold numbers and URIs: only their kind is logged.
                tracing::debug!(event = event.kind(), "Teams emulator");
                self.media_follows(&event);
                // Nobody listening is fine.
                let _ = self.events.send(event);
            }
        }
    }

    /// Starts a call's audio when it is answered, stops it when it ends.
    fn media_follows(&mut self, event: &Event) {
        match event {
            Event::Answered { call } => {
                let Some(plan) = self.proxy.media_plan(*call) else {
                    tracing::warn!("emulated media: an answered call without usable SDP");
                    return;
                };
                let stop = self.shutdown.child_token();
                if let Some(previous) = self.media.insert(*call, stop.clone()) {
                    previous.cancel();
                }
                let (call, events) = (*call, self.events.clone());
                let sockets = self.media_sockets.clone();
                self.tracker.spawn(async move {
                    match sockets.take(&plan).await {
                        Ok(socket) => media::echo(socket, plan, call, stop, events).await,
                        Err(error) => {
                            tracing::warn!(%error, local = %plan.local, "emulated media: cannot bind");
                        }
                    }
                });
            }
            Event::Ended { call, .. } | Event::CallFailed { call, .. } => {
                if let Some(stop) = self.media.remove(call) {
                    stop.cancel();
                }
            }
            _ => {}
        }
    }

    fn source(&mut self, proxy: ProxyId, received: &Inbound) -> Source {
        let connection = match received.source.connection {
            Some(id) => self.connections.name(proxy, id),
            None => ConnectionRef(0),
        };
        let peer_names = received
            .source
            .peer_certificate
            .as_ref()
            .map(|cert| {
                let mut names = cert.dns_names().to_vec();
                names.extend(cert.common_name().map(str::to_owned));
                names
            })
            .unwrap_or_default();
        Source {
            proxy,
            connection,
            peer_names,
        }
    }

    /// Hands a message to the sender task of its destination.
    fn send(&mut self, transmit: Transmit, failures: &mpsc::UnboundedSender<Transmit>) {
        let key = (transmit.proxy, transmit.destination.clone());
        if let Some(sender) = self.senders.get(&key) {
            match sender.send(transmit) {
                Ok(()) => return,
                Err(mpsc::error::SendError(transmit)) => {
                    self.senders.remove(&key);
                    return self.send(transmit, failures);
                }
            }
        }
        let Some(transport) = self.transports.get(transmit.proxy.0).cloned() else {
            return;
        };
        let target = match &transmit.destination {
            Destination::Connection(name) => self
                .connections
                .by_ref
                .get(name)
                .map(|id| Target::Connection(*id)),
            Destination::Sbc { host, port } => resolve(&self.config, host, *port),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        // The receiver is alive: it was created on the line above.
        let _ = tx.send(transmit);
        self.senders.insert(key, tx);
        self.tracker.spawn(sender(
            transport,
            target,
            rx,
            failures.clone(),
            self.shutdown.clone(),
        ));
    }
}

/// Sends the messages of one destination in order; reports failures and
/// ends after the first one (a new task reconnects for the next message).
async fn sender(
    transport: SipTransport,
    target: Option<Target>,
    mut queue: mpsc::UnboundedReceiver<Transmit>,
    failures: mpsc::UnboundedSender<Transmit>,
    shutdown: CancellationToken,
) {
    loop {
        let transmit = tokio::select! {
            () = shutdown.cancelled() => return,
            next = tokio::time::timeout(SENDER_IDLE, queue.recv()) => match next {
                Ok(Some(transmit)) => transmit,
                // Idle or unused: the next message starts a new sender.
                Ok(None) | Err(_) => return,
            },
        };
        let sent = match &target {
            Some(target) => transport
                .send(transmit.message.clone(), target)
                .await
                .map(|_| ()),
            None => Err(sip_transport::TransportError::NoTlsClient),
        };
        if let Err(error) = sent {
            tracing::info!(destination = ?transmit.destination, %error, "Teams emulator send failed");
            let _ = failures.send(transmit);
            // Fail what is queued too: its connection is gone.
            queue.close();
            while let Some(transmit) = queue.recv().await {
                let _ = failures.send(transmit);
            }
            return;
        }
    }
}

/// The TLS target of an SBC FQDN through the static host map (an IP
/// address is used as is).
fn resolve(config: &EmulatorConfig, host: &str, port: u16) -> Option<Target> {
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse() {
        return Some(Target::Resolved(ResolvedTarget::new(
            TransportKind::Tls,
            SocketAddr::new(ip, port),
        )));
    }
    let addr = *config.resolve_sbc(host, port)?.first()?;
    Some(Target::Resolved(ResolvedTarget::tls(addr, host)))
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// A seed from the process's random hasher keys (no extra dependency).
pub(crate) fn random_seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    hasher.finish()
}
