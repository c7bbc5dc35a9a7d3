//! Address headers: `name-addr / addr-spec` followed by parameters
//! (RFC 3261 §20.10 Contact, §20.20 From, §20.39 To, §20.30/§20.34
//! Record-Route/Route, RFC 3515 Refer-To, RFC 3892 Referred-By, RFC 3325
//! P-Asserted-Identity, RFC 7044 History-Info, RFC 3327 Path).

use std::fmt;

use super::map::Headers;
use super::name::HeaderName;
use crate::error::{HeaderError, UriError};
use crate::params::{AnyParam, Params};
use crate::text::{
    self, find_byte, is_token, is_wsp, parse_delta_seconds, quoted_end, trim, trim_start,
};
use crate::uri::{plain_sip_bytes, UriRef};

/// An address with its header parameters, borrowing the message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name: a quoted-string's inner text (escapes kept, see
    /// [`crate::unescape_quoted`]) or the tokens as written.
    pub display_name: Option<&'a str>,
    /// The address.
    pub uri: UriRef<'a>,
    /// Header parameters after the address (`;tag=..`, `;expires=..`).
    pub params: Params<'a>,
}

impl<'a> NameAddr<'a> {
    /// The `tag` parameter (From/To, RFC 3261 §19.3).
    #[inline]
    pub fn tag(&self) -> Option<&'a str> {
        self.params.value("tag")
    }

    /// The `expires` parameter of a Contact (delta-seconds, saturating).
    pub fn expires(&self) -> Option<u32> {
        self.params.value("expires").and_then(parse_delta_seconds)
    }

    /// The `q` parameter of a Contact in thousandths (`q=0.5` is 500).
    pub fn q(&self) -> Option<u16> {
        self.params.value("q").and_then(parse_qvalue)
    }

    /// One header parameter, see [`Params::get`].
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        self.params.get(name)
    }
}

impl fmt::Display for NameAddr<'_> {
    /// Always the name-addr form: `"Name" <uri>;params`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.display_name {
            if name.contains('"') && !name.contains('\\') {
                write!(f, "\"{}\" ", name.replace('"', "\\\""))?;
            } else {
                write!(f, "\"{name}\" ")?;
            }
        }
        write!(f, "<{}>", self.uri)?;
        if !self.params.is_empty() {
            write!(f, ";{}", self.params.as_str())?;
        }
        Ok(())
    }
}

/// The Contact header's value (RFC 3261 §20.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts<'a> {
    /// `Contact: *` (REGISTER removing all bindings).
    Star,
    /// The contacts in order (empty if there is no Contact header).
    List(Vec<NameAddr<'a>>),
}

/// Why a name-addr failed to parse.
#[derive(Debug)]
pub(crate) enum NameAddrError {
    Syntax(&'static str),
    Uri(UriError),
}

impl NameAddrError {
    pub(crate) fn into_header(self, header: &'static str) -> HeaderError {
        match self {
            NameAddrError::Syntax(reason) => HeaderError::invalid(header, reason),
            NameAddrError::Uri(source) => HeaderError::BadUri { header, source },
        }
    }
}

/// A name-addr written the usual way at the start of `s`: `"name" <uri>`
/// or `<uri>`, a plain `sip:`/`sips:` URI (see [`crate::uri::plain_sip`]) of at most
/// `max_uri_length` bytes, then parameters without LWS. Returns it and
/// where it ends (the end of `s` or a `,`); `None` for anything else, which
/// [`parse_name_addr`] decides.
#[inline(always)]
pub(crate) fn plain_name_addr(s: &str, max_uri_length: usize) -> Option<(NameAddr<'_>, usize)> {
    let b = s.as_bytes();
    let (display_name, lt) = match b.first()? {
        b'<' => (None, 0),
        b'"' => {
            let end = quoted_end(b)?;
            let mut lt = end;
            while lt < b.len() && is_wsp(b[lt]) {
                lt += 1;
            }
            if b.get(lt) != Some(&b'<') {
                return None;
            }
            (Some(text::sub(s, 1, end - 1)?), lt)
        }
        _ => return None,
    };
    // The URI stops at the first byte it cannot hold, which must be the
    // first `>`.
    let (parts, uri_len) = plain_sip_bytes(b.get(lt + 1..)?)?;
    let gt = lt + 1 + uri_len;
    if b.get(gt) != Some(&b'>') || uri_len > max_uri_length {
        return None;
    }
    let mut end = gt + 1;
    let mut params = Params::default();
    if b.get(end) == Some(&b';') {
        (params, end) = Params::plain::<AnyParam>(s, end + 1)?;
    }
    let name_addr = NameAddr {
        display_name,
        uri: UriRef::from_parts(text::sub(s, lt + 1, gt)?, parts),
        params,
    };
    Some((name_addr, end))
}

/// `( name-addr / addr-spec ) *( SEMI generic-param )`, the URI at most
/// `max_uri_length` bytes long.
pub(crate) fn parse_name_addr(
    s: &str,
    max_uri_length: usize,
) -> Result<NameAddr<'_>, NameAddrError> {
    let s = trim(s);
    match plain_name_addr(s, max_uri_length) {
        Some((name_addr, end)) if end == s.len() => Ok(name_addr),
        _ => parse_name_addr_general(s, max_uri_length),
    }
}

