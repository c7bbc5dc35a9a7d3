//! The engine's deadlines, ordered by time. Owners keep the key of what
//! they armed and cancel it when it no longer applies; a timer that fires
//! anyway is checked against the current state before it acts.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::ids::{AgentId, InteractionId};

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The agent's alert time or wrap-up ends.
    Agent(AgentId),
    /// The caller reaches the queue's maximum wait.
    MaxWait(InteractionId),
    /// A bullseye ring opens or a tier joins for this caller.
    Expansion(InteractionId),
    /// Time for the next position announcement.
    Announce(InteractionId),
    /// A callback retry is due, or a callback offer expires.
    Callback(InteractionId),
    /// A callback reaches its queue's maximum age.
    CallbackExpiry(InteractionId),
}

/// A key to cancel an armed timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey {
    pub(crate) at: Instant,
    serial: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    armed: BTreeMap<TimerKey, Timer>,
    serial: u64,
}

impl Timers {
    pub(crate) fn arm(&mut self, at: Instant, timer: Timer) -> TimerKey {
        self.serial += 1;
        let key = TimerKey {
            at,
            serial: self.serial,
        };
        self.armed.insert(key, timer);
        key
    }

    pub(crate) fn cancel(&mut self, key: Option<TimerKey>) {
        if let Some(key) = key {
            self.armed.remove(&key);
        }
    }

    pub(crate) fn next(&self) -> Option<Instant> {
        self.armed.keys().next().map(|key| key.at)
    }

    /// The earliest timer due at `now`, removed.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(TimerKey, Timer)> {
        let (&key, _) = self.armed.iter().next()?;
        if key.at > now {
            return None;
        }
        self.armed.remove_entry(&key)
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, key: TimerKey) -> bool {
        self.armed.contains_key(&key)
    }
}
