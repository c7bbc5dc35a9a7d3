//! DTMF in SIP INFO bodies: `application/dtmf-relay` (`Signal=5`,
//! `Duration=160` in milliseconds, one per line; the de-facto format of
//! Cisco and most SBCs, in no RFC) and `application/dtmf` (the key
//! alone, as some phones send it). The INFO method is RFC 6086; these
//! bodies predate its info packages and come without an `Info-Package`
//! header.
//!
//! Parsing is lenient where senders differ: names in any case, spaces
//! around names and values (`Signal= #`), LF or CRLF line ends, unknown
//! lines ignored, letters in either case, and the event codes 10-15 of
//! RFC 4733 §3.2 for `*`, `#`, `A`-`D`. A body that does not name exactly
//! one key is refused with a [`DtmfError`].

use std::fmt::Write as _;
use std::time::Duration;

use crate::dtmf::digit::DtmfDigit;
use crate::dtmf::error::DtmfError;

/// Longest value copied into an error.
const ERROR_VALUE_LEN: usize = 16;

/// The content types that carry DTMF in an INFO request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InfoContentType {
    /// `application/dtmf-relay`: `Signal=` and `Duration=` lines.
    DtmfRelay,
    /// `application/dtmf`: the key alone.
    Dtmf,
}

impl InfoContentType {
    /// The type of a `Content-Type` value (case-insensitive, parameters
    /// ignored), `None` if it does not carry DTMF.
    pub fn from_media_type(value: &str) -> Option<Self> {
        let essence = value.split(';').next().unwrap_or_default().trim();
        if essence.eq_ignore_ascii_case("application/dtmf-relay") {
            Some(InfoContentType::DtmfRelay)
        } else if essence.eq_ignore_ascii_case("application/dtmf") {
            Some(InfoContentType::Dtmf)
        } else {
            None
        }
    }

    /// The media type, for the `Content-Type` header.
    pub const fn as_str(self) -> &'static str {
        match self {
            InfoContentType::DtmfRelay => "application/dtmf-relay",
            InfoContentType::Dtmf => "application/dtmf",
        }
    }
}

/// A key press carried in a SIP INFO body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InfoDigit {
    /// The key.
    pub digit: DtmfDigit,
    /// How long it was held (`Duration=`), if the body says.
    pub duration: Option<Duration>,
}

impl InfoDigit {
    /// Reads an INFO body of the given `Content-Type` value.
    pub fn parse(content_type: &str, body: &[u8]) -> Result<Self, DtmfError> {
        match InfoContentType::from_media_type(content_type) {
            Some(InfoContentType::DtmfRelay) => Self::parse_dtmf_relay(body),
            Some(InfoContentType::Dtmf) => Self::parse_dtmf(body),
            None => Err(DtmfError::InfoContentType(cut(content_type.as_bytes()))),
        }
    }

    /// Reads an `application/dtmf-relay` body.
    pub fn parse_dtmf_relay(body: &[u8]) -> Result<Self, DtmfError> {
        let mut digit = None;
        let mut duration = None;
        for line in body.split(|&byte| byte == b'\n') {
            let Some(equals) = line.iter().position(|&byte| byte == b'=') else {
                continue;
            };
            let name = line[..equals].trim_ascii();
            let value = line[equals + 1..].trim_ascii();
            if name.eq_ignore_ascii_case(b"signal") {
                if digit.is_some() {
                    return Err(DtmfError::InfoDuplicateSignal);
                }
                digit = Some(signal(value)?);
            } else if name.eq_ignore_ascii_case(b"duration") {
                let millis = std::str::from_utf8(value)
                    .ok()
                    .and_then(|text| text.parse::<u32>().ok())
                    .ok_or_else(|| DtmfError::InfoDuration(cut(value)))?;
                duration = Some(Duration::from_millis(u64::from(millis)));
            }
        }
        let digit = digit.ok_or(DtmfError::InfoNoSignal)?;
        Ok(InfoDigit { digit, duration })
    }

    /// Reads an `application/dtmf` body: the key alone.
    pub fn parse_dtmf(body: &[u8]) -> Result<Self, DtmfError> {
        let value = body.trim_ascii();
        if value.is_empty() {
            return Err(DtmfError::InfoNoSignal);
        }
        Ok(InfoDigit {
            digit: signal(value)?,
            duration: None,
        })
    }

    /// The body for `content_type`: `Signal=5\r\nDuration=160\r\n` (the
    /// duration line only if known) or `5`.
    pub fn to_body(&self, content_type: InfoContentType) -> String {
        let mut body = String::with_capacity(32);
        match content_type {
            InfoContentType::DtmfRelay => {
                body.push_str("Signal=");
                body.push(self.digit.as_char());
                body.push_str("\r\n");
                if let Some(duration) = self.duration {
                    // Writing to a String cannot fail.
                    let _ = write!(body, "Duration={}\r\n", duration.as_millis());
                }
            }
            InfoContentType::Dtmf => body.push(self.digit.as_char()),
        }
        body
    }
}

