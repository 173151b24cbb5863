//! The registry client against a real docker-registry (distribution 2.8), checked with skopeo.

mod common;

use bytes::Bytes;
use mirrorkit_core::digest::Digest;
use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::http::credentials::Credentials;
use mirrorkit_oci::registry::upload::UploadStart;
use mirrorkit_oci::target::{AnyTarget, Target as _};
use mirrorkit_oci::{OciError, Registry};
use mirrorkit_testkit::registry::{self as tk, skopeo_inspect_raw};
use std::sync::Arc;

use common::{client, http, layout_json, push_fixture, target};

#[tokio::test]
async fn pushed_index_is_served_byte_for_byte() {
    let reg = tk::Registry::start();
    let fixture = tempfile::tempdir().unwrap();
    let index = tk::two_platform_index(fixture.path(), "v1", "push");
    let client = client(&reg);
    client.ping().await.unwrap();
    let target = target(&reg);

    push_fixture(&target, fixture.path(), &index, "tools/demo", "1.0").await;

    let served = skopeo_inspect_raw(&reg.docker_ref("tools/demo:1.0"), &[]).unwrap();
    let (expected, _) = layout_json(fixture.path(), &index);
    assert_eq!(served, expected);
    assert_eq!(
        target.resolve_tag("tools/demo", "nope").await.unwrap(),
        None
    );
    let raw = client.get_manifest("tools/demo", &index).await.unwrap();
    assert_eq!(raw.bytes, Bytes::from(expected));
    assert_eq!(raw.media_type, "application/vnd.oci.image.index.v1+json");
    // Pushing again is a no-op that still succeeds (HEAD finds every blob).
    push_fixture(&target, fixture.path(), &index, "tools/demo", "1.0").await;
}

#[tokio::test]
async fn cross_repository_mount_and_fallback_to_upload() {
    let reg = tk::Registry::start();
    let client = client(&reg);
    let data = Bytes::from_static(b"a blob to mount");
    let digest = Digest::sha256_of(&data);
    let stream = Box::pin(futures_util::stream::once({
        let d = data.clone();
        async move { Ok(d) }
    }));
    client
        .push_blob_stream("src/repo", &digest, data.len() as u64, stream)
        .await
        .unwrap();

    // 201: mounted, nothing to send.
    let outcome = client
        .start_upload("dst/repo", Some((&digest, "src/repo")))
        .await
        .unwrap();
    assert_eq!(outcome, UploadStart::Mounted);
    assert_eq!(
        client.head_blob("dst/repo", &digest).await.unwrap(),
        Some(data.len() as u64)
    );

    // 202: the source repository lacks the blob, so the registry opens a normal session.
    let other = Bytes::from_static(b"not in src/repo");
    let other_digest = Digest::sha256_of(&other);
    let outcome = client
        .start_upload("dst/repo", Some((&other_digest, "src/repo")))
        .await
        .unwrap();
    let UploadStart::Session(session) = outcome else {
        panic!("expected an upload session, got {outcome:?}");
    };
    let stream = Box::pin(futures_util::stream::once({
        let d = other.clone();
        async move { Ok(d) }
    }));
    client
        .upload(
            "dst/repo",
            session,
            &other_digest,
            other.len() as u64,
            stream,
        )
        .await
        .unwrap();
    assert!(
        client
            .head_blob("dst/repo", &other_digest)
            .await
            .unwrap()
            .is_some()
    );
}

fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0xff) as u8
        })
        .collect()
}

