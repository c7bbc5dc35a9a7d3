//! Counters of every refusal, by reason, for the binary to export as
//! metrics. Counting uses relaxed atomics so the [`crate::Router`] (shared,
//! read-only) and the [`crate::Gate`] can count into one [`Stats`].

use std::sync::atomic::{AtomicU64, Ordering};

use sip::{HeaderName, StatusCode};

macro_rules! reasons {
    ($($variant:ident => $label:literal, $doc:literal;)*) => {
        /// Why a request or call was refused.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum RejectReason {
            $(#[doc = $doc] $variant,)*
        }

        impl RejectReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [RejectReason] = &[$(RejectReason::$variant,)*];

            /// A metric label, e.g. `flood`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(RejectReason::$variant => $label,)*
                }
            }
        }
    };
}

reasons! {
    UnknownSource => "unknown_source", "The source is no configured trunk and not Teams (403).";
    TeamsCertificate => "teams_certificate", "From Teams' subnets without a Teams proxy certificate (403).";
    Flood => "flood", "The source sent too many requests and is blocked (dropped).";
    Scanner => "scanner", "The User-Agent is a known scanner (dropped).";
    AuthRequired => "auth_required", "No credentials yet: challenged (407).";
    AuthFailed => "auth_failed", "Wrong credentials (403).";
    AuthStale => "auth_stale", "Expired or unknown nonce: challenged with stale=true (407).";
    AuthReplay => "auth_replay", "A nonce count was used again (407).";
    NodeConcurrentLimit => "node_concurrent_limit", "The node's concurrent call limit (503).";
    NodeRateLimit => "node_rate_limit", "The node's calls-per-second limit (503).";
    TrunkConcurrentLimit => "trunk_concurrent_limit", "A trunk's concurrent call limit (503).";
    TrunkRateLimit => "trunk_rate_limit", "A trunk's calls-per-second limit (503).";
    TenantConcurrentLimit => "tenant_concurrent_limit", "A tenant's concurrent call limit (503).";
    TenantRateLimit => "tenant_rate_limit", "A tenant's calls-per-second limit (503).";
    BadNumber => "bad_number", "The called number cannot be made E.164 (484).";
    NoRoute => "no_route", "No DID or route matches the called number (404).";
    DialPlanDenied => "dial_plan_denied", "The tenant's dial plan forbids the number (403).";
    UnknownTenant => "unknown_tenant", "A Teams request for no configured tenant FQDN (404).";
    ReferRefused => "refer_refused", "A REFER target outside Teams or another tenant (403).";
}

/// A refusal: the response to send (`status` and `headers`, e.g.
/// Retry-After or Proxy-Authenticate) and the counted reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The response status.
    pub status: StatusCode,
    /// Why.
    pub reason: RejectReason,
    /// Headers the response must carry, in order.
    pub headers: Vec<(HeaderName, String)>,
}

impl Rejection {
    pub(crate) fn new(status: u16, reason: RejectReason) -> Rejection {
        Rejection {
            status: StatusCode(status),
            reason,
            headers: Vec::new(),
        }
    }

    pub(crate) fn with(mut self, name: HeaderName, value: String) -> Rejection {
        self.headers.push((name, value));
        self
    }
}

/// Refusal counters and a few others worth exporting.
#[derive(Debug)]
pub struct Stats {
    rejected: Vec<AtomicU64>,
    flood_evictions: AtomicU64,
    nonce_evictions: AtomicU64,
    proxy_failovers: AtomicU64,
    transcoded_calls: AtomicU64,
    untranscodable_offers: AtomicU64,
    answers_not_offered: AtomicU64,
    dtmf_info_failures: AtomicU64,
    dtmf_duplicates: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            rejected: RejectReason::ALL
                .iter()
                .map(|_| AtomicU64::new(0))
                .collect(),
            flood_evictions: AtomicU64::new(0),
            nonce_evictions: AtomicU64::new(0),
            proxy_failovers: AtomicU64::new(0),
            transcoded_calls: AtomicU64::new(0),
            untranscodable_offers: AtomicU64::new(0),
            answers_not_offered: AtomicU64::new(0),
            dtmf_info_failures: AtomicU64::new(0),
            dtmf_duplicates: AtomicU64::new(0),
        }
    }
}

impl Stats {
    fn slot(&self, reason: RejectReason) -> Option<&AtomicU64> {
        let index = RejectReason::ALL.iter().position(|r| *r == reason)?;
        self.rejected.get(index)
    }

