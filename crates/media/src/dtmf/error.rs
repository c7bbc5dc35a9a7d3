//! [`DtmfError`]: why a telephone-event payload or a SIP INFO DTMF body
//! was refused, or why a payload could not be written.

/// Why a DTMF payload or body was refused (RFC 4733 §2.3, SIP INFO
/// `application/dtmf-relay` and `application/dtmf`), or could not be
/// written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DtmfError {
    /// A telephone-event payload shorter than one 4-byte event report
    /// (RFC 4733 §2.3).
    #[error("telephone-event payload of {0} bytes, an event report needs 4")]
    EventTruncated(usize),
    /// The output buffer cannot hold the payload.
    #[error("buffer of {len} bytes, {needed} are needed")]
    BufferTooSmall {
        /// Length of the buffer.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// The INFO content type is neither `application/dtmf-relay` nor
    /// `application/dtmf`.
    #[error("content type `{0}` does not carry DTMF")]
    InfoContentType(String),
    /// An `application/dtmf-relay` body without a `Signal=` line, or an
    /// empty `application/dtmf` body.
    #[error("DTMF INFO body has no signal")]
    InfoNoSignal,
    /// Two `Signal=` lines in one `application/dtmf-relay` body.
    #[error("DTMF INFO body has more than one Signal line")]
    InfoDuplicateSignal,
    /// The signal is not a DTMF key (0-9, *, #, A-D, or event code
    /// 10-15); holds the value, cut to 16 bytes.
    #[error("DTMF INFO signal `{0}` is not a DTMF key")]
    InfoSignal(String),
    /// The `Duration=` value is not a number of milliseconds.
    #[error("DTMF INFO duration `{0}` is not a number of milliseconds")]
    InfoDuration(String),
}
