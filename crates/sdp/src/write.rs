//! Serialization in the line order of RFC 8866 §5, CRLF line ends.

use std::fmt::{self, Display, Write};

use crate::{Media, Session};

fn line(f: &mut fmt::Formatter<'_>, letter: char, value: impl Display) -> fmt::Result {
    write!(f, "{letter}={value}\r\n")
}

impl Display for Session {
    /// Writes the whole body, every line ending in CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        line(f, 'v', 0)?;
        line(f, 'o', &self.origin)?;
        line(f, 's', &self.name)?;
        if let Some(info) = &self.info {
            line(f, 'i', info)?;
        }
        if let Some(uri) = &self.uri {
            line(f, 'u', uri)?;
        }
        for email in &self.emails {
            line(f, 'e', email)?;
        }
        for phone in &self.phones {
            line(f, 'p', phone)?;
        }
        if let Some(connection) = &self.connection {
            line(f, 'c', connection)?;
        }
        for bandwidth in &self.bandwidths {
            line(f, 'b', bandwidth)?;
        }
        for timing in &self.timings {
            write!(f, "t={} {}\r\n", timing.start, timing.stop)?;
            for repeat in &timing.repeats {
                line(f, 'r', repeat)?;
            }
        }
        if let Some(zones) = &self.time_zones {
            line(f, 'z', zones)?;
        }
        if let Some(key) = &self.key {
            line(f, 'k', key)?;
        }
        for attribute in &self.attributes {
            line(f, 'a', attribute)?;
        }
        for media in &self.media {
            write!(f, "{media}")?;
        }
        Ok(())
    }
}

impl Display for Media {
    /// Writes the `m=` line and the lines of its section, CRLF-terminated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.kind, self.port)?;
        if let Some(count) = self.port_count {
            write!(f, "/{count}")?;
        }
        write!(f, " {}", self.proto)?;
        for format in &self.formats {
            f.write_char(' ')?;
            f.write_str(format)?;
        }
        f.write_str("\r\n")?;
        if let Some(info) = &self.info {
            line(f, 'i', info)?;
        }
        for connection in &self.connections {
            line(f, 'c', connection)?;
        }
        for bandwidth in &self.bandwidths {
            line(f, 'b', bandwidth)?;
        }
        if let Some(key) = &self.key {
            line(f, 'k', key)?;
        }
        for attribute in &self.attributes {
            line(f, 'a', attribute)?;
        }
        Ok(())
    }
}
