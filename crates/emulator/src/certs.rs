//! Test certificates so switchboard and the emulator trust each other on
//! loopback: one CA, a certificate per proxy FQDN
//! (`sip.pstnhub.microsoft.com`...), and the SBC's certificate for the
//! provider's base domain and its wildcard (`customers.example.net`,
//! `*.customers.example.net`, RFC 2818 §3.1). Every leaf is valid for both
//! server and client authentication (mutual TLS both ways).
//!
//! Files written into the output directory (PEM), named as
//! `examples/teams.toml` expects them: `emulator-ca.pem`,
//! `emulator-ca.key`, `<proxy fqdn>.pem`, `<proxy fqdn>.key`, `sbc.pem`,
//! `sbc.key`.
//!
//! Keys are ECDSA P-256 (what `rcgen` generates with `ring`): TLS 1.2
//! uses ECDHE-ECDSA with AES-GCM instead of Microsoft's ECDHE-RSA suites.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::config::EmulatorConfig;
use crate::error::CertError;

/// The paths of a generated set of certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificatePaths {
    /// The CA certificate: the trust anchor of both sides.
    pub ca: PathBuf,
    /// The CA key (to sign more certificates by hand).
    pub ca_key: PathBuf,
    /// Per proxy FQDN: certificate and key.
    pub proxies: Vec<(String, PathBuf, PathBuf)>,
    /// The SBC certificate.
    pub sbc_cert: PathBuf,
    /// Its key.
    pub sbc_key: PathBuf,
}

/// The CA certificate file in `dir`.
pub fn ca_path(dir: &Path) -> PathBuf {
    dir.join("emulator-ca.pem")
}

/// The certificate and key files of a proxy in `dir`.
pub fn proxy_cert_paths(dir: &Path, proxy_fqdn: &str) -> (PathBuf, PathBuf) {
    let name = proxy_fqdn.to_ascii_lowercase();
    (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    )
}

/// The SBC certificate and key files in `dir`.
pub fn sbc_cert_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("sbc.pem"), dir.join("sbc.key"))
}

/// The names of the SBC certificate for a base domain:
/// `*.<base>` and `<base>`.
pub fn sbc_names(base_domain: &str) -> Vec<String> {
    vec![format!("*.{base_domain}"), base_domain.to_owned()]
}

/// Generates a CA, one certificate per proxy FQDN and one SBC certificate
/// with `sbc_names` (see [`sbc_names`]), and writes them into `out`
/// (created if missing).
pub fn write_certificates(
    out: &Path,
    proxy_fqdns: &[String],
    sbc_names: &[String],
) -> Result<CertificatePaths, CertError> {
    std::fs::create_dir_all(out).map_err(|source| CertError::Write {
        path: out.to_owned(),
        source,
    })?;
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name = name("switchboard emulator test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key)?;
    let ca_path = ca_path(out);
    let ca_key_path = out.join("emulator-ca.key");
    write(&ca_path, &ca.pem())?;
    write(&ca_key_path, &ca_key.serialize_pem())?;

    let mut proxies = Vec::new();
    for fqdn in proxy_fqdns {
        let (cert, key) = proxy_cert_paths(out, fqdn);
        leaf(&[fqdn.to_ascii_lowercase()], &ca, &ca_key, &cert, &key)?;
        proxies.push((fqdn.clone(), cert, key));
    }
    let (sbc_cert, sbc_key) = sbc_cert_paths(out);
    leaf(sbc_names, &ca, &ca_key, &sbc_cert, &sbc_key)?;
    Ok(CertificatePaths {
        ca: ca_path,
        ca_key: ca_key_path,
        proxies,
        sbc_cert,
        sbc_key,
    })
}

/// [`write_certificates`] for a configuration: its proxies, and an SBC
/// certificate covering every tenant domain that has no parent among the
/// others (the provider's base domain) with its wildcard.
pub fn write_certificates_for(
    config: &EmulatorConfig,
    out: &Path,
) -> Result<CertificatePaths, CertError> {
    let proxies: Vec<String> = config.proxies.iter().map(|p| p.fqdn.clone()).collect();
    let domains: BTreeSet<String> = config
        .tenants
        .iter()
        .flat_map(|t| t.domains.iter().map(|d| d.to_ascii_lowercase()))
        .collect();
    let bases = domains.iter().filter(|domain| {
        !domains
            .iter()
            .any(|other| domain.ends_with(&format!(".{other}")))
    });
    let names: Vec<String> = bases.flat_map(|base| sbc_names(base)).collect();
    write_certificates(out, &proxies, &names)
}

fn leaf(
    names: &[String],
    ca: &Certificate,
    ca_key: &KeyPair,
    cert_path: &Path,
    key_path: &Path,
) -> Result<(), CertError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names.to_vec())?;
    let common_name = names.first().map_or("switchboard test", String::as_str);
    params.distinguished_name = name(common_name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.signed_by(&key, ca, ca_key)?;
    write(cert_path, &cert.pem())?;
    write(key_path, &key.serialize_pem())
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

fn write(path: &Path, contents: &str) -> Result<(), CertError> {
    std::fs::write(path, contents).map_err(|source| CertError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_file_for_a_config() {
        let dir = std::env::temp_dir().join(format!("emulator-certs-{}", std::process::id()));
        let config = EmulatorConfig::from_toml(
            r#"
[emulator]
[[emulator.tenants]]
id = "provider"
domains = ["customers.example.net"]
[[emulator.tenants]]
id = "contoso"
domains = ["contoso.customers.example.net"]
"#,
        )
        .unwrap();
        let paths = write_certificates_for(&config, &dir).unwrap();
        assert_eq!(paths.proxies.len(), 3);
        for (fqdn, cert, key) in &paths.proxies {
            assert_eq!(proxy_cert_paths(&dir, fqdn), (cert.clone(), key.clone()));
            assert!(std::fs::read_to_string(cert)
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----"));
            assert!(std::fs::read_to_string(key)
                .unwrap()
                .contains("PRIVATE KEY"));
        }
        assert!(paths.ca.exists() && paths.sbc_cert.exists() && paths.sbc_key.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
