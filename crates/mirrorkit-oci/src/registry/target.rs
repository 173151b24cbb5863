//! [`Target`] for a [`Registry`]: blobs are skipped when a HEAD finds them, manifests are pushed
//! as raw bytes by digest or tag.

use std::path::Path;

use mirrorkit_core::digest::Digest;
use mirrorkit_core::target::{Target, TargetError};

use super::Registry;
use crate::layout::file_stream;

impl Target for Registry {
    fn describe(&self) -> String {
        self.host.clone()
    }

    async fn list_tags(&self, repository: &str) -> Result<Vec<String>, TargetError> {
        Ok(Registry::list_tags(self, repository).await?)
    }

    async fn resolve_tag(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<Digest>, TargetError> {
        match self.head_manifest(repository, tag).await? {
            None => Ok(None),
            Some(head) => match head.digest {
                Some(d) => Ok(Some(d)),
                // No Docker-Content-Digest on HEAD: hash the manifest itself.
                None => Ok(Some(self.get_manifest(repository, tag).await?.digest)),
            },
        }
    }

    async fn fetch_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<(String, Vec<u8>)>, TargetError> {
        // HEAD first: a missing manifest is an answer, not an error.
        if self.head_manifest(repository, reference).await?.is_none() {
            return Ok(None);
        }
        let m = self.get_manifest(repository, reference).await?;
        Ok(Some((m.media_type, m.bytes.to_vec())))
    }

    async fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool, TargetError> {
        Ok(self.head_blob(repository, digest).await?.is_some())
    }

    async fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
    ) -> Result<(), TargetError> {
        if self.head_blob(repository, digest).await?.is_some() {
            return Ok(());
        }
        let stream = file_stream(path).await?;
        self.push_blob_stream(repository, digest, size, stream)
            .await?;
        Ok(())
    }

    async fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, TargetError> {
        Ok(self
            .put_manifest(repository, reference, media_type, bytes)
            .await?)
    }
}
