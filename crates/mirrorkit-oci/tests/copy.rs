//! `copy` between registries, layouts and archives, checked with skopeo.

mod common;

use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_oci::{CopyError, copy_str};
use mirrorkit_testkit::registry::{
    self as tk, sha256_digest, skopeo_copy, skopeo_copy_with, skopeo_inspect_raw,
};

/// A registry holding the two-platform index at `repo:tag` (pushed by skopeo); returns its digest.
fn seeded(reg: &tk::Registry, repo_tag: &str, seed: &str) -> (tempfile::TempDir, String) {
    let fixture = tempfile::tempdir().unwrap();
    let index = tk::two_platform_index(fixture.path(), "v1", seed);
    skopeo_copy(
        &format!("oci:{}:v1", fixture.path().display()),
        &reg.docker_ref(repo_tag),
    )
    .unwrap();
    (fixture, index)
}

#[tokio::test]
async fn docker_to_docker_preserves_the_index_digest_and_second_copy_sends_nothing() {
    let a = tk::Registry::start();
    let b = tk::Registry::start();
    let (_f, index) = seeded(&a, "src/img:v1", "d2d");
    let opts = common::copy_options(&[&a, &b]);

    let report = copy_str(
        &a.docker_ref("src/img:v1"),
        &b.docker_ref("dst/img:v1"),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(report.digest.to_string(), index);
    assert_eq!(report.media_type, "application/vnd.oci.image.index.v1+json");
    assert_eq!(report.manifests, 3);
    assert_eq!(report.blobs_copied, 4, "{report:?}");
    assert!(report.bytes > 0);

    let served = skopeo_inspect_raw(&b.docker_ref("dst/img:v1"), &[]).unwrap();
    assert_eq!(sha256_digest(&served), index);
    // Every platform made it: skopeo can copy the whole index out of the destination.
    let out = tempfile::tempdir().unwrap();
    skopeo_copy(
        &b.docker_ref("dst/img:v1"),
        &format!("oci:{}:v1", out.path().display()),
    )
    .unwrap();

    let again = copy_str(
        &a.docker_ref("src/img:v1"),
        &b.docker_ref("dst/img:v1"),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(again.blobs_copied, 0, "{again:?}");
    assert_eq!(again.blobs_skipped, 4);
    assert_eq!(again.bytes, 0);
    assert_eq!(again.digest.to_string(), index);
}

#[tokio::test]
async fn copy_within_one_registry_mounts_blobs() {
    let a = tk::Registry::start();
    let (_f, index) = seeded(&a, "src/img:v1", "mount");
    let opts = common::copy_options(&[&a]);
    let report = copy_str(
        &a.docker_ref("src/img:v1"),
        &a.docker_ref("other/img:v2"),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(report.blobs_mounted, 4, "{report:?}");
    assert_eq!(report.blobs_copied, 0);
    let served = skopeo_inspect_raw(&a.docker_ref("other/img:v2"), &[]).unwrap();
    assert_eq!(sha256_digest(&served), index);
}

#[tokio::test]
async fn docker_to_layout_is_readable_by_skopeo() {
    let a = tk::Registry::start();
    let (_f, index) = seeded(&a, "src/img:v1", "d2o");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("layout");
    let opts = common::copy_options(&[&a]);
    let report = copy_str(
        &a.docker_ref("src/img:v1"),
        &format!("oci:{}:mirror", dir.display()),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(report.digest.to_string(), index);

    let raw = skopeo_inspect_raw(&format!("oci:{}:mirror", dir.display()), &[]).unwrap();
    assert_eq!(sha256_digest(&raw), index);
    skopeo_copy(
        &format!("oci:{}:mirror", dir.display()),
        &a.docker_ref("back/img:v1"),
    )
    .unwrap();
    let served = skopeo_inspect_raw(&a.docker_ref("back/img:v1"), &[]).unwrap();
    assert_eq!(sha256_digest(&served), index);
}

#[tokio::test]
async fn umoci_layout_to_docker() {
    let a = tk::Registry::start();
    let fixture = tempfile::tempdir().unwrap();
    let dir = fixture.path().join("img");
    tk::umoci_image(&dir, "v1", "arm64", b"hello from umoci\n");
    let expected = skopeo_inspect_raw(&format!("oci:{}:v1", dir.display()), &[]).unwrap();
    let opts = common::copy_options(&[&a]);
    let report = copy_str(
        &format!("oci:{}:v1", dir.display()),
        &a.docker_ref("umoci/img:v1"),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(
        report.media_type,
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(report.manifests, 1);
    assert!(report.blobs_copied >= 2, "{report:?}");
    let served = skopeo_inspect_raw(&a.docker_ref("umoci/img:v1"), &[]).unwrap();
    assert_eq!(served, expected);
    // skopeo can pull it (layers and config are all there and verify).
    let out = tempfile::tempdir().unwrap();
    skopeo_copy(
        &a.docker_ref("umoci/img:v1"),
        &format!("oci:{}:v1", out.path().display()),
    )
    .unwrap();
}

#[tokio::test]
async fn oci_archive_to_docker_and_docker_to_oci_archive() {
    let a = tk::Registry::start();
    let fixture = tempfile::tempdir().unwrap();
    let index = tk::two_platform_index(fixture.path(), "v1", "archive");
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("img.tar");
    skopeo_copy(
        &format!("oci:{}:v1", fixture.path().display()),
        &format!("oci-archive:{}:v1", archive.display()),
    )
    .unwrap();
    let opts = common::copy_options(&[&a]);
    let report = copy_str(
        &format!("oci-archive:{}:v1", archive.display()),
        &a.docker_ref("arch/img:v1"),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(report.digest.to_string(), index);
    let served = skopeo_inspect_raw(&a.docker_ref("arch/img:v1"), &[]).unwrap();
    assert_eq!(sha256_digest(&served), index);

    // And back out into a new archive that skopeo reads.
    let out = tmp.path().join("out.tar");
    copy_str(
        &a.docker_ref("arch/img:v1"),
        &format!("oci-archive:{}:v1", out.display()),
        &opts,
    )
    .await
    .unwrap();
    let raw = skopeo_inspect_raw(&format!("oci-archive:{}:v1", out.display()), &[]).unwrap();
    assert_eq!(sha256_digest(&raw), index);
}

#[tokio::test]
async fn docker_schema2_manifest_list_is_copied_verbatim() {
    let a = tk::Registry::start();
    let b = tk::Registry::start();
    let fixture = tempfile::tempdir().unwrap();
    tk::two_platform_index(fixture.path(), "v1", "v2s2");
    skopeo_copy_with(
        &format!("oci:{}:v1", fixture.path().display()),
        &a.docker_ref("docker/img:v1"),
        &["--format", "v2s2"],
    )
    .unwrap();
    let source = skopeo_inspect_raw(&a.docker_ref("docker/img:v1"), &[]).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&source).unwrap();
    assert_eq!(
        doc["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let opts = common::copy_options(&[&a, &b]);
    let report = copy_str(
        &a.docker_ref("docker/img:v1"),
        &b.docker_ref("docker/img:v1"),
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(
        report.media_type,
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let served = skopeo_inspect_raw(&b.docker_ref("docker/img:v1"), &[]).unwrap();
    assert_eq!(served, source);
    let child = doc["manifests"][0]["digest"].as_str().unwrap();
    let child_src = skopeo_inspect_raw(&a.docker_ref(&format!("docker/img@{child}")), &[]).unwrap();
    let child_dst = skopeo_inspect_raw(&b.docker_ref(&format!("docker/img@{child}")), &[]).unwrap();
    assert_eq!(child_src, child_dst);
}

#[tokio::test]
async fn a_corrupt_layer_stops_the_copy_before_any_tag() {
    let a = tk::Registry::start();
    let fixture = tempfile::tempdir().unwrap();
    let index = tk::two_platform_index(fixture.path(), "v1", "corrupt");
    // Tamper with one layer blob of the source layout.
    let (_, idx) = common::layout_json(fixture.path(), &index);
    let manifest = idx["manifests"][1]["digest"].as_str().unwrap();
    let (_, m) = common::layout_json(fixture.path(), manifest);
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let (path, size, _) = common::layout_blob(fixture.path(), layer);
    std::fs::write(&path, vec![b'x'; size as usize]).unwrap();

    let opts = common::copy_options(&[&a]);
    let err = copy_str(
        &format!("oci:{}:v1", fixture.path().display()),
        &a.docker_ref("bad/img:v1"),
        &opts,
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Data, "{err}");
    assert!(skopeo_inspect_raw(&a.docker_ref("bad/img:v1"), &[]).is_err());
    assert!(skopeo_inspect_raw(&a.docker_ref(&format!("bad/img@{manifest}")), &[]).is_err());
    // The streamed upload held its last chunk back: the registry never got the bad bytes whole.
    let layer: mirrorkit_core::digest::Digest = layer.parse().unwrap();
    assert_eq!(
        common::client(&a)
            .head_blob("bad/img", &layer)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn bad_references_and_missing_images_have_their_exit_codes() {
    let opts = common::copy_options(&[]);
    let err = copy_str("nginx:latest", "oci:/tmp/x", &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, CopyError::Reference(_)));
    assert_eq!(err.exit_code(), ExitCode::Usage);

    let a = tk::Registry::start();
    let out = tempfile::tempdir().unwrap();
    let opts = common::copy_options(&[&a]);
    let err = copy_str(
        &a.docker_ref("no/such:tag"),
        &format!("oci:{}", out.path().display()),
        &opts,
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::ItemFailed, "{err}");

    let err = copy_str(
        &format!("oci:{}/missing:v1", out.path().display()),
        &a.docker_ref("x/y:v1"),
        &opts,
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Io, "{err}");
}
