#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};

use super::*;
use crate::error::{HeaderError, UriError};
use crate::header::name_addr::Contacts;
use crate::host::Host;

pub(crate) const INVITE: &str = "INVITE sip:bob@biloxi.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.com>\r\n\
From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

fn parse(s: &str) -> Result<Message, ParseError> {
    Message::parse(Bytes::copy_from_slice(s.as_bytes()))
}

fn req(s: &str) -> Request {
    match parse(s).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!("not a request"),
    }
}

#[test]
fn parses_rfc3261_invite() {
    let r = req(INVITE);
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.uri.as_str(), "sip:bob@biloxi.com");
    let h = &r.headers;
    assert_eq!(h.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
    assert_eq!(h.top_via().unwrap().host, Host::Name("pc33.atlanta.com"));
    assert_eq!(h.from().unwrap().tag(), Some("1928301774"));
    assert_eq!(h.from().unwrap().display_name, Some("Alice"));
    assert_eq!(h.to().unwrap().uri.as_str(), "sip:bob@biloxi.com");
    assert_eq!(h.call_id().unwrap(), "a84b4c76e66710@pc33.atlanta.com");
    assert_eq!(h.cseq().unwrap().seq, 314159);
    assert_eq!(h.max_forwards().unwrap(), 70);
    assert_eq!(
        h.contact().unwrap().unwrap().uri.host(),
        Host::Name("pc33.atlanta.com")
    );
    assert_eq!(h.content_length().unwrap(), Some(4));
    assert_eq!(&r.body[..], b"v=0\n");
    Message::Request(r).validate().unwrap();
}

#[test]
fn serialization_round_trips() {
    let m = parse(INVITE).unwrap();
    assert_eq!(&m.to_bytes()[..], INVITE.as_bytes());
    assert_eq!(
        parse(std::str::from_utf8(&m.to_bytes()).unwrap()).unwrap(),
        m
    );
    let mut out = BytesMut::from(&b"prefix"[..]);
    m.write_to(&mut out);
    assert_eq!(&out[6..], INVITE.as_bytes());
}

#[test]
fn compact_forms_folding_lf_and_leading_crlf() {
    let text = "\r\n\r\nOPTIONS sip:a@b SIP/2.0\n\
v: SIP/2.0/UDP h;branch=z9hG4bK1\n\
m:<sip:c@d>\n\
f: <sip:a@b>;tag=9\n\
t: <sip:a@b>\n\
i: abc\n\
CSEQ: 2 OPTIONS\n\
Max-Forwards: 1\n\
Subject: first\r\n  second\r\n\tthird\n\
l: 0\n\
\n";
    let r = req(text);
    assert_eq!(r.headers.call_id().unwrap(), "abc");
    assert_eq!(r.headers.from().unwrap().tag(), Some("9"));
    assert!(r.headers.contact().unwrap().is_some());
    assert_eq!(
        r.headers.get(&HeaderName::Subject),
        Some(&b"first second third"[..])
    );
    // Compact names are kept as written.
    let wire = String::from_utf8(r.to_bytes().to_vec()).unwrap();
    assert!(wire.contains("\r\ni: abc\r\n"), "{wire}");
    assert!(wire.contains("\r\nCSEQ: 2 OPTIONS\r\n"), "{wire}");
    assert!(wire.contains("\r\nl: 0\r\n"), "{wire}");
    Message::Request(r).validate().unwrap();
}

#[test]
fn unknown_headers_are_preserved() {
    let text = INVITE.replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nX-WEIRD-Name:  odd ; value,\"with, quotes\"  \r\n",
    );
    let r = req(&text);
    assert_eq!(
        r.headers.get(&"x-weird-name".into()),
        Some(&br#"odd ; value,"with, quotes""#[..])
    );
    let wire = r.to_bytes();
    assert!(std::str::from_utf8(&wire)
        .unwrap()
        .contains("X-WEIRD-Name: odd ; value,\"with, quotes\"\r\n"));
    let (name, _) = r.headers.iter().nth(2).unwrap();
    assert_eq!(name.as_str(), "X-WEIRD-Name");
}

