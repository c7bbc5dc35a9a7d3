//! SDP towards each leg, anchored on the SBC (RFC 7092 §3.1.3 media-relay
//! B2BUA; RFC 3264 offer/answer rules for what an answer may change).
//!
//! What one leg's peer wrote is rewritten before the other leg sees it:
//! - `o=` becomes ours, one session id per leg, its version bumped only
//!   when the content changed (RFC 3264 §8); `s=` `-`; `i=`, `u=`, `e=`,
//!   `p=` dropped.
//! - `c=` and every `m=` port point at the leg's anchor; ICE, `a=rtcp`
//!   and DTLS attributes (which name the other leg's addresses or keys)
//!   are dropped.
//! - Towards Teams (Direct Routing: SRTP with SDES is mandatory) RTP
//!   streams are `RTP/SAVP` with our own `a=crypto` key (RFC 4568 §5, one
//!   key per stream, kept across re-offers) and `a=rtcp-mux`; towards
//!   carriers they are `RTP/AVP` without crypto. An answer keeps the
//!   protocol of the offer it answers and echoes the tag of the crypto
//!   line it accepts (RFC 4568 §7.1.2).
//! - Hold towards Teams is only `a=inactive` (Teams ignores `sendonly`
//!   and does not allow `c=0.0.0.0`); `c=0.0.0.0` from anyone (RFC 2543
//!   hold, RFC 3264 §8.4) becomes `a=inactive`.
//! - Codecs follow each leg's policy (`codecs`): an offer keeps what the
//!   leg allows, else offers the leg its own list and the stream is
//!   transcoded (RFC 3264 §6.1 answers name one codec of the offer); a
//!   re-offer that lets the legs share a codec again ends that (§8.3.2),
//!   see `codecs`. Answers from a peer are checked against our offer
//!   (§6.1: the codec used must be one offered).
//!
//! `o=` versions (RFC 3264 §8): the "previous SDP" is the last one
//! provided to the peer, "in an offer or an answer", so an offer of ours
//! the peer refused counts too. When a refused offer is rolled back
//! ([`LegSdp::offer_refused`]: the session in force stays, RFC 3261
//! §14.1), it is kept as the previous SDP: the next description we send
//! keeps its `o=` line, with the same version if identical to it, else
//! its version plus one. Going back to the version the peer accepted
//! (or reusing the refused version for other content) would break §8:
//! "if the version in the origin line does not increment, the SDP MUST
//! be identical to the SDP with that version number".

use std::net::SocketAddr;

use bytes::Bytes;

use sdp::offer_answer::{is_stream_on_hold, reoffer};
use sdp::{Attribute, Crypto, Direction, Media, Origin, SdpError, Session};

use super::codecs::{self, Agreed};
use super::media::{SrtpKeys, StreamCodec, StreamMedia};
use crate::config::DtmfMode;
use crate::error::MediaError;

/// Attributes that describe the other leg's transport, never copied.
const TRANSPORT_ATTRIBUTES: &[&str] = &[
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "ice-lite",
    "ice-mismatch",
    "candidate",
    "remote-candidates",
    "end-of-candidates",
    "rtcp",
    "fingerprint",
    "setup",
    "crypto",
];

/// Suites we offer and accept, in preference order (Teams offers both).
const SUITES: &[&str] = &["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"];

/// Whether a description is an offer or an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SdpRole {
    /// An offer made from the other leg's peer's offer.
    Offer,
    /// An offer made from the other leg's peer's answer (to a transfer
    /// target's offer): it names the codec that peer chose, not all it
    /// takes, so a transcoded stream keeps its codec (`codecs`).
    OfferFromAnswer,
    Answer,
}

/// Why no SDP could be read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RewriteError {
    /// The media plane refused an allocation.
    Media(MediaError),
    /// The peer's description does not parse.
    Unparsable(SdpError),
    /// The peer answered with a codec we did not offer it (RFC 3264
    /// §6.1): a misbehaving peer.
    CodecNotOffered { stream: usize },
    /// The other leg's peer settled on a codec this leg's offer lacks and
    /// the offer has none switchboard transcodes.
    NoCommonCodec { stream: usize },
    /// The leg is gone.
    NoLeg,
}

/// The state an offer exchange may have to go back to.
#[derive(Debug, Clone)]
struct Checkpoint {
    local: LocalDescription,
    received: Option<Bytes>,
    peer_offered: bool,
    agreed: Vec<Option<Agreed>>,
    exchanges: u64,
}

/// What we last sent a leg and what went with it: the previous SDP
/// when that is another (module docs), per stream whether its codec is
/// transcoded, and our SRTP keys. An offer of ours changes only this
/// until it is answered; a refused one is undone with
/// [`LegSdp::offer_refused`].
#[derive(Debug, Clone)]
pub(crate) struct LocalDescription {
    sent: Option<Bytes>,
    previous: Option<Bytes>,
    transcoded: Vec<bool>,
    keys: Vec<Option<LocalKey>>,
}

/// Our key of one stream.
#[derive(Clone, PartialEq, Eq)]
struct LocalKey {
    suite: String,
    key_salt: Vec<u8>,
}

