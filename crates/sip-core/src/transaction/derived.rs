//! Requests derived from an INVITE: the ACK of a non-2xx final response
//! (RFC 3261 §17.1.1.3) and the CANCEL (§9.1).

use bytes::Bytes;
use sip::{HeaderName, Headers, Method, Request, Response};

use super::error::TransactionError;

/// Max-Forwards of a derived request when the INVITE has none (§8.1.1.6).
const DEFAULT_MAX_FORWARDS: &str = "70";

/// Builds the ACK for a non-2xx final `response` to `invite` (§17.1.1.3):
/// same Request-URI, Call-ID, From and top Via only, the CSeq number with
/// method ACK, the To of the response (with its tag) and the Route headers
/// of the INVITE.
pub fn build_ack(invite: &Request, response: &Response) -> Result<Request, TransactionError> {
    let to = response
        .headers
        .get(&HeaderName::To)
        .or_else(|| invite.headers.get(&HeaderName::To));
    derive(invite, Method::Ack, to)
}

/// Builds the CANCEL of `invite` (§9.1): same Request-URI, Call-ID, To,
/// From, CSeq number (method CANCEL), top Via only and Route headers.
pub fn build_cancel(invite: &Request) -> Result<Request, TransactionError> {
    if invite.method != Method::Invite {
        return Err(TransactionError::WrongMethod {
            method: invite.method.clone(),
        });
    }
    derive(invite, Method::Cancel, invite.headers.get(&HeaderName::To))
}

fn derive(
    invite: &Request,
    method: Method,
    to: Option<&[u8]>,
) -> Result<Request, TransactionError> {
    let headers = &invite.headers;
    let cseq = headers.cseq()?;
    let via = top_via_value(headers).ok_or(sip::HeaderError::Missing("Via"))?;
    let max_forwards = headers
        .get(&HeaderName::MaxForwards)
        .map_or_else(|| Bytes::from_static(DEFAULT_MAX_FORWARDS.as_bytes()), copy);
    let mut builder = Request::builder(method.clone(), invite.uri.clone())
        .header(HeaderName::Via, via)
        .header(HeaderName::MaxForwards, max_forwards);
    for route in headers.get_all(&HeaderName::Route) {
        builder = builder.header(HeaderName::Route, copy(route));
    }
    if let Some(from) = headers.get(&HeaderName::From) {
        builder = builder.header(HeaderName::From, copy(from));
    }
    if let Some(to) = to {
        builder = builder.header(HeaderName::To, copy(to));
    }
    if let Some(call_id) = headers.get(&HeaderName::CallId) {
        builder = builder.header(HeaderName::CallId, copy(call_id));
    }
    builder = builder.header(HeaderName::CSeq, format!("{} {}", cseq.seq, method));
    Ok(builder.build())
}

fn copy(value: &[u8]) -> Bytes {
    Bytes::copy_from_slice(value)
}

/// The first Via value of `headers` as written: the first header line split
/// at its first comma outside a quoted string.
pub(crate) fn top_via_value(headers: &Headers) -> Option<Bytes> {
    let line = headers.get(&HeaderName::Via)?;
    let mut quoted = false;
    let mut escaped = false;
    let mut end = line.len();
    for (i, &byte) in line.iter().enumerate() {
        match byte {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    Some(copy(line[..end].trim_ascii()))
}