#[test]
fn parses_response() {
    let text = "SIP/2.0 180 Ringing Now\r\n\
Via: SIP/2.0/UDP server10.biloxi.com;branch=z9hG4bKnashds8;received=192.0.2.3\r\n\
Via: SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2\r\n\
To: Bob <sip:bob@biloxi.com>;tag=a6c85cf\r\n\
From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Content-Length: 0\r\n\r\n";
    let m = parse(text).unwrap();
    let Message::Response(r) = &m else { panic!() };
    assert_eq!(r.status, StatusCode::RINGING);
    assert_eq!(&r.reason[..], b"Ringing Now");
    assert_eq!(r.headers.vias().count(), 2);
    assert_eq!(r.headers.to().unwrap().tag(), Some("a6c85cf"));
    m.validate().unwrap();
    assert_eq!(&m.to_bytes()[..], text.as_bytes());
    // Empty reason phrase, with and without the SP.
    for line in ["SIP/2.0 200 \r\n", "SIP/2.0 200\r\n"] {
        let m = parse(&text.replace("SIP/2.0 180 Ringing Now\r\n", line)).unwrap();
        assert_eq!(m.as_response().unwrap().reason.len(), 0);
    }
}

#[test]
fn datagram_content_length_rules() {
    // Shorter Content-Length than the datagram: extra bytes discarded.
    let r = req(&INVITE.replace("Content-Length: 4", "Content-Length: 2"));
    assert_eq!(&r.body[..], b"v=");
    // Longer: rejected.
    assert_eq!(
        parse(&INVITE.replace("Content-Length: 4", "Content-Length: 5")),
        Err(ParseError::ContentLengthMismatch {
            declared: 5,
            available: 4
        })
    );
    // Absent: the body runs to the end of the datagram.
    let r = req(&INVITE.replace("Content-Length: 4\r\n", ""));
    assert_eq!(&r.body[..], b"v=0\n");
    // Conflicting duplicates are rejected, equal ones accepted.
    assert_eq!(
        parse(&INVITE.replace("Content-Length: 4\r\n", "Content-Length: 4\r\nl: 3\r\n")),
        Err(ParseError::DuplicateHeader("Content-Length"))
    );
    assert!(
        parse(&INVITE.replace("Content-Length: 4\r\n", "Content-Length: 4\r\nl: 4\r\n")).is_ok()
    );
    assert_eq!(
        parse(&INVITE.replace(
            "Content-Length: 4",
            "Content-Length: 99999999999999999999999"
        )),
        Err(ParseError::Header(HeaderError::invalid(
            "Content-Length",
            "value too large"
        )))
    );
    assert_eq!(
        parse(&INVITE.replace("Content-Length: 4", "Content-Length: -4")),
        Err(ParseError::Header(HeaderError::invalid(
            "Content-Length",
            "not a number"
        )))
    );
}

#[test]
fn start_line_errors() {
    let cases: Vec<(String, ParseError)> = vec![
        (
            INVITE.replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia"),
            ParseError::BadVersion,
        ),
        (
            INVITE.replace("SIP/2.0\r\nVia", "SIP/2.0x\r\nVia"),
            ParseError::BadStartLine("malformed SIP version"),
        ),
        (
            INVITE.replace("INVITE sip", "INVITE  sip"),
            ParseError::BadStartLine("more than one SP before the Request-URI"),
        ),
        (
            INVITE.replace("biloxi.com SIP", "biloxi.com  SIP"),
            ParseError::BadStartLine("more than one SP after the Request-URI"),
        ),
        (
            INVITE.replace("biloxi.com SIP/2.0\r\n", "biloxi.com SIP/2.0 \r\n"),
            ParseError::BadStartLine("more than one SP after the Request-URI"),
        ),
        (
            INVITE.replace(
                "INVITE sip:bob@biloxi.com SIP/2.0",
                "INVITE sip:bob@biloxi.com",
            ),
            ParseError::BadStartLine("missing SIP version"),
        ),
        (
            INVITE.replace("INVITE sip:bob@biloxi.com SIP/2.0", "INVITE"),
            ParseError::BadStartLine("missing Request-URI"),
        ),
        (
            INVITE.replace("INVITE sip", "IN(VITE sip"),
            ParseError::BadMethod,
        ),
        (
            INVITE.replace("sip:bob@biloxi.com SIP", "sip:bob@bil oxi.com SIP"),
            ParseError::BadStartLine("more than one SP after the Request-URI"),
        ),
        (
            INVITE.replace("sip:bob@biloxi.com SIP", "sip:bob@biloxi.com:99999 SIP"),
            ParseError::BadRequestUri(UriError::BadPort),
        ),
        (
            INVITE.replace("INVITE sip:bob@biloxi.com SIP/2.0", "SIP/2.0 2000 OK"),
            ParseError::BadStatusCode,
        ),
        (
            INVITE.replace("INVITE sip:bob@biloxi.com SIP/2.0", "SIP/2.0 099 Low"),
            ParseError::BadStatusCode,
        ),
        (
            INVITE.replace("INVITE sip:bob@biloxi.com SIP/2.0", "SIP/2.0 20x OK"),
            ParseError::BadStatusCode,
        ),
        (
            INVITE.replace("INVITE sip:bob@biloxi.com SIP/2.0", "SIP/2.0"),
            ParseError::BadStartLine("missing status code"),
        ),
        (
            INVITE.replace("INVITE sip:bob@biloxi.com SIP/2.0", "SIP/3.0 200 OK"),
            ParseError::BadVersion,
        ),
    ];
    for (text, err) in cases {
        assert_eq!(parse(&text), Err(err), "{text}");
    }
    assert_eq!(parse("\r\n\r\n"), Err(ParseError::Empty));
    assert_eq!(parse(""), Err(ParseError::Empty));
}

