//! A call: two legs (more while a transfer is under way), each one SIP
//! dialog with its own Call-ID, tags and CSeq (RFC 7092 §3.1: a
//! signalling B2BUA terminates and re-originates every dialog), and the
//! state that ties them together.

use std::time::Instant;

use bytes::Bytes;
use sip::{HeaderName, Request, Uri};
use sip_core::{Dialog, TransactionKey, UacInvite};

use super::io::{CallId, LegId, LegPeer, NextHop, Party};
use super::sdp_rewrite::LegSdp;
use super::session_timer::{SessionTimer, UasTimer};
use crate::config::{TenantName, Transport};
use crate::number::E164;
use crate::security::CallPermit;
use crate::teams::{ProxyFailover, ProxyId};

/// Where a call stands (RFC 3261 §13 from the caller's point of view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallState {
    /// The outbound INVITE has no final response yet.
    Calling,
    /// Both dialogs are confirmed.
    Confirmed,
    /// Ended; waiting only to send BYEs that need an ACK first.
    Terminated,
}

/// One call.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) id: CallId,
    pub(crate) state: CallState,
    pub(crate) legs: Vec<Leg>,
    /// The leg in the caller's position.
    pub(crate) caller: LegId,
    /// The leg in the callee's position.
    pub(crate) callee: LegId,
    pub(crate) permit: Option<CallPermit>,
    pub(crate) answered_at: Option<Instant>,
    /// When the maximum call duration ends the call.
    pub(crate) hangup_at: Option<Instant>,
    /// A transfer under way.
    pub(crate) transfer: Option<Transfer>,
    /// The deadline last put on the B2BUA's timer heap.
    pub(crate) scheduled: Option<Instant>,
    /// The B2BUA's index entries of this call: (Call-ID, our tag) of every
    /// dialog (every attempt's), by leg.
    pub(crate) dialog_keys: Vec<((String, String), LegId)>,
    /// The INVITE server transactions of its UAS legs.
    pub(crate) invite_keys: Vec<(TransactionKey, LegId)>,
    /// The flow of a call switchboard answered itself (no callee leg
    /// until a dialled leg answers; `callee` names none before).
    pub(crate) local: Option<String>,
    /// The tenant whose DID a local call reached.
    pub(crate) tenant: Option<TenantName>,
    /// Legs placed by `B2bua::dial`, not answered yet.
    pub(crate) dials: Vec<LegId>,
    /// The dialled leg that answered: the call is two-party since.
    pub(crate) agent: Option<LegId>,
}

impl Call {
    /// A new call being set up: `legs` with the caller's and the callee's
    /// (none for a call switchboard answers for `local`, a flow).
    pub(crate) fn new(
        id: CallId,
        legs: Vec<Leg>,
        caller: LegId,
        callee: LegId,
        permit: CallPermit,
        local: Option<String>,
    ) -> Call {
        Call {
            id,
            state: CallState::Calling,
            legs,
            caller,
            callee,
            permit: Some(permit),
            answered_at: None,
            hangup_at: None,
            transfer: None,
            scheduled: None,
            dialog_keys: Vec::new(),
            invite_keys: Vec::new(),
            local,
            tenant: None,
            dials: Vec::new(),
            agent: None,
        }
    }

    /// Whether switchboard is the caller's other party: a call to a flow
    /// no dialled leg has answered yet.
    pub(crate) fn answers_itself(&self) -> bool {
        self.local.is_some() && self.agent.is_none()
    }

    pub(crate) fn leg(&self, id: LegId) -> Option<&Leg> {
        self.legs.iter().find(|l| l.id == id)
    }

    pub(crate) fn leg_mut(&mut self, id: LegId) -> Option<&mut Leg> {
        self.legs.iter_mut().find(|l| l.id == id)
    }

    /// The leg holding `party`'s position.
    pub(crate) fn party_leg(&self, party: Party) -> LegId {
        match party {
            Party::Caller => self.caller,
            Party::Callee => self.callee,
        }
    }

