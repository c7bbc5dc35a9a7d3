//! Requests within a dialog (RFC 3261 §12.2.1.1) and the ACK for a 2xx
//! (§13.2.2.4).
//!
//! # The Via header
//! The dialog does not know the transport or the local address a request
//! will leave from, so every request it builds carries one Via whose
//! sent-by is the placeholder [`VIA_SENT_BY_PLACEHOLDER`] and whose branch
//! is fresh (`z9hG4bK...`, RFC 3261 §8.1.1.7):
//!
//! ```text
//! Via: SIP/2.0/UDP sent-by.invalid;branch=z9hG4bK...
//! ```
//!
//! The transport, once it has picked the flow, rewrites that Via with
//! [`fill_via_sent_by`] (keeping the branch, which the client transaction
//! is keyed on). The `.invalid` TLD (RFC 2606) guarantees that a forgotten
//! rewrite never reaches a real host.

use std::time::Instant;

use bytes::Bytes;
use sip::{HeaderName, Method, Request, Uri};

use super::state::{IncomingInvite, OutgoingInvite};
use super::wire;
use super::{Dialog, DialogError, DialogRole, DialogState};

/// The sent-by of the Via of every request a dialog builds, to be replaced
/// by the transport with [`fill_via_sent_by`].
pub const VIA_SENT_BY_PLACEHOLDER: &str = "sent-by.invalid";

/// Max-Forwards of every request built here (RFC 3261 §8.1.1.6).
const MAX_FORWARDS: &str = "70";

/// The largest CSeq number allowed (RFC 3261 §8.1.1.5: less than 2^31).
const MAX_CSEQ: u32 = 0x7FFF_FFFF;

/// Replaces the top Via of a request built by a dialog (or any request
/// whose top Via has a branch) with one naming the real transport
/// (`"UDP"`, `"TCP"`, `"TLS"`, `"WS"`, `"WSS"`) and sent-by
/// (`host[:port]`), keeping the branch. Adds `rport` (RFC 3581).
pub fn fill_via_sent_by(
    request: &mut Request,
    transport: &str,
    sent_by: &str,
) -> Result<(), DialogError> {
    let branch = request
        .headers
        .top_via()?
        .branch()
        .ok_or(sip::HeaderError::Invalid {
            header: "Via",
            reason: "no branch",
        })?
        .to_owned();
    request.headers.remove_first(&HeaderName::Via);
    request.headers.push_front(
        HeaderName::Via,
        format!("SIP/2.0/{transport} {sent_by};branch={branch};rport"),
    );
    Ok(())
}

/// Methods whose requests carry our Contact and update the peer's remote
/// target (RFC 3261 §12.2, RFC 3311 §5.1, RFC 6665 §4.1/§4.2, RFC 3515 §2.4).
pub(super) fn is_target_refresh(method: &Method) -> bool {
    matches!(
        method,
        Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer
    )
}

