//! Graph's presence words as the contact center's [`acd::Presence`].

use acd::Presence;

/// A Teams user's presence changed (or was first seen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PresenceUpdate {
    /// The Entra tenant id, as watched.
    pub(crate) tenant_id: String,
    /// The user's object id, as watched.
    pub(crate) object_id: String,
    /// The availability, mapped.
    pub(crate) presence: Presence,
    /// Graph's activity (`InACall`, `InAMeeting`...), for display.
    pub(crate) activity: String,
}

/// Graph's `availability`; `None` for a value Graph did not document
/// (routed as [`Presence::Unknown`], and counted).
pub(crate) fn availability(text: &str) -> Option<Presence> {
    Some(match text {
        "Available" => Presence::Available,
        "AvailableIdle" => Presence::AvailableIdle,
        "Away" => Presence::Away,
        "BeRightBack" => Presence::BeRightBack,
        "Busy" => Presence::Busy,
        "BusyIdle" => Presence::BusyIdle,
        "DoNotDisturb" => Presence::DoNotDisturb,
        "Offline" => Presence::Offline,
        "PresenceUnknown" => Presence::Unknown,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_availability_maps() {
        for text in emulator::AVAILABILITIES {
            assert!(availability(text).is_some(), "{text}");
        }
        assert_eq!(availability("Available"), Some(Presence::Available));
        assert_eq!(availability("PresenceUnknown"), Some(Presence::Unknown));
        assert_eq!(availability("available"), None);
        assert_eq!(availability("Focusing"), None);
    }
}
