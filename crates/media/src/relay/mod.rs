//! The RTP/SRTP relay of a media-relay B2BUA (RFC 7092 §3.1.3), sans-IO:
//! a table of legs, each anchored on local ports and bridged to one
//! other leg, and the per-packet decision where a datagram goes.
//!
//! - Symmetric RTP and latching (RFC 4961 §2; the "latching" of
//!   RFC 7362 §3 for endpoints behind NAT): a leg learns its peer's real
//!   address from the first valid packet (authenticated, for SRTP) and
//!   sends back there; after that packets from any other source are
//!   dropped ([`DropReason::UnlatchedSource`]). See [`LatchPolicy`].
//! - One outgoing stream per leg kept continuous across source changes:
//!   SSRC, sequence number and timestamp rewritten in place (RFC 3550
//!   §5.1, RFC 7667 §3.2.1.3 translator; see `stream.rs`), RTCP rewritten
//!   consistently (RFC 3550 §7.2; `rtcp_map.rs`).
//! - SRTP/SRTCP <-> RTP/RTCP per leg (RFC 3711 with SDES keys, RFC 4568):
//!   the inbound context of a leg checks what its peer sends, the
//!   outbound one protects what we send to it.
//! - RTP and RTCP on one port (RFC 5761) or on a port pair (RFC 3550
//!   §11, RFC 3605 `a=rtcp`).
//! - Media timeout: a bridged leg that sends nothing for the configured
//!   time is reported once as [`MediaEvent::MediaTimeout`] (the call layer
//!   ends the call with BYE and a Reason header); a leg on hold (its SDP
//!   says it sends nothing) has its own limit.
//!
//! - Switchboard as the far end of a leg (`local.rs`, `crate::endpoint`):
//!   a leg given a codec ([`MediaRelay::set_codec`]) can play a
//!   [`FrameSource`](crate::FrameSource) (prompts, music on hold) paced
//!   on its own clock, in place of what its bridge partner sends; while
//!   not bridged, what it receives is taken locally
//!   ([`Verdict::Consumed`]) for DTMF ([`MediaEvent::Dtmf`]) and RTCP
//!   statistics, and the relay sends it RTCP SR/RR itself.
//! - Recording (`recording.rs`): what chosen legs receive, decoded into
//!   20 ms frames on one timeline per recording (a call: two channels;
//!   a voicemail: one), for a writer outside the relay.
//! - Conferences (`conference/`): the legs of a session that joined
//!   ([`MediaRelay::join_conference`]) each hear the mix of the others
//!   every 20 ms, as their [`ConferenceRole`] allows (three-way calls,
//!   supervisor listen / whisper / barge).
//! - Bridges between legs whose codecs differ (`transcode/`): the same
//!   codec on other payload types forwards with the types rewritten,
//!   another codec transcodes (G.711, G.722, Opus; RFC 4733 events and
//!   RFC 3389 comfort noise carried across).
//! - DTMF between legs whose peers take it in different forms (`dtmf/`,
//!   [`MediaRelay::set_dtmf`]): RFC 4733 events toward an INFO peer
//!   reported once per press ([`MediaEvent::BridgedDtmf`]) instead of
//!   forwarded, presses sent to a leg as RFC 4733 events or G.711 tones
//!   ([`MediaRelay::send_dtmf`]), tones of an in-band peer detected.
//!
//! Not done here: RTCP reports generated for bridged legs that forward —
//! their RTCP is relayed end to end (a transcoding bridge reports
//! itself); ICE/STUN (dropped as [`DropReason::NotRtp`]);
//! DTLS-SRTP.
//!
//! # Driving it
//!
//! Inputs are [`MediaRelay::handle_packet`] (a datagram received on a
//! local port), [`MediaRelay::handle_timeout`] and the table updates
//! (`add_leg`, `bridge`, `update_*`, `set_codec`, `play`,
//! `join_conference`, `remove_leg`). Outputs: the [`Verdict`] of each
//! packet (send `len` bytes of the same buffer from `local_port` to
//! `destination`, or drop), then after `handle_timeout`
//! [`MediaRelay::poll_transmit`] until `None` (packets made here: played
//! frames, DTMF sent to legs, conference mixes, RTCP reports), then
//! [`MediaRelay::poll_recording`] until `None` (recorded frames), then
//! [`MediaRelay::poll_event`] until `None`, then
//! [`MediaRelay::poll_timeout`] for the next wake-up. Neither the
//! per-packet path nor the per-frame path allocates.

