//! The UDP driver of the relay: sockets, threads and clocks around
//! [`MediaRelay`], which holds all the packet logic.
//!
//! # Why std threads and mio, not tokio
//!
//! A relay shard is one tight loop over thousands of sockets whose state
//! (the shard's [`MediaRelay`]) every packet touches. With tokio that is
//! a task per socket sharing the table through a lock or a `RefCell`, a
//! waker per readiness change and the scheduler between every two
//! packets. Here each shard is one OS thread that owns its sockets and
//! its relay outright:
//! - `epoll` readiness through mio (edge-triggered);
//! - `recvmmsg` batches (quinn-udp's `UdpSocketState::recv`, up to
//!   [`quinn_udp::BATCH_SIZE`] datagrams a call, GRO segments split);
//! - [`MediaRelay::handle_packet`] in place in the receive buffer;
//! - one `sendto` per packet, with consecutive packets of one size to the
//!   same destination from the same socket gathered into one GSO
//!   `sendmsg` (`UDP_SEGMENT`). No control message otherwise, so the
//!   socket's DSCP mark ([`DriverConfig::dscp`]) holds for every packet.
//!
//! With [`MediaIo::Uring`] (or [`MediaIo::Auto`] where the kernel allows
//! it) a shard uses io_uring instead: a multishot receive per socket into
//! a ring of provided buffers, the relayed packet sent from its buffer,
//! and one `io_uring_enter` per loop turn for all of a turn's sends and
//! arrivals. Under paced load, where a socket holds one datagram per
//! wake-up, that saves the two system calls per packet of the epoll
//! loop: 15-25 % of a shard's CPU at 1,200 G.711 calls (README,
//! Performance). No GSO there; the waker still goes through mio (the
//! ring watches the poll's descriptor). This is the workspace's only
//! unsafe code (`driver/uring.rs`).
//!
//! No lock and no allocation on that path: one receive pool and one send
//! buffer per shard, allocated at start. The call layer (async or not)
//! talks to shards through a command channel and a mio `Waker`; every
//! command waits for the shard's answer, so after it returns the change
//! is in force. Media events come back on a std channel.
//!
//! # Ports and shards
//!
//! The range `first_port..=last_port` is cut into even/odd pairs (RTP on
//! the even port, RFC 3550 §11; RTCP on the odd one when a leg has no
//! rtcp-mux), dealt round-robin to the shards. All legs of one session
//! live in the shard its session number picks, so bridging legs of one
//! call never crosses threads; legs of two sessions in different shards
//! cannot be bridged ([`DriverError::DifferentShards`]). Sockets are
//! bound when a leg is allocated and closed when it is freed; a freed
//! pair goes to the back of the free list so stray packets of the old
//! call do not reach the next one.
//!
//! # Switchboard as an endpoint
//!
//! A leg given its codec ([`MediaDriver::set_codec`]) can be played to
//! ([`MediaDriver::play`]: prompts, music on hold, any
//! [`FrameSource`]) and listened to (DTMF as [`MediaEvent::Dtmf`] while
//! it is not bridged); see [`MediaRelay`]'s local ends. The shard paces
//! the frames with its poll timeout and sends them from the leg's socket
//! like relayed packets. Key presses go between bridged legs whose peers
//! take them in different forms ([`MediaDriver::set_dtmf`],
//! [`MediaDriver::send_dtmf`], [`MediaEvent::BridgedDtmf`]).
//!
//! # Conferences
//!
//! [`MediaDriver::join_conference`] puts a leg with its codec in its
//! session's conference (all legs of a session share a shard): the shard
//! mixes every 20 ms and sends each member what it hears, as its
//! [`ConferenceRole`] allows (three-way calls, consultations, supervisor
//! listen / whisper / barge); see [`MediaRelay::join_conference`].
//!
//! # Recording
//!
//! [`MediaDriver::start_recording`] taps a call's two legs (caller left,
//! agent right) and [`MediaDriver::start_voicemail`] one leg; the shard
//! cuts what they receive into 20 ms frames on one timeline (see
//! [`MediaRelay::poll_recording`]) and hands them to the driver's
//! recorder thread (`media-recorder`) over a bounded channel, never
//! waiting: frames that find it full are dropped, counted
//! ([`DriverCounters::recording_frames_dropped`]) and become silence in
//! the file. The recorder thread creates, writes and completes the WAV
//! files and reports [`MediaEvent::RecordingFinished`]; no file I/O
//! runs on a shard.
//!
//! [`MediaRelay::poll_recording`]: crate::MediaRelay::poll_recording

mod recorder;
mod shard;
mod uring;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sdp::Direction;

use self::recorder::{RecorderLink, RecorderMessage, RecordingKind, ShardPost};
use self::shard::{Command, Shard, ShardIo, ShardSocket, SocketSettings};
use crate::dtmf::DtmfDigit;
use crate::error::DriverError;
use crate::relay::{
    ConferenceRole, LegCodec, LegConfig, LegDtmf, LegKey, LegPorts, LegSrtp, MediaEvent,
    RecordingChannel, RecordingEnd, RecordingId, RelayConfig, RelayCounters,
};
use crate::server::{FrameSource, PauseMode, PlayRequestId, VoicemailConfig};

