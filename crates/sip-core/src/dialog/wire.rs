//! Where the dialog reads and writes header text, kept in one place so the
//! other files read as RFC logic.

use bytes::Bytes;
use sip::{HeaderError, HeaderName, Headers, Method, NameAddr, Request, Response, StatusCode, Uri};

use super::DialogError;

/// One end of the dialog as it appears in From/To: display name and URI
/// (the tag lives in the [`DialogId`](super::DialogId)).
#[derive(Debug, Clone)]
pub(super) struct Party {
    pub(super) display_name: Option<String>,
    pub(super) uri: Uri,
}

impl Party {
    pub(super) fn from_name_addr(name_addr: &NameAddr<'_>) -> Result<Self, DialogError> {
        Ok(Self {
            display_name: name_addr.display_name.map(str::to_owned),
            uri: name_addr.uri.to_uri(),
        })
    }

    /// The From/To value: `"Name" <uri>;tag=..`, without tag when `tag` is
    /// empty (the null tag of RFC 3261 §12.2.1.1). The display name is a
    /// quoted-string's inner text with its escapes, or tokens: quoting it
    /// as is gives a valid quoted-string either way.
    pub(super) fn header_value(&self, tag: &str) -> String {
        let mut value = String::new();
        if let Some(name) = &self.display_name {
            value.push('"');
            value.push_str(name);
            value.push_str("\" ");
        }
        value.push('<');
        value.push_str(self.uri.as_str());
        value.push('>');
        if !tag.is_empty() {
            value.push_str(";tag=");
            value.push_str(tag);
        }
        value
    }
}

/// The URI of the first Contact, `None` without Contact header.
pub(super) fn contact_uri(headers: &Headers) -> Result<Option<Uri>, DialogError> {
    Ok(headers.contact()?.map(|contact| contact.uri.to_uri()))
}

/// Our own Contact header value, verbatim.
pub(super) fn raw_contact(headers: &Headers) -> Result<Bytes, DialogError> {
    headers
        .get(&HeaderName::Contact)
        .map(Bytes::copy_from_slice)
        .ok_or(DialogError::Header(HeaderError::Missing("Contact")))
}

/// The Record-Route URIs in header order (comma lists split).
pub(super) fn record_route(headers: &Headers) -> Result<Vec<Uri>, DialogError> {
    headers
        .record_routes()
        .map(|entry| Ok(entry?.uri.to_uri()))
        .collect()
}

/// A loose router marks its Record-Route URI with `lr` (RFC 3261 §16.12.1.1).
pub(super) fn has_lr(uri: &Uri) -> bool {
    uri.param("lr").is_some()
}

/// Whether the URI has the `sips` scheme.
pub(super) fn is_sips(uri: &Uri) -> bool {
    uri.scheme() == sip::Scheme::Sips
}

/// A strict router's URI as Request-URI (RFC 3261 §12.2.1.1). The RFC asks
/// to strip parameters not allowed in a Request-URI (`method`, URI
/// headers); Record-Route URIs never carry them in practice.
pub(super) fn as_request_uri(uri: &Uri) -> Uri {
    uri.clone()
}

/// A request from its start line and header lines, without body.
pub(super) fn new_request(method: Method, uri: Uri, headers: Vec<(HeaderName, String)>) -> Request {
    let mut builder = Request::builder(method, uri);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder.build()
}

/// A response to `request` (RFC 3261 §8.2.6), with `Retry-After` if given.
pub(super) fn response_to(
    request: &Request,
    status: StatusCode,
    retry_after: Option<String>,
) -> Response {
    let mut response = Response::for_request(request, status);
    if let Some(seconds) = retry_after {
        response.headers.push(HeaderName::RetryAfter, seconds);
    }
    response
}
