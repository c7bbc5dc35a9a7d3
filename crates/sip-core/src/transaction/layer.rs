//! The transaction layer of RFC 3261 §17: a table of transactions keyed by
//! [`TransactionKey`] that matches incoming messages (§17.1.3, §17.2.3),
//! creates server transactions for new requests, multiplexes the timers of
//! all transactions and forgets terminated ones.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use sip::{Method, Request, Response};

use super::client_invite::ClientInviteTransaction;
use super::client_non_invite::ClientNonInviteTransaction;
use super::error::TransactionError;
use super::event::{TransactionEvent, Transmit};
use super::key::TransactionKey;
use super::server_invite::ServerInviteTransaction;
use super::server_non_invite::ServerNonInviteTransaction;
use crate::TimerConfig;

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
    /// An ACK that is not for a transaction: the ACK of a 2xx (its own
    /// branch, or absorbed by an INVITE in the Accepted state, RFC 6026
    /// §8.7). It belongs to the dialog.
    Ack(Request),
    /// A response that matched no client transaction (§17.1.3): typically a
    /// 2xx retransmitted after Timer M; a UA's dialog layer may re-ACK it.
    StrayResponse(Response),
    /// An event of the transaction `key`.
    Transaction {
        /// The transaction.
        key: TransactionKey,
        /// What happened.
        event: TransactionEvent,
    },
}

/// The four machines of RFC 3261 §17, named as the RFC names them.
#[derive(Debug)]
#[allow(clippy::enum_variant_names)]
enum Transaction {
    ClientInvite(ClientInviteTransaction),
    ClientNonInvite(ClientNonInviteTransaction),
    ServerInvite(ServerInviteTransaction),
    ServerNonInvite(ServerNonInviteTransaction),
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
}

/// All transactions of one SIP endpoint (sans-IO).
///
/// Feed it with [`send_request`](Self::send_request),
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
/// A driver's loop (the socket and the clock belong to the driver):
///
/// ```no_run
/// use std::time::Instant;
///
/// use sip::Message;
/// use sip_core::{LayerEvent, TimerConfig, TransactionKey, TransactionLayer};
///
/// # fn receive() -> Option<(Message, bool)> { None }
/// # fn send(_key: &TransactionKey, _bytes: bytes::Bytes) {}
/// # fn sleep_until(_at: Option<Instant>) {}
/// let mut layer = TransactionLayer::new(TimerConfig::default());
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
    config: TimerConfig,
    next_id: u64,
    ids: HashMap<TransactionKey, u64>,
    entries: HashMap<u64, Entry>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<LayerEvent>,
}

impl TransactionLayer {
    /// An empty layer whose transactions use `config`.
    pub fn new(config: TimerConfig) -> Self {
        Self {
            config,
            next_id: 0,
            ids: HashMap::new(),
            entries: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Starts a client transaction for `request` (INVITE or non-INVITE, not
    /// ACK) over a `reliable` or unreliable transport; returns its key.
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
        let txn = match request.method {
            Method::Invite => Transaction::ClientInvite(ClientInviteTransaction::new(
                request,
                reliable,
                self.config,
                now,
            )?),
            _ => Transaction::ClientNonInvite(ClientNonInviteTransaction::new(
                request,
                reliable,
                self.config,
                now,
            )?),
        };
        let id = self.insert(key.clone(), txn);
        self.settle(id);
        Ok(key)
    }

    /// Cancels the client INVITE `invite` (§9.1): builds the CANCEL and
    /// starts its own client transaction over the same transport; returns
    /// the CANCEL's key. Only allowed in the Proceeding state.
    pub fn send_cancel(
        &mut self,
        invite: &TransactionKey,
        now: Instant,
    ) -> Result<TransactionKey, TransactionError> {
        let Some(Transaction::ClientInvite(txn)) = self.get(invite) else {
            return Err(TransactionError::NoSuchTransaction);
        };
        let cancel = txn.build_cancel()?;
        let reliable = txn.reliable();
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
        self.settle(id);
        result
    }

    /// A request arrived over a `reliable` or unreliable transport: it goes
    /// to its server transaction, or starts one and is reported as
    /// [`LayerEvent::Request`]. Fails when the request cannot be matched
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
                    self.settle(id);
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
            self.settle(id);
            return Ok(());
        }
        let txn = match request.method {
            Method::Invite => Transaction::ServerInvite(ServerInviteTransaction::new(
                request.clone(),
                reliable,
                self.config,
                now,
            )?),
            _ => Transaction::ServerNonInvite(ServerNonInviteTransaction::new(
                request.clone(),
                reliable,
                self.config,
                now,
            )?),
        };
        let id = self.insert(key.clone(), txn);
        self.events.push_back(LayerEvent::Request { key, request });
        self.settle(id);
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
            self.events.push_back(LayerEvent::StrayResponse(response));
            return Ok(());
        };
        match self.entries.get_mut(&id).map(|entry| &mut entry.txn) {
            Some(Transaction::ClientInvite(txn)) => txn.handle_response(response, now),
            Some(Transaction::ClientNonInvite(txn)) => txn.handle_response(response, now),
            _ => {}
        }
        self.settle(id);
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
            self.settle(id);
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
            self.settle(id);
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
            Transaction::ClientInvite(txn) => Some(txn),
            _ => None,
        }
    }

    /// The client non-INVITE transaction `key`.
    pub fn client_non_invite(&self, key: &TransactionKey) -> Option<&ClientNonInviteTransaction> {
        match self.get(key)? {
            Transaction::ClientNonInvite(txn) => Some(txn),
            _ => None,
        }
    }

    /// The server INVITE transaction `key`.
    pub fn server_invite(&self, key: &TransactionKey) -> Option<&ServerInviteTransaction> {
        match self.get(key)? {
            Transaction::ServerInvite(txn) => Some(txn),
            _ => None,
        }
    }

    /// The server non-INVITE transaction `key`.
    pub fn server_non_invite(&self, key: &TransactionKey) -> Option<&ServerNonInviteTransaction> {
        match self.get(key)? {
            Transaction::ServerNonInvite(txn) => Some(txn),
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

    fn insert(&mut self, key: TransactionKey, txn: Transaction) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.ids.insert(key, id);
        self.entries.insert(
            id,
            Entry {
                txn,
                scheduled: None,
            },
        );
        id
    }

    /// Moves the outputs of transaction `id` to the layer's queues,
    /// schedules its next timer and removes it once terminated.
    fn settle(&mut self, id: u64) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let key = dispatch!(&entry.txn, t => t.key().clone());
        while let Some(transmit) = dispatch!(&mut entry.txn, t => t.poll_transmit()) {
            self.transmits.push_back(transmit);
        }
        let mut terminated = false;
        while let Some(event) = dispatch!(&mut entry.txn, t => t.poll_event()) {
            terminated |= matches!(event, TransactionEvent::Terminated);
            self.events.push_back(match event {
                TransactionEvent::Ack(ack) => LayerEvent::Ack(ack),
                event => LayerEvent::Transaction {
                    key: key.clone(),
                    event,
                },
            });
        }
        if terminated {
            self.entries.remove(&id);
            self.ids.remove(&key);
            return;
        }
        let next = dispatch!(&entry.txn, t => t.poll_timeout());
        if next != entry.scheduled {
            entry.scheduled = next;
            if let Some(at) = next {
                self.timers.push(Reverse((at, id)));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sip::Message;

    use super::*;
    use crate::transaction::testing::{invite, ms, request, response};

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
            layer.send_cancel(&key, t0),
            Err(TransactionError::CancelNotAllowed { state: "Calling" })
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
}
