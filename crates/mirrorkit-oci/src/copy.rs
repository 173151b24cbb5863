//! `copy`: one image (a manifest, or an index with every platform manifest) from one place to
//! another — registry, OCI layout, OCI archive — with digests preserved.
//!
//! Order is what keeps the destination consistent: blobs (config, layers), then child manifests
//! by digest, then the top manifest or index, then the tag. Manifests travel as raw bytes.
//! Blobs the destination already has are not sent; between two repositories of one registry they
//! are mounted. Blob bytes stream from source to destination (no temp file between registries)
//! and the destination hashes them as they arrive: a blob that does not match its digest is
//! never committed, and the copy stops before any manifest or tag refers to it.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use mirrorkit_core::digest::Digest;
use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::http::HttpClient;
use mirrorkit_core::http::credentials::Credentials;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use crate::archive;
use crate::error::OciError;
use crate::layout::Layout;
use crate::media::{self, MAX_MANIFEST_BYTES};
use crate::reference::{ImageReference, ReferenceError};
use crate::registry::manifests::RawManifest;
use crate::registry::upload::UploadStart;
use crate::registry::{BlobStream, Registry};

/// Nesting limit for indexes of indexes (a cycle is impossible with content addressing, but a
/// hostile source could still nest deeply).
const MAX_DEPTH: usize = 8;

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
}

impl CopyOptions {
    /// Options with no insecure host and the default chunk size.
    pub fn new(http: HttpClient, credentials: Credentials) -> CopyOptions {
        CopyOptions {
            insecure_hosts: Vec::new(),
            http,
            credentials,
            chunk_size: None,
            link_verified_layouts: false,
        }
    }
}

/// What a copy did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    /// The source reference.
    pub source: String,
    /// The destination reference.
    pub destination: String,
    /// Digest of the top manifest or index (the same on both sides).
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Manifests written (children and top).
    pub manifests: u64,
    /// Blobs whose bytes were sent.
    pub blobs_copied: u64,
    /// Blobs the destination already had.
    pub blobs_skipped: u64,
    /// Blobs mounted from the source repository on the same registry (no bytes sent).
    pub blobs_mounted: u64,
    /// Bytes of blob content sent.
    pub bytes: u64,
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
    /// Reading the source or writing the destination failed.
    #[error(transparent)]
    Oci(#[from] OciError),
}

impl CopyError {
    /// Bad reference 64, bad data or digest mismatch 65, unreachable 69, local I/O 74,
    /// credentials refused 77, anything else 1.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CopyError::Reference(_) | CopyError::Usage(_) => ExitCode::Usage,
            CopyError::Oci(e) => e.exit_code(),
        }
    }
}

/// One side of a copy.
enum Endpoint {
    Registry {
        registry: Arc<Registry>,
        repository: String,
        reference: String,
    },
    Layout {
        layout: Layout,
        reference: Option<String>,
        /// Keeps an extracted or to-be-archived layout alive.
        _temp: Option<tempfile::TempDir>,
        /// Where to write the archive when the copy succeeded (destination archives).
        archive_to: Option<PathBuf>,
    },
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
    let top = source.top_manifest().await?;
    let mut copier = Copier {
        source: &source,
        dest: &dest,
        link: opts.link_verified_layouts,
        handled: HashSet::new(),
        report: CopyReport {
            source: src.to_string(),
            destination: dst.to_string(),
            digest: top.digest.clone(),
            media_type: top.media_type.clone(),
            manifests: 0,
            blobs_copied: 0,
            blobs_skipped: 0,
            blobs_mounted: 0,
            bytes: 0,
        },
    };
    copier.copy_contents(&top, 0).await?;
    dest.push_top(&top).await?;
    copier.report.manifests += 1;
    dest.finish().await?;
    Ok(copier.report)
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
    let dest = Endpoint::Layout {
        layout: layout.clone(),
        reference: None,
        _temp: None,
        archive_to: None,
    };
    let top = source.top_manifest().await?;
    let mut copier = Copier {
        source: &source,
        dest: &dest,
        link: opts.link_verified_layouts,
        handled: HashSet::new(),
        report: CopyReport {
            source: src.to_string(),
            destination: format!("oci:{}", layout.dir().display()),
            digest: top.digest.clone(),
            media_type: top.media_type.clone(),
            manifests: 0,
            blobs_copied: 0,
            blobs_skipped: 0,
            blobs_mounted: 0,
            bytes: 0,
        },
    };
    copier.copy_contents(&top, 0).await?;
    dest.push_child(&top).await?;
    copier.report.manifests += 1;
    let report = copier.report;
    Ok((top, report))
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
        } => {
            let registry = match registries.get(host) {
                Some(r) => r.clone(),
                None => {
                    let insecure = opts.insecure_hosts.iter().any(|h| h == host);
                    let mut reg =
                        Registry::new(host, insecure, opts.http.clone(), opts.credentials.clone())?;
                    if let Some(size) = opts.chunk_size {
                        reg = reg.with_chunk_size(size);
                    }
                    let reg = Arc::new(reg);
                    registries.insert(host.clone(), reg.clone());
                    reg
                }
            };
            Ok(Endpoint::Registry {
                registry,
                repository: repository.clone(),
                reference: r.manifest_reference().unwrap_or_else(|| "latest".into()),
            })
        }
        ImageReference::Layout { path, reference } => {
            let layout = if is_dest {
                Layout::create(path.clone())?
            } else {
                Layout::open(path.clone())?
            };
            Ok(Endpoint::Layout {
                layout,
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
            Ok(Endpoint::Layout {
                layout,
                reference: reference.clone(),
                _temp: Some(temp),
                archive_to: is_dest.then(|| path.clone()),
            })
        }
    }
}

