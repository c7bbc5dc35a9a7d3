//! One direction of a transcoding bridge: what one leg sends, in the
//! other leg's codec ([`Transcoding`]).
//!
//! The output is an RTP stream of its own (RFC 3550 §5.1: a random SSRC
//! and first sequence number, sequence numbers one by one over audio,
//! events and comfort noise alike; timestamps on the target codec's
//! clock), written over the received packet in the caller's buffer. The
//! relay's continuity rewrite then splices it into the stream the
//! target leg sees, as it does for any change of source (a re-INVITE
//! that turns forwarding into transcoding keeps the sequence numbers
//! going).
//!
//! - Audio: [`Transcoder`] (decode, resample with rubato, re-frame into
//!   20 ms, encode; RFC 3551 §4.5 clocks, G.722 on 8 kHz, Opus on
//!   48 kHz). A gap in the input timestamps of up to 100 ms is packet
//!   loss, concealed (libopus PLC for Opus, silence for G.711 and
//!   G.722); a longer one starts a talkspurt (marker, RFC 3551 §4.1).
//! - RFC 4733 telephone-events (§2.5): the target's telephone-event
//!   type, the event's timestamp placed on the output clock once and
//!   reused for every packet of the event (its updates and the three
//!   end packets, §2.5.1.4), so the far end sees one event; the duration
//!   scaled to the target's `telephone-event/<rate>`.
//! - RFC 3389 comfort noise: the target's CN type on the output clock
//!   when it has one; otherwise silence: nothing is sent until speech
//!   resumes, which then starts a talkspurt.
//!
//! Every buffer is made with the direction; nothing allocates per
//! packet.

use super::super::local::{LegCodec, Rng};
use super::super::{DropReason, RelayCounters};
use super::rewrite::scale_durations;
use crate::codec::{CodecError, EncoderConfig, Transcoder};
use crate::rtp::{RtpHeader, RtpPacket};

/// Length of the RTP header we write (no CSRC, no extension).
const HEADER_LEN: usize = 12;
/// Room left after a packet for the SRTP authentication tag.
const TAG_ROOM: usize = 16;
/// Longest telephone-event or comfort noise payload carried (RFC 4733
/// allows several reports in one packet; RFC 3389 up to a dozen
/// spectral coefficients).
const MAX_SIDE_PAYLOAD: usize = 64;

/// One direction of a transcoding bridge; see the module docs.
pub(in crate::relay) struct Transcoding {
    pub(super) from: LegCodec,
    pub(super) to: LegCodec,
    transcoder: Transcoder,
    ssrc: u32,
    seq: u16,
    /// The telephone-event carried last: its input and output timestamps.
    event: Option<(u32, u32)>,
    /// In the relay's queue of directions with frames to send.
    pub(super) queued: bool,
}

