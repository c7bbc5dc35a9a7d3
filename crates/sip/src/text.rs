//! Lexical rules shared by the parsers (RFC 3261 §25.1): tokens, LWS,
//! quoted strings, and splitting of comma/semicolon lists that respects
//! quoted strings and `<...>`.

use std::borrow::Cow;

/// Character classes of RFC 3261 §25.1, one bit each.
pub(crate) const TOKEN: u16 = 1;
/// unreserved = alphanum / mark.
pub(crate) const UNRESERVED: u16 = 1 << 1;
/// Characters of a URI user part (besides escapes).
pub(crate) const USER: u16 = 1 << 2;
/// Characters of a URI password (besides escapes).
pub(crate) const PASSWORD: u16 = 1 << 3;
/// paramchar (besides escapes).
pub(crate) const PARAM: u16 = 1 << 4;
/// hnv-unreserved / unreserved (besides escapes).
pub(crate) const HNV: u16 = 1 << 5;
/// alphanum, `-`, `_` (hostname labels; `_` tolerated).
pub(crate) const LABEL: u16 = 1 << 6;
/// Call-ID `word` characters.
pub(crate) const WORD: u16 = 1 << 7;
/// gen-value of generic-param unquoted: token / host.
pub(crate) const GEN_VALUE: u16 = 1 << 8;
/// alphanum.
pub(crate) const ALNUM: u16 = 1 << 9;
/// Anything but `;`, `=`, SP and HTAB: the bytes of a parameter name when
/// scanning validated parameters.
pub(crate) const PNAME: u16 = 1 << 10;
/// Anything but `;`, SP and HTAB: the bytes of an unquoted parameter value
/// when scanning validated parameters.
pub(crate) const PVALUE: u16 = 1 << 11;

const fn classes() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let alnum = c.is_ascii_alphanumeric();
        let mark = matches!(
            c,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        );
        let token = alnum
            || matches!(
                c,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        let unreserved = alnum || mark;
        let mut f = 0;
        if token {
            f |= TOKEN | WORD | GEN_VALUE;
        }
        if unreserved {
            f |= UNRESERVED | USER | PASSWORD | PARAM | HNV;
        }
        if matches!(c, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/') {
            f |= USER;
        }
        if matches!(c, b'&' | b'=' | b'+' | b'$' | b',') {
            f |= PASSWORD;
        }
        if matches!(c, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$') {
            f |= PARAM;
        }
        if matches!(c, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$') {
            f |= HNV;
        }
        if alnum || c == b'-' || c == b'_' {
            f |= LABEL;
        }
        if alnum {
            f |= ALNUM;
        }
        if !matches!(c, b';' | b' ' | b'\t') {
            f |= PVALUE;
            if c != b'=' {
                f |= PNAME;
            }
        }
        if matches!(
            c,
            b'(' | b')'
                | b'<'
                | b'>'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'{'
                | b'}'
        ) {
            f |= WORD;
        }
        if matches!(c, b'[' | b']' | b':') {
            f |= GEN_VALUE;
        }
        table[i] = f;
        i += 1;
    }
    table
}

static CLASSES: [u16; 256] = classes();

/// Whether `b` is in any of the `class` bits.
#[inline]
pub(crate) fn is(b: u8, class: u16) -> bool {
    CLASSES[b as usize] & class != 0
}

/// Whether every byte of `s` is in `class`.
#[inline]
pub(crate) fn all(s: &[u8], class: u16) -> bool {
    s.iter().all(|&b| is(b, class))
}

/// The index of the first byte of `b` at or after `from` that is not in
/// `class` (`b.len()` if there is none).
#[inline]
pub(crate) fn skip(b: &[u8], from: usize, class: u16) -> usize {
    let mut i = from;
    // Four bytes per step while they all belong, then one at a time.
    while let Some(&[c0, c1, c2, c3]) = b.get(i..i + 4) {
        let all = CLASSES[usize::from(c0)]
            & CLASSES[usize::from(c1)]
            & CLASSES[usize::from(c2)]
            & CLASSES[usize::from(c3)];
        if all & class == 0 {
            break;
        }
        i += 4;
    }
    while i < b.len() && is(b[i], class) {
        i += 1;
    }
    i
}

