//! What the relay is told: leg names, ports, SRTP contexts, SDP-derived
//! settings, the latching policy (RFC 7362 §3) and relay-wide limits.

use std::net::SocketAddr;
use std::time::Duration;

use sdp::{Crypto, Direction};

use crate::error::SrtpError;
use crate::SrtpContext;

/// A leg, named by the caller: the call (session) it belongs to and its
/// number in that call. The relay never interprets the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegKey {
    /// The call or media session.
    pub session: u64,
    /// The leg within it.
    pub leg: u64,
}

impl LegKey {
    /// Leg `leg` of session `session`.
    pub const fn new(session: u64, leg: u64) -> Self {
        Self { session, leg }
    }
}

/// Local ports of a leg: one for RTP and RTCP together (`a=rtcp-mux`,
/// RFC 5761), or an RTP port and an RTCP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegPorts {
    /// The RTP port (the one in the `m=` line).
    pub rtp: u16,
    /// The RTCP port; `None` with rtcp-mux.
    pub rtcp: Option<u16>,
}

/// SRTP contexts of one leg: `inbound` checks and decrypts what the peer
/// sends us (its `a=crypto` key), `outbound` protects what we send it
/// (our `a=crypto` key).
#[derive(Debug, Clone)]
pub struct LegSrtp {
    /// For packets from the peer.
    pub inbound: SrtpContext,
    /// For packets to the peer.
    pub outbound: SrtpContext,
}

impl LegSrtp {
    /// Contexts from the peer's `a=crypto` line and ours (RFC 4568).
    pub fn from_sdes(remote: &Crypto, local: &Crypto) -> Result<Self, SrtpError> {
        Ok(Self {
            inbound: SrtpContext::from_crypto(remote)?,
            outbound: SrtpContext::from_crypto(local)?,
        })
    }

    /// Contexts for the SDES suite `suite` from the peer's inline master
    /// key and salt and ours (RFC 4568 §6.1).
    pub fn from_key_salts(suite: &str, remote: &[u8], local: &[u8]) -> Result<Self, SrtpError> {
        Ok(Self {
            inbound: SrtpContext::from_key_salt(suite, remote)?,
            outbound: SrtpContext::from_key_salt(suite, local)?,
        })
    }
}

/// Everything the relay needs to know about a leg, from its SDP.
#[derive(Debug, Clone)]
pub struct LegConfig {
    /// Our ports for this leg.
    pub ports: LegPorts,
    /// Where the peer receives RTP (its `c=` and `m=` port), if known.
    pub remote: Option<SocketAddr>,
    /// Where the peer receives RTCP without rtcp-mux (`a=rtcp` or the
    /// RTP port + 1), if known.
    pub remote_rtcp: Option<SocketAddr>,
    /// SRTP contexts, `None` for plain RTP.
    pub srtp: Option<LegSrtp>,
    /// The direction in the peer's SDP, from its point of view
    /// (`sendonly`: it sends and does not want our media).
    pub direction: Direction,
    /// RTP clock rate of the codec, for timestamps across a source change.
    pub clock_rate: u32,
}

impl LegConfig {
    /// A plain-RTP, `sendrecv`, 8 kHz leg on `ports` with no remote yet.
    pub fn new(ports: LegPorts) -> Self {
        Self {
            ports,
            remote: None,
            remote_rtcp: None,
            srtp: None,
            direction: Direction::SendRecv,
            clock_rate: 8000,
        }
    }
}

/// When the relay learns a leg's source address (RFC 7362 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatchPolicy {
    /// Latch onto the first valid packet; other sources are dropped until
    /// the SDP names a new remote ([`MediaRelay::update_remote`](crate::MediaRelay::update_remote)).
    FirstPacket,
    /// As `FirstPacket`, and also re-latch onto a new source once the
    /// latched one has sent nothing for this long.
    RelatchAfter(Duration),
    /// No latching: accept only packets from the SDP address (peers known
    /// not to be behind NAT).
    SdpOnly,
}

/// Relay-wide settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    /// Latching behaviour.
    pub latch: LatchPolicy,
    /// A bridged leg sending nothing for this long raises
    /// [`MediaEvent::MediaTimeout`](crate::MediaEvent::MediaTimeout).
    pub media_timeout: Duration,
    /// The same while the leg is on hold (its SDP says `recvonly` or
    /// `inactive`); `None`: no timeout on hold.
    pub hold_timeout: Option<Duration>,
    /// How long a transcoding bridge holds audio that arrived after a
    /// gap in the sequence numbers, waiting for the missing packet
    /// (reordered on the way) to decode them in order; after that the
    /// missing audio is concealed (Opus PLC, silence for G.711 and
    /// G.722) and a packet that still comes is dropped
    /// ([`DropReason::Late`](crate::DropReason::Late)). One 20 ms packet
    /// time by default: it is also the delay a gap adds. Zero: no
    /// waiting, a gap is concealed at once. Forwarding bridges never
    /// wait (the far end's jitter buffer reorders).
    pub reorder_wait: Duration,
}

impl Default for RelayConfig {
    /// Latch on the first packet and re-latch after 2 s of silence,
    /// 30 s media timeout, 2 h on hold, 20 ms reorder wait.
    fn default() -> Self {
        Self {
            latch: LatchPolicy::RelatchAfter(Duration::from_secs(2)),
            media_timeout: Duration::from_secs(30),
            hold_timeout: Some(Duration::from_secs(7200)),
            reorder_wait: Duration::from_millis(20),
        }
    }
}
