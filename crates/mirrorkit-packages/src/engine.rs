//! One package through its ecosystem's [`Registry`]: metadata fetched conditionally, versions
//! selected, every file downloaded into the store and checked against the registry's own digest,
//! placed in the tree, and only then the documents that list them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::http::HttpClient;
use mirrorkit_core::http::etag_cache::EtagCache;
use mirrorkit_core::http::redact::SafeUrl;
use mirrorkit_core::source::packages::PackageVersions;
use mirrorkit_core::store::Store;
use url::Url;

use crate::ecosystem::Registry;
use crate::pin::Pin;
use crate::purl::Ecosystem;
use crate::report::{PackageReport, VersionReport, VersionStatus};
use crate::tree::Tree;
use mirrorkit_core::http::conditional as document;

/// What every package of a run shares.
pub(crate) struct Context<'a> {
    pub(crate) http: &'a HttpClient,
    pub(crate) store: &'a Store,
    pub(crate) cache_dir: &'a Path,
    /// The tree and the URL it is served at; `None` on a dry run (nothing is written).
    pub(crate) tree: Option<(&'a Tree, &'a Url)>,
    /// The tree as it is, to tell what it already publishes (on a dry run too).
    pub(crate) view: Option<&'a Tree>,
    /// Include prereleases when every version is asked for.
    pub(crate) prereleases: bool,
    /// Which versions a PURL without a version takes.
    pub(crate) policy: &'a PackageVersions,
    /// Follow the dependencies of what is mirrored.
    pub(crate) dependencies: bool,
}

/// Which versions of a package are asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    /// Every release (a PURL without a version).
    pub(crate) all: bool,
    /// These versions (PURLs with one).
    pub(crate) exact: BTreeSet<String>,
    /// The highest version satisfying each of these ranges (dependencies of what was mirrored).
    pub(crate) ranges: BTreeSet<String>,
    /// Extras asked for (PyPI `pkg[extra]`): their dependencies are followed too.
    pub(crate) extras: BTreeSet<String>,
    /// What the qualifiers of the PURLs naming a version pin of it.
    pub(crate) pins: BTreeMap<String, Vec<Pin>>,
}

/// A package as asked for: its name, upstream and the versions selected.
#[derive(Clone, Debug)]
pub(crate) struct Wanted {
    pub(crate) ecosystem: Ecosystem,
    pub(crate) name: String,
    pub(crate) upstream: Url,
    pub(crate) versions: Selection,
}

/// A dependency of a mirrored version: a package of the same ecosystem and upstream, and the
/// range it must satisfy.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Dependency {
    pub(crate) name: String,
    /// Empty: any version.
    pub(crate) range: String,
    /// Extras of it that are needed (PyPI).
    pub(crate) extras: BTreeSet<String>,
}

