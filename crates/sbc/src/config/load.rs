//! Reading the TOML tree into the [`Config`] model, checking each value
//! where it is read so the error can point at it.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use sip::{Scheme, Uri};
use toml::de::DeTable;

use super::reader::{Node, Source, Table};
use super::{
    AuthSettings, CallLimits, CarrierTrunk, Config, Destination, DialPlan, DigestAccount, DtmfMode,
    FloodSettings, HostAddr, HostMap, Listener, MediaIoMode, MediaSettings, ProxyAddr, Route,
    RouteTarget, SbcSettings, SecuritySettings, TeamsTrunk, Tenant, TenantName, TlsFiles,
    Transport, TrunkName, DEFAULT_MAX_TRANSACTIONS,
};
use crate::error::ConfigError;
use crate::header_policy::{HeaderPattern, HeaderPolicy};
use crate::number::{NumberFormat, NumberPlan, NumberRule, E164};
use crate::security::digest::DigestAlgorithm;
use crate::security::scanner::DEFAULT_SCANNERS;

/// Microsoft's Direct Routing SIP proxies, in failover order.
const TEAMS_PROXIES: [&str; 3] = [
    "sip.pstnhub.microsoft.com",
    "sip2.pstnhub.microsoft.com",
    "sip3.pstnhub.microsoft.com",
];
/// Microsoft's Direct Routing signalling subnets.
const TEAMS_SUBNETS: [&str; 2] = ["52.112.0.0/14", "52.120.0.0/14"];
const DEFAULT_CODECS: [&str; 3] = ["PCMU", "PCMA", "telephone-event"];

/// What earlier tables claimed, so a later one can be refused for
/// claiming it again.
#[derive(Default)]
struct Claims {
    cidrs: Vec<(IpNet, TrunkName, String)>,
    usernames: HashMap<String, String>,
    dids: HashMap<E164, String>,
    fqdns: HashMap<String, String>,
    tenant_ids: HashMap<String, String>,
}

pub(crate) fn load(text: &str, file: &str) -> Result<Config, ConfigError> {
    let src = Source { file, text };
    let doc = DeTable::parse(text).map_err(|e| {
        let (line, column) = src.line_column(e.span().map_or(0, |s| s.start));
        ConfigError::Syntax {
            file: file.to_owned(),
            line,
            column,
            message: e.message().to_owned(),
        }
    })?;
    let empty = DeTable::new();
    let mut root = Table::new(src, String::new(), doc.span(), doc.get_ref());
    let mut claims = Claims::default();

    let sbc = sbc(root.table_or_empty("sbc", &empty)?, &empty)?;
    let security = security(
        root.table_or_empty("security", &empty)?,
        &empty,
        sbc.advertised_host.as_deref(),
    )?;
    let media = media(root.table_or_empty("media", &empty)?)?;
    let metrics = match root.opt("metrics") {
        None => None,
        Some(node) => {
            let mut t = node.table()?;
            let listen = t.map("listen", |n| socket_addr(n))?;
            t.finish()?;
            listen
        }
    };
    let hosts = hosts(root.table_or_empty("hosts", &empty)?)?;

    let mut trunks = BTreeMap::new();
    for (name, node) in root.table_or_empty("trunks", &empty)?.all() {
        check_name(&node, name)?;
        let trunk = trunk(name, &node, &empty, &mut claims)?;
        trunks.insert(trunk.name.clone(), trunk);
    }

    let teams = root.map("teams", |n| teams(n.table()?, &sbc))?;

    let mut tenants = BTreeMap::new();
    for (name, node) in root.table_or_empty("tenants", &empty)?.all() {
        check_name(&node, name)?;
        if trunks.contains_key(&TrunkName::new(name)) {
            return Err(node.err(format!(
                "the name `{name}` is also a trunk; use distinct names"
            )));
        }
        let Some(teams) = &teams else {
            return Err(node.err("tenants need a [teams] section"));
        };
        let tenant = tenant(name, &node, &empty, teams, &trunks, &mut claims)?;
        tenants.insert(tenant.name.clone(), tenant);
    }

    let routes = root
        .map("routes", |n| n.list(|r| route(r, &trunks)))?
        .unwrap_or_default();

    let emulator = raw_table(&mut root, "emulator", text)?;
    let contact_center = raw_table(&mut root, "contact_center", text)?;
    let api = raw_table(&mut root, "api", text)?;
    let graph = raw_table(&mut root, "graph", text)?;
    root.finish()?;

    Ok(Config {
        sbc,
        security,
        media,
        metrics,
        trunks,
        teams,
        tenants,
        routes,
        hosts,
        emulator,
        contact_center,
        api,
        graph,
    })
}

