//! Conferences on simulated time: far ends ("phones") send one 20 ms
//! frame of a constant level each, so what a member hears is the sum of
//! the levels it may hear; the relay is woken at its own `poll_timeout`
//! as a shard wakes it, and what it sends each phone is decoded.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::super::*;
use crate::{LegCodec, LegEncoding, RtpPacket, SrtpContext, G711};

mod stream;

const A: LegKey = LegKey::new(5, 0);
const B: LegKey = LegKey::new(5, 1);
const C: LegKey = LegKey::new(5, 2);
const MS: Duration = Duration::from_millis(1);
const SUITE: &str = "AES_CM_128_HMAC_SHA1_80";
/// What the phones on A, B and C say: the sum of any two tells them apart.
const LEVELS: [i16; 3] = [1000, 2000, 4000];

/// What a phone sends every 20 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Voice {
    Level(i16),
    /// RFC 3389 comfort noise (payload type 13) instead of audio.
    ComfortNoise,
    Silent,
}

/// An RTP packet a phone got.
#[derive(Debug, Clone)]
struct Got {
    at: Instant,
    ssrc: u32,
    seq: u16,
    ts: u32,
    marker: bool,
    samples: Vec<i16>,
}

impl Got {
    fn level(&self) -> f64 {
        self.samples.iter().map(|&s| f64::from(s)).sum::<f64>() / self.samples.len() as f64
    }
}

struct Phone {
    key: LegKey,
    port: u16,
    addr: SocketAddr,
    voice: Voice,
    seq: u16,
    /// SRTP toward the relay, and from it.
    srtp: Option<(SrtpContext, SrtpContext)>,
    got: Vec<Got>,
}

