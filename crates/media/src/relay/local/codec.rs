//! The codec of a leg as its SDP negotiated it ([`LegCodec`]), and the
//! encoders and decoders the relay's own end of the leg and the
//! transcoding bridge build from it.
//!
//! - G.711 μ-law / A-law (RFC 3551 §4.5.14): 8 kHz audio, 8 kHz clock.
//! - G.722 (RFC 3551 §4.5.2): 16 kHz audio on an 8 kHz RTP clock, so a
//!   20 ms frame is 320 samples but 160 timestamp units.
//! - Opus (RFC 7587): a 48 kHz RTP clock whatever the audio bandwidth
//!   (§4.1), `a=rtpmap:<pt> opus/48000/2` whatever the channels (§7);
//!   `stereo` / `sprop-stereo` in `a=fmtp` (§6.1) only say what a side
//!   prefers to receive and will send. Switchboard sends mono 20 ms
//!   frames, which every Opus decoder takes, and decodes either (libopus
//!   mixes stereo down), so the fmtp needs no setting here. The relay's
//!   own end runs libopus at 16 kHz (wideband, like G.722: its plays,
//!   recordings and mixes are 8 or 16 kHz PCM); the transcoding bridge
//!   runs it at 48 kHz.
//!
//! Telephone-events (RFC 4733) and comfort noise (RFC 3389) travel in
//! the same RTP stream as the audio, so their timestamps count on the
//! audio's clock; the event's duration field counts on the clock of its
//! `telephone-event/<rate>` (RFC 4733 §2.1 recommends the audio's).

use std::time::Duration;

use crate::codec::{
    AudioDecoder, AudioEncoder, Codec, CodecError, EncoderConfig, OpusConfig, OpusDecoder,
    OpusEncoder,
};
use crate::error::RelayError;
use crate::server::{MediaRate, FRAME_DURATION};

/// The rate libopus runs at for the relay's own end of an Opus leg.
const LOCAL_OPUS_RATE: u32 = 16_000;

/// How a leg's audio is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LegEncoding {
    /// G.711 μ-law, `PCMU/8000` (RFC 3551 §4.5.14).
    Pcmu,
    /// G.711 A-law, `PCMA/8000` (RFC 3551 §4.5.14).
    Pcma,
    /// G.722, `G722/8000`: 16 kHz audio on an 8 kHz RTP clock (RFC 3551
    /// §4.5.2).
    G722,
    /// Opus, `opus/48000/2`, mono or stereo per `a=fmtp` (RFC 7587); we
    /// send mono 20 ms frames.
    Opus,
}

impl LegEncoding {
    /// The encoding an `a=rtpmap` names: the name compared
    /// case-insensitively (RFC 4855 §3) and the RTP clock rate (`PCMU`,
    /// `PCMA` and `G722` at 8000, `opus` at 48000; the channel count
    /// does not matter). `None` for anything else.
    pub fn from_encoding_name(name: &str, clock_rate: u32) -> Option<Self> {
        let is = |expected: &str| name.eq_ignore_ascii_case(expected);
        let encoding = if is("PCMU") {
            Self::Pcmu
        } else if is("PCMA") {
            Self::Pcma
        } else if is("G722") {
            Self::G722
        } else if is("opus") {
            Self::Opus
        } else {
            return None;
        };
        (encoding.clock_rate() == clock_rate).then_some(encoding)
    }

    /// The RTP clock rate.
    pub const fn clock_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma | Self::G722 => 8_000,
            Self::Opus => 48_000,
        }
    }

    /// The rate of the PCM switchboard plays into, records from and
    /// mixes for the leg: 8 kHz for G.711, 16 kHz for G.722 and Opus.
    pub const fn media_rate(self) -> MediaRate {
        match self {
            Self::Pcmu | Self::Pcma => MediaRate::Narrowband,
            Self::G722 | Self::Opus => MediaRate::Wideband,
        }
    }

    /// Its static payload type (RFC 3551 §6); Opus has none.
    pub const fn static_payload_type(self) -> Option<u8> {
        match self {
            Self::Pcmu => Some(0),
            Self::Pcma => Some(8),
            Self::G722 => Some(9),
            Self::Opus => None,
        }
    }

    /// The [`Codec`] it is.
    pub const fn codec(self) -> Codec {
        match self {
            Self::Pcmu => Codec::Pcmu,
            Self::Pcma => Codec::Pcma,
            Self::G722 => Codec::G722,
            Self::Opus => Codec::Opus,
        }
    }

    /// Whether in-band DTMF (ITU-T Q.24 tones in the audio) is listened
    /// for. G.711 and G.722 keep the tones' frequencies and levels
    /// (waveform codecs); Opus is a perceptual codec whose SILK mode at
    /// speech bitrates does not keep them within Q.24's tolerances, so
    /// an Opus leg's key presses are heard as RFC 4733 events only.
    pub(crate) const fn carries_inband_dtmf(self) -> bool {
        !matches!(self, Self::Opus)
    }

    /// A decoder for the relay's own end: PCM at
    /// [`media_rate`](Self::media_rate), mono.
    pub(crate) fn local_decoder(self) -> Result<Box<dyn AudioDecoder>, CodecError> {
        match self {
            Self::Opus => Ok(Box::new(OpusDecoder::with_rate(LOCAL_OPUS_RATE, 1)?)),
            other => other.codec().new_decoder(),
        }
    }

    /// A 20 ms encoder for the relay's own end: PCM at
    /// [`media_rate`](Self::media_rate), mono.
    pub(crate) fn local_encoder(self) -> Result<Box<dyn AudioEncoder>, CodecError> {
        match self {
            Self::Opus => Ok(Box::new(OpusEncoder::with_rate(
                LOCAL_OPUS_RATE,
                &OpusConfig::default(),
                FRAME_DURATION,
            )?)),
            other => other.codec().new_encoder(&EncoderConfig::default()),
        }
    }
}

