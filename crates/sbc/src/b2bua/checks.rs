//! What a request must pass before the B2BUA acts on it (RFC 3261 §8.2):
//! well-formed headers (400 with the reason in the reason phrase), a URI
//! scheme we serve (§8.2.2.1, 416), extensions we support (§8.2.2.3, 420
//! with Unsupported), hops left (§16.3 step 3, 483); and for a datagram
//! that does not even parse, a response when one can still be addressed:
//! 505 for another SIP version (§21.5.6), 513 for an oversized
//! message (§21.5.11), 400 otherwise.

use bytes::Bytes;
use sip::{
    HeaderError, HeaderName, Limits, Message, Method, ParseError, Request, Response, Scheme,
    StatusCode,
};

/// Option tags we support (RFC 3261 §19.2): session timers (RFC 4028) and
/// Replaces (RFC 3891).
pub(crate) const SUPPORTED: &[&str] = &["timer", "replaces"];

/// [`SUPPORTED`] as a header value.
pub(crate) const SUPPORTED_VALUE: &str = "timer, replaces";

/// Methods we serve, for Allow. REFER is listed so Teams lets the SBC
/// perform transfers (Direct Routing).
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY";

/// The response a request gets before anything else looks at it, or
/// `None` when it may go on. ACK is never answered.
pub(crate) fn check_request(request: &Request) -> Option<Response> {
    if request.method == Method::Ack {
        return None;
    }
    if let Err(error) = request.validate() {
        return Some(bad_request(request, &error.to_string()));
    }
    if !matches!(
        request.uri.scheme(),
        Scheme::Sip | Scheme::Sips | Scheme::Tel
    ) {
        return Some(Response::for_request(
            request,
            StatusCode::UNSUPPORTED_URI_SCHEME,
        ));
    }
    let unsupported: Vec<&str> = request
        .headers
        .require()
        .filter_map(Result::ok)
        .filter(|tag| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(tag)))
        .collect();
    // CANCEL must not carry Require; a bad one is ignored (§9.1).
    if !unsupported.is_empty() && request.method != Method::Cancel {
        let mut response = Response::for_request(request, StatusCode::BAD_EXTENSION);
        response
            .headers
            .push(HeaderName::Unsupported, unsupported.join(", "));
        return Some(response);
    }
    if request.headers.max_forwards().ok() == Some(0) && request.method != Method::Options {
        return Some(Response::for_request(request, StatusCode::TOO_MANY_HOPS));
    }
    None
}

/// 400 with `why` in the reason phrase.
pub(crate) fn bad_request(request: &Request, why: &str) -> Response {
    let mut response = Response::for_request(request, StatusCode::BAD_REQUEST);
    response.reason = Bytes::from(format!("Bad Request ({})", phrase(why)));
    response
}

/// `text` fit for a reason phrase: printable, one line, bounded.
fn phrase(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(120)
        .collect()
}

/// The response to a datagram or stream message that did not parse with
/// `error`: 505 for a SIP version other than 2.0, 513 for an oversized
/// message, 400 for other defects, whenever the request's start line and
/// the headers a response copies (Via, From, To, Call-ID, CSeq) can still
/// be read. `None` for responses, ACKs and messages too broken to answer;
/// send the response back where the message came from.
pub fn response_for_unparsable(message: &[u8], error: &ParseError) -> Option<Response> {
    let head_end = head_end(message)?;
    let head = message.get(..head_end)?;
    let (status, head) = match error {
        ParseError::BadVersion => (StatusCode::VERSION_NOT_SUPPORTED, fix_version(head)?),
        ParseError::TooLarge { .. } => (StatusCode::MESSAGE_TOO_LARGE, head.to_vec()),
        _ => (StatusCode::BAD_REQUEST, head.to_vec()),
    };
    let head = strip_headers(&head, offending_header(error));
    // The head alone is parsed, with room for the oversized parts: the
    // caller already holds it in memory.
    let limits = Limits {
        max_message_size: head.len().max(Limits::default().max_message_size),
        max_line_length: head.len().max(Limits::default().max_line_length),
        ..Limits::default()
    };
    let Ok(Message::Request(request)) = Message::parse_with(Bytes::from(head), &limits) else {
        return None;
    };
    if request.method == Method::Ack {
        return None;
    }
    Some(match status {
        StatusCode::BAD_REQUEST => bad_request(&request, &error.to_string()),
        status => Response::for_request(&request, status),
    })
}

/// The length of the start line and header block, with the empty line.
fn head_end(message: &[u8]) -> Option<usize> {
    let crlf = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = message.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The head with the request line's version replaced by `SIP/2.0`; `None`
/// for a status line (a response is never answered).
fn fix_version(head: &[u8]) -> Option<Vec<u8>> {
    let line_end = head.iter().position(|&b| b == b'\r' || b == b'\n')?;
    let line = head.get(..line_end)?;
    if line.starts_with(b"SIP/") {
        return None;
    }
    let space = line.iter().rposition(|&b| b == b' ')?;
    let mut fixed = line.get(..=space)?.to_vec();
    fixed.extend_from_slice(b"SIP/2.0");
    fixed.extend_from_slice(head.get(line_end..)?);
    Some(fixed)
}

/// The header `error` blames, if it names one.
fn offending_header(error: &ParseError) -> Option<&'static str> {
    match error {
        ParseError::Header(HeaderError::Invalid { header, .. })
        | ParseError::Header(HeaderError::BadUri { header, .. })
        | ParseError::DuplicateHeader(header) => Some(header),
        _ => None,
    }
}

