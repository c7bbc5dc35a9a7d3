//! What does not parse reaches the upper layer (`with_unparsable`), and
//! its answer goes back to the source: over UDP every bad datagram; over
//! TCP a bad message keeps the connection when its Content-Length can be
//! read, else the answer leaves before the connection closes.

use std::time::Duration;

use bytes::Bytes;
use sip::{Message, ParseError, Response, StatusCode};
use sip_transport::{SipTransport, TransportConfig, TransportKind, Unparsable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

use crate::common::{eventually, local, nothing, options_text, parse, recv, within, WAIT};

async fn recv_unparsable(unparsable: &mut mpsc::Receiver<Unparsable>) -> Unparsable {
    within(unparsable.recv())
        .await
        .expect("the channel is open")
}

/// An OPTIONS whose Max-Forwards does not parse; its Content-Length does.
fn bad_max_forwards(via: &str, call_id: &str, body: usize) -> String {
    options_text(via, call_id, body).replace("Max-Forwards: 70", "Max-Forwards: seventy")
}

/// The answer an upper layer would build: the request with the broken
/// header repaired, answered with `status`.
fn answer(text: &str, status: StatusCode) -> Response {
    let repaired = text.replace("Max-Forwards: seventy", "Max-Forwards: 70");
    let Message::Request(request) = parse(repaired.as_bytes()) else {
        panic!("a request")
    };
    Response::for_request(&request, status)
}

/// Reads from a raw stream until `count` complete messages (without
/// bodies) arrived or the peer closed; returns them and whether it closed.
async fn read_responses(stream: &mut TcpStream, count: usize) -> (Vec<Message>, bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut messages = Vec::new();
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            messages.push(parse(&buf[..end + 4]));
            buf.drain(..end + 4);
        }
        if messages.len() >= count {
            return (messages, false);
        }
        let n = within(stream.read(&mut chunk)).await.unwrap();
        if n == 0 {
            return (messages, true);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn every_bad_datagram_is_handed_over_and_answered_at_its_source() {
    let mut config = TransportConfig::default();
    config.limits.max_message_size = 1024;
    let (server, mut server_in, mut unparsable) = SipTransport::with_unparsable(config);
    let server_addr = server.bind_udp(local("127.0.0.1:0")).await.unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();

    let garbage = b"\x16\x03\x01 not SIP at all \xff\xfe";
    peer.send_to(garbage, server_addr).await.unwrap();
    let got = recv_unparsable(&mut unparsable).await;
    assert_eq!(&got.bytes[..], garbage);
    assert_eq!(got.source.transport, TransportKind::Udp);
    assert_eq!(got.source.remote, peer_addr);
    assert_eq!(got.source.local, server_addr);

    // Cut at the limit + 1: never more is held.
    let big = options_text("SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKbig", "big", 2000);
    peer.send_to(big.as_bytes(), server_addr).await.unwrap();
    let got = recv_unparsable(&mut unparsable).await;
    assert!(matches!(
        got.error,
        ParseError::TooLarge { limit: 1024, .. }
    ));
    assert_eq!(&got.bytes[..], &big.as_bytes()[..1025]);

    // Keep-alives are no error.
    peer.send_to(b"\r\n\r\n", server_addr).await.unwrap();

    // The Via names a third party: the answer still comes back here
    // (`received`), to the Via's port as RFC 3261 §18.2.2 says.
    let via = format!(
        "SIP/2.0/UDP 192.0.2.1:{};branch=z9hG4bKmf",
        peer_addr.port()
    );
    let text = bad_max_forwards(&via, "mf", 0);
    peer.send_to(text.as_bytes(), server_addr).await.unwrap();
    let got = recv_unparsable(&mut unparsable).await;
    assert!(
        got.error.to_string().contains("Max-Forwards"),
        "{}",
        got.error
    );
    assert_eq!(&got.bytes[..], text.as_bytes());
    let flow = server
        .reply(answer(&text, StatusCode::BAD_REQUEST), &got.source)
        .await
        .unwrap();
    assert_eq!(flow.remote, peer_addr);
    let mut buf = [0u8; 2048];
    let (n, from) = within(peer.recv_from(&mut buf)).await.unwrap();
    assert_eq!(from, server_addr);
    let Message::Response(response) = parse(&buf[..n]) else {
        panic!("a response")
    };
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let top = response.headers.top_via().unwrap();
    assert_eq!(top.received_ip(), Some(peer_addr.ip()));

    nothing(&mut server_in).await;
    let stats = server.stats();
    assert_eq!(stats.datagrams_received, 4);
    assert_eq!(stats.malformed_datagrams, 2);
    assert_eq!(stats.oversized_datagrams, 1);
    assert_eq!(stats.datagram_keepalives, 1);
    assert_eq!(stats.unparsable_delivered, 3);
    assert!(unparsable.try_recv().is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn without_the_channel_bad_datagrams_are_only_counted() {
    let (server, mut server_in) = SipTransport::new(TransportConfig::default());
    let server_addr = server.bind_udp(local("127.0.0.1:0")).await.unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let text = bad_max_forwards("SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx", "x", 0);
    peer.send_to(text.as_bytes(), server_addr).await.unwrap();
    eventually("counted", || server.stats().malformed_datagrams == 1).await;
    nothing(&mut server_in).await;
    assert_eq!(server.stats().unparsable_delivered, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_bad_message_with_a_readable_length_keeps_the_connection() {
    let (server, mut server_in, mut unparsable) =
        SipTransport::with_unparsable(TransportConfig::default());
    let server_addr = server.listen_tcp(local("127.0.0.1:0")).await.unwrap();
    let mut client = TcpStream::connect(server_addr).await.unwrap();

    // The bad message's body arrives in two parts, the second together
    // with a good message.
    let bad = bad_max_forwards("SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKbad", "bad", 10);
    let good = options_text("SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKgood", "good", 3);
    let split = bad.len() - 6;
    client.write_all(&bad.as_bytes()[..split]).await.unwrap();
    let got = recv_unparsable(&mut unparsable).await;
    let head = bad.find("\r\n\r\n").unwrap() + 4;
    assert!(got.bytes.len() >= head && bad.as_bytes()[..split].starts_with(&got.bytes));
    assert!(got.error.to_string().contains("Max-Forwards"));
    assert_eq!(got.source.transport, TransportKind::Tcp);
    assert!(got.source.connection.is_some());
    let mut rest = bad.as_bytes()[split..].to_vec();
    rest.extend_from_slice(good.as_bytes());
    client.write_all(&rest).await.unwrap();
    let next = recv(&mut server_in).await;
    assert_eq!(next.message.headers().call_id().unwrap(), "good");
    assert_eq!(&next.message.body()[..], b"xxx");
    assert_eq!(next.source.connection, got.source.connection);

    // The answer goes on the same connection, which stays open.
    server
        .reply(answer(&bad, StatusCode::BAD_REQUEST), &got.source)
        .await
        .unwrap();
    let (messages, closed) = read_responses(&mut client, 1).await;
    assert!(!closed);
    let Message::Response(response) = &messages[0] else {
        panic!("a response")
    };
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.headers.call_id().unwrap(), "bad");
    let stats = server.stats();
    assert_eq!(stats.malformed_stream_messages, 1);
    assert_eq!(stats.unparsable_delivered, 1);
    assert_eq!(stats.connections_closed, 0);
    assert_eq!(server.connection_count(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn an_oversized_message_is_answered_before_the_connection_closes() {
    let mut config = TransportConfig::default();
    config.limits.max_message_size = 1024;
    let (server, mut server_in, mut unparsable) = SipTransport::with_unparsable(config);
    let server_addr = server.listen_tcp(local("127.0.0.1:0")).await.unwrap();
    let mut client = TcpStream::connect(server_addr).await.unwrap();
    let text = options_text("SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKbig", "big", 4000);
    let head = text.find("\r\n\r\n").unwrap() + 4;
    client.write_all(text.as_bytes()).await.unwrap();

    // Only the header block is handed over.
    let got = recv_unparsable(&mut unparsable).await;
    assert!(matches!(
        got.error,
        ParseError::TooLarge { limit: 1024, .. }
    ));
    assert_eq!(got.bytes, Bytes::copy_from_slice(&text.as_bytes()[..head]));
    server
        .reply(answer(&text, StatusCode::MESSAGE_TOO_LARGE), &got.source)
        .await
        .unwrap();
    let (messages, closed) = read_responses(&mut client, 2).await;
    assert!(closed, "the framing is lost: the connection closes");
    assert_eq!(messages.len(), 1);
    let Message::Response(response) = &messages[0] else {
        panic!("a response")
    };
    assert_eq!(response.status, StatusCode::MESSAGE_TOO_LARGE);
    eventually("closed", || server.stats().closed_oversized == 1).await;
    assert!(server_in.try_recv().is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn a_framing_error_unanswered_closes_after_the_grace() {
    let (server, mut server_in, mut unparsable) =
        SipTransport::with_unparsable(TransportConfig::default());
    let server_addr = server.listen_tcp(local("127.0.0.1:0")).await.unwrap();
    let mut client = TcpStream::connect(server_addr).await.unwrap();
    let text = options_text("SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKnl", "nolength", 0)
        .replace("Content-Length: 0\r\n", "");
    client.write_all(text.as_bytes()).await.unwrap();
    let got = recv_unparsable(&mut unparsable).await;
    assert_eq!(got.error, ParseError::MissingContentLength);
    assert_eq!(&got.bytes[..], text.as_bytes());
    // Nobody answers: closed within a wait, not held until idle.
    let started = tokio::time::Instant::now();
    let (messages, closed) = read_responses(&mut client, 1).await;
    assert!(closed && messages.is_empty());
    assert!(started.elapsed() < WAIT);
    assert_eq!(server.stats().closed_framing_error, 1);
    assert!(server_in.try_recv().is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn stream_garbage_without_a_header_block_is_not_handed_over() {
    let mut config = TransportConfig::default();
    config.limits.max_message_size = 1024;
    let (server, _server_in, mut unparsable) = SipTransport::with_unparsable(config);
    let server_addr = server.listen_tcp(local("127.0.0.1:0")).await.unwrap();
    let mut client = TcpStream::connect(server_addr).await.unwrap();
    let _ = client.write_all(&[b'x'; 3000]).await;
    let mut rest = Vec::new();
    let _ = within(client.read_to_end(&mut rest)).await;
    assert!(rest.is_empty());
    eventually("closed", || server.stats().closed_oversized == 1).await;
    let got = tokio::time::timeout(Duration::from_millis(300), unparsable.recv()).await;
    assert!(got.is_err(), "nothing to answer: {got:?}");
    server.shutdown().await;
}
