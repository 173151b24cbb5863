//! One apt mirror: for every suite, `InRelease` fetched (conditionally) and its signature
//! checked against the keyring (or `Release` with `Release.gpg`), `Valid-Until` honoured, the
//! indexes of the chosen components and architectures checked by size and SHA-256 (SHA-512
//! too when listed), and every pool file their `Packages` name checked against its SHA-256.
//! Everything lands in the content-addressed pool and is linked into a new tree that is
//! switched in only when all of it verified.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use futures_util::StreamExt as _;
use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::http::conditional;
use mirrorkit_core::http::etag_cache::EtagCache;
use mirrorkit_core::http::redact::SafeUrl;
use mirrorkit_core::source::apt::AptSource;
use url::Url;

use crate::fetch::{
    Context, Failure, FetchError, SuiteOutcome, fail, fetch_verified, forget, sha256_file,
    sha512_file,
};
use crate::packages_index::{self, PoolFile};
use crate::release::Release;
use crate::root::{Root, Staging};
use crate::signature::Keyring;

/// Pool files downloaded at once.
const DOWNLOADS_AT_ONCE: usize = 8;

/// The signed release of one suite, as fetched and verified.
struct Signed {
    /// The files to keep in `dists/<suite>/` (`InRelease`, or `Release` and `Release.gpg`).
    documents: Vec<(&'static str, Vec<u8>)>,
    release: Release,
}

/// `dists/<suite>/<name>` under the source URL.
fn dists_url(source: &AptSource, suite: &str, name: &str) -> Result<Url, Failure> {
    crate::fetch::under(&source.url, &format!("dists/{suite}/{name}"))
        .map_err(|e| fail(format!("{suite}: {name}"), e, ExitCode::ItemFailed))
}

/// Fetch and verify the suite's release: `InRelease`, else `Release` + `Release.gpg`.
async fn signed_release(
    ctx: &Context<'_>,
    source: &AptSource,
    keyring: &Keyring,
    suite: &str,
) -> Result<Signed, Failure> {
    let cache = EtagCache::new(ctx.cache_dir, "apt-release");
    let url = dists_url(source, suite, "InRelease")?;
    let what = format!("{suite}: {}", SafeUrl::new(&url));
    let (documents, text) = match conditional::get(ctx.http, &cache, &url, "*/*").await {
        Ok(bytes) => {
            let verified = keyring
                .verify_clearsigned(&bytes)
                .map_err(|e| fail(&what, format!("signature: {e}"), ExitCode::ItemFailed))?;
            tracing::debug!(suite, signer = %verified.signer, "InRelease verified");
            (vec![("InRelease", bytes)], verified.text)
        }
        Err(e) if e.code == ExitCode::ItemFailed => {
            // No InRelease (404): the older pair, Release and its detached signature.
            let release_url = dists_url(source, suite, "Release")?;
            let sig_url = dists_url(source, suite, "Release.gpg")?;
            let get = async |u: &Url| {
                conditional::get(ctx.http, &cache, u, "*/*")
                    .await
                    .map_err(|e| fail(format!("{suite}: {}", SafeUrl::new(u)), e.message, e.code))
            };
            let release = get(&release_url).await?;
            let signature = get(&sig_url).await?;
            let signer = keyring.verify_detached(&release, &signature).map_err(|e| {
                fail(
                    format!("{suite}: {}", SafeUrl::new(&sig_url)),
                    format!("signature of Release: {e}"),
                    ExitCode::ItemFailed,
                )
            })?;
            tracing::debug!(suite, %signer, "Release verified");
            let text = String::from_utf8(release.clone()).map_err(|_| {
                fail(
                    format!("{suite}: Release"),
                    "not UTF-8 text",
                    ExitCode::ItemFailed,
                )
            })?;
            (vec![("Release", release), ("Release.gpg", signature)], text)
        }
        Err(e) => return Err(fail(&what, e.message, e.code)),
    };
    let release = Release::parse(&text)
        .map_err(|e| fail(format!("{suite}: Release"), e, ExitCode::ItemFailed))?;
    // Checked before anything else, the "unchanged" shortcut included: a replayed, expired
    // Release is refused even when it is the one the tree already holds.
    if !source.ignore_valid_until
        && let Some(until) = release.valid_until
        && until < time::OffsetDateTime::now_utc()
    {
        return Err(fail(
            format!("{suite}: Release"),
            format!(
                "expired: Valid-Until is {until} (a stale or replayed repository; \
                 ignore_valid_until: true accepts it)"
            ),
            ExitCode::ItemFailed,
        ));
    }
    Ok(Signed { documents, release })
}

/// What the tree of `source` is built from besides upstream: a change rebuilds it.
fn settings_of(source: &AptSource, keyring: &Keyring) -> String {
    let regexes = |r: &[regex::Regex]| r.iter().map(|r| r.as_str().to_string()).collect::<Vec<_>>();
    format!(
        "apt url={} suites={:?} components={:?} architectures={:?} include={:?} exclude={:?} extras={:?} keyring={}",
        mirrorkit_core::http::redact::SafeUrl::new(&source.url),
        source.suites,
        source.components,
        source.architectures,
        regexes(&source.include),
        regexes(&source.exclude),
        source.extras,
        keyring.identity(),
    )
}

/// The compression suffix of an index path, and the path without it.
fn stem(path: &str) -> (&str, &str) {
    for ext in [".xz", ".gz", ".bz2", ".lzma", ".zst"] {
        if let Some(s) = path.strip_suffix(ext) {
            return (s, ext);
        }
    }
    (path, "")
}

/// What an index of a suite is to the mirror.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IndexKind {
    /// A `Packages` index: read for the `.deb`s (or `.udeb`s) it names.
    Packages,
    /// A `Sources` index: read for the source files it names.
    Sources,
    /// Copied and verified, not read (`Release` of a component, translations, contents,
    /// AppStream).
    Copied,
}