/// A table kept as raw TOML for another crate to read (`[emulator]`,
/// `[contact_center]`).
fn raw_table(
    root: &mut Table<'_, '_>,
    key: &'static str,
    text: &str,
) -> Result<Option<toml::Value>, ConfigError> {
    let Some(node) = root.opt(key) else {
        return Ok(None);
    };
    node.table()?;
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| node.err(e.message().to_owned()))?;
    Ok(table.remove(key))
}

/// Trunk and tenant names end up in metrics labels and logs: keep them
/// plain.
fn check_name(node: &Node<'_, '_>, name: &str) -> Result<(), ConfigError> {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        Ok(())
    } else {
        Err(node.err("names may only hold letters, digits, `-` and `_`"))
    }
}

fn sbc<'a, 'i>(mut t: Table<'a, 'i>, empty: &'a DeTable<'i>) -> Result<SbcSettings, ConfigError> {
    let mut listen = Vec::new();
    let mut l = t.table_or_empty("listen", empty)?;
    let mut tls_listener = None;
    for (key, transport) in [
        ("udp", Transport::Udp),
        ("tcp", Transport::Tcp),
        ("tls", Transport::Tls),
    ] {
        if let Some(node) = l.opt(key) {
            let addrs = node.list(socket_addr)?;
            if transport == Transport::Tls && !addrs.is_empty() {
                tls_listener = Some(node);
            }
            listen.extend(addrs.into_iter().map(|addr| Listener { transport, addr }));
        }
    }
    l.finish()?;
    let advertised_host = t.map("advertised_host", host_name_or_ip)?;
    let tls = t.map("tls", |n| {
        let mut t = n.table()?;
        let files = TlsFiles {
            cert: PathBuf::from(t.req("cert")?.text()?),
            key: PathBuf::from(t.req("key")?.text()?),
            ca_bundle: t.map("ca_bundle", |n| Ok(PathBuf::from(n.text()?)))?,
        };
        t.finish()?;
        Ok(files)
    })?;
    if let (Some(node), None) = (&tls_listener, &tls) {
        return Err(node.err("a TLS listener needs [sbc.tls] cert and key"));
    }
    let limits = limits(&mut t)?;
    let busy_retry_after = t
        .map("busy_retry_after_secs", |n| n.int(1, 3600))?
        .unwrap_or(5);
    let max_transactions = t
        .map("max_transactions", |n| n.usize(1_000, 100_000_000))?
        .unwrap_or(DEFAULT_MAX_TRANSACTIONS);
    t.finish()?;
    Ok(SbcSettings {
        listen,
        advertised_host,
        tls,
        limits,
        busy_retry_after: Duration::from_secs(busy_retry_after),
        max_transactions,
    })
}

fn limits(t: &mut Table<'_, '_>) -> Result<CallLimits, ConfigError> {
    Ok(CallLimits {
        max_concurrent_calls: t.map("max_concurrent_calls", |n| n.u32(1))?,
        max_calls_per_second: t.map("max_calls_per_second", |n| n.u32(1))?,
    })
}

