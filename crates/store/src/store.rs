//! The [`Store`] trait every backend implements (SQLite now, PostgreSQL
//! later), and what its queries return.

use std::future::Future;
use std::pin::Pin;

use crate::cdr::{Cdr, CdrReplay, SkippedEvent};
use crate::error::Result;
use crate::record::StoredEvent;

/// A boxed future, so that `dyn Store` works (the binary picks the
/// backend from its configuration).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// The durable event log and its CDRs.
///
/// Sequence rules of [`Store::append`]: a batch's seqs increase by one
/// and continue the log (`last_seq() + 1`), else [`crate::Error::Gap`] or
/// [`crate::Error::NotContiguous`] and nothing is written. Events already
/// stored are accepted again if identical (a retry after an ambiguous
/// failure, or a replay after restart, is idempotent) and refused with
/// [`crate::Error::Conflict`] if they differ.
pub trait Store: Send + Sync {
    /// Appends `events` in one transaction, with the CDRs of the calls
    /// they complete. Durable when it returns `Ok`.
    fn append<'a>(&'a self, events: &'a [StoredEvent]) -> StoreFuture<'a, ()>;

    /// The last seq stored, 0 for an empty log.
    fn last_seq(&self) -> StoreFuture<'_, u64>;

    /// Up to `limit` events with seq above `after`, in order.
    fn events_since(&self, after: u64, limit: u32) -> StoreFuture<'_, EventPage>;

    /// Stored CDRs matching `query`, in completion order.
    fn cdrs(&self, query: CdrQuery) -> StoreFuture<'_, CdrPage>;

    /// Calls whose record started (`call_started`) and has no CDR: the
    /// calls that were up when the process stopped.
    fn open_calls(&self) -> StoreFuture<'_, Vec<OpenCall>>;
}

/// A call record with no end (see [`Store::open_calls`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCall {
    /// Its record key.
    pub interaction: String,
    /// Its tenant.
    pub tenant: u32,
    /// The time of its last event (ms since the Unix epoch).
    pub last_at_unix_ms: i64,
}

/// A page of the log.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventPage {
    /// The readable events.
    pub events: Vec<StoredEvent>,
    /// Rows that could not be read (reported, not fatal).
    pub bad_rows: Vec<BadRow>,
    /// The highest seq this page covered, readable or not: the `after`
    /// for the next page.
    pub last_seq: u64,
}

/// Which CDRs to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CdrQuery {
    /// Only calls that ended at or after this time (ms since the Unix
    /// epoch): repeated exports with the previous export's time miss
    /// nothing.
    pub since_unix_ms: Option<i64>,
    /// Only this tenant.
    pub tenant: Option<u32>,
    /// Only CDRs completed after this seq (paging).
    pub after_seq: Option<u64>,
    /// At most this many.
    pub limit: Option<u32>,
}

/// CDRs read from the store.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CdrPage {
    /// The readable CDRs.
    pub cdrs: Vec<Cdr>,
    /// Rows that could not be read.
    pub bad_rows: Vec<BadRow>,
}

/// A stored row that could not be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// The event seq or CDR key.
    pub row: String,
    /// Why.
    pub reason: String,
}

/// CDRs rebuilt from the whole log ([`replay_cdrs`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Replay {
    /// Every CDR the log implies, in completion order.
    pub cdrs: Vec<Cdr>,
    /// Rows that could not be read.
    pub bad_rows: Vec<BadRow>,
    /// Events the derivation did not understand.
    pub skipped: Vec<SkippedEvent>,
    /// Events read.
    pub events: u64,
}

/// Rebuilds every CDR from the log, page by page (for checks and for a
/// backend migration; the store keeps its `cdrs` up to date itself).
pub async fn replay_cdrs(store: &(impl Store + ?Sized)) -> Result<Replay> {
    const PAGE: u32 = 10_000;
    let mut replay = CdrReplay::new();
    let mut report = Replay::default();
    let mut after = 0;
    loop {
        let page = store.events_since(after, PAGE).await?;
        if page.last_seq <= after {
            break;
        }
        after = page.last_seq;
        report.events += page.events.len() as u64;
        report.bad_rows.extend(page.bad_rows);
        for event in &page.events {
            replay.apply(event);
        }
    }
    (report.cdrs, report.skipped) = replay.finish();
    Ok(report)
}