mod conference;
mod config;
mod dtmf;
mod local;
mod recording;
mod rtcp_map;
mod stream;
#[cfg(test)]
mod test_support;
mod transcode;
mod transmit;
mod verdict;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sdp::Direction;

pub use self::conference::ConferenceRole;
use self::conference::{Member, Room};
pub use self::config::{LatchPolicy, LegConfig, LegKey, LegPorts, LegSrtp, RelayConfig};
pub use self::dtmf::LegDtmf;
use self::dtmf::LegDtmfState;
use self::local::{Hearing, LocalEndpoint, Rng};
pub use self::local::{LegCodec, LegEncoding};
pub use self::recording::{
    RecordedFrame, RecordingChannel, RecordingEnd, RecordingId, RecordingOutput,
    RECORDED_FRAME_LEN, RECORDING_DELAY,
};
use self::recording::{Recordings, Tap};
use self::rtcp_map::RtcpMap;
use self::stream::OutStream;
use self::transcode::Conversion;
use self::transmit::Sender;
pub use self::verdict::{DropReason, Forward, LegStats, MediaEvent, RelayCounters, Verdict};
use crate::error::RelayError;
use crate::{classify, PacketKind, RtcpCompound, RtpPacket};

/// Where a packet sent toward a leg comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The leg's bridge partner.
    Relayed,
    /// Made here (a played frame, an injected packet, an RTCP report).
    Local,
}

/// What an entry of the relay's timer heap wakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// A sender (local end, DTMF) of the leg in this slot.
    Leg(usize, Sender),
    /// The conference of this session.
    Conference(u64),
    /// The reorder wait of the transcoding direction from the leg in
    /// this slot (`transcode/`).
    Transcode(usize),
}

/// Port table entry flag: the port is the leg's RTCP port.
const RTCP_PORT: u32 = 1 << 31;

/// Timer resolution bounds of the media-timeout scan.
const MAX_SCAN_INTERVAL: Duration = Duration::from_secs(1);
const MIN_SCAN_INTERVAL: Duration = Duration::from_millis(10);

#[derive(Debug)]
struct Leg {
    key: LegKey,
    ports: LegPorts,
    remote: Option<SocketAddr>,
    remote_rtcp: Option<SocketAddr>,
    latched: Option<SocketAddr>,
    latched_rtcp: Option<SocketAddr>,
    /// Last valid packet from the latched source(s).
    last_valid: Instant,
    /// Boxed: two SRTP contexts are 3.5 KiB, and most relayed legs (the
    /// carrier side) are plain RTP.
    srtp: Option<Box<LegSrtp>>,
    direction: Direction,
    clock_rate: u32,
    peer: Option<usize>,
    /// What we send toward this leg.
    out: OutStream,
    last_activity: Instant,
    timed_out: bool,
    stats: LegStats,
    /// Switchboard's own end of the leg, once it has a codec.
    local: Option<Box<LocalEndpoint>>,
    /// A local source plays toward the leg: the bridge partner's RTP is
    /// not sent to it.
    local_source: bool,
    /// RTP packets and payload octets sent toward the leg since it got
    /// a codec, for the SR (RFC 3550 §6.4.1, modulo 2^32).
    rtp_out: u32,
    payload_out: u32,
    /// The recording that taps what the leg receives, if any.
    tap: Option<Tap>,
    /// Its place in its session's conference; such a leg is never
    /// bridged.
    member: Option<Box<Member>>,
    /// How its packets reach its bridge partner when their codecs
    /// differ; `None`: forwarded as they are.
    convert: Option<Conversion>,
    /// How its peer takes DTMF, for bridges to a peer that takes it
    /// otherwise (`dtmf/`).
    dtmf: Option<Box<LegDtmfState>>,
}

