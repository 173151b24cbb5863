//! A package URL (from the command line, a spec or an SBOM): never a panic, and every accepted
//! name and version stays inside its directory of the published tree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorkit_packages::purl::parse;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(p) = parse(text)
    {
        assert!(
            !p.name
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == ".."),
            "{:?}",
            p.name
        );
        if let Some(v) = &p.version {
            assert!(!v.is_empty() && !v.contains('/') && v != "..", "{v:?}");
        }
    }
});
