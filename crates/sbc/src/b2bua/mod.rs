//! The sans-IO back-to-back user agent of the SBC (RFC 7092 §3.1: a
//! signalling and media-relay B2BUA; RFC 3261 §12-17 through
//! [`sip_core`]).
//!
//! Every call is a session of independent dialogs: the inbound leg, whose
//! INVITE we answer, and the outbound leg, whose INVITE we send, each with
//! its own Call-ID, tags, CSeq, Via and Contact (topology hiding: nothing
//! of one leg's addressing reaches the other). The [`B2bua`] owns a
//! [`sip_core::TransactionLayer`], the [`crate::Router`] and
//! [`crate::Gate`] policy, the Teams OPTIONS keepalive and the table of
//! calls. Media are anchored through a [`MediaAnchor`] and the SDP of each
//! leg rewritten for it (`sdp_rewrite`).
//!
//! What a call goes through:
//! - a new INVITE is screened ([`crate::Gate::screen`]), checked
//!   (`checks`: 400/416/420/483), routed ([`crate::Router`]), admitted
//!   ([`crate::Gate::admit_call`], 503 + Retry-After), answered with 100 and
//!   sent on as a new INVITE with an SDP offer (no delayed offer);
//! - the outbound INVITE fails over: across Teams proxies on 503 +
//!   Retry-After, 408, 504, timeout and transport errors (never after 603),
//!   across carrier targets on 408, 480 and 5xx; a target silent for
//!   [`B2buaSettings::failover_after`] is abandoned;
//! - 180 and 183 (with SDP: early media) are relayed, the 2xx is
//!   acknowledged on its leg at once and relayed with the SDP answer;
//!   failures are mapped (a B2BUA answers for itself);
//! - CANCEL is answered (200 + 487) and sent on; BYE from either side is
//!   answered and sent on the other leg;
//! - codecs: an offer keeps what the receiving leg allows (a trunk's
//!   `codecs`, what Direct Routing takes); when that leaves none, the leg
//!   is offered its own list, the offerer is answered with one codec of
//!   its offer and the relay transcodes (each leg's [`StreamCodec`] says
//!   which); answers naming a codec we did not offer are refused (488);
//! - re-INVITE, UPDATE and INFO are relayed with their SDP rewritten
//!   (hold towards Teams as `a=inactive`; a transcoded stream keeps each
//!   leg's codec); a refresh that changes nothing is answered on its own
//!   leg;
//! - DTMF (`dtmf`): INFO with a key press for a leg whose peer does not
//!   take INFO (Teams) is answered and handed to the media relay
//!   ([`B2buaEvent::Dtmf`]); presses the relay takes out of RTP for a
//!   peer that takes INFO go out as INFO ([`B2bua::send_dtmf_info`]);
//! - session timers per leg (RFC 4028: refresher, 422 with Min-SE, BYE on
//!   expiry) and a maximum call duration;
//! - Teams: REFER is carried out by the SBC (new INVITE to the Refer-To
//!   target, NOTIFY with `message/sipfrag`, release of the old leg), and
//!   an INVITE with Replaces takes over the leg it names.
//!
//! Contact-center calls (the application drives them): a call to a flow
//! DID is answered by switchboard itself (`local`), [`B2bua::originate`]
//! starts one with an outbound leg (`originate`); [`B2bua::dial`] rings
//! agents for a caller alone with switchboard (ring-all, the first answer
//! is bridged: `dial`); [`B2bua::add_party`], [`B2bua::hang_up_party`]
//! and [`B2bua::pair`] make and unmake calls of more than two parties,
//! mixed by the application (`parties`).
//!
//! What the driver does: hand over every parsed message with its
//! [`Source`] (the transport has stamped `received`/`rport`); send each
//! [`Outgoing`] as is (its Via already names the SBC: the tenant FQDN
//! towards Teams, the listener or `advertised_host` towards carriers),
//! resolving [`NextHop::Resolve`] through `[hosts]` then DNS and reusing
//! connections; report sends that fail with
//! [`B2bua::handle_transport_error`]; close the connection named by
//! [`B2buaEvent::CloseConnection`]; for messages that do not parse, send
//! [`response_for_unparsable`] back (505, 513, 400).
//!
//! Drain order after every `handle_*` call: [`B2bua::poll_transmit`] until
//! `None`, [`B2bua::poll_event`] until `None`, then sleep until
//! [`B2bua::poll_timeout`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Instant;
//! use sbc::{B2bua, B2buaSettings, Config, PortAllocator, Source, Stats};
//!
//! # fn receive() -> Option<(sip::Message, Source)> { None }
//! # fn send(_: sbc::Outgoing) {}
//! # fn sleep_until(_: Option<Instant>) {}
//! # fn os_random(_: &mut [u8]) {}
//! let text = std::fs::read_to_string("examples/teams.toml")?;
//! let config = Arc::new(Config::from_toml_str(&text, "examples/teams.toml")?);
//! let media = PortAllocator::new("198.51.100.2".parse()?, 40000, 49999);
//! let mut b2bua = B2bua::new(
//!     config,
//!     Arc::new(Stats::default()),
//!     B2buaSettings::default(),
//!     Box::new(media),
//!     Box::new(os_random),
//!     Instant::now(),
//! );
//! loop {
//!     if let Some((message, source)) = receive() {
//!         b2bua.handle_message(message, source, Instant::now());
//!     }
//!     b2bua.handle_timeout(Instant::now());
//!     while let Some(outgoing) = b2bua.poll_transmit() {
//!         send(outgoing);
//!     }
//!     while let Some(event) = b2bua.poll_event() {
//!         let _ = event; // CDRs, metrics
//!     }
//!     sleep_until(b2bua.poll_timeout());
//! }
//! # #[allow(unreachable_code)]
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod call;
mod checks;
mod codecs;
mod dial;
mod dtmf;
mod identity;
mod in_dialog;
mod io;
mod local;
mod media;
mod options;
mod originate;
mod parties;
mod sdp_rewrite;
mod session_timer;
mod settings;
mod setup;
mod teardown;
mod transfer;
mod wire;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use sip::{HeaderName, Message, Method, Request, Response, StatusCode};
use sip_core::{
    DialogConfig, DialogEvent, DialogTransmit, LayerEvent, Role, TransactionEvent, TransactionKey,
    TransactionLayer, TransactionLayerConfig, UacInvite,
};

