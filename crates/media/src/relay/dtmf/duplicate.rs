//! One key press reaching a leg twice: a carrier that sends each press
//! both as SIP INFO (which the call layer turns into
//! [`MediaRelay::send_dtmf`](crate::MediaRelay::send_dtmf) toward its
//! bridge partner) and as RFC 4733 events in its RTP (forwarded to the
//! partner, or converted to tones for it).
//!
//! Each leg remembers, for [`DUPLICATE_WINDOW`], the presses given to
//! it each way and not matched yet: those of ours (INFO) and those of
//! its partner's RTP. A press of one form that finds an unmatched press
//! of the same key in the other form is the same press arriving again:
//! it is not given, and it uses the other one up, so two presses of the
//! same key sent both ways are two presses, and a carrier that sends
//! only one form never loses one. The first form to arrive wins:
//!
//! - a press of ours after the partner's event: not sent;
//! - the partner's event after a press of ours: its packets are dropped
//!   ([`DropReason::DuplicateDtmf`]), all of them, keyed by its RTP
//!   timestamp (RFC 4733 §2.5.1.2); a press converted to tones is not
//!   played.
//!
//! [`DropReason::DuplicateDtmf`]: crate::DropReason::DuplicateDtmf

use std::time::{Duration, Instant};

use crate::dtmf::DtmfDigit;

/// How long after a press (the last packet of a forwarded event, the
/// end of a press of ours as if sent at once) the same key in the other
/// form is taken as the same press. An INFO and the events of one press
/// leave a carrier together, a second press of the same key takes a
/// person at least a few hundred milliseconds, and the matching above
/// keeps quick presses apart: one second covers network and queueing
/// delays between the two forms.
pub(crate) const DUPLICATE_WINDOW: Duration = Duration::from_secs(1);
/// Unmatched presses remembered each way.
const REMEMBERED: usize = 4;

/// A press given to the leg, not matched yet.
#[derive(Debug, Clone, Copy)]
struct Press {
    digit: DtmfDigit,
    /// The end of its window.
    until: Instant,
    /// The RTP timestamp of the forwarded event it is, if one.
    event: Option<u32>,
}

/// The partner's telephone-event being forwarded to the leg.
#[derive(Debug, Clone, Copy)]
struct Forwarding {
    timestamp: u32,
    code: u8,
    /// Dropped: a press of ours came first.
    duplicate: bool,
}

/// The presses given to one leg each way; see the module docs.
#[derive(Debug, Default)]
pub(super) struct DuplicateFilter {
    ours: [Option<Press>; REMEMBERED],
    relayed: [Option<Press>; REMEMBERED],
    forwarding: Option<Forwarding>,
}

/// Takes out an unmatched press of `digit` still in its window.
fn take(presses: &mut [Option<Press>], digit: DtmfDigit, now: Instant) -> bool {
    let found = presses
        .iter_mut()
        .filter(|press| press.is_some_and(|press| press.digit == digit && now <= press.until))
        .min_by_key(|press| press.map(|press| press.until));
    match found {
        Some(press) => {
            *press = None;
            true
        }
        None => false,
    }
}

/// Remembers `press` in place of a free, or the oldest, entry.
fn remember(presses: &mut [Option<Press>], press: Press) {
    let slot = presses
        .iter_mut()
        .min_by_key(|entry| entry.map(|entry| entry.until));
    if let Some(slot) = slot {
        *slot = Some(press);
    }
}

impl DuplicateFilter {
    /// A press of ours of `digit` held `duration`, at `now`: whether it
    /// is a duplicate (not to be sent).
    pub(super) fn handle_ours(
        &mut self,
        now: Instant,
        digit: DtmfDigit,
        duration: Duration,
    ) -> bool {
        if take(&mut self.relayed, digit, now) {
            return true;
        }
        let until = now + duration + DUPLICATE_WINDOW;
        let press = Press {
            digit,
            until,
            event: None,
        };
        remember(&mut self.ours, press);
        false
    }

