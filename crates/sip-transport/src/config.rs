//! Limits and timers of the transport. Every resource a peer can make us
//! hold is bounded here.

use std::time::Duration;

/// Configuration of a [`SipTransport`](crate::SipTransport).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// Parser limits for every message (the largest message, header
    /// count...); a datagram or stream message beyond them does not
    /// parse (see [`Unparsable`](crate::Unparsable)).
    pub limits: sip::Limits,
    /// Most TCP and TLS connections open at once, both directions.
    pub max_connections: usize,
    /// Most connections accepted from one IP address.
    pub max_connections_per_ip: usize,
    /// Most bytes held for one connection in each direction: unparsed
    /// input, and output queued for a peer that does not read.
    pub max_buffered_bytes: usize,
    /// How long an accepted or opened TLS handshake may take.
    pub tls_handshake_timeout: Duration,
    /// How long opening a TCP connection may take.
    pub connect_timeout: Duration,
    /// A connection with no traffic in either direction for this long is
    /// closed.
    pub idle_timeout: Duration,
    /// A message must be complete this long after its first byte arrived,
    /// or the connection is closed (slowloris).
    pub message_timeout: Duration,
    /// How long writing one message to a connection may take.
    pub write_timeout: Duration,
    /// Send a CRLFCRLF ping on connections we opened after this long
    /// without traffic (RFC 5626 §4.4.1); `None` sends none.
    pub keepalive_interval: Option<Duration>,
    /// How long to wait for the pong of a ping before closing the
    /// connection (RFC 5626 §4.4.1: 10 s).
    pub keepalive_timeout: Duration,
    /// Capacity of the inbound message channel; UDP datagrams beyond it
    /// are dropped and counted, connections wait.
    pub inbound_queue: usize,
    /// Receive and send buffer asked for each UDP socket (SO_RCVBUF,
    /// SO_SNDBUF; the kernel caps it at net.core.rmem_max/wmem_max): room
    /// for bursts while the loop is busy or descheduled, instead of drops.
    pub udp_buffer_bytes: usize,
    /// Host to write into the Via sent-by of our requests (e.g. the SBC's
    /// FQDN); `None` writes the local IP address.
    pub advertised_host: Option<String>,
    /// Also reuse a connection a peer opened for requests to its Via
    /// sent-by when the Via lacks the RFC 5923 `alias` parameter (the
    /// sent-by IP must still be the connection's remote IP).
    pub reuse_without_alias: bool,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            limits: sip::Limits::default(),
            max_connections: 10_000,
            max_connections_per_ip: 256,
            max_buffered_bytes: 256 * 1024,
            tls_handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            message_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            keepalive_interval: Some(Duration::from_secs(95)),
            keepalive_timeout: Duration::from_secs(10),
            inbound_queue: 1024,
            udp_buffer_bytes: 4 << 20,
            advertised_host: None,
            reuse_without_alias: false,
        }
    }
}
