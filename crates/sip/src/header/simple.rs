//! Single-value and token-list headers: Call-ID (§20.8), CSeq (§20.16,
//! §8.1.1.5), Max-Forwards (§20.22), Content-Length (§20.14), Content-Type
//! (§20.15), Expires/Min-Expires (§20.19, §20.23), Allow (§20.5),
//! Supported/Require/Proxy-Require/Unsupported (§20.37, §20.32, §20.29,
//! §20.40), Privacy (RFC 3323), User-Agent/Server (§20.41, §20.35).

use std::fmt;
use std::ops::Range;

use super::map::Headers;
use super::name::HeaderName;
use crate::error::HeaderError;
use crate::method::Method;
use crate::params::Params;
use crate::text::{
    self, comment_end, find_byte, is_token, is_token_byte, is_wsp, parse_delta_seconds,
    parse_u32_bytes, split_byte, trim, trim_bytes,
};

/// The CSeq header: sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CSeq {
    /// Sequence number, below 2^31 (RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// The method of the request.
    pub method: Method,
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// A media type such as `application/sdp` (RFC 3261 §20.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaType<'a> {
    /// The type, e.g. `application`.
    pub mtype: &'a str,
    /// The subtype, e.g. `sdp`.
    pub subtype: &'a str,
    /// Parameters such as `charset`.
    pub params: Params<'a>,
}

impl MediaType<'_> {
    /// Case-insensitive comparison of type and subtype.
    pub fn is(&self, mtype: &str, subtype: &str) -> bool {
        self.mtype.eq_ignore_ascii_case(mtype) && self.subtype.eq_ignore_ascii_case(subtype)
    }
}

impl fmt::Display for MediaType<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.mtype, self.subtype)?;
        if !self.params.is_empty() {
            write!(f, ";{}", self.params.as_str())?;
        }
        Ok(())
    }
}

/// `1*DIGIT LWS Method`: the number and where the method is in `b` (the
/// message parser compares it with the request method without
/// allocating).
pub(crate) fn parse_cseq_bytes(b: &[u8]) -> Result<(u32, Range<usize>), &'static str> {
    match usual_cseq(b) {
        Some(found) => Ok(found),
        None => parse_cseq_general(b),
    }
}

/// [`parse_cseq_bytes`] without the fast path.
pub(crate) fn parse_cseq_general(b: &[u8]) -> Result<(u32, Range<usize>), &'static str> {
    let mut start = 0;
    while start < b.len() && is_wsp(b[start]) {
        start += 1;
    }
    let mut end = b.len();
    while end > start && is_wsp(b[end - 1]) {
        end -= 1;
    }
    let digits = b[start..end]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let space = start + digits;
    if !b[..end].get(space).is_some_and(|&c| is_wsp(c)) {
        // The number does not run up to the first LWS.
        return Err(if b[start..end].iter().any(|&c| is_wsp(c)) {
            "sequence number is not a number"
        } else {
            "missing method"
        });
    }
    if digits == 0 {
        return Err("sequence number is not a number");
    }
    let seq = parse_u32_bytes(&b[start..space])
        .filter(|&n| n < 1 << 31)
        .ok_or("sequence number exceeds 2^31-1")?;
    let mut method_start = space;
    while is_wsp(b[method_start]) {
        method_start += 1;
    }
    let method = &b[method_start..end];
    if method.is_empty() || !text::all(method, text::TOKEN) {
        return Err("invalid method");
    }
    Ok((seq, method_start..end))
}

/// The usual CSeq, `digits SP method` without other LWS and with a
/// sequence number below 2^31, in one pass; `None` for anything else,
/// which [`parse_cseq_bytes`] decides.
#[inline]
pub(crate) fn usual_cseq(b: &[u8]) -> Option<(u32, Range<usize>)> {
    let mut seq: u64 = 0;
    let mut i = 0;
    while let Some(d) = b
        .get(i)
        .and_then(|c| c.checked_sub(b'0'))
        .filter(|&d| d <= 9)
    {
        seq = seq * 10 + u64::from(d);
        i += 1;
        if i > 10 {
            return None;
        }
    }
    if i == 0 || b.get(i) != Some(&b' ') || i + 1 == b.len() || seq >= 1 << 31 {
        return None;
    }
    if !text::all(&b[i + 1..], text::TOKEN) {
        return None;
    }
    Some((seq as u32, i + 1..b.len()))
}

