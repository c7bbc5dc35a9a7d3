//! The transaction layer of RFC 3261 §17: a table of transactions keyed by
//! [`TransactionKey`] that matches incoming messages (§17.1.3, §17.2.3),
//! creates server transactions for new requests, multiplexes the timers of
//! all transactions and forgets terminated ones. It also holds a CANCEL
//! asked for before any provisional response until one arrives (§9.1), and
//! bounds its memory: beyond a configured number of transactions new
//! requests are reported as overload for a stateless 503 (§21.5.4).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use sip::{Method, Request, Response};

use super::client_invite::{ClientInviteState, ClientInviteTransaction};
use super::client_non_invite::ClientNonInviteTransaction;
use super::config::TransactionLayerConfig;
use super::error::TransactionError;
use super::event::{TransactionEvent, Transmit};
use super::key::{Role, TransactionKey};
use super::server_invite::ServerInviteTransaction;
use super::server_non_invite::ServerNonInviteTransaction;
use super::stats::TransactionStats;
use crate::TimerConfig;

/// Stale timer heap items tolerated beyond two per transaction before the
/// heap is rebuilt (see [`TransactionLayer::push_timer`]).
const TIMER_HEAP_SLACK: usize = 64;

/// What the transaction layer tells the transaction user.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LayerEvent {
    /// A request that matched no transaction: a server transaction was
    /// created for it under `key`; answer with
    /// [`TransactionLayer::send_response`]. For a CANCEL,
    /// [`TransactionLayer::cancelled_invite`] finds the INVITE it cancels.
    Request {
        /// The key of the new server transaction.
        key: TransactionKey,
        /// The request.
        request: Request,
    },
    /// A request that matched no transaction while the layer already holds
    /// [`TransactionLayerConfig::max_server_transactions`]: no transaction
    /// was created. Answer it statelessly with 503 (Service Unavailable)
    /// and a Retry-After (§21.5.4), or drop it; its retransmissions are
    /// reported again.
    Overloaded {
        /// The request.
        request: Request,
    },
    /// An ACK that is not for a transaction: the ACK of a 2xx (its own
    /// branch, or absorbed by an INVITE in the Accepted state, RFC 6026
    /// §8.7), which belongs to the dialog; or the ACK of a final response
    /// sent statelessly (a 503 for overload), to drop.
    Ack(Request),
    /// A response that matched no client transaction (§17.1.3): typically a
    /// 2xx retransmitted after Timer M ended the INVITE transaction; the
    /// dialog of a UA sends its ACK again (§13.2.2.4).
    StrayResponse(Response),
    /// An event of the transaction `key`.
    Transaction {
        /// The transaction.
        key: TransactionKey,
        /// What happened.
        event: TransactionEvent,
    },
}

/// The four machines of RFC 3261 §17, named as the RFC names them. Boxed:
/// each holds whole messages, and the table moves entries around.
#[derive(Debug)]
#[allow(clippy::enum_variant_names)]
enum Transaction {
    ClientInvite(Box<ClientInviteTransaction>),
    ClientNonInvite(Box<ClientNonInviteTransaction>),
    ServerInvite(Box<ServerInviteTransaction>),
    ServerNonInvite(Box<ServerNonInviteTransaction>),
}

/// Calls the same method on whichever transaction `$txn` holds.
macro_rules! dispatch {
    ($txn:expr, $t:ident => $call:expr) => {
        match $txn {
            Transaction::ClientInvite($t) => $call,
            Transaction::ClientNonInvite($t) => $call,
            Transaction::ServerInvite($t) => $call,
            Transaction::ServerNonInvite($t) => $call,
        }
    };
}

#[derive(Debug)]
struct Entry {
    txn: Transaction,
    /// The instant pushed on the timer heap for this entry; other heap
    /// items for it are stale.
    scheduled: Option<Instant>,
    /// For a client INVITE in Calling: the TU asked for a CANCEL, sent once
    /// a provisional response arrives (§9.1).
    cancel_held: bool,
}

