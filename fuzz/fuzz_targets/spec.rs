//! The spec parser and validator must never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mirrorkit_core::spec::parse(text, std::path::Path::new("/fuzz/mirror.yml"));
    }
});
