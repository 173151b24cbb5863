//! [`AnyTarget`]: a registry or a layout root behind one [`Target`], so one engine run can publish
//! to both kinds.

use std::path::Path;

use mirrorkit_core::digest::Digest;
use mirrorkit_core::target::{Target, TargetError};

use crate::layout::LayoutRoot;
use crate::registry::Registry;

/// Either kind of target, so one engine run can publish to both.
pub enum AnyTarget {
    /// An OCI registry.
    Registry(Box<Registry>),
    /// A directory of OCI image layouts.
    Layout(LayoutRoot),
}

impl Target for AnyTarget {
    fn describe(&self) -> String {
        match self {
            AnyTarget::Registry(r) => r.describe(),
            AnyTarget::Layout(l) => l.describe(),
        }
    }

    async fn list_tags(&self, repository: &str) -> Result<Vec<String>, TargetError> {
        match self {
            AnyTarget::Registry(r) => Target::list_tags(r.as_ref(), repository).await,
            AnyTarget::Layout(l) => l.list_tags(repository).await,
        }
    }

    async fn resolve_tag(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<Digest>, TargetError> {
        match self {
            AnyTarget::Registry(r) => Target::resolve_tag(r.as_ref(), repository, tag).await,
            AnyTarget::Layout(l) => l.resolve_tag(repository, tag).await,
        }
    }

    async fn fetch_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<(String, Vec<u8>)>, TargetError> {
        match self {
            AnyTarget::Registry(r) => {
                Target::fetch_manifest(r.as_ref(), repository, reference).await
            }
            AnyTarget::Layout(l) => l.fetch_manifest(repository, reference).await,
        }
    }

    async fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool, TargetError> {
        match self {
            AnyTarget::Registry(r) => Target::has_blob(r.as_ref(), repository, digest).await,
            AnyTarget::Layout(l) => l.has_blob(repository, digest).await,
        }
    }

    async fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
    ) -> Result<(), TargetError> {
        match self {
            AnyTarget::Registry(r) => r.push_blob(repository, digest, size, path).await,
            AnyTarget::Layout(l) => l.push_blob(repository, digest, size, path).await,
        }
    }

    async fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, TargetError> {
        match self {
            AnyTarget::Registry(r) => {
                r.push_manifest(repository, reference, media_type, bytes)
                    .await
            }
            AnyTarget::Layout(l) => {
                l.push_manifest(repository, reference, media_type, bytes)
                    .await
            }
        }
    }
}