/// Settings of [`MediaDriver`].
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Address the media sockets bind to.
    pub bind: IpAddr,
    /// First port of the range (rounded up to even).
    pub first_port: u16,
    /// Last port of the range.
    pub last_port: u16,
    /// Number of shard threads; 0 means one per core.
    pub shards: usize,
    /// The relay's settings, the same in every shard.
    pub relay: RelayConfig,
    /// `SO_RCVBUF` and `SO_SNDBUF` of each socket in bytes; 0 keeps the
    /// system default.
    pub socket_buffer: usize,
    /// Coalesce packets to one destination into GSO sends.
    pub gso: bool,
    /// DSCP mark of every packet sent (IPv4 TOS or IPv6 traffic class,
    /// upper six bits), so that networks with QoS give the audio
    /// priority. The default, 46 (Expedited Forwarding, RFC 3246), is
    /// what Microsoft's Teams QoS guidance and RFC 4594 give real-time
    /// audio; 0 sends unmarked.
    pub dscp: u8,
    /// After a round that relayed packets, a shard waits this long
    /// before asking the kernel for more, so that the next round finds
    /// many sockets ready: one thread wake-up per round instead of one
    /// per packet. Each packet waits at most this much longer. Zero
    /// (the default): off. Measured on a 2-core VM at 400 G.711 calls,
    /// 1 ms saved about 5 % of the shard's CPU for 1-2 ms more latency.
    pub coalesce: Duration,
    /// Recorded frames (20 ms of both channels, about 650 bytes each)
    /// the channel to the recorder thread holds, allocated at start; a
    /// frame that finds it full is dropped. The default, 4096, is 80 ms
    /// of 1000 recorded calls, or 8 s of 10.
    pub recording_queue: usize,
    /// How the shards do their socket I/O.
    pub io: MediaIo,
}

/// How the shards receive and send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MediaIo {
    /// Readiness from epoll, then `recvmmsg` per ready socket and a
    /// `send` (or a GSO `sendmsg`) per packet: works everywhere.
    #[default]
    Epoll,
    /// io_uring (Linux 6.0 and later): multishot receives into provided
    /// buffers and sends without a system call per packet, 15-25 % less
    /// CPU per packet at 1,200 paced calls (README, Performance). No GSO.
    /// [`MediaDriver::start`] fails where the kernel or a seccomp policy
    /// (container runtimes often block io_uring) does not allow it.
    Uring,
    /// io_uring where it is allowed, epoll elsewhere.
    Auto,
}

impl Default for DriverConfig {
    /// Ports 40000-59999 on 0.0.0.0, one shard per core, GSO on, DSCP
    /// EF, no coalescing.
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            first_port: 40000,
            last_port: 59999,
            shards: 0,
            relay: RelayConfig::default(),
            socket_buffer: 0,
            gso: true,
            dscp: 46,
            coalesce: Duration::ZERO,
            recording_queue: 4096,
            io: MediaIo::Epoll,
        }
    }
}

/// Counters of the driver: the relays' and the sockets'.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverCounters {
    /// The relay counters of all shards added up.
    pub relay: RelayCounters,
    /// `recvmmsg` calls that returned datagrams (io_uring: loop turns
    /// that received).
    pub recv_batches: u64,
    /// Datagrams received (GRO segments counted one by one).
    pub recv_datagrams: u64,
    /// Send calls (`sendto`, or `sendmsg` for a GSO batch; io_uring:
    /// loop turns whose sends completed).
    pub send_calls: u64,
    /// Datagrams sent (a GSO send counts its segments).
    pub sent_datagrams: u64,
    /// Datagrams not sent because the socket buffer was full.
    pub send_blocked: u64,
    /// ICMP "port unreachable" from a leg's latched source, reported on
    /// a later receive or send of its connected socket (the send is lost).
    pub peer_refused: u64,
    /// Datagrams too long for an io_uring receive buffer (about 2,000
    /// bytes; RTP stays under the path MTU), dropped.
    pub recv_truncated: u64,
    /// Send or receive calls that failed otherwise.
    pub io_errors: u64,
    /// Legs with their sockets, across shards.
    pub legs: u64,
    /// Recorded frames handed to the recorder thread.
    pub recorded_frames: u64,
    /// Recorded frames dropped because the recorder thread was behind
    /// (silence in their files).
    pub recording_frames_dropped: u64,
}

impl DriverCounters {
    pub(crate) fn add(&mut self, other: &DriverCounters) {
        self.relay.add(&other.relay);
        self.recv_batches += other.recv_batches;
        self.recv_datagrams += other.recv_datagrams;
        self.send_calls += other.send_calls;
        self.sent_datagrams += other.sent_datagrams;
        self.send_blocked += other.send_blocked;
        self.peer_refused += other.peer_refused;
        self.recv_truncated += other.recv_truncated;
        self.io_errors += other.io_errors;
        self.legs += other.legs;
        self.recorded_frames += other.recorded_frames;
        self.recording_frames_dropped += other.recording_frames_dropped;
    }
}

struct ShardHandle {
    commands: Sender<Command>,
    waker: Arc<mio::Waker>,
    /// Set by a sender that woke the shard, cleared by the shard before
    /// it takes the queued commands: one wake-up (an eventfd write and a
    /// thread switch) per batch of commands, not per command.
    wake_pending: Arc<AtomicBool>,
    /// Free even ports of this shard, longest free first.
    free: Arc<Mutex<VecDeque<u16>>>,
    thread: Option<JoinHandle<()>>,
}

/// The relay with its sockets and shard threads. Dropping it stops the
/// shards and closes every socket.
///
/// ```no_run
/// use media::{DriverConfig, LegKey, MediaDriver, MediaEvent};
///
/// let (driver, events) = MediaDriver::start(DriverConfig::default())?;
/// let (carrier, teams) = (LegKey::new(7, 0), LegKey::new(7, 1));
/// let carrier_ports = driver.allocate_leg(carrier, true)?; // into our SDP
/// let teams_ports = driver.allocate_leg(teams, true)?;
/// driver.update_remote(carrier, Some("192.0.2.1:5004".parse()?), None)?;
/// driver.update_remote(teams, Some("198.51.100.7:50000".parse()?), None)?;
/// driver.bridge(carrier, teams)?;
/// for event in events.iter() {
///     if let MediaEvent::MediaTimeout { leg, .. } = event {
///         // BYE with "Reason: ...;text=\"media timeout\"" for leg.session
///         driver.free_leg(leg)?;
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MediaDriver {
    shards: Vec<ShardHandle>,
    bind: IpAddr,
    socket: SocketSettings,
    recorder: Option<JoinHandle<()>>,
    /// Recordings started, for their ids.
    recordings: AtomicU64,
    io: MediaIo,
}

