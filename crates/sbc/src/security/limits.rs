//! Call admission: concurrent-call counts and calls-per-second token
//! buckets for the node, each carrier trunk and each tenant. A refused
//! call gets 503 with Retry-After (RFC 3261 §21.5.4, §20.33).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sip::HeaderName;

use crate::config::{CallLimits, Config, TenantName, TrunkName};
use crate::stats::{RejectReason, Rejection};

/// A token bucket with `rate` tokens per second and a burst of `rate`,
/// counted in millionths of a token so time needs no floats.
#[derive(Debug, Clone)]
struct TokenBucket {
    rate: u64,
    micro_tokens: u64,
    last: Option<Instant>,
}

const TOKEN: u64 = 1_000_000;

impl TokenBucket {
    fn new(rate: u32) -> TokenBucket {
        let rate = u64::from(rate.max(1));
        TokenBucket {
            rate,
            micro_tokens: rate * TOKEN,
            last: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let micros = now.saturating_duration_since(last).as_micros();
            let gained =
                u64::try_from(micros.saturating_mul(u128::from(self.rate))).unwrap_or(u64::MAX);
            self.micro_tokens = self
                .micro_tokens
                .saturating_add(gained)
                .min(self.rate * TOKEN);
        }
        if self.last.is_none_or(|last| now > last) {
            self.last = Some(now);
        }
    }

    /// `Ok` if a token is there (not yet taken), else the wait for one.
    fn check(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.micro_tokens >= TOKEN {
            Ok(())
        } else {
            Err(Duration::from_micros(
                (TOKEN - self.micro_tokens).div_ceil(self.rate),
            ))
        }
    }

    fn take(&mut self) {
        self.micro_tokens = self.micro_tokens.saturating_sub(TOKEN);
    }
}

#[derive(Debug, Clone)]
struct Limit {
    max_concurrent: Option<u32>,
    active: u32,
    bucket: Option<TokenBucket>,
    concurrent_reason: RejectReason,
    rate_reason: RejectReason,
}

impl Limit {
    fn new(limits: &CallLimits, concurrent: RejectReason, rate: RejectReason) -> Limit {
        Limit {
            max_concurrent: limits.max_concurrent_calls,
            active: 0,
            bucket: limits.max_calls_per_second.map(TokenBucket::new),
            concurrent_reason: concurrent,
            rate_reason: rate,
        }
    }

    fn check(&mut self, now: Instant, busy: Duration) -> Result<(), Rejection> {
        if self.max_concurrent.is_some_and(|max| self.active >= max) {
            return Err(busy_rejection(self.concurrent_reason, busy));
        }
        if let Some(bucket) = &mut self.bucket {
            bucket
                .check(now)
                .map_err(|wait| busy_rejection(self.rate_reason, wait))?;
        }
        Ok(())
    }

    fn admit(&mut self) {
        self.active = self.active.saturating_add(1);
        if let Some(bucket) = &mut self.bucket {
            bucket.take();
        }
    }
}

fn busy_rejection(reason: RejectReason, wait: Duration) -> Rejection {
    // Retry-After is in whole seconds; never 0.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Rejection::new(503, reason).with(HeaderName::RetryAfter, secs.max(1).to_string())
}

/// Proof that a call was admitted; hand it back to
/// [`crate::Gate::release_call`] when the call ends.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a permit that is never released holds its call slots forever"]
pub struct CallPermit {
    trunk: Option<TrunkName>,
    tenant: Option<TenantName>,
}

/// Concurrency and rate limits of the node, trunks and tenants.
#[derive(Debug)]
pub(crate) struct CallLimiter {
    node: Limit,
    trunks: HashMap<TrunkName, Limit>,
    tenants: HashMap<TenantName, Limit>,
    busy_retry_after: Duration,
}

impl CallLimiter {
    pub(crate) fn new(config: &Config) -> CallLimiter {
        use RejectReason as R;
        CallLimiter {
            node: Limit::new(&config.sbc.limits, R::NodeConcurrentLimit, R::NodeRateLimit),
            trunks: config
                .trunks
                .values()
                .map(|t| {
                    let limit = Limit::new(&t.limits, R::TrunkConcurrentLimit, R::TrunkRateLimit);
                    (t.name.clone(), limit)
                })
                .collect(),
            tenants: config
                .tenants
                .values()
                .map(|t| {
                    let limit = Limit::new(&t.limits, R::TenantConcurrentLimit, R::TenantRateLimit);
                    (t.name.clone(), limit)
                })
                .collect(),
            busy_retry_after: config.sbc.busy_retry_after,
        }
    }

    /// Admits a call that uses `trunk` and belongs to `tenant` if every
    /// limit allows it; nothing is counted when one refuses.
    pub(crate) fn admit(
        &mut self,
        trunk: Option<&TrunkName>,
        tenant: Option<&TenantName>,
        now: Instant,
    ) -> Result<CallPermit, Rejection> {
        let busy = self.busy_retry_after;
        self.node.check(now, busy)?;
        if let Some(limit) = trunk.and_then(|t| self.trunks.get_mut(t)) {
            limit.check(now, busy)?;
        }
        if let Some(limit) = tenant.and_then(|t| self.tenants.get_mut(t)) {
            limit.check(now, busy)?;
        }
        self.node.admit();
        let trunk = trunk.filter(|t| self.trunks.contains_key(*t)).cloned();
        let tenant = tenant.filter(|t| self.tenants.contains_key(*t)).cloned();
        if let Some(limit) = trunk.as_ref().and_then(|t| self.trunks.get_mut(t)) {
            limit.admit();
        }
        if let Some(limit) = tenant.as_ref().and_then(|t| self.tenants.get_mut(t)) {
            limit.admit();
        }
        Ok(CallPermit { trunk, tenant })
    }

