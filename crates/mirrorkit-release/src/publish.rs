//! Publishing a prepared version: blobs, then platform manifests, then the index by digest, and
//! the tag last.

use std::collections::BTreeMap;
use std::path::Path;

use super::planned_report;
use super::prepare::{PreparedVersion, task_dir};
use super::rolling_tags::{self, PublishedVersions};
use crate::ocx::manifest;
use crate::plan::VersionPlan;
use mirrorkit_core::digest::Digest;
use mirrorkit_core::report::{Status, VersionReport};
use mirrorkit_core::spec::{BuildTimestampSpec, Mirror, SourceConfig};
use mirrorkit_core::store::Store;
use mirrorkit_oci::OciError;
use mirrorkit_oci::target::Target;
/// When this run publishes: one instant for every version of the run, so all build tags and
/// `created` annotations of a run agree.
#[derive(Clone, Debug)]
pub(crate) struct Stamp {
    /// RFC 3339, for `org.opencontainers.image.created`.
    pub(crate) created: String,
    /// `YYYYMMDDhhmmss` (UTC).
    pub(crate) datetime: String,
    /// `YYYYMMDD` (UTC).
    pub(crate) date: String,
}

impl Stamp {
    pub(crate) fn now() -> Stamp {
        let t = time::OffsetDateTime::now_utc();
        let datetime = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        Stamp {
            created: now_rfc3339(),
            date: datetime[..8].to_string(),
            datetime,
        }
    }

    /// The immutable build tag of `tag` (`<tag>_<timestamp>`), or `None` with
    /// `build_timestamp: none` or when the tag already carries build metadata (`1.0.0+b1` is
    /// tagged `1.0.0_b1`; a second `_` suffix would read as nonsense).
    pub(crate) fn build_tag(&self, tag: &str, format: BuildTimestampSpec) -> Option<String> {
        let suffix = match format {
            BuildTimestampSpec::Datetime => &self.datetime,
            BuildTimestampSpec::Date => &self.date,
            BuildTimestampSpec::None => return None,
        };
        (!tag.contains('_')).then(|| format!("{tag}_{suffix}"))
    }
}

/// Where and when a run publishes, shared by every version it pushes.
pub(super) struct Publisher<'a, T> {
    pub(super) target: &'a T,
    pub(super) store: &'a Store,
    pub(super) work_dir: &'a Path,
    pub(super) stamp: &'a Stamp,
}

/// A pushed version index: its digest, exact bytes and annotations.
type PushedIndex = (Digest, Vec<u8>, BTreeMap<String, String>);

