//! What the relay says: the verdict on each datagram, the drop reasons
//! and counters, and the events for the call layer.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use std::path::PathBuf;

use super::recording::{RecordingEnd, RecordingId};
use super::LegKey;
use crate::dtmf::{DtmfDigit, DtmfMethod};
use crate::error::SrtpError;
use crate::server::{PlayEnd, PlayRequestId};

/// Why a datagram was not forwarded. Each has a counter in
/// [`RelayCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// No leg on that local port.
    UnknownPort,
    /// STUN, DTLS or anything that is not RTP/RTCP (RFC 7983).
    NotRtp,
    /// An RTP or RTCP packet that does not parse, or RTP on an RTCP port.
    Malformed,
    /// From another address than the latched (or SDP) one: a hijack
    /// attempt or a stray stream.
    UnlatchedSource,
    /// SRTP/SRTCP authentication failed.
    Authentication,
    /// SRTP/SRTCP replay or too old for the replay window.
    Replay,
    /// SRTP limits: too many SSRCs on a leg, master key used up.
    SrtpLimit,
    /// The leg is not bridged to another one.
    NoPeer,
    /// The peer does not want media now (its SDP says `sendonly` or
    /// `inactive`).
    OnHold,
    /// The peer's address is not known yet (no SDP, no packet).
    NoDestination,
    /// SRTP protection for the peer failed: the buffer has no room for
    /// the tag, or the packet repeats one already sent (a duplicate).
    ProtectFailed,
    /// The leg it goes to hears a local source instead (a prompt, music
    /// on hold: [`MediaRelay::play`](crate::MediaRelay::play)).
    LocalPlayback,
    /// Audio a transcoding bridge could not decode (a malformed payload,
    /// or one whose timestamp is before the audio already transcoded);
    /// also counted in [`RelayCounters::transcode_errors`].
    Undecodable,
    /// A payload type the other leg's codec has no counterpart for (a
    /// telephone-event toward a leg without `telephone-event`, one that
    /// is none of the leg's negotiated types) on a bridge that rewrites
    /// or transcodes.
    UnmappedPayload,
    /// Audio a transcoding bridge got after its place in the stream was
    /// taken: later than the reorder wait
    /// ([`RelayConfig::reorder_wait`](crate::RelayConfig::reorder_wait):
    /// its gap was concealed), or a duplicate.
    Late,
    /// A telephone-event packet of a key press the leg it goes to was
    /// already given as a press of ours
    /// ([`MediaRelay::send_dtmf`](crate::MediaRelay::send_dtmf): the
    /// same press sent as SIP INFO too); counted once per press in
    /// [`RelayCounters::dtmf_duplicates`].
    DuplicateDtmf,
}

impl DropReason {
    /// Number of reasons.
    pub const COUNT: usize = 16;
    /// Every reason, in counter order.
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::UnknownPort,
        DropReason::NotRtp,
        DropReason::Malformed,
        DropReason::UnlatchedSource,
        DropReason::Authentication,
        DropReason::Replay,
        DropReason::SrtpLimit,
        DropReason::NoPeer,
        DropReason::OnHold,
        DropReason::NoDestination,
        DropReason::ProtectFailed,
        DropReason::LocalPlayback,
        DropReason::Undecodable,
        DropReason::UnmappedPayload,
        DropReason::Late,
        DropReason::DuplicateDtmf,
    ];

    /// A short name, for metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::UnknownPort => "unknown_port",
            DropReason::NotRtp => "not_rtp",
            DropReason::Malformed => "malformed",
            DropReason::UnlatchedSource => "unlatched_source",
            DropReason::Authentication => "authentication",
            DropReason::Replay => "replay",
            DropReason::SrtpLimit => "srtp_limit",
            DropReason::NoPeer => "no_peer",
            DropReason::OnHold => "on_hold",
            DropReason::NoDestination => "no_destination",
            DropReason::ProtectFailed => "protect_failed",
            DropReason::LocalPlayback => "local_playback",
            DropReason::Undecodable => "undecodable",
            DropReason::UnmappedPayload => "unmapped_payload",
            DropReason::Late => "late",
            DropReason::DuplicateDtmf => "duplicate_dtmf",
        }
    }

    pub(super) const fn index(self) -> usize {
        self as usize
    }

    pub(super) fn of_unprotect(error: &SrtpError) -> Self {
        match error {
            SrtpError::AuthenticationFailed => DropReason::Authentication,
            SrtpError::Replayed(_) | SrtpError::TooOld => DropReason::Replay,
            SrtpError::TooManyStreams(_) | SrtpError::KeyExhausted => DropReason::SrtpLimit,
            _ => DropReason::Malformed,
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A datagram to send: `len` bytes from the start of the buffer given to
/// [`MediaRelay::handle_packet`](crate::MediaRelay::handle_packet), from local port `local_port` to
/// `destination`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    /// The local port to send from (the peer leg's RTP or RTCP port).
    pub local_port: u16,
    /// Where to.
    pub destination: SocketAddr,
    /// Length of the packet now in the buffer.
    pub len: usize,
}

/// What to do with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Forward(Forward),
    /// Drop it (already counted).
    Drop(DropReason),
    /// Taken by switchboard's own end of the leg (a leg with a codec
    /// that is not bridged: DTMF, RTCP statistics; RTCP on a transcoding
    /// bridge), or by a transcoding bridge that has no frame to send for
    /// it yet (its audio is queued) or turns comfort noise into silence;
    /// nothing to send.
    Consumed,
}

