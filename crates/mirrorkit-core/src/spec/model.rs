//! The spec file as written (`mirror.yml`): serde types with JSON Schema, before validation.
//!
//! Two shapes are accepted: a file with `mirrors:` (many mirrors), and a one-package file in the
//! ocx-mirror style (top-level `name`, `source`, `assets`, …). The mirror fields are declared once
//! (in [`mirror_fields!`]) and stamped into both shapes, because serde's `flatten` cannot be
//! combined with `deny_unknown_fields` and unknown fields must be errors.
//!
//! Why one long file: it is the whole spec as data, declared once so the JSON Schema is
//! generated from the same types; validation is split by family in `validate/`.

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
    /// Repository path in the registry (the ocx-mirror spelling of the mirror's `repository`).
    pub repository: Option<Located<String>>,
    /// A directory of OCI image layouts, one per repository (`<layout>/<repository>/`). The default
    /// target, `./oci` beside the spec, when no target is given.
    pub layout: Option<Located<PathBuf>>,
    /// `packages` mirrors: the directory of the published static registries (`npm/`,
    /// `pypi/simple/`, `cargo/index/`), relative to the spec; default `./packages`.
    pub packages: Option<Located<PathBuf>>,
    /// `packages` mirrors: the URL the `packages` directory is served at (its documents point
    /// their files under it). Required for package mirrors.
    pub base_url: Option<Located<String>>,
    /// `apt` mirrors: the distribution repository tree (`mirror/<prefix>/`, its pool, and
    /// later snapshots and the public tree).
    pub repos: Option<ReposTargetSpec>,
}

/// `target.repos`: where distribution repositories are kept.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReposTargetSpec {
    /// The root directory, relative to the spec.
    pub root: Located<PathBuf>,
    /// Retention (`repo cleanup-state`): keep the newest N snapshots (the current and the
    /// published one are always kept).
    pub keep: Option<Located<usize>>,
    /// Retention: keep the snapshots younger than this many days.
    pub keep_days: Option<Located<u64>>,
    /// Take snapshots as ZFS snapshots of this dataset (`pool/fs`), which must be mounted at
    /// `root` (`zfs snapshot`, `zfs destroy` on retention); default: trees of hard links.
    pub zfs_dataset: Option<Located<String>>,
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
    /// Requests started per second to this host (every request, retries included).
    pub rate_limit: Option<f64>,
    /// The most tags one repository of this registry may list (default 100,000); a listing
    /// past it fails the mirror instead of running on.
    pub max_tags: Option<u64>,
    /// A CA certificate file (PEM) trusted for this registry besides the system's roots
    /// (relative to the spec).
    pub ca_file: Option<std::path::PathBuf>,
    /// A client certificate (PEM) presented to this registry (mTLS); needs `client_key`.
    pub client_cert: Option<std::path::PathBuf>,
    /// The key of `client_cert` (PEM).
    pub client_key: Option<std::path::PathBuf>,
    /// A package upstream's token, sent as `Authorization: Bearer <token>` with every request
    /// to this host: the name of the environment variable holding it (a private npm
    /// registry's `_authToken`).
    pub token_env: Option<String>,
    /// A package upstream's user name for HTTP Basic: the name of the environment variable
    /// holding it; goes with `password_env` (a private PyPI index).
    pub username_env: Option<String>,
    /// The password for `username_env`: the name of the environment variable holding it.
    pub password_env: Option<String>,
    /// The whole `Authorization` value, sent as it is: the name of the environment variable
    /// holding it (a cargo registry's token, which cargo sends verbatim).
    pub authorization_env: Option<String>,
}