#[test]
fn header_block_errors() {
    let cases: Vec<(String, ParseError)> = vec![
        (
            INVITE.replace("Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n", ""),
            ParseError::MissingHeader("Call-ID"),
        ),
        (
            INVITE.replace("CSeq: 314159 INVITE\r\n", ""),
            ParseError::MissingHeader("CSeq"),
        ),
        (
            INVITE.replace("To: Bob <sip:bob@biloxi.com>\r\n", ""),
            ParseError::MissingHeader("To"),
        ),
        (
            INVITE.replace(
                "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n",
                "",
            ),
            ParseError::MissingHeader("Via"),
        ),
        (
            INVITE.replace("From: Alice", "From: x\r\nFrom: Alice"),
            ParseError::DuplicateHeader("From"),
        ),
        (
            INVITE.replace("Call-ID:", "i: dup\r\nCall-ID:"),
            ParseError::DuplicateHeader("Call-ID"),
        ),
        (
            INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE"),
            ParseError::CSeqMethodMismatch,
        ),
        (
            INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 invite"),
            ParseError::CSeqMethodMismatch,
        ),
        (
            INVITE.replace("CSeq: 314159 INVITE", "CSeq: 2147483648 INVITE"),
            ParseError::Header(HeaderError::invalid(
                "CSeq",
                "sequence number exceeds 2^31-1",
            )),
        ),
        (
            INVITE.replace("Max-Forwards: 70", "Max-Forwards: 256"),
            ParseError::Header(HeaderError::invalid("Max-Forwards", "exceeds 255")),
        ),
        (
            INVITE.replace("Max-Forwards: 70", "Max-Forwards 70"),
            ParseError::BadHeaderLine {
                line: 3,
                reason: "missing colon after header name",
            },
        ),
        (
            INVITE.replace("Max-Forwards: 70", ": 70"),
            ParseError::BadHeaderLine {
                line: 3,
                reason: "missing header name",
            },
        ),
        (
            INVITE.replace("Max-Forwards: 70", "Max Forwards: 70"),
            ParseError::BadHeaderLine {
                line: 3,
                reason: "missing colon after header name",
            },
        ),
        (
            INVITE.replace("SIP/2.0\r\nVia", "SIP/2.0\r\n Via"),
            ParseError::BadHeaderLine {
                line: 2,
                reason: "continuation line without a header",
            },
        ),
        (
            INVITE.replace("\r\n\r\nv=0\n", "\r\n"),
            ParseError::UnterminatedHeaders,
        ),
    ];
    for (text, err) in cases {
        assert_eq!(parse(&text), Err(err), "{text}");
    }
}

