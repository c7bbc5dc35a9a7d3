//! switchboard's durable event log and call detail records.
//!
//! Every state change is an immutable [`StoredEvent`] with a tenant and
//! a sequence number contiguous from 1 across restarts: the engine's
//! events ([`engine_event`]) and the call layer's own facts
//! ([`CallFact`]: caller and DID, IVR steps, transfers, hold, the end of
//! the call). A [`Store`] appends them in one transaction per batch and
//! is durable when [`Store::append`] returns; the CDR of a call
//! ([`Cdr`], [`derive_cdr`]) is written in the same transaction as the
//! event that completes the call, so after a crash no completed call
//! lacks its CDR and no CDR exists without its completion.
//!
//! The embedded backend is [`SqliteStore`]: one file in the data
//! directory, WAL journal, `synchronous=FULL`. The schema
//! (`migrations/`) is portable SQL for the PostgreSQL backend to come.
//!
//! The call layer writes through a [`Recorder`]; exports are
//! [`export_csv`] and [`export_json`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Instant;
//! use store::{CallFact, CdrQuery, EndCause, Recorder, SqliteStore, Store, WallClock};
//!
//! # async fn run(mut engine: acd::Engine, tenant: acd::TenantId, queue: acd::QueueId) -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(SqliteStore::open("/var/lib/switchboard/switchboard.db").await?);
//! let mut recorder = Recorder::resume(store.clone(), WallClock::now()).await?;
//!
//! // A call arrives and goes through the IVR to a queue.
//! let call = recorder.call_key(1);
//! let now = Instant::now();
//! recorder.call(&call, tenant, now, CallFact::Started { caller: "+15550100".into(), did: "+15550199".into() });
//! let id = engine.handle_call_arrived(now, tenant, queue, Default::default(), acd::Priority(0))?;
//! recorder.link(id, &call);
//! while let Some(event) = engine.poll_event() {
//!     recorder.engine_event(&event);
//! }
//! recorder.flush().await?; // durable: now carry out engine.poll_command()
//!
//! // ... later the caller hangs up.
//! recorder.call(&call, tenant, Instant::now(), CallFact::Ended { cause: EndCause::CallerHangup });
//! recorder.flush().await?;
//!
//! let cdrs = store.cdrs(CdrQuery::default()).await?;
//! store::export_csv(std::io::stdout().lock(), &cdrs.cdrs)?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod call_fact;
mod cdr;
mod engine_event;
mod error;
mod export;
mod record;
mod recorder;
mod sqlite;
mod store;

pub use call_fact::{transfer_target_label, CallFact, EndCause};
pub use cdr::{derive_cdr, Cdr, CdrReplay, Derivation, Outcome, SkippedEvent};
pub use engine_event::engine_event;
pub use error::{Error, Result};
pub use export::{
    export_csv, export_csv_rows, export_json, format_unix_ms, parse_time, CDR_COLUMNS,
};
pub use record::{kind, StoredEvent, WallClock};
pub use recorder::Recorder;
pub use sqlite::{Durability, SqliteStore};
pub use store::{
    replay_cdrs, BadRow, CdrPage, CdrQuery, EventPage, OpenCall, Replay, Store, StoreFuture,
};