impl std::fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKey")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// The SDP state of one leg: how to write for it, what we sent, what its
/// peer sent.
#[derive(Debug, Clone)]
pub(crate) struct LegSdp {
    /// `RTP/SAVP` with SDES keys (Teams).
    secure: bool,
    /// Hold is written as `a=inactive` only (Teams).
    inactive_hold: bool,
    /// Codecs an offer to this leg may carry (encoding names); all when
    /// empty, and then never transcoded.
    codecs: Vec<String>,
    /// Offers to this leg get a telephone-event when they have none (its
    /// peer takes DTMF as RFC 4733 events only, the other leg's peer
    /// sends INFO or in-band tones that switchboard turns into events).
    adds_events: bool,
    session_id: u64,
    anchors: Vec<Option<SocketAddr>>,
    keys: Vec<Option<LocalKey>>,
    /// Kept serialized (a parsed [`Session`] is about 1 KiB in a dozen
    /// allocations; this is its text) and parsed again when needed, which
    /// is rare after call setup.
    sent: Option<Bytes>,
    /// The last description provided to the peer when it is not `sent`:
    /// an offer of ours it refused, rolled back. The next description
    /// we send is versioned from it (module docs, RFC 3264 §8).
    previous: Option<Bytes>,
    received: Option<Bytes>,
    /// Whether `received` is an offer, which lists every codec the peer
    /// takes (RFC 3264 §5.1), rather than an answer naming one.
    peer_offered: bool,
    /// Per stream, what the last completed offer/answer exchange with
    /// the peer settled on (a pending offer changes nothing yet).
    agreed: Vec<Option<Agreed>>,
    /// Per stream, whether this leg's codec was chosen for it alone
    /// rather than shared with the other leg (the relay transcodes).
    transcoded: Vec<bool>,
    /// Offer/answer exchanges completed with the peer (the peer answered
    /// our offer, or we answered its offer).
    exchanges: u64,
    /// Offers passed on unfiltered since the last
    /// [`LegSdp::take_untranscodable`]: no codec of the offer was
    /// allowed and none could be transcoded.
    untranscodable: u32,
    /// What the state was before an offer that may be refused (RFC 3264
    /// §8: a rejected offer changes nothing).
    checkpoint: Option<Checkpoint>,
}

impl LegSdp {
    pub(crate) fn new(secure: bool, codecs: Vec<String>, session_id: u64) -> LegSdp {
        LegSdp {
            secure,
            inactive_hold: secure,
            codecs,
            adds_events: false,
            // o= ids stay below 2^62 so that any parser takes them.
            session_id: session_id >> 2,
            anchors: Vec::new(),
            keys: Vec::new(),
            sent: None,
            previous: None,
            received: None,
            peer_offered: false,
            agreed: Vec::new(),
            transcoded: Vec::new(),
            exchanges: 0,
            untranscodable: 0,
            checkpoint: None,
        }
    }

    /// Writes SRTP with our own SDES keys from now on (a peer that offered
    /// `RTP/SAVP` to switchboard itself), keeping the hold style.
    pub(crate) fn use_srtp(&mut self) {
        self.secure = true;
    }

    /// Whether offers to this leg get a telephone-event when they have
    /// none (see `codecs::add_event`).
    pub(crate) fn set_adds_events(&mut self, adds_events: bool) {
        self.adds_events = adds_events;
    }

    /// Remembers the current descriptions before a new offer exchange.
    pub(crate) fn checkpoint(&mut self) {
        self.checkpoint = Some(Checkpoint {
            local: self.local_description(),
            received: self.received.clone(),
            peer_offered: self.peer_offered,
            agreed: self.agreed.clone(),
            exchanges: self.exchanges,
        });
    }

    /// The offer exchange failed before anything reached this leg's
    /// peer: back to the descriptions of the last checkpoint.
    pub(crate) fn rollback(&mut self) {
        if let Some(checkpoint) = self.checkpoint.take() {
            self.set_local_description(checkpoint.local);
            self.received = checkpoint.received;
            self.peer_offered = checkpoint.peer_offered;
            self.agreed = checkpoint.agreed;
            self.exchanges = checkpoint.exchanges;
        }
    }

    /// The peer refused the offer we sent it in the exchange of the last
    /// checkpoint: back to the descriptions of the checkpoint, the
    /// refused offer kept as the previous SDP (module docs).
    pub(crate) fn rollback_refused(&mut self) {
        let refused = self.sent.clone();
        self.rollback();
        self.keep_refused(refused);
    }

    /// The peer accepted our offer, but the exchange failed on the other
    /// leg: back to the descriptions of the last checkpoint, and our
    /// description before that offer becomes a new offer to restore them,
    /// versioned from the accepted one (RFC 3264 §8). `None` when there
    /// was none before.
    pub(crate) fn rollback_to_reoffer(&mut self) -> bool {
        let accepted = self.sent.clone();
        self.rollback();
        if self.sent.is_none() {
            return false;
        }
        self.previous = accepted;
        self.sent_again().is_some()
    }

    /// What we last sent and what went with it (see
    /// [`LocalDescription`]), to go back to if an offer of ours fails.
    pub(crate) fn local_description(&self) -> LocalDescription {
        LocalDescription {
            sent: self.sent.clone(),
            previous: self.previous.clone(),
            transcoded: self.transcoded.clone(),
            keys: self.keys.clone(),
        }
    }

    fn set_local_description(&mut self, local: LocalDescription) {
        self.sent = local.sent;
        self.previous = local.previous;
        self.transcoded = local.transcoded;
        self.keys = local.keys;
    }

