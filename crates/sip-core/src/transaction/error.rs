//! Errors of the transaction layer.

use sip::{HeaderError, Method};

/// Why a message could not be given to, or taken from, a transaction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// A header needed to identify the transaction (Via, CSeq, From, To,
    /// Call-ID) is missing or malformed (RFC 3261 §8.1.1).
    #[error("cannot identify the transaction: {0}")]
    Header(#[from] HeaderError),
    /// The top Via has no branch parameter where RFC 3261 §8.1.1.7 requires
    /// one (we only originate `z9hG4bK` branches).
    #[error("top Via has no RFC 3261 branch")]
    MissingBranch,
    /// The request's method cannot start this kind of transaction.
    #[error("method {method} cannot start this transaction")]
    WrongMethod {
        /// The offending method.
        method: Method,
    },
    /// An ACK is never sent through a client transaction: the ACK for a
    /// non-2xx is built by the INVITE transaction, the ACK for a 2xx is sent
    /// by the TU directly (RFC 3261 §13.2.2.4, §17.1.1.3).
    #[error("an ACK is not a transaction")]
    AckIsNotATransaction,
    /// A transaction with the same key already exists.
    #[error("a transaction with this key already exists")]
    DuplicateTransaction,
    /// No transaction has this key (it may have terminated).
    #[error("no such transaction")]
    NoSuchTransaction,
    /// The status code is outside 100..=699.
    #[error("invalid status code {0}")]
    InvalidStatus(u16),
    /// The TU sent a response the server transaction's state does not allow
    /// (e.g. a second final response).
    #[error("cannot send a {status} response in state {state}")]
    ResponseNotAllowed {
        /// The status code of the refused response.
        status: u16,
        /// The state of the server transaction.
        state: &'static str,
    },
    /// A CANCEL may only be sent once a provisional response arrived and
    /// before a final one (RFC 3261 §9.1); the layer holds one requested in
    /// Calling, so it refuses only after a final response.
    #[error("cannot CANCEL an INVITE in state {state}")]
    CancelNotAllowed {
        /// The state of the client INVITE transaction.
        state: &'static str,
    },
    /// A CANCEL of this INVITE was already sent or is held until the first
    /// provisional response.
    #[error("the INVITE is already cancelled")]
    AlreadyCancelled,
    /// The transaction layer holds its maximum number of client
    /// transactions
    /// ([`TransactionLayerConfig::max_client_transactions`](crate::TransactionLayerConfig::max_client_transactions));
    /// retry once some have ended.
    #[error("overloaded: {limit} client transactions already running")]
    Overloaded {
        /// The configured limit.
        limit: usize,
    },
}
