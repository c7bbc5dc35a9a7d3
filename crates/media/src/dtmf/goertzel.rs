//! In-band DTMF detection on 8 kHz audio with the Goertzel algorithm
//! ([`DtmfDetector`]), with the acceptance tests of ITU-T Q.24
//! (frequency tolerance, twist, level, signal and pause timing; values of
//! its table of administrations' limits) on the ITU-T Q.23 frequencies.
//!
//! Audio is cut into blocks of `block_len` samples (102 by default,
//! 12.75 ms). Each block runs one Goertzel filter per DTMF frequency,
//! one 5% below and one 5% above each, and one on each column
//! frequency's second harmonic. From each filter's complex output the
//! detector also gets, at no cost per sample, the filter over this block
//! and the one before (204 samples, twice as sharp) and the phase turned
//! from one block to the next, which measures the frequency offset of a
//! steady sine. A block passes every test when the strongest row and
//! column filters:
//!
//! - hold at least [`DtmfDetectorConfig::tone_fraction`] of the block's
//!   energy together, their powers corrected for the measured frequency
//!   offset (a tone 1.5% off loses up to 1 dB in a 102-sample filter):
//!   speech and noise spread their energy, a DTMF tone does not
//!   (talk-off),
//! - beat the other filters of their group by
//!   [`DtmfDetectorConfig::peak_ratio_db`],
//! - are each above [`DtmfDetectorConfig::min_level_dbm0`],
//! - differ by no more than the twist limits (Q.24: high group up to
//!   8 dB below the low group, "normal twist", or 4 dB above, "reverse
//!   twist"),
//! - beat, over the two blocks, their ±5% neighbours: a tone nearer its
//!   nominal frequency than either neighbour is within 2.5%, so ±1.5% is
//!   accepted and ±3.5% refused as Q.24 asks,
//! - and (optionally) the column tone has no second harmonic within
//!   10 dB (voiced speech has harmonics, a DTMF generator does not).
//!
//! A tone is a run of blocks naming one key. Two of them must pass every
//! test (one can be chance in speech; a 40 ms tone always holds two full
//! blocks). The blocks at its edges, which the tone fills only in part,
//! extend it when the key's two frequencies hold enough of their energy,
//! and count for the part they hold (their energy share against the full
//! blocks'), so the tone's duration is known to a few milliseconds
//! whatever the block alignment: 30 ms tones are refused, 40 ms ones
//! reported ([`DtmfDetectorConfig::min_duration`]). A tone ends after two
//! blocks without it: a 40 ms pause always holds two blocks, so the same
//! key twice is reported twice, while a 10 ms break (Q.24 asks that it be
//! bridged) never does. A held key is reported once.
//!
//! Why 102-sample blocks rather than the textbook 205: a 205-sample
//! (25.6 ms) block cannot tell a 30 ms tone from a 50 ms one, and its
//! narrow filters lose 6.5 dB on a 1633 Hz tone 1.5% off; the two-block
//! filters and the ±5% neighbours give the frequency precision the long
//! block would.

use std::collections::VecDeque;
use std::time::Duration;

use crate::dtmf::digit::{DtmfDigit, COLUMN_HZ, ROW_HZ};
use crate::g711::{alaw_decode, mulaw_decode, G711};

/// Sample rate the detector works at.
const SAMPLE_RATE: f32 = 8000.0;
/// Mean square of a 0 dBm0 sine in 16-bit linear PCM: a sine of peak
/// 22 700 (G.711 full load is +3.14 dBm0 A-law, +3.17 dBm0 μ-law).
const DBM0_MEAN_SQUARE: f32 = 22_700.0 * 22_700.0 / 2.0;
/// Share of the block's energy below which a block names no key at all.
const WEAK_FRACTION: f32 = 0.15;
/// Blocks below this level (dBm0) are silence.
const SILENCE_DBM0: f32 = -50.0;
/// Consecutive blocks without the key that end a tone.
const END_MISSES: u8 = 2;
/// Blocks passing every test that a tone needs (one can be chance in
/// speech; every tone of 40 ms or more holds two full blocks).
const FULL_BLOCKS: u32 = 2;
/// A column tone's second harmonic must be this far below it.
const HARMONIC_RATIO_DB: f32 = 10.0;

/// Filters: 4 rows, 4 columns, their lower and upper neighbours, and the
/// column second harmonics.
const FILTERS: usize = 28;
const LOWER: usize = 8;
const UPPER: usize = 16;
const HARMONIC: usize = 24;

