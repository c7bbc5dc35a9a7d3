//! G.711 (ITU-T Rec. G.711, 11/1988): μ-law (PCMU, RTP payload type 0)
//! and A-law (PCMA, payload type 8) for 16-bit linear samples.
//!
//! Encoding follows the reference implementation of ITU-T G.191 (the
//! Software Tool Library's `g711.c`): negative samples are taken as their
//! one's complement, so -1 encodes as "negative zero" (μ-law `0x7F`,
//! A-law `0x55`) and every code decodes to the middle of its interval.
//! Decoding reads a table built at compile time from the same formulas.
//! Encoding and then decoding a code gives the code back, except μ-law
//! `0x7F` (negative zero), which decodes to 0 and encodes as `0xFF`.

/// μ-law bias in 14-bit units (G.191 `ulaw_compress`).
const MULAW_BIAS: i32 = 33;
/// Largest biased μ-law magnitude (14-bit).
const MULAW_MAX: i32 = 0x1fff;

/// μ-law to linear, indexed by code.
static MULAW_TO_LINEAR: [i16; 256] = decode_table(G711::Mulaw);
/// A-law to linear, indexed by code.
static ALAW_TO_LINEAR: [i16; 256] = decode_table(G711::Alaw);

const fn mulaw_expand(code: u8) -> i16 {
    let inverted = !code;
    let exponent = (inverted >> 4) & 0x07;
    let mantissa = (inverted & 0x0f) as i32;
    let step = 4 << (exponent + 1);
    let magnitude = (0x80 << exponent) + step * mantissa + step / 2 - 4 * MULAW_BIAS;
    // Magnitudes are at most 32124.
    if code & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

const fn alaw_expand(code: u8) -> i16 {
    let toggled = (code ^ 0x55) & 0x7f;
    let exponent = toggled >> 4;
    let mut mantissa = (toggled & 0x0f) as i32;
    if exponent > 0 {
        mantissa += 16;
    }
    mantissa = (mantissa << 4) + 8;
    if exponent > 1 {
        mantissa <<= exponent - 1;
    }
    // Magnitudes are at most 32256.
    if code & 0x80 != 0 {
        mantissa as i16
    } else {
        -mantissa as i16
    }
}

/// The linear value of every code of `law`.
const fn decode_table(law: G711) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = match law {
            G711::Mulaw => mulaw_expand(code as u8),
            G711::Alaw => alaw_expand(code as u8),
        };
        code += 1;
    }
    table
}

/// Encodes one linear sample as μ-law.
pub fn mulaw_encode(sample: i16) -> u8 {
    let sample = i32::from(sample);
    // One's complement of negative samples, then 14 bits plus bias.
    let magnitude = if sample < 0 { !sample } else { sample };
    let biased = ((magnitude >> 2) + MULAW_BIAS).min(MULAW_MAX);
    // Segment 1..=8: the position of the highest bit above bit 5.
    let segment = 32 - (biased >> 6).leading_zeros() as i32 + 1;
    let high = 8 - segment;
    let low = 0x0f - ((biased >> segment) & 0x0f);
    // high is 0..=7 and low 0..=15.
    let code = ((high << 4) | low) as u8;
    if sample >= 0 {
        code | 0x80
    } else {
        code
    }
}

/// Decodes one μ-law code.
pub fn mulaw_decode(code: u8) -> i16 {
    MULAW_TO_LINEAR[usize::from(code)]
}

/// Encodes one linear sample as A-law.
pub fn alaw_encode(sample: i16) -> u8 {
    let sample = i32::from(sample);
    let magnitude = if sample < 0 { !sample } else { sample };
    let mut ix = magnitude >> 4;
    if ix > 15 {
        // Segment = position of the highest bit above bit 4.
        let exponent = 32 - ix.leading_zeros() as i32 - 4;
        ix = (ix >> (exponent - 1)) - 16 + (exponent << 4);
    }
    // ix is at most 0x7f.
    let code = ix as u8 | if sample >= 0 { 0x80 } else { 0 };
    code ^ 0x55
}

/// Decodes one A-law code.
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

/// G.711 companding law, with slice-at-a-time coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711 {
    /// μ-law (PCMU, static payload type 0).
    Mulaw,
    /// A-law (PCMA, static payload type 8).
    Alaw,
}

