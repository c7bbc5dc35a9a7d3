//! One outgoing INVITE and the dialogs its forks create (RFC 3261 §12.1.2,
//! §13.2.2.4, §19.3; RFC 6026 §8.4 for how long 2xx keep coming).
//!
//! A proxy may fork the INVITE: every 1xx with a new To tag is a new early
//! dialog, the first 2xx confirms its dialog (promoting the early one with
//! the same tag, or creating it), and every 2xx of another fork after that
//! is acknowledged and immediately ended with BYE. A final non-2xx before
//! any 2xx ends all early dialogs. The forking window closes 64*T1 after
//! the first 2xx; early dialogs still early then are terminated.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use sip::{Method, Request, Response, StatusCode};

use super::{
    unknown_dialog_response, wire, Dialog, DialogConfig, DialogError, DialogEvent, DialogId,
    DialogTransmit, RequestVerdict,
};

/// Where the INVITE stands, from the UAC core's point of view (the names of
/// the RFC 6026 client INVITE transaction, which the core mirrors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UacInviteState {
    /// Sent, nothing heard yet.
    Calling,
    /// A provisional response arrived (early dialogs may exist).
    Proceeding,
    /// A 2xx confirmed a dialog; 2xx from other forks may still arrive
    /// until 64*T1 after it (RFC 3261 §13.2.2.4).
    Accepted,
    /// The forking window is over; the confirmed dialog lives on.
    Completed,
    /// A final non-2xx ended the INVITE; no dialog exists.
    Terminated,
}

/// What the TU learns from a [`UacInvite`], drained with
/// [`UacInvite::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UacInviteEvent {
    /// A 1xx with a new To tag created this early dialog.
    EarlyDialog(DialogId),
    /// The first 2xx confirmed this dialog; acknowledge it with
    /// [`UacInvite::ack`].
    Confirmed(DialogId),
    /// A 2xx from another fork arrived after the first one: an ACK and a
    /// BYE for it are queued in [`UacInvite::poll_transmit`] (RFC 3261
    /// §13.2.2.4).
    ForkEnded(DialogId),
    /// The forking window closed while this dialog was still early: it is
    /// terminated (RFC 3261 §13.2.2.4).
    EarlyDialogEnded(DialogId),
    /// A final non-2xx ended the INVITE before any 2xx: every early dialog
    /// is terminated (RFC 3261 §13.2.2.3).
    Rejected(StatusCode),
    /// An event of one of the dialogs (early or confirmed).
    Dialog {
        /// The dialog it comes from.
        id: DialogId,
        /// What happened.
        event: DialogEvent,
    },
}

/// The UAC core of one outgoing INVITE with every dialog it creates,
/// including those of forks (RFC 3261 §13.2.2.4).
///
/// Give it every response of the INVITE's client transaction (RFC 6026: 2xx
/// retransmissions and 2xx of other forks included) and every response and
/// request within its dialogs, via [`handle_response`](UacInvite::handle_response)
/// and [`handle_request`](UacInvite::handle_request). Drain like a
/// [`Dialog`]: [`poll_transmit`](UacInvite::poll_transmit) until `None`,
/// then [`poll_event`](UacInvite::poll_event) until `None`, then
/// [`poll_timeout`](UacInvite::poll_timeout). CANCEL is the transaction
/// layer's business (its `build_cancel`). Once the forking window is
/// over ([`UacInviteState::Completed`]) the confirmed dialog can be taken
/// out with [`into_dialog`](UacInvite::into_dialog), or kept inside.
#[derive(Debug, Clone)]
pub struct UacInvite {
    invite: Request,
    config: DialogConfig,
    state: UacInviteState,
    call_id: String,
    local_tag: String,
    cseq: u32,
    early: Vec<Dialog>,
    confirmed: Option<Dialog>,
    /// Forks answered after the first 2xx: kept to replay their ACK until
    /// the window closes.
    ended_forks: Vec<Dialog>,
    window_end: Option<Instant>,
    transmits: VecDeque<DialogTransmit>,
    events: VecDeque<UacInviteEvent>,
}

