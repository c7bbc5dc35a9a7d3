//! [`CodecError`]: why a payload could not be decoded, a frame encoded, a
//! codec built or a transcoder fed.

/// Why a codec operation failed. A peer's bad payload gets its own
/// variant ([`CodecError::EmptyPayload`], [`CodecError::Opus`] from the
/// decoder, [`CodecError::ComfortNoise`], [`CodecError::OutOfOrder`]) so
/// the caller can count it and go on: no input here panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The codec has no encoder or decoder here (comfort noise is not a
    /// media codec: see [`ComfortNoise`](crate::ComfortNoise)).
    #[error("{0} has no encoder or decoder")]
    NotAudio(&'static str),
    /// An empty payload was given to a decoder.
    #[error("empty payload")]
    EmptyPayload,
    /// A payload decodes to more samples than the decoder takes at once.
    #[error("payload decodes to {samples} samples a channel, at most {max} are taken")]
    PayloadTooLong {
        /// Samples a channel the payload holds.
        samples: usize,
        /// Most samples a channel the caller's decoder takes.
        max: usize,
    },
    /// The output buffer cannot hold the result.
    #[error("buffer of {len} elements, {needed} are needed")]
    BufferTooSmall {
        /// Length of the buffer.
        len: usize,
        /// Elements needed.
        needed: usize,
    },
    /// The PCM given to an encoder is not one frame of the configured
    /// length (samples of all channels).
    #[error("encoder got {len} samples, a frame is {expected}")]
    FrameLength {
        /// Samples given.
        len: usize,
        /// Samples in one frame, all channels.
        expected: usize,
    },
    /// A packet time that the codec cannot frame (Opus: 2.5, 5, 10, 20,
    /// 40 or 60 ms; G.711 and G.722: whole samples up to 120 ms).
    #[error("packet time of {0} µs is not a frame size of this codec")]
    FrameDuration(u128),
    /// A configuration value out of range (channel count, bitrate).
    #[error("invalid codec configuration: {0}")]
    Config(&'static str),
    /// libopus refused a call; for a decoder this is a malformed packet.
    #[error("libopus {function}: {reason}")]
    Opus {
        /// The libopus function.
        function: &'static str,
        /// libopus's description of the error.
        reason: &'static str,
    },
    /// An RFC 3389 comfort noise payload that is empty or has the
    /// reserved bit of its level byte set (§3).
    #[error("comfort noise payload refused: {0}")]
    ComfortNoise(&'static str),
    /// A packet whose RTP timestamp lies before the audio already
    /// transcoded (late, reordered or duplicate): dropped.
    #[error("RTP timestamp {timestamp} is before the expected {expected}")]
    OutOfOrder {
        /// Timestamp of the packet.
        timestamp: u32,
        /// Timestamp of the next sample expected.
        expected: u32,
    },
    /// The resampler could not be built or failed.
    #[error("resampling {from} Hz to {to} Hz: {reason}")]
    Resample {
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
        /// rubato's reason.
        reason: String,
    },
}

impl From<::opus::Error> for CodecError {
    fn from(error: ::opus::Error) -> Self {
        CodecError::Opus {
            function: error.function(),
            reason: error.description(),
        }
    }
}
