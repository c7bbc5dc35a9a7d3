//! Media descriptions: the `m=` line and the `i=`, `c=`, `b=`, `k=`, `a=`
//! lines under it (RFC 8866 §5.14), with typed views of the attributes an
//! SBC uses and the edits it makes.

use std::net::IpAddr;

use crate::grammar::{is_rtp_proto, payload_type};
use crate::{Attribute, Bandwidth, Connection, Crypto, Direction, Fmtp, Rtcp, Rtpmap};

/// One media section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Media type: `audio`, `video`, `application`, `image`, `text`, ...
    pub kind: String,
    /// Transport port; `0` marks a rejected or disabled stream
    /// (RFC 3264 §6).
    pub port: u16,
    /// Number of ports from `<port>/<count>`.
    pub port_count: Option<u16>,
    /// Transport protocol, e.g. `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`.
    pub proto: String,
    /// Formats in preference order; RTP payload type numbers for RTP
    /// transports (checked to be 0..=127 when parsed).
    pub formats: Vec<String>,
    /// `i=` media title.
    pub info: Option<String>,
    /// `c=` lines (usually zero or one).
    pub connections: Vec<Connection>,
    /// `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `k=` line (obsolete, kept as written).
    pub key: Option<String>,
    /// `a=` lines in order.
    pub attributes: Vec<Attribute>,
}

