//! [`Store`]: one repository on a registry, or one OCI layout, seen the same way by every copy —
//! resolve a reference, read manifests and blobs, write them, list tags.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use mirrorkit_core::digest::Digest;
use oci_spec::image::Descriptor;

use crate::error::OciError;
use crate::layout::{Layout, LayoutRoot};
use crate::media::{self, MAX_MANIFEST_BYTES};
use crate::registry::manifests::RawManifest;
use crate::registry::{BlobStream, Registry};

/// A repository of a registry, or an OCI image layout.
#[derive(Clone)]
pub enum Store {
    /// `repository` on `registry`.
    Registry {
        /// The registry client (shared: tokens are cached in it).
        registry: Arc<Registry>,
        /// Repository path.
        repository: String,
    },
    /// An OCI image layout.
    Layout {
        /// The layout.
        layout: Layout,
        /// The layout root it belongs to and its repository there, when it is one repository of
        /// a [`LayoutRoot`] (blobs can then be linked from sibling repositories).
        root: Option<(LayoutRoot, String)>,
    },
}

/// How a manifest is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publish<'a> {
    /// By digest only; in a layout only as a blob (reachable through its parent).
    Child,
    /// By digest, and in a layout as an untagged `index.json` entry.
    Untagged,
    /// Under this tag.
    Tag(&'a str),
}

/// What a manifest reference resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Its digest.
    pub digest: Digest,
    /// Its media type (may be empty when the store does not say).
    pub media_type: String,
}

impl Store {
    /// Where this store is, for messages: `host/repository` or the layout directory.
    pub fn describe(&self) -> String {
        match self {
            Store::Registry {
                registry,
                repository,
            } => format!("{}/{repository}", registry.host()),
            Store::Layout { layout, .. } => layout.dir().display().to_string(),
        }
    }

    /// The registry and repository, for a registry store.
    pub fn as_registry(&self) -> Option<(&Arc<Registry>, &str)> {
        match self {
            Store::Registry {
                registry,
                repository,
            } => Some((registry, repository)),
            Store::Layout { .. } => None,
        }
    }