/// [`parse_name_addr`] without the fast path.
pub(crate) fn parse_name_addr_general(
    s: &str,
    max_uri_length: usize,
) -> Result<NameAddr<'_>, NameAddrError> {
    use NameAddrError::Syntax;
    let s = trim(s);
    let b = s.as_bytes();
    let (display_name, uri, rest) = match b.first() {
        None => return Err(Syntax("empty value")),
        Some(b'"') => {
            let end = quoted_end(b).ok_or(Syntax("unterminated quoted display name"))?;
            let after = trim_start(&s[end..]);
            let lt = s.len() - after.len();
            if !after.starts_with('<') {
                return Err(Syntax("expected <URI> after the display name"));
            }
            let (uri, rest) = angle(s, lt)?;
            (Some(&s[1..end - 1]), uri, rest)
        }
        Some(b'<') => {
            let (uri, rest) = angle(s, 0)?;
            (None, uri, rest)
        }
        Some(_) => match memchr::memchr(b'<', b) {
            Some(lt) => {
                let name = trim(&s[..lt]);
                if !name
                    .split([' ', '\t'])
                    .filter(|w| !w.is_empty())
                    .all(is_token)
                {
                    return Err(Syntax("display name is neither tokens nor a quoted string"));
                }
                let (uri, rest) = angle(s, lt)?;
                ((!name.is_empty()).then_some(name), uri, rest)
            }
            None => {
                // addr-spec: a URI with ';' or ',' must use name-addr (RFC
                // 3261 §20.10), so the first ';' starts the header parameters.
                let semi = find_byte(s, b';').unwrap_or(b.len());
                if find_byte(&s[..semi], b'?').is_some() {
                    return Err(Syntax("a URI with headers must be enclosed in <>"));
                }
                (None, trim(&s[..semi]), &s[semi..])
            }
        },
    };
    if uri.len() > max_uri_length {
        return Err(NameAddrError::Uri(UriError::TooLong {
            limit: max_uri_length,
        }));
    }
    let rest = trim(rest);
    let params = if rest.is_empty() {
        Params::default()
    } else {
        let raw = rest
            .strip_prefix(';')
            .ok_or(Syntax("unexpected text after the address"))?;
        Params::parse_header(raw).map_err(Syntax)?
    };
    let uri = UriRef::parse(uri).map_err(NameAddrError::Uri)?;
    Ok(NameAddr {
        display_name,
        uri,
        params,
    })
}

/// The URI inside `<...>` starting at `lt`, and the text after `>`.
fn angle(s: &str, lt: usize) -> Result<(&str, &str), NameAddrError> {
    let gt = memchr::memchr(b'>', &s.as_bytes()[lt..]).ok_or(NameAddrError::Syntax("missing >"))?;
    Ok((&s[lt + 1..lt + gt], &s[lt + gt + 1..]))
}

/// qvalue (RFC 3261 §20.10): `0[.ddd]` or `1[.000]`, in thousandths.
fn parse_qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

fn single(headers: &Headers, name: HeaderName) -> Result<Option<NameAddr<'_>>, HeaderError> {
    let label = name.static_str();
    match headers.first_str(name)? {
        None => Ok(None),
        Some(v) => parse_name_addr(v, headers.max_uri_length())
            .map(Some)
            .map_err(|e| e.into_header(label)),
    }
}

