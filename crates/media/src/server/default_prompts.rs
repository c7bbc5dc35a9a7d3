//! The default prompt set: the phrases switchboard says, with a built-in
//! tone rendering of each and a generator that speaks them with
//! `espeak-ng` when it is installed.
//!
//! How operators replace prompts is told on
//! [`PromptSet`](crate::PromptSet). [`EspeakNg::generate_missing`]
//! synthesizes every phrase that has no file yet, so operator files are
//! never overwritten and a second run does nothing. Without `espeak-ng`
//! it fails with [`PromptError::SynthesizerNotFound`] and the tone
//! prompts stay in use.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::PromptError;
use super::rate::MediaRate;
use super::tone::{render, Segment};
use super::wav::Prompt;

/// The phrases of the default prompt set: `(name, English text)`. The
/// name is the prompt's key in a [`PromptSet`](crate::PromptSet) and the
/// stem of its WAV file.
pub const DEFAULT_PHRASES: &[(&str, &str)] = &[
    ("please-hold", "Please hold."),
    (
        "all-agents-busy",
        "All of our agents are busy. Please stay on the line.",
    ),
    ("you-are-number", "You are number"),
    ("in-line", "in line."),
    ("estimated-wait", "Your estimated wait time is"),
    ("less-than", "less than"),
    ("minute", "minute."),
    ("minutes", "minutes."),
    ("leave-message", "Please leave a message after the tone."),
    ("invalid-option", "Sorry, that is not a valid option."),
    ("goodbye", "Goodbye."),
    (
        "callback-offer",
        "To keep your place in line and be called back at this number, press 1.",
    ),
    (
        "callback-confirmed",
        "Thank you. We will call you back as soon as an agent is free.",
    ),
    ("number-0", "zero"),
    ("number-1", "one"),
    ("number-2", "two"),
    ("number-3", "three"),
    ("number-4", "four"),
    ("number-5", "five"),
    ("number-6", "six"),
    ("number-7", "seven"),
    ("number-8", "eight"),
    ("number-9", "nine"),
    ("number-10", "ten"),
    ("number-11", "eleven"),
    ("number-12", "twelve"),
    ("number-13", "thirteen"),
    ("number-14", "fourteen"),
    ("number-15", "fifteen"),
    ("number-16", "sixteen"),
    ("number-17", "seventeen"),
    ("number-18", "eighteen"),
    ("number-19", "nineteen"),
    ("number-20", "twenty"),
    ("number-30", "thirty"),
    ("number-40", "forty"),
    ("number-50", "fifty"),
    ("number-60", "sixty"),
    ("number-70", "seventy"),
    ("number-80", "eighty"),
    ("number-90", "ninety"),
    ("hundred", "hundred"),
    ("thousand", "thousand"),
    ("million", "million"),
    ("billion", "billion"),
];

/// Pitch of the counting pips of the tone numbers.
const PIP_HZ: f32 = 1_200.0;
/// Pitch of the "ten" marker of the tone numbers.
const TENS_HZ: f32 = 700.0;

/// The built-in rendering of prompt `name`: a beep, a short melody for
/// each phrase, and counted pips for numbers (seven pips for 7, a low
/// tone then three pips for 13, four low tones for 40, one long low tone
/// for 0). Unknown names get a neutral double beep.
pub(crate) fn builtin_prompt(rate: MediaRate, name: &str) -> Prompt {
    const fn tone(hz: f32, ms: u32) -> Segment {
        Segment::Tone { hz, ms }
    }
    const fn gap(ms: u32) -> Segment {
        Segment::Gap { ms }
    }
    let melody: Vec<Segment> = match name {
        "beep" => vec![tone(1_000.0, 250)],
        "please-hold" => vec![
            tone(523.0, 200),
            gap(40),
            tone(659.0, 200),
            gap(40),
            tone(784.0, 300),
        ],
        "all-agents-busy" => vec![
            tone(784.0, 200),
            gap(40),
            tone(659.0, 200),
            gap(40),
            tone(523.0, 300),
        ],
        "you-are-number" => vec![
            tone(440.0, 150),
            gap(30),
            tone(554.0, 150),
            gap(30),
            tone(659.0, 150),
        ],
        "in-line" => vec![tone(659.0, 150), gap(30), tone(440.0, 250)],
        "callback-offer" => vec![
            tone(587.0, 150),
            gap(30),
            tone(880.0, 150),
            gap(30),
            tone(587.0, 150),
        ],
        "callback-confirmed" => vec![tone(880.0, 150), gap(30), tone(587.0, 300)],
        "estimated-wait" => vec![
            tone(392.0, 150),
            gap(30),
            tone(523.0, 150),
            gap(30),
            tone(392.0, 150),
        ],
        "less-than" => vec![tone(523.0, 100), gap(30), tone(392.0, 100)],
        "minute" | "minutes" => vec![tone(880.0, 300)],
        "leave-message" => vec![
            tone(659.0, 200),
            gap(40),
            tone(523.0, 200),
            gap(40),
            tone(659.0, 300),
        ],
        "invalid-option" => vec![tone(330.0, 200), gap(40), tone(330.0, 200)],
        "goodbye" => vec![tone(784.0, 200), gap(40), tone(523.0, 400)],
        "hundred" => vec![tone(500.0, 400)],
        "thousand" => vec![tone(400.0, 500)],
        "million" => vec![tone(300.0, 600)],
        "billion" => vec![tone(250.0, 700)],
        _ => match name
            .strip_prefix("number-")
            .and_then(|n| n.parse::<u32>().ok())
        {
            Some(0) => vec![tone(400.0, 300)],
            Some(n) if n < 100 => {
                let mut segments = Vec::new();
                let (tens, ones) = (n / 10, n % 10);
                for _ in 0..tens {
                    segments.extend([tone(TENS_HZ, 120), gap(80)]);
                }
                for _ in 0..ones {
                    segments.extend([tone(PIP_HZ, 60), gap(60)]);
                }
                segments
            }
            _ => vec![tone(600.0, 100), gap(50), tone(600.0, 100)],
        },
    };
    Prompt::from_samples(rate, render(rate, &melody))
}

