//! The errors of this crate, one enum per operation the caller reacts to
//! differently: sending ([`TransportError`]), loading TLS material
//! ([`TlsConfigError`]) and resolving a URI ([`ResolveError`]).

use std::io;
use std::path::PathBuf;

use crate::flow::{ConnectionId, TransportKind};

/// Why binding a socket or sending a message failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Binding a socket or listener failed.
    #[error("cannot bind {transport} on {addr}: {source}")]
    Bind {
        /// The transport of the socket.
        transport: TransportKind,
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The connection named by the target is closed (or never existed).
    #[error("connection {0} is closed")]
    ConnectionClosed(ConnectionId),
    /// No UDP socket of the target's address family is bound.
    #[error("no UDP socket for the address family of the target")]
    NoUdpSocket,
    /// A TLS target was given but no TLS client was configured.
    #[error("no TLS client configuration")]
    NoTlsClient,
    /// The limit on open connections was reached.
    #[error("connection limit reached")]
    ConnectionLimit,
    /// Opening a TCP connection failed.
    #[error("cannot connect: {0}")]
    Connect(io::Error),
    /// Opening a TCP connection took longer than the connect timeout.
    #[error("connect timed out")]
    ConnectTimeout,
    /// The TLS handshake with the peer failed (certificate rejected,
    /// protocol error, peer closed).
    #[error("TLS handshake failed: {0}")]
    Handshake(io::Error),
    /// The TLS handshake took longer than the handshake timeout.
    #[error("TLS handshake timed out")]
    HandshakeTimeout,
    /// The target's server name is not a valid DNS name or IP address.
    #[error("invalid TLS server name {0:?}")]
    InvalidServerName(String),
    /// The message is larger than the transport can carry (a UDP datagram
    /// holds at most 65,507 bytes; streams obey [`sip::Limits`]).
    #[error("message of {size} bytes is too large (limit {limit})")]
    MessageTooLarge {
        /// The serialized size.
        size: usize,
        /// The limit that applied.
        limit: usize,
    },
    /// The connection's send queue holds more than the configured
    /// `max_buffered_bytes`: the peer does not read.
    #[error("send buffer of connection {0} is full")]
    SendBufferFull(ConnectionId),
    /// The request has no usable top Via to fill in, or a response has
    /// none to route by.
    #[error("bad Via: {0}")]
    Via(#[from] sip::HeaderError),
    /// The UDP socket refused the datagram.
    #[error("cannot send datagram: {0}")]
    Send(io::Error),
    /// The transport was shut down.
    #[error("transport is shut down")]
    Shutdown,
}

/// Why TLS certificates, keys or CA bundles could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// The PEM file could not be read or parsed.
    #[error("cannot read PEM file {path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The file holds no certificate.
    #[error("no certificate in {0}")]
    NoCertificate(PathBuf),
    /// The file holds no private key.
    #[error("no private key in {0}")]
    NoPrivateKey(PathBuf),
    /// A server was configured without any certificate.
    #[error("a TLS server needs at least one certificate")]
    NoServerCertificate,
    /// The private key is unsupported or does not match the certificate.
    #[error("key {path} does not fit its certificate: {source}")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
    /// A CA bundle certificate was rejected as a trust anchor.
    #[error("bad CA certificate in {path}: {source}")]
    BadCa {
        /// The bundle.
        path: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
    /// The client certificate verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Why a SIP URI could not be resolved to targets (RFC 3263).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The URI scheme is neither `sip` nor `sips`.
    #[error("cannot resolve a URI of this scheme")]
    UnsupportedScheme,
    /// The `transport` parameter names a transport this crate lacks.
    #[error("unsupported transport {0:?}")]
    UnsupportedTransport(String),
    /// A `sips` URI asks for a transport other than TLS.
    #[error("a sips URI needs TLS, not {0}")]
    InsecureTransport(TransportKind),
    /// The name has no usable records (and no static entry).
    #[error("no address found for {0}")]
    NotFound(String),
    /// No DNS resolver is configured and the name has no static entry.
    #[error("no DNS configured to resolve {0}")]
    NoDns(String),
    /// The DNS lookup failed.
    #[error("DNS lookup failed: {0}")]
    Dns(#[from] hickory_resolver::ResolveError),
}
