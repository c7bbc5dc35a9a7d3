//! The `[emulator]` table of switchboard's TOML configuration: the Teams
//! proxies to emulate, the tenants and users behind them, how to reach the
//! SBC and where the certificates live.
//!
//! ```toml
//! [emulator]
//! cert_dir = "certs"
//!
//! [[emulator.proxies]]
//! fqdn = "sip.pstnhub.microsoft.com"
//! listen = "127.0.0.1:15061"
//!
//! [emulator.sbc]
//! port = 5061
//! hosts = { "*.customers.example.net" = "127.0.0.1:5061" }
//!
//! [[emulator.tenants]]
//! id = "8f0c1a36-4c1e-4a43-9d8e-0c6f1e2b7a11"
//! domains = ["contoso.customers.example.net"]
//!
//! [[emulator.tenants.users]]
//! name = "alice"
//! number = "+14255550100"
//! object_id = "5b2f0c43-3c2c-4d8e-9a53-0e2d1f4b8c21"
//! behaviour = "answer"
//! ring_ms = 1500
//! endpoints = 2
//! ```

use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::error::ConfigError;
use crate::graph::GraphConfig;

/// The Teams proxies of the commercial cloud, in the order an SBC tries
/// them.
pub const DEFAULT_PROXY_FQDNS: [&str; 3] = [
    "sip.pstnhub.microsoft.com",
    "sip2.pstnhub.microsoft.com",
    "sip3.pstnhub.microsoft.com",
];

/// The `[emulator]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulatorConfig {
    /// `cert_dir` (default `certs`): where [`write_certificates`]
    /// (crate::write_certificates) puts the PEM files and
    /// [`run`](crate::run) reads them.
    #[serde(default = "default_cert_dir")]
    pub cert_dir: PathBuf,
    /// `seed`: seed of the SRTP keys and correlation ids, for reproducible
    /// runs; random when absent.
    #[serde(default)]
    pub seed: Option<u64>,
    /// `media_ip` (default `127.0.0.1`): the media processor address
    /// written in the emulator's SDP.
    #[serde(default = "default_media_ip")]
    pub media_ip: IpAddr,
    /// `[[emulator.proxies]]` (default sip, sip2, sip3
    /// `.pstnhub.microsoft.com` on `127.0.0.1:15061-15063`).
    #[serde(default = "default_proxies")]
    pub proxies: Vec<ProxyConfig>,
    /// `[emulator.sbc]`: how the proxies reach the SBC.
    #[serde(default)]
    pub sbc: SbcConfig,
    /// `[[emulator.tenants]]`.
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// `health_window_secs` (default 180, Microsoft's three 1-minute
    /// intervals): how long an SBC stays Active without OPTIONS.
    #[serde(default = "default_health_window_secs")]
    pub health_window_secs: u64,
    /// `[emulator.graph]`: the Microsoft Graph presence emulator; off
    /// when absent.
    #[serde(default)]
    pub graph: Option<GraphConfig>,
}

/// One emulated Teams SIP proxy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// `fqdn`, e.g. `sip.pstnhub.microsoft.com`: the name in its
    /// certificate, Via, Contact and Record-Route.
    pub fqdn: String,
    /// `listen`: the TLS address it accepts the SBC's connections on.
    pub listen: SocketAddr,
    /// `mode` (default `up`): `up`, `unavailable` (503 with Retry-After)
    /// or `silent` (never answers, the SBC times out with 408).
    #[serde(default)]
    pub mode: ProxyMode,
    /// `retry_after_secs` (default 30): the Retry-After of the 503s sent
    /// in `unavailable` mode.
    #[serde(default = "default_retry_after")]
    pub retry_after_secs: u32,
}

/// How a proxy answers new requests, for failover tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProxyMode {
    /// Serves requests.
    #[default]
    Up,
    /// Answers every new INVITE and OPTIONS with 503 and a Retry-After.
    #[serde(alias = "down")]
    Unavailable,
    /// Drops every request it receives, so the SBC's transactions time out
    /// (408).
    Silent,
}

