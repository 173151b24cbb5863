//! `copy`: one image (a manifest, or an index with every platform manifest) from one place to
//! another — registry, OCI layout, OCI archive — with digests preserved.
//!
//! Order is what keeps the destination consistent: blobs (config, layers), then child manifests
//! by digest, then the top manifest or index, then the tag. Manifests travel as raw bytes.
//! Blobs the destination already has are not sent; between two repositories of one registry they
//! are mounted. Blob bytes stream from source to destination (no temp file between registries),
//! several at once, and the destination hashes them as they arrive: a blob that does not match
//! its digest is never committed, and the copy stops before any manifest or tag refers to it.
//!
//! With [`CopyOptions::platforms`] only those platforms of an index are copied (a new index,
//! see `platforms`); with [`CopyOptions::referrers`] the signatures, SBOMs and attestations
//! of every copied manifest come along (see [`referrers`]).
//!
//! - `store`: a registry repository or a layout, behind one interface.
//! - `transfer`: a manifest tree from one store to another.

pub mod known_blobs;
pub mod platforms;
pub mod referrers;
pub mod store;
pub mod transfer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use mirrorkit_core::digest::Digest;
use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::http::HttpClient;
use mirrorkit_core::http::credentials::Credentials;
use mirrorkit_core::platform::Platform;

use crate::archive;
use crate::error::OciError;
use crate::layout::Layout;
use crate::reference::{ImageReference, ReferenceError};
use crate::registry::Registry;
use crate::registry::manifests::RawManifest;
use known_blobs::ReferrersApi;
use platforms::Selection;
use referrers::{ReferrerCopy, SourceReferrers};
use store::{Publish, Store};
use transfer::{Stats, Transfer};

pub use transfer::DEFAULT_BLOB_CONCURRENCY;

/// Settings of a [`copy`].
#[derive(Clone)]
pub struct CopyOptions {
    /// Registries (`host[:port]`) spoken to over plain HTTP.
    pub insecure_hosts: Vec<String>,
    /// The shared HTTP client.
    pub http: HttpClient,
    /// Registry credentials.
    pub credentials: Credentials,
    /// Chunk size of registry uploads (`None`: [`crate::registry::DEFAULT_CHUNK_SIZE`]).
    pub chunk_size: Option<usize>,
    /// Between two layouts on one filesystem, hard-link blobs instead of copying them. Only for
    /// sources whose blobs are known to be verified (a linked blob is not re-hashed).
    pub link_verified_layouts: bool,
    /// Only these platforms of an index (`None`: all, and the index keeps its digest).
    pub platforms: Option<Vec<Platform>>,
    /// Also copy the referrers (signatures, SBOMs, attestations) of every copied manifest.
    pub referrers: bool,
    /// Blobs sent at once within one image.
    pub concurrency: usize,
    /// What copies running side by side learn about the destination: blobs each repository
    /// holds (a blob another copy put in the registry is mounted, not sent again) and one
    /// sender per blob at a time. `None`: each copy on its own.
    pub known_blobs: Option<Arc<known_blobs::KnownBlobs>>,
}

impl CopyOptions {
    /// What opening a registry needs: the client, credentials and plain-HTTP hosts.
    pub fn access(&self) -> crate::target::Access<'_> {
        crate::target::Access {
            http: &self.http,
            credentials: &self.credentials,
            insecure_hosts: &self.insecure_hosts,
        }
    }

    /// Options with no insecure host, the default chunk size, every platform, no referrers and
    /// [`DEFAULT_BLOB_CONCURRENCY`] blobs at once.
    pub fn new(http: HttpClient, credentials: Credentials) -> CopyOptions {
        CopyOptions {
            insecure_hosts: Vec::new(),
            http,
            credentials,
            chunk_size: None,
            link_verified_layouts: false,
            platforms: None,
            referrers: false,
            concurrency: DEFAULT_BLOB_CONCURRENCY,
            known_blobs: None,
        }
    }
}

/// What a copy did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct CopyReport {
    /// The source reference.
    pub source: String,
    /// The destination reference.
    pub destination: String,
    /// Digest of the top manifest or index written (the source's, unless a platform subset
    /// made a new index).
    pub digest: Digest,
    /// The source's digest, when the one written differs (a platform subset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<Digest>,
    /// Its media type.
    pub media_type: String,
    /// Manifests written (children and top, and referrers).
    pub manifests: u64,
    /// Blobs whose bytes were sent.
    pub blobs_copied: u64,
    /// Blobs the destination already had.
    pub blobs_skipped: u64,
    /// Blobs mounted from the source repository on the same registry (no bytes sent).
    pub blobs_mounted: u64,
    /// Bytes of blob content sent.
    pub bytes: u64,
    /// Referrers copied along (or already there), by digest.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<Digest>,
}

