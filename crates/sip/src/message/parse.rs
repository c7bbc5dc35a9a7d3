//! The start line and header block (RFC 3261 §7.1-7.3, §7.5 framing,
//! §18.3 Content-Length; RFC 4475 for what must be rejected): one pass
//! splits the header lines, a second over the recorded lines checks the
//! few values needed to accept the message at all: Content-Length
//! (framing), CSeq (method match, §8.1.1.5; kept for `Headers::cseq`) and
//! Max-Forwards. Other values are recorded as ranges, not parsed.

use std::ops::Range;

use bytes::Bytes;

use super::{Message, Request, Response};
use crate::error::{HeaderError, ParseError};
use crate::header::map::{Entry, FirstLines, Headers, Loc, FIRST_LINE_IDS};
use crate::header::name::id::{
    CSeq as CSEQ, CallId as CALL_ID, Contact as CONTACT, ContentLength as CONTENT_LENGTH,
    From as FROM, MaxForwards as MAX_FORWARDS, To as TO, Via as VIA,
};
use crate::header::name::{lookup_id, lookup_short};
use crate::header::simple::{
    parse_content_length, parse_cseq_bytes, parse_max_forwards_bytes, CSeq,
};
use crate::limits::Limits;
use crate::method::Method;
use crate::status::StatusCode;
use crate::text::{find_short, first_in_word, is_token_byte, is_wsp, skip, word_at, TOKEN};
use crate::uri::{parse_uri, plain_sip_bytes, Uri, UriParts};
use crate::UriError;

/// Whether the bytes are one datagram or the head of a stream message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Datagram,
    Stream,
}

#[derive(Debug, PartialEq)]
pub(crate) enum StartLine {
    Request {
        method: Option<Method>,
        method_span: Range<usize>,
        uri: Range<usize>,
        uri_parts: UriParts,
    },
    Response {
        status: u16,
        reason: Range<usize>,
    },
}

/// The parsed start line and header block, as ranges into the buffer.
#[derive(Debug)]
pub(crate) struct Head {
    start: StartLine,
    entries: Vec<Entry>,
    /// Unfolded values of folded header lines.
    owned: Vec<Bytes>,
    /// Offset of the first body byte.
    pub(crate) body_start: usize,
    pub(crate) content_length: Option<usize>,
    /// `Limits::max_uri_length`, kept for the URIs in header values.
    max_uri_length: usize,
    /// The CSeq number and the range of its method, when its value is in
    /// the buffer (not unfolded).
    cseq: Option<(u32, Range<usize>)>,
    first_lines: FirstLines,
}

/// Parses the start line and headers of `buf`, which holds a whole
/// datagram or (for streams) at least the header block.
///
/// Two passes: the header lines are split into entries, then the entries
/// the parser checks are checked in order. When splitting fails at a
/// line, the entries before it are checked first, so the first problem in
/// wire order is the one reported.
pub(crate) fn parse_head(
    buf: &[u8],
    limits: &Limits,
    framing: Framing,
) -> Result<Head, ParseError> {
    // Offsets are stored as u32; a larger buffer is refused whatever the limit.
    let limit = limits.max_message_size.min(u32::MAX as usize);
    if buf.len() > limit {
        return Err(ParseError::TooLarge {
            size: buf.len(),
            limit,
        });
    }
    let first = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or(ParseError::Empty)?;
    let lines = Lines { buf, first, limits };
    let (start, pos) = match usual_request_line(buf, first, limits) {
        Some(found) => found,
        None => lines.start_line()?,
    };

    let mut entries = Vec::with_capacity(24);
    let mut owned = Vec::new();
    let split = lines.split_headers(pos, &mut entries, &mut owned);
    let checked = check_entries(buf, &entries, &owned, limits)?;
    let body_start = split.map_err(|e| lines.error(e))?;

    // Max-Forwards is not required: RFC 3261 §16.6 has a proxy add one when
    // it is missing and RFC 4475 §3.4.1 (an RFC 2543 request without it)
    // must be accepted; `Headers::max_forwards()` reports it as Missing.
    for (bit, label) in [ONCE_FROM, ONCE_TO, ONCE_CALL_ID, ONCE_CSEQ] {
        if checked.seen & bit == 0 {
            return Err(ParseError::MissingHeader(label));
        }
    }
    if checked.vias == 0 {
        return Err(ParseError::MissingHeader("Via"));
    }
    let mut parsed_cseq = None;
    if let Some(loc) = checked.cseq {
        let value = locate(buf, &owned, loc);
        let (seq, method) = parse_cseq_bytes(value).map_err(|r| invalid("CSeq", value, r))?;
        if let StartLine::Request { method_span, .. } = &start {
            if value[method.clone()] != buf[method_span.clone()] {
                return Err(ParseError::CSeqMethodMismatch);
            }
        }
        if let Loc::Buf { start, .. } = loc {
            let start = start as usize;
            parsed_cseq = Some((seq, start + method.start..start + method.end));
        }
    }
    if let Some(loc) = checked.max_forwards {
        let value = locate(buf, &owned, loc);
        parse_max_forwards_bytes(value).map_err(|r| invalid("Max-Forwards", value, r))?;
    }
    if framing == Framing::Stream && checked.content_length.is_none() {
        return Err(ParseError::MissingContentLength);
    }
    Ok(Head {
        start,
        entries,
        owned,
        body_start,
        content_length: checked.content_length,
        max_uri_length: limits.max_uri_length,
        cseq: parsed_cseq,
        first_lines: checked.first_lines,
    })
}

