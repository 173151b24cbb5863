//! Mirroring `type: helm` sources: charts from a classic repository (`index.yaml`), an OCI
//! repository or a chart directory, pushed as Helm OCI artifacts, optionally with the images
//! they use.
//!
//! Per chart version, oldest first: read what the target's tag holds; fetch the chart archive
//! when it is needed (to push it, or to find its images) — a classic repository's archive is
//! verified against the digest in `index.yaml` before anything of it is used; read its
//! Chart.yaml and values; push the chart (blobs, manifest, tag) unless the tag already holds the
//! same chart; then mirror its images. A malformed `index.yaml` or Chart.yaml fails the mirror
//! (exit 65, naming the file); anything else fails only the version.
//!
//! - [`artifact`]: the Helm OCI artifact (config, layers, manifest) and pushing it.
//! - [`chart`]: Chart.yaml, the config JSON, reading a chart archive and its subcharts.
//! - [`discover`]: the images a chart uses.
//! - [`ignore`]: `.helmignore` as Helm reads it.
//! - [`package`]: a chart directory packaged as `helm package` does, reproducibly.
//! - [`repo`]: classic repositories (`index.yaml`, downloads).
//! - [`oci_repo`]: OCI chart repositories.
//! - [`image_copy`]: mirroring one image into the target.
//!
//! `helm template` is not run (there is no helm binary to test it with): images only reachable
//! through templates are missed unless listed in `extra_images` or an annotation.

pub mod artifact;
mod chart;
mod discover;
mod ignore;
mod image_copy;
mod oci_repo;
mod package;
mod repo;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt as _;
use mirrorkit_core::digest::Digest;
use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::http::redact::SafeUrl;
use mirrorkit_core::plan::tag_for;
use mirrorkit_core::report::{ChartImage, MirrorError, MirrorReport, Status, VersionReport};
use mirrorkit_core::source::images::{HelmRepo, HelmSource};
use mirrorkit_core::spec::{Mirror, TargetConfig};
use mirrorkit_core::target::TargetError;
use url::Url;

use crate::images::SyncContext;
use crate::layout::LayoutRoot;
use crate::registry::Registry;
use crate::target::AnyTarget;
use artifact::Blob;
use chart::{ArchiveError, ChartArchive};
use discover::ImageRef;
use oci_repo::OciChart;
use package::Packaged;
use repo::IndexEntry;

/// Images mirrored at once per chart version.
const IMAGE_CONCURRENCY: usize = 4;

/// Which parts of a chart mirror a run does (`--charts-only`, `--images-only`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HelmParts {
    /// Skip the charts themselves.
    pub skip_charts: bool,
    /// Skip the images the charts use.
    pub skip_images: bool,
}

/// A failure that stops the whole mirror.
#[derive(Debug)]
struct Fatal {
    message: String,
    exit_code: ExitCode,
}

impl Fatal {
    fn new(exit_code: ExitCode, message: impl Into<String>) -> Fatal {
        Fatal {
            message: message.into(),
            exit_code,
        }
    }
}

/// Mirror one `helm` source: its chart versions, then (with `images: true`) their images.
pub async fn sync_helm_mirror(
    mirror: &Mirror,
    source: &HelmSource,
    parts: HelmParts,
    ctx: &SyncContext<'_>,
) -> MirrorReport {
    let mut report = MirrorReport {
        key: mirror.key.clone(),
        repository: mirror.repository.clone(),
        target: mirror.target.to_string(),
        error: None,
        warnings: Vec::new(),
        versions: Vec::new(),
    };
    let outcome = async {
        let target = open_target(&mirror.target, ctx)?;
        let temp = tempfile::tempdir()
            .map_err(|e| Fatal::new(ExitCode::Io, format!("temp directory: {e}")))?;
        let mut run = Run {
            mirror,
            source,
            parts,
            ctx,
            target: &target,
            temp: temp.path(),
            images_done: BTreeMap::new(),
        };
        match &source.repo {
            HelmRepo::Http(url) => run.classic(url, &mut report).await,
            HelmRepo::Oci { registry, path } => run.oci(registry, path, &mut report).await,
            HelmRepo::Path(dir) => run.local(dir, &mut report).await,
        }
    }
    .await;
    if let Err(f) = outcome {
        report.error = Some(MirrorError {
            message: f.message,
            exit_code: f.exit_code.code(),
        });
    }
    report
}

