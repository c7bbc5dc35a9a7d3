//! The B2BUA's media anchor backed by the real relay: `sbc::MediaAnchor`
//! on top of `media::MediaDriver`.
//!
//! The B2BUA runs on an async task and must not wait for the relay's
//! shard threads, so every command goes through
//! [`MediaDriver::detached`]: the sockets of a new leg are bound before
//! `allocate` returns (the port goes into SDP at once), the rest is queued
//! in order per call and a refusal comes back as an event.
//!
//! Names: a call's legs are relay session `call id`, leg
//! `leg id * MAX_STREAMS + stream index`, so a media event names its call.
//!
//! Transcoding follows the legs' codecs (see `sbc`'s `codecs`): bridged
//! streams whose codecs differ each get their codec, so that the relay
//! transcodes between them; when a re-INVITE gives them one codec again
//! the streams that had a codec get that one, and one codec with the
//! same payload types on both sides is forwarded untouched. Both are
//! decided again whenever either leg of a bridge is updated.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use media::{
    DriverError, DtmfMethod, LegCodec, LegDtmf, LegEncoding, LegKey, LegSrtp, MediaDriver,
    SrtpError,
};
use sbc::{CallId, DtmfMode, LegId, MediaAnchor, MediaError, SrtpKeys, StreamCodec, StreamMedia};
use sdp::Direction;

/// Streams (`m=` lines) per leg the relay anchors; later ones are refused.
const MAX_STREAMS: u64 = 16;

/// What the relay was last told about one stream of one leg, so that only
/// changes are sent (new SRTP contexts would restart the rollover counter
/// and replay window of a running stream).
#[derive(Debug)]
struct Anchored {
    key: LegKey,
    port: u16,
    remote: Option<(Option<SocketAddr>, Option<SocketAddr>)>,
    srtp: Option<SrtpKeys>,
    direction: Option<Direction>,
    /// The leg's negotiated codec, as the B2BUA last said.
    codec: Option<StreamCodec>,
    /// The codec the relay was given for a transcoding bridge, if any.
    transcoding: Option<LegCodec>,
    /// How the leg's peer takes DTMF, as the relay was last told.
    dtmf: Option<LegDtmf>,
}

/// `sbc::MediaAnchor` on the relay.
pub(crate) struct RelayAnchor {
    driver: Arc<MediaDriver>,
    /// The address written in SDP.
    advertised: IpAddr,
    legs: HashMap<(CallId, LegId), Vec<Option<Anchored>>>,
    /// The leg each bridged leg is bridged with (both ways).
    partners: HashMap<(CallId, LegId), LegId>,
}

impl RelayAnchor {
    pub(crate) fn new(driver: Arc<MediaDriver>, advertised: IpAddr) -> Self {
        RelayAnchor {
            driver,
            advertised,
            legs: HashMap::new(),
            partners: HashMap::new(),
        }
    }

    /// The relay's name of stream `stream` of `leg`.
    pub(crate) fn key(call: CallId, leg: LegId, stream: usize) -> LegKey {
        LegKey::new(call.0, leg.0 * MAX_STREAMS + stream as u64)
    }

    /// The call a relay leg belongs to.
    pub(crate) fn call_of(leg: LegKey) -> CallId {
        CallId(leg.session)
    }

    /// The B2BUA leg a relay leg is a stream of.
    pub(crate) fn leg_of(leg: LegKey) -> LegId {
        LegId(leg.leg / MAX_STREAMS)
    }

    /// Prepares each pair of streams of `a` and `b` for their bridge
    /// ([`RelayAnchor::prepare_bridge`]); then `bridge` runs on each pair.
    fn prepare_pairs(
        &mut self,
        call: CallId,
        a: LegId,
        b: LegId,
        bridge: impl Fn(&MediaDriver, &Anchored, &Anchored),
    ) {
        let anchored = |leg| self.legs.contains_key(&(call, leg));
        if a == b || !anchored(a) || !anchored(b) {
            return;
        }
        let (Some(mut left), Some(mut right)) =
            (self.legs.remove(&(call, a)), self.legs.remove(&(call, b)))
        else {
            return;
        };
        for (left, right) in left.iter_mut().zip(right.iter_mut()) {
            if let (Some(left), Some(right)) = (left, right) {
                self.prepare_bridge(left, right);
                bridge(&self.driver, left, right);
            }
        }
        self.legs.insert((call, a), left);
        self.legs.insert((call, b), right);
    }

