//! One task per TCP or TLS connection: frames messages with
//! [`sip::StreamDecoder`] (RFC 3261 §18.3), answers CRLFCRLF pings with a
//! CRLF pong and pings idle connections we opened (RFC 5626 §3.5.1,
//! §4.4.1), writes queued messages, and closes the connection on a framing
//! error, an oversized message or buffer, an idle timeout, a message that
//! stays incomplete too long, a write that stalls or a missing pong.
//!
//! A message that does not parse goes to the upper layer as
//! [`Unparsable`] once its header block is complete. If its
//! Content-Length can be read ([`resync`]) it is skipped and the
//! connection stays; otherwise the framing is lost and the connection
//! closes, but only after the first message queued after the hand-over
//! (the answer: 400, 513...) was written or [`ANSWER_GRACE`] passed.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sip::{Message, ParseError, StreamDecoder, StreamItem};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::flow::{Inbound, Unparsable};
use crate::registry::ConnectionEnd;
use crate::resync;
use crate::stats::TransportStats;
use crate::transport::Shared;
use crate::via;

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 8 * 1024;
const PING: &[u8] = b"\r\n\r\n";
const PONG: &[u8] = b"\r\n";
/// How long closing (a TLS close_notify) may take.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a connection whose framing is lost stays open for the answer
/// to the message that broke it.
const ANSWER_GRACE: Duration = Duration::from_secs(1);

/// Why a connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseReason {
    PeerClosed,
    IoError,
    FramingError,
    Oversized,
    BufferLimit,
    Idle,
    MessageTimeout,
    WriteTimeout,
    KeepAliveTimeout,
    Local,
}

/// Runs a connection until it closes, then counts why.
pub(crate) async fn run<S>(stream: S, shared: Arc<Shared>, mut end: ConnectionEnd)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = stream;
    let reason = drive(&mut stream, &shared, &mut end).await;
    let stats = &shared.stats;
    TransportStats::bump(&stats.connections_closed);
    TransportStats::bump(match reason {
        CloseReason::PeerClosed => &stats.closed_by_peer,
        CloseReason::IoError => &stats.closed_io_error,
        CloseReason::FramingError => &stats.closed_framing_error,
        CloseReason::Oversized => &stats.closed_oversized,
        CloseReason::BufferLimit => &stats.closed_buffer_limit,
        CloseReason::Idle => &stats.closed_idle,
        CloseReason::MessageTimeout => &stats.closed_message_timeout,
        CloseReason::WriteTimeout => &stats.closed_write_timeout,
        CloseReason::KeepAliveTimeout => &stats.closed_keepalive_timeout,
        CloseReason::Local => &stats.closed_locally,
    });
    tracing::debug!(connection = %end.handle.id, ?reason, "connection closed");
    // Leave the table before the socket goes, so no sender picks it.
    drop(end);
    let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, stream.shutdown()).await;
}

/// Writes all of `bytes` within `limit`, unless the connection is asked
/// to close meanwhile.
async fn write<S>(
    stream: &mut S,
    bytes: &[u8],
    limit: Duration,
    close: &CancellationToken,
) -> Result<(), CloseReason>
where
    S: AsyncWrite + Unpin,
{
    let write = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    tokio::select! {
        biased;
        () = close.cancelled() => Err(CloseReason::Local),
        written = tokio::time::timeout(limit, write) => match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(CloseReason::IoError),
            Err(_) => Err(CloseReason::WriteTimeout),
        },
    }
}

async fn drive<S>(stream: &mut S, shared: &Shared, end: &mut ConnectionEnd) -> CloseReason
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match serve(stream, shared, end).await {
        Ok(never) => match never {},
        Err(reason) => reason,
    }
}