impl Leg {
    /// Whether the peer sends media per its SDP.
    fn sends(&self) -> bool {
        matches!(self.direction, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the leg is bridged through a transcoder (both ways).
    fn transcoded(&self) -> bool {
        self.convert.as_ref().is_some_and(Conversion::is_transcode)
    }

    /// Whether the peer wants media per its SDP.
    fn receives(&self) -> bool {
        matches!(self.direction, Direction::SendRecv | Direction::RecvOnly)
    }

    /// Where RTP (`rtcp` false) or RTCP goes: from which local port, to
    /// which address (symmetric: the latched source first).
    fn route(&self, rtcp: bool) -> Option<(u16, SocketAddr)> {
        match (rtcp, self.ports.rtcp) {
            (true, Some(port)) => Some((port, self.latched_rtcp.or(self.remote_rtcp)?)),
            _ => Some((self.ports.rtp, self.latched.or(self.remote)?)),
        }
    }
}

/// The leg `key` in its `slot` of `legs`, for a caller that borrows
/// other fields of the relay beside it.
fn leg_at(legs: &mut [Option<Leg>], slot: usize, key: LegKey) -> Result<&mut Leg, RelayError> {
    legs.get_mut(slot)
        .and_then(Option::as_mut)
        .ok_or(RelayError::UnknownLeg(key))
}

/// The relay table of one shard; see the module docs for the order of
/// calls.
///
/// ```
/// use std::time::Instant;
/// use media::{LegConfig, LegKey, LegPorts, MediaRelay, RelayConfig, Verdict};
///
/// let now = Instant::now();
/// let mut relay = MediaRelay::new(RelayConfig::default());
/// let (carrier, teams) = (LegKey::new(1, 0), LegKey::new(1, 1));
/// let mut a = LegConfig::new(LegPorts { rtp: 40000, rtcp: None });
/// a.remote = Some("192.0.2.1:5004".parse()?);
/// let mut b = LegConfig::new(LegPorts { rtp: 40002, rtcp: None });
/// b.remote = Some("198.51.100.7:50000".parse()?);
/// relay.add_leg(now, carrier, a)?;
/// relay.add_leg(now, teams, b)?;
/// relay.bridge(now, carrier, teams)?;
///
/// let mut buf = [0u8; 1500];
/// buf[..12].copy_from_slice(&[0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 42]);
/// let source = "192.0.2.1:5004".parse()?;
/// let Verdict::Forward(out) = relay.handle_packet(now, 40000, source, &mut buf, 172) else {
///     panic!("forwarded");
/// };
/// assert_eq!((out.local_port, out.destination.port(), out.len), (40002, 50000, 172));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MediaRelay {
    config: RelayConfig,
    legs: Vec<Option<Leg>>,
    free_slots: Vec<usize>,
    index: HashMap<LegKey, usize>,
    /// Local port -> leg slot + 1 (0: none), with [`RTCP_PORT`].
    ports: Vec<u32>,
    events: VecDeque<MediaEvent>,
    counters: RelayCounters,
    next_scan: Option<Instant>,
    /// Due times of the legs' senders and of the conferences' mix
    /// ticks (lazily deleted: an entry counts only if it is its sender's
    /// or conference's `scheduled`; see `transmit.rs`).
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// Senders (slot and which) with packets to send now.
    ready: VecDeque<(usize, Sender)>,
    rng: Rng,
    /// An instant and the wall clock at it, for NTP timestamps in SRs.
    wallclock: Option<(Instant, Duration)>,
    recordings: Recordings,
    /// The conference of each session that has one.
    rooms: HashMap<u64, Room>,
    /// Sessions whose conference has mixed frames to send.
    conference_ready: VecDeque<u64>,
    /// Slots of legs whose transcoding bridge has frames to send.
    transcode_ready: VecDeque<usize>,
}

impl MediaRelay {
    /// An empty relay.
    pub fn new(config: RelayConfig) -> Self {
        Self {
            config,
            legs: Vec::new(),
            free_slots: Vec::new(),
            index: HashMap::new(),
            ports: Vec::new(),
            events: VecDeque::new(),
            counters: RelayCounters::default(),
            next_scan: None,
            timers: BinaryHeap::new(),
            ready: VecDeque::new(),
            rng: Rng::from_entropy(),
            wallclock: None,
            recordings: Recordings::default(),
            rooms: HashMap::new(),
            conference_ready: VecDeque::new(),
            transcode_ready: VecDeque::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// Counters since the relay was made.
    pub fn counters(&self) -> &RelayCounters {
        &self.counters
    }

    /// Number of legs.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there are no legs.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Traffic of a leg.
    pub fn leg_stats(&self, key: LegKey) -> Option<LegStats> {
        Some(self.leg(key).ok()?.stats)
    }

    /// The ports of a leg.
    pub fn leg_ports(&self, key: LegKey) -> Option<LegPorts> {
        Some(self.leg(key).ok()?.ports)
    }

    /// The source a leg latched onto (RTP port), if any.
    pub fn latched_source(&self, key: LegKey) -> Option<SocketAddr> {
        self.leg(key).ok()?.latched
    }

    /// The leg bridged with `key`, if any.
    pub fn peer_of(&self, key: LegKey) -> Option<LegKey> {
        let peer = self.leg(key).ok()?.peer?;
        Some(self.legs.get(peer)?.as_ref()?.key)
    }

    fn slot(&self, key: LegKey) -> Result<usize, RelayError> {
        self.index
            .get(&key)
            .copied()
            .ok_or(RelayError::UnknownLeg(key))
    }

    fn leg(&self, key: LegKey) -> Result<&Leg, RelayError> {
        let slot = self.slot(key)?;
        self.legs
            .get(slot)
            .and_then(Option::as_ref)
            .ok_or(RelayError::UnknownLeg(key))
    }

    fn leg_mut(&mut self, key: LegKey) -> Result<&mut Leg, RelayError> {
        let slot = self.slot(key)?;
        leg_at(&mut self.legs, slot, key)
    }

    fn port_entry(&self, port: u16) -> u32 {
        self.ports.get(usize::from(port)).copied().unwrap_or(0)
    }

    fn set_port_entry(&mut self, port: u16, entry: u32) {
        let at = usize::from(port);
        if self.ports.len() <= at {
            self.ports.resize(at + 1, 0);
        }
        self.ports[at] = entry;
    }

    /// Adds a leg on its local ports. It relays nothing until bridged.
    pub fn add_leg(
        &mut self,
        now: Instant,
        key: LegKey,
        config: LegConfig,
    ) -> Result<(), RelayError> {
        if self.index.contains_key(&key) {
            return Err(RelayError::LegExists(key));
        }
        let ports = config.ports;
        for port in std::iter::once(ports.rtp).chain(ports.rtcp) {
            if self.port_entry(port) != 0 {
                return Err(RelayError::PortInUse(port));
            }
        }
        if ports.rtcp == Some(ports.rtp) {
            return Err(RelayError::PortInUse(ports.rtp));
        }
        let leg = Leg {
            key,
            ports,
            remote: config.remote,
            remote_rtcp: config.remote_rtcp,
            latched: None,
            latched_rtcp: None,
            last_valid: now,
            srtp: config.srtp.map(Box::new),
            direction: config.direction,
            clock_rate: config.clock_rate,
            peer: None,
            out: OutStream::default(),
            last_activity: now,
            timed_out: false,
            stats: LegStats::default(),
            local: None,
            local_source: false,
            rtp_out: 0,
            payload_out: 0,
            tap: None,
            member: None,
            convert: None,
            dtmf: None,
        };
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.legs[slot] = Some(leg);
                slot
            }
            None => {
                self.legs.push(Some(leg));
                self.legs.len() - 1
            }
        };
        // Slots index a Vec, far below 2^31 entries.
        let entry = slot as u32 + 1;
        self.set_port_entry(ports.rtp, entry);
        if let Some(rtcp) = ports.rtcp {
            self.set_port_entry(rtcp, entry | RTCP_PORT);
        }
        self.index.insert(key, slot);
        if self.next_scan.is_none() {
            self.next_scan = Some(now + self.scan_interval());
        }
        Ok(())
    }

