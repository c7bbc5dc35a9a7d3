//! Counters of everything the transport received, sent, dropped or closed,
//! for metrics. Each drop or close reason has its own counter.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[doc = $doc:literal])+ $name:ident,)+) => {
        /// Live counters, shared by the tasks of one transport.
        #[derive(Debug, Default)]
        pub(crate) struct TransportStats {
            $(pub(crate) $name: AtomicU64,)+
        }

        /// A copy of the counters at one moment
        /// ([`SipTransport::stats`](crate::SipTransport::stats)).
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct StatsSnapshot {
            $($(#[doc = $doc])+ pub $name: u64,)+
        }

        impl TransportStats {
            pub(crate) fn snapshot(&self) -> StatsSnapshot {
                StatsSnapshot {
                    $($name: self.$name.load(Ordering::Relaxed),)+
                }
            }
        }
    };
}

counters! {
    /// Datagrams received on UDP sockets.
    datagrams_received,
    /// Messages delivered to the inbound channel (all transports).
    messages_received,
    /// Messages handed to a socket or connection.
    messages_sent,
    /// Datagrams that did not parse as a SIP message.
    malformed_datagrams,
    /// Datagrams larger than the message size limit.
    oversized_datagrams,
    /// Datagrams holding only CR/LF (keep-alives), ignored.
    datagram_keepalives,
    /// Requests dropped because their top Via is unusable.
    bad_via,
    /// Datagrams dropped because the inbound channel was full.
    inbound_queue_full,
    /// Messages that did not parse handed to the unparsable channel (all
    /// transports).
    unparsable_delivered,
    /// Datagrams that did not parse dropped because the unparsable
    /// channel was full.
    unparsable_queue_full,
    /// Complete messages on a stream that did not parse but whose
    /// Content-Length could be read: skipped, the connection stays open.
    malformed_stream_messages,
    /// Connections accepted from peers.
    connections_accepted,
    /// Connections we opened.
    connections_opened,
    /// Connections closed, for any reason.
    connections_closed,
    /// Connections refused or not opened: the total limit was reached.
    connection_limit_total,
    /// Connections refused: the per-IP limit was reached.
    connection_limit_per_ip,
    /// Failed TLS handshakes (both directions).
    tls_handshake_failures,
    /// TLS handshakes that timed out (both directions).
    tls_handshake_timeouts,
    /// Failed or timed out outbound TCP connects.
    connect_failures,
    /// Errors accepting a connection (e.g. out of file descriptors).
    accept_errors,
    /// Connections closed because the peer closed them.
    closed_by_peer,
    /// Connections closed after a read or write error.
    closed_io_error,
    /// Connections closed after a framing error (bad message on a stream).
    closed_framing_error,
    /// Connections closed because a message exceeded the size limit.
    closed_oversized,
    /// Connections closed because their input buffer exceeded the limit.
    closed_buffer_limit,
    /// Connections closed after the idle timeout.
    closed_idle,
    /// Connections closed because a message stayed incomplete too long.
    closed_message_timeout,
    /// Connections closed because a write took too long.
    closed_write_timeout,
    /// Connections closed because a keep-alive ping got no pong.
    closed_keepalive_timeout,
    /// Connections closed on request (shutdown, `close_connection`).
    closed_locally,
    /// CRLFCRLF pings received.
    pings_received,
    /// CRLF pongs sent.
    pongs_sent,
    /// CRLFCRLF pings sent.
    pings_sent,
    /// CRLF pongs received.
    pongs_received,
    /// Sends refused because the connection's send buffer was full.
    send_buffer_full,
    /// Sends that failed (closed connection, socket error).
    send_failures,
}

impl TransportStats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