    /// Forgets the bridge of `leg`, both ways.
    fn forget_partner(&mut self, call: CallId, leg: LegId) {
        if let Some(partner) = self.partners.remove(&(call, leg)) {
            if self.partners.get(&(call, partner)) == Some(&leg) {
                self.partners.remove(&(call, partner));
            }
        }
    }

    fn update_stream(&self, anchored: &mut Anchored, stream: &StreamMedia) {
        let detached = self.driver.detached();
        let remote = Some((stream.remote, stream.remote_rtcp));
        if anchored.remote != remote {
            anchored.remote = remote;
            report(
                anchored.key,
                detached.update_remote(anchored.key, stream.remote, stream.remote_rtcp),
            );
        }
        // Keys are complete once the peer gave its own.
        let keys = stream
            .srtp
            .as_ref()
            .filter(|keys| keys.remote_key_salt.is_some());
        if anchored.srtp.as_ref() != keys {
            anchored.srtp = keys.cloned();
            let srtp = match keys.map(leg_srtp).transpose() {
                Ok(srtp) => srtp,
                Err(error) => {
                    tracing::warn!(leg = ?anchored.key, %error, "SRTP keys refused; the leg stays plain RTP");
                    None
                }
            };
            report(anchored.key, detached.update_srtp(anchored.key, srtp));
        }
        if anchored.direction != Some(stream.direction) {
            anchored.direction = Some(stream.direction);
            report(
                anchored.key,
                detached.set_direction(anchored.key, stream.direction),
            );
        }
        let changed = anchored.codec.is_some() && anchored.codec != stream.codec;
        anchored.codec = stream.codec.clone();
        let dtmf = leg_dtmf(stream);
        if dtmf.is_some() && anchored.dtmf != dtmf {
            anchored.dtmf = dtmf;
            if let Some(dtmf) = dtmf {
                report(anchored.key, detached.set_dtmf(anchored.key, dtmf));
            }
        }
        // A re-INVITE changed the codec of a leg given one: the relay
        // takes the new one (and `prepare_bridge` then decides whether it
        // still transcodes).
        let now = anchored.codec.as_ref().and_then(leg_codec);
        if anchored.transcoding.is_some() && now.is_some() && anchored.transcoding != now {
            anchored.transcoding = now;
            if let Some(codec) = now {
                report(anchored.key, detached.set_codec(anchored.key, codec));
            }
        } else if let (None, true, Some(codec)) = (anchored.transcoding, changed, now) {
            // A leg the contact center gave its codec (music, prompts,
            // recording) decodes and encodes the new one.
            report(anchored.key, detached.update_codec(anchored.key, codec));
        }
    }

    /// Before two streams are bridged, and after either changed: when
    /// their codecs differ (or only their payload types), both get their
    /// codec so the relay transcodes (or renumbers) between them. Streams
    /// of one codec and numbering are forwarded untouched: one that was
    /// given a codec for an earlier transcoding bridge gets this one, as
    /// the same codec on both legs is what stops the relay transcoding.
    fn prepare_bridge(&self, left: &mut Anchored, right: &mut Anchored) {
        let (Some(a), Some(b)) = (&left.codec, &right.codec) else {
            return;
        };
        if a == b {
            let detached = self.driver.detached();
            let Some(shared) = leg_codec(a) else {
                // A codec the relay neither plays nor transcodes (G.729,
                // SILK): the bridge forwards it as it is.
                Self::forget_codecs(&detached, [left, right]);
                return;
            };
            for anchored in [left, right] {
                if anchored.transcoding.is_some_and(|codec| codec != shared) {
                    anchored.transcoding = Some(shared);
                    report(anchored.key, detached.set_codec(anchored.key, shared));
                }
            }
            return;
        }
        let detached = self.driver.detached();
        let (Some(a), Some(b)) = (leg_codec(a), leg_codec(b)) else {
            tracing::warn!(
                left = ?left.key,
                right = ?right.key,
                "the legs share no codec switchboard can transcode: relayed as they are"
            );
            Self::forget_codecs(&detached, [left, right]);
            return;
        };
        for (anchored, codec) in [(left, a), (right, b)] {
            if anchored.transcoding != Some(codec) {
                anchored.transcoding = Some(codec);
                report(anchored.key, detached.set_codec(anchored.key, codec));
            }
        }
    }
}

