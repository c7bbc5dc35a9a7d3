//! `a=rtpmap` and `a=fmtp` (RFC 8866 §6.6 and §6.15), the static payload
//! types of RFC 3551 §6, and the telephone-event list of RFC 4733 §2.4.1.

use std::fmt;
use std::ops::RangeInclusive;

use crate::grammar::{digits, payload_type, ValueError};
use crate::Attribute;

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rtpmap {
    /// RTP payload type, 0..=127.
    pub payload_type: u8,
    /// Encoding name as written, e.g. `PCMU`, `opus`, `telephone-event`.
    pub encoding: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Encoding parameters: the channel count for audio.
    pub channels: Option<u16>,
}

impl Rtpmap {
    /// A mapping without a channel count.
    pub fn new(payload_type: u8, encoding: impl Into<String>, clock_rate: u32) -> Self {
        Self {
            payload_type,
            encoding: encoding.into(),
            clock_rate,
            channels: None,
        }
    }

    /// Sets the channel count.
    pub fn with_channels(mut self, channels: u16) -> Self {
        self.channels = Some(channels);
        self
    }

    /// Whether this describes the same codec as `other`: encoding names
    /// compared case-insensitively (RFC 4855 §3), equal clock rates, and
    /// equal channel counts where an absent count means one.
    pub fn same_codec(&self, other: &Rtpmap) -> bool {
        self.encoding.eq_ignore_ascii_case(&other.encoding)
            && self.clock_rate == other.clock_rate
            && self.channels.unwrap_or(1) == other.channels.unwrap_or(1)
    }

    /// Whether this is RFC 4733 `telephone-event`.
    pub fn is_telephone_event(&self) -> bool {
        self.encoding.eq_ignore_ascii_case("telephone-event")
    }

    /// Whether this is RFC 3389 comfort noise (`CN`).
    pub fn is_comfort_noise(&self) -> bool {
        self.encoding.eq_ignore_ascii_case("CN")
    }

    /// The RFC 3551 §6 mapping of a static payload type, used when an
    /// offer lists e.g. `0` or `18` without an `a=rtpmap`.
    pub fn from_static(payload_type: u8) -> Option<Rtpmap> {
        let (encoding, clock_rate, channels) = match payload_type {
            0 => ("PCMU", 8000, None),
            3 => ("GSM", 8000, None),
            4 => ("G723", 8000, None),
            5 => ("DVI4", 8000, None),
            6 => ("DVI4", 16000, None),
            7 => ("LPC", 8000, None),
            8 => ("PCMA", 8000, None),
            9 => ("G722", 8000, None),
            10 => ("L16", 44100, Some(2)),
            11 => ("L16", 44100, None),
            12 => ("QCELP", 8000, None),
            13 => ("CN", 8000, None),
            14 => ("MPA", 90000, None),
            15 => ("G728", 8000, None),
            16 => ("DVI4", 11025, None),
            17 => ("DVI4", 22050, None),
            18 => ("G729", 8000, None),
            25 => ("CelB", 90000, None),
            26 => ("JPEG", 90000, None),
            28 => ("nv", 90000, None),
            31 => ("H261", 90000, None),
            32 => ("MPV", 90000, None),
            33 => ("MP2T", 90000, None),
            34 => ("H263", 90000, None),
            _ => return None,
        };
        Some(Rtpmap {
            payload_type,
            encoding: encoding.to_owned(),
            clock_rate,
            channels,
        })
    }

