//! The line parser (RFC 8866 §5 and §9).
//!
//! Liberal where real peers differ from the grammar without ambiguity:
//! LF or CRLF line ends, trailing blank lines, runs of spaces between
//! fields, lines in another order inside a section. Strict elsewhere: the
//! body must start with `v=0`, `o=` and `s=` are required, unknown type
//! letters are errors, and the attributes this crate types must follow
//! their grammar. Every error names the line.

use crate::grammar::{digits, fields, is_rtp_proto, payload_type, ValueError};
use crate::{
    Attribute, Bandwidth, Connection, Crypto, Fmtp, Media, Origin, Rtcp, Rtpmap, SdpError, Session,
    Timing,
};

/// Bounds on what [`Session::parse_with`] accepts, so a hostile body costs
/// bounded memory and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest body in bytes (default 64 KiB).
    pub max_size: usize,
    /// Most lines in the body (default 4096).
    pub max_lines: usize,
    /// Most `m=` sections (default 64).
    pub max_media: usize,
    /// Most `a=` lines in one section (default 512).
    pub max_attributes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_size: 65_536,
            max_lines: 4_096,
            max_media: 64,
            max_attributes: 512,
        }
    }
}

pub(crate) fn parse(body: &[u8], limits: &Limits) -> Result<Session, SdpError> {
    if body.len() > limits.max_size {
        return Err(SdpError::TooLarge {
            size: body.len(),
            max: limits.max_size,
        });
    }
    let end = body
        .iter()
        .rposition(|&b| b != b'\r' && b != b'\n')
        .map_or(0, |last| last + 1);
    let content = body.get(..end).unwrap_or_default();
    if content.is_empty() {
        return Err(SdpError::MissingVersion);
    }

    // `o=` and `s=` are required, so they are collected apart and moved
    // into the session once every line is read; the rest fills `session`.
    let mut session = Session::new(Origin {
        username: String::new(),
        session_id: 0,
        session_version: 0,
        nettype: String::new(),
        addrtype: String::new(),
        address: String::new(),
    });
    session.name.clear();
    session.timings.clear();
    let mut parser = Parser {
        limits,
        origin: None,
        name: None,
        session,
    };

    for (index, raw) in content.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        if line > limits.max_lines {
            return Err(SdpError::TooManyLines {
                line,
                max: limits.max_lines,
            });
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = std::str::from_utf8(raw).map_err(|_| SdpError::NotUtf8 { line })?;
        let (letter, value) = split_line(text).ok_or(SdpError::Malformed { line })?;
        if line == 1 {
            if letter != 'v' {
                return Err(SdpError::MissingVersion);
            }
            if value != "0" {
                return Err(SdpError::BadVersion { line });
            }
            continue;
        }
        parser.line(line, letter, value)?;
    }

    let mut session = parser.session;
    session.origin = parser.origin.ok_or(SdpError::MissingLine { letter: 'o' })?;
    session.name = parser.name.ok_or(SdpError::MissingLine { letter: 's' })?;
    Ok(session)
}

/// `<letter>=<value>` with a printable ASCII letter; no CR or NUL inside.
fn split_line(text: &str) -> Option<(char, &str)> {
    let bytes = text.as_bytes();
    let letter = *bytes.first()?;
    if bytes.get(1) != Some(&b'=') || !letter.is_ascii_graphic() {
        return None;
    }
    if bytes.iter().any(|&b| b == b'\r' || b == 0) {
        return None;
    }
    Some((char::from(letter), text.get(2..)?))
}

struct Parser<'a> {
    limits: &'a Limits,
    origin: Option<Origin>,
    name: Option<String>,
    session: Session,
}

