//! Digest authentication of carriers (RFC 7616 §3.3-3.5, with SIP's use
//! of SHA-256 per RFC 8760 §2-3; RFC 3261 §22.3 for 407 and
//! Proxy-Authenticate). Only `qop=auth` is offered and accepted.
//!
//! Nonces are stateless (RFC 7616 §3.3 "nonce"): a timestamp and a
//! counter, authenticated with HMAC-SHA-256 (RFC 2104) under a secret, so
//! a node accepts its own nonces until they expire and answers an expired
//! or foreign one with `stale=true`. Replay protection keeps the highest
//! nonce count seen per nonce (RFC 7616 §3.4 "nc") in a table bounded by
//! `max_tracked_nonces`, forgetting the oldest; a forgotten nonce is stale.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use md5::Md5;
use sha2::{Digest, Sha256};
use sip::{Algorithm, DigestChallenge, DigestCredentials};

use crate::config::{AuthSettings, DigestAccount};

/// A digest algorithm the SBC supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// MD5 (RFC 2617 compatibility).
    Md5,
    /// SHA-256 (RFC 7616, RFC 8760).
    Sha256,
}

impl DigestAlgorithm {
    /// `MD5` or `SHA-256`, case-insensitive.
    pub fn parse(s: &str) -> Option<DigestAlgorithm> {
        match Algorithm::parse(s) {
            Algorithm::Md5 => Some(DigestAlgorithm::Md5),
            Algorithm::Sha256 => Some(DigestAlgorithm::Sha256),
            _ => None,
        }
    }

    /// The token in challenges.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }

    fn hash_hex(self, data: &str) -> String {
        match self {
            DigestAlgorithm::Md5 => hex(&Md5::digest(data.as_bytes())),
            DigestAlgorithm::Sha256 => hex(&Sha256::digest(data.as_bytes())),
        }
    }

