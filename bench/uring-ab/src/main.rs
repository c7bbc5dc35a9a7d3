//! minirelay: the smallest UDP relay that can answer one question about
//! switchboard's media shard: would an io_uring loop cost less CPU per
//! relayed RTP packet than epoll + `recvmmsg` + `send`?
//!
//! `minirelay --mode epoll|uring --base-port P --calls N [--buffers B]`
//! binds 2N UDP sockets on 127.0.0.1, call i's carrier port at P + 4i and
//! its Teams port at P + 4i + 2 (what `rtp_load --target static` sends
//! to). A datagram that looks like RTP v2 is forwarded out of the other
//! socket of its pair to that socket's peer. Peers latch: a socket's
//! first RTP source becomes its peer and the socket is `connect()`ed to
//! it, so that forwarding is a plain `send`, as in switchboard. A
//! datagram whose partner has no peer yet is dropped and counted (each
//! call's very first carrier packet, since the Teams side has not spoken).
//!
//! The two modes share the sockets (same options), the latching and the
//! per-packet check; only the I/O mechanism differs:
//! - `epoll`: switchboard's shard loop (`driver/shard.rs` `run`/`drain`)
//!   without GSO: mio (edge-triggered epoll), quinn-udp `recvmmsg` per
//!   ready socket until a short batch, one `send` per datagram;
//! - `uring`: one multishot `RecvMsg` per socket into a provided buffer
//!   ring, each datagram forwarded by an `IORING_OP_SEND` straight from
//!   its buffer, the buffer returned when the send completes; one
//!   `io_uring_enter` per loop turn (`submit_and_wait(1)`).
//!
//! Two uring variants, off by default:
//! - `--wait-sends`: `submit_and_wait(sends + 1)` instead of `(1)`. The
//!   sends of a turn complete inline while being submitted, so waiting
//!   for one CQE returns at once with them, and every wake-up costs two
//!   `io_uring_enter`s; this makes it one;
//! - `--fixed-files`: the sockets registered with the ring, saving the
//!   file reference taken and dropped per SQE.
//!
//! Counters go to stderr every 10 s and on SIGINT/SIGTERM.

use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use io_uring::{cqueue, opcode, squeue, types, IoUring, SubmissionQueue, Submitter};
use quinn_udp::{RecvMeta, UdpSocketState, BATCH_SIZE};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Socket buffer sizes, as switchboard's benchmark sets them.
const SOCKET_BUFFER: usize = 1 << 20;
/// epoll mode: receive slot size and batches per ready socket, as in
/// switchboard's shard.
const SLOT: usize = 65_536 + 320;
const BATCHES_PER_TURN: usize = 4;
/// uring mode: size of a provided buffer, its group id, SQ entries, and
/// the user_data bit that marks a send (recvs carry the socket index).
const BUFFER: usize = 2048;
const GROUP: u16 = 0;
const ENTRIES: u32 = 4096;
const SEND: u64 = 1 << 63;

#[derive(Clone, Copy)]
struct Options {
    uring: bool,
    base_port: u16,
    calls: usize,
    buffers: u16,
    wait_sends: bool,
    fixed_files: bool,
}

fn parse_args() -> Result<Options, Error> {
    let mut args = std::env::args().skip(1);
    let (mut mode, mut base_port, mut calls, mut buffers) = (None, None, None, 4096u16);
    let (mut wait_sends, mut fixed_files) = (false, false);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--mode" => mode = Some(value()?),
            "--base-port" => base_port = Some(value()?.parse()?),
            "--calls" => calls = Some(value()?.parse()?),
            "--buffers" => buffers = value()?.parse()?,
            "--wait-sends" => wait_sends = true,
            "--fixed-files" => fixed_files = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let uring = match mode.as_deref() {
        Some("epoll") => false,
        Some("uring") => true,
        _ => return Err("--mode epoll|uring is needed".into()),
    };
    if !buffers.is_power_of_two() {
        return Err("--buffers must be a power of two up to 32768".into());
    }
    Ok(Options {
        uring,
        base_port: base_port.ok_or("--base-port is needed")?,
        calls: calls.ok_or("--calls is needed")?,
        buffers,
        wait_sends,
        fixed_files,
    })
}

