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

// ---- the fast paths agree with the general parsers ----
//
// The usual shapes of URIs, name-addrs and Via values are parsed by
// one-pass fast paths; anything else falls back to the general parsers.
// Whenever a fast path accepts a text, the general parser must accept it
// with the same result.

/// Mostly nothing, else a character that may or may not be allowed where
/// it lands.
fn odd_char() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => Just(String::new()),
        2 => "[ \t\"<>,;:=?@%\\[\\]/&+$.()-]",
        1 => Just("\u{e4}".to_owned()),
    ]
}

/// `sip:` URIs of the usual shape: user characters, a hostname or IPv4
/// address, a port, parameters.
fn plain_sip_uri() -> impl Strategy<Value = String> {
    (
        prop::option::of("[a-zA-Z0-9+_.!~*'()&=$,;?/-]{1,12}"),
        prop_oneof![
            "[a-z0-9][a-z0-9_-]{0,6}(\\.[a-z0-9][a-z0-9-]{0,6}){0,3}\\.?",
            (any::<u8>(), any::<u8>(), any::<u8>(), any::<u16>())
                .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{}", d % 300)),
        ],
        prop::option::of("[0-9]{1,6}"),
        prop::collection::vec(
            (
                "[a-zA-Z0-9\\[\\]/:&+$_.!~*'()-]{1,6}",
                prop::option::of("[a-zA-Z0-9:/_.-]{1,8}"),
            ),
            0..3,
        ),
    )
        .prop_map(|(user, host, port, params)| {
            let mut s = String::from("sip:");
            if let Some(user) = user {
                s.push_str(&user);
                s.push('@');
            }
            s.push_str(&host);
            if let Some(port) = port {
                s.push(':');
                s.push_str(&port);
            }
            for (name, value) in params {
                s.push(';');
                s.push_str(&name);
                if let Some(value) = value {
                    s.push('=');
                    s.push_str(&value);
                }
            }
            s
        })
}

/// URIs near the usual shape, some broken by an odd character.
fn near_sip_uri() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("sip:"), Just("SIPS:"), Just("sIp:")],
        prop_oneof![4 => plain_sip_uri(), 1 => sip_uri()],
        odd_char(),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(scheme, uri, odd, at)| {
            let mut s = format!("{scheme}{}", &uri["sip:".len()..]);
            let at = scheme.len() + at.index(s.len() - scheme.len() + 1);
            s.insert_str(at.min(s.len()), &odd);
            s
        })
}

/// Header parameters after an address or a sent-by.
fn header_params() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop_oneof![
                Just("tag".to_owned()),
                Just("branch".to_owned()),
                Just("received".to_owned()),
                Just("ttl".to_owned()),
                Just("rport".to_owned()),
                token()
            ],
            prop::option::of(prop_oneof![
                token(),
                host(),
                "[0-9]{1,4}",
                "\"[a-z ,;<>\\\\]{0,5}\"",
                Just("\"\\\"\"".to_owned())
            ]),
            odd_char(),
        ),
        0..3,
    )
    .prop_map(|params| {
        params
            .into_iter()
            .map(|(name, value, odd)| match value {
                Some(value) => format!(";{name}={value}{odd}"),
                None => format!(";{name}{odd}"),
            })
            .collect()
    })
}

fn name_addr() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            2 => Just(String::new()),
            2 => "\"[a-zA-Z ,;<>]{0,8}\" ?",
            1 => "\"[a-z\\\\\"]{0,4}\"",
            1 => "[a-zA-Z]{1,6} "
        ],
        near_sip_uri(),
        header_params(),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(display, uri, params, angle)| {
            if angle {
                format!("{display}<{uri}>{params}")
            } else {
                format!("{uri}{params}")
            }
        })
}

