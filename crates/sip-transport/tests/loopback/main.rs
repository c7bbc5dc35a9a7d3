//! The transport on loopback, IPv4 and IPv6: real sockets, real TLS.
#![allow(clippy::unwrap_used)]

mod common;
mod limits;
mod resolve;
mod reuse;
mod stream;
mod tls;
mod udp;
mod unparsable;