    /// The digest a tag or digest names, `None` when it does not exist. For a layout, `None`
    /// resolves the only entry of `index.json`.
    pub async fn resolve(&self, reference: Option<&str>) -> Result<Option<Resolved>, OciError> {
        match self {
            Store::Registry {
                registry,
                repository,
            } => {
                let reference = reference.unwrap_or("latest");
                let Some(head) = registry.head_manifest(repository, reference).await? else {
                    return Ok(None);
                };
                match head.digest {
                    Some(digest) => Ok(Some(Resolved {
                        digest,
                        media_type: head.media_type,
                    })),
                    // No Docker-Content-Digest on HEAD: hash the manifest itself.
                    None => {
                        let m = registry.get_manifest(repository, reference).await?;
                        Ok(Some(Resolved {
                            digest: m.digest,
                            media_type: m.media_type,
                        }))
                    }
                }
            }
            Store::Layout { layout, .. } => {
                if let Some(r) = reference
                    && let Ok(d) = r.parse::<Digest>()
                {
                    // A digest names a manifest blob, whether or not index.json lists it.
                    if layout.has_blob(&d) {
                        return Ok(Some(Resolved {
                            digest: d,
                            media_type: String::new(),
                        }));
                    }
                }
                match layout.resolve(reference) {
                    Ok(d) => Ok(Some(Resolved {
                        digest: descriptor_digest(&d)?,
                        media_type: d.media_type().to_string(),
                    })),
                    Err(OciError::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// The manifest a tag or digest names (for a layout, `None` is the only entry).
    pub async fn get_manifest(&self, reference: Option<&str>) -> Result<RawManifest, OciError> {
        match self {
            Store::Registry {
                registry,
                repository,
            } => {
                registry
                    .get_manifest(repository, reference.unwrap_or("latest"))
                    .await
            }
            Store::Layout { layout, .. } => {
                let resolved =
                    self.resolve(reference)
                        .await?
                        .ok_or_else(|| OciError::NotFound {
                            target: layout.dir().display().to_string(),
                            what: format!("image {}", reference.unwrap_or("(any)")),
                        })?;
                self.manifest_by_digest(&resolved.digest, None, &resolved.media_type)
                    .await
            }
        }
    }

    /// A manifest named by a descriptor, verified against its digest and size.
    pub async fn manifest_by_descriptor(&self, d: &Descriptor) -> Result<RawManifest, OciError> {
        let digest = descriptor_digest(d)?;
        self.manifest_by_digest(&digest, Some(d.size()), d.media_type().as_ref())
            .await
    }

    /// A manifest by digest, verified (and its size checked when given). `declared` is the media
    /// type its parent says it has (used for layouts, whose files carry none).
    pub async fn manifest_by_digest(
        &self,
        digest: &Digest,
        size: Option<u64>,
        declared: &str,
    ) -> Result<RawManifest, OciError> {
        let raw = match self {
            Store::Registry {
                registry,
                repository,
            } => registry
                .get_manifest(repository, &digest.to_string())
                .await
                .map_err(|e| match e {
                    OciError::NotFound { target, .. } => OciError::NotFound {
                        target,
                        what: format!("manifest {repository}@{digest}"),
                    },
                    e => e,
                })?,
            Store::Layout { layout, .. } => {
                let bytes = layout
                    .read_blob_bytes(digest, MAX_MANIFEST_BYTES as u64)
                    .await?;
                let media_type = if media::is_index(declared) || media::is_manifest(declared) {
                    declared.to_string()
                } else {
                    media::sniff(&bytes).unwrap_or_else(|| declared.to_string())
                };
                RawManifest {
                    digest: Digest::sha256_of(&bytes),
                    bytes,
                    media_type,
                }
            }
        };
        if raw.digest != *digest {
            return Err(OciError::DigestMismatch {
                what: "manifest".into(),
                expected: digest.to_string(),
                actual: raw.digest.to_string(),
            });
        }
        if let Some(size) = size
            && raw.bytes.len() as u64 != size
        {
            return Err(OciError::malformed(
                format!("manifest {digest}"),
                format!("{} bytes, descriptor says {size}", raw.bytes.len()),
            ));
        }
        Ok(raw)
    }

    /// Whether the manifest `digest` is stored.
    pub async fn has_manifest(&self, digest: &Digest) -> Result<bool, OciError> {
        match self {
            Store::Registry {
                registry,
                repository,
            } => Ok(registry
                .head_manifest(repository, &digest.to_string())
                .await?
                .is_some()),
            Store::Layout { layout, .. } => Ok(layout.has_blob(digest)),
        }
    }

    /// The blob as a stream (verified by whoever writes it).
    pub async fn open_blob(&self, digest: &Digest) -> Result<BlobStream, OciError> {
        match self {
            Store::Registry {
                registry,
                repository,
            } => registry.get_blob(repository, digest).await,
            Store::Layout { layout, .. } => layout.open_blob(digest).await,
        }
    }

    /// A small blob (an image config) read whole, refusing more than `limit` bytes, verified.
    pub async fn read_blob_bytes(&self, digest: &Digest, limit: u64) -> Result<Bytes, OciError> {
        let mut stream = self.open_blob(digest).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if (out.len() + chunk.len()) as u64 > limit {
                return Err(OciError::malformed(
                    format!("blob {digest}"),
                    format!("larger than the {limit} bytes allowed"),
                ));
            }
            out.extend_from_slice(&chunk);
        }
        let actual = Digest::sha256_of(&out);
        if actual.algorithm() == digest.algorithm() && actual != *digest {
            return Err(OciError::DigestMismatch {
                what: format!("blob in {}", self.describe()),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(Bytes::from(out))
    }

    /// Whether the blob is stored.
    pub async fn has_blob(&self, digest: &Digest) -> Result<bool, OciError> {
        match self {
            Store::Registry {
                registry,
                repository,
            } => Ok(registry.head_blob(repository, digest).await?.is_some()),
            Store::Layout { layout, .. } => Ok(layout.has_blob(digest)),
        }
    }

    /// Write a blob from a stream (hashed; refused on mismatch). Returns the bytes written.
    pub async fn push_blob(
        &self,
        digest: &Digest,
        size: u64,
        stream: BlobStream,
    ) -> Result<u64, OciError> {
        match self {
            Store::Registry {
                registry,
                repository,
            } => {
                registry
                    .push_blob_stream(repository, digest, size, stream)
                    .await
            }
            Store::Layout { layout, .. } => layout.write_blob(digest, Some(size), stream).await,
        }
    }

    /// Store a manifest (raw bytes, never re-serialised) as `how` says.
    pub async fn push_manifest(&self, m: &RawManifest, how: Publish<'_>) -> Result<(), OciError> {
        match self {
            Store::Registry {
                registry,
                repository,
            } => {
                let digest = m.digest.to_string();
                let reference = match how {
                    Publish::Tag(t) => t,
                    Publish::Child | Publish::Untagged => digest.as_str(),
                };
                registry
                    .put_manifest(repository, reference, &m.media_type, &m.bytes)
                    .await?;
            }
            Store::Layout { layout, .. } => {
                if !layout.has_blob(&m.digest) {
                    layout.write_blob_bytes(&m.digest, m.bytes.clone()).await?;
                }
                match how {
                    Publish::Child => {}
                    Publish::Untagged => {
                        layout.set_tag(None, &m.media_type, &m.digest, m.bytes.len() as u64)?
                    }
                    Publish::Tag(t) => {
                        layout.set_tag(Some(t), &m.media_type, &m.digest, m.bytes.len() as u64)?
                    }
                }
            }
        }
        Ok(())
    }

    /// Every tag.
    pub async fn tags(&self) -> Result<Vec<String>, OciError> {
        match self {
            Store::Registry {
                registry,
                repository,
            } => registry.list_tags(repository).await,
            Store::Layout { layout, .. } => layout.tags(),
        }
    }
}

/// The digest of a descriptor, in our type.
pub fn descriptor_digest(d: &Descriptor) -> Result<Digest, OciError> {
    d.digest()
        .to_string()
        .parse()
        .map_err(|e| OciError::malformed("descriptor digest", e))
}
