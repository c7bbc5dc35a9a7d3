//! The thin driver: one UDP socket on 127.0.0.1 and the wall clock around a
//! sans-IO [`TransactionLayer`]. It moves datagrams and timers, and knows
//! where each transaction's messages go; every SIP decision belongs to
//! `sip-core` or to the transaction user ([`TransactionUser`]).

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{Message, ParseError, Request, Uri};
use sip_core::{fill_via_sent_by, LayerEvent, TimerConfig, TransactionKey, TransactionLayer};

/// What sits on top of the transaction layer: the UAS or UAC of a test
/// with its dialogs.
pub(crate) trait TransactionUser {
    /// The endpoint it sends and receives through.
    fn endpoint(&mut self) -> &mut Endpoint;
    /// The earliest deadline of its dialogs and own schedule.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Runs its dialogs' timers and whatever it scheduled itself.
    fn handle_timeout(&mut self, now: Instant);
    /// Drains its dialogs: transmits until `None`, then events until `None`.
    fn drain_dialogs(&mut self, now: Instant);
    /// An event of the transaction layer.
    fn handle_event(&mut self, event: LayerEvent, now: Instant);
}

/// One turn of the run loop: sleep in `recv_from` until a datagram arrives
/// or the earliest timer (of the layer, of the TU, or `wake_by`) is due,
/// fire the timers at `Instant::now()`, then drain everything in the
/// documented order (dialog transmits and events, layer transmits, one
/// layer event, again until the layer has nothing more).
pub(crate) fn turn(tu: &mut impl TransactionUser, wake_by: Instant) {
    let wake = [tu.endpoint().layer.poll_timeout(), tu.poll_timeout()]
        .into_iter()
        .flatten()
        .fold(wake_by, Instant::min);
    tu.endpoint().receive_until(wake);
    let now = Instant::now();
    tu.endpoint().layer.handle_timeout(now);
    tu.handle_timeout(now);
    loop {
        tu.drain_dialogs(now);
        tu.endpoint().flush(now);
        match tu.endpoint().layer.poll_event() {
            Some(event) => tu.handle_event(event, now),
            None => break,
        }
    }
}

/// A SIP endpoint on a UDP socket of 127.0.0.1.
pub(crate) struct Endpoint {
    socket: UdpSocket,
    addr: SocketAddr,
    /// The transactions of this endpoint.
    pub(crate) layer: TransactionLayer,
    /// Where each transaction's messages go: the source of a received
    /// request (RFC 3261 §18.2.2 with rport), the destination chosen for a
    /// sent one.
    destinations: HashMap<TransactionKey, SocketAddr>,
    /// What went wrong at this level: unparsable or unmatchable datagrams,
    /// failed sends.
    pub(crate) errors: Vec<String>,
    buffer: Vec<u8>,
}

