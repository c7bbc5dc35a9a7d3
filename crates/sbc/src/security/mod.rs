//! Keeping unwanted traffic out: source ACLs per trunk and Teams
//! recognition, per-source flood protection, scanner User-Agents, digest
//! authentication (RFC 7616, RFC 8760, RFC 3261 §22.3) and call limits
//! (503 + Retry-After, RFC 3261 §21.5.4). [`Gate`] puts them together.

pub(crate) mod digest;
mod flood;
mod gate;
mod limits;
pub(crate) mod scanner;

pub use digest::DigestAlgorithm;
pub use gate::{Gate, Peer, Screening};
pub use limits::CallPermit;
