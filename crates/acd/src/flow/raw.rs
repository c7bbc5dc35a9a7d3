//! The flow file format as written (TOML or JSON), before validation.
//! Every text is parsed into a `serde_json::Value` first (TOML dates and
//! times become strings), then the header, each schedule and each node
//! are read on their own, so that a mistake names its node and one bad
//! node does not hide the others.

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::error::FlowErrorKind;

/// The parts of a flow file; schedules and nodes stay untyped here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFlow {
    pub(crate) id: u32,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) entry: String,
    pub(crate) max_prompt_time: Option<f64>,
    #[serde(default)]
    pub(crate) schedules: Vec<serde_json::Value>,
    #[serde(default)]
    pub(crate) nodes: Vec<serde_json::Value>,
}

/// Business hours: weekly spans in a time zone, holidays, and dates whose
/// hours differ.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSchedule {
    pub(crate) id: String,
    pub(crate) time_zone: String,
    #[serde(default)]
    pub(crate) hours: RawWeek,
    #[serde(default)]
    pub(crate) holidays: Vec<RawHoliday>,
    #[serde(default)]
    pub(crate) overrides: Vec<RawOverride>,
}

/// Opening spans per day, `"HH:MM-HH:MM"` in the schedule's wall time.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWeek {
    #[serde(default)]
    pub(crate) mon: Vec<String>,
    #[serde(default)]
    pub(crate) tue: Vec<String>,
    #[serde(default)]
    pub(crate) wed: Vec<String>,
    #[serde(default)]
    pub(crate) thu: Vec<String>,
    #[serde(default)]
    pub(crate) fri: Vec<String>,
    #[serde(default)]
    pub(crate) sat: Vec<String>,
    #[serde(default)]
    pub(crate) sun: Vec<String>,
}

impl RawWeek {
    /// The days from Monday, with their names.
    pub(crate) fn days(&self) -> [(&'static str, &[String]); 7] {
        [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ]
    }
}

/// A closed day: `YYYY-MM-DD` once, `MM-DD` every year.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHoliday {
    pub(crate) date: String,
    #[serde(default)]
    #[allow(dead_code)] // documentation for the reader of the file
    pub(crate) name: String,
}

/// A date with its own hours (none: closed), ahead of holidays and the
/// weekly hours.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOverride {
    pub(crate) date: String,
    #[serde(default)]
    pub(crate) hours: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)] // documentation for the reader of the file
    pub(crate) name: String,
}

/// One node, without its `id` (taken out first so errors can name it).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum RawNode {
    Play {
        prompts: Vec<String>,
        #[serde(default)]
        barge_in: bool,
        next: String,
    },
    Menu {
        prompts: Vec<String>,
        #[serde(default)]
        options: std::collections::BTreeMap<String, String>,
        timeout: Option<f64>,
        retries: Option<i64>,
        #[serde(default)]
        invalid_prompts: Vec<String>,
        #[serde(default)]
        timeout_prompts: Vec<String>,
        barge_in: Option<bool>,
        fallback: String,
    },
    Collect {
        prompts: Vec<String>,
        attribute: String,
        min_length: Option<i64>,
        max_length: Option<i64>,
        pattern: Option<String>,
        terminator: Option<String>,
        timeout: Option<f64>,
        inter_digit_timeout: Option<f64>,
        retries: Option<i64>,
        #[serde(default)]
        invalid_prompts: Vec<String>,
        #[serde(default)]
        timeout_prompts: Vec<String>,
        barge_in: Option<bool>,
        next: String,
        fallback: String,
    },
    HttpLookup {
        url: String,
        send: Option<Vec<String>>,
        timeout: Option<f64>,
        #[serde(default)]
        prefix: String,
        next: String,
        failure: String,
    },
    Set {
        attribute: String,
        value: Scalar,
        next: String,
    },
    Branch {
        #[serde(default)]
        cases: Vec<RawCase>,
        default: String,
    },
    Enqueue {
        queue: String,
        priority: Option<i64>,
        priority_attribute: Option<String>,
        #[serde(default)]
        skills: Vec<RawSkill>,
    },
    Transfer {
        teams_user: Option<String>,
        queue: Option<String>,
        number: Option<String>,
    },
    Voicemail {
        mailbox: String,
        #[serde(default)]
        prompts: Vec<String>,
    },
    Hangup {
        prompt: Option<String>,
    },
}

/// A skill an enqueued call needs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSkill {
    pub(crate) skill: u32,
    pub(crate) min: i64,
}

/// One case of a branch: one test, and where it leads.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCase {
    pub(crate) attribute: Option<String>,
    pub(crate) equals: Option<Scalar>,
    pub(crate) not_equals: Option<Scalar>,
    pub(crate) exists: Option<bool>,
    pub(crate) matches: Option<String>,
    pub(crate) less_than: Option<f64>,
    pub(crate) at_most: Option<f64>,
    pub(crate) greater_than: Option<f64>,
    pub(crate) at_least: Option<f64>,
    pub(crate) schedule: Option<String>,
    pub(crate) is: Option<RawScheduleCheck>,
    pub(crate) next: String,
}

/// `is = "open" | "closed" | "holiday"` in a schedule case.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawScheduleCheck {
    Open,
    Closed,
    Holiday,
}

/// A string, number or boolean, kept as its text (attribute values are
/// strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scalar(pub(crate) String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(text) => Ok(Scalar(text)),
            serde_json::Value::Number(number) => Ok(Scalar(number.to_string())),
            serde_json::Value::Bool(flag) => Ok(Scalar(flag.to_string())),
            _ => Err(de::Error::custom(
                "expected a string, a number or a boolean",
            )),
        }
    }
}

/// The file's text as a JSON value, by the file name's extension.
pub(crate) fn parse_text(file: &str, text: &str) -> Result<serde_json::Value, FlowErrorKind> {
    let lower = file.to_ascii_lowercase();
    if lower.ends_with(".toml") {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| FlowErrorKind::Syntax(one_line(&e.to_string())))?;
        Ok(toml_to_json(toml::Value::Table(table)))
    } else if lower.ends_with(".json") {
        serde_json::from_str(text).map_err(|e| FlowErrorKind::Syntax(e.to_string()))
    } else {
        Err(FlowErrorKind::UnsupportedFormat)
    }
}

/// toml's multi-line report (position, the source line with a marker
/// under it, the message) as one line.
fn one_line(report: &str) -> String {
    report
        .lines()
        .map(str::trim)
        .filter(|line| {
            let drawing = line.starts_with('|')
                || line
                    .split_once(" |")
                    .is_some_and(|(number, _)| number.bytes().all(|b| b.is_ascii_digit()));
            !line.is_empty() && !drawing
        })
        .collect::<Vec<_>>()
        .join(": ")
}

fn toml_to_json(value: toml::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        toml::Value::String(text) => Json::String(text),
        toml::Value::Integer(n) => Json::from(n),
        toml::Value::Float(x) => serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number),
        toml::Value::Boolean(flag) => Json::Bool(flag),
        // Unquoted TOML dates and times read as the text they were.
        toml::Value::Datetime(datetime) => Json::String(datetime.to_string()),
        toml::Value::Array(items) => Json::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Json::Object(
            table
                .into_iter()
                .map(|(key, value)| (key, toml_to_json(value)))
                .collect(),
        ),
    }
}
