//! Connection reuse (RFC 5923): requests to a peer that connected to us go
//! back over its connection.

use sip::Message;
use sip_transport::{ResolvedTarget, SipTransport, Target, TransportConfig, TransportKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{local, options, options_text, parse, recv, within};

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

#[tokio::test]
async fn requests_to_an_aliased_peer_use_its_connection() {
    let (sbc, mut sbc_in) = SipTransport::new(TransportConfig::default());
    let sbc_addr = sbc.listen_tcp(local("127.0.0.1:0")).await.unwrap();
    // The peer listens too, but must receive nothing there.
    let peer_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer_port = peer_listener.local_addr().unwrap().port();
    let mut peer = TcpStream::connect(sbc_addr).await.unwrap();
    let via = format!("SIP/2.0/TCP 127.0.0.1:{peer_port};branch=z9hG4bKalias;alias");
    peer.write_all(options_text(&via, "alias", 0).as_bytes())
        .await
        .unwrap();
    let got = recv(&mut sbc_in).await;
    let connection = got.source.connection.unwrap();

    let to_peer = Target::Resolved(ResolvedTarget::new(
        TransportKind::Tcp,
        local(&format!("127.0.0.1:{peer_port}")),
    ));
    let sent = sbc
        .send(options("sip:peer@example.com", "back"), &to_peer)
        .await
        .unwrap();
    assert_eq!(sent.connection, Some(connection));
    let Message::Request(request) = read_message(&mut peer).await else {
        panic!("a request")
    };
    assert_eq!(request.headers.call_id().unwrap(), "back");
    let via = request.headers.top_via().unwrap();
    assert_eq!(via.transport, "TCP");
    assert_eq!(via.port, Some(sbc_addr.port()), "our listening port");
    assert_eq!(sbc.stats().connections_opened, 0);
    let nothing = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        peer_listener.accept(),
    )
    .await;
    assert!(nothing.is_err(), "no new connection to the peer's listener");

    // Its source address works as a target too.
    let to_source = Target::Resolved(ResolvedTarget::new(TransportKind::Tcp, got.source.remote));
    let sent = sbc
        .send(options("sip:peer@example.com", "source"), &to_source)
        .await
        .unwrap();
    assert_eq!(sent.connection, Some(connection));
    sbc.shutdown().await;
}

#[tokio::test]
async fn without_alias_a_new_connection_is_opened() {
    let (sbc, mut sbc_in) = SipTransport::new(TransportConfig::default());
    let sbc_addr = sbc.listen_tcp(local("127.0.0.1:0")).await.unwrap();
    let peer_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer_port = peer_listener.local_addr().unwrap().port();
    let mut peer = TcpStream::connect(sbc_addr).await.unwrap();
    let via = format!("SIP/2.0/TCP 127.0.0.1:{peer_port};branch=z9hG4bKnoalias");
    peer.write_all(options_text(&via, "noalias", 0).as_bytes())
        .await
        .unwrap();
    let got = recv(&mut sbc_in).await;
    let to_peer = Target::Resolved(ResolvedTarget::new(
        TransportKind::Tcp,
        local(&format!("127.0.0.1:{peer_port}")),
    ));
    let sent = sbc
        .send(options("sip:peer@example.com", "new"), &to_peer)
        .await
        .unwrap();
    assert_ne!(sent.connection, got.source.connection);
    let (mut accepted, _) = within(peer_listener.accept()).await.unwrap();
    let message = read_message(&mut accepted).await;
    assert_eq!(message.headers().call_id().unwrap(), "new");
    assert_eq!(sbc.stats().connections_opened, 1);
    sbc.shutdown().await;
}

#[tokio::test]
async fn a_response_whose_connection_closed_opens_one_to_the_via() {
    let (sbc, mut sbc_in) = SipTransport::new(TransportConfig::default());
    let sbc_addr = sbc.listen_tcp(local("127.0.0.1:0")).await.unwrap();
    let peer_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer_port = peer_listener.local_addr().unwrap().port();
    let mut peer = TcpStream::connect(sbc_addr).await.unwrap();
    let via = format!("SIP/2.0/TCP 127.0.0.1:{peer_port};branch=z9hG4bKgone");
    peer.write_all(options_text(&via, "gone", 0).as_bytes())
        .await
        .unwrap();
    let got = recv(&mut sbc_in).await;
    drop(peer);
    let id = got.source.connection.unwrap();
    crate::common::eventually("closed", || sbc.connection(id).is_none()).await;
    let Message::Request(request) = &got.message else {
        panic!("a request")
    };
    let ok = sip::Response::for_request(request, sip::StatusCode::OK);
    sbc.send_response(ok, &got.source).await.unwrap();
    let (mut accepted, _) = within(peer_listener.accept()).await.unwrap();
    let Message::Response(response) = read_message(&mut accepted).await else {
        panic!("a response")
    };
    assert_eq!(response.headers.call_id().unwrap(), "gone");
    sbc.shutdown().await;
}
