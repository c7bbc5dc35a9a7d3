//! The header block of a message: header lines in order, each a name and a
//! raw value that is a range into the received datagram until changed.
//! Typed views (see the sibling modules) parse values lazily on access.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::name::{canonical, HeaderName};
use super::simple::CSeq;
use crate::error::HeaderError;
use crate::limits::Limits;
use crate::text::{trim, Split};

/// Where a header name or value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loc {
    /// The canonical spelling of a known name.
    Canonical,
    /// A range of the shared buffer.
    Buf { start: u32, len: u32 },
    /// An index into `Headers::owned`.
    Owned(u32),
}

/// One header line (28 bytes, so the parser writes little).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    /// `HeaderName::id()`: 0 for unknown names.
    pub(crate) id: u8,
    pub(crate) name: Loc,
    pub(crate) value: Loc,
}

/// What a lookup by name compares against.
enum Query<'n> {
    Known(u8),
    Other(&'n [u8]),
}

impl<'n> Query<'n> {
    fn new(name: &'n HeaderName) -> Query<'n> {
        match name {
            HeaderName::Other(n) => match HeaderName::lookup(n) {
                Some(known) => Query::Known(known.id()),
                None => Query::Other(n),
            },
            known => Query::Known(known.id()),
        }
    }
}

/// The headers of a message in wire order. Values are zero-copy slices of
/// the received datagram; unknown headers are kept byte for byte. Folded
/// lines (RFC 3261 §7.3.1) are unfolded to a single SP when parsed.
#[derive(Clone)]
pub struct Headers {
    buf: Bytes,
    /// Names and values set after parsing (or unfolded while parsing).
    owned: Vec<Bytes>,
    entries: Vec<Entry>,
    /// `Limits::max_uri_length` of the parse, applied to the URIs in
    /// header values when they are read (the default for built headers).
    max_uri_length: usize,
    /// The CSeq the parser read and checked (it needs it to accept a
    /// request, RFC 3261 §8.1.1.5), returned by `cseq()` until a change.
    parsed_cseq: Option<CSeq>,
    /// Where the first line of each of the headers with the smallest ids
    /// (Via ... Contact) is, as the parser found it, until a change: the
    /// typed views find the usual headers without a search.
    first_lines: Option<FirstLines>,
}

/// Index + 1 of the first line of each header id below
/// [`FIRST_LINE_IDS`] (0: there is none).
pub(crate) type FirstLines = [u16; FIRST_LINE_IDS as usize];

/// The ids [`FirstLines`] has room for.
pub(crate) const FIRST_LINE_IDS: u8 = 8;

impl Default for Headers {
    fn default() -> Headers {
        Headers {
            buf: Bytes::new(),
            owned: Vec::new(),
            entries: Vec::new(),
            max_uri_length: Limits::default().max_uri_length,
            parsed_cseq: None,
            first_lines: None,
        }
    }
}

impl Headers {
    /// An empty header block.
    pub fn new() -> Headers {
        Headers::default()
    }

    pub(crate) fn from_parsed(
        buf: Bytes,
        owned: Vec<Bytes>,
        entries: Vec<Entry>,
        max_uri_length: usize,
        parsed_cseq: Option<CSeq>,
        first_lines: FirstLines,
    ) -> Headers {
        // Line numbers past `u16::MAX` do not fit the record.
        let first_lines = (entries.len() < usize::from(u16::MAX)).then_some(first_lines);
        Headers {
            buf,
            owned,
            entries,
            max_uri_length,
            parsed_cseq,
            first_lines,
        }
    }

    /// The CSeq the parser read, while the header block is unchanged.
    pub(crate) fn parsed_cseq(&self) -> Option<&CSeq> {
        self.parsed_cseq.as_ref()
    }

    /// The longest URI a typed accessor accepts in a header value.
    pub(crate) fn max_uri_length(&self) -> usize {
        self.max_uri_length
    }

    fn loc(&self, loc: Loc) -> &[u8] {
        locate(&self.buf, &self.owned, loc)
    }

