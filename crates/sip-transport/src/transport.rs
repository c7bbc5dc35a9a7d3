//! The handle the upper layer holds: binds sockets, sends messages (RFC
//! 3261 §18.1.1 for requests, §18.2.2 and RFC 3581 §4 for responses,
//! RFC 5923 connection reuse) and hands out statistics. The tasks behind
//! it only move bytes and timers.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use sip::{Message, Response};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::TransportConfig;
use crate::connection;
use crate::error::TransportError;
use crate::flow::{ConnectionId, Flow, Inbound, ResolvedTarget, Target, TransportKind, Unparsable};
use crate::listener;
use crate::registry::{ConnectionHandle, ConnectionInfo, Registry};
use crate::stats::{StatsSnapshot, TransportStats};
use crate::tls::{PeerCertificate, TlsClient, TlsServer};
use crate::udp::{self, MAX_DATAGRAM};
use crate::via;

/// What the handle and every task share.
pub(crate) struct Shared {
    pub(crate) config: TransportConfig,
    pub(crate) stats: TransportStats,
    pub(crate) registry: Arc<Registry>,
    pub(crate) inbound: mpsc::Sender<Inbound>,
    /// Where messages that did not parse go, if the upper layer wants
    /// them.
    pub(crate) unparsable: Option<mpsc::Sender<Unparsable>>,
    pub(crate) cancel: CancellationToken,
    pub(crate) tracker: TaskTracker,
    tls_client: RwLock<Option<TlsClient>>,
    udp_sockets: RwLock<Vec<(SocketAddr, Arc<UdpSocket>)>>,
    /// Local addresses of our TCP and TLS listeners (their ports go into
    /// the Via of requests sent over connections, RFC 3261 §18.1.1).
    listeners: RwLock<Vec<(TransportKind, SocketAddr)>>,
    /// One lock per target being connected to, so concurrent sends open
    /// one connection.
    connecting: Mutex<HashMap<ResolvedTarget, Arc<tokio::sync::Mutex<()>>>>,
}

/// SIP over UDP, TCP and TLS: a cheap, cloneable handle to the sockets
/// and connection tasks of one transport.
///
/// Received messages arrive on the channel returned by
/// [`SipTransport::new`] (and what did not parse on the second channel of
/// [`SipTransport::with_unparsable`]); send with [`send`](Self::send) (requests and
/// anything with a known target) or [`send_response`](Self::send_response)
/// (a response to a received request). Every task stops on
/// [`shutdown`](Self::shutdown).
#[derive(Clone)]
pub struct SipTransport {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SipTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipTransport")
            .field("connections", &self.shared.registry.len())
            .finish_non_exhaustive()
    }
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    match lock.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn write<T>(lock: &RwLock<T>, update: impl FnOnce(&mut T)) {
    match lock.write() {
        Ok(mut guard) => update(&mut guard),
        Err(poisoned) => update(&mut poisoned.into_inner()),
    }
}

impl SipTransport {
    /// A transport without sockets yet, and the channel its received
    /// messages arrive on. Needs a tokio runtime for the later calls.
    /// What does not parse is counted and dropped.
    pub fn new(config: TransportConfig) -> (SipTransport, mpsc::Receiver<Inbound>) {
        SipTransport::build(config, None)
    }

    /// As [`SipTransport::new`], with a second channel for what did not
    /// parse ([`Unparsable`]), so the upper layer can answer it (RFC 3261
    /// §21.4.1 400, §21.5.6 505, §21.4.11 513) with
    /// [`reply`](Self::reply). Its capacity is `inbound_queue` too; UDP
    /// datagrams beyond it are dropped and counted.
    pub fn with_unparsable(
        config: TransportConfig,
    ) -> (
        SipTransport,
        mpsc::Receiver<Inbound>,
        mpsc::Receiver<Unparsable>,
    ) {
        let (tx, rx) = mpsc::channel(config.inbound_queue.max(1));
        let (transport, inbound) = SipTransport::build(config, Some(tx));
        (transport, inbound, rx)
    }