    fn to_sip(self) -> Algorithm<'static> {
        match self {
            DigestAlgorithm::Md5 => Algorithm::Md5,
            DigestAlgorithm::Sha256 => Algorithm::Sha256,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The inputs of one digest response (RFC 7616 §3.4.1).
pub(crate) struct DigestInput<'a> {
    pub(crate) username: &'a str,
    pub(crate) realm: &'a str,
    pub(crate) password: &'a str,
    pub(crate) method: &'a str,
    pub(crate) uri: &'a str,
    pub(crate) nonce: &'a str,
    /// `(nc as 8 hex digits, cnonce, qop)`; `None` is RFC 2069 style.
    pub(crate) qop: Option<(&'a str, &'a str, &'a str)>,
}

/// `response` per RFC 7616 §3.4.1 (RFC 2617 §3.2.2.1 for MD5).
pub(crate) fn response(alg: DigestAlgorithm, input: &DigestInput<'_>) -> String {
    let ha1 = alg.hash_hex(&format!(
        "{}:{}:{}",
        input.username, input.realm, input.password
    ));
    let ha2 = alg.hash_hex(&format!("{}:{}", input.method, input.uri));
    match input.qop {
        Some((nc, cnonce, qop)) => {
            alg.hash_hex(&format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", input.nonce))
        }
        None => alg.hash_hex(&format!("{ha1}:{}:{ha2}", input.nonce)),
    }
}

/// HMAC-SHA-256 (RFC 2104 §2 with SHA-256's 64-byte block).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What checking credentials found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthOutcome {
    /// The credentials are right and fresh.
    Authenticated,
    /// Right password, but the nonce expired, is not ours, or was
    /// forgotten: challenge again with `stale=true`.
    Stale,
    /// This nonce count was already used.
    Replay,
    /// Wrong user, realm, algorithm, qop, URI or response.
    Failed,
}

/// Issues nonces and checks credentials.
#[derive(Debug)]
pub(crate) struct DigestAuthenticator {
    secret: Vec<u8>,
    realm: String,
    lifetime: Duration,
    origin: Instant,
    counter: u64,
    highest_nc: HashMap<String, u32>,
    order: VecDeque<String>,
    max_nonces: usize,
}

/// Hex digits of the timestamp, counter and MAC in a nonce.
const NONCE_LEN: usize = 16 + 16 + 32;

impl DigestAuthenticator {
    /// `secret` keys the nonces; `now` is the origin of their timestamps.
    pub(crate) fn new(settings: &AuthSettings, secret: &[u8], now: Instant) -> DigestAuthenticator {
        DigestAuthenticator {
            secret: secret.to_vec(),
            realm: settings.realm.clone(),
            lifetime: settings.nonce_lifetime,
            origin: now,
            counter: 0,
            highest_nc: HashMap::new(),
            order: VecDeque::new(),
            max_nonces: settings.max_tracked_nonces.max(1),
        }
    }

    fn mac(&self, stamp: &str) -> String {
        let mac = hmac_sha256(&self.secret, format!("{stamp}:{}", self.realm).as_bytes());
        hex(mac.get(..16).unwrap_or(&mac))
    }

    /// A fresh nonce: timestamp (seconds since the origin), counter, MAC.
    pub(crate) fn nonce(&mut self, now: Instant) -> String {
        self.counter = self.counter.wrapping_add(1);
        let secs = now.saturating_duration_since(self.origin).as_secs();
        let stamp = format!("{secs:016x}{:016x}", self.counter);
        let mac = self.mac(&stamp);
        format!("{stamp}{mac}")
    }

    /// The nonce's age, if it is one of ours.
    fn nonce_age(&self, nonce: &str, now: Instant) -> Option<Duration> {
        if nonce.len() != NONCE_LEN || !nonce.is_ascii() {
            return None;
        }
        let (stamp, mac) = nonce.split_at(32);
        if !constant_time_eq(self.mac(stamp).as_bytes(), mac.as_bytes()) {
            return None;
        }
        let secs = u64::from_str_radix(stamp.get(..16)?, 16).ok()?;
        let issued = self.origin.checked_add(Duration::from_secs(secs))?;
        now.checked_duration_since(issued)
    }

    /// Challenge header values, one per algorithm of `account` in its
    /// order (RFC 8760 §2.4: the preferred first), all with one nonce.
    pub(crate) fn challenges(
        &mut self,
        algorithms: &[DigestAlgorithm],
        stale: bool,
        now: Instant,
    ) -> Vec<String> {
        let nonce = self.nonce(now);
        algorithms
            .iter()
            .map(|alg| {
                DigestChallenge {
                    realm: &self.realm,
                    nonce: &nonce,
                    stale,
                    algorithm: Some(alg.to_sip()),
                    qop: Some("auth"),
                    ..DigestChallenge::default()
                }
                .to_string()
            })
            .collect()
    }

    /// Checks `creds` sent with a `method` request to `request_uri` against
    /// `account`. Returns whether a nonce was forgotten to make room.
    pub(crate) fn verify(
        &mut self,
        creds: &DigestCredentials<'_>,
        method: &str,
        request_uri: &str,
        account: &DigestAccount,
        now: Instant,
    ) -> (AuthOutcome, bool) {
        let alg = match creds.algorithm {
            None => Some(DigestAlgorithm::Md5),
            Some(a) => DigestAlgorithm::parse(a.as_str()),
        };
        let Some(alg) = alg.filter(|a| account.algorithms.contains(a)) else {
            return (AuthOutcome::Failed, false);
        };
        let (Some("auth"), Some(nc), Some(cnonce)) = (creds.qop, creds.nc, creds.cnonce) else {
            return (AuthOutcome::Failed, false);
        };
        if creds.username != account.username
            || creds.realm != self.realm
            || creds.userhash
            || !same_uri(creds.uri, request_uri)
        {
            return (AuthOutcome::Failed, false);
        }
        let nc_hex = format!("{nc:08x}");
        let expected = response(
            alg,
            &DigestInput {
                username: &account.username,
                realm: &self.realm,
                password: &account.password,
                method,
                uri: creds.uri,
                nonce: creds.nonce,
                qop: Some((&nc_hex, cnonce, "auth")),
            },
        );
        if !constant_time_eq(
            expected.as_bytes(),
            creds.response.to_ascii_lowercase().as_bytes(),
        ) {
            return (AuthOutcome::Failed, false);
        }
        match self.nonce_age(creds.nonce, now) {
            Some(age) if age <= self.lifetime => {}
            _ => return (AuthOutcome::Stale, false),
        }
        self.check_count(creds.nonce, nc)
    }

    /// Nonce-count replay check (RFC 7616 §3.4: nc must grow per nonce).
    fn check_count(&mut self, nonce: &str, nc: u32) -> (AuthOutcome, bool) {
        match self.highest_nc.get_mut(nonce) {
            Some(highest) if nc <= *highest => (AuthOutcome::Replay, false),
            Some(highest) => {
                *highest = nc;
                (AuthOutcome::Authenticated, false)
            }
            // Either the first use, or we forgot this nonce and cannot
            // tell a replay: only nc=1 starts tracking.
            None if nc != 1 => (AuthOutcome::Stale, false),
            None => {
                let mut evicted = false;
                while self.highest_nc.len() >= self.max_nonces {
                    let Some(oldest) = self.order.pop_front() else {
                        break;
                    };
                    self.highest_nc.remove(&oldest);
                    evicted = true;
                }
                self.highest_nc.insert(nonce.to_owned(), nc);
                self.order.push_back(nonce.to_owned());
                (AuthOutcome::Authenticated, evicted)
            }
        }
    }
}

/// Whether the digest `uri` names the request's URI (RFC 7616 §3.4.6).
fn same_uri(digest_uri: &str, request_uri: &str) -> bool {
    if digest_uri == request_uri {
        return true;
    }
    match (sip::Uri::parse(digest_uri), sip::Uri::parse(request_uri)) {
        (Ok(a), Ok(b)) => a.equivalent(&b),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_section_3_5_md5_example() {
        let input = DigestInput {
            username: "Mufasa",
            realm: "testrealm@host.com",
            password: "Circle Of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop: Some(("00000001", "0a4f113b", "auth")),
        };
        assert_eq!(
            response(DigestAlgorithm::Md5, &input),
            "6629fae49393a05397450978507c4ef1"
        );
    }

    #[test]
    fn rfc7616_section_3_9_1_examples() {
        let input = DigestInput {
            username: "Mufasa",
            realm: "http-auth@example.org",
            password: "Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            qop: Some((
                "00000001",
                "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
                "auth",
            )),
        };
        assert_eq!(
            response(DigestAlgorithm::Sha256, &input),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert_eq!(
            response(DigestAlgorithm::Md5, &input),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
    }

    #[test]
    fn hmac_rfc4231_test_case_2() {
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    fn settings() -> AuthSettings {
        AuthSettings {
            realm: "sbc.example.net".into(),
            nonce_lifetime: Duration::from_secs(300),
            nonce_secret: None,
            max_tracked_nonces: 2,
        }
    }

    fn account() -> DigestAccount {
        DigestAccount {
            username: "carrier1".into(),
            password: "s3cret".into(),
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
        }
    }

    /// Credentials a client would send for `nonce`.
    fn answer(alg: DigestAlgorithm, nonce: &str, nc: u32, password: &str) -> String {
        let uri = "sip:+12065550100@sbc.example.net";
        let nc_hex = format!("{nc:08x}");
        let resp = response(
            alg,
            &DigestInput {
                username: "carrier1",
                realm: "sbc.example.net",
                password,
                method: "INVITE",
                uri,
                nonce,
                qop: Some((&nc_hex, "abc123", "auth")),
            },
        );
        format!(
            "Digest username=\"carrier1\", realm=\"sbc.example.net\", nonce=\"{nonce}\", \
             uri=\"{uri}\", response=\"{resp}\", algorithm={}, cnonce=\"abc123\", qop=auth, nc={nc_hex}",
            alg.as_str()
        )
    }

    fn check(auth: &mut DigestAuthenticator, header: &str, now: Instant) -> AuthOutcome {
        let mut h = sip::Headers::new();
        h.push(sip::HeaderName::ProxyAuthorization, header.to_owned());
        let creds = h.proxy_authorization().next().unwrap().unwrap();
        let sip::Credentials::Digest(creds) = creds else {
            panic!("not digest")
        };
        auth.verify(
            &creds,
            "INVITE",
            "sip:+12065550100@sbc.example.net",
            &account(),
            now,
        )
        .0
    }

    #[test]
    fn challenge_lists_each_algorithm_with_one_nonce() {
        let now = Instant::now();
        let mut auth = DigestAuthenticator::new(&settings(), b"0123456789abcdef", now);
        let c = auth.challenges(&[DigestAlgorithm::Sha256, DigestAlgorithm::Md5], true, now);
        assert_eq!(c.len(), 2);
        assert!(c[0].starts_with("Digest realm=\"sbc.example.net\", nonce=\""));
        assert!(c[0].ends_with("stale=true, algorithm=SHA-256, qop=\"auth\""));
        assert!(c[1].contains("algorithm=MD5"));
        let nonce = |s: &str| s.split('"').nth(3).unwrap().to_owned();
        assert_eq!(nonce(&c[0]), nonce(&c[1]));
        assert_eq!(nonce(&c[0]).len(), NONCE_LEN);
        // Two challenges never share a nonce.
        let again = auth.challenges(&[DigestAlgorithm::Md5], false, now);
        assert_ne!(nonce(&again[0]), nonce(&c[0]));
    }

    #[test]
    fn verifies_sha256_and_md5_and_refuses_wrong_password() {
        let now = Instant::now();
        let mut auth = DigestAuthenticator::new(&settings(), b"0123456789abcdef", now);
        for alg in [DigestAlgorithm::Sha256, DigestAlgorithm::Md5] {
            let nonce = auth.nonce(now);
            assert_eq!(
                check(&mut auth, &answer(alg, &nonce, 1, "wrong"), now),
                AuthOutcome::Failed
            );
            assert_eq!(
                check(&mut auth, &answer(alg, &nonce, 1, "s3cret"), now),
                AuthOutcome::Authenticated
            );
        }
    }

    #[test]
    fn expired_or_foreign_nonce_is_stale() {
        let now = Instant::now();
        let mut auth = DigestAuthenticator::new(&settings(), b"0123456789abcdef", now);
        let nonce = auth.nonce(now);
        let later = now + Duration::from_secs(301);
        assert_eq!(
            check(
                &mut auth,
                &answer(DigestAlgorithm::Sha256, &nonce, 1, "s3cret"),
                later
            ),
            AuthOutcome::Stale
        );
        let mut other = DigestAuthenticator::new(&settings(), b"another secret!!", now);
        let foreign = other.nonce(now);
        assert_eq!(
            check(
                &mut auth,
                &answer(DigestAlgorithm::Sha256, &foreign, 1, "s3cret"),
                now
            ),
            AuthOutcome::Stale
        );
        // A tampered timestamp breaks the MAC.
        let tampered = format!("0000000000000001{}", &nonce[16..]);
        assert_eq!(
            check(
                &mut auth,
                &answer(DigestAlgorithm::Sha256, &tampered, 1, "s3cret"),
                now
            ),
            AuthOutcome::Stale
        );
    }

    #[test]
    fn nonce_count_replay_is_caught_and_memory_is_bounded() {
        let now = Instant::now();
        let mut auth = DigestAuthenticator::new(&settings(), b"0123456789abcdef", now);
        let n1 = auth.nonce(now);
        let first = answer(DigestAlgorithm::Sha256, &n1, 1, "s3cret");
        assert_eq!(check(&mut auth, &first, now), AuthOutcome::Authenticated);
        assert_eq!(check(&mut auth, &first, now), AuthOutcome::Replay);
        let second = answer(DigestAlgorithm::Sha256, &n1, 2, "s3cret");
        assert_eq!(check(&mut auth, &second, now), AuthOutcome::Authenticated);
        // Two more nonces push n1 out of a table of two.
        for _ in 0..2 {
            let n = auth.nonce(now);
            let a = answer(DigestAlgorithm::Sha256, &n, 1, "s3cret");
            assert_eq!(check(&mut auth, &a, now), AuthOutcome::Authenticated);
        }
        assert!(auth.highest_nc.len() <= 2);
        // n1 is forgotten: a later count cannot be told from a replay.
        let third = answer(DigestAlgorithm::Sha256, &n1, 3, "s3cret");
        assert_eq!(check(&mut auth, &third, now), AuthOutcome::Stale);
    }

    #[test]
    fn refuses_unoffered_algorithm_missing_qop_and_other_uri() {
        let now = Instant::now();
        let mut auth = DigestAuthenticator::new(&settings(), b"0123456789abcdef", now);
        let nonce = auth.nonce(now);
        let md5 = answer(DigestAlgorithm::Md5, &nonce, 1, "s3cret");
        let mut only_sha = account();
        only_sha.algorithms = vec![DigestAlgorithm::Sha256];
        let mut h = sip::Headers::new();
        h.push(sip::HeaderName::ProxyAuthorization, md5.clone());
        let Some(Ok(sip::Credentials::Digest(creds))) = h.proxy_authorization().next() else {
            panic!("not digest")
        };
        let uri = "sip:+12065550100@sbc.example.net";
        assert_eq!(
            auth.verify(&creds, "INVITE", uri, &only_sha, now).0,
            AuthOutcome::Failed
        );
        assert_eq!(
            auth.verify(
                &creds,
                "INVITE",
                "sip:other@sbc.example.net",
                &account(),
                now
            )
            .0,
            AuthOutcome::Failed
        );
        let mut no_qop = creds;
        no_qop.qop = None;
        assert_eq!(
            auth.verify(&no_qop, "INVITE", uri, &account(), now).0,
            AuthOutcome::Failed
        );
    }
}
