//! Audio codecs beyond bare G.711 tables, and transcoding between them.
//!
//! - [`Codec`]: the codecs an SDP `a=rtpmap` can name here (RFC 3551 §4.5
//!   and §6, RFC 7587 §7 for Opus, RFC 3389 for CN), with their RTP clock
//!   rate and PCM sample rate, which differ for G.722 (§4.5.2: 8000 Hz
//!   clock, 16 kHz audio).
//! - [`AudioDecoder`] / [`AudioEncoder`]: payload <-> 16-bit PCM frames,
//!   into caller buffers. G.711 wraps [`G711`](crate::G711); G.722
//!   ([`G722Encoder`], [`G722Decoder`]) is ITU-T G.722 at 64 kbit/s
//!   written here; Opus ([`OpusEncoder`], [`OpusDecoder`]) is libopus
//!   through the `opus` crate.
//! - [`ComfortNoise`], [`ComfortNoiseGenerator`], [`SilenceSuppressor`]:
//!   RFC 3389 comfort noise payloads, noise at the signalled level, and
//!   silence -> CN for an encoder without VAD.
//! - [`Transcoder`]: sans-IO decode -> resample -> encode for one
//!   direction of a call, with RTP timestamp scaling and re-packetisation.
//! - [`choose_codecs`]: one shared codec for two legs, or the pair to
//!   transcode between.
//!
//! ```no_run
//! use media::{Codec, EncoderConfig, Transcoder};
//!
//! // A carrier leg speaking PCMA, a browser leg speaking Opus.
//! let mut to_browser = Transcoder::new(Codec::Pcma, Codec::Opus, &EncoderConfig::default())?;
//! # let (timestamp, payload) = (0u32, [0xd5u8; 160]);
//! let mut out = [0u8; 1500];
//! to_browser.handle_payload(timestamp, &payload)?;
//! while let Some(frame) = to_browser.poll_payload(&mut out)? {
//!     // send &out[..frame.len] with frame.timestamp and frame.marker
//! #   let _ = frame;
//! }
//! # Ok::<(), media::CodecError>(())
//! ```

mod comfort_noise;
mod error;
mod g711;
mod g722;
mod negotiation;
mod opus;
mod resampler;
#[cfg(test)]
pub(crate) mod test_signal;
mod transcoder;

use std::time::Duration;

pub use comfort_noise::{
    ComfortNoise, ComfortNoiseGenerator, SilenceSuppressor, SuppressorOutput, CN_PAYLOAD_TYPE,
};
pub use error::CodecError;
pub use g722::{G722Decoder, G722Encoder, G722_PAYLOAD_TYPE};
pub use negotiation::{choose_codecs, CodecChoice};
pub use opus::{OpusConfig, OpusDecoder, OpusEncoder};
pub use transcoder::{EncodedFrame, Transcoder};

/// Longest packet any decoder here takes at once: 120 ms, the longest
/// Opus packet (RFC 6716 §3.2.5).
pub const MAX_PACKET_DURATION: Duration = Duration::from_millis(120);

/// An audio codec as named by an SDP `a=rtpmap` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// G.711 μ-law, `PCMU/8000`, static payload type 0.
    Pcmu,
    /// G.711 A-law, `PCMA/8000`, static payload type 8.
    Pcma,
    /// G.722, `G722/8000`, static payload type 9: 16 kHz audio on an
    /// 8 kHz RTP clock (RFC 3551 §4.5.2).
    G722,
    /// Opus, always `opus/48000/2` in SDP whatever the channels sent
    /// (RFC 7587 §7); mono or stereo is an encoder setting.
    Opus,
    /// RFC 3389 comfort noise, `CN/<clock>`, static payload type 13 at
    /// 8000 Hz. Not a media codec: it travels beside one.
    ComfortNoise {
        /// RTP clock rate, the sample rate of the codec it goes with.
        clock_rate: u32,
    },
}

