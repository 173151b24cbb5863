//! The spec (`mirror.yml`): loading, validation, and the validated model the engine runs.
//!
//! [`load`] reads a file, parses it ([`model`]), and validates it into a [`Spec`]: regexes are
//! compiled, platforms and repositories checked, paths resolved. It never touches the network.
//! Paths written in a spec are relative to the spec file; defaults (`./oci`, `./.mirrorkit`) are
//! relative to the working directory.

pub mod error;
pub mod located;
pub mod model;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use error::SpecError;
pub use model::{AssetTypeSpec, CompressionSpec, RegistrySettings};

use crate::platform::Platform;
use crate::source::url_index::IndexOrigin;

/// A validated spec, ready to run.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The file it was read from.
    pub path: PathBuf,
    /// `work_dir` from the spec, resolved against the spec's directory.
    pub work_dir: Option<PathBuf>,
    /// Per-host registry settings.
    pub registries: BTreeMap<String, RegistrySettings>,
    /// The mirrors, in key order.
    pub mirrors: Vec<Mirror>,
}

/// One validated mirror.
#[derive(Clone, Debug)]
pub struct Mirror {
    /// Its key in `mirrors:` (or the package `name` in the one-package form).
    pub key: String,
    /// Repository path in the target (namespace included; no host).
    pub repository: String,
    /// Where it is published.
    pub target: TargetConfig,
    /// Where versions come from.
    pub source: SourceConfig,
    /// Asset patterns per platform, in the order written.
    pub platforms: Vec<PlatformAssets>,
    /// How an asset becomes a layer.
    pub asset_type: AssetTypeSpec,
    /// Layer compression.
    pub compression: CompressionSpec,
    /// Leading path components stripped from archive entries.
    pub strip_components: u32,
}

/// A validated target.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TargetConfig {
    /// An OCI registry.
    Registry {
        /// `host[:port]`.
        host: String,
        /// Plain HTTP.
        insecure: bool,
    },
    /// A directory holding one OCI image layout per repository.
    Layout {
        /// The directory.
        path: PathBuf,
    },
}

impl std::fmt::Display for TargetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetConfig::Registry { host, .. } => write!(f, "docker://{host}"),
            TargetConfig::Layout { path } => write!(f, "oci:{}", path.display()),
        }
    }
}

/// A validated source.
#[derive(Clone, Debug)]
pub enum SourceConfig {
    /// A url_index document.
    UrlIndex(IndexOrigin),
}

/// The asset patterns of one platform.
#[derive(Clone, Debug)]
pub struct PlatformAssets {
    /// The platform.
    pub platform: Platform,
    /// Regexes over asset file names, tried in order.
    pub patterns: Vec<regex::Regex>,
}

/// Read and validate the spec at `path`. Offline.
pub fn load(path: &Path) -> Result<Spec, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            SpecError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            SpecError::Unreadable {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    parse(&text, path)
}

/// Validate spec text as if read from `path` (used by [`load`], tests and fuzzing).
pub fn parse(text: &str, path: &Path) -> Result<Spec, SpecError> {
    validate::validate(text, path)
}

/// JSON Schema (draft 2020-12) of the spec file: either form.
pub fn json_schema() -> serde_json::Value {
    #[derive(schemars::JsonSchema)]
    #[schemars(title = "mirrorkit spec")]
    #[allow(dead_code, clippy::large_enum_variant)] // only its schema is used
    #[serde(untagged)]
    enum AnySpec {
        Mirrors(model::SpecFile),
        Package(model::PackageFile),
    }
    serde_json::to_value(schemars::schema_for!(AnySpec)).unwrap_or_default()
}
