//! Errors, one enum per operation: [`RtpError`] for RTP headers,
//! [`RtcpError`] for RTCP compounds, [`SrtpError`] for SRTP/SRTCP.

/// Why an RTP packet was refused (RFC 3550 §5.1, RFC 8285), or why a
/// header could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// The packet ends before the part of the header that its first bytes
    /// announce (fixed header, CSRC list or header extension).
    #[error("RTP packet is {len} bytes, its header needs {needed}")]
    Truncated {
        /// Length of the packet.
        len: usize,
        /// Bytes the header needs.
        needed: usize,
    },
    /// The version field is not 2.
    #[error("RTP version {0}, expected 2")]
    Version(u8),
    /// The padding bit is set but the last byte is not a valid count
    /// (zero, or more than the bytes after the header).
    #[error("RTP padding count {count} with {available} bytes after the header")]
    Padding {
        /// The last byte of the packet.
        count: u8,
        /// Bytes between the header and the end of the packet.
        available: usize,
    },
    /// An RFC 8285 element runs past the end of the header extension.
    #[error("RTP header extension element at offset {offset} overruns the extension")]
    ExtensionElement {
        /// Offset of the element inside the extension data.
        offset: usize,
    },
    /// The output buffer is too small for the header.
    #[error("buffer of {len} bytes, the RTP header needs {needed}")]
    BufferTooSmall {
        /// Length of the buffer.
        len: usize,
        /// Bytes the header needs.
        needed: usize,
    },
    /// More than 15 CSRCs were given to the writer.
    #[error("{0} CSRCs, at most 15 fit in an RTP header")]
    TooManyCsrcs(usize),
    /// A payload type above 127 was given to the writer.
    #[error("payload type {0} does not fit in 7 bits")]
    PayloadType(u8),
}

/// Why an RTCP compound packet was refused (RFC 3550 §6.4, §A.2), or why
/// a packet could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtcpError {
    /// Fewer bytes than an RTCP header (4), or a length field that runs
    /// past the end of the compound.
    #[error("RTCP packet at offset {offset} needs {needed} bytes, {available} remain")]
    Truncated {
        /// Offset of the packet in the compound.
        offset: usize,
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes left in the compound from `offset`.
        available: usize,
    },
    /// The version field is not 2.
    #[error("RTCP packet at offset {offset} has version {version}, expected 2")]
    Version {
        /// Offset of the packet in the compound.
        offset: usize,
        /// The version field.
        version: u8,
    },
    /// The first packet of the compound is neither SR nor RR (§A.2).
    #[error("RTCP compound starts with packet type {0}, not SR or RR")]
    FirstNotReport(u8),
    /// The padding bit is set on a packet that is not the last one (§A.2).
    #[error("RTCP packet at offset {0} is padded but not last in the compound")]
    PaddingNotLast(usize),
    /// The padding count is zero or larger than the packet body.
    #[error("RTCP packet at offset {0} has an invalid padding count")]
    Padding(usize),
    /// A packet's body does not match its type (too short for its report
    /// blocks, an SDES chunk or BYE reason running past the end, ...).
    #[error("RTCP packet type {packet_type} at offset {offset}: {reason}")]
    Malformed {
        /// Offset of the packet in the compound.
        offset: usize,
        /// Its packet type.
        packet_type: u8,
        /// What is wrong.
        reason: &'static str,
    },
    /// More than 31 report blocks or BYE sources, or more than 31 SDES
    /// chunks, given to the writer.
    #[error("{0} entries, at most 31 fit in one RTCP packet")]
    TooManyEntries(usize),
    /// An SDES item or BYE reason longer than 255 bytes given to the
    /// writer.
    #[error("text of {0} bytes, at most 255 fit in an RTCP item")]
    TextTooLong(usize),
}