/// Why `value` of `header` is invalid: not UTF-8 first (as the typed
/// accessors, which read values as text, say), else `reason`.
fn invalid(header: &'static str, value: &[u8], reason: &'static str) -> HeaderError {
    match std::str::from_utf8(value) {
        Ok(_) => HeaderError::invalid(header, reason),
        Err(_) => HeaderError::invalid(header, "not valid UTF-8"),
    }
}

/// The bytes of a value recorded by the parser.
fn locate<'b>(buf: &'b [u8], owned: &'b [Bytes], loc: Loc) -> &'b [u8] {
    match loc {
        Loc::Buf { start, len } => buf
            .get(start as usize..(start + len) as usize)
            .unwrap_or_default(),
        Loc::Owned(i) => owned.get(i as usize).map(|b| &b[..]).unwrap_or_default(),
        Loc::Canonical => &[],
    }
}

/// Headers that may appear once: their bit in `seen` and their name.
const ONCE_FROM: (u32, &str) = (1, "From");
const ONCE_TO: (u32, &str) = (2, "To");
const ONCE_CALL_ID: (u32, &str) = (4, "Call-ID");
const ONCE_CSEQ: (u32, &str) = (8, "CSeq");
const ONCE_MAX_FORWARDS: (u32, &str) = (16, "Max-Forwards");

/// What the second pass found in the entries.
struct Checked {
    /// Bits of the headers that may appear once.
    seen: u32,
    /// Via values (not lines).
    vias: usize,
    content_length: Option<usize>,
    cseq: Option<Loc>,
    max_forwards: Option<Loc>,
    first_lines: FirstLines,
}

// `check_entries` records the first line of each of these, which must be
// all the ids `Headers` keeps a record for.
const _: () = assert!(
    VIA == 1
        && FROM == 2
        && TO == 3
        && CALL_ID == 4
        && CSEQ == 5
        && MAX_FORWARDS == 6
        && CONTACT == 7
        && FIRST_LINE_IDS == 8
);

/// Checks, in order, what the parser needs of the entries: singletons,
/// the number of Via values and Content-Length.
// Out of line: a smaller `parse_head` keeps the header loop in registers.
#[inline(never)]
fn check_entries(
    buf: &[u8],
    entries: &[Entry],
    owned: &[Bytes],
    limits: &Limits,
) -> Result<Checked, ParseError> {
    let mut checked = Checked {
        seen: 0,
        vias: 0,
        content_length: None,
        cseq: None,
        max_forwards: None,
        first_lines: [0; FIRST_LINE_IDS as usize],
    };
    for (index, entry) in entries.iter().enumerate() {
        // Wrong past `u16::MAX` lines, where `assemble` drops the record.
        let line = (index + 1) as u16;
        match entry.id {
            VIA => {
                if checked.vias == 0 {
                    checked.first_lines[usize::from(VIA)] = line;
                }
                checked.vias += count_list_items(locate(buf, owned, entry.value));
                if checked.vias > limits.max_vias {
                    return Err(ParseError::TooManyVias {
                        limit: limits.max_vias,
                    });
                }
            }
            CONTENT_LENGTH => {
                let n = parse_content_length(locate(buf, owned, entry.value))
                    .map_err(|reason| HeaderError::invalid("Content-Length", reason))?;
                if checked.content_length.is_some_and(|prev| prev != n) {
                    return Err(ParseError::DuplicateHeader("Content-Length"));
                }
                checked.content_length = Some(n);
            }
            FROM => {
                once(&mut checked.seen, ONCE_FROM)?;
                checked.first_lines[usize::from(FROM)] = line;
            }
            TO => {
                once(&mut checked.seen, ONCE_TO)?;
                checked.first_lines[usize::from(TO)] = line;
            }
            CALL_ID => {
                once(&mut checked.seen, ONCE_CALL_ID)?;
                checked.first_lines[usize::from(CALL_ID)] = line;
            }
            CSEQ => {
                once(&mut checked.seen, ONCE_CSEQ)?;
                checked.first_lines[usize::from(CSEQ)] = line;
                checked.cseq = Some(entry.value);
            }
            MAX_FORWARDS => {
                once(&mut checked.seen, ONCE_MAX_FORWARDS)?;
                checked.first_lines[usize::from(MAX_FORWARDS)] = line;
                checked.max_forwards = Some(entry.value);
            }
            CONTACT if checked.first_lines[usize::from(CONTACT)] == 0 => {
                checked.first_lines[usize::from(CONTACT)] = line;
            }
            _ => {}
        }
    }
    Ok(checked)
}

