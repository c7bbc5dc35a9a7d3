//! Call detail records, derived from the log: a pure fold over the
//! events of one record key ([`StoredEvent::interaction`]).
//!
//! When a record completes:
//! - a *call* (its record has a `call_started`) completes at its
//!   `call_ended`, so the CDR has the whole call: IVR, queue, agent,
//!   transfer;
//! - an engine interaction without call-level facts (e.g. a callback the
//!   call layer did not announce) completes at the engine's terminal
//!   event: `completed`, `abandoned`, `dequeued`, `callback_requested`,
//!   `callback_failed`, `callback_cancelled`, or an `overflowed` that
//!   leaves the engine (not to another queue, not a callback offer).
//!
//! Events after the completing one are ignored, so deriving from a
//! prefix of the log and replaying the whole log give the same CDR.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::call_fact::EndCause;
use crate::record::{kind, StoredEvent};

/// One call detail record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cdr {
    /// The record key (the call layer's call id, or the engine's
    /// interaction key).
    pub interaction: String,
    /// The log position of the event that completed the call.
    pub completed_seq: u64,
    /// The tenant.
    pub tenant: u32,
    /// The first event's time, ms since the Unix epoch.
    pub started_at_unix_ms: i64,
    /// The completing event's time, ms since the Unix epoch.
    pub ended_at_unix_ms: i64,
    /// The calling number, if the call layer reported it.
    pub caller: Option<String>,
    /// The dialled number, if the call layer reported it.
    pub did: Option<String>,
    /// IVR nodes visited, `flow:node`, in order.
    pub flow_path: Vec<String>,
    /// The last queue the call waited in (local number).
    pub queue: Option<u32>,
    /// Time waiting in queues, all hops together (to the answer, or to
    /// leaving the queue).
    pub wait_ms: Option<u64>,
    /// The agent who answered (local number).
    pub agent: Option<u32>,
    /// Connected time with the agent, as the engine measured it
    /// (includes hold).
    pub talk_ms: Option<u64>,
    /// Time on hold.
    pub hold_ms: u64,
    /// How the call ended.
    pub outcome: Outcome,
    /// Where it was transferred to.
    pub transfer_target: Option<String>,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// An agent answered (and the caller was reached, for a callback).
    Answered,
    /// The caller hung up while waiting or ringing.
    Abandoned,
    /// Left its queue (full, no agents, or sent to a flow) without an
    /// answer.
    Overflowed,
    /// Left its queue after its maximum wait and was disconnected.
    TimedOut,
    /// Sent to voicemail.
    Voicemail,
    /// Transferred (by the IVR, an overflow or an agent).
    Transferred,
    /// The caller asked for a callback (the callback is its own record).
    CallbackRequested,
    /// A callback that never reached the caller.
    Unreached,
    /// A callback (or callback offer) withdrawn.
    Cancelled,
    /// A network or media failure.
    Failed,
    /// Ended in the IVR before reaching a queue.
    EndedInFlow,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 11] = [
        Outcome::Answered,
        Outcome::Abandoned,
        Outcome::Overflowed,
        Outcome::TimedOut,
        Outcome::Voicemail,
        Outcome::Transferred,
        Outcome::CallbackRequested,
        Outcome::Unreached,
        Outcome::Cancelled,
        Outcome::Failed,
        Outcome::EndedInFlow,
    ];

    /// Its stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Abandoned => "abandoned",
            Outcome::Overflowed => "overflowed",
            Outcome::TimedOut => "timed_out",
            Outcome::Voicemail => "voicemail",
            Outcome::Transferred => "transferred",
            Outcome::CallbackRequested => "callback_requested",
            Outcome::Unreached => "unreached",
            Outcome::Cancelled => "cancelled",
            Outcome::Failed => "failed",
            Outcome::EndedInFlow => "ended_in_flow",
        }
    }

    /// The outcome named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Outcome::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == name)
    }
}

/// An event the derivation could not use; counted and reported, never a
/// panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEvent {
    /// Its log position.
    pub seq: u64,
    /// Why.
    pub reason: String,
}

/// What [`derive_cdr`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Derivation {
    /// The CDR, if the events complete the call.
    pub cdr: Option<Cdr>,
    /// Events that were not understood.
    pub skipped: Vec<SkippedEvent>,
}