/// The kind of a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A JSON document listing versions and their asset URLs (see `mirrorkit schema url-index`).
    UrlIndex,
    /// The releases of a GitHub (or GitHub Enterprise) repository.
    GithubRelease,
    /// Images and other OCI content in a registry, copied as they are.
    Oci,
    /// Helm charts (classic repository, OCI repository, or a chart directory), pushed as Helm
    /// OCI artifacts, optionally with the images they use.
    Helm,
    /// Language packages (npm, PyPI, cargo) named by PURLs or SBOMs, published as static
    /// registries under the target's `packages` directory.
    Packages,
    /// A Debian-style apt repository (`dists/`, `pool/`), signature and checksums verified,
    /// mirrored under the target's `repos` root.
    Apt,
    /// An rpm repository (`repodata/`, packages), `repomd.xml` signature and every checksum
    /// verified, mirrored under the target's `repos` root.
    Rpm,
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
    /// the spec file). `apt`: the repository's base URL (the directory holding `dists/`).
    pub url: Option<Located<String>>,
    /// `url_index`: the document's `versions` map written inline. `helm`: which chart versions —
    /// a list, a semver range (`">=1.2, <2"`), or `{latest: N}`. `packages`: which versions a
    /// PURL without a version takes — a range, or `{semver: RANGE, latest: N, since: DATE}`.
    #[schemars(with = "Option<VersionsSchema>")]
    pub versions: Option<Located<serde_json::Value>>,
    /// `url_index`: a command whose standard output is the index document.
    pub generator: Option<Located<GeneratorSpec>>,
    /// `github_release`: the repository owner (user or organisation).
    pub owner: Option<Located<String>>,
    /// `github_release`: the repository name.
    pub repo: Option<Located<String>>,
    /// `github_release`: a regex over release tags with a `(?P<version>…)` group; tags that do not
    /// match are listed as excluded. Default: `v1.2.3`, `1.2.3`, `1.2.3-rc1` style tags.
    pub tag_pattern: Option<Located<String>>,
    /// `github_release`: the API base URL (default: `$GITHUB_API_URL`, else
    /// `https://api.github.com`), for GitHub Enterprise.
    pub api_url: Option<Located<String>>,
    /// `github_release`: longest wait for a rate-limit reset before giving up with exit 69
    /// (default 900 s).
    pub max_rate_limit_wait_seconds: Option<Located<u64>>,
    /// `oci`: the source repository, `host[:port]/path` (`nginx` means
    /// `docker.io/library/nginx`).
    pub image: Option<Located<String>>,
    /// `oci`: which tags (all criteria combine; `latest` counts last). Absent: every tag.
    pub tags: Option<Located<TagsSpec>>,
    /// `oci`: exactly these manifests, by digest (instead of tags).
    pub digests: Option<Located<Vec<String>>>,
    /// `oci`: platforms to keep (`os/arch[/variant]`); absent: all, copied byte for byte.
    pub platforms: Option<Located<Vec<Located<String>>>>,
    /// `oci`, `helm`: copy signatures, SBOMs and attestations attached to each manifest
    /// (default `true`).
    pub referrers: Option<bool>,
    /// `oci`: keep the source host as the first path segment of the target repository
    /// (`registry.example.org/library/nginx` → `<namespace>/registry.example.org/library/nginx`).
    pub include_host: Option<bool>,
    /// `helm`: the chart's name in the repository.
    pub chart: Option<Located<String>>,
    /// `helm`: a chart directory (relative to the spec), packaged as `helm package` does.
    pub path: Option<Located<PathBuf>>,
    /// `helm`: also mirror the images the chart uses.
    pub images: Option<bool>,
    /// `helm`: more images to mirror with the chart.
    pub extra_images: Option<Located<Vec<String>>>,
    /// `helm`: when to render the chart with `helm template` to find the images its templates
    /// use: `auto` (default: when a helm binary is found), `always`, `never`.
    pub helm_template: Option<crate::source::images::HelmTemplate>,
    /// `helm`: path segment between the namespace and the chart name (default `charts`).
    pub charts_prefix: Option<Located<String>>,
    /// `packages`: package URLs (`pkg:npm/left-pad@1.3.0`, `pkg:pypi/requests`,
    /// `pkg:cargo/serde@1.0.200`); one without a version takes the versions `versions` selects.
    pub purls: Option<Located<Vec<Located<String>>>>,
    /// `packages`: SBOM files (CycloneDX JSON/XML, SPDX JSON/tag-value), relative to the spec;
    /// every package they list is mirrored, their own subject is not.
    pub sboms: Option<Located<Vec<Located<PathBuf>>>>,
    /// `packages`: the upstream registry per ecosystem (`npm`, `pypi`, `cargo`; a cargo one
    /// written `sparse+URL`); default: the public registries. A PURL's `repository_url`
    /// qualifier overrides it for that package.
    pub upstreams: Option<Located<BTreeMap<String, Located<String>>>>,
    /// `packages`: also mirror what the mirrored versions depend on, transitively (npm and
    /// cargo; default `false`).
    pub dependencies: Option<bool>,
    /// `packages`: include prereleases when a PURL names no version (default `false`).
    pub prereleases: Option<bool>,
    /// `packages`: the Pythons and platforms a PyPI mirror serves (which files are mirrored,
    /// and what dependency markers are evaluated for); default: every file.
    #[schemars(with = "Option<PypiSpec>")]
    pub pypi: Option<Located<serde_json::Value>>,
    /// `packages`: also mirror every project the ecosystem's private upstream lists (`pypi`:
    /// the simple index's root page; needs `upstreams.pypi`), under `versions`. Public
    /// registries, npm and cargo (no listing) are refused.
    pub registry: Option<Located<String>>,
    /// `apt`: the suites (`bookworm`, `bookworm-updates`, `stable`).
    pub suites: Option<Located<Vec<Located<String>>>>,
    /// `apt`: the components (default `[main]`).
    pub components: Option<Located<Vec<Located<String>>>>,
    /// `apt`: the architectures (`amd64`, `arm64`, …; `all` for architecture-independent
    /// packages, included by default).
    pub architectures: Option<Located<Vec<Located<String>>>>,
    /// `apt`: the keys the suite's `InRelease` / `Release.gpg` must be signed with: a keyring
    /// file (`.gpg` binary or `.asc` armored) relative to the spec.
    pub keyring: Option<Located<PathBuf>>,
    /// `apt`, `rpm`: the fingerprints of the keys the metadata must be signed with (primary or
    /// subkey, 40 or 64 hex digits, spaces allowed): with `keyring`, only these of its keys;
    /// without, these keys from the system's keyrings (`/usr/share/keyrings`,
    /// `/etc/apt/trusted.gpg.d`, `/etc/pki/rpm-gpg`).
    pub fingerprints: Option<Located<Vec<Located<String>>>>,
    /// `apt`: only packages whose name matches one of these regexes (default: all).
    pub include: Option<Located<Vec<Located<String>>>>,
    /// `apt`: never packages whose name matches one of these regexes.
    pub exclude: Option<Located<Vec<Located<String>>>>,
    /// `apt`: accept a `Release` past its `Valid-Until` (default `false`: refused, as apt
    /// refuses it).
    pub ignore_valid_until: Option<bool>,
    /// `apt`: also the source packages (`Sources` and the files each names; default `false`).
    pub sources: Option<bool>,
    /// `apt`: also the installer packages (`debian-installer/binary-<arch>` and its `.udeb`s;
    /// default `false`).
    pub udebs: Option<bool>,
    /// `apt`: the description translations to keep (`[en, de]`: `i18n/Translation-<lang>`;
    /// default none).
    pub translations: Option<Located<Vec<Located<String>>>>,
    /// `apt`: also the `Contents-<arch>` indexes (what `apt-file` reads; default `false`).
    pub contents: Option<bool>,
    /// `apt`: also the AppStream metadata (`dep11/`: components and icons; default `false`).
    pub dep11: Option<bool>,
    /// `apt`, `rpm`: the repository's place under the target's `repos.root`
    /// (`mirror/<prefix>/`); default: the mirror's key.
    pub prefix: Option<Located<String>>,
    /// `rpm`: also check each package's own signature (its header signature) against the
    /// keyring (default `false`: `repomd.xml`'s signature and every checksum are checked).
    pub gpgcheck: Option<bool>,
    /// `rpm`: a mirror list (one base URL per line, as dnf's `mirrorlist=` reads it) instead
    /// of `url`: the mirrors are tried in order until one serves a repository that verifies.
    pub mirrorlist: Option<Located<String>>,
}

