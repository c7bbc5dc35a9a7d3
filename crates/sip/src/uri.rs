//! URIs: `sip:`/`sips:` (RFC 3261 §19.1, §25.1; IPv6 forms RFC 5118),
//! `tel:` (RFC 3966), and other absolute URIs kept opaque (RFC 3261 §19.1.6
//! lets a proxy receive them and answer 416). Percent-escape decoding and
//! the comparison rules of RFC 3261 §19.1.4 and RFC 3966 §4.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;

use crate::error::UriError;
use crate::host::{host_at_bytes, parse_host, Host, HostKind};
use crate::params::Params;
use crate::text;

/// The URI scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966)
    Tel,
    /// Any other absolute URI; only [`Uri::as_str`] is meaningful.
    Other,
}

/// A byte range inside the URI text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        // Both are offsets into a URI whose length was checked to fit in u32.
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    #[inline]
    fn of(self, s: &str) -> &str {
        text::sub(s, self.start as usize, self.end as usize).unwrap_or("")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostPart {
    None,
    Name(Span),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

/// Where the components of a URI are; computed once by [`parse_uri`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UriParts {
    scheme: Scheme,
    user: Option<Span>,
    password: Option<Span>,
    host: HostPart,
    port: Option<u16>,
    params: Span,
    headers: Option<Span>,
}

/// An owned URI, cheap to clone (its text is a [`Bytes`], often a slice of
/// the received datagram). `==` compares the text; use
/// [`Uri::equivalent`] for RFC 3261 §19.1.4 comparison.
#[derive(Clone)]
pub struct Uri {
    text: Bytes,
    parts: UriParts,
}

/// A parsed URI borrowing the message text (e.g. inside a From header).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct UriRef<'a> {
    text: &'a str,
    parts: UriParts,
}

impl UriParts {
    /// Whether there is a `?headers` part.
    pub(crate) fn has_headers(&self) -> bool {
        self.headers.is_some()
    }
}

impl Uri {
    /// Parses and copies a URI.
    pub fn parse(input: impl AsRef<[u8]>) -> Result<Uri, UriError> {
        Uri::from_bytes(Bytes::copy_from_slice(input.as_ref()))
    }

    /// Parses a URI without copying.
    pub fn from_bytes(text: Bytes) -> Result<Uri, UriError> {
        let s = std::str::from_utf8(&text).map_err(|_| UriError::NotUtf8)?;
        let parts = parse_uri(s)?;
        Ok(Uri { text, parts })
    }

    /// Assembles a URI whose `parts` were computed from `text`.
    pub(crate) fn from_parts(text: Bytes, parts: UriParts) -> Uri {
        Uri { text, parts }
    }

    /// The borrowed view, which carries all accessors.
    pub fn as_uri_ref(&self) -> UriRef<'_> {
        UriRef {
            text: self.as_str(),
            parts: self.parts,
        }
    }

    /// The URI as written.
    pub fn as_str(&self) -> &str {
        // `text` was validated as UTF-8 when the Uri was made.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }

    /// The URI text.
    pub fn as_bytes(&self) -> &Bytes {
        &self.text
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.parts.scheme
    }

    /// The user part, still percent-escaped; for `tel:` the number.
    pub fn user(&self) -> Option<&str> {
        self.as_uri_ref().user()
    }

    /// The password (deprecated by RFC 3261 but parsed).
    pub fn password(&self) -> Option<&str> {
        self.as_uri_ref().password()
    }

    /// The host; `Host::Name("")` for `tel:` and other schemes.
    pub fn host(&self) -> Host<'_> {
        self.as_uri_ref().host()
    }

    /// The port, if written.
    pub fn port(&self) -> Option<u16> {
        self.parts.port
    }

    /// The `;name=value` URI parameters (values still percent-escaped).
    pub fn params(&self) -> Params<'_> {
        self.as_uri_ref().params()
    }

    /// One URI parameter, see [`Params::get`].
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.as_uri_ref().param(name)
    }

    /// The `transport` parameter.
    pub fn transport(&self) -> Option<&str> {
        self.as_uri_ref().transport()
    }

    /// The `?name=value&...` header part, without the `?`.
    pub fn headers(&self) -> Option<&str> {
        self.as_uri_ref().headers()
    }

    /// RFC 3261 §19.1.4 (and RFC 3966 §4 for `tel:`) equivalence.
    pub fn equivalent(&self, other: &Uri) -> bool {
        self.as_uri_ref().equivalent(&other.as_uri_ref())
    }

    /// A copy with `;name` or `;name=value` appended to the parameters.
    pub fn with_param(&self, name: &str, value: Option<&str>) -> Result<Uri, UriError> {
        self.as_uri_ref().with_param(name, value)
    }
}