fn list(
    headers: &Headers,
    name: HeaderName,
) -> impl Iterator<Item = Result<NameAddr<'_>, HeaderError>> + '_ {
    let label = name.static_str();
    let max_uri_length = headers.max_uri_length();
    headers.list_items(name).map(move |item| {
        item.and_then(|v| parse_name_addr(v, max_uri_length).map_err(|e| e.into_header(label)))
    })
}

impl Headers {
    /// From (mandatory).
    pub fn from(&self) -> Result<NameAddr<'_>, HeaderError> {
        if let Some(from) = self.plain_single(HeaderName::From) {
            return Ok(from);
        }
        single(self, HeaderName::From)?.ok_or(HeaderError::Missing("From"))
    }

    /// To (mandatory).
    pub fn to(&self) -> Result<NameAddr<'_>, HeaderError> {
        if let Some(to) = self.plain_single(HeaderName::To) {
            return Ok(to);
        }
        single(self, HeaderName::To)?.ok_or(HeaderError::Missing("To"))
    }

    /// The first line of `name` when it is a name-addr written the usual
    /// way (see [`plain_name_addr`]) and nothing else; `None` for anything
    /// else, which [`single`] decides (and reports).
    #[inline(always)]
    fn plain_single(&self, name: HeaderName) -> Option<NameAddr<'_>> {
        let s = self.first_line_str(name)?;
        match plain_name_addr(s, self.max_uri_length()) {
            Some((name_addr, end)) if end == s.len() => Some(name_addr),
            _ => None,
        }
    }

    /// All Contact values, or `*`. No Contact header gives an empty list.
    /// `expires` and `q` parameters are checked.
    pub fn contacts(&self) -> Result<Contacts<'_>, HeaderError> {
        let mut list = Vec::new();
        let mut star = false;
        for item in self.list_items(HeaderName::Contact) {
            let item = item?;
            if item == "*" {
                star = true;
                continue;
            }
            let contact = parse_name_addr(item, self.max_uri_length())
                .map_err(|e| e.into_header("Contact"))?;
            check_contact_params(&contact)?;
            list.push(contact);
        }
        match (star, list.is_empty()) {
            (true, true) => Ok(Contacts::Star),
            (true, false) => Err(HeaderError::invalid("Contact", "* mixed with addresses")),
            (false, _) => Ok(Contacts::List(list)),
        }
    }

    /// The first Contact address without collecting the others (`None` if
    /// there is no Contact, an error for `*`).
    pub fn contact(&self) -> Result<Option<NameAddr<'_>>, HeaderError> {
        // The usual first line: a name-addr followed by the end or a `,`.
        // Anything else, and every error, takes the general path.
        if let Some(s) = self.first_line_str(HeaderName::Contact) {
            if let Some((contact, end)) = plain_name_addr(s, self.max_uri_length()) {
                let at_end = s.as_bytes().get(end).is_none_or(|&c| c == b',');
                if at_end && check_contact_params(&contact).is_ok() {
                    return Ok(Some(contact));
                }
            }
        }
        match self.first_item(HeaderName::Contact) {
            None => Ok(None),
            Some(item) => {
                let item = item?;
                if item == "*" {
                    return Err(HeaderError::invalid(
                        "Contact",
                        "* where an address is expected",
                    ));
                }
                let contact = parse_name_addr(item, self.max_uri_length())
                    .map_err(|e| e.into_header("Contact"))?;
                check_contact_params(&contact)?;
                Ok(Some(contact))
            }
        }
    }

    /// Route values in order.
    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, HeaderError>> + '_ {
        list(self, HeaderName::Route)
    }

    /// Record-Route values in order.
    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, HeaderError>> + '_ {
        list(self, HeaderName::RecordRoute)
    }

    /// Path values (RFC 3327).
    pub fn path(&self) -> impl Iterator<Item = Result<NameAddr<'_>, HeaderError>> + '_ {
        list(self, HeaderName::Path)
    }

    /// P-Asserted-Identity values (RFC 3325).
    pub fn p_asserted_identity(
        &self,
    ) -> impl Iterator<Item = Result<NameAddr<'_>, HeaderError>> + '_ {
        list(self, HeaderName::PAssertedIdentity)
    }

    /// P-Preferred-Identity values (RFC 3325).
    pub fn p_preferred_identity(
        &self,
    ) -> impl Iterator<Item = Result<NameAddr<'_>, HeaderError>> + '_ {
        list(self, HeaderName::PPreferredIdentity)
    }

    /// History-Info entries (RFC 7044); `index`, `rc`, `mp`, `np` are in
    /// `params`.
    pub fn history_info(&self) -> impl Iterator<Item = Result<NameAddr<'_>, HeaderError>> + '_ {
        list(self, HeaderName::HistoryInfo)
    }

    /// Refer-To (RFC 3515).
    pub fn refer_to(&self) -> Result<Option<NameAddr<'_>>, HeaderError> {
        single(self, HeaderName::ReferTo)
    }

    /// Referred-By (RFC 3892).
    pub fn referred_by(&self) -> Result<Option<NameAddr<'_>>, HeaderError> {
        single(self, HeaderName::ReferredBy)
    }
}