impl RelayAnchor {
    /// Takes away the codecs the relay was given for transcoding.
    fn forget_codecs(detached: &media::Detached<'_>, legs: [&mut Anchored; 2]) {
        for anchored in legs {
            if anchored.transcoding.take().is_some() {
                report(anchored.key, detached.clear_codec(anchored.key));
            }
        }
    }
}

impl std::fmt::Debug for RelayAnchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayAnchor")
            .field("advertised", &self.advertised)
            .field("legs", &self.legs.len())
            .finish_non_exhaustive()
    }
}

/// The relay's codec settings for a negotiated stream: G.711, G.722
/// (`G722/8000`) or Opus (`opus/48000`); others are relayed only.
pub(crate) fn leg_codec(codec: &StreamCodec) -> Option<LegCodec> {
    let encoding = LegEncoding::from_encoding_name(&codec.encoding, codec.clock_rate)?;
    let mut leg = LegCodec::new(encoding);
    leg.payload_type = codec.payload_type;
    leg.telephone_event_pt = codec.telephone_event;
    Some(leg)
}

/// The relay's DTMF settings for a negotiated stream: how its peer takes
/// key presses (the trunk's `dtmf`), in the stream's payload types.
fn leg_dtmf(stream: &StreamMedia) -> Option<LegDtmf> {
    let codec = stream.codec.as_ref()?;
    let method = match stream.dtmf {
        DtmfMode::Rfc4733 => DtmfMethod::Rfc4733,
        DtmfMode::Info => DtmfMethod::Info,
        DtmfMode::Inband => DtmfMethod::Inband,
    };
    Some(match leg_codec(codec) {
        Some(leg) => LegDtmf::with_codec(method, &leg),
        // A codec the relay does not know (G.729...): no tones, but
        // telephone-events all the same.
        None => LegDtmf {
            method,
            telephone_event_pt: codec.telephone_event,
            telephone_event_rate: codec.clock_rate,
            audio_pt: codec.payload_type,
            g711: None,
            clock_rate: codec.clock_rate,
        },
    })
}

/// SRTP contexts from SDES keys: the peer's decrypt what it sends, ours
/// protect what we send it (RFC 4568 §6.1).
fn leg_srtp(keys: &SrtpKeys) -> Result<LegSrtp, SrtpError> {
    let remote = keys.remote_key_salt.as_deref().unwrap_or_default();
    LegSrtp::from_key_salts(&keys.suite, remote, &keys.local_key_salt)
}

/// A detached command fails before queueing only when a shard stopped.
fn report(leg: LegKey, result: Result<(), DriverError>) {
    if let Err(error) = result {
        tracing::error!(?leg, %error, "media relay command not queued");
    }
}

fn relay_error(error: DriverError) -> MediaError {
    match error {
        DriverError::PortsExhausted => MediaError::PortsExhausted,
        other => MediaError::Relay(other.to_string()),
    }
}

