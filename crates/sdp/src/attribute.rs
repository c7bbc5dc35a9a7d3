//! `a=` lines (RFC 8866 §5.13) and the direction attributes (RFC 8866
//! §6.7, RFC 3264 §5.1).
//!
//! An [`Attribute`] keeps the raw name and value exactly as received, so
//! unknown attributes (ICE, DTLS, rtcp-fb, ...) survive a parse and
//! serialize unchanged. Typed views ([`Rtpmap`](crate::Rtpmap),
//! [`Fmtp`](crate::Fmtp), [`Crypto`](crate::Crypto), ...) are read from it
//! on demand by the accessors of [`Media`](crate::Media) and
//! [`Session`](crate::Session).

use std::fmt;

/// One `a=` line: `a=<name>` (property attribute) or `a=<name>:<value>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute name, e.g. `rtpmap`, `ice-ufrag`.
    pub name: String,
    /// Text after the first `:`, kept byte for byte; `None` for a property
    /// attribute such as `a=rtcp-mux`.
    pub value: Option<String>,
}

impl Attribute {
    /// A value attribute `a=<name>:<value>`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: Some(value.into()),
        }
    }

    /// A property attribute `a=<name>`.
    pub fn flag(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: None,
        }
    }

    /// Whether the attribute has this name (names are case-sensitive,
    /// RFC 8866 §5.13).
    pub fn is(&self, name: &str) -> bool {
        self.name == name
    }

    /// The value, or `""` for a property attribute.
    pub fn value_str(&self) -> &str {
        self.value.as_deref().unwrap_or("")
    }

    /// The direction this attribute sets, if it is one of `sendrecv`,
    /// `sendonly`, `recvonly`, `inactive`.
    pub fn direction(&self) -> Option<Direction> {
        if self.value.is_some() {
            return None;
        }
        Direction::from_name(&self.name)
    }
}

impl fmt::Display for Attribute {
    /// Writes the line content after `a=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}:{}", self.name, value),
            None => f.write_str(&self.name),
        }
    }
}

impl fmt::Debug for Attribute {
    /// Redacts `a=crypto` values: they carry SRTP master keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value: Option<&str> = if self.name == "crypto" {
            self.value.as_ref().map(|_| "<redacted>")
        } else {
            self.value.as_deref()
        };
        f.debug_struct("Attribute")
            .field("name", &self.name)
            .field("value", &value)
            .finish()
    }
}

/// Media direction (RFC 8866 §6.7, RFC 3264 §5.1), from the point of view
/// of the side that wrote the SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv`: the default when no direction attribute is present.
    #[default]
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Parses an attribute name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// Builds a direction from its two halves.
    pub fn from_parts(sends: bool, receives: bool) -> Self {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether the writer of the SDP sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the writer of the SDP receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other side (sendonly <-> recvonly).
    pub fn reversed(self) -> Self {
        Self::from_parts(self.receives(), self.sends())
    }

    /// The answer to an offered direction given the answerer's own
    /// preference (RFC 3264 §6.1): the answerer may send only if the offerer
    /// receives, and receive only if the offerer sends.
    pub fn answer(offered: Direction, local: Direction) -> Self {
        Self::from_parts(
            offered.receives() && local.sends(),
            offered.sends() && local.receives(),
        )
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Direction> for Attribute {
    fn from(direction: Direction) -> Self {
        Attribute::flag(direction.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_names_round_trip() {
        for d in [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ] {
            assert_eq!(Direction::from_name(d.as_str()), Some(d));
            assert_eq!(Attribute::from(d).direction(), Some(d));
            assert_eq!(d.reversed().reversed(), d);
        }
        assert_eq!(Direction::from_name("SENDRECV"), None);
        assert_eq!(Attribute::new("sendrecv", "x").direction(), None);
    }

    #[test]
    fn answer_rules_of_rfc3264_section_6_1() {
        use Direction::*;
        assert_eq!(Direction::answer(SendOnly, SendRecv), RecvOnly);
        assert_eq!(Direction::answer(RecvOnly, SendRecv), SendOnly);
        assert_eq!(Direction::answer(Inactive, SendRecv), Inactive);
        assert_eq!(Direction::answer(SendRecv, SendRecv), SendRecv);
        assert_eq!(Direction::answer(SendRecv, SendOnly), SendOnly);
        assert_eq!(Direction::answer(SendOnly, SendOnly), Inactive);
        assert_eq!(Direction::answer(RecvOnly, RecvOnly), Inactive);
    }

    #[test]
    fn display_and_debug() {
        assert_eq!(Attribute::new("ptime", "20").to_string(), "ptime:20");
        assert_eq!(Attribute::flag("rtcp-mux").to_string(), "rtcp-mux");
        assert_eq!(Attribute::new("x", "").to_string(), "x:");
        let crypto = Attribute::new("crypto", "1 AES_CM_128_HMAC_SHA1_80 inline:secret");
        assert!(!format!("{crypto:?}").contains("secret"));
    }
}
