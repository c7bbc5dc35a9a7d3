//! SRTP and SRTCP (RFC 3711) with the SDES suites of RFC 4568 §6.2
//! that Teams Direct Routing uses: `AES_CM_128_HMAC_SHA1_80` and
//! `AES_CM_128_HMAC_SHA1_32`.
//!
//! - §3.1, §3.3: SRTP packets, protected in place (payload encrypted,
//!   tag appended; no MKI).
//! - §3.2.1, §3.3.1: a crypto context per SSRC with its rollover counter
//!   and the packet index estimated from the sequence number.
//! - §3.3.2: a 64-packet replay window for SRTP and for SRTCP, updated
//!   only after authentication.
//! - §3.4: SRTCP with the E flag and a 31-bit SRTCP index per SSRC.
//! - §4.1.1: AES in counter mode; §4.2: HMAC-SHA1 tags (80 or 32 bits;
//!   SRTCP always 80, RFC 4568 §6.2.2).
//! - §4.3: key derivation with the AES-CM PRF, key derivation rate 0.
//! - RFC 4568 §6.1: keys come from `a=crypto` lines typed by the `sdp`
//!   crate ([`SrtpContext::from_crypto`], [`SrtpSuite::sdes_crypto`]).
//!
//! Not implemented: MKI, key derivation rates other than 0, the f8 and
//! AEAD transforms, enforcing an `a=crypto` key lifetime below the
//! 2^48 / 2^31 packet limits.

mod context;
mod keys;
mod replay;
mod suite;

pub use context::SrtpContext;
pub use suite::SrtpSuite;

#[cfg(test)]
mod tests;
