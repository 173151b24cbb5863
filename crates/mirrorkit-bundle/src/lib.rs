//! Bundles for air-gapped sites: what a spec mirrors (or any images) exported as one OCI image
//! layout — a directory, or a tar of it, optionally compressed and split — and imported on the
//! other side into a registry or a directory of layouts. Package mirrors travel as package tree
//! artifacts (`mirrorkit_packages::artifact`) and are imported into a package tree
//! (`--to packages:DIR`).
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

mod export;
mod graph;
mod import;
mod manifest;
mod open;
mod packages;
mod staging;

use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_oci::copy::CopyError;
use mirrorkit_oci::error::OciError;

pub use export::{BundleFormat, ExportItem, ExportOptions, ExportReport, export};
pub use import::{ImportReport, ImportTarget, TagOutcome, import};
pub use manifest::{
    BlobRef, BundleItem, BundleManifest, SpecOrigin, load_manifest, parse_manifest,
};
pub use open::{OpenBundle, open};

/// The bundle's own description, inside the layout.
pub const BUNDLE_FILE: &str = "mirrorkit-bundle.json";
/// The bundle format this mirrorkit writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// Annotation on each `index.json` entry naming the repository the image came from.
pub const ANNOTATION_REPOSITORY: &str = "io.mirrorkit.bundle.repository";
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";

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
