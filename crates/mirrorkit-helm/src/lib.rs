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
//! - [`version`]: one chart version, from what the target holds to its report.
//!
//! - [`template`]: images a chart renders, from the real `helm template` when a helm binary is
//!   there; without one, images only reachable through templates are missed unless listed in
//!   `extra_images` or an annotation.

// A library reports through `tracing` and its return values; only the binary prints.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod artifact;
mod chart;
mod discover;
mod ignore;
mod image_copy;
mod image_ref;
mod images_cache;
mod oci_repo;
mod package;
mod repo;
mod template;
mod version;

/// The parsers of what a chart repository serves, reachable from the fuzz targets (`fuzz/`); not
/// an API.
#[doc(hidden)]
pub mod fuzzing {
    /// Parse `index.yaml` served at `url` and resolve the entries of `chart`: (version, URLs) of
    /// each entry, or why the document was refused.
    pub fn index_entries(
        bytes: &[u8],
        url: &url::Url,
        chart: &str,
    ) -> Result<Vec<(String, Vec<url::Url>)>, String> {
        crate::repo::parse_index(bytes, url, chart)
            .map(|list| list.into_iter().map(|e| (e.version, e.urls)).collect())
    }

    /// Parse and check a `Chart.yaml`: its (name, version).
    pub fn chart_yaml(bytes: &[u8]) -> Result<(String, String), String> {
        crate::chart::ChartMeta::parse(bytes).map(|m| (m.name, m.version))
    }
}

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use mirrorkit_core::digest::Digest;
use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::family::{Family, RunContext};
use mirrorkit_core::report::{MirrorError, MirrorReport, Status, VersionReport};
use mirrorkit_core::source::images::{ChartVersions, HelmRepo, HelmSource};
use mirrorkit_core::spec::Mirror;
use mirrorkit_core::version::tag_for;
use url::Url;

use image_ref::ImageRef;
use mirrorkit_images::SyncContext;
use mirrorkit_oci::target::AnyTarget;
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

/// The chart family: `type: helm` mirrors, and the images their charts use. One per run,
/// sharing what it learns about the target's blobs with the image family.
pub struct Charts<'a> {
    /// Blobs known to be in target repositories during this run.
    pub known_blobs: &'a mirrorkit_oci::copy::known_blobs::KnownBlobs,
    /// `--charts-only` / `--images-only`.
    pub parts: HelmParts,
}

impl Family for Charts<'_> {
    type Source<'s> = &'s HelmSource;

    async fn sync(
        &self,
        mirror: &Mirror,
        source: Self::Source<'_>,
        ctx: &RunContext<'_>,
    ) -> MirrorReport {
        let run = SyncContext::of_run(ctx, self.known_blobs);
        sync_helm_mirror(mirror, source, self.parts, &run).await
    }
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
    let mut report = MirrorReport::for_mirror(mirror);
    let outcome = async {
        let target = AnyTarget::open(&mirror.target, ctx.access())
            .map_err(|e| Fatal::new(e.exit_code(), e.to_string()))?;
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
            repo_auth: match &source.repo {
                HelmRepo::Http(url) => {
                    repo::RepoAuth::for_repo(url, ctx.credentials, ctx.insecure_hosts)
                }
                _ => repo::RepoAuth::default(),
            },
        };
        match &source.repo {
            HelmRepo::Http(url) => run.classic(url, &mut report).await,
            HelmRepo::Oci { registry, path } => run.oci(registry, path, &mut report).await,
            HelmRepo::Path(dir) => run.local(dir, &mut report).await,
        }
    }
    .await;
    if let Err(f) = outcome {
        report.error = Some(MirrorError::new(f.message, f.exit_code));
    }
    report
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
    /// Credentials for a classic repository.
    repo_auth: repo::RepoAuth,
}

