//! Header and message plumbing shared by the B2BUA's flows, kept here so
//! the flows read as call logic.

use bytes::Bytes;
use sip::{HeaderName, Headers, Method, Request, Response, StatusCode, Uri};

use super::io::NextHop;
use crate::config::Transport;
use crate::header_policy::HeaderPolicy;

/// `application/sdp`.
pub(crate) const SDP: &str = "application/sdp";

/// The Via transport token.
pub(crate) fn via_token(transport: Transport) -> &'static str {
    match transport {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
        Transport::Tls => "TLS",
    }
}

/// A Via naming us, with a fresh branch (RFC 3261 §8.1.1.7) and rport
/// (RFC 3581).
pub(crate) fn via(transport: Transport, sent_by: &str) -> String {
    format!(
        "SIP/2.0/{} {sent_by};branch={};rport",
        via_token(transport),
        sip::new_branch()
    )
}

/// The transport a URI asks for, else `default`.
pub(crate) fn uri_transport(uri: &Uri, default: Transport) -> Transport {
    match uri.transport().map(str::to_ascii_lowercase).as_deref() {
        Some("udp") => Transport::Udp,
        Some("tcp") => Transport::Tcp,
        Some("tls") => Transport::Tls,
        _ => default,
    }
}

/// Where a request built by `dialog` goes: its first Route (a loose
/// router), else its Request-URI (RFC 3261 §12.2.1.1, §8.1.2).
pub(crate) fn dialog_next_hop(request: &Request, transport: Transport) -> NextHop {
    let uri = request
        .headers
        .routes()
        .next()
        .and_then(Result::ok)
        .map(|route| route.uri.to_uri())
        .unwrap_or_else(|| request.uri.clone());
    let transport = uri_transport(&uri, transport);
    NextHop::Resolve { uri, transport }
}

/// The SDP body of a message, if it has one.
pub(crate) fn sdp_body(headers: &Headers, body: &Bytes) -> Option<Bytes> {
    if body.is_empty() {
        return None;
    }
    let is_sdp = headers
        .content_type()
        .ok()
        .flatten()
        .is_some_and(|t| t.is("application", "sdp"));
    is_sdp.then(|| body.clone())
}

/// The status a caller is sent for a final non-2xx of the other leg: a
/// B2BUA answers for itself, so statuses about our leg (authentication,
/// redirection, hop-by-hop and dialog errors) do not cross, and a 503
/// becomes 500 (RFC 3261 §16.7 step 6: the caller must not think *we* are
/// overloaded).
pub(crate) fn map_final(status: StatusCode) -> StatusCode {
    match status.0 {
        300..=399 => StatusCode::TEMPORARILY_UNAVAILABLE,
        401 | 407 => StatusCode::FORBIDDEN,
        420 | 421 | 422 | 423 | 481 | 482 | 483 | 503 => StatusCode::SERVER_INTERNAL_ERROR,
        100..=699 => status,
        _ => StatusCode::SERVER_INTERNAL_ERROR,
    }
}

/// `SIP/2.0 <code> <reason>` for a NOTIFY of a REFER (RFC 3515 §2.4.5).
pub(crate) fn sipfrag(status: StatusCode) -> Bytes {
    Bytes::from(format!(
        "SIP/2.0 {} {}\r\n",
        status.0,
        status.canonical_reason().unwrap_or("Unknown")
    ))
}

/// Removes Record-Route entries naming one of `own_hosts` (our own entry,
/// echoed back in a response, must not become a hop of our route set).
pub(crate) fn strip_own_record_routes(response: &mut Response, own_hosts: &[&str]) {
    let entries: Vec<String> = response
        .headers
        .record_routes()
        .filter_map(Result::ok)
        .filter(|entry| {
            let host = entry.uri.host().to_string();
            !own_hosts.iter().any(|own| own.eq_ignore_ascii_case(&host))
        })
        .map(|entry| entry.to_string())
        .collect();
    let before = response.headers.count(&HeaderName::RecordRoute);
    if before == 0 {
        return;
    }
    response.headers.remove(&HeaderName::RecordRoute);
    for entry in entries {
        response.headers.push(HeaderName::RecordRoute, entry);
    }
}

/// The headers of `headers` that every policy lets cross.
pub(crate) fn carried(policies: &[&HeaderPolicy], headers: &Headers) -> Vec<(HeaderName, Bytes)> {
    let default = HeaderPolicy::default();
    let policies: Vec<&HeaderPolicy> = if policies.is_empty() {
        vec![&default]
    } else {
        policies.to_vec()
    };
    headers
        .iter()
        .filter(|(name, _)| policies.iter().all(|p| p.carries(name)))
        .map(|(name, value)| (name, Bytes::copy_from_slice(value)))
        .collect()
}

/// Whether a method creates or refreshes the remote target, so its 2xx
/// carries our Contact (RFC 3261 §12.1.1, §12.2).
pub(crate) fn is_target_refresh(method: &Method) -> bool {
    matches!(
        method,
        Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer
    )
}

/// A response to `request` from us: the request's To with `tag` added when
/// it has none (RFC 3261 §8.2.6.2).
pub(crate) fn response(request: &Request, status: StatusCode, tag: Option<&str>) -> Response {
    let mut response = Response::for_request(request, status);
    if let (Some(tag), false) = (tag, status == StatusCode::TRYING) {
        let to = request.headers.to().ok();
        if to.as_ref().is_some_and(|to| to.tag().is_none()) {
            if let Some(to) = request.headers.get_str(&HeaderName::To) {
                response
                    .headers
                    .set(HeaderName::To, format!("{};tag={tag}", to.trim()));
            }
        }
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finals_that_concern_our_leg_do_not_cross() {
        for (from, to) in [
            (486, 486),
            (603, 603),
            (404, 404),
            (487, 487),
            (503, 500),
            (302, 480),
            (407, 403),
            (481, 500),
            (504, 504),
        ] {
            assert_eq!(map_final(StatusCode(from)), StatusCode(to), "{from}");
        }
    }

    #[test]
    fn own_record_route_is_removed() {
        let mut r = Response::builder(StatusCode::OK)
            .header(
                HeaderName::RecordRoute,
                "<sip:contoso.customers.example.net:5061;transport=tls;lr>",
            )
            .header(
                HeaderName::RecordRoute,
                "<sip:sip-du-a-us.pstnhub.microsoft.com:5061;transport=tls;lr>",
            )
            .build();
        strip_own_record_routes(&mut r, &["Contoso.customers.example.net"]);
        let left: Vec<String> = r
            .headers
            .record_routes()
            .map(|e| e.unwrap().uri.host().to_string())
            .collect();
        assert_eq!(left, ["sip-du-a-us.pstnhub.microsoft.com"]);
    }

    #[test]
    fn sipfrag_is_a_status_line() {
        assert_eq!(&sipfrag(StatusCode::OK)[..], b"SIP/2.0 200 OK\r\n");
    }
}
