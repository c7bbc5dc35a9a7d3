//! The media plane as the B2BUA sees it: every leg's streams are anchored
//! on an address of the SBC (RFC 7092 §3.1.3, media-relay B2BUA), so the
//! SDP of one leg never shows the other leg's addresses. The relay itself
//! is behind [`MediaAnchor`]; [`PortAllocator`] only hands out ports.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use sdp::Direction;

use super::io::{CallId, LegId};
use crate::config::DtmfMode;
use crate::error::MediaError;

/// SRTP master keys of one stream (RFC 4568 SDES): ours, sent in our SDP,
/// and the peer's, read from its SDP.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The crypto suite, e.g. `AES_CM_128_HMAC_SHA1_80`.
    pub suite: String,
    /// Our master key and salt (we encrypt with it).
    pub local_key_salt: Vec<u8>,
    /// The peer's master key and salt, once its SDP gave one.
    pub remote_key_salt: Option<Vec<u8>>,
}

impl fmt::Debug for SrtpKeys {
    /// Leaves the keys out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpKeys")
            .field("suite", &self.suite)
            .field("local_key_salt", &"<redacted>")
            .field(
                "remote_key_salt",
                &self.remote_key_salt.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The codec one leg's stream carries: what the last offer/answer
/// exchange with that leg's peer settled on (the first voice codec of the
/// answer, RFC 3264 §6.1), in that leg's payload types.
///
/// Each leg has its own. Two bridged legs share a codec whenever their
/// peers can; when they share none the B2BUA gives each its own and the
/// relay must transcode: compare the two legs' codecs with
/// [`StreamCodec::same_codec`] (different payload types or
/// telephone-event types of one codec only need renumbering). A
/// re-INVITE can end transcoding (the legs share a codec again) or start
/// it: compare again after every [`MediaAnchor::update`] of a bridged
/// leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCodec {
    /// Its RTP payload type (the answer's, which RFC 3264 §6.1 asks to be
    /// the offer's too).
    pub payload_type: u8,
    /// Its encoding name as written (`PCMU`, `PCMA`, `G722`, `opus`...).
    pub encoding: String,
    /// Its RTP clock rate.
    pub clock_rate: u32,
    /// The payload type of `telephone-event` (RFC 4733) at `clock_rate`,
    /// if negotiated.
    pub telephone_event: Option<u8>,
}

impl StreamCodec {
    /// Whether `other` is the same codec: encoding names compared
    /// case-insensitively (RFC 4855 §3) and equal clock rates. Bridged
    /// legs whose codecs are not the same need transcoding.
    pub fn same_codec(&self, other: &StreamCodec) -> bool {
        self.encoding.eq_ignore_ascii_case(&other.encoding) && self.clock_rate == other.clock_rate
    }
}

/// One stream (`m=` line) of one leg, as negotiated so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMedia {
    /// The `m=` line's index.
    pub stream: usize,
    /// Our anchor address for this leg and stream.
    pub local: SocketAddr,
    /// Where the peer receives (its `c=` address and `m=` port); `None`
    /// while unknown, for a rejected stream, or for `c=0.0.0.0`.
    pub remote: Option<SocketAddr>,
    /// Where the peer receives RTCP: `remote` with `a=rtcp-mux` (RFC
    /// 5761), the `a=rtcp` address (RFC 3605), else the next port (RFC
    /// 3550 §11).
    pub remote_rtcp: Option<SocketAddr>,
    /// The codec this leg's stream carries, if the descriptions name one:
    /// what the last exchange with the peer settled on; before any
    /// answer, the peer's first. Compare with the bridged leg's to know
    /// whether to transcode ([`StreamCodec::same_codec`]).
    pub codec: Option<StreamCodec>,
    /// SRTP keys when the leg uses `RTP/SAVP` (Teams), `None` for plain RTP.
    pub srtp: Option<SrtpKeys>,
    /// The direction the peer asked for, from its point of view.
    pub direction: Direction,
    /// How the leg's peer takes DTMF (and sends it): its trunk's `dtmf`;
    /// RFC 4733 for Teams and everything else. Where the two legs of a
    /// bridge differ, the relay converts what one sends for the other
    /// (the call layer sends SIP INFO).
    pub dtmf: DtmfMode,
}

/// The media relay, as the B2BUA drives it. The binary plugs the real one
/// (issue 4); tests use [`PortAllocator`].
///
/// Until the media plane exists, a relay forwards RTP/SRTP packets between
/// the two bridged legs unchanged.
pub trait MediaAnchor {
    /// An address of the SBC for stream `stream` of `leg`; called once per
    /// leg and stream, before the SDP towards that leg is written.
    /// `rtcp_mux`: the SDP will have RTP and RTCP share the port (RFC
    /// 5761), so no RTCP port is needed.
    fn allocate(
        &mut self,
        call: CallId,
        leg: LegId,
        stream: usize,
        rtcp_mux: bool,
    ) -> Result<SocketAddr, MediaError>;

    /// The leg's peer described its side (an offer or an answer arrived).
    fn update(&mut self, call: CallId, leg: LegId, streams: &[StreamMedia]);

    /// Media flows between `a` and `b` from now on (on an answer, when a
    /// transfer connects a new leg, and when [`crate::B2bua::pair`] makes
    /// two legs of a mixed call talk to each other again).
    fn bridge(&mut self, call: CallId, a: LegId, b: LegId);

