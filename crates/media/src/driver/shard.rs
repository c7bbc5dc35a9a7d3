//! One shard: a thread owning a [`MediaRelay`] and its sockets; see the
//! parent module for the design.

use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mio::{Interest, Token};
use quinn_udp::{RecvMeta, Transmit, UdpSocketState, BATCH_SIZE};

use super::recorder::{RecorderLink, RecorderMessage};
use super::DriverCounters;
use crate::error::{DriverError, RelayError};
use crate::relay::{
    LegConfig, LegKey, LegPorts, MediaEvent, MediaRelay, RecordingOutput, RelayConfig, Verdict,
};

/// Token of the shard's waker; sockets use their port number.
pub(crate) const WAKER: Token = Token(usize::MAX);

/// Work sent to a shard thread: a closure run on it with the time.
pub(crate) type Command = Box<dyn FnOnce(&mut Shard, Instant) + Send>;

/// Receive slot size: a whole GRO batch (at most 64 KiB) plus room for
/// an SRTP tag; not a power of two, so that the slots do not all map to
/// the same cache sets.
const SLOT: usize = 65_536 + 320;
/// Largest single datagram processed out of a GRO batch.
const SCRATCH: usize = 2048;
/// `recvmmsg` calls per socket before the next ready socket gets a turn.
const BATCHES_PER_TURN: usize = 4;
/// How soon a shard retries handing messages to a busy recorder thread.
const RECORDER_RETRY: Duration = Duration::from_millis(5);

/// A bound media socket with its quinn-udp state.
pub(crate) struct ShardSocket {
    socket: mio::net::UdpSocket,
    state: UdpSocketState,
    port: u16,
}

impl ShardSocket {
    /// Wraps a bound socket: non-blocking, GRO where the kernel has it
    /// (quinn-udp), buffers of `buffer` bytes if not 0, and none of the
    /// ancillary data quinn-udp asks for on receive ([`quiet_cmsgs`]).
    pub(crate) fn new(socket: std::net::UdpSocket, port: u16, buffer: usize) -> io::Result<Self> {
        let state = UdpSocketState::new((&socket).into())?;
        quiet_cmsgs(&socket);
        if buffer > 0 {
            state.set_recv_buffer_size((&socket).into(), buffer)?;
            state.set_send_buffer_size((&socket).into(), buffer)?;
        }
        Ok(Self {
            socket: mio::net::UdpSocket::from_std(socket),
            state,
            port,
        })
    }
}

/// Turns off the control messages quinn-udp enables for QUIC: the
/// destination address (`IP_PKTINFO`), the TOS byte for ECN
/// (`IP_RECVTOS`) and a receive timestamp (`SO_TIMESTAMPNS`). The relay
/// uses none of them (a leg's socket is bound to its address; RTP
/// carries its own timing), and each costs the kernel work per datagram:
/// without them the relay did 4-5 % more packets per CPU-second at 1,200
/// paced G.711 calls (README, Performance). A socket that refuses one
/// keeps it: only speed is lost.
fn quiet_cmsgs(socket: &std::net::UdpSocket) {
    use nix::sys::socket::{setsockopt, sockopt};
    let _ = setsockopt(socket, sockopt::Ipv4PacketInfo, &false);
    let _ = setsockopt(socket, sockopt::IpRecvTos, &false);
    let _ = setsockopt(socket, sockopt::ReceiveTimestampns, &false);
}

/// The receive pool: `BATCH_SIZE` slots, allocated once.
struct RecvPool {
    buf: Vec<u8>,
    meta: [RecvMeta; BATCH_SIZE],
    scratch: Vec<u8>,
}

impl RecvPool {
    fn new() -> Self {
        Self {
            buf: vec![0; SLOT * BATCH_SIZE],
            meta: [RecvMeta::default(); BATCH_SIZE],
            scratch: vec![0; SCRATCH],
        }
    }
}

