//! Framing of SIP over stream transports (TCP, TLS): RFC 3261 §18.3
//! (Content-Length is mandatory and delimits the body) and the CRLF
//! keep-alives of RFC 5626 §3.5.1 (a client sends CRLFCRLF "ping", the
//! server answers CRLF "pong").

use bytes::BytesMut;

use crate::error::ParseError;
use crate::limits::Limits;
use crate::message::parse::{assemble, parse_head, Framing, Head};
use crate::message::Message;

/// What [`StreamDecoder::decode`] found at the front of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
// Keep-alives are rare and an item is moved once: no box for the message.
#[allow(clippy::large_enum_variant)]
pub enum StreamItem {
    /// A complete message.
    Message(Message),
    /// A CRLFCRLF keep-alive ping; answer with a single CRLF.
    KeepAlivePing,
    /// A lone CRLF: the pong answering our ping.
    KeepAlivePong,
}

/// Incremental decoder for one connection. After an error the stream is
/// out of sync and the connection should be closed.
#[derive(Debug)]
pub struct StreamDecoder {
    limits: Limits,
    /// Bytes of the buffer already searched for the end of the headers.
    scanned: usize,
    /// A parsed header block waiting for its body.
    pending: Option<(Head, usize)>,
}

impl StreamDecoder {
    /// A decoder applying `limits` to every message.
    pub fn new(limits: Limits) -> StreamDecoder {
        StreamDecoder {
            limits,
            scanned: 0,
            pending: None,
        }
    }

    /// Takes the next item off the front of `buf`. `Ok(None)` means more
    /// bytes are needed; the bytes of a returned item are consumed.
    /// A lone CRLF is reported as a pong as soon as it is followed by
    /// anything other than CR, or when it is all the buffer holds.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<StreamItem>, ParseError> {
        if self.pending.is_none() && self.scanned == 0 {
            match keep_alive(buf) {
                KeepAlive::Ping => {
                    let _ = buf.split_to(4);
                    return Ok(Some(StreamItem::KeepAlivePing));
                }
                KeepAlive::Pong => {
                    let _ = buf.split_to(2);
                    return Ok(Some(StreamItem::KeepAlivePong));
                }
                KeepAlive::NeedMore => return Ok(None),
                KeepAlive::None => {}
            }
        }
        if self.pending.is_none() {
            let Some(head_len) = self.find_head_end(buf)? else {
                return Ok(None);
            };
            let head = match parse_head(&buf[..head_len], &self.limits, Framing::Stream) {
                Ok(head) => head,
                Err(e) => {
                    self.scanned = 0;
                    return Err(e);
                }
            };
            let body_len = head.content_length.unwrap_or(0);
            let total = head_len.saturating_add(body_len);
            if total > self.limits.max_message_size {
                self.scanned = 0;
                return Err(ParseError::TooLarge {
                    size: total,
                    limit: self.limits.max_message_size,
                });
            }
            self.pending = Some((head, total));
        }
        let Some((_, total)) = &self.pending else {
            return Ok(None);
        };
        if buf.len() < *total {
            return Ok(None);
        }
        let total = *total;
        let Some((head, _)) = self.pending.take() else {
            return Ok(None);
        };
        self.scanned = 0;
        let bytes = buf.split_to(total).freeze();
        let body = head.body_start..total;
        Ok(Some(StreamItem::Message(assemble(head, bytes, body))))
    }

    /// The length of the header block including its empty line, once the
    /// buffer holds all of it.
    fn find_head_end(&mut self, buf: &BytesMut) -> Result<Option<usize>, ParseError> {
        let mut i = self.scanned;
        while let Some(off) = memchr::memchr(b'\n', &buf[i..]) {
            let nl = i + off;
            match (buf.get(nl + 1), buf.get(nl + 2)) {
                (Some(b'\n'), _) => return self.checked(nl + 2),
                (Some(b'\r'), Some(b'\n')) => return self.checked(nl + 3),
                (None, _) | (Some(b'\r'), None) => {
                    self.scanned = nl;
                    return self.checked_partial(buf.len());
                }
                _ => i = nl + 1,
            }
        }
        self.scanned = buf.len();
        self.checked_partial(buf.len())
    }

    fn checked(&mut self, head_len: usize) -> Result<Option<usize>, ParseError> {
        if head_len > self.limits.max_message_size {
            self.scanned = 0;
            return Err(ParseError::TooLarge {
                size: head_len,
                limit: self.limits.max_message_size,
            });
        }
        Ok(Some(head_len))
    }

    fn checked_partial(&mut self, seen: usize) -> Result<Option<usize>, ParseError> {
        if seen > self.limits.max_message_size {
            self.scanned = 0;
            return Err(ParseError::TooLarge {
                size: seen,
                limit: self.limits.max_message_size,
            });
        }
        Ok(None)
    }
}

