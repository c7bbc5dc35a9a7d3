//! The SDP of the emulated media processor: the checks Direct Routing
//! makes on an offer (SRTP with SDES keys is mandatory, RFC 4568), the
//! answer (RFC 3264 §6: `RTP/SAVP`, its own `a=crypto`, `a=rtcp-mux`
//! when offered, telephone-event), offers for calls from Teams, and hold
//! (Teams understands only `a=inactive`, RFC 3264 §8.4).

use std::net::IpAddr;

use sdp::offer_answer::{self, Capabilities, Codec, SrtpKey};
use sdp::{Attribute, Connection, Crypto, Direction, Fmtp, Media, Origin, Rtpmap, Session};
use sip::Request;

use super::event::RejectReason;

/// The SDES suites Teams offers and accepts.
pub(crate) const SUITES: [&str; 2] = ["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"];

/// Master key (16) + master salt (14) of the suites above.
pub(crate) const KEY_SALT_LEN: usize = 30;

/// The media side of one call: our address, port, SDES key and the last
/// description we sent.
#[derive(Debug, Clone)]
pub(crate) struct MediaSession {
    pub(crate) address: IpAddr,
    pub(crate) port: u16,
    pub(crate) key_salt: Vec<u8>,
    pub(crate) session_id: u64,
    /// The last SDP we sent (offer or answer).
    pub(crate) local: Option<Session>,
    /// The last SDP the SBC sent (offer or answer).
    pub(crate) remote: Option<Session>,
}

/// What the emulated media processor needs to send and receive a call's
/// audio: the first audio stream as negotiated.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaPlan {
    /// Our address and port (in our SDP).
    pub local: std::net::SocketAddr,
    /// Where the SBC receives (its SDP); replies go to where its packets
    /// come from once they do (symmetric RTP).
    pub remote: std::net::SocketAddr,
    /// The SDES suite both sides use.
    pub suite: String,
    /// Our master key and salt: we protect with it.
    pub local_key_salt: Vec<u8>,
    /// The SBC's: we unprotect with it.
    pub remote_key_salt: Vec<u8>,
    /// The payload type of `telephone-event` (RFC 4733) in our
    /// description, if negotiated: key presses the SBC sends.
    pub telephone_event: Option<u8>,
    /// Its clock rate (the unit of its duration field).
    pub telephone_event_rate: u32,
}

impl std::fmt::Debug for MediaPlan {
    /// Leaves the keys out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaPlan")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("suite", &self.suite)
            .field("telephone_event", &self.telephone_event)
            .finish_non_exhaustive()
    }
}

/// The SDP offer of an INVITE, if it is one Direct Routing accepts.
///
/// Microsoft's Direct Routing SIP page requires the INVITE to carry the
/// offer (no delayed offer) but documents no status for a missing one;
/// vendor guides (AudioCodes, Ribbon "Teams Direct Routing" guides) report
/// the call failing at media negotiation, and RFC 3261 §21.4.26 names 488
/// Not Acceptable Here for a session description that cannot be accepted:
/// the emulator answers 488 (see [`RejectReason::NoSdpOffer`]).
pub(crate) fn check_offer(request: &Request) -> Result<Session, RejectReason> {
    if request.body.is_empty() {
        return Err(RejectReason::NoSdpOffer);
    }
    let is_sdp = matches!(
        request.headers.content_type(),
        Ok(Some(media_type)) if media_type.is("application", "sdp")
    );
    if !is_sdp {
        return Err(RejectReason::NoSdpOffer);
    }
    let offer = Session::parse(&request.body).map_err(|_| RejectReason::BadSdp)?;
    let srtp_audio = offer.media.iter().any(|media| {
        media.kind == "audio"
            && !media.is_rejected()
            && media.proto.eq_ignore_ascii_case("RTP/SAVP")
            && media.cryptos().any(|crypto| usable(&crypto))
    });
    if srtp_audio {
        Ok(offer)
    } else {
        Err(RejectReason::NoSrtpCrypto)
    }
}

/// A crypto line with a suite Teams supports and no MKI.
fn usable(crypto: &Crypto) -> bool {
    SUITES.contains(&crypto.suite.as_str())
        && crypto.keys.len() == 1
        && crypto.keys.iter().all(|key| key.mki.is_none())
}

impl MediaSession {
    pub(crate) fn new(address: IpAddr, port: u16, key_salt: Vec<u8>, session_id: u64) -> Self {
        MediaSession {
            address,
            port,
            key_salt,
            session_id,
            local: None,
            remote: None,
        }
    }

