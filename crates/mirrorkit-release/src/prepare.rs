//! Preparing a version: download and verify every platform's asset, package it as a layer, and
//! build the config and manifest around it. Nothing is pushed here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::planned_report;
use crate::ocx::layer::{self as package, BuiltLayer, LayerOptions};
use crate::ocx::manifest;
use crate::plan::{PlatformSelection, VersionPlan};
use mirrorkit_core::digest::{Algorithm, Digest, Hasher};
use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::http::HttpClient;
use mirrorkit_core::platform::Platform;
use mirrorkit_core::report::{PlatformReport, Status, VersionReport};
use mirrorkit_core::source::Asset;
use mirrorkit_core::spec::{
    AssetTypeSpec, CompressionSpec, DigestPolicySpec, Mirror, PlatformAssets, SourceConfig,
};
use mirrorkit_core::store::Store;
/// What preparing a version uses, shared by every preparation of a run.
pub(super) struct Tools<'a> {
    pub(super) http: &'a HttpClient,
    pub(super) store: &'a Store,
    pub(super) work_dir: &'a Path,
    /// Bounds the packaging jobs running at once (`concurrency.max_bundles`).
    pub(super) packaging: &'a tokio::sync::Semaphore,
    /// One permit per core: a packaging job holds one per compression thread, so all jobs
    /// together never run more compression threads than there are cores (nor use more than
    /// that many threads' worth of xz memory).
    pub(super) cpus: &'a tokio::sync::Semaphore,
    /// Bounds the downloads running at once (`concurrency.max_downloads`).
    pub(super) downloads: &'a tokio::sync::Semaphore,
    /// Compression threads per packaging job (`concurrency.compression_threads`); `None`:
    /// chosen per asset by [`threads_for`].
    pub(super) threads: Option<u32>,
}

/// One platform of a version, downloaded, verified and packaged, ready to push.
pub(super) struct PreparedPlatform {
    pub(super) report: PlatformReport,
    pub(super) layer: BuiltLayer,
    pub(super) config_path: PathBuf,
    pub(super) config: manifest::Descriptor,
    pub(super) manifest: Vec<u8>,
    pub(super) manifest_digest: Digest,
}

/// A version that could not be prepared: its report, and, when the cause was the work dir
/// itself (full, unwritable), the message that stops the run with exit 74, since every later
/// version would fail the same way.
pub(super) struct Unprepared {
    pub(super) report: VersionReport,
    pub(super) local_io: Option<String>,
}

/// A platform that could not be prepared (see [`Unprepared`]).
struct PlatformFailure {
    report: PlatformReport,
    local_io: Option<String>,
}

pub(super) struct PreparedVersion {
    pub(super) started: Instant,
    pub(super) platforms: Vec<PreparedPlatform>,
    pub(super) asset_digests: Vec<Digest>,
    /// Non-fatal findings (unverified assets mirrored because `verify.require: false`).
    pub(super) warnings: Vec<String>,
}

/// Where a version's intermediate files live in the work dir.
pub(super) fn task_dir(work_dir: &Path, mirror: &Mirror, version: &str) -> PathBuf {
    work_dir.join("tasks").join(&mirror.key).join(version)
}

