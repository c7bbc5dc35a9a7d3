//! UDP: a real SIP message both ways, Via filling, garbage.

use sip::{HeaderName, Message, StatusCode};
use sip_transport::{ResolvedTarget, SipTransport, Target, TransportConfig, TransportKind};

use crate::common::{eventually, local, nothing, options, parse, recv};

async fn echo(bind: &str) {
    let (server, mut server_in) = SipTransport::new(TransportConfig::default());
    let (client, mut client_in) = SipTransport::new(TransportConfig::default());
    let server_addr = server.bind_udp(local(bind)).await.unwrap();
    let client_addr = client.bind_udp(local(bind)).await.unwrap();

    let request = options(&format!("sip:{server_addr}"), "udp-echo");
    let target = Target::Resolved(ResolvedTarget::new(TransportKind::Udp, server_addr));
    let sent = client.send(request, &target).await.unwrap();
    assert_eq!(sent.local, client_addr);
    assert_eq!(sent.remote, server_addr);

    let got = recv(&mut server_in).await;
    assert_eq!(got.source.transport, TransportKind::Udp);
    assert_eq!(got.source.remote, client_addr);
    assert_eq!(got.source.local, server_addr);
    assert_eq!(got.source.connection, None);
    let Message::Request(request) = got.message else {
        panic!("a request")
    };
    assert_eq!(request.headers.call_id().unwrap(), "udp-echo");
    let via = request.headers.top_via().unwrap();
    assert_eq!(via.transport, "UDP");
    assert_eq!(via.host.ip(), Some(client_addr.ip()), "sent-by filled");
    assert_eq!(via.port, Some(client_addr.port()));
    assert_eq!(via.rport(), Some(Some(client_addr.port())), "rport filled");
    assert_eq!(via.received_ip(), Some(client_addr.ip()));
    let branch = via.branch().unwrap().to_owned();

    let ok = sip::Response::for_request(&request, StatusCode::OK);
    let flow = server.send_response(ok, &got.source).await.unwrap();
    assert_eq!(flow.remote, client_addr);

    let answer = recv(&mut client_in).await;
    assert_eq!(answer.source.remote, server_addr);
    let Message::Response(response) = answer.message else {
        panic!("a response")
    };
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.headers.top_via().unwrap().branch(), Some(&*branch));
    assert_eq!(server.stats().messages_received, 1);
    assert_eq!(client.stats().messages_sent, 1);
    server.shutdown().await;
    client.shutdown().await;
}

#[tokio::test]
async fn udp_echo_ipv4() {
    echo("127.0.0.1:0").await;
}

#[tokio::test]
async fn udp_echo_ipv6() {
    echo("[::1]:0").await;
}

#[tokio::test]
async fn response_follows_received_and_rport() {
    let (server, mut server_in) = SipTransport::new(TransportConfig::default());
    let server_addr = server.bind_udp(local("127.0.0.1:0")).await.unwrap();
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    // The sent-by claims a NATed private address; rport asks for the
    // response to come back to the source port (RFC 3581).
    let text = crate::common::options_text(
        "SIP/2.0/UDP 10.9.9.9:4540;rport;branch=z9hG4bKnat",
        "nat",
        0,
    );
    peer.send_to(text.as_bytes(), server_addr).await.unwrap();
    let got = recv(&mut server_in).await;
    let Message::Request(request) = &got.message else {
        panic!("a request")
    };
    let via = request.headers.top_via().unwrap();
    assert_eq!(via.received_ip(), Some(peer_addr.ip()));
    assert_eq!(via.rport(), Some(Some(peer_addr.port())));
    let ok = sip::Response::for_request(request, StatusCode::OK);
    server.send_response(ok, &got.source).await.unwrap();
    let mut buf = vec![0; 4096];
    let (n, from) = crate::common::within(peer.recv_from(&mut buf))
        .await
        .unwrap();
    assert_eq!(from, server_addr);
    let Message::Response(response) = parse(&buf[..n]) else {
        panic!("a response")
    };
    assert_eq!(
        response.headers.get_str(&HeaderName::Via).unwrap(),
        format!(
            "SIP/2.0/UDP 10.9.9.9:4540;rport={};branch=z9hG4bKnat;received=127.0.0.1",
            peer_addr.port()
        )
    );
    server.shutdown().await;
}

