//! DTMF between the legs of a two-party call whose peers take it in
//! different forms ([`DtmfMode`]: a carrier trunk's `dtmf`; Teams
//! Direct Routing takes RFC 4733 events only, never INFO).
//!
//! - INFO with a key press (`application/dtmf-relay`: `Signal=5`,
//!   `Duration=160` in ms, one per line, the de-facto format of Cisco and
//!   most SBCs; `application/dtmf`: the key alone; both without an
//!   `Info-Package`, RFC 6086 §9 legacy usage) from a leg whose other
//!   leg does not take INFO is answered 200 here and not relayed:
//!   [`B2buaEvent::Dtmf`] asks the driver to have the media relay send
//!   the press on the other leg (RFC 4733 events or tones). A body that
//!   names no key gets 400. INFO to a peer that takes INFO is relayed
//!   as any INFO (a key press only once, below).
//! - [`B2bua::send_dtmf_info`]: a press the media relay took out of a
//!   leg's RTP (RFC 4733 events or tones) goes to the other leg as INFO
//!   `application/dtmf-relay` in its dialog (next CSeq, RFC 3261
//!   §12.2.1.1). Its failure (a non-2xx, a timeout) is counted
//!   ([`Stats::dtmf_info_failures`](crate::Stats::dtmf_info_failures))
//!   and reported ([`B2buaEvent::DtmfInfoFailed`]); the call goes on.
//! - A partner that sends each press both as INFO and in its RTP would
//!   have it reach a leg that takes INFO twice (its INFO relayed, and
//!   the press the media relay took out of its RTP): within
//!   `DUPLICATE_WINDOW` (1 s) the later copy is not given, whichever
//!   form comes first (`duplicate`, the media relay's rule toward RFC
//!   4733 legs). A suppressed INFO of the partner's is answered 200
//!   here; both are counted
//!   ([`Stats::dtmf_duplicates`](crate::Stats::dtmf_duplicates)).

mod duplicate;

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{HeaderName, Method, Request, Response, StatusCode};
use sip_core::TransactionKey;

use super::call::{Call, CallState, Purpose};
use super::io::{B2buaEvent, CallId, LegId, LegPeer};
use super::B2bua;
use crate::config::DtmfMode;

pub(super) use self::duplicate::InfoDuplicates;

/// Duration of a press whose INFO does not say (`application/dtmf`, or
/// no `Duration=` line).
pub(super) const DEFAULT_PRESS: Duration = Duration::from_millis(100);

/// The content type of the INFO we send.
const DTMF_RELAY: &str = "application/dtmf-relay";

/// What became of a press converted from RTP for an INFO leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConvertedPress {
    /// Sent as INFO.
    Sent,
    /// The leg had it already as the partner's INFO: not sent.
    Duplicate,
    /// Not a key, no such leg or dialog, or the INFO could not be sent.
    Failed,
}

/// A key press read from an INFO body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct InfoPress {
    /// `0`-`9`, `*`, `#`, `A`-`D`.
    pub(super) digit: char,
    pub(super) duration: Duration,
}

/// Whether a `Content-Type` carries DTMF: `Some(relay)` with `relay`
/// true for `application/dtmf-relay`, false for `application/dtmf`.
fn dtmf_content(content_type: &str) -> Option<bool> {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case(DTMF_RELAY) {
        Some(true)
    } else if essence.eq_ignore_ascii_case("application/dtmf") {
        Some(false)
    } else {
        None
    }
}

/// A key as INFO bodies write it: the character (letters in either
/// case) or its RFC 4733 §3.2 event code.
fn key(value: &str) -> Option<char> {
    let value = value.trim();
    let mut chars = value.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let c = c.to_ascii_uppercase();
        return matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c);
    }
    match value.parse::<u8>().ok()? {
        10 => Some('*'),
        11 => Some('#'),
        code @ 12..=15 => Some(char::from(b'A' + code - 12)),
        _ => None,
    }
}

impl InfoPress {
    /// The press of an INFO body: `None` when the content type carries
    /// no DTMF, `Some(Err(reason))` when the body names no single key.
    pub(super) fn parse(
        content_type: &str,
        body: &[u8],
    ) -> Option<Result<InfoPress, &'static str>> {
        let relay = dtmf_content(content_type)?;
        let Ok(text) = std::str::from_utf8(body) else {
            return Some(Err("the body is not text"));
        };
        if !relay {
            return Some(
                key(text)
                    .map(|digit| InfoPress {
                        digit,
                        duration: DEFAULT_PRESS,
                    })
                    .ok_or("the body is not one key"),
            );
        }
        let mut digit = None;
        let mut duration = DEFAULT_PRESS;
        for line in text.lines() {
            let Some((name, value)) = line.split_once('=') else {
                continue;
            };
            let name = name.trim();
            if name.eq_ignore_ascii_case("signal") {
                if digit.is_some() {
                    return Some(Err("two Signal lines"));
                }
                let Some(found) = key(value) else {
                    return Some(Err("Signal names no key"));
                };
                digit = Some(found);
            } else if name.eq_ignore_ascii_case("duration") {
                let Ok(millis) = value.trim().parse::<u32>() else {
                    return Some(Err("Duration is not a number of milliseconds"));
                };
                duration = Duration::from_millis(u64::from(millis));
            }
        }
        Some(
            digit
                .map(|digit| InfoPress { digit, duration })
                .ok_or("no Signal line"),
        )
    }

    /// The `application/dtmf-relay` body: `Signal=5\r\nDuration=160\r\n`.
    pub(super) fn body(&self) -> String {
        format!(
            "Signal={}\r\nDuration={}\r\n",
            self.digit,
            self.duration.as_millis()
        )
    }
}

