//! ITU-T G.722 (09/2012) at 64 kbit/s (mode 1): sub-band ADPCM of 16 kHz
//! audio, RTP payload type 9 (RFC 3551 §4.5.2).
//!
//! Each pair of input samples goes through the 24-tap quadrature mirror
//! filter (G.722 §3.1, §4.4) into one low-band and one high-band sample.
//! The low band is coded with a 6-bit adaptive quantizer (block 1L
//! QUANTL; the decoder's reconstruction uses all six bits, §4.2 block 5L,
//! while the predictor adapts on the top four, block 2L INVQAL), the high
//! band with 2 bits (block 1H QUANTH). Both bands share the pole-zero
//! predictor of blocks 4L/4H (RECONS, PARREC, UPPOL1/2, UPZERO, FILTEP,
//! FILTEZ, PREDIC). One payload byte is `high << 6 | low`, two samples.
//!
//! The arithmetic is the fixed-point arithmetic of the Recommendation,
//! so the codes match other bit-exact implementations byte for byte
//! (tests/g722_spandsp.rs compares with spandsp). Decoded samples are
//! saturated to 16 bits.

use std::time::Duration;

use super::g711::{conceal_with_silence, frame_len_for};
use super::{AudioDecoder, AudioEncoder, Codec, CodecError};

/// The static RTP payload type of G.722 (RFC 3551 §6).
pub const G722_PAYLOAD_TYPE: u8 = 9;

/// QMF coefficients h(2i), i = 0..12; the odd taps are these reversed
/// (G.722 Table 11).
const QMF: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];

/// Low-band decision levels of the 6-bit quantizer (Table 14, ×8 scale).
const Q6: [i32; 31] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0,
];
/// 6-bit codes of negative / positive low-band differences by interval.
const ILN: [u8; 31] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4,
];
const ILP: [u8; 31] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32,
];
/// Low-band log scale factor multipliers (Table 17) and the 4-bit code
/// to multiplier index map.
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
const RL42: [usize; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
/// Inverse log-base-2 table for the scale factors (Table 18).
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];
/// 4-bit low-band inverse quantizer outputs (Table 15, QQ4).
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
/// 6-bit low-band inverse quantizer outputs (Table 16, QQ6).
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/// High band: 2-bit inverse quantizer (QQ2), codes by magnitude class,
/// log scale factor multipliers and the code to multiplier index map.
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
const IHN: [u8; 3] = [0, 1, 0];
const IHP: [u8; 3] = [0, 3, 2];
const WH: [i32; 3] = [0, -214, 798];
const RH2: [usize; 4] = [2, 1, 2, 1];

fn saturate(value: i32) -> i32 {
    value.clamp(i32::from(i16::MIN), i32::from(i16::MAX))
}

/// Adaptive predictor and scale factor of one sub-band (blocks 3 and 4).
/// Every value stays within 16 bits; `i32` keeps the products exact.
#[derive(Debug, Clone)]
struct Band {
    /// Signal estimate (SL / SH).
    s: i32,
    /// Pole section of the estimate.
    sp: i32,
    /// Zero section of the estimate.
    sz: i32,
    /// Reconstructed signal, now and the two before.
    r: [i32; 3],
    /// Pole coefficients a1, a2 (index 0 unused).
    a: [i32; 3],
    /// Zero coefficients b1..b6 (index 0 unused).
    b: [i32; 7],
    /// Partially reconstructed signal, now and the two before.
    p: [i32; 3],
    /// Quantized difference signal, now and the six before.
    d: [i32; 7],
    /// Log scale factor.
    nb: i32,
    /// Scale factor.
    det: i32,
}

impl Band {
    fn new(det: i32) -> Self {
        Self {
            s: 0,
            sp: 0,
            sz: 0,
            r: [0; 3],
            a: [0; 3],
            b: [0; 7],
            p: [0; 3],
            d: [0; 7],
            nb: 0,
            det,
        }
    }

    /// Blocks 3L/3H: LOGSCL then SCALEL (`shift` 8, `limit` 18432) or
    /// LOGSCH then SCALEH (`shift` 10, `limit` 22528).
    fn adapt_scale(&mut self, multiplier: i32, limit: i32, shift: i32) {
        self.nb = (((self.nb * 127) >> 7) + multiplier).clamp(0, limit);
        let mantissa = ILB[((self.nb >> 6) & 31) as usize];
        let exponent = shift - (self.nb >> 11);
        let scaled = if exponent < 0 {
            mantissa << -exponent
        } else {
            mantissa >> exponent
        };
        self.det = scaled << 2;
    }