impl std::fmt::Debug for MediaDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaDriver")
            .field("shards", &self.shards.len())
            .field("bind", &self.bind)
            .field("io", &self.io)
            .finish_non_exhaustive()
    }
}

/// The shard of a session: a mix of its number, so that numbers with a
/// common stride still spread (splitmix64 finaliser).
fn shard_of(session: u64, shards: usize) -> usize {
    let mut x = session.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    // `shards` is at least 1; the remainder fits in usize.
    (x % shards as u64) as usize
}

impl MediaDriver {
    /// Starts the shard threads (named `media-shard-N`). Returns the
    /// driver and the receiver of every shard's [`MediaEvent`]s.
    pub fn start(config: DriverConfig) -> Result<(Self, Receiver<MediaEvent>), DriverError> {
        let first = config.first_port.saturating_add(config.first_port % 2);
        if first >= config.last_port {
            return Err(DriverError::Config("the port range holds no even/odd pair"));
        }
        let shards = match config.shards {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let mut free: Vec<VecDeque<u16>> = vec![VecDeque::new(); shards];
        let pairs = (first..config.last_port).step_by(2);
        for (at, port) in pairs.enumerate() {
            free[at % shards].push_back(port);
        }
        let uring = match config.io {
            MediaIo::Epoll => false,
            MediaIo::Uring => {
                uring::Uring::available()?;
                true
            }
            MediaIo::Auto => uring::Uring::available().is_ok(),
        };
        let (events_tx, events_rx) = mpsc::channel();
        let (recorder_tx, recorder_rx) = mpsc::sync_channel(config.recording_queue.max(1));
        let mut handles = Vec::with_capacity(shards);
        for (index, free) in free.into_iter().enumerate() {
            let poll = mio::Poll::new()?;
            let waker = Arc::new(mio::Waker::new(poll.registry(), shard::WAKER)?);
            let (commands, commands_rx) = mpsc::channel();
            let wake_pending = Arc::new(AtomicBool::new(false));
            let shard = Shard::new(
                poll,
                config.relay,
                (commands_rx, Arc::clone(&wake_pending)),
                events_tx.clone(),
                RecorderLink::new(recorder_tx.clone()),
                ShardIo {
                    gso: config.gso,
                    coalesce: config.coalesce,
                    uring,
                },
            );
            let thread = std::thread::Builder::new()
                .name(format!("media-shard-{index}"))
                .spawn(move || shard.run())?;
            handles.push(ShardHandle {
                commands,
                waker,
                wake_pending,
                free: Arc::new(Mutex::new(free)),
                thread: Some(thread),
            });
        }
        drop(recorder_tx);
        let posts = handles
            .iter()
            .map(|handle| ShardPost {
                commands: handle.commands.clone(),
                waker: Arc::clone(&handle.waker),
            })
            .collect();
        let mut driver = Self {
            shards: handles,
            bind: config.bind,
            socket: SocketSettings {
                buffer: config.socket_buffer,
                dscp: config.dscp,
            },
            recorder: None,
            recordings: AtomicU64::new(0),
            io: if uring {
                MediaIo::Uring
            } else {
                MediaIo::Epoll
            },
        };
        let recorder = std::thread::Builder::new()
            .name("media-recorder".into())
            .spawn(move || recorder::run(recorder_rx, events_tx, posts))?;
        driver.recorder = Some(recorder);
        Ok((driver, events_rx))
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    fn shard(&self, session: u64) -> (usize, &ShardHandle) {
        let index = shard_of(session, self.shards.len());
        (index, &self.shards[index])
    }

    /// Runs `f` on the shard's thread and waits for its result.
    fn call<R: Send + 'static>(
        shard: &ShardHandle,
        f: impl FnOnce(&mut Shard, Instant) -> R + Send + 'static,
    ) -> Result<R, DriverError> {
        let (reply, result) = mpsc::sync_channel(1);
        let command: Command = Box::new(move |shard: &mut Shard, now: Instant| {
            // The caller may have given up waiting; nothing to do then.
            let _ = reply.send(f(shard, now));
        });
        Self::send(shard, command)?;
        result.recv().map_err(|_| DriverError::ShardStopped)
    }

    fn send(shard: &ShardHandle, command: Command) -> Result<(), DriverError> {
        shard
            .commands
            .send(command)
            .map_err(|_| DriverError::ShardStopped)?;
        // Queued before the flag is read: a shard that already cleared it
        // is woken again, one that has not yet will find the command.
        if !shard.wake_pending.swap(true, Ordering::SeqCst) {
            shard.waker.wake()?;
        }
        Ok(())
    }

    /// Runs `op` for `key` on its shard and waits for the outcome.
    fn run(&self, key: LegKey, op: Op) -> Result<(), DriverError> {
        let (_, shard) = self.shard(key.session);
        Self::call(shard, op)?
    }

    /// Queues `op` for `key` on its shard; a failure comes back as
    /// [`MediaEvent::Refused`].
    fn post(&self, key: LegKey, op: Op) -> Result<(), DriverError> {
        let (_, shard) = self.shard(key.session);
        let command: Command = Box::new(move |shard: &mut Shard, now: Instant| {
            if let Err(error) = op(shard, now) {
                shard.report(MediaEvent::Refused {
                    leg: key,
                    reason: error.to_string(),
                });
            }
        });
        Self::send(shard, command)
    }

    /// Binds the leg's socket(s) on a free pair of the range and adds it
    /// to its shard's relay, not yet bridged, with no remote: write the
    /// returned ports into the SDP toward that leg. `rtcp_mux`: one port
    /// for RTP and RTCP (RFC 5761), else an RTP/RTCP pair.
    pub fn allocate_leg(&self, key: LegKey, rtcp_mux: bool) -> Result<LegPorts, DriverError> {
        let (ports, op) = self.bind_leg(key, rtcp_mux)?;
        self.run(key, op)?;
        Ok(ports)
    }

    /// The sockets of a new leg, bound here, and the command that hands
    /// them to the shard (it frees the ports again if the shard refuses).
    fn bind_leg(&self, key: LegKey, rtcp_mux: bool) -> Result<(LegPorts, Op), DriverError> {
        let (_, shard) = self.shard(key.session);
        let (ports, sockets) = self.bind_pair(shard, rtcp_mux)?;
        let free = Arc::clone(&shard.free);
        let op: Op = Box::new(move |shard, now| {
            let added = shard.add_leg(now, key, LegConfig::new(ports), sockets);
            if added.is_err() {
                release_port(&free, ports.rtp);
            }
            added
        });
        Ok((ports, op))
    }

    /// Takes a free pair from the shard's list and binds it; a pair some
    /// other program holds goes to the back of the list.
    fn bind_pair(
        &self,
        shard: &ShardHandle,
        rtcp_mux: bool,
    ) -> Result<(LegPorts, Vec<ShardSocket>), DriverError> {
        let attempts = shard.free.lock().map_or(0, |free| free.len());
        for _ in 0..attempts {
            let port = {
                let mut free = shard.free.lock().map_err(|_| DriverError::ShardStopped)?;
                free.pop_front().ok_or(DriverError::PortsExhausted)?
            };
            let rtcp = (!rtcp_mux).then_some(port + 1);
            let mut sockets = Vec::with_capacity(2);
            let bound = std::iter::once(port).chain(rtcp).try_for_each(
                |port| -> Result<(), std::io::Error> {
                    sockets.push(self.bind(port)?);
                    Ok(())
                },
            );
            match bound {
                Ok(()) => return Ok((LegPorts { rtp: port, rtcp }, sockets)),
                Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
                    release_port(&shard.free, port);
                }
                Err(error) => {
                    release_port(&shard.free, port);
                    return Err(error.into());
                }
            }
        }
        Err(DriverError::PortsExhausted)
    }

