//! One shard: a thread owning a [`MediaRelay`] and its sockets; see the
//! parent module for the design.

use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mio::{Interest, Token};
use quinn_udp::{RecvMeta, UdpSocketState, BATCH_SIZE};

use super::recorder::{RecorderLink, RecorderMessage};
use super::uring::{Completion, Received, Uring};
use super::DriverCounters;
use crate::error::{DriverError, RelayError};
use crate::relay::{
    LegConfig, LegKey, LegPorts, MediaEvent, MediaRelay, RecordingOutput, RelayConfig, Verdict,
};

/// Token of the shard's waker; a leg's main socket has its port number,
/// its catch socket the port number with [`CATCH`] set.
pub(crate) const WAKER: Token = Token(usize::MAX);
/// Token bit of a catch socket.
const CATCH: usize = 1 << 16;

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

/// A media port's socket with its quinn-udp state.
///
/// Once the leg latches onto a source on its RTP port, the socket is
/// `connect`ed to it, and a second, catch socket is bound to the same
/// port. The kernel then hands the main socket only that source's
/// packets, and everything else to the catch socket (a connected socket
/// wins the lookup for its peer; one that is not is picked for the
/// rest). Both are read alike, so the relay still sees, counts and
/// judges every packet (hijack attempts, re-latching). What the connect
/// buys is the send: to the connected peer a `send` needs no route
/// lookup, which an unconnected `sendto` does per packet (about 5 % of a
/// shard's time at 1,000 calls, with the security and xfrm checks that
/// go with it). It costs one more socket per latched RTP port; RTCP-only
/// ports (about one packet a second) are left as they are. Without a
/// descriptor for the catch socket, the port just stays unconnected.
///
/// The port is bound exclusively, so a port another program (or another
/// switchboard) holds is refused and the next one tried; `SO_REUSEPORT`
/// is set on the main socket only when its catch socket is bound. From
/// then on, while the leg lasts, a program of the same user that asks
/// for `SO_REUSEPORT` could bind the port too; switchboard's own binds
/// never do.
pub(crate) struct ShardSocket {
    socket: mio::net::UdpSocket,
    state: UdpSocketState,
    /// Every source but the peer, once there is one.
    catch: Option<(mio::net::UdpSocket, UdpSocketState)>,
    /// The source `socket` is connected to.
    peer: Option<SocketAddr>,
    port: u16,
    settings: SocketSettings,
    /// With io_uring: tells this socket's completions from those of an
    /// earlier socket of the port.
    generation: u32,
}

/// Options of every media socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SocketSettings {
    /// `SO_RCVBUF` and `SO_SNDBUF` in bytes; 0 keeps the system's.
    pub(crate) buffer: usize,
    /// DSCP mark of what the socket sends.
    pub(crate) dscp: u8,
}

impl ShardSocket {
    /// Binds the port of `address` (port 0: any), the socket prepared by
    /// [`prepare`].
    pub(crate) fn bind(address: SocketAddr, settings: SocketSettings) -> io::Result<Self> {
        let socket = std::net::UdpSocket::bind(address)?;
        socket.set_nonblocking(true)?;
        let (socket, state) = prepare(socket, settings)?;
        let port = socket.local_addr()?.port();
        Ok(Self {
            socket,
            state,
            catch: None,
            peer: None,
            port,
            settings,
            generation: 0,
        })
    }

    /// A catch socket for the port, not yet kept: it is to be registered
    /// before the main socket connects ([`Self::connect`]), so that no
    /// packet waits in a socket nobody reads.
    fn open_catch(&self) -> io::Result<(mio::net::UdpSocket, UdpSocketState)> {
        use nix::sys::socket::{setsockopt, sockopt};
        // Set after the bind (which was exclusive); the kernel makes the
        // main socket a reuseport group when the catch socket joins.
        setsockopt(&self.socket, sockopt::ReusePort, &true)?;
        prepare(bind_shared(self.socket.local_addr()?)?, self.settings)
    }

    /// The descriptor of the catch socket or the main one.
    fn fd(&self, catch: bool) -> Option<std::os::fd::RawFd> {
        if catch {
            self.catch.as_ref().map(|(catch, _)| catch.as_raw_fd())
        } else {
            Some(self.socket.as_raw_fd())
        }
    }

