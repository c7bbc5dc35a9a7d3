//! The time formats of Microsoft Graph: `DateTimeOffset` values
//! (RFC 3339, written by Graph in UTC with seven fractional digits, e.g.
//! `2024-05-01T12:30:00.0000000Z`) and ISO 8601 durations (`PT5M`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECS_PER_DAY: i64 = 86_400;

/// `2024-05-01T12:30:00.2500000Z`, as Graph writes `expirationDateTime`.
pub(crate) fn format_datetime(time: SystemTime) -> String {
    let (secs, nanos) = unix(time);
    let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let of_day = secs.rem_euclid(SECS_PER_DAY);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:07}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        nanos / 100
    )
}

/// `2024-05-01 12:30:00Z`, as Entra ID writes `timestamp` in errors.
pub(crate) fn format_entra_timestamp(time: SystemTime) -> String {
    let (secs, _) = unix(time);
    let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let of_day = secs.rem_euclid(SECS_PER_DAY);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

fn unix(time: SystemTime) -> (i64, u32) {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => (
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2),
            since.subsec_nanos(),
        ),
        Err(_) => (0, 0),
    }
}

/// An RFC 3339 date-time (`Z` or a `±hh:mm` offset, any number of
/// fractional digits); `None` if malformed or before 1970.
pub(crate) fn parse_datetime(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let (date, rest) = text.split_once(['T', 't'])?;
    let mut parts = date.splitn(3, '-');
    let year = digits(parts.next()?, 4)?;
    let month = digits(parts.next()?, 2)?;
    let day = digits(parts.next()?, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let (time, offset_secs) = if let Some(time) = rest.strip_suffix(['Z', 'z']) {
        (time, 0)
    } else {
        let at = rest.rfind(['+', '-'])?;
        let (time, offset) = rest.split_at(at);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let (hours, minutes) = offset.get(1..)?.split_once(':')?;
        let offset = digits(hours, 2)? * 3600 + digits(minutes, 2)? * 60;
        (time, sign * offset)
    };
    let (hms, fraction) = match time.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (time, None),
    };
    let mut fields = hms.splitn(3, ':');
    let hour = digits(fields.next()?, 2)?;
    let minute = digits(fields.next()?, 2)?;
    let second = digits(fields.next()?, 2)?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let nanos = match fraction {
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            let nine: String = f.chars().chain(std::iter::repeat('0')).take(9).collect();
            nine.parse::<u32>().ok()?
        }
        Some(_) => return None,
        None => 0,
    };
    let secs =
        days_from_civil(year, month, day) * SECS_PER_DAY + (hour * 60 + minute) * 60 + second
            - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// An ISO 8601 duration of days, hours, minutes and seconds
/// (`P1D`, `PT5M`, `PT1H30M`, `PT0.5S`); weeks, months and years are
/// refused (Graph uses none of them here).
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let rest = text.trim().strip_prefix(['P', 'p'])?;
    let (days, time) = match rest.split_once(['T', 't']) {
        Some((days, time)) => (days, Some(time)),
        None => (rest, None),
    };
    let mut total = 0f64;
    let mut any = false;
    if !days.is_empty() {
        let count = days.strip_suffix(['D', 'd'])?;
        total += number(count)? * 86_400.0;
        any = true;
    }
    if let Some(mut time) = time {
        if time.is_empty() {
            return None;
        }
        for (unit, scale) in [('H', 3600.0), ('M', 60.0), ('S', 1.0)] {
            if let Some(at) = time.find([unit, unit.to_ascii_lowercase()]) {
                total += number(&time[..at])? * scale;
                time = &time[at + 1..];
                any = true;
            }
        }
        if !time.is_empty() {
            return None;
        }
    }
    if !any || !total.is_finite() {
        return None;
    }
    Duration::try_from_secs_f64(total).ok()
}

fn number(text: &str) -> Option<f64> {
    let good = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|b| *b == b'.').count() <= 1;
    good.then(|| text.parse().ok()).flatten()
}

fn digits(text: &str, len: usize) -> Option<i64> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's `days_from_civil`: days since 1970-01-01.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_round_trip_in_graph_format() {
        let time = UNIX_EPOCH + Duration::new(1_714_566_600, 250_000_000);
        let text = format_datetime(time);
        assert_eq!(text, "2024-05-01T12:30:00.2500000Z");
        assert_eq!(parse_datetime(&text), Some(time));
        assert_eq!(format_entra_timestamp(time), "2024-05-01 12:30:00Z");
    }

    #[test]
    fn datetimes_with_offsets_and_bad_ones() {
        let utc = parse_datetime("2024-05-01T12:30:00Z").unwrap();
        assert_eq!(parse_datetime("2024-05-01T14:30:00+02:00"), Some(utc));
        assert_eq!(parse_datetime("2024-05-01T10:30:00.000-02:00"), Some(utc));
        for bad in [
            "",
            "2024-05-01",
            "2024-13-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-05-01T25:00:00Z",
            "2024-05-01T12:30:00",
            "2024-05-01T12:30:00.Z",
            "1969-12-31T23:59:59Z",
            "2024-05-01T12:30:00+0200",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn iso_durations() {
        assert_eq!(parse_duration("PT5M"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("PT4H"), Some(Duration::from_secs(14_400)));
        assert_eq!(
            parse_duration("P1DT1H30M"),
            Some(Duration::from_secs(91_800))
        );
        assert_eq!(parse_duration("PT0.5S"), Some(Duration::from_millis(500)));
        for bad in ["", "P", "PT", "5M", "PT5", "PT5X", "P1W", "PT-5M", "PT1M2H"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
