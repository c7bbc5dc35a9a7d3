//! Certificates are reloaded on SIGHUP without a restart: after the files
//! are replaced by ones from a new CA, a client that trusts only the new CA
//! is refused until the signal, and served after it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{free_tcp_port, wait_for_log, Running};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use sip::{HeaderName, Message, Method, Request, Uri};
use sip_transport::{
    ResolvedTarget, SipTransport, Target, TlsClient, TlsClientFiles, TransportConfig, TransportKind,
};

fn write_certs(dir: &Path) {
    let proxies = vec!["sip.pstnhub.microsoft.com".to_owned()];
    emulator::write_certificates(dir, &proxies, &emulator::sbc_names("customers.example.net"))
        .unwrap();
}

fn options(port: u16) -> Request {
    let uri: Uri = format!("sip:sbc1.customers.example.net:{port};transport=tls")
        .parse()
        .unwrap();
    Request::builder(Method::Options, uri)
        .header(
            HeaderName::Via,
            format!("SIP/2.0/TLS 127.0.0.1:5999;branch={}", sip::new_branch()),
        )
        .header(HeaderName::MaxForwards, "70")
        .header(
            HeaderName::From,
            format!("<sip:probe@127.0.0.1>;tag={}", sip::new_tag()),
        )
        .header(HeaderName::To, "<sip:sbc1.customers.example.net>")
        .header(HeaderName::CallId, sip::new_call_id())
        .header(HeaderName::CSeq, "1 OPTIONS")
        .build()
}

/// Sends an OPTIONS over a new TLS connection that trusts only `ca`;
/// whether a response came back.
async fn answered(ca: &Path, port: u16) -> bool {
    let (transport, mut inbound) = SipTransport::new(TransportConfig::default());
    let client = TlsClient::load(TlsClientFiles {
        ca_bundle: ca.to_owned(),
        certificate: None,
    })
    .unwrap();
    transport.set_tls_client(Some(client));
    let mut target =
        ResolvedTarget::new(TransportKind::Tls, SocketAddr::from(([127, 0, 0, 1], port)));
    target.server_name = Some("sbc1.customers.example.net".to_owned());
    let sent = transport
        .send(options(port), &Target::Resolved(target))
        .await
        .is_ok();
    let answer = sent
        && matches!(
            tokio::time::timeout(Duration::from_secs(3), inbound.recv()).await,
            Ok(Some(inbound)) if matches!(inbound.message, Message::Response(_))
        );
    transport.shutdown().await;
    answer
}

#[test]
fn sighup_reloads_the_tls_certificates() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tls-reload");
    let _ = std::fs::remove_dir_all(&dir);
    let (old, new) = (dir.join("old"), dir.join("new"));
    write_certs(&old);
    write_certs(&new);
    let live = dir.join("live");
    std::fs::create_dir_all(&live).unwrap();
    for file in ["sbc.pem", "sbc.key", "emulator-ca.pem"] {
        std::fs::copy(old.join(file), live.join(file)).unwrap();
    }
    let tls_port = free_tcp_port();
    let udp_port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        r#"
[sbc]
[sbc.listen]
udp = ["127.0.0.1:{udp_port}"]
tls = ["127.0.0.1:{tls_port}"]
[sbc.tls]
cert = "{live}/sbc.pem"
key = "{live}/sbc.key"
ca_bundle = "{live}/emulator-ca.pem"
[trunks.loop]
allow = ["127.0.0.1/32"]
transport = "tls"
targets = ["sip:127.0.0.1:5090"]
"#,
        live = live.display()
    );
    let config_path = dir.join("switchboard.toml");
    std::fs::write(&config_path, config).unwrap();
    let log_path = dir.join("switchboard.log");
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--config"])
        .arg(&config_path)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let _switchboard = Running(child);
    wait_for_log(&log_path, "Tls", 1);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let new_ca = new.join("emulator-ca.pem");
    assert!(runtime.block_on(answered(&old.join("emulator-ca.pem"), tls_port)));
    assert!(
        !runtime.block_on(answered(&new_ca, tls_port)),
        "new CA trusted too early"
    );

    for file in ["sbc.pem", "sbc.key", "emulator-ca.pem"] {
        std::fs::copy(new.join(file), live.join(file)).unwrap();
    }
    // Files replaced but no signal: still the old certificate.
    assert!(!runtime.block_on(answered(&new_ca, tls_port)));
    let status = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(status.success());
    wait_for_log(&log_path, "reloaded the TLS server certificates", 1);
    assert!(
        runtime.block_on(answered(&new_ca, tls_port)),
        "new certificate not served"
    );
}