/// Records in `seen` a header that may appear once.
fn once(seen: &mut u32, (bit, label): (u32, &'static str)) -> Result<(), ParseError> {
    if *seen & bit != 0 {
        return Err(ParseError::DuplicateHeader(label));
    }
    *seen |= bit;
    Ok(())
}

/// A problem with the line starting at `at`, whose number is worked out
/// only when the error is reported.
#[derive(Debug)]
struct LineError {
    at: usize,
    kind: LineErrorKind,
}

#[derive(Debug)]
enum LineErrorKind {
    TooLong,
    Unterminated,
    TooManyHeaders,
    Bad(&'static str),
}

/// The lines of the head, from `first` (the start line).
struct Lines<'a> {
    buf: &'a [u8],
    first: usize,
    limits: &'a Limits,
}

impl Lines<'_> {
    /// The start line at `first` and where the next line starts (the
    /// general path of [`usual_request_line`]).
    fn start_line(&self) -> Result<StartAndNext, ParseError> {
        let (line_end, pos) = self.line_at(self.first).map_err(|e| self.error(e))?;
        Ok((
            parse_start_line(self.buf, self.first..line_end, self.limits)?,
            pos,
        ))
    }

    /// The line starting at `pos`: (end of its content without CR/LF,
    /// start of the next line).
    #[inline]
    fn line_at(&self, pos: usize) -> Result<(usize, usize), LineError> {
        let limit = self.limits.max_line_length;
        let Some(off) = find_short(&self.buf[pos..], b'\n') else {
            let kind = if self.buf.len() - pos > limit {
                LineErrorKind::TooLong
            } else {
                LineErrorKind::Unterminated
            };
            return Err(LineError { at: pos, kind });
        };
        let nl = pos + off;
        let end = if nl > pos && self.buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        if end - pos > limit {
            return Err(LineError {
                at: pos,
                kind: LineErrorKind::TooLong,
            });
        }
        Ok((end, nl + 1))
    }

    /// Splits the header lines from `pos` to the empty line into
    /// `entries` (unfolded values go to `owned`); returns where the body
    /// starts.
    fn split_headers(
        &self,
        mut pos: usize,
        entries: &mut Vec<Entry>,
        owned: &mut Vec<Bytes>,
    ) -> Result<usize, LineError> {
        let buf = self.buf;
        loop {
            if entries.len() < self.limits.max_headers {
                if let Some((entry, next)) = self.usual_line(pos) {
                    entries.push(entry);
                    pos = next;
                    continue;
                }
            }
            // The empty line ending the head, without a search for its LF.
            match buf.get(pos..pos + 2) {
                Some(b"\r\n") => return Ok(pos + 2),
                Some([b'\n', _]) => return Ok(pos + 1),
                _ => {}
            }
            let (end, next) = self.line_at(pos)?;
            if end == pos {
                return Ok(next);
            }
            // The usual line: a known name, not folded, within the limit.
            let folded = buf.get(next).is_some_and(|&c| is_wsp(c));
            let known = if folded || entries.len() == self.limits.max_headers {
                None
            } else {
                split_known_line(buf, pos, end)
            };
            match known {
                Some((id, name_end, start, value_end)) => {
                    entries.push(Entry {
                        id,
                        name: Loc::Buf {
                            start: pos as u32,
                            len: (name_end - pos) as u32,
                        },
                        value: Loc::Buf {
                            start: start as u32,
                            len: (value_end - start) as u32,
                        },
                    });
                    pos = next;
                }
                None => pos = self.general_line(pos, end, next, entries, owned)?,
            }
        }
    }

    /// The usual header line at `pos`, in one pass: a known name of
    /// fewer than 16 bytes right before the colon, within the line limit,
    /// not folded. The entry and the start of the next line; `None` for
    /// anything else (including every error), which the general path
    /// handles.
    #[inline]
    fn usual_line(&self, pos: usize) -> Option<(Entry, usize)> {
        let buf = self.buf;
        // A known spelling holds no CR, LF, WSP or colon, so the colon
        // found is the first one and the line goes on after it.
        let (id, colon) = short_known_name(buf, pos)?;
        let nl = colon + 1 + find_short(buf.get(colon + 1..)?, b'\n')?;
        // `buf[colon]` is the colon, so `end > colon`.
        let end = if buf[nl - 1] == b'\r' { nl - 1 } else { nl };
        let next = nl + 1;
        if end - pos > self.limits.max_line_length || buf.get(next).is_some_and(|&c| is_wsp(c)) {
            return None;
        }
        let (start, value_end) = value_span(buf, colon + 1, end);
        let entry = Entry {
            id,
            name: Loc::Buf {
                start: pos as u32,
                len: (colon - pos) as u32,
            },
            value: Loc::Buf {
                start: start as u32,
                len: (value_end - start) as u32,
            },
        };
        Some((entry, next))
    }

    /// A header line other than the usual one (an unknown name, folded
    /// continuation lines, one line too many, or an error) starting at
    /// `pos` whose first physical line ends at `end`; returns the start of
    /// the next line.
    #[cold]
    fn general_line(
        &self,
        pos: usize,
        mut end: usize,
        mut next: usize,
        entries: &mut Vec<Entry>,
        owned: &mut Vec<Bytes>,
    ) -> Result<usize, LineError> {
        let buf = self.buf;
        let mut last_line = pos;
        if is_wsp(buf[pos]) {
            return Err(LineError {
                at: pos,
                kind: LineErrorKind::Bad("continuation line without a header"),
            });
        }
        // Folded continuation lines (RFC 3261 §7.3.1) belong to this header.
        let mut folded = false;
        while next < buf.len() && is_wsp(buf[next]) {
            folded = true;
            last_line = next;
            (end, next) = self.line_at(next)?;
            if end - pos > self.limits.max_line_length {
                return Err(LineError {
                    at: last_line,
                    kind: LineErrorKind::TooLong,
                });
            }
        }
        if entries.len() == self.limits.max_headers {
            return Err(LineError {
                at: last_line,
                kind: LineErrorKind::TooManyHeaders,
            });
        }
        let (id, name_end, value_start, value_end) = match split_known_line(buf, pos, end) {
            Some(known) => known,
            None => split_other_line(buf, pos, end).map_err(|reason| LineError {
                at: last_line,
                kind: LineErrorKind::Bad(reason),
            })?,
        };
        let value = if folded {
            owned.push(unfold(&buf[value_start..value_end]));
            Loc::Owned((owned.len() - 1) as u32)
        } else {
            Loc::Buf {
                start: value_start as u32,
                len: (value_end - value_start) as u32,
            }
        };
        entries.push(Entry {
            id,
            name: Loc::Buf {
                start: pos as u32,
                len: (name_end - pos) as u32,
            },
            value,
        });
        Ok(next)
    }

    /// The parse error for `e`, with the number of its line (the start
    /// line is line 1).
    #[cold]
    fn error(&self, e: LineError) -> ParseError {
        let line = 1 + memchr::memchr_iter(b'\n', &self.buf[self.first..e.at]).count();
        let limit = self.limits.max_line_length;
        match e.kind {
            LineErrorKind::TooLong => ParseError::LineTooLong { line, limit },
            LineErrorKind::Unterminated => ParseError::UnterminatedHeaders,
            LineErrorKind::TooManyHeaders => ParseError::TooManyHeaders {
                limit: self.limits.max_headers,
            },
            LineErrorKind::Bad(reason) => ParseError::BadHeaderLine { line, reason },
        }
    }
}