/// `buf[start..end]` as UTF-8, `None` if it is not (what
/// `std::str::from_utf8` says of that range).
///
/// A header value is short and starts anywhere, where the standard
/// validator spends most of its time on byte-by-byte loops before the
/// first aligned word and after the last 16-byte block. So a window around
/// the range, starting at an 8-byte aligned address and a whole number of
/// 16-byte blocks long, is validated instead (when `buf` holds it), and the
/// range taken from it: in a valid window, the range is valid exactly when
/// both its ends are char boundaries. Only when the window is not UTF-8 (a
/// neighbour's bytes may not be) is the range itself validated.
#[inline]
pub(crate) fn utf8_within(buf: &[u8], start: usize, end: usize) -> Option<&str> {
    let range = buf.get(start..end)?;
    if range.is_empty() {
        // Valid wherever it sits, even between the bytes of one char
        // (where the window's boundary check below would refuse it).
        return Some("");
    }
    let misalignment = (buf.as_ptr().addr() + start) % 8;
    if let Some(window_start) = start.checked_sub(misalignment) {
        let window_end = window_start + (end - window_start).next_multiple_of(16);
        if let Some(Ok(window)) = buf.get(window_start..window_end).map(std::str::from_utf8) {
            return sub(window, start - window_start, end - window_start);
        }
    }
    std::str::from_utf8(range).ok()
}

/// The high bit of each byte of `w` that is an ASCII letter or digit.
#[inline]
pub(crate) fn alnum_bits(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Seven-bit bytes plus at most 0x50 stay within their byte; the high
    // bit of the sum says "at least" the bound.
    let at_least = |x: u64, bound: u8| x + ONES * u64::from(0x80 - bound);
    let low = w & LOW7;
    let digit = at_least(low, b'0') & !at_least(low, b'9' + 1);
    // Setting 0x20 maps capitals to small letters (and nothing else there).
    let folded = low | (ONES * 0x20);
    let letter = at_least(folded, b'a') & !at_least(folded, b'z' + 1);
    (digit | letter) & !w & HIGHS
}

/// The index of the first byte at or after `from` that is not an ASCII
/// letter or digit (`b.len()` if there is none), eight bytes at a time.
#[inline]
pub(crate) fn skip_alnum(b: &[u8], from: usize) -> usize {
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while i + 8 <= b.len() {
        let others = !alnum_bits(word_at(b, i)) & HIGHS;
        if others != 0 {
            return i + (others.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && b[i].is_ascii_alphanumeric() {
        i += 1;
    }
    i
}

/// `token` characters: alphanum and `-.!%*_+`'~`.
#[inline]
pub(crate) fn is_token_byte(b: u8) -> bool {
    is(b, TOKEN)
}

/// A non-empty `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && all(s.as_bytes(), TOKEN)
}

/// SP or HTAB.
#[inline]
pub(crate) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The eight bytes at `b[i..i + 8]` as a little-endian word.
#[inline]
pub(crate) fn word_at(b: &[u8], i: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(word)
}

/// `w` with its ASCII capital letters lower-cased, all eight bytes at
/// once (other bytes, including non-ASCII ones, are kept).
#[inline]
pub(crate) fn lower_word(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let low = w & LOW7;
    // The high bit of each byte: set from `A` on, set from past `Z` on;
    // the sums stay within their byte (at most 0x7f + 0x3f).
    let from_a = low + ONES * u64::from(0x80 - b'A');
    let past_z = low + ONES * u64::from(0x80 - b'Z' - 1);
    let upper = from_a & !past_z & !w & HIGHS;
    w | (upper >> 2)
}

/// A name of at most eight bytes as one word, for comparing names of the
/// same length: their bytes in order for lengths 3 to 8, a fixed pick of
/// them for 1 and 2 (`None` for longer names).
#[inline(always)]
pub(crate) fn short_word(b: &[u8]) -> Option<u64> {
    let n = b.len();
    Some(match n {
        // Two overlapping four-byte reads; the bytes both hold are equal,
        // so OR keeps them.
        4..=8 => u64::from(u32_at(b, 0)) | u64::from(u32_at(b, n - 4)) << (8 * (n - 4)),
        1..=3 => u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16,
        0 => 0,
        _ => return None,
    })
}

/// [`short_word`] of a lower-case name known at compile time.
pub(crate) const fn name_word(b: &[u8]) -> u64 {
    let n = b.len();
    let mut w = 0;
    if n >= 4 {
        let mut i = 0;
        while i < n {
            w |= (b[i] as u64) << (8 * i);
            i += 1;
        }
    } else if n > 0 {
        w = b[0] as u64 | (b[n / 2] as u64) << 8 | (b[n - 1] as u64) << 16;
    }
    w
}

/// The four bytes at `b[i..i + 4]` as a little-endian number.
#[inline]
fn u32_at(b: &[u8], i: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&b[i..i + 4]);
    u32::from_le_bytes(word)
}

/// `a` and `b` are equal but for the case of ASCII letters (what
/// `<[u8]>::eq_ignore_ascii_case` says), compared eight bytes at a time.
#[inline(always)]
pub(crate) fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match (short_word(a), short_word(b)) {
        (Some(x), Some(y)) => lower_word(x) == lower_word(y),
        _ => eq_ignore_case_long(a, b),
    }
}