impl UacInvite {
    /// Tracks `invite`, as sent (after the transport filled its Via). It
    /// must carry a From tag and our Contact.
    pub fn new(invite: Request, config: DialogConfig) -> Result<Self, DialogError> {
        if invite.method != Method::Invite {
            return Err(DialogError::NotInvite(invite.method.clone()));
        }
        let cseq = invite.headers.cseq()?.seq;
        let call_id = invite.headers.call_id()?.to_owned();
        let local_tag = invite
            .headers
            .from()?
            .tag()
            .ok_or(DialogError::MissingTag("From"))?
            .to_owned();
        wire::raw_contact(&invite.headers)?;
        Ok(Self {
            invite,
            config,
            state: UacInviteState::Calling,
            call_id,
            local_tag,
            cseq,
            early: Vec::new(),
            confirmed: None,
            ended_forks: Vec::new(),
            window_end: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    /// The INVITE as given to [`new`](UacInvite::new).
    pub fn invite(&self) -> &Request {
        &self.invite
    }

    /// Where the INVITE stands.
    pub fn state(&self) -> UacInviteState {
        self.state
    }

    /// The confirmed dialog, once a 2xx arrived.
    pub fn dialog(&self) -> Option<&Dialog> {
        self.confirmed.as_ref()
    }

    /// The confirmed dialog, to build requests in it.
    pub fn dialog_mut(&mut self) -> Option<&mut Dialog> {
        self.confirmed.as_mut()
    }

    /// The early dialogs, one per fork that sent a 1xx with a To tag.
    pub fn early_dialogs(&self) -> impl Iterator<Item = &Dialog> + '_ {
        self.early.iter()
    }

    /// Any dialog of this INVITE by identifier: confirmed, early, or a fork
    /// being ended. Use it to send e.g. PRACK or UPDATE in an early dialog.
    pub fn find_mut(&mut self, id: &DialogId) -> Option<&mut Dialog> {
        self.confirmed
            .iter_mut()
            .chain(self.early.iter_mut())
            .chain(self.ended_forks.iter_mut())
            .find(|dialog| dialog.id() == id)
    }

    /// Takes the confirmed dialog out, ending the tracking of forks. Later
    /// 2xx from other forks are then the TU's business (answer them with
    /// [`Dialog::new_uac`], `ack`, and a BYE).
    pub fn into_dialog(self) -> Option<Dialog> {
        self.confirmed
    }

    /// Builds the ACK for the 2xx that confirmed the dialog
    /// (see [`Dialog::ack`]); it is replayed on 2xx retransmissions.
    pub fn ack(&mut self, body: Option<(&str, Bytes)>) -> Result<Request, DialogError> {
        self.confirmed
            .as_mut()
            .ok_or(DialogError::NothingToAcknowledge)?
            .ack(body)
    }

    /// Processes a response: to the INVITE (forking logic) or to a request
    /// within one of its dialogs (handed to that dialog).
    pub fn handle_response(
        &mut self,
        response: &Response,
        now: Instant,
    ) -> Result<(), DialogError> {
        let id = DialogId::of_incoming_response(response)?;
        if id.call_id != self.call_id || id.local_tag != self.local_tag {
            return Err(DialogError::WrongDialog);
        }
        let cseq = response.headers.cseq()?;
        let result = if cseq.method == Method::Invite && cseq.seq == self.cseq {
            self.handle_invite_response(response, id, now)
        } else {
            match self.find_mut(&id) {
                Some(dialog) => dialog.handle_response(response, now),
                None => Err(DialogError::WrongDialog),
            }
        };
        self.collect();
        result
    }

    /// Processes a request received within one of the dialogs; a request
    /// for none of them gets 481 (an ACK is absorbed).
    pub fn handle_request(
        &mut self,
        request: &Request,
        now: Instant,
    ) -> Result<RequestVerdict, DialogError> {
        let id = DialogId::of_incoming_request(request)?;
        let verdict = match self.find_mut(&id) {
            Some(dialog) => dialog.handle_request(request, now)?,
            None => unknown_dialog_response(request)
                .map_or(RequestVerdict::Absorb, RequestVerdict::Reject),
        };
        self.collect();
        Ok(verdict)
    }

    /// Runs what is due: the end of the forking window and the dialogs' timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == UacInviteState::Accepted && self.window_end.is_some_and(|end| end <= now) {
            self.state = UacInviteState::Completed;
            self.window_end = None;
            // Fresh vectors: a call lasts long, capacity is memory.
            self.ended_forks = Vec::new();
            for dialog in std::mem::take(&mut self.early) {
                self.events
                    .push_back(UacInviteEvent::EarlyDialogEnded(dialog.id().clone()));
            }
        }
        for dialog in self.dialogs_mut() {
            dialog.handle_timeout(now);
        }
        self.collect();
    }