impl Endpoint {
    /// Binds a fresh port on 127.0.0.1.
    pub(crate) fn bind(timers: TimerConfig) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = socket.local_addr().expect("bound socket has an address");
        Self {
            socket,
            addr,
            layer: TransactionLayer::new(timers),
            destinations: HashMap::new(),
            errors: Vec::new(),
            buffer: vec![0; 65_536],
        }
    }

    /// The local address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Our Contact URI.
    pub(crate) fn contact(&self, user: &str) -> String {
        format!("<sip:{user}@{}>", self.addr)
    }

    /// Writes our transport and address into the Via of a request built
    /// with the dialog layer's placeholder.
    pub(crate) fn fill_via(&self, request: &mut Request) {
        fill_via_sent_by(request, "UDP", &self.addr.to_string()).expect("request has a branch");
    }

    /// Starts a client transaction for `request` (Via filled) towards `to`.
    pub(crate) fn send_request(
        &mut self,
        request: Request,
        to: SocketAddr,
        now: Instant,
    ) -> TransactionKey {
        let key = TransactionKey::client(&request).expect("request has a branch and a CSeq");
        self.destinations.insert(key.clone(), to);
        self.layer
            .send_request(request, false, now)
            .expect("the layer accepts a new client transaction")
    }

    /// Sends a message outside any transaction (ACK for a 2xx, 2xx
    /// retransmission): straight to the socket.
    pub(crate) fn send_raw(&mut self, message: impl Into<Message>, to: SocketAddr) {
        let bytes = message.into().to_bytes();
        if let Err(error) = self.socket.send_to(&bytes, to) {
            self.errors.push(format!("send to {to}: {error}"));
        }
    }

    /// Where the server transaction `key` answers: the request's source.
    pub(crate) fn source_of(&self, key: &TransactionKey) -> Option<SocketAddr> {
        self.destinations.get(key).copied()
    }

    /// Sends what the layer queued, each message to its transaction's
    /// destination; a failed send is the transaction's transport error.
    pub(crate) fn flush(&mut self, now: Instant) {
        while let Some(transmit) = self.layer.poll_transmit() {
            let Some(to) = self.destinations.get(&transmit.key).copied() else {
                self.errors
                    .push(format!("no destination for {:?}", transmit.key));
                continue;
            };
            if let Err(error) = self.socket.send_to(&transmit.message.to_bytes(), to) {
                self.errors.push(format!("send to {to}: {error}"));
                self.layer.handle_transport_error(&transmit.key, now);
            }
        }
    }

    /// Waits for one datagram until `deadline` and hands it to the layer
    /// at its arrival time.
    pub(crate) fn receive_until(&mut self, deadline: Instant) {
        if let Some((len, from)) = recv_until(&self.socket, &mut self.buffer, deadline) {
            let datagram = Bytes::copy_from_slice(&self.buffer[..len]);
            self.handle_datagram(datagram, from, Instant::now());
        }
    }

    fn handle_datagram(&mut self, datagram: Bytes, from: SocketAddr, now: Instant) {
        let handled = match Message::parse(datagram) {
            Ok(Message::Request(request)) => {
                if let Ok(key) = TransactionKey::server(&request) {
                    self.destinations.insert(key, from);
                }
                self.layer.handle_request(request, false, now)
            }
            Ok(Message::Response(response)) => self.layer.handle_response(response, now),
            Err(ParseError::Empty) => Ok(()),
            Err(error) => {
                self.errors
                    .push(format!("unparsable datagram from {from}: {error}"));
                Ok(())
            }
        };
        if let Err(error) = handled {
            self.errors
                .push(format!("unmatchable message from {from}: {error}"));
        }
    }
}

/// Waits on `socket` for one datagram until `deadline`, with the socket's
/// read timeout as the clock.
///
/// Linux counts that timeout (`SO_RCVTIMEO`) in jiffies, rounded up, and
/// its timer wheel makes waits of more than 64 jiffies coarser still (32 ms
/// steps at HZ=250): woken that late, a transaction re-arms its next
/// retransmission that much later, and the lateness adds up over a whole
/// Timer A schedule. So the socket wait is cut into short slices that end
/// a few milliseconds early, and the rest is slept with `thread::sleep`, a
/// high-resolution timer; a datagram arriving meanwhile waits in the
/// socket buffer at most that long.
pub(crate) fn recv_until(
    socket: &UdpSocket,
    buffer: &mut [u8],
    deadline: Instant,
) -> Option<(usize, SocketAddr)> {
    const SLICE: Duration = Duration::from_millis(100);
    const EARLY: Duration = Duration::from_millis(5);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining <= EARLY {
            thread::sleep(remaining);
            return None;
        }
        socket
            .set_read_timeout(Some((remaining - EARLY).min(SLICE)))
            .expect("a non-zero read timeout");
        match socket.recv_from(buffer) {
            Ok(received) => return Some(received),
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::ConnectionRefused
                ) => {}
            Err(error) => panic!("recv_from: {error}"),
        }
    }
}

/// Where a request to `uri` goes: its IP literal and port (5060 without).
/// The peers of these tests always put an IP in Contact and Request-URI.
pub(crate) fn destination(uri: &Uri) -> SocketAddr {
    let ip: IpAddr = uri
        .host()
        .ip()
        .unwrap_or_else(|| panic!("{uri} has no IP literal host"));
    SocketAddr::new(ip, uri.port().unwrap_or(5060))
}
