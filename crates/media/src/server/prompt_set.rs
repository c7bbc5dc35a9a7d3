//! Named prompts and the phrases composed from them ("you are number" +
//! N + "in line", "your estimated wait time is" + N + "minutes").
//!
//! Numbers are said the English way from word prompts: `number-0` ..
//! `number-19`, the tens `number-20` .. `number-90`, then `hundred`,
//! `thousand`, `million` and `billion` (so 342 is `number-3 hundred
//! number-40 number-2`). The names are those of
//! [`DEFAULT_PHRASES`](crate::DEFAULT_PHRASES); an operator replaces a
//! prompt by putting a WAV file with that name in the prompt directory
//! (see [`PromptSet::load`]).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::default_prompts::builtin_prompt;
use super::error::PromptError;
use super::player::PlayItem;
use super::rate::MediaRate;
use super::wav::Prompt;

/// Gap put between the words of a composed phrase.
const WORD_GAP: Duration = Duration::from_millis(100);

/// Prompts by name, all at one media rate.
///
/// # Replacing the prompts
///
/// Prompts live in one directory (the data directory's `prompts/`). At
/// start, [`PromptSet::load`] takes the built-in tone set and lays every
/// `NAME.wav` found there over it. An operator replaces a prompt by
/// dropping in a WAV file named after it, for example `please-hold.wav`
/// or `number-7.wav`: 16-bit PCM, mono or stereo, 8 to 48 kHz, at most
/// ten minutes (converted to the call's rate when loaded; anything else
/// is refused at start-up with the file named). The names and the words
/// each stands for are [`DEFAULT_PHRASES`](crate::DEFAULT_PHRASES), plus
/// `beep`; any other `*.wav` becomes a prompt of that name for IVR flows
/// to use. Restart (or load the set again) to pick up changes.
///
/// With `espeak-ng` installed, [`EspeakNg::generate_missing`](crate::EspeakNg::generate_missing)
/// fills the directory with spoken versions of the phrases at first run,
/// never overwriting a file already there; without it, the built-in
/// tones are used: a beep, a short melody per phrase and counted pips
/// for numbers (seven pips for 7, a low tone and three pips for 13, four
/// low tones for 40, one long low tone for 0).
#[derive(Debug, Clone)]
pub struct PromptSet {
    rate: MediaRate,
    prompts: HashMap<String, Prompt>,
}

impl PromptSet {
    /// An empty set at `rate`.
    pub fn new(rate: MediaRate) -> Self {
        Self {
            rate,
            prompts: HashMap::new(),
        }
    }

    /// The built-in set: every name of
    /// [`DEFAULT_PHRASES`](crate::DEFAULT_PHRASES) plus `beep`, as tone
    /// patterns synthesized in code, so a system without
    /// recorded or synthesized speech still gives distinct, recognisable
    /// signals.
    pub fn builtin(rate: MediaRate) -> Self {
        let mut set = Self::new(rate);
        for &(name, _) in super::default_prompts::DEFAULT_PHRASES {
            set.prompts
                .insert(name.to_owned(), builtin_prompt(rate, name));
        }
        set.prompts
            .insert("beep".to_owned(), builtin_prompt(rate, "beep"));
        set
    }

    /// The built-in set with every `*.wav` file of `dir` laid over it,
    /// named by the file stem (`please-hold.wav` replaces `please-hold`;
    /// other names are added). A missing directory leaves the built-in
    /// set; a file that does not load is an error naming the file, so a
    /// bad replacement is noticed at start-up, not during a call.
    pub fn load(dir: &Path, rate: MediaRate) -> Result<Self, PromptError> {
        let mut set = Self::builtin(rate);
        if dir.is_dir() {
            set.load_dir(dir)?;
        }
        Ok(set)
    }

