//! The [`Gate`]: every request's first stop, and call admission.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use sip::{Credentials, HeaderName, Method, Request};

use super::digest::{AuthOutcome, DigestAlgorithm, DigestAuthenticator};
use super::flood::{FloodGuard, FloodVerdict};
use super::limits::{CallLimiter, CallPermit};
use super::scanner::is_scanner;
use crate::config::{CarrierTrunk, Config, DigestAccount, TenantName, TrunkName};
use crate::stats::{RejectReason, Rejection, Stats};

/// Who sent a request that the gate let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// A carrier trunk (by source address, digest credentials, or both).
    Trunk(TrunkName),
    /// Microsoft Teams (source subnet and proxy certificate).
    Teams,
    /// An unknown source sending ACK, CANCEL or an in-dialog request, which
    /// cannot be challenged (RFC 3261 §22.1). Only possible when some trunk
    /// authenticates by digest alone. Such a request may only match a
    /// transaction or dialog the B2BUA already has; it never starts one.
    Unverified,
}

/// The gate's decision on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screening {
    /// Let it in.
    Accept(Peer),
    /// Answer with this response (stateless; nothing else happens).
    Reject(Rejection),
    /// Drop it silently (flooding source or scanner).
    Drop(RejectReason),
}

/// Source checks (trunk ACLs, Teams recognition), flood protection,
/// scanner refusal, digest authentication and call limits, with every
/// refusal counted in [`Stats`].
///
/// Per request: [`Gate::screen`]. Per new call, once the route (and so
/// the trunk and tenant) is known: [`Gate::admit_call`], and
/// [`Gate::release_call`] when it ends.
#[derive(Debug)]
pub struct Gate {
    config: Arc<Config>,
    stats: Arc<Stats>,
    flood: FloodGuard,
    auth: DigestAuthenticator,
    limiter: CallLimiter,
}

/// Whether a request can be challenged: not ACK or CANCEL (RFC 3261
/// §22.1) and not in a dialog (To tag), which was authenticated when it
/// was created.
fn challengeable(request: &Request) -> bool {
    let in_dialog = request
        .headers
        .to()
        .ok()
        .is_some_and(|to| to.tag().is_some());
    !matches!(request.method, Method::Ack | Method::Cancel) && !in_dialog
}

impl Gate {
    /// A gate for `config`. Nonces are keyed by the configured
    /// `nonce_secret`, else by `fallback_secret` (pass random bytes);
    /// `now` starts the nonce clock.
    pub fn new(
        config: Arc<Config>,
        stats: Arc<Stats>,
        fallback_secret: &[u8],
        now: Instant,
    ) -> Gate {
        let secret = config
            .security
            .auth
            .nonce_secret
            .as_deref()
            .map_or(fallback_secret, str::as_bytes);
        Gate {
            flood: FloodGuard::new(config.security.flood),
            auth: DigestAuthenticator::new(&config.security.auth, secret, now),
            limiter: CallLimiter::new(&config),
            config,
            stats,
        }
    }

