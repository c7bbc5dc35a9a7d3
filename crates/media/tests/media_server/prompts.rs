use std::path::Path;
use std::time::Duration;

use media::{EspeakNg, MediaRate, PlayItem, Prompt, PromptError, PromptSet, DEFAULT_PHRASES};

use crate::{rms, sine, temp_dir, wav_bytes};

const RATE: MediaRate = MediaRate::Narrowband;

#[test]
fn builtin_set_has_every_default_name_as_distinct_audible_tones() {
    for rate in [MediaRate::Narrowband, MediaRate::Wideband] {
        let set = PromptSet::builtin(rate);
        assert_eq!(set.names().count(), DEFAULT_PHRASES.len() + 1);
        let beep = set.get("beep").unwrap();
        assert_eq!(beep.duration(), Duration::from_millis(250));
        assert!(rms(beep.samples()) > 4_000.0);
        for &(name, _) in DEFAULT_PHRASES {
            let prompt = set.get(name).unwrap();
            assert_eq!(prompt.rate(), rate);
            assert!(prompt.duration() >= Duration::from_millis(100), "{name}");
            assert!(rms(prompt.samples()) > 1_000.0, "{name}");
        }
        // Numbers are told apart by their tones.
        for a in 0..20 {
            for b in (a + 1)..20 {
                assert_ne!(
                    set.get(&format!("number-{a}")).unwrap(),
                    set.get(&format!("number-{b}")).unwrap()
                );
            }
        }
        // Counted pips: 7 is seven bursts of tone.
        let seven = set.get("number-7").unwrap().samples();
        let bursts = seven
            .chunks(rate.hz() as usize / 1_000 * 10)
            .map(|ten_ms| rms(ten_ms) > 1_000.0)
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|pair| !pair[0] && pair[1])
            .count();
        assert_eq!(bursts + 1, 7);
    }
}

/// A set whose every prompt is one distinct sample, so a played sequence
/// can be read back as names.
fn labelled_set() -> (PromptSet, Vec<String>) {
    let mut set = PromptSet::new(RATE);
    let mut names: Vec<String> = DEFAULT_PHRASES.iter().map(|(n, _)| n.to_string()).collect();
    names.push("beep".to_owned());
    for (i, name) in names.iter().enumerate() {
        set.insert(name.clone(), Prompt::from_samples(RATE, vec![i as i16 + 1]))
            .unwrap();
    }
    (set, names)
}

fn spoken(names: &[String], items: &[PlayItem]) -> Vec<String> {
    let mut words = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            PlayItem::Prompt(prompt) => {
                words.push(names[prompt.samples()[0] as usize - 1].clone());
            }
            PlayItem::Silence(gap) => {
                // Only between words.
                assert!(i % 2 == 1 && *gap > Duration::ZERO, "{items:?}");
            }
        }
    }
    words
}

#[test]
fn says_numbers_in_english() {
    let (set, names) = labelled_set();
    let say = |n| spoken(&names, &set.say_number(n).unwrap()).join(" ");
    assert_eq!(say(0), "number-0");
    assert_eq!(say(7), "number-7");
    assert_eq!(say(13), "number-13");
    assert_eq!(say(40), "number-40");
    assert_eq!(say(42), "number-40 number-2");
    assert_eq!(say(100), "number-1 hundred");
    assert_eq!(say(342), "number-3 hundred number-40 number-2");
    assert_eq!(say(1_005), "number-1 thousand number-5");
    assert_eq!(
        say(2_310_019),
        "number-2 million number-3 hundred number-10 thousand number-19"
    );
    assert_eq!(
        say(u32::MAX),
        "number-4 billion number-2 hundred number-90 number-4 million \
         number-9 hundred number-60 number-7 thousand \
         number-2 hundred number-90 number-5"
    );
    let digits = spoken(&names, &set.say_digits("4071").unwrap()).join(" ");
    assert_eq!(digits, "number-4 number-0 number-7 number-1");
    assert!(matches!(set.say_digits("12#"), Err(PromptError::Missing(c)) if c == "#"));
}

