//! [`Transcoder`]: one direction of a call from one codec to another,
//! sans-IO. Payloads go in with their RTP timestamps
//! ([`Transcoder::handle_payload`]); encoded payloads come out with
//! timestamps on the output codec's clock ([`Transcoder::poll_payload`]).
//!
//! Inside: decode to mono PCM at the input codec's sample rate, resample
//! when the rates differ (streaming sinc, see `resampler.rs`), queue at
//! the output rate, and cut the queue into frames of the output packet
//! time, so 10, 20, 30 or 60 ms packets in give whatever packet time is
//! configured out. Every buffer is allocated in [`Transcoder::new`].
//!
//! Timestamps (RFC 3550 §5.1): the first output timestamp is the first
//! input timestamp scaled to the output clock (8 kHz <-> 48 kHz; G.722
//! counts at 8 kHz, RFC 3551 §4.5.2) and each frame advances it by its
//! length. A gap in the input timestamps of up to 100 ms is lost
//! packets: the decoder conceals it (libopus PLC, silence for G.711 and
//! G.722) so the output stays continuous. A longer gap (silence
//! suppression, DTX, hold) is a new talk spurt: the audio queued before
//! it is padded with silence to a whole frame and sent, the output
//! timestamp jumps by the gap, and the first frame after it has the
//! marker bit (RFC 3551 §4.1). Packets from before the expected timestamp
//! (late, reordered, duplicated) are refused: the transcoder expects the
//! order a jitter buffer gives.

use std::time::Duration;

use super::resampler::StreamResampler;
use super::{AudioDecoder, AudioEncoder, Codec, CodecError, EncoderConfig, MAX_PACKET_DURATION};

/// Longest timestamp gap filled by concealment rather than taken as a
/// new talk spurt.
const MAX_CONCEALED: Duration = Duration::from_millis(100);
/// Audio the output queue holds before it drops the oldest, on top of a
/// frame: enough for the longest packet twice over.
const QUEUE_DURATION: Duration = Duration::from_millis(300);

/// One encoded payload from [`Transcoder::poll_payload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodedFrame {
    /// RTP timestamp on the output codec's clock.
    pub timestamp: u32,
    /// Bytes written to the caller's buffer. Opus with DTX gives
    /// payloads of one or two bytes in silence, which need not be sent
    /// (RFC 7587 §3.1.3).
    pub len: usize,
    /// RTP marker bit: the first frame, and the first after a gap.
    pub marker: bool,
}

/// Mono samples at the output rate waiting to be framed, in a buffer of
/// fixed capacity.
struct PcmQueue {
    buf: Vec<i16>,
    len: usize,
}

impl PcmQueue {
    fn new(capacity: usize) -> Self {
        Self {
            buf: vec![0; capacity],
            len: 0,
        }
    }

    /// Room for `count` more samples, dropping the oldest if need be;
    /// returns how many were dropped.
    fn make_room(&mut self, count: usize) -> usize {
        let count = count.min(self.buf.len());
        let excess = (self.len + count).saturating_sub(self.buf.len());
        if excess > 0 {
            self.pop(excess);
        }
        excess
    }

    fn push(&mut self, samples: impl ExactSizeIterator<Item = i16>) -> usize {
        let dropped = self.make_room(samples.len());
        for sample in samples.take(self.buf.len() - self.len) {
            self.buf[self.len] = sample;
            self.len += 1;
        }
        dropped
    }

    /// Puts `count` zeros before what is queued, as room allows.
    fn push_front_silence(&mut self, count: usize) {
        let count = count.min(self.buf.len() - self.len);
        self.buf.copy_within(..self.len, count);
        self.buf[..count].fill(0);
        self.len += count;
    }

    fn pop(&mut self, count: usize) {
        let count = count.min(self.len);
        self.buf.copy_within(count..self.len, 0);
        self.len -= count;
    }
}

/// A timestamp jump waiting for the frames queued before a gap.
#[derive(Debug, Clone, Copy)]
struct PendingJump {
    frames_before: usize,
    ticks: u32,
}

