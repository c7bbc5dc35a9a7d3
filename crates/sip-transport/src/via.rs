//! The Via work of the transport layer:
//! - inbound requests: `received` when the sent-by differs from the source
//!   address (RFC 3261 §18.2.1) and `received` + `rport` when the client
//!   asked for rport (RFC 3581 §4);
//! - responses: where to send them (RFC 3261 §18.2.2, RFC 3581 §4);
//! - outbound requests: the sent-by a dialog left as a placeholder
//!   (`sip_core::VIA_SENT_BY_PLACEHOLDER`);
//! - connection reuse: the RFC 5923 `alias` a peer advertises.

use std::net::{IpAddr, SocketAddr};

use sip::{HeaderError, HeaderName, Headers, Host, Request, Response, Via};

use crate::flow::TransportKind;

/// Fills `received` and `rport` in the top Via of a request that came
/// from `remote` (or of a response built from one that did not parse).
pub(crate) fn stamp_received(headers: &mut Headers, remote: SocketAddr) -> Result<(), HeaderError> {
    let via = headers.top_via()?;
    let rport_asked = via.rport().is_some();
    let sent_by_is_source = via.host.ip() == Some(remote.ip());
    if sent_by_is_source && !rport_asked {
        return Ok(());
    }
    let received = format!("received={}", remote.ip());
    let rport = format!("rport={}", remote.port());
    let mut params: Vec<String> = Vec::new();
    let mut has_received = false;
    for param in split_params(via.params.as_str()) {
        let name = param.split('=').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("received") {
            has_received = true;
            params.push(received.clone());
        } else if name.eq_ignore_ascii_case("rport") {
            params.push(rport.clone());
        } else if !param.trim().is_empty() {
            params.push(param.trim().to_owned());
        }
    }
    if !has_received {
        params.push(received);
    }
    let mut value = format!("SIP/2.0/{} {}", via.transport, via.host);
    if let Some(port) = via.port {
        value.push_str(&format!(":{port}"));
    }
    for param in &params {
        value.push(';');
        value.push_str(param);
    }
    replace_top_via(headers, value)
}

