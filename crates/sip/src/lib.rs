//! sip
#![warn(missing_docs)]
