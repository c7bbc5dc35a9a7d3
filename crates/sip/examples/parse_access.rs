//! Parses the benchmark INVITE (`benches/benches/sip_parse.rs`) and reads
//! the headers the benchmark reads, `N` times (default 10 000): a stable
//! workload for `valgrind --tool=callgrind`, whose instruction counts do not
//! depend on what else runs on the machine. A second argument `parse` only
//! parses; `access` parses once and only reads.
//!
//! `cargo build --release -p sip --example parse_access`
//! `valgrind --tool=callgrind target/release/examples/parse_access 10000`
//! (subtract the count of a run with `0` rounds and divide by 10 000).

use std::hint::black_box;

use bytes::Bytes;
use sip::{Host, Message};

const INVITE: &[u8] = include_bytes!("../../../benches/benches/invite.sip");

fn host_len(host: &Host<'_>) -> usize {
    match host {
        Host::Name(name) => name.len(),
        Host::Ipv4(_) => 4,
        Host::Ipv6(_) => 16,
    }
}

/// The benchmark's access: top Via branch, From tag, To user, Call-ID,
/// CSeq number, first Contact host.
fn access(message: &Message) -> Result<usize, Box<dyn std::error::Error>> {
    let headers = message.headers();
    let via = headers.top_via()?;
    let from = headers.from()?;
    let to = headers.to()?;
    let call_id = headers.call_id()?;
    let cseq = headers.cseq()?;
    let contact = headers.contact()?.ok_or("no Contact")?;
    Ok(via.branch().map_or(0, str::len)
        + from.tag().map_or(0, str::len)
        + to.uri.user().map_or(0, str::len)
        + call_id.len()
        + cseq.seq as usize
        + host_len(&contact.uri.host()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 10_000,
    };
    let mode = std::env::args().nth(2).unwrap_or_default();
    let buf = Bytes::from_static(INVITE);
    let mut total = 0;
    if mode == "access" {
        let message = Message::parse(buf)?;
        for _ in 0..rounds {
            total += access(black_box(&message))?;
        }
    } else {
        for _ in 0..rounds {
            let message = Message::parse(black_box(buf.clone()))?;
            if mode != "parse" {
                total += access(black_box(&message))?;
            }
            black_box(&message);
        }
    }
    println!("{total}");
    Ok(())
}