    /// Our offer got a final non-2xx or no answer: the session in force
    /// stays (RFC 3261 §14.1, RFC 3264 §8), so what we sent goes back to
    /// `before` (taken before the offer was written), the refused offer
    /// kept as the previous SDP (module docs). Returns the refused offer,
    /// to send again after a 491 ([`LegSdp::retry_offer`]).
    pub(crate) fn offer_refused(&mut self, before: LocalDescription) -> LocalDescription {
        let refused = self.local_description();
        self.set_local_description(before);
        self.keep_refused(refused.sent.clone());
        refused
    }

    /// Keeps `refused` as the previous SDP when it is not what we have
    /// in force.
    fn keep_refused(&mut self, refused: Option<Bytes>) {
        if refused.is_some() && refused != self.sent {
            self.previous = refused;
        }
    }

    /// Our offer could not be sent after all: back to `before`.
    pub(crate) fn withdraw_offer(&mut self, before: LocalDescription) {
        self.set_local_description(before);
    }

    /// Makes `offer`, refused with 491 ([`LegSdp::offer_refused`]), our
    /// description again, to be sent with [`LegSdp::sent_again`]: the
    /// same version as when it was refused, unless another description
    /// was refused since (the previous SDP stays what it is).
    pub(crate) fn retry_offer(&mut self, offer: LocalDescription) {
        self.sent = offer.sent;
        self.transcoded = offer.transcoded;
        self.keys = offer.keys;
    }

    /// What we last sent to this leg, to send again (a session refresh,
    /// an answer to one, an offer retried). After a refused offer of
    /// ours, the description in force gets the refused offer's `o=`
    /// line, its version one up unless the two are identical (module
    /// docs); it is what we sent from then on.
    pub(crate) fn sent_again(&mut self) -> Option<Bytes> {
        let Some(previous) = self.previous.take() else {
            return self.sent.clone();
        };
        let current = self.sent()?;
        let again = match parse_kept(Some(&previous)) {
            Some(previous) => reoffer(&previous, current),
            None => current,
        };
        let again = again.to_bytes();
        self.sent = Some(again.clone());
        Some(again)
    }

    /// How many offer/answer exchanges with the peer completed (the
    /// peer answered our offer, or we answered its offer): a change
    /// tells that the session was renegotiated meanwhile.
    pub(crate) fn exchanges(&self) -> u64 {
        self.exchanges
    }

    /// Whether a stream of this leg is transcoded.
    pub(crate) fn is_transcoding(&self) -> bool {
        self.transcoded.contains(&true)
    }

    /// Per stream, whether it is transcoded.
    pub(crate) fn transcoded_streams(&self) -> Vec<bool> {
        self.transcoded.clone()
    }

    /// Marks streams transcoded (or not): the leg was paired with one
    /// whose codecs were chosen apart from its own, so its re-offers keep
    /// its codec.
    pub(crate) fn set_transcoded_streams(&mut self, transcoded: Vec<bool>) {
        self.transcoded = transcoded;
    }

    /// Per stream, whether this leg and `other` agreed on different
    /// codecs with their peers.
    pub(crate) fn codecs_differ(&self, other: &LegSdp) -> Vec<bool> {
        let streams = self.agreed.len().max(other.agreed.len());
        (0..streams)
            .map(
                |index| match (self.agreed_at(index), other.agreed_at(index)) {
                    (Some(ours), Some(theirs)) => !codecs::same(ours.voice(), theirs.voice()),
                    _ => false,
                },
            )
            .collect()
    }

    /// How many offers to this leg passed unfiltered for want of a codec
    /// switchboard transcodes since the last call; resets the count.
    pub(crate) fn take_untranscodable(&mut self) -> u32 {
        std::mem::take(&mut self.untranscodable)
    }

    fn is_transcoded(&self, index: usize) -> bool {
        self.transcoded.get(index).copied().unwrap_or(false)
    }

    fn set_transcoded(&mut self, index: usize, transcoded: bool) {
        if self.transcoded.len() <= index {
            self.transcoded.resize(index + 1, false);
        }
        self.transcoded[index] = transcoded;
    }

    fn agreed_at(&self, index: usize) -> Option<&Agreed> {
        self.agreed.get(index).and_then(Option::as_ref)
    }

    /// What we last sent to this leg.
    pub(crate) fn sent(&self) -> Option<Session> {
        parse_kept(self.sent.as_ref())
    }

    /// What this leg's peer last sent.
    pub(crate) fn received(&self) -> Option<Session> {
        parse_kept(self.received.as_ref())
    }

    /// Records a description from this leg's peer (an offer: what was
    /// agreed stays until it is answered).
    pub(crate) fn receive(&mut self, body: &[u8]) -> Result<Session, SdpError> {
        let session = Session::parse(body)?;
        // A copy: a slice would keep the whole datagram alive.
        self.received = Some(Bytes::copy_from_slice(body));
        self.peer_offered = true;
        Ok(session)
    }