/// `1*DIGIT` in 0..=255.
#[inline]
pub(crate) fn parse_max_forwards_bytes(b: &[u8]) -> Result<u8, &'static str> {
    // The usual value: one or two digits.
    match *b {
        [d] if d.is_ascii_digit() => return Ok(d - b'0'),
        [d1, d0] if d1.is_ascii_digit() && d0.is_ascii_digit() => {
            return Ok((d1 - b'0') * 10 + (d0 - b'0'))
        }
        _ => {}
    }
    let b = trim_bytes(b);
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return Err("not a number");
    }
    parse_u32_bytes(b)
        .and_then(|n| u8::try_from(n).ok())
        .ok_or("exceeds 255")
}

/// `1*DIGIT` in 0..=255.
pub(crate) fn parse_max_forwards(s: &str) -> Result<u8, &'static str> {
    parse_max_forwards_bytes(s.as_bytes())
}

/// `1*DIGIT` as usize.
pub(crate) fn parse_content_length(s: &[u8]) -> Result<usize, &'static str> {
    // Up to 19 digits cannot overflow a u64.
    if (1..=19).contains(&s.len()) && usize::BITS == 64 {
        let mut n: u64 = 0;
        for &c in s {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return Err("not a number");
            }
            n = n * 10 + u64::from(d);
        }
        if let Ok(n) = usize::try_from(n) {
            return Ok(n);
        }
    }
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return Err("not a number");
    }
    s.iter()
        .try_fold(0usize, |n, &b| {
            n.checked_mul(10)?.checked_add(usize::from(b - b'0'))
        })
        .ok_or("value too large")
}

/// `callid = word [ "@" word ]` (RFC 3261 §25.1).
pub(crate) fn check_call_id(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err("empty");
    }
    // `@` is not a word character: the first run of them ends at it.
    let word_end = text::skip(b, 0, text::WORD);
    if word_end == b.len() {
        return Ok(());
    }
    let well_formed = match b.get(word_end) {
        None => true,
        Some(b'@') => {
            word_end > 0
                && word_end + 1 < b.len()
                && text::skip(b, word_end + 1, text::WORD) == b.len()
        }
        Some(_) => false,
    };
    if well_formed {
        Ok(())
    } else {
        Err("not word[@word]")
    }
}

fn parse_media_type(s: &str) -> Result<MediaType<'_>, &'static str> {
    let (essence, params) = match find_byte(s, b';') {
        Some(semi) => (&s[..semi], Params::parse_header(&s[semi + 1..])?),
        None => (s, Params::default()),
    };
    let (mtype, subtype) = split_byte(essence, b'/').ok_or("missing /")?;
    let (mtype, subtype) = (trim(mtype), trim(subtype));
    if !is_token(mtype) || !is_token(subtype) {
        return Err("type or subtype is not a token");
    }
    Ok(MediaType {
        mtype,
        subtype,
        params,
    })
}

/// `server-val *(LWS server-val)`; server-val = product / comment.
fn check_server_vals(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err("empty");
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' => i += 1,
            b'(' => i += comment_end(&b[i..]).ok_or("unterminated comment")?,
            _ => {
                let start = i;
                while i < b.len() && (is_token_byte(b[i]) || b[i] == b'/') {
                    i += 1;
                }
                if i == start {
                    return Err("invalid product");
                }
            }
        }
    }
    Ok(())
}

impl Headers {
    /// Call-ID (mandatory).
    pub fn call_id(&self) -> Result<&str, HeaderError> {
        // The usual value needs no trimming; anything else (and every
        // error) takes the general path.
        if let Some(v) = self.first_line_str(HeaderName::CallId) {
            if check_call_id(v).is_ok() {
                return Ok(v);
            }
        }
        let v = self.required_str(HeaderName::CallId)?;
        check_call_id(v).map_err(|r| HeaderError::invalid("Call-ID", r))?;
        Ok(v)
    }

    /// CSeq (mandatory).
    pub fn cseq(&self) -> Result<CSeq, HeaderError> {
        if let Some(cseq) = self.parsed_cseq() {
            return Ok(cseq.clone());
        }
        let v = self.required_str(HeaderName::CSeq)?;
        let (seq, method) =
            parse_cseq_bytes(v.as_bytes()).map_err(|r| HeaderError::invalid("CSeq", r))?;
        let method = Method::from_bytes(&v.as_bytes()[method])
            .map_err(|_| HeaderError::invalid("CSeq", "invalid method"))?;
        Ok(CSeq { seq, method })
    }

