//! A media plane that allocates ports as [`PortAllocator`] does and
//! records what the B2BUA told it, for tests that check what reaches the
//! media relay (codecs, DTMF modes, bridges).

use std::sync::Mutex;

use super::*;
use crate::error::MediaError;

/// What the B2BUA asked of the media plane about legs, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LegOp {
    Bridge(LegId, LegId),
    Unbridge(LegId, LegId),
    Release(LegId),
}

#[derive(Default)]
struct Log {
    /// Every `update`: the leg and its streams.
    updates: Vec<(LegId, Vec<StreamMedia>)>,
    ops: Vec<LegOp>,
}

/// The record of a [`RecordedMedia`], kept by the test.
#[derive(Clone, Default)]
pub(super) struct MediaLog(Arc<Mutex<Log>>);

impl MediaLog {
    /// The leg whose peer is at `ip` and its first stream, as last
    /// updated.
    pub(super) fn stream(&self, ip: &str) -> (LegId, StreamMedia) {
        let log = self.0.lock().unwrap();
        log.updates
            .iter()
            .rev()
            .filter_map(|(leg, streams)| Some((*leg, streams.first()?)))
            .find(|(_, s)| s.remote.is_some_and(|r| r.ip().to_string() == ip))
            .map(|(leg, s)| (leg, s.clone()))
            .unwrap_or_else(|| panic!("no update for {ip}: {:?}", log.updates))
    }

    /// The codec the media plane was last told for the leg at `ip`.
    pub(super) fn codec(&self, ip: &str) -> StreamCodec {
        self.stream(ip).1.codec.unwrap()
    }

    /// Every bridge, unbridge and release so far.
    pub(super) fn leg_ops(&self) -> Vec<LegOp> {
        self.0.lock().unwrap().ops.clone()
    }

    /// The last bridge, unbridge or release.
    pub(super) fn last_leg_op(&self) -> Option<LegOp> {
        self.0.lock().unwrap().ops.last().copied()
    }
}

/// A [`PortAllocator`] that writes to a [`MediaLog`].
pub(super) struct RecordedMedia {
    ports: PortAllocator,
    log: MediaLog,
}

impl RecordedMedia {
    fn op(&self, op: LegOp) {
        self.log.0.lock().unwrap().ops.push(op);
    }
}

impl MediaAnchor for RecordedMedia {
    fn allocate(
        &mut self,
        call: CallId,
        leg: LegId,
        stream: usize,
        rtcp_mux: bool,
    ) -> Result<SocketAddr, MediaError> {
        self.ports.allocate(call, leg, stream, rtcp_mux)
    }

    fn update(&mut self, call: CallId, leg: LegId, streams: &[StreamMedia]) {
        let update = (leg, streams.to_vec());
        self.log.0.lock().unwrap().updates.push(update);
        self.ports.update(call, leg, streams);
    }

    fn bridge(&mut self, call: CallId, a: LegId, b: LegId) {
        self.op(LegOp::Bridge(a, b));
        self.ports.bridge(call, a, b);
    }

    fn unbridge(&mut self, call: CallId, a: LegId, b: LegId) {
        self.op(LegOp::Unbridge(a, b));
        self.ports.unbridge(call, a, b);
    }

    fn release(&mut self, call: CallId, leg: LegId) {
        self.op(LegOp::Release(leg));
        self.ports.release(call, leg);
    }
}

impl Harness {
    /// A harness on `config` whose media plane is recorded.
    pub(super) fn recorded(config: &str) -> (Harness, MediaLog) {
        let log = MediaLog::default();
        let media = RecordedMedia {
            ports: test_ports(),
            log: log.clone(),
        };
        let h = Harness::with_media(config, B2buaSettings::default(), Box::new(media));
        (h, log)
    }
}
