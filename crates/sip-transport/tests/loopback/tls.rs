//! TLS: SNI, mutual TLS, reload, peer names.

use sip::{Message, StatusCode};
use sip_transport::{
    ClientAuth, Inbound, ResolvedTarget, SipTransport, Target, TlsClient, TlsClientFiles,
    TlsServer, TlsServerFiles, TransportConfig,
};
use tokio::sync::mpsc;

use crate::common::{eventually, local, nothing, options, recv, serial_bytes, TestCa};

fn tls_client(
    ca: &TestCa,
    certificate: Option<sip_transport::CertificateFiles>,
) -> (SipTransport, mpsc::Receiver<Inbound>) {
    let (transport, inbound) = SipTransport::new(TransportConfig::default());
    let tls = TlsClient::load(TlsClientFiles {
        ca_bundle: ca.bundle.clone(),
        certificate,
    })
    .unwrap();
    transport.set_tls_client(Some(tls));
    (transport, inbound)
}

/// Sends OPTIONS to the server, answers it there, and returns what the
/// client saw of the response and what the server saw of the request.
async fn round_trip(
    client: &SipTransport,
    client_in: &mut mpsc::Receiver<Inbound>,
    server: &SipTransport,
    server_in: &mut mpsc::Receiver<Inbound>,
    target: &ResolvedTarget,
    call_id: &str,
) -> (Inbound, Inbound) {
    client
        .send(
            options("sip:sbc@example.net", call_id),
            &Target::Resolved(target.clone()),
        )
        .await
        .unwrap();
    let request = recv(server_in).await;
    let Message::Request(r) = &request.message else {
        panic!("a request")
    };
    assert_eq!(r.headers.call_id().unwrap(), call_id);
    let ok = sip::Response::for_request(r, StatusCode::OK);
    server.send_response(ok, &request.source).await.unwrap();
    let response = recv(client_in).await;
    assert_eq!(response.message.headers().call_id().unwrap(), call_id);
    (response, request)
}

#[tokio::test]
async fn sni_picks_the_certificate() {
    let ca = TestCa::new("sni");
    let a = ca.issue("a", &["a.example.net", "127.0.0.1"], 1);
    let b = ca.issue("b", &["b.example.net"], 2);
    let server_tls = TlsServer::load(TlsServerFiles {
        certificates: vec![a, b],
        client_auth: ClientAuth::None,
    })
    .unwrap();
    let (server, mut server_in) = SipTransport::new(TransportConfig::default());
    let addr = server
        .listen_tls(local("127.0.0.1:0"), server_tls)
        .await
        .unwrap();
    let (client, mut client_in) = tls_client(&ca, None);

    let to_b = ResolvedTarget::tls(addr, "b.example.net");
    let (response, request) =
        round_trip(&client, &mut client_in, &server, &mut server_in, &to_b, "b").await;
    let cert = response.source.peer_certificate.clone().unwrap();
    assert_eq!(cert.dns_names(), ["b.example.net"]);
    assert!(!cert.covers("a.example.net"));
    assert!(
        request.source.peer_certificate.is_none(),
        "no client certificate"
    );
    assert_eq!(
        request.message.headers().top_via().unwrap().transport,
        "TLS"
    );

    let to_a = ResolvedTarget::tls(addr, "a.example.net");
    let (response, _) =
        round_trip(&client, &mut client_in, &server, &mut server_in, &to_a, "a").await;
    let cert = response.source.peer_certificate.clone().unwrap();
    assert!(cert.covers("a.example.net"));
    assert_eq!(cert.serial(), serial_bytes(1));

    assert_eq!(client.stats().connections_opened, 2);

    // No SNI (an IP address as the name): the first, default certificate.
    let (by_ip, mut by_ip_in) = tls_client(&ca, None);
    let no_sni = ResolvedTarget::new(sip_transport::TransportKind::Tls, addr);
    let (response, _) = round_trip(
        &by_ip,
        &mut by_ip_in,
        &server,
        &mut server_in,
        &no_sni,
        "ip",
    )
    .await;
    let cert = response.source.peer_certificate.clone().unwrap();
    assert!(cert.covers("a.example.net"));
    assert_eq!(by_ip.stats().connections_opened, 1);
    for t in [&server, &client, &by_ip] {
        t.shutdown().await;
    }
}