    pub(crate) fn release(&mut self, permit: CallPermit) {
        self.node.active = self.node.active.saturating_sub(1);
        if let Some(limit) = permit.trunk.and_then(|t| self.trunks.get_mut(&t)) {
            limit.active = limit.active.saturating_sub(1);
        }
        if let Some(limit) = permit.tenant.and_then(|t| self.tenants.get_mut(&t)) {
            limit.active = limit.active.saturating_sub(1);
        }
    }

    /// Calls in progress on the node.
    pub(crate) fn active(&self) -> u32 {
        self.node.active
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
        [sbc]
        max_concurrent_calls = 10
        busy_retry_after_secs = 7
        [trunks.a]
        allow = ["192.0.2.0/24"]
        targets = ["sip:192.0.2.1"]
        max_concurrent_calls = 2
        [trunks.b]
        allow = ["198.51.100.0/24"]
        targets = ["sip:198.51.100.1"]
        max_calls_per_second = 2
        [sbc.listen]
        tls = ["127.0.0.1:5061"]
        [sbc.tls]
        cert = "c.pem"
        key = "k.pem"
        [teams]
        base_fqdn = "customers.example.net"
        trunk_fqdn = "sbc1.customers.example.net"
        [tenants.small]
        tenant_id = "b59a9bc4-0e7f-4f1b-8d43-04d9b2eb0a11"
        label = "small"
        carrier_trunk = "a"
        max_concurrent_calls = 1
        max_calls_per_second = 1
    "#;

    fn limiter() -> CallLimiter {
        CallLimiter::new(&Config::from_toml_str(CONFIG, "test.toml").unwrap())
    }

    fn retry_after(r: &Rejection) -> &str {
        &r.headers
            .iter()
            .find(|(n, _)| *n == HeaderName::RetryAfter)
            .unwrap()
            .1
    }

    #[test]
    fn concurrency_limit_until_a_call_ends() {
        let mut l = limiter();
        let a = TrunkName::new("a");
        let now = Instant::now();
        let p1 = l.admit(Some(&a), None, now).unwrap();
        let _p2 = l.admit(Some(&a), None, now).unwrap();
        let refused = l.admit(Some(&a), None, now).unwrap_err();
        assert_eq!(refused.status.0, 503);
        assert_eq!(refused.reason, RejectReason::TrunkConcurrentLimit);
        assert_eq!(retry_after(&refused), "7");
        // Another trunk is not affected, the node counts both.
        let _p3 = l.admit(Some(&TrunkName::new("b")), None, now).unwrap();
        assert_eq!(l.active(), 3);
        l.release(p1);
        assert!(l.admit(Some(&a), None, now).is_ok());
    }

    #[test]
    fn rate_limit_refills_over_time() {
        let mut l = limiter();
        let b = TrunkName::new("b");
        let t0 = Instant::now();
        for _ in 0..2 {
            let p = l.admit(Some(&b), None, t0).unwrap();
            l.release(p);
        }
        let refused = l.admit(Some(&b), None, t0).unwrap_err();
        assert_eq!(refused.reason, RejectReason::TrunkRateLimit);
        assert_eq!(retry_after(&refused), "1");
        // Half a second later one token (rate 2/s) is back, not two.
        let t1 = t0 + Duration::from_millis(500);
        let p = l.admit(Some(&b), None, t1).unwrap();
        l.release(p);
        assert!(l.admit(Some(&b), None, t1).is_err());
        // A long pause refills only up to the burst.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..2 {
            let p = l.admit(Some(&b), None, t2).unwrap();
            l.release(p);
        }
        assert!(l.admit(Some(&b), None, t2).is_err());
    }

    #[test]
    fn tenant_limits_apply_across_trunks() {
        let mut l = limiter();
        let small = TenantName::new("small");
        let t0 = Instant::now();
        let p = l
            .admit(Some(&TrunkName::new("a")), Some(&small), t0)
            .unwrap();
        let refused = l
            .admit(Some(&TrunkName::new("b")), Some(&small), t0)
            .unwrap_err();
        assert_eq!(refused.reason, RejectReason::TenantConcurrentLimit);
        l.release(p);
        // The slot is free but the one-per-second bucket is empty.
        let refused = l.admit(None, Some(&small), t0).unwrap_err();
        assert_eq!(refused.reason, RejectReason::TenantRateLimit);
        assert!(l
            .admit(None, Some(&small), t0 + Duration::from_secs(1))
            .is_ok());
    }

    #[test]
    fn refusal_by_a_later_limit_consumes_nothing() {
        let mut l = limiter();
        let now = Instant::now();
        let mut permits = Vec::new();
        for _ in 0..10 {
            permits.push(l.admit(None, None, now).unwrap());
        }
        let refused = l.admit(Some(&TrunkName::new("b")), None, now).unwrap_err();
        assert_eq!(refused.reason, RejectReason::NodeConcurrentLimit);
        // Trunk b's bucket was not touched by the refused call.
        l.release(permits.pop().unwrap());
        let b = TrunkName::new("b");
        let p = l.admit(Some(&b), None, now).unwrap();
        l.release(p);
        l.release(permits.pop().unwrap());
        assert!(l.admit(Some(&b), None, now).is_ok());
    }
}
