//! Documents kept with their `ETag` between runs, so that an unchanged one is asked for with
//! `If-None-Match` and comes back as a bodiless 304: a GitHub release list that costs no rate
//! limit, a chart repository's `index.yaml` (tens of MiB for big public repositories) that is
//! not downloaded again.
//!
//! Each entry is two files in the cache directory, named by the SHA-256 of the URL:
//! `<kind>-<hash>.body` (the document as served) and `<kind>-<hash>.json` (its ETag, `Link`
//! header, the redacted URL and the body's SHA-256). Both are written to a temp file and renamed,
//! body first; an entry whose body does not match its recorded hash, or that cannot be read, is
//! ignored (the request then goes out unconditionally). Nothing depends on the cache for
//! correctness: a failure to write it is a warning in the log.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use url::Url;

use super::redact::SafeUrl;
use crate::fsutil::write_atomically;

/// Version of the entry format.
const FORMAT: u32 = 1;

/// A cache of documents of one kind (`github-releases`, `helm-index`) under a directory.
#[derive(Clone, Debug)]
pub struct EtagCache {
    dir: PathBuf,
    kind: &'static str,
}

/// A usable entry.
#[derive(Clone, Debug)]
pub struct Cached {
    /// The validator to send as `If-None-Match`.
    pub etag: String,
    /// The `Link` header of the response (GitHub pagination).
    pub link: Option<String>,
    /// The document as it was served.
    pub body: Vec<u8>,
}

#[derive(Deserialize, Serialize)]
struct Meta {
    format: u32,
    /// The URL (redacted; for people looking at the cache).
    url: String,
    etag: String,
    link: Option<String>,
    body_sha256: String,
}

impl EtagCache {
    /// Entries of `kind` under `dir` (created when the first entry is stored).
    pub fn new(dir: impl Into<PathBuf>, kind: &'static str) -> EtagCache {
        EtagCache {
            dir: dir.into(),
            kind,
        }
    }

    fn paths(&self, url: &Url) -> (PathBuf, PathBuf) {
        let hash = hex::encode(Sha256::digest(url.as_str().as_bytes()));
        let base = format!("{}-{hash}", self.kind);
        (
            self.dir.join(format!("{base}.json")),
            self.dir.join(format!("{base}.body")),
        )
    }

    /// The entry for `url`, if there is an intact one.
    pub async fn load(&self, url: &Url) -> Option<Cached> {
        let (meta_path, body_path) = self.paths(url);
        let meta = tokio::fs::read(&meta_path).await.ok()?;
        let meta: Meta = match serde_json::from_slice(&meta) {
            Ok(m) => m,
            Err(_) => {
                tracing::debug!(path = %meta_path.display(), "cache entry is corrupt, ignoring it");
                return None;
            }
        };
        if meta.format != FORMAT || reqwest::header::HeaderValue::from_str(&meta.etag).is_err() {
            return None;
        }
        let body = tokio::fs::read(&body_path).await.ok()?;
        if hex::encode(Sha256::digest(&body)) != meta.body_sha256 {
            tracing::debug!(path = %body_path.display(), "cached body does not match its hash, ignoring it");
            return None;
        }
        Some(Cached {
            etag: meta.etag,
            link: meta.link,
            body,
        })
    }

    /// Keep `body` with its `etag` for the next run.
    pub async fn store(&self, url: &Url, etag: &str, link: Option<&str>, body: &[u8]) {
        let (meta_path, body_path) = self.paths(url);
        let meta = Meta {
            format: FORMAT,
            url: SafeUrl::new(url).to_string(),
            etag: etag.to_string(),
            link: link.map(str::to_string),
            body_sha256: hex::encode(Sha256::digest(body)),
        };
        let Ok(meta) = serde_json::to_vec(&meta) else {
            return;
        };
        let body = body.to_vec();
        let result = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            write_atomically(&body_path, &body)?;
            write_atomically(&meta_path, &meta)
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(kind = self.kind, error = %e, "could not write the cache"),
            Err(e) => tracing::warn!(kind = self.kind, error = %e, "could not write the cache"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_round_trip_and_a_damaged_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = EtagCache::new(dir.path().join("c"), "helm-index");
        let url = Url::parse("https://user:pw@charts.example.org/index.yaml").unwrap();
        assert!(cache.load(&url).await.is_none());
        cache
            .store(&url, "\"v1\"", Some("<next>"), b"apiVersion: v1\n")
            .await;
        let hit = cache.load(&url).await.unwrap();
        assert_eq!(
            (hit.etag.as_str(), hit.link.as_deref(), hit.body.as_slice()),
            ("\"v1\"", Some("<next>"), &b"apiVersion: v1\n"[..])
        );
        let other = Url::parse("https://charts.example.org/other/index.yaml").unwrap();
        assert!(cache.load(&other).await.is_none());
        // The password never reaches the cache.
        for entry in std::fs::read_dir(dir.path().join("c")).unwrap() {
            let text = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!String::from_utf8_lossy(&text).contains("pw@"));
        }
        // A body changed behind the cache's back is not used.
        let (_, body) = cache.paths(&url);
        std::fs::write(&body, b"apiVersion: v2\n").unwrap();
        assert!(cache.load(&url).await.is_none());
        // Nor is an ETag that cannot be sent as a header.
        cache.store(&url, "bad\nvalue", None, b"x").await;
        assert!(cache.load(&url).await.is_none());
    }
}