/// The mirror's target, as the binary's opener makes it.
fn open_target(target: &TargetConfig, ctx: &SyncContext<'_>) -> Result<AnyTarget, Fatal> {
    match target {
        TargetConfig::Registry { host, insecure } => {
            let insecure = *insecure || ctx.insecure_hosts.iter().any(|h| h == host);
            Registry::new(host, insecure, ctx.http.clone(), ctx.credentials.clone())
                .map(|r| AnyTarget::Registry(Box::new(r)))
                .map_err(|e| Fatal::new(e.exit_code(), e.to_string()))
        }
        TargetConfig::Layout { path } => Ok(AnyTarget::Layout(LayoutRoot::new(path.clone()))),
    }
}

/// Where one chart version comes from.
enum ChartSource {
    /// A classic repository's entry.
    Index(IndexEntry),
    /// A chart directory packaged in this run.
    Packaged(Packaged),
    /// An OCI repository.
    Oci(OciChart),
}

impl ChartSource {
    /// The archive's digest when known before fetching it.
    fn expected_archive(&self) -> Option<&Digest> {
        match self {
            ChartSource::Index(e) => e.digest.as_ref(),
            ChartSource::Packaged(p) => Some(&p.digest),
            ChartSource::Oci(o) => Some(&o.layer.0),
        }
    }
}

/// One mirror's run.
struct Run<'a> {
    mirror: &'a Mirror,
    source: &'a HelmSource,
    parts: HelmParts,
    ctx: &'a SyncContext<'a>,
    target: &'a AnyTarget,
    temp: &'a Path,
    /// Images already handled in this run (several chart versions share most of them).
    images_done: BTreeMap<ImageRef, (Status, Option<String>)>,
}

/// A fresh version report.
fn version_report(version: &str, tag: &str) -> VersionReport {
    VersionReport {
        version: version.to_string(),
        tag: tag.to_string(),
        status: Status::Skipped,
        reason: None,
        index_digest: None,
        duration_ms: 0,
        tags_written: Vec::new(),
        warnings: Vec::new(),
        source_digest: None,
        referrers: Vec::new(),
        images: Vec::new(),
        platforms: Vec::new(),
    }
}

fn failed(mut v: VersionReport, reason: impl Into<String>) -> VersionReport {
    v.status = Status::Failed;
    v.reason = Some(reason.into());
    v
}