/// The parameters of a Via, split at `;` outside quoted strings.
fn split_params(params: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in params.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(&params[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&params[start..]);
    out
}

/// Replaces the first Via value. When the first Via line holds a comma
/// list, every value is rewritten on its own line (RFC 3261 §7.3.1: the
/// same header).
fn replace_top_via(headers: &mut Headers, top: String) -> Result<(), HeaderError> {
    let values: Vec<String> = headers
        .vias()
        .map(|v| v.map(|v| v.to_string()))
        .collect::<Result<_, _>>()?;
    if values.len() == headers.count(&HeaderName::Via) {
        headers.remove_first(&HeaderName::Via);
        headers.push_front(HeaderName::Via, top);
        return Ok(());
    }
    headers.remove(&HeaderName::Via);
    headers.push(HeaderName::Via, top);
    for value in values.into_iter().skip(1) {
        headers.push(HeaderName::Via, value);
    }
    Ok(())
}

/// Where a response goes when it cannot use the connection its request
/// came on, or travels over UDP: the `received` address (else the sent-by
/// IP, else the request's source), at the `rport` (else the sent-by port,
/// else the transport's default).
pub(crate) fn response_address(
    response: &Response,
    kind: TransportKind,
    source: SocketAddr,
) -> Result<SocketAddr, HeaderError> {
    let via = response.headers.top_via()?;
    let ip = via
        .received_ip()
        .or_else(|| via.host.ip())
        .unwrap_or(source.ip());
    let port = match via.rport() {
        Some(Some(port)) => port,
        _ => via.port.unwrap_or(kind.default_port()),
    };
    Ok(SocketAddr::new(ip, port))
}

/// The address a peer advertises for connection reuse in the top Via of
/// a request that came on a connection from `remote` (RFC 5923 §5): its
/// sent-by, when the Via carries `alias` (or `any_sent_by`) and the
/// sent-by IP is the connection's remote IP.
pub(crate) fn advertised_alias(
    request: &Request,
    kind: TransportKind,
    remote: SocketAddr,
    any_sent_by: bool,
) -> Option<SocketAddr> {
    let via = request.headers.top_via().ok()?;
    if !(any_sent_by || via.params.contains("alias")) {
        return None;
    }
    alias_of(&via, kind, remote.ip())
}

fn alias_of(via: &Via<'_>, kind: TransportKind, remote: IpAddr) -> Option<SocketAddr> {
    let ip = via.host.ip()?;
    if ip != remote || TransportKind::from_token(via.transport) != Some(kind) {
        return None;
    }
    Some(SocketAddr::new(ip, via.port.unwrap_or(kind.default_port())))
}

/// Whether the top Via still holds the dialog layer's placeholder sent-by.
pub(crate) fn has_placeholder(request: &Request) -> bool {
    request
        .headers
        .top_via()
        .is_ok_and(|via| via.host == Host::Name(sip_core::VIA_SENT_BY_PLACEHOLDER))
}

/// `host:port` for a Via sent-by; IPv6 in brackets (RFC 5118 §4.5).
pub(crate) fn sent_by(host: Option<&str>, local: SocketAddr) -> String {
    match host {
        Some(host) => format!("{host}:{}", local.port()),
        None => local.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::Bytes;
    use sip::Message;

    use super::*;

    fn request(vias: &str) -> Request {
        let text = format!(
            "OPTIONS sip:a@example.com SIP/2.0\r\n{vias}\r\nMax-Forwards: 70\r\n\
             From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\n\
             Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        match Message::parse(Bytes::from(text)).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    }

    fn top(request: &Request) -> String {
        request.headers.top_via().unwrap().to_string()
    }

    #[test]
    fn rport_and_received_filled_rfc3581() {
        let mut r = request("Via: SIP/2.0/UDP 10.1.1.1:4540;rport;branch=z9hG4bKkjshdyff");
        stamp_received(&mut r.headers, "192.0.2.1:9988".parse().unwrap()).unwrap();
        assert_eq!(
            top(&r),
            "SIP/2.0/UDP 10.1.1.1:4540;rport=9988;branch=z9hG4bKkjshdyff;received=192.0.2.1"
        );
        let via = r.headers.top_via().unwrap();
        assert_eq!(via.rport(), Some(Some(9988)));
        assert_eq!(via.received_ip(), Some("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn received_only_when_sent_by_differs() {
        let mut same = request("Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1");
        stamp_received(&mut same.headers, "192.0.2.1:5060".parse().unwrap()).unwrap();
        assert_eq!(top(&same), "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1");

        let mut name = request("Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK1");
        stamp_received(&mut name.headers, "[2001:db8::1]:3333".parse().unwrap()).unwrap();
        assert_eq!(
            top(&name),
            "SIP/2.0/TCP host.example.com;branch=z9hG4bK1;received=2001:db8::1"
        );
        assert_eq!(
            name.headers.top_via().unwrap().received_ip(),
            Some("2001:db8::1".parse().unwrap())
        );
    }

    #[test]
    fn comma_listed_vias_keep_the_others() {
        let mut r = request(
            "Via: SIP/2.0/UDP 10.0.0.1;rport;branch=z9hG4bK1, SIP/2.0/UDP p.example;branch=z9hG4bK2",
        );
        stamp_received(&mut r.headers, "192.0.2.9:1000".parse().unwrap()).unwrap();
        let vias: Vec<String> = r.headers.vias().map(|v| v.unwrap().to_string()).collect();
        assert_eq!(
            vias,
            [
                "SIP/2.0/UDP 10.0.0.1;rport=1000;branch=z9hG4bK1;received=192.0.2.9",
                "SIP/2.0/UDP p.example;branch=z9hG4bK2"
            ]
        );
    }

    #[test]
    fn quoted_semicolons_survive() {
        let mut r = request("Via: SIP/2.0/UDP 10.0.0.1;x=\"a;b\";branch=z9hG4bK1");
        stamp_received(&mut r.headers, "192.0.2.9:1000".parse().unwrap()).unwrap();
        assert_eq!(
            top(&r),
            "SIP/2.0/UDP 10.0.0.1;x=\"a;b\";branch=z9hG4bK1;received=192.0.2.9"
        );
    }

    #[test]
    fn response_goes_to_received_and_rport() {
        let mut r = request("Via: SIP/2.0/UDP 10.1.1.1:4540;rport;branch=z9hG4bK1");
        let source: SocketAddr = "192.0.2.1:9988".parse().unwrap();
        stamp_received(&mut r.headers, source).unwrap();
        let resp = Response::for_request(&r, sip::StatusCode::OK);
        assert_eq!(
            response_address(&resp, TransportKind::Udp, source).unwrap(),
            source
        );

        let mut plain = request("Via: SIP/2.0/UDP 10.1.1.1;branch=z9hG4bK1");
        stamp_received(&mut plain.headers, source).unwrap();
        let resp = Response::for_request(&plain, sip::StatusCode::OK);
        assert_eq!(
            response_address(&resp, TransportKind::Udp, source).unwrap(),
            "192.0.2.1:5060".parse().unwrap()
        );
    }

    #[test]
    fn alias_needs_the_parameter_and_the_same_ip() {
        let remote: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let with = request("Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1;alias");
        assert_eq!(
            advertised_alias(&with, TransportKind::Tcp, remote, false),
            Some("127.0.0.1:5070".parse().unwrap())
        );
        let without = request("Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1");
        assert_eq!(
            advertised_alias(&without, TransportKind::Tcp, remote, false),
            None
        );
        assert!(advertised_alias(&without, TransportKind::Tcp, remote, true).is_some());
        let other_ip = request("Via: SIP/2.0/TCP 192.0.2.5:5070;branch=z9hG4bK1;alias");
        assert_eq!(
            advertised_alias(&other_ip, TransportKind::Tcp, remote, false),
            None
        );
        let other_kind = request("Via: SIP/2.0/TLS 127.0.0.1:5071;branch=z9hG4bK1;alias");
        assert_eq!(
            advertised_alias(&other_kind, TransportKind::Tcp, remote, false),
            None
        );
    }
}