impl Endpoint {
    /// The manifest or index the reference names.
    async fn top_manifest(&self) -> Result<RawManifest, OciError> {
        match self {
            Endpoint::Registry {
                registry,
                repository,
                reference,
            } => registry.get_manifest(repository, reference).await,
            Endpoint::Layout {
                layout, reference, ..
            } => {
                let d = layout.resolve(reference.as_deref())?;
                self.manifest_by_descriptor(&d).await
            }
        }
    }

    /// A child manifest named by a descriptor, verified against its digest and size.
    async fn manifest_by_descriptor(&self, d: &Descriptor) -> Result<RawManifest, OciError> {
        let digest = descriptor_digest(d)?;
        let raw = match self {
            Endpoint::Registry {
                registry,
                repository,
                ..
            } => {
                registry
                    .get_manifest(repository, &digest.to_string())
                    .await?
            }
            Endpoint::Layout { layout, .. } => {
                let bytes = layout
                    .read_blob_bytes(&digest, MAX_MANIFEST_BYTES as u64)
                    .await?;
                let declared = d.media_type().to_string();
                let media_type = if media::is_index(&declared) || media::is_manifest(&declared) {
                    declared
                } else {
                    media::sniff(&bytes).unwrap_or(declared)
                };
                RawManifest {
                    digest: Digest::sha256_of(&bytes),
                    bytes,
                    media_type,
                }
            }
        };
        if raw.digest != digest {
            return Err(OciError::DigestMismatch {
                what: "manifest".into(),
                expected: digest.to_string(),
                actual: raw.digest.to_string(),
            });
        }
        if raw.bytes.len() as u64 != d.size() {
            return Err(OciError::malformed(
                format!("manifest {digest}"),
                format!("{} bytes, descriptor says {}", raw.bytes.len(), d.size()),
            ));
        }
        Ok(raw)
    }

    async fn open_blob(&self, digest: &Digest) -> Result<BlobStream, OciError> {
        match self {
            Endpoint::Registry {
                registry,
                repository,
                ..
            } => registry.get_blob(repository, digest).await,
            Endpoint::Layout { layout, .. } => layout.open_blob(digest).await,
        }
    }

    async fn has_blob(&self, digest: &Digest) -> Result<bool, OciError> {
        match self {
            Endpoint::Registry {
                registry,
                repository,
                ..
            } => Ok(registry.head_blob(repository, digest).await?.is_some()),
            Endpoint::Layout { layout, .. } => Ok(layout.has_blob(digest)),
        }
    }

    async fn push_blob(
        &self,
        digest: &Digest,
        size: u64,
        stream: BlobStream,
    ) -> Result<u64, OciError> {
        match self {
            Endpoint::Registry {
                registry,
                repository,
                ..
            } => {
                registry
                    .push_blob_stream(repository, digest, size, stream)
                    .await
            }
            Endpoint::Layout { layout, .. } => layout.write_blob(digest, Some(size), stream).await,
        }
    }

    /// Store a child manifest by digest (no tag, no index.json entry).
    async fn push_child(&self, m: &RawManifest) -> Result<(), OciError> {
        match self {
            Endpoint::Registry {
                registry,
                repository,
                ..
            } => {
                registry
                    .put_manifest(repository, &m.digest.to_string(), &m.media_type, &m.bytes)
                    .await?;
            }
            Endpoint::Layout { layout, .. } => {
                if !layout.has_blob(&m.digest) {
                    layout.write_blob_bytes(&m.digest, m.bytes.clone()).await?;
                }
            }
        }
        Ok(())
    }

    /// Store the top manifest, then point the destination's tag (if any) at it.
    async fn push_top(&self, m: &RawManifest) -> Result<(), OciError> {
        match self {
            Endpoint::Registry {
                registry,
                repository,
                reference,
            } => {
                registry
                    .put_manifest(repository, reference, &m.media_type, &m.bytes)
                    .await?;
            }
            Endpoint::Layout {
                layout, reference, ..
            } => {
                if let Some(r) = reference
                    && let Ok(d) = r.parse::<Digest>()
                    && d != m.digest
                {
                    return Err(OciError::DigestMismatch {
                        what: "destination reference".into(),
                        expected: d.to_string(),
                        actual: m.digest.to_string(),
                    });
                }
                if !layout.has_blob(&m.digest) {
                    layout.write_blob_bytes(&m.digest, m.bytes.clone()).await?;
                }
                let tag = reference
                    .as_deref()
                    .filter(|r| r.parse::<Digest>().is_err());
                layout.set_tag(tag, &m.media_type, &m.digest, m.bytes.len() as u64)?;
            }
        }
        Ok(())
    }

