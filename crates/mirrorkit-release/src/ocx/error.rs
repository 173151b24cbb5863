//! What can go wrong while packaging an asset, and which exit code each failure maps to.

use std::path::PathBuf;

use mirrorkit_core::exit::{ExitCode, HasExitCode};

/// A packaging failure.
///
/// Failures caused by the asset itself (unreadable, corrupt, hostile) fail only that item
/// ([`ExitCode::ItemFailed`]); failures writing our own output are local I/O errors
/// ([`ExitCode::Io`]); bad options or metadata are data errors ([`ExitCode::Data`]).
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The asset could not be read or is not a valid archive of a supported format.
    #[error("asset {asset}: {reason}")]
    Corrupt {
        /// The asset's file name.
        asset: String,
        /// What was wrong, in words (includes the underlying error).
        reason: String,
    },

    /// An archive entry would escape the package root or is of a kind a package must not hold
    /// (absolute path, `..`, symlink or hard link pointing outside, device file, fifo).
    #[error("asset {asset}: unsafe entry {entry:?}: {reason}")]
    UnsafeEntry {
        /// The asset's file name.
        asset: String,
        /// The entry's name as written in the archive.
        entry: String,
        /// Why it was refused.
        reason: String,
    },

    /// An archive entry uses a feature mirrorkit does not repack (sparse files, non-UTF-8 names,
    /// encrypted zip members).
    #[error("asset {asset}: unsupported entry {entry:?}: {reason}")]
    UnsupportedEntry {
        /// The asset's file name.
        asset: String,
        /// The entry's name as written in the archive.
        entry: String,
        /// What is not supported.
        reason: String,
    },

    /// Writing the layer (or its temp file) failed.
    #[error("writing layer to {}: {source}", path.display())]
    Output {
        /// The file or directory being written.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The packaging options are invalid (e.g. a compression level out of range).
    #[error("invalid packaging options: {0}")]
    InvalidOptions(String),

    /// The package metadata given for the ocx config is not usable.
    #[error("invalid package metadata: {0}")]
    InvalidMetadata(String),
}

impl HasExitCode for PackageError {
    /// The exit code this failure contributes to the run.
    fn exit_code(&self) -> ExitCode {
        match self {
            PackageError::Corrupt { .. }
            | PackageError::UnsafeEntry { .. }
            | PackageError::UnsupportedEntry { .. } => ExitCode::ItemFailed,
            PackageError::Output { .. } => ExitCode::Io,
            PackageError::InvalidOptions(_) | PackageError::InvalidMetadata(_) => ExitCode::Data,
        }
    }
}
