//! The small deterministic random source behind the back-off delays of
//! RFC 3261 §14.1 (491 retry) and §14.2 (`Retry-After` of a 500).
//!
//! The dialog owns no entropy: the caller injects a seed through
//! [`DialogConfig::seed`](super::DialogConfig::seed), which is mixed with the
//! dialog identifier so that two dialogs created with the same seed still
//! draw different delays. Tests get the same sequence on every run.

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to
/// de-synchronise two user agents; nothing here needs to be unpredictable.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose sequence is determined by `seed` and `salt`.
    pub(crate) fn new(seed: u64, salt: &[&str]) -> Self {
        Self {
            state: seed ^ fnv1a(salt),
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `low..=high` (inclusive); `low` when the range is empty.
    pub(crate) fn in_range(&mut self, low: u64, high: u64) -> u64 {
        let span = high.saturating_sub(low).saturating_add(1);
        low + self.next_u64() % span
    }
}

/// FNV-1a over the parts, with a separator so that ("ab","c") != ("a","bc").
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0xff)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_salt_give_the_same_sequence() {
        let mut a = SplitMix64::new(7, &["call", "tag"]);
        let mut b = SplitMix64::new(7, &["call", "tag"]);
        let mut c = SplitMix64::new(7, &["call", "other"]);
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn in_range_stays_inside_the_bounds() {
        let mut rng = SplitMix64::new(1, &[]);
        for _ in 0..1000 {
            let v = rng.in_range(210, 400);
            assert!((210..=400).contains(&v), "{v}");
        }
        assert_eq!(rng.in_range(5, 5), 5);
        assert_eq!(rng.in_range(9, 3), 9);
    }
}
