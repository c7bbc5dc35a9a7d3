//! The SBC's configuration: a TOML file read by [`Config::from_toml_str`]
//! into a checked model. Unknown keys are refused, cross-references are
//! resolved (tenant and route trunks, DIDs unique across tenants, tenant
//! FQDNs one label under the Teams base FQDN, no address block in two
//! trunks), and every refusal names the file, the key path and the line.
//!
//! The file's sections: `[sbc]` (listeners, TLS files, global limits),
//! `[security]` (flood, scanners, digest), `[media]` (the relay's
//! address, port range and timeouts), `[trunks.NAME]` (carrier SIP
//! trunks), `[teams]` (the Direct Routing hosting trunk), `[tenants.NAME]`
//! (customer tenants), `[[routes]]` (static routes for calls that match no
//! DID), `[hosts]` (a static name -> address map consulted before DNS),
//! `[emulator]` and `[contact_center]` (kept as raw TOML for the emulator
//! crate and the binary's contact center).
//! `examples/loopback.toml` and `examples/teams.toml` show every key.

mod load;
mod reader;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use sip::Uri;

use crate::error::ConfigError;
use crate::header_policy::HeaderPolicy;
use crate::number::{NumberPlan, E164};
use crate::security::digest::DigestAlgorithm;

/// The name of a carrier trunk: its key under `[trunks]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrunkName(String);

/// The name of a customer tenant: its key under `[tenants]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantName(String);

macro_rules! name_impls {
    ($t:ident) => {
        impl $t {
            /// A name as written in the configuration.
            pub fn new(name: impl Into<String>) -> $t {
                $t(name.into())
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
name_impls!(TrunkName);
name_impls!(TenantName);

/// A SIP transport (RFC 3261 §18; TLS per RFC 5630 without `sips:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl Transport {
    /// `udp`, `tcp` or `tls`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[sbc]`.
    pub sbc: SbcSettings,
    /// `[security]`.
    pub security: SecuritySettings,
    /// `[media]`.
    pub media: MediaSettings,
    /// `[metrics] listen = "ip:port"`: where `serve` answers Prometheus
    /// scrapes (`GET /metrics`); off when absent.
    pub metrics: Option<SocketAddr>,
    /// `[trunks.NAME]`.
    pub trunks: BTreeMap<TrunkName, CarrierTrunk>,
    /// `[teams]`, required when there are tenants.
    pub teams: Option<TeamsTrunk>,
    /// `[tenants.NAME]`.
    pub tenants: BTreeMap<TenantName, Tenant>,
    /// `[[routes]]`, in file order.
    pub routes: Vec<Route>,
    /// `[hosts]`.
    pub hosts: HostMap,
    /// `[emulator]`, untouched; the emulator crate reads it.
    pub emulator: Option<toml::Value>,
    /// `[contact_center]`, untouched; the binary's contact center reads
    /// it (queues, agents, flows).
    pub contact_center: Option<toml::Value>,
    /// `[api]`, untouched; the binary's HTTP API reads it.
    pub api: Option<toml::Value>,
    /// `[graph]`, untouched; the binary's Microsoft Graph presence client
    /// reads it.
    pub graph: Option<toml::Value>,
}

impl Config {
    /// Reads and checks a configuration; `file_name` is only used in
    /// error messages.
    pub fn from_toml_str(text: &str, file_name: &str) -> Result<Config, ConfigError> {
        load::load(text, file_name)
    }
}

/// `[sbc]`: the node itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbcSettings {
    /// `[sbc.listen]`: `udp`, `tcp`, `tls` arrays of `ip:port`.
    pub listen: Vec<Listener>,
    /// `advertised_host`: the host written in Via/Contact towards carriers
    /// when it differs from the listening address (e.g. behind NAT).
    pub advertised_host: Option<String>,
    /// `[sbc.tls]`: certificate, key and CA bundle files.
    pub tls: Option<TlsFiles>,
    /// `max_concurrent_calls`, `max_calls_per_second` for the whole node.
    pub limits: CallLimits,
    /// `busy_retry_after_secs` (default 5): Retry-After sent with a 503
    /// when a concurrency limit is reached.
    pub busy_retry_after: Duration,
    /// `max_transactions` (default [`DEFAULT_MAX_TRANSACTIONS`]): the most
    /// server transactions, and separately client transactions, kept at
    /// once; beyond, new requests get 503. Finished transactions stay up to
    /// 32 s (RFC 6026 Timers L and M, Timer J): a call over UDP holds about
    /// two of each kind that long, so 2,000 calls/s need about 130,000.
    pub max_transactions: usize,
}

/// Default of `[sbc] max_transactions`: room for about 7,000 calls/s over
/// UDP (a finished transaction keeps no message but its last response).
pub const DEFAULT_MAX_TRANSACTIONS: usize = 500_000;

/// One listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    /// Its transport.
    pub transport: Transport,
    /// Its address.
    pub addr: SocketAddr,
}

/// `[sbc.tls]` files (PEM). Relative paths are kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `cert`: the certificate chain naming the SBC FQDNs.
    pub cert: PathBuf,
    /// `key`: its private key.
    pub key: PathBuf,
    /// `ca_bundle`: roots to verify peers (Microsoft's, or the emulator's
    /// CA in tests); the system roots when absent.
    pub ca_bundle: Option<PathBuf>,
}

