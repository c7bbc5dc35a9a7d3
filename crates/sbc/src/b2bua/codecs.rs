//! Which codecs each leg is offered and answered with, so that the legs
//! of a call share a codec whenever they can and switchboard's relay
//! transcodes only when they share none (RFC 3264 §5.1 and §6.1 for what
//! an offer and its answer may list, §8.3.2 for re-offers; RFC 3551 §6
//! static payload types; RFC 7587 §7 Opus; RFC 4733 §2.4 telephone-event;
//! RFC 3389 comfort noise).
//!
//! A leg's codec policy is a list of encoding names: a carrier trunk's
//! `codecs`, or [`TEAMS_CODECS`] towards Direct Routing.
//! - An offer towards a leg keeps the codecs its policy allows, in the
//!   offerer's order ([`keep_allowed`]).
//! - When that leaves no voice codec, the leg is offered its own list
//!   instead ([`own_formats`]: the policy's codecs switchboard transcodes,
//!   with static payload types 0/8/9/13 and dynamic ones for Opus and
//!   telephone-event) and the stream is transcoded. The answer to the
//!   offerer then names one codec of its offer that switchboard
//!   transcodes, with its telephone-event ([`answer_formats`]), a subset
//!   of the offer as RFC 3264 §6.1 requires. An offer with no codec
//!   switchboard transcodes passes unfiltered (the far end decides).
//! - Once transcoded, a stream stays so: each leg is re-offered the codec
//!   it agreed on and answered with it while its offers list it, even if
//!   the legs came to share a codec (RFC 3264 §8.3.2 allows a change; the
//!   relay keeps running without one).
//! - An offer towards a leg that takes DTMF only as RFC 4733 events,
//!   from one whose peer sends INFO or in-band tones, gets a
//!   telephone-event when it has none ([`add_event`]); the answer to the
//!   offerer leaves it out, as it never offered it, and so does an offer
//!   to it made from the answer to that offer (a transfer target's:
//!   [`drop_added_events`]).

use sdp::{Attribute, Fmtp, Media, Rtpmap};

use super::media::StreamCodec;

/// Encodings (with their RTP clock rates) the media plane decodes and
/// encodes: G.711 µ-law and A-law, G.722 and Opus.
const TRANSCODABLE: &[(&str, u32)] = &[
    ("PCMU", 8000),
    ("PCMA", 8000),
    ("G722", 8000),
    ("opus", 48000),
];

/// What Direct Routing's media processors accept (SILK, G.711, G.722,
/// G.729, telephone-event, comfort noise). Of these switchboard
/// transcodes G.722 and G.711, offered in this order (then comfort noise
/// and telephone-event) when Teams must be given its own list: the other
/// leg then offered Opus only, and wideband first keeps its quality.
pub(crate) const TEAMS_CODECS: &[&str] = &[
    "G722",
    "PCMU",
    "PCMA",
    "SILK",
    "G729",
    "CN",
    "telephone-event",
];

/// Dynamic payload types of our own offers.
const OPUS_PT: u8 = 111;
const EVENT_PT: u8 = 101;
const WIDEBAND_EVENT_PT: u8 = 110;

/// Events 0-15: the DTMF digits, `*`, `#` and A-D (RFC 4733 §3.2).
const EVENTS: &str = "0-15";

/// One payload format: its mapping and format parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Format {
    pub(crate) rtpmap: Rtpmap,
    pub(crate) fmtp: Option<String>,
}

impl Format {
    fn new(rtpmap: Rtpmap, fmtp: Option<&str>) -> Format {
        Format {
            rtpmap,
            fmtp: fmtp.map(str::to_owned),
        }
    }
}

/// What an offer/answer exchange with one leg's peer settled on for one
/// stream: the first voice codec of the answer (RFC 3264 §6.1), in the
/// leg's payload types, and the telephone-event at its clock rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Agreed {
    voice: Format,
    event: Option<Format>,
}

impl Agreed {
    /// The codec as the media plane is told it.
    pub(crate) fn codec(&self) -> StreamCodec {
        StreamCodec {
            payload_type: self.voice.rtpmap.payload_type,
            encoding: self.voice.rtpmap.encoding.clone(),
            clock_rate: self.voice.rtpmap.clock_rate,
            telephone_event: self.event.as_ref().map(|e| e.rtpmap.payload_type),
        }
    }

    /// The voice codec.
    pub(crate) fn voice(&self) -> &Rtpmap {
        &self.voice.rtpmap
    }

    /// The formats to re-offer to keep it.
    pub(crate) fn formats(&self) -> Vec<Format> {
        let mut formats = vec![self.voice.clone()];
        formats.extend(self.event.clone());
        formats
    }
}

