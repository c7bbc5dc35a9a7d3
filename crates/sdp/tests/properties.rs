//! Properties: the parser never panics on any input, anything it accepts
//! serializes back to the same model, and every model serializes to a body
//! that parses back to it.
#![allow(clippy::unwrap_used)]

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use sdp::{
    Attribute, Bandwidth, Connection, Crypto, Direction, Fmtp, KeyParams, Lifetime, Media, Mki,
    Origin, Rtcp, Rtpmap, Session, Timing,
};

/// If the parser accepts `body`, its model must survive a serialize/parse
/// round trip unchanged.
fn check(body: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(session) = Session::parse(body) {
        let again = Session::parse(&session.to_bytes());
        prop_assert_eq!(again.as_ref(), Ok(&session));
    }
    Ok(())
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.+*#-]{1,12}"
}

fn text() -> impl Strategy<Value = String> {
    "[ -~éß€]{0,24}"
}

fn attribute_name() -> impl Strategy<Value = String> {
    token().prop_filter("typed attribute names are generated separately", |n| {
        !matches!(
            n.as_str(),
            "rtpmap" | "fmtp" | "crypto" | "rtcp" | "ptime" | "maxptime"
        )
    })
}

fn connection() -> impl Strategy<Value = Connection> {
    (
        token(),
        prop_oneof![Just("IP4".to_owned()), Just("IP6".to_owned()), token()],
        token(),
        any::<u8>(),
        any::<u32>(),
        0..3u8,
    )
        .prop_map(|(nettype, addrtype, address, ttl, count, shape)| {
            let (ttl, count) = match (addrtype == "IP6", shape) {
                (_, 0) => (None, None),
                (true, _) => (None, Some(count)),
                (false, 1) => (Some(ttl), None),
                (false, _) => (Some(ttl), Some(count)),
            };
            Connection {
                nettype,
                addrtype,
                address,
                ttl,
                count,
            }
        })
}

fn bandwidth() -> impl Strategy<Value = Bandwidth> {
    (token(), any::<u64>()).prop_map(|(kind, value)| Bandwidth { kind, value })
}

fn crypto() -> impl Strategy<Value = Crypto> {
    let suite = prop_oneof![
        Just(("AES_CM_128_HMAC_SHA1_80", 30usize)),
        Just(("AES_CM_128_HMAC_SHA1_32", 30)),
        Just(("AES_256_CM_HMAC_SHA1_80", 46)),
        Just(("AEAD_AES_128_GCM", 28)),
        Just(("VENDOR_SUITE", 7)),
    ];
    (suite, 0..=999_999_999u32, 1..3usize, vec(token(), 0..3)).prop_flat_map(
        |((suite, len), tag, keys, session_params)| {
            let lifetime = option::of(prop_oneof![
                (0..=64u8).prop_map(Lifetime::PowerOfTwo),
                any::<u64>().prop_map(Lifetime::Packets),
            ]);
            let mki = option::of(
                (any::<u64>(), 1..=128u8).prop_map(|(value, length)| Mki { value, length }),
            );
            let key =
                (vec(any::<u8>(), len), lifetime, mki).prop_map(|(key_salt, lifetime, mki)| {
                    KeyParams {
                        key_salt,
                        lifetime,
                        mki,
                    }
                });
            vec(key, keys).prop_map(move |keys| Crypto {
                tag,
                suite: suite.to_owned(),
                keys,
                session_params: session_params.clone(),
            })
        },
    )
}

/// Attributes valid anywhere: generic ones and the typed ones checked at
/// every level.
fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        4 => (attribute_name(), option::of(text())).prop_map(|(name, value)| Attribute { name, value }),
        1 => prop_oneof![
            Just(Direction::SendRecv),
            Just(Direction::SendOnly),
            Just(Direction::RecvOnly),
            Just(Direction::Inactive),
        ]
        .prop_map(Attribute::from),
        1 => crypto().prop_map(|c| Attribute::from(&c)),
        1 => (any::<u16>(), option::of(connection()))
            .prop_map(|(port, connection)| Attribute::from(&Rtcp { port, connection })),
        1 => (prop_oneof![Just("ptime"), Just("maxptime")], any::<u32>())
            .prop_map(|(name, ms)| Attribute::new(name, ms.to_string())),
    ]
}

/// Attributes for an RTP media section: also rtpmap and fmtp.
fn rtp_attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        3 => attribute(),
        1 => (0..=127u8, token(), any::<u32>(), option::of(any::<u16>())).prop_map(
            |(pt, encoding, clock_rate, channels)| {
                let encoding = encoding.replace('/', "_");
                Attribute::from(&Rtpmap { payload_type: pt, encoding, clock_rate, channels })
            }
        ),
        1 => (0..=127u8, text()).prop_map(|(pt, params)| {
            Attribute::from(&Fmtp::new(pt, params.trim_start().to_owned()))
        }),
    ]
}

