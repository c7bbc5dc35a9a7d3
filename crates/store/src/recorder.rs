//! [`Recorder`]: how the call layer writes the log. It numbers events
//! (contiguous across restarts), names call records, buffers a batch and
//! makes it durable in one [`Store::append`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use acd::{Event, InteractionId, TenantId};

use crate::call_fact::CallFact;
use crate::engine_event::engine_event;
use crate::error::Result;
use crate::record::{kind, StoredEvent, WallClock};
use crate::store::Store;

/// Writes the log for one run of the engine.
///
/// Record keys: a call is named by the call layer (any unique text, e.g.
/// `run7/call12` from [`Recorder::call_key`], or a SIP Call-ID); after
/// [`Recorder::link`] the engine's events for an interaction go to that
/// call's record. An interaction never linked gets its own record,
/// `run<N>/tenant<T>/interaction<I>` ([`Recorder::interaction_key`]):
/// the engine numbers interactions from 1 again after a restart, the
/// run number (the first seq of this run) keeps the keys unique.
///
/// Use: after every engine input, [`Recorder::engine_event`] for each
/// event drained, [`Recorder::call`] for call-level facts, then
/// [`Recorder::flush`] *before* carrying out the engine's commands.
/// Seqs are assigned at flush, where `call_ended` facts move behind the
/// other events of the batch (so the engine's `completed`, which carries
/// the talk time, is in the call's record before it completes).
pub struct Recorder {
    store: Arc<dyn Store>,
    clock: WallClock,
    run: u64,
    next_seq: u64,
    links: HashMap<InteractionId, String>,
    /// Calls whose links are dropped at the next flush (the engine's
    /// last events for them may be drained after the call's end).
    ended: Vec<String>,
    pending: Vec<Pending>,
    /// A batch that failed to append, retried as is by the next flush.
    unsent: Vec<StoredEvent>,
    closed_on_resume: usize,
}

struct Pending {
    tenant: u32,
    at_unix_ms: i64,
    interaction: Option<String>,
    kind: String,
    body: serde_json::Value,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("run", &self.run)
            .field("next_seq", &self.next_seq)
            .field("pending", &self.pending.len())
            .field("unsent", &self.unsent.len())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Continues the log of `store`; `clock` maps the engine's instants
    /// to wall-clock time.
    /// Calls that were up when the previous run stopped get their
    /// `call_ended` (cause `interrupted`, at their last event's time) and
    /// so their CDR, before this returns ([`Recorder::closed_on_resume`]).
    pub async fn resume(store: Arc<dyn Store>, clock: WallClock) -> Result<Self> {
        let next_seq = store.last_seq().await?.saturating_add(1);
        let open = store.open_calls().await?;
        let mut recorder = Self {
            store,
            clock,
            run: next_seq,
            next_seq,
            links: HashMap::new(),
            ended: Vec::new(),
            pending: Vec::new(),
            unsent: Vec::new(),
            closed_on_resume: open.len(),
        };
        for call in open {
            recorder.pending.push(Pending {
                tenant: call.tenant,
                at_unix_ms: call.last_at_unix_ms,
                interaction: Some(call.interaction),
                kind: kind::CALL_ENDED.to_owned(),
                body: CallFact::Ended {
                    cause: crate::call_fact::EndCause::Interrupted,
                }
                .body(),
            });
        }
        recorder.flush().await?;
        Ok(recorder)
    }

    /// How many calls of the previous run [`Recorder::resume`] closed.
    pub fn closed_on_resume(&self) -> usize {
        self.closed_on_resume
    }

    /// This run's number (the first seq it writes).
    pub fn run(&self) -> u64 {
        self.run
    }

    /// A call key unique across runs: `run<N>/call<n>`.
    pub fn call_key(&self, n: u64) -> String {
        format!("run{}/call{n}", self.run)
    }

    /// The record key of an interaction: its linked call, else its own.
    pub fn interaction_key(&self, interaction: InteractionId) -> String {
        match self.links.get(&interaction) {
            Some(call) => call.clone(),
            None => format!("run{}/{interaction}", self.run),
        }
    }

