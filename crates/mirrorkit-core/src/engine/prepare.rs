//! Preparing a version: download and verify every platform's asset, package it as a layer, and
//! build the config and manifest around it. Nothing is pushed here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::planned_report;
use super::publish::now_rfc3339;
use crate::digest::Digest;
use crate::http::HttpClient;
use crate::package::layer::{self as package, BuiltLayer, LayerOptions};
use crate::package::ocx;
use crate::plan::VersionPlan;
use crate::platform::Platform;
use crate::report::{PlatformReport, Status, VersionReport};
use crate::source::Asset;
use crate::spec::{AssetTypeSpec, CompressionSpec, Mirror};
use crate::store::Store;
/// What preparing a version uses, shared by every preparation of a run.
pub(super) struct Tools<'a> {
    pub(super) http: &'a HttpClient,
    pub(super) store: &'a Store,
    pub(super) work_dir: &'a Path,
    /// Bounds the packaging jobs running at once (see [`packaging_slots`]).
    pub(super) packaging: &'a tokio::sync::Semaphore,
}

/// One platform of a version, downloaded, verified and packaged, ready to push.
pub(super) struct PreparedPlatform {
    pub(super) report: PlatformReport,
    pub(super) layer: BuiltLayer,
    pub(super) config_path: PathBuf,
    pub(super) config: ocx::Descriptor,
    pub(super) manifest: Vec<u8>,
    pub(super) manifest_digest: Digest,
}

pub(super) struct PreparedVersion {
    pub(super) started: Instant,
    pub(super) platforms: Vec<PreparedPlatform>,
    pub(super) asset_digests: Vec<Digest>,
}

/// Where a version's intermediate files live in the work dir.
pub(super) fn task_dir(work_dir: &Path, mirror: &Mirror, version: &str) -> PathBuf {
    work_dir.join("tasks").join(&mirror.key).join(version)
}

pub(super) async fn prepare_version<'p>(
    mirror: &Mirror,
    plan: &'p VersionPlan,
    tools: &Tools<'_>,
) -> (&'p VersionPlan, Result<PreparedVersion, VersionReport>) {
    let started = Instant::now();
    let dir = task_dir(tools.work_dir, mirror, &plan.version);
    let selected: Vec<_> = plan
        .platforms
        .iter()
        .filter_map(|pp| pp.asset.as_ref().map(|a| (pp, a)))
        .collect();
    let outcomes = futures_util::future::join_all(
        selected
            .iter()
            .map(|(pp, asset)| prepare_platform(mirror, plan, &pp.platform, asset, tools, &dir)),
    )
    .await;
    let mut report = planned_report(plan, Status::Failed);
    let mut platforms = Vec::new();
    let mut asset_digests = Vec::new();
    let mut first_error = None;
    for outcome in outcomes {
        match outcome {
            Ok((p, asset_digest)) => {
                asset_digests.push(asset_digest);
                platforms.push(p);
            }
            Err(r) => {
                if first_error.is_none() {
                    first_error = Some(format!(
                        "{}: {}",
                        r.platform,
                        r.reason.as_deref().unwrap_or("failed")
                    ));
                }
                if let Some(slot) = report
                    .platforms
                    .iter_mut()
                    .find(|x| x.platform == r.platform)
                {
                    *slot = r;
                }
            }
        }
    }
    if let Some(reason) = first_error {
        // Nothing of a version is pushed unless every platform it offers is ready.
        for slot in &mut report.platforms {
            if slot.status == Status::Failed && slot.reason.is_none() {
                slot.reason = Some("not pushed: another platform of this version failed".into());
            }
            if let Some(p) = platforms
                .iter()
                .find(|p| p.report.platform == slot.platform)
            {
                slot.asset_digest = p.report.asset_digest.clone();
            }
        }
        report.reason = Some(reason);
        report.duration_ms = started.elapsed().as_millis() as u64;
        return (plan, Err(report));
    }
    (
        plan,
        Ok(PreparedVersion {
            started,
            platforms,
            asset_digests,
        }),
    )
}

/// Packaging jobs that run at once, and compression threads each: half the cores as jobs, the
/// cores shared among them. Multi-threaded xz needs ~100 MiB per thread, so letting every
/// concurrently prepared version compress with every core would multiply memory and thrash the
/// CPU for no gain.
pub(super) fn packaging_slots() -> (usize, u32) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = (cores / 2).max(1);
    (jobs, (cores / jobs).max(1) as u32)
}

