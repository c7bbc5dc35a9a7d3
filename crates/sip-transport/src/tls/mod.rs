//! TLS for SIP (RFC 3261 §26.3.1, RFC 5922 §7 for the names a certificate
//! must cover): TLS 1.2 and 1.3 only, on rustls with the ring provider.
//!
//! - [`TlsServer`]: several certificates picked by SNI, the first as the
//!   default; optional or required client certificates checked against a CA
//!   bundle (mutual TLS); [`TlsServer::reload`] re-reads the files and
//!   swaps the configuration for new handshakes.
//! - [`TlsClient`]: a CA bundle to verify servers and an optional client
//!   certificate, also reloadable.
//! - [`PeerCertificate`]: the names in the certificate a peer presented,
//!   for the upper layer (Teams checks the Contact FQDN against it).

mod certificate;
mod client;
mod current;
mod pem;
mod server;

pub use certificate::PeerCertificate;
pub use client::{TlsClient, TlsClientFiles};
pub use server::{CertificateFiles, ClientAuth, TlsServer, TlsServerFiles};

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// TLS 1.3 and 1.2; nothing older (Teams requires 1.2 or newer).
pub(crate) static PROTOCOL_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The ring provider, built explicitly so no process-wide default is
/// needed.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