/// [`eq_ignore_case`] of two slices of the same length above eight.
fn eq_ignore_case_long(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    let mut i = 0;
    while i + 8 <= n {
        if lower_word(word_at(a, i)) != lower_word(word_at(b, i)) {
            return false;
        }
        i += 8;
    }
    // The last eight bytes, overlapping those compared.
    i == n || lower_word(word_at(a, n - 8)) == lower_word(word_at(b, n - 8))
}

/// The index of the first byte `c` in the little-endian word `w`.
#[inline]
pub(crate) fn first_in_word(w: u64, c: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let x = w ^ (ONES * u64::from(c));
    // The lowest flagged byte is the first zero byte of `x`.
    let found = x.wrapping_sub(ONES) & !x & HIGHS;
    (found != 0).then(|| (found.trailing_zeros() / 8) as usize)
}

/// The index of the first `c` in `b`, sixteen bytes at a time (header
/// lines are short, where a word-at-a-time scan beats `memchr`'s setup).
#[inline]
pub(crate) fn find_short(b: &[u8], c: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES * u64::from(c);
    // The high bit of the first byte of `x` that is zero (bytes above it
    // may be flagged too), none if there is none.
    let zeros = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    // The first `c` in the sixteen bytes at `at`.
    let in_chunk = |chunk: &[u8; 16], at: usize| {
        let found0 = zeros(word_at(chunk, 0) ^ pattern);
        let found1 = zeros(word_at(chunk, 8) ^ pattern);
        if found0 | found1 == 0 {
            return None;
        }
        let offset = if found0 != 0 {
            found0.trailing_zeros() / 8
        } else {
            8 + found1.trailing_zeros() / 8
        };
        Some(at + offset as usize)
    };
    let mut i = 0;
    while let Some(chunk) = b.get(i..).and_then(<[u8]>::first_chunk::<16>) {
        if let Some(found) = in_chunk(chunk, i) {
            return Some(found);
        }
        i += 16;
    }
    if i == b.len() {
        return None;
    }
    // The last sixteen bytes, those before `i` known to hold no `c`.
    if let Some(last) = b.last_chunk::<16>() {
        return in_chunk(last, b.len() - 16);
    }
    b.iter().position(|&x| x == c)
}

/// The index of the first `c` in `s` (a plain loop: the strings searched
/// here are short, where `memchr` and `str::find` cost more to set up).
#[inline]
pub(crate) fn find_byte(s: &str, c: u8) -> Option<usize> {
    s.bytes().position(|b| b == c)
}

/// `s[start..end]` if both ends are in it and char boundaries (what
/// `str::get` says, in a form the compiler inlines into the fast paths).
#[inline(always)]
pub(crate) fn sub(s: &str, start: usize, end: usize) -> Option<&str> {
    let (head, _) = s.split_at_checked(end)?;
    Some(head.split_at_checked(start)?.1)
}

