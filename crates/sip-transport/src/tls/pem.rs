//! Reading certificates, keys and CA bundles from PEM files.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

use crate::error::TlsConfigError;

fn pem_error(path: &Path, e: impl std::fmt::Display) -> TlsConfigError {
    TlsConfigError::Pem {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// Every certificate in the file, in order (a chain: leaf first).
pub(crate) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

/// The first private key in the file (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            TlsConfigError::NoPrivateKey(path.to_owned())
        }
        e => pem_error(path, e),
    })
}

/// A trust store holding every certificate of the bundle.
pub(crate) fn ca_bundle(path: &Path) -> Result<Arc<RootCertStore>, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path)? {
        roots.add(cert).map_err(|source| TlsConfigError::BadCa {
            path: path.to_owned(),
            source,
        })?;
    }
    Ok(Arc::new(roots))
}
