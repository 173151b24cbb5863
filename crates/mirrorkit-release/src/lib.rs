//! The release family ([`Releases`]): for each release mirror, discover → plan → (prepare
//! concurrently, push one by one, oldest version first) → report.
//!
//! Preparing a version (download, verify, package every platform) runs up to `concurrency`
//! versions at a time; pushing is sequential in version order, and within a version it is blobs,
//! then per-platform manifests, then the index by digest, and only then the tag. A version that
//! fails anywhere before its tag is written leaves no tag behind.
//!
//! - [`plan`], [`select`]: versions × platforms → mirror / skip / exclude, and which asset is a
//!   platform's package.
//! - `prepare`: download, verify (the asset's digest, a [`checksums`] file) and package into an
//!   [`ocx`] layer; `publish`: push in order.
//! - [`rolling_tags`]: `X.Y`, `X` and `latest` moved, checked and repaired.
//!
//! The sources (`github_release`, `url_index`) are listed by `mirrorkit_core::source`, beside
//! the spec that names them.

// A library reports through `tracing` and its return values; only the binary prints.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod checksums;
pub mod ocx;
pub mod plan;
mod prepare;
mod publish;
pub mod rolling_tags;
pub mod select;

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;
use futures_util::stream;

use crate::plan::{Action, PlatformSelection, Published, VersionPlan, plan_versions};
use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::family::{Family, RunContext, RunError, check_only};
use mirrorkit_core::family::{Progress, SyncOptions};
use mirrorkit_core::http::HttpClient;
use mirrorkit_core::report::{MirrorError, MirrorReport, PlatformReport, Status, VersionReport};
use mirrorkit_core::source::SourceError;
use mirrorkit_core::spec::{FamilySource, Mirror, ReleaseSource, Spec, TargetConfig};
use mirrorkit_core::store::Store;
use mirrorkit_oci::OciError;
use mirrorkit_oci::target::Target;
use prepare::{Tools, Unprepared, prepare_version};
use publish::{Publisher, Stamp, push_version};

/// The release family: versions built from downloaded assets (`url_index`, `github_release`),
/// packaged as ocx layers and published with their rolling tags. One per run: it holds the
/// run's store (none for a dry run) and the instant every build tag of the run shares.
pub struct Releases<'a, F> {
    store: Option<Store>,
    stamp: Stamp,
    open_target: &'a F,
}

impl<'a, T, F> Releases<'a, F>
where
    T: Target,
    F: Fn(&TargetConfig) -> Result<T, OciError>,
{
    /// The family for a run of `spec`: opens the work dir's store unless this is a dry run.
    /// `open_target` turns a target of the spec into something that can be published to.
    pub fn new(
        spec: &Spec,
        options: &SyncOptions,
        open_target: &'a F,
    ) -> Result<Releases<'a, F>, RunError> {
        let store = if options.dry_run {
            None
        } else {
            Some(
                Store::open_with_limit(&options.work_dir, spec.max_asset_size).map_err(|e| {
                    RunError::WorkDir {
                        path: options.work_dir.clone(),
                        reason: e.to_string(),
                    }
                })?,
            )
        };
        Ok(Releases {
            store,
            // One instant for the whole run: every build tag and `created` annotation agree.
            stamp: Stamp::now(),
            open_target,
        })
    }
}