/// All transactions of one SIP endpoint (sans-IO).
///
/// Feed it with [`send_request`](Self::send_request),
/// [`send_cancel`](Self::send_cancel),
/// [`send_response`](Self::send_response), [`handle_request`](Self::handle_request),
/// [`handle_response`](Self::handle_response),
/// [`handle_transport_error`](Self::handle_transport_error) and
/// [`handle_timeout`](Self::handle_timeout). After each call, drain in this
/// order:
/// 1. [`poll_transmit`](Self::poll_transmit) until `None`, sending each
///    message to the destination of its transaction;
/// 2. [`poll_event`](Self::poll_event) until `None`, giving each to the TU
///    (which may call `send_*` again: drain again afterwards);
/// 3. [`poll_timeout`](Self::poll_timeout): the earliest deadline of all
///    transactions, when to call `handle_timeout`.
///
/// Terminated transactions are removed after their
/// [`TransactionEvent::Terminated`] is queued.
///
/// # Memory
///
/// Client and server transactions are capped separately
/// ([`TransactionLayerConfig`]); a new request beyond the cap gets no
/// transaction but a [`LayerEvent::Overloaded`], a request of the TU beyond
/// it fails with [`TransactionError::Overloaded`]. Each input queues a
/// bounded number of outputs, so a driver that drains after every call
/// keeps the queues short. [`stats`](Self::stats) counts what happened, for
/// metrics.
///
/// # What the driver sends without a transaction
///
/// Some messages outlive their transaction or never had one; the driver
/// sends them straight to the transport (as RFC 3261 §18 describes) and
/// receives their answers as events without a transaction:
/// - the ACK of a 2xx, built by the dialog (§13.2.2.4), and its
///   retransmissions: every 2xx retransmission after Timer M ended the
///   INVITE transaction arrives as [`LayerEvent::StrayResponse`], and the
///   dialog answers it with the same ACK;
/// - the 2xx retransmissions of a UAS after Timer L (§13.3.1.4, the dialog
///   retransmits until the ACK or 64*T1): their ACKs arrive as
///   [`LayerEvent::Ack`] whether the transaction still exists or not;
/// - the 503 for a [`LayerEvent::Overloaded`] request, sent to the address
///   the request came from (§18.2.2); for an INVITE its ACK arrives as a
///   [`LayerEvent::Ack`] matching no dialog, to drop;
/// - an ACK received for no transaction and no dialog is dropped, never
///   answered (§17.2.3).
///
/// A driver's loop (the socket and the clock belong to the driver):
///
/// ```no_run
/// use std::time::Instant;
///
/// use sip::Message;
/// use sip_core::{LayerEvent, TransactionKey, TransactionLayer, TransactionLayerConfig};
///
/// # fn receive() -> Option<(Message, bool)> { None }
/// # fn send(_key: &TransactionKey, _bytes: bytes::Bytes) {}
/// # fn send_to_source_of(_request: &sip::Request, _status: u16) {}
/// # fn sleep_until(_at: Option<Instant>) {}
/// let mut layer = TransactionLayer::with_config(TransactionLayerConfig::default());
/// loop {
///     let now = Instant::now();
///     if let Some((message, reliable)) = receive() {
///         let handled = match message {
///             Message::Request(request) => layer.handle_request(request, reliable, now),
///             Message::Response(response) => layer.handle_response(response, now),
///         };
///         if handled.is_err() {
///             continue; // unmatchable: drop it (or answer 400 statelessly)
///         }
///     }
///     layer.handle_timeout(now);
///     while let Some(transmit) = layer.poll_transmit() {
///         send(&transmit.key, transmit.message.to_bytes());
///     }
///     while let Some(event) = layer.poll_event() {
///         match event {
///             LayerEvent::Request { key, request } => { /* the TU answers: layer.send_response(&key, ..) */ }
///             LayerEvent::Overloaded { request } => send_to_source_of(&request, 503),
///             LayerEvent::Ack(ack) => { /* to the dialog */ }
///             LayerEvent::StrayResponse(response) => { /* to the dialog, or drop */ }
///             LayerEvent::Transaction { key, event } => { /* responses, timeouts, ... */ }
///             _ => {}
///         }
///     }
///     sleep_until(layer.poll_timeout());
/// }
/// ```
#[derive(Debug)]
pub struct TransactionLayer {
    config: TransactionLayerConfig,
    next_id: u64,
    ids: HashMap<TransactionKey, u64>,
    entries: HashMap<u64, Entry>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<LayerEvent>,
    /// Live client transactions plus held CANCELs (they count against
    /// `max_client_transactions`, so sending them later cannot fail).
    clients: usize,
    /// Live server transactions.
    servers: usize,
    stats: TransactionStats,
}

impl TransactionLayer {
    /// An empty layer whose transactions use `timers`, with the default
    /// limits.
    pub fn new(timers: TimerConfig) -> Self {
        Self::with_config(TransactionLayerConfig {
            timers,
            ..TransactionLayerConfig::default()
        })
    }

    /// An empty layer with the timers and limits of `config`.
    pub fn with_config(config: TransactionLayerConfig) -> Self {
        Self {
            config,
            next_id: 0,
            ids: HashMap::new(),
            entries: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            clients: 0,
            servers: 0,
            stats: TransactionStats::default(),
        }
    }

    /// The configuration the layer was created with.
    pub fn config(&self) -> &TransactionLayerConfig {
        &self.config
    }

    /// What the layer did so far.
    pub fn stats(&self) -> TransactionStats {
        self.stats
    }

    /// Starts a client transaction for `request` (INVITE or non-INVITE, not
    /// ACK) over a `reliable` or unreliable transport; returns its key.
    /// Fails with [`TransactionError::Overloaded`] when
    /// [`TransactionLayerConfig::max_client_transactions`] are running.
    pub fn send_request(
        &mut self,
        request: Request,
        reliable: bool,
        now: Instant,
    ) -> Result<TransactionKey, TransactionError> {
        let key = TransactionKey::client(&request)?;
        if self.ids.contains_key(&key) {
            return Err(TransactionError::DuplicateTransaction);
        }
        self.check_client_capacity()?;
        let timers = self.config.timers;
        let txn = match request.method {
            Method::Invite => Transaction::ClientInvite(Box::new(ClientInviteTransaction::new(
                request, reliable, timers, now,
            )?)),
            _ => Transaction::ClientNonInvite(Box::new(ClientNonInviteTransaction::new(
                request, reliable, timers, now,
            )?)),
        };
        let id = self.insert(key.clone(), txn);
        self.settle(id, now);
        Ok(key)
    }

    /// Cancels the client INVITE `invite` (§9.1) and returns the key of the
    /// CANCEL's own client transaction (same transport as the INVITE).
    ///
    /// In Proceeding the CANCEL is sent at once and the INVITE waits 64*T1
    /// for its final response ([`Timer::Cancel`](crate::Timer::Cancel)). In
    /// Calling it is held, and sent as soon as a provisional response
    /// arrives; if a final response or Timer B ends the INVITE first, it is
    /// dropped and never sent (the TU learns that from the final response or
    /// the timeout). Refused once the INVITE has a final response, when it
    /// was already cancelled, or with [`TransactionError::Overloaded`].
    pub fn send_cancel(
        &mut self,
        invite: &TransactionKey,
        now: Instant,
    ) -> Result<TransactionKey, TransactionError> {
        let id = *self
            .ids
            .get(invite)
            .ok_or(TransactionError::NoSuchTransaction)?;
        let Some(Entry {
            txn: Transaction::ClientInvite(txn),
            cancel_held,
            ..
        }) = self.entries.get(&id)
        else {
            return Err(TransactionError::NoSuchTransaction);
        };
        if *cancel_held || txn.is_cancelled() {
            return Err(TransactionError::AlreadyCancelled);
        }
        let state = txn.state();
        if !matches!(
            state,
            ClientInviteState::Calling | ClientInviteState::Proceeding
        ) {
            return Err(TransactionError::CancelNotAllowed {
                state: state.name(),
            });
        }
        let key = invite.cancel();
        if self.ids.contains_key(&key) {
            return Err(TransactionError::DuplicateTransaction);
        }
        self.check_client_capacity()?;
        let Some(Entry {
            txn: Transaction::ClientInvite(txn),
            cancel_held,
            ..
        }) = self.entries.get_mut(&id)
        else {
            return Err(TransactionError::NoSuchTransaction);
        };
        if state == ClientInviteState::Calling {
            *cancel_held = true;
            self.clients += 1;
            return Ok(key);
        }
        let cancel = txn.cancel(now)?;
        let reliable = txn.reliable();
        self.settle(id, now);
        self.send_request(cancel, reliable, now)
    }

