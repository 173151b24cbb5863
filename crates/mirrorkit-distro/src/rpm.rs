//! One rpm mirror: `repodata/repomd.xml` fetched (conditionally) and checked against its
//! detached `repomd.xml.asc` and the keyring; every data file it lists (primary, filelists,
//! other, their `_db` and `_zck` forms, comps, modules, updateinfo, …) checked by checksum and
//! size; every package `primary` names checked against its checksum and size. Everything lands
//! in the pool and is linked into a new tree that is switched in only when all of it verified.
//! With a mirror list, the mirrors are tried in order until one serves a repository that
//! verifies.

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::StreamExt as _;
use mirrorkit_core::digest::Digest;
use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::http::conditional;
use mirrorkit_core::http::etag_cache::EtagCache;
use mirrorkit_core::http::redact::SafeUrl;
use mirrorkit_core::source::rpm::RpmSource;
use url::Url;

use crate::fetch::{Context, Failure, FetchError, SuiteOutcome, fail, fetch_digest, forget};
use crate::root::{Root, Staging};
use crate::rpm_md::{self, Checksum, RpmPackage};
use crate::signature::Keyring;

/// Packages downloaded at once.
const DOWNLOADS_AT_ONCE: usize = 8;

fn digest(c: &Checksum) -> Option<Digest> {
    format!("{}:{}", c.kind, c.hex).parse().ok()
}

/// What the tree of `source` is built from besides upstream: a change (a filter, `gpgcheck`,
/// the keyring) rebuilds it.
fn settings_of(source: &RpmSource, keyring: &Keyring) -> String {
    let regexes = |r: &[regex::Regex]| r.iter().map(|r| r.as_str().to_string()).collect::<Vec<_>>();
    format!(
        "rpm {}={} include={:?} exclude={:?} gpgcheck={} keyring={}",
        if source.mirrorlist {
            "mirrorlist"
        } else {
            "url"
        },
        SafeUrl::new(&source.url),
        regexes(&source.include),
        regexes(&source.exclude),
        source.gpgcheck,
        keyring.identity(),
    )
}

/// A file of the repository: where, what it must hash to, its size when known.
struct Wanted<'a> {
    href: &'a str,
    checksum: &'a Checksum,
    size: Option<u64>,
}

/// Put `bytes` (already verified) into the pool and link them at `rel` in `staging`.
fn place_bytes(
    root: &Root,
    staging: &Staging,
    rel: &str,
    bytes: &[u8],
    tmp: &Path,
) -> Result<(), String> {
    let pooled = root.pool_add_bytes(bytes, tmp)?;
    staging.link(rel, &pooled)
}

/// Fetch (unless the pool has it) and verify one file; its pool path (or, on a dry run, its
/// verified local path). `Ok(None)` on a dry run for a file not fetched.
async fn get_file(
    ctx: &Context<'_>,
    base: &Url,
    root: &Root,
    staging: Option<&Staging>,
    file: &Wanted<'_>,
) -> Result<std::path::PathBuf, Failure> {
    let what = file.href.to_string();
    if file.checksum.kind == "sha256"
        && let Some(size) = file.size
        && root.pool_has(&file.checksum.hex, size)
    {
        let p = root.pool_path(&file.checksum.hex);
        if let Some(s) = staging {
            s.link(file.href, &p)
                .map_err(|e| fail(&what, e, ExitCode::Io))?;
        }
        return Ok(p);
    }
    let url =
        crate::fetch::under(base, file.href).map_err(|e| fail(&what, e, ExitCode::ItemFailed))?;
    let d =
        digest(file.checksum).ok_or_else(|| fail(&what, "not a checksum", ExitCode::ItemFailed))?;
    let (local, sha256) = fetch_digest(ctx, &url, &d, file.size).await.map_err(|e| {
        let (reason, code) = match e {
            FetchError::NotFound(m) => (m, ExitCode::ItemFailed),
            FetchError::Failed(m, c) => (m, c),
        };
        fail(&what, reason, code)
    })?;
    let Some(staging) = staging else {
        return Ok(local);
    };
    let pooled = root
        .pool_add(&sha256, &local)
        .map_err(|e| fail(&what, e, ExitCode::Io))?;
    forget(ctx.store, &sha256);
    staging
        .link(file.href, &pooled)
        .map_err(|e| fail(&what, e, ExitCode::Io))?;
    Ok(pooled)
}

