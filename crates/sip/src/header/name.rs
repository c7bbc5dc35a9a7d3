//! Header field names (RFC 3261 §7.3, §20) with their compact forms
//! (RFC 3261 §7.3.3 and the extensions that register one). Names compare
//! case-insensitively.

use std::fmt;
use std::hash::{Hash, Hasher};

use bytes::Bytes;

macro_rules! header_names {
    ($( $(#[$doc:meta])* $variant:ident = $canon:literal, $lower:literal $(| $compact:literal)?; )*) => {
        /// A header field name. Known names are variants; parsing maps
        /// compact forms and any letter case onto them.
        #[derive(Clone)]
        #[non_exhaustive]
        pub enum HeaderName {
            $( $(#[$doc])* $variant, )*
            /// Any other header, as written.
            Other(Bytes),
        }

        /// Dense numbering of the known names (id = discriminant + 1).
        #[derive(Clone, Copy)]
        enum Known {
            $( $variant, )*
        }

        /// The id of every known name, as a constant usable in patterns.
        #[allow(non_upper_case_globals, dead_code)]
        pub(crate) mod id {
            $( pub(crate) const $variant: u8 = super::Known::$variant as u8 + 1; )*
        }

        /// Canonical spellings indexed by `id - 1`.
        const CANONICAL: &[&str] = &[ $( $canon, )* ];

        /// Lower-case spellings (full and compact) with their ids.
        const SPELLINGS: &[(&[u8], u8)] = &[
            $( ($lower, Known::$variant as u8 + 1), $( ($compact, Known::$variant as u8 + 1), )? )*
        ];

        impl HeaderName {
            /// 0 for `Other`, else a dense id of the known name.
            #[inline]
            pub(crate) fn id(&self) -> u8 {
                match self {
                    $( HeaderName::$variant => Known::$variant as u8 + 1, )*
                    HeaderName::Other(_) => 0,
                }
            }

            /// The known name with that id.
            pub(crate) fn from_id(id: u8) -> Option<HeaderName> {
                $( if id == Known::$variant as u8 + 1 { return Some(HeaderName::$variant); } )*
                None
            }
        }
    };
}

header_names! {
    /// Via (RFC 3261 §20.42), compact `v`.
    Via = "Via", b"via" | b"v";
    /// From (§20.20), compact `f`.
    From = "From", b"from" | b"f";
    /// To (§20.39), compact `t`.
    To = "To", b"to" | b"t";
    /// Call-ID (§20.8), compact `i`.
    CallId = "Call-ID", b"call-id" | b"i";
    /// CSeq (§20.16).
    CSeq = "CSeq", b"cseq";
    /// Max-Forwards (§20.22).
    MaxForwards = "Max-Forwards", b"max-forwards";
    /// Contact (§20.10), compact `m`.
    Contact = "Contact", b"contact" | b"m";
    /// Route (§20.34).
    Route = "Route", b"route";
    /// Record-Route (§20.30).
    RecordRoute = "Record-Route", b"record-route";
    /// Content-Length (§20.14), compact `l`.
    ContentLength = "Content-Length", b"content-length" | b"l";
    /// Content-Type (§20.15), compact `c`.
    ContentType = "Content-Type", b"content-type" | b"c";
    /// Content-Encoding (§20.12), compact `e`.
    ContentEncoding = "Content-Encoding", b"content-encoding" | b"e";
    /// Content-Disposition (§20.11).
    ContentDisposition = "Content-Disposition", b"content-disposition";
    /// Content-Language (§20.13).
    ContentLanguage = "Content-Language", b"content-language";
    /// Accept (§20.1).
    Accept = "Accept", b"accept";
    /// Accept-Encoding (§20.2).
    AcceptEncoding = "Accept-Encoding", b"accept-encoding";
    /// Accept-Language (§20.3).
    AcceptLanguage = "Accept-Language", b"accept-language";
    /// Alert-Info (§20.4).
    AlertInfo = "Alert-Info", b"alert-info";
    /// Allow (§20.5).
    Allow = "Allow", b"allow";
    /// Authentication-Info (§20.6).
    AuthenticationInfo = "Authentication-Info", b"authentication-info";
    /// Authorization (§20.7).
    Authorization = "Authorization", b"authorization";
    /// Call-Info (§20.9).
    CallInfo = "Call-Info", b"call-info";
    /// Date (§20.17).
    Date = "Date", b"date";
    /// Error-Info (§20.18).
    ErrorInfo = "Error-Info", b"error-info";
    /// Expires (§20.19).
    Expires = "Expires", b"expires";
    /// In-Reply-To (§20.21).
    InReplyTo = "In-Reply-To", b"in-reply-to";
    /// MIME-Version (§20.24).
    MimeVersion = "MIME-Version", b"mime-version";
    /// Min-Expires (§20.23).
    MinExpires = "Min-Expires", b"min-expires";
    /// Organization (§20.25).
    Organization = "Organization", b"organization";
    /// Priority (§20.26).
    Priority = "Priority", b"priority";
    /// Proxy-Authenticate (§20.27).
    ProxyAuthenticate = "Proxy-Authenticate", b"proxy-authenticate";
    /// Proxy-Authorization (§20.28).
    ProxyAuthorization = "Proxy-Authorization", b"proxy-authorization";
    /// Proxy-Require (§20.29).
    ProxyRequire = "Proxy-Require", b"proxy-require";
    /// Reply-To (§20.31).
    ReplyTo = "Reply-To", b"reply-to";
    /// Require (§20.32).
    Require = "Require", b"require";
    /// Retry-After (§20.33).
    RetryAfter = "Retry-After", b"retry-after";
    /// Server (§20.35).
    Server = "Server", b"server";
    /// Subject (§20.36), compact `s`.
    Subject = "Subject", b"subject" | b"s";
    /// Supported (§20.37), compact `k`.
    Supported = "Supported", b"supported" | b"k";
    /// Timestamp (§20.38).
    Timestamp = "Timestamp", b"timestamp";
    /// Unsupported (§20.40).
    Unsupported = "Unsupported", b"unsupported";
    /// User-Agent (§20.41).
    UserAgent = "User-Agent", b"user-agent";
    /// Warning (§20.43).
    Warning = "Warning", b"warning";
    /// WWW-Authenticate (§20.44).
    WwwAuthenticate = "WWW-Authenticate", b"www-authenticate";
    /// RSeq (RFC 3262).
    RSeq = "RSeq", b"rseq";
    /// RAck (RFC 3262).
    RAck = "RAck", b"rack";
    /// Event (RFC 6665), compact `o`.
    Event = "Event", b"event" | b"o";
    /// Allow-Events (RFC 6665), compact `u`.
    AllowEvents = "Allow-Events", b"allow-events" | b"u";
    /// Subscription-State (RFC 6665).
    SubscriptionState = "Subscription-State", b"subscription-state";
    /// Refer-To (RFC 3515), compact `r`.
    ReferTo = "Refer-To", b"refer-to" | b"r";
    /// Referred-By (RFC 3892), compact `b`.
    ReferredBy = "Referred-By", b"referred-by" | b"b";
    /// Replaces (RFC 3891).
    Replaces = "Replaces", b"replaces";
    /// P-Asserted-Identity (RFC 3325).
    PAssertedIdentity = "P-Asserted-Identity", b"p-asserted-identity";
    /// P-Preferred-Identity (RFC 3325).
    PPreferredIdentity = "P-Preferred-Identity", b"p-preferred-identity";
    /// Privacy (RFC 3323).
    Privacy = "Privacy", b"privacy";
    /// History-Info (RFC 7044).
    HistoryInfo = "History-Info", b"history-info";
    /// Session-Expires (RFC 4028), compact `x`.
    SessionExpires = "Session-Expires", b"session-expires" | b"x";
    /// Min-SE (RFC 4028).
    MinSe = "Min-SE", b"min-se";
    /// Reason (RFC 3326).
    Reason = "Reason", b"reason";
    /// Path (RFC 3327).
    Path = "Path", b"path";
    /// Service-Route (RFC 3608).
    ServiceRoute = "Service-Route", b"service-route";
    /// Accept-Contact (RFC 3841), compact `a`.
    AcceptContact = "Accept-Contact", b"accept-contact" | b"a";
    /// Reject-Contact (RFC 3841), compact `j`.
    RejectContact = "Reject-Contact", b"reject-contact" | b"j";
    /// Request-Disposition (RFC 3841), compact `d`.
    RequestDisposition = "Request-Disposition", b"request-disposition" | b"d";
    /// Identity (RFC 8224), compact `y`.
    Identity = "Identity", b"identity" | b"y";
    /// Diversion (RFC 5806).
    Diversion = "Diversion", b"diversion";
    /// Refer-Sub (RFC 4488).
    ReferSub = "Refer-Sub", b"refer-sub";
}

/// Bytes of the longest spelling (names are compared as three words).
const WORDS_LEN: usize = 24;

/// A header name as three little-endian words, zero-padded: names are
/// hashed and compared eight bytes at a time.
pub(crate) type NameWords = [u64; 3];

/// Builds `WORDS_TABLE`.
const fn spelling_words() -> [NameWords; SPELLINGS.len()] {
    let mut words = [[0u64; 3]; SPELLINGS.len()];
    let mut i = 0;
    while i < SPELLINGS.len() {
        let name = SPELLINGS[i].0;
        assert!(name.len() <= WORDS_LEN);
        let mut j = 0;
        while j < name.len() {
            words[i][j / 8] |= (name[j] as u64) << (8 * (j % 8));
            j += 1;
        }
        i += 1;
    }
    words
}

static WORDS: [NameWords; SPELLINGS.len()] = WORDS_TABLE;

const TABLE_SIZE: usize = 512;

/// Slot of a name from its words and length; `| 0x20` lower-cases letters
/// (and keeps digits and `-`), so any spelling of a name hashes alike.
#[inline]
const fn slot_of(words: &NameWords, len: usize) -> usize {
    const CASE: u64 = 0x2020_2020_2020_2020;
    // The first eight bytes and the length tell nearly all names apart;
    // the rest are probed.
    let h = ((words[0] | CASE) ^ (len as u64).wrapping_mul(0x85EB_CA77_C2B2_AE63))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 55) as usize % TABLE_SIZE
}

/// Open-addressing table of `SPELLINGS` indexes + 1 (0 = empty), built at
/// compile time; a lookup is a few integer operations and usually one
/// comparison.
const fn build_table() -> [u8; TABLE_SIZE] {
    let mut table = [0u8; TABLE_SIZE];
    let mut i = 0;
    while i < SPELLINGS.len() {
        let mut slot = slot_of(&WORDS_TABLE[i], SPELLINGS[i].0.len());
        while table[slot] != 0 {
            slot = (slot + 1) % TABLE_SIZE;
        }
        table[slot] = (i + 1) as u8;
        i += 1;
    }
    table
}

/// `SPELLINGS` as words, for the const table builder (a const can read a
/// const, not a static).
const WORDS_TABLE: [NameWords; SPELLINGS.len()] = spelling_words();

static TABLE: [u8; TABLE_SIZE] = build_table();

/// The id of the known name spelled `name` (any case, compact forms).
/// Only a known spelling matches, so a match is a valid token.
pub(crate) fn lookup_id(name: &[u8]) -> Option<u8> {
    if name.len() > WORDS_LEN {
        return None;
    }
    let mut words = [0u64; 3];
    for (i, &b) in name.iter().enumerate() {
        words[i / 8] |= u64::from(b) << (8 * (i % 8));
    }
    lookup_words(&words, name.len())
}

/// The id of the known name of `len` bytes given as zero-padded words.
#[inline]
pub(crate) fn lookup_words(name: &NameWords, len: usize) -> Option<u8> {
    let mut slot = slot_of(name, len);
    loop {
        let index = usize::from(TABLE[slot]).checked_sub(1)?;
        let (spelling, id) = SPELLINGS.get(index)?;
        if spelling.len() == len && eq_lowercase_words(name, &WORDS[index], len) {
            return Some(*id);
        }
        slot = (slot + 1) % TABLE_SIZE;
    }
}

/// `name` equals the spelling `lower` of the same length `len`
/// (lower-case letters, digits and dashes) but for the case of letters; no
/// other byte matches (`Call\rID` is not `call-id`).
#[inline]
fn eq_lowercase_words(name: &NameWords, lower: &NameWords, len: usize) -> bool {
    // Only the 0x20 bit of letters (the bytes of `lower` with 0x40 set)
    // may differ.
    const LETTERS: u64 = 0x4040_4040_4040_4040;
    let differs = |k: usize| (name[k] ^ lower[k]) & !((lower[k] & LETTERS) >> 1);
    // Most names fit in one or two words; the padding of both is zero.
    match len {
        0..=8 => differs(0) == 0,
        9..=16 => differs(0) | differs(1) == 0,
        _ => differs(0) | differs(1) | differs(2) == 0,
    }
}

/// The canonical spelling of a known id.
pub(crate) fn canonical(id: u8) -> &'static str {
    usize::from(id)
        .checked_sub(1)
        .and_then(|i| CANONICAL.get(i))
        .copied()
        .unwrap_or("extension")
}

impl HeaderName {
    /// The canonical spelling (for `Other`, as written).
    pub fn as_str(&self) -> &str {
        match self {
            HeaderName::Other(name) => std::str::from_utf8(name).unwrap_or("?"),
            known => canonical(known.id()),
        }
    }

    /// The canonical spelling, or "extension" for `Other` (for errors).
    pub(crate) fn static_str(&self) -> &'static str {
        canonical(self.id())
    }

    /// Maps a name as written (any case, compact forms) to a `HeaderName`.
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        HeaderName::lookup(name).unwrap_or_else(|| HeaderName::Other(Bytes::copy_from_slice(name)))
    }

    /// The known name spelled `name` (any case, compact forms), if any.
    pub(crate) fn lookup(name: &[u8]) -> Option<HeaderName> {
        if !crate::text::all(name, crate::text::TOKEN) {
            return None;
        }
        lookup_id(name).and_then(HeaderName::from_id)
    }

    /// A known name unchanged; `Other` mapped to the known name it spells,
    /// if any (so `Other("via")` finds Via headers).
    pub(crate) fn normalized(self) -> HeaderName {
        match &self {
            HeaderName::Other(name) => HeaderName::lookup(name).unwrap_or(self),
            _ => self,
        }
    }
}

