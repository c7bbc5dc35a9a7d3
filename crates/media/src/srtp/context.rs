//! The SRTP / SRTCP crypto context of one direction (RFC 3711 §3.2).

use std::fmt;

use sdp::Crypto;

use super::keys::{SessionKeys, SRTCP_LABELS, SRTP_LABELS};
use super::replay::{estimate_index, ReplayWindow, MAX_SRTP_INDEX};
use super::suite::{SrtpSuite, MASTER_KEY_LEN, MASTER_SALT_LEN};
use crate::error::SrtpError;
use crate::rtp;

/// SSRCs one context tracks, for SRTP and for SRTCP each. A call has one
/// or two; a peer past this limit is refused rather than grown without
/// bound.
const MAX_STREAMS: usize = 64;

/// Largest SRTCP index (31 bits, RFC 3711 §3.4).
const MAX_SRTCP_INDEX: u64 = 0x7fff_ffff;

/// The E flag of the SRTCP index word (RFC 3711 §3.4).
const E_FLAG: u32 = 0x8000_0000;

/// RTP and RTCP header bytes sent in the clear before the encrypted part
/// of SRTCP: header and sender SSRC (RFC 3711 §3.4).
const RTCP_CLEAR_LEN: usize = 8;

fn be16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// Replay and index state of one SSRC (RFC 3711 §3.2.1: ROC and s_l are
/// the highest index; the replay list is the window).
#[derive(Debug, Clone, Copy)]
struct Stream {
    ssrc: u32,
    window: ReplayWindow,
}

/// SRTP and SRTCP crypto context for one direction of a session: one for
/// what we send (`protect_*`), another for what we receive
/// (`unprotect_*`), each made from that direction's SDES key.
///
/// Keys are derived once (key derivation rate 0); per SSRC it keeps the
/// highest packet index (ROC and s_l) and a 64-packet replay window for
/// SRTP, and the SRTCP index and its replay window for SRTCP. No MKI.
///
/// Packets are processed in place in the caller's buffer, with no
/// allocation: the `Vec` methods need `capacity - len` of at least
/// [`SrtpSuite::rtp_overhead`] / [`SrtpSuite::rtcp_overhead`] to
/// protect without reallocating; the `_slice` methods never allocate.
///
/// ```
/// use media::{SrtpContext, SrtpSuite};
///
/// let (key, salt) = ([7u8; 16], [9u8; 14]);
/// let suite = SrtpSuite::AesCm128HmacSha1_80;
/// let mut sender = SrtpContext::new(suite, &key, &salt)?;
/// let mut receiver = SrtpContext::new(suite, &key, &salt)?;
///
/// let mut packet = Vec::with_capacity(1500);
/// packet.extend_from_slice(&[0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 42]);
/// packet.extend_from_slice(&[0xff; 160]);
/// let plain = packet.clone();
/// sender.protect_rtp(&mut packet)?;
/// assert_eq!(packet.len(), plain.len() + 10);
/// receiver.unprotect_rtp(&mut packet)?;
/// assert_eq!(packet, plain);
/// # Ok::<(), media::SrtpError>(())
/// ```
#[derive(Clone)]
pub struct SrtpContext {
    suite: SrtpSuite,
    rtp_keys: SessionKeys,
    rtcp_keys: SessionKeys,
    rtp_streams: Vec<Stream>,
    rtcp_streams: Vec<Stream>,
}

impl fmt::Debug for SrtpContext {
    /// Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpContext")
            .field("suite", &self.suite)
            .field("rtp_streams", &self.rtp_streams)
            .field("rtcp_streams", &self.rtcp_streams)
            .finish_non_exhaustive()
    }
}

