//! Bundles for air-gapped sites: what a spec mirrors (or any images) exported as one OCI image
//! layout — a directory, or a tar of it, optionally compressed and split — and imported on the
//! other side into a registry or a directory of layouts.
//!
//! A bundle is a plain OCI image layout, so other tools read it (`skopeo copy
//! oci:BUNDLE:mirror/tool:1.0.0 …`):
//! - `index.json` has one entry per tag, named `<repository>:<tag>` in
//!   `org.opencontainers.image.ref.name`, with the repository also in
//!   [`ANNOTATION_REPOSITORY`];
//! - `blobs/sha256/…` holds every blob once, however many images share it;
//! - [`BUNDLE_FILE`] (`mirrorkit-bundle.json`) says what the bundle holds without importing it:
//!   per item the source reference, repository, digest, size and tags, every blob, and — for a
//!   delta bundle (`--since`) — the base bundle's id and the blobs expected from it.
//!
//! Export is deterministic: the same inputs give byte-identical output (sorted entries, no
//! timestamps, fixed tar metadata and compression settings). Import verifies every blob against
//! its digest before anything is written to the target (an archive while it is unpacked, a
//! directory in a first pass), checks that every image is complete (or that the target holds what
//! a delta leaves to its base), and only then pushes: per image blobs, then manifests, then the
//! tag, skipping blobs the target has and tags already pointing at the same digest.

// A library reports through `tracing` and its return values; only the binary prints.
#![warn(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt as _;
use mirrorkit_core::digest::{Digest, Hasher};
use mirrorkit_core::exit::{ExitCode, HasExitCode};
use serde::{Deserialize, Serialize};

use mirrorkit_oci::archive::{self, ArchiveCompression};
use mirrorkit_oci::copy::{CopyError, CopyOptions, CopyReport, copy, copy_into_layout};
use mirrorkit_oci::error::OciError;
use mirrorkit_oci::layout::{Layout, TEMP_PREFIX};
use mirrorkit_oci::media;
use mirrorkit_oci::reference::{ImageReference, is_valid_repository, is_valid_tag};
use mirrorkit_oci::registry::Registry;

