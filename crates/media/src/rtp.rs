//! RTP packets: a zero-copy view ([`RtpPacket`]), in-place edits
//! ([`RtpPacketMut`]) and a header writer ([`RtpHeader`]).
//!
//! - RFC 3550 §5.1: fixed header, CSRC list, padding (the last byte
//!   counts the padding bytes, itself included).
//! - RFC 3550 §5.3.1: header extension (16-bit profile, length in 32-bit
//!   words); its length is honoured whatever the profile, so the payload
//!   offset is right for any extension.
//! - RFC 8285 §4.2 and §4.3: one-byte (`0xBEDE`) and two-byte
//!   (`0x100X`) extension elements, read by [`HeaderExtension::elements`].
//!
//! Validation follows RFC 3550 §A.1 for what one packet can show: version
//! 2, a padding count that fits, and a CSRC list and extension inside the
//! packet. Payload type plausibility is the caller's (RFC 5761 §4 for a
//! muxed port: see [`classify`](crate::classify)).

use crate::error::RtpError;

/// Length of the fixed RTP header (RFC 3550 §5.1).
pub(crate) const FIXED_HEADER_LEN: usize = 12;

/// RFC 8285 §4.2: profile value of the one-byte header form.
const ONE_BYTE_PROFILE: u16 = 0xBEDE;

/// RFC 8285 §4.3: profile value of the two-byte form, low 4 bits are
/// application bits.
const TWO_BYTE_PROFILE: u16 = 0x1000;

fn be16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// Length of the header (fixed part, CSRC list and extension) of `buf`,
/// checking version and lengths but not padding.
///
/// SRTP needs this: its padding byte is encrypted, so it can only be
/// checked after decryption.
pub(crate) fn header_len(buf: &[u8]) -> Result<usize, RtpError> {
    let truncated = |needed| RtpError::Truncated {
        len: buf.len(),
        needed,
    };
    if buf.len() < FIXED_HEADER_LEN {
        return Err(truncated(FIXED_HEADER_LEN));
    }
    let version = buf[0] >> 6;
    if version != 2 {
        return Err(RtpError::Version(version));
    }
    let csrc_count = usize::from(buf[0] & 0x0f);
    let mut len = FIXED_HEADER_LEN + 4 * csrc_count;
    if buf.len() < len {
        return Err(truncated(len));
    }
    if buf[0] & 0x10 != 0 {
        if buf.len() < len + 4 {
            return Err(truncated(len + 4));
        }
        let words = usize::from(be16(buf, len + 2));
        len += 4 + 4 * words;
        if buf.len() < len {
            return Err(truncated(len));
        }
    }
    Ok(len)
}

/// A validated RTP packet borrowed from a buffer (RFC 3550 §5.1).
///
/// Accessors read the bytes in place; nothing is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    buf: &'a [u8],
    header_len: usize,
    padding_len: usize,
}

impl<'a> RtpPacket<'a> {
    /// Checks `buf` as one RTP packet (the whole datagram).
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let header_len = header_len(buf)?;
        let padding_len = if buf[0] & 0x20 != 0 {
            let available = buf.len() - header_len;
            // header_len() guarantees at least 12 bytes.
            let count = buf[buf.len() - 1];
            if count == 0 || usize::from(count) > available {
                return Err(RtpError::Padding { count, available });
            }
            usize::from(count)
        } else {
            0
        };
        Ok(Self {
            buf,
            header_len,
            padding_len,
        })
    }

    /// The whole packet.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The padding bit.
    pub fn has_padding(&self) -> bool {
        self.buf[0] & 0x20 != 0
    }

    /// The extension bit.
    pub fn has_extension(&self) -> bool {
        self.buf[0] & 0x10 != 0
    }

    /// Number of CSRCs (0..=15).
    pub fn csrc_count(&self) -> u8 {
        self.buf[0] & 0x0f
    }

    /// The marker bit.
    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    /// Payload type (0..=127).
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7f
    }

    /// Sequence number.
    pub fn sequence_number(&self) -> u16 {
        be16(self.buf, 2)
    }

    /// RTP timestamp.
    pub fn timestamp(&self) -> u32 {
        be32(self.buf, 4)
    }

    /// Synchronization source.
    pub fn ssrc(&self) -> u32 {
        be32(self.buf, 8)
    }

    /// Contributing sources, in order.
    pub fn csrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        let list =
            &self.buf[FIXED_HEADER_LEN..FIXED_HEADER_LEN + 4 * usize::from(self.csrc_count())];
        list.chunks_exact(4).map(|c| be32(c, 0))
    }

    /// The header extension, when the extension bit is set.
    pub fn extension(&self) -> Option<HeaderExtension<'a>> {
        if !self.has_extension() {
            return None;
        }
        let at = FIXED_HEADER_LEN + 4 * usize::from(self.csrc_count());
        Some(HeaderExtension {
            profile: be16(self.buf, at),
            data: &self.buf[at + 4..self.header_len],
        })
    }

    /// Offset of the payload: the length of the fixed header, CSRC list and
    /// extension.
    pub fn payload_offset(&self) -> usize {
        self.header_len
    }

    /// The payload, without padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len..self.buf.len() - self.padding_len]
    }

    /// Number of padding bytes at the end (0 without the padding bit).
    pub fn padding_len(&self) -> usize {
        self.padding_len
    }

    /// The header fields the writer takes, to rewrite a header.
    pub fn header(&self) -> RtpHeader {
        RtpHeader {
            marker: self.marker(),
            payload_type: self.payload_type(),
            sequence_number: self.sequence_number(),
            timestamp: self.timestamp(),
            ssrc: self.ssrc(),
        }
    }
}

