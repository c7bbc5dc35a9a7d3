//! The table of open TCP and TLS connections: lookup by id and by the
//! addresses a connection answers for (its remote address and the aliases
//! its peer advertised, RFC 5923), and the counts behind the connection
//! limits.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::TransportConfig;
use crate::error::TransportError;
use crate::flow::{ConnectionId, Flow, ResolvedTarget, TransportKind};
use crate::tls::PeerCertificate;

/// Messages queued per connection; bytes are bounded separately by
/// `max_buffered_bytes`.
const SEND_QUEUE: usize = 1024;

/// What is known about a connection once it is established.
#[derive(Debug)]
pub(crate) struct ConnectionInfo {
    pub(crate) kind: TransportKind,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) peer_certificate: Option<Arc<PeerCertificate>>,
    /// For a TLS connection we opened: the name we verified.
    pub(crate) server_name: Option<String>,
    /// Whether we opened it (keep-alive pings are sent on those).
    pub(crate) outbound: bool,
}

/// The sending side of a connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionHandle {
    pub(crate) id: ConnectionId,
    pub(crate) info: Arc<ConnectionInfo>,
    tx: mpsc::Sender<Bytes>,
    queued: Arc<AtomicUsize>,
    close: CancellationToken,
}

impl ConnectionHandle {
    /// Queues bytes for the connection's task to write.
    pub(crate) fn send(&self, bytes: Bytes, max_buffered: usize) -> Result<(), TransportError> {
        let len = bytes.len();
        let queued = self.queued.fetch_add(len, Ordering::AcqRel) + len;
        let refused = if queued > max_buffered {
            Some(TransportError::SendBufferFull(self.id))
        } else {
            match self.tx.try_send(bytes) {
                Ok(()) => None,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    Some(TransportError::SendBufferFull(self.id))
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    Some(TransportError::ConnectionClosed(self.id))
                }
            }
        };
        match refused {
            Some(e) => {
                self.queued.fetch_sub(len, Ordering::AcqRel);
                Err(e)
            }
            None => Ok(()),
        }
    }

    /// The flow of this connection.
    pub(crate) fn flow(&self) -> Flow {
        Flow {
            transport: self.info.kind,
            local: self.info.local,
            remote: self.info.remote,
            connection: Some(self.id),
            peer_certificate: self.info.peer_certificate.clone(),
        }
    }

    /// Whether this connection may carry requests for `target`: for TLS
    /// with a server name, the name we verified when we opened it, or a
    /// verified peer certificate covering it (RFC 5923 §5.3).
    fn serves(&self, target: &ResolvedTarget) -> bool {
        let Some(name) = target.server_name.as_deref() else {
            return true;
        };
        if target.transport != TransportKind::Tls {
            return true;
        }
        self.info
            .server_name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
            || self
                .info
                .peer_certificate
                .as_ref()
                .is_some_and(|c| c.covers(name))
    }
}

/// The task's side of a connection.
pub(crate) struct ConnectionEnd {
    pub(crate) rx: mpsc::Receiver<Bytes>,
    pub(crate) queued: Arc<AtomicUsize>,
    pub(crate) close: CancellationToken,
    pub(crate) handle: ConnectionHandle,
    /// Removes the connection from the table when dropped.
    _registration: Registration,
}

/// Which connection limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitHit {
    Total,
    PerIp,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    connections: HashMap<ConnectionId, Entry>,
    by_address: HashMap<(TransportKind, SocketAddr), ConnectionId>,
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

#[derive(Debug)]
struct Entry {
    handle: ConnectionHandle,
    keys: Vec<(TransportKind, SocketAddr)>,
}

/// The connection table.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    state: Mutex<State>,
}

/// A place in the connection counts, taken before a connection is
/// established and given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    registry: Arc<Registry>,
    ip: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.registry.lock();
        state.total = state.total.saturating_sub(1);
        if let Some(ip) = self.ip {
            if let Some(count) = state.per_ip.get_mut(&ip) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    state.per_ip.remove(&ip);
                }
            }
        }
    }
}

/// A registered connection; dropping it removes the connection from the
/// table, then frees its slot.
#[derive(Debug)]
pub(crate) struct Registration {
    id: ConnectionId,
    slot: Slot,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.slot.registry.remove(self.id);
    }
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug elsewhere; the table
        // itself stays consistent (every update is a single step).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a slot: `ip` counts against the per-IP limit (inbound
    /// connections), every slot against the total.
    pub(crate) fn try_reserve(
        self: &Arc<Self>,
        ip: Option<IpAddr>,
        config: &TransportConfig,
    ) -> Result<Slot, LimitHit> {
        let mut state = self.lock();
        if state.total >= config.max_connections {
            return Err(LimitHit::Total);
        }
        if let Some(ip) = ip {
            let count = state.per_ip.entry(ip).or_insert(0);
            if *count >= config.max_connections_per_ip {
                return Err(LimitHit::PerIp);
            }
            *count += 1;
        }
        state.total += 1;
        Ok(Slot {
            registry: Arc::clone(self),
            ip,
        })
    }

    /// Enters an established connection, reachable by its remote address.
    pub(crate) fn register(
        self: &Arc<Self>,
        slot: Slot,
        info: ConnectionInfo,
        parent: &CancellationToken,
    ) -> ConnectionEnd {
        let (tx, rx) = mpsc::channel(SEND_QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let close = parent.child_token();
        let mut state = self.lock();
        state.next_id += 1;
        let id = ConnectionId(state.next_id);
        let key = (info.kind, info.remote);
        let handle = ConnectionHandle {
            id,
            info: Arc::new(info),
            tx,
            queued: Arc::clone(&queued),
            close: close.clone(),
        };
        state.by_address.insert(key, id);
        state.connections.insert(
            id,
            Entry {
                handle: handle.clone(),
                keys: vec![key],
            },
        );
        drop(state);
        ConnectionEnd {
            rx,
            queued,
            close,
            handle,
            _registration: Registration { id, slot },
        }
    }

    /// Makes the connection reachable by an address its peer advertised.
    pub(crate) fn add_alias(&self, id: ConnectionId, kind: TransportKind, addr: SocketAddr) {
        let mut state = self.lock();
        let key = (kind, addr);
        if state.by_address.get(&key) == Some(&id) {
            return;
        }
        let Some(entry) = state.connections.get_mut(&id) else {
            return;
        };
        entry.keys.push(key);
        state.by_address.insert(key, id);
    }

    pub(crate) fn get(&self, id: ConnectionId) -> Option<ConnectionHandle> {
        self.lock().connections.get(&id).map(|e| e.handle.clone())
    }

    /// An open connection for the target, if one may carry its requests.
    pub(crate) fn find(&self, target: &ResolvedTarget) -> Option<ConnectionHandle> {
        let state = self.lock();
        let id = state.by_address.get(&(target.transport, target.addr))?;
        let handle = &state.connections.get(id)?.handle;
        handle.serves(target).then(|| handle.clone())
    }

    /// Asks a connection to close; `false` if it is not open.
    pub(crate) fn close(&self, id: ConnectionId) -> bool {
        match self.lock().connections.get(&id) {
            Some(entry) => {
                entry.handle.close.cancel();
                true
            }
            None => false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().connections.len()
    }

    fn remove(&self, id: ConnectionId) {
        let mut state = self.lock();
        if let Some(entry) = state.connections.remove(&id) {
            for key in entry.keys {
                if state.by_address.get(&key) == Some(&id) {
                    state.by_address.remove(&key);
                }
            }
        }
    }
}
