//! [`choose_codecs`]: what two call legs speak, from the codec lists of
//! their SDP (each in the leg's order of preference, RFC 3264 §5.1).

use super::Codec;

/// The outcome of [`choose_codecs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecChoice {
    /// Both legs speak this codec: relay without transcoding.
    Shared(Codec),
    /// No codec in common: leg A speaks `a`, leg B speaks `b`, and a
    /// [`Transcoder`](crate::Transcoder) runs each way.
    Transcode {
        /// Codec of leg A.
        a: Codec,
        /// Codec of leg B.
        b: Codec,
    },
}

/// Cost of converting between two sample rates: none when equal, more
/// the further apart they are (8 <-> 16 kHz 2, 16 <-> 48 kHz 3,
/// 8 <-> 48 kHz 4).
fn rate_cost(a: u32, b: u32) -> usize {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    match high / low.max(1) {
        1 => 0,
        2 => 2,
        3 => 3,
        _ => 4,
    }
}

/// Picks the codecs for two legs from their offers, each in order of
/// preference; comfort noise and anything not handled here is skipped.
///
/// The first codec of A's list that B also has is shared. Otherwise every
/// pair is scored by its place in each list plus the cost of converting
/// between their sample rates, and the cheapest wins (ties: A's
/// preference first): Opus on one leg and G.711 on the other with G.722
/// offered as A's second choice transcodes G.722 <-> G.711, since the
/// narrowband leg bounds the quality anyway. `None` if a leg offers no
/// audio codec handled here.
pub fn choose_codecs(offer_a: &[Codec], offer_b: &[Codec]) -> Option<CodecChoice> {
    let audio = |offer: &[Codec]| {
        let mut seen = Vec::with_capacity(offer.len());
        for &codec in offer {
            if codec.is_audio() && !seen.contains(&codec) {
                seen.push(codec);
            }
        }
        seen
    };
    let a = audio(offer_a);
    let b = audio(offer_b);
    if let Some(&shared) = a.iter().find(|codec| b.contains(codec)) {
        return Some(CodecChoice::Shared(shared));
    }
    let mut best: Option<(usize, Codec, Codec)> = None;
    for (rank_a, &codec_a) in a.iter().enumerate() {
        for (rank_b, &codec_b) in b.iter().enumerate() {
            let cost = rank_a + rank_b + rate_cost(codec_a.sample_rate(), codec_b.sample_rate());
            if best.is_none_or(|(lowest, _, _)| cost < lowest) {
                best = Some((cost, codec_a, codec_b));
            }
        }
    }
    best.map(|(_, a, b)| CodecChoice::Transcode { a, b })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CN: Codec = Codec::ComfortNoise { clock_rate: 8000 };

    #[test]
    fn shares_the_first_common_codec() {
        assert_eq!(
            choose_codecs(
                &[Codec::Opus, Codec::G722, Codec::Pcmu],
                &[Codec::Pcmu, Codec::G722]
            ),
            Some(CodecChoice::Shared(Codec::G722))
        );
        assert_eq!(
            choose_codecs(&[CN, Codec::Pcma], &[CN, Codec::Pcma]),
            Some(CodecChoice::Shared(Codec::Pcma))
        );
    }

    #[test]
    fn transcodes_the_cheapest_pair() {
        // G.711 on both sides, different laws: same rate, no resampling.
        assert_eq!(
            choose_codecs(&[Codec::Pcmu], &[Codec::Pcma]),
            Some(CodecChoice::Transcode {
                a: Codec::Pcmu,
                b: Codec::Pcma
            })
        );
        // Browser (Opus, G.722) against a carrier (PCMA, PCMU).
        assert_eq!(
            choose_codecs(&[Codec::Opus, Codec::G722], &[Codec::Pcma, Codec::Pcmu]),
            Some(CodecChoice::Transcode {
                a: Codec::G722,
                b: Codec::Pcma
            })
        );
        // Opus only against G.722 only.
        assert_eq!(
            choose_codecs(&[Codec::Opus], &[CN, Codec::G722]),
            Some(CodecChoice::Transcode {
                a: Codec::Opus,
                b: Codec::G722
            })
        );
    }

    #[test]
    fn needs_audio_on_both_legs() {
        assert_eq!(choose_codecs(&[CN], &[Codec::Pcmu]), None);
        assert_eq!(choose_codecs(&[Codec::Pcmu], &[]), None);
    }
}
