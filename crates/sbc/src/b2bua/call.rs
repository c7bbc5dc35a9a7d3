//! A call: two legs (more while a transfer is under way, or when
//! switchboard mixes several parties), each one SIP dialog with its own
//! Call-ID, tags and CSeq (RFC 7092 §3.1: a signalling B2BUA terminates
//! and re-originates every dialog), and the state that ties them
//! together ([`Topology`]: who talks to whom).

use std::time::Instant;

use bytes::Bytes;
use sip::{HeaderName, Request, Uri};
use sip_core::{Dialog, TransactionKey, UacInvite};

use super::dtmf::InfoDuplicates;
use super::io::{CallId, LegId, LegPeer, NextHop, Party};
use super::sdp_rewrite::{LegSdp, LocalDescription};
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
    /// switchboard is or was a party of the call: a call to a flow, or
    /// one it originated. The application may dial, add parties and hang
    /// it up.
    pub(crate) local: bool,
    /// Who talks to whom.
    pub(crate) topology: Topology,
    /// The tenant whose DID a local call reached (or that originated it).
    pub(crate) tenant: Option<TenantName>,
    /// Legs placed by `B2bua::dial` (ring-all: the first to answer wins)
    /// or `B2bua::originate`, not answered yet.
    pub(crate) dials: Vec<LegId>,
    /// Legs placed by `B2bua::add_party`, not answered yet.
    pub(crate) parties: Vec<LegId>,
}

/// Who the up legs of a call talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Topology {
    /// switchboard is the only other party of the caller (a call to a
    /// flow, an answered originated call, the last party of a mixed
    /// call): offers and INFO are answered here, and dialled legs ring
    /// for the caller (`callee` names no leg).
    Local,
    /// The caller and the callee talk to each other: in-dialog requests
    /// are relayed between them and a BYE from one ends the other (an
    /// ordinary B2BUA call, RFC 7092 §3.1).
    Paired,
    /// Every member talks to switchboard, which mixes their media: offers
    /// and INFO are answered here, nothing is relayed, and a BYE ends only
    /// the leg it came on. `caller` and `callee` keep naming the legs
    /// that last held those positions.
    Mixed(Vec<LegId>),
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
        local: bool,
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
            topology: if local {
                Topology::Local
            } else {
                Topology::Paired
            },
            tenant: None,
            dials: Vec::new(),
            parties: Vec::new(),
        }
    }

    /// Whether switchboard is the caller's only other party: a call to a
    /// flow no dialled leg has answered yet.
    pub(crate) fn answers_itself(&self) -> bool {
        self.topology == Topology::Local
    }

    /// Whether switchboard answers offers and INFO itself (nothing is
    /// relayed): a local or a mixed call.
    pub(crate) fn answers_offers(&self) -> bool {
        self.topology != Topology::Paired
    }

    /// Whether `leg` holds a place in the conversation: a position of a
    /// local or paired call, a member of a mixed one (not a replaced
    /// leg, a transfer target or a ringing leg).
    pub(crate) fn holds_place(&self, leg: LegId) -> bool {
        match &self.topology {
            Topology::Local => leg == self.caller,
            Topology::Paired => leg == self.caller || leg == self.callee,
            Topology::Mixed(members) => members.contains(&leg),
        }
    }

    /// The legs that are up and hold a place in the conversation.
    pub(crate) fn up_legs(&self) -> Vec<LegId> {
        let places = match &self.topology {
            Topology::Local => vec![self.caller],
            Topology::Paired => vec![self.caller, self.callee],
            Topology::Mixed(members) => members.clone(),
        };
        places
            .into_iter()
            .filter(|id| self.leg(*id).is_some_and(|l| l.confirmed().is_some()))
            .collect()
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
    /// Key presses given to the leg as INFO, each way, not matched yet
    /// (a peer that takes INFO).
    pub(crate) info_presses: InfoDuplicates,
    /// Our own re-INVITE on the leg, under way or waiting to be sent
    /// again after a 491.
    pub(crate) own_reinvite: Option<OwnReinvite>,
}

/// A re-INVITE the B2BUA sends on a leg of its own accord (RFC 3261
/// §14.1), by the state of its offer.
#[derive(Debug, Clone)]
pub(crate) enum OwnReinvite {
    /// Sent, no final response yet: on a non-2xx or a timeout our
    /// description goes back to `before` (the session in force stays).
    Proceeding {
        kind: ReinviteKind,
        before: LocalDescription,
        /// How many times it was sent again after a 491.
        retries: u32,
    },
    /// Refused with 491: `offer` is sent again when the dialog's
    /// back-off ends (`sip_core::DialogEvent::GlareRetry`), unless an
    /// offer/answer exchange completed on the leg meanwhile (its count
    /// was `exchanges`).
    BackingOff {
        kind: ReinviteKind,
        offer: LocalDescription,
        exchanges: u64,
        retries: u32,
    },
}

/// What one of our own re-INVITEs is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReinviteKind {
    /// [`Purpose::Reoffer`]: a session refresh, or a new description
    /// after a transfer.
    Reoffer,
    /// [`Purpose::Restore`].
    Restore,
    /// [`Purpose::Replaces`]: its failure answers the INVITE with
    /// Replaces, which is not retried here.
    Replaces,
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
    /// Our re-INVITE offering `leg` the session in force before a
    /// relayed offer it accepted but the other leg could not be answered
    /// with; the call ends if it fails.
    Restore { call: CallId, leg: LegId },
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
    /// An INFO with a key press to `leg` (`dtmf`): a failure is counted.
    DtmfInfo { call: CallId, leg: LegId },
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
