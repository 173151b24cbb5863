//! An SBOM of any supported format (CycloneDX JSON/XML, SPDX JSON/tag-value): never a panic, and
//! the subject is never among the packages to mirror.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorkit_packages::sbom::parse;

fuzz_target!(|data: &[u8]| {
    if let Ok(sbom) = parse(data)
        && let Some(subject) = &sbom.subject
    {
        assert!(!sbom.packages.iter().any(|f| &f.purl == subject));
    }
});