impl Parser<'_> {
    fn line(&mut self, line: usize, letter: char, value: &str) -> Result<(), SdpError> {
        let in_media = !self.session.media.is_empty();
        let session_only = |in_media: bool| {
            if in_media {
                Err(SdpError::Misplaced { line, letter })
            } else {
                Ok(())
            }
        };
        let duplicate = SdpError::Duplicate { line, letter };
        match letter {
            'v' => return Err(SdpError::Misplaced { line, letter }),
            'o' => {
                session_only(in_media)?;
                if self.origin.is_some() {
                    return Err(duplicate);
                }
                let origin =
                    Origin::parse(value).map_err(|reason| SdpError::BadOrigin { line, reason })?;
                self.origin = Some(origin);
            }
            's' => {
                session_only(in_media)?;
                if self.name.is_some() {
                    return Err(duplicate);
                }
                self.name = Some(value.to_owned());
            }
            'i' => {
                let info = match self.session.media.last_mut() {
                    Some(media) => &mut media.info,
                    None => &mut self.session.info,
                };
                if info.is_some() {
                    return Err(duplicate);
                }
                *info = Some(value.to_owned());
            }
            'u' | 'z' => {
                session_only(in_media)?;
                let slot = if letter == 'u' {
                    &mut self.session.uri
                } else {
                    &mut self.session.time_zones
                };
                if slot.is_some() {
                    return Err(duplicate);
                }
                *slot = Some(value.to_owned());
            }
            'e' => {
                session_only(in_media)?;
                self.session.emails.push(value.to_owned());
            }
            'p' => {
                session_only(in_media)?;
                self.session.phones.push(value.to_owned());
            }
            'c' => {
                let connection = Connection::parse(value)
                    .map_err(|reason| SdpError::BadConnection { line, reason })?;
                match self.session.media.last_mut() {
                    Some(media) => media.connections.push(connection),
                    None if self.session.connection.is_some() => return Err(duplicate),
                    None => self.session.connection = Some(connection),
                }
            }
            'b' => {
                let bandwidth = Bandwidth::parse(value).ok_or(SdpError::BadBandwidth { line })?;
                match self.session.media.last_mut() {
                    Some(media) => media.bandwidths.push(bandwidth),
                    None => self.session.bandwidths.push(bandwidth),
                }
            }
            't' => {
                session_only(in_media)?;
                let timing = Timing::parse(value).ok_or(SdpError::BadTiming { line })?;
                self.session.timings.push(timing);
            }
            'r' => {
                session_only(in_media)?;
                let timing = self
                    .session
                    .timings
                    .last_mut()
                    .ok_or(SdpError::Misplaced { line, letter })?;
                timing.repeats.push(value.to_owned());
            }
            'k' => {
                let key = match self.session.media.last_mut() {
                    Some(media) => &mut media.key,
                    None => &mut self.session.key,
                };
                if key.is_some() {
                    return Err(duplicate);
                }
                *key = Some(value.to_owned());
            }
            'a' => self.attribute(line, value)?,
            'm' => {
                if self.session.media.len() >= self.limits.max_media {
                    return Err(SdpError::TooManyMedia {
                        line,
                        max: self.limits.max_media,
                    });
                }
                self.session.media.push(parse_media(line, value)?);
            }
            _ => return Err(SdpError::UnknownType { line, letter }),
        }
        Ok(())
    }

    fn attribute(&mut self, line: usize, value: &str) -> Result<(), SdpError> {
        let (name, value) = match value.split_once(':') {
            Some((name, value)) => (name, Some(value)),
            None => (value, None),
        };
        if name.is_empty() || name.contains(' ') {
            return Err(SdpError::Malformed { line });
        }
        let (attributes, rtp_media) = match self.session.media.last_mut() {
            Some(media) => {
                let rtp = media.is_rtp();
                (&mut media.attributes, rtp)
            }
            None => (&mut self.session.attributes, false),
        };
        if attributes.len() >= self.limits.max_attributes {
            return Err(SdpError::TooManyAttributes {
                line,
                max: self.limits.max_attributes,
            });
        }
        check_attribute(name, value, rtp_media).map_err(|(name, error)| match error {
            ValueError::PayloadType(value) => SdpError::PayloadTypeOutOfRange { line, value },
            ValueError::Invalid(reason) => SdpError::BadAttribute { line, name, reason },
        })?;
        attributes.push(Attribute {
            name: name.to_owned(),
            value: value.map(str::to_owned),
        });
        Ok(())
    }
}

/// Checks the attributes this crate gives typed views of, so that those
/// views never meet a malformed line from the wire.
fn check_attribute(
    name: &str,
    value: Option<&str>,
    rtp_media: bool,
) -> Result<(), (&'static str, ValueError)> {
    let missing = ValueError::Invalid("missing value");
    let (name, result) = match name {
        "rtpmap" if rtp_media => (
            "rtpmap",
            value
                .ok_or(missing)
                .and_then(|v| Rtpmap::parse(v).map(drop)),
        ),
        "fmtp" if rtp_media => (
            "fmtp",
            value.ok_or(missing).and_then(|v| Fmtp::parse(v).map(drop)),
        ),
        "crypto" => (
            "crypto",
            value
                .ok_or(missing)
                .and_then(|v| Crypto::parse(v).map(drop)),
        ),
        "rtcp" => (
            "rtcp",
            value.ok_or(missing).and_then(|v| Rtcp::parse(v).map(drop)),
        ),
        "ptime" | "maxptime" => {
            let name = if name == "ptime" { "ptime" } else { "maxptime" };
            let ok = value.and_then(digits::<u32>).is_some();
            (
                name,
                if ok {
                    Ok(())
                } else {
                    Err(ValueError::Invalid("not a number of milliseconds"))
                },
            )
        }
        _ => return Ok(()),
    };
    result.map_err(|error| (name, error))
}

