//! Property tests: the bundle manifest parser and strict archive extraction take arbitrary and
//! mutated input without panicking, and never write outside their directory.

use mirrorkit_bundle::{BundleError, parse_manifest};
use mirrorkit_oci::archive::extract_reader;
use proptest::prelude::*;

fn valid_archive() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, content) in [
        ("oci-layout", &br#"{"imageLayoutVersion":"1.0.0"}"#[..]),
        ("index.json", &br#"{"schemaVersion":2,"manifests":[]}"#[..]),
        (
            "blobs/sha256/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            &b"hello"[..],
        ),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, content).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn the_valid_archive_extracts_and_its_blob_is_verified() {
    let dest = tempfile::tempdir().unwrap();
    extract_reader(&valid_archive()[..], "t", dest.path(), true).unwrap();
    assert!(dest.path().join("index.json").is_file());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn manifest_parser_never_panics(text in "\\PC{0,300}") {
        let _ = parse_manifest(text.as_bytes(), "t");
    }

    #[test]
    fn newer_formats_are_refused_naming_both_versions(format in 2u32..10_000) {
        let text = format!(r#"{{"format": {format}, "id": "x", "created_by": "m", "items": [], "blobs": []}}"#);
        match parse_manifest(text.as_bytes(), "t") {
            Err(BundleError::Refused(m)) => {
                prop_assert!(m.contains(&format!("format {format}")) && m.contains("format 1"), "{}", m);
            }
            other => prop_assert!(false, "{:?}", other.map(|_| ())),
        }
    }

    /// Flipping bytes anywhere in a valid archive gives an error or a verified extraction, and
    /// nothing lands outside the destination.
    #[test]
    fn mutated_archives_never_panic_or_escape(flips in proptest::collection::vec((0usize..3072, any::<u8>()), 1..8)) {
        let mut bytes = valid_archive();
        for (at, value) in flips {
            let i = at % bytes.len();
            bytes[i] = value;
        }
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("d");
        let _ = extract_reader(&bytes[..], "t", &dest, true);
        let stray: Vec<_> = std::fs::read_dir(outer.path()).unwrap().filter_map(Result::ok)
            .filter(|e| e.file_name() != "d").collect();
        prop_assert!(stray.is_empty(), "{:?}", stray);
        // Any blob that made it is correct.
        if let Ok(rd) = std::fs::read_dir(dest.join("blobs/sha256")) {
            for e in rd.flatten() {
                let content = std::fs::read(e.path()).unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                let digest = mirrorkit_testkit::registry::sha256_digest(&content);
                prop_assert_eq!(&digest[7..], name.as_str());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let dest = tempfile::tempdir().unwrap();
        let _ = extract_reader(&bytes[..], "t", dest.path(), true);
    }
}