    fn bind(&self, port: u16) -> std::io::Result<ShardSocket> {
        ShardSocket::bind(SocketAddr::new(self.bind, port), self.socket)
    }

    /// Removes the leg, closes its sockets and frees its ports.
    pub fn free_leg(&self, key: LegKey) -> Result<(), DriverError> {
        self.run(key, self.free_op(key))
    }

    fn free_op(&self, key: LegKey) -> Op {
        let free = Arc::clone(&self.shard(key.session).1.free);
        Box::new(move |shard, _| {
            let ports = shard.remove_leg(key)?;
            release_port(&free, ports.rtp);
            Ok(())
        })
    }

    /// The leg's remote address(es) from its SDP; see
    /// [`MediaRelay::update_remote`](crate::MediaRelay::update_remote).
    pub fn update_remote(
        &self,
        key: LegKey,
        remote: Option<SocketAddr>,
        remote_rtcp: Option<SocketAddr>,
    ) -> Result<(), DriverError> {
        self.run(key, update_remote_op(key, remote, remote_rtcp))
    }

    /// The leg's SRTP contexts; see
    /// [`MediaRelay::update_srtp`](crate::MediaRelay::update_srtp).
    pub fn update_srtp(&self, key: LegKey, srtp: Option<LegSrtp>) -> Result<(), DriverError> {
        self.run(key, update_srtp_op(key, srtp))
    }

    /// The direction of the leg's SDP (hold, resume).
    pub fn set_direction(&self, key: LegKey, direction: Direction) -> Result<(), DriverError> {
        self.run(key, set_direction_op(key, direction))
    }

    /// The I/O the shards use: [`MediaIo::Epoll`] or [`MediaIo::Uring`]
    /// ([`MediaIo::Auto`] resolved at start).
    pub fn io(&self) -> MediaIo {
        self.io
    }

    /// Bridges two legs of sessions in the same shard (always true for
    /// two legs of one session), transcoding when both have codecs and
    /// they differ; see [`MediaRelay::bridge`](crate::MediaRelay::bridge).
    pub fn bridge(&self, a: LegKey, b: LegKey) -> Result<(), DriverError> {
        self.run(a, self.bridge_op(a, b)?)
    }

    fn bridge_op(&self, a: LegKey, b: LegKey) -> Result<Op, DriverError> {
        if self.shard(a.session).0 != self.shard(b.session).0 {
            return Err(DriverError::DifferentShards(a, b));
        }
        Ok(Box::new(move |shard, now| {
            Ok(shard.relay.bridge(now, a, b)?)
        }))
    }

    /// Unbridges a leg (and its peer).
    pub fn unbridge(&self, key: LegKey) -> Result<(), DriverError> {
        self.run(key, unbridge_op(key))
    }

    /// The leg's codec from its SDP, which lets switchboard play into it
    /// and listen on it, and on a bridged leg whose partner has a codec
    /// chooses forwarding, payload type rewrite or transcoding; see
    /// [`MediaRelay::set_codec`](crate::MediaRelay::set_codec).
    pub fn set_codec(&self, key: LegKey, codec: LegCodec) -> Result<(), DriverError> {
        self.run(key, set_codec_op(key, codec))
    }

    /// Takes the leg's codec away again, so that a bridge forwards it as
    /// it is; see [`MediaRelay::clear_codec`](crate::MediaRelay::clear_codec).
    pub fn clear_codec(&self, key: LegKey) -> Result<(), DriverError> {
        self.run(key, clear_codec_op(key))
    }

    /// Plays `source` toward the leg (replacing a play in progress), its
    /// frames paced by the shard every 20 ms; ends with
    /// [`MediaEvent::PlayFinished`] for `request`. See
    /// [`MediaRelay::play`](crate::MediaRelay::play).
    pub fn play(
        &self,
        key: LegKey,
        request: PlayRequestId,
        source: Box<dyn FrameSource>,
    ) -> Result<(), DriverError> {
        self.run(key, play_op(key, request, source))
    }

