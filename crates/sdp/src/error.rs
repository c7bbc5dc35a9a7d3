//! Errors: [`SdpError`] for parsing (each variant names the 1-based line),
//! [`NegotiationError`] for the RFC 3264 helpers.

/// Why an SDP body was refused by [`Session::parse`](crate::Session::parse).
///
/// Every variant that concerns one line carries its 1-based `line` number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is larger than [`Limits::max_size`](crate::Limits::max_size).
    #[error("SDP body is {size} bytes, the limit is {max}")]
    TooLarge {
        /// Size of the body.
        size: usize,
        /// Configured limit.
        max: usize,
    },
    /// More lines than [`Limits::max_lines`](crate::Limits::max_lines).
    #[error("line {line}: more than {max} lines")]
    TooManyLines {
        /// First line over the limit.
        line: usize,
        /// Configured limit.
        max: usize,
    },
    /// More `m=` sections than [`Limits::max_media`](crate::Limits::max_media).
    #[error("line {line}: more than {max} media sections")]
    TooManyMedia {
        /// The `m=` line over the limit.
        line: usize,
        /// Configured limit.
        max: usize,
    },
    /// More `a=` lines in one section than
    /// [`Limits::max_attributes`](crate::Limits::max_attributes).
    #[error("line {line}: more than {max} attributes in one section")]
    TooManyAttributes {
        /// The `a=` line over the limit.
        line: usize,
        /// Configured limit.
        max: usize,
    },
    /// The line is not valid UTF-8.
    #[error("line {line}: not valid UTF-8")]
    NotUtf8 {
        /// Offending line.
        line: usize,
    },
    /// The line is not of the form `<letter>=<value>` (or is empty, or
    /// holds a CR or NUL).
    #[error("line {line}: expected `<type>=<value>`")]
    Malformed {
        /// Offending line.
        line: usize,
    },
    /// The type letter is not one RFC 8866 §5 defines.
    #[error("line {line}: unknown line type `{letter}`")]
    UnknownType {
        /// Offending line.
        line: usize,
        /// The type character.
        letter: char,
    },
    /// The first line is not `v=` (RFC 8866 §5.1).
    #[error("line 1: an SDP body must start with `v=`")]
    MissingVersion,
    /// `v=` is not `0`.
    #[error("line {line}: protocol version must be 0")]
    BadVersion {
        /// Offending line.
        line: usize,
    },
    /// A required line (`o=` or `s=`) is absent.
    #[error("missing required `{letter}=` line")]
    MissingLine {
        /// The missing type letter.
        letter: char,
    },
    /// A line that may appear once per section appears again.
    #[error("line {line}: duplicate `{letter}=` line")]
    Duplicate {
        /// Offending line.
        line: usize,
        /// The type letter.
        letter: char,
    },
    /// A line appears where RFC 8866 does not allow it (for example `o=`
    /// inside a media section or `r=` before any `t=`).
    #[error("line {line}: `{letter}=` is not allowed here")]
    Misplaced {
        /// Offending line.
        line: usize,
        /// The type letter.
        letter: char,
    },
    /// Bad `o=` line (RFC 8866 §5.2).
    #[error("line {line}: bad o= line: {reason}")]
    BadOrigin {
        /// Offending line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Bad `c=` line (RFC 8866 §5.7).
    #[error("line {line}: bad c= line: {reason}")]
    BadConnection {
        /// Offending line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Bad `b=` line (RFC 8866 §5.8).
    #[error("line {line}: bad b= line")]
    BadBandwidth {
        /// Offending line.
        line: usize,
    },
    /// Bad `t=` line (RFC 8866 §5.9).
    #[error("line {line}: bad t= line")]
    BadTiming {
        /// Offending line.
        line: usize,
    },
    /// Bad `m=` line (RFC 8866 §5.14).
    #[error("line {line}: bad m= line: {reason}")]
    BadMedia {
        /// Offending line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The `m=` port (or port count) is not a number in 0..=65535.
    #[error("line {line}: bad port in m= line")]
    BadPort {
        /// Offending line.
        line: usize,
    },
    /// An RTP payload type is above 127 (RFC 3550 §5.1: 7 bits).
    #[error("line {line}: payload type {value} is above 127")]
    PayloadTypeOutOfRange {
        /// Offending line.
        line: usize,
        /// The number found.
        value: u64,
    },
    /// An attribute this crate types (rtpmap, fmtp, crypto, rtcp, ptime,
    /// maxptime) has a value that does not follow its grammar.
    #[error("line {line}: bad a={name} attribute: {reason}")]
    BadAttribute {
        /// Offending line.
        line: usize,
        /// Attribute name.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Why an RFC 3264 operation in [`offer_answer`](crate::offer_answer)
/// failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// Every offered stream had to be rejected: answer the request with
    /// 488 Not Acceptable Here instead.
    #[error("no offered media stream is acceptable")]
    NoAcceptableMedia,
    /// [`Capabilities::ports`](crate::offer_answer::Capabilities::ports)
    /// has no port for an accepted stream.
    #[error("no local port for accepted stream {index}")]
    MissingPort {
        /// Index of the `m=` line.
        index: usize,
    },
    /// The answer does not have as many `m=` lines as the offer
    /// (RFC 3264 §6).
    #[error("offer has {offer} media sections, answer has {answer}")]
    MediaCountMismatch {
        /// `m=` lines in the offer.
        offer: usize,
        /// `m=` lines in the answer.
        answer: usize,
    },
    /// An answer stream has another media type or transport than the
    /// offered one.
    #[error("answer stream {index} does not match the offered media or transport")]
    MediaMismatch {
        /// Index of the `m=` line.
        index: usize,
    },
    /// An accepted answer stream names no codec that was offered.
    #[error("answer stream {index} has no codec that was offered")]
    NoCommonCodec {
        /// Index of the `m=` line.
        index: usize,
    },
    /// The answer's `a=crypto` tag or suite matches no offered line
    /// (RFC 4568 §7.1.3).
    #[error("answer stream {index} has a crypto line that matches no offered one")]
    CryptoMismatch {
        /// Index of the `m=` line.
        index: usize,
    },
    /// The offer required SDES-SRTP but the answer accepted the stream
    /// without an `a=crypto` line.
    #[error("answer stream {index} accepts SRTP without a crypto line")]
    MissingCrypto {
        /// Index of the `m=` line.
        index: usize,
    },
}
