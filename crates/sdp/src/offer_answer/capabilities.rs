//! What the local side can do, as input to [`answer`](super::answer).

use std::fmt;
use std::net::IpAddr;

use crate::{Direction, Origin, Rtpmap};

/// A codec the local side supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// Encoding name as in `a=rtpmap` (compared case-insensitively).
    pub name: String,
    /// RTP clock rate (8000 for G.722, per RFC 3551 §4.5.2).
    pub clock_rate: u32,
    /// Channel count; `None` means one.
    pub channels: Option<u16>,
    /// Format parameters to put in the answer; when `None`, the offer's
    /// `a=fmtp` for the codec (if any) is echoed.
    pub fmtp: Option<String>,
}

impl Codec {
    /// A mono codec without format parameters.
    pub fn new(name: impl Into<String>, clock_rate: u32) -> Self {
        Self {
            name: name.into(),
            clock_rate,
            channels: None,
            fmtp: None,
        }
    }

    /// Sets the channel count.
    pub fn with_channels(mut self, channels: u16) -> Self {
        self.channels = Some(channels);
        self
    }

    /// Sets the format parameters of the answer.
    pub fn with_fmtp(mut self, fmtp: impl Into<String>) -> Self {
        self.fmtp = Some(fmtp.into());
        self
    }

    /// Whether an offered mapping is this codec (name, clock, channels).
    pub fn matches(&self, rtpmap: &Rtpmap) -> bool {
        rtpmap.same_codec(&Rtpmap {
            payload_type: rtpmap.payload_type,
            encoding: self.name.clone(),
            clock_rate: self.clock_rate,
            channels: self.channels,
        })
    }
}

/// A local SDES master key for one crypto suite (RFC 4568).
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKey {
    /// Crypto suite, e.g. `AES_CM_128_HMAC_SHA1_80`.
    pub suite: String,
    /// Master key followed by master salt.
    pub key_salt: Vec<u8>,
}

impl fmt::Debug for SrtpKey {
    /// Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpKey")
            .field("suite", &self.suite)
            .field("key_salt", &format_args!("<{} bytes>", self.key_salt.len()))
            .finish()
    }
}

/// Local capabilities for answering an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// `o=` of the answer. For a later answer in the same session, pass the
    /// result through [`reoffer`](super::reoffer) to keep the id and bump
    /// the version.
    pub origin: Origin,
    /// Local media address, put in the session-level `c=`.
    pub address: IpAddr,
    /// Local port per offered `m=` line, by index. Only accepted streams
    /// need one.
    pub ports: Vec<u16>,
    /// Audio codecs.
    pub audio: Vec<Codec>,
    /// Video codecs.
    pub video: Vec<Codec>,
    /// Whether RFC 4733 `telephone-event` (events 0-16) is supported.
    pub telephone_event: bool,
    /// Accepted `m=` transports, e.g. `RTP/AVP`, `RTP/SAVP`.
    pub protos: Vec<String>,
    /// SDES keys, one per supported suite. An offered `RTP/SAVP(F)`
    /// stream is accepted only if one of its `a=crypto` suites has a key
    /// here. The same key is used for every stream: give each call fresh
    /// keys.
    pub srtp_keys: Vec<SrtpKey>,
    /// Local direction preference; the answer never exceeds what the
    /// offer allows (RFC 3264 §6.1).
    pub direction: Direction,
    /// Whether to accept `a=rtcp-mux` (RFC 5761).
    pub rtcp_mux: bool,
    /// Answer with only the first common codec (plus comfort noise and
    /// telephone-event), so the peer cannot switch codecs mid-call.
    pub single_codec: bool,
}

impl Capabilities {
    /// PCMU and PCMA, telephone-event, `RTP/AVP` and `RTP/SAVP`, rtcp-mux,
    /// `sendrecv`, no SRTP keys, no video.
    pub fn new(origin: Origin, address: IpAddr, ports: Vec<u16>) -> Self {
        Self {
            origin,
            address,
            ports,
            audio: vec![Codec::new("PCMU", 8000), Codec::new("PCMA", 8000)],
            video: Vec::new(),
            telephone_event: true,
            protos: vec!["RTP/AVP".to_owned(), "RTP/SAVP".to_owned()],
            srtp_keys: Vec::new(),
            direction: Direction::SendRecv,
            rtcp_mux: true,
            single_codec: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_matching() {
        let opus = Codec::new("opus", 48000).with_channels(2);
        assert!(opus.matches(&Rtpmap::new(111, "OPUS", 48000).with_channels(2)));
        assert!(!opus.matches(&Rtpmap::new(111, "opus", 48000)));
        let pcmu = Codec::new("PCMU", 8000);
        assert!(pcmu.matches(&Rtpmap::new(0, "PCMU", 8000).with_channels(1)));
        assert!(!pcmu.matches(&Rtpmap::new(0, "PCMA", 8000)));
    }

    #[test]
    fn srtp_key_debug_is_redacted() {
        let key = SrtpKey {
            suite: "AES_CM_128_HMAC_SHA1_80".into(),
            key_salt: vec![0x5a; 30],
        };
        assert!(!format!("{key:?}").contains("90"));
    }
}