    fn value_of(&self, entry: &Entry) -> &[u8] {
        self.loc(entry.value)
    }

    /// The value of `entry` as UTF-8, `None` if it is not.
    #[inline(always)]
    fn value_str(&self, entry: &Entry) -> Option<&str> {
        match entry.value {
            Loc::Buf { start, len } => {
                let start = start as usize;
                crate::text::utf8_within(&self.buf, start, start + len as usize)
            }
            loc => std::str::from_utf8(self.loc(loc)).ok(),
        }
    }

    /// The name as written (parsed) or canonical (added later).
    fn name_of(&self, entry: &Entry) -> &[u8] {
        match entry.name {
            Loc::Canonical => canonical(entry.id).as_bytes(),
            loc => self.loc(loc),
        }
    }

    fn matches(&self, entry: &Entry, query: &Query<'_>) -> bool {
        match query {
            Query::Known(id) => entry.id == *id,
            Query::Other(name) => entry.id == 0 && self.name_of(entry).eq_ignore_ascii_case(name),
        }
    }

    /// The first raw value of `name` (one header line; lists are not split).
    pub fn get(&self, name: &HeaderName) -> Option<&[u8]> {
        let query = Query::new(name);
        self.entries
            .iter()
            .find(|e| self.matches(e, &query))
            .map(|e| self.value_of(e))
    }

    /// The first value of `name` if it is UTF-8.
    pub fn get_str(&self, name: &HeaderName) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// All raw values of `name`, one per header line, in order.
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a [u8]> + 'a {
        let query = Query::new(name);
        self.entries
            .iter()
            .filter(move |e| self.matches(e, &query))
            .map(|e| self.value_of(e))
    }

