//! Receiving telephone-events (RFC 4733 §2.5.2): packets in, one
//! `Began` and one `Ended` per key press out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::TelephoneEvent;
use crate::dtmf::digit::DtmfDigit;
use crate::dtmf::error::DtmfError;
use crate::rtp::RtpPacket;

/// A segment of a long event is at most 0xFFFF units (RFC 4733 §2.5.1.3):
/// a new timestamp this far after the current one, for the same key and
/// without the marker bit, continues the event.
const MIN_SEGMENT: u32 = 0x8000;
/// Largest timestamp step from one segment to the next (0xFFFF, plus one
/// for senders that count 0x10000).
const MAX_SEGMENT: u32 = 0x1_0000;
/// A duration that falls from above this to below [`WRAP_LOW`] on a newer
/// packet of the same timestamp wrapped past 0xFFFF (senders that do not
/// segment long events).
const WRAP_HIGH: u16 = 0xC000;
/// See [`WRAP_HIGH`].
const WRAP_LOW: u16 = 0x4000;

/// Settings of a [`TelephoneEventReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEventReceiverConfig {
    /// RTP clock rate of the telephone-event payload type (8000 for
    /// `telephone-event/8000`).
    pub clock_rate: u32,
    /// An event whose packets stop for this long without an end packet
    /// ends ([`EventEnd::Timeout`]). Senders update every 50 ms or
    /// faster (§2.5.1.2), so a few update intervals.
    pub end_timeout: Duration,
    /// How long the timestamp of the last event is remembered, to drop
    /// its late and redundant packets. After this much silence any
    /// timestamp starts a new event (a sender may jump its timestamps).
    pub history: Duration,
}

impl Default for TelephoneEventReceiverConfig {
    fn default() -> Self {
        TelephoneEventReceiverConfig {
            clock_rate: 8000,
            end_timeout: Duration::from_millis(250),
            history: Duration::from_secs(2),
        }
    }
}

/// Why a received event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventEnd {
    /// A packet with the E bit (§2.5.1.4).
    EndBit,
    /// A packet of a newer event arrived first (all end packets lost).
    NewEvent,
    /// No packet for [`TelephoneEventReceiverConfig::end_timeout`].
    Timeout,
    /// The SSRC changed: the old stream is gone.
    SourceChanged,
}

/// What a [`TelephoneEventReceiver`] reports: each key press gives one
/// `Began` followed by one `Ended`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceivedEvent {
    /// The first packet of a key press arrived.
    Began {
        /// The key.
        digit: DtmfDigit,
        /// RTP timestamp of the event (its first segment).
        timestamp: u32,
    },
    /// The key press is over.
    Ended {
        /// The key.
        digit: DtmfDigit,
        /// RTP timestamp of the event (its first segment).
        timestamp: u32,
        /// Duration in timestamp units, summed over segments: the longest
        /// duration received.
        units: u32,
        /// The same at the configured clock rate.
        duration: Duration,
        /// What ended it.
        end: EventEnd,
    },
}

impl ReceivedEvent {
    /// The key of the event.
    pub fn digit(&self) -> DtmfDigit {
        match *self {
            ReceivedEvent::Began { digit, .. } | ReceivedEvent::Ended { digit, .. } => digit,
        }
    }
}

/// The event being received.
#[derive(Debug, Clone, Copy)]
struct ActiveEvent {
    digit: DtmfDigit,
    /// Timestamp of the first segment: names the event.
    start: u32,
    /// Timestamp of the current segment.
    segment: u32,
    /// Units in earlier segments and duration wraps.
    earlier: u32,
    /// Longest duration received in the current segment.
    duration: u16,
    /// Highest sequence number received for the event.
    highest_sequence: u16,
    last_packet: Instant,
}

impl ActiveEvent {
    fn units(&self) -> u32 {
        self.earlier.saturating_add(u32::from(self.duration))
    }
}

/// Receiver state (RFC 4733 §2.5.2 has no names; these follow the text).
#[derive(Debug, Clone, Copy)]
enum ReceiverState {
    /// No event in progress.
    Idle,
    /// Packets of one event are arriving.
    Receiving(ActiveEvent),
}