impl Media {
    /// An `m=` line without attributes. RTP formats are payload type
    /// numbers.
    pub fn new(
        kind: impl Into<String>,
        port: u16,
        proto: impl Into<String>,
        formats: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            kind: kind.into(),
            port,
            port_count: None,
            proto: proto.into(),
            formats: formats.into_iter().map(Into::into).collect(),
            info: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            key: None,
            attributes: Vec::new(),
        }
    }

    /// Whether the transport carries RTP, so formats are payload types.
    pub fn is_rtp(&self) -> bool {
        is_rtp_proto(&self.proto)
    }

    /// Whether the stream is rejected or disabled (port 0).
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }

    /// The formats that are valid payload type numbers, in order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| payload_type(f).ok())
    }

    /// The first attribute with this name.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.is(name))
    }

    /// The values of all attributes with this name.
    pub fn attribute_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attributes
            .iter()
            .filter(move |a| a.is(name))
            .map(Attribute::value_str)
    }

    /// All well-formed `a=rtpmap` lines.
    pub fn rtpmaps(&self) -> impl Iterator<Item = Rtpmap> + '_ {
        self.attribute_values("rtpmap")
            .filter_map(|v| Rtpmap::parse(v).ok())
    }

    /// The `a=rtpmap` for a payload type.
    pub fn rtpmap(&self, payload_type: u8) -> Option<Rtpmap> {
        self.rtpmaps().find(|r| r.payload_type == payload_type)
    }

    /// The codec a payload type stands for: its `a=rtpmap`, or the RFC 3551
    /// static assignment when there is none.
    pub fn codec(&self, payload_type: u8) -> Option<Rtpmap> {
        self.rtpmap(payload_type)
            .or_else(|| Rtpmap::from_static(payload_type))
    }

    /// All well-formed `a=fmtp` lines.
    pub fn fmtps(&self) -> impl Iterator<Item = Fmtp> + '_ {
        self.attribute_values("fmtp")
            .filter_map(|v| Fmtp::parse(v).ok())
    }

    /// The `a=fmtp` for a payload type.
    pub fn fmtp(&self, payload_type: u8) -> Option<Fmtp> {
        self.fmtps().find(|f| f.payload_type == payload_type)
    }

    /// The `telephone-event` mappings (RFC 4733) among the formats.
    pub fn telephone_events(&self) -> impl Iterator<Item = Rtpmap> + '_ {
        self.payload_types()
            .filter_map(|pt| self.codec(pt))
            .filter(Rtpmap::is_telephone_event)
    }

    /// The direction attribute of this section, if any (the session-level
    /// one applies otherwise: see
    /// [`Session::direction_of`](crate::Session::direction_of)).
    pub fn direction(&self) -> Option<Direction> {
        self.attributes.iter().find_map(Attribute::direction)
    }

    /// All well-formed `a=crypto` lines in order.
    pub fn cryptos(&self) -> impl Iterator<Item = Crypto> + '_ {
        self.attribute_values("crypto")
            .filter_map(|v| Crypto::parse(v).ok())
    }

    /// Whether `a=rtcp-mux` (RFC 5761 §5.1.1) is present.
    pub fn rtcp_mux(&self) -> bool {
        self.attribute("rtcp-mux").is_some()
    }

    /// The `a=rtcp` attribute (RFC 3605).
    pub fn rtcp(&self) -> Option<Rtcp> {
        self.attribute_values("rtcp")
            .find_map(|v| Rtcp::parse(v).ok())
    }

    /// `a=ptime` in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute_values("ptime")
            .find_map(crate::grammar::digits)
    }

    /// `a=maxptime` in milliseconds.
    pub fn maxptime(&self) -> Option<u32> {
        self.attribute_values("maxptime")
            .find_map(crate::grammar::digits)
    }

    /// Sets the port (keeps any `/count`).
    pub fn set_port(&mut self, port: u16) {
        self.port = port;
    }

    /// Replaces the `c=` lines with one for this address.
    pub fn set_connection_address(&mut self, address: IpAddr) {
        self.connections = vec![Connection::new(address)];
    }

    /// Replaces every direction attribute with `direction`, at the place of
    /// the first one (or at the end).
    pub fn set_direction(&mut self, direction: Direction) {
        replace_direction(&mut self.attributes, Some(direction));
    }

    /// Appends an attribute.
    pub fn push_attribute(&mut self, attribute: impl Into<Attribute>) {
        self.attributes.push(attribute.into());
    }

    /// Removes every attribute with this name; returns how many.
    pub fn remove_attributes(&mut self, name: &str) -> usize {
        let before = self.attributes.len();
        self.attributes.retain(|a| !a.is(name));
        before - self.attributes.len()
    }

    /// Adds an `a=crypto` line after the last existing one (or at the
    /// end).
    pub fn add_crypto(&mut self, crypto: &Crypto) {
        let at = self
            .attributes
            .iter()
            .rposition(|a| a.is("crypto"))
            .map_or(self.attributes.len(), |i| i + 1);
        self.attributes.insert(at, Attribute::from(crypto));
    }

    /// Removes all `a=crypto` lines; returns how many.
    pub fn remove_cryptos(&mut self) -> usize {
        self.remove_attributes("crypto")
    }

    /// Keeps only the `a=crypto` lines for which `keep` is true (lines that
    /// do not parse are removed).
    pub fn retain_cryptos(&mut self, mut keep: impl FnMut(&Crypto) -> bool) {
        self.attributes
            .retain(|a| !a.is("crypto") || Crypto::parse(a.value_str()).is_ok_and(|c| keep(&c)));
    }

    /// Removes a payload type: from the `m=` formats and its `a=rtpmap`,
    /// `a=fmtp` and `a=rtcp-fb` lines. Returns whether it was listed.
    pub fn remove_payload_type(&mut self, payload_type: u8) -> bool {
        let pt = payload_type.to_string();
        let before = self.formats.len();
        self.formats.retain(|f| *f != pt);
        self.attributes.retain(|a| {
            !(matches!(a.name.as_str(), "rtpmap" | "fmtp" | "rtcp-fb")
                && a.value_str().split(' ').next() == Some(pt.as_str()))
        });
        self.formats.len() != before
    }
}

