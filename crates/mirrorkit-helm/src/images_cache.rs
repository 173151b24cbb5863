//! The images found in a chart archive, kept in the work dir by the archive's digest: a warm run
//! of a chart with `images: true` whose digest upstream names beforehand (`index.yaml`, an OCI
//! chart's layer, a packaged directory) neither downloads the archive nor renders it again.
//!
//! The key holds everything the answer depends on: the archive's digest, `extra_images`, the
//! `helm_template` mode, the helm binary (path, size, mtime) and the version of this discovery
//! code. A result that carries warnings (a render that failed, a reference that did not parse)
//! is not kept, so it is tried again next time.

use std::path::PathBuf;

use mirrorkit_core::digest::Digest;
use mirrorkit_core::source::images::HelmSource;
use serde::{Deserialize, Serialize};

use super::image_ref::Found;
use super::template;

/// Bump when discovery finds different images for the same inputs.
const DISCOVERY_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Entry {
    /// The key, in clear (for people looking at the cache, and to rule out hash collisions).
    key: String,
    /// Normalised reference → where it was found.
    images: Vec<(String, Vec<String>)>,
}

/// The cache directory (`<work-dir>/cache/helm-images`).
pub(crate) struct ImagesCache {
    dir: PathBuf,
}

impl ImagesCache {
    pub(crate) fn new(dir: PathBuf) -> ImagesCache {
        ImagesCache { dir }
    }

    fn key(archive: &Digest, source: &HelmSource) -> String {
        format!(
            "v{DISCOVERY_VERSION} archive={archive} extra={:?} template={:?} helm={}",
            source.extra_images,
            source.helm_template,
            template::helm_identity(source.helm_template),
        )
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir
            .join(format!("{}.json", Digest::sha256_of(key.as_bytes()).hex()))
    }

    /// The images found before in the archive with this digest, if kept.
    pub(crate) async fn load(&self, archive: &Digest, source: &HelmSource) -> Option<Found> {
        let key = Self::key(archive, source);
        let bytes = tokio::fs::read(self.path(&key)).await.ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        if entry.key != key {
            return None;
        }
        let mut found = Found::default();
        for (image, places) in entry.images {
            for place in places {
                found.add(&image, &place);
            }
        }
        // What was kept parsed then; anything that does not now is a damaged entry.
        found.warnings.is_empty().then_some(found)
    }

    /// Keep `found` for the archive with this digest (not when it carries warnings).
    pub(crate) async fn store(&self, archive: &Digest, source: &HelmSource, found: &Found) {
        if !found.warnings.is_empty() {
            return;
        }
        let key = Self::key(archive, source);
        let path = self.path(&key);
        let entry = Entry {
            key,
            images: found
                .images
                .iter()
                .map(|(r, places)| (r.to_string(), places.clone()))
                .collect(),
        };
        let Ok(bytes) = serde_json::to_vec(&entry) else {
            return;
        };
        let written = tokio::task::spawn_blocking(move || {
            mirrorkit_core::fsutil::write_atomically(&path, &bytes)
        })
        .await;
        if !matches!(written, Ok(Ok(()))) {
            tracing::warn!("could not keep the images of a chart in the work dir");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirrorkit_core::source::images::{ChartVersions, HelmRepo, HelmTemplate};

    fn source(extra: &[&str], template: HelmTemplate) -> HelmSource {
        HelmSource {
            repo: HelmRepo::Path("/charts/app".into()),
            chart: None,
            versions: ChartVersions::All,
            images: true,
            extra_images: extra.iter().map(|s| s.to_string()).collect(),
            referrers: true,
            helm_template: template,
        }
    }

    #[tokio::test]
    async fn kept_by_archive_and_everything_else_the_answer_depends_on() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ImagesCache::new(dir.path().join("c"));
        let archive = Digest::sha256_of(b"chart archive");
        let src = source(&["busybox:1.36"], HelmTemplate::Never);
        let mut found = Found::default();
        found.add("redis:7", "values.yaml");
        found.add("busybox:1.36", "extra_images");
        assert!(cache.load(&archive, &src).await.is_none());
        cache.store(&archive, &src, &found).await;
        let hit = cache.load(&archive, &src).await.unwrap();
        assert_eq!(hit.images, found.images);
        // Another archive, other extra images, another template mode: not the same answer.
        assert!(
            cache
                .load(&Digest::sha256_of(b"other"), &src)
                .await
                .is_none()
        );
        assert!(
            cache
                .load(&archive, &source(&[], HelmTemplate::Never))
                .await
                .is_none()
        );
        assert!(
            cache
                .load(&archive, &source(&["busybox:1.36"], HelmTemplate::Always))
                .await
                .is_none()
        );
        // A result with warnings is tried again next time, not kept.
        let other = Digest::sha256_of(b"warned");
        let mut warned = Found::default();
        warned.warnings.push("helm template failed".into());
        cache.store(&other, &src, &warned).await;
        assert!(cache.load(&other, &src).await.is_none());
    }
}
