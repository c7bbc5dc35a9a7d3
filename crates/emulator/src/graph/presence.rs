//! A Teams user's presence as Microsoft Graph aggregates it (Graph
//! `presence` resource; "Manage presence state using the Microsoft Graph
//! API"): every Teams client and every application has a presence
//! session, the user's presence is the busiest session (DoNotDisturb >
//! Busy > Available > Away), and a user-preferred presence overrides the
//! sessions while at least one session exists. Without any session the
//! user is Offline.
//!
//! Emulated sessions: the user's Teams client (its state comes from the
//! configuration or [`RunningGraph::set_presence`](crate::RunningGraph::set_presence);
//! `Offline` means signed out, no session), one `Busy/InACall` session
//! while the user is in an answered Direct Routing call, and the
//! application sessions of `setPresence`, each until its expiration. Not
//! emulated: the fading of an idle `Available` session to
//! `AvailableIdle` and `Away`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

/// The `availability` values Graph reports.
pub const AVAILABILITIES: [&str; 9] = [
    "Available",
    "AvailableIdle",
    "Away",
    "BeRightBack",
    "Busy",
    "BusyIdle",
    "DoNotDisturb",
    "Offline",
    "PresenceUnknown",
];

/// The `activity` values Graph reports.
pub const ACTIVITIES: [&str; 15] = [
    "Available",
    "Away",
    "BeRightBack",
    "Busy",
    "DoNotDisturb",
    "InACall",
    "InAConferenceCall",
    "Inactive",
    "InAMeeting",
    "Offline",
    "OffWork",
    "OutOfOffice",
    "PresenceUnknown",
    "Presenting",
    "UrgentInterruptionsOnly",
];

/// The pairs an application may set with `setPresence`.
pub(crate) const SESSION_PAIRS: [(&str, &str); 4] = [
    ("Available", "Available"),
    ("Busy", "InACall"),
    ("Busy", "InAConferenceCall"),
    ("Away", "Away"),
];

/// The pairs of `setUserPreferredPresence`.
pub(crate) const PREFERRED_PAIRS: [(&str, &str); 6] = [
    ("Available", "Available"),
    ("Busy", "Busy"),
    ("DoNotDisturb", "DoNotDisturb"),
    ("BeRightBack", "BeRightBack"),
    ("Away", "Away"),
    ("Offline", "OffWork"),
];

/// An availability and activity, in Graph's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pair {
    pub(crate) availability: &'static str,
    pub(crate) activity: &'static str,
}

impl Pair {
    pub(crate) const AVAILABLE: Pair = Pair {
        availability: "Available",
        activity: "Available",
    };
    pub(crate) const OFFLINE: Pair = Pair {
        availability: "Offline",
        activity: "Offline",
    };
    pub(crate) const IN_A_CALL: Pair = Pair {
        availability: "Busy",
        activity: "InACall",
    };
    pub(crate) const UNKNOWN: Pair = Pair {
        availability: "PresenceUnknown",
        activity: "PresenceUnknown",
    };

    /// Any known availability with any known activity (case-insensitive,
    /// returned in Graph's spelling).
    pub(crate) fn known(availability: &str, activity: &str) -> Option<Pair> {
        Some(Pair {
            availability: canonical(&AVAILABILITIES, availability)?,
            activity: canonical(&ACTIVITIES, activity)?,
        })
    }

    /// One of `pairs`, in Graph's spelling.
    pub(crate) fn among(
        pairs: &[(&'static str, &'static str)],
        availability: &str,
        activity: &str,
    ) -> Option<Pair> {
        pairs
            .iter()
            .find(|(a, b)| a.eq_ignore_ascii_case(availability) && b.eq_ignore_ascii_case(activity))
            .map(|(availability, activity)| Pair {
                availability,
                activity,
            })
    }

    /// The configuration's `presence`: `Availability` (the activity of
    /// the same name, `Offline` for `Offline`) or `Availability/Activity`.
    pub(crate) fn from_setting(setting: &str) -> Option<Pair> {
        match setting.split_once('/') {
            Some((availability, activity)) => Pair::known(availability.trim(), activity.trim()),
            None => {
                let availability = canonical(&AVAILABILITIES, setting.trim())?;
                let activity = match availability {
                    "AvailableIdle" => "Inactive",
                    "BusyIdle" => "Inactive",
                    other => canonical(&ACTIVITIES, other)?,
                };
                Some(Pair {
                    availability,
                    activity,
                })
            }
        }
    }

    /// Aggregation order: DoNotDisturb > Busy > Available > Away, idle
    /// states just below their active ones.
    fn rank(self) -> u8 {
        match self.availability {
            "DoNotDisturb" => 7,
            "Busy" => 6,
            "BusyIdle" => 5,
            "Available" => 4,
            "AvailableIdle" => 3,
            "BeRightBack" => 2,
            "Away" => 1,
            _ => 0,
        }
    }
}

