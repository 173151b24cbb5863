//! The spec (`mirror.yml`): loading, validation, and the validated model the engine runs.
//!
//! [`load`] reads a file, parses it ([`model`]), and validates it into a [`Spec`]: regexes are
//! compiled, platforms and repositories checked, paths resolved. It never touches the network.
//! Paths written in a spec are relative to the spec file; defaults (`./oci`, `./.mirrorkit`) are
//! relative to the working directory.

pub mod error;
pub mod located;
pub mod model;
pub mod ocx_metadata;
pub mod size;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use error::SpecError;
pub use model::{
    AssetTypeSpec, BackfillSpec, BuildTimestampSpec, CompressionSpec, DigestPolicySpec,
    RegistrySettings,
};

use crate::platform::Platform;
use crate::source::distro::DistroSource;
use crate::source::github::GithubSource;
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
    /// The largest asset a download may bring, in bytes.
    pub max_asset_size: u64,
    /// The mirrors, in key order.
    pub mirrors: Vec<Mirror>,
}

impl Spec {
    /// Every field the spec sets that is accepted for ocx-mirror compatibility and not used.
    pub fn compat_only(&self) -> Vec<&str> {
        self.mirrors
            .iter()
            .flat_map(|m| m.compat_only.iter().map(String::as_str))
            .collect()
    }
}

/// One validated mirror.
#[derive(Clone, Debug)]
pub struct Mirror {
    /// Its key in `mirrors:` (or the package `name` in the one-package form).
    pub key: String,
    /// Repository path in the target (namespace included; no host).
    pub repository: String,
    /// The target's namespace (repository prefix), if any: images a chart uses are filed under
    /// it too.
    pub namespace: Option<String>,
    /// Where it is published.
    pub target: TargetConfig,
    /// Where versions come from.
    pub source: SourceConfig,
    /// Asset patterns and packaging per platform, in the order written.
    pub platforms: Vec<PlatformAssets>,
    /// Layer compression.
    pub compression: CompressionSpec,
    /// Which versions are mirrored.
    pub policy: VersionPolicy,
    /// Suffix of the immutable build tag.
    pub build_timestamp: BuildTimestampSpec,
    /// Move the rolling tags `X.Y`, `X` and `latest`.
    pub cascade: bool,
    /// How downloads are verified.
    pub verify: VerifyPolicy,
    /// Downloads and packaging jobs at once.
    pub concurrency: Concurrency,
    /// Fields set here that exist only so ocx-mirror specs load (`mirrors.t.tests`, …): unused,
    /// and named by the binary in one `info` line.
    pub compat_only: Vec<String>,
}

/// Which upstream versions a mirror takes (all bounds compare with [`crate::version::compare`]).
#[derive(Clone, Debug, Default)]
pub struct VersionPolicy {
    /// Lowest version mirrored (inclusive).
    pub min: Option<String>,
    /// Versions from this one up are not mirrored (exclusive).
    pub max: Option<String>,
    /// At most this many new versions per run.
    pub new_per_run: Option<usize>,
    /// Which missing versions a limited run takes first.
    pub backfill: BackfillSpec,
    /// Leave out prereleases.
    pub skip_prereleases: bool,
    /// Versions never mirrored.
    pub exclude: Vec<ExcludeRule>,
}

/// A version or range never mirrored.
#[derive(Clone, Debug, Default)]
pub struct ExcludeRule {
    /// Exactly this version.
    pub version: Option<String>,
    /// From this version (inclusive).
    pub min_version: Option<String>,
    /// Up to this version (exclusive).
    pub max_version: Option<String>,
    /// Why.
    pub reason: Option<String>,
}

impl ExcludeRule {
    /// Whether the rule covers `version`.
    pub fn covers(&self, version: &str) -> bool {
        use std::cmp::Ordering;
        if let Some(v) = &self.version {
            return v == version;
        }
        let above_min = self
            .min_version
            .as_deref()
            .is_none_or(|m| crate::version::compare(version, m) != Ordering::Less);
        let below_max = self
            .max_version
            .as_deref()
            .is_none_or(|m| crate::version::compare(version, m) == Ordering::Less);
        above_min && below_max
    }
}

/// How downloads are verified.
#[derive(Clone, Debug)]
pub struct VerifyPolicy {
    /// GitHub's per-asset digest.
    pub github_asset_digest: DigestPolicySpec,
    /// A url_index asset's checksum.
    pub url_index_digest: DigestPolicySpec,
    /// A checksums file (asset name template or URL, `{version}` substituted).
    pub checksums_file: Option<String>,
    /// Refuse assets nothing can verify.
    pub require: bool,
}

impl Default for VerifyPolicy {
    fn default() -> Self {
        VerifyPolicy {
            github_asset_digest: DigestPolicySpec::IfPresent,
            url_index_digest: DigestPolicySpec::IfPresent,
            checksums_file: None,
            require: true,
        }
    }
}

/// Downloads and packaging jobs at once.
#[derive(Clone, Debug)]
pub struct Concurrency {
    /// Downloads at once.
    pub max_downloads: usize,
    /// Packaging jobs at once.
    pub max_bundles: usize,
    /// Compression threads per packaging job (`None`: by asset size, at most the cores).
    pub compression_threads: Option<u32>,
}