impl CopyReport {
    fn new(source: String, destination: String, top: &RawManifest) -> CopyReport {
        CopyReport {
            source,
            destination,
            digest: top.digest.clone(),
            source_digest: None,
            media_type: top.media_type.clone(),
            manifests: 0,
            blobs_copied: 0,
            blobs_skipped: 0,
            blobs_mounted: 0,
            bytes: 0,
            referrers: Vec::new(),
        }
    }

    fn add(&mut self, s: Stats) {
        self.manifests += s.manifests;
        self.blobs_copied += s.blobs_copied;
        self.blobs_skipped += s.blobs_skipped;
        self.blobs_mounted += s.blobs_mounted;
        self.bytes += s.bytes;
    }
}

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A reference could not be parsed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The references are valid but cannot be used this way.
    #[error("{0}")]
    Usage(String),
    /// None of the platforms asked for is in the source.
    #[error("nothing to copy: {0}")]
    NoMatchingPlatform(String),
    /// Reading the source or writing the destination failed.
    #[error(transparent)]
    Oci(#[from] OciError),
}

impl HasExitCode for CopyError {
    /// Bad reference 64, bad data or digest mismatch 65, unreachable 69, local I/O 74,
    /// credentials refused 77, no matching platform and anything else 1.
    fn exit_code(&self) -> ExitCode {
        match self {
            CopyError::Reference(_) | CopyError::Usage(_) => ExitCode::Usage,
            CopyError::NoMatchingPlatform(_) => ExitCode::ItemFailed,
            CopyError::Oci(e) => e.exit_code(),
        }
    }
}

/// One side of a copy: a store and the reference in it.
struct Endpoint {
    store: Store,
    /// Tag or digest (registries: always set, `latest` by default).
    reference: Option<String>,
    /// Keeps an extracted or to-be-archived layout alive.
    _temp: Option<tempfile::TempDir>,
    /// Where to write the archive when the copy succeeded (destination archives).
    archive_to: Option<PathBuf>,
}

/// Parse both references and [`copy`].
pub async fn copy_str(src: &str, dst: &str, opts: &CopyOptions) -> Result<CopyReport, CopyError> {
    let src: ImageReference = src.parse()?;
    let dst: ImageReference = dst.parse()?;
    copy(&src, &dst, opts).await
}

/// Copy the image at `src` (a manifest, or an index with all its manifests) to `dst`.
pub async fn copy(
    src: &ImageReference,
    dst: &ImageReference,
    opts: &CopyOptions,
) -> Result<CopyReport, CopyError> {
    let mut registries: HashMap<String, Arc<Registry>> = HashMap::new();
    let source = open_endpoint(src, opts, &mut registries, false).await?;
    let dest = open_endpoint(dst, opts, &mut registries, true).await?;
    let original = source
        .store
        .get_manifest(source.reference.as_deref())
        .await?;
    let mut top = original.clone();
    if let Some(wanted) = &opts.platforms {
        match platforms::choose(&source.store, &original, wanted).await? {
            Selection::Whole => {}
            Selection::Subset { index, .. } => top = index,
            Selection::NoMatch(reason) => return Err(CopyError::NoMatchingPlatform(reason)),
        }
    }
    let mut report = CopyReport::new(src.to_string(), dst.to_string(), &top);
    if top.digest != original.digest {
        report.source_digest = Some(original.digest.clone());
    }
    let target_key = match dst {
        ImageReference::Docker { host, .. } => format!("docker://{host}"),
        other => other.to_string(),
    };
    let transfer = Transfer {
        source: &source.store,
        dest: &dest.store,
        link: opts.link_verified_layouts,
        concurrency: opts.concurrency,
        known: opts.known_blobs.as_deref().map(|blobs| transfer::Known {
            blobs,
            target: &target_key,
        }),
    };
    let tree = transfer.collect(&top).await?;
    report.add(transfer.copy_collected(&tree).await?);
    dest.push_top(&top).await?;
    report.manifests += 1;
    if opts.referrers {
        let api = ReferrersApi::default();
        let found = SourceReferrers::new(&source.store, &api, None);
        let copier = ReferrerCopy {
            transfer: &transfer,
            source: &found,
            api: &api,
        };
        // The referrers of a platform subset's source index sign a digest the destination does
        // not hold: only the kept manifests' referrers are copied.
        let mut subjects: Vec<Digest> = tree.children.iter().map(|c| c.digest.clone()).collect();
        if report.source_digest.is_none() {
            subjects.insert(0, top.digest.clone());
        }
        let copied = copier.copy_for(&subjects).await?;
        report.add(copied.stats);
        report.referrers = copied.digests;
    }
    dest.finish().await?;
    Ok(report)
}

