//! Whole-engine consistency checks for the tests: every link between
//! agents, interactions, lines and indexes agrees, nobody is stuck past a
//! deadline, and dispatch reached its fixpoint.

use std::time::Instant;

use super::Engine;
use crate::agent::AgentState;
use crate::dispatch::ring_for;
use crate::ids::{AgentId, InteractionId, QueueId};
use crate::interaction::InteractionState;
use crate::queue::LineOrder;

impl Engine {
    /// `Err` names the first broken invariant. Call after
    /// `handle_timeout(now)`.
    pub(crate) fn check_invariants(&self, now: Instant) -> Result<(), String> {
        self.check_agents(now)?;
        self.check_queues(now)?;
        self.check_interactions(now)?;
        if let Some((call, agent)) = self.unserved_pair(now) {
            return Err(format!("{call} waits while {agent} is free and qualifies"));
        }
        self.check_best_calls(now)
    }

    /// For every agent, free or not, the indexed pick
    /// ([`Engine::best_call_for`]) is the best caller found by sorting
    /// each of its queues' whole line.
    fn check_best_calls(&self, now: Instant) -> Result<(), String> {
        for (id, agent) in &self.agents {
            let queues = || {
                agent
                    .config
                    .queues
                    .iter()
                    .filter(|m| m.opted_in)
                    .map(|m| m.queue)
            };
            let (indexed, _) = self.best_call_for(agent, queues(), now);
            let mut scanned: Option<(LineOrder, InteractionId, QueueId)> = None;
            for queue_id in queues() {
                let Some(queue) = self.queues.get(&queue_id) else {
                    continue;
                };
                let mut line: Vec<_> = queue
                    .waiters()
                    .map(|waiter| (queue.order(waiter, now), waiter.id))
                    .collect();
                line.sort_unstable();
                let first = line.into_iter().find(|(_, call)| {
                    self.interactions.get(call).is_some_and(|call| {
                        !call.tried.contains(id) && ring_for(agent, queue, call, now).is_some()
                    })
                });
                if let Some((order, call)) = first {
                    if scanned.as_ref().is_none_or(|(best, _, _)| order < *best) {
                        scanned = Some((order, call, queue_id));
                    }
                }
            }
            if indexed != scanned {
                return Err(format!(
                    "{id}: the index picks {indexed:?}, the whole line {scanned:?}"
                ));
            }
        }
        Ok(())
    }

    /// Everything, for debugging a failed test.
    #[allow(dead_code)]
    pub(crate) fn dump(&self) -> String {
        let mut out = String::new();
        for (id, agent) in &self.agents {
            out += &format!(
                "{id}: {:?} {:?} idle_in={:?}\n",
                agent.machine, agent.presence, agent.idle_in
            );
        }
        for (id, call) in &self.interactions {
            out += &format!("{id}: {:?}\n", call);
        }
        out
    }

    /// Interactions the engine still tracks.
    pub(crate) fn live_interactions(&self) -> usize {
        self.interactions.len()
    }

    /// A waiting interaction and a free agent who qualifies for it.
    pub(crate) fn unserved_pair(&self, now: Instant) -> Option<(InteractionId, AgentId)> {
        for call in self.interactions.values() {
            if call.state != InteractionState::Waiting {
                continue;
            }
            let queue = self.queues.get(&call.queue)?;
            for (id, agent) in &self.agents {
                if agent.is_routable(self.presence_routing(id.tenant()))
                    && ring_for(agent, queue, call, now).is_some()
                {
                    return Some((call.id, *id));
                }
            }
        }
        None
    }

    fn check_agents(&self, now: Instant) -> Result<(), String> {
        for (id, agent) in &self.agents {
            let timer_at = agent
                .timer
                .filter(|key| self.timers.contains(*key))
                .map(|key| key.at);
            match agent.machine.state {
                AgentState::Reserved {
                    interaction,
                    alert_until,
                    ..
                } => {
                    if interaction.tenant() != id.tenant() {
                        return Err(format!("{id} reserved for {interaction} of another tenant"));
                    }
                    let ringing = self.interactions.get(&interaction).is_some_and(|call| {
                        matches!(&call.state, InteractionState::Ringing { agents, .. } if agents.contains(id))
                    });
                    if !ringing {
                        return Err(format!(
                            "{id} reserved for {interaction}, which is not ringing it"
                        ));
                    }
                    if alert_until <= now {
                        return Err(format!("{id} still reserved past its alert time"));
                    }
                    if timer_at != Some(alert_until) {
                        return Err(format!("{id} reserved without an alert timer"));
                    }
                }
                AgentState::OnCall { interaction, .. } => {
                    let on_it = self.interactions.get(&interaction).is_some_and(|call| {
                        matches!(call.state,
                            InteractionState::Connected { agent, .. }
                            | InteractionState::CallbackDialing { agent } if agent == *id)
                    });
                    if !on_it {
                        return Err(format!(
                            "{id} on call with {interaction}, which is not connected to it"
                        ));
                    }
                }
                AgentState::WrapUp { until, .. } => {
                    if until <= now {
                        return Err(format!("{id} still wrapping up past its end"));
                    }
                    if timer_at != Some(until) {
                        return Err(format!("{id} wrapping up without a timer"));
                    }
                }
                AgentState::Offline
                | AgentState::Available { .. }
                | AgentState::NotReady { .. } => {
                    if agent.timer.is_some() {
                        return Err(format!(
                            "{id} has a timer in state {:?}",
                            agent.machine.state
                        ));
                    }
                }
            }
            let presence_routing = self.presence_routing(id.tenant());
            let opted_in = agent.config.queues.iter().filter(|m| m.opted_in).count();
            let want_idle = if agent.is_routable(presence_routing) {
                opted_in
            } else {
                0
            };
            if agent.idle_in.len() != want_idle {
                return Err(format!(
                    "{id} is indexed free in {} queues, not {want_idle}",
                    agent.idle_in.len()
                ));
            }
            for (queue, key) in &agent.idle_in {
                if !self.queues.get(queue).is_some_and(|q| q.idle.contains(key)) {
                    return Err(format!("{id} missing from the free index of {queue}"));
                }
            }
            let want_staffed = if agent.is_staffing(presence_routing) {
                opted_in
            } else {
                0
            };
            if agent.staffed_in.len() != want_staffed {
                return Err(format!(
                    "{id} staffs {} queues, not {want_staffed}",
                    agent.staffed_in.len()
                ));
            }
        }
        Ok(())
    }