use self::call::{Call, ClientTxn, LegDialog, Purpose};
use crate::config::{Config, Transport};
use crate::routing::Router;
use crate::security::{Gate, Peer, Screening};
use crate::stats::{Rejection, Stats};
use crate::teams::{AttemptOutcome, OptionsPinger};

pub use self::checks::response_for_unparsable;
pub use self::dial::DialTarget;
pub use self::io::{
    B2buaEvent, CallId, ConnectionId, EndReason, LegId, LegPeer, NextHop, Outgoing, Party, Source,
};
pub use self::media::{MediaAnchor, PortAllocator, SrtpKeys, StreamCodec, StreamMedia};
pub use self::settings::B2buaSettings;

/// A source of random bytes (SRTP keys, nonce secret, SDP session ids).
pub type RandomSource = Box<dyn FnMut(&mut [u8]) + Send>;

/// The SBC's B2BUA: every call is two dialogs (module docs).
///
/// Inputs: [`B2bua::handle_message`] for every parsed message,
/// [`B2bua::handle_timeout`] when [`B2bua::poll_timeout`] is due,
/// [`B2bua::handle_transport_error`] when an [`Outgoing`] could not be
/// sent. Unparsable messages: see [`response_for_unparsable`]. After each
/// input drain [`B2bua::poll_transmit`], then [`B2bua::poll_event`], then
/// read [`B2bua::poll_timeout`].
pub struct B2bua {
    config: Arc<Config>,
    settings: B2buaSettings,
    router: Router,
    gate: Gate,
    layer: TransactionLayer,
    pinger: Option<OptionsPinger>,
    media: Box<dyn MediaAnchor + Send>,
    random: RandomSource,
    dialog_config: DialogConfig,
    calls: HashMap<CallId, Call>,
    next_id: u64,
    /// Legs by (Call-ID, our tag).
    dialogs: HashMap<(String, String), (CallId, LegId)>,
    /// UAS legs by their INVITE server transaction (for CANCEL).
    invites: HashMap<TransactionKey, (CallId, LegId)>,
    client: HashMap<TransactionKey, ClientTxn>,
    /// Where responses of each server transaction go, and whether they go
    /// to Teams (which expects X-MS-SBC on them).
    server: HashMap<TransactionKey, (NextHop, bool)>,
    /// INVITEs of ended calls or abandoned targets that may still be
    /// answered: a 2xx gets ACK and BYE.
    orphans: HashMap<TransactionKey, UacInvite>,
    timers: BinaryHeap<Reverse<(Instant, CallId)>>,
    transmits: VecDeque<Outgoing>,
    events: VecDeque<B2buaEvent>,
}