impl<'a> UriRef<'a> {
    /// Assembles a URI whose `parts` were computed from `text`.
    pub(crate) fn from_parts(text: &'a str, parts: UriParts) -> UriRef<'a> {
        UriRef { text, parts }
    }

    /// Parses a URI in place.
    pub fn parse(text: &'a str) -> Result<UriRef<'a>, UriError> {
        Ok(UriRef {
            text,
            parts: parse_uri(text)?,
        })
    }

    /// An owned copy.
    pub fn to_uri(&self) -> Uri {
        Uri {
            text: Bytes::copy_from_slice(self.text.as_bytes()),
            parts: self.parts,
        }
    }

    /// The URI as written.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.parts.scheme
    }

    /// The user part, still percent-escaped; for `tel:` the number.
    #[inline]
    pub fn user(&self) -> Option<&'a str> {
        self.parts.user.map(|s| s.of(self.text))
    }

    /// The password.
    pub fn password(&self) -> Option<&'a str> {
        self.parts.password.map(|s| s.of(self.text))
    }

    /// The host; `Host::Name("")` for `tel:` and other schemes.
    #[inline]
    pub fn host(&self) -> Host<'a> {
        match self.parts.host {
            HostPart::None => Host::Name(""),
            HostPart::Name(s) => Host::Name(s.of(self.text)),
            HostPart::V4(a) => Host::Ipv4(a),
            HostPart::V6(a) => Host::Ipv6(a),
        }
    }

    /// The port, if written.
    pub fn port(&self) -> Option<u16> {
        self.parts.port
    }

    /// The `;name=value` URI parameters (values still percent-escaped).
    pub fn params(&self) -> Params<'a> {
        Params::from_validated(self.parts.params.of(self.text))
    }

    /// One URI parameter, see [`Params::get`].
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        self.params().get(name)
    }

    /// The `transport` parameter.
    pub fn transport(&self) -> Option<&'a str> {
        self.params().value("transport")
    }

    /// The `?name=value&...` header part, without the `?`.
    pub fn headers(&self) -> Option<&'a str> {
        self.parts.headers.map(|s| s.of(self.text))
    }

    /// A copy with `;name` or `;name=value` appended to the parameters.
    pub fn with_param(&self, name: &str, value: Option<&str>) -> Result<Uri, UriError> {
        let (base, headers) = match self.parts.headers {
            Some(h) => (
                &self.text[..h.start as usize - 1],
                &self.text[h.start as usize - 1..],
            ),
            None => (self.text, ""),
        };
        let text = match value {
            Some(v) => format!("{base};{name}={v}{headers}"),
            None => format!("{base};{name}{headers}"),
        };
        Uri::from_bytes(Bytes::from(text))
    }

    /// RFC 3261 §19.1.4 (and RFC 3966 §4 for `tel:`) equivalence.
    pub fn equivalent(&self, other: &UriRef<'_>) -> bool {
        if self.scheme() != other.scheme() {
            return false;
        }
        match self.scheme() {
            Scheme::Sip | Scheme::Sips => self.sip_equivalent(other),
            Scheme::Tel => tel_equivalent(self, other),
            Scheme::Other => self.text == other.text,
        }
    }

    fn sip_equivalent(&self, other: &UriRef<'_>) -> bool {
        let escaped_eq = |a: Option<&str>, b: Option<&str>| match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => decode_bytes(a) == decode_bytes(b),
            _ => false,
        };
        if !escaped_eq(self.user(), other.user())
            || !escaped_eq(self.password(), other.password())
            || !self.host().matches(&other.host())
            || self.port() != other.port()
        {
            return false;
        }
        let value_eq = |a: Option<&str>, b: Option<&str>| match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => decode_bytes(a).eq_ignore_ascii_case(&decode_bytes(b)),
            _ => false,
        };
        const MUST_MATCH: [&str; 5] = ["user", "ttl", "method", "maddr", "transport"];
        let (pa, pb) = (self.params(), other.params());
        for name in MUST_MATCH {
            match (pa.get(name), pb.get(name)) {
                (None, None) => {}
                (Some(a), Some(b)) if value_eq(a, b) => {}
                _ => return false,
            }
        }
        for (name, value) in pa.iter() {
            if MUST_MATCH.iter().any(|m| m.eq_ignore_ascii_case(name)) {
                continue;
            }
            if let Some(theirs) = pb.get(name) {
                if !value_eq(value, theirs) {
                    return false;
                }
            }
        }
        let (mine, theirs) = (uri_headers(self.headers()), uri_headers(other.headers()));
        let contains = |set: &[HeaderPair<'_>], (k, v): &HeaderPair<'_>| {
            set.iter()
                .any(|(k2, v2)| k2.eq_ignore_ascii_case(k) && v2 == v)
        };
        mine.len() == theirs.len()
            && mine.iter().all(|h| contains(&theirs, h))
            && theirs.iter().all(|h| contains(&mine, h))
    }
}