fn media() -> impl Strategy<Value = Media> {
    let rtp = (
        prop_oneof![
            Just("RTP/AVP"),
            Just("RTP/SAVP"),
            Just("RTP/SAVPF"),
            Just("UDP/TLS/RTP/SAVPF")
        ],
        vec((0..=127u8).prop_map(|pt| pt.to_string()), 1..6),
        vec(rtp_attribute(), 0..8),
    )
        .prop_map(|(proto, formats, attributes)| (proto.to_owned(), formats, attributes));
    let other = (
        prop_oneof![Just("udptl"), Just("TCP/MSRP"), Just("UDP/DTLS/SCTP")],
        vec(token(), 1..4),
        vec(attribute(), 0..8),
    )
        .prop_map(|(proto, formats, attributes)| (proto.to_owned(), formats, attributes));
    (
        token(),
        any::<u16>(),
        option::of(any::<u16>()),
        prop_oneof![3 => rtp, 1 => other],
        option::of(text()),
        vec(connection(), 0..2),
        vec(bandwidth(), 0..2),
        option::of(text()),
    )
        .prop_map(
            |(
                kind,
                port,
                port_count,
                (proto, formats, attributes),
                info,
                connections,
                bandwidths,
                key,
            )| {
                Media {
                    kind,
                    port,
                    port_count,
                    proto,
                    formats,
                    info,
                    connections,
                    bandwidths,
                    key,
                    attributes,
                }
            },
        )
}

fn session() -> impl Strategy<Value = Session> {
    let origin = (
        token(),
        any::<u64>(),
        any::<u64>(),
        token(),
        token(),
        token(),
    )
        .prop_map(
            |(username, session_id, session_version, nettype, addrtype, address)| Origin {
                username,
                session_id,
                session_version,
                nettype,
                addrtype,
                address,
            },
        );
    let timing =
        (any::<u64>(), any::<u64>(), vec(text(), 0..2)).prop_map(|(start, stop, repeats)| Timing {
            start,
            stop,
            repeats,
        });
    let head = (
        origin,
        text(),
        option::of(text()),
        option::of(text()),
        vec(text(), 0..2),
        vec(text(), 0..2),
        option::of(connection()),
    );
    let tail = (
        vec(bandwidth(), 0..2),
        vec(timing, 0..3),
        option::of(text()),
        option::of(text()),
        vec(attribute(), 0..6),
        vec(media(), 0..4),
    );
    (head, tail).prop_map(
        |(
            (origin, name, info, uri, emails, phones, connection),
            (bandwidths, timings, time_zones, key, attributes, media),
        )| Session {
            origin,
            name,
            info,
            uri,
            emails,
            phones,
            connection,
            bandwidths,
            timings,
            time_zones,
            key,
            attributes,
            media,
        },
    )
}

/// Lines that look like SDP, to reach deeper into the parser than random
/// bytes do.
fn sdp_like_line() -> impl Strategy<Value = String> {
    let letter = prop_oneof![
        Just('v'),
        Just('o'),
        Just('s'),
        Just('i'),
        Just('u'),
        Just('e'),
        Just('p'),
        Just('c'),
        Just('b'),
        Just('t'),
        Just('r'),
        Just('z'),
        Just('k'),
        Just('a'),
        Just('m'),
        Just('x'),
    ];
    let value = prop_oneof![
        text(),
        Just("0".to_owned()),
        Just("- 1 2 IN IP4 192.0.2.1".to_owned()),
        Just("IN IP4 224.2.1.1/127/3".to_owned()),
        Just("audio 49170 RTP/AVP 0 8 97".to_owned()),
        Just("rtpmap:97 iLBC/8000".to_owned()),
        Just("fmtp:101 0-15".to_owned()),
        Just("crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31|1:4".to_owned()),
        Just("rtcp:9 IN IP6 ::".to_owned()),
        Just("0 0".to_owned()),
        (0..300u32).prop_map(|n| format!("audio {n} RTP/AVP {n}")),
        text().prop_map(|t| format!("rtpmap:{t}")),
        text().prop_map(|t| format!("crypto:{t}")),
    ];
    (letter, value).prop_map(|(l, v)| format!("{l}={v}"))
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in vec(any::<u8>(), 0..2048)) {
        check(&body)?;
    }

    #[test]
    fn sdp_like_lines_never_panic(
        lines in vec(sdp_like_line(), 0..24),
        lf in any::<bool>(),
    ) {
        let eol = if lf { "\n" } else { "\r\n" };
        let body = format!("v=0{eol}{}", lines.join(eol));
        check(body.as_bytes())?;
    }

    #[test]
    fn mutated_samples_never_panic(
        sample in prop_oneof![
            Just("teams_srtp_offer.sdp"),
            Just("webrtc_offer.sdp"),
            Just("carrier_g711_offer.sdp"),
        ],
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8),
    ) {
        let path = format!("{}/testdata/{sample}", env!("CARGO_MANIFEST_DIR"));
        let mut body = std::fs::read(path).unwrap();
        for (at, byte, op) in edits {
            let i = at.index(body.len().max(1)).min(body.len());
            match op {
                0 if i < body.len() => body[i] = byte,
                1 => body.insert(i, byte),
                _ if i < body.len() => { body.remove(i); }
                _ => {}
            }
        }
        check(&body)?;
    }

    #[test]
    fn serialize_then_parse_gives_the_same_session(s in session()) {
        let bytes = s.to_bytes();
        let parsed = Session::parse(&bytes);
        prop_assert_eq!(parsed.as_ref(), Ok(&s), "{}", String::from_utf8_lossy(&bytes));
        // The typed views see what was generated.
        for media in &s.media {
            prop_assert_eq!(media.cryptos().count(), media.attribute_values("crypto").count());
        }
        // And serialization is stable.
        prop_assert_eq!(parsed.unwrap().to_bytes(), bytes);
    }

    #[test]
    fn crypto_lines_parse_back(c in crypto()) {
        let mut media = Media::new("audio", 1, "RTP/SAVP", ["0"]);
        media.add_crypto(&c);
        prop_assert_eq!(media.cryptos().collect::<Vec<_>>(), vec![c]);
    }
}
