//! `;name[=value]` parameter lists: generic-param of header fields (RFC 3261
//! §25.1) and uri-parameters (§19.1.1). Validated once, then scanned lazily.

use std::fmt;
use std::ops::Range;

use crate::text::{self, is_wsp, quoted_end, trim, unquote};

/// A validated parameter list, borrowing the message text. Names compare
/// case-insensitively; values of quoted-strings are returned without the
/// surrounding quotes (escapes kept, see [`crate::unescape_quoted`]).
#[derive(Clone, Copy, Default)]
pub struct Params<'a> {
    /// The text after the first `;` (empty if there are no parameters).
    raw: &'a str,
    /// The first parameter, when the validator recorded it: the one most
    /// looked up (`branch`, `tag`) is then found without a scan.
    first: Option<FirstParam>,
}

/// Where the first parameter is in `Params::raw`.
#[derive(Debug, Clone, Copy)]
struct FirstParam {
    name_end: u16,
    /// The value, a quoted-string without its quotes.
    value: Option<(u16, u16)>,
    /// Where the parameters after it start.
    next: u16,
}

impl FirstParam {
    /// From offsets into the parameter text, if they fit (each is at most
    /// `next`).
    #[inline(always)]
    fn new(name_end: usize, value: Option<Range<usize>>, next: usize) -> Option<FirstParam> {
        let next = u16::try_from(next).ok()?;
        debug_assert!(name_end <= usize::from(next));
        Some(FirstParam {
            name_end: name_end as u16,
            value: value.map(|v| (v.start as u16, v.end as u16)),
            next,
        })
    }
}

/// What a fast path accepts as a parameter besides its syntax (the
/// via-params of RFC 3261 §20.42 have rules of their own).
pub(crate) trait ParamRule {
    /// Whether `name` with `value` (a quoted-string without its quotes)
    /// is acceptable.
    fn accepts(name: &[u8], value: Option<&[u8]>) -> bool;
}

/// Any parameter of valid syntax.
pub(crate) struct AnyParam;

impl ParamRule for AnyParam {
    #[inline(always)]
    fn accepts(_: &[u8], _: Option<&[u8]>) -> bool {
        true
    }
}

impl PartialEq for Params<'_> {
    /// The same text (how it was validated does not matter).
    fn eq(&self, other: &Params<'_>) -> bool {
        self.raw == other.raw
    }
}

impl Eq for Params<'_> {}

impl<'a> Params<'a> {
    /// Validates `raw` (the text after the first `;`) as header parameters:
    /// `token [ = (token / host / quoted-string) ]`.
    pub(crate) fn parse_header(raw: &'a str) -> Result<Params<'a>, &'static str> {
        let raw = trim(raw);
        let b = raw.as_bytes();
        let skip_wsp = |mut i: usize| {
            while i < b.len() && is_wsp(b[i]) {
                i += 1;
            }
            i
        };
        let mut i = 0;
        loop {
            i = skip_wsp(i);
            let name_start = i;
            i = text::skip(b, i, text::TOKEN);
            if i == name_start {
                return Err("malformed parameter name");
            }
            i = skip_wsp(i);
            let mut had_value = false;
            if b.get(i) == Some(&b'=') {
                had_value = true;
                i = skip_wsp(i + 1);
                if b.get(i) == Some(&b'"') {
                    i += quoted_end(&b[i..]).ok_or("unterminated quoted string")?;
                } else {
                    let value_start = i;
                    i = text::skip(b, i, text::GEN_VALUE);
                    if i == value_start {
                        return Err("malformed parameter value");
                    }
                }
                i = skip_wsp(i);
            }
            match b.get(i) {
                None => return Ok(Params::from_validated(raw)),
                Some(b';') => i += 1,
                Some(_) if had_value => return Err("malformed parameter value"),
                Some(_) => return Err("malformed parameter name"),
            }
        }
    }

