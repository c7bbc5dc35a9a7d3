//! Small pieces of the RFC 8866 §9 grammar shared by the line and
//! attribute parsers.

/// Why a typed value did not parse; the line parser adds the line number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueError {
    /// The value breaks the grammar for the stated reason.
    Invalid(&'static str),
    /// A payload type number above 127.
    PayloadType(u64),
}

/// Parses `1*DIGIT` (no sign, no spaces) into an integer type.
pub(crate) fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses an RTP payload type (0..=127).
pub(crate) fn payload_type(s: &str) -> Result<u8, ValueError> {
    let value: u64 = digits(s).ok_or(ValueError::Invalid("payload type is not a number"))?;
    u8::try_from(value)
        .ok()
        .filter(|pt| *pt <= 127)
        .ok_or(ValueError::PayloadType(value))
}

/// Splits on runs of spaces (RFC 8866 uses single SP; runs are accepted).
pub(crate) fn fields(s: &str) -> impl Iterator<Item = &str> {
    s.split(' ').filter(|f| !f.is_empty())
}

/// Whether the `m=` transport carries RTP, so that formats are payload
/// types (RTP/AVP, RTP/SAVPF, UDP/TLS/RTP/SAVP, ...).
pub(crate) fn is_rtp_proto(proto: &str) -> bool {
    proto
        .split('/')
        .any(|part| part.eq_ignore_ascii_case("RTP"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_rejects_signs_and_blanks() {
        assert_eq!(digits::<u32>("20"), Some(20));
        assert_eq!(digits::<u32>("+20"), None);
        assert_eq!(digits::<u32>(""), None);
        assert_eq!(digits::<u32>(" 2"), None);
        assert_eq!(digits::<u8>("256"), None);
    }

    #[test]
    fn payload_type_range() {
        assert_eq!(payload_type("127"), Ok(127));
        assert_eq!(payload_type("128"), Err(ValueError::PayloadType(128)));
        assert_eq!(
            payload_type("99999999999999999999999"),
            Err(ValueError::Invalid("payload type is not a number"))
        );
    }

    #[test]
    fn rtp_protos() {
        assert!(is_rtp_proto("RTP/AVP"));
        assert!(is_rtp_proto("UDP/TLS/RTP/SAVPF"));
        assert!(!is_rtp_proto("udp"));
        assert!(!is_rtp_proto("TCP/MSRP"));
        assert!(!is_rtp_proto("UDP/DTLS/SCTP"));
    }
}