impl SrtpContext {
    /// A context from a 16-byte master key and 14-byte master salt.
    pub fn new(suite: SrtpSuite, master_key: &[u8], master_salt: &[u8]) -> Result<Self, SrtpError> {
        let key_length = SrtpError::KeyLength {
            key: master_key.len(),
            salt: master_salt.len(),
        };
        let key: &[u8; MASTER_KEY_LEN] = master_key.try_into().map_err(|_| key_length.clone())?;
        let salt: &[u8; MASTER_SALT_LEN] = master_salt.try_into().map_err(|_| key_length)?;
        Ok(Self {
            suite,
            rtp_keys: SessionKeys::derive(key, salt, SRTP_LABELS),
            rtcp_keys: SessionKeys::derive(key, salt, SRTCP_LABELS),
            rtp_streams: Vec::with_capacity(2),
            rtcp_streams: Vec::with_capacity(2),
        })
    }

    /// A context from an `a=crypto` line (RFC 4568): its suite and first
    /// key. Refuses an MKI, several keys and session parameters, none of
    /// which this crate implements.
    pub fn from_crypto(crypto: &Crypto) -> Result<Self, SrtpError> {
        let suite = SrtpSuite::from_sdp_name(&crypto.suite)
            .ok_or_else(|| SrtpError::UnsupportedSuite(crypto.suite.clone()))?;
        let [key] = crypto.keys.as_slice() else {
            return Err(SrtpError::UnsupportedKeyParams("more than one key"));
        };
        if key.mki.is_some() {
            return Err(SrtpError::UnsupportedKeyParams("MKI"));
        }
        if !crypto.session_params.is_empty() {
            return Err(SrtpError::UnsupportedKeyParams("session parameters"));
        }
        Self::with_key_salt(suite, &key.key_salt)
    }

    /// A context for the SDES suite named `suite` (as in `a=crypto`) from
    /// an inline master key and salt, concatenated as SDES carries them.
    pub fn from_key_salt(suite: &str, key_salt: &[u8]) -> Result<Self, SrtpError> {
        let suite = SrtpSuite::from_sdp_name(suite)
            .ok_or_else(|| SrtpError::UnsupportedSuite(suite.to_owned()))?;
        Self::with_key_salt(suite, key_salt)
    }

    fn with_key_salt(suite: SrtpSuite, key_salt: &[u8]) -> Result<Self, SrtpError> {
        let (master_key, master_salt) =
            key_salt
                .split_at_checked(MASTER_KEY_LEN)
                .ok_or(SrtpError::KeyLength {
                    key: key_salt.len(),
                    salt: 0,
                })?;
        Self::new(suite, master_key, master_salt)
    }

    /// The suite.
    pub fn suite(&self) -> SrtpSuite {
        self.suite
    }

    /// The rollover counter of SRTP stream `ssrc` (the high 32 bits of
    /// the highest packet index seen), `None` before its first packet.
    pub fn rollover_counter(&self, ssrc: u32) -> Option<u32> {
        let stream = self.rtp_streams.iter().find(|s| s.ssrc == ssrc)?;
        // The index is at most 48 bits (MAX_SRTP_INDEX).
        stream.window.highest().map(|index| (index >> 16) as u32)
    }

    /// Protects the RTP packet in `buf` (RFC 3711 §3.3): encrypts its
    /// payload and appends the tag. `buf` grows by
    /// [`SrtpSuite::rtp_overhead`]; on error it is unchanged.
    pub fn protect_rtp(&mut self, buf: &mut Vec<u8>) -> Result<(), SrtpError> {
        let len = buf.len();
        buf.resize(len + self.suite.rtp_overhead(), 0);
        let result = self.protect_rtp_slice(buf, len);
        buf.truncate(*result.as_ref().unwrap_or(&len));
        result.map(drop)
    }

