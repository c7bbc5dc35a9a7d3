//! What the relay's unit tests share: the two legs of a call (keys,
//! ports, far ends), their SRTP keys, RTP packets, and handing a packet
//! to the relay as a driver does.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Instant;

use super::{LegConfig, LegKey, LegPorts, LegSrtp, MediaRelay, Verdict};
use crate::{SrtpContext, SrtpSuite};

/// The first leg of a call: the carrier's (or a caller's).
pub(super) const CARRIER: LegKey = LegKey::new(1, 0);
/// The second leg: Teams (or an agent).
pub(super) const TEAMS: LegKey = LegKey::new(1, 1);
pub(super) const CARRIER_PORT: u16 = 40000;
pub(super) const TEAMS_PORT: u16 = 40002;

pub(super) fn carrier_addr() -> SocketAddr {
    "192.0.2.10:5004".parse().unwrap()
}

pub(super) fn teams_addr() -> SocketAddr {
    "198.51.100.20:50000".parse().unwrap()
}

/// An AES_CM_128_HMAC_SHA1_80 context keyed by `byte`: both ends of a
/// stream make theirs with the same byte.
pub(super) fn context(byte: u8) -> SrtpContext {
    SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &[byte; 16], &[byte ^ 1; 14]).unwrap()
}

/// A leg on `port` (RTCP on the same port) whose peer is at `remote`;
/// with `srtp`, the peer sends with key 0x11 (our inbound context) and
/// we send to it with 0x22.
pub(super) fn leg_config(port: u16, remote: SocketAddr, srtp: bool) -> LegConfig {
    let mut config = LegConfig::new(LegPorts {
        rtp: port,
        rtcp: None,
    });
    config.remote = Some(remote);
    config.srtp = srtp.then(|| LegSrtp {
        inbound: context(0x11),
        outbound: context(0x22),
    });
    config
}

/// An RTP packet (no CSRC, no extension) carrying `payload`.
pub(super) fn rtp(ssrc: u32, seq: u16, ts: u32, pt: u8, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Copies `packet` into a 1500-byte buffer, as a driver receives it.
pub(super) fn buffer(packet: &[u8]) -> ([u8; 1500], usize) {
    let mut buf = [0u8; 1500];
    buf[..packet.len()].copy_from_slice(packet);
    (buf, packet.len())
}

/// Hands `packet` to the relay on `port` from `from`, as a driver
/// does; the verdict and the packet sent, if any.
pub(super) fn send(
    relay: &mut MediaRelay,
    now: Instant,
    port: u16,
    from: SocketAddr,
    packet: &[u8],
) -> (Verdict, Vec<u8>) {
    let (mut buf, len) = buffer(packet);
    let verdict = relay.handle_packet(now, port, from, &mut buf, len);
    let out = match verdict {
        Verdict::Forward(forward) => buf[..forward.len].to_vec(),
        Verdict::Drop(_) | Verdict::Consumed => Vec::new(),
    };
    (verdict, out)
}
