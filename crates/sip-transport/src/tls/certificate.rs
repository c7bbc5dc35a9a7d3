//! The names in a peer's X.509 certificate (RFC 5280 §4.1, §4.2.1.6) and
//! matching a host name against them (RFC 6125 §6.4, RFC 2818 §3.1
//! wildcards; RFC 5922 §7.1 for SIP).
//!
//! Only the few fields needed are read, with a small DER walker that never
//! panics on malformed input; the chain itself was verified by rustls.

use rustls::pki_types::CertificateDer;

/// What the upper layer needs from the certificate a peer presented.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    der: CertificateDer<'static>,
    dns_names: Vec<String>,
    common_name: Option<String>,
    serial: Vec<u8>,
}

impl std::fmt::Debug for PeerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerCertificate")
            .field("dns_names", &self.dns_names)
            .field("common_name", &self.common_name)
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

impl PeerCertificate {
    /// Reads the names of a DER certificate; `None` if it is not a
    /// well-formed X.509 certificate.
    pub fn from_der(der: CertificateDer<'static>) -> Option<PeerCertificate> {
        let fields = parse(&der)?;
        Some(PeerCertificate {
            dns_names: fields.dns_names,
            common_name: fields.common_name,
            serial: fields.serial,
            der,
        })
    }

    /// The dNSName entries of the subjectAltName extension, as written.
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    /// The last Common Name of the subject, if any.
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }

    /// The serial number, big-endian, as encoded.
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// The DER encoding.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// Whether the certificate names `host` (RFC 6125 §6.4): a dNSName
    /// equal to it ignoring ASCII case, or a wildcard `*.rest` matching
    /// exactly one more label. The Common Name counts only when the
    /// certificate has no dNSName (RFC 6125 §6.4.4).
    pub fn covers(&self, host: &str) -> bool {
        if self.dns_names.is_empty() {
            return self
                .common_name
                .as_deref()
                .is_some_and(|cn| name_matches(cn, host));
        }
        self.dns_names.iter().any(|name| name_matches(name, host))
    }
}

/// RFC 6125 §6.4.3 with wildcards only as a whole left-most label.
pub(crate) fn name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.strip_suffix('.').unwrap_or(pattern);
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || pattern.is_empty() {
        return false;
    }
    match pattern.strip_prefix("*.") {
        Some(rest) => match host.split_once('.') {
            Some((first, host_rest)) => {
                !first.is_empty() && !rest.is_empty() && host_rest.eq_ignore_ascii_case(rest)
            }
            None => false,
        },
        None => pattern.eq_ignore_ascii_case(host),
    }
}

struct Fields {
    serial: Vec<u8>,
    common_name: Option<String>,
    dns_names: Vec<String>,
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
const VERSION: u8 = 0xa0;
const EXTENSIONS: u8 = 0xa3;
const DNS_NAME: u8 = 0x82;
/// id-at-commonName, 2.5.4.3.
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// id-ce-subjectAltName, 2.5.29.17.
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// One DER TLV: the tag, the value, the bytes after it.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers do not occur in these fields
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let mut len = 0usize;
        for _ in 0..count {
            let (&b, r) = rest.split_first()?;
            len = (len << 8) | usize::from(b);
            rest = r;
        }
        len
    };
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    Some((tag, value, rest))
}

/// The value of a TLV that must have `tag`.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, value, rest) = tlv(input)?;
    (t == tag).then_some((value, rest))
}

fn parse(der: &[u8]) -> Option<Fields> {
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(certificate, SEQUENCE)?;
    let mut rest = tbs;
    if let Some((VERSION, _, after)) = tlv(rest) {
        rest = after;
    }
    let (serial, rest) = expect(rest, INTEGER)?;
    let (_signature, rest) = expect(rest, SEQUENCE)?;
    let (_issuer, rest) = expect(rest, SEQUENCE)?;
    let (_validity, rest) = expect(rest, SEQUENCE)?;
    let (subject, rest) = expect(rest, SEQUENCE)?;
    let (_spki, mut rest) = expect(rest, SEQUENCE)?;
    let mut dns_names = Vec::new();
    while let Some((tag, value, after)) = tlv(rest) {
        if tag == EXTENSIONS {
            dns_names = subject_alt_names(value)?;
        }
        rest = after;
    }
    Some(Fields {
        serial: serial.to_vec(),
        common_name: common_name(subject),
        dns_names,
    })
}