/// The header extension of a packet (RFC 3550 §5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderExtension<'a> {
    profile: u16,
    data: &'a [u8],
}

impl<'a> HeaderExtension<'a> {
    /// The 16 "defined by profile" bits: `0xBEDE` for RFC 8285 one-byte
    /// elements, `0x100X` for two-byte elements.
    pub fn profile(&self) -> u16 {
        self.profile
    }

    /// The extension data after its 4-byte header.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The RFC 8285 elements; empty for other profiles.
    pub fn elements(&self) -> ExtensionElements<'a> {
        let form = if self.profile == ONE_BYTE_PROFILE {
            Some(ElementForm::OneByte)
        } else if self.profile & 0xfff0 == TWO_BYTE_PROFILE {
            Some(ElementForm::TwoByte)
        } else {
            None
        };
        ExtensionElements {
            data: self.data,
            at: 0,
            form,
        }
    }
}

/// One RFC 8285 header extension element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionElement<'a> {
    /// Local identifier (1..=14 one-byte, 1..=255 two-byte).
    pub id: u8,
    /// Element data.
    pub data: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
enum ElementForm {
    OneByte,
    TwoByte,
}

/// Iterator over RFC 8285 elements; see [`HeaderExtension::elements`].
///
/// Padding bytes (ID 0) are skipped; a one-byte ID 15 ends the list
/// (RFC 8285 §4.2). An element that overruns the extension yields one
/// error and ends the iteration.
#[derive(Debug, Clone)]
pub struct ExtensionElements<'a> {
    data: &'a [u8],
    at: usize,
    form: Option<ElementForm>,
}

impl<'a> Iterator for ExtensionElements<'a> {
    type Item = Result<ExtensionElement<'a>, RtpError>;

    fn next(&mut self) -> Option<Self::Item> {
        let form = self.form?;
        loop {
            let start = self.at;
            let first = *self.data.get(start)?;
            let (id, len, data_at) = match form {
                ElementForm::OneByte => {
                    let id = first >> 4;
                    if id == 0 {
                        self.at += 1;
                        continue;
                    }
                    if id == 15 {
                        self.form = None;
                        return None;
                    }
                    (id, usize::from(first & 0x0f) + 1, start + 1)
                }
                ElementForm::TwoByte => {
                    if first == 0 {
                        self.at += 1;
                        continue;
                    }
                    let Some(&len) = self.data.get(start + 1) else {
                        self.form = None;
                        return Some(Err(RtpError::ExtensionElement { offset: start }));
                    };
                    (first, usize::from(len), start + 2)
                }
            };
            let Some(data) = self.data.get(data_at..data_at + len) else {
                self.form = None;
                return Some(Err(RtpError::ExtensionElement { offset: start }));
            };
            self.at = data_at + len;
            return Some(Ok(ExtensionElement { id, data }));
        }
    }
}