/// The indexes (without compression suffix) `source` keeps of one suite, and what each is.
fn wanted_bases(source: &AptSource) -> BTreeMap<String, IndexKind> {
    use IndexKind::*;
    let x = &source.extras;
    let mut out = BTreeMap::new();
    let mut add = |path: String, kind| {
        out.insert(path, kind);
    };
    for c in &source.components {
        for a in &source.architectures {
            add(format!("{c}/binary-{a}/Packages"), Packages);
            add(format!("{c}/binary-{a}/Release"), Copied);
            if x.udebs {
                add(
                    format!("{c}/debian-installer/binary-{a}/Packages"),
                    Packages,
                );
                add(format!("{c}/debian-installer/binary-{a}/Release"), Copied);
            }
            if x.contents {
                add(format!("{c}/Contents-{a}"), Copied);
                add(format!("Contents-{a}"), Copied);
                if x.udebs {
                    add(format!("{c}/Contents-udeb-{a}"), Copied);
                    add(format!("Contents-udeb-{a}"), Copied);
                }
            }
            if x.dep11 {
                add(format!("{c}/dep11/Components-{a}.yml"), Copied);
                add(format!("{c}/dep11/CID-Index-{a}.json"), Copied);
            }
        }
        if x.sources {
            add(format!("{c}/source/Sources"), Sources);
            add(format!("{c}/source/Release"), Copied);
            if x.contents {
                add(format!("{c}/Contents-source"), Copied);
                add("Contents-source".to_string(), Copied);
            }
        }
        for lang in &x.translations {
            add(format!("{c}/i18n/Translation-{lang}"), Copied);
        }
        if !x.translations.is_empty() {
            add(format!("{c}/i18n/Index"), Copied);
        }
    }
    out
}

/// The indexes of `release` this mirror keeps (every compression listed), with their kind:
/// `Packages` and `Release` of each chosen component and architecture, and the extras the
/// source asks for (`sources`, `udebs`, `translations`, `contents`, `dep11`; AppStream icons
/// are every `dep11/icons-*` of a chosen component).
fn chosen_indexes(source: &AptSource, release: &Release) -> Vec<(String, IndexKind)> {
    let bases = wanted_bases(source);
    release
        .files
        .keys()
        .filter_map(|p| {
            let (base, _) = stem(p);
            let icons = source.extras.dep11
                && source.components.iter().any(|c| {
                    p.strip_prefix(c.as_str())
                        .and_then(|r| r.strip_prefix("/dep11/icons-"))
                        .is_some_and(|r| !r.contains('/'))
                });
            let kind = bases
                .get(base)
                .copied()
                .or(icons.then_some(IndexKind::Copied))?;
            Some((p.clone(), kind))
        })
        .collect()
}

