//! Durability under a process kill: `store-soak` appends calls as fast
//! as it can and is killed with SIGKILL mid-load, three times; after
//! each kill the store reopens with a gap-free log, a CDR for every
//! completed call and none for the others, equal to a replay of the log.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use store::{kind, replay_cdrs, CdrQuery, Error, SqliteStore, Store, StoredEvent};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("store-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the soak until it is ready, lets it append for `load`, kills it.
fn soak_and_kill(path: &Path, load: Duration) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_store-soak"))
        .arg(path)
        .arg("60")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("ready run="), "soak said {line:?}");
    std::thread::sleep(load);
    // `Child::kill` is SIGKILL on Unix: no destructor, no flush.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the soak ended by itself: {status}");
}

async fn read_log(store: &SqliteStore) -> Vec<StoredEvent> {
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = store.events_since(after, 5000).await.unwrap();
        assert_eq!(page.bad_rows, vec![]);
        if page.last_seq == after {
            return events;
        }
        after = page.last_seq;
        events.extend(page.events);
    }
}

#[tokio::test]
async fn killed_mid_load_the_log_has_no_gap_and_every_completed_call_its_cdr() {
    let dir = TempDir::new("crash");
    let path = dir.0.join("data").join("switchboard.db");
    let mut last = 0;
    for round in 1..=3 {
        soak_and_kill(&path, Duration::from_millis(1000));
        let store = SqliteStore::open(&path).await.unwrap();
        let events = read_log(&store).await;
        let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
        let expected: Vec<u64> = (1..=events.len() as u64).collect();
        assert_eq!(seqs, expected, "round {round}: the log has a gap");
        assert_eq!(store.last_seq().await.unwrap(), events.len() as u64);
        assert!(
            events.len() as u64 > last,
            "round {round}: the soak appended nothing"
        );
        last = events.len() as u64;

        // Which records completed, at which event: a reported call at its
        // call_ended, an engine-only interaction at its abandoned.
        let mut started = BTreeSet::new();
        let mut completed = BTreeMap::new();
        for event in &events {
            let key = event.interaction.clone().unwrap();
            match event.kind.as_str() {
                kind::CALL_STARTED => {
                    started.insert(key);
                }
                kind::CALL_ENDED => {
                    completed.insert(key, event.seq);
                }
                kind::ABANDONED if !started.contains(&key) => {
                    completed.insert(key, event.seq);
                }
                _ => {}
            }
        }
        let cdrs = store.cdrs(CdrQuery::default()).await.unwrap();
        assert_eq!(cdrs.bad_rows, vec![]);
        let stored: BTreeMap<String, u64> = cdrs
            .cdrs
            .iter()
            .map(|cdr| (cdr.interaction.clone(), cdr.completed_seq))
            .collect();
        assert_eq!(stored.len(), cdrs.cdrs.len());
        let without_cdr: Vec<_> = completed
            .iter()
            .filter(|(key, seq)| stored.get(*key) != Some(seq))
            .collect();
        let without_completion: Vec<_> = stored
            .iter()
            .filter(|(key, seq)| completed.get(*key) != Some(seq))
            .collect();
        assert!(
            without_cdr.is_empty() && without_completion.is_empty(),
            "round {round}: completed without CDR {without_cdr:?}, \
             CDR without completion {without_completion:?}"
        );
        assert!(
            started.len() > completed.len() / 2,
            "round {round}: too few calls"
        );

        let replay = replay_cdrs(&store).await.unwrap();
        assert_eq!(replay.skipped, vec![]);
        assert_eq!(replay.cdrs, cdrs.cdrs, "round {round}: replay differs");
        store.close().await;
        eprintln!(
            "round {round}: {} events, {} CDRs, {} calls started",
            events.len(),
            cdrs.cdrs.len(),
            started.len()
        );
    }
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_a_clear_error() {
    let dir = TempDir::new("garbage");
    let path = dir.0.join("switchboard.db");
    std::fs::write(&path, vec![0x5a; 64 * 1024]).unwrap();
    let error = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(error, Error::NotADatabase { .. }), "{error:?}");
    assert!(error.to_string().contains("is not a switchboard store"));
}

#[tokio::test]
async fn a_store_with_a_damaged_page_is_a_clear_error_not_a_panic() {
    let dir = TempDir::new("corrupt");
    let path = dir.0.join("switchboard.db");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        store.close().await;
    }
    // Keep the SQLite header, overwrite the schema page's contents.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 200);
    for byte in &mut bytes[100..] {
        *byte = 0xff;
    }
    std::fs::write(&path, bytes).unwrap();
    let error = SqliteStore::open(&path).await.unwrap_err();
    assert!(
        matches!(error, Error::NotADatabase { .. } | Error::Migrate(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_store_is_wal_with_full_sync_and_creates_its_directory() {
    let dir = TempDir::new("pragmas");
    let path = dir.0.join("a").join("b").join("switchboard.db");
    let store = SqliteStore::open(&path).await.unwrap();
    assert!(path.exists());
    assert!(dir.0.join("a/b/switchboard.db-wal").exists());
    store.close().await;
    // Reopening an existing store keeps its log.
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.last_seq().await.unwrap(), 0);
}
