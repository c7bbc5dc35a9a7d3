//! Generating the answer (RFC 3264 §6, RFC 4568 §7.1.2 for SDES,
//! RFC 4733 §7.1.1 for telephone-event).

use crate::grammar::is_rtp_proto;
use crate::rtpmap::format_events;
use crate::{
    Attribute, Connection, Crypto, Direction, Fmtp, Media, NegotiationError, Rtpmap, Session,
    Timing,
};

use super::capabilities::{Capabilities, Codec};

/// Events answered for telephone-event: DTMF 0-9, *, #, A-D and flash.
const SUPPORTED_EVENTS: std::ops::RangeInclusive<u8> = 0..=16;

/// Answers an offer (RFC 3264 §6).
///
/// The answer has one `m=` line per offered one, in the same order. An
/// accepted stream lists the common codecs in the **offerer's** order with
/// the offerer's payload type numbers, telephone-event when both sides
/// support it, the direction allowed by the offer and
/// [`Capabilities::direction`], `a=rtcp-mux` when offered and enabled, and
/// for SDES-SRTP one `a=crypto` answering the first offered line whose
/// suite has a local key. A stream with no common codec, an unsupported
/// media type or transport, or no usable crypto is rejected with port 0 and
/// the offered format list (§6).
///
/// Fails with [`NegotiationError::NoAcceptableMedia`] when every stream is
/// rejected (answer 488 instead), and with
/// [`NegotiationError::MissingPort`] when an accepted stream has no entry
/// in [`Capabilities::ports`].
pub fn answer(offer: &Session, caps: &Capabilities) -> Result<Session, NegotiationError> {
    let mut answer = Session::new(caps.origin.clone());
    answer.connection = Some(Connection::new(caps.address));
    // §6: the t= line of the answer equals the offer's.
    answer.timings = if offer.timings.is_empty() {
        vec![Timing::default()]
    } else {
        offer.timings.clone()
    };
    let mut accepted = 0usize;
    for (index, offered) in offer.media.iter().enumerate() {
        match answer_stream(offer, offered, caps) {
            Some(mut media) => {
                media.port = *caps
                    .ports
                    .get(index)
                    .ok_or(NegotiationError::MissingPort { index })?;
                accepted += 1;
                answer.media.push(media);
            }
            None => answer.media.push(rejected(offered)),
        }
    }
    if accepted == 0 {
        return Err(NegotiationError::NoAcceptableMedia);
    }
    Ok(answer)
}

/// A rejected stream: port 0, the offered formats (RFC 3264 §6).
fn rejected(offered: &Media) -> Media {
    Media::new(
        offered.kind.clone(),
        0,
        offered.proto.clone(),
        offered.formats.iter().cloned(),
    )
}

/// Whether the transport is SDES-keyed SRTP (`RTP/SAVP`, `RTP/SAVPF`), as
/// opposed to DTLS-SRTP (`UDP/TLS/RTP/SAVP...`) or plain RTP.
pub(crate) fn uses_sdes(proto: &str) -> bool {
    let upper = proto.to_ascii_uppercase();
    upper.starts_with("RTP/SAVP")
}