    fn build(
        config: TransportConfig,
        unparsable: Option<mpsc::Sender<Unparsable>>,
    ) -> (SipTransport, mpsc::Receiver<Inbound>) {
        let (tx, rx) = mpsc::channel(config.inbound_queue.max(1));
        let shared = Shared {
            config,
            stats: TransportStats::default(),
            registry: Arc::new(Registry::default()),
            inbound: tx,
            unparsable,
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
            tls_client: RwLock::new(None),
            udp_sockets: RwLock::new(Vec::new()),
            listeners: RwLock::new(Vec::new()),
            connecting: Mutex::new(HashMap::new()),
        };
        (
            SipTransport {
                shared: Arc::new(shared),
            },
            rx,
        )
    }

    /// Binds a UDP socket and starts receiving on it; returns its address
    /// (with the port the system chose for port 0).
    pub async fn bind_udp(&self, addr: SocketAddr) -> Result<SocketAddr, TransportError> {
        let bind_error = |source| TransportError::Bind {
            transport: TransportKind::Udp,
            addr,
            source,
        };
        let socket =
            bind_udp_socket(addr, self.shared.config.udp_buffer_bytes).map_err(bind_error)?;
        let local = socket.local_addr().map_err(bind_error)?;
        let socket = Arc::new(socket);
        write(&self.shared.udp_sockets, |s| {
            s.push((local, Arc::clone(&socket)))
        });
        let shared = Arc::clone(&self.shared);
        self.shared.tracker.spawn(udp::run(socket, local, shared));
        Ok(local)
    }

    /// Listens for TCP connections; returns the listening address.
    pub async fn listen_tcp(&self, addr: SocketAddr) -> Result<SocketAddr, TransportError> {
        self.listen(addr, None).await
    }

    /// Listens for TLS connections with the given certificates and client
    /// authentication; returns the listening address.
    pub async fn listen_tls(
        &self,
        addr: SocketAddr,
        server: TlsServer,
    ) -> Result<SocketAddr, TransportError> {
        self.listen(addr, Some(server)).await
    }

    async fn listen(
        &self,
        addr: SocketAddr,
        tls: Option<TlsServer>,
    ) -> Result<SocketAddr, TransportError> {
        let kind = match tls {
            Some(_) => TransportKind::Tls,
            None => TransportKind::Tcp,
        };
        let bind_error = |source| TransportError::Bind {
            transport: kind,
            addr,
            source,
        };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let local = listener.local_addr().map_err(bind_error)?;
        write(&self.shared.listeners, |l| l.push((kind, local)));
        let shared = Arc::clone(&self.shared);
        self.shared
            .tracker
            .spawn(listener::run(listener, tls, shared));
        Ok(local)
    }

    /// Sets (or removes) the TLS configuration of connections we open.
    pub fn set_tls_client(&self, client: Option<TlsClient>) {
        write(&self.shared.tls_client, |c| *c = client);
    }

    /// Sends a message to a target and returns the flow it left by.
    ///
    /// A request whose top Via still has the dialog layer's placeholder
    /// sent-by gets the transport and our address there (the configured
    /// advertised host, else the local IP; for TCP and TLS the port of our
    /// listener of that transport, else the connection's local port).
    ///
    /// Over TCP and TLS an open connection to the target's address is
    /// reused: one we opened, or one the peer opened whose remote address
    /// or advertised alias it is (for TLS with a server name, only if the
    /// name was verified on it). Otherwise a connection is opened; its
    /// failure is the error to fail over on (RFC 3263 §4.3).
    pub async fn send(
        &self,
        message: impl Into<Message>,
        target: &Target,
    ) -> Result<Flow, TransportError> {
        if self.shared.cancel.is_cancelled() {
            return Err(TransportError::Shutdown);
        }
        let message = message.into();
        let result = match target {
            Target::Connection(id) => match self.shared.registry.get(*id) {
                Some(handle) => self.send_on(&handle, message),
                None => Err(TransportError::ConnectionClosed(*id)),
            },
            Target::Resolved(target) if target.transport == TransportKind::Udp => {
                self.send_datagram(message, None, target.addr).await
            }
            Target::Resolved(target) => match self.shared.registry.find(target) {
                Some(handle) => self.send_on(&handle, message),
                None => match self.connect(target).await {
                    Ok(handle) => self.send_on(&handle, message),
                    Err(e) => Err(e),
                },
            },
        };
        if result.is_err() {
            TransportStats::bump(&self.shared.stats.send_failures);
        }
        result
    }

