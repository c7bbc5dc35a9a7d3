//! sdp
#![warn(missing_docs)]