/// `s` split around the first `c`, which must be ASCII.
#[inline]
pub(crate) fn split_byte(s: &str, c: u8) -> Option<(&str, &str)> {
    let i = find_byte(s, c)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// Strips SP/HTAB on both sides (values are unfolded, so no CR/LF remain).
#[inline]
pub(crate) fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    let mut start = 0;
    let mut end = b.len();
    while start < end && is_wsp(b[start]) {
        start += 1;
    }
    while end > start && is_wsp(b[end - 1]) {
        end -= 1;
    }
    // Both ends moved only over ASCII bytes, so they are char boundaries.
    s.get(start..end).unwrap_or_default()
}

/// Strips SP/HTAB on the left.
#[inline]
pub(crate) fn trim_start(s: &str) -> &str {
    let n = s.bytes().take_while(|&b| is_wsp(b)).count();
    s.get(n..).unwrap_or_default()
}

/// A non-empty run of ASCII digits as u32, or None (also on overflow).
pub(crate) fn parse_u32(s: &str) -> Option<u32> {
    parse_u32_bytes(s.as_bytes())
}

/// [`parse_u32`] on bytes.
pub(crate) fn parse_u32_bytes(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    u32::try_from(n).ok()
}

/// Strips SP/HTAB on both sides of bytes.
#[inline]
pub(crate) fn trim_bytes(b: &[u8]) -> &[u8] {
    let mut start = 0;
    let mut end = b.len();
    while start < end && is_wsp(b[start]) {
        start += 1;
    }
    while end > start && is_wsp(b[end - 1]) {
        end -= 1;
    }
    &b[start..end]
}

/// delta-seconds (RFC 3261 §25.1): digits; values above 2^32-1 are taken
/// as 2^32-1 (RFC 3261 §20.19 / §10.2.1 treat them as "very long").
pub(crate) fn parse_delta_seconds(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        parse_u32(s.trim_start_matches('0')).unwrap_or(if s.bytes().all(|b| b == b'0') {
            0
        } else {
            u32::MAX
        }),
    )
}

