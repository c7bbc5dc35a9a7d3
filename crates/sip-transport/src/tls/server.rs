//! The server side: certificates chosen by SNI, mutual TLS, reload.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use super::certificate::{name_matches, PeerCertificate};
use super::current::Current;
use super::{pem, provider, PROTOCOL_VERSIONS};
use crate::error::TlsConfigError;

/// A certificate chain (leaf first) and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// The chain.
    pub chain: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Whether a TLS listener asks clients for a certificate (mutual TLS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// A client may present a certificate, which must chain to the bundle.
    Optional {
        /// PEM file of the trusted CA certificates.
        ca_bundle: PathBuf,
    },
    /// A client must present a certificate chaining to the bundle; the
    /// handshake fails otherwise.
    Required {
        /// PEM file of the trusted CA certificates.
        ca_bundle: PathBuf,
    },
}

/// The files of a TLS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsServerFiles {
    /// The certificates; a client's SNI picks the one whose names cover
    /// it, the first one serves clients without SNI or with an unknown
    /// name.
    pub certificates: Vec<CertificateFiles>,
    /// Client certificates.
    pub client_auth: ClientAuth,
}

/// The TLS configuration of listeners, reloadable without restart. Clones
/// share the configuration.
#[derive(Clone)]
pub struct TlsServer {
    inner: Arc<Inner>,
}

struct Inner {
    files: TlsServerFiles,
    current: Current<ServerConfig>,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("files", &self.inner.files)
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Loads the files.
    pub fn load(files: TlsServerFiles) -> Result<TlsServer, TlsConfigError> {
        let config = build(&files)?;
        Ok(TlsServer {
            inner: Arc::new(Inner {
                files,
                current: Current::new(config),
            }),
        })
    }

    /// Re-reads every file and, if all load, makes the new configuration
    /// serve every later handshake; connections already open keep their
    /// session. On error the old configuration stays.
    pub fn reload(&self) -> Result<(), TlsConfigError> {
        self.inner.current.set(build(&self.inner.files)?);
        Ok(())
    }

    /// An acceptor with the current configuration.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.inner.current.get())
    }
}

fn build(files: &TlsServerFiles) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let provider = provider();
    let mut certificates = Vec::with_capacity(files.certificates.len());
    for cert in &files.certificates {
        let chain = pem::certificates(&cert.chain)?;
        let key = pem::private_key(&cert.key)?;
        let names = chain
            .first()
            .cloned()
            .and_then(PeerCertificate::from_der)
            .map(|c| {
                let mut names = c.dns_names().to_vec();
                names.extend(c.common_name().map(str::to_owned));
                names
            })
            .unwrap_or_default();
        let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|source| {
            TlsConfigError::BadKey {
                path: cert.key.clone(),
                source,
            }
        })?;
        certificates.push((names, Arc::new(certified)));
    }
    if certificates.is_empty() {
        return Err(TlsConfigError::NoServerCertificate);
    }
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(PROTOCOL_VERSIONS)?;
    let builder = match &files.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Optional { ca_bundle } => {
            let roots = pem::ca_bundle(ca_bundle)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                .allow_unauthenticated()
                .build()?;
            builder.with_client_cert_verifier(verifier)
        }
        ClientAuth::Required { ca_bundle } => {
            let roots = pem::ca_bundle(ca_bundle)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider).build()?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_cert_resolver(Arc::new(SniResolver { certificates }));
    Ok(Arc::new(config))
}

/// Picks the certificate by SNI: an exact name first, then a wildcard,
/// else the first certificate.
#[derive(Debug)]
struct SniResolver {
    /// Each certificate with the names it covers; never empty.
    certificates: Vec<(Vec<String>, Arc<CertifiedKey>)>,
}

impl SniResolver {
    fn pick(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = server_name {
            let exact = self.certificates.iter().find(|(names, _)| {
                names
                    .iter()
                    .any(|n| !n.starts_with("*.") && name_matches(n, name))
            });
            let wildcard = || {
                self.certificates
                    .iter()
                    .find(|(names, _)| names.iter().any(|n| name_matches(n, name)))
            };
            if let Some((_, key)) = exact.or_else(wildcard) {
                return Some(Arc::clone(key));
            }
        }
        self.certificates.first().map(|(_, key)| Arc::clone(key))
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.pick(client_hello.server_name())
    }
}
