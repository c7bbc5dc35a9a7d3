//! [`TeamsProxy`]: the state of the emulated proxies and the plumbing
//! between the SIP transaction layer (RFC 3261 §17), the dialogs (§12)
//! and the Direct Routing logic in the sibling files.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use sip::{Message, Method, Request};
use sip_core::{
    DialogConfig, LayerEvent, TransactionEvent, TransactionKey, TransactionLayer,
    TransactionLayerConfig,
};

use super::calls::Call;
use super::directory::Directory;
use super::event::{CallId, Destination, Event, ProxyId, SbcStatus, Source, Transmit};
use super::health::Health;
use super::media::MediaPlan;
use super::rng::SplitMix64;
use crate::config::{EmulatorConfig, ProxyMode};
use crate::error::{CallError, ConfigError};

/// A source of RTP ports (see [`TeamsProxy::set_media_ports`]).
pub type MediaPorts = Box<dyn FnMut() -> Option<u16> + Send>;

struct PortSource(MediaPorts);

impl std::fmt::Debug for PortSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PortSource")
    }
}

/// The lowest and highest media port of the emulated media processors
/// (Direct Routing: UDP 49152-53247).
const MEDIA_PORTS: (u16, u16) = (49152, 53246);

/// One emulated proxy (sip, sip2, sip3...).
#[derive(Debug, Clone)]
pub(super) struct ProxyState {
    pub(super) fqdn: String,
    pub(super) mode: ProxyMode,
    pub(super) retry_after_secs: u32,
}

/// Why the proxy sent a request: what to do with its responses.
#[derive(Debug, Clone)]
pub(super) enum Purpose {
    /// Our OPTIONS back to an SBC FQDN (health).
    OptionsProbe { fqdn: String },
    /// The INVITE of a call from Teams.
    Invite { call: CallId },
    /// The CANCEL of that INVITE.
    Cancel,
    /// A request within the dialog of a call.
    InDialog { call: CallId, method: Method },
}

/// Where a client transaction's messages go and why it exists.
#[derive(Debug, Clone)]
pub(super) struct ClientRoute {
    pub(super) purpose: Purpose,
    pub(super) proxy: ProxyId,
    pub(super) destination: Destination,
}

/// The emulated Microsoft Teams Direct Routing SIP proxies (sans-IO).
///
/// One value emulates every configured proxy (`sip`, `sip2`, `sip3`
/// `.pstnhub.microsoft.com`) with their tenants and users. It owns no
/// socket and no clock: the driver passes each received message with the
/// TLS facts of its connection ([`Source`]) and the current time.
///
/// Inputs: [`handle_message`](Self::handle_message),
/// [`handle_send_failure`](Self::handle_send_failure),
/// [`handle_timeout`](Self::handle_timeout) and the API calls acting as
/// Teams users ([`place_call`](Self::place_call),
/// [`hang_up`](Self::hang_up), [`transfer`](Self::transfer),
/// [`hold`](Self::hold), [`resume`](Self::resume)) or as the operator
/// ([`set_proxy_mode`](Self::set_proxy_mode)). After each input, drain in
/// this order:
/// 1. [`poll_transmit`](Self::poll_transmit) until `None`: send each
///    message to its [`Destination`] from its proxy;
/// 2. [`poll_event`](Self::poll_event) until `None`: what happened, for
///    tests and logs;
/// 3. [`poll_timeout`](Self::poll_timeout): when to call
///    [`handle_timeout`](Self::handle_timeout) next.
///
/// ```no_run
/// use std::time::Instant;
/// use emulator::{EmulatorConfig, Event, TeamsProxy};
///
/// # fn receive() -> Option<(sip::Message, emulator::Source)> { None }
/// # fn send(_: emulator::Transmit) {}
/// # fn sleep_until(_: Option<Instant>) {}
/// let config = EmulatorConfig::from_toml(&std::fs::read_to_string("examples/teams.toml")?)?;
/// let mut proxy = TeamsProxy::new(&config, 1)?;
/// loop {
///     let now = Instant::now();
///     if let Some((message, source)) = receive() {
///         proxy.handle_message(message, source, now);
///     }
///     proxy.handle_timeout(now);
///     while let Some(transmit) = proxy.poll_transmit() {
///         send(transmit);
///     }
///     while let Some(event) = proxy.poll_event() {
///         if let Event::CallReceived { user, .. } = event {
///             println!("ringing {user}");
///         }
///     }
///     sleep_until(proxy.poll_timeout());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TeamsProxy {
    pub(super) proxies: Vec<ProxyState>,
    pub(super) directory: Directory,
    pub(super) sbc_port: u16,
    pub(super) media_ip: IpAddr,
    next_media_port: u16,
    /// Where RTP ports come from when a driver owns sockets.
    media_ports: Option<PortSource>,
    pub(super) layer: TransactionLayer,
    pub(super) dialog_config: DialogConfig,
    /// Where the responses of each server transaction go, and the TLS
    /// facts of its request.
    pub(super) server_routes: HashMap<TransactionKey, Source>,
    pub(super) client_routes: HashMap<TransactionKey, ClientRoute>,
    pub(super) calls: BTreeMap<CallId, Call>,
    /// Calls by SIP Call-ID.
    pub(super) by_call_id: HashMap<String, CallId>,
    pub(super) health: Health,
    pub(super) rng: SplitMix64,
    next_call: u64,
    pub(super) transmits: VecDeque<Transmit>,
    pub(super) events: VecDeque<Event>,
}