fn parse_media(line: usize, value: &str) -> Result<Media, SdpError> {
    let bad = |reason| SdpError::BadMedia { line, reason };
    let mut parts = fields(value);
    let kind = parts.next().ok_or(bad("missing media type"))?;
    let port_text = parts.next().ok_or(bad("missing port"))?;
    let (port, port_count) = match port_text.split_once('/') {
        Some((port, count)) => (digits(port), Some(digits(count))),
        None => (digits(port_text), None),
    };
    let port = port.ok_or(SdpError::BadPort { line })?;
    let port_count = match port_count {
        Some(count) => Some(count.ok_or(SdpError::BadPort { line })?),
        None => None,
    };
    let proto = parts.next().ok_or(bad("missing transport protocol"))?;
    let formats: Vec<String> = parts.map(str::to_owned).collect();
    if formats.is_empty() {
        return Err(bad("no formats"));
    }
    if is_rtp_proto(proto) {
        for format in &formats {
            payload_type(format).map_err(|error| match error {
                ValueError::PayloadType(value) => SdpError::PayloadTypeOutOfRange { line, value },
                ValueError::Invalid(_) => bad("RTP format is not a payload type number"),
            })?;
        }
    }
    let mut media = Media::new(kind, port, proto, formats);
    media.port_count = port_count;
    Ok(media)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n";

    fn with(extra: &str) -> String {
        format!("{MINIMAL}{extra}")
    }

    fn err(text: &str) -> SdpError {
        Session::parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn minimal_body_and_line_ends() {
        let s = Session::parse(MINIMAL.as_bytes()).unwrap();
        assert_eq!(s.origin.session_id, 1);
        assert_eq!(s.name, "-");
        assert_eq!(s.to_string(), MINIMAL);
        let lf = MINIMAL.replace("\r\n", "\n");
        assert_eq!(Session::parse(lf.as_bytes()).unwrap(), s);
        // No final line end, or extra blank lines at the end.
        let trimmed = MINIMAL.trim_end();
        assert_eq!(Session::parse(trimmed.as_bytes()).unwrap(), s);
        let padded = format!("{MINIMAL}\r\n\r\n");
        assert_eq!(Session::parse(padded.as_bytes()).unwrap(), s);
    }

    #[test]
    fn version_errors() {
        assert_eq!(err(""), SdpError::MissingVersion);
        assert_eq!(err("\r\n"), SdpError::MissingVersion);
        assert_eq!(err("o=- 1 1 IN IP4 a\r\nv=0\r\n"), SdpError::MissingVersion);
        assert_eq!(
            err("v=1\r\no=- 1 1 IN IP4 a\r\ns=-\r\n"),
            SdpError::BadVersion { line: 1 }
        );
        assert_eq!(
            err(&with("v=0\r\n")),
            SdpError::Misplaced {
                line: 6,
                letter: 'v'
            }
        );
    }

    #[test]
    fn required_lines() {
        assert_eq!(err("v=0\r\ns=-\r\n"), SdpError::MissingLine { letter: 'o' });
        assert_eq!(
            err("v=0\r\no=- 1 1 IN IP4 a\r\n"),
            SdpError::MissingLine { letter: 's' }
        );
        assert_eq!(
            err(&with("o=- 1 1 IN IP4 a\r\n")),
            SdpError::Duplicate {
                line: 6,
                letter: 'o'
            }
        );
        assert_eq!(
            err(&with("s=x\r\n")),
            SdpError::Duplicate {
                line: 6,
                letter: 's'
            }
        );
        assert_eq!(
            err(&with("c=IN IP4 192.0.2.2\r\n")),
            SdpError::Duplicate {
                line: 6,
                letter: 'c'
            }
        );
    }

    #[test]
    fn origin_errors_name_the_line() {
        assert_eq!(
            err("v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n"),
            SdpError::BadOrigin {
                line: 2,
                reason: "expected 6 fields"
            }
        );
        assert!(matches!(
            err("v=0\r\no=- x 1 IN IP4 a\r\ns=-\r\n"),
            SdpError::BadOrigin { line: 2, .. }
        ));
    }

    #[test]
    fn malformed_and_unknown_lines() {
        assert_eq!(
            err(&with("x=1\r\n")),
            SdpError::UnknownType {
                line: 6,
                letter: 'x'
            }
        );
        assert_eq!(
            err(&with("A=1\r\n")),
            SdpError::UnknownType {
                line: 6,
                letter: 'A'
            }
        );
        assert_eq!(err(&with("a\r\n")), SdpError::Malformed { line: 6 });
        assert_eq!(err(&with("\r\na=x\r\n")), SdpError::Malformed { line: 6 });
        assert_eq!(err(&with("a=x\ry\r\n")), SdpError::Malformed { line: 6 });
        assert_eq!(err(&with("a=\0\r\n")), SdpError::Malformed { line: 6 });
        assert_eq!(err(&with("a=\r\n")), SdpError::Malformed { line: 6 });
        assert_eq!(err(&with("a= x\r\n")), SdpError::Malformed { line: 6 });
        assert_eq!(err(&with(" =x\r\n")), SdpError::Malformed { line: 6 });
        let mut latin1 = with("i=").into_bytes();
        latin1.extend_from_slice(b"caf\xe9\r\n");
        assert_eq!(
            Session::parse(&latin1).unwrap_err(),
            SdpError::NotUtf8 { line: 6 }
        );
    }

    #[test]
    fn misplaced_lines() {
        assert_eq!(
            err(&with("m=audio 1 RTP/AVP 0\r\nt=0 0\r\n")),
            SdpError::Misplaced {
                line: 7,
                letter: 't'
            }
        );
        assert_eq!(
            err(&with("m=audio 1 RTP/AVP 0\r\no=- 1 1 IN IP4 a\r\n")),
            SdpError::Misplaced {
                line: 7,
                letter: 'o'
            }
        );
        assert_eq!(
            err("v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nr=7d 1h 0 25h\r\nt=0 0\r\n"),
            SdpError::Misplaced {
                line: 4,
                letter: 'r'
            }
        );
        assert_eq!(
            err(&with("m=audio 1 RTP/AVP 0\r\ni=a\r\ni=b\r\n")),
            SdpError::Duplicate {
                line: 8,
                letter: 'i'
            }
        );
    }

    #[test]
    fn media_line_errors() {
        let cases = [
            (
                "m=audio\r\n",
                SdpError::BadMedia {
                    line: 6,
                    reason: "missing port",
                },
            ),
            (
                "m=\r\n",
                SdpError::BadMedia {
                    line: 6,
                    reason: "missing media type",
                },
            ),
            (
                "m=audio 1\r\n",
                SdpError::BadMedia {
                    line: 6,
                    reason: "missing transport protocol",
                },
            ),
            (
                "m=audio 1 RTP/AVP\r\n",
                SdpError::BadMedia {
                    line: 6,
                    reason: "no formats",
                },
            ),
            ("m=audio 70000 RTP/AVP 0\r\n", SdpError::BadPort { line: 6 }),
            ("m=audio -1 RTP/AVP 0\r\n", SdpError::BadPort { line: 6 }),
            ("m=audio 1/x RTP/AVP 0\r\n", SdpError::BadPort { line: 6 }),
            (
                "m=audio 1 RTP/AVP 0 128\r\n",
                SdpError::PayloadTypeOutOfRange {
                    line: 6,
                    value: 128,
                },
            ),
            (
                "m=audio 1 RTP/AVP PCMU\r\n",
                SdpError::BadMedia {
                    line: 6,
                    reason: "RTP format is not a payload type number",
                },
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(err(&with(line)), expected, "{line}");
        }
        // Non-RTP transports have free-form formats.
        let s = Session::parse(
            with("m=image 5000 udptl t38\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(s.media[0].formats, vec!["t38"]);
        assert_eq!(s.media[1].formats, vec!["webrtc-datachannel"]);
        let s = Session::parse(with("m=audio 5004/2 RTP/AVP 0\r\n").as_bytes()).unwrap();
        assert_eq!((s.media[0].port, s.media[0].port_count), (5004, Some(2)));
    }

    #[test]
    fn typed_attribute_errors() {
        let media = "m=audio 1 RTP/AVP 0 96\r\n";
        let cases = [
            ("a=rtpmap:96 opus\r\n", "rtpmap"),
            ("a=rtpmap\r\n", "rtpmap"),
            ("a=fmtp:x y\r\n", "fmtp"),
            (
                "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\n",
                "crypto",
            ),
            ("a=rtcp:port\r\n", "rtcp"),
            ("a=ptime:twenty\r\n", "ptime"),
            ("a=maxptime:\r\n", "maxptime"),
        ];
        for (attr, name) in cases {
            match err(&with(&format!("{media}{attr}"))) {
                SdpError::BadAttribute {
                    line: 7, name: n, ..
                } => assert_eq!(n, name),
                other => panic!("{attr}: {other:?}"),
            }
        }
        assert_eq!(
            err(&with(&format!("{media}a=rtpmap:200 foo/8000\r\n"))),
            SdpError::PayloadTypeOutOfRange {
                line: 7,
                value: 200
            }
        );
        assert_eq!(
            err(&with(&format!("{media}a=fmtp:128 x\r\n"))),
            SdpError::PayloadTypeOutOfRange {
                line: 7,
                value: 128
            }
        );
        // rtpmap/fmtp are only typed inside RTP media sections.
        assert!(Session::parse(with("a=rtpmap:whatever\r\n").as_bytes()).is_ok());
        assert!(Session::parse(with("m=image 1 udptl t38\r\na=fmtp:t38 x\r\n").as_bytes()).is_ok());
    }

    #[test]
    fn other_line_errors() {
        assert!(matches!(
            err(&with("b=AS\r\n")),
            SdpError::BadBandwidth { line: 6 }
        ));
        assert!(matches!(
            err(&with("t=now\r\n")),
            SdpError::BadTiming { line: 6 }
        ));
        assert!(matches!(
            err("v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4\r\n"),
            SdpError::BadConnection { line: 4, .. }
        ));
    }

    #[test]
    fn limits() {
        let small = Limits {
            max_size: 200,
            max_lines: 8,
            max_media: 1,
            max_attributes: 2,
        };
        let big = vec![b'a'; 201];
        assert_eq!(
            Session::parse_with(&big, &small).unwrap_err(),
            SdpError::TooLarge {
                size: 201,
                max: 200
            }
        );
        let parse = |text: &str| Session::parse_with(text.as_bytes(), &small).unwrap_err();
        assert_eq!(
            parse(&with("m=audio 1 RTP/AVP 0\r\nm=audio 2 RTP/AVP 0\r\n")),
            SdpError::TooManyMedia { line: 7, max: 1 }
        );
        assert_eq!(
            parse(&with("a=a\r\na=b\r\na=c\r\n")),
            SdpError::TooManyAttributes { line: 8, max: 2 }
        );
        assert_eq!(
            parse(&with("e=a\r\ne=b\r\ne=c\r\ne=d\r\n")),
            SdpError::TooManyLines { line: 9, max: 8 }
        );
        assert_eq!(Limits::default().max_size, 65_536);
        let huge = vec![b'\n'; 70_000];
        assert!(matches!(
            Session::parse(&huge),
            Err(SdpError::TooLarge { .. })
        ));
    }

    #[test]
    fn every_line_type_is_kept() {
        let text = "v=0\r\n\
            o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n\
            s=SDP Seminar\r\n\
            i=A Seminar on the session description protocol\r\n\
            u=http://www.example.com/seminars/sdp.pdf\r\n\
            e=j.doe@example.com (Jane Doe)\r\n\
            p=+1 617 555-6011\r\n\
            c=IN IP4 224.2.17.12/127\r\n\
            b=CT:128\r\n\
            t=2873397496 2873404696\r\n\
            r=7d 1h 0 25h\r\n\
            t=0 0\r\n\
            z=2882844526 -1h 2898848070 0\r\n\
            k=prompt\r\n\
            a=recvonly\r\n\
            m=audio 49170 RTP/AVP 0\r\n\
            i=voice\r\n\
            c=IN IP4 224.2.17.13/127\r\n\
            b=AS:64\r\n\
            k=clear:secret\r\n\
            a=ice-ufrag: 6nxO\r\n\
            m=video 51372 RTP/AVP 99\r\n\
            a=rtpmap:99 h263-1998/90000\r\n";
        let s = Session::parse(text.as_bytes()).unwrap();
        assert_eq!(s.to_string(), text);
        assert_eq!(s.timings.len(), 2);
        assert_eq!(s.timings[0].repeats, vec!["7d 1h 0 25h"]);
        assert_eq!(s.connection.as_ref().unwrap().ttl, Some(127));
        assert_eq!(s.media[0].attributes[0].value.as_deref(), Some(" 6nxO"));
        assert_eq!(s.media[0].key.as_deref(), Some("clear:secret"));
    }

    #[test]
    fn out_of_order_lines_are_accepted_and_normalised() {
        let text = with("m=audio 1 RTP/AVP 0\r\na=sendrecv\r\nc=IN IP4 192.0.2.7\r\nb=AS:80\r\n");
        let s = Session::parse(text.as_bytes()).unwrap();
        assert_eq!(
            s.media[0].to_string(),
            "m=audio 1 RTP/AVP 0\r\nc=IN IP4 192.0.2.7\r\nb=AS:80\r\na=sendrecv\r\n"
        );
    }
}
