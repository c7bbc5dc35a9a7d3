//! Sans-IO SIP transactions and dialogs (RFC 3261 §12-17, RFC 6026).
//!
//! Nothing here owns a socket, a clock or a task: every input carries
//! `now: Instant`, and the caller drains what to send and when to wake up.
#![warn(missing_docs)]

mod dialog;
mod queue;
mod timer;
mod transaction;

pub use timer::TimerConfig;
// dialog engineer: edit only the next line
pub use dialog::{
    fill_via_sent_by, unknown_dialog_response, Dialog, DialogConfig, DialogError, DialogEvent,
    DialogId, DialogRole, DialogState, DialogTransmit, RequestVerdict, TerminationReason,
    UacInvite, UacInviteEvent, UacInviteState, VIA_SENT_BY_PLACEHOLDER,
};
// transaction engineer: edit only the next line
pub use transaction::{
    build_ack, build_cancel, is_rfc3261_branch, ClientInviteState, ClientInviteTransaction,
    ClientNonInviteState, ClientNonInviteTransaction, LayerEvent, Role, ServerInviteState,
    ServerInviteTransaction, ServerNonInviteState, ServerNonInviteTransaction, Timer,
    TransactionError, TransactionEvent, TransactionKey, TransactionLayer, TransactionLayerConfig,
    TransactionStats, Transmit, DEFAULT_MAX_TRANSACTIONS, MAGIC_COOKIE, TRYING_DELAY,
};