    /// Adds or replaces the prompts of every `*.wav` file in `dir`;
    /// returns how many were loaded.
    pub fn load_dir(&mut self, dir: &Path) -> Result<usize, PromptError> {
        let listing_failed = |source| PromptError::Directory {
            path: dir.to_owned(),
            source,
        };
        let mut loaded = 0;
        for entry in std::fs::read_dir(dir).map_err(listing_failed)? {
            let path = entry.map_err(listing_failed)?.path();
            let is_wav = path
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("wav"));
            let Some(name) = path.file_stem().and_then(|stem| stem.to_str()) else {
                continue;
            };
            if !is_wav || !path.is_file() {
                continue;
            }
            let name = name.to_owned();
            let prompt = Prompt::open(&path, self.rate)
                .map_err(|source| PromptError::Load { path, source })?;
            self.prompts.insert(name, prompt);
            loaded += 1;
        }
        Ok(loaded)
    }

    /// The rate of every prompt in the set.
    pub fn rate(&self) -> MediaRate {
        self.rate
    }

    /// Adds or replaces a prompt; returns the one it replaced.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        prompt: Prompt,
    ) -> Result<Option<Prompt>, PromptError> {
        prompt.check_rate(self.rate)?;
        Ok(self.prompts.insert(name.into(), prompt))
    }

    /// The prompt called `name`.
    pub fn get(&self, name: &str) -> Result<&Prompt, PromptError> {
        self.prompts
            .get(name)
            .ok_or_else(|| PromptError::Missing(name.to_owned()))
    }

    /// The names in the set, in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.prompts.keys().map(String::as_str)
    }

    /// The named prompts one after the other, with a short gap between
    /// words.
    pub fn say(&self, names: &[&str]) -> Result<Vec<PlayItem>, PromptError> {
        let mut items = Vec::with_capacity(names.len() * 2);
        for name in names {
            self.push_word(&mut items, name)?;
        }
        Ok(items)
    }

    /// `n` said as an English number.
    pub fn say_number(&self, n: u32) -> Result<Vec<PlayItem>, PromptError> {
        let mut items = Vec::new();
        self.push_number(&mut items, n)?;
        Ok(items)
    }

    /// `digits` said one by one (`number-0` .. `number-9`); any other
    /// character is [`PromptError::Missing`].
    pub fn say_digits(&self, digits: &str) -> Result<Vec<PlayItem>, PromptError> {
        let mut items = Vec::with_capacity(digits.len() * 2);
        for c in digits.chars() {
            let Some(digit) = c.to_digit(10) else {
                return Err(PromptError::Missing(c.to_string()));
            };
            self.push_word(&mut items, &number_name(digit))?;
        }
        Ok(items)
    }

    /// "You are number `position` in line."
    pub fn queue_position(&self, position: u32) -> Result<Vec<PlayItem>, PromptError> {
        let mut items = Vec::new();
        self.push_word(&mut items, "you-are-number")?;
        self.push_number(&mut items, position)?;
        self.push_word(&mut items, "in-line")?;
        Ok(items)
    }

    /// "Your estimated wait time is N minutes", with `wait` rounded up
    /// to whole minutes; under 30 seconds it is "less than one minute".
    pub fn estimated_wait(&self, wait: Duration) -> Result<Vec<PlayItem>, PromptError> {
        let mut items = Vec::new();
        self.push_word(&mut items, "estimated-wait")?;
        if wait < Duration::from_secs(30) {
            self.push_word(&mut items, "less-than")?;
            self.push_number(&mut items, 1)?;
            self.push_word(&mut items, "minute")?;
            return Ok(items);
        }
        let minutes = u32::try_from(wait.as_secs().div_ceil(60)).unwrap_or(u32::MAX);
        self.push_number(&mut items, minutes)?;
        self.push_word(&mut items, if minutes == 1 { "minute" } else { "minutes" })?;
        Ok(items)
    }

    fn push_word(&self, items: &mut Vec<PlayItem>, name: &str) -> Result<(), PromptError> {
        if !items.is_empty() {
            items.push(PlayItem::Silence(WORD_GAP));
        }
        items.push(PlayItem::Prompt(self.get(name)?.clone()));
        Ok(())
    }

    fn push_number(&self, items: &mut Vec<PlayItem>, n: u32) -> Result<(), PromptError> {
        const SCALES: [(u32, &str); 3] = [
            (1_000_000_000, "billion"),
            (1_000_000, "million"),
            (1_000, "thousand"),
        ];
        if n == 0 {
            return self.push_word(items, "number-0");
        }
        let mut rest = n;
        for (scale, name) in SCALES {
            if rest >= scale {
                self.push_below_thousand(items, rest / scale)?;
                self.push_word(items, name)?;
                rest %= scale;
            }
        }
        if rest > 0 {
            self.push_below_thousand(items, rest)?;
        }
        Ok(())
    }

    /// 1 ..= 999.
    fn push_below_thousand(&self, items: &mut Vec<PlayItem>, n: u32) -> Result<(), PromptError> {
        let (hundreds, rest) = (n / 100, n % 100);
        if hundreds > 0 {
            self.push_word(items, &number_name(hundreds))?;
            self.push_word(items, "hundred")?;
        }
        if rest >= 20 {
            self.push_word(items, &number_name(rest / 10 * 10))?;
            if rest % 10 > 0 {
                self.push_word(items, &number_name(rest % 10))?;
            }
        } else if rest > 0 {
            self.push_word(items, &number_name(rest))?;
        }
        Ok(())
    }
}

/// The prompt name of a number word (`number-7`, `number-40`).
fn number_name(n: u32) -> String {
    format!("number-{n}")
}
