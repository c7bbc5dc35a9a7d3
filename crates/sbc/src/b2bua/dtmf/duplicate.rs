//! One key press reaching an INFO leg twice: a partner that sends each
//! press both as SIP INFO (relayed to the leg as it is) and as RFC 4733
//! events or tones in its RTP (which the media relay reports once per
//! press, and [`B2bua::send_dtmf_info`](crate::B2bua::send_dtmf_info)
//! sends to the leg as INFO of our own).
//!
//! The rule is the media relay's toward RFC 4733 legs
//! (`media::relay::dtmf::duplicate`): each leg remembers, for
//! [`DUPLICATE_WINDOW`], the presses given to it each way and not
//! matched yet. A press of one form that finds an unmatched press of the
//! same key in the other form is the same press arriving again: it is
//! not given, and it uses the other one up, so two presses of the same
//! key sent both ways are two presses, and a partner that sends only one
//! form never loses one. The first form to arrive wins.

use std::time::{Duration, Instant};

/// How long after a press (the end of a relayed INFO's press as if it
/// started when the INFO came; the report of a converted press, made
/// when the press ended) the same key in the other form is taken as the
/// same press. An INFO and the events of one press leave a carrier
/// together, a second press of the same key takes a person at least a
/// few hundred milliseconds, and the matching keeps quick presses
/// apart: one second covers network and queueing delays between the two
/// forms. The media relay's `DUPLICATE_WINDOW`, so both directions of
/// interworking agree.
pub(super) const DUPLICATE_WINDOW: Duration = Duration::from_secs(1);
/// Unmatched presses remembered each way; the oldest is forgotten first.
const REMEMBERED: usize = 4;

/// A press given to the leg, not matched yet.
#[derive(Debug, Clone, Copy)]
struct Press {
    /// `0`-`9`, `*`, `#`, `A`-`D`.
    digit: char,
    /// The end of its window.
    until: Instant,
}

/// The presses given to one INFO leg each way; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct InfoDuplicates {
    /// Relayed from the partner's INFO.
    relayed: [Option<Press>; REMEMBERED],
    /// Converted from the partner's RTP by the media relay.
    converted: [Option<Press>; REMEMBERED],
}

/// Takes out the oldest unmatched press of `digit` still in its window.
fn take(presses: &mut [Option<Press>], digit: char, now: Instant) -> bool {
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

impl InfoDuplicates {
    /// The partner's INFO with a press of `digit` held `duration`, to be
    /// relayed at `now`: whether it is a duplicate (not to be relayed).
    pub(crate) fn handle_relayed(&mut self, now: Instant, digit: char, duration: Duration) -> bool {
        if take(&mut self.converted, digit, now) {
            return true;
        }
        let until = now + duration + DUPLICATE_WINDOW;
        remember(&mut self.relayed, Press { digit, until });
        false
    }

    /// A press of `digit` converted from the partner's RTP, reported at
    /// `now` (the end of the press): whether it is a duplicate (not to
    /// be sent).
    pub(crate) fn handle_converted(&mut self, now: Instant, digit: char) -> bool {
        if take(&mut self.relayed, digit, now) {
            return true;
        }
        let until = now + DUPLICATE_WINDOW;
        remember(&mut self.converted, Press { digit, until });
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn each_press_of_one_form_uses_up_one_of_the_other() {
        let now = Instant::now();
        let mut presses = InfoDuplicates::default();
        // Two INFOs of 5, then the two converted presses.
        assert!(!presses.handle_relayed(now, '5', 100 * MS));
        assert!(!presses.handle_relayed(now + 200 * MS, '5', 100 * MS));
        assert!(presses.handle_converted(now + 250 * MS, '5'));
        assert!(presses.handle_converted(now + 400 * MS, '5'));
        // A third has nothing left to match: sent ...
        assert!(!presses.handle_converted(now + 700 * MS, '5'));
        // ... and the INFO that follows it is its duplicate.
        assert!(presses.handle_relayed(now + 750 * MS, '5', 100 * MS));
        // Other keys are not matched.
        assert!(!presses.handle_relayed(now + 800 * MS, '6', 100 * MS));
        assert!(!presses.handle_converted(now + 900 * MS, '7'));
    }

    #[test]
    fn the_window_of_an_info_runs_from_the_end_of_its_press() {
        let now = Instant::now();
        let mut presses = InfoDuplicates::default();
        presses.handle_relayed(now, '#', 3000 * MS);
        assert!(presses.handle_converted(now + 3900 * MS, '#'));
        presses.handle_converted(now + 5000 * MS, '#');
        assert!(!presses.handle_relayed(now + 6001 * MS, '#', 100 * MS));
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_is_forgotten() {
        let now = Instant::now();
        let mut presses = InfoDuplicates::default();
        for n in 0..=REMEMBERED as u32 {
            assert!(!presses.handle_relayed(now + n * MS, '1', 100 * MS));
        }
        for _ in 0..REMEMBERED {
            assert!(presses.handle_converted(now + 200 * MS, '1'));
        }
        assert!(!presses.handle_converted(now + 200 * MS, '1'));
    }
}