/// `[media]`: the RTP/SRTP relay every call's media is anchored on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaSettings {
    /// `bind`: the address the media sockets bind to (default: the
    /// advertised address).
    pub bind: Option<IpAddr>,
    /// `advertised_ip`: the address written in SDP (default:
    /// `sbc.advertised_host` when it is an IP, else the first listener's).
    pub advertised_ip: Option<IpAddr>,
    /// `first_port` (default 10000) and `last_port` (default 32767): the
    /// range RTP/RTCP port pairs are taken from; a call takes two pairs
    /// (about 5,600 calls by default). The default stays below Linux's
    /// ephemeral ports (32768-60999) and Teams' media ports (49152-53247,
    /// which the emulator uses on the same host).
    pub ports: (u16, u16),
    /// `timeout_secs` (default 30): a leg that sends nothing this long
    /// ends its call with BYE and a Reason header.
    pub timeout: Duration,
    /// `hold_timeout_secs` (default 7200, 0: none): the same while the
    /// leg is on hold.
    pub hold_timeout: Option<Duration>,
    /// `threads` (default 0: one per core): relay threads.
    pub threads: usize,
    /// `dscp` (default 46, Expedited Forwarding; 0-63): the DSCP mark of
    /// the RTP and RTCP switchboard sends, for networks that give audio
    /// priority (Microsoft's Teams QoS guidance marks audio 46).
    pub dscp: u8,
    /// `io` (default `auto`): how the relay threads receive and send.
    pub io: MediaIoMode,
}

/// `[media] io`: the relay's socket I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaIoMode {
    /// `epoll`: readiness, then `recvmmsg` and `send` per packet; works
    /// everywhere.
    Epoll,
    /// `io_uring` (Linux 6.1 and later): no system call per packet,
    /// 15-25 % less relay CPU at 1,200 calls a core (README,
    /// Performance); the relay does not start where the kernel or a
    /// seccomp policy (container runtimes often block io_uring) refuses
    /// it.
    Uring,
    /// `auto`: io_uring where it is allowed, epoll elsewhere.
    #[default]
    Auto,
}

impl Default for MediaSettings {
    fn default() -> Self {
        MediaSettings {
            bind: None,
            advertised_ip: None,
            ports: (10_000, 32_767),
            timeout: Duration::from_secs(30),
            hold_timeout: Some(Duration::from_secs(7200)),
            threads: 0,
            dscp: 46,
            io: MediaIoMode::Auto,
        }
    }
}

/// Call admission limits; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallLimits {
    /// `max_concurrent_calls`.
    pub max_concurrent_calls: Option<u32>,
    /// `max_calls_per_second` (a token bucket with this rate and burst).
    pub max_calls_per_second: Option<u32>,
}

/// `[security]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuritySettings {
    /// `[security.flood]`.
    pub flood: FloodSettings,
    /// `scanner_user_agents`: User-Agent substrings refused (case
    /// insensitive); replaces the built-in list when given.
    pub scanner_user_agents: Vec<String>,
    /// `[security.auth]`.
    pub auth: AuthSettings,
}

/// `[security.flood]`: per-source request rate limit for sources that are
/// neither a carrier trunk nor Teams (Kamailio `pike` semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodSettings {
    /// `window_secs` (default 2): the sampling window.
    pub window: Duration,
    /// `max_requests` (default 30): more than this many requests in one
    /// window blocks the source.
    pub max_requests: u32,
    /// `block_secs` (default 60): how long a blocked source stays blocked.
    pub block_for: Duration,
    /// `max_tracked_sources` (default 10000): the oldest tracked source is
    /// forgotten beyond this.
    pub max_tracked_sources: usize,
}

