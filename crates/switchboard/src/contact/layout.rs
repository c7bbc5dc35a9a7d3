//! A contact-center call's media as the center lays it out
//! ([`Layout`]): pairs bridged on the relay, members of the call's
//! conference with their roles (supervisor listen, whisper, barge), legs
//! that hear music on hold. Applied as the difference from the layout
//! before, so a leg that stays where it was is left alone.
//!
//! A recorded call's agent side follows the layout: whoever the caller
//! can hear speak for the center (the agent, a consulted colleague, a
//! third party, a supervisor who barges) is mixed into the right channel
//! from when they join; a supervisor who listens or whispers is not,
//! since the caller does not hear them.

use std::collections::HashMap;

use media::{ConferenceRole, LegKey, RecordingChannel, RecordingId};
use sbc::{CallId, LegId};

use super::ContactCenter;
use crate::center::{Layout, MixRole};
use crate::relay::RelayAnchor;

/// What was applied, per call.
#[derive(Debug, Default)]
pub(super) struct Layouts {
    calls: HashMap<CallId, Applied>,
    recordings: HashMap<CallId, Recorded>,
}

/// A call's recording and the legs on its agent side.
#[derive(Debug)]
struct Recorded {
    id: RecordingId,
    caller: LegKey,
    agent_side: Vec<LegKey>,
}

#[derive(Debug, Default)]
struct Applied {
    mixed: Vec<(LegKey, MixRole)>,
    held: Vec<LegKey>,
}

impl Layouts {
    /// The call ended.
    pub(super) fn forget_call(&mut self, call: CallId) {
        self.calls.remove(&call);
        self.recordings.remove(&call);
    }

    /// The call's recording, while it runs.
    pub(super) fn recording_of(&self, call: CallId) -> Option<RecordingId> {
        self.recordings.get(&call).map(|recorded| recorded.id)
    }

    /// A recording ended (its call may go on).
    pub(super) fn recording_finished(&mut self, id: RecordingId) {
        self.recordings.retain(|_, recorded| recorded.id != id);
    }

    /// The call's recording started: `caller` on the left, `agent` on
    /// the right.
    pub(super) fn recording_started(&mut self, id: RecordingId, caller: LegKey, agent: LegKey) {
        let recorded = Recorded {
            id,
            caller,
            agent_side: vec![agent],
        };
        self.recordings
            .insert(RelayAnchor::call_of(caller), recorded);
    }

    /// The leg left its call (the relay dropped it with its media).
    pub(super) fn forget_leg(&mut self, key: LegKey) {
        let call = RelayAnchor::call_of(key);
        if let Some(applied) = self.calls.get_mut(&call) {
            applied.mixed.retain(|(k, _)| *k != key);
            applied.held.retain(|k| *k != key);
        }
        if let Some(recorded) = self.recordings.get_mut(&call) {
            recorded.agent_side.retain(|k| *k != key);
        }
    }
}

fn key(call: CallId, leg: LegId) -> LegKey {
    RelayAnchor::key(call, leg, 0)
}

impl ContactCenter {
    /// Puts `call`'s media as `layout` says.
    pub(super) fn arrange(&mut self, call: CallId, layout: &Layout) {
        let mixed: Vec<(LegKey, MixRole)> = layout
            .mixed
            .iter()
            .map(|(leg, role)| (key(call, *leg), *role))
            .collect();
        let held: Vec<LegKey> = layout.held.iter().map(|leg| key(call, *leg)).collect();
        let before = self.layouts.calls.remove(&call).unwrap_or_default();
        let relay = std::sync::Arc::clone(&self.relay);
        let detached = relay.detached();
        let mut failures = Vec::new();
        for (leg, _) in &before.mixed {
            if !mixed.iter().any(|(k, _)| k == leg) {
                failures.extend(detached.leave_conference(*leg).err());
            }
        }
        for leg in &before.held {
            if !held.contains(leg) {
                failures.extend(detached.stop_playing(*leg).err());
            }
        }
        for (a, b) in &layout.bridged {
            failures.extend(detached.bridge(key(call, *a), key(call, *b)).err());
        }
        // Members first, whisperers after their target is in.
        let mut ordered = mixed.clone();
        ordered.sort_by_key(|(_, role)| matches!(role, MixRole::Whisper(_)));
        for (leg, role) in &ordered {
            let role = match *role {
                MixRole::Normal => ConferenceRole::Normal,
                MixRole::Listen => ConferenceRole::Listen,
                MixRole::Barge => ConferenceRole::Barge,
                MixRole::Whisper(target) => ConferenceRole::Whisper {
                    target: key(call, target),
                },
            };
            let result = if before.mixed.iter().any(|(k, _)| k == leg) {
                detached.set_conference_role(*leg, role)
            } else {
                detached.join_conference(*leg, role)
            };
            failures.extend(result.err());
        }
        for leg in &held {
            if !before.held.contains(leg) {
                failures.extend(detached.unbridge(*leg).err());
                self.hold_music(call, *leg);
            }
        }
        if let Some(recorded) = self.layouts.recordings.get_mut(&call) {
            failures.extend(recorded.follow(call, layout, &detached));
        }
        for error in failures {
            tracing::warn!(%call, %error, "media layout step refused");
        }
        self.layouts.calls.insert(call, Applied { mixed, held });
    }
}

impl Recorded {
    /// Adds to the agent side the legs the caller now hears speak for
    /// the center, and takes out supervisors who went back to listening
    /// or whispering.
    fn follow(
        &mut self,
        call: CallId,
        layout: &Layout,
        detached: &media::Detached<'_>,
    ) -> Vec<media::DriverError> {
        let heard = layout
            .bridged
            .iter()
            .flat_map(|(a, b)| [*a, *b])
            .chain(layout.mixed.iter().filter_map(|(leg, role)| {
                matches!(role, MixRole::Normal | MixRole::Barge).then_some(*leg)
            }))
            .map(|leg| key(call, leg));
        let mut failures = Vec::new();
        for leg in heard {
            if leg != self.caller && !self.agent_side.contains(&leg) {
                let added = detached.add_to_recording(self.id, leg, RecordingChannel::Agent);
                failures.extend(added.err());
                self.agent_side.push(leg);
            }
        }
        for (leg, role) in &layout.mixed {
            let leg = key(call, *leg);
            if matches!(role, MixRole::Listen | MixRole::Whisper(_))
                && self.agent_side.contains(&leg)
            {
                failures.extend(detached.remove_from_recording(leg).err());
                self.agent_side.retain(|k| *k != leg);
            }
        }
        failures
    }
}