/// Neither telephone-event nor comfort noise.
fn is_voice(codec: &Rtpmap) -> bool {
    !codec.is_telephone_event() && !codec.is_comfort_noise()
}

/// The same codec: encoding names compared case-insensitively (RFC 4855
/// §3) and equal clock rates. Channels are not compared: Opus is always
/// `/2` (RFC 7587 §7) and some peers leave that out.
pub(crate) fn same(a: &Rtpmap, b: &Rtpmap) -> bool {
    a.encoding.eq_ignore_ascii_case(&b.encoding) && a.clock_rate == b.clock_rate
}

/// Whether the media plane can decode and encode `codec`.
fn is_transcodable(codec: &Rtpmap) -> bool {
    TRANSCODABLE
        .iter()
        .any(|(name, rate)| codec.encoding.eq_ignore_ascii_case(name) && codec.clock_rate == *rate)
}

/// The codec of payload type `pt` in `media`, else in `fallback` (an
/// answer may leave out the `a=rtpmap` of a payload type it took from
/// the offer).
fn codec_of(media: &Media, fallback: Option<&Media>, pt: u8) -> Option<Rtpmap> {
    media
        .codec(pt)
        .or_else(|| fallback.and_then(|f| f.codec(pt)))
}

/// Whether `media` lists `codec`.
pub(crate) fn lists(media: &Media, codec: &Rtpmap) -> bool {
    media
        .payload_types()
        .any(|pt| media.codec(pt).is_some_and(|c| same(&c, codec)))
}

/// Whether `media` lists a voice codec the media plane transcodes.
pub(crate) fn has_transcodable_voice(media: &Media) -> bool {
    media
        .payload_types()
        .filter_map(|pt| media.codec(pt))
        .any(|c| is_voice(&c) && is_transcodable(&c))
}

/// The first voice payload type of `media` with its codec (`None` for a
/// payload type that names none); `None` when it lists no voice.
fn first_voice(media: &Media, fallback: Option<&Media>) -> Option<(u8, Option<Rtpmap>)> {
    media.payload_types().find_map(|pt| {
        let codec = codec_of(media, fallback, pt);
        match &codec {
            Some(c) if !is_voice(c) => None,
            _ => Some((pt, codec)),
        }
    })
}

/// Whether the codec `answer` would use (its first voice format) is one
/// `offer` listed (RFC 3264 §6.1). An answer without voice is not judged.
pub(crate) fn answer_is_offered(offer: &Media, answer: &Media) -> bool {
    match first_voice(answer, Some(offer)) {
        None => true,
        Some((_, Some(codec))) => lists(offer, &codec),
        Some((pt, None)) => offer.payload_types().any(|p| p == pt),
    }
}

/// Whether the codec `answer` (to `offer`) would use is `codec`.
pub(crate) fn answer_uses(answer: &Media, offer: &Media, codec: &Rtpmap) -> bool {
    matches!(first_voice(answer, Some(offer)), Some((_, Some(c))) if same(&c, codec))
}

/// What the exchange of `offer` and `answer` settled on; `None` for a
/// rejected stream or one without a named voice codec.
pub(crate) fn agree(offer: &Media, answer: &Media) -> Option<Agreed> {
    if answer.is_rejected() {
        return None;
    }
    let (pt, codec) = first_voice(answer, Some(offer))?;
    let voice = Format {
        rtpmap: codec?,
        fmtp: answer.fmtp(pt).or_else(|| offer.fmtp(pt)).map(|f| f.params),
    };
    let event = answer
        .payload_types()
        .filter_map(|pt| codec_of(answer, Some(offer), pt))
        .find(|e| {
            e.is_telephone_event() && e.clock_rate == voice.rtpmap.clock_rate && lists(offer, e)
        })
        .map(|rtpmap| {
            let fmtp = answer
                .fmtp(rtpmap.payload_type)
                .or_else(|| offer.fmtp(rtpmap.payload_type))
                .map(|f| f.params);
            Format { rtpmap, fmtp }
        });
    Some(Agreed { voice, event })
}

/// Keeps the codecs `allowed` names (telephone-event and comfort noise
/// too when listed), in the offer's order, if a voice codec remains;
/// returns whether one did (nothing is removed otherwise).
pub(crate) fn keep_allowed(media: &mut Media, allowed: &[String]) -> bool {
    let is_allowed = |codec: &Rtpmap| {
        allowed
            .iter()
            .any(|name| name.eq_ignore_ascii_case(&codec.encoding))
    };
    let refused: Vec<u8> = media
        .payload_types()
        .filter(|pt| media.codec(*pt).is_none_or(|c| !is_allowed(&c)))
        .collect();
    let kept_voice = media
        .payload_types()
        .any(|pt| !refused.contains(&pt) && media.codec(pt).is_some_and(|c| is_voice(&c)));
    if kept_voice {
        for pt in refused {
            media.remove_payload_type(pt);
        }
    }
    kept_voice
}

