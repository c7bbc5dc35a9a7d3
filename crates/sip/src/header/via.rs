//! Via (RFC 3261 §20.42, §18.2.1 received, RFC 3581 rport, RFC 5118 IPv6).

use std::fmt;
use std::net::IpAddr;

use super::map::Headers;
use super::name::HeaderName;
use crate::error::HeaderError;
use crate::host::{host_at, parse_host, Host};
use crate::params::{ParamRule, Params};
use crate::text::{self, find_byte, is_token_byte, is_wsp, split_byte, trim, trim_start};
use crate::uri::{parse_port, port_at};

/// One Via value: `SIP/2.0/<transport> <host>[:<port>];params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// The transport as written (`UDP`, `TCP`, `TLS`, `WS`, `WSS`, `SCTP`...).
    pub transport: &'a str,
    /// The sent-by host.
    pub host: Host<'a>,
    /// The sent-by port, if written.
    pub port: Option<u16>,
    /// The via-params.
    pub params: Params<'a>,
}

impl<'a> Via<'a> {
    /// The `branch` parameter.
    #[inline]
    pub fn branch(&self) -> Option<&'a str> {
        self.params.value("branch")
    }

    /// The `received` parameter as written.
    pub fn received(&self) -> Option<&'a str> {
        self.params.value("received")
    }

    /// The `received` parameter as an address (validated when parsed).
    pub fn received_ip(&self) -> Option<IpAddr> {
        self.received()
            .and_then(|r| parse_host(r, true))
            .and_then(|h| h.ip())
    }

    /// `None` without `rport`, `Some(None)` for a bare `;rport` (a request
    /// to fill it in, RFC 3581), `Some(Some(port))` when filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| parse_port(p.as_bytes())))
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&'a str> {
        self.params.value("maddr")
    }

    /// The `ttl` parameter.
    pub fn ttl(&self) -> Option<u8> {
        self.params.value("ttl").and_then(|t| t.parse().ok())
    }

    /// Whether the branch carries the RFC 3261 magic cookie `z9hG4bK`.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with("z9hG4bK"))
    }
}

impl fmt::Display for Via<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if !self.params.is_empty() {
            write!(f, ";{}", self.params.as_str())?;
        }
        Ok(())
    }
}

/// Parses one Via value (already split from its list).
pub(crate) fn parse_via(s: &str) -> Result<Via<'_>, &'static str> {
    let s = trim(s);
    let (protocol, rest) = split_byte(s, b'/').ok_or("missing sent-protocol")?;
    if !trim(protocol).eq_ignore_ascii_case("SIP") {
        return Err("protocol is not SIP");
    }
    let (version, rest) = split_byte(rest, b'/').ok_or("missing transport")?;
    if trim(version) != "2.0" {
        return Err("protocol version is not 2.0");
    }
    let rest = trim_start(rest);
    let transport_len = rest
        .bytes()
        .position(|b| !is_token_byte(b))
        .unwrap_or(rest.len());
    if transport_len == 0 {
        return Err("missing transport");
    }
    let transport = &rest[..transport_len];
    let rest = &rest[transport_len..];
    if !rest.bytes().next().is_some_and(is_wsp) {
        return Err("missing sent-by");
    }
    let rest = trim_start(rest);
    let (sent_by, params) = match find_byte(rest, b';') {
        Some(semi) => (
            trim(&rest[..semi]),
            Params::parse_header(&rest[semi + 1..])?,
        ),
        None => (trim(rest), Params::default()),
    };
    let (host, port) = split_host_port(sent_by)?;
    let host = parse_host(host, false).ok_or("invalid sent-by host")?;
    let port = match port {
        Some(p) => Some(parse_port(p.as_bytes()).ok_or("invalid sent-by port")?),
        None => None,
    };
    for (name, value) in params.iter() {
        check_param(name, value)?;
    }
    Ok(Via {
        transport,
        host,
        port,
        params,
    })
}

/// The first Via value of a line written the usual way (`SIP/2.0/`, a
/// transport, a hostname or IPv4address, an optional port, parameters
/// without LWS, then `,` or the end), with valid via-params; `None` for
/// anything else, which [`parse_via`] on the list element decides.
#[inline(always)]
pub(crate) fn plain_via(s: &str) -> Option<Via<'_>> {
    let b = s.as_bytes();
    // `SIP/` in any letter case (`| 0x20` lower-cases a letter and maps no
    // other byte to one), then `2.0/`.
    let head = u64::from_le_bytes(*b.first_chunk::<8>()?);
    if head | 0x20_2020 != u64::from_le_bytes(*b"sip/2.0/") {
        return None;
    }
    let transport_end = text::skip(b, 8, text::TOKEN);
    if transport_end == 8 || !is_wsp(*b.get(transport_end)?) {
        return None;
    }
    let mut i = transport_end;
    while i < b.len() && is_wsp(b[i]) {
        i += 1;
    }
    let (host, port, semi) = plain_sent_by(s.get(i..)?)?;
    i += semi;
    let mut params = Params::default();
    if b.get(i) == Some(&b';') {
        (params, i) = Params::plain::<ViaParam>(s, i + 1)?;
    }
    if !matches!(b.get(i), None | Some(b',')) {
        return None;
    }
    Some(Via {
        transport: text::sub(s, 8, transport_end)?,
        host,
        port,
        params,
    })
}

