//! The dialog state of RFC 3261 §12.1 and how it is created on both sides;
//! the sans-IO plumbing (`poll_*`, `handle_timeout`) shared by the UAC and
//! UAS halves in `uac.rs` and `uas.rs`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{Method, Request, Response, StatusCode, Uri};

use super::random::SplitMix64;
use super::wire::{self, Party};
use super::{DialogError, DialogId};
use crate::TimerConfig;

/// The states of RFC 3261 §12: a dialog created by a provisional response
/// is `Early`, one created or promoted by a 2xx is `Confirmed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a 1xx with a To tag; the INVITE has no final answer yet.
    Early,
    /// Created or promoted by a 2xx to the INVITE.
    Confirmed,
    /// Ended by BYE, by a final non-2xx (early dialog), by a 481/408 to a
    /// request within it, or by the missing ACK of §13.3.1.4.
    Terminated,
}

/// The part this user agent played in the INVITE that created the dialog.
///
/// The UAC of that INVITE "owns the Call-ID" for the 491 back-off of RFC 3261
/// §14.1; only the UAC may send BYE on an early dialog (§15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogRole {
    /// This UA sent the dialog-creating INVITE.
    Uac,
    /// This UA received it.
    Uas,
}

/// Configuration of a dialog: timer base values and the injected seed of
/// the random back-off delays (RFC 3261 §14.1, §14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DialogConfig {
    /// T1 and T2 drive the 2xx retransmission; 64*T1 its give-up time and
    /// the forking window of [`UacInvite`](super::UacInvite).
    pub timers: TimerConfig,
    /// Seed of the back-off delays. Mixed with the dialog identifier, so
    /// dialogs sharing a seed still draw different delays; pass entropy
    /// (e.g. from the OS) in production and a constant in tests.
    pub seed: u64,
}

/// Something the TU should know about, drained with [`Dialog::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialogEvent {
    /// Our 2xx to an INVITE was never acknowledged within 64*T1
    /// (RFC 3261 §13.3.1.4): the session must end. `bye` is ready to be
    /// sent in a new non-INVITE client transaction; the dialog is
    /// [`DialogState::Terminated`] already.
    AckTimeout {
        /// The BYE to send.
        bye: Box<Request>,
    },
    /// The back-off after a 491 to our `method` is over (RFC 3261 §14.1,
    /// RFC 3311 §5.1): the TU may build and send the request again.
    GlareRetry {
        /// INVITE or UPDATE.
        method: Method,
    },
    /// The peer ended the dialog. Not emitted when the TU ended it itself
    /// (by building a BYE, or through [`DialogEvent::AckTimeout`]).
    Terminated {
        /// Why the dialog ended.
        reason: TerminationReason,
    },
}

/// Why the peer ended a dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TerminationReason {
    /// The peer sent BYE (RFC 3261 §15.1.2).
    Bye,
    /// A final non-2xx to the dialog-creating INVITE ended this early
    /// dialog (RFC 3261 §12.3).
    Rejected(StatusCode),
    /// A 481 or 408 (also a locally generated one for a transaction
    /// timeout) answered a request within the dialog (RFC 3261 §12.2.1.2).
    Gone(StatusCode),
}

/// A message the dialog wants sent, drained with [`Dialog::poll_transmit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogTransmit {
    /// An ACK for a 2xx: hand it straight to the transport, it has no
    /// transaction (RFC 3261 §13.2.2.4, §17.1.1.3).
    Ack(Request),
    /// A request that needs a new client transaction (e.g. the BYE for a
    /// fork answered after another one, §13.2.2.4).
    Request(Request),
    /// A retransmission of our 2xx to an INVITE: straight to the transport,
    /// to the same destination as the first copy (RFC 3261 §13.3.1.4).
    Response(Response),
}

/// Our own INVITE within the dialog, as far as the dialog cares.
#[derive(Debug, Clone)]
pub(super) enum OutgoingInvite {
    /// No final response yet: a new INVITE from the peer gets 491.
    Pending { cseq: u32 },
    /// A 2xx arrived; `ack` is the ACK once the TU built it, replayed on
    /// each retransmission of the 2xx.
    Accepted {
        cseq: u32,
        ack: Option<Box<Request>>,
    },
}

/// The peer's INVITE within the dialog.
#[derive(Debug, Clone)]
pub(super) enum IncomingInvite {
    /// No final response sent yet: a second INVITE gets 500 + Retry-After.
    Pending { cseq: u32 },
    /// Our 2xx was sent; retransmitted until the ACK with `cseq` arrives.
    Accepted {
        cseq: u32,
        retransmit: Box<Retransmit2xx>,
    },
}