    fn check_queues(&self, now: Instant) -> Result<(), String> {
        for (id, queue) in &self.queues {
            queue.check_line()?;
            for key in &queue.idle {
                let listed = self
                    .agents
                    .get(&key.agent)
                    .is_some_and(|agent| agent.idle_in.contains(&(*id, *key)));
                if !listed {
                    return Err(format!("{id} lists {} as free, stale", key.agent));
                }
            }
            let staffed = self
                .agents
                .values()
                .filter(|agent| agent.staffed_in.contains(id))
                .count();
            if staffed != queue.staffed {
                return Err(format!(
                    "{id} counts {} staffing agents, not {staffed}",
                    queue.staffed
                ));
            }
            let mut count = 0;
            let mut line: Vec<_> = queue.waiters().map(|w| (queue.order(w, now), *w)).collect();
            line.sort_unstable_by_key(|(order, _)| *order);
            for (at, (_, waiter)) in line.iter().enumerate() {
                let position = queue.position(waiter, now);
                if usize::try_from(position).ok() != Some(at + 1) {
                    return Err(format!(
                        "{}: position {position}, not {}",
                        waiter.id,
                        at + 1
                    ));
                }
            }
            for waiter in queue.waiters() {
                count += 1;
                let good = self.interactions.get(&waiter.id).is_some_and(|call| {
                    call.state == InteractionState::Waiting
                        && call.queue == *id
                        && call.waiter() == *waiter
                });
                if !good {
                    return Err(format!(
                        "{id} has {} in line, but it is not waiting there",
                        waiter.id
                    ));
                }
            }
            if count != queue.len() {
                return Err(format!("{id} counts {} in line, not {count}", queue.len()));
            }
        }
        Ok(())
    }

    fn check_interactions(&self, now: Instant) -> Result<(), String> {
        for (id, call) in &self.interactions {
            if call.queue.tenant() != id.tenant() {
                return Err(format!("{id} sits in {} of another tenant", call.queue));
            }
            let in_line = self
                .queues
                .get(&call.queue)
                .and_then(|queue| queue.get(call.priority, call.place))
                .is_some_and(|waiter| waiter.id == *id);
            if in_line != (call.state == InteractionState::Waiting) {
                return Err(format!("{id} is {:?} but in line: {in_line}", call.state));
            }
            let agent_on = |agent: AgentId, ringing: bool| {
                self.agents
                    .get(&agent)
                    .is_some_and(|record| match record.machine.state {
                        AgentState::Reserved { interaction, .. } => ringing && interaction == *id,
                        AgentState::OnCall { interaction, .. } => !ringing && interaction == *id,
                        _ => false,
                    })
            };
            match &call.state {
                InteractionState::Ringing { agents, .. } => {
                    if agents.is_empty() {
                        return Err(format!("{id} rings nobody"));
                    }
                    for agent in agents {
                        if agent.tenant() != id.tenant() || !agent_on(*agent, true) {
                            return Err(format!("{id} rings {agent}, who is not reserved for it"));
                        }
                    }
                }
                InteractionState::Connected { agent, .. }
                | InteractionState::CallbackDialing { agent } => {
                    if agent.tenant() != id.tenant() || !agent_on(*agent, false) {
                        return Err(format!("{id} is connected to {agent}, who is not on it"));
                    }
                }
                InteractionState::Waiting | InteractionState::CallbackRetryWait { .. } => {
                    if let Some(callback) = &call.callback {
                        if callback.expires_at.is_some_and(|at| at <= now) {
                            return Err(format!("{id} kept past its maximum age"));
                        }
                        let armed = call
                            .timers
                            .expiry
                            .filter(|key| self.timers.contains(*key))
                            .map(|key| key.at);
                        if armed != callback.expires_at {
                            return Err(format!("{id} has no timer for its maximum age"));
                        }
                    }
                }
                InteractionState::CallbackOffered { .. } => {}
            }
        }
        Ok(())
    }
}
