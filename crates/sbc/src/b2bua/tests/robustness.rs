//! Damaged messages from the network never panic the B2BUA, and a call
//! after them still works.

use proptest::prelude::*;

use super::*;

/// The INVITE of a basic call with CRLF line ends.
fn invite_wire() -> String {
    let text = carrier_invite("c-fuzz", "");
    let (head, body) = text.split_once("\n\n").unwrap();
    format!(
        "{}\r\nContent-Length: {}\r\n\r\n{body}",
        head.replace('\n', "\r\n"),
        body.len()
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn damaged_invites_and_responses_never_panic(
        at in 0usize..900,
        len in 0usize..60,
        junk in "[ -~\r\n]{0,40}",
        status in 100u16..700,
        from_teams in any::<bool>(),
    ) {
        let mut h = Harness::new();
        let wire = invite_wire();
        let start = at.min(wire.len());
        let end = (start + len).min(wire.len());
        let damaged = format!("{}{junk}{}", &wire[..start], &wire[end..]);
        let source = if from_teams { Harness::teams() } else { Harness::carrier() };
        match Message::parse(Bytes::from(damaged.clone())) {
            Ok(message) => h.b2bua.handle_message(message, source, h.now),
            Err(error) => {
                let _ = response_for_unparsable(damaged.as_bytes(), &error);
            }
        }
        h.pump();
        // Whatever was sent on, answer it with an arbitrary status.
        let sent: Vec<Request> = h
            .out
            .drain(..)
            .filter_map(|o| match o.message {
                Message::Request(r) if r.method == Method::Invite => Some(r),
                _ => None,
            })
            .collect();
        for invite in sent {
            let response = reply(&invite, status, "x", TEAMS_DIALOG, Some(&teams_sdp(1, "sendrecv")));
            h.deliver(response, Harness::teams());
        }
        h.advance(Duration::from_secs(100));
        // A good call still goes through afterwards.
        h.out.clear();
        h.place_call(&carrier_invite("c-after", ""), Harness::carrier());
    }
}
