//! `;name[=value]` parameter lists: generic-param of header fields (RFC 3261
//! §25.1) and uri-parameters (§19.1.1). Validated once, then scanned lazily.

use std::fmt;

use crate::text::{self, is_token, trim, unquote, Split};

/// A validated parameter list, borrowing the message text. Names compare
/// case-insensitively; values of quoted-strings are returned without the
/// surrounding quotes (escapes kept, see [`crate::unescape_quoted`]).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Params<'a> {
    /// The text after the first `;` (empty if there are no parameters).
    raw: &'a str,
}

impl<'a> Params<'a> {
    /// Validates `raw` (the text after the first `;`) as header parameters:
    /// `token [ = (token / host / quoted-string) ]`.
    pub(crate) fn parse_header(raw: &'a str) -> Result<Params<'a>, &'static str> {
        let raw = trim(raw);
        for item in Split::new(raw, b';') {
            let item = trim(item?);
            let (name, value) = split_param(item);
            if !is_token(name) {
                return Err("malformed parameter name");
            }
            if let Some(v) = value {
                if v.starts_with('"') {
                    if unquote(v).is_none() {
                        return Err("malformed quoted parameter value");
                    }
                } else if v.is_empty() || !text::all(v.as_bytes(), text::GEN_VALUE) {
                    return Err("malformed parameter value");
                }
            }
        }
        Ok(Params { raw })
    }

    /// Wraps URI parameter text already validated by the URI parser.
    pub(crate) fn from_validated(raw: &'a str) -> Params<'a> {
        Params { raw }
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The parameters as written, without the leading `;`.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// `None` if absent, `Some(None)` for a flag (`;lr`), `Some(Some(v))` for
    /// `;name=v`.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// The value of `name` if present with a value.
    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.get(name).flatten()
    }

    /// Whether `name` is present (with or without a value).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// All parameters in order as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        self.iter_raw().map(|(name, value)| (name, value.map(|v| unquote(v).unwrap_or(v))))
    }

    /// Like `iter` but quoted values keep their quotes.
    pub(crate) fn iter_raw(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        let raw = self.raw;
        let items = if raw.is_empty() { None } else { Some(Split::new(raw, b';')) };
        items.into_iter().flatten().filter_map(|item| Some(split_param(trim(item.ok()?))))
    }
}

impl fmt::Debug for Params<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// `name[=value]`, trimmed of LWS around `=`.
fn split_param(item: &str) -> (&str, Option<&str>) {
    match item.find('=') {
        Some(eq) => (trim(&item[..eq]), Some(trim(&item[eq + 1..]))),
        None => (item, None),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn get_and_iter() {
        let p = Params::parse_header("branch=z9hG4bK1 ; RPort;received=[2001:db8::1];x=\"a;b\"").unwrap();
        assert_eq!(p.get("branch"), Some(Some("z9hG4bK1")));
        assert_eq!(p.get("rport"), Some(None));
        assert_eq!(p.value("RECEIVED"), Some("[2001:db8::1]"));
        assert_eq!(p.value("x"), Some("a;b"));
        assert_eq!(p.get("nope"), None);
        assert_eq!(p.iter().count(), 4);
        assert!(Params::default().is_empty());
        assert_eq!(Params::default().iter().count(), 0);
    }

    #[test]
    fn malformed_params_are_rejected() {
        assert!(Params::parse_header("=x").is_err());
        assert!(Params::parse_header("a=").is_err());
        assert!(Params::parse_header("a;;b").is_err());
        assert!(Params::parse_header("a=\"x").is_err());
        assert!(Params::parse_header("a=b c").is_err());
        assert!(Params::parse_header("a b=c").is_err());
    }
}
