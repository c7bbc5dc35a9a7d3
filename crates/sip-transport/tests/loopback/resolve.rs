//! RFC 3263 resolution: static host map, URI -> target rules, NAPTR/SRV/A
//! through a DNS server on loopback, and failover across the Teams
//! proxies.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use hickory_resolver::proto::op::{Message as DnsMessage, MessageType, OpCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA, NAPTR, SRV};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use sip::Uri;
use sip_transport::{
    ClientAuth, Dns, ResolveError, ResolvedTarget, SipResolver, SipResolverConfig, SipTransport,
    Target, TlsClient, TlsClientFiles, TlsServer, TlsServerFiles, TransportConfig, TransportError,
    TransportKind,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{local, options, recv, TestCa};

fn uri(text: &str) -> Uri {
    Uri::parse(text).unwrap()
}

fn static_resolver(hosts: &[(&str, &[&str])]) -> SipResolver {
    let static_hosts = hosts
        .iter()
        .map(|(name, addrs)| (name.to_string(), addrs.iter().map(|a| local(a)).collect()))
        .collect();
    SipResolver::new(SipResolverConfig {
        static_hosts,
        dns: Dns::Disabled,
        dns_timeout: None,
    })
    .unwrap()
}

fn target(kind: TransportKind, addr: &str, name: Option<&str>) -> ResolvedTarget {
    ResolvedTarget {
        transport: kind,
        addr: local(addr),
        server_name: name.map(str::to_owned),
    }
}

#[tokio::test]
async fn uri_to_target_rules() {
    let r = static_resolver(&[
        ("sip.pstnhub.microsoft.com", &["127.0.0.1:40001"]),
        ("Carrier.Example.", &["127.0.0.5:0", "[::1]:0"]),
    ]);
    use TransportKind::{Tcp, Tls, Udp};
    let cases: Vec<(&str, Vec<ResolvedTarget>)> = vec![
        ("sip:192.0.2.1", vec![target(Udp, "192.0.2.1:5060", None)]),
        (
            "sip:192.0.2.1:5070",
            vec![target(Udp, "192.0.2.1:5070", None)],
        ),
        ("sips:192.0.2.1", vec![target(Tls, "192.0.2.1:5061", None)]),
        (
            "sip:192.0.2.1;transport=tcp",
            vec![target(Tcp, "192.0.2.1:5060", None)],
        ),
        (
            "sip:192.0.2.1;transport=TLS",
            vec![target(Tls, "192.0.2.1:5061", None)],
        ),
        (
            "sip:[2001:db8::1]",
            vec![target(Udp, "[2001:db8::1]:5060", None)],
        ),
        (
            "sips:[2001:db8::1]:6000",
            vec![target(Tls, "[2001:db8::1]:6000", None)],
        ),
        // sips over TCP is TLS (RFC 3261 §26.2.2).
        (
            "sips:192.0.2.1;transport=tcp",
            vec![target(Tls, "192.0.2.1:5061", None)],
        ),
        (
            "sip:+15550100@sip.pstnhub.microsoft.com;transport=tls",
            vec![target(
                Tls,
                "127.0.0.1:40001",
                Some("sip.pstnhub.microsoft.com"),
            )],
        ),
        (
            "sips:sip.pstnhub.microsoft.com",
            vec![target(
                Tls,
                "127.0.0.1:40001",
                Some("sip.pstnhub.microsoft.com"),
            )],
        ),
        (
            "sip:carrier.example;transport=tcp",
            vec![
                target(Tcp, "127.0.0.5:5060", None),
                target(Tcp, "[::1]:5060", None),
            ],
        ),
        (
            "sip:carrier.example:5080",
            vec![
                target(Udp, "127.0.0.5:5080", None),
                target(Udp, "[::1]:5080", None),
            ],
        ),
        (
            "sips:carrier.example",
            vec![
                target(Tls, "127.0.0.5:5061", Some("carrier.example")),
                target(Tls, "[::1]:5061", Some("carrier.example")),
            ],
        ),
        // maddr replaces the host.
        (
            "sip:x.invalid;maddr=192.0.2.7",
            vec![target(Udp, "192.0.2.7:5060", None)],
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(r.resolve(&uri(text)).await.unwrap(), expected, "{text}");
    }

    assert!(matches!(
        r.resolve(&uri("sip:unknown.example.org")).await,
        Err(ResolveError::NoDns(_))
    ));
    assert!(matches!(
        r.resolve(&uri("tel:+15550100")).await,
        Err(ResolveError::UnsupportedScheme)
    ));
    assert!(matches!(
        r.resolve(&uri("sip:192.0.2.1;transport=sctp")).await,
        Err(ResolveError::UnsupportedTransport(t)) if t == "sctp"
    ));
    assert!(matches!(
        r.resolve(&uri("sips:192.0.2.1;transport=udp")).await,
        Err(ResolveError::InsecureTransport(TransportKind::Udp))
    ));
}

/// The Teams proxies in order: the first is down, the second answers.
#[tokio::test]
async fn failover_across_the_teams_proxies() {
    let ca = TestCa::new("teams");
    let proxy_cert = ca.issue("proxy", &["*.pstnhub.microsoft.com"], 5);
    let server_tls = TlsServer::load(TlsServerFiles {
        certificates: vec![proxy_cert],
        client_auth: ClientAuth::None,
    })
    .unwrap();
    let (proxy, mut proxy_in) = SipTransport::new(TransportConfig::default());
    let up = proxy
        .listen_tls(local("127.0.0.1:0"), server_tls)
        .await
        .unwrap();
    // A port nobody listens on.
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();

    let resolver = static_resolver(&[
        ("sip.pstnhub.microsoft.com", &[&down.to_string()]),
        ("sip2.pstnhub.microsoft.com", &[&up.to_string()]),
        ("sip3.pstnhub.microsoft.com", &[&up.to_string()]),
    ]);
    let mut targets = Vec::new();
    for host in ["sip", "sip2", "sip3"] {
        let proxy_uri = uri(&format!(
            "sip:{host}.pstnhub.microsoft.com:5061;transport=tls"
        ));
        targets.extend(resolver.resolve(&proxy_uri).await.unwrap());
    }
    assert_eq!(targets.len(), 3);
    assert_eq!(targets[0].addr, down);
    assert_eq!(
        targets[1].server_name.as_deref(),
        Some("sip2.pstnhub.microsoft.com")
    );

    let (sbc, _sbc_in) = SipTransport::new(TransportConfig::default());
    sbc.set_tls_client(Some(
        TlsClient::load(TlsClientFiles {
            ca_bundle: ca.bundle.clone(),
            certificate: None,
        })
        .unwrap(),
    ));
    let mut errors = Vec::new();
    let mut delivered = None;
    for t in &targets {
        let request = options("sip:sip.pstnhub.microsoft.com:5061", "failover");
        match sbc.send(request, &Target::Resolved(t.clone())).await {
            Ok(flow) => {
                delivered = Some(flow);
                break;
            }
            Err(e) => errors.push(e),
        }
    }
    assert!(
        matches!(errors.as_slice(), [TransportError::Connect(_)]),
        "{errors:?}"
    );
    let flow = delivered.unwrap();
    assert_eq!(flow.remote, up);
    assert!(flow
        .peer_certificate
        .unwrap()
        .covers("sip2.pstnhub.microsoft.com"));
    let got = recv(&mut proxy_in).await;
    assert_eq!(got.message.headers().call_id().unwrap(), "failover");
    assert_eq!(sbc.stats().connect_failures, 1);
    proxy.shutdown().await;
    sbc.shutdown().await;
}

type Zone = HashMap<(String, RecordType), Vec<RData>>;

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn answer(zone: &Zone, query: &[u8]) -> Option<Vec<u8>> {
    let request = DnsMessage::from_vec(query).ok()?;
    let mut response = DnsMessage::new();
    response
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_authoritative(true)
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true);
    for q in request.queries() {
        response.add_query(q.clone());
        let key = (q.name().to_ascii().to_ascii_lowercase(), q.query_type());
        for rdata in zone.get(&key).into_iter().flatten() {
            response.add_answer(Record::from_rdata(q.name().clone(), 60, rdata.clone()));
        }
    }
    response.to_vec().ok()
}

/// A DNS server on loopback (UDP and TCP) answering from `zone`.
async fn dns_server(zone: Zone) -> SocketAddr {
    let zone = Arc::new(zone);
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
    let udp_zone = Arc::clone(&zone);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            if let Some(reply) = answer(&udp_zone, &buf[..n]) {
                let _ = udp.send_to(&reply, from).await;
            }
        }
    });
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp.accept().await {
            let zone = Arc::clone(&zone);
            tokio::spawn(async move {
                loop {
                    let mut len = [0u8; 2];
                    if stream.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if stream.read_exact(&mut query).await.is_err() {
                        return;
                    }
                    let Some(reply) = answer(&zone, &query) else {
                        return;
                    };
                    let len = (reply.len() as u16).to_be_bytes();
                    if stream.write_all(&len).await.is_err()
                        || stream.write_all(&reply).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn naptr(order: u16, service: &str, replacement: &str) -> RData {
    RData::NAPTR(NAPTR::new(
        order,
        10,
        b"s".to_vec().into_boxed_slice(),
        service.as_bytes().to_vec().into_boxed_slice(),
        Vec::new().into_boxed_slice(),
        name(replacement),
    ))
}

fn srv(priority: u16, weight: u16, port: u16, target: &str) -> RData {
    RData::SRV(SRV::new(priority, weight, port, name(target)))
}

#[tokio::test]
async fn naptr_then_srv_then_addresses() {
    let mut zone = Zone::new();
    let mut add = |owner: &str, rtype: RecordType, rdata: RData| {
        zone.entry((owner.to_owned(), rtype))
            .or_default()
            .push(rdata);
    };
    add(
        "example.com.",
        RecordType::NAPTR,
        naptr(30, "SIP+D2U", "_sip._udp.example.com."),
    );
    add(
        "example.com.",
        RecordType::NAPTR,
        naptr(10, "SIPS+D2T", "_sips._tcp.example.com."),
    );
    add(
        "example.com.",
        RecordType::NAPTR,
        naptr(20, "SIP+D2T", "_sip._tcp.example.com."),
    );
    add(
        "example.com.",
        RecordType::NAPTR,
        naptr(5, "E2U+sip", "ignored.example.com."),
    );
    add(
        "_sips._tcp.example.com.",
        RecordType::SRV,
        srv(20, 0, 5071, "b.example.com."),
    );
    add(
        "_sips._tcp.example.com.",
        RecordType::SRV,
        srv(10, 5, 5061, "a.example.com."),
    );
    add(
        "_sips._tcp.example.com.",
        RecordType::SRV,
        srv(10, 50, 5062, "pinned.example.com."),
    );
    add(
        "_sip._tcp.example.com.",
        RecordType::SRV,
        srv(10, 0, 5060, "a.example.com."),
    );
    add(
        "_sip._udp.example.com.",
        RecordType::SRV,
        srv(10, 0, 5060, "a.example.com."),
    );
    add(
        "a.example.com.",
        RecordType::A,
        RData::A(A::new(127, 0, 0, 1)),
    );
    add(
        "b.example.com.",
        RecordType::AAAA,
        RData::AAAA(AAAA::new(0, 0, 0, 0, 0, 0, 0, 1)),
    );
    add("srvonly.example.", RecordType::SRV, srv(1, 0, 1, "."));
    add(
        "_sip._udp.srvonly.example.",
        RecordType::SRV,
        srv(1, 0, 5090, "a.example.com."),
    );
    add(
        "hostonly.example.",
        RecordType::A,
        RData::A(A::new(127, 0, 0, 3)),
    );
    let server = dns_server(zone).await;
    let mut static_hosts = HashMap::new();
    static_hosts.insert("pinned.example.com".to_owned(), vec![local("127.0.0.9:0")]);
    let resolver = SipResolver::new(SipResolverConfig {
        static_hosts,
        dns: Dns::Servers(vec![server]),
        dns_timeout: Some(std::time::Duration::from_secs(2)),
    })
    .unwrap();
    use TransportKind::{Tcp, Tls, Udp};
    let sn = Some("example.com");
    // Priority 10 holds two records (weights 50 and 5) in RFC 2782's
    // random order: compare that pair as a set.
    let first_two_sorted = |mut targets: Vec<ResolvedTarget>| {
        targets[..2].sort_by_key(|t| t.addr);
        targets
    };
    assert_eq!(
        first_two_sorted(resolver.resolve(&uri("sip:example.com")).await.unwrap()),
        [
            target(Tls, "127.0.0.1:5061", sn),
            target(Tls, "127.0.0.9:5062", sn),
            target(Tls, "[::1]:5071", sn),
            target(Tcp, "127.0.0.1:5060", None),
            target(Udp, "127.0.0.1:5060", None),
        ]
    );
    assert_eq!(
        first_two_sorted(resolver.resolve(&uri("sips:example.com")).await.unwrap()),
        [
            target(Tls, "127.0.0.1:5061", sn),
            target(Tls, "127.0.0.9:5062", sn),
            target(Tls, "[::1]:5071", sn),
        ]
    );
    assert_eq!(
        resolver
            .resolve(&uri("sip:example.com;transport=tcp"))
            .await
            .unwrap(),
        [target(Tcp, "127.0.0.1:5060", None)]
    );
    assert_eq!(
        resolver
            .resolve(&uri("sip:a.example.com:5080"))
            .await
            .unwrap(),
        [target(Udp, "127.0.0.1:5080", None)]
    );
    // No NAPTR: the SRV records of each transport.
    assert_eq!(
        resolver.resolve(&uri("sip:srvonly.example")).await.unwrap(),
        [target(Udp, "127.0.0.1:5090", None)]
    );
    // No NAPTR, no SRV: A/AAAA on the default port, UDP for sip.
    assert_eq!(
        resolver
            .resolve(&uri("sip:hostonly.example"))
            .await
            .unwrap(),
        [target(Udp, "127.0.0.3:5060", None)]
    );
    assert!(matches!(
        resolver.resolve(&uri("sip:nothing.example")).await,
        Err(ResolveError::NotFound(_))
    ));
}