#[tokio::test]
async fn a_server_whose_certificate_does_not_cover_the_name_is_rejected() {
    let ca = TestCa::new("wrong");
    let a = ca.issue("a", &["a.example.net"], 1);
    let server_tls = TlsServer::load(TlsServerFiles {
        certificates: vec![a],
        client_auth: ClientAuth::None,
    })
    .unwrap();
    let (server, _server_in) = SipTransport::new(TransportConfig::default());
    let addr = server
        .listen_tls(local("127.0.0.1:0"), server_tls)
        .await
        .unwrap();
    let (client, _client_in) = tls_client(&ca, None);
    let target = Target::Resolved(ResolvedTarget::tls(addr, "sip.pstnhub.microsoft.com"));
    let result = client
        .send(options("sip:x@example.net", "x"), &target)
        .await;
    assert!(
        matches!(result, Err(sip_transport::TransportError::Handshake(_))),
        "{result:?}"
    );
    assert_eq!(client.stats().tls_handshake_failures, 1);
    server.shutdown().await;
    client.shutdown().await;
}

#[tokio::test]
async fn mutual_tls_requires_a_certificate_from_the_ca() {
    let ca = TestCa::new("mtls");
    let server_cert = ca.issue("server", &["sbc1.customers.example.net"], 10);
    let server_tls = TlsServer::load(TlsServerFiles {
        certificates: vec![server_cert],
        client_auth: ClientAuth::Required {
            ca_bundle: ca.bundle.clone(),
        },
    })
    .unwrap();
    let (server, mut server_in) = SipTransport::new(TransportConfig::default());
    let addr = server
        .listen_tls(local("[::1]:0"), server_tls)
        .await
        .unwrap();
    let target = ResolvedTarget::tls(addr, "sbc1.customers.example.net");

    // Without a certificate: the server refuses the handshake.
    let (anonymous, _anonymous_in) = tls_client(&ca, None);
    let _ = anonymous
        .send(
            options("sip:sbc@example.net", "anon"),
            &Target::Resolved(target.clone()),
        )
        .await;
    eventually("handshake refused", || {
        server.stats().tls_handshake_failures == 1
    })
    .await;
    nothing(&mut server_in).await;
    eventually("client connection gone", || {
        anonymous.connection_count() == 0
    })
    .await;

    // With a certificate from another CA: refused too.
    let other_ca = TestCa::new("other");
    let stranger_cert = other_ca.issue("stranger", &["stranger.example.com"], 11);
    let (stranger, _stranger_in) = tls_client(&ca, Some(stranger_cert));
    let _ = stranger
        .send(
            options("sip:sbc@example.net", "stranger"),
            &Target::Resolved(target.clone()),
        )
        .await;
    eventually("stranger refused", || {
        server.stats().tls_handshake_failures == 2
    })
    .await;
    nothing(&mut server_in).await;

    // With a certificate signed by the CA: accepted, names visible.
    let teams_cert = ca.issue("teams", &["sip.pstnhub.microsoft.com"], 12);
    let (teams, mut teams_in) = tls_client(&ca, Some(teams_cert));
    let (response, request) = round_trip(
        &teams,
        &mut teams_in,
        &server,
        &mut server_in,
        &target,
        "teams",
    )
    .await;
    let client_cert = request.source.peer_certificate.clone().unwrap();
    assert_eq!(client_cert.dns_names(), ["sip.pstnhub.microsoft.com"]);
    assert_eq!(client_cert.common_name(), Some("sip.pstnhub.microsoft.com"));
    let server_seen = response.source.peer_certificate.clone().unwrap();
    assert!(server_seen.covers("sbc1.customers.example.net"));
    assert_eq!(server.stats().connections_accepted, 1);
    for t in [&server, &anonymous, &stranger, &teams] {
        t.shutdown().await;
    }
}