/// `sent-by` written the usual way (a hostname or IPv4address, an
/// optional port, no LWS, then `;` or the end): the host, the port and
/// where the `;` is. `None` for anything else, which [`parse_via`] handles.
#[inline(always)]
fn plain_sent_by(s: &str) -> Option<(Host<'_>, Option<u16>, usize)> {
    let b = s.as_bytes();
    let (host, host_end) = host_at(s, 0)?;
    let mut i = host_end;
    let mut port = None;
    if b.get(i) == Some(&b':') {
        let (number, end) = port_at(b, i + 1)?;
        port = Some(number);
        i = end;
    }
    match b.get(i) {
        None | Some(b';') => Some((host, port, i)),
        Some(_) => None,
    }
}

/// The syntax of the via-params RFC 3261 §20.42 / RFC 3581 define.
fn check_param(name: &str, value: Option<&str>) -> Result<(), &'static str> {
    check_param_bytes(name.as_bytes(), value.map(str::as_bytes))
}

/// The via-params RFC 3261 §20.42 / RFC 3581 define, for
/// [`Params::plain`].
struct ViaParam;

impl ParamRule for ViaParam {
    #[inline(always)]
    fn accepts(name: &[u8], value: Option<&[u8]>) -> bool {
        check_param_bytes(name, value).is_ok()
    }
}

/// [`check_param`] on the bytes of a parameter (what [`Params::plain`]
/// hands over).
#[inline(always)]
fn check_param_bytes(name: &[u8], value: Option<&[u8]>) -> Result<(), &'static str> {
    const RECEIVED: u64 = text::name_word(b"received");
    const RPORT: u64 = text::name_word(b"rport");
    const TTL: u64 = text::name_word(b"ttl");
    const MADDR: u64 = text::name_word(b"maddr");
    const BRANCH: u64 = text::name_word(b"branch");
    fn text(v: &[u8]) -> Option<&str> {
        std::str::from_utf8(v).ok()
    }
    // The names checked have at most eight bytes: one word each, compared
    // with the lower-cased word of a name of the same length.
    let Some(word) = text::short_word(name) else {
        return Ok(());
    };
    match (name.len(), text::lower_word(word)) {
        (8, RECEIVED) => {
            let ip = value
                .and_then(text)
                .and_then(|v| parse_host(v, true))
                .is_some_and(|h| h.ip().is_some());
            ip.then_some(()).ok_or("received is not an IP address")
        }
        (5, RPORT) => value
            .is_none_or(|v| parse_port(v).is_some())
            .then_some(())
            .ok_or("invalid rport"),
        (3, TTL) => value
            .and_then(text)
            .is_some_and(|v| v.len() <= 3 && v.parse::<u8>().is_ok())
            .then_some(())
            .ok_or("ttl is not in 0..=255"),
        (5, MADDR) => value
            .and_then(text)
            .and_then(|v| parse_host(v, false))
            .is_some()
            .then_some(())
            .ok_or("invalid maddr"),
        (6, BRANCH) => value
            .is_some()
            .then_some(())
            .ok_or("branch without a value"),
        _ => Ok(()),
    }
}

/// `host [ COLON port ]`, with SWS allowed around the colon.
fn split_host_port(s: &str) -> Result<(&str, Option<&str>), &'static str> {
    if s.starts_with('[') {
        let close = find_byte(s, b']').ok_or("unterminated IPv6 reference")?;
        let (host, rest) = s.split_at(close + 1);
        let rest = trim(rest);
        if rest.is_empty() {
            return Ok((host, None));
        }
        let port = rest.strip_prefix(':').ok_or("unexpected text after host")?;
        return Ok((host, Some(trim(port))));
    }
    match split_byte(s, b':') {
        Some((host, port)) => Ok((trim(host), Some(trim(port)))),
        None => Ok((s, None)),
    }
}