fn security<'a, 'i>(
    mut t: Table<'a, 'i>,
    empty: &'a DeTable<'i>,
    advertised_host: Option<&str>,
) -> Result<SecuritySettings, ConfigError> {
    let mut f = t.table_or_empty("flood", empty)?;
    let flood = FloodSettings {
        window: Duration::from_secs(f.map("window_secs", |n| n.int(1, 3600))?.unwrap_or(2)),
        max_requests: f.map("max_requests", |n| n.u32(1))?.unwrap_or(30),
        block_for: Duration::from_secs(f.map("block_secs", |n| n.int(1, 86_400))?.unwrap_or(60)),
        max_tracked_sources: f
            .map("max_tracked_sources", |n| n.usize(1, 10_000_000))?
            .unwrap_or(10_000),
    };
    f.finish()?;
    let scanner_user_agents = t
        .map("scanner_user_agents", |n| {
            n.list(|n| Ok(n.text()?.to_ascii_lowercase()))
        })?
        .unwrap_or_else(|| DEFAULT_SCANNERS.iter().map(|s| s.to_string()).collect());
    let mut a = t.table_or_empty("auth", empty)?;
    let auth = AuthSettings {
        realm: a
            .map("realm", |n| quotable(n))?
            .or_else(|| advertised_host.map(str::to_owned))
            .unwrap_or_else(|| "switchboard".to_owned()),
        nonce_lifetime: Duration::from_secs(
            a.map("nonce_lifetime_secs", |n| n.int(1, 86_400))?
                .unwrap_or(300),
        ),
        nonce_secret: a.map("nonce_secret", |n| {
            let s = n.text()?;
            if s.len() < 16 {
                return Err(n.err("must be at least 16 characters"));
            }
            Ok(s.to_owned())
        })?,
        max_tracked_nonces: a
            .map("max_tracked_nonces", |n| n.usize(1, 10_000_000))?
            .unwrap_or(10_000),
    };
    a.finish()?;
    t.finish()?;
    Ok(SecuritySettings {
        flood,
        scanner_user_agents,
        auth,
    })
}

fn media(mut t: Table<'_, '_>) -> Result<MediaSettings, ConfigError> {
    let defaults = MediaSettings::default();
    let ip = |n: &Node<'_, '_>| -> Result<IpAddr, ConfigError> {
        let s = n.str()?;
        s.parse()
            .map_err(|_| n.err(format!("`{s}` is not an IP address")))
    };
    let bind = t.map("bind", ip)?;
    let advertised_ip = t.map("advertised_ip", |n| {
        let addr = ip(n)?;
        if addr.is_unspecified() {
            return Err(n.err("peers cannot send media to an unspecified address"));
        }
        Ok(addr)
    })?;
    let first = t.map("first_port", |n| n.u16(1024))?;
    let last = t.map("last_port", |n| n.u16(1024))?;
    let (first, last) = (
        first.unwrap_or(defaults.ports.0),
        last.unwrap_or(defaults.ports.1),
    );
    if last < first.saturating_add(3) {
        return Err(t.err(format!(
            "the port range {first}-{last} holds no two RTP/RTCP pairs"
        )));
    }
    let timeout = t.map("timeout_secs", |n| n.int(1, 3600))?.unwrap_or(30);
    let hold_timeout = t
        .map("hold_timeout_secs", |n| n.int(0, 86_400))?
        .unwrap_or(7200);
    let threads = t.map("threads", |n| n.usize(0, 256))?.unwrap_or(0);
    let dscp = t
        .map("dscp", |n| n.int(0, 63))?
        .map_or(defaults.dscp, |d| d as u8);
    let io = t.map("io", media_io)?.unwrap_or(defaults.io);
    t.finish()?;
    Ok(MediaSettings {
        bind,
        advertised_ip,
        ports: (first, last),
        timeout: Duration::from_secs(timeout),
        hold_timeout: (hold_timeout > 0).then(|| Duration::from_secs(hold_timeout)),
        threads,
        dscp,
        io,
    })
}

fn media_io(n: &Node<'_, '_>) -> Result<MediaIoMode, ConfigError> {
    match n.str()?.to_ascii_lowercase().as_str() {
        "epoll" => Ok(MediaIoMode::Epoll),
        "io_uring" | "uring" => Ok(MediaIoMode::Uring),
        "auto" => Ok(MediaIoMode::Auto),
        other => Err(n.err(format!("`{other}` is not epoll, io_uring or auto"))),
    }
}

/// A string that may go between quotes in a header: no `"`, `\` or
/// control characters.
fn quotable(n: &Node<'_, '_>) -> Result<String, ConfigError> {
    let s = n.text()?;
    if s.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
        return Err(n.err("must not contain quotes, backslashes or control characters"));
    }
    Ok(s.to_owned())
}