    /// Records the peer's answer to what we sent it, and what the two
    /// settled on. With `check`, an answer whose codec we did not offer
    /// (RFC 3264 §6.1) is refused and changes nothing.
    pub(crate) fn receive_answer(
        &mut self,
        body: &[u8],
        check: bool,
    ) -> Result<Session, RewriteError> {
        let answer = Session::parse(body).map_err(RewriteError::Unparsable)?;
        let offer = self.sent();
        if let (true, Some(offer)) = (check, &offer) {
            let pairs = offer.media.iter().zip(&answer.media).enumerate();
            for (stream, (offered, answered)) in pairs {
                let judged =
                    answered.kind == "audio" && answered.is_rtp() && !answered.is_rejected();
                if judged && !codecs::answer_is_offered(offered, answered) {
                    return Err(RewriteError::CodecNotOffered { stream });
                }
            }
        }
        self.received = Some(Bytes::copy_from_slice(body));
        self.peer_offered = false;
        self.exchanges += 1;
        self.agreed = answer
            .media
            .iter()
            .enumerate()
            .map(|(index, answered)| {
                let offered = offer.as_ref().and_then(|o| o.media.get(index));
                codecs::agree(offered.unwrap_or(answered), answered)
            })
            .collect();
        Ok(answer)
    }

    /// Whether `body` says the same as the peer's last description (a
    /// session refresh rather than a new offer, RFC 3264 §8).
    pub(crate) fn is_unchanged(&self, body: &[u8]) -> bool {
        match (self.received(), Session::parse(body)) {
            (Some(last), Ok(new)) => {
                last.origin.session_id == new.origin.session_id
                    && last.origin.session_version == new.origin.session_version
            }
            _ => false,
        }
    }

    /// The description for this leg made from `source` (what the other
    /// leg's peer wrote). `allocate` anchors stream `i` (with `true`
    /// when one port will carry RTP and RTCP: an answer to an rtcp-mux
    /// offer, or our SRTP offers, which always ask for rtcp-mux as Teams
    /// requires); `random` fills new SRTP keys.
    pub(crate) fn write(
        &mut self,
        source: &Session,
        role: SdpRole,
        allocate: &mut dyn FnMut(usize, bool) -> Result<SocketAddr, MediaError>,
        random: &mut dyn FnMut(&mut [u8]),
    ) -> Result<Session, RewriteError> {
        let mut out = source.clone();
        let received = match role {
            SdpRole::Answer => self.received(),
            SdpRole::Offer | SdpRole::OfferFromAnswer => None,
        };
        out.name = "-".to_owned();
        out.info = None;
        out.uri = None;
        out.emails.clear();
        out.phones.clear();
        out.attributes.retain(|a| !is_transport_attribute(a));
        out.set_direction(None);
        let mut ip = None;
        for (index, media) in out.media.iter_mut().enumerate() {
            let source_media = source.media.get(index);
            let direction = source_media.map_or(Direction::SendRecv, |m| {
                let held = is_stream_on_hold(source, m);
                let connection_hold = source.connection_of(m).is_some_and(|c| c.is_unspecified());
                if connection_hold || (held && self.inactive_hold) {
                    Direction::Inactive
                } else {
                    source.direction_of(m)
                }
            });
            media.connections.clear();
            media.attributes.retain(|a| !is_transport_attribute(a));
            media.info = None;
            let offered = received.as_ref().and_then(|o| o.media.get(index)).cloned();
            if media.is_rejected() {
                if let Some(offered) = &offered {
                    media.proto = offered.proto.clone();
                }
                continue;
            }
            let rtcp_mux = match (role, &offered) {
                (SdpRole::Answer, Some(offered)) => offered.rtcp_mux(),
                _ => self.secure && media.is_rtp(),
            };
            let anchor = self
                .anchor(index, rtcp_mux, allocate)
                .map_err(RewriteError::Media)?;
            ip = ip.or(Some(anchor.ip()));
            media.set_port(anchor.port());
            if media.is_rtp() {
                self.write_rtp(index, media, role, offered.as_ref(), random);
                if !media.is_rejected() && media.kind == "audio" {
                    self.write_codecs(index, media, role, offered.as_ref())?;
                }
            }
            if !media.is_rejected() {
                media.set_direction(direction);
            }
        }
        let ip = match ip {
            Some(ip) => ip,
            // Every stream rejected: any anchor of the leg, else allocate one.
            None => self
                .anchor(0, false, allocate)
                .map_err(RewriteError::Media)?
                .ip(),
        };
        out.set_connection_address(ip);
        out.origin = Origin::new(self.session_id, 1, ip);
        if let Some(offer) = &received {
            // Our answer completes the exchange.
            self.exchanges += 1;
            self.agreed = out
                .media
                .iter()
                .enumerate()
                .map(|(index, ours)| codecs::agree(offer.media.get(index)?, ours))
                .collect();
        }
        // Versioned from the last description the peer got (module docs).
        let previous = match self.previous.take() {
            Some(refused) => parse_kept(Some(&refused)),
            None => self.sent(),
        };
        let out = match previous {
            Some(previous) => reoffer(&previous, out),
            None => out,
        };
        self.sent = Some(out.to_bytes());
        Ok(out)
    }

    fn anchor(
        &mut self,
        index: usize,
        rtcp_mux: bool,
        allocate: &mut dyn FnMut(usize, bool) -> Result<SocketAddr, MediaError>,
    ) -> Result<SocketAddr, MediaError> {
        if let Some(Some(addr)) = self.anchors.get(index) {
            return Ok(*addr);
        }
        let addr = allocate(index, rtcp_mux)?;
        if self.anchors.len() <= index {
            self.anchors.resize(index + 1, None);
        }
        self.anchors[index] = Some(addr);
        Ok(addr)
    }