    /// Protects the RTP packet in `buf[..len]`, writing the tag after it;
    /// returns the SRTP packet's length.
    pub fn protect_rtp_slice(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let needed = len.saturating_add(self.suite.rtp_overhead());
        if buf.len() < needed {
            return Err(SrtpError::BufferTooSmall {
                len: buf.len(),
                needed,
            });
        }
        let header_len = rtp::header_len(&buf[..len])?;
        let (ssrc, seq) = (be32(buf, 8), be16(buf, 2));
        let found = find(&self.rtp_streams, ssrc);
        let window = found.map_or_else(ReplayWindow::default, |at| self.rtp_streams[at].window);
        let index = rtp_index(&window, seq)?;
        window.check(index).map_err(|error| match error {
            SrtpError::Replayed(index) => SrtpError::IndexReused(index),
            other => other,
        })?;
        let at = found.map_or_else(|| add(&mut self.rtp_streams, ssrc), Ok)?;

        self.rtp_keys
            .apply_keystream(ssrc, index, &mut buf[header_len..len]);
        let tag = self.rtp_keys.tag(&buf[..len], Some(roc(index)));
        buf[len..needed].copy_from_slice(&tag[..self.suite.rtp_tag_len()]);
        self.rtp_streams[at].window.accept(index);
        Ok(needed)
    }

    /// Verifies and decrypts the SRTP packet in `buf` (RFC 3711 §3.3),
    /// leaving the RTP packet. On error `buf` is unchanged.
    pub fn unprotect_rtp(&mut self, buf: &mut Vec<u8>) -> Result<(), SrtpError> {
        let len = self.unprotect_rtp_slice(buf)?;
        buf.truncate(len);
        Ok(())
    }

    /// Verifies and decrypts the SRTP packet that fills `buf`; returns the
    /// length of the RTP packet at its start.
    pub fn unprotect_rtp_slice(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let tag_len = self.suite.rtp_tag_len();
        let needed = rtp::FIXED_HEADER_LEN + tag_len;
        if buf.len() < needed {
            return Err(SrtpError::TooShort {
                len: buf.len(),
                needed,
            });
        }
        let len = buf.len() - tag_len;
        let header_len = rtp::header_len(&buf[..len])?;
        let (ssrc, seq) = (be32(buf, 8), be16(buf, 2));
        let found = find(&self.rtp_streams, ssrc);
        let window = found.map_or_else(ReplayWindow::default, |at| self.rtp_streams[at].window);
        let index = rtp_index(&window, seq)?;
        window.check(index)?;
        let (packet, tag) = buf.split_at(len);
        if !self.rtp_keys.verify(packet, Some(roc(index)), tag) {
            return Err(SrtpError::AuthenticationFailed);
        }
        let at = found.map_or_else(|| add(&mut self.rtp_streams, ssrc), Ok)?;

        self.rtp_keys
            .apply_keystream(ssrc, index, &mut buf[header_len..len]);
        self.rtp_streams[at].window.accept(index);
        Ok(len)
    }

    /// Protects the RTCP compound in `buf` (RFC 3711 §3.4): encrypts it
    /// after the first 8 bytes, appends E flag, SRTCP index and tag. `buf`
    /// grows by [`SrtpSuite::rtcp_overhead`]; on error it is unchanged.
    pub fn protect_rtcp(&mut self, buf: &mut Vec<u8>) -> Result<(), SrtpError> {
        let len = buf.len();
        buf.resize(len + self.suite.rtcp_overhead(), 0);
        let result = self.protect_rtcp_slice(buf, len);
        buf.truncate(*result.as_ref().unwrap_or(&len));
        result.map(drop)
    }

    /// Protects the RTCP compound in `buf[..len]`, writing the trailer
    /// after it; returns the SRTCP packet's length.
    pub fn protect_rtcp_slice(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        check_rtcp_header(buf.get(..len).unwrap_or(buf))?;
        let needed = len.saturating_add(self.suite.rtcp_overhead());
        if buf.len() < needed {
            return Err(SrtpError::BufferTooSmall {
                len: buf.len(),
                needed,
            });
        }
        let ssrc = be32(buf, 4);
        let found = find(&self.rtcp_streams, ssrc);
        let window = found.map_or_else(ReplayWindow::default, |at| self.rtcp_streams[at].window);
        let index = window.highest().map_or(0, |highest| highest + 1);
        if index > MAX_SRTCP_INDEX {
            return Err(SrtpError::KeyExhausted);
        }
        let at = found.map_or_else(|| add(&mut self.rtcp_streams, ssrc), Ok)?;

        self.rtcp_keys
            .apply_keystream(ssrc, index, &mut buf[RTCP_CLEAR_LEN..len]);
        // At most 31 bits (checked above).
        let e_index = E_FLAG | index as u32;
        buf[len..len + 4].copy_from_slice(&e_index.to_be_bytes());
        let tag = self.rtcp_keys.tag(&buf[..len + 4], None);
        buf[len + 4..needed].copy_from_slice(&tag[..self.suite.rtcp_tag_len()]);
        self.rtcp_streams[at].window.accept(index);
        Ok(needed)
    }

