//! Where mirrored content is published: [`AnyTarget`], a registry or a directory of OCI image
//! layouts, opened from the spec's `target:` by the one opener ([`AnyTarget::open`]). A family
//! that copies images works on one repository of it as a [`Store`]; the release family publishes
//! through the [`Target`] trait, which [`AnyTarget`] implements on top of those stores (and a test
//! can implement in memory).
//!
//! Publication order is the contract that keeps a target consistent: blobs first, then manifests by
//! digest, then tags. A tag therefore never points at content the target has not fully received.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use mirrorkit_core::digest::Digest;
use mirrorkit_core::http::HttpClient;
use mirrorkit_core::http::credentials::Credentials;
use mirrorkit_core::spec::TargetConfig;

use crate::copy::store::{Publish, Store};
use crate::error::OciError;
use crate::layout::{LayoutRoot, file_stream};
use crate::reference::ImageReference;
use crate::registry::Registry;
use crate::registry::manifests::RawManifest;

/// A reference to `repository` at `reference` (a tag or digest) in the mirror's target (a
/// registry or a layout root; a packages directory holds no OCI repositories).
pub fn reference_in(
    target: &TargetConfig,
    repository: &str,
    reference: &str,
) -> Result<ImageReference, OciError> {
    let digest = reference.parse::<Digest>().ok();
    Ok(match target {
        TargetConfig::Registry { host, .. } => ImageReference::Docker {
            host: host.clone(),
            repository: repository.to_string(),
            tag: digest.is_none().then(|| reference.to_string()),
            digest,
        },
        TargetConfig::Layout { path } => ImageReference::Layout {
            path: LayoutRoot::new(path.clone()).repository_dir(repository)?,
            reference: Some(reference.to_string()),
        },
        TargetConfig::Packages { .. } | TargetConfig::Repos { .. } => {
            return Err(OciError::NotOci {
                target: target.to_string(),
            });
        }
    })
}

/// What opening a registry needs, decided once in the settings step.
#[derive(Clone, Copy)]
pub struct Access<'a> {
    /// The run's HTTP client (per-host limits and trust).
    pub http: &'a HttpClient,
    /// Registry credentials.
    pub credentials: &'a Credentials,
    /// Registries spoken to over plain HTTP.
    pub insecure_hosts: &'a [String],
}

impl Access<'_> {
    /// A client for `host`: plain HTTP when `insecure` or when the settings list the host.
    pub fn registry(&self, host: &str, insecure: bool) -> Result<Registry, OciError> {
        let insecure = insecure || self.insecure_hosts.iter().any(|h| h == host);
        Registry::new(host, insecure, self.http.clone(), self.credentials.clone())
    }
}

/// A registry or a layout root: everything a target of the spec can be.
#[derive(Clone)]
pub enum AnyTarget {
    /// An OCI registry (shared: its tokens are cached in it).
    Registry(Arc<Registry>),
    /// A directory of OCI image layouts, one per repository.
    Layout(LayoutRoot),
}

impl AnyTarget {
    /// Open the spec's target. No request is sent yet.
    pub fn open(target: &TargetConfig, access: Access<'_>) -> Result<AnyTarget, OciError> {
        match target {
            TargetConfig::Registry { host, insecure } => Ok(AnyTarget::Registry(Arc::new(
                access.registry(host, *insecure)?,
            ))),
            TargetConfig::Layout { path } => Ok(AnyTarget::Layout(LayoutRoot::new(path.clone()))),
            TargetConfig::Packages { .. } | TargetConfig::Repos { .. } => Err(OciError::NotOci {
                target: target.to_string(),
            }),
        }
    }

    /// `repository` of this target, created when it is a layout that does not exist yet.
    pub fn store(&self, repository: &str) -> Result<Store, OciError> {
        match self {
            AnyTarget::Registry(registry) => Ok(Store::Registry {
                registry: registry.clone(),
                repository: repository.to_string(),
            }),
            AnyTarget::Layout(root) => Ok(Store::Layout {
                layout: root.layout(repository)?,
                root: Some((root.clone(), repository.to_string())),
            }),
        }
    }

    /// `repository` of this target if it may hold anything: always for a registry, for a layout
    /// root only when the repository's layout exists (reading never creates it).
    pub fn existing_store(&self, repository: &str) -> Result<Option<Store>, OciError> {
        match self {
            AnyTarget::Registry(_) => self.store(repository).map(Some),
            AnyTarget::Layout(root) => Ok(root.existing(repository)?.map(|layout| Store::Layout {
                layout,
                root: Some((root.clone(), repository.to_string())),
            })),
        }
    }
}

