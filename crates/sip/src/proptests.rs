//! Property tests: serialize∘parse is the identity on generated messages,
//! and no input (random or mutated) makes any entry point panic.
#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use crate::message::tests::INVITE;
use crate::{
    HeaderName, Limits, Message, Method, Request, Response, StatusCode, StreamDecoder, Uri, UriRef,
};

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.!%*_+`'~-]{0,11}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}[a-z0-9](\\.[a-z][a-z0-9]{0,6}){0,3}",
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
    ]
}

fn sip_uri() -> impl Strategy<Value = String> {
    (
        prop::option::of("[a-zA-Z0-9+_.!~*'()-]{1,10}(%[0-9A-F]{2})?"),
        host(),
        prop::option::of(any::<u16>()),
        prop::collection::vec(
            (
                "[a-z][a-z0-9-]{0,6}",
                prop::option::of("[a-zA-Z0-9_.-]{1,8}"),
            ),
            0..3,
        ),
    )
        .prop_map(|(user, host, port, params)| {
            let mut s = String::from("sip:");
            if let Some(u) = user {
                s.push_str(&u);
                s.push('@');
            }
            s.push_str(&host);
            if let Some(p) = port {
                s.push_str(&format!(":{p}"));
            }
            for (name, value) in params {
                s.push(';');
                s.push_str(&name);
                if let Some(v) = value {
                    s.push('=');
                    s.push_str(&v);
                }
            }
            s
        })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Ack),
        Just(Method::Bye),
        Just(Method::Options),
        Just(Method::Register),
        Just(Method::Refer),
        "[A-Z]{3,10}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
}

/// Printable ASCII and some UTF-8, without leading/trailing whitespace
/// (the parser trims) and without CR/LF.
fn header_value() -> impl Strategy<Value = String> {
    "([!-~äöü€]([ -~äöü€]{0,30}[!-~äöü€])?)?"
}

fn extra_header() -> impl Strategy<Value = (HeaderName, String)> {
    prop_oneof![
        ("X-[A-Za-z0-9]{1,8}", header_value()).prop_map(|(n, v)| (HeaderName::from(n.as_str()), v)),
        header_value().prop_map(|v| (HeaderName::Subject, v)),
        sip_uri().prop_map(|u| (HeaderName::Contact, format!("<{u}>;expires=60"))),
        sip_uri().prop_map(|u| (HeaderName::RecordRoute, format!("<{u};lr>"))),
        Just((HeaderName::Supported, "timer, 100rel".to_owned())),
    ]
}

fn common_headers() -> impl Strategy<Value = Vec<(HeaderName, String)>> {
    (
        prop::collection::vec((host(), token()), 1..4),
        sip_uri(),
        sip_uri(),
        token(),
        "[a-zA-Z0-9.!%*_+`'~()<>:\\\\\"/\\[\\]?{}-]{1,20}(@[a-z0-9.]{1,10})?",
        prop::collection::vec(extra_header(), 0..6),
    )
        .prop_map(|(vias, from, to, tag, call_id, extras)| {
            let mut h = Vec::new();
            for (host, branch) in vias {
                h.push((
                    HeaderName::Via,
                    format!("SIP/2.0/UDP {host};branch=z9hG4bK{branch}"),
                ));
            }
            h.push((
                HeaderName::From,
                format!("\"A \\\"B\\\"\" <{from}>;tag={tag}"),
            ));
            h.push((HeaderName::To, format!("<{to}>")));
            h.push((HeaderName::CallId, call_id));
            h.extend(extras);
            h
        })
}

fn request() -> impl Strategy<Value = Request> {
    (
        method(),
        sip_uri(),
        common_headers(),
        any::<u32>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(method, uri, headers, seq, max_forwards, body)| {
            let mut b = Request::builder(method.clone(), Uri::parse(&uri).unwrap());
            for (name, value) in headers {
                b = b.header(name, value);
            }
            b = b.header(HeaderName::CSeq, format!("{} {}", seq >> 1, method));
            b = b.header(HeaderName::MaxForwards, max_forwards.to_string());
            if !body.is_empty() {
                b = b.body("application/octet-stream", body);
            }
            b.build()
        })
}

fn response() -> impl Strategy<Value = Response> {
    (
        100u16..=699,
        "[ -~]{0,20}",
        common_headers(),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(code, reason, headers, seq, body)| {
            let mut b = Response::builder(StatusCode(code)).reason(reason);
            for (name, value) in headers {
                b = b.header(name, value);
            }
            b = b.header(HeaderName::CSeq, format!("{} INVITE", seq >> 1));
            if !body.is_empty() {
                b = b.body("application/octet-stream", body);
            }
            b.build()
        })
}