    /// Stops the leg's play, if any ([`MediaEvent::PlayFinished`] with
    /// [`PlayEnd::Stopped`](crate::PlayEnd::Stopped)); relaying toward
    /// the leg resumes if it is bridged.
    pub fn stop_playing(&self, key: LegKey) -> Result<(), DriverError> {
        self.run(key, stop_playing_op(key))
    }

    /// Runs `f` on the source the leg plays, on its shard (e.g. to queue
    /// an announcement on a [`HoldPlayer`](crate::HoldPlayer) through
    /// [`FrameSource::as_any_mut`]); `None` when nothing plays.
    pub fn update_source<R: Send + 'static>(
        &self,
        key: LegKey,
        f: impl FnOnce(&mut dyn FrameSource) -> R + Send + 'static,
    ) -> Result<Option<R>, DriverError> {
        let (_, shard) = self.shard(key.session);
        Self::call(shard, move |shard, _| {
            shard.relay.playing_source(key).map(f)
        })
    }

    /// Reports the RFC 4733 key presses of a bridged leg too; see
    /// [`MediaRelay::set_report_dtmf`](crate::MediaRelay::set_report_dtmf).
    pub fn set_report_dtmf(&self, key: LegKey, report: bool) -> Result<(), DriverError> {
        self.run(key, set_report_dtmf_op(key, report))
    }

    /// How the leg's peer takes DTMF, and the payload types to speak it
    /// in; see [`MediaRelay::set_dtmf`](crate::MediaRelay::set_dtmf).
    pub fn set_dtmf(&self, key: LegKey, dtmf: LegDtmf) -> Result<(), DriverError> {
        self.run(key, set_dtmf_op(key, dtmf))
    }

    /// Sends a key press to the leg's peer as RFC 4733 events or tones,
    /// as it takes them; see
    /// [`MediaRelay::send_dtmf`](crate::MediaRelay::send_dtmf).
    pub fn send_dtmf(
        &self,
        key: LegKey,
        digit: DtmfDigit,
        duration: Duration,
    ) -> Result<(), DriverError> {
        self.run(key, send_dtmf_op(key, digit, duration))
    }

    /// Puts the leg (which needs its codec) in its session's conference
    /// as `role`, unbridging it first; a member just takes `role`. See
    /// [`MediaRelay::join_conference`](crate::MediaRelay::join_conference).
    pub fn join_conference(&self, key: LegKey, role: ConferenceRole) -> Result<(), DriverError> {
        self.run(key, join_conference_op(key, role))
    }

    /// Takes the leg out of its conference (nothing if it is in none);
    /// it is left unbridged.
    pub fn leave_conference(&self, key: LegKey) -> Result<(), DriverError> {
        self.run(key, leave_conference_op(key))
    }

    /// Changes a conference member's role (listen, whisper, barge).
    pub fn set_conference_role(
        &self,
        key: LegKey,
        role: ConferenceRole,
    ) -> Result<(), DriverError> {
        self.run(key, set_conference_role_op(key, role))
    }

    /// Starts recording a call into a new stereo WAV file at `path`
    /// (8 kHz, 16-bit): what `caller`'s far end says on the left
    /// channel, what `agent`'s says on the right, from now until
    /// [`MediaDriver::stop_recording`] or until either leg is freed.
    /// Both legs need their codec ([`MediaDriver::set_codec`]; G.722
    /// and Opus are recorded at 8 kHz too) and live in one shard (always true for legs of one session); they
    /// need not be bridged. In a conference it goes on recording what
    /// each of the two says, not the other members nor the mix, unless
    /// they are added with [`MediaDriver::add_to_recording`]. `mode`:
    /// what a pause becomes in the file.
    ///
    /// Returns once the file exists, with the recording's id; it ends
    /// with [`MediaEvent::RecordingFinished`]. An existing file is never
    /// overwritten: it is an error, as is a directory that does not
    /// exist ([`DriverError::Recording`]).
    pub fn start_recording(
        &self,
        caller: LegKey,
        agent: LegKey,
        path: impl Into<PathBuf>,
        mode: PauseMode,
    ) -> Result<RecordingId, DriverError> {
        let start =
            self.recording_start(caller, Some(agent), path.into(), RecordingKind::Call(mode))?;
        self.start_and_wait(start)
    }

    /// Starts recording what `key`'s far end says (a caller's message)
    /// into a new mono WAV file at `path`, until the message ends by
    /// `limits` (maximum length, silence), [`MediaDriver::stop_recording`]
    /// or the leg is freed; see [`MediaDriver::start_recording`].
    pub fn start_voicemail(
        &self,
        key: LegKey,
        path: impl Into<PathBuf>,
        limits: VoicemailConfig,
    ) -> Result<RecordingId, DriverError> {
        let start =
            self.recording_start(key, None, path.into(), RecordingKind::Voicemail(limits))?;
        self.start_and_wait(start)
    }

    fn recording_start(
        &self,
        caller: LegKey,
        agent: Option<LegKey>,
        path: PathBuf,
        kind: RecordingKind,
    ) -> Result<RecordingStart, DriverError> {
        let (shard, _) = self.shard(caller.session);
        if let Some(agent) = agent {
            if self.shard(agent.session).0 != shard {
                return Err(DriverError::DifferentShards(caller, agent));
            }
        }
        // Ids name their shard: `id % shards`.
        let number = self.recordings.fetch_add(1, Ordering::Relaxed);
        let id = number
            .wrapping_mul(self.shards.len() as u64)
            .wrapping_add(shard as u64);
        Ok(RecordingStart {
            id: RecordingId(id),
            shard,
            caller,
            agent,
            path,
            kind,
        })
    }

    fn start_and_wait(&self, start: RecordingStart) -> Result<RecordingId, DriverError> {
        let (id, path) = (start.id, start.path.clone());
        let (reply, opened) = mpsc::sync_channel(1);
        self.run(
            start.caller,
            Box::new(move |shard, now| start.apply(shard, now, Some(reply))),
        )?;
        match opened.recv() {
            Ok(Ok(())) => Ok(id),
            Ok(Err(source)) => Err(DriverError::Recording { path, source }),
            Err(_) => Err(DriverError::RecorderStopped),
        }
    }

    /// The shard of a recording, from its id.
    fn recording_shard(&self, id: RecordingId) -> &ShardHandle {
        &self.shards[(id.0 % self.shards.len() as u64) as usize]
    }

    /// Pauses a recording (PCI DSS: while card details are given): the
    /// file holds silence from now until [`MediaDriver::resume_recording`]
    /// (or nothing, with [`PauseMode::Cut`]). Audio received up to
    /// [`RECORDING_DELAY`](crate::RECORDING_DELAY) before the pause is
    /// silenced too.
    pub fn pause_recording(&self, id: RecordingId) -> Result<(), DriverError> {
        Self::call(self.recording_shard(id), move |shard, now| {
            shard.relay.pause_recording(now, id)
        })??;
        Ok(())
    }

    /// Adds what `key`'s far end says to a running call recording from
    /// now on, mixed into `channel` with the legs already there (a
    /// consulted colleague or a third party on the agent's side). The
    /// leg needs its codec, no other recording, and the recording's
    /// shard (true for legs of one session). A leg freed leaves the
    /// recording; the recording ends when that leaves a side with
    /// nobody.
    pub fn add_to_recording(
        &self,
        id: RecordingId,
        key: LegKey,
        channel: RecordingChannel,
    ) -> Result<(), DriverError> {
        Self::call(self.recording_shard(id), move |shard, now| {
            shard.relay.add_to_recording(now, id, key, channel)
        })??;
        Ok(())
    }

    /// Stops recording what `key`'s far end says; the recording goes on
    /// with its other legs.
    pub fn remove_from_recording(&self, key: LegKey) -> Result<(), DriverError> {
        self.run(
            key,
            Box::new(move |shard, now| Ok(shard.relay.remove_from_recording(now, key)?)),
        )
    }

    /// Records again after [`MediaDriver::pause_recording`].
    pub fn resume_recording(&self, id: RecordingId) -> Result<(), DriverError> {
        Self::call(self.recording_shard(id), move |shard, now| {
            shard.relay.resume_recording(now, id)
        })??;
        Ok(())
    }

    /// Stops a recording now; the file is completed on the recorder
    /// thread, which then reports [`MediaEvent::RecordingFinished`] with
    /// [`RecordingEnd::Stopped`]. An id that has ended (a voicemail
    /// over, a leg freed) is [`RelayError::UnknownRecording`](crate::RelayError::UnknownRecording).
    pub fn stop_recording(&self, id: RecordingId) -> Result<(), DriverError> {
        Self::call(self.recording_shard(id), move |shard, now| {
            shard.relay.stop_recording(now, id)
        })??;
        Ok(())
    }

    /// The same commands without waiting for the shard to carry them out,
    /// for callers that must not block (an async task driving calls).
    /// Commands to one session run in the order they were given; a
    /// refusal comes back as [`MediaEvent::Refused`] on the event channel.
    pub fn detached(&self) -> Detached<'_> {
        Detached(self)
    }

    /// The counters of every shard, added up.
    pub fn counters(&self) -> Result<DriverCounters, DriverError> {
        let mut total = DriverCounters::default();
        for shard in &self.shards {
            total.add(&Self::call(shard, |shard, _| shard.counters())?);
        }
        Ok(total)
    }

    /// Stops the shards and closes the sockets; what [`Drop`] does, with
    /// the shard threads joined.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        for shard in &self.shards {
            let stop: Command = Box::new(|shard: &mut Shard, _| shard.stop());
            // A shard that already stopped has nothing left to close.
            if shard.commands.send(stop).is_ok() {
                let _ = shard.waker.wake();
            }
        }
        for shard in &mut self.shards {
            if let Some(thread) = shard.thread.take() {
                // A panicked shard has already released its sockets.
                let _ = thread.join();
            }
        }
        // The shards are gone with their ends of its channel: the
        // recorder thread completes the files and stops.
        if let Some(recorder) = self.recorder.take() {
            let _ = recorder.join();
        }
    }
}

