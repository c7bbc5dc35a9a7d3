//! Teams presence as a routing input (Microsoft Graph `presence`
//! resource, `availability` property).

/// An agent's Teams availability, as Microsoft Graph reports it.
///
/// With presence-based routing on (the default, switched per tenant by
/// [`crate::TenantConfig::presence_routing`]) only [`Presence::Available`]
/// agents are offered calls, as in Teams call queues. Until the first
/// report an agent's presence is [`Presence::Unknown`], which does not
/// route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Presence {
    /// Green: routable.
    Available,
    /// Available but inactive for a while: not routable.
    AvailableIdle,
    /// In a call or meeting: not routable.
    Busy,
    /// Busy and inactive: not routable.
    BusyIdle,
    /// Do not disturb: not routable.
    DoNotDisturb,
    /// Be right back: not routable.
    BeRightBack,
    /// Away: not routable.
    Away,
    /// Signed out of Teams: not routable, and not counted as staffing a
    /// queue (the no-agents action may apply).
    Offline,
    /// Not reported yet: not routable.
    #[default]
    Unknown,
}

impl Presence {
    /// Whether presence-based routing may offer this agent a call.
    pub fn is_routable(self) -> bool {
        matches!(self, Presence::Available)
    }

    /// Whether the agent counts as signed out.
    pub(crate) fn is_offline(self) -> bool {
        matches!(self, Presence::Offline)
    }
}