/// Removes from an answer the payload types `offer` did not list (by
/// codec, or by number when the answer names no codec for one).
pub(crate) fn drop_unoffered(answer: &mut Media, offer: &Media) {
    let unoffered: Vec<u8> = answer
        .payload_types()
        .filter(|pt| match codec_of(answer, Some(offer), *pt) {
            Some(codec) => !lists(offer, &codec),
            None => !offer.payload_types().any(|p| p == *pt),
        })
        .collect();
    // Never empty an answer: a stream without formats does not parse.
    if unoffered.len() < answer.formats.len() {
        for pt in unoffered {
            answer.remove_payload_type(pt);
        }
    }
}

/// Adds `telephone-event` at the clock rate of the first voice codec of
/// `media` (events 0-15, on 101 when free, else the first free dynamic
/// payload type) unless it lists one there; returns whether it did. For
/// a leg that takes DTMF only as RFC 4733 events (RFC 4733 §2.4.1)
/// offered a stream whose offerer sends key presses otherwise.
pub(crate) fn add_event(media: &mut Media) -> bool {
    let Some((_, Some(voice))) = first_voice(media, None) else {
        return false;
    };
    if media
        .telephone_events()
        .any(|e| e.clock_rate == voice.clock_rate)
    {
        return false;
    }
    let used = |pt: u8| {
        media.payload_types().any(|p| p == pt)
            || media.rtpmap(pt).is_some()
            || media.fmtp(pt).is_some()
    };
    let Some(pt) = std::iter::once(EVENT_PT)
        .chain(96..=127)
        .find(|pt| !used(*pt))
    else {
        return false;
    };
    let rtpmap = Rtpmap::new(pt, "telephone-event", voice.clock_rate);
    let lines = [
        Attribute::from(&rtpmap),
        Attribute::from(&Fmtp::new(pt, EVENTS)),
    ];
    // After the last format line, else before the direction.
    let at = media
        .attributes
        .iter()
        .rposition(|a| a.is("rtpmap") || a.is("fmtp"))
        .map(|i| i + 1)
        .or_else(|| {
            media
                .attributes
                .iter()
                .position(|a| a.direction().is_some())
        })
        .unwrap_or(media.attributes.len());
    media.attributes.splice(at..at, lines);
    media.formats.push(pt.to_string());
    true
}

/// Removes the telephone-events of `media` at clock rates `peers` lists
/// none at: an offer to a leg whose peer sends INFO or in-band tones,
/// made from an answer to an offer that got a telephone-event it lacked
/// ([`add_event`]), keeps it from the peer, who never offered it.
pub(crate) fn drop_added_events(media: &mut Media, peers: &Media) {
    let added: Vec<u8> = media
        .telephone_events()
        .filter(|e| {
            !peers
                .telephone_events()
                .any(|p| p.clock_rate == e.clock_rate)
        })
        .map(|e| e.payload_type)
        .collect();
    // Never empty an offer: a stream without formats does not parse.
    if added.len() < media.formats.len() {
        for pt in added {
            media.remove_payload_type(pt);
        }
    }
}