/// Turns the telephone-event packets of one RTP stream into key presses,
/// each reported exactly once (RFC 4733 §2.5.2).
///
/// Feed every packet of the negotiated telephone-event payload type to
/// [`handle_rtp`](Self::handle_rtp) (or its fields to
/// [`handle_event`](Self::handle_event)), call
/// [`handle_timeout`](Self::handle_timeout) at
/// [`poll_timeout`](Self::poll_timeout), and drain
/// [`poll_event`](Self::poll_event) after each call. Nothing allocates
/// per packet while the events are drained.
///
/// An event is its RTP timestamp: the first packet with a new timestamp
/// begins it (marker bit or not: the first packet may be lost), the E
/// bit ends it, and every later packet with that timestamp (the three
/// redundant end packets, late updates) is ignored. If every end packet
/// is lost, a packet with a newer timestamp or the timeout ends it.
/// Reordered packets only raise the duration; packets of an event older
/// than the last one are dropped. Events longer than 0xFFFF units are
/// followed across segments (§2.5.1.3), and a duration that wraps past
/// 0xFFFF on the same timestamp is counted on.
#[derive(Debug)]
pub struct TelephoneEventReceiver {
    config: TelephoneEventReceiverConfig,
    state: ReceiverState,
    /// Newest segment timestamp accepted and when its last packet came.
    newest: Option<(u32, Instant)>,
    ssrc: Option<u32>,
    events: VecDeque<ReceivedEvent>,
}

/// RFC 1982 serial comparison of RTP timestamps: `a` is before `b`.
fn is_before(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) >= 0x8000_0000
}