/// One `recvmmsg` into the pool's slots.
fn receive(
    buf: &mut [u8],
    meta: &mut [RecvMeta; BATCH_SIZE],
    socket: &ShardSocket,
) -> io::Result<usize> {
    let mut slots = buf.chunks_exact_mut(SLOT);
    let mut iovs: [IoSliceMut<'_>; BATCH_SIZE] =
        std::array::from_fn(|_| IoSliceMut::new(slots.next().unwrap_or_default()));
    socket.state.recv((&socket.socket).into(), &mut iovs, meta)
}

/// A GSO send being gathered: equal-size packets from one socket to one
/// destination.
#[derive(Debug, Clone, Copy)]
struct Pending {
    port: u16,
    destination: SocketAddr,
    segment: usize,
    count: usize,
    max: usize,
}

/// Outgoing packets: sent at once, or gathered for GSO.
struct SendQueue {
    buf: Vec<u8>,
    pending: Option<Pending>,
    gso: bool,
}

type Sockets = Vec<Option<Box<ShardSocket>>>;

fn socket_of(sockets: &Sockets, port: u16) -> Option<&ShardSocket> {
    sockets.get(usize::from(port)).and_then(Option::as_deref)
}

fn transmit(
    socket: &ShardSocket,
    destination: SocketAddr,
    contents: &[u8],
    segment_size: Option<usize>,
    count: usize,
    counters: &mut DriverCounters,
) {
    let transmit = Transmit {
        destination,
        ecn: None,
        contents,
        segment_size,
        src_ip: None,
    };
    counters.send_calls += 1;
    match socket.state.try_send((&socket.socket).into(), &transmit) {
        Ok(()) => counters.sent_datagrams += count as u64,
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
            counters.send_blocked += count as u64;
        }
        Err(_) => counters.io_errors += 1,
    }
}

impl SendQueue {
    fn push(
        &mut self,
        sockets: &Sockets,
        port: u16,
        destination: SocketAddr,
        packet: &[u8],
        counters: &mut DriverCounters,
    ) {
        if let Some(pending) = &mut self.pending {
            if pending.port == port
                && pending.destination == destination
                && pending.segment == packet.len()
                && pending.count < pending.max
                && self.buf.len() + packet.len() <= self.buf.capacity()
            {
                self.buf.extend_from_slice(packet);
                pending.count += 1;
                return;
            }
        }
        self.flush(sockets, counters);
        let Some(socket) = socket_of(sockets, port) else {
            counters.io_errors += 1;
            return;
        };
        let max = if self.gso {
            socket.state.max_gso_segments()
        } else {
            1
        };
        if max <= 1 {
            transmit(socket, destination, packet, None, 1, counters);
            return;
        }
        self.buf.clear();
        self.buf.extend_from_slice(packet);
        self.pending = Some(Pending {
            port,
            destination,
            segment: packet.len(),
            count: 1,
            max,
        });
    }

    fn flush(&mut self, sockets: &Sockets, counters: &mut DriverCounters) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        if let Some(socket) = socket_of(sockets, pending.port) {
            let segment = (pending.count > 1).then_some(pending.segment);
            transmit(
                socket,
                pending.destination,
                &self.buf,
                segment,
                pending.count,
                counters,
            );
        }
    }
}

/// A shard's state, owned by its thread.
pub(crate) struct Shard {
    poll: mio::Poll,
    pub(crate) relay: MediaRelay,
    sockets: Sockets,
    commands: Receiver<Command>,
    /// Cleared before the queued commands are taken (see `ShardHandle`).
    wake_pending: Arc<AtomicBool>,
    events: Sender<MediaEvent>,
    /// To the recorder thread.
    pub(crate) recorder: RecorderLink,
    recv: RecvPool,
    send: SendQueue,
    /// Sockets that may hold more datagrams (edge-triggered readiness).
    ready: VecDeque<u16>,
    counters: DriverCounters,
    coalesce: Duration,
    running: bool,
}

