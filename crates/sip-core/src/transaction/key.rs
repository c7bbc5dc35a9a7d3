//! Transaction identification: RFC 3261 §17.1.3 (client) and §17.2.3
//! (server), including the RFC 2543 fallback for branches without the
//! `z9hG4bK` magic cookie.

use bytes::Bytes;
use sip::{Host, Method, Request, Response, Via};

use super::derived::top_via_value;
use super::error::TransactionError;

/// The branch prefix that marks an RFC 3261 branch (§8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Which side of a transaction a key identifies; client and server keys
/// never match each other, even with the same branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the request.
    Client,
    /// We received the request.
    Server,
}

/// Identifies one transaction: what §17.1.3 and §17.2.3 compare, as a
/// hashable value.
///
/// Client keys are the top Via branch and the CSeq method. Server keys are
/// the branch, the sent-by of the top Via and the method, where an ACK has
/// the key of the INVITE it acknowledges; a request whose branch lacks the
/// magic cookie gets an RFC 2543 key (Request-URI, To tag, From tag,
/// Call-ID, CSeq, top Via).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionKey {
    role: Role,
    method: Method,
    id: KeyId,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeyId {
    /// RFC 3261: the branch, and for server keys the sent-by (empty for
    /// client keys, §17.1.3 does not compare it).
    Branch { branch: Box<str>, sent_by: Box<str> },
    /// RFC 2543 fallback of §17.2.3.
    Rfc2543(Box<Rfc2543Id>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Rfc2543Id {
    /// The Request-URI as written (RFC 2543 peers retransmit byte-identical
    /// requests, so §19.1.4 equivalence is not needed to match them).
    request_uri: Box<str>,
    to_tag: Option<Box<str>>,
    from_tag: Option<Box<str>>,
    call_id: Box<str>,
    cseq: u32,
    /// The top Via value as written.
    top_via: Bytes,
}

impl TransactionKey {
    /// The key of the client transaction that sends `request`: its top Via
    /// must carry an RFC 3261 branch.
    pub fn client(request: &Request) -> Result<Self, TransactionError> {
        let via = request.headers.top_via()?;
        let branch = via
            .branch()
            .filter(|branch| is_rfc3261_branch(branch))
            .ok_or(TransactionError::MissingBranch)?;
        Ok(Self::client_key(branch, request.method.clone()))
    }

    /// The key of the client transaction a response belongs to (§17.1.3):
    /// the branch of its top Via and the method of its CSeq.
    pub fn for_response(response: &Response) -> Result<Self, TransactionError> {
        let via = response.headers.top_via()?;
        let branch = via.branch().ok_or(TransactionError::MissingBranch)?;
        let method = response.headers.cseq()?.method;
        Ok(Self::client_key(branch, method))
    }

    /// The key of the server transaction a received request belongs to
    /// (§17.2.3). An ACK gets the key of its INVITE; with an RFC 2543
    /// branch its To tag is the one of the response, so
    /// [`TransactionLayer`](crate::TransactionLayer) also tries the key
    /// without To tag and compares the tag of the response sent.
    pub fn server(request: &Request) -> Result<Self, TransactionError> {
        let method = match request.method {
            Method::Ack => Method::Invite,
            ref method => method.clone(),
        };
        let via = request.headers.top_via()?;
        if let Some(branch) = via.branch().filter(|branch| is_rfc3261_branch(branch)) {
            return Ok(Self {
                role: Role::Server,
                method,
                id: KeyId::Branch {
                    branch: branch.into(),
                    sent_by: sent_by(&via).into_boxed_str(),
                },
            });
        }
        let headers = &request.headers;
        let cseq = headers.cseq()?;
        let id = Rfc2543Id {
            request_uri: request.uri.to_string().into_boxed_str(),
            to_tag: headers.to()?.tag().map(Box::from),
            from_tag: headers.from()?.tag().map(Box::from),
            call_id: headers.call_id()?.into(),
            cseq: cseq.seq,
            top_via: top_via_value(headers).unwrap_or_default(),
        };
        Ok(Self {
            role: Role::Server,
            method,
            id: KeyId::Rfc2543(Box::new(id)),
        })
    }

    fn client_key(branch: &str, method: Method) -> Self {
        Self {
            role: Role::Client,
            method,
            id: KeyId::Branch {
                branch: branch.into(),
                sent_by: Box::from(""),
            },
        }
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The method of the transaction (INVITE for the key of an ACK).
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The RFC 3261 branch, `None` for an RFC 2543 key.
    pub fn branch(&self) -> Option<&str> {
        match &self.id {
            KeyId::Branch { branch, .. } => Some(branch),
            KeyId::Rfc2543(_) => None,
        }
    }

    /// For the key of a CANCEL, the key of the INVITE it cancels (§9.2: same
    /// identification with the method INVITE); `None` for other methods.
    pub fn cancelled_invite(&self) -> Option<Self> {
        (self.method == Method::Cancel).then(|| Self {
            method: Method::Invite,
            ..self.clone()
        })
    }

    /// For the key of a client INVITE, the key its CANCEL gets (§9.1: the
    /// same branch, method CANCEL).
    pub(crate) fn cancel(&self) -> Self {
        Self {
            method: Method::Cancel,
            ..self.clone()
        }
    }

    /// The To tag of an RFC 2543 server key, used to match an ACK to its
    /// INVITE through the To tag of the response sent.
    pub(crate) fn rfc2543_to_tag(&self) -> Option<Option<&str>> {
        match &self.id {
            KeyId::Rfc2543(id) => Some(id.to_tag.as_deref()),
            KeyId::Branch { .. } => None,
        }
    }

    /// This RFC 2543 key with the To tag removed: the key an INVITE without
    /// To tag had, for an ACK that carries the tag of the response.
    pub(crate) fn without_to_tag(&self) -> Self {
        let mut key = self.clone();
        if let KeyId::Rfc2543(id) = &mut key.id {
            id.to_tag = None;
        }
        key
    }
}

/// Whether `branch` starts with the RFC 3261 magic cookie.
pub fn is_rfc3261_branch(branch: &str) -> bool {
    branch.starts_with(MAGIC_COOKIE)
}

/// The sent-by of a Via (host and port as written, host in lower case since
/// host names compare case-insensitively).
fn sent_by(via: &Via<'_>) -> String {
    let host = match &via.host {
        Host::Name(name) => name.to_ascii_lowercase(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => format!("[{ip}]"),
    };
    match via.port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sip::HeaderName;

    use super::*;
    use crate::transaction::testing::{invite, parse_request, request, response};

    #[test]
    fn client_key_matches_the_responses_of_its_request_only() {
        let invite = invite("z9hG4bK1");
        let key = TransactionKey::client(&invite).unwrap();
        assert_eq!(key.role(), Role::Client);
        assert_eq!(key.branch(), Some("z9hG4bK1"));
        let ringing = response(&invite, 180, Some("t"));
        assert_eq!(TransactionKey::for_response(&ringing).unwrap(), key);
        // The CANCEL shares the branch but is its own transaction.
        let cancel = request("CANCEL", "z9hG4bK1", "");
        let cancel_ok = response(&cancel, 200, Some("t"));
        let cancel_key = TransactionKey::for_response(&cancel_ok).unwrap();
        assert_ne!(cancel_key, key);
        assert_eq!(cancel_key.cancelled_invite(), Some(key.clone()));
        // Another branch is another transaction.
        let other = response(&request("INVITE", "z9hG4bK2", ""), 180, None);
        assert_ne!(TransactionKey::for_response(&other).unwrap(), key);
        // A server key never equals a client key.
        assert_ne!(TransactionKey::server(&invite).unwrap(), key);
    }

    #[test]
    fn server_key_is_branch_sent_by_and_method_with_ack_as_invite() {
        let key = TransactionKey::server(&invite("z9hG4bKs")).unwrap();
        assert_eq!(key.role(), Role::Server);
        assert_eq!(key.method(), &Method::Invite);
        let ack = request("ACK", "z9hG4bKs", ";tag=t");
        assert_eq!(TransactionKey::server(&ack).unwrap(), key);
        let cancel = TransactionKey::server(&request("CANCEL", "z9hG4bKs", "")).unwrap();
        assert_ne!(cancel, key);
        assert_eq!(cancel.cancelled_invite(), Some(key.clone()));
        assert_eq!(key.cancelled_invite(), None);
        // Same branch from another sent-by: another transaction (§17.2.3).
        let mut spoofed = invite("z9hG4bKs");
        spoofed.headers.set(
            HeaderName::Via,
            "SIP/2.0/UDP evil.example.com:5060;branch=z9hG4bKs",
        );
        assert_ne!(TransactionKey::server(&spoofed).unwrap(), key);
        // Host names compare case-insensitively.
        let mut upper = invite("z9hG4bKs");
        upper.headers.set(
            HeaderName::Via,
            "SIP/2.0/UDP PC33.Atlanta.Example.COM:5060;branch=z9hG4bKs",
        );
        assert_eq!(TransactionKey::server(&upper).unwrap(), key);
    }

    #[test]
    fn rfc2543_fallback_compares_uri_tags_call_id_cseq_and_top_via() {
        let old = invite("1234-old");
        let key = TransactionKey::server(&old).unwrap();
        assert_eq!(key.branch(), None);
        assert_eq!(key.rfc2543_to_tag(), Some(None));
        assert_eq!(TransactionKey::server(&invite("1234-old")).unwrap(), key);
        // Any of the compared fields differs: another transaction.
        assert_ne!(TransactionKey::server(&invite("1234-other")).unwrap(), key);
        let mut other_call = invite("1234-old");
        other_call.headers.set(HeaderName::CallId, "different@host");
        assert_ne!(TransactionKey::server(&other_call).unwrap(), key);
        let mut other_from = invite("1234-old");
        other_from
            .headers
            .set(HeaderName::From, "<sip:alice@atlanta.example.com>;tag=zzz");
        assert_ne!(TransactionKey::server(&other_from).unwrap(), key);
        let mut other_cseq = invite("1234-old");
        other_cseq.headers.set(HeaderName::CSeq, "314160 INVITE");
        assert_ne!(TransactionKey::server(&other_cseq).unwrap(), key);
        // The ACK carries the To tag of the response: only its untagged form
        // equals the INVITE's key (the layer then checks the tag).
        let ack = TransactionKey::server(&request("ACK", "1234-old", ";tag=resp")).unwrap();
        assert_ne!(ack, key);
        assert_eq!(ack.rfc2543_to_tag(), Some(Some("resp")));
        assert_eq!(ack.without_to_tag(), key);
        // A Via without any branch is RFC 2543 too.
        let no_branch = parse_request(
            "OPTIONS sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1
Max-Forwards: 70
To: <sip:bob@biloxi.example.com>
From: <sip:alice@atlanta.example.com>;tag=1
Call-ID: c1
CSeq: 1 OPTIONS
Content-Length: 0

",
        );
        assert_eq!(TransactionKey::server(&no_branch).unwrap().branch(), None);
        assert!(matches!(
            TransactionKey::client(&no_branch),
            Err(TransactionError::MissingBranch)
        ));
    }

    #[test]
    fn missing_via_or_cseq_is_an_error() {
        let mut no_via = invite("z9hG4bK1");
        no_via.headers.remove(&HeaderName::Via);
        assert!(matches!(
            TransactionKey::server(&no_via),
            Err(TransactionError::Header(_))
        ));
        let mut no_cseq = response(&invite("z9hG4bK1"), 200, None);
        no_cseq.headers.remove(&HeaderName::CSeq);
        assert!(matches!(
            TransactionKey::for_response(&no_cseq),
            Err(TransactionError::Header(_))
        ));
    }
}