impl MediaAnchor for RelayAnchor {
    fn allocate(
        &mut self,
        call: CallId,
        leg: LegId,
        stream: usize,
        rtcp_mux: bool,
    ) -> Result<SocketAddr, MediaError> {
        if stream as u64 >= MAX_STREAMS {
            return Err(MediaError::Relay(format!(
                "stream {stream}: too many streams"
            )));
        }
        let streams = self.legs.entry((call, leg)).or_default();
        if let Some(Some(anchored)) = streams.get(stream) {
            return Ok(SocketAddr::new(self.advertised, anchored.port));
        }
        let key = Self::key(call, leg, stream);
        // Without rtcp-mux in the SDP, RTCP gets the next port.
        let ports = self
            .driver
            .detached()
            .allocate_leg(key, rtcp_mux)
            .map_err(relay_error)?;
        if streams.len() <= stream {
            streams.resize_with(stream + 1, || None);
        }
        streams[stream] = Some(Anchored {
            key,
            port: ports.rtp,
            remote: None,
            srtp: None,
            direction: None,
            codec: None,
            transcoding: None,
            dtmf: None,
        });
        Ok(SocketAddr::new(self.advertised, ports.rtp))
    }

    fn update(&mut self, call: CallId, leg: LegId, streams: &[StreamMedia]) {
        let Some(mut anchored) = self.legs.remove(&(call, leg)) else {
            return;
        };
        for stream in streams {
            if let Some(Some(slot)) = anchored.get_mut(stream.stream) {
                self.update_stream(slot, stream);
            }
        }
        self.legs.insert((call, leg), anchored);
        // A re-INVITE may have made the bridge's codecs differ, or one
        // again.
        if let Some(&partner) = self.partners.get(&(call, leg)) {
            self.prepare_pairs(call, leg, partner, |_, _, _| {});
        }
    }

    fn bridge(&mut self, call: CallId, a: LegId, b: LegId) {
        let anchored = |leg| self.legs.contains_key(&(call, leg));
        if a == b || !anchored(a) || !anchored(b) {
            return;
        }
        for leg in [a, b] {
            self.forget_partner(call, leg);
        }
        self.partners.insert((call, a), b);
        self.partners.insert((call, b), a);
        self.prepare_pairs(call, a, b, |driver, left, right| {
            report(left.key, driver.detached().bridge(left.key, right.key));
        });
    }

    fn unbridge(&mut self, call: CallId, a: LegId, b: LegId) {
        if self.partners.get(&(call, a)) == Some(&b) {
            self.forget_partner(call, a);
        }
        let detached = self.driver.detached();
        for leg in [a, b] {
            let Some(streams) = self.legs.get(&(call, leg)) else {
                continue;
            };
            for anchored in streams.iter().flatten() {
                report(anchored.key, detached.unbridge(anchored.key));
            }
        }
    }