#[test]
fn missing_max_forwards_is_tolerated() {
    // RFC 3261 §16.6 (a proxy adds one) and RFC 4475 §3.4.1.
    let m = parse(&INVITE.replace("Max-Forwards: 70\r\n", "")).unwrap();
    m.validate().unwrap();
    assert_eq!(
        m.headers().max_forwards(),
        Err(HeaderError::Missing("Max-Forwards"))
    );
}

#[test]
fn request_uri_must_not_have_headers() {
    assert_eq!(
        parse(&INVITE.replace(
            "INVITE sip:bob@biloxi.com SIP",
            "INVITE sip:bob@biloxi.com?Route=%3Csip:x%3E SIP"
        )),
        Err(ParseError::BadRequestUri(UriError::HeadersNotAllowed))
    );
}

#[test]
fn limits_are_enforced() {
    let bytes = Bytes::copy_from_slice(INVITE.as_bytes());
    let tight = |l: Limits| Message::parse_with(bytes.clone(), &l);
    let d = Limits::default();
    assert_eq!(
        tight(Limits {
            max_message_size: 100,
            ..d
        }),
        Err(ParseError::TooLarge {
            size: INVITE.len(),
            limit: 100
        })
    );
    assert_eq!(
        tight(Limits {
            max_headers: 5,
            ..d
        }),
        Err(ParseError::TooManyHeaders { limit: 5 })
    );
    assert_eq!(
        tight(Limits {
            max_line_length: 40,
            ..d
        }),
        Err(ParseError::LineTooLong { line: 2, limit: 40 })
    );
    assert_eq!(
        tight(Limits {
            max_uri_length: 10,
            ..d
        }),
        Err(ParseError::BadRequestUri(UriError::TooLong { limit: 10 }))
    );
    let many_vias = INVITE.replace(
        "Max-Forwards",
        "Via: SIP/2.0/UDP a, SIP/2.0/UDP b\r\nMax-Forwards",
    );
    assert_eq!(
        Message::parse_with(Bytes::from(many_vias), &Limits { max_vias: 2, ..d }),
        Err(ParseError::TooManyVias { limit: 2 })
    );
    assert!(tight(d).is_ok());
}

#[test]
fn the_first_problem_in_wire_order_is_reported() {
    // A duplicate before a malformed line, and the other way round.
    let dup_first = INVITE
        .replace("From: Alice", "From: x\r\nFrom: Alice")
        .replace("Contact:", "Bad Line\r\nContact:");
    assert_eq!(parse(&dup_first), Err(ParseError::DuplicateHeader("From")));
    let bad_first = INVITE
        .replace("Max-Forwards: 70", "Max Forwards: 70")
        .replace("Contact:", "From: y\r\nContact:");
    assert_eq!(
        parse(&bad_first),
        Err(ParseError::BadHeaderLine {
            line: 3,
            reason: "missing colon after header name"
        })
    );
    // Line numbers count the physical lines of folded headers.
    let folded = INVITE
        .replace("Max-Forwards: 70", "Subject: a\r\n b\r\n c")
        .replace("Contact:", "Contact :\r\nBad Line\r\nContact:");
    assert_eq!(
        parse(&folded),
        Err(ParseError::BadHeaderLine {
            line: 11,
            reason: "missing colon after header name"
        })
    );
    // A name that is a known one but for a CR is not that header.
    assert_eq!(
        parse(&INVITE.replace("Call-ID:", "Call\rID: x\r\nCall-ID:")),
        Err(ParseError::BadHeaderLine {
            line: 6,
            reason: "missing colon after header name"
        })
    );
}

