//! Sending telephone-events (RFC 4733 §2.5.1): the packet sequence of one
//! key press, and a timed sender that plays queued keys.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::TelephoneEvent;
use crate::dtmf::digit::DtmfDigit;

/// Longest duration of one segment (RFC 4733 §2.5.1.3).
const SEGMENT: u32 = 0xFFFF;
/// Copies of a final packet (RFC 4733 §2.5.1.4).
const FINAL_COPIES: u8 = 3;

/// Settings of a [`TelephoneEventSender`] and of
/// [`TelephoneEventPackets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEventSenderConfig {
    /// RTP clock rate of the telephone-event payload type.
    pub clock_rate: u32,
    /// Units between updates; §2.5.1.2 suggests 50 ms, a sender matching
    /// its audio packet time uses 20 ms (160 units at 8 kHz).
    pub interval: u32,
    /// Volume field, -dBm0 (RFC 4733 §2.3.4).
    pub volume: u8,
    /// Silence after a key's last packet before the next queued key.
    pub pause: Duration,
}

impl Default for TelephoneEventSenderConfig {
    fn default() -> Self {
        TelephoneEventSenderConfig {
            clock_rate: 8000,
            interval: 400,
            volume: 10,
            pause: Duration::from_millis(100),
        }
    }
}

/// One packet for the caller to send as RTP with the telephone-event
/// payload type, the next sequence number and the given marker bit and
/// timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TelephoneEventPacket {
    /// When to send it, in timestamp units after the event began.
    pub offset: u32,
    /// RTP marker bit: set on the first packet of the event.
    pub marker: bool,
    /// RTP timestamp: the event's, or its segment's for long events.
    pub timestamp: u32,
    /// The payload.
    pub event: TelephoneEvent,
}

/// The packets of one key press, in sending order (RFC 4733 §2.5.1):
/// the first with the marker bit and duration 0, an update every
/// interval with the duration so far, then the E-bit packet with the
/// full duration three times, one interval apart. All carry the event's
/// timestamp; an event longer than 0xFFFF units is cut into segments
/// whose timestamps advance by 0xFFFF, each segment closed by three
/// packets of duration 0xFFFF without the E bit.
#[derive(Debug, Clone)]
pub struct TelephoneEventPackets {
    digit: DtmfDigit,
    volume: u8,
    interval: u32,
    timestamp: u32,
    total: u32,
    /// Offset of the next update, `None` once the end packets started.
    next_update: Option<u32>,
    /// Copies of a segment's closing packet still to send: segment
    /// start, copies left, offset of the next.
    segment_close: Option<(u32, u8, u32)>,
    /// Copies of the E-bit packet still to send, and the next offset.
    end: Option<(u8, u32)>,
}

impl TelephoneEventPackets {
    /// The packets of `digit` held for `duration` units, starting at RTP
    /// timestamp `timestamp`. A zero interval is taken as one unit.
    pub fn new(
        digit: DtmfDigit,
        duration: u32,
        timestamp: u32,
        config: &TelephoneEventSenderConfig,
    ) -> Self {
        TelephoneEventPackets {
            digit,
            volume: config.volume,
            interval: config.interval.max(1),
            timestamp,
            total: duration,
            next_update: Some(0),
            segment_close: None,
            end: None,
        }
    }

    fn event(&self, end: bool, duration: u32) -> TelephoneEvent {
        // Durations inside a segment are at most 0xFFFF.
        let duration = duration.min(SEGMENT) as u16;
        TelephoneEvent::dtmf(self.digit, end, self.volume, duration)
    }

    fn segment_timestamp(&self, segment_start: u32) -> u32 {
        self.timestamp.wrapping_add(segment_start)
    }
}

impl Iterator for TelephoneEventPackets {
    type Item = TelephoneEventPacket;