impl SourceSpec {
    /// A source of `kind` with no other field given (built in code: a lazyoci upstream).
    pub fn of_kind(kind: Located<SourceKind>) -> SourceSpec {
        SourceSpec {
            kind,
            url: None,
            versions: None,
            generator: None,
            owner: None,
            repo: None,
            tag_pattern: None,
            api_url: None,
            max_rate_limit_wait_seconds: None,
            image: None,
            tags: None,
            digests: None,
            platforms: None,
            referrers: None,
            include_host: None,
            chart: None,
            path: None,
            images: None,
            extra_images: None,
            helm_template: None,
            charts_prefix: None,
            purls: None,
            sboms: None,
            upstreams: None,
            dependencies: None,
            prereleases: None,
            pypi: None,
            registry: None,
            suites: None,
            components: None,
            architectures: None,
            keyring: None,
            fingerprints: None,
            include: None,
            exclude: None,
            ignore_valid_until: None,
            sources: None,
            udebs: None,
            translations: None,
            contents: None,
            dep11: None,
            prefix: None,
            gpgcheck: None,
            mirrorlist: None,
        }
    }
}

/// `tags` of an `oci` source.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsSpec {
    /// Exactly these tags.
    pub include: Option<Vec<String>>,
    /// Tags matching this regex.
    pub regex: Option<Located<String>>,
    /// Tags that are semver versions inside this range (e.g. `">=1.25, <2"`).
    pub semver: Option<Located<String>>,
    /// Only the highest N of what the other criteria keep.
    pub latest: Option<Located<usize>>,
    /// Never tags matching this regex.
    pub exclude_regex: Option<Located<String>>,
}