/// A URI header `name=value`, both percent-decoded.
type HeaderPair<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

fn uri_headers(headers: Option<&str>) -> Vec<HeaderPair<'_>> {
    headers
        .into_iter()
        .flat_map(|h| h.split('&'))
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode_bytes(k), decode_bytes(v))
        })
        .collect()
}

/// RFC 3966 §4: numbers compare without visual separators, parameters by
/// name regardless of order, all of them present in both.
fn tel_equivalent(a: &UriRef<'_>, b: &UriRef<'_>) -> bool {
    let digits = |u: &UriRef<'_>| -> Vec<u8> {
        u.user()
            .unwrap_or("")
            .bytes()
            .filter(|c| !matches!(c, b'-' | b'.' | b'(' | b')'))
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    if digits(a) != digits(b) {
        return false;
    }
    let (pa, pb) = (a.params(), b.params());
    pa.iter().count() == pb.iter().count()
        && pa.iter().all(|(name, value)| match (value, pb.get(name)) {
            (None, Some(None)) => true,
            (Some(x), Some(Some(y))) => decode_bytes(x).eq_ignore_ascii_case(&decode_bytes(y)),
            _ => false,
        })
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uri({:?})", self.as_str())
    }
}

impl fmt::Display for UriRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

impl fmt::Debug for UriRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UriRef({:?})", self.text)
    }
}

impl PartialEq for Uri {
    fn eq(&self, other: &Uri) -> bool {
        self.text == other.text
    }
}

impl Eq for Uri {}