    /// Where a send to `destination` must say it goes: nowhere for the
    /// connected peer.
    fn unconnected(&self, destination: SocketAddr) -> Option<SocketAddr> {
        (self.peer != Some(destination)).then_some(destination)
    }

    /// Connects the main socket to `source`, the leg's latched source.
    /// A connect that fails leaves the socket as it was: only the route
    /// lookup per send is not saved.
    fn connect(&mut self, source: SocketAddr) -> io::Result<()> {
        self.socket.connect(source)?;
        self.peer = Some(source);
        Ok(())
    }
}

/// A non-blocking UDP socket with `SO_REUSEPORT` bound to `address`.
fn bind_shared(address: SocketAddr) -> io::Result<std::net::UdpSocket> {
    use nix::sys::socket::{
        bind, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage,
    };
    let family = if address.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    let fd = socket(family, SockType::Datagram, flags, None)?;
    setsockopt(&fd, sockopt::ReusePort, &true)?;
    bind(fd.as_raw_fd(), &SockaddrStorage::from(address))?;
    Ok(std::net::UdpSocket::from(fd))
}

/// A bound socket made ready for the shard: GRO where the kernel has it
/// (quinn-udp), buffers as `settings` say, its packets marked with the
/// DSCP ([`mark_media`]), and none of the ancillary data quinn-udp asks
/// for on receive ([`quiet_cmsgs`]).
fn prepare(
    socket: std::net::UdpSocket,
    settings: SocketSettings,
) -> io::Result<(mio::net::UdpSocket, UdpSocketState)> {
    let state = UdpSocketState::new((&socket).into())?;
    quiet_cmsgs(&socket);
    mark_media(&socket, settings.dscp)?;
    if settings.buffer > 0 {
        state.set_recv_buffer_size((&socket).into(), settings.buffer)?;
        state.set_send_buffer_size((&socket).into(), settings.buffer)?;
    }
    Ok((mio::net::UdpSocket::from_std(socket), state))
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

/// Marks what `socket` sends with `dscp` (RFC 2474: the upper six bits
/// of the IPv4 TOS byte or IPv6 traffic class; the ECN bits stay 0). An
/// IPv6 socket gets both: its IPv4-mapped traffic (a dual-stack bind on
/// `::`) takes the TOS byte.
fn mark_media(socket: &std::net::UdpSocket, dscp: u8) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    let class = i32::from(dscp & 0x3f) << 2;
    if socket.local_addr()?.is_ipv4() {
        setsockopt(socket, sockopt::Ipv4Tos, &class)?;
    } else {
        setsockopt(socket, sockopt::Ipv6TClass, &class)?;
        // A v6-only socket has no IPv4 traffic to mark.
        let _ = setsockopt(socket, sockopt::Ipv4Tos, &class);
    }
    Ok(())
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

/// One `recvmmsg` into the pool's slots, from the catch socket or the
/// main one.
fn receive(
    buf: &mut [u8],
    meta: &mut [RecvMeta; BATCH_SIZE],
    socket: &ShardSocket,
    catch: bool,
) -> io::Result<usize> {
    let mut slots = buf.chunks_exact_mut(SLOT);
    let mut iovs: [IoSliceMut<'_>; BATCH_SIZE] =
        std::array::from_fn(|_| IoSliceMut::new(slots.next().unwrap_or_default()));
    match (&socket.catch, catch) {
        (Some((catch, state)), true) => state.recv(catch.into(), &mut iovs, meta),
        // A catch socket closed with its leg: nothing to read.
        (None, true) => Err(io::ErrorKind::WouldBlock.into()),
        (_, false) => socket.state.recv((&socket.socket).into(), &mut iovs, meta),
    }
}

/// A GSO send being gathered: equal-size packets from one socket to one
/// destination.
#[derive(Debug, Clone, Copy)]
struct Pending {
    port: u16,
    destination: SocketAddr,
    segment: u16,
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

/// Sends one datagram, or with `segment` a GSO batch of equal-size
/// ones, and counts it. Single datagrams go out through plain `send(2)`
/// to the connected peer, else `sendto(2)`: no control message for the
/// kernel to parse, unlike quinn-udp's sends, which set the TOS byte on
/// every packet (and would so clear the socket's DSCP mark,
/// [`mark_media`]).
fn transmit(
    socket: &ShardSocket,
    destination: SocketAddr,
    contents: &[u8],
    segment: Option<u16>,
    count: usize,
    counters: &mut DriverCounters,
) -> io::Result<()> {
    counters.send_calls += 1;
    let sent = match (segment, socket.unconnected(destination)) {
        (None, None) => socket.socket.send(contents).map(drop),
        (None, Some(to)) => socket.socket.send_to(contents, to).map(drop),
        (Some(segment), to) => send_segments(&socket.socket, to, contents, segment),
    };
    match &sent {
        Ok(()) => counters.sent_datagrams += count as u64,
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
            counters.send_blocked += count as u64;
        }
        // The ICMP "port unreachable" of an earlier packet, reported on
        // this send of the connected socket instead of it.
        Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
            counters.peer_refused += 1;
        }
        Err(_) => counters.io_errors += 1,
    }
    sent
}

/// One `sendmsg(2)` of equal-size datagrams with a `UDP_SEGMENT` control
/// message (UDP GSO, Linux 4.18), to `destination` or the connected peer.
fn send_segments(
    socket: &mio::net::UdpSocket,
    destination: Option<SocketAddr>,
    contents: &[u8],
    segment: u16,
) -> io::Result<()> {
    let control = gso_control(segment);
    let address = destination.map(socket2::SockAddr::from);
    let buffers = [io::IoSlice::new(contents)];
    let mut message = socket2::MsgHdr::new()
        .with_buffers(&buffers)
        .with_control(&control);
    if let Some(address) = &address {
        message = message.with_addr(address);
    }
    socket2::SockRef::from(socket)
        .sendmsg(&message, 0)
        .map(drop)
}

/// Bytes of a `cmsghdr` of the pointer width's layout: length (size_t),
/// level and type (int), then the data aligned to size_t.
const CMSG_HEADER: usize = std::mem::size_of::<usize>() + 8;
/// The space a `UDP_SEGMENT` message takes: `CMSG_SPACE(2)`.
const GSO_CONTROL: usize = CMSG_HEADER + std::mem::size_of::<usize>();

/// The control message asking the kernel to cut a send into datagrams
/// of `segment` bytes, written out as `CMSG_*` would (no unsafe code).
fn gso_control(segment: u16) -> [u8; GSO_CONTROL] {
    use nix::libc::{SOL_UDP, UDP_SEGMENT};
    let mut control = [0; GSO_CONTROL];
    let length = CMSG_HEADER + std::mem::size_of::<u16>();
    let word = std::mem::size_of::<usize>();
    control[..word].copy_from_slice(&length.to_ne_bytes());
    control[word..word + 4].copy_from_slice(&SOL_UDP.to_ne_bytes());
    control[word + 4..word + 8].copy_from_slice(&UDP_SEGMENT.to_ne_bytes());
    control[CMSG_HEADER..CMSG_HEADER + 2].copy_from_slice(&segment.to_ne_bytes());
    control
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
                && usize::from(pending.segment) == packet.len()
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
        let segment = u16::try_from(packet.len()).ok().filter(|_| max > 1);
        let Some(segment) = segment else {
            let _ = transmit(socket, destination, packet, None, 1, counters);
            return;
        };
        self.buf.clear();
        self.buf.extend_from_slice(packet);
        self.pending = Some(Pending {
            port,
            destination,
            segment,
            count: 1,
            max,
        });
    }

    fn flush(&mut self, sockets: &Sockets, counters: &mut DriverCounters) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        let Some(socket) = socket_of(sockets, pending.port) else {
            return;
        };
        let segment = (pending.count > 1).then_some(pending.segment);
        let sent = transmit(
            socket,
            pending.destination,
            &self.buf,
            segment,
            pending.count,
            counters,
        );
        // A device without checksum offload refuses GSO (EIO): the shard
        // sends datagram by datagram from then on.
        if let (Some(segment), Err(error)) = (segment, sent) {
            if error.raw_os_error() == Some(nix::libc::EIO) {
                self.gso = false;
                for packet in self.buf.chunks(usize::from(segment)) {
                    let _ = transmit(socket, pending.destination, packet, None, 1, counters);
                }
            }
        }
    }
}

