//! Offer/answer scenarios after RFC 4317 (codec selection, hold and
//! resume, adding and removing streams), with vectors written for this
//! crate: Alice offers, Bob (this crate) answers.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use sdp::offer_answer::{
    answer, hold_offer, is_on_hold, is_stream_on_hold, negotiated, reoffer, resume_offer,
    Capabilities, Codec,
};
use sdp::{Direction, NegotiationError, Origin, Session};

fn alice(media: &str) -> Session {
    alice_v(2890844526, media)
}

fn alice_v(version: u64, media: &str) -> Session {
    let text = format!(
        "v=0\r\no=alice 2890844526 {version} IN IP4 host.atlanta.example.com\r\ns=\r\n\
         c=IN IP4 host.atlanta.example.com\r\nt=0 0\r\n{media}"
    );
    Session::parse(text.as_bytes()).unwrap()
}

fn bob_address() -> IpAddr {
    "192.0.2.20".parse().unwrap()
}

fn bob(ports: Vec<u16>) -> Capabilities {
    let mut caps = Capabilities::new(
        Origin::new(2808844564, 2808844564, bob_address()),
        bob_address(),
        ports,
    );
    caps.protos = vec!["RTP/AVP".into()];
    caps
}

/// The media sections of the answer as text.
fn media_text(session: &Session) -> String {
    session.media.iter().map(ToString::to_string).collect()
}

#[test]
fn audio_and_video_codec_subset() {
    // §2.1 shape: three audio and two video codecs offered; Bob has PCMU
    // and iLBC audio and MPV video.
    let offer = alice(
        "m=audio 49170 RTP/AVP 0 8 97\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:97 iLBC/8000\r\nm=video 51372 RTP/AVP 31 32\r\na=rtpmap:31 H261/90000\r\n\
         a=rtpmap:32 MPV/90000\r\n",
    );
    let mut caps = bob(vec![49174, 49170]);
    caps.audio = vec![Codec::new("iLBC", 8000), Codec::new("PCMU", 8000)];
    caps.video = vec![Codec::new("MPV", 90000)];
    caps.telephone_event = false;
    let ans = answer(&offer, &caps).unwrap();
    assert_eq!(
        media_text(&ans),
        "m=audio 49174 RTP/AVP 0 97\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:97 iLBC/8000\r\n\
         a=sendrecv\r\nm=video 49170 RTP/AVP 32\r\na=rtpmap:32 MPV/90000\r\na=sendrecv\r\n"
    );
    let streams = negotiated(&offer, &ans).unwrap();
    assert_eq!(streams[0].as_ref().unwrap().codec.encoding, "PCMU");
    assert_eq!(streams[1].as_ref().unwrap().codec.encoding, "MPV");
}

#[test]
fn video_rejected_keeps_offered_formats() {
    // §2.2 shape: Bob has no video; the video stream is refused with port 0
    // and the offer's format list (RFC 3264 §6).
    let offer = alice(
        "m=audio 49170 RTP/AVP 0 8 97\r\na=rtpmap:97 iLBC/8000\r\n\
         m=video 51372 RTP/AVP 31 32\r\n",
    );
    let caps = bob(vec![49172]);
    let ans = answer(&offer, &caps).unwrap();
    assert_eq!(ans.media.len(), 2);
    assert_eq!(ans.media[0].formats, vec!["0", "8"]);
    assert_eq!(ans.media[1].to_string(), "m=video 0 RTP/AVP 31 32\r\n");
    let streams = negotiated(&offer, &ans).unwrap();
    assert!(streams[0].is_some() && streams[1].is_none());
}

