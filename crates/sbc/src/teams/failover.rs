//! Failover of one call towards Teams across the proxies. Per the Direct
//! Routing SIP documentation: on 503 with Retry-After drop that connection,
//! mark the proxy down for that long and try the next; on 408, 504 or a
//! transport/TLS failure (RFC 3261 §8.1.3.1) try the next; never retry after
//! 603 Decline (RFC 3261 §21.6.2); any other final response ends the call.

use std::time::{Duration, Instant};

use sip::StatusCode;

use super::health::{OptionsPinger, ProxyId};
use crate::stats::Stats;

/// How one attempt towards a proxy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A final response.
    Response {
        /// Its status.
        status: StatusCode,
        /// Its Retry-After, if any.
        retry_after: Option<Duration>,
    },
    /// No final response in time (transaction Timer B/F).
    Timeout,
    /// The connection or TLS handshake failed.
    TransportError,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverDecision {
    /// Send the request again to `proxy`.
    Retry {
        /// The next proxy.
        proxy: ProxyId,
        /// Close the connection to the failed proxy first (after 503).
        drop_connection: bool,
    },
    /// Stop: relay the final response (or answer 408/503 after a
    /// timeout or transport failure) to the caller.
    Final,
}

/// The proxies one call may still try.
#[derive(Debug, Clone)]
pub struct ProxyFailover {
    order: Vec<ProxyId>,
    next: usize,
}

impl ProxyFailover {
    /// A failover sequence in the pinger's current order.
    pub fn new(pinger: &OptionsPinger, now: Instant) -> ProxyFailover {
        ProxyFailover {
            order: pinger.failover_order(now),
            next: 0,
        }
    }

    /// The proxy for the first attempt (or the next, if called again).
    pub fn next_proxy(&mut self) -> Option<ProxyId> {
        let proxy = self.order.get(self.next).copied();
        self.next += 1;
        proxy
    }

    /// Reports how the attempt to `proxy` ended; updates the proxy's
    /// health in `pinger` and says whether to try another.
    pub fn handle_outcome(
        &mut self,
        pinger: &mut OptionsPinger,
        stats: &Stats,
        proxy: ProxyId,
        outcome: AttemptOutcome,
        now: Instant,
    ) -> FailoverDecision {
        let drop_connection = match outcome {
            AttemptOutcome::Response {
                status: StatusCode(503),
                retry_after,
            } => {
                if let Some(wait) = retry_after {
                    pinger.mark_down(proxy, now + wait);
                }
                retry_after.is_some()
            }
            AttemptOutcome::Response {
                status: StatusCode(408 | 504),
                ..
            }
            | AttemptOutcome::Timeout
            | AttemptOutcome::TransportError => false,
            // 603 and every other final response: the callee decided.
            AttemptOutcome::Response { .. } => return FailoverDecision::Final,
        };
        match self.next_proxy() {
            Some(next) => {
                stats.record_proxy_failover();
                FailoverDecision::Retry {
                    proxy: next,
                    drop_connection,
                }
            }
            None => FailoverDecision::Final,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::teams::health::tests::pinger;

    fn response(code: u16, retry_after: Option<u64>) -> AttemptOutcome {
        AttemptOutcome::Response {
            status: StatusCode(code),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn walks_sip_sip2_sip3_on_retryable_failures() {
        let now = Instant::now();
        let mut p = pinger(now);
        let stats = Stats::default();
        let mut f = ProxyFailover::new(&p, now);
        let first = f.next_proxy().unwrap();
        assert_eq!(first, ProxyId(0));
        let d = f.handle_outcome(&mut p, &stats, first, response(408, None), now);
        assert_eq!(
            d,
            FailoverDecision::Retry {
                proxy: ProxyId(1),
                drop_connection: false
            }
        );
        let d = f.handle_outcome(
            &mut p,
            &stats,
            ProxyId(1),
            AttemptOutcome::TransportError,
            now,
        );
        assert_eq!(
            d,
            FailoverDecision::Retry {
                proxy: ProxyId(2),
                drop_connection: false
            }
        );
        let d = f.handle_outcome(&mut p, &stats, ProxyId(2), response(504, None), now);
        assert_eq!(d, FailoverDecision::Final);
        assert_eq!(stats.proxy_failovers(), 2);
    }

    #[test]
    fn busy_proxy_is_marked_down_for_retry_after() {
        let now = Instant::now();
        let mut p = pinger(now);
        let stats = Stats::default();
        let mut f = ProxyFailover::new(&p, now);
        let first = f.next_proxy().unwrap();
        let d = f.handle_outcome(&mut p, &stats, first, response(503, Some(120)), now);
        assert_eq!(
            d,
            FailoverDecision::Retry {
                proxy: ProxyId(1),
                drop_connection: true
            }
        );
        assert!(p.is_down(ProxyId(0), now + Duration::from_secs(119)));
        // The next call starts elsewhere.
        let mut g = ProxyFailover::new(&p, now + Duration::from_secs(1));
        assert_eq!(g.next_proxy(), Some(ProxyId(1)));
    }

    #[test]
    fn decline_and_other_finals_are_never_retried() {
        let now = Instant::now();
        let mut p = pinger(now);
        let stats = Stats::default();
        for code in [603, 404, 486, 500, 200] {
            let mut f = ProxyFailover::new(&p, now);
            let first = f.next_proxy().unwrap();
            assert_eq!(
                f.handle_outcome(&mut p, &stats, first, response(code, Some(5)), now),
                FailoverDecision::Final,
                "{code}"
            );
        }
        assert_eq!(stats.proxy_failovers(), 0);
        assert!(!p.is_down(ProxyId(0), now));
    }
}
