//! Faithful local stand-ins for Microsoft services, for tests and the
//! demo: today the Teams Direct Routing SIP proxies
//! (`sip.pstnhub.microsoft.com` and its secondaries), as described in
//! `shared/specs/teams-direct-routing.md`.
//!
//! - [`TeamsProxy`]: the proxies' behaviour, sans-IO (`handle_*` /
//!   `poll_*`, time as an input): OPTIONS health, tenant and user lookup,
//!   calls both ways with SDES-SRTP, forking, REFER, hold, failover modes,
//!   and an [`Event`] log for tests.
//! - [`EmulatorConfig`]: the `[emulator]` table of switchboard's TOML file.
//! - [`write_certificates`]: a test CA and certificates (rcgen) so the SBC
//!   and the emulator authenticate each other with mutual TLS.
//! - [`run`]: the thin tokio driver, listening with TLS on one loopback
//!   port per proxy; [`start`] returns a [`RunningEmulator`] to watch the
//!   events and act as Teams users.
//! - `[emulator.graph]` ([`GraphConfig`]): Microsoft Graph presence
//!   (get, batch, setPresence, change-notification subscriptions) and
//!   the Entra ID token endpoint over HTTP, started by [`start`] too or
//!   alone by [`start_graph`]; [`RunningGraph`] changes users' presence.
//!   Users in an answered Direct Routing call are Busy/InACall.
//!   [`graph_example`] is a small Graph world for the tests of Graph
//!   clients.
//!
//! ```no_run
//! use emulator::{write_certificates_for, EmulatorConfig};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let text = std::fs::read_to_string("examples/teams.toml")?;
//! let config = EmulatorConfig::from_toml(&text)?;
//! write_certificates_for(&config, &config.cert_dir)?;
//! let shutdown = CancellationToken::new();
//! let emulator = emulator::start(config, shutdown.clone()).await?;
//! let mut events = emulator.subscribe();
//! while let Ok(event) = events.recv().await {
//!     println!("{}", event.kind());
//! }
//! shutdown.cancel();
//! emulator.stopped().await;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod certs;
mod config;
mod driver;
mod error;
mod graph;
mod teams;

pub use certs::{
    ca_path, proxy_cert_paths, sbc_cert_paths, sbc_names, write_certificates,
    write_certificates_for, CertificatePaths,
};
pub use config::{
    Behaviour, EmulatorConfig, HostAddrs, ProxyConfig, ProxyMode, SbcConfig, TenantConfig,
    UserConfig, DEFAULT_PROXY_FQDNS,
};
pub use driver::{run, start, RunningEmulator};
pub use error::{CallError, CertError, ConfigError, GraphError, RunError};
pub use graph::example as graph_example;
pub use graph::{
    start_graph, GraphConfig, GraphStats, LifecycleEvent, RunningGraph, SubscriptionInfo,
    ACTIVITIES, AVAILABILITIES,
};
pub use teams::{
    CallId, ConnectionRef, Destination, Event, MediaPlan, MediaPorts, Party, ProxyId, RejectReason,
    SbcStatus, Source, TeamsProxy, TransferTarget, Transmit, HEALTH_WINDOW,
};
