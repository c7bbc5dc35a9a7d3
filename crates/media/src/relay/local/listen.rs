//! Key presses heard on a leg switchboard terminates: RFC 4733
//! telephone-events ([`TelephoneEventReceiver`], §2.5.2, durations on
//! the clock of the leg's `telephone-event/<rate>`) and in-band tones in
//! its decoded audio at 8 kHz ([`DtmfDetector`], ITU-T Q.24; G.711 and
//! G.722 legs only, see `LegEncoding::carries_inband_dtmf`), one report
//! per press however many ways it arrived ([`DtmfRouter`]'s
//! de-duplication).

use std::collections::VecDeque;
use std::time::Instant;

use crate::dtmf::{
    DtmfDetector, DtmfEvent, DtmfMethod, DtmfRouter, InbandEvent, ReceivedEvent,
    TelephoneEventReceiver, TelephoneEventReceiverConfig,
};
use crate::relay::{LegKey, MediaEvent};
use crate::rtp::RtpPacket;

fn receiver_config(clock_rate: u32) -> TelephoneEventReceiverConfig {
    TelephoneEventReceiverConfig {
        clock_rate,
        ..TelephoneEventReceiverConfig::default()
    }
}

/// The DTMF receivers of one leg.
#[derive(Debug)]
pub(crate) struct DtmfListener {
    leg: LegKey,
    telephone_events: TelephoneEventReceiver,
    inband: DtmfDetector,
    router: DtmfRouter<LegKey>,
}

impl DtmfListener {
    /// Listens on `leg`, whose telephone-events count at
    /// `telephone_event_rate`.
    pub(crate) fn new(leg: LegKey, telephone_event_rate: u32) -> Self {
        Self {
            leg,
            telephone_events: TelephoneEventReceiver::new(receiver_config(telephone_event_rate)),
            inband: DtmfDetector::default(),
            router: DtmfRouter::default(),
        }
    }

    /// The telephone-event clock rate changed (a re-INVITE): an event in
    /// progress is forgotten.
    pub(crate) fn set_telephone_event_rate(&mut self, rate: u32) {
        if self.telephone_events.config().clock_rate != rate {
            self.telephone_events = TelephoneEventReceiver::new(receiver_config(rate));
        }
    }

    /// A telephone-event packet (the caller checked its payload type).
    pub(crate) fn handle_telephone_event(
        &mut self,
        now: Instant,
        packet: &RtpPacket<'_>,
        events: &mut VecDeque<MediaEvent>,
    ) {
        // A malformed event payload is the peer's problem; nothing to
        // report.
        let _ = self.telephone_events.handle_rtp(now, packet);
        self.drain(now, events);
    }

    /// Decoded audio at 8 kHz, for in-band tones.
    pub(crate) fn handle_audio(
        &mut self,
        now: Instant,
        samples: &[i16],
        events: &mut VecDeque<MediaEvent>,
    ) {
        self.inband.handle_samples(samples);
        self.drain(now, events);
    }

    /// The codec changed: audio so far means nothing for the new one.
    pub(crate) fn reset_audio(&mut self) {
        self.inband.reset();
        // A tone cut short by the reset is not a key press.
        while self.inband.poll_event().is_some() {}
    }

    /// Ends an event whose end packets were all lost.
    pub(crate) fn handle_timeout(&mut self, now: Instant, events: &mut VecDeque<MediaEvent>) {
        self.telephone_events.handle_timeout(now);
        self.drain(now, events);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.telephone_events.poll_timeout()
    }

    fn drain(&mut self, now: Instant, events: &mut VecDeque<MediaEvent>) {
        while let Some(event) = self.telephone_events.poll_event() {
            if let ReceivedEvent::Ended {
                digit, duration, ..
            } = event
            {
                self.router
                    .handle_digit(now, self.leg, DtmfMethod::Rfc4733, digit, duration);
            }
        }
        while let Some(event) = self.inband.poll_event() {
            if let InbandEvent::Ended { digit, duration } = event {
                self.router
                    .handle_digit(now, self.leg, DtmfMethod::Inband, digit, duration);
            }
        }
        while let Some(event) = self.router.poll_event() {
            // No other leg is registered with the router: only `Digit`.
            if let DtmfEvent::Digit {
                leg,
                digit,
                duration,
                source,
            } = event
            {
                events.push_back(MediaEvent::Dtmf {
                    leg,
                    digit,
                    method: source,
                    duration,
                });
            }
        }
    }
}
