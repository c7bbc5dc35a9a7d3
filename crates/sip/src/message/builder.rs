//! Builders for new requests and responses, and the response skeleton of
//! RFC 3261 §8.2.6.2.

use bytes::Bytes;

use super::{Request, Response};
use crate::header::map::Headers;
use crate::header::name::HeaderName;
use crate::method::Method;
use crate::status::StatusCode;
use crate::uri::Uri;

/// Builds a [`Request`]; headers are written in the order added.
#[derive(Debug, Clone)]
#[must_use]
pub struct RequestBuilder {
    request: Request,
}

/// Builds a [`Response`]; headers are written in the order added.
#[derive(Debug, Clone)]
#[must_use]
pub struct ResponseBuilder {
    response: Response,
}

impl Request {
    /// Starts a request. Nothing is added implicitly: the caller provides
    /// Via, Max-Forwards, From, To, Call-ID, CSeq (and Contact).
    pub fn builder(method: Method, uri: Uri) -> RequestBuilder {
        RequestBuilder {
            request: Request {
                method,
                uri,
                headers: Headers::new(),
                body: Bytes::new(),
            },
        }
    }
}

impl RequestBuilder {
    /// Appends a header line.
    pub fn header(mut self, name: HeaderName, value: impl Into<Bytes>) -> Self {
        self.request.headers.push(name, value);
        self
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: impl Into<Bytes>, body: impl Into<Bytes>) -> Self {
        self.request
            .headers
            .set(HeaderName::ContentType, content_type);
        self.request.body = body.into();
        self
    }

    /// The request.
    pub fn build(self) -> Request {
        self.request
    }
}

impl Response {
    /// Starts a response; the reason phrase defaults from the code.
    pub fn builder(status: StatusCode) -> ResponseBuilder {
        let reason = Bytes::from_static(status.canonical_reason().unwrap_or("Unknown").as_bytes());
        ResponseBuilder {
            response: Response {
                status,
                reason,
                headers: Headers::new(),
                body: Bytes::new(),
            },
        }
    }

    /// A response to `req` carrying its Via lines, From, To, Call-ID and
    /// CSeq (RFC 3261 §8.2.6.2) and, for 100 Trying, its Timestamp
    /// (§8.2.6.1). The caller adds a To tag, Contact and Record-Route as
    /// its role requires. The values are shared with the request, not copied.
    pub fn for_request(req: &Request, status: StatusCode) -> Response {
        let mut names = vec![
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ];
        if status.0 == 100 {
            names.push(HeaderName::Timestamp);
        }
        let mut response = Response::builder(status).build();
        response.headers = req.headers.subset(&names);
        response
    }
}

impl ResponseBuilder {
    /// Replaces the reason phrase.
    pub fn reason(mut self, reason: impl Into<Bytes>) -> Self {
        self.response.reason = reason.into();
        self
    }

    /// Appends a header line.
    pub fn header(mut self, name: HeaderName, value: impl Into<Bytes>) -> Self {
        self.response.headers.push(name, value);
        self
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: impl Into<Bytes>, body: impl Into<Bytes>) -> Self {
        self.response
            .headers
            .set(HeaderName::ContentType, content_type);
        self.response.body = body.into();
        self
    }

    /// The response.
    pub fn build(self) -> Response {
        self.response
    }
}