/// The CDR of one record from its events in log order (events of other
/// records are skipped and reported). Stops at the completing event.
pub fn derive_cdr(events: &[StoredEvent]) -> Derivation {
    let mut derivation = Derivation::default();
    let Some(key) = events.first().and_then(|event| event.interaction.clone()) else {
        derivation
            .skipped
            .extend(events.iter().map(|event| SkippedEvent {
                seq: event.seq,
                reason: "event belongs to no call record".into(),
            }));
        return derivation;
    };
    let mut record = CallRecord::default();
    for event in events {
        if event.interaction.as_deref() != Some(key.as_str()) {
            derivation.skipped.push(SkippedEvent {
                seq: event.seq,
                reason: format!("event belongs to another record than {key}"),
            });
            continue;
        }
        match record.apply(&key, event) {
            Ok(Some(cdr)) => {
                derivation.cdr = Some(cdr);
                break;
            }
            Ok(None) => {}
            Err(reason) => derivation.skipped.push(SkippedEvent {
                seq: event.seq,
                reason,
            }),
        }
    }
    derivation
}

/// Whether an event of this kind may complete a record (a cheap filter
/// before loading the record's events).
pub(crate) fn may_complete(kind: &str) -> bool {
    matches!(
        kind,
        kind::CALL_ENDED
            | kind::COMPLETED
            | kind::ABANDONED
            | kind::DEQUEUED
            | kind::OVERFLOWED
            | kind::CALLBACK_REQUESTED
            | kind::CALLBACK_FAILED
            | kind::CALLBACK_CANCELLED
    )
}

/// Derives every CDR of a log fed in order, as the store does
/// incrementally: [`CdrReplay::apply`] each event, then
/// [`CdrReplay::finish`].
#[derive(Debug, Default)]
pub struct CdrReplay {
    open: HashMap<String, CallRecord>,
    done: HashSet<String>,
    cdrs: Vec<Cdr>,
    skipped: Vec<SkippedEvent>,
}

impl CdrReplay {
    /// An empty replay.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next event of the log.
    pub fn apply(&mut self, event: &StoredEvent) {
        let Some(key) = event.interaction.as_deref() else {
            if !is_known(&event.kind) {
                self.skip_unknown(event);
            }
            return;
        };
        if self.done.contains(key) {
            if !is_known(&event.kind) {
                self.skip_unknown(event);
            }
            return;
        }
        let record = self.open.entry(key.to_owned()).or_default();
        match record.apply(key, event) {
            Ok(Some(cdr)) => {
                self.open.remove(key);
                self.done.insert(key.to_owned());
                self.cdrs.push(cdr);
            }
            Ok(None) => {}
            Err(reason) => self.skipped.push(SkippedEvent {
                seq: event.seq,
                reason,
            }),
        }
    }

    fn skip_unknown(&mut self, event: &StoredEvent) {
        self.skipped.push(SkippedEvent {
            seq: event.seq,
            reason: format!("unknown event kind {:?}", event.kind),
        });
    }

    /// The CDRs in completion order, and the events not understood.
    pub fn finish(self) -> (Vec<Cdr>, Vec<SkippedEvent>) {
        (self.cdrs, self.skipped)
    }
}

fn is_known(name: &str) -> bool {
    kind::ALL.contains(&name)
}

/// The state of one record while its events are folded.
#[derive(Debug, Default)]
struct CallRecord {
    started: Option<(u32, i64)>,
    is_call: bool,
    caller: Option<String>,
    did: Option<String>,
    flow_path: Vec<String>,
    queue: Option<u32>,
    /// When the current queue stint began.
    stint_start: Option<i64>,
    /// Wait of the finished stints.
    waited_ms: i64,
    wait_ms: Option<i64>,
    agent: Option<u32>,
    answered: bool,
    talk_ms: Option<i64>,
    hold_ms: i64,
    held_since: Option<i64>,
    transfer_target: Option<String>,
    transferred_by_call: bool,
    engine_outcome: Option<Outcome>,
}

