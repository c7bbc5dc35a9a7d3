//! Session and call-control headers: Session-Expires and Min-SE (RFC 4028
//! §4-5), Replaces (RFC 3891 §6.1), Reason (RFC 3326 §2), Retry-After
//! (RFC 3261 §20.33).

use std::fmt;

use super::map::Headers;
use super::name::HeaderName;
use super::simple::check_call_id;
use crate::error::HeaderError;
use crate::params::Params;
use crate::text::{comment_end, find_byte, is_token, parse_delta_seconds, trim, unquote};

/// Who refreshes the session (RFC 4028 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refresher {
    /// `refresher=uac`.
    Uac,
    /// `refresher=uas`.
    Uas,
}

/// Session-Expires: interval and optional refresher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires<'a> {
    /// The session interval in seconds.
    pub delta: u32,
    /// The `refresher` parameter.
    pub refresher: Option<Refresher>,
    /// All parameters.
    pub params: Params<'a>,
}

/// Replaces (RFC 3891): the dialog to replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaces<'a> {
    /// The Call-ID of the dialog.
    pub call_id: &'a str,
    /// The `to-tag` parameter.
    pub to_tag: &'a str,
    /// The `from-tag` parameter.
    pub from_tag: &'a str,
    /// Whether `early-only` is present.
    pub early_only: bool,
    /// All parameters.
    pub params: Params<'a>,
}

/// One Reason value (RFC 3326), e.g. `Q.850;cause=16;text="Normal"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason<'a> {
    /// `SIP`, `Q.850` or another protocol token.
    pub protocol: &'a str,
    /// The `cause` parameter.
    pub cause: Option<u16>,
    /// The `text` parameter without quotes (escapes kept).
    pub text: Option<&'a str>,
    /// All parameters.
    pub params: Params<'a>,
}

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.protocol)?;
        if !self.params.is_empty() {
            write!(f, ";{}", self.params.as_str())?;
        }
        Ok(())
    }
}

/// Retry-After: seconds, optional comment and `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter<'a> {
    /// Seconds to wait.
    pub seconds: u32,
    /// The comment, including its parentheses.
    pub comment: Option<&'a str>,
    /// The `duration` parameter.
    pub duration: Option<u32>,
    /// All parameters.
    pub params: Params<'a>,
}

