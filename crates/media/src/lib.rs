//! Media packet logic for switchboard: RTP, RTCP, SRTP and G.711, sans-IO.
//!
//! - [`RtpPacket`] / [`RtpPacketMut`] / [`RtpHeader`]: zero-copy RTP views
//!   and writer (RFC 3550 §5.1, RFC 8285 header extensions).
//! - [`classify`]: RTP, RTCP, STUN or DTLS on one port (RFC 5761 §4,
//!   RFC 7983).
//! - [`RtcpCompound`] / [`RtcpWriter`]: compound RTCP, SR, RR, SDES, BYE
//!   (RFC 3550 §6, §A.2); [`ReceptionStatistics`]: loss and jitter for
//!   report blocks (RFC 3550 §A.1, §A.3, §A.8).
//! - [`SrtpContext`]: SRTP and SRTCP with the SDES suites Teams uses
//!   (RFC 3711, RFC 4568), in place and without allocation per packet.
//! - [`G711`]: μ-law and A-law (ITU-T G.711).
//! - [`MediaRelay`]: the sans-IO RTP/SRTP relay of a media-relay B2BUA
//!   (RFC 7092): legs on local ports bridged in pairs, latching (RFC
//!   7362), SSRC/sequence/timestamp continuity across source changes,
//!   SRTP <-> RTP, RTCP rewrite, media timeout events; transcoding
//!   between legs whose codecs differ (G.711, G.722, Opus: [`LegCodec`]);
//!   switchboard as the far end of a leg (prompts, DTMF), DTMF between
//!   legs that take it in different forms ([`LegDtmf`]: RFC 4733 events,
//!   SIP INFO, in-band tones), recording taps, and
//!   conferences of a session's legs mixed every 20 ms
//!   ([`MediaRelay::join_conference`], [`ConferenceRole`]: three-way
//!   calls, supervisor listen / whisper / barge).
//! - [`MediaDriver`]: the one part that does I/O: shard threads owning
//!   UDP sockets from a port range, batched receive (`recvmmsg`) and GSO
//!   sends around a [`MediaRelay`] each.
//!
//! Apart from [`MediaDriver`], nothing here owns a socket, a clock or a
//! task: time comes in as `now: Instant`, packets come in and go out as
//! caller-owned buffers. A driver moving one SRTP leg looks like this:
//!
//! ```no_run
//! # fn recv() -> Vec<u8> { Vec::new() }
//! # fn send(_: &[u8]) {}
//! use std::time::Instant;
//! use media::{classify, PacketKind, ReceptionStatistics, RtpPacket, SrtpContext, SrtpSuite};
//!
//! let suite = SrtpSuite::AesCm128HmacSha1_80;
//! let mut inbound = SrtpContext::new(suite, &[1; 16], &[2; 14])?;
//! let mut outbound = SrtpContext::new(suite, &[3; 16], &[4; 14])?;
//! let mut stats = ReceptionStatistics::new(0x1234, 8000);
//! loop {
//!     let mut datagram = recv();
//!     if classify(&datagram) != PacketKind::Rtp {
//!         continue;
//!     }
//!     let Ok(()) = inbound.unprotect_rtp(&mut datagram) else { continue };
//!     let Ok(packet) = RtpPacket::parse(&datagram) else { continue };
//!     stats.handle_packet(packet.sequence_number(), packet.timestamp(), Instant::now());
//!     // ... relay: rewrite the header, then protect for the other leg.
//!     outbound.protect_rtp(&mut datagram)?;
//!     send(&datagram);
//! }
//! # Ok::<(), media::SrtpError>(())
//! ```
#![warn(missing_docs)]

mod codec;
mod demux;
mod driver;
mod dtmf;
mod error;
mod g711;
mod relay;
mod rtcp;
mod rtp;
mod server;
mod srtp;
mod tone;

pub use codec::{
    choose_codecs, AudioDecoder, AudioEncoder, Codec, CodecChoice, CodecError, ComfortNoise,
    ComfortNoiseGenerator, EncodedFrame, EncoderConfig, G722Decoder, G722Encoder, OpusConfig,
    OpusDecoder, OpusEncoder, SilenceSuppressor, SuppressorOutput, Transcoder, CN_PAYLOAD_TYPE,
    G722_PAYLOAD_TYPE, MAX_PACKET_DURATION,
};
pub use demux::{classify, PacketKind};
pub use driver::{Detached, DriverConfig, DriverCounters, MediaDriver, MediaIo};
pub use dtmf::{
    DtmfDetector, DtmfDetectorConfig, DtmfDigit, DtmfError, DtmfEvent, DtmfMethod, DtmfRouter,
    DtmfRouterConfig, EventEnd, InbandEvent, InfoContentType, InfoDigit, LegDtmfConfig,
    ReceivedEvent, TelephoneEvent, TelephoneEventPacket, TelephoneEventPackets,
    TelephoneEventReceiver, TelephoneEventReceiverConfig, TelephoneEventSender,
    TelephoneEventSenderConfig, TELEPHONE_EVENT_LEN,
};
pub use error::{DriverError, RelayError, RtcpError, RtpError, SrtpError};
pub use g711::{alaw_decode, alaw_encode, mulaw_decode, mulaw_encode, G711};
pub use relay::{
    ConferenceRole, DropReason, Forward, LatchPolicy, LegConfig, LegDtmf, LegKey, LegPorts,
    LegSrtp, LegStats, MediaEvent, MediaRelay, RelayConfig, RelayCounters, Verdict,
};
pub use relay::{LegCodec, LegEncoding};
pub use relay::{
    RecordedFrame, RecordingChannel, RecordingEnd, RecordingId, RecordingOutput,
    RECORDED_FRAME_LEN, RECORDING_DELAY,
};
pub use rtcp::{
    Goodbye, OtherPacket, ReceiverReport, ReceptionStatistics, ReportBlock, RtcpCompound,
    RtcpPacket, RtcpPackets, RtcpWriter, SdesChunk, SdesChunks, SdesItem, SenderInfo, SenderReport,
    SequenceVerdict, SourceDescription,
};
pub use rtp::{
    ExtensionElement, ExtensionElements, HeaderExtension, RtpHeader, RtpPacket, RtpPacketMut,
};
pub use server::{
    CallRecorder, Conference, EspeakNg, GeneratedPrompts, HoldPlayer, MediaRate, MixerError,
    MohPlayer, ParticipantId, ParticipantRole, PauseMode, PlayEnd, PlayItem, PlayRequestId,
    PlayerEvent, Prompt, PromptError, PromptPlayer, PromptSet, RecordError, RecordingSummary,
    VoicemailConfig, VoicemailEnd, VoicemailRecorder, VoicemailState, VoicemailSummary, WavError,
    CHECKPOINT_INTERVAL, DEFAULT_PHRASES, FRAME_DURATION, MAX_PROMPT_DURATION,
};
pub use server::{FrameSource, FrameStatus};
pub use srtp::{SrtpContext, SrtpSuite};
pub use tone::{Tone, TonePlayer, ToneRegion, ToneSpec, FRAME_SAMPLES, TONE_SAMPLE_RATE};