#[inline]
fn check_contact_params(contact: &NameAddr<'_>) -> Result<(), HeaderError> {
    match contact.params.is_empty() {
        true => Ok(()),
        false => check_contact_param_values(contact),
    }
}

/// [`check_contact_params`] of a contact with parameters.
fn check_contact_param_values(contact: &NameAddr<'_>) -> Result<(), HeaderError> {
    if contact
        .params
        .get("expires")
        .is_some_and(|v| v.and_then(parse_delta_seconds).is_none())
    {
        return Err(HeaderError::invalid(
            "Contact",
            "expires is not delta-seconds",
        ));
    }
    if contact.params.contains("q") && contact.q().is_none() {
        return Err(HeaderError::invalid("Contact", "q is not a qvalue"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::host::Host;

    #[test]
    fn name_addr_forms() {
        let a = parse_name_addr(
            "\"Alice \\\"A\\\" Smith\" <sip:alice@atlanta.com>;tag=1928301774",
            4096,
        )
        .unwrap();
        assert_eq!(a.display_name, Some("Alice \\\"A\\\" Smith"));
        assert_eq!(a.uri.as_str(), "sip:alice@atlanta.com");
        assert_eq!(a.tag(), Some("1928301774"));

        let b = parse_name_addr("Bob  Jones <sip:bob@biloxi.com;transport=tcp>", 4096).unwrap();
        assert_eq!(b.display_name, Some("Bob  Jones"));
        assert_eq!(b.uri.transport(), Some("tcp"));
        assert_eq!(b.tag(), None);

        let c = parse_name_addr("sip:carol@chicago.com;tag=abc", 4096).unwrap();
        assert_eq!(c.display_name, None);
        assert_eq!(c.uri.as_str(), "sip:carol@chicago.com");
        assert_eq!(c.tag(), Some("abc"));

        let d = parse_name_addr("<sip:[2001:db8::1]:5060;lr>", 4096).unwrap();
        assert_eq!(d.uri.host(), Host::Ipv6("2001:db8::1".parse().unwrap()));
        assert_eq!(d.uri.param("lr"), Some(None));
        assert!(d.params.is_empty());

        let e = parse_name_addr("\"\" <tel:+15551230000>", 4096).unwrap();
        assert_eq!(e.display_name, Some(""));
        assert_eq!(e.uri.user(), Some("+15551230000"));
    }

    #[test]
    fn name_addr_display() {
        let a = parse_name_addr("Bob <sip:bob@b>;tag=x", 4096).unwrap();
        assert_eq!(a.to_string(), "\"Bob\" <sip:bob@b>;tag=x");
        let b = parse_name_addr("sip:bob@b", 4096).unwrap();
        assert_eq!(b.to_string(), "<sip:bob@b>");
        assert_eq!(
            parse_name_addr(&a.to_string(), 4096).unwrap().tag(),
            Some("x")
        );
    }

    #[test]
    fn name_addr_errors() {
        let syntax = |s: &str| match parse_name_addr(s, 4096) {
            Err(NameAddrError::Syntax(r)) => r,
            other => panic!("{s:?}: {other:?}"),
        };
        assert_eq!(syntax(""), "empty value");
        assert_eq!(
            syntax("\"Alice <sip:a@b>"),
            "unterminated quoted display name"
        );
        assert_eq!(
            syntax("\"Alice\" sip:a@b"),
            "expected <URI> after the display name"
        );
        assert_eq!(syntax("<sip:a@b"), "missing >");
        assert_eq!(
            syntax("<sip:a@b> junk"),
            "unexpected text after the address"
        );
        assert_eq!(
            syntax("Al:ice <sip:a@b>"),
            "display name is neither tokens nor a quoted string"
        );
        assert!(matches!(
            parse_name_addr("<sip:a@b c>", 4096),
            Err(NameAddrError::Uri(_))
        ));
        assert_eq!(
            syntax("sip:a@b?Route=%3Csip:c%3E"),
            "a URI with headers must be enclosed in <>"
        );
        assert!(parse_name_addr("<sip:a@b?Route=%3Csip:c%3E>", 4096).is_ok());
        assert!(matches!(
            parse_name_addr("<sip:a@b>;=x", 4096),
            Err(NameAddrError::Syntax("malformed parameter name"))
        ));
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.123"), Some(123));
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        assert_eq!(parse_qvalue("1.5"), None);
        assert_eq!(parse_qvalue("0.1234"), None);
        assert_eq!(parse_qvalue("2"), None);
        assert_eq!(parse_qvalue(".5"), None);
    }

    #[test]
    fn contacts_star_list_and_params() {
        let mut h = Headers::new();
        h.push(HeaderName::Contact, "*");
        assert_eq!(h.contacts().unwrap(), Contacts::Star);
        assert!(h.contact().is_err());
        h.push(HeaderName::Contact, "<sip:a@b>");
        assert!(h.contacts().is_err());

        let mut h = Headers::new();
        assert_eq!(h.contacts().unwrap(), Contacts::List(vec![]));
        assert_eq!(h.contact().unwrap(), None);
        h.push(
            HeaderName::Contact,
            "<sip:a@b>;expires=3600;q=0.7, \"X, Y\" <sip:c,d@e;a=1>",
        );
        let Contacts::List(list) = h.contacts().unwrap() else {
            panic!()
        };
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].expires(), Some(3600));
        assert_eq!(list[0].q(), Some(700));
        assert_eq!(list[1].display_name, Some("X, Y"));
        assert_eq!(h.contact().unwrap().unwrap().uri.as_str(), "sip:a@b");

        let mut h = Headers::new();
        h.push(HeaderName::Contact, "<sip:a@b>;expires=soon");
        assert_eq!(
            h.contacts(),
            Err(HeaderError::invalid(
                "Contact",
                "expires is not delta-seconds"
            ))
        );
        let mut h = Headers::new();
        h.push(HeaderName::Contact, "<sip:a@b>;q=2");
        assert_eq!(
            h.contacts(),
            Err(HeaderError::invalid("Contact", "q is not a qvalue"))
        );
    }

    #[test]
    fn from_to_routes_and_friends() {
        let mut h = Headers::new();
        assert_eq!(h.from(), Err(HeaderError::Missing("From")));
        h.push(HeaderName::From, "<sip:a@b>;tag=1");
        h.push(HeaderName::To, "sip:c@d");
        h.push(HeaderName::Route, "<sip:p1;lr>, <sip:p2;lr>");
        h.push(HeaderName::RecordRoute, "<sip:rr;lr>");
        h.push(HeaderName::ReferTo, "<sip:x@y?Replaces=abc%3Bto-tag%3D1>");
        h.push(HeaderName::ReferredBy, "<sip:r@y>");
        h.push(HeaderName::PAssertedIdentity, "<sip:+1555@y>, <tel:+1555>");
        h.push(
            HeaderName::HistoryInfo,
            "<sip:a@b>;index=1, <sip:c@d>;index=1.1;rc=1",
        );
        assert_eq!(h.from().unwrap().tag(), Some("1"));
        assert_eq!(h.to().unwrap().tag(), None);
        let routes: Vec<_> = h
            .routes()
            .map(|r| r.unwrap().uri.as_str().to_owned())
            .collect();
        assert_eq!(routes, vec!["sip:p1;lr", "sip:p2;lr"]);
        assert_eq!(h.record_routes().count(), 1);
        assert_eq!(
            h.refer_to().unwrap().unwrap().uri.headers(),
            Some("Replaces=abc%3Bto-tag%3D1")
        );
        assert!(h.referred_by().unwrap().is_some());
        assert_eq!(h.p_asserted_identity().count(), 2);
        let hi: Vec<_> = h
            .history_info()
            .map(|e| e.unwrap().params.value("index").unwrap())
            .collect();
        assert_eq!(hi, vec!["1", "1.1"]);
        h.push(HeaderName::Route, "<sip:bad uri>");
        assert!(matches!(
            h.routes().last().unwrap(),
            Err(HeaderError::BadUri {
                header: "Route",
                ..
            })
        ));
    }
}
