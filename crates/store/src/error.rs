//! The store's errors.

use std::path::PathBuf;

/// What went wrong opening or using a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file exists but is not an SQLite database, or is corrupt.
    #[error("{path} is not a switchboard store (not an SQLite database, or corrupt): {source}")]
    NotADatabase {
        /// The file.
        path: PathBuf,
        /// SQLite's report.
        source: sqlx::Error,
    },
    /// The file could not be opened (permissions, locked, missing
    /// directory).
    #[error("cannot open the store {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date (e.g. a database of
    /// another application, or written by a newer switchboard).
    #[error("cannot migrate the store's schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The batch does not continue the log: events would be missing.
    #[error("sequence gap: the log ends at {last}, the batch starts at {first}")]
    Gap {
        /// The last stored seq (0 for an empty log).
        last: u64,
        /// The batch's first seq.
        first: u64,
    },
    /// The batch's own seqs do not increase by one.
    #[error("the batch is not contiguous: seq {next} follows {previous}")]
    NotContiguous {
        /// The earlier seq.
        previous: u64,
        /// The seq that should have been `previous + 1`.
        next: u64,
    },
    /// A seq is already stored with other content: two writers, or a
    /// writer that lost track of the log.
    #[error("event {seq} is already stored with different content")]
    Conflict {
        /// The seq.
        seq: u64,
    },
    /// A value does not fit the schema's signed 64-bit integers (seq 0 or
    /// above `i64::MAX`).
    #[error("{what} {value} is out of range")]
    OutOfRange {
        /// Which value.
        what: &'static str,
        /// The value.
        value: u64,
    },
    /// Any other database failure (I/O error, disk full, busy).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The store's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
