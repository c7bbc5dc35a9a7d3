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

/// A known spelling as the lookup compares it: its lower-case bytes as
/// zero-padded words, its length and its id.
#[derive(Clone, Copy)]
struct Spelled {
    lower: NameWords,
    /// The 0x20 bit of the letters of `lower`: the only bits in which a
    /// name may differ from it (see [`case_bits`]).
    case: NameWords,
    len: u8,
    id: u8,
}

/// Builds `SPELLED_TABLE`.
const fn spelled() -> [Spelled; SPELLINGS.len()] {
    let mut out = [Spelled {
        lower: [0; 3],
        case: [0; 3],
        len: 0,
        id: 0,
    }; SPELLINGS.len()];
    let mut i = 0;
    while i < SPELLINGS.len() {
        let (name, id) = SPELLINGS[i];
        assert!(name.len() <= WORDS_LEN);
        let mut j = 0;
        while j < name.len() {
            out[i].lower[j / 8] |= (name[j] as u64) << (8 * (j % 8));
            j += 1;
        }
        let mut k = 0;
        while k < 3 {
            out[i].case[k] = case_bits(out[i].lower[k]);
            k += 1;
        }
        out[i].len = name.len() as u8;
        out[i].id = id;
        i += 1;
    }
    out
}

/// `SPELLINGS` as the lookup compares them, for the const table builder
/// (a const can read a const, not a static).
const SPELLED_TABLE: [Spelled; SPELLINGS.len()] = spelled();

static SPELLED: [Spelled; SPELLINGS.len()] = SPELLED_TABLE;

/// Bits of a slot: the table has 1024 slots for fewer than 100 spellings,
/// so a multiplier that gives every spelling its own slot is found after
/// a few tries (see [`multiplier`]).
const SLOT_BITS: u32 = 10;

const TABLE_SIZE: usize = 1 << SLOT_BITS;

/// Slot of a name from its first two words and length under the
/// multiplier `k`; `| 0x20` lower-cases letters (and keeps digits and
/// `-`), so any spelling of a name hashes alike.
#[inline(always)]
const fn slot_with(k: u64, word0: u64, word1: u64, len: usize) -> usize {
    const CASE: u64 = 0x2020_2020_2020_2020;
    let key = (word0 | CASE) ^ (word1 | CASE).rotate_left(5) ^ len as u64;
    (key.wrapping_mul(k) >> (64 - SLOT_BITS)) as usize
}

/// The first multiplier of a fixed sequence under which no two spellings
/// share a slot: a lookup is then one slot and one comparison. (The first
/// two words and the length tell all spellings apart.)
const fn multiplier() -> u64 {
    let mut k = 0x9E37_79B9_7F4A_7C15u64;
    let mut tries = 0;
    'next: while tries < 10_000 {
        let mut taken = [false; TABLE_SIZE];
        let mut i = 0;
        while i < SPELLINGS.len() {
            let s = SPELLED_TABLE[i];
            let slot = slot_with(k, s.lower[0], s.lower[1], s.len as usize);
            if taken[slot] {
                k = k.wrapping_add(0x6A09_E667_F3BC_C908);
                tries += 1;
                continue 'next;
            }
            taken[slot] = true;
            i += 1;
        }
        return k;
    }
    panic!("no multiplier gives every header name its own slot")
}

const MULTIPLIER: u64 = multiplier();

/// `SPELLINGS` indexes + 1 (0 = empty) by slot, built at compile time.
const fn build_table() -> [u8; TABLE_SIZE] {
    let mut table = [0u8; TABLE_SIZE];
    let mut i = 0;
    while i < SPELLINGS.len() {
        let s = SPELLED_TABLE[i];
        table[slot_with(MULTIPLIER, s.lower[0], s.lower[1], s.len as usize)] = (i + 1) as u8;
        i += 1;
    }
    table
}

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
    let spelled = spelled_at(words[0], words[1], name.len())?;
    let matches = (0..3).all(|k| words[k] | spelled.case[k] == spelled.lower[k]);
    matches.then_some(spelled.id)
}

/// The id of the known name of `len` (at most 16) bytes given as two
/// zero-padded words: what [`lookup_id`] says of those bytes.
#[inline(always)]
pub(crate) fn lookup_short(word0: u64, word1: u64, len: usize) -> Option<u8> {
    // The third word of a spelling of at most 16 bytes is zero.
    let spelled = spelled_at(word0, word1, len)?;
    let matches = (word0 | spelled.case[0] == spelled.lower[0])
        & (word1 | spelled.case[1] == spelled.lower[1]);
    matches.then_some(spelled.id)
}

/// The only spelling of `len` bytes that a name with these first two
/// words can be, if any.
#[inline(always)]
fn spelled_at(word0: u64, word1: u64, len: usize) -> Option<&'static Spelled> {
    let slot = slot_with(MULTIPLIER, word0, word1, len);
    let index = usize::from(*TABLE.get(slot)?).checked_sub(1)?;
    SPELLED.get(index).filter(|s| usize::from(s.len) == len)
}

/// The bits in which a name may differ from the lower-case spelling
/// `lower` (letters, digits and dashes, zero padded): the 0x20 bit of its
/// letters, the bytes with 0x40 set. A name equals the spelling but for
/// the case of letters exactly when setting these bits in it gives
/// `lower` (`Call\rID` is not `call-id`).
const fn case_bits(lower: u64) -> u64 {
    const LETTERS: u64 = 0x4040_4040_4040_4040;
    (lower & LETTERS) >> 1
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
pub(crate) mod tests {
    use super::*;

    /// Every known spelling (lower case, full and compact).
    pub(crate) fn spellings() -> Vec<&'static [u8]> {
        SPELLINGS.iter().map(|(spelling, _)| *spelling).collect()
    }

    /// The id of the spelling `name` is (letters in any case), by a
    /// linear search.
    pub(crate) fn linear_lookup(name: &[u8]) -> Option<u8> {
        SPELLINGS
            .iter()
            .find(|(spelling, _)| spelling.eq_ignore_ascii_case(name))
            .map(|&(_, id)| id)
    }

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
