//! `[metrics] listen`: serve's counters for Prometheus, in its text
//! exposition format (version 0.0.4) at `GET /metrics`: calls up, SIP
//! requests refused by reason, Teams proxy failovers, and the media
//! relay's packets (received, relayed, dropped by reason), sockets and
//! recordings.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use media::{DriverCounters, DropReason, MediaDriver};
use sbc::{RejectReason, Stats};

/// What the endpoint reads.
pub(crate) struct Metrics {
    pub(crate) stats: Arc<Stats>,
    pub(crate) relay: Arc<MediaDriver>,
    /// Calls the B2BUA holds, set by its loop.
    pub(crate) calls: AtomicU64,
    /// The contact center's counters, set by the loop.
    pub(crate) center: CenterCounters,
    /// The HTTP API's requests.
    pub(crate) api: Arc<crate::api::ApiCounters>,
    /// The Microsoft Graph presence client's, once started.
    pub(crate) graph: std::sync::OnceLock<Arc<crate::graph::PresenceCounters>>,
}

/// The contact center's counters as the loop last saw them.
#[derive(Debug, Default)]
pub(crate) struct CenterCounters {
    pub(crate) calls: AtomicU64,
    pub(crate) unknown_flow: AtomicU64,
    pub(crate) engine_refused: AtomicU64,
    pub(crate) unsupported: AtomicU64,
    pub(crate) http_failures: AtomicU64,
    pub(crate) log_failures: AtomicU64,
}

impl CenterCounters {
    /// Takes the latest values.
    pub(crate) fn set(
        &self,
        stats: crate::center::CenterStats,
        http_failures: u64,
        log_failures: u64,
    ) {
        self.log_failures.store(log_failures, Ordering::Relaxed);
        self.calls.store(stats.calls, Ordering::Relaxed);
        self.unknown_flow
            .store(stats.unknown_flow, Ordering::Relaxed);
        self.engine_refused
            .store(stats.engine_refused, Ordering::Relaxed);
        self.unsupported.store(stats.unsupported, Ordering::Relaxed);
        self.http_failures.store(http_failures, Ordering::Relaxed);
    }
}

/// Starts answering scrapes on `addr`; returns the bound address.
pub(crate) async fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for metrics on {addr}"))?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "metrics endpoint stopped");
        }
    });
    tracing::info!(%bound, "metrics at /metrics");
    Ok(bound)
}

async fn scrape(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    // The relay's counters come from its shard threads (a round trip
    // each): off the async workers.
    let relay = Arc::clone(&metrics.relay);
    let counters = tokio::task::spawn_blocking(move || relay.counters())
        .await
        .ok()
        .and_then(Result::ok);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(&metrics, counters.as_ref()),
    )
}