/// The key named by a signal value: one key character or an RFC 4733
/// event code 0-15.
fn signal(value: &[u8]) -> Result<DtmfDigit, DtmfError> {
    let digit = match value {
        [single] => DtmfDigit::from_char(char::from(*single)),
        [b'1', second @ b'0'..=b'5'] => DtmfDigit::from_event_code(10 + second - b'0'),
        _ => None,
    };
    digit.ok_or_else(|| DtmfError::InfoSignal(cut(value)))
}

fn cut(value: &[u8]) -> String {
    String::from_utf8_lossy(&value[..value.len().min(ERROR_VALUE_LEN)]).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn relay(body: &str) -> Result<InfoDigit, DtmfError> {
        InfoDigit::parse("application/dtmf-relay", body.as_bytes())
    }

    #[test]
    fn the_usual_body() {
        assert_eq!(
            relay("Signal=5\r\nDuration=160\r\n"),
            Ok(InfoDigit {
                digit: DtmfDigit::Five,
                duration: Some(Duration::from_millis(160))
            })
        );
    }

    #[test]
    fn lenient_forms() {
        let pound = |body: &str| relay(body).map(|info| info.digit);
        assert_eq!(
            pound("Signal= #\r\nDuration= 250 \r\n"),
            Ok(DtmfDigit::Pound)
        );
        assert_eq!(pound("signal=#\nduration=250"), Ok(DtmfDigit::Pound));
        assert_eq!(pound("  SIGNAL =\t#  \r\n"), Ok(DtmfDigit::Pound));
        assert_eq!(pound("Signal=11\r\n"), Ok(DtmfDigit::Pound));
        assert_eq!(
            pound("Foo=bar\r\nbare line\r\nSignal=#"),
            Ok(DtmfDigit::Pound)
        );
        assert_eq!(relay("Signal=d").unwrap().digit, DtmfDigit::D);
        assert_eq!(relay("Signal=0").unwrap().duration, None);
        assert_eq!(relay("Signal=15").unwrap().digit, DtmfDigit::D);
        assert_eq!(relay("Signal=*").unwrap().digit, DtmfDigit::Star);
    }

    #[test]
    fn bad_bodies_have_typed_errors() {
        assert_eq!(relay(""), Err(DtmfError::InfoNoSignal));
        assert_eq!(relay("Duration=160\r\n"), Err(DtmfError::InfoNoSignal));
        assert_eq!(
            relay("Signal=\r\n"),
            Err(DtmfError::InfoSignal(String::new()))
        );
        assert_eq!(relay("Signal=55"), Err(DtmfError::InfoSignal("55".into())));
        assert_eq!(relay("Signal=16"), Err(DtmfError::InfoSignal("16".into())));
        assert_eq!(relay("Signal=E"), Err(DtmfError::InfoSignal("E".into())));
        assert_eq!(
            relay("Signal=1\r\nSignal=2"),
            Err(DtmfError::InfoDuplicateSignal)
        );
        assert_eq!(
            relay("Signal=1\r\nDuration=-5"),
            Err(DtmfError::InfoDuration("-5".into()))
        );
        assert_eq!(
            relay("Signal=1\r\nDuration=99999999999"),
            Err(DtmfError::InfoDuration("99999999999".into()))
        );
        assert_eq!(
            InfoDigit::parse("text/plain", b"5"),
            Err(DtmfError::InfoContentType("text/plain".into()))
        );
        assert_eq!(
            relay("Signal=\u{e9}"),
            Err(DtmfError::InfoSignal("\u{e9}".into()))
        );
    }

    #[test]
    fn application_dtmf() {
        let parse = |body: &[u8]| InfoDigit::parse("Application/DTMF; charset=x", body);
        assert_eq!(
            parse(b"7\r\n"),
            Ok(InfoDigit {
                digit: DtmfDigit::Seven,
                duration: None
            })
        );
        assert_eq!(
            parse(b" * "),
            Ok(InfoDigit {
                digit: DtmfDigit::Star,
                duration: None
            })
        );
        assert_eq!(parse(b"10").unwrap().digit, DtmfDigit::Star);
        assert_eq!(parse(b""), Err(DtmfError::InfoNoSignal));
        assert_eq!(parse(b"12a"), Err(DtmfError::InfoSignal("12a".into())));
    }

    #[test]
    fn writes_bodies_that_read_back() {
        let info = InfoDigit {
            digit: DtmfDigit::Pound,
            duration: Some(Duration::from_millis(160)),
        };
        let body = info.to_body(InfoContentType::DtmfRelay);
        assert_eq!(body, "Signal=#\r\nDuration=160\r\n");
        assert_eq!(InfoDigit::parse_dtmf_relay(body.as_bytes()), Ok(info));
        assert_eq!(info.to_body(InfoContentType::Dtmf), "#");
        let bare = InfoDigit {
            digit: DtmfDigit::A,
            duration: None,
        };
        assert_eq!(bare.to_body(InfoContentType::DtmfRelay), "Signal=A\r\n");
        assert_eq!(
            InfoContentType::from_media_type("application/dtmf-relay")
                .unwrap()
                .as_str(),
            "application/dtmf-relay"
        );
    }
}
