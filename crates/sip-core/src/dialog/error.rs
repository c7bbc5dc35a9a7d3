//! Errors of the dialog layer.

use sip::{HeaderError, Method};

/// Why a dialog operation failed.
///
/// Variants caused by the peer (a 2xx without Contact, a response that does
/// not belong to the INVITE, ...) are distinct from misuse by the TU (asking
/// for a re-INVITE while one is in progress, building a request on a
/// terminated dialog, ...), so the caller can tell whom to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// A header the dialog needs is missing or malformed.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The From (or To) header lacks the tag this operation needs
    /// (RFC 3261 §8.1.1.3, §8.2.6.2).
    #[error("{0} header has no tag")]
    MissingTag(&'static str),
    /// A dialog-creating or target-refresh message has no usable Contact
    /// (RFC 3261 §12.1.1, §12.1.2): the dialog would have no remote target.
    #[error("no Contact to use as remote target")]
    MissingContact,
    /// The request given to create a dialog or a [`UacInvite`](super::UacInvite) is not an INVITE.
    #[error("{0} cannot create an INVITE dialog")]
    NotInvite(Method),
    /// The response cannot create a dialog: a 100, a 1xx without To tag or
    /// a final non-2xx (RFC 3261 §12.1).
    #[error("a {0} response cannot create a dialog")]
    NotDialogCreating(u16),
    /// The message carries another Call-ID or other tags than this dialog
    /// (or than the INVITE it is said to answer).
    #[error("message does not belong to this dialog")]
    WrongDialog,
    /// The dialog is terminated; no request can be sent in it.
    #[error("dialog is terminated")]
    Terminated,
    /// A new INVITE was asked for while another INVITE transaction is in
    /// progress in either direction (RFC 3261 §14.1).
    #[error("an INVITE transaction is already in progress in this dialog")]
    InviteInProgress,
    /// The request was asked for while the 491 back-off of RFC 3261 §14.1
    /// runs; wait for [`DialogEvent::GlareRetry`](super::DialogEvent::GlareRetry).
    #[error("backing off after a 491 until {until:?}")]
    GlareBackOff {
        /// When the back-off ends.
        until: std::time::Instant,
    },
    /// BYE is not allowed now: the callee may not send BYE on an early
    /// dialog, nor on a confirmed one before the ACK for its 2xx arrived or
    /// the 2xx retransmissions gave up (RFC 3261 §15).
    #[error("BYE is not allowed in the current state")]
    ByeNotAllowed,
    /// ACK and CANCEL are not built with `Dialog::request`: ACK for a 2xx
    /// comes from `Dialog::ack`, CANCEL belongs to the INVITE
    /// (RFC 3261 §9.1, §13.2.2.4).
    #[error("{0} is not built as an in-dialog request")]
    NotInDialogMethod(Method),
    /// `ack` was called but no 2xx to an INVITE of ours awaits an ACK.
    #[error("no 2xx to an INVITE awaits an ACK")]
    NothingToAcknowledge,
    /// `ack` was called twice for the same 2xx; the first ACK is replayed
    /// automatically on 2xx retransmissions.
    #[error("the 2xx has already been acknowledged")]
    AlreadyAcknowledged,
    /// The local CSeq would pass 2^31 - 1 (RFC 3261 §8.1.1.5).
    #[error("local CSeq exhausted")]
    CSeqExhausted,
}
