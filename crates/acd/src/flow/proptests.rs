//! Random callers against flows that use every node type: digits (some
//! not DTMF), prompt reports (current, stale or unknown), lookup answers
//! (good, bad, late), time passing, hang-ups. After every step the run
//! is never stuck: it has finished, or it waits with a deadline in the
//! future. A run ends with at most one final command, the last one it
//! issued. The loader takes random text and damaged files without
//! panicking.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use crate::flow::tests::{catalog, monday_utc, Call};
use crate::flow::{Flow, FlowCommand, FlowEventKind, FlowSet, HttpFailure, RequestId};

const CONTOSO: &str = include_str!("../../../../examples/flows/contoso-main.toml");
const FABRIKAM: &str = include_str!("../../../../examples/flows/fabrikam-billing.json");

/// Every node type, with short waits so time matters.
const EVERYTHING: &str = r##"id = 3
entry = "hello"
max_prompt_time = 20

[[schedules]]
id = "office"
time_zone = "Asia/Tokyo"
hours = { mon = ["09:00-18:00"], tue = ["09:00-18:00"] }
holidays = [{ date = "01-13" }]

[[nodes]]
id = "hello"
type = "play"
prompts = ["welcome"]
barge_in = true
next = "mark"

[[nodes]]
id = "mark"
type = "set"
attribute = "seen"
value = "yes"
next = "menu"

[[nodes]]
id = "menu"
type = "menu"
prompts = ["menu"]
options = { "1" = "pin", "2" = "crm", "3" = "route", "4" = "again", "#" = "out" }
timeout = 2
retries = 3
invalid_prompts = ["invalid"]
fallback = "again"

[[nodes]]
id = "again"
type = "play"
prompts = ["welcome"]
next = "menu"

[[nodes]]
id = "pin"
type = "collect"
prompts = ["enter-account"]
attribute = "pin"
min_length = 2
max_length = 4
pattern = "[0-9]+"
terminator = "#"
timeout = 3
inter_digit_timeout = 1
retries = 1
invalid_prompts = ["invalid"]
timeout_prompts = ["no-input"]
next = "crm"
fallback = "menu"

[[nodes]]
id = "crm"
type = "http_lookup"
url = "https://crm.example/"
timeout = 1.5
prefix = "crm_"
next = "route"
failure = "menu"

[[nodes]]
id = "route"
type = "branch"
cases = [
  { schedule = "office", is = "holiday", next = "vm" },
  { attribute = "crm_vip", equals = "true", next = "queue" },
  { attribute = "crm_score", at_least = 50, next = "queue" },
  { attribute = "pin", matches = "^9", next = "out" },
  { schedule = "office", is = "closed", next = "bye" },
]
default = "queue"

[[nodes]]
id = "queue"
type = "enqueue"
queue = "support"
priority_attribute = "crm_score"
skills = [{ skill = 1, min = 1 }]

[[nodes]]
id = "out"
type = "transfer"
number = "+15550100200"

[[nodes]]
id = "vm"
type = "voicemail"
mailbox = "team@example.com"
prompts = ["closed"]

[[nodes]]
id = "bye"
type = "hangup"
prompt = "goodbye"
"##;

fn flows() -> Vec<Arc<Flow>> {
    let (set, errors) = FlowSet::from_sources(
        &catalog(),
        &[
            ("contoso-main.toml", CONTOSO),
            ("fabrikam-billing.json", FABRIKAM),
            ("everything.toml", EVERYTHING),
        ],
    );
    assert!(errors.is_empty(), "{errors:?}");
    set.iter().cloned().collect()
}

#[derive(Debug, Clone)]
enum Input {
    Digit(char),
    /// Report the latest playback, or one off by `offset`.
    PromptFinished {
        offset: u8,
    },
    /// Answer the latest lookup (or one off by `offset`).
    Http {
        offset: u8,
        answer: Option<Vec<(String, i64)>>,
    },
    Advance(u64),
    Hangup,
}

fn input() -> impl Strategy<Value = Input> {
    let digit = prop::sample::select(vec![
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'x',
    ]);
    let answer = prop::option::of(prop::collection::vec(
        (
            prop::sample::select(vec![
                "vip".to_owned(),
                "score".to_owned(),
                "name".to_owned(),
            ]),
            -5i64..500,
        ),
        0..4,
    ));
    prop_oneof![
        6 => digit.prop_map(Input::Digit),
        4 => prop_oneof![5 => Just(0u8), 1 => 1u8..3].prop_map(|offset| Input::PromptFinished { offset }),
        2 => (prop_oneof![5 => Just(0u8), 1 => 1u8..3], answer)
            .prop_map(|(offset, answer)| Input::Http { offset, answer }),
        4 => (0u64..25_000).prop_map(Input::Advance),
        1 => Just(Input::Hangup),
    ]
}

fn json(answer: Vec<(String, i64)>) -> serde_json::Map<String, serde_json::Value> {
    answer
        .into_iter()
        .map(|(key, n)| {
            let value = if key == "vip" {
                serde_json::Value::Bool(n % 2 == 0)
            } else {
                serde_json::Value::from(n)
            };
            (key, value)
        })
        .collect()
}