    /// Media stops flowing between `a` and `b`, which stay up: a party
    /// joined their call ([`crate::B2bua::add_party`]) and the application
    /// mixes its legs from now on. The default does nothing, for a relay
    /// the application re-plumbs itself.
    fn unbridge(&mut self, call: CallId, a: LegId, b: LegId) {
        let _ = (call, a, b);
    }

    /// The leg is gone: free its ports. May be called more than once for
    /// a leg (a no-op then).
    fn release(&mut self, call: CallId, leg: LegId);
}

/// A [`MediaAnchor`] that allocates even ports of one address from a range
/// and remembers what it was told; it relays nothing.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    ip: IpAddr,
    /// Free even ports, the longest free first: a port just released is
    /// reused last, so late packets of an old call rarely reach a new one.
    free: VecDeque<u16>,
    legs: HashMap<(CallId, LegId), LegPorts>,
    in_use: usize,
    bridges: HashMap<CallId, (LegId, LegId)>,
}

/// One leg's ports (by stream index) and what its peer described.
#[derive(Debug, Clone, Default)]
struct LegPorts {
    ports: Vec<Option<u16>>,
    streams: Vec<StreamMedia>,
}

impl PortAllocator {
    /// Even ports from `first` to `last` (inclusive) on `ip` (RTP uses the
    /// even port, RFC 3550 §11).
    pub fn new(ip: IpAddr, first: u16, last: u16) -> PortAllocator {
        PortAllocator {
            ip,
            free: (first..=last).filter(|p| p % 2 == 0).collect(),
            legs: HashMap::new(),
            in_use: 0,
            bridges: HashMap::new(),
        }
    }

    /// Ports currently allocated.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// What `leg`'s peer last described.
    pub fn streams(&self, call: CallId, leg: LegId) -> Option<&[StreamMedia]> {
        self.legs
            .get(&(call, leg))
            .filter(|l| !l.streams.is_empty())
            .map(|l| l.streams.as_slice())
    }

    /// The two legs `call`'s media flows between.
    pub fn bridged(&self, call: CallId) -> Option<(LegId, LegId)> {
        self.bridges.get(&call).copied()
    }
}

impl MediaAnchor for PortAllocator {
    fn allocate(
        &mut self,
        call: CallId,
        leg: LegId,
        stream: usize,
        _rtcp_mux: bool,
    ) -> Result<SocketAddr, MediaError> {
        let entry = self.legs.entry((call, leg)).or_default();
        if let Some(Some(port)) = entry.ports.get(stream) {
            return Ok(SocketAddr::new(self.ip, *port));
        }
        let port = self.free.pop_front().ok_or(MediaError::PortsExhausted)?;
        if entry.ports.len() <= stream {
            entry.ports.resize(stream + 1, None);
        }
        entry.ports[stream] = Some(port);
        self.in_use += 1;
        Ok(SocketAddr::new(self.ip, port))
    }

    fn update(&mut self, call: CallId, leg: LegId, streams: &[StreamMedia]) {
        // Exactly as long as given: kept for the whole call.
        self.legs.entry((call, leg)).or_default().streams = streams.to_vec();
    }

    fn bridge(&mut self, call: CallId, a: LegId, b: LegId) {
        self.bridges.insert(call, (a, b));
    }

    fn unbridge(&mut self, call: CallId, a: LegId, b: LegId) {
        let pair = self.bridges.get(&call).copied();
        if pair == Some((a, b)) || pair == Some((b, a)) {
            self.bridges.remove(&call);
        }
    }

    fn release(&mut self, call: CallId, leg: LegId) {
        if let Some(entry) = self.legs.remove(&(call, leg)) {
            for port in entry.ports.into_iter().flatten() {
                self.free.push_back(port);
                self.in_use -= 1;
            }
        }
        if self
            .bridges
            .get(&call)
            .is_some_and(|(a, b)| *a == leg || *b == leg)
        {
            self.bridges.remove(&call);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn allocates_even_ports_and_frees_them() {
        let mut ports = PortAllocator::new("198.51.100.2".parse().unwrap(), 40000, 40003);
        let (call, a, b) = (CallId(1), LegId(1), LegId(2));
        let first = ports.allocate(call, a, 0, false).unwrap();
        assert_eq!(first.port(), 40000);
        assert_eq!(ports.allocate(call, a, 0, false).unwrap(), first, "stable");
        assert_eq!(ports.allocate(call, b, 0, false).unwrap().port(), 40002);
        assert_eq!(
            ports.allocate(call, b, 1, false),
            Err(MediaError::PortsExhausted)
        );
        ports.bridge(call, a, b);
        ports.release(call, a);
        assert_eq!(ports.in_use(), 1);
        assert_eq!(ports.bridged(call), None);
        assert_eq!(ports.allocate(call, b, 1, false).unwrap().port(), 40000);
        ports.release(call, b);
        assert_eq!(ports.in_use(), 0);
    }

    #[test]
    fn reuses_the_longest_free_port_first() {
        let mut ports = PortAllocator::new("198.51.100.2".parse().unwrap(), 40000, 40007);
        let call = CallId(1);
        let first = ports.allocate(call, LegId(1), 0, false).unwrap().port();
        ports.release(call, LegId(1));
        let next: Vec<u16> = (2..6)
            .map(|leg| ports.allocate(call, LegId(leg), 0, false).unwrap().port())
            .collect();
        assert_eq!(next, [40002, 40004, 40006, first]);
        assert!(ports.allocate(call, LegId(9), 0, false).is_err());
    }
}