#[test]
fn composes_queue_announcements() {
    let (set, names) = labelled_set();
    let words = |items: Vec<PlayItem>| spoken(&names, &items).join(" ");
    assert_eq!(
        words(set.queue_position(3).unwrap()),
        "you-are-number number-3 in-line"
    );
    assert_eq!(
        words(set.queue_position(21).unwrap()),
        "you-are-number number-20 number-1 in-line"
    );
    assert_eq!(
        words(set.estimated_wait(Duration::from_secs(10)).unwrap()),
        "estimated-wait less-than number-1 minute"
    );
    assert_eq!(
        words(set.estimated_wait(Duration::from_secs(60)).unwrap()),
        "estimated-wait number-1 minute"
    );
    assert_eq!(
        words(set.estimated_wait(Duration::from_secs(61)).unwrap()),
        "estimated-wait number-2 minutes"
    );
    assert_eq!(
        words(set.say(&["please-hold", "beep"]).unwrap()),
        "please-hold beep"
    );
}

#[test]
fn a_missing_prompt_is_named() {
    let set = PromptSet::new(RATE);
    assert!(matches!(set.queue_position(2), Err(PromptError::Missing(n)) if n == "you-are-number"));
    assert!(matches!(set.get("nope"), Err(PromptError::Missing(n)) if n == "nope"));
    let mut set = set;
    let wide = Prompt::from_samples(MediaRate::Wideband, vec![0; 4]);
    assert!(matches!(
        set.insert("x", wide),
        Err(PromptError::Rate { .. })
    ));
}

