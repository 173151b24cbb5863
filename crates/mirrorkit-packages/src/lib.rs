//! The package family: npm, PyPI and cargo packages named by PURLs or SBOMs, every file checked
//! against the registry's own digest, published as static registries the real clients install
//! from (`npm/`, `pypi/simple/`, `cargo/index/` under one directory).
//!
//! - [`artifact`]: a published tree as an OCI artifact (for bundles), and back.
//! - [`purl`]: package URLs → ecosystem, name, version, qualifiers.
//! - [`sbom`]: CycloneDX (JSON, XML) and SPDX (JSON, tag-value) → PURLs with their places.
//! - [`inputs`]: the PURLs and SBOMs of a run, a bad one refused naming where it was.
//! - `ecosystem/`: the [`ecosystem::Registry`] interface, one file per ecosystem (npm, PyPI, cargo).
//! - `html_links`: the anchors of a PEP 503 "simple" page.
//! - [`listing`]: a whole private registry (`--registry pypi`) listed as PURLs.
//! - `engine`: one package through its registry: metadata, versions, verified files, documents.
//! - `rounds`: the packages asked for, then (with `dependencies`) what they need, round by round.
//! - [`tree`]: the published tree (atomic files, files before documents, locked per run).
//! - [`report`]: what a run did.
//!
//! - `policy`: which versions a PURL without a version takes (range, date, latest N).
//! - `pin`: what a versioned PURL's qualifiers pin (`file_name`, `checksum`, `download_url`).
//! - [`family`]: the `type: packages` source of a spec, run by `sync` and `check`.
//!
//! Built so far: npm, PyPI, cargo and generic packages (a file by URL and checksum, see
//! `ecosystem::generic`), with dependencies followed in each registry ecosystem.

// A library reports through `tracing` and its return values; only the binary prints.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod artifact;
mod ecosystem;
mod engine;
pub mod family;
mod html_links;
pub mod inputs;
pub mod listing;
mod pin;
mod policy;
pub mod purl;
pub mod report;
mod rounds;

pub use rounds::MAX_PACKAGES;
pub mod sbom;
pub mod tree;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::http::HttpClient;
use mirrorkit_core::source::packages::{PackageVersions, PypiTargets};
use mirrorkit_core::store::Store;
use url::Url;

use crate::ecosystem::Registry as _;
use crate::engine::Context;
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
    /// Which versions a PURL without a version takes.
    pub versions: PackageVersions,
    /// Also mirror what the mirrored versions depend on, transitively.
    pub dependencies: bool,
    /// The Pythons and platforms PyPI files and dependency markers are for.
    pub pypi: PypiTargets,
    /// Every package a private upstream of this ecosystem lists (`--registry`), besides
    /// `inputs`.
    pub registry: Option<Ecosystem>,
    /// The most packages dependencies are followed to ([`MAX_PACKAGES`] by default).
    pub max_packages: usize,
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
const BUILT: [Ecosystem; 4] = [
    Ecosystem::Npm,
    Ecosystem::Pypi,
    Ecosystem::Cargo,
    Ecosystem::Generic,
];

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

/// The first PURL naming no version with a qualifier that pins one file (`file_name`,
/// `checksum`, `download_url`), as a sentence: a pin needs a version to apply to.
fn pin_without_version(inputs: &Inputs) -> Option<String> {
    inputs.packages.iter().find_map(|r| {
        let p = &r.package;
        if p.ecosystem == Ecosystem::Generic || p.version.is_some() {
            return None;
        }
        let name = if p.file_name.is_some() {
            "file_name"
        } else if !p.checksums.is_empty() {
            "checksum"
        } else if p.download_url.is_some() {
            "download_url"
        } else {
            return None;
        };
        Some(format!(
            "{} at {}: the `{name}` qualifier pins one file of one version; name the version \
             (@VERSION)",
            p.purl, r.origin
        ))
    })
}

/// Why the version policy's range cannot be read in the ecosystem of a PURL it applies to (one
/// without a version), if it cannot.
pub fn check_policy(inputs: &Inputs, policy: &PackageVersions) -> Option<String> {
    use crate::ecosystem::{cargo::Cargo, npm::Npm, pypi::Pypi};
    let range = policy.range.as_deref()?;
    inputs
        .packages
        .iter()
        .filter(|r| r.package.version.is_none())
        .find_map(|r| {
            let checked = match r.package.ecosystem {
                Ecosystem::Npm => Npm.check_range(range),
                Ecosystem::Pypi => Pypi::default().check_range(range),
                Ecosystem::Cargo => Cargo::default().check_range(range),
                Ecosystem::Generic => Ok(()),
            };
            checked.err().map(|e| {
                format!(
                    "the version range for {} ({}): {e}",
                    r.package.purl, r.origin
                )
            })
        })
}

/// The generic PURLs of `request`, mirrored by their download URLs.
async fn generic_packages(
    request: &MirrorRequest,
    ctx: &Context<'_>,
) -> Vec<report::PackageReport> {
    use futures_util::StreamExt as _;
    futures_util::stream::iter(
        request
            .inputs
            .packages
            .iter()
            .filter(|r| r.package.ecosystem == Ecosystem::Generic),
    )
    .map(|r| ecosystem::generic::mirror(ctx, r))
    .buffered(request.concurrency.max(1))
    .collect()
    .await
}

/// Mirror what `request` names.
pub async fn mirror(
    request: &MirrorRequest,
    http: &HttpClient,
) -> Result<PackagesReport, MirrorError> {
    let started = Instant::now();
    let listed;
    let request = match request.registry {
        None => request,
        Some(ecosystem) => {
            let upstream = request.upstreams.get(&ecosystem);
            if let Some(message) = listing::refusal(ecosystem, upstream) {
                return Err(MirrorError {
                    message,
                    code: ExitCode::Usage,
                });
            }
            let Some(upstream) = upstream else {
                return Err(MirrorError {
                    message: "--registry: no upstream to list".into(),
                    code: ExitCode::Usage,
                });
            };
            let cache = mirrorkit_core::http::etag_cache::EtagCache::new(
                request.work_dir.join("cache"),
                "pypi-root",
            );
            let mut expanded = request.clone();
            expanded
                .inputs
                .packages
                .extend(listing::list(http, &cache, upstream, request.max_packages).await?);
            listed = expanded;
            &listed
        }
    };
    if let Some(message) = pin_without_version(&request.inputs) {
        return Err(MirrorError {
            message,
            code: ExitCode::Usage,
        });
    }
    if let Some(message) = check_policy(&request.inputs, &request.versions) {
        return Err(MirrorError {
            message,
            code: ExitCode::Data,
        });
    }
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
    // On a dry run the tree is only read, to tell what it already publishes.
    let view = if request.dry_run {
        Tree::existing(&request.output)
    } else {
        None
    };
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
        view: tree.as_ref().or(view.as_ref()),
        prereleases: request.prereleases,
        policy: &request.versions,
        dependencies: request.dependencies,
    };
    let mut packages = rounds::run(request, http, &ctx, &cache_dir).await;
    packages.extend(generic_packages(request, &ctx).await);
    if let Some(tree) = &tree
        && packages.iter().any(|p| p.ecosystem == Ecosystem::Pypi)
        && let Err(message) = ecosystem::pypi::Pypi::default().finish(tree)
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
