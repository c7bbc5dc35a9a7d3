//! Names for the flows messages travel on (RFC 5626 §3: a flow is the
//! transport, local and remote address of a message; for TCP and TLS, one
//! connection) and for where a message goes.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use sip::{Message, ParseError};

use crate::tls::PeerCertificate;

/// A SIP transport protocol (RFC 3261 §18, RFC 3263 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// UDP datagrams.
    Udp,
    /// A TCP connection.
    Tcp,
    /// TLS over a TCP connection.
    Tls,
}

impl TransportKind {
    /// The transport token of a Via (`UDP`, `TCP`, `TLS`).
    pub fn via_token(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
            TransportKind::Tls => "TLS",
        }
    }

    /// The default port (RFC 3261 §19.1.2): 5061 for TLS, else 5060.
    pub fn default_port(self) -> u16 {
        match self {
            TransportKind::Tls => 5061,
            TransportKind::Udp | TransportKind::Tcp => 5060,
        }
    }

    /// Whether the transport is a connection (TCP or TLS).
    pub fn is_stream(self) -> bool {
        !matches!(self, TransportKind::Udp)
    }

    /// The transport named by a Via token or a URI `transport` parameter,
    /// case-insensitively.
    pub fn from_token(token: &str) -> Option<TransportKind> {
        if token.eq_ignore_ascii_case("udp") {
            Some(TransportKind::Udp)
        } else if token.eq_ignore_ascii_case("tcp") {
            Some(TransportKind::Tcp)
        } else if token.eq_ignore_ascii_case("tls") {
            Some(TransportKind::Tls)
        } else {
            None
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.via_token())
    }
}

/// Identifies one TCP or TLS connection for as long as the transport
/// lives; never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub(crate) u64);

impl ConnectionId {
    /// The number behind the id, for upper layers that name connections
    /// in their own types.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The id [`ConnectionId::as_u64`] gave; an id of no open connection
    /// is harmless (sending on it fails with `ConnectionClosed`).
    pub fn from_u64(id: u64) -> ConnectionId {
        ConnectionId(id)
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn-{}", self.0)
    }
}

/// The flow a message arrived on or left by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// UDP, TCP or TLS.
    pub transport: TransportKind,
    /// Our address: the UDP socket's, or the connection's local end.
    pub local: SocketAddr,
    /// The peer's address: the datagram's source, or the connection's
    /// remote end.
    pub remote: SocketAddr,
    /// The connection, for TCP and TLS.
    pub connection: Option<ConnectionId>,
    /// For TLS, the certificate the peer presented and we verified (a
    /// server always presents one; a client only under mutual TLS).
    pub peer_certificate: Option<Arc<PeerCertificate>>,
}

/// A message received by the transport.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The message. A request's top Via carries `received` and `rport`
    /// filled in as RFC 3261 §18.2.1 and RFC 3581 §4 require.
    pub message: Message,
    /// Where it came from; reply with
    /// [`SipTransport::send_response`](crate::SipTransport::send_response).
    pub source: Flow,
}

/// Something the transport received but could not parse, handed to the
/// upper layer to answer (400, 505, 513: RFC 3261 §21.4.1, §21.5.6,
/// §21.4.11) or drop. Only a transport made with
/// [`SipTransport::with_unparsable`](crate::SipTransport::with_unparsable)
/// hands these out.
///
/// Over UDP every bad datagram arrives here. Over TCP and TLS only bytes
/// whose header block is complete do: a complete message whose
/// Content-Length can still be read keeps the connection open; anything
/// else (no or bad Content-Length, a message over the size limit) broke
/// the framing, so the connection is closed once the first message queued
/// after the hand-over (meant to be the answer) was written, or after one
/// second without one.
#[derive(Debug, Clone)]
pub struct Unparsable {
    /// The bytes: a whole datagram (for one over the size limit, its first
    /// `max_message_size + 1` bytes), or a stream message's header block
    /// and what of its body had arrived. Never more than
    /// [`sip::Limits::max_message_size`] + 1 bytes.
    pub bytes: Bytes,
    /// Why it did not parse.
    pub error: ParseError,
    /// Where it came from; answer with
    /// [`SipTransport::reply`](crate::SipTransport::reply).
    pub source: Flow,
}

/// A resolved next hop (RFC 3263 §4): transport, address and, for TLS, the
/// name the peer's certificate must cover.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResolvedTarget {
    /// The transport to use.
    pub transport: TransportKind,
    /// The peer's address.
    pub addr: SocketAddr,
    /// For TLS: the SNI and the name verified against the peer's
    /// certificate (RFC 5922 §7: the domain of the URI). Without it the IP
    /// address is verified.
    pub server_name: Option<String>,
}

impl ResolvedTarget {
    /// A target without a server name.
    pub fn new(transport: TransportKind, addr: SocketAddr) -> ResolvedTarget {
        ResolvedTarget {
            transport,
            addr,
            server_name: None,
        }
    }

    /// A TLS target whose certificate must cover `server_name`.
    pub fn tls(addr: SocketAddr, server_name: impl Into<String>) -> ResolvedTarget {
        ResolvedTarget {
            transport: TransportKind::Tls,
            addr,
            server_name: Some(server_name.into()),
        }
    }
}

/// Where [`SipTransport::send`](crate::SipTransport::send) sends a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An open TCP or TLS connection, e.g. the one a request came on.
    Connection(ConnectionId),
    /// An address: over UDP a datagram; over TCP or TLS an open
    /// connection to that address is reused (including one the peer
    /// opened to us and named by a Via `alias`, RFC 5923), else one is
    /// opened.
    Resolved(ResolvedTarget),
}

impl From<ResolvedTarget> for Target {
    fn from(target: ResolvedTarget) -> Target {
        Target::Resolved(target)
    }
}

impl From<ConnectionId> for Target {
    fn from(id: ConnectionId) -> Target {
        Target::Connection(id)
    }
}
