//! The running emulator on loopback with real mutual TLS: a small SBC
//! made of tokio-rustls and the `sip` parser sends OPTIONS and an INVITE
//! and gets Teams' answers; the emulator's own OPTIONS reach the SBC's
//! listener and make it Active.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use emulator::{
    sbc_cert_paths, sbc_names, write_certificates, EmulatorConfig, Event, ProxyId, SbcStatus,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use sip::{HeaderName, Message, Request, Response, StatusCode, StreamDecoder, StreamItem};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

const OFFER: &str = "v=0\r\no=sbc 10 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/SAVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtcp-mux\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\n";

fn cert_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("emulator-loopback-{}", std::process::id()));
    write_certificates(
        &dir,
        &["sip.pstnhub.microsoft.com".to_owned()],
        &sbc_names("customers.example.net"),
    )
    .unwrap();
    dir
}

fn config(dir: &Path, sbc: SocketAddr) -> EmulatorConfig {
    EmulatorConfig::from_toml(&format!(
        r#"
[emulator]
cert_dir = "{}"
seed = 11

[[emulator.proxies]]
fqdn = "sip.pstnhub.microsoft.com"
listen = "127.0.0.1:0"

[emulator.sbc]
hosts = {{ "*.customers.example.net" = "{sbc}" }}

[[emulator.tenants]]
id = "provider"
domains = ["customers.example.net"]

[[emulator.tenants]]
id = "contoso-tenant"
domains = ["contoso.customers.example.net"]

[[emulator.tenants.users]]
name = "alice"
number = "+14255550100"
object_id = "oid-alice"
ring_ms = 200
endpoints = 2
"#,
        dir.display()
    ))
    .unwrap()
}

fn roots(dir: &Path) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(emulator::ca_path(dir)).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

fn sbc_identity(dir: &Path) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let (cert, key) = sbc_cert_paths(dir);
    let chain = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (chain, PrivateKeyDer::from_pem_file(key).unwrap())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS connection of the SBC to the proxy, optionally with its