/// The exposition text.
fn render(metrics: &Metrics, relay: Option<&DriverCounters>) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    family(
        "switchboard_calls",
        "gauge",
        "Calls the B2BUA holds.",
        &[(String::new(), metrics.calls.load(Ordering::Relaxed))],
    );
    let refused: Vec<(String, u64)> = RejectReason::ALL
        .iter()
        .map(|r| {
            (
                format!("{{reason=\"{}\"}}", r.as_str()),
                metrics.stats.rejected(*r),
            )
        })
        .collect();
    family(
        "switchboard_sip_refused_total",
        "counter",
        "Requests and calls refused, by reason.",
        &refused,
    );
    family(
        "switchboard_teams_proxy_failovers_total",
        "counter",
        "INVITEs retried on the next Teams proxy.",
        &[(String::new(), metrics.stats.proxy_failovers())],
    );
    let center = &metrics.center;
    family(
        "switchboard_contact_center_calls_total",
        "counter",
        "Calls that reached a contact-center flow.",
        &[(String::new(), center.calls.load(Ordering::Relaxed))],
    );
    let problems = [
        ("unknown_flow", &center.unknown_flow),
        ("engine_refused", &center.engine_refused),
        ("unsupported", &center.unsupported),
        ("crm_lookup_failed", &center.http_failures),
        ("event_log_append_failed", &center.log_failures),
    ];
    let problems = labelled(&problems.map(|(what, n)| (what, n.load(Ordering::Relaxed))));
    family(
        "switchboard_contact_center_problems_total",
        "counter",
        "Calls to unknown flows, inputs the ACD refused, actions not supported yet, failed CRM lookups.",
        &problems,
    );
    let api = [
        ("received", &metrics.api.requests),
        ("unauthorized", &metrics.api.unauthorized),
        ("refused", &metrics.api.refused),
    ];
    let api = labelled(&api.map(|(what, n)| (what, n.load(Ordering::Relaxed))));
    family(
        "switchboard_api_requests_total",
        "counter",
        "HTTP API requests: received, refused for a missing or wrong token, refused as impossible.",
        &api,
    );
    if let Some(graph) = metrics.graph.get() {
        for (name, help, value) in graph.samples() {
            family(
                &format!("switchboard_graph_{name}_total"),
                "counter",
                help,
                &[(String::new(), value)],
            );
        }
    }
    let mut key_presses = vec![
        ("info_duplicate", metrics.stats.dtmf_duplicates()),
        ("info_failed", metrics.stats.dtmf_info_failures()),
    ];
    if let Some(relay) = relay {
        key_presses.extend([
            ("converted", relay.relay.dtmf_converted),
            ("undelivered", relay.relay.dtmf_undelivered),
            ("media_duplicate", relay.relay.dtmf_duplicates),
        ]);
    }
    family(
        "switchboard_dtmf_total",
        "counter",
        "Key presses: not sent to an INFO leg that had them in the other form, INFO that failed, \
         converted between RFC 4733, INFO and tones, not delivered, not sent to an RFC 4733 leg that had them as INFO.",
        &labelled(&key_presses),
    );
    let Some(relay) = relay else {
        return out;
    };
    family(
        "switchboard_media_transcoding_total",
        "counter",
        "Transcoding bridges: frames made, input refused, packets put back in order, packets given up as lost.",
        &labelled(&[
            ("frames", relay.relay.frames_transcoded),
            ("errors", relay.relay.transcode_errors),
            ("reordered", relay.relay.transcode_reordered),
            ("lost", relay.relay.transcode_lost),
        ]),
    );
    family(
        "switchboard_conference_frames_total",
        "counter",
        "Conference mixer frames: mixed, members' audio too late for its frame, dropped.",
        &labelled(&[
            ("mixed", relay.relay.conference_frames_mixed),
            ("late", relay.relay.conference_frames_late),
            ("dropped", relay.relay.conference_frames_dropped),
        ]),
    );
    let packets = [
        ("received", relay.relay.received),
        ("forwarded_rtp", relay.relay.forwarded_rtp),
        ("forwarded_rtcp", relay.relay.forwarded_rtcp),
        ("consumed", relay.relay.consumed),
        ("local_rtp", relay.relay.local_rtp),
        ("local_rtcp", relay.relay.local_rtcp),
    ];
    let packets = labelled(&packets);
    family(
        "switchboard_media_packets_total",
        "counter",
        "Media relay packets: received, relayed, taken or sent by switchboard itself.",
        &packets,
    );
    let dropped: Vec<(String, u64)> = DropReason::ALL
        .iter()
        .map(|r| {
            (
                format!("{{reason=\"{}\"}}", snake_case(&format!("{r:?}"))),
                relay.relay.dropped(*r),
            )
        })
        .collect();
    family(
        "switchboard_media_dropped_total",
        "counter",
        "Media packets dropped, by reason (bad input, hijack attempts, floods to unused ports...).",
        &dropped,
    );
    family(
        "switchboard_media_legs",
        "gauge",
        "Call legs anchored on the relay.",
        &[(String::new(), relay.legs)],
    );
    family(
        "switchboard_media_socket_errors_total",
        "counter",
        "Relay sends dropped on a full socket buffer, ICMP port unreachable from a leg's latched source, datagrams too long for an io_uring receive buffer, and other socket errors.",
        &[
            ("{kind=\"send_blocked\"}".to_owned(), relay.send_blocked),
            ("{kind=\"io\"}".to_owned(), relay.io_errors),
            ("{kind=\"peer_refused\"}".to_owned(), relay.peer_refused),
            ("{kind=\"truncated\"}".to_owned(), relay.recv_truncated),
        ],
    );
    family(
        "switchboard_recording_frames_total",
        "counter",
        "20 ms frames written to recordings, and dropped (written as silence).",
        &[
            ("{kind=\"written\"}".to_owned(), relay.recorded_frames),
            (
                "{kind=\"dropped\"}".to_owned(),
                relay.recording_frames_dropped,
            ),
        ],
    );
    out
}

/// Samples labelled `{what="..."}`.
fn labelled(samples: &[(&str, u64)]) -> Vec<(String, u64)> {
    samples
        .iter()
        .map(|(what, n)| (format!("{{what=\"{what}\"}}"), *n))
        .collect()
}

/// `UnknownPort` -> `unknown_port`.
fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_snake_case() {
        assert_eq!(snake_case("UnknownPort"), "unknown_port");
        assert_eq!(snake_case("NotRtp"), "not_rtp");
    }
}
