//! The emulated media processor's audio: one UDP socket per answered
//! call on the address and port of the emulator's SDP, speaking SRTP with
//! the negotiated SDES keys (RFC 3711, RFC 4568). It plays the part of a
//! Teams client that talks back what it hears: every packet from the SBC
//! that authenticates is decrypted, encrypted again with our own key and
//! sent back to where it came from (symmetric RTP, as Teams' media
//! processors latch onto the first endpoint that sends). So a test can
//! check audio through the SBC both ways, byte for byte. Key presses
//! (RFC 4733 telephone-events on the negotiated payload type, the only
//! DTMF Direct Routing takes) are not echoed: each press is reported
//! once as [`Event::DtmfReceived`] (RFC 4733 §2.5.2 receiver).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use media::{
    classify, LegSrtp, PacketKind, ReceivedEvent, RtpPacket, SrtpContext, SrtpError,
    TelephoneEventReceiver, TelephoneEventReceiverConfig,
};
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
    let keys = Keys {
        payload_type: plan.telephone_event,
        receiver: TelephoneEventReceiver::new(TelephoneEventReceiverConfig {
            clock_rate: plan.telephone_event_rate.max(1),
            ..TelephoneEventReceiverConfig::default()
        }),
        call,
        events: events.clone(),
    };
    match contexts(&plan) {
        Ok((inbound, outbound)) => {
            tokio::select! {
                () = stop.cancelled() => {}
                () = run(&socket, inbound, outbound, keys, &mut counts) => {}
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

/// The key presses of a call's telephone-events.
struct Keys {
    payload_type: Option<u8>,
    receiver: TelephoneEventReceiver,
    call: CallId,
    events: broadcast::Sender<Event>,
}

impl Keys {
    /// Whether `packet` (decrypted RTP) is a telephone-event; reports the
    /// presses it ends.
    fn handle(&mut self, packet: &[u8]) -> bool {
        let Ok(rtp) = RtpPacket::parse(packet) else {
            return false;
        };
        if Some(rtp.payload_type()) != self.payload_type {
            return false;
        }
        let now = Instant::now();
        // A malformed payload is the SBC's problem; nothing to report.
        let _ = self.receiver.handle_rtp(now, &rtp);
        self.report();
        true
    }

    /// Ends a press whose end packets were all lost.
    fn handle_timeout(&mut self) {
        self.receiver.handle_timeout(Instant::now());
        self.report();
    }

    fn report(&mut self) {
        while let Some(event) = self.receiver.poll_event() {
            if let ReceivedEvent::Ended {
                digit, duration, ..
            } = event
            {
                // Nobody listening is fine.
                let _ = self.events.send(Event::DtmfReceived {
                    call: self.call,
                    digit: digit.as_char(),
                    duration,
                });
            }
        }
    }
}

async fn run(
    socket: &UdpSocket,
    mut inbound: SrtpContext,
    mut outbound: SrtpContext,
    mut keys: Keys,
    counts: &mut Counts,
) {
    let mut buf = vec![0u8; 2048];
    loop {
        let received = match keys.receiver.poll_timeout() {
            Some(at) => {
                let at = tokio::time::Instant::from_std(at);
                match tokio::time::timeout_at(at, socket.recv_from(&mut buf)).await {
                    Ok(received) => received,
                    Err(_) => {
                        keys.handle_timeout();
                        continue;
                    }
                }
            }
            None => socket.recv_from(&mut buf).await,
        };
        let (len, from): (usize, SocketAddr) = match received {
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
        if keys.handle(&packet) {
            continue;
        }
        if outbound.protect_rtp(&mut packet).is_ok() && socket.send_to(&packet, from).await.is_ok()
        {
            counts.echoed += 1;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use media::{DtmfDigit, TelephoneEvent};

    const SUITE: &str = "AES_CM_128_HMAC_SHA1_80";

    fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&0x5bc_u32.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    #[tokio::test]
    async fn key_presses_are_reported_once_and_not_echoed() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let sbc = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let plan = MediaPlan {
            local: socket.local_addr().unwrap(),
            remote: sbc.local_addr().unwrap(),
            suite: SUITE.to_owned(),
            local_key_salt: vec![1; 30],
            remote_key_salt: vec![2; 30],
            telephone_event: Some(101),
            telephone_event_rate: 8000,
        };
        // The SBC protects with its key (ours to unprotect) and reads our
        // echo with ours.
        let LegSrtp {
            inbound: mut from_teams,
            outbound: mut to_teams,
        } = LegSrtp::from_key_salts(SUITE, &[1; 30], &[2; 30]).unwrap();
        let (events, mut watch) = broadcast::channel(64);
        let stop = CancellationToken::new();
        let to = plan.local;
        let task = tokio::spawn(echo(socket, plan, CallId(7), stop.clone(), events));
        let mut seq = 0u16;
        let mut send = |packet: Vec<u8>| {
            let mut packet = packet;
            to_teams.protect_rtp(&mut packet).unwrap();
            packet
        };
        let mut packets = Vec::new();
        for (n, digit) in [DtmfDigit::Four, DtmfDigit::Four, DtmfDigit::Pound]
            .into_iter()
            .enumerate()
        {
            let ts = 4000 * n as u32;
            for (units, end) in [
                (0, false),
                (400, false),
                (800, true),
                (800, true),
                (800, true),
            ] {
                let event = TelephoneEvent::dtmf(digit, end, 10, units);
                packets.push(send(rtp(101, units == 0, seq, ts, &event.to_bytes())));
                seq += 1;
            }
        }
        packets.push(send(rtp(0, false, seq, 20_000, &[0xff; 160])));
        for packet in &packets {
            sbc.send_to(packet, to).await.unwrap();
        }
        // Only the audio comes back.
        let mut buf = [0u8; 1500];
        let (len, _) = tokio::time::timeout(Duration::from_secs(5), sbc.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let mut echoed = buf[..len].to_vec();
        from_teams.unprotect_rtp(&mut echoed).unwrap();
        assert_eq!(RtpPacket::parse(&echoed).unwrap().payload_type(), 0);
        stop.cancel();
        task.await.unwrap();
        let mut digits = Vec::new();
        while let Ok(event) = watch.try_recv() {
            match event {
                Event::DtmfReceived {
                    call,
                    digit,
                    duration,
                } => {
                    assert_eq!(call, CallId(7));
                    assert_eq!(duration, Duration::from_millis(100));
                    digits.push(digit);
                }
                Event::MediaStats {
                    received, echoed, ..
                } => assert_eq!((received, echoed), (16, 1)),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(digits, ['4', '4', '#']);
    }
}
