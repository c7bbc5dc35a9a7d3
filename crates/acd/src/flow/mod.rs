//! IVR / virtual-assistant flows: a file format, a loader that validates
//! it, and a sans-IO interpreter ([`crate::FlowRun`]) whose final
//! [`crate::FlowCommand::Enqueue`] feeds [`crate::Engine::handle_call_arrived`].
//!
//! # Files
//!
//! One flow per file, TOML or JSON (same fields). A flow names its nodes
//! with strings; `next`, options, fallbacks and cases name the node they
//! lead to. Queues and prompts are names the caller's
//! [`crate::FlowCatalog`] resolves. Durations are seconds (decimals
//! allowed).
//!
//! ```toml
//! id = 1                       # the flow's number in its tenant
//! name = "Main line"
//! entry = "greeting"
//! max_prompt_time = 600        # a playback never reported ends after this
//!
//! [[schedules]]
//! id = "office"
//! time_zone = "Europe/London"  # IANA name
//! hours = { mon = ["08:00-12:00", "13:00-18:00"], sat = ["10:00-14:00"] }
//! holidays = [{ date = "12-25", name = "Christmas" }, { date = "2026-05-04" }]
//! overrides = [{ date = "2026-12-24", hours = ["08:00-12:00"] }]
//!
//! [[nodes]]
//! id = "greeting"
//! type = "play"                # prompts, barge_in = false, next
//! prompts = ["welcome"]
//! next = "hours"
//!
//! [[nodes]]
//! id = "hours"
//! type = "branch"              # cases (first that holds wins), default
//! cases = [
//!   { schedule = "office", is = "holiday", next = "closed" },  # open | closed | holiday
//!   { attribute = "vip", equals = "true", next = "menu" },
//! ]
//! default = "menu"
//! ```
//!
//! Node types and their fields (defaults in brackets):
//! - `play`: `prompts`, `barge_in` [false], `next`.
//! - `menu`: `prompts`, `options` (`{ "1" = "sales" }`, keys 0-9 * #),
//!   `timeout` [5] after the prompts, `retries` [2] (further attempts),
//!   `invalid_prompts`, `timeout_prompts` [the invalid ones],
//!   `barge_in` [true], `fallback` (when the attempts are used up).
//! - `collect`: `prompts`, `attribute` (where the digits go),
//!   `min_length` [1], `max_length` [20], `pattern` (must match the whole
//!   input), `terminator` (e.g. `"#"`), `timeout` [5] for the first
//!   digit, `inter_digit_timeout` [3], `retries`, `invalid_prompts`,
//!   `timeout_prompts`, `barge_in` [true], `next`, `fallback`. Input ends
//!   at the terminator, at `max_length` digits, or when a wait ends with
//!   digits typed.
//! - `http_lookup`: `url`, `send` [all attributes] (names posted as a
//!   JSON object of strings), `timeout` [3, at most 30], `prefix` [""]
//!   for the attributes the answer sets, `next`, `failure` (error or
//!   timeout).
//! - `set`: `attribute`, `value`, `next`.
//! - `branch`: `cases`, `default`. A case tests an `attribute` with
//!   exactly one of `equals`, `not_equals`, `exists` (true/false),
//!   `matches` (a regular expression, found anywhere: anchor it),
//!   `less_than`, `at_most`, `greater_than`, `at_least` (numbers; a
//!   missing or non-numeric value fails), or a `schedule` with `is`
//!   (`closed` means "not open", holidays included).
//! - `enqueue`: `queue`, `priority` [0] (0-255), `priority_attribute`
//!   (an attribute holding the priority, clamped to 0-255; `priority`
//!   when missing), `skills` (`[{ skill = 3, min = 2 }]`, min 1-5).
//! - `transfer`: exactly one of `teams_user`, `queue`, `number` (E.164).
//! - `voicemail`: `mailbox`, `prompts` (the greeting).
//! - `hangup`: `prompt` (optional).
//!
//! # Validation
//!
//! Every problem is a [`crate::FlowError`] with the file, the node and
//! the reason ([`crate::FlowErrorKind`]); a flow with any error is not
//! loaded, the others are. Checked: syntax and field types, duplicate
//! node ids, the entry node, unknown targets, queues and prompts (against
//! the catalog) and schedules, unreachable nodes (an error: almost always
//! a forgotten link), loops that never wait for the caller (only menus
//! and collections do; prompts and lookups end by themselves), menus
//! without options, nodes that should speak but have no prompt, DTMF
//! keys, regular expressions (`regex-lite`: linear time), time zones,
//! hours and dates, ranges of every number.
//!
//! The file format is read in two steps (`raw`, then `load`), the graph
//! is checked in `graph`, business hours live in `schedule`, and the
//! interpreter in `run`.

mod command;
mod graph;
mod load;
mod model;
#[cfg(test)]
mod proptests;
mod raw;
mod run;
mod schedule;
#[cfg(test)]
mod tests;

pub use command::{FlowCommand, FlowEvent, FlowEventKind, HttpFailure, RequestId, TransferTarget};
pub use load::FlowSet;
pub use model::{Flow, FlowCatalog};
pub use run::FlowRun;
pub use schedule::ScheduleState;
