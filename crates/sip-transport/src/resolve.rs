//! Locating SIP servers (RFC 3263 §4): from a SIP or SIPS URI to an
//! ordered list of (transport, address) targets to try in turn.
//!
//! - Transport (§4.1): the `transport` parameter; a `sips` URI means TLS;
//!   a numeric host or an explicit port means UDP (TLS for `sips`);
//!   otherwise NAPTR records (`SIP+D2U`, `SIP+D2T`, `SIPS+D2T`), else SRV
//!   records of every transport, else UDP (TLS for `sips`).
//! - Address and port (§4.2): a numeric host as is; a host with a port by
//!   A/AAAA; otherwise SRV (`_sip._udp`, `_sip._tcp`, `_sips._tcp`) in
//!   priority order, within a priority by RFC 2782's weighted random
//!   choice (a record with twice the weight comes first twice as often;
//!   weight 0 rarely first), else A/AAAA on the default port. `maddr`
//!   replaces the host.
//! - A static host map is consulted before DNS for every name (the URI
//!   host and SRV targets): operators pin peers with it and tests map the
//!   Teams proxies to loopback without touching the network.
//!
//! For TLS every target carries the URI's host as the server name the
//! certificate must cover (RFC 5922 §4.1), never an SRV target.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, NameServerConfigGroup, ResolverConfig, ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::TokioResolver;
use sip::{Host, Scheme, Uri};

use crate::error::ResolveError;
use crate::flow::{ResolvedTarget, TransportKind};

/// Where DNS questions go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Dns {
    /// The system's resolver configuration (`/etc/resolv.conf`).
    #[default]
    System,
    /// These name servers (UDP, then TCP).
    Servers(Vec<SocketAddr>),
    /// No DNS: only numeric hosts and the static host map resolve.
    Disabled,
}

/// Configuration of a [`SipResolver`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SipResolverConfig {
    /// Host names answered without DNS (case-insensitive, trailing dot
    /// ignored), in order. An address with port 0 takes the URI's port or
    /// the transport's default; any other port is used as is.
    pub static_hosts: HashMap<String, Vec<SocketAddr>>,
    /// The DNS.
    pub dns: Dns,
    /// Timeout of one DNS question.
    pub dns_timeout: Option<Duration>,
}

/// RFC 3263 resolution of SIP URIs.
#[derive(Debug, Clone)]
pub struct SipResolver {
    static_hosts: HashMap<String, Vec<SocketAddr>>,
    dns: Option<TokioResolver>,
}

/// Transports tried, most preferred first, when nothing names one: TLS,
/// then TCP, then UDP (switchboard prefers secure, reliable transports).
const SRV_ORDER: [TransportKind; 3] = [TransportKind::Tls, TransportKind::Tcp, TransportKind::Udp];

fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// The SRV owner name prefix of a transport (RFC 3263 §4.2).
fn srv_prefix(kind: TransportKind) -> &'static str {
    match kind {
        TransportKind::Udp => "_sip._udp",
        TransportKind::Tcp => "_sip._tcp",
        TransportKind::Tls => "_sips._tcp",
    }
}

/// The transport of a NAPTR service field (RFC 3263 §4.1).
fn naptr_transport(service: &[u8]) -> Option<TransportKind> {
    if service.eq_ignore_ascii_case(b"SIP+D2U") {
        Some(TransportKind::Udp)
    } else if service.eq_ignore_ascii_case(b"SIP+D2T") {
        Some(TransportKind::Tcp)
    } else if service.eq_ignore_ascii_case(b"SIPS+D2T") {
        Some(TransportKind::Tls)
    } else {
        None
    }
}

/// Whether a DNS error means "no such records" (then the next step of
/// RFC 3263 applies) rather than a failure.
fn is_empty_answer(e: &hickory_resolver::ResolveError) -> bool {
    e.is_no_records_found() || e.is_nx_domain()
}

