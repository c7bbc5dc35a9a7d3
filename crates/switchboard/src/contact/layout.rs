//! A contact-center call's media as the center lays it out
//! ([`Layout`]): pairs bridged on the relay, members of the call's
//! conference with their roles (supervisor listen, whisper, barge), legs
//! that hear music on hold. Applied as the difference from the layout
//! before, so a leg that stays where it was is left alone.

use std::collections::HashMap;

use media::{ConferenceRole, LegKey};
use sbc::{CallId, LegId};

use super::ContactCenter;
use crate::center::{Layout, MixRole};
use crate::relay::RelayAnchor;

/// What was applied, per call.
#[derive(Debug, Default)]
pub(super) struct Layouts {
    calls: HashMap<CallId, Applied>,
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
    }

    /// The leg left its call (the relay dropped it with its media).
    pub(super) fn forget_leg(&mut self, key: LegKey) {
        let call = RelayAnchor::call_of(key);
        if let Some(applied) = self.calls.get_mut(&call) {
            applied.mixed.retain(|(k, _)| *k != key);
            applied.held.retain(|k| *k != key);
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
        for error in failures {
            tracing::warn!(%call, %error, "media layout step refused");
        }
        self.layouts.calls.insert(call, Applied { mixed, held });
    }
}