/// `[security.auth]`: digest authentication of carrier trunks.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// `realm` (default: `sbc.advertised_host`, else `switchboard`).
    pub realm: String,
    /// `nonce_lifetime_secs` (default 300): older nonces get `stale=true`.
    pub nonce_lifetime: Duration,
    /// `nonce_secret`: key for stateless nonces; nodes sharing it accept
    /// each other's nonces. The binary picks a random one when absent.
    pub nonce_secret: Option<String>,
    /// `max_tracked_nonces` (default 10000): bound on the nonce-count
    /// replay table.
    pub max_tracked_nonces: usize,
}

impl fmt::Debug for AuthSettings {
    /// Leaves the secret out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSettings")
            .field("realm", &self.realm)
            .field("nonce_lifetime", &self.nonce_lifetime)
            .field(
                "nonce_secret",
                &self.nonce_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("max_tracked_nonces", &self.max_tracked_nonces)
            .finish()
    }
}

/// `[trunks.NAME]`: a carrier SIP trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierTrunk {
    /// The table key.
    pub name: TrunkName,
    /// `allow`: source CIDRs whose requests belong to this trunk.
    pub allow: Vec<IpNet>,
    /// `[trunks.NAME.auth]`: credentials the carrier must present.
    pub auth: Option<DigestAccount>,
    /// `transport` (default `udp`) for requests sent to the trunk.
    pub transport: Transport,
    /// `targets`: URIs calls to the carrier go to, tried in order.
    pub targets: Vec<Uri>,
    /// `codecs` (default `PCMU`, `PCMA`, `telephone-event`), in preference
    /// order, as SDP encoding names.
    pub codecs: Vec<String>,
    /// `dtmf` (default `rfc4733`): how the carrier takes and sends key
    /// presses.
    pub dtmf: DtmfMode,
    /// `max_concurrent_calls`, `max_calls_per_second`.
    pub limits: CallLimits,
    /// `[trunks.NAME.headers]`: `pass`, `strip`, `add`.
    pub headers: HeaderPolicy,
    /// `[trunks.NAME.numbers]`: normalisation to and from E.164.
    pub numbers: NumberPlan,
}

/// How a carrier trunk takes key presses, and sends its own: `dtmf` of
/// `[trunks.NAME]`. Teams Direct Routing takes and sends RFC 4733 events
/// only; a press from a leg that speaks another form reaches the other
/// leg converted, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DtmfMode {
    /// `rfc4733` (also `rfc2833`), the default: telephone-events in RTP
    /// (RFC 4733); needs `telephone-event` in `codecs` when written out.
    #[default]
    Rfc4733,
    /// `info`: SIP INFO requests with `application/dtmf-relay` bodies
    /// (`Signal=5`, `Duration=160`).
    Info,
    /// `inband`: DTMF tones in the audio (ITU-T Q.23); needs `PCMU` or
    /// `PCMA` in `codecs`: tones are made and listened for in G.711.
    Inband,
}

impl DtmfMode {
    /// `rfc4733`, `info` or `inband`.
    pub fn as_str(self) -> &'static str {
        match self {
            DtmfMode::Rfc4733 => "rfc4733",
            DtmfMode::Info => "info",
            DtmfMode::Inband => "inband",
        }
    }
}

impl fmt::Display for DtmfMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Digest credentials a carrier authenticates with (RFC 7616, RFC 8760).
#[derive(Clone, PartialEq, Eq)]
pub struct DigestAccount {
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: String,
    /// `algorithms` (default `["SHA-256", "MD5"]`), offered in this order.
    pub algorithms: Vec<DigestAlgorithm>,
}

impl fmt::Debug for DigestAccount {
    /// Leaves the password out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestAccount")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("algorithms", &self.algorithms)
            .finish()
    }
}

/// `[teams]`: the Direct Routing hosting trunk shared by all tenants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamsTrunk {
    /// `base_fqdn`: the provider's verified domain, e.g.
    /// `customers.example.net`; tenants are `<label>.<base_fqdn>`.
    pub base_fqdn: String,
    /// `trunk_fqdn`: the base trunk's FQDN, one label under `base_fqdn`
    /// (e.g. `sbc1.customers.example.net`), used in OPTIONS.
    pub trunk_fqdn: String,
    /// `signalling_port` (default 5061): the TLS port written in Contact
    /// and Record-Route.
    pub signalling_port: u16,
    /// `proxies` (default sip, sip2, sip3 `.pstnhub.microsoft.com:5061`),
    /// in failover order.
    pub proxies: Vec<ProxyAddr>,
    /// `source_subnets` (default 52.112.0.0/14, 52.120.0.0/14).
    pub source_subnets: Vec<IpNet>,
    /// `options_interval_secs` (default 60).
    pub options_interval: Duration,
    /// `x_ms_sbc` (default `Switchboard/SBC/<version>`): the X-MS-SBC
    /// header value.
    pub x_ms_sbc: String,
}

