//! Test signals and their measurement: sums of tones, and how much of a
//! codec's output is those tones (whatever the delay the codec added).

/// Frequencies and amplitudes of the speech-band test signal; each has a
/// whole number of periods in 50 ms at 8, 16 and 48 kHz.
pub(crate) const SPEECH_TONES: [(f64, f64); 3] =
    [(440.0, 5000.0), (1000.0, 3000.0), (2100.0, 2000.0)];

/// `len` samples at `rate` Hz of the sum of `tones`, from sample `start`.
pub(crate) fn tones(tones: &[(f64, f64)], rate: u32, start: usize, len: usize) -> Vec<i16> {
    (start..start + len)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let value: f64 = tones
                .iter()
                .map(|&(freq, amplitude)| amplitude * (2.0 * std::f64::consts::PI * freq * t).sin())
                .sum();
            value as i16
        })
        .collect()
}

/// Fits `samples` (at `rate` Hz) with sines of the frequencies of
/// `tones`, any phase, over the last whole 50 ms blocks after `skip`:
/// returns the fitted amplitude of each tone and the ratio, in dB, of
/// the fitted signal to what is left (noise and distortion).
pub(crate) fn measure(
    samples: &[i16],
    rate: u32,
    tones: &[(f64, f64)],
    skip: usize,
) -> (Vec<f64>, f64) {
    let block = rate as usize / 20;
    let len = (samples.len().saturating_sub(skip)) / block * block;
    assert!(
        len >= block,
        "too few samples to measure: {}",
        samples.len()
    );
    let window = &samples[samples.len() - len..];
    let n = len as f64;
    let omega =
        |freq: f64, i: usize| 2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate);
    let fits: Vec<(f64, f64)> = tones
        .iter()
        .map(|&(freq, _)| {
            let (mut sin, mut cos) = (0.0, 0.0);
            for (i, &x) in window.iter().enumerate() {
                sin += f64::from(x) * omega(freq, i).sin();
                cos += f64::from(x) * omega(freq, i).cos();
            }
            (2.0 * sin / n, 2.0 * cos / n)
        })
        .collect();
    let (mut signal, mut residual) = (0.0, 0.0);
    for (i, &x) in window.iter().enumerate() {
        let fitted: f64 = tones
            .iter()
            .zip(&fits)
            .map(|(&(freq, _), &(a, b))| a * omega(freq, i).sin() + b * omega(freq, i).cos())
            .sum();
        signal += fitted * fitted;
        residual += (f64::from(x) - fitted).powi(2);
    }
    let amplitudes = fits.iter().map(|&(a, b)| a.hypot(b)).collect();
    (amplitudes, 10.0 * (signal / residual.max(1.0)).log10())
}

/// Asserts that `samples` carry `tones` within 1.5 dB each and with at
/// least `min_db` of signal to noise and distortion.
pub(crate) fn assert_tones(
    samples: &[i16],
    rate: u32,
    tones: &[(f64, f64)],
    skip: usize,
    min_db: f64,
    what: &str,
) {
    let (amplitudes, snr) = measure(samples, rate, tones, skip);
    for (&(freq, expected), amplitude) in tones.iter().zip(&amplitudes) {
        let gain = 20.0 * (amplitude / expected).log10();
        assert!(gain.abs() < 1.5, "{what}: {freq} Hz at {gain:.2} dB");
    }
    assert!(
        snr > min_db,
        "{what}: SNR {snr:.1} dB, amplitudes {amplitudes:?}"
    );
}
