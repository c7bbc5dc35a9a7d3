//! Load generator for the crash test: appends synthetic calls to the
//! store at PATH as fast as it can, eight in flight, each through
//! started -> IVR -> queued -> offered -> answered -> completed -> ended
//! (every fifth one an engine-only interaction that abandons), until
//! killed or after SECONDS (default 30).
//!
//! Usage: store-soak PATH [SECONDS]
//!
//! Prints `ready run=<N>` once the store is open, and `appended <seq>`
//! when it stops by itself.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use acd::{
    AgentId, EndReason, Event, EventKind, InteractionId, InteractionKind, Priority, QueueId,
    TenantId,
};
use store::{CallFact, EndCause, Recorder, SqliteStore, WallClock};

const IN_FLIGHT: u64 = 8;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: store-soak PATH [SECONDS]");
        return ExitCode::from(2);
    };
    let seconds = match args.next().map(|s| s.parse::<u64>()) {
        None => 30,
        Some(Ok(seconds)) => seconds,
        Some(Err(error)) => {
            eprintln!("store-soak: bad SECONDS: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("store-soak: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(soak(&path, Duration::from_secs(seconds))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("store-soak: {error}");
            ExitCode::FAILURE
        }
    }
}

/// One synthetic call in flight.
struct Call {
    key: String,
    interaction: InteractionId,
    /// Whether the call layer reports it (else an engine-only
    /// interaction).
    reported: bool,
    stage: u8,
}

async fn soak(path: &str, duration: Duration) -> store::Result<()> {
    let store = Arc::new(SqliteStore::open(path).await?);
    let mut recorder = Recorder::resume(store.clone(), WallClock::now()).await?;
    println!("ready run={}", recorder.run());
    let _ = std::io::stdout().flush();

    let tenant = TenantId::new(1);
    let queue = QueueId::new(tenant, 1);
    let start = Instant::now();
    let mut calls: Vec<Call> = Vec::new();
    let mut next_call = 1;
    let mut next_engine_seq = 1;
    while start.elapsed() < duration {
        while (calls.len() as u64) < IN_FLIGHT {
            calls.push(Call {
                key: recorder.call_key(next_call),
                interaction: InteractionId::new(tenant, next_call),
                reported: next_call % 5 != 0,
                stage: 0,
            });
            next_call += 1;
        }
        let now = Instant::now();
        for call in &mut calls {
            let agent = AgentId::new(tenant, (call.interaction.local() % 50) as u32 + 1);
            let interaction = call.interaction;
            let mut engine = |kind| {
                recorder.engine_event(&Event {
                    seq: next_engine_seq,
                    tenant,
                    at: now,
                    kind,
                });
                next_engine_seq += 1;
            };
            match (call.stage, call.reported) {
                (0, _) => {
                    if call.reported {
                        recorder.call(
                            &call.key,
                            tenant,
                            now,
                            CallFact::Started {
                                caller: format!("+1555{:07}", interaction.local()),
                                did: "+15550199".into(),
                            },
                        );
                        recorder.call(
                            &call.key,
                            tenant,
                            now,
                            CallFact::FlowStep {
                                flow: "main".into(),
                                node: "menu".into(),
                            },
                        );
                        recorder.link(interaction, &call.key);
                    }
                    recorder.engine_event(&Event {
                        seq: next_engine_seq,
                        tenant,
                        at: now,
                        kind: EventKind::Queued {
                            interaction,
                            queue,
                            kind: InteractionKind::Voice,
                            priority: Priority(0),
                            position: 1,
                        },
                    });
                    next_engine_seq += 1;
                }
                (1, false) => engine(EventKind::Abandoned {
                    interaction,
                    queue,
                    wait: Duration::from_millis(40),
                    position: 1,
                    original_position: 1,
                    while_ringing: false,
                }),
                (1, true) => engine(EventKind::AgentOffered {
                    interaction,
                    queue,
                    agent,
                    alert_until: now + Duration::from_secs(20),
                }),
                (2, _) => engine(EventKind::Answered {
                    interaction,
                    queue,
                    agent,
                    kind: InteractionKind::Voice,
                    wait: Duration::from_millis(70),
                }),
                (3, _) => {
                    engine(EventKind::Completed {
                        interaction,
                        queue,
                        agent,
                        talk: Duration::from_millis(500),
                        reason: EndReason::CallerHangup,
                    });
                    recorder.call(
                        &call.key,
                        tenant,
                        now,
                        CallFact::Ended {
                            cause: EndCause::CallerHangup,
                        },
                    );
                }
                _ => {}
            }
            call.stage += 1;
        }
        calls.retain(|call| call.stage < if call.reported { 4 } else { 2 });
        recorder.flush().await?;
    }
    let last = store::Store::last_seq(store.as_ref()).await?;
    println!("appended {last}");
    Ok(())
}