/// The schedule of RFC 3261 §13.3.1.4: T1, 2*T1, ... capped at T2, give up
/// at 64*T1.
#[derive(Debug, Clone)]
pub(super) struct Retransmit2xx {
    pub(super) response: Response,
    pub(super) next: Instant,
    pub(super) interval: Duration,
    pub(super) give_up: Instant,
}

/// One SIP dialog (RFC 3261 §12), on either side, with the INVITE-usage
/// duties the RFC puts on the UA core: 2xx retransmission (§13.3.1.4), ACK
/// for 2xx (§13.2.2.4), re-INVITE glare (§14) and target refresh (§12.2).
///
/// Sans-IO: it owns no clock or socket. Feed it with
/// [`handle_request`](Dialog::handle_request) (requests received within the
/// dialog), [`handle_response`](Dialog::handle_response) (responses to the
/// requests it built), [`handle_sent_response`](Dialog::handle_sent_response)
/// (responses the TU sent to INVITEs of the peer) and
/// [`handle_timeout`](Dialog::handle_timeout). After each call, drain in
/// this order:
///
/// 1. [`poll_transmit`](Dialog::poll_transmit) until `None`: messages to send;
/// 2. [`poll_event`](Dialog::poll_event) until `None`: what the TU must act on;
/// 3. [`poll_timeout`](Dialog::poll_timeout): when to call `handle_timeout` next.
///
/// Transmits come first because an event (e.g. `AckTimeout`) may lead the
/// TU to send more; the timeout comes last because draining does not move it.
///
/// ```no_run
/// use std::time::Instant;
/// use sip_core::{Dialog, DialogConfig, DialogEvent, DialogTransmit};
/// # fn received_invite() -> sip::Request { unimplemented!() }
/// # fn our_200_with_to_tag() -> sip::Response { unimplemented!() }
/// # fn to_transport<M>(_: M) {}
/// # fn in_client_transaction(_: sip::Request) {}
/// # fn wait_until(_: Option<Instant>) -> Instant { unimplemented!() }
/// let ok = our_200_with_to_tag(); // sent once through the server transaction
/// let mut dialog =
///     Dialog::new_uas(&received_invite(), &ok, DialogConfig::default(), Instant::now())?;
/// loop {
///     while let Some(transmit) = dialog.poll_transmit() {
///         match transmit {
///             DialogTransmit::Response(retransmitted_2xx) => to_transport(retransmitted_2xx),
///             DialogTransmit::Ack(ack) => to_transport(ack),
///             DialogTransmit::Request(request) => in_client_transaction(request),
///         }
///     }
///     while let Some(event) = dialog.poll_event() {
///         if let DialogEvent::AckTimeout { bye } = event {
///             in_client_transaction(*bye);
///         }
///     }
///     // Messages for this dialog go to handle_request / handle_response meanwhile.
///     let now = wait_until(dialog.poll_timeout());
///     dialog.handle_timeout(now);
/// }
/// # Ok::<(), sip_core::DialogError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Dialog {
    pub(super) id: DialogId,
    pub(super) role: DialogRole,
    pub(super) state: DialogState,
    /// Last CSeq number used by us; `None` until the first request (UAS).
    pub(super) local_seq: Option<u32>,
    /// Last CSeq number seen from the peer; `None` until its first request (UAC).
    pub(super) remote_seq: Option<u32>,
    pub(super) local: Party,
    pub(super) remote: Party,
    pub(super) remote_target: Uri,
    /// In the order the Route headers of our requests list them.
    pub(super) route_set: Vec<Uri>,
    pub(super) secure: bool,
    /// Our Contact header value, put on target-refresh requests.
    pub(super) local_contact: Bytes,
    pub(super) config: DialogConfig,
    pub(super) rng: SplitMix64,
    pub(super) outgoing_invite: Option<OutgoingInvite>,
    pub(super) incoming_invite: Option<IncomingInvite>,
    pub(super) glare_retry: Option<(Instant, Method)>,
    pub(super) transmits: VecDeque<DialogTransmit>,
    pub(super) events: VecDeque<DialogEvent>,
}