pub(super) async fn prepare_version<'p>(
    mirror: &Mirror,
    plan: &'p VersionPlan,
    tools: &Tools<'_>,
) -> (&'p VersionPlan, Result<PreparedVersion, Unprepared>) {
    let started = Instant::now();
    let dir = task_dir(tools.work_dir, mirror, &plan.version);
    let mut report = planned_report(plan, Status::Failed);
    let checksums = match &plan.checksums_url {
        Some(url) => match fetch_checksums(tools, url).await {
            Ok(map) => Some(map),
            Err((e, local)) => {
                report.reason = Some(e.clone());
                report.duration_ms = started.elapsed().as_millis() as u64;
                let local_io = local.then_some(e);
                return (plan, Err(Unprepared { report, local_io }));
            }
        },
        None => None,
    };
    let selected: Vec<_> = plan
        .platforms
        .iter()
        .filter(|pp| pp.selection == PlatformSelection::Selected)
        .filter_map(|pp| pp.asset.as_ref().map(|a| (pp, a)))
        .collect();
    let outcomes = futures_util::future::join_all(selected.iter().map(|(pp, asset)| {
        prepare_platform(
            mirror,
            plan,
            &pp.platform,
            asset,
            tools,
            &dir,
            checksums.as_ref(),
        )
    }))
    .await;
    let mut platforms = Vec::new();
    let mut asset_digests = Vec::new();
    let mut warnings = Vec::new();
    let mut first_error = None;
    let mut local_io = None;
    for outcome in outcomes {
        match outcome {
            Ok((p, asset_digest, warning)) => {
                asset_digests.push(asset_digest);
                warnings.extend(warning);
                platforms.push(p);
            }
            Err(PlatformFailure {
                report: r,
                local_io: io,
            }) => {
                if local_io.is_none() {
                    local_io = io;
                }
                if first_error.is_none() {
                    first_error = Some(format!(
                        "{}: {}",
                        r.platform,
                        r.reason.as_deref().unwrap_or("failed")
                    ));
                }
                if let Some(slot) = report
                    .platforms
                    .iter_mut()
                    .find(|x| x.platform == r.platform)
                {
                    *slot = r;
                }
            }
        }
    }
    if let Some(reason) = first_error {
        // Nothing of a version is pushed unless every platform it offers is ready.
        for slot in &mut report.platforms {
            if slot.status == Status::Failed && slot.reason.is_none() {
                slot.reason = Some("not pushed: another platform of this version failed".into());
            }
            if let Some(p) = platforms
                .iter()
                .find(|p| p.report.platform == slot.platform)
            {
                slot.asset_digest = p.report.asset_digest.clone();
            }
        }
        report.reason = Some(reason);
        report.duration_ms = started.elapsed().as_millis() as u64;
        return (plan, Err(Unprepared { report, local_io }));
    }
    (
        plan,
        Ok(PreparedVersion {
            started,
            platforms,
            asset_digests,
            warnings,
        }),
    )
}