fn hosts(mut t: Table<'_, '_>) -> Result<HostMap, ConfigError> {
    let mut map = HostMap::default();
    for (name, node) in t.all() {
        if !is_dns_name(name) {
            return Err(node.err("not a host name"));
        }
        let addrs = node.list(|n| {
            let s = n.str()?;
            if let Ok(ip) = s.parse::<IpAddr>() {
                return Ok(HostAddr { ip, port: None });
            }
            let addr: SocketAddr = s
                .parse()
                .map_err(|_| n.err(format!("`{s}` is neither an IP address nor ip:port")))?;
            Ok(HostAddr {
                ip: addr.ip(),
                port: Some(addr.port()),
            })
        })?;
        if addrs.is_empty() {
            return Err(node.err("needs at least one address"));
        }
        map.insert(name, addrs);
    }
    t.finish()?;
    Ok(map)
}

fn socket_addr(n: &Node<'_, '_>) -> Result<SocketAddr, ConfigError> {
    let s = n.str()?;
    s.parse()
        .map_err(|_| n.err(format!("`{s}` is not ip:port (IPv6 as [addr]:port)")))
}

fn cidr(n: &Node<'_, '_>) -> Result<IpNet, ConfigError> {
    let s = n.str()?;
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    let net: IpNet = s
        .parse()
        .map_err(|_| n.err(format!("`{s}` is not an address or CIDR block")))?;
    if net.trunc() != net {
        return Err(n.err(format!(
            "`{s}` has host bits set; did you mean {}?",
            net.trunc()
        )));
    }
    Ok(net)
}

fn transport(n: &Node<'_, '_>) -> Result<Transport, ConfigError> {
    match n.str()?.to_ascii_lowercase().as_str() {
        "udp" => Ok(Transport::Udp),
        "tcp" => Ok(Transport::Tcp),
        "tls" => Ok(Transport::Tls),
        other => Err(n.err(format!("`{other}` is not udp, tcp or tls"))),
    }
}

/// A trunk's `dtmf`, checked against its `codecs`.
fn dtmf_mode(n: &Node<'_, '_>, codecs: &[String]) -> Result<DtmfMode, ConfigError> {
    let has = |name: &str| codecs.iter().any(|c| c.eq_ignore_ascii_case(name));
    match n.str()?.to_ascii_lowercase().as_str() {
        "rfc4733" | "rfc2833" if !has("telephone-event") => Err(n.err(
            "RFC 4733 DTMF needs `telephone-event` in the trunk's `codecs`",
        )),
        "rfc4733" | "rfc2833" => Ok(DtmfMode::Rfc4733),
        "info" => Ok(DtmfMode::Info),
        "inband" if !has("PCMU") && !has("PCMA") => Err(n.err(
            "in-band DTMF needs `PCMU` or `PCMA` in the trunk's `codecs`: tones are made and heard in G.711",
        )),
        "inband" => Ok(DtmfMode::Inband),
        other => Err(n.err(format!("`{other}` is not rfc4733, info or inband"))),
    }
}

fn sip_uri(n: &Node<'_, '_>) -> Result<Uri, ConfigError> {
    let s = n.str()?;
    let uri = Uri::parse(s).map_err(|e| n.err(format!("`{s}` is not a SIP URI: {e}")))?;
    match uri.scheme() {
        Scheme::Sip | Scheme::Sips => Ok(uri),
        _ => Err(n.err(format!("`{s}` is not a sip: or sips: URI"))),
    }
}

/// An RFC 1123 host name (letters, digits, hyphens; labels up to 63).
pub(crate) fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn host_name_or_ip(n: &Node<'_, '_>) -> Result<String, ConfigError> {
    let s = n.text()?;
    if s.parse::<IpAddr>().is_ok() || is_dns_name(s) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(n.err(format!("`{s}` is not a host name or IP address")))
    }
}

fn fqdn(n: &Node<'_, '_>) -> Result<String, ConfigError> {
    let s = n.text()?;
    if !is_dns_name(s) || !s.contains('.') || s.parse::<IpAddr>().is_ok() {
        return Err(n.err(format!("`{s}` is not a fully qualified domain name")));
    }
    Ok(s.to_ascii_lowercase())
}