    /// A press of the partner converted for the leg (tones, events of
    /// ours) at `now`, the end of the press: whether it is a duplicate.
    pub(super) fn handle_converted(&mut self, now: Instant, digit: DtmfDigit) -> bool {
        if take(&mut self.ours, digit, now) {
            return true;
        }
        let press = Press {
            digit,
            until: now + DUPLICATE_WINDOW,
            event: None,
        };
        remember(&mut self.relayed, press);
        false
    }

    /// A packet of the partner's telephone-event `code` of RTP
    /// `timestamp`, forwarded to the leg at `now`: whether to drop it,
    /// and whether it is the first packet of such an event (for
    /// counting presses).
    pub(super) fn handle_forwarded(
        &mut self,
        now: Instant,
        timestamp: u32,
        code: u8,
    ) -> (bool, bool) {
        let Some(digit) = DtmfDigit::from_event_code(code) else {
            return (false, false);
        };
        if let Some(current) = self.forwarding {
            if current.timestamp == timestamp && current.code == code {
                if !current.duplicate {
                    let press = self
                        .relayed
                        .iter_mut()
                        .flatten()
                        .find(|press| press.event == Some(timestamp));
                    if let Some(press) = press {
                        press.until = now + DUPLICATE_WINDOW;
                    }
                }
                return (current.duplicate, false);
            }
            // Serial number arithmetic (RFC 1982): a late packet of an
            // earlier event goes as it is.
            if (timestamp.wrapping_sub(current.timestamp) as i32) < 0 {
                return (false, false);
            }
        }
        let duplicate = take(&mut self.ours, digit, now);
        self.forwarding = Some(Forwarding {
            timestamp,
            code,
            duplicate,
        });
        if !duplicate {
            let press = Press {
                digit,
                until: now + DUPLICATE_WINDOW,
                event: Some(timestamp),
            };
            remember(&mut self.relayed, press);
        }
        (duplicate, duplicate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE: DtmfDigit = DtmfDigit::Five;
    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn each_press_of_one_form_uses_up_one_of_the_other() {
        let now = Instant::now();
        let mut filter = DuplicateFilter::default();
        // Two presses of 5 as events, then the two INFOs.
        assert_eq!(filter.handle_forwarded(now, 100, 5), (false, false));
        assert_eq!(
            filter.handle_forwarded(now + 20 * MS, 100, 5),
            (false, false)
        );
        assert_eq!(
            filter.handle_forwarded(now + 200 * MS, 900, 5),
            (false, false)
        );
        assert!(filter.handle_ours(now + 250 * MS, FIVE, 100 * MS));
        assert!(filter.handle_ours(now + 260 * MS, FIVE, 100 * MS));
        // A third INFO has nothing left to match: sent.
        assert!(!filter.handle_ours(now + 270 * MS, FIVE, 100 * MS));
        // ... and the event that follows it is its duplicate.
        assert_eq!(
            filter.handle_forwarded(now + 280 * MS, 1700, 5),
            (true, true)
        );
        assert_eq!(
            filter.handle_forwarded(now + 300 * MS, 1700, 5),
            (true, false)
        );
        // Other keys, and non-DTMF events, are not matched.
        assert!(!filter.handle_converted(now + 300 * MS, DtmfDigit::Six));
        assert_eq!(
            filter.handle_forwarded(now + 300 * MS, 2500, 16),
            (false, false)
        );
    }

    #[test]
    fn the_window_runs_from_the_last_packet_of_an_event() {
        let now = Instant::now();
        let mut filter = DuplicateFilter::default();
        filter.handle_forwarded(now, 100, 5);
        // A 3 s press: its packets keep the window open.
        for ms in (0..3000).step_by(50) {
            filter.handle_forwarded(now + ms * MS, 100, 5);
        }
        assert!(filter.handle_ours(now + 3900 * MS, FIVE, 3000 * MS));
        filter.handle_forwarded(now + 5000 * MS, 900, 5);
        assert!(!filter.handle_ours(now + 6001 * MS, FIVE, 100 * MS));
    }
}