/// Settings of a [`DtmfDetector`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfDetectorConfig {
    /// Samples per analysis block (8 kHz). Longer blocks (the textbook
    /// 205) give sharper filters but coarser timing, and a tone more than
    /// half a cycle per block off its filter (1633 Hz + 1.2% at 205
    /// samples) can no longer be corrected for and is refused.
    pub block_len: usize,
    /// Shortest tone reported. Q.24 asks that 40 ms tones be recognised
    /// and ones shorter than about 20-25 ms refused; the duration is
    /// measured to a few milliseconds, so the default sits a little below
    /// 40 ms.
    pub min_duration: Duration,
    /// Lowest level of each of the two tones, dBm0.
    pub min_level_dbm0: f32,
    /// Largest amount (dB) by which the high-group tone may be weaker
    /// than the low-group one.
    pub normal_twist_db: f32,
    /// Largest amount (dB) by which the high-group tone may be stronger
    /// than the low-group one.
    pub reverse_twist_db: f32,
    /// How much (dB) the strongest filter of a group must beat the
    /// others of that group.
    pub peak_ratio_db: f32,
    /// Share of the block's energy the two tones must hold.
    pub tone_fraction: f32,
    /// Frequency tolerance as a fraction: tones further than this from
    /// the nominal frequency are refused (neighbour filters sit at twice
    /// this). Q.24: accept 1.5%, reject 3.5%.
    pub frequency_tolerance: f32,
    /// Refuse a column tone with a second harmonic less than 10 dB below
    /// it (voiced speech has one, a DTMF generator does not).
    pub harmonic_check: bool,
}

impl Default for DtmfDetectorConfig {
    fn default() -> Self {
        DtmfDetectorConfig {
            block_len: 102,
            min_duration: Duration::from_millis(35),
            min_level_dbm0: -30.0,
            normal_twist_db: 8.0,
            reverse_twist_db: 4.0,
            peak_ratio_db: 8.0,
            tone_fraction: 0.9,
            frequency_tolerance: 0.025,
            harmonic_check: true,
        }
    }
}

/// What a [`DtmfDetector`] reports: one `Began` and one `Ended` per tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InbandEvent {
    /// A tone has lasted the minimum duration.
    Began {
        /// The key.
        digit: DtmfDigit,
    },
    /// The tone stopped.
    Ended {
        /// The key.
        digit: DtmfDigit,
        /// How long the tone lasted.
        duration: Duration,
    },
}

impl InbandEvent {
    /// The key of the event.
    pub fn digit(&self) -> DtmfDigit {
        match *self {
            InbandEvent::Began { digit } | InbandEvent::Ended { digit, .. } => digit,
        }
    }
}

/// What one block shows.
#[derive(Debug, Clone, Copy, PartialEq)]
enum BlockVerdict {
    /// No key.
    Nothing,
    /// A key passing every test.
    Tone(DtmfDigit, f32),
    /// A key that only fills part of the block (or fails the tests that
    /// need a full block): it can extend a tone, not start one.
    Partial(DtmfDigit, f32),
}

/// A tone being heard.
#[derive(Debug, Clone, Copy)]
struct ToneRun {
    digit: DtmfDigit,
    /// Blocks that passed every test.
    full_blocks: u32,
    /// The last block only continued the tone by its energy share (an
    /// edge or a break); two such blocks in a row do not.
    weak_tail: bool,
    /// Blocks in the run.
    blocks: u32,
    /// Energy shares of the first and of the last block: the edges,
    /// which the tone may fill only in part.
    first: f32,
    last: f32,
    /// Blocks between the edges (full of the tone) and their shares.
    inner: u32,
    inner_sum: f32,
    /// Blocks in a row without the key.
    misses: u8,
    /// `Began` was reported.
    reported: bool,
}

/// Detects DTMF tones in 8 kHz linear or G.711 audio (see the module
/// documentation for the method).
///
/// Feed audio with [`handle_samples`](Self::handle_samples) or
/// [`handle_g711`](Self::handle_g711) in any slice sizes, then drain
/// [`poll_event`](Self::poll_event). Time is the audio itself: nothing
/// here reads a clock, and nothing allocates per call while events are
/// drained.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    config: DtmfDetectorConfig,
    filters: [Filter; FILTERS],
    energy: f32,
    filled: usize,
    /// Thresholds in linear units, per block.
    min_tone_power: f32,
    silence_energy: f32,
    normal_twist: f32,
    reverse_twist: f32,
    peak_ratio: f32,
    harmonic_ratio: f32,
    run: Option<ToneRun>,
    /// Row and column powers and energy of the last block, if it was
    /// not part of a tone: the leading edge of a tone that starts next.
    unused: Option<([f32; 8], f32)>,
    events: VecDeque<InbandEvent>,
}

