//! Session timers (RFC 4028), kept per leg: the B2BUA is the UA of both
//! dialogs, so each leg negotiates its own interval and refresher.
//!
//! - As UAS (an INVITE or UPDATE from the peer, §9): a Session-Expires
//!   below our Min-SE gets 422 with Min-SE (§5); otherwise the interval is
//!   granted with the refresher the peer asked for, else the peer if it
//!   supports `timer`, else us. Without Session-Expires we impose our own
//!   interval when configured.
//! - As UAC (our INVITE or refresh, §7): we ask for our interval with
//!   `Supported: timer` and Min-SE; the 2xx says who refreshes (§7.2).
//! - The refresher re-INVITEs at half the interval (§10); the other side
//!   ends the session when no refresh came by the interval minus
//!   min(32 s, interval/3) (§10).

use std::time::{Duration, Instant};

use sip::{HeaderName, Refresher, Request, Response};

use super::settings::B2buaSettings;

/// The session timer of one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionTimer {
    /// The negotiated session interval.
    pub(crate) interval: Duration,
    /// Whether we refresh (else the peer must).
    pub(crate) we_refresh: bool,
    /// When we refresh, or when the session expires.
    pub(crate) deadline: Instant,
}

impl SessionTimer {
    pub(crate) fn new(interval: Duration, we_refresh: bool, now: Instant) -> SessionTimer {
        let mut timer = SessionTimer {
            interval,
            we_refresh,
            deadline: now,
        };
        timer.refreshed(now);
        timer
    }

    /// A refresh succeeded at `now`: the next deadline moves (§10).
    pub(crate) fn refreshed(&mut self, now: Instant) {
        self.deadline = if self.we_refresh {
            now + self.interval / 2
        } else {
            now + self.interval - (self.interval / 3).min(Duration::from_secs(32))
        };
    }

    /// The Session-Expires value for a request we send in the dialog.
    pub(crate) fn request_header(&self) -> String {
        let refresher = if self.we_refresh { "uac" } else { "uas" };
        format!("{};refresher={refresher}", self.interval.as_secs())
    }
}

/// What a UAS answers to the session timer of a request (RFC 4028 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UasTimer {
    /// 422 with this Min-SE (seconds).
    TooSmall(u32),
    /// Granted: put these headers on the 2xx.
    Granted {
        interval: u32,
        refresher: Refresher,
        peer_supports: bool,
    },
    /// No session timer on this leg.
    Off,
}

impl UasTimer {
    /// Session-Expires (and Require: timer when the peer supports it, so
    /// it knows it may be the refresher) for the 2xx.
    pub(crate) fn headers(&self) -> Vec<(HeaderName, String)> {
        let UasTimer::Granted {
            interval,
            refresher,
            peer_supports,
        } = *self
        else {
            return Vec::new();
        };
        let refresher = match refresher {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        };
        let mut headers = vec![(
            HeaderName::SessionExpires,
            format!("{interval};refresher={refresher}"),
        )];
        if peer_supports {
            headers.push((HeaderName::Require, "timer".to_owned()));
        }
        headers
    }

    /// The leg's timer once the 2xx is sent.
    pub(crate) fn timer(&self, now: Instant) -> Option<SessionTimer> {
        match *self {
            UasTimer::Granted {
                interval,
                refresher,
                ..
            } => Some(SessionTimer::new(
                Duration::from_secs(u64::from(interval)),
                refresher == Refresher::Uas,
                now,
            )),
            _ => None,
        }
    }
}

/// Our answer, as UAS, to the session timer of `request` (RFC 4028 §9).
pub(crate) fn negotiate_as_uas(request: &Request, settings: &B2buaSettings) -> UasTimer {
    let min_se = secs(settings.min_se);
    let peer_supports = request.headers.supports("timer");
    let default_refresher = if peer_supports {
        Refresher::Uac
    } else {
        Refresher::Uas
    };
    match request.headers.session_expires() {
        Ok(Some(se)) if se.delta < min_se => UasTimer::TooSmall(min_se),
        Ok(Some(se)) => UasTimer::Granted {
            interval: se.delta,
            refresher: se.refresher.unwrap_or(default_refresher),
            peer_supports,
        },
        _ => match settings.session_expires {
            Some(ours) => {
                let their_min = request.headers.min_se().ok().flatten().unwrap_or(0);
                UasTimer::Granted {
                    interval: secs(ours).max(their_min).max(min_se),
                    refresher: default_refresher,
                    peer_supports,
                }
            }
            None => UasTimer::Off,
        },
    }
}

/// The leg's timer from the 2xx to our INVITE (RFC 4028 §7.2): no
/// Session-Expires, no timer.
pub(crate) fn from_2xx(response: &Response, now: Instant) -> Option<SessionTimer> {
    let se = response.headers.session_expires().ok().flatten()?;
    let we_refresh = se.refresher != Some(Refresher::Uas);
    Some(SessionTimer::new(
        Duration::from_secs(u64::from(se.delta.max(1))),
        we_refresh,
        now,
    ))
}

/// A re-INVITE exchange succeeded at `now`: the timer it negotiated
/// (`new`, from its Session-Expires, RFC 4028 §7) replaces the leg's, and
/// without one the running timer counts it as a refresh (§10).
pub(crate) fn renew(timer: &mut Option<SessionTimer>, new: Option<SessionTimer>, now: Instant) {
    match new {
        Some(new) => *timer = Some(new),
        None => {
            if let Some(running) = timer {
                running.refreshed(now);
            }
        }
    }
}

/// Whole seconds, saturating.
fn secs(duration: Duration) -> u32 {
    u32::try_from(duration.as_secs()).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn invite(extra: &str) -> Request {
        let text = format!(
            "INVITE sip:b@sbc SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\n\
             From: <sip:a@192.0.2.10>;tag=1\r\nTo: <sip:b@sbc>\r\nCall-ID: c1\r\n\
             CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        match sip::Message::parse(Bytes::from(text)).unwrap() {
            sip::Message::Request(r) => r,
            sip::Message::Response(_) => panic!(),
        }
    }

    #[test]
    fn uas_negotiation() {
        let s = B2buaSettings::default();
        assert_eq!(
            negotiate_as_uas(&invite("Session-Expires: 60\r\n"), &s),
            UasTimer::TooSmall(90)
        );
        let granted = negotiate_as_uas(
            &invite("Supported: timer\r\nSession-Expires: 600;refresher=uas\r\n"),
            &s,
        );
        assert_eq!(
            granted.headers(),
            vec![
                (HeaderName::SessionExpires, "600;refresher=uas".to_owned()),
                (HeaderName::Require, "timer".to_owned())
            ]
        );
        let now = Instant::now();
        let timer = granted.timer(now).unwrap();
        assert!(timer.we_refresh);
        assert_eq!(timer.deadline, now + Duration::from_secs(300));
        // No timer asked, peer without support: we impose ours and refresh.
        let imposed = negotiate_as_uas(&invite(""), &s);
        assert_eq!(
            imposed.headers(),
            vec![(HeaderName::SessionExpires, "1800;refresher=uas".to_owned())]
        );
        // The peer refreshes: it must do so before 1800 - 32 s.
        let peer = negotiate_as_uas(&invite("Supported: timer\r\n"), &s)
            .timer(now)
            .unwrap();
        assert!(!peer.we_refresh);
        assert_eq!(peer.deadline, now + Duration::from_secs(1768));
    }
}