fn via_value() -> impl Strategy<Value = String> {
    (
        prop_oneof![4 => Just("SIP/2.0/"), 2 => Just("sip/2.0/"), 1 => Just("SIP / 2.0 /")],
        prop_oneof![Just("UDP"), Just("tls"), Just("X")],
        prop_oneof![4 => Just(" "), 1 => Just("\t "), 1 => Just("")],
        prop_oneof![4 => "[a-z0-9][a-z0-9-]{0,6}(\\.[a-z0-9]{1,6}){0,2}", 1 => host()],
        prop::option::of(any::<u16>()),
        header_params(),
        prop_oneof![Just(""), Just(", SIP/2.0/UDP b"), Just(",")],
    )
        .prop_map(|(protocol, transport, space, host, port, params, rest)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{protocol}{transport}{space}{host}{port}{params}{rest}")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn plain_sip_agrees_with_the_general_parser(s in near_sip_uri()) {
        let general = crate::uri::parse_uri_general(&s);
        match crate::uri::plain_sip(&s) {
            Some((parts, len)) if len == s.len() => prop_assert_eq!(Ok(parts), general),
            _ => {}
        }
    }

    #[test]
    fn plain_name_addr_agrees_with_the_general_parser(s in name_addr()) {
        use crate::header::name_addr::{parse_name_addr_general, plain_name_addr};
        let general = parse_name_addr_general(&s, 4096).map_err(|e| e.into_header("From"));
        match plain_name_addr(&s, 4096) {
            Some((fast, end)) if end == s.len() => prop_assert_eq!(Ok(fast), general),
            _ => {}
        }
        // The URI limit is the general parser's to report.
        prop_assert!(plain_name_addr(&s, 3).is_none_or(|(n, _)| n.uri.as_str().len() <= 3));
    }

    #[test]
    fn usual_cseq_agrees_with_the_general_parser(s in "[0-9 ]{0,12}[A-Za-z<]{0,7}[ \t]?") {
        use crate::header::simple::{parse_cseq_general, usual_cseq};
        if let Some(fast) = usual_cseq(s.as_bytes()) {
            prop_assert_eq!(Ok(fast), parse_cseq_general(s.as_bytes()));
        }
    }

    #[test]
    fn number_fast_paths_agree_with_a_plain_reading(s in "[0-9]{0,22}|[0-9a ]{0,4}") {
        use crate::header::simple::{parse_content_length, parse_max_forwards_bytes};
        let all_digits = !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
        let content_length = s.parse::<usize>().ok().filter(|_| all_digits);
        prop_assert_eq!(parse_content_length(s.as_bytes()).ok(), content_length);
        let trimmed = s.trim_matches([' ', '\t']);
        let max_forwards = trimmed.parse::<u8>().ok().filter(|_| {
            trimmed.len() <= 10 && trimmed.bytes().all(|c| c.is_ascii_digit())
        });
        prop_assert_eq!(parse_max_forwards_bytes(s.as_bytes()).ok(), max_forwards);
    }

    #[test]
    fn plain_via_agrees_with_the_general_parser(s in via_value()) {
        use crate::header::via::{parse_via, plain_via};
        if let Some(fast) = plain_via(&s) {
            let item = crate::text::Split::new(&s, b',').next().unwrap().unwrap();
            prop_assert_eq!(Ok(fast), parse_via(item));
        }
    }
}

#[test]
fn the_usual_shapes_take_the_fast_paths() {
    use crate::header::name_addr::plain_name_addr;
    use crate::header::via::plain_via;
    let uri = "sip:+14155550123@sbc1.customers.example.net:5061;transport=tls";
    assert_eq!(
        crate::uri::plain_sip(uri).map(|(_, len)| len),
        Some(uri.len())
    );
    let from = "\"Alice\" <sip:+12125550199@carrier.example.com;user=phone>;tag=9fx";
    assert_eq!(
        plain_name_addr(from, 4096).map(|(_, end)| end),
        Some(from.len())
    );
    let contact = "<sip:+12125550199@198.51.100.7:5060;transport=udp>, <sip:b@c>";
    assert_eq!(plain_name_addr(contact, 4096).map(|(_, end)| end), Some(50));
    let via = "SIP/2.0/TLS 203.0.113.10:5061;branch=z9hG4bK-524287-1;rport";
    assert_eq!(
        plain_via(via).and_then(|v| v.branch()),
        Some("z9hG4bK-524287-1")
    );
}

