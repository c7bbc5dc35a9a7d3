//! SIPp's DTMF captures (Debian `sip-tester`, `/usr/share/sip-tester/`)
//! through the RFC 4733 receiver, and its G.711 speech capture through
//! the in-band detector.
//!
//! How the expected values were found: the records of each
//! `dtmf_2833_<key>.pcap` were dumped with a throwaway script (no tshark
//! on the build machine): 10 RTP packets, payload type 101, one SSRC;
//! the first with the marker bit and duration 0, six updates 20 ms apart
//! with durations 320, 640, ... 1920, then three identical packets (same
//! sequence number) with the E bit and duration 2240 (0x08c0), volume
//! 10, and the event code of the key in the file name (`dtmf_2833_1.pcap`:
//! event 1 in every packet). `g711a.pcap` is 236 packets of PCMA
//! (payload type 8, 240 bytes each): about 7 s of a spoken announcement,
//! no DTMF.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use media::{
    DtmfDetector, DtmfDigit, EventEnd, InbandEvent, ReceivedEvent, RtpPacket,
    TelephoneEventReceiver, Tone, TonePlayer, G711,
};

const SIPP_DIR: &str = "/usr/share/sip-tester";

/// One captured UDP payload and when it was captured.
struct Datagram {
    at: Duration,
    payload: Vec<u8>,
}

/// Reads a classic pcap file (microsecond or nanosecond, either byte
/// order) of Ethernet frames and returns the UDP payloads of its IPv4
/// packets.
fn read_pcap(path: &Path) -> Vec<Datagram> {
    let bytes = std::fs::read(path).unwrap_or_else(|error| {
        panic!(
            "cannot read {}: {error}. These captures come with SIPp: install the Debian \
             package sip-tester (scripts/test installs it).",
            path.display()
        )
    });
    assert!(
        bytes.len() >= 24,
        "{}: no pcap global header",
        path.display()
    );
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let (little, nanos) = match magic {
        0xa1b2_c3d4 => (true, false),
        0xa1b2_3c4d => (true, true),
        0xd4c3_b2a1 => (false, false),
        0x4d3c_b2a1 => (false, true),
        other => panic!("{}: not a pcap file (magic {other:#x})", path.display()),
    };
    let u32_at = |at: usize| {
        let field: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        if little {
            u32::from_le_bytes(field)
        } else {
            u32::from_be_bytes(field)
        }
    };
    assert_eq!(
        u32_at(20),
        1,
        "{}: link type is not Ethernet",
        path.display()
    );
    let mut datagrams = Vec::new();
    let mut offset = 24;
    while offset + 16 <= bytes.len() {
        let seconds = u64::from(u32_at(offset));
        let fraction = u64::from(u32_at(offset + 4));
        let captured = u32_at(offset + 8) as usize;
        let frame = &bytes[offset + 16..offset + 16 + captured];
        offset += 16 + captured;
        let at = Duration::from_secs(seconds)
            + if nanos {
                Duration::from_nanos(fraction)
            } else {
                Duration::from_micros(fraction)
            };
        // Ethernet II, IPv4, UDP.
        if frame.len() < 14 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[14..];
        let header_len = usize::from(ip[0] & 0x0f) * 4;
        if ip[0] >> 4 != 4 || ip[9] != 17 || ip.len() < header_len + 8 {
            continue;
        }
        let udp = &ip[header_len..];
        let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        datagrams.push(Datagram {
            at,
            payload: udp[8..udp_len.min(udp.len())].to_vec(),
        });
    }
    datagrams
}

fn sipp_file(name: &str) -> PathBuf {
    Path::new(SIPP_DIR).join(name)
}

/// Feeds the telephone-event packets (payload type 101) of `datagrams`,
/// in the given order, to a receiver; then runs its timeout.
fn receive(datagrams: &[&Datagram]) -> Vec<ReceivedEvent> {
    let base = Instant::now();
    let start = datagrams.iter().map(|d| d.at).min().unwrap();
    let mut receiver = TelephoneEventReceiver::default();
    let mut events = Vec::new();
    let mut last = base;
    for datagram in datagrams {
        let packet = RtpPacket::parse(&datagram.payload).unwrap();
        assert_eq!(packet.payload_type(), 101);
        let now = base + (datagram.at - start);
        last = last.max(now);
        receiver.handle_rtp(now, &packet).unwrap();
        events.extend(std::iter::from_fn(|| receiver.poll_event()));
    }
    if let Some(deadline) = receiver.poll_timeout() {
        receiver.handle_timeout(deadline);
        events.extend(std::iter::from_fn(|| receiver.poll_event()));
    }
    assert_eq!(receiver.poll_timeout(), None);
    events
}

fn expected_press(
    digit: DtmfDigit,
    timestamp: u32,
    units: u32,
    end: EventEnd,
) -> [ReceivedEvent; 2] {
    [
        ReceivedEvent::Began { digit, timestamp },
        ReceivedEvent::Ended {
            digit,
            timestamp,
            units,
            duration: Duration::from_micros(u64::from(units) * 125),
            end,
        },
    ]
}