    /// The TU answers the request of the server transaction `key`.
    pub fn send_response(
        &mut self,
        key: &TransactionKey,
        response: Response,
        now: Instant,
    ) -> Result<(), TransactionError> {
        let id = *self
            .ids
            .get(key)
            .ok_or(TransactionError::NoSuchTransaction)?;
        let result = match self.entries.get_mut(&id).map(|entry| &mut entry.txn) {
            Some(Transaction::ServerInvite(txn)) => txn.send_response(response, now),
            Some(Transaction::ServerNonInvite(txn)) => txn.send_response(response, now),
            _ => Err(TransactionError::NoSuchTransaction),
        };
        self.settle(id, now);
        result
    }

    /// A request arrived over a `reliable` or unreliable transport: it goes
    /// to its server transaction, or starts one and is reported as
    /// [`LayerEvent::Request`], or when the layer is full is reported as
    /// [`LayerEvent::Overloaded`]. Fails when the request cannot be matched
    /// (no Via, CSeq, ...); answer it statelessly or drop it.
    pub fn handle_request(
        &mut self,
        request: Request,
        reliable: bool,
        now: Instant,
    ) -> Result<(), TransactionError> {
        let key = TransactionKey::server(&request)?;
        if request.method == Method::Ack {
            match self.find_ack_target(&key) {
                Some(id) => {
                    if let Some(Transaction::ServerInvite(txn)) =
                        self.entries.get_mut(&id).map(|entry| &mut entry.txn)
                    {
                        txn.handle_request(request, now);
                    }
                    self.settle(id, now);
                }
                None => self.events.push_back(LayerEvent::Ack(request)),
            }
            return Ok(());
        }
        if let Some(&id) = self.ids.get(&key) {
            match self.entries.get_mut(&id).map(|entry| &mut entry.txn) {
                Some(Transaction::ServerInvite(txn)) => txn.handle_request(request, now),
                Some(Transaction::ServerNonInvite(txn)) => txn.handle_request(request, now),
                _ => {}
            }
            self.settle(id, now);
            return Ok(());
        }
        if self.servers >= self.config.max_server_transactions {
            self.stats.rejected_overload += 1;
            self.events.push_back(LayerEvent::Overloaded { request });
            return Ok(());
        }
        let timers = self.config.timers;
        let txn =
            match request.method {
                Method::Invite => Transaction::ServerInvite(Box::new(
                    ServerInviteTransaction::new(request.clone(), reliable, timers, now)?,
                )),
                _ => Transaction::ServerNonInvite(Box::new(ServerNonInviteTransaction::new(
                    request.clone(),
                    reliable,
                    timers,
                    now,
                )?)),
            };
        let id = self.insert(key.clone(), txn);
        self.events.push_back(LayerEvent::Request { key, request });
        self.settle(id, now);
        Ok(())
    }

    /// A response arrived: it goes to its client transaction (§17.1.3) or is
    /// reported as [`LayerEvent::StrayResponse`]. Fails when its top Via has
    /// no branch or it has no CSeq.
    pub fn handle_response(
        &mut self,
        response: Response,
        now: Instant,
    ) -> Result<(), TransactionError> {
        let key = TransactionKey::for_response(&response)?;
        let Some(&id) = self.ids.get(&key) else {
            self.stats.stray_responses += 1;
            self.events.push_back(LayerEvent::StrayResponse(response));
            return Ok(());
        };
        match self.entries.get_mut(&id).map(|entry| &mut entry.txn) {
            Some(Transaction::ClientInvite(txn)) => txn.handle_response(response, now),
            Some(Transaction::ClientNonInvite(txn)) => txn.handle_response(response, now),
            _ => {}
        }
        self.settle(id, now);
        Ok(())
    }

    /// Sending a message of transaction `key` failed; the transaction
    /// reports [`TransactionEvent::TransportError`] and terminates. Unknown
    /// keys (already terminated) are ignored.
    pub fn handle_transport_error(&mut self, key: &TransactionKey, now: Instant) {
        if let Some(&id) = self.ids.get(key) {
            if let Some(entry) = self.entries.get_mut(&id) {
                dispatch!(&mut entry.txn, t => t.handle_transport_error(now));
            }
            self.settle(id, now);
        }
    }

