//! The base timer values of RFC 3261 §17.1.1.1 and table 4.

use std::time::Duration;

/// T1, T2 and T4 of RFC 3261 table 4; every other timer derives from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate (default 500 ms).
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses (default 4 s).
    pub t2: Duration,
    /// Maximum duration a message remains in the network (default 5 s).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64*T1: timers B, F, H, J (unreliable), L, M, the wait for a final
    /// response after a CANCEL (§9.1), and the dialog 2xx give-up.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

/// Derived timers of RFC 3261 table 4 whose value depends on the transport.
impl TimerConfig {
    /// Timer D (client INVITE, Completed): at least 32 s on unreliable
    /// transports (never less than 64*T1), zero on reliable ones.
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1x64().max(Duration::from_secs(32))
        }
    }

    /// Timers I (server INVITE, Confirmed) and K (client non-INVITE,
    /// Completed): T4 on unreliable transports, zero on reliable ones.
    pub fn timer_i_k(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }

    /// Timer J (server non-INVITE, Completed): 64*T1 on unreliable
    /// transports, zero on reliable ones.
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1x64()
        }
    }
}