impl Dialog {
    /// Creates the UAC's dialog from the INVITE it sent and a response that
    /// establishes a dialog: a 101-199 with a To tag (early) or a 2xx
    /// (confirmed, a missing To tag then being the null tag), RFC 3261 §12.1.2.
    ///
    /// Route set: the response's Record-Route in reverse order; remote
    /// target: its Contact (a 1xx without Contact keeps the Request-URI, a
    /// 2xx without Contact is [`DialogError::MissingContact`]); secure: the
    /// Request-URI is `sips:` (RFC 3261 §26.2: sips is TLS on every hop);
    /// local CSeq: the INVITE's; remote CSeq: empty.
    pub fn new_uac(
        invite: &Request,
        response: &Response,
        config: DialogConfig,
    ) -> Result<Self, DialogError> {
        if invite.method != Method::Invite {
            return Err(DialogError::NotInvite(invite.method.clone()));
        }
        let status = response.status;
        let to = response.headers.to()?;
        let remote_tag = to.tag();
        let creates = (status.is_provisional() && status.0 != 100 && remote_tag.is_some())
            || status.is_success();
        if !creates {
            return Err(DialogError::NotDialogCreating(status.0));
        }
        let cseq = invite.headers.cseq()?;
        let call_id = invite.headers.call_id()?;
        let from = invite.headers.from()?;
        let local_tag = from.tag().ok_or(DialogError::MissingTag("From"))?;
        let response_cseq = response.headers.cseq()?;
        if response.headers.call_id()? != call_id
            || response.headers.from()?.tag() != Some(local_tag)
            || response_cseq.seq != cseq.seq
            || response_cseq.method != Method::Invite
        {
            return Err(DialogError::WrongDialog);
        }
        let remote_target = match wire::contact_uri(&response.headers)? {
            Some(uri) => uri,
            None if status.is_provisional() => invite.uri.clone(),
            None => return Err(DialogError::MissingContact),
        };
        let mut route_set = wire::record_route(&response.headers)?;
        route_set.reverse();
        let id = DialogId {
            call_id: call_id.to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag: remote_tag.unwrap_or_default().to_owned(),
        };
        let (state, outgoing) = if status.is_success() {
            (
                DialogState::Confirmed,
                OutgoingInvite::Accepted {
                    cseq: cseq.seq,
                    ack: None,
                },
            )
        } else {
            (
                DialogState::Early,
                OutgoingInvite::Pending { cseq: cseq.seq },
            )
        };
        Ok(Self::assemble(Assembly {
            role: DialogRole::Uac,
            state,
            local_seq: Some(cseq.seq),
            remote_seq: None,
            local: Party::from_name_addr(&from)?,
            remote: Party::from_name_addr(&to)?,
            remote_target,
            route_set,
            secure: wire::is_sips(&invite.uri),
            local_contact: wire::raw_contact(&invite.headers)?,
            config,
            outgoing_invite: Some(outgoing),
            incoming_invite: None,
            id,
        }))
    }

    /// Creates the UAS's dialog from the INVITE it received and the response
    /// it sends with a To tag: a 101-199 (early) or a 2xx (confirmed),
    /// RFC 3261 §12.1.1. `now` is when that response is sent: a 2xx starts
    /// its retransmission schedule (§13.3.1.4).
    ///
    /// Route set: the INVITE's Record-Route in order; remote target: its
    /// Contact ([`DialogError::MissingContact`] without); secure: the
    /// Request-URI is `sips:`; remote CSeq: the INVITE's; local CSeq: empty
    /// until our first request. The response must carry our Contact.
    pub fn new_uas(
        invite: &Request,
        response: &Response,
        config: DialogConfig,
        now: Instant,
    ) -> Result<Self, DialogError> {
        if invite.method != Method::Invite {
            return Err(DialogError::NotInvite(invite.method.clone()));
        }
        let status = response.status;
        if !(status.is_success() || status.is_provisional() && status.0 != 100) {
            return Err(DialogError::NotDialogCreating(status.0));
        }
        let to = response.headers.to()?;
        let local_tag = to.tag().ok_or(DialogError::MissingTag("To"))?;
        let from = invite.headers.from()?;
        let call_id = invite.headers.call_id()?;
        let cseq = invite.headers.cseq()?;
        if response.headers.call_id()? != call_id || response.headers.cseq()?.seq != cseq.seq {
            return Err(DialogError::WrongDialog);
        }
        let remote_target =
            wire::contact_uri(&invite.headers)?.ok_or(DialogError::MissingContact)?;
        let id = DialogId {
            call_id: call_id.to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag: from.tag().unwrap_or_default().to_owned(),
        };
        let mut dialog = Self::assemble(Assembly {
            role: DialogRole::Uas,
            state: DialogState::Early,
            local_seq: None,
            remote_seq: Some(cseq.seq),
            local: Party::from_name_addr(&to)?,
            remote: Party::from_name_addr(&from)?,
            remote_target,
            route_set: wire::record_route(&invite.headers)?,
            secure: wire::is_sips(&invite.uri),
            local_contact: wire::raw_contact(&response.headers)?,
            config,
            outgoing_invite: None,
            incoming_invite: Some(IncomingInvite::Pending { cseq: cseq.seq }),
            id,
        });
        dialog.handle_sent_response(response, now)?;
        Ok(dialog)
    }