#[test]
fn operator_files_replace_and_extend_the_builtin_set() {
    let dir = temp_dir("operator-prompts");
    let hold = sine(300.0, 16_000, 0.5, 9_000.0);
    std::fs::write(dir.join("please-hold.wav"), wav_bytes(16_000, 1, &hold)).unwrap();
    let custom = vec![1_234i16; 800];
    std::fs::write(dir.join("holiday-closed.WAV"), wav_bytes(8_000, 1, &custom)).unwrap();
    std::fs::write(dir.join("README.txt"), "not a prompt").unwrap();

    let builtin = PromptSet::builtin(RATE);
    let set = PromptSet::load(&dir, RATE).unwrap();
    // Replaced, and resampled 16 kHz -> 8 kHz.
    let replaced = set.get("please-hold").unwrap();
    assert_ne!(replaced, builtin.get("please-hold").unwrap());
    assert!((3_990..=4_010).contains(&replaced.len()));
    // Added under its file stem.
    assert_eq!(set.get("holiday-closed").unwrap().samples(), &custom[..]);
    // The rest stays built in.
    assert_eq!(
        set.get("number-5").unwrap(),
        builtin.get("number-5").unwrap()
    );
    assert_eq!(set.names().count(), builtin.names().count() + 1);

    // A broken replacement is an error naming the file.
    std::fs::write(dir.join("goodbye.wav"), b"not a wav file").unwrap();
    match PromptSet::load(&dir, RATE) {
        Err(PromptError::Load { path, .. }) => assert_eq!(path, dir.join("goodbye.wav")),
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();

    // No directory: the built-in set.
    let set = PromptSet::load(Path::new("/nonexistent/prompts"), RATE).unwrap();
    assert_eq!(set.names().count(), builtin.names().count());
}

/// Whether `program` is an executable file in `PATH`.
fn in_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

#[test]
fn espeak_ng_generates_the_default_set_or_says_it_is_missing() {
    let dir = temp_dir("espeak");
    let result = EspeakNg::new().generate_missing(&dir);
    if in_path("espeak-ng") {
        let report = result.unwrap();
        assert_eq!(report.written.len(), DEFAULT_PHRASES.len());
        assert!(report.kept.is_empty());
        let set = PromptSet::load(&dir, RATE).unwrap();
        let builtin = PromptSet::builtin(RATE);
        for &(name, text) in DEFAULT_PHRASES {
            let prompt = set.get(name).unwrap();
            assert_ne!(prompt, builtin.get(name).unwrap(), "{name}");
            // Speech: at least ~60 ms a word, and audible.
            let words = text.split_whitespace().count() as u32;
            assert!(
                prompt.duration() >= Duration::from_millis(60) * words,
                "{name}"
            );
            assert!(
                rms(prompt.samples()) > 300.0,
                "{name}: rms {}",
                rms(prompt.samples())
            );
        }
        // A second run keeps everything.
        let again = EspeakNg::new().generate_missing(&dir).unwrap();
        assert!(again.written.is_empty());
        assert_eq!(again.kept.len(), DEFAULT_PHRASES.len());
    } else {
        assert!(matches!(
            result,
            Err(PromptError::SynthesizerNotFound { ref program }) if program == Path::new("espeak-ng")
        ));
        // Nothing half-written is left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_synthesizer_is_a_clear_error() {
    let dir = temp_dir("no-synth");
    let error = EspeakNg::new()
        .with_program("/nonexistent/espeak-ng")
        .generate_missing(&dir)
        .unwrap_err();
    assert!(matches!(error, PromptError::SynthesizerNotFound { .. }));
    assert!(error.to_string().contains("/nonexistent/espeak-ng"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failing_or_silent_synthesizer_leaves_no_prompt() {
    let dir = temp_dir("bad-synth");
    // Exits 1.
    let error = EspeakNg::new()
        .with_program("false")
        .generate_missing(&dir)
        .unwrap_err();
    assert!(
        matches!(error, PromptError::SynthesizerFailed { ref prompt, .. } if prompt == "please-hold")
    );
    // Exits 0 but writes no WAV.
    let error = EspeakNg::new()
        .with_program("true")
        .generate_missing(&dir)
        .unwrap_err();
    match error {
        PromptError::SynthesizerFailed { stderr, .. } => {
            assert!(stderr.contains("not a usable WAV"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn generation_writes_only_what_is_missing() {
    use std::os::unix::fs::PermissionsExt;

    // A stand-in synthesizer that copies a fixture WAV to its `-w` path,
    // so the generator's flow is tested without espeak-ng.
    let dir = temp_dir("fake-synth");
    let fixture = dir.join("fixture.wav.src");
    std::fs::write(
        &fixture,
        wav_bytes(22_050, 1, &sine(200.0, 22_050, 0.3, 8_000.0)),
    )
    .unwrap();
    let script = dir.join("fake-espeak");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n# -v VOICE -s WPM -w OUT TEXT\ncp '{}' \"$6\"\n",
            fixture.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let prompts = dir.join("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    let operator = wav_bytes(8_000, 1, &[4_321; 400]);
    std::fs::write(prompts.join("please-hold.wav"), &operator).unwrap();

    let synth = EspeakNg::new().with_program(&script);
    let report = synth.generate_missing(&prompts).unwrap();
    assert_eq!(report.kept, ["please-hold"]);
    assert_eq!(report.written.len(), DEFAULT_PHRASES.len() - 1);
    // The operator's file is untouched; the others load as 0.3 s prompts.
    assert_eq!(
        std::fs::read(prompts.join("please-hold.wav")).unwrap(),
        operator
    );
    let set = PromptSet::load(&prompts, RATE).unwrap();
    assert_eq!(set.get("please-hold").unwrap().samples(), &[4_321; 400][..]);
    let minutes = set.get("minutes").unwrap();
    assert!(
        (2_390..=2_410).contains(&minutes.len()),
        "{}",
        minutes.len()
    );
    assert!(std::fs::read_dir(&prompts).unwrap().all(|entry| !entry
        .unwrap()
        .path()
        .to_string_lossy()
        .ends_with(".partial")));

    let again = synth.generate_missing(&prompts).unwrap();
    assert!(again.written.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