/// Transcodes one direction of a call: payloads of one codec in,
/// payloads of another (or the same codec re-packetised) out.
///
/// Drive it with [`handle_payload`](Self::handle_payload) for each packet
/// in timestamp order, then drain [`poll_payload`](Self::poll_payload)
/// until it returns `Ok(None)`.
pub struct Transcoder {
    from: Codec,
    to: Codec,
    decoder: Box<dyn AudioDecoder>,
    encoder: Box<dyn AudioEncoder>,
    resampler: Option<StreamResampler>,
    decoded: Vec<i16>,
    queue: PcmQueue,
    frame: Vec<i16>,
    max_concealed: usize,
    next_input: Option<u32>,
    /// The next payload starts a new input stream (another SSRC): its
    /// timestamp says nothing about the distance from `next_input`.
    new_input: bool,
    last_packet_samples: usize,
    next_output: u32,
    marker: bool,
    jump: Option<PendingJump>,
    dropped_samples: u64,
}

impl std::fmt::Debug for Transcoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcoder")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("next_input", &self.next_input)
            .field("next_output", &self.next_output)
            .finish_non_exhaustive()
    }
}

impl Transcoder {
    /// A transcoder from `from` to `to`, encoding with `config` (packet
    /// time and Opus settings).
    pub fn new(from: Codec, to: Codec, config: &EncoderConfig) -> Result<Self, CodecError> {
        let decoder = from.new_decoder()?;
        let encoder = to.new_encoder(config)?;
        let resampler = if from.sample_rate() == to.sample_rate() {
            None
        } else {
            Some(StreamResampler::new(from.sample_rate(), to.sample_rate())?)
        };
        let max_packet = from
            .samples_in(MAX_PACKET_DURATION)
            .ok_or(CodecError::Config(
                "sample rate without whole samples in 120 ms",
            ))?;
        let max_concealed = from.samples_in(MAX_CONCEALED).ok_or(CodecError::Config(
            "sample rate without whole samples in 100 ms",
        ))?;
        let frame_len = encoder.frame_len();
        let queue_len = to.samples_in(QUEUE_DURATION).ok_or(CodecError::Config(
            "sample rate without whole samples in 300 ms",
        ))? + frame_len;
        Ok(Self {
            from,
            to,
            frame: vec![0; frame_len * encoder.channels()],
            decoder,
            encoder,
            resampler,
            decoded: vec![0; max_packet],
            queue: PcmQueue::new(queue_len),
            max_concealed,
            next_input: None,
            new_input: false,
            last_packet_samples: 0,
            next_output: 0,
            marker: true,
            jump: None,
            dropped_samples: 0,
        })
    }

    /// The input codec.
    pub fn from_codec(&self) -> Codec {
        self.from
    }

    /// The output codec.
    pub fn to_codec(&self) -> Codec {
        self.to
    }

    /// Most bytes one output payload takes: the size of the buffer to
    /// give [`poll_payload`](Self::poll_payload).
    pub fn max_payload_len(&self) -> usize {
        self.encoder.max_payload_len()
    }

    /// Samples dropped because output was not drained in time.
    pub fn dropped_samples(&self) -> u64 {
        self.dropped_samples
    }

    /// Whether a whole frame is queued: [`poll_payload`](Self::poll_payload)
    /// gives a payload.
    pub fn has_payload(&self) -> bool {
        self.queue.len >= self.encoder.frame_len()
    }

    /// Where input timestamp `timestamp` falls on the output clock, for
    /// what travels beside the audio (RFC 4733 events, RFC 3389 comfort
    /// noise): the first input is scaled as the first frame's timestamp
    /// is; later ones are placed from the end of the input taken so far,
    /// whose audio follows the frames queued (the resampler's few
    /// samples of delay aside).
    pub(crate) fn output_timestamp(&self, timestamp: u32) -> u32 {
        let (from, to) = (
            i64::from(self.from.clock_rate()),
            i64::from(self.to.clock_rate()),
        );
        let Some(next_input) = self.next_input else {
            // RTP timestamps are modulo 2^32.
            return (i64::from(timestamp) * to / from) as u32;
        };
        let queued = self.to.ticks(self.queue.len);
        let jump = self.jump.map_or(0, |jump| jump.ticks);
        // Queued audio is at most 300 ms and a frame: its ticks fit u32.
        let end = self
            .next_output
            .wrapping_add(queued as u32)
            .wrapping_add(jump);
        if self.new_input {
            // Nothing of the new stream yet: it starts where the output is.
            return end;
        }
        // Serial number arithmetic (RFC 1982): the signed distance.
        let distance = i64::from(timestamp.wrapping_sub(next_input) as i32);
        end.wrapping_add((distance * to / from) as u32)
    }

