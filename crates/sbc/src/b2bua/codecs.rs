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
//! - A transcoded stream goes back to one shared codec as soon as it can
//!   (RFC 3264 §8.3.2 lets a re-offer change the codec). A re-offer from
//!   the other leg's peer (hold, resume, a codec change, a transfer's
//!   INVITE with Replaces) that lists codecs the leg takes (its policy
//!   allows them and, when its peer's last description was an offer,
//!   that offer listed them, §5.1; G.729 or SILK too, which the relay
//!   then forwards untouched: [`keep_shared`]) is offered to the leg
//!   with those, in the payload
//!   types its session already uses for them and never in a number it
//!   used for another codec ([`keep_numbers`], §8.3.2). The offerer is
//!   answered with what the leg chose, in the offerer's numbers
//!   ([`number_like`]), and the relay forwards again (both legs are
//!   given the shared codec, or their codecs taken away when the relay
//!   does not know it).
//! - Otherwise a transcoded stream stays so: a re-offer without such a
//!   codec, or one made from the other leg's answer (which names the one
//!   codec its peer chose, not all it takes: a transfer target's), gets
//!   the codec the leg agreed on, and the offerer is answered with its
//!   own while its offer lists it.
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

/// The first dynamic payload type (RFC 3551 §6).
const DYNAMIC: u8 = 96;

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
fn lists(media: &Media, codec: &Rtpmap) -> bool {
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

/// [`keep_allowed`] for a transcoded stream that may share a codec
/// again: only the voice codecs `taken` lists when given (the leg's
/// peer's offer) count, the others go; all codecs are allowed when
/// `allowed` is empty. A shared codec the media plane does not transcode
/// (G.729, SILK) is fine: the relay then forwards it untouched. Returns
/// whether a voice codec remained (nothing is removed otherwise).
pub(crate) fn keep_shared(media: &mut Media, allowed: &[String], taken: Option<&Media>) -> bool {
    let mut shared = media.clone();
    let unknown: Vec<u8> = shared
        .payload_types()
        .filter(|pt| {
            shared
                .codec(*pt)
                .is_none_or(|c| is_voice(&c) && taken.is_some_and(|t| !lists(t, &c)))
        })
        .collect();
    for pt in unknown {
        shared.remove_payload_type(pt);
    }
    let kept = if allowed.is_empty() {
        shared
            .payload_types()
            .any(|pt| shared.codec(pt).is_some_and(|c| is_voice(&c)))
    } else {
        keep_allowed(&mut shared, allowed)
    };
    if kept {
        *media = shared;
    }
    kept
}

/// Gives the dynamic payload types of an offer to a leg the numbers its
/// session used for the same codecs in `earlier` descriptions (what we
/// sent it, what its peer sent), and a fresh number to one whose number
/// stood for another codec there: RFC 3264 §8.3.2 keeps a number's codec
/// for the whole session.
pub(crate) fn keep_numbers(media: &mut Media, earlier: &[Media]) {
    let before: Vec<Rtpmap> = earlier.iter().flat_map(Media::rtpmaps).collect();
    let current: Vec<u8> = media.payload_types().collect();
    let mut map: Vec<(u8, u8)> = Vec::new();
    let taken = |map: &[(u8, u8)], pt: u8| map.iter().any(|(_, to)| *to == pt);
    for &pt in &current {
        let Some(codec) = media.codec(pt).filter(|_| pt >= DYNAMIC) else {
            map.push((pt, pt));
            continue;
        };
        let kept = before
            .iter()
            .find(|r| r.payload_type >= DYNAMIC && same(r, &codec))
            .map(|r| r.payload_type)
            .filter(|to| !taken(&map, *to));
        let clashes = before
            .iter()
            .any(|r| r.payload_type == pt && !same(r, &codec));
        let to = match kept {
            Some(to) => to,
            None if clashes || taken(&map, pt) => {
                let free = (DYNAMIC..=127).find(|n| {
                    !current.contains(n)
                        && !taken(&map, *n)
                        && !before.iter().any(|r| r.payload_type == *n)
                });
                match free {
                    Some(free) => free,
                    // No number left: it cannot be offered.
                    None => {
                        map.push((pt, pt));
                        media.remove_payload_type(pt);
                        continue;
                    }
                }
            }
            None => pt,
        };
        map.push((pt, to));
    }
    renumber(media, &map);
}

/// Gives the payload types of an answer the numbers `offer` listed
/// their codecs under (RFC 3264 §6.1: the answer uses the offer's
/// numbers); a second payload type of one codec goes.
pub(crate) fn number_like(answer: &mut Media, offer: &Media) {
    let mut map: Vec<(u8, u8)> = Vec::new();
    let pts: Vec<u8> = answer.payload_types().collect();
    for pt in pts {
        let Some(codec) = codec_of(answer, Some(offer), pt) else {
            continue;
        };
        let Some(to) = offer
            .payload_types()
            .find(|p| offer.codec(*p).is_some_and(|c| same(&c, &codec)))
        else {
            continue;
        };
        if map.iter().any(|(_, t)| *t == to) {
            answer.remove_payload_type(pt);
        } else {
            map.push((pt, to));
        }
    }
    renumber(answer, &map);
}

/// Renames payload types (`from`, `to`) in the formats and the
/// `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` lines of `media`, all at once
/// (two may swap); a static type without `a=rtpmap` that becomes another
/// number gets one.
fn renumber(media: &mut Media, map: &[(u8, u8)]) {
    if map.iter().all(|(from, to)| from == to) {
        return;
    }
    let new = |pt: u8| map.iter().find(|(from, _)| *from == pt).map(|(_, to)| *to);
    let unmapped: Vec<Rtpmap> = map
        .iter()
        .filter(|(from, to)| from != to && media.rtpmap(*from).is_none())
        .filter_map(|(from, to)| {
            let mut codec = media.codec(*from)?;
            codec.payload_type = *to;
            Some(codec)
        })
        .collect();
    for format in &mut media.formats {
        if let Some(to) = format.parse().ok().and_then(new) {
            *format = to.to_string();
        }
    }
    for attribute in &mut media.attributes {
        if !["rtpmap", "fmtp", "rtcp-fb"]
            .iter()
            .any(|n| attribute.is(n))
        {
            continue;
        }
        let Some(value) = &mut attribute.value else {
            continue;
        };
        let renamed = match value.split_once(' ') {
            Some((number, rest)) => number
                .parse()
                .ok()
                .and_then(new)
                .map(|to| format!("{to} {rest}")),
            None => value.parse().ok().and_then(new).map(|to| to.to_string()),
        };
        if let Some(renamed) = renamed {
            *value = renamed;
        }
    }
    let at = after_format_lines(media);
    media
        .attributes
        .splice(at..at, unmapped.iter().map(Attribute::from));
}

/// Where a new format line goes: after the last one, else before the
/// direction, else at the end.
fn after_format_lines(media: &Media) -> usize {
    media
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
        .unwrap_or(media.attributes.len())
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
    let at = after_format_lines(media);
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
    fn shared_codecs_are_the_allowed_ones_the_peer_takes() {
        let policy = names(&["G729", "PCMA", "PCMU", "telephone-event"]);
        let events = "a=rtpmap:101 telephone-event/8000\r\n";
        let mut media = audio("18 8 0 9 101", events);
        assert!(keep_shared(&mut media, &policy, None));
        assert_eq!(media.formats, ["18", "8", "0", "101"], "G.729 too");
        // Only what the peer's offer listed.
        let mut media = audio("18 8 0 101", events);
        assert!(keep_shared(&mut media, &policy, Some(&audio("0 18", ""))));
        assert_eq!(media.formats, ["18", "0", "101"]);
        let mut media = audio("18 8 101", events);
        assert!(!keep_shared(&mut media, &policy, Some(&audio("0", ""))));
        assert_eq!(media.formats, ["18", "8", "101"], "untouched");
        // G.729 alone is shared (the relay forwards it); an empty policy
        // takes everything; events alone are no shared codec.
        let mut media = audio("18 101", events);
        assert!(keep_shared(&mut media, &policy, None));
        assert_eq!(media.formats, ["18", "101"]);
        let mut media = audio("18 9 101", events);
        assert!(keep_shared(&mut media, &[], None));
        assert_eq!(media.formats, ["18", "9", "101"]);
        assert!(!keep_shared(&mut audio("101", events), &[], None));
    }

    #[test]
    fn a_legs_payload_numbers_keep_their_codec_across_offers() {
        let earlier = audio(
            "0 111 101 97",
            "a=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=rtpmap:97 telephone-event/48000\r\n",
        );
        // Opus on 96 goes back to 111, telephone-event/8000 on 97 (which
        // was telephone-event/48000) to 101, and the 48 kHz one on 101
        // (which was telephone-event/8000) to 97: a swap. iLBC, new,
        // keeps its number.
        let mut media = audio(
            "96 0 97 101 112",
            "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n\
             a=rtpmap:97 telephone-event/8000\r\na=fmtp:97 0-15\r\n\
             a=rtpmap:101 telephone-event/48000\r\na=rtpmap:112 iLBC/8000\r\n",
        );
        keep_numbers(&mut media, std::slice::from_ref(&earlier));
        assert_eq!(media.formats, ["111", "0", "101", "97", "112"]);
        assert_eq!(media.rtpmap(111).unwrap().to_string(), "111 opus/48000/2");
        assert_eq!(media.fmtp(111).unwrap().params, "useinbandfec=1");
        assert_eq!(
            media.rtpmap(101).unwrap().to_string(),
            "101 telephone-event/8000"
        );
        assert_eq!(media.fmtp(101).unwrap().params, "0-15");
        assert_eq!(
            media.rtpmap(97).unwrap().to_string(),
            "97 telephone-event/48000"
        );
        // iLBC on 111 (opus's) gets a fresh number.
        let mut clash = audio("111 0", "a=rtpmap:111 iLBC/8000\r\n");
        keep_numbers(&mut clash, std::slice::from_ref(&earlier));
        assert_eq!(clash.formats, ["96", "0"]);
        assert_eq!(clash.rtpmap(96).unwrap().to_string(), "96 iLBC/8000");
    }

    #[test]
    fn an_answer_takes_the_numbers_of_its_offer() {
        let offer = audio(
            "96 0 100",
            "a=rtpmap:96 opus/48000/2\r\na=rtpmap:100 telephone-event/8000\r\n",
        );
        let mut answer = audio(
            "0 101",
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
        );
        number_like(&mut answer, &offer);
        assert_eq!(answer.formats, ["0", "100"]);
        assert_eq!(
            answer.rtpmap(100).unwrap().to_string(),
            "100 telephone-event/8000"
        );
        assert_eq!(answer.fmtp(100).unwrap().params, "0-15");
        // A static type the offer lists on a dynamic one gets its line.
        let offer = audio("97", "a=rtpmap:97 PCMU/8000\r\n");
        let mut answer = audio("0", "a=sendrecv\r\n");
        number_like(&mut answer, &offer);
        assert_eq!(answer.formats, ["97"]);
        assert_eq!(answer.rtpmap(97).unwrap().to_string(), "97 PCMU/8000");
        assert!(answer.attributes.last().unwrap().direction().is_some());
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
