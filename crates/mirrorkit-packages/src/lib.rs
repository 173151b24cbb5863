//! The package family: npm, PyPI and cargo packages named by PURLs or SBOMs, every file checked
//! against the registry's own digest, published as static registries the real clients install
//! from (`npm/`, `pypi/simple/`, `cargo/index/` under one directory).
//!
//! - [`purl`]: package URLs → ecosystem, name, version, qualifiers.
//! - [`sbom`]: CycloneDX (JSON, XML) and SPDX (JSON, tag-value) → PURLs with their places.
//! - [`inputs`]: the PURLs and SBOMs of a run, a bad one refused naming where it was.
//! - `ecosystem/`: the [`ecosystem::Registry`] interface, one file per ecosystem (npm, PyPI, cargo).
//! - `html_links`: the anchors of a PEP 503 "simple" page.
//! - `engine`: one package through its registry: metadata, versions, verified files, documents.
//! - [`tree`]: the published tree (atomic files, files before documents, locked per run).
//! - [`report`]: what a run did.
//!
//! Built so far: npm, PyPI and cargo. Generic packages are refused up front with a sentence
//! saying so (see [`not_yet_mirrored`]); dependency resolution, version policies and the spec
//! source come next.

// A library reports through `tracing` and its return values; only the binary prints.
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod document;
mod ecosystem;
mod engine;
mod html_links;
pub mod inputs;
pub mod purl;
pub mod report;
pub mod sbom;
pub mod tree;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use futures_util::StreamExt as _;
use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::http::HttpClient;
use mirrorkit_core::store::Store;
use url::Url;

use crate::ecosystem::Registry as _;
use crate::engine::{Context, Wanted};
use crate::inputs::Inputs;
use crate::purl::Ecosystem;
use crate::report::PackagesReport;
use crate::tree::Tree;

/// A `mirror` run.
#[derive(Clone, Debug)]
pub struct MirrorRequest {
    /// What to mirror.
    pub inputs: Inputs,
    /// Upstream per ecosystem (the public registries when absent).
    pub upstreams: BTreeMap<Ecosystem, Url>,
    /// The published tree's directory.
    pub output: PathBuf,
    /// Where the tree is served (tarball URLs in the documents point under it); required
    /// unless `dry_run`.
    pub base_url: Option<Url>,
    /// Fetch and write nothing; say what would be done.
    pub dry_run: bool,
    /// Packages mirrored at once.
    pub concurrency: usize,
    /// Include prereleases when every version of a package is asked for.
    pub prereleases: bool,
    /// The work dir (store and metadata cache).
    pub work_dir: PathBuf,
}

/// A run that could not start.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct MirrorError {
    /// What is wrong.
    pub message: String,
    /// Its exit code.
    pub code: ExitCode,
}

impl mirrorkit_core::exit::HasExitCode for MirrorError {
    fn exit_code(&self) -> ExitCode {
        self.code
    }
}

/// The ecosystems mirrored so far.
const BUILT: [Ecosystem; 3] = [Ecosystem::Npm, Ecosystem::Pypi, Ecosystem::Cargo];

/// The ecosystems whose packages are refused because their mirror is not built yet, with the
/// sentence saying so; `None` when every requested package can be mirrored.
pub fn not_yet_mirrored(inputs: &Inputs) -> Option<String> {
    let missing: BTreeSet<&str> = inputs
        .packages
        .iter()
        .filter(|r| !BUILT.contains(&r.package.ecosystem))
        .map(|r| r.package.ecosystem.name())
        .collect();
    (!missing.is_empty()).then(|| {
        let first = inputs
            .packages
            .iter()
            .find(|r| !BUILT.contains(&r.package.ecosystem))
            .map(|r| format!(" ({} at {})", r.package.purl, r.origin))
            .unwrap_or_default();
        format!(
            "{} packages are not mirrored yet{first}: this version of mirrorkit mirrors npm, \
             PyPI and cargo packages",
            missing.into_iter().collect::<Vec<_>>().join(", ")
        )
    })
}