impl SipResolver {
    /// A resolver; with [`Dns::System`] reads the system configuration.
    pub fn new(config: SipResolverConfig) -> Result<SipResolver, ResolveError> {
        let mut options = ResolverOpts::default();
        options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        if let Some(timeout) = config.dns_timeout {
            options.timeout = timeout;
        }
        let provider = TokioConnectionProvider::default();
        let dns = match config.dns {
            Dns::Disabled => None,
            Dns::System => {
                let mut builder = TokioResolver::builder_tokio()?;
                builder.options_mut().ip_strategy = options.ip_strategy;
                builder.options_mut().timeout = options.timeout;
                Some(builder.build())
            }
            Dns::Servers(servers) => {
                let mut group = Vec::with_capacity(servers.len() * 2);
                for addr in servers {
                    group.push(NameServerConfig::new(addr, Protocol::Udp));
                    group.push(NameServerConfig::new(addr, Protocol::Tcp));
                }
                let dns_config =
                    ResolverConfig::from_parts(None, vec![], NameServerConfigGroup::from(group));
                Some(
                    TokioResolver::builder_with_config(dns_config, provider)
                        .with_options(options)
                        .build(),
                )
            }
        };
        let static_hosts = config
            .static_hosts
            .into_iter()
            .map(|(name, addrs)| (normalize(&name), addrs))
            .collect();
        Ok(SipResolver { static_hosts, dns })
    }

    /// The targets for `uri`, in the order to try them (RFC 3263 §4).
    pub async fn resolve(&self, uri: &Uri) -> Result<Vec<ResolvedTarget>, ResolveError> {
        let secure = match uri.scheme() {
            Scheme::Sip => false,
            Scheme::Sips => true,
            _ => return Err(ResolveError::UnsupportedScheme),
        };
        let named = match uri.transport() {
            Some(token) => Some(
                TransportKind::from_token(token)
                    .ok_or_else(|| ResolveError::UnsupportedTransport(token.to_owned()))?,
            ),
            None => None,
        };
        // A sips URI over TCP means TLS (RFC 3261 §26.2.2).
        let named = match (secure, named) {
            (true, Some(TransportKind::Udp)) => {
                return Err(ResolveError::InsecureTransport(TransportKind::Udp))
            }
            (true, _) => Some(TransportKind::Tls),
            (false, named) => named,
        };
        let fallback = if secure {
            TransportKind::Tls
        } else {
            TransportKind::Udp
        };
        let maddr = uri.param("maddr").flatten();
        let host_text;
        let host = match maddr {
            Some(maddr) => {
                host_text = maddr.to_owned();
                match maddr.parse::<std::net::IpAddr>() {
                    Ok(ip) => HostKind::Ip(ip),
                    Err(_) => HostKind::Name(&host_text),
                }
            }
            None => match uri.host() {
                Host::Name(name) => HostKind::Name(name),
                host => match host.ip() {
                    Some(ip) => HostKind::Ip(ip),
                    None => return Err(ResolveError::NotFound(host.to_string())),
                },
            },
        };
        let port = uri.port();
        let name = match host {
            HostKind::Ip(ip) => {
                let kind = named.unwrap_or(fallback);
                let addr = SocketAddr::new(ip, port.unwrap_or(kind.default_port()));
                return Ok(vec![ResolvedTarget::new(kind, addr)]);
            }
            HostKind::Name(name) => name,
        };
        // The certificate must cover the URI's domain (RFC 5922 §4.1).
        let server_name = match uri.host() {
            Host::Name(domain) => Some(domain.to_owned()),
            _ => None,
        };
        let target = |kind: TransportKind, addr: SocketAddr| ResolvedTarget {
            transport: kind,
            addr,
            server_name: (kind == TransportKind::Tls)
                .then(|| server_name.clone())
                .flatten(),
        };
        if let Some(addrs) = self.static_hosts.get(&normalize(name)) {
            let kind = named.unwrap_or(fallback);
            let default = port.unwrap_or(kind.default_port());
            return Ok(addrs
                .iter()
                .map(|a| target(kind, with_port(*a, default)))
                .collect());
        }
        if let Some(port) = port {
            let kind = named.unwrap_or(fallback);
            let addrs = self.addresses(name, port).await?;
            return Ok(addrs.into_iter().map(|a| target(kind, a)).collect());
        }
        let mut found = Vec::new();
        match named {
            Some(kind) => {
                let srv_name = format!("{}.{}", srv_prefix(kind), name);
                for addr in self.srv(&srv_name).await? {
                    found.push(target(kind, addr));
                }
            }
            None => {
                for (kind, srv_name) in self.naptr(name, secure).await? {
                    for addr in self.srv(&srv_name).await? {
                        found.push(target(kind, addr));
                    }
                }
                if found.is_empty() {
                    for kind in SRV_ORDER {
                        if secure && kind != TransportKind::Tls {
                            continue;
                        }
                        let srv_name = format!("{}.{}", srv_prefix(kind), name);
                        for addr in self.srv(&srv_name).await? {
                            found.push(target(kind, addr));
                        }
                    }
                }
            }
        }
        if found.is_empty() {
            let kind = named.unwrap_or(fallback);
            for addr in self.addresses(name, kind.default_port()).await? {
                found.push(target(kind, addr));
            }
        }
        if found.is_empty() {
            return Err(ResolveError::NotFound(name.to_owned()));
        }
        Ok(found)
    }

