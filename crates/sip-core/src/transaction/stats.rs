//! Counters of a [`TransactionLayer`](crate::TransactionLayer), for metrics.

/// What a [`TransactionLayer`](crate::TransactionLayer) did since it was
/// created; every counter only grows. Read it with
/// [`TransactionLayer::stats`](crate::TransactionLayer::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionStats {
    /// Client transactions started (requests and CANCELs sent).
    pub client_created: u64,
    /// Server transactions created for new requests.
    pub server_created: u64,
    /// New requests given no server transaction because the layer was full
    /// ([`LayerEvent::Overloaded`](crate::LayerEvent::Overloaded)).
    pub rejected_overload: u64,
    /// Requests and CANCELs of the TU refused because the layer was full
    /// ([`TransactionError::Overloaded`](crate::TransactionError::Overloaded)).
    pub refused_overload: u64,
    /// Responses that matched no client transaction
    /// ([`LayerEvent::StrayResponse`](crate::LayerEvent::StrayResponse)).
    pub stray_responses: u64,
    /// Retransmitted requests (server) and final responses (client) absorbed
    /// by their transaction.
    pub retransmissions_absorbed: u64,
    /// Transactions ended by a timeout (Timers B, F, H and
    /// [`Timer::Cancel`](crate::Timer::Cancel)).
    pub timeouts: u64,
    /// Transactions ended by a transport error.
    pub transport_errors: u64,
}