    /// Removes a leg (unbridging it or taking it out of its conference,
    /// ending its play as [`PlayEnd::Stopped`](crate::PlayEnd::Stopped)
    /// and its recording as [`RecordingEnd::LegRemoved`]); returns its
    /// ports for reuse.
    pub fn remove_leg(&mut self, key: LegKey) -> Result<LegPorts, RelayError> {
        let slot = self.slot(key)?;
        if let Some(tap) = self.leg(key)?.tap {
            self.end_recording_of_leg(tap);
        }
        self.leave(slot);
        self.unlink(slot);
        let leg = self.legs[slot].take().ok_or(RelayError::UnknownLeg(key))?;
        if let Some(mut local) = leg.local {
            local.stop(&mut self.events);
        }
        self.unqueue(slot);
        self.index.remove(&key);
        self.free_slots.push(slot);
        self.set_port_entry(leg.ports.rtp, 0);
        if let Some(rtcp) = leg.ports.rtcp {
            self.set_port_entry(rtcp, 0);
        }
        if self.index.is_empty() {
            self.next_scan = None;
        }
        Ok(leg.ports)
    }

    /// Breaks the bridge of the leg in `slot`, if any.
    fn unlink(&mut self, slot: usize) {
        let peer = self.legs[slot].as_mut().and_then(|leg| {
            leg.convert = None;
            leg.peer.take()
        });
        if let Some(peer) = peer.and_then(|peer| self.legs.get_mut(peer)?.as_mut()) {
            peer.peer = None;
            peer.convert = None;
        }
    }

