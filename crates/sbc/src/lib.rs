//! switchboard's SBC policy layer: configuration and the decisions a
//! B2BUA between carrier SIP trunks and Microsoft Teams Direct Routing
//! asks for. Pure: no sockets, clocks or tasks; time is an `Instant`
//! argument.
//!
//! - [`Config`]: the TOML configuration, checked at load (file, key path
//!   and reason on every error).
//! - [`Gate`]: per request, source ACL / Teams recognition, flood and
//!   scanner protection, digest authentication; per call, concurrency and
//!   rate limits.
//! - [`Router`]: carrier DID -> tenant -> Teams user, static routes, and
//!   through a [`TenantScope`] everything a tenant's call needs (PSTN
//!   routes via the tenant's trunk and dial plan, Contact / Record-Route,
//!   REFER targets) without reaching another tenant.
//! - Teams Direct Routing: [`OptionsPinger`] (OPTIONS keepalive and proxy
//!   health) and [`ProxyFailover`] (sip -> sip2 -> sip3).
//! - [`Stats`]: a counter per [`RejectReason`].
//! - [`B2bua`]: the sans-IO back-to-back user agent that puts all of
//!   the above to work on calls (two dialogs per call, media anchored
//!   through a [`MediaAnchor`], SDP rewritten per leg); its module docs
//!   list the flows and the drain order.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Instant;
//! use sbc::{CarrierCall, Config, Gate, Peer, Router, Screening, Stats};
//!
//! # fn next_request() -> (sip::Request, std::net::IpAddr) { unimplemented!() }
//! let text = std::fs::read_to_string("examples/teams.toml")?;
//! let config = Arc::new(Config::from_toml_str(&text, "examples/teams.toml")?);
//! let stats = Arc::new(Stats::default());
//! let router = Router::new(config.clone(), stats.clone());
//! let mut gate = Gate::new(config, stats, b"random bytes from the OS", Instant::now());
//! loop {
//!     let (request, source) = next_request();
//!     let now = Instant::now();
//!     match gate.screen(&request, source, &[], now) {
//!         Screening::Accept(Peer::Trunk(trunk)) => {
//!             if let Ok(CarrierCall::Teams(call)) = router.route_from_carrier(&trunk, &request) {
//!                 let permit = gate.admit_call(Some(&trunk), Some(call.tenant.name()), now);
//!                 // ... INVITE towards Teams with call.tenant.contact(..) ...
//!                 # let _ = permit;
//!             }
//!         }
//!         Screening::Reject(rejection) => { /* answer rejection.status */ }
//!         _ => {}
//!     }
//! }
//! # #[allow(unreachable_code)]
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod b2bua;
mod config;
mod error;
mod header_policy;
mod number;
#[cfg(test)]
mod proptests;
mod routing;
mod security;
mod stats;
mod teams;

pub use b2bua::{
    response_for_unparsable, B2bua, B2buaEvent, B2buaSettings, CallId, ConnectionId, DialTarget,
    EndReason, LegId, LegPeer, MediaAnchor, NextHop, Outgoing, Party, PortAllocator, RandomSource,
    Source, SrtpKeys, StreamCodec, StreamMedia, TableSizes,
};
pub use config::{
    AuthSettings, CallLimits, CarrierTrunk, Config, Destination, DialPlan, DigestAccount, DtmfMode,
    FloodSettings, HostAddr, HostMap, Listener, MediaIoMode, MediaSettings, ProxyAddr, Route,
    RouteTarget, SbcSettings, SecuritySettings, TeamsTrunk, Tenant, TenantName, TlsFiles,
    Transport, TrunkName, DEFAULT_MAX_TRANSACTIONS,
};
pub use error::{ConfigError, DialError, MediaError, NumberError, PartyError, ReferError};
pub use header_policy::{HeaderPattern, HeaderPolicy};
pub use number::{NumberFormat, NumberPlan, NumberRule, E164};
pub use routing::{CarrierCall, FlowCall, Router, TeamsCall, TenantScope, TrunkCall};
pub use security::{CallPermit, DigestAlgorithm, Gate, Peer, Screening};
pub use stats::{RejectReason, Rejection, Stats};
pub use teams::{
    AttemptOutcome, FailoverDecision, HealthChange, OptionsPinger, OptionsProbe, ProxyFailover,
    ProxyHealth, ProxyId, ReferTarget,
};