impl Codec {
    /// The codec an `a=rtpmap` names: encoding name compared
    /// case-insensitively (RFC 4855 §3), clock rate, and channels (absent
    /// means one; Opus must say 2). `None` for anything not handled here.
    pub fn from_encoding(name: &str, clock_rate: u32, channels: Option<u16>) -> Option<Codec> {
        let channels = channels.unwrap_or(1);
        let is = |expected: &str| name.eq_ignore_ascii_case(expected);
        let codec = if is("PCMU") && clock_rate == 8000 && channels == 1 {
            Codec::Pcmu
        } else if is("PCMA") && clock_rate == 8000 && channels == 1 {
            Codec::Pcma
        } else if is("G722") && clock_rate == 8000 && channels == 1 {
            Codec::G722
        } else if is("opus") && clock_rate == 48_000 && channels == 2 {
            Codec::Opus
        } else if is("CN") && channels == 1 && clock_rate > 0 {
            Codec::ComfortNoise { clock_rate }
        } else {
            return None;
        };
        Some(codec)
    }

    /// The codec of an SDP `a=rtpmap` (see [`Codec::from_encoding`]).
    pub fn from_rtpmap(rtpmap: &sdp::Rtpmap) -> Option<Codec> {
        Codec::from_encoding(&rtpmap.encoding, rtpmap.clock_rate, rtpmap.channels)
    }

    /// The codec of a static payload type (RFC 3551 §6) that a media line
    /// may list without `a=rtpmap`: 0, 8, 9 and 13.
    pub fn from_static_payload_type(payload_type: u8) -> Option<Codec> {
        match payload_type {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            G722_PAYLOAD_TYPE => Some(Codec::G722),
            CN_PAYLOAD_TYPE => Some(Codec::ComfortNoise { clock_rate: 8000 }),
            _ => None,
        }
    }

    /// The static payload type, if RFC 3551 §6 assigns one.
    pub const fn static_payload_type(self) -> Option<u8> {
        match self {
            Codec::Pcmu => Some(0),
            Codec::Pcma => Some(8),
            Codec::G722 => Some(G722_PAYLOAD_TYPE),
            Codec::ComfortNoise { clock_rate: 8000 } => Some(CN_PAYLOAD_TYPE),
            Codec::Opus | Codec::ComfortNoise { .. } => None,
        }
    }