impl Dialog {
    /// Builds the next request within the dialog (RFC 3261 §12.2.1.1): BYE,
    /// re-INVITE, UPDATE, INFO, REFER, NOTIFY, OPTIONS, PRACK, MESSAGE...
    ///
    /// The request has Request-URI = remote target (or, when the first
    /// route is a strict router without `lr`, that route, the remote target
    /// becoming the last Route); the route set as Route headers; To with the
    /// remote tag; From with the local tag; the Call-ID; the next local CSeq;
    /// Max-Forwards 70; a Via with a fresh branch and the
    /// [placeholder](VIA_SENT_BY_PLACEHOLDER) sent-by; our Contact on target
    /// refresh requests (INVITE, UPDATE, SUBSCRIBE, NOTIFY, REFER). Add a
    /// body and further headers before sending it in a new client
    /// transaction.
    ///
    /// Building an INVITE records it as pending (for glare, §14) until its
    /// final response goes through [`handle_response`](Dialog::handle_response);
    /// building a BYE terminates the dialog (§15.1.1). `now` is checked
    /// against the 491 back-off of §14.1.
    pub fn request(&mut self, method: Method, now: Instant) -> Result<Request, DialogError> {
        if matches!(method, Method::Ack | Method::Cancel) {
            return Err(DialogError::NotInDialogMethod(method));
        }
        if self.state == DialogState::Terminated {
            return Err(DialogError::Terminated);
        }
        match method {
            Method::Invite => {
                let outgoing_pending =
                    matches!(self.outgoing_invite, Some(OutgoingInvite::Pending { .. }));
                if outgoing_pending || self.incoming_invite.is_some() {
                    return Err(DialogError::InviteInProgress);
                }
            }
            Method::Bye => {
                let awaiting_ack =
                    matches!(self.incoming_invite, Some(IncomingInvite::Accepted { .. }));
                let callee_early = self.role == DialogRole::Uas && self.state == DialogState::Early;
                if awaiting_ack || callee_early {
                    return Err(DialogError::ByeNotAllowed);
                }
            }
            _ => {}
        }
        if let Some((until, backing_off)) = &self.glare_retry {
            if *backing_off == method && now < *until {
                return Err(DialogError::GlareBackOff { until: *until });
            }
        }
        let seq = match self.local_seq {
            None => 1,
            Some(seq) if seq < MAX_CSEQ => seq + 1,
            Some(_) => return Err(DialogError::CSeqExhausted),
        };
        let mut request = self.build(method.clone(), seq);
        if is_target_refresh(&method) {
            request
                .headers
                .push(HeaderName::Contact, self.local_contact.clone());
        }
        self.local_seq = Some(seq);
        if self
            .glare_retry
            .as_ref()
            .is_some_and(|(_, backing_off)| *backing_off == method)
        {
            self.glare_retry = None;
        }
        match method {
            Method::Invite => self.outgoing_invite = Some(OutgoingInvite::Pending { cseq: seq }),
            Method::Bye => self.terminate(None),
            _ => {}
        }
        Ok(request)
    }

    /// Builds the ACK for the 2xx to our latest INVITE (RFC 3261 §13.2.2.4):
    /// the INVITE's CSeq number with method ACK, a new branch, the route
    /// set, and optionally a body (`(content type, body)`, e.g. the SDP
    /// answer to an offer in the 2xx). Hand it straight to the transport.
    ///
    /// The dialog keeps it and replays it (via
    /// [`poll_transmit`](Dialog::poll_transmit)) for every retransmission of
    /// that 2xx.
    pub fn ack(&mut self, body: Option<(&str, Bytes)>) -> Result<Request, DialogError> {
        let cseq = match &self.outgoing_invite {
            Some(OutgoingInvite::Accepted { ack: Some(_), .. }) => {
                return Err(DialogError::AlreadyAcknowledged)
            }
            Some(OutgoingInvite::Accepted { cseq, ack: None }) => *cseq,
            _ => return Err(DialogError::NothingToAcknowledge),
        };
        let mut ack = self.build(Method::Ack, cseq);
        if let Some((content_type, body)) = body {
            ack.headers
                .push(HeaderName::ContentType, content_type.to_owned());
            ack.body = body;
        }
        self.outgoing_invite = Some(OutgoingInvite::Accepted {
            cseq,
            ack: Some(Box::new(ack.clone())),
        });
        Ok(ack)
    }

    /// Request-URI and Route list of RFC 3261 §12.2.1.1, loose or strict.
    fn request_target(&self) -> (Uri, Vec<Uri>) {
        match self.route_set.split_first() {
            Some((first, rest)) if !wire::has_lr(first) => {
                let mut routes = rest.to_vec();
                routes.push(self.remote_target.clone());
                (wire::as_request_uri(first), routes)
            }
            _ => (self.remote_target.clone(), self.route_set.clone()),
        }
    }

    /// Everything but Contact and body, with `seq` as CSeq number.
    fn build(&self, method: Method, seq: u32) -> Request {
        let (uri, routes) = self.request_target();
        let mut headers = vec![
            (
                HeaderName::Via,
                format!(
                    "SIP/2.0/UDP {VIA_SENT_BY_PLACEHOLDER};branch={}",
                    sip::new_branch()
                ),
            ),
            (HeaderName::MaxForwards, MAX_FORWARDS.to_owned()),
        ];
        headers.extend(
            routes
                .iter()
                .map(|route| (HeaderName::Route, format!("<{route}>"))),
        );
        headers.push((
            HeaderName::To,
            self.remote.header_value(&self.id.remote_tag),
        ));
        headers.push((
            HeaderName::From,
            self.local.header_value(&self.id.local_tag),
        ));
        headers.push((HeaderName::CallId, self.id.call_id.clone()));
        headers.push((HeaderName::CSeq, format!("{seq} {method}")));
        wire::new_request(method, uri, headers)
    }
}
