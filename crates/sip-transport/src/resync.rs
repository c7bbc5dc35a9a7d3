//! Staying in step on a stream after a message that did not parse: on TCP
//! and TLS only Content-Length says where a message ends (RFC 3261
//! §18.3), so a message with a bad header can be skipped, and the
//! connection kept, only while its header block is complete and holds
//! exactly one well-formed Content-Length. Anything less and the framing
//! is lost.

/// The length of the header block at the front of `buf`, with its empty
/// line, by the rule `sip::StreamDecoder` ends a header block by (a LF
/// followed by LF or CRLF); `None` while it is incomplete.
pub(crate) fn head_len(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(offset) = buf.get(from..)?.iter().position(|&b| b == b'\n') {
        let nl = from + offset;
        match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\n'), _) => return Some(nl + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(nl + 3),
            _ => from = nl + 1,
        }
    }
    None
}

/// The length of the whole message whose header block is `head`: the
/// block plus its one Content-Length (or compact `l`), if that header is
/// present exactly once, is only digits and is not folded. `None` when
/// the framing cannot be trusted.
pub(crate) fn message_len(head: &[u8]) -> Option<usize> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    // The start line names no header.
    lines.next()?;
    let mut content_length = None;
    let mut previous_was_length = false;
    for line in lines {
        if line.first().is_some_and(|b| matches!(b, b' ' | b'\t')) {
            // A folded continuation (RFC 3261 §7.3.1) of Content-Length
            // would change its value.
            if previous_was_length {
                return None;
            }
            continue;
        }
        previous_was_length = false;
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line.get(..colon)?.trim_ascii();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        if content_length.is_some() {
            return None;
        }
        let value = line.get(colon + 1..)?.trim_ascii();
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return None;
        }
        content_length = Some(std::str::from_utf8(value).ok()?.parse::<usize>().ok()?);
        previous_was_length = true;
    }
    head.len().checked_add(content_length?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const HEAD: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\
Contact: <broken\r\nContent-Length: 5\r\n\r\n";

    #[test]
    fn head_ends_where_the_decoder_ends_it() {
        let mut buf = HEAD.to_vec();
        buf.extend_from_slice(b"hello");
        assert_eq!(head_len(&buf), Some(HEAD.len()));
        assert_eq!(head_len(b"A\n\nrest"), Some(3));
        assert_eq!(head_len(b"A\r\nB: c\n\r\n"), Some(10));
        assert_eq!(head_len(b"A\r\nB: c\r\n"), None);
        assert_eq!(head_len(b"A\r\nB: c\r\n\r"), None);
        assert_eq!(head_len(b""), None);
    }

    #[test]
    fn one_plain_content_length_frames_the_message() {
        assert_eq!(message_len(HEAD), Some(HEAD.len() + 5));
        let compact = b"X sip:a SIP/2.0\r\nl:  12 \r\n\r\n";
        assert_eq!(message_len(compact), Some(compact.len() + 12));
        let none = b"X sip:a SIP/2.0\r\nTo: b\r\n\r\n";
        assert_eq!(message_len(none), None);
    }

    #[test]
    fn doubtful_content_length_loses_the_framing() {
        for head in [
            &b"X sip:a SIP/2.0\r\nContent-Length: 5\r\nl: 5\r\n\r\n"[..],
            b"X sip:a SIP/2.0\r\nContent-Length: 5x\r\n\r\n",
            b"X sip:a SIP/2.0\r\nContent-Length: -1\r\n\r\n",
            b"X sip:a SIP/2.0\r\nContent-Length:\r\n\r\n",
            b"X sip:a SIP/2.0\r\nContent-Length: 5\r\n 0\r\n\r\n",
            b"X sip:a SIP/2.0\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        ] {
            assert_eq!(message_len(head), None, "{}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn a_content_length_named_in_the_start_line_is_not_a_header() {
        let head = b"l: 5 sip:a SIP/2.0\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(message_len(head), Some(head.len() + 2));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Some(head) = head_len(&bytes) {
                prop_assert!(head <= bytes.len());
                if let Some(total) = message_len(&bytes[..head]) {
                    prop_assert!(total >= head);
                }
            }
            let _ = message_len(&bytes);
        }
    }
}