    /// Sends a response to a request that arrived on `source` (RFC 3261
    /// §18.2.2): over TCP and TLS on the request's connection, or if that
    /// closed, on a connection to the Via's `received` address and sent-by
    /// port; over UDP from the socket the request came to, to the
    /// `received` address and `rport` (RFC 3581 §4).
    pub async fn send_response(
        &self,
        response: Response,
        source: &Flow,
    ) -> Result<Flow, TransportError> {
        if source.transport.is_stream() {
            if let Some(handle) = source
                .connection
                .and_then(|id| self.shared.registry.get(id))
            {
                return self.send_on(&handle, Message::Response(response));
            }
        }
        let addr = via::response_address(&response, source.transport, source.remote)?;
        match source.transport {
            TransportKind::Udp => {
                let result = self
                    .send_datagram(Message::Response(response), Some(source.local), addr)
                    .await;
                if result.is_err() {
                    TransportStats::bump(&self.shared.stats.send_failures);
                }
                result
            }
            kind => {
                let target = Target::Resolved(ResolvedTarget::new(kind, addr));
                self.send(response, &target).await
            }
        }
    }

    /// Sends a response to a message that did not parse ([`Unparsable`])
    /// back to `source`. Its top Via was never stamped, so it is stamped
    /// here as RFC 3261 §18.2.1 and RFC 3581 §4 stamp a request's:
    /// `received` is always the source IP, whatever the Via names, so a
    /// forged Via cannot aim the answer at a third party. Then as
    /// [`send_response`](Self::send_response).
    pub async fn reply(
        &self,
        mut response: Response,
        source: &Flow,
    ) -> Result<Flow, TransportError> {
        if let Err(e) = via::stamp_received(&mut response.headers, source.remote) {
            TransportStats::bump(&self.shared.stats.send_failures);
            return Err(e.into());
        }
        self.send_response(response, source).await
    }

    /// The flow of an open connection (its addresses and peer
    /// certificate).
    pub fn connection(&self, id: ConnectionId) -> Option<Flow> {
        self.shared.registry.get(id).map(|h| h.flow())
    }

    /// Closes a connection (e.g. after a 503 from a Teams proxy); `false`
    /// if it is not open.
    pub fn close_connection(&self, id: ConnectionId) -> bool {
        self.shared.registry.close(id)
    }

    /// Number of open TCP and TLS connections.
    pub fn connection_count(&self) -> usize {
        self.shared.registry.len()
    }

    /// The counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Stops every listener, socket and connection and waits for their
    /// tasks to end.
    pub async fn shutdown(&self) {
        self.shared.cancel.cancel();
        self.shared.tracker.close();
        self.shared.tracker.wait().await;
    }