/// Sync (or plan) the repository under `root`: its outcome when everything verified (the new
/// tree switched in unless a dry run or nothing changed), every failure otherwise. With a
/// mirror list, each mirror in turn until one succeeds (a local failure, such as a full disk,
/// stops there); the failures of every mirror tried otherwise, each naming its mirror.
pub async fn sync(
    ctx: &Context<'_>,
    source: &RpmSource,
    root: &Root,
) -> Result<SuiteOutcome, Vec<Failure>> {
    let keyring = Keyring::for_keys(&source.keys)
        .map_err(|e| vec![fail(source.keys.describe(), e, ExitCode::Data)])?;
    if !source.mirrorlist {
        return sync_from(ctx, source, &source.url, root, &keyring).await;
    }
    let mirrors = crate::mirrorlist::fetch(ctx, &source.url)
        .await
        .map_err(|f| vec![f])?;
    let mut failures = Vec::new();
    for base in &mirrors {
        let safe = SafeUrl::new(base).to_string();
        match sync_from(ctx, source, base, root, &keyring).await {
            Ok(outcome) => {
                tracing::debug!(mirror = %safe, "synced from this mirror");
                return Ok(outcome);
            }
            Err(fs) => {
                let local = fs.iter().any(|f| f.code == ExitCode::Io);
                tracing::warn!(mirror = %safe, failures = fs.len(), "mirror failed");
                failures.extend(fs.into_iter().map(|f| Failure {
                    what: format!("mirror {safe}: {}", f.what),
                    ..f
                }));
                if local {
                    break;
                }
            }
        }
    }
    Err(failures)
}

