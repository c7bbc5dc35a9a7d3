//! Parse a ~950-byte INVITE with SDP, then read the headers a proxy or
//! transaction layer reads first (top Via branch, From tag, To, Call-ID,
//! CSeq, Contact); and serialize it. ezk-sip-types does the same work on the
//! same bytes in the same run, for comparison.
//!
//! `cargo bench -p switchboard-benches --bench sip_parse`
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const INVITE: &[u8] = include_bytes!("invite.sip");

/// What both parsers read from the message: lengths of the top Via branch,
/// From tag, To user, Call-ID, the CSeq number and the Contact host's length,
/// so neither can skip work and both can be checked to agree.
type Facts = (usize, usize, usize, usize, u32, usize);

fn host_len(host: &sip::Host<'_>) -> usize {
    match host {
        sip::Host::Name(name) => name.len(),
        sip::Host::Ipv4(_) => 4,
        sip::Host::Ipv6(_) => 16,
    }
}

fn switchboard_parse(buf: Bytes) -> sip::Message {
    sip::Message::parse(buf).unwrap()
}

fn switchboard_access(message: &sip::Message) -> Facts {
    let headers = message.headers();
    let via = headers.top_via().unwrap();
    let from = headers.from().unwrap();
    let to = headers.to().unwrap();
    let call_id = headers.call_id().unwrap();
    let cseq = headers.cseq().unwrap();
    let contact = headers.contact().unwrap().unwrap();
    (
        via.branch().unwrap().len(),
        from.tag().unwrap().len(),
        to.uri.user().map_or(0, |user| user.len()),
        call_id.len(),
        cseq.seq,
        host_len(&contact.uri.host()),
    )
}

mod ezk {
    use bytes::Bytes;
    use ezk_sip_types::header::typed::{CSeq, CallID, Contact, FromTo, Via};
    use ezk_sip_types::host::Host;
    use ezk_sip_types::msg::{Line, MessageLine, PullParser};
    use ezk_sip_types::parse::Parse;
    use ezk_sip_types::uri::SipUriUserPart;
    use ezk_sip_types::{Headers, Name};

    pub(crate) struct Parsed {
        pub(crate) line: MessageLine,
        pub(crate) headers: Headers,
        pub(crate) body: Bytes,
    }

    /// What ezk-sip-core's transport does with a datagram: pull lines, parse
    /// the start line and every header line into `Headers`, slice the body.
    pub(crate) fn parse(buf: &Bytes) -> Parsed {
        let mut parser = PullParser::new(buf, 0);
        let first = std::str::from_utf8(parser.next().unwrap().unwrap()).unwrap();
        let (_, line) = MessageLine::parse(buf)(first).unwrap();
        let mut headers = Headers::with_capacity(16);
        for raw in &mut parser {
            let text = std::str::from_utf8(raw.unwrap()).unwrap();
            let (_, header) = Line::parse(buf, text).unwrap();
            headers.insert(header.name, header.value);
        }
        let body = buf.slice(parser.head_end()..);
        Parsed {
            line,
            headers,
            body,
        }
    }

    fn host_len(host: &Host) -> usize {
        match host {
            Host::Name(name) => name.len(),
            Host::IP4(_) => 4,
            Host::IP6(_) => 16,
        }
    }

    pub(crate) fn access(parsed: &Parsed) -> super::Facts {
        let headers = &parsed.headers;
        let via: Via = headers.get_named().unwrap();
        let from: FromTo = headers.get(Name::FROM).unwrap();
        let to: FromTo = headers.get(Name::TO).unwrap();
        let call_id: CallID = headers.get_named().unwrap();
        let cseq: CSeq = headers.get_named().unwrap();
        let contact: Contact = headers.get_named().unwrap();
        let to_user = match &to.uri.uri.user_part {
            SipUriUserPart::Empty => 0,
            SipUriUserPart::User(user) => user.len(),
            SipUriUserPart::UserPw(user_pw) => user_pw.user.len(),
        };
        (
            via.params.get_val("branch").unwrap().len(),
            from.tag.unwrap().len(),
            to_user,
            call_id.0.len(),
            cseq.cseq,
            host_len(&contact.uri.uri.host_port.host),
        )
    }
}

fn parse_and_access(c: &mut Criterion) {
    let buf = Bytes::from_static(INVITE);
    assert_eq!(
        switchboard_access(&switchboard_parse(buf.clone())),
        ezk::access(&ezk::parse(&buf)),
        "both parsers must read the same facts"
    );
    let mut group = c.benchmark_group("invite_parse_and_access");
    group.throughput(Throughput::Elements(1));
    group.bench_function("switchboard", |b| {
        b.iter(|| {
            let message = switchboard_parse(black_box(buf.clone()));
            black_box(switchboard_access(&message))
        })
    });
    group.bench_function("ezk-sip-types", |b| {
        b.iter(|| {
            let parsed = ezk::parse(black_box(&buf));
            black_box(ezk::access(&parsed))
        })
    });
    group.finish();

    let mut group = c.benchmark_group("invite_parse_only");
    group.throughput(Throughput::Elements(1));
    group.bench_function("switchboard", |b| {
        b.iter(|| black_box(switchboard_parse(black_box(buf.clone()))))
    });
    group.bench_function("ezk-sip-types", |b| {
        b.iter(|| {
            let parsed = ezk::parse(black_box(&buf));
            black_box((parsed.line.is_request(), parsed.body.len()))
        })
    });
    group.finish();

    let message = switchboard_parse(buf.clone());
    let mut out = bytes::BytesMut::with_capacity(2048);
    c.bench_function("invite_serialize/switchboard", |b| {
        b.iter(|| {
            out.clear();
            black_box(&message).write_to(&mut out);
            black_box(out.len())
        })
    });
}

criterion_group!(benches, parse_and_access);
criterion_main!(benches);