/// A leg's own list: the codecs of `policy` switchboard transcodes, in
/// its order, then comfort noise and telephone-event when it lists them
/// (one telephone-event per clock rate in use). Empty when the policy
/// names no codec switchboard transcodes.
pub(crate) fn own_formats(policy: &[String]) -> Vec<Format> {
    let names = |name: &str| policy.iter().any(|p| p.eq_ignore_ascii_case(name));
    let mut formats: Vec<Format> = Vec::new();
    for name in policy {
        let format = if name.eq_ignore_ascii_case("PCMU") {
            Format::new(Rtpmap::new(0, "PCMU", 8000), None)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Format::new(Rtpmap::new(8, "PCMA", 8000), None)
        } else if name.eq_ignore_ascii_case("G722") {
            Format::new(Rtpmap::new(9, "G722", 8000), None)
        } else if name.eq_ignore_ascii_case("opus") {
            let rtpmap = Rtpmap::new(OPUS_PT, "opus", 48000).with_channels(2);
            Format::new(rtpmap, Some("useinbandfec=1"))
        } else {
            continue;
        };
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    let narrowband = formats.iter().any(|f| f.rtpmap.clock_rate == 8000);
    let wideband = formats.iter().any(|f| f.rtpmap.clock_rate == 48000);
    if names("CN") && narrowband {
        formats.push(Format::new(Rtpmap::new(13, "CN", 8000), None));
    }
    if names("telephone-event") {
        if narrowband {
            let rtpmap = Rtpmap::new(EVENT_PT, "telephone-event", 8000);
            formats.push(Format::new(rtpmap, Some(EVENTS)));
        }
        if wideband {
            let rtpmap = Rtpmap::new(WIDEBAND_EVENT_PT, "telephone-event", 48000);
            formats.push(Format::new(rtpmap, Some(EVENTS)));
        }
    }
    formats
}

/// An answer to `offer` naming one of its codecs: `prefer` if it lists
/// it, else its first voice codec switchboard transcodes; with the
/// offer's telephone-event at that codec's clock rate. Payload types and
/// format parameters are the offer's. `None` when the offer has no such
/// codec.
pub(crate) fn answer_formats(offer: &Media, prefer: Option<&Rtpmap>) -> Option<Vec<Format>> {
    let codecs: Vec<Rtpmap> = offer
        .payload_types()
        .filter_map(|pt| offer.codec(pt))
        .collect();
    let chosen = prefer
        .and_then(|p| codecs.iter().find(|c| same(c, p)))
        .or_else(|| codecs.iter().find(|c| is_voice(c) && is_transcodable(c)))?
        .clone();
    let fmtp = |pt: u8| offer.fmtp(pt).map(|f| f.params);
    let event = codecs
        .iter()
        .find(|c| c.is_telephone_event() && c.clock_rate == chosen.clock_rate)
        .cloned();
    let mut formats = vec![Format {
        fmtp: fmtp(chosen.payload_type),
        rtpmap: chosen,
    }];
    if let Some(event) = event {
        formats.push(Format {
            fmtp: fmtp(event.payload_type),
            rtpmap: event,
        });
    }
    Some(formats)
}

/// Replaces the formats of `media` and their `a=rtpmap`, `a=fmtp` and
/// `a=rtcp-fb` lines with `formats` (where the first such line was, else
/// before the direction); `a=ptime` and `a=maxptime`, which were the
/// other leg's, go too.
pub(crate) fn set_formats(media: &mut Media, formats: &[Format]) {
    const PER_FORMAT: &[&str] = &["rtpmap", "fmtp", "rtcp-fb", "ptime", "maxptime"];
    let at = media
        .attributes
        .iter()
        .position(|a| PER_FORMAT.iter().any(|name| a.is(name)))
        .or_else(|| {
            media
                .attributes
                .iter()
                .position(|a| a.direction().is_some())
        });
    media
        .attributes
        .retain(|a| !PER_FORMAT.iter().any(|name| a.is(name)));
    let mut lines = Vec::with_capacity(2 * formats.len());
    for format in formats {
        lines.push(Attribute::from(&format.rtpmap));
        if let Some(params) = &format.fmtp {
            lines.push(Attribute::from(&Fmtp::new(
                format.rtpmap.payload_type,
                params.clone(),
            )));
        }
    }
    let at = at
        .unwrap_or(media.attributes.len())
        .min(media.attributes.len());
    media.attributes.splice(at..at, lines);
    media.formats = formats
        .iter()
        .map(|f| f.rtpmap.payload_type.to_string())
        .collect();
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sdp::Session;

    fn audio(formats: &str, attributes: &str) -> Media {
        let text = format!(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
             m=audio 4000 RTP/AVP {formats}\r\n{attributes}"
        );
        Session::parse(text.as_bytes()).unwrap().media.remove(0)
    }

    fn names(policy: &[&str]) -> Vec<String> {
        policy.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn own_lists_keep_the_policy_order_with_events_per_clock_rate() {
        let formats = own_formats(&names(&[
            "opus",
            "G729",
            "pcma",
            "telephone-event",
            "CN",
            "PCMA",
        ]));
        let written: Vec<String> = formats.iter().map(|f| f.rtpmap.to_string()).collect();
        assert_eq!(
            written,
            [
                "111 opus/48000/2",
                "8 PCMA/8000",
                "13 CN/8000",
                "101 telephone-event/8000",
                "110 telephone-event/48000"
            ]
        );
        assert_eq!(formats[0].fmtp.as_deref(), Some("useinbandfec=1"));
        assert_eq!(formats[3].fmtp.as_deref(), Some("0-15"));
        assert!(own_formats(&names(&["G729", "telephone-event"])).is_empty());
    }

    #[test]
    fn an_answer_names_the_first_transcodable_codec_of_the_offer() {
        let offer = audio(
            "18 96 0 101 102",
            "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n\
             a=rtpmap:102 telephone-event/48000\r\n",
        );
        let formats = answer_formats(&offer, None).unwrap();
        let written: Vec<String> = formats.iter().map(|f| f.rtpmap.to_string()).collect();
        assert_eq!(written, ["96 opus/48000/2", "102 telephone-event/48000"]);
        assert_eq!(formats[0].fmtp.as_deref(), Some("useinbandfec=1"));
        // A preferred codec the offer lists wins, with its own event.
        let pcmu = Rtpmap::new(0, "PCMU", 8000);
        let formats = answer_formats(&offer, Some(&pcmu)).unwrap();
        let written: Vec<String> = formats.iter().map(|f| f.rtpmap.to_string()).collect();
        assert_eq!(written, ["0 PCMU/8000", "101 telephone-event/8000"]);
        assert_eq!(formats[1].fmtp.as_deref(), Some("0-16"));
        assert_eq!(answer_formats(&audio("18 101", ""), None), None);
    }

    #[test]
    fn formats_are_replaced_with_their_lines() {
        let mut session = Session::parse(
            b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
              m=audio 4000 RTP/AVP 0 8 101\r\na=ptime:30\r\na=rtpmap:101 telephone-event/8000\r\n\
              a=fmtp:101 0-15\r\na=sendrecv\r\n",
        )
        .unwrap();
        let own = own_formats(&names(&["G722", "telephone-event"]));
        set_formats(&mut session.media[0], &own);
        let text = session.to_string();
        assert!(text.contains("m=audio 4000 RTP/AVP 9 101\r\n"), "{text}");
        assert!(text.contains("a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"), "{text}");
        assert!(!text.contains("ptime"), "{text}");
        // Without any, before the direction.
        let mut session = Session::parse(
            b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
              m=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n",
        )
        .unwrap();
        set_formats(&mut session.media[0], &own_formats(&names(&["G722"])));
        let text = session.to_string();
        assert!(
            text.ends_with("m=audio 4000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\na=sendrecv\r\n"),
            "{text}"
        );
    }

    #[test]
    fn answers_are_judged_by_their_first_voice_codec() {
        let offer = audio("8 101", "a=rtpmap:101 telephone-event/8000\r\n");
        assert!(answer_is_offered(&offer, &audio("8 101", "")));
        assert!(answer_is_offered(&offer, &audio("101", "")));
        assert!(!answer_is_offered(&offer, &audio("0 8 101", "")));
        assert!(
            !answer_is_offered(&offer, &audio("96", "")),
            "an unknown type"
        );
        let agreed = agree(&offer, &audio("8 0 101", "")).unwrap();
        assert_eq!(
            agreed.codec(),
            StreamCodec {
                payload_type: 8,
                encoding: "PCMA".into(),
                clock_rate: 8000,
                telephone_event: Some(101),
            }
        );
        let mut extra = audio("8 0 101", "");
        drop_unoffered(&mut extra, &offer);
        assert_eq!(extra.formats, ["8", "101"]);
    }

    #[test]
    fn only_allowed_codecs_are_kept_and_only_if_a_voice_codec_remains() {
        let policy = names(&["PCMA", "telephone-event"]);
        let mut media = audio("0 8 18 101", "a=rtpmap:101 telephone-event/8000\r\n");
        assert!(keep_allowed(&mut media, &policy));
        assert_eq!(media.formats, ["8", "101"]);
        let mut media = audio("0 101", "a=rtpmap:101 telephone-event/8000\r\n");
        assert!(!keep_allowed(&mut media, &policy));
        assert_eq!(media.formats, ["0", "101"], "untouched");
    }

    #[test]
    fn events_the_peer_never_listed_are_dropped_from_an_offer_to_it() {
        let events = "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n\
                      a=rtpmap:102 telephone-event/16000\r\n";
        let mut offer = audio("0 9 101 102", events);
        drop_added_events(&mut offer, &audio("0", ""));
        assert_eq!(offer.formats, ["0", "9"]);
        assert!(offer.fmtp(101).is_none() && offer.rtpmap(101).is_none());
        // One at a clock rate the peer listed stays.
        let mut offer = audio("0 9 101 102", events);
        let peers = audio("0 96", "a=rtpmap:96 telephone-event/8000\r\n");
        drop_added_events(&mut offer, &peers);
        assert_eq!(offer.formats, ["0", "9", "101"]);
        // Never the last format.
        let mut offer = audio("101", events);
        drop_added_events(&mut offer, &audio("0", ""));
        assert_eq!(offer.formats, ["101"]);
    }
}
