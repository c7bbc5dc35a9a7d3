//! CDR export: CSV (RFC 4180: CRLF line ends, fields with a comma,
//! quote, CR or LF quoted, quotes doubled) and JSON lines, with times in
//! RFC 3339 UTC; and the time parsing for `--since`.

use std::io::{self, Write};

use chrono::DateTime;
use serde_json::json;

use crate::cdr::Cdr;

/// The CSV header, also the JSON field names.
pub const CDR_COLUMNS: [&str; 14] = [
    "interaction",
    "tenant",
    "started_at",
    "ended_at",
    "caller",
    "did",
    "flow_path",
    "queue",
    "wait_ms",
    "agent",
    "talk_ms",
    "hold_ms",
    "outcome",
    "transfer_target",
];

/// Writes a header and one CSV row per CDR; the flow path is its steps
/// joined with `>`; absent values are empty.
pub fn export_csv<'a>(
    mut writer: impl Write,
    cdrs: impl IntoIterator<Item = &'a Cdr>,
) -> io::Result<()> {
    write_row(&mut writer, CDR_COLUMNS.iter().map(|c| (*c).to_owned()))?;
    export_csv_rows(writer, cdrs)
}

/// [`export_csv`] without the header line: for the pages after the first.
pub fn export_csv_rows<'a>(
    mut writer: impl Write,
    cdrs: impl IntoIterator<Item = &'a Cdr>,
) -> io::Result<()> {
    for cdr in cdrs {
        let optional = |value: Option<String>| value.unwrap_or_default();
        write_row(
            &mut writer,
            [
                cdr.interaction.clone(),
                cdr.tenant.to_string(),
                format_unix_ms(cdr.started_at_unix_ms),
                format_unix_ms(cdr.ended_at_unix_ms),
                optional(cdr.caller.clone()),
                optional(cdr.did.clone()),
                cdr.flow_path.join(">"),
                optional(cdr.queue.map(|n| n.to_string())),
                optional(cdr.wait_ms.map(|n| n.to_string())),
                optional(cdr.agent.map(|n| n.to_string())),
                optional(cdr.talk_ms.map(|n| n.to_string())),
                cdr.hold_ms.to_string(),
                cdr.outcome.as_str().to_owned(),
                optional(cdr.transfer_target.clone()),
            ],
        )?;
    }
    writer.flush()
}

fn write_row(writer: &mut impl Write, fields: impl IntoIterator<Item = String>) -> io::Result<()> {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            writer.write_all(b",")?;
        }
        if field.contains([',', '"', '\r', '\n']) {
            write!(writer, "\"{}\"", field.replace('"', "\"\""))?;
        } else {
            writer.write_all(field.as_bytes())?;
        }
    }
    writer.write_all(b"\r\n")
}

/// Writes one JSON object per line per CDR (fields as [`CDR_COLUMNS`];
/// the flow path is an array, absent values are `null`).
pub fn export_json<'a>(
    mut writer: impl Write,
    cdrs: impl IntoIterator<Item = &'a Cdr>,
) -> io::Result<()> {
    for cdr in cdrs {
        let object = json!({
            "interaction": cdr.interaction,
            "tenant": cdr.tenant,
            "started_at": format_unix_ms(cdr.started_at_unix_ms),
            "ended_at": format_unix_ms(cdr.ended_at_unix_ms),
            "caller": cdr.caller,
            "did": cdr.did,
            "flow_path": cdr.flow_path,
            "queue": cdr.queue,
            "wait_ms": cdr.wait_ms,
            "agent": cdr.agent,
            "talk_ms": cdr.talk_ms,
            "hold_ms": cdr.hold_ms,
            "outcome": cdr.outcome.as_str(),
            "transfer_target": cdr.transfer_target,
        });
        serde_json::to_writer(&mut writer, &object)?;
        writer.write_all(b"\n")?;
    }
    writer.flush()
}