/// `[emulator.sbc]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SbcConfig {
    /// `port` (default 5061): the SBC's SIP signalling port, used when a
    /// URI names none.
    #[serde(default = "default_sbc_port")]
    pub port: u16,
    /// `hosts`: SBC FQDN (or `*.domain`, one label) to `ip` or `ip:port`
    /// (one or a list), consulted instead of DNS.
    #[serde(default)]
    pub hosts: BTreeMap<String, HostAddrs>,
}

impl Default for SbcConfig {
    fn default() -> Self {
        SbcConfig {
            port: default_sbc_port(),
            hosts: BTreeMap::new(),
        }
    }
}

/// One address or a list of them, as written in `hosts`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum HostAddrs {
    /// `"127.0.0.1:5061"`.
    One(String),
    /// `["127.0.0.1:5061", "127.0.0.2"]`.
    Many(Vec<String>),
}

impl HostAddrs {
    fn entries(&self) -> Vec<&str> {
        match self {
            HostAddrs::One(one) => vec![one.as_str()],
            HostAddrs::Many(many) => many.iter().map(String::as_str).collect(),
        }
    }
}

/// `[[emulator.tenants]]`: a Microsoft 365 tenant using Direct Routing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// `id`: the tenant id (a GUID), sent as `x-t`.
    pub id: String,
    /// `name` (default: the id): a label for logs and events.
    #[serde(default)]
    pub name: Option<String>,
    /// `domains`: the domains verified in the tenant, e.g.
    /// `contoso.customers.example.net`; the provider's own tenant holds
    /// the base domain `customers.example.net`.
    pub domains: Vec<String>,
    /// `trunk_fqdn` (default: the first domain): the online PSTN gateway
    /// (derived trunk) calls of this tenant's users go to.
    #[serde(default)]
    pub trunk_fqdn: Option<String>,
    /// `[[emulator.tenants.users]]`.
    #[serde(default)]
    pub users: Vec<UserConfig>,
}

/// A Teams user enabled for Enterprise Voice.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// `name`: a short name, e.g. `alice`.
    pub name: String,
    /// `number`: the E.164 number assigned to the user (`+` and digits).
    pub number: String,
    /// `object_id`: the Entra object id (a GUID); `x-m` is
    /// `8:orgid:<object_id>`.
    pub object_id: String,
    /// `sip_address` (default `<name>@<first domain>`): the user's SIP
    /// address, sent in P-Asserted-Identity.
    #[serde(default)]
    pub sip_address: Option<String>,
    /// `behaviour` (default `answer`): `answer`, `busy` (486), `no_answer`
    /// (408 after the ring time) or `decline` (603).
    #[serde(default)]
    pub behaviour: Behaviour,
    /// `ring_ms` (default 1000): how long the user's endpoints ring before
    /// the final response.
    #[serde(default = "default_ring_ms")]
    pub ring_ms: u64,
    /// `endpoints` (default 1): how many clients the call forks to; each
    /// sends its own 180 with its own To tag.
    #[serde(default = "default_endpoints")]
    pub endpoints: u8,
    /// `early_media` (default false): send a 183 with the SDP answer after
    /// the 180s.
    #[serde(default)]
    pub early_media: bool,
    /// `presence` (default `Available`): the user's Teams presence at
    /// start for the Graph emulator, an availability (`Available`,
    /// `Away`, `Offline`...) or `availability/activity`
    /// (`Busy/InAMeeting`).
    #[serde(default)]
    pub presence: Option<String>,
}

/// What a user does with an incoming call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// Answers (200) after the ring time.
    #[default]
    Answer,
    /// 486 Busy Here after the ring time.
    Busy,
    /// 408 Request Timeout after the ring time.
    NoAnswer,
    /// 603 Decline after the ring time.
    Decline,
}

impl EmulatorConfig {
    /// Reads the `[emulator]` table of a whole switchboard configuration
    /// file and checks it; the other tables are ignored.
    pub fn from_toml(text: &str) -> Result<EmulatorConfig, ConfigError> {
        let mut root: toml::Table =
            toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        let table = root.remove("emulator").ok_or(ConfigError::MissingTable)?;
        EmulatorConfig::from_value(table)
    }

