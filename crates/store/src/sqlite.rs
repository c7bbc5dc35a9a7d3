//! The embedded backend: one SQLite file in the data directory, WAL
//! journal, `synchronous=FULL` by default (every commit is fsynced
//! before [`Store::append`] returns: durable across a process kill and
//! a power loss).

use std::borrow::Cow;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use serde_json::Value;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};

use crate::cdr::{derive_cdr, may_complete, Cdr, Outcome};
use crate::error::{Error, Result};
use crate::record::StoredEvent;
use crate::store::{BadRow, CdrPage, CdrQuery, EventPage, OpenCall, Store, StoreFuture};

/// When a commit counts as durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// `synchronous=FULL`: the WAL is fsynced at every commit; survives
    /// a process kill and a power loss.
    #[default]
    Full,
    /// `synchronous=NORMAL`: the WAL is fsynced only at checkpoints; a
    /// commit survives a process kill (it is in the OS page cache) but
    /// the last commits may be lost on power loss.
    Normal,
}

/// The schema, from `migrations/` (embedded at compile time, so the
/// binary needs no files beside it; sqlx's `migrate!` would need its
/// `macros` feature).
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "events and cdrs",
    include_str!("../migrations/0001_events_and_cdrs.sql"),
)];

#[derive(Debug)]
struct EmbeddedMigrations;

type BoxDynError = Box<dyn std::error::Error + Send + Sync>;

