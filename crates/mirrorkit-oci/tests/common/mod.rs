//! Shared setup for the integration tests: a fast-retrying HTTP client and clients for testkit
//! registries.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use mirrorkit_core::digest::Digest;
use mirrorkit_core::http::credentials::Credentials;
use mirrorkit_core::http::retry::RetryPolicy;
use mirrorkit_core::http::{HttpClient, HttpConfig};
use mirrorkit_oci::{CopyOptions, Registry};

/// An HTTP client with few, short retries (tests must not wait long on a dead port).
pub fn http(max_retries: u32) -> HttpClient {
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
pub fn client(reg: &mirrorkit_testkit::registry::Registry) -> Registry {
    Registry::new(&reg.host(), true, http(2), Credentials::default()).unwrap()
}

/// Copy options treating every given registry as insecure (plain HTTP).
pub fn copy_options(regs: &[&mirrorkit_testkit::registry::Registry]) -> CopyOptions {
    let mut o = CopyOptions::new(http(2), Credentials::default());
    o.insecure_hosts = regs.iter().map(|r| r.host()).collect();
    o
}

/// The blob `digest` of the layout at `dir` (path and size).
pub fn layout_blob(dir: &Path, digest: &str) -> (std::path::PathBuf, u64, Digest) {
    let d: Digest = digest.parse().unwrap();
    let path = dir.join("blobs/sha256").join(d.hex());
    let size = std::fs::metadata(&path).unwrap().len();
    (path, size, d)
}

/// Read a JSON blob of the layout.
pub fn layout_json(dir: &Path, digest: &str) -> (Vec<u8>, serde_json::Value) {
    let (path, _, _) = layout_blob(dir, digest);
    let bytes = std::fs::read(path).unwrap();
    let v = serde_json::from_slice(&bytes).unwrap();
    (bytes, v)
}
