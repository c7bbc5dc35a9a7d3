//! Conferences in the relay: three-way calls, consultations and a
//! supervisor's listen, whisper and barge, one conference per session,
//! mixed here.
//!
//! Each leg stays its own RTP session, terminated here: switchboard is
//! the content-modifying MCU of RFC 7667 §3.9 (the RFC 3550 §7.1 mixer
//! of RFC 7667 §3.6, seen by every participant as its only peer), not
//! a forwarding middlebox.
//!
//! - Joining ([`MediaRelay::join_conference`]) needs the leg's codec
//!   ([`MediaRelay::set_codec`]); a bridged leg is unbridged first (its
//!   partner stays where it is), and bridging a member takes it out.
//! - Input: what a member's leg receives, once latched, authenticated
//!   and decrypted like any packet, is taken here
//!   ([`Verdict::Consumed`](super::Verdict::Consumed)). Audio of the
//!   leg's payload type goes to its jitter buffer (`jitter.rs`);
//!   RFC 4733 telephone-events are not mixed, and give
//!   [`MediaEvent::Dtmf`](super::MediaEvent::Dtmf) while the leg reports
//!   DTMF ([`MediaRelay::set_report_dtmf`]); anything else (RFC 3389
//!   comfort noise, another payload type) is silence in the mix. The
//!   leg's RTCP feeds our reports to it, as for a leg not bridged.
//! - Mixing: one timer per conference on the relay's timer heap, tick
//!   `n` due at `start + n × 20 ms` whatever the wake-ups, so it never
//!   drifts; a shard that woke late mixes up to [`MAX_BURST`] ticks back
//!   to back, further behind it skips to the current tick. A tick takes
//!   one frame from each member's jitter buffer (none: silent; nothing
//!   waits for a late packet) and mixes them with [`Conference`]: each
//!   member hears everyone else (mix-minus) as their [`ConferenceRole`]s
//!   allow.
//! - Output: each member's mix goes out as the next packet of the leg's
//!   own stream, the one its plays use (RFC 3550 §5.1: our SSRC,
//!   sequence number + 1, the timestamp of the tick on the leg's RTP
//!   clock, so + 160 per tick at 8 kHz; RFC 3550 §7.1: a mixer is the
//!   synchronization source of what it makes). No CSRC list: the
//!   contributors are other RTP sessions of a B2BUA (RFC 7092), their
//!   SSRCs mean nothing to this one. Then the relay's continuity rewrite
//!   and SRTP protection, counted as local RTP.
//! - A member's leg that plays a [`FrameSource`](crate::FrameSource) (a
//!   prompt, a beep) hears the play in place of the mix, and is still
//!   heard by the others; the mix resumes at the first tick after the
//!   play's last frame.
//! - Recording: a recording taps what its legs receive before the
//!   conference takes it, so a call recording of two members goes on as
//!   before: the left channel is what the caller says, the right what
//!   the agent says. The other members (a consulted party, a listening,
//!   whispering or barging supervisor) and the mix are not in the file.
//!
//! Codecs: any [`LegEncoding`](super::LegEncoding). What a member's
//! leg receives is decoded by the relay's own end of the leg at the
//! codec's rate (8 kHz for G.711, 16 kHz for G.722 and Opus); the mix
//! runs at 16 kHz while any member is wideband, else at 8 kHz, and each
//! member's frames are converted to it and its mix back (`member.rs`).
//! A join, a leave or a re-INVITE that changes the rates rebuilds the
//! mixer at the new rate.
//!
//! Nothing here allocates after a join: the member's jitter buffer and
//! the mixer's buffers are made at join, the ready queue and the timer
//! heap are reserved then.

mod jitter;
mod member;

use std::cmp::Reverse;
use std::time::{Duration, Instant};

pub(super) use self::member::Member;
use super::{Forward, Leg, LegKey, MediaRelay, Origin, RelayCounters, Timer};
use crate::error::RelayError;
use crate::server::{Conference, MediaRate, ParticipantId, ParticipantRole, FRAME_DURATION};

/// Who hears a conference member and whom it hears: the relay's form of
/// [`ParticipantRole`], the whisper target named by its leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConferenceRole {
    /// Heard by all, hears all (a party of a three-way call).
    Normal,
    /// Supervisor listen: heard by nobody, hears all.
    Listen,
    /// Supervisor whisper (coaching): heard by `target` only, hears all.
    /// When the target leaves, the whisperer becomes a listener.
    Whisper {
        /// The member (the agent) who hears the whisperer: another leg
        /// of the same session, already in the conference.
        target: LegKey,
    },
    /// Supervisor barge: heard by all, hears all.
    Barge,
}

