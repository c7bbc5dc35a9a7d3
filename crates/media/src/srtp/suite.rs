//! The SDES crypto suites this crate implements (RFC 4568 §6.2).

use sdp::Crypto;

/// Master key length of the AES-128 suites (RFC 4568 §6.2).
pub(crate) const MASTER_KEY_LEN: usize = 16;
/// Master salt length (RFC 3711 §8.2).
pub(crate) const MASTER_SALT_LEN: usize = 14;

/// An SRTP crypto suite: AES-128 counter mode with HMAC-SHA1, RFC 4568
/// §6.2.1 and §6.2.2. The two differ only in the SRTP tag length; SRTCP
/// uses an 80-bit tag with both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SrtpSuite {
    /// `AES_CM_128_HMAC_SHA1_80`: 80-bit tags.
    AesCm128HmacSha1_80,
    /// `AES_CM_128_HMAC_SHA1_32`: 32-bit SRTP tags, 80-bit SRTCP tags.
    AesCm128HmacSha1_32,
}

impl SrtpSuite {
    /// Master key length in bytes.
    pub const MASTER_KEY_LEN: usize = MASTER_KEY_LEN;
    /// Master salt length in bytes.
    pub const MASTER_SALT_LEN: usize = MASTER_SALT_LEN;

    /// The suite's name in `a=crypto`.
    pub const fn sdp_name(self) -> &'static str {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SrtpSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// The suite named in an `a=crypto` line, `None` for one not
    /// implemented here.
    pub fn from_sdp_name(name: &str) -> Option<Self> {
        [
            SrtpSuite::AesCm128HmacSha1_80,
            SrtpSuite::AesCm128HmacSha1_32,
        ]
        .into_iter()
        .find(|suite| suite.sdp_name() == name)
    }

    /// Length of the SRTP authentication tag in bytes.
    pub const fn rtp_tag_len(self) -> usize {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => 10,
            SrtpSuite::AesCm128HmacSha1_32 => 4,
        }
    }

    /// Length of the SRTCP authentication tag in bytes (RFC 4568 §6.2.2:
    /// 80 bits for both suites).
    pub const fn rtcp_tag_len(self) -> usize {
        10
    }

    /// Bytes SRTP adds to an RTP packet (the tag; no MKI).
    pub const fn rtp_overhead(self) -> usize {
        self.rtp_tag_len()
    }

    /// Bytes SRTCP adds to an RTCP compound: E flag and index (4) and the
    /// tag.
    pub const fn rtcp_overhead(self) -> usize {
        4 + self.rtcp_tag_len()
    }

    /// An `a=crypto` line offering or answering with this suite and key
    /// (RFC 4568 §9.1): `<tag> <suite> inline:<base64 key||salt>`, no
    /// lifetime, MKI or session parameters.
    pub fn sdes_crypto(
        self,
        tag: u32,
        master_key: &[u8; MASTER_KEY_LEN],
        master_salt: &[u8; MASTER_SALT_LEN],
    ) -> Crypto {
        let mut key_salt = Vec::with_capacity(MASTER_KEY_LEN + MASTER_SALT_LEN);
        key_salt.extend_from_slice(master_key);
        key_salt.extend_from_slice(master_salt);
        Crypto::new(tag, self.sdp_name(), key_salt)
    }
}