/// Why SRTP or SRTCP protection or unprotection failed (RFC 3711), or
/// why a crypto context could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SrtpError {
    /// The master key is not 16 bytes or the master salt not 14.
    #[error("master key of {key} bytes and salt of {salt} bytes, expected 16 and 14")]
    KeyLength {
        /// Length of the given master key.
        key: usize,
        /// Length of the given master salt.
        salt: usize,
    },
    /// The `a=crypto` suite is not one this crate implements.
    #[error("unsupported SRTP crypto suite {0}")]
    UnsupportedSuite(String),
    /// The `a=crypto` line asks for something this crate does not
    /// implement (an MKI, several keys, session parameters).
    #[error("unsupported SDES key parameters: {0}")]
    UnsupportedKeyParams(&'static str),
    /// The packet is shorter than a header plus the SRTP trailer.
    #[error("SRTP packet is {len} bytes, at least {needed} are needed")]
    TooShort {
        /// Length of the packet.
        len: usize,
        /// Minimum length.
        needed: usize,
    },
    /// The RTP header (before the payload) is malformed.
    #[error("malformed RTP header: {0}")]
    Rtp(#[from] RtpError),
    /// The RTCP header is not version 2.
    #[error("RTCP version {0}, expected 2")]
    RtcpVersion(u8),
    /// The authentication tag does not match (RFC 3711 §3.3 step 5).
    #[error("SRTP authentication failed")]
    AuthenticationFailed,
    /// The packet index was already received (RFC 3711 §3.3.2).
    #[error("packet index {0} was already received")]
    Replayed(u64),
    /// The packet index is left of the 64-packet replay window (RFC 3711
    /// §3.3.2), or before index 0.
    #[error("packet index is older than the replay window")]
    TooOld,
    /// The caller asked to protect a packet index already used with this
    /// key: a second packet under the same keystream (RFC 3711 §9.1).
    #[error("packet index {0} was already protected")]
    IndexReused(u64),
    /// The output buffer cannot hold the packet plus its SRTP trailer.
    #[error("buffer of {len} bytes, {needed} are needed")]
    BufferTooSmall {
        /// Length of the buffer.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// More SSRCs than one context tracks.
    #[error("more than {0} SSRCs in one SRTP context")]
    TooManyStreams(usize),
    /// The packet index space of the master key is used up (2^48 SRTP or
    /// 2^31 SRTCP packets, RFC 3711 §9.2): re-key.
    #[error("SRTP master key exhausted")]
    KeyExhausted,
}

/// Why a change to the relay table was refused (see
/// [`MediaRelay`](crate::MediaRelay)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// A leg with this key already exists.
    #[error("leg {0:?} already exists")]
    LegExists(crate::LegKey),
    /// No leg with this key.
    #[error("no leg {0:?}")]
    UnknownLeg(crate::LegKey),
    /// The local port is already used by another leg.
    #[error("local port {0} is already used by another leg")]
    PortInUse(u16),
    /// A leg cannot be bridged with itself.
    #[error("leg {0:?} cannot be bridged with itself")]
    SelfBridge(crate::LegKey),
    /// Playing into or listening on a leg needs its codec first
    /// ([`MediaRelay::set_codec`](crate::MediaRelay::set_codec)).
    #[error("leg {0:?} has no codec set")]
    NoCodec(crate::LegKey),
    /// The codec cannot be played or listened to.
    #[error("unsupported leg codec: {0}")]
    UnsupportedCodec(&'static str),
    /// An encoder, decoder or transcoder for the leg's codec could not
    /// be made (libopus refused).
    #[error("leg codec: {0}")]
    Codec(#[from] crate::CodecError),
    /// A recording with this id already runs.
    #[error("{0} already exists")]
    RecordingExists(crate::RecordingId),
    /// No recording with this id (never started, or already ended).
    #[error("no {0}")]
    UnknownRecording(crate::RecordingId),
    /// The leg is already tapped by a recording (or was given twice).
    #[error("leg {0:?} is already recorded")]
    AlreadyRecorded(crate::LegKey),
    /// The leg's codec cannot be taken away: a recording or a
    /// conference decodes it.
    #[error("leg {0:?} is recorded or in a conference: its codec stays")]
    CodecInUse(crate::LegKey),
    /// The leg is not tapped by any recording.
    #[error("leg {0:?} is not recorded")]
    NotRecorded(crate::LegKey),
    /// A voicemail has one channel: no agent side to add a leg to.
    #[error("{0} has no agent channel")]
    NoAgentChannel(crate::RecordingId),
    /// The leg is not in a conference.
    #[error("leg {0:?} is not in a conference")]
    NotInConference(crate::LegKey),
    /// A whisper target that is not another leg in the whisperer's
    /// conference (another session's leg, the whisperer itself, a leg
    /// that has not joined).
    #[error("whisper target {0:?} is not another leg of the conference")]
    WhisperTarget(crate::LegKey),
    /// A key press cannot be sent to the leg
    /// ([`MediaRelay::send_dtmf`](crate::MediaRelay::send_dtmf)): why.
    #[error("leg {0:?} cannot be sent DTMF: {1}")]
    NoDtmf(crate::LegKey, &'static str),
}

/// Why the UDP driver could not start or carry out a command (see
/// [`MediaDriver`](crate::MediaDriver)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// A socket or poller operation failed.
    #[error("media socket: {0}")]
    Io(#[from] std::io::Error),
    /// Every port of the shard's share of the range is in use.
    #[error("no free media port in the configured range")]
    PortsExhausted,
    /// The configuration cannot work (empty port range, zero batch, ...).
    #[error("invalid media driver configuration: {0}")]
    Config(&'static str),
    /// Two legs in different shards cannot be bridged.
    #[error("legs {0:?} and {1:?} live in different shards")]
    DifferentShards(crate::LegKey, crate::LegKey),
    /// The relay refused the change.
    #[error(transparent)]
    Relay(#[from] RelayError),
    /// A shard thread has stopped (it panicked or the driver shut down).
    #[error("media shard thread has stopped")]
    ShardStopped,
    /// A recording's file could not be created or its header written.
    #[error("recording {path}: {source}")]
    Recording {
        /// The file asked for.
        path: std::path::PathBuf,
        /// What went wrong.
        source: crate::RecordError,
    },
    /// The recorder thread has stopped (it panicked or the driver shut
    /// down).
    #[error("media recorder thread has stopped")]
    RecorderStopped,
}
