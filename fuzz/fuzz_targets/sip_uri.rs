//! URI parsing and, for a URI that parses, a Display round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uri) = sip::Uri::parse(text) {
        let again = sip::Uri::parse(&uri.to_string()).expect("a displayed URI parses");
        assert_eq!(again.to_string(), uri.to_string());
    }
});