/// The negotiated [`Codec`], if it is one a leg can have.
impl TryFrom<Codec> for LegEncoding {
    type Error = RelayError;

    fn try_from(codec: Codec) -> Result<Self, RelayError> {
        match codec {
            Codec::Pcmu => Ok(Self::Pcmu),
            Codec::Pcma => Ok(Self::Pcma),
            Codec::G722 => Ok(Self::G722),
            Codec::Opus => Ok(Self::Opus),
            _ => Err(RelayError::UnsupportedCodec("not an audio codec of a leg")),
        }
    }
}

/// What the relay needs to play into, listen on and transcode a leg:
/// the codec negotiated in its SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegCodec {
    /// Payload type of the audio codec (`m=` line / `a=rtpmap`).
    pub payload_type: u8,
    /// The audio codec.
    pub encoding: LegEncoding,
    /// Payload type of `telephone-event` (RFC 4733 §7.1.1), if
    /// negotiated.
    pub telephone_event_pt: Option<u8>,
    /// Clock rate of that `telephone-event/<rate>`, which its duration
    /// field counts in; [`LegCodec::new`] takes the audio's (RFC 4733
    /// §2.1).
    pub telephone_event_rate: u32,
    /// Payload type of `CN` (RFC 3389 comfort noise), if negotiated.
    pub comfort_noise_pt: Option<u8>,
    /// Packet time (`a=ptime`); only 20 ms is supported.
    pub ptime: Duration,
}

impl LegCodec {
    /// `encoding` on its static payload type (96 for Opus),
    /// telephone-events on payload type 101 (the usual choice) at the
    /// audio's clock rate, no comfort noise, 20 ms packets.
    pub fn new(encoding: LegEncoding) -> Self {
        Self {
            payload_type: encoding.static_payload_type().unwrap_or(96),
            encoding,
            telephone_event_pt: Some(101),
            telephone_event_rate: encoding.clock_rate(),
            comfort_noise_pt: None,
            ptime: FRAME_DURATION,
        }
    }

    pub(crate) fn check(&self) -> Result<(), RelayError> {
        let types = [
            Some(self.payload_type),
            self.telephone_event_pt,
            self.comfort_noise_pt,
        ];
        if types.iter().flatten().any(|&pt| pt > 127) {
            return Err(RelayError::UnsupportedCodec("payload type above 127"));
        }
        let clash = |pt: Option<u8>| pt == Some(self.payload_type);
        if clash(self.telephone_event_pt) || clash(self.comfort_noise_pt) {
            return Err(RelayError::UnsupportedCodec(
                "telephone-event or CN on the audio payload type",
            ));
        }
        if self.telephone_event_pt.is_some() && self.telephone_event_pt == self.comfort_noise_pt {
            return Err(RelayError::UnsupportedCodec(
                "telephone-event and CN on one payload type",
            ));
        }
        if self.telephone_event_rate == 0 {
            return Err(RelayError::UnsupportedCodec("telephone-event clock rate 0"));
        }
        if self.ptime != FRAME_DURATION {
            return Err(RelayError::UnsupportedCodec("ptime other than 20 ms"));
        }
        Ok(())
    }

    /// Timestamp units in one 20 ms frame: 160 for G.711 and G.722, 960
    /// for Opus.
    pub(crate) fn ts_per_frame(&self) -> u32 {
        self.encoding.clock_rate() / 50
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_clock_rates_and_frames() {
        let name = LegEncoding::from_encoding_name;
        assert_eq!(name("pcmu", 8000), Some(LegEncoding::Pcmu));
        assert_eq!(name("PCMA", 8000), Some(LegEncoding::Pcma));
        assert_eq!(name("G722", 8000), Some(LegEncoding::G722));
        assert_eq!(name("OPUS", 48_000), Some(LegEncoding::Opus));
        // G.722 at 16000 is a common mistake, not the registered name.
        assert_eq!(name("G722", 16_000), None);
        assert_eq!(name("opus", 8000), None);
        assert_eq!(name("G729", 8000), None);
        let frames: Vec<u32> = [LegEncoding::Pcmu, LegEncoding::G722, LegEncoding::Opus]
            .map(|encoding| LegCodec::new(encoding).ts_per_frame())
            .to_vec();
        assert_eq!(frames, [160, 160, 960]);
        assert_eq!(
            LegCodec::new(LegEncoding::Opus).telephone_event_rate,
            48_000
        );
        for encoding in [LegEncoding::G722, LegEncoding::Opus] {
            assert_eq!(LegEncoding::try_from(encoding.codec()), Ok(encoding));
            let mut encoder = encoding.local_encoder().unwrap();
            let mut decoder = encoding.local_decoder().unwrap();
            assert_eq!(encoder.frame_len(), 320);
            let mut payload = [0u8; 1500];
            let len = encoder.encode(&[0; 320], &mut payload).unwrap();
            let mut pcm = [0i16; 1920];
            assert_eq!(decoder.decode(&payload[..len], &mut pcm).unwrap(), 320);
        }
    }

    #[test]
    fn checks_payload_types() {
        let mut codec = LegCodec::new(LegEncoding::G722);
        codec.comfort_noise_pt = Some(13);
        assert_eq!(codec.check(), Ok(()));
        codec.comfort_noise_pt = Some(101);
        assert!(codec.check().is_err());
        codec.comfort_noise_pt = Some(9);
        assert!(codec.check().is_err());
        codec.comfort_noise_pt = None;
        codec.telephone_event_rate = 0;
        assert!(codec.check().is_err());
    }
}