/// Link the previous generation's index `old` into `by_hash` (`…/by-hash`) under its SHA-256
/// and SHA-512 (it was verified when its tree was built).
fn keep_previous(staging: &Staging, by_hash: &str, old: &Path) -> Result<(), String> {
    staging.link(&format!("{by_hash}/SHA256/{}", sha256_file(old)?), old)?;
    staging.link(&format!("{by_hash}/SHA512/{}", sha512_file(old)?), old)
}

/// Where a suite is written: the root (pool), the tree being built (`None` on a dry run), and
/// the current tree (the previous generation).
struct Place<'a> {
    root: &'a Root,
    staging: Option<&'a Staging>,
    current: Option<&'a Path>,
}

/// Sync (or plan) one suite into `staging`; the pool files it names.
async fn suite(
    ctx: &Context<'_>,
    source: &AptSource,
    place: &Place<'_>,
    suite: &str,
    signed: Signed,
    failures: &mut Vec<Failure>,
) -> Option<BTreeMap<String, PoolFile>> {
    let at = |rel: &str| format!("{suite}: {rel}");
    let (root, staging, current) = (place.root, place.staging, place.current);
    let release = &signed.release;
    for (name, bytes) in &signed.documents {
        if let Some(staging) = staging {
            let linked = root
                .pool_add_bytes(bytes, ctx.cache_dir)
                .and_then(|p| staging.link(&format!("dists/{suite}/{name}"), &p));
            if let Err(e) = linked {
                failures.push(fail(at(name), e, ExitCode::Io));
                return None;
            }
        }
    }
    // The indexes: every variant listed is fetched and verified; each index needs one.
    let chosen = chosen_indexes(source, release);
    // What was asked for but the Release does not list: a binary `Packages` of a named
    // component and architecture is an error (a typo would otherwise mirror nothing and
    // succeed); `Sources` and the installer `Packages` are warned about; the copied extras
    // (which suites carry unevenly, and which have two places for Contents) are not.
    for (base, kind) in wanted_bases(source) {
        if kind == IndexKind::Copied || chosen.iter().any(|(p, _)| stem(p).0 == base) {
            continue;
        }
        let binary = base.contains("/binary-") && !base.contains("/debian-installer/");
        if binary && !base.contains("/binary-all/") {
            failures.push(fail(
                at("Release"),
                format!("lists no {base}: is the component or architecture right?"),
                ExitCode::ItemFailed,
            ));
        } else if !binary {
            tracing::warn!(suite, index = %base, "asked for, but the Release lists no such index");
        }
    }
    if !failures.is_empty() {
        return None;
    }
    // Per index read for its pool files: the variant kept, its compression and kind.
    let mut have: BTreeMap<String, (PathBuf, &str, IndexKind)> = BTreeMap::new();
    // Every index with at least one variant here.
    let mut present: BTreeSet<&str> = BTreeSet::new();
    for (path, kind) in &chosen {
        let listed = &release.files[path];
        let url = match dists_url(source, suite, path) {
            Ok(u) => u,
            Err(f) => {
                failures.push(f);
                continue;
            }
        };
        // An index the pool holds was verified when it came: not fetched again.
        let pooled = root.pool_has(&listed.sha256, listed.size);
        let fetched = if pooled {
            Ok(root.pool_path(&listed.sha256))
        } else {
            fetch_verified(ctx, &url, &listed.sha256, listed.size).await
        };
        let mut local = match fetched {
            Ok(p) => p,
            // Release files list uncompressed indexes mirrors do not serve: a variant that
            // does not exist is fine as long as another one of the same index does.
            Err(FetchError::NotFound(_)) => {
                tracing::debug!(suite, path, "listed but not served");
                continue;
            }
            Err(FetchError::Failed(reason, code)) => {
                failures.push(fail(at(&format!("dists/{suite}/{path}")), reason, code));
                continue;
            }
        };
        if let Some(expected) = &listed.sha512 {
            match sha512_file(&local) {
                Ok(actual) if &actual == expected => {}
                Ok(actual) => {
                    failures.push(fail(
                        at(&format!("dists/{suite}/{path}")),
                        format!("SHA-512 {actual} where Release says {expected}"),
                        ExitCode::ItemFailed,
                    ));
                    continue;
                }
                Err(e) => {
                    failures.push(fail(at(path), e, ExitCode::Io));
                    continue;
                }
            }
        }
        if let Some(staging) = staging {
            let placed = root.pool_add(&listed.sha256, &local).and_then(|p| {
                forget(ctx.store, &listed.sha256);
                staging.link(&format!("dists/{suite}/{path}"), &p)?;
                if release.acquire_by_hash {
                    let by_hash = match path.rsplit_once('/') {
                        Some((dir, _)) => format!("dists/{suite}/{dir}/by-hash"),
                        None => format!("dists/{suite}/by-hash"),
                    };
                    staging.link(&format!("{by_hash}/SHA256/{}", listed.sha256), &p)?;
                    if let Some(h) = &listed.sha512 {
                        staging.link(&format!("{by_hash}/SHA512/{h}"), &p)?;
                    }
                    // The index this one replaces stays reachable by its hash for one more
                    // generation: a client that read the previous InRelease just before the
                    // switch still finds what it names (apt fails on a by-hash 404).
                    if let Some(old) = current
                        .map(|c| c.join(format!("dists/{suite}/{path}")))
                        .filter(|o| o.is_file())
                    {
                        keep_previous(staging, &by_hash, &old)?;
                    }
                }
                Ok(())
            });
            if let Err(e) = placed {
                failures.push(fail(at(path), e, ExitCode::Io));
                continue;
            }
            // The work dir's copy is gone: read the index from the pool.
            local = root.pool_path(&listed.sha256);
        }
        let (base, ext) = stem(path);
        present.insert(base);
        if *kind != IndexKind::Copied {
            // Prefer what reads fastest: plain, then gz, then xz.
            let rank = |e: &str| match e {
                "" => 0,
                ".gz" => 1,
                ".xz" => 2,
                _ => 9,
            };
            let replace = have.get(base).is_none_or(|(_, e, _)| rank(ext) < rank(e));
            if replace && rank(ext) < 9 {
                have.insert(base.to_string(), (local, ext, *kind));
            }
        }
    }
    // Every index the signed Release lists needs one variant served (a component's `Release`
    // excepted: apt does without it); an index read for pool files needs one it can read.
    let needed: BTreeMap<&str, IndexKind> = chosen
        .iter()
        .map(|(p, k)| (stem(p).0, *k))
        .filter(|(b, _)| !b.ends_with("/Release"))
        .collect();
    for (base, kind) in &needed {
        let usable = match kind {
            IndexKind::Copied => present.contains(base),
            IndexKind::Packages | IndexKind::Sources => have.contains_key(*base),
        };
        if !usable {
            failures.push(fail(
                at(&format!("dists/{suite}/{base}")),
                "no variant of this index could be had",
                ExitCode::ItemFailed,
            ));
        }
    }
    if !failures.is_empty() {
        return None;
    }
    let mut pool: BTreeMap<String, PoolFile> = BTreeMap::new();
    for (base, (local, ext, kind)) in &have {
        let read = crate::compressed::open(local, ext).and_then(|r| match kind {
            IndexKind::Sources => packages_index::read_sources(r),
            _ => packages_index::read(r),
        });
        match read {
            Ok(files) => {
                for f in files.into_iter().filter(|f| source.wants(&f.package)) {
                    // Two indexes naming one file with different digests: one of them is wrong,
                    // and clients of the other would fail their hash check.
                    if let Some(seen) = pool.get(&f.filename)
                        && seen.sha256 != f.sha256
                    {
                        failures.push(fail(
                            at(&f.filename),
                            format!(
                                "the indexes give it two digests ({} and {})",
                                seen.sha256, f.sha256
                            ),
                            ExitCode::ItemFailed,
                        ));
                        return None;
                    }
                    pool.entry(f.filename.clone()).or_insert(f);
                }
            }
            Err(e) => {
                failures.push(fail(
                    at(&format!("dists/{suite}/{base}{ext}")),
                    e,
                    ExitCode::ItemFailed,
                ));
                return None;
            }
        }
    }
    Some(pool)
}