    pub(crate) fn parse(value: &str) -> Result<Self, ValueError> {
        let (pt, rest) = value.split_once(' ').ok_or(ValueError::Invalid(
            "expected `<payload type> <encoding>/<clock rate>`",
        ))?;
        let payload_type = payload_type(pt)?;
        let mut parts = rest.trim().split('/');
        let encoding = parts
            .next()
            .filter(|e| !e.is_empty() && !e.contains(' '))
            .ok_or(ValueError::Invalid("missing encoding name"))?;
        let clock_rate = parts
            .next()
            .and_then(digits)
            .ok_or(ValueError::Invalid("bad clock rate"))?;
        let channels = match parts.next() {
            None => None,
            Some(c) => Some(digits(c).ok_or(ValueError::Invalid("bad channel count"))?),
        };
        if parts.next().is_some() {
            return Err(ValueError::Invalid("too many `/` fields"));
        }
        Ok(Self {
            payload_type,
            encoding: encoding.to_owned(),
            clock_rate,
            channels,
        })
    }
}

impl fmt::Display for Rtpmap {
    /// Writes the attribute value (after `a=rtpmap:`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.payload_type, self.encoding, self.clock_rate
        )?;
        if let Some(channels) = self.channels {
            write!(f, "/{channels}")?;
        }
        Ok(())
    }
}

impl From<&Rtpmap> for Attribute {
    fn from(rtpmap: &Rtpmap) -> Self {
        Attribute::new("rtpmap", rtpmap.to_string())
    }
}

/// `a=fmtp:<payload type> <format specific parameters>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fmtp {
    /// RTP payload type, 0..=127.
    pub payload_type: u8,
    /// The parameter string as written, e.g. `annexb=no` or `0-16`.
    pub params: String,
}

impl Fmtp {
    /// A format parameter line.
    pub fn new(payload_type: u8, params: impl Into<String>) -> Self {
        Self {
            payload_type,
            params: params.into(),
        }
    }

    /// The `;`-separated parameters as `(key, value)`; a parameter without
    /// `=` (such as the telephone-event list `0-16`) has no value.
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.params
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((key, value)) => (key.trim(), Some(value.trim())),
                None => (p, None),
            })
    }

    /// The value of the first parameter named `key` (case-insensitive).
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v)
    }

    /// The RFC 4733 §2.4.1 event list (`0-15,66,70`) as ranges, or `None`
    /// if the parameters are not such a list.
    pub fn events(&self) -> Option<Vec<RangeInclusive<u8>>> {
        parse_events(&self.params)
    }

    pub(crate) fn parse(value: &str) -> Result<Self, ValueError> {
        let (pt, params) = match value.split_once(' ') {
            Some((pt, params)) => (pt, params.trim_start()),
            None => (value, ""),
        };
        Ok(Self {
            payload_type: payload_type(pt)?,
            params: params.to_owned(),
        })
    }
}

impl fmt::Display for Fmtp {
    /// Writes the attribute value (after `a=fmtp:`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.params.is_empty() {
            write!(f, "{}", self.payload_type)
        } else {
            write!(f, "{} {}", self.payload_type, self.params)
        }
    }
}

impl From<&Fmtp> for Attribute {
    fn from(fmtp: &Fmtp) -> Self {
        Attribute::new("fmtp", fmtp.to_string())
    }
}

/// Parses an RFC 4733 event list: comma-separated events or `a-b` ranges.
pub(crate) fn parse_events(list: &str) -> Option<Vec<RangeInclusive<u8>>> {
    let list = list.trim();
    if list.is_empty() {
        return None;
    }
    list.split(',')
        .map(|item| {
            let item = item.trim();
            match item.split_once('-') {
                Some((lo, hi)) => {
                    let lo: u8 = digits(lo.trim())?;
                    let hi: u8 = digits(hi.trim())?;
                    (lo <= hi).then_some(lo..=hi)
                }
                None => {
                    let event: u8 = digits(item)?;
                    Some(event..=event)
                }
            }
        })
        .collect()
}