/// Starts the io_uring receive of a new socket (main socket `token`).
fn arm(uring: &mut Uring, socket: &ShardSocket, token: usize) -> io::Result<()> {
    quiet_gro(&socket.socket);
    uring.receive(token, socket.generation, socket.socket.as_raw_fd())
}

/// Turns off UDP GRO, which quinn-udp turns on: a multishot receive
/// asks for no control messages, so it could not split a GRO batch.
fn quiet_gro(socket: &mio::net::UdpSocket) {
    use nix::sys::socket::{setsockopt, sockopt};
    let _ = setsockopt(socket, sockopt::UdpGroSegment, &false);
}

/// How long a shard may wait for I/O: until the relay's next timer, and
/// at most [`RECORDER_RETRY`] while the recorder thread is behind.
fn wait_limit(relay: &MediaRelay, recorder: &RecorderLink) -> Option<Duration> {
    let timeout = relay
        .poll_timeout()
        .map(|at| at.saturating_duration_since(Instant::now()));
    if recorder.is_waiting() {
        return Some(timeout.map_or(RECORDER_RETRY, |t| t.min(RECORDER_RETRY)));
    }
    timeout
}

/// Counts a send's completion.
fn count_sent(counters: &mut DriverCounters, result: i32) {
    use nix::libc::{EAGAIN, ECONNREFUSED};
    match result {
        0.. => counters.sent_datagrams += 1,
        r if r == -EAGAIN => counters.send_blocked += 1,
        // The ICMP "port unreachable" of an earlier packet.
        r if r == -ECONNREFUSED => counters.peer_refused += 1,
        _ => counters.io_errors += 1,
    }
}

