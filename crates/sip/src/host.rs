//! Hosts of URIs and Via sent-by: hostname, IPv4address, IPv6reference
//! (RFC 3261 §25.1, RFC 5118 for IPv6 forms).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::text;

/// A host as it appears in a URI or Via header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host<'a> {
    /// A domain name, as written.
    Name(&'a str),
    /// A dotted-quad IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address (written as `[...]` in URIs and Via).
    Ipv6(Ipv6Addr),
}

impl Host<'_> {
    /// The address, if the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match *self {
            Host::Name(_) => None,
            Host::Ipv4(a) => Some(IpAddr::V4(a)),
            Host::Ipv6(a) => Some(IpAddr::V6(a)),
        }
    }

    /// RFC 3261 §19.1.4: names compare case-insensitively, addresses by value.
    pub fn matches(&self, other: &Host<'_>) -> bool {
        match (self, other) {
            (Host::Name(a), Host::Name(b)) => a.eq_ignore_ascii_case(b),
            (Host::Ipv4(a), Host::Ipv4(b)) => a == b,
            (Host::Ipv6(a), Host::Ipv6(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Parses `host` (no port). IPv6 must be bracketed unless `bare_ipv6`
/// (the Via `received` parameter may carry a bare IPv6address, RFC 5118).
pub(crate) fn parse_host(s: &str, bare_ipv6: bool) -> Option<Host<'_>> {
    let b = s.as_bytes();
    if b.first() == Some(&b'[') {
        return parse_ipv6(s.strip_prefix('[')?.strip_suffix(']')?).map(Host::Ipv6);
    }
    if bare_ipv6 && s.contains(':') {
        return parse_ipv6(s).map(Host::Ipv6);
    }
    if scan_host(b, 0)? != b.len() {
        return None;
    }
    classify_host(s)
}

/// Scans a hostname or IPv4address from `b[from]` up to the first byte
/// that is not alphanum, `-`, `_` or `.`, and returns where that is. `None`
/// if a label starts with a non-alphanumeric or a `.` does not follow an
/// alphanumeric (labels are LABEL characters separated by dots, RFC 3261
/// §25.1; `_` is tolerated).
#[inline(always)]
fn scan_host(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        i = text::skip_alnum(b, i);
        // `b[i - 1]`, if any, is what the separator follows.
        let ok = match b.get(i) {
            Some(b'.') => i > from && b[i - 1].is_ascii_alphanumeric(),
            Some(b'-' | b'_') => i > from && b[i - 1] != b'.',
            _ => return Some(i),
        };
        if !ok {
            return None;
        }
        i += 1;
    }
}

/// What a hostname or IPv4address is, without its text.
#[derive(Debug, Clone, Copy)]
pub(crate) enum HostKind {
    Name,
    Ipv4(Ipv4Addr),
}

/// The host `s`, which [`scan_host`] accepted whole: an IPv4address, or a
/// hostname whose last label ends with an alphanumeric (a trailing dot is
/// allowed).
#[inline]
fn classify_host(s: &str) -> Option<Host<'_>> {
    Some(match classify_host_bytes(s.as_bytes())? {
        HostKind::Name => Host::Name(s),
        HostKind::Ipv4(addr) => Host::Ipv4(addr),
    })
}

/// [`classify_host`] on bytes.
#[inline(always)]
fn classify_host_bytes(b: &[u8]) -> Option<HostKind> {
    let (&first, &last) = (b.first()?, b.last()?);
    if b.len() > 255 {
        return None;
    }
    if first.is_ascii_digit() {
        if let Some(addr) = parse_ipv4(b) {
            return Some(HostKind::Ipv4(addr));
        }
        if b.iter().all(|&c| c.is_ascii_digit() || c == b'.') {
            // All-numeric labels must be an IPv4address (a toplabel starts
            // with a letter, RFC 3261 §25.1).
            return None;
        }
    }
    if !(last.is_ascii_alphanumeric() || last == b'.' && b.len() > 1) {
        return None;
    }
    Some(HostKind::Name)
}

/// The hostname or IPv4address at `s[from..]`, up to the first byte that
/// cannot continue it: the host and where it ends. `None` if that text is
/// not a valid host. (An IPv4 address is read once, without the label scan
/// [`scan_host`] does.)
#[inline(always)]
pub(crate) fn host_at(s: &str, from: usize) -> Option<(Host<'_>, usize)> {
    let (kind, end) = host_at_bytes(s.as_bytes(), from)?;
    let host = match kind {
        HostKind::Name => Host::Name(text::sub(s, from, end)?),
        HostKind::Ipv4(addr) => Host::Ipv4(addr),
    };
    Some((host, end))
}

/// [`host_at`] on bytes: what the host is and where it ends (a hostname
/// is ASCII).
#[inline(always)]
pub(crate) fn host_at_bytes(b: &[u8], from: usize) -> Option<(HostKind, usize)> {
    if b.get(from)?.is_ascii_digit() {
        if let Some((addr, len)) = ipv4_prefix(&b[from..]) {
            let end = from + len;
            if !b
                .get(end)
                .is_some_and(|&c| text::is(c, text::LABEL) || c == b'.')
            {
                return Some((HostKind::Ipv4(addr), end));
            }
        }
    }
    let end = scan_host(b, from)?;
    Some((classify_host_bytes(b.get(from..end)?)?, end))
}

/// IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT, each at
/// most 255 (leading zeros allowed, as the ABNF allows them).
#[inline]
fn parse_ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    ipv4_prefix(b).and_then(|(addr, len)| (len == b.len()).then_some(addr))
}

