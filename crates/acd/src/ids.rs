//! Typed identifiers and small value types.
//!
//! Every object but the tenant carries its tenant inside its id, so a
//! lookup is always scoped by tenant and a reference across tenants is
//! visible in the id itself ([`AgentId::tenant`]).

use std::fmt;

/// A customer tenant (one Microsoft Teams tenant served by the provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantId(u32);

impl TenantId {
    /// The tenant numbered `n`.
    pub const fn new(n: u32) -> Self {
        Self(n)
    }

    /// The tenant's number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenant{}", self.0)
    }
}

macro_rules! tenant_scoped_id {
    ($(#[$doc:meta])* $name:ident, $local:ty, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name {
            tenant: TenantId,
            local: $local,
        }

        impl $name {
            /// The object numbered `local` within `tenant`.
            pub const fn new(tenant: TenantId, local: $local) -> Self {
                Self { tenant, local }
            }

            /// The tenant the object belongs to.
            pub const fn tenant(self) -> TenantId {
                self.tenant
            }

            /// The object's number within its tenant.
            pub const fn local(self) -> $local {
                self.local
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}/{}{}", self.tenant, $prefix, self.local)
            }
        }
    };
}

tenant_scoped_id!(
    /// An agent: a Teams user who answers queue calls.
    AgentId,
    u32,
    "agent"
);
tenant_scoped_id!(
    /// A call queue.
    QueueId,
    u32,
    "queue"
);
tenant_scoped_id!(
    /// One interaction (a call, or a callback owed to a caller). The
    /// engine numbers them per tenant, in arrival order.
    InteractionId,
    u64,
    "interaction"
);
tenant_scoped_id!(
    /// An IVR flow (interpreted by a later part of the crate).
    FlowId,
    u32,
    "flow"
);
tenant_scoped_id!(
    /// A recorded prompt.
    PromptId,
    u32,
    "prompt"
);

/// A skill (e.g. "French", "Billing"). Skill numbers are tenant-local:
/// agents and queues that compare them always belong to one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SkillId(pub u32);

/// How well an agent masters a skill, on Amazon Connect's scale of 1
/// (basic) to 5 (expert). The scale is small on purpose: supervisors set
/// it by hand, and bullseye rings lower a requirement one step at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Proficiency(u8);

impl Proficiency {
    /// The lowest level, 1.
    pub const MIN: Proficiency = Proficiency(1);
    /// The highest level, 5.
    pub const MAX: Proficiency = Proficiency(5);

    /// `level` if it is within 1..=5.
    pub const fn new(level: u8) -> Option<Self> {
        if level >= Self::MIN.0 && level <= Self::MAX.0 {
            Some(Self(level))
        } else {
            None
        }
    }

    /// The level, 1..=5.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// This level lowered by `steps`, never below [`Proficiency::MIN`].
    pub(crate) fn lowered(self, steps: u8) -> Self {
        Self(self.0.saturating_sub(steps).max(Self::MIN.0))
    }
}

/// A caller's base priority: higher is served first. Aging adds to it
/// while the caller waits (see [`crate::PriorityAging`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Priority(pub u8);

/// A tenant-defined not-ready reason ("lunch", "training", ...). The
/// engine does not interpret the number; tenants name them elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReasonCode(pub u16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_tenant() {
        let agent = AgentId::new(TenantId::new(7), 3);
        assert_eq!(agent.tenant(), TenantId::new(7));
        assert_eq!(agent.local(), 3);
        assert_eq!(agent.to_string(), "tenant7/agent3");
        assert_ne!(agent, AgentId::new(TenantId::new(8), 3));
    }

    #[test]
    fn proficiency_is_one_to_five() {
        assert_eq!(Proficiency::new(0), None);
        assert_eq!(Proficiency::new(6), None);
        assert_eq!(Proficiency::new(3).map(Proficiency::get), Some(3));
        assert_eq!(Proficiency::MAX.lowered(2), Proficiency(3));
        assert_eq!(Proficiency::MAX.lowered(9), Proficiency::MIN);
    }
}
