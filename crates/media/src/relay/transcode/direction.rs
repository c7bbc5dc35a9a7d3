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
//! - Audio that arrives after a gap in the sequence numbers waits a
//!   moment for the missing packet (`reorder.rs`), so the decoder gets
//!   reordered packets in order; a packet later than that is dropped.
//! - RFC 4733 telephone-events (§2.5): the target's telephone-event
//!   type, the event's timestamp placed on the output clock once and
//!   reused for every packet of the event (its updates and the three
//!   end packets, §2.5.1.4), so the far end sees one event; the duration
//!   scaled to the target's `telephone-event/<rate>`. An event longer
//!   than 0xFFFF units on the target's clock (1.37 s at 48 kHz) goes on
//!   in segments (§2.5.1.3): each segment's timestamp 0xFFFF after the
//!   previous one's, its duration counted from there, the previous
//!   segment closed by a packet of duration 0xFFFF without the E bit
//!   (once: the sender's own updates that follow are the redundancy),
//!   the end packets in the last segment with the remainder. A sender's
//!   own segments (timestamps 0xFFFF apart, the event not ended) are
//!   followed as one event and segmented again on the target's clock.
//! - RFC 3389 comfort noise: the target's CN type on the output clock
//!   when it has one; otherwise silence: nothing is sent until speech
//!   resumes, which then starts a talkspurt.
//!
//! Every buffer is made with the direction; nothing allocates per
//! packet.

use std::time::{Duration, Instant};

use super::super::local::{LegCodec, Rng};
use super::super::{DropReason, RelayCounters};
use super::reorder::{GiveUp, Place, Released, ReorderStage};
use super::rewrite::{scale_durations, segment_of, SEGMENT};
use crate::codec::{CodecError, EncoderConfig, Transcoder};
use crate::rtp::{RtpHeader, RtpPacket};
use crate::TELEPHONE_EVENT_LEN;

/// Length of the RTP header we write (no CSRC, no extension).
const HEADER_LEN: usize = 12;
/// Room left after a packet for the SRTP authentication tag.
const TAG_ROOM: usize = 16;
/// Longest telephone-event or comfort noise payload carried (RFC 4733
/// allows several reports in one packet; RFC 3389 up to a dozen
/// spectral coefficients).
const MAX_SIDE_PAYLOAD: usize = 64;
/// Furthest a sender's next segment of a long event is taken to be
/// (RFC 4733 §2.5.1.3): 64 segments, over 8 minutes at 8 kHz.
const MAX_SEGMENTS: u32 = 64;

/// The telephone-event carried last, to keep its packets one event on
/// the output clock.
#[derive(Debug, Clone, Copy)]
struct CarriedEvent {
    /// Input timestamp of its first segment, and the output one.
    input: u32,
    output: u32,
    code: u8,
    /// Input timestamp of the sender's latest segment.
    latest: u32,
    /// Whether an end packet (E bit) came: no segment follows.
    ended: bool,
    /// The last output segment begun, and whether a packet of duration
    /// 0xFFFF (which closes it) was sent in it.
    segment: u32,
    closed: bool,
}

impl CarriedEvent {
    /// A packet of the event falls in output `segment` with `duration`:
    /// the segment before it, when that one is to be closed first.
    fn enter(&mut self, segment: u32, duration: u16) -> Option<u32> {
        let full = u32::from(duration) == SEGMENT;
        if segment <= self.segment {
            self.closed |= segment == self.segment && full;
            return None;
        }
        let close = !(segment == self.segment + 1 && self.closed);
        self.segment = segment;
        self.closed = full;
        close.then(|| segment - 1)
    }
}

/// An event packet to send after the one just written (a segment's
/// first, after the close of the previous segment).
#[derive(Debug, Clone, Copy)]
struct PendingEvent {
    marker: bool,
    payload_type: u8,
    timestamp: u32,
    report: [u8; TELEPHONE_EVENT_LEN],
}