/// Formats a set of events (one bit per event) as an RFC 4733 list.
pub(crate) fn format_events(set: &[bool; 256]) -> String {
    let mut out = String::new();
    let mut event = 0usize;
    while event < set.len() {
        if !set[event] {
            event += 1;
            continue;
        }
        let start = event;
        while event + 1 < set.len() && set[event + 1] {
            event += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == event {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{event}"));
        }
        event += 1;
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rtpmap_parses_and_prints() {
        let r = Rtpmap::parse("111 opus/48000/2").unwrap();
        assert_eq!(r, Rtpmap::new(111, "opus", 48000).with_channels(2));
        assert_eq!(r.to_string(), "111 opus/48000/2");
        let r = Rtpmap::parse("0 PCMU/8000").unwrap();
        assert_eq!(r.channels, None);
        assert_eq!(r.to_string(), "0 PCMU/8000");
    }

    #[test]
    fn rtpmap_errors() {
        assert_eq!(
            Rtpmap::parse("200 foo/8000"),
            Err(ValueError::PayloadType(200))
        );
        assert!(Rtpmap::parse("96").is_err());
        assert!(Rtpmap::parse("96 foo").is_err());
        assert!(Rtpmap::parse("96 foo/x").is_err());
        assert!(Rtpmap::parse("96 /8000").is_err());
        assert!(Rtpmap::parse("96 foo/8000/two").is_err());
        assert!(Rtpmap::parse("96 foo/8000/1/2").is_err());
        assert!(Rtpmap::parse("x foo/8000").is_err());
    }

    #[test]
    fn same_codec_ignores_case_and_default_channels() {
        let a = Rtpmap::new(0, "PCMU", 8000);
        let b = Rtpmap::new(96, "pcmu", 8000).with_channels(1);
        assert!(a.same_codec(&b));
        assert!(!a.same_codec(&Rtpmap::new(0, "PCMU", 16000)));
        assert!(!a.same_codec(&Rtpmap::new(0, "PCMU", 8000).with_channels(2)));
    }

    #[test]
    fn static_payload_types() {
        assert_eq!(Rtpmap::from_static(0).unwrap().encoding, "PCMU");
        assert_eq!(Rtpmap::from_static(8).unwrap().encoding, "PCMA");
        let g722 = Rtpmap::from_static(9).unwrap();
        assert_eq!((g722.encoding.as_str(), g722.clock_rate), ("G722", 8000));
        assert_eq!(Rtpmap::from_static(18).unwrap().encoding, "G729");
        assert!(Rtpmap::from_static(13).unwrap().is_comfort_noise());
        assert_eq!(Rtpmap::from_static(96), None);
        assert_eq!(Rtpmap::from_static(2), None);
    }

    #[test]
    fn fmtp_params() {
        let f = Fmtp::parse("111 minptime=10; useinbandfec=1").unwrap();
        assert_eq!(f.payload_type, 111);
        let params: Vec<_> = f.params().collect();
        assert_eq!(
            params,
            vec![("minptime", Some("10")), ("useinbandfec", Some("1"))]
        );
        assert_eq!(f.param("USEINBANDFEC"), Some("1"));
        assert_eq!(f.param("stereo"), None);
        assert_eq!(f.to_string(), "111 minptime=10; useinbandfec=1");
        assert_eq!(Fmtp::parse("18").unwrap().params, "");
        assert_eq!(Fmtp::parse("300 x=1"), Err(ValueError::PayloadType(300)));
        assert!(Fmtp::parse("abc x=1").is_err());
    }

    #[test]
    fn telephone_event_list() {
        let f = Fmtp::parse("101 0-15,66, 70").unwrap();
        assert_eq!(f.events(), Some(vec![0..=15, 66..=66, 70..=70]));
        assert_eq!(f.params().next(), Some(("0-15,66, 70", None)));
        assert_eq!(Fmtp::new(101, "16-0").events(), None);
        assert_eq!(Fmtp::new(101, "0-300").events(), None);
        assert_eq!(Fmtp::new(101, "").events(), None);
        let mut set = [false; 256];
        for e in (0..=16).chain([66, 70, 71]) {
            set[e] = true;
        }
        assert_eq!(format_events(&set), "0-16,66,70-71");
        assert_eq!(format_events(&[false; 256]), "");
    }
}