fn trunk<'a, 'i>(
    name: &str,
    node: &Node<'a, 'i>,
    empty: &'a DeTable<'i>,
    claims: &mut Claims,
) -> Result<CarrierTrunk, ConfigError> {
    let name = TrunkName::new(name);
    let mut t = node.table()?;
    let mut allow = Vec::new();
    if let Some(list) = t.opt("allow") {
        for n in list.array()? {
            let net = cidr(&n)?;
            let overlap = claims.cidrs.iter().find(|(other, owner, _)| {
                *owner != name && (other.contains(&net.network()) || net.contains(&other.network()))
            });
            if let Some((other, _, path)) = overlap {
                return Err(n.err(format!(
                    "{net} overlaps {other} of {path}; a source must identify one trunk"
                )));
            }
            claims.cidrs.push((net, name.clone(), n.path.clone()));
            allow.push(net);
        }
    }
    let auth = t.map("auth", |n| {
        let mut a = n.table()?;
        let username_node = a.req("username")?;
        let username = quotable(&username_node)?;
        if let Some(path) = claims.usernames.get(&username) {
            return Err(username_node.err(format!("username already used by {path}")));
        }
        claims
            .usernames
            .insert(username.clone(), username_node.path.clone());
        let account = DigestAccount {
            username,
            password: a.req("password")?.text()?.to_owned(),
            algorithms: a
                .map("algorithms", |n| {
                    let list = n.list(|n| {
                        let s = n.str()?;
                        DigestAlgorithm::parse(s)
                            .ok_or_else(|| n.err(format!("`{s}` is not SHA-256 or MD5")))
                    })?;
                    if list.is_empty() {
                        return Err(n.err("needs at least one algorithm"));
                    }
                    Ok(list)
                })?
                .unwrap_or_else(|| vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5]),
        };
        a.finish()?;
        Ok(account)
    })?;
    let transport = t.map("transport", transport)?.unwrap_or(Transport::Udp);
    let targets = t.map("targets", |n| n.list(sip_uri))?.unwrap_or_default();
    let codecs = t
        .map("codecs", |n| n.list(|n| Ok(n.text()?.to_owned())))?
        .unwrap_or_else(|| DEFAULT_CODECS.iter().map(|s| s.to_string()).collect());
    let dtmf = t
        .map("dtmf", |n| dtmf_mode(n, &codecs))?
        .unwrap_or_default();
    let limits = limits(&mut t)?;
    let headers = header_policy(t.table_or_empty("headers", empty)?)?;
    let mut numbers_table = t.table_or_empty("numbers", empty)?;
    let numbers = number_plan(&mut numbers_table, true)?;
    numbers_table.finish()?;
    t.finish()?;
    if allow.is_empty() && auth.is_none() && targets.is_empty() {
        return Err(node.err("a trunk needs `allow`, `auth` or `targets`"));
    }
    Ok(CarrierTrunk {
        name,
        allow,
        auth,
        transport,
        targets,
        codecs,
        dtmf,
        limits,
        headers,
        numbers,
    })
}

fn header_policy(mut t: Table<'_, '_>) -> Result<HeaderPolicy, ConfigError> {
    let patterns = |n: &Node<'_, '_>| {
        n.list(|n| {
            let s = n.str()?;
            let p = HeaderPattern::parse(s)
                .ok_or_else(|| n.err(format!("`{s}` is not a header name or `Prefix*`")))?;
            if let Some(managed) = p.touches_managed() {
                return Err(n.err(format!("{managed} is written by the B2BUA itself")));
            }
            Ok(p)
        })
    };
    let default = HeaderPolicy::default();
    let pass = t.map("pass", patterns)?.unwrap_or(default.pass);
    let strip = t.map("strip", patterns)?.unwrap_or_default();
    let add = match t.opt("add") {
        None => Vec::new(),
        Some(node) => {
            let mut added = Vec::new();
            for (name, n) in node.table()?.all() {
                let p = HeaderPattern::parse(name)
                    .filter(|_| !name.ends_with('*'))
                    .ok_or_else(|| n.err("not a header name"))?;
                if let Some(managed) = p.touches_managed() {
                    return Err(n.err(format!("{managed} is written by the B2BUA itself")));
                }
                let value = n.str()?;
                if value.chars().any(|c| c.is_control()) {
                    return Err(n.err("header values may not hold control characters"));
                }
                added.push((name.to_owned(), value.to_owned()));
            }
            added
        }
    };
    t.finish()?;
    Ok(HeaderPolicy { pass, strip, add })
}

