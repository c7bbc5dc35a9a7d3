//! Random input never panics the DTMF parsers, receiver or detector, and
//! the receiver reports every press as exactly one `Began` then one
//! `Ended`, whatever the packets.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use media::{
    DtmfDetector, InbandEvent, InfoDigit, ReceivedEvent, TelephoneEvent, TelephoneEventReceiver,
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(event) = TelephoneEvent::parse(&bytes) {
            // Everything but the reserved bit survives a round trip.
            prop_assert_eq!(TelephoneEvent::parse(&event.to_bytes()), Ok(event));
            prop_assert_eq!(event.to_bytes()[1], bytes[1] & !0x40);
        }
        let _ = InfoDigit::parse("application/dtmf-relay", &bytes);
        let _ = InfoDigit::parse("application/dtmf", &bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = InfoDigit::parse(&text, &bytes);
    }

    /// Arbitrary packets (few timestamps and keys, so that they collide)
    /// at arbitrary times: reports pair up and never overlap.
    #[test]
    fn receiver_reports_pair_up(
        packets in proptest::collection::vec(
            (0u64..400, any::<u16>(), 0u32..4, 0u8..3, any::<bool>(), any::<bool>(), any::<u16>()),
            0..80,
        )
    ) {
        let start = Instant::now();
        let mut receiver = TelephoneEventReceiver::default();
        let mut now_ms = 0;
        let mut open: Option<(media::DtmfDigit, u32)> = None;
        let mut check = |receiver: &mut TelephoneEventReceiver| -> Result<(), TestCaseError> {
            while let Some(event) = receiver.poll_event() {
                match event {
                    ReceivedEvent::Began { digit, timestamp } => {
                        prop_assert!(open.is_none(), "two presses open");
                        open = Some((digit, timestamp));
                    }
                    ReceivedEvent::Ended { digit, timestamp, .. } => {
                        prop_assert_eq!(open.take(), Some((digit, timestamp)));
                    }
                }
            }
            Ok(())
        };
        for (step, sequence, timestamp, code, marker, end, duration) in packets {
            now_ms += step;
            let now = start + Duration::from_millis(now_ms);
            let event = TelephoneEvent { event: code, end, volume: 10, duration };
            receiver.handle_event(now, sequence, timestamp * 3000, marker, event);
            check(&mut receiver)?;
        }
        receiver.handle_timeout(start + Duration::from_millis(now_ms) + Duration::from_secs(1));
        check(&mut receiver)?;
        prop_assert!(open.is_none());
        prop_assert_eq!(receiver.poll_timeout(), None);
    }

    #[test]
    fn detector_takes_any_audio(samples in proptest::collection::vec(any::<i16>(), 0..3000), codes in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let mut detector = DtmfDetector::default();
        detector.handle_samples(&samples);
        detector.handle_g711(media::G711::Alaw, &codes);
        let mut open = None;
        while let Some(event) = detector.poll_event() {
            match event {
                InbandEvent::Began { digit } => {
                    prop_assert!(open.is_none());
                    open = Some(digit);
                }
                InbandEvent::Ended { digit, .. } => prop_assert_eq!(open.take(), Some(digit)),
            }
        }
    }
}
