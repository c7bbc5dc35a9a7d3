//! Hold and resume (RFC 3264 §8.4) and versioning of later descriptions
//! (RFC 3264 §8).

use crate::{Direction, Media, Session};

/// Whether the writer of `session` holds this stream: it is active (port
/// not 0) and either marked `sendonly`/`inactive` (directly or by the
/// session-level default) or addressed to `0.0.0.0` (the RFC 2543 way,
/// still to be understood per RFC 3264 §8.4). A stream using ICE is not
/// held by `0.0.0.0`: trickle ICE offers use that address before any
/// candidate is known (RFC 8840 §4.2).
pub fn is_stream_on_hold(session: &Session, media: &Media) -> bool {
    if media.is_rejected() {
        return false;
    }
    let direction = session.direction_of(media);
    let uses_ice =
        media.attribute("ice-ufrag").is_some() || session.attribute("ice-ufrag").is_some();
    matches!(direction, Direction::SendOnly | Direction::Inactive)
        || (!uses_ice
            && session
                .connection_of(media)
                .is_some_and(|c| c.is_unspecified()))
}

/// Whether the description is "held SDP" (RFC 3264 §8.4): it has an
/// active stream and every active stream is on hold.
pub fn is_on_hold(session: &Session) -> bool {
    let mut active = session.media.iter().filter(|m| !m.is_rejected()).peekable();
    active.peek().is_some() && active.all(|m| is_stream_on_hold(session, m))
}

/// A re-offer that puts every active stream on hold, built from our
/// previous description: `sendonly`, or `inactive` when the peer already
/// holds us (it then sends nothing either, RFC 3264 §8.4). The `o=`
/// version is bumped if anything changed.
pub fn hold_offer(previous: &Session, peer_holds: bool) -> Session {
    let direction = if peer_holds {
        Direction::Inactive
    } else {
        Direction::SendOnly
    };
    with_direction(previous, direction)
}

/// A re-offer that takes the streams off hold: `sendrecv`, or `recvonly`
/// while the peer still holds us. The `o=` version is bumped if anything
/// changed.
pub fn resume_offer(previous: &Session, peer_holds: bool) -> Session {
    let direction = if peer_holds {
        Direction::RecvOnly
    } else {
        Direction::SendRecv
    };
    with_direction(previous, direction)
}

fn with_direction(previous: &Session, direction: Direction) -> Session {
    let mut next = previous.clone();
    next.set_direction(None);
    for media in next.media.iter_mut().filter(|m| !m.is_rejected()) {
        media.set_direction(direction);
    }
    reoffer(previous, next)
}

/// Prepares `next` to follow `previous` in the same session (an offer or
/// an answer): same `o=` line, with the version incremented if and only if
/// the description changed (RFC 3264 §8).
pub fn reoffer(previous: &Session, mut next: Session) -> Session {
    next.origin = previous.origin.clone();
    if !previous.same_content(&next) {
        next.bump_version();
    }
    next
}