    /// The leg `leg` talks to through the B2BUA: the party in the other
    /// position.
    pub(crate) fn peer_of(&self, leg: LegId) -> Option<LegId> {
        let party = self.leg(leg)?.party;
        Some(self.party_leg(party.other()))
    }

    /// The earliest instant something of this call is due.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let legs = self.legs.iter().filter_map(Leg::deadline);
        legs.chain(self.hangup_at).min()
    }
}

/// A transfer asked for by REFER (RFC 3515) on `referrer`, being carried
/// out by the new leg `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transfer {
    pub(crate) referrer: LegId,
    pub(crate) target: LegId,
}

/// One leg: one peer, one dialog.
#[derive(Debug)]
pub(crate) struct Leg {
    pub(crate) id: LegId,
    pub(crate) party: Party,
    pub(crate) peer: LegPeer,
    /// The transport of requests to the peer.
    pub(crate) transport: Transport,
    /// The sent-by of our Via towards the peer.
    pub(crate) via_host: String,
    /// Our Contact towards the peer.
    pub(crate) contact: String,
    /// Our Record-Route towards the peer (Teams).
    pub(crate) record_route: Option<String>,
    /// The peer's number, when known in E.164.
    pub(crate) number: Option<E164>,
    pub(crate) sdp: LegSdp,
    pub(crate) dialog: LegDialog,
    pub(crate) timer: Option<SessionTimer>,
    /// A BYE waits for the ACK of our 2xx (RFC 3261 §15).
    pub(crate) bye_pending: bool,
}

impl Leg {
    /// The confirmed or early dialog of the leg, if any.
    pub(crate) fn dialog_mut(&mut self) -> Option<&mut Dialog> {
        match &mut self.dialog {
            LegDialog::Uas(uas) => uas.dialog.as_mut(),
            LegDialog::Uac(uac) => uac.attempt.as_mut()?.uac.dialog_mut(),
        }
    }

    /// The dialog, when it is confirmed.
    pub(crate) fn confirmed(&self) -> Option<&Dialog> {
        let dialog = match &self.dialog {
            LegDialog::Uas(uas) => uas.dialog.as_ref().filter(|_| uas.answered),
            LegDialog::Uac(uac) => uac.attempt.as_ref()?.uac.dialog(),
        };
        dialog.filter(|d| d.state() == sip_core::DialogState::Confirmed)
    }

    /// Whether the leg is Teams.
    pub(crate) fn is_teams(&self) -> bool {
        matches!(self.peer, LegPeer::Teams(_))
    }

    fn deadline(&self) -> Option<Instant> {
        let dialog = match &self.dialog {
            LegDialog::Uas(uas) => uas.dialog.as_ref().and_then(Dialog::poll_timeout),
            LegDialog::Uac(uac) => uac.attempt.as_ref().and_then(|a| {
                let ringing = a.ring_until.filter(|_| !a.finished);
                [a.uac.poll_timeout(), a.failover_at, ringing]
                    .into_iter()
                    .flatten()
                    .min()
            }),
        };
        [dialog, self.timer.map(|t| t.deadline)]
            .into_iter()
            .flatten()
            .min()
    }
}

/// Which side of the dialog-creating INVITE we were on.
#[derive(Debug)]
pub(crate) enum LegDialog {
    /// We received the INVITE.
    Uas(Box<UasLeg>),
    /// We sent it.
    Uac(Box<UacLeg>),
}

/// A leg whose INVITE we received.
#[derive(Debug)]
pub(crate) struct UasLeg {
    pub(crate) invite: Request,
    pub(crate) invite_key: TransactionKey,
    /// Where responses (and 2xx retransmissions) go.
    pub(crate) reply: NextHop,
    pub(crate) local_tag: String,
    /// Created by our first 1xx with a tag, or our 2xx.
    pub(crate) dialog: Option<Dialog>,
    /// A 2xx was sent.
    pub(crate) answered: bool,
    /// A final response was sent.
    pub(crate) finished: bool,
    /// Our answer to the INVITE's session timer (RFC 4028 §9).
    pub(crate) timer: UasTimer,
}

