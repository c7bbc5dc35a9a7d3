//! Business hours: weekly opening spans in an IANA time zone
//! (chrono-tz), holidays (one date, or a month and day every year), and
//! overrides (a date with its own hours).
//!
//! A moment is judged in the schedule's wall time, so daylight saving
//! moves nothing: `08:00-18:00` in `Europe/London` opens at 08:00 local
//! in winter and in summer. For a date, an override comes first (its
//! spans, or closed if it has none), then a holiday, then the weekly
//! hours. Spans end before their end minute; `24:00` ends a day. A span
//! never crosses midnight: write `22:00-24:00` and `00:00-06:00`.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Datelike, NaiveDate, Timelike};
use chrono_tz::Tz;

use crate::error::FlowErrorKind;
use crate::flow::raw::RawSchedule;

/// Whether a schedule is open at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScheduleState {
    /// Within opening hours.
    Open,
    /// Outside opening hours on an ordinary day (or an override without
    /// hours).
    Closed,
    /// A holiday (no override for the date).
    Holiday,
}

/// An opening span in minutes since local midnight, `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Span {
    start: u16,
    end: u16,
}

impl Span {
    fn contains(self, minute: u16) -> bool {
        self.start <= minute && minute < self.end
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HolidayDate {
    Once(NaiveDate),
    EveryYear { month: u32, day: u32 },
}

impl HolidayDate {
    fn is(self, date: NaiveDate) -> bool {
        match self {
            HolidayDate::Once(once) => once == date,
            HolidayDate::EveryYear { month, day } => date.month() == month && date.day() == day,
        }
    }
}

/// A validated schedule.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub(crate) id: String,
    zone: Tz,
    /// Monday first.
    week: [Vec<Span>; 7],
    holidays: Vec<HolidayDate>,
    overrides: BTreeMap<NaiveDate, Vec<Span>>,
}

impl Schedule {
    /// The schedule, or `None` after reporting every problem to `report`.
    pub(crate) fn build(raw: RawSchedule, report: &mut dyn FnMut(FlowErrorKind)) -> Option<Self> {
        let mut ok = true;
        let mut fail = |kind| {
            ok = false;
            report(kind);
        };
        let id = raw.id;
        let zone = match raw.time_zone.parse::<Tz>() {
            Ok(zone) => Some(zone),
            Err(_) => {
                fail(FlowErrorKind::UnknownTimeZone {
                    schedule: id.clone(),
                    zone: raw.time_zone.clone(),
                });
                None
            }
        };
        let mut week: [Vec<Span>; 7] = Default::default();
        for (slot, (day, hours)) in week.iter_mut().zip(raw.hours.days()) {
            *slot = spans(&id, day, hours, &mut fail);
        }
        let mut holidays = Vec::new();
        for holiday in &raw.holidays {
            match parse_date(&holiday.date) {
                Some(date) => holidays.push(date),
                None => fail(FlowErrorKind::BadDate {
                    schedule: id.clone(),
                    date: holiday.date.clone(),
                }),
            }
        }
        let mut overrides = BTreeMap::new();
        for special in &raw.overrides {
            let Some(HolidayDate::Once(date)) = parse_date(&special.date) else {
                fail(FlowErrorKind::BadDate {
                    schedule: id.clone(),
                    date: special.date.clone(),
                });
                continue;
            };
            let day_spans = spans(&id, &special.date, &special.hours, &mut fail);
            if overrides.insert(date, day_spans).is_some() {
                fail(FlowErrorKind::BadHours {
                    schedule: id.clone(),
                    day: special.date.clone(),
                    hours: special.hours.join(", "),
                    why: "the date has another override",
                });
            }
        }
        let zone = zone?;
        ok.then_some(Self {
            id,
            zone,
            week,
            holidays,
            overrides,
        })
    }

    /// The schedule's state at `at`.
    pub(crate) fn state_at(&self, at: SystemTime) -> ScheduleState {
        let local = utc(at).with_timezone(&self.zone);
        let date = local.date_naive();
        // At most 24 x 60: fits.
        let minute = (local.hour() * 60 + local.minute()) as u16;
        let open = |spans: &[Span]| spans.iter().any(|span| span.contains(minute));
        if let Some(spans) = self.overrides.get(&date) {
            return if open(spans) {
                ScheduleState::Open
            } else {
                ScheduleState::Closed
            };
        }
        if self.holidays.iter().any(|holiday| holiday.is(date)) {
            return ScheduleState::Holiday;
        }
        let weekday = local.weekday().num_days_from_monday() as usize;
        match self.week.get(weekday) {
            Some(spans) if open(spans) => ScheduleState::Open,
            _ => ScheduleState::Closed,
        }
    }
}

/// `at` as a UTC date and time; moments outside chrono's range (far
/// beyond any call) clamp to the epoch.
fn utc(at: SystemTime) -> DateTime<chrono::Utc> {
    let moment = match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs())
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, after.subsec_nanos())),
        Err(before) => i64::try_from(before.duration().as_secs())
            .ok()
            .and_then(|secs| DateTime::from_timestamp(-secs, 0)),
    };
    moment.unwrap_or(DateTime::UNIX_EPOCH)
}

