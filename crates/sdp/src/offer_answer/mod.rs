//! The offer/answer model (RFC 3264) as an SBC needs it.
//!
//! - [`answer`]: build the answer to an offer from local [`Capabilities`]
//!   (§6: same `m=` lines in the same order, codec intersection in the
//!   offerer's order, direction rules of §6.1, rejection with port 0;
//!   RFC 4568 §7.1.2 for `a=crypto`; RFC 4733 for telephone-event).
//! - [`negotiated`]: what an offer and its answer agreed, per stream, for
//!   the media layer.
//! - [`is_on_hold`], [`is_stream_on_hold`], [`hold_offer`],
//!   [`resume_offer`]: §8.4 hold and resume.
//! - [`reoffer`]: §8 versioning of a later offer or answer.
//!
//! ```
//! use sdp::offer_answer::{answer, negotiated, Capabilities};
//! use sdp::{Origin, Session};
//!
//! let offer = Session::parse(
//!     b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
//!       m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n\
//!       a=fmtp:101 0-15\r\n",
//! )?;
//! let local = "198.51.100.2".parse()?;
//! let caps = Capabilities::new(Origin::new(7, 1, local), local, vec![30000]);
//! let answer = answer(&offer, &caps)?;
//! let streams = negotiated(&offer, &answer)?;
//! let audio = streams[0].as_ref().expect("accepted");
//! assert_eq!(audio.codec.encoding, "PCMA");
//! assert_eq!(audio.answerer.telephone_event, Some(101));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod answer;
mod capabilities;
mod hold;
mod negotiated;

pub use answer::answer;
pub use capabilities::{Capabilities, Codec, SrtpKey};
pub use hold::{hold_offer, is_on_hold, is_stream_on_hold, reoffer, resume_offer};
pub use negotiated::{negotiated, NegotiatedStream, StreamSide};
