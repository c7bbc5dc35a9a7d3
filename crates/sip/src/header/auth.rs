//! Authentication headers (RFC 3261 §20.7, §20.27, §20.28, §20.44; Digest
//! per RFC 7616 §3.3-3.4 with SIP's use of it in RFC 8760): challenges in
//! WWW-Authenticate / Proxy-Authenticate, credentials in Authorization /
//! Proxy-Authorization.

use std::fmt;

use super::map::Headers;
use super::name::HeaderName;
use crate::error::HeaderError;
use crate::text::{is_token, is_token_byte, trim, unquote, Split};

/// A Digest algorithm (RFC 7616 §3.3, RFC 8760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm<'a> {
    /// MD5.
    Md5,
    /// MD5-sess.
    Md5Sess,
    /// SHA-256.
    Sha256,
    /// SHA-256-sess.
    Sha256Sess,
    /// SHA-512-256.
    Sha512_256,
    /// SHA-512-256-sess.
    Sha512_256Sess,
    /// Any other algorithm, as written.
    Other(&'a str),
}

impl<'a> Algorithm<'a> {
    /// Case-insensitive mapping of the token.
    pub fn parse(s: &'a str) -> Algorithm<'a> {
        const KNOWN: [(&str, Algorithm<'static>); 6] = [
            ("MD5", Algorithm::Md5),
            ("MD5-sess", Algorithm::Md5Sess),
            ("SHA-256", Algorithm::Sha256),
            ("SHA-256-sess", Algorithm::Sha256Sess),
            ("SHA-512-256", Algorithm::Sha512_256),
            ("SHA-512-256-sess", Algorithm::Sha512_256Sess),
        ];
        KNOWN
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map_or(Algorithm::Other(s), |(_, a)| *a)
    }

    /// The canonical token.
    pub fn as_str(&self) -> &'a str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
            Algorithm::Sha512_256 => "SHA-512-256",
            Algorithm::Sha512_256Sess => "SHA-512-256-sess",
            Algorithm::Other(s) => s,
        }
    }

    /// Whether this is a `-sess` variant.
    pub fn is_session(&self) -> bool {
        matches!(
            self,
            Algorithm::Md5Sess | Algorithm::Sha256Sess | Algorithm::Sha512_256Sess
        )
    }
}

/// A Digest challenge. Quoted values are given without quotes (escapes
/// kept, see [`crate::unescape_quoted`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DigestChallenge<'a> {
    /// `realm` (required).
    pub realm: &'a str,
    /// `domain`.
    pub domain: Option<&'a str>,
    /// `nonce` (required).
    pub nonce: &'a str,
    /// `opaque`.
    pub opaque: Option<&'a str>,
    /// `stale=true`.
    pub stale: bool,
    /// `algorithm` (absent means MD5).
    pub algorithm: Option<Algorithm<'a>>,
    /// `qop` options as written, e.g. `auth,auth-int`.
    pub qop: Option<&'a str>,
    /// `charset`.
    pub charset: Option<&'a str>,
    /// `userhash=true`.
    pub userhash: bool,
}

impl<'a> DigestChallenge<'a> {
    /// The offered qop values.
    pub fn qop_options(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.qop
            .unwrap_or("")
            .split(',')
            .map(trim)
            .filter(|q| !q.is_empty())
    }
}

/// A challenge: Digest, or another scheme kept raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge<'a> {
    /// `Digest ...`.
    Digest(DigestChallenge<'a>),
    /// Another scheme with its parameters as written.
    Other {
        /// The scheme token.
        scheme: &'a str,
        /// Everything after the scheme.
        params: &'a str,
    },
}

/// Digest credentials (the response to a challenge).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DigestCredentials<'a> {
    /// `username` (required; may be a hash when `userhash=true`).
    pub username: &'a str,
    /// `realm` (required).
    pub realm: &'a str,
    /// `nonce` (required).
    pub nonce: &'a str,
    /// `uri` (required).
    pub uri: &'a str,
    /// `response` (required).
    pub response: &'a str,
    /// `algorithm`.
    pub algorithm: Option<Algorithm<'a>>,
    /// `cnonce`.
    pub cnonce: Option<&'a str>,
    /// `opaque`.
    pub opaque: Option<&'a str>,
    /// `qop` (one value).
    pub qop: Option<&'a str>,
    /// `nc` (8 hex digits).
    pub nc: Option<u32>,
    /// `userhash=true`.
    pub userhash: bool,
}