/// Relays what a receive completion brought, and arms the receive again
/// when it ended (it ends on an error, for want of buffers, or when
/// cancelled, which is no longer the socket's generation).
fn relay_received(
    uring: &mut Uring,
    relay: &mut MediaRelay,
    sockets: &Sockets,
    counters: &mut DriverCounters,
    now: Instant,
    received: Received,
) {
    use nix::libc::{ECANCELED, ECONNREFUSED, ENOBUFS};
    let Received {
        token,
        generation,
        result,
        buffer,
        more,
    } = received;
    let port = (token & !CATCH) as u16;
    let fd = socket_of(sockets, port)
        .filter(|s| s.generation == generation)
        .and_then(|s| s.fd(token & CATCH != 0));
    if let (false, Some(fd)) = (more, fd) {
        let armed = if result == -ENOBUFS {
            uring.starve(token, generation, fd);
            Ok(())
        } else {
            uring.receive(token, generation, fd)
        };
        if armed.is_err() {
            counters.io_errors += 1;
        }
    }
    let Some(buffer) = buffer else {
        match result {
            r if r == -ECONNREFUSED => counters.peer_refused += 1,
            r if r >= 0 || r == -ENOBUFS || r == -ECANCELED => {}
            _ => counters.io_errors += 1,
        }
        return;
    };
    let (Some(_), Some(datagram)) = (fd, uring.datagram(buffer, result)) else {
        // A socket closed since, or a datagram too long for a buffer.
        if fd.is_some() {
            counters.recv_datagrams += 1;
            counters.recv_truncated += 1;
        }
        uring.give(buffer);
        return;
    };
    counters.recv_datagrams += 1;
    let slot = uring
        .buffer(buffer)
        .get_mut(datagram.offset..)
        .unwrap_or_default();
    let verdict = relay.handle_packet(now, port, datagram.source, slot, datagram.len);
    let Verdict::Forward(out) = verdict else {
        uring.give(buffer);
        return;
    };
    let Some(from) = socket_of(sockets, out.local_port) else {
        counters.io_errors += 1;
        uring.give(buffer);
        return;
    };
    let to = from.unconnected(out.destination);
    let fd = from.socket.as_raw_fd();
    if uring
        .send_buffer(fd, buffer, datagram.offset, out.len, to)
        .is_err()
    {
        counters.io_errors += 1;
    }
}

/// How a shard does its I/O ([`super::DriverConfig`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShardIo {
    pub(crate) gso: bool,
    pub(crate) coalesce: Duration,
    /// io_uring rather than epoll.
    pub(crate) uring: bool,
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
    /// Tokens of sockets that may hold more datagrams (edge-triggered
    /// readiness).
    ready: VecDeque<usize>,
    counters: DriverCounters,
    coalesce: Duration,
    running: bool,
    /// The io_uring backend, when the driver asked for it (set up on
    /// the shard's thread, which alone may use it).
    uring: Option<Box<Uring>>,
    wants_uring: bool,
    generation: u32,
}

