//! The transaction timers of RFC 3261 table 4, RFC 6026 §8.4 (L, M) and
//! the CANCEL wait of RFC 3261 §9.1.

use std::time::{Duration, Instant};

/// The RFC name of a transaction timer, reported with
/// [`TransactionEvent::Timeout`](crate::TransactionEvent::Timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Timer {
    /// INVITE request retransmit interval (UDP only), starts at T1 and doubles.
    A,
    /// INVITE transaction timeout, 64*T1.
    B,
    /// Wait time for response retransmits (client INVITE, Completed).
    D,
    /// Non-INVITE request retransmit interval (UDP only), doubles up to T2.
    E,
    /// Non-INVITE transaction timeout, 64*T1.
    F,
    /// INVITE final response retransmit interval (UDP only), doubles up to T2.
    G,
    /// Wait time for ACK receipt, 64*T1.
    H,
    /// Wait time for ACK retransmits (server INVITE, Confirmed).
    I,
    /// Wait time for non-INVITE request retransmits (server, Completed).
    J,
    /// Wait time for response retransmits (client non-INVITE, Completed).
    K,
    /// Wait time for accepted INVITE request retransmits (RFC 6026), 64*T1.
    L,
    /// Wait time for retransmission of 2xx to INVITE (RFC 6026), 64*T1.
    M,
    /// Wait time for a final response after a CANCEL was sent (RFC 3261
    /// §9.1, unnamed there), 64*T1: the INVITE is then considered cancelled
    /// and its client transaction destroyed.
    Cancel,
}

/// A retransmission timer (A, E or G): when it fires next and the interval
/// that led to that instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retransmit {
    pub(crate) at: Instant,
    pub(crate) interval: Duration,
}

impl Retransmit {
    /// Starts the timer at `now + interval`.
    pub(crate) fn start(now: Instant, interval: Duration) -> Self {
        Self {
            at: now + interval,
            interval,
        }
    }

    /// Re-arms the timer after it fired at `now`, with `next` as new
    /// interval counted from the instant it was due, so a driver that wakes
    /// up late does not shift every later retransmission (and push the last
    /// one past Timer B or F). Woken more than an interval late, it counts
    /// from `now` rather than firing again at once.
    pub(crate) fn rearm(&mut self, now: Instant, next: Duration) {
        self.interval = next;
        let due = self.at + next;
        self.at = if due > now { due } else { now + next };
    }
}

/// The earliest of a set of optional deadlines.
pub(crate) fn earliest(deadlines: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    deadlines.into_iter().flatten().min()
}

/// Whether an optional deadline has been reached at `now`.
pub(crate) fn expired(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|at| at <= now)
}
