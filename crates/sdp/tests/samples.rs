//! Real-world shaped SDP bodies under `testdata/`: parse, typed views,
//! byte-exact round trip, and the SBC edits.
#![allow(clippy::unwrap_used)]

use sdp::offer_answer::{answer, is_on_hold, negotiated, Capabilities, Codec, SrtpKey};
use sdp::{Attribute, Crypto, Direction, Lifetime, Mki, Origin, Rtpmap, Session};

fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> Session {
    Session::parse(&sample(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn crlf_samples_round_trip_byte_for_byte() {
    for name in [
        "teams_srtp_offer.sdp",
        "webrtc_offer.sdp",
        "carrier_hold_reoffer.sdp",
    ] {
        let body = sample(name);
        let session = Session::parse(&body).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&session.to_bytes()),
            String::from_utf8_lossy(&body),
            "{name}"
        );
    }
}

#[test]
fn lf_sample_is_written_back_with_crlf() {
    let body = sample("carrier_g711_offer.sdp");
    assert!(!body.contains(&b'\r'));
    let session = Session::parse(&body).unwrap();
    let expected = String::from_utf8(body).unwrap().replace('\n', "\r\n");
    assert_eq!(session.to_string(), expected);
}

#[test]
fn teams_offer_typed_views() {
    let s = parse("teams_srtp_offer.sdp");
    assert_eq!(s.origin.session_id, 61942);
    assert_eq!(s.bandwidths[0].kind, "CT");
    let audio = &s.media[0];
    assert_eq!(audio.proto, "RTP/SAVP");
    assert_eq!(
        audio.payload_types().collect::<Vec<_>>(),
        vec![104, 9, 103, 111, 18, 0, 8, 97, 101, 13, 118]
    );
    assert_eq!(audio.rtpmap(104), Some(Rtpmap::new(104, "SILK", 16000)));
    assert_eq!(audio.fmtp(18).unwrap().param("annexb"), Some("no"));
    assert_eq!(audio.fmtp(104).unwrap().param("usedtx"), Some("0"));
    let events: Vec<_> = audio.telephone_events().collect();
    assert_eq!(events, vec![Rtpmap::new(101, "telephone-event", 8000)]);
    assert_eq!(audio.fmtp(101).unwrap().events(), Some(vec![0..=16]));
    assert!(audio.rtcp_mux());
    assert_eq!(audio.rtcp().unwrap().port, 52517);
    assert_eq!((audio.ptime(), audio.maxptime()), (Some(20), Some(200)));
    assert_eq!(s.direction_of(audio), Direction::SendRecv);

    let cryptos: Vec<Crypto> = audio.cryptos().collect();
    assert_eq!(
        cryptos.iter().map(|c| c.tag).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    assert_eq!(
        cryptos[0].keys[0].mki,
        Some(Mki {
            value: 1,
            length: 1
        })
    );
    assert_eq!(cryptos[1].keys[0].lifetime, Some(Lifetime::PowerOfTwo(31)));
    assert_eq!(cryptos[2].suite, "AES_CM_128_HMAC_SHA1_32");
    let (key, salt) = cryptos[1].master_key_salt().unwrap();
    assert_eq!(key.len(), 16);
    assert_eq!(salt.len(), 14);
    // First bytes of base64 "OwXTOWf4": 0x3b 0x05 0xd3 0x39 0x67 0xf8.
    assert_eq!(&key[..6], &[0x3b, 0x05, 0xd3, 0x39, 0x67, 0xf8]);

    // ICE lines are kept as generic attributes, in order.
    let candidates: Vec<_> = audio.attribute_values("candidate").collect();
    assert_eq!(candidates.len(), 6);
    assert!(candidates[4].ends_with("typ relay raddr 203.0.113.30 rport 52516"));
    assert_eq!(audio.attribute("ice-ufrag").unwrap().value_str(), "Pqx8");
}

#[test]
fn sbc_edits_on_the_teams_offer() {
    let mut s = parse("teams_srtp_offer.sdp");
    let original = s.clone();
    s.set_connection_address("192.0.2.50".parse().unwrap());
    let audio = &mut s.media[0];
    audio.set_port(40000);
    for pt in [104, 103, 111, 97, 118] {
        assert!(audio.remove_payload_type(pt));
    }
    audio.retain_cryptos(|c| c.suite == "AES_CM_128_HMAC_SHA1_80" && c.keys[0].mki.is_none());
    audio.remove_attributes("candidate");
    audio.remove_attributes("x-candidate-ipv6");
    audio.set_direction(Direction::SendOnly);
    s.bump_version();

    let text = s.to_string();
    assert!(text.contains("o=- 61942 1 IN IP4 203.0.113.30\r\n"));
    assert!(text.contains("\r\nc=IN IP4 192.0.2.50\r\nb=CT:10000000\r\n"));
    assert!(text.contains("m=audio 40000 RTP/SAVP 9 18 0 8 101 13\r\nc=IN IP4 192.0.2.50\r\n"));
    assert!(!text.contains("SILK") && !text.contains("CN/16000") && !text.contains("candidate"));
    assert!(text.contains("a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:OwXT"));
    assert!(!text.contains("a=crypto:2") && !text.contains("a=crypto:4"));
    assert!(text.ends_with("a=ptime:20\r\na=sendonly\r\n"));
    // The edited body is itself valid and keeps the untouched lines.
    let back = Session::parse(text.as_bytes()).unwrap();
    assert_eq!(back, s);
    assert_eq!(
        back.media[0].attribute("ice-pwd"),
        original.media[0].attribute("ice-pwd")
    );
}

#[test]
fn answering_the_teams_offer_with_sdes() {
    let offer = parse("teams_srtp_offer.sdp");
    let local = "192.0.2.50".parse().unwrap();
    let mut caps = Capabilities::new(Origin::new(900, 1, local), local, vec![40000]);
    caps.protos = vec!["RTP/SAVP".into()];
    caps.audio = vec![
        Codec::new("PCMA", 8000),
        Codec::new("PCMU", 8000),
        Codec::new("G722", 8000),
        Codec::new("CN", 8000),
    ];
    caps.srtp_keys = vec![SrtpKey {
        suite: "AES_CM_128_HMAC_SHA1_80".into(),
        key_salt: (100..130).collect(),
    }];
    let ans = answer(&offer, &caps).unwrap();
    let text = ans.to_string();
    assert!(text.starts_with(
        "v=0\r\no=- 900 1 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n"
    ));
    // Offerer's order and numbers: 9 0 8 101 13 (G.722 first, as offered).
    assert!(
        text.contains("m=audio 40000 RTP/SAVP 9 0 8 101 13\r\n"),
        "{text}"
    );
    assert!(text.contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"));
    assert!(text.contains("a=rtcp-mux\r\n"));
    // The first offered crypto line with a supported suite: tag 2.
    let cryptos: Vec<_> = ans.media[0].cryptos().collect();
    assert_eq!(cryptos.len(), 1);
    assert_eq!(cryptos[0].tag, 2);
    assert_eq!(cryptos[0].keys[0].key_salt, (100..130).collect::<Vec<u8>>());
    assert!(text.ends_with("a=sendrecv\r\n"));

    let streams = negotiated(&offer, &ans).unwrap();
    let audio = streams[0].as_ref().unwrap();
    assert_eq!(audio.codec.encoding, "G722");
    assert_eq!(
        (audio.offerer.payload_type, audio.answerer.payload_type),
        (9, 9)
    );
    assert_eq!(audio.offerer.telephone_event, Some(101));
    assert_eq!(
        audio.offerer.crypto.as_ref().unwrap().keys[0].mki,
        Some(Mki {
            value: 1,
            length: 1
        })
    );
    assert_eq!(audio.answerer.crypto.as_ref().unwrap().tag, 2);
    assert_eq!(audio.offerer.port, 52516);
    assert_eq!(
        audio.offerer.connection.as_ref().unwrap().address,
        "203.0.113.30"
    );
    assert_eq!(
        audio.answerer.connection.as_ref().unwrap().address,
        "192.0.2.50"
    );
    assert!(audio.rtcp_mux);
    assert!(audio.offerer_sends() && audio.answerer_sends());

    // Without a key for any offered suite the SRTP stream is refused.
    caps.srtp_keys[0].suite = "AEAD_AES_256_GCM".into();
    assert_eq!(
        answer(&offer, &caps),
        Err(sdp::NegotiationError::NoAcceptableMedia)
    );
}

#[test]
fn carrier_offer_and_hold() {
    let offer = parse("carrier_g711_offer.sdp");
    assert_eq!(offer.origin.username, "CarrierSBC");
    assert!(!is_on_hold(&offer));
    let hold = parse("carrier_hold_reoffer.sdp");
    assert!(is_on_hold(&hold));
    assert_eq!(
        hold.origin.session_version,
        offer.origin.session_version + 1
    );

    let local = "192.0.2.50".parse().unwrap();
    let caps = Capabilities::new(Origin::new(5, 5, local), local, vec![30000]);
    let ans = answer(&hold, &caps).unwrap();
    assert_eq!(ans.media[0].direction(), Some(Direction::RecvOnly));
    assert_eq!(ans.media[0].formats, vec!["8", "101"]);
    assert_eq!(ans.media[0].fmtp(101).unwrap().params, "0-15");
    let streams = negotiated(&hold, &ans).unwrap();
    let audio = streams[0].as_ref().unwrap();
    assert!(audio.offerer_sends());
    assert!(!audio.answerer_sends());
}

#[test]
fn webrtc_offer_typed_views_and_answer() {
    let offer = parse("webrtc_offer.sdp");
    assert_eq!(
        offer.attribute("group").unwrap().value_str(),
        "BUNDLE 0 1 2"
    );
    assert_eq!(offer.media.len(), 3);
    let audio = &offer.media[0];
    assert_eq!(audio.rtpmap(111).unwrap().channels, Some(2));
    assert_eq!(audio.fmtp(111).unwrap().param("useinbandfec"), Some("1"));
    let rtcp = audio.rtcp().unwrap();
    assert_eq!(rtcp.connection.unwrap().address, "0.0.0.0");
    assert_eq!(audio.telephone_events().count(), 2);
    assert_eq!(offer.media[2].formats, vec!["webrtc-datachannel"]);
    assert!(!offer.media[2].is_rtp());
    // c=0.0.0.0 in a trickle ICE offer is not the RFC 2543 hold.
    assert!(!is_on_hold(&offer));
    let mut without_ice = offer.clone();
    for media in &mut without_ice.media {
        media.remove_attributes("ice-ufrag");
    }
    assert!(is_on_hold(&without_ice));

    // An SBC that accepts DTLS-SRTP audio (Opus) answers audio only.
    let local = "192.0.2.50".parse().unwrap();
    let mut caps = Capabilities::new(Origin::new(1, 1, local), local, vec![40000, 40002, 40004]);
    caps.protos = vec!["UDP/TLS/RTP/SAVPF".into()];
    caps.audio = vec![
        Codec::new("opus", 48000).with_channels(2),
        Codec::new("PCMU", 8000),
    ];
    let ans = answer(&offer, &caps).unwrap();
    assert_eq!(ans.media.len(), 3);
    assert_eq!(ans.media[0].formats, vec!["111", "0", "110"]);
    assert_eq!(
        ans.media[0].fmtp(111).unwrap().params,
        "minptime=10;useinbandfec=1"
    );
    assert_eq!(ans.media[0].cryptos().count(), 0);
    assert_eq!(
        ans.media[1].to_string(),
        "m=video 0 UDP/TLS/RTP/SAVPF 96 97\r\n"
    );
    assert_eq!(
        ans.media[2].to_string(),
        "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    );
    let streams = negotiated(&offer, &ans).unwrap();
    assert_eq!(
        streams[0].as_ref().unwrap().answerer.telephone_event,
        Some(110)
    );
    assert!(streams[1].is_none() && streams[2].is_none());
}

#[test]
fn generic_attributes_survive_edits() {
    let mut s = parse("webrtc_offer.sdp");
    s.media[0].push_attribute(Attribute::new("x-custom", "a:b:c"));
    let back = Session::parse(&s.to_bytes()).unwrap();
    assert_eq!(
        back.media[0].attribute("x-custom").unwrap().value_str(),
        "a:b:c"
    );
    assert_eq!(back, s);
}
