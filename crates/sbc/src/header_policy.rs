//! Which headers a B2BUA carries from one leg to the other for a carrier
//! trunk, and which it adds. A B2BUA builds each leg's request itself
//! (RFC 7092 §3.1), so the headers that define the dialog and its routing
//! (RFC 3261 §8.1.1, §20) are never copied; everything else is dropped
//! unless the trunk's `pass` list names it and its `strip` list does not.
//! Identity headers (RFC 3325 P-Asserted-Identity, RFC 3323 Privacy),
//! RFC 7044 History-Info, RFC 5806 Diversion and `X-` headers are the
//! usual candidates.

use sip::{HeaderName, Headers};

/// Headers the B2BUA always writes itself; a policy may not name them.
pub(crate) const MANAGED: &[&str] = &[
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Contact",
    "Max-Forwards",
    "Route",
    "Record-Route",
    "Content-Length",
    "Content-Type",
    "Authorization",
    "Proxy-Authorization",
    "WWW-Authenticate",
    "Proxy-Authenticate",
];

/// A header name, or a name prefix ending in `*` such as `X-*`; matched
/// without regard to case, against the full (not compact) header name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderPattern(String);

impl HeaderPattern {
    /// A pattern from `Name` or `Prefix*`; `None` if it is not a header
    /// token (RFC 3261 §25.1) optionally ending in `*`.
    pub fn parse(s: &str) -> Option<HeaderPattern> {
        let name = s.strip_suffix('*').unwrap_or(s);
        let token = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%_+`'~".contains(&b));
        if !token || (name.is_empty() && !s.ends_with('*')) {
            return None;
        }
        Some(HeaderPattern(s.to_ascii_lowercase()))
    }

    /// Whether `name` (a full header name) matches.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        match self.0.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == self.0,
        }
    }

    /// Whether this pattern could match a header the B2BUA writes itself.
    pub(crate) fn touches_managed(&self) -> Option<&'static str> {
        MANAGED.iter().copied().find(|m| self.matches(m))
    }

    /// The pattern as written (lower case).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Per-trunk header policy. `pass` and `strip` apply in both directions
/// between the trunk and the other leg (Teams or another trunk); `add`
/// applies to requests sent to the trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderPolicy {
    /// Headers carried across (default: P-Asserted-Identity, Privacy).
    pub pass: Vec<HeaderPattern>,
    /// Headers never carried, even when `pass` names them.
    pub strip: Vec<HeaderPattern>,
    /// Headers added to every request sent to the trunk, in order.
    pub add: Vec<(String, String)>,
}

impl Default for HeaderPolicy {
    fn default() -> Self {
        HeaderPolicy {
            pass: ["P-Asserted-Identity", "Privacy"]
                .iter()
                .filter_map(|s| HeaderPattern::parse(s))
                .collect(),
            strip: Vec::new(),
            add: Vec::new(),
        }
    }
}

impl HeaderPolicy {
    /// Whether a header named `name` crosses from one leg to the other.
    pub fn carries(&self, name: &HeaderName) -> bool {
        let name = name.as_str();
        if MANAGED.iter().any(|m| m.eq_ignore_ascii_case(name)) {
            return false;
        }
        self.pass.iter().any(|p| p.matches(name)) && !self.strip.iter().any(|p| p.matches(name))
    }

    /// The headers of `headers` to copy to the other leg, in order.
    pub fn carried<'h>(&self, headers: &'h Headers) -> Vec<(HeaderName, &'h [u8])> {
        headers
            .iter()
            .filter(|(name, _)| self.carries(name))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(pass: &[&str], strip: &[&str]) -> HeaderPolicy {
        HeaderPolicy {
            pass: pass
                .iter()
                .map(|p| HeaderPattern::parse(p).unwrap())
                .collect(),
            strip: strip
                .iter()
                .map(|p| HeaderPattern::parse(p).unwrap())
                .collect(),
            add: vec![],
        }
    }

    #[test]
    fn patterns() {
        assert!(HeaderPattern::parse("X-*").unwrap().matches("x-carrier-id"));
        assert!(!HeaderPattern::parse("X-*").unwrap().matches("Privacy"));
        assert!(HeaderPattern::parse("privacy").unwrap().matches("Privacy"));
        assert!(HeaderPattern::parse("Bad Name").is_none());
        assert!(HeaderPattern::parse("").is_none());
        assert_eq!(
            HeaderPattern::parse("C*").unwrap().touches_managed(),
            Some("Call-ID")
        );
    }

    #[test]
    fn carries_passed_minus_stripped_never_managed() {
        let p = policy(
            &["P-Asserted-Identity", "X-*", "Via", "History-Info"],
            &["X-Secret"],
        );
        assert!(p.carries(&HeaderName::from("p-asserted-identity")));
        assert!(p.carries(&HeaderName::from("X-Account")));
        assert!(!p.carries(&HeaderName::from("X-Secret")));
        assert!(!p.carries(&HeaderName::from("Diversion")));
        assert!(!p.carries(&HeaderName::Via));
        assert!(HeaderPolicy::default().carries(&HeaderName::from("Privacy")));
        assert!(!HeaderPolicy::default().carries(&HeaderName::from("History-Info")));
    }

    #[test]
    fn carried_filters_a_message() {
        let mut h = Headers::new();
        h.push(HeaderName::Via, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1");
        h.push(
            HeaderName::from("P-Asserted-Identity"),
            "<sip:+12065550100@a>",
        );
        h.push(HeaderName::from("X-Internal"), "1");
        h.push(HeaderName::from("Privacy"), "id");
        let p = policy(&["P-Asserted-Identity", "Privacy"], &[]);
        let names: Vec<_> = p
            .carried(&h)
            .iter()
            .map(|(n, v)| format!("{}: {}", n.as_str(), String::from_utf8_lossy(v)))
            .collect();
        assert_eq!(
            names,
            ["P-Asserted-Identity: <sip:+12065550100@a>", "Privacy: id"]
        );
    }
}