/// Credentials: Digest, or another scheme kept raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// `Digest ...`.
    Digest(DigestCredentials<'a>),
    /// Another scheme with its parameters as written.
    Other {
        /// The scheme token.
        scheme: &'a str,
        /// Everything after the scheme.
        params: &'a str,
    },
}

/// Writes `name="value"` (escaping `"` and `\`).
fn quoted(
    f: &mut fmt::Formatter<'_>,
    sep: &mut &'static str,
    name: &str,
    value: &str,
) -> fmt::Result {
    write!(f, "{sep}{name}=\"")?;
    *sep = ", ";
    for c in value.chars() {
        if c == '"' || c == '\\' {
            write!(f, "\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

fn bare(
    f: &mut fmt::Formatter<'_>,
    sep: &mut &'static str,
    name: &str,
    value: &str,
) -> fmt::Result {
    write!(f, "{sep}{name}={value}")?;
    *sep = ", ";
    Ok(())
}

impl fmt::Display for DigestChallenge<'_> {
    /// `Digest realm="..", nonce="..", ...`; values are written as given
    /// (quoted values are expected unescaped).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest ")?;
        let mut sep = "";
        quoted(f, &mut sep, "realm", self.realm)?;
        if let Some(d) = self.domain {
            quoted(f, &mut sep, "domain", d)?;
        }
        quoted(f, &mut sep, "nonce", self.nonce)?;
        if let Some(o) = self.opaque {
            quoted(f, &mut sep, "opaque", o)?;
        }
        if self.stale {
            bare(f, &mut sep, "stale", "true")?;
        }
        if let Some(a) = self.algorithm {
            bare(f, &mut sep, "algorithm", a.as_str())?;
        }
        if let Some(q) = self.qop {
            quoted(f, &mut sep, "qop", q)?;
        }
        if let Some(c) = self.charset {
            bare(f, &mut sep, "charset", c)?;
        }
        if self.userhash {
            bare(f, &mut sep, "userhash", "true")?;
        }
        Ok(())
    }
}

impl fmt::Display for DigestCredentials<'_> {
    /// `Digest username="..", realm="..", ...` (RFC 7616 §3.4).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest ")?;
        let mut sep = "";
        quoted(f, &mut sep, "username", self.username)?;
        quoted(f, &mut sep, "realm", self.realm)?;
        quoted(f, &mut sep, "nonce", self.nonce)?;
        quoted(f, &mut sep, "uri", self.uri)?;
        quoted(f, &mut sep, "response", self.response)?;
        if let Some(a) = self.algorithm {
            bare(f, &mut sep, "algorithm", a.as_str())?;
        }
        if let Some(c) = self.cnonce {
            quoted(f, &mut sep, "cnonce", c)?;
        }
        if let Some(o) = self.opaque {
            quoted(f, &mut sep, "opaque", o)?;
        }
        if let Some(q) = self.qop {
            bare(f, &mut sep, "qop", q)?;
        }
        if let Some(nc) = self.nc {
            bare(f, &mut sep, "nc", &format!("{nc:08x}"))?;
        }
        if self.userhash {
            bare(f, &mut sep, "userhash", "true")?;
        }
        Ok(())
    }
}

/// Splits `scheme LWS params`.
fn split_scheme(s: &str) -> Result<(&str, &str), &'static str> {
    let s = trim(s);
    let end = s.bytes().position(|b| !is_token_byte(b)).unwrap_or(s.len());
    let (scheme, rest) = s.split_at(end);
    if scheme.is_empty() {
        return Err("missing scheme");
    }
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return Err("missing space after scheme");
    }
    Ok((scheme, trim(rest)))
}

/// `auth-param *(COMMA auth-param)`; values without quotes.
fn auth_params(s: &str) -> impl Iterator<Item = Result<(&str, &str), &'static str>> {
    Split::new(s, b',').map(|item| {
        let item = trim(item?);
        let (name, value) = item.split_once('=').ok_or("parameter without =")?;
        let (name, value) = (trim(name), trim(value));
        if !is_token(name) {
            return Err("malformed parameter name");
        }
        if value.starts_with('"') {
            return unquote(value)
                .map(|v| (name, v))
                .ok_or("malformed quoted value");
        }
        if is_token(value) {
            Ok((name, value))
        } else {
            Err("malformed parameter value")
        }
    })
}

fn parse_bool(v: &str) -> Result<bool, &'static str> {
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("flag is neither true nor false")
    }
}