/// The answered stream, or `None` to reject it. The port is set by the
/// caller.
fn answer_stream(offer: &Session, offered: &Media, caps: &Capabilities) -> Option<Media> {
    if offered.is_rejected() || !is_rtp_proto(&offered.proto) {
        return None;
    }
    if !caps
        .protos
        .iter()
        .any(|p| p.eq_ignore_ascii_case(&offered.proto))
    {
        return None;
    }
    let local_codecs: &[Codec] = match offered.kind.as_str() {
        "audio" => &caps.audio,
        "video" => &caps.video,
        _ => return None,
    };
    let crypto = if uses_sdes(&offered.proto) {
        Some(answer_crypto(offered, caps)?)
    } else {
        None
    };

    // Common codecs in the offerer's order, with the offerer's numbers.
    let mut codecs: Vec<(Rtpmap, Option<String>)> = Vec::new();
    for pt in offered.payload_types() {
        let Some(rtpmap) = offered.codec(pt) else {
            continue;
        };
        if rtpmap.is_telephone_event() || codecs.iter().any(|(r, _)| r.payload_type == pt) {
            continue;
        }
        if let Some(local) = local_codecs.iter().find(|c| c.matches(&rtpmap)) {
            let fmtp = local
                .fmtp
                .clone()
                .or_else(|| offered.fmtp(pt).map(|f| f.params));
            codecs.push((rtpmap, fmtp));
        }
    }
    let main = codecs
        .iter()
        .find(|(r, _)| !r.is_comfort_noise())
        .map(|(r, _)| r.clone());
    let clock_rate = match &main {
        Some(main) => main.clock_rate,
        // A stream that carries only telephone-event (RFC 4317 §2.4).
        None if caps.telephone_event && only_telephone_event(offered) => {
            codecs.clear();
            offered.telephone_events().next()?.clock_rate
        }
        None => return None,
    };
    if let (Some(main), true) = (&main, caps.single_codec) {
        codecs.retain(|(r, _)| {
            r.payload_type == main.payload_type
                || (r.is_comfort_noise() && r.clock_rate == main.clock_rate)
        });
    }
    match answer_telephone_event(offered, clock_rate) {
        Some(event) if caps.telephone_event => codecs.push(event),
        _ if main.is_none() => return None,
        _ => {}
    }

    let mut media = Media::new(
        offered.kind.clone(),
        0,
        offered.proto.clone(),
        Vec::<String>::new(),
    );
    // Formats in offer order; `codecs` holds each at most once.
    for pt in offered.payload_types() {
        if codecs.iter().any(|(r, _)| r.payload_type == pt)
            && !media.formats.contains(&pt.to_string())
        {
            media.formats.push(pt.to_string());
        }
    }
    for pt in media.payload_types().collect::<Vec<_>>() {
        if let Some((rtpmap, fmtp)) = codecs.iter().find(|(r, _)| r.payload_type == pt) {
            media.attributes.push(Attribute::from(rtpmap));
            if let Some(params) = fmtp {
                media
                    .attributes
                    .push(Attribute::from(&Fmtp::new(pt, params.clone())));
            }
        }
    }
    if caps.rtcp_mux && offered.rtcp_mux() {
        media.attributes.push(Attribute::flag("rtcp-mux"));
    }
    if let Some(crypto) = &crypto {
        media.add_crypto(crypto);
    }
    let direction = Direction::answer(offer.direction_of(offered), caps.direction);
    media.attributes.push(direction.into());
    Some(media)
}

/// Whether every offered format is telephone-event.
fn only_telephone_event(offered: &Media) -> bool {
    offered
        .payload_types()
        .all(|pt| offered.codec(pt).is_some_and(|r| r.is_telephone_event()))
}

/// RFC 4568 §7.1.2: accept the first offered line (offerer's preference)
/// whose suite has a local key, echo its tag, send our own key. Lines with
/// session parameters that change the protection (unencrypted or
/// unauthenticated SRTP) are declined.
fn answer_crypto(offered: &Media, caps: &Capabilities) -> Option<Crypto> {
    offered.cryptos().find_map(|line| {
        let weakened = line.session_params.iter().any(|p| {
            matches!(
                p.as_str(),
                "UNENCRYPTED_SRTP" | "UNENCRYPTED_SRTCP" | "UNAUTHENTICATED_SRTP"
            )
        });
        if weakened {
            return None;
        }
        caps.srtp_keys
            .iter()
            .find(|key| key.suite == line.suite)
            .map(|key| Crypto::new(line.tag, line.suite.clone(), key.key_salt.clone()))
    })
}

/// Picks the offered telephone-event at the main codec's clock rate (else
/// the first) and answers the events both sides support; the RFC 4733
/// default list is 0-15.
fn answer_telephone_event(offered: &Media, clock_rate: u32) -> Option<(Rtpmap, Option<String>)> {
    let events: Vec<Rtpmap> = offered.telephone_events().collect();
    let rtpmap = events
        .iter()
        .find(|r| r.clock_rate == clock_rate)
        .or(events.first())?
        .clone();
    let offered_events = offered
        .fmtp(rtpmap.payload_type)
        .and_then(|f| f.events())
        .unwrap_or_else(|| vec![0..=15]);
    let mut set = [false; 256];
    for range in offered_events {
        for event in range {
            set[usize::from(event)] = SUPPORTED_EVENTS.contains(&event);
        }
    }
    let list = format_events(&set);
    if list.is_empty() {
        return None;
    }
    Some((rtpmap, Some(list)))
}
