//! One datagram through the full parse, every typed header, and a
//! serialize/re-parse round trip that must agree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = sip::Message::parse(bytes::Bytes::copy_from_slice(data)) else {
        return;
    };
    let valid = message.validate().is_ok();
    let reparsed = sip::Message::parse(message.to_bytes());
    if valid {
        let reparsed = reparsed.expect("a valid message re-parses after serialization");
        assert_eq!(reparsed, message, "round trip changed the message");
    }
});