/// The machine's cores (the number of CPU permits).
pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Compression threads worth giving one asset: the encoders split their input into blocks (xz
/// at preset 6: 24 MiB; zstd: a few MiB per job) and a block is compressed by one thread, so a
/// small asset gains nothing from more threads, while several small assets gain from running
/// side by side. The uncompressed size is estimated at twice the asset's.
pub(super) fn threads_for(compression: CompressionSpec, asset_bytes: u64, cores: usize) -> u32 {
    let block: u64 = match compression {
        CompressionSpec::Xz => 24 << 20,
        CompressionSpec::Zstd => 8 << 20,
        CompressionSpec::Gzip => return 1,
    };
    let blocks = (asset_bytes.saturating_mul(2)).div_ceil(block).max(1);
    blocks.min(cores.max(1) as u64) as u32
}

fn layer_options(mirror: &Mirror, platform: &PlatformAssets, threads: u32) -> LayerOptions {
    LayerOptions {
        asset_type: match platform.asset_type {
            AssetTypeSpec::Archive => package::AssetType::Archive,
            AssetTypeSpec::Binary => package::AssetType::Binary,
        },
        compression: match mirror.compression {
            CompressionSpec::Xz => crate::ocx::compress::Compression::Xz,
            CompressionSpec::Zstd => crate::ocx::compress::Compression::Zstd,
            CompressionSpec::Gzip => crate::ocx::compress::Compression::Gzip,
        },
        strip_components: platform.strip_components,
        threads: Some(threads),
        binary_name: platform.binary_name.clone(),
        ..LayerOptions::default()
    }
}

/// Largest checksums file read.
const MAX_CHECKSUMS_BYTES: u64 = 4 << 20;

/// Download and parse a version's checksums file (through the store, so it is verified-once
/// and resumable like any asset). The error says whether the work dir itself failed.
async fn fetch_checksums(
    tools: &Tools<'_>,
    url: &url::Url,
) -> Result<BTreeMap<String, Digest>, (String, bool)> {
    let safe = mirrorkit_core::http::redact::SafeUrl::new(url);
    let blob = {
        let _slot = tools.downloads.acquire().await;
        tools
            .store
            .fetch(tools.http, url, None)
            .await
            .map_err(|e| {
                (
                    format!("checksums file: {e}"),
                    e.exit_code() == ExitCode::Io,
                )
            })?
    };
    let item = |e: String| (e, false);
    if blob.size > MAX_CHECKSUMS_BYTES {
        return Err(item(format!(
            "checksums file {safe} is {} bytes, more than a checksums file should be",
            blob.size
        )));
    }
    // Not UTF-8 is the document's fault; any other read error is the store's.
    let text = tokio::fs::read_to_string(&blob.path).await.map_err(|e| {
        let local = e.kind() != std::io::ErrorKind::InvalidData;
        (format!("checksums file {safe}: {e}"), local)
    })?;
    crate::checksums::parse_checksums(&text)
        .map_err(|e| item(format!("checksums file {safe}: {e}")))
}

/// The digest an asset is checked against, and a second one to check as well, following the
/// mirror's `verify` policy. `Err` when policy requires a digest nobody publishes.
fn expected_digests(
    mirror: &Mirror,
    asset: &Asset,
    checksums: Option<&BTreeMap<String, Digest>>,
) -> Result<(Option<Digest>, Option<Digest>), String> {
    let policy = match &mirror.source {
        SourceConfig::Github(_) => mirror.verify.github_asset_digest,
        SourceConfig::UrlIndex(_) => mirror.verify.url_index_digest,
        // Only release sources are prepared here.
        _ => DigestPolicySpec::IfPresent,
    };
    let published = match policy {
        DigestPolicySpec::Off => None,
        DigestPolicySpec::IfPresent => asset.checksum.clone(),
        DigestPolicySpec::Require => match &asset.checksum {
            Some(d) => Some(d.clone()),
            None => {
                return Err(format!(
                    "{}: upstream publishes no digest for it and the digest policy is `require`",
                    asset.name
                ));
            }
        },
    };
    let listed = checksums.and_then(|m| m.get(&asset.name).cloned());
    if checksums.is_some() && listed.is_none() && published.is_none() {
        return Err(format!(
            "{}: not listed in the checksums file ({})",
            asset.name,
            mirror.verify.checksums_file.as_deref().unwrap_or_default()
        ));
    }
    Ok(match (published, listed) {
        (Some(p), l) => (Some(p), l),
        (None, l) => (l, None),
    })
}

/// Hash a file with `algorithm` (for a second digest of another algorithm than the store's).
async fn digest_file(path: PathBuf, algorithm: Algorithm) -> std::io::Result<Digest> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = Hasher::new(algorithm);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher.finish())
    })
    .await
    .map_err(std::io::Error::other)?
}

/// What `layer.json` beside a built layer records, so a later run reuses the layer instead of
/// packaging the same asset again.
#[derive(serde::Serialize, serde::Deserialize, PartialEq, Eq)]
struct LayerRecord {
    asset_digest: String,
    options: String,
    file: String,
    digest: String,
    size: u64,
    media_type: String,
    uncompressed_digest: String,
}

fn options_fingerprint(o: &LayerOptions) -> String {
    format!(
        "{:?}/{:?}/{}/{:?}/{:?}",
        o.asset_type, o.compression, o.strip_components, o.level, o.binary_name
    )
}

/// A layer built by an earlier run from the same asset with the same options, if intact.
async fn reusable_layer(pdir: &Path, asset: &Digest, options: &str) -> Option<BuiltLayer> {
    let bytes = tokio::fs::read(pdir.join("layer.json")).await.ok()?;
    let r: LayerRecord = serde_json::from_slice(&bytes).ok()?;
    if r.asset_digest != asset.to_string() || r.options != options || r.file.contains('/') {
        return None;
    }
    let path = pdir.join(&r.file);
    let meta = tokio::fs::metadata(&path).await.ok()?;
    if meta.len() != r.size {
        return None;
    }
    let digest: Digest = r.digest.parse().ok()?;
    // The layer is pushed by digest and the target checks it, but a flipped bit here would
    // only show up there: check it now (hashing is far cheaper than compressing again).
    if digest_file(path.clone(), digest.algorithm()).await.ok()? != digest {
        return None;
    }
    Some(BuiltLayer {
        path,
        digest,
        size: r.size,
        media_type: r.media_type,
        uncompressed_digest: r.uncompressed_digest.parse().ok()?,
    })
}