impl Hash for Uri {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl std::str::FromStr for Uri {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Uri, UriError> {
        Uri::parse(s)
    }
}

impl<'a> From<&UriRef<'a>> for Uri {
    fn from(r: &UriRef<'a>) -> Uri {
        r.to_uri()
    }
}

/// Decodes `%HH` escapes; invalid escapes are kept as written and invalid
/// UTF-8 is replaced (U+FFFD).
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    match decode_bytes(s) {
        Cow::Borrowed(_) => Cow::Borrowed(s),
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

fn decode_bytes(s: &str) -> Cow<'_, [u8]> {
    let b = s.as_bytes();
    if memchr::memchr(b'%', b).is_none() {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (b.get(i + 1).and_then(hex), b.get(i + 2).and_then(hex)) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(out)
}

fn hex(c: &u8) -> Option<u8> {
    (*c as char).to_digit(16).map(|d| d as u8)
}

// ---- parsing ----

/// Parses any supported URI form: the usual `sip:` URI in one pass (see
/// [`plain_sip`]), everything else, and every error, by the general parser.
pub(crate) fn parse_uri(s: &str) -> Result<UriParts, UriError> {
    match plain_sip(s) {
        Some((parts, len)) if len == s.len() && u32::try_from(len).is_ok() => Ok(parts),
        _ => parse_uri_general(s),
    }
}

/// [`parse_uri`] without the fast path.
pub(crate) fn parse_uri_general(s: &str) -> Result<UriParts, UriError> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(UriError::Empty);
    }
    if u32::try_from(b.len()).is_err() {
        return Err(UriError::TooLong {
            limit: u32::MAX as usize,
        });
    }
    let (colon, scheme) = match sip_scheme(b) {
        Some(found) => found,
        None => other_scheme(b)?,
    };
    match scheme {
        Scheme::Sip | Scheme::Sips => parse_sip(s, colon + 1, scheme),
        Scheme::Tel => parse_tel(s, colon + 1),
        Scheme::Other => {
            let rest = &b[colon + 1..];
            if rest.is_empty() {
                return Err(UriError::Empty);
            }
            if !rest
                .iter()
                .all(|&c| (0x21..0x7f).contains(&c) && !matches!(c, b'<' | b'>' | b'"'))
            {
                return Err(UriError::BadCharacter);
            }
            Ok(UriParts {
                scheme,
                user: None,
                password: None,
                host: HostPart::None,
                port: None,
                params: Span::new(b.len(), b.len()),
                headers: None,
            })
        }
    }
}

/// `sip:` or `sips:` in any letter case: the index of the colon and the
/// scheme (the common case, without a search for the colon).
#[inline]
pub(crate) fn sip_scheme(b: &[u8]) -> Option<(usize, Scheme)> {
    // `| 0x20` lower-cases a letter and maps no other byte to one.
    let head = u32::from_le_bytes(b.get(..4)?.try_into().ok()?);
    if head | 0x0020_2020 == u32::from_le_bytes(*b"sip:") {
        Some((3, Scheme::Sip))
    } else if head | 0x2020_2020 == u32::from_le_bytes(*b"sips") && b.get(4) == Some(&b':') {
        Some((4, Scheme::Sips))
    } else {
        None
    }
}

/// `scheme ":"` with scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
fn other_scheme(b: &[u8]) -> Result<(usize, Scheme), UriError> {
    let colon = memchr::memchr(b':', b).ok_or(UriError::BadScheme)?;
    let scheme_text = &b[..colon];
    let scheme_ok = scheme_text.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme_text
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Err(UriError::BadScheme);
    }
    let scheme = if scheme_text.eq_ignore_ascii_case(b"sip") {
        Scheme::Sip
    } else if scheme_text.eq_ignore_ascii_case(b"sips") {
        Scheme::Sips
    } else if scheme_text.eq_ignore_ascii_case(b"tel") {
        Scheme::Tel
    } else {
        Scheme::Other
    };
    Ok((colon, scheme))
}

/// A `sip:`/`sips:` URI of the usual shape at the start of `s`, in one
/// pass: `user@` of user characters (no escapes or password) or no user, a
/// hostname or IPv4address, an optional port, parameters without escapes,
/// no headers. Returns its parts and its length: where it stops, which is
/// the end of `s` for a whole URI and the `>` of a name-addr. `None` for
/// anything else, which [`parse_sip`] handles and reports.
pub(crate) fn plain_sip(s: &str) -> Option<(UriParts, usize)> {
    plain_sip_bytes(s.as_bytes())
}

