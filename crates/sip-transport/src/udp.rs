//! The task of one UDP socket (RFC 3261 §18.1.2, §18.2.1): every datagram
//! is one message; CRLF keep-alives are counted and dropped; garbage and
//! oversized datagrams are counted and handed to the upper layer as
//! [`Unparsable`] (if it asked for them) to answer or drop.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use sip::{Message, ParseError};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;

use crate::flow::{Flow, Inbound, TransportKind, Unparsable};
use crate::stats::TransportStats;
use crate::transport::Shared;
use crate::via;

/// The largest UDP payload (65,535 - 8 UDP - 20 IPv4 header bytes).
pub(crate) const MAX_DATAGRAM: usize = 65_507;

/// Receives datagrams until the transport shuts down.
pub(crate) async fn run(socket: Arc<UdpSocket>, local: SocketAddr, shared: Arc<Shared>) {
    // One byte more than a message may have, to see that a datagram is
    // too large without reading all of it.
    let size = shared
        .config
        .limits
        .max_message_size
        .saturating_add(1)
        .min(MAX_DATAGRAM + 1);
    let mut buf = vec![0u8; size];
    loop {
        let received = tokio::select! {
            biased;
            () = shared.cancel.cancelled() => return,
            received = socket.recv_from(&mut buf) => received,
        };
        match received {
            Ok((len, remote)) => {
                let datagram = buf.get(..len).unwrap_or_default();
                handle_datagram(datagram, local, remote, &shared);
            }
            // ICMP errors of earlier sends surface here on some systems.
            Err(e) => tracing::debug!(error = %e, "UDP receive error"),
        }
    }
}

fn handle_datagram(datagram: &[u8], local: SocketAddr, remote: SocketAddr, shared: &Shared) {
    let stats = &shared.stats;
    TransportStats::bump(&stats.datagrams_received);
    let source = Flow {
        transport: TransportKind::Udp,
        local,
        remote,
        connection: None,
        peer_certificate: None,
    };
    let limit = shared.config.limits.max_message_size;
    if datagram.len() > limit {
        TransportStats::bump(&stats.oversized_datagrams);
        // The datagram was cut at `limit + 1` bytes: its real size is
        // unknown, but more than the limit.
        let error = ParseError::TooLarge {
            size: datagram.len(),
            limit,
        };
        hand_over_unparsable(datagram, error, source, shared);
        return;
    }
    if datagram.iter().all(|b| matches!(b, b'\r' | b'\n')) {
        TransportStats::bump(&stats.datagram_keepalives);
        return;
    }
    let message = match Message::parse_with(Bytes::copy_from_slice(datagram), &shared.config.limits)
    {
        Ok(message) => message,
        Err(error) => {
            TransportStats::bump(match error {
                ParseError::TooLarge { .. } => &stats.oversized_datagrams,
                _ => &stats.malformed_datagrams,
            });
            hand_over_unparsable(datagram, error, source, shared);
            return;
        }
    };
    let message = match message {
        Message::Request(mut request) => {
            if via::stamp_received(&mut request.headers, remote).is_err() {
                TransportStats::bump(&stats.bad_via);
                return;
            }
            Message::Request(request)
        }
        response => response,
    };
    let inbound = Inbound { message, source };
    match shared.inbound.try_send(inbound) {
        Ok(()) => TransportStats::bump(&stats.messages_received),
        Err(TrySendError::Full(_)) => TransportStats::bump(&stats.inbound_queue_full),
        Err(TrySendError::Closed(_)) => {}
    }
}

/// Hands a datagram that did not parse to the upper layer, if it wants
/// it; never waits.
fn hand_over_unparsable(datagram: &[u8], error: ParseError, source: Flow, shared: &Shared) {
    let Some(unparsable) = &shared.unparsable else {
        return;
    };
    let item = Unparsable {
        bytes: Bytes::copy_from_slice(datagram),
        error,
        source,
    };
    let stats = &shared.stats;
    match unparsable.try_send(item) {
        Ok(()) => TransportStats::bump(&stats.unparsable_delivered),
        Err(TrySendError::Full(_)) => TransportStats::bump(&stats.unparsable_queue_full),
        Err(TrySendError::Closed(_)) => {}
    }
}
