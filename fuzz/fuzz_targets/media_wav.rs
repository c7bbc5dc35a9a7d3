//! Prompt files an operator drops in the prompt directory: any bytes give
//! a prompt or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::{MediaRate, Prompt};

fuzz_target!(|data: &[u8]| {
    for rate in [MediaRate::Narrowband, MediaRate::Wideband] {
        let _ = Prompt::from_wav(std::io::Cursor::new(data), rate);
    }
});