/// The IPv4address at the start of `b` and its length.
#[inline(always)]
fn ipv4_prefix(b: &[u8]) -> Option<(Ipv4Addr, usize)> {
    match b.first_chunk::<16>() {
        Some(head) => ipv4_in(head),
        None => ipv4_prefix_short(b),
    }
}

/// [`ipv4_prefix`] of 16 bytes, which hold any IPv4address (15 bytes at
/// most): indexes below 16 need no bounds checks.
#[inline(always)]
fn ipv4_in(b: &[u8; 16]) -> Option<(Ipv4Addr, usize)> {
    let digit = |i: usize| {
        let d = b[i & 15].wrapping_sub(b'0');
        (d < 10).then_some(u32::from(d))
    };
    let mut address = 0u32;
    let mut i = 0;
    for k in 0..4 {
        if k > 0 {
            if b[i & 15] != b'.' {
                return None;
            }
            i += 1;
        }
        // One to three digits (`i` is at most 12 here).
        let mut value = digit(i)?;
        i += 1;
        if let Some(d) = digit(i) {
            value = value * 10 + d;
            i += 1;
            if let Some(d) = digit(i) {
                value = value * 10 + d;
                i += 1;
            }
        }
        if value > 255 {
            return None;
        }
        address = address << 8 | value;
    }
    Some((Ipv4Addr::from(address), i))
}

/// [`ipv4_prefix`] of fewer than 16 bytes.
fn ipv4_prefix_short(b: &[u8]) -> Option<(Ipv4Addr, usize)> {
    let mut padded = [0u8; 16];
    padded[..b.len()].copy_from_slice(b);
    // A zero byte is neither a digit nor a dot, so the padding ends any
    // address as the end of `b` does.
    ipv4_in(&padded)
}

/// An IPv6 address; like RFC 5118 §4.10 asks, `:::` before an embedded
/// IPv4 address (allowed by a bug in RFC 3261's ABNF) is read as `::`.
fn parse_ipv6(s: &str) -> Option<Ipv6Addr> {
    if let Ok(addr) = s.parse() {
        return Some(addr);
    }
    let (before, after) = s.split_once(":::")?;
    if after.contains(':') || !after.contains('.') {
        return None;
    }
    format!("{before}::{after}").parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// The digit-by-digit IPv4 reading [`ipv4_prefix`] replaced.
    pub(crate) fn ipv4_prefix_plain(b: &[u8]) -> Option<(Ipv4Addr, usize)> {
        let mut octets = [0u8; 4];
        let mut i = 0;
        for (k, octet) in octets.iter_mut().enumerate() {
            if k > 0 {
                if b.get(i) != Some(&b'.') {
                    return None;
                }
                i += 1;
            }
            let start = i;
            let mut value = 0u32;
            while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit() && i - start < 3) {
                value = value * 10 + u32::from(c - b'0');
                i += 1;
            }
            if i == start || value > 255 {
                return None;
            }
            *octet = value as u8;
        }
        Some((Ipv4Addr::from(octets), i))
    }

    /// What the unrolled IPv4 reading gives for `b`, and the plain one.
    pub(crate) fn ipv4_readings(b: &[u8]) -> [Option<(Ipv4Addr, usize)>; 2] {
        [ipv4_prefix(b), ipv4_prefix_plain(b)]
    }

    #[test]
    fn forms() {
        assert_eq!(
            parse_host("example.COM", false),
            Some(Host::Name("example.COM"))
        );
        assert_eq!(
            parse_host("example.com.", false),
            Some(Host::Name("example.com."))
        );
        assert_eq!(
            parse_host("192.0.2.1", false),
            Some(Host::Ipv4(Ipv4Addr::new(192, 0, 2, 1)))
        );
        assert_eq!(
            parse_host("[2001:db8::1]", false),
            Some(Host::Ipv6("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(
            parse_host("[::ffff:192.0.2.1]", false).map(|h| h.ip().is_some()),
            Some(true)
        );
        assert_eq!(
            parse_host("2001:db8::1", true),
            Some(Host::Ipv6("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(
            parse_host("[2001:db8:::192.0.2.1]", false),
            Some(Host::Ipv6("2001:db8::192.0.2.1".parse().unwrap()))
        );
        assert_eq!(parse_host("[2001:db8:::1]", false), None);
    }

    #[test]
    fn ipv4_forms() {
        assert_eq!(
            parse_host("010.000.002.001", false),
            Some(Host::Ipv4(Ipv4Addr::new(10, 0, 2, 1)))
        );
        assert_eq!(parse_host("1.2.3.4.5", false), None);
        assert_eq!(parse_host("1.2.3.1000", false), None);
        assert_eq!(parse_host("1.2..3", false), None);
    }

    #[test]
    fn invalid_hosts() {
        for bad in [
            "",
            "256.1.1.1",
            "1.2.3",
            "a..b",
            "-a.com",
            "a-.com",
            "a b",
            "[2001:db8::1",
            "[xyz]",
            "2001:db8::1",
            "exa mple.com",
            "ex@mple",
        ] {
            assert_eq!(parse_host(bad, false), None, "{bad}");
        }
    }

    #[test]
    fn display_and_matching() {
        let v6 = parse_host("[2001:DB8::1]", false).unwrap();
        assert_eq!(v6.to_string(), "[2001:db8::1]");
        assert!(Host::Name("A.example").matches(&Host::Name("a.EXAMPLE")));
        assert!(!Host::Name("a").matches(&Host::Ipv4(Ipv4Addr::LOCALHOST)));
    }
}
