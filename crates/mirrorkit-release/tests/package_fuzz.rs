//! Whatever bytes arrive as an "archive", building a layer returns (an error or a layer) and
//! never panics. The bytes are often given a real magic prefix so the walk gets past detection
//! into each decoder.

use mirrorkit_release::ocx::{AssetType, Compression, LayerOptions, build_layer};
use proptest::prelude::*;

const PREFIXES: &[&[u8]] = &[
    b"",
    &[0x1f, 0x8b, 0x08, 0x00],
    b"\xfd7zXZ\x00",
    &[0x28, 0xb5, 0x2f, 0xfd],
    b"BZh9",
    b"PK\x03\x04",
    b"PK\x05\x06",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(
        prefix in 0..PREFIXES.len(),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        strip in 0u32..3,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = PREFIXES[prefix].to_vec();
        bytes.extend_from_slice(&body);
        let asset = dir.path().join("asset");
        std::fs::write(&asset, &bytes).unwrap();
        let opts = LayerOptions {
            asset_type: AssetType::Archive,
            compression: Compression::Gzip,
            strip_components: strip,
            threads: Some(1),
            ..LayerOptions::default()
        };
        let _ = build_layer(&asset, "asset", &opts, dir.path());
    }

    #[test]
    fn random_tar_headers_never_panic(block in proptest::collection::vec(any::<u8>(), 512..1536)) {
        // A block that passes tar detection (ustar magic) but is otherwise random.
        let mut bytes = block;
        bytes[257..262].copy_from_slice(b"ustar");
        let dir = tempfile::tempdir().unwrap();
        let asset = dir.path().join("asset.tar");
        std::fs::write(&asset, &bytes).unwrap();
        let opts = LayerOptions { compression: Compression::Gzip, threads: Some(1), ..LayerOptions::default() };
        let _ = build_layer(&asset, "asset.tar", &opts, dir.path());
    }
}
