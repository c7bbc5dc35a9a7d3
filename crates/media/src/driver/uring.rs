//! The shard's io_uring backend (Linux 6.0 and later): no system call per
//! packet.
//!
//! Under paced G.711 load every media socket holds about one datagram
//! per wake-up, so the epoll loop pays a `recvmmsg` and a `send` per
//! packet plus the readiness harvest; the kernel's share of that is what
//! limits a shard (README, Performance). Here each socket has one
//! multishot `IORING_OP_RECVMSG` (Linux 6.0) that lands datagrams in a
//! ring of provided buffers (Linux 5.19), each relayed packet leaves by
//! an `IORING_OP_SEND` straight from its buffer (`IORING_OP_SENDMSG`
//! to the destination of an unconnected socket), and a loop turn is one
//! `io_uring_enter` that submits the turn's sends and waits for them and
//! the next arrivals. The ring is set up `SINGLE_ISSUER | DEFER_TASKRUN`:
//! completions are posted only when the shard asks for them, by the
//! shard's thread, which is the only one that touches the ring.
//!
//! Measured with `bench/uring-ab/` (the same relay loop on both
//! backends): 15-25 % less CPU per packet at 1,200 paced calls.
//!
//! This module is the only unsafe code of the workspace: the kernel
//! reads and writes memory the SQEs point to after `push` returns, so
//! every pointer handed over must stay valid until its completion. Each
//! `unsafe` block says why it holds; the memory is owned by [`Uring`]
//! and lives as long as the ring (fields drop in declaration order, the
//! ring first).
#![allow(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use nix::libc;

/// Bytes of one provided buffer: the `io_uring_recvmsg_out` header and
/// the source address come first, then the datagram with room for an
/// SRTP tag. A datagram that does not fit is truncated and dropped.
pub(crate) const BUFFER: usize = 2048;
/// Provided buffers per shard (a power of two): datagrams received and
/// not yet sent on.
const BUFFERS: u16 = 8192;
/// Buffers for what the relay sends of its own (prompts, RTCP, DTMF)
/// while their sends are in flight.
const LOCAL_SLOTS: usize = 1024;
/// Submission queue entries; the completion queue has four times more.
const ENTRIES: u32 = 4096;
/// Completions in a turn that make the next wait for one only.
const BUSY_TURN: usize = 256;
/// The longest a turn that sent waits for more completions.
const SEND_WAIT: Duration = Duration::from_micros(500);
/// Sends that can be in flight: one per provided buffer and local slot.
const SEND_SLOTS: usize = BUFFERS as usize + LOCAL_SLOTS;
const GROUP: u16 = 0;

/// What a completion is about: the top two bits of its `user_data`.
const KIND: u64 = 3 << 62;
const RECV: u64 = 0;
const SEND: u64 = 1 << 62;
const WAKE: u64 = 2 << 62;
const IGNORE: u64 = 3 << 62;
/// A send from a local slot rather than a provided buffer.
const LOCAL: u64 = 1 << 16;

/// A completion, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Completion {
    /// A multishot receive produced a datagram or an error.
    Recv(Received),
    /// A send finished with `result` (bytes or -errno).
    Sent { result: i32 },
    /// The watched descriptor is readable; `more`: still watched.
    Wake { more: bool },
    /// A cancellation's own completion.
    Other,
}

/// What the multishot receive of socket `token` (of generation
/// `generation`) produced: `result`, a datagram in provided buffer
/// `buffer`, or an error. `more`: the receive goes on (else it is to be
/// armed again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Received {
    pub(crate) token: usize,
    pub(crate) generation: u32,
    pub(crate) result: i32,
    pub(crate) buffer: Option<u16>,
    pub(crate) more: bool,
}

/// A received datagram inside its provided buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Datagram {
    pub(crate) source: SocketAddr,
    /// Where the datagram starts in the buffer.
    pub(crate) offset: usize,
    pub(crate) len: usize,
}

/// The ring of provided buffers: page-aligned entries the kernel takes
/// buffers from, and the buffers.
struct BufRing {
    entries: *mut types::BufRingEntry,
    layout: std::alloc::Layout,
    buffers: Box<[u8]>,
    tail: u16,
}

