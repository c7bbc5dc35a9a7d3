//! Opus (RFC 6716) in RTP (RFC 7587) through libopus and the `opus`
//! crate: 48 kHz PCM, the VoIP application, in-band FEC and DTX as
//! configured, and libopus's packet loss concealment.
//!
//! The RTP clock of Opus is always 48 kHz and its `a=rtpmap` always says
//! two channels (RFC 7587 §4.1, §7); whether one or two are sent is the
//! encoder's choice (`stereo` / `sprop-stereo` in `a=fmtp`, §6.1). A
//! decoder of either channel count decodes packets of both.
//!
//! The PCM side may run at another rate libopus takes (8, 12, 16 or
//! 24 kHz; crate-internal `with_rate` constructors): the relay's own end
//! of an Opus leg works at 16 kHz, the rate of its other wideband audio,
//! while the RTP clock stays at 48 kHz (RFC 7587 §4.1).

use std::time::Duration;

use ::opus::{Application, Bitrate, Channels};

use super::{AudioDecoder, AudioEncoder, Codec, CodecError};

/// Opus's sample rate and RTP clock rate.
const RATE: u32 = 48_000;
/// Samples a channel in the longest packet, 120 ms
/// ([`MAX_PACKET_DURATION`](super::MAX_PACKET_DURATION)), at 48 kHz.
const MAX_PACKET_SAMPLES: usize = 5760;

/// The PCM rates libopus encodes from and decodes to.
fn check_rate(rate: u32) -> Result<(), CodecError> {
    match rate {
        8000 | 12_000 | 16_000 | 24_000 | RATE => Ok(()),
        _ => Err(CodecError::Config("Opus PCM at 8, 12, 16, 24 or 48 kHz")),
    }
}

/// Samples a channel at `rate` in `samples_48k` samples at 48 kHz.
fn at_rate(samples_48k: usize, rate: u32) -> usize {
    // 48 kHz is a multiple of every rate allowed.
    samples_48k / (RATE / rate) as usize
}
/// Most bytes one Opus frame takes (RFC 6716 §3.2.1).
const MAX_FRAME_BYTES: usize = 1275;

/// Opus encoder settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusConfig {
    /// 1 (mono) or 2 (stereo, when the peer's `a=fmtp` says `stereo=1`).
    pub channels: usize,
    /// Target bitrate in bit/s, 6000..=510000.
    pub bitrate: u32,
    /// In-band forward error correction (`useinbandfec=1`, RFC 7587
    /// §6.1): a low-bitrate copy of each frame rides in the next packet.
    pub fec: bool,
    /// Expected packet loss in percent (0..=100), which FEC adapts to.
    pub packet_loss_percent: u8,
    /// Discontinuous transmission (`usedtx=1`): during silence one packet
    /// every 400 ms.
    pub dtx: bool,
}

impl Default for OpusConfig {
    /// Mono, 32 kbit/s (wideband speech with room to spare), FEC on for
    /// 5 % loss, no DTX.
    fn default() -> Self {
        Self {
            channels: 1,
            bitrate: 32_000,
            fec: true,
            packet_loss_percent: 5,
            dtx: false,
        }
    }
}

fn opus_channels(channels: usize) -> Result<Channels, CodecError> {
    match channels {
        1 => Ok(Channels::Mono),
        2 => Ok(Channels::Stereo),
        _ => Err(CodecError::Config("Opus takes one or two channels")),
    }
}

/// Opus encoder in the VoIP application mode.
pub struct OpusEncoder {
    encoder: ::opus::Encoder,
    channels: usize,
    frame_len: usize,
    /// Rate of the PCM taken.
    rate: u32,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("channels", &self.channels)
            .field("frame_len", &self.frame_len)
            .finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// An encoder with `config`, framing `ptime` (2.5, 5, 10, 20, 40 or
    /// 60 ms) into each packet.
    pub fn new(config: &OpusConfig, ptime: Duration) -> Result<Self, CodecError> {
        Self::with_rate(RATE, config, ptime)
    }

