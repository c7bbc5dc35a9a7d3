//! Conversion of the engine's [`acd::Event`]s to [`StoredEvent`]s: a
//! stable kind name per [`acd::EventKind`] variant and a JSON body with
//! stable snake_case values for the engine's enums.

use acd::{
    AgentStatus, CancelReason, EndReason, Event, EventKind, IgnoreReason, InputKind, InteractionId,
    InteractionKind, InteractionStatus, NotReadyReason, OverflowAction, OverflowReason, Presence,
    RingOutcome,
};
use serde_json::{json, Value};

use crate::record::{kind, millis_i64, StoredEvent, WallClock};

/// `event` as the log entry `seq`. `key` names the call record of an
/// interaction (see [`crate::Recorder`], which does this for you); the
/// engine's own number is kept in the body as `interaction_id`.
pub fn engine_event(
    event: &Event,
    seq: u64,
    clock: &WallClock,
    key: impl Fn(InteractionId) -> String,
) -> StoredEvent {
    let (interaction, kind, body) = describe(&event.kind, clock, &key);
    StoredEvent {
        seq,
        tenant: event.tenant.get(),
        at_unix_ms: clock.unix_ms(event.at),
        interaction: interaction.map(&key),
        kind: kind.to_owned(),
        body,
    }
}

