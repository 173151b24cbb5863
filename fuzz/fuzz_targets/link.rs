//! A pagination `Link` header from a registry or the GitHub API: never a panic, and every link
//! it yields is text of the header (nothing made up) that stops before its closing `>`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorkit_core::http::link::parse_link_header;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = std::str::from_utf8(data) {
        for (target, _) in parse_link_header(value) {
            assert!(!target.contains('>'), "{target:?}");
            assert!(
                value.contains(target.as_str()),
                "{target:?} not in {value:?}"
            );
        }
    }
});
