//! Shared setup for the integration tests: a fast-retrying HTTP client and clients for testkit
//! registries.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use mirrorkit_core::digest::Digest;
use mirrorkit_core::http::credentials::Credentials;
use mirrorkit_core::http::retry::RetryPolicy;
use mirrorkit_core::http::{HttpClient, HttpConfig};
use mirrorkit_oci::target::{AnyTarget, Target};
use mirrorkit_oci::{CopyOptions, Registry};

/// An HTTP client with few, short retries (tests must not wait long on a dead port).
pub(crate) fn http(max_retries: u32) -> HttpClient {
    HttpClient::new(HttpConfig {
        retry: RetryPolicy {
            max_retries,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
        },
        ..HttpConfig::default()
    })
    .unwrap()
}

/// A plain-HTTP client for a testkit registry, without credentials.
pub(crate) fn client(reg: &mirrorkit_testkit::registry::Registry) -> Registry {
    Registry::new(&reg.host(), true, http(2), Credentials::default()).unwrap()
}

/// The registry as a publication target.
pub(crate) fn target(reg: &mirrorkit_testkit::registry::Registry) -> AnyTarget {
    AnyTarget::Registry(std::sync::Arc::new(client(reg)))
}

/// Copy options treating every given registry as insecure (plain HTTP).
pub(crate) fn copy_options(regs: &[&mirrorkit_testkit::registry::Registry]) -> CopyOptions {
    let mut o = CopyOptions::new(http(2), Credentials::default());
    o.insecure_hosts = regs.iter().map(|r| r.host()).collect();
    o
}

/// The blob `digest` of the layout at `dir` (path and size).
pub(crate) fn layout_blob(dir: &Path, digest: &str) -> (std::path::PathBuf, u64, Digest) {
    let d: Digest = digest.parse().unwrap();
    let path = dir.join("blobs/sha256").join(d.hex());
    let size = std::fs::metadata(&path).unwrap().len();
    (path, size, d)
}

/// Read a JSON blob of the layout.
pub(crate) fn layout_json(dir: &Path, digest: &str) -> (Vec<u8>, serde_json::Value) {
    let (path, _, _) = layout_blob(dir, digest);
    let bytes = std::fs::read(path).unwrap();
    let v = serde_json::from_slice(&bytes).unwrap();
    (bytes, v)
}

/// Push the hand-built two-platform index of `dir` into `repo:tag` through [`Target`].
pub(crate) async fn push_fixture(
    target: &impl Target,
    dir: &std::path::Path,
    index: &str,
    repo: &str,
    tag: &str,
) {
    let (index_bytes, index_json) = layout_json(dir, index);
    for m in index_json["manifests"].as_array().unwrap() {
        let digest = m["digest"].as_str().unwrap();
        let (bytes, manifest) = layout_json(dir, digest);
        let mut blobs = vec![manifest["config"]["digest"].as_str().unwrap().to_string()];
        for l in manifest["layers"].as_array().unwrap() {
            blobs.push(l["digest"].as_str().unwrap().to_string());
        }
        for b in blobs {
            let (path, size, d) = layout_blob(dir, &b);
            target.push_blob(repo, &d, size, &path).await.unwrap();
            assert!(target.has_blob(repo, &d).await.unwrap());
        }
        let pushed = target
            .push_manifest(repo, digest, m["mediaType"].as_str().unwrap(), &bytes)
            .await
            .unwrap();
        assert_eq!(pushed.to_string(), digest);
    }
    let d = target
        .push_manifest(
            repo,
            tag,
            "application/vnd.oci.image.index.v1+json",
            &index_bytes,
        )
        .await
        .unwrap();
    assert_eq!(d.to_string(), index);
    // The tag resolves to what was pushed under it.
    assert_eq!(
        target
            .resolve_tag(repo, tag)
            .await
            .unwrap()
            .map(|d| d.to_string()),
        Some(index.to_string())
    );
}
