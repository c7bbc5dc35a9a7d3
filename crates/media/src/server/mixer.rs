//! N-party audio mixing for conferences: consultations, three-way calls
//! and supervision of an agent's call.
//!
//! Each participant hears the sum of everyone it may hear except itself
//! (a "mix-minus", so nobody hears their own echo). Sums are taken in
//! i32 and clamped to i16 once, at the output; clamping (rather than
//! scaling every party down) keeps a two- or three-party call at full
//! level, and talk-over loud enough to clip is brief.
//!
//! Supervision follows the usual contact-centre roles: a supervisor who
//! *listens* hears everyone and is heard by nobody; one who *whispers*
//! hears everyone and is heard by the agent alone (coaching); one who
//! *barges* is an ordinary party, heard by all.

use std::fmt;

use super::error::MixerError;
use super::rate::MediaRate;

/// Caller-chosen id of a conference participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(pub u32);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Who hears a participant, and whom it hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantRole {
    /// Heard by all, hears all.
    Normal,
    /// Supervisor listen: heard by nobody, hears all.
    Listen,
    /// Supervisor whisper (coaching): heard by `target` only, hears all.
    Whisper {
        /// The participant (the agent) who hears the whisperer.
        target: ParticipantId,
    },
    /// Supervisor barge: joins the call, heard by all, hears all.
    Barge,
}

impl ParticipantRole {
    /// The participant is in everybody's mix.
    fn heard_by_all(self) -> bool {
        matches!(self, Self::Normal | Self::Barge)
    }
}

#[derive(Debug)]
struct Participant {
    id: ParticipantId,
    role: ParticipantRole,
    input: Vec<i16>,
    has_input: bool,
}

/// Mixes one frame per participant per 20 ms tick.
///
/// Every tick: [`handle_frame`](Self::handle_frame) for each participant
/// that sent audio (one that did not counts as silent), then
/// [`mix`](Self::mix), then [`output`](Self::output) for each
/// participant's frame. Buffers are allocated when a participant joins;
/// mixing allocates nothing.
#[derive(Debug)]
pub struct Conference {
    rate: MediaRate,
    participants: Vec<Participant>,
    /// Output frame of each participant, same order as `participants`.
    outputs: Vec<Vec<i16>>,
    /// Sum of the participants heard by all.
    total: Vec<i32>,
    /// One listener's sum before clamping.
    scratch: Vec<i32>,
}

impl Conference {
    /// An empty conference at `rate`.
    pub fn new(rate: MediaRate) -> Self {
        Self {
            rate,
            participants: Vec::new(),
            outputs: Vec::new(),
            total: vec![0; rate.frame_len()],
            scratch: vec![0; rate.frame_len()],
        }
    }

    /// The rate of the frames.
    pub fn rate(&self) -> MediaRate {
        self.rate
    }

    /// Number of participants.
    pub fn len(&self) -> usize {
        self.participants.len()
    }

    /// Nobody is in the conference.
    pub fn is_empty(&self) -> bool {
        self.participants.is_empty()
    }

    /// Adds a participant.
    pub fn add(&mut self, id: ParticipantId, role: ParticipantRole) -> Result<(), MixerError> {
        if self.index(id).is_ok() {
            return Err(MixerError::DuplicateParticipant(id));
        }
        self.check_role(id, role)?;
        let frame_len = self.rate.frame_len();
        self.participants.push(Participant {
            id,
            role,
            input: vec![0; frame_len],
            has_input: false,
        });
        self.outputs.push(vec![0; frame_len]);
        Ok(())
    }

    /// Removes a participant. Whisperers that targeted it are heard by
    /// nobody until given another role.
    pub fn remove(&mut self, id: ParticipantId) -> Result<(), MixerError> {
        let index = self.index(id)?;
        self.participants.swap_remove(index);
        self.outputs.swap_remove(index);
        Ok(())
    }

    /// Changes a participant's role (e.g. listen -> whisper -> barge).
    pub fn set_role(&mut self, id: ParticipantId, role: ParticipantRole) -> Result<(), MixerError> {
        let index = self.index(id)?;
        self.check_role(id, role)?;
        self.participants[index].role = role;
        Ok(())
    }

    /// A participant's role.
    pub fn role(&self, id: ParticipantId) -> Option<ParticipantRole> {
        self.index(id)
            .ok()
            .map(|index| self.participants[index].role)
    }

    /// Takes a participant's frame for this tick.
    pub fn handle_frame(&mut self, id: ParticipantId, frame: &[i16]) -> Result<(), MixerError> {
        let index = self.index(id)?;
        let participant = &mut self.participants[index];
        if frame.len() != participant.input.len() {
            return Err(MixerError::FrameLength {
                expected: participant.input.len(),
                got: frame.len(),
            });
        }
        participant.input.copy_from_slice(frame);
        participant.has_input = true;
        Ok(())
    }

    /// Mixes this tick's frames into every participant's output, then
    /// forgets the inputs (the next tick starts silent).
    pub fn mix(&mut self) {
        self.total.fill(0);
        for participant in &self.participants {
            if participant.has_input && participant.role.heard_by_all() {
                for (sum, &sample) in self.total.iter_mut().zip(&participant.input) {
                    *sum += i32::from(sample);
                }
            }
        }
        let Self {
            participants,
            outputs,
            total,
            scratch,
            ..
        } = self;
        for (listener, output) in participants.iter().zip(outputs.iter_mut()) {
            scratch.copy_from_slice(total);
            if listener.has_input && listener.role.heard_by_all() {
                for (sum, &sample) in scratch.iter_mut().zip(&listener.input) {
                    *sum -= i32::from(sample);
                }
            }
            let whispered_to = ParticipantRole::Whisper {
                target: listener.id,
            };
            for whisperer in participants.iter() {
                if whisperer.has_input && whisperer.role == whispered_to {
                    for (sum, &sample) in scratch.iter_mut().zip(&whisperer.input) {
                        *sum += i32::from(sample);
                    }
                }
            }
            for (out, &sum) in output.iter_mut().zip(scratch.iter()) {
                // Clamped into the i16 range, so the cast is exact.
                *out = sum.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
            }
        }
        for participant in &mut self.participants {
            participant.has_input = false;
        }
    }

    /// What `id` hears, as of the last [`mix`](Self::mix).
    pub fn output(&self, id: ParticipantId) -> Result<&[i16], MixerError> {
        Ok(&self.outputs[self.index(id)?])
    }

    fn index(&self, id: ParticipantId) -> Result<usize, MixerError> {
        self.participants
            .iter()
            .position(|participant| participant.id == id)
            .ok_or(MixerError::UnknownParticipant(id))
    }

    fn check_role(&self, id: ParticipantId, role: ParticipantRole) -> Result<(), MixerError> {
        match role {
            ParticipantRole::Whisper { target } if target == id || self.index(target).is_err() => {
                Err(MixerError::WhisperTarget(target))
            }
            _ => Ok(()),
        }
    }
}