    /// Protocol, crypto, rtcp-mux and codecs of an RTP stream.
    fn write_rtp(
        &mut self,
        index: usize,
        media: &mut Media,
        role: SdpRole,
        offered: Option<&Media>,
        random: &mut dyn FnMut(&mut [u8]),
    ) {
        match (role, offered) {
            (SdpRole::Answer, Some(offered)) => {
                media.proto = offered.proto.clone();
                if !offered.rtcp_mux() {
                    media.remove_attributes("rtcp-mux");
                }
                if self.secure && offered.proto.contains("SAVP") {
                    let accepted = offered.cryptos().find(|c| {
                        SUITES.contains(&c.suite.as_str())
                            && c.master_key_salt().is_some()
                            && c.keys.iter().all(|k| k.mki.is_none())
                    });
                    match accepted {
                        Some(theirs) => {
                            let key = self.local_key(index, &theirs.suite, random);
                            media.add_crypto(&Crypto::new(theirs.tag, key.suite, key.key_salt));
                        }
                        // Nothing we can key: refuse the stream (RFC 4568 §7.1.2).
                        None => media.set_port(0),
                    }
                }
            }
            _ => {
                if self.secure {
                    media.proto = "RTP/SAVP".to_owned();
                    let key = self.local_key(index, SUITES[0], random);
                    media.add_crypto(&Crypto::new(1, key.suite, key.key_salt));
                    if !media.rtcp_mux() {
                        media.push_attribute(Attribute::flag("rtcp-mux"));
                    }
                } else {
                    media.proto = "RTP/AVP".to_owned();
                }
            }
        }
    }

    /// Our key for stream `index` in `suite`, made once and kept.
    fn local_key(
        &mut self,
        index: usize,
        suite: &str,
        random: &mut dyn FnMut(&mut [u8]),
    ) -> LocalKey {
        if let Some(Some(key)) = self.keys.get(index) {
            if key.suite == suite {
                return key.clone();
            }
        }
        let (key_len, salt_len) = Crypto::key_lengths(suite).unwrap_or((16, 14));
        let mut key_salt = vec![0u8; key_len + salt_len];
        random(&mut key_salt);
        let key = LocalKey {
            suite: suite.to_owned(),
            key_salt,
        };
        if self.keys.len() <= index {
            self.keys.resize(index + 1, None);
        }
        self.keys[index] = Some(key.clone());
        key
    }

    /// The codecs of an audio stream (module `codecs`).
    fn write_codecs(
        &mut self,
        index: usize,
        media: &mut Media,
        role: SdpRole,
        offered: Option<&Media>,
    ) -> Result<(), RewriteError> {
        match (role, offered) {
            (SdpRole::Answer, Some(offered)) => self.answer_codecs(index, media, offered),
            (SdpRole::Answer, None) => Ok(()),
            (SdpRole::Offer | SdpRole::OfferFromAnswer, _) => {
                self.offer_codecs(index, media, role == SdpRole::Offer);
                let allowed = self.codecs.is_empty()
                    || self
                        .codecs
                        .iter()
                        .any(|c| c.eq_ignore_ascii_case("telephone-event"));
                if self.adds_events && allowed {
                    codecs::add_event(media);
                }
                Ok(())
            }
        }
    }

    /// An offer to this leg of the other leg's `media`: what the policy
    /// allows, else this leg's own list (transcoded), else unfiltered. A
    /// transcoded stream is re-offered the codecs it can share again when
    /// `may_share` (the other peer's offer lists all it takes) and there
    /// are some, else the codec it agreed on.
    fn offer_codecs(&mut self, index: usize, media: &mut Media, may_share: bool) {
        let transcodable = codecs::has_transcodable_voice(media);
        if let (true, Some(agreed)) = (
            transcodable && self.is_transcoded(index),
            self.agreed_at(index),
        ) {
            let formats = agreed.formats();
            if !(may_share && self.offer_shared(index, media)) {
                codecs::set_formats(media, &formats);
            }
            return;
        }
        if self.codecs.is_empty() {
            return;
        }
        if codecs::keep_allowed(media, &self.codecs) {
            return self.set_transcoded(index, false);
        }
        let own = codecs::own_formats(&self.codecs);
        if transcodable && !own.is_empty() {
            codecs::set_formats(media, &own);
            self.set_transcoded(index, true);
        } else {
            // The far end decides (it may refuse the offer).
            self.untranscodable += 1;
            self.set_transcoded(index, false);
        }
    }

    /// Keeps the codecs of the re-offer `media` of a transcoded stream
    /// that this leg takes (its policy allows them and, if its peer's
    /// last description was an offer, that offer listed them) and the
    /// media plane knows, in the payload types this leg's session uses
    /// (RFC 3264 §8.3.2); returns whether there were some (the stream is
    /// no longer transcoded then).
    fn offer_shared(&mut self, index: usize, media: &mut Media) -> bool {
        let stream = |session: Option<Session>| {
            session.and_then(|mut s| (index < s.media.len()).then(|| s.media.swap_remove(index)))
        };
        let (sent, received) = (stream(self.sent()), stream(self.received()));
        let peers_offer = received.as_ref().filter(|_| self.peer_offered);
        if !codecs::keep_shared(media, &self.codecs, peers_offer) {
            return false;
        }
        let earlier: Vec<Media> = [sent, received].into_iter().flatten().collect();
        codecs::keep_numbers(media, &earlier);
        self.set_transcoded(index, false);
        true
    }