/// The run, and what it issued.
struct Observed {
    call: Call,
    last_play: RequestId,
    last_lookup: RequestId,
    finals: usize,
    after_final: usize,
    hung_up: bool,
    last_event: Option<Instant>,
    ended: u32,
}

impl Observed {
    fn drain(&mut self) {
        while let Some(event) = self.call.run.poll_event() {
            // The log: in time order, nothing after the end, and the end
            // logged exactly when the run finishes.
            assert!(event.at <= self.call.now && self.last_event.is_none_or(|at| at <= event.at));
            self.last_event = Some(event.at);
            assert_eq!(self.ended, 0, "an event after the end: {event:?}");
            if let FlowEventKind::Ended { caller_hung_up, .. } = event.kind {
                assert_eq!(caller_hung_up, self.hung_up && self.finals == 0);
                self.ended += 1;
            }
        }
        for command in self.call.drain() {
            if self.finals > 0 || self.hung_up {
                self.after_final += 1;
            }
            match command {
                FlowCommand::PlayPrompts { id, .. } => self.last_play = id,
                FlowCommand::HttpLookup { id, .. } => self.last_lookup = id,
                ref c if c.is_final() => self.finals += 1,
                _ => {}
            }
        }
    }

    fn step(&mut self, input: &Input) {
        let now = self.call.now;
        match input {
            Input::Digit(digit) => self.call.run.handle_digit(now, *digit),
            Input::PromptFinished { offset } => {
                let id = RequestId(self.last_play.get().saturating_sub(u64::from(*offset)));
                self.call.run.handle_prompt_finished(now, id);
            }
            Input::Http { offset, answer } => {
                let id = RequestId(self.last_lookup.get().saturating_sub(u64::from(*offset)));
                let result = answer.clone().map(json).ok_or(HttpFailure::Timeout);
                self.call.run.handle_http_result(now, id, result);
            }
            Input::Advance(ms) => {
                self.call.now += Duration::from_millis(*ms);
                self.call.run.handle_timeout(self.call.now);
            }
            Input::Hangup => {
                self.hung_up = true;
                self.call.run.handle_hangup(now);
            }
        }
        self.drain();
    }

    fn check(&self) -> Result<(), TestCaseError> {
        let run = &self.call.run;
        prop_assert!(self.finals <= 1, "{} final commands", self.finals);
        prop_assert_eq!(self.after_final, 0, "commands after the end");
        prop_assert_eq!(run.is_finished(), self.finals == 1 || self.hung_up);
        prop_assert_eq!(self.ended == 1, run.is_finished(), "the end is logged once");
        match run.poll_timeout() {
            None => prop_assert!(run.is_finished(), "waiting with no deadline"),
            Some(deadline) => {
                prop_assert!(!run.is_finished());
                prop_assert!(run.current_node().is_some());
                // Time moves only through `handle_timeout`: a deadline
                // at or before `now` would be one the run missed.
                prop_assert!(deadline > self.call.now);
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_callers_never_leave_a_run_stuck(
        flow in 0usize..3,
        start_hour in 0u64..48,
        inputs in prop::collection::vec(input(), 0..80),
    ) {
        let flow = flows()[flow].clone();
        let wall = monday_utc(0, 0) + Duration::from_secs(start_hour * 3600);
        let mut observed = Observed {
            call: Call::start(flow, wall, &[("caller", "+15550100")]),
            last_play: RequestId(0),
            last_lookup: RequestId(0),
            finals: 0,
            after_final: 0,
            hung_up: false,
            last_event: None,
            ended: 0,
        };
        observed.drain();
        observed.check()?;
        for input in &inputs {
            observed.step(input);
            observed.check()?;
        }
        // A silent caller: time alone ends every wait, and never leaves
        // the run without a deadline.
        for _ in 0..200 {
            if observed.call.run.is_finished() {
                break;
            }
            let deadline = observed.call.run.poll_timeout().unwrap();
            observed.call.now = deadline;
            observed.call.run.handle_timeout(deadline);
            observed.drain();
            observed.check()?;
            prop_assert!(observed.call.run.poll_timeout().is_none_or(|next| next > deadline));
        }
    }

    #[test]
    fn random_text_never_panics_the_loader(text in ".{0,400}", json in any::<bool>()) {
        let file = if json { "random.json" } else { "random.toml" };
        let (set, errors) = FlowSet::from_sources(&catalog(), &[(file, text.as_str())]);
        // Loaded, or explained.
        prop_assert_eq!(set.len() + usize::from(!errors.is_empty()), 1);
        prop_assert!(errors.iter().all(|e| e.file == file));
    }

    #[test]
    fn damaged_flows_load_or_explain(line in 0usize..200, json in any::<bool>()) {
        let (file, text) = if json {
            ("fabrikam-billing.json", FABRIKAM)
        } else {
            ("contoso-main.toml", CONTOSO)
        };
        let lines: Vec<&str> = text.lines().collect();
        let damaged: String = lines
            .iter()
            .enumerate()
            .filter(|(n, _)| *n != line % lines.len())
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        let (set, errors) = FlowSet::from_sources(&catalog(), &[(file, damaged.as_str())]);
        prop_assert_eq!(set.len() + usize::from(!errors.is_empty()), 1, "{:?}", errors);
        prop_assert!(errors.iter().all(|e| e.file == file));
    }
}
