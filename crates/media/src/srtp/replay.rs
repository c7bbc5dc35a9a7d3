//! Packet index estimation (RFC 3711 §3.3.1) and the replay list as a
//! sliding window (§3.3.2).

use crate::error::SrtpError;

/// Width of the replay window: RFC 3711 §3.3.2 asks for at least 64.
pub(crate) const WINDOW: u64 = 64;

/// Largest SRTP packet index (48 bits, RFC 3711 §3.3.1).
pub(crate) const MAX_SRTP_INDEX: u64 = (1 << 48) - 1;

/// Indexes received (or sent) for one SSRC: the highest, and a bit per
/// index of the 64 below and including it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ReplayWindow {
    highest: Option<u64>,
    /// Bit n set: index `highest - n` was accepted.
    seen: u64,
}

impl ReplayWindow {
    pub(crate) fn highest(&self) -> Option<u64> {
        self.highest
    }

    /// Refuses an index already accepted, or left of the window.
    pub(crate) fn check(&self, index: u64) -> Result<(), SrtpError> {
        let Some(highest) = self.highest else {
            return Ok(());
        };
        if index > highest {
            return Ok(());
        }
        let age = highest - index;
        if age >= WINDOW {
            return Err(SrtpError::TooOld);
        }
        if self.seen >> age & 1 == 1 {
            return Err(SrtpError::Replayed(index));
        }
        Ok(())
    }

    /// Records `index` (after authentication: RFC 3711 §3.3 step 7).
    pub(crate) fn accept(&mut self, index: u64) {
        match self.highest {
            Some(highest) if index <= highest => {
                let age = highest - index;
                if age < WINDOW {
                    self.seen |= 1 << age;
                }
            }
            Some(highest) => {
                let shift = index - highest;
                self.seen = if shift >= WINDOW {
                    0
                } else {
                    self.seen << shift
                };
                self.seen |= 1;
                self.highest = Some(index);
            }
            None => {
                self.seen = 1;
                self.highest = Some(index);
            }
        }
    }
}

/// The index of a packet with sequence number `seq`, given the highest
/// index so far (RFC 3711 §3.3.1 and Appendix A): the one of ROC - 1, ROC
/// and ROC + 1 that is closest to it. `None` when that would be before
/// index 0.
pub(crate) fn estimate_index(highest: u64, seq: u16) -> Option<u64> {
    let roc = highest >> 16;
    let s_l = (highest & 0xffff) as u16;
    let v = if s_l < 0x8000 {
        if seq > s_l && seq - s_l > 0x8000 {
            roc.checked_sub(1)?
        } else {
            roc
        }
    } else if s_l - 0x8000 > seq {
        roc + 1
    } else {
        roc
    };
    Some(v << 16 | u64::from(seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimation_around_rollover() {
        // ROC 0, s_l 65530: seq 3 is in ROC 1, 65500 in ROC 0.
        assert_eq!(estimate_index(65_530, 3), Some(65_539));
        assert_eq!(estimate_index(65_530, 65_500), Some(65_500));
        // ROC 1, s_l 3: seq 65530 belongs to ROC 0.
        assert_eq!(estimate_index(65_539, 65_530), Some(65_530));
        assert_eq!(estimate_index(65_539, 10), Some(65_546));
        // ROC 0, s_l 10: seq 60000 would be ROC -1.
        assert_eq!(estimate_index(10, 60_000), None);
        // Exactly half way stays in the current ROC.
        assert_eq!(estimate_index(0x1_0000, 0x8000), Some(0x1_8000));
        assert_eq!(estimate_index(0x1_8000, 0), Some(0x1_0000));
        assert_eq!(estimate_index(0x1_8001, 0), Some(0x2_0000));
        assert_eq!(estimate_index(0x1_7fff, 0xffff), Some(0x1_ffff));
        assert_eq!(estimate_index(0x1_0000, 0x8001), Some(0x0_8001));
    }

    #[test]
    fn window() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.check(5), Ok(()));
        w.accept(5);
        assert_eq!(w.check(5), Err(SrtpError::Replayed(5)));
        assert_eq!(w.check(4), Ok(()));
        w.accept(100);
        assert_eq!(w.highest(), Some(100));
        assert_eq!(w.check(5), Err(SrtpError::TooOld));
        assert_eq!(w.check(36), Err(SrtpError::TooOld));
        assert_eq!(w.check(37), Ok(()));
        w.accept(37);
        assert_eq!(w.check(37), Err(SrtpError::Replayed(37)));
        w.accept(101);
        assert_eq!(w.check(37), Err(SrtpError::TooOld));
        assert_eq!(w.check(100), Err(SrtpError::Replayed(100)));
        assert_eq!(w.check(99), Ok(()));
        // A jump past the window forgets everything older.
        w.accept(1_000);
        assert_eq!(w.check(990), Ok(()));
        assert_eq!(w.check(101), Err(SrtpError::TooOld));
    }
}
