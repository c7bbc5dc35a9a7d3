//! The Microsoft Teams Direct Routing SIP proxy, sans-IO.
//!
//! [`TeamsProxy`] behaves as Microsoft documents its proxies (see
//! `shared/specs/teams-direct-routing.md`): OPTIONS keepalive and SBC
//! health, tenant lookup by FQDN and certificate, calls in both
//! directions with SDES-SRTP, forking, REFER (RFC 3515 / RFC 5589) and
//! hold. Transactions and dialogs are `sip-core`'s (RFC 3261 §12-17,
//! RFC 6026); this module adds what Teams decides.

mod api;
mod calls;
mod directory;
mod event;
mod health;
mod media;
mod proxy;
pub(crate) mod rng;
mod sbc;
mod wire;

#[cfg(test)]
mod tests;

pub use api::TransferTarget;
pub use event::{
    CallId, ConnectionRef, Destination, Event, Party, ProxyId, RejectReason, SbcStatus, Source,
    Transmit,
};
pub use health::HEALTH_WINDOW;
pub use media::MediaPlan;
pub use proxy::{MediaPorts, TeamsProxy};