/// The interaction the event belongs to, its kind name and its body.
fn describe(
    event: &EventKind,
    clock: &WallClock,
    key: &impl Fn(InteractionId) -> String,
) -> (Option<InteractionId>, &'static str, Value) {
    match event {
        EventKind::Queued {
            interaction,
            queue,
            kind,
            priority,
            position,
        } => (
            Some(*interaction),
            kind::QUEUED,
            json!({
                "interaction_id": interaction.local(),
                "queue": queue.local(),
                "interaction_kind": interaction_kind(*kind),
                "priority": priority.0,
                "position": position,
            }),
        ),
        EventKind::AgentOffered {
            interaction,
            queue,
            agent,
            alert_until,
        } => (
            Some(*interaction),
            kind::AGENT_OFFERED,
            json!({
                "interaction_id": interaction.local(),
                "queue": queue.local(),
                "agent": agent.local(),
                "alert_until_unix_ms": clock.unix_ms(*alert_until),
            }),
        ),
        EventKind::RingNoAnswer {
            interaction,
            queue,
            agent,
            outcome,
            rang,
        } => (
            Some(*interaction),
            kind::RING_NO_ANSWER,
            json!({
                "interaction_id": interaction.local(),
                "queue": queue.local(),
                "agent": agent.local(),
                "outcome": ring_outcome(*outcome),
                "rang_ms": millis_i64(*rang),
            }),
        ),
        EventKind::RingCancelled {
            interaction,
            queue,
            agent,
            reason,
        } => (
            Some(*interaction),
            kind::RING_CANCELLED,
            json!({
                "interaction_id": interaction.local(),
                "queue": queue.local(),
                "agent": agent.local(),
                "reason": cancel_reason(*reason),
            }),
        ),
        EventKind::Answered {
            interaction,
            queue,
            agent,
            kind,
            wait,
        } => (
            Some(*interaction),
            kind::ANSWERED,
            json!({
                "interaction_id": interaction.local(),
                "queue": queue.local(),
                "agent": agent.local(),
                "interaction_kind": interaction_kind(*kind),
                "wait_ms": millis_i64(*wait),
            }),
        ),
        EventKind::Abandoned {
            interaction,
            queue,
            wait,
            position,
            original_position,
            while_ringing,
        } => (
            Some(*interaction),
            kind::ABANDONED,
            json!({
                "interaction_id": interaction.local(),
                "queue": queue.local(),
                "wait_ms": millis_i64(*wait),
                "position": position,
                "original_position": original_position,
                "while_ringing": while_ringing,
            }),
        ),
        EventKind::Completed {
            interaction,
            queue,
            agent,
            talk,
            reason,
        } => (
            Some(*interaction),
            kind::COMPLETED,
            json!({
                "interaction_id": interaction.local(),
                "queue": queue.local(),
                "agent": agent.local(),
                "talk_ms": millis_i64(*talk),
                "reason": end_reason(*reason),
            }),
        ),
        EventKind::Dequeued {
            interaction,
            queue,
            wait,
            reason,
        } => (
            Some(*interaction),
            kind::DEQUEUED,
            json!({
                "interaction_id": interaction.local(),
                "queue": queue.local(),
                "wait_ms": millis_i64(*wait),
                "reason": end_reason(*reason),
            }),
        ),
        EventKind::Overflowed {
            interaction,
            queue,
            reason,
            action,
        } => (
            Some(*interaction),
            kind::OVERFLOWED,
            json!({
                "interaction_id": interaction.local(),
                "queue": queue.local(),
                "reason": overflow_reason(*reason),
                "action": overflow_action(action),
            }),
        ),
        EventKind::Announced {
            interaction,
            queue,
            position,
            ewt,
        } => (
            Some(*interaction),
            kind::ANNOUNCED,
            json!({
                "interaction_id": interaction.local(),
                "queue": queue.local(),
                "position": position,
                "ewt_ms": ewt.map(millis_i64),
            }),
        ),
        EventKind::CallbackRequested {
            interaction,
            callback,
            queue,
        } => (
            Some(*interaction),
            kind::CALLBACK_REQUESTED,
            json!({
                "interaction_id": interaction.local(),
                "callback_id": callback.local(),
                "callback": key(*callback),
                "queue": queue.local(),
            }),
        ),
        EventKind::CallbackAttempted {
            interaction,
            queue,
            agent,
            attempt,
            reached,
        } => (
            Some(*interaction),
            kind::CALLBACK_ATTEMPTED,
            json!({
                "interaction_id": interaction.local(),
                "queue": queue.local(),
                "agent": agent.local(),
                "attempt": attempt,
                "reached": reached,
            }),
        ),
        EventKind::CallbackFailed {
            interaction,
            queue,
            attempts,
        } => (
            Some(*interaction),
            kind::CALLBACK_FAILED,
            json!({
                "interaction_id": interaction.local(),
                "queue": queue.local(),
                "attempts": attempts,
            }),
        ),
        EventKind::CallbackCancelled { interaction, queue } => (
            Some(*interaction),
            kind::CALLBACK_CANCELLED,
            json!({
                "interaction_id": interaction.local(),
                "queue": queue.local(),
            }),
        ),
        EventKind::AgentStateChanged {
            agent,
            from,
            to,
            reason,
        } => (
            None,
            kind::AGENT_STATE_CHANGED,
            json!({
                "agent": agent.local(),
                "from": agent_status(*from),
                "to": agent_status(*to),
                "reason": reason.map(not_ready_reason),
            }),
        ),
        EventKind::WrapUpEnded {
            agent,
            interaction,
            queue,
            wrap_up,
        } => (
            Some(*interaction),
            kind::WRAP_UP_ENDED,
            json!({
                "interaction_id": interaction.local(),
                "agent": agent.local(),
                "queue": queue.local(),
                "wrap_up_ms": millis_i64(*wrap_up),
            }),
        ),
        EventKind::PresenceChanged { agent, presence } => (
            None,
            kind::PRESENCE_CHANGED,
            json!({
                "agent": agent.local(),
                "presence": presence_name(*presence),
            }),
        ),
        EventKind::MembershipChanged {
            agent,
            queue,
            opted_in,
        } => (
            None,
            kind::MEMBERSHIP_CHANGED,
            json!({
                "agent": agent.local(),
                "queue": queue.local(),
                "opted_in": opted_in,
            }),
        ),
        EventKind::InputIgnored {
            input,
            agent,
            interaction,
            reason,
        } => (
            *interaction,
            kind::INPUT_IGNORED,
            json!({
                "input": input_kind(*input),
                "agent": agent.map(|agent| agent.local()),
                "interaction_id": interaction.map(|id| id.local()),
                "reason": ignore_reason(*reason),
            }),
        ),
        other => (
            None,
            kind::ENGINE_OTHER,
            json!({ "debug": format!("{other:?}") }),
        ),
    }
}