/// Digits, optionally after one leading `+` when `plus` is allowed.
fn digits(n: &Node<'_, '_>, plus: bool, allow_empty: bool) -> Result<String, ConfigError> {
    let s = n.str()?;
    let body = if plus {
        s.strip_prefix('+').unwrap_or(s)
    } else {
        s
    };
    if (!allow_empty && s.is_empty()) || !body.bytes().all(|b| b.is_ascii_digit()) {
        let what = if plus {
            "digits (and a leading +)"
        } else {
            "digits"
        };
        return Err(n.err(format!("`{s}` must be {what}")));
    }
    Ok(s.to_owned())
}

/// The number plan keys of `t` (the caller finishes the table).
fn number_plan(t: &mut Table<'_, '_>, outbound: bool) -> Result<NumberPlan, ConfigError> {
    let country_code = t.map("country_code", |n| {
        let s = digits(n, false, false)?;
        if s.len() > 3 || s.starts_with('0') {
            return Err(n.err("a country code is 1 to 3 digits, not starting with 0"));
        }
        Ok(s)
    })?;
    let national_prefix = t.map("national_prefix", |n| digits(n, false, false))?;
    let international_prefix = t.map("international_prefix", |n| digits(n, false, false))?;
    let national_digits = t.map("national_digits", |n| n.usize(1, 15))?;
    let rules = t
        .map("rules", |n| {
            n.list(|n| {
                let mut r = n.table()?;
                let rule = NumberRule {
                    prefix: r.req("prefix").and_then(|n| digits(&n, true, true))?,
                    min_digits: r.map("min_digits", |n| n.usize(1, 32))?,
                    max_digits: r.map("max_digits", |n| n.usize(1, 32))?,
                    strip: r.map("strip", |n| n.usize(0, 32))?.unwrap_or(0),
                    add: r.map("add", |n| digits(n, true, true))?.unwrap_or_default(),
                };
                if let (Some(min), Some(max)) = (rule.min_digits, rule.max_digits) {
                    if min > max {
                        return Err(r.err("min_digits is larger than max_digits"));
                    }
                }
                r.finish()?;
                Ok(rule)
            })
        })?
        .unwrap_or_default();
    let format = if outbound {
        t.map("outbound", |n| match n.str()? {
            "e164" => Ok(NumberFormat::E164),
            "e164-without-plus" => Ok(NumberFormat::E164WithoutPlus),
            "national" => {
                if country_code.is_none() || international_prefix.is_none() {
                    return Err(n.err("`national` needs country_code and international_prefix"));
                }
                Ok(NumberFormat::National)
            }
            other => Err(n.err(format!(
                "`{other}` is not e164, e164-without-plus or national"
            ))),
        })?
        .unwrap_or_default()
    } else {
        NumberFormat::E164
    };
    Ok(NumberPlan {
        country_code,
        national_prefix,
        international_prefix,
        national_digits,
        rules,
        outbound: format,
    })
}