    fn release(&mut self, call: CallId, leg: LegId) {
        self.forget_partner(call, leg);
        let Some(streams) = self.legs.remove(&(call, leg)) else {
            return;
        };
        let detached = self.driver.detached();
        for anchored in streams.into_iter().flatten() {
            report(anchored.key, detached.free_leg(anchored.key));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::UdpSocket;
    use std::time::Duration;

    use media::DriverConfig;

    use super::*;

    const CALL: CallId = CallId(7);
    const CARRIER: LegId = LegId(1);
    const TEAMS: LegId = LegId(2);

    /// A relay on loopback with one shard, the B2BUA's anchor on it, and
    /// a socket for each leg's peer.
    struct Relay {
        anchor: RelayAnchor,
        driver: Arc<MediaDriver>,
        carrier: UdpSocket,
        teams: UdpSocket,
        ports: HashMap<LegId, u16>,
        seq: u16,
    }

    fn codec(payload_type: u8, encoding: &str) -> StreamCodec {
        StreamCodec {
            payload_type,
            encoding: encoding.to_owned(),
            clock_rate: 8000,
            telephone_event: Some(101),
        }
    }

    impl Relay {
        /// A carrier and a Teams leg negotiated with these codecs,
        /// bridged, the commands carried out.
        fn bridged(carrier: StreamCodec, teams: StreamCodec) -> Relay {
            let mut relay = Relay::start();
            relay.negotiate(carrier, teams);
            relay.anchor.bridge(CALL, CARRIER, TEAMS);
            relay.settle();
            relay
        }

        fn start() -> Relay {
            // A range of its own per test process; taken ports are skipped.
            let first = 42000 + (std::process::id() % 500) as u16 * 20;
            let config = DriverConfig {
                bind: IpAddr::from([127, 0, 0, 1]),
                first_port: first,
                last_port: first + 19,
                shards: 1,
                gso: false,
                ..DriverConfig::default()
            };
            let (driver, _events) = MediaDriver::start(config).unwrap();
            let driver = Arc::new(driver);
            let mut anchor = RelayAnchor::new(Arc::clone(&driver), IpAddr::from([127, 0, 0, 1]));
            let mut ports = HashMap::new();
            for leg in [CARRIER, TEAMS] {
                let local = anchor.allocate(CALL, leg, 0, true).unwrap();
                ports.insert(leg, local.port());
            }
            let peer = || {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                socket
                    .set_read_timeout(Some(Duration::from_millis(50)))
                    .unwrap();
                socket
            };
            Relay {
                anchor,
                driver,
                carrier: peer(),
                teams: peer(),
                ports,
                seq: 0,
            }
        }

        /// The B2BUA tells the relay the legs' codecs (an answer, a
        /// re-INVITE).
        fn negotiate(&mut self, carrier: StreamCodec, teams: StreamCodec) {
            for (leg, codec) in [(CARRIER, carrier), (TEAMS, teams)] {
                let peer = if leg == CARRIER {
                    &self.carrier
                } else {
                    &self.teams
                };
                let remote = peer.local_addr().unwrap();
                let stream = StreamMedia {
                    stream: 0,
                    local: SocketAddr::new(self.anchor.advertised, self.ports[&leg]),
                    remote: Some(remote),
                    remote_rtcp: Some(remote),
                    codec: Some(codec),
                    srtp: None,
                    direction: Direction::SendRecv,
                    dtmf: DtmfMode::Rfc4733,
                };
                self.anchor.update(CALL, leg, &[stream]);
            }
            self.settle();
        }

        /// Waits until the shard ran every command queued so far (they
        /// run in order, before the ones of this call).
        fn settle(&self) {
            self.driver.counters().unwrap();
        }

        /// Sends the carrier's audio (payload type `pt`) until Teams gets
        /// a packet; returns its payload type and whether its payload is
        /// the one sent.
        fn carrier_to_teams(&mut self, pt: u8) -> (u8, bool) {
            let mut buf = [0u8; 1500];
            while self.teams.recv(&mut buf).is_ok() {}
            let to = SocketAddr::new(self.anchor.advertised, self.ports[&CARRIER]);
            for _ in 0..40 {
                self.seq = self.seq.wrapping_add(1);
                let ts = u32::from(self.seq) * 160;
                let mut packet = vec![0x80, pt];
                packet.extend_from_slice(&self.seq.to_be_bytes());
                packet.extend_from_slice(&ts.to_be_bytes());
                packet.extend_from_slice(&[0, 0, 0, 42]);
                let payload: Vec<u8> = (0..160).map(|i| (i * 7 % 251) as u8).collect();
                packet.extend_from_slice(&payload);
                self.carrier.send_to(&packet, to).unwrap();
                if let Ok(len) = self.teams.recv(&mut buf) {
                    assert!(len >= 12, "not RTP: {len} bytes");
                    return (buf[1] & 0x7f, buf[12..len] == payload[..]);
                }
            }
            panic!("nothing reached Teams");
        }
    }

    #[test]
    fn a_reinvite_to_a_shared_codec_stops_the_transcoding() {
        let mut relay = Relay::bridged(codec(0, "PCMU"), codec(8, "PCMA"));
        assert_eq!(relay.carrier_to_teams(0), (8, false), "transcoded");
        // The carrier re-offered PCMA too and Teams took it.
        relay.negotiate(codec(8, "PCMA"), codec(8, "PCMA"));
        assert_eq!(relay.carrier_to_teams(8), (8, true), "forwarded");
        // Back to PCMU on the carrier's side: transcoded again.
        relay.negotiate(codec(0, "PCMU"), codec(8, "PCMA"));
        assert_eq!(relay.carrier_to_teams(0), (8, false), "transcoded");
    }

    #[test]
    fn a_reinvite_to_different_codecs_starts_transcoding() {
        let mut relay = Relay::bridged(codec(0, "PCMU"), codec(0, "PCMU"));
        assert_eq!(relay.carrier_to_teams(0), (0, true), "forwarded");
        // Teams re-offered PCMA only; the carrier keeps PCMU.
        relay.negotiate(codec(0, "PCMU"), codec(8, "PCMA"));
        assert_eq!(relay.carrier_to_teams(0), (8, false), "transcoded");
        // Released legs leave no bridge behind.
        relay.anchor.release(CALL, CARRIER);
        assert!(!relay.anchor.partners.contains_key(&(CALL, TEAMS)));
    }

    #[test]
    fn a_leg_given_its_codec_for_prompts_follows_a_reinvite() {
        let mut relay = Relay::start();
        relay.negotiate(codec(0, "PCMU"), codec(0, "PCMU"));
        // The contact center bridges the legs and gives the Teams leg its
        // codec (for music and recording) itself, not through the
        // anchor; then a re-INVITE moves both legs to PCMA.
        let key = RelayAnchor::key(CALL, TEAMS, 0);
        let carrier = RelayAnchor::key(CALL, CARRIER, 0);
        relay.driver.bridge(carrier, key).unwrap();
        relay
            .driver
            .set_codec(key, media::LegCodec::new(media::LegEncoding::Pcmu))
            .unwrap();
        relay.negotiate(codec(8, "PCMA"), codec(8, "PCMA"));
        relay.settle();
        let tone = media::TonePlayer::new(media::Tone::Dtmf {
            digit: media::DtmfDigit::Five,
            duration: Duration::from_millis(200),
        });
        relay
            .driver
            .play(key, media::PlayRequestId(1), Box::new(tone))
            .unwrap();
        let mut buf = [0u8; 1500];
        // The first RTP packet (RTCP reports aside: types 200-204).
        let mut got = None;
        for _ in 0..20 {
            if let Ok(len) = relay.teams.recv(&mut buf) {
                if len == 12 + 160 && !(200..=204).contains(&buf[1]) {
                    got = Some((buf[1] & 0x7f, buf[12..len].to_vec()));
                    break;
                }
            }
        }
        let (pt, payload) = got.expect("a prompt packet");
        // What the tone's first 20 ms are in A-law.
        let mut first = media::TonePlayer::new(media::Tone::Dtmf {
            digit: media::DtmfDigit::Five,
            duration: Duration::from_millis(200),
        });
        let mut pcm = [0i16; 160];
        first.fill(&mut pcm);
        let mut alaw = [0u8; 160];
        media::G711::Alaw.encode(&pcm, &mut alaw);
        assert_eq!(pt, 8, "the prompt goes out as PCMA");
        assert_eq!(payload, alaw, "encoded in A-law");
    }

    #[test]
    fn legs_that_come_to_share_g729_are_forwarded_untranscoded() {
        let mut relay = Relay::bridged(codec(0, "PCMU"), codec(8, "PCMA"));
        assert_eq!(relay.carrier_to_teams(0), (8, false), "transcoded");
        // A re-INVITE leaves both legs with G.729, which the relay does
        // not decode: forwarded as it is.
        relay.negotiate(codec(18, "G729"), codec(18, "G729"));
        assert_eq!(relay.carrier_to_teams(18), (18, true), "forwarded");
    }

    #[test]
    fn a_bridge_of_one_codec_ends_the_transcoding_of_a_leg_given_another() {
        let mut relay = Relay::bridged(codec(0, "PCMU"), codec(8, "PCMA"));
        assert_eq!(relay.carrier_to_teams(0), (8, false), "transcoded");
        // Unbridged (a party joins), both legs move to PCMA, bridged again.
        relay.anchor.unbridge(CALL, CARRIER, TEAMS);
        relay.negotiate(codec(8, "PCMA"), codec(8, "PCMA"));
        relay.anchor.bridge(CALL, CARRIER, TEAMS);
        relay.settle();
        assert_eq!(relay.carrier_to_teams(8), (8, true), "forwarded");
    }
}
