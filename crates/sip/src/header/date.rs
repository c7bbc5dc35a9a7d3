//! The Date header (RFC 3261 §20.17): an RFC 1123 date, always in GMT.

use std::fmt;

use super::map::Headers;
use super::name::HeaderName;
use crate::error::HeaderError;

/// A SIP-date: `Sat, 13 Nov 2010 23:29:00 GMT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SipDate {
    /// Year, four digits.
    pub year: u16,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of the month, 1..=31.
    pub day: u8,
    /// Hour, 0..=23.
    pub hour: u8,
    /// Minute, 0..=59.
    pub minute: u8,
    /// Second, 0..=60 (leap second).
    pub second: u8,
    /// Day of the week as written, 0 = Monday.
    pub weekday: u8,
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl fmt::Display for SipDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let weekday = WEEKDAYS
            .get(usize::from(self.weekday))
            .copied()
            .unwrap_or("Mon");
        let month = MONTHS
            .get(usize::from(self.month).wrapping_sub(1))
            .copied()
            .unwrap_or("Jan");
        write!(
            f,
            "{weekday}, {:02} {month} {:04} {:02}:{:02}:{:02} GMT",
            self.day, self.year, self.hour, self.minute, self.second
        )
    }
}

fn digits<const N: usize>(s: &[u8]) -> Option<u16> {
    if s.len() != N || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0')))
}

/// `wkday "," SP 2DIGIT SP month SP 4DIGIT SP 2DIGIT ":" 2DIGIT ":" 2DIGIT SP "GMT"`.
pub(crate) fn parse_date(s: &str) -> Result<SipDate, &'static str> {
    let b = s.as_bytes();
    if b.len() != 29
        || &b[3..5] != b", "
        || b[7] != b' '
        || b[11] != b' '
        || b[16] != b' '
        || b[19] != b':'
        || b[22] != b':'
        || b[25] != b' '
    {
        return Err("not an RFC 1123 date");
    }
    if &b[26..] != b"GMT" {
        return Err("time zone is not GMT");
    }
    let weekday = WEEKDAYS
        .iter()
        .position(|w| w.as_bytes() == &b[..3])
        .ok_or("unknown weekday")?;
    let month = MONTHS
        .iter()
        .position(|m| m.as_bytes() == &b[8..11])
        .ok_or("unknown month")?;
    let number = |range: std::ops::Range<usize>, max: u16| -> Result<u16, &'static str> {
        let n = match range.len() {
            2 => digits::<2>(&b[range]),
            _ => digits::<4>(&b[range]),
        };
        n.filter(|&n| n <= max).ok_or("number out of range")
    };
    let day = number(5..7, 31)?;
    if day == 0 {
        return Err("number out of range");
    }
    Ok(SipDate {
        day: day as u8,
        month: month as u8 + 1,
        year: number(12..16, 9999)?,
        hour: number(17..19, 23)? as u8,
        minute: number(20..22, 59)? as u8,
        second: number(23..25, 60)? as u8,
        weekday: weekday as u8,
    })
}

impl Headers {
    /// Date (RFC 3261 §20.17).
    pub fn date(&self) -> Result<Option<SipDate>, HeaderError> {
        match self.first_str(HeaderName::Date)? {
            None => Ok(None),
            Some(v) => parse_date(v)
                .map(Some)
                .map_err(|r| HeaderError::invalid("Date", r)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let d = parse_date("Sat, 13 Nov 2010 23:29:00 GMT").unwrap();
        assert_eq!(
            (d.year, d.month, d.day, d.hour, d.minute, d.second, d.weekday),
            (2010, 11, 13, 23, 29, 0, 5)
        );
        assert_eq!(d.to_string(), "Sat, 13 Nov 2010 23:29:00 GMT");
        assert_eq!(
            parse_date("Fri, 01 Jan 2010 16:00:00 EST"),
            Err("time zone is not GMT")
        );
        assert_eq!(
            parse_date("Sat, 13 Nov 2010 24:29:00 GMT"),
            Err("number out of range")
        );
        assert_eq!(
            parse_date("Sat, 13 Foo 2010 23:29:00 GMT"),
            Err("unknown month")
        );
        assert_eq!(
            parse_date("Sat 13 Nov 2010 23:29:00 GMT"),
            Err("not an RFC 1123 date")
        );
        assert_eq!(
            parse_date("Sat, 1x Nov 2010 23:29:00 GMT"),
            Err("number out of range")
        );
    }
}