/// What [`EspeakNg::generate_missing`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeneratedPrompts {
    /// Names synthesized now.
    pub written: Vec<String>,
    /// Names whose file was already there (kept untouched).
    pub kept: Vec<String>,
}

/// The `espeak-ng` text-to-speech program, run as a child process to
/// write WAV files (its `-w` option; 22.05 kHz mono 16-bit, converted when
/// loaded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspeakNg {
    program: PathBuf,
    voice: String,
    words_per_minute: u32,
}

impl Default for EspeakNg {
    fn default() -> Self {
        Self {
            program: PathBuf::from("espeak-ng"),
            voice: "en-us".to_owned(),
            words_per_minute: 150,
        }
    }
}

impl EspeakNg {
    /// `espeak-ng` from `PATH`, US English voice, 150 words a minute.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs this program instead (a path, or a name looked up in `PATH`).
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// Uses this voice (`espeak-ng --voices` lists them), e.g. `en-gb`.
    pub fn with_voice(mut self, voice: impl Into<String>) -> Self {
        self.voice = voice.into();
        self
    }

    /// Speaks `text` into the WAV file `out`; the file is written under
    /// a temporary name, checked to load as a prompt, then renamed, so a
    /// failed run leaves no half-written prompt. `name` only labels
    /// errors.
    pub fn synthesize(&self, name: &str, text: &str, out: &Path) -> Result<(), PromptError> {
        let mut partial = out.as_os_str().to_owned();
        // Per process: two nodes starting on one shared directory must
        // not write the same partial file.
        partial.push(format!(".{}.partial", std::process::id()));
        let partial = PathBuf::from(partial);
        let failed = |stderr: String| PromptError::SynthesizerFailed {
            program: self.program.clone(),
            prompt: name.to_owned(),
            stderr,
        };
        let output = Command::new(&self.program)
            .arg("-v")
            .arg(&self.voice)
            .arg("-s")
            .arg(self.words_per_minute.to_string())
            .arg("-w")
            .arg(&partial)
            .arg(text)
            .stdin(Stdio::null())
            .output()
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::NotFound => PromptError::SynthesizerNotFound {
                    program: self.program.clone(),
                },
                _ => failed(error.to_string()),
            })?;
        if !output.status.success() {
            // Best effort: the partial file may not exist.
            let _ = std::fs::remove_file(&partial);
            return Err(failed(format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        if let Err(error) = Prompt::open(&partial, MediaRate::Narrowband) {
            let _ = std::fs::remove_file(&partial);
            return Err(failed(format!("output is not a usable WAV file: {error}")));
        }
        std::fs::rename(&partial, out).map_err(|source| PromptError::Directory {
            path: out.to_owned(),
            source,
        })
    }

    /// Speaks every phrase of [`DEFAULT_PHRASES`] that has no `NAME.wav`
    /// in `dir` yet (creating `dir` if needed). Files already there are
    /// kept, so operator replacements survive and a second run writes
    /// nothing. Stops at the first failure.
    pub fn generate_missing(&self, dir: &Path) -> Result<GeneratedPrompts, PromptError> {
        std::fs::create_dir_all(dir).map_err(|source| PromptError::Directory {
            path: dir.to_owned(),
            source,
        })?;
        let mut report = GeneratedPrompts::default();
        for &(name, text) in DEFAULT_PHRASES {
            let path = dir.join(format!("{name}.wav"));
            if path.exists() {
                report.kept.push(name.to_owned());
                continue;
            }
            self.synthesize(name, text, &path)?;
            report.written.push(name.to_owned());
        }
        Ok(report)
    }
}