impl Shard {
    pub(crate) fn new(
        poll: mio::Poll,
        relay: RelayConfig,
        (commands, wake_pending): (Receiver<Command>, Arc<AtomicBool>),
        events: Sender<MediaEvent>,
        recorder: RecorderLink,
        io: ShardIo,
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
                gso: io.gso,
            },
            ready: VecDeque::with_capacity(1024),
            counters: DriverCounters::default(),
            coalesce: io.coalesce,
            running: true,
            uring: None,
            wants_uring: io.uring,
            generation: 0,
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
            let token = usize::from(socket.port);
            let registered = match &mut self.uring {
                Some(uring) => {
                    self.generation = self.generation.wrapping_add(1);
                    socket.generation = self.generation;
                    arm(uring, &socket, token)
                }
                None => {
                    let registry = self.poll.registry();
                    registry.register(&mut socket.socket, Token(token), Interest::READABLE)
                }
            };
            if let Err(error) = registered {
                self.remove_leg(key)?;
                return Err(error.into());
            }
            if self.sockets.len() <= token {
                self.sockets.resize_with(token + 1, || None);
            }
            self.sockets[token] = Some(Box::new(socket));
            // Datagrams may have arrived between bind and register.
            self.ready.push_back(token);
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
                if let Some(uring) = &mut self.uring {
                    // The receives hold the sockets until cancelled.
                    let token = usize::from(port);
                    let _ = uring.cancel(token, socket.generation);
                    if socket.catch.is_some() {
                        let _ = uring.cancel(token | CATCH, socket.generation);
                    }
                    continue;
                }
                // Closing the sockets removes them from epoll anyway.
                let _ = self.poll.registry().deregister(&mut socket.socket);
                if let Some((catch, _)) = &mut socket.catch {
                    let _ = self.poll.registry().deregister(catch);
                }
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
        // Cancels every receive first, so that the ports are free once
        // the driver is gone.
        self.uring = None;
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
        if self.wants_uring {
            match Uring::new() {
                Ok(uring) => return self.run_uring(Box::new(uring)),
                // The driver checked io_uring before it started the
                // shards; should it fail now, epoll does the work.
                Err(_) => self.counters.io_errors += 1,
            }
        }
        let mut events = mio::Events::with_capacity(1024);
        while self.running {
            let timeout = if self.ready.is_empty() {
                wait_limit(&self.relay, &self.recorder)
            } else {
                Some(Duration::ZERO)
            };
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() != io::ErrorKind::Interrupted {
                    self.counters.io_errors += 1;
                }
                continue;
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => self.run_commands(),
                    Token(socket) => self.ready.push_back(socket),
                }
            }
            if !self.running {
                break;
            }
            let received = self.counters.recv_datagrams;
            for _ in 0..self.ready.len() {
                let Some(token) = self.ready.pop_front() else {
                    break;
                };
                if self.drain(token) {
                    self.ready.push_back(token);
                }
            }
            self.finish_turn(self.counters.recv_datagrams != received);
        }
    }

    /// [`Self::run`] on io_uring: one `io_uring_enter` a turn submits the
    /// turn's sends and waits for them and what comes next (see
    /// [`Uring`]). The waker still goes through the mio poll, whose
    /// descriptor the ring watches.
    fn run_uring(mut self, mut uring: Box<Uring>) {
        let mut events = mio::Events::with_capacity(16);
        if uring.watch(self.poll.as_raw_fd()).is_err() {
            self.counters.io_errors += 1;
        }
        self.uring = Some(uring);
        while self.running {
            let Some(uring) = &mut self.uring else {
                break;
            };
            if uring
                .submit_and_wait(wait_limit(&self.relay, &self.recorder))
                .is_err()
            {
                self.counters.io_errors += 1;
            }
            let now = Instant::now();
            let (received, sent) = (self.counters.recv_datagrams, self.counters.sent_datagrams);
            let mut wake = false;
            while let Some(completion) = uring.next() {
                match completion {
                    Completion::Wake { more } => {
                        wake = true;
                        if !more && uring.watch(self.poll.as_raw_fd()).is_err() {
                            self.counters.io_errors += 1;
                        }
                    }
                    Completion::Sent { result } => count_sent(&mut self.counters, result),
                    Completion::Recv(received) => relay_received(
                        uring,
                        &mut self.relay,
                        &self.sockets,
                        &mut self.counters,
                        now,
                        received,
                    ),
                    Completion::Other => {}
                }
            }
            if uring.end_turn().is_err() {
                self.counters.io_errors += 1;
            }
            if self.counters.recv_datagrams != received {
                self.counters.recv_batches += 1;
            }
            if self.counters.sent_datagrams != sent {
                self.counters.send_calls += 1;
            }
            if wake {
                let _ = self.poll.poll(&mut events, Some(Duration::ZERO));
                if events.iter().any(|event| event.token() == WAKER) {
                    self.run_commands();
                }
            }
            if !self.running {
                break;
            }
            self.finish_turn(self.counters.recv_datagrams != received);
        }
    }

    /// The end of a loop turn (both backends): the coalescing pause
    /// after a turn that `received`, the relay's timers, what it sends
    /// of its own, recordings and events (a latch connects its socket).
    fn finish_turn(&mut self, received: bool) {
        if received && !self.coalesce.is_zero() {
            std::thread::sleep(self.coalesce);
        }
        let now = Instant::now();
        self.relay.handle_timeout(now);
        self.transmit_local(now);
        self.pass_recordings();
        while let Some(event) = self.relay.poll_event() {
            if let MediaEvent::Latched { leg, source, rtcp } = event {
                self.connect(leg, source, rtcp);
            }
            self.report(event);
        }
    }

    /// Connects a leg's RTP socket to the source it latched onto, with a
    /// catch socket for every other source bound and registered first
    /// (see [`ShardSocket`]). RTCP-only ports stay unconnected.
    fn connect(&mut self, leg: LegKey, source: SocketAddr, rtcp: bool) {
        let Some(ports) = self.relay.leg_ports(leg).filter(|_| !rtcp) else {
            return;
        };
        let Some(socket) = self
            .sockets
            .get_mut(usize::from(ports.rtp))
            .and_then(Option::as_deref_mut)
        else {
            return;
        };
        if socket.peer == Some(source) {
            return;
        }
        if socket.catch.is_none() {
            let token = usize::from(ports.rtp) | CATCH;
            let (poll, uring) = (&self.poll, &mut self.uring);
            let generation = socket.generation;
            let opened = socket.open_catch().and_then(|(mut catch, state)| {
                match uring {
                    Some(uring) => {
                        quiet_gro(&catch);
                        uring.receive(token, generation, catch.as_raw_fd())?;
                    }
                    None => {
                        poll.registry()
                            .register(&mut catch, Token(token), Interest::READABLE)?
                    }
                }
                Ok((catch, state))
            });
            match opened {
                Ok(catch) => socket.catch = Some(catch),
                // Out of descriptors, say: the port stays unconnected.
                Err(_) => {
                    self.counters.io_errors += 1;
                    return;
                }
            }
        }
        if socket.connect(source).is_err() {
            self.counters.io_errors += 1;
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
            uring,
            ..
        } = self;
        if let Some(uring) = uring {
            while let Some(out) = relay.poll_transmit(now, &mut recv.scratch) {
                let Some(socket) = socket_of(sockets, out.local_port) else {
                    counters.io_errors += 1;
                    continue;
                };
                let to = socket.unconnected(out.destination);
                let packet = &recv.scratch[..out.len];
                match uring.send_copy(socket.socket.as_raw_fd(), packet, to) {
                    Ok(()) => {}
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        counters.send_blocked += 1;
                    }
                    Err(_) => counters.io_errors += 1,
                }
            }
            return;
        }
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

    /// Receives and relays what the socket of `token` holds, up to
    /// [`BATCHES_PER_TURN`] batches; returns whether it may hold more.
    fn drain(&mut self, token: usize) -> bool {
        let Shard {
            relay,
            sockets,
            recv,
            send,
            counters,
            ..
        } = self;
        let port = (token & !CATCH) as u16;
        let Some(socket) = socket_of(sockets, port) else {
            return false;
        };
        let RecvPool { buf, meta, scratch } = recv;
        for _ in 0..BATCHES_PER_TURN {
            let received = match receive(buf, meta, socket, token & CATCH != 0) {
                Ok(received) => received,
                // The connected peer's ICMP "port unreachable", reported
                // once ahead of whatever is queued.
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    counters.peer_refused += 1;
                    continue;
                }
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

// Shared with the driver's integration tests.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "../../tests/support/tos.rs"]
mod tos;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use nix::sys::socket::{getsockopt, sockopt};

    use super::*;
    use crate::driver::shard::tos;

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    #[test]
    fn shard_sockets_ask_for_no_ancillary_data() {
        let plain = std::net::UdpSocket::bind(loopback()).unwrap();
        // quinn-udp turns them on...
        let _ = UdpSocketState::new((&plain).into()).unwrap();
        assert!(getsockopt(&plain, sockopt::Ipv4PacketInfo).unwrap());
        // ...and a shard's sockets turn them off again.
        let port = ShardSocket::bind(loopback(), settings(0)).unwrap();
        let (catch, _) = port.open_catch().unwrap();
        for fd in [&port.socket, &catch] {
            assert!(!getsockopt(fd, sockopt::Ipv4PacketInfo).unwrap());
            assert!(!getsockopt(fd, sockopt::IpRecvTos).unwrap());
            assert!(!getsockopt(fd, sockopt::ReceiveTimestampns).unwrap());
        }
    }

    /// The next datagram on a non-blocking socket, waited for up to 2 s.
    fn next(socket: &mio::net::UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buf = [0; 1500];
        let give_up = Instant::now() + Duration::from_secs(2);
        loop {
            match socket.recv_from(&mut buf) {
                Ok((len, from)) => return (buf[..len].to_vec(), from),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < give_up, "nothing came");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(error) => panic!("{error}"),
            }
        }
    }

    #[test]
    fn a_held_port_is_refused_to_another_binder_before_and_after_its_catch_socket() {
        let mut port = ShardSocket::bind(loopback(), settings(0)).unwrap();
        let at = SocketAddr::from(([127, 0, 0, 1], port.port));
        let refused = || ShardSocket::bind(at, settings(0)).err().map(|e| e.kind());
        assert_eq!(refused(), Some(io::ErrorKind::AddrInUse));
        let peer = std::net::UdpSocket::bind(loopback()).unwrap();
        let _catch = port.open_catch().unwrap();
        port.connect(peer.local_addr().unwrap()).unwrap();
        assert_eq!(refused(), Some(io::ErrorKind::AddrInUse));
    }

    #[test]
    fn a_connected_port_gives_its_peer_to_the_main_socket_and_the_rest_to_the_catch_socket() {
        let mut port = ShardSocket::bind(loopback(), settings(0)).unwrap();
        let local = SocketAddr::from(([127, 0, 0, 1], port.port));
        let peer = std::net::UdpSocket::bind(loopback()).unwrap();
        let other = std::net::UdpSocket::bind(loopback()).unwrap();
        let (catch, _) = port.open_catch().unwrap();
        port.connect(peer.local_addr().unwrap()).unwrap();
        for round in 0..3u8 {
            other.send_to(&[round, 2], local).unwrap();
            peer.send_to(&[round, 1], local).unwrap();
            let from_peer = (vec![round, 1], peer.local_addr().unwrap());
            let from_other = (vec![round, 2], other.local_addr().unwrap());
            assert_eq!(next(&port.socket), from_peer);
            assert_eq!(next(&catch), from_other);
        }
        // Sends to the peer go out through the connected socket, others
        // still reach their destination.
        let mut counters = DriverCounters::default();
        let to_peer = peer.local_addr().unwrap();
        transmit(&port, to_peer, b"back", None, 1, &mut counters).unwrap();
        let to_other = other.local_addr().unwrap();
        transmit(&port, to_other, b"also", None, 1, &mut counters).unwrap();
        let mut buf = [0; 16];
        peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        other
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        assert_eq!(peer.recv_from(&mut buf).unwrap(), (4, local));
        assert_eq!(&buf[..4], b"back");
        assert_eq!(other.recv_from(&mut buf).unwrap(), (4, local));
        assert_eq!(&buf[..4], b"also");
        assert_eq!(counters.sent_datagrams, 2);
    }

    #[test]
    fn a_peer_that_went_away_is_counted_apart_from_socket_errors() {
        let mut port = ShardSocket::bind(loopback(), settings(0)).unwrap();
        let gone = std::net::UdpSocket::bind(loopback()).unwrap();
        let gone_at = gone.local_addr().unwrap();
        drop(gone);
        port.connect(gone_at).unwrap();
        let mut counters = DriverCounters::default();
        // The first send draws an ICMP port unreachable, which a later
        // send of the connected socket reports.
        for _ in 0..10 {
            let _ = transmit(&port, gone_at, b"rtp", None, 1, &mut counters);
            if counters.peer_refused > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(counters.peer_refused, 1);
        assert_eq!(counters.io_errors, 0);
    }

    fn settings(dscp: u8) -> SocketSettings {
        SocketSettings { buffer: 0, dscp }
    }

    /// A loopback socket that is told each datagram's TOS byte.
    fn tos_receiver() -> std::net::UdpSocket {
        let socket = std::net::UdpSocket::bind(loopback()).unwrap();
        tos::ask_for_tos(&socket);
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        socket
    }

    /// The next datagram's length and TOS byte.
    fn receive_with_tos(socket: &std::net::UdpSocket) -> (usize, Option<u8>) {
        let (datagram, tos) = tos::recv_with_tos(socket);
        (datagram.len(), tos)
    }

    fn sender(dscp: u8) -> ShardSocket {
        ShardSocket::bind(loopback(), settings(dscp)).unwrap()
    }

    #[test]
    fn single_and_gso_sends_carry_the_dscp_mark() {
        let receiver = tos_receiver();
        let to = receiver.local_addr().unwrap();
        let mut counters = DriverCounters::default();
        let marked = sender(46);
        transmit(&marked, to, &[1; 172], None, 1, &mut counters).unwrap();
        // EF: 46 << 2.
        assert_eq!(receive_with_tos(&receiver), (172, Some(0xb8)));
        // Loopback takes UDP GSO on every kernel the driver supports.
        assert!(marked.state.max_gso_segments() > 1);
        transmit(&marked, to, &[2; 3 * 160], Some(160), 3, &mut counters).unwrap();
        for _ in 0..3 {
            assert_eq!(receive_with_tos(&receiver), (160, Some(0xb8)));
        }
        let unmarked = sender(0);
        transmit(&unmarked, to, &[3; 172], None, 1, &mut counters).unwrap();
        assert_eq!(receive_with_tos(&receiver), (172, Some(0)));
        assert_eq!(counters.sent_datagrams, 5);
        assert_eq!(counters.send_calls, 3);
    }

    #[test]
    fn a_dual_stack_socket_marks_its_ipv4_packets_too() {
        let receiver = tos_receiver();
        let to = receiver.local_addr().unwrap();
        let SocketAddr::V4(v4) = to else {
            unreachable!("bound to 127.0.0.1")
        };
        let mapped = SocketAddr::from((v4.ip().to_ipv6_mapped(), v4.port()));
        let any = SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0));
        let port = ShardSocket::bind(any, settings(46)).unwrap();
        let mut counters = DriverCounters::default();
        transmit(&port, mapped, &[4; 172], None, 1, &mut counters).unwrap();
        assert_eq!(receive_with_tos(&receiver), (172, Some(0xb8)));
    }

    #[test]
    fn queued_packets_to_one_destination_leave_in_one_gso_send() {
        let receiver = tos_receiver();
        let to = receiver.local_addr().unwrap();
        let mut sockets: Sockets = vec![Some(Box::new(sender(46)))];
        let mut queue = SendQueue {
            buf: Vec::with_capacity(65_536),
            pending: None,
            gso: true,
        };
        let mut counters = DriverCounters::default();
        for byte in 0..4u8 {
            queue.push(&sockets, 0, to, &[byte; 200], &mut counters);
        }
        // A different size closes the batch.
        queue.push(&sockets, 0, to, &[9; 100], &mut counters);
        queue.flush(&sockets, &mut counters);
        assert_eq!(counters.send_calls, 2);
        assert_eq!(counters.sent_datagrams, 5);
        let mut buf = [0; 512];
        for byte in [0, 1, 2, 3, 9] {
            let len = receiver.recv(&mut buf).unwrap();
            assert_eq!(len, if byte == 9 { 100 } else { 200 });
            assert!(buf[..len].iter().all(|&b| b == byte));
        }
        sockets.clear();
    }
}