    /// Bridges legs `a` and `b`: packets from one go to the other. Each
    /// leaves its previous bridge or its conference, if any (a transfer
    /// re-bridges one leg to another call's leg). The streams toward
    /// both stay continuous.
    ///
    /// When both legs have a codec ([`MediaRelay::set_codec`]) the
    /// bridge follows them: the same codec and payload types forward as
    /// they are (no decoding), the same codec on other payload type
    /// numbers forwards with the types rewritten, and codecs that differ
    /// (encoding or clock rate) are transcoded each way, RFC 4733
    /// telephone-events and RFC 3389 comfort noise carried across.
    /// [`RelayError::Codec`] if a transcoder cannot be made (the legs are
    /// left unbridged).
    pub fn bridge(&mut self, now: Instant, a: LegKey, b: LegKey) -> Result<(), RelayError> {
        if a == b {
            return Err(RelayError::SelfBridge(a));
        }
        let (slot_a, slot_b) = (self.slot(a)?, self.slot(b)?);
        for slot in [slot_a, slot_b] {
            self.leave(slot);
            self.unlink(slot);
        }
        for (slot, peer) in [(slot_a, slot_b), (slot_b, slot_a)] {
            if let Some(leg) = self.legs[slot].as_mut() {
                leg.peer = Some(peer);
                leg.last_activity = now;
                leg.timed_out = false;
            }
        }
        if let Err(error) = self.plan_bridge(slot_a, slot_b) {
            self.unlink(slot_a);
            return Err(error);
        }
        Ok(())
    }

    /// Unbridges a leg (and its peer). Packets to it are dropped as
    /// [`DropReason::NoPeer`] until it is bridged again.
    pub fn unbridge(&mut self, key: LegKey) -> Result<(), RelayError> {
        let slot = self.slot(key)?;
        self.unlink(slot);
        Ok(())
    }

    /// The leg's SDP named a (possibly new) remote address, e.g. in a
    /// re-INVITE. A changed address clears the latch: the next valid
    /// packet latches again.
    pub fn update_remote(
        &mut self,
        now: Instant,
        key: LegKey,
        remote: Option<SocketAddr>,
        remote_rtcp: Option<SocketAddr>,
    ) -> Result<(), RelayError> {
        let leg = self.leg_mut(key)?;
        if leg.remote != remote || leg.remote_rtcp != remote_rtcp {
            leg.remote = remote;
            leg.remote_rtcp = remote_rtcp;
            leg.latched = None;
            leg.latched_rtcp = None;
        }
        leg.last_activity = now;
        leg.timed_out = false;
        Ok(())
    }

    /// New SRTP keys (a re-INVITE with new `a=crypto`), or plain RTP from
    /// now on (`None`). The stream toward the leg keeps its numbering.
    pub fn update_srtp(&mut self, key: LegKey, srtp: Option<LegSrtp>) -> Result<(), RelayError> {
        self.leg_mut(key)?.srtp = srtp.map(Box::new);
        Ok(())
    }