async fn record_layer(pdir: &Path, asset: &Digest, options: &str, layer: &BuiltLayer) {
    let record = LayerRecord {
        asset_digest: asset.to_string(),
        options: options.to_string(),
        file: layer
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        digest: layer.digest.to_string(),
        size: layer.size,
        media_type: layer.media_type.clone(),
        uncompressed_digest: layer.uncompressed_digest.to_string(),
    };
    if let Ok(bytes) = serde_json::to_vec(&record) {
        let tmp = pdir.join("layer.json.tmp");
        if tokio::fs::write(&tmp, bytes).await.is_ok() {
            let _ = tokio::fs::rename(&tmp, pdir.join("layer.json")).await;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn prepare_platform(
    mirror: &Mirror,
    plan: &VersionPlan,
    platform: &Platform,
    asset: &Asset,
    tools: &Tools<'_>,
    dir: &Path,
    checksums: Option<&BTreeMap<String, Digest>>,
) -> Result<(PreparedPlatform, Digest, Option<String>), PlatformFailure> {
    let started = Instant::now();
    let mut report = PlatformReport {
        platform: platform.clone(),
        status: Status::Failed,
        reason: None,
        asset: Some(asset.name.clone()),
        bytes: None,
        asset_digest: None,
        layer_digest: None,
        manifest_digest: None,
        duration_ms: 0,
    };
    // `failed`: the item's fault (or upstream's); `local`: the work dir's, which stops the run.
    let finish = |mut r: PlatformReport, reason: String, local: bool| {
        r.reason = Some(reason.clone());
        r.duration_ms = started.elapsed().as_millis() as u64;
        PlatformFailure {
            report: r,
            local_io: local.then_some(reason),
        }
    };
    let failed = |r, reason| finish(r, reason, false);
    let local = |r, reason| finish(r, reason, true);
    let Some(settings) = mirror.platforms.iter().find(|p| &p.platform == platform) else {
        return Err(failed(report, "platform not declared in the spec".into()));
    };
    let (expected, also) = match expected_digests(mirror, asset, checksums) {
        Ok(e) => e,
        Err(e) => return Err(failed(report, e)),
    };
    let mut warning = None;
    if expected.is_none() {
        let why = format!(
            "{}: cannot be verified (upstream publishes no digest for it{})",
            asset.name,
            if mirror.verify.checksums_file.is_some() {
                " and there is no checksums file for this version"
            } else {
                " and no verify.checksums_file is set"
            }
        );
        if mirror.verify.require {
            return Err(failed(
                report,
                format!("{why}; set verify.require: false to mirror unverified assets"),
            ));
        }
        tracing::warn!(mirror = %mirror.key, version = %plan.version, "{why}; mirrored unverified (verify.require: false)");
        warning = Some(format!("{platform}: {why}; mirrored unverified"));
    }
    let blob = {
        let _slot = tools.downloads.acquire().await;
        match tools
            .store
            .fetch(tools.http, &asset.url, expected.as_ref())
            .await
        {
            Ok(b) => b,
            // The work dir first: a full disk is not a checksum problem, whatever the digest's
            // origin.
            Err(e) if e.exit_code() == ExitCode::Io => return Err(local(report, e.to_string())),
            Err(e) if expected.is_some() && asset.checksum.as_ref() != expected.as_ref() => {
                return Err(failed(
                    report,
                    format!("{e} (the expected digest is from the checksums file)"),
                ));
            }
            Err(e) => return Err(failed(report, e.to_string())),
        }
    };
    report.asset_digest = Some(blob.digest.clone());
    if let Some(second) = &also {
        let actual = if second.algorithm() == blob.digest.algorithm() {
            Ok(blob.digest.clone())
        } else {
            digest_file(blob.path.clone(), second.algorithm()).await
        };
        match actual {
            Ok(a) if &a == second => {}
            Ok(a) => {
                // The store verified the first digest; a second source disagreeing means one of
                // them is wrong: refuse, and drop the blob so nothing reuses it unnoticed.
                let _ = tools.store.remove(&blob.digest);
                return Err(failed(
                    report,
                    format!(
                        "{}: checksum mismatch with the checksums file: expected {second}, got {a}",
                        asset.name
                    ),
                ));
            }
            Err(e) => return Err(local(report, format!("cannot hash {}: {e}", asset.name))),
        }
    }
    let pdir = dir.join(platform.slug());
    if let Err(e) = tokio::fs::create_dir_all(&pdir).await {
        return Err(local(
            report,
            format!("cannot create {}: {e}", pdir.display()),
        ));
    }
    let cores = cores();
    let threads = tools
        .threads
        .unwrap_or_else(|| threads_for(mirror.compression, blob.size, cores))
        .clamp(1, cores as u32);
    let opts = layer_options(mirror, settings, threads);
    let fingerprint = options_fingerprint(&opts);
    let layer = match reusable_layer(&pdir, &blob.digest, &fingerprint).await {
        Some(l) => {
            tracing::info!(
                mirror = %mirror.key,
                version = %plan.version,
                %platform,
                "reusing the layer packaged by an earlier run"
            );
            l
        }
        None => {
            let (asset_path, asset_name, out_dir) =
                (blob.path.clone(), asset.name.clone(), pdir.clone());
            let _slot = tools.packaging.acquire().await;
            let _cpus = tools.cpus.acquire_many(threads).await;
            let (m, v) = (&mirror.key, &plan.version);
            tracing::debug!(mirror = %m, version = %v, %platform, threads, "packaging started");
            let built = tokio::task::spawn_blocking(move || {
                package::build_layer(&asset_path, &asset_name, &opts, &out_dir)
            })
            .await;
            tracing::debug!(mirror = %m, version = %v, %platform, "packaging ended");
            match built {
                Ok(Ok(l)) => {
                    record_layer(&pdir, &blob.digest, &fingerprint, &l).await;
                    l
                }
                Ok(Err(e)) if e.exit_code() == ExitCode::Io => {
                    return Err(local(report, e.to_string()));
                }
                Ok(Err(e)) => return Err(failed(report, e.to_string())),
                Err(e) => return Err(failed(report, format!("packaging task failed: {e}"))),
            }
        }
    };
    let config_bytes = match manifest::package_config(settings.metadata.as_deref()) {
        Ok(c) => c,
        Err(e) => return Err(failed(report, e.to_string())),
    };
    let config =
        manifest::Descriptor::for_bytes(manifest::MEDIA_TYPE_PACKAGE_CONFIG, &config_bytes);
    let config_path = pdir.join("config.json");
    if let Err(e) = tokio::fs::write(&config_path, &config_bytes).await {
        return Err(local(
            report,
            format!("cannot write {}: {e}", config_path.display()),
        ));
    }
    let mut annotations = BTreeMap::new();
    annotations.insert(
        manifest::ANNOTATION_VERSION.to_string(),
        plan.version.clone(),
    );
    annotations.insert(manifest::ANNOTATION_TITLE.to_string(), asset.name.clone());
    annotations.insert(
        manifest::ANNOTATION_SOURCE.to_string(),
        mirrorkit_core::http::redact::SafeUrl::new(&asset.url).to_string(),
    );
    let layer_descriptor = manifest::Descriptor::for_layer(&layer, &asset.name);
    let manifest = manifest::image_manifest(&config, &layer_descriptor, &annotations);
    let manifest_digest = Digest::sha256_of(&manifest);
    report.bytes = Some(layer.size);
    report.layer_digest = Some(layer.digest.clone());
    report.manifest_digest = Some(manifest_digest.clone());
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok((
        PreparedPlatform {
            report,
            layer,
            config_path,
            config,
            manifest,
            manifest_digest,
        },
        blob.digest,
        warning,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_assets_get_one_thread_and_large_ones_up_to_the_cores() {
        let mib = 1u64 << 20;
        assert_eq!(threads_for(CompressionSpec::Xz, 2 * mib, 8), 1);
        assert_eq!(threads_for(CompressionSpec::Xz, 12 * mib, 8), 1);
        assert_eq!(threads_for(CompressionSpec::Xz, 13 * mib, 8), 2);
        assert_eq!(threads_for(CompressionSpec::Xz, 1024 * mib, 8), 8);
        assert_eq!(threads_for(CompressionSpec::Xz, 1024 * mib, 2), 2);
        assert_eq!(threads_for(CompressionSpec::Zstd, 20 * mib, 8), 5);
        assert_eq!(threads_for(CompressionSpec::Gzip, 1024 * mib, 8), 1);
        assert_eq!(threads_for(CompressionSpec::Xz, 0, 8), 1);
    }
}
