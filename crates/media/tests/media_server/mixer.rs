use media::{Conference, MediaRate, MixerError, ParticipantId, ParticipantRole};

const RATE: MediaRate = MediaRate::Narrowband;
const CALLER: ParticipantId = ParticipantId(1);
const AGENT: ParticipantId = ParticipantId(2);
const SUPERVISOR: ParticipantId = ParticipantId(3);

/// One frame of a sine with a whole number of cycles per frame, so the
/// voices of different participants are orthogonal over a frame.
fn voice(cycles: usize) -> Vec<i16> {
    let len = RATE.frame_len();
    (0..len)
        .map(|i| {
            let phase = 2.0 * std::f64::consts::PI * (cycles * i) as f64 / len as f64;
            (6_000.0 * phase.sin()).round() as i16
        })
        .collect()
}

/// Voices: caller 10 cycles a frame (500 Hz), agent 20 (1 kHz),
/// supervisor 30 (1.5 kHz).
fn voices() -> [(ParticipantId, Vec<i16>); 3] {
    [
        (CALLER, voice(10)),
        (AGENT, voice(20)),
        (SUPERVISOR, voice(30)),
    ]
}

/// How much of `reference` is in `output`: ~1.0 when it is heard at full
/// level, ~0.0 when it is not (normalised correlation).
fn share(output: &[i16], reference: &[i16]) -> f64 {
    let dot: f64 = output
        .iter()
        .zip(reference)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum();
    let energy: f64 = reference.iter().map(|&b| f64::from(b).powi(2)).sum();
    dot / energy
}

fn energy(samples: &[i16]) -> f64 {
    samples.iter().map(|&s| f64::from(s).powi(2)).sum()
}

/// Mixes one tick where everyone speaks and returns, for each listener,
/// which participants it hears.
fn heard(conference: &mut Conference) -> Vec<(ParticipantId, Vec<ParticipantId>)> {
    let voices = voices();
    for (id, frame) in &voices {
        conference.handle_frame(*id, frame).unwrap();
    }
    conference.mix();
    let single = energy(&voices[0].1);
    voices
        .iter()
        .map(|(listener, _)| {
            let output = conference.output(*listener).unwrap();
            let mut heard = Vec::new();
            for (speaker, frame) in &voices {
                let share = share(output, frame);
                assert!(
                    share.abs() < 0.01 || (share - 1.0).abs() < 0.01,
                    "{listener} hears {speaker} at {share}"
                );
                if share > 0.5 {
                    heard.push(*speaker);
                }
            }
            // Energy is that of the voices heard, no more (orthogonal
            // voices of equal level add their energies).
            let ratio = energy(output) / single;
            assert!(
                (ratio - heard.len() as f64).abs() < 0.01,
                "{listener}: energy ratio {ratio}, hears {heard:?}"
            );
            (*listener, heard)
        })
        .collect()
}

fn call_with_supervisor(role: ParticipantRole) -> Conference {
    let mut conference = Conference::new(RATE);
    conference.add(CALLER, ParticipantRole::Normal).unwrap();
    conference.add(AGENT, ParticipantRole::Normal).unwrap();
    conference.add(SUPERVISOR, role).unwrap();
    conference
}

#[test]
fn three_way_call_everyone_hears_the_others_but_not_themselves() {
    let mut conference = call_with_supervisor(ParticipantRole::Normal);
    assert_eq!(
        heard(&mut conference),
        [
            (CALLER, vec![AGENT, SUPERVISOR]),
            (AGENT, vec![CALLER, SUPERVISOR]),
            (SUPERVISOR, vec![CALLER, AGENT]),
        ]
    );
}

#[test]
fn listen_hears_both_and_is_heard_by_nobody() {
    let mut conference = call_with_supervisor(ParticipantRole::Listen);
    assert_eq!(
        heard(&mut conference),
        [
            (CALLER, vec![AGENT]),
            (AGENT, vec![CALLER]),
            (SUPERVISOR, vec![CALLER, AGENT]),
        ]
    );
}

#[test]
fn whisper_is_heard_by_the_agent_only() {
    let mut conference = call_with_supervisor(ParticipantRole::Whisper { target: AGENT });
    assert_eq!(
        heard(&mut conference),
        [
            (CALLER, vec![AGENT]),
            (AGENT, vec![CALLER, SUPERVISOR]),
            (SUPERVISOR, vec![CALLER, AGENT]),
        ]
    );
}