    /// An answer to this leg's `offered` stream made from the other leg's
    /// answer `media`: as it is, in the offer's payload types, when its
    /// codec was offered (the legs share it, even if this stream was
    /// transcoded: RFC 3264 §8.3.2); else one codec of the offer
    /// switchboard transcodes, this leg's current one while the offer
    /// lists it (the stream is transcoded).
    fn answer_codecs(
        &mut self,
        index: usize,
        media: &mut Media,
        offered: &Media,
    ) -> Result<(), RewriteError> {
        if codecs::answer_is_offered(offered, media) {
            codecs::drop_unoffered(media, offered);
            codecs::number_like(media, offered);
            self.set_transcoded(index, false);
            return Ok(());
        }
        let current = self
            .agreed_at(index)
            .filter(|_| self.is_transcoded(index))
            .map(|agreed| agreed.voice().clone());
        let formats = codecs::answer_formats(offered, current.as_ref())
            .ok_or(RewriteError::NoCommonCodec { stream: index })?;
        codecs::set_formats(media, &formats);
        self.set_transcoded(index, true);
        Ok(())
    }

    /// The streams as the media plane needs them: our anchors and keys,
    /// the peer's addresses and keys.
    pub(crate) fn streams(&self) -> Vec<StreamMedia> {
        match self.received() {
            Some(received) => self.streams_of(&received),
            None => Vec::new(),
        }
    }

    /// [`LegSdp::streams`] when the peer's description is at hand
    /// (parsed already: saves parsing it again).
    pub(crate) fn streams_of(&self, received: &Session) -> Vec<StreamMedia> {
        received
            .media
            .iter()
            .enumerate()
            .filter_map(|(index, media)| {
                let local = (*self.anchors.get(index)?)?;
                let remote = received
                    .connection_of(media)
                    .filter(|c| !c.is_unspecified())
                    .and_then(|c| c.ip())
                    .filter(|_| !media.is_rejected())
                    .map(|ip| SocketAddr::new(ip, media.port));
                let srtp = self.keys.get(index).and_then(Option::as_ref).map(|key| {
                    let remote_key_salt = media
                        .cryptos()
                        .find(|c| c.suite == key.suite)
                        .and_then(|c| c.keys.first().map(|k| k.key_salt.clone()));
                    SrtpKeys {
                        suite: key.suite.clone(),
                        local_key_salt: key.key_salt.clone(),
                        remote_key_salt,
                    }
                });
                let remote_rtcp = remote.map(|rtp| rtcp_destination(received, media, rtp));
                // The codec both sides use: what the last exchange
                // settled on; before any, the peer's first that our
                // description also lists.
                let codec = match self.agreed_at(index) {
                    Some(agreed) => Some(agreed.codec()),
                    None => {
                        let sent = self.sent();
                        stream_codec(media, sent.as_ref().and_then(|s| s.media.get(index)))
                    }
                };
                Some(StreamMedia {
                    stream: index,
                    local,
                    remote,
                    remote_rtcp,
                    codec,
                    srtp,
                    direction: received.direction_of(media),
                    // The B2BUA knows the leg's peer: `update_media`.
                    dtmf: DtmfMode::default(),
                })
            })
            .collect()
    }
}

/// The first voice codec of the peer's `media` that `ours` also lists
/// (any, without ours), and the telephone-event payload type.
fn stream_codec(media: &Media, ours: Option<&Media>) -> Option<StreamCodec> {
    let telephone_event = media.telephone_events().next().map(|t| t.payload_type);
    let shared = |pt: &u8| ours.is_none_or(|ours| ours.payload_types().any(|o| o == *pt));
    let payload_type = media
        .payload_types()
        .find(|pt| Some(*pt) != telephone_event && shared(pt))?;
    let rtpmap = media.codec(payload_type)?;
    Some(StreamCodec {
        payload_type,
        encoding: rtpmap.encoding,
        clock_rate: rtpmap.clock_rate,
        telephone_event,
    })
}

/// Where the peer of `media` wants RTCP, given where it wants RTP.
fn rtcp_destination(session: &Session, media: &Media, rtp: SocketAddr) -> SocketAddr {
    if media.rtcp_mux() {
        return rtp;
    }
    match media.rtcp() {
        Some(rtcp) => {
            let ip = rtcp
                .connection
                .and_then(|c| c.ip())
                .or_else(|| session.connection_of(media).and_then(|c| c.ip()))
                .unwrap_or(rtp.ip());
            SocketAddr::new(ip, rtcp.port)
        }
        None => SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1)),
    }
}

fn is_transport_attribute(attribute: &Attribute) -> bool {
    TRANSPORT_ATTRIBUTES.iter().any(|name| attribute.is(name))
}