    /// The direction in the leg's latest SDP (hold and resume). Restarts
    /// its media timer.
    pub fn set_direction(
        &mut self,
        now: Instant,
        key: LegKey,
        direction: Direction,
    ) -> Result<(), RelayError> {
        let leg = self.leg_mut(key)?;
        leg.direction = direction;
        leg.last_activity = now;
        leg.timed_out = false;
        Ok(())
    }

    /// Handles a datagram received on `local_port` from `source`: the
    /// packet is `buf[..len]`, the rest of `buf` is room for an SRTP tag
    /// (keep at least 14 bytes). On [`Verdict::Forward`] the packet to
    /// send is `buf[..forward.len]`.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        local_port: u16,
        source: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Verdict {
        self.counters.received += 1;
        let entry = self.port_entry(local_port);
        if entry == 0 {
            return self.drop(None, DropReason::UnknownPort);
        }
        let slot = ((entry & !RTCP_PORT) - 1) as usize;
        let on_rtcp_port = entry & RTCP_PORT != 0;
        let verdict = self.relay(now, slot, on_rtcp_port, source, buf, len);
        match verdict {
            Ok(Some(forward)) => Verdict::Forward(forward),
            Ok(None) => Verdict::Consumed,
            Err(reason) => self.drop(Some(slot), reason),
        }
    }

    /// Sends a locally made RTP packet (a prompt, a tone) to the remote
    /// end of leg `toward`, in place of what its bridge partner sends: it
    /// goes through the same continuity rewrite and SRTP protection, so
    /// switching between prompt and relay keeps one continuous stream.
    /// The packet is `buf[..len]` with an SSRC of its own.
    ///
    /// The partner's packets keep flowing to the leg meanwhile: to
    /// replace them, play a [`FrameSource`](crate::FrameSource) with
    /// [`MediaRelay::play`] instead.
    pub fn handle_injected_rtp(
        &mut self,
        now: Instant,
        toward: LegKey,
        buf: &mut [u8],
        len: usize,
    ) -> Verdict {
        let result = self.slot(toward).map_err(|_| DropReason::NoPeer);
        let result = result.and_then(|slot| {
            let packet = buf.get(..len).ok_or(DropReason::Malformed)?;
            RtpPacket::parse(packet).map_err(|_| DropReason::Malformed)?;
            self.send_to(now, slot, Origin::Local, false, None, buf, len)
        });
        match result {
            Ok(forward) => Verdict::Forward(forward),
            Err(reason) => self.drop(None, reason),
        }
    }

    fn drop(&mut self, slot: Option<usize>, reason: DropReason) -> Verdict {
        self.counters.count_drop(reason);
        if let Some(leg) = slot.and_then(|slot| self.legs.get_mut(slot)?.as_mut()) {
            leg.stats.dropped += 1;
        }
        Verdict::Drop(reason)
    }

