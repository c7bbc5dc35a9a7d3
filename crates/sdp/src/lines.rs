//! The typed session-description lines `o=` (RFC 8866 §5.2), `c=` (§5.7),
//! `b=` (§5.8) and `t=`/`r=` (§5.9, §5.10), plus RFC 3605 `a=rtcp`.

use std::fmt;
use std::net::IpAddr;

use crate::grammar::{digits, fields, ValueError};
use crate::Attribute;

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name, `-` when there is none.
    pub username: String,
    /// Session id, kept for the whole dialog.
    pub session_id: u64,
    /// Version, incremented on every changed re-offer (RFC 3264 §8).
    pub session_version: u64,
    /// Network type, `IN`.
    pub nettype: String,
    /// Address type, `IP4` or `IP6`.
    pub addrtype: String,
    /// Address or FQDN of the originating host.
    pub address: String,
}

impl Origin {
    /// `o=- <session_id> <session_version> IN IP4|IP6 <address>`.
    pub fn new(session_id: u64, session_version: u64, address: IpAddr) -> Self {
        Self {
            username: "-".to_owned(),
            session_id,
            session_version,
            nettype: "IN".to_owned(),
            addrtype: addrtype_of(address).to_owned(),
            address: address.to_string(),
        }
    }

    pub(crate) fn parse(value: &str) -> Result<Self, &'static str> {
        let parts: Vec<&str> = fields(value).take(7).collect();
        let [username, id, version, nettype, addrtype, address] = parts[..] else {
            return Err("expected 6 fields");
        };
        Ok(Self {
            username: username.to_owned(),
            session_id: digits(id).ok_or("session id is not a 64-bit number")?,
            session_version: digits(version).ok_or("session version is not a 64-bit number")?,
            nettype: nettype.to_owned(),
            addrtype: addrtype.to_owned(),
            address: address.to_owned(),
        })
    }
}

impl fmt::Display for Origin {
    /// Writes the line content after `o=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.nettype,
            self.addrtype,
            self.address
        )
    }
}

/// `c=<nettype> <addrtype> <connection-address>` where the address may
/// carry `/<ttl>[/<count>]` (IP4 multicast) or `/<count>` (IP6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Network type, `IN`.
    pub nettype: String,
    /// Address type, `IP4` or `IP6`.
    pub addrtype: String,
    /// Unicast or multicast address, or an FQDN.
    pub address: String,
    /// Multicast TTL (IP4 only).
    pub ttl: Option<u8>,
    /// Number of multicast addresses.
    pub count: Option<u32>,
}

impl Connection {
    /// `c=IN IP4|IP6 <address>`.
    pub fn new(address: IpAddr) -> Self {
        Self {
            nettype: "IN".to_owned(),
            addrtype: addrtype_of(address).to_owned(),
            address: address.to_string(),
            ttl: None,
            count: None,
        }
    }

    /// The address as an IP address, if it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }

    /// Whether the address is `0.0.0.0`, the RFC 2543 way to say "send
    /// nothing to me" (RFC 3264 §8.4).
    pub fn is_unspecified(&self) -> bool {
        self.address == "0.0.0.0"
    }

    pub(crate) fn parse(value: &str) -> Result<Self, &'static str> {
        let parts: Vec<&str> = fields(value).take(4).collect();
        let [nettype, addrtype, address] = parts[..] else {
            return Err("expected 3 fields");
        };
        let mut pieces = address.split('/');
        let host = pieces
            .next()
            .filter(|h| !h.is_empty())
            .ok_or("empty address")?;
        let first = pieces.next();
        let second = pieces.next();
        if pieces.next().is_some() {
            return Err("too many `/` in address");
        }
        let (ttl, count) = match (first, second) {
            (None, _) => (None, None),
            (Some(n), None) if addrtype == "IP6" => {
                (None, Some(digits(n).ok_or("bad address count")?))
            }
            (Some(t), None) => (Some(digits(t).ok_or("bad TTL")?), None),
            (Some(_), Some(_)) if addrtype == "IP6" => return Err("IP6 address has no TTL"),
            (Some(t), Some(n)) => (
                Some(digits(t).ok_or("bad TTL")?),
                Some(digits(n).ok_or("bad address count")?),
            ),
        };
        Ok(Self {
            nettype: nettype.to_owned(),
            addrtype: addrtype.to_owned(),
            address: host.to_owned(),
            ttl,
            count,
        })
    }
}

impl fmt::Display for Connection {
    /// Writes the line content after `c=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.nettype, self.addrtype, self.address)?;
        if let Some(ttl) = self.ttl {
            write!(f, "/{ttl}")?;
        }
        if let Some(count) = self.count {
            write!(f, "/{count}")?;
        }
        Ok(())
    }
}

/// `b=<bwtype>:<bandwidth>`, e.g. `b=AS:64` (kbit/s) or `b=TIAS:64000`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    /// Bandwidth type: `CT`, `AS`, `TIAS`, `RS`, `RR`, ...
    pub kind: String,
    /// The value, in the unit the type defines.
    pub value: u64,
}

impl Bandwidth {
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let (kind, bandwidth) = value.split_once(':')?;
        if kind.is_empty() || kind.contains(' ') {
            return None;
        }
        Some(Self {
            kind: kind.to_owned(),
            value: digits(bandwidth)?,
        })
    }
}

