//! Dialogs (RFC 3261 §12-15; RFC 6026 §8 for 2xx handling; RFC 3311 UPDATE,
//! RFC 3515 REFER and RFC 6665 SUBSCRIBE/NOTIFY as target refresh requests).
//!
//! - [`Dialog`]: one dialog on either side. Created by the UAC from its
//!   INVITE and a 1xx-with-tag or 2xx (§12.1.2), or by the UAS from the
//!   INVITE and its own response with tag (§12.1.1). Builds requests within
//!   the dialog (§12.2.1.1, loose and strict routing) and the ACK for a 2xx
//!   (§13.2.2.4); validates received requests (§12.2.2); follows target
//!   refreshes (§12.2); answers re-INVITE collisions with 491 or 500 +
//!   Retry-After and backs off after a 491 (§14); retransmits our 2xx until
//!   the ACK arrives and asks for a BYE when it never does (§13.3.1.4).
//! - [`UacInvite`]: one outgoing INVITE and the dialogs its forks create
//!   (§13.2.2.4, §19.3): several early dialogs, the first 2xx confirms one,
//!   later 2xx from other forks get ACK + BYE.
//!
//! The dialog layer sits above the transaction layer and does not depend on
//! it: the TU passes the messages the transactions deliver, and sends what
//! the dialog queues (ACKs and 2xx retransmissions straight to the
//! transport, other requests in new client transactions). Requests carry a
//! placeholder Via sent-by that the transport fills in with
//! [`fill_via_sent_by`].
//!
//! Everything is sans-IO: `now: Instant` comes in with every input, and the
//! outputs are drained with `poll_transmit`, `poll_event` and
//! `poll_timeout`, in that order (see [`Dialog`]).

mod error;
mod fork;
mod id;
mod random;
mod request;
mod state;
mod uac;
mod uas;
mod wire;

#[cfg(test)]
mod tests;

pub use error::DialogError;
pub use fork::{UacInvite, UacInviteEvent, UacInviteState};
pub use id::DialogId;
pub use request::{fill_via_sent_by, VIA_SENT_BY_PLACEHOLDER};
pub use state::{
    Dialog, DialogConfig, DialogEvent, DialogRole, DialogState, DialogTransmit, TerminationReason,
};
pub use uas::{unknown_dialog_response, RequestVerdict};