    pub(crate) fn record(&self, reason: RejectReason) {
        if let Some(slot) = self.slot(reason) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts `rejection` and hands it back.
    pub(crate) fn reject(&self, rejection: Rejection) -> Rejection {
        self.record(rejection.reason);
        rejection
    }

    pub(crate) fn record_flood_eviction(&self) {
        self.flood_evictions.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_nonce_eviction(&self) {
        self.nonce_evictions.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_proxy_failover(&self) {
        self.proxy_failovers.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_transcoded_call(&self) {
        self.transcoded_calls.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_untranscodable_offers(&self, count: u32) {
        if count > 0 {
            self.untranscodable_offers
                .fetch_add(u64::from(count), Ordering::Relaxed);
        }
    }

    pub(crate) fn record_answer_not_offered(&self) {
        self.answers_not_offered.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_dtmf_info_failure(&self) {
        self.dtmf_info_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_dtmf_duplicate(&self) {
        self.dtmf_duplicates.fetch_add(1, Ordering::Relaxed);
    }

    /// How many times `reason` refused something.
    pub fn rejected(&self, reason: RejectReason) -> u64 {
        self.slot(reason).map_or(0, |s| s.load(Ordering::Relaxed))
    }

    /// Every reason with its count, labelled by [`RejectReason::as_str`].
    pub fn rejections(&self) -> Vec<(RejectReason, u64)> {
        RejectReason::ALL
            .iter()
            .map(|r| (*r, self.rejected(*r)))
            .collect()
    }

    /// Sources forgotten by the flood guard because its table was full
    /// while they were still being watched.
    pub fn flood_evictions(&self) -> u64 {
        self.flood_evictions.load(Ordering::Relaxed)
    }

    /// Nonces forgotten by the replay table because it was full.
    pub fn nonce_evictions(&self) -> u64 {
        self.nonce_evictions.load(Ordering::Relaxed)
    }

    /// Calls towards Teams moved to the next proxy.
    pub fn proxy_failovers(&self) -> u64 {
        self.proxy_failovers.load(Ordering::Relaxed)
    }

    /// Two legs bridged with transcoding: they share no codec, so each
    /// was given its own (a call answered, a dialled agent, a transfer
    /// target or an INVITE with Replaces connected, two parties paired
    /// again). A call transferred again may count more than once.
    pub fn transcoded_calls(&self) -> u64 {
        self.transcoded_calls.load(Ordering::Relaxed)
    }

    /// Offers passed on unfiltered because no codec of them was allowed
    /// towards the leg and switchboard transcodes none of them (or none
    /// of the leg's own codecs), e.g. G.729 only towards a G.711 trunk:
    /// the far end decides, and usually refuses.
    pub fn untranscodable_offers(&self) -> u64 {
        self.untranscodable_offers.load(Ordering::Relaxed)
    }

    /// SDP answers refused because their codec was not in our offer (RFC
    /// 3264 §6.1); the call, dialled leg or re-offer failed with 488.
    pub fn answers_not_offered(&self) -> u64 {
        self.answers_not_offered.load(Ordering::Relaxed)
    }

    /// INFO requests with a key press (converted from RFC 4733 or tones)
    /// that failed: a non-2xx, a timeout, or no dialog to send them in.
    pub fn dtmf_info_failures(&self) -> u64 {
        self.dtmf_info_failures.load(Ordering::Relaxed)
    }

    /// Key presses not given to a leg that takes INFO because they
    /// reached it already in the other form: an INFO of the partner's
    /// not relayed (answered 200 here), or a press converted from its
    /// RTP not sent. The media relay counts those toward RFC 4733 legs.
    pub fn dtmf_duplicates(&self) -> u64 {
        self.dtmf_duplicates.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason_and_labels_are_unique() {
        let stats = Stats::default();
        stats.record(RejectReason::Flood);
        stats.record(RejectReason::Flood);
        let r = stats.reject(Rejection::new(403, RejectReason::UnknownSource));
        assert_eq!(r.status, StatusCode(403));
        assert_eq!(stats.rejected(RejectReason::Flood), 2);
        assert_eq!(stats.rejected(RejectReason::UnknownSource), 1);
        assert_eq!(stats.rejected(RejectReason::Scanner), 0);
        let mut labels: Vec<_> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), RejectReason::ALL.len());
        assert_eq!(stats.rejections().len(), RejectReason::ALL.len());
    }
}