    /// The input changes to a new stream (RFC 3550 §5.1: another SSRC,
    /// its own random timestamps), such as a carrier moving from early
    /// media to its answer: the next payload is taken whatever its
    /// timestamp, as the start of a talk spurt right after the audio
    /// queued, and the output stream goes on without a jump.
    pub fn restart_input(&mut self) {
        if self.next_input.is_some() {
            self.start_talk_spurt(0);
            self.new_input = true;
        }
    }

    /// Takes one received payload with its RTP timestamp. A malformed
    /// payload or one out of order is refused with an error, and the
    /// stream goes on.
    pub fn handle_payload(&mut self, timestamp: u32, payload: &[u8]) -> Result<(), CodecError> {
        let samples = self.decoder.decoded_len(payload)?;
        if samples > self.decoded.len() {
            return Err(CodecError::PayloadTooLong {
                samples,
                max: self.decoded.len(),
            });
        }
        match self.next_input {
            Some(_) if self.new_input => {}
            None => {
                let scaled = u64::from(timestamp) * u64::from(self.to.clock_rate())
                    / u64::from(self.from.clock_rate());
                // RTP timestamps are modulo 2^32.
                self.next_output = scaled as u32;
            }
            Some(expected) => {
                // Serial number arithmetic (RFC 1982): a negative
                // distance is a packet from the past.
                let distance = timestamp.wrapping_sub(expected) as i32;
                if distance < 0 {
                    return Err(CodecError::OutOfOrder {
                        timestamp,
                        expected,
                    });
                }
                // A non-negative i32 fits u64.
                let gap = self.from.samples_in_ticks(distance as u64);
                let gap = usize::try_from(gap).unwrap_or(usize::MAX);
                if gap > self.max_concealed {
                    self.start_talk_spurt(distance as u32);
                } else if gap > 0 {
                    self.conceal(gap, payload)?;
                }
            }
        }
        let written = self.decoder.decode(payload, &mut self.decoded)?;
        let written = written.min(self.decoded.len());
        self.last_packet_samples = written;
        let ticks = self.from.ticks(written);
        // Ticks of at most 120 ms fit u32.
        let first = self.next_input.is_none();
        self.next_input = Some(timestamp.wrapping_add(ticks as u32));
        self.new_input = false;
        self.feed(written)?;
        if first {
            // The resampler gives its first chunk a few samples short
            // (part of its delay); made up with silence in front, the
            // first packet fills its frames and the output keeps in
            // step with the input instead of a frame behind.
            let expected = written as u64 * u64::from(self.to.sample_rate())
                / u64::from(self.from.sample_rate());
            let expected = usize::try_from(expected).unwrap_or(usize::MAX);
            self.queue
                .push_front_silence(expected.saturating_sub(self.queue.len));
        }
        Ok(())
    }

    /// The next encoded payload, written into `out` (at least
    /// [`max_payload_len`](Self::max_payload_len) bytes), or `None` when
    /// less than a frame is queued.
    pub fn poll_payload(&mut self, out: &mut [u8]) -> Result<Option<EncodedFrame>, CodecError> {
        let frame_len = self.encoder.frame_len();
        if self.queue.len < frame_len {
            return Ok(None);
        }
        let channels = self.encoder.channels();
        for (slot, &sample) in self
            .frame
            .chunks_exact_mut(channels)
            .zip(&self.queue.buf[..frame_len])
        {
            slot.fill(sample);
        }
        self.queue.pop(frame_len);
        if let Some(jump) = &mut self.jump {
            if jump.frames_before == 0 {
                self.next_output = self.next_output.wrapping_add(jump.ticks);
                self.marker = true;
                self.jump = None;
            } else {
                jump.frames_before -= 1;
            }
        }
        let len = self.encoder.encode(&self.frame, out)?;
        let frame = EncodedFrame {
            timestamp: self.next_output,
            len,
            marker: std::mem::take(&mut self.marker),
        };
        // One frame is at most 120 ms of ticks.
        self.next_output = self
            .next_output
            .wrapping_add(self.to.ticks(frame_len) as u32);
        Ok(Some(frame))
    }