    /// All raw values of a known header (`Other` names match nothing here).
    pub(crate) fn values(&self, name: HeaderName) -> impl Iterator<Item = &[u8]> + '_ {
        let id = name.id();
        self.entries
            .iter()
            .filter(move |e| id != 0 && e.id == id)
            .map(|e| self.value_of(e))
    }

    /// Whether a header of that name is present.
    pub fn contains(&self, name: &HeaderName) -> bool {
        self.get(name).is_some()
    }

    /// The number of header lines of that name.
    pub fn count(&self, name: &HeaderName) -> usize {
        self.get_all(name).count()
    }

    /// The number of header lines.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All header lines in order as (name, raw value). Names of parsed
    /// unknown headers are given as written.
    pub fn iter(&self) -> impl Iterator<Item = (HeaderName, &[u8])> + '_ {
        self.entries.iter().map(|e| {
            let name = match (HeaderName::from_id(e.id), e.name) {
                (Some(known), _) => known,
                (None, Loc::Buf { start, len }) => {
                    let start = start as usize;
                    HeaderName::Other(self.buf.slice(start..start + len as usize))
                }
                (None, Loc::Owned(i)) => {
                    HeaderName::Other(self.owned.get(i as usize).cloned().unwrap_or_default())
                }
                (None, Loc::Canonical) => HeaderName::Other(Bytes::new()),
            };
            (name, self.value_of(e))
        })
    }

    /// Drops side-table values no line refers to any more, so that a
    /// long-lived header block changed again and again stays bounded.
    fn compact(&mut self) {
        if self.owned.len() <= 2 * self.entries.len() + 16 {
            return;
        }
        let mut owned = Vec::with_capacity(self.entries.len() * 2);
        for entry in &mut self.entries {
            for loc in [&mut entry.name, &mut entry.value] {
                if let Loc::Owned(i) = *loc {
                    owned.push(self.owned.get(i as usize).cloned().unwrap_or_default());
                    *loc = Loc::Owned((owned.len() - 1) as u32);
                }
            }
        }
        self.owned = owned;
    }

    /// Stores `bytes` in the side table.
    fn own(&mut self, bytes: Bytes) -> Loc {
        self.owned.push(bytes);
        Loc::Owned((self.owned.len() - 1) as u32)
    }

    fn entry(&mut self, name: HeaderName, value: Bytes) -> Entry {
        self.parsed_cseq = None;
        self.first_lines = None;
        self.compact();
        let name = name.normalized();
        let id = name.id();
        let name = match name {
            HeaderName::Other(bytes) => self.own(bytes),
            _ => Loc::Canonical,
        };
        let value = self.own(sanitize(value));
        Entry { id, name, value }
    }

    /// Appends a header line. CR and LF in `value` are replaced by SP so a
    /// value cannot inject header lines.
    pub fn push(&mut self, name: HeaderName, value: impl Into<Bytes>) {
        let entry = self.entry(name, value.into());
        self.entries.push(entry);
    }

    /// Inserts a header line before the first line of that name (at the top
    /// if there is none): how a proxy adds its Via.
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<Bytes>) {
        let entry = self.entry(name, value.into());
        let at = self
            .entries
            .iter()
            .position(|e| self.same_name(e, &entry))
            .unwrap_or(0);
        self.entries.insert(at, entry);
    }

    /// Removes every line of that name; returns how many were removed.
    pub fn remove(&mut self, name: &HeaderName) -> usize {
        self.parsed_cseq = None;
        self.first_lines = None;
        let query = Query::new(name);
        let before = self.entries.len();
        let keep: Vec<bool> = self
            .entries
            .iter()
            .map(|e| !self.matches(e, &query))
            .collect();
        let mut keep = keep.into_iter();
        self.entries.retain(|_| keep.next().unwrap_or(true));
        before - self.entries.len()
    }

    /// Removes the first line of that name (e.g. the top Via line).
    pub fn remove_first(&mut self, name: &HeaderName) -> bool {
        self.parsed_cseq = None;
        self.first_lines = None;
        let query = Query::new(name);
        match self.entries.iter().position(|e| self.matches(e, &query)) {
            Some(at) => {
                self.entries.remove(at);
                true
            }
            None => false,
        }
    }

    /// Replaces every line of that name with one line, placed where the
    /// first one was (appended if there was none).
    pub fn set(&mut self, name: HeaderName, value: impl Into<Bytes>) {
        let entry = self.entry(name, value.into());
        match self.entries.iter().position(|e| self.same_name(e, &entry)) {
            Some(at) => {
                let drop: Vec<bool> = self
                    .entries
                    .iter()
                    .enumerate()
                    .map(|(i, e)| i > at && self.same_name(e, &entry))
                    .collect();
                let mut drop = drop.into_iter();
                self.entries.retain(|_| !drop.next().unwrap_or(false));
                if let Some(slot) = self.entries.get_mut(at) {
                    *slot = entry;
                }
            }
            None => self.entries.push(entry),
        }
    }

    /// Whether two entries have the same header name.
    fn same_name(&self, a: &Entry, b: &Entry) -> bool {
        a.id == b.id && (a.id != 0 || self.name_of(a).eq_ignore_ascii_case(self.name_of(b)))
    }

    /// The lines whose name is in `names`, in order, sharing this buffer.
    pub(crate) fn subset(&self, names: &[HeaderName]) -> Headers {
        let ids: Vec<u8> = names
            .iter()
            .map(HeaderName::id)
            .filter(|&id| id != 0)
            .collect();
        let entries = self
            .entries
            .iter()
            .filter(|e| ids.contains(&e.id))
            .copied()
            .collect();
        Headers {
            buf: self.buf.clone(),
            owned: self.owned.clone(),
            entries,
            max_uri_length: self.max_uri_length,
            parsed_cseq: None,
            first_lines: None,
        }
    }

    /// Writes `Name: value\r\n` lines; Content-Length is written once, with
    /// `body_len`, at the place of the first Content-Length line (or last).
    pub(crate) fn write_to(&self, body_len: usize, out: &mut BytesMut) {
        let mut wrote_length = false;
        let content_length = HeaderName::ContentLength.id();
        for e in &self.entries {
            if e.id == content_length {
                if !wrote_length {
                    wrote_length = true;
                    out.put_slice(self.name_of(e));
                    write_length(body_len, out);
                }
                continue;
            }
            out.put_slice(self.name_of(e));
            out.put_slice(b": ");
            out.put_slice(self.value_of(e));
            out.put_slice(b"\r\n");
        }
        if !wrote_length {
            out.put_slice(b"Content-Length");
            write_length(body_len, out);
        }
    }

    /// Bytes `write_to` will produce, roughly (for reserving).
    pub(crate) fn wire_len_hint(&self) -> usize {
        self.entries
            .iter()
            .map(|e| self.name_of(e).len() + self.value_of(e).len() + 4)
            .sum::<usize>()
            + 24
    }

    // ---- helpers for the typed views ----

    /// The first line of the known header `id` (unknown names, id 0, are
    /// not recorded).
    #[inline]
    fn first_entry(&self, id: u8) -> Option<&Entry> {
        let recorded = self.first_lines.as_ref().filter(|_| id != 0);
        match recorded.and_then(|lines| lines.get(usize::from(id))) {
            Some(&line) => self.entries.get(usize::from(line.checked_sub(1)?)),
            None => self.entries.iter().find(|e| e.id == id),
        }
    }

    /// The line [`Headers::first_entry`] finds for `id` and the first
    /// line of that id, as indexes, for the tests that they agree.
    #[cfg(test)]
    pub(crate) fn first_line_both(&self, id: u8) -> (Option<usize>, Option<usize>) {
        let found = self
            .first_entry(id)
            .and_then(|found| self.entries.iter().position(|e| std::ptr::eq(e, found)));
        (found, self.entries.iter().position(|e| e.id == id))
    }

    /// The first value of `name` as UTF-8, if present.
    pub(crate) fn first_str(&self, name: HeaderName) -> Result<Option<&str>, HeaderError> {
        let id = name.id();
        if id == 0 {
            return Ok(None);
        }
        match self.first_entry(id) {
            None => Ok(None),
            Some(entry) => match self.value_str(entry) {
                Some(s) => Ok(Some(trim(s))),
                None => Err(HeaderError::invalid(canonical(id), "not valid UTF-8")),
            },
        }
    }

    /// The first value of the known header `name`, if it is UTF-8.
    #[inline(always)]
    pub(crate) fn first_line_str(&self, name: HeaderName) -> Option<&str> {
        match name.id() {
            0 => None,
            id => self.value_str(self.first_entry(id)?),
        }
    }

    /// `list_items(name).next()`: the first element of the comma lists of
    /// `name`, without an iterator over all of them.
    pub(crate) fn first_item(&self, name: HeaderName) -> Option<Result<&str, HeaderError>> {
        let id = name.id();
        let header = canonical(id);
        let lines = self.entries.iter().filter(|e| id != 0 && e.id == id);
        for entry in lines {
            let Some(line) = self.value_str(entry) else {
                return Some(Err(HeaderError::invalid(header, "not valid UTF-8")));
            };
            if trim(line).is_empty() {
                continue;
            }
            // A line that is not blank has a first element.
            return Some(match Split::new(line, b',').next()? {
                Ok(item) if trim(item).is_empty() => {
                    Err(HeaderError::invalid(header, "empty list element"))
                }
                Ok(item) => Ok(trim(item)),
                Err(reason) => Err(HeaderError::invalid(header, reason)),
            });
        }
        None
    }

    /// The first value of a mandatory header.
    pub(crate) fn required_str(&self, name: HeaderName) -> Result<&str, HeaderError> {
        let label = name.static_str();
        self.first_str(name)?.ok_or(HeaderError::Missing(label))
    }

    /// The comma-separated elements of every line of `name`, in order.
    pub(crate) fn list_items(
        &self,
        name: HeaderName,
    ) -> ListItems<'_, impl Iterator<Item = &[u8]> + '_> {
        let header = name.static_str();
        ListItems {
            lines: self.values(name),
            current: None,
            header,
            failed: false,
        }
    }
}