/// The bundle's own description, inside the layout.
pub const BUNDLE_FILE: &str = "mirrorkit-bundle.json";
/// The bundle format this mirrorkit writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// Annotation on each `index.json` entry naming the repository the image came from.
pub const ANNOTATION_REPOSITORY: &str = "io.mirrorkit.bundle.repository";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `mirrorkit-bundle.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BundleManifest {
    /// Format version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// Content id: SHA-256 of the items and blob lists (a delta names its base by it).
    pub id: String,
    /// `mirrorkit <version>`.
    pub created_by: String,
    /// The spec the bundle was exported from, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<SpecOrigin>,
    /// The bundle this one is a delta on top of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// What it holds: one entry per repository and digest.
    pub items: Vec<BundleItem>,
    /// Every blob in the bundle (manifests included), sorted by digest.
    pub blobs: Vec<BlobRef>,
    /// Blobs the items need that a delta leaves to its base (the importing side must have them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base_blobs: Vec<BlobRef>,
}

/// Which spec a bundle came from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SpecOrigin {
    /// The spec file's name.
    pub file: String,
    /// SHA-256 of its content.
    pub digest: String,
}

/// One image of a bundle.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BundleItem {
    /// Where it was exported from (a reference, credential-free).
    pub source: String,
    /// Its repository (no host).
    pub repository: String,
    /// Digest of the manifest or index.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Size of the manifest or index.
    pub size: u64,
    /// Tags pointing at it.
    pub tags: Vec<String>,
}

/// A blob and its size.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlobRef {
    /// `sha256:…`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
}

/// Why a bundle operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The bundle (or an input to it) is not acceptable: hostile, corrupt, incomplete, or from
    /// a newer format (65).
    #[error("{0}")]
    Refused(String),
    /// The command was used wrongly (64).
    #[error("{0}")]
    Usage(String),
    /// Reading a source or writing a target failed.
    #[error(transparent)]
    Copy(#[from] CopyError),
    /// Reading or writing layouts, archives, registries.
    #[error(transparent)]
    Oci(#[from] OciError),
}

impl HasExitCode for BundleError {
    /// 65 for refused bundles, 64 for usage, else the underlying error's code.
    fn exit_code(&self) -> ExitCode {
        match self {
            BundleError::Refused(_) => ExitCode::Data,
            BundleError::Usage(_) => ExitCode::Usage,
            BundleError::Copy(e) => e.exit_code(),
            BundleError::Oci(e) => e.exit_code(),
        }
    }
}

/// Parse `mirrorkit-bundle.json`, refusing a newer format with both versions named.
pub fn parse_manifest(bytes: &[u8], what: &str) -> Result<BundleManifest, BundleError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| BundleError::Refused(format!("{what}: not valid JSON: {e}")))?;
    let format = value
        .get("format")
        .and_then(|f| f.as_u64())
        .ok_or_else(|| {
            BundleError::Refused(format!(
                "{what}: no `format` version; not a mirrorkit bundle"
            ))
        })?;
    if format > u64::from(FORMAT_VERSION) {
        return Err(BundleError::Refused(format!(
            "{what}: bundle format {format} is newer than this mirrorkit understands (format {FORMAT_VERSION}); upgrade mirrorkit to import it"
        )));
    }
    serde_json::from_value(value).map_err(|e| BundleError::Refused(format!("{what}: {e}")))
}

/// What to export: an image and the repository and tag it is filed under.
#[derive(Clone, Debug)]
pub struct ExportItem {
    /// Where to read it.
    pub source: ImageReference,
    /// Its repository in the bundle.
    pub repository: String,
    /// Its tag.
    pub tag: String,
}

/// The shape of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleFormat {
    /// A directory.
    Layout,
    /// A tar of it.
    Archive,
}

/// Settings of [`export`].
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Output directory or archive path.
    pub output: PathBuf,
    /// Directory or archive.
    pub format: BundleFormat,
    /// Archive compression.
    pub compression: ArchiveCompression,
    /// Split an archive into parts of at most this many bytes.
    pub split: Option<u64>,
    /// An earlier bundle (directory, archive, or its `mirrorkit-bundle.json`): leave out the
    /// blobs it already carried.
    pub since: Option<PathBuf>,
    /// The spec the items came from.
    pub spec: Option<SpecOrigin>,
}

/// What an export wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ExportReport {
    /// Files or directory written.
    pub output: Vec<PathBuf>,
    /// The bundle's id.
    pub id: String,
    /// Images (repository + digest).
    pub items: usize,
    /// Tags.
    pub tags: usize,
    /// Blobs in the bundle.
    pub blobs: usize,
    /// Their total size.
    pub bytes: u64,
    /// Blobs left to the base bundle.
    pub base_blobs: usize,
}

/// A staging directory removed on drop unless kept.
struct Staging(Option<PathBuf>);

impl Staging {
    fn new_in(parent: &Path) -> Result<Staging, OciError> {
        std::fs::create_dir_all(parent).map_err(|e| OciError::io(parent, e))?;
        let dir = mirrorkit_core::fsutil::temp_dir_in(parent, TEMP_PREFIX)
            .map_err(|e| OciError::io(parent, e))?;
        Ok(Staging(Some(dir.keep())))
    }

    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new("."))
    }

    fn keep(mut self) -> PathBuf {
        self.0.take().unwrap_or_default()
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs")
        .join(digest.algorithm().name())
        .join(digest.hex())
}

/// Every blob reachable from `top` in the layout at `dir`: (manifest digests, other blobs with
/// their declared sizes). Missing manifests are errors; missing other blobs are returned in the
/// second map all the same (the caller decides).
fn graph(
    dir: &Path,
    top: &Digest,
    top_media_type: &str,
    manifests: &mut BTreeMap<Digest, u64>,
    blobs: &mut BTreeMap<Digest, u64>,
    depth: usize,
) -> Result<(), BundleError> {
    if depth > 8 {
        return Err(BundleError::Refused(format!(
            "index {top}: indexes nested too deep"
        )));
    }
    let path = blob_path(dir, top);
    let bytes = std::fs::read(&path).map_err(|_| {
        BundleError::Refused(format!(
            "manifest {top} is missing from the bundle ({})",
            path.display()
        ))
    })?;
    if bytes.len() > media::MAX_MANIFEST_BYTES {
        return Err(BundleError::Refused(format!("manifest {top} is too large")));
    }
    manifests.insert(top.clone(), bytes.len() as u64);
    let doc: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| BundleError::Refused(format!("manifest {top} is not JSON: {e}")))?;
    let media_type = doc
        .get("mediaType")
        .and_then(|m| m.as_str())
        .unwrap_or(top_media_type)
        .to_string();
    let descriptor = |d: &serde_json::Value| -> Result<(Digest, u64, String), BundleError> {
        let digest = d
            .get("digest")
            .and_then(|x| x.as_str())
            .and_then(|x| x.parse::<Digest>().ok())
            .ok_or_else(|| {
                BundleError::Refused(format!("manifest {top}: a descriptor has no valid digest"))
            })?;
        let size = d.get("size").and_then(|x| x.as_u64()).ok_or_else(|| {
            BundleError::Refused(format!("manifest {top}: descriptor {digest} has no size"))
        })?;
        let mt = d
            .get("mediaType")
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string();
        Ok((digest, size, mt))
    };
    if media::is_index(&media_type) || doc.get("manifests").is_some() {
        for child in doc
            .get("manifests")
            .and_then(|m| m.as_array())
            .into_iter()
            .flatten()
        {
            let (digest, size, mt) = descriptor(child)?;
            check_size(dir, &digest, size)?;
            if !manifests.contains_key(&digest) {
                graph(dir, &digest, &mt, manifests, blobs, depth + 1)?;
            }
        }
    } else {
        let mut all = Vec::new();
        if let Some(c) = doc.get("config") {
            all.push(c.clone());
        }
        if let Some(layers) = doc.get("layers").and_then(|l| l.as_array()) {
            all.extend(layers.iter().cloned());
        }
        for d in all {
            let (digest, size, mt) = descriptor(&d)?;
            // Non-distributable layers are not carried (as copy does not copy them).
            if (mt.contains("foreign") || mt.contains("nondistributable"))
                && d.get("urls").is_some()
            {
                continue;
            }
            check_size(dir, &digest, size)?;
            blobs.insert(digest, size);
        }
    }
    Ok(())
}

/// A blob present in the bundle must have exactly its declared size.
fn check_size(dir: &Path, digest: &Digest, declared: u64) -> Result<(), BundleError> {
    if let Ok(meta) = std::fs::metadata(blob_path(dir, digest))
        && meta.len() != declared
    {
        return Err(BundleError::Refused(format!(
            "blob {digest} is {} bytes but its descriptor declares {declared}",
            meta.len()
        )));
    }
    Ok(())
}

/// Load the manifest of an earlier bundle: a directory, an archive, or the JSON file itself.
pub fn load_manifest(path: &Path) -> Result<BundleManifest, BundleError> {
    let what = path.display().to_string();
    if path.is_dir() {
        let p = path.join(BUNDLE_FILE);
        let bytes = std::fs::read(&p).map_err(|e| {
            BundleError::Refused(format!("{}: not a mirrorkit bundle ({e})", p.display()))
        })?;
        return parse_manifest(&bytes, &what);
    }
    if path.extension().is_some_and(|e| e == "json") {
        let bytes = std::fs::read(path).map_err(|e| OciError::io(path, e))?;
        return parse_manifest(&bytes, &what);
    }
    // An archive: read entries until the manifest (it is small; nothing else is kept).
    let reader = archive::open_reader(path)?;
    let mut tar = tar::Archive::new(reader);
    let entries = tar
        .entries()
        .map_err(|e| BundleError::Refused(format!("{what}: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| BundleError::Refused(format!("{what}: {e}")))?;
        let is_manifest = entry
            .path()
            .ok()
            .is_some_and(|p| p.components().count() == 1 && p.ends_with(BUNDLE_FILE));
        if is_manifest {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::Read::take(&mut entry, 64 << 20), &mut bytes)
                .map_err(|e| BundleError::Refused(format!("{what}: {e}")))?;
            return parse_manifest(&bytes, &what);
        }
    }
    Err(BundleError::Refused(format!(
        "{what}: no {BUNDLE_FILE}; not a mirrorkit bundle"
    )))
}

/// Export `items` into one bundle.
pub async fn export(
    mut items: Vec<ExportItem>,
    opts: &ExportOptions,
    copy_opts: &CopyOptions,
) -> Result<ExportReport, BundleError> {
    if items.is_empty() {
        return Err(BundleError::Usage("nothing to export".into()));
    }
    for i in &items {
        if !is_valid_repository(&i.repository) || !is_valid_tag(&i.tag) {
            return Err(BundleError::Usage(format!(
                "cannot file {} as {}:{} (invalid repository or tag)",
                i.source, i.repository, i.tag
            )));
        }
    }
    items.sort_by(|a, b| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
    items.dedup_by(|a, b| a.repository == b.repository && a.tag == b.tag);
    if opts.format == BundleFormat::Layout
        && opts.output.exists()
        && std::fs::read_dir(&opts.output).map_or(true, |mut d| d.next().is_some())
    {
        return Err(BundleError::Usage(format!(
            "{} exists and is not empty; export into a new directory",
            opts.output.display()
        )));
    }
    let base = opts.since.as_deref().map(load_manifest).transpose()?;
    let staging = Staging::new_in(&parent_of(&opts.output))?;
    let layout = Layout::create(staging.path().to_path_buf())?;

    // Copy every image in; group tags by (repository, digest).
    let mut grouped: BTreeMap<(String, Digest), BundleItem> = BTreeMap::new();
    let mut entries: Vec<(String, String, Digest, String, u64)> = Vec::new();
    for item in &items {
        let (top, _) = copy_into_layout(&item.source, &layout, copy_opts).await?;
        entries.push((
            item.repository.clone(),
            item.tag.clone(),
            top.digest.clone(),
            top.media_type.clone(),
            top.bytes.len() as u64,
        ));
        grouped
            .entry((item.repository.clone(), top.digest.clone()))
            .or_insert_with(|| BundleItem {
                source: item.source.to_string(),
                repository: item.repository.clone(),
                digest: top.digest.to_string(),
                media_type: top.media_type.clone(),
                size: top.bytes.len() as u64,
                tags: Vec::new(),
            })
            .tags
            .push(item.tag.clone());
    }

    // The blob graph: manifests always travel; other blobs a base already carried do not.
    let dir = staging.path().to_path_buf();
    let tops: Vec<(Digest, String)> = entries
        .iter()
        .map(|(_, _, d, mt, _)| (d.clone(), mt.clone()))
        .collect();
    let (manifests, blobs) = tokio::task::spawn_blocking(move || {
        let mut manifests = BTreeMap::new();
        let mut blobs = BTreeMap::new();
        for (d, mt) in &tops {
            graph(&dir, d, mt, &mut manifests, &mut blobs, 0)?;
        }
        Ok::<_, BundleError>((manifests, blobs))
    })
    .await
    .map_err(|e| BundleError::Usage(format!("export task failed: {e}")))??;
    let base_set: BTreeSet<String> = base
        .iter()
        .flat_map(|b| b.blobs.iter().chain(&b.base_blobs))
        .map(|b| b.digest.clone())
        .collect();
    let mut kept = Vec::new();
    let mut left_to_base = Vec::new();
    for (d, size) in manifests.iter().chain(blobs.iter()) {
        let r = BlobRef {
            digest: d.to_string(),
            size: *size,
        };
        if !manifests.contains_key(d) && base_set.contains(&r.digest) {
            let _ = std::fs::remove_file(blob_path(staging.path(), d));
            left_to_base.push(r);
        } else {
            kept.push(r);
        }
    }
    kept.sort();
    kept.dedup();
    left_to_base.sort();
    left_to_base.dedup();

    // index.json: one entry per tag, sorted by name.
    entries.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": entries.iter().map(|(repo, tag, digest, mt, size)| serde_json::json!({
            "mediaType": mt,
            "digest": digest.to_string(),
            "size": size,
            "annotations": {
                REF_NAME: format!("{repo}:{tag}"),
                ANNOTATION_REPOSITORY: repo,
            },
        })).collect::<Vec<_>>(),
    });
    let mut items_out: Vec<BundleItem> = grouped.into_values().collect();
    for i in &mut items_out {
        i.tags.sort();
    }
    let id = {
        let mut h = Hasher::new(mirrorkit_core::digest::Algorithm::Sha256);
        let canonical = serde_json::to_vec(&(&items_out, &kept, &left_to_base))
            .map_err(|e| BundleError::Usage(e.to_string()))?;
        h.update(&canonical);
        h.finish().to_string()
    };
    let manifest = BundleManifest {
        format: FORMAT_VERSION,
        id: id.clone(),
        created_by: concat!("mirrorkit ", env!("CARGO_PKG_VERSION")).to_string(),
        spec: opts.spec.clone(),
        base: base.as_ref().map(|b| b.id.clone()),
        items: items_out,
        blobs: kept.clone(),
        base_blobs: left_to_base.clone(),
    };
    let write = |name: &str, value: &dyn erased::Json| -> Result<(), BundleError> {
        let p = staging.path().join(name);
        std::fs::write(&p, value.to_json()).map_err(|e| OciError::io(&p, e))?;
        Ok(())
    };
    write("index.json", &index)?;
    write(BUNDLE_FILE, &manifest)?;

    let mut report = ExportReport {
        output: Vec::new(),
        id,
        items: manifest.items.len(),
        tags: entries.len(),
        blobs: kept.len(),
        bytes: kept.iter().map(|b| b.size).sum(),
        base_blobs: left_to_base.len(),
    };
    match opts.format {
        BundleFormat::Layout => {
            let dir = staging.keep();
            if opts.output.exists() {
                let _ = std::fs::remove_dir(&opts.output);
            }
            std::fs::rename(&dir, &opts.output).map_err(|e| OciError::io(&opts.output, e))?;
            report.output.push(opts.output.clone());
        }
        BundleFormat::Archive => {
            let (dir, out, c, split) = (
                staging.path().to_path_buf(),
                opts.output.clone(),
                opts.compression,
                opts.split,
            );
            report.output =
                tokio::task::spawn_blocking(move || archive::write_with(&dir, &out, c, split))
                    .await
                    .map_err(|e| BundleError::Usage(format!("archive task failed: {e}")))??;
        }
    }
    Ok(report)
}

/// Serialising the two documents through one closure.
mod erased {
    pub(super) trait Json {
        fn to_json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Vec<u8> {
            let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
            v.push(b'\n');
            v
        }
    }
}

/// An opened bundle: a verified layout directory (the bundle itself, or an archive unpacked
/// into a temp directory) and what it holds.
pub struct OpenBundle {
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    /// `mirrorkit-bundle.json`, when present (layouts written by other tools have none).
    pub manifest: Option<BundleManifest>,
    /// Every tag: (repository, tag, digest, media type).
    pub tags: Vec<(String, String, Digest, String)>,
    /// Blobs the images need that the bundle does not carry (a delta's base blobs), per
    /// repository.
    pub needs: BTreeMap<String, BTreeSet<Digest>>,
    /// Blobs verified.
    pub blobs_verified: usize,
}

impl OpenBundle {
    /// The layout directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Hash every blob file of a layout directory against its name.
fn verify_blobs(dir: &Path) -> Result<usize, BundleError> {
    let mut n = 0;
    for alg in ["sha256", "sha512"] {
        let d = dir.join("blobs").join(alg);
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in rd {
            let entry = entry.map_err(|e| OciError::io(&d, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            let digest: Digest = format!("{alg}:{name}").parse().map_err(|_| {
                BundleError::Refused(format!("{}: not a blob name", entry.path().display()))
            })?;
            if !entry
                .file_type()
                .map_err(|e| OciError::io(entry.path(), e))?
                .is_file()
            {
                return Err(BundleError::Refused(format!(
                    "{}: a blob must be a regular file",
                    entry.path().display()
                )));
            }
            let mut f =
                std::fs::File::open(entry.path()).map_err(|e| OciError::io(entry.path(), e))?;
            let mut h = Hasher::new(digest.algorithm());
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let k = std::io::Read::read(&mut f, &mut buf)
                    .map_err(|e| OciError::io(entry.path(), e))?;
                if k == 0 {
                    break;
                }
                h.update(&buf[..k]);
            }
            let actual = h.finish();
            if actual != digest {
                return Err(BundleError::Refused(format!(
                    "blob {digest} does not match its content (sha256 of the file is {actual})"
                )));
            }
            n += 1;
        }
    }
    Ok(n)
}

/// Open and verify a bundle: a layout directory, or an archive (plain, gzip or zstd; whole or in
/// parts). Every blob is hashed, every image walked; nothing is written anywhere but a temp dir.
/// `repository` names the repository for entries of a foreign layout that carry only a tag.
/// An archive is unpacked into a temp directory under `staging_in` (default: the system temp
/// dir); put it on the target's filesystem so blobs can be hard-linked into place.
pub async fn open(
    path: &Path,
    repository: Option<&str>,
    staging_in: Option<&Path>,
) -> Result<OpenBundle, BundleError> {
    let path = path.to_path_buf();
    let repository = repository.map(str::to_string);
    let staging_in = staging_in.map(Path::to_path_buf);
    tokio::task::spawn_blocking(move || {
        open_blocking(&path, repository.as_deref(), staging_in.as_deref())
    })
    .await
    .map_err(|e| BundleError::Usage(format!("bundle task failed: {e}")))?
}

fn open_blocking(
    path: &Path,
    repository: Option<&str>,
    staging_in: Option<&Path>,
) -> Result<OpenBundle, BundleError> {
    let (dir, temp, blobs_verified) = if path.is_dir() {
        let n = verify_blobs(path)?;
        (path.to_path_buf(), None, n)
    } else {
        let parent = staging_in
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&parent).map_err(|e| OciError::io(&parent, e))?;
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempdir_in(&parent)
            .map_err(|e| OciError::io(&parent, e))?;
        let reader = archive::open_reader(path)?;
        let what = path.display().to_string();
        archive::extract_reader(reader, &what, temp.path(), true).map_err(|e| match e {
            OciError::Malformed { .. } | OciError::DigestMismatch { .. } => {
                BundleError::Refused(format!("{e}; nothing was imported"))
            }
            other => BundleError::Oci(other),
        })?;
        let n = std::fs::read_dir(temp.path().join("blobs/sha256"))
            .map(|d| d.count())
            .unwrap_or(0);
        (temp.path().to_path_buf(), Some(temp), n)
    };
    let layout_marker = dir.join("oci-layout");
    if !layout_marker.is_file() {
        return Err(BundleError::Refused(format!(
            "{}: no oci-layout file; not an OCI image layout",
            path.display()
        )));
    }
    let manifest = match std::fs::read(dir.join(BUNDLE_FILE)) {
        Ok(bytes) => Some(parse_manifest(&bytes, &path.display().to_string())?),
        Err(_) => None,
    };
    let index_bytes = std::fs::read(dir.join("index.json")).map_err(|e| {
        BundleError::Refused(format!("{}: cannot read index.json: {e}", path.display()))
    })?;
    let index: serde_json::Value = serde_json::from_slice(&index_bytes).map_err(|e| {
        BundleError::Refused(format!("{}: index.json is not JSON: {e}", path.display()))
    })?;
    let mut tags = Vec::new();
    for m in index
        .get("manifests")
        .and_then(|m| m.as_array())
        .into_iter()
        .flatten()
    {
        let ann = m.get("annotations");
        let get = |k: &str| ann.and_then(|a| a.get(k)).and_then(|v| v.as_str());
        let Some(name) = get(REF_NAME) else {
            continue; // untagged entries are reachable only through tagged ones
        };
        let (repo, tag) = match (get(ANNOTATION_REPOSITORY), name.rsplit_once(':')) {
            (Some(r), Some((_, t))) => (r.to_string(), t.to_string()),
            (Some(r), None) => (r.to_string(), name.to_string()),
            (None, Some((r, t))) if is_valid_repository(r) => (r.to_string(), t.to_string()),
            (None, _) => match repository {
                Some(r) => (r.to_string(), name.to_string()),
                None => {
                    return Err(BundleError::Usage(format!(
                        "{}: entry {name:?} names no repository; give one with --repository",
                        path.display()
                    )));
                }
            },
        };
        if !is_valid_repository(&repo) || !is_valid_tag(&tag) {
            return Err(BundleError::Refused(format!(
                "{}: entry {name:?} is not a valid repository:tag",
                path.display()
            )));
        }
        let digest: Digest = m
            .get("digest")
            .and_then(|d| d.as_str())
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| {
                BundleError::Refused(format!(
                    "{}: entry {name:?} has no valid digest",
                    path.display()
                ))
            })?;
        let media_type = m
            .get("mediaType")
            .and_then(|d| d.as_str())
            .unwrap_or_default()
            .to_string();
        if let Some(size) = m.get("size").and_then(|s| s.as_u64()) {
            check_size(&dir, &digest, size)?;
        }
        tags.push((repo, tag, digest, media_type));
    }
    // Walk every image: manifests must be here; other blobs here, or left to the base.
    let base_blobs: BTreeSet<String> = manifest
        .iter()
        .flat_map(|m| m.base_blobs.iter().map(|b| b.digest.clone()))
        .collect();
    let mut needs: BTreeMap<String, BTreeSet<Digest>> = BTreeMap::new();
    for (repo, tag, digest, mt) in &tags {
        let mut manifests = BTreeMap::new();
        let mut blobs = BTreeMap::new();
        graph(&dir, digest, mt, &mut manifests, &mut blobs, 0)?;
        for d in blobs.keys() {
            if blob_path(&dir, d).is_file() {
                continue;
            }
            if base_blobs.contains(&d.to_string()) {
                needs.entry(repo.clone()).or_default().insert(d.clone());
            } else {
                return Err(BundleError::Refused(format!(
                    "blob {d} of {repo}:{tag} is missing from the bundle"
                )));
            }
        }
    }
    Ok(OpenBundle {
        dir,
        _temp: temp,
        manifest,
        tags,
        needs,
        blobs_verified,
    })
}

/// Where an import goes.
#[derive(Clone, Debug)]
pub enum ImportTarget {
    /// `docker://HOST[/NAMESPACE]`.
    Registry {
        /// `host[:port]`.
        host: String,
        /// Repository prefix.
        namespace: Option<String>,
    },
    /// `oci:DIR`: one layout per repository under DIR.
    Layouts {
        /// The directory.
        root: PathBuf,
    },
}