impl<'s> MigrationSource<'s> for EmbeddedMigrations {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// SQLite result codes (primary, the low byte of the extended code)
/// that mean the file is not a usable database.
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_NOTADB: i64 = 26;

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (or creates, with its parent directory) the store at `path`
    /// with [`Durability::Full`] and brings its schema up to date.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, Durability::Full).await
    }

    /// Like [`SqliteStore::open`], with a chosen durability.
    pub async fn open_with(path: impl AsRef<Path>, durability: Durability) -> Result<Self> {
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| Error::CreateDir {
                path: parent.to_owned(),
                source,
            })?;
        }
        let synchronous = match durability {
            Durability::Full => SqliteSynchronous::Full,
            Durability::Normal => SqliteSynchronous::Normal,
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(5));
        let classify = |source| classify(path, source);
        let pool = pool_options()
            .connect_with(options)
            .await
            .map_err(classify)?;
        let store = Self { pool };
        store.migrate().await.map_err(|error| match error {
            Error::Migrate(sqlx::migrate::MigrateError::Execute(source)) => classify(source),
            other => other,
        })?;
        Ok(store)
    }

    /// A fresh store in memory (tests).
    pub async fn memory() -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
        // One connection, kept forever: each connection to `:memory:` is
        // its own database.
        let pool = pool_options().connect_with(options).await?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Closes the connections (waits for a running append).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrate(&self) -> Result<()> {
        let migrator = Migrator::new(EmbeddedMigrations).await?;
        migrator.run(&self.pool).await?;
        Ok(())
    }

    async fn append_batch(&self, events: &[StoredEvent]) -> Result<()> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        for pair in events.windows(2) {
            if pair[0].seq.checked_add(1) != Some(pair[1].seq) {
                return Err(Error::NotContiguous {
                    previous: pair[0].seq,
                    next: pair[1].seq,
                });
            }
        }
        let first = first.seq;
        if first == 0 {
            return Err(Error::OutOfRange {
                what: "seq",
                value: 0,
            });
        }
        // IMMEDIATE: take the write lock before reading the last seq, so
        // that two writers cannot both extend the same log end.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let last = last_seq(&mut tx).await?;
        if first > last.saturating_add(1) {
            return Err(Error::Gap { last, first });
        }
        let stored = usize::try_from(last.saturating_add(1) - first)
            .unwrap_or(usize::MAX)
            .min(events.len());
        let (replayed, new) = events.split_at(stored);
        for event in replayed {
            let row = sqlx::query(
                "SELECT seq, tenant, at_unix_ms, interaction, kind, body FROM events WHERE seq = $1",
            )
            .bind(to_i64("seq", event.seq)?)
            .fetch_one(&mut *tx)
            .await?;
            if event_from_row(&row).as_ref() != Ok(event) {
                return Err(Error::Conflict { seq: event.seq });
            }
        }
        for event in new {
            sqlx::query(
                "INSERT INTO events (seq, tenant, at_unix_ms, interaction, kind, body) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(to_i64("seq", event.seq)?)
            .bind(i64::from(event.tenant))
            .bind(event.at_unix_ms)
            .bind(event.interaction.as_deref())
            .bind(event.kind.as_str())
            .bind(event.body.to_string())
            .execute(&mut *tx)
            .await?;
        }
        for event in new.iter().filter(|event| may_complete(&event.kind)) {
            let Some(key) = event.interaction.as_deref() else {
                continue;
            };
            let rows = sqlx::query(
                "SELECT seq, tenant, at_unix_ms, interaction, kind, body FROM events \
                 WHERE interaction = $1 AND seq <= $2 ORDER BY seq",
            )
            .bind(key)
            .bind(to_i64("seq", event.seq)?)
            .fetch_all(&mut *tx)
            .await?;
            let history: Vec<StoredEvent> = rows
                .iter()
                .filter_map(|row| event_from_row(row).ok())
                .collect();
            if let Some(cdr) = derive_cdr(&history).cdr {
                insert_cdr(&mut tx, &cdr).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn read_events(&self, after: u64, limit: u32) -> Result<EventPage> {
        let rows = sqlx::query(
            "SELECT seq, tenant, at_unix_ms, interaction, kind, body FROM events \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(to_i64("seq", after)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut page = EventPage {
            last_seq: after,
            ..EventPage::default()
        };
        for row in &rows {
            let seq: i64 = row.try_get("seq")?;
            page.last_seq = page.last_seq.max(u64::try_from(seq).unwrap_or(0));
            match event_from_row(row) {
                Ok(event) => page.events.push(event),
                Err(reason) => page.bad_rows.push(BadRow {
                    row: format!("event {seq}"),
                    reason,
                }),
            }
        }
        Ok(page)
    }

    async fn read_cdrs(&self, query: CdrQuery) -> Result<CdrPage> {
        let mut sql = String::from(
            "SELECT interaction, completed_seq, tenant, started_at_unix_ms, ended_at_unix_ms, \
             caller, did, flow_path, queue, wait_ms, agent, talk_ms, hold_ms, outcome, \
             transfer_target FROM cdrs WHERE completed_seq > $1",
        );
        let mut next = 2;
        let mut clause = |sql: &mut String, text: &str| {
            sql.push_str(&format!(" AND {text} ${next}"));
            next += 1;
        };
        if query.since_unix_ms.is_some() {
            clause(&mut sql, "ended_at_unix_ms >=");
        }
        if query.tenant.is_some() {
            clause(&mut sql, "tenant =");
        }
        sql.push_str(" ORDER BY completed_seq");
        if query.limit.is_some() {
            sql.push_str(&format!(" LIMIT ${next}"));
        }
        let mut statement = sqlx::query(&sql).bind(to_i64("seq", query.after_seq.unwrap_or(0))?);
        if let Some(since) = query.since_unix_ms {
            statement = statement.bind(since);
        }
        if let Some(tenant) = query.tenant {
            statement = statement.bind(i64::from(tenant));
        }
        if let Some(limit) = query.limit {
            statement = statement.bind(i64::from(limit));
        }
        let rows = statement.fetch_all(&self.pool).await?;
        let mut page = CdrPage::default();
        for row in &rows {
            match cdr_from_row(row) {
                Ok(cdr) => page.cdrs.push(cdr),
                Err(reason) => page.bad_rows.push(BadRow {
                    row: format!(
                        "cdr {}",
                        row.try_get::<String, _>("interaction").unwrap_or_default()
                    ),
                    reason,
                }),
            }
        }
        Ok(page)
    }

    #[cfg(test)]
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl Store for SqliteStore {
    fn append<'a>(&'a self, events: &'a [StoredEvent]) -> StoreFuture<'a, ()> {
        Box::pin(self.append_batch(events))
    }

    fn last_seq(&self) -> StoreFuture<'_, u64> {
        Box::pin(async {
            let mut connection = self.pool.acquire().await?;
            last_seq(&mut connection).await
        })
    }

    fn events_since(&self, after: u64, limit: u32) -> StoreFuture<'_, EventPage> {
        Box::pin(self.read_events(after, limit))
    }

    fn cdrs(&self, query: CdrQuery) -> StoreFuture<'_, CdrPage> {
        Box::pin(self.read_cdrs(query))
    }

    fn open_calls(&self) -> StoreFuture<'_, Vec<OpenCall>> {
        Box::pin(async {
            let mut connection = self.pool.acquire().await?;
            let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT e.interaction, MIN(e.tenant), MAX(e.at_unix_ms) FROM events e \
                 WHERE e.interaction IN (SELECT s.interaction FROM events s WHERE s.kind = $1) \
                 AND NOT EXISTS (SELECT 1 FROM cdrs c WHERE c.interaction = e.interaction) \
                 GROUP BY e.interaction ORDER BY MIN(e.seq)",
            )
            .bind(crate::record::kind::CALL_STARTED)
            .fetch_all(&mut *connection)
            .await?;
            Ok(rows
                .into_iter()
                .filter_map(|(interaction, tenant, last_at_unix_ms)| {
                    Some(OpenCall {
                        interaction,
                        tenant: u32::try_from(tenant).ok()?,
                        last_at_unix_ms,
                    })
                })
                .collect())
        })
    }
}