/// A command for a shard's relay, run on its thread.
type Op = Box<dyn FnOnce(&mut Shard, Instant) -> Result<(), DriverError> + Send>;

/// A recording to start on its shard.
struct RecordingStart {
    id: RecordingId,
    shard: usize,
    caller: LegKey,
    agent: Option<LegKey>,
    path: PathBuf,
    kind: RecordingKind,
}

impl RecordingStart {
    /// Taps the legs, then asks the recorder thread for the file (it
    /// answers on `reply`, or reports a failure as an event).
    fn apply(
        self,
        shard: &mut Shard,
        now: Instant,
        reply: Option<recorder::OpenReply>,
    ) -> Result<(), DriverError> {
        match self.agent {
            Some(agent) => shard
                .relay
                .start_call_recording(now, self.id, self.caller, agent)?,
            None => shard.relay.start_voicemail(now, self.id, self.caller)?,
        }
        shard.recorder.send_control(RecorderMessage::Open {
            id: self.id,
            path: self.path,
            kind: self.kind,
            shard: self.shard,
            reply,
        });
        Ok(())
    }
}

fn release_port(free: &Mutex<VecDeque<u16>>, port: u16) {
    if let Ok(mut free) = free.lock() {
        free.push_back(port);
    }
}

fn update_remote_op(
    key: LegKey,
    remote: Option<SocketAddr>,
    remote_rtcp: Option<SocketAddr>,
) -> Op {
    Box::new(move |shard, now| Ok(shard.relay.update_remote(now, key, remote, remote_rtcp)?))
}

fn update_srtp_op(key: LegKey, srtp: Option<LegSrtp>) -> Op {
    Box::new(move |shard, _| Ok(shard.relay.update_srtp(key, srtp)?))
}