impl CallRecord {
    /// Folds one event; the CDR when it completes the record, an error
    /// (the event is skipped) when it is not understood.
    fn apply(&mut self, key: &str, event: &StoredEvent) -> Result<Option<Cdr>, String> {
        let body = &event.body;
        if !body.is_object() {
            return Err(format!("body of {} is not a JSON object", event.kind));
        }
        let at = event.at_unix_ms;
        if !is_known(&event.kind) {
            return Err(format!("unknown event kind {:?}", event.kind));
        }
        self.started.get_or_insert((event.tenant, at));
        let mut engine_terminal = false;
        match event.kind.as_str() {
            kind::CALL_STARTED => {
                self.is_call = true;
                self.caller = text(body, "caller");
                self.did = text(body, "did");
            }
            kind::FLOW_STEP => {
                let flow = text(body, "flow").unwrap_or_default();
                let node = text(body, "node").unwrap_or_default();
                self.flow_path.push(format!("{flow}:{node}"));
            }
            kind::CALL_TRANSFERRED => {
                self.transferred_by_call = true;
                self.transfer_target = text(body, "target");
            }
            kind::CALL_HELD => {
                self.held_since.get_or_insert(at);
            }
            kind::CALL_RESUMED => self.resume(at),
            kind::CALL_ENDED => {
                let cause = text(body, "cause")
                    .and_then(|name| EndCause::parse(&name))
                    .unwrap_or(EndCause::System);
                let outcome = self.call_outcome(cause);
                return Ok(Some(self.finish(key, event, outcome)));
            }
            kind::QUEUED => {
                self.queue = number(body, "queue").or(self.queue);
                self.stint_start = Some(at);
            }
            kind::ANSWERED => {
                self.end_stint(at, millis(body, "wait_ms"));
                self.agent = number(body, "agent").or(self.agent);
                if text(body, "interaction_kind").as_deref() != Some("callback") {
                    self.answered = true;
                }
                self.engine_outcome = Some(Outcome::Answered);
            }
            kind::CALLBACK_ATTEMPTED
                if body.get("reached").and_then(Value::as_bool) == Some(true) =>
            {
                self.answered = true;
            }
            kind::COMPLETED => {
                self.agent = number(body, "agent").or(self.agent);
                self.talk_ms = millis(body, "talk_ms");
                self.answered = true;
                self.engine_outcome = Some(Outcome::Answered);
                engine_terminal = true;
            }
            kind::ABANDONED => {
                self.end_stint(at, millis(body, "wait_ms"));
                self.engine_outcome = Some(Outcome::Abandoned);
                engine_terminal = true;
            }
            kind::DEQUEUED => {
                self.end_stint(at, millis(body, "wait_ms"));
                self.engine_outcome = Some(match text(body, "reason").as_deref() {
                    Some("transferred") => Outcome::Transferred,
                    Some("caller_hangup") => Outcome::Abandoned,
                    _ => Outcome::Failed,
                });
                engine_terminal = true;
            }
            kind::OVERFLOWED => engine_terminal = self.overflowed(at, body),
            kind::CALLBACK_REQUESTED => {
                self.end_stint(at, None);
                self.engine_outcome = Some(Outcome::CallbackRequested);
                engine_terminal = true;
            }
            kind::CALLBACK_FAILED => {
                self.answered = false;
                self.engine_outcome = Some(Outcome::Unreached);
                engine_terminal = true;
            }
            kind::CALLBACK_CANCELLED => {
                self.engine_outcome = Some(Outcome::Cancelled);
                engine_terminal = true;
            }
            // Known kinds without effect on the CDR: rings, announcements,
            // wrap-up, agent events, ignored inputs.
            _ => {}
        }
        if engine_terminal && !self.is_call {
            let outcome = self.engine_outcome.unwrap_or(Outcome::Failed);
            return Ok(Some(self.finish(key, event, outcome)));
        }
        Ok(None)
    }

    /// Returns whether the overflow ends the engine's part of the call.
    fn overflowed(&mut self, at: i64, body: &Value) -> bool {
        self.end_stint(at, None);
        let action = body.get("action").unwrap_or(&Value::Null);
        let outcome = match text(action, "type").as_deref() {
            Some("queue") => return false,
            Some("offer_callback") => {
                self.engine_outcome = Some(Outcome::Overflowed);
                return false;
            }
            Some("voicemail") => Outcome::Voicemail,
            Some("agent") => {
                self.transfer_target =
                    number(action, "agent").map(|agent| format!("agent:{agent}"));
                Outcome::Transferred
            }
            Some("external_number") => {
                self.transfer_target =
                    text(action, "number").map(|number| format!("external:{number}"));
                Outcome::Transferred
            }
            Some("disconnect") if text(body, "reason").as_deref() == Some("max_wait") => {
                Outcome::TimedOut
            }
            _ => Outcome::Overflowed,
        };
        self.engine_outcome = Some(outcome);
        true
    }