#[test]
fn second_audio_stream_for_events_only() {
    // §2.4 shape: the second audio stream carries only telephone-event,
    // sent by Alice; Bob answers recvonly.
    let offer = alice(
        "m=audio 49170 RTP/AVP 0 97\r\na=rtpmap:97 iLBC/8000\r\n\
         m=audio 49172 RTP/AVP 98\r\na=rtpmap:98 telephone-event/8000\r\na=sendonly\r\n",
    );
    let caps = bob(vec![49174, 49176]);
    let ans = answer(&offer, &caps).unwrap();
    assert_eq!(
        ans.media[1].to_string(),
        "m=audio 49176 RTP/AVP 98\r\na=rtpmap:98 telephone-event/8000\r\na=fmtp:98 0-15\r\n\
         a=recvonly\r\n"
    );
    let streams = negotiated(&offer, &ans).unwrap();
    let events = streams[1].as_ref().unwrap();
    assert!(events.codec.is_telephone_event());
    assert!(events.offerer_sends() && !events.answerer_sends());
    // Without telephone-event support that stream is refused.
    let mut caps = bob(vec![49174, 49176]);
    caps.telephone_event = false;
    let ans = answer(&offer, &caps).unwrap();
    assert_eq!(ans.media[1].port, 0);
}

#[test]
fn dynamic_payload_types_match_by_name_not_number() {
    // Alice maps iLBC to 99 and telephone-event to 100; Bob must keep her
    // numbers and order.
    let offer = alice(
        "m=audio 49170 RTP/AVP 99 18 0 100\r\na=rtpmap:99 iLBC/8000\r\n\
         a=fmtp:99 mode=30\r\na=rtpmap:100 telephone-event/8000\r\na=fmtp:100 0-11\r\n",
    );
    let mut caps = bob(vec![3456]);
    caps.audio = vec![
        Codec::new("PCMU", 8000),
        Codec::new("G729", 8000).with_fmtp("annexb=no"),
        Codec::new("ilbc", 8000),
    ];
    let ans = answer(&offer, &caps).unwrap();
    assert_eq!(
        ans.media[0].to_string(),
        "m=audio 3456 RTP/AVP 99 18 0 100\r\na=rtpmap:99 iLBC/8000\r\na=fmtp:99 mode=30\r\n\
         a=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:100 telephone-event/8000\r\na=fmtp:100 0-11\r\na=sendrecv\r\n"
    );
    let mut single = caps.clone();
    single.single_codec = true;
    let ans = answer(&offer, &single).unwrap();
    assert_eq!(ans.media[0].formats, vec!["99", "100"]);
}

#[test]
fn no_common_codec_is_not_acceptable() {
    let offer = alice("m=audio 49170 RTP/AVP 18\r\n");
    let caps = bob(vec![3456]);
    assert_eq!(
        answer(&offer, &caps),
        Err(NegotiationError::NoAcceptableMedia)
    );
    // Comfort noise alone is not a codec either.
    let offer = alice("m=audio 49170 RTP/AVP 13\r\n");
    let mut caps = bob(vec![3456]);
    caps.audio.push(Codec::new("CN", 8000));
    assert_eq!(
        answer(&offer, &caps),
        Err(NegotiationError::NoAcceptableMedia)
    );
    // An accepted stream needs a local port.
    let offer = alice("m=audio 49170 RTP/AVP 0\r\n");
    assert_eq!(
        answer(&offer, &bob(vec![])),
        Err(NegotiationError::MissingPort { index: 0 })
    );
}

#[test]
fn direction_rules() {
    let cases = [
        ("a=sendonly\r\n", Direction::SendRecv, Direction::RecvOnly),
        ("a=recvonly\r\n", Direction::SendRecv, Direction::SendOnly),
        ("a=inactive\r\n", Direction::SendRecv, Direction::Inactive),
        ("", Direction::SendRecv, Direction::SendRecv),
        ("a=sendrecv\r\n", Direction::SendOnly, Direction::SendOnly),
        ("a=sendrecv\r\n", Direction::RecvOnly, Direction::RecvOnly),
        ("a=sendonly\r\n", Direction::SendOnly, Direction::Inactive),
    ];
    for (attr, local, expected) in cases {
        let offer = alice(&format!("m=audio 49170 RTP/AVP 0\r\n{attr}"));
        let mut caps = bob(vec![1000]);
        caps.direction = local;
        let ans = answer(&offer, &caps).unwrap();
        assert_eq!(ans.media[0].direction(), Some(expected), "{attr} {local:?}");
    }
    // A session-level direction is inherited by the media.
    let text = "v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\na=sendonly\r\n\
                m=audio 49170 RTP/AVP 0\r\n";
    let offer = Session::parse(text.as_bytes()).unwrap();
    let ans = answer(&offer, &bob(vec![1000])).unwrap();
    assert_eq!(ans.media[0].direction(), Some(Direction::RecvOnly));
}