/// A validated RTP packet borrowed mutably, for rewriting header fields in
/// place (an SBC relaying between legs).
#[derive(Debug)]
pub struct RtpPacketMut<'a> {
    buf: &'a mut [u8],
    header_len: usize,
    padding_len: usize,
}

impl<'a> RtpPacketMut<'a> {
    /// Checks `buf` as [`RtpPacket::parse`] does.
    pub fn parse(buf: &'a mut [u8]) -> Result<Self, RtpError> {
        let view = RtpPacket::parse(buf)?;
        let (header_len, padding_len) = (view.header_len, view.padding_len);
        Ok(Self {
            buf,
            header_len,
            padding_len,
        })
    }

    /// A read-only view of the same packet.
    pub fn as_packet(&self) -> RtpPacket<'_> {
        RtpPacket {
            buf: self.buf,
            header_len: self.header_len,
            padding_len: self.padding_len,
        }
    }

    /// Sets the marker bit.
    pub fn set_marker(&mut self, marker: bool) {
        self.buf[1] = (self.buf[1] & 0x7f) | if marker { 0x80 } else { 0 };
    }

    /// Sets the payload type; only its low 7 bits are kept.
    pub fn set_payload_type(&mut self, payload_type: u8) {
        self.buf[1] = (self.buf[1] & 0x80) | (payload_type & 0x7f);
    }

    /// Sets the sequence number.
    pub fn set_sequence_number(&mut self, sequence_number: u16) {
        self.buf[2..4].copy_from_slice(&sequence_number.to_be_bytes());
    }

    /// Sets the timestamp.
    pub fn set_timestamp(&mut self, timestamp: u32) {
        self.buf[4..8].copy_from_slice(&timestamp.to_be_bytes());
    }

    /// Sets the SSRC.
    pub fn set_ssrc(&mut self, ssrc: u32) {
        self.buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
    }

    /// The payload, without padding, for in-place transcoding.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.buf.len() - self.padding_len;
        &mut self.buf[self.header_len..end]
    }
}

/// Fields of an RTP header to write (RFC 3550 §5.1). The writer emits
/// version 2 without padding or extension; CSRCs are passed separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type, 0..=127.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence_number: u16,
    /// Timestamp in the payload format's clock.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: u32,
}

impl RtpHeader {
    /// Length of a header with `csrc_count` CSRCs.
    pub const fn len_with_csrcs(csrc_count: usize) -> usize {
        FIXED_HEADER_LEN + 4 * csrc_count
    }

