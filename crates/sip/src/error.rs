//! Errors of the `sip` crate, split by operation: whole-message parsing
//! ([`ParseError`]), typed header access ([`HeaderError`]) and URI parsing
//! ([`UriError`]).

/// Why a URI (RFC 3261 §19.1, RFC 3966) was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// The input is empty.
    #[error("empty URI")]
    Empty,
    /// The URI is longer than the configured limit.
    #[error("URI longer than {limit} bytes")]
    TooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The input is not valid UTF-8.
    #[error("URI is not valid UTF-8")]
    NotUtf8,
    /// The scheme is missing or malformed.
    #[error("missing or malformed URI scheme")]
    BadScheme,
    /// The user part contains a character that must be escaped.
    #[error("invalid character in URI user part")]
    BadUser,
    /// The password contains a character that must be escaped.
    #[error("invalid character in URI password")]
    BadPassword,
    /// A `sip:`/`sips:` URI without a host.
    #[error("URI has no host")]
    MissingHost,
    /// The host is not a valid hostname, IPv4 address or IPv6 reference.
    #[error("invalid host in URI")]
    BadHost,
    /// The port is not a number in 0..=65535.
    #[error("invalid port in URI")]
    BadPort,
    /// A `;name=value` parameter is malformed.
    #[error("invalid URI parameter")]
    BadParameter,
    /// The `?name=value&..` header part is malformed.
    #[error("invalid URI header part")]
    BadHeaders,
    /// A `%` not followed by two hex digits.
    #[error("invalid percent-escape in URI")]
    BadEscape,
    /// A `tel:` URI whose number is not a global or local number.
    #[error("invalid telephone number in tel URI")]
    BadTelNumber,
    /// A local `tel:` number without the mandatory `phone-context`.
    #[error("local tel URI number without phone-context")]
    MissingPhoneContext,
    /// A `?headers` part where RFC 3261 forbids one (the Request-URI,
    /// §19.1.1 table 1).
    #[error("URI headers are not allowed here")]
    HeadersNotAllowed,
    /// A character not allowed anywhere in a URI (space, control, `<`, `>`...).
    #[error("invalid character in URI")]
    BadCharacter,
}

/// Why a typed header value could not be read; returned when a header is
/// accessed (header values are parsed lazily) and by `validate()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// A mandatory header is absent.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// The value is malformed.
    #[error("invalid {header} header: {reason}")]
    Invalid {
        /// Canonical name of the header.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The value holds a malformed URI.
    #[error("invalid URI in {header} header: {source}")]
    BadUri {
        /// Canonical name of the header.
        header: &'static str,
        /// What is wrong with the URI.
        source: UriError,
    },
}

impl HeaderError {
    pub(crate) fn invalid(header: &'static str, reason: &'static str) -> Self {
        HeaderError::Invalid { header, reason }
    }
}

/// Why a message (or a byte stream) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The datagram holds nothing but CR/LF (e.g. a keep-alive).
    #[error("empty message")]
    Empty,
    /// The message is larger than `Limits::max_message_size`.
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Size seen so far.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The request-line or status-line is malformed.
    #[error("malformed start line: {0}")]
    BadStartLine(&'static str),
    /// The SIP version is not SIP/2.0.
    #[error("unsupported SIP version (only SIP/2.0)")]
    BadVersion,
    /// The method is not a token.
    #[error("invalid method")]
    BadMethod,
    /// The Request-URI is malformed.
    #[error("invalid Request-URI: {0}")]
    BadRequestUri(#[source] UriError),
    /// The status code is not three digits in 100..=699.
    #[error("invalid status code")]
    BadStatusCode,
    /// A line is longer than `Limits::max_line_length`.
    #[error("line {line} exceeds the limit of {limit} bytes")]
    LineTooLong {
        /// 1-based line number.
        line: usize,
        /// The configured limit.
        limit: usize,
    },
    /// More header lines than `Limits::max_headers`.
    #[error("more than {limit} headers")]
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// More Via values than `Limits::max_vias`.
    #[error("more than {limit} Via values")]
    TooManyVias {
        /// The configured limit.
        limit: usize,
    },
    /// A header line is not `name: value`.
    #[error("malformed header line {line}: {reason}")]
    BadHeaderLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The header block does not end with an empty line.
    #[error("header block not terminated by an empty line")]
    UnterminatedHeaders,
    /// A header every message of this kind must carry is absent.
    #[error("missing mandatory {0} header")]
    MissingHeader(&'static str),
    /// A header that may appear once appears more than once.
    #[error("{0} header appears more than once")]
    DuplicateHeader(&'static str),
    /// A typed header is malformed.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// Content-Length announces more bytes than the datagram carries.
    #[error("Content-Length {declared} exceeds the {available} bytes of body")]
    ContentLengthMismatch {
        /// The Content-Length value.
        declared: usize,
        /// Bytes actually present after the header block.
        available: usize,
    },
    /// A message on a stream transport without Content-Length (RFC 3261 §18.3).
    #[error("missing Content-Length on a stream transport")]
    MissingContentLength,
    /// The CSeq method differs from the request method (RFC 3261 §8.1.1.5).
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
    /// The body is not empty but there is no Content-Type (RFC 3261 §20.15).
    #[error("body without Content-Type")]
    MissingContentType,
    /// The reason phrase is not valid UTF-8.
    #[error("reason phrase is not valid UTF-8")]
    BadReasonPhrase,
}
