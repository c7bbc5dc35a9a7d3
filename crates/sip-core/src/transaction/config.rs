//! How a [`TransactionLayer`](crate::TransactionLayer) is tuned: the timers
//! of RFC 3261 table 4 and the limits that bound its memory.

use crate::TimerConfig;

/// The default of both transaction limits: with the 32 s that a server
/// transaction may live (Timers H, J, L), about 3 000 new requests a second
/// are served before the layer reports overload.
pub const DEFAULT_MAX_TRANSACTIONS: usize = 100_000;

/// The configuration of a [`TransactionLayer`](crate::TransactionLayer).
///
/// Client and server transactions are limited separately, so a flood of
/// incoming requests never stops the TU from sending its own (a BYE, a
/// CANCEL) and the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionLayerConfig {
    /// T1, T2 and T4 for every transaction.
    pub timers: TimerConfig,
    /// How many server transactions may be alive at once; a new request
    /// beyond that is reported as
    /// [`LayerEvent::Overloaded`](crate::LayerEvent::Overloaded) and the TU
    /// answers it statelessly (503 with Retry-After, RFC 3261 §21.5.4).
    pub max_server_transactions: usize,
    /// How many client transactions, counting CANCELs held until a
    /// provisional (§9.1), may be alive at once; beyond that
    /// [`send_request`](crate::TransactionLayer::send_request) and
    /// [`send_cancel`](crate::TransactionLayer::send_cancel) fail with
    /// [`TransactionError::Overloaded`](crate::TransactionError::Overloaded).
    pub max_client_transactions: usize,
}

impl Default for TransactionLayerConfig {
    fn default() -> Self {
        Self {
            timers: TimerConfig::default(),
            max_server_transactions: DEFAULT_MAX_TRANSACTIONS,
            max_client_transactions: DEFAULT_MAX_TRANSACTIONS,
        }
    }
}