impl G711 {
    /// The static RTP payload type (RFC 3551 §6).
    pub const fn payload_type(self) -> u8 {
        match self {
            G711::Mulaw => 0,
            G711::Alaw => 8,
        }
    }

    /// Encodes `samples` into `out`, one code per sample, up to the shorter
    /// of the two; returns the number written.
    pub fn encode(self, samples: &[i16], out: &mut [u8]) -> usize {
        let encode = match self {
            G711::Mulaw => mulaw_encode,
            G711::Alaw => alaw_encode,
        };
        for (code, &sample) in out.iter_mut().zip(samples) {
            *code = encode(sample);
        }
        samples.len().min(out.len())
    }

    /// Decodes `codes` into `out`, up to the shorter of the two; returns
    /// the number written.
    pub fn decode(self, codes: &[u8], out: &mut [i16]) -> usize {
        let table = match self {
            G711::Mulaw => &MULAW_TO_LINEAR,
            G711::Alaw => &ALAW_TO_LINEAR,
        };
        for (sample, &code) in out.iter_mut().zip(codes) {
            *sample = table[usize::from(code)];
        }
        codes.len().min(out.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        assert_eq!(mulaw_encode(0), 0xff);
        assert_eq!(alaw_encode(0), 0xd5);
        assert_eq!(mulaw_encode(-1), 0x7f);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(mulaw_decode(0xff), 0);
        assert_eq!(mulaw_decode(0x7f), 0);
        assert_eq!(mulaw_decode(0x00), -32124);
        assert_eq!(mulaw_decode(0x80), 32124);
        assert_eq!(mulaw_decode(0xfe), 8);
        assert_eq!(mulaw_decode(0x7e), -8);
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xaa), 32256);
        assert_eq!(alaw_decode(0x2a), -32256);
        // A-law segment 1 (sign 1, exponent 1, mantissa 0 = 0x90, toggled
        // 0xc5) is 256..272: its middle.
        assert_eq!(alaw_decode(0xc5), 264);
        // Saturation.
        assert_eq!(mulaw_encode(i16::MAX), 0x80);
        assert_eq!(mulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(i16::MAX), 0xaa);
        assert_eq!(alaw_encode(i16::MIN), 0x2a);
    }

    #[test]
    fn decode_then_encode_is_identity() {
        for code in 0..=255u8 {
            let expected = if code == 0x7f { 0xff } else { code };
            assert_eq!(
                mulaw_encode(mulaw_decode(code)),
                expected,
                "μ-law {code:#04x}"
            );
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
        }
    }

    #[test]
    fn quantization_is_monotonic_and_close() {
        let mut previous = (i32::MIN, i32::MIN);
        for sample in i16::MIN..=i16::MAX {
            let mu = i32::from(mulaw_decode(mulaw_encode(sample)));
            let a = i32::from(alaw_decode(alaw_encode(sample)));
            assert!(mu >= previous.0 && a >= previous.1, "{sample}");
            previous = (mu, a);
            let x = i32::from(sample);
            // Half the largest step (512 for both laws), plus for μ-law the
            // clipping above its top level (32124).
            assert!((mu - x).abs() <= 644, "μ-law {sample} -> {mu}");
            assert!((a - x).abs() <= 512, "A-law {sample} -> {a}");
        }
        // Small signals keep their fine steps.
        assert_eq!(mulaw_decode(mulaw_encode(100)), 104);
        assert_eq!(alaw_decode(alaw_encode(100)), 104);
    }

    #[test]
    fn slices() {
        let samples = [0i16, 1000, -1000, 32767, -32768];
        let mut codes = [0u8; 8];
        assert_eq!(G711::Mulaw.encode(&samples, &mut codes), 5);
        assert_eq!(codes[0], 0xff);
        let mut back = [0i16; 5];
        assert_eq!(G711::Mulaw.decode(&codes[..5], &mut back), 5);
        assert_eq!(back[0], 0);
        assert_eq!(back[3], 32124);
        assert_eq!(G711::Alaw.encode(&samples, &mut codes[..2]), 2);
        assert_eq!(codes[0], 0xd5);
        assert_eq!(G711::Mulaw.payload_type(), 0);
        assert_eq!(G711::Alaw.payload_type(), 8);
    }
}