    /// Reads an already extracted `[emulator]` table (e.g. the one the SBC
    /// configuration keeps untouched) and checks it.
    pub fn from_value(table: toml::Value) -> Result<EmulatorConfig, ConfigError> {
        let config: EmulatorConfig = table
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Toml(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: names, numbers, uniqueness, addresses.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.proxies.is_empty() {
            return Err(invalid("proxies", "at least one proxy is needed"));
        }
        if !(1..=3600).contains(&self.health_window_secs) {
            return Err(invalid("health_window_secs", "expected 1 to 3600"));
        }
        let mut seen = HashSet::new();
        for (i, proxy) in self.proxies.iter().enumerate() {
            let key = format!("proxies[{i}].fqdn");
            check_fqdn(&key, &proxy.fqdn)?;
            if !seen.insert(proxy.fqdn.to_ascii_lowercase()) {
                return Err(invalid(&key, "two proxies have this FQDN"));
            }
        }
        for (name, addrs) in &self.sbc.hosts {
            let key = format!("sbc.hosts.{name}");
            check_fqdn(&key, name.strip_prefix("*.").unwrap_or(name))?;
            if parse_host_addrs(addrs, self.sbc.port).is_none() {
                return Err(invalid(&key, "expected `ip`, `ip:port` or a list of them"));
            }
        }
        let mut domains = HashSet::new();
        for (t, tenant) in self.tenants.iter().enumerate() {
            let prefix = format!("tenants[{t}]");
            if tenant.id.is_empty() {
                return Err(invalid(&format!("{prefix}.id"), "empty tenant id"));
            }
            if tenant.domains.is_empty() {
                return Err(invalid(&format!("{prefix}.domains"), "at least one domain"));
            }
            for domain in &tenant.domains {
                let key = format!("{prefix}.domains");
                check_fqdn(&key, domain)?;
                if !domains.insert(domain.to_ascii_lowercase()) {
                    return Err(invalid(&key, format!("`{domain}` is in two tenants")));
                }
            }
            if let Some(trunk) = &tenant.trunk_fqdn {
                check_fqdn(&format!("{prefix}.trunk_fqdn"), trunk)?;
            }
            let mut numbers = HashSet::new();
            let mut names = HashSet::new();
            let mut object_ids = HashSet::new();
            for (u, user) in tenant.users.iter().enumerate() {
                let key = format!("{prefix}.users[{u}]");
                if !is_e164(&user.number) {
                    return Err(invalid(&format!("{key}.number"), "expected `+` and digits"));
                }
                if !numbers.insert(user.number.as_str()) {
                    return Err(invalid(&format!("{key}.number"), "number used twice"));
                }
                if user.name.is_empty() || !names.insert(user.name.as_str()) {
                    return Err(invalid(&format!("{key}.name"), "empty or used twice"));
                }
                if user.object_id.is_empty() {
                    return Err(invalid(&format!("{key}.object_id"), "empty object id"));
                }
                if self.graph.is_some() && !object_ids.insert(user.object_id.to_ascii_lowercase()) {
                    return Err(invalid(
                        &format!("{key}.object_id"),
                        "used twice in the tenant",
                    ));
                }
                if user.endpoints == 0 {
                    return Err(invalid(&format!("{key}.endpoints"), "at least one"));
                }
                if let Some(presence) = &user.presence {
                    if crate::graph::Pair::from_setting(presence).is_none() {
                        return Err(invalid(
                            &format!("{key}.presence"),
                            "expected a Graph availability, or availability/activity",
                        ));
                    }
                }
            }
        }
        if let Some(graph) = &self.graph {
            graph.validate()?;
        }
        Ok(())
    }

    /// The addresses the static host map gives for an SBC FQDN: an exact
    /// entry, else a `*.` entry for its parent domain; `port` fills
    /// entries without one.
    pub fn resolve_sbc(&self, fqdn: &str, port: u16) -> Option<Vec<SocketAddr>> {
        let fqdn = fqdn.to_ascii_lowercase();
        let exact = self
            .sbc
            .hosts
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&fqdn));
        let wildcard = || {
            let parent = fqdn.split_once('.')?.1;
            self.sbc.hosts.iter().find(|(name, _)| {
                name.strip_prefix("*.")
                    .is_some_and(|suffix| suffix.eq_ignore_ascii_case(parent))
            })
        };
        let (_, addrs) = exact.or_else(wildcard)?;
        parse_host_addrs(addrs, port)
    }
}