    fn next(&mut self) -> Option<TelephoneEventPacket> {
        if let Some(at) = self.next_update {
            if at >= self.total && at > 0 {
                // The next update would reach the end: send the end.
                self.next_update = None;
                self.end = Some((FINAL_COPIES, self.total));
            }
        }
        // The earliest of the three; at equal offsets a segment's closing
        // copy goes first, then the update.
        let end_at = self.end.map(|(_, at)| at);
        if let Some((start, left, at)) = self.segment_close {
            let first = self.next_update.is_none_or(|update| at <= update)
                && end_at.is_none_or(|end| at <= end);
            if first {
                self.segment_close = (left > 1).then_some((start, left - 1, at + self.interval));
                return Some(TelephoneEventPacket {
                    offset: at,
                    marker: false,
                    timestamp: self.segment_timestamp(start),
                    event: self.event(false, SEGMENT),
                });
            }
        }
        if let Some(at) = self.next_update {
            let segment_start = at / SEGMENT * SEGMENT;
            let crosses = at
                .checked_sub(self.interval)
                .is_some_and(|previous| previous / SEGMENT != at / SEGMENT);
            if crosses && self.segment_close.is_none() {
                // §2.5.1.3: the previous segment is full; close it before
                // the new segment's first update.
                self.segment_close = Some((segment_start - SEGMENT, FINAL_COPIES, at));
                return self.next();
            }
            self.next_update = Some(at.saturating_add(self.interval));
            if at >= self.total {
                // A zero-length event: the first packet, then the end.
                self.next_update = None;
                self.end = Some((FINAL_COPIES, at));
            }
            return Some(TelephoneEventPacket {
                offset: at,
                marker: at == 0,
                timestamp: self.segment_timestamp(segment_start),
                event: self.event(false, at - segment_start),
            });
        }
        let (left, at) = self.end?;
        self.end = (left > 1).then_some((left - 1, at + self.interval));
        let segment_start = self.total.saturating_sub(1) / SEGMENT * SEGMENT;
        Some(TelephoneEventPacket {
            offset: at,
            marker: false,
            timestamp: self.segment_timestamp(segment_start),
            event: self.event(true, self.total - segment_start),
        })
    }
}

/// A key press being sent.
#[derive(Debug, Clone)]
struct Sending {
    started: Instant,
    /// The next packet, taken from `packets` ahead.
    next: Option<TelephoneEventPacket>,
    packets: TelephoneEventPackets,
}

/// Sender state.
#[derive(Debug, Clone)]
enum SenderState {
    /// Nothing to send before `until`: the end of the pause after a key,
    /// or when the first queued key was queued.
    Idle { until: Option<Instant> },
    /// A key press is being sent.
    Sending(Sending),
}

/// Plays queued keys as telephone-events on one RTP stream (RFC 4733
/// §2.5.1), one after the other with a pause between them.
///
/// Queue keys with [`handle_digit`](Self::handle_digit); at
/// [`poll_timeout`](Self::poll_timeout), call
/// [`poll_transmit`](Self::poll_transmit) with the RTP timestamp the
/// stream would give a packet sent now, until it returns `None`, and wrap
/// each packet in RTP (telephone-event payload type, next sequence
/// number). While [`is_sending`](Self::is_sending), the audio of the
/// stream should be held back (§2.5.1.1: the tone is not sent twice).
#[derive(Debug, Clone)]
pub struct TelephoneEventSender {
    config: TelephoneEventSenderConfig,
    queue: VecDeque<(DtmfDigit, Duration)>,
    state: SenderState,
}

impl TelephoneEventSender {
    /// A sender with `config`.
    pub fn new(config: TelephoneEventSenderConfig) -> Self {
        TelephoneEventSender {
            config,
            queue: VecDeque::with_capacity(16),
            state: SenderState::Idle { until: None },
        }
    }

    /// Queues `digit`, to be held for `duration`; it can start at `now`.
    pub fn handle_digit(&mut self, now: Instant, digit: DtmfDigit, duration: Duration) {
        if let SenderState::Idle { until } = &mut self.state {
            if self.queue.is_empty() && until.is_none_or(|until| until < now) {
                *until = Some(now);
            }
        }
        self.queue.push_back((digit, duration));
    }

    /// A key press is being sent (its packets are not all out yet).
    pub fn is_sending(&self) -> bool {
        matches!(self.state, SenderState::Sending(_))
    }