    /// Block 4: reconstruction and predictor adaptation for quantized
    /// difference `dx`.
    fn predict(&mut self, dx: i32) {
        // RECONS, PARREC
        self.d[0] = dx;
        self.r[0] = saturate(self.s + dx);
        self.p[0] = saturate(self.sz + dx);

        // UPPOL2
        let sg0 = self.p[0] >> 15;
        let sg1 = self.p[1] >> 15;
        let sg2 = self.p[2] >> 15;
        let wd1 = saturate(self.a[1] << 2);
        let wd2 = if sg0 == sg1 { -wd1 } else { wd1 }.min(32767);
        let mut wd3 = if sg0 == sg2 { 128 } else { -128 };
        wd3 += wd2 >> 7;
        wd3 += (self.a[2] * 32512) >> 15;
        let a2 = wd3.clamp(-12288, 12288);

        // UPPOL1
        let wd1 = if sg0 == sg1 { 192 } else { -192 };
        let wd2 = (self.a[1] * 32640) >> 15;
        let limit = saturate(15360 - a2);
        let a1 = saturate(wd1 + wd2).clamp(-limit, limit);

        // UPZERO
        let step = if dx == 0 { 0 } else { 128 };
        let sg0 = dx >> 15;
        let mut b = [0i32; 7];
        for ((updated, &old), &delayed) in b.iter_mut().zip(&self.b).zip(&self.d).skip(1) {
            let wd2 = if delayed >> 15 == sg0 { step } else { -step };
            let wd3 = (old * 32640) >> 15;
            *updated = saturate(wd2 + wd3);
        }

        // DELAYA
        for i in (1..7).rev() {
            self.d[i] = self.d[i - 1];
            self.b[i] = b[i];
        }
        for i in (1..3).rev() {
            self.r[i] = self.r[i - 1];
            self.p[i] = self.p[i - 1];
        }
        self.a[1] = a1;
        self.a[2] = a2;

        // FILTEP
        let wd1 = (self.a[1] * saturate(self.r[1] + self.r[1])) >> 15;
        let wd2 = (self.a[2] * saturate(self.r[2] + self.r[2])) >> 15;
        self.sp = saturate(wd1 + wd2);

        // FILTEZ
        let mut sz = 0;
        for i in (1..7).rev() {
            sz += (self.b[i] * saturate(self.d[i] + self.d[i])) >> 15;
        }
        self.sz = saturate(sz);

        // PREDIC
        self.s = saturate(self.sp + self.sz);
    }
}

/// Low band: block 2L (INVQAL) and the adaptation of blocks 3L and 4L
/// for the top four bits `ril` of a 6-bit code.
fn adapt_low(band: &mut Band, ril: usize) {
    let dlow = (band.det * QM4[ril]) >> 15;
    band.adapt_scale(WL[RL42[ril]], 18432, 8);
    band.predict(dlow);
}

/// High band: blocks 2H (INVQAH), 3H and 4H for a 2-bit code; returns
/// the quantized difference.
fn adapt_high(band: &mut Band, ihigh: usize) -> i32 {
    let dhigh = (band.det * QM2[ihigh]) >> 15;
    band.adapt_scale(WH[RH2[ihigh]], 22528, 10);
    band.predict(dhigh);
    dhigh
}

/// The 24-sample delay line of the QMF, as 12 sample pairs: the newest
/// pair last.
#[derive(Debug, Clone, Default)]
struct QmfDelay {
    even: [i32; 12],
    odd: [i32; 12],
}

impl QmfDelay {
    fn push(&mut self, even: i32, odd: i32) {
        self.even.copy_within(1.., 0);
        self.odd.copy_within(1.., 0);
        self.even[11] = even;
        self.odd[11] = odd;
    }

    /// (Σ even·h(2i), Σ odd·h(23-2i)).
    fn sums(&self) -> (i32, i32) {
        let mut even = 0;
        let mut odd = 0;
        for i in 0..12 {
            even += self.even[i] * QMF[i];
            odd += self.odd[i] * QMF[11 - i];
        }
        (even, odd)
    }
}

/// G.722 encoder at 64 kbit/s: 16 kHz PCM in, one byte per two samples.
#[derive(Debug, Clone)]
pub struct G722Encoder {
    qmf: QmfDelay,
    low: Band,
    high: Band,
    frame_len: usize,
}

