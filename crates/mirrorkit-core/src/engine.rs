//! The sync engine: for each mirror, discover → plan → (prepare concurrently, push one by one,
//! oldest version first) → report.
//!
//! Preparing a version (download, verify, package every platform) runs up to `concurrency`
//! versions at a time; pushing is sequential in version order, and within a version it is blobs,
//! then per-platform manifests, then the index by digest, and only then the tag. A version that
//! fails anywhere before its tag is written leaves no tag behind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream;

use crate::digest::Digest;
use crate::exit::ExitCode;
use crate::http::HttpClient;
use crate::package::layer::{self as package, BuiltLayer, LayerOptions};
use crate::package::ocx;
use crate::plan::{Action, PlatformSelection, VersionFilter, VersionPlan, plan_versions};
use crate::report::{MirrorError, MirrorReport, PlatformReport, Report, Status, VersionReport};
use crate::source::{Asset, SourceError};
use crate::spec::{AssetTypeSpec, CompressionSpec, Mirror, SourceConfig, Spec, TargetConfig};
use crate::store::Store;
use crate::target::{Target, TargetError};

/// What the command line asks of a sync.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Only the mirrors with these keys (`--only`); empty = all.
    pub only: Vec<String>,
    /// Version filters (`--version`, `--latest`).
    pub filter: VersionFilter,
    /// Plan only (`check`, `--dry-run`).
    pub dry_run: bool,
    /// Stop at the first failure.
    pub fail_fast: bool,
    /// Versions prepared at once.
    pub concurrency: usize,
    /// Work directory (store and task files).
    pub work_dir: PathBuf,
}

/// What the engine tells a progress display while it runs.
#[derive(Clone, Debug)]
pub enum Progress<'a> {
    /// A mirror has been planned: `to_mirror` versions will be downloaded and pushed.
    MirrorPlanned { key: &'a str, to_mirror: usize },
    /// A version reached its final status.
    VersionDone {
        key: &'a str,
        version: &'a str,
        status: Status,
    },
}

/// A failure that stops the whole run before any mirror starts.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// `--only` names a mirror the spec does not have.
    #[error("--only {key}: no such mirror in the spec (mirrors: {known})")]
    UnknownMirror { key: String, known: String },
    /// The work directory cannot be used.
    #[error("work directory {}: {reason}", path.display())]
    WorkDir { path: PathBuf, reason: String },
}

impl EngineError {
    /// The exit code it stands for.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            EngineError::UnknownMirror { .. } => ExitCode::Usage,
            EngineError::WorkDir { .. } => ExitCode::Io,
        }
    }
}