    /// Keys queued and not started yet.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// When [`poll_transmit`](Self::poll_transmit) has something to send.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            SenderState::Sending(sending) => {
                let next = sending.next.as_ref()?;
                Some(sending.started + units_to_duration(self.config.clock_rate, next.offset))
            }
            SenderState::Idle { until } => {
                if self.queue.is_empty() {
                    None
                } else {
                    *until
                }
            }
        }
    }

    /// The next packet due at `now`; `rtp_timestamp` is the timestamp of
    /// the stream at `now` and becomes the timestamp of a key press that
    /// starts.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        rtp_timestamp: u32,
    ) -> Option<TelephoneEventPacket> {
        loop {
            match &mut self.state {
                SenderState::Idle { until } => {
                    if until.is_some_and(|until| now < until) {
                        return None;
                    }
                    let (digit, duration) = self.queue.pop_front()?;
                    let units = duration_to_units(self.config.clock_rate, duration);
                    let mut packets =
                        TelephoneEventPackets::new(digit, units, rtp_timestamp, &self.config);
                    self.state = SenderState::Sending(Sending {
                        started: now,
                        next: packets.next(),
                        packets,
                    });
                }
                SenderState::Sending(sending) => {
                    let Some(next) = sending.next else {
                        let until = now + self.config.pause;
                        self.state = SenderState::Idle { until: Some(until) };
                        continue;
                    };
                    let due =
                        sending.started + units_to_duration(self.config.clock_rate, next.offset);
                    if now < due {
                        return None;
                    }
                    sending.next = sending.packets.next();
                    return Some(next);
                }
            }
        }
    }
}

fn units_to_duration(clock_rate: u32, units: u32) -> Duration {
    let rate = u64::from(clock_rate.max(1));
    Duration::from_micros(u64::from(units) * 1_000_000 / rate)
}

fn duration_to_units(clock_rate: u32, duration: Duration) -> u32 {
    let units = duration.as_micros() * u128::from(clock_rate) / 1_000_000;
    u32::try_from(units).unwrap_or(u32::MAX)
}

