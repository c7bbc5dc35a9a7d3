//! Append throughput of the SQLite store in batches of 1 and 100 events,
//! with `synchronous=FULL` and `NORMAL` (a quick measurement, not a
//! benchmark).
//!
//! Usage: cargo run --release -p store --example append_rate [DIR]

use std::time::Instant;

use serde_json::json;
use store::{Durability, SqliteStore, Store, StoredEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("append-rate-{}", std::process::id()))
        });
    for durability in [Durability::Full, Durability::Normal] {
        for (batch, total) in [(1_u64, 2_000_u64), (100, 50_000)] {
            let path = dir.join(format!("{durability:?}-{batch}.db"));
            let store = SqliteStore::open_with(&path, durability).await?;
            let start = Instant::now();
            let mut seq = 1;
            while seq <= total {
                let events: Vec<StoredEvent> = (seq..seq + batch)
                    .map(|seq| StoredEvent {
                        seq,
                        tenant: 1,
                        at_unix_ms: 1_700_000_000_000 + seq as i64,
                        interaction: Some(format!("run1/call{}", seq / 6)),
                        kind: "agent_offered".into(),
                        body: json!({"queue": 1, "agent": seq % 50, "interaction_id": seq / 6}),
                    })
                    .collect();
                store.append(&events).await?;
                seq += batch;
            }
            let elapsed = start.elapsed();
            println!(
                "{durability:?} batch {batch:>3}: {total} events in {:.2} s = {:.0} events/s, {:.2} ms per append",
                elapsed.as_secs_f64(),
                total as f64 / elapsed.as_secs_f64(),
                elapsed.as_secs_f64() * 1000.0 * batch as f64 / total as f64,
            );
            store.close().await;
        }
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
