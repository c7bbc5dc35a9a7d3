//! Sans-IO SIP transactions: RFC 3261 §17 (client §17.1, server §17.2,
//! matching §17.1.3 and §17.2.3, ACK §17.1.1.3, transport errors §17.1.4 and
//! §17.2.4) with the Accepted state and Timers L and M of RFC 6026, and
//! CANCEL (§9.1): held until a provisional response, then 64*T1 for the
//! final response ([`Timer::Cancel`]).
//!
//! Each transaction type is usable alone; [`TransactionLayer`] holds many,
//! routes incoming messages to them and multiplexes their timers. It bounds
//! its memory ([`TransactionLayerConfig`]): beyond the limit a new request
//! is reported as [`LayerEvent::Overloaded`] for a stateless 503
//! (§21.5.4), and [`TransactionStats`] counts what happened.
//!
//! Messages without a transaction (the ACK of a 2xx, 2xx retransmissions
//! after Timers L and M, stateless 503s) are sent by the driver directly;
//! the [`TransactionLayer`] documentation lists them.

mod client_invite;
mod client_non_invite;
mod config;
mod derived;
mod error;
mod event;
mod key;
mod layer;
mod server_invite;
mod server_non_invite;
mod stats;
mod timers;

#[cfg(test)]
mod random_inputs;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod testing;

pub use client_invite::{ClientInviteState, ClientInviteTransaction};
pub use client_non_invite::{ClientNonInviteState, ClientNonInviteTransaction};
pub use config::{TransactionLayerConfig, DEFAULT_MAX_TRANSACTIONS};
pub use derived::{build_ack, build_cancel};
pub use error::TransactionError;
pub use event::{TransactionEvent, Transmit};
pub use key::{is_rfc3261_branch, Role, TransactionKey, MAGIC_COOKIE};
pub use layer::{LayerEvent, TransactionLayer};
pub use server_invite::{ServerInviteState, ServerInviteTransaction, TRYING_DELAY};
pub use server_non_invite::{ServerNonInviteState, ServerNonInviteTransaction};
pub use stats::TransactionStats;
pub use timers::Timer;
