//! mirrorkit-oci: the OCI registry client (Distribution API), OCI image layouts and archives, and
//! `copy` between them, and [`target`]: the spec's target (a registry or a directory of layouts),
//! opened once, seen per repository as a [`copy::store::Store`].
//!
//! - [`registry`]: [`Registry`], a thin client over the shared HTTP layer.
//! - [`layout`]: [`Layout`] (one OCI image layout) and [`LayoutRoot`] (one layout per repository).
//! - [`archive`]: `oci-archive` tars of a layout (compressed, split).
//! - [`reference`]: `docker://…`, `oci:…`, `oci-archive:…` references.
//! - [`copy`](mod@copy): [`copy()`] an image or index between any two of them.
//! - [`target`]: [`target::AnyTarget`], either kind behind one `Target`.

// A library reports through `tracing` and its return values; only the binary prints.
#![warn(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

pub mod archive;
pub mod copy;
pub mod error;
pub mod layout;
pub mod media;
pub mod reference;
pub mod registry;
pub mod target;

pub use copy::{CopyError, CopyOptions, CopyReport, copy, copy_str};
pub use error::OciError;
pub use layout::{Layout, LayoutRoot};
pub use reference::{ImageReference, ReferenceError};
pub use registry::Registry;
