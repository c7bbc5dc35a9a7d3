//! SIP request methods (RFC 3261 §7.1 and the extensions of RFC 3262,
//! 3265/6665, 3311, 3428, 3515, 3903, 6086).

use std::fmt;

use bytes::Bytes;

use crate::error::ParseError;
use crate::text::is_token_byte;

/// A request method. Methods are case-sensitive (RFC 3261 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE (RFC 3261).
    Invite,
    /// ACK (RFC 3261).
    Ack,
    /// BYE (RFC 3261).
    Bye,
    /// CANCEL (RFC 3261).
    Cancel,
    /// OPTIONS (RFC 3261).
    Options,
    /// REGISTER (RFC 3261).
    Register,
    /// PRACK (RFC 3262).
    Prack,
    /// SUBSCRIBE (RFC 6665).
    Subscribe,
    /// NOTIFY (RFC 6665).
    Notify,
    /// PUBLISH (RFC 3903).
    Publish,
    /// INFO (RFC 6086).
    Info,
    /// REFER (RFC 3515).
    Refer,
    /// MESSAGE (RFC 3428).
    Message,
    /// UPDATE (RFC 3311).
    Update,
    /// Any other method token, as written.
    Extension(Bytes),
}

impl Method {
    /// Parses a method token: a known method or an extension.
    pub fn from_bytes(token: &[u8]) -> Result<Method, ParseError> {
        if let Some(known) = Method::known(token) {
            return Ok(known);
        }
        if token.is_empty() || !token.iter().all(|&b| is_token_byte(b)) {
            return Err(ParseError::BadMethod);
        }
        Ok(Method::Extension(Bytes::copy_from_slice(token)))
    }

    /// The standard method spelled exactly `token`, if any.
    pub(crate) fn known(token: &[u8]) -> Option<Method> {
        Some(match token {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"OPTIONS" => Method::Options,
            b"REGISTER" => Method::Register,
            b"PRACK" => Method::Prack,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"PUBLISH" => Method::Publish,
            b"INFO" => Method::Info,
            b"REFER" => Method::Refer,
            b"MESSAGE" => Method::Message,
            b"UPDATE" => Method::Update,
            _ => return None,
        })
    }

    /// The method as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Publish => "PUBLISH",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Update => "UPDATE",
            Method::Extension(token) => std::str::from_utf8(token).unwrap_or("?"),
        }
    }

    /// The method's bytes as written on the wire.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Method::Extension(token) => token,
            other => other.as_str().as_bytes(),
        }
    }
}

impl std::str::FromStr for Method {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Method, ParseError> {
        Method::from_bytes(s.as_bytes())
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn known_methods_round_trip() {
        for name in [
            "INVITE",
            "ACK",
            "BYE",
            "CANCEL",
            "OPTIONS",
            "REGISTER",
            "PRACK",
            "SUBSCRIBE",
            "NOTIFY",
            "PUBLISH",
            "INFO",
            "REFER",
            "MESSAGE",
            "UPDATE",
        ] {
            let m: Method = name.parse().unwrap();
            assert!(!matches!(m, Method::Extension(_)), "{name}");
            assert_eq!(m.as_str(), name);
        }
    }

    #[test]
    fn methods_are_case_sensitive_and_extensions_kept() {
        let m = Method::from_bytes(b"invite").unwrap();
        assert_eq!(m, Method::Extension(Bytes::from_static(b"invite")));
        assert_eq!(m.to_string(), "invite");
        assert_eq!(
            Method::from_bytes(b"NEWMETHOD").unwrap().as_str(),
            "NEWMETHOD"
        );
    }

    #[test]
    fn non_tokens_are_rejected() {
        assert_eq!(Method::from_bytes(b""), Err(ParseError::BadMethod));
        assert_eq!(Method::from_bytes(b"IN VITE"), Err(ParseError::BadMethod));
        assert_eq!(Method::from_bytes(b"INV<"), Err(ParseError::BadMethod));
    }
}
