//! Random payloads never panic a decoder, the comfort noise parser or a
//! transcoder: they decode or are refused with an error.
#![allow(clippy::unwrap_used)]

use media::{Codec, CodecError, ComfortNoise, EncoderConfig, Transcoder};
use proptest::prelude::*;

const CODECS: [Codec; 4] = [Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::Opus];

proptest! {
    #[test]
    fn random_payloads_never_panic_a_decoder(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..1500), 1..8),
        stereo in any::<bool>(),
    ) {
        for codec in CODECS {
            let channels = if stereo && codec == Codec::Opus { 2 } else { 1 };
            let mut decoder = codec.new_decoder_with_channels(channels).unwrap();
            let mut out = vec![0i16; 5760 * channels];
            for payload in &payloads {
                match decoder.decode(payload, &mut out) {
                    Ok(samples) => {
                        prop_assert_eq!(Ok(samples), decoder.decoded_len(payload));
                        prop_assert!(samples * channels <= out.len());
                    }
                    Err(CodecError::EmptyPayload) => prop_assert!(payload.is_empty()),
                    Err(_) => {}
                }
                // Concealment after garbage still gives a frame.
                prop_assert_eq!(decoder.conceal(960, &mut out), Ok(960));
            }
        }
    }

    #[test]
    fn random_comfort_noise_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        match ComfortNoise::parse(&payload) {
            Ok(noise) => {
                prop_assert_eq!(noise.level, payload[0]);
                prop_assert_eq!(noise.order, payload.len() - 1);
            }
            Err(_) => prop_assert!(payload.is_empty() || payload[0] & 0x80 != 0),
        }
    }

    #[test]
    fn random_packets_never_panic_a_transcoder(
        packets in proptest::collection::vec(
            (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..400)), 1..12),
        from in 0..4usize,
        to in 0..4usize,
    ) {
        let mut transcoder = Transcoder::new(CODECS[from], CODECS[to], &EncoderConfig::default()).unwrap();
        let mut out = vec![0u8; transcoder.max_payload_len()];
        for (timestamp, payload) in &packets {
            let _ = transcoder.handle_payload(*timestamp, payload);
            while let Some(frame) = transcoder.poll_payload(&mut out).unwrap() {
                prop_assert!(frame.len <= out.len());
            }
        }
    }
}