    /// Verifies and decrypts the SRTCP packet in `buf` (RFC 3711 §3.4),
    /// leaving the RTCP compound. On error `buf` is unchanged.
    pub fn unprotect_rtcp(&mut self, buf: &mut Vec<u8>) -> Result<(), SrtpError> {
        let len = self.unprotect_rtcp_slice(buf)?;
        buf.truncate(len);
        Ok(())
    }

    /// Verifies and decrypts the SRTCP packet that fills `buf`; returns
    /// the length of the RTCP compound at its start. A packet without the
    /// E flag is authenticated but not decrypted.
    pub fn unprotect_rtcp_slice(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let tag_len = self.suite.rtcp_tag_len();
        let needed = RTCP_CLEAR_LEN + self.suite.rtcp_overhead();
        if buf.len() < needed {
            return Err(SrtpError::TooShort {
                len: buf.len(),
                needed,
            });
        }
        check_rtcp_header(buf)?;
        let auth_len = buf.len() - tag_len;
        let len = auth_len - 4;
        let e_index = be32(buf, len);
        let index = u64::from(e_index & !E_FLAG);
        let ssrc = be32(buf, 4);
        let found = find(&self.rtcp_streams, ssrc);
        let window = found.map_or_else(ReplayWindow::default, |at| self.rtcp_streams[at].window);
        window.check(index)?;
        let (packet, tag) = buf.split_at(auth_len);
        if !self.rtcp_keys.verify(packet, None, tag) {
            return Err(SrtpError::AuthenticationFailed);
        }
        let at = found.map_or_else(|| add(&mut self.rtcp_streams, ssrc), Ok)?;

        if e_index & E_FLAG != 0 {
            self.rtcp_keys
                .apply_keystream(ssrc, index, &mut buf[RTCP_CLEAR_LEN..len]);
        }
        self.rtcp_streams[at].window.accept(index);
        Ok(len)
    }
}

/// The rollover counter of a 48-bit index.
fn roc(index: u64) -> u32 {
    // index <= MAX_SRTP_INDEX, so this is at most 32 bits.
    (index >> 16) as u32
}

/// The packet index of sequence number `seq` on a stream (RFC 3711
/// §3.3.1); the first packet of a stream has ROC 0.
fn rtp_index(window: &ReplayWindow, seq: u16) -> Result<u64, SrtpError> {
    let index = match window.highest() {
        Some(highest) => estimate_index(highest, seq).ok_or(SrtpError::TooOld)?,
        None => u64::from(seq),
    };
    if index > MAX_SRTP_INDEX {
        return Err(SrtpError::KeyExhausted);
    }
    Ok(index)
}

fn check_rtcp_header(packet: &[u8]) -> Result<(), SrtpError> {
    if packet.len() < RTCP_CLEAR_LEN {
        return Err(SrtpError::TooShort {
            len: packet.len(),
            needed: RTCP_CLEAR_LEN,
        });
    }
    let version = packet[0] >> 6;
    if version != 2 {
        return Err(SrtpError::RtcpVersion(version));
    }
    Ok(())
}

fn find(streams: &[Stream], ssrc: u32) -> Option<usize> {
    streams.iter().position(|s| s.ssrc == ssrc)
}

fn add(streams: &mut Vec<Stream>, ssrc: u32) -> Result<usize, SrtpError> {
    if streams.len() >= MAX_STREAMS {
        return Err(SrtpError::TooManyStreams(MAX_STREAMS));
    }
    streams.push(Stream {
        ssrc,
        window: ReplayWindow::default(),
    });
    Ok(streams.len() - 1)
}