/// `name HCOLON value` in `buf[pos..end]` with a known name: (its id, end
/// of the name, start and end of the value without surrounding LWS).
/// `None` if the text before the first colon (but WSP) is not a known
/// spelling, which is a valid token.
#[inline(always)]
fn split_known_line(buf: &[u8], pos: usize, end: usize) -> Option<(u8, usize, usize, usize)> {
    let (id, name_end, colon) = match short_known_name(buf, pos).filter(|&(_, c)| c < end) {
        Some((id, colon)) => (id, colon, colon),
        None => {
            let colon = pos + find_short(&buf[pos..end], b':')?;
            let mut name_end = colon;
            while name_end > pos && is_wsp(buf[name_end - 1]) {
                name_end -= 1;
            }
            (lookup_id(&buf[pos..name_end])?, name_end, colon)
        }
    };
    let (start, value_end) = value_span(buf, colon + 1, end);
    Some((id, name_end, start, value_end))
}

/// The usual header name at `pos`: a known spelling of fewer than 16
/// bytes, a colon right after it, and 16 bytes of `buf` from `pos` to look
/// at. (Its id, the colon.)
#[inline]
fn short_known_name(buf: &[u8], pos: usize) -> Option<(u8, usize)> {
    let window = buf.get(pos..pos + 16)?;
    let (w0, w1) = (word_at(window, 0), word_at(window, 8));
    let len = match first_in_word(w0, b':') {
        Some(i) => i,
        None => 8 + first_in_word(w1, b':')?,
    };
    let (w0, w1) = (low_bytes(w0, len), low_bytes(w1, len.saturating_sub(8)));
    // No spelling is empty or ends with WSP.
    Some((lookup_short(w0, w1, len)?, pos + len))
}