fn interaction_kind(kind: InteractionKind) -> &'static str {
    match kind {
        InteractionKind::Voice => "voice",
        InteractionKind::Callback => "callback",
        _ => "unknown",
    }
}

fn ring_outcome(outcome: RingOutcome) -> &'static str {
    match outcome {
        RingOutcome::Rejected => "rejected",
        RingOutcome::NoAnswer => "no_answer",
        RingOutcome::AlertTimeout => "alert_timeout",
        _ => "unknown",
    }
}

fn cancel_reason(reason: CancelReason) -> &'static str {
    match reason {
        CancelReason::AlertTimeout => "alert_timeout",
        CancelReason::AnsweredElsewhere => "answered_elsewhere",
        CancelReason::CallerGone => "caller_gone",
        CancelReason::AgentUnavailable => "agent_unavailable",
        _ => "unknown",
    }
}

pub(crate) fn end_reason(reason: EndReason) -> &'static str {
    match reason {
        EndReason::CallerHangup => "caller_hangup",
        EndReason::AgentHangup => "agent_hangup",
        EndReason::Transferred => "transferred",
        EndReason::Failed => "failed",
        _ => "unknown",
    }
}

fn overflow_reason(reason: OverflowReason) -> &'static str {
    match reason {
        OverflowReason::QueueFull => "queue_full",
        OverflowReason::MaxWait => "max_wait",
        OverflowReason::NoAgents => "no_agents",
        _ => "unknown",
    }
}

/// `{"type": ..., <target>}`; the CDR derivation reads `type` and
/// [`overflow_target`]'s fields.
fn overflow_action(action: &OverflowAction) -> Value {
    match action {
        OverflowAction::Queue(queue) => json!({ "type": "queue", "queue": queue.local() }),
        OverflowAction::Flow(flow) => json!({ "type": "flow", "flow": flow.local() }),
        OverflowAction::Agent(agent) => json!({ "type": "agent", "agent": agent.local() }),
        OverflowAction::Voicemail { mailbox } => {
            json!({ "type": "voicemail", "mailbox": mailbox })
        }
        OverflowAction::OfferCallback => json!({ "type": "offer_callback" }),
        OverflowAction::ExternalNumber(number) => {
            json!({ "type": "external_number", "number": number })
        }
        OverflowAction::Disconnect { prompt } => json!({
            "type": "disconnect",
            "prompt": prompt.map(|prompt| prompt.local()),
        }),
        other => json!({ "type": "unknown", "debug": format!("{other:?}") }),
    }
}

fn agent_status(status: AgentStatus) -> &'static str {
    match status {
        AgentStatus::Offline => "offline",
        AgentStatus::Available => "available",
        AgentStatus::Reserved => "reserved",
        AgentStatus::OnCall => "on_call",
        AgentStatus::WrapUp => "wrap_up",
        AgentStatus::NotReady => "not_ready",
        _ => "unknown",
    }
}

fn not_ready_reason(reason: NotReadyReason) -> Value {
    match reason {
        NotReadyReason::Requested(code) => json!({ "type": "requested", "code": code.0 }),
        NotReadyReason::MissedAlerts => json!({ "type": "missed_alerts" }),
        _ => json!({ "type": "unknown" }),
    }
}

fn presence_name(presence: Presence) -> &'static str {
    match presence {
        Presence::Available => "available",
        Presence::AvailableIdle => "available_idle",
        Presence::Busy => "busy",
        Presence::BusyIdle => "busy_idle",
        Presence::DoNotDisturb => "do_not_disturb",
        Presence::BeRightBack => "be_right_back",
        Presence::Away => "away",
        Presence::Offline => "offline",
        Presence::Unknown => "unknown",
        _ => "unknown",
    }
}

fn input_kind(input: InputKind) -> Value {
    let name = match input {
        InputKind::AgentAnswered => "agent_answered",
        InputKind::AgentRingFailed => "agent_ring_failed",
        InputKind::CallEnded => "call_ended",
        InputKind::Presence => "presence",
        InputKind::AgentStateRequest(request) => {
            return json!({ "type": "agent_state_request", "request": format!("{request:?}") })
        }
        InputKind::Membership => "membership",
        InputKind::CallbackRequested => "callback_requested",
        InputKind::CallbackResult => "callback_result",
        _ => "unknown",
    };
    json!({ "type": name })
}

