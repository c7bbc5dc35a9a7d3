//! How the B2BUA is tuned: transaction timers, failover, RFC 4028 session
//! timers and the maximum call duration.

use std::time::Duration;

use sip_core::TimerConfig;

/// Settings of a [`crate::B2bua`] that are not in the configuration
/// file (the binary may expose them later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct B2buaSettings {
    /// T1, T2 and T4 of RFC 3261 for every transaction and dialog.
    pub timers: TimerConfig,
    /// An outbound INVITE that got no response at all (not even 100)
    /// within this time is abandoned and the next target or proxy is tried
    /// (default 5 s; Timer B, 64*T1, ends it in any case).
    pub failover_after: Duration,
    /// Session interval asked for on outbound legs and granted on inbound
    /// ones that ask for none (RFC 4028 §4; default 1800 s); `None`
    /// disables session timers where the peer does not ask for them.
    pub session_expires: Option<Duration>,
    /// The smallest session interval accepted (RFC 4028 §5 Min-SE;
    /// default 90 s, the RFC's minimum).
    pub min_se: Duration,
    /// Calls are ended with BYE on both legs this long after the answer
    /// (default: none).
    pub max_call_duration: Option<Duration>,
    /// How long a transfer's NOTIFY subscription is said to last
    /// (RFC 3515 §2.4.4; default 60 s).
    pub refer_expires: Duration,
    /// How long the callee may ring: this long after the first
    /// provisional response without a final one, the outbound INVITE is
    /// cancelled and the caller gets 480 (default 180 s, Teams' own limit
    /// being shorter; `None`: ring until the caller gives up).
    pub max_ringing: Option<Duration>,
}

impl Default for B2buaSettings {
    fn default() -> Self {
        B2buaSettings {
            timers: TimerConfig::default(),
            failover_after: Duration::from_secs(5),
            session_expires: Some(Duration::from_secs(1800)),
            min_se: Duration::from_secs(90),
            max_call_duration: None,
            refer_expires: Duration::from_secs(60),
            max_ringing: Some(Duration::from_secs(180)),
        }
    }
}
