//! G.711 behind [`AudioEncoder`] / [`AudioDecoder`]: one code per sample
//! at 8 kHz (RFC 3551 §4.5.14), through the tables of [`crate::G711`].

use std::time::Duration;

use super::{AudioDecoder, AudioEncoder, Codec, CodecError, MAX_PACKET_DURATION};
use crate::G711;

fn codec_of(law: G711) -> Codec {
    match law {
        G711::Mulaw => Codec::Pcmu,
        G711::Alaw => Codec::Pcma,
    }
}

/// Frame length for `ptime` at `codec`'s rate: whole samples, at most
/// [`MAX_PACKET_DURATION`].
pub(super) fn frame_len_for(codec: Codec, ptime: Duration) -> Result<usize, CodecError> {
    match codec.samples_in(ptime) {
        Some(samples) if samples > 0 && ptime <= MAX_PACKET_DURATION => Ok(samples),
        _ => Err(CodecError::FrameDuration(ptime.as_micros())),
    }
}

/// Concealment by silence: `samples` zeros at the start of `out`.
pub(super) fn conceal_with_silence(samples: usize, out: &mut [i16]) -> Result<usize, CodecError> {
    let len = out.len();
    let target = out.get_mut(..samples).ok_or(CodecError::BufferTooSmall {
        len,
        needed: samples,
    })?;
    target.fill(0);
    Ok(samples)
}

/// Stateless G.711 decoder.
pub(super) struct G711Decoder {
    law: G711,
}

impl G711Decoder {
    pub(super) fn new(law: G711) -> Self {
        Self { law }
    }
}

impl AudioDecoder for G711Decoder {
    fn codec(&self) -> Codec {
        codec_of(self.law)
    }

    fn channels(&self) -> usize {
        1
    }

    fn decoded_len(&self, payload: &[u8]) -> Result<usize, CodecError> {
        if payload.is_empty() {
            return Err(CodecError::EmptyPayload);
        }
        Ok(payload.len())
    }

    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let needed = self.decoded_len(payload)?;
        if out.len() < needed {
            return Err(CodecError::BufferTooSmall {
                len: out.len(),
                needed,
            });
        }
        Ok(self.law.decode(payload, out))
    }

    fn conceal(&mut self, samples: usize, out: &mut [i16]) -> Result<usize, CodecError> {
        conceal_with_silence(samples, out)
    }
}

/// Stateless G.711 encoder with a fixed frame length.
pub(super) struct G711Encoder {
    law: G711,
    frame_len: usize,
}

impl G711Encoder {
    pub(super) fn new(law: G711, ptime: Duration) -> Result<Self, CodecError> {
        let frame_len = frame_len_for(codec_of(law), ptime)?;
        Ok(Self { law, frame_len })
    }
}

impl AudioEncoder for G711Encoder {
    fn codec(&self) -> Codec {
        codec_of(self.law)
    }

    fn channels(&self) -> usize {
        1
    }

    fn frame_len(&self) -> usize {
        self.frame_len
    }

    fn max_payload_len(&self) -> usize {
        self.frame_len
    }

    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        if pcm.len() != self.frame_len {
            return Err(CodecError::FrameLength {
                len: pcm.len(),
                expected: self.frame_len,
            });
        }
        if out.len() < pcm.len() {
            return Err(CodecError::BufferTooSmall {
                len: out.len(),
                needed: pcm.len(),
            });
        }
        Ok(self.law.encode(pcm, out))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::codec::EncoderConfig;

    #[test]
    fn wraps_the_g711_tables() {
        let config = EncoderConfig {
            ptime: Duration::from_millis(30),
            ..EncoderConfig::default()
        };
        let mut encoder = Codec::Pcma.new_encoder(&config).unwrap();
        assert_eq!(encoder.frame_len(), 240);
        assert_eq!(encoder.frame_duration(), Duration::from_millis(30));
        let pcm: Vec<i16> = (0..240).map(|i| (i * 100 - 12_000) as i16).collect();
        let mut payload = [0u8; 240];
        assert_eq!(encoder.encode(&pcm, &mut payload).unwrap(), 240);
        assert_eq!(payload[7], crate::alaw_encode(pcm[7]));
        let mut decoder = Codec::Pcma.new_decoder().unwrap();
        let mut decoded = [0i16; 240];
        assert_eq!(decoder.decode(&payload, &mut decoded).unwrap(), 240);
        assert_eq!(decoded[7], crate::alaw_decode(payload[7]));
        assert!(matches!(
            encoder.encode(&pcm[..100], &mut payload),
            Err(CodecError::FrameLength { .. })
        ));
        assert_eq!(
            decoder.decode(&[], &mut decoded),
            Err(CodecError::EmptyPayload)
        );
        assert!(matches!(
            decoder.decode(&payload, &mut decoded[..10]),
            Err(CodecError::BufferTooSmall { .. })
        ));
    }

    #[test]
    fn refuses_packet_times_without_whole_samples() {
        let config = EncoderConfig {
            ptime: Duration::from_micros(100),
            ..EncoderConfig::default()
        };
        assert!(Codec::Pcmu.new_encoder(&config).is_err());
    }
}