/// Counters of the relay thread, published once per loop turn.
#[derive(Default)]
struct Counters {
    received: u64,
    forwarded: u64,
    no_peer: u64,
    not_rtp: u64,
    errors: u64,
    enobufs: u64,
    turns: u64,
}

type Published = [AtomicU64; 7];

impl Counters {
    fn publish(&mut self, to: &Published) {
        self.turns += 1;
        let values = [
            self.received,
            self.forwarded,
            self.no_peer,
            self.not_rtp,
            self.errors,
            self.enobufs,
            self.turns,
        ];
        for (slot, value) in to.iter().zip(values) {
            slot.store(value, Ordering::Relaxed);
        }
    }
}

fn report(published: &Published) {
    let [received, forwarded, no_peer, not_rtp, errors, enobufs, turns] =
        published.each_ref().map(|c| c.load(Ordering::Relaxed));
    eprintln!(
        "received {received} forwarded {forwarded} dropped {} (no peer {no_peer}, \
         not RTP {not_rtp}) errors {errors} enobufs {enobufs} loop turns {turns}",
        no_peer + not_rtp
    );
}

/// One relay port: its socket and, once latched, the peer it is
/// connected to. Port `i` pairs with port `i ^ 1`.
struct Port {
    socket: UdpSocket,
    peer: Option<SocketAddr>,
}

/// Binds the 2N ports, every socket set up as switchboard's are: the
/// options quinn-udp sets (GRO among them), minus the receive ancillary
/// data switchboard turns off again, 1 MiB buffers, non-blocking.
fn bind_ports(options: &Options) -> Result<(Vec<Port>, Vec<UdpSocketState>), Error> {
    let (mut ports, mut states) = (Vec::new(), Vec::new());
    for i in 0..options.calls {
        for side in [0, 2] {
            let port = u16::try_from(4 * i + side)
                .ok()
                .and_then(|offset| options.base_port.checked_add(offset))
                .ok_or("port number past 65535")?;
            let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, port))?;
            socket.set_nonblocking(true)?;
            states.push(UdpSocketState::new((&socket).into())?);
            let option = socket2::SockRef::from(&socket);
            option.set_recv_buffer_size(SOCKET_BUFFER)?;
            option.set_send_buffer_size(SOCKET_BUFFER)?;
            for (level, name) in [
                (libc::IPPROTO_IP, libc::IP_PKTINFO),
                (libc::IPPROTO_IP, libc::IP_RECVTOS),
                (libc::SOL_SOCKET, libc::SO_TIMESTAMPNS),
            ] {
                let off: libc::c_int = 0;
                // SAFETY: a valid descriptor and a c_int option value of
                // the size given.
                unsafe {
                    libc::setsockopt(
                        socket.as_raw_fd(),
                        level,
                        name,
                        std::ptr::from_ref(&off).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    )
                };
            }
            ports.push(Port { socket, peer: None });
        }
    }
    Ok((ports, states))
}

/// The per-packet work of both modes: the RTP check, latching, and the
/// partner's peer. Returns the port to forward out of.
fn judge(
    ports: &mut [Port],
    index: usize,
    source: impl FnOnce() -> Option<SocketAddr>,
    datagram: &[u8],
    c: &mut Counters,
) -> Option<usize> {
    c.received += 1;
    if datagram.len() < 12 || datagram[0] >> 6 != 2 {
        c.not_rtp += 1;
        return None;
    }
    if ports[index].peer.is_none() {
        let latched = source().and_then(|s| ports[index].socket.connect(s).ok().map(|()| s));
        match latched {
            Some(source) => ports[index].peer = Some(source),
            None => c.errors += 1,
        }
    }
    let partner = index ^ 1;
    if ports[partner].peer.is_none() {
        c.no_peer += 1;
        return None;
    }
    Some(partner)
}

// ---------------------------------------------------------------- epoll