    /// A queue stint ended: the engine's wait if it reported one, else the
    /// time since the stint began.
    fn end_stint(&mut self, at: i64, engine_wait: Option<i64>) {
        let stint = match (engine_wait, self.stint_start.take()) {
            (Some(wait), _) => wait,
            (None, Some(start)) => at.saturating_sub(start).max(0),
            (None, None) => return,
        };
        self.waited_ms = self.waited_ms.saturating_add(stint);
        self.wait_ms = Some(self.waited_ms);
    }

    fn resume(&mut self, at: i64) {
        if let Some(since) = self.held_since.take() {
            self.hold_ms = self.hold_ms.saturating_add(at.saturating_sub(since).max(0));
        }
    }

    fn call_outcome(&self, cause: EndCause) -> Outcome {
        if self.transferred_by_call {
            Outcome::Transferred
        } else if self.answered {
            Outcome::Answered
        } else if let Some(outcome) = self.engine_outcome {
            outcome
        } else if matches!(cause, EndCause::Failed | EndCause::Interrupted) {
            Outcome::Failed
        } else if self.queue.is_some() {
            Outcome::Abandoned
        } else {
            Outcome::EndedInFlow
        }
    }

    fn finish(&mut self, key: &str, event: &StoredEvent, outcome: Outcome) -> Cdr {
        self.resume(event.at_unix_ms);
        let (tenant, started) = self.started.unwrap_or((event.tenant, event.at_unix_ms));
        Cdr {
            interaction: key.to_owned(),
            completed_seq: event.seq,
            tenant,
            started_at_unix_ms: started,
            ended_at_unix_ms: event.at_unix_ms,
            caller: self.caller.clone(),
            did: self.did.clone(),
            flow_path: self.flow_path.clone(),
            queue: self.queue,
            wait_ms: self.wait_ms.map(unsigned),
            agent: self.agent,
            talk_ms: self.talk_ms.map(unsigned),
            hold_ms: unsigned(self.hold_ms),
            outcome,
            transfer_target: self.transfer_target.clone(),
        }
    }
}

fn text(body: &Value, field: &str) -> Option<String> {
    body.get(field).and_then(Value::as_str).map(str::to_owned)
}