/// Late ticks mixed back to back before the schedule skips ahead.
pub(crate) const MAX_BURST: u64 = 3;

fn ticks(n: u64) -> Duration {
    // 20 ms ticks: 2^64 ns is far beyond any call.
    Duration::from_nanos(n.saturating_mul(FRAME_DURATION.as_nanos() as u64))
}

/// The mixer's id of the leg in `slot`.
fn participant(slot: usize) -> ParticipantId {
    // Slots index a Vec, far below 2^31 entries (see the port table).
    ParticipantId(slot as u32)
}

/// The conference of one session.
#[derive(Debug)]
pub(super) struct Room {
    mixer: Conference,
    /// Slots of the members' legs, in the order they joined.
    members: Vec<usize>,
    /// Tick `n` is due at `start + n × 20 ms`.
    start: Instant,
    /// The next tick to mix and send.
    next: u64,
    /// Ticks due and not yet sent, from `next` on.
    pending: u64,
    /// Tick `next` is mixed; its frames go out from member `cursor` on.
    mixed: bool,
    cursor: usize,
    /// The heap entry that counts for this conference.
    scheduled: Option<Instant>,
    /// In the relay's queue of conferences with frames to send.
    queued: bool,
}

impl Room {
    fn new(start: Instant) -> Self {
        Self {
            mixer: Conference::new(MediaRate::Narrowband),
            members: Vec::new(),
            start,
            next: 0,
            pending: 0,
            mixed: false,
            cursor: 0,
            scheduled: None,
            queued: false,
        }
    }

    fn due(&self, tick: u64) -> Instant {
        self.start + ticks(tick)
    }

    /// Number of ticks due by `now`.
    fn due_by(&self, now: Instant) -> u64 {
        now.checked_duration_since(self.start).map_or(0, |elapsed| {
            // 2^64 ticks of 20 ms: the quotient fits.
            (elapsed.as_nanos() / FRAME_DURATION.as_nanos()) as u64 + 1
        })
    }

    /// Mixes tick `next`: one frame from each member's jitter buffer.
    fn mix(&mut self, legs: &mut [Option<Leg>], counters: &mut RelayCounters) {
        for &slot in &self.members {
            let member = legs
                .get_mut(slot)
                .and_then(Option::as_mut)
                .and_then(|leg| leg.member.as_deref_mut());
            let Some(frame) = member.and_then(Member::frame_for_mix) else {
                continue;
            };
            if self.mixer.handle_frame(participant(slot), frame).is_ok() {
                counters.conference_frames_mixed += 1;
            }
        }
        self.mixer.mix();
        self.mixed = true;
        self.cursor = 0;
    }
}

impl MediaRelay {
    /// Puts the leg in its session's conference (made with the first
    /// member) as `role`; it hears the others' mix every 20 ms from the
    /// next tick on. The leg needs its codec
    /// ([`MediaRelay::set_codec`], else [`RelayError::NoCodec`]); a
    /// bridged leg is unbridged first, its partner staying where it is.
    /// A leg already in the conference just takes `role`. Its RFC 4733
    /// key presses are reported only with [`MediaRelay::set_report_dtmf`]
    /// (they are never mixed); a play on it replaces what it hears.
    pub fn join_conference(
        &mut self,
        now: Instant,
        key: LegKey,
        role: ConferenceRole,
    ) -> Result<(), RelayError> {
        let slot = self.slot(key)?;
        let leg = self.leg(key)?;
        if leg.local.is_none() {
            return Err(RelayError::NoCodec(key));
        }
        if leg.member.is_some() {
            return self.set_conference_role(key, role);
        }
        let mixed = self.mixer_role(key, role)?;
        let room = self
            .rooms
            .entry(key.session)
            .or_insert_with(|| Room::new(now + FRAME_DURATION));
        if room.mixer.add(participant(slot), mixed).is_err() {
            // Not reached: the leg is in no mixer and the role was checked.
            if room.members.is_empty() {
                self.rooms.remove(&key.session);
            }
            return Err(refusal(key, role));
        }
        room.members.push(slot);
        let mix_rate = room.mixer.rate();
        self.unlink(slot);
        if let Some(leg) = self.legs.get_mut(slot).and_then(Option::as_mut) {
            let rate = leg.local.as_deref().map_or(MediaRate::Narrowband, |local| {
                local.codec().encoding.media_rate()
            });
            leg.member = Some(Box::new(Member::new(role, rate, mix_rate)));
            leg.last_activity = now;
            leg.timed_out = false;
        }
        self.tune_room(key.session);
        // Room for every conference's queue entry and timers, once.
        let rooms = self.rooms.len();
        let queued = self.conference_ready.len();
        self.conference_ready.reserve(rooms.saturating_sub(queued));
        self.timers.reserve(2);
        self.arm_room(key.session);
        Ok(())
    }

