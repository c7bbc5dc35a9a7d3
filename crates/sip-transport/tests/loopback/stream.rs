//! TCP: framing, keep-alives, Via of requests over connections.

use std::time::Duration;

use sip::{Message, StatusCode};
use sip_transport::{ResolvedTarget, SipTransport, Target, TransportConfig, TransportKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{local, options, options_text, parse, recv, within};

/// Reads one complete message (Content-Length 0) from a raw stream.
async fn read_message(stream: &mut TcpStream) -> Message {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return parse(&buf[..end + 4]);
        }
        let n = within(stream.read(&mut chunk)).await.unwrap();
        assert!(n > 0, "connection closed before a message");
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn fragmented_and_pipelined(bind: &str) {
    let (server, mut server_in) = SipTransport::new(TransportConfig::default());
    let server_addr = server.listen_tcp(local(bind)).await.unwrap();
    let mut client = TcpStream::connect(server_addr).await.unwrap();
    let client_addr = client.local_addr().unwrap();

    let via = |b: &str| format!("SIP/2.0/TCP {client_addr};branch=z9hG4bK{b}");
    let first = options_text(&via("one"), "one", 37);
    for piece in first.as_bytes().chunks(7) {
        client.write_all(piece).await.unwrap();
        client.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let pipelined = format!(
        "{}{}",
        options_text(&via("two"), "two", 0),
        options_text(&via("three"), "three", 5)
    );
    client.write_all(pipelined.as_bytes()).await.unwrap();

    let mut sources = Vec::new();
    for expected in ["one", "two", "three"] {
        let got = recv(&mut server_in).await;
        assert_eq!(got.message.headers().call_id().unwrap(), expected);
        assert_eq!(got.source.transport, TransportKind::Tcp);
        assert_eq!(got.source.remote, client_addr);
        sources.push(got);
    }
    assert_eq!(sources[0].message.body().len(), 37);
    assert_eq!(sources[2].message.body().as_ref(), b"xxxxx");
    let conn = sources[0].source.connection.unwrap();
    assert!(sources.iter().all(|s| s.source.connection == Some(conn)));

    // The response goes back on the same connection.
    let Message::Request(request) = &sources[1].message else {
        panic!("a request")
    };
    let ok = sip::Response::for_request(request, StatusCode::OK);
    server.send_response(ok, &sources[1].source).await.unwrap();
    let Message::Response(response) = read_message(&mut client).await else {
        panic!("a response")
    };
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.headers.call_id().unwrap(), "two");
    assert_eq!(server.stats().connections_accepted, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn tcp_fragmented_and_pipelined_ipv4() {
    fragmented_and_pipelined("127.0.0.1:0").await;
}

#[tokio::test]
async fn tcp_fragmented_and_pipelined_ipv6() {
    fragmented_and_pipelined("[::1]:0").await;
}

#[tokio::test]
async fn tcp_between_transports_fills_the_listener_port_into_the_via() {
    let (server, mut server_in) = SipTransport::new(TransportConfig::default());
    let (client, mut client_in) = SipTransport::new(TransportConfig::default());
    let server_addr = server.listen_tcp(local("[::1]:0")).await.unwrap();
    let client_listener = client.listen_tcp(local("[::1]:0")).await.unwrap();
    let target = Target::Resolved(ResolvedTarget::new(TransportKind::Tcp, server_addr));
    let sent = client
        .send(options("sip:sbc@example.net", "tcp6"), &target)
        .await
        .unwrap();
    let got = recv(&mut server_in).await;
    assert_eq!(got.source.remote, sent.local);
    let via = got.message.headers().top_via().unwrap();
    assert_eq!(via.transport, "TCP");
    assert_eq!(via.port, Some(client_listener.port()), "listener port");
    assert_eq!(via.received_ip(), Some(sent.local.ip()));
    let Message::Request(request) = &got.message else {
        panic!("a request")
    };
    let ok = sip::Response::for_request(request, StatusCode::OK);
    server.send_response(ok, &got.source).await.unwrap();
    let answer = recv(&mut client_in).await;
    assert_eq!(answer.source.connection, sent.connection);
    // A second request reuses the connection.
    let again = client
        .send(options("sip:sbc@example.net", "tcp6-2"), &target)
        .await
        .unwrap();
    assert_eq!(again.connection, sent.connection);
    assert_eq!(client.stats().connections_opened, 1);
    server.shutdown().await;
    client.shutdown().await;
}

#[tokio::test]
async fn a_ping_gets_a_pong() {
    let (server, _server_in) = SipTransport::new(TransportConfig::default());
    let server_addr = server.listen_tcp(local("127.0.0.1:0")).await.unwrap();
    let mut client = TcpStream::connect(server_addr).await.unwrap();
    client.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    within(client.read_exact(&mut pong)).await.unwrap();
    assert_eq!(&pong, b"\r\n");
    let stats = server.stats();
    assert_eq!(stats.pings_received, 1);
    assert_eq!(stats.pongs_sent, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn idle_outbound_connections_are_pinged_and_closed_without_pong() {
    tokio::time::pause();
    let config = TransportConfig {
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(3600),
        ..TransportConfig::default()
    };
    let (client, _client_in) = SipTransport::new(config);
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = Target::Resolved(ResolvedTarget::new(
        TransportKind::Tcp,
        peer.local_addr().unwrap(),
    ));
    client
        .send(options("sip:peer@example.com", "ka"), &target)
        .await
        .unwrap();
    let (mut peer_conn, _) = peer.accept().await.unwrap();
    let _ = read_message(&mut peer_conn).await;

    // After 30 s of silence: a ping; answer it.
    let mut ping = [0u8; 4];
    peer_conn.read_exact(&mut ping).await.unwrap();
    assert_eq!(&ping, b"\r\n\r\n");
    peer_conn.write_all(b"\r\n").await.unwrap();
    crate::common::eventually("pong counted", || client.stats().pongs_received == 1).await;
    assert_eq!(client.stats().pings_sent, 1);

    // The next ping goes unanswered: the connection is closed.
    peer_conn.read_exact(&mut ping).await.unwrap();
    assert_eq!(&ping, b"\r\n\r\n");
    let mut rest = [0u8; 1];
    let n = peer_conn.read(&mut rest).await.unwrap_or(0);
    assert_eq!(n, 0, "closed after the keep-alive timeout");
    crate::common::eventually("closed", || client.connection_count() == 0).await;
    assert_eq!(client.stats().closed_keepalive_timeout, 1);
    client.shutdown().await;
}

#[tokio::test]
async fn idle_connections_are_closed() {
    tokio::time::pause();
    let config = TransportConfig {
        idle_timeout: Duration::from_secs(60),
        ..TransportConfig::default()
    };
    let (server, _server_in) = SipTransport::new(config);
    let server_addr = server.listen_tcp(local("127.0.0.1:0")).await.unwrap();
    let mut client = TcpStream::connect(server_addr).await.unwrap();
    crate::common::eventually("accepted", || server.connection_count() == 1).await;
    let started = tokio::time::Instant::now();
    let mut byte = [0u8; 1];
    let n = client.read(&mut byte).await.unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        started.elapsed() >= Duration::from_secs(59),
        "{:?}",
        started.elapsed()
    );
    crate::common::eventually("closed", || server.connection_count() == 0).await;
    let stats = server.stats();
    assert_eq!(stats.closed_idle, 1);
    assert_eq!(stats.connections_closed, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_message_trickling_in_is_cut_off() {
    tokio::time::pause();
    let config = TransportConfig {
        message_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(60),
        ..TransportConfig::default()
    };
    let (server, mut server_in) = SipTransport::new(config);
    let server_addr = server.listen_tcp(local("127.0.0.1:0")).await.unwrap();
    let mut client = TcpStream::connect(server_addr).await.unwrap();
    let text = options_text("SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKslow", "slow", 0);
    let started = tokio::time::Instant::now();
    let mut closed = false;
    for byte in text.as_bytes() {
        if client.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        if server.stats().closed_message_timeout == 1 {
            closed = true;
            break;
        }
    }
    assert!(closed, "the slow message was never cut off");
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.stats().closed_message_timeout, 1);
    assert!(server_in.try_recv().is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn an_oversized_message_closes_the_connection() {
    let mut config = TransportConfig::default();
    config.limits.max_message_size = 1024;
    let (server, mut server_in) = SipTransport::new(config);
    let server_addr = server.listen_tcp(local("127.0.0.1:0")).await.unwrap();
    let mut client = TcpStream::connect(server_addr).await.unwrap();
    let text = options_text("SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKbig", "big", 4000);
    let _ = client.write_all(text.as_bytes()).await;
    let mut rest = Vec::new();
    let _ = within(client.read_to_end(&mut rest)).await;
    assert!(rest.is_empty());
    crate::common::eventually("closed", || server.stats().closed_oversized == 1).await;
    assert_eq!(server.stats().connections_closed, 1);
    assert!(server_in.try_recv().is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn a_framing_error_closes_the_connection() {
    let (server, mut server_in) = SipTransport::new(TransportConfig::default());
    let server_addr = server.listen_tcp(local("127.0.0.1:0")).await.unwrap();
    let mut client = TcpStream::connect(server_addr).await.unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = within(client.read_to_end(&mut rest)).await;
    crate::common::eventually("closed", || server.stats().closed_framing_error == 1).await;
    assert!(server_in.try_recv().is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn a_closed_connection_target_is_an_error() {
    let (server, mut server_in) = SipTransport::new(TransportConfig::default());
    let server_addr = server.listen_tcp(local("127.0.0.1:0")).await.unwrap();
    let mut client = TcpStream::connect(server_addr).await.unwrap();
    let text = options_text("SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKc", "c", 0);
    client.write_all(text.as_bytes()).await.unwrap();
    let got = recv(&mut server_in).await;
    let id = got.source.connection.unwrap();
    assert!(server.connection(id).is_some());
    assert!(server.close_connection(id));
    let mut rest = Vec::new();
    let _ = within(client.read_to_end(&mut rest)).await;
    crate::common::eventually("closed", || server.connection(id).is_none()).await;
    let result = server
        .send(
            options("sip:x@example.com", "gone"),
            &Target::Connection(id),
        )
        .await;
    assert!(matches!(
        result,
        Err(sip_transport::TransportError::ConnectionClosed(c)) if c == id
    ));
    assert_eq!(server.stats().closed_locally, 1);
    server.shutdown().await;
}