#[test]
fn barge_is_heard_by_both_and_roles_change_mid_call() {
    let mut conference = call_with_supervisor(ParticipantRole::Listen);
    heard(&mut conference);
    conference
        .set_role(SUPERVISOR, ParticipantRole::Whisper { target: AGENT })
        .unwrap();
    heard(&mut conference);
    conference
        .set_role(SUPERVISOR, ParticipantRole::Barge)
        .unwrap();
    assert_eq!(conference.role(SUPERVISOR), Some(ParticipantRole::Barge));
    assert_eq!(
        heard(&mut conference),
        [
            (CALLER, vec![AGENT, SUPERVISOR]),
            (AGENT, vec![CALLER, SUPERVISOR]),
            (SUPERVISOR, vec![CALLER, AGENT]),
        ]
    );
}

#[test]
fn alone_in_a_conference_hears_nothing_of_itself() {
    let mut conference = Conference::new(RATE);
    conference.add(CALLER, ParticipantRole::Normal).unwrap();
    conference.handle_frame(CALLER, &voice(10)).unwrap();
    conference.mix();
    assert!(conference.output(CALLER).unwrap().iter().all(|&s| s == 0));
}

#[test]
fn a_party_that_sent_nothing_is_silent() {
    let mut conference = call_with_supervisor(ParticipantRole::Normal);
    conference.handle_frame(CALLER, &voice(10)).unwrap();
    conference.mix();
    assert_eq!(conference.output(AGENT).unwrap(), &voice(10)[..]);
    assert!(conference.output(CALLER).unwrap().iter().all(|&s| s == 0));
    // Inputs last one tick.
    conference.mix();
    assert!(conference.output(AGENT).unwrap().iter().all(|&s| s == 0));
}

#[test]
fn loud_sums_clamp_instead_of_wrapping() {
    let mut conference = Conference::new(RATE);
    let loud = vec![30_000i16; RATE.frame_len()];
    let quiet = vec![-30_000i16; RATE.frame_len()];
    for id in 1..=4 {
        conference
            .add(ParticipantId(id), ParticipantRole::Normal)
            .unwrap();
    }
    conference.handle_frame(ParticipantId(1), &loud).unwrap();
    conference.handle_frame(ParticipantId(2), &loud).unwrap();
    conference.handle_frame(ParticipantId(3), &quiet).unwrap();
    conference.mix();
    // 4 hears 30000 + 30000 - 30000; 3 hears 60000 -> 32767; 1 hears 0.
    assert!(conference
        .output(ParticipantId(4))
        .unwrap()
        .iter()
        .all(|&s| s == 30_000));
    assert!(conference
        .output(ParticipantId(3))
        .unwrap()
        .iter()
        .all(|&s| s == i16::MAX));
    assert!(conference
        .output(ParticipantId(1))
        .unwrap()
        .iter()
        .all(|&s| s == 0));
    conference.handle_frame(ParticipantId(1), &quiet).unwrap();
    conference.handle_frame(ParticipantId(2), &quiet).unwrap();
    conference.mix();
    assert!(conference
        .output(ParticipantId(3))
        .unwrap()
        .iter()
        .all(|&s| s == i16::MIN));
}

#[test]
fn refuses_bad_participants_and_frames() {
    let mut conference = Conference::new(RATE);
    conference.add(AGENT, ParticipantRole::Normal).unwrap();
    assert_eq!(
        conference.add(AGENT, ParticipantRole::Normal),
        Err(MixerError::DuplicateParticipant(AGENT))
    );
    assert_eq!(
        conference.add(SUPERVISOR, ParticipantRole::Whisper { target: CALLER }),
        Err(MixerError::WhisperTarget(CALLER))
    );
    assert_eq!(
        conference.set_role(AGENT, ParticipantRole::Whisper { target: AGENT }),
        Err(MixerError::WhisperTarget(AGENT))
    );
    assert_eq!(
        conference.handle_frame(CALLER, &voice(1)),
        Err(MixerError::UnknownParticipant(CALLER))
    );
    assert_eq!(
        conference.handle_frame(AGENT, &[0; 10]),
        Err(MixerError::FrameLength {
            expected: 160,
            got: 10
        })
    );
    assert_eq!(conference.len(), 1);
    conference.remove(AGENT).unwrap();
    assert!(conference.is_empty());
    assert_eq!(
        conference.remove(AGENT),
        Err(MixerError::UnknownParticipant(AGENT))
    );
}

#[test]
fn a_whisperer_whose_agent_left_is_heard_by_nobody() {
    let mut conference = call_with_supervisor(ParticipantRole::Whisper { target: AGENT });
    conference.remove(AGENT).unwrap();
    conference.handle_frame(SUPERVISOR, &voice(30)).unwrap();
    conference.handle_frame(CALLER, &voice(10)).unwrap();
    conference.mix();
    assert!(conference.output(CALLER).unwrap().iter().all(|&s| s == 0));
    assert_eq!(conference.output(SUPERVISOR).unwrap(), &voice(10)[..]);
}