    /// Takes the leg out of its conference: it hears no mix from now on
    /// and is in nobody's; the conference ends with its last member.
    /// Returns whether the leg was in one. The leg is left unbridged.
    pub fn leave_conference(&mut self, key: LegKey) -> Result<bool, RelayError> {
        let slot = self.slot(key)?;
        Ok(self.leave(slot))
    }

    /// Changes a member's role (listen, then whisper, then barge), from
    /// the next tick on.
    pub fn set_conference_role(
        &mut self,
        key: LegKey,
        role: ConferenceRole,
    ) -> Result<(), RelayError> {
        let slot = self.slot(key)?;
        if self.leg(key)?.member.is_none() {
            return Err(RelayError::NotInConference(key));
        }
        let mixed = self.mixer_role(key, role)?;
        let room = self
            .rooms
            .get_mut(&key.session)
            .ok_or(RelayError::NotInConference(key))?;
        room.mixer
            .set_role(participant(slot), mixed)
            .map_err(|_| refusal(key, role))?;
        if let Some(member) = self.leg_mut(key)?.member.as_deref_mut() {
            member.role = role;
        }
        Ok(())
    }

    /// The leg's role in its conference, `None` if it is in none.
    pub fn conference_role(&self, key: LegKey) -> Option<ConferenceRole> {
        Some(self.leg(key).ok()?.member.as_ref()?.role)
    }

