//! sip-core
#![warn(missing_docs)]
