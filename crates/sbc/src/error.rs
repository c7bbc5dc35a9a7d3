//! The crate's errors, one enum per operation whose callers react
//! differently: loading configuration, reading a phone number, reading a
//! Teams REFER target, anchoring media.

/// Why a configuration file was refused. Every variant names the file;
/// [`ConfigError::Invalid`] also names the key path (e.g.
/// `trunks.carrier1.allow[2]`) and the line it was found on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not TOML.
    #[error("{file}:{line}:{column}: not valid TOML: {message}")]
    Syntax {
        /// The file name given to the loader.
        file: String,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column (in characters) of the offending text.
        column: usize,
        /// What the TOML parser expected.
        message: String,
    },
    /// A key is unknown, missing, of the wrong type, has a bad value, or
    /// contradicts another key.
    #[error("{file}:{line}: {key}: {reason}")]
    Invalid {
        /// The file name given to the loader.
        file: String,
        /// 1-based line of the key (of its table when the key is missing).
        line: usize,
        /// Dotted key path, e.g. `tenants.contoso.dids."+12065550100"`.
        key: String,
        /// What is wrong, in words.
        reason: String,
    },
}

impl ConfigError {
    /// The key path, when the error is about one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::Syntax { .. } => None,
        }
    }
}

/// Why a dialled or presented number could not be made E.164.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    /// No digits at all.
    #[error("empty number")]
    Empty,
    /// A character other than digits, a leading `+` and visual separators
    /// (RFC 3966 §5.1.1), e.g. `*` or `#` service codes or letters.
    #[error("not a phone number")]
    NotDigits,
    /// The number matched no rule and is not in international form.
    #[error("number is not in international form and no rule makes it so")]
    NoRule,
    /// The result is not `+` followed by 3..=15 digits (ITU-T E.164 §6),
    /// the first one not zero.
    #[error("not a valid E.164 number")]
    NotE164,
}

/// Why a Teams REFER target (RFC 3515 §2.1 Refer-To) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferError {
    /// Refer-To holds something other than a `sip:` URI.
    #[error("Refer-To is not a sip: URI")]
    NotSipUri,
    /// Refer-To points somewhere other than a configured Teams proxy; the
    /// SBC does not transfer calls to arbitrary hosts.
    #[error("Refer-To host is not a Teams proxy")]
    NotTeamsProxy,
    /// Refer-To names neither a number (user part) nor an `x-m` target.
    #[error("Refer-To names no target")]
    NoTarget,
    /// `x-t` names a Teams tenant other than the one the call belongs to.
    #[error("Refer-To x-t names another tenant")]
    OtherTenant,
}

/// Why [`B2bua::dial`](crate::B2bua::dial),
/// [`B2bua::add_party`](crate::B2bua::add_party) or
/// [`B2bua::originate`](crate::B2bua::originate) placed no call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialError {
    /// No call with that id (it ended).
    #[error("no such call")]
    NoSuchCall,
    /// `dial`: the call is not one switchboard answered itself, or an
    /// agent is already connected to it. `add_party`: the call is not one
    /// switchboard answered or originated.
    #[error("the call is not waiting in a flow")]
    NotLocal,
    /// The call is not answered yet (an originated call still ringing).
    #[error("the call is not answered yet")]
    NotAnswered,
    /// A transfer (REFER or INVITE with Replaces) of the call is under way.
    #[error("a transfer of the call is under way")]
    TransferPending,
    /// `originate`: no tenant of that name is configured.
    #[error("no such tenant")]
    UnknownTenant,
    /// `originate`: a concurrent-call or call-rate limit of the node, the
    /// trunk or the tenant refused the call (counted like a refused
    /// inbound call).
    #[error("call limit reached")]
    CallLimit,
    /// The configuration has no `[teams]` trunk, or the call no tenant.
    #[error("no Teams trunk for the call's tenant")]
    NoTeams,
    /// The caller's media could not be offered to the new leg.
    #[error("media: {0}")]
    Media(#[from] MediaError),
    /// No Teams proxy or carrier target could be tried.
    #[error("no target available")]
    Unreachable,
    /// The tenant's dial plan or trunk refused the number (the status a
    /// caller dialling it would get).
    #[error("refused with {0}")]
    Refused(u16),
}

/// Why [`B2bua::hang_up_party`](crate::B2bua::hang_up_party) or
/// [`B2bua::pair`](crate::B2bua::pair) changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartyError {
    /// No call with that id (it ended).
    #[error("no such call")]
    NoSuchCall,
    /// The call is not one switchboard answered or originated (ordinary
    /// calls are ended by their parties).
    #[error("the call is not a contact-center call")]
    NotLocal,
    /// The leg is not (or no longer) part of the call.
    #[error("{0} is not a leg of the call")]
    NoSuchLeg(crate::LegId),
    /// The leg is not up: still ringing, or leaving.
    #[error("{0} is not up")]
    NotUp(crate::LegId),
    /// `pair` was given the same leg twice.
    #[error("a leg cannot be paired with itself")]
    SameLeg,
    /// `pair`: other legs of the call are up; hang them up first.
    #[error("other legs of the call are up")]
    OthersUp,
    /// A transfer (REFER or INVITE with Replaces) of the call is under way.
    #[error("a transfer of the call is under way")]
    TransferPending,
}

/// Why the media plane could not anchor a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// Every port of the media range is in use.
    #[error("no media port left")]
    PortsExhausted,
    /// The relay refused for another reason.
    #[error("media relay: {0}")]
    Relay(String),
}