/// `YYYY-MM-DD` (once) or `MM-DD` (every year).
fn parse_date(text: &str) -> Option<HolidayDate> {
    let parts: Vec<&str> = text.split('-').collect();
    let number = |part: &str, len: usize| -> Option<u32> {
        if part.len() == len && part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    match parts.as_slice() {
        [year, month, day] => {
            let year = i32::try_from(number(year, 4)?).ok()?;
            NaiveDate::from_ymd_opt(year, number(month, 2)?, number(day, 2)?).map(HolidayDate::Once)
        }
        [month, day] => {
            let (month, day) = (number(month, 2)?, number(day, 2)?);
            // 2000 is a leap year: 02-29 is a holiday in leap years.
            NaiveDate::from_ymd_opt(2000, month, day)?;
            Some(HolidayDate::EveryYear { month, day })
        }
        _ => None,
    }
}

/// The spans of one day, sorted; problems reported.
fn spans(
    schedule: &str,
    day: &str,
    hours: &[String],
    fail: &mut dyn FnMut(FlowErrorKind),
) -> Vec<Span> {
    let mut spans = Vec::new();
    for text in hours {
        let bad = |why| FlowErrorKind::BadHours {
            schedule: schedule.to_owned(),
            day: day.to_owned(),
            hours: text.clone(),
            why,
        };
        let Some((start, end)) = text.split_once('-') else {
            fail(bad("expected HH:MM-HH:MM"));
            continue;
        };
        let (Some(start), Some(end)) = (parse_time(start.trim()), parse_time(end.trim())) else {
            fail(bad("expected HH:MM-HH:MM, 00:00 to 24:00"));
            continue;
        };
        if start >= end {
            fail(bad(
                "the span ends before it starts (split spans that cross midnight)",
            ));
            continue;
        }
        spans.push(Span { start, end });
    }
    spans.sort();
    for pair in spans.windows(2) {
        if let [first, second] = pair {
            if second.start < first.end {
                fail(FlowErrorKind::BadHours {
                    schedule: schedule.to_owned(),
                    day: day.to_owned(),
                    hours: hours.join(", "),
                    why: "two spans overlap",
                });
                break;
            }
        }
    }
    spans
}

/// `HH:MM` as minutes since midnight, `24:00` included.
fn parse_time(text: &str) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    let two_digits = |part: &str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(hours) || !two_digits(minutes) {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    if minutes > 59 || hours > 24 || (hours == 24 && minutes != 0) {
        return None;
    }
    Some(hours * 60 + minutes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;
    use crate::flow::raw::{RawHoliday, RawOverride, RawWeek};

    fn at(rfc3339: &str) -> SystemTime {
        let moment = DateTime::parse_from_rfc3339(rfc3339).unwrap();
        UNIX_EPOCH + Duration::from_secs(moment.timestamp() as u64)
    }

    fn london() -> RawSchedule {
        let weekdays = vec!["08:00-12:00".to_owned(), "13:00-18:00".to_owned()];
        RawSchedule {
            id: "office".into(),
            time_zone: "Europe/London".into(),
            hours: RawWeek {
                mon: weekdays.clone(),
                tue: weekdays.clone(),
                wed: weekdays.clone(),
                thu: weekdays.clone(),
                fri: weekdays,
                sat: vec!["10:00-14:00".into()],
                sun: vec![],
            },
            holidays: vec![
                RawHoliday {
                    date: "12-25".into(),
                    name: "Christmas".into(),
                },
                RawHoliday {
                    date: "2026-05-04".into(),
                    name: "Early May bank holiday".into(),
                },
            ],
            overrides: vec![RawOverride {
                date: "2026-12-24".into(),
                hours: vec!["08:00-12:30".into()],
                name: "Christmas Eve".into(),
            }],
        }
    }

    fn build(raw: RawSchedule) -> Result<Schedule, Vec<FlowErrorKind>> {
        let mut errors = Vec::new();
        match Schedule::build(raw, &mut |e| errors.push(e)) {
            Some(schedule) if errors.is_empty() => Ok(schedule),
            _ => Err(errors),
        }
    }

    #[test]
    fn weekly_hours_in_local_time_across_daylight_saving() {
        let office = build(london()).unwrap();
        // Winter (UTC+0): Monday 12 January 2026.
        assert_eq!(
            office.state_at(at("2026-01-12T07:59:00Z")),
            ScheduleState::Closed
        );
        assert_eq!(
            office.state_at(at("2026-01-12T08:00:00Z")),
            ScheduleState::Open
        );
        assert_eq!(
            office.state_at(at("2026-01-12T12:15:00Z")),
            ScheduleState::Closed
        );
        assert_eq!(
            office.state_at(at("2026-01-12T17:59:59Z")),
            ScheduleState::Open
        );
        assert_eq!(
            office.state_at(at("2026-01-12T18:00:00Z")),
            ScheduleState::Closed
        );
        // Summer (UTC+1): 08:00 local is 07:00 UTC.
        assert_eq!(
            office.state_at(at("2026-07-13T07:00:00Z")),
            ScheduleState::Open
        );
        assert_eq!(
            office.state_at(at("2026-07-13T06:59:00Z")),
            ScheduleState::Closed
        );
        // Saturday and Sunday.
        assert_eq!(
            office.state_at(at("2026-01-17T10:30:00Z")),
            ScheduleState::Open
        );
        assert_eq!(
            office.state_at(at("2026-01-18T10:30:00Z")),
            ScheduleState::Closed
        );
    }

    #[test]
    fn holidays_and_overrides() {
        let office = build(london()).unwrap();
        // Every year, whatever the weekday.
        assert_eq!(
            office.state_at(at("2026-12-25T10:00:00Z")),
            ScheduleState::Holiday
        );
        assert_eq!(
            office.state_at(at("2031-12-25T10:00:00Z")),
            ScheduleState::Holiday
        );
        // Once: Monday 4 May 2026 (10:00 local = 09:00 UTC), not 2027.
        assert_eq!(
            office.state_at(at("2026-05-04T09:00:00Z")),
            ScheduleState::Holiday
        );
        assert_eq!(
            office.state_at(at("2027-05-04T09:00:00Z")),
            ScheduleState::Open
        );
        // The override replaces Thursday's hours.
        assert_eq!(
            office.state_at(at("2026-12-24T12:15:00Z")),
            ScheduleState::Open
        );
        assert_eq!(
            office.state_at(at("2026-12-24T13:30:00Z")),
            ScheduleState::Closed
        );
    }

    #[test]
    fn local_date_decides_the_holiday() {
        let mut raw = london();
        raw.time_zone = "America/New_York".into();
        raw.hours.thu = vec!["00:00-24:00".into()];
        let office = build(raw).unwrap();
        // 03:00 UTC on 26 December is still Christmas evening in New York.
        assert_eq!(
            office.state_at(at("2025-12-26T03:00:00Z")),
            ScheduleState::Holiday
        );
        // 2026-01-01 05:30 UTC is Thursday 00:30 in New York.
        assert_eq!(
            office.state_at(at("2026-01-01T05:30:00Z")),
            ScheduleState::Open
        );
    }

    #[test]
    fn bad_zone_hours_and_dates_are_all_reported() {
        let mut raw = london();
        raw.time_zone = "Europe/Atlantis".into();
        raw.hours.mon = vec![
            "8:00-12:00".into(),
            "18:00-09:00".into(),
            "10:00-25:00".into(),
            "0900".into(),
        ];
        raw.hours.tue = vec!["08:00-12:00".into(), "11:00-13:00".into()];
        raw.holidays.push(RawHoliday {
            date: "2026-02-30".into(),
            name: String::new(),
        });
        raw.overrides.push(RawOverride {
            date: "12-24".into(),
            hours: vec![],
            name: String::new(),
        });
        let errors = build(raw).unwrap_err();
        assert!(errors.contains(&FlowErrorKind::UnknownTimeZone {
            schedule: "office".into(),
            zone: "Europe/Atlantis".into()
        }));
        let hours: Vec<(&str, &str)> = errors
            .iter()
            .filter_map(|e| match e {
                FlowErrorKind::BadHours { day, hours, .. } => Some((day.as_str(), hours.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            hours,
            [
                ("mon", "8:00-12:00"),
                ("mon", "18:00-09:00"),
                ("mon", "10:00-25:00"),
                ("mon", "0900"),
                ("tue", "08:00-12:00, 11:00-13:00"),
            ]
        );
        let dates: Vec<&str> = errors
            .iter()
            .filter_map(|e| match e {
                FlowErrorKind::BadDate { date, .. } => Some(date.as_str()),
                _ => None,
            })
            .collect();
        // An override is for one date, not every year.
        assert_eq!(dates, ["2026-02-30", "12-24"]);
    }

    #[test]
    fn dates_and_times_parse_strictly() {
        assert_eq!(parse_time("24:00"), Some(1440));
        assert_eq!(parse_time("00:00"), Some(0));
        assert_eq!(parse_time("24:01"), None);
        assert_eq!(parse_time("12:60"), None);
        assert_eq!(parse_time("+1:00"), None);
        assert_eq!(
            parse_date("02-29"),
            Some(HolidayDate::EveryYear { month: 2, day: 29 })
        );
        assert_eq!(parse_date("2027-02-29"), None);
        assert_eq!(parse_date("2026-1-05"), None);
        assert_eq!(parse_date("+026-01-05"), None);
    }
}
