//! What a leg's peer says, decoded once per packet for everything here
//! that listens to it: in-band DTMF (8 kHz), a recording (8 kHz) and a
//! conference (the codec's own rate).
//!
//! The decoder is stateful for G.722 (ADPCM, ITU-T G.722 §3) and Opus,
//! so it sees the packets in the order they arrive; it is fed only
//! while something listens, and a listener that starts late hears the
//! decoder settle within a few milliseconds. Wideband audio is halved
//! to 8 kHz with the relay's frame converter, once per packet and only
//! when asked. Buffers are made with the codec: nothing allocates per
//! packet.

use super::codec::LegEncoding;
use super::rate::FrameConverter;
use crate::codec::{AudioDecoder, CodecError, MAX_PACKET_DURATION};
use crate::server::MediaRate;

/// Samples the converter takes at once (20 ms at 16 kHz).
const CONVERTER_CHUNK: usize = 320;

/// The decoder of one leg's received audio and its last packet.
pub(crate) struct HeardAudio {
    decoder: Box<dyn AudioDecoder>,
    rate: MediaRate,
    pcm: Vec<i16>,
    narrow: Vec<i16>,
    halver: FrameConverter,
    /// Samples of the last packet decoded, `None` when the last packet
    /// was not audio or did not decode.
    len: Option<usize>,
    /// Samples of its 8 kHz form, once made.
    narrow_len: Option<usize>,
}

impl std::fmt::Debug for HeardAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeardAudio")
            .field("rate", &self.rate)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl HeardAudio {
    pub(crate) fn new(encoding: LegEncoding) -> Result<Self, CodecError> {
        let rate = encoding.media_rate();
        let max = rate.samples_in(MAX_PACKET_DURATION);
        Ok(Self {
            decoder: encoding.local_decoder()?,
            rate,
            pcm: vec![0; max],
            narrow: vec![0; MediaRate::Narrowband.samples_in(MAX_PACKET_DURATION)],
            halver: FrameConverter::new(rate, MediaRate::Narrowband),
            len: None,
            narrow_len: None,
        })
    }

    /// Forgets the last packet (the next one is not audio, or is not
    /// listened to).
    pub(crate) fn clear(&mut self) {
        self.len = None;
        self.narrow_len = None;
    }

    /// Decodes one audio payload. A payload that does not decode leaves
    /// no audio for this packet.
    pub(crate) fn decode(&mut self, payload: &[u8]) -> Result<(), CodecError> {
        self.clear();
        let samples = self.decoder.decode(payload, &mut self.pcm)?;
        self.len = Some(samples.min(self.pcm.len()));
        Ok(())
    }

    /// The last packet's audio at the codec's media rate.
    pub(crate) fn pcm(&self) -> Option<&[i16]> {
        Some(&self.pcm[..self.len?])
    }

    /// The last packet's audio at 8 kHz.
    pub(crate) fn narrowband(&mut self) -> Option<&[i16]> {
        let len = self.len?;
        if self.rate == MediaRate::Narrowband {
            return Some(&self.pcm[..len]);
        }
        let narrow_len = match self.narrow_len {
            Some(narrow_len) => narrow_len,
            None => {
                let mut written = 0;
                for chunk in self.pcm[..len].chunks(CONVERTER_CHUNK) {
                    let out_len = chunk.len() / 2;
                    let Some(out) = self.narrow.get_mut(written..written + out_len) else {
                        break;
                    };
                    self.halver.convert(chunk, out);
                    written += out_len;
                }
                *self.narrow_len.insert(written)
            }
        };
        Some(&self.narrow[..narrow_len])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn g722_is_heard_at_both_rates() {
        let mut encoder = LegEncoding::G722.local_encoder().unwrap();
        let mut heard = HeardAudio::new(LegEncoding::G722).unwrap();
        let mut payload = [0u8; 160];
        let mut levels = Vec::new();
        for frame in 0..10 {
            let pcm: Vec<i16> = (0..320)
                .map(|i| {
                    let t = (frame * 320 + i) as f32 / 16_000.0;
                    (8_000.0 * (2.0 * std::f32::consts::PI * 1_000.0 * t).sin()) as i16
                })
                .collect();
            let len = encoder.encode(&pcm, &mut payload).unwrap();
            heard.decode(&payload[..len]).unwrap();
            assert_eq!(heard.pcm().unwrap().len(), 320);
            let narrow = heard.narrowband().unwrap();
            assert_eq!(narrow.len(), 160);
            let energy: f64 = narrow.iter().map(|&s| f64::from(s).powi(2)).sum();
            levels.push((energy / 160.0).sqrt());
        }
        // A 1 kHz tone at about 8000 / √2 once the filters have settled.
        assert!(
            levels[5..].iter().all(|&rms| (rms - 5_657.0).abs() < 600.0),
            "{levels:?}"
        );
        heard.clear();
        assert!(heard.pcm().is_none() && heard.narrowband().is_none());
        assert!(heard.decode(&[]).is_err());
        assert!(heard.pcm().is_none());
    }
}