fn teams(mut t: Table<'_, '_>, sbc: &SbcSettings) -> Result<TeamsTrunk, ConfigError> {
    let base_fqdn = fqdn(&t.req("base_fqdn")?)?;
    let trunk_node = t.req("trunk_fqdn")?;
    let trunk_fqdn = fqdn(&trunk_node)?;
    if one_label_under(&trunk_fqdn, &base_fqdn).is_none() {
        return Err(trunk_node.err(format!(
            "must be one label under base_fqdn {base_fqdn}, e.g. sbc1.{base_fqdn}"
        )));
    }
    let signalling_port = t.map("signalling_port", |n| n.u16(1))?.unwrap_or(5061);
    let proxies = t
        .map("proxies", |n| {
            let list = n.list(|n| {
                let s = n.str()?;
                let (host, port) = match s.rsplit_once(':') {
                    Some((host, port)) => (
                        host,
                        port.parse::<u16>()
                            .map_err(|_| n.err(format!("`{port}` is not a port")))?,
                    ),
                    None => (s, 5061),
                };
                if !is_dns_name(host) {
                    return Err(n.err(format!("`{host}` is not a host name")));
                }
                Ok(ProxyAddr {
                    fqdn: host.to_ascii_lowercase(),
                    port,
                })
            })?;
            if list.is_empty() {
                return Err(n.err("needs at least one proxy"));
            }
            Ok(list)
        })?
        .unwrap_or_else(|| {
            TEAMS_PROXIES
                .iter()
                .map(|fqdn| ProxyAddr {
                    fqdn: fqdn.to_string(),
                    port: 5061,
                })
                .collect()
        });
    let source_subnets = match t.map("source_subnets", |n| n.list(cidr))? {
        Some(list) => list,
        None => TEAMS_SUBNETS
            .iter()
            .filter_map(|s| s.parse::<IpNet>().ok())
            .collect(),
    };
    let options_interval = Duration::from_secs(
        t.map("options_interval_secs", |n| n.int(1, 3600))?
            .unwrap_or(60),
    );
    let x_ms_sbc = t
        .map("x_ms_sbc", |n| quotable(n))?
        .unwrap_or_else(|| format!("Switchboard/SBC/{}", env!("CARGO_PKG_VERSION")));
    if !sbc.listen.iter().any(|l| l.transport == Transport::Tls) {
        return Err(t.err("Teams Direct Routing needs a TLS listener in [sbc.listen] tls"));
    }
    t.finish()?;
    Ok(TeamsTrunk {
        base_fqdn,
        trunk_fqdn,
        signalling_port,
        proxies,
        source_subnets,
        options_interval,
        x_ms_sbc,
    })
}

