//! The dialog identifier of RFC 3261 §12: Call-ID, local tag, remote tag.

use sip::{Request, Response};

use super::DialogError;

/// Identifies a dialog at one user agent (RFC 3261 §12): the same dialog has
/// local and remote tags swapped at the two ends.
///
/// An empty `remote_tag` stands for the null tag of an RFC 2543 peer that
/// answered without a To tag (RFC 3261 §12.1.2) or sent no From tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    /// The Call-ID of every message in the dialog.
    pub call_id: String,
    /// The tag this UA put in From (as UAC) or To (as UAS).
    pub local_tag: String,
    /// The tag the peer put in To (as UAS) or From (as UAC).
    pub remote_tag: String,
}

impl DialogId {
    /// The identifier of the dialog an incoming request belongs to, seen from
    /// the receiver: local tag from To, remote tag from From (RFC 3261 §12.2.2).
    ///
    /// Fails with [`DialogError::MissingTag`] for a request without To tag,
    /// which is not a request within a dialog.
    pub fn of_incoming_request(request: &Request) -> Result<Self, DialogError> {
        let to = request.headers.to()?;
        let from = request.headers.from()?;
        let local_tag = to.tag().ok_or(DialogError::MissingTag("To"))?;
        Ok(Self {
            call_id: request.headers.call_id()?.to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag: from.tag().unwrap_or_default().to_owned(),
        })
    }

    /// The identifier of the dialog an incoming response belongs to, seen
    /// from the UAC: local tag from From, remote tag from To (empty if the
    /// response has none, RFC 3261 §12.1.2).
    pub fn of_incoming_response(response: &Response) -> Result<Self, DialogError> {
        let to = response.headers.to()?;
        let from = response.headers.from()?;
        let local_tag = from.tag().ok_or(DialogError::MissingTag("From"))?;
        Ok(Self {
            call_id: response.headers.call_id()?.to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag: to.tag().unwrap_or_default().to_owned(),
        })
    }
}