fn set_direction_op(key: LegKey, direction: Direction) -> Op {
    Box::new(move |shard, now| Ok(shard.relay.set_direction(now, key, direction)?))
}

fn unbridge_op(key: LegKey) -> Op {
    Box::new(move |shard, _| Ok(shard.relay.unbridge(key)?))
}

fn set_codec_op(key: LegKey, codec: LegCodec) -> Op {
    Box::new(move |shard, now| Ok(shard.relay.set_codec(now, key, codec)?))
}

fn clear_codec_op(key: LegKey) -> Op {
    Box::new(move |shard, now| Ok(shard.relay.clear_codec(now, key)?))
}

fn play_op(key: LegKey, request: PlayRequestId, source: Box<dyn FrameSource>) -> Op {
    Box::new(move |shard, now| Ok(shard.relay.play(now, key, request, source)?))
}

fn stop_playing_op(key: LegKey) -> Op {
    Box::new(move |shard, _| {
        shard.relay.stop_playing(key)?;
        Ok(())
    })
}

fn set_report_dtmf_op(key: LegKey, report: bool) -> Op {
    Box::new(move |shard, _| Ok(shard.relay.set_report_dtmf(key, report)?))
}

fn set_dtmf_op(key: LegKey, dtmf: LegDtmf) -> Op {
    Box::new(move |shard, now| Ok(shard.relay.set_dtmf(now, key, dtmf)?))
}

fn send_dtmf_op(key: LegKey, digit: DtmfDigit, duration: Duration) -> Op {
    Box::new(move |shard, now| Ok(shard.relay.send_dtmf(now, key, digit, duration)?))
}

fn join_conference_op(key: LegKey, role: ConferenceRole) -> Op {
    Box::new(move |shard, now| Ok(shard.relay.join_conference(now, key, role)?))
}

fn leave_conference_op(key: LegKey) -> Op {
    Box::new(move |shard, _| {
        shard.relay.leave_conference(key)?;
        Ok(())
    })
}

fn set_conference_role_op(key: LegKey, role: ConferenceRole) -> Op {
    Box::new(move |shard, _| Ok(shard.relay.set_conference_role(key, role)?))
}

/// [`MediaDriver`]'s commands, queued without waiting for their outcome
/// (see [`MediaDriver::detached`]). Errors returned here are the ones
/// found before queueing (no free port, a stopped shard); the shard's own
/// refusals arrive as [`MediaEvent::Refused`].
#[derive(Debug, Clone, Copy)]
pub struct Detached<'a>(&'a MediaDriver);