/// Copy the image at `src` into `layout`: every blob and manifest, stored by digest, with no
/// `index.json` entry (the caller writes the index). Blobs the layout holds are not copied again.
/// Returns the top manifest and what was copied.
pub async fn copy_into_layout(
    src: &ImageReference,
    layout: &Layout,
    opts: &CopyOptions,
) -> Result<(RawManifest, CopyReport), CopyError> {
    let mut registries: HashMap<String, Arc<Registry>> = HashMap::new();
    let source = open_endpoint(src, opts, &mut registries, false).await?;
    let dest = Store::Layout {
        layout: layout.clone(),
        root: None,
    };
    let top = source
        .store
        .get_manifest(source.reference.as_deref())
        .await?;
    let mut report = CopyReport::new(
        src.to_string(),
        format!("oci:{}", layout.dir().display()),
        &top,
    );
    let transfer = Transfer {
        source: &source.store,
        dest: &dest,
        link: opts.link_verified_layouts,
        concurrency: opts.concurrency,
        known: None,
    };
    report.add(transfer.copy_tree(&top).await?);
    dest.push_manifest(&top, Publish::Child).await?;
    report.manifests += 1;
    Ok((top, report))
}

/// A registry client for `host`, shared by every reference to it.
pub fn registry_for(
    host: &str,
    opts: &CopyOptions,
    registries: &mut HashMap<String, Arc<Registry>>,
) -> Result<Arc<Registry>, OciError> {
    if let Some(r) = registries.get(host) {
        return Ok(r.clone());
    }
    let mut reg = opts.access().registry(host, false)?;
    if let Some(size) = opts.chunk_size {
        reg = reg.with_chunk_size(size);
    }
    let reg = Arc::new(reg);
    registries.insert(host.to_string(), reg.clone());
    Ok(reg)
}

async fn open_endpoint(
    r: &ImageReference,
    opts: &CopyOptions,
    registries: &mut HashMap<String, Arc<Registry>>,
    is_dest: bool,
) -> Result<Endpoint, CopyError> {
    match r {
        ImageReference::Docker {
            host, repository, ..
        } => Ok(Endpoint {
            store: Store::Registry {
                registry: registry_for(host, opts, registries)?,
                repository: repository.clone(),
            },
            reference: Some(r.manifest_reference().unwrap_or_else(|| "latest".into())),
            _temp: None,
            archive_to: None,
        }),
        ImageReference::Layout { path, reference } => {
            let layout = if is_dest {
                Layout::create(path.clone())?
            } else {
                Layout::open(path.clone())?
            };
            Ok(Endpoint {
                store: Store::Layout { layout, root: None },
                reference: reference.clone(),
                _temp: None,
                archive_to: None,
            })
        }
        ImageReference::Archive { path, reference } => {
            let temp = tempfile::tempdir().map_err(|e| OciError::io(std::env::temp_dir(), e))?;
            let dir = temp.path().join("layout");
            let exists = path.exists();
            if exists || !is_dest {
                let (p, d) = (path.clone(), dir.clone());
                tokio::task::spawn_blocking(move || archive::extract(&p, &d))
                    .await
                    .map_err(|e| CopyError::Usage(format!("archive extraction failed: {e}")))??;
            }
            let layout = if is_dest {
                Layout::create(dir)?
            } else {
                Layout::open(dir)?
            };
            Ok(Endpoint {
                store: Store::Layout { layout, root: None },
                reference: reference.clone(),
                _temp: Some(temp),
                archive_to: is_dest.then(|| path.clone()),
            })
        }
    }
}

impl Endpoint {
    /// Store the top manifest, then point the destination's tag (if any) at it. A digest
    /// reference must be the manifest's digest.
    async fn push_top(&self, m: &RawManifest) -> Result<(), OciError> {
        let reference = self.reference.as_deref();
        let tag = match reference {
            Some(r) => match r.parse::<Digest>() {
                Ok(d) if d != m.digest => {
                    return Err(OciError::DigestMismatch {
                        what: "destination reference".into(),
                        expected: d.to_string(),
                        actual: m.digest.to_string(),
                    });
                }
                Ok(_) => None,
                Err(_) => Some(r),
            },
            None => None,
        };
        let how = match tag {
            Some(t) => Publish::Tag(t),
            None => Publish::Untagged,
        };
        self.store.push_manifest(m, how).await
    }

    /// After everything else succeeded: write a destination archive.
    async fn finish(&self) -> Result<(), OciError> {
        if let (Store::Layout { layout, .. }, Some(path)) = (&self.store, &self.archive_to) {
            let (dir, path) = (layout.dir().to_path_buf(), path.clone());
            tokio::task::spawn_blocking(move || archive::write(&dir, &path))
                .await
                .map_err(|e| OciError::io(layout.dir(), std::io::Error::other(e)))??;
        }
        Ok(())
    }
}
