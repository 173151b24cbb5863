//! Publishing a prepared version: blobs, then platform manifests, then the index by digest, and
//! the tag last.

use std::collections::BTreeMap;
use std::path::Path;

use super::planned_report;
use super::prepare::{PreparedVersion, task_dir};
use crate::digest::Digest;
use crate::package::ocx;
use crate::plan::VersionPlan;
use crate::report::{Status, VersionReport};
use crate::spec::{Mirror, SourceConfig};
use crate::store::Store;
use crate::target::{Target, TargetError};
pub(super) async fn push_version<T: Target>(
    mirror: &Mirror,
    plan: &VersionPlan,
    ready: PreparedVersion,
    target: &T,
    store: &Store,
    work_dir: &Path,
) -> Result<VersionReport, (VersionReport, TargetError)> {
    let mut report = planned_report(plan, Status::Failed);
    let repo = &mirror.repository;
    let outcome: Result<Digest, TargetError> = async {
        let mut entries = Vec::new();
        for p in &ready.platforms {
            target
                .push_blob(repo, &p.layer.digest, p.layer.size, &p.layer.path)
                .await?;
            target
                .push_blob(repo, &p.config.digest, p.config.size, &p.config_path)
                .await?;
            target
                .push_manifest(
                    repo,
                    &p.manifest_digest.to_string(),
                    ocx::MEDIA_TYPE_IMAGE_MANIFEST,
                    &p.manifest,
                )
                .await?;
            entries.push((
                p.report.platform.clone(),
                ocx::Descriptor {
                    media_type: ocx::MEDIA_TYPE_IMAGE_MANIFEST.to_string(),
                    digest: p.manifest_digest.clone(),
                    size: p.manifest.len() as u64,
                    annotations: BTreeMap::new(),
                },
            ));
        }
        let mut annotations = BTreeMap::new();
        annotations.insert(ocx::ANNOTATION_VERSION.to_string(), plan.version.clone());
        annotations.insert(ocx::ANNOTATION_CREATED.to_string(), now_rfc3339());
        if let Some(source) = source_annotation(mirror) {
            annotations.insert(ocx::ANNOTATION_SOURCE.to_string(), source);
        }
        let index = ocx::image_index(&entries, &annotations);
        let index_digest = Digest::sha256_of(&index);
        target
            .push_manifest(
                repo,
                &index_digest.to_string(),
                ocx::MEDIA_TYPE_IMAGE_INDEX,
                &index,
            )
            .await?;
        // The tag goes last: it never points at content the target has not fully received.
        target
            .push_manifest(repo, &plan.tag, ocx::MEDIA_TYPE_IMAGE_INDEX, &index)
            .await?;
        Ok(index_digest)
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
    match outcome {
        Ok(index_digest) => {
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
        SourceConfig::UrlIndex(crate::source::url_index::IndexOrigin::Url(url)) => {
            Some(crate::http::redact::SafeUrl::new(url).to_string())
        }
        SourceConfig::UrlIndex(_) => None,
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
