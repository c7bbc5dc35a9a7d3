//! The task of one UDP socket (RFC 3261 §18.1.2, §18.2.1): every datagram
//! is one message; garbage, oversized datagrams and CRLF keep-alives are
//! counted and dropped, never answered.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use sip::{Message, ParseError};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;

use crate::flow::{Flow, Inbound, TransportKind};
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
    if datagram.len() > shared.config.limits.max_message_size {
        TransportStats::bump(&stats.oversized_datagrams);
        return;
    }
    if datagram.iter().all(|b| matches!(b, b'\r' | b'\n')) {
        TransportStats::bump(&stats.datagram_keepalives);
        return;
    }
    let message = match Message::parse_with(Bytes::copy_from_slice(datagram), &shared.config.limits)
    {
        Ok(message) => message,
        Err(ParseError::TooLarge { .. }) => {
            TransportStats::bump(&stats.oversized_datagrams);
            return;
        }
        Err(_) => {
            TransportStats::bump(&stats.malformed_datagrams);
            return;
        }
    };
    let message = match message {
        Message::Request(mut request) => {
            if via::stamp_received(&mut request, remote).is_err() {
                TransportStats::bump(&stats.bad_via);
                return;
            }
            Message::Request(request)
        }
        response => response,
    };
    let inbound = Inbound {
        message,
        source: Flow {
            transport: TransportKind::Udp,
            local,
            remote,
            connection: None,
            peer_certificate: None,
        },
    };
    match shared.inbound.try_send(inbound) {
        Ok(()) => TransportStats::bump(&stats.messages_received),
        Err(TrySendError::Full(_)) => TransportStats::bump(&stats.inbound_queue_full),
        Err(TrySendError::Closed(_)) => {}
    }
}
