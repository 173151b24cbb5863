//! A suite's `Release` and a `Packages` index (upstream input, read before anything is
//! trusted): never a panic, and every path either names stays inside the repository.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorkit_distro::{packages_index, release::Release};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(r) = Release::parse(text)
    {
        for path in r.files.keys() {
            assert!(
                !path.starts_with('/') && !path.split('/').any(|s| s.is_empty() || s == ".."),
                "{path:?}"
            );
        }
    }
    if let Ok(files) = packages_index::read(data) {
        for f in files {
            assert!(
                !f.filename.starts_with('/') && !f.filename.split('/').any(|s| s == ".."),
                "{:?}",
                f.filename
            );
        }
    }
});
