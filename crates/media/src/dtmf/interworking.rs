//! DTMF interworking for one call ([`DtmfRouter`]): key presses arrive on
//! any leg as RFC 4733 telephone-events, SIP INFO bodies or in-band
//! tones; each press is reported once to the IVR/ACD and, where the call
//! is bridged, repeated once on the other legs in the form each one
//! takes (RFC 4733 if negotiated there, else INFO, else in-band tones).
//!
//! A phone may send one press two ways (RFC 4733 and audio that still
//! carries the tone, or RFC 4733 and INFO): a press from one source that
//! matches, within [`DtmfRouterConfig::dedup_window`], a press of the
//! same key on the same leg from another source that has not been
//! matched by this source yet, is the same press.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::dtmf::digit::DtmfDigit;

/// Presses remembered for de-duplication.
const RECENT: usize = 16;

/// How a key press travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfMethod {
    /// RFC 4733 telephone-events in RTP.
    Rfc4733,
    /// SIP INFO (`application/dtmf-relay` or `application/dtmf`).
    Info,
    /// Tones in the audio.
    Inband,
}

impl DtmfMethod {
    const fn bit(self) -> u8 {
        match self {
            DtmfMethod::Rfc4733 => 1,
            DtmfMethod::Info => 2,
            DtmfMethod::Inband => 4,
        }
    }
}

/// What one leg of the call supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LegDtmfConfig {
    /// telephone-event was negotiated in SDP on this leg.
    pub rfc4733: bool,
    /// The peer takes DTMF in SIP INFO.
    pub info: bool,
    /// Tones may be played into this leg's audio when neither of the
    /// above is available.
    pub inband: bool,
    /// In-band detections on this leg count (off when the peer is known
    /// to send RFC 4733 and the audio may echo other tones).
    pub detect_inband: bool,
}

impl Default for LegDtmfConfig {
    fn default() -> Self {
        LegDtmfConfig {
            rfc4733: true,
            info: false,
            inband: false,
            detect_inband: true,
        }
    }
}

impl LegDtmfConfig {
    /// How a key press is sent to this leg: RFC 4733 if negotiated, else
    /// INFO, else in-band tones, else not at all.
    pub fn send_method(&self) -> Option<DtmfMethod> {
        if self.rfc4733 {
            Some(DtmfMethod::Rfc4733)
        } else if self.info {
            Some(DtmfMethod::Info)
        } else if self.inband {
            Some(DtmfMethod::Inband)
        } else {
            None
        }
    }
}

/// Settings of a [`DtmfRouter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DtmfRouterConfig {
    /// Two reports of one key on one leg from different sources this
    /// close together are one press.
    pub dedup_window: Duration,
    /// The media relay forwards telephone-event packets between legs that
    /// both negotiated RFC 4733, so such presses are not sent again.
    pub rfc4733_passthrough: bool,
    /// The media relay forwards audio, so an in-band press already
    /// reaches a leg that takes in-band tones.
    pub audio_passthrough: bool,
}

impl Default for DtmfRouterConfig {
    fn default() -> Self {
        DtmfRouterConfig {
            dedup_window: Duration::from_secs(1),
            rfc4733_passthrough: true,
            audio_passthrough: true,
        }
    }
}

/// What a [`DtmfRouter`] asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfEvent<L> {
    /// A key press, once per press: for the IVR/ACD.
    Digit {
        /// Leg it was pressed on.
        leg: L,
        /// The key.
        digit: DtmfDigit,
        /// How long it was held, as reported by its first source.
        duration: Duration,
        /// The source that reported it first.
        source: DtmfMethod,
    },
    /// Send the press to `leg` by `method` (RFC 4733 with a
    /// [`TelephoneEventSender`](crate::TelephoneEventSender), INFO with an
    /// [`InfoDigit`](crate::InfoDigit) body, in-band with a
    /// [`TonePlayer`](crate::TonePlayer)).
    Send {
        /// Leg to send to.
        leg: L,
        /// The key.
        digit: DtmfDigit,
        /// How long to hold it.
        duration: Duration,
        /// How.
        method: DtmfMethod,
    },
}

