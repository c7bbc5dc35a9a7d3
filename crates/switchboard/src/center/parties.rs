//! More than two parties on a connected call: supervisors (listen,
//! whisper, barge), a third party (3-way) and consultations (the caller
//! on hold while the agent talks to someone, then transfer, merge or
//! return).
//!
//! Requests come from the API ([`Center::handle_request`]); each new
//! party is a leg the B2BUA adds to the call ([`Action::AddParty`]).
//! After every change the center computes the call's media [`Layout`]:
//! who is bridged to whom, who is in the call's conference and with
//! which role, who hears music; `serve` applies it on the relay. Once
//! only two parties are left, the B2BUA is told to carry the call as an
//! ordinary two-party call again ([`Action::Pair`]).

use std::time::Instant;

use sbc::{CallId, DialTarget, LegId};

use super::{Action, Center, Fact};

/// How a supervisor joins a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SuperviseMode {
    /// Hears caller and agent; heard by nobody.
    Listen,
    /// Hears both; heard by the agent only (coaching).
    Whisper,
    /// Hears both; heard by both.
    Barge,
}

/// Something asked of a call through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// A supervisor's Teams user joins the call.
    Supervise {
        supervisor: DialTarget,
        mode: SuperviseMode,
    },
    /// The supervisors on the call change mode.
    SetSuperviseMode(SuperviseMode),
    /// A third party joins caller and agent (3-way call).
    AddParty(DialTarget),
    /// The caller waits with music while the agent talks to `target`.
    Consult(DialTarget),
    /// The consulted party takes the caller; the agent leaves.
    CompleteConsult,
    /// Caller, agent and consulted party talk together.
    MergeConsult,
    /// The consulted party leaves; caller and agent talk again.
    CancelConsult,
    /// Every leg of the call is hung up.
    HangUp,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RequestError {
    #[error("no such call")]
    NoSuchCall,
    #[error("the call is not connected to an agent")]
    NotConnected,
    #[error("another party is being added to the call")]
    Busy,
    #[error("no consultation on this call")]
    NoConsult,
    #[error("no supervisor on this call")]
    NoSupervisor,
}

/// A conference role on the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MixRole {
    Normal,
    Listen,
    /// Heard by this leg only.
    Whisper(LegId),
    Barge,
}

/// Where each leg's media goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Pairs relayed to each other.
    pub(crate) bridged: Vec<(LegId, LegId)>,
    /// Members of the call's conference.
    pub(crate) mixed: Vec<(LegId, MixRole)>,
    /// Legs that hear music on hold.
    pub(crate) held: Vec<LegId>,
}

/// Why a party leg is on the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PartyKind {
    Supervisor(SuperviseMode),
    ThirdParty,
    Consulted,
}

/// A leg added to a connected call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PartyLeg {
    leg: LegId,
    kind: PartyKind,
    answered: bool,
}

/// The parties of a connected call beyond the first two.
#[derive(Debug, Default)]
pub(super) struct Parties {
    /// The party asked for and not placed yet.
    placing: Option<PartyKind>,
    legs: Vec<PartyLeg>,
}

impl Parties {
    fn up(&self) -> impl Iterator<Item = &PartyLeg> {
        self.legs.iter().filter(|p| p.answered)
    }

    fn consulted(&self) -> Option<&PartyLeg> {
        self.legs.iter().find(|p| p.kind == PartyKind::Consulted)
    }

    /// Party legs on the call or ringing.
    pub(super) fn count(&self) -> usize {
        self.legs.len()
    }

    fn busy(&self) -> bool {
        self.placing.is_some() || self.legs.iter().any(|p| !p.answered)
    }
}