/// One direction of a transcoding bridge; see the module docs.
pub(in crate::relay) struct Transcoding {
    pub(super) from: LegCodec,
    pub(super) to: LegCodec,
    transcoder: Transcoder,
    ssrc: u32,
    seq: u16,
    event: Option<CarriedEvent>,
    pending: Option<PendingEvent>,
    reorder: ReorderStage,
    /// In the relay's queue of directions with frames to send.
    pub(super) queued: bool,
    /// The earliest instant the relay's timer heap holds for it.
    pub(super) scheduled: Option<Instant>,
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
    /// A direction from a leg speaking `from` to one speaking `to`,
    /// holding audio after a gap up to `reorder_wait`.
    pub(super) fn new(
        from: LegCodec,
        to: LegCodec,
        reorder_wait: Duration,
        rng: &mut Rng,
    ) -> Result<Self, CodecError> {
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
            pending: None,
            reorder: ReorderStage::new(reorder_wait),
            queued: false,
            scheduled: None,
        })
    }

    /// Whether a frame waits for [`poll_frame`](Self::poll_frame).
    pub(super) fn has_frame(&self) -> bool {
        self.pending.is_some() || self.transcoder.has_payload()
    }

    /// When audio held for a gap is to be let go
    /// ([`handle_timeout`](Self::handle_timeout)).
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.reorder.poll_timeout()
    }

    /// Gives up the gaps whose wait is over at `now`: the audio held
    /// after them is decoded (its frames then wait for
    /// [`poll_frame`](Self::poll_frame)).
    pub(super) fn handle_timeout(&mut self, now: Instant, counters: &mut RelayCounters) {
        self.release(GiveUp::Due(now), counters);
    }

    /// Decodes the held audio `give_up` lets go, in order.
    fn release(&mut self, give_up: GiveUp, counters: &mut RelayCounters) {
        while let Some(released) = self.reorder.release(give_up, &mut counters.transcode_lost) {
            if let Released::Audio { timestamp, payload } = released {
                let payload = self.reorder.payload(payload);
                if self.transcoder.handle_payload(timestamp, payload).is_err() {
                    counters.transcode_errors += 1;
                }
            }
        }
    }

    /// A packet `seq` of `ssrc` that is not audio to decode (carried,
    /// or taken before the transcoder): it fills its place in the
    /// order.
    pub(super) fn handle_other(
        &mut self,
        now: Instant,
        seq: u16,
        ssrc: u32,
        counters: &mut RelayCounters,
    ) {
        match self.reorder.place(seq, ssrc) {
            Place::Late => return,
            Place::Next => {}
            Place::Ahead => {
                if self.reorder.hold(now, seq, None) {
                    return;
                }
                self.release(GiveUp::Below(seq), counters);
                self.reorder.skip_to(seq, &mut counters.transcode_lost);
            }
            Place::Restart => self.restart(ssrc, counters),
        }
        self.reorder.advance(seq, ssrc);
        self.release(GiveUp::Nothing, counters);
    }

    /// A new input stream from `ssrc`: what is held is decoded, the
    /// order starts again, and the decoder takes the new stream's
    /// timestamps as its own.
    fn restart(&mut self, ssrc: u32, counters: &mut RelayCounters) {
        self.release(GiveUp::All, counters);
        self.reorder.restart(ssrc);
        self.transcoder.restart_input();
    }

    /// Audio `seq` of `ssrc`: whether to decode it now (after what it
    /// releases); `Ok(false)`: held.
    fn order_audio(
        &mut self,
        now: Instant,
        seq: u16,
        ssrc: u32,
        audio: (u32, &[u8]),
        counters: &mut RelayCounters,
    ) -> Result<bool, DropReason> {
        match self.reorder.place(seq, ssrc) {
            Place::Late => return Err(DropReason::Late),
            Place::Next => {
                if self.reorder.holds() {
                    counters.transcode_reordered += 1;
                }
            }
            Place::Ahead => {
                if self.reorder.hold(now, seq, Some(audio)) {
                    return Ok(false);
                }
                // It cannot wait: the gaps before it are given up.
                self.release(GiveUp::Below(seq), counters);
                self.reorder.skip_to(seq, &mut counters.transcode_lost);
            }
            Place::Restart => self.restart(ssrc, counters),
        }
        Ok(true)
    }

    /// The RTP packet in `buf[..len]` (authenticated, decrypted, valid)
    /// from the leg, at `now`; writes the first packet it gives for the
    /// target into `buf` and returns its length. `Ok(None)`: nothing to
    /// send now (audio held for a gap or queued short of a frame,
    /// comfort noise turned into silence).
    pub(super) fn handle_rtp(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        len: usize,
        counters: &mut RelayCounters,
    ) -> Result<Option<usize>, DropReason> {
        let packet = buf.get(..len).ok_or(DropReason::Malformed)?;
        let packet = RtpPacket::parse(packet).map_err(|_| DropReason::Malformed)?;
        let (payload_type, timestamp) = (packet.payload_type(), packet.timestamp());
        let (seq, ssrc) = (packet.sequence_number(), packet.ssrc());
        self.release(GiveUp::Due(now), counters);
        if payload_type == self.from.payload_type {
            let audio = (timestamp, packet.payload());
            if !self.order_audio(now, seq, ssrc, audio, counters)? {
                return Ok(None);
            }
            let decoded = self.transcoder.handle_payload(timestamp, packet.payload());
            self.reorder.advance(seq, ssrc);
            self.release(GiveUp::Nothing, counters);
            if decoded.is_err() {
                counters.transcode_errors += 1;
                return Err(DropReason::Undecodable);
            }
            return Ok(self.poll_frame(buf, counters));
        }
        self.handle_other(now, seq, ssrc, counters);
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
        if is_event && payload.len() == TELEPHONE_EVENT_LEN {
            let mut report = [0u8; TELEPHONE_EVENT_LEN];
            report.copy_from_slice(payload);
            return self.carry_event(buf, marker, target, timestamp, report);
        }
        let timestamp = if is_event {
            let rates = (self.from.telephone_event_rate, self.to.telephone_event_rate);
            // Several reports in one packet: short events, not segmented.
            scale_durations(payload, rates.0, rates.1);
            self.carried_event(timestamp, payload.first().copied().unwrap_or(0))
                .0
        } else {
            self.transcoder.output_timestamp(timestamp)
        };
        self.write_side(buf, marker, target, timestamp, payload)
            .map(Some)
    }

    /// Writes an RTP packet of ours carrying `payload` into `buf`.
    fn write_side(
        &mut self,
        buf: &mut [u8],
        marker: bool,
        payload_type: u8,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<usize, DropReason> {
        let written = self
            .write_header(buf, marker, payload_type, timestamp)
            .ok_or(DropReason::Malformed)?;
        let out = buf
            .get_mut(written..written + payload.len())
            .ok_or(DropReason::Malformed)?;
        out.copy_from_slice(payload);
        Ok(written + payload.len())
    }

    /// Carries one telephone-event `report` of input timestamp
    /// `timestamp` as `payload_type` (see the module docs for long
    /// events); writes the packet to send now into `buf`.
    fn carry_event(
        &mut self,
        buf: &mut [u8],
        marker: bool,
        payload_type: u8,
        timestamp: u32,
        mut report: [u8; TELEPHONE_EVENT_LEN],
    ) -> Result<Option<usize>, DropReason> {
        let (code, end) = (report[0], report[1] & 0x80 != 0);
        let (output, before) = self.carried_event(timestamp, code);
        let duration = u64::from(u16::from_be_bytes([report[2], report[3]]));
        let (from, to) = (self.from.telephone_event_rate, self.to.telephone_event_rate);
        let total = (before + duration) * u64::from(to) / u64::from(from.max(1));
        let (segment, duration) = segment_of(total);
        report[2..4].copy_from_slice(&duration.to_be_bytes());
        let at = |segment: u32| output.wrapping_add(segment.wrapping_mul(SEGMENT));
        let Some(event) = self.event.as_mut() else {
            return Err(DropReason::Malformed);
        };
        event.ended |= end;
        let close = event.enter(segment, duration);
        let Some(closed) = close else {
            return self
                .write_side(buf, marker, payload_type, at(segment), &report)
                .map(Some);
        };
        // §2.5.1.3: the previous segment ends at 0xFFFF, without the E
        // bit; this packet follows it.
        self.pending = Some(PendingEvent {
            marker,
            payload_type,
            timestamp: at(segment),
            report,
        });
        let mut last = report;
        last[1] &= 0x7f;
        last[2..4].copy_from_slice(&[0xff, 0xff]);
        self.write_side(buf, false, payload_type, at(closed), &last)
            .map(Some)
    }

    /// The output timestamp of the event that starts (or whose segment
    /// starts) at input `timestamp` with event `code`, and the input
    /// units of the event before that segment: the same output
    /// timestamp for all its packets.
    fn carried_event(&mut self, timestamp: u32, code: u8) -> (u32, u64) {
        if let Some(event) = &mut self.event {
            if event.input == timestamp {
                return (event.output, 0);
            }
            // A sender's segment (§2.5.1.3): 0xFFFF (some senders:
            // 0x10000) a segment on; a new one only before the end.
            let step = timestamp.wrapping_sub(event.input);
            let continues = event.code == code
                && (!event.ended || timestamp == event.latest)
                && step <= MAX_SEGMENTS * 0x1_0000
                && (step % SEGMENT == 0 || step % 0x1_0000 == 0);
            if continues {
                event.latest = timestamp;
                return (event.output, u64::from(step));
            }
        }
        let output = self.transcoder.output_timestamp(timestamp);
        self.event = Some(CarriedEvent {
            input: timestamp,
            output,
            code,
            latest: timestamp,
            ended: false,
            segment: 0,
            closed: false,
        });
        (output, 0)
    }

    /// Writes the next queued frame into `buf` as an RTP packet of the
    /// direction's stream; returns its length. A frame the encoder
    /// refuses (no room in `buf`) is lost and counted.
    pub(super) fn poll_frame(
        &mut self,
        buf: &mut [u8],
        counters: &mut RelayCounters,
    ) -> Option<usize> {
        if let Some(pending) = self.pending.take() {
            let PendingEvent {
                marker,
                payload_type,
                timestamp,
                report,
            } = pending;
            return self
                .write_side(buf, marker, payload_type, timestamp, &report)
                .ok();
        }
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