    /// The negotiated first audio stream, once both descriptions are
    /// known and agree on an SDES suite.
    pub(crate) fn plan(&self) -> Option<MediaPlan> {
        let (local, remote) = (self.local.as_ref()?, self.remote.as_ref()?);
        let audio = |session: &Session| {
            session
                .media
                .iter()
                .find(|m| m.kind == "audio" && !m.is_rejected())
                .cloned()
        };
        let (ours, theirs) = (audio(local)?, audio(remote)?);
        let ip = remote.connection_of(&theirs)?.ip()?;
        let (suite, remote_key_salt) = theirs.cryptos().find_map(|crypto| {
            let shared = ours.cryptos().any(|c| c.suite == crypto.suite);
            let key = crypto.keys.first()?.key_salt.clone();
            (shared && usable(&crypto)).then_some((crypto.suite, key))
        })?;
        // Both sides agreed on it when both descriptions list it; the
        // SBC sends it with our number.
        let events = ours.telephone_events().next().filter(|ours| {
            theirs
                .telephone_events()
                .any(|theirs| theirs.clock_rate == ours.clock_rate)
        });
        Some(MediaPlan {
            local: std::net::SocketAddr::new(self.address, self.port),
            remote: std::net::SocketAddr::new(ip, theirs.port),
            suite,
            local_key_salt: self.key_salt.clone(),
            remote_key_salt,
            telephone_event: events.as_ref().map(|e| e.payload_type),
            telephone_event_rate: events.map_or(8000, |e| e.clock_rate),
        })
    }

    /// Our answer to `offer`; a later answer keeps the `o=` line and bumps
    /// its version (RFC 3264 §8).
    pub(crate) fn answer(&mut self, offer: &Session) -> Result<Session, RejectReason> {
        let mut caps = Capabilities::new(
            Origin::new(self.session_id, 1, self.address),
            self.address,
            vec![self.port; offer.media.len()],
        );
        caps.audio = codecs();
        caps.protos = vec!["RTP/SAVP".to_owned()];
        caps.srtp_keys = SUITES
            .iter()
            .map(|suite| SrtpKey {
                suite: (*suite).to_owned(),
                key_salt: self.key_salt.clone(),
            })
            .collect();
        let answer = offer_answer::answer(offer, &caps).map_err(|_| RejectReason::NoSrtpCrypto)?;
        let answer = match &self.local {
            Some(previous) => offer_answer::reoffer(previous, answer),
            None => answer,
        };
        self.local = Some(answer.clone());
        self.remote = Some(offer.clone());
        Ok(answer)
    }

    /// The offer of a call from Teams: `RTP/SAVP` with both SDES suites,
    /// SILK, G.722, G.711, telephone-event and CN, rtcp-mux.
    pub(crate) fn offer(&mut self) -> Session {
        let mut session = Session::new(Origin::new(self.session_id, 1, self.address));
        session.connection = Some(Connection::new(self.address));
        let rtpmaps = [
            Rtpmap::new(104, "SILK", 16000),
            Rtpmap::new(9, "G722", 8000),
            Rtpmap::new(0, "PCMU", 8000),
            Rtpmap::new(8, "PCMA", 8000),
            Rtpmap::new(13, "CN", 8000),
            Rtpmap::new(101, "telephone-event", 8000),
        ];
        let mut media = Media::new(
            "audio",
            self.port,
            "RTP/SAVP",
            rtpmaps.iter().map(|r| r.payload_type.to_string()),
        );
        for (tag, suite) in (1..).zip(SUITES) {
            media.add_crypto(&Crypto::new(tag, suite, self.key_salt.clone()));
        }
        for rtpmap in &rtpmaps {
            media.push_attribute(rtpmap);
        }
        media.push_attribute(&Fmtp::new(101, "0-16"));
        media.push_attribute(Attribute::flag("rtcp-mux"));
        media.push_attribute(Attribute::new("ptime", "20"));
        media.push_attribute(Direction::SendRecv);
        session.media.push(media);
        self.local = Some(session.clone());
        session
    }

    /// A re-offer of our last description with every stream `inactive`
    /// (hold) or `sendrecv` (resume), version bumped.
    pub(crate) fn reoffer(&mut self, on_hold: bool) -> Option<Session> {
        let previous = self.local.as_ref()?;
        let mut next = previous.clone();
        next.set_direction(None);
        let direction = if on_hold {
            Direction::Inactive
        } else {
            Direction::SendRecv
        };
        for media in next.media.iter_mut().filter(|m| !m.is_rejected()) {
            media.set_direction(direction);
        }
        let next = offer_answer::reoffer(previous, next);
        self.local = Some(next.clone());
        Some(next)
    }
}

/// Whether a description holds the call the way Teams understands it:
/// every active stream `a=inactive` (`c=0.0.0.0` is not understood).
pub(crate) fn is_inactive(session: &Session) -> bool {
    let mut active = session.media.iter().filter(|m| !m.is_rejected()).peekable();
    active.peek().is_some() && active.all(|m| session.direction_of(m) == Direction::Inactive)
}