#[tokio::test]
async fn reload_serves_new_handshakes_with_the_new_certificate() {
    let ca = TestCa::new("reload");
    let files = ca.issue("sbc", &["sbc.example.net", "v1.example.net"], 21);
    let server_tls = TlsServer::load(TlsServerFiles {
        certificates: vec![files.clone()],
        client_auth: ClientAuth::None,
    })
    .unwrap();
    let (server, mut server_in) = SipTransport::new(TransportConfig::default());
    let addr = server
        .listen_tls(local("127.0.0.1:0"), server_tls.clone())
        .await
        .unwrap();
    let target = ResolvedTarget::tls(addr, "sbc.example.net");

    let (first, mut first_in) = tls_client(&ca, None);
    let (response, _) =
        round_trip(&first, &mut first_in, &server, &mut server_in, &target, "1").await;
    let old = response.source.peer_certificate.clone().unwrap();
    assert_eq!(old.serial(), serial_bytes(21));
    assert!(old.covers("v1.example.net"));

    // A broken file fails the reload and keeps the old configuration.
    std::fs::write(&files.chain, "not PEM").unwrap();
    assert!(server_tls.reload().is_err());

    ca.issue_to(&files, &["sbc.example.net", "v2.example.net"], 22);
    server_tls.reload().unwrap();

    // The open connection keeps its session.
    let before = response.source.connection;
    let (response, _) =
        round_trip(&first, &mut first_in, &server, &mut server_in, &target, "2").await;
    assert_eq!(response.source.connection, before);
    assert_eq!(response.source.peer_certificate.as_deref(), Some(&*old));
    assert_eq!(first.stats().connections_opened, 1);

    // A new handshake gets the new certificate.
    let (second, mut second_in) = tls_client(&ca, None);
    let (response, _) = round_trip(
        &second,
        &mut second_in,
        &server,
        &mut server_in,
        &target,
        "3",
    )
    .await;
    let new = response.source.peer_certificate.clone().unwrap();
    assert_eq!(new.serial(), serial_bytes(22));
    assert!(new.covers("v2.example.net"));
    assert!(!new.covers("v1.example.net"));
    for t in [&server, &first, &second] {
        t.shutdown().await;
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_the_handshake_times_out() {
    tokio::time::pause();
    let ca = TestCa::new("slow");
    let cert = ca.issue("sbc", &["sbc.example.net"], 1);
    let server_tls = TlsServer::load(TlsServerFiles {
        certificates: vec![cert],
        client_auth: ClientAuth::None,
    })
    .unwrap();
    let config = TransportConfig {
        tls_handshake_timeout: std::time::Duration::from_secs(3),
        ..TransportConfig::default()
    };
    let (server, _server_in) = SipTransport::new(config);
    let addr = server
        .listen_tls(local("127.0.0.1:0"), server_tls)
        .await
        .unwrap();
    let _silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    eventually("handshake timed out", || {
        server.stats().tls_handshake_timeouts == 1
    })
    .await;
    assert_eq!(server.connection_count(), 0);
    server.shutdown().await;
}

#[test]
fn missing_files_are_reported() {
    let dir = crate::common::temp_dir();
    let result = TlsServer::load(TlsServerFiles {
        certificates: vec![sip_transport::CertificateFiles {
            chain: dir.join("none.pem"),
            key: dir.join("none.key"),
        }],
        client_auth: ClientAuth::None,
    });
    assert!(matches!(
        result,
        Err(sip_transport::TlsConfigError::Pem { .. })
    ));
    let empty = TlsServer::load(TlsServerFiles {
        certificates: vec![],
        client_auth: ClientAuth::None,
    });
    assert!(matches!(
        empty,
        Err(sip_transport::TlsConfigError::NoServerCertificate)
    ));
    let ca = TestCa::new("mismatch");
    let one = ca.issue("one", &["one.example"], 1);
    let two = ca.issue("two", &["two.example"], 2);
    let mismatched = TlsServer::load(TlsServerFiles {
        certificates: vec![sip_transport::CertificateFiles {
            chain: one.chain,
            key: two.key,
        }],
        client_auth: ClientAuth::None,
    });
    assert!(matches!(
        mismatched,
        Err(sip_transport::TlsConfigError::BadKey { .. })
    ));
}