impl UserConfig {
    /// How long the user's endpoints ring.
    pub fn ring_time(&self) -> Duration {
        Duration::from_millis(self.ring_ms)
    }
}

fn parse_host_addrs(addrs: &HostAddrs, port: u16) -> Option<Vec<SocketAddr>> {
    let entries = addrs.entries();
    if entries.is_empty() {
        return None;
    }
    entries
        .into_iter()
        .map(|entry| {
            entry.parse::<SocketAddr>().ok().or_else(|| {
                entry
                    .parse::<IpAddr>()
                    .ok()
                    .map(|ip| SocketAddr::new(ip, port))
            })
        })
        .collect()
}

/// `+` followed by 1 to 15 digits (ITU-T E.164).
pub(crate) fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// A DNS name of at least two labels of letters, digits and hyphens.
fn check_fqdn(key: &str, name: &str) -> Result<(), ConfigError> {
    let labels: Vec<&str> = name.split('.').collect();
    let good = labels.len() >= 2
        && name.parse::<IpAddr>().is_err()
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if good {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("`{name}` is not a fully qualified domain name"),
        ))
    }
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: format!("emulator.{key}"),
        reason: reason.into(),
    }
}

fn default_health_window_secs() -> u64 {
    crate::HEALTH_WINDOW.as_secs()
}

fn default_cert_dir() -> PathBuf {
    PathBuf::from("certs")
}

fn default_media_ip() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

fn default_proxies() -> Vec<ProxyConfig> {
    DEFAULT_PROXY_FQDNS
        .iter()
        .zip(15061u16..)
        .map(|(fqdn, port)| ProxyConfig {
            fqdn: (*fqdn).to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            mode: ProxyMode::Up,
            retry_after_secs: default_retry_after(),
        })
        .collect()
}

fn default_retry_after() -> u32 {
    30
}

fn default_sbc_port() -> u16 {
    5061
}

fn default_ring_ms() -> u64 {
    1000
}

