//! Facts about a call that the engine does not know and the call layer
//! appends to the same log: who called which number, the IVR path, a
//! transfer, hold, the end of the call.

use serde_json::{json, Value};

use crate::record::kind;

/// A call-level fact (kind names `call_started`, `flow_step`,
/// `call_transferred`, `call_held`, `call_resumed`, `call_ended`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallFact {
    /// A call arrived (the first event of its record): caller and dialled
    /// number as E.164 or SIP user part (personal data: kept in the
    /// store for CDRs, never logged).
    Started {
        /// The calling number.
        caller: String,
        /// The dialled number (DID).
        did: String,
    },
    /// The IVR entered a node; the CDR's flow path lists them in order.
    FlowStep {
        /// The flow's name or number.
        flow: String,
        /// The node's name.
        node: String,
    },
    /// The call was sent elsewhere (an IVR transfer, an agent's
    /// transfer); see [`transfer_target_label`].
    Transferred {
        /// Where to.
        target: String,
    },
    /// Put on hold.
    Held,
    /// Taken off hold.
    Resumed,
    /// The call ended: completes its record and writes its CDR. Append it
    /// after the engine's events for the call ([`crate::Recorder`] does).
    Ended {
        /// Who or what ended it.
        cause: EndCause,
    },
}

/// Who or what ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndCause {
    /// The caller hung up.
    CallerHangup,
    /// The agent (or transfer target) hung up.
    AgentHangup,
    /// switchboard ended it (an IVR disconnect, an overflow disconnect,
    /// after a transfer, shutdown).
    System,
    /// A network or media failure.
    Failed,
    /// switchboard stopped (a crash, a kill) while the call was up: the
    /// record is closed at the next start, at the time of its last event.
    Interrupted,
}

impl EndCause {
    /// Its stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndCause::CallerHangup => "caller_hangup",
            EndCause::AgentHangup => "agent_hangup",
            EndCause::System => "system",
            EndCause::Failed => "failed",
            EndCause::Interrupted => "interrupted",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "caller_hangup" => EndCause::CallerHangup,
            "agent_hangup" => EndCause::AgentHangup,
            "system" => EndCause::System,
            "failed" => EndCause::Failed,
            "interrupted" => EndCause::Interrupted,
            _ => return None,
        })
    }
}

impl CallFact {
    /// The stable kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            CallFact::Started { .. } => kind::CALL_STARTED,
            CallFact::FlowStep { .. } => kind::FLOW_STEP,
            CallFact::Transferred { .. } => kind::CALL_TRANSFERRED,
            CallFact::Held => kind::CALL_HELD,
            CallFact::Resumed => kind::CALL_RESUMED,
            CallFact::Ended { .. } => kind::CALL_ENDED,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        match self {
            CallFact::Started { caller, did } => json!({ "caller": caller, "did": did }),
            CallFact::FlowStep { flow, node } => json!({ "flow": flow, "node": node }),
            CallFact::Transferred { target } => json!({ "target": target }),
            CallFact::Held | CallFact::Resumed => json!({}),
            CallFact::Ended { cause } => json!({ "cause": cause.as_str() }),
        }
    }
}

/// A flow transfer target as a CDR shows it: `teams_user:<upn>`,
/// `queue:<n>` or `external:<E.164>`.
pub fn transfer_target_label(target: &acd::TransferTarget) -> String {
    match target {
        acd::TransferTarget::TeamsUser(user) => format!("teams_user:{user}"),
        acd::TransferTarget::Queue(queue) => format!("queue:{}", queue.local()),
        acd::TransferTarget::ExternalNumber(number) => format!("external:{number}"),
        other => format!("other:{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_causes_round_trip() {
        for cause in [
            EndCause::CallerHangup,
            EndCause::AgentHangup,
            EndCause::System,
            EndCause::Failed,
        ] {
            assert_eq!(EndCause::parse(cause.as_str()), Some(cause));
        }
        assert_eq!(EndCause::parse("nope"), None);
    }

    #[test]
    fn transfer_labels() {
        let queue = acd::QueueId::new(acd::TenantId::new(1), 3);
        assert_eq!(
            transfer_target_label(&acd::TransferTarget::Queue(queue)),
            "queue:3"
        );
        assert_eq!(
            transfer_target_label(&acd::TransferTarget::ExternalNumber("+15550100".into())),
            "external:+15550100"
        );
    }
}
