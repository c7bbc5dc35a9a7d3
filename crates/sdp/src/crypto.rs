//! `a=crypto` (RFC 4568 §4 and §6: SDES keys for SRTP).
//!
//! `a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]` with
//! key-params `inline:<base64 key||salt>[|<lifetime>][|<MKI>:<length>]`,
//! several separated by `;`.

use std::fmt;

use crate::base64;
use crate::grammar::{digits, fields, ValueError};
use crate::Attribute;

/// One `a=crypto` line.
#[derive(Clone, PartialEq, Eq)]
pub struct Crypto {
    /// Tag (1 to 9 digits) that the answer echoes (RFC 4568 §4.1).
    pub tag: u32,
    /// Crypto suite, e.g. `AES_CM_128_HMAC_SHA1_80`.
    pub suite: String,
    /// One or more master keys (RFC 4568 §4.3); only `inline` is defined.
    pub keys: Vec<KeyParams>,
    /// Session parameters such as `KDR=1` or `UNENCRYPTED_SRTCP`, as
    /// written.
    pub session_params: Vec<String>,
}

/// One `inline:` key of an `a=crypto` line (RFC 4568 §6.1).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyParams {
    /// The decoded master key followed by the master salt.
    pub key_salt: Vec<u8>,
    /// Master key lifetime in packets.
    pub lifetime: Option<Lifetime>,
    /// Master key identifier carried in each SRTP packet.
    pub mki: Option<Mki>,
}

/// Master key lifetime (RFC 4568 §6.1): `2^31` or a plain count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// `2^<exponent>` packets.
    PowerOfTwo(u8),
    /// A decimal number of packets.
    Packets(u64),
}

/// Master key identifier `<value>:<length in bytes>` (RFC 4568 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mki {
    /// MKI value.
    pub value: u64,
    /// Length of the MKI field in SRTP packets, 1..=128 bytes.
    pub length: u8,
}

impl Crypto {
    /// A line with one inline key, no lifetime, MKI or session parameters,
    /// as Teams expects (`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:...`).
    pub fn new(tag: u32, suite: impl Into<String>, key_salt: Vec<u8>) -> Self {
        Self {
            tag,
            suite: suite.into(),
            keys: vec![KeyParams {
                key_salt,
                lifetime: None,
                mki: None,
            }],
            session_params: Vec::new(),
        }
    }

    /// Master key and master salt lengths in bytes for the suites of
    /// RFC 4568 §6.2, RFC 6188 and RFC 7714; `None` for other suites.
    pub fn key_lengths(suite: &str) -> Option<(usize, usize)> {
        match suite {
            "AES_CM_128_HMAC_SHA1_80" | "AES_CM_128_HMAC_SHA1_32" | "F8_128_HMAC_SHA1_80" => {
                Some((16, 14))
            }
            "AES_192_CM_HMAC_SHA1_80" | "AES_192_CM_HMAC_SHA1_32" => Some((24, 14)),
            "AES_256_CM_HMAC_SHA1_80" | "AES_256_CM_HMAC_SHA1_32" => Some((32, 14)),
            "AEAD_AES_128_GCM" => Some((16, 12)),
            "AEAD_AES_256_GCM" => Some((32, 12)),
            _ => None,
        }
    }

    /// The first key split into (master key, master salt) by the suite's
    /// lengths; `None` for an unknown suite.
    pub fn master_key_salt(&self) -> Option<(&[u8], &[u8])> {
        let (key_len, salt_len) = Self::key_lengths(&self.suite)?;
        let key_salt = &self.keys.first()?.key_salt;
        if key_salt.len() != key_len + salt_len {
            return None;
        }
        Some(key_salt.split_at(key_len))
    }