#[tokio::test]
async fn chunked_upload_with_small_chunks_stores_the_exact_bytes() {
    let reg = tk::Registry::start();
    let client = Arc::new(client(&reg).with_chunk_size(64 * 1024));
    let target = AnyTarget::Registry(client.clone());
    let data = pseudo_random(300 * 1024 + 17);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob");
    std::fs::write(&path, &data).unwrap();
    let digest = Digest::sha256_of(&data);

    target
        .push_blob("big/blob", &digest, data.len() as u64, &path)
        .await
        .unwrap();

    // The registry's own storage holds exactly our bytes.
    let stored = reg.blob_dir(digest.hex()).join("data");
    assert_eq!(std::fs::read(stored).unwrap(), data);
    // And it streams back identically.
    let mut stream = client.get_blob("big/blob", &digest).await.unwrap();
    let mut back = Vec::new();
    while let Some(c) = futures_util::StreamExt::next(&mut stream).await {
        back.extend_from_slice(&c.unwrap());
    }
    assert_eq!(back, data);
}

#[tokio::test]
async fn upload_status_reports_what_the_registry_holds() {
    // The resume path reads this after a failed PATCH.
    let reg = tk::Registry::start();
    let client = client(&reg);
    let UploadStart::Session(session) = client.start_upload("r/s", None).await.unwrap() else {
        panic!("expected a session");
    };
    let (held, session) = client.upload_status("r/s", &session).await.unwrap();
    assert_eq!(held, 0);
    let http = reqwest::Client::new();
    let resp = http
        .patch(session.clone())
        .header("Content-Type", "application/octet-stream")
        .body(vec![7u8; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let next = resp
        .url()
        .join(resp.headers()["location"].to_str().unwrap())
        .unwrap();
    let (held, _) = client.upload_status("r/s", &next).await.unwrap();
    assert_eq!(held, 1000);
}

#[tokio::test]
async fn a_blob_that_does_not_match_its_digest_is_not_committed() {
    let reg = tk::Registry::start();
    let client = client(&reg);
    let claimed = Digest::sha256_of(b"the real content");
    let stream = Box::pin(futures_util::stream::once(async {
        Ok(Bytes::from_static(b"tampered content"))
    }));
    let err = client
        .push_blob_stream("r/x", &claimed, 16, stream)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::DigestMismatch { .. }), "{err:?}");
    assert_eq!(err.exit_code(), ExitCode::Data);
    assert_eq!(client.head_blob("r/x", &claimed).await.unwrap(), None);
}

#[tokio::test]
async fn tag_listing_with_more_tags_than_a_page_terminates() {
    let reg = tk::Registry::start();
    let fixture = tempfile::tempdir().unwrap();
    let index = tk::two_platform_index(fixture.path(), "v1", "tags");
    let client = client(&reg);
    push_fixture(&target(&reg), fixture.path(), &index, "many/tags", "t0").await;
    let (bytes, _) = layout_json(fixture.path(), &index);
    for i in 1..130 {
        client
            .put_manifest(
                "many/tags",
                &format!("t{i}"),
                "application/vnd.oci.image.index.v1+json",
                &bytes,
            )
            .await
            .unwrap();
    }
    let mut tags = client.list_tags("many/tags").await.unwrap();
    tags.sort();
    let mut expected: Vec<String> = (0..130).map(|i| format!("t{i}")).collect();
    expected.sort();
    assert_eq!(tags, expected);
    // A repository that does not exist has no tags (404 NAME_UNKNOWN).
    assert!(client.list_tags("no/such/repo").await.unwrap().is_empty());
}

#[tokio::test]
async fn unreachable_registry_is_exit_69() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Registry::new(
        &format!("127.0.0.1:{port}"),
        true,
        http(0),
        Credentials::default(),
    )
    .unwrap();
    let err = client.list_tags("a/b").await.unwrap_err();
    assert!(matches!(err, OciError::Unreachable { .. }), "{err:?}");
    assert_eq!(err.exit_code(), ExitCode::Unavailable);
}

#[tokio::test]
async fn htpasswd_registry_without_credentials_is_denied_77() {
    let reg = tk::Registry::start_with_htpasswd("mirror", "s3cret-pass");
    let client = client(&reg);
    let err = client.ping().await.unwrap_err();
    assert!(matches!(err, OciError::Denied { .. }), "{err:?}");
    let err = client.list_tags("a/b").await.unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::NoPermission);
    assert!(!err.to_string().contains("s3cret-pass"));
}