fn ignore_reason(reason: IgnoreReason) -> Value {
    match reason {
        IgnoreReason::AgentState(status) => {
            json!({ "type": "agent_state", "state": agent_status(status) })
        }
        IgnoreReason::InteractionState(status) => {
            json!({ "type": "interaction_state", "state": interaction_status(status) })
        }
        IgnoreReason::InteractionGone => json!({ "type": "interaction_gone" }),
        IgnoreReason::NotRinging => json!({ "type": "not_ringing" }),
        IgnoreReason::Unchanged => json!({ "type": "unchanged" }),
        _ => json!({ "type": "unknown" }),
    }
}

fn interaction_status(status: InteractionStatus) -> &'static str {
    match status {
        InteractionStatus::Waiting => "waiting",
        InteractionStatus::Ringing => "ringing",
        InteractionStatus::Connected => "connected",
        InteractionStatus::CallbackDialing => "callback_dialing",
        InteractionStatus::CallbackRetryWait => "callback_retry_wait",
        InteractionStatus::CallbackOffered => "callback_offered",
        _ => "unknown",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, Instant, UNIX_EPOCH};

    use acd::{AgentId, QueueId, TenantId};

    use super::*;

    fn key(id: InteractionId) -> String {
        format!("run1/{id}")
    }

    #[test]
    fn answered_keeps_tenant_time_and_ids() {
        let now = Instant::now();
        let clock = WallClock::new(now, UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let tenant = TenantId::new(4);
        let event = Event {
            seq: 9,
            tenant,
            at: now + Duration::from_millis(20),
            kind: EventKind::Answered {
                interaction: InteractionId::new(tenant, 3),
                queue: QueueId::new(tenant, 2),
                agent: AgentId::new(tenant, 7),
                kind: InteractionKind::Voice,
                wait: Duration::from_millis(1234),
            },
        };
        let stored = engine_event(&event, 42, &clock, key);
        assert_eq!(stored.seq, 42);
        assert_eq!(stored.tenant, 4);
        assert_eq!(stored.at_unix_ms, 1_700_000_000_020);
        assert_eq!(
            stored.interaction.as_deref(),
            Some("run1/tenant4/interaction3")
        );
        assert_eq!(stored.kind, "answered");
        assert_eq!(
            stored.body,
            json!({"interaction_id": 3, "queue": 2, "agent": 7,
                   "interaction_kind": "voice", "wait_ms": 1234})
        );
    }

    #[test]
    fn agent_events_have_no_interaction_and_overflow_names_its_target() {
        let clock = WallClock::now();
        let tenant = TenantId::new(1);
        let state = Event {
            seq: 1,
            tenant,
            at: Instant::now(),
            kind: EventKind::AgentStateChanged {
                agent: AgentId::new(tenant, 1),
                from: AgentStatus::Available,
                to: AgentStatus::NotReady,
                reason: Some(NotReadyReason::Requested(acd::ReasonCode(5))),
            },
        };
        let stored = engine_event(&state, 1, &clock, key);
        assert_eq!(stored.interaction, None);
        assert_eq!(
            stored.body["reason"],
            json!({"type": "requested", "code": 5})
        );
        let overflow = Event {
            kind: EventKind::Overflowed {
                interaction: InteractionId::new(tenant, 2),
                queue: QueueId::new(tenant, 1),
                reason: OverflowReason::MaxWait,
                action: OverflowAction::Voicemail {
                    mailbox: "sales@contoso".into(),
                },
            },
            ..state
        };
        let stored = engine_event(&overflow, 2, &clock, key);
        assert_eq!(stored.kind, "overflowed");
        assert_eq!(stored.body["reason"], "max_wait");
        assert_eq!(
            stored.body["action"],
            json!({"type": "voicemail", "mailbox": "sales@contoso"})
        );
    }
}