impl Default for TelephoneEventSender {
    fn default() -> Self {
        Self::new(TelephoneEventSenderConfig::default())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::dtmf::rfc4733::{EventEnd, ReceivedEvent, TelephoneEventReceiver};

    fn packets(duration: u32, interval: u32) -> Vec<TelephoneEventPacket> {
        let config = TelephoneEventSenderConfig {
            interval,
            ..Default::default()
        };
        TelephoneEventPackets::new(DtmfDigit::Five, duration, 1000, &config).collect()
    }

    #[test]
    fn sequence_of_a_short_press() {
        let sent = packets(800, 160);
        let shape: Vec<_> = sent
            .iter()
            .map(|p| (p.offset, p.marker, p.event.end, p.event.duration))
            .collect();
        assert_eq!(
            shape,
            [
                (0, true, false, 0),
                (160, false, false, 160),
                (320, false, false, 320),
                (480, false, false, 480),
                (640, false, false, 640),
                (800, false, true, 800),
                (960, false, true, 800),
                (1120, false, true, 800),
            ]
        );
        assert!(sent
            .iter()
            .all(|p| p.timestamp == 1000 && p.event.event == 5 && p.event.volume == 10));
    }

    #[test]
    fn duration_between_updates_ends_on_time() {
        // 1000 units with 400-unit updates: the end packet comes at 1000.
        let offsets: Vec<_> = packets(1000, 400)
            .iter()
            .map(|p| (p.offset, p.event.end))
            .collect();
        assert_eq!(
            offsets,
            [
                (0, false),
                (400, false),
                (800, false),
                (1000, true),
                (1400, true),
                (1800, true)
            ]
        );
    }

    #[test]
    fn zero_duration_is_a_marker_then_ends() {
        let sent = packets(0, 400);
        assert_eq!(sent.len(), 4);
        assert!(sent[0].marker && !sent[0].event.end);
        assert!(sent[1..]
            .iter()
            .all(|p| p.event.end && p.event.duration == 0));
    }

    #[test]
    fn long_press_is_segmented() {
        let sent = packets(0xFFFF + 2000, 400);
        // The first segment is closed by three packets of 0xFFFF units,
        // the second segment has the timestamp + 0xFFFF.
        let closing: Vec<_> = sent.iter().filter(|p| p.event.duration == 0xFFFF).collect();
        assert_eq!(closing.len(), 3);
        assert!(closing.iter().all(|p| p.timestamp == 1000 && !p.event.end));
        let ends: Vec<_> = sent.iter().filter(|p| p.event.end).collect();
        assert_eq!(ends.len(), 3);
        assert!(ends
            .iter()
            .all(|p| p.timestamp == 1000 + 0xFFFF && p.event.duration == 2000));
    }

    #[test]
    fn every_length_is_received_as_one_press_of_that_length() {
        for total in [
            1,
            399,
            400,
            0xFFFF - 1,
            0xFFFF,
            0xFFFF + 1,
            0xFFFF + 500,
            3 * 0xFFFF + 7,
        ] {
            for interval in [160, 400] {
                let sent = packets(total, interval);
                assert!(
                    sent.windows(2).all(|pair| pair[0].offset <= pair[1].offset),
                    "{total}"
                );
                assert_eq!(sent.iter().filter(|p| p.marker).count(), 1);
                assert_eq!(sent.iter().filter(|p| p.event.end).count(), 3);
                let mut receiver = TelephoneEventReceiver::default();
                let start = Instant::now();
                for (seq, packet) in sent.iter().enumerate() {
                    let now = start + Duration::from_micros(u64::from(packet.offset) * 125);
                    receiver.handle_event(
                        now,
                        seq as u16,
                        packet.timestamp,
                        packet.marker,
                        packet.event,
                    );
                }
                let events: Vec<_> = std::iter::from_fn(|| receiver.poll_event()).collect();
                assert_eq!(events.len(), 2, "{total} {interval}: {events:?}");
                assert!(
                    matches!(
                        events[1],
                        ReceivedEvent::Ended { units, end: EventEnd::EndBit, timestamp: 1000, .. }
                            if units == total
                    ),
                    "{total} {interval}: {events:?}"
                );
            }
        }
    }

    #[test]
    fn timed_sender_plays_queued_keys_with_a_pause() {
        let mut sender = TelephoneEventSender::default();
        assert_eq!(sender.poll_timeout(), None);
        let start = Instant::now();
        sender.handle_digit(start, DtmfDigit::One, Duration::from_millis(100));
        sender.handle_digit(start, DtmfDigit::Two, Duration::from_millis(100));
        assert_eq!(sender.poll_timeout(), Some(start));
        let mut now = start;
        let mut sent = Vec::new();
        // Drive in 10 ms steps; the stream clock advances 80 units per step.
        for step in 0..200u32 {
            while let Some(packet) = sender.poll_transmit(now, 5000 + 80 * step) {
                sent.push((now.duration_since(start).as_millis(), packet));
            }
            now += Duration::from_millis(10);
        }
        assert!(!sender.is_sending());
        assert_eq!(sender.queued(), 0);
        let ones: Vec<_> = sent.iter().filter(|(_, p)| p.event.event == 1).collect();
        let twos: Vec<_> = sent.iter().filter(|(_, p)| p.event.event == 2).collect();
        // 100 ms at 50 ms updates: 0, 400, then 3 ends at 800, 1200, 1600.
        assert_eq!(ones.len(), 5);
        assert_eq!(twos.len(), 5);
        assert_eq!(
            ones.iter().map(|(ms, _)| *ms).collect::<Vec<_>>(),
            [0, 50, 100, 150, 200]
        );
        // The second key starts after the last end copy plus the pause,
        // with the stream timestamp of that moment.
        let (second_start, first_two) = twos[0];
        assert_eq!(*second_start, 300);
        assert!(first_two.marker);
        assert_eq!(first_two.timestamp, 5000 + 80 * 30);
        assert!(ones.iter().all(|(_, p)| p.timestamp == 5000));
    }
}