    /// Header parameters from `s[start]` (after the first `;`) written
    /// without LWS, each accepted by the rule `R`: the parameters and where
    /// they end, at the end of `s` or at a `,`. `None` for anything else
    /// (LWS, a malformed or rejected parameter), which
    /// [`Params::parse_header`] decides.
    #[inline(always)]
    pub(crate) fn plain<R: ParamRule>(s: &'a str, start: usize) -> Option<(Params<'a>, usize)> {
        let b = s.as_bytes();
        let mut i = start;
        let mut first = None;
        loop {
            let name_start = i;
            i = text::skip(b, i, text::TOKEN);
            if i == name_start {
                return None;
            }
            let name = name_start..i;
            let mut value = None;
            if b.get(i) == Some(&b'=') {
                let value_start = i + 1;
                if b.get(value_start) == Some(&b'"') {
                    i = value_start + quoted_end(&b[value_start..])?;
                } else {
                    i = text::skip(b, value_start, text::GEN_VALUE);
                    if i == value_start {
                        return None;
                    }
                }
                value = Some(value_start..i);
            }
            let unquoted = match &value {
                Some(v) if b[v.start] == b'"' => Some(&b[v.start + 1..v.end - 1]),
                Some(v) => Some(&b[v.clone()]),
                None => None,
            };
            if !R::accepts(&b[name.clone()], unquoted) {
                return None;
            }
            if name_start == start {
                let value = value.map(|v| match b[v.start] {
                    b'"' => v.start + 1 - start..v.end - 1 - start,
                    _ => v.start - start..v.end - start,
                });
                first = FirstParam::new(name.end - start, value, i - start);
            }
            match b.get(i) {
                Some(b';') => i += 1,
                None | Some(b',') => {
                    let params = Params {
                        raw: text::sub(s, start, i)?,
                        first,
                    };
                    return Some((params, i));
                }
                Some(_) => return None,
            }
        }
    }

    /// Wraps parameter text already validated (by the URI parser or
    /// [`Params::plain`]).
    pub(crate) fn from_validated(raw: &'a str) -> Params<'a> {
        Params { raw, first: None }
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
    #[inline(always)]
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        let Some(first) = self.first else {
            return self.get_from(0, name);
        };
        let name_end = usize::from(first.name_end);
        match self.raw.as_bytes().get(..name_end) {
            Some(first_name) if text::eq_ignore_case(first_name, name.as_bytes()) => Some(
                first
                    .value
                    .and_then(|(from, to)| text::sub(self.raw, usize::from(from), usize::from(to))),
            ),
            _ => self.get_from(usize::from(first.next), name),
        }
    }

    /// [`Params::get`] of the parameters at or after `i`.
    fn get_from(&self, mut i: usize, name: &str) -> Option<Option<&'a str>> {
        let b = self.raw.as_bytes();
        while let Some(param) = RawParam::at(b, i) {
            if text::eq_ignore_case(&b[param.name.clone()], name.as_bytes()) {
                let value = param.value.and_then(|v| self.raw.get(v));
                return Some(value.map(|v| unquote(v).unwrap_or(v)));
            }
            i = param.next;
        }
        None
    }

    /// The value of `name` if present with a value.
    #[inline]
    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.get(name).flatten()
    }

    /// Whether `name` is present (with or without a value).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// All parameters in order as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        self.iter_raw()
            .map(|(name, value)| (name, value.map(|v| unquote(v).unwrap_or(v))))
    }

    /// Like `iter` but quoted values keep their quotes.
    pub(crate) fn iter_raw(&self) -> RawParams<'a> {
        RawParams { s: self.raw, i: 0 }
    }
}

