//! The url_index document parser: generated documents parse back to what was generated, and no
//! input makes it panic.

use std::collections::BTreeMap;

use mirrorkit_core::source::url_index::{parse_document, releases};
use proptest::prelude::*;

fn base() -> url::Url {
    url::Url::parse("https://example.org/tool/index.json").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(doc) = parse_document(&bytes, "fuzz") {
            let _ = releases(&doc, &base(), "fuzz");
        }
    }

    #[test]
    fn json_shaped_text_never_panics(text in r#"\{"versions": \{("[0-9a-z.+-]{0,8}": \{("prerelease": (true|false|1), )?"assets": \{("[a-z./]{0,8}": ("[a-z:/.?#]{0,12}"|\{"url": "[a-z:/.]{0,10}"(, "checksum": "[a-z0-9:]{0,12}")?\}),? ?){0,3}\}\},? ?){0,3}\}\}"#) {
        if let Ok(doc) = parse_document(text.as_bytes(), "fuzz") {
            let _ = releases(&doc, &base(), "fuzz");
        }
    }

    #[test]
    fn generated_documents_round_trip(
        versions in proptest::collection::btree_map(
            "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}",
            (any::<bool>(), proptest::collection::btree_map("[a-z][a-z0-9_.-]{0,15}", (any::<bool>(), proptest::option::of("[0-9a-f]{64}")), 1..4)),
            0..6,
        )
    ) {
        let mut doc = serde_json::Map::new();
        for (v, (pre, assets)) in &versions {
            let mut a = serde_json::Map::new();
            for (name, (absolute, checksum)) in assets {
                let url = if *absolute { format!("https://cdn.example.org/{name}") } else { name.clone() };
                let value = match checksum {
                    Some(hex) => serde_json::json!({"url": url, "checksum": format!("sha256:{hex}")}),
                    None => serde_json::json!(url),
                };
                a.insert(name.clone(), value);
            }
            doc.insert(v.clone(), serde_json::json!({"prerelease": pre, "assets": a}));
        }
        let text = serde_json::json!({"versions": doc}).to_string();
        let parsed = parse_document(text.as_bytes(), "gen").unwrap();
        let list = releases(&parsed, &base(), "gen").unwrap();
        let got: BTreeMap<_, _> = list.iter().map(|r| (r.version.clone(), r)).collect();
        prop_assert_eq!(got.len(), versions.len());
        for (v, (pre, assets)) in &versions {
            let r = got[v];
            prop_assert_eq!(r.prerelease, *pre);
            prop_assert_eq!(r.assets.len(), assets.len());
            for asset in &r.assets {
                let (absolute, checksum) = &assets[&asset.name];
                let expected = if *absolute {
                    format!("https://cdn.example.org/{}", asset.name)
                } else {
                    format!("https://example.org/tool/{}", asset.name)
                };
                prop_assert_eq!(asset.url.as_str(), expected.as_str());
                prop_assert_eq!(asset.checksum.as_ref().map(|d| d.hex().to_string()), checksum.clone());
            }
        }
    }
}