impl BufRing {
    fn new() -> io::Result<Self> {
        let size = usize::from(BUFFERS) * std::mem::size_of::<types::BufRingEntry>();
        let layout = std::alloc::Layout::from_size_align(size, 4096)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the layout's size is not zero. Zeroed, so the tail
        // (which shares the first entry) starts at 0 as the kernel wants.
        let entries = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<types::BufRingEntry>();
        if entries.is_null() {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        let mut ring = Self {
            entries,
            layout,
            buffers: vec![0; usize::from(BUFFERS) * BUFFER].into_boxed_slice(),
            tail: 0,
        };
        (0..BUFFERS).for_each(|id| ring.give(id));
        ring.publish();
        Ok(ring)
    }

    /// Queues buffer `id` for the kernel; it sees it after
    /// [`Self::publish`].
    fn give(&mut self, id: u16) {
        let Some(address) = self
            .buffers
            .get(usize::from(id) * BUFFER..)
            .map(|rest| rest.as_ptr() as u64)
        else {
            return;
        };
        let slot = usize::from(self.tail & (BUFFERS - 1));
        // SAFETY: `slot` is below BUFFERS, the number of entries
        // allocated; the entry at the tail is not the kernel's until the
        // tail is published past it.
        let entry = unsafe { &mut *self.entries.add(slot) };
        entry.set_addr(address);
        entry.set_len(BUFFER as u32);
        entry.set_bid(id);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail is the u16 the kernel reads atomically at the
        // ring's page-aligned base; `entries` lives as long as `self`.
        let tail =
            unsafe { AtomicU16::from_ptr(types::BufRingEntry::tail(self.entries).cast_mut()) };
        tail.store(self.tail, Ordering::Release);
    }

    /// Buffer `id`, which a completion handed back: the kernel does not
    /// touch it until it is given again.
    fn buffer(&mut self, id: u16) -> &mut [u8] {
        let start = usize::from(id) * BUFFER;
        self.buffers
            .get_mut(start..start + BUFFER)
            .unwrap_or_default()
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the ring that
        // used it is gone (`Uring` drops it first).
        unsafe { std::alloc::dealloc(self.entries.cast(), self.layout) };
    }
}

/// A shard's ring with the memory its requests point to.
///
/// Dropping it cancels every request and waits (briefly) for their
/// completions; memory the kernel might still write into is leaked
/// rather than freed if they do not all come.
pub(crate) struct Uring {
    // Dropped first.
    ring: IoUring,
    bufs: std::mem::ManuallyDrop<BufRing>,
    /// The template of every multishot receive: only its name and
    /// control lengths matter (room for an IPv6 source, no control
    /// messages).
    msghdr: Box<libc::msghdr>,
    /// For a send in flight to a socket's unconnected destination, by
    /// provided buffer id or `BUFFERS` + local slot: the address, and
    /// the `sendmsg` header and iovec that point at it and the data.
    destinations: Box<[Option<socket2::SockAddr>]>,
    headers: Box<[libc::msghdr]>,
    iovecs: Box<[libc::iovec]>,
    local: Box<[u8]>,
    local_free: Vec<u16>,
    /// Sends pushed since the last submission: the next wait is for them
    /// and one more completion, so that a turn is one system call.
    sends: usize,
    /// Receives stopped for want of buffers, armed again once buffers
    /// come back.
    starved: Vec<(usize, u32, RawFd)>,
    /// Multishot receives and sends in flight (for the drop).
    receiving: usize,
    sending: usize,
    /// Completions taken since the last submission.
    taken: usize,
}

// SAFETY: the raw pointers (the buffer ring's entries, those of the
// msghdrs and iovecs) point into memory the `Uring` owns, as a `Vec`'s
// would; nothing is shared with another value. A ring is made on its
// shard's thread and stays there (`SINGLE_ISSUER` would refuse a
// submission from another thread with an error, not misbehave).
unsafe impl Send for Uring {}

impl Uring {
    /// A ring for the calling thread, which must be the only one to use
    /// it (`SINGLE_ISSUER`).
    pub(crate) fn new() -> io::Result<Self> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(4 * ENTRIES)
            .build(ENTRIES)?;
        let bufs = BufRing::new()?;
        // SAFETY: the entries live in `bufs`, which outlives the ring
        // (dropped after it).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                bufs.entries as u64,
                BUFFERS,
                GROUP,
                0,
            )?;
        }
        // SAFETY: msghdr is plain old data; all zeroes is a valid value.
        let mut msghdr: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        msghdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        Ok(Self {
            ring,
            bufs: std::mem::ManuallyDrop::new(bufs),
            msghdr,
            destinations: vec![None; SEND_SLOTS].into_boxed_slice(),
            // SAFETY: both are plain old data; all zeroes is valid.
            headers: vec![unsafe { std::mem::zeroed() }; SEND_SLOTS].into_boxed_slice(),
            iovecs: vec![unsafe { std::mem::zeroed() }; SEND_SLOTS].into_boxed_slice(),
            local: vec![0; LOCAL_SLOTS * BUFFER].into_boxed_slice(),
            local_free: (0..LOCAL_SLOTS as u16).rev().collect(),
            sends: 0,
            starved: Vec::new(),
            receiving: 0,
            sending: 0,
            taken: 0,
        })
    }

    /// Whether this kernel (and its seccomp policy) gives the shard a
    /// ring with everything it uses. Tried on a thread of its own: a
    /// ring's teardown may leave task work to its thread, which would
    /// interrupt the caller's next blocking call with EINTR.
    pub(crate) fn available() -> io::Result<()> {
        std::thread::Builder::new()
            .name("media-uring-probe".into())
            .spawn(Self::probe)?
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("io_uring probe panicked")))
    }

    fn probe() -> io::Result<()> {
        let uring = Self::new()?;
        let probe = &mut io_uring::Probe::new();
        uring.ring.submitter().register_probe(probe)?;
        let needed = [
            opcode::RecvMsgMulti::CODE,
            opcode::Send::CODE,
            opcode::SendMsg::CODE,
            opcode::PollAdd::CODE,
            opcode::AsyncCancel::CODE,
        ];
        if needed.iter().all(|&code| probe.is_supported(code))
            && uring.ring.params().is_feature_ext_arg()
        {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring lacks multishot recvmsg, send, poll or wait timeouts",
            ))
        }
    }

    fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry built here points only at memory `self`
            // owns and keeps until the completion: the msghdr, provided
            // buffers (given back only on the send's completion), local
            // slots (freed likewise) and their destinations.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    /// Starts the multishot receive of socket `fd`, known as `token`.
    pub(crate) fn receive(&mut self, token: usize, generation: u32, fd: RawFd) -> io::Result<()> {
        let entry = opcode::RecvMsgMulti::new(types::Fd(fd), &*self.msghdr, GROUP)
            .build()
            .user_data(recv_data(token, generation));
        self.push(&entry)?;
        self.receiving += 1;
        Ok(())
    }

    /// Stops the receive of `token` (its completion comes with
    /// `-ECANCELED`, or never if it had ended).
    pub(crate) fn cancel(&mut self, token: usize, generation: u32) -> io::Result<()> {
        self.starved
            .retain(|&(t, g, _)| (t, g) != (token, generation));
        let entry = opcode::AsyncCancel::new(recv_data(token, generation))
            .build()
            .user_data(IGNORE);
        self.push(&entry)
    }

    /// Watches `fd` for readability (the mio poll of the shard's waker).
    pub(crate) fn watch(&mut self, fd: RawFd) -> io::Result<()> {
        let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(WAKE);
        self.push(&entry)
    }

    /// A receive that ended for want of buffers: armed again at the end
    /// of the turn, once buffers are back.
    pub(crate) fn starve(&mut self, token: usize, generation: u32, fd: RawFd) {
        self.starved.push((token, generation, fd));
    }

    /// The datagram of a receive completion in `buffer`, `None` when
    /// truncated or malformed.
    pub(crate) fn datagram(&mut self, buffer: u16, result: i32) -> Option<Datagram> {
        let len = usize::try_from(result).ok()?.min(BUFFER);
        let msghdr = &*self.msghdr;
        let data = &self.bufs.buffer(buffer)[..len];
        let out = types::RecvMsgOut::parse(data, msghdr).ok()?;
        if out.is_payload_truncated() || out.is_name_data_truncated() {
            return None;
        }
        let source = source_of(out.name_data())?;
        let payload = out.payload_data();
        let offset = payload.as_ptr() as usize - data.as_ptr() as usize;
        Some(Datagram {
            source,
            offset,
            len: payload.len(),
        })
    }

    /// Provided buffer `buffer`, to rewrite a datagram in place.
    pub(crate) fn buffer(&mut self, buffer: u16) -> &mut [u8] {
        self.bufs.buffer(buffer)
    }

    /// Gives a buffer back to the kernel (seen after the turn).
    pub(crate) fn give(&mut self, buffer: u16) {
        self.bufs.give(buffer);
    }

    /// Sends `len` bytes at `offset` of provided buffer `buffer` from
    /// socket `fd`, to `destination` unless the socket is connected to
    /// it; the buffer goes back to the kernel when the send completes.
    pub(crate) fn send_buffer(
        &mut self,
        fd: RawFd,
        buffer: u16,
        offset: usize,
        len: usize,
        destination: Option<SocketAddr>,
    ) -> io::Result<()> {
        let data = self.bufs.buffer(buffer);
        let Some(pointer) = data.get(offset..offset + len).map(<[u8]>::as_ptr) else {
            self.bufs.give(buffer);
            return Err(io::ErrorKind::InvalidInput.into());
        };
        self.send(
            fd,
            usize::from(buffer),
            pointer,
            len,
            destination,
            u64::from(buffer),
        )
    }

    /// Sends a copy of `packet` from socket `fd`; refused with
    /// `WouldBlock` while every local slot is in flight.
    pub(crate) fn send_copy(
        &mut self,
        fd: RawFd,
        packet: &[u8],
        destination: Option<SocketAddr>,
    ) -> io::Result<()> {
        if packet.len() > BUFFER {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        let Some(slot) = self.local_free.pop() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let start = usize::from(slot) * BUFFER;
        let Some(room) = self.local.get_mut(start..start + packet.len()) else {
            self.local_free.push(slot);
            return Err(io::ErrorKind::InvalidInput.into());
        };
        room.copy_from_slice(packet);
        let pointer = room.as_ptr();
        let index = usize::from(BUFFERS) + usize::from(slot);
        self.send(
            fd,
            index,
            pointer,
            packet.len(),
            destination,
            LOCAL | u64::from(slot),
        )
    }

    fn send(
        &mut self,
        fd: RawFd,
        index: usize,
        pointer: *const u8,
        len: usize,
        destination: Option<SocketAddr>,
        data: u64,
    ) -> io::Result<()> {
        let entry = match destination {
            // A connected socket's peer: a plain send.
            None => opcode::Send::new(types::Fd(fd), pointer, len as u32).build(),
            // Else `sendmsg` (IORING_OP_SEND takes an address only from
            // Linux 6.10 on).
            Some(destination) => {
                let (Some(address), Some(header), Some(iovec)) = (
                    self.destinations.get_mut(index),
                    self.headers.get_mut(index),
                    self.iovecs.get_mut(index),
                ) else {
                    self.sent(data);
                    return Err(io::ErrorKind::InvalidInput.into());
                };
                let address = address.insert(socket2::SockAddr::from(destination));
                iovec.iov_base = pointer.cast_mut().cast();
                iovec.iov_len = len;
                header.msg_name = address.as_ptr().cast_mut().cast();
                header.msg_namelen = address.len();
                header.msg_iov = iovec;
                header.msg_iovlen = 1;
                opcode::SendMsg::new(types::Fd(fd), header).build()
            }
        };
        if let Err(error) = self.push(&entry.user_data(SEND | data)) {
            self.sent(data);
            return Err(error);
        }
        self.sends += 1;
        self.sending += 1;
        Ok(())
    }

    /// The send whose completion carried `data` is done: its buffer or
    /// slot is free again.
    fn sent(&mut self, data: u64) {
        let id = (data & 0xffff) as u16;
        if data & LOCAL == 0 {
            self.bufs.give(id);
        } else {
            self.local_free.push(id);
        }
    }

    /// Submits what was pushed and waits for the turn's sends and one
    /// more completion, at most `timeout`, and at most [`SEND_WAIT`]
    /// after sends: their completions may not count toward the wait
    /// when it starts, and waiting for as many arrivals as there were
    /// sends would let turns, and the latency of every packet, grow
    /// without bound (seen: 4,000 packets and 30 ms a turn at 1,200
    /// calls).
    ///
    /// After a busy turn ([`BUSY_TURN`] completions or more) it waits for
    /// one completion only: a backlog is waiting, and a turn should not
    /// sleep while it grows.
    pub(crate) fn submit_and_wait(&mut self, mut timeout: Option<Duration>) -> io::Result<()> {
        let want = if self.taken >= BUSY_TURN {
            1
        } else {
            self.sends + 1
        };
        self.taken = 0;
        if self.sends > 0 {
            timeout = Some(timeout.map_or(SEND_WAIT, |t| t.min(SEND_WAIT)));
        }
        self.sends = 0;
        let submitter = self.ring.submitter();
        let result = match timeout {
            None => submitter.submit_and_wait(want),
            Some(timeout) => {
                let timespec = types::Timespec::from(timeout);
                let args = types::SubmitArgs::new().timespec(&timespec);
                submitter.submit_with_args(want, &args)
            }
        };
        match result {
            Ok(_) => Ok(()),
            // A timeout, a signal, or a full completion queue (drained
            // next).
            Err(error)
                if matches!(
                    error.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// The next completion; send completions free their memory here.
    pub(crate) fn next(&mut self) -> Option<Completion> {
        let cqe = self.ring.completion().next()?;
        self.taken += 1;
        let (data, result, flags) = (cqe.user_data(), cqe.result(), cqe.flags());
        let completion = match data & KIND {
            RECV => {
                let more = cqueue::more(flags);
                if !more {
                    self.receiving = self.receiving.saturating_sub(1);
                }
                Completion::Recv(Received {
                    token: (data & 0x1_ffff) as usize,
                    generation: (data >> 32) as u32 & 0x3fff_ffff,
                    result,
                    buffer: cqueue::buffer_select(flags),
                    more,
                })
            }
            SEND => {
                self.sent(data & !KIND);
                self.sending = self.sending.saturating_sub(1);
                Completion::Sent { result }
            }
            WAKE => Completion::Wake {
                more: cqueue::more(flags),
            },
            _ => Completion::Other,
        };
        Some(completion)
    }

    /// Ends a turn: buffers given back reach the kernel, and receives
    /// that starved are armed again.
    pub(crate) fn end_turn(&mut self) -> io::Result<()> {
        self.bufs.publish();
        for (token, generation, fd) in std::mem::take(&mut self.starved) {
            self.receive(token, generation, fd)?;
        }
        Ok(())
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        let any = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(IGNORE);
        let mut quiet = self.push(&any).is_ok();
        for _ in 0..50 {
            if !quiet || self.receiving + self.sending == 0 {
                break;
            }
            quiet = self
                .submit_and_wait(Some(Duration::from_millis(10)))
                .is_ok();
            while self.next().is_some() {}
        }
        if quiet && self.receiving + self.sending == 0 {
            // SAFETY: dropped once, here; nothing in flight points at it.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.bufs) };
        }
        // Else the buffers stay allocated: a receive the kernel still
        // holds may write into them.
    }
}

fn recv_data(token: usize, generation: u32) -> u64 {
    RECV | u64::from(generation & 0x3fff_ffff) << 32 | (token as u64 & 0x1_ffff)
}

/// The source address a multishot receive wrote (a `sockaddr_in` or
/// `sockaddr_in6`, in the kernel's byte layout).
fn source_of(name: &[u8]) -> Option<SocketAddr> {
    let family = i32::from(u16::from_ne_bytes([*name.first()?, *name.get(1)?]));
    let port = u16::from_be_bytes([*name.get(2)?, *name.get(3)?]);
    if family == libc::AF_INET {
        let ip: [u8; 4] = name.get(4..8)?.try_into().ok()?;
        Some(SocketAddrV4::new(Ipv4Addr::from(ip), port).into())
    } else if family == libc::AF_INET6 {
        let flow = u32::from_be_bytes(name.get(4..8)?.try_into().ok()?);
        let ip: [u8; 16] = name.get(8..24)?.try_into().ok()?;
        let scope = u32::from_ne_bytes(name.get(24..28)?.try_into().ok()?);
        Some(SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope).into())
    } else {
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_are_read_in_the_kernels_layout() {
        let v4 = socket2::SockAddr::from("192.0.2.7:4000".parse::<SocketAddr>().unwrap());
        let v6 = socket2::SockAddr::from("[2001:db8::9]:5004".parse::<SocketAddr>().unwrap());
        for address in [v4, v6] {
            // SAFETY (test): the address's storage is `len` bytes long.
            let bytes = unsafe {
                std::slice::from_raw_parts(address.as_ptr().cast::<u8>(), address.len() as usize)
            };
            assert_eq!(source_of(bytes), address.as_socket());
        }
        assert_eq!(source_of(&[0; 3]), None);
        assert_eq!(source_of(&[0xff; 28]), None);
    }

    #[test]
    fn completion_data_keeps_token_and_generation_apart() {
        let data = recv_data(0x1_2345, 0x3fff_fffe);
        assert_eq!(data & KIND, RECV);
        assert_eq!(data & 0x1_ffff, 0x1_2345);
        assert_eq!((data >> 32) as u32 & 0x3fff_ffff, 0x3fff_fffe);
    }
}