pub(super) async fn push_version<T: Target>(
    mirror: &Mirror,
    plan: &VersionPlan,
    ready: PreparedVersion,
    publisher: &Publisher<'_, T>,
    catalog: &mut PublishedVersions,
) -> Result<VersionReport, (VersionReport, OciError)> {
    let Publisher {
        target,
        store,
        work_dir,
        stamp,
    } = *publisher;
    let mut report = planned_report(plan, Status::Failed);
    let repo = &mirror.repository;
    let mut tags_written = Vec::new();
    let outcome: Result<PushedIndex, OciError> = async {
        let mut entries = Vec::new();
        for p in &ready.platforms {
            let push_blobs = async || -> Result<(), OciError> {
                target
                    .push_blob(repo, &p.layer.digest, p.layer.size, &p.layer.path)
                    .await?;
                target
                    .push_blob(repo, &p.config.digest, p.config.size, &p.config_path)
                    .await?;
                Ok(())
            };
            let push_manifest = async || {
                target
                    .push_manifest(
                        repo,
                        &p.manifest_digest.to_string(),
                        manifest::MEDIA_TYPE_IMAGE_MANIFEST,
                        &p.manifest,
                    )
                    .await
            };
            push_blobs().await?;
            match push_manifest().await {
                // Two runs uploading the same blob (an identical config) into one repository:
                // docker-registry has answered the manifest with MANIFEST_BLOB_UNKNOWN while the
                // other upload of that blob committed. Check the blobs again (uploading any that
                // is missing) and try once more.
                Err(OciError::Rejected { reason, .. }) if reason.contains("BLOB_UNKNOWN") => {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    push_blobs().await?;
                    push_manifest().await?;
                }
                other => {
                    other?;
                }
            }
            entries.push((
                p.report.platform.clone(),
                manifest::Descriptor {
                    media_type: manifest::MEDIA_TYPE_IMAGE_MANIFEST.to_string(),
                    digest: p.manifest_digest.clone(),
                    size: p.manifest.len() as u64,
                    annotations: BTreeMap::new(),
                },
            ));
        }
        let mut annotations = BTreeMap::new();
        annotations.insert(
            manifest::ANNOTATION_VERSION.to_string(),
            plan.version.clone(),
        );
        annotations.insert(
            manifest::ANNOTATION_CREATED.to_string(),
            stamp.created.clone(),
        );
        if let Some(source) = source_annotation(mirror) {
            annotations.insert(manifest::ANNOTATION_SOURCE.to_string(), source);
        }
        let mut index = manifest::image_index(&entries, &annotations);
        if plan.completes {
            // The version is published already: add the new platforms to its index, keeping
            // every platform it holds.
            let mut merged = catalog
                .published_entries(target, repo, &plan.version)
                .await
                .map_err(|reason| OciError::Rejected {
                    target: target.describe(),
                    what: format!("the published index of {}", plan.version),
                    reason,
                })?;
            merged.extend(rolling_tags::index_entries(&index).unwrap_or_default());
            index = rolling_tags::alias_index(&merged, &annotations);
        }
        let index_digest = Digest::sha256_of(&index);
        target
            .push_manifest(
                repo,
                &index_digest.to_string(),
                manifest::MEDIA_TYPE_IMAGE_INDEX,
                &index,
            )
            .await?;
        // Tags go last: they never point at content the target has not fully received. The
        // immutable build tag first, then the exact version tag.
        if let Some(build) = stamp.build_tag(&plan.tag, mirror.build_timestamp) {
            target
                .push_manifest(repo, &build, manifest::MEDIA_TYPE_IMAGE_INDEX, &index)
                .await?;
            tags_written.push(build);
        }
        target
            .push_manifest(repo, &plan.tag, manifest::MEDIA_TYPE_IMAGE_INDEX, &index)
            .await?;
        tags_written.push(plan.tag.clone());
        Ok((index_digest, index, annotations))
    }
    .await;
    for slot in &mut report.platforms {
        if let Some(p) = ready
            .platforms
            .iter()
            .find(|p| p.report.platform == slot.platform)
        {
            *slot = p.report.clone();
        }
    }
    report.duration_ms = ready.started.elapsed().as_millis() as u64;
    report.warnings.extend(ready.warnings.iter().cloned());
    match outcome {
        Ok((index_digest, index, annotations)) => {
            if mirror.cascade {
                let moved = rolling_tags::cascade(
                    target,
                    repo,
                    catalog,
                    &plan.version,
                    plan.prerelease,
                    &plan.tag,
                    &index,
                    &annotations,
                )
                .await;
                for w in &moved.warnings {
                    tracing::warn!(mirror = %mirror.key, version = %plan.version, "{w}");
                }
                tags_written.extend(moved.moved);
                report.warnings.extend(moved.warnings);
            } else {
                let entries = rolling_tags::index_entries(&index).unwrap_or_default();
                catalog.add(&plan.version, plan.prerelease, &plan.tag, entries);
            }
            report.tags_written = tags_written;
            report.status = Status::Pushed;
            report.index_digest = Some(index_digest);
            for slot in &mut report.platforms {
                if slot.status == Status::Failed && slot.layer_digest.is_some() {
                    slot.status = Status::Pushed;
                }
            }
            // A pushed version's intermediate files are no longer needed.
            let dir = task_dir(work_dir, mirror, &plan.version);
            let _ = tokio::fs::remove_dir_all(&dir).await;
            // The mirror's directory goes too once its last task is done (fails while not empty).
            if let Some(parent) = dir.parent() {
                let _ = tokio::fs::remove_dir(parent).await;
            }
            for d in &ready.asset_digests {
                let _ = store.remove(d);
            }
            Ok(report)
        }
        Err(e) => {
            report.tags_written = tags_written;
            report.reason = Some(e.to_string());
            for slot in &mut report.platforms {
                if slot.status == Status::Failed && slot.reason.is_none() {
                    slot.reason = Some(format!("push failed: {e}"));
                }
            }
            Err((report, e))
        }
    }
}

/// Where a version's index says it came from: the url_index document's URL (credential-free),
/// when there is one.
fn source_annotation(mirror: &Mirror) -> Option<String> {
    match &mirror.source {
        SourceConfig::UrlIndex(mirrorkit_core::source::url_index::IndexOrigin::Url(url)) => {
            Some(mirrorkit_core::http::redact::SafeUrl::new(url).to_string())
        }
        SourceConfig::UrlIndex(_) => None,
        // The repository's web page on github.com; for another API host (GitHub Enterprise,
        // a test server) the API's repository URL, which names it as precisely.
        SourceConfig::Github(g) => Some(match &g.api_url {
            None => format!("https://github.com/{}/{}", g.owner, g.repo),
            Some(api) => format!(
                "{}/repos/{}/{}",
                mirrorkit_core::http::redact::SafeUrl::new(api)
                    .to_string()
                    .trim_end_matches('/'),
                g.owner,
                g.repo
            ),
        }),
        // Only release sources are published here.
        _ => None,
    }
}

pub(super) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
