//! What the emulated proxy reports to tests ([`Event`]) and the names its
//! inputs and outputs use: which proxy, which connection, where a message
//! goes.

use std::fmt;

use sip::{Message, Method, StatusCode};

/// One of the configured proxies, by its index in
/// [`EmulatorConfig::proxies`](crate::EmulatorConfig::proxies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProxyId(pub usize);

/// A TLS connection, named by the driver; the proxy only hands it back in
/// [`Destination::Connection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionRef(pub u64);

/// A call seen by the emulator, in either direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// The TLS facts of a received message: which proxy's listener (or
/// outgoing connection) it came on, the connection, and the DNS names of
/// the certificate the peer presented (SAN dNSName entries and the CN;
/// empty without a client certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The proxy that received it.
    pub proxy: ProxyId,
    /// The connection it arrived on.
    pub connection: ConnectionRef,
    /// The names of the peer certificate.
    pub peer_names: Vec<String>,
}

/// Where a [`Transmit`] goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    /// Back on the connection a request came on (responses, RFC 3261
    /// §18.2.2).
    Connection(ConnectionRef),
    /// To the SBC at `host:port` over TLS, `host` being the server name
    /// to verify (the proxy opens connections to the SBC's signalling
    /// port).
    Sbc {
        /// The SBC FQDN (or, if the SBC wrote one, an IP address).
        host: String,
        /// Its port.
        port: u16,
    },
}

/// A message the proxy wants sent.
#[derive(Debug, Clone)]
pub struct Transmit {
    /// The proxy sending it (its certificate is the client certificate of
    /// a new connection).
    pub proxy: ProxyId,
    /// Where to.
    pub destination: Destination,
    /// The message, with its Via filled in.
    pub message: Message,
}

/// Which side did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The emulated Teams side (a user, or the API).
    Teams,
    /// The SBC.
    Sbc,
}

/// Health of an SBC as the proxies see it (Direct Routing health
/// dashboard: "Active" / "Inactive").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SbcStatus {
    /// It sent OPTIONS within the last three minutes and answered ours.
    Active,
    /// Otherwise.
    Inactive,
}

/// Why the proxy refused a request of the SBC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// The proxy is configured unavailable (503).
    ProxyUnavailable,
    /// The request has no Contact (400).
    MissingContact,
    /// A header Direct Routing needs could not be parsed (400).
    BadHeader,
    /// Contact holds an IP address, not an FQDN (403).
    ContactNotFqdn,
    /// Record-Route holds an IP address, or another FQDN than Contact
    /// (403).
    RecordRouteMismatch,
    /// No tenant has the FQDN or its parent domain (403).
    UnknownTenant,
    /// The TLS certificate of the connection does not cover the Contact
    /// FQDN (403).
    CertificateMismatch,
    /// An `x-t` tenant id that is not the tenant of the FQDN (403).
    TenantMismatch,
    /// The Request-URI number (or `x-m`) is no user of the tenant (404).
    UnknownUser,
    /// A Replaces header (Direct Routing rejects it).
    Replaces,
    /// An INVITE without SDP offer (delayed offer is not supported).
    NoSdpOffer,
    /// The SDP body does not parse (400).
    BadSdp,
    /// No audio stream with `RTP/SAVP` and a supported SDES `a=crypto`
    /// (488).
    NoSrtpCrypto,
    /// No codec of the offer is one the media processor supports (488).
    NoCommonCodec,
    /// A method the proxy does not serve out of dialog (405).
    MethodNotAllowed,
}