/// A fresh version report.
fn version_report(version: &str, tag: &str) -> VersionReport {
    VersionReport::new(version, tag, Status::Skipped)
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
        let cache = self.ctx.cache_dir.map(|d| {
            mirrorkit_core::http::etag_cache::EtagCache::new(d.join("helm"), "helm-index")
        });
        let entries =
            repo::chart_entries(self.ctx.http, &self.repo_auth, cache.as_ref(), url, &chart)
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
            v.reason = Some("not selected by `versions`, --version or --latest".into());
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

    /// The versions `versions:` (then `--version`/`--latest`) selects, lowest first, with a
    /// warning when it selects none.
    fn select(&self, all: &[String], report: &mut MirrorReport) -> Vec<String> {
        let filter = self.ctx.filter;
        if !filter.versions.is_empty() {
            // `--version` names the chart versions to mirror, whatever `versions:` lists (as
            // lazyoci's `--version` overrides its config); `--latest` then keeps the highest.
            for missing in filter.versions.iter().filter(|v| !all.contains(v)) {
                report.warnings.push(format!(
                    "--version {missing}: upstream lists no such version ({} listed)",
                    all.len()
                ));
            }
            let named = ChartVersions::List(filter.versions.clone()).apply(all);
            return mirrorkit_core::family::VersionFilter {
                versions: Vec::new(),
                latest: filter.latest,
            }
            .narrow(named);
        }
        let by_spec = self.source.versions.apply(all);
        let spec_selected = by_spec.len();
        let selected = self.ctx.filter.narrow(by_spec);
        if selected.is_empty() {
            report.warnings.push(if spec_selected == 0 {
                format!(
                    "`versions` selects none of the {} version(s) upstream lists",
                    all.len()
                )
            } else {
                format!(
                    "--version/--latest select none of the {spec_selected} version(s) `versions` selects"
                )
            });
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
}

fn elapsed(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The images the charts of a helm mirror use, as they are filed in the mirror's target: one
/// `(repository, tag)` per image — the tag it was mirrored under, or for a digest-pinned image
/// its digest written as `sha256-<hex>` with the digest to read it by. Read from the chart
/// versions already in the target (their content layer), so a bundle export needs no upstream.
pub async fn chart_images_in_target(
    mirror: &Mirror,
    source: &HelmSource,
    target: &mirrorkit_oci::target::AnyTarget,
) -> Result<Vec<(String, String, Option<mirrorkit_core::digest::Digest>)>, String> {
    use futures_util::StreamExt;
    use mirrorkit_oci::target::Target;
    if !source.images && source.extra_images.is_empty() {
        return Ok(Vec::new());
    }
    let repo = &mirror.repository;
    let mut out = std::collections::BTreeSet::new();
    for tag in target.list_tags(repo).await.map_err(|e| e.to_string())? {
        let Some((_, bytes)) = target
            .fetch_manifest(repo, &tag)
            .await
            .map_err(|e| e.to_string())?
        else {
            continue;
        };
        let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        let layer = manifest["layers"].as_array().and_then(|layers| {
            layers
                .iter()
                .find(|l| l["mediaType"] == artifact::HELM_CHART)
        });
        let Some(digest) = layer
            .and_then(|l| l["digest"].as_str())
            .and_then(|d| d.parse::<mirrorkit_core::digest::Digest>().ok())
        else {
            continue; // not a chart (a signature, an index)
        };
        let store = target.store(repo).map_err(|e| e.to_string())?;
        let mut stream = store.open_blob(&digest).await.map_err(|e| e.to_string())?;
        let temp = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
        {
            use std::io::Write as _;
            let mut file = temp.reopen().map_err(|e| e.to_string())?;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                file.write_all(&chunk).map_err(|e| e.to_string())?;
            }
        }
        let path = temp.path().to_path_buf();
        let archive = tokio::task::spawn_blocking(move || chart::read_archive(&path))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{repo}:{tag}: {e}"))?;
        let found = discover::chart_images(&archive, temp.path(), source)
            .await
            .map_err(|e| format!("{repo}:{tag}: {e}"))?;
        for image in found.images.keys() {
            let repository = image_copy::target_repository(image, mirror);
            match (&image.tag, &image.digest) {
                (Some(t), _) => {
                    out.insert((repository, t.clone(), None));
                }
                (None, Some(d)) => {
                    out.insert((repository, d.to_string().replace(':', "-"), Some(d.clone())));
                }
                (None, None) => {}
            }
        }
    }
    Ok(out.into_iter().collect())
}