/// [`plain_sip`] on bytes: what it accepts is ASCII, so the bytes up to
/// the length returned are UTF-8.
#[inline(always)]
pub(crate) fn plain_sip_bytes(b: &[u8]) -> Option<(UriParts, usize)> {
    let (colon, scheme) = sip_scheme(b)?;
    let start = colon + 1;
    let run = text::skip(b, start, text::USER);
    let (user, host_start) = match b.get(run) {
        Some(b'@') if run > start => (Some(Span::new(start, run)), run + 1),
        Some(b'@') => return None,
        // ':' is not a user character: an '@' after it and before the end
        // of the URI (a `>`, or the SP after a Request-URI) means a
        // password or an error.
        _ => match memchr::memchr3(b'@', b'>', b' ', &b[run..]) {
            Some(at) if b[run + at] == b'@' => return None,
            _ => (None, start),
        },
    };
    let (host, host_end) = host_at_bytes(b, host_start)?;
    let host = match host {
        HostKind::Name => HostPart::Name(Span::new(host_start, host_end)),
        HostKind::Ipv4(a) => HostPart::V4(a),
    };
    let mut pos = host_end;
    let mut port = None;
    if b.get(pos) == Some(&b':') {
        let (number, end) = port_at(b, pos + 1)?;
        port = Some(number);
        pos = end;
    }
    let mut params = Span::new(pos, pos);
    if b.get(pos) == Some(&b';') {
        let end = plain_params(b, pos + 1)?;
        params = Span::new(pos + 1, end);
        pos = end;
    }
    let parts = UriParts {
        scheme,
        user,
        password: None,
        host,
        port,
        params,
        headers: None,
    };
    Some((parts, pos))
}

/// uri-parameters from `b[i]` (after the `;`) without escapes: where they
/// stop (the first byte that cannot continue them).
#[inline]
fn plain_params(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let name_end = text::skip(b, i, text::PARAM);
        if name_end == i {
            return None;
        }
        i = name_end;
        if b.get(i) == Some(&b'=') {
            let value_end = text::skip(b, i + 1, text::PARAM);
            if value_end == i + 1 {
                return None;
            }
            i = value_end;
        }
        if b.get(i) != Some(&b';') {
            return Some(i);
        }
        i += 1;
    }
}

fn parse_sip(s: &str, start: usize, scheme: Scheme) -> Result<UriParts, UriError> {
    let b = s.as_bytes();
    let len = b.len();
    let mut pos = start;
    let mut user = None;
    let mut password = None;
    if let Some(at) = find(&b[pos..], b'@') {
        let end = pos + at;
        let userinfo = &b[pos..end];
        let user_end = match find(userinfo, b':') {
            Some(c) => {
                check_chars(&b[pos + c + 1..end], text::PASSWORD)
                    .map_err(|e| e.or(UriError::BadPassword))?;
                password = Some(Span::new(pos + c + 1, end));
                pos + c
            }
            None => end,
        };
        if user_end == pos {
            return Err(UriError::BadUser);
        }
        check_chars(&b[pos..user_end], text::USER).map_err(|e| e.or(UriError::BadUser))?;
        user = Some(Span::new(pos, user_end));
        pos = end + 1;
    }
    let host_start = pos;
    let host_end = if b.get(pos) == Some(&b'[') {
        find(&b[pos..], b']')
            .map(|i| pos + i + 1)
            .ok_or(UriError::BadHost)?
    } else {
        b[pos..]
            .iter()
            .position(|&c| matches!(c, b':' | b';' | b'?'))
            .map_or(len, |i| pos + i)
    };
    if host_end == host_start {
        return Err(UriError::MissingHost);
    }
    let host = match parse_host(&s[host_start..host_end], false).ok_or(UriError::BadHost)? {
        Host::Name(_) => HostPart::Name(Span::new(host_start, host_end)),
        Host::Ipv4(a) => HostPart::V4(a),
        Host::Ipv6(a) => HostPart::V6(a),
    };
    pos = host_end;
    let mut port = None;
    if b.get(pos) == Some(&b':') {
        let port_start = pos + 1;
        let port_end = b[port_start..]
            .iter()
            .position(|&c| c == b';' || c == b'?')
            .map_or(len, |i| port_start + i);
        port = Some(parse_port(&b[port_start..port_end]).ok_or(UriError::BadPort)?);
        pos = port_end;
    }
    let mut params = Span::new(pos, pos);
    if b.get(pos) == Some(&b';') {
        let params_start = pos + 1;
        let params_end = params_start + check_params(&b[params_start..])?;
        params = Span::new(params_start, params_end);
        pos = params_end;
    }
    let mut headers = None;
    if b.get(pos) == Some(&b'?') {
        check_headers(&b[pos + 1..])?;
        headers = Some(Span::new(pos + 1, len));
        pos = len;
    }
    if pos != len {
        return Err(UriError::BadHost);
    }
    Ok(UriParts {
        scheme,
        user,
        password,
        host,
        port,
        params,
        headers,
    })
}