    /// The encoding name as registered (RFC 3551 §6, RFC 7587 §7).
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::G722 => "G722",
            Codec::Opus => "opus",
            Codec::ComfortNoise { .. } => "CN",
        }
    }

    /// The RTP timestamp clock rate in Hz.
    pub const fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G722 => 8000,
            Codec::Opus => 48_000,
            Codec::ComfortNoise { clock_rate } => clock_rate,
        }
    }

    /// The sample rate of the PCM the decoder gives and the encoder
    /// takes, in Hz (16 kHz for G.722 although its clock runs at 8 kHz).
    pub const fn sample_rate(self) -> u32 {
        match self {
            Codec::G722 => 16_000,
            other => other.clock_rate(),
        }
    }

    /// The channel count written in `a=rtpmap` (`Some(2)` for Opus).
    pub const fn rtpmap_channels(self) -> Option<u16> {
        match self {
            Codec::Opus => Some(2),
            _ => None,
        }
    }

    /// The `a=rtpmap` for this codec under `payload_type`.
    pub fn to_rtpmap(self, payload_type: u8) -> sdp::Rtpmap {
        let rtpmap = sdp::Rtpmap::new(payload_type, self.encoding_name(), self.clock_rate());
        match self.rtpmap_channels() {
            Some(channels) => rtpmap.with_channels(channels),
            None => rtpmap,
        }
    }

    /// Whether this carries audio (everything but comfort noise).
    pub const fn is_audio(self) -> bool {
        !matches!(self, Codec::ComfortNoise { .. })
    }

    /// RTP timestamp ticks in `samples` samples of this codec's PCM.
    pub(crate) fn ticks(self, samples: usize) -> u64 {
        samples as u64 * u64::from(self.clock_rate()) / u64::from(self.sample_rate())
    }

    /// Samples of PCM (a channel) in `ticks` RTP timestamp ticks.
    pub(crate) fn samples_in_ticks(self, ticks: u64) -> u64 {
        ticks * u64::from(self.sample_rate()) / u64::from(self.clock_rate())
    }

    /// Samples a channel in `duration`, if that is a whole number.
    pub(crate) fn samples_in(self, duration: Duration) -> Option<usize> {
        let scaled = duration.as_nanos() * u128::from(self.sample_rate());
        if scaled % 1_000_000_000 != 0 {
            return None;
        }
        usize::try_from(scaled / 1_000_000_000).ok()
    }

    /// A decoder for this codec, giving mono PCM (Opus packets of either
    /// channel count are mixed down by libopus).
    pub fn new_decoder(self) -> Result<Box<dyn AudioDecoder>, CodecError> {
        self.new_decoder_with_channels(1)
    }

    /// A decoder giving `channels` (1 or 2) interleaved channels; only
    /// Opus decodes to stereo.
    pub fn new_decoder_with_channels(
        self,
        channels: usize,
    ) -> Result<Box<dyn AudioDecoder>, CodecError> {
        if channels != 1 && !(channels == 2 && self == Codec::Opus) {
            return Err(CodecError::Config("only Opus decodes to two channels"));
        }
        Ok(match self {
            Codec::Pcmu => Box::new(g711::G711Decoder::new(crate::G711::Mulaw)),
            Codec::Pcma => Box::new(g711::G711Decoder::new(crate::G711::Alaw)),
            Codec::G722 => Box::new(G722Decoder::new()),
            Codec::Opus => Box::new(OpusDecoder::new(channels)?),
            Codec::ComfortNoise { .. } => return Err(CodecError::NotAudio("CN")),
        })
    }

    /// An encoder for this codec with `config`'s packet time (and Opus
    /// settings).
    pub fn new_encoder(self, config: &EncoderConfig) -> Result<Box<dyn AudioEncoder>, CodecError> {
        Ok(match self {
            Codec::Pcmu => Box::new(g711::G711Encoder::new(crate::G711::Mulaw, config.ptime)?),
            Codec::Pcma => Box::new(g711::G711Encoder::new(crate::G711::Alaw, config.ptime)?),
            Codec::G722 => Box::new(G722Encoder::with_ptime(config.ptime)?),
            Codec::Opus => Box::new(OpusEncoder::new(&config.opus, config.ptime)?),
            Codec::ComfortNoise { .. } => return Err(CodecError::NotAudio("CN")),
        })
    }
}

/// How to build an encoder: packet time for all codecs, and the Opus
/// settings used when the codec is Opus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Audio in one packet (SDP `a=ptime`); 20 ms by default (RFC 3551
    /// §4.5).
    pub ptime: Duration,
    /// Used by Opus encoders only.
    pub opus: OpusConfig,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            ptime: Duration::from_millis(20),
            opus: OpusConfig::default(),
        }
    }
}

/// Decodes RTP payloads of one codec into 16-bit PCM at
/// [`Codec::sample_rate`], channels interleaved.
pub trait AudioDecoder: Send {
    /// The codec decoded.
    fn codec(&self) -> Codec;

    /// Channels in the PCM written.
    fn channels(&self) -> usize;

    /// Samples a channel that `payload` decodes to, to size the buffer.
    fn decoded_len(&self, payload: &[u8]) -> Result<usize, CodecError>;

    /// Decodes one payload into `out`; returns the samples a channel
    /// written. A malformed payload is an error, never a panic.
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError>;

    /// Writes `samples` samples a channel standing in for a lost packet
    /// (packet loss concealment: libopus's for Opus, silence for G.711
    /// and G.722) and returns that count.
    fn conceal(&mut self, samples: usize, out: &mut [i16]) -> Result<usize, CodecError>;

