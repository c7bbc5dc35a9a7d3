//! Personal data in logs: phone numbers, SIP URIs and addresses print as
//! `[redacted]` unless the operator turned them on (`--log-pii`), as
//! str0m's `Pii` does.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

static SHOW: AtomicBool = AtomicBool::new(false);

/// Turns the printing of personal data on or off for the whole process.
pub(crate) fn show(on: bool) {
    SHOW.store(on, Ordering::Relaxed);
}

/// A value that is personal data: its `Display` and `Debug` redact it
/// unless [`show`] turned printing on.
pub(crate) struct Pii<T>(pub(crate) T);

impl<T: fmt::Display> fmt::Display for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if SHOW.load(Ordering::Relaxed) {
            self.0.fmt(f)
        } else {
            f.write_str("[redacted]")
        }
    }
}

impl<T: fmt::Display> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_until_turned_on() {
        // One test touches the global switch, so tests cannot race on it.
        assert_eq!(Pii("+14155550123").to_string(), "[redacted]");
        assert_eq!(format!("{:?}", Pii("sip:alice@192.0.2.1")), "[redacted]");
        show(true);
        assert_eq!(Pii("+14155550123").to_string(), "+14155550123");
        show(false);
        assert_eq!(Pii("+14155550123").to_string(), "[redacted]");
    }
}