fn layer_options(mirror: &Mirror) -> LayerOptions {
    LayerOptions {
        asset_type: match mirror.asset_type {
            AssetTypeSpec::Archive => package::AssetType::Archive,
            AssetTypeSpec::Binary => package::AssetType::Binary,
        },
        compression: match mirror.compression {
            CompressionSpec::Xz => crate::package::compress::Compression::Xz,
            CompressionSpec::Zstd => crate::package::compress::Compression::Zstd,
            CompressionSpec::Gzip => crate::package::compress::Compression::Gzip,
        },
        strip_components: mirror.strip_components,
        threads: Some(packaging_slots().1),
        ..LayerOptions::default()
    }
}

async fn prepare_platform(
    mirror: &Mirror,
    plan: &VersionPlan,
    platform: &Platform,
    asset: &Asset,
    tools: &Tools<'_>,
    dir: &Path,
) -> Result<(PreparedPlatform, Digest), PlatformReport> {
    let started = Instant::now();
    let mut report = PlatformReport {
        platform: platform.clone(),
        status: Status::Failed,
        reason: None,
        asset: Some(asset.name.clone()),
        bytes: None,
        asset_digest: None,
        layer_digest: None,
        manifest_digest: None,
        duration_ms: 0,
    };
    let failed = |mut r: PlatformReport, reason: String| {
        r.reason = Some(reason);
        r.duration_ms = started.elapsed().as_millis() as u64;
        r
    };
    let blob = match tools
        .store
        .fetch(tools.http, &asset.url, asset.checksum.as_ref())
        .await
    {
        Ok(b) => b,
        Err(e) => return Err(failed(report, e.to_string())),
    };
    report.asset_digest = Some(blob.digest.clone());
    let pdir = dir.join(platform.slug());
    if let Err(e) = tokio::fs::create_dir_all(&pdir).await {
        return Err(failed(
            report,
            format!("cannot create {}: {e}", pdir.display()),
        ));
    }
    let opts = layer_options(mirror);
    let (asset_path, asset_name, out_dir) = (blob.path.clone(), asset.name.clone(), pdir.clone());
    let _slot = tools.packaging.acquire().await;
    let built = tokio::task::spawn_blocking(move || {
        package::build_layer(&asset_path, &asset_name, &opts, &out_dir)
    })
    .await;
    let layer = match built {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return Err(failed(report, e.to_string())),
        Err(e) => return Err(failed(report, format!("packaging task failed: {e}"))),
    };
    let config_bytes = match ocx::package_config(None) {
        Ok(c) => c,
        Err(e) => return Err(failed(report, e.to_string())),
    };
    let config = ocx::Descriptor::for_bytes(ocx::MEDIA_TYPE_PACKAGE_CONFIG, &config_bytes);
    let config_path = pdir.join("config.json");
    if let Err(e) = tokio::fs::write(&config_path, &config_bytes).await {
        return Err(failed(
            report,
            format!("cannot write {}: {e}", config_path.display()),
        ));
    }
    let mut annotations = BTreeMap::new();
    annotations.insert(ocx::ANNOTATION_VERSION.to_string(), plan.version.clone());
    annotations.insert(ocx::ANNOTATION_TITLE.to_string(), asset.name.clone());
    annotations.insert(
        ocx::ANNOTATION_SOURCE.to_string(),
        crate::http::redact::SafeUrl::new(&asset.url).to_string(),
    );
    annotations.insert(ocx::ANNOTATION_CREATED.to_string(), now_rfc3339());
    let layer_descriptor = ocx::Descriptor::for_layer(&layer, &asset.name);
    let manifest = ocx::image_manifest(&config, &layer_descriptor, &annotations);
    let manifest_digest = Digest::sha256_of(&manifest);
    report.bytes = Some(layer.size);
    report.layer_digest = Some(layer.digest.clone());
    report.manifest_digest = Some(manifest_digest.clone());
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok((
        PreparedPlatform {
            report,
            layer,
            config_path,
            config,
            manifest,
            manifest_digest,
        },
        blob.digest,
    ))
}