/// Given `s` starting with `"`, the index just past the closing quote.
#[inline]
pub(crate) fn quoted_end(s: &[u8]) -> Option<usize> {
    let mut i = 1;
    // Eight bytes at a time to the first quote or backslash.
    while i + 8 <= s.len() {
        let w = word_at(s, i);
        match (first_in_word(w, b'"'), first_in_word(w, b'\\')) {
            (Some(quote), Some(backslash)) if backslash < quote => i += backslash + 2,
            (Some(quote), _) => return Some(i + quote + 1),
            // The backslash and the byte it escapes.
            (None, Some(backslash)) => i += backslash + 2,
            (None, None) => i += 8,
        }
    }
    while i < s.len() {
        match s[i] {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// If `s` is a complete quoted-string, its inner text (escapes kept).
pub(crate) fn unquote(s: &str) -> Option<&str> {
    if s.len() >= 2 && s.starts_with('"') && quoted_end(s.as_bytes()) == Some(s.len()) {
        Some(&s[1..s.len() - 1])
    } else {
        None
    }
}

/// Resolves the `\x` escapes of a quoted-string's inner text.
pub fn unescape_quoted(inner: &str) -> Cow<'_, str> {
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Given `s` starting with `(`, the index just past the matching `)`
/// (comments nest and may hold quoted-pairs, RFC 3261 §25.1).
pub(crate) fn comment_end(s: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'(' => depth += 1,
            b')' => {
                if depth == 0 {
                    return None;
                }
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'\\' => i += 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Splits at top-level `delim` bytes: not inside a quoted-string and not
/// inside `<...>`. Yields `Err` once for an unterminated quote or `<`.
#[derive(Debug, Clone)]
pub(crate) struct Split<'a> {
    rest: Option<&'a str>,
    delim: u8,
}

impl<'a> Split<'a> {
    pub(crate) fn new(s: &'a str, delim: u8) -> Self {
        Split {
            rest: Some(s),
            delim,
        }
    }
}

impl<'a> Iterator for Split<'a> {
    type Item = Result<&'a str, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.rest?;
        let b = s.as_bytes();
        let mut i = 0;
        while let Some(off) = memchr::memchr3(self.delim, b'"', b'<', &b[i..]) {
            let at = i + off;
            match b[at] {
                b'"' => match quoted_end(&b[at..]) {
                    Some(n) => i = at + n,
                    None => {
                        self.rest = None;
                        return Some(Err("unterminated quoted string"));
                    }
                },
                b'<' => match memchr::memchr(b'>', &b[at..]) {
                    Some(n) => i = at + n + 1,
                    None => {
                        self.rest = None;
                        return Some(Err("unterminated <"));
                    }
                },
                _ => {
                    self.rest = s.get(at + 1..);
                    return Some(Ok(s.get(..at).unwrap_or_default()));
                }
            }
        }
        self.rest = None;
        Some(Ok(s))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn split(s: &str, d: u8) -> Vec<Result<&str, &'static str>> {
        Split::new(s, d).collect()
    }

    #[test]
    fn split_respects_quotes_and_angles() {
        assert_eq!(
            split(r#""a, b" <sip:x@y;p=1,2>;q=1, <sip:z>"#, b','),
            vec![Ok(r#""a, b" <sip:x@y;p=1,2>;q=1"#), Ok(" <sip:z>")]
        );
        assert_eq!(
            split(r#""a\", b", c"#, b','),
            vec![Ok(r#""a\", b""#), Ok(" c")]
        );
        assert_eq!(
            split("a;b=\"x;y\";c", b';'),
            vec![Ok("a"), Ok("b=\"x;y\""), Ok("c")]
        );
        assert_eq!(split("", b','), vec![Ok("")]);
    }

    #[test]
    fn split_reports_unterminated() {
        assert_eq!(
            split("\"abc, d", b','),
            vec![Err("unterminated quoted string")]
        );
        assert_eq!(split("<sip:a, b", b','), vec![Err("unterminated <")]);
    }

    #[test]
    fn classes() {
        assert!(is(b'a', TOKEN) && is(b'~', TOKEN) && !is(b'(', TOKEN) && !is(b' ', TOKEN));
        assert!(is(b';', USER) && !is(b';', PASSWORD) && !is(b'@', USER));
        assert!(is(b':', PARAM) && !is(b'?', PARAM) && is(b'?', HNV) && !is(b'&', HNV));
        assert!(is(b'{', WORD) && !is(b'@', WORD) && !is(b' ', WORD));
        assert!(is(b'_', LABEL) && !is(b'.', LABEL));
        assert!(is(b'7', ALNUM) && !is(b'.', ALNUM) && !is(b'_', ALNUM));
        assert_eq!(skip(b"ab-c:d", 1, LABEL), 4);
        assert_eq!(skip(b"abcdefghij:", 0, ALNUM), 10);
        assert!(is(b'=', PVALUE) && !is(b'=', PNAME) && !is(b';', PVALUE) && !is(b'\t', PNAME));
        assert_eq!(skip(b"ab", 0, LABEL), 2);
        assert!(!is(0xff, TOKEN | USER | WORD | LABEL));
        assert_eq!(trim(" \t a b \t"), "a b");
        assert_eq!(trim_start(" \tx "), "x ");
        assert_eq!(trim("   "), "");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u32("4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32("4294967296"), None);
        assert_eq!(parse_u32("-1"), None);
        assert_eq!(parse_u32(""), None);
        assert_eq!(parse_delta_seconds("99999999999999"), Some(u32::MAX));
        assert_eq!(parse_delta_seconds("0000"), Some(0));
        assert_eq!(parse_delta_seconds("0300"), Some(300));
        assert_eq!(parse_delta_seconds("3a"), None);
    }

    #[test]
    fn quoting() {
        assert_eq!(unquote("\"ab\\\"c\""), Some("ab\\\"c"));
        assert_eq!(unquote("\"ab"), None);
        assert_eq!(unquote("\"a\"b"), None);
        assert_eq!(unescape_quoted("ab\\\"c"), "ab\"c");
        assert_eq!(comment_end(b"(a (b) \\) c) x"), Some(12));
        assert_eq!(comment_end(b"(a (b)"), None);
    }
}