/// One Goertzel filter and what it keeps from the previous block.
#[derive(Debug, Clone, Copy, Default)]
struct Filter {
    /// 2 cos ω.
    coefficient: f32,
    /// cos ω and sin ω.
    cos: f32,
    sin: f32,
    /// e^{-jωN}: moves a block's output to the phase of the block before.
    shift: (f32, f32),
    /// Largest frequency offset corrected for, in cycles per block.
    max_offset: f32,
    /// Goertzel state s[n-1], s[n-2].
    first: f32,
    second: f32,
    /// The previous block's output y = s[N-1] e^{jω} - s[N-2], which is
    /// the block's DFT at ω times e^{jωN}.
    previous: (f32, f32),
}

impl Filter {
    fn new(hz: f32, block_len: usize, tolerance: f32) -> Self {
        let omega = 2.0 * std::f32::consts::PI * hz / SAMPLE_RATE;
        let turn = omega * block_len as f32;
        Filter {
            coefficient: 2.0 * omega.cos(),
            cos: omega.cos(),
            sin: omega.sin(),
            shift: (turn.cos(), -turn.sin()),
            max_offset: tolerance * hz * block_len as f32 / SAMPLE_RATE,
            ..Filter::default()
        }
    }

    /// Ends a block and starts anew. Returns the block's power, the power
    /// over this block and the one before (each scaled so that a sine at
    /// ω filling the window gives the window's energy per block), and the
    /// block's power corrected for the offset of the sine's frequency
    /// from ω: a sine δ Hz off turns δN/fs cycles more per block than
    /// the filter, and its power shows sinc²(δN/fs) smaller.
    fn finish(&mut self, block_len: usize) -> (f32, f32, f32) {
        let y = (self.first * self.cos - self.second, self.first * self.sin);
        // The DFT over both blocks: previous + e^{-jωN} current (in y
        // terms, the common factor e^{jωN} drops out of the magnitude).
        let shifted = (
            y.0 * self.shift.0 - y.1 * self.shift.1,
            y.0 * self.shift.1 + y.1 * self.shift.0,
        );
        let pair = (self.previous.0 + shifted.0, self.previous.1 + shifted.1);
        let scale = 2.0 / block_len as f32;
        let block = (y.0 * y.0 + y.1 * y.1) * scale;
        let both = (pair.0 * pair.0 + pair.1 * pair.1) * scale / 4.0;
        let previous_power =
            (self.previous.0 * self.previous.0 + self.previous.1 * self.previous.1) * scale;
        let corrected = if previous_power >= block / 16.0 && block > 0.0 {
            // shifted × conj(previous): its angle is 2π δN/fs.
            let turned = (
                shifted.0 * self.previous.0 + shifted.1 * self.previous.1,
                shifted.1 * self.previous.0 - shifted.0 * self.previous.1,
            );
            let cycles = turned.1.atan2(turned.0) / (2.0 * std::f32::consts::PI);
            block / sinc_squared(cycles.clamp(-self.max_offset, self.max_offset))
        } else {
            // No steady sine across the two blocks to measure.
            block
        };
        self.previous = y;
        self.first = 0.0;
        self.second = 0.0;
        (block, both, corrected)
    }
}

/// (sin πx / πx)²: the response of an N-sample Goertzel filter to a sine
/// x cycles per block off its frequency.
fn sinc_squared(x: f32) -> f32 {
    if x.abs() < 1e-4 {
        return 1.0;
    }
    let angle = std::f32::consts::PI * x;
    let sinc = angle.sin() / angle;
    (sinc * sinc).max(1e-3)
}