/// Run a sync (or a dry run) of `spec`. `open_target` turns a target of the spec into something
/// that can be published to (the binary passes `mirrorkit-oci`'s registry/layout opener).
pub async fn sync<T, F>(
    spec: &Spec,
    options: &SyncOptions,
    http: &HttpClient,
    open_target: F,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<Report, EngineError>
where
    T: Target,
    F: Fn(&TargetConfig) -> Result<T, TargetError>,
{
    let started = Instant::now();
    for key in &options.only {
        if !spec.mirrors.iter().any(|m| &m.key == key) {
            return Err(EngineError::UnknownMirror {
                key: key.clone(),
                known: spec
                    .mirrors
                    .iter()
                    .map(|m| m.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let store = if options.dry_run {
        None
    } else {
        Some(
            Store::open(&options.work_dir).map_err(|e| EngineError::WorkDir {
                path: options.work_dir.clone(),
                reason: e.to_string(),
            })?,
        )
    };
    let mut report = Report {
        dry_run: options.dry_run,
        ..Report::default()
    };
    for mirror in spec
        .mirrors
        .iter()
        .filter(|m| options.only.is_empty() || options.only.contains(&m.key))
    {
        let mreport = run_mirror(
            mirror,
            options,
            http,
            store.as_ref(),
            &open_target,
            progress,
        )
        .await;
        let stop = options.fail_fast
            && (mreport.error.is_some()
                || mreport.versions.iter().any(|v| v.status == Status::Failed));
        report.mirrors.push(mreport);
        if stop {
            break;
        }
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    report.summarize();
    Ok(report)
}

async fn run_mirror<T, F>(
    mirror: &Mirror,
    options: &SyncOptions,
    http: &HttpClient,
    store: Option<&Store>,
    open_target: &F,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> MirrorReport
where
    T: Target,
    F: Fn(&TargetConfig) -> Result<T, TargetError>,
{
    let mut report = MirrorReport {
        key: mirror.key.clone(),
        repository: mirror.repository.clone(),
        target: mirror.target.to_string(),
        error: None,
        versions: Vec::new(),
    };
    let fail = |message: String, code: ExitCode| MirrorError {
        message,
        exit_code: code.code(),
    };
    let target = match open_target(&mirror.target) {
        Ok(t) => t,
        Err(e) => {
            report.error = Some(fail(e.to_string(), e.exit_code()));
            return report;
        }
    };
    let releases = match &mirror.source {
        SourceConfig::UrlIndex(origin) => crate::source::url_index::discover(origin, http).await,
    };
    let releases = match releases {
        Ok(r) => r,
        Err(e) => {
            report.error = Some(fail(e.to_string(), SourceError::exit_code(&e)));
            return report;
        }
    };
    let existing: BTreeSet<String> = match target.list_tags(&mirror.repository).await {
        Ok(tags) => tags.into_iter().collect(),
        Err(e) => {
            report.error = Some(fail(e.to_string(), e.exit_code()));
            return report;
        }
    };
    let plans = plan_versions(mirror, releases, &existing, &options.filter);
    progress(Progress::MirrorPlanned {
        key: &mirror.key,
        to_mirror: if options.dry_run {
            0
        } else {
            plans.iter().filter(|p| p.action == Action::Mirror).count()
        },
    });

    let Some(store) = store.filter(|_| !options.dry_run) else {
        report.versions = plans
            .iter()
            .map(|p| planned_report(p, Status::Planned))
            .collect();
        return report;
    };

    let mut results: BTreeMap<String, VersionReport> = BTreeMap::new();
    let mut to_mirror = Vec::new();
    for p in &plans {
        if p.action == Action::Mirror {
            to_mirror.push(p);
        } else {
            results.insert(p.version.clone(), planned_report(p, Status::Planned));
        }
    }
    let packaging = tokio::sync::Semaphore::new(packaging_slots().0);
    let tools = Tools {
        http,
        store,
        work_dir: &options.work_dir,
        packaging: &packaging,
    };
    // `buffered` runs up to `concurrency` preparations at once and yields them in version order.
    // A producer drives it into a channel while the consumer pushes, one version at a time,
    // oldest first: preparations keep going during a push (a stream is only driven while it is
    // polled, so pushing from inside a plain `while let … next()` loop would stall them).
    let (tx, mut rx) = tokio::sync::mpsc::channel(options.concurrency.max(1));
    let producer = async {
        let mut prepared = stream::iter(to_mirror)
            .map(|p| prepare_version(mirror, p, &tools))
            .buffered(options.concurrency.max(1));
        while let Some(item) = prepared.next().await {
            if tx.send(item).await.is_err() {
                break;
            }
        }
        drop(tx);
    };
    let consumer = async {
        let mut fatal = None;
        while let Some((plan, outcome)) = rx.recv().await {
            let vreport = match outcome {
                Ok(ready) => {
                    match push_version(mirror, plan, ready, &target, store, &options.work_dir).await
                    {
                        Ok(r) => r,
                        Err((r, e)) => {
                            // An unreachable, refusing or unwritable target fails every other
                            // version too: stop and report it with its own exit code.
                            if matches!(
                                e,
                                TargetError::Unreachable { .. }
                                    | TargetError::Denied { .. }
                                    | TargetError::Io { .. }
                            ) {
                                fatal = Some(fail(e.to_string(), e.exit_code()));
                            }
                            r
                        }
                    }
                }
                Err(r) => r,
            };
            let failed = vreport.status == Status::Failed;
            progress(Progress::VersionDone {
                key: &mirror.key,
                version: &plan.version,
                status: vreport.status,
            });
            results.insert(plan.version.clone(), vreport);
            if fatal.is_some() || (failed && options.fail_fast) {
                break;
            }
        }
        fatal
    };
    // When the consumer stops early (fail-fast, fatal target error), dropping the producer
    // cancels the preparations still running.
    let fatal = match futures_util::future::select(Box::pin(producer), Box::pin(consumer)).await {
        futures_util::future::Either::Left(((), consumer)) => consumer.await,
        futures_util::future::Either::Right((fatal, _producer)) => fatal,
    };
    report.error = fatal;
    // Keep plan order (oldest first); versions not reached after a stop are reported as such.
    report.versions = plans
        .iter()
        .map(|p| {
            results.remove(&p.version).unwrap_or_else(|| {
                let mut r = planned_report(p, Status::Failed);
                r.reason = Some("not attempted: the run stopped early".into());
                r
            })
        })
        .collect();
    report
}

/// The report entry of a version that is not (or not yet) mirrored.
fn planned_report(p: &VersionPlan, mirror_status: Status) -> VersionReport {
    let status = match p.action {
        Action::Mirror => mirror_status,
        Action::Skip => Status::Skipped,
        Action::Exclude => Status::Excluded,
        Action::Fail => Status::Failed,
    };
    VersionReport {
        version: p.version.clone(),
        tag: p.tag.clone(),
        status,
        reason: p.reason.clone(),
        index_digest: None,
        duration_ms: 0,
        platforms: p
            .platforms
            .iter()
            .map(|pp| PlatformReport {
                platform: pp.platform.clone(),
                status: match pp.selection {
                    PlatformSelection::Selected => status,
                    PlatformSelection::Absent => Status::Excluded,
                    PlatformSelection::Ambiguous => Status::Failed,
                },
                reason: pp.reason.clone(),
                asset: pp.asset.as_ref().map(|a| a.name.clone()),
                bytes: None,
                asset_digest: None,
                layer_digest: None,
                manifest_digest: None,
                duration_ms: 0,
            })
            .collect(),
    }
}

/// What preparing a version uses, shared by every preparation of a run.
struct Tools<'a> {
    http: &'a HttpClient,
    store: &'a Store,
    work_dir: &'a Path,
    /// Bounds the packaging jobs running at once (see [`packaging_slots`]).
    packaging: &'a tokio::sync::Semaphore,
}

/// One platform of a version, downloaded, verified and packaged, ready to push.
struct PreparedPlatform {
    report: PlatformReport,
    layer: BuiltLayer,
    config_path: PathBuf,
    config: ocx::Descriptor,
    manifest: Vec<u8>,
    manifest_digest: Digest,
}

struct PreparedVersion {
    started: Instant,
    platforms: Vec<PreparedPlatform>,
    asset_digests: Vec<Digest>,
}

/// Where a version's intermediate files live in the work dir.
fn task_dir(work_dir: &Path, mirror: &Mirror, version: &str) -> PathBuf {
    work_dir.join("tasks").join(&mirror.key).join(version)
}

async fn prepare_version<'p>(
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
fn packaging_slots() -> (usize, u32) {
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
    platform: &crate::platform::Platform,
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

async fn push_version<T: Target>(
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
            let _ = tokio::fs::remove_dir_all(task_dir(work_dir, mirror, &plan.version)).await;
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

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