fn pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
}

fn classify(path: &Path, source: sqlx::Error) -> Error {
    let code = source
        .as_database_error()
        .and_then(|error| error.code())
        .and_then(|code| code.parse::<i64>().ok())
        .map(|code| code & 0xff);
    let path: PathBuf = path.to_owned();
    match code {
        Some(SQLITE_NOTADB | SQLITE_CORRUPT) => Error::NotADatabase { path, source },
        _ => Error::Open { path, source },
    }
}

async fn last_seq(connection: &mut SqliteConnection) -> Result<u64> {
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events")
        .fetch_one(connection)
        .await?;
    Ok(last.and_then(|seq| u64::try_from(seq).ok()).unwrap_or(0))
}

async fn insert_cdr(connection: &mut SqliteConnection, cdr: &Cdr) -> Result<()> {
    let optional = |value: Option<u64>| value.map(saturating_i64);
    sqlx::query(
        "INSERT INTO cdrs (interaction, completed_seq, tenant, started_at_unix_ms, \
         ended_at_unix_ms, caller, did, flow_path, queue, wait_ms, agent, talk_ms, hold_ms, \
         outcome, transfer_target) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (interaction) DO NOTHING",
    )
    .bind(cdr.interaction.as_str())
    .bind(to_i64("seq", cdr.completed_seq)?)
    .bind(i64::from(cdr.tenant))
    .bind(cdr.started_at_unix_ms)
    .bind(cdr.ended_at_unix_ms)
    .bind(cdr.caller.as_deref())
    .bind(cdr.did.as_deref())
    .bind(Value::from(cdr.flow_path.clone()).to_string())
    .bind(cdr.queue.map(i64::from))
    .bind(optional(cdr.wait_ms))
    .bind(cdr.agent.map(i64::from))
    .bind(optional(cdr.talk_ms))
    .bind(saturating_i64(cdr.hold_ms))
    .bind(cdr.outcome.as_str())
    .bind(cdr.transfer_target.as_deref())
    .execute(connection)
    .await?;
    Ok(())
}

fn event_from_row(row: &SqliteRow) -> Result<StoredEvent, String> {
    let field = |error: sqlx::Error| error.to_string();
    let seq: i64 = row.try_get("seq").map_err(field)?;
    let tenant: i64 = row.try_get("tenant").map_err(field)?;
    let body: String = row.try_get("body").map_err(field)?;
    Ok(StoredEvent {
        seq: u64::try_from(seq).map_err(|_| format!("negative seq {seq}"))?,
        tenant: u32::try_from(tenant).map_err(|_| format!("tenant {tenant} out of range"))?,
        at_unix_ms: row.try_get("at_unix_ms").map_err(field)?,
        interaction: row.try_get("interaction").map_err(field)?,
        kind: row.try_get("kind").map_err(field)?,
        body: serde_json::from_str(&body).map_err(|error| format!("body is not JSON: {error}"))?,
    })
}