    fn dns(&self, name: &str) -> Result<&TokioResolver, ResolveError> {
        self.dns
            .as_ref()
            .ok_or_else(|| ResolveError::NoDns(name.to_owned()))
    }

    /// The addresses of a host name: the static map, else A and AAAA.
    async fn addresses(&self, name: &str, port: u16) -> Result<Vec<SocketAddr>, ResolveError> {
        if let Some(addrs) = self.static_hosts.get(&normalize(name)) {
            return Ok(addrs.iter().map(|a| with_port(*a, port)).collect());
        }
        let dns = self.dns(name)?;
        match dns.lookup_ip(fqdn(name)).await {
            Ok(ips) => Ok(ips.iter().map(|ip| SocketAddr::new(ip, port)).collect()),
            Err(e) if is_empty_answer(&e) => Err(ResolveError::NotFound(name.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    /// NAPTR records of `name` for transports we have, by order then
    /// preference: (transport, SRV name). Only `s` flag records count
    /// (RFC 3263 §4.1).
    async fn naptr(
        &self,
        name: &str,
        secure: bool,
    ) -> Result<Vec<(TransportKind, String)>, ResolveError> {
        let dns = self.dns(name)?;
        let lookup = match dns.lookup(fqdn(name), RecordType::NAPTR).await {
            Ok(lookup) => lookup,
            Err(e) if is_empty_answer(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut records: Vec<_> = lookup
            .iter()
            .filter_map(|rdata| match rdata {
                RData::NAPTR(naptr) => Some(naptr),
                _ => None,
            })
            .filter(|naptr| naptr.flags().eq_ignore_ascii_case(b"s"))
            .filter_map(|naptr| {
                let kind = naptr_transport(naptr.services())?;
                if secure && kind != TransportKind::Tls {
                    return None;
                }
                let replacement = naptr.replacement().to_ascii();
                Some(((naptr.order(), naptr.preference()), kind, replacement))
            })
            .collect();
        records.sort_by_key(|(rank, _, _)| *rank);
        Ok(records
            .into_iter()
            .map(|(_, kind, name)| (kind, name))
            .collect())
    }

    /// The addresses behind an SRV name, in RFC 2782 order.
    async fn srv(&self, srv_name: &str) -> Result<Vec<SocketAddr>, ResolveError> {
        let dns = self.dns(srv_name)?;
        let lookup = match dns.srv_lookup(fqdn(srv_name)).await {
            Ok(lookup) => lookup,
            Err(e) if is_empty_answer(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let records: Vec<_> = lookup
            .iter()
            .map(|srv| {
                (
                    srv.priority(),
                    srv.weight(),
                    (srv.target().to_ascii(), srv.port()),
                )
            })
            .collect();
        let mut addrs = Vec::new();
        for (target, port) in rfc2782_order(records, &mut random_below) {
            // "." means the service is not offered (RFC 2782).
            if target == "." {
                continue;
            }
            match self.addresses(&target, port).await {
                Ok(found) => addrs.extend(found),
                Err(ResolveError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(addrs)
    }
}

/// RFC 2782's order of SRV records `(priority, weight, record)`: lowest
/// priority first; within one priority, repeatedly pick at random with
/// probability proportional to weight (zero weights first in the list, so
/// they are picked only when drawn at 0 or when alone). `random(n)` gives
/// a uniform number in `0..=n`.
pub(crate) fn rfc2782_order<T>(
    mut records: Vec<(u16, u16, T)>,
    random: &mut dyn FnMut(u32) -> u32,
) -> Vec<T> {
    // Stable: equal keys keep the DNS order; zero weights lead each group.
    records.sort_by_key(|(priority, weight, _)| (*priority, *weight != 0));
    let mut ordered = Vec::with_capacity(records.len());
    let mut rest = records.into_iter().peekable();
    while let Some(priority) = rest.peek().map(|r| r.0) {
        let mut group = Vec::new();
        while let Some(record) = rest.next_if(|r| r.0 == priority) {
            group.push(record);
        }
        while !group.is_empty() {
            let total: u32 = group.iter().map(|(_, w, _)| u32::from(*w)).sum();
            let draw = random(total);
            let mut running = 0;
            let index = group
                .iter()
                .position(|(_, w, _)| {
                    running += u32::from(*w);
                    running >= draw
                })
                .unwrap_or(0);
            ordered.push(group.remove(index).2);
        }
    }
    ordered
}

/// A uniform number in `0..=n` from the system's random source (a fixed
/// draw if it fails: the order then only loses its spread).
fn random_below(n: u32) -> u32 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0;
    }
    (u64::from_le_bytes(bytes) % (u64::from(n) + 1)) as u32
}

enum HostKind<'a> {
    Ip(std::net::IpAddr),
    Name(&'a str),
}

fn with_port(addr: SocketAddr, default: u16) -> SocketAddr {
    match addr.port() {
        0 => SocketAddr::new(addr.ip(), default),
        _ => addr,
    }
}

/// The name as a fully qualified one, so no search domain is appended.
fn fqdn(name: &str) -> String {
    match name.ends_with('.') {
        true => name.to_owned(),
        false => format!("{name}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic uniform source for `rfc2782_order`.
    fn xorshift(seed: u64) -> impl FnMut(u32) -> u32 {
        let mut state = seed;
        move |n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % (u64::from(n) + 1)) as u32
        }
    }

    #[test]
    fn lower_priority_always_first_whatever_the_weights() {
        let mut random = xorshift(7);
        for _ in 0..100 {
            let order = rfc2782_order(
                vec![
                    (20, 100, "backup"),
                    (10, 1, "a"),
                    (10, 0, "zero"),
                    (30, 5, "last"),
                ],
                &mut random,
            );
            assert_eq!(order.len(), 4);
            assert_eq!(order[3], "last");
            assert_eq!(order[2], "backup");
            assert!(order[..2].contains(&"a") && order[..2].contains(&"zero"));
        }
    }

    #[test]
    fn first_choice_follows_the_weights() {
        let mut random = xorshift(42);
        let draws = 20_000;
        let mut firsts = HashMap::new();
        for _ in 0..draws {
            let order = rfc2782_order(
                vec![(10, 60, "a"), (10, 20, "b"), (10, 0, "z")],
                &mut random,
            );
            *firsts.entry(order[0]).or_insert(0u32) += 1;
        }
        let share = |name| f64::from(firsts.get(name).copied().unwrap_or(0)) / f64::from(draws);
        // Expected 60/80, 20/80 and (only when drawn at 0) about 1/81.
        assert!((share("a") - 0.75).abs() < 0.02, "{firsts:?}");
        assert!((share("b") - 0.25).abs() < 0.02, "{firsts:?}");
        assert!(share("z") < 0.03, "{firsts:?}");
    }
}