/// Bytes around the classes the fast scans tell apart: letters of both
/// cases, digits, separators, quotes, backslashes, and non-ASCII bytes.
fn scan_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            6 => prop::sample::select(b"aZk9.-_\"\\;:@ ".to_vec()),
            1 => any::<u8>(),
        ],
        0..max,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn word_case_folding_agrees_with_std(a in scan_bytes(20), flip in any::<u32>()) {
        use crate::text::{eq_ignore_case, lower_word, name_word, short_word, word_at};
        // The same bytes with some letters' case flipped, and other bytes.
        let b: Vec<u8> = a
            .iter()
            .enumerate()
            .map(|(i, &c)| if flip >> (i % 32) & 1 == 1 && c.is_ascii_alphabetic() { c ^ 0x20 } else { c })
            .collect();
        prop_assert_eq!(eq_ignore_case(&a, &b), a.eq_ignore_ascii_case(&b));
        prop_assert!(eq_ignore_case(&a, &a.to_ascii_uppercase()));
        let mut other = a.clone();
        if let Some(last) = other.last_mut() {
            *last = last.wrapping_add(1);
            prop_assert_eq!(eq_ignore_case(&a, &other), a.eq_ignore_ascii_case(&other));
        }
        if a.len() >= 8 {
            let lowered: Vec<u8> = a.to_ascii_lowercase();
            prop_assert_eq!(lower_word(word_at(&a, 0)), word_at(&lowered, 0));
        }
        if a.len() <= 8 {
            let lowered = a.to_ascii_lowercase();
            prop_assert_eq!(short_word(&a).map(lower_word), Some(name_word(&lowered)));
        } else {
            prop_assert_eq!(short_word(&a), None);
        }
    }

    #[test]
    fn word_scans_agree_with_byte_scans(b in scan_bytes(40), from in 0usize..40) {
        use crate::text::{quoted_end, skip_alnum};
        let from = from.min(b.len());
        let bytewise = from + b[from..].iter().take_while(|c| c.is_ascii_alphanumeric()).count();
        prop_assert_eq!(skip_alnum(&b, from), bytewise);
        let mut quoted = vec![b'"'];
        quoted.extend_from_slice(&b);
        let mut i = 1;
        let plain_end = loop {
            match quoted.get(i) {
                None => break None,
                Some(b'"') => break Some(i + 1),
                Some(b'\\') => i += 2,
                Some(_) => i += 1,
            }
        };
        prop_assert_eq!(quoted_end(&quoted), plain_end);
    }

    #[test]
    fn number_scans_agree_with_plain_readings(s in "[0-9.]{0,18}[a;:]?") {
        use crate::uri::{parse_port, port_at};
        let [unrolled, plain] = crate::host::tests::ipv4_readings(s.as_bytes());
        prop_assert_eq!(unrolled, plain);
        let b = s.as_bytes();
        let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let expected = parse_port(&b[..digits]).map(|p| (p, digits));
        prop_assert_eq!(port_at(b, 0), expected);
    }

    #[test]
    fn windowed_utf8_agrees_with_std(
        buf in prop::collection::vec(
            prop_oneof![4 => 0x20u8..0x7f, 1 => any::<u8>()], 0..80),
        text in "[a-zé€]{0,12}",
        cut in any::<(prop::sample::Index, prop::sample::Index)>(),
    ) {
        // Valid text with arbitrary bytes around it, at every offset.
        let mut all = buf.clone();
        let at = cut.0.index(buf.len() + 1);
        all.splice(at..at, text.bytes());
        for shift in 0..8 {
            let mut shifted = vec![b'x'; shift];
            shifted.extend_from_slice(&all);
            let start = shift + at.min(cut.1.index(all.len() + 1));
            let end = (start + text.len()).min(shifted.len());
            let fast = crate::text::utf8_within(&shifted, start, end);
            prop_assert_eq!(fast, std::str::from_utf8(&shifted[start..end]).ok());
            let whole = crate::text::utf8_within(&shifted, shift + at, shift + at + text.len());
            prop_assert_eq!(whole, Some(text.as_str()));
        }
    }
}

// ---- the second round of fast paths agrees with the general code ----

/// Request lines near the usual `METHOD SP sip-URI SP SIP/2.0 CRLF`.
fn request_line() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            4 => Just("INVITE"),
            1 => Just("ACK"),
            1 => Just("X-FOO.1"),
            1 => Just("invite"),
            1 => Just("IN VITE"),
            1 => Just(""),
            1 => Just("SIP/2.0"),
        ],
        prop_oneof![6 => Just(" "), 1 => Just("  "), 1 => Just("\t")],
        near_sip_uri(),
        prop_oneof![
            6 => Just(" SIP/2.0"),
            1 => Just(" sip/2.0"),
            1 => Just(" SIP/2.1"),
            1 => Just(" SIP/2.0 "),
            1 => Just("  SIP/2.0"),
            1 => Just(""),
        ],
        prop_oneof![6 => Just("\r\n"), 1 => Just("\n"), 1 => Just("\r"), 1 => Just("")],
    )
        .prop_map(|(method, sp, uri, version, end)| {
            format!("{method}{sp}{uri}{version}{end}Via: SIP/2.0/UDP h\r\n")
        })
}