    /// Fills the placeholder Via of a request leaving on `kind` from
    /// `local`.
    fn fill_via(
        &self,
        message: &mut Message,
        kind: TransportKind,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<(), TransportError> {
        let Message::Request(request) = message else {
            return Ok(());
        };
        if !via::has_placeholder(request) {
            return Ok(());
        }
        let mut local = local;
        if kind.is_stream() {
            let listening = read(&self.shared.listeners)
                .into_iter()
                .find(|(k, addr)| *k == kind && addr.is_ipv4() == local.is_ipv4());
            if let Some((_, addr)) = listening {
                local.set_port(addr.port());
            }
        }
        let host = self.shared.config.advertised_host.as_deref();
        if host.is_none() && local.ip().is_unspecified() {
            local.set_ip(route_source(remote).unwrap_or(local.ip()));
        }
        let sent_by = via::sent_by(host, local);
        sip_core::fill_via_sent_by(request, kind.via_token(), &sent_by).map_err(|_| {
            TransportError::Via(sip::HeaderError::Invalid {
                header: "Via",
                reason: "no branch",
            })
        })
    }

    fn send_on(
        &self,
        handle: &ConnectionHandle,
        mut message: Message,
    ) -> Result<Flow, TransportError> {
        let info = &handle.info;
        self.fill_via(&mut message, info.kind, info.local, info.remote)?;
        let bytes = message.to_bytes();
        let limit = self.shared.config.max_buffered_bytes;
        if bytes.len() > limit {
            return Err(TransportError::MessageTooLarge {
                size: bytes.len(),
                limit,
            });
        }
        if let Err(e) = handle.send(bytes, limit) {
            if matches!(e, TransportError::SendBufferFull(_)) {
                TransportStats::bump(&self.shared.stats.send_buffer_full);
            }
            return Err(e);
        }
        Ok(handle.flow())
    }

    /// Sends a datagram from the socket bound to `local`, else from the
    /// first socket of the destination's address family.
    async fn send_datagram(
        &self,
        message: Message,
        local: Option<SocketAddr>,
        to: SocketAddr,
    ) -> Result<Flow, TransportError> {
        let (socket, local, bytes) = self.prepare_datagram(message, local, to)?;
        socket
            .send_to(&bytes, to)
            .await
            .map_err(TransportError::Send)?;
        TransportStats::bump(&self.shared.stats.messages_sent);
        Ok(udp_flow(local, to))
    }

    /// Sends `message` over UDP to `to` now if the socket can take it
    /// (from the socket bound to `local`, else one of `to`'s address
    /// family): `Ok(None)` when it would block, so the caller queues it for
    /// [`send`](Self::send) instead. Saves a task switch per message on the
    /// hot path of a B2BUA that answers from its own loop.
    pub fn try_send_datagram(
        &self,
        message: &Message,
        local: Option<SocketAddr>,
        to: SocketAddr,
    ) -> Result<Option<Flow>, TransportError> {
        if self.shared.cancel.is_cancelled() {
            return Err(TransportError::Shutdown);
        }
        let result =
            self.prepare_datagram(message.clone(), local, to)
                .and_then(
                    |(socket, local, bytes)| match socket.try_send_to(&bytes, to) {
                        Ok(_) => Ok(Some(udp_flow(local, to))),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
                        Err(e) => Err(TransportError::Send(e)),
                    },
                );
        match &result {
            Ok(Some(_)) => TransportStats::bump(&self.shared.stats.messages_sent),
            Ok(None) => {}
            Err(_) => TransportStats::bump(&self.shared.stats.send_failures),
        }
        result
    }

    /// [`send_response`](Self::send_response) for a request that came
    /// over UDP, done now if the socket can take it: `Ok(None)` when it
    /// would block (see [`try_send_datagram`](Self::try_send_datagram)).
    pub fn try_send_udp_response(
        &self,
        response: &Response,
        source: &Flow,
    ) -> Result<Option<Flow>, TransportError> {
        let addr = via::response_address(response, TransportKind::Udp, source.remote)?;
        self.try_send_datagram(
            &Message::Response(response.clone()),
            Some(source.local),
            addr,
        )
    }

    /// The socket, its address and the serialized datagram (Via filled).
    fn prepare_datagram(
        &self,
        mut message: Message,
        local: Option<SocketAddr>,
        to: SocketAddr,
    ) -> Result<(Arc<UdpSocket>, SocketAddr, Bytes), TransportError> {
        let (local, socket) = {
            let sockets = read(&self.shared.udp_sockets);
            let chosen = sockets
                .iter()
                .find(|(addr, _)| Some(*addr) == local)
                .or_else(|| {
                    sockets
                        .iter()
                        .find(|(addr, _)| addr.is_ipv4() == to.is_ipv4())
                });
            let Some((local, socket)) = chosen else {
                return Err(TransportError::NoUdpSocket);
            };
            (*local, Arc::clone(socket))
        };
        self.fill_via(&mut message, TransportKind::Udp, local, to)?;
        let bytes: Bytes = message.to_bytes();
        if bytes.len() > MAX_DATAGRAM {
            return Err(TransportError::MessageTooLarge {
                size: bytes.len(),
                limit: MAX_DATAGRAM,
            });
        }
        Ok((socket, local, bytes))
    }

    /// Opens a connection to the target, or returns the one a concurrent
    /// send opened meanwhile.
    async fn connect(&self, target: &ResolvedTarget) -> Result<ConnectionHandle, TransportError> {
        let lock = {
            let mut connecting = self
                .shared
                .connecting
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            Arc::clone(connecting.entry(target.clone()).or_default())
        };
        let result = {
            let _connecting = lock.lock().await;
            match self.shared.registry.find(target) {
                Some(handle) => Ok(handle),
                None => self.open(target).await,
            }
        };
        let mut connecting = self
            .shared
            .connecting
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // The map's and ours: nobody else waits on this lock.
        if Arc::strong_count(&lock) <= 2 {
            connecting.remove(target);
        }
        result
    }

    async fn open(&self, target: &ResolvedTarget) -> Result<ConnectionHandle, TransportError> {
        let shared = &self.shared;
        let stats = &shared.stats;
        let Ok(slot) = shared.registry.try_reserve(None, &shared.config) else {
            TransportStats::bump(&stats.connection_limit_total);
            return Err(TransportError::ConnectionLimit);
        };
        let tls = match target.transport {
            TransportKind::Tls => match read(&shared.tls_client) {
                Some(client) => Some(client),
                None => return Err(TransportError::NoTlsClient),
            },
            _ => None,
        };
        let tcp = match tokio::time::timeout(
            shared.config.connect_timeout,
            TcpStream::connect(target.addr),
        )
        .await
        {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => {
                TransportStats::bump(&stats.connect_failures);
                return Err(TransportError::Connect(e));
            }
            Err(_) => {
                TransportStats::bump(&stats.connect_failures);
                return Err(TransportError::ConnectTimeout);
            }
        };
        let _ = tcp.set_nodelay(true);
        let local = tcp.local_addr().map_err(TransportError::Connect)?;
        let remote = target.addr;
        let Some(tls) = tls else {
            TransportStats::bump(&stats.connections_opened);
            let info = ConnectionInfo {
                kind: TransportKind::Tcp,
                local,
                remote,
                peer_certificate: None,
                server_name: None,
                outbound: true,
            };
            let end = shared.registry.register(slot, info, &shared.cancel);
            let handle = end.handle.clone();
            shared
                .tracker
                .spawn(connection::run(tcp, Arc::clone(shared), end));
            return Ok(handle);
        };
        let name = target
            .server_name
            .clone()
            .unwrap_or_else(|| remote.ip().to_string());
        let server_name = rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(|_| TransportError::InvalidServerName(name.clone()))?;
        let stream = match tokio::time::timeout(
            shared.config.tls_handshake_timeout,
            tls.connector().connect(server_name, tcp),
        )
        .await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                TransportStats::bump(&stats.tls_handshake_failures);
                return Err(TransportError::Handshake(e));
            }
            Err(_) => {
                TransportStats::bump(&stats.tls_handshake_timeouts);
                return Err(TransportError::HandshakeTimeout);
            }
        };
        TransportStats::bump(&stats.connections_opened);
        let peer_certificate = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .cloned()
            .and_then(PeerCertificate::from_der)
            .map(Arc::new);
        let info = ConnectionInfo {
            kind: TransportKind::Tls,
            local,
            remote,
            peer_certificate,
            server_name: target.server_name.clone(),
            outbound: true,
        };
        let end = shared.registry.register(slot, info, &shared.cancel);
        let handle = end.handle.clone();
        shared
            .tracker
            .spawn(connection::run(stream, Arc::clone(shared), end));
        Ok(handle)
    }
}