/// Moves bytes until the connection must close; the error is why.
async fn serve<S>(
    stream: &mut S,
    shared: &Shared,
    end: &mut ConnectionEnd,
) -> Result<Infallible, CloseReason>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = &shared.config;
    let stats = &shared.stats;
    let info = Arc::clone(&end.handle.info);
    let keepalive = config.keepalive_interval.filter(|_| info.outbound);
    let mut decoder = StreamDecoder::new(config.limits);
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut last_activity = Instant::now();
    let mut partial_since: Option<Instant> = None;
    let mut ping_sent: Option<Instant> = None;
    // Body bytes of a skipped message (one that did not parse) still to
    // come and be dropped.
    let mut skip: usize = 0;
    loop {
        let mut deadline = last_activity + config.idle_timeout;
        if let Some(since) = partial_since {
            deadline = deadline.min(since + config.message_timeout);
        }
        if let Some(interval) = keepalive {
            deadline = deadline.min(match ping_sent {
                Some(sent) => sent + config.keepalive_timeout,
                None => last_activity + interval,
            });
        }
        buf.reserve(READ_CHUNK);
        tokio::select! {
            biased;
            () = end.close.cancelled() => return Err(CloseReason::Local),
            out = end.rx.recv() => {
                let Some(bytes) = out else { return Err(CloseReason::Local) };
                let result = write(stream, &bytes, config.write_timeout, &end.close).await;
                end.queued.fetch_sub(bytes.len(), Ordering::AcqRel);
                result?;
                TransportStats::bump(&stats.messages_sent);
                last_activity = Instant::now();
            }
            read = stream.read_buf(&mut buf) => {
                match read {
                    Ok(0) => return Err(CloseReason::PeerClosed),
                    Ok(_) => {}
                    Err(_) => return Err(CloseReason::IoError),
                }
                let now = Instant::now();
                last_activity = now;
                let mut completed = false;
                if skip > 0 {
                    let dropped = skip.min(buf.len());
                    let _ = buf.split_to(dropped);
                    skip -= dropped;
                    completed = skip == 0;
                }
                while skip == 0 {
                    match decoder.decode(&mut buf) {
                        Ok(Some(StreamItem::Message(message))) => {
                            completed = true;
                            deliver(message, shared, end).await?;
                        }
                        Ok(Some(StreamItem::KeepAlivePing)) => {
                            completed = true;
                            TransportStats::bump(&stats.pings_received);
                            write(stream, PONG, config.write_timeout, &end.close).await?;
                            TransportStats::bump(&stats.pongs_sent);
                        }
                        Ok(Some(StreamItem::KeepAlivePong)) => {
                            completed = true;
                            TransportStats::bump(&stats.pongs_received);
                            ping_sent = None;
                        }
                        Ok(None) => break,
                        Err(error) => {
                            skip = skip_unparsable(stream, &mut buf, error, shared, end).await?;
                            completed = true;
                        }
                    }
                }
                if buf.len() > config.max_buffered_bytes {
                    return Err(CloseReason::BufferLimit);
                }
                partial_since = match (buf.is_empty() && skip == 0, completed) {
                    (true, _) => None,
                    (false, true) => Some(now),
                    (false, false) => partial_since.or(Some(now)),
                };
            }
            () = tokio::time::sleep_until(deadline) => {
                let now = Instant::now();
                if partial_since.is_some_and(|since| now >= since + config.message_timeout) {
                    return Err(CloseReason::MessageTimeout);
                }
                if ping_sent.is_some_and(|sent| now >= sent + config.keepalive_timeout) {
                    return Err(CloseReason::KeepAliveTimeout);
                }
                if now >= last_activity + config.idle_timeout {
                    return Err(CloseReason::Idle);
                }
                if let Some(interval) = keepalive {
                    if ping_sent.is_none() && now >= last_activity + interval {
                        write(stream, PING, config.write_timeout, &end.close).await?;
                        TransportStats::bump(&stats.pings_sent);
                        ping_sent = Some(now);
                    }
                }
            }
        }
    }
}