impl ImportTarget {
    /// Parse `docker://HOST[/NAMESPACE]` or `oci:DIR`.
    pub fn parse(s: &str) -> Result<ImportTarget, BundleError> {
        if let Some(rest) = s.strip_prefix("docker://") {
            let (host, ns) = match rest.split_once('/') {
                Some((h, n)) => (h, Some(n.trim_end_matches('/'))),
                None => (rest, None),
            };
            if host.is_empty() || ns.is_some_and(|n| !n.is_empty() && !is_valid_repository(n)) {
                return Err(BundleError::Usage(format!(
                    "--to {s:?}: expected docker://HOST[:PORT][/NAMESPACE]"
                )));
            }
            Ok(ImportTarget::Registry {
                host: host.to_string(),
                namespace: ns.filter(|n| !n.is_empty()).map(str::to_string),
            })
        } else if let Some(dir) = s.strip_prefix("oci:") {
            if dir.is_empty() {
                return Err(BundleError::Usage("--to oci: needs a directory".into()));
            }
            Ok(ImportTarget::Layouts {
                root: PathBuf::from(dir),
            })
        } else {
            Err(BundleError::Usage(format!(
                "--to {s:?}: expected docker://HOST[/NAMESPACE] or oci:DIR"
            )))
        }
    }