    /// After everything else succeeded: write a destination archive.
    async fn finish(&self) -> Result<(), OciError> {
        if let Endpoint::Layout {
            layout,
            archive_to: Some(path),
            ..
        } = self
        {
            let (dir, path) = (layout.dir().to_path_buf(), path.clone());
            tokio::task::spawn_blocking(move || archive::write(&dir, &path))
                .await
                .map_err(|e| OciError::io(layout.dir(), std::io::Error::other(e)))??;
        }
        Ok(())
    }
}

fn descriptor_digest(d: &Descriptor) -> Result<Digest, OciError> {
    d.digest()
        .to_string()
        .parse()
        .map_err(|e| OciError::malformed("descriptor digest", e))
}

struct Copier<'a> {
    source: &'a Endpoint,
    dest: &'a Endpoint,
    /// Hard-link blobs between layouts (see [`CopyOptions::link_verified_layouts`]).
    link: bool,
    /// Blobs already handled in this copy (layers shared between platforms).
    handled: HashSet<Digest>,
    report: CopyReport,
}

impl Copier<'_> {
    /// Everything `m` refers to, recursively: blobs, and child manifests (pushed by digest).
    async fn copy_contents(&mut self, m: &RawManifest, depth: usize) -> Result<(), OciError> {
        if depth > MAX_DEPTH {
            return Err(OciError::malformed(
                format!("index {}", m.digest),
                "indexes nested too deep",
            ));
        }
        if media::is_index(&m.media_type) {
            let index: ImageIndex = serde_json::from_slice(&m.bytes)
                .map_err(|e| OciError::malformed(format!("index {}", m.digest), e))?;
            for child in index.manifests() {
                let raw = self.source.manifest_by_descriptor(child).await?;
                Box::pin(self.copy_contents(&raw, depth + 1)).await?;
                self.dest.push_child(&raw).await?;
                self.report.manifests += 1;
            }
            Ok(())
        } else if media::is_manifest(&m.media_type) {
            let manifest: ImageManifest = serde_json::from_slice(&m.bytes)
                .map_err(|e| OciError::malformed(format!("manifest {}", m.digest), e))?;
            self.copy_blob(manifest.config()).await?;
            for layer in manifest.layers() {
                self.copy_blob(layer).await?;
            }
            Ok(())
        } else {
            Err(OciError::malformed(
                format!("manifest {}", m.digest),
                format!("unsupported media type {:?}", m.media_type),
            ))
        }
    }

    async fn copy_blob(&mut self, d: &Descriptor) -> Result<(), OciError> {
        let digest = descriptor_digest(d)?;
        if !self.handled.insert(digest.clone()) {
            return Ok(());
        }
        // Docker "foreign" (non-distributable) layers live at their `urls`, not in the source
        // registry; copying them is neither possible nor allowed.
        let mt = d.media_type().to_string();
        if (mt.contains("foreign") || mt.contains("nondistributable")) && d.urls().is_some() {
            tracing::warn!(%digest, "skipping non-distributable layer");
            return Ok(());
        }
        if self.dest.has_blob(&digest).await? {
            self.report.blobs_skipped += 1;
            return Ok(());
        }
        // Same registry, other repository: try a cross-repository mount first. A registry that
        // cannot mount answers 202 with a normal upload session, which we then use.
        if let (
            Endpoint::Registry {
                registry: src_reg,
                repository: src_repo,
                ..
            },
            Endpoint::Registry {
                registry: dst_reg,
                repository: dst_repo,
                ..
            },
        ) = (self.source, self.dest)
            && Arc::ptr_eq(src_reg, dst_reg)
            && src_repo != dst_repo
        {
            match dst_reg
                .start_upload(dst_repo, Some((&digest, src_repo)))
                .await?
            {
                UploadStart::Mounted => {
                    self.report.blobs_mounted += 1;
                }
                UploadStart::Session(session) => {
                    let stream = self.source.open_blob(&digest).await?;
                    let n = dst_reg
                        .upload(dst_repo, session, &digest, d.size(), stream)
                        .await?;
                    self.report.blobs_copied += 1;
                    self.report.bytes += n;
                }
            }
            return Ok(());
        }
        // Layout to layout on one filesystem: a hard link instead of a copy. Both sides are
        // layouts whose blobs were verified when they were written.
        if let (Endpoint::Layout { layout: src, .. }, Endpoint::Layout { layout: dst, .. }) =
            (self.source, self.dest)
            && self.link
            && dst.link_blob_from(src, &digest, d.size())?
        {
            self.report.blobs_copied += 1;
            self.report.bytes += d.size();
            return Ok(());
        }
        let stream = self.source.open_blob(&digest).await?;
        let n = self.dest.push_blob(&digest, d.size(), stream).await?;
        self.report.blobs_copied += 1;
        self.report.bytes += n;
        Ok(())
    }
}
