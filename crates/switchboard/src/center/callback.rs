//! Callbacks: a caller who would wait too long keeps their place in line
//! and hangs up; when the place comes to the front, the engine picks a
//! free agent, switchboard rings the agent on a call of its own
//! ([`sbc::B2bua::originate`]) and, once the agent answers, dials the
//! customer on the PSTN and bridges the two.
//!
//! The offer ([`OverflowAction::OfferCallback`] of a queue's overflow)
//! is the prompt `callback-offer` over the music; "1" accepts it, the
//! caller hears `callback-confirmed` and the call ends. An offer nobody
//! accepts in time ends the call (the engine's `CallbackCancelled`).
//! Only callers whose number is E.164 can be called back.
//!
//! [`OverflowAction::OfferCallback`]: acd::OverflowAction::OfferCallback

use std::time::Instant;

use acd::{AgentId, InteractionId, TenantId};
use sbc::{CallId, LegId, E164};

use super::{Action, Center, CenterCall, Fact, Ring};

/// A callback the engine keeps in line.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    tenant: TenantId,
    number: E164,
    /// The number the customer called: what they see when called back.
    did: Option<E164>,
}

impl Center {
    /// The queue's overflow offers the caller a callback.
    pub(super) fn offer_callback(&mut self, interaction: InteractionId) {
        let Some(call) = self.by_interaction.get(&interaction).copied() else {
            return;
        };
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        let callable = entry
            .caller
            .as_deref()
            .is_some_and(|n| E164::parse(n).is_ok());
        if !callable {
            // Nobody to call back: the offer lapses (the engine's
            // `CallbackCancelled` ends the call).
            tracing::info!(%call, "callback offer skipped: the caller's number is not E.164");
            return;
        }
        entry.offering_callback = true;
        self.actions.push_back(Action::Play {
            call,
            request: None,
            prompts: vec!["callback-offer".to_owned()],
            barge_in: true,
        });
    }

    /// The caller pressed "1" on the offer.
    pub(super) fn request_callback(&mut self, now: Instant, call: CallId) {
        let Some(entry) = self.calls.get(&call) else {
            return;
        };
        let (Some(interaction), Some(number)) = (
            entry.interaction,
            entry.caller.as_deref().and_then(|n| E164::parse(n).ok()),
        ) else {
            return;
        };
        let tenant = entry.tenant;
        let did = entry.did.as_deref().and_then(|n| E164::parse(n).ok());
        let requested =
            self.engine
                .handle_callback_requested(now, interaction, number.as_str().to_owned());
        let callback = match requested {
            Ok(Some(callback)) => callback,
            Ok(None) => return,
            Err(error) => {
                self.stats.engine_refused += 1;
                tracing::warn!(%call, %error, "callback not taken");
                return;
            }
        };
        self.callbacks.insert(
            callback,
            Pending {
                tenant,
                number,
                did,
            },
        );
        self.by_interaction.remove(&interaction);
        if let Some(entry) = self.calls.get_mut(&call) {
            entry.interaction = None;
            entry.offering_callback = false;
        }
        let target = format!("callback:{callback}");
        self.fact(call, tenant, now, Fact::Transferred { target });
        self.hang_up_after(call, vec!["callback-confirmed".to_owned()]);
        self.pump_engine();
    }

    /// The engine offers a callback to `agent`: ring them on a call of
    /// switchboard's own.
    pub(super) fn ring_for_callback(&mut self, interaction: InteractionId, agent: AgentId) {
        let Some(pending) = self.callbacks.get(&interaction) else {
            return;
        };
        let tenant = self.tenant_name(pending.tenant);
        match (tenant, self.agent_number(agent)) {
            (Some(tenant), Some(number)) => self.actions.push_back(Action::Originate {
                tenant,
                interaction,
                agent,
                number,
                caller_id: pending.number.clone(),
            }),
            _ => {
                tracing::warn!(%agent, "agent without a Teams phone number");
                self.stats.unsupported += 1;
            }
        }
    }