#[test]
fn header_uris_are_held_to_the_uri_limit() {
    let limits = Limits {
        max_uri_length: 20,
        ..Limits::default()
    };
    let msg = Message::parse_with(Bytes::copy_from_slice(INVITE.as_bytes()), &limits).unwrap();
    let too_long = |header| HeaderError::BadUri {
        header,
        source: UriError::TooLong { limit: 20 },
    };
    let headers = msg.headers();
    assert_eq!(headers.to().unwrap().uri.as_str(), "sip:bob@biloxi.com");
    assert_eq!(headers.from(), Err(too_long("From")));
    assert_eq!(headers.contact(), Err(too_long("Contact")));
    assert_eq!(headers.contacts(), Err(too_long("Contact")));
    assert_eq!(msg.validate(), Err(ParseError::Header(too_long("From"))));

    // The default limit applies to parsed and to built headers.
    let long = format!("<sip:{}@example.com;lr>", "a".repeat(4096));
    let with_route = INVITE.replace("Max-Forwards", &format!("Route: {long}\r\nMax-Forwards"));
    let msg = parse(&with_route).unwrap();
    let limit = Limits::default().max_uri_length;
    let route_too_long = HeaderError::BadUri {
        header: "Route",
        source: UriError::TooLong { limit },
    };
    assert_eq!(msg.headers().routes().next(), Some(Err(route_too_long)));
    assert_eq!(msg.validate(), Err(ParseError::Header(route_too_long)));
    let mut built = Headers::new();
    built.push(HeaderName::ReferTo, long.clone());
    assert!(matches!(
        built.refer_to(),
        Err(HeaderError::BadUri {
            header: "Refer-To",
            source: UriError::TooLong { .. }
        })
    ));
    let fits = format!("<sip:{}@example.com;lr>", "a".repeat(4070));
    built.set(HeaderName::ReferTo, fits);
    assert!(built.refer_to().unwrap().is_some());
}

#[test]
fn validate_reports_lazy_header_errors() {
    let check = |from: &str, to: &str| parse(&INVITE.replace(from, to)).unwrap().validate();
    assert_eq!(
        check("Content-Length: 4", "Expires: soon\r\nContent-Length: 4"),
        Err(ParseError::Header(HeaderError::invalid(
            "Expires",
            "not delta-seconds"
        )))
    );
    assert_eq!(
        check("branch=z9hG4bK776asdhds", "branch=z9hG4bK776asdhds;ttl=300"),
        Err(ParseError::Header(HeaderError::invalid(
            "Via",
            "ttl is not in 0..=255"
        )))
    );
    assert_eq!(
        check(
            "From: Alice <sip:alice@atlanta.com>",
            "From: \"Alice <sip:alice@atlanta.com>"
        ),
        Err(ParseError::Header(HeaderError::invalid(
            "From",
            "unterminated quoted display name"
        )))
    );
    assert!(matches!(
        check(
            "<sip:alice@pc33.atlanta.com>",
            "<sip:alice@pc33 atlanta.com>"
        ),
        Err(ParseError::Header(HeaderError::BadUri {
            header: "Contact",
            ..
        }))
    ));
    assert_eq!(
        check("Content-Type: application/sdp\r\n", ""),
        Err(ParseError::MissingContentType)
    );
    assert_eq!(
        check("Call-ID: a84b4c76e66710@pc33.atlanta.com", "Call-ID: a b"),
        Err(ParseError::Header(HeaderError::invalid(
            "Call-ID",
            "not word[@word]"
        )))
    );
    assert!(check(
        "Content-Length: 4",
        "Session-Expires: 1800;refresher=uac\r\nContent-Length: 4"
    )
    .is_ok());
}

#[test]
fn mutations_on_parsed_messages() {
    let mut m = parse(INVITE).unwrap();
    let h = m.headers_mut();
    h.push_front(
        HeaderName::Via,
        "SIP/2.0/TCP proxy.example.com;branch=z9hG4bKp1",
    );
    assert_eq!(h.top_via().unwrap().host, Host::Name("proxy.example.com"));
    assert_eq!(h.vias().count(), 2);
    h.set(HeaderName::MaxForwards, "69");
    h.remove(&HeaderName::Contact);
    h.push(HeaderName::RecordRoute, "<sip:proxy.example.com;lr>");
    let wire = m.to_bytes();
    let again = Message::parse(wire).unwrap();
    assert_eq!(again, m);
    assert_eq!(again.headers().max_forwards().unwrap(), 69);
    assert_eq!(again.headers().contacts().unwrap(), Contacts::List(vec![]));
    let mut again = again;
    assert!(again.headers_mut().remove_first(&HeaderName::Via));
    assert_eq!(
        again.headers().top_via().unwrap().branch(),
        Some("z9hG4bK776asdhds")
    );
}

