//! Packaging: turn a verified asset into an OCI layer and the ocx package manifests around it.
//!
//! - [`layer`]: [`build_layer`] repacks an archive (or wraps a single binary) into a compressed
//!   tar of the package root, hashing it while it is written.
//! - [`manifest`]: the exact bytes of the package config, the per-platform image manifest and the
//!   per-version image index, in the shape ocx installs.
//! - [`archive`], [`entry`], [`compress`]: reading input archives, the safety rules for their
//!   entries, and the layer encoders.
//!
//! `docs/package-format.md` describes the resulting layout.

pub mod archive;
pub mod compress;
mod entry;
pub mod error;
pub mod layer;
pub mod manifest;

pub use compress::Compression;
pub use error::PackageError;
pub use layer::{AssetType, BuiltLayer, LayerOptions, build_layer};
pub use manifest::{Descriptor, image_index, image_manifest, package_config};
