//! `mirrorkit-bundle.json` from a bundle that crossed an air gap: never a panic, whatever the
//! bytes; an accepted manifest, written again, reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = mirrorkit_bundle::parse_manifest(data, "fuzz") {
        let again = serde_json::to_vec(&manifest).expect("a manifest serialises");
        let reread = mirrorkit_bundle::parse_manifest(&again, "fuzz again")
            .expect("a written manifest parses");
        assert_eq!(reread, manifest);
    }
});