/// `2024-05-01T12:30:00.250Z` for a time in ms since the Unix epoch; a
/// time beyond chrono's range (some 262,000 years) as its number of ms.
pub fn format_unix_ms(unix_ms: i64) -> String {
    match DateTime::from_timestamp_millis(unix_ms) {
        Some(time) => time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => unix_ms.to_string(),
    }
}

/// A `--since` value as ms since the Unix epoch: `2024-05-01`,
/// `2024-05-01T12:30`, `2024-05-01T12:30:00Z`, `2024-05-01T12:30:00.250Z`
/// (UTC; a trailing `Z` is optional, a space may replace `T`), or a
/// number of seconds since the epoch. `None` if it is none of these.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().ok()?.checked_mul(1000);
    }
    // Completed to an RFC 3339 UTC date-time, which chrono parses.
    let text = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    let (date, time) = text.split_once(['T', 't', ' ']).unwrap_or((text, "00:00"));
    let seconds = if time.len() == "hh:mm".len() {
        ":00"
    } else {
        ""
    };
    let time = DateTime::parse_from_rfc3339(&format!("{date}T{time}{seconds}Z")).ok()?;
    Some(time.timestamp_millis())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cdr::Outcome;

    fn cdr() -> Cdr {
        Cdr {
            interaction: "call-1".into(),
            completed_seq: 7,
            tenant: 3,
            started_at_unix_ms: 1_714_566_600_250,
            ended_at_unix_ms: 1_714_566_660_000,
            caller: Some("+15550100".into()),
            did: None,
            flow_path: vec!["main:menu".into(), "main:\"sales\", EU".into()],
            queue: Some(2),
            wait_ms: Some(1500),
            agent: None,
            talk_ms: None,
            hold_ms: 0,
            outcome: Outcome::Abandoned,
            transfer_target: Some("line1\nline2".into()),
        }
    }

    #[test]
    fn csv_quotes_per_rfc_4180() {
        let mut out = Vec::new();
        export_csv(&mut out, &[cdr()]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "interaction,tenant,started_at,ended_at,caller,did,flow_path,queue,wait_ms,agent,talk_ms,hold_ms,outcome,transfer_target\r\n\
             call-1,3,2024-05-01T12:30:00.250Z,2024-05-01T12:31:00.000Z,+15550100,,\
             \"main:menu>main:\"\"sales\"\", EU\",2,1500,,,0,abandoned,\"line1\nline2\"\r\n"
        );
    }

    #[test]
    fn json_lines_parse_back() {
        let mut out = Vec::new();
        export_json(&mut out, &[cdr(), cdr()]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let value: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(value["flow_path"][1], "main:\"sales\", EU");
        assert_eq!(value["did"], serde_json::Value::Null);
        assert_eq!(value["outcome"], "abandoned");
        assert_eq!(value["started_at"], "2024-05-01T12:30:00.250Z");
    }

    #[test]
    fn times_format_and_parse() {
        assert_eq!(format_unix_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_unix_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_unix_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_unix_ms(i64::MAX), i64::MAX.to_string());
        assert_eq!(parse_time("2000-02-29"), Some(951_782_400_000));
        assert_eq!(
            parse_time("2024-05-01T12:30:00.25Z"),
            Some(1_714_566_600_250)
        );
        assert_eq!(parse_time("2024-05-01 12:30"), Some(1_714_566_600_000));
        assert_eq!(parse_time("1714566600"), Some(1_714_566_600_000));
        for bad in [
            "",
            "2023-02-29",
            "2024-13-01",
            "2024-05-01T24:00:00Z",
            "yesterday",
            "2024-5-1",
            "2024-05-01T",
            "2024-05-01T12",
            "2024-05-01T12:30:00+02:00",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        for ms in [
            0,
            1,
            86_399_999,
            1_714_566_600_250,
            -5_000_000_000_000,
            253_402_300_799_999,
        ] {
            assert_eq!(parse_time(&format_unix_ms(ms)), Some(ms));
        }
    }
}