/// [`sync`] from the repository at `base`.
async fn sync_from(
    ctx: &Context<'_>,
    source: &RpmSource,
    base: &Url,
    root: &Root,
    keyring: &Keyring,
) -> Result<SuiteOutcome, Vec<Failure>> {
    let cache = EtagCache::new(ctx.cache_dir, "rpm-repomd");
    let get = async |name: &str| -> Result<(Url, Vec<u8>), Failure> {
        let url =
            crate::fetch::under(base, name).map_err(|e| fail(name, e, ExitCode::ItemFailed))?;
        conditional::get(ctx.http, &cache, &url, "*/*")
            .await
            .map(|b| (url.clone(), b))
            .map_err(|e| fail(SafeUrl::new(&url).to_string(), e.message, e.code))
    };
    let (repomd_url, repomd) = get("repodata/repomd.xml").await.map_err(|f| vec![f])?;
    let (sig_url, signature) = get("repodata/repomd.xml.asc").await.map_err(|f| {
        vec![Failure {
            reason: format!(
                "{} (an unsigned repository is not mirrored: repomd.xml needs its detached \
                 signature)",
                f.reason
            ),
            ..f
        }]
    })?;
    let signer = keyring.verify_detached(&repomd, &signature).map_err(|e| {
        vec![fail(
            SafeUrl::new(&sig_url).to_string(),
            format!("signature of repodata/repomd.xml: {e}"),
            ExitCode::ItemFailed,
        )]
    })?;
    tracing::debug!(%signer, "repomd.xml verified");
    // A validly signed repository older than the tree's (a lagging mirror, a replay) would take
    // the mirror back a generation: refused, so that a mirror list moves on to the next one.
    if let Some(current) = root.current(&source.prefix)
        && let Some(old) = std::fs::read(current.join("repodata/repomd.xml"))
            .ok()
            .and_then(|b| rpm_md::revision(&b))
        && let Some(new) = rpm_md::revision(&repomd)
        && new < old
    {
        return Err(vec![fail(
            SafeUrl::new(&repomd_url).to_string(),
            format!(
                "revision {new} is older than the mirror's {old} (a stale or replayed \
                 repository); the tree stays as it is"
            ),
            ExitCode::ItemFailed,
        )]);
    }
    let data = rpm_md::repomd(&repomd)
        .map_err(|e| vec![fail("repodata/repomd.xml", e, ExitCode::ItemFailed)])?;
    let settings = settings_of(source, keyring);
    let verified = root.verified_tree(&source.prefix, &settings);
    if let Some(current) = &verified
        && std::fs::read(current.join("repodata/repomd.xml")).is_ok_and(|b| b == repomd)
        && std::fs::read(current.join("repodata/repomd.xml.asc")).is_ok_and(|b| b == signature)
    {
        return Ok(SuiteOutcome::Unchanged);
    }
    let staging = if ctx.dry_run {
        None
    } else {
        Some(
            root.stage(&source.prefix)
                .map_err(|e| vec![fail(source.prefix.clone(), e, ExitCode::Io)])?,
        )
    };
    if let Some(s) = &staging {
        for (rel, bytes) in [
            ("repodata/repomd.xml", &repomd),
            ("repodata/repomd.xml.asc", &signature),
        ] {
            place_bytes(root, s, rel, bytes, ctx.cache_dir)
                .map_err(|e| vec![fail(rel, e, ExitCode::Io)])?;
        }
    }
    // Every data file, then the packages `primary` names.
    let mut failures = Vec::new();
    let mut primary_path = None;
    for d in &data {
        let wanted = Wanted {
            href: &d.href,
            checksum: &d.checksum,
            size: d.size,
        };
        match get_file(ctx, base, root, staging.as_ref(), &wanted).await {
            Ok(p) if d.kind == "primary" => primary_path = Some(p),
            Ok(_) => {}
            Err(f) => failures.push(f),
        }
    }
    if !failures.is_empty() {
        return Err(failures);
    }
    let Some(primary_path) = primary_path else {
        return Err(vec![fail(
            "repodata/repomd.xml",
            "no primary data",
            ExitCode::ItemFailed,
        )]);
    };
    let primary_href = data
        .iter()
        .find(|d| d.kind == "primary")
        .map(|d| d.href.clone())
        .unwrap_or_default();
    let packages: Vec<RpmPackage> = crate::compressed::open(&primary_path, &primary_href)
        .and_then(rpm_md::primary)
        .map_err(|e| vec![fail(primary_href.clone(), e, ExitCode::ItemFailed)])?;
    let packages: BTreeMap<String, RpmPackage> = packages
        .into_iter()
        .filter(|p| source.wants(&p.name))
        .map(|p| (p.href.clone(), p))
        .collect();
    let files = packages.len();
    let missing: Vec<&RpmPackage> = packages
        .values()
        .filter(|p| {
            !p.checksum
                .as_ref()
                .is_some_and(|c| c.kind == "sha256" && root.pool_has(&c.hex, p.size))
        })
        .collect();
    let Some(staging) = staging else {
        return Ok(SuiteOutcome::Planned {
            files,
            missing: missing.len(),
        });
    };
    let fetched = missing.len();
    // What the verified tree held as metadata, not packages: never taken as a checked package.
    let old_data: std::collections::BTreeSet<String> = verified
        .as_ref()
        .and_then(|t| std::fs::read(t.join("repodata/repomd.xml")).ok())
        .and_then(|b| rpm_md::repomd(&b).ok())
        .into_iter()
        .flatten()
        .map(|d| d.href)
        .chain([
            "repodata/repomd.xml".into(),
            "repodata/repomd.xml.asc".into(),
        ])
        .collect();
    let results: Vec<Result<u64, Failure>> = futures_util::stream::iter(packages.values())
        .map(|p| {
            let (staging, verified, old_data) = (&staging, &verified, &old_data);
            async move {
                let checksum = p
                    .checksum
                    .as_ref()
                    .ok_or_else(|| fail(&p.href, "no checksum", ExitCode::ItemFailed))?;
                let wanted = Wanted {
                    href: &p.href,
                    checksum,
                    size: Some(p.size),
                };
                let pooled = checksum.kind == "sha256" && root.pool_has(&checksum.hex, p.size);
                let local = get_file(ctx, base, root, Some(staging), &wanted).await?;
                // The very file (one inode: pool files never change) that was a package of the
                // tree verified with these settings had its signature checked then; reading
                // every package again made an incremental sync re-hash the whole repository.
                let checked = verified.as_ref().is_some_and(|tree| {
                    !old_data.contains(&p.href) && same_file(&tree.join(&p.href), &local)
                });
                if source.gpgcheck && !checked {
                    crate::rpm_sig::read(&local)
                        .and_then(|h| keyring.verify_detached(&h.header, &h.signature))
                        .map_err(|e| {
                            fail(
                                &p.href,
                                format!("package signature: {e}"),
                                ExitCode::ItemFailed,
                            )
                        })?;
                }
                Ok(if pooled { 0 } else { p.size })
            }
        })
        .buffer_unordered(DOWNLOADS_AT_ONCE)
        .collect()
        .await;
    let bytes = crate::fetch::downloaded(results, &mut failures);
    if !failures.is_empty() {
        return Err(failures);
    }
    root.switch(&source.prefix, staging, &settings)
        .map_err(|e| vec![fail(source.prefix.clone(), e, ExitCode::Io)])?;
    Ok(SuiteOutcome::Staged {
        files,
        fetched,
        bytes,
    })
}

/// Whether `a` and `b` are one file (hard links of one inode).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}