    /// Fills `gap` samples of lost input with concealment; the packet
    /// just before `next` comes from `next`'s in-band FEC data where it
    /// has some (Opus, RFC 7587 §4.2).
    fn conceal(&mut self, gap: usize, next: &[u8]) -> Result<(), CodecError> {
        let step = match self.last_packet_samples {
            0 => gap,
            samples => samples,
        };
        let mut remaining = gap;
        while remaining > 0 {
            let count = remaining.min(step).min(self.decoded.len());
            // The packet just before `next` may be in its FEC data
            // (Opus); those before it are concealed.
            let concealed = if count == remaining {
                self.decoder.recover(next, count, &mut self.decoded)
            } else {
                self.decoder.conceal(count, &mut self.decoded)
            };
            if concealed.is_err() {
                // A length libopus cannot conceal (not a multiple of
                // 2.5 ms): silence instead.
                self.decoded[..count].fill(0);
            }
            self.feed(count)?;
            remaining -= count;
        }
        Ok(())
    }

    /// Pads the queue to a whole frame and schedules the timestamp jump
    /// of a `ticks`-long gap in the input.
    fn start_talk_spurt(&mut self, ticks: u32) {
        let frame_len = self.encoder.frame_len();
        let pad = (frame_len - self.queue.len % frame_len) % frame_len;
        self.dropped_samples += self.queue.push(std::iter::repeat_n(0, pad)) as u64;
        let gap_ticks =
            u64::from(ticks) * u64::from(self.to.clock_rate()) / u64::from(self.from.clock_rate());
        let jump = gap_ticks.saturating_sub(self.to.ticks(pad));
        // At most 2^31 input ticks times a clock ratio of at most 6,
        // taken modulo 2^32 like every RTP timestamp.
        let jump = jump as u32;
        let frames_before = self.queue.len / frame_len;
        self.jump = Some(match self.jump {
            Some(earlier) => PendingJump {
                frames_before: earlier.frames_before,
                ticks: earlier.ticks.wrapping_add(jump),
            },
            None => PendingJump {
                frames_before,
                ticks: jump,
            },
        });
    }

