//! The client side: the CA bundle servers are verified against and our
//! certificate for mutual TLS.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::ClientConfig;
use tokio_rustls::TlsConnector;

use super::current::Current;
use super::server::CertificateFiles;
use super::{pem, provider, PROTOCOL_VERSIONS};
use crate::error::TlsConfigError;

/// The files of the TLS client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsClientFiles {
    /// PEM file of the CA certificates servers must chain to (for public
    /// peers such as Microsoft's, the system bundle, e.g.
    /// `/etc/ssl/certs/ca-certificates.crt`).
    pub ca_bundle: PathBuf,
    /// Our certificate, presented when a server asks (mutual TLS).
    pub certificate: Option<CertificateFiles>,
}

/// The TLS configuration of outbound connections, reloadable. Clones share
/// the configuration.
#[derive(Clone)]
pub struct TlsClient {
    inner: Arc<Inner>,
}

struct Inner {
    files: TlsClientFiles,
    current: Current<ClientConfig>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("files", &self.inner.files)
            .finish_non_exhaustive()
    }
}

impl TlsClient {
    /// Loads the files.
    pub fn load(files: TlsClientFiles) -> Result<TlsClient, TlsConfigError> {
        let config = build(&files)?;
        Ok(TlsClient {
            inner: Arc::new(Inner {
                files,
                current: Current::new(config),
            }),
        })
    }

    /// Re-reads the files; later connections use the new configuration.
    /// On error the old one stays.
    pub fn reload(&self) -> Result<(), TlsConfigError> {
        self.inner.current.set(build(&self.inner.files)?);
        Ok(())
    }

    /// A connector with the current configuration.
    pub(crate) fn connector(&self) -> TlsConnector {
        TlsConnector::from(self.inner.current.get())
    }
}

fn build(files: &TlsClientFiles) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let roots = pem::ca_bundle(&files.ca_bundle)?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)?
        .with_root_certificates(roots);
    let config = match &files.certificate {
        None => builder.with_no_client_auth(),
        Some(cert) => {
            let chain = pem::certificates(&cert.chain)?;
            let key = pem::private_key(&cert.key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|source| TlsConfigError::BadKey {
                    path: cert.key.clone(),
                    source,
                })?
        }
    };
    Ok(Arc::new(config))
}