fn parse_tel(s: &str, start: usize) -> Result<UriParts, UriError> {
    let b = s.as_bytes();
    let len = b.len();
    let number_end = memchr::memchr(b';', &b[start..]).map_or(len, |i| start + i);
    let number = &b[start..number_end];
    let visual = |c: u8| matches!(c, b'-' | b'.' | b'(' | b')');
    let valid = match number.split_first() {
        Some((b'+', digits)) => {
            digits.iter().all(|&c| c.is_ascii_digit() || visual(c))
                && digits.iter().any(u8::is_ascii_digit)
        }
        _ => {
            let dial = |c: u8| c.is_ascii_hexdigit() || c == b'*' || c == b'#';
            number.iter().all(|&c| dial(c) || visual(c)) && number.iter().any(|&c| dial(c))
        }
    };
    if !valid {
        return Err(UriError::BadTelNumber);
    }
    let mut params = Span::new(number_end, number_end);
    if number_end < len {
        if number_end + 1 + check_params(&b[number_end + 1..])? != len {
            return Err(UriError::BadParameter);
        }
        params = Span::new(number_end + 1, len);
    }
    if number.first() != Some(&b'+')
        && !Params::from_validated(params.of(s)).contains("phone-context")
    {
        return Err(UriError::MissingPhoneContext);
    }
    Ok(UriParts {
        scheme: Scheme::Tel,
        user: Some(Span::new(start, number_end)),
        password: None,
        host: HostPart::None,
        port: None,
        params,
        headers: None,
    })
}

/// The digits at `b[from..]` read as a port, and where they end: what
/// [`parse_port`] gives for the whole run of digits there, in one pass.
#[inline]
pub(crate) fn port_at(b: &[u8], from: usize) -> Option<(u16, usize)> {
    let mut n = 0u32;
    let mut i = from;
    while let Some(d) = b.get(i).map(|&c| c.wrapping_sub(b'0')).filter(|&d| d < 10) {
        if i - from == 5 {
            return None;
        }
        n = n * 10 + u32::from(d);
        i += 1;
    }
    if i == from {
        return None;
    }
    Some((u16::try_from(n).ok()?, i))
}

/// 1*DIGIT that fits in u16.
#[inline]
pub(crate) fn parse_port(b: &[u8]) -> Option<u16> {
    if b.is_empty() || b.len() > 5 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter()
        .try_fold(0u32, |n, &c| Some(n * 10 + u32::from(c - b'0')))
        .and_then(|n| u16::try_from(n).ok())
}

/// `Err(None)` for a bad escape, `Err(Some(..))` is never produced here; the
/// caller maps a disallowed character to its own error.
fn check_chars(b: &[u8], class: u16) -> Result<(), CharError> {
    if text::all(b, class) {
        return Ok(());
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return Err(CharError::Escape);
            }
            i += 3;
            continue;
        }
        if !text::is(c, class) {
            return Err(CharError::Disallowed);
        }
        i += 1;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum CharError {
    Escape,
    Disallowed,
}

impl CharError {
    fn or(self, disallowed: UriError) -> UriError {
        match self {
            CharError::Escape => UriError::BadEscape,
            CharError::Disallowed => disallowed,
        }
    }
}

/// The first index of `c` in a short slice.
#[inline]
fn find(b: &[u8], c: u8) -> Option<usize> {
    b.iter().position(|&x| x == c)
}

