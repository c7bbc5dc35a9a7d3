//! Reading the outcome of a completed offer/answer exchange, for the media
//! layer (RFC 3264 §6 and §7; RFC 4568 §7.1.3 for crypto).

use crate::{Connection, Crypto, Direction, Fmtp, Media, NegotiationError, Rtcp, Rtpmap, Session};

use super::answer::uses_sdes;

/// One accepted stream after offer and answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedStream {
    /// Index of the `m=` line.
    pub index: usize,
    /// Media type, e.g. `audio`.
    pub kind: String,
    /// Transport, e.g. `RTP/SAVP`.
    pub proto: String,
    /// The codec in use: the answer's first codec that is neither comfort
    /// noise nor telephone-event (telephone-event itself for a stream that
    /// carries only events, as in RFC 4317 §2.4).
    pub codec: Rtpmap,
    /// Whether both sides put `a=rtcp-mux`.
    pub rtcp_mux: bool,
    /// What the offerer described.
    pub offerer: StreamSide,
    /// What the answerer described.
    pub answerer: StreamSide,
}

/// One side's description of a negotiated stream: where it receives, with
/// which numbers and keys. Media sent *to* a side uses that side's payload
/// type numbers and is protected with the *sender's* key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSide {
    /// Address this side receives on (media-level `c=` or session-level).
    pub connection: Option<Connection>,
    /// Port this side receives on.
    pub port: u16,
    /// Direction from this side's point of view.
    pub direction: Direction,
    /// Payload type this side listed for the codec.
    pub payload_type: u8,
    /// This side's `a=fmtp` for the codec.
    pub fmtp: Option<Fmtp>,
    /// This side's telephone-event payload type, set only when both sides
    /// listed telephone-event.
    pub telephone_event: Option<u8>,
    /// This side's `a=crypto` (the answered one and the offered line with
    /// the same tag).
    pub crypto: Option<Crypto>,
    /// This side's `a=rtcp`.
    pub rtcp: Option<Rtcp>,
    /// This side's `a=ptime`.
    pub ptime: Option<u32>,
}

impl NegotiatedStream {
    /// Whether media flows from offerer to answerer.
    pub fn offerer_sends(&self) -> bool {
        self.offerer.direction.sends() && self.answerer.direction.receives()
    }

    /// Whether media flows from answerer to offerer.
    pub fn answerer_sends(&self) -> bool {
        self.answerer.direction.sends() && self.offerer.direction.receives()
    }
}

/// The result of an offer/answer exchange, index-aligned with the `m=`
/// lines; `None` for a stream the answer rejected (port 0).
pub fn negotiated(
    offer: &Session,
    answer: &Session,
) -> Result<Vec<Option<NegotiatedStream>>, NegotiationError> {
    if offer.media.len() != answer.media.len() {
        return Err(NegotiationError::MediaCountMismatch {
            offer: offer.media.len(),
            answer: answer.media.len(),
        });
    }
    offer
        .media
        .iter()
        .zip(&answer.media)
        .enumerate()
        .map(|(index, (o, a))| {
            if a.is_rejected() || o.is_rejected() {
                Ok(None)
            } else {
                stream(index, offer, o, answer, a).map(Some)
            }
        })
        .collect()
}

fn stream(
    index: usize,
    offer: &Session,
    o: &Media,
    answer: &Session,
    a: &Media,
) -> Result<NegotiatedStream, NegotiationError> {
    if o.kind != a.kind || !o.proto.eq_ignore_ascii_case(&a.proto) {
        return Err(NegotiationError::MediaMismatch { index });
    }
    let no_codec = NegotiationError::NoCommonCodec { index };
    let answered: Vec<Rtpmap> = a.payload_types().filter_map(|pt| a.codec(pt)).collect();
    let codec = answered
        .iter()
        .find(|r| !r.is_telephone_event() && !r.is_comfort_noise())
        .or_else(|| answered.iter().find(|r| r.is_telephone_event()))
        .cloned()
        .ok_or(no_codec.clone())?;
    // §6.1: the answer should reuse the offer's number, but match by codec
    // in case it did not.
    let offered_codec = o
        .codec(codec.payload_type)
        .filter(|r| o.payload_types().any(|pt| pt == r.payload_type) && r.same_codec(&codec))
        .or_else(|| {
            o.payload_types()
                .filter_map(|pt| o.codec(pt))
                .find(|r| r.same_codec(&codec))
        })
        .ok_or(no_codec)?;

    let answer_event = pick_event(a, codec.clock_rate);
    let offer_event = answer_event.as_ref().and_then(|ae| {
        o.telephone_events()
            .find(|oe| oe.clock_rate == ae.clock_rate)
    });
    let (offer_event, answer_event) = match (offer_event, answer_event) {
        (Some(oe), Some(ae)) => (Some(oe.payload_type), Some(ae.payload_type)),
        _ => (None, None),
    };

    let answer_crypto = a.cryptos().next();
    let offer_crypto = match &answer_crypto {
        Some(ac) => Some(
            o.cryptos()
                .find(|oc| oc.tag == ac.tag && oc.suite == ac.suite)
                .ok_or(NegotiationError::CryptoMismatch { index })?,
        ),
        None if uses_sdes(&a.proto) && o.cryptos().next().is_some() => {
            return Err(NegotiationError::MissingCrypto { index })
        }
        None => None,
    };

    Ok(NegotiatedStream {
        index,
        kind: a.kind.clone(),
        proto: a.proto.clone(),
        rtcp_mux: o.rtcp_mux() && a.rtcp_mux(),
        offerer: StreamSide {
            connection: offer.connection_of(o).cloned(),
            port: o.port,
            direction: offer.direction_of(o),
            payload_type: offered_codec.payload_type,
            fmtp: o.fmtp(offered_codec.payload_type),
            telephone_event: offer_event,
            crypto: offer_crypto,
            rtcp: o.rtcp(),
            ptime: o.ptime(),
        },
        answerer: StreamSide {
            connection: answer.connection_of(a).cloned(),
            port: a.port,
            direction: answer.direction_of(a),
            payload_type: codec.payload_type,
            fmtp: a.fmtp(codec.payload_type),
            telephone_event: answer_event,
            crypto: answer_crypto,
            rtcp: a.rtcp(),
            ptime: a.ptime(),
        },
        codec,
    })
}

/// The telephone-event at `clock_rate`, else the first one.
fn pick_event(media: &Media, clock_rate: u32) -> Option<Rtpmap> {
    let events: Vec<Rtpmap> = media.telephone_events().collect();
    events
        .iter()
        .find(|r| r.clock_rate == clock_rate)
        .or(events.first())
        .cloned()
}
