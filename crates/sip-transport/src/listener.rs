//! Accepting TCP and TLS connections: the connection limits are checked
//! before anything else, the TLS handshake runs in the connection's own
//! task under a timeout, so a slow client never blocks the accept loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::connection;
use crate::flow::TransportKind;
use crate::registry::{ConnectionInfo, LimitHit, Slot};
use crate::stats::TransportStats;
use crate::tls::{PeerCertificate, TlsServer};
use crate::transport::Shared;

/// Pause after a failed accept (e.g. out of file descriptors), so the loop
/// does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Accepts connections until the transport shuts down.
pub(crate) async fn run(listener: TcpListener, tls: Option<TlsServer>, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            biased;
            () = shared.cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                TransportStats::bump(&shared.stats.accept_errors);
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let slot = match shared
            .registry
            .try_reserve(Some(remote.ip()), &shared.config)
        {
            Ok(slot) => slot,
            Err(LimitHit::Total) => {
                TransportStats::bump(&shared.stats.connection_limit_total);
                continue;
            }
            Err(LimitHit::PerIp) => {
                TransportStats::bump(&shared.stats.connection_limit_per_ip);
                continue;
            }
        };
        let task = accept(tcp, remote, slot, tls.clone(), Arc::clone(&shared));
        shared.tracker.spawn(task);
    }
}

async fn accept(
    tcp: TcpStream,
    remote: SocketAddr,
    slot: Slot,
    tls: Option<TlsServer>,
    shared: Arc<Shared>,
) {
    let _ = tcp.set_nodelay(true);
    let Ok(local) = tcp.local_addr() else {
        return;
    };
    let Some(tls) = tls else {
        TransportStats::bump(&shared.stats.connections_accepted);
        let info = ConnectionInfo {
            kind: TransportKind::Tcp,
            local,
            remote,
            peer_certificate: None,
            server_name: None,
            outbound: false,
        };
        let end = shared.registry.register(slot, info, &shared.cancel);
        connection::run(tcp, Arc::clone(&shared), end).await;
        return;
    };
    let handshake = tokio::time::timeout(
        shared.config.tls_handshake_timeout,
        tls.acceptor().accept(tcp),
    );
    let stream = tokio::select! {
        biased;
        () = shared.cancel.cancelled() => return,
        result = handshake => match result {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                TransportStats::bump(&shared.stats.tls_handshake_failures);
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                TransportStats::bump(&shared.stats.tls_handshake_timeouts);
                return;
            }
        },
    };
    TransportStats::bump(&shared.stats.connections_accepted);
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
        server_name: None,
        outbound: false,
    };
    let end = shared.registry.register(slot, info, &shared.cancel);
    connection::run(stream, Arc::clone(&shared), end).await;
}