/// Mirror one package; its report, and the dependencies of the versions it holds (published or
/// unchanged) when `ctx.dependencies`.
pub(crate) async fn mirror_package<R: Registry>(
    registry: &R,
    ctx: &Context<'_>,
    wanted: &Wanted,
) -> (PackageReport, Vec<Dependency>) {
    let mut report = PackageReport {
        ecosystem: wanted.ecosystem,
        name: wanted.name.clone(),
        upstream: String::new(),
        versions: Vec::new(),
        error: None,
        failure: None,
    };
    let url = match registry.metadata_url(&wanted.upstream, &wanted.name) {
        Ok(u) => u,
        Err(e) => return (failed(report, e, ExitCode::Usage), Vec::new()),
    };
    report.upstream = SafeUrl::new(&url).to_string();
    let cache = EtagCache::new(ctx.cache_dir, R::CACHE_KIND);
    let bytes = match document::get(ctx.http, &cache, &url, registry.accept()).await {
        Ok(b) => b,
        Err(e) => {
            let code = e.exit_code();
            return (failed(report, e.message, code), Vec::new());
        }
    };
    let meta = match registry.parse(&wanted.name, &url, &bytes) {
        Ok(m) => m,
        Err(e) => {
            let msg = format!("{}: {e}", report.upstream);
            return (failed(report, msg, ExitCode::Data), Vec::new());
        }
    };
    let listed = registry.versions(&meta);
    let mut selected: BTreeSet<String> = wanted.versions.exact.clone();
    if wanted.versions.all {
        let installable: Vec<String> = listed
            .iter()
            .filter(|v| registry.installable(&meta, v))
            .cloned()
            .collect();
        match crate::policy::select(registry, &meta, &installable, ctx.policy, ctx.prereleases) {
            Ok(kept) => selected.extend(kept),
            Err(e) => {
                let msg = format!("{}: {e}", report.upstream);
                return (failed(report, msg, ExitCode::Data), Vec::new());
            }
        }
    }
    for range in &wanted.versions.ranges {
        let picked = registry.satisfying(&meta, range);
        if !picked.is_empty() {
            selected.extend(picked);
        } else {
            report.versions.push(VersionReport {
                version: range.clone(),
                status: VersionStatus::Failed,
                files: 0,
                bytes: 0,
                error: Some(format!(
                    "{} lists no version satisfying {range:?} (a dependency)",
                    report.upstream
                )),
            });
        }
    }
    let published: BTreeSet<String> = ctx
        .view
        .map(|t| registry.published(t, &wanted.name).into_iter().collect())
        .unwrap_or_default();
    let mut done = Vec::new();
    for version in selected {
        let mut v = VersionReport {
            version: version.clone(),
            status: VersionStatus::Planned,
            files: 0,
            bytes: 0,
            error: None,
        };
        if !listed.contains(&version) {
            v.status = VersionStatus::Failed;
            v.error = Some(format!("{} lists no version {version}", report.upstream));
            report.versions.push(v);
            continue;
        }
        let pins = wanted
            .versions
            .pins
            .get(&version)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let files = match registry
            .files(&meta, &version)
            .and_then(|f| crate::pin::apply(f, pins, &version))
        {
            Ok(f) => f,
            Err(e) => {
                v.status = VersionStatus::Failed;
                v.error = Some(e);
                report.versions.push(v);
                continue;
            }
        };
        v.files = files.len();
        let in_view = |f: &crate::ecosystem::RemoteFile| {
            ctx.view
                .is_some_and(|t| t.path(&f.tree_path).is_some_and(|p| p.is_file()))
        };
        let Some((tree, _)) = ctx.tree else {
            v.status = if published.contains(&version) && files.iter().all(in_view) {
                VersionStatus::Unchanged
            } else {
                VersionStatus::Planned
            };
            report.versions.push(v);
            continue;
        };
        if published.contains(&version)
            && files
                .iter()
                .all(|f| tree.path(&f.tree_path).is_some_and(|p| p.is_file()))
        {
            // A checksum the registry's digest could not confirm is checked on what the tree
            // holds, as on a download.
            match files
                .iter()
                .try_for_each(|f| match tree.path(&f.tree_path) {
                    Some(p) => crate::pin::check_also(&p, &f.also, &f.tree_path),
                    None => Ok(()),
                }) {
                Ok(()) => {
                    v.status = VersionStatus::Unchanged;
                    done.push(version);
                }
                Err(e) => {
                    v.status = VersionStatus::Failed;
                    v.error = Some(e);
                }
            }
            report.versions.push(v);
            continue;
        }
        match fetch_and_place(ctx, tree, &files).await {
            Ok(bytes) => {
                v.status = VersionStatus::Published;
                v.bytes = bytes;
                done.push(version);
            }
            Err((msg, code)) => {
                v.status = VersionStatus::Failed;
                v.error = Some(msg);
                report.failure = Some(code);
            }
        }
        report.versions.push(v);
    }
    // A package with nothing verified, now or before, gets no document: it would list nothing.
    if let Some((tree, base_url)) = ctx.tree
        && !(done.is_empty() && published.is_empty())
        && let Err(e) = registry.publish(tree, &wanted.name, &meta, &done, base_url)
    {
        return (failed(report, e, ExitCode::Io), Vec::new());
    }
    if report.failed() && report.failure.is_none() {
        report.failure = Some(ExitCode::ItemFailed);
    }
    let mut dependencies = Vec::new();
    if ctx.dependencies {
        // On a dry run nothing is "done": the planned versions' dependencies are followed.
        let holding: Vec<&String> = if ctx.tree.is_some() {
            done.iter().collect()
        } else {
            report
                .versions
                .iter()
                .filter(|v| v.status != VersionStatus::Failed)
                .map(|v| &v.version)
                .collect()
        };
        let view = ctx.tree.map(|(t, _)| t).or(ctx.view);
        let local = |rel: &str| view.and_then(|t| t.path(rel)).filter(|p| p.is_file());
        for v in holding {
            match registry.dependencies(&meta, v, &wanted.versions.extras, &local) {
                Ok(deps) => dependencies.extend(deps),
                // A dry run downloads nothing: what is not at hand cannot be read.
                Err(e) if ctx.tree.is_none() => {
                    tracing::warn!(package = %wanted.name, version = %v, "dependencies not followed on a dry run: {e}");
                }
                Err(e) => {
                    report.error.get_or_insert(format!(
                        "{} {v}: its dependencies cannot be followed: {e}",
                        wanted.name
                    ));
                    report.failure.get_or_insert(ExitCode::ItemFailed);
                }
            }
        }
        dependencies.sort();
        dependencies.dedup();
    }
    (report, dependencies)
}

/// The report of a package that failed before its metadata was asked for (its upstream's
/// configuration could not be read, say).
pub(crate) fn failed_before_metadata(
    wanted: &Wanted,
    message: &str,
    code: ExitCode,
) -> PackageReport {
    failed(
        PackageReport {
            ecosystem: wanted.ecosystem,
            name: wanted.name.clone(),
            upstream: SafeUrl::new(&wanted.upstream).to_string(),
            versions: Vec::new(),
            error: None,
            failure: None,
        },
        message.to_string(),
        code,
    )
}

fn failed(mut report: PackageReport, message: String, code: ExitCode) -> PackageReport {
    report.error = Some(message);
    report.failure = Some(code);
    report
}

/// Download every file (verified against its digest) and place it in the tree; the bytes placed.
pub(crate) async fn fetch_and_place(
    ctx: &Context<'_>,
    tree: &Tree,
    files: &[crate::ecosystem::RemoteFile],
) -> Result<u64, (String, ExitCode)> {
    let mut bytes = 0;
    for f in files {
        let what = SafeUrl::new(&f.url);
        let Some(digest) = &f.digest else {
            return Err((
                format!(
                    "{what}: the registry gives no SHA-256 or SHA-512 for this file; an \
                     unverifiable file is not mirrored"
                ),
                ExitCode::ItemFailed,
            ));
        };
        let blob = ctx
            .store
            .fetch(ctx.http, &f.url, Some(digest))
            .await
            .map_err(|e| {
                let code = match e.exit_code() {
                    ExitCode::Data => ExitCode::ItemFailed,
                    other => other,
                };
                (e.to_string(), code)
            })?;
        crate::pin::check_also(&blob.path, &f.also, &what.to_string())
            .map_err(|e| (e, ExitCode::ItemFailed))?;
        tree.place(&f.tree_path, &blob.path)
            .map_err(|e| (e, ExitCode::Io))?;
        bytes += blob.size;
    }
    Ok(bytes)
}