    pub(crate) fn parse(value: &str) -> Result<Self, ValueError> {
        let mut parts = fields(value);
        let tag = parts
            .next()
            .filter(|t| t.len() <= 9)
            .and_then(digits)
            .ok_or(ValueError::Invalid("tag must be 1 to 9 digits"))?;
        let suite = parts
            .next()
            .ok_or(ValueError::Invalid("missing crypto suite"))?;
        let key_lengths = Self::key_lengths(suite);
        let keys = parts
            .next()
            .ok_or(ValueError::Invalid("missing key parameters"))?
            .split(';')
            .map(|k| KeyParams::parse(k, key_lengths))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            tag,
            suite: suite.to_owned(),
            keys,
            session_params: parts.map(str::to_owned).collect(),
        })
    }
}

impl KeyParams {
    fn parse(text: &str, key_lengths: Option<(usize, usize)>) -> Result<Self, ValueError> {
        let info = text
            .strip_prefix("inline:")
            .ok_or(ValueError::Invalid("key method is not `inline:`"))?;
        let mut parts = info.split('|');
        let key_salt = parts
            .next()
            .and_then(base64::decode)
            .ok_or(ValueError::Invalid("key is not base64"))?;
        if let Some((key, salt)) = key_lengths {
            if key_salt.len() != key + salt {
                return Err(ValueError::Invalid("key length does not match the suite"));
            }
        }
        let mut lifetime = None;
        let mut mki = None;
        for part in parts {
            if let Some((value, length)) = part.split_once(':') {
                if mki.is_some() {
                    return Err(ValueError::Invalid("more than one MKI"));
                }
                let value = digits(value).ok_or(ValueError::Invalid("bad MKI value"))?;
                let length = digits(length)
                    .filter(|l: &u8| (1..=128).contains(l))
                    .ok_or(ValueError::Invalid("bad MKI length"))?;
                mki = Some(Mki { value, length });
            } else {
                if lifetime.is_some() || mki.is_some() {
                    return Err(ValueError::Invalid("misplaced lifetime"));
                }
                lifetime = Some(Lifetime::parse(part)?);
            }
        }
        Ok(Self {
            key_salt,
            lifetime,
            mki,
        })
    }
}

impl Lifetime {
    fn parse(text: &str) -> Result<Self, ValueError> {
        let invalid = ValueError::Invalid("bad key lifetime");
        match text.strip_prefix("2^") {
            Some(exp) => digits(exp)
                .filter(|e: &u8| *e <= 64)
                .map(Lifetime::PowerOfTwo)
                .ok_or(invalid),
            None => digits(text).map(Lifetime::Packets).ok_or(invalid),
        }
    }
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lifetime::PowerOfTwo(exp) => write!(f, "2^{exp}"),
            Lifetime::Packets(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for KeyParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "inline:{}", base64::encode(&self.key_salt))?;
        if let Some(lifetime) = self.lifetime {
            write!(f, "|{lifetime}")?;
        }
        if let Some(mki) = self.mki {
            write!(f, "|{}:{}", mki.value, mki.length)?;
        }
        Ok(())
    }
}

impl fmt::Display for Crypto {
    /// Writes the attribute value (after `a=crypto:`), keys included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.tag, self.suite)?;
        for (i, key) in self.keys.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{key}")?;
        }
        for param in &self.session_params {
            write!(f, " {param}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyParams {
    /// Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyParams")
            .field("key_salt", &format_args!("<{} bytes>", self.key_salt.len()))
            .field("lifetime", &self.lifetime)
            .field("mki", &self.mki)
            .finish()
    }
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crypto")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .field("keys", &self.keys)
            .field("session_params", &self.session_params)
            .finish()
    }
}

