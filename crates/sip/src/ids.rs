//! Fresh identifiers: Via branches (RFC 3261 §8.1.1.7, with the magic
//! cookie), tags (§19.3) and Call-IDs (§8.1.1.4). A process-wide counter
//! is hashed with SipHash keyed from the OS's randomness (std's
//! `RandomState`), so values are unique in a process and unpredictable
//! across processes, with no clock and no extra dependency.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static COUNTER: AtomicU64 = AtomicU64::new(0);
static KEYS: OnceLock<RandomState> = OnceLock::new();

fn unique() -> u64 {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hasher = KEYS.get_or_init(RandomState::new).build_hasher();
    hasher.write_u64(n);
    hasher.finish()
}

/// A new Via branch: `z9hG4bK` followed by 16 hex digits.
pub fn new_branch() -> String {
    format!("z9hG4bK{:016x}", unique())
}

/// A new From/To tag: 16 hex digits (64 bits, RFC 3261 §19.3 asks for 32).
pub fn new_tag() -> String {
    format!("{:016x}", unique())
}

/// A new Call-ID: 32 hex digits.
pub fn new_call_id() -> String {
    format!("{:016x}{:016x}", unique(), unique())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn unique_and_well_formed() {
        let branches: HashSet<String> = (0..10_000).map(|_| new_branch()).collect();
        assert_eq!(branches.len(), 10_000);
        assert!(branches
            .iter()
            .all(|b| b.starts_with("z9hG4bK") && b.len() == 23));
        assert_ne!(new_tag(), new_tag());
        assert_eq!(new_call_id().len(), 32);
    }
}