#[test]
fn hold_and_unhold() {
    // §3.1 shape: Alice holds with sendonly, Bob answers recvonly; Alice
    // resumes with sendrecv.
    let initial = alice("m=audio 49170 RTP/AVP 0 97\r\na=rtpmap:97 iLBC/8000\r\na=sendrecv\r\n");
    let hold = hold_offer(&initial, false);
    assert_eq!(
        hold.origin.session_version,
        initial.origin.session_version + 1
    );
    assert_eq!(hold.media[0].direction(), Some(Direction::SendOnly));
    assert!(is_on_hold(&hold));
    assert!(!is_on_hold(&initial));
    let caps = bob(vec![3456]);
    let ans = answer(&hold, &caps).unwrap();
    assert_eq!(ans.media[0].direction(), Some(Direction::RecvOnly));

    let resume = resume_offer(&hold, false);
    assert_eq!(
        resume.origin.session_version,
        hold.origin.session_version + 1
    );
    assert_eq!(resume.media[0].direction(), Some(Direction::SendRecv));
    assert!(resume.same_content(&initial));
    let ans = answer(&resume, &caps).unwrap();
    assert_eq!(ans.media[0].direction(), Some(Direction::SendRecv));

    // Holding again what is already held changes nothing: same version.
    assert_eq!(hold_offer(&hold, false), hold);
}

#[test]
fn hold_when_the_peer_already_holds() {
    // Bob was put on hold (his answer is recvonly); now he holds too: his
    // re-offer is inactive, and resuming his side alone gives recvonly.
    let initial = alice("m=audio 49170 RTP/AVP 0\r\n");
    let held_by_peer = answer(&hold_offer(&initial, false), &bob(vec![3456])).unwrap();
    let double = hold_offer(&held_by_peer, true);
    assert_eq!(double.media[0].direction(), Some(Direction::Inactive));
    assert_eq!(
        double.origin.session_version,
        held_by_peer.origin.session_version + 1
    );
    let resumed = resume_offer(&double, true);
    assert_eq!(resumed.media[0].direction(), Some(Direction::RecvOnly));
}

#[test]
fn hold_with_two_streams_and_session_level_direction() {
    // §3.2 shape: audio and video, a session-level sendrecv that the hold
    // offer must not leave contradicting the media level.
    let initial =
        alice("m=audio 49170 RTP/AVP 0\r\nm=video 51372 RTP/AVP 31\r\nm=video 0 RTP/AVP 32\r\n");
    let mut with_session_dir = initial.clone();
    with_session_dir.set_direction(Some(Direction::SendRecv));
    let hold = hold_offer(&with_session_dir, false);
    assert_eq!(hold.direction(), None);
    assert!(hold.media[..2]
        .iter()
        .all(|m| m.direction() == Some(Direction::SendOnly)));
    assert_eq!(hold.media[2].direction(), None, "rejected stream untouched");
    assert!(is_on_hold(&hold));
    let mut caps = bob(vec![1, 2, 3]);
    caps.video = vec![Codec::new("H261", 90000)];
    let ans = answer(&hold, &caps).unwrap();
    assert_eq!(ans.media[0].direction(), Some(Direction::RecvOnly));
    assert_eq!(ans.media[1].direction(), Some(Direction::RecvOnly));
    assert_eq!(ans.media[2].port, 0);
}