impl From<&Crypto> for Attribute {
    fn from(crypto: &Crypto) -> Self {
        Attribute::new("crypto", crypto.to_string())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // 30 bytes: 0x00..0x1d, base64.
    const KEY_30: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";

    #[test]
    fn teams_style_line() {
        let c = Crypto::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}|2^31")).unwrap();
        assert_eq!(c.tag, 1);
        assert_eq!(c.suite, "AES_CM_128_HMAC_SHA1_80");
        assert_eq!(c.keys.len(), 1);
        assert_eq!(c.keys[0].lifetime, Some(Lifetime::PowerOfTwo(31)));
        assert_eq!(c.keys[0].mki, None);
        let (key, salt) = c.master_key_salt().unwrap();
        assert_eq!(key, (0u8..16).collect::<Vec<_>>().as_slice());
        assert_eq!(salt, (16u8..30).collect::<Vec<_>>().as_slice());
        assert_eq!(
            c.to_string(),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}|2^31")
        );
    }

    #[test]
    fn mki_lifetime_several_keys_and_session_params() {
        let text = format!(
            "2 AES_CM_128_HMAC_SHA1_32 inline:{KEY_30}|1048576|1:4;inline:{KEY_30}|2^20|2:4 KDR=1 UNENCRYPTED_SRTCP"
        );
        let c = Crypto::parse(&text).unwrap();
        assert_eq!(c.keys.len(), 2);
        assert_eq!(c.keys[0].lifetime, Some(Lifetime::Packets(1_048_576)));
        assert_eq!(
            c.keys[0].mki,
            Some(Mki {
                value: 1,
                length: 4
            })
        );
        assert_eq!(
            c.keys[1].mki,
            Some(Mki {
                value: 2,
                length: 4
            })
        );
        assert_eq!(c.session_params, vec!["KDR=1", "UNENCRYPTED_SRTCP"]);
        assert_eq!(c.to_string(), text);
        // MKI without lifetime.
        let c = Crypto::parse(&format!("3 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}|5:2")).unwrap();
        assert_eq!(c.keys[0].lifetime, None);
        assert_eq!(
            c.keys[0].mki,
            Some(Mki {
                value: 5,
                length: 2
            })
        );
    }

    #[test]
    fn errors() {
        let bad = [
            "x AES_CM_128_HMAC_SHA1_80 inline:AAAA",
            "1234567890 AES_CM_128_HMAC_SHA1_80 inline:AAAA",
            "1",
            "1 AES_CM_128_HMAC_SHA1_80",
            "1 AES_CM_128_HMAC_SHA1_80 uri:http://example.com",
            "1 AES_CM_128_HMAC_SHA1_80 inline:!!!!",
            // 3 bytes: wrong length for the suite.
            "1 AES_CM_128_HMAC_SHA1_80 inline:AAAA",
        ];
        for text in bad {
            assert!(Crypto::parse(text).is_err(), "{text}");
        }
        let with_key = |suffix: &str| format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_30}{suffix}");
        for suffix in [
            "|2^x",
            "|1:0",
            "|1:200",
            "|1:4|2^31",
            "|1:4|2:4",
            "|",
            "|2^99",
        ] {
            assert!(Crypto::parse(&with_key(suffix)).is_err(), "{suffix}");
        }
        // Unknown suites are kept with any key length.
        let c = Crypto::parse("7 FOO_SUITE inline:AAAA").unwrap();
        assert_eq!(c.keys[0].key_salt, vec![0, 0, 0]);
        assert_eq!(c.master_key_salt(), None);
    }

    #[test]
    fn debug_redacts_keys() {
        let c = Crypto::new(1, "AES_CM_128_HMAC_SHA1_80", vec![0xAB; 30]);
        let debug = format!("{c:?}");
        assert!(debug.contains("<30 bytes>"));
        assert!(!debug.contains("171"));
        assert!(!debug.contains(&base64::encode(&[0xAB; 30])));
    }

    #[test]
    fn constructed_line_parses_back() {
        let c = Crypto::new(1, "AES_256_CM_HMAC_SHA1_80", (0..46).collect());
        let back = Crypto::parse(&c.to_string()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.master_key_salt().unwrap().0.len(), 32);
        assert_eq!(Attribute::from(&c).name, "crypto");
    }
}