#[tokio::test]
async fn garbage_oversized_and_keepalive_datagrams_are_counted_and_dropped() {
    let mut config = TransportConfig::default();
    config.limits.max_message_size = 1024;
    let (server, mut server_in) = SipTransport::new(config);
    let server_addr = server.bind_udp(local("127.0.0.1:0")).await.unwrap();
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();

    peer.send_to(b"\x16\x03\x01 not SIP at all \xff\xfe", server_addr)
        .await
        .unwrap();
    let big = crate::common::options_text("SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKbig", "big", 2000);
    peer.send_to(big.as_bytes(), server_addr).await.unwrap();
    peer.send_to(b"\r\n\r\n", server_addr).await.unwrap();
    // A request whose Via cannot be parsed cannot be answered.
    let bad_via = crate::common::options_text("SIP/3.0/UDP ???", "badvia", 0);
    peer.send_to(bad_via.as_bytes(), server_addr).await.unwrap();
    eventually("four datagrams seen", || {
        server.stats().datagrams_received == 4
    })
    .await;
    nothing(&mut server_in).await;
    let stats = server.stats();
    assert_eq!(stats.malformed_datagrams, 1);
    assert_eq!(stats.oversized_datagrams, 1);
    assert_eq!(stats.datagram_keepalives, 1);
    assert_eq!(stats.bad_via, 1);
    assert_eq!(stats.messages_received, 0);

    // The socket still works.
    let good = crate::common::options_text("SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKok", "ok", 10);
    peer.send_to(good.as_bytes(), server_addr).await.unwrap();
    let got = recv(&mut server_in).await;
    assert_eq!(got.message.headers().call_id().unwrap(), "ok");
    server.shutdown().await;
}

#[tokio::test]
async fn advertised_host_goes_into_the_via() {
    let config = TransportConfig {
        advertised_host: Some("sbc1.customers.example.net".into()),
        ..TransportConfig::default()
    };
    let (client, _client_in) = SipTransport::new(config);
    let client_addr = client.bind_udp(local("127.0.0.1:0")).await.unwrap();
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let target = Target::Resolved(ResolvedTarget::new(TransportKind::Udp, peer_addr));
    client
        .send(options("sip:peer@example.com", "adv"), &target)
        .await
        .unwrap();
    let mut buf = vec![0; 4096];
    let (n, _) = crate::common::within(peer.recv_from(&mut buf))
        .await
        .unwrap();
    let message = parse(&buf[..n]);
    let via = message.headers().top_via().unwrap();
    assert_eq!(via.host, sip::Host::Name("sbc1.customers.example.net"));
    assert_eq!(via.port, Some(client_addr.port()));
    assert_eq!(via.rport(), Some(None));
    client.shutdown().await;
}

#[tokio::test]
async fn no_socket_of_the_family_is_an_error() {
    let (client, _in) = SipTransport::new(TransportConfig::default());
    client.bind_udp(local("127.0.0.1:0")).await.unwrap();
    let target = Target::Resolved(ResolvedTarget::new(TransportKind::Udp, local("[::1]:5060")));
    let result = client
        .send(options("sip:x@example.com", "fam"), &target)
        .await;
    assert!(matches!(
        result,
        Err(sip_transport::TransportError::NoUdpSocket)
    ));
    client.shutdown().await;
}

#[tokio::test]
async fn a_full_inbound_queue_drops_datagrams_and_counts_them() {
    let config = TransportConfig {
        inbound_queue: 1,
        ..TransportConfig::default()
    };
    let (server, mut server_in) = SipTransport::new(config);
    let server_addr = server.bind_udp(local("127.0.0.1:0")).await.unwrap();
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..3 {
        let text = crate::common::options_text(
            &format!("SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKq{i}"),
            &format!("q{i}"),
            0,
        );
        peer.send_to(text.as_bytes(), server_addr).await.unwrap();
    }
    eventually("three datagrams", || server.stats().datagrams_received == 3).await;
    let stats = server.stats();
    assert_eq!(stats.messages_received, 1);
    assert_eq!(stats.inbound_queue_full, 2);
    assert_eq!(
        recv(&mut server_in)
            .await
            .message
            .headers()
            .call_id()
            .unwrap(),
        "q0"
    );
    server.shutdown().await;
}