#[test]
fn old_style_hold_with_zero_address() {
    let text = "v=0\r\no=- 1 2 IN IP4 a\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n";
    let offer = Session::parse(text.as_bytes()).unwrap();
    assert!(is_stream_on_hold(&offer, &offer.media[0]));
    assert!(is_on_hold(&offer));
    let ans = answer(&offer, &bob(vec![1000])).unwrap();
    let streams = negotiated(&offer, &ans).unwrap();
    let audio = streams[0].as_ref().unwrap();
    assert!(audio.offerer.connection.as_ref().unwrap().is_unspecified());
}

#[test]
fn adding_and_removing_streams() {
    // §4.1 shape: a second audio stream is added in a re-offer; the answer
    // has two m= lines in the same order.
    let initial = alice("m=audio 49170 RTP/AVP 0\r\n");
    let mut next = initial.clone();
    next.media.push(initial.media[0].clone());
    next.media[1].port = 49172;
    let added = reoffer(&initial, next);
    assert_eq!(
        added.origin.session_version,
        initial.origin.session_version + 1
    );
    let ans = answer(&added, &bob(vec![3000, 3002])).unwrap();
    assert_eq!(
        ans.media.iter().map(|m| m.port).collect::<Vec<_>>(),
        vec![3000, 3002]
    );

    // §4.3 shape: the stream is removed by setting its port to 0; it stays
    // in the answer with port 0.
    let mut next = added.clone();
    next.media[1].set_port(0);
    let removed = reoffer(&added, next);
    assert_eq!(
        removed.origin.session_version,
        added.origin.session_version + 1
    );
    let ans = answer(&removed, &bob(vec![3000, 3002])).unwrap();
    assert_eq!(ans.media[1].to_string(), "m=audio 0 RTP/AVP 0\r\n");
    // An unchanged re-offer keeps its version.
    assert_eq!(
        reoffer(&removed, removed.clone()).origin.session_version,
        removed.origin.session_version
    );
}

#[test]
fn negotiated_checks_the_answer() {
    let offer = alice("m=audio 49170 RTP/AVP 0 8\r\n");
    let text = |media: &str| {
        Session::parse(
            format!("v=0\r\no=- 1 1 IN IP4 b\r\ns=-\r\nc=IN IP4 192.0.2.2\r\nt=0 0\r\n{media}")
                .as_bytes(),
        )
        .unwrap()
    };
    assert_eq!(
        negotiated(&offer, &text("")),
        Err(NegotiationError::MediaCountMismatch {
            offer: 1,
            answer: 0
        })
    );
    assert_eq!(
        negotiated(&offer, &text("m=video 2 RTP/AVP 0\r\n")),
        Err(NegotiationError::MediaMismatch { index: 0 })
    );
    assert_eq!(
        negotiated(&offer, &text("m=audio 2 RTP/AVP 18\r\n")),
        Err(NegotiationError::NoCommonCodec { index: 0 })
    );
    // The answerer used its own number for PCMA: matched by name.
    let streams = negotiated(
        &offer,
        &text("m=audio 2 RTP/AVP 96\r\na=rtpmap:96 PCMA/8000\r\n"),
    )
    .unwrap();
    let audio = streams[0].as_ref().unwrap();
    assert_eq!(
        (audio.offerer.payload_type, audio.answerer.payload_type),
        (8, 96)
    );

    let srtp_offer = alice(
        "m=audio 49170 RTP/SAVP 0\r\n\
         a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n",
    );
    assert_eq!(
        negotiated(&srtp_offer, &text("m=audio 2 RTP/SAVP 0\r\n")),
        Err(NegotiationError::MissingCrypto { index: 0 })
    );
    assert_eq!(
        negotiated(
            &srtp_offer,
            &text("m=audio 2 RTP/SAVP 0\r\na=crypto:9 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n")
        ),
        Err(NegotiationError::CryptoMismatch { index: 0 })
    );
}