/// A description we stored: we wrote it, or it parsed when it arrived.
fn parse_kept(text: Option<&Bytes>) -> Option<Session> {
    Session::parse(text?).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    const CARRIER_OFFER: &str = "v=0\r\no=carrier 123 456 IN IP4 192.0.2.10\r\ns=Carrier\r\n\
        c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 8 18 101\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtcp:30001\r\na=sendrecv\r\n";

    const TEAMS_OFFER: &str = "v=0\r\no=- 77 0 IN IP4 52.114.1.1\r\ns=session\r\n\
        c=IN IP4 52.114.1.1\r\nt=0 0\r\nm=audio 50000 RTP/SAVP 104 9 0 8 101\r\n\
        a=candidate:1 1 UDP 2130706431 52.114.1.1 50000 typ host\r\n\
        a=ice-ufrag:abcd\r\na=ice-pwd:efghijklmnopqrstuvwxyz12\r\n\
        a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\n\
        a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\n\
        a=rtcp-mux\r\na=rtpmap:104 SILK/16000\r\na=rtpmap:9 G722/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\n";

    fn anchor(ip: &str, port: u16) -> impl FnMut(usize, bool) -> Result<SocketAddr, MediaError> {
        let ip: IpAddr = ip.parse().unwrap();
        move |i, _| Ok(SocketAddr::new(ip, port + 2 * i as u16))
    }

    fn counter() -> impl FnMut(&mut [u8]) {
        let mut n = 0u8;
        move |buf: &mut [u8]| {
            for b in buf {
                n = n.wrapping_add(1);
                *b = n;
            }
        }
    }

    /// Records the rtcp-mux hint of each allocation.
    fn recording_anchor(
        seen: &mut Vec<bool>,
    ) -> impl FnMut(usize, bool) -> Result<SocketAddr, MediaError> + '_ {
        move |i, mux| {
            seen.push(mux);
            Ok(SocketAddr::new(
                [198, 51, 100, 2].into(),
                40000 + 2 * i as u16,
            ))
        }
    }

    #[test]
    fn only_streams_whose_sdp_muxes_rtcp_are_anchored_on_one_port() {
        let carrier = Session::parse(CARRIER_OFFER.as_bytes()).unwrap();
        let teams_offer = Session::parse(TEAMS_OFFER.as_bytes()).unwrap();
        let mut seen = Vec::new();
        // Our SRTP offer to Teams asks for rtcp-mux.
        LegSdp::new(true, vec![], 1)
            .write(
                &carrier,
                SdpRole::Offer,
                &mut recording_anchor(&mut seen),
                &mut counter(),
            )
            .unwrap();
        // A plain offer to a carrier: its answer decides, keep a pair.
        LegSdp::new(false, vec![], 2)
            .write(
                &teams_offer,
                SdpRole::Offer,
                &mut recording_anchor(&mut seen),
                &mut counter(),
            )
            .unwrap();
        // Answers follow the offer: the carrier's has no rtcp-mux,
        // Teams' has.
        let mut carrier_leg = LegSdp::new(false, vec![], 3);
        carrier_leg.receive(CARRIER_OFFER.as_bytes()).unwrap();
        carrier_leg
            .write(
                &teams_offer,
                SdpRole::Answer,
                &mut recording_anchor(&mut seen),
                &mut counter(),
            )
            .unwrap();
        let mut teams_leg = LegSdp::new(true, vec![], 4);
        teams_leg.receive(TEAMS_OFFER.as_bytes()).unwrap();
        teams_leg
            .write(
                &carrier,
                SdpRole::Answer,
                &mut recording_anchor(&mut seen),
                &mut counter(),
            )
            .unwrap();
        assert_eq!(seen, [true, false, false, true]);
    }

    #[test]
    fn the_stream_codec_is_the_peers_first_that_both_list() {
        let carrier = Session::parse(CARRIER_OFFER.as_bytes()).unwrap();
        let offer = &carrier.media[0];
        let codec = stream_codec(offer, None).unwrap();
        assert_eq!((codec.payload_type, codec.encoding.as_str()), (0, "PCMU"));
        assert_eq!(codec.telephone_event, Some(101));
        // We answered with PCMA only: PCMA is what flows.
        let ours = CARRIER_OFFER.replace("RTP/AVP 0 8 18 101", "RTP/AVP 8 101");
        let ours = Session::parse(ours.as_bytes()).unwrap();
        let codec = stream_codec(offer, Some(&ours.media[0])).unwrap();
        assert_eq!(
            (
                codec.payload_type,
                codec.encoding.as_str(),
                codec.clock_rate
            ),
            (8, "PCMA", 8000)
        );
        // Only telephone-event in common: no voice codec.
        let events = CARRIER_OFFER.replace("RTP/AVP 0 8 18 101", "RTP/AVP 101");
        let events = Session::parse(events.as_bytes()).unwrap();
        assert_eq!(stream_codec(offer, Some(&events.media[0])), None);
    }

    #[test]
    fn carrier_offer_towards_teams_is_srtp_on_our_address() {
        let carrier = Session::parse(CARRIER_OFFER.as_bytes()).unwrap();
        let mut teams = LegSdp::new(true, vec![], 99);
        let out = teams
            .write(
                &carrier,
                SdpRole::Offer,
                &mut anchor("198.51.100.2", 40000),
                &mut counter(),
            )
            .unwrap();
        let text = out.to_string();
        assert!(text.contains("c=IN IP4 198.51.100.2\r\n"), "{text}");
        assert!(
            text.contains("m=audio 40000 RTP/SAVP 0 8 18 101\r\n"),
            "{text}"
        );
        assert!(
            text.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"),
            "{text}"
        );
        assert!(text.contains("a=rtcp-mux\r\n"));
        assert!(!text.contains("192.0.2.10"), "{text}");
        assert!(!text.contains("a=rtcp:"), "{text}");
        assert!(
            text.starts_with("v=0\r\no=- 24 1 IN IP4 198.51.100.2\r\ns=-\r\n"),
            "{text}"
        );
        // The same offer again: same o= version, same key.
        let again = teams
            .write(
                &carrier,
                SdpRole::Offer,
                &mut anchor("198.51.100.2", 40000),
                &mut counter(),
            )
            .unwrap();
        assert_eq!(again.to_string(), text);
    }

    #[test]
    fn teams_offer_towards_carrier_is_plain_rtp_with_trunk_codecs() {
        let teams_offer = Session::parse(TEAMS_OFFER.as_bytes()).unwrap();
        let codecs = vec!["PCMU".into(), "PCMA".into(), "telephone-event".into()];
        let mut carrier = LegSdp::new(false, codecs, 5);
        let out = carrier
            .write(
                &teams_offer,
                SdpRole::Offer,
                &mut anchor("203.0.113.2", 41000),
                &mut counter(),
            )
            .unwrap();
        let text = out.to_string();
        assert!(text.contains("m=audio 41000 RTP/AVP 0 8 101\r\n"), "{text}");
        for gone in ["crypto", "candidate", "ice-", "SILK", "52.114.1.1"] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
    }

    #[test]
    fn answer_towards_teams_echoes_the_crypto_tag_and_holds_with_inactive() {
        let mut teams = LegSdp::new(true, vec![], 1);
        teams.receive(TEAMS_OFFER.as_bytes()).unwrap();
        let carrier_answer = Session::parse(
            b"v=0\r\no=c 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
              m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n",
        )
        .unwrap();
        let out = teams
            .write(
                &carrier_answer,
                SdpRole::Answer,
                &mut anchor("198.51.100.2", 40000),
                &mut counter(),
            )
            .unwrap();
        let text = out.to_string();
        assert!(text.contains("m=audio 40000 RTP/SAVP 0 101\r\n"), "{text}");
        assert!(
            text.contains("a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:"),
            "{text}"
        );
        assert!(text.contains("a=inactive\r\n"), "{text}");
        assert!(!text.contains("sendonly"));
        let streams = teams.streams();
        assert_eq!(streams.len(), 1);
        assert_eq!(streams[0].remote, Some("52.114.1.1:50000".parse().unwrap()));
        let srtp = streams[0].srtp.as_ref().unwrap();
        assert_eq!(srtp.remote_key_salt.as_ref().unwrap().len(), 30);
        assert_eq!(srtp.local_key_salt.len(), 30);
    }

    #[test]
    fn a_refused_offer_is_undone_but_versions_the_next_description() {
        let teams_offer = Session::parse(TEAMS_OFFER.as_bytes()).unwrap();
        let held = TEAMS_OFFER.replace("a=rtcp-mux\r\n", "a=rtcp-mux\r\na=sendonly\r\n");
        let held = Session::parse(held.as_bytes()).unwrap();
        let mut carrier = LegSdp::new(false, vec![], 1);
        let write = |leg: &mut LegSdp, source: &Session| {
            leg.write(
                source,
                SdpRole::Offer,
                &mut anchor("203.0.113.2", 41000),
                &mut counter(),
            )
            .unwrap()
        };
        let first = write(&mut carrier, &teams_offer);
        let before = carrier.local_description();
        let refused = write(&mut carrier, &held);
        assert_eq!(
            refused.origin.session_version,
            first.origin.session_version + 1
        );
        carrier.offer_refused(before.clone());
        assert_eq!(carrier.sent().unwrap().to_string(), first.to_string());
        // Sent again: the content in force, one version above the
        // refused offer (the previous SDP), and kept from then on.
        let again = Session::parse(&carrier.sent_again().unwrap()).unwrap();
        assert_eq!(
            again.origin.session_version,
            refused.origin.session_version + 1
        );
        assert!(again.same_content(&first));
        assert_eq!(carrier.sent_again().unwrap(), again.to_bytes());
        // After another refusal, the refused offer retried is identical
        // to the last one provided: the same version.
        let mut carrier = LegSdp::new(false, vec![], 1);
        write(&mut carrier, &teams_offer);
        write(&mut carrier, &held);
        let refused_again = carrier.offer_refused(before);
        carrier.retry_offer(refused_again);
        let retried = Session::parse(&carrier.sent_again().unwrap()).unwrap();
        assert_eq!(retried.to_string(), refused.to_string());
    }

    #[test]
    fn rfc2543_hold_becomes_inactive_and_versions_move_on_change() {
        let mut carrier = LegSdp::new(false, vec![], 1);
        let teams_offer = Session::parse(TEAMS_OFFER.as_bytes()).unwrap();
        let first = carrier
            .write(
                &teams_offer,
                SdpRole::Offer,
                &mut anchor("203.0.113.2", 41000),
                &mut counter(),
            )
            .unwrap();
        let held = TEAMS_OFFER.replace("c=IN IP4 52.114.1.1", "c=IN IP4 0.0.0.0");
        let held = Session::parse(held.as_bytes()).unwrap();
        let second = carrier
            .write(
                &held,
                SdpRole::Offer,
                &mut anchor("203.0.113.2", 41000),
                &mut counter(),
            )
            .unwrap();
        assert!(second.to_string().contains("a=inactive\r\n"));
        assert!(second.to_string().contains("c=IN IP4 203.0.113.2"));
        assert_eq!(
            second.origin.session_version,
            first.origin.session_version + 1
        );
    }
}
