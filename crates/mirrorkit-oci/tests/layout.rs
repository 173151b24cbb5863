//! OCI layouts written through [`Target`] are read by skopeo.

mod common;

use mirrorkit_oci::target::{AnyTarget, Target as _};
use mirrorkit_oci::{Layout, LayoutRoot};
use mirrorkit_testkit::registry::{self as tk, sha256_digest, skopeo_copy, skopeo_inspect_raw};

#[tokio::test]
async fn layout_root_written_through_target_is_copied_by_skopeo() {
    let reg = tk::Registry::start();
    let fixture = tempfile::tempdir().unwrap();
    let index = tk::two_platform_index(fixture.path(), "v1", "layout");
    let root = tempfile::tempdir().unwrap();
    let target = AnyTarget::Layout(LayoutRoot::new(root.path()));
    assert!(target.list_tags("tools/demo").await.unwrap().is_empty());

    common::push_fixture(&target, fixture.path(), &index, "tools/demo", "1.0").await;

    let dir = root.path().join("tools/demo");
    assert_eq!(
        std::fs::read_to_string(dir.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    assert_eq!(
        target.list_tags("tools/demo").await.unwrap(),
        vec!["1.0".to_string()]
    );
    // No temp file is left in the layout.
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let src = format!("oci:{}:1.0", dir.display());
    let raw = skopeo_inspect_raw(&src, &[]).unwrap();
    assert_eq!(sha256_digest(&raw), index);
    skopeo_copy(&src, &reg.docker_ref("from/layout:1.0")).unwrap();
    let served = skopeo_inspect_raw(&reg.docker_ref("from/layout:1.0"), &[]).unwrap();
    assert_eq!(sha256_digest(&served), index);
}

#[tokio::test]
async fn retagging_replaces_the_index_entry() {
    let fixture = tempfile::tempdir().unwrap();
    let first = tk::two_platform_index(fixture.path(), "v1", "one");
    let other = tempfile::tempdir().unwrap();
    let second = tk::two_platform_index(other.path(), "v1", "two");
    let root = tempfile::tempdir().unwrap();
    let target = AnyTarget::Layout(LayoutRoot::new(root.path()));
    common::push_fixture(&target, fixture.path(), &first, "r", "latest").await;
    common::push_fixture(&target, other.path(), &second, "r", "latest").await;
    common::push_fixture(&target, other.path(), &second, "r", "2.0").await;

    let layout = Layout::open(root.path().join("r")).unwrap();
    let mut tags = layout.tags().unwrap();
    tags.sort();
    assert_eq!(tags, vec!["2.0".to_string(), "latest".to_string()]);
    assert_eq!(
        target
            .resolve_tag("r", "latest")
            .await
            .unwrap()
            .map(|d| d.to_string()),
        Some(second)
    );
}

#[tokio::test]
async fn repositories_cannot_leave_the_root() {
    let root = tempfile::tempdir().unwrap();
    let target = AnyTarget::Layout(LayoutRoot::new(root.path().join("inner")));
    for bad in ["../escape", "/abs", "a/../../b", ""] {
        assert!(target.list_tags(bad).await.is_err(), "{bad}");
    }
}

#[tokio::test]
async fn a_manifest_is_refused_when_its_digest_reference_does_not_match() {
    let root = tempfile::tempdir().unwrap();
    let target = AnyTarget::Layout(LayoutRoot::new(root.path()));
    let wrong = mirrorkit_core::digest::Digest::sha256_of(b"other");
    let err = target
        .push_manifest(
            "r",
            &wrong.to_string(),
            "application/vnd.oci.image.manifest.v1+json",
            b"{}",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("digest mismatch"), "{err}");
}

#[tokio::test]
async fn a_tag_whose_manifest_blob_is_gone_reads_as_not_there() {
    let fixture = tempfile::tempdir().unwrap();
    let index = tk::two_platform_index(fixture.path(), "v1", "gone");
    let root = tempfile::tempdir().unwrap();
    let target = AnyTarget::Layout(LayoutRoot::new(root.path()));
    common::push_fixture(&target, fixture.path(), &index, "r", "1.0").await;
    assert!(target.fetch_manifest("r", "1.0").await.unwrap().is_some());
    // A damaged layout: index.json still names the tag, its blob is gone. The publisher must
    // see "not there" (and push it again), not fail.
    let hex = index.trim_start_matches("sha256:");
    std::fs::remove_file(root.path().join("r/blobs/sha256").join(hex)).unwrap();
    assert_eq!(target.fetch_manifest("r", "1.0").await.unwrap(), None);
    assert_eq!(target.fetch_manifest("r", "nope").await.unwrap(), None);
    assert_eq!(
        target.fetch_manifest("never/pushed", "1.0").await.unwrap(),
        None
    );
    assert!(
        !root.path().join("never").exists(),
        "reading creates no layout"
    );
}