    /// Writes the header and `csrcs` at the start of `out`; returns the
    /// number of bytes written (the payload offset).
    pub fn write(&self, csrcs: &[u32], out: &mut [u8]) -> Result<usize, RtpError> {
        if csrcs.len() > 15 {
            return Err(RtpError::TooManyCsrcs(csrcs.len()));
        }
        if self.payload_type > 127 {
            return Err(RtpError::PayloadType(self.payload_type));
        }
        let len = Self::len_with_csrcs(csrcs.len());
        let Some(out) = out.get_mut(..len) else {
            return Err(RtpError::BufferTooSmall {
                len: out.len(),
                needed: len,
            });
        };
        // The count is at most 15 (checked above).
        out[0] = 0x80 | csrcs.len() as u8;
        out[1] = self.payload_type | if self.marker { 0x80 } else { 0 };
        out[2..4].copy_from_slice(&self.sequence_number.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        for (slot, csrc) in out[FIXED_HEADER_LEN..].chunks_exact_mut(4).zip(csrcs) {
            slot.copy_from_slice(&csrc.to_be_bytes());
        }
        Ok(len)
    }

    /// Appends the header and `csrcs` to `out`.
    pub fn append(&self, csrcs: &[u32], out: &mut Vec<u8>) -> Result<(), RtpError> {
        let start = out.len();
        out.resize(start + Self::len_with_csrcs(csrcs.len().min(15)), 0);
        match self.write(csrcs, &mut out[start..]) {
            Ok(_) => Ok(()),
            Err(error) => {
                out.truncate(start);
                Err(error)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn header(seq: u16) -> RtpHeader {
        RtpHeader {
            marker: true,
            payload_type: 0,
            sequence_number: seq,
            timestamp: 0x0102_0304,
            ssrc: 0xdead_beef,
        }
    }

    #[test]
    fn fixed_header_fields() {
        // V=2, M=1, PT=8, seq 0x1234, ts 0xdecafbad, ssrc 0xcafebabe.
        let bytes = [
            0x80, 0x88, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 1, 2, 3,
        ];
        let p = RtpPacket::parse(&bytes).unwrap();
        assert!(p.marker());
        assert_eq!(p.payload_type(), 8);
        assert_eq!(p.sequence_number(), 0x1234);
        assert_eq!(p.timestamp(), 0xdeca_fbad);
        assert_eq!(p.ssrc(), 0xcafe_babe);
        assert_eq!(p.csrc_count(), 0);
        assert!(!p.has_padding() && !p.has_extension());
        assert_eq!(p.extension(), None);
        assert_eq!(p.payload_offset(), 12);
        assert_eq!(p.payload(), &[1, 2, 3]);
    }

    #[test]
    fn csrcs_extension_and_padding() {
        let mut bytes = vec![0xb2, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        bytes.extend_from_slice(&[0, 0, 0, 10, 0, 0, 0, 11]); // 2 CSRCs
        bytes.extend_from_slice(&[0xbe, 0xde, 0, 2]); // one-byte form, 2 words
        bytes.extend_from_slice(&[0x10, 0xaa, 0x00, 0x22, 1, 2, 3, 0]); // id1 len1, pad, id2 len3, pad
        bytes.extend_from_slice(&[9, 9, 9]); // payload
        bytes.extend_from_slice(&[0, 0, 3]); // 3 bytes padding
        let p = RtpPacket::parse(&bytes).unwrap();
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![10, 11]);
        assert_eq!(p.payload_offset(), 12 + 8 + 4 + 8);
        assert_eq!(p.payload(), &[9, 9, 9]);
        assert_eq!(p.padding_len(), 3);
        let ext = p.extension().unwrap();
        assert_eq!(ext.profile(), 0xbede);
        assert_eq!(ext.data().len(), 8);
        let elements: Vec<_> = ext.elements().map(Result::unwrap).collect();
        assert_eq!(
            elements,
            vec![
                ExtensionElement {
                    id: 1,
                    data: &[0xaa]
                },
                ExtensionElement {
                    id: 2,
                    data: &[1, 2, 3]
                },
            ]
        );
    }

    #[test]
    fn two_byte_extension_elements() {
        let mut bytes = vec![0x90, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        // Profile 0x1000 with appbits 5, 2 words: id 7 len 0, pad, id 200 len 3.
        bytes.extend_from_slice(&[0x10, 0x05, 0, 2, 7, 0, 0, 200, 3, 1, 2, 3]);
        bytes.push(0x55);
        let p = RtpPacket::parse(&bytes).unwrap();
        let ext = p.extension().unwrap();
        let elements: Vec<_> = ext.elements().map(Result::unwrap).collect();
        assert_eq!(elements[0], ExtensionElement { id: 7, data: &[] });
        assert_eq!(
            elements[1],
            ExtensionElement {
                id: 200,
                data: &[1, 2, 3]
            }
        );
        assert_eq!(elements.len(), 2);
        assert_eq!(p.payload(), &[0x55]);
    }

    #[test]
    fn extension_element_overrun_and_stop() {
        // One-byte element id 1 claims 4 bytes, 3 remain.
        let ext = HeaderExtension {
            profile: ONE_BYTE_PROFILE,
            data: &[0x13, 1, 2, 3],
        };
        let mut it = ext.elements();
        assert_eq!(
            it.next(),
            Some(Err(RtpError::ExtensionElement { offset: 0 }))
        );
        assert_eq!(it.next(), None);
        // ID 15 stops parsing, whatever follows.
        let ext = HeaderExtension {
            profile: ONE_BYTE_PROFILE,
            data: &[0x10, 7, 0xf3, 0x10, 8],
        };
        assert_eq!(ext.elements().count(), 1);
        // Other profiles have no elements.
        let ext = HeaderExtension {
            profile: 0x1234,
            data: &[0x10, 7, 0, 0],
        };
        assert_eq!(ext.elements().count(), 0);
        // Two-byte element without its length byte.
        let ext = HeaderExtension {
            profile: 0x1000,
            data: &[0, 0, 0, 9],
        };
        assert_eq!(
            ext.elements().next(),
            Some(Err(RtpError::ExtensionElement { offset: 3 }))
        );
    }

    #[test]
    fn rejects_invalid_packets() {
        let base = [0x80u8, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        assert_eq!(
            RtpPacket::parse(&base[..11]),
            Err(RtpError::Truncated {
                len: 11,
                needed: 12
            })
        );
        let mut v1 = base;
        v1[0] = 0x40;
        assert_eq!(RtpPacket::parse(&v1), Err(RtpError::Version(1)));
        // CC=2 but no CSRCs.
        let mut cc = base;
        cc[0] = 0x82;
        assert_eq!(
            RtpPacket::parse(&cc),
            Err(RtpError::Truncated {
                len: 12,
                needed: 20
            })
        );
        // X set, no extension header; then an extension header claiming 1 word.
        let mut x = base.to_vec();
        x[0] = 0x90;
        assert!(matches!(
            RtpPacket::parse(&x),
            Err(RtpError::Truncated { needed: 16, .. })
        ));
        x.extend_from_slice(&[0xbe, 0xde, 0, 1]);
        assert!(matches!(
            RtpPacket::parse(&x),
            Err(RtpError::Truncated { needed: 20, .. })
        ));
        // Padding count 0, and larger than what follows the header.
        let mut p = base.to_vec();
        p[0] = 0xa0;
        p.extend_from_slice(&[1, 0]);
        assert_eq!(
            RtpPacket::parse(&p),
            Err(RtpError::Padding {
                count: 0,
                available: 2
            })
        );
        *p.last_mut().unwrap() = 3;
        assert_eq!(
            RtpPacket::parse(&p),
            Err(RtpError::Padding {
                count: 3,
                available: 2
            })
        );
        // A padding-only packet (bandwidth probe) is valid.
        *p.last_mut().unwrap() = 2;
        let ok = RtpPacket::parse(&p).unwrap();
        assert_eq!(ok.payload(), &[] as &[u8]);
        // Padding bit on a bare 12-byte header: the count is a header byte.
        let mut bare = base;
        bare[0] = 0xa0;
        assert!(matches!(
            RtpPacket::parse(&bare),
            Err(RtpError::Padding { available: 0, .. })
        ));
    }

    #[test]
    fn writer_round_trip_and_errors() {
        let mut buf = [0u8; 40];
        let len = header(7).write(&[1, 2], &mut buf).unwrap();
        assert_eq!(len, 20);
        let p = RtpPacket::parse(&buf[..len]).unwrap();
        assert_eq!(p.header(), header(7));
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(
            header(7).write(&[], &mut buf[..11]),
            Err(RtpError::BufferTooSmall {
                len: 11,
                needed: 12
            })
        );
        assert_eq!(
            header(7).write(&[0; 16], &mut [0; 100]),
            Err(RtpError::TooManyCsrcs(16))
        );
        let bad_pt = RtpHeader {
            payload_type: 128,
            ..header(1)
        };
        let mut out = vec![1, 2];
        assert_eq!(
            bad_pt.append(&[], &mut out),
            Err(RtpError::PayloadType(128))
        );
        assert_eq!(out, vec![1, 2]);
        header(9).append(&[], &mut out).unwrap();
        out.extend_from_slice(b"xy");
        let p = RtpPacket::parse(&out[2..]).unwrap();
        assert_eq!(p.sequence_number(), 9);
        assert_eq!(p.payload(), b"xy");
    }

    #[test]
    fn in_place_edits() {
        let mut buf = vec![0u8; 12];
        header(1).write(&[], &mut buf).unwrap();
        buf.extend_from_slice(&[5, 6, 0, 2]);
        buf[0] |= 0x20;
        let mut p = RtpPacketMut::parse(&mut buf).unwrap();
        p.set_marker(false);
        p.set_payload_type(0xff);
        p.set_sequence_number(0xabcd);
        p.set_timestamp(77);
        p.set_ssrc(88);
        p.payload_mut().copy_from_slice(&[7, 8]);
        let view = p.as_packet();
        assert!(!view.marker());
        assert_eq!(view.payload_type(), 0x7f);
        assert_eq!(view.sequence_number(), 0xabcd);
        assert_eq!(view.timestamp(), 77);
        assert_eq!(view.ssrc(), 88);
        assert_eq!(view.payload(), &[7, 8]);
        assert_eq!(view.padding_len(), 2);
    }
}