impl Run<'_> {
    /// The chart's name: `chart:` (required for repositories).
    fn chart_name(&self) -> &str {
        self.source
            .chart
            .as_deref()
            .unwrap_or(self.mirror.key.as_str())
    }

    /// A classic repository.
    async fn classic(&mut self, url: &Url, report: &mut MirrorReport) -> Result<(), Fatal> {
        let chart = self.chart_name().to_string();
        let entries = repo::chart_entries(self.ctx.http, url, &chart)
            .await
            .map_err(|e| Fatal::new(e.exit_code, e.message))?;
        let mut by_version: BTreeMap<String, IndexEntry> = BTreeMap::new();
        for e in entries {
            // The first entry of a version wins, as Helm resolves it.
            by_version.entry(e.version.clone()).or_insert(e);
        }
        let all: Vec<String> = by_version.keys().cloned().collect();
        let selected = self.select(&all, report);
        for version in selected {
            let Some(entry) = by_version.remove(&version) else {
                continue;
            };
            if self
                .run_version(&version, ChartSource::Index(entry), report)
                .await?
            {
                break;
            }
        }
        Ok(())
    }

    /// An OCI repository.
    async fn oci(
        &mut self,
        host: &str,
        path: &str,
        report: &mut MirrorReport,
    ) -> Result<(), Fatal> {
        let chart = self.chart_name().to_string();
        let repository = if path.is_empty() {
            chart
        } else {
            format!("{path}/{chart}")
        };
        let registry = Arc::new(
            oci_repo::source_registry(host, self.ctx)
                .map_err(|e| Fatal::new(e.exit_code(), e.to_string()))?,
        );
        let tags = registry
            .list_tags(&repository)
            .await
            .map_err(|e| Fatal::new(e.exit_code(), e.to_string()))?;
        let pairs = oci_repo::versions_of(&tags);
        let all: Vec<String> = pairs.iter().map(|(v, _)| v.clone()).collect();
        for version in self.select(&all, report) {
            let Some((_, tag)) = pairs.iter().find(|(v, _)| *v == version) else {
                continue;
            };
            let start = Instant::now();
            let chart = match oci_repo::resolve(&registry, &repository, tag).await {
                Ok(c) => c,
                Err(e) => {
                    let mut v = failed(version_report(&version, tag), e);
                    v.duration_ms = elapsed(start);
                    report.versions.push(v);
                    if self.ctx.fail_fast {
                        break;
                    }
                    continue;
                }
            };
            if self
                .run_version(&version, ChartSource::Oci(chart), report)
                .await?
            {
                break;
            }
        }
        Ok(())
    }

    /// A chart directory: one version, the one its Chart.yaml names.
    async fn local(&mut self, dir: &Path, report: &mut MirrorReport) -> Result<(), Fatal> {
        let meta = package::read_meta(dir).map_err(|e| Fatal::new(e.exit_code, e.message))?;
        if let Some(name) = &self.source.chart
            && *name != meta.name
        {
            return Err(Fatal::new(
                ExitCode::Data,
                format!(
                    "{}: the chart is named {:?}, the spec says `chart: {name}`",
                    dir.join("Chart.yaml").display(),
                    meta.name
                ),
            ));
        }
        if self
            .select(std::slice::from_ref(&meta.version), report)
            .is_empty()
        {
            let tag = tag_for(&meta.version).unwrap_or_else(|| meta.version.clone());
            let mut v = version_report(&meta.version, &tag);
            v.status = Status::Excluded;
            v.reason = Some("not selected by `versions`".into());
            report.versions.push(v);
            return Ok(());
        }
        let (dir, out) = (dir.to_path_buf(), self.temp.to_path_buf());
        let packaged = tokio::task::spawn_blocking(move || package::package_dir(&dir, &out))
            .await
            .map_err(|e| Fatal::new(ExitCode::Io, format!("packaging failed: {e}")))?
            .map_err(|e| Fatal::new(e.exit_code, e.message))?;
        let version = packaged.meta.version.clone();
        self.run_version(&version, ChartSource::Packaged(packaged), report)
            .await?;
        Ok(())
    }

    /// The versions `versions:` selects (lowest first), with a warning when it selects none.
    fn select(&self, all: &[String], report: &mut MirrorReport) -> Vec<String> {
        let selected = self.source.versions.apply(all);
        if selected.is_empty() {
            report.warnings.push(format!(
                "`versions` selects none of the {} version(s) upstream lists",
                all.len()
            ));
        }
        selected
    }

    /// Run one version and add its report. `Ok(true)` when the run should stop (`fail_fast`).
    async fn run_version(
        &mut self,
        version: &str,
        source: ChartSource,
        report: &mut MirrorReport,
    ) -> Result<bool, Fatal> {
        let start = Instant::now();
        let (mut v, fatal) = match tag_for(version) {
            None => {
                let mut v = version_report(version, version);
                v.status = Status::Excluded;
                v.reason = Some(format!("{version:?} cannot be written as an OCI tag"));
                (v, None)
            }
            Some(tag) => {
                let mut v = version_report(version, &tag);
                let fatal = self.version(&mut v, &tag, source).await;
                if let Some(f) = &fatal {
                    v.status = Status::Failed;
                    v.reason = Some(f.message.clone());
                }
                (v, fatal)
            }
        };
        v.duration_ms = elapsed(start);
        let stop = v.status == Status::Failed && self.ctx.fail_fast;
        report.versions.push(v);
        match fatal {
            Some(f) => Err(f),
            None => Ok(stop),
        }
    }

    /// Fill `v` for one version. A returned [`Fatal`] fails the whole mirror.
    async fn version(
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
        // 2. The archive, when something needs it (a dry run only reads a local one).
        let need_archive = (push_chart || discover)
            && (!ctx.dry_run || matches!(source, ChartSource::Packaged(_)));
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
            let found = match (&chart, discover) {
                (Some(c), true) => discover::chart_images(c, &self.source.extra_images),
                _ => {
                    if discover && ctx.dry_run {
                        v.warnings.push(
                            "a dry run does not download the chart: only `extra_images` are listed"
                                .into(),
                        );
                    }
                    Ok(extra_only(&self.source.extra_images))
                }
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
                let (digest, size) =
                    repo::download(self.ctx.http, url, &dest, chart::MAX_CHART_BYTES)
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
            let digest = oci_repo::copy_chart(o, &self.mirror.target, repository, self.ctx).await?;
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
            .map_err(|e: TargetError| e.to_string())?;
        for d in artifact.blob_digests() {
            self.ctx.known_blobs.record(&d, repository);
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
        let Some(bytes) = repo::fetch_bytes(self.ctx.http, &prov_url, repo::MAX_PROV_BYTES)
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
                    found_in,
                    status,
                    reason,
                }
            })
            .collect()
    }
}

/// Only the spec's `extra_images`.
fn extra_only(extra: &[String]) -> discover::Found {
    let mut found = discover::Found::default();
    for image in extra {
        found.add(image, "extra_images");
    }
    found
}

fn elapsed(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}