    /// The legs in the session's conference, in the order they joined.
    pub fn conference_members(&self, session: u64) -> impl Iterator<Item = LegKey> + '_ {
        let slots = self
            .rooms
            .get(&session)
            .map_or(&[][..], |room| &room.members);
        slots
            .iter()
            .filter_map(|&slot| Some(self.legs.get(slot)?.as_ref()?.key))
    }

    /// The mixer's form of `role` for `key`, checking a whisper target.
    fn mixer_role(&self, key: LegKey, role: ConferenceRole) -> Result<ParticipantRole, RelayError> {
        Ok(match role {
            ConferenceRole::Normal => ParticipantRole::Normal,
            ConferenceRole::Listen => ParticipantRole::Listen,
            ConferenceRole::Barge => ParticipantRole::Barge,
            ConferenceRole::Whisper { target } => {
                let member = |&slot: &usize| {
                    let leg = self.legs.get(slot).and_then(Option::as_ref);
                    leg.is_some_and(|leg| leg.member.is_some())
                };
                let slot = self
                    .index
                    .get(&target)
                    .filter(|_| target != key && target.session == key.session)
                    .filter(|slot| member(slot))
                    .ok_or(RelayError::WhisperTarget(target))?;
                ParticipantRole::Whisper {
                    target: participant(*slot),
                }
            }
        })
    }

    /// Takes the leg in `slot` out of its conference, if it is in one.
    pub(super) fn leave(&mut self, slot: usize) -> bool {
        let Some(leg) = self.legs.get_mut(slot).and_then(Option::as_mut) else {
            return false;
        };
        if leg.member.take().is_none() {
            return false;
        }
        let key = leg.key;
        let Some(room) = self.rooms.get_mut(&key.session) else {
            return true;
        };
        // It is in the mixer: it was a member.
        let _ = room.mixer.remove(participant(slot));
        if let Some(at) = room.members.iter().position(|&member| member == slot) {
            room.members.remove(at);
            if at < room.cursor {
                room.cursor -= 1;
            }
        }
        // Whisperers to it would be heard by nobody: listeners now.
        let whisper = ConferenceRole::Whisper { target: key };
        for &other in &room.members {
            let member = self
                .legs
                .get_mut(other)
                .and_then(Option::as_mut)
                .and_then(|leg| leg.member.as_deref_mut());
            if let Some(member) = member.filter(|member| member.role == whisper) {
                member.role = ConferenceRole::Listen;
                // `other` is in the mixer, and listening needs no target.
                let _ = room
                    .mixer
                    .set_role(participant(other), ParticipantRole::Listen);
            }
        }
        if room.members.is_empty() {
            // Its timer entry and queue entry are skipped from now on.
            self.rooms.remove(&key.session);
        } else {
            self.tune_room(key.session);
        }
        true
    }

    /// Mixes the session's conference at 16 kHz while any member's codec
    /// is wideband, else at 8 kHz (a new mixer, the same members and
    /// roles), and retunes the members to it and to their codecs.
    pub(super) fn tune_room(&mut self, session: u64) {
        let Some(room) = self.rooms.get_mut(&session) else {
            return;
        };
        let rate_of = |leg: &Leg| {
            leg.local.as_deref().map_or(MediaRate::Narrowband, |local| {
                local.codec().encoding.media_rate()
            })
        };
        let legs = &mut self.legs;
        let wideband = room.members.iter().any(|&slot| {
            legs.get(slot)
                .and_then(Option::as_ref)
                .is_some_and(|leg| rate_of(leg) == MediaRate::Wideband)
        });
        let mix_rate = if wideband {
            MediaRate::Wideband
        } else {
            MediaRate::Narrowband
        };
        if room.mixer.rate() != mix_rate {
            let mut mixer = Conference::new(mix_rate);
            // Roles as the old mixer had them; a whisperer goes in once
            // its target is in, so as many passes as members at most.
            for _ in 0..room.members.len() {
                for &slot in &room.members {
                    let id = participant(slot);
                    if let (None, Some(role)) = (mixer.role(id), room.mixer.role(id)) {
                        // A whisper whose target is not in yet fails
                        // now and goes in on a later pass.
                        let _ = mixer.add(id, role);
                    }
                }
                if mixer.len() == room.members.len() {
                    break;
                }
            }
            room.mixer = mixer;
        }
        for &slot in &room.members {
            let Some(leg) = legs.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let rate = rate_of(leg);
            if let Some(member) = leg.member.as_deref_mut() {
                member.retune(rate, mix_rate);
            }
        }
    }

    /// Puts the conference's next tick on the timer heap, unless it is
    /// there or the conference waits in `conference_ready`.
    fn arm_room(&mut self, session: u64) {
        let Some(room) = self.rooms.get_mut(&session) else {
            return;
        };
        if room.queued || room.scheduled.is_some() {
            return;
        }
        let due = room.due(room.next);
        room.scheduled = Some(due);
        self.timers.push(Reverse((due, Timer::Conference(session))));
    }

    /// The conference's timer entry for `at` fired at `now`: its due
    /// ticks go to `conference_ready`.
    pub(super) fn handle_conference_timer(&mut self, now: Instant, at: Instant, session: u64) {
        let Some(room) = self.rooms.get_mut(&session) else {
            return;
        };
        if room.scheduled != Some(at) {
            // Superseded, or the timer of an earlier conference.
            return;
        }
        room.scheduled = None;
        let due = room.due_by(now);
        let owed = due.saturating_sub(room.next);
        if owed > MAX_BURST {
            // On from the tick `now` falls in; those before are not sent.
            room.next = due - 1;
            room.pending = 1;
        } else {
            room.pending = owed;
        }
        room.queued = true;
        self.conference_ready.push_back(session);
    }

    /// The next frame of a conference's mix, written into `buf`: what
    /// one member hears in the tick being sent (see
    /// [`MediaRelay::poll_transmit`]).
    pub(super) fn poll_conference_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<Forward> {
        while let Some(&session) = self.conference_ready.front() {
            let Self {
                rooms,
                legs,
                counters,
                conference_ready,
                ..
            } = self;
            let Some(room) = rooms.get_mut(&session) else {
                conference_ready.pop_front();
                continue;
            };
            if room.pending == 0 {
                room.queued = false;
                conference_ready.pop_front();
                self.arm_room(session);
                continue;
            }
            if !room.mixed {
                room.mix(legs, counters);
            }
            let Some(&slot) = room.members.get(room.cursor) else {
                // Every member has had its frame of this tick.
                room.mixed = false;
                room.next += 1;
                room.pending -= 1;
                continue;
            };
            room.cursor += 1;
            let at = room.due(room.next);
            let Ok(pcm) = room.mixer.output(participant(slot)) else {
                continue;
            };
            let Some(leg) = legs.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let (Some(member), Some(local)) = (leg.member.as_deref_mut(), leg.local.as_deref_mut())
            else {
                continue;
            };
            let Some(len) = local.write_mixed(at, member.hear(pcm), buf) else {
                // Playing, or no room: this member hears nothing now.
                continue;
            };
            match self.send_to(now, slot, Origin::Local, false, None, buf, len) {
                Ok(forward) => return Some(forward),
                Err(reason) => {
                    self.drop(None, reason);
                }
            }
        }
        None
    }
}

/// The error for a role the mixer refused.
fn refusal(key: LegKey, role: ConferenceRole) -> RelayError {
    match role {
        ConferenceRole::Whisper { target } => RelayError::WhisperTarget(target),
        _ => RelayError::NotInConference(key),
    }
}

#[cfg(test)]
mod tests;