/// `a` is a later sequence number than `b` (RFC 3550 §A.1 style).
fn is_after(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

impl TelephoneEventReceiver {
    /// A receiver with `config`.
    pub fn new(config: TelephoneEventReceiverConfig) -> Self {
        TelephoneEventReceiver {
            config,
            state: ReceiverState::Idle,
            newest: None,
            ssrc: None,
            events: VecDeque::with_capacity(8),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TelephoneEventReceiverConfig {
        &self.config
    }

    /// The key being received, if an event is in progress.
    pub fn active_digit(&self) -> Option<DtmfDigit> {
        match self.state {
            ReceiverState::Idle => None,
            ReceiverState::Receiving(active) => Some(active.digit),
        }
    }

    /// Takes in one RTP packet of the telephone-event payload type (the
    /// caller dispatches on the payload type). A new SSRC ends the event
    /// in progress and forgets the old stream.
    pub fn handle_rtp(&mut self, now: Instant, packet: &RtpPacket<'_>) -> Result<(), DtmfError> {
        let event = TelephoneEvent::parse(packet.payload())?;
        let ssrc = packet.ssrc();
        if self.ssrc.is_some_and(|known| known != ssrc) {
            self.finish(EventEnd::SourceChanged);
            self.newest = None;
        }
        self.ssrc = Some(ssrc);
        self.handle_event(
            now,
            packet.sequence_number(),
            packet.timestamp(),
            packet.marker(),
            event,
        );
        Ok(())
    }

    /// Takes in one event report with its RTP header fields. Events that
    /// are not DTMF keys (code above 15) are ignored.
    pub fn handle_event(
        &mut self,
        now: Instant,
        sequence_number: u16,
        timestamp: u32,
        marker: bool,
        event: TelephoneEvent,
    ) {
        self.handle_timeout(now);
        let Some(digit) = event.digit() else {
            return;
        };
        if let ReceiverState::Receiving(mut active) = self.state {
            if timestamp == active.segment {
                if digit == active.digit {
                    update(&mut active, sequence_number, event.duration);
                    active.last_packet = now;
                    self.newest = Some((timestamp, now));
                    self.state = ReceiverState::Receiving(active);
                    if event.end {
                        self.finish(EventEnd::EndBit);
                    }
                }
                // Another key on the same timestamp: not a sequence a
                // sender makes; ignored.
                return;
            }
            let step = timestamp.wrapping_sub(active.segment);
            let continues = digit == active.digit
                && !marker
                && (MIN_SEGMENT..=MAX_SEGMENT).contains(&step)
                && step >= u32::from(active.duration);
            if continues {
                // §2.5.1.3: the next segment of a long event.
                active.earlier = active.earlier.saturating_add(step);
                active.segment = timestamp;
                active.duration = event.duration;
                active.highest_sequence = sequence_number;
                active.last_packet = now;
                self.newest = Some((timestamp, now));
                self.state = ReceiverState::Receiving(active);
                if event.end {
                    self.finish(EventEnd::EndBit);
                }
                return;
            }
            if is_before(timestamp, active.segment) {
                // A late packet of an earlier event.
                return;
            }
            self.finish(EventEnd::NewEvent);
        } else if let Some((newest, at)) = self.newest {
            let remembered = now.saturating_duration_since(at) <= self.config.history;
            if remembered && (timestamp == newest || is_before(timestamp, newest)) {
                // Redundant end packet, or a late packet of an event
                // already reported.
                return;
            }
        }
        self.begin(now, sequence_number, timestamp, digit, event);
    }

    /// Ends an event whose packets stopped for the end timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let ReceiverState::Receiving(active) = self.state {
            if now.saturating_duration_since(active.last_packet) >= self.config.end_timeout {
                self.finish(EventEnd::Timeout);
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called: the
    /// end timeout of the event in progress.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            ReceiverState::Idle => None,
            ReceiverState::Receiving(active) => Some(active.last_packet + self.config.end_timeout),
        }
    }

    /// The next key press report.
    pub fn poll_event(&mut self) -> Option<ReceivedEvent> {
        self.events.pop_front()
    }

    /// Duration of `units` at the configured clock rate.
    pub fn units_to_duration(&self, units: u32) -> Duration {
        let rate = u64::from(self.config.clock_rate.max(1));
        Duration::from_micros(u64::from(units) * 1_000_000 / rate)
    }

    fn begin(
        &mut self,
        now: Instant,
        sequence_number: u16,
        timestamp: u32,
        digit: DtmfDigit,
        event: TelephoneEvent,
    ) {
        self.state = ReceiverState::Receiving(ActiveEvent {
            digit,
            start: timestamp,
            segment: timestamp,
            earlier: 0,
            duration: event.duration,
            highest_sequence: sequence_number,
            last_packet: now,
        });
        self.newest = Some((timestamp, now));
        self.events
            .push_back(ReceivedEvent::Began { digit, timestamp });
        if event.end {
            self.finish(EventEnd::EndBit);
        }
    }

    fn finish(&mut self, end: EventEnd) {
        let ReceiverState::Receiving(active) = self.state else {
            return;
        };
        self.state = ReceiverState::Idle;
        let units = active.units();
        self.events.push_back(ReceivedEvent::Ended {
            digit: active.digit,
            timestamp: active.start,
            units,
            duration: self.units_to_duration(units),
            end,
        });
    }
}

impl Default for TelephoneEventReceiver {
    fn default() -> Self {
        Self::new(TelephoneEventReceiverConfig::default())
    }
}

/// Takes the duration of a packet of the current segment into `active`.
fn update(active: &mut ActiveEvent, sequence_number: u16, duration: u16) {
    if is_after(sequence_number, active.highest_sequence) {
        active.highest_sequence = sequence_number;
        if duration < WRAP_LOW && active.duration >= WRAP_HIGH {
            // The duration wrapped past 0xFFFF.
            active.earlier = active.earlier.saturating_add(0x1_0000);
            active.duration = duration;
            return;
        }
    } else if duration >= WRAP_HIGH && active.duration < WRAP_LOW {
        // A reordered packet from before a wrap.
        return;
    }
    active.duration = active.duration.max(duration);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TS: u32 = 13_280;

    struct Feed {
        receiver: TelephoneEventReceiver,
        start: Instant,
    }

    impl Feed {
        fn new() -> Self {
            Feed {
                receiver: TelephoneEventReceiver::default(),
                start: Instant::now(),
            }
        }

        fn at(&self, ms: u64) -> Instant {
            self.start + Duration::from_millis(ms)
        }

        fn packet(&mut self, ms: u64, seq: u16, ts: u32, marker: bool, event: TelephoneEvent) {
            let now = self.at(ms);
            self.receiver.handle_event(now, seq, ts, marker, event);
        }

        fn events(&mut self) -> Vec<ReceivedEvent> {
            std::iter::from_fn(|| self.receiver.poll_event()).collect()
        }
    }

    fn ev(digit: DtmfDigit, end: bool, duration: u16) -> TelephoneEvent {
        TelephoneEvent::dtmf(digit, end, 10, duration)
    }

    fn began(digit: DtmfDigit, ts: u32) -> ReceivedEvent {
        ReceivedEvent::Began {
            digit,
            timestamp: ts,
        }
    }

    fn ended(digit: DtmfDigit, ts: u32, units: u32, end: EventEnd) -> ReceivedEvent {
        ReceivedEvent::Ended {
            digit,
            timestamp: ts,
            units,
            duration: Duration::from_micros(u64::from(units) * 125),
            end,
        }
    }

    /// One press ended by its end packet.
    fn press(digit: DtmfDigit, ts: u32, units: u32) -> [ReceivedEvent; 2] {
        [began(digit, ts), ended(digit, ts, units, EventEnd::EndBit)]
    }

    /// The SIPp sequence: marker with duration 0, updates every 20 ms,
    /// three identical end packets.
    fn sipp(feed: &mut Feed, digit: DtmfDigit, seq: u16, ts: u32, ms: u64) {
        for i in 0..7u16 {
            feed.packet(
                ms + 20 * u64::from(i),
                seq + i,
                ts,
                i == 0,
                ev(digit, false, 320 * i),
            );
        }
        for _ in 0..3 {
            feed.packet(ms + 140, seq + 7, ts, false, ev(digit, true, 2240));
        }
    }

    #[test]
    fn one_press_is_reported_once() {
        let mut feed = Feed::new();
        sipp(&mut feed, DtmfDigit::One, 7984, TS, 0);
        assert_eq!(feed.events(), press(DtmfDigit::One, TS, 2240));
        assert_eq!(feed.receiver.poll_timeout(), None);
        // Late copies of the end packet change nothing.
        feed.packet(400, 7992, TS, false, ev(DtmfDigit::One, true, 2240));
        feed.packet(420, 7990, TS, false, ev(DtmfDigit::One, false, 1920));
        assert_eq!(feed.events(), []);
    }

    #[test]
    fn lost_start_begins_on_the_first_update() {
        let mut feed = Feed::new();
        feed.packet(40, 3, TS, false, ev(DtmfDigit::Pound, false, 640));
        feed.packet(60, 4, TS, false, ev(DtmfDigit::Pound, true, 800));
        assert_eq!(feed.events(), press(DtmfDigit::Pound, TS, 800));
    }

    #[test]
    fn only_an_end_packet_is_still_one_press() {
        let mut feed = Feed::new();
        feed.packet(0, 9, TS, false, ev(DtmfDigit::Seven, true, 960));
        feed.packet(1, 10, TS, false, ev(DtmfDigit::Seven, true, 960));
        assert_eq!(feed.events(), press(DtmfDigit::Seven, TS, 960));
    }

    #[test]
    fn lost_end_packets_end_by_timeout() {
        let mut feed = Feed::new();
        feed.packet(0, 1, TS, true, ev(DtmfDigit::Five, false, 0));
        feed.packet(50, 2, TS, false, ev(DtmfDigit::Five, false, 400));
        assert_eq!(feed.events().len(), 1);
        let deadline = feed.receiver.poll_timeout().unwrap();
        assert_eq!(deadline, feed.at(300));
        feed.receiver.handle_timeout(feed.at(299));
        assert_eq!(feed.events(), []);
        feed.receiver.handle_timeout(deadline);
        assert_eq!(
            feed.events(),
            [ended(DtmfDigit::Five, TS, 400, EventEnd::Timeout)]
        );
        // Its end packets arriving after the timeout are not a new press.
        feed.packet(320, 3, TS, false, ev(DtmfDigit::Five, true, 800));
        assert_eq!(feed.events(), []);
    }

    #[test]
    fn lost_end_packets_end_on_a_new_timestamp() {
        let mut feed = Feed::new();
        feed.packet(0, 1, TS, true, ev(DtmfDigit::Two, false, 0));
        feed.packet(50, 2, TS, false, ev(DtmfDigit::Two, false, 400));
        feed.packet(150, 3, TS + 1200, true, ev(DtmfDigit::Two, false, 0));
        assert_eq!(
            feed.events(),
            [
                began(DtmfDigit::Two, TS),
                ended(DtmfDigit::Two, TS, 400, EventEnd::NewEvent),
                began(DtmfDigit::Two, TS + 1200),
            ]
        );
        // A late packet of the first press is dropped.
        feed.packet(160, 2, TS, false, ev(DtmfDigit::Two, true, 640));
        assert_eq!(feed.events(), []);
        assert_eq!(feed.receiver.active_digit(), Some(DtmfDigit::Two));
    }

    #[test]
    fn reordered_packets_count_once_with_the_longest_duration() {
        let mut feed = Feed::new();
        // Update 2 before the marker packet, end before update 3.
        feed.packet(0, 11, TS, false, ev(DtmfDigit::Nine, false, 400));
        feed.packet(1, 10, TS, true, ev(DtmfDigit::Nine, false, 0));
        feed.packet(60, 13, TS, false, ev(DtmfDigit::Nine, true, 1000));
        feed.packet(61, 12, TS, false, ev(DtmfDigit::Nine, false, 800));
        feed.packet(62, 14, TS, false, ev(DtmfDigit::Nine, true, 1000));
        assert_eq!(feed.events(), press(DtmfDigit::Nine, TS, 1000));
    }

    #[test]
    fn segmented_long_event_is_one_press() {
        let mut feed = Feed::new();
        let mut seq = 100u16;
        let mut ms = 0;
        feed.packet(ms, seq, TS, true, ev(DtmfDigit::Zero, false, 0));
        for duration in (400..=0xFFFFu32).step_by(400).chain([0xFFFF]) {
            seq += 1;
            ms += 50;
            feed.packet(
                ms,
                seq,
                TS,
                false,
                ev(DtmfDigit::Zero, false, duration as u16),
            );
        }
        // Next segment: timestamp + 0xFFFF, no marker.
        let second = TS.wrapping_add(0xFFFF);
        for duration in [0u16, 400, 800] {
            seq += 1;
            ms += 50;
            feed.packet(ms, seq, second, false, ev(DtmfDigit::Zero, false, duration));
        }
        seq += 1;
        feed.packet(ms + 50, seq, second, false, ev(DtmfDigit::Zero, true, 1000));
        assert_eq!(feed.events(), press(DtmfDigit::Zero, TS, 0xFFFF + 1000));
    }

    #[test]
    fn wrapping_duration_is_counted_on() {
        let mut feed = Feed::new();
        let mut seq = 0u16;
        let mut ms = 0;
        for duration in (0..=0xFFFFu32).step_by(4000).chain((0..6000).step_by(4000)) {
            feed.packet(
                ms,
                seq,
                TS,
                seq == 0,
                ev(DtmfDigit::Six, false, duration as u16),
            );
            seq += 1;
            ms += 50;
        }
        feed.packet(ms, seq, TS, false, ev(DtmfDigit::Six, true, 5000));
        let events = feed.events();
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[1],
            ended(DtmfDigit::Six, TS, 0x1_0000 + 5000, EventEnd::EndBit)
        );
    }

    #[test]
    fn timestamp_wrap_is_a_newer_event() {
        let mut feed = Feed::new();
        let ts = u32::MAX - 100;
        sipp(&mut feed, DtmfDigit::Three, 1, ts, 0);
        sipp(&mut feed, DtmfDigit::Four, 20, ts.wrapping_add(4000), 600);
        let digits: Vec<_> = feed.events().iter().map(ReceivedEvent::digit).collect();
        assert_eq!(
            digits,
            [
                DtmfDigit::Three,
                DtmfDigit::Three,
                DtmfDigit::Four,
                DtmfDigit::Four
            ]
        );
    }

    #[test]
    fn after_the_history_an_older_timestamp_is_a_new_press() {
        let mut feed = Feed::new();
        sipp(&mut feed, DtmfDigit::Eight, 1, TS, 0);
        sipp(&mut feed, DtmfDigit::Eight, 20, TS - 8000, 5000);
        assert_eq!(feed.events().len(), 4);
    }

    #[test]
    fn non_dtmf_events_are_ignored() {
        let mut feed = Feed::new();
        let flash = TelephoneEvent {
            event: 16,
            end: false,
            volume: 10,
            duration: 0,
        };
        feed.packet(0, 1, TS, true, flash);
        assert_eq!(feed.events(), []);
        assert_eq!(feed.receiver.poll_timeout(), None);
    }

    #[test]
    fn rtp_packets_and_ssrc_change() {
        use crate::rtp::RtpHeader;
        let mut receiver = TelephoneEventReceiver::default();
        let now = Instant::now();
        let packet = |ssrc: u32, payload: [u8; 4]| {
            let mut buf = Vec::new();
            RtpHeader {
                marker: true,
                payload_type: 101,
                sequence_number: 1,
                timestamp: TS,
                ssrc,
            }
            .append(&[], &mut buf)
            .unwrap();
            buf.extend_from_slice(&payload);
            buf
        };
        let first = packet(1, ev(DtmfDigit::A, false, 0).to_bytes());
        receiver
            .handle_rtp(now, &RtpPacket::parse(&first).unwrap())
            .unwrap();
        // Same timestamp, new SSRC: the old event ends, a new one begins.
        let second = packet(2, ev(DtmfDigit::B, false, 0).to_bytes());
        receiver
            .handle_rtp(now, &RtpPacket::parse(&second).unwrap())
            .unwrap();
        let events: Vec<_> = std::iter::from_fn(|| receiver.poll_event()).collect();
        assert_eq!(
            events,
            [
                began(DtmfDigit::A, TS),
                ended(DtmfDigit::A, TS, 0, EventEnd::SourceChanged),
                began(DtmfDigit::B, TS),
            ]
        );
        let mut short = packet(2, [0; 4]);
        short.truncate(14);
        assert_eq!(
            receiver.handle_rtp(now, &RtpPacket::parse(&short).unwrap()),
            Err(DtmfError::EventTruncated(2))
        );
    }
}