    /// The engine's events for `interaction` belong to call `call` from
    /// now on (link before draining the events of the input that
    /// created the interaction). Dropped at the flush that writes the
    /// call's `call_ended`.
    pub fn link(&mut self, interaction: InteractionId, call: &str) {
        self.links.insert(interaction, call.to_owned());
    }

    /// Buffers an engine event.
    pub fn engine_event(&mut self, event: &Event) {
        let stored = engine_event(event, 0, &self.clock, |id| self.interaction_key(id));
        self.pending.push(Pending {
            tenant: stored.tenant,
            at_unix_ms: stored.at_unix_ms,
            interaction: stored.interaction,
            kind: stored.kind,
            body: stored.body,
        });
    }

    /// Buffers a call-level fact about call `call`.
    pub fn call(&mut self, call: &str, tenant: TenantId, at: Instant, fact: CallFact) {
        if matches!(fact, CallFact::Ended { .. }) {
            self.ended.push(call.to_owned());
        }
        self.pending.push(Pending {
            tenant: tenant.get(),
            at_unix_ms: self.clock.unix_ms(at),
            interaction: Some(call.to_owned()),
            kind: fact.kind().to_owned(),
            body: fact.body(),
        });
    }

    /// Events buffered and not yet durable.
    pub fn pending(&self) -> usize {
        self.pending.len() + self.unsent.len()
    }