    /// When to call [`handle_timeout`](UacInvite::handle_timeout) next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.confirmed
            .iter()
            .chain(self.early.iter())
            .chain(self.ended_forks.iter())
            .filter_map(Dialog::poll_timeout)
            .chain(self.window_end)
            .min()
    }

    /// The next message to send (ACKs straight to the transport, requests
    /// in new client transactions, 2xx retransmissions straight to the transport).
    pub fn poll_transmit(&mut self) -> Option<DialogTransmit> {
        crate::queue::pop_releasing(&mut self.transmits)
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<UacInviteEvent> {
        crate::queue::pop_releasing(&mut self.events)
    }

    fn handle_invite_response(
        &mut self,
        response: &Response,
        id: DialogId,
        now: Instant,
    ) -> Result<(), DialogError> {
        let status = response.status;
        if status.is_provisional() {
            if self.state == UacInviteState::Calling {
                self.state = UacInviteState::Proceeding;
            }
            // 100 and tag-less 1xx create no dialog (RFC 3261 §12.1); 1xx
            // after the 2xx or the rejection are stale.
            if status == StatusCode::TRYING
                || id.remote_tag.is_empty()
                || self.state != UacInviteState::Proceeding
            {
                return Ok(());
            }
            if let Some(dialog) = self.early.iter_mut().find(|d| d.id() == &id) {
                return dialog.handle_response(response, now);
            }
            let dialog = Dialog::new_uac(&self.invite, response, self.config)?;
            self.early.push(dialog);
            self.events.push_back(UacInviteEvent::EarlyDialog(id));
            return Ok(());
        }
        if status.is_success() {
            return self.handle_2xx(response, id, now);
        }
        // A final non-2xx after a 2xx cannot end anything (RFC 6026 §8.4);
        // a repeated one is a retransmission.
        if self.confirmed.is_some() || self.state == UacInviteState::Terminated {
            return Ok(());
        }
        self.state = UacInviteState::Terminated;
        self.early = Vec::new();
        self.events.push_back(UacInviteEvent::Rejected(status));
        Ok(())
    }

    fn handle_2xx(
        &mut self,
        response: &Response,
        id: DialogId,
        now: Instant,
    ) -> Result<(), DialogError> {
        // A retransmission: the dialog replays its ACK, if it has one.
        let known = self
            .confirmed
            .iter_mut()
            .chain(self.ended_forks.iter_mut())
            .find(|d| d.id() == &id);
        if let Some(dialog) = known {
            return dialog.handle_response(response, now);
        }
        let mut dialog = match self.early.iter().position(|d| d.id() == &id) {
            Some(index) => {
                self.early[index].handle_response(response, now)?;
                let dialog = self.early.remove(index);
                if self.early.is_empty() {
                    // The usual single fork: free its slot now.
                    self.early = Vec::new();
                }
                dialog
            }
            None => Dialog::new_uac(&self.invite, response, self.config)?,
        };
        // After a rejection, a 2xx is ended like a second fork's.
        if self.confirmed.is_none() && self.state != UacInviteState::Terminated {
            self.confirmed = Some(dialog);
            self.state = UacInviteState::Accepted;
            self.window_end = Some(now + self.config.timers.t1x64());
            self.events.push_back(UacInviteEvent::Confirmed(id));
            return Ok(());
        }
        // A 2xx from another fork: acknowledge it, then end it (§13.2.2.4).
        let ack = dialog.ack(None)?;
        self.transmits.push_back(DialogTransmit::Ack(ack));
        let bye = dialog.request(Method::Bye, now)?;
        self.transmits.push_back(DialogTransmit::Request(bye));
        self.ended_forks.push(dialog);
        self.events.push_back(UacInviteEvent::ForkEnded(id));
        Ok(())
    }

    fn dialogs_mut(&mut self) -> impl Iterator<Item = &mut Dialog> + '_ {
        self.confirmed
            .iter_mut()
            .chain(self.early.iter_mut())
            .chain(self.ended_forks.iter_mut())
    }

    /// Moves what the dialogs queued into our own queues.
    fn collect(&mut self) {
        let mut transmits = Vec::new();
        let mut events = Vec::new();
        for dialog in self.dialogs_mut() {
            while let Some(transmit) = dialog.poll_transmit() {
                transmits.push(transmit);
            }
            while let Some(event) = dialog.poll_event() {
                events.push(UacInviteEvent::Dialog {
                    id: dialog.id().clone(),
                    event,
                });
            }
        }
        self.transmits.extend(transmits);
        self.events.extend(events);
    }
}