/// `w` with only its first `n` bytes (all eight for `n >= 8`).
#[inline]
fn low_bytes(w: u64, n: usize) -> u64 {
    const MASKS: [u64; 9] = [
        0,
        0xff,
        0xffff,
        0xff_ffff,
        0xffff_ffff,
        0xff_ffff_ffff,
        0xffff_ffff_ffff,
        0xff_ffff_ffff_ffff,
        u64::MAX,
    ];
    w & MASKS[n.min(8)]
}

/// `name HCOLON value` in `buf[pos..end]` where the name is not known:
/// (0, end of the name, start and end of the value without surrounding
/// LWS), or why the line is malformed.
fn split_other_line(
    buf: &[u8],
    pos: usize,
    end: usize,
) -> Result<(u8, usize, usize, usize), &'static str> {
    let mut i = pos;
    while i < end && is_token_byte(buf[i]) {
        i += 1;
    }
    if i == pos {
        return Err("missing header name");
    }
    let name_end = i;
    while i < end && is_wsp(buf[i]) {
        i += 1;
    }
    if i == end || buf[i] != b':' {
        return Err("missing colon after header name");
    }
    let (start, value_end) = value_span(buf, i + 1, end);
    Ok((0, name_end, start, value_end))
}

/// The value in `buf[from..end]` without surrounding LWS.
#[inline(always)]
fn value_span(buf: &[u8], from: usize, end: usize) -> (usize, usize) {
    // Usually one SP, then the value, which ends with a visible byte.
    if from + 1 < end && buf[from] == b' ' && buf[from + 1] > b' ' && buf[end - 1] > b' ' {
        return (from + 1, end);
    }
    let mut i = from;
    while i < end && matches!(buf[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    let mut value_end = end;
    while value_end > i && is_wsp(buf[value_end - 1]) {
        value_end -= 1;
    }
    (i, value_end)
}

/// Replaces each run of LWS containing a line break by one SP.
fn unfold(raw: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            let start = i;
            while i < raw.len() && matches!(raw[i], b' ' | b'\t' | b'\r' | b'\n') {
                i += 1;
            }
            if raw[start..i].iter().any(|&b| b == b'\r' || b == b'\n') {
                out.push(b' ');
            } else {
                out.extend_from_slice(&raw[start..i]);
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    Bytes::from(out)
}

/// Elements of a comma list (commas inside quotes or `<>` do not count).
fn count_list_items(value: &[u8]) -> usize {
    if find_short(value, b',').is_none() {
        return 1;
    }
    match std::str::from_utf8(value) {
        Ok(s) => crate::text::Split::new(s, b',').count(),
        Err(_) => 1 + value.iter().filter(|&&b| b == b',').count(),
    }
}

/// A start line and where the next line starts.
type StartAndNext = (StartLine, usize);

/// The start line of `buf` read by the fast path (if it takes it) and by
/// the general path, for the tests that they agree.
#[cfg(test)]
pub(crate) fn start_line_both(
    buf: &[u8],
    limits: &Limits,
) -> (Option<StartAndNext>, Result<StartAndNext, ParseError>) {
    let lines = Lines {
        buf,
        first: 0,
        limits,
    };
    (usual_request_line(buf, 0, limits), lines.start_line())
}

/// The usual Request-Line at `first`, in one pass: a method, SP, a
/// Request-URI that [`plain_sip_bytes`] takes whole, SP, `SIP/2.0`, CRLF,
/// within the line and URI limits. The start line and where the next line
/// starts; `None` for anything else (and every error), which
/// [`parse_start_line`] decides.
// Kept out of `parse_head`, as `parse_start_line` is, so that the
// registers of the header loop are not spent on the start line.
#[inline(never)]
fn usual_request_line(buf: &[u8], first: usize, limits: &Limits) -> Option<StartAndNext> {
    let b = buf.get(first..)?;
    let sp1 = skip(b, 0, TOKEN);
    if sp1 == 0 || b.get(sp1) != Some(&b' ') {
        return None;
    }
    // The URI stops at the first byte it cannot hold, which must be the SP.
    let uri_start = sp1 + 1;
    let (uri_parts, uri_len) = plain_sip_bytes(b.get(uri_start..)?)?;
    let sp2 = uri_start + uri_len;
    let line_len = sp2 + b" SIP/2.0".len();
    if b.get(sp2..line_len + 2)? != b" SIP/2.0\r\n"
        || uri_len > limits.max_uri_length
        || line_len > limits.max_line_length
    {
        return None;
    }
    let start = StartLine::Request {
        method: Method::known(&b[..sp1]),
        method_span: first..first + sp1,
        uri: first + uri_start..first + sp2,
        uri_parts,
    };
    Some((start, first + line_len + 2))
}

// Out of line like `usual_request_line`.
#[inline(never)]
fn parse_start_line(
    buf: &[u8],
    line: Range<usize>,
    limits: &Limits,
) -> Result<StartLine, ParseError> {
    let base = line.start;
    let text = &buf[line.clone()];
    if text.len() >= 4 && text[..4].eq_ignore_ascii_case(b"SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let sp = find_short(text, b' ').ok_or(ParseError::BadStartLine("missing status code"))?;
        check_version(&text[..sp])?;
        let rest = &text[sp + 1..];
        if rest.len() < 3
            || !rest[..3].iter().all(u8::is_ascii_digit)
            || rest.get(3).is_some_and(|&b| b != b' ')
        {
            return Err(ParseError::BadStatusCode);
        }
        let status = rest[..3]
            .iter()
            .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
        if !(100..=699).contains(&status) {
            return Err(ParseError::BadStatusCode);
        }
        let reason_start = (base + sp + 5).min(line.end);
        if buf[reason_start..line.end]
            .iter()
            .any(|&b| b < 0x20 && b != b'\t')
        {
            return Err(ParseError::BadStartLine(
                "control character in reason phrase",
            ));
        }
        return Ok(StartLine::Response {
            status,
            reason: reason_start..line.end,
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version
    let sp1 = find_short(text, b' ').ok_or(ParseError::BadStartLine("missing Request-URI"))?;
    let method = &text[..sp1];
    if method.is_empty() || !method.iter().all(|&b| is_token_byte(b)) {
        return Err(ParseError::BadMethod);
    }
    let rest = &text[sp1 + 1..];
    let sp2 = find_short(rest, b' ').ok_or(ParseError::BadStartLine("missing SIP version"))?;
    if sp2 == 0 {
        return Err(ParseError::BadStartLine(
            "more than one SP before the Request-URI",
        ));
    }
    let uri = &rest[..sp2];
    let version = &rest[sp2 + 1..];
    if version.is_empty() || find_short(version, b' ').is_some() {
        return Err(ParseError::BadStartLine(
            "more than one SP after the Request-URI",
        ));
    }
    check_version(version)?;
    if uri.len() > limits.max_uri_length {
        return Err(ParseError::BadRequestUri(UriError::TooLong {
            limit: limits.max_uri_length,
        }));
    }
    // The usual URI is ASCII: no UTF-8 check needed, nor the general parser.
    let uri_parts = match plain_sip_bytes(uri) {
        Some((parts, len)) if len == uri.len() => parts,
        _ => {
            let uri_text = std::str::from_utf8(uri)
                .map_err(|_| ParseError::BadRequestUri(UriError::NotUtf8))?;
            parse_uri(uri_text).map_err(ParseError::BadRequestUri)?
        }
    };
    if uri_parts.has_headers() {
        return Err(ParseError::BadRequestUri(UriError::HeadersNotAllowed));
    }
    let uri_start = base + sp1 + 1;
    Ok(StartLine::Request {
        method: Method::known(method),
        method_span: base..base + sp1,
        uri: uri_start..uri_start + sp2,
        uri_parts,
    })
}

/// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT; only 2.0 is accepted.
fn check_version(v: &[u8]) -> Result<(), ParseError> {
    if v == b"SIP/2.0" || v.eq_ignore_ascii_case(b"SIP/2.0") {
        return Ok(());
    }
    let well_formed = v.len() > 4
        && v[..4].eq_ignore_ascii_case(b"SIP/")
        && std::str::from_utf8(&v[4..])
            .ok()
            .and_then(|n| n.split_once('.'))
            .is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            });
    if well_formed {
        Err(ParseError::BadVersion)
    } else {
        Err(ParseError::BadStartLine("malformed SIP version"))
    }
}

/// Builds the message from a parsed head over `buf`, the body being
/// `body` (a range of `buf`).
pub(crate) fn assemble(head: Head, buf: Bytes, body: Range<usize>) -> Message {
    let body = buf.slice(body);
    let cseq_method = |span: Range<usize>| {
        Method::known(&buf[span.clone()]).unwrap_or_else(|| Method::Extension(buf.slice(span)))
    };
    match head.start {
        StartLine::Request {
            method,
            method_span,
            uri,
            uri_parts,
        } => {
            let method = method.unwrap_or_else(|| Method::Extension(buf.slice(method_span)));
            // A request's CSeq method was checked to equal its method.
            let cseq = head.cseq.map(|(seq, _)| CSeq {
                seq,
                method: method.clone(),
            });
            let uri = Uri::from_parts(buf.slice(uri), uri_parts);
            let headers = Headers::from_parsed(
                buf,
                head.owned,
                head.entries,
                head.max_uri_length,
                cseq,
                head.first_lines,
            );
            Message::Request(Request {
                method,
                uri,
                headers,
                body,
            })
        }
        StartLine::Response { status, reason } => {
            let cseq = head.cseq.map(|(seq, span)| CSeq {
                seq,
                method: cseq_method(span),
            });
            let reason = buf.slice(reason);
            let headers = Headers::from_parsed(
                buf,
                head.owned,
                head.entries,
                head.max_uri_length,
                cseq,
                head.first_lines,
            );
            Message::Response(Response {
                status: StatusCode(status),
                reason,
                headers,
                body,
            })
        }
    }
}

/// Parses one datagram (RFC 3261 §18.3: Content-Length shorter than the
/// rest is truncated to, longer is an error, absent means "to the end").
pub(crate) fn parse_datagram(buf: Bytes, limits: &Limits) -> Result<Message, ParseError> {
    let head = parse_head(&buf, limits, Framing::Datagram)?;
    let available = buf.len() - head.body_start;
    let body_len = match head.content_length {
        Some(declared) if declared > available => {
            return Err(ParseError::ContentLengthMismatch {
                declared,
                available,
            });
        }
        Some(declared) => declared,
        None => available,
    };
    let body = head.body_start..head.body_start + body_len;
    Ok(assemble(head, buf, body))
}

#[cfg(test)]
mod tests {
    use crate::text::find_short;

    fn find_lf(b: &[u8]) -> Option<usize> {
        find_short(b, b'\n')
    }

    #[test]
    fn find_lf_matches_a_naive_scan() {
        let text: Vec<u8> = (0..200u8)
            .map(|i| if i % 37 == 5 { b'\n' } else { i | 0x80 })
            .collect();
        for start in 0..text.len() {
            let naive = text[start..].iter().position(|&c| c == b'\n');
            assert_eq!(find_lf(&text[start..]), naive, "{start}");
        }
        assert_eq!(find_lf(b""), None);
        assert_eq!(find_lf(b"\x0b\x09\x8a\n"), Some(3));
    }
}
