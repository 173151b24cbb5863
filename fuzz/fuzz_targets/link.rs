//! A pagination `Link` header from a registry or the GitHub API: never a panic, and the next
//! link, when there is one, is one of the links the header lists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorkit_core::http::link::{next_link, parse_link_header};

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = std::str::from_utf8(data) {
        let links = parse_link_header(value);
        if let Some(next) = next_link(value) {
            assert!(links.iter().any(|(target, _)| *target == next));
        }
    }
});