    fn relay(
        &mut self,
        now: Instant,
        slot: usize,
        on_rtcp_port: bool,
        source: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Result<Option<Forward>, DropReason> {
        let policy = self.config.latch;
        let leg = self
            .legs
            .get_mut(slot)
            .and_then(Option::as_mut)
            .ok_or(DropReason::UnknownPort)?;
        let packet = buf.get_mut(..len).ok_or(DropReason::Malformed)?;
        let rtcp = match classify(packet) {
            PacketKind::Rtp if !on_rtcp_port => false,
            PacketKind::Rtp => return Err(DropReason::Malformed),
            PacketKind::Rtcp => true,
            _ => return Err(DropReason::NotRtp),
        };

        // Latching (RFC 7362 §3): only the latched source, or a candidate.
        let latched = if on_rtcp_port {
            leg.latched_rtcp
        } else {
            leg.latched
        };
        let latch = match (policy, latched) {
            (LatchPolicy::SdpOnly, _) => {
                let expected = if on_rtcp_port {
                    leg.remote_rtcp
                } else {
                    leg.remote
                };
                if expected != Some(source) {
                    return Err(DropReason::UnlatchedSource);
                }
                false
            }
            (_, None) => true,
            (_, Some(latched)) if latched == source => false,
            (LatchPolicy::RelatchAfter(quiet), Some(_))
                if now.saturating_duration_since(leg.last_valid) >= quiet =>
            {
                true
            }
            _ => return Err(DropReason::UnlatchedSource),
        };

        // Authenticate and decrypt before the source counts as valid.
        let len = match &mut leg.srtp {
            None => len,
            Some(srtp) => {
                let result = if rtcp {
                    srtp.inbound.unprotect_rtcp_slice(packet)
                } else {
                    srtp.inbound.unprotect_rtp_slice(packet)
                };
                result.map_err(|error| DropReason::of_unprotect(&error))?
            }
        };
        let packet = &buf[..len];
        let valid = if rtcp {
            RtcpCompound::parse(packet).is_ok()
        } else {
            RtpPacket::parse(packet).is_ok()
        };
        if !valid {
            return Err(DropReason::Malformed);
        }

        if latch {
            let slot_ref = if on_rtcp_port {
                &mut leg.latched_rtcp
            } else {
                &mut leg.latched
            };
            if *slot_ref != Some(source) {
                *slot_ref = Some(source);
                self.events.push_back(MediaEvent::Latched {
                    leg: leg.key,
                    source,
                    rtcp: on_rtcp_port,
                });
            }
        }
        leg.last_valid = now;
        leg.last_activity = now;
        leg.timed_out = false;
        leg.stats.packets_in += 1;
        leg.stats.bytes_in += len as u64;

        // Switchboard's own end hears everything while the leg is not
        // bridged (in a conference: the audio goes to the mix), the
        // statistics and RTCP of a transcoding bridge, telephone-events
        // of a bridged leg reporting DTMF, and the audio of a recorded
        // leg.
        let alone = leg.peer.is_none();
        let transcoded = leg.transcoded();
        let hearing = match (&leg.member, alone, transcoded) {
            (Some(_), _, _) => Hearing::Conference,
            (None, true, _) => Hearing::Alone,
            (None, false, true) => Hearing::Transcoded,
            (None, false, false) => Hearing::Bridged,
        };
        let tap = leg.tap;
        let clock_rate = leg.clock_rate;
        let heard = match leg.local.as_deref_mut() {
            Some(local) if rtcp && (alone || transcoded) => {
                local.handle_rtcp(now, packet);
                true
            }
            Some(local)
                if !rtcp && (alone || transcoded || tap.is_some() || local.reports_dtmf()) =>
            {
                if let Ok(packet) = RtpPacket::parse(packet) {
                    let member = leg.member.as_deref_mut();
                    let decode = tap.is_some() || member.is_some();
                    local.handle_rtp(now, &packet, hearing, decode, &mut self.events);
                    if let (Some(tap), Some(pcm)) = (tap, local.heard_narrowband()) {
                        let stream = (&packet, clock_rate);
                        self.recordings.handle_audio(now, tap, stream, pcm);
                    }
                    if let (Some(member), Some(pcm)) = (member, local.heard_pcm()) {
                        member.handle_audio((&packet, clock_rate), pcm, &mut self.counters);
                    }
                }
                true
            }
            _ => false,
        };
        let peer = leg.peer;
        let reported = leg.out.map();
        let converts = leg.convert.is_some();
        if heard {
            // A telephone-event may have moved the leg's timer.
            self.arm(slot, Sender::Local);
        }
        let Some(peer) = peer else {
            if heard {
                self.counters.consumed += 1;
                return Ok(None);
            }
            return Err(DropReason::NoPeer);
        };
        if rtcp && transcoded {
            // A transcoding bridge ends RTCP here (see `transcode/`).
            self.counters.consumed += 1;
            return Ok(None);
        }
        if !rtcp && self.handle_bridged_dtmf(now, slot, peer, &buf[..len])? {
            self.counters.consumed += 1;
            return Ok(None);
        }
        if converts && !rtcp {
            return self.convert_rtp(now, slot, peer, buf, len);
        }
        self.send_to(now, peer, Origin::Relayed, rtcp, reported, buf, len)
            .map(Some)
    }

    /// Rewrites and protects the packet in `buf[..len]` for the leg in
    /// `slot` and says where it goes. `reported` is the mapping of the
    /// stream toward the sender, for RTCP report blocks.
    #[allow(clippy::too_many_arguments)]
    fn send_to(
        &mut self,
        now: Instant,
        slot: usize,
        origin: Origin,
        rtcp: bool,
        reported: Option<stream::StreamMap>,
        buf: &mut [u8],
        len: usize,
    ) -> Result<Forward, DropReason> {
        let peer = self
            .legs
            .get_mut(slot)
            .and_then(Option::as_mut)
            .ok_or(DropReason::NoPeer)?;
        let local = origin == Origin::Local;
        if !rtcp && !local && peer.local_source {
            return Err(DropReason::LocalPlayback);
        }
        if !rtcp && !local && peer.dtmf.as_deref().is_some_and(LegDtmfState::holds_audio) {
            // A press is being sent to it (`dtmf/`).
            return Err(DropReason::LocalPlayback);
        }
        // RTCP we make goes on while the peer holds (RFC 3550 §6).
        if !(peer.receives() || rtcp && local) {
            return Err(DropReason::OnHold);
        }
        let (local_port, destination) = peer.route(rtcp).ok_or(DropReason::NoDestination)?;
        if rtcp {
            RtcpMap {
                sender: peer.out.map(),
                reported,
            }
            .apply(&mut buf[..len]);
        } else {
            peer.out.rewrite(now, &mut buf[..len], peer.clock_rate);
            let transcoded = peer.transcoded();
            if let Some(end) = peer.local.as_deref_mut() {
                if let Ok(packet) = RtpPacket::parse(&buf[..len]) {
                    peer.rtp_out = peer.rtp_out.wrapping_add(1);
                    // Modulo 2^32, as the SR field.
                    let octets = packet.payload().len() as u32;
                    peer.payload_out = peer.payload_out.wrapping_add(octets);
                }
                if transcoded && !local {
                    // The bridge's frames are ours to report (an SR).
                    end.handle_sent();
                }
            }
        }
        let len = match &mut peer.srtp {
            None => len,
            Some(srtp) => {
                let result = if rtcp {
                    srtp.outbound.protect_rtcp_slice(buf, len)
                } else {
                    srtp.outbound.protect_rtp_slice(buf, len)
                };
                result.map_err(|_| DropReason::ProtectFailed)?
            }
        };
        peer.stats.packets_out += 1;
        peer.stats.bytes_out += len as u64;
        match (origin, rtcp) {
            (Origin::Relayed, true) => self.counters.forwarded_rtcp += 1,
            (Origin::Relayed, false) => self.counters.forwarded_rtp += 1,
            (Origin::Local, true) => self.counters.local_rtcp += 1,
            (Origin::Local, false) => self.counters.local_rtp += 1,
        }
        Ok(Forward {
            local_port,
            destination,
            len,
        })
    }

    fn scan_interval(&self) -> Duration {
        (self.config.media_timeout / 4).clamp(MIN_SCAN_INTERVAL, MAX_SCAN_INTERVAL)
    }

    /// When [`MediaRelay::handle_timeout`] wants to run next; `None`
    /// while there are no legs. Media timeouts are checked at this
    /// resolution (a quarter of the timeout, 10 ms to 1 s), so the
    /// per-packet path only stores a time; local ends are woken at their
    /// own instants (the next frame of a play, ...).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.peek().map(|Reverse((at, _))| *at);
        [self.next_scan, timer, self.recordings.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs the local ends, DTMF and conferences whose time has come
    /// (their packets are then ready in [`MediaRelay::poll_transmit`]) and checks media timeouts
    /// if their time has come. A leg switchboard terminates (with a
    /// codec, not bridged) times out like a bridged one.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.handle_timers(now);
        self.handle_recording_timers(now);
        let Some(next) = self.next_scan else { return };
        if now < next {
            return;
        }
        let (media, hold) = (self.config.media_timeout, self.config.hold_timeout);
        for leg in self.legs.iter_mut().flatten() {
            if (leg.peer.is_none() && leg.local.is_none()) || leg.timed_out {
                continue;
            }
            let on_hold = !leg.sends();
            let Some(limit) = (if on_hold { hold } else { Some(media) }) else {
                continue;
            };
            let idle = now.saturating_duration_since(leg.last_activity);
            if idle >= limit {
                leg.timed_out = true;
                self.events.push_back(MediaEvent::MediaTimeout {
                    leg: leg.key,
                    idle,
                    on_hold,
                });
            }
        }
        self.next_scan = Some(now + self.scan_interval());
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests;