    /// Writes `samples` samples a channel standing in for the packet
    /// lost just before `next`, from `next`'s in-band forward error
    /// correction where the codec has it (Opus, RFC 7587 §4.2), else as
    /// [`conceal`](Self::conceal); `next` is decoded itself afterwards
    /// as usual.
    fn recover(
        &mut self,
        next: &[u8],
        samples: usize,
        out: &mut [i16],
    ) -> Result<usize, CodecError> {
        let _ = next;
        self.conceal(samples, out)
    }
}

/// Encodes frames of 16-bit PCM at [`Codec::sample_rate`], channels
/// interleaved, into RTP payloads.
pub trait AudioEncoder: Send {
    /// The codec encoded.
    fn codec(&self) -> Codec;

    /// Channels in the PCM taken.
    fn channels(&self) -> usize;

    /// Samples a channel in one frame (one packet).
    fn frame_len(&self) -> usize;

    /// Audio in one frame.
    fn frame_duration(&self) -> Duration {
        let rate = u64::from(self.codec().sample_rate());
        Duration::from_nanos(self.frame_len() as u64 * 1_000_000_000 / rate)
    }

    /// Most bytes one frame's payload can take.
    fn max_payload_len(&self) -> usize;

    /// Encodes one frame (`frame_len() * channels()` samples) into `out`;
    /// returns the payload length.
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtpmap_names_case_insensitively() {
        assert_eq!(Codec::from_encoding("pcmu", 8000, None), Some(Codec::Pcmu));
        assert_eq!(
            Codec::from_encoding("PCMA", 8000, Some(1)),
            Some(Codec::Pcma)
        );
        assert_eq!(Codec::from_encoding("g722", 8000, None), Some(Codec::G722));
        assert_eq!(
            Codec::from_encoding("OPUS", 48_000, Some(2)),
            Some(Codec::Opus)
        );
        assert_eq!(
            Codec::from_encoding("cn", 16_000, None),
            Some(Codec::ComfortNoise { clock_rate: 16_000 })
        );
        // G.722 at 16000 is a common mistake, not the registered name.
        assert_eq!(Codec::from_encoding("G722", 16_000, None), None);
        assert_eq!(Codec::from_encoding("opus", 48_000, None), None);
        assert_eq!(Codec::from_encoding("PCMU", 8000, Some(2)), None);
        assert_eq!(Codec::from_encoding("G729", 8000, None), None);
    }

    #[test]
    fn static_payload_types_round_trip() {
        for pt in [0, 8, 9, 13] {
            let codec = Codec::from_static_payload_type(pt);
            assert_eq!(codec.and_then(Codec::static_payload_type), Some(pt));
            let codec = codec.into_iter().next();
            let rtpmap = sdp::Rtpmap::from_static(pt);
            assert_eq!(rtpmap.as_ref().and_then(Codec::from_rtpmap), codec);
        }
        assert_eq!(Codec::from_static_payload_type(18), None);
        assert_eq!(Codec::Opus.static_payload_type(), None);
        let rtpmap = Codec::Opus.to_rtpmap(111);
        assert_eq!(rtpmap.channels, Some(2));
        assert_eq!(Codec::from_rtpmap(&rtpmap), Some(Codec::Opus));
    }

    #[test]
    fn g722_clock_and_sample_rates_differ() {
        assert_eq!(Codec::G722.clock_rate(), 8000);
        assert_eq!(Codec::G722.sample_rate(), 16_000);
        assert_eq!(Codec::G722.ticks(320), 160);
        assert_eq!(Codec::Opus.ticks(960), 960);
        assert_eq!(Codec::G722.samples_in(Duration::from_millis(20)), Some(320));
        assert_eq!(
            Codec::Pcmu.samples_in(Duration::from_micros(2500)),
            Some(20)
        );
        assert_eq!(Codec::Pcmu.samples_in(Duration::from_micros(100)), None);
    }
}
