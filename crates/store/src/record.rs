//! The storage record of one event, independent of the engine's types:
//! a stable snake_case kind name and a JSON body, so that rows written
//! by one version of switchboard stay readable by the next.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// One event as stored: the engine's events (converted with
/// [`crate::engine_event`]) and the call layer's own facts
/// ([`crate::CallFact`]) share one log and one sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Position in the log: contiguous from 1 across restarts (the store
    /// refuses gaps). Not the engine's [`acd::Event::seq`], which starts
    /// again at 1 with every engine.
    pub seq: u64,
    /// The tenant ([`acd::TenantId::get`]).
    pub tenant: u32,
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub at_unix_ms: i64,
    /// The call record the event belongs to (see [`crate::Recorder`] for
    /// how keys are chosen); `None` for agent-only events.
    pub interaction: Option<String>,
    /// Stable snake_case name, e.g. `queued` or `call_ended`
    /// ([`kind`] lists them).
    pub kind: String,
    /// The event's fields. Durations are integer milliseconds named
    /// `*_ms`; engine ids are their local numbers (the tenant is
    /// [`StoredEvent::tenant`]).
    pub body: Value,
}

/// The stable kind names.
pub mod kind {
    /// [`acd::EventKind::Queued`].
    pub const QUEUED: &str = "queued";
    /// [`acd::EventKind::AgentOffered`].
    pub const AGENT_OFFERED: &str = "agent_offered";
    /// [`acd::EventKind::RingNoAnswer`].
    pub const RING_NO_ANSWER: &str = "ring_no_answer";
    /// [`acd::EventKind::RingCancelled`].
    pub const RING_CANCELLED: &str = "ring_cancelled";
    /// [`acd::EventKind::Answered`].
    pub const ANSWERED: &str = "answered";
    /// [`acd::EventKind::Abandoned`].
    pub const ABANDONED: &str = "abandoned";
    /// [`acd::EventKind::Completed`].
    pub const COMPLETED: &str = "completed";
    /// [`acd::EventKind::Dequeued`].
    pub const DEQUEUED: &str = "dequeued";
    /// [`acd::EventKind::Overflowed`].
    pub const OVERFLOWED: &str = "overflowed";
    /// [`acd::EventKind::Announced`] (a position change announced).
    pub const ANNOUNCED: &str = "announced";
    /// [`acd::EventKind::CallbackRequested`].
    pub const CALLBACK_REQUESTED: &str = "callback_requested";
    /// [`acd::EventKind::CallbackAttempted`] (a callback dispatched).
    pub const CALLBACK_ATTEMPTED: &str = "callback_attempted";
    /// [`acd::EventKind::CallbackFailed`].
    pub const CALLBACK_FAILED: &str = "callback_failed";
    /// [`acd::EventKind::CallbackCancelled`].
    pub const CALLBACK_CANCELLED: &str = "callback_cancelled";
    /// [`acd::EventKind::AgentStateChanged`].
    pub const AGENT_STATE_CHANGED: &str = "agent_state_changed";
    /// [`acd::EventKind::WrapUpEnded`].
    pub const WRAP_UP_ENDED: &str = "wrap_up_ended";
    /// [`acd::EventKind::PresenceChanged`].
    pub const PRESENCE_CHANGED: &str = "presence_changed";
    /// [`acd::EventKind::MembershipChanged`].
    pub const MEMBERSHIP_CHANGED: &str = "membership_changed";
    /// [`acd::EventKind::InputIgnored`].
    pub const INPUT_IGNORED: &str = "input_ignored";
    /// An engine event this version of the store does not know (body:
    /// `{"debug": ...}`); kept so that the log has no hole.
    pub const ENGINE_OTHER: &str = "engine_other";

    /// [`crate::CallFact::Started`].
    pub const CALL_STARTED: &str = "call_started";
    /// [`crate::CallFact::FlowStep`].
    pub const FLOW_STEP: &str = "flow_step";
    /// [`crate::CallFact::Transferred`].
    pub const CALL_TRANSFERRED: &str = "call_transferred";
    /// [`crate::CallFact::Held`].
    pub const CALL_HELD: &str = "call_held";
    /// [`crate::CallFact::Resumed`].
    pub const CALL_RESUMED: &str = "call_resumed";
    /// [`crate::CallFact::Ended`].
    pub const CALL_ENDED: &str = "call_ended";

    /// Every kind this version writes.
    pub const ALL: &[&str] = &[
        QUEUED,
        AGENT_OFFERED,
        RING_NO_ANSWER,
        RING_CANCELLED,
        ANSWERED,
        ABANDONED,
        COMPLETED,
        DEQUEUED,
        OVERFLOWED,
        ANNOUNCED,
        CALLBACK_REQUESTED,
        CALLBACK_ATTEMPTED,
        CALLBACK_FAILED,
        CALLBACK_CANCELLED,
        AGENT_STATE_CHANGED,
        WRAP_UP_ENDED,
        PRESENCE_CHANGED,
        MEMBERSHIP_CHANGED,
        INPUT_IGNORED,
        ENGINE_OTHER,
        CALL_STARTED,
        FLOW_STEP,
        CALL_TRANSFERRED,
        CALL_HELD,
        CALL_RESUMED,
        CALL_ENDED,
    ];
}

/// Maps the engine's monotonic [`Instant`]s to wall-clock time: one
/// anchor pair taken at start-up, so that event times stay monotonic
/// even if the system clock is stepped while running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    instant: Instant,
    unix_ms: i64,
}

impl WallClock {
    /// `instant` and `wall` taken at (nearly) the same moment.
    pub fn new(instant: Instant, wall: SystemTime) -> Self {
        let unix_ms = match wall.duration_since(UNIX_EPOCH) {
            Ok(after) => millis_i64(after),
            Err(before) => millis_i64(before.duration()).saturating_neg(),
        };
        Self { instant, unix_ms }
    }

    /// Anchored now.
    pub fn now() -> Self {
        Self::new(Instant::now(), SystemTime::now())
    }

    /// Milliseconds since the Unix epoch at `at`.
    pub fn unix_ms(&self, at: Instant) -> i64 {
        match at.checked_duration_since(self.instant) {
            Some(after) => self.unix_ms.saturating_add(millis_i64(after)),
            None => self
                .unix_ms
                .saturating_sub(millis_i64(self.instant.saturating_duration_since(at))),
        }
    }
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn millis_i64(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_clock_maps_instants_both_ways() {
        let now = Instant::now();
        let clock = WallClock::new(now, UNIX_EPOCH + Duration::from_millis(1_000_000));
        assert_eq!(clock.unix_ms(now), 1_000_000);
        assert_eq!(clock.unix_ms(now + Duration::from_millis(1500)), 1_001_500);
        if let Some(earlier) = now.checked_sub(Duration::from_millis(250)) {
            assert_eq!(clock.unix_ms(earlier), 999_750);
        }
    }

    #[test]
    fn kind_names_are_unique_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for name in kind::ALL {
            assert!(seen.insert(*name), "{name} twice");
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }
}