impl From<&str> for HeaderName {
    fn from(name: &str) -> HeaderName {
        HeaderName::from_bytes(name.as_bytes())
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &HeaderName) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a.id() == b.id(),
        }
    }
}

impl Eq for HeaderName {}

impl Hash for HeaderName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        if let HeaderName::Other(name) = self {
            for b in name.iter() {
                state.write_u8(b.to_ascii_lowercase());
            }
        }
    }
}

impl fmt::Debug for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HeaderName({:?})", self.as_str())
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case_insensitive() {
        assert_eq!(HeaderName::from_bytes(b"v"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"VIA"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"i"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"cALL-iD"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"l"), HeaderName::ContentLength);
        assert_eq!(HeaderName::from_bytes(b"x"), HeaderName::SessionExpires);
        assert_eq!(HeaderName::from_bytes(b"r"), HeaderName::ReferTo);
        assert_eq!(HeaderName::from_bytes(b"b"), HeaderName::ReferredBy);
        assert_eq!(HeaderName::from_bytes(b"k"), HeaderName::Supported);
        assert_eq!(HeaderName::CallId.as_str(), "Call-ID");
        assert_eq!(HeaderName::WwwAuthenticate.as_str(), "WWW-Authenticate");
    }

    #[test]
    fn every_spelling_is_found() {
        for (spelling, id) in SPELLINGS {
            assert_eq!(
                lookup_id(spelling),
                Some(*id),
                "{}",
                String::from_utf8_lossy(spelling)
            );
            let upper = spelling.to_ascii_uppercase();
            assert_eq!(lookup_id(&upper), Some(*id));
            assert_eq!(HeaderName::from_id(*id).map(|n| n.id()), Some(*id));
        }
        assert_eq!(lookup_id(b"x-unknown"), None);
        assert_eq!(lookup_id(b""), None);
        assert_eq!(lookup_id(b"a-name-longer-than-the-buffer"), None);
        assert_eq!(canonical(0), "extension");
        // Bytes that become a spelling's bytes under `| 0x20` but are not
        // its upper case must not match.
        assert!(matches!(
            HeaderName::from_bytes(b"call\rid"),
            HeaderName::Other(_)
        ));
        assert_eq!(lookup_id(b"VIA"), Some(HeaderName::Via.id()));
        assert_eq!(lookup_id(b"Via_"), None);
        // Only letters may differ in case: `| 0x20` would map CR to `-`,
        // 0x10 to `0` and `@` to a backquote.
        assert_eq!(lookup_id(b"call\rid"), None);
        assert_eq!(lookup_id(b"cAlL-iD"), Some(HeaderName::CallId.id()));
        assert_eq!(
            lookup_id(b"p-asserted-identitY"),
            Some(HeaderName::PAssertedIdentity.id())
        );
        assert_eq!(lookup_id(b"p-asserted-identity\0"), None);
        assert_eq!(lookup_id(b"min\rse"), None);
    }

    #[test]
    fn other_names_compare_case_insensitively() {
        let a = HeaderName::from_bytes(b"X-Custom");
        assert_eq!(a, HeaderName::Other(Bytes::from_static(b"x-CUSTOM")));
        assert_ne!(a, HeaderName::Other(Bytes::from_static(b"x-other")));
        assert_ne!(a, HeaderName::Via);
        assert_eq!(a.as_str(), "X-Custom");
        assert_eq!(
            HeaderName::Other(Bytes::from_static(b"t")).normalized(),
            HeaderName::To
        );
        assert_eq!(
            HeaderName::from_bytes(b"a-very-long-unknown-header-name").as_str(),
            "a-very-long-unknown-header-name"
        );
    }
}
