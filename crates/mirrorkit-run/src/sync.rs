//! A run: select the spec's mirrors (`--only`), hand each to its family, collect one report.
//!
//! Image, chart and package mirrors are independent and I/O-bound, mostly waiting on round
//! trips (package mirrors sharing one tree take turns on its lock): up to
//! [`COPY_MIRRORS_AT_ONCE`] run side by side (their requests still obey the per-host limits).
//! Release mirrors run one at a time in spec order: each already prepares several versions at
//! once and compresses on every core. With `--fail-fast` every mirror runs in order and the
//! first failure ends the run.

use std::collections::BTreeMap;
use std::time::Instant;

use futures_util::StreamExt as _;
use futures_util::stream;
use mirrorkit_core::family::{Family, Progress, RunContext, RunError, SyncOptions};
use mirrorkit_core::report::{MirrorReport, Report, Status};
use mirrorkit_core::spec::{FamilySource, Mirror, Spec};
use mirrorkit_distro::Distro;
use mirrorkit_helm::{Charts, HelmParts};
use mirrorkit_images::Images;
use mirrorkit_oci::copy::known_blobs::KnownBlobs;
use mirrorkit_packages::family::Packages;
use mirrorkit_release::{CascadeReport, Releases};

use crate::Settings;

/// Image and chart mirrors copied at once.
pub const COPY_MIRRORS_AT_ONCE: usize = 4;

/// Run a sync (or a dry run) of `spec`: every selected mirror through its family.
pub async fn sync(
    spec: &Spec,
    options: &SyncOptions,
    settings: &Settings,
    helm_parts: HelmParts,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<Report, RunError> {
    let started = Instant::now();
    mirrorkit_core::family::check_only(spec, &options.only)?;
    let open_target = |t: &_| settings.open(t);
    let releases = Releases::new(spec, options, &open_target)?;
    let known_blobs = KnownBlobs::default();
    let images = Images {
        known_blobs: &known_blobs,
    };
    let charts = Charts {
        known_blobs: &known_blobs,
        parts: helm_parts,
    };
    let cache_dir = options.work_dir.join("cache");
    let ctx = RunContext {
        cache_dir: &cache_dir,
        http: &settings.http,
        credentials: &settings.credentials,
        insecure_hosts: &settings.insecure_hosts,
        options,
        progress,
    };
    // One place knows which family mirrors which source.
    let run_one = async |mirror: &Mirror| match mirror.source.family() {
        FamilySource::Release(source) => releases.sync(mirror, source, &ctx).await,
        FamilySource::Images(source) => images.sync(mirror, source, &ctx).await,
        FamilySource::Helm(source) => charts.sync(mirror, source, &ctx).await,
        FamilySource::Packages(source) => Packages.sync(mirror, source, &ctx).await,
        FamilySource::Distro(source) => Distro.sync(mirror, source, &ctx).await,
    };
    let selected: Vec<&Mirror> = spec
        .mirrors
        .iter()
        .filter(|m| options.only.is_empty() || options.only.contains(&m.key))
        .collect();
    let mut copied: BTreeMap<usize, MirrorReport> = BTreeMap::new();
    if !options.fail_fast {
        let run_one = &run_one;
        copied = stream::iter(
            selected
                .iter()
                .enumerate()
                .filter(|(_, m)| !m.source.is_release()),
        )
        .map(|(i, m)| async move { (i, run_one(m).await) })
        .buffer_unordered(COPY_MIRRORS_AT_ONCE)
        .collect()
        .await;
    }
    let mut report = Report {
        dry_run: options.dry_run,
        ..Report::default()
    };
    for (i, mirror) in selected.iter().enumerate() {
        let mreport = match copied.remove(&i) {
            Some(r) => r,
            None => run_one(mirror).await,
        };
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

/// `cascade check|repair`: the release family's rolling tags recomputed from what is published,
/// compared, and with `repair` fixed.
pub async fn cascade(
    spec: &Spec,
    only: &[String],
    repair: bool,
    settings: &Settings,
) -> Result<CascadeReport, RunError> {
    mirrorkit_release::cascade_check(
        spec,
        only,
        repair,
        &settings.http,
        &settings.work_dir,
        |t| settings.open(t),
    )
    .await
}
