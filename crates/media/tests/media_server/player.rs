use std::time::Duration;

use media::{
    HoldPlayer, MediaRate, MohPlayer, PlayEnd, PlayItem, PlayRequestId, PlayerEvent, Prompt,
    PromptError, PromptPlayer,
};

const RATE: MediaRate = MediaRate::Narrowband;
const FRAME: usize = 160;

/// A prompt of `len` samples counting up from `start`.
fn ramp(start: i16, len: usize) -> Prompt {
    Prompt::from_samples(RATE, (0..len).map(|i| start + i as i16).collect::<Vec<_>>())
}

fn frames(player: &mut PromptPlayer, count: usize) -> Vec<i16> {
    let mut out = Vec::new();
    let mut frame = [7i16; FRAME];
    for _ in 0..count {
        player.poll_frame(&mut frame);
        out.extend_from_slice(&frame);
    }
    out
}

fn events(player: &mut PromptPlayer) -> Vec<PlayerEvent> {
    std::iter::from_fn(|| player.poll_event()).collect()
}

fn finished(request: u64, end: PlayEnd) -> PlayerEvent {
    PlayerEvent::Finished {
        request: PlayRequestId(request),
        end,
    }
}

#[test]
fn plays_a_sequence_across_frame_boundaries_then_reports_it() {
    let mut player = PromptPlayer::new(RATE);
    let first = ramp(1, 100);
    let second = ramp(1_000, 150);
    player
        .play(
            PlayRequestId(1),
            [
                PlayItem::Prompt(first.clone()),
                PlayItem::Silence(Duration::from_millis(5)),
                PlayItem::Prompt(second.clone()),
            ],
            true,
        )
        .unwrap();
    assert!(player.is_playing());

    // 100 + 40 + 150 = 290 samples: the second frame ends the sequence.
    let audio = frames(&mut player, 1);
    assert!(events(&mut player).is_empty());
    let audio = [audio, frames(&mut player, 1)].concat();
    assert_eq!(events(&mut player), [finished(1, PlayEnd::Completed)]);
    assert!(!player.is_playing());

    let mut expected = first.samples().to_vec();
    expected.extend([0; 40]);
    expected.extend_from_slice(second.samples());
    expected.resize(2 * FRAME, 0);
    assert_eq!(audio, expected);

    // Idle: silence, and no more events.
    assert!(frames(&mut player, 3).iter().all(|&s| s == 0));
    assert!(events(&mut player).is_empty());
}

#[test]
fn a_sequence_ending_on_a_frame_boundary_is_reported_with_that_frame() {
    let mut player = PromptPlayer::new(RATE);
    player
        .play(PlayRequestId(3), [PlayItem::Prompt(ramp(1, FRAME))], false)
        .unwrap();
    let mut frame = [0; FRAME];
    assert!(player.poll_frame(&mut frame));
    assert_eq!(events(&mut player), [finished(3, PlayEnd::Completed)]);
    assert!(!player.poll_frame(&mut frame));
}

#[test]
fn queued_sequences_follow_without_a_gap() {
    let mut player = PromptPlayer::new(RATE);
    player
        .play(PlayRequestId(1), [PlayItem::Prompt(ramp(1, 50))], true)
        .unwrap();
    player
        .play(PlayRequestId(2), [PlayItem::Prompt(ramp(500, 50))], true)
        .unwrap();
    player.play(PlayRequestId(3), [], true).unwrap();
    let audio = frames(&mut player, 1);
    assert_eq!(&audio[..50], ramp(1, 50).samples());
    assert_eq!(&audio[50..100], ramp(500, 50).samples());
    assert!(audio[100..].iter().all(|&s| s == 0));
    assert_eq!(
        events(&mut player),
        [
            finished(1, PlayEnd::Completed),
            finished(2, PlayEnd::Completed),
            finished(3, PlayEnd::Completed)
        ]
    );
}

