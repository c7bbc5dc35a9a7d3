//! The B2BUA's inputs and outputs: where a message came from
//! ([`Source`]), where one goes ([`NextHop`], [`Outgoing`]) and what
//! happened to calls ([`B2buaEvent`]).

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use sip::{Message, StatusCode, Uri};

use super::media::StreamCodec;
use crate::config::{TenantName, Transport, TrunkName};
use crate::number::E164;
use crate::teams::ProxyHealth;

/// A TCP or TLS connection, named by the driver. The B2BUA only hands it
/// back in [`NextHop::Reply`] so a response leaves on the connection its
/// request came on (RFC 3261 §18.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// Where a received message came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The peer's address (for UDP the datagram's source; for TCP/TLS the
    /// connection's remote end).
    pub remote: SocketAddr,
    /// The transport it arrived over.
    pub transport: Transport,
    /// DNS names (SAN, else CN) of the verified TLS peer certificate;
    /// empty for UDP and TCP.
    pub tls_peer_names: Vec<String>,
    /// The connection, for TCP and TLS.
    pub connection: Option<ConnectionId>,
}

impl Source {
    /// Whether the transport retransmits by itself (TCP, TLS): the
    /// transaction timers of RFC 3261 §17 then skip retransmissions.
    pub(crate) fn reliable(&self) -> bool {
        self.transport != Transport::Udp
    }

    /// Where responses to a request from here go.
    pub(crate) fn reply_hop(&self) -> NextHop {
        NextHop::Reply {
            connection: self.connection,
            remote: self.remote,
            transport: self.transport,
        }
    }
}

/// Where an [`Outgoing`] message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextHop {
    /// Back to the sender of a request (responses, RFC 3261 §18.2.2): on
    /// `connection` when there is one (open a new one to `remote` if it
    /// closed), else a datagram to `remote`.
    Reply {
        /// The connection the request came on.
        connection: Option<ConnectionId>,
        /// The address it came from.
        remote: SocketAddr,
        /// Its transport.
        transport: Transport,
    },
    /// A request: resolve `uri` (the `[hosts]` map first, then RFC 3263
    /// DNS) and send over `transport`, reusing an open connection to the
    /// resolved address. For TLS the peer certificate must cover the URI
    /// host.
    Resolve {
        /// The next hop: the first Route, else the Request-URI.
        uri: Uri,
        /// The transport to use.
        transport: Transport,
    },
}

/// A message the B2BUA wants sent, its Via already naming the SBC.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The request or response.
    pub message: Message,
    /// Where to.
    pub next_hop: NextHop,
}

/// A call through the B2BUA: its two legs and everything between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// One leg of a call (one SIP dialog with one peer). A transfer gives a
/// call a new leg; leg ids are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u64);

impl fmt::Display for LegId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "leg-{}", self.0)
    }
}

/// A party's position in a call. The caller is whoever sent the first
/// INVITE; a transfer replaces the party in one position and keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Party {
    /// The calling party's position.
    Caller,
    /// The called party's position.
    Callee,
}

impl Party {
    /// The other position.
    pub fn other(self) -> Party {
        match self {
            Party::Caller => Party::Callee,
            Party::Callee => Party::Caller,
        }
    }
}