    /// Max-Forwards (mandatory in requests).
    pub fn max_forwards(&self) -> Result<u8, HeaderError> {
        parse_max_forwards(self.required_str(HeaderName::MaxForwards)?)
            .map_err(|r| HeaderError::invalid("Max-Forwards", r))
    }

    /// Content-Length, if present.
    pub fn content_length(&self) -> Result<Option<usize>, HeaderError> {
        match self.first_str(HeaderName::ContentLength)? {
            None => Ok(None),
            Some(v) => parse_content_length(v.as_bytes())
                .map(Some)
                .map_err(|r| HeaderError::invalid("Content-Length", r)),
        }
    }

    /// Content-Type, if present.
    pub fn content_type(&self) -> Result<Option<MediaType<'_>>, HeaderError> {
        match self.first_str(HeaderName::ContentType)? {
            None => Ok(None),
            Some(v) => parse_media_type(v)
                .map(Some)
                .map_err(|r| HeaderError::invalid("Content-Type", r)),
        }
    }

    /// Expires (delta-seconds; values above 2^32-1 saturate).
    pub fn expires(&self) -> Result<Option<u32>, HeaderError> {
        self.delta_seconds(HeaderName::Expires)
    }

    /// Min-Expires (delta-seconds).
    pub fn min_expires(&self) -> Result<Option<u32>, HeaderError> {
        self.delta_seconds(HeaderName::MinExpires)
    }

    fn delta_seconds(&self, name: HeaderName) -> Result<Option<u32>, HeaderError> {
        let label = name.static_str();
        match self.first_str(name)? {
            None => Ok(None),
            Some(v) => parse_delta_seconds(v)
                .map(Some)
                .ok_or(HeaderError::invalid(label, "not delta-seconds")),
        }
    }

    /// Allow: the methods listed in every Allow line.
    pub fn allow(&self) -> impl Iterator<Item = Result<Method, HeaderError>> + '_ {
        self.list_items(HeaderName::Allow).map(|item| {
            item.and_then(|m| {
                Method::from_bytes(m.as_bytes())
                    .map_err(|_| HeaderError::invalid("Allow", "invalid method"))
            })
        })
    }

    /// Supported option-tags.
    pub fn supported(&self) -> impl Iterator<Item = Result<&str, HeaderError>> + '_ {
        self.tokens(HeaderName::Supported)
    }

    /// Require option-tags.
    pub fn require(&self) -> impl Iterator<Item = Result<&str, HeaderError>> + '_ {
        self.tokens(HeaderName::Require)
    }

    /// Proxy-Require option-tags.
    pub fn proxy_require(&self) -> impl Iterator<Item = Result<&str, HeaderError>> + '_ {
        self.tokens(HeaderName::ProxyRequire)
    }

    /// Unsupported option-tags.
    pub fn unsupported(&self) -> impl Iterator<Item = Result<&str, HeaderError>> + '_ {
        self.tokens(HeaderName::Unsupported)
    }

    /// Allow-Events event types (RFC 6665).
    pub fn allow_events(&self) -> impl Iterator<Item = Result<&str, HeaderError>> + '_ {
        self.tokens(HeaderName::AllowEvents)
    }

    /// Whether `tag` is listed in Supported (or Require), ignoring bad ones.
    pub fn supports(&self, tag: &str) -> bool {
        self.supported()
            .chain(self.require())
            .any(|t| t.is_ok_and(|t| t.eq_ignore_ascii_case(tag)))
    }

    fn tokens(&self, name: HeaderName) -> impl Iterator<Item = Result<&str, HeaderError>> + '_ {
        let label = name.static_str();
        self.list_items(name).map(move |item| {
            item.and_then(|t| {
                if is_token(t) {
                    Ok(t)
                } else {
                    Err(HeaderError::invalid(label, "option-tag is not a token"))
                }
            })
        })
    }

    /// Privacy values (RFC 3323: `priv-value *(";" priv-value)`).
    pub fn privacy(&self) -> impl Iterator<Item = Result<&str, HeaderError>> + '_ {
        self.values(HeaderName::Privacy).flat_map(|line| {
            let items: Vec<Result<&str, HeaderError>> = match std::str::from_utf8(line) {
                Err(_) => vec![Err(HeaderError::invalid("Privacy", "not valid UTF-8"))],
                Ok(line) => line
                    .split(';')
                    .map(|v| {
                        let v = trim(v);
                        if is_token(v) {
                            Ok(v)
                        } else {
                            Err(HeaderError::invalid("Privacy", "priv-value is not a token"))
                        }
                    })
                    .collect(),
            };
            items
        })
    }

    /// User-Agent as written.
    pub fn user_agent(&self) -> Result<Option<&str>, HeaderError> {
        self.server_vals(HeaderName::UserAgent)
    }

    /// Server as written.
    pub fn server(&self) -> Result<Option<&str>, HeaderError> {
        self.server_vals(HeaderName::Server)
    }

    fn server_vals(&self, name: HeaderName) -> Result<Option<&str>, HeaderError> {
        let label = name.static_str();
        match self.first_str(name)? {
            None => Ok(None),
            Some(v) => check_server_vals(v)
                .map(|()| Some(v))
                .map_err(|r| HeaderError::invalid(label, r)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(lines: &[(HeaderName, &'static str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in lines {
            h.push(n.clone(), *v);
        }
        h
    }

    #[test]
    fn cseq() {
        let h = headers(&[(HeaderName::CSeq, "314159 INVITE")]);
        assert_eq!(
            h.cseq().unwrap(),
            CSeq {
                seq: 314159,
                method: Method::Invite
            }
        );
        assert_eq!(h.cseq().unwrap().to_string(), "314159 INVITE");
        let h = headers(&[(HeaderName::CSeq, "  2147483647\tFOO ")]);
        assert_eq!(h.cseq().unwrap().seq, 2147483647);
        let bad = [
            ("2147483648 INVITE", "sequence number exceeds 2^31-1"),
            (
                "99999999999999999999 INVITE",
                "sequence number exceeds 2^31-1",
            ),
            ("-1 INVITE", "sequence number is not a number"),
            ("1", "missing method"),
            ("1 IN<VITE", "invalid method"),
        ];
        for (v, reason) in bad {
            let h = headers(&[(HeaderName::CSeq, v)]);
            assert_eq!(h.cseq(), Err(HeaderError::invalid("CSeq", reason)), "{v}");
        }
        assert_eq!(Headers::new().cseq(), Err(HeaderError::Missing("CSeq")));
    }

    #[test]
    fn max_forwards() {
        assert_eq!(
            headers(&[(HeaderName::MaxForwards, "70")]).max_forwards(),
            Ok(70)
        );
        assert_eq!(
            headers(&[(HeaderName::MaxForwards, "0")]).max_forwards(),
            Ok(0)
        );
        assert_eq!(
            headers(&[(HeaderName::MaxForwards, "256")]).max_forwards(),
            Err(HeaderError::invalid("Max-Forwards", "exceeds 255"))
        );
        assert_eq!(
            headers(&[(HeaderName::MaxForwards, "-1")]).max_forwards(),
            Err(HeaderError::invalid("Max-Forwards", "not a number"))
        );
        assert_eq!(
            Headers::new().max_forwards(),
            Err(HeaderError::Missing("Max-Forwards"))
        );
    }

    #[test]
    fn values_around_blanks_take_the_general_paths() {
        // Set values keep their blanks; the fast paths leave them to the
        // general ones, which trim.
        let h = headers(&[
            (HeaderName::CallId, " \tabc@def "),
            (HeaderName::From, "  <sip:a@b>;tag=x \t"),
            (HeaderName::To, "\t\"B\" <sip:c@d> "),
        ]);
        assert_eq!(h.call_id(), Ok("abc@def"));
        assert_eq!(h.from().unwrap().tag(), Some("x"));
        let to = h.to().unwrap();
        assert_eq!((to.display_name, to.uri.as_str()), (Some("B"), "sip:c@d"));
        let bad = headers(&[(HeaderName::CallId, " a b ")]);
        assert!(bad.call_id().is_err());
    }

    #[test]
    fn call_id() {
        assert_eq!(
            headers(&[(HeaderName::CallId, "a84b4c76e66710@pc33.atlanta.com")]).call_id(),
            Ok("a84b4c76e66710@pc33.atlanta.com")
        );
        assert_eq!(
            headers(&[(HeaderName::CallId, "{abc}<x>")]).call_id(),
            Ok("{abc}<x>")
        );
        for bad in ["a b", "a@b@c", "@b", "a@", "é"] {
            assert_eq!(
                headers(&[(HeaderName::CallId, bad)])
                    .call_id()
                    .map_err(|_| ()),
                Err(()),
                "{bad}"
            );
        }
    }

    #[test]
    fn content_length_and_type() {
        let h = headers(&[
            (HeaderName::ContentLength, "129"),
            (HeaderName::ContentType, "application/SDP ; charset=utf-8"),
        ]);
        assert_eq!(h.content_length(), Ok(Some(129)));
        let ct = h.content_type().unwrap().unwrap();
        assert!(ct.is("application", "sdp"));
        assert_eq!(ct.params.value("charset"), Some("utf-8"));
        assert_eq!(ct.to_string(), "application/SDP;charset=utf-8");
        assert_eq!(Headers::new().content_length(), Ok(None));
        assert_eq!(
            headers(&[(HeaderName::ContentLength, "99999999999999999999999")]).content_length(),
            Err(HeaderError::invalid("Content-Length", "value too large"))
        );
        assert_eq!(
            headers(&[(HeaderName::ContentLength, "-5")]).content_length(),
            Err(HeaderError::invalid("Content-Length", "not a number"))
        );
        assert_eq!(
            headers(&[(HeaderName::ContentType, "application")]).content_type(),
            Err(HeaderError::invalid("Content-Type", "missing /"))
        );
    }

    #[test]
    fn expires() {
        assert_eq!(
            headers(&[(HeaderName::Expires, "3600")]).expires(),
            Ok(Some(3600))
        );
        assert_eq!(
            headers(&[(HeaderName::MinExpires, "60")]).min_expires(),
            Ok(Some(60))
        );
        assert_eq!(
            headers(&[(HeaderName::Expires, "99999999999")]).expires(),
            Ok(Some(u32::MAX))
        );
        assert_eq!(
            headers(&[(HeaderName::Expires, "Thu, 01 Dec 1994")]).expires(),
            Err(HeaderError::invalid("Expires", "not delta-seconds"))
        );
        assert_eq!(Headers::new().expires(), Ok(None));
    }

    #[test]
    fn token_lists() {
        let h = headers(&[
            (HeaderName::Allow, "INVITE, ACK,BYE"),
            (HeaderName::Allow, "FOO"),
            (HeaderName::Supported, "timer, 100rel"),
            (HeaderName::Require, "replaces"),
            (HeaderName::ProxyRequire, "sec-agree"),
            (HeaderName::Unsupported, "foo"),
            (HeaderName::Privacy, "id; header"),
        ]);
        let allow: Vec<_> = h.allow().map(Result::unwrap).collect();
        assert_eq!(allow[..3], [Method::Invite, Method::Ack, Method::Bye]);
        assert_eq!(allow[3].as_str(), "FOO");
        assert_eq!(
            h.supported().map(Result::unwrap).collect::<Vec<_>>(),
            vec!["timer", "100rel"]
        );
        assert!(h.supports("TIMER") && h.supports("replaces") && !h.supports("path"));
        assert_eq!(h.require().count(), 1);
        assert_eq!(h.proxy_require().next(), Some(Ok("sec-agree")));
        assert_eq!(h.unsupported().next(), Some(Ok("foo")));
        assert_eq!(
            h.privacy().map(Result::unwrap).collect::<Vec<_>>(),
            vec!["id", "header"]
        );
        let bad = headers(&[(HeaderName::Supported, "a b"), (HeaderName::Privacy, "id;")]);
        assert!(bad.supported().next().unwrap().is_err());
        assert!(bad.privacy().any(|p| p.is_err()));
    }

    #[test]
    fn user_agent_and_server() {
        let h = headers(&[
            (
                HeaderName::UserAgent,
                "Softphone/1.0 (build 7; \\(x\\)) lib/2",
            ),
            (HeaderName::Server, "(unterminated"),
        ]);
        assert_eq!(
            h.user_agent(),
            Ok(Some("Softphone/1.0 (build 7; \\(x\\)) lib/2"))
        );
        assert_eq!(
            h.server(),
            Err(HeaderError::invalid("Server", "unterminated comment"))
        );
    }
}