fn number(body: &Value, field: &str) -> Option<u32> {
    body.get(field)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

fn millis(body: &Value, field: &str) -> Option<i64> {
    body.get(field).and_then(Value::as_i64).map(|ms| ms.max(0))
}

fn unsigned(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Events of one record, seq from 1, one second apart from t=1000 s.
    struct Script {
        key: &'static str,
        events: Vec<StoredEvent>,
    }

    impl Script {
        fn new(key: &'static str) -> Self {
            Self {
                key,
                events: Vec::new(),
            }
        }

        fn at(mut self, second: i64, kind: &str, body: Value) -> Self {
            self.events.push(StoredEvent {
                seq: self.events.len() as u64 + 1,
                tenant: 2,
                at_unix_ms: 1_000_000 + second * 1000,
                interaction: Some(self.key.to_owned()),
                kind: kind.to_owned(),
                body,
            });
            self
        }

        fn cdr(&self) -> Cdr {
            let derivation = derive_cdr(&self.events);
            assert_eq!(derivation.skipped, vec![]);
            derivation.cdr.unwrap()
        }
    }

    fn started() -> Value {
        json!({"caller": "+15550100", "did": "+15550199"})
    }

    #[test]
    fn answered_call_has_ivr_queue_agent_talk_and_hold() {
        let script = Script::new("c1")
            .at(0, "call_started", started())
            .at(1, "flow_step", json!({"flow": "main", "node": "menu"}))
            .at(3, "flow_step", json!({"flow": "main", "node": "sales"}))
            .at(4, "queued", json!({"queue": 3, "position": 1}))
            .at(5, "agent_offered", json!({"queue": 3, "agent": 8}))
            .at(
                9,
                "answered",
                json!({"queue": 3, "agent": 8, "interaction_kind": "voice", "wait_ms": 5000}),
            )
            .at(20, "call_held", json!({}))
            .at(30, "call_resumed", json!({}))
            .at(
                40,
                "completed",
                json!({"queue": 3, "agent": 8, "talk_ms": 31000, "reason": "caller_hangup"}),
            )
            .at(40, "call_ended", json!({"cause": "caller_hangup"}));
        let cdr = script.cdr();
        assert_eq!(
            cdr,
            Cdr {
                interaction: "c1".into(),
                completed_seq: 10,
                tenant: 2,
                started_at_unix_ms: 1_000_000,
                ended_at_unix_ms: 1_040_000,
                caller: Some("+15550100".into()),
                did: Some("+15550199".into()),
                flow_path: vec!["main:menu".into(), "main:sales".into()],
                queue: Some(3),
                wait_ms: Some(5000),
                agent: Some(8),
                talk_ms: Some(31000),
                hold_ms: 10_000,
                outcome: Outcome::Answered,
                transfer_target: None,
            }
        );
    }

    #[test]
    fn a_call_completes_only_at_call_ended() {
        let script = Script::new("c1")
            .at(0, "call_started", started())
            .at(1, "queued", json!({"queue": 1}))
            .at(
                4,
                "abandoned",
                json!({"queue": 1, "wait_ms": 3000, "position": 2, "original_position": 4}),
            );
        assert_eq!(derive_cdr(&script.events).cdr, None);
        let script = script.at(4, "call_ended", json!({"cause": "caller_hangup"}));
        let cdr = script.cdr();
        assert_eq!(cdr.outcome, Outcome::Abandoned);
        assert_eq!(cdr.wait_ms, Some(3000));
        assert_eq!(cdr.completed_seq, 4);
    }

    #[test]
    fn engine_only_interaction_completes_at_terminal_event_and_ignores_later_events() {
        let script = Script::new("run1/tenant2/interaction5")
            .at(0, "queued", json!({"queue": 1}))
            .at(
                2,
                "answered",
                json!({"queue": 1, "agent": 4, "wait_ms": 2000}),
            )
            .at(
                12,
                "completed",
                json!({"queue": 1, "agent": 4, "talk_ms": 10000}),
            )
            .at(20, "wrap_up_ended", json!({"agent": 4, "wrap_up_ms": 8000}));
        let cdr = script.cdr();
        assert_eq!(cdr.outcome, Outcome::Answered);
        assert_eq!(cdr.completed_seq, 3);
        assert_eq!(cdr.talk_ms, Some(10_000));
        assert_eq!(cdr.caller, None);
    }

    #[test]
    fn overflow_hops_add_up_the_wait() {
        let script = Script::new("c1")
            .at(0, "call_started", started())
            .at(0, "queued", json!({"queue": 1}))
            .at(
                30,
                "overflowed",
                json!({"queue": 1, "reason": "max_wait", "action": {"type": "queue", "queue": 2}}),
            )
            .at(30, "queued", json!({"queue": 2}))
            .at(
                40,
                "answered",
                json!({"queue": 2, "agent": 1, "wait_ms": 10000}),
            )
            .at(50, "call_ended", json!({"cause": "agent_hangup"}));
        let cdr = script.cdr();
        assert_eq!(cdr.queue, Some(2));
        assert_eq!(cdr.wait_ms, Some(40_000));
        assert_eq!(cdr.outcome, Outcome::Answered);
    }

    #[test]
    fn overflow_outcomes() {
        let cases = [
            (
                json!({"type": "voicemail", "mailbox": "m"}),
                "queue_full",
                Outcome::Voicemail,
                None,
            ),
            (
                json!({"type": "disconnect", "prompt": null}),
                "max_wait",
                Outcome::TimedOut,
                None,
            ),
            (
                json!({"type": "disconnect", "prompt": null}),
                "no_agents",
                Outcome::Overflowed,
                None,
            ),
            (
                json!({"type": "external_number", "number": "+4420"}),
                "max_wait",
                Outcome::Transferred,
                Some("external:+4420"),
            ),
            (
                json!({"type": "agent", "agent": 6}),
                "max_wait",
                Outcome::Transferred,
                Some("agent:6"),
            ),
        ];
        for (action, reason, outcome, target) in cases {
            let script = Script::new("i").at(0, "queued", json!({"queue": 1})).at(
                7,
                "overflowed",
                json!({"queue": 1, "reason": reason, "action": action}),
            );
            let cdr = script.cdr();
            assert_eq!(cdr.outcome, outcome, "{reason}");
            assert_eq!(cdr.wait_ms, Some(7000));
            assert_eq!(cdr.transfer_target.as_deref(), target);
        }
    }

    #[test]
    fn ivr_transfer_and_ivr_hangup() {
        let transferred = Script::new("c")
            .at(0, "call_started", started())
            .at(1, "flow_step", json!({"flow": "f", "node": "n"}))
            .at(
                2,
                "call_transferred",
                json!({"target": "teams_user:bob@contoso"}),
            )
            .at(9, "call_ended", json!({"cause": "agent_hangup"}));
        let cdr = transferred.cdr();
        assert_eq!(cdr.outcome, Outcome::Transferred);
        assert_eq!(
            cdr.transfer_target.as_deref(),
            Some("teams_user:bob@contoso")
        );
        assert_eq!(cdr.queue, None);

        let hangup = Script::new("c").at(0, "call_started", started()).at(
            1,
            "call_ended",
            json!({"cause": "caller_hangup"}),
        );
        assert_eq!(hangup.cdr().outcome, Outcome::EndedInFlow);
        let failed = Script::new("c").at(0, "call_started", started()).at(
            1,
            "call_ended",
            json!({"cause": "failed"}),
        );
        assert_eq!(failed.cdr().outcome, Outcome::Failed);
    }

    #[test]
    fn callback_not_reached_is_unreached_and_open_hold_counts_to_the_end() {
        let callback = Script::new("cb")
            .at(
                0,
                "queued",
                json!({"queue": 1, "interaction_kind": "callback"}),
            )
            .at(
                5,
                "answered",
                json!({"queue": 1, "agent": 2, "interaction_kind": "callback", "wait_ms": 5000}),
            )
            .at(
                30,
                "callback_attempted",
                json!({"attempt": 1, "reached": false}),
            )
            .at(31, "callback_failed", json!({"attempts": 1}));
        assert_eq!(callback.cdr().outcome, Outcome::Unreached);

        let held = Script::new("c")
            .at(0, "call_started", started())
            .at(3, "call_held", json!({}))
            .at(10, "call_ended", json!({"cause": "caller_hangup"}));
        assert_eq!(held.cdr().hold_ms, 7000);
    }

    #[test]
    fn unknown_kinds_and_bad_bodies_are_skipped_and_counted() {
        let script = Script::new("c")
            .at(0, "call_started", started())
            .at(1, "teleported", json!({}))
            .at(2, "flow_step", json!("not an object"))
            .at(3, "call_ended", json!({"cause": "caller_hangup"}));
        let derivation = derive_cdr(&script.events);
        assert_eq!(
            derivation.skipped.iter().map(|s| s.seq).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(derivation.cdr.unwrap().completed_seq, 4);
    }

    #[test]
    fn replay_matches_per_record_derivation() {
        let a = Script::new("a").at(0, "call_started", started()).at(
            5,
            "call_ended",
            json!({"cause": "caller_hangup"}),
        );
        let b = Script::new("b").at(1, "queued", json!({"queue": 1})).at(
            2,
            "abandoned",
            json!({"queue": 1, "wait_ms": 1000}),
        );
        // Interleave a and b into one log, renumbered.
        let mut log: Vec<StoredEvent> = vec![
            a.events[0].clone(),
            b.events[0].clone(),
            b.events[1].clone(),
            a.events[1].clone(),
        ];
        for (i, event) in log.iter_mut().enumerate() {
            event.seq = i as u64 + 1;
        }
        let mut replay = CdrReplay::new();
        for event in &log {
            replay.apply(event);
        }
        let (cdrs, skipped) = replay.finish();
        assert!(skipped.is_empty());
        let keys: Vec<_> = cdrs.iter().map(|cdr| cdr.interaction.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        let only_a: Vec<_> = log
            .iter()
            .filter(|e| e.interaction.as_deref() == Some("a"))
            .cloned()
            .collect();
        assert_eq!(derive_cdr(&only_a).cdr.as_ref(), cdrs.get(1));
    }

    #[test]
    fn outcome_names_round_trip() {
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
    }
}
