//! The url_index document parser must never panic, and every release it accepts must have
//! absolute http(s)/file asset URLs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorkit_core::source::url_index::{parse_document, releases};

fuzz_target!(|data: &[u8]| {
    let Ok(base) = url::Url::parse("https://example.org/releases/index.json") else {
        return;
    };
    if let Ok(doc) = parse_document(data, "fuzz") {
        if let Ok(list) = releases(&doc, &base, "fuzz") {
            for release in list {
                for asset in release.assets {
                    assert!(matches!(asset.url.scheme(), "http" | "https" | "file"));
                    assert!(!asset.name.contains('/'));
                }
            }
        }
    }
});
