//! SIP messages (RFC 3261 §7): requests, responses, parsing from a
//! datagram, serialization, and full validation.

mod builder;
pub(crate) mod parse;

use bytes::{BufMut, Bytes, BytesMut};

pub use builder::{RequestBuilder, ResponseBuilder};

use crate::error::ParseError;
use crate::header::map::Headers;
use crate::header::name::HeaderName;
use crate::limits::Limits;
use crate::method::Method;
use crate::status::StatusCode;
use crate::text::is_token_byte;
use crate::uri::Uri;

/// A request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// The headers.
    pub headers: Headers,
    /// The body (Content-Length is derived from it when serializing).
    pub body: Bytes,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: StatusCode,
    /// The reason phrase as written.
    pub reason: Bytes,
    /// The headers.
    pub headers: Headers,
    /// The body (Content-Length is derived from it when serializing).
    pub body: Bytes,
}

impl Message {
    /// Parses one datagram with the default [`Limits`].
    pub fn parse(datagram: Bytes) -> Result<Message, ParseError> {
        Message::parse_with(datagram, &Limits::default())
    }

    /// Parses one datagram. Only the start line, the header framing and
    /// Content-Length, CSeq and Max-Forwards are checked here; other header
    /// values are parsed on access or by [`Message::validate`].
    pub fn parse_with(datagram: Bytes, limits: &Limits) -> Result<Message, ParseError> {
        parse::parse_datagram(datagram, limits)
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// The headers, for changing.
    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self, Message::Request(_))
    }

    /// The request, if this is one.
    pub fn as_request(&self) -> Option<&Request> {
        match self {
            Message::Request(r) => Some(r),
            Message::Response(_) => None,
        }
    }

    /// The response, if this is one.
    pub fn as_response(&self) -> Option<&Response> {
        match self {
            Message::Request(_) => None,
            Message::Response(r) => Some(r),
        }
    }

    /// Serializes the message.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }

    /// Appends the serialized message to `out`.
    pub fn write_to(&self, out: &mut BytesMut) {
        match self {
            Message::Request(r) => r.write_to(out),
            Message::Response(r) => r.write_to(out),
        }
    }

    /// Checks the whole message: start line, mandatory headers (Via, From,
    /// To, Call-ID, CSeq; Max-Forwards is tolerated missing as RFC 3261
    /// §16.6 and RFC 4475 §3.4.1 require), every typed header present, CSeq method, Content-Length against the body and
    /// Content-Type for a non-empty body. Returns the first problem.
    pub fn validate(&self) -> Result<(), ParseError> {
        match self {
            Message::Request(r) => r.validate(),
            Message::Response(r) => r.validate(),
        }
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Message {
        Message::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Message {
        Message::Response(r)
    }
}

/// Mandatory in every message (RFC 3261 §8.1.1, §8.2.6.2).
const COMMON_MANDATORY: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

fn check_mandatory(headers: &Headers) -> Result<(), ParseError> {
    for name in &COMMON_MANDATORY {
        if !headers.contains(name) {
            return Err(ParseError::MissingHeader(name.static_str()));
        }
    }
    Ok(())
}

fn check_body(headers: &Headers, body: &Bytes) -> Result<(), ParseError> {
    if let Some(declared) = headers.content_length()? {
        if declared != body.len() {
            return Err(ParseError::ContentLengthMismatch {
                declared,
                available: body.len(),
            });
        }
    }
    if !body.is_empty() && headers.content_type()?.is_none() {
        return Err(ParseError::MissingContentType);
    }
    Ok(())
}

impl Request {
    /// Serializes the request.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.wire_len_hint());
        self.write_to(&mut out);
        out.freeze()
    }

    fn wire_len_hint(&self) -> usize {
        self.method.as_bytes().len()
            + self.uri.as_str().len()
            + 14
            + self.headers.wire_len_hint()
            + self.body.len()
    }

    /// Appends the serialized request to `out`.
    pub fn write_to(&self, out: &mut BytesMut) {
        out.reserve(self.wire_len_hint());
        out.put_slice(self.method.as_bytes());
        out.put_u8(b' ');
        out.put_slice(self.uri.as_bytes());
        out.put_slice(b" SIP/2.0\r\n");
        self.headers.write_to(self.body.len(), out);
        out.put_slice(b"\r\n");
        out.put_slice(&self.body);
    }

    /// See [`Message::validate`].
    pub fn validate(&self) -> Result<(), ParseError> {
        let method = self.method.as_bytes();
        if method.is_empty() || !method.iter().all(|&b| is_token_byte(b)) {
            return Err(ParseError::BadMethod);
        }
        check_mandatory(&self.headers)?;
        self.headers.validate()?;
        if self.headers.cseq()?.method != self.method {
            return Err(ParseError::CSeqMethodMismatch);
        }
        check_body(&self.headers, &self.body)
    }
}

impl Response {
    /// Serializes the response.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.wire_len_hint());
        self.write_to(&mut out);
        out.freeze()
    }

    fn wire_len_hint(&self) -> usize {
        self.reason.len() + 14 + self.headers.wire_len_hint() + self.body.len()
    }

    /// Appends the serialized response to `out`.
    pub fn write_to(&self, out: &mut BytesMut) {
        out.reserve(self.wire_len_hint());
        out.put_slice(b"SIP/2.0 ");
        out.put_slice(self.status.0.to_string().as_bytes());
        out.put_u8(b' ');
        out.put_slice(&self.reason);
        out.put_slice(b"\r\n");
        self.headers.write_to(self.body.len(), out);
        out.put_slice(b"\r\n");
        out.put_slice(&self.body);
    }

    /// See [`Message::validate`].
    pub fn validate(&self) -> Result<(), ParseError> {
        if !(100..=699).contains(&self.status.0) {
            return Err(ParseError::BadStatusCode);
        }
        if std::str::from_utf8(&self.reason).is_err() {
            return Err(ParseError::BadReasonPhrase);
        }
        if self.reason.iter().any(|&b| b == b'\r' || b == b'\n') {
            return Err(ParseError::BadStartLine("line break in reason phrase"));
        }
        check_mandatory(&self.headers)?;
        self.headers.validate()?;
        check_body(&self.headers, &self.body)
    }
}

#[cfg(test)]
pub(crate) mod tests;
