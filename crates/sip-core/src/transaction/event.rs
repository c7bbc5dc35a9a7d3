//! What a transaction asks its caller to do: messages to send and events
//! for the transaction user (TU).

use std::collections::VecDeque;

use sip::{Message, Request, Response};

use super::key::TransactionKey;
use super::timers::Timer;

/// A message the transaction wants sent, to the destination of the
/// transaction (the driver knows it by [`Transmit::key`]).
#[derive(Debug, Clone)]
pub struct Transmit {
    /// The transaction that produced the message.
    pub key: TransactionKey,
    /// The request, ACK or response to send; serialize with
    /// [`Message::to_bytes`].
    pub message: Message,
}

/// Something the transaction user must know about.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TransactionEvent {
    /// A response for the TU (client transactions): provisional, final, and
    /// in the Accepted state each 2xx retransmission (RFC 6026 §8.4).
    Response(Response),
    /// An ACK received by a server INVITE transaction in the Accepted state:
    /// it acknowledges a 2xx and belongs to the TU (RFC 6026 §8.7).
    Ack(Request),
    /// A retransmitted request (server) or final response (client) was
    /// absorbed; whatever had to be re-sent is in the transmit queue.
    RetransmissionAbsorbed,
    /// Timer B, F or H fired: the peer never answered or never acknowledged.
    Timeout {
        /// The timer that fired.
        timer: Timer,
    },
    /// The transport reported a failure to send; the transaction is over
    /// (RFC 3261 §17.1.4, §17.2.4).
    TransportError,
    /// The transaction reached the Terminated state; drop it.
    Terminated,
}

/// The output queues every transaction keeps.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    transmits: VecDeque<Message>,
    events: VecDeque<TransactionEvent>,
}

impl Outputs {
    pub(crate) fn transmit(&mut self, message: impl Into<Message>) {
        self.transmits.push_back(message.into());
    }

    pub(crate) fn event(&mut self, event: TransactionEvent) {
        self.events.push_back(event);
    }

    pub(crate) fn poll_transmit(&mut self, key: &TransactionKey) -> Option<Transmit> {
        let message = crate::queue::pop_releasing(&mut self.transmits)?;
        Some(Transmit {
            key: key.clone(),
            message,
        })
    }

    pub(crate) fn poll_event(&mut self) -> Option<TransactionEvent> {
        crate::queue::pop_releasing(&mut self.events)
    }
}