fn parse_challenge(s: &str) -> Result<Challenge<'_>, &'static str> {
    let (scheme, rest) = split_scheme(s)?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Ok(Challenge::Other {
            scheme,
            params: rest,
        });
    }
    let mut c = DigestChallenge::default();
    let (mut realm, mut nonce) = (None, None);
    for param in auth_params(rest) {
        let (name, value) = param?;
        match name.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value),
            "domain" => c.domain = Some(value),
            "nonce" => nonce = Some(value),
            "opaque" => c.opaque = Some(value),
            "stale" => c.stale = parse_bool(value)?,
            "algorithm" => c.algorithm = Some(Algorithm::parse(value)),
            "qop" => c.qop = Some(value),
            "charset" => c.charset = Some(value),
            "userhash" => c.userhash = parse_bool(value)?,
            _ => {}
        }
    }
    c.realm = realm.ok_or("missing realm")?;
    c.nonce = nonce.ok_or("missing nonce")?;
    Ok(Challenge::Digest(c))
}

fn parse_credentials(s: &str) -> Result<Credentials<'_>, &'static str> {
    let (scheme, rest) = split_scheme(s)?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Ok(Credentials::Other {
            scheme,
            params: rest,
        });
    }
    let mut c = DigestCredentials::default();
    let mut required = [None; 5];
    for param in auth_params(rest) {
        let (name, value) = param?;
        match name.to_ascii_lowercase().as_str() {
            "username" => required[0] = Some(value),
            "realm" => required[1] = Some(value),
            "nonce" => required[2] = Some(value),
            "uri" => required[3] = Some(value),
            "response" => required[4] = Some(value),
            "algorithm" => c.algorithm = Some(Algorithm::parse(value)),
            "cnonce" => c.cnonce = Some(value),
            "opaque" => c.opaque = Some(value),
            "qop" => c.qop = Some(value),
            "nc" => {
                if value.len() != 8 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err("nc is not 8 hex digits");
                }
                c.nc = u32::from_str_radix(value, 16).ok();
            }
            "userhash" => c.userhash = parse_bool(value)?,
            _ => {}
        }
    }
    c.username = required[0].ok_or("missing username")?;
    c.realm = required[1].ok_or("missing realm")?;
    c.nonce = required[2].ok_or("missing nonce")?;
    c.uri = required[3].ok_or("missing uri")?;
    c.response = required[4].ok_or("missing response")?;
    if c.qop.is_some() && (c.cnonce.is_none() || c.nc.is_none()) {
        return Err("qop without cnonce and nc");
    }
    Ok(Credentials::Digest(c))
}

impl Headers {
    /// WWW-Authenticate challenges, one per header line.
    pub fn www_authenticate(
        &self,
    ) -> impl Iterator<Item = Result<Challenge<'_>, HeaderError>> + '_ {
        self.per_line(HeaderName::WwwAuthenticate, parse_challenge)
    }

    /// Proxy-Authenticate challenges, one per header line.
    pub fn proxy_authenticate(
        &self,
    ) -> impl Iterator<Item = Result<Challenge<'_>, HeaderError>> + '_ {
        self.per_line(HeaderName::ProxyAuthenticate, parse_challenge)
    }

    /// Authorization credentials, one per header line.
    pub fn authorization(&self) -> impl Iterator<Item = Result<Credentials<'_>, HeaderError>> + '_ {
        self.per_line(HeaderName::Authorization, parse_credentials)
    }

    /// Proxy-Authorization credentials, one per header line.
    pub fn proxy_authorization(
        &self,
    ) -> impl Iterator<Item = Result<Credentials<'_>, HeaderError>> + '_ {
        self.per_line(HeaderName::ProxyAuthorization, parse_credentials)
    }