/// Something that happened on the emulated Teams side, drained with
/// [`TeamsProxy::poll_event`](crate::TeamsProxy::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// An OPTIONS of the SBC was accepted (and answered 200).
    OptionsReceived {
        /// The proxy it reached.
        proxy: ProxyId,
        /// The SBC FQDN of its Contact.
        fqdn: String,
    },
    /// The SBC answered the proxy's own OPTIONS (408 for no answer).
    OptionsAnswered {
        /// The SBC FQDN it was sent to.
        fqdn: String,
        /// The status.
        status: StatusCode,
    },
    /// An SBC FQDN changed between Active and Inactive.
    SbcStatusChanged {
        /// The FQDN (the Contact of its OPTIONS).
        fqdn: String,
        /// The new status.
        status: SbcStatus,
    },
    /// A request of the SBC was refused.
    Rejected {
        /// Its method.
        method: Method,
        /// The status sent.
        status: StatusCode,
        /// Why.
        reason: RejectReason,
    },
    /// An INVITE of the SBC passed every check and rings a Teams user.
    CallReceived {
        /// The new call.
        call: CallId,
        /// The tenant id.
        tenant: String,
        /// The user's name.
        user: String,
        /// The From URI.
        from: String,
        /// The X-MS-SBC header, if the SBC sent one.
        x_ms_sbc: Option<String>,
        /// The Referred-By header, for the new leg of a transfer.
        referred_by: Option<String>,
        /// The proxy that received it.
        proxy: ProxyId,
    },
    /// A call from Teams (API [`place_call`](crate::TeamsProxy::place_call))
    /// was sent to the SBC.
    CallPlaced {
        /// The new call.
        call: CallId,
        /// The SBC FQDN it goes to.
        trunk: String,
    },
    /// A provisional response of the SBC to a call from Teams.
    Progress {
        /// The call.
        call: CallId,
        /// 180, 183...
        status: StatusCode,
    },
    /// The call was answered: by the emulated user (inbound) or by the
    /// SBC (outbound).
    Answered {
        /// The call.
        call: CallId,
    },
    /// A call from Teams got a final non-2xx (or 408 for no answer).
    CallFailed {
        /// The call.
        call: CallId,
        /// The status.
        status: StatusCode,
    },
    /// A call ended, or a ringing call was rejected or cancelled.
    Ended {
        /// The call.
        call: CallId,
        /// Who ended it.
        by: Party,
        /// The final status when it ended before being answered (486,
        /// 603, 408, 487...).
        status: Option<StatusCode>,
    },
    /// A re-INVITE put the call on hold (`a=inactive`) or resumed it.
    HoldChanged {
        /// The call.
        call: CallId,
        /// Whether it is now on hold.
        on_hold: bool,
        /// Who sent the re-INVITE.
        by: Party,
    },
    /// The proxy sent REFER on the call.
    ReferSent {
        /// The call.
        call: CallId,
        /// The Refer-To value.
        refer_to: String,
    },
    /// The SBC answered the REFER.
    ReferAnswered {
        /// The call.
        call: CallId,
        /// 202 when accepted.
        status: StatusCode,
    },
    /// A NOTIFY of the SBC reporting transfer progress (RFC 3515 §2.4.4).
    NotifyReceived {
        /// The call.
        call: CallId,
        /// The `message/sipfrag` body, e.g. `SIP/2.0 200 OK`.
        sipfrag: String,
        /// Whether its Subscription-State is `terminated`.
        terminated: bool,
    },
    /// The media processor received a key press from the SBC as RFC 4733
    /// telephone-events (§2.5.2: once per press, whatever the redundant
    /// end packets), as Direct Routing takes DTMF.
    DtmfReceived {
        /// The call.
        call: CallId,
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// How long it was held.
        duration: std::time::Duration,
    },
    /// The media processor stopped a call's audio (the call ended): what
    /// it received from the SBC and echoed back.
    MediaStats {
        /// The call.
        call: CallId,
        /// SRTP packets that authenticated and decrypted.
        received: u64,
        /// Packets sent back (each received one, re-encrypted with our
        /// key).
        echoed: u64,
        /// Packets refused: failed authentication, replayed, not RTP.
        refused: u64,
        /// SRTCP packets received (not echoed).
        rtcp: u64,
    },
}

impl Event {
    /// The event's name, for logs that must not carry numbers or URIs.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::OptionsReceived { .. } => "options-received",
            Event::OptionsAnswered { .. } => "options-answered",
            Event::SbcStatusChanged { .. } => "sbc-status-changed",
            Event::Rejected { .. } => "rejected",
            Event::CallReceived { .. } => "call-received",
            Event::CallPlaced { .. } => "call-placed",
            Event::Progress { .. } => "progress",
            Event::Answered { .. } => "answered",
            Event::CallFailed { .. } => "call-failed",
            Event::Ended { .. } => "ended",
            Event::HoldChanged { .. } => "hold-changed",
            Event::ReferSent { .. } => "refer-sent",
            Event::ReferAnswered { .. } => "refer-answered",
            Event::NotifyReceived { .. } => "notify-received",
            Event::DtmfReceived { .. } => "dtmf-received",
            Event::MediaStats { .. } => "media-stats",
        }
    }
}
