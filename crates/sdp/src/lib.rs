//! SDP (RFC 8866) for switchboard: a lossless model of session
//! descriptions and the RFC 3264 offer/answer helpers an SBC needs.
//!
//! - [`Session::parse`] reads a body (CRLF or LF line ends) into a
//!   [`Session`] of typed lines and [`Media`] sections; every `a=` line is
//!   kept as an [`Attribute`] in order, so a well-formed body serializes
//!   back byte for byte with [`Session::to_bytes`] or `Display`. Errors
//!   ([`SdpError`]) name the line; [`Limits`] bound size and counts.
//! - Typed views of the attributes a media layer needs: [`Rtpmap`] and
//!   [`Fmtp`] (RFC 8866 §6.6, §6.15), [`Direction`] (§6.7), [`Crypto`]
//!   (RFC 4568 SDES), [`Rtcp`] (RFC 3605), rtcp-mux (RFC 5761), ptime,
//!   telephone-event (RFC 4733).
//! - Edits an SBC makes: [`Session::set_connection_address`],
//!   [`Media::set_port`], [`Media::set_direction`], [`Media::add_crypto`],
//!   [`Media::remove_cryptos`], [`Media::remove_payload_type`],
//!   [`Session::bump_version`].
//! - [`offer_answer`]: answer generation, negotiated result, hold/resume.
//!
//! The crate is pure: no I/O, no clocks.
//!
//! ```
//! let body = b"v=0\r\no=- 20518 0 IN IP4 203.0.113.1\r\ns=-\r\n\
//!     c=IN IP4 203.0.113.1\r\nt=0 0\r\nm=audio 54400 RTP/SAVP 0 101\r\n\
//!     a=rtpmap:101 telephone-event/8000\r\n\
//!     a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\n";
//! let mut session = sdp::Session::parse(body)?;
//! assert_eq!(session.to_bytes().as_ref(), body.as_slice());
//!
//! let audio = &mut session.media[0];
//! let crypto = audio.cryptos().next().expect("one crypto line");
//! let (key, salt) = crypto.master_key_salt().expect("known suite");
//! assert_eq!((key.len(), salt.len()), (16, 14));
//! audio.set_port(40000);
//! session.set_connection_address("198.51.100.2".parse()?);
//! session.bump_version();
//! assert!(session.to_string().contains("m=audio 40000 RTP/SAVP 0 101\r\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod attribute;
mod base64;
mod crypto;
mod error;
mod grammar;
mod lines;
mod media;
pub mod offer_answer;
mod parse;
mod rtpmap;
mod session;
mod write;

pub use attribute::{Attribute, Direction};
pub use crypto::{Crypto, KeyParams, Lifetime, Mki};
pub use error::{NegotiationError, SdpError};
pub use lines::{Bandwidth, Connection, Origin, Rtcp, Timing};
pub use media::Media;
pub use parse::Limits;
pub use rtpmap::{Fmtp, Rtpmap};
pub use session::Session;