/// `delta-seconds *( SEMI param )`.
fn delta_and_params(s: &str) -> Result<(u32, Params<'_>), &'static str> {
    let (delta, params) = match find_byte(s, b';') {
        Some(semi) => (trim(&s[..semi]), Params::parse_header(&s[semi + 1..])?),
        None => (trim(s), Params::default()),
    };
    Ok((
        parse_delta_seconds(delta).ok_or("not delta-seconds")?,
        params,
    ))
}

fn parse_session_expires(s: &str) -> Result<SessionExpires<'_>, &'static str> {
    let (delta, params) = delta_and_params(s)?;
    let refresher = match params.get("refresher") {
        None => None,
        Some(Some(r)) if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
        Some(Some(r)) if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
        Some(_) => return Err("refresher is neither uac nor uas"),
    };
    Ok(SessionExpires {
        delta,
        refresher,
        params,
    })
}

fn parse_replaces(s: &str) -> Result<Replaces<'_>, &'static str> {
    let (call_id, params) = match find_byte(s, b';') {
        Some(semi) => (trim(&s[..semi]), Params::parse_header(&s[semi + 1..])?),
        None => (trim(s), Params::default()),
    };
    check_call_id(call_id).map_err(|_| "invalid Call-ID")?;
    Ok(Replaces {
        call_id,
        to_tag: params.value("to-tag").ok_or("missing to-tag")?,
        from_tag: params.value("from-tag").ok_or("missing from-tag")?,
        early_only: params.contains("early-only"),
        params,
    })
}

fn parse_reason(s: &str) -> Result<Reason<'_>, &'static str> {
    let (protocol, params) = match find_byte(s, b';') {
        Some(semi) => (trim(&s[..semi]), Params::parse_header(&s[semi + 1..])?),
        None => (trim(s), Params::default()),
    };
    if !is_token(protocol) {
        return Err("protocol is not a token");
    }
    let cause = match params.get("cause") {
        None => None,
        Some(v) => Some(
            v.and_then(|c| {
                c.parse::<u16>()
                    .ok()
                    .filter(|_| c.bytes().all(|b| b.is_ascii_digit()))
            })
            .ok_or("cause is not a number")?,
        ),
    };
    let text = match params.get("text") {
        None => None,
        Some(_) => {
            // The raw item keeps the quotes: text must be a quoted-string.
            let raw = params
                .iter_raw()
                .find(|(n, _)| n.eq_ignore_ascii_case("text"))
                .and_then(|(_, v)| v);
            match raw {
                Some(raw) if unquote(raw).is_some() => params.value("text"),
                _ => return Err("text is not a quoted string"),
            }
        }
    };
    Ok(Reason {
        protocol,
        cause,
        text,
        params,
    })
}

fn parse_retry_after(s: &str) -> Result<RetryAfter<'_>, &'static str> {
    let s = trim(s);
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let seconds = parse_delta_seconds(&s[..digits]).ok_or("not delta-seconds")?;
    let mut rest = trim(&s[digits..]);
    let mut comment = None;
    if rest.starts_with('(') {
        let end = comment_end(rest.as_bytes()).ok_or("unterminated comment")?;
        comment = Some(&rest[..end]);
        rest = trim(&rest[end..]);
    }
    let params = if rest.is_empty() {
        Params::default()
    } else {
        Params::parse_header(
            rest.strip_prefix(';')
                .ok_or("unexpected text after the delay")?,
        )?
    };
    let duration = match params.get("duration") {
        None => None,
        Some(v) => Some(
            v.and_then(parse_delta_seconds)
                .ok_or("duration is not delta-seconds")?,
        ),
    };
    Ok(RetryAfter {
        seconds,
        comment,
        duration,
        params,
    })
}

impl Headers {
    /// Session-Expires (RFC 4028).
    pub fn session_expires(&self) -> Result<Option<SessionExpires<'_>>, HeaderError> {
        match self.first_str(HeaderName::SessionExpires)? {
            None => Ok(None),
            Some(v) => parse_session_expires(v)
                .map(Some)
                .map_err(|r| HeaderError::invalid("Session-Expires", r)),
        }
    }

    /// Min-SE (RFC 4028), in seconds.
    pub fn min_se(&self) -> Result<Option<u32>, HeaderError> {
        match self.first_str(HeaderName::MinSe)? {
            None => Ok(None),
            Some(v) => delta_and_params(v)
                .map(|(d, _)| Some(d))
                .map_err(|r| HeaderError::invalid("Min-SE", r)),
        }
    }

    /// Replaces (RFC 3891).
    pub fn replaces(&self) -> Result<Option<Replaces<'_>>, HeaderError> {
        match self.first_str(HeaderName::Replaces)? {
            None => Ok(None),
            Some(v) => parse_replaces(v)
                .map(Some)
                .map_err(|r| HeaderError::invalid("Replaces", r)),
        }
    }

    /// Reason values (RFC 3326).
    pub fn reasons(&self) -> impl Iterator<Item = Result<Reason<'_>, HeaderError>> + '_ {
        self.list_items(HeaderName::Reason).map(|item| {
            item.and_then(|v| parse_reason(v).map_err(|r| HeaderError::invalid("Reason", r)))
        })
    }

    /// Retry-After.
    pub fn retry_after(&self) -> Result<Option<RetryAfter<'_>>, HeaderError> {
        match self.first_str(HeaderName::RetryAfter)? {
            None => Ok(None),
            Some(v) => parse_retry_after(v)
                .map(Some)
                .map_err(|r| HeaderError::invalid("Retry-After", r)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn session_expires_and_min_se() {
        let se = parse_session_expires("1800;refresher=UAS").unwrap();
        assert_eq!((se.delta, se.refresher), (1800, Some(Refresher::Uas)));
        assert_eq!(parse_session_expires("90").unwrap().refresher, None);
        assert_eq!(
            parse_session_expires("90;refresher=me"),
            Err("refresher is neither uac nor uas")
        );
        assert_eq!(parse_session_expires("x"), Err("not delta-seconds"));
        let mut h = Headers::new();
        h.push(HeaderName::SessionExpires, "4000;refresher=uac");
        h.push(HeaderName::MinSe, "90;x=1");
        assert_eq!(
            h.session_expires().unwrap().unwrap().refresher,
            Some(Refresher::Uac)
        );
        assert_eq!(h.min_se(), Ok(Some(90)));
        h.set(HeaderName::MinSe, "ninety");
        assert_eq!(
            h.min_se(),
            Err(HeaderError::invalid("Min-SE", "not delta-seconds"))
        );
    }

    #[test]
    fn replaces() {
        let r = parse_replaces("98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff;early-only")
            .unwrap();
        assert_eq!(r.call_id, "98732@sip.example.com");
        assert_eq!(r.from_tag, "r33th4x0r");
        assert_eq!(r.to_tag, "ff87ff");
        assert!(r.early_only);
        assert_eq!(parse_replaces("abc;from-tag=1"), Err("missing to-tag"));
        assert_eq!(parse_replaces("abc;to-tag=1"), Err("missing from-tag"));
        assert_eq!(
            parse_replaces("a b;to-tag=1;from-tag=2"),
            Err("invalid Call-ID")
        );
    }

    #[test]
    fn reason() {
        let r = parse_reason("Q.850 ;cause=16 ;text=\"Terminated; normally\"").unwrap();
        assert_eq!(r.protocol, "Q.850");
        assert_eq!(r.cause, Some(16));
        assert_eq!(r.text, Some("Terminated; normally"));
        assert_eq!(parse_reason("SIP;cause=abc"), Err("cause is not a number"));
        assert_eq!(
            parse_reason("SIP;cause=99999"),
            Err("cause is not a number")
        );
        assert_eq!(
            parse_reason("SIP;text=bare"),
            Err("text is not a quoted string")
        );
        let mut h = Headers::new();
        h.push(
            HeaderName::Reason,
            "SIP;cause=200;text=\"Call completed elsewhere\", Q.850;cause=26",
        );
        let causes: Vec<_> = h.reasons().map(|r| r.unwrap().cause).collect();
        assert_eq!(causes, vec![Some(200), Some(26)]);
    }

    #[test]
    fn retry_after() {
        let r = parse_retry_after("18000;duration=3600").unwrap();
        assert_eq!(
            (r.seconds, r.duration, r.comment),
            (18000, Some(3600), None)
        );
        let r = parse_retry_after("120 (I'm in a meeting)").unwrap();
        assert_eq!(r.comment, Some("(I'm in a meeting)"));
        assert_eq!(parse_retry_after("soon"), Err("not delta-seconds"));
        assert_eq!(parse_retry_after("5 (x"), Err("unterminated comment"));
        assert_eq!(
            parse_retry_after("5 x"),
            Err("unexpected text after the delay")
        );
        assert_eq!(
            parse_retry_after("5;duration=x"),
            Err("duration is not delta-seconds")
        );
    }
}
