//! Session keys: the AES-CM key derivation of RFC 3711 §4.3 (key
//! derivation rate 0), the AES-CM keystream of §4.1.1 and the
//! HMAC-SHA1 tag of §4.2.

use aes::cipher::{InnerIvInit, KeyInit, KeyIvInit, StreamCipher};
use aes::Aes128;
use ctr::{flavors, Ctr128BE, CtrCore};
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::suite::{MASTER_KEY_LEN, MASTER_SALT_LEN};

/// Session authentication key length, n_a = 160 bits (RFC 3711 §8.2).
const AUTH_KEY_LEN: usize = 20;

/// Key derivation labels (RFC 3711 §4.3.1 and §4.3.2): encryption key,
/// authentication key and salt, for SRTP and for SRTCP.
pub(crate) const SRTP_LABELS: [u8; 3] = [0x00, 0x01, 0x02];
pub(crate) const SRTCP_LABELS: [u8; 3] = [0x03, 0x04, 0x05];

/// The AES-CM PRF of RFC 3711 §4.3.3 with r = 0 (key derivation rate 0):
/// x = (label || 0^48) XOR master salt, output = AES-CM(master key,
/// x * 2^16) truncated to `out.len()`.
pub(crate) fn derive(
    master_key: &[u8; MASTER_KEY_LEN],
    master_salt: &[u8; MASTER_SALT_LEN],
    label: u8,
    out: &mut [u8],
) {
    let mut iv = [0u8; 16];
    iv[..MASTER_SALT_LEN].copy_from_slice(master_salt);
    // key_id = label || r is 56 bits, right-aligned under the 112-bit salt.
    iv[7] ^= label;
    out.fill(0);
    Ctr128BE::<Aes128>::new(master_key.into(), &iv.into()).apply_keystream(out);
}

/// HMAC-SHA1 keyed with `key`. HMAC pads a key shorter than the hash
/// block (64 bytes) with zeros (RFC 2104 §2), so the padded key is the
/// same key, and needs no fallible length check.
fn keyed_mac(key: &[u8; AUTH_KEY_LEN]) -> Hmac<Sha1> {
    let mut block = [0u8; 64];
    block[..AUTH_KEY_LEN].copy_from_slice(key);
    <Hmac<Sha1> as KeyInit>::new(&block.into())
}

/// Session keys of one direction for SRTP or SRTCP.
#[derive(Clone)]
pub(crate) struct SessionKeys {
    cipher: Aes128,
    salt: [u8; MASTER_SALT_LEN],
    /// Keyed once; cloned per packet (no key schedule per packet).
    mac: Hmac<Sha1>,
}

impl SessionKeys {
    pub(crate) fn derive(
        master_key: &[u8; MASTER_KEY_LEN],
        master_salt: &[u8; MASTER_SALT_LEN],
        [encryption, authentication, salt_label]: [u8; 3],
    ) -> Self {
        let mut key = [0u8; MASTER_KEY_LEN];
        derive(master_key, master_salt, encryption, &mut key);
        let mut auth = [0u8; AUTH_KEY_LEN];
        derive(master_key, master_salt, authentication, &mut auth);
        let mut salt = [0u8; MASTER_SALT_LEN];
        derive(master_key, master_salt, salt_label, &mut salt);
        let mac = keyed_mac(&auth);
        Self {
            cipher: Aes128::new(&key.into()),
            salt,
            mac,
        }
    }

    /// Session keys given directly, for the RFC 3711 B.2 vector.
    #[cfg(test)]
    pub(crate) fn from_session_keys(
        key: &[u8; MASTER_KEY_LEN],
        salt: &[u8; MASTER_SALT_LEN],
        auth: &[u8; AUTH_KEY_LEN],
    ) -> Self {
        Self {
            cipher: Aes128::new(key.into()),
            salt: *salt,
            mac: keyed_mac(auth),
        }
    }

    /// XORs the AES-CM keystream of packet `index` of `ssrc` onto `data`
    /// (RFC 3711 §4.1.1): IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR
    /// (index * 2^16).
    pub(crate) fn apply_keystream(&self, ssrc: u32, index: u64, data: &mut [u8]) {
        let mut iv = [0u8; 16];
        iv[..MASTER_SALT_LEN].copy_from_slice(&self.salt);
        for (byte, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
            *byte ^= s;
        }
        // The index is 48 bits: the low 6 bytes of its u64.
        for (byte, i) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
            *byte ^= i;
        }
        let core =
            CtrCore::<Aes128, flavors::Ctr128BE>::inner_iv_init(self.cipher.clone(), &iv.into());
        Ctr128BE::<Aes128>::from_core(core).apply_keystream(data);
    }

    /// The full HMAC-SHA1 of `data` followed by `roc` if given (RFC 3711
    /// §4.2: SRTP authenticates header, payload and ROC; SRTCP the
    /// packet, E flag and index).
    pub(crate) fn tag(&self, data: &[u8], roc: Option<u32>) -> [u8; 20] {
        let mut mac = self.mac.clone();
        mac.update(data);
        if let Some(roc) = roc {
            mac.update(&roc.to_be_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is the left part of the HMAC of `data` and `roc`, in
    /// constant time.
    pub(crate) fn verify(&self, data: &[u8], roc: Option<u32>, tag: &[u8]) -> bool {
        let mut mac = self.mac.clone();
        mac.update(data);
        if let Some(roc) = roc {
            mac.update(&roc.to_be_bytes());
        }
        mac.verify_truncated_left(tag).is_ok()
    }
}
