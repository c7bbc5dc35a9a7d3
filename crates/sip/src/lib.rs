//! SIP messages for switchboard: parsing and serializing requests and
//! responses (RFC 3261 §7, §18.3 framing, §25 grammar), URIs (RFC 3261
//! §19.1, RFC 3966 tel, RFC 5118 IPv6), and typed, lazily parsed header
//! views (RFC 3261 §20 and the extensions named on each type).
//!
//! The parser makes one pass over the start line and header block and
//! records every header value as a range of the received [`bytes::Bytes`];
//! a value is parsed only when a typed accessor asks for it, and typed
//! views borrow from the message. Untrusted input is bounded by
//! [`Limits`]; every rejection is a specific [`ParseError`] variant.
//!
//! ```no_run
//! use bytes::Bytes;
//! use sip::{Message, Response, StatusCode, new_tag};
//!
//! # fn datagram() -> Bytes { Bytes::new() }
//! let msg = Message::parse(datagram())?;
//! if let Message::Request(req) = &msg {
//!     let branch = req.headers.top_via()?.branch();
//!     let from_tag = req.headers.from()?.tag();
//!     println!("{} {} branch={branch:?} from-tag={from_tag:?}", req.method, req.uri);
//!     let mut ok = Response::for_request(req, StatusCode::OK);
//!     let to = format!("{};tag={}", req.headers.to()?, new_tag());
//!     ok.headers.set(sip::HeaderName::To, to);
//!     let _wire: Bytes = ok.to_bytes();
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod error;
mod header;
mod host;
mod ids;
mod limits;
mod message;
mod method;
mod params;
#[cfg(test)]
mod proptests;
mod status;
mod stream;
mod text;
mod uri;

pub use error::{HeaderError, ParseError, UriError};
pub use header::auth::{Algorithm, Challenge, Credentials, DigestChallenge, DigestCredentials};
pub use header::date::SipDate;
pub use header::map::Headers;
pub use header::name::HeaderName;
pub use header::name_addr::{Contacts, NameAddr};
pub use header::session::{Reason, Refresher, Replaces, RetryAfter, SessionExpires};
pub use header::simple::{CSeq, MediaType};
pub use header::via::Via;
pub use host::Host;
pub use ids::{new_branch, new_call_id, new_tag};
pub use limits::Limits;
pub use message::{Message, Request, RequestBuilder, Response, ResponseBuilder};
pub use method::Method;
pub use params::Params;
pub use status::StatusCode;
pub use stream::{StreamDecoder, StreamItem};
pub use text::unescape_quoted;
pub use uri::{percent_decode, Scheme, Uri, UriRef};