/// Who a leg talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegPeer {
    /// Microsoft Teams, for this tenant.
    Teams(TenantName),
    /// A carrier trunk.
    Trunk(TrunkName),
    /// A fixed URI of a static route.
    Uri,
    /// switchboard itself: a call it answers for a contact-center flow,
    /// or one it originates ([`crate::B2bua::originate`]).
    Local,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// A party sent BYE (RFC 3261 §15).
    Hangup(Party),
    /// The caller cancelled before the answer (RFC 3261 §9).
    Cancelled,
    /// The called side refused; `status` is what the caller was sent.
    Rejected(StatusCode),
    /// No target answered in time, or none could be reached.
    Unreachable(StatusCode),
    /// A party stopped refreshing its session (RFC 4028 §10).
    SessionExpired(Party),
    /// The configured maximum call duration passed.
    MaxDuration,
    /// A party never acknowledged our 2xx (RFC 3261 §13.3.1.4), or a
    /// request within a dialog got 408/481 (§12.2.1.2).
    DialogLost(Party),
    /// No media ports could be allocated.
    MediaUnavailable,
    /// The callee rang for [`crate::B2buaSettings::max_ringing`] without
    /// answering; the caller was sent 480.
    NoAnswer,
    /// The application ended a call switchboard answered or originated
    /// ([`crate::B2bua::hang_up`]), or one of its legs
    /// ([`crate::B2bua::hang_up_party`]).
    Local,
    /// A leg sent no media for the relay's timeout
    /// ([`crate::B2bua::end_on_media_timeout`]).
    MediaTimeout,
    /// A party accepted a re-offer whose answer could not be given to the
    /// other party (a codec we did not offer it, RFC 3264 §6.1), and
    /// refused to go back to the session in force before; both get a BYE
    /// with a Reason header (RFC 3326).
    SessionNotRestored(Party),
}

