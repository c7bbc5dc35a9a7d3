//! The B2BUA core alone (no sockets): what one call costs in heap memory
//! and CPU, with examples/loopback.toml and the messages SIPp's built-in
//! `uac` and `uas` scenarios exchange. Every message goes through the wire
//! format both ways (serialized, then parsed), as the driver does.
//!
//! ```text
//! cargo bench -p switchboard-benches --bench b2bua_calls [-- CALLS]
//! ```
//!
//! Prints the heap held per established call (with the INVITE
//! transactions, then after their 32 s RFC 6026 wait), per call after all
//! hung up, and calls set up and torn down per second on one core.

use std::alloc::System;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sbc::{
    B2bua, B2buaSettings, Config, NextHop, Outgoing, PortAllocator, Source, Stats, Transport,
};
use sip::{HeaderName, Message, Request};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const LOOPBACK: &str = include_str!("../../examples/loopback.toml");

/// SIPp's `uac` INVITE (sipp 3.6, `-s service`), numbered by `n`.
fn invite(n: u64) -> String {
    let sdp = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
               c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n\
               a=rtpmap:0 PCMU/8000\r\n";
    format!(
        "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5100;branch=z9hG4bK-4242-{n}-0\r\n\
         From: sipp <sip:sipp@127.0.0.1:5100>;tag=4242SIPpTag00{n}\r\n\
         To: service <sip:service@127.0.0.1:5060>\r\n\
         Call-ID: {n}-4242@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: sip:sipp@127.0.0.1:5100\r\n\
         Max-Forwards: 70\r\n\
         Subject: Performance Test\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// SIPp `uas`'s answer to `request` with `status` (and its SDP for 200).
fn uas_response(request: &Request, status: u16, n: u64) -> String {
    let mut text = format!(
        "SIP/2.0 {status} {}\r\n",
        if status == 200 { "OK" } else { "Ringing" }
    );
    for name in [HeaderName::Via, HeaderName::From] {
        for value in request.headers.get_all(&name) {
            text += &format!("{}: {}\r\n", name.as_str(), String::from_utf8_lossy(value));
        }
    }
    let to = String::from_utf8_lossy(request.headers.get(&HeaderName::To).unwrap_or_default());
    let to = if to.contains("tag=") {
        to.into_owned()
    } else {
        format!("{to};tag={n}SIPpTag01")
    };
    let call_id =
        String::from_utf8_lossy(request.headers.get(&HeaderName::CallId).unwrap_or_default());
    let cseq = String::from_utf8_lossy(request.headers.get(&HeaderName::CSeq).unwrap_or_default());
    text += &format!(
        "To: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n\
         Contact: <sip:127.0.0.1:5090;transport=UDP>\r\n"
    );
    let sdp = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
               c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6002 RTP/AVP 0\r\n\
               a=rtpmap:0 PCMU/8000\r\n";
    if status == 200 && request.method == sip::Method::Invite {
        text += &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
    } else {
        text += "Content-Length: 0\r\n\r\n";
    }
    text
}

/// The UAC's ACK (or BYE) in the dialog whose To (with tag) is `to`.
fn uac_in_dialog(method: &str, to: &str, n: u64, cseq: u32) -> String {
    format!(
        "{method} sip:127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5100;branch=z9hG4bK-4242-{n}-{cseq}\r\n\
         From: sipp <sip:sipp@127.0.0.1:5100>;tag=4242SIPpTag00{n}\r\n\
         To: {to}\r\n\
         Call-ID: {n}-4242@127.0.0.1\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: sip:sipp@127.0.0.1:5100\r\n\
         Max-Forwards: 70\r\n\
         Subject: Performance Test\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn source(port: u16) -> Source {
    Source {
        remote: SocketAddr::from(([127, 0, 0, 1], port)),
        transport: Transport::Udp,
        tls_peer_names: vec![],
        connection: None,
    }
}

/// The B2BUA plus the wire in between.
struct Core {
    b2bua: B2bua,
    now: Instant,
}

impl Core {
    fn new() -> Core {
        let text = LOOPBACK
            .replace(
                "max_concurrent_calls = 100",
                "max_concurrent_calls = 1000000",
            )
            .replace(
                "max_concurrent_calls = 50",
                "max_concurrent_calls = 1000000",
            )
            .replace(
                "max_calls_per_second = 50",
                "max_calls_per_second = 1000000",
            );
        let config = Arc::new(Config::from_toml_str(&text, "loopback.toml").expect("example"));
        let media = PortAllocator::new([127, 0, 0, 1].into(), 10_000, 59_999);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let random = Box::new(move |buf: &mut [u8]| {
            for b in buf {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
        });
        let now = Instant::now();
        let b2bua = B2bua::new(
            config,
            Arc::new(Stats::default()),
            B2buaSettings::default(),
            Box::new(media),
            random,
            now,
        );
        Core { b2bua, now }
    }

    /// Feeds `text` from `port`; returns what the B2BUA sent, through
    /// the wire.
    fn feed(&mut self, text: &str, port: u16) -> Vec<Outgoing> {
        let message = Message::parse(Bytes::copy_from_slice(text.as_bytes())).expect("valid");
        self.b2bua.handle_message(message, source(port), self.now);
        std::iter::from_fn(|| self.b2bua.poll_transmit())
            .map(|out| Outgoing {
                message: Message::parse(out.message.to_bytes()).expect("valid output"),
                next_hop: out.next_hop,
            })
            .collect()
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.b2bua.handle_timeout(self.now);
        while self.b2bua.poll_transmit().is_some() {}
        while self.b2bua.poll_event().is_some() {}
    }

    /// One call from INVITE to both ACKs; returns the To of the
    /// carrier's 200.
    fn set_up(&mut self, n: u64) -> String {
        let sent = self.feed(&invite(n), 5100);
        let out_invite = sent
            .iter()
            .find_map(|o| match (&o.message, &o.next_hop) {
                (Message::Request(r), NextHop::Resolve { .. }) => Some(r.clone()),
                _ => None,
            })
            .expect("INVITE to the UAS");
        self.feed(&uas_response(&out_invite, 180, n), 5090);
        let sent = self.feed(&uas_response(&out_invite, 200, n), 5090);
        let ok = sent
            .into_iter()
            .find_map(|o| match o.message {
                Message::Response(r) if r.status.0 == 200 => Some(r),
                _ => None,
            })
            .expect("200 to the carrier");
        let to = String::from_utf8_lossy(ok.headers.get(&HeaderName::To).unwrap_or_default());
        let to = to.into_owned();
        self.feed(&uac_in_dialog("ACK", &to, n, 1), 5100);
        while self.b2bua.poll_event().is_some() {}
        to
    }

    /// The carrier hangs up call `n`; the UAS answers the B2BUA's BYE.
    fn hang_up(&mut self, n: u64, to: &str) {
        let sent = self.feed(&uac_in_dialog("BYE", to, n, 2), 5100);
        let bye = sent
            .iter()
            .find_map(|o| match &o.message {
                Message::Request(r) if r.method == sip::Method::Bye => Some(r.clone()),
                _ => None,
            })
            .expect("BYE to the UAS");
        self.feed(&uas_response(&bye, 200, n), 5090);
        while self.b2bua.poll_event().is_some() {}
    }
}

fn held(region: &Region<'_, System>) -> i64 {
    let change = region.change();
    // Reallocations are already in bytes_allocated/bytes_deallocated.
    change.bytes_allocated as i64 - change.bytes_deallocated as i64
}

fn main() {
    let calls: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let mut core = Core::new();
    // Warm up: tables grown, lazily built state in place.
    let warm: Vec<_> = (0..100).map(|n| (n, core.set_up(n))).collect();
    for (n, ok) in &warm {
        core.hang_up(*n, ok);
    }
    core.advance(Duration::from_secs(40));

    let mut oks = Vec::with_capacity(calls as usize);
    let region = Region::new(GLOBAL);
    let started = Instant::now();
    oks.extend((1_000..1_000 + calls).map(|n| (n, core.set_up(n))));
    let setup = started.elapsed();
    // The To headers this program keeps for the BYEs are not the B2BUA's.
    let kept: i64 = oks.iter().map(|(_, to)| to.capacity() as i64).sum();
    let with_transactions = held(&region) - kept;
    core.advance(Duration::from_secs(33));
    let settled = held(&region) - kept;
    let started = Instant::now();
    for (n, ok) in &oks {
        core.hang_up(*n, ok);
    }
    let teardown = started.elapsed();
    drop(oks);
    let after_bye = held(&region);
    core.advance(Duration::from_secs(40));
    let after_all = held(&region);
    let tables = core.b2bua.table_sizes();
    drop(core);
    // Everything the calls took comes back with the B2BUA (a leak check).
    let after_drop = held(&region);

    let per_call = |bytes: i64| bytes as f64 / calls as f64 / 1024.0;
    println!("b2bua_calls: {calls} calls through the B2BUA core (examples/loopback.toml)");
    println!(
        "  heap per established call, INVITE transactions kept: {:.1} KiB",
        per_call(with_transactions)
    );
    println!(
        "  heap per established call, 33 s later:               {:.1} KiB",
        per_call(settled)
    );
    println!(
        "  heap per call after BYE / 40 s after:                {:.2} / {:.2} KiB",
        per_call(after_bye),
        per_call(after_all)
    );
    let secs = (setup + teardown).as_secs_f64();
    println!(
        "  setup {:.1} us, teardown {:.1} us per call: {:.0} calls/s on one core",
        setup.as_secs_f64() * 1e6 / calls as f64,
        teardown.as_secs_f64() * 1e6 / calls as f64,
        calls as f64 / secs
    );
    println!(
        "  after every call ended: {} calls, {} dialogs, {} transactions left; \
         {after_drop} bytes held once the B2BUA is dropped",
        tables.calls, tables.dialogs, tables.transactions
    );
}