/// Mirror what `request` names.
pub async fn mirror(
    request: &MirrorRequest,
    http: &HttpClient,
) -> Result<PackagesReport, MirrorError> {
    let started = Instant::now();
    if let Some(message) = not_yet_mirrored(&request.inputs) {
        return Err(MirrorError {
            message,
            code: ExitCode::Usage,
        });
    }
    let store = Store::open(&request.work_dir).map_err(|e| MirrorError {
        message: e.to_string(),
        code: ExitCode::Io,
    })?;
    let cache_dir = request.work_dir.join("cache");
    let (tree, base_url) = match (&request.base_url, request.dry_run) {
        (_, true) => (None, None),
        (Some(base_url), false) => (
            Some(
                Tree::open(&request.output)
                    .await
                    .map_err(|message| MirrorError {
                        message,
                        code: ExitCode::Io,
                    })?,
            ),
            Some(base_url),
        ),
        (None, false) => {
            return Err(MirrorError {
                message: "--base-url: say where the tree will be served (http://HOST/PATH/); \
                          its documents point their files under it"
                    .into(),
                code: ExitCode::Usage,
            });
        }
    };
    let ctx = Context {
        http,
        store: &store,
        cache_dir: &cache_dir,
        tree: tree.as_ref().zip(base_url),
        prereleases: request.prereleases,
    };
    let wanted = group(request);
    let cargo_upstreams: Vec<Url> = wanted
        .iter()
        .filter(|w| w.ecosystem == Ecosystem::Cargo)
        .map(|w| w.upstream.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (cargo, cargo_failed) = ecosystem::cargo::Cargo::read_configs(
        http,
        &mirrorkit_core::http::etag_cache::EtagCache::new(&cache_dir, "cargo-config"),
        &cargo_upstreams,
    )
    .await;
    let mut packages: Vec<_> = futures_util::stream::iter(wanted.iter())
        .map(|w| async {
            match w.ecosystem {
                Ecosystem::Npm => engine::mirror_package(&ecosystem::npm::Npm, &ctx, w).await,
                Ecosystem::Pypi => engine::mirror_package(&ecosystem::pypi::Pypi, &ctx, w).await,
                Ecosystem::Cargo => match cargo_failed.get(w.upstream.as_str()) {
                    Some((message, code)) => engine::failed_before_metadata(w, message, *code),
                    None => engine::mirror_package(&cargo, &ctx, w).await,
                },
                // Refused above by `not_yet_mirrored`.
                Ecosystem::Generic => engine::failed_before_metadata(
                    w,
                    "generic packages are not mirrored yet",
                    ExitCode::Usage,
                ),
            }
        })
        .buffer_unordered(request.concurrency.max(1))
        .collect()
        .await;
    packages.sort_by(|a, b| (a.ecosystem, &a.name).cmp(&(b.ecosystem, &b.name)));
    if let Some(tree) = &tree
        && wanted.iter().any(|w| w.ecosystem == Ecosystem::Pypi)
        && let Err(message) = ecosystem::pypi::Pypi.finish(tree)
    {
        return Err(MirrorError {
            message,
            code: ExitCode::Io,
        });
    }
    let mut report = PackagesReport {
        dry_run: request.dry_run,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        output: request.output.clone(),
        skipped_subjects: request.inputs.subjects.clone(),
        packages,
        summary: Default::default(),
        exit_code: ExitCode::Success,
    };
    report.finish();
    Ok(report)
}

/// The requested packages grouped by (ecosystem, upstream, name): the versions named, or every
/// version when one of its PURLs names none.
fn group(request: &MirrorRequest) -> Vec<Wanted> {
    let mut by: BTreeMap<(Ecosystem, String, String), Option<BTreeSet<String>>> = BTreeMap::new();
    for r in &request.inputs.packages {
        let p = &r.package;
        let upstream = p
            .repository_url
            .clone()
            .or_else(|| request.upstreams.get(&p.ecosystem).cloned())
            .unwrap_or_else(|| default_upstream(p.ecosystem));
        let entry = by
            .entry((p.ecosystem, upstream.to_string(), p.name.clone()))
            .or_insert_with(|| Some(BTreeSet::new()));
        match (&p.version, entry.as_mut()) {
            (Some(v), Some(set)) => {
                set.insert(v.clone());
            }
            (None, _) => *entry = None,
            (Some(_), None) => {}
        }
    }
    by.into_iter()
        .filter_map(|((ecosystem, upstream, name), versions)| {
            Some(Wanted {
                ecosystem,
                name,
                upstream: Url::parse(&upstream).ok()?,
                versions,
            })
        })
        .collect()
}

/// The public registry of `ecosystem`.
fn default_upstream(ecosystem: Ecosystem) -> Url {
    let s = match ecosystem {
        Ecosystem::Npm => ecosystem::npm::Npm::DEFAULT_UPSTREAM,
        Ecosystem::Pypi => ecosystem::pypi::Pypi::DEFAULT_UPSTREAM,
        Ecosystem::Cargo => ecosystem::cargo::Cargo::DEFAULT_UPSTREAM,
        Ecosystem::Generic => "https://invalid.invalid/",
    };
    Url::parse(s).unwrap_or_else(|_| unreachable!("a constant URL"))
}