/// Schema of a mirror's `versions`: the release policy, or a helm version selection.
#[derive(JsonSchema)]
#[allow(dead_code)] // only its schema is used
#[serde(untagged)]
pub enum MirrorVersionsSchema {
    /// Releases.
    Policy(VersionsSpec),
    /// Helm: exactly these versions.
    List(Vec<String>),
    /// Helm: a semver range.
    Range(String),
}

/// Schema of a mirror's `platforms`: per-platform release settings, or the platforms an image
/// mirror keeps.
#[derive(JsonSchema)]
#[allow(dead_code)] // only its schema is used
#[serde(untagged)]
pub enum MirrorPlatformsSchema {
    /// Releases: `os/arch` → settings.
    Settings(BTreeMap<String, PlatformSpec>),
    /// Images: `[os/arch, …]`.
    List(Vec<String>),
}

/// Schema of a source's `versions`: url_index's inline map, or a helm version selection.
#[derive(JsonSchema)]
#[allow(dead_code)] // only its schema is used
#[serde(untagged)]
pub enum VersionsSchema {
    /// `url_index`: version → its assets.
    Inline(BTreeMap<String, VersionEntry>),
    /// `helm`: exactly these versions.
    List(Vec<String>),
    /// `helm`: a semver range.
    Range(String),
    /// `helm`: the highest N.
    Latest {
        /// How many.
        latest: usize,
    },
    /// `packages`: which versions a PURL without a version takes.
    Packages(PackageVersionsSpec),
}

/// `versions` of a `packages` source: every criterion given applies (a plain string is a
/// `semver` range).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageVersionsSpec {
    /// A range in the ecosystem's syntax (npm `^1.2`, cargo `>=1.2, <2`, PyPI `>=1.2,<2`).
    pub semver: Option<String>,
    /// Only the highest N.
    pub latest: Option<usize>,
    /// Only versions published on or after this date (`2026-01-31`) or instant (RFC 3339).
    pub since: Option<String>,
}

/// `pypi` of a `packages` source.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PypiSpec {
    /// CPython versions, `MAJOR.MINOR` (`["3.11", "3.12"]`): wheels built for none of them and
    /// files whose `Requires-Python` excludes all of them are left out; default: every Python.
    pub python: Option<Vec<String>>,
    /// Wheel platform tags, `*` for any run of characters (`["manylinux*_x86_64",
    /// "win_amd64"]`); pure wheels (`any`) always match; default: every platform.
    pub platforms: Option<Vec<String>>,
    /// Mirror source distributions too (default `true`).
    pub sdist: Option<bool>,
}

/// `build_timestamp`: the suffix of the immutable build tag `<version>_<timestamp>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BuildTimestampSpec {
    /// `YYYYMMDDhhmmss` in UTC (the default).
    #[default]
    Datetime,
    /// `YYYYMMDD` in UTC.
    Date,
    /// No build tag.
    None,
}

/// Which end of the missing versions `versions.new_per_run` takes first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackfillSpec {
    /// The newest missing versions first (the default).
    #[default]
    NewestFirst,
    /// The oldest missing versions first.
    OldestFirst,
}