enum KeepAlive {
    Ping,
    Pong,
    NeedMore,
    None,
}

fn keep_alive(buf: &[u8]) -> KeepAlive {
    match buf {
        [] | [b'\r'] => KeepAlive::NeedMore,
        [b'\r', b'\n', b'\r', b'\n', ..] => KeepAlive::Ping,
        [b'\r', b'\n', b'\r'] => KeepAlive::NeedMore,
        [b'\r', b'\n', ..] => KeepAlive::Pong,
        _ => KeepAlive::None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n\
To: <sip:a@b>\r\nFrom: <sip:c@d>;tag=1\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

    #[test]
    fn byte_by_byte() {
        let mut dec = StreamDecoder::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut wire = MSG.to_vec();
        wire.extend_from_slice(MSG);
        let mut got = Vec::new();
        for &b in &wire {
            buf.extend_from_slice(&[b]);
            while let Some(item) = dec.decode(&mut buf).unwrap() {
                got.push(item);
            }
        }
        assert_eq!(got.len(), 2);
        let StreamItem::Message(m) = &got[0] else {
            panic!()
        };
        assert_eq!(&m.body()[..], b"hello");
        assert!(buf.is_empty());
    }

    #[test]
    fn pipelined_with_keep_alives() {
        let mut dec = StreamDecoder::new(Limits::default());
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"\r\n\r\n");
        buf.extend_from_slice(MSG);
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(MSG);
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            Some(StreamItem::KeepAlivePing)
        );
        assert!(matches!(
            dec.decode(&mut buf).unwrap(),
            Some(StreamItem::Message(_))
        ));
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            Some(StreamItem::KeepAlivePong)
        );
        assert!(matches!(
            dec.decode(&mut buf).unwrap(),
            Some(StreamItem::Message(_))
        ));
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\r\n\r");
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\n");
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            Some(StreamItem::KeepAlivePing)
        );
        buf.extend_from_slice(b"\r\n");
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            Some(StreamItem::KeepAlivePong)
        );
    }

    #[test]
    fn content_length_is_mandatory() {
        let mut dec = StreamDecoder::new(Limits::default());
        let text = String::from_utf8(MSG.to_vec())
            .unwrap()
            .replace("Content-Length: 5\r\n", "");
        let mut buf = BytesMut::from(text.as_bytes());
        assert_eq!(dec.decode(&mut buf), Err(ParseError::MissingContentLength));
    }

    #[test]
    fn oversized_input_is_rejected_early() {
        let limits = Limits {
            max_message_size: 100,
            ..Limits::default()
        };
        let mut dec = StreamDecoder::new(limits);
        let mut buf = BytesMut::from(&b"OPTIONS sip:a@b SIP/2.0\r\nX-Long: "[..]);
        buf.extend_from_slice(&[b'a'; 200]);
        assert!(matches!(
            dec.decode(&mut buf),
            Err(ParseError::TooLarge { .. })
        ));
        let mut dec = StreamDecoder::new(limits);
        let text = String::from_utf8(MSG.to_vec())
            .unwrap()
            .replace("Content-Length: 5", "Content-Length: 99999");
        let mut buf = BytesMut::from(text.as_bytes());
        let limits = Limits {
            max_message_size: 1000,
            ..Limits::default()
        };
        let mut dec2 = StreamDecoder::new(limits);
        assert!(matches!(
            dec2.decode(&mut buf.clone()),
            Err(ParseError::TooLarge { .. })
        ));
        assert!(matches!(
            dec.decode(&mut buf),
            Err(ParseError::TooLarge { .. })
        ));
    }
}