    /// An encoder taking PCM at `rate` (8, 12, 16, 24 or 48 kHz); the
    /// payloads are the same Opus, on the 48 kHz RTP clock.
    pub(crate) fn with_rate(
        rate: u32,
        config: &OpusConfig,
        ptime: Duration,
    ) -> Result<Self, CodecError> {
        check_rate(rate)?;
        let frame_len = match ptime.as_micros() {
            2500 | 5000 | 10_000 | 20_000 | 40_000 | 60_000 => {
                at_rate(ptime.as_micros() as usize * 48 / 1000, rate)
            }
            other => return Err(CodecError::FrameDuration(other)),
        };
        if !(6000..=510_000).contains(&config.bitrate) {
            return Err(CodecError::Config("Opus bitrate outside 6000..=510000"));
        }
        if config.packet_loss_percent > 100 {
            return Err(CodecError::Config("packet loss above 100 %"));
        }
        let channels = opus_channels(config.channels)?;
        let mut encoder = ::opus::Encoder::new(rate, channels, Application::Voip)?;
        // The range check above keeps the bitrate within i32.
        encoder.set_bitrate(Bitrate::Bits(config.bitrate as i32))?;
        encoder.set_inband_fec(config.fec)?;
        encoder.set_packet_loss_perc(i32::from(config.packet_loss_percent))?;
        encoder.set_dtx(config.dtx)?;
        Ok(Self {
            encoder,
            channels: config.channels,
            frame_len,
            rate,
        })
    }

    /// Samples a channel of look-ahead: how far decoded audio lags.
    pub fn lookahead(&mut self) -> Result<usize, CodecError> {
        Ok(usize::try_from(self.encoder.get_lookahead()?).unwrap_or(0))
    }
}

impl AudioEncoder for OpusEncoder {
    fn codec(&self) -> Codec {
        Codec::Opus
    }

    fn channels(&self) -> usize {
        self.channels
    }

    fn frame_len(&self) -> usize {
        self.frame_len
    }

    fn frame_duration(&self) -> Duration {
        let rate = u64::from(self.rate);
        Duration::from_nanos(self.frame_len as u64 * 1_000_000_000 / rate)
    }

    fn max_payload_len(&self) -> usize {
        MAX_FRAME_BYTES * self.frame_len.div_ceil(at_rate(960, self.rate))
    }

    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        let expected = self.frame_len * self.channels;
        if pcm.len() != expected {
            return Err(CodecError::FrameLength {
                len: pcm.len(),
                expected,
            });
        }
        Ok(self.encoder.encode(pcm, out)?)
    }
}

/// Opus decoder at 48 kHz with packet loss concealment.
pub struct OpusDecoder {
    decoder: ::opus::Decoder,
    channels: usize,
    /// Rate of the PCM given.
    rate: u32,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A decoder giving `channels` (1 or 2) channels.
    pub fn new(channels: usize) -> Result<Self, CodecError> {
        Self::with_rate(RATE, channels)
    }

    /// A decoder giving PCM at `rate` (8, 12, 16, 24 or 48 kHz).
    pub(crate) fn with_rate(rate: u32, channels: usize) -> Result<Self, CodecError> {
        check_rate(rate)?;
        let decoder = ::opus::Decoder::new(rate, opus_channels(channels)?)?;
        Ok(Self {
            decoder,
            channels,
            rate,
        })
    }

    fn plc_target<'a>(
        &self,
        samples: usize,
        out: &'a mut [i16],
    ) -> Result<&'a mut [i16], CodecError> {
        // libopus conceals whole multiples of 2.5 ms up to 120 ms.
        let step = at_rate(120, self.rate);
        if samples == 0 || samples % step != 0 || samples > at_rate(MAX_PACKET_SAMPLES, self.rate) {
            return Err(CodecError::FrameDuration(
                samples as u128 * 1_000_000 / u128::from(self.rate),
            ));
        }
        let needed = samples * self.channels;
        let len = out.len();
        out.get_mut(..needed)
            .ok_or(CodecError::BufferTooSmall { len, needed })
    }
}

impl AudioDecoder for OpusDecoder {
    fn codec(&self) -> Codec {
        Codec::Opus
    }

    fn channels(&self) -> usize {
        self.channels
    }