/// Counters of one relay; add those of several shards with
/// [`RelayCounters::add`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayCounters {
    /// Datagrams handed to [`MediaRelay::handle_packet`](crate::MediaRelay::handle_packet).
    pub received: u64,
    /// RTP packets forwarded.
    pub forwarded_rtp: u64,
    /// RTCP packets forwarded.
    pub forwarded_rtcp: u64,
    /// RTP and RTCP packets taken by a leg's local end
    /// ([`Verdict::Consumed`]).
    pub consumed: u64,
    /// RTP packets made here and sent (played frames, injected packets).
    pub local_rtp: u64,
    /// RTCP reports made here and sent.
    pub local_rtcp: u64,
    /// Participants' frames that went into a conference mix (one per
    /// participant that had audio, per 20 ms tick); what each hears goes
    /// out as [`local_rtp`](Self::local_rtp).
    pub conference_frames_mixed: u64,
    /// Conference audio that arrived after its tick had been mixed, and
    /// was dropped.
    pub conference_frames_late: u64,
    /// Conference audio dropped as a duplicate, or to keep a
    /// participant's jitter buffer within its three frames.
    pub conference_frames_dropped: u64,
    /// Frames a transcoding bridge encoded in the other leg's codec
    /// (also counted in [`forwarded_rtp`](Self::forwarded_rtp) once sent).
    pub frames_transcoded: u64,
    /// Payloads a transcoding bridge could not decode (or encode).
    pub transcode_errors: u64,
    /// Key presses of a bridged leg passed to its partner in another
    /// form (RFC 4733 to INFO or tones, tones to RFC 4733 or INFO).
    pub dtmf_converted: u64,
    /// Key presses of a bridged leg its partner could not be given (no
    /// telephone-event or G.711 there, a full queue, unbridged).
    pub dtmf_undelivered: u64,
    /// Key presses not given to a leg because the same press had just
    /// reached it in the other form: SIP INFO
    /// ([`MediaRelay::send_dtmf`](crate::MediaRelay::send_dtmf)) and
    /// RFC 4733 events or tones from its bridge partner (see
    /// `relay/dtmf`).
    pub dtmf_duplicates: u64,
    /// Audio packets a transcoding bridge got after a later one and
    /// still decoded in their place, within the reorder wait.
    pub transcode_reordered: u64,
    /// Packets a transcoding bridge stopped waiting for at the end of
    /// the reorder wait (their audio concealed).
    pub transcode_lost: u64,
    dropped: [u64; DropReason::COUNT],
}

impl RelayCounters {
    /// Datagrams dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// Datagrams dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    pub(super) fn count_drop(&mut self, reason: DropReason) {
        self.dropped[reason.index()] += 1;
    }

    /// Adds `other` to these counters.
    pub fn add(&mut self, other: &RelayCounters) {
        self.received += other.received;
        self.forwarded_rtp += other.forwarded_rtp;
        self.forwarded_rtcp += other.forwarded_rtcp;
        self.consumed += other.consumed;
        self.local_rtp += other.local_rtp;
        self.local_rtcp += other.local_rtcp;
        self.conference_frames_mixed += other.conference_frames_mixed;
        self.conference_frames_late += other.conference_frames_late;
        self.conference_frames_dropped += other.conference_frames_dropped;
        self.frames_transcoded += other.frames_transcoded;
        self.transcode_errors += other.transcode_errors;
        self.dtmf_converted += other.dtmf_converted;
        self.dtmf_undelivered += other.dtmf_undelivered;
        self.dtmf_duplicates += other.dtmf_duplicates;
        self.transcode_reordered += other.transcode_reordered;
        self.transcode_lost += other.transcode_lost;
        for (mine, theirs) in self.dropped.iter_mut().zip(other.dropped) {
            *mine += theirs;
        }
    }
}