impl fmt::Display for Bandwidth {
    /// Writes the line content after `b=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

/// `t=<start> <stop>` (NTP seconds, `0 0` for an unbounded session) and
/// the `r=` lines that follow it, kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timing {
    /// Start time.
    pub start: u64,
    /// Stop time.
    pub stop: u64,
    /// The `r=` repeat lines, content after `r=`.
    pub repeats: Vec<String>,
}

impl Timing {
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let parts: Vec<&str> = fields(value).take(3).collect();
        let [start, stop] = parts[..] else {
            return None;
        };
        Some(Self {
            start: digits(start)?,
            stop: digits(stop)?,
            repeats: Vec::new(),
        })
    }
}

/// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    /// RTCP port.
    pub port: u16,
    /// RTCP address when it differs from the `c=` address.
    pub connection: Option<Connection>,
}

impl Rtcp {
    pub(crate) fn parse(value: &str) -> Result<Self, ValueError> {
        let (port, rest) = match value.trim().split_once(' ') {
            Some((port, rest)) => (port, Some(rest)),
            None => (value.trim(), None),
        };
        let port = digits(port).ok_or(ValueError::Invalid("bad port"))?;
        let connection = match rest {
            Some(rest) => Some(Connection::parse(rest).map_err(ValueError::Invalid)?),
            None => None,
        };
        Ok(Self { port, connection })
    }
}

impl fmt::Display for Rtcp {
    /// Writes the attribute value (after `a=rtcp:`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.port)?;
        if let Some(connection) = &self.connection {
            write!(f, " {connection}")?;
        }
        Ok(())
    }
}

impl From<&Rtcp> for Attribute {
    fn from(rtcp: &Rtcp) -> Self {
        Attribute::new("rtcp", rtcp.to_string())
    }
}

pub(crate) fn addrtype_of(address: IpAddr) -> &'static str {
    match address {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn origin() {
        let o = Origin::parse("- 4858 4859 IN IP4 192.0.2.10").unwrap();
        assert_eq!(o.session_id, 4858);
        assert_eq!(o.session_version, 4859);
        assert_eq!(o.to_string(), "- 4858 4859 IN IP4 192.0.2.10");
        assert_eq!(Origin::parse("- 1 2 IN IP4"), Err("expected 6 fields"));
        assert_eq!(Origin::parse("- 1 2 IN IP4 a b"), Err("expected 6 fields"));
        assert!(Origin::parse("- x 2 IN IP4 a").is_err());
        assert!(Origin::parse("- 1 99999999999999999999 IN IP4 a").is_err());
        let max = Origin::parse("- 18446744073709551615 0 IN IP6 ::1").unwrap();
        assert_eq!(max.session_id, u64::MAX);
        let o = Origin::new(1, 2, "2001:db8::1".parse().unwrap());
        assert_eq!(o.to_string(), "- 1 2 IN IP6 2001:db8::1");
    }

    #[test]
    fn connection() {
        let c = Connection::parse("IN IP4 203.0.113.5").unwrap();
        assert_eq!(c.ip(), Some("203.0.113.5".parse().unwrap()));
        assert!(!c.is_unspecified());
        assert!(Connection::parse("IN IP4 0.0.0.0")
            .unwrap()
            .is_unspecified());
        let m = Connection::parse("IN IP4 224.2.1.1/127/3").unwrap();
        assert_eq!((m.ttl, m.count), (Some(127), Some(3)));
        assert_eq!(m.to_string(), "IN IP4 224.2.1.1/127/3");
        let m6 = Connection::parse("IN IP6 ff15::101/3").unwrap();
        assert_eq!((m6.ttl, m6.count), (None, Some(3)));
        assert_eq!(m6.to_string(), "IN IP6 ff15::101/3");
        let fqdn = Connection::parse("IN IP4 media.example.net").unwrap();
        assert_eq!(fqdn.ip(), None);
        for bad in [
            "IN IP4",
            "IN IP4 a b",
            "IN IP4 /5",
            "IN IP4 224.2.1.1/300",
            "IN IP4 224.2.1.1/1/2/3",
            "IN IP6 ff15::1/1/2",
        ] {
            assert!(Connection::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bandwidth_and_timing() {
        let b = Bandwidth::parse("AS:64").unwrap();
        assert_eq!((b.kind.as_str(), b.value), ("AS", 64));
        assert_eq!(b.to_string(), "AS:64");
        assert_eq!(Bandwidth::parse("AS64"), None);
        assert_eq!(Bandwidth::parse(":64"), None);
        assert_eq!(Bandwidth::parse("AS:-1"), None);
        let t = Timing::parse("3034423619 3042462419").unwrap();
        assert_eq!((t.start, t.stop), (3_034_423_619, 3_042_462_419));
        assert_eq!(Timing::parse("0"), None);
        assert_eq!(Timing::parse("0 0 0"), None);
        assert_eq!(Timing::parse("a 0"), None);
    }

    #[test]
    fn rtcp_attribute() {
        let r = Rtcp::parse("53020").unwrap();
        assert_eq!((r.port, r.connection.is_none()), (53020, true));
        let r = Rtcp::parse("53020 IN IP4 126.16.64.4").unwrap();
        assert_eq!(r.connection.as_ref().unwrap().address, "126.16.64.4");
        assert_eq!(r.to_string(), "53020 IN IP4 126.16.64.4");
        assert!(Rtcp::parse("70000").is_err());
        assert!(Rtcp::parse("x").is_err());
        assert!(Rtcp::parse("9 IN IP4").is_err());
    }
}
