//! Media server functions for the IVR and the queues, on 20 ms frames of
//! 16-bit PCM at 8 kHz (G.711) or 16 kHz (G.722): prompts loaded from
//! WAV files ([`Prompt`]), playback with barge-in and music on hold
//! ([`PromptPlayer`], [`MohPlayer`], [`HoldPlayer`]), named prompts and
//! spoken numbers ([`PromptSet`], [`DEFAULT_PHRASES`], [`EspeakNg`]),
//! call and voicemail recording ([`CallRecorder`], [`VoicemailRecorder`])
//! and conference mixing with supervisor roles ([`Conference`]). The
//! players are [`FrameSource`]s, which the relay plays toward a leg.
//!
//! Like the rest of the crate these are sans-IO: no clock (time is
//! counted in frames, the media's own clock), no socket; the recorders
//! write to any `Write + Seek` the caller gives, and only
//! [`EspeakNg`] starts a process, once, when prompts are generated.

mod default_prompts;
mod error;
mod mixer;
mod player;
mod prompt_set;
mod rate;
mod recorder;
mod resample;
mod source;
mod tone;
mod voicemail;
mod wav;

pub use default_prompts::{EspeakNg, GeneratedPrompts, DEFAULT_PHRASES};
pub use error::{MixerError, PromptError, RecordError, WavError};
pub use mixer::{Conference, ParticipantId, ParticipantRole};
pub use player::{
    HoldPlayer, MohPlayer, PlayEnd, PlayItem, PlayRequestId, PlayerEvent, PromptPlayer,
};
pub use prompt_set::PromptSet;
pub use rate::{MediaRate, FRAME_DURATION};
pub use recorder::{CallRecorder, PauseMode, RecordingSummary, CHECKPOINT_INTERVAL};
pub use source::{FrameSource, FrameStatus};
pub use voicemail::{
    VoicemailConfig, VoicemailEnd, VoicemailRecorder, VoicemailState, VoicemailSummary,
};
pub use wav::{Prompt, MAX_PROMPT_DURATION};