/// Scans validated parameter text: `name [= value]` separated by `;`,
/// values possibly quoted, LWS around the separators.
pub(crate) struct RawParams<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Iterator for RawParams<'a> {
    type Item = (&'a str, Option<&'a str>);

    fn next(&mut self) -> Option<Self::Item> {
        let Some(param) = RawParam::at(self.s.as_bytes(), self.i) else {
            self.i = self.s.len();
            return None;
        };
        self.i = param.next;
        let value = match param.value {
            Some(v) => Some(self.s.get(v)?),
            None => None,
        };
        Some((self.s.get(param.name)?, value))
    }
}

/// Where one parameter of validated text is.
struct RawParam {
    name: Range<usize>,
    /// The value as written (quoted-strings with their quotes).
    value: Option<Range<usize>>,
    /// Where to look for the next parameter.
    next: usize,
}

impl RawParam {
    /// The parameter at or after `i` in `b`: `name [= value]` separated by
    /// `;`, values possibly quoted, LWS around the separators.
    #[inline]
    fn at(b: &[u8], mut i: usize) -> Option<RawParam> {
        let skip_wsp = |mut i: usize| {
            while i < b.len() && is_wsp(b[i]) {
                i += 1;
            }
            i
        };
        while i < b.len() && (is_wsp(b[i]) || b[i] == b';') {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let name_start = i;
        i = text::skip(b, i, text::PNAME);
        let name = name_start..i;
        i = skip_wsp(i);
        let mut value = None;
        if b.get(i) == Some(&b'=') {
            i = skip_wsp(i + 1);
            let value_start = i;
            if b.get(i) == Some(&b'"') {
                i += quoted_end(&b[i..]).unwrap_or(b.len() - i);
            } else {
                i = text::skip(b, i, text::PVALUE);
            }
            value = Some(value_start..i);
        }
        while i < b.len() && b[i] != b';' {
            i += 1;
        }
        Some(RawParam {
            name,
            value,
            next: i,
        })
    }
}

impl fmt::Debug for Params<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn get_and_iter() {
        let p = Params::parse_header("branch=z9hG4bK1 ; RPort;received=[2001:db8::1];x=\"a;b\"")
            .unwrap();
        assert_eq!(p.get("branch"), Some(Some("z9hG4bK1")));
        assert_eq!(p.get("rport"), Some(None));
        assert_eq!(p.value("RECEIVED"), Some("[2001:db8::1]"));
        assert_eq!(p.value("x"), Some("a;b"));
        assert_eq!(p.get("nope"), None);
        assert_eq!(p.iter().count(), 4);
        assert!(Params::default().is_empty());
        assert_eq!(Params::default().iter().count(), 0);
    }

    /// Rejects the parameter `a`.
    struct NotA;

    impl ParamRule for NotA {
        fn accepts(name: &[u8], _: Option<&[u8]>) -> bool {
            name != b"a"
        }
    }

    #[test]
    fn plain_params_remember_the_first() {
        let text = "tag=abc;X=\"q;r\";flag, <sip:next>";
        let (p, end) = Params::plain::<AnyParam>(text, 0).unwrap();
        assert_eq!(&text[end..], ", <sip:next>");
        assert_eq!(p.as_str(), "tag=abc;X=\"q;r\";flag");
        assert_eq!(p.get("TAG"), Some(Some("abc")));
        assert_eq!(p.get("x"), Some(Some("q;r")));
        assert_eq!(p.get("flag"), Some(None));
        assert_eq!(p.get("ta"), None);
        assert_eq!(p, Params::parse_header(p.as_str()).unwrap());
        assert_eq!(p.iter().count(), 3);
        let (p, _) = Params::plain::<AnyParam>("lr", 0).unwrap();
        assert_eq!(p.get("lr"), Some(None));
        // LWS, a rejected or malformed parameter: the general parser decides.
        assert!(Params::plain::<AnyParam>("a = b", 0).is_none());
        assert!(Params::plain::<NotA>("a=b", 0).is_none());
        assert!(Params::plain::<AnyParam>("a=\"b", 0).is_none());
        assert!(Params::plain::<AnyParam>("a=b c", 0).is_none());
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