    fn per_line<'s, T: 's>(
        &'s self,
        name: HeaderName,
        parse: fn(&'s str) -> Result<T, &'static str>,
    ) -> impl Iterator<Item = Result<T, HeaderError>> + 's {
        let label = name.static_str();
        self.values(name).map(move |v| {
            let v = std::str::from_utf8(v)
                .map_err(|_| HeaderError::invalid(label, "not valid UTF-8"))?;
            parse(v).map_err(|r| HeaderError::invalid(label, r))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn challenge_rfc8760() {
        let c = parse_challenge(
            "Digest realm=\"atlanta.com\", domain=\"sip:ss1.carrier.com\", qop=\"auth,auth-int\", \
             nonce=\"f84f1cec41e6cbe5aea9c8e88d359\", opaque=\"\", stale=FALSE, algorithm=SHA-256, userhash=true",
        )
        .unwrap();
        let Challenge::Digest(d) = c else {
            panic!("{c:?}")
        };
        assert_eq!(d.realm, "atlanta.com");
        assert_eq!(d.domain, Some("sip:ss1.carrier.com"));
        assert_eq!(d.nonce, "f84f1cec41e6cbe5aea9c8e88d359");
        assert_eq!(d.opaque, Some(""));
        assert!(!d.stale && d.userhash);
        assert_eq!(d.algorithm, Some(Algorithm::Sha256));
        assert_eq!(
            d.qop_options().collect::<Vec<_>>(),
            vec!["auth", "auth-int"]
        );
        let text = d.to_string();
        assert_eq!(parse_challenge(&text).unwrap(), Challenge::Digest(d));
    }

    #[test]
    fn credentials() {
        let c = parse_credentials(
            "Digest username=\"bob\", realm=\"biloxi.com\", nonce=\"dcd98b\", uri=\"sip:bob@biloxi.com\", \
             qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae4\", opaque=\"5ccc\", algorithm=SHA-512-256-sess",
        )
        .unwrap();
        let Credentials::Digest(d) = c else {
            panic!("{c:?}")
        };
        assert_eq!(
            (d.username, d.realm, d.nonce, d.uri),
            ("bob", "biloxi.com", "dcd98b", "sip:bob@biloxi.com")
        );
        assert_eq!(d.response, "6629fae4");
        assert_eq!(d.nc, Some(1));
        assert_eq!(d.qop, Some("auth"));
        assert_eq!(d.cnonce, Some("0a4f113b"));
        assert_eq!(d.algorithm, Some(Algorithm::Sha512_256Sess));
        assert!(d.algorithm.unwrap().is_session());
        assert_eq!(
            parse_credentials(&d.to_string()).unwrap(),
            Credentials::Digest(d)
        );
    }

    #[test]
    fn other_schemes_and_errors() {
        assert_eq!(
            parse_challenge("Bearer realm=\"x\"").unwrap(),
            Challenge::Other {
                scheme: "Bearer",
                params: "realm=\"x\""
            }
        );
        assert_eq!(parse_challenge("Digest nonce=\"n\""), Err("missing realm"));
        assert_eq!(parse_challenge("Digest realm=\"r\""), Err("missing nonce"));
        assert_eq!(
            parse_challenge("Digest realm=\"r, nonce=1"),
            Err("unterminated quoted string")
        );
        assert_eq!(parse_challenge("Digest realm"), Err("parameter without ="));
        assert_eq!(
            parse_challenge("Digest realm=\"r\", nonce=\"n\", stale=maybe"),
            Err("flag is neither true nor false")
        );
        assert_eq!(parse_challenge(""), Err("missing scheme"));
        let base =
            "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:a@b\", response=\"x\"";
        assert!(parse_credentials(base).is_ok());
        assert_eq!(
            parse_credentials(&format!("{base}, nc=1")),
            Err("nc is not 8 hex digits")
        );
        assert_eq!(
            parse_credentials(&format!("{base}, qop=auth")),
            Err("qop without cnonce and nc")
        );
        assert_eq!(
            parse_credentials("Digest realm=\"r\""),
            Err("missing username")
        );
        assert_eq!(Algorithm::parse("md5"), Algorithm::Md5);
        assert_eq!(Algorithm::parse("AKAv1-MD5"), Algorithm::Other("AKAv1-MD5"));
    }

    #[test]
    fn header_accessors() {
        let mut h = Headers::new();
        h.push(
            HeaderName::WwwAuthenticate,
            "Digest realm=\"a\", nonce=\"1\"",
        );
        h.push(
            HeaderName::WwwAuthenticate,
            "Digest realm=\"b\", nonce=\"2\", algorithm=SHA-256",
        );
        h.push(HeaderName::ProxyAuthenticate, "Digest realm=\"p\"");
        h.push(
            HeaderName::Authorization,
            "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:a@b\", response=\"x\"",
        );
        assert_eq!(h.www_authenticate().count(), 2);
        assert_eq!(
            h.proxy_authenticate().next(),
            Some(Err(HeaderError::invalid(
                "Proxy-Authenticate",
                "missing nonce"
            )))
        );
        assert!(h.authorization().next().unwrap().is_ok());
        assert_eq!(h.proxy_authorization().count(), 0);
    }
}
