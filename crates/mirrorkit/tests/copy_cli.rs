//! `mirrorkit copy` between a layout, registries and an archive: every platform, digests preserved.

mod common;

use std::path::Path;

use common::*;
use mirrorkit_testkit::registry::{Registry, sha256_digest, skopeo_inspect_raw};

#[test]
fn copy_preserves_the_index_digest_across_layout_registry_and_archive() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart.yml");
    assert_exit(&run(mirrorkit(dir.path()).arg("sync").arg(&spec)), 0);
    let layout = format!("oci:{}:1.1.0", dir.path().join("oci/hello").display());
    let original = sha256_digest(&skopeo_inspect_raw(&layout, &[]).unwrap());

    let a = Registry::start();
    let b = Registry::start();
    let in_a = format!("docker://{}/tools/hello:1.1.0", a.host());
    let archive = format!(
        "oci-archive:{}:1.1.0",
        dir.path().join("hello.tar").display()
    );
    let in_b = format!("docker://{}/hello@{original}", b.host());
    let insecure = [
        "--insecure-registry",
        &a.host(),
        "--insecure-registry",
        &b.host(),
    ];

    let out = run(mirrorkit(dir.path())
        .args(["copy", &layout, &in_a, "--format", "json"])
        .args(insecure));
    assert_exit(&out, 0);
    let r = report(&out);
    assert_eq!(r["digest"], original);
    assert_eq!(r["manifests"], 3, "an index and two platform manifests");
    assert_eq!(
        sha256_digest(&skopeo_inspect_raw(&in_a, &[]).unwrap()),
        original
    );

    // Again: everything is already there, no blob is sent.
    let out = run(mirrorkit(dir.path())
        .args(["copy", &layout, &in_a, "--format", "json"])
        .args(insecure));
    assert_exit(&out, 0);
    assert_eq!(report(&out)["blobs_copied"], 0);

    for (src, dst) in [(&in_a, &archive), (&archive, &in_b)] {
        let out = run(mirrorkit(dir.path())
            .args(["copy", src, dst])
            .args(insecure));
        assert_exit(&out, 0);
    }
    assert_eq!(
        sha256_digest(&skopeo_inspect_raw(&in_b, &[]).unwrap()),
        original
    );
}

#[test]
fn copy_rejects_bad_references_with_64_and_unreachable_registries_with_69() {
    let dir = tempfile::tempdir().unwrap();
    for (src, dst) in [
        ("nope", "oci:/tmp/x"),
        ("docker://", "oci:/tmp/x"),
        ("oci:/tmp/x:tag", "ftp://x"),
    ] {
        let out = run(mirrorkit(dir.path()).args(["copy", src, dst]));
        assert_exit(&out, 64);
    }
    let out = run(mirrorkit(dir.path()).args([
        "copy",
        "docker://127.0.0.1:1/a:b",
        "oci:out:x",
        "--insecure-registry",
        "127.0.0.1:1",
    ]));
    assert_exit(&out, 69);
}