    /// Appends everything buffered in one transaction; durable when it
    /// returns `Ok`. On error nothing is lost: the next flush retries the
    /// same batch first (the store accepts a batch it already holds).
    pub async fn flush(&mut self) -> Result<()> {
        if !self.unsent.is_empty() {
            self.store.append(&self.unsent).await?;
            self.unsent.clear();
        }
        if !self.ended.is_empty() {
            let ended = std::mem::take(&mut self.ended);
            self.links.retain(|_, call| !ended.contains(call));
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let (ends, mut batch): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|pending| pending.kind == kind::CALL_ENDED);
        batch.extend(ends);
        let first = self.next_seq;
        self.unsent = batch
            .into_iter()
            .zip(first..)
            .map(|(pending, seq)| StoredEvent {
                seq,
                tenant: pending.tenant,
                at_unix_ms: pending.at_unix_ms,
                interaction: pending.interaction,
                kind: pending.kind,
                body: pending.body,
            })
            .collect();
        self.next_seq = first.saturating_add(self.unsent.len() as u64);
        self.store.append(&self.unsent).await?;
        self.unsent.clear();
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use acd::{AgentId, EndReason, EventKind, InteractionKind, Priority, QueueId};

    use super::*;
    use crate::call_fact::EndCause;
    use crate::cdr::Outcome;
    use crate::store::{replay_cdrs, CdrQuery};
    use crate::SqliteStore;

    #[tokio::test]
    async fn calls_up_when_the_process_stopped_are_closed_on_resume() {
        let store = Arc::new(SqliteStore::memory().await.unwrap());
        let t0 = Instant::now();
        let clock = WallClock::new(t0, std::time::UNIX_EPOCH + Duration::from_secs(1_000));
        let mut first = Recorder::resume(store.clone(), clock).await.unwrap();
        assert_eq!(first.closed_on_resume(), 0);
        let tenant = TenantId::new(1);
        let (up, done) = (first.call_key(1), first.call_key(2));
        for call in [&up, &done] {
            let started = CallFact::Started {
                caller: "+12065550199".to_owned(),
                did: "+15550100".to_owned(),
            };
            first.call(call, tenant, t0, started);
        }
        let step = CallFact::FlowStep {
            flow: "main".to_owned(),
            node: "menu".to_owned(),
        };
        first.call(&up, tenant, t0 + Duration::from_secs(4), step);
        let ended = CallFact::Ended {
            cause: EndCause::CallerHangup,
        };
        first.call(&done, tenant, t0 + Duration::from_secs(2), ended);
        first.flush().await.unwrap();
        // The process dies here: `up` never ends.
        drop(first);

        let second = Recorder::resume(store.clone(), clock).await.unwrap();
        assert_eq!(second.closed_on_resume(), 1);
        let page = store.cdrs(CdrQuery::default()).await.unwrap();
        let cdr = page.cdrs.iter().find(|c| c.interaction == up).unwrap();
        assert_eq!(cdr.outcome, Outcome::Failed);
        assert_eq!(cdr.ended_at_unix_ms, 1_004_000, "at its last event");
        assert_eq!(cdr.flow_path, ["main:menu"]);
        assert_eq!(page.cdrs.len(), 2);
        // A third start finds nothing open, and the log has no gap.
        let third = Recorder::resume(store.clone(), clock).await.unwrap();
        assert_eq!(third.closed_on_resume(), 0);
        let replay = replay_cdrs(store.as_ref()).await.unwrap();
        assert_eq!(replay.cdrs, page.cdrs);
    }

    #[tokio::test]
    async fn a_linked_call_gets_one_cdr_with_engine_and_call_facts() {
        let store = Arc::new(SqliteStore::memory().await.unwrap());
        let t0 = Instant::now();
        let clock = WallClock::new(t0, std::time::UNIX_EPOCH + Duration::from_secs(1_000));
        let mut recorder = Recorder::resume(store.clone(), clock).await.unwrap();
        let tenant = TenantId::new(1);
        let (queue, agent) = (QueueId::new(tenant, 1), AgentId::new(tenant, 2));
        let interaction = InteractionId::new(tenant, 1);
        let call = recorder.call_key(1);
        assert_eq!(call, "run1/call1");
        let at = |s: u64| t0 + Duration::from_secs(s);
        let engine = |seq, s, kind| Event {
            seq,
            tenant,
            at: at(s),
            kind,
        };

        recorder.call(
            &call,
            tenant,
            at(0),
            CallFact::Started {
                caller: "+15550100".into(),
                did: "+15550199".into(),
            },
        );
        recorder.call(
            &call,
            tenant,
            at(1),
            CallFact::FlowStep {
                flow: "main".into(),
                node: "menu".into(),
            },
        );
        recorder.link(interaction, &call);
        recorder.engine_event(&engine(
            1,
            2,
            EventKind::Queued {
                interaction,
                queue,
                kind: InteractionKind::Voice,
                priority: Priority(0),
                position: 1,
            },
        ));
        recorder.flush().await.unwrap();
        recorder.engine_event(&engine(
            2,
            5,
            EventKind::Answered {
                interaction,
                queue,
                agent,
                kind: InteractionKind::Voice,
                wait: Duration::from_secs(3),
            },
        ));
        recorder.flush().await.unwrap();
        // The call layer reports the end before draining the engine.
        recorder.call(
            &call,
            tenant,
            at(65),
            CallFact::Ended {
                cause: EndCause::CallerHangup,
            },
        );
        recorder.engine_event(&engine(
            3,
            65,
            EventKind::Completed {
                interaction,
                queue,
                agent,
                talk: Duration::from_secs(60),
                reason: EndReason::CallerHangup,
            },
        ));
        recorder.flush().await.unwrap();
        assert_eq!(recorder.pending(), 0);
        assert_eq!(
            recorder.interaction_key(interaction),
            "run1/tenant1/interaction1"
        );

        let cdrs = store.cdrs(CdrQuery::default()).await.unwrap().cdrs;
        assert_eq!(cdrs.len(), 1);
        let cdr = &cdrs[0];
        assert_eq!(cdr.interaction, "run1/call1");
        assert_eq!(cdr.outcome, Outcome::Answered);
        assert_eq!(cdr.talk_ms, Some(60_000));
        assert_eq!(cdr.wait_ms, Some(3_000));
        assert_eq!(cdr.agent, Some(2));
        assert_eq!(cdr.flow_path, ["main:menu"]);
        assert_eq!(cdr.started_at_unix_ms, 1_000_000);
        assert_eq!(cdr.ended_at_unix_ms, 1_065_000);
        assert_eq!(cdr.completed_seq, 6);
        assert_eq!(replay_cdrs(store.as_ref()).await.unwrap().cdrs, cdrs);

        // A second run continues the sequence with its own keys.
        let again = Recorder::resume(store.clone(), clock).await.unwrap();
        assert_eq!(again.run(), 7);
        assert_eq!(
            again.interaction_key(interaction),
            "run7/tenant1/interaction1"
        );
    }
}
