//! Resource limits applied while parsing untrusted input (RFC 3261 §18 is
//! silent on sizes; these defaults are what a public-facing SBC can afford).

/// Bounds on what the parser accepts; every one is checked before memory
/// proportional to it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message (start line + headers + body) in bytes.
    pub max_message_size: usize,
    /// Most header lines in one message.
    pub max_headers: usize,
    /// Longest header line (after folding) or start line in bytes.
    pub max_line_length: usize,
    /// Longest URI in bytes: the Request-URI (checked by the parser) and
    /// the URIs of header values such as From, To, Contact and Route
    /// (checked when a typed accessor or `validate()` reads them).
    pub max_uri_length: usize,
    /// Most Via values (summed over all Via lines). The default, 70, is
    /// the hop count Max-Forwards starts from (RFC 3261 §8.1.1.6); RFC 4475
    /// §3.1.1.7 has a valid message with 34.
    pub max_vias: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 65_536,
            max_headers: 256,
            max_line_length: 8_192,
            max_uri_length: 4_096,
            max_vias: 70,
        }
    }
}
