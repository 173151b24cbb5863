//! Where mirrored content is published. The engine talks to every OCI-shaped target (a registry, an
//! OCI image-layout directory) through [`Target`]; the implementations live in `mirrorkit-oci`.
//!
//! Publication order is the contract that keeps a target consistent: blobs first, then manifests by
//! digest, then tags. A tag therefore never points at content the target has not fully received.

use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::exit::{ExitCode, HasExitCode};

/// A failure to talk to or write into a target. Messages never hold credentials.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The target could not be reached (connect error, timeout, 5xx after retries).
    #[error("{target} is unreachable: {reason}")]
    Unreachable {
        /// The target, described.
        target: String,
        /// The last error.
        reason: String,
    },
    /// 401/403: credentials missing or refused.
    #[error("{target} refused access ({status}): {reason}")]
    Denied {
        /// The target, described.
        target: String,
        /// 401 or 403.
        status: u16,
        /// What the server said.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The target answered but refused or mangled the request (e.g. 400, digest mismatch).
    #[error("{target} rejected {what}: {reason}")]
    Rejected {
        /// The target, described.
        target: String,
        /// What was refused (a blob, a manifest, a tag).
        what: String,
        /// Why.
        reason: String,
    },
    /// The target answered with something that is not what the protocol promises (a malformed
    /// tag list or manifest, content that does not match its digest).
    #[error("{message}")]
    Invalid {
        /// What was wrong, naming the document.
        message: String,
    },
}

impl HasExitCode for TargetError {
    /// The exit code this error stands for when it ends a run.
    fn exit_code(&self) -> ExitCode {
        match self {
            TargetError::Unreachable { .. } => ExitCode::Unavailable,
            TargetError::Denied { .. } => ExitCode::NoPermission,
            TargetError::Io { .. } => ExitCode::Io,
            TargetError::Rejected { .. } => ExitCode::ItemFailed,
            TargetError::Invalid { .. } => ExitCode::Data,
        }
    }
}

/// An OCI-shaped publication target: a registry or an OCI image layout.
///
/// `repository` is a path such as `mirror/tools/cmake` (no host). Implementations must be safe to
/// call repeatedly: pushing a blob or manifest that is already present is a cheap no-op.
#[allow(async_fn_in_trait)]
pub trait Target {
    /// A display name for reports and errors (host or directory; never credentials).
    fn describe(&self) -> String;

    /// Every tag of `repository`; an empty list when the repository does not exist yet.
    async fn list_tags(&self, repository: &str) -> Result<Vec<String>, TargetError>;

    /// The digest `reference` (a tag) currently resolves to, or `None` when it does not exist.
    async fn resolve_tag(&self, repository: &str, tag: &str)
    -> Result<Option<Digest>, TargetError>;

    /// The manifest or index `reference` (a tag or a digest) names, as raw bytes with its media
    /// type, or `None` when it does not exist. Bytes are verified against a digest reference.
    async fn fetch_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<(String, Vec<u8>)>, TargetError>;

    /// Whether the blob is already present.
    async fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool, TargetError>;

    /// Upload the blob stored at `path` (already verified to be `digest`, `size` bytes) unless the
    /// target has it. Streams; never reads the file whole.
    async fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
    ) -> Result<(), TargetError>;

    /// Store a manifest or index, byte for byte, under `reference` (its digest string or a tag).
    /// Returns the manifest's digest.
    async fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, TargetError>;
}