impl<T, F> Family for Releases<'_, F>
where
    T: Target,
    F: Fn(&TargetConfig) -> Result<T, OciError>,
{
    type Source<'s> = ReleaseSource<'s>;

    async fn sync(
        &self,
        mirror: &Mirror,
        source: Self::Source<'_>,
        ctx: &RunContext<'_>,
    ) -> MirrorReport {
        run_mirror(
            mirror,
            source,
            ctx.options,
            ctx.http,
            self.store.as_ref(),
            self.open_target,
            ctx.progress,
            &self.stamp,
        )
        .await
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_mirror<T, F>(
    mirror: &Mirror,
    source: ReleaseSource<'_>,
    options: &SyncOptions,
    http: &HttpClient,
    store: Option<&Store>,
    open_target: &F,
    progress: &(dyn Fn(Progress<'_>) + Sync),
    stamp: &Stamp,
) -> MirrorReport
where
    T: Target,
    F: Fn(&TargetConfig) -> Result<T, OciError>,
{
    let mut report = MirrorReport::for_mirror(mirror);
    let fail = MirrorError::new;
    let target = match open_target(&mirror.target) {
        Ok(t) => t,
        Err(e) => {
            report.error = Some(fail(e.to_string(), e.exit_code()));
            return report;
        }
    };
    let releases = match discover(source, http, &options.work_dir).await {
        Ok(r) => r,
        Err(e) => {
            report.error = Some(fail(e.to_string(), SourceError::exit_code(&e)));
            return report;
        }
    };
    let versions: Vec<(String, bool, String)> = releases
        .iter()
        .filter(|r| r.excluded.is_none())
        .filter_map(|r| {
            mirrorkit_core::version::tag_for(&r.version)
                .map(|t| (r.version.clone(), r.prerelease, t))
        })
        .collect();
    let existing: BTreeSet<String> = match target.list_tags(&mirror.repository).await {
        Ok(tags) => tags.into_iter().collect(),
        Err(e) => {
            report.error = Some(fail(e.to_string(), e.exit_code()));
            return report;
        }
    };
    let mut catalog = rolling_tags::PublishedVersions::new(
        versions
            .iter()
            .map(|(v, pre, t)| (v.as_str(), *pre, t.as_str())),
        &existing,
    );
    let published = Published {
        platforms: catalog
            .load_all(&target, &mirror.repository)
            .await
            .into_iter()
            .collect(),
        tags: existing,
    };
    let plans = plan_versions(mirror, releases, &published, &options.filter);
    for wanted in &options.filter.versions {
        if !plans.iter().any(|p| &p.version == wanted) {
            tracing::warn!(
                mirror = %mirror.key,
                "--version {wanted}: upstream has no such version"
            );
        }
    }
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
    let packaging = tokio::sync::Semaphore::new(mirror.concurrency.max_bundles);
    let cpus = tokio::sync::Semaphore::new(prepare::cores());
    let downloads = tokio::sync::Semaphore::new(mirror.concurrency.max_downloads);
    let tools = Tools {
        http,
        store,
        work_dir: &options.work_dir,
        packaging: &packaging,
        cpus: &cpus,
        downloads: &downloads,
        threads: mirror.concurrency.compression_threads,
    };
    let publisher = Publisher {
        target: &target,
        store,
        work_dir: &options.work_dir,
        stamp,
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
                    match push_version(mirror, plan, ready, &publisher, &mut catalog).await {
                        Ok(r) => r,
                        Err((r, e)) => {
                            // An unreachable, refusing or unwritable target fails every other
                            // version too: stop and report it with its own exit code.
                            if matches!(
                                e,
                                OciError::Unreachable { .. }
                                    | OciError::Denied { .. }
                                    | OciError::Io { .. }
                            ) {
                                fatal = Some(fail(e.to_string(), e.exit_code()));
                            }
                            r
                        }
                    }
                }
                Err(Unprepared { report, local_io }) => {
                    // The work dir is full or unwritable: every other version would fail the
                    // same way, so stop with 74 as for an unwritable target.
                    if let Some(message) = local_io {
                        fatal = Some(fail(format!("work dir: {message}"), ExitCode::Io));
                    }
                    report
                }
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
    if report.error.is_none() && mirror.cascade {
        // Another run may have moved the same rolling tags meanwhile: check and repair them.
        match rolling_tags::settle(&target, &mirror.repository, &mut catalog).await {
            Ok(repaired) => {
                for w in &repaired {
                    tracing::warn!(mirror = %mirror.key, "{w}");
                }
                report.warnings.extend(repaired);
            }
            Err(message) => {
                report.error = Some(fail(message, ExitCode::ItemFailed));
            }
        }
    }
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

/// List what upstream has for `mirror`. GitHub listings keep their ETags under the work dir, so
/// an unchanged release list costs no API quota.
pub async fn discover(
    source: ReleaseSource<'_>,
    http: &HttpClient,
    work_dir: &std::path::Path,
) -> Result<Vec<mirrorkit_core::source::Release>, SourceError> {
    match source {
        ReleaseSource::UrlIndex(origin) => {
            mirrorkit_core::source::url_index::discover(origin, http).await
        }
        ReleaseSource::Github(g) => {
            let cache = work_dir.join("cache").join("github");
            let cache = std::fs::create_dir_all(&cache).is_ok().then_some(cache);
            mirrorkit_core::source::github::discover(g, http, cache.as_deref()).await
        }
    }
}

/// The report entry of a version that is not (or not yet) mirrored.
pub(crate) fn planned_report(p: &VersionPlan, mirror_status: Status) -> VersionReport {
    let status = match p.action {
        Action::Mirror => mirror_status,
        Action::Skip => Status::Skipped,
        Action::Exclude => Status::Excluded,
        Action::Fail => Status::Failed,
    };
    VersionReport {
        reason: p.reason.clone(),
        platforms: p
            .platforms
            .iter()
            .map(|pp| PlatformReport {
                platform: pp.platform.clone(),
                status: match pp.selection {
                    PlatformSelection::Selected => status,
                    PlatformSelection::Absent => Status::Excluded,
                    PlatformSelection::Ambiguous => Status::Failed,
                    PlatformSelection::Present => Status::Skipped,
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
        ..VersionReport::new(p.version.clone(), p.tag.clone(), status)
    }
}

/// The outcome of `mirrorkit cascade check|repair`.
#[derive(Clone, Debug, Default, serde::Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct CascadeReport {
    /// Whether drifted aliases were repaired.
    pub repair: bool,
    /// One entry per mirror checked.
    pub mirrors: Vec<MirrorCascade>,
}

/// The rolling tags of one mirror.
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct MirrorCascade {
    /// The mirror's key.
    pub key: String,
    /// Its repository.
    pub repository: String,
    /// Every rolling tag its published versions imply.
    pub aliases: Vec<rolling_tags::AliasState>,
    /// Why it could not be checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<MirrorError>,
}

impl CascadeReport {
    /// A table: one line per alias.
    pub fn to_plain(&self) -> String {
        let mut out = String::new();
        for m in &self.mirrors {
            if let Some(e) = &m.error {
                out.push_str(&format!("{}: error: {}\n", m.key, e.message));
                continue;
            }
            for a in &m.aliases {
                let expected: Vec<String> =
                    a.expected.iter().map(|(p, v)| format!("{p}={v}")).collect();
                out.push_str(&format!(
                    "{}:{}  {}  {}\n",
                    m.repository,
                    a.alias,
                    a.state,
                    expected.join(" ")
                ));
                for d in &a.differences {
                    out.push_str(&format!("    {d}\n"));
                }
            }
        }
        let count = |s: &str| {
            self.mirrors
                .iter()
                .flat_map(|m| &m.aliases)
                .filter(|a| a.state == s)
                .count()
        };
        out.push_str(&format!(
            "{} ok, {} drift, {} missing, {} repaired\n",
            count("ok"),
            count("drift"),
            count("missing"),
            count("repaired")
        ));
        out
    }
}

impl HasExitCode for CascadeReport {
    /// 0 when every alias is right (or was repaired), 1 when `check` found drift, else the
    /// first mirror error's code.
    fn exit_code(&self) -> ExitCode {
        if let Some(e) = self.mirrors.iter().find_map(|m| m.error.as_ref()) {
            return e.exit_code;
        }
        let drift = self
            .mirrors
            .iter()
            .flat_map(|m| &m.aliases)
            .any(|a| a.state == "drift" || a.state == "missing");
        if drift {
            ExitCode::ItemFailed
        } else {
            ExitCode::Success
        }
    }
}

/// `cascade check|repair`: recompute every mirror's rolling tags from what is published and
/// compare (and with `repair`, fix) them. Upstream is listed to know which tags are versions.
pub async fn cascade_check<T, F>(
    spec: &Spec,
    only: &[String],
    repair: bool,
    http: &HttpClient,
    work_dir: &std::path::Path,
    open_target: F,
) -> Result<CascadeReport, RunError>
where
    T: Target,
    F: Fn(&TargetConfig) -> Result<T, OciError>,
{
    check_only(spec, only)?;
    let mut report = CascadeReport {
        repair,
        mirrors: Vec::new(),
    };
    for mirror in spec
        .mirrors
        .iter()
        .filter(|m| only.is_empty() || only.contains(&m.key))
    {
        let mut entry = MirrorCascade {
            key: mirror.key.clone(),
            repository: mirror.repository.clone(),
            aliases: Vec::new(),
            error: None,
        };
        let fail = MirrorError::new;
        let outcome: Result<Vec<rolling_tags::AliasState>, MirrorError> = async {
            // Rolling tags are the release family's: images and charts keep upstream's tags.
            let FamilySource::Release(source) = mirror.source.family() else {
                return Err(fail(
                    format!(
                        "mirror {}: images and charts keep upstream's tags; cascade applies to release mirrors",
                        mirror.key
                    ),
                    ExitCode::Data,
                ));
            };
            let target =
                open_target(&mirror.target).map_err(|e| fail(e.to_string(), e.exit_code()))?;
            let releases = discover(source, http, work_dir)
                .await
                .map_err(|e| fail(e.to_string(), e.exit_code()))?;
            let tags: BTreeSet<String> = target
                .list_tags(&mirror.repository)
                .await
                .map_err(|e| fail(e.to_string(), e.exit_code()))?
                .into_iter()
                .collect();
            let versions: Vec<(String, bool, String)> = releases
                .iter()
                .filter(|r| r.excluded.is_none())
                .filter_map(|r| {
                    mirrorkit_core::version::tag_for(&r.version).map(|t| (r.version.clone(), r.prerelease, t))
                })
                .collect();
            let mut catalog = rolling_tags::PublishedVersions::new(
                versions
                    .iter()
                    .map(|(v, p, t)| (v.as_str(), *p, t.as_str())),
                &tags,
            );
            rolling_tags::check(&target, &mirror.repository, &mut catalog, repair)
                .await
                .map_err(|e| fail(e, ExitCode::Unavailable))
        }
        .await;
        match outcome {
            Ok(a) => entry.aliases = a,
            Err(e) => entry.error = Some(e),
        }
        report.mirrors.push(entry);
    }
    Ok(report)
}