fn canonical(words: &[&'static str], word: &str) -> Option<&'static str> {
    words.iter().copied().find(|w| w.eq_ignore_ascii_case(word))
}

/// One user's presence sessions.
#[derive(Debug, Clone)]
pub(crate) struct UserPresence {
    /// The Teams client's state (`Offline`: signed out).
    client: Pair,
    /// Answered Direct Routing calls the user is in.
    calls: BTreeSet<u64>,
    /// `setPresence` sessions by session id, with their expiration.
    apps: BTreeMap<String, (Pair, SystemTime)>,
    /// `setUserPreferredPresence`, with its expiration.
    preferred: Option<(Pair, SystemTime)>,
    /// The aggregate last reported.
    published: Pair,
}

impl UserPresence {
    pub(crate) fn new(client: Pair) -> UserPresence {
        let mut user = UserPresence {
            client,
            calls: BTreeSet::new(),
            apps: BTreeMap::new(),
            preferred: None,
            published: Pair::OFFLINE,
        };
        user.published = user.aggregate();
        user
    }

    /// The presence Graph reports now.
    pub(crate) fn current(&self) -> Pair {
        self.published
    }

    pub(crate) fn set_client(&mut self, pair: Pair) {
        self.client = pair;
    }

    pub(crate) fn set_in_call(&mut self, call: u64, in_call: bool) {
        if in_call {
            self.calls.insert(call);
        } else {
            self.calls.remove(&call);
        }
    }

    pub(crate) fn set_session(&mut self, session: &str, pair: Pair, expires: SystemTime) {
        self.apps.insert(session.to_owned(), (pair, expires));
    }

    pub(crate) fn clear_session(&mut self, session: &str) -> bool {
        self.apps.remove(session).is_some()
    }

    pub(crate) fn set_preferred(&mut self, preferred: Option<(Pair, SystemTime)>) {
        self.preferred = preferred;
    }

    /// Drops what expired by `now`.
    pub(crate) fn expire(&mut self, now: SystemTime) {
        self.apps.retain(|_, (_, expires)| *expires > now);
        if self.preferred.is_some_and(|(_, expires)| expires <= now) {
            self.preferred = None;
        }
    }

    /// The next expiration of a session or of the preferred presence.
    pub(crate) fn next_expiry(&self) -> Option<SystemTime> {
        let apps = self.apps.values().map(|(_, expires)| *expires);
        apps.chain(self.preferred.map(|(_, expires)| expires)).min()
    }

    /// Recomputes the aggregate; the new one if it changed.
    pub(crate) fn republish(&mut self) -> Option<Pair> {
        let now = self.aggregate();
        (now != self.published).then(|| {
            self.published = now;
            now
        })
    }

    fn aggregate(&self) -> Pair {
        let client = (self.client.availability != "Offline").then_some(self.client);
        let call = (!self.calls.is_empty()).then_some(Pair::IN_A_CALL);
        let apps = self.apps.values().map(|(pair, _)| *pair);
        let mut sessions = client.into_iter().chain(call).chain(apps).peekable();
        if sessions.peek().is_none() {
            return Pair::OFFLINE;
        }
        if let Some((preferred, _)) = self.preferred {
            return preferred;
        }
        sessions
            .reduce(|best, next| {
                if next.rank() > best.rank() {
                    next
                } else {
                    best
                }
            })
            .unwrap_or(Pair::OFFLINE)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_busiest_session_wins_and_preferred_overrides() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut user = UserPresence::new(Pair::AVAILABLE);
        assert_eq!(user.current(), Pair::AVAILABLE);
        user.set_in_call(1, true);
        assert_eq!(user.republish(), Some(Pair::IN_A_CALL));
        let away = Pair::among(&SESSION_PAIRS, "away", "AWAY").unwrap();
        user.set_session("app", away, now + Duration::from_secs(300));
        assert_eq!(user.republish(), None, "Busy outranks Away");
        let dnd = Pair::among(&PREFERRED_PAIRS, "DoNotDisturb", "DoNotDisturb").unwrap();
        user.set_preferred(Some((dnd, now + Duration::from_secs(60))));
        assert_eq!(user.republish(), Some(dnd));
        user.expire(now + Duration::from_secs(61));
        assert_eq!(user.republish(), Some(Pair::IN_A_CALL));
        user.set_in_call(1, false);
        assert_eq!(user.republish(), Some(Pair::AVAILABLE));
        assert_eq!(user.next_expiry(), Some(now + Duration::from_secs(300)));
    }

    #[test]
    fn without_sessions_the_user_is_offline_even_with_a_preference() {
        let now = SystemTime::UNIX_EPOCH;
        let mut user = UserPresence::new(Pair::OFFLINE);
        assert_eq!(user.current(), Pair::OFFLINE);
        let busy = Pair::among(&PREFERRED_PAIRS, "Busy", "Busy").unwrap();
        user.set_preferred(Some((busy, now + Duration::from_secs(60))));
        assert_eq!(user.republish(), None);
        user.set_session("app", Pair::AVAILABLE, now + Duration::from_secs(30));
        assert_eq!(user.republish(), Some(busy));
        user.expire(now + Duration::from_secs(30));
        assert_eq!(user.republish(), Some(Pair::OFFLINE));
    }

    #[test]
    fn settings_and_pairs() {
        assert_eq!(Pair::from_setting("available"), Some(Pair::AVAILABLE));
        assert_eq!(Pair::from_setting("Busy/InACall"), Some(Pair::IN_A_CALL));
        assert_eq!(Pair::from_setting("Offline"), Some(Pair::OFFLINE));
        assert_eq!(
            Pair::from_setting("BusyIdle").map(|p| p.activity),
            Some("Inactive")
        );
        assert_eq!(Pair::from_setting("Green"), None);
        assert_eq!(Pair::from_setting("Busy/Sleeping"), None);
        assert!(Pair::among(&SESSION_PAIRS, "DoNotDisturb", "Presenting").is_none());
    }
}