    /// The outcome of an [`Action::Originate`]: the new call and its
    /// agent leg.
    pub(crate) fn handle_originated(
        &mut self,
        now: Instant,
        interaction: InteractionId,
        agent: AgentId,
        placed: Result<(CallId, LegId), sbc::DialError>,
    ) {
        self.clock = now;
        let Some(pending) = self.callbacks.get(&interaction).cloned() else {
            return;
        };
        let (call, leg) = match placed {
            Ok(placed) => placed,
            Err(error) => {
                tracing::warn!(%interaction, %error, "callback agent not rung");
                let result = self.engine_no_answer(now, interaction, agent);
                self.engine_input(result);
                return self.pump_engine();
            }
        };
        self.calls.insert(
            call,
            CenterCall {
                tenant: pending.tenant,
                flow: "callback".to_owned(),
                run: None,
                interaction: Some(interaction),
                connected: false,
                hang_up_after_prompt: false,
                queued_with: None,
                caller: Some(pending.number.as_str().to_owned()),
                did: pending.did.as_ref().map(|d| d.as_str().to_owned()),
                offering_callback: false,
                originated: true,
                first_leg: Some(leg),
                second_leg: None,
                parties: super::parties::Parties::default(),
            },
        );
        self.by_interaction.insert(interaction, call);
        self.rings.insert(
            leg,
            Ring {
                call,
                interaction,
                agent,
                cancelled: false,
            },
        );
        let started = Fact::Started {
            caller: pending.number.as_str().to_owned(),
            did: "callback".to_owned(),
        };
        self.fact(call, pending.tenant, now, started);
        self.fact(call, pending.tenant, now, Fact::Queued(interaction));
        self.pump_engine();
    }

    /// The agent answered a callback: dial the customer.
    pub(super) fn place_callback(&mut self, interaction: InteractionId, number: &str) {
        let Some(call) = self.by_interaction.get(&interaction).copied() else {
            return;
        };
        match E164::parse(number) {
            Ok(number) => {
                let caller_id = self
                    .calls
                    .get(&call)
                    .and_then(|c| c.did.as_deref())
                    .and_then(|n| E164::parse(n).ok());
                self.actions.push_back(Action::DialCustomer {
                    call,
                    interaction,
                    number,
                    caller_id,
                });
            }
            Err(_) => {
                let result = self
                    .engine
                    .handle_callback_result(self.clock, interaction, false);
                self.engine_input(result);
                self.actions.push_back(Action::HangUp { call });
            }
        }
    }

    /// The outcome of an [`Action::DialCustomer`].
    pub(crate) fn handle_customer_dialled(
        &mut self,
        now: Instant,
        call: CallId,
        interaction: InteractionId,
        leg: Result<LegId, sbc::DialError>,
    ) {
        self.clock = now;
        match leg {
            Ok(leg) => {
                self.customer_dials.insert(leg, (call, interaction));
            }
            Err(error) => {
                tracing::warn!(%call, %error, "callback customer not dialled");
                let result = self.engine.handle_callback_result(now, interaction, false);
                self.engine_input(result);
                self.actions.push_back(Action::HangUp { call });
                self.pump_engine();
            }
        }
    }

    /// The customer answered: the engine connects them to the agent.
    pub(super) fn customer_answered(&mut self, now: Instant, leg: LegId) {
        let Some((call, interaction)) = self.customer_dials.remove(&leg) else {
            return;
        };
        if let Some(entry) = self.calls.get_mut(&call) {
            entry.connected = true;
            entry.second_leg = Some(leg);
        }
        self.callbacks.remove(&interaction);
        let result = self.engine.handle_callback_result(now, interaction, true);
        self.engine_input(result);
        self.pump_engine();
    }

    /// The customer did not answer: the attempt ends (the engine retries
    /// later, up to the queue's attempts) and so does the agent's call.
    pub(super) fn customer_not_reached(&mut self, now: Instant, leg: LegId) {
        let Some((call, interaction)) = self.customer_dials.remove(&leg) else {
            return;
        };
        let result = self.engine.handle_callback_result(now, interaction, false);
        self.engine_input(result);
        self.actions.push_back(Action::HangUp { call });
        self.pump_engine();
    }

    /// The agent's call of a callback ended before the customer answered.
    pub(super) fn abandon_customer_dials(&mut self, now: Instant, call: CallId) {
        let legs: Vec<LegId> = self
            .customer_dials
            .iter()
            .filter(|(_, (c, _))| *c == call)
            .map(|(leg, _)| *leg)
            .collect();
        for leg in legs {
            if let Some((_, interaction)) = self.customer_dials.remove(&leg) {
                let result = self.engine.handle_callback_result(now, interaction, false);
                self.engine_input(result);
            }
        }
    }

    /// Keeps the callbacks table to those the engine still has; ends a
    /// call whose callback offer lapsed.
    pub(super) fn callback_event(&mut self, event: &acd::Event) {
        match &event.kind {
            acd::EventKind::CallbackFailed { interaction, .. }
            | acd::EventKind::CallbackExpired { interaction, .. } => {
                self.callbacks.remove(interaction);
            }
            acd::EventKind::CallbackCancelled { interaction, .. } => {
                if let Some(call) = self.by_interaction.remove(interaction) {
                    if let Some(entry) = self.calls.get_mut(&call) {
                        entry.interaction = None;
                        entry.offering_callback = false;
                    }
                    self.hang_up_after(call, vec!["goodbye".to_owned()]);
                }
            }
            _ => {}
        }
    }
}