impl Default for G722Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Encoder {
    /// An encoder in the reset state of G.722 §6.3, with 20 ms frames.
    pub fn new() -> Self {
        Self {
            qmf: QmfDelay::default(),
            low: Band::new(32),
            high: Band::new(8),
            frame_len: 320,
        }
    }

    /// An encoder whose [`AudioEncoder`] frames last `ptime`.
    pub fn with_ptime(ptime: Duration) -> Result<Self, CodecError> {
        let frame_len = frame_len_for(Codec::G722, ptime)?;
        Ok(Self {
            frame_len,
            ..Self::new()
        })
    }

    /// Encodes `pcm` (an even number of 16 kHz samples) into `out`, one
    /// byte per pair; returns the bytes written.
    pub fn encode_samples(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        if pcm.len() % 2 != 0 {
            return Err(CodecError::FrameLength {
                len: pcm.len(),
                expected: pcm.len() + 1,
            });
        }
        let needed = pcm.len() / 2;
        if out.len() < needed {
            return Err(CodecError::BufferTooSmall {
                len: out.len(),
                needed,
            });
        }
        for (code, pair) in out.iter_mut().zip(pcm.chunks_exact(2)) {
            *code = self.encode_pair(i32::from(pair[0]), i32::from(pair[1]));
        }
        Ok(needed)
    }

    fn encode_pair(&mut self, first: i32, second: i32) -> u8 {
        // Transmit QMF: the DC gain of 4096, the sum of two filters and
        // the 15-bit input of the ADPCM account for the shift by 14.
        self.qmf.push(first, second);
        let (sum_odd, sum_even) = self.qmf.sums();
        let xlow = (sum_even + sum_odd) >> 14;
        let xhigh = (sum_even - sum_odd) >> 14;

        // Block 1L: SUBTRA, QUANTL.
        let low = &mut self.low;
        let el = saturate(xlow - low.s);
        let magnitude = if el >= 0 { el } else { -(el + 1) };
        let mut interval = 1;
        while interval < 30 && magnitude >= (Q6[interval] * low.det) >> 12 {
            interval += 1;
        }
        let ilow = if el < 0 { ILN[interval] } else { ILP[interval] };
        adapt_low(low, usize::from(ilow >> 2));

        // Block 1H: SUBTRA, QUANTH.
        let high = &mut self.high;
        let eh = saturate(xhigh - high.s);
        let magnitude = if eh >= 0 { eh } else { -(eh + 1) };
        let class = if magnitude >= (564 * high.det) >> 12 {
            2
        } else {
            1
        };
        let ihigh = if eh < 0 { IHN[class] } else { IHP[class] };
        adapt_high(high, usize::from(ihigh));

        (ihigh << 6) | ilow
    }
}

impl AudioEncoder for G722Encoder {
    fn codec(&self) -> Codec {
        Codec::G722
    }

    fn channels(&self) -> usize {
        1
    }

    fn frame_len(&self) -> usize {
        self.frame_len
    }

    fn max_payload_len(&self) -> usize {
        self.frame_len / 2
    }

    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, CodecError> {
        if pcm.len() != self.frame_len {
            return Err(CodecError::FrameLength {
                len: pcm.len(),
                expected: self.frame_len,
            });
        }
        self.encode_samples(pcm, out)
    }
}