fn default_endpoints() -> u8 {
    1
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[sbc]
something = "owned by the sbc crate"

[emulator]
cert_dir = "target/certs"
seed = 7

[[emulator.proxies]]
fqdn = "sip.pstnhub.microsoft.com"
listen = "127.0.0.1:25061"

[[emulator.proxies]]
fqdn = "sip2.pstnhub.microsoft.com"
listen = "127.0.0.1:25062"
mode = "down"
retry_after_secs = 10

[emulator.sbc]
port = 5071
hosts = { "sbc1.customers.example.net" = "127.0.0.1:5061", "*.customers.example.net" = ["127.0.0.2"] }

[[emulator.tenants]]
id = "provider"
domains = ["customers.example.net"]

[[emulator.tenants]]
id = "8f0c1a36"
name = "contoso"
domains = ["contoso.customers.example.net"]

[[emulator.tenants.users]]
name = "alice"
number = "+14255550100"
object_id = "oid-alice"
behaviour = "no_answer"
ring_ms = 250
endpoints = 3
"#;

    #[test]
    fn reads_the_emulator_table_only() {
        let config = EmulatorConfig::from_toml(SAMPLE).unwrap();
        assert_eq!(config.cert_dir, PathBuf::from("target/certs"));
        assert_eq!(config.seed, Some(7));
        assert_eq!(config.proxies.len(), 2);
        assert_eq!(config.proxies[1].mode, ProxyMode::Unavailable);
        assert_eq!(config.proxies[1].retry_after_secs, 10);
        let alice = &config.tenants[1].users[0];
        assert_eq!(alice.behaviour, Behaviour::NoAnswer);
        assert_eq!(alice.ring_time(), Duration::from_millis(250));
        assert_eq!(alice.endpoints, 3);
        assert!(!alice.early_media);
    }

    #[test]
    fn the_example_configuration_fits() {
        let config =
            EmulatorConfig::from_toml(include_str!("../../../examples/teams.toml")).unwrap();
        assert_eq!(config.proxies.len(), 3);
        assert_eq!(config.cert_dir, PathBuf::from("testdata/tls"));
        assert!(config
            .resolve_sbc("contoso.customers.example.net", 5061)
            .is_some());
        assert!(config
            .resolve_sbc("sbc1.customers.example.net", 5061)
            .is_some());
        let users: Vec<&str> = config
            .tenants
            .iter()
            .flat_map(|t| t.users.iter().map(|u| u.number.as_str()))
            .collect();
        // The DIDs of [tenants.*.dids] ring these Teams users.
        assert_eq!(users, ["+14255550123", "+14255550124", "+14255550200"]);
    }

    #[test]
    fn defaults_to_the_three_commercial_proxies() {
        let config = EmulatorConfig::from_toml("[emulator]\n").unwrap();
        let fqdns: Vec<&str> = config.proxies.iter().map(|p| p.fqdn.as_str()).collect();
        assert_eq!(fqdns, DEFAULT_PROXY_FQDNS);
        assert_eq!(config.sbc.port, 5061);
    }

    #[test]
    fn the_graph_table_and_user_presence() {
        let text = format!(
            "{SAMPLE}presence = \"Busy/InAMeeting\"\n\n[emulator.graph]\nclient_id = \"app\"\nclient_secret = \"s\"\n"
        );
        let config = EmulatorConfig::from_toml(&text).unwrap();
        let graph = config.graph.unwrap();
        assert_eq!(graph.listen, "127.0.0.1:18080".parse().unwrap());
        assert_eq!(graph.token_lifetime_secs, 3599);
        assert_eq!(graph.presence_requests_per_30s, 1500);
        assert_eq!(
            config.tenants[1].users[0].presence.as_deref(),
            Some("Busy/InAMeeting")
        );
        let bad = text.replace("Busy/InAMeeting", "Sleeping");
        let err = EmulatorConfig::from_toml(&bad).unwrap_err();
        assert!(err.to_string().contains("users[0].presence"), "{err}");
        let no_secret = text.replace("client_secret = \"s\"", "client_secret = \"\"");
        assert!(EmulatorConfig::from_toml(&no_secret).is_err());
        assert!(EmulatorConfig::from_toml(SAMPLE).unwrap().graph.is_none());
    }

    #[test]
    fn host_map_exact_then_wildcard() {
        let config = EmulatorConfig::from_toml(SAMPLE).unwrap();
        assert_eq!(
            config
                .resolve_sbc("SBC1.customers.example.net", 5061)
                .unwrap(),
            vec!["127.0.0.1:5061".parse().unwrap()]
        );
        assert_eq!(
            config
                .resolve_sbc("contoso.customers.example.net", 5071)
                .unwrap(),
            vec!["127.0.0.2:5071".parse().unwrap()]
        );
        assert!(config
            .resolve_sbc("a.b.customers.example.net", 5061)
            .is_none());
        assert!(config.resolve_sbc("example.org", 5061).is_none());
    }

    #[test]
    fn refusals_name_the_key() {
        let missing = EmulatorConfig::from_toml("[sbc]\n").unwrap_err();
        assert!(matches!(missing, ConfigError::MissingTable));

        let bad_number = SAMPLE.replace("+14255550100", "14255550100");
        let err = EmulatorConfig::from_toml(&bad_number).unwrap_err();
        assert!(
            err.to_string()
                .contains("emulator.tenants[1].users[0].number"),
            "{err}"
        );

        let twice = SAMPLE.replace("contoso.customers.example.net", "customers.example.net");
        let err = EmulatorConfig::from_toml(&twice).unwrap_err();
        assert!(err.to_string().contains("two tenants"), "{err}");

        let unknown = SAMPLE.replace("seed = 7", "sed = 7");
        assert!(matches!(
            EmulatorConfig::from_toml(&unknown).unwrap_err(),
            ConfigError::Toml(_)
        ));

        let ip_proxy = SAMPLE.replace(
            "fqdn = \"sip.pstnhub.microsoft.com\"",
            "fqdn = \"10.0.0.1\"",
        );
        assert!(EmulatorConfig::from_toml(&ip_proxy).is_err());
    }
}