/// After the decoder failed with `error` on the message at the front of
/// `buf`: hands its header block to the upper layer and skips the message
/// if its length is known, returning the body bytes still to skip; else
/// gives the answer [`ANSWER_GRACE`] to leave and closes.
async fn skip_unparsable<S>(
    stream: &mut S,
    buf: &mut BytesMut,
    error: ParseError,
    shared: &Shared,
    end: &mut ConnectionEnd,
) -> Result<usize, CloseReason>
where
    S: AsyncWrite + Unpin,
{
    let limit = shared.config.limits.max_message_size;
    let close = match error {
        ParseError::TooLarge { .. } => CloseReason::Oversized,
        _ => CloseReason::FramingError,
    };
    // The decoder reports a bad message once its header block is
    // complete; an oversized one may have none within the limit.
    let Some(head) = resync::head_len(buf).filter(|&len| len <= limit) else {
        return Err(close);
    };
    let total = match close {
        CloseReason::FramingError => {
            resync::message_len(buf.get(..head).unwrap_or_default()).filter(|&len| len <= limit)
        }
        _ => None,
    };
    let Some(total) = total else {
        let bytes = BytesMut::from(buf.get(..head).unwrap_or_default()).freeze();
        if hand_over_unparsable(bytes, error, shared, end).await? {
            await_answer(stream, shared, end).await?;
        }
        return Err(close);
    };
    TransportStats::bump(&shared.stats.malformed_stream_messages);
    let bytes = buf.split_to(total.min(buf.len())).freeze();
    let skip = total - bytes.len();
    hand_over_unparsable(bytes, error, shared, end).await?;
    Ok(skip)
}

/// Hands a message that did not parse to the upper layer, if it wants
/// it (`false` if not); waits while the channel is full.
async fn hand_over_unparsable(
    bytes: Bytes,
    error: ParseError,
    shared: &Shared,
    end: &ConnectionEnd,
) -> Result<bool, CloseReason> {
    let Some(unparsable) = &shared.unparsable else {
        return Ok(false);
    };
    let item = Unparsable {
        bytes,
        error,
        source: end.handle.flow(),
    };
    tokio::select! {
        biased;
        () = end.close.cancelled() => Err(CloseReason::Local),
        sent = unparsable.send(item) => match sent {
            Ok(()) => {
                TransportStats::bump(&shared.stats.unparsable_delivered);
                Ok(true)
            }
            Err(_) => Ok(false),
        },
    }
}

/// Writes the first message queued from now on (the answer to what was
/// just handed over), waiting at most [`ANSWER_GRACE`] for it.
async fn await_answer<S>(
    stream: &mut S,
    shared: &Shared,
    end: &mut ConnectionEnd,
) -> Result<(), CloseReason>
where
    S: AsyncWrite + Unpin,
{
    let out = tokio::select! {
        biased;
        () = end.close.cancelled() => return Err(CloseReason::Local),
        out = end.rx.recv() => out,
        () = tokio::time::sleep(ANSWER_GRACE) => return Ok(()),
    };
    let Some(bytes) = out else {
        return Err(CloseReason::Local);
    };
    let result = write(stream, &bytes, shared.config.write_timeout, &end.close).await;
    end.queued.fetch_sub(bytes.len(), Ordering::AcqRel);
    result?;
    TransportStats::bump(&shared.stats.messages_sent);
    Ok(())
}

/// Hands a message to the upper layer, with its request's top Via
/// stamped and its alias registered; waits while the channel is full.
async fn deliver(
    message: Message,
    shared: &Shared,
    end: &ConnectionEnd,
) -> Result<(), CloseReason> {
    let info = &end.handle.info;
    let message = match message {
        Message::Request(mut request) => {
            if via::stamp_received(&mut request.headers, info.remote).is_err() {
                TransportStats::bump(&shared.stats.bad_via);
                return Ok(());
            }
            let any_sent_by = shared.config.reuse_without_alias;
            if let Some(alias) =
                via::advertised_alias(&request, info.kind, info.remote, any_sent_by)
            {
                shared.registry.add_alias(end.handle.id, info.kind, alias);
            }
            Message::Request(request)
        }
        response => response,
    };
    let inbound = Inbound {
        message,
        source: end.handle.flow(),
    };
    tokio::select! {
        biased;
        () = end.close.cancelled() => Err(CloseReason::Local),
        sent = shared.inbound.send(inbound) => match sent {
            Ok(()) => {
                TransportStats::bump(&shared.stats.messages_received);
                Ok(())
            }
            Err(_) => Err(CloseReason::Local),
        },
    }
}