#[test]
fn barge_in_stops_only_interruptible_sequences() {
    let mut player = PromptPlayer::new(RATE);
    player
        .play(PlayRequestId(1), [PlayItem::Prompt(ramp(1, 1_000))], false)
        .unwrap();
    player
        .play(
            PlayRequestId(2),
            [PlayItem::Prompt(ramp(2_000, 1_000))],
            true,
        )
        .unwrap();
    frames(&mut player, 1);
    // The legal notice cannot be skipped.
    assert!(!player.handle_barge_in());
    assert!(events(&mut player).is_empty());
    // 1000 samples: frames 2..=6 finish it (partly into the menu).
    let audio = frames(&mut player, 6);
    assert_eq!(events(&mut player), [finished(1, PlayEnd::Completed)]);
    // The last frame: the notice's last 40 samples, then the menu's first 120.
    assert_eq!(audio[5 * FRAME + 39], 1_000);
    assert_eq!(audio[5 * FRAME + 40], 2_000);
    assert_eq!(audio[6 * FRAME - 1], 2_119);
    // The menu can.
    assert!(player.handle_barge_in());
    assert_eq!(events(&mut player), [finished(2, PlayEnd::BargedIn)]);
    assert!(!player.is_playing());
    assert!(frames(&mut player, 1).iter().all(|&s| s == 0));
    assert!(!player.handle_barge_in());
}

#[test]
fn stop_drops_everything() {
    let mut player = PromptPlayer::new(RATE);
    for id in 1..=3 {
        player
            .play(
                PlayRequestId(id),
                [PlayItem::Silence(Duration::from_secs(1))],
                false,
            )
            .unwrap();
    }
    frames(&mut player, 2);
    player.stop();
    assert_eq!(
        events(&mut player),
        [
            finished(1, PlayEnd::Stopped),
            finished(2, PlayEnd::Stopped),
            finished(3, PlayEnd::Stopped)
        ]
    );
    assert!(!player.is_playing());
}

#[test]
fn refuses_a_prompt_at_another_rate() {
    let mut player = PromptPlayer::new(MediaRate::Wideband);
    let error = player
        .play(PlayRequestId(1), [PlayItem::Prompt(ramp(0, 10))], true)
        .unwrap_err();
    assert!(matches!(
        error,
        PromptError::Rate {
            expected: MediaRate::Wideband,
            found: MediaRate::Narrowband
        }
    ));
    assert!(!player.is_playing());
    assert!(HoldPlayer::new(MediaRate::Wideband, Some(ramp(0, 10))).is_err());
}

#[test]
fn music_on_hold_loops_and_pauses_in_place() {
    let music = ramp(0, 250);
    let mut moh = MohPlayer::new(music.clone());
    let mut frame = [0i16; FRAME];
    let mut heard = Vec::new();
    for _ in 0..4 {
        assert!(moh.poll_frame(&mut frame));
        heard.extend_from_slice(&frame);
    }
    let looped: Vec<i16> = music
        .samples()
        .iter()
        .copied()
        .cycle()
        .take(4 * FRAME)
        .collect();
    assert_eq!(heard, looped);
    assert_eq!(moh.position(), Duration::from_micros(640 % 250 * 125));

    moh.pause();
    let before = moh.position();
    assert!(!moh.poll_frame(&mut frame));
    assert!(frame.iter().all(|&s| s == 0));
    assert_eq!(moh.position(), before);
    moh.resume();
    assert!(moh.poll_frame(&mut frame));
    assert_eq!(frame[0], music.samples()[640 % 250]);
}

#[test]
fn empty_music_is_silence() {
    let mut moh = MohPlayer::new(Prompt::from_samples(RATE, Vec::new()));
    let mut frame = [5i16; FRAME];
    assert!(!moh.poll_frame(&mut frame));
    assert!(frame.iter().all(|&s| s == 0));
}

#[test]
fn hold_music_resumes_where_the_announcement_interrupted_it() {
    let music = ramp(0, 10_000);
    let announcement = ramp(20_000, 2 * FRAME);
    let mut hold = HoldPlayer::new(RATE, Some(music.clone())).unwrap();
    let mut frame = [0i16; FRAME];

    // Three frames of music.
    for i in 0..3 {
        hold.poll_frame(&mut frame);
        assert_eq!(frame[..], music.samples()[i * FRAME..][..FRAME]);
    }
    // "You are number 2 in line": two frames, music paused.
    hold.announce(
        PlayRequestId(9),
        [PlayItem::Prompt(announcement.clone())],
        false,
    )
    .unwrap();
    hold.poll_frame(&mut frame);
    assert_eq!(frame[..], announcement.samples()[..FRAME]);
    hold.poll_frame(&mut frame);
    assert_eq!(frame[..], announcement.samples()[FRAME..]);
    assert_eq!(hold.poll_event(), Some(finished(9, PlayEnd::Completed)));
    assert!(hold.music().unwrap().is_paused());
    // The music goes on from the fourth frame, not from its start.
    hold.poll_frame(&mut frame);
    assert_eq!(frame[..], music.samples()[3 * FRAME..][..FRAME]);
    assert!(!hold.music().unwrap().is_paused());
}
