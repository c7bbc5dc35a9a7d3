//! SDP parsing and, for a session that parses, a serialize round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(session) = sdp::Session::parse(data) {
        let again = sdp::Session::parse(&session.to_bytes()).expect("serialized SDP parses");
        assert_eq!(again, session);
    }
});