fn cdr_from_row(row: &SqliteRow) -> Result<Cdr, String> {
    let field = |error: sqlx::Error| error.to_string();
    let unsigned = |name: &str| -> Result<Option<u64>, String> {
        let value: Option<i64> = row.try_get(name).map_err(field)?;
        value
            .map(|n| u64::try_from(n).map_err(|_| format!("{name} {n} is negative")))
            .transpose()
    };
    let small = |name: &str| -> Result<Option<u32>, String> {
        let value: Option<i64> = row.try_get(name).map_err(field)?;
        value
            .map(|n| u32::try_from(n).map_err(|_| format!("{name} {n} out of range")))
            .transpose()
    };
    let flow_path: String = row.try_get("flow_path").map_err(field)?;
    let outcome: String = row.try_get("outcome").map_err(field)?;
    Ok(Cdr {
        interaction: row.try_get("interaction").map_err(field)?,
        completed_seq: unsigned("completed_seq")?.unwrap_or(0),
        tenant: small("tenant")?.unwrap_or(0),
        started_at_unix_ms: row.try_get("started_at_unix_ms").map_err(field)?,
        ended_at_unix_ms: row.try_get("ended_at_unix_ms").map_err(field)?,
        caller: row.try_get("caller").map_err(field)?,
        did: row.try_get("did").map_err(field)?,
        flow_path: serde_json::from_str(&flow_path)
            .map_err(|error| format!("flow_path is not a JSON list of text: {error}"))?,
        queue: small("queue")?,
        wait_ms: unsigned("wait_ms")?,
        agent: small("agent")?,
        talk_ms: unsigned("talk_ms")?,
        hold_ms: unsigned("hold_ms")?.unwrap_or(0),
        outcome: Outcome::parse(&outcome).ok_or_else(|| format!("unknown outcome {outcome:?}"))?,
        transfer_target: row.try_get("transfer_target").map_err(field)?,
    })
}