/// Traffic of one leg.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegStats {
    /// Valid packets received from the leg's peer.
    pub packets_in: u64,
    /// Their bytes, as received.
    pub bytes_in: u64,
    /// Packets sent to the leg's peer.
    pub packets_out: u64,
    /// Their bytes, as sent.
    pub bytes_out: u64,
    /// Packets received on the leg's ports and dropped.
    pub dropped: u64,
}

/// Something the call layer must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// A bridged leg sent nothing for the configured time: end the call
    /// (BYE with a Reason header). Raised once until packets flow again.
    MediaTimeout {
        /// The silent leg.
        leg: LegKey,
        /// How long it has been silent.
        idle: Duration,
        /// Whether the hold limit applied.
        on_hold: bool,
    },
    /// A leg latched onto a source address (first packet, or re-latch).
    Latched {
        /// The leg.
        leg: LegKey,
        /// The source now accepted and sent to.
        source: SocketAddr,
        /// Whether this is the RTCP port's source (no rtcp-mux).
        rtcp: bool,
    },
    /// A key press heard on a leg switchboard terminates (not bridged,
    /// with a codec), or on a bridged leg or conference member that
    /// reports DTMF
    /// ([`MediaRelay::set_report_dtmf`](crate::MediaRelay::set_report_dtmf));
    /// once per press, however many ways it arrived.
    Dtmf {
        /// The leg.
        leg: LegKey,
        /// The key.
        digit: DtmfDigit,
        /// How it arrived first.
        method: DtmfMethod,
        /// How long it was held.
        duration: Duration,
    },
    /// A key press on bridged leg `leg` for its partner `peer`, whose
    /// peer takes DTMF in SIP INFO
    /// ([`LegDtmf::method`](crate::LegDtmf::method)): not forwarded as
    /// RTP; the call layer sends it to `peer` as INFO. Once per press
    /// (RFC 4733 redundancy collapsed).
    BridgedDtmf {
        /// The leg it was pressed on.
        leg: LegKey,
        /// The leg to send it to.
        peer: LegKey,
        /// The key.
        digit: DtmfDigit,
        /// How long it was held.
        duration: Duration,
    },
    /// A play ([`MediaRelay::play`](crate::MediaRelay::play)) ended;
    /// every play ends exactly once.
    PlayFinished {
        /// The leg.
        leg: LegKey,
        /// The id it was started with.
        request: PlayRequestId,
        /// [`PlayEnd::Completed`]: the source ended;
        /// [`PlayEnd::Stopped`]: stopped, replaced by another play, or
        /// the leg was removed.
        end: PlayEnd,
    },
    /// A recording ([`MediaDriver::start_recording`],
    /// [`MediaDriver::start_voicemail`]) ended and its file is complete;
    /// every recording the driver started ends exactly once, failures
    /// included.
    ///
    /// [`MediaDriver::start_recording`]: crate::MediaDriver::start_recording
    /// [`MediaDriver::start_voicemail`]: crate::MediaDriver::start_voicemail
    RecordingFinished {
        /// The id the start returned.
        id: RecordingId,
        /// The file.
        path: PathBuf,
        /// Length of the file's audio (a voicemail's trailing silence
        /// left out).
        duration: Duration,
        /// Time the recording was paused (silence in the file).
        paused: Duration,
        /// Frames the shard could not hand to the recorder thread in
        /// time (silence in the file; the timeline is kept).
        dropped_frames: u64,
        /// For a voicemail: whether anything louder than the silence
        /// threshold was said; `None` for a call recording.
        has_speech: Option<bool>,
        /// Why it ended.
        end: RecordingEnd,
    },
    /// A command sent without waiting for its result
    /// ([`MediaDriver::detached`](crate::MediaDriver::detached)) was
    /// refused; the leg is as it was before the command.
    Refused {
        /// The leg the command was for.
        leg: LegKey,
        /// Why, for the log.
        reason: String,
    },
}
