//! `mirrorkit copy` between a layout, registries and an archive: every platform, digests preserved.

mod common;
#[path = "support/oci_fixtures.rs"]
mod oci_fixtures;

use std::path::Path;

use common::*;
use mirrorkit_testkit::registry::{
    Registry, sha256_digest, skopeo_copy, skopeo_inspect_raw, two_platform_index,
};
use oci_fixtures::{OCI_INDEX, attach_referrers};

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
    let insecure = insecure_flags(&[&a, &b]);

    let out = run(mirrorkit(dir.path())
        .args(["copy", &layout, &in_a, "--format", "json"])
        .args(&insecure));
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
        .args(&insecure));
    assert_exit(&out, 0);
    assert_eq!(report(&out)["blobs_copied"], 0);

    for (src, dst) in [(&in_a, &archive), (&archive, &in_b)] {
        let out = run(mirrorkit(dir.path())
            .args(["copy", src, dst])
            .args(&insecure));
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

#[test]
fn copy_platform_keeps_a_subset_and_referrers_come_along_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let a = Registry::start();
    let b = Registry::start();
    let layout = dir.path().join("fixture");
    let index = two_platform_index(&layout, "v1", "copy-cli");
    skopeo_copy(
        &format!("oci:{}:v1", layout.display()),
        &a.docker_ref("team/app:1.0"),
    )
    .unwrap();
    let size = skopeo_inspect_raw(&a.docker_ref("team/app:1.0"), &[])
        .unwrap()
        .len();
    let (artifact, signature) =
        attach_referrers(&a, dir.path(), "team/app", (&index, OCI_INDEX, size), "cli");
    let insecure = insecure_flags(&[&a, &b]);

    // One platform: a new index holding it, the report names both digests.
    let out = run(mirrorkit(dir.path())
        .args([
            "copy",
            &a.docker_ref("team/app:1.0"),
            &b.docker_ref("arm/app:1.0"),
        ])
        .args(["--platform", "linux/arm64", "--format", "json"])
        .args(&insecure));
    assert_exit(&out, 0);
    let r = report(&out);
    assert_eq!(r["source_digest"], index);
    let raw = skopeo_inspect_raw(&b.docker_ref("arm/app:1.0"), &[]).unwrap();
    assert_eq!(r["digest"], sha256_digest(&raw));
    let doc: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let kept: Vec<&str> = doc["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(kept, ["arm64"]);
    assert!(r.get("referrers").is_none(), "no --referrers, no referrers");

    // Both platforms and --referrers: the same digest, the signature and SBOM too.
    let out = run(mirrorkit(dir.path())
        .args([
            "copy",
            &a.docker_ref("team/app:1.0"),
            &b.docker_ref("all/app:1.0"),
        ])
        .args(["--platform", "linux/arm64", "--platform", "linux/amd64"])
        .args(["--referrers", "--format", "json"])
        .args(&insecure));
    assert_exit(&out, 0);
    let r = report(&out);
    assert_eq!(r["digest"], index);
    assert!(r.get("source_digest").is_none());
    let referrers = r["referrers"].to_string();
    assert!(
        referrers.contains(&artifact) && referrers.contains(&signature),
        "{referrers}"
    );
    let hex = &index["sha256:".len()..];
    for tag in [format!("sha256-{hex}"), format!("sha256-{hex}.sig")] {
        assert_eq!(
            sha256_digest(
                &skopeo_inspect_raw(&b.docker_ref(&format!("all/app:{tag}")), &[]).unwrap()
            ),
            sha256_digest(
                &skopeo_inspect_raw(&a.docker_ref(&format!("team/app:{tag}")), &[]).unwrap()
            ),
            "{tag}"
        );
    }

    // A platform the image does not have: nothing copied, exit 1; a malformed one: 64.
    let out = run(mirrorkit(dir.path())
        .args([
            "copy",
            &a.docker_ref("team/app:1.0"),
            &b.docker_ref("none/app:1.0"),
        ])
        .args(["--platform", "linux/s390x"])
        .args(&insecure));
    assert_exit(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("linux/s390x"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(mirrorkit(dir.path())
        .args(["copy", &a.docker_ref("team/app:1.0"), "oci:x:y"])
        .args(["--platform", "Linux"]));
    assert_exit(&out, 64);
}