fn db_to_ratio(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

impl DtmfDetector {
    /// A detector with `config`; a zero block length is taken as one.
    pub fn new(config: DtmfDetectorConfig) -> Self {
        let block_len = config.block_len.max(1);
        let config = DtmfDetectorConfig {
            block_len,
            ..config
        };
        let mut filters = [Filter::default(); FILTERS];
        let tones = ROW_HZ.iter().chain(COLUMN_HZ.iter());
        let step = 2.0 * config.frequency_tolerance;
        for (index, &hz) in tones.enumerate() {
            let tolerance = config.frequency_tolerance;
            filters[index] = Filter::new(hz, block_len, tolerance);
            filters[LOWER + index] = Filter::new(hz * (1.0 - step), block_len, 0.0);
            filters[UPPER + index] = Filter::new(hz * (1.0 + step), block_len, 0.0);
        }
        for (index, &hz) in COLUMN_HZ.iter().enumerate() {
            filters[HARMONIC + index] = Filter::new(2.0 * hz, block_len, 0.0);
        }
        let block = block_len as f32;
        DtmfDetector {
            filters,
            energy: 0.0,
            filled: 0,
            min_tone_power: block * DBM0_MEAN_SQUARE * db_to_ratio(config.min_level_dbm0),
            silence_energy: block * DBM0_MEAN_SQUARE * db_to_ratio(SILENCE_DBM0),
            normal_twist: db_to_ratio(config.normal_twist_db),
            reverse_twist: db_to_ratio(config.reverse_twist_db),
            peak_ratio: db_to_ratio(config.peak_ratio_db),
            harmonic_ratio: db_to_ratio(-HARMONIC_RATIO_DB),
            run: None,
            unused: None,
            events: VecDeque::with_capacity(4),
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DtmfDetectorConfig {
        &self.config
    }

    /// Takes in 8 kHz linear samples.
    pub fn handle_samples(&mut self, samples: &[i16]) {
        for &sample in samples {
            self.push(sample);
        }
    }

    /// Takes in a G.711 payload (one byte per 8 kHz sample).
    pub fn handle_g711(&mut self, codec: G711, payload: &[u8]) {
        let decode = match codec {
            G711::Mulaw => mulaw_decode,
            G711::Alaw => alaw_decode,
        };
        for &code in payload {
            self.push(decode(code));
        }
    }

    /// The next detection.
    pub fn poll_event(&mut self) -> Option<InbandEvent> {
        self.events.pop_front()
    }

    /// Forgets the audio so far; a tone already reported gets its
    /// `Ended`.
    pub fn reset(&mut self) {
        for filter in &mut self.filters {
            *filter = Filter {
                first: 0.0,
                second: 0.0,
                previous: (0.0, 0.0),
                ..*filter
            };
        }
        self.energy = 0.0;
        self.filled = 0;
        self.unused = None;
        self.end_run();
    }

    fn push(&mut self, sample: i16) {
        let x = f32::from(sample);
        self.energy += x * x;
        for filter in &mut self.filters {
            let next = x + filter.coefficient * filter.first - filter.second;
            filter.second = filter.first;
            filter.first = next;
        }
        self.filled += 1;
        if self.filled == self.config.block_len {
            self.end_block();
        }
    }

    fn end_block(&mut self) {
        let mut block = [0.0f32; FILTERS];
        let mut pair = [0.0f32; FILTERS];
        let mut corrected = [0.0f32; FILTERS];
        for (index, filter) in self.filters.iter_mut().enumerate() {
            (block[index], pair[index], corrected[index]) = filter.finish(self.config.block_len);
        }
        let energy = self.energy;
        let verdict = self.judge(&block, &pair, &corrected, energy);
        self.energy = 0.0;
        self.filled = 0;
        let mut tones = [0.0f32; 8];
        tones.copy_from_slice(&block[..8]);
        let used = self.advance(verdict, &tones, energy);
        self.unused = (!used).then_some((tones, energy));
    }

    /// Judges a block from its own filter powers, the same corrected for
    /// frequency offset (for the share, level and twist of a full tone),
    /// and those over it and the block before (finer in frequency, for
    /// the frequency and harmonic tests).
    fn judge(
        &self,
        block: &[f32; FILTERS],
        pair: &[f32; FILTERS],
        corrected: &[f32; FILTERS],
        energy: f32,
    ) -> BlockVerdict {
        if energy < self.silence_energy {
            return BlockVerdict::Nothing;
        }
        let row = strongest(&block[0..4]);
        let column = strongest(&block[4..8]);
        let (row_power, column_power) = (block[row], block[4 + column]);
        let share = (row_power + column_power) / energy;
        if share < WEAK_FRACTION {
            return BlockVerdict::Nothing;
        }
        let beats_group = |group: &[f32], best: usize| {
            group
                .iter()
                .enumerate()
                .all(|(index, &value)| index == best || group[best] >= value * self.peak_ratio)
        };
        if !beats_group(&block[0..4], row) || !beats_group(&block[4..8], column) {
            return BlockVerdict::Nothing;
        }
        if row_power > column_power * self.normal_twist
            || column_power > row_power * self.reverse_twist
        {
            return BlockVerdict::Nothing;
        }
        let Some(digit) = DtmfDigit::at(row, column) else {
            return BlockVerdict::Nothing;
        };
        let on_frequency =
            |index: usize| pair[index] >= pair[LOWER + index] && pair[index] >= pair[UPPER + index];
        let (row_true, column_true) = (corrected[row], corrected[4 + column]);
        let full = (row_true + column_true) / energy >= self.config.tone_fraction
            && row_true >= self.min_tone_power
            && column_true >= self.min_tone_power
            && row_true <= column_true * self.normal_twist
            && column_true <= row_true * self.reverse_twist
            && on_frequency(row)
            && on_frequency(4 + column)
            && (!self.config.harmonic_check
                || pair[HARMONIC + column] <= pair[4 + column] * self.harmonic_ratio);
        if full {
            BlockVerdict::Tone(digit, share)
        } else {
            BlockVerdict::Partial(digit, share)
        }
    }

    /// Moves the tone state on by one block; returns whether the block
    /// became part of a tone.
    fn advance(&mut self, verdict: BlockVerdict, tones: &[f32; 8], energy: f32) -> bool {
        let (found, full) = match verdict {
            BlockVerdict::Nothing => (None, false),
            BlockVerdict::Tone(digit, share) => (Some((digit, share)), true),
            BlockVerdict::Partial(digit, share) => (Some((digit, share)), false),
        };
        if let Some(run) = &mut self.run {
            match found {
                Some((digit, share)) if digit == run.digit => {
                    run.extend(share, full);
                    run.weak_tail = false;
                    self.report_if_long_enough();
                    return true;
                }
                Some(_) if full => self.end_run(),
                _ => {
                    // A block the tone fills only in part (its edge, a
                    // short break) names no key, or another key weakly:
                    // it still continues the tone if the tone's two
                    // frequencies hold enough of its energy.
                    let share = share_of(run.digit, tones, energy);
                    if share >= WEAK_FRACTION && !run.weak_tail {
                        run.extend(share, false);
                        run.weak_tail = true;
                        self.report_if_long_enough();
                        return true;
                    }
                    self.miss();
                    if self.run.is_some() {
                        return false;
                    }
                }
            }
        }
        let Some((digit, share)) = found else {
            return false;
        };
        let mut run = ToneRun::new(digit, share, full);
        if let Some((tones, energy)) = self.unused {
            // The block before, if the tone filled part of it.
            let leading = share_of(digit, &tones, energy);
            if leading >= WEAK_FRACTION {
                run = ToneRun::new(digit, leading, false);
                run.extend(share, full);
            }
        }
        self.run = Some(run);
        self.report_if_long_enough();
        true
    }

    fn miss(&mut self) {
        if let Some(run) = &mut self.run {
            run.misses += 1;
            if run.misses >= END_MISSES {
                self.end_run();
            }
        }
    }

    fn report_if_long_enough(&mut self) {
        let block_len = self.config.block_len;
        let min_duration = self.config.min_duration;
        if let Some(run) = &mut self.run {
            if run.full_blocks >= FULL_BLOCKS
                && !run.reported
                && run.duration(block_len) >= min_duration
            {
                run.reported = true;
                self.events
                    .push_back(InbandEvent::Began { digit: run.digit });
            }
        }
    }

    fn end_run(&mut self) {
        if let Some(run) = self.run.take() {
            if run.reported {
                self.events.push_back(InbandEvent::Ended {
                    digit: run.digit,
                    duration: run.duration(self.config.block_len),
                });
            }
        }
    }
}

/// Share of a block's energy in the two frequencies of `digit`.
fn share_of(digit: DtmfDigit, tones: &[f32; 8], energy: f32) -> f32 {
    let (row, column) = digit.position();
    if energy > 0.0 {
        (tones[row] + tones[4 + column]) / energy
    } else {
        0.0
    }
}

/// Index of the largest value.
fn strongest(group: &[f32]) -> usize {
    let mut best = 0;
    for (index, &value) in group.iter().enumerate() {
        if value > group[best] {
            best = index;
        }
    }
    best
}

impl Default for DtmfDetector {
    fn default() -> Self {
        Self::new(DtmfDetectorConfig::default())
    }
}

impl ToneRun {
    fn new(digit: DtmfDigit, share: f32, full: bool) -> Self {
        ToneRun {
            digit,
            full_blocks: u32::from(full),
            weak_tail: false,
            blocks: 1,
            first: share,
            last: share,
            inner: 0,
            inner_sum: 0.0,
            misses: 0,
            reported: false,
        }
    }

    fn extend(&mut self, share: f32, full: bool) {
        if self.blocks >= 2 {
            self.inner += 1;
            self.inner_sum += self.last;
        }
        self.last = share;
        self.blocks += 1;
        self.full_blocks += u32::from(full);
        self.misses = 0;
    }

    /// The tone's length: the inner blocks, plus the part of each edge
    /// block the tone filled (its energy share against the inner blocks'
    /// share).
    fn duration(&self, block_len: usize) -> Duration {
        let steady = if self.inner > 0 {
            self.inner_sum / self.inner as f32
        } else {
            self.first.max(self.last)
        };
        let filled = |share: f32| {
            if steady > 0.0 {
                (share / steady).min(1.0)
            } else {
                0.0
            }
        };
        let blocks = if self.blocks == 1 {
            filled(self.first)
        } else {
            self.inner as f32 + filled(self.first) + filled(self.last)
        };
        // 125 µs per sample; the cast saturates (and takes NaN as 0).
        let micros = blocks * block_len as f32 * 125.0;
        Duration::from_micros(micros as u64)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::g711::{mulaw_encode, G711};

    const RATE: f64 = 8000.0;

    /// Two sines at the given levels for `ms` milliseconds.
    fn dual(low: f64, high: f64, low_dbm0: f64, high_dbm0: f64, ms: u32) -> Vec<i16> {
        let peak = |dbm0: f64| f64::from(22_700.0f32) * 10f64.powf(dbm0 / 20.0);
        let samples = (f64::from(ms) * RATE / 1000.0) as usize;
        (0..samples)
            .map(|n| {
                let t = n as f64 / RATE;
                let value = peak(low_dbm0) * (std::f64::consts::TAU * low * t).sin()
                    + peak(high_dbm0) * (std::f64::consts::TAU * high * t).sin();
                value.round() as i16
            })
            .collect()
    }

    fn key(digit: DtmfDigit, ms: u32) -> Vec<i16> {
        let (low, high) = digit.frequencies();
        dual(f64::from(low), f64::from(high), -8.0, -6.0, ms)
    }

    fn silence(samples: usize) -> Vec<i16> {
        vec![0; samples]
    }

    /// Runs `audio` plus 100 ms of silence through μ-law and the default
    /// detector.
    fn detect(audio: &[i16]) -> Vec<InbandEvent> {
        detect_with(DtmfDetectorConfig::default(), audio)
    }

    fn detect_with(config: DtmfDetectorConfig, audio: &[i16]) -> Vec<InbandEvent> {
        let mut detector = DtmfDetector::new(config);
        let mut payload: Vec<u8> = audio.iter().map(|&s| mulaw_encode(s)).collect();
        payload.extend(std::iter::repeat_n(0xff, 800));
        for frame in payload.chunks(160) {
            detector.handle_g711(G711::Mulaw, frame);
        }
        std::iter::from_fn(|| detector.poll_event()).collect()
    }

    fn began(events: &[InbandEvent]) -> Vec<DtmfDigit> {
        events
            .iter()
            .filter_map(|event| match *event {
                InbandEvent::Began { digit } => Some(digit),
                InbandEvent::Ended { .. } => None,
            })
            .collect()
    }

    fn durations(events: &[InbandEvent]) -> Vec<Duration> {
        events
            .iter()
            .filter_map(|event| match *event {
                InbandEvent::Ended { duration, .. } => Some(duration),
                InbandEvent::Began { .. } => None,
            })
            .collect()
    }

    /// Deterministic white noise (xorshift), Gaussian-ish by summing.
    fn noise(samples: usize, rms: f64, seed: u64) -> Vec<i16> {
        let mut state = seed | 1;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        // Sum of 12 uniforms has variance 1.
        (0..samples)
            .map(|_| ((0..12).map(|_| uniform()).sum::<f64>() * rms).round() as i16)
            .collect()
    }

    #[test]
    fn every_key_once_with_its_duration() {
        for digit in DtmfDigit::ALL {
            for level in [-3.0, -10.0, -22.0] {
                let (low, high) = digit.frequencies();
                let mut audio = silence(37);
                audio.extend(dual(
                    f64::from(low),
                    f64::from(high),
                    level - 2.0,
                    level,
                    100,
                ));
                let events = detect(&audio);
                assert_eq!(began(&events), [digit], "{digit} at {level} dBm0");
                let duration = durations(&events)[0];
                assert!(
                    duration.abs_diff(Duration::from_millis(100)) < Duration::from_millis(4),
                    "{digit}: {duration:?}"
                );
            }
        }
    }

    #[test]
    fn keys_in_a_row() {
        let mut audio = Vec::new();
        let dialled = "0123456789*#ABCD";
        for character in dialled.chars() {
            audio.extend(key(DtmfDigit::from_char(character).unwrap(), 60));
            audio.extend(silence(480));
        }
        let heard: String = began(&detect(&audio)).iter().map(|d| d.as_char()).collect();
        assert_eq!(heard, dialled);
    }

    #[test]
    fn frequency_tolerance() {
        for digit in DtmfDigit::ALL {
            let (low, high) = digit.frequencies();
            let (low, high) = (f64::from(low), f64::from(high));
            for (row_off, column_off) in [(1.5, 1.5), (-1.5, -1.5), (1.5, -1.5), (-1.5, 1.5)] {
                let audio = dual(
                    low * (1.0 + row_off / 100.0),
                    high * (1.0 + column_off / 100.0),
                    -8.0,
                    -6.0,
                    80,
                );
                assert_eq!(
                    began(&detect(&audio)),
                    [digit],
                    "{digit} {row_off} {column_off}"
                );
            }
            for (row_off, column_off) in
                [(3.5, 0.0), (-3.5, 0.0), (0.0, 3.5), (0.0, -3.5), (3.5, 3.5)]
            {
                let audio = dual(
                    low * (1.0 + row_off / 100.0),
                    high * (1.0 + column_off / 100.0),
                    -8.0,
                    -6.0,
                    80,
                );
                assert_eq!(began(&detect(&audio)), [], "{digit} {row_off} {column_off}");
            }
        }
    }

    #[test]
    fn twist_limits() {
        for digit in [
            DtmfDigit::One,
            DtmfDigit::Five,
            DtmfDigit::Pound,
            DtmfDigit::D,
        ] {
            let (low, high) = digit.frequencies();
            let (low, high) = (f64::from(low), f64::from(high));
            // Normal twist: high group weaker.
            assert_eq!(began(&detect(&dual(low, high, -6.0, -13.0, 80))), [digit]);
            assert_eq!(began(&detect(&dual(low, high, -6.0, -15.0, 80))), []);
            // Reverse twist: high group stronger.
            assert_eq!(began(&detect(&dual(low, high, -9.0, -6.0, 80))), [digit]);
            assert_eq!(began(&detect(&dual(low, high, -11.0, -6.0, 80))), []);
        }
    }

    #[test]
    fn too_quiet_is_refused() {
        let audio = dual(770.0, 1336.0, -33.0, -33.0, 100);
        assert_eq!(began(&detect(&audio)), []);
        let audio = dual(770.0, 1336.0, -27.0, -27.0, 100);
        assert_eq!(began(&detect(&audio)), [DtmfDigit::Five]);
    }

    #[test]
    fn thirty_ms_refused_fifty_ms_accepted_at_any_alignment() {
        for offset in (0..102).step_by(3) {
            for digit in [DtmfDigit::Zero, DtmfDigit::Seven, DtmfDigit::A] {
                let mut audio = silence(offset);
                audio.extend(key(digit, 30));
                assert_eq!(
                    began(&detect(&audio)),
                    [],
                    "30 ms {digit} at offset {offset}"
                );
                let mut audio = silence(offset);
                audio.extend(key(digit, 50));
                assert_eq!(
                    began(&detect(&audio)),
                    [digit],
                    "50 ms {digit} at offset {offset}"
                );
                let mut audio = silence(offset);
                audio.extend(key(digit, 40));
                assert_eq!(
                    began(&detect(&audio)),
                    [digit],
                    "40 ms {digit} at offset {offset}"
                );
            }
        }
    }

    #[test]
    fn same_key_after_a_40_ms_pause_is_two_presses() {
        for offset in (0..102).step_by(5) {
            let mut audio = silence(offset);
            audio.extend(key(DtmfDigit::Three, 50));
            audio.extend(silence(320));
            audio.extend(key(DtmfDigit::Three, 50));
            assert_eq!(
                began(&detect(&audio)),
                [DtmfDigit::Three, DtmfDigit::Three],
                "offset {offset}"
            );
        }
    }

    #[test]
    fn held_key_once_and_short_break_bridged() {
        let events = detect(&key(DtmfDigit::Nine, 2000));
        assert_eq!(began(&events), [DtmfDigit::Nine]);
        let duration = durations(&events)[0];
        assert!(
            duration.abs_diff(Duration::from_secs(2)) < Duration::from_millis(5),
            "{duration:?}"
        );
        for offset in (0..102).step_by(7) {
            let mut audio = key(DtmfDigit::Nine, 200);
            audio.extend(silence(offset));
            audio.truncate(1600 - 80 + offset);
            audio.extend(silence(80));
            audio.extend(key(DtmfDigit::Nine, 200));
            assert_eq!(
                began(&detect(&audio)),
                [DtmfDigit::Nine],
                "break at {offset}"
            );
        }
    }

    #[test]
    fn noise_does_not_talk_off() {
        for (seed, rms) in [(1, 300.0), (2, 3000.0), (3, 12000.0)] {
            let audio = noise(8000 * 10, rms, seed);
            assert_eq!(began(&detect(&audio)), [], "rms {rms}");
        }
    }

    #[test]
    fn key_in_noise_is_heard() {
        // 20 dB signal-to-noise ratio.
        let tone = key(DtmfDigit::Eight, 100);
        let noise = noise(tone.len(), 22_700.0 * 10f64.powf(-27.0 / 20.0), 7);
        let audio: Vec<i16> = tone
            .iter()
            .zip(&noise)
            .map(|(&a, &b)| a.saturating_add(b))
            .collect();
        assert_eq!(began(&detect(&audio)), [DtmfDigit::Eight]);
    }

    /// Voiced speech stand-in: a harmonic series on a gliding, vibrato
    /// pitch, shaped by three moving formants and a syllable envelope.
    fn speech_like(seconds: u32, base_pitch: f64) -> Vec<i16> {
        let samples = (seconds * 8000) as usize;
        let mut phases = [0.0f64; 40];
        let formant =
            |f: f64, centre: f64, width: f64| 1.0 / (1.0 + ((f - centre) / width).powi(2));
        (0..samples)
            .map(|n| {
                let t = n as f64 / RATE;
                let pitch = base_pitch
                    * (1.0 + 0.25 * (std::f64::consts::TAU * 0.4 * t).sin())
                    * (1.0 + 0.03 * (std::f64::consts::TAU * 5.5 * t).sin());
                let f1 = 500.0 + 250.0 * (std::f64::consts::TAU * 1.3 * t).sin();
                let f2 = 1500.0 + 500.0 * (std::f64::consts::TAU * 0.9 * t).sin();
                let syllable = 0.55 + 0.45 * (std::f64::consts::TAU * 4.0 * t).sin();
                let mut value = 0.0;
                for (k, phase) in phases.iter_mut().enumerate() {
                    let f = pitch * (k + 1) as f64;
                    if f < 3800.0 {
                        let gain = formant(f, f1, 90.0)
                            + 0.6 * formant(f, f2, 120.0)
                            + 0.25 * formant(f, 2600.0, 200.0);
                        value += gain * phase.sin();
                    }
                    *phase = (*phase + std::f64::consts::TAU * f / RATE) % std::f64::consts::TAU;
                }
                (value * syllable * 6000.0).round().clamp(-32768.0, 32767.0) as i16
            })
            .collect()
    }

    #[test]
    fn speech_like_audio_does_not_talk_off() {
        // 22 minutes over 80-300 Hz pitches gave no detection in release
        // builds; a sample here.
        for pitch in [95.0, 130.0, 180.0, 200.0, 290.0] {
            let audio = speech_like(8, pitch);
            assert_eq!(began(&detect(&audio)), [], "pitch {pitch}");
        }
    }

    #[test]
    fn textbook_205_sample_blocks_work_for_nominal_keys() {
        let config = DtmfDetectorConfig {
            block_len: 205,
            ..Default::default()
        };
        for digit in DtmfDigit::ALL {
            let mut audio = silence(50);
            audio.extend(key(digit, 100));
            let events = detect_with(config, &audio);
            assert_eq!(began(&events), [digit]);
            let duration = durations(&events)[0];
            assert!(
                duration.abs_diff(Duration::from_millis(100)) < Duration::from_millis(6),
                "{duration:?}"
            );
        }
    }

    #[test]
    fn any_slicing_gives_the_same_events() {
        let mut audio = key(DtmfDigit::Six, 70);
        audio.extend(silence(500));
        audio.extend(key(DtmfDigit::B, 70));
        audio.extend(silence(800));
        let whole = {
            let mut detector = DtmfDetector::default();
            detector.handle_samples(&audio);
            std::iter::from_fn(|| detector.poll_event()).collect::<Vec<_>>()
        };
        let mut detector = DtmfDetector::default();
        for chunk in audio.chunks(13) {
            detector.handle_samples(chunk);
        }
        let sliced: Vec<_> = std::iter::from_fn(|| detector.poll_event()).collect();
        assert_eq!(whole, sliced);
        assert_eq!(began(&whole), [DtmfDigit::Six, DtmfDigit::B]);
    }
}