impl TeamsProxy {
    /// Proxies, tenants and users from `config` (checked again here);
    /// `seed` drives SRTP keys and correlation ids.
    pub fn new(config: &EmulatorConfig, seed: u64) -> Result<TeamsProxy, ConfigError> {
        config.validate()?;
        let mut rng = SplitMix64::new(seed);
        let dialog_config = DialogConfig {
            seed: rng.next_u64(),
            ..DialogConfig::default()
        };
        Ok(TeamsProxy {
            proxies: config
                .proxies
                .iter()
                .map(|p| ProxyState {
                    fqdn: p.fqdn.to_ascii_lowercase(),
                    mode: p.mode,
                    retry_after_secs: p.retry_after_secs,
                })
                .collect(),
            directory: Directory::new(config),
            sbc_port: config.sbc.port,
            media_ip: config.media_ip,
            next_media_port: MEDIA_PORTS.0,
            media_ports: None,
            layer: TransactionLayer::with_config(TransactionLayerConfig::default()),
            dialog_config,
            server_routes: HashMap::new(),
            client_routes: HashMap::new(),
            calls: BTreeMap::new(),
            by_call_id: HashMap::new(),
            health: Health::new(Duration::from_secs(config.health_window_secs)),
            rng,
            next_call: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    /// The configured proxies: id and FQDN.
    pub fn proxies(&self) -> impl Iterator<Item = (ProxyId, &str)> + '_ {
        self.proxies
            .iter()
            .enumerate()
            .map(|(i, p)| (ProxyId(i), p.fqdn.as_str()))
    }

    /// The proxy with this FQDN.
    pub fn proxy_id(&self, fqdn: &str) -> Option<ProxyId> {
        self.proxies
            .iter()
            .position(|p| p.fqdn.eq_ignore_ascii_case(fqdn))
            .map(ProxyId)
    }

    /// Switches a proxy between up, unavailable (503 + Retry-After) and
    /// silent (no answers), for failover tests.
    pub fn set_proxy_mode(&mut self, proxy: ProxyId, mode: ProxyMode) -> Result<(), CallError> {
        let state = self
            .proxies
            .get_mut(proxy.0)
            .ok_or(CallError::NoProxyAvailable)?;
        state.mode = mode;
        Ok(())
    }

    /// The health of an SBC FQDN (a derived trunk that sends no OPTIONS
    /// shares the health of its base trunk).
    pub fn sbc_status(&self, fqdn: &str) -> SbcStatus {
        self.health.status(fqdn)
    }

    /// How many calls are ringing, being set up or established.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// The audio of `call` as negotiated (addresses, SDES suite and
    /// keys), once both sides' SDP is known.
    pub fn media_plan(&self, call: CallId) -> Option<MediaPlan> {
        self.calls.get(&call)?.media.plan()
    }

    /// Whether `call` is established and on hold (`a=inactive` either
    /// way); `None` for an unknown call.
    pub fn is_on_hold(&self, call: CallId) -> Option<bool> {
        self.calls.get(&call).map(|c| c.on_hold)
    }

    /// A message received on a connection of proxy `source.proxy`.
    pub fn handle_message(&mut self, message: Message, source: Source, now: Instant) {
        match message {
            Message::Request(request) => self.handle_request(request, source, now),
            Message::Response(response) => {
                // A response without branch or CSeq matches nothing: dropped.
                let _ = self.layer.handle_response(response, now);
            }
        }
        self.drain(now);
    }

    /// Sending `transmit` failed (connection refused, TLS failure, closed):
    /// the transaction of a request fails as with a timeout (RFC 3261
    /// §17.1.4, §8.1.3.1). A response or ACK that could not be sent needs
    /// nothing: the peer retransmits or times out.
    pub fn handle_send_failure(&mut self, transmit: &Transmit, now: Instant) {
        if let Message::Request(request) = &transmit.message {
            if let (false, Ok(key)) = (
                request.method == Method::Ack,
                TransactionKey::client(request),
            ) {
                self.layer.handle_transport_error(&key, now);
            }
        }
        self.drain(now);
    }

    /// Runs what is due at `now`: transaction timers, ring times, 2xx
    /// retransmissions, SBC health. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.layer.handle_timeout(now);
        for (fqdn, status) in self.health.handle_timeout(now) {
            self.events
                .push_back(Event::SbcStatusChanged { fqdn, status });
        }
        let due: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, call)| call.deadline().is_some_and(|at| at <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.call_timeout(id, now);
        }
        self.drain(now);
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must run next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let calls = self.calls.values().filter_map(Call::deadline).min();
        [self.layer.poll_timeout(), self.health.poll_timeout(), calls]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_request(&mut self, request: Request, source: Source, now: Instant) {
        let Some(proxy) = self.proxies.get(source.proxy.0) else {
            return;
        };
        if proxy.mode == ProxyMode::Silent {
            return;
        }
        // Unmatchable requests (no Via, no CSeq) are dropped.
        let Ok(key) = TransactionKey::server(&request) else {
            return;
        };
        let is_ack = request.method == Method::Ack;
        if !is_ack {
            self.server_routes.insert(key.clone(), source);
        }
        if self.layer.handle_request(request, true, now).is_err() && !is_ack {
            self.server_routes.remove(&key);
        }
    }

    /// Moves the transaction layer's outputs on until it is quiet.
    pub(super) fn drain(&mut self, now: Instant) {
        loop {
            while let Some(transmit) = self.layer.poll_transmit() {
                let route = match self.server_routes.get(&transmit.key) {
                    Some(source) => {
                        Some((source.proxy, Destination::Connection(source.connection)))
                    }
                    None => self
                        .client_routes
                        .get(&transmit.key)
                        .map(|route| (route.proxy, route.destination.clone())),
                };
                if let Some((proxy, destination)) = route {
                    self.transmits.push_back(Transmit {
                        proxy,
                        destination,
                        message: transmit.message,
                    });
                }
            }
            let Some(event) = self.layer.poll_event() else {
                break;
            };
            self.on_layer_event(event, now);
        }
    }

    fn on_layer_event(&mut self, event: LayerEvent, now: Instant) {
        match event {
            LayerEvent::Request { key, request } => self.on_request(key, request, now),
            LayerEvent::Overloaded { request } => {
                if let Ok(key) = TransactionKey::server(&request) {
                    self.server_routes.remove(&key);
                }
            }
            LayerEvent::Ack(ack) => self.on_ack(&ack, now),
            LayerEvent::StrayResponse(response) => self.on_stray_response(&response, now),
            LayerEvent::Transaction { key, event } => match event {
                TransactionEvent::Response(response) => self.on_response(&key, response, now),
                TransactionEvent::Ack(ack) => self.on_ack(&ack, now),
                TransactionEvent::Timeout { .. } | TransactionEvent::TransportError => {
                    self.on_client_failure(&key);
                }
                TransactionEvent::Terminated => {
                    self.server_routes.remove(&key);
                    self.client_routes.remove(&key);
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// Starts a client transaction for `request` towards the SBC.
    pub(super) fn send_request(
        &mut self,
        request: Request,
        route: ClientRoute,
        now: Instant,
    ) -> Result<TransactionKey, CallError> {
        let key = self
            .layer
            .send_request(request, true, now)
            .map_err(|e| CallError::Sip(e.to_string()))?;
        self.client_routes.insert(key.clone(), route);
        Ok(key)
    }

    /// Answers the request of server transaction `key`.
    pub(super) fn respond(&mut self, key: &TransactionKey, response: sip::Response, now: Instant) {
        // Fails only for a transaction that already ended; nothing to do.
        let _ = self.layer.send_response(key, response, now);
    }

    /// A new call id.
    pub(super) fn new_call_id(&mut self) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        id
    }

    /// Takes RTP ports from `source` instead of counting through Teams'
    /// media range: a driver binds a socket for each (so that emulators
    /// running side by side never pick the same port) and hands the port
    /// out; `None` from it falls back to counting.
    pub fn set_media_ports(&mut self, source: MediaPorts) {
        self.media_ports = Some(PortSource(source));
    }

    /// The next RTP port (RTCP multiplexed).
    pub(super) fn allocate_media_port(&mut self) -> u16 {
        if let Some(port) = self.media_ports.as_mut().and_then(|source| (source.0)()) {
            return port;
        }
        let port = self.next_media_port;
        self.next_media_port = if port >= MEDIA_PORTS.1 {
            MEDIA_PORTS.0
        } else {
            port + 2
        };
        port
    }

    /// Forgets a call.
    pub(super) fn end_call(&mut self, id: CallId) {
        if let Some(call) = self.calls.remove(&id) {
            self.by_call_id.remove(&call.sip_call_id);
        }
    }

    /// The FQDN of a proxy (empty for an unknown id, which cannot happen:
    /// ids come from our own list).
    pub(super) fn proxy_fqdn(&self, proxy: ProxyId) -> String {
        self.proxies
            .get(proxy.0)
            .map(|p| p.fqdn.clone())
            .unwrap_or_default()
    }
}
