//! Helpers: messages, certificates on disk, waiting.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use sip::{HeaderName, Message, Method, Request, Uri};
use sip_transport::{CertificateFiles, Inbound};
use tokio::sync::mpsc;

pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// An OPTIONS request as built by a dialog: placeholder Via sent-by.
pub(crate) fn options(to: &str, call_id: &str) -> Request {
    Request::builder(Method::Options, Uri::parse(to).unwrap())
        .header(
            HeaderName::Via,
            format!(
                "SIP/2.0/UDP {};branch={}",
                sip_core::VIA_SENT_BY_PLACEHOLDER,
                sip::new_branch()
            ),
        )
        .header(HeaderName::MaxForwards, "70")
        .header(HeaderName::From, "<sip:sbc@example.net>;tag=f1")
        .header(HeaderName::To, format!("<{to}>"))
        .header(HeaderName::CallId, call_id.to_owned())
        .header(HeaderName::CSeq, "1 OPTIONS")
        .build()
}

/// Raw OPTIONS text with the given top Via value and body length.
pub(crate) fn options_text(via: &str, call_id: &str, body: usize) -> String {
    format!(
        "OPTIONS sip:sbc@example.net SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
         From: <sip:peer@example.com>;tag=p1\r\nTo: <sip:sbc@example.net>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Type: text/plain\r\n\
         Content-Length: {body}\r\n\r\n{}",
        "x".repeat(body)
    )
}

pub(crate) fn parse(bytes: &[u8]) -> Message {
    Message::parse(Bytes::copy_from_slice(bytes)).unwrap()
}

pub(crate) async fn recv(inbound: &mut mpsc::Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(WAIT, inbound.recv())
        .await
        .expect("a message within the wait")
        .expect("the channel is open")
}

/// Waits until `check` holds (polling), failing after the wait.
pub(crate) async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Nothing arrives within a short while.
pub(crate) async fn nothing(inbound: &mut mpsc::Receiver<Inbound>) {
    let got = tokio::time::timeout(Duration::from_millis(300), inbound.recv()).await;
    assert!(got.is_err(), "unexpected message: {got:?}");
}

pub(crate) fn local(addr: &str) -> SocketAddr {
    addr.parse().unwrap()
}

/// A fresh directory for this test's files.
pub(crate) fn temp_dir() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sip-transport-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A test certificate authority writing PEM files.
pub(crate) struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
    pub(crate) dir: PathBuf,
    pub(crate) bundle: PathBuf,
}

impl TestCa {
    pub(crate) fn new(name: &str) -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        let dir = temp_dir();
        let bundle = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&bundle, cert.pem()).unwrap();
        TestCa {
            cert,
            key,
            dir,
            bundle,
        }
    }

    /// Issues a certificate for `names` (DNS names or IP addresses) with
    /// `serial`, written as `<file>.pem` and `<file>.key`.
    pub(crate) fn issue(&self, file: &str, names: &[&str], serial: u64) -> CertificateFiles {
        let files = CertificateFiles {
            chain: self.dir.join(format!("{file}.pem")),
            key: self.dir.join(format!("{file}.key")),
        };
        self.issue_to(&files, names, serial);
        files
    }

    /// Issues a certificate into existing file names (for reloads).
    pub(crate) fn issue_to(&self, files: &CertificateFiles, names: &[&str], serial: u64) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        params.serial_number = Some(rcgen::SerialNumber::from(serial));
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        std::fs::write(&files.chain, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
    }
}

/// The serial rcgen writes for a small number: its big-endian bytes
/// without leading zeros.
pub(crate) fn serial_bytes(serial: u64) -> Vec<u8> {
    let bytes = serial.to_be_bytes();
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(7);
    bytes[start..].to_vec()
}

/// Runs `f` and fails if it takes longer than the wait.
pub(crate) async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .expect("within the wait")
}