/// `pname [ "=" pvalue ] *( ";" pname [ "=" pvalue ] )`, both 1*paramchar,
/// up to `?` or the end; returns the length checked.
fn check_params(b: &[u8]) -> Result<usize, UriError> {
    let mut i = 0;
    let mut run = 0;
    let mut in_value = false;
    while i < b.len() {
        let c = b[i];
        if c == b'?' {
            break;
        }
        if c == b';' || (c == b'=' && !in_value) {
            if run == 0 {
                return Err(UriError::BadParameter);
            }
            in_value = c == b'=';
            run = 0;
            i += 1;
        } else if c == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return Err(UriError::BadEscape);
            }
            run += 1;
            i += 3;
        } else if text::is(c, text::PARAM) {
            run += 1;
            i += 1;
        } else {
            return Err(UriError::BadParameter);
        }
    }
    if run == 0 {
        return Err(UriError::BadParameter);
    }
    Ok(i)
}

fn check_headers(b: &[u8]) -> Result<(), UriError> {
    for header in b.split(|&c| c == b'&') {
        let eq = memchr::memchr(b'=', header).ok_or(UriError::BadHeaders)?;
        if eq == 0 {
            return Err(UriError::BadHeaders);
        }
        check_chars(&header[..eq], text::HNV).map_err(|e| e.or(UriError::BadHeaders))?;
        check_chars(&header[eq + 1..], text::HNV).map_err(|e| e.or(UriError::BadHeaders))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn full_sip_uri() {
        let u = Uri::parse("sips:alice:secret@Example.com:5061;transport=tls;lr;maddr=239.255.255.1?subject=hi&priority=urgent")
            .unwrap();
        assert_eq!(u.scheme(), Scheme::Sips);
        assert_eq!(u.user(), Some("alice"));
        assert_eq!(u.password(), Some("secret"));
        assert_eq!(u.host(), Host::Name("Example.com"));
        assert_eq!(u.port(), Some(5061));
        assert_eq!(u.transport(), Some("tls"));
        assert_eq!(u.param("lr"), Some(None));
        assert_eq!(u.params().value("maddr"), Some("239.255.255.1"));
        assert_eq!(u.headers(), Some("subject=hi&priority=urgent"));
        assert_eq!(u.to_string(), u.as_str());
    }

    #[test]
    fn ipv6_and_ipv4_hosts() {
        let u = Uri::parse("sip:[2001:db8::10]:5070;transport=udp").unwrap();
        assert_eq!(u.host(), Host::Ipv6("2001:db8::10".parse().unwrap()));
        assert_eq!(u.port(), Some(5070));
        let u = Uri::parse("sip:+15551230000@192.0.2.4").unwrap();
        assert_eq!(u.host(), Host::Ipv4(Ipv4Addr::new(192, 0, 2, 4)));
        assert_eq!(u.port(), None);
        assert_eq!(u.user(), Some("+15551230000"));
    }

    #[test]
    fn user_with_reserved_chars_and_escapes() {
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user(), Some("user;par=u%40example.net"));
        assert_eq!(percent_decode(u.user().unwrap()), "user;par=u@example.net");
        let u = Uri::parse("sip:sips%3Auser%40example.com@example.net").unwrap();
        assert_eq!(percent_decode(u.user().unwrap()), "sips:user@example.com");
    }

    #[test]
    fn tel_uris() {
        let u = Uri::parse("tel:+1-201-555-0123;ext=42").unwrap();
        assert_eq!(u.scheme(), Scheme::Tel);
        assert_eq!(u.user(), Some("+1-201-555-0123"));
        assert_eq!(u.params().value("ext"), Some("42"));
        assert_eq!(u.host(), Host::Name(""));
        assert!(Uri::parse("tel:7042;phone-context=example.com").is_ok());
        assert_eq!(
            Uri::parse("tel:7042").unwrap_err(),
            UriError::MissingPhoneContext
        );
        assert_eq!(Uri::parse("tel:+").unwrap_err(), UriError::BadTelNumber);
        assert_eq!(
            Uri::parse("tel:+1 555").unwrap_err(),
            UriError::BadTelNumber
        );
    }

    #[test]
    fn other_schemes_are_opaque() {
        let u = Uri::parse("urn:service:sos").unwrap();
        assert_eq!(u.scheme(), Scheme::Other);
        assert_eq!(u.as_str(), "urn:service:sos");
        assert_eq!(
            Uri::parse("http://a b").unwrap_err(),
            UriError::BadCharacter
        );
    }

    #[test]
    fn malformed_uris() {
        let cases = [
            ("", UriError::Empty),
            ("nocolon", UriError::BadScheme),
            ("1sip:a@b", UriError::BadScheme),
            ("sip:", UriError::MissingHost),
            ("sip:user@", UriError::MissingHost),
            ("sip:@host", UriError::BadUser),
            ("sip:us er@host", UriError::BadUser),
            ("sip:u%4@host", UriError::BadEscape),
            ("sip:host:99999", UriError::BadPort),
            ("sip:host:", UriError::BadPort),
            ("sip:host:5x", UriError::BadPort),
            ("sip:ho st", UriError::BadHost),
            ("sip:[::1", UriError::BadHost),
            ("sip:[::1]x", UriError::BadHost),
            ("sip:host;=x", UriError::BadParameter),
            ("sip:host;a=", UriError::BadParameter),
            ("sip:host;a b", UriError::BadParameter),
            ("sip:host?noequals", UriError::BadHeaders),
            ("sip:host?a=b c", UriError::BadHeaders),
            ("sip:a:p w@host", UriError::BadPassword),
        ];
        for (input, err) in cases {
            assert_eq!(Uri::parse(input).unwrap_err(), err, "{input:?}");
        }
        assert_eq!(
            Uri::parse([0xff, b':', b'a']).unwrap_err(),
            UriError::NotUtf8
        );
    }

    #[test]
    fn comparison_rfc3261_19_1_4_equal() {
        let pairs = [
            (
                "sip:%61lice@atlanta.com;transport=TCP",
                "sip:alice@AtLanTa.CoM;Transport=tcp",
            ),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
            (
                "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
            ),
            (
                "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
                "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
            ),
            ("tel:+1-201-555-0123", "tel:+1.201.555.0123"),
        ];
        for (a, b) in pairs {
            let (a, b) = (Uri::parse(a).unwrap(), Uri::parse(b).unwrap());
            assert!(a.equivalent(&b), "{a} vs {b}");
            assert!(b.equivalent(&a), "{b} vs {a}");
        }
    }

    #[test]
    fn comparison_rfc3261_19_1_4_not_equal() {
        let pairs = [
            (
                "SIP:ALICE@AtLanTa.CoM;Transport=udp",
                "sip:alice@AtLanTa.CoM;Transport=UDP",
            ),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
            (
                "sip:bob@biloxi.com",
                "sip:bob@biloxi.com:6000;transport=tcp",
            ),
            (
                "sip:carol@chicago.com",
                "sip:carol@chicago.com?Subject=next%20meeting",
            ),
            ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
            (
                "sip:carol@chicago.com;security=on",
                "sip:carol@chicago.com;security=off",
            ),
            ("sip:a@b", "sips:a@b"),
            ("tel:+1-201-555-0123", "tel:+1-201-555-0124"),
        ];
        for (a, b) in pairs {
            let (a, b) = (Uri::parse(a).unwrap(), Uri::parse(b).unwrap());
            assert!(!a.equivalent(&b), "{a} vs {b}");
        }
    }

    #[test]
    fn with_param_keeps_headers_last() {
        let u = Uri::parse("sip:a@b;x=1?h=v").unwrap();
        let v = u.with_param("lr", None).unwrap();
        assert_eq!(v.as_str(), "sip:a@b;x=1;lr?h=v");
        assert_eq!(v.param("lr"), Some(None));
        assert!(u.with_param("bad name", None).is_err());
    }
}