impl B2bua {
    /// How the peer of a leg takes DTMF: its trunk's `dtmf`; RFC 4733
    /// for Teams, static routes and switchboard itself.
    pub(super) fn dtmf_mode(&self, peer: &LegPeer) -> DtmfMode {
        match peer {
            LegPeer::Trunk(name) => self
                .config
                .trunks
                .get(name)
                .map(|trunk| trunk.dtmf)
                .unwrap_or_default(),
            LegPeer::Teams(_) | LegPeer::Uri | LegPeer::Local => DtmfMode::Rfc4733,
        }
    }

    /// Whether an offer from `from`'s peer to `to`'s gets a
    /// telephone-event when it has none: `to` takes DTMF as RFC 4733
    /// events only, `from` sends INFO or in-band tones, which switchboard
    /// turns into events for `to`.
    pub(super) fn adds_events(&self, from: &LegPeer, to: &LegPeer) -> bool {
        self.dtmf_mode(to) == DtmfMode::Rfc4733 && self.dtmf_mode(from) != DtmfMode::Rfc4733
    }

    /// INFO within `from`'s dialog of a two-party call: a key press for
    /// a peer that does not take INFO is answered here
    /// ([`B2buaEvent::Dtmf`]), one for a peer that takes INFO and got it
    /// already from the media relay too; anything else is relayed.
    pub(super) fn on_info(
        &mut self,
        call: &mut Call,
        from: LegId,
        key: TransactionKey,
        request: Request,
        now: Instant,
    ) {
        let content_type = request.headers.get_str(&HeaderName::ContentType);
        let press = content_type.and_then(|c| InfoPress::parse(c, &request.body));
        let to = call
            .peer_of(from)
            .filter(|_| [call.caller, call.callee].contains(&from))
            .filter(|_| call.transfer.is_none() && call.state == CallState::Confirmed);
        let converts = to
            .and_then(|to| call.leg(to))
            .is_some_and(|leg| self.dtmf_mode(&leg.peer) != DtmfMode::Info);
        if let (Some(Ok(press)), Some(to), false) = (press, to, converts) {
            let duplicate = call.leg_mut(to).is_some_and(|leg| {
                leg.info_presses
                    .handle_relayed(now, press.digit, press.duration)
            });
            if duplicate {
                self.gate.stats().record_dtmf_duplicate();
                let ok = self.in_dialog_ok(call, from, &request);
                self.respond(&key, ok, now);
                return self.flush_leg(call, from, now);
            }
        }
        let (Some(press), Some(to), true) = (press, to, converts) else {
            return self.relay(call, from, key, request, now);
        };
        let response = match press {
            Ok(press) => {
                self.events.push_back(B2buaEvent::Dtmf {
                    call: call.id,
                    to_leg: to,
                    digit: press.digit,
                    duration: press.duration,
                });
                self.in_dialog_ok(call, from, &request)
            }
            Err(reason) => {
                let mut response = Response::for_request(&request, StatusCode::BAD_REQUEST);
                response.reason = Bytes::from_static(reason.as_bytes());
                response
            }
        };
        self.respond(&key, response, now);
        self.flush_leg(call, from, now);
    }

    /// Sends `digit` (`0`-`9`, `*`, `#`, `A`-`D`), held `duration`, to
    /// `leg` of `call` as INFO `application/dtmf-relay`: a press the
    /// media relay took out of the other leg's RTP for a peer that takes
    /// INFO ([`DtmfMode::Info`]). A press that reached the leg already as
    /// the partner's INFO, relayed, is not sent again (the module docs);
    /// it is counted in
    /// [`Stats::dtmf_duplicates`](crate::Stats::dtmf_duplicates). A press
    /// that cannot be sent (no such leg or dialog, another key) or whose
    /// INFO fails is counted and reported as
    /// [`B2buaEvent::DtmfInfoFailed`]; the call goes on.
    pub fn send_dtmf_info(
        &mut self,
        call: CallId,
        leg: LegId,
        digit: char,
        duration: Duration,
        now: Instant,
    ) {
        match self.try_send_dtmf_info(call, leg, digit, duration, now) {
            ConvertedPress::Sent => {}
            ConvertedPress::Duplicate => self.gate.stats().record_dtmf_duplicate(),
            ConvertedPress::Failed => self.dtmf_info_failed(call, leg, StatusCode::BAD_REQUEST),
        }
        self.drain(now, None);
    }