    /// Moves `count` decoded samples through the resampler into the
    /// queue.
    fn feed(&mut self, count: usize) -> Result<(), CodecError> {
        let samples = &self.decoded[..count];
        let queue = &mut self.queue;
        let mut dropped = 0;
        match &mut self.resampler {
            None => dropped += queue.push(samples.iter().copied()),
            Some(resampler) => resampler.push(samples, |output| {
                dropped += queue.push(output.iter().map(|&sample| {
                    // Clamped into i16 first.
                    sample
                        .round()
                        .clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
                }));
            })?,
        }
        self.dropped_samples += dropped as u64;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::codec::test_signal::{assert_tones, tones, SPEECH_TONES};

    fn signal(rate: u32, start: usize, len: usize) -> Vec<i16> {
        tones(&SPEECH_TONES, rate, start, len)
    }

    struct Run {
        frames: Vec<EncodedFrame>,
        decoded: Vec<i16>,
    }

    /// Encodes `seconds` of the test signal in `from` packets of
    /// `ptime_in`, transcodes, and decodes the output again.
    fn run(from: Codec, to: Codec, ptime_in: u64, ptime_out: u64, first_timestamp: u32) -> Run {
        let config = EncoderConfig {
            ptime: Duration::from_millis(ptime_out),
            opus: super::super::OpusConfig {
                bitrate: 48_000,
                ..Default::default()
            },
        };
        let mut transcoder = Transcoder::new(from, to, &config).unwrap();
        let source_config = EncoderConfig {
            ptime: Duration::from_millis(ptime_in),
            opus: config.opus.clone(),
        };
        let mut source = from.new_encoder(&source_config).unwrap();
        let mut sink = to.new_decoder().unwrap();
        let input = signal(from.sample_rate(), 0, from.sample_rate() as usize * 2);
        let mut payload = vec![0u8; source.max_payload_len()];
        let mut out = vec![0u8; transcoder.max_payload_len()];
        let mut pcm = vec![0i16; 5760];
        let mut timestamp = first_timestamp;
        let mut run = Run {
            frames: Vec::new(),
            decoded: Vec::new(),
        };
        for frame in input.chunks_exact(source.frame_len()) {
            let len = source.encode(frame, &mut payload).unwrap();
            transcoder
                .handle_payload(timestamp, &payload[..len])
                .unwrap();
            timestamp = timestamp.wrapping_add(from.ticks(frame.len()) as u32);
            while let Some(encoded) = transcoder.poll_payload(&mut out).unwrap() {
                let samples = sink.decode(&out[..encoded.len], &mut pcm).unwrap();
                run.decoded.extend_from_slice(&pcm[..samples]);
                run.frames.push(encoded);
            }
        }
        assert_eq!(transcoder.dropped_samples(), 0);
        run
    }

    /// `decoded` (at `rate` Hz) carries the test signal after its first
    /// 200 ms.
    fn assert_speech(decoded: &[i16], rate: u32, what: &str) {
        assert_tones(decoded, rate, &SPEECH_TONES, rate as usize / 5, 20.0, what);
    }

    fn assert_timestamps(frames: &[EncodedFrame], first: u32, step: u32) {
        assert_eq!(frames[0].timestamp, first);
        assert!(frames[0].marker);
        for pair in frames.windows(2) {
            assert_eq!(pair[1].timestamp, pair[0].timestamp.wrapping_add(step));
            assert!(!pair[1].marker);
        }
    }

    #[test]
    fn pcmu_to_opus_scales_timestamps_and_keeps_the_signal() {
        let run = run(Codec::Pcmu, Codec::Opus, 20, 20, 1000);
        assert_timestamps(&run.frames, 6000, 960);
        // Two seconds in, all but the resampler's partial chunk out.
        assert!(run.frames.len() >= 98, "{} frames", run.frames.len());
        assert_speech(&run.decoded, 48_000, "PCMU -> Opus");
    }

    #[test]
    fn opus_to_pcma_repacketises_20_into_30_ms() {
        let run = run(Codec::Opus, Codec::Pcma, 20, 30, 48_000 * 10);
        assert_timestamps(&run.frames, 80_000, 240);
        assert!(run.frames.iter().all(|frame| frame.len == 240));
        assert_speech(&run.decoded, 8000, "Opus -> PCMA");
    }

    #[test]
    fn g722_to_pcmu_resamples_16_to_8_khz() {
        let run = run(Codec::G722, Codec::Pcmu, 30, 20, u32::MAX - 500);
        // The timestamps wrap around 2^32 on the way.
        assert_timestamps(&run.frames, u32::MAX - 500, 160);
        assert_speech(&run.decoded, 8000, "G.722 -> PCMU");
    }

    #[test]
    fn pcma_to_pcmu_without_resampling_is_near_lossless() {
        let run = run(Codec::Pcma, Codec::Pcmu, 10, 20, 0);
        assert_timestamps(&run.frames, 0, 160);
        assert_eq!(run.frames.len(), 100);
        // Without a resampler nothing is delayed: sample for sample.
        let reference = signal(8000, 0, 16_000);
        let (mut signal_energy, mut noise) = (0.0, 0.0);
        for (&a, &b) in reference.iter().zip(&run.decoded) {
            signal_energy += f64::from(a).powi(2);
            noise += (f64::from(a) - f64::from(b)).powi(2);
        }
        let snr = 10.0 * (signal_energy / noise).log10();
        assert!(snr > 30.0, "SNR {snr:.1} dB");
    }

    fn pcmu_packets(count: usize) -> Vec<[u8; 160]> {
        let pcm = signal(8000, 0, count * 160);
        pcm.chunks_exact(160)
            .map(|chunk| {
                let mut payload = [0u8; 160];
                crate::G711::Mulaw.encode(chunk, &mut payload);
                payload
            })
            .collect()
    }

    fn drain(transcoder: &mut Transcoder) -> Vec<EncodedFrame> {
        let mut out = [0u8; 1500];
        let mut frames = Vec::new();
        while let Some(frame) = transcoder.poll_payload(&mut out).unwrap() {
            frames.push(frame);
        }
        frames
    }

    #[test]
    fn conceals_short_gaps_and_marks_long_ones() {
        let config = EncoderConfig::default();
        let mut transcoder = Transcoder::new(Codec::Pcmu, Codec::Pcma, &config).unwrap();
        let packets = pcmu_packets(30);
        let mut frames = Vec::new();
        for (i, packet) in packets.iter().enumerate() {
            // Packets 5 and 6 are lost (40 ms: concealed); 20..=27 are
            // missing too (160 ms: a new talk spurt).
            if i == 5 || i == 6 || (20..28).contains(&i) {
                continue;
            }
            transcoder.handle_payload(i as u32 * 160, packet).unwrap();
            frames.extend(drain(&mut transcoder));
        }
        let timestamps: Vec<u32> = frames.iter().map(|frame| frame.timestamp).collect();
        let expected: Vec<u32> = (0..20).chain(28..30).map(|i| i * 160).collect();
        assert_eq!(timestamps, expected);
        let markers: Vec<usize> = frames
            .iter()
            .enumerate()
            .filter(|(_, frame)| frame.marker)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(markers, [0, 20]);
    }

    #[test]
    fn a_new_input_stream_goes_on_where_the_output_is() {
        let config = EncoderConfig::default();
        let mut transcoder = Transcoder::new(Codec::Pcmu, Codec::Pcma, &config).unwrap();
        let packets = pcmu_packets(10);
        let mut frames = Vec::new();
        for (i, packet) in packets[..5].iter().enumerate() {
            let timestamp = 1_000_000 + i as u32 * 160;
            transcoder.handle_payload(timestamp, packet).unwrap();
            frames.extend(drain(&mut transcoder));
        }
        // Another SSRC (early media, then the answer), its clock far
        // behind the first one's: taken, not refused as out of order.
        transcoder.restart_input();
        for (i, packet) in packets[5..].iter().enumerate() {
            transcoder
                .handle_payload(7 + i as u32 * 160, packet)
                .unwrap();
            frames.extend(drain(&mut transcoder));
        }
        let timestamps: Vec<u32> = frames.iter().map(|frame| frame.timestamp).collect();
        let expected: Vec<u32> = (0..10).map(|i| 1_000_000 + i * 160).collect();
        assert_eq!(timestamps, expected, "the output goes on without a jump");
        // Without the restart the same packets are refused.
        let mut stale = Transcoder::new(Codec::Pcmu, Codec::Pcma, &config).unwrap();
        stale.handle_payload(1_000_000, &packets[0]).unwrap();
        assert!(matches!(
            stale.handle_payload(7, &packets[1]),
            Err(CodecError::OutOfOrder { .. })
        ));
    }

    /// Opus -> PCMU with the 6th packet lost: the squared error of the
    /// lost 20 ms against the same run without loss, from an encoder
    /// with in-band FEC on or off.
    fn opus_loss_error(fec: bool) -> f64 {
        let config = EncoderConfig {
            ptime: Duration::from_millis(20),
            opus: super::super::OpusConfig {
                fec,
                packet_loss_percent: 20,
                ..Default::default()
            },
        };
        let mut source = Codec::Opus.new_encoder(&config).unwrap();
        let input = signal(48_000, 0, 960 * 10);
        let mut payloads = Vec::new();
        for frame in input.chunks_exact(960) {
            let mut payload = vec![0u8; source.max_payload_len()];
            let len = source.encode(frame, &mut payload).unwrap();
            payload.truncate(len);
            payloads.push(payload);
        }
        let decode_all = |lose: Option<usize>| {
            let mut transcoder = Transcoder::new(Codec::Opus, Codec::Pcmu, &config).unwrap();
            let mut sink = Codec::Pcmu.new_decoder().unwrap();
            let (mut out, mut pcm, mut decoded) = ([0u8; 1500], [0i16; 960], Vec::new());
            for (i, payload) in payloads.iter().enumerate() {
                if Some(i) == lose {
                    continue;
                }
                transcoder.handle_payload(i as u32 * 960, payload).unwrap();
                while let Some(frame) = transcoder.poll_payload(&mut out).unwrap() {
                    let n = sink.decode(&out[..frame.len], &mut pcm).unwrap();
                    decoded.extend_from_slice(&pcm[..n]);
                }
            }
            decoded
        };
        let (whole, lossy) = (decode_all(None), decode_all(Some(5)));
        assert_eq!(whole.len(), lossy.len(), "the loss is filled, not skipped");
        let lost = 5 * 160..6 * 160;
        whole[lost.clone()]
            .iter()
            .zip(&lossy[lost])
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
            .sum()
    }

    #[test]
    fn a_lost_opus_packet_comes_back_from_the_next_ones_fec() {
        let (with_fec, plc_only) = (opus_loss_error(true), opus_loss_error(false));
        assert!(
            with_fec * 4.0 < plc_only,
            "error with FEC {with_fec:.0}, with PLC only {plc_only:.0}"
        );
    }

    #[test]
    fn long_gap_pads_the_partial_frame_before_jumping() {
        // 30 ms in, 20 ms out: after one packet 10 ms stay queued.
        let config = EncoderConfig::default();
        let mut transcoder = Transcoder::new(Codec::Pcmu, Codec::Pcmu, &config).unwrap();
        let payload = [0x55u8; 240];
        transcoder.handle_payload(0, &payload).unwrap();
        let first = drain(&mut transcoder);
        assert_eq!(first.len(), 1);
        // One second later.
        transcoder.handle_payload(8000, &payload).unwrap();
        let second = drain(&mut transcoder);
        let timestamps: Vec<(u32, bool)> = second.iter().map(|f| (f.timestamp, f.marker)).collect();
        // The padded tail of the first packet, then the new spurt at 8000.
        assert_eq!(timestamps, [(160, false), (8000, true)]);
    }

    #[test]
    fn refuses_bad_input_and_carries_on() {
        let config = EncoderConfig::default();
        let mut transcoder = Transcoder::new(Codec::Opus, Codec::Pcmu, &config).unwrap();
        let mut out = [0u8; 1500];
        assert_eq!(
            transcoder.handle_payload(0, &[]),
            Err(CodecError::EmptyPayload)
        );
        assert!(transcoder.handle_payload(0, &[0xff, 0xff, 0xff]).is_err());
        let mut encoder = Codec::Opus.new_encoder(&config).unwrap();
        let mut payload = [0u8; 1500];
        let len = encoder
            .encode(&signal(48_000, 0, 960), &mut payload)
            .unwrap();
        transcoder.handle_payload(960, &payload[..len]).unwrap();
        assert!(matches!(
            transcoder.handle_payload(0, &payload[..len]),
            Err(CodecError::OutOfOrder { .. })
        ));
        transcoder.handle_payload(1920, &payload[..len]).unwrap();
        transcoder.handle_payload(2880, &payload[..len]).unwrap();
        // A buffer too small for the frame is an error, the next call
        // goes on with the next frame.
        assert!(transcoder.poll_payload(&mut out[..10]).is_err());
        assert!(transcoder.poll_payload(&mut out).unwrap().is_some());
    }

    #[test]
    fn refuses_comfort_noise_as_a_codec() {
        let cn = Codec::ComfortNoise { clock_rate: 8000 };
        let config = EncoderConfig::default();
        assert_eq!(
            Transcoder::new(cn, Codec::Pcmu, &config).err(),
            Some(CodecError::NotAudio("CN"))
        );
    }
}