fn locate<'s>(buf: &'s Bytes, owned: &'s [Bytes], loc: Loc) -> &'s [u8] {
    match loc {
        Loc::Buf { start, len } => {
            let start = start as usize;
            buf.get(start..start + len as usize).unwrap_or_default()
        }
        Loc::Owned(i) => owned.get(i as usize).map(|b| &b[..]).unwrap_or_default(),
        Loc::Canonical => &[],
    }
}

/// Iterator over the comma-separated elements of one or more header lines
/// (RFC 3261 §7.3.1): quoted strings and `<...>` may hold commas. An empty
/// header line has no elements; an empty element is an error.
pub(crate) struct ListItems<'a, I> {
    lines: I,
    current: Option<Split<'a>>,
    header: &'static str,
    failed: bool,
}

impl<'a, I: Iterator<Item = &'a [u8]>> Iterator for ListItems<'a, I> {
    type Item = Result<&'a str, HeaderError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(split) = &mut self.current {
                match split.next() {
                    Some(Ok(item)) => {
                        let item = trim(item);
                        if item.is_empty() {
                            self.failed = true;
                            return Some(Err(HeaderError::invalid(
                                self.header,
                                "empty list element",
                            )));
                        }
                        return Some(Ok(item));
                    }
                    Some(Err(reason)) => {
                        self.failed = true;
                        return Some(Err(HeaderError::invalid(self.header, reason)));
                    }
                    None => self.current = None,
                }
            }
            let line = self.lines.next()?;
            let Ok(line) = std::str::from_utf8(line) else {
                self.failed = true;
                return Some(Err(HeaderError::invalid(self.header, "not valid UTF-8")));
            };
            if !trim(line).is_empty() {
                self.current = Some(Split::new(line, b','));
            }
        }
    }
}

