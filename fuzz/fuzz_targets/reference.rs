//! Image references given on the command line or found in charts: never a panic, and an
//! accepted reference reads back the same from its own display.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorkit_oci::reference::ImageReference;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(reference) = text.parse::<ImageReference>()
    {
        let again: ImageReference = reference
            .to_string()
            .parse()
            .expect("a reference's display parses");
        assert_eq!(again.to_string(), reference.to_string());
    }
});