impl Center {
    /// A request of the API about `call`.
    pub(crate) fn handle_request(
        &mut self,
        now: Instant,
        call: CallId,
        request: Request,
    ) -> Result<(), RequestError> {
        self.clock = now;
        let entry = self.calls.get_mut(&call).ok_or(RequestError::NoSuchCall)?;
        if request == Request::HangUp {
            self.actions.push_back(Action::HangUp { call });
            return Ok(());
        }
        let (Some(_), Some(_), true) = (entry.first_leg, entry.second_leg, entry.connected) else {
            return Err(RequestError::NotConnected);
        };
        let parties = &mut entry.parties;
        let consult = matches!(request, Request::Consult(_));
        match request {
            Request::Supervise { supervisor, mode } => {
                if parties.busy() || parties.consulted().is_some() {
                    return Err(RequestError::Busy);
                }
                parties.placing = Some(PartyKind::Supervisor(mode));
                self.actions.push_back(Action::AddParty {
                    call,
                    target: supervisor,
                });
            }
            Request::SetSuperviseMode(mode) => {
                let mut found = false;
                for party in &mut parties.legs {
                    if let PartyKind::Supervisor(old) = &mut party.kind {
                        *old = mode;
                        found = true;
                    }
                }
                if !found {
                    return Err(RequestError::NoSupervisor);
                }
                self.arrange(call);
            }
            Request::AddParty(target) | Request::Consult(target) => {
                if parties.busy() || parties.consulted().is_some() {
                    return Err(RequestError::Busy);
                }
                if consult && parties.legs.iter().any(|p| p.answered) {
                    return Err(RequestError::Busy);
                }
                parties.placing = Some(if consult {
                    PartyKind::Consulted
                } else {
                    PartyKind::ThirdParty
                });
                self.actions.push_back(Action::AddParty { call, target });
                if consult {
                    // The caller waits with music from now on.
                    self.arrange(call);
                }
            }
            Request::CompleteConsult => {
                let consulted = parties.consulted().copied();
                let Some(consulted) = consulted.filter(|p| p.answered) else {
                    return Err(RequestError::NoConsult);
                };
                self.complete_consult(now, call, consulted.leg);
            }
            Request::MergeConsult => {
                let Some(party) = parties
                    .legs
                    .iter_mut()
                    .find(|p| p.kind == PartyKind::Consulted && p.answered)
                else {
                    return Err(RequestError::NoConsult);
                };
                party.kind = PartyKind::ThirdParty;
                self.arrange(call);
            }
            Request::HangUp => {}
            Request::CancelConsult => {
                let Some(consulted) = parties.consulted().copied() else {
                    return Err(RequestError::NoConsult);
                };
                self.actions.push_back(Action::HangUpParty {
                    call,
                    leg: consulted.leg,
                });
            }
        }
        Ok(())
    }

    /// The Teams number of a user named by an agent's name (in `call`'s
    /// tenant), number, SIP address or object id.
    pub(crate) fn resolve_user(&self, call: CallId, user: &str) -> Option<sbc::E164> {
        let tenant = self.calls.get(&call)?.tenant;
        let by_name = self
            .agent_names
            .iter()
            .find(|a| a.id.tenant() == tenant && a.name == user)
            .and_then(|a| self.agent_number(a.id));
        by_name.or_else(|| self.users.get(&user.to_ascii_lowercase()).cloned())
    }

    /// The outcome of an [`Action::AddParty`].
    pub(crate) fn handle_party_dialled(
        &mut self,
        call: CallId,
        leg: Result<LegId, sbc::DialError>,
    ) {
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(kind) = entry.parties.placing.take() else {
            return;
        };
        match leg {
            Ok(leg) => entry.parties.legs.push(PartyLeg {
                leg,
                kind,
                answered: false,
            }),
            Err(error) => {
                tracing::warn!(%call, %error, "party not dialled");
                // A consultation that cannot start gives the caller back.
                self.arrange(call);
            }
        }
    }

    /// Whether `leg` is a party leg of `call` (its dial outcomes and
    /// hang-ups are handled here).
    pub(crate) fn is_party(&self, call: CallId, leg: LegId) -> bool {
        self.calls
            .get(&call)
            .is_some_and(|entry| entry.parties.legs.iter().any(|p| p.leg == leg))
    }

    /// A party leg answered.
    pub(super) fn party_answered(&mut self, call: CallId, leg: LegId) {
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        if let Some(party) = entry.parties.legs.iter_mut().find(|p| p.leg == leg) {
            party.answered = true;
        }
        self.arrange(call);
    }

    /// A leg of a call with parties hung up (or failed to answer).
    pub(crate) fn handle_party_left(&mut self, now: Instant, call: CallId, leg: LegId) {
        self.clock = now;
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        if let Some(index) = entry.parties.legs.iter().position(|p| p.leg == leg) {
            entry.parties.legs.remove(index);
            return self.arrange(call);
        }
        // The caller or the agent left a call with parties: the ACD's
        // part of the call is over; the others talk on.
        let by_caller = if entry.first_leg == Some(leg) {
            entry.first_leg = None;
            !entry.originated
        } else if entry.second_leg == Some(leg) {
            entry.second_leg = None;
            entry.originated
        } else {
            return;
        };
        self.leave_queue_part(now, call, by_caller);
        self.promote_third_party(call);
        self.arrange(call);
    }

