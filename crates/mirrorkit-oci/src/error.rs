//! The one error type of the OCI layer: registry, layout, archive, copy and publication all speak
//! it. Messages never hold credentials or tokens.

use std::path::PathBuf;

use mirrorkit_core::exit::{ExitCode, HasExitCode};

/// A failure while talking to a registry or reading/writing a layout or archive.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// Connect error, timeout, or a 5xx that outlived the retries.
    #[error("{target} is unreachable: {reason}")]
    Unreachable {
        /// Registry host or local path (never credentials).
        target: String,
        /// What went wrong, as the registry or OS said it.
        reason: String,
    },
    /// 401/403 after authenticating (or with no credentials to offer).
    #[error("{target} refused access ({status}): {reason}")]
    Denied {
        /// Registry host or local path (never credentials).
        target: String,
        /// The HTTP status.
        status: u16,
        /// What went wrong, as the registry or OS said it.
        reason: String,
    },
    /// The registry answered with an error (its error JSON message is in `reason`).
    #[error("{target} rejected {what}: {reason}")]
    Rejected {
        /// Registry host or local path (never credentials).
        target: String,
        /// What was being read or written.
        what: String,
        /// What went wrong, as the registry or OS said it.
        reason: String,
    },
    /// A manifest, blob or tag that was asked for does not exist.
    #[error("{what} not found in {target}")]
    NotFound {
        /// Registry host or local path (never credentials).
        target: String,
        /// What was being read or written.
        what: String,
    },
    /// Content did not hash to the digest it was fetched or pushed under.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was being read or written.
        what: String,
        /// The digest the content should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// A document (manifest, index.json, tar entry, response) is not what it must be.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// The document.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The target is not an OCI registry or layout (a `packages` directory or a `repos` root).
    #[error("{target} holds package registries or distribution repositories, not OCI repositories")]
    NotOci {
        /// The target.
        target: String,
    },
    /// A local file could not be read or written.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl OciError {
    /// An [`OciError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> OciError {
        OciError::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`OciError::Malformed`].
    pub fn malformed(what: impl Into<String>, reason: impl ToString) -> OciError {
        OciError::Malformed {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

impl HasExitCode for OciError {
    /// The exit code this error stands for: unreachable 69, denied 77, bad data / digest
    /// mismatch 65, local I/O 74, anything else the registry refused 1.
    fn exit_code(&self) -> ExitCode {
        match self {
            OciError::Unreachable { .. } => ExitCode::Unavailable,
            OciError::Denied { .. } => ExitCode::NoPermission,
            OciError::DigestMismatch { .. } | OciError::Malformed { .. } => ExitCode::Data,
            OciError::Io { .. } => ExitCode::Io,
            OciError::NotOci { .. } => ExitCode::Usage,
            OciError::Rejected { .. } | OciError::NotFound { .. } => ExitCode::ItemFailed,
        }
    }
}