impl Headers {
    /// Every Via value, comma lists split across lines, top first.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'_>, HeaderError>> + '_ {
        self.list_items(HeaderName::Via)
            .map(|item| item.and_then(|v| parse_via(v).map_err(|r| HeaderError::invalid("Via", r))))
    }

    /// The topmost Via value.
    pub fn top_via(&self) -> Result<Via<'_>, HeaderError> {
        // The usual top line; anything else (and every error) takes the
        // general path.
        if let Some(via) = self.first_line_str(HeaderName::Via).and_then(plain_via) {
            return Ok(via);
        }
        match self.first_item(HeaderName::Via) {
            Some(item) => parse_via(item?).map_err(|r| HeaderError::invalid("Via", r)),
            None => Err(HeaderError::Missing("Via")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn full_via() {
        let v = parse_via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;received=198.51.100.7;rport=4711;ttl=16;maddr=224.2.0.1")
            .unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, Host::Ipv4("192.0.2.1".parse().unwrap()));
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch(), Some("z9hG4bK776"));
        assert!(v.has_rfc3261_branch());
        assert_eq!(v.received(), Some("198.51.100.7"));
        assert_eq!(v.received_ip(), Some("198.51.100.7".parse().unwrap()));
        assert_eq!(v.rport(), Some(Some(4711)));
        assert_eq!(v.ttl(), Some(16));
        assert_eq!(v.maddr(), Some("224.2.0.1"));
    }

    #[test]
    fn spacing_case_and_ipv6() {
        let v = parse_via("sip / 2.0 / tcp   [2001:db8::9] : 5061 ; branch = z9hG4bKx ; rport")
            .unwrap();
        assert_eq!(v.transport, "tcp");
        assert_eq!(v.host, Host::Ipv6("2001:db8::9".parse().unwrap()));
        assert_eq!(v.port, Some(5061));
        assert_eq!(v.branch(), Some("z9hG4bKx"));
        assert_eq!(v.rport(), Some(None));
        let v = parse_via("SIP/2.0/UDP [2001:db8::9];received=2001:db8::1").unwrap();
        assert_eq!(v.received_ip(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(v.port, None);
        assert_eq!(v.rport(), None);
    }

    #[test]
    fn display_round_trips() {
        let v = parse_via("SIP/2.0/TLS pc.example.com:5061;branch=z9hG4bKa;rport").unwrap();
        assert_eq!(
            v.to_string(),
            "SIP/2.0/TLS pc.example.com:5061;branch=z9hG4bKa;rport"
        );
        assert_eq!(parse_via(&v.to_string()).unwrap(), v);
    }

    #[test]
    fn known_params_are_checked_in_any_case() {
        let via = |params: &str| format!("SIP/2.0/UDP h;{params}");
        for bad in [
            "BRANCH",
            "Received=x.example",
            "rPort=65536",
            "TTL=256",
            "mAddr=-x",
        ] {
            let v = via(bad);
            assert!(plain_via(&v).is_none(), "{bad}");
            assert!(parse_via(&v).is_err(), "{bad}");
        }
        // Names of the same lengths with other letters are not checked.
        for fine in [
            "brancH=1",
            "BRANCX",
            "receivex=x",
            "rporx=x",
            "tty=x",
            "maddx=-x",
        ] {
            let v = via(fine);
            assert_eq!(
                plain_via(&v).map(|v| v.params.as_str()),
                Some(fine),
                "{fine}"
            );
            assert!(parse_via(&v).is_ok(), "{fine}");
        }
    }

    #[test]
    fn invalid_vias() {
        let cases = [
            ("", "missing sent-protocol"),
            ("SIP/2.0 host", "missing transport"),
            ("SIP/3.0/UDP host", "protocol version is not 2.0"),
            ("XMPP/2.0/UDP host", "protocol is not SIP"),
            ("SIP/2.0/UDP", "missing sent-by"),
            ("SIP/2.0/UDPhost", "missing sent-by"),
            ("SIP/2.0/UDP bad_host!", "invalid sent-by host"),
            ("SIP/2.0/UDP host:70000", "invalid sent-by port"),
            (
                "SIP/2.0/UDP host;received=example.com",
                "received is not an IP address",
            ),
            ("SIP/2.0/UDP host;rport=x", "invalid rport"),
            ("SIP/2.0/UDP host;ttl=256", "ttl is not in 0..=255"),
            ("SIP/2.0/UDP host;maddr=a..b", "invalid maddr"),
            ("SIP/2.0/UDP host;branch", "branch without a value"),
            ("SIP/2.0/UDP host;branch=\"x", "unterminated quoted string"),
            ("SIP/2.0/UDP [::1", "unterminated IPv6 reference"),
        ];
        for (input, reason) in cases {
            assert_eq!(parse_via(input), Err(reason), "{input:?}");
        }
    }

    #[test]
    fn headers_vias_split_lists() {
        let mut h = Headers::new();
        h.push(
            HeaderName::Via,
            "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
        );
        h.push(HeaderName::Via, "SIP/2.0/TCP c");
        let hosts: Vec<_> = h.vias().map(|v| v.unwrap().host.to_string()).collect();
        assert_eq!(hosts, vec!["a", "b", "c"]);
        assert_eq!(h.top_via().unwrap().branch(), Some("z9hG4bK1"));
        assert_eq!(Headers::new().top_via(), Err(HeaderError::Missing("Via")));
        h.push_front(HeaderName::Via, "SIP/2.0/UDP bad;ttl=999");
        assert!(matches!(
            h.top_via(),
            Err(HeaderError::Invalid { header: "Via", .. })
        ));
    }
}