fn rtp(ssrc: u32, (seq, ts): (u16, u32), pt: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn mulaw(level: i16) -> Vec<u8> {
    let mut payload = vec![0u8; 160];
    G711::Mulaw.encode(&[level; 160], &mut payload);
    payload
}

impl Phone {
    fn ssrc(&self) -> u32 {
        0x1000 + self.key.leg as u32
    }

    /// Audio packet `seq` (timestamp `seq × 160`) of payload type `pt`,
    /// protected if the leg is SRTP.
    fn packet(&mut self, seq: u16, pt: u8, payload: &[u8]) -> Vec<u8> {
        self.packet_at((seq, u32::from(seq) * 160), pt, payload)
    }

    fn packet_at(&mut self, at: (u16, u32), pt: u8, payload: &[u8]) -> Vec<u8> {
        let mut packet = rtp(self.ssrc(), at, pt, payload);
        if let Some((tx, _)) = &mut self.srtp {
            tx.protect_rtp(&mut packet).unwrap();
        }
        packet
    }

    fn next_packet(&mut self) -> Option<Vec<u8>> {
        let (pt, payload) = match self.voice {
            Voice::Level(level) => (0, mulaw(level)),
            Voice::ComfortNoise => (13, vec![40]),
            Voice::Silent => return None,
        };
        let seq = self.seq;
        self.seq = seq.wrapping_add(1);
        Some(self.packet(seq, pt, &payload))
    }
}

struct Sim {
    relay: MediaRelay,
    start: Instant,
    now: Instant,
    phones: Vec<Phone>,
    /// The phones send together, 7 ms after each tick.
    next_send: Instant,
    /// How late the relay is woken, by wake-up number.
    late: fn(usize) -> Duration,
    wakes: usize,
    events: Vec<MediaEvent>,
    recorded: Vec<RecordedFrame>,
}

impl Sim {
    /// Phones on A, B and C (the first `voices.len()`) with PCMU legs,
    /// A on SRTP if `srtp`; nobody in the conference yet.
    fn new(voices: &[Voice], srtp: bool) -> Self {
        let start = Instant::now();
        let mut relay = MediaRelay::new(RelayConfig::default());
        let mut phones = Vec::new();
        for (n, &voice) in voices.iter().enumerate() {
            let key = [A, B, C][n];
            let port = 40_000 + 2 * n as u16;
            let addr: SocketAddr = format!("192.0.2.{}:5004", 10 + n).parse().unwrap();
            let mut config = LegConfig::new(LegPorts {
                rtp: port,
                rtcp: None,
            });
            config.remote = Some(addr);
            let mut phone_srtp = None;
            if srtp && n == 0 {
                let (theirs, ours) = ([0x3c; 30], [0xa5; 30]);
                config.srtp = Some(LegSrtp::from_key_salts(SUITE, &theirs, &ours).unwrap());
                let tx = SrtpContext::from_key_salt(SUITE, &theirs).unwrap();
                let rx = SrtpContext::from_key_salt(SUITE, &ours).unwrap();
                phone_srtp = Some((tx, rx));
            }
            relay.add_leg(start, key, config).unwrap();
            relay
                .set_codec(start, key, LegCodec::new(LegEncoding::Pcmu))
                .unwrap();
            phones.push(Phone {
                key,
                port,
                addr,
                voice,
                seq: 100 * n as u16,
                srtp: phone_srtp,
                got: Vec::new(),
            });
        }
        Self {
            relay,
            start,
            now: start,
            phones,
            next_send: start + 7 * MS,
            late: |_| Duration::ZERO,
            wakes: 0,
            events: Vec::new(),
            recorded: Vec::new(),
        }
    }

    /// Phones on A, B and C saying [`LEVELS`], all three joined.
    fn three_party(roles: [ConferenceRole; 3]) -> Self {
        let mut sim = Self::new(&LEVELS.map(Voice::Level), false);
        for (key, role) in [A, B, C].into_iter().zip(roles) {
            sim.join(key, role);
        }
        sim
    }

    fn phone(&mut self, key: LegKey) -> &mut Phone {
        self.phones.iter_mut().find(|p| p.key == key).unwrap()
    }

    fn join(&mut self, key: LegKey, role: ConferenceRole) {
        self.relay.join_conference(self.now, key, role).unwrap();
    }

    /// Hands `packet` from `key`'s phone to the relay.
    fn deliver(&mut self, key: LegKey, packet: &[u8]) -> Verdict {
        let phone = self.phone(key);
        let (port, addr) = (phone.port, phone.addr);
        let mut buf = [0u8; 1500];
        buf[..packet.len()].copy_from_slice(packet);
        self.relay
            .handle_packet(self.now, port, addr, &mut buf, packet.len())
    }

    /// Wakes the relay now and takes what it sends.
    fn wake(&mut self) {
        self.wakes += 1;
        self.relay.handle_timeout(self.now);
        let mut buf = [0u8; 1500];
        while let Some(out) = self.relay.poll_transmit(self.now, &mut buf) {
            let phone = self
                .phones
                .iter_mut()
                .find(|p| p.addr == out.destination && p.port == out.local_port)
                .unwrap();
            let mut packet = buf[..out.len].to_vec();
            if crate::classify(&packet) != crate::PacketKind::Rtp {
                continue;
            }
            if let Some((_, rx)) = &mut phone.srtp {
                rx.unprotect_rtp(&mut packet).unwrap();
            }
            let rtp = RtpPacket::parse(&packet).unwrap();
            assert_eq!(rtp.payload_type(), 0);
            let mut samples = vec![0i16; rtp.payload().len()];
            G711::Mulaw.decode(rtp.payload(), &mut samples);
            phone.got.push(Got {
                at: self.now,
                ssrc: rtp.ssrc(),
                seq: rtp.sequence_number(),
                ts: rtp.timestamp(),
                marker: rtp.marker(),
                samples,
            });
        }
        while let Some(RecordingOutput::Frame(frame)) = self.relay.poll_recording() {
            self.recorded.push(frame);
        }
        self.events
            .extend(std::iter::from_fn(|| self.relay.poll_event()));
    }

    /// Runs for `duration`: the phones send every 20 ms, the relay wakes
    /// at its timeouts (`late` after them).
    fn run(&mut self, duration: Duration) {
        let until = self.now + duration;
        loop {
            let late = (self.late)(self.wakes);
            let wake = self
                .relay
                .poll_timeout()
                .map(|at| (at + late).max(self.now));
            if wake.is_none_or(|wake| self.next_send <= wake) {
                if self.next_send > until {
                    break;
                }
                self.now = self.next_send;
                self.next_send += 20 * MS;
                for n in 0..self.phones.len() {
                    let key = self.phones[n].key;
                    if let Some(packet) = self.phones[n].next_packet() {
                        assert_eq!(self.deliver(key, &packet), Verdict::Consumed);
                    }
                }
            } else if let Some(wake) = wake.filter(|&wake| wake <= until) {
                self.now = wake;
                self.wake();
            } else {
                break;
            }
        }
        self.now = until;
    }

    /// Levels of the frames `key`'s phone got from `from` to `to` ms.
    fn levels(&self, key: LegKey, from: u64, to: u64) -> Vec<f64> {
        let phone = self.phones.iter().find(|p| p.key == key).unwrap();
        let ms = Duration::from_millis;
        let window = self.start + ms(from)..self.start + ms(to);
        phone
            .got
            .iter()
            .filter(|got| window.contains(&got.at))
            .map(Got::level)
            .collect()
    }

    /// `key` heard `expected` in every frame from `from` to `to` ms.
    #[track_caller]
    fn assert_hears(&self, key: LegKey, from: u64, to: u64, expected: f64) {
        let levels = self.levels(key, from, to);
        let frames = (to - from) / 20;
        assert!(levels.len() as u64 + 1 >= frames, "{key:?}: {levels:?}");
        for level in levels {
            // μ-law in and out: a few percent.
            assert!(
                (level - expected).abs() <= expected * 0.05 + 40.0,
                "{key:?} heard {level} in {from}..{to} ms, expected {expected}"
            );
        }
    }
}

fn level(n: usize) -> f64 {
    f64::from(LEVELS[n])
}

#[test]
fn each_member_hears_the_two_others_and_not_itself() {
    let normal = ConferenceRole::Normal;
    let mut sim = Sim::three_party([normal; 3]);
    sim.run(Duration::from_secs(1));
    sim.assert_hears(A, 60, 1000, level(1) + level(2));
    sim.assert_hears(B, 60, 1000, level(0) + level(2));
    sim.assert_hears(C, 60, 1000, level(0) + level(1));
    let counters = *sim.relay.counters();
    // 50 ticks, three frames in and three out each.
    assert_eq!(counters.conference_frames_mixed, 150);
    assert_eq!(counters.local_rtp, 150);
    assert_eq!(counters.consumed, 150);
    assert_eq!(
        (
            counters.conference_frames_late,
            counters.conference_frames_dropped
        ),
        (0, 0)
    );
    assert_eq!(
        sim.relay.conference_members(5).collect::<Vec<_>>(),
        [A, B, C]
    );
}

#[test]
fn listen_whisper_and_barge_switch_live() {
    let (normal, listen) = (ConferenceRole::Normal, ConferenceRole::Listen);
    let mut sim = Sim::three_party([normal, normal, listen]);
    sim.run(Duration::from_millis(500));
    // The supervisor on C listens: heard by nobody, hears both.
    sim.assert_hears(A, 60, 500, level(1));
    sim.assert_hears(B, 60, 500, level(0));
    sim.assert_hears(C, 60, 500, level(0) + level(1));

    // Whisper to the agent on A: only A hears C.
    let whisper = ConferenceRole::Whisper { target: A };
    sim.relay.set_conference_role(C, whisper).unwrap();
    assert_eq!(sim.relay.conference_role(C), Some(whisper));
    sim.run(Duration::from_millis(500));
    sim.assert_hears(A, 560, 1000, level(1) + level(2));
    sim.assert_hears(B, 560, 1000, level(0));
    sim.assert_hears(C, 560, 1000, level(0) + level(1));

    // Barge: heard by all.
    sim.relay
        .set_conference_role(C, ConferenceRole::Barge)
        .unwrap();
    sim.run(Duration::from_millis(500));
    sim.assert_hears(A, 1060, 1500, level(1) + level(2));
    sim.assert_hears(B, 1060, 1500, level(0) + level(2));
    sim.assert_hears(C, 1060, 1500, level(0) + level(1));
}

#[test]
fn leaving_stops_output_and_input_and_a_whisperer_then_listens() {
    let normal = ConferenceRole::Normal;
    let mut sim = Sim::three_party([normal, normal, ConferenceRole::Whisper { target: A }]);
    sim.run(Duration::from_millis(500));
    sim.assert_hears(B, 60, 500, level(0));

    assert_eq!(sim.relay.leave_conference(A), Ok(true));
    assert_eq!(sim.relay.leave_conference(A), Ok(false));
    assert_eq!(sim.relay.conference_role(A), None);
    // The whisper target left: C is heard by nobody.
    assert_eq!(sim.relay.conference_role(C), Some(ConferenceRole::Listen));
    let left_at = sim.now;
    sim.run(Duration::from_millis(500));
    let got_after = sim.phones[0].got.iter().filter(|g| g.at > left_at).count();
    assert_eq!(got_after, 0, "A hears nothing once out");
    sim.assert_hears(B, 520, 1000, 0.0);
    sim.assert_hears(C, 520, 1000, level(1));
    // A is still a leg with its codec: what it sends is taken here.
    assert_eq!(sim.relay.peer_of(A), None);

    // Back in, as a barging party this time; joining twice is a role change.
    sim.join(A, ConferenceRole::Barge);
    sim.join(A, normal);
    assert_eq!(sim.relay.conference_role(A), Some(normal));
    sim.run(Duration::from_millis(500));
    // C still listens: A hears B only.
    sim.assert_hears(A, 1060, 1500, level(1));
    sim.assert_hears(B, 1060, 1500, level(0));
}

#[test]
fn refusals_are_specific_and_the_table_stays_consistent() {
    let mut sim = Sim::new(&[Voice::Silent; 3], false);
    let now = sim.now;
    let relay = &mut sim.relay;
    let ghost = LegKey::new(5, 9);
    let normal = ConferenceRole::Normal;
    assert_eq!(
        relay.join_conference(now, ghost, normal),
        Err(RelayError::UnknownLeg(ghost))
    );
    let bare = LegKey::new(5, 3);
    relay
        .add_leg(
            now,
            bare,
            LegConfig::new(LegPorts {
                rtp: 40_010,
                rtcp: None,
            }),
        )
        .unwrap();
    assert_eq!(
        relay.join_conference(now, bare, normal),
        Err(RelayError::NoCodec(bare))
    );
    assert_eq!(
        relay.set_conference_role(A, normal),
        Err(RelayError::NotInConference(A))
    );
    // A whisper target must be another member of the same conference.
    for target in [B, A, LegKey::new(6, 0)] {
        assert_eq!(
            relay.join_conference(now, A, ConferenceRole::Whisper { target }),
            Err(RelayError::WhisperTarget(target))
        );
    }
    assert_eq!(relay.conference_role(A), None);
    assert!(relay.rooms.is_empty());

    // A bridged leg that joins is unbridged; its partner stays out.
    relay.bridge(now, A, B).unwrap();
    relay.join_conference(now, A, normal).unwrap();
    assert_eq!((relay.peer_of(A), relay.peer_of(B)), (None, None));
    assert_eq!(relay.conference_role(B), None);
    relay.join_conference(now, C, normal).unwrap();
    let whisper = ConferenceRole::Whisper { target: A };
    assert_eq!(
        relay.set_conference_role(C, ConferenceRole::Whisper { target: C }),
        Err(RelayError::WhisperTarget(C))
    );
    relay.set_conference_role(C, whisper).unwrap();
    // Bridging a member takes it out.
    relay.bridge(now, C, B).unwrap();
    assert_eq!(relay.conference_role(C), None);
    assert_eq!(relay.conference_members(5).collect::<Vec<_>>(), [A]);
    // Removing a leg takes it out; the last one ends the conference.
    relay.remove_leg(A).unwrap();
    assert_eq!(relay.conference_members(5).count(), 0);
    assert!(relay.rooms.is_empty());
    assert_eq!(relay.leave_conference(A), Err(RelayError::UnknownLeg(A)));
    // Its stale timer entry fires harmlessly.
    sim.run(Duration::from_millis(100));
    assert!(sim.phones.iter().all(|p| p.got.is_empty()));
}

#[test]
fn an_srtp_member_is_unprotected_mixed_and_protected() {
    let mut sim = Sim::new(&LEVELS.map(Voice::Level), true);
    for key in [A, B, C] {
        sim.join(key, ConferenceRole::Normal);
    }
    sim.run(Duration::from_millis(600));
    // What A says was decrypted into the others' mix; what A hears was
    // protected with its key (the harness unprotects it).
    sim.assert_hears(A, 60, 600, level(1) + level(2));
    sim.assert_hears(B, 60, 600, level(0) + level(2));
    sim.assert_hears(C, 60, 600, level(0) + level(1));
    assert!(sim.phones[0].got.len() >= 29);

    // A forged packet on A's port is refused before the mix.
    let mut forged = rtp(0x1000, (900, 0), 0, &mulaw(8000));
    forged.extend_from_slice(&[0; 10]);
    assert_eq!(
        sim.deliver(A, &forged),
        Verdict::Drop(DropReason::Authentication)
    );
    sim.run(Duration::from_millis(200));
    sim.assert_hears(B, 620, 800, level(0) + level(2));
}

#[test]
fn a_call_recording_of_members_keeps_their_voices() {
    let mut sim = Sim::three_party([ConferenceRole::Normal; 3]);
    let id = RecordingId(3);
    sim.relay.start_call_recording(sim.now, id, A, B).unwrap();
    sim.run(Duration::from_secs(1));
    assert!(sim.recorded.len() >= 40, "{}", sim.recorded.len());
    // Left: what A says, right: what B says; C is in neither.
    for frame in &sim.recorded[5..sim.recorded.len() - 2] {
        let mean = |s: &[i16]| s.iter().map(|&x| f64::from(x)).sum::<f64>() / s.len() as f64;
        assert!((mean(&frame.caller) - level(0)).abs() < 60.0, "{frame:?}");
        assert!((mean(&frame.agent) - level(1)).abs() < 100.0, "{frame:?}");
    }
}