impl std::fmt::Debug for Transcoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcoding")
            .field("from", &self.from.encoding)
            .field("to", &self.to.encoding)
            .field("ssrc", &self.ssrc)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Transcoding {
    /// A direction from a leg speaking `from` to one speaking `to`.
    pub(super) fn new(from: LegCodec, to: LegCodec, rng: &mut Rng) -> Result<Self, CodecError> {
        let transcoder = Transcoder::new(
            from.encoding.codec(),
            to.encoding.codec(),
            &EncoderConfig::default(),
        )?;
        let bits = rng.next();
        Ok(Self {
            from,
            to,
            transcoder,
            ssrc: bits as u32,
            seq: (bits >> 32) as u16,
            event: None,
            queued: false,
        })
    }

    /// Whether a frame waits for [`poll_frame`](Self::poll_frame).
    pub(super) fn has_frame(&self) -> bool {
        self.transcoder.has_payload()
    }

    /// The RTP packet in `buf[..len]` (authenticated, decrypted, valid)
    /// from the leg; writes the first packet it gives for the target
    /// into `buf` and returns its length. `Ok(None)`: nothing to send
    /// now (audio queued short of a frame, comfort noise turned into
    /// silence).
    pub(super) fn handle_rtp(
        &mut self,
        buf: &mut [u8],
        len: usize,
        counters: &mut RelayCounters,
    ) -> Result<Option<usize>, DropReason> {
        let packet = buf.get(..len).ok_or(DropReason::Malformed)?;
        let packet = RtpPacket::parse(packet).map_err(|_| DropReason::Malformed)?;
        let (payload_type, timestamp) = (packet.payload_type(), packet.timestamp());
        if payload_type == self.from.payload_type {
            if self
                .transcoder
                .handle_payload(timestamp, packet.payload())
                .is_err()
            {
                counters.transcode_errors += 1;
                return Err(DropReason::Undecodable);
            }
            return Ok(self.poll_frame(buf, counters));
        }
        let (target, is_event) = if Some(payload_type) == self.from.telephone_event_pt {
            (self.to.telephone_event_pt, true)
        } else if Some(payload_type) == self.from.comfort_noise_pt {
            match self.to.comfort_noise_pt {
                Some(target) => (Some(target), false),
                // Silence: see the module docs.
                None => return Ok(None),
            }
        } else {
            (None, false)
        };
        let target = target.ok_or(DropReason::UnmappedPayload)?;
        let mut payload = [0u8; MAX_SIDE_PAYLOAD];
        let source = packet.payload();
        let payload = payload
            .get_mut(..source.len())
            .ok_or(DropReason::Malformed)?;
        payload.copy_from_slice(source);
        let marker = packet.marker();
        let timestamp = if is_event {
            let rates = (self.from.telephone_event_rate, self.to.telephone_event_rate);
            scale_durations(payload, rates.0, rates.1);
            self.event_timestamp(timestamp)
        } else {
            self.transcoder.output_timestamp(timestamp)
        };
        let written = self
            .write_header(buf, marker, target, timestamp)
            .ok_or(DropReason::Malformed)?;
        let out = buf
            .get_mut(written..written + payload.len())
            .ok_or(DropReason::Malformed)?;
        out.copy_from_slice(payload);
        Ok(Some(written + payload.len()))
    }

    /// The output timestamp of the event that started at input
    /// `timestamp`: the same for all its packets.
    fn event_timestamp(&mut self, timestamp: u32) -> u32 {
        match self.event {
            Some((input, output)) if input == timestamp => output,
            _ => {
                let output = self.transcoder.output_timestamp(timestamp);
                self.event = Some((timestamp, output));
                output
            }
        }
    }

    /// Writes the next queued frame into `buf` as an RTP packet of the
    /// direction's stream; returns its length. A frame the encoder
    /// refuses (no room in `buf`) is lost and counted.
    pub(super) fn poll_frame(
        &mut self,
        buf: &mut [u8],
        counters: &mut RelayCounters,
    ) -> Option<usize> {
        let end = buf.len().saturating_sub(TAG_ROOM);
        loop {
            let out = buf.get_mut(HEADER_LEN..end)?;
            match self.transcoder.poll_payload(out) {
                Ok(Some(frame)) => {
                    let payload_type = self.to.payload_type;
                    let written =
                        self.write_header(buf, frame.marker, payload_type, frame.timestamp)?;
                    counters.frames_transcoded += 1;
                    return Some(written + frame.len);
                }
                Ok(None) => return None,
                Err(_) => counters.transcode_errors += 1,
            }
        }
    }

    /// Writes our RTP header with the next sequence number.
    fn write_header(
        &mut self,
        buf: &mut [u8],
        marker: bool,
        payload_type: u8,
        timestamp: u32,
    ) -> Option<usize> {
        let header = RtpHeader {
            marker,
            payload_type,
            sequence_number: self.seq,
            timestamp,
            ssrc: self.ssrc,
        };
        let written = header.write(&[], buf).ok()?;
        self.seq = self.seq.wrapping_add(1);
        Some(written)
    }
}