/// Every accessor, so that lazily parsed values are exercised too.
fn touch_everything(m: &Message) {
    let _ = m.validate();
    let h = m.headers();
    let _ = h.vias().count();
    let _ = (
        h.top_via(),
        h.from(),
        h.to(),
        h.call_id(),
        h.cseq(),
        h.max_forwards(),
    );
    let _ = (
        h.contacts(),
        h.contact(),
        h.routes().count(),
        h.record_routes().count(),
    );
    let _ = (
        h.content_length(),
        h.content_type(),
        h.expires(),
        h.min_expires(),
        h.date(),
    );
    let _ = (
        h.allow().count(),
        h.supported().count(),
        h.privacy().count(),
        h.user_agent(),
        h.server(),
    );
    let _ = (
        h.refer_to(),
        h.referred_by(),
        h.replaces(),
        h.p_asserted_identity().count(),
    );
    let _ = (
        h.history_info().count(),
        h.session_expires(),
        h.min_se(),
        h.reasons().count(),
        h.retry_after(),
    );
    let _ = (
        h.www_authenticate().count(),
        h.authorization().count(),
        h.proxy_authenticate().count(),
    );
    for (_, v) in h.iter() {
        let _ = v.len();
    }
    let _ = m.to_bytes();
}

fn mutated_invite() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8).prop_map(
        |edits| {
            let mut bytes = INVITE.as_bytes().to_vec();
            for (at, byte, kind) in edits {
                let i = at.index(bytes.len().max(1));
                match kind {
                    0 if i < bytes.len() => bytes[i] = byte,
                    1 => bytes.insert(i.min(bytes.len()), byte),
                    _ if i < bytes.len() => {
                        bytes.remove(i);
                    }
                    _ => {}
                }
            }
            bytes
        },
    )
}

proptest! {
    #[test]
    fn requests_round_trip(req in request()) {
        prop_assert!(req.validate().is_ok(), "{:?}", req.validate());
        let msg = Message::from(req);
        let parsed = Message::parse(msg.to_bytes()).unwrap();
        prop_assert_eq!(&parsed, &msg);
        prop_assert!(parsed.validate().is_ok());
        prop_assert_eq!(parsed.to_bytes(), msg.to_bytes());
    }

    #[test]
    fn responses_round_trip(resp in response()) {
        let msg = Message::from(resp);
        let parsed = Message::parse(msg.to_bytes()).unwrap();
        prop_assert_eq!(&parsed, &msg);
        prop_assert!(parsed.validate().is_ok(), "{:?}", parsed.validate());
    }

    #[test]
    fn stream_decoding_matches_datagram_parsing(req in request(), cut in any::<prop::sample::Index>()) {
        let wire = Message::from(req).to_bytes();
        let mut dec = StreamDecoder::new(Limits::default());
        let mut buf = BytesMut::new();
        let cut = cut.index(wire.len());
        buf.extend_from_slice(&wire[..cut]);
        let first = dec.decode(&mut buf).unwrap();
        buf.extend_from_slice(&wire[cut..]);
        let item = match first {
            Some(item) => item,
            None => dec.decode(&mut buf).unwrap().unwrap(),
        };
        prop_assert_eq!(item, crate::StreamItem::Message(Message::parse(wire).unwrap()));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(m) = Message::parse(Bytes::from(bytes.clone())) {
            touch_everything(&m);
        }
        let _ = Uri::parse(&bytes);
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = UriRef::parse(s);
        }
        let mut dec = StreamDecoder::new(Limits::default());
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = dec.decode(&mut buf) {}
    }

    #[test]
    fn mutated_messages_never_panic(bytes in mutated_invite()) {
        if let Ok(m) = Message::parse(Bytes::from(bytes.clone())) {
            touch_everything(&m);
            // What parses and validates also survives a round trip.
            if m.validate().is_ok() {
                let again = Message::parse(m.to_bytes()).unwrap();
                prop_assert_eq!(&again, &m);
            }
        }
        let mut dec = StreamDecoder::new(Limits::default());
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = dec.decode(&mut buf) {}
    }

    #[test]
    fn header_lists_never_panic(value in "[ -~]{0,80}") {
        let mut m = Message::parse(Bytes::from_static(INVITE.as_bytes())).unwrap();
        for name in ["Via", "From", "Contact", "Route", "Reason", "Retry-After", "WWW-Authenticate", "Authorization",
            "Replaces", "Session-Expires", "Date", "Privacy", "User-Agent", "Content-Type", "CSeq"] {
            m.headers_mut().set(HeaderName::from(name), value.clone());
        }
        touch_everything(&m);
    }
}