/// The label of `fqdn` when it is exactly `<label>.<base>`.
pub(crate) fn one_label_under<'f>(fqdn: &'f str, base: &str) -> Option<&'f str> {
    let label = fqdn.strip_suffix(base)?.strip_suffix('.')?;
    (!label.is_empty() && !label.contains('.')).then_some(label)
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn tenant<'a, 'i>(
    name: &str,
    node: &Node<'a, 'i>,
    empty: &'a DeTable<'i>,
    teams: &TeamsTrunk,
    trunks: &BTreeMap<TrunkName, CarrierTrunk>,
    claims: &mut Claims,
) -> Result<Tenant, ConfigError> {
    let mut t = node.table()?;
    let id_node = t.req("tenant_id")?;
    let teams_tenant_id = id_node.text()?.to_ascii_lowercase();
    if !is_guid(&teams_tenant_id) {
        return Err(id_node.err("a Teams tenant id is a GUID (8-4-4-4-12 hex digits)"));
    }
    if let Some(path) = claims.tenant_ids.get(&teams_tenant_id) {
        return Err(id_node.err(format!("tenant id already used by {path}")));
    }
    claims
        .tenant_ids
        .insert(teams_tenant_id.clone(), id_node.path.clone());

    let base = &teams.base_fqdn;
    let (fqdn_node, fqdn) = match (t.opt("label"), t.opt("fqdn")) {
        (Some(n), None) => {
            let label = n.text()?.to_ascii_lowercase();
            if label.contains('.') || !is_dns_name(&label) {
                return Err(n.err(format!("`{label}` is not a DNS label")));
            }
            (n, format!("{label}.{base}"))
        }
        (None, Some(n)) => {
            let fqdn = fqdn(&n)?;
            if one_label_under(&fqdn, base).is_none() {
                return Err(n.err(format!(
                    "`{fqdn}` is not one label under the Teams base FQDN {base}"
                )));
            }
            (n, fqdn)
        }
        (Some(_), Some(n)) => return Err(n.err("give `label` or `fqdn`, not both")),
        (None, None) => {
            return Err(t.err(format!(
                "needs `label` (or `fqdn`): its Teams FQDN under {base}"
            )))
        }
    };
    if fqdn == teams.trunk_fqdn {
        return Err(fqdn_node.err(format!(
            "{fqdn} is the base trunk's FQDN (teams.trunk_fqdn)"
        )));
    }
    if let Some(path) = claims.fqdns.get(&fqdn) {
        return Err(fqdn_node.err(format!("{fqdn} is already used by {path}")));
    }
    claims.fqdns.insert(fqdn.clone(), fqdn_node.path.clone());

    let mut dids = BTreeMap::new();
    if let Some(n) = t.opt("dids") {
        for (number, n) in n.table()?.all() {
            let did = E164::parse(number)
                .map_err(|e| n.err(format!("the DID is not E.164 (`+` and digits): {e}")))?;
            if let Some(path) = claims.dids.get(&did) {
                return Err(n.err(format!("DID {did} is already assigned by {path}")));
            }
            claims.dids.insert(did.clone(), n.path.clone());
            let destination = if n.value.is_table() {
                let mut t = n.table()?;
                let flow = t.req("flow")?.text()?.to_owned();
                t.finish()?;
                Destination::Flow(flow)
            } else {
                let user = n.str()?;
                let user = E164::parse(user).map_err(|e| {
                    n.err(format!(
                        "`{user}` is not an E.164 Teams user number (nor {{ flow = \"NAME\" }}): {e}"
                    ))
                })?;
                Destination::TeamsUser(user)
            };
            dids.insert(did, destination);
        }
    }

    let trunk_node = t.req("carrier_trunk")?;
    let carrier_trunk = TrunkName::new(trunk_node.text()?);
    match trunks.get(&carrier_trunk) {
        None => return Err(trunk_node.err(format!("no trunk named `{carrier_trunk}`"))),
        Some(trunk) if trunk.targets.is_empty() => {
            return Err(trunk_node.err(format!(
                "trunk `{carrier_trunk}` has no `targets` to send calls to"
            )))
        }
        Some(_) => {}
    }

    let mut d = t.table_or_empty("dial_plan", empty)?;
    let numbers = number_plan(&mut d, false)?;
    let prefixes = |n: &Node<'_, '_>| n.list(|n| digits(n, true, false));
    let dial_plan = DialPlan {
        numbers,
        allow: d.map("allow", prefixes)?.unwrap_or_default(),
        deny: d.map("deny", prefixes)?.unwrap_or_default(),
    };
    d.finish()?;
    let limits = limits(&mut t)?;
    t.finish()?;
    Ok(Tenant {
        name: TenantName::new(name),
        teams_tenant_id,
        fqdn,
        dids,
        carrier_trunk,
        dial_plan,
        limits,
    })
}

fn route(
    n: &Node<'_, '_>,
    trunks: &BTreeMap<TrunkName, CarrierTrunk>,
) -> Result<Route, ConfigError> {
    let mut t = n.table()?;
    let from = match t.opt("from") {
        None => None,
        Some(n) => {
            let name = TrunkName::new(n.text()?);
            if !trunks.contains_key(&name) {
                return Err(n.err(format!("no trunk named `{name}`")));
            }
            Some(name)
        }
    };
    let prefix = t
        .map("prefix", |n| Ok(n.str()?.to_owned()))?
        .unwrap_or_default();
    let target = match (t.opt("to_trunk"), t.opt("to_uri")) {
        (Some(n), None) => {
            let name = TrunkName::new(n.text()?);
            match trunks.get(&name) {
                None => return Err(n.err(format!("no trunk named `{name}`"))),
                Some(trunk) if trunk.targets.is_empty() => {
                    return Err(n.err(format!("trunk `{name}` has no `targets`")))
                }
                Some(_) => RouteTarget::Trunk(name),
            }
        }
        (None, Some(n)) => RouteTarget::Uri(sip_uri(&n)?),
        (Some(_), Some(n)) => return Err(n.err("give `to_trunk` or `to_uri`, not both")),
        (None, None) => return Err(t.err("needs `to_trunk` or `to_uri`")),
    };
    t.finish()?;
    Ok(Route {
        from,
        prefix,
        target,
    })
}