fn run_epoll(
    mut ports: Vec<Port>,
    states: Vec<UdpSocketState>,
    published: &Published,
) -> Result<(), Error> {
    let mut poll = mio::Poll::new()?;
    for (i, port) in ports.iter().enumerate() {
        let fd = port.socket.as_raw_fd();
        let mut source = mio::unix::SourceFd(&fd);
        poll.registry()
            .register(&mut source, mio::Token(i), mio::Interest::READABLE)?;
    }
    let mut events = mio::Events::with_capacity(1024);
    let mut ready: VecDeque<usize> = (0..ports.len()).collect();
    let mut buf = vec![0u8; SLOT * BATCH_SIZE];
    let mut meta = [RecvMeta::default(); BATCH_SIZE];
    let mut c = Counters::default();
    loop {
        let timeout = (!ready.is_empty()).then_some(Duration::ZERO);
        if let Err(error) = poll.poll(&mut events, timeout) {
            if error.kind() != io::ErrorKind::Interrupted {
                c.errors += 1;
            }
            continue;
        }
        ready.extend(events.iter().map(|e| e.token().0));
        for _ in 0..ready.len() {
            let Some(index) = ready.pop_front() else {
                break;
            };
            if drain(&mut ports, &states, index, &mut buf, &mut meta, &mut c) {
                ready.push_back(index);
            }
        }
        c.publish(published);
    }
}

/// Receives and forwards what port `index` holds, up to
/// [`BATCHES_PER_TURN`] batches; returns whether it may hold more.
fn drain(
    ports: &mut [Port],
    states: &[UdpSocketState],
    index: usize,
    buf: &mut [u8],
    meta: &mut [RecvMeta; BATCH_SIZE],
    c: &mut Counters,
) -> bool {
    for _ in 0..BATCHES_PER_TURN {
        let mut slots = buf.chunks_exact_mut(SLOT);
        let mut iovs: [IoSliceMut<'_>; BATCH_SIZE] =
            std::array::from_fn(|_| IoSliceMut::new(slots.next().unwrap_or_default()));
        let received = match states[index].recv((&ports[index].socket).into(), &mut iovs, meta) {
            Ok(received) => received,
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                c.errors += 1;
                continue;
            }
            Err(error) => {
                if error.kind() != io::ErrorKind::WouldBlock {
                    c.errors += 1;
                }
                return false;
            }
        };
        for (m, slot) in meta.iter().zip(buf.chunks_exact(SLOT)).take(received) {
            let datagram = &slot[..m.len];
            if let Some(partner) = judge(ports, index, || Some(m.addr), datagram, c) {
                match ports[partner].socket.send(datagram) {
                    Ok(_) => c.forwarded += 1,
                    Err(_) => c.errors += 1,
                }
            }
        }
        if received < BATCH_SIZE {
            return false;
        }
    }
    true
}

// ---------------------------------------------------------------- io_uring

/// The provided buffers and the ring that lends them to the kernel.
struct BufRing {
    entries: *mut types::BufRingEntry,
    layout: std::alloc::Layout,
    /// `count` buffers of [`BUFFER`] bytes; only touched through `base`.
    _buffers: Vec<u8>,
    base: *mut u8,
    mask: u16,
    tail: u16,
}

impl BufRing {
    fn new(count: u16) -> Result<Self, Error> {
        let size = usize::from(count) * std::mem::size_of::<types::BufRingEntry>();
        let layout = std::alloc::Layout::from_size_align(size, 4096)?;
        // SAFETY: a non-zero size (count >= 1); zeroed, so the tail
        // starts at 0 as the kernel expects.
        let entries = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<types::BufRingEntry>();
        if entries.is_null() {
            return Err("buffer ring allocation failed".into());
        }
        let mut buffers = vec![0u8; usize::from(count) * BUFFER];
        let base = buffers.as_mut_ptr();
        let mut ring = Self {
            entries,
            layout,
            _buffers: buffers,
            base,
            mask: count - 1,
            tail: 0,
        };
        (0..count).for_each(|bid| ring.give(bid));
        ring.publish();
        Ok(ring)
    }