#[test]
fn body_change_rewrites_content_length() {
    let Message::Request(mut r) = parse(INVITE).unwrap() else {
        panic!()
    };
    r.body = Bytes::from_static(b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n");
    let again = req(std::str::from_utf8(&r.to_bytes()).unwrap());
    assert_eq!(again.headers.content_length().unwrap(), Some(r.body.len()));
    assert_eq!(again.body, r.body);
}

#[test]
fn builders_and_for_request() {
    let uri = Uri::parse("sip:bob@biloxi.com").unwrap();
    let r = Request::builder(Method::Options, uri)
        .header(
            HeaderName::Via,
            format!("SIP/2.0/UDP h;branch={}", crate::new_branch()),
        )
        .header(HeaderName::MaxForwards, "70")
        .header(
            HeaderName::From,
            format!("<sip:a@h>;tag={}", crate::new_tag()),
        )
        .header(HeaderName::To, "<sip:bob@biloxi.com>")
        .header(HeaderName::CallId, crate::new_call_id())
        .header(HeaderName::CSeq, "1 OPTIONS")
        .body("text/plain", "hi")
        .build();
    r.validate().unwrap();
    let parsed = req(std::str::from_utf8(&r.to_bytes()).unwrap());
    assert_eq!(parsed, r);
    assert!(parsed.headers.top_via().unwrap().has_rfc3261_branch());

    let invite = req(INVITE);
    let mut ok = Response::for_request(&invite, StatusCode::OK);
    assert_eq!(&ok.reason[..], b"OK");
    assert_eq!(ok.headers.len(), 5);
    assert_eq!(ok.headers.cseq().unwrap(), invite.headers.cseq().unwrap());
    let to = format!("{};tag={}", ok.headers.to().unwrap(), "abc");
    ok.headers.set(HeaderName::To, to);
    ok.validate().unwrap();
    let wire = ok.to_bytes();
    let parsed = parse(std::str::from_utf8(&wire).unwrap()).unwrap();
    assert_eq!(parsed.headers().to().unwrap().tag(), Some("abc"));
    assert_eq!(parsed, Message::Response(ok));

    let r = Response::builder(StatusCode(499))
        .reason("Custom")
        .header(HeaderName::Server, "sb/1")
        .build();
    assert_eq!(&r.reason[..], b"Custom");
    assert_eq!(
        &Response::builder(StatusCode(299)).build().reason[..],
        b"Unknown"
    );
}

#[test]
fn response_validation_errors() {
    let mut r = Response::for_request(&req(INVITE), StatusCode::OK);
    r.reason = Bytes::from_static(b"\xff\xfe");
    assert_eq!(r.validate(), Err(ParseError::BadReasonPhrase));
    r.reason = Bytes::from_static(b"OK");
    r.status = StatusCode(700);
    assert_eq!(r.validate(), Err(ParseError::BadStatusCode));
    r.status = StatusCode::OK;
    r.headers.remove(&HeaderName::CallId);
    assert_eq!(r.validate(), Err(ParseError::MissingHeader("Call-ID")));
    let control = "SIP/2.0 200 O\x01K\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:a@b>\r\nFrom: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 BYE\r\n\r\n";
    assert_eq!(
        parse(control),
        Err(ParseError::BadStartLine(
            "control character in reason phrase"
        ))
    );
}

#[test]
fn folded_lines_count_against_the_line_limit() {
    let folded = INVITE.replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nSubject: aaaaaaaaaa\r\n bbbbbbbbbb\r\n cccccccccc\r\n",
    );
    let limits = Limits {
        max_line_length: 70,
        ..Limits::default()
    };
    assert!(Message::parse_with(Bytes::from(folded.clone()), &limits).is_ok());
    let limits = Limits {
        max_line_length: 30,
        ..Limits::default()
    };
    assert!(matches!(
        Message::parse_with(Bytes::from(folded), &limits),
        Err(ParseError::LineTooLong { limit: 30, .. })
    ));
}

#[test]
fn request_with_unknown_scheme_parses() {
    // RFC 3261 §19.1.6 / RFC 4475 §3.3.3: a parser accepts any absoluteURI;
    // a proxy answers 416 to a scheme it cannot route.
    let r = req(&INVITE.replace(
        "INVITE sip:bob@biloxi.com SIP",
        "INVITE nobarf:bob@biloxi.com SIP",
    ));
    assert_eq!(r.uri.scheme(), crate::Scheme::Other);
}