/// `versions`: which upstream versions to mirror.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionsSpec {
    /// Lowest version mirrored (inclusive).
    pub min: Option<Located<String>>,
    /// Versions from this one up are not mirrored (exclusive).
    pub max: Option<Located<String>>,
    /// Mirror at most this many new versions per run.
    pub new_per_run: Option<Located<usize>>,
    /// Which missing versions a limited run takes first.
    #[serde(default)]
    pub backfill: BackfillSpec,
    /// Accepted for ocx-mirror compatibility (its CI schedule); mirrorkit does not schedule runs.
    pub poll_interval: Option<String>,
}

/// One `exclude` rule: a version, or a range (`min_version` inclusive, `max_version` exclusive).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExcludeSpec {
    /// Exactly this version.
    pub version: Option<Located<String>>,
    /// Versions from this one (inclusive)…
    pub min_version: Option<Located<String>>,
    /// …up to this one (exclusive).
    pub max_version: Option<Located<String>>,
    /// Why (shown in reports).
    pub reason: Option<String>,
}

/// Per-platform settings (`platforms.<os/arch>`).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformSpec {
    /// The platform is mirrored from this version on (inclusive).
    pub min_version: Option<Located<String>>,
    /// The platform is not mirrored from this version on (exclusive).
    pub max_version: Option<Located<String>>,
    /// ocx-mirror CI runner settings: accepted, not used by mirrorkit.
    pub runner: Option<serde_json::Value>,
    /// ocx-mirror CI container settings: accepted, not used by mirrorkit.
    pub containers: Option<serde_json::Value>,
}

/// How strictly a publisher's digest is required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestPolicySpec {
    /// Ignore it.
    Off,
    /// Check it when upstream publishes one (the default).
    IfPresent,
    /// Fail an asset upstream publishes no digest for.
    Require,
}

// The schema says what the hand-written parser below accepts (the derive would name the
// variants `Off`, `IfPresent`, `Require`, which the parser refuses).
impl JsonSchema for DigestPolicySpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DigestPolicySpec".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "How strictly a publisher's digest is required: `off`, `if_present` (the default) or `require`; `true` is `if_present`, `false` is `off`.",
            "enum": ["off", "if_present", "require", true, false, "true", "false"]
        })
    }
}