    fn assemble(parts: Assembly) -> Self {
        let rng = SplitMix64::new(
            parts.config.seed,
            &[&parts.id.call_id, &parts.id.local_tag, &parts.id.remote_tag],
        );
        Self {
            id: parts.id,
            role: parts.role,
            state: parts.state,
            local_seq: parts.local_seq,
            remote_seq: parts.remote_seq,
            local: parts.local,
            remote: parts.remote,
            remote_target: parts.remote_target,
            route_set: parts.route_set,
            secure: parts.secure,
            local_contact: parts.local_contact,
            config: parts.config,
            rng,
            outgoing_invite: parts.outgoing_invite,
            incoming_invite: parts.incoming_invite,
            glare_retry: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Call-ID and tags.
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// Early, Confirmed or Terminated.
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// Whether this UA sent or received the dialog-creating INVITE.
    pub fn role(&self) -> DialogRole {
        self.role
    }

    /// The last CSeq number we used; `None` on a UAS dialog before its first request.
    pub fn local_seq(&self) -> Option<u32> {
        self.local_seq
    }

    /// The highest CSeq number received from the peer; `None` on a UAC
    /// dialog before the peer's first request.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// Our address of record in this dialog (From of our requests).
    pub fn local_uri(&self) -> &Uri {
        &self.local.uri
    }

    /// The peer's address of record (To of our requests).
    pub fn remote_uri(&self) -> &Uri {
        &self.remote.uri
    }

    /// Where requests go: the peer's latest Contact (RFC 3261 §12.2).
    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    /// The proxies our requests traverse, in Route header order (URIs only:
    /// header parameters of Record-Route entries are not kept).
    pub fn route_set(&self) -> &[Uri] {
        &self.route_set
    }

    /// Whether the dialog was set up with a `sips:` Request-URI, so every
    /// request in it must go over TLS (RFC 3261 §12.1).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The next message to send. See the type docs for the drain order.
    pub fn poll_transmit(&mut self) -> Option<DialogTransmit> {
        crate::queue::pop_releasing(&mut self.transmits)
    }

    /// The next event for the TU. See the type docs for the drain order.
    pub fn poll_event(&mut self) -> Option<DialogEvent> {
        crate::queue::pop_releasing(&mut self.events)
    }

    /// When [`handle_timeout`](Dialog::handle_timeout) must be called next,
    /// if anything is scheduled.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let retransmit = match &self.incoming_invite {
            Some(IncomingInvite::Accepted { retransmit, .. }) => {
                Some(retransmit.next.min(retransmit.give_up))
            }
            _ => None,
        };
        let glare = self.glare_retry.as_ref().map(|(at, _)| *at);
        [retransmit, glare].into_iter().flatten().min()
    }

    /// Runs whatever is due at `now`: 2xx retransmissions and their
    /// give-up (RFC 3261 §13.3.1.4), the end of a 491 back-off (§14.1).
    /// Calling it early or twice is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.run_2xx_retransmission(now);
        if let Some((at, _)) = &self.glare_retry {
            if *at <= now {
                if let Some((_, method)) = self.glare_retry.take() {
                    self.events.push_back(DialogEvent::GlareRetry { method });
                }
            }
        }
    }

    /// Moves the dialog to Terminated, telling the TU why when the peer caused it.
    pub(super) fn terminate(&mut self, reason: Option<TerminationReason>) {
        if self.state == DialogState::Terminated {
            return;
        }
        self.state = DialogState::Terminated;
        self.glare_retry = None;
        if let Some(reason) = reason {
            self.events.push_back(DialogEvent::Terminated { reason });
        }
    }
}

/// The fields the two constructors compute, before the bookkeeping ones.
struct Assembly {
    id: DialogId,
    role: DialogRole,
    state: DialogState,
    local_seq: Option<u32>,
    remote_seq: Option<u32>,
    local: Party,
    remote: Party,
    remote_target: Uri,
    route_set: Vec<Uri>,
    secure: bool,
    local_contact: Bytes,
    config: DialogConfig,
    outgoing_invite: Option<OutgoingInvite>,
    incoming_invite: Option<IncomingInvite>,
}