    fn reference(&self, repository: &str, tag: &str) -> ImageReference {
        match self {
            ImportTarget::Registry { host, namespace } => ImageReference::Docker {
                host: host.clone(),
                repository: match namespace {
                    Some(ns) => format!("{ns}/{repository}"),
                    None => repository.to_string(),
                },
                tag: Some(tag.to_string()),
                digest: None,
            },
            ImportTarget::Layouts { root } => ImageReference::Layout {
                path: root.join(repository),
                reference: Some(tag.to_string()),
            },
        }
    }
}

/// What happened to one tag in an import.
#[derive(Clone, Debug, Serialize)]
pub struct TagOutcome {
    /// Repository in the target (namespace included).
    pub repository: String,
    /// Tag.
    pub tag: String,
    /// Digest it points at.
    pub digest: String,
    /// `added` (new tag), `updated` (the tag pointed elsewhere), `unchanged`, `refused`, or with
    /// `--dry-run` the same words for what would happen.
    pub status: &'static str,
    /// Why refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What an import did.
#[derive(Clone, Debug, Serialize)]
pub struct ImportReport {
    /// The bundle's id, when it has a manifest.
    pub bundle: Option<String>,
    /// Nothing was written.
    pub dry_run: bool,
    /// Per tag.
    pub tags: Vec<TagOutcome>,
    /// Blobs sent to the target.
    pub blobs_sent: u64,
    /// Blobs the target already had.
    pub blobs_present: u64,
    /// Bytes sent.
    pub bytes: u64,
}

impl ImportReport {
    /// One line per tag and a summary.
    pub fn to_plain(&self) -> String {
        let mut out = String::new();
        for t in &self.tags {
            out.push_str(&format!(
                "{:9} {}:{} {}{}\n",
                t.status,
                t.repository,
                t.tag,
                t.digest,
                t.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
        let count = |s: &str| self.tags.iter().filter(|t| t.status == s).count();
        out.push_str(&format!(
            "{}{} added, {} updated, {} unchanged, {} refused; {} blobs sent ({} bytes), {} already present\n",
            if self.dry_run { "dry run: " } else { "" },
            count("added"),
            count("updated"),
            count("unchanged"),
            count("refused"),
            self.blobs_sent,
            self.bytes,
            self.blobs_present
        ));
        out
    }
}

/// Import an opened bundle into `target`: refuse a delta whose base blobs the target lacks
/// (naming them) before anything is written; then per tag blobs, manifests, tag.
pub async fn import(
    bundle: &OpenBundle,
    target: &ImportTarget,
    dry_run: bool,
    copy_opts: &CopyOptions,
) -> Result<ImportReport, BundleError> {
    // Where the target stands: the current digest of every tag, and the delta's base blobs.
    let registry = match target {
        ImportTarget::Registry { host, .. } => Some(copy_opts.access().registry(host, false)?),
        ImportTarget::Layouts { .. } => None,
    };
    let target_repo = |repo: &str| match target {
        ImportTarget::Registry {
            namespace: Some(ns),
            ..
        } => format!("{ns}/{repo}"),
        _ => repo.to_string(),
    };
    let mut missing = Vec::new();
    for (repo, digests) in &bundle.needs {
        for d in digests {
            let present = match (&registry, target) {
                (Some(r), _) => r.head_blob(&target_repo(repo), d).await?.is_some(),
                (None, ImportTarget::Layouts { root }) => blob_path(&root.join(repo), d).is_file(),
                _ => false,
            };
            if !present {
                missing.push(format!("{}@{d}", target_repo(repo)));
            }
        }
    }
    if !missing.is_empty() {
        let base = bundle
            .manifest
            .as_ref()
            .and_then(|m| m.base.clone())
            .unwrap_or_else(|| "(unknown)".into());
        let shown: Vec<&String> = missing.iter().take(5).collect();
        return Err(BundleError::Refused(format!(
            "this is a delta bundle on top of {base}, and the target lacks {} blob(s) the base carried: {}{}; import the base bundle first",
            missing.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if missing.len() > 5 { ", …" } else { "" }
        )));
    }
    // An archive was unpacked (and every blob verified) into our own temp dir: its blobs may be
    // linked rather than copied. A bundle directory belongs to the user: copied, never linked.
    let mut copy_opts = copy_opts.clone();
    copy_opts.link_verified_layouts = bundle._temp.is_some();
    // Images are pushed several at once; a blob several of them share is sent once and mounted
    // into the other repositories.
    copy_opts.known_blobs = Some(Arc::default());
    let copy_opts = &copy_opts;
    let mut report = ImportReport {
        bundle: bundle.manifest.as_ref().map(|m| m.id.clone()),
        dry_run,
        tags: Vec::new(),
        blobs_sent: 0,
        blobs_present: 0,
        bytes: 0,
    };
    let registry = registry.as_ref();
    let results: Vec<Result<(TagOutcome, Option<CopyReport>), BundleError>> =
        futures_util::stream::iter(&bundle.tags)
            .map(|(repo, tag, digest, _mt)| async move {
                let current =
                    current_digest(registry, target, &target_repo(repo), repo, tag).await?;
                let status = match &current {
                    Some(d) if d == digest => "unchanged",
                    Some(_) => "updated",
                    None => "added",
                };
                let mut outcome = TagOutcome {
                    repository: target_repo(repo),
                    tag: tag.clone(),
                    digest: digest.to_string(),
                    status,
                    reason: None,
                };
                if dry_run || status == "unchanged" {
                    return Ok((outcome, None));
                }
                let src = ImageReference::Layout {
                    path: bundle.dir.clone(),
                    reference: Some(digest.to_string()),
                };
                match copy(&src, &target.reference(repo, tag), copy_opts).await {
                    Ok(r) => Ok((outcome, Some(r))),
                    Err(e) => {
                        // Unreachable or refusing targets end the import; a single image the
                        // target rejects is reported and the rest go on.
                        let code = e.exit_code();
                        if matches!(
                            code,
                            mirrorkit_core::exit::ExitCode::Unavailable
                                | mirrorkit_core::exit::ExitCode::NoPermission
                                | mirrorkit_core::exit::ExitCode::Io
                        ) {
                            return Err(e.into());
                        }
                        outcome.status = "refused";
                        outcome.reason = Some(e.to_string());
                        Ok((outcome, None))
                    }
                }
            })
            .buffered(match target {
                ImportTarget::Registry { .. } => IMAGES_AT_ONCE,
                // Local layouts: the blobs are hard-linked or copied on one disk, where running
                // several at once only adds seeks.
                ImportTarget::Layouts { .. } => 1,
            })
            .collect()
            .await;
    for result in results {
        let (outcome, copied) = result?;
        if let Some(r) = copied {
            report.blobs_sent += r.blobs_copied + r.blobs_mounted;
            report.blobs_present += r.blobs_skipped;
            report.bytes += r.bytes;
        }
        report.tags.push(outcome);
    }
    Ok(report)
}

/// Images pushed at once into a registry by an import (each sends its blobs
/// `CopyOptions::concurrency` at once).
const IMAGES_AT_ONCE: usize = 4;

async fn current_digest(
    registry: Option<&Registry>,
    target: &ImportTarget,
    target_repo: &str,
    repo: &str,
    tag: &str,
) -> Result<Option<Digest>, BundleError> {
    match (registry, target) {
        (Some(r), _) => Ok(r
            .head_manifest(target_repo, tag)
            .await?
            .and_then(|h| h.digest)),
        (None, ImportTarget::Layouts { root }) => {
            let dir = root.join(repo);
            if !dir.join("index.json").is_file() {
                return Ok(None);
            }
            match Layout::open(dir)?.resolve(Some(tag)) {
                Ok(d) => Ok(d.digest().to_string().parse().ok()),
                Err(OciError::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        _ => Ok(None),
    }
}
