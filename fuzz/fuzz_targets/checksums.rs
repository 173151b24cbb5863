//! A checksums file (`sha256sum` format) from upstream: never a panic, and every digest it
//! yields is well formed for a file name without a path.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(map) = mirrorkit_release::checksums::parse_checksums(text)
    {
        for (name, digest) in map {
            assert!(!name.is_empty() && !name.contains('/'));
            assert_eq!(
                digest
                    .to_string()
                    .parse::<mirrorkit_core::digest::Digest>()
                    .ok(),
                Some(digest)
            );
        }
    }
});