/// Header names near known spellings: any letter case, one byte changed,
/// cut or lengthened.
fn header_name() -> impl Strategy<Value = Vec<u8>> {
    use crate::header::name::tests::spellings;
    (
        prop::sample::select(spellings()),
        any::<u32>(),
        prop_oneof![
            4 => Just(None),
            1 => (
                any::<prop::sample::Index>(),
                // Bytes that `| 0x20` maps onto letters, `-` or digits.
                prop_oneof![any::<u8>(), prop::sample::select(b"\r\x10\x19@[_`{-".to_vec())],
            )
                .prop_map(Some),
        ],
        0usize..3,
    )
        .prop_map(|(spelling, flips, change, cut)| {
            let mut name: Vec<u8> = spelling
                .iter()
                .enumerate()
                .map(|(i, &c)| {
                    if flips >> (i % 32) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            if let Some((at, byte)) = change {
                let at = at.index(name.len() + 1);
                if at == name.len() {
                    name.push(byte);
                } else {
                    name[at] = byte;
                }
            }
            name.truncate(name.len().saturating_sub(cut % 2));
            name
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn usual_request_line_agrees_with_the_general_parser(
        line in request_line(),
        max_uri_length in prop_oneof![Just(4096usize), 5usize..40],
        max_line_length in prop_oneof![Just(8192usize), 20usize..90],
    ) {
        let limits = Limits { max_uri_length, max_line_length, ..Limits::default() };
        let (fast, general) = crate::message::parse::start_line_both(line.as_bytes(), &limits);
        if let Some(fast) = fast {
            prop_assert_eq!(Ok(fast), general);
        }
    }

    #[test]
    fn header_name_lookup_agrees_with_a_linear_search(name in header_name()) {
        use crate::header::name::{lookup_id, lookup_short, tests::linear_lookup};
        let expected = linear_lookup(&name);
        prop_assert_eq!(lookup_id(&name), expected);
        if name.len() < 16 {
            let mut words = [0u64; 2];
            for (i, &c) in name.iter().enumerate() {
                words[i / 8] |= u64::from(c) << (8 * (i % 8));
            }
            prop_assert_eq!(lookup_short(words[0], words[1], name.len()), expected);
        }
    }

    #[test]
    fn indexed_first_lines_agree_with_a_scan(req in request(), cut in any::<prop::sample::Index>()) {
        let parsed = Message::parse(req.to_bytes()).unwrap();
        let mut changed = parsed.clone();
        // A change drops the record; the scan answers then.
        let names = [HeaderName::Via, HeaderName::Contact, HeaderName::From];
        changed.headers_mut().remove_first(&names[cut.index(names.len())]);
        for m in [&parsed, &changed] {
            for id in 0..12u8 {
                let (indexed, scanned) = m.headers().first_line_both(id);
                prop_assert_eq!(indexed, scanned, "id {}", id);
            }
        }
    }

    #[test]
    fn plain_params_look_up_as_the_general_ones(s in name_addr(), via in via_value()) {
        use crate::header::name_addr::{parse_name_addr_general, plain_name_addr};
        use crate::header::via::{parse_via, plain_via};
        let names = ["tag", "TAG", "branch", "x", "rport", "received", "ttl", "lr", "t"];
        if let (Some((fast, end)), Ok(general)) = (plain_name_addr(&s, 4096), parse_name_addr_general(&s, 4096)) {
            if end == s.len() {
                for name in names.iter().copied().chain(general.params.iter().map(|(n, _)| n)) {
                    prop_assert_eq!(fast.params.get(name), general.params.get(name), "{}", name);
                }
            }
        }
        if let Some(fast) = plain_via(&via) {
            let item = crate::text::Split::new(&via, b',').next().unwrap().unwrap();
            let general = parse_via(item).unwrap();
            for name in names.iter().copied().chain(general.params.iter().map(|(n, _)| n)) {
                prop_assert_eq!(fast.params.get(name), general.params.get(name), "{}", name);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn sixteen_byte_scans_agree_with_byte_scans(
        b in scan_bytes(70),
        from in 0usize..70,
        c in prop::sample::select(b"\n,: a".to_vec()),
    ) {
        let from = from.min(b.len());
        let naive = b[from..].iter().position(|&x| x == c);
        prop_assert_eq!(crate::text::find_short(&b[from..], c), naive);
    }

    #[test]
    fn sub_agrees_with_str_get(s in "[a-zé€ ]{0,12}", start in 0usize..30, len in 0usize..30) {
        let end = start.saturating_add(len);
        prop_assert_eq!(crate::text::sub(&s, start, end), s.get(start..end));
        prop_assert_eq!(crate::text::sub(&s, end, start), s.get(end..start));
    }

    #[test]
    fn sip_scheme_agrees_with_a_plain_reading(b in prop::collection::vec(
        prop::sample::select(b"sSiIpP:xX\x13\x10\x73\x53".to_vec()), 0..7)
    ) {
        use crate::Scheme;
        let plain = if b.len() >= 4 && b[..3].eq_ignore_ascii_case(b"sip") && b[3] == b':' {
            Some((3, Scheme::Sip))
        } else if b.len() >= 5 && b[..4].eq_ignore_ascii_case(b"sips") && b[4] == b':' {
            Some((4, Scheme::Sips))
        } else {
            None
        };
        prop_assert_eq!(crate::uri::sip_scheme(&b), plain);
    }
}