impl Detached<'_> {
    /// [`MediaDriver::allocate_leg`]: the sockets are bound before this
    /// returns, so the ports can go into SDP at once.
    pub fn allocate_leg(&self, key: LegKey, rtcp_mux: bool) -> Result<LegPorts, DriverError> {
        let (ports, op) = self.0.bind_leg(key, rtcp_mux)?;
        self.0.post(key, op)?;
        Ok(ports)
    }

    /// [`MediaDriver::free_leg`].
    pub fn free_leg(&self, key: LegKey) -> Result<(), DriverError> {
        self.0.post(key, self.0.free_op(key))
    }

    /// [`MediaDriver::update_remote`].
    pub fn update_remote(
        &self,
        key: LegKey,
        remote: Option<SocketAddr>,
        remote_rtcp: Option<SocketAddr>,
    ) -> Result<(), DriverError> {
        self.0.post(key, update_remote_op(key, remote, remote_rtcp))
    }

    /// [`MediaDriver::update_srtp`].
    pub fn update_srtp(&self, key: LegKey, srtp: Option<LegSrtp>) -> Result<(), DriverError> {
        self.0.post(key, update_srtp_op(key, srtp))
    }

    /// [`MediaDriver::set_direction`].
    pub fn set_direction(&self, key: LegKey, direction: Direction) -> Result<(), DriverError> {
        self.0.post(key, set_direction_op(key, direction))
    }

    /// [`MediaDriver::bridge`].
    pub fn bridge(&self, a: LegKey, b: LegKey) -> Result<(), DriverError> {
        self.0.post(a, self.0.bridge_op(a, b)?)
    }

    /// [`MediaDriver::unbridge`].
    pub fn unbridge(&self, key: LegKey) -> Result<(), DriverError> {
        self.0.post(key, unbridge_op(key))
    }

    /// [`MediaDriver::set_codec`].
    pub fn set_codec(&self, key: LegKey, codec: LegCodec) -> Result<(), DriverError> {
        self.0.post(key, set_codec_op(key, codec))
    }

    /// [`MediaDriver::clear_codec`].
    pub fn clear_codec(&self, key: LegKey) -> Result<(), DriverError> {
        self.0.post(key, clear_codec_op(key))
    }

    /// [`MediaRelay::update_codec`](crate::MediaRelay::update_codec): a
    /// re-INVITE's new codec for a leg given one.
    pub fn update_codec(&self, key: LegKey, codec: LegCodec) -> Result<(), DriverError> {
        self.0.post(
            key,
            Box::new(move |shard, now| Ok(shard.relay.update_codec(now, key, codec)?)),
        )
    }

    /// [`MediaDriver::play`].
    pub fn play(
        &self,
        key: LegKey,
        request: PlayRequestId,
        source: Box<dyn FrameSource>,
    ) -> Result<(), DriverError> {
        self.0.post(key, play_op(key, request, source))
    }

    /// [`MediaDriver::stop_playing`].
    pub fn stop_playing(&self, key: LegKey) -> Result<(), DriverError> {
        self.0.post(key, stop_playing_op(key))
    }

    /// [`MediaDriver::update_source`]; `f` does not run when nothing
    /// plays.
    pub fn update_source(
        &self,
        key: LegKey,
        f: impl FnOnce(&mut dyn FrameSource) + Send + 'static,
    ) -> Result<(), DriverError> {
        self.0.post(
            key,
            Box::new(move |shard, _| {
                if let Some(source) = shard.relay.playing_source(key) {
                    f(source);
                }
                Ok(())
            }),
        )
    }

    /// [`MediaDriver::set_report_dtmf`].
    pub fn set_report_dtmf(&self, key: LegKey, report: bool) -> Result<(), DriverError> {
        self.0.post(key, set_report_dtmf_op(key, report))
    }

    /// [`MediaDriver::set_dtmf`].
    pub fn set_dtmf(&self, key: LegKey, dtmf: LegDtmf) -> Result<(), DriverError> {
        self.0.post(key, set_dtmf_op(key, dtmf))
    }

    /// [`MediaDriver::send_dtmf`]; a refusal (no telephone-event on the
    /// leg...) comes back as [`MediaEvent::Refused`].
    pub fn send_dtmf(
        &self,
        key: LegKey,
        digit: DtmfDigit,
        duration: Duration,
    ) -> Result<(), DriverError> {
        self.0.post(key, send_dtmf_op(key, digit, duration))
    }

    /// [`MediaDriver::join_conference`].
    pub fn join_conference(&self, key: LegKey, role: ConferenceRole) -> Result<(), DriverError> {
        self.0.post(key, join_conference_op(key, role))
    }

    /// [`MediaDriver::leave_conference`].
    pub fn leave_conference(&self, key: LegKey) -> Result<(), DriverError> {
        self.0.post(key, leave_conference_op(key))
    }

    /// [`MediaDriver::set_conference_role`].
    pub fn set_conference_role(
        &self,
        key: LegKey,
        role: ConferenceRole,
    ) -> Result<(), DriverError> {
        self.0.post(key, set_conference_role_op(key, role))
    }

    /// [`MediaDriver::start_recording`], the file created on the
    /// recorder thread: any failure (a leg refused, a file that cannot
    /// be created) comes back as [`MediaEvent::RecordingFinished`] with
    /// [`RecordingEnd::Failed`].
    pub fn start_recording(
        &self,
        caller: LegKey,
        agent: LegKey,
        path: impl Into<PathBuf>,
        mode: PauseMode,
    ) -> Result<RecordingId, DriverError> {
        let start =
            self.0
                .recording_start(caller, Some(agent), path.into(), RecordingKind::Call(mode))?;
        self.post_start(start)
    }

    /// [`MediaDriver::start_voicemail`], failures reported as for
    /// [`Detached::start_recording`].
    pub fn start_voicemail(
        &self,
        key: LegKey,
        path: impl Into<PathBuf>,
        limits: VoicemailConfig,
    ) -> Result<RecordingId, DriverError> {
        let start =
            self.0
                .recording_start(key, None, path.into(), RecordingKind::Voicemail(limits))?;
        self.post_start(start)
    }

    fn post_start(&self, start: RecordingStart) -> Result<RecordingId, DriverError> {
        let (id, caller) = (start.id, start.caller);
        let (_, handle) = self.0.shard(caller.session);
        let command: Command = Box::new(move |shard: &mut Shard, now: Instant| {
            let path = start.path.clone();
            if let Err(error) = start.apply(shard, now, None) {
                shard.report(MediaEvent::RecordingFinished {
                    id,
                    path,
                    duration: Duration::ZERO,
                    paused: Duration::ZERO,
                    dropped_frames: 0,
                    has_speech: None,
                    end: RecordingEnd::Failed(error.to_string()),
                });
            }
        });
        MediaDriver::send(handle, command)?;
        Ok(id)
    }

    /// [`MediaDriver::pause_recording`]; ignored once the recording has
    /// ended.
    pub fn pause_recording(&self, id: RecordingId) -> Result<(), DriverError> {
        self.post_recording(id, move |shard, now| {
            let _ = shard.relay.pause_recording(now, id);
        })
    }

    /// [`MediaDriver::resume_recording`]; ignored once the recording
    /// has ended.
    pub fn resume_recording(&self, id: RecordingId) -> Result<(), DriverError> {
        self.post_recording(id, move |shard, now| {
            let _ = shard.relay.resume_recording(now, id);
        })
    }

    /// [`MediaDriver::stop_recording`]; ignored once the recording has
    /// ended (its [`MediaEvent::RecordingFinished`] is on its way).
    pub fn stop_recording(&self, id: RecordingId) -> Result<(), DriverError> {
        self.post_recording(id, move |shard, now| {
            let _ = shard.relay.stop_recording(now, id);
        })
    }

    /// [`MediaDriver::add_to_recording`]; a refusal comes back as
    /// [`MediaEvent::Refused`] (a recording that has ended:
    /// [`RelayError::UnknownRecording`](crate::RelayError::UnknownRecording)).
    pub fn add_to_recording(
        &self,
        id: RecordingId,
        key: LegKey,
        channel: RecordingChannel,
    ) -> Result<(), DriverError> {
        self.0.post(
            key,
            Box::new(move |shard, now| Ok(shard.relay.add_to_recording(now, id, key, channel)?)),
        )
    }

    /// [`MediaDriver::remove_from_recording`]; a refusal comes back as
    /// [`MediaEvent::Refused`].
    pub fn remove_from_recording(&self, key: LegKey) -> Result<(), DriverError> {
        self.0.post(
            key,
            Box::new(move |shard, now| Ok(shard.relay.remove_from_recording(now, key)?)),
        )
    }

    fn post_recording(
        &self,
        id: RecordingId,
        f: impl FnOnce(&mut Shard, Instant) + Send + 'static,
    ) -> Result<(), DriverError> {
        MediaDriver::send(self.0.recording_shard(id), Box::new(f))
    }
}

impl Drop for MediaDriver {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_spread_over_shards() {
        let mut count = [0usize; 4];
        for session in 0..4000u64 {
            count[shard_of(session * 16, 4)] += 1;
        }
        for n in count {
            assert!((800..1200).contains(&n), "{count:?}");
        }
        assert_eq!(shard_of(12345, 1), 0);
    }
}