/// The head without Content-Length (the body is not looked at) and without
/// the header the parse error blames, so what remains can be answered.
/// The headers a response copies (RFC 3261 §8.2.6.2) cannot be dropped: of
/// those only a duplicate is repaired, keeping the first.
fn strip_headers(head: &[u8], blamed: Option<&'static str>) -> Vec<u8> {
    let content_length = HeaderName::ContentLength;
    let blamed = blamed.map(HeaderName::from);
    let copied = |name: &HeaderName| {
        matches!(
            name,
            HeaderName::Via
                | HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::CSeq
        )
    };
    let mut seen_blamed = false;
    let mut out = Vec::with_capacity(head.len());
    for line in head.split_inclusive(|&b| b == b'\n') {
        let raw = line
            .split(|&b| b == b':')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        let name = HeaderName::from_bytes(raw);
        if name == content_length {
            continue;
        }
        if blamed.as_ref() == Some(&name) && !raw.is_empty() {
            if !copied(&name) || seen_blamed {
                continue;
            }
            seen_blamed = true;
        }
        out.extend_from_slice(line);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request(start: &str, extra: &str) -> String {
        format!(
            "{start}\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\n\
             From: <sip:a@192.0.2.10>;tag=1\r\nTo: <sip:b@sbc>\r\nCall-ID: c1\r\n\
             CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
        )
    }

    fn parsed(text: &str) -> Request {
        match Message::parse(Bytes::from(text.to_owned())).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => panic!("not a request"),
        }
    }

    #[test]
    fn scheme_require_and_hops() {
        let r = parsed(&request("INVITE mailto:b@sbc SIP/2.0", ""));
        assert_eq!(check_request(&r).unwrap().status.0, 416);
        let r = parsed(&request(
            "INVITE sip:b@sbc SIP/2.0",
            "Require: timer, 100rel, foo\r\n",
        ));
        let response = check_request(&r).unwrap();
        assert_eq!(response.status.0, 420);
        assert_eq!(
            response.headers.get_str(&HeaderName::Unsupported),
            Some("100rel, foo")
        );
        let r = parsed(
            &request("INVITE sip:b@sbc SIP/2.0", "").replace("Max-Forwards: 70", "Max-Forwards: 0"),
        );
        assert_eq!(check_request(&r).unwrap().status.0, 483);
        let r = parsed(&request("INVITE sip:b@sbc SIP/2.0", "Require: timer\r\n"));
        assert!(check_request(&r).is_none());
    }

    #[test]
    fn bad_header_gets_400_with_reason() {
        let r = parsed(&request(
            "INVITE sip:b@sbc SIP/2.0",
            "Contact: <not a uri\r\n",
        ));
        let response = check_request(&r).unwrap();
        assert_eq!(response.status.0, 400);
        let reason = String::from_utf8(response.reason.to_vec()).unwrap();
        assert!(
            reason.starts_with("Bad Request (") && reason.contains("Contact"),
            "{reason}"
        );
    }

    /// A message the parser refuses for one header is answered 400 naming
    /// it, by reparsing without that header; a duplicated header a
    /// response copies keeps its first copy.
    #[test]
    fn unparsable_for_one_header_gets_400_naming_it() {
        for (defect, blamed) in [
            ("Max-Forwards: 70", "Max-Forwards: many"),
            ("CSeq: 1 INVITE", "CSeq: 1 INVITE\r\nCSeq: 2 INVITE"),
        ] {
            let text = request("INVITE sip:b@sbc SIP/2.0", "").replace(defect, blamed);
            let error = Message::parse(Bytes::from(text.clone())).unwrap_err();
            let response = response_for_unparsable(text.as_bytes(), &error)
                .unwrap_or_else(|| panic!("no answer to {blamed:?} ({error})"));
            assert_eq!(response.status.0, 400, "{blamed:?}");
            let reason = String::from_utf8(response.reason.to_vec()).unwrap();
            let header = defect.split(':').next().unwrap();
            assert!(reason.contains(header), "{reason}");
            assert_eq!(response.headers.cseq().unwrap().seq, 1);
        }
    }

    #[test]
    fn unparsable_messages() {
        let text = request("INVITE sip:b@sbc SIP/3.0", "");
        let error = Message::parse(Bytes::from(text.clone())).unwrap_err();
        assert_eq!(error, ParseError::BadVersion);
        let response = response_for_unparsable(text.as_bytes(), &error).unwrap();
        assert_eq!(response.status.0, 505);
        assert_eq!(response.headers.call_id().unwrap(), "c1");

        let big = request(
            "INVITE sip:b@sbc SIP/2.0",
            "Content-Type: application/sdp\r\n",
        )
        .replace("Content-Length: 0", "Content-Length: 70000")
            + &"x".repeat(70_000);
        let error = Message::parse(Bytes::from(big.clone())).unwrap_err();
        assert!(matches!(error, ParseError::TooLarge { .. }));
        assert_eq!(
            response_for_unparsable(big.as_bytes(), &error)
                .unwrap()
                .status
                .0,
            513
        );

        let short = request(
            "INVITE sip:b@sbc SIP/2.0",
            "Content-Type: application/sdp\r\n",
        )
        .replace("Content-Length: 0", "Content-Length: 10");
        let error = Message::parse(Bytes::from(short.clone())).unwrap_err();
        let response = response_for_unparsable(short.as_bytes(), &error).unwrap();
        assert_eq!(response.status.0, 400);

        let ack = request("ACK sip:b@sbc SIP/3.0", "").replace("1 INVITE", "1 ACK");
        let error = Message::parse(Bytes::from(ack.clone())).unwrap_err();
        assert!(response_for_unparsable(ack.as_bytes(), &error).is_none());
        assert!(response_for_unparsable(b"garbage", &ParseError::BadMethod).is_none());
    }
}
