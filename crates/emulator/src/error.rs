//! Errors, split by operation: reading the configuration, acting on calls
//! through the API, generating certificates, running the driver.

use std::path::PathBuf;

/// Why the `[emulator]` configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file is not valid TOML, or a key has the wrong type or is
    /// unknown.
    #[error("emulator configuration: {0}")]
    Toml(String),
    /// The file has no `[emulator]` table.
    #[error("the configuration has no [emulator] table")]
    MissingTable,
    /// A value is not acceptable.
    #[error("{key}: {reason}")]
    Invalid {
        /// The key path, e.g. `emulator.tenants[0].users[1].number`.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// Why an API action on the emulated Teams side (placing a call, hanging
/// up, transferring, holding) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No configured user has this name or number.
    #[error("no Teams user `{0}`")]
    UnknownUser(String),
    /// No call with this id exists (any more).
    #[error("no call {0}")]
    UnknownCall(u64),
    /// The call is not in a state that allows the action (e.g. REFER on a
    /// call that is not answered).
    #[error("the call is not in a state that allows {action}")]
    WrongState {
        /// What was asked.
        action: &'static str,
    },
    /// The SBC did not list REFER in its Allow header, so Teams would not
    /// send it one (the proxy would transfer by itself).
    #[error("the SBC does not allow REFER")]
    ReferNotAllowed,
    /// Every proxy is configured down.
    #[error("no proxy is up to send the call from")]
    NoProxyAvailable,
    /// The number to call is not E.164 (`+` and digits).
    #[error("`{0}` is not an E.164 number")]
    BadNumber(String),
    /// The SIP layers refused to build or send the request.
    #[error("SIP: {0}")]
    Sip(String),
}

/// Why an operator action on the emulated Microsoft Graph was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// No configured user has this tenant and object id.
    #[error("no Teams user {0}")]
    UnknownUser(String),
    /// Not a Graph availability and activity.
    #[error("`{0}` is not a Graph availability/activity")]
    UnknownPresence(String),
    /// No live subscription has this id.
    #[error("no subscription {0}")]
    UnknownSubscription(String),
    /// The subscription has no `lifecycleNotificationUrl`.
    #[error("subscription {0} has no lifecycle notification URL")]
    NoLifecycleUrl(String),
}

/// Why generating the test certificates failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// rcgen could not build or sign a certificate.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Why the emulator driver could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The configuration is not valid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The TLS files of a proxy could not be loaded.
    #[error("TLS files of {proxy}: {source}")]
    Tls {
        /// The proxy FQDN.
        proxy: String,
        /// What went wrong.
        source: sip_transport::TlsConfigError,
    },
    /// The Graph emulator could not listen on its address.
    #[error("listening for Microsoft Graph on {addr}: {source}")]
    GraphListen {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The HTTP client that delivers Graph notifications could not be
    /// built.
    #[error("the Graph emulator's HTTP client: {0}")]
    HttpClient(String),
    /// A proxy could not listen on its address.
    #[error("listening for {proxy}: {source}")]
    Listen {
        /// The proxy FQDN.
        proxy: String,
        /// What went wrong.
        source: sip_transport::TransportError,
    },
}