#[test]
fn sipp_dtmf_2833_1_is_one_press_of_key_1() {
    let datagrams = read_pcap(&sipp_file("dtmf_2833_1.pcap"));
    assert_eq!(datagrams.len(), 10);
    let all: Vec<_> = datagrams.iter().collect();
    let events = receive(&all);
    assert_eq!(
        events,
        expected_press(DtmfDigit::One, 13_280, 2240, EventEnd::EndBit)
    );
}

#[test]
fn every_sipp_dtmf_capture_is_its_key() {
    let keys = [
        ("0", '0'),
        ("1", '1'),
        ("2", '2'),
        ("3", '3'),
        ("4", '4'),
        ("5", '5'),
        ("6", '6'),
        ("7", '7'),
        ("8", '8'),
        ("9", '9'),
        ("star", '*'),
        ("pound", '#'),
    ];
    for (name, character) in keys {
        let datagrams = read_pcap(&sipp_file(&format!("dtmf_2833_{name}.pcap")));
        let all: Vec<_> = datagrams.iter().collect();
        let events = receive(&all);
        let digit = DtmfDigit::from_char(character).unwrap();
        assert_eq!(events.len(), 2, "{name}: {events:?}");
        assert!(
            events.iter().all(|event| event.digit() == digit),
            "{name}: {events:?}"
        );
        assert!(
            matches!(
                events[1],
                ReceivedEvent::Ended {
                    units: 2240,
                    end: EventEnd::EndBit,
                    ..
                }
            ),
            "{name}: {events:?}"
        );
    }
}

#[test]
fn sipp_capture_with_loss_and_reordering() {
    let datagrams = read_pcap(&sipp_file("dtmf_2833_pound.pcap"));
    let timestamp = RtpPacket::parse(&datagrams[0].payload).unwrap().timestamp();
    // Reordered: updates swapped pairwise, the marker packet last but
    // one of the updates; arrival times follow the new order.
    let order = [2, 1, 4, 3, 0, 6, 5, 7, 9, 8];
    let reordered: Vec<Datagram> = order
        .iter()
        .enumerate()
        .map(|(slot, &index)| Datagram {
            at: datagrams[0].at + Duration::from_millis(20 * slot as u64),
            payload: datagrams[index].payload.clone(),
        })
        .collect();
    let events = receive(&reordered.iter().collect::<Vec<_>>());
    assert_eq!(
        events,
        expected_press(DtmfDigit::Pound, timestamp, 2240, EventEnd::EndBit)
    );

    // The marker packet and two updates lost.
    let lossy: Vec<_> = datagrams
        .iter()
        .enumerate()
        .filter(|(i, _)| ![0, 3, 4].contains(i))
        .map(|(_, d)| d)
        .collect();
    let events = receive(&lossy);
    assert_eq!(
        events,
        expected_press(DtmfDigit::Pound, timestamp, 2240, EventEnd::EndBit)
    );

    // Every end packet lost: the press ends by timeout with the last
    // duration heard (1920 units).
    let no_end: Vec<_> = datagrams.iter().take(7).collect();
    let events = receive(&no_end);
    assert_eq!(
        events,
        expected_press(DtmfDigit::Pound, timestamp, 1920, EventEnd::Timeout)
    );
}

/// The PCMA payloads of SIPp's speech capture.
fn sipp_speech() -> Vec<Vec<u8>> {
    read_pcap(&sipp_file("g711a.pcap"))
        .iter()
        .map(|datagram| {
            let packet = RtpPacket::parse(&datagram.payload).unwrap();
            assert_eq!(packet.payload_type(), 8);
            packet.payload().to_vec()
        })
        .collect()
}

#[test]
fn sipp_speech_does_not_talk_off_and_keys_between_it_are_heard() {
    let speech = sipp_speech();
    assert!(speech.len() > 200);
    let mut detector = DtmfDetector::default();
    for payload in &speech {
        detector.handle_g711(G711::Alaw, payload);
    }
    assert_eq!(detector.poll_event(), None, "DTMF found in speech");

    // Speech, the keys 1 2 3 played in A-law, speech again.
    let mut detector = DtmfDetector::default();
    let mut heard = Vec::new();
    let mut feed = |detector: &mut DtmfDetector, payload: &[u8]| {
        detector.handle_g711(G711::Alaw, payload);
        while let Some(event) = detector.poll_event() {
            if let InbandEvent::Began { digit } = event {
                heard.push(digit.as_char());
            }
        }
    };
    for payload in &speech[..100] {
        feed(&mut detector, payload);
    }
    for character in ['1', '2', '3'] {
        let digit = DtmfDigit::from_char(character).unwrap();
        let mut player = TonePlayer::new(Tone::Dtmf {
            digit,
            duration: Duration::from_millis(80),
        });
        let mut frame = [0u8; 160];
        // 80 ms of tone, 120 ms of silence.
        for _ in 0..10 {
            player.fill_g711(G711::Alaw, &mut frame);
            feed(&mut detector, &frame);
        }
    }
    for payload in &speech[100..] {
        feed(&mut detector, payload);
    }
    assert_eq!(heard.iter().collect::<String>(), "123");
}