impl<'de> Deserialize<'de> for DigestPolicySpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DigestPolicySpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("off, if_present, require, true or false")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(if v {
                    DigestPolicySpec::IfPresent
                } else {
                    DigestPolicySpec::Off
                })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "off" => Ok(DigestPolicySpec::Off),
                    "if_present" => Ok(DigestPolicySpec::IfPresent),
                    "require" => Ok(DigestPolicySpec::Require),
                    "true" => Ok(DigestPolicySpec::IfPresent),
                    "false" => Ok(DigestPolicySpec::Off),
                    other => Err(E::custom(format!(
                        "unknown digest policy {other:?}: expected off, if_present or require"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `verify`: how downloads are checked.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifySpec {
    /// GitHub's per-asset `digest` (default `if_present`).
    pub github_asset_digest: Option<DigestPolicySpec>,
    /// A url_index asset's `checksum` (default `if_present`).
    pub url_index_digest: Option<DigestPolicySpec>,
    /// A checksums file in `sha256sum` format: the name of an asset of the same release, or a
    /// URL; `{version}` is replaced by the version. Assets are matched by base name.
    pub checksums_file: Option<Located<String>>,
    /// Refuse assets nothing can verify (default `true`); `false` mirrors them with a warning.
    pub require: Option<bool>,
}

/// `concurrency`: how much work runs at once.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencySpec {
    /// Downloads at once (default 8).
    pub max_downloads: Option<Located<usize>>,
    /// Packaging jobs at once (default: the number of cores; compression threads of all jobs
    /// together never exceed the cores).
    pub max_bundles: Option<Located<usize>>,
    /// Compression threads per packaging job (default: by asset size — one per 24 MiB xz block —
    /// at most the cores).
    pub compression_threads: Option<Located<u32>>,
    /// Accepted for ocx-mirror compatibility and not used: mirrorkit paces GitHub listings by
    /// the API's own rate-limit headers instead of a fixed pause.
    pub rate_limit_ms: Option<u64>,
    /// Accepted for ocx-mirror compatibility; mirrorkit retries every request itself.
    pub max_retries: Option<u32>,
}

/// Schema of `asset_type`: a kind, a kind with options, or a default plus per-platform kinds.
#[derive(JsonSchema)]
#[allow(dead_code)] // only its schema is used; the value is interpreted in validation
#[serde(untagged)]
pub enum AssetTypeSchema {
    /// `archive` or `binary`.
    Kind(AssetTypeSpec),
    /// `{type: archive, strip_components: N}` or `{type: binary, name: NAME}`.
    Detailed(AssetTypeDetailSchema),
    /// `{default: …, platforms: {os/arch: …}}`.
    PerPlatform {
        /// For every platform not listed.
        default: AssetTypeDetailSchema,
        /// Per platform.
        platforms: Option<BTreeMap<String, AssetTypeDetailSchema>>,
    },
}

/// Schema of one detailed asset type.
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct AssetTypeDetailSchema {
    /// `archive` or `binary`.
    #[serde(rename = "type")]
    pub kind: AssetTypeSpec,
    /// Archive: leading path components to strip.
    pub strip_components: Option<u32>,
    /// Binary: the file name inside the package (default: the asset name).
    pub name: Option<String>,
}

/// Schema of `strip_components`: a number, or a default plus per-platform numbers.
#[derive(JsonSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum StripComponentsSchema {
    /// For every platform.
    Uniform(u32),
    /// Per platform.
    PerPlatform {
        /// For every platform not listed.
        default: Option<u32>,
        /// Per platform.
        platforms: Option<BTreeMap<String, u32>>,
    },
}

/// Schema of `metadata`: a JSON file, or a default file plus per-platform files.
#[derive(JsonSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum MetadataSchema {
    /// One file for every platform.
    File(PathBuf),
    /// Per platform.
    PerPlatform {
        /// For every platform not listed.
        default: Option<PathBuf>,
        /// Per platform.
        platforms: Option<BTreeMap<String, PathBuf>>,
    },
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
            /// matching two assets fails that version naming both. Required for release sources
            /// (`url_index`, `github_release`); not used by `oci` and `helm`.
            #[serde(default)]
            pub assets: AssetPatterns,
            /// `archive` (default) or `binary`; or `{type: binary, name: NAME}`, or
            /// `{default: …, platforms: {os/arch: …}}`.
            #[schemars(with = "Option<AssetTypeSchema>")]
            pub asset_type: Option<Located<serde_json::Value>>,
            /// `xz` (default), `zstd` or `gzip`.
            pub compression: Option<CompressionSpec>,
            /// Leading path components to strip from archive entries (like `tar --strip-components`):
            /// a number, or `{default: N, platforms: {os/arch: N}}`.
            #[schemars(with = "Option<StripComponentsSchema>")]
            pub strip_components: Option<Located<serde_json::Value>>,
            /// A JSON file (relative to the spec) merged into the package config (`env`,
            /// `entrypoints`, …), or `{default: FILE, platforms: {os/arch: FILE}}`.
            #[schemars(with = "Option<MetadataSchema>")]
            pub metadata: Option<Located<serde_json::Value>>,
            /// Suffix of the immutable build tag: `datetime` (default), `date` or `none`.
            pub build_timestamp: Option<BuildTimestampSpec>,
            /// Move the rolling tags `X.Y`, `X` and `latest` (default `true`).
            pub cascade: Option<bool>,
            /// Releases: version range and pacing (`{min, max, new_per_run, backfill}`). Helm: which
            /// chart versions (a list, a semver range, or `{latest: N}`; also accepted under
            /// `source`).
            #[schemars(with = "Option<MirrorVersionsSchema>")]
            pub versions: Option<Located<serde_json::Value>>,
            /// Leave out versions upstream marks as prereleases.
            pub skip_prereleases: Option<bool>,
            /// Versions never mirrored, with the reason.
            pub exclude: Option<Located<Vec<ExcludeSpec>>>,
            /// How downloads are verified.
            pub verify: Option<VerifySpec>,
            /// Downloads and packaging jobs at once.
            pub concurrency: Option<ConcurrencySpec>,
            /// Releases: per-platform settings (`{os/arch: {min_version, max_version}}`). Images: the
            /// platforms to keep (a list; also accepted under `source`).
            #[schemars(with = "Option<MirrorPlatformsSchema>")]
            pub platforms: Option<Located<serde_json::Value>>,
            /// Images: which tags (also accepted under `source`).
            pub tags: Option<Located<TagsSpec>>,
            /// Images: exactly these digests (also accepted under `source`).
            pub digests: Option<Located<Vec<String>>>,
            /// Images and charts: copy referrers (also accepted under `source`).
            pub referrers: Option<bool>,
            /// Images: keep the source host in the target path (also accepted under `source`).
            pub include_host: Option<bool>,
            /// Helm: the chart (also accepted under `source`).
            pub chart: Option<Located<String>>,
            /// Helm: also mirror the images the chart uses (also accepted under `source`).
            pub images: Option<bool>,
            /// Helm: more images to mirror with the chart (also accepted under `source`).
            pub extra_images: Option<Located<Vec<String>>>,
            /// Helm: path segment between the namespace and the chart (also accepted under
            /// `source`).
            pub charts_prefix: Option<Located<String>>,
            /// ocx-mirror CI settings, accepted so its specs run unchanged; not used by mirrorkit.
            pub tests: Option<serde_json::Value>,
            /// ocx-mirror CI settings (accepted, not used).
            pub notify: Option<serde_json::Value>,
            /// ocx-mirror CI settings (accepted, not used).
            pub catalog: Option<serde_json::Value>,
            /// ocx-mirror CI settings (accepted, not used).
            pub ocx_mirror: Option<serde_json::Value>,
            /// ocx-mirror CI settings (accepted, not used).
            pub allow_manual_edits: Option<bool>,
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
        /// The largest asset a download may bring (bytes, or `64GiB`, `500MB`; default 64 GiB).
        pub max_asset_size: Option<Located<SizeValue>>,
        /// `os/arch` pairs allowed beyond Go's GOOS/GOARCH lists (e.g. `myos/myarch`).
        #[serde(default)]
        pub custom_platforms: Vec<String>,
    }
}