/// A leg whose INVITE we send, possibly to several targets in turn.
#[derive(Debug)]
pub(crate) struct UacLeg {
    pub(crate) template: InviteTemplate,
    pub(crate) route: OutboundRoute,
    /// The INVITE in flight, or the one that was answered.
    pub(crate) attempt: Option<Attempt>,
}

/// One INVITE to one target.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub(crate) key: TransactionKey,
    pub(crate) uac: UacInvite,
    pub(crate) next_hop: NextHop,
    pub(crate) target: Target,
    /// The session interval asked for (raised after a 422).
    pub(crate) session_expires: Option<u32>,
    /// Give up on this target if nothing was heard by then.
    pub(crate) failover_at: Option<Instant>,
    /// Stop ringing by then (set at the first provisional response).
    pub(crate) ring_until: Option<Instant>,
    /// A provisional response other than 100 arrived: the target has the
    /// call, so a 408 from it is the callee not answering, not a reason
    /// to try another Teams proxy.
    pub(crate) alerted: bool,
    /// A final response arrived.
    pub(crate) finished: bool,
}

/// Where one attempt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Proxy(ProxyId),
    Uri(usize),
}

/// The targets of an outbound leg.
#[derive(Debug)]
pub(crate) enum OutboundRoute {
    /// Teams proxies, failing over as Direct Routing asks.
    Teams {
        failover: ProxyFailover,
        /// The Request-URI: built from the number with each proxy's host,
        /// or given (a REFER target, sent to each proxy in turn).
        user: Option<E164>,
        request_uri: Option<Uri>,
    },
    /// Carrier targets (or a static URI), tried in order on 408, 480 and
    /// 5xx (RFC 3261 §16.7 style serial forking).
    Targets {
        uris: Vec<Uri>,
        transport: Transport,
    },
    /// None: switchboard answers the call itself for this flow.
    Local { flow: String },
}

/// Everything of an outbound INVITE but what changes per attempt
/// (Request-URI, Via, Call-ID, From tag).
#[derive(Debug, Clone)]
pub(crate) struct InviteTemplate {
    /// From without tag.
    pub(crate) from: String,
    /// To.
    pub(crate) to: String,
    pub(crate) max_forwards: u8,
    /// Headers after the dialog ones, in order.
    pub(crate) headers: Vec<(HeaderName, Bytes)>,
    /// The SDP offer.
    pub(crate) sdp: Bytes,
}

/// What a client transaction of ours is for.
#[derive(Debug, Clone)]
pub(crate) enum Purpose {
    /// The INVITE of an outbound leg.
    Invite { call: CallId, leg: LegId },
    /// A request relayed from leg `from` (server transaction `server`,
    /// request `request`) to leg `to`.
    Relay {
        call: CallId,
        from: LegId,
        to: LegId,
        server: TransactionKey,
        request: Box<Request>,
    },
    /// Our own re-INVITE offering `leg` a new description (session
    /// refresh, after a transfer); answered here.
    Reoffer { call: CallId, leg: LegId },
    /// A re-INVITE to `leg` carrying the offer of the new leg `new` of an
    /// INVITE with Replaces (RFC 3891), whose answer answers that INVITE.
    Replaces {
        call: CallId,
        leg: LegId,
        new: LegId,
    },
    /// A request within `leg`'s dialog whose response only its dialog
    /// needs (BYE, NOTIFY).
    InDialog { call: CallId, leg: LegId },
    /// An OPTIONS keepalive to a Teams proxy.
    Options(ProxyId),
    /// Nothing to do with the response (CANCEL, BYE of an orphan).
    Ignore,
}

/// One client transaction of ours.
#[derive(Debug, Clone)]
pub(crate) struct ClientTxn {
    pub(crate) next_hop: NextHop,
    pub(crate) purpose: Purpose,
}