/// A press remembered for de-duplication.
#[derive(Debug, Clone, Copy)]
struct RecentPress<L> {
    leg: L,
    digit: DtmfDigit,
    at: Instant,
    /// Sources that reported it, [`DtmfMethod::bit`]s.
    sources: u8,
}

/// Routes the key presses of one call: one per press to the IVR, and to
/// the other legs in the form each takes.
///
/// Register legs with [`add_leg`](Self::add_leg), report every press a
/// receiver ([`TelephoneEventReceiver`](crate::TelephoneEventReceiver)
/// `Ended`, [`InfoDigit`](crate::InfoDigit),
/// [`DtmfDetector`](crate::DtmfDetector) `Ended`) sees with
/// [`handle_digit`](Self::handle_digit), then drain
/// [`poll_event`](Self::poll_event): a `Digit` first, then one `Send`
/// per leg that needs it. Presses are forwarded only while
/// [`set_bridged`](Self::set_bridged) is on (not while the caller is in
/// the IVR). Nothing allocates per press once legs are added.
#[derive(Debug, Clone)]
pub struct DtmfRouter<L> {
    config: DtmfRouterConfig,
    legs: Vec<(L, LegDtmfConfig)>,
    bridged: bool,
    recent: [Option<RecentPress<L>>; RECENT],
    /// Next slot of `recent` to overwrite.
    next_slot: usize,
    events: VecDeque<DtmfEvent<L>>,
}

impl<L: Copy + Eq> DtmfRouter<L> {
    /// A router with `config`, no legs, not bridged.
    pub fn new(config: DtmfRouterConfig) -> Self {
        DtmfRouter {
            config,
            legs: Vec::with_capacity(2),
            bridged: false,
            recent: [None; RECENT],
            next_slot: 0,
            events: VecDeque::with_capacity(4),
        }
    }

    /// Adds `leg`, or replaces its settings (after a re-INVITE).
    pub fn add_leg(&mut self, leg: L, config: LegDtmfConfig) {
        match self.legs.iter_mut().find(|(known, _)| *known == leg) {
            Some((_, known)) => *known = config,
            None => {
                self.legs.push((leg, config));
                self.events.reserve(self.legs.len() + 1);
            }
        }
    }

    /// Removes `leg`.
    pub fn remove_leg(&mut self, leg: L) {
        self.legs.retain(|(known, _)| *known != leg);
    }

    /// Presses are forwarded between legs while bridged.
    pub fn set_bridged(&mut self, bridged: bool) {
        self.bridged = bridged;
    }

    /// Takes in a key press seen on `leg` by `source`. Presses from an
    /// unknown leg reach the IVR but are not forwarded; in-band presses
    /// from a leg with `detect_inband` off are dropped.
    pub fn handle_digit(
        &mut self,
        now: Instant,
        leg: L,
        source: DtmfMethod,
        digit: DtmfDigit,
        duration: Duration,
    ) {
        let from = self
            .legs
            .iter()
            .find(|(known, _)| *known == leg)
            .map(|(_, config)| *config);
        if source == DtmfMethod::Inband && from.is_some_and(|config| !config.detect_inband) {
            return;
        }
        if self.is_duplicate(now, leg, source, digit) {
            return;
        }
        self.recent[self.next_slot] = Some(RecentPress {
            leg,
            digit,
            at: now,
            sources: source.bit(),
        });
        self.next_slot = (self.next_slot + 1) % RECENT;
        self.events.push_back(DtmfEvent::Digit {
            leg,
            digit,
            duration,
            source,
        });
        if !self.bridged || from.is_none() {
            return;
        }
        for &(target, config) in &self.legs {
            if target == leg {
                continue;
            }
            let Some(method) = config.send_method() else {
                continue;
            };
            let carried = match (source, method) {
                (DtmfMethod::Rfc4733, DtmfMethod::Rfc4733) => self.config.rfc4733_passthrough,
                (DtmfMethod::Inband, DtmfMethod::Inband) => self.config.audio_passthrough,
                _ => false,
            };
            if !carried {
                self.events.push_back(DtmfEvent::Send {
                    leg: target,
                    digit,
                    duration,
                    method,
                });
            }
        }
    }