impl Shard {
    pub(crate) fn new(
        poll: mio::Poll,
        relay: RelayConfig,
        (commands, wake_pending): (Receiver<Command>, Arc<AtomicBool>),
        events: Sender<MediaEvent>,
        recorder: RecorderLink,
        gso: bool,
        coalesce: Duration,
    ) -> Self {
        let mut relay = MediaRelay::new(relay);
        // SRs carry NTP time; a clock before 1970 leaves them at zero.
        if let Ok(since_epoch) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            relay.set_wallclock(Instant::now(), since_epoch);
        }
        Self {
            poll,
            relay,
            sockets: Vec::new(),
            commands,
            wake_pending,
            events,
            recorder,
            recv: RecvPool::new(),
            send: SendQueue {
                buf: Vec::with_capacity(65_536),
                pending: None,
                gso,
            },
            ready: VecDeque::with_capacity(1024),
            counters: DriverCounters::default(),
            coalesce,
            running: true,
        }
    }

    pub(crate) fn add_leg(
        &mut self,
        now: Instant,
        key: LegKey,
        config: LegConfig,
        sockets: Vec<ShardSocket>,
    ) -> Result<(), DriverError> {
        self.relay.add_leg(now, key, config)?;
        for mut socket in sockets {
            let port = socket.port;
            let registered = self.poll.registry().register(
                &mut socket.socket,
                Token(usize::from(port)),
                Interest::READABLE,
            );
            if let Err(error) = registered {
                self.remove_leg(key)?;
                return Err(error.into());
            }
            let at = usize::from(port);
            if self.sockets.len() <= at {
                self.sockets.resize_with(at + 1, || None);
            }
            self.sockets[at] = Some(Box::new(socket));
            // Datagrams may have arrived between bind and register.
            self.ready.push_back(port);
        }
        Ok(())
    }

    pub(crate) fn remove_leg(&mut self, key: LegKey) -> Result<LegPorts, RelayError> {
        let ports = self.relay.remove_leg(key)?;
        for port in std::iter::once(ports.rtp).chain(ports.rtcp) {
            if let Some(mut socket) = self
                .sockets
                .get_mut(usize::from(port))
                .and_then(Option::take)
            {
                // Closing the socket removes it from epoll anyway.
                let _ = self.poll.registry().deregister(&mut socket.socket);
            }
        }
        Ok(ports)
    }

    pub(crate) fn counters(&self) -> DriverCounters {
        DriverCounters {
            relay: *self.relay.counters(),
            legs: self.relay.len() as u64,
            ..self.counters
        }
    }

    /// Passes an event on to the call layer.
    pub(crate) fn report(&self, event: MediaEvent) {
        // Nobody listening is not the shard's problem.
        let _ = self.events.send(event);
    }

    /// Stops the loop and closes the sockets; recordings end as
    /// [`RecordingEnd::Stopped`](crate::RecordingEnd::Stopped), their
    /// last messages waited for.
    pub(crate) fn stop(&mut self) {
        self.running = false;
        self.sockets.clear();
        let now = Instant::now();
        for id in self.relay.recording_ids() {
            let _ = self.relay.stop_recording(now, id);
        }
        self.pass_recordings();
        self.recorder.flush_blocking();
    }

    /// Hands recorded frames and ends to the recorder thread, never
    /// waiting: a frame without room is dropped and counted.
    fn pass_recordings(&mut self) {
        self.recorder.flush();
        while let Some(output) = self.relay.poll_recording() {
            match output {
                RecordingOutput::Frame(frame) => {
                    if self.recorder.send_frame(frame) {
                        self.counters.recorded_frames += 1;
                    } else {
                        self.counters.recording_frames_dropped += 1;
                    }
                }
                RecordingOutput::Ended { id, frames, end } => {
                    let message = RecorderMessage::Ended { id, frames, end };
                    self.recorder.send_control(message);
                }
            }
        }
    }

    /// The thread's loop: wait for readiness or the relay's timer, run
    /// commands, drain ready sockets, check timeouts, pass events on.
    pub(crate) fn run(mut self) {
        let mut events = mio::Events::with_capacity(1024);
        while self.running {
            let mut timeout = if self.ready.is_empty() {
                self.relay
                    .poll_timeout()
                    .map(|at| at.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            if self.recorder.is_waiting() {
                timeout = Some(timeout.map_or(RECORDER_RETRY, |t| t.min(RECORDER_RETRY)));
            }
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() != io::ErrorKind::Interrupted {
                    self.counters.io_errors += 1;
                }
                continue;
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => self.run_commands(),
                    // Socket tokens are port numbers.
                    Token(port) => self.ready.push_back(port as u16),
                }
            }
            if !self.running {
                break;
            }
            let received = self.counters.recv_datagrams;
            for _ in 0..self.ready.len() {
                let Some(port) = self.ready.pop_front() else {
                    break;
                };
                if self.drain(port) {
                    self.ready.push_back(port);
                }
            }
            if self.counters.recv_datagrams != received && !self.coalesce.is_zero() {
                std::thread::sleep(self.coalesce);
            }
            let now = Instant::now();
            self.relay.handle_timeout(now);
            self.transmit_local(now);
            self.pass_recordings();
            while let Some(event) = self.relay.poll_event() {
                self.report(event);
            }
        }
    }

    /// Sends what the relay made itself (played frames, RTCP reports, DTMF).
    fn transmit_local(&mut self, now: Instant) {
        let Shard {
            relay,
            sockets,
            recv,
            send,
            counters,
            ..
        } = self;
        while let Some(out) = relay.poll_transmit(now, &mut recv.scratch) {
            send.push(
                sockets,
                out.local_port,
                out.destination,
                &recv.scratch[..out.len],
                counters,
            );
        }
        send.flush(sockets, counters);
    }

    fn run_commands(&mut self) {
        // Cleared before taking: a command queued from now on wakes us.
        self.wake_pending.store(false, Ordering::SeqCst);
        while let Ok(command) = self.commands.try_recv() {
            command(self, Instant::now());
        }
    }

    /// Receives and relays what the socket on `port` holds, up to
    /// [`BATCHES_PER_TURN`] batches; returns whether it may hold more.
    fn drain(&mut self, port: u16) -> bool {
        let Shard {
            relay,
            sockets,
            recv,
            send,
            counters,
            ..
        } = self;
        let Some(socket) = socket_of(sockets, port) else {
            return false;
        };
        let RecvPool { buf, meta, scratch } = recv;
        for _ in 0..BATCHES_PER_TURN {
            let received = match receive(buf, meta, socket) {
                Ok(received) => received,
                Err(error) => {
                    if error.kind() != io::ErrorKind::WouldBlock {
                        counters.io_errors += 1;
                    }
                    send.flush(sockets, counters);
                    return false;
                }
            };
            let now = Instant::now();
            counters.recv_batches += 1;
            // recvmmsg stops early only on an empty queue; a datagram
            // arriving after that raises a new edge (epoll signals every
            // arrival), so no call that would only say EAGAIN.
            let drained = received < BATCH_SIZE;
            for (meta, slot) in meta.iter().zip(buf.chunks_exact_mut(SLOT)).take(received) {
                let stride = if meta.stride == 0 {
                    meta.len
                } else {
                    meta.stride
                };
                if meta.len <= stride {
                    counters.recv_datagrams += 1;
                    let verdict = relay.handle_packet(now, port, meta.addr, slot, meta.len);
                    if let Verdict::Forward(out) = verdict {
                        send.push(
                            sockets,
                            out.local_port,
                            out.destination,
                            &slot[..out.len],
                            counters,
                        );
                    }
                    continue;
                }
                // A GRO batch: one datagram after the other, each copied
                // out so that an SRTP tag has room.
                for segment in slot[..meta.len].chunks(stride) {
                    counters.recv_datagrams += 1;
                    let Some(work) = scratch.get_mut(..segment.len()) else {
                        continue;
                    };
                    work.copy_from_slice(segment);
                    let verdict = relay.handle_packet(now, port, meta.addr, scratch, segment.len());
                    if let Verdict::Forward(out) = verdict {
                        send.push(
                            sockets,
                            out.local_port,
                            out.destination,
                            &scratch[..out.len],
                            counters,
                        );
                    }
                }
            }
            if drained {
                send.flush(sockets, counters);
                return false;
            }
        }
        send.flush(sockets, counters);
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use nix::sys::socket::{getsockopt, sockopt};

    use super::*;

    #[test]
    fn shard_sockets_ask_for_no_ancillary_data() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let plain = socket.try_clone().unwrap();
        // quinn-udp turns them on...
        let _ = UdpSocketState::new((&plain).into()).unwrap();
        assert!(getsockopt(&plain, sockopt::Ipv4PacketInfo).unwrap());
        // ...and a shard's socket turns them off again.
        let wrapped = ShardSocket::new(socket, 0, 0).unwrap();
        let fd = &wrapped.socket;
        assert!(!getsockopt(fd, sockopt::Ipv4PacketInfo).unwrap());
        assert!(!getsockopt(fd, sockopt::IpRecvTos).unwrap());
        assert!(!getsockopt(fd, sockopt::ReceiveTimestampns).unwrap());
    }
}
