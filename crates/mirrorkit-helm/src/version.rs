//! One chart version, from what the target holds to the report: fetch and verify the archive
//! when something needs it, read its metadata and images, push the chart unless the tag already
//! holds it, mirror the images, and decide the version's outcome.

use std::path::PathBuf;

use futures_util::StreamExt as _;
use mirrorkit_core::digest::Digest;
use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::http::redact::SafeUrl;
use mirrorkit_core::report::{ChartImage, Status, VersionReport};
use mirrorkit_core::source::images::HelmRepo;
use mirrorkit_oci::OciError;
use url::Url;

use super::artifact::{self, Blob};
use super::chart::{self, ArchiveError, ChartArchive};
use super::discover;
use super::image_copy::helm_referrers;
use super::image_ref::{Found, ImageRef};
use super::images_cache::ImagesCache;
use super::repo::{self, IndexEntry};
use super::{ChartSource, Fatal, IMAGE_CONCURRENCY, Run, failed, image_copy, oci_repo};

impl Run<'_> {
    /// Fill `v` for one version. A returned [`Fatal`] fails the whole mirror.
    pub(super) async fn version(
        &mut self,
        v: &mut VersionReport,
        tag: &str,
        source: ChartSource,
    ) -> Option<Fatal> {
        let ctx = self.ctx;
        let repository = self.mirror.repository.clone();
        let chart_name = match &source {
            ChartSource::Packaged(p) => p.meta.name.clone(),
            _ => self.chart_name().to_string(),
        };
        if let ChartSource::Index(e) = &source {
            if let Some(problem) = &e.problem {
                *v = failed(v.clone(), problem.clone());
                return None;
            }
            if e.digest.is_none() {
                if self.mirror.verify.require {
                    *v = failed(
                        v.clone(),
                        "index.yaml gives no digest for this version, so the archive cannot be verified (set `verify: {require: false}` to mirror it unverified)",
                    );
                    return None;
                }
                v.warnings
                    .push("index.yaml gives no digest: the archive is not verified".into());
            }
        }
        // 1. What the target's tag holds.
        let existing = match artifact::existing(self.target, &repository, tag).await {
            Ok(e) => e,
            Err(e) => {
                *v = failed(v.clone(), format!("reading the target: {e}"));
                return None;
            }
        };
        let mut present = match (&existing, &source) {
            (Some(ex), ChartSource::Oci(o)) => ex.digest == o.manifest_digest,
            (Some(ex), s) => {
                s.expected_archive().is_some() && ex.chart_layer.as_ref() == s.expected_archive()
            }
            (None, _) => false,
        };
        let discover = self.source.images && !self.parts.skip_images;
        let push_chart = !self.parts.skip_charts && !present;
        // The images found in this very archive before, when upstream names its digest.
        let cache = ctx
            .cache_dir
            .map(|d| ImagesCache::new(d.join("helm-images")));
        let mut known_images = None;
        if let (true, Some(cache), Some(digest)) = (discover, &cache, source.expected_archive()) {
            known_images = cache.load(digest, self.source).await;
        }
        // 2. The archive, when something needs it: its images (a dry run lists them too) unless
        // they are known, or a push (a dry run only reads a local one).
        let need_archive = (discover && known_images.is_none())
            || (push_chart && (!ctx.dry_run || matches!(source, ChartSource::Packaged(_))));
        let mut archive_blob = None;
        let mut chart = None;
        if need_archive {
            let blob = match self.fetch_archive(&source, &chart_name, v).await {
                Ok(b) => b,
                Err(reason) => {
                    *v = failed(v.clone(), reason);
                    return None;
                }
            };
            let path = blob.path.clone();
            let read = tokio::task::spawn_blocking(move || chart::read_archive(&path)).await;
            let where_ = self.archive_location(&source);
            let archive = match read {
                Ok(Ok(a)) => a,
                Ok(Err(ArchiveError::Metadata(e))) => {
                    return Some(Fatal::new(ExitCode::Data, format!("{where_}: {e}")));
                }
                Ok(Err(ArchiveError::Archive(e))) => {
                    *v = failed(v.clone(), format!("{where_}: {e}"));
                    return None;
                }
                Err(e) => {
                    *v = failed(v.clone(), format!("reading the chart failed: {e}"));
                    return None;
                }
            };
            if archive.meta.name != chart_name || archive.meta.version != v.version {
                *v = failed(
                    v.clone(),
                    format!(
                        "{where_}: its Chart.yaml is {} {}, expected {chart_name} {}",
                        archive.meta.name, archive.meta.version, v.version
                    ),
                );
                return None;
            }
            if let (Some(ex), false) = (&existing, present) {
                present = ex.chart_layer.as_ref() == Some(&blob.digest)
                    && !matches!(source, ChartSource::Oci(_));
            }
            archive_blob = Some(blob);
            chart = Some(archive);
        }
        // Without a digest from upstream and without the archive (a dry run), what the tag
        // holds cannot be compared: a real run decides.
        if existing.is_some() && !present && source.expected_archive().is_none() && chart.is_none()
        {
            present = true;
        }
        // A tag holding something else is never overwritten.
        if let (Some(ex), false, false) = (&existing, present, self.parts.skip_charts) {
            *v = failed(
                v.clone(),
                format!(
                    "tag {tag} of {repository} already holds a different manifest ({}); not overwritten",
                    ex.digest
                ),
            );
            return None;
        }
        // 3. The images.
        let mut images: Vec<(ImageRef, Vec<String>)> = Vec::new();
        if !self.parts.skip_images {
            let found = match (known_images, &chart, &archive_blob, discover) {
                (Some(known), _, _, true) => Ok(known),
                (None, Some(c), Some(blob), true) => {
                    let found = discover::chart_images(c, &blob.path, self.source).await;
                    if let (Ok(found), Some(cache)) = (&found, &cache) {
                        cache.store(&blob.digest, self.source, found).await;
                    }
                    found
                }
                _ => Ok(extra_only(&self.source.extra_images)),
            };
            match found {
                Ok(found) => {
                    v.warnings.extend(found.warnings);
                    images = found.images.into_iter().collect();
                }
                Err(e) => {
                    let where_ = self.archive_location(&source);
                    *v = failed(v.clone(), format!("{where_}: {e}"));
                    return None;
                }
            }
        }
        // 4. The chart.
        let mut chart_status = None;
        if !self.parts.skip_charts {
            if present {
                chart_status = Some(Status::Skipped);
                v.index_digest = existing.as_ref().map(|e| e.digest.clone());
            } else if ctx.dry_run {
                chart_status = Some(Status::Planned);
            } else {
                match self
                    .push_chart(&source, archive_blob.as_ref(), chart.as_ref(), tag)
                    .await
                {
                    Ok(digest) => {
                        chart_status = Some(Status::Pushed);
                        v.index_digest = Some(digest);
                        v.tags_written.push(tag.to_string());
                    }
                    Err(reason) => {
                        *v = failed(v.clone(), reason);
                        v.images = images
                            .into_iter()
                            .map(|(r, found_in)| ChartImage {
                                image: r.to_string(),
                                target: image_copy::report_target(&r, self.mirror),
                                found_in,
                                status: Status::Excluded,
                                reason: Some("the chart failed".into()),
                            })
                            .collect();
                        return None;
                    }
                }
            }
        } else if let Some(ex) = &existing {
            v.index_digest = Some(ex.digest.clone());
        }
        // 5. Mirror the images.
        v.images = self.mirror_images(images).await;
        // 6. The version's outcome.
        let failures: Vec<String> = v
            .images
            .iter()
            .filter(|i| i.status == Status::Failed)
            .map(|i| format!("{}: {}", i.image, i.reason.as_deref().unwrap_or("failed")))
            .collect();
        let statuses: Vec<Status> = chart_status
            .into_iter()
            .chain(v.images.iter().map(|i| i.status))
            .collect();
        if !failures.is_empty() {
            v.status = Status::Failed;
            v.reason = Some(format!(
                "{} of {} image(s) failed: {}",
                failures.len(),
                v.images.len(),
                failures.join("; ")
            ));
        } else if statuses.contains(&Status::Planned) {
            v.status = Status::Planned;
        } else if statuses.contains(&Status::Pushed) {
            v.status = Status::Pushed;
        } else {
            v.status = Status::Skipped;
        }
        None
    }

    /// Where a version's archive came from, for messages.
    fn archive_location(&self, source: &ChartSource) -> String {
        match source {
            ChartSource::Index(e) => e
                .urls
                .first()
                .map(|u| SafeUrl::new(u).to_string())
                .unwrap_or_default(),
            ChartSource::Packaged(p) => match &self.source.repo {
                HelmRepo::Path(dir) => dir.display().to_string(),
                _ => p.path.display().to_string(),
            },
            ChartSource::Oci(o) => format!("{}/{}:{}", o.registry.host(), o.repository, o.tag),
        }
    }

    /// The version's archive as a verified local file.
    async fn fetch_archive(
        &self,
        source: &ChartSource,
        chart_name: &str,
        v: &VersionReport,
    ) -> Result<Blob, String> {
        let dest = self.temp.join(format!("{chart_name}-{}.tgz", v.tag));
        match source {
            ChartSource::Packaged(p) => Ok(Blob {
                path: p.path.clone(),
                digest: p.digest.clone(),
                size: p.size,
            }),
            ChartSource::Oci(o) => oci_repo::fetch_layer(o, &dest).await,
            ChartSource::Index(e) => {
                let url = e.urls.first().ok_or("index.yaml lists no URL for it")?;
                let (digest, size) = repo::download(
                    self.ctx.http,
                    &self.repo_auth,
                    url,
                    &dest,
                    chart::MAX_CHART_BYTES,
                )
                .await
                .map_err(|e| e.message)?;
                if let Some(expected) = &e.digest
                    && *expected != digest
                {
                    let _ = tokio::fs::remove_file(&dest).await;
                    return Err(format!(
                        "digest mismatch for {}: index.yaml says {expected}, the archive is {digest}",
                        SafeUrl::new(url)
                    ));
                }
                Ok(Blob {
                    path: dest,
                    digest,
                    size,
                })
            }
        }
    }

    /// Push the chart to the target under `tag`; its manifest digest.
    async fn push_chart(
        &self,
        source: &ChartSource,
        archive: Option<&Blob>,
        chart: Option<&ChartArchive>,
        tag: &str,
    ) -> Result<Digest, String> {
        let repository = &self.mirror.repository;
        if let ChartSource::Oci(o) = source {
            let digest = oci_repo::copy_chart(
                o,
                helm_referrers(self.mirror),
                &self.mirror.target,
                repository,
                self.ctx,
            )
            .await?;
            return Ok(digest);
        }
        let (Some(archive), Some(chart)) = (archive, chart) else {
            return Err("internal: the chart archive was not fetched".into());
        };
        let prov = match source {
            ChartSource::Index(e) => self.provenance(e, archive).await?,
            _ => None,
        };
        let artifact = artifact::build(&chart.meta, archive.clone(), prov, self.temp)
            .map_err(|e| e.to_string())?;
        artifact
            .push(self.target, repository, tag)
            .await
            .map_err(|e: OciError| e.to_string())?;
        let target_key = self.mirror.target.to_string();
        for d in artifact.blob_digests() {
            self.ctx.known_blobs.record_in(&target_key, &d, repository);
        }
        Ok(artifact.digest)
    }

    /// The provenance file next to the archive (`<url>.prov`), when the repository has one.
    async fn provenance(&self, e: &IndexEntry, archive: &Blob) -> Result<Option<Blob>, String> {
        let Some(url) = e.urls.first() else {
            return Ok(None);
        };
        let Ok(prov_url) = Url::parse(&format!("{url}.prov")) else {
            return Ok(None);
        };
        let Some(bytes) = repo::fetch_bytes(
            self.ctx.http,
            &self.repo_auth,
            &prov_url,
            repo::MAX_PROV_BYTES,
        )
        .await
        .map_err(|e| format!("provenance file: {}", e.message))?
        else {
            return Ok(None);
        };
        let file_name = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .unwrap_or_default()
            .to_string();
        artifact::check_provenance(&bytes, &file_name, &archive.digest)
            .map_err(|e| format!("{}: {e}", SafeUrl::new(&prov_url)))?;
        let path: PathBuf = self.temp.join(format!("{}.prov", archive.digest.hex()));
        tokio::fs::write(&path, &bytes)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Some(Blob {
            path,
            digest: Digest::sha256_of(&bytes),
            size: bytes.len() as u64,
        }))
    }

    /// Mirror `images` (each once per run), several at once; their report entries in order.
    async fn mirror_images(&mut self, images: Vec<(ImageRef, Vec<String>)>) -> Vec<ChartImage> {
        let todo: Vec<ImageRef> = images
            .iter()
            .map(|(r, _)| r.clone())
            .filter(|r| !self.images_done.contains_key(r))
            .collect();
        let results: Vec<(ImageRef, (Status, Option<String>))> = {
            let (mirror, target, ctx) = (self.mirror, self.target, self.ctx);
            futures_util::stream::iter(todo)
                .map(|r| async move {
                    let outcome = image_copy::mirror_image(&r, mirror, target, ctx).await;
                    (r, outcome)
                })
                .buffered(IMAGE_CONCURRENCY)
                .collect()
                .await
        };
        let fresh: Vec<ImageRef> = results.iter().map(|(r, _)| r.clone()).collect();
        self.images_done.extend(results);
        images
            .into_iter()
            .map(|(r, found_in)| {
                let (mut status, reason) = self
                    .images_done
                    .get(&r)
                    .cloned()
                    .unwrap_or((Status::Failed, Some("not mirrored".into())));
                // Mirrored for an earlier version of this run: nothing to do now.
                if status == Status::Pushed && !fresh.contains(&r) {
                    status = Status::Skipped;
                }
                ChartImage {
                    image: r.to_string(),
                    target: image_copy::report_target(&r, self.mirror),
                    found_in,
                    status,
                    reason,
                }
            })
            .collect()
    }
}

/// Only the spec's `extra_images`.
fn extra_only(extra: &[String]) -> Found {
    let mut found = Found::default();
    for image in extra {
        found.add(image, "extra_images");
    }
    found
}