/// A size: a number of bytes, or a number with a unit (`512MiB`, `64GiB`, `2TB`).
#[derive(Clone, Debug, Deserialize, JsonSchema, PartialEq)]
#[serde(untagged)]
pub enum SizeValue {
    /// Bytes.
    Bytes(u64),
    /// A number and a unit: B, KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB (powers of 1024).
    Text(String),
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
    /// The largest asset a download may bring (bytes, or `64GiB`, `500MB`; default 64 GiB); a
    /// larger one fails its version, naming the URL.
    pub max_asset_size: Option<Located<SizeValue>>,
    /// `os/arch` pairs allowed beyond Go's GOOS/GOARCH lists (e.g. `myos/myarch`); any other
    /// unknown OS or architecture is an error (a typo would match nothing, silently).
    #[serde(default)]
    pub custom_platforms: Vec<String>,
    /// Mirrors by key. The key names the default repository.
    pub mirrors: BTreeMap<Located<String>, MirrorSpec>,
}

/// A lazyoci `mirror.yaml` (Helm charts and the images they use), read unchanged: each upstream
/// becomes a `type: helm` mirror with `images: true`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LazyociFile {
    /// The registry everything goes to.
    pub target: LazyociTarget,
    /// Charts by key.
    pub upstreams: BTreeMap<Located<String>, LazyociUpstream>,
}

/// lazyoci's `target`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LazyociTarget {
    /// `host[:port]` and an optional path (the namespace).
    pub url: Located<String>,
    /// Plain HTTP to the target.
    #[serde(default)]
    pub insecure: bool,
    /// Path segment between the URL and the chart name (default: none).
    pub charts_prefix: Option<Located<String>>,
}

/// One lazyoci upstream.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LazyociUpstream {
    /// `repo` (a classic repository), `oci` (an OCI registry) or `local` (a chart directory).
    #[serde(rename = "type")]
    pub kind: Located<LazyociKind>,
    /// `type: repo`: the repository URL.
    pub repo: Option<Located<String>>,
    /// `type: oci`: `oci://host[:port]/path`.
    pub registry: Option<Located<String>>,
    /// `type: local`: the chart directory, relative to the file.
    pub path: Option<Located<PathBuf>>,
    /// The chart's name.
    pub chart: Located<String>,
    /// The chart versions.
    #[schemars(with = "Option<Vec<String>>")]
    pub versions: Option<Located<serde_json::Value>>,
}

/// lazyoci's upstream types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LazyociKind {
    /// A classic repository (`index.yaml`).
    Repo,
    /// An OCI registry holding chart artifacts.
    Oci,
    /// A chart directory.
    Local,
}
