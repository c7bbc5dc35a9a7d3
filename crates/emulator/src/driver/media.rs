//! The emulated media processor's audio: one UDP socket per answered
//! call on the address and port of the emulator's SDP, speaking SRTP with
//! the negotiated SDES keys (RFC 3711, RFC 4568). It plays the part of a
//! Teams client that talks back what it hears: every packet from the SBC
//! that authenticates is decrypted, encrypted again with our own key and
//! sent back to where it came from (symmetric RTP, as Teams' media
//! processors latch onto the first endpoint that sends). So a test can
//! check audio through the SBC both ways, byte for byte.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use media::{classify, LegSrtp, PacketKind, SrtpContext, SrtpError};
use tokio::net::UdpSocket;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::teams::{CallId, Event, MediaPlan};

/// Counters of one call's audio.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    received: u64,
    echoed: u64,
    refused: u64,
    rtcp: u64,
}

/// A socket bound this long ago whose call was never answered is closed.
const UNUSED_SOCKET_LIFETIME: Duration = Duration::from_secs(600);

/// Sockets bound for the ports written in the emulator's SDP, waiting for
/// their call to be answered.
#[derive(Debug, Clone, Default)]
pub(super) struct MediaSockets(Arc<Mutex<HashMap<u16, (std::net::UdpSocket, Instant)>>>);

impl MediaSockets {
    /// The proxy's port source: binds a socket on `ip` (a port the system
    /// picks) and keeps it for [`MediaSockets::take`].
    pub(super) fn source(&self, ip: IpAddr) -> crate::teams::MediaPorts {
        let sockets = self.clone();
        Box::new(move || {
            let socket = std::net::UdpSocket::bind((ip, 0)).ok()?;
            let port = socket.local_addr().ok()?.port();
            let now = Instant::now();
            let mut map = sockets.0.lock().ok()?;
            map.retain(|_, (_, bound)| now.duration_since(*bound) < UNUSED_SOCKET_LIFETIME);
            map.insert(port, (socket, now));
            Some(port)
        })
    }

    /// The call's socket: the one bound for its port, else a new one.
    pub(super) async fn take(&self, plan: &MediaPlan) -> std::io::Result<UdpSocket> {
        let kept = self
            .0
            .lock()
            .ok()
            .and_then(|mut map| map.remove(&plan.local.port()));
        match kept {
            Some((socket, _)) => {
                socket.set_nonblocking(true)?;
                UdpSocket::from_std(socket)
            }
            None => UdpSocket::bind(plan.local).await,
        }
    }
}

/// Echoes the call's audio until `stop`, then reports
/// [`Event::MediaStats`].
pub(super) async fn echo(
    socket: UdpSocket,
    plan: MediaPlan,
    call: CallId,
    stop: CancellationToken,
    events: broadcast::Sender<Event>,
) {
    let mut counts = Counts::default();
    match contexts(&plan) {
        Ok((inbound, outbound)) => {
            tokio::select! {
                () = stop.cancelled() => {}
                () = run(&socket, inbound, outbound, &mut counts) => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "emulated media: unusable SDES keys");
        }
    }
    // Nobody listening is fine.
    let _ = events.send(Event::MediaStats {
        call,
        received: counts.received,
        echoed: counts.echoed,
        refused: counts.refused,
        rtcp: counts.rtcp,
    });
}

fn contexts(plan: &MediaPlan) -> Result<(SrtpContext, SrtpContext), SrtpError> {
    let LegSrtp { inbound, outbound } =
        LegSrtp::from_key_salts(&plan.suite, &plan.remote_key_salt, &plan.local_key_salt)?;
    Ok((inbound, outbound))
}

async fn run(
    socket: &UdpSocket,
    mut inbound: SrtpContext,
    mut outbound: SrtpContext,
    counts: &mut Counts,
) {
    let mut buf = vec![0u8; 2048];
    loop {
        let (len, from): (usize, SocketAddr) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            // ICMP port unreachable from an earlier send, and the like.
            Err(_) => continue,
        };
        let mut packet = buf[..len].to_vec();
        match classify(&packet) {
            PacketKind::Rtp => {}
            PacketKind::Rtcp => {
                if inbound.unprotect_rtcp(&mut packet).is_ok() {
                    counts.rtcp += 1;
                } else {
                    counts.refused += 1;
                }
                continue;
            }
            _ => {
                counts.refused += 1;
                continue;
            }
        }
        if inbound.unprotect_rtp(&mut packet).is_err() {
            counts.refused += 1;
            continue;
        }
        counts.received += 1;
        if outbound.protect_rtp(&mut packet).is_ok() && socket.send_to(&packet, from).await.is_ok()
        {
            counts.echoed += 1;
        }
    }
}