/// The last commonName of a Name (RDNSequence of SETs of
/// AttributeTypeAndValue).
fn common_name(mut name: &[u8]) -> Option<String> {
    let mut found = None;
    while let Some((set, after)) = expect(name, SET) {
        let mut attributes = set;
        while let Some((attribute, next)) = expect(attributes, SEQUENCE) {
            if let Some((oid, value)) = expect(attribute, OID) {
                if oid == OID_COMMON_NAME {
                    if let Some((_, text, _)) = tlv(value) {
                        found = std::str::from_utf8(text).ok().map(str::to_owned);
                    }
                }
            }
            attributes = next;
        }
        name = after;
    }
    found
}

/// The dNSNames of the subjectAltName extension, from `[3] Extensions`.
fn subject_alt_names(explicit: &[u8]) -> Option<Vec<String>> {
    let (mut extensions, _) = expect(explicit, SEQUENCE)?;
    let mut names = Vec::new();
    while let Some((extension, after)) = expect(extensions, SEQUENCE) {
        extensions = after;
        let (oid, mut rest) = expect(extension, OID)?;
        if let Some((BOOLEAN, _, after)) = tlv(rest) {
            rest = after;
        }
        let (value, _) = expect(rest, OCTET_STRING)?;
        if oid != OID_SUBJECT_ALT_NAME {
            continue;
        }
        let (mut general_names, _) = expect(value, SEQUENCE)?;
        while let Some((tag, name, after)) = tlv(general_names) {
            if tag == DNS_NAME {
                if let Ok(name) = std::str::from_utf8(name) {
                    names.push(name.to_owned());
                }
            }
            general_names = after;
        }
    }
    Some(names)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn certificate(names: &[&str], cn: &str, serial: u64) -> CertificateDer<'static> {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.serial_number = Some(rcgen::SerialNumber::from(serial));
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn reads_names_common_name_and_serial() {
        let der = certificate(
            &["sbc1.example.net", "*.customers.example.net"],
            "sbc",
            4242,
        );
        let cert = PeerCertificate::from_der(der).unwrap();
        assert_eq!(
            cert.dns_names(),
            ["sbc1.example.net", "*.customers.example.net"]
        );
        assert_eq!(cert.common_name(), Some("sbc"));
        assert_eq!(cert.serial(), &[0x10, 0x92]);
    }

    #[test]
    fn covers_exact_and_one_label_wildcards() {
        let der = certificate(&["sbc1.example.net", "*.customers.example.net"], "x", 1);
        let cert = PeerCertificate::from_der(der).unwrap();
        assert!(cert.covers("SBC1.example.net"));
        assert!(cert.covers("sbc1.example.net."));
        assert!(cert.covers("tenant.customers.example.net"));
        assert!(!cert.covers("customers.example.net"));
        assert!(!cert.covers("a.b.customers.example.net"));
        assert!(!cert.covers("x"), "common name ignored when SANs exist");
    }

    #[test]
    fn common_name_counts_without_dns_names() {
        let der = certificate(&[], "sip.example.com", 7);
        let cert = PeerCertificate::from_der(der).unwrap();
        assert!(cert.dns_names().is_empty());
        assert!(cert.covers("sip.example.com"));
        assert!(!cert.covers("other.example.com"));
    }

    #[test]
    fn wildcard_rules() {
        assert!(name_matches("*.a.b", "x.a.b"));
        assert!(!name_matches("*.a.b", ".a.b"));
        assert!(!name_matches("*.", "x."));
        assert!(!name_matches("a*.b", "ax.b"));
        assert!(!name_matches("", ""));
    }

    #[test]
    fn truncated_certificates_are_rejected() {
        let der = certificate(&["a.example"], "a", 1);
        for len in 0..der.len() {
            let cut = CertificateDer::from(der[..len].to_vec());
            assert!(PeerCertificate::from_der(cut).is_none(), "length {len}");
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = PeerCertificate::from_der(CertificateDer::from(bytes));
        }

        #[test]
        fn flipped_bytes_never_panic(index in 0usize..400, value in any::<u8>()) {
            let mut der = certificate(&["a.example"], "a", 1).to_vec();
            let at = index % der.len();
            der[at] = value;
            let _ = PeerCertificate::from_der(CertificateDer::from(der));
        }
    }
}
