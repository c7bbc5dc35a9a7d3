//! How the emulated proxy writes its messages: the headers Teams puts on
//! responses and requests, and where in-dialog requests go. Kept in one
//! place so the other files read as Direct Routing logic.

use sip::{HeaderName, Host, Request, Response, StatusCode, Uri};

use super::event::Destination;

/// The methods the proxy lists in Allow (as in Microsoft's traces).
pub(crate) const ALLOW: &str = "INVITE,ACK,OPTIONS,CANCEL,BYE,NOTIFY";

/// The Server / User-Agent value; SBCs recognise Teams by its prefix.
pub(crate) const PRODUCT: &str = "Microsoft.PSTNHub.SIPProxy v.emulator";

/// The port of the proxies in Via and Contact.
pub(crate) const PROXY_PORT: u16 = 5061;

/// The X-MS-SBC header of the SBC's requests (vendor guides).
pub(crate) fn x_ms_sbc() -> HeaderName {
    HeaderName::from("X-MS-SBC")
}

/// A response to `request` (RFC 3261 §8.2.6) with our To tag when given
/// and the request's To has none, and the Server header.
pub(crate) fn response(request: &Request, status: StatusCode, to_tag: Option<&str>) -> Response {
    let mut response = Response::for_request(request, status);
    if let Some(tag) = to_tag {
        let has_tag = request.headers.to().is_ok_and(|to| to.tag().is_some());
        if let (false, Some(to)) = (has_tag, request.headers.get_str(&HeaderName::To)) {
            let to = format!("{to};tag={tag}");
            response.headers.set(HeaderName::To, to);
        }
    }
    response.headers.push(HeaderName::Server, PRODUCT);
    response
}

/// A final error response with a Warning (RFC 3261 §20.43, code 399)
/// saying why, as Microsoft's proxies explain their refusals.
pub(crate) fn refusal(
    request: &Request,
    status: StatusCode,
    proxy_fqdn: &str,
    text: &str,
    to_tag: Option<&str>,
) -> Response {
    let mut response = response(request, status, to_tag);
    response.headers.push(
        HeaderName::Warning,
        format!("399 {proxy_fqdn} \"{}\"", text.replace('"', "'")),
    );
    response
}

/// The proxy's Contact: `<sip:<fqdn>:5061;transport=tls;x-i=<id>>`.
pub(crate) fn contact(proxy_fqdn: &str, x_i: &str) -> String {
    format!("<sip:{proxy_fqdn}:{PROXY_PORT};transport=tls;x-i={x_i}>")
}

/// The proxy's Via sent-by.
pub(crate) fn sent_by(proxy_fqdn: &str) -> String {
    format!("{proxy_fqdn}:{PROXY_PORT}")
}

/// The host of a URI when it is a name, not an IP address.
pub(crate) fn host_name(uri: &Uri) -> Option<String> {
    match uri.host() {
        Host::Name(name) if !name.is_empty() => Some(name.to_ascii_lowercase()),
        _ => None,
    }
}

/// The SBC as the next hop for a URI: its host and port (default
/// `default_port`).
pub(crate) fn destination(uri: &Uri, default_port: u16) -> Destination {
    Destination::Sbc {
        host: uri.host().to_string().to_ascii_lowercase(),
        port: uri.port().unwrap_or(default_port),
    }
}

/// The number of a Request-URI's user part: `+14255550100` from
/// `sip:+14255550100;ext=1@host` (user parameters cut off).
pub(crate) fn number(uri: &Uri) -> Option<&str> {
    let user = uri.user()?;
    Some(user.split(';').next().unwrap_or(user))
}

/// The value of a URI parameter with a value.
pub(crate) fn param<'a>(uri: &'a Uri, name: &str) -> Option<&'a str> {
    uri.param(name).flatten().filter(|v| !v.is_empty())
}

/// Whether the Allow header lists REFER.
pub(crate) fn allows_refer(headers: &sip::Headers) -> bool {
    headers
        .allow()
        .any(|method| method.is_ok_and(|m| m == sip::Method::Refer))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sip::Method;

    #[test]
    fn to_tag_added_once() {
        let request = Request::builder(
            Method::Options,
            Uri::parse("sip:sip.pstnhub.microsoft.com").unwrap(),
        )
        .header(
            HeaderName::Via,
            "SIP/2.0/TLS sbc1.example.net;branch=z9hG4bK1",
        )
        .header(HeaderName::From, "<sip:sbc1.example.net>;tag=a")
        .header(HeaderName::To, "<sip:sip.pstnhub.microsoft.com>")
        .header(HeaderName::CallId, "c")
        .header(HeaderName::CSeq, "1 OPTIONS")
        .build();
        let ok = response(&request, StatusCode::OK, Some("t1"));
        assert_eq!(ok.headers.to().unwrap().tag(), Some("t1"));
        assert_eq!(ok.headers.get_str(&HeaderName::Server), Some(PRODUCT));
        let no = refusal(
            &request,
            StatusCode::FORBIDDEN,
            "sip.pstnhub.microsoft.com",
            "say \"no\"",
            None,
        );
        assert_eq!(no.headers.to().unwrap().tag(), None);
        assert!(no
            .headers
            .get_str(&HeaderName::Warning)
            .unwrap()
            .starts_with("399 sip.pstnhub.microsoft.com \"say 'no'\""));
    }

    #[test]
    fn uri_pieces() {
        let uri = Uri::parse("sip:+14255550100;ext=1@SBC1.example.net:5071;transport=tls").unwrap();
        assert_eq!(number(&uri), Some("+14255550100"));
        assert_eq!(host_name(&uri).as_deref(), Some("sbc1.example.net"));
        assert_eq!(
            destination(&uri, 5061),
            Destination::Sbc {
                host: "sbc1.example.net".into(),
                port: 5071
            }
        );
        assert_eq!(host_name(&Uri::parse("sip:192.0.2.1:5061").unwrap()), None);
        let mri = Uri::parse("sip:sip.pstnhub.microsoft.com:5061;x-m=8:orgid:abc;x-t=t1").unwrap();
        assert_eq!(param(&mri, "x-m"), Some("8:orgid:abc"));
        assert_eq!(param(&mri, "x-t"), Some("t1"));
    }
}