/// The codecs of the media processor (Direct Routing: SILK, G.711, G.722,
/// G.729).
fn codecs() -> Vec<Codec> {
    vec![
        Codec::new("SILK", 16000),
        Codec::new("SILK", 8000),
        Codec::new("G722", 8000),
        Codec::new("PCMU", 8000),
        Codec::new("PCMA", 8000),
        Codec::new("G729", 8000),
        Codec::new("CN", 8000),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use sip::{Method, Uri};

    const OFFER: &str =
        "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 40000 RTP/SAVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtcp-mux\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\n";

    fn invite(body: &str, content_type: &str) -> Request {
        let mut builder = Request::builder(
            Method::Invite,
            Uri::parse("sip:+14255550100@sip.pstnhub.microsoft.com").unwrap(),
        );
        if !body.is_empty() {
            builder = builder.body(content_type.to_owned(), body.to_owned());
        }
        builder.build()
    }

    #[test]
    fn offers_need_sdes_srtp() {
        assert!(check_offer(&invite(OFFER, "application/sdp")).is_ok());
        assert_eq!(
            check_offer(&invite("", "application/sdp")).unwrap_err(),
            RejectReason::NoSdpOffer
        );
        assert_eq!(
            check_offer(&invite(OFFER, "text/plain")).unwrap_err(),
            RejectReason::NoSdpOffer
        );
        assert_eq!(
            check_offer(&invite("v=1\r\n", "application/sdp")).unwrap_err(),
            RejectReason::BadSdp
        );
        let plain = OFFER.replace("RTP/SAVP", "RTP/AVP");
        assert_eq!(
            check_offer(&invite(&plain, "application/sdp")).unwrap_err(),
            RejectReason::NoSrtpCrypto
        );
        let no_crypto: String = OFFER
            .lines()
            .filter(|l| !l.starts_with("a=crypto"))
            .map(|l| format!("{l}\r\n"))
            .collect();
        assert_eq!(
            check_offer(&invite(&no_crypto, "application/sdp")).unwrap_err(),
            RejectReason::NoSrtpCrypto
        );
    }

    #[test]
    fn answer_has_own_key_rtcp_mux_and_telephone_event() {
        let offer = Session::parse(OFFER.as_bytes()).unwrap();
        let mut media = MediaSession::new("127.0.0.1".parse().unwrap(), 50000, vec![7; 30], 42);
        let answer = media.answer(&offer).unwrap();
        let audio = &answer.media[0];
        assert_eq!(audio.proto, "RTP/SAVP");
        assert_eq!(audio.port, 50000);
        let crypto = audio.cryptos().next().unwrap();
        assert_eq!(crypto.suite, "AES_CM_128_HMAC_SHA1_80");
        assert_eq!(crypto.keys[0].key_salt, vec![7; 30]);
        assert!(audio.rtcp_mux());
        assert_eq!(audio.telephone_events().next().unwrap().payload_type, 101);
        // A second answer in the same session keeps the o= line (the
        // version moves only when the description changes).
        let again = media.answer(&offer).unwrap();
        assert_eq!(again.origin.session_id, answer.origin.session_id);
        assert_eq!(again.origin.session_version, answer.origin.session_version);
    }

    #[test]
    fn the_plan_pairs_our_key_with_the_sbcs_for_the_shared_suite() {
        let offer = Session::parse(OFFER.as_bytes()).unwrap();
        let mut media = MediaSession::new("127.0.0.1".parse().unwrap(), 50000, vec![7; 30], 42);
        assert_eq!(media.plan(), None, "nothing negotiated yet");
        media.answer(&offer).unwrap();
        let plan = media.plan().unwrap();
        assert_eq!(plan.local, "127.0.0.1:50000".parse().unwrap());
        assert_eq!(plan.remote, "192.0.2.10:40000".parse().unwrap());
        assert_eq!(plan.suite, "AES_CM_128_HMAC_SHA1_80");
        assert_eq!(plan.local_key_salt, vec![7; 30]);
        assert_eq!(plan.remote_key_salt, (0..30).collect::<Vec<u8>>());
        assert_eq!(
            (plan.telephone_event, plan.telephone_event_rate),
            (Some(101), 8000)
        );
        assert!(
            !format!("{plan:?}").contains("key_salt"),
            "keys stay out of logs"
        );

        // A call from Teams: our offer has both suites, the SBC's answer
        // picks the _32 one.
        let mut ours = MediaSession::new("127.0.0.1".parse().unwrap(), 50002, vec![1; 30], 9);
        ours.offer();
        assert_eq!(ours.plan(), None);
        let answer = OFFER.replace("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32");
        ours.remote = Some(Session::parse(answer.as_bytes()).unwrap());
        assert_eq!(ours.plan().unwrap().suite, "AES_CM_128_HMAC_SHA1_32");
    }

    #[test]
    fn offer_and_hold_reoffer() {
        let mut media = MediaSession::new("127.0.0.1".parse().unwrap(), 50002, vec![1; 30], 9);
        let offer = media.offer();
        let audio = &offer.media[0];
        assert_eq!(audio.cryptos().count(), 2);
        assert!(audio.rtcp_mux());
        assert!(!is_inactive(&offer));
        let hold = media.reoffer(true).unwrap();
        assert!(is_inactive(&hold));
        assert_eq!(
            hold.origin.session_version,
            offer.origin.session_version + 1
        );
        assert!(hold.to_string().contains("a=inactive\r\n"));
        let resume = media.reoffer(false).unwrap();
        assert!(!is_inactive(&resume));
        assert!(resume.to_string().contains("a=sendrecv\r\n"));
    }
}