/// The local IP the system would send to `remote` from (a connected UDP
/// socket sends nothing), for a socket bound to the unspecified address.
fn route_source(remote: SocketAddr) -> Option<IpAddr> {
    let any: IpAddr = match remote {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = std::net::UdpSocket::bind((any, 0)).ok()?;
    socket.connect(remote).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

/// The flow of a datagram sent from `local` to `remote`.
fn udp_flow(local: SocketAddr, remote: SocketAddr) -> Flow {
    Flow {
        transport: TransportKind::Udp,
        local,
        remote,
        connection: None,
        peer_certificate: None,
    }
}

/// A non-blocking UDP socket bound to `addr` with buffers of about
/// `buffer_bytes` (what the kernel grants: a smaller buffer is no error).
fn bind_udp_socket(addr: SocketAddr, buffer_bytes: usize) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(buffer_bytes);
    let _ = socket.set_send_buffer_size(buffer_bytes);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod socket_tests {
    use super::*;

    #[tokio::test]
    async fn udp_sockets_get_the_buffers_asked_for_up_to_the_kernel_cap() {
        let wanted = 1 << 20;
        let socket = bind_udp_socket("127.0.0.1:0".parse().unwrap(), wanted).unwrap();
        let granted = socket2::SockRef::from(&socket).recv_buffer_size().unwrap();
        let cap = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(wanted);
        // Linux reports twice what it grants (bookkeeping included).
        assert!(
            granted >= wanted.min(cap),
            "{granted} < min({wanted}, {cap})"
        );
    }
}