/// Sync (or plan) every suite of `source` under `root`. `Ok` with each suite's outcome when
/// everything verified (and, unless a dry run or nothing changed, the new tree is switched in);
/// `Err` with every failure otherwise, the current tree untouched.
pub async fn sync(
    ctx: &Context<'_>,
    source: &AptSource,
    root: &Root,
) -> Result<Vec<(String, SuiteOutcome)>, Vec<Failure>> {
    let keyring = Keyring::for_keys(&source.keys)
        .map_err(|e| vec![fail(source.keys.describe(), e, ExitCode::Data)])?;
    let mut failures = Vec::new();
    let mut signed = Vec::new();
    for s in &source.suites {
        match signed_release(ctx, source, &keyring, s).await {
            Ok(r) => signed.push((s.clone(), r)),
            Err(f) => failures.push(f),
        }
    }
    if !failures.is_empty() {
        return Err(failures);
    }
    // Nothing changed: every suite's signed documents are the ones the current tree holds, and
    // the tree was built with these settings (a new architecture or filter rebuilds it).
    let settings = settings_of(source, &keyring);
    let current = root.current(&source.prefix);
    let unchanged = root.settings_match(&source.prefix, &settings)
        && current.as_ref().is_some_and(|tree| {
            signed.iter().all(|(s, r)| {
                r.documents.iter().all(|(name, bytes)| {
                    std::fs::read(tree.join(format!("dists/{s}/{name}"))).is_ok_and(|b| &b == bytes)
                })
            })
        });
    if unchanged {
        return Ok(source
            .suites
            .iter()
            .map(|s| (s.clone(), SuiteOutcome::Unchanged))
            .collect());
    }
    let staging = if ctx.dry_run {
        None
    } else {
        Some(
            root.stage(&source.prefix)
                .map_err(|e| vec![fail(source.prefix.clone(), e, ExitCode::Io)])?,
        )
    };
    let mut outcomes = Vec::new();
    let mut pools = Vec::new();
    for (s, r) in signed {
        let place = Place {
            root,
            staging: staging.as_ref(),
            current: current.as_deref(),
        };
        match suite(ctx, source, &place, &s, r, &mut failures).await {
            Some(pool) => pools.push((s, pool)),
            None => return Err(failures),
        }
    }
    for (s, pool) in pools {
        let files = pool.len();
        let missing: Vec<&PoolFile> = pool
            .values()
            .filter(|f| !root.pool_has(&f.sha256, f.size))
            .collect();
        let Some(staging) = staging.as_ref() else {
            outcomes.push((
                s,
                SuiteOutcome::Planned {
                    files,
                    missing: missing.len(),
                },
            ));
            continue;
        };
        let fetched = missing.len();
        let results: Vec<Result<u64, Failure>> = futures_util::stream::iter(missing)
            .map(|f| async {
                let what = format!("{s}: {}", f.filename);
                let url = crate::fetch::under(&source.url, &f.filename)
                    .map_err(|e| fail(&what, e, ExitCode::ItemFailed))?;
                let local = fetch_verified(ctx, &url, &f.sha256, f.size)
                    .await
                    .map_err(|e| {
                        let (reason, code) = e.into_parts();
                        fail(&what, reason, code)
                    })?;
                root.pool_add(&f.sha256, &local)
                    .map_err(|e| fail(&what, e, ExitCode::Io))?;
                forget(ctx.store, &f.sha256);
                Ok(f.size)
            })
            .buffer_unordered(DOWNLOADS_AT_ONCE)
            .collect()
            .await;
        let bytes = crate::fetch::downloaded(results, &mut failures);
        if !failures.is_empty() {
            return Err(failures);
        }
        for f in pool.values() {
            if let Err(e) = staging.link(&f.filename, &root.pool_path(&f.sha256)) {
                failures.push(fail(format!("{s}: {}", f.filename), e, ExitCode::Io));
                return Err(failures);
            }
        }
        outcomes.push((
            s,
            SuiteOutcome::Staged {
                files,
                fetched,
                bytes,
            },
        ));
    }
    if let Some(staging) = staging {
        root.switch(&source.prefix, staging, &settings)
            .map_err(|e| vec![fail(source.prefix.clone(), e, ExitCode::Io)])?;
    }
    Ok(outcomes)
}