fn to_i64(what: &'static str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::OutOfRange { what, value })
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::replay_cdrs;

    fn event(seq: u64, key: &str, kind: &str, body: Value) -> StoredEvent {
        StoredEvent {
            seq,
            tenant: 1,
            at_unix_ms: 1_000 * seq as i64,
            interaction: Some(key.to_owned()),
            kind: kind.to_owned(),
            body,
        }
    }

    fn call(first_seq: u64, key: &str) -> Vec<StoredEvent> {
        vec![
            event(
                first_seq,
                key,
                "call_started",
                json!({"caller": "+1", "did": "+2"}),
            ),
            event(first_seq + 1, key, "queued", json!({"queue": 1})),
            event(
                first_seq + 2,
                key,
                "answered",
                json!({"queue": 1, "agent": 3, "wait_ms": 900}),
            ),
            event(
                first_seq + 3,
                key,
                "completed",
                json!({"queue": 1, "agent": 3, "talk_ms": 5000}),
            ),
            event(
                first_seq + 4,
                key,
                "call_ended",
                json!({"cause": "caller_hangup"}),
            ),
        ]
    }

    #[test]
    fn every_migration_file_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files.len(), MIGRATIONS.len());
        for (file, (version, _, _)) in files.iter().zip(MIGRATIONS) {
            assert!(file.starts_with(&format!("{version:04}_")), "{file}");
        }
    }

    #[tokio::test]
    async fn files_are_wal_with_the_chosen_synchronous_level() {
        let dir = std::env::temp_dir().join(format!("store-pragmas-{}", std::process::id()));
        for (durability, level) in [(Durability::Full, 2), (Durability::Normal, 1)] {
            let path = dir.join(format!("{level}.db"));
            let store = SqliteStore::open_with(&path, durability).await.unwrap();
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(store.pool())
                .await
                .unwrap();
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert_eq!((mode.as_str(), synchronous), ("wal", level));
            store.close().await;
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn append_is_contiguous_and_writes_the_cdr_with_the_completing_event() {
        let store = SqliteStore::memory().await.unwrap();
        assert_eq!(store.last_seq().await.unwrap(), 0);
        let events = call(1, "c1");
        store.append(&events[..4]).await.unwrap();
        assert!(store
            .cdrs(CdrQuery::default())
            .await
            .unwrap()
            .cdrs
            .is_empty());
        store.append(&events[4..]).await.unwrap();
        assert_eq!(store.last_seq().await.unwrap(), 5);
        let cdrs = store.cdrs(CdrQuery::default()).await.unwrap();
        assert_eq!(cdrs.cdrs.len(), 1);
        assert_eq!(cdrs.cdrs[0].talk_ms, Some(5000));
        assert_eq!(cdrs.cdrs[0].outcome, Outcome::Answered);
        assert_eq!(cdrs.cdrs[0].completed_seq, 5);
        let page = store.events_since(2, 2).await.unwrap();
        assert_eq!(page.events, events[2..4]);
        assert_eq!(page.last_seq, 4);
    }

    #[tokio::test]
    async fn gaps_and_holes_are_refused_and_nothing_is_written() {
        let store = SqliteStore::memory().await.unwrap();
        let events = call(1, "c1");
        let gap = store.append(&events[1..]).await.unwrap_err();
        assert!(matches!(gap, Error::Gap { last: 0, first: 2 }), "{gap}");
        let hole = [events[0].clone(), events[2].clone()];
        let hole = store.append(&hole).await.unwrap_err();
        assert!(
            matches!(
                hole,
                Error::NotContiguous {
                    previous: 1,
                    next: 3
                }
            ),
            "{hole}"
        );
        let zero = store
            .append(&[event(0, "c", "call_started", json!({}))])
            .await;
        assert!(matches!(zero, Err(Error::OutOfRange { .. })));
        assert_eq!(store.last_seq().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn replaying_stored_events_is_idempotent_but_different_content_conflicts() {
        let store = SqliteStore::memory().await.unwrap();
        let events = call(1, "c1");
        store.append(&events[..3]).await.unwrap();
        // A retry that overlaps what is stored and continues it.
        store.append(&events[1..]).await.unwrap();
        store.append(&events).await.unwrap();
        assert_eq!(store.last_seq().await.unwrap(), 5);
        assert_eq!(store.cdrs(CdrQuery::default()).await.unwrap().cdrs.len(), 1);
        let mut changed = events[2].clone();
        changed.body = json!({"queue": 1, "agent": 4, "wait_ms": 900});
        let conflict = store.append(&[changed]).await.unwrap_err();
        assert!(matches!(conflict, Error::Conflict { seq: 3 }), "{conflict}");
    }

    #[tokio::test]
    async fn cdr_query_filters_by_end_time_tenant_and_page() {
        let store = SqliteStore::memory().await.unwrap();
        let mut events = call(1, "a");
        events.extend(call(6, "b"));
        for event in &mut events[5..] {
            event.tenant = 2;
        }
        store.append(&events).await.unwrap();
        let all = store.cdrs(CdrQuery::default()).await.unwrap().cdrs;
        assert_eq!(
            all.iter()
                .map(|c| c.interaction.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        let late = CdrQuery {
            since_unix_ms: Some(6_000),
            ..CdrQuery::default()
        };
        assert_eq!(store.cdrs(late).await.unwrap().cdrs, all[1..]);
        let tenant = CdrQuery {
            tenant: Some(1),
            ..CdrQuery::default()
        };
        assert_eq!(store.cdrs(tenant).await.unwrap().cdrs, all[..1]);
        let page = CdrQuery {
            after_seq: Some(5),
            limit: Some(1),
            ..CdrQuery::default()
        };
        assert_eq!(store.cdrs(page).await.unwrap().cdrs, all[1..]);
    }

    #[tokio::test]
    async fn bad_rows_are_reported_and_counted() {
        let store = SqliteStore::memory().await.unwrap();
        store.append(&call(1, "a")).await.unwrap();
        sqlx::query(
            "INSERT INTO events (seq, tenant, at_unix_ms, interaction, kind, body) VALUES \
             (6, 1, 6000, 'b', 'teleported', '{}'), (7, 1, 7000, 'b', 'queued', 'not json'), \
             (8, -4, 8000, NULL, 'queued', '{}')",
        )
        .execute(store.pool())
        .await
        .unwrap();
        sqlx::query("UPDATE cdrs SET outcome = 'vanished'")
            .execute(store.pool())
            .await
            .unwrap();
        let page = store.events_since(0, 100).await.unwrap();
        assert_eq!(page.events.len(), 6);
        assert_eq!(page.last_seq, 8);
        let rows: Vec<_> = page.bad_rows.iter().map(|bad| bad.row.as_str()).collect();
        assert_eq!(rows, ["event 7", "event 8"]);
        let replay = replay_cdrs(&store).await.unwrap();
        assert_eq!(replay.bad_rows.len(), 2);
        assert_eq!(replay.skipped.len(), 1);
        assert_eq!(replay.skipped[0].seq, 6);
        assert_eq!(replay.cdrs.len(), 1);
        let cdrs = store.cdrs(CdrQuery::default()).await.unwrap();
        assert!(cdrs.cdrs.is_empty());
        assert_eq!(cdrs.bad_rows.len(), 1);
        assert!(cdrs.bad_rows[0].reason.contains("vanished"));
    }
}
