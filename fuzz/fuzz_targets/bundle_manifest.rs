//! `mirrorkit-bundle.json` from a bundle that crossed an air gap: never a panic, whatever the
//! bytes; an accepted manifest serialises again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = mirrorkit_bundle::parse_manifest(data, "fuzz") {
        assert!(serde_json::to_vec(&manifest).is_ok());
    }
});
