//! The spec file as written (`mirror.yml`): serde types with JSON Schema, before validation.
//!
//! Two shapes are accepted: a file with `mirrors:` (many mirrors), and a one-package file in the
//! ocx-mirror style (top-level `name`, `source`, `assets`, …). The mirror fields are declared once
//! (in [`mirror_fields!`]) and stamped into both shapes, because serde's `flatten` cannot be
//! combined with `deny_unknown_fields` and unknown fields must be errors.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

use super::located::Located;
use crate::source::url_index::VersionEntry;

/// Where mirrored content goes by default.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// OCI registry `host[:port]`. Exclusive with `layout`.
    pub registry: Option<Located<String>>,
    /// Path prefix inside the registry (e.g. `mirror`).
    pub namespace: Option<Located<String>>,
    /// Talk plain HTTP to the registry (never the default).
    pub insecure: Option<bool>,
    /// A directory of OCI image layouts, one per repository (`<layout>/<repository>/`). The default
    /// target, `./oci` beside the spec, when no target is given.
    pub layout: Option<Located<PathBuf>>,
}

/// Settings for one registry host, shared by sources and targets.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// Plain HTTP.
    #[serde(default)]
    pub insecure: bool,
    /// Requests in flight at once to this host.
    pub concurrency: Option<u32>,
}

/// The kind of a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A JSON document listing versions and their asset URLs (see `mirrorkit schema url-index`).
    UrlIndex,
}

/// Where the versions of a mirror come from.
///
/// A plain struct with a `type` field (not an internally tagged enum) so every field keeps its
/// position for error messages; which fields a kind needs is checked in validation.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// The source kind.
    #[serde(rename = "type")]
    pub kind: Located<SourceKind>,
    /// `url_index`: where the index document is (http, https, file URL, or a path relative to
    /// the spec file).
    pub url: Option<Located<String>>,
    /// `url_index`: the document's `versions` map written inline.
    pub versions: Option<Located<BTreeMap<String, VersionEntry>>>,
    /// `url_index`: a command whose standard output is the index document.
    pub generator: Option<Located<GeneratorSpec>>,
}

/// A command that prints a url_index document.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSpec {
    /// Program and arguments (no shell).
    pub command: Located<Vec<String>>,
    /// Directory to run in, relative to the spec file (default: the spec's directory).
    pub working_directory: Option<PathBuf>,
    /// Kill the command after this many seconds (default 300).
    pub timeout_seconds: Option<u64>,
}

/// How an asset becomes a layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssetTypeSpec {
    /// An archive (tar.gz, tar.xz, tar.zst, zip, …), unpacked and repacked as a tar layer.
    #[default]
    Archive,
    /// A single executable file, packed as a tar holding it with the executable bit set.
    Binary,
}

/// Layer compression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompressionSpec {
    /// tar+xz, multi-threaded (the default; the ocx convention).
    #[default]
    Xz,
    /// tar+zstd, multi-threaded.
    Zstd,
    /// tar+gzip.
    Gzip,
}

/// `strip_components`: leading path components removed from archive entries.
pub type StripComponents = Located<u32>;

/// Per-platform asset patterns: `os/arch[/variant]` → ordered regexes over asset file names.
pub type AssetPatterns = BTreeMap<Located<String>, Located<Vec<Located<String>>>>;

macro_rules! mirror_fields {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// Where the versions come from.
            pub source: SourceSpec,
            /// Platform → ordered regexes over asset names. The first regex that matches exactly
            /// one asset selects it; none = the platform is absent for that version; a regex
            /// matching two assets fails that version naming both.
            pub assets: AssetPatterns,
            /// `archive` (default) or `binary`.
            #[serde(default)]
            pub asset_type: AssetTypeSpec,
            /// `xz` (default), `zstd` or `gzip`.
            #[serde(default)]
            pub compression: CompressionSpec,
            /// Leading path components to strip from archive entries (like `tar --strip-components`).
            pub strip_components: Option<StripComponents>,
            /// Target repository (default: `<namespace>/<mirror key>`).
            pub repository: Option<Located<String>>,
            /// Target for this mirror only (default: the file's `target`).
            pub target: Option<TargetSpec>,
        }
    };
}

mirror_fields! {
    /// One mirror: a source, the assets to take per platform, and how to package them.
    pub struct MirrorSpec {}
}

mirror_fields! {
    /// A spec file in the one-package form (ocx-mirror style).
    pub struct PackageFile {
        /// The package name (the default repository name).
        pub name: Located<String>,
        /// Work directory (store and resumable state); `--work-dir` overrides.
        pub work_dir: Option<PathBuf>,
        /// Per-host registry settings.
        #[serde(default)]
        pub registries: BTreeMap<String, RegistrySettings>,
    }
}

/// A spec file with many mirrors.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    /// Default target of every mirror.
    pub target: Option<TargetSpec>,
    /// Per-host registry settings (`host[:port]` → settings).
    #[serde(default)]
    pub registries: BTreeMap<String, RegistrySettings>,
    /// Work directory (store and resumable state), relative to the spec; `--work-dir` overrides.
    pub work_dir: Option<PathBuf>,
    /// Mirrors by key. The key names the default repository.
    pub mirrors: BTreeMap<Located<String>, MirrorSpec>,
}