    fn try_send_dtmf_info(
        &mut self,
        call_id: CallId,
        leg: LegId,
        digit: char,
        duration: Duration,
        now: Instant,
    ) -> ConvertedPress {
        let Some(digit) = key(digit.encode_utf8(&mut [0; 4])) else {
            return ConvertedPress::Failed;
        };
        let Some(mut call) = self.calls.remove(&call_id) else {
            return ConvertedPress::Failed;
        };
        let sendable = call.state == CallState::Confirmed
            && call.leg_mut(leg).is_some_and(|l| l.dialog_mut().is_some());
        let duplicate = sendable
            && call
                .leg_mut(leg)
                .is_some_and(|l| l.info_presses.handle_converted(now, digit));
        if duplicate {
            self.put_back(call);
            return ConvertedPress::Duplicate;
        }
        let built = sendable
            .then(|| call.leg_mut(leg).and_then(|l| l.dialog_mut()))
            .flatten()
            .map(|dialog| dialog.request(Method::Info, now));
        let outcome = match built {
            Some(Ok(mut info)) => {
                let press = InfoPress { digit, duration };
                info.headers.set(HeaderName::ContentType, DTMF_RELAY);
                info.body = Bytes::from(press.body());
                let purpose = Purpose::DtmfInfo { call: call_id, leg };
                match self.send_in_dialog(&call, leg, info, Some(purpose), now) {
                    Some(_) => ConvertedPress::Sent,
                    None => ConvertedPress::Failed,
                }
            }
            _ => ConvertedPress::Failed,
        };
        self.put_back(call);
        outcome
    }

    /// The response to an INFO of [`B2bua::send_dtmf_info`].
    pub(super) fn on_dtmf_info_response(
        &mut self,
        call: CallId,
        leg: LegId,
        response: &Response,
        now: Instant,
    ) {
        self.with_leg_dialog(call, leg, now, |dialog| {
            // Only responses of other dialogs fail here.
            let _ = dialog.handle_response(response, now);
        });
        if response.status.is_final() && !response.status.is_success() {
            self.dtmf_info_failed(call, leg, response.status);
        }
    }

    /// Counts and reports an INFO with a key press that failed.
    pub(super) fn dtmf_info_failed(&mut self, call: CallId, leg: LegId, status: StatusCode) {
        self.gate.stats().record_dtmf_info_failure();
        self.events
            .push_back(B2buaEvent::DtmfInfoFailed { call, leg, status });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn press(digit: char, ms: u64) -> Option<Result<InfoPress, &'static str>> {
        Some(Ok(InfoPress {
            digit,
            duration: Duration::from_millis(ms),
        }))
    }

    #[test]
    fn info_bodies_of_every_usual_spelling() {
        let parse = InfoPress::parse;
        let relay = "application/dtmf-relay";
        assert_eq!(
            parse(relay, b"Signal=5\r\nDuration=160\r\n"),
            press('5', 160)
        );
        assert_eq!(parse(relay, b"signal= #\nduration = 250"), press('#', 250));
        assert_eq!(parse(relay, b"Signal=11\r\n"), press('#', 100));
        assert_eq!(parse(relay, b"Signal=d\r\nDuration=90"), press('D', 90));
        assert_eq!(
            parse("Application/DTMF-Relay; x=1", b"Signal=*"),
            press('*', 100)
        );
        assert_eq!(parse("application/dtmf", b" 7 \r\n"), press('7', 100));
        assert_eq!(parse("application/dtmf", b"14"), press('C', 100));
        assert_eq!(parse("application/sdp", b"v=0"), None);
        assert_eq!(parse(relay, b"Duration=160"), Some(Err("no Signal line")));
        assert_eq!(parse(relay, b"Signal=E"), Some(Err("Signal names no key")));
        assert_eq!(parse(relay, b"Signal=16"), Some(Err("Signal names no key")));
        assert!(matches!(parse(relay, b"Signal=1\nSignal=2"), Some(Err(_))));
        assert!(matches!(
            parse(relay, b"Signal=1\nDuration=-5"),
            Some(Err(_))
        ));
        assert!(matches!(parse("application/dtmf", b""), Some(Err(_))));
        assert!(matches!(parse(relay, &[0xff, 0xfe]), Some(Err(_))));
    }

    #[test]
    fn the_body_we_send() {
        let body = InfoPress {
            digit: '5',
            duration: Duration::from_millis(160),
        }
        .body();
        assert_eq!(body, "Signal=5\r\nDuration=160\r\n");
    }
}
