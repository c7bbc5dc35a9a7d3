//! How Graph reaches subscribers: the validation handshake of a new
//! subscription's URLs, and change and lifecycle notifications with
//! retries.
//!
//! Emulated delivery rules: a notification is acknowledged by any 2xx
//! within 3 s; otherwise it is sent again after `notification_retry_ms`,
//! then twice that, and so on for `notification_retries` retries; when
//! all failed and the subscription has a `lifecycleNotificationUrl`, a
//! `missed` lifecycle notification goes there (one attempt), telling the
//! subscriber to resynchronise with GET. Notifications of one
//! subscription leave in order. (Graph itself keeps retrying for up to
//! four hours and may throttle slow endpoints; the emulator keeps it
//! short for tests.)

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::service::Delivery;
use super::stats::StatsCounters;
use super::wire::{form_encode, validation_token};

/// The subscriber must answer the validation request within this.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(10);

/// ... and acknowledge a notification within this.
const NOTIFICATION_TIMEOUT: Duration = Duration::from_secs(3);

/// The largest validation answer read.
const MAX_VALIDATION_ANSWER: usize = 64 * 1024;

/// A delivery queue with nothing to send for this long ends.
const QUEUE_IDLE: Duration = Duration::from_secs(120);

/// Retry policy of change notifications.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub(crate) retries: u32,
    pub(crate) first_delay: Duration,
}

/// POSTs `{url}?validationToken=...` and expects 200, `text/plain`, the
/// decoded token, within 10 s; why not, otherwise.
pub(crate) async fn validate(
    http: &reqwest::Client,
    url: &str,
    request_id: &str,
) -> Result<(), String> {
    let token = validation_token(request_id);
    let separator = if url.contains('?') { '&' } else { '?' };
    let target = format!("{url}{separator}validationToken={}", form_encode(&token));
    let mut response = http
        .post(target)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .timeout(VALIDATION_TIMEOUT)
        .send()
        .await
        .map_err(|error| format!("The endpoint could not be reached: {error}."))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!(
            "The endpoint answered {}, not 200 OK.",
            response.status().as_u16()
        ));
    }
    let plain = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("text/plain")
        });
    if !plain {
        return Err("The answer is not text/plain.".to_owned());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| format!("Reading the answer failed: {error}."))?
    {
        if body.len() + chunk.len() > MAX_VALIDATION_ANSWER {
            return Err("The answer is too long.".to_owned());
        }
        body.extend_from_slice(&chunk);
    }
    if body != token.as_bytes() {
        return Err("The answer is not the validation token.".to_owned());
    }
    Ok(())
}

/// Sends the deliveries of one subscription in order until it has been
/// idle for a while or `shutdown`.
pub(crate) async fn run_queue(
    http: reqwest::Client,
    mut queue: mpsc::UnboundedReceiver<Delivery>,
    policy: RetryPolicy,
    stats: Arc<StatsCounters>,
    shutdown: CancellationToken,
) {
    loop {
        let delivery = tokio::select! {
            () = shutdown.cancelled() => return,
            next = tokio::time::timeout(QUEUE_IDLE, queue.recv()) => match next {
                Ok(Some(delivery)) => delivery,
                Ok(None) | Err(_) => return,
            },
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = deliver(&http, delivery, policy, &stats) => {}
        }
    }
}

async fn deliver(
    http: &reqwest::Client,
    delivery: Delivery,
    policy: RetryPolicy,
    stats: &StatsCounters,
) {
    let mut delay = policy.first_delay;
    for attempt in 0..=policy.retries {
        if attempt > 0 {
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
        if post(http, &delivery.url, &delivery.body).await {
            stats
                .notifications_delivered
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        stats.notification_failures.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            subscription = %delivery.subscription_id,
            attempt,
            "Graph emulator: notification not acknowledged"
        );
    }
    if let Some((url, body)) = &delivery.missed {
        stats.missed_sent.fetch_add(1, Ordering::Relaxed);
        if post(http, url, body).await {
            stats
                .notifications_delivered
                .fetch_add(1, Ordering::Relaxed);
        } else {
            stats.notification_failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One POST; whether a 2xx came back within 3 s.
async fn post(http: &reqwest::Client, url: &str, body: &serde_json::Value) -> bool {
    let sent = http
        .post(url)
        .json(body)
        .timeout(NOTIFICATION_TIMEOUT)
        .send()
        .await;
    matches!(sent, Ok(response) if response.status().is_success())
}