impl Default for Concurrency {
    fn default() -> Self {
        // As many packaging jobs as cores: each holds one CPU permit per compression thread
        // (see the engine), so jobs never oversubscribe the machine, and small assets — one xz
        // block, one thread — run side by side instead of queueing behind each other.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Concurrency {
            max_downloads: 8,
            max_bundles: cores,
            compression_threads: None,
        }
    }
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
    /// A directory of static package registries (`npm/`, `pypi/simple/`, `cargo/index/`),
    /// served at `base_url`. Package mirrors only.
    Packages {
        /// The directory.
        path: PathBuf,
        /// Where it is served.
        base_url: url::Url,
    },
    /// A root of distribution repositories (`mirror/<prefix>/`, `pool/`). Apt mirrors only.
    Repos {
        /// The root directory.
        root: PathBuf,
        /// Retention: keep the newest N snapshots.
        keep: Option<usize>,
        /// Retention: keep the snapshots younger than this many days.
        keep_days: Option<u64>,
        /// Snapshots are ZFS snapshots of this dataset (mounted at `root`); hard links
        /// otherwise.
        zfs_dataset: Option<String>,
    },
}

impl std::fmt::Display for TargetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetConfig::Registry { host, .. } => write!(f, "docker://{host}"),
            TargetConfig::Layout { path } => write!(f, "oci:{}", path.display()),
            TargetConfig::Packages { path, .. } => write!(f, "packages:{}", path.display()),
            TargetConfig::Repos { root, .. } => write!(f, "repos:{}", root.display()),
        }
    }
}

/// A validated source.
#[derive(Clone, Debug)]
pub enum SourceConfig {
    /// A url_index document.
    UrlIndex(IndexOrigin),
    /// GitHub releases.
    Github(GithubSource),
    /// Images and other OCI content, copied as they are.
    Oci(crate::source::images::OciSource),
    /// Helm charts.
    Helm(crate::source::images::HelmSource),
    /// Language packages.
    Packages(crate::source::packages::PackagesSource),
    /// An apt repository.
    Apt(crate::source::apt::AptSource),
    /// An rpm repository.
    Rpm(crate::source::rpm::RpmSource),
}

impl SourceConfig {
    /// Whether versions are built from downloaded assets (`url_index`, `github_release`), as
    /// opposed to copied OCI content (`oci`, `helm`).
    pub fn is_release(&self) -> bool {
        matches!(self.family(), FamilySource::Release(_))
    }

    /// The family that mirrors this source, with that family's part of it.
    pub fn family(&self) -> FamilySource<'_> {
        match self {
            SourceConfig::UrlIndex(o) => FamilySource::Release(ReleaseSource::UrlIndex(o)),
            SourceConfig::Github(g) => FamilySource::Release(ReleaseSource::Github(g)),
            SourceConfig::Oci(s) => FamilySource::Images(s),
            SourceConfig::Helm(s) => FamilySource::Helm(s),
            SourceConfig::Packages(s) => FamilySource::Packages(s),
            SourceConfig::Apt(s) => FamilySource::Distro(DistroSource::Apt(s)),
            SourceConfig::Rpm(s) => FamilySource::Distro(DistroSource::Rpm(s)),
        }
    }
}

/// A source, by the family that mirrors it (see [`crate::family`]).
#[derive(Clone, Copy, Debug)]
pub enum FamilySource<'a> {
    /// Releases built from downloaded assets.
    Release(ReleaseSource<'a>),
    /// Images and other OCI content, copied as they are.
    Images(&'a crate::source::images::OciSource),
    /// Helm charts and the images they use.
    Helm(&'a crate::source::images::HelmSource),
    /// Language packages, published as static registries.
    Packages(&'a crate::source::packages::PackagesSource),
    /// Distribution repositories (apt, rpm), kept under a repository root.
    Distro(DistroSource<'a>),
}

/// Where a release mirror's versions are listed.
#[derive(Clone, Copy, Debug)]
pub enum ReleaseSource<'a> {
    /// A url_index document.
    UrlIndex(&'a IndexOrigin),
    /// GitHub releases.
    Github(&'a GithubSource),
}

/// The asset patterns of one platform.
#[derive(Clone, Debug)]
pub struct PlatformAssets {
    /// The platform.
    pub platform: Platform,
    /// Regexes over asset file names, tried in order.
    pub patterns: Vec<regex::Regex>,
    /// How the asset becomes a layer.
    pub asset_type: AssetTypeSpec,
    /// Binary assets: the file name inside the package (`None`: the asset name).
    pub binary_name: Option<String>,
    /// Leading path components stripped from archive entries.
    pub strip_components: u32,
    /// JSON merged into the package config.
    pub metadata: Option<std::sync::Arc<serde_json::Value>>,
    /// The platform is mirrored from this version on (inclusive).
    pub min_version: Option<String>,
    /// The platform is not mirrored from this version on (exclusive).
    pub max_version: Option<String>,
}

impl PlatformAssets {
    /// Why `version` is outside this platform's version bounds, if it is.
    pub fn out_of_bounds(&self, version: &str) -> Option<String> {
        use std::cmp::Ordering;
        if let Some(min) = &self.min_version
            && crate::version::compare(version, min) == Ordering::Less
        {
            return Some(format!("below the platform's min_version {min}"));
        }
        if let Some(max) = &self.max_version
            && crate::version::compare(version, max) != Ordering::Less
        {
            return Some(format!("not below the platform's max_version {max}"));
        }
        None
    }
}

/// Read and validate the spec at `path`. Offline.
pub fn load(path: &Path) -> Result<Spec, SpecError> {
    let bytes = std::fs::read(path).map_err(|source| {
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
    // Text that is not UTF-8 is bad data (65), not an I/O failure: say where it goes wrong.
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let column = valid.iter().rev().take_while(|&&b| b != b'\n').count() as u64 + 1;
        SpecError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            field: String::new(),
            message: format!(
                "the file is not UTF-8 text (invalid byte 0x{:02x})",
                e.as_bytes()
                    .get(e.utf8_error().valid_up_to())
                    .copied()
                    .unwrap_or_default()
            ),
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
        Lazyoci(model::LazyociFile),
    }
    serde_json::to_value(schemars::schema_for!(AnySpec)).unwrap_or_default()
}
