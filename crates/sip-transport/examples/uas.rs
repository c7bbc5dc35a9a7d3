//! A tiny UAS on loopback: the transport feeds a `sip_core`
//! `TransactionLayer`, which answers every request with 200 OK, and
//! reports what does not parse; a raw socket sends it a broken datagram,
//! a second transport an OPTIONS over UDP and one over TCP; the answers
//! are printed and it exits.
//!
//! `cargo run -p sip-transport --example uas`

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sip::{HeaderName, Message, Method, Request, Response, StatusCode, Uri};
use sip_core::{LayerEvent, TransactionEvent, TransactionKey, TransactionLayer};
use sip_transport::{
    Flow, Inbound, ResolvedTarget, SipTransport, Target, TransportConfig, TransportKind, Unparsable,
};
use tokio::sync::mpsc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (uas, inbound, unparsable) = SipTransport::with_unparsable(TransportConfig::default());
    let udp = uas.bind_udp("127.0.0.1:0".parse()?).await?;
    let tcp = uas.listen_tcp("127.0.0.1:0".parse()?).await?;
    tokio::spawn(drive(uas.clone(), inbound, unparsable));

    let raw = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    raw.send_to(b"OPTIONS sip:uas@example.com SIP/2.0\r\n\r\n", udp)
        .await?;

    let (uac, mut answers) = SipTransport::new(TransportConfig::default());
    uac.bind_udp("127.0.0.1:0".parse()?).await?;
    for target in [
        ResolvedTarget::new(TransportKind::Udp, udp),
        ResolvedTarget::new(TransportKind::Tcp, tcp),
    ] {
        let options =
            Request::builder(Method::Options, Uri::parse(format!("sip:{}", target.addr))?)
                .header(
                    HeaderName::Via,
                    format!(
                        "SIP/2.0/UDP {};branch={}",
                        sip_core::VIA_SENT_BY_PLACEHOLDER,
                        sip::new_branch()
                    ),
                )
                .header(HeaderName::MaxForwards, "70")
                .header(
                    HeaderName::From,
                    format!("<sip:uac@example.com>;tag={}", sip::new_tag()),
                )
                .header(HeaderName::To, "<sip:uas@example.com>")
                .header(HeaderName::CallId, sip::new_call_id())
                .header(HeaderName::CSeq, "1 OPTIONS")
                .build();
        let flow = uac.send(options, &Target::Resolved(target)).await?;
        let answer = tokio::time::timeout(Duration::from_secs(5), answers.recv())
            .await?
            .ok_or("transport closed")?;
        if let Message::Response(response) = answer.message {
            println!(
                "{} over {} from {}: {} {}",
                flow.local,
                flow.transport,
                answer.source.remote,
                response.status.0,
                String::from_utf8_lossy(&response.reason)
            );
        }
    }
    uac.shutdown().await;
    uas.shutdown().await;
    Ok(())
}

/// The driver loop: messages from the transport into the transaction
/// layer, its transmits back out, its timers on the tokio clock. What
/// does not parse is only reported (an SBC answers it with 400, 505 or
/// 513 through `SipTransport::reply`).
async fn drive(
    transport: SipTransport,
    mut inbound: mpsc::Receiver<Inbound>,
    mut unparsable: mpsc::Receiver<Unparsable>,
) {
    let mut layer = TransactionLayer::new(Default::default());
    // Where the responses of each server transaction go.
    let mut sources: HashMap<TransactionKey, Flow> = HashMap::new();
    loop {
        let wake = layer.poll_timeout();
        tokio::select! {
            received = inbound.recv() => {
                let Some(received) = received else { return };
                let now = Instant::now();
                let reliable = received.source.transport.is_stream();
                let _ = match received.message {
                    Message::Request(request) => {
                        if let Ok(key) = TransactionKey::server(&request) {
                            sources.insert(key, received.source);
                        }
                        layer.handle_request(request, reliable, now)
                    }
                    Message::Response(response) => layer.handle_response(response, now),
                };
            }
            Some(bad) = unparsable.recv() => {
                println!(
                    "{} bytes over {} from {} did not parse: {}",
                    bad.bytes.len(),
                    bad.source.transport,
                    bad.source.remote,
                    bad.error
                );
            }
            () = sleep_until(wake) => layer.handle_timeout(Instant::now()),
        }
        flush(&transport, &mut layer, &mut sources).await;
    }
}

/// Drains the layer: transmits, then events, whose answers queue more
/// transmits, until both queues are empty.
async fn flush(
    transport: &SipTransport,
    layer: &mut TransactionLayer,
    sources: &mut HashMap<TransactionKey, Flow>,
) {
    loop {
        while let Some(transmit) = layer.poll_transmit() {
            let Some(source) = sources.get(&transmit.key) else {
                continue;
            };
            if let Message::Response(response) = transmit.message {
                if transport.send_response(response, source).await.is_err() {
                    layer.handle_transport_error(&transmit.key, Instant::now());
                }
            }
        }
        let Some(event) = layer.poll_event() else {
            return;
        };
        match event {
            LayerEvent::Request { key, request } => {
                let mut ok = Response::for_request(&request, StatusCode::OK);
                if let Ok(to) = request.headers.to() {
                    ok.headers
                        .set(HeaderName::To, format!("{to};tag={}", sip::new_tag()));
                }
                let _ = layer.send_response(&key, ok, Instant::now());
            }
            LayerEvent::Transaction {
                key,
                event: TransactionEvent::Terminated,
            } => {
                sources.remove(&key);
            }
            _ => {}
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
