//! A run's packages, round by round: first what was asked for (PURLs and SBOMs grouped by
//! package), then, with `dependencies`, the packages the mirrored versions need (the highest
//! version satisfying each range, as npm and cargo pick them), until a round adds nothing new.
//! Each round mirrors its packages concurrently; a package met in several rounds has its
//! reports merged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use futures_util::StreamExt as _;
use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::http::HttpClient;
use mirrorkit_core::http::etag_cache::EtagCache;
use mirrorkit_core::http::redact::SafeUrl;
use url::Url;

use crate::MirrorRequest;
use crate::ecosystem::Registry as _;
use crate::ecosystem::{cargo::Cargo, npm::Npm, pypi::Pypi};
use crate::engine::{self, Context, Dependency, Selection, Wanted};
use crate::purl::Ecosystem;
use crate::report::PackageReport;

/// (ecosystem, upstream URL, name).
type Key = (Ecosystem, String, String);

/// The most packages one run follows dependencies to. A large real project needs a few
/// thousand; an upstream whose metadata names ever new dependencies (a hostile or broken one)
/// would otherwise keep a run crawling forever. Past it the run stops following and fails,
/// naming the package it stopped at.
pub const MAX_PACKAGES: usize = 20_000;

/// Every package of the run, sorted by ecosystem and name.
pub(crate) async fn run(
    request: &MirrorRequest,
    http: &HttpClient,
    ctx: &Context<'_>,
    cache_dir: &Path,
) -> Vec<PackageReport> {
    let mut next = group(request);
    // What every round has asked for so far, so a dependency is followed once.
    let mut asked: BTreeMap<Key, Selection> = next.clone();
    // The cargo registry (with every upstream's `dl`) and the upstreams whose config failed.
    let mut cargo = (
        Cargo {
            dl: BTreeMap::new(),
        },
        BTreeMap::new(),
    );
    let mut cargo_read: BTreeSet<Url> = BTreeSet::new();
    let pypi = Pypi {
        targets: crate::ecosystem::pypi::targets::Targets::new(&request.pypi),
    };
    let mut reports: BTreeMap<Key, PackageReport> = BTreeMap::new();
    let max_packages = request.max_packages;
    // The first dependency left out because the run reached `max_packages`, and who needed it.
    let mut stopped_at: Option<(Key, String)> = None;
    while !next.is_empty() {
        // Cargo upstreams' config.json, read once each.
        let new_cargo: Vec<Url> = next
            .keys()
            .filter(|(e, _, _)| *e == Ecosystem::Cargo)
            .filter_map(|(_, u, _)| Url::parse(u).ok())
            .filter(|u| !cargo_read.contains(u))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !new_cargo.is_empty() {
            let cache = EtagCache::new(cache_dir, "cargo-config");
            let (read, failed) = Cargo::read_configs(http, &cache, &new_cargo).await;
            cargo.0.dl.extend(read.dl);
            cargo.1.extend(failed);
            cargo_read.extend(new_cargo);
        }
        let wanted: Vec<Wanted> = next
            .iter()
            .filter_map(|((ecosystem, upstream, name), versions)| {
                Some(Wanted {
                    ecosystem: *ecosystem,
                    name: name.clone(),
                    upstream: Url::parse(upstream).ok()?,
                    versions: versions.clone(),
                })
            })
            .collect();
        let results: Vec<(Key, PackageReport, Vec<Dependency>)> =
            futures_util::stream::iter(wanted.iter())
                .map(|w| async {
                    let (report, deps) = match w.ecosystem {
                        Ecosystem::Npm => engine::mirror_package(&Npm, ctx, w).await,
                        Ecosystem::Pypi => engine::mirror_package(&pypi, ctx, w).await,
                        Ecosystem::Cargo => match cargo.1.get(w.upstream.as_str()) {
                            Some((message, code)) => (
                                engine::failed_before_metadata(w, message, *code),
                                Vec::new(),
                            ),
                            None => engine::mirror_package(&cargo.0, ctx, w).await,
                        },
                        // Left out by `group`: mirrored by `ecosystem::generic`.
                        Ecosystem::Generic => (
                            engine::failed_before_metadata(
                                w,
                                "a generic package has no registry to read",
                                ExitCode::Usage,
                            ),
                            Vec::new(),
                        ),
                    };
                    (
                        (w.ecosystem, w.upstream.to_string(), w.name.clone()),
                        report,
                        deps,
                    )
                })
                .buffer_unordered(request.concurrency.max(1))
                .collect()
                .await;
        next = BTreeMap::new();
        for (key, report, deps) in results {
            for d in deps {
                let name = normalise(key.0, &d.name);
                if !crate::purl::is_valid_name(key.0, &name) {
                    tracing::warn!(package = %key.2, dependency = %d.name, "not a package name; left out");
                    continue;
                }
                let dep_key = (key.0, key.1.clone(), name);
                if !asked.contains_key(&dep_key) && asked.len() >= max_packages {
                    stopped_at.get_or_insert((dep_key, key.2.clone()));
                    continue;
                }
                let seen = asked.entry(dep_key.clone()).or_default();
                let new_extras = !d.extras.is_subset(&seen.extras);
                if (seen.all || seen.ranges.contains(&d.range)) && !new_extras {
                    continue;
                }
                seen.ranges.insert(d.range.clone());
                seen.extras.extend(d.extras.iter().cloned());
                // Asked again with every extra so far: the versions it holds are re-read
                // (unchanged, nothing downloaded) for what the new extras need.
                let entry = next.entry(dep_key).or_default();
                entry.ranges.insert(d.range);
                entry.extras.clone_from(&seen.extras);
            }
            merge(&mut reports, key, report);
        }
    }
    if let Some(((ecosystem, upstream, name), needed_by)) = stopped_at {
        let message = format!(
            "dependencies were followed to {max_packages} packages and no further: {name} (needed \
             by {needed_by}) and what it needs are not mirrored; name fewer packages per run, or \
             check the upstream's metadata"
        );
        let report = PackageReport {
            ecosystem,
            name: name.clone(),
            upstream: Url::parse(&upstream)
                .map(|u| SafeUrl::new(&u).to_string())
                .unwrap_or_default(),
            versions: Vec::new(),
            error: Some(message),
            failure: Some(ExitCode::ItemFailed),
        };
        reports.insert((ecosystem, upstream, name), report);
    }
    reports.into_values().collect()
}

