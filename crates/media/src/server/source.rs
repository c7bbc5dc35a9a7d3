//! What a local leg plays: any producer of 20 ms PCM frames
//! ([`FrameSource`]), implemented for the media server's players and for
//! [`TonePlayer`].

use std::any::Any;

use super::{HoldPlayer, MediaRate, MohPlayer, PromptPlayer};
use crate::tone::TonePlayer;

/// What [`FrameSource::poll_frame`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameStatus {
    /// `out` holds the next frame (a source that runs out mid-frame pads
    /// it with silence).
    Audio,
    /// The source has ended; `out` holds nothing to send and the source
    /// is not polled again.
    Ended,
}

/// A producer of 16-bit PCM frames of 20 ms, played toward a leg by
/// [`MediaRelay::play`](crate::MediaRelay::play) /
/// [`MediaDriver::play`](crate::MediaDriver::play).
///
/// The relay asks for one frame every 20 ms of the leg's clock, from its
/// shard thread (hence `Send`), with `out` exactly
/// [`rate().frame_len()`](MediaRate::frame_len) samples long; frames at
/// another rate than the leg's codec are converted. `poll_frame` must not
/// block, and should not allocate: it runs on the packet path.
pub trait FrameSource: Send {
    /// The sample rate of the frames; read once, when playing starts.
    fn rate(&self) -> MediaRate;

    /// Fills `out` with the next frame, or says the source has ended.
    fn poll_frame(&mut self, out: &mut [i16]) -> FrameStatus;

    /// The source as [`Any`], so that a caller can reach the concrete
    /// player while it plays (e.g. to queue an announcement on a
    /// [`HoldPlayer`] with
    /// [`MediaDriver::update_source`](crate::MediaDriver::update_source)).
    /// `None` (the default) for sources that do not allow it.
    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        None
    }
}

/// Plays its queued sequences; ends when none is left (queue them before
/// handing the player over).
impl FrameSource for PromptPlayer {
    fn rate(&self) -> MediaRate {
        PromptPlayer::rate(self)
    }

    fn poll_frame(&mut self, out: &mut [i16]) -> FrameStatus {
        if PromptPlayer::poll_frame(self, out) {
            FrameStatus::Audio
        } else {
            FrameStatus::Ended
        }
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        Some(self)
    }
}

/// Music on hold never ends (paused, it plays silence).
impl FrameSource for MohPlayer {
    fn rate(&self) -> MediaRate {
        MohPlayer::rate(self)
    }

    fn poll_frame(&mut self, out: &mut [i16]) -> FrameStatus {
        MohPlayer::poll_frame(self, out);
        FrameStatus::Audio
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        Some(self)
    }
}

/// Music with announcements never ends.
impl FrameSource for HoldPlayer {
    fn rate(&self) -> MediaRate {
        HoldPlayer::rate(self)
    }

    fn poll_frame(&mut self, out: &mut [i16]) -> FrameStatus {
        HoldPlayer::poll_frame(self, out);
        FrameStatus::Audio
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        Some(self)
    }
}

/// A tone at 8 kHz: ends with a tone that is not repeated (a DTMF key, a
/// beep), never with a cadence (ringback, busy).
impl FrameSource for TonePlayer {
    fn rate(&self) -> MediaRate {
        MediaRate::Narrowband
    }

    fn poll_frame(&mut self, out: &mut [i16]) -> FrameStatus {
        if self.is_finished() {
            return FrameStatus::Ended;
        }
        self.fill(out);
        FrameStatus::Audio
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        Some(self)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::server::{PlayItem, PlayRequestId, Prompt};
    use crate::tone::Tone;
    use crate::DtmfDigit;

    #[test]
    fn prompt_player_ends_after_its_last_partial_frame() {
        let prompt = Prompt::from_samples(MediaRate::Narrowband, vec![7i16; 200]);
        let mut player = PromptPlayer::new(MediaRate::Narrowband);
        player
            .play(PlayRequestId(1), [PlayItem::Prompt(prompt)], false)
            .unwrap();
        let source: &mut dyn FrameSource = &mut player;
        let mut frame = [0i16; 160];
        assert_eq!(source.poll_frame(&mut frame), FrameStatus::Audio);
        assert_eq!(frame, [7; 160]);
        assert_eq!(source.poll_frame(&mut frame), FrameStatus::Audio);
        assert_eq!((frame[39], frame[40]), (7, 0));
        assert_eq!(source.poll_frame(&mut frame), FrameStatus::Ended);
        assert!(source.as_any_mut().unwrap().is::<PromptPlayer>());
    }

    #[test]
    fn hold_music_never_ends_and_a_dtmf_tone_does() {
        let music = Prompt::from_samples(MediaRate::Wideband, vec![3i16; 100]);
        let mut hold = HoldPlayer::new(MediaRate::Wideband, Some(music)).unwrap();
        assert_eq!(FrameSource::rate(&hold), MediaRate::Wideband);
        let mut frame = [0i16; 320];
        for _ in 0..10 {
            assert_eq!(
                FrameSource::poll_frame(&mut hold, &mut frame),
                FrameStatus::Audio
            );
        }
        let mut tone = TonePlayer::new(Tone::Dtmf {
            digit: DtmfDigit::Five,
            duration: std::time::Duration::from_millis(30),
        });
        let mut frame = [0i16; 160];
        assert_eq!(
            FrameSource::poll_frame(&mut tone, &mut frame),
            FrameStatus::Audio
        );
        assert_eq!(
            FrameSource::poll_frame(&mut tone, &mut frame),
            FrameStatus::Audio
        );
        assert_eq!(
            FrameSource::poll_frame(&mut tone, &mut frame),
            FrameStatus::Ended
        );
    }
}
