//! IVR flow loading (TOML when the input starts with `#` or `[` or a
//! letter, else JSON): never a panic, whatever the file says; a flow that
//! loads must start a run that ends or waits with a deadline.
#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use acd::{FlowCatalog, FlowRun, FlowSet, PromptId, QueueId, TenantId};
use libfuzzer_sys::fuzz_target;

fn catalog() -> FlowCatalog {
    let tenant = TenantId::new(1);
    let mut catalog = FlowCatalog::new(tenant);
    for (n, name) in ["sales", "support", "billing"].iter().enumerate() {
        catalog
            .queues
            .insert((*name).to_owned(), QueueId::new(tenant, n as u32 + 1));
    }
    for (n, name) in ["welcome", "menu", "invalid", "closed", "goodbye"]
        .iter()
        .enumerate()
    {
        catalog
            .prompts
            .insert((*name).to_owned(), PromptId::new(tenant, n as u32 + 1));
    }
    catalog
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let json = text.trim_start().starts_with('{');
    let file = if json { "fuzz.json" } else { "fuzz.toml" };
    let (set, _errors) = FlowSet::from_sources(&catalog(), &[(file, text)]);
    let now = Instant::now();
    for flow in set.iter() {
        let mut run = FlowRun::start(now, SystemTime::UNIX_EPOCH, Arc::clone(flow), BTreeMap::new());
        while run.poll_command().is_some() {}
        // Time passes with no caller input: every waiting state ends.
        for step in 1..=50u64 {
            let Some(at) = run.poll_timeout() else { break };
            run.handle_timeout(at.max(now + Duration::from_secs(step)));
            while run.poll_command().is_some() {}
        }
    }
});