/// How many entries each of the B2BUA's tables holds: for metrics, and to
/// see that finished calls leave nothing behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableSizes {
    /// Calls (up, being set up or being torn down).
    pub calls: usize,
    /// Legs indexed by dialog (Call-ID, our tag).
    pub dialogs: usize,
    /// UAS legs indexed by their INVITE server transaction.
    pub invites: usize,
    /// Client transactions with a purpose other than OPTIONS keepalives.
    pub client: usize,
    /// Server transactions with a reply route.
    pub server: usize,
    /// INVITEs of ended calls still watched for a late 2xx.
    pub orphans: usize,
    /// Scheduled call timers (some stale until their instant passes).
    pub timers: usize,
    /// Transactions of the transaction layer.
    pub transactions: usize,
}

impl std::fmt::Debug for B2bua {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("B2bua")
            .field("calls", &self.calls.len())
            .field("transactions", &self.layer.len())
            .finish_non_exhaustive()
    }
}

/// A request being processed: where it came from and what the gate said.
struct Arrival {
    source: Source,
    screening: Option<Screening>,
}

impl B2bua {
    /// A B2BUA for `config`, counting refusals in `stats`, anchoring media
    /// with `media` and drawing keys and ids from `random`. `now` starts
    /// the Teams OPTIONS keepalive (first probes due at once).
    pub fn new(
        config: Arc<Config>,
        stats: Arc<Stats>,
        settings: B2buaSettings,
        media: Box<dyn MediaAnchor + Send>,
        mut random: RandomSource,
        now: Instant,
    ) -> B2bua {
        let mut secret = [0u8; 32];
        random(&mut secret);
        let mut seed = [0u8; 8];
        random(&mut seed);
        let router = Router::new(Arc::clone(&config), Arc::clone(&stats));
        let gate = Gate::new(Arc::clone(&config), stats, &secret, now);
        let pinger = config.teams.as_ref().map(|t| OptionsPinger::new(t, now));
        B2bua {
            layer: TransactionLayer::with_config(TransactionLayerConfig {
                timers: settings.timers,
                max_server_transactions: config.sbc.max_transactions,
                max_client_transactions: config.sbc.max_transactions,
            }),
            dialog_config: DialogConfig {
                timers: settings.timers,
                seed: u64::from_le_bytes(seed),
            },
            config,
            settings,
            router,
            gate,
            pinger,
            media,
            random,
            calls: HashMap::new(),
            next_id: 1,
            dialogs: HashMap::new(),
            invites: HashMap::new(),
            client: HashMap::new(),
            server: HashMap::new(),
            orphans: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The gate (for its counters and active call count).
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Calls in progress (including ended ones still waiting for an ACK
    /// before their BYE).
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// A message arrived from `source`.
    pub fn handle_message(&mut self, message: Message, source: Source, now: Instant) {
        match message {
            Message::Request(request) => self.handle_request(request, source, now),
            Message::Response(response) => {
                // A response without branch or CSeq matches nothing: drop it.
                let _ = self.layer.handle_response(response, now);
                self.drain(now, None);
            }
        }
    }

    /// `outgoing` could not be sent (no route, connection refused, TLS
    /// failure): its transaction fails (RFC 3261 §8.1.3.1, §17.1.4), which
    /// moves a call to the next target.
    pub fn handle_transport_error(&mut self, outgoing: &Outgoing, now: Instant) {
        if let Message::Request(request) = &outgoing.message {
            if request.method == Method::Ack {
                return;
            }
            if let Ok(key) = TransactionKey::client(request) {
                self.layer.handle_transport_error(&key, now);
            }
        }
        self.drain(now, None);
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.layer.handle_timeout(now);
        self.drain(now, None);
        self.send_options(now);
        // Calls due now, each run once: what they schedule meanwhile waits
        // for the next call.
        let mut due = Vec::new();
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let call = self.calls.get_mut(&id).filter(|c| c.scheduled == Some(at));
            if let Some(call) = call {
                call.scheduled = None;
                due.push(id);
            }
        }
        for id in due {
            self.on_call_timeout(id, now);
        }
        self.drain(now, None);
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Outgoing> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<B2buaEvent> {
        self.events.pop_front()
    }

    /// The sizes of the B2BUA's tables.
    pub fn table_sizes(&self) -> TableSizes {
        TableSizes {
            calls: self.calls.len(),
            dialogs: self.dialogs.len(),
            invites: self.invites.len(),
            client: self
                .client
                .values()
                .filter(|c| !matches!(c.purpose, Purpose::Options(_)))
                .count(),
            server: self.server.len(),
            orphans: self.orphans.len(),
            timers: self.timers.len(),
            transactions: self.layer.len(),
        }
    }

    /// When [`B2bua::handle_timeout`] must run next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if self.calls.get(&id).and_then(|c| c.scheduled) == Some(at) {
                break;
            }
            self.timers.pop();
        }
        let calls = self.timers.peek().map(|Reverse((at, _))| *at);
        let pinger = self.pinger.as_ref().and_then(OptionsPinger::poll_timeout);
        [self.layer.poll_timeout(), calls, pinger]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_request(&mut self, request: Request, source: Source, now: Instant) {
        let Ok(key) = TransactionKey::server(&request) else {
            // No Via branch or CSeq to match a transaction with: answer
            // statelessly if anything can be addressed (RFC 3261 §8.2).
            if request.method != Method::Ack {
                let response = checks::bad_request(&request, "no usable Via or CSeq");
                self.send_direct(response.into(), source.reply_hop());
            }
            return;
        };
        let known = request.method == Method::Ack
            || self.layer.server_invite(&key).is_some()
            || self.layer.server_non_invite(&key).is_some();
        let screening = if known {
            None
        } else {
            let names: Vec<&str> = source.tls_peer_names.iter().map(String::as_str).collect();
            match self.gate.screen(&request, source.remote.ip(), &names, now) {
                Screening::Drop(_) => return,
                screening => Some(screening),
            }
        };
        let reliable = source.reliable();
        let arrival = Arrival { source, screening };
        if self.layer.handle_request(request, reliable, now).is_ok() {
            self.drain(now, Some(arrival));
        }
    }

    /// Moves the transaction layer's output to ours and acts on its
    /// events until both are empty.
    fn drain(&mut self, now: Instant, mut arrival: Option<Arrival>) {
        let x_ms_sbc = HeaderName::from("X-MS-SBC");
        loop {
            while let Some(transmit) = self.layer.poll_transmit() {
                let mut message = transmit.message;
                let hop = match transmit.key.role() {
                    Role::Server => self.server.get(&transmit.key).map(|(hop, teams)| {
                        if let (true, Message::Response(response), Some(teams)) =
                            (*teams, &mut message, &self.config.teams)
                        {
                            if !response.headers.contains(&x_ms_sbc) {
                                response
                                    .headers
                                    .push(x_ms_sbc.clone(), teams.x_ms_sbc.clone());
                            }
                        }
                        hop.clone()
                    }),
                    Role::Client => self.client.get(&transmit.key).map(|c| c.next_hop.clone()),
                };
                if let Some(next_hop) = hop {
                    self.transmits.push_back(Outgoing { message, next_hop });
                }
            }
            let Some(event) = self.layer.poll_event() else {
                break;
            };
            self.on_layer_event(event, &mut arrival, now);
        }
    }

    fn on_layer_event(&mut self, event: LayerEvent, arrival: &mut Option<Arrival>, now: Instant) {
        match event {
            LayerEvent::Request { key, request } => {
                let Some(Arrival { source, screening }) = arrival.take() else {
                    return;
                };
                let teams = matches!(screening, Some(Screening::Accept(Peer::Teams)));
                self.server.insert(key.clone(), (source.reply_hop(), teams));
                self.on_request(key, request, &source, screening, now);
            }
            LayerEvent::Overloaded { request } => {
                if let (Some(arrival), false) = (arrival.as_ref(), request.method == Method::Ack) {
                    let mut response =
                        Response::for_request(&request, StatusCode::SERVICE_UNAVAILABLE);
                    let retry = self.config.sbc.busy_retry_after.as_secs().max(1);
                    response
                        .headers
                        .push(HeaderName::RetryAfter, retry.to_string());
                    self.send_direct(response.into(), arrival.source.reply_hop());
                }
            }
            LayerEvent::Ack(ack) => self.on_ack(&ack, now),
            LayerEvent::StrayResponse(response) => self.on_stray_response(&response, now),
            LayerEvent::Transaction { key, event } => match event {
                TransactionEvent::Response(response) => self.on_response(key, response, now),
                TransactionEvent::Timeout { .. } if key.role() == Role::Client => {
                    self.on_client_failure(&key, AttemptOutcome::Timeout, now);
                }
                TransactionEvent::TransportError if key.role() == Role::Client => {
                    self.on_client_failure(&key, AttemptOutcome::TransportError, now);
                }
                TransactionEvent::Terminated => {
                    self.server.remove(&key);
                    self.client.remove(&key);
                    self.orphans.remove(&key);
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// A new request (not a retransmission, not an ACK).
    fn on_request(
        &mut self,
        key: TransactionKey,
        request: Request,
        source: &Source,
        screening: Option<Screening>,
        now: Instant,
    ) {
        let peer = match screening {
            Some(Screening::Accept(peer)) => peer,
            Some(Screening::Reject(rejection)) => {
                return self.reject(&key, &request, &rejection, now);
            }
            Some(Screening::Drop(_)) | None => return,
        };
        if let Some(response) = checks::check_request(&request) {
            return self.respond(&key, response, now);
        }
        let in_dialog = request
            .headers
            .to()
            .ok()
            .is_some_and(|to| to.tag().is_some());
        if request.method == Method::Cancel {
            return self.on_cancel(&key, &request, now);
        }
        if in_dialog {
            return self.on_in_dialog(key, request, &peer, now);
        }
        match request.method {
            Method::Invite if request.headers.contains(&HeaderName::Replaces) => {
                self.on_replaces(key, request, source, &peer, now);
            }
            Method::Invite => self.on_invite(key, request, source, &peer, now),
            Method::Options => self.on_options(&key, &request, &peer, now),
            Method::Bye
            | Method::Update
            | Method::Info
            | Method::Refer
            | Method::Notify
            | Method::Prack => {
                let response =
                    Response::for_request(&request, StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST);
                self.respond(&key, response, now);
            }
            Method::Register | Method::Subscribe | Method::Message | Method::Publish => {
                let mut response = Response::for_request(&request, StatusCode::METHOD_NOT_ALLOWED);
                response.headers.push(HeaderName::Allow, checks::ALLOW);
                self.respond(&key, response, now);
            }
            _ => {
                let mut response = Response::for_request(&request, StatusCode::NOT_IMPLEMENTED);
                response.headers.push(HeaderName::Allow, checks::ALLOW);
                self.respond(&key, response, now);
            }
        }
    }

    /// A response of one of our client transactions.
    fn on_response(&mut self, key: TransactionKey, response: Response, now: Instant) {
        if self.orphans.contains_key(&key) {
            return self.on_orphan_response(&key, &response, now);
        }
        let Some(txn) = self.client.get(&key).cloned() else {
            return;
        };
        match txn.purpose {
            Purpose::Invite { call, leg } => {
                self.on_invite_response(call, leg, &key, response, now)
            }
            Purpose::Relay {
                call,
                from,
                to,
                server,
                request,
            } => self.on_relay_response(call, from, to, &server, &request, &response, now),
            Purpose::Reoffer { call, leg } => self.on_reoffer_response(call, leg, &response, now),
            Purpose::Restore { call, leg } => self.on_restore_response(call, leg, &response, now),
            Purpose::DtmfInfo { call, leg } => {
                self.on_dtmf_info_response(call, leg, &response, now);
            }
            Purpose::Replaces { call, leg, new } => {
                self.on_replaces_response(call, leg, new, &response, now);
            }
            Purpose::InDialog { call, leg } => {
                self.with_leg_dialog(call, leg, now, |dialog| {
                    // Only responses of other dialogs fail here.
                    let _ = dialog.handle_response(&response, now);
                });
            }
            Purpose::Options(proxy) => {
                if response.status.is_final() {
                    let retry_after = response
                        .headers
                        .retry_after()
                        .ok()
                        .flatten()
                        .map(|r| std::time::Duration::from_secs(u64::from(r.seconds)));
                    if let Some(pinger) = &mut self.pinger {
                        pinger.handle_response(proxy, response.status, retry_after, now);
                    }
                    self.report_proxy_health(now);
                }
            }
            Purpose::Ignore => {}
        }
    }

    /// A client transaction timed out or could not be sent.
    fn on_client_failure(&mut self, key: &TransactionKey, outcome: AttemptOutcome, now: Instant) {
        let Some(txn) = self.client.get(key).cloned() else {
            return;
        };
        let status = match outcome {
            AttemptOutcome::TransportError => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::REQUEST_TIMEOUT,
        };
        match txn.purpose {
            Purpose::Invite { call, leg } => self.on_attempt_failed(call, leg, key, outcome, now),
            Purpose::Relay {
                call,
                from,
                to,
                server,
                request,
            } => {
                // A locally generated 408 (RFC 3261 §8.1.3.1).
                let response = Response::for_request(&request, status);
                self.on_relay_response(call, from, to, &server, &request, &response, now);
            }
            Purpose::Reoffer { call, leg }
            | Purpose::Restore { call, leg }
            | Purpose::InDialog { call, leg } => {
                if matches!(
                    txn.purpose,
                    Purpose::Reoffer { .. } | Purpose::Restore { .. }
                ) {
                    let reason = EndReason::DialogLost(self.party_of(call, leg));
                    if let Some(mut c) = self.calls.remove(&call) {
                        self.own_reinvite_ended(&mut c, leg, status);
                        self.lose_leg(&mut c, leg, reason, now);
                        self.put_back(c);
                    }
                }
            }
            Purpose::Replaces { call, leg, new } => {
                let response = Response::builder(status).build();
                self.on_replaces_response(call, leg, new, &response, now);
            }
            Purpose::DtmfInfo { call, leg } => self.dtmf_info_failed(call, leg, status),
            Purpose::Options(_) | Purpose::Ignore => {}
        }
    }

    /// The party of `leg` in `call` (caller when unknown).
    fn party_of(&self, call: CallId, leg: LegId) -> Party {
        self.calls
            .get(&call)
            .and_then(|c| c.leg(leg))
            .map_or(Party::Caller, |l| l.party)
    }

    /// Answers a request through its server transaction.
    fn respond(&mut self, key: &TransactionKey, response: Response, now: Instant) {
        // Fails only when the transaction is gone (it timed out): nothing
        // is left to answer.
        let _ = self.layer.send_response(key, response, now);
    }

    /// Answers with a gate or router refusal.
    fn reject(
        &mut self,
        key: &TransactionKey,
        request: &Request,
        rejection: &Rejection,
        now: Instant,
    ) {
        let mut response = Response::for_request(request, rejection.status);
        for (name, value) in &rejection.headers {
            response.headers.push(name.clone(), value.clone());
        }
        self.respond(key, response, now);
    }

    /// Sends a message without transaction (ACK of a 2xx, 2xx
    /// retransmission, stateless response).
    fn send_direct(&mut self, message: Message, next_hop: NextHop) {
        self.transmits.push_back(Outgoing { message, next_hop });
    }

    /// Sends `request` in a new client transaction to `next_hop`.
    fn send_request(
        &mut self,
        request: Request,
        next_hop: NextHop,
        purpose: Purpose,
        now: Instant,
    ) -> Option<TransactionKey> {
        let reliable = match &next_hop {
            NextHop::Resolve { transport, .. } | NextHop::Reply { transport, .. } => {
                *transport != Transport::Udp
            }
        };
        let key = self.layer.send_request(request, reliable, now).ok()?;
        self.client
            .insert(key.clone(), ClientTxn { next_hop, purpose });
        Some(key)
    }

    /// A new call id.
    fn next_call_id(&mut self) -> CallId {
        let id = CallId(self.next_id);
        self.next_id += 1;
        id
    }

    /// A new leg id (shares the counter with calls: ids are unique).
    fn next_leg_id(&mut self) -> LegId {
        let id = LegId(self.next_id);
        self.next_id += 1;
        id
    }

    /// A random number (SDP session ids).
    fn random_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        (self.random)(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    /// Runs `op` on `call`, taken out of the table for it; then puts the
    /// call back and sends what `op` queued. `missing` if there is no
    /// such call.
    fn with_call<T, E>(
        &mut self,
        call: CallId,
        missing: E,
        now: Instant,
        op: impl FnOnce(&mut B2bua, &mut Call) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut taken = self.calls.remove(&call).ok_or(missing)?;
        let result = op(self, &mut taken);
        self.put_back(taken);
        self.drain(now, None);
        result
    }

    /// Puts a call back in the table after work on it, or forgets it once
    /// it is over; re-arms its timer.
    fn put_back(&mut self, mut call: Call) {
        if call.state == call::CallState::Terminated && !call.legs.iter().any(|l| l.bye_pending) {
            self.forget(&call);
            return;
        }
        let deadline = call.deadline();
        if deadline != call.scheduled {
            call.scheduled = deadline;
            if let Some(at) = deadline {
                self.timers.push(Reverse((at, call.id)));
            }
        }
        self.calls.insert(call.id, call);
        // Superseded deadlines stay in the heap until their time; rebuild
        // it when they outnumber the live ones.
        if self.timers.len() > 2 * self.calls.len() + 64 {
            self.timers = self
                .calls
                .values()
                .filter_map(|c| c.scheduled.map(|at| Reverse((at, c.id))))
                .collect();
        }
    }

    /// Drops a call's indexes.
    fn forget(&mut self, call: &Call) {
        for (key, _) in &call.dialog_keys {
            self.dialogs.remove(key);
        }
        for (key, _) in &call.invite_keys {
            self.invites.remove(key);
        }
    }

    /// Drops the indexes of one leg of a call that goes on.
    fn forget_leg(&mut self, call: &mut Call, leg: LegId) {
        for (key, _) in call.dialog_keys.iter().filter(|(_, l)| *l == leg) {
            self.dialogs.remove(key);
        }
        for (key, _) in call.invite_keys.iter().filter(|(_, l)| *l == leg) {
            self.invites.remove(key);
        }
        call.dialog_keys.retain(|(_, l)| *l != leg);
        call.invite_keys.retain(|(_, l)| *l != leg);
    }

    /// Finds requests and responses of `leg`'s dialog with Call-ID
    /// `call_id` and our tag `tag`.
    fn index_dialog(&mut self, call: &mut Call, leg: LegId, call_id: String, tag: String) {
        self.dialogs
            .insert((call_id.clone(), tag.clone()), (call.id, leg));
        call.dialog_keys.push(((call_id, tag), leg));
    }

    /// Finds `leg` by its INVITE server transaction (for CANCEL).
    /// Indexes a new call's caller leg: its dialog (our tag) and its INVITE
    /// server transaction (for CANCEL).
    fn index_caller(
        &mut self,
        call: &mut Call,
        invite: &Request,
        local_tag: String,
        key: TransactionKey,
    ) {
        let caller = call.caller;
        if let Ok(call_id) = invite.headers.call_id() {
            let call_id = call_id.to_owned();
            self.index_dialog(call, caller, call_id, local_tag);
        }
        self.index_invite(call, caller, key);
    }

    fn index_invite(&mut self, call: &mut Call, leg: LegId, key: TransactionKey) {
        self.invites.insert(key.clone(), (call.id, leg));
        call.invite_keys.push((key, leg));
    }

    /// Runs `f` on the dialog of `leg` of `call`, then sends what the
    /// dialog queued.
    fn with_leg_dialog(
        &mut self,
        call: CallId,
        leg: LegId,
        now: Instant,
        f: impl FnOnce(&mut sip_core::Dialog),
    ) {
        let Some(mut c) = self.calls.remove(&call) else {
            return;
        };
        if let Some(dialog) = c.leg_mut(leg).and_then(|l| l.dialog_mut()) {
            f(dialog);
        }
        self.flush_leg(&mut c, leg, now);
        self.put_back(c);
    }

    /// Takes call `call_id` out of the table after the dialog of `leg_id`
    /// took in `response` to one of our in-dialog requests, with what that
    /// queued already sent; `None` when the call has ended. The caller puts
    /// the call back.
    fn take_call_with_response(
        &mut self,
        call_id: CallId,
        leg_id: LegId,
        response: &Response,
        now: Instant,
    ) -> Option<Call> {
        let mut call = self.calls.remove(&call_id)?;
        if let Some(dialog) = call.leg_mut(leg_id).and_then(|l| l.dialog_mut()) {
            // The dialog only refuses responses of other dialogs; the
            // transaction matched this one to it.
            let _ = dialog.handle_response(response, now);
        }
        self.flush_leg(&mut call, leg_id, now);
        Some(call)
    }

    /// Sends what a leg's dialog (or forking INVITE) queued and acts on
    /// its events.
    fn flush_leg(&mut self, call: &mut Call, leg_id: LegId, now: Instant) {
        let Some(leg) = call.leg_mut(leg_id) else {
            return;
        };
        let transport = leg.transport;
        let via_host = leg.via_host.clone();
        let peer = leg.peer.clone();
        let mut transmits = Vec::new();
        let mut events = Vec::new();
        let mut reply = None;
        match &mut leg.dialog {
            LegDialog::Uas(uas) => {
                reply = Some(uas.reply.clone());
                if let Some(dialog) = &mut uas.dialog {
                    while let Some(t) = dialog.poll_transmit() {
                        transmits.push(t);
                    }
                    while let Some(e) = dialog.poll_event() {
                        events.push(e);
                    }
                }
            }
            LegDialog::Uac(uac) => {
                if let Some(attempt) = &mut uac.attempt {
                    while let Some(t) = attempt.uac.poll_transmit() {
                        transmits.push(t);
                    }
                    while let Some(e) = attempt.uac.poll_event() {
                        if let sip_core::UacInviteEvent::Dialog { event, .. } = e {
                            events.push(event);
                        }
                    }
                }
            }
        }
        for transmit in transmits {
            match transmit {
                DialogTransmit::Ack(mut ack) => {
                    self.finish(&peer, transport, &via_host, &mut ack);
                    let hop = wire::dialog_next_hop(&ack, transport);
                    self.send_direct(ack.into(), hop);
                }
                DialogTransmit::Request(mut request) => {
                    self.finish(&peer, transport, &via_host, &mut request);
                    let hop = wire::dialog_next_hop(&request, transport);
                    self.send_request(request, hop, Purpose::Ignore, now);
                }
                DialogTransmit::Response(response) => {
                    if let Some(hop) = reply.clone() {
                        self.send_direct(response.into(), hop);
                    }
                }
            }
        }
        for event in events {
            match event {
                DialogEvent::AckTimeout { bye } => {
                    let mut bye = *bye;
                    self.finish(&peer, transport, &via_host, &mut bye);
                    let hop = wire::dialog_next_hop(&bye, transport);
                    self.send_request(bye, hop, Purpose::Ignore, now);
                    let party = call.leg(leg_id).map_or(Party::Caller, |l| l.party);
                    if let Some(leg) = call.leg_mut(leg_id) {
                        leg.bye_pending = false;
                    }
                    self.lose_leg(call, leg_id, EndReason::DialogLost(party), now);
                }
                DialogEvent::GlareRetry {
                    method: Method::Invite,
                } => self.retry_own_reinvite(call, leg_id, now),
                _ => {}
            }
        }
    }

    /// A 2xx retransmitted after its INVITE transaction ended: the dialog
    /// replays its ACK (RFC 3261 §13.2.2.4).
    fn on_stray_response(&mut self, response: &Response, now: Instant) {
        if !response.status.is_success() {
            return;
        }
        let Ok(id) = sip_core::DialogId::of_incoming_response(response) else {
            return;
        };
        let Some(&(call, leg)) = self.dialogs.get(&(id.call_id, id.local_tag)) else {
            return;
        };
        let Some(mut c) = self.calls.remove(&call) else {
            return;
        };
        if let Some(l) = c.leg_mut(leg) {
            if let LegDialog::Uac(uac) = &mut l.dialog {
                if let Some(attempt) = &mut uac.attempt {
                    let _ = attempt.uac.handle_response(response, now);
                }
            }
        }
        self.flush_leg(&mut c, leg, now);
        self.put_back(c);
    }

    /// A response to an INVITE we no longer want: a 2xx is acknowledged
    /// and ended with BYE (RFC 3261 §15: the UAC must not leave it up).
    fn on_orphan_response(&mut self, key: &TransactionKey, response: &Response, now: Instant) {
        let Some(uac) = self.orphans.get_mut(key) else {
            return;
        };
        let _ = uac.handle_response(response, now);
        if response.status.is_success() {
            if let Ok(ack) = uac.ack(None) {
                if let Ok(bye) = uac
                    .dialog_mut()
                    .map_or(Err(sip_core::DialogError::Terminated), |d| {
                        d.request(Method::Bye, now)
                    })
                {
                    self.orphan_send(key, ack, bye, now);
                }
            }
        }
        let mut transmits = Vec::new();
        if let Some(uac) = self.orphans.get_mut(key) {
            while let Some(t) = uac.poll_transmit() {
                transmits.push(t);
            }
            while uac.poll_event().is_some() {}
        }
        for transmit in transmits {
            if let DialogTransmit::Ack(ack) | DialogTransmit::Request(ack) = transmit {
                self.send_orphan_message(key, ack, now);
            }
        }
    }

    fn orphan_send(&mut self, key: &TransactionKey, ack: Request, bye: Request, now: Instant) {
        self.send_orphan_message(key, ack, now);
        self.send_orphan_message(key, bye, now);
    }

    /// Sends an ACK or BYE of an orphaned INVITE, over the INVITE's
    /// transport with the INVITE's Via host.
    fn send_orphan_message(&mut self, key: &TransactionKey, mut request: Request, now: Instant) {
        let Some(uac) = self.orphans.get(key) else {
            return;
        };
        let Ok(via) = uac.invite().headers.top_via() else {
            return;
        };
        let sent_by = match via.port {
            Some(port) => format!("{}:{port}", via.host),
            None => via.host.to_string(),
        };
        let transport = match via.transport.to_ascii_uppercase().as_str() {
            "TLS" => Transport::Tls,
            "TCP" => Transport::Tcp,
            _ => Transport::Udp,
        };
        let _ = sip_core::fill_via_sent_by(&mut request, wire::via_token(transport), &sent_by);
        let hop = wire::dialog_next_hop(&request, transport);
        if request.method == Method::Ack {
            self.send_direct(request.into(), hop);
        } else {
            self.send_request(request, hop, Purpose::Ignore, now);
        }
    }
}

/// Whether a gate peer may speak for a leg's peer (an in-dialog request
/// must come from the party the dialog is with).
fn peer_matches(leg: &LegPeer, peer: &Peer) -> bool {
    match (leg, peer) {
        (LegPeer::Teams(_), Peer::Teams) => true,
        (LegPeer::Trunk(trunk), Peer::Trunk(other)) => trunk == other,
        (LegPeer::Trunk(_) | LegPeer::Uri, Peer::Unverified) => true,
        (LegPeer::Uri, Peer::Trunk(_)) => true,
        _ => false,
    }
}