/// G.722 decoder at 64 kbit/s: each byte gives two 16 kHz samples. Every
/// byte is a valid code, so any payload decodes.
#[derive(Debug, Clone)]
pub struct G722Decoder {
    qmf: QmfDelay,
    low: Band,
    high: Band,
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Decoder {
    /// A decoder in the reset state of G.722 §6.3.
    pub fn new() -> Self {
        Self {
            qmf: QmfDelay::default(),
            low: Band::new(32),
            high: Band::new(8),
        }
    }

    /// Decodes `codes` into `out`, two samples a byte; returns the
    /// samples written.
    pub fn decode_samples(&mut self, codes: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        let needed = codes.len() * 2;
        if out.len() < needed {
            return Err(CodecError::BufferTooSmall {
                len: out.len(),
                needed,
            });
        }
        for (pair, &code) in out.chunks_exact_mut(2).zip(codes) {
            let (first, second) = self.decode_code(code);
            pair[0] = first;
            pair[1] = second;
        }
        Ok(needed)
    }

    fn decode_code(&mut self, code: u8) -> (i16, i16) {
        let ilow = usize::from(code & 0x3f);
        let ihigh = usize::from(code >> 6);

        // Blocks 5L (INVQBL, RECONS) and 6L (LIMIT), with all six bits.
        let low = &mut self.low;
        let rlow = (low.s + ((low.det * QM6[ilow]) >> 15)).clamp(-16384, 16383);
        adapt_low(low, ilow >> 2);

        // Blocks 2H, 5H (RECONS) and 6H (LIMIT).
        let high = &mut self.high;
        let predicted = high.s;
        let rhigh = (adapt_high(high, ihigh) + predicted).clamp(-16384, 16383);

        // Receive QMF: shift by 12 for the filter gain, less one for the
        // 15-bit ADPCM output.
        self.qmf.push(rlow + rhigh, rlow - rhigh);
        let (sum_even, sum_odd) = self.qmf.sums();
        // Saturated: both values are clamped into i16 first.
        let first = saturate(sum_odd >> 11) as i16;
        let second = saturate(sum_even >> 11) as i16;
        (first, second)
    }
}

impl AudioDecoder for G722Decoder {
    fn codec(&self) -> Codec {
        Codec::G722
    }

    fn channels(&self) -> usize {
        1
    }

    fn decoded_len(&self, payload: &[u8]) -> Result<usize, CodecError> {
        if payload.is_empty() {
            return Err(CodecError::EmptyPayload);
        }
        Ok(payload.len() * 2)
    }

    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, CodecError> {
        self.decoded_len(payload)?;
        self.decode_samples(payload, out)
    }

    fn conceal(&mut self, samples: usize, out: &mut [i16]) -> Result<usize, CodecError> {
        conceal_with_silence(samples, out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tone(freq: f64, amplitude: f64, len: usize) -> Vec<i16> {
        (0..len)
            .map(|i| {
                let phase = 2.0 * std::f64::consts::PI * freq * i as f64 / 16_000.0;
                (amplitude * phase.sin()) as i16
            })
            .collect()
    }

    /// Best SNR over small delays: G.722's QMF pair delays by 22 samples.
    fn snr_db(reference: &[i16], decoded: &[i16]) -> f64 {
        (0..40)
            .map(|delay| {
                let pairs = reference.iter().zip(&decoded[delay..]).skip(400);
                let (mut signal, mut noise) = (0.0, 0.0);
                for (&a, &b) in pairs {
                    signal += f64::from(a) * f64::from(a);
                    noise += (f64::from(a) - f64::from(b)).powi(2);
                }
                10.0 * (signal / noise.max(1.0)).log10()
            })
            .fold(f64::MIN, f64::max)
    }

    #[test]
    fn round_trips_tones_of_both_bands() {
        // 1 kHz lives in the low band, 5 kHz in the high band.
        for freq in [300.0, 1000.0, 3400.0, 5000.0] {
            let pcm = tone(freq, 8000.0, 16_000);
            let mut encoder = G722Encoder::new();
            let mut codes = vec![0u8; pcm.len() / 2];
            assert_eq!(encoder.encode_samples(&pcm, &mut codes).unwrap(), 8000);
            let mut decoder = G722Decoder::new();
            let mut decoded = vec![0i16; pcm.len()];
            decoder.decode_samples(&codes, &mut decoded).unwrap();
            let snr = snr_db(&pcm, &decoded);
            assert!(snr > 15.0, "{freq} Hz: SNR {snr:.1} dB");
        }
    }

    #[test]
    fn frames_and_refuses_odd_input() {
        let mut encoder = G722Encoder::with_ptime(Duration::from_millis(10)).unwrap();
        assert_eq!(encoder.frame_len(), 160);
        let mut out = [0u8; 80];
        assert_eq!(encoder.encode(&[0; 160], &mut out).unwrap(), 80);
        assert!(encoder.encode_samples(&[0; 3], &mut out).is_err());
        assert!(encoder.encode(&[0; 320], &mut out).is_err());
    }

    #[test]
    fn every_code_decodes_within_range() {
        let mut decoder = G722Decoder::new();
        let codes: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        let mut out = vec![0i16; codes.len() * 2];
        assert_eq!(decoder.decode(&codes, &mut out).unwrap(), 8192);
        assert_eq!(decoder.decode(&[], &mut out), Err(CodecError::EmptyPayload));
    }
}
