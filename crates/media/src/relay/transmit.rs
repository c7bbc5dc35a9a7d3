//! Packets the relay makes itself, and the timers that pace them.
//!
//! Two parts of a leg send on clocks of their own ([`Sender`]): its
//! local end (`local/`: played frames, RTCP reports) and its DTMF
//! (`dtmf/`: RFC 4733 events and tones toward it). Both also wait for
//! the end of a received telephone-event whose end packets were lost.
//! Conferences (`conference/`) tick on the same heap, and so do the
//! reorder waits of transcoding directions (`transcode/`, whose frames
//! go out of their own queue).
//!
//! Timers: a binary heap of (instant, [`Timer`]), lazily deleted. Each
//! sender remembers the earliest instant the heap holds for it
//! ([`Schedule`]); an earlier need pushes a new entry, a later one waits
//! for the entry in place to fire and is pushed then, and an entry that
//! is not its sender's `scheduled` any more is skipped. A sender whose
//! time has come goes to the `ready` queue until
//! [`MediaRelay::poll_transmit`] has sent all it has.

use std::cmp::Reverse;
use std::collections::VecDeque;
use std::time::Instant;

use super::{Forward, Leg, MediaEvent, MediaRelay, Origin, Timer};

/// Which part of a leg sends a packet made here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Sender {
    /// Its local end (`local/`).
    Local,
    /// Its DTMF toward the leg (`dtmf/`).
    Dtmf,
}

/// Where a sender stands with the relay's timer heap and ready queue.
#[derive(Debug, Default)]
pub(super) struct Schedule {
    /// The earliest instant the heap holds for it.
    scheduled: Option<Instant>,
    /// In the `ready` queue.
    queued: bool,
}

/// A part of a leg that makes packets on its own clock.
pub(super) trait TimedSender {
    /// Its place on the relay's timers.
    fn schedule(&mut self) -> &mut Schedule;

    /// The earliest instant something is due.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Runs what is due at `now` besides sending.
    fn handle_timeout(&mut self, now: Instant, events: &mut VecDeque<MediaEvent>);

    /// Whether a packet is due at `now`.
    fn has_transmit(&self, now: Instant) -> bool;
}

/// The `sender` of the leg in `slot`, if the leg is there and has one.
fn sender_mut(
    legs: &mut [Option<Leg>],
    slot: usize,
    sender: Sender,
) -> Option<&mut dyn TimedSender> {
    let leg = legs.get_mut(slot)?.as_mut()?;
    match sender {
        Sender::Local => Some(leg.local.as_deref_mut()?),
        Sender::Dtmf => Some(leg.dtmf.as_deref_mut()?),
    }
}

impl MediaRelay {
    /// Puts the next due time of the leg's `sender` on the timer heap,
    /// unless an entry at least as early is there or it waits in
    /// `ready`.
    pub(super) fn arm(&mut self, slot: usize, sender: Sender) {
        let Some(part) = sender_mut(&mut self.legs, slot, sender) else {
            return;
        };
        let Some(due) = part.poll_timeout() else {
            return;
        };
        let schedule = part.schedule();
        if !schedule.queued && schedule.scheduled.is_none_or(|scheduled| due < scheduled) {
            schedule.scheduled = Some(due);
            self.timers.push(Reverse((due, Timer::Leg(slot, sender))));
        }
    }

    /// Takes the leg in `slot` out of the `ready` queue (it is removed).
    pub(super) fn unqueue(&mut self, slot: usize) {
        self.ready.retain(|&(queued, _)| queued != slot);
    }

    /// Runs the senders and conferences whose time has come: packets to
    /// send into `ready` (conferences: into `conference_ready`).
    pub(super) fn handle_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, timer))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::Leg(slot, sender) => self.handle_sender_timer(now, at, slot, sender),
                Timer::Conference(session) => self.handle_conference_timer(now, at, session),
                Timer::Transcode(slot) => self.handle_transcode_timer(now, at, slot),
            }
        }
    }

    /// The timer entry for `at` of the leg's `sender` fired at `now`.
    fn handle_sender_timer(&mut self, now: Instant, at: Instant, slot: usize, sender: Sender) {
        let Self {
            legs,
            events,
            ready,
            ..
        } = self;
        let Some(part) = sender_mut(legs, slot, sender) else {
            return;
        };
        if part.schedule().scheduled != Some(at) {
            // Superseded by an earlier entry, or the slot's old leg.
            return;
        }
        part.schedule().scheduled = None;
        part.handle_timeout(now, events);
        if part.has_transmit(now) {
            part.schedule().queued = true;
            ready.push_back((slot, sender));
        } else {
            self.arm(slot, sender);
        }
        if sender == Sender::Dtmf {
            // A press whose end packets were lost has ended.
            self.deliver_heard(now, slot);
        }
    }

    /// The next packet made here, written into `buf` (at least 1500
    /// bytes, like a received datagram's): a frame of a play, DTMF
    /// toward a leg (see `relay/dtmf`), an RTCP report, a transcoded
    /// frame or a conference's mix, rewritten into the leg's stream and
    /// protected like a relayed packet. Call after
    /// [`MediaRelay::handle_timeout`] until `None`. Packets that cannot
    /// go (no destination yet, the peer holds) are counted as drops and
    /// skipped.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Forward> {
        while let Some(&(slot, sender)) = self.ready.front() {
            let packet = match sender {
                Sender::Local => self.poll_local_packet(now, slot, buf),
                Sender::Dtmf => self.poll_dtmf_packet(now, slot, buf),
            };
            let Some((rtcp, len)) = packet else {
                // All sent (or the leg is gone): back on the timer heap.
                if let Some(part) = sender_mut(&mut self.legs, slot, sender) {
                    part.schedule().queued = false;
                }
                self.ready.pop_front();
                self.arm(slot, sender);
                continue;
            };
            match self.send_to(now, slot, Origin::Local, rtcp, None, buf, len) {
                Ok(forward) => return Some(forward),
                Err(reason) => {
                    self.drop(None, reason);
                }
            }
        }
        if let Some(forward) = self.poll_transcoded(now, buf) {
            return Some(forward);
        }
        self.poll_conference_transmit(now, buf)
    }
}