/// Something that happened, for CDRs, metrics and logs. Phone numbers are
/// personal data: log them only through the binary's redaction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum B2buaEvent {
    /// A new call was admitted and its first outbound INVITE sent (also
    /// for [`crate::B2bua::originate`], `from` being [`LegPeer::Local`]).
    CallStarted {
        /// The call.
        call: CallId,
        /// Who called.
        from: LegPeer,
        /// Where the call goes.
        to: LegPeer,
        /// The calling number, when it is E.164.
        caller: Option<E164>,
        /// The called number, when it is E.164.
        called: Option<E164>,
        /// When.
        at: Instant,
    },
    /// The called side answered (2xx).
    CallAnswered {
        /// The call.
        call: CallId,
        /// When.
        at: Instant,
    },
    /// A transfer (REFER, or INVITE with Replaces) connected a new party.
    CallTransferred {
        /// The call.
        call: CallId,
        /// The position the new party took.
        party: Party,
        /// Who the new leg talks to.
        to: LegPeer,
        /// When.
        at: Instant,
    },
    /// The call is over; all its legs are released.
    CallEnded {
        /// The call.
        call: CallId,
        /// Why.
        reason: EndReason,
        /// When it was answered, if it was.
        answered_at: Option<Instant>,
        /// When it ended.
        at: Instant,
    },
    /// A Teams proxy answered 503 with Retry-After: close the connection
    /// to it (Direct Routing failover); later requests open a new one.
    CloseConnection {
        /// The proxy's FQDN.
        host: String,
        /// Its port.
        port: u16,
    },
    /// A call to a DID of a contact-center flow was answered by
    /// switchboard itself (200 with SDP anchored on the media plane): the
    /// application runs the flow on it and ends it with
    /// [`crate::B2bua::hang_up`].
    LocalCallStarted {
        /// The call.
        call: CallId,
        /// The caller's leg (its media is what the flow plays to).
        leg: LegId,
        /// The codec of the caller's audio stream, as answered: what the
        /// media plane plays and listens in.
        codec: Option<StreamCodec>,
        /// The tenant whose DID was called.
        tenant: TenantName,
        /// The DID.
        did: E164,
        /// The calling number, when it is E.164.
        caller: Option<E164>,
        /// The flow's id.
        flow: String,
        /// When.
        at: Instant,
    },
    /// INFO in a call switchboard answered itself, answered 200: for
    /// DTMF (`application/dtmf-relay`, RFC 2976 usage) and the like.
    Info {
        /// The call.
        call: CallId,
        /// The leg whose dialog carried it: the caller's, or in a mixed
        /// call any member's (an agent's key presses are not the
        /// caller's).
        leg: LegId,
        /// Its Content-Type, empty when absent.
        content_type: String,
        /// Its body.
        body: bytes::Bytes,
    },
    /// A key press came as SIP INFO on one leg of a two-party call for
    /// the other, whose peer does not take INFO (Teams: RFC 4733 only;
    /// a trunk whose `dtmf` is `rfc4733` or `inband`): the INFO was
    /// answered 200 and not relayed. Have the media relay send it on
    /// `to_leg` (RFC 4733 events or tones). Never log `digit`: key
    /// presses may be card numbers.
    Dtmf {
        /// The call.
        call: CallId,
        /// The leg to send it on.
        to_leg: LegId,
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// How long it was held (`Duration=`; 100 ms when not said).
        duration: std::time::Duration,
    },
    /// An INFO with a key press ([`crate::B2bua::send_dtmf_info`]) got
    /// a final non-2xx, timed out (408) or could not be sent (400: no
    /// such leg or dialog); counted in
    /// [`crate::Stats::dtmf_info_failures`]. The call goes on.
    DtmfInfoFailed {
        /// The call.
        call: CallId,
        /// The leg it was for.
        leg: LegId,
        /// What came back.
        status: StatusCode,
    },
    /// A leg placed by [`crate::B2bua::dial`] got a provisional response
    /// (180: the agent's Teams clients ring).
    DialProgress {
        /// The call.
        call: CallId,
        /// The dialled leg.
        leg: LegId,
        /// 180, 183...
        status: StatusCode,
    },
    /// A leg placed by [`crate::B2bua::dial`], [`crate::B2bua::add_party`]
    /// or [`crate::B2bua::originate`] answered (and was acknowledged):
    /// - a dialled leg of a caller waiting in a flow is bridged with the
    ///   caller ([`MediaAnchor::bridge`](crate::MediaAnchor::bridge)), the
    ///   other dialled legs are cancelled, and the call is an ordinary
    ///   two-party call from now on (BYE, re-INVITE, REFER);
    /// - an added party joins the call, which is mixed from now on: the
    ///   application mixes its media, nothing else changes;
    /// - the first leg of an originated call: switchboard is its other
    ///   party, as for a caller in a flow.
    DialAnswered {
        /// The call.
        call: CallId,
        /// The leg that answered.
        leg: LegId,
        /// The codec of its audio stream, as negotiated: what the media
        /// plane plays and listens in on it.
        codec: Option<StreamCodec>,
        /// When.
        at: Instant,
    },
    /// A leg of a call that goes on ended: its BYE came, it was hung up
    /// with [`crate::B2bua::hang_up_party`], its session expired or its
    /// dialog was lost. Its media are released. Only for legs that were
    /// up; a call whose last leg leaves gets [`B2buaEvent::CallEnded`]
    /// instead.
    PartyLeft {
        /// The call.
        call: CallId,
        /// The leg that left.
        leg: LegId,
        /// Why ([`EndReason::Hangup`] for its own BYE, [`EndReason::Local`]
        /// for `hang_up_party`).
        reason: EndReason,
        /// When.
        at: Instant,
    },
    /// A leg placed by `dial`, `add_party` or `originate` failed
    /// (rejected, no answer in time, unreachable) or was cancelled
    /// ([`crate::B2bua::cancel_dial`], `hang_up_party`, or another dialled
    /// leg answered first: 487); the rest of the call stays as it was,
    /// except for an originated call, which ends ([`B2buaEvent::CallEnded`]
    /// follows).
    DialFailed {
        /// The call.
        call: CallId,
        /// The dialled leg.
        leg: LegId,
        /// The final status (487 when cancelled).
        status: StatusCode,
        /// When.
        at: Instant,
    },
    /// A Teams proxy turned Active (answered OPTIONS) or Inactive (no 2xx
    /// for three OPTIONS intervals).
    ProxyHealth {
        /// The proxy's FQDN.
        host: String,
        /// Its health from now on.
        health: ProxyHealth,
        /// When.
        at: Instant,
    },
}