    /// The counters this gate writes to.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn reject(&self, rejection: Rejection) -> Screening {
        Screening::Reject(self.stats.reject(rejection))
    }

    fn drop(&self, reason: RejectReason) -> Screening {
        self.stats.record(reason);
        Screening::Drop(reason)
    }

    /// Screens a request received from `source`. `tls_peer_names` are the
    /// DNS names (SAN, else CN) of the peer's verified TLS certificate;
    /// empty for UDP/TCP.
    pub fn screen(
        &mut self,
        request: &Request,
        source: IpAddr,
        tls_peer_names: &[&str],
        now: Instant,
    ) -> Screening {
        let config = Arc::clone(&self.config);
        // Teams first: it needs a proxy certificate, so a trunk block that
        // overlaps Teams' subnets (loopback in tests) cannot capture it.
        let teams = config
            .teams
            .as_ref()
            .filter(|t| t.is_teams_peer(source, tls_peer_names));
        let trunk = config
            .trunks
            .values()
            .find(|t| teams.is_none() && t.allow.iter().any(|net| net.contains(&source)));
        if trunk.is_none() && teams.is_none() {
            let (verdict, evicted) = self.flood.handle_request(source, now);
            if evicted {
                self.stats.record_flood_eviction();
            }
            if let FloodVerdict::Blocked { .. } = verdict {
                return self.drop(RejectReason::Flood);
            }
        }
        let user_agent = request.headers.user_agent().ok().flatten().unwrap_or("");
        if is_scanner(&config.security.scanner_user_agents, user_agent) {
            return self.drop(RejectReason::Scanner);
        }
        if teams.is_some() {
            return Screening::Accept(Peer::Teams);
        }
        if let Some(trunk) = trunk {
            return match &trunk.auth {
                Some(account) if challengeable(request) => {
                    self.authenticate(request, trunk, account, now)
                }
                _ => Screening::Accept(Peer::Trunk(trunk.name.clone())),
            };
        }
        if config
            .teams
            .as_ref()
            .is_some_and(|t| t.in_teams_subnets(source))
        {
            return self.reject(Rejection::new(403, RejectReason::TeamsCertificate));
        }
        // Trunks that authenticate by digest alone, from any address.
        let digest_only: Vec<&CarrierTrunk> = config
            .trunks
            .values()
            .filter(|t| t.allow.is_empty() && t.auth.is_some())
            .collect();
        if digest_only.is_empty() {
            return self.reject(Rejection::new(403, RejectReason::UnknownSource));
        }
        if !challengeable(request) {
            return Screening::Accept(Peer::Unverified);
        }
        let named = request.headers.proxy_authorization().find_map(|c| match c {
            Ok(Credentials::Digest(d)) => digest_only
                .iter()
                .find(|t| t.auth.as_ref().is_some_and(|a| a.username == d.username))
                .copied(),
            _ => None,
        });
        match named {
            Some(trunk) => match &trunk.auth {
                Some(account) => self.authenticate(request, trunk, account, now),
                None => self.reject(Rejection::new(403, RejectReason::UnknownSource)),
            },
            None => {
                let mut algorithms: Vec<DigestAlgorithm> = Vec::new();
                for a in digest_only.iter().filter_map(|t| t.auth.as_ref()) {
                    for alg in &a.algorithms {
                        if !algorithms.contains(alg) {
                            algorithms.push(*alg);
                        }
                    }
                }
                self.challenge(&algorithms, false, RejectReason::AuthRequired, now)
            }
        }
    }

    fn challenge(
        &mut self,
        algorithms: &[DigestAlgorithm],
        stale: bool,
        reason: RejectReason,
        now: Instant,
    ) -> Screening {
        let mut rejection = Rejection::new(407, reason);
        for value in self.auth.challenges(algorithms, stale, now) {
            rejection = rejection.with(HeaderName::ProxyAuthenticate, value);
        }
        self.reject(rejection)
    }

    /// Digest check of `request` for `trunk` (RFC 3261 §22.3, RFC 8760).
    fn authenticate(
        &mut self,
        request: &Request,
        trunk: &CarrierTrunk,
        account: &DigestAccount,
        now: Instant,
    ) -> Screening {
        let mut creds = None;
        for c in request.headers.proxy_authorization() {
            match c {
                Ok(Credentials::Digest(d)) if d.username == account.username => {
                    creds = Some(d);
                    break;
                }
                Ok(_) => {}
                Err(_) => return self.reject(Rejection::new(403, RejectReason::AuthFailed)),
            }
        }
        let Some(creds) = creds else {
            return self.challenge(&account.algorithms, false, RejectReason::AuthRequired, now);
        };
        let (outcome, evicted) = self.auth.verify(
            &creds,
            request.method.as_str(),
            request.uri.as_str(),
            account,
            now,
        );
        if evicted {
            self.stats.record_nonce_eviction();
        }
        match outcome {
            AuthOutcome::Authenticated => Screening::Accept(Peer::Trunk(trunk.name.clone())),
            AuthOutcome::Stale => {
                self.challenge(&account.algorithms, true, RejectReason::AuthStale, now)
            }
            AuthOutcome::Replay => {
                self.challenge(&account.algorithms, false, RejectReason::AuthReplay, now)
            }
            AuthOutcome::Failed => self.reject(Rejection::new(403, RejectReason::AuthFailed)),
        }
    }

    /// Admits a new call that uses carrier trunk `trunk` and belongs to
    /// `tenant` under the node's, the trunk's and the tenant's limits; a
    /// refusal is a 503 with Retry-After.
    pub fn admit_call(
        &mut self,
        trunk: Option<&TrunkName>,
        tenant: Option<&TenantName>,
        now: Instant,
    ) -> Result<CallPermit, Rejection> {
        self.limiter
            .admit(trunk, tenant, now)
            .map_err(|r| self.stats.reject(r))
    }

    /// Frees the slots of an admitted call that ended.
    pub fn release_call(&mut self, permit: CallPermit) {
        self.limiter.release(permit);
    }

    /// Calls admitted and not yet released.
    pub fn active_calls(&self) -> u32 {
        self.limiter.active()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::security::digest::{response, DigestInput};
    use bytes::Bytes;
    use std::time::Duration;

    const CONFIG: &str = r#"
        [sbc.listen]
        udp = ["127.0.0.1:5060"]
        tls = ["127.0.0.1:5061"]
        [sbc.tls]
        cert = "c.pem"
        key = "k.pem"
        [security.flood]
        window_secs = 1
        max_requests = 5
        block_secs = 30
        [security.auth]
        realm = "sbc.example.net"
        [trunks.open]
        allow = ["192.0.2.0/24"]
        targets = ["sip:192.0.2.10"]
        max_concurrent_calls = 1
        [trunks.locked]
        allow = ["198.51.100.0/24"]
        targets = ["sip:198.51.100.10"]
        [trunks.locked.auth]
        username = "locked"
        password = "pw1"
        [trunks.roaming]
        targets = ["sip:203.0.113.10"]
        [trunks.roaming.auth]
        username = "roaming"
        password = "pw2"
        algorithms = ["MD5"]
        [teams]
        base_fqdn = "customers.example.net"
        trunk_fqdn = "sbc1.customers.example.net"
    "#;

    fn gate(now: Instant) -> Gate {
        let config = Arc::new(Config::from_toml_str(CONFIG, "gate.toml").unwrap());
        Gate::new(config, Arc::new(Stats::default()), b"fallback secret!", now)
    }

    fn request(method: &str, extra: &str) -> Request {
        let text = format!(
            "{method} sip:+12065550100@sbc.example.net SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n\
             To: <sip:+12065550100@sbc.example.net>\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\n\
             Max-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        match sip::Message::parse(Bytes::from(text)).unwrap() {
            sip::Message::Request(r) => r,
            sip::Message::Response(_) => panic!("not a request"),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn rejected(s: Screening) -> Rejection {
        match s {
            Screening::Reject(r) => r,
            other => panic!("not a rejection: {other:?}"),
        }
    }

    /// Proxy-Authorization answering the first challenge of `rejection`.
    fn answer(rejection: &Rejection, user: &str, password: &str, nc: u32) -> String {
        let challenge = &rejection.headers[0].1;
        let nonce = challenge
            .split("nonce=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let alg = if challenge.contains("SHA-256") {
            DigestAlgorithm::Sha256
        } else {
            DigestAlgorithm::Md5
        };
        let uri = "sip:+12065550100@sbc.example.net";
        let nc = format!("{nc:08x}");
        let resp = response(
            alg,
            &DigestInput {
                username: user,
                realm: "sbc.example.net",
                password,
                method: "INVITE",
                uri,
                nonce,
                qop: Some((&nc, "c0ffee", "auth")),
            },
        );
        format!(
            "Proxy-Authorization: Digest username=\"{user}\", realm=\"sbc.example.net\", \
             nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", algorithm={}, \
             cnonce=\"c0ffee\", qop=auth, nc={nc}\r\n",
            alg.as_str()
        )
    }

    #[test]
    fn acl_accepts_trunks_and_refuses_strangers() {
        let now = Instant::now();
        let mut g = gate(now);
        let invite = request("INVITE", "");
        assert_eq!(
            g.screen(&invite, ip("192.0.2.77"), &[], now),
            Screening::Accept(Peer::Trunk(TrunkName::new("open")))
        );
        // Digest-only trunks exist, so a stranger is challenged, not refused.
        let r = rejected(g.screen(&invite, ip("203.0.113.99"), &[], now));
        assert_eq!((r.status.0, r.reason), (407, RejectReason::AuthRequired));
        assert!(r.headers[0].1.contains("algorithm=MD5"));
        // Teams' subnet without a Teams certificate.
        let r = rejected(g.screen(&invite, ip("52.112.1.1"), &["evil.example"], now));
        assert_eq!(
            (r.status.0, r.reason),
            (403, RejectReason::TeamsCertificate)
        );
        assert_eq!(
            g.screen(
                &invite,
                ip("52.112.1.1"),
                &["sip.pstnhub.microsoft.com"],
                now
            ),
            Screening::Accept(Peer::Teams)
        );
        assert_eq!(g.stats().rejected(RejectReason::TeamsCertificate), 1);
    }

    #[test]
    fn teams_wins_over_an_overlapping_trunk_block() {
        // examples/teams.toml maps both Teams and carrier1 to loopback.
        let text = include_str!("../../../../examples/teams.toml");
        let config = Arc::new(Config::from_toml_str(text, "teams.toml").unwrap());
        let now = Instant::now();
        let mut g = Gate::new(config, Arc::new(Stats::default()), b"fallback secret!", now);
        let invite = request("INVITE", "");
        let lo = ip("127.0.0.1");
        assert_eq!(
            g.screen(&invite, lo, &["sip2.pstnhub.microsoft.com"], now),
            Screening::Accept(Peer::Teams)
        );
        assert_eq!(
            g.screen(&invite, lo, &[], now),
            Screening::Accept(Peer::Trunk(TrunkName::new("carrier1")))
        );
    }

    #[test]
    fn without_digest_only_trunks_strangers_get_403() {
        let text = CONFIG.replace(
            "[trunks.roaming]\n        targets = [\"sip:203.0.113.10\"]",
            "[trunks.roaming]\n        allow = [\"203.0.113.0/24\"]\n        targets = [\"sip:203.0.113.10\"]",
        );
        let config = Arc::new(Config::from_toml_str(&text, "gate.toml").unwrap());
        let now = Instant::now();
        let mut g = Gate::new(config, Arc::new(Stats::default()), b"fallback secret!", now);
        let r = rejected(g.screen(&request("INVITE", ""), ip("100.64.0.1"), &[], now));
        assert_eq!((r.status.0, r.reason), (403, RejectReason::UnknownSource));
        assert_eq!(g.stats().rejected(RejectReason::UnknownSource), 1);
    }

    #[test]
    fn trunk_with_credentials_is_challenged_then_accepted() {
        let now = Instant::now();
        let mut g = gate(now);
        let src = ip("198.51.100.5");
        let r = rejected(g.screen(&request("INVITE", ""), src, &[], now));
        assert_eq!((r.status.0, r.reason), (407, RejectReason::AuthRequired));
        assert_eq!(r.headers.len(), 2, "SHA-256 and MD5 challenges");
        assert!(r.headers[0].1.contains("algorithm=SHA-256"));
        let good = request("INVITE", &answer(&r, "locked", "pw1", 1));
        assert_eq!(
            g.screen(&good, src, &[], now),
            Screening::Accept(Peer::Trunk(TrunkName::new("locked")))
        );
        // The same credentials again are a replay.
        let again = rejected(g.screen(&good, src, &[], now));
        assert_eq!(
            (again.status.0, again.reason),
            (407, RejectReason::AuthReplay)
        );
        let wrong = request("INVITE", &answer(&r, "locked", "nope", 2));
        let bad = rejected(g.screen(&wrong, src, &[], now));
        assert_eq!((bad.status.0, bad.reason), (403, RejectReason::AuthFailed));
        // Late: stale=true.
        let late = now + Duration::from_secs(301);
        let stale = request("INVITE", &answer(&r, "locked", "pw1", 3));
        let s = rejected(g.screen(&stale, src, &[], late));
        assert_eq!((s.status.0, s.reason), (407, RejectReason::AuthStale));
        assert!(s.headers[0].1.contains("stale=true"));
        // ACK and in-dialog requests are not challenged.
        assert_eq!(
            g.screen(&request("ACK", ""), src, &[], now),
            Screening::Accept(Peer::Trunk(TrunkName::new("locked")))
        );
    }

    #[test]
    fn digest_only_trunk_from_any_address() {
        let now = Instant::now();
        let mut g = gate(now);
        let src = ip("100.64.0.9");
        let r = rejected(g.screen(&request("INVITE", ""), src, &[], now));
        let good = request("INVITE", &answer(&r, "roaming", "pw2", 1));
        assert_eq!(
            g.screen(&good, src, &[], now),
            Screening::Accept(Peer::Trunk(TrunkName::new("roaming")))
        );
        // Credentials of a CIDR-bound trunk do not work from elsewhere.
        let r = rejected(g.screen(&request("INVITE", ""), src, &[], now));
        let other = request("INVITE", &answer(&r, "locked", "pw1", 1));
        let refused = rejected(g.screen(&other, src, &[], now));
        assert_eq!(refused.reason, RejectReason::AuthRequired);
        assert_eq!(
            g.screen(&request("CANCEL", ""), src, &[], now),
            Screening::Accept(Peer::Unverified)
        );
    }

    #[test]
    fn floods_and_scanners_are_dropped_and_counted() {
        let now = Instant::now();
        let mut g = gate(now);
        let stranger = ip("100.64.0.1");
        let options = request("OPTIONS", "");
        for _ in 0..5 {
            assert!(matches!(
                g.screen(&options, stranger, &[], now),
                Screening::Reject(_)
            ));
        }
        assert_eq!(
            g.screen(&options, stranger, &[], now),
            Screening::Drop(RejectReason::Flood)
        );
        // Trunks are not subject to the flood guard (their limits apply).
        for _ in 0..20 {
            assert!(matches!(
                g.screen(&options, ip("192.0.2.1"), &[], now),
                Screening::Accept(_)
            ));
        }
        let scan = request("OPTIONS", "User-Agent: friendly-scanner\r\n");
        assert_eq!(
            g.screen(&scan, ip("100.64.0.2"), &[], now),
            Screening::Drop(RejectReason::Scanner)
        );
        assert_eq!(g.stats().rejected(RejectReason::Flood), 1);
        assert_eq!(g.stats().rejected(RejectReason::Scanner), 1);
    }

    #[test]
    fn call_admission_counts_refusals() {
        let now = Instant::now();
        let mut g = gate(now);
        let open = TrunkName::new("open");
        let permit = g.admit_call(Some(&open), None, now).unwrap();
        let refused = g.admit_call(Some(&open), None, now).unwrap_err();
        assert_eq!(refused.status.0, 503);
        assert_eq!(g.stats().rejected(RejectReason::TrunkConcurrentLimit), 1);
        assert_eq!(g.active_calls(), 1);
        g.release_call(permit);
        assert_eq!(g.active_calls(), 0);
    }
}
