//! DTMF: key presses received and sent three ways, and routed between
//! the legs of a call.
//!
//! - `rfc4733`: telephone-events in RTP (RFC 4733 §2.3, §2.5, §3.2):
//!   [`TelephoneEvent`], [`TelephoneEventReceiver`],
//!   [`TelephoneEventSender`].
//! - `info`: SIP INFO bodies (`application/dtmf-relay`,
//!   `application/dtmf`): [`InfoDigit`].
//! - `goertzel`: in-band tones in 8 kHz audio (ITU-T Q.23, Q.24):
//!   [`DtmfDetector`]; tones are made by [`TonePlayer`](crate::TonePlayer).
//! - `interworking`: one report per press for the IVR, and the press
//!   repeated on the other legs in the form each takes: [`DtmfRouter`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use media::{
//!     DtmfDigit, DtmfEvent, DtmfMethod, DtmfRouter, LegDtmfConfig, ReceivedEvent,
//!     TelephoneEvent, TelephoneEventReceiver,
//! };
//!
//! let now = Instant::now();
//! let mut receiver = TelephoneEventReceiver::default();
//! let mut router = DtmfRouter::default();
//! router.add_leg("caller", LegDtmfConfig::default());
//! router.add_leg("agent", LegDtmfConfig { rfc4733: false, info: true, ..Default::default() });
//! router.set_bridged(true);
//!
//! // The caller presses 5: RFC 4733 start and end packets.
//! receiver.handle_event(now, 1, 8000, true, TelephoneEvent::dtmf(DtmfDigit::Five, false, 10, 0));
//! receiver.handle_event(now, 2, 8000, false, TelephoneEvent::dtmf(DtmfDigit::Five, true, 10, 800));
//! while let Some(event) = receiver.poll_event() {
//!     if let ReceivedEvent::Ended { digit, duration, .. } = event {
//!         router.handle_digit(now, "caller", DtmfMethod::Rfc4733, digit, duration);
//!     }
//! }
//! // Once to the IVR, and as INFO to the agent.
//! assert!(matches!(router.poll_event(), Some(DtmfEvent::Digit { digit: DtmfDigit::Five, .. })));
//! assert!(matches!(
//!     router.poll_event(),
//!     Some(DtmfEvent::Send { leg: "agent", method: DtmfMethod::Info, duration, .. })
//!         if duration == Duration::from_millis(100)
//! ));
//! ```

mod digit;
mod error;
mod goertzel;
mod info;
mod interworking;
mod rfc4733;

pub use digit::DtmfDigit;
pub use error::DtmfError;
pub use goertzel::{DtmfDetector, DtmfDetectorConfig, InbandEvent};
pub use info::{InfoContentType, InfoDigit};
pub use interworking::{DtmfEvent, DtmfMethod, DtmfRouter, DtmfRouterConfig, LegDtmfConfig};
pub use rfc4733::{
    EventEnd, ReceivedEvent, TelephoneEvent, TelephoneEventPacket, TelephoneEventPackets,
    TelephoneEventReceiver, TelephoneEventReceiverConfig, TelephoneEventSender,
    TelephoneEventSenderConfig, TELEPHONE_EVENT_LEN,
};