    /// The next thing to do.
    pub fn poll_event(&mut self) -> Option<DtmfEvent<L>> {
        self.events.pop_front()
    }

    /// Marks and reports an earlier press this report repeats: the oldest
    /// one in the window, same leg and key, not yet seen from `source`.
    fn is_duplicate(&mut self, now: Instant, leg: L, source: DtmfMethod, digit: DtmfDigit) -> bool {
        let window = self.config.dedup_window;
        let matching = self
            .recent
            .iter_mut()
            .flatten()
            .filter(|press| {
                press.leg == leg
                    && press.digit == digit
                    && press.sources & source.bit() == 0
                    && now.saturating_duration_since(press.at) <= window
            })
            .min_by_key(|press| press.at);
        match matching {
            Some(press) => {
                press.sources |= source.bit();
                true
            }
            None => false,
        }
    }
}

impl<L: Copy + Eq> Default for DtmfRouter<L> {
    fn default() -> Self {
        Self::new(DtmfRouterConfig::default())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CALLER: u8 = 1;
    const AGENT: u8 = 2;
    const MS100: Duration = Duration::from_millis(100);

    fn router(agent: LegDtmfConfig) -> (DtmfRouter<u8>, Instant) {
        let mut router = DtmfRouter::default();
        router.add_leg(CALLER, LegDtmfConfig::default());
        router.add_leg(AGENT, agent);
        router.set_bridged(true);
        (router, Instant::now())
    }

    fn drain(router: &mut DtmfRouter<u8>) -> Vec<DtmfEvent<u8>> {
        std::iter::from_fn(|| router.poll_event()).collect()
    }

    fn digit(leg: u8, digit: DtmfDigit, source: DtmfMethod) -> DtmfEvent<u8> {
        DtmfEvent::Digit {
            leg,
            digit,
            duration: MS100,
            source,
        }
    }

    #[test]
    fn rfc4733_and_inband_of_one_press_count_once() {
        let (mut router, start) = router(LegDtmfConfig {
            rfc4733: false,
            info: true,
            ..Default::default()
        });
        router.handle_digit(start, CALLER, DtmfMethod::Rfc4733, DtmfDigit::Five, MS100);
        router.handle_digit(
            start + Duration::from_millis(40),
            CALLER,
            DtmfMethod::Inband,
            DtmfDigit::Five,
            MS100,
        );
        assert_eq!(
            drain(&mut router),
            [
                digit(CALLER, DtmfDigit::Five, DtmfMethod::Rfc4733),
                DtmfEvent::Send {
                    leg: AGENT,
                    digit: DtmfDigit::Five,
                    duration: MS100,
                    method: DtmfMethod::Info
                },
            ]
        );
    }

    #[test]
    fn repeated_key_from_one_source_is_two_presses() {
        let (mut router, start) = router(LegDtmfConfig::default());
        let at = |ms| start + Duration::from_millis(ms);
        // 0 0: RFC 4733 twice, in-band after each.
        router.handle_digit(at(0), CALLER, DtmfMethod::Rfc4733, DtmfDigit::Zero, MS100);
        router.handle_digit(at(30), CALLER, DtmfMethod::Inband, DtmfDigit::Zero, MS100);
        router.handle_digit(at(200), CALLER, DtmfMethod::Rfc4733, DtmfDigit::Zero, MS100);
        router.handle_digit(at(230), CALLER, DtmfMethod::Inband, DtmfDigit::Zero, MS100);
        let digits = drain(&mut router)
            .into_iter()
            .filter(|e| matches!(e, DtmfEvent::Digit { .. }))
            .count();
        assert_eq!(digits, 2);
        // Outside the window the same report is a new press.
        router.handle_digit(at(1500), CALLER, DtmfMethod::Inband, DtmfDigit::Zero, MS100);
        assert_eq!(
            drain(&mut router),
            [
                digit(CALLER, DtmfDigit::Zero, DtmfMethod::Inband),
                DtmfEvent::Send {
                    leg: AGENT,
                    digit: DtmfDigit::Zero,
                    duration: MS100,
                    method: DtmfMethod::Rfc4733
                },
            ]
        );
    }

    #[test]
    fn other_leg_gets_the_method_it_takes() {
        let cases = [
            // RFC 4733 both sides: the relay carries the packets.
            (LegDtmfConfig::default(), DtmfMethod::Rfc4733, None),
            (
                LegDtmfConfig::default(),
                DtmfMethod::Info,
                Some(DtmfMethod::Rfc4733),
            ),
            (
                LegDtmfConfig::default(),
                DtmfMethod::Inband,
                Some(DtmfMethod::Rfc4733),
            ),
            (
                LegDtmfConfig {
                    rfc4733: false,
                    info: true,
                    ..Default::default()
                },
                DtmfMethod::Rfc4733,
                Some(DtmfMethod::Info),
            ),
            (
                LegDtmfConfig {
                    rfc4733: false,
                    info: false,
                    inband: true,
                    ..Default::default()
                },
                DtmfMethod::Rfc4733,
                Some(DtmfMethod::Inband),
            ),
            // In-band both sides: the audio carries it.
            (
                LegDtmfConfig {
                    rfc4733: false,
                    info: false,
                    inband: true,
                    ..Default::default()
                },
                DtmfMethod::Inband,
                None,
            ),
            (
                LegDtmfConfig {
                    rfc4733: false,
                    info: false,
                    inband: false,
                    ..Default::default()
                },
                DtmfMethod::Info,
                None,
            ),
        ];
        for (agent, source, expected) in cases {
            let (mut router, start) = router(agent);
            router.handle_digit(start, CALLER, source, DtmfDigit::Pound, MS100);
            let events = drain(&mut router);
            assert_eq!(events[0], digit(CALLER, DtmfDigit::Pound, source));
            let sent = events.get(1).map(|event| match *event {
                DtmfEvent::Send {
                    leg, method, digit, ..
                } => {
                    assert_eq!((leg, digit), (AGENT, DtmfDigit::Pound));
                    method
                }
                DtmfEvent::Digit { .. } => panic!("two digits"),
            });
            assert_eq!(sent, expected, "{agent:?} {source:?}");
            assert!(events.len() <= 2);
        }
    }

    #[test]
    fn not_bridged_reaches_only_the_ivr() {
        let (mut router, start) = router(LegDtmfConfig {
            rfc4733: false,
            info: true,
            ..Default::default()
        });
        router.set_bridged(false);
        router.handle_digit(start, CALLER, DtmfMethod::Rfc4733, DtmfDigit::One, MS100);
        assert_eq!(
            drain(&mut router),
            [digit(CALLER, DtmfDigit::One, DtmfMethod::Rfc4733)]
        );
        // Unknown legs too.
        router.set_bridged(true);
        router.handle_digit(start, 9, DtmfMethod::Info, DtmfDigit::One, MS100);
        assert_eq!(
            drain(&mut router),
            [digit(9, DtmfDigit::One, DtmfMethod::Info)]
        );
    }

    #[test]
    fn inband_detection_can_be_turned_off_per_leg() {
        let (mut router, start) = router(LegDtmfConfig {
            detect_inband: false,
            ..Default::default()
        });
        router.handle_digit(start, AGENT, DtmfMethod::Inband, DtmfDigit::Two, MS100);
        assert_eq!(drain(&mut router), []);
        router.handle_digit(start, CALLER, DtmfMethod::Inband, DtmfDigit::Two, MS100);
        assert_eq!(drain(&mut router).len(), 2);
    }

    #[test]
    fn legs_are_kept_apart() {
        let (mut router, start) = router(LegDtmfConfig::default());
        router.handle_digit(start, CALLER, DtmfMethod::Rfc4733, DtmfDigit::Three, MS100);
        router.handle_digit(start, AGENT, DtmfMethod::Inband, DtmfDigit::Three, MS100);
        let digits: Vec<_> = drain(&mut router)
            .into_iter()
            .filter_map(|e| match e {
                DtmfEvent::Digit { leg, .. } => Some(leg),
                DtmfEvent::Send { .. } => None,
            })
            .collect();
        assert_eq!(digits, [CALLER, AGENT]);
    }
}