/// client certificate.
async fn connect(
    dir: &Path,
    addr: SocketAddr,
    with_cert: bool,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(dir));
    let config = if with_cert {
        let (chain, key) = sbc_identity(dir);
        builder.with_client_auth_cert(chain, key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    let tcp = TcpStream::connect(addr).await.unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(
            ServerName::try_from("sip.pstnhub.microsoft.com").unwrap(),
            tcp,
        )
        .await
        .unwrap()
}

/// Reads SIP messages off a stream.
struct Reader {
    decoder: StreamDecoder,
    buffer: BytesMut,
}

impl Reader {
    fn new() -> Reader {
        Reader {
            decoder: StreamDecoder::new(sip::Limits::default()),
            buffer: BytesMut::new(),
        }
    }

    async fn next<S: AsyncReadExt + Unpin>(&mut self, stream: &mut S) -> Option<Message> {
        loop {
            if let Ok(Some(StreamItem::Message(message))) = self.decoder.decode(&mut self.buffer) {
                return Some(message);
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    async fn response<S: AsyncReadExt + Unpin>(&mut self, stream: &mut S) -> Response {
        match self.next(stream).await.unwrap() {
            Message::Response(r) => r,
            Message::Request(r) => panic!("expected a response, got {}", r.method),
        }
    }
}

fn parse_request(text: String) -> Request {
    match Message::parse(Bytes::from(text)).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

fn options() -> Request {
    parse_request(format!(
        "OPTIONS sip:sip.pstnhub.microsoft.com:5061 SIP/2.0\r\n\
         Via: SIP/2.0/TLS sbc1.customers.example.net:5061;branch={}\r\nMax-Forwards: 70\r\n\
         From: <sip:sbc1.customers.example.net:5061>;tag=o1\r\nTo: <sip:sip.pstnhub.microsoft.com:5061>\r\n\
         Call-ID: {}\r\nCSeq: 1 OPTIONS\r\n\
         Contact: <sip:sbc1.customers.example.net:5061;transport=tls>\r\nContent-Length: 0\r\n\r\n",
        sip::new_branch(),
        sip::new_call_id()
    ))
}

fn invite() -> Request {
    parse_request(format!(
        "INVITE sip:+14255550100@sip.pstnhub.microsoft.com;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/TLS sbc1.customers.example.net:5061;branch={}\r\nMax-Forwards: 70\r\n\
         From: <sip:+12065550199@contoso.customers.example.net>;tag=i1\r\n\
         To: <sip:+14255550100@sip.pstnhub.microsoft.com>\r\nCall-ID: {}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:+12065550199@contoso.customers.example.net:5061;transport=tls>\r\n\
         X-MS-SBC: Switchboard/SBC/test\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{OFFER}",
        sip::new_branch(),
        sip::new_call_id(),
        OFFER.len()
    ))
}

fn in_dialog(method: &str, invite: &Request, ok: &Response, cseq: u32) -> Request {
    parse_request(format!(
        "{method} {} SIP/2.0\r\nVia: SIP/2.0/TLS sbc1.customers.example.net:5061;branch={}\r\n\
         Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n",
        ok.headers.contact().unwrap().unwrap().uri.as_str(),
        sip::new_branch(),
        invite.headers.get_str(&HeaderName::From).unwrap(),
        ok.headers.get_str(&HeaderName::To).unwrap(),
        invite.headers.call_id().unwrap(),
    ))
}

/// The SBC's listener: accepts the proxy's connection (its client
/// certificate must come from the CA), answers its OPTIONS with 200 and
/// reports the proxy certificate's names.
async fn sbc_listener(dir: PathBuf, listener: TcpListener) -> Vec<String> {
    let (chain, key) = sbc_identity(&dir);
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots(&dir)), provider())
        .build()
        .unwrap();
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    let (tcp, _) = listener.accept().await.unwrap();
    let mut stream = TlsAcceptor::from(Arc::new(config))
        .accept(tcp)
        .await
        .unwrap();
    let peer = stream.get_ref().1.peer_certificates().unwrap()[0].clone();
    let names = sip_transport::PeerCertificate::from_der(peer)
        .unwrap()
        .dns_names()
        .to_vec();
    let mut reader = Reader::new();
    let Some(Message::Request(probe)) = reader.next(&mut stream).await else {
        panic!("expected the proxy's OPTIONS");
    };
    assert_eq!(probe.method, sip::Method::Options);
    let mut ok = Response::for_request(&probe, StatusCode::OK);
    let to = format!(
        "{};tag=sbc",
        probe.headers.get_str(&HeaderName::To).unwrap()
    );
    ok.headers.set(HeaderName::To, to);
    stream.write_all(&ok.to_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    // Keep the connection open until the test ends.
    let _ = reader.next(&mut stream).await;
    names
}

async fn wait_for(events: &mut broadcast::Receiver<Event>, want: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.unwrap();
            if want(&event) {
                return event;
            }
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn options_and_invite_over_mutual_tls() {
    let dir = cert_dir();
    let sbc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sbc_addr = sbc.local_addr().unwrap();
    let listener = tokio::spawn(sbc_listener(dir.clone(), sbc));
    let shutdown = CancellationToken::new();
    let emulator = emulator::start(config(&dir, sbc_addr), shutdown.clone())
        .await
        .unwrap();
    let addr = emulator.local_addr(ProxyId(0)).unwrap();
    let mut events = emulator.subscribe();

    let mut tls = connect(&dir, addr, true).await;
    let mut reader = Reader::new();

    // OPTIONS: 200 on the same connection, then the proxy's own OPTIONS
    // to the Contact FQDN (through the host map) makes the SBC Active.
    tls.write_all(&options().to_bytes()).await.unwrap();
    let ok = reader.response(&mut tls).await;
    assert_eq!(ok.status, StatusCode::OK);
    wait_for(&mut events, |e| {
        matches!(
            e,
            Event::SbcStatusChanged {
                status: SbcStatus::Active,
                ..
            }
        )
    })
    .await;
    let status = emulator
        .with_proxy(|proxy, _| proxy.sbc_status("sbc1.customers.example.net"))
        .await;
    assert_eq!(status, Some(SbcStatus::Active));

    // INVITE: 100, one 180 per endpoint, 200 with an SRTP answer.
    let invite = invite();
    tls.write_all(&invite.to_bytes()).await.unwrap();
    let mut statuses = Vec::new();
    let ok = loop {
        let response = reader.response(&mut tls).await;
        statuses.push(response.status.0);
        if response.status.is_final() {
            break response;
        }
    };
    assert_eq!(statuses, vec![100, 180, 180, 200]);
    let answer = sdp::Session::parse(&ok.body).unwrap();
    assert_eq!(answer.media[0].proto, "RTP/SAVP");
    assert_eq!(answer.media[0].cryptos().count(), 1);
    let received = wait_for(&mut events, |e| matches!(e, Event::CallReceived { .. })).await;
    assert!(
        matches!(received, Event::CallReceived { user, x_ms_sbc: Some(_), .. } if user == "alice")
    );

    tls.write_all(&in_dialog("ACK", &invite, &ok, 1).to_bytes())
        .await
        .unwrap();
    tls.write_all(&in_dialog("BYE", &invite, &ok, 2).to_bytes())
        .await
        .unwrap();
    let bye_ok = reader.response(&mut tls).await;
    assert_eq!(
        (bye_ok.status, bye_ok.headers.cseq().unwrap().method),
        (StatusCode::OK, sip::Method::Bye)
    );
    wait_for(&mut events, |e| matches!(e, Event::Ended { .. })).await;

    // The proxy presented its own certificate to the SBC.
    drop(tls);
    shutdown.cancel();
    emulator.stopped().await;
    let names = tokio::time::timeout(WAIT, listener).await.unwrap().unwrap();
    assert_eq!(names, vec!["sip.pstnhub.microsoft.com".to_owned()]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_client_without_certificate_gets_no_answer() {
    let dir = std::env::temp_dir().join(format!("emulator-nocert-{}", std::process::id()));
    write_certificates(
        &dir,
        &["sip.pstnhub.microsoft.com".to_owned()],
        &sbc_names("customers.example.net"),
    )
    .unwrap();
    let shutdown = CancellationToken::new();
    let emulator = emulator::start(
        config(&dir, "127.0.0.1:9".parse().unwrap()),
        shutdown.clone(),
    )
    .await
    .unwrap();
    let addr = emulator.local_addr(ProxyId(0)).unwrap();
    // With TLS 1.3 the client finishes its handshake before the server
    // refuses the missing certificate: the refusal shows on first read.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(&dir))
        .with_no_client_auth();
    let server_name = ServerName::try_from("sip.pstnhub.microsoft.com").unwrap();
    if let Ok(mut tls) = TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
    {
        let _ = tls.write_all(&options().to_bytes()).await;
        assert!(
            Reader::new().next(&mut tls).await.is_none(),
            "no SIP answer without a client certificate"
        );
    }
    emulator.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
