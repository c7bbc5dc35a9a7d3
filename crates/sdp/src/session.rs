//! The session description (RFC 8866 §5): session-level lines followed by
//! media descriptions.

use std::net::IpAddr;

use bytes::Bytes;

use crate::media::replace_direction;
use crate::parse::{parse, Limits};
use crate::{Attribute, Bandwidth, Connection, Direction, Media, Origin, SdpError, Timing};

/// A parsed SDP body.
///
/// Unknown attributes and the lines this crate does not interpret (`u=`,
/// `e=`, `p=`, `r=`, `z=`, `k=`) are kept in order, so a well-formed body
/// serializes back byte for byte (with CRLF line ends, RFC 8866 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `o=`.
    pub origin: Origin,
    /// `s=` as written (`-` or a single space when there is no name).
    pub name: String,
    /// `i=`.
    pub info: Option<String>,
    /// `u=`.
    pub uri: Option<String>,
    /// `e=` lines.
    pub emails: Vec<String>,
    /// `p=` lines.
    pub phones: Vec<String>,
    /// Session-level `c=`, the default for media without their own.
    pub connection: Option<Connection>,
    /// `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines with their `r=` lines.
    pub timings: Vec<Timing>,
    /// `z=` line as written.
    pub time_zones: Option<String>,
    /// `k=` line as written.
    pub key: Option<String>,
    /// Session-level `a=` lines in order.
    pub attributes: Vec<Attribute>,
    /// Media sections in order.
    pub media: Vec<Media>,
}

impl Session {
    /// A session with `s=-` and `t=0 0`, no connection and no media.
    pub fn new(origin: Origin) -> Self {
        Self {
            origin,
            name: "-".to_owned(),
            info: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            timings: vec![Timing::default()],
            time_zones: None,
            key: None,
            attributes: Vec::new(),
            media: Vec::new(),
        }
    }

    /// Parses a body with the default [`Limits`]. Lines may end in CRLF or
    /// LF.
    pub fn parse(body: &[u8]) -> Result<Session, SdpError> {
        parse(body, &Limits::default())
    }

    /// Parses a body with explicit limits.
    pub fn parse_with(body: &[u8], limits: &Limits) -> Result<Session, SdpError> {
        parse(body, limits)
    }

    /// Serializes with CRLF line ends.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(self.to_string())
    }

    /// The first session-level attribute with this name.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.is(name))
    }

    /// The session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        self.attributes.iter().find_map(Attribute::direction)
    }

    /// The direction in force for a media section: its own attribute, else
    /// the session-level one, else `sendrecv` (RFC 8866 §6.7).
    pub fn direction_of(&self, media: &Media) -> Direction {
        media.direction().or(self.direction()).unwrap_or_default()
    }

    /// The connection in force for a media section: its first `c=`, else
    /// the session-level one.
    pub fn connection_of<'a>(&'a self, media: &'a Media) -> Option<&'a Connection> {
        media.connections.first().or(self.connection.as_ref())
    }

    /// Replaces or removes the session-level direction attribute.
    pub fn set_direction(&mut self, direction: Option<Direction>) {
        replace_direction(&mut self.attributes, direction);
    }

    /// Points the session-level `c=` and every media-level `c=` that exists
    /// at `address` (the SBC's media address).
    pub fn set_connection_address(&mut self, address: IpAddr) {
        self.connection = Some(Connection::new(address));
        for media in &mut self.media {
            if !media.connections.is_empty() {
                media.set_connection_address(address);
            }
        }
    }

    /// Increments the `o=` version (RFC 3264 §8: every changed offer).
    pub fn bump_version(&mut self) {
        self.origin.session_version = self.origin.session_version.wrapping_add(1);
    }

    /// Whether two descriptions are equal apart from the `o=` version, i.e.
    /// whether a re-offer changed anything.
    pub fn same_content(&self, other: &Session) -> bool {
        let mut other_origin = other.origin.clone();
        other_origin.session_version = self.origin.session_version;
        self.origin == other_origin
            && self.name == other.name
            && self.info == other.info
            && self.uri == other.uri
            && self.emails == other.emails
            && self.phones == other.phones
            && self.connection == other.connection
            && self.bandwidths == other.bandwidths
            && self.timings == other.timings
            && self.time_zones == other.time_zones
            && self.key == other.key
            && self.attributes == other.attributes
            && self.media == other.media
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn session() -> Session {
        let mut s = Session::new(Origin::new(1, 1, "192.0.2.1".parse().unwrap()));
        s.connection = Some(Connection::new("192.0.2.1".parse().unwrap()));
        s.media.push(Media::new("audio", 4000, "RTP/AVP", ["0"]));
        let mut video = Media::new("video", 4002, "RTP/AVP", ["31"]);
        video
            .connections
            .push(Connection::new("192.0.2.9".parse().unwrap()));
        s.media.push(video);
        s
    }

    #[test]
    fn direction_is_inherited_from_session_level() {
        let mut s = session();
        assert_eq!(s.direction_of(&s.media[0]), Direction::SendRecv);
        s.set_direction(Some(Direction::SendOnly));
        assert_eq!(s.direction(), Some(Direction::SendOnly));
        assert_eq!(s.direction_of(&s.media[0]), Direction::SendOnly);
        s.media[0].set_direction(Direction::Inactive);
        assert_eq!(s.direction_of(&s.media[0]), Direction::Inactive);
        assert_eq!(s.direction_of(&s.media[1]), Direction::SendOnly);
        s.set_direction(None);
        assert!(s.attributes.is_empty());
    }

    #[test]
    fn connection_address_is_set_everywhere() {
        let mut s = session();
        assert_eq!(s.connection_of(&s.media[1]).unwrap().address, "192.0.2.9");
        s.set_connection_address("198.51.100.7".parse().unwrap());
        assert_eq!(s.connection.as_ref().unwrap().address, "198.51.100.7");
        assert!(s.media[0].connections.is_empty());
        assert_eq!(
            s.connection_of(&s.media[0]).unwrap().address,
            "198.51.100.7"
        );
        assert_eq!(s.media[1].connections[0].address, "198.51.100.7");
    }

    #[test]
    fn version_bump_and_same_content() {
        let s = session();
        let mut t = s.clone();
        t.bump_version();
        assert_eq!(t.origin.session_version, 2);
        assert!(s.same_content(&t));
        t.media[0].port = 1;
        assert!(!s.same_content(&t));
        let mut u = s.clone();
        u.origin.session_version = u64::MAX;
        u.bump_version();
        assert_eq!(u.origin.session_version, 0);
    }
}