    fn decoded_len(&self, payload: &[u8]) -> Result<usize, CodecError> {
        if payload.is_empty() {
            return Err(CodecError::EmptyPayload);
        }
        let samples = ::opus::packet::get_nb_samples(payload, self.rate)?;
        let max = at_rate(MAX_PACKET_SAMPLES, self.rate);
        if samples > max {
            return Err(CodecError::PayloadTooLong { samples, max });
        }
        Ok(samples)
    }

    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let samples = self.decoded_len(payload)?;
        let needed = samples * self.channels;
        if out.len() < needed {
            return Err(CodecError::BufferTooSmall {
                len: out.len(),
                needed,
            });
        }
        // Handing libopus exactly the packet's length keeps it from
        // decoding past what decoded_len promised.
        Ok(self.decoder.decode(payload, &mut out[..needed], false)?)
    }

    fn conceal(&mut self, samples: usize, out: &mut [i16]) -> Result<usize, CodecError> {
        let target = self.plc_target(samples, out)?;
        Ok(self.decoder.decode(&[], target, false)?)
    }

    /// The lost packet from `next`'s in-band FEC data (RFC 7587 §4.2;
    /// without FEC data libopus conceals instead).
    fn recover(
        &mut self,
        next: &[u8],
        samples: usize,
        out: &mut [i16],
    ) -> Result<usize, CodecError> {
        if next.is_empty() {
            return Err(CodecError::EmptyPayload);
        }
        let target = self.plc_target(samples, out)?;
        Ok(self.decoder.decode(next, target, true)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::codec::test_signal::assert_tones;

    fn tone(freq: f64, len: usize, channels: usize) -> Vec<i16> {
        (0..len * channels)
            .map(|i| {
                let t = (i / channels) as f64 / f64::from(RATE);
                (10_000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
            })
            .collect()
    }

    fn round_trip(channels: usize) {
        let config = OpusConfig {
            channels,
            bitrate: 64_000,
            ..OpusConfig::default()
        };
        let mut encoder = OpusEncoder::new(&config, Duration::from_millis(20)).unwrap();
        let delay = encoder.lookahead().unwrap();
        assert!(delay > 0 && delay < 960, "look-ahead {delay}");
        let mut decoder = OpusDecoder::new(channels).unwrap();
        // Three seconds: libopus settles on its coding mode during the
        // first, and a mode switch shifts the phase; the last is measured.
        let input = tone(1000.0, 3 * 48_000, channels);
        let mut output = Vec::new();
        let mut payload = vec![0u8; encoder.max_payload_len()];
        let mut pcm = vec![0i16; MAX_PACKET_SAMPLES * channels];
        for frame in input.chunks_exact(960 * channels) {
            let len = encoder.encode(frame, &mut payload).unwrap();
            assert!(len > 0 && len < 400, "payload {len}");
            assert_eq!(decoder.decoded_len(&payload[..len]).unwrap(), 960);
            let samples = decoder.decode(&payload[..len], &mut pcm).unwrap();
            assert_eq!(samples, 960);
            output.extend_from_slice(&pcm[..samples * channels]);
        }
        for channel in 0..channels {
            let decoded: Vec<i16> = output
                .iter()
                .skip(channel)
                .step_by(channels)
                .copied()
                .collect();
            let what = format!("channel {channel} of {channels}");
            assert_tones(
                &decoded,
                RATE,
                &[(1000.0, 10_000.0)],
                2 * 48_000,
                30.0,
                &what,
            );
        }
    }

    #[test]
    fn tone_round_trips_mono_and_stereo() {
        round_trip(1);
        round_trip(2);
    }

    #[test]
    fn conceals_lost_packets_with_a_frame_of_the_right_length() {
        let mut encoder =
            OpusEncoder::new(&OpusConfig::default(), Duration::from_millis(20)).unwrap();
        let mut decoder = OpusDecoder::new(1).unwrap();
        let input = tone(440.0, 9600, 1);
        let mut payload = [0u8; 1500];
        let mut pcm = [0i16; MAX_PACKET_SAMPLES];
        for frame in input.chunks_exact(960) {
            let len = encoder.encode(frame, &mut payload).unwrap();
            decoder.decode(&payload[..len], &mut pcm).unwrap();
        }
        pcm.fill(0);
        assert_eq!(decoder.conceal(960, &mut pcm).unwrap(), 960);
        // Concealment continues the tone rather than going silent.
        let energy: f64 = pcm[..480].iter().map(|&s| f64::from(s).powi(2)).sum();
        assert!(energy / 480.0 > 1e5, "concealed energy {energy}");
        assert!(pcm[960..].iter().all(|&s| s == 0));
        // FEC recovery from the next packet gives a frame too.
        let len = encoder.encode(&input[..960], &mut payload).unwrap();
        assert_eq!(
            decoder.recover(&payload[..len], 960, &mut pcm).unwrap(),
            960
        );
        assert!(decoder.conceal(100, &mut pcm).is_err());
        assert!(decoder.conceal(960, &mut pcm[..10]).is_err());
    }

    #[test]
    fn refuses_bad_settings() {
        let ptime = Duration::from_millis(20);
        assert!(OpusEncoder::new(
            &OpusConfig {
                channels: 3,
                ..OpusConfig::default()
            },
            ptime
        )
        .is_err());
        assert!(OpusEncoder::new(
            &OpusConfig {
                bitrate: 100,
                ..OpusConfig::default()
            },
            ptime
        )
        .is_err());
        assert!(OpusEncoder::new(&OpusConfig::default(), Duration::from_millis(30)).is_err());
        let mut encoder =
            OpusEncoder::new(&OpusConfig::default(), Duration::from_millis(10)).unwrap();
        assert_eq!(encoder.frame_len(), 480);
        assert!(encoder.encode(&[0; 960], &mut [0; 1500]).is_err());
    }
}