    /// Fires the timers of every transaction due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = Vec::new();
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            due.push((at, id));
        }
        // Each transaction fires once per call, even if it re-arms a timer
        // at `now` (zero timers): the caller sees it in `poll_timeout`.
        for (at, id) in due {
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            if entry.scheduled != Some(at) {
                continue;
            }
            entry.scheduled = None;
            dispatch!(&mut entry.txn, t => t.handle_timeout(now));
            self.settle(id, now);
        }
    }

    /// The earliest instant at which a transaction needs
    /// [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if self
                .entries
                .get(&id)
                .is_some_and(|entry| entry.scheduled == Some(at))
            {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<LayerEvent> {
        self.events.pop_front()
    }

    /// For the key of a received CANCEL, the key of the server INVITE
    /// transaction it cancels, if that transaction still exists (§9.2).
    pub fn cancelled_invite(&self, cancel: &TransactionKey) -> Option<TransactionKey> {
        let invite = cancel.cancelled_invite()?;
        matches!(self.get(&invite), Some(Transaction::ServerInvite(_))).then_some(invite)
    }

    /// The client INVITE transaction `key`.
    pub fn client_invite(&self, key: &TransactionKey) -> Option<&ClientInviteTransaction> {
        match self.get(key)? {
            Transaction::ClientInvite(txn) => Some(txn.as_ref()),
            _ => None,
        }
    }

    /// The client non-INVITE transaction `key`.
    pub fn client_non_invite(&self, key: &TransactionKey) -> Option<&ClientNonInviteTransaction> {
        match self.get(key)? {
            Transaction::ClientNonInvite(txn) => Some(txn.as_ref()),
            _ => None,
        }
    }

    /// The server INVITE transaction `key`.
    pub fn server_invite(&self, key: &TransactionKey) -> Option<&ServerInviteTransaction> {
        match self.get(key)? {
            Transaction::ServerInvite(txn) => Some(txn.as_ref()),
            _ => None,
        }
    }

    /// The server non-INVITE transaction `key`.
    pub fn server_non_invite(&self, key: &TransactionKey) -> Option<&ServerNonInviteTransaction> {
        match self.get(key)? {
            Transaction::ServerNonInvite(txn) => Some(txn.as_ref()),
            _ => None,
        }
    }

    /// How many transactions are alive.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no transaction is alive.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn get(&self, key: &TransactionKey) -> Option<&Transaction> {
        let id = self.ids.get(key)?;
        self.entries.get(id).map(|entry| &entry.txn)
    }

    /// The server INVITE transaction an ACK belongs to (§17.2.3): by key, or
    /// for an RFC 2543 ACK by the To tag of the response sent.
    fn find_ack_target(&self, key: &TransactionKey) -> Option<u64> {
        let is_invite = |id: &u64| {
            matches!(
                self.entries.get(id).map(|entry| &entry.txn),
                Some(Transaction::ServerInvite(_))
            )
        };
        if let Some(id) = self.ids.get(key).filter(|id| is_invite(id)) {
            return Some(*id);
        }
        let Some(Some(ack_tag)) = key.rfc2543_to_tag() else {
            return None;
        };
        let id = *self.ids.get(&key.without_to_tag())?;
        match self.entries.get(&id).map(|entry| &entry.txn) {
            Some(Transaction::ServerInvite(txn)) if txn.response_to_tag() == Some(ack_tag) => {
                Some(id)
            }
            _ => None,
        }
    }

    /// Refuses one more client transaction when the limit is reached.
    fn check_client_capacity(&mut self) -> Result<(), TransactionError> {
        let limit = self.config.max_client_transactions;
        if self.clients >= limit {
            self.stats.refused_overload += 1;
            return Err(TransactionError::Overloaded { limit });
        }
        Ok(())
    }

    fn insert(&mut self, key: TransactionKey, txn: Transaction) -> u64 {
        match key.role() {
            Role::Client => {
                self.clients += 1;
                self.stats.client_created += 1;
            }
            Role::Server => {
                self.servers += 1;
                self.stats.server_created += 1;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.ids.insert(key, id);
        self.entries.insert(
            id,
            Entry {
                txn,
                scheduled: None,
                cancel_held: false,
            },
        );
        id
    }

    /// Moves the outputs of transaction `id` to the layer's queues, sends
    /// or drops a held CANCEL, schedules its next timer and removes it once
    /// terminated.
    fn settle(&mut self, id: u64, now: Instant) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let key = dispatch!(&entry.txn, t => t.key().clone());
        while let Some(transmit) = dispatch!(&mut entry.txn, t => t.poll_transmit()) {
            self.transmits.push_back(transmit);
        }
        let mut terminated = false;
        while let Some(event) = dispatch!(&mut entry.txn, t => t.poll_event()) {
            match event {
                TransactionEvent::Terminated => terminated = true,
                TransactionEvent::RetransmissionAbsorbed => {
                    self.stats.retransmissions_absorbed += 1;
                }
                TransactionEvent::Timeout { .. } => self.stats.timeouts += 1,
                TransactionEvent::TransportError => self.stats.transport_errors += 1,
                _ => {}
            }
            self.events.push_back(match event {
                TransactionEvent::Ack(ack) => LayerEvent::Ack(ack),
                event => LayerEvent::Transaction {
                    key: key.clone(),
                    event,
                },
            });
        }
        if terminated {
            let cancel_held = entry.cancel_held;
            self.entries.remove(&id);
            self.ids.remove(&key);
            match key.role() {
                Role::Client => self.clients -= 1,
                Role::Server => self.servers -= 1,
            }
            if cancel_held {
                self.clients -= 1;
            }
            return;
        }
        let mut release = None;
        if let Transaction::ClientInvite(txn) = &mut entry.txn {
            if entry.cancel_held && txn.state() != ClientInviteState::Calling {
                entry.cancel_held = false;
                self.clients -= 1;
                // Only a provisional response leads to Proceeding: the
                // CANCEL may go now (§9.1). After a final it is dropped.
                if txn.state() == ClientInviteState::Proceeding {
                    release = txn.cancel(now).ok().map(|cancel| (cancel, txn.reliable()));
                }
            }
        }
        let next = dispatch!(&entry.txn, t => t.poll_timeout());
        if next != entry.scheduled {
            entry.scheduled = next;
            if let Some(at) = next {
                self.push_timer(at, id);
            }
        }
        if let Some((cancel, reliable)) = release {
            // Its slot was reserved when the CANCEL was held; it can only
            // fail if the TU already sent this CANCEL itself.
            let _ = self.send_request(cancel, reliable, now);
        }
    }

    /// Schedules transaction `id` at `at`. Superseded items stay in the heap
    /// until their instant; once they outnumber the live transactions the
    /// heap is rebuilt, so a flood of short transactions (Timer H left
    /// behind by an ACK over TCP) cannot grow it past the transaction limit.
    fn push_timer(&mut self, at: Instant, id: u64) {
        self.timers.push(Reverse((at, id)));
        if self.timers.len() > 2 * self.entries.len() + TIMER_HEAP_SLACK {
            self.timers = self
                .entries
                .iter()
                .filter_map(|(id, entry)| entry.scheduled.map(|at| Reverse((at, *id))))
                .collect();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sip::Message;

    use super::*;
    use crate::transaction::testing::{invite, ms, request, response};
    use crate::Timer;

    fn limited(max_client_transactions: usize, max_server_transactions: usize) -> TransactionLayer {
        TransactionLayer::with_config(TransactionLayerConfig {
            max_client_transactions,
            max_server_transactions,
            ..TransactionLayerConfig::default()
        })
    }

    /// The methods (requests) or statuses (responses) sent, with the key.
    fn drain_sent(layer: &mut TransactionLayer) -> Vec<(String, TransactionKey)> {
        std::iter::from_fn(|| layer.poll_transmit())
            .map(|t| match t.message {
                Message::Request(r) => (r.method.to_string(), t.key),
                Message::Response(r) => (r.status.0.to_string(), t.key),
            })
            .collect()
    }

    /// Fires every timer up to `until`; returns (ms since t0, key, timer) of
    /// each timeout.
    fn timeouts_until(
        layer: &mut TransactionLayer,
        t0: Instant,
        until: Instant,
    ) -> Vec<(u128, TransactionKey, Timer)> {
        let mut fired = Vec::new();
        while let Some(at) = layer.poll_timeout().filter(|at| *at <= until) {
            layer.handle_timeout(at);
            drain_sent(layer);
            for event in drain_events(layer) {
                if let LayerEvent::Transaction {
                    key,
                    event: TransactionEvent::Timeout { timer },
                } = event
                {
                    fired.push(((at - t0).as_millis(), key, timer));
                }
            }
        }
        fired
    }

    fn drain_events(layer: &mut TransactionLayer) -> Vec<LayerEvent> {
        std::iter::from_fn(|| layer.poll_event()).collect()
    }

    fn drain_statuses(layer: &mut TransactionLayer) -> Vec<u16> {
        std::iter::from_fn(|| layer.poll_transmit())
            .map(|t| match t.message {
                Message::Response(r) => r.status.0,
                Message::Request(_) => 0,
            })
            .collect()
    }

    #[test]
    fn new_request_gets_a_server_transaction_and_its_retransmission_is_absorbed() {
        let t0 = Instant::now();
        let mut layer = TransactionLayer::new(TimerConfig::default());
        let options = request("OPTIONS", "z9hG4bKo1", "");
        layer.handle_request(options.clone(), false, t0).unwrap();
        let key = match &drain_events(&mut layer)[..] {
            [LayerEvent::Request { key, request }] if request.method == Method::Options => {
                key.clone()
            }
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(layer.len(), 1);
        layer
            .handle_request(options.clone(), false, t0 + ms(500))
            .unwrap();
        assert!(matches!(
            &drain_events(&mut layer)[..],
            [LayerEvent::Transaction { key: k, event: TransactionEvent::RetransmissionAbsorbed }] if *k == key
        ));
        layer
            .send_response(&key, response(&options, 200, Some("x")), t0 + ms(600))
            .unwrap();
        let sent = layer.poll_transmit().unwrap();
        assert_eq!(sent.key, key);
        assert_eq!(layer.poll_timeout(), Some(t0 + ms(32_600)), "Timer J");
        layer
            .handle_request(options, false, t0 + ms(1_000))
            .unwrap();
        assert_eq!(drain_statuses(&mut layer), [200], "final replayed");
        layer.handle_timeout(t0 + ms(32_600));
        assert!(matches!(
            drain_events(&mut layer).last(),
            Some(LayerEvent::Transaction {
                event: TransactionEvent::Terminated,
                ..
            })
        ));
        assert!(layer.is_empty());
        assert_eq!(layer.poll_timeout(), None);
        assert!(matches!(
            layer.send_response(
                &key,
                response(&request("OPTIONS", "z9hG4bKo1", ""), 200, None),
                t0
            ),
            Err(TransactionError::NoSuchTransaction)
        ));
    }

    #[test]
    fn ack_of_a_2xx_goes_to_the_tu() {
        let t0 = Instant::now();
        let mut layer = TransactionLayer::new(TimerConfig::default());
        let invite = invite("z9hG4bKi1");
        layer.handle_request(invite.clone(), false, t0).unwrap();
        let key = TransactionKey::server(&invite).unwrap();
        layer
            .send_response(&key, response(&invite, 200, Some("t")), t0 + ms(10))
            .unwrap();
        drain_events(&mut layer);
        // The ACK of a 2xx has its own branch (§13.2.2.4).
        layer
            .handle_request(request("ACK", "z9hG4bKack", ";tag=t"), false, t0 + ms(50))
            .unwrap();
        assert!(matches!(
            &drain_events(&mut layer)[..],
            [LayerEvent::Ack(_)]
        ));
        // One reusing the INVITE's branch is passed up by the Accepted INVITE.
        layer
            .handle_request(request("ACK", "z9hG4bKi1", ";tag=t"), false, t0 + ms(60))
            .unwrap();
        assert!(matches!(
            &drain_events(&mut layer)[..],
            [LayerEvent::Ack(_)]
        ));
        assert_eq!(
            layer.server_invite(&key).unwrap().state(),
            crate::ServerInviteState::Accepted
        );
    }

    #[test]
    fn rfc2543_ack_is_matched_by_the_to_tag_of_the_response_sent() {
        let t0 = Instant::now();
        let mut layer = TransactionLayer::new(TimerConfig::default());
        let invite = invite("old-1");
        layer.handle_request(invite.clone(), false, t0).unwrap();
        let key = TransactionKey::server(&invite).unwrap();
        layer
            .send_response(&key, response(&invite, 486, Some("resp")), t0)
            .unwrap();
        drain_events(&mut layer);
        // An ACK with another To tag is not for this transaction.
        layer
            .handle_request(request("ACK", "old-1", ";tag=other"), false, t0 + ms(10))
            .unwrap();
        assert!(matches!(
            &drain_events(&mut layer)[..],
            [LayerEvent::Ack(_)]
        ));
        assert_eq!(
            layer.server_invite(&key).unwrap().state(),
            crate::ServerInviteState::Completed
        );
        layer
            .handle_request(request("ACK", "old-1", ";tag=resp"), false, t0 + ms(20))
            .unwrap();
        assert!(
            drain_events(&mut layer).is_empty(),
            "absorbed by the transaction"
        );
        assert_eq!(
            layer.server_invite(&key).unwrap().state(),
            crate::ServerInviteState::Confirmed
        );
    }

    #[test]
    fn cancel_is_its_own_transaction_and_finds_its_invite() {
        let t0 = Instant::now();
        let mut layer = TransactionLayer::new(TimerConfig::default());
        for branch in ["z9hG4bKc1", "old-style"] {
            layer.handle_request(invite(branch), false, t0).unwrap();
            layer
                .handle_request(request("CANCEL", branch, ""), false, t0 + ms(10))
                .unwrap();
            let events = drain_events(&mut layer);
            let [LayerEvent::Request {
                key: invite_key, ..
            }, LayerEvent::Request {
                key: cancel_key,
                request,
            }] = &events[..]
            else {
                panic!("expected two new requests, got {events:?}");
            };
            assert_eq!(request.method, Method::Cancel);
            assert_ne!(invite_key, cancel_key);
            assert_eq!(layer.cancelled_invite(cancel_key), Some(invite_key.clone()));
        }
        let orphan = TransactionKey::server(&request("CANCEL", "z9hG4bKnone", "")).unwrap();
        assert_eq!(layer.cancelled_invite(&orphan), None);
    }

    #[test]
    fn responses_are_routed_to_client_transactions_or_reported_stray() {
        let t0 = Instant::now();
        let mut layer = TransactionLayer::new(TimerConfig::default());
        let invite = invite("z9hG4bKc2");
        let key = layer.send_request(invite.clone(), false, t0).unwrap();
        assert!(matches!(
            layer.send_request(invite.clone(), false, t0),
            Err(TransactionError::DuplicateTransaction)
        ));
        assert!(matches!(
            layer.send_cancel(&key.cancel(), t0),
            Err(TransactionError::NoSuchTransaction)
        ));
        layer
            .handle_response(response(&invite, 180, Some("t")), t0 + ms(100))
            .unwrap();
        let cancel_key = layer.send_cancel(&key, t0 + ms(200)).unwrap();
        assert_eq!(cancel_key.cancelled_invite(), Some(key.clone()));
        let transmits: Vec<Transmit> = std::iter::from_fn(|| layer.poll_transmit()).collect();
        assert!(matches!(
            &transmits[..],
            [Transmit { message: Message::Request(i), .. }, Transmit { message: Message::Request(c), key: k }]
                if i.method == Method::Invite && c.method == Method::Cancel && *k == cancel_key
        ));
        let stray = response(&request("INVITE", "z9hG4bKunknown", ""), 200, Some("t"));
        layer.handle_response(stray, t0 + ms(300)).unwrap();
        let events = drain_events(&mut layer);
        assert!(matches!(
            &events[..],
            [
                LayerEvent::Transaction { event: TransactionEvent::Response(r), .. },
                LayerEvent::StrayResponse(_)
            ] if r.status.0 == 180
        ));
        assert_eq!(layer.stats().stray_responses, 1);
        let mut no_via = response(&invite, 200, None);
        no_via.headers.remove(&sip::HeaderName::Via);
        assert!(layer.handle_response(no_via, t0).is_err());
    }

    #[test]
    fn timers_of_all_transactions_are_multiplexed() {
        let t0 = Instant::now();
        let mut layer = TransactionLayer::new(TimerConfig::default());
        let a = layer
            .send_request(request("OPTIONS", "z9hG4bKa", ""), false, t0)
            .unwrap();
        let b = layer
            .send_request(request("OPTIONS", "z9hG4bKb", ""), true, t0 + ms(100))
            .unwrap();
        let c = layer
            .send_request(request("OPTIONS", "z9hG4bKc", ""), false, t0 + ms(200))
            .unwrap();
        assert_eq!(std::iter::from_fn(|| layer.poll_transmit()).count(), 3);
        let mut fired = Vec::new();
        let mut ended = Vec::new();
        while let Some(at) = layer.poll_timeout() {
            layer.handle_timeout(at);
            while let Some(t) = layer.poll_transmit() {
                fired.push(((at - t0).as_millis(), t.key));
            }
            while let Some(event) = layer.poll_event() {
                if let LayerEvent::Transaction {
                    key,
                    event: TransactionEvent::Terminated,
                } = event
                {
                    ended.push(((at - t0).as_millis(), key));
                }
            }
        }
        assert_eq!(
            fired[..4],
            [
                (500, a.clone()),
                (700, c.clone()),
                (1_500, a.clone()),
                (1_700, c.clone())
            ]
        );
        assert_eq!(ended, [(32_000, a), (32_100, b), (32_200, c)]);
        assert!(layer.is_empty());
    }

    #[test]
    fn transport_error_fails_the_transaction() {
        let t0 = Instant::now();
        let mut layer = TransactionLayer::new(TimerConfig::default());
        let key = layer.send_request(invite("z9hG4bKte"), true, t0).unwrap();
        layer.handle_transport_error(&key, t0 + ms(5));
        let events = drain_events(&mut layer);
        assert!(matches!(
            &events[..],
            [
                LayerEvent::Transaction {
                    event: TransactionEvent::TransportError,
                    ..
                },
                LayerEvent::Transaction {
                    event: TransactionEvent::Terminated,
                    ..
                }
            ]
        ));
        assert!(layer.is_empty());
        layer.handle_transport_error(&key, t0 + ms(6));
        assert!(layer.poll_event().is_none());
    }

    #[test]
    fn default_limits_are_100_000_each() {
        let config = TransactionLayerConfig::default();
        assert_eq!(config.max_client_transactions, 100_000);
        assert_eq!(config.max_server_transactions, 100_000);
        assert_eq!(config.timers, TimerConfig::default());
        let layer = TransactionLayer::new(TimerConfig::default());
        assert_eq!(*layer.config(), config);
    }

    #[test]
    fn new_requests_beyond_the_server_limit_are_reported_overloaded() {
        let t0 = Instant::now();
        let mut layer = limited(10, 2);
        let options = request("OPTIONS", "z9hG4bKa", "");
        layer.handle_request(options.clone(), false, t0).unwrap();
        layer.handle_request(invite("z9hG4bKb"), false, t0).unwrap();
        let key = TransactionKey::server(&options).unwrap();
        assert_eq!(drain_events(&mut layer).len(), 2);
        let third = request("OPTIONS", "z9hG4bKc", "");
        layer
            .handle_request(third.clone(), false, t0 + ms(1))
            .unwrap();
        assert!(matches!(
            &drain_events(&mut layer)[..],
            [LayerEvent::Overloaded { request }] if request.headers.top_via().unwrap().branch() == Some("z9hG4bKc")
        ));
        assert_eq!(layer.len(), 2, "no transaction for it");
        assert!(layer
            .server_non_invite(&TransactionKey::server(&third).unwrap())
            .is_none());
        // Existing transactions still work, and so does the client side.
        layer
            .handle_request(options.clone(), false, t0 + ms(2))
            .unwrap();
        assert!(matches!(
            &drain_events(&mut layer)[..],
            [LayerEvent::Transaction {
                event: TransactionEvent::RetransmissionAbsorbed,
                ..
            }]
        ));
        layer
            .handle_request(request("ACK", "z9hG4bKack", ";tag=t"), false, t0 + ms(3))
            .unwrap();
        assert!(matches!(
            &drain_events(&mut layer)[..],
            [LayerEvent::Ack(_)]
        ));
        layer
            .send_request(request("OPTIONS", "z9hG4bKout", ""), false, t0 + ms(4))
            .unwrap();
        // The OPTIONS ends by Timer J 32 s after its answer: one more slot.
        layer
            .send_response(&key, response(&options, 200, Some("x")), t0 + ms(10))
            .unwrap();
        layer
            .handle_request(third.clone(), false, t0 + ms(32_009))
            .unwrap();
        assert!(matches!(
            &drain_events(&mut layer)[..],
            [LayerEvent::Overloaded { .. }]
        ));
        layer.handle_timeout(t0 + ms(32_010));
        assert!(layer.server_non_invite(&key).is_none());
        drain_events(&mut layer);
        layer.handle_request(third, false, t0 + ms(32_010)).unwrap();
        assert!(matches!(
            &drain_events(&mut layer)[..],
            [LayerEvent::Request { request, .. }] if request.method == Method::Options
        ));
        let stats = layer.stats();
        assert_eq!(stats.server_created, 3);
        assert_eq!(stats.rejected_overload, 2);
        assert_eq!(stats.refused_overload, 0);
    }

    #[test]
    fn a_flood_of_new_requests_holds_at_most_the_limit() {
        let t0 = Instant::now();
        let mut layer = limited(10, 10);
        for i in 0..100 {
            layer
                .handle_request(invite(&format!("z9hG4bKflood{i}")), false, t0 + ms(i))
                .unwrap();
        }
        let events = drain_events(&mut layer);
        let created = events
            .iter()
            .filter(|e| matches!(e, LayerEvent::Request { .. }))
            .count();
        let overloaded = events
            .iter()
            .filter(|e| matches!(e, LayerEvent::Overloaded { .. }))
            .count();
        assert_eq!((created, overloaded), (10, 90));
        assert_eq!(layer.len(), 10);
        assert_eq!(layer.stats().rejected_overload, 90);
    }

    #[test]
    fn requests_of_the_tu_beyond_the_client_limit_are_refused() {
        let t0 = Instant::now();
        let mut layer = limited(1, 10);
        let invite_key = layer.send_request(invite("z9hG4bK1"), true, t0).unwrap();
        assert!(matches!(
            layer.send_request(request("OPTIONS", "z9hG4bK2", ""), true, t0),
            Err(TransactionError::Overloaded { limit: 1 })
        ));
        assert_eq!(drain_sent(&mut layer).len(), 1, "only the INVITE");
        // A CANCEL in Proceeding needs a slot too; refused, it arms nothing.
        layer
            .handle_response(response(&invite("z9hG4bK1"), 180, Some("t")), t0 + ms(10))
            .unwrap();
        assert!(matches!(
            layer.send_cancel(&invite_key, t0 + ms(20)),
            Err(TransactionError::Overloaded { limit: 1 })
        ));
        assert!(!layer.client_invite(&invite_key).unwrap().is_cancelled());
        assert_eq!(layer.poll_timeout(), None);
        // Incoming requests have their own limit.
        layer
            .handle_request(request("OPTIONS", "z9hG4bKin", ""), true, t0 + ms(30))
            .unwrap();
        assert!(matches!(
            drain_events(&mut layer).last(),
            Some(LayerEvent::Request { .. })
        ));
        // The INVITE ends (a 486, Timer D zero over TCP): a slot is free.
        layer
            .handle_response(response(&invite("z9hG4bK1"), 486, Some("t")), t0 + ms(40))
            .unwrap();
        layer.handle_timeout(t0 + ms(40));
        assert!(layer.client_invite(&invite_key).is_none());
        layer
            .send_request(request("OPTIONS", "z9hG4bK2", ""), true, t0 + ms(50))
            .unwrap();
        let stats = layer.stats();
        assert_eq!((stats.client_created, stats.refused_overload), (2, 2));
    }

    #[test]
    fn cancel_before_a_provisional_is_held_until_one_arrives() {
        let t0 = Instant::now();
        let mut layer = TransactionLayer::new(TimerConfig::default());
        let invite = invite("z9hG4bKh1");
        let invite_key = layer.send_request(invite.clone(), false, t0).unwrap();
        drain_sent(&mut layer);
        let cancel_key = layer.send_cancel(&invite_key, t0 + ms(50)).unwrap();
        assert_eq!(cancel_key.cancelled_invite(), Some(invite_key.clone()));
        assert!(
            drain_sent(&mut layer).is_empty(),
            "§9.1: not before a provisional"
        );
        assert!(layer.client_non_invite(&cancel_key).is_none());
        assert!(matches!(
            layer.send_cancel(&invite_key, t0 + ms(60)),
            Err(TransactionError::AlreadyCancelled)
        ));
        layer.handle_timeout(t0 + ms(500));
        assert_eq!(
            drain_sent(&mut layer),
            [("INVITE".to_owned(), invite_key.clone())],
            "Timer A only"
        );
        layer
            .handle_response(response(&invite, 100, None), t0 + ms(700))
            .unwrap();
        assert_eq!(
            drain_sent(&mut layer),
            [("CANCEL".to_owned(), cancel_key.clone())]
        );
        assert!(layer.client_invite(&invite_key).unwrap().is_cancelled());
        assert_eq!(layer.poll_timeout(), Some(t0 + ms(1_200)), "Timer E");
        assert_eq!(layer.stats().client_created, 2);
        assert!(matches!(
            layer.send_cancel(&invite_key, t0 + ms(750)),
            Err(TransactionError::AlreadyCancelled)
        ));
        // The CANCEL is answered, the INVITE never: Timer::Cancel 64*T1
        // after the CANCEL was sent ends it.
        let cancel = layer
            .client_non_invite(&cancel_key)
            .unwrap()
            .request()
            .unwrap()
            .clone();
        layer
            .handle_response(response(&cancel, 200, Some("t")), t0 + ms(800))
            .unwrap();
        let fired = timeouts_until(&mut layer, t0, t0 + ms(100_000));
        assert_eq!(fired, [(32_700, invite_key, Timer::Cancel)]);
        assert!(layer.is_empty());
        assert_eq!(layer.stats().timeouts, 1);
    }

    #[test]
    fn held_cancel_is_dropped_when_a_final_comes_first() {
        for (status, sent) in [(486, vec!["ACK"]), (200, vec![])] {
            let t0 = Instant::now();
            let mut layer = limited(2, 10);
            let invite = invite("z9hG4bKh2");
            let invite_key = layer.send_request(invite.clone(), false, t0).unwrap();
            drain_sent(&mut layer);
            let cancel_key = layer.send_cancel(&invite_key, t0 + ms(10)).unwrap();
            // The held CANCEL keeps its slot.
            assert!(matches!(
                layer.send_request(request("OPTIONS", "z9hG4bKo", ""), false, t0 + ms(20)),
                Err(TransactionError::Overloaded { limit: 2 })
            ));
            layer
                .handle_response(response(&invite, status, Some("t")), t0 + ms(100))
                .unwrap();
            let methods: Vec<String> = drain_sent(&mut layer).into_iter().map(|(m, _)| m).collect();
            assert_eq!(methods, sent, "no CANCEL after a {status}");
            assert!(matches!(
                &drain_events(&mut layer)[..],
                [LayerEvent::Transaction { event: TransactionEvent::Response(r), .. }] if r.status.0 == status
            ));
            assert!(layer.client_non_invite(&cancel_key).is_none());
            assert!(matches!(
                layer.send_cancel(&invite_key, t0 + ms(150)),
                Err(TransactionError::CancelNotAllowed { .. })
            ));
            layer
                .send_request(request("OPTIONS", "z9hG4bKo", ""), false, t0 + ms(200))
                .unwrap();
            assert_eq!(layer.stats().client_created, 2, "INVITE and OPTIONS");
        }
    }

    #[test]
    fn held_cancel_is_dropped_when_the_invite_times_out() {
        let t0 = Instant::now();
        let mut layer = limited(2, 10);
        let invite_key = layer.send_request(invite("z9hG4bKh3"), true, t0).unwrap();
        drain_sent(&mut layer);
        layer.send_cancel(&invite_key, t0 + ms(1)).unwrap();
        assert_eq!(layer.poll_timeout(), Some(t0 + ms(32_000)), "Timer B");
        layer.handle_timeout(t0 + ms(32_000));
        assert!(drain_sent(&mut layer).is_empty());
        assert!(matches!(
            &drain_events(&mut layer)[..],
            [
                LayerEvent::Transaction {
                    event: TransactionEvent::Timeout { timer: Timer::B },
                    ..
                },
                LayerEvent::Transaction {
                    event: TransactionEvent::Terminated,
                    ..
                }
            ]
        ));
        assert!(layer.is_empty());
        // Both slots (the INVITE's and the CANCEL's) are free again.
        for branch in ["z9hG4bKn1", "z9hG4bKn2"] {
            layer
                .send_request(request("OPTIONS", branch, ""), true, t0 + ms(32_001))
                .unwrap();
        }
    }

    #[test]
    fn stats_count_what_happened() {
        let t0 = Instant::now();
        let mut layer = TransactionLayer::new(TimerConfig::default());
        layer.send_request(invite("z9hG4bKs1"), true, t0).unwrap();
        let bye = layer
            .send_request(request("BYE", "z9hG4bKs2", ";tag=x"), true, t0)
            .unwrap();
        layer.handle_transport_error(&bye, t0 + ms(1));
        let options = request("OPTIONS", "z9hG4bKs3", "");
        for at in [0, 500, 1_500] {
            layer
                .handle_request(options.clone(), false, t0 + ms(at))
                .unwrap();
        }
        layer
            .handle_response(response(&request("BYE", "z9hG4bKgone", ""), 200, None), t0)
            .unwrap();
        timeouts_until(&mut layer, t0, t0 + ms(40_000));
        assert_eq!(
            layer.stats(),
            TransactionStats {
                client_created: 2,
                server_created: 1,
                rejected_overload: 0,
                refused_overload: 0,
                stray_responses: 1,
                retransmissions_absorbed: 2,
                timeouts: 1,
                transport_errors: 1,
            }
        );
    }

    #[test]
    fn a_flood_of_short_transactions_leaves_no_stale_timers_behind() {
        // Over TCP an INVITE rejected and acknowledged ends at once, but its
        // Timer H (32 s) and 100-Trying instant stay in the heap.
        let t0 = Instant::now();
        let mut layer = TransactionLayer::new(TimerConfig::default());
        for i in 0..1_000 {
            let now = t0 + ms(i);
            let branch = format!("z9hG4bKshort{i}");
            let invite = invite(&branch);
            layer.handle_request(invite.clone(), true, now).unwrap();
            let key = TransactionKey::server(&invite).unwrap();
            layer
                .send_response(&key, response(&invite, 486, Some("t")), now)
                .unwrap();
            layer
                .handle_request(request("ACK", &branch, ";tag=t"), true, now)
                .unwrap();
            layer.handle_timeout(now);
            drain_sent(&mut layer);
            drain_events(&mut layer);
        }
        assert!(layer.is_empty());
        assert!(
            layer.timers.len() <= 2 + TIMER_HEAP_SLACK,
            "{} stale timers",
            layer.timers.len()
        );
        assert_eq!(layer.poll_timeout(), None);
        assert_eq!(layer.stats().server_created, 1_000);
    }
}
