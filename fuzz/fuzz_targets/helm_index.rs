//! A chart repository's `index.yaml` and a chart's `Chart.yaml`: never a panic; every entry the
//! index parser accepts has a version and only http(s) URLs (an http repository cannot point into
//! the local file system); every accepted chart name is a single path segment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorkit_helm::fuzzing::{chart_yaml, index_entries};

fuzz_target!(|data: &[u8]| {
    let Ok(base) = url::Url::parse("https://charts.example.org/stable/index.yaml") else {
        return;
    };
    if let Ok(entries) = index_entries(data, &base, "app") {
        for (version, urls) in entries {
            assert!(!version.is_empty());
            for u in urls {
                assert!(matches!(u.scheme(), "http" | "https"), "{u}");
            }
        }
    }
    if let Ok((name, version)) = chart_yaml(data) {
        assert!(!name.is_empty() && !version.is_empty());
        assert!(
            !name.contains(['/', '\\']) && name != "." && name != "..",
            "{name:?}"
        );
    }
});