/// A Teams SIP proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyAddr {
    /// Its FQDN, lower case.
    pub fqdn: String,
    /// Its TLS port.
    pub port: u16,
}

/// `[tenants.NAME]`: a customer's Teams tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The table key.
    pub name: TenantName,
    /// `tenant_id`: the Microsoft tenant id (a GUID), as seen in `x-t`.
    pub teams_tenant_id: String,
    /// `label` or `fqdn`: the tenant's FQDN, `<label>.<base_fqdn>`.
    pub fqdn: String,
    /// `[tenants.NAME.dids]`: inbound numbers and where they ring (a Teams
    /// user number, or `{ flow = "NAME" }`).
    pub dids: BTreeMap<E164, Destination>,
    /// `carrier_trunk`: the trunk for this tenant's calls to the PSTN.
    pub carrier_trunk: TrunkName,
    /// `[tenants.NAME.dial_plan]`: what its Teams users may dial.
    pub dial_plan: DialPlan,
    /// `max_concurrent_calls`, `max_calls_per_second`.
    pub limits: CallLimits,
}

/// Where a DID rings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Destination {
    /// A Teams user, by the number assigned to them in Teams
    /// (`"+1206..." = "+1425..."`).
    TeamsUser(E164),
    /// A contact-center IVR flow, by its id in the tenant's flow files
    /// (`"+1206..." = { flow = "contoso-main" }`): switchboard answers the
    /// call itself.
    Flow(String),
}

/// A tenant's dial plan for calls from Teams to the PSTN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DialPlan {
    /// Normalisation of what Teams users dial (`country_code`,
    /// `national_prefix`, `international_prefix`, `national_digits`,
    /// `rules`); Teams usually sends E.164 already.
    pub numbers: NumberPlan,
    /// `allow`: E.164 prefixes that may be called (all when empty).
    pub allow: Vec<String>,
    /// `deny`: E.164 prefixes that may not, even when allowed.
    pub deny: Vec<String>,
}

impl DialPlan {
    /// Whether `number` may be called.
    pub fn permits(&self, number: &E164) -> bool {
        let n = number.as_str();
        !self.deny.iter().any(|p| n.starts_with(p.as_str()))
            && (self.allow.is_empty() || self.allow.iter().any(|p| n.starts_with(p.as_str())))
    }
}

/// `[[routes]]`: a static route for calls from carrier trunks that match
/// no tenant DID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `from`: only calls arriving on this trunk (any trunk when absent).
    pub from: Option<TrunkName>,
    /// `prefix` (default `""`): the called number (E.164 when it can be
    /// normalised, else the Request-URI user as written) starts with this.
    pub prefix: String,
    /// `to_trunk` or `to_uri`.
    pub target: RouteTarget,
}

/// Where a static route sends calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// Out through a carrier trunk's targets.
    Trunk(TrunkName),
    /// To this URI (the called user is put in when it has none).
    Uri(Uri),
}

/// `[hosts]`: names resolved without DNS, e.g. the Teams proxies mapped to
/// an emulator on loopback.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostMap {
    entries: BTreeMap<String, Vec<HostAddr>>,
}

/// An address in the host map; without a port the URI's port applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostAddr {
    /// The address.
    pub ip: IpAddr,
    /// A port that replaces the one asked for.
    pub port: Option<u16>,
}

impl HostMap {
    pub(crate) fn insert(&mut self, name: &str, addrs: Vec<HostAddr>) {
        self.entries.insert(name.to_ascii_lowercase(), addrs);
    }

    /// The addresses `name` maps to (case-insensitive), with `port` where
    /// an entry gives none; `None` when the map does not know `name`.
    pub fn resolve(&self, name: &str, port: u16) -> Option<Vec<SocketAddr>> {
        let addrs = self.entries.get(&name.to_ascii_lowercase())?;
        Some(
            addrs
                .iter()
                .map(|a| SocketAddr::new(a.ip, a.port.unwrap_or(port)))
                .collect(),
        )
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry: the lower-case name and its addresses.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[HostAddr])> {
        self.entries
            .iter()
            .map(|(name, addrs)| (name.as_str(), addrs.as_slice()))
    }
}
