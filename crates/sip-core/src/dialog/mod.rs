//! Dialogs (RFC 3261 §12-15).