/// Replaces the direction attributes of a section with at most one.
pub(crate) fn replace_direction(attributes: &mut Vec<Attribute>, direction: Option<Direction>) {
    let first = attributes.iter().position(|a| a.direction().is_some());
    attributes.retain(|a| a.direction().is_none());
    if let Some(direction) = direction {
        let at = first.unwrap_or(attributes.len()).min(attributes.len());
        attributes.insert(at, direction.into());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn audio() -> Media {
        let mut m = Media::new("audio", 49170, "RTP/AVP", ["0", "8", "101"]);
        m.push_attribute(Attribute::new("rtpmap", "8 PCMA/8000"));
        m.push_attribute(Attribute::new("rtpmap", "101 telephone-event/8000"));
        m.push_attribute(Attribute::new("fmtp", "101 0-16"));
        m.push_attribute(Attribute::new("rtcp-fb", "101 nack"));
        m.push_attribute(Attribute::flag("sendonly"));
        m.push_attribute(Attribute::new("ptime", "20"));
        m.push_attribute(Attribute::flag("recvonly"));
        m
    }

    #[test]
    fn typed_views() {
        let m = audio();
        assert!(m.is_rtp());
        assert_eq!(m.payload_types().collect::<Vec<_>>(), vec![0, 8, 101]);
        assert_eq!(m.codec(0).unwrap().encoding, "PCMU");
        assert_eq!(m.rtpmap(0), None);
        assert_eq!(m.codec(8).unwrap().encoding, "PCMA");
        assert_eq!(m.fmtp(101).unwrap().events(), Some(vec![0..=16]));
        let te: Vec<_> = m.telephone_events().collect();
        assert_eq!(te.len(), 1);
        assert_eq!(te[0].payload_type, 101);
        assert_eq!(m.direction(), Some(Direction::SendOnly));
        assert_eq!(m.ptime(), Some(20));
        assert_eq!(m.maxptime(), None);
        assert!(!m.rtcp_mux());
    }

    #[test]
    fn set_direction_keeps_one_line_in_place() {
        let mut m = audio();
        m.set_direction(Direction::Inactive);
        let directions: Vec<_> = m
            .attributes
            .iter()
            .filter_map(Attribute::direction)
            .collect();
        assert_eq!(directions, vec![Direction::Inactive]);
        assert_eq!(m.attributes[4], Attribute::flag("inactive"));
        let mut bare = Media::new("audio", 1, "RTP/AVP", ["0"]);
        bare.set_direction(Direction::SendRecv);
        assert_eq!(bare.attributes, vec![Attribute::flag("sendrecv")]);
    }

    #[test]
    fn remove_payload_type_removes_its_lines() {
        let mut m = audio();
        assert!(m.remove_payload_type(101));
        assert_eq!(m.formats, vec!["0", "8"]);
        assert!(m
            .attributes
            .iter()
            .all(|a| !a.value_str().starts_with("101")));
        assert_eq!(
            m.attribute_values("rtpmap").collect::<Vec<_>>(),
            vec!["8 PCMA/8000"]
        );
        assert!(!m.remove_payload_type(101));
        // "10" must not match "101 ..." lines.
        let mut m = audio();
        assert!(!m.remove_payload_type(10));
        assert_eq!(m.attributes.len(), audio().attributes.len());
    }

    #[test]
    fn crypto_edits() {
        let mut m = audio();
        let c1 = Crypto::new(1, "AES_CM_128_HMAC_SHA1_80", vec![1; 30]);
        let c2 = Crypto::new(2, "AES_CM_128_HMAC_SHA1_32", vec![2; 30]);
        m.add_crypto(&c1);
        m.push_attribute(Attribute::flag("rtcp-mux"));
        m.add_crypto(&c2);
        let tags: Vec<_> = m.cryptos().map(|c| c.tag).collect();
        assert_eq!(tags, vec![1, 2]);
        // c2 was inserted right after c1, before rtcp-mux.
        let c1_at = m.attributes.iter().position(|a| a.is("crypto")).unwrap();
        assert!(m.attributes[c1_at + 1].is("crypto"));
        m.retain_cryptos(|c| c.suite.ends_with("_80"));
        assert_eq!(m.cryptos().map(|c| c.tag).collect::<Vec<_>>(), vec![1]);
        assert_eq!(m.remove_cryptos(), 1);
        assert_eq!(m.cryptos().count(), 0);
        assert!(m.rtcp_mux());
    }

    #[test]
    fn port_and_connection() {
        let mut m = audio();
        m.set_port(0);
        assert!(m.is_rejected());
        m.connections
            .push(Connection::new("192.0.2.1".parse().unwrap()));
        m.connections
            .push(Connection::new("192.0.2.2".parse().unwrap()));
        m.set_connection_address("2001:db8::5".parse().unwrap());
        assert_eq!(m.connections.len(), 1);
        assert_eq!(m.connections[0].to_string(), "IN IP6 2001:db8::5");
    }
}