    /// The consulted party takes the caller; the agent leaves the call.
    fn complete_consult(&mut self, now: Instant, call: CallId, consulted: LegId) {
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        let tenant = entry.tenant;
        let agent = if entry.originated {
            entry.first_leg.take()
        } else {
            entry.second_leg.take()
        };
        if let Some(party) = entry.parties.legs.iter_mut().find(|p| p.leg == consulted) {
            party.kind = PartyKind::ThirdParty;
        }
        let target = format!("consult:{}", consulted.0);
        self.fact(call, tenant, now, Fact::Transferred { target });
        if let Some(agent) = agent {
            self.actions
                .push_back(Action::HangUpParty { call, leg: agent });
        }
        let result = self.end_queue_part(now, call, acd::EndReason::Transferred);
        self.engine_input(result);
        self.promote_third_party(call);
        self.arrange(call);
        self.pump_engine();
    }

    /// The agent or the caller left: the interaction ends for the ACD.
    fn leave_queue_part(&mut self, now: Instant, call: CallId, by_caller: bool) {
        let reason = if by_caller {
            acd::EndReason::CallerHangup
        } else {
            acd::EndReason::AgentHangup
        };
        let result = self.end_queue_part(now, call, reason);
        self.engine_input(result);
        self.pump_engine();
    }

    fn end_queue_part(
        &mut self,
        now: Instant,
        call: CallId,
        reason: acd::EndReason,
    ) -> Result<(), acd::InputError> {
        let Some(interaction) = self.calls.get_mut(&call).and_then(|e| e.interaction.take()) else {
            return Ok(());
        };
        self.by_interaction.remove(&interaction);
        self.engine.handle_call_ended(now, interaction, reason)
    }

    /// With the caller or the agent gone, a third party takes the empty
    /// place, so that the two who remain form a pair.
    fn promote_third_party(&mut self, call: CallId) {
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        for slot in [&mut entry.first_leg, &mut entry.second_leg] {
            if slot.is_some() {
                continue;
            }
            let found = entry
                .parties
                .legs
                .iter()
                .position(|p| p.answered && p.kind == PartyKind::ThirdParty);
            if let Some(index) = found {
                *slot = Some(entry.parties.legs.remove(index).leg);
            }
        }
    }

    /// Computes and orders the call's media layout; pairs the B2BUA's
    /// legs again when two parties are left, ends the call when fewer.
    pub(super) fn arrange(&mut self, call: CallId) {
        let Some(entry) = self.calls.get(&call) else {
            return;
        };
        let (Some(first), Some(second)) = (entry.first_leg, entry.second_leg) else {
            // One party (with supervisors at most) is no call any more.
            self.actions.push_back(Action::HangUp { call });
            return;
        };
        let (agent, customer) = if entry.originated {
            (first, second)
        } else {
            (second, first)
        };
        let parties = &entry.parties;
        let mut layout = Layout::default();
        let consulted = parties.consulted();
        if consulted.is_some() || parties.placing == Some(PartyKind::Consulted) {
            layout.held.push(customer);
            if let Some(party) = consulted.filter(|p| p.answered) {
                layout.bridged.push((agent, party.leg));
            }
        } else if parties.up().next().is_some() {
            layout.mixed.push((first, MixRole::Normal));
            layout.mixed.push((second, MixRole::Normal));
            for party in parties.up() {
                let role = match party.kind {
                    PartyKind::Supervisor(SuperviseMode::Listen) => MixRole::Listen,
                    PartyKind::Supervisor(SuperviseMode::Whisper) => MixRole::Whisper(agent),
                    PartyKind::Supervisor(SuperviseMode::Barge) => MixRole::Barge,
                    PartyKind::ThirdParty | PartyKind::Consulted => MixRole::Normal,
                };
                layout.mixed.push((party.leg, role));
            }
        } else {
            layout.bridged.push((first, second));
            if parties.legs.is_empty() {
                self.actions.push_back(Action::Pair {
                    call,
                    a: first,
                    b: second,
                });
            }
        }
        self.actions.push_back(Action::Arrange { call, layout });
    }
}