/// A dependency's name as its registry spells it.
fn normalise(ecosystem: Ecosystem, name: &str) -> String {
    match ecosystem {
        Ecosystem::Pypi => crate::purl::normalise_pypi(name),
        _ => name.to_string(),
    }
}

/// Add a round's report of a package to what earlier rounds said about it.
fn merge(reports: &mut BTreeMap<Key, PackageReport>, key: Key, report: PackageReport) {
    match reports.get_mut(&key) {
        None => {
            reports.insert(key, report);
        }
        Some(earlier) => {
            for v in report.versions {
                if !earlier.versions.iter().any(|e| e.version == v.version) {
                    earlier.versions.push(v);
                }
            }
            earlier.versions.sort_by(|a, b| a.version.cmp(&b.version));
            if earlier.error.is_none() {
                earlier.error = report.error;
            }
            if earlier.failure.is_none() {
                earlier.failure = report.failure;
            }
        }
    }
}

/// The requested packages grouped by (ecosystem, upstream, name): the versions named, and every
/// release when one of its PURLs names none.
fn group(request: &MirrorRequest) -> BTreeMap<Key, Selection> {
    let mut by: BTreeMap<Key, Selection> = BTreeMap::new();
    // Generic packages have no registry: `ecosystem::generic` mirrors them by their URL.
    for r in request
        .inputs
        .packages
        .iter()
        .filter(|r| r.package.ecosystem != Ecosystem::Generic)
    {
        let p = &r.package;
        let upstream = p
            .repository_url
            .clone()
            .or_else(|| request.upstreams.get(&p.ecosystem).cloned())
            .or_else(|| default_upstream(p.ecosystem));
        let Some(upstream) = upstream else { continue };
        let entry = by
            .entry((p.ecosystem, upstream.to_string(), p.name.clone()))
            .or_default();
        match &p.version {
            Some(v) => {
                entry.exact.insert(v.clone());
                let pin = crate::pin::Pin {
                    file_name: p.file_name.clone(),
                    checksums: p.checksums.clone(),
                    download_url: p.download_url.clone(),
                    origin: format!("{} ({})", p.purl, r.origin),
                };
                // An empty pin too: that PURL asks for every file of the version.
                entry.pins.entry(v.clone()).or_default().push(pin);
            }
            None => entry.all = true,
        }
    }
    by
}

/// The public registry of `ecosystem`.
fn default_upstream(ecosystem: Ecosystem) -> Option<Url> {
    let s = match ecosystem {
        Ecosystem::Npm => Npm::DEFAULT_UPSTREAM,
        Ecosystem::Pypi => Pypi::DEFAULT_UPSTREAM,
        Ecosystem::Cargo => Cargo::DEFAULT_UPSTREAM,
        Ecosystem::Generic => return None,
    };
    Url::parse(s).ok()
}
