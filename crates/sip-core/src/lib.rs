//! Sans-IO SIP transactions and dialogs (RFC 3261 §12-17, RFC 6026).
//!
//! Nothing here owns a socket, a clock or a task: every input carries
//! `now: Instant`, and the caller drains what to send and when to wake up.
#![warn(missing_docs)]

mod dialog;
mod timer;
mod transaction;

pub use timer::TimerConfig;
// dialog engineer: edit only the next line
pub use dialog::*;
// transaction engineer: edit only the next line
pub use transaction::*;