/// An OCI-shaped publication target, seen by repository path (`mirror/tools/cmake`, no host).
///
/// Implementations must be safe to call repeatedly: pushing a blob or manifest that is already
/// present is a cheap no-op.
#[allow(async_fn_in_trait)]
pub trait Target {
    /// A display name for reports and errors (host or directory; never credentials).
    fn describe(&self) -> String;

    /// Every tag of `repository`; an empty list when the repository does not exist yet.
    async fn list_tags(&self, repository: &str) -> Result<Vec<String>, OciError>;

    /// The digest the tag currently resolves to, or `None` when it does not exist.
    async fn resolve_tag(&self, repository: &str, tag: &str) -> Result<Option<Digest>, OciError>;

    /// The manifest or index `reference` (a tag or a digest) names, as raw bytes with its media
    /// type, or `None` when it does not exist. Bytes are verified against their digest.
    async fn fetch_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<(String, Vec<u8>)>, OciError>;

    /// Whether the blob is already present.
    async fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool, OciError>;

    /// Upload the blob stored at `path` (already verified to be `digest`, `size` bytes) unless the
    /// target has it. Streams; never reads the file whole.
    async fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
    ) -> Result<(), OciError>;

    /// Store a manifest or index, byte for byte, under `reference` (its digest string or a tag).
    /// Returns the manifest's digest.
    async fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, OciError>;
}

impl Target for AnyTarget {
    fn describe(&self) -> String {
        match self {
            AnyTarget::Registry(r) => r.host().to_string(),
            AnyTarget::Layout(l) => l.root().display().to_string(),
        }
    }

    async fn list_tags(&self, repository: &str) -> Result<Vec<String>, OciError> {
        match self.existing_store(repository)? {
            Some(store) => store.tags().await,
            None => Ok(Vec::new()),
        }
    }

    async fn resolve_tag(&self, repository: &str, tag: &str) -> Result<Option<Digest>, OciError> {
        match self.existing_store(repository)? {
            Some(store) => Ok(store.resolve(Some(tag)).await?.map(|r| r.digest)),
            None => Ok(None),
        }
    }

    async fn fetch_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<(String, Vec<u8>)>, OciError> {
        let Some(store) = self.existing_store(repository)? else {
            return Ok(None);
        };
        let Some(resolved) = store.resolve(Some(reference)).await? else {
            return Ok(None);
        };
        // A tag whose manifest is gone (a damaged layout, a registry deleting it meanwhile) is
        // not there: the publisher pushes it again.
        match store
            .manifest_by_digest(&resolved.digest, None, &resolved.media_type)
            .await
        {
            Ok(m) => Ok(Some((m.media_type, m.bytes.to_vec()))),
            Err(OciError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool, OciError> {
        match self.existing_store(repository)? {
            Some(store) => store.has_blob(digest).await,
            None => Ok(false),
        }
    }

    async fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
    ) -> Result<(), OciError> {
        let store = self.store(repository)?;
        if store.has_blob(digest).await? {
            return Ok(());
        }
        store
            .push_blob(digest, size, file_stream(path).await?)
            .await?;
        Ok(())
    }

    async fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, OciError> {
        let digest = Digest::sha256_of(bytes);
        let by_digest = reference.parse::<Digest>().ok();
        if let Some(expected) = &by_digest
            && *expected != digest
        {
            return Err(OciError::DigestMismatch {
                what: format!("manifest pushed as {repository}@{reference}"),
                expected: expected.to_string(),
                actual: digest.to_string(),
            });
        }
        if by_digest.is_none() && !crate::reference::is_valid_tag(reference) {
            return Err(OciError::malformed(
                format!("tag {reference:?}"),
                "invalid tag",
            ));
        }
        let manifest = RawManifest {
            digest: digest.clone(),
            bytes: Bytes::copy_from_slice(bytes),
            media_type: media_type.to_string(),
        };
        // By digest: the blob is enough (children of an index are reached through it).
        let how = if by_digest.is_some() {
            Publish::Child
        } else {
            Publish::Tag(reference)
        };
        self.store(repository)?
            .push_manifest(&manifest, how)
            .await?;
        Ok(digest)
    }
}