fn write_length(body_len: usize, out: &mut BytesMut) {
    out.put_slice(b": ");
    let mut digits = [0u8; 20];
    let mut n = body_len;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&digits[i..]);
    out.put_slice(b"\r\n");
}

fn sanitize(value: Bytes) -> Bytes {
    if memchr::memchr2(b'\r', b'\n', &value).is_none() {
        return value;
    }
    let cleaned: Vec<u8> = value
        .iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect();
    Bytes::from(cleaned)
}

impl PartialEq for Headers {
    /// Same header lines in the same order with the same values, names
    /// compared case-insensitively and compact forms equal to full ones.
    /// Content-Length is ignored: it is derived from the body.
    fn eq(&self, other: &Headers) -> bool {
        let content_length = HeaderName::ContentLength.id();
        let mine = self.entries.iter().filter(|e| e.id != content_length);
        let mut theirs = other.entries.iter().filter(|e| e.id != content_length);
        for a in mine {
            let Some(b) = theirs.next() else { return false };
            let same_name = a.id == b.id
                && (a.id != 0 || self.name_of(a).eq_ignore_ascii_case(other.name_of(b)));
            if !same_name || self.value_of(a) != other.value_of(b) {
                return false;
            }
        }
        theirs.next().is_none()
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| {
                (
                    String::from_utf8_lossy(self.name_of(e)),
                    String::from_utf8_lossy(self.value_of(e)),
                )
            }))
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn names(h: &Headers) -> Vec<String> {
        h.iter()
            .map(|(n, v)| format!("{}={}", n, String::from_utf8_lossy(v)))
            .collect()
    }

    #[test]
    fn push_get_remove_set() {
        let mut h = Headers::new();
        h.push(HeaderName::Via, "SIP/2.0/UDP a");
        h.push(HeaderName::To, "<sip:b@c>");
        h.push(HeaderName::Via, "SIP/2.0/UDP b");
        h.push("X-Foo".into(), "1");
        assert_eq!(h.get(&HeaderName::Via), Some(&b"SIP/2.0/UDP a"[..]));
        assert_eq!(h.get_all(&HeaderName::Via).count(), 2);
        assert_eq!(h.get(&"x-foo".into()), Some(&b"1"[..]));
        assert_eq!(
            h.get(&HeaderName::Other(Bytes::from_static(b"v"))),
            Some(&b"SIP/2.0/UDP a"[..])
        );
        h.push_front(HeaderName::Via, "SIP/2.0/UDP top");
        assert_eq!(names(&h)[0], "Via=SIP/2.0/UDP top");
        assert!(h.remove_first(&HeaderName::Via));
        assert_eq!(h.get(&HeaderName::Via), Some(&b"SIP/2.0/UDP a"[..]));
        h.set(HeaderName::Via, "SIP/2.0/TCP only");
        assert_eq!(
            names(&h),
            vec!["Via=SIP/2.0/TCP only", "To=<sip:b@c>", "X-Foo=1"]
        );
        assert_eq!(h.remove(&HeaderName::Via), 1);
        assert_eq!(h.remove(&HeaderName::Via), 0);
        assert!(!h.remove_first(&HeaderName::Via));
        h.set(HeaderName::CallId, "abc");
        assert_eq!(names(&h), vec!["To=<sip:b@c>", "X-Foo=1", "Call-ID=abc"]);
        h.push_front(HeaderName::Route, "<sip:r>");
        assert_eq!(names(&h)[0], "Route=<sip:r>");
        assert_eq!(h.len(), 4);
    }

    #[test]
    fn repeated_changes_stay_bounded() {
        let mut h = Headers::new();
        h.push("X-Keep".into(), "kept");
        for i in 0..1000 {
            h.set(HeaderName::MaxForwards, i.to_string());
            h.set("X-Counter".into(), i.to_string());
        }
        assert!(
            h.owned.len() <= 2 * h.entries.len() + 17,
            "{}",
            h.owned.len()
        );
        assert_eq!(h.get(&"x-keep".into()), Some(&b"kept"[..]));
        assert_eq!(h.get(&HeaderName::MaxForwards), Some(&b"999"[..]));
        assert_eq!(h.get(&"X-COUNTER".into()), Some(&b"999"[..]));
        assert_eq!(
            h.iter()
                .map(|(n, _)| n.as_str().to_owned())
                .collect::<Vec<_>>(),
            ["X-Keep", "Max-Forwards", "X-Counter"]
        );
    }

    #[test]
    fn values_cannot_inject_lines() {
        let mut h = Headers::new();
        h.push(HeaderName::Subject, "hi\r\nVia: evil");
        assert_eq!(h.get(&HeaderName::Subject), Some(&b"hi  Via: evil"[..]));
    }

    #[test]
    fn write_keeps_content_length_consistent() {
        let mut h = Headers::new();
        h.push(HeaderName::ContentLength, "999");
        h.push(HeaderName::CallId, "x");
        h.push(HeaderName::ContentLength, "5");
        let mut out = BytesMut::new();
        h.write_to(12, &mut out);
        assert_eq!(&out[..], b"Content-Length: 12\r\nCall-ID: x\r\n");
        let mut out = BytesMut::new();
        Headers::new().write_to(0, &mut out);
        assert_eq!(&out[..], b"Content-Length: 0\r\n");
    }

    #[test]
    fn list_items_split_lines_and_commas() {
        let mut h = Headers::new();
        h.push(HeaderName::Supported, "timer, 100rel");
        h.push(HeaderName::Supported, "");
        h.push(HeaderName::Supported, "replaces");
        let items: Vec<_> = h.list_items(HeaderName::Supported).collect();
        assert_eq!(items, vec![Ok("timer"), Ok("100rel"), Ok("replaces")]);
        h.push(HeaderName::Supported, "a,,b");
        let last = h.list_items(HeaderName::Supported).last().unwrap();
        assert_eq!(
            last,
            Err(HeaderError::invalid("Supported", "empty list element"))
        );
    }
}
