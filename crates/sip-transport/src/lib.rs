//! SIP transport for switchboard: the thin tokio driver that owns the
//! sockets (RFC 3261 §18) under the sans-IO `sip-core` layers.
//!
//! - UDP, TCP and TLS (1.2 and 1.3), IPv4 and IPv6, listening and
//!   connecting; stream framing with [`sip::StreamDecoder`] and CRLF
//!   keep-alives (RFC 5626 §3.5.1, §4.4.1).
//! - Inbound requests get `received`/`rport` in their top Via (RFC 3261
//!   §18.2.1, RFC 3581 §4); responses go back on the request's connection
//!   or to the Via's `received`/`rport` (RFC 3261 §18.2.2).
//! - Requests to a peer with an open connection from it reuse that
//!   connection, keyed by its remote address and its Via `alias` (RFC
//!   5923). Requests built by `sip-core` dialogs get their Via sent-by.
//! - TLS certificates picked by SNI, mutual TLS, reload without restart;
//!   the peer certificate's names reach the upper layer ([`Flow`]).
//! - Every resource a peer can hold is bounded ([`TransportConfig`]) and
//!   every drop or close is counted ([`StatsSnapshot`]).
//! - What does not parse reaches the upper layer as [`Unparsable`] (from
//!   [`SipTransport::with_unparsable`]) to answer with 400, 505 or 513
//!   ([`SipTransport::reply`]); over TCP and TLS a bad message whose
//!   Content-Length is readable keeps its connection.
//! - [`SipResolver`] turns URIs into ordered targets (RFC 3263), with a
//!   static host map consulted before DNS.
//!
//! A driver loop feeding a `sip_core::TransactionLayer` (see
//! `examples/uas.rs` for a complete one):
//!
//! ```no_run
//! use std::collections::HashMap;
//! use std::time::Instant;
//!
//! use sip::Message;
//! use sip_core::{LayerEvent, TransactionEvent, TransactionKey, TransactionLayer};
//! use sip_transport::{SipTransport, TransportConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (transport, mut inbound, mut unparsable) =
//!     SipTransport::with_unparsable(TransportConfig::default());
//! transport.bind_udp("127.0.0.1:5060".parse()?).await?;
//! transport.listen_tcp("127.0.0.1:5060".parse()?).await?;
//! let mut layer = TransactionLayer::new(Default::default());
//! // Where each server transaction's responses go.
//! let mut sources = HashMap::new();
//! loop {
//!     let wake = layer.poll_timeout();
//!     tokio::select! {
//!         Some(received) = inbound.recv() => {
//!             let now = Instant::now();
//!             let reliable = received.source.transport.is_stream();
//!             let _ = match received.message {
//!                 Message::Request(request) => {
//!                     if let Ok(key) = TransactionKey::server(&request) {
//!                         sources.insert(key, received.source);
//!                     }
//!                     layer.handle_request(request, reliable, now)
//!                 }
//!                 Message::Response(response) => layer.handle_response(response, now),
//!             };
//!         }
//!         Some(bad) = unparsable.recv() => {
//!             // An SBC answers from the bytes (e.g. 400 naming `bad.error`)
//!             // with `transport.reply(response, &bad.source)`; here: drop.
//!             let _ = (bad.bytes, bad.error);
//!         }
//!         () = sleep_until(wake) => layer.handle_timeout(Instant::now()),
//!     }
//!     // Drain: transmits, then events (whose answers queue transmits).
//!     loop {
//!         while let Some(transmit) = layer.poll_transmit() {
//!             if let (Message::Response(response), Some(source)) =
//!                 (transmit.message, sources.get(&transmit.key))
//!             {
//!                 transport.send_response(response, source).await?;
//!             }
//!         }
//!         match layer.poll_event() {
//!             Some(LayerEvent::Request { key, request }) => {
//!                 let ok = sip::Response::for_request(&request, sip::StatusCode::OK);
//!                 layer.send_response(&key, ok, Instant::now())?;
//!             }
//!             Some(LayerEvent::Transaction { key, event: TransactionEvent::Terminated }) => {
//!                 sources.remove(&key);
//!             }
//!             Some(_) => {}
//!             None => break,
//!         }
//!     }
//! }
//! # }
//! async fn sleep_until(at: Option<Instant>) {
//!     match at {
//!         Some(at) => tokio::time::sleep_until(at.into()).await,
//!         None => std::future::pending().await,
//!     }
//! }
//! ```
#![warn(missing_docs)]

mod config;
mod connection;
mod error;
mod flow;
mod listener;
mod registry;
mod resolve;
mod resync;
mod stats;
mod tls;
mod transport;
mod udp;
mod via;

pub use config::TransportConfig;
pub use error::{ResolveError, TlsConfigError, TransportError};
pub use flow::{ConnectionId, Flow, Inbound, ResolvedTarget, Target, TransportKind, Unparsable};
pub use resolve::{Dns, SipResolver, SipResolverConfig};
pub use stats::StatsSnapshot;
pub use tls::{
    CertificateFiles, ClientAuth, PeerCertificate, TlsClient, TlsClientFiles, TlsServer,
    TlsServerFiles,
};
pub use transport::SipTransport;
