//! The internal unit of the media server: 20 ms frames of 16-bit linear
//! PCM at the rate of the call's codec (RFC 3551 §4.5: G.711 runs at
//! 8 kHz, and 20 ms is the default packet time; G.722 samples at 16 kHz,
//! §4.5.2).

use std::time::Duration;

/// Length of one frame, the unit every player, recorder and mixer here
/// works in.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);

/// Sample rate of the PCM a call's media is decoded to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaRate {
    /// 8 kHz narrowband (G.711 μ-law / A-law): 160 samples a frame.
    Narrowband,
    /// 16 kHz wideband (G.722): 320 samples a frame.
    Wideband,
}

impl MediaRate {
    /// Samples per second.
    pub const fn hz(self) -> u32 {
        match self {
            Self::Narrowband => 8_000,
            Self::Wideband => 16_000,
        }
    }

    /// Samples in one 20 ms frame.
    pub const fn frame_len(self) -> usize {
        match self {
            Self::Narrowband => 160,
            Self::Wideband => 320,
        }
    }

    /// Samples in `duration`, rounded down.
    pub fn samples_in(self, duration: Duration) -> usize {
        // At most 16 000 samples a second: a `Duration` of u64 seconds
        // times 16 000 fits u128, and the result saturates into usize.
        let samples = duration.as_nanos() * u128::from(self.hz()) / 1_000_000_000;
        usize::try_from(samples).unwrap_or(usize::MAX)
    }

    /// Whole frames in `duration`, rounded up (a partial frame still
    /// takes a frame slot).
    pub fn frames_in(self, duration: Duration) -> usize {
        self.samples_in(duration).div_ceil(self.frame_len())
    }

    /// Duration of `samples` samples.
    pub fn duration_of(self, samples: usize) -> Duration {
        let samples = u64::try_from(samples).unwrap_or(u64::MAX);
        Duration::from_nanos(samples.saturating_mul(1_000_000_000) / u64::from(self.hz()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_is_twenty_milliseconds_at_both_rates() {
        for rate in [MediaRate::Narrowband, MediaRate::Wideband] {
            assert_eq!(rate.samples_in(FRAME_DURATION), rate.frame_len());
            assert_eq!(rate.duration_of(rate.frame_len()), FRAME_DURATION);
            assert_eq!(rate.frames_in(Duration::from_millis(30)), 2);
            assert_eq!(rate.frames_in(Duration::from_secs(1)), 50);
        }
    }
}
