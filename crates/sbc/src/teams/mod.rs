//! The Microsoft Teams Direct Routing profile (see
//! `shared/specs/teams-direct-routing.md`): the FQDNs written in Contact
//! and Record-Route for each tenant, the Request-URI and X-MS-SBC header
//! towards Teams, recognising Teams' own requests (source subnet AND a TLS
//! certificate naming a proxy, RFC 6125 §6.4 name matching), OPTIONS
//! keepalive and proxy health ([`OptionsPinger`], RFC 3261 §11), failover
//! between proxies ([`ProxyFailover`], RFC 3261 §21.5.4 / RFC 3263 §4.3
//! style), and Refer-To targets (RFC 3515 §2.1) that keep `x-m` / `x-t`.

mod failover;
mod health;
mod refer;

use std::net::IpAddr;

use sip::{Uri, UriError};

use crate::config::{ProxyAddr, TeamsTrunk};
use crate::number::E164;

pub use failover::{AttemptOutcome, FailoverDecision, ProxyFailover};
pub use health::{HealthChange, OptionsPinger, OptionsProbe, ProxyHealth, ProxyId};
pub(crate) use refer::refer_target;
pub use refer::ReferTarget;

/// Whether certificate name `pattern` (possibly `*.example.com`, one
/// label wide, RFC 6125 §6.4.3) covers `host`.
pub(crate) fn cert_name_matches(pattern: &str, host: &str) -> bool {
    let (pattern, host) = (pattern.to_ascii_lowercase(), host.to_ascii_lowercase());
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

/// `<sip:[+E164@]fqdn:port;transport=tls>`.
pub(crate) fn contact(fqdn: &str, port: u16, number: Option<&E164>) -> String {
    match number {
        Some(n) => format!("<sip:{n}@{fqdn}:{port};transport=tls>"),
        None => format!("<sip:{fqdn}:{port};transport=tls>"),
    }
}

impl TeamsTrunk {
    /// Whether a request comes from Teams: its source address is in the
    /// Teams subnets AND the TLS peer certificate (its SAN/CN names, given
    /// by the caller) names one of the proxies.
    pub fn is_teams_peer(&self, source: IpAddr, peer_cert_names: &[&str]) -> bool {
        self.source_subnets.iter().any(|net| net.contains(&source))
            && peer_cert_names.iter().any(|name| {
                self.proxies
                    .iter()
                    .any(|proxy| cert_name_matches(name, &proxy.fqdn))
            })
    }

    /// Whether `source` is in the Teams signalling subnets.
    pub fn in_teams_subnets(&self, source: IpAddr) -> bool {
        self.source_subnets.iter().any(|net| net.contains(&source))
    }

    /// The configured proxy with host `host`, if any.
    pub fn proxy_named(&self, host: &str) -> Option<&ProxyAddr> {
        self.proxies
            .iter()
            .find(|p| p.fqdn.eq_ignore_ascii_case(host))
    }

    /// Contact of the base trunk for OPTIONS:
    /// `<sip:sbc1.customers.example.net:5061;transport=tls>`.
    pub fn options_contact(&self) -> String {
        contact(&self.trunk_fqdn, self.signalling_port, None)
    }

    /// Request-URI of an OPTIONS to `proxy`: `sip:<fqdn>:<port>`. (Built
    /// from checked configuration, so the error does not happen for
    /// proxies of this trunk.)
    pub fn options_uri(&self, proxy: &ProxyAddr) -> Result<Uri, UriError> {
        Uri::parse(format!("sip:{}:{}", proxy.fqdn, proxy.port))
    }

    /// Request-URI of a call to a Teams user, unchanged by every hop:
    /// `sip:+E164@<proxy fqdn>;user=phone`.
    pub fn request_uri(&self, number: &E164, proxy: &ProxyAddr) -> Result<Uri, UriError> {
        Uri::parse(format!("sip:{number}@{};user=phone", proxy.fqdn))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::config::Config;

    pub(crate) const TEAMS: &str = r#"
        [sbc.listen]
        tls = ["127.0.0.1:5061"]
        [sbc.tls]
        cert = "cert.pem"
        key = "key.pem"
        [teams]
        base_fqdn = "customers.example.net"
        trunk_fqdn = "sbc1.customers.example.net"
    "#;

    fn teams() -> TeamsTrunk {
        Config::from_toml_str(TEAMS, "t.toml")
            .unwrap()
            .teams
            .unwrap()
    }

    #[test]
    fn recognises_teams_by_subnet_and_certificate() {
        let t = teams();
        let teams_ip: IpAddr = "52.114.1.1".parse().unwrap();
        let other_ip: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(t.is_teams_peer(teams_ip, &["sip.pstnhub.microsoft.com"]));
        assert!(t.is_teams_peer(teams_ip, &["other.example", "*.pstnhub.microsoft.com"]));
        assert!(t.is_teams_peer(
            "52.123.0.1".parse().unwrap(),
            &["SIP2.pstnhub.microsoft.com"]
        ));
        assert!(!t.is_teams_peer(teams_ip, &["sip.pstnhub.evil.example"]));
        assert!(!t.is_teams_peer(teams_ip, &[]));
        assert!(!t.is_teams_peer(other_ip, &["sip.pstnhub.microsoft.com"]));
    }

    #[test]
    fn wildcards_cover_one_label() {
        assert!(cert_name_matches(
            "*.customers.example.net",
            "contoso.customers.example.net"
        ));
        assert!(!cert_name_matches(
            "*.customers.example.net",
            "a.b.customers.example.net"
        ));
        assert!(!cert_name_matches(
            "*.customers.example.net",
            "customers.example.net"
        ));
    }

    #[test]
    fn options_and_request_uris() {
        let t = teams();
        let proxy = &t.proxies[0];
        assert_eq!(
            t.options_uri(proxy).unwrap().as_str(),
            "sip:sip.pstnhub.microsoft.com:5061"
        );
        assert_eq!(
            t.options_contact(),
            "<sip:sbc1.customers.example.net:5061;transport=tls>"
        );
        let n = E164::parse("+14255550123").unwrap();
        assert_eq!(
            t.request_uri(&n, proxy).unwrap().as_str(),
            "sip:+14255550123@sip.pstnhub.microsoft.com;user=phone"
        );
        assert!(t.x_ms_sbc.starts_with("Switchboard/SBC/"));
    }
}