    /// Queues buffer `bid` for the kernel (seen after [`Self::publish`]).
    fn give(&mut self, bid: u16) {
        // SAFETY: the index is masked into the ring; the slot at the tail
        // is not the kernel's until the tail is published.
        let entry = unsafe { &mut *self.entries.add(usize::from(self.tail & self.mask)) };
        entry.set_addr(self.base as u64 + (usize::from(bid) * BUFFER) as u64);
        entry.set_len(BUFFER as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: `entries` is the ring's page-aligned base; its tail
        // field is a u16 the kernel reads atomically.
        let tail =
            unsafe { AtomicU16::from_ptr(types::BufRingEntry::tail(self.entries).cast_mut()) };
        tail.store(self.tail, Ordering::Release);
    }

    /// Buffer `bid`, which the kernel has handed back in a CQE.
    fn buffer(&self, bid: u16) -> &[u8] {
        // SAFETY: the buffer lies in `_buffers`; the kernel does not
        // write it until it is given back.
        unsafe { std::slice::from_raw_parts(self.base.add(usize::from(bid) * BUFFER), BUFFER) }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout. The ring is
        // dropped after the IoUring (declared before it).
        unsafe { std::alloc::dealloc(self.entries.cast(), self.layout) };
    }
}

/// Pushes an SQE, submitting first when the SQ is full.
fn push(
    submitter: &Submitter<'_>,
    sq: &mut SubmissionQueue<'_>,
    entry: &squeue::Entry,
) -> io::Result<()> {
    // SAFETY: what the entries point to (the msghdr, provided buffers)
    // outlives the requests; see the callers.
    while unsafe { sq.push(entry) }.is_err() {
        sq.sync();
        submitter.submit()?;
        sq.sync();
    }
    Ok(())
}

/// The source address in the name field of a multishot recvmsg buffer.
fn source_of(name: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes([*name.first()?, *name.get(1)?]);
    if i32::from(family) != libc::AF_INET {
        return None;
    }
    let port = u16::from_be_bytes([name[2], *name.get(3)?]);
    let ip = Ipv4Addr::new(name[4], name[5], name[6], *name.get(7)?);
    Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
}

fn run_uring(mut ports: Vec<Port>, options: &Options, published: &Published) -> Result<(), Error> {
    let buffers = options.buffers;
    let mut bufs = BufRing::new(buffers)?;
    let cq_entries = 4 * ENTRIES;
    let (mut ring, setup): (IoUring, _) = match IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(cq_entries)
        .build(ENTRIES)
    {
        Ok(ring) => (ring, "SINGLE_ISSUER | DEFER_TASKRUN"),
        Err(error) => {
            eprintln!("io_uring with SINGLE_ISSUER | DEFER_TASKRUN refused ({error}), plain ring");
            let ring = IoUring::builder().setup_cqsize(cq_entries).build(ENTRIES)?;
            (ring, "plain")
        }
    };
    eprintln!(
        "io_uring: {ENTRIES} SQ / {cq_entries} CQ entries, {setup}, {buffers} buffers of \
         {BUFFER} bytes, wait for sends {}, fixed files {}",
        options.wait_sends, options.fixed_files
    );
    // SAFETY: the ring memory lives in `bufs`, dropped after `ring`.
    unsafe {
        ring.submitter()
            .register_buf_ring_with_flags(bufs.entries as u64, buffers, GROUP, 0)?
    };
    // Only the name and control lengths matter to a multishot recvmsg:
    // an IPv4 source address, no control messages.
    // SAFETY: msghdr is plain data, all-zero valid.
    let mut msghdr: libc::msghdr = unsafe { std::mem::zeroed() };
    msghdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let fds: Vec<i32> = ports.iter().map(|p| p.socket.as_raw_fd()).collect();
    if options.fixed_files {
        ring.submitter().register_files(&fds)?;
    }
    let recv = |index: usize| {
        let entry = if options.fixed_files {
            opcode::RecvMsgMulti::new(types::Fixed(index as u32), &msghdr, GROUP).build()
        } else {
            opcode::RecvMsgMulti::new(types::Fd(fds[index]), &msghdr, GROUP).build()
        };
        entry.user_data(index as u64)
    };
    let send = |index: usize, data: *const u8, len: usize| {
        if options.fixed_files {
            opcode::Send::new(types::Fixed(index as u32), data, len as u32).build()
        } else {
            opcode::Send::new(types::Fd(fds[index]), data, len as u32).build()
        }
    };
    let (submitter, mut sq, mut cq) = ring.split();
    for index in 0..ports.len() {
        push(&submitter, &mut sq, &recv(index))?;
    }
    let mut c = Counters::default();
    let mut sends = 0;
    loop {
        sq.sync();
        let want = if options.wait_sends { sends + 1 } else { 1 };
        sends = 0;
        if let Err(error) = submitter.submit_and_wait(want) {
            // EINTR, or EBUSY with the CQ overflowing: drain it first.
            if !matches!(error.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) {
                return Err(error.into());
            }
        }
        cq.sync();
        for cqe in &mut cq {
            let (user_data, result, flags) = (cqe.user_data(), cqe.result(), cqe.flags());
            if user_data & SEND != 0 {
                if result >= 0 {
                    c.forwarded += 1;
                } else {
                    c.errors += 1;
                }
                bufs.give(user_data as u16);
                continue;
            }
            let index = user_data as usize;
            if !cqueue::more(flags) {
                push(&submitter, &mut sq, &recv(index))?;
            }
            if result == -libc::ENOBUFS {
                c.enobufs += 1;
                continue;
            }
            let Some(bid) = cqueue::buffer_select(flags).filter(|_| result >= 0) else {
                c.errors += 1;
                continue;
            };
            let buffer = &bufs.buffer(bid)[..(result as usize).min(BUFFER)];
            let forward = match types::RecvMsgOut::parse(buffer, &msghdr) {
                Ok(out) if !out.is_payload_truncated() => {
                    let payload = out.payload_data();
                    judge(
                        &mut ports,
                        index,
                        || source_of(out.name_data()),
                        payload,
                        &mut c,
                    )
                    .map(|partner| (partner, payload.as_ptr(), payload.len()))
                }
                _ => {
                    c.errors += 1;
                    None
                }
            };
            let Some((partner, data, len)) = forward else {
                bufs.give(bid);
                continue;
            };
            // The buffer stays out of the ring until the send completes.
            let entry = send(partner, data, len).user_data(SEND | u64::from(bid));
            push(&submitter, &mut sq, &entry)?;
            sends += 1;
        }
        bufs.publish();
        c.publish(published);
    }
}

// ---------------------------------------------------------------- main

fn main() -> Result<(), Error> {
    let options = parse_args()?;
    let (ports, states) = bind_ports(&options)?;
    // SIGINT and SIGTERM are blocked here (and so in the relay thread)
    // and taken with sigtimedwait below.
    // SAFETY: a zeroed sigset_t is initialised by sigemptyset.
    let mut signals: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to a sigset_t.
    unsafe {
        libc::sigemptyset(&mut signals);
        libc::sigaddset(&mut signals, libc::SIGINT);
        libc::sigaddset(&mut signals, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &signals, std::ptr::null_mut());
    }
    let published: Arc<Published> = Arc::new(Default::default());
    let relay = {
        let published = published.clone();
        std::thread::Builder::new()
            .name("relay".into())
            .spawn(move || {
                let result = if options.uring {
                    run_uring(ports, &options, &published)
                } else {
                    run_epoll(ports, states, &published)
                };
                if let Err(error) = result {
                    eprintln!("relay failed: {error}");
                    std::process::exit(1);
                }
            })?
    };
    eprintln!(
        "minirelay {} on 127.0.0.1:{}+4i(+2), {} calls, pid {}",
        if options.uring { "uring" } else { "epoll" },
        options.base_port,
        options.calls,
        std::process::id()
    );
    let every = libc::timespec {
        tv_sec: 10,
        tv_nsec: 0,
    };
    loop {
        // SAFETY: valid pointers; no siginfo wanted.
        let signal = unsafe { libc::sigtimedwait(&signals, std::ptr::null_mut(), &every) };
        report(&published);
        if signal > 0 || relay.is_finished() {
            return Ok(());
        }
    }
}
