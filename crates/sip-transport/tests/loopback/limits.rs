//! Connection limits.

use sip_transport::{ResolvedTarget, SipTransport, Target, TransportConfig, TransportKind};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::common::{eventually, local, options, within};

/// Whether the server closes the stream without a byte.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(within(stream.read(&mut byte)).await, Ok(0) | Err(_))
}

#[tokio::test]
async fn per_source_connection_limit() {
    let config = TransportConfig {
        max_connections_per_ip: 2,
        ..TransportConfig::default()
    };
    let (server, _server_in) = SipTransport::new(config);
    let addr = server.listen_tcp(local("127.0.0.1:0")).await.unwrap();
    let first = TcpStream::connect(addr).await.unwrap();
    let _second = TcpStream::connect(addr).await.unwrap();
    eventually("two accepted", || server.connection_count() == 2).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    assert!(closed_by_server(&mut third).await);
    assert_eq!(server.stats().connection_limit_per_ip, 1);
    assert_eq!(server.connection_count(), 2);

    let mut refused_again = TcpStream::connect(addr).await.unwrap();
    assert!(closed_by_server(&mut refused_again).await);
    // Another source IP has its own count (127.0.0.2 is loopback too).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(local("127.0.0.2:0")).unwrap();
    let _from_other_ip = socket.connect(addr).await.unwrap();
    eventually("other IP accepted", || server.connection_count() == 3).await;

    // Closing one frees its slot.
    drop(first);
    eventually("slot freed", || server.connection_count() == 2).await;
    let _fourth = TcpStream::connect(addr).await.unwrap();
    eventually("accepted again", || server.connection_count() == 3).await;
    assert_eq!(server.stats().connection_limit_per_ip, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn total_connection_limit_covers_both_directions() {
    let config = TransportConfig {
        max_connections: 1,
        ..TransportConfig::default()
    };
    let (server, _server_in) = SipTransport::new(config.clone());
    let addr = server.listen_tcp(local("127.0.0.1:0")).await.unwrap();
    let _held = TcpStream::connect(addr).await.unwrap();
    eventually("accepted", || server.connection_count() == 1).await;
    let mut refused = TcpStream::connect(addr).await.unwrap();
    assert!(closed_by_server(&mut refused).await);
    assert_eq!(server.stats().connection_limit_total, 1);

    // Our own outbound connections count too.
    let peer = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = Target::Resolved(ResolvedTarget::new(
        TransportKind::Tcp,
        peer.local_addr().unwrap(),
    ));
    let result = server
        .send(options("sip:x@example.com", "lim"), &target)
        .await;
    assert!(matches!(
        result,
        Err(sip_transport::TransportError::ConnectionLimit)
    ));
    assert_eq!(server.stats().connection_limit_total, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_does_not_read_fills_the_send_buffer_then_times_out() {
    tokio::time::pause();
    let config = TransportConfig {
        max_buffered_bytes: 64 * 1024,
        write_timeout: std::time::Duration::from_secs(2),
        ..TransportConfig::default()
    };
    let (client, _client_in) = SipTransport::new(config);
    let peer = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = Target::Resolved(ResolvedTarget::new(
        TransportKind::Tcp,
        peer.local_addr().unwrap(),
    ));
    // The peer accepts but never reads: the kernel buffers fill, then ours.
    let mut refused = None;
    for i in 0..100_000 {
        let mut request = options("sip:x@example.com", &format!("fill-{i}"));
        request.body = bytes::Bytes::from(vec![b'x'; 16 * 1024]);
        request
            .headers
            .set(sip::HeaderName::ContentType, "text/plain");
        match client.send(request, &target).await {
            Ok(_) => tokio::task::yield_now().await,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert!(
        matches!(
            refused,
            Some(sip_transport::TransportError::SendBufferFull(_))
        ),
        "{refused:?}"
    );
    assert_eq!(client.stats().send_buffer_full, 1);
    // The stalled write ends the connection after the write timeout.
    eventually("write timed out", || {
        client.stats().closed_write_timeout == 1
    })
    .await;
    assert_eq!(client.connection_count(), 0);
    let _ = peer;
    client.shutdown().await;
}
