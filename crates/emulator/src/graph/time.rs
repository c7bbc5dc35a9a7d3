//! The time formats of Microsoft Graph: `DateTimeOffset` values
//! (RFC 3339, written by Graph in UTC with seven fractional digits, e.g.
//! `2024-05-01T12:30:00.0000000Z`) and ISO 8601 durations (`PT5M`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

/// `2024-05-01T12:30:00.2500000Z`, as Graph writes `expirationDateTime`
/// (chrono writes 3, 6 or 9 fractional digits, Graph 7).
pub(crate) fn format_datetime(time: SystemTime) -> String {
    let time = utc(time);
    let ticks = time.timestamp_subsec_nanos() / 100;
    format!("{}.{ticks:07}Z", time.format("%Y-%m-%dT%H:%M:%S"))
}

/// `2024-05-01T12:30:00Z`, as Graph writes `date` in an error's
/// `innerError`.
pub(crate) fn format_error_date(time: SystemTime) -> String {
    utc(time).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `2024-05-01 12:30:00Z`, as Entra ID writes `timestamp` in errors.
pub(crate) fn format_entra_timestamp(time: SystemTime) -> String {
    utc(time).format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// A time before 1970 counts as 1970, one beyond chrono's range (the
/// year 262142) as its end.
fn utc(time: SystemTime) -> DateTime<Utc> {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_secs())
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, since.subsec_nanos()))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// An RFC 3339 date-time (`Z` or a `±hh:mm` offset, any number of
/// fractional digits); `None` if malformed or before 1970.
pub(crate) fn parse_datetime(text: &str) -> Option<SystemTime> {
    let time = DateTime::parse_from_rfc3339(text.trim()).ok()?;
    let secs = u64::try_from(time.timestamp()).ok()?;
    // A leap second (`:60`) has nanoseconds past 10^9: the next second.
    UNIX_EPOCH.checked_add(Duration::new(secs, time.timestamp_subsec_nanos()))
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
        assert_eq!(format_error_date(time), "2024-05-01T12:30:00Z");
        assert_eq!(format_datetime(UNIX_EPOCH), "1970-01-01T00:00:00.0000000Z");
    }

    #[test]
    fn datetimes_with_offsets_and_bad_ones() {
        let utc = parse_datetime("2024-05-01T12:30:00Z").unwrap();
        assert_eq!(parse_datetime("2024-05-01T14:30:00+02:00"), Some(utc));
        assert_eq!(parse_datetime("2024-05-01T10:30:00.000-02:00"), Some(utc));
        assert_eq!(
            parse_datetime("2016-12-31T23:59:60Z"),
            parse_datetime("2017-01-01T00:00:00Z"),
            "a leap second"
        );
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
