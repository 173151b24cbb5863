//! The command line, defined once: help text, man page and shell completions are generated from
//! these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// mirrorkit keeps your own verified copy of what you pull from outside: binary releases,
/// images, charts, packages — published to an OCI registry or an OCI image layout.
#[derive(Debug, Parser)]
#[command(name = "mirrorkit", version)]
pub(crate) struct Cli {
    /// Log verbosity (logs go to stderr).
    #[arg(long, global = true, value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
    /// When to use colours.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Logs as JSON, one object per line on stderr (default: plain text).
    #[arg(long, global = true)]
    pub json_logs: bool,
    /// The spec for commands given none (a shard host's configuration): default
    /// /etc/mirrorkit/mirrorkit.yaml.
    #[arg(long, global = true, value_name = "FILE", env = "MIRRORKIT_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// The spec a shard host runs with when neither an argument nor `--config` names one.
pub(crate) const DEFAULT_CONFIG: &str = "/etc/mirrorkit/mirrorkit.yaml";

/// `--config`, set once when the command line is read.
static CONFIG: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

/// Remember `--config` for [`spec_path`].
pub(crate) fn set_config(config: Option<PathBuf>) {
    let _ = CONFIG.set(config);
}

/// A command's spec: the argument, else `--config` (or `MIRRORKIT_CONFIG`), else
/// [`DEFAULT_CONFIG`] when it exists; none of them is a usage error (64), said.
pub(crate) fn spec_path(
    given: &Option<PathBuf>,
) -> Result<PathBuf, mirrorkit_core::exit::ExitCode> {
    if let Some(p) = given.clone().or_else(|| CONFIG.get().cloned().flatten()) {
        return Ok(p);
    }
    let default = PathBuf::from(DEFAULT_CONFIG);
    if default.is_file() {
        return Ok(default);
    }
    Err(crate::output::message(
        &format!("no spec given: name one, or give --config FILE (there is no {DEFAULT_CONFIG})"),
        mirrorkit_core::exit::ExitCode::Usage,
    ))
}

/// Log verbosity.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Colour choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Color {
    Auto,
    Always,
    Never,
}

/// Output format of commands that report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A table and a summary line.
    Plain,
    /// The report as JSON (documented in docs/report.md).
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Mirror what the spec selects: discover, plan, download, verify, package, push.
    Sync(SyncArgs),
    /// Show what `sync` would do, without downloading or pushing (= sync --dry-run).
    Check(SyncArgs),
    /// Validate a spec offline: schema, regexes, platforms, repositories.
    Validate {
        /// The spec file (default: --config).
        spec: Option<PathBuf>,
    },
    /// Print a JSON Schema (draft 2020-12) to stdout.
    Schema {
        /// Which schema.
        #[arg(value_enum)]
        target: SchemaTarget,
    },
    /// Distribution repositories (apt mirrors of a spec): snapshots, publication, inventory,
    /// catalogs, retention.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Copy one image or index (all platforms, digests preserved) between references:
    /// docker://host/repo:tag|@digest, oci:DIR[:tag], oci-archive:FILE[:tag].
    Copy(CopyArgs),
    /// Check the rolling tags (X.Y, X, latest) of every mirror against what is published, or
    /// repair them: each should hold, per platform, the highest published version under it.
    Cascade(CascadeArgs),
    /// Export what a spec mirrors (every tag of its repositories, read from its target), or the
    /// given references, as one bundle for an air-gapped site: an OCI image layout directory or
    /// archive with `mirrorkit-bundle.json`.
    Export(ExportArgs),
    /// Import a bundle (directory, archive, or parts) into a registry or a directory of layouts:
    /// every blob verified, present blobs not re-sent, every tag restored.
    Import(ImportArgs),
    /// Inspect bundles without importing them.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Mirror packages named by PURLs and SBOMs into a static registry tree that the package
    /// managers install from (npm, PyPI, cargo; generic files by URL and checksum).
    Mirror(MirrorArgs),
    /// Print shell completions to stdout.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout.
    Man,
}

/// Which JSON Schema to print.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum SchemaTarget {
    /// The spec file (mirror.yml), both forms.
    Spec,
    /// `repo catalog` and `metadata/snapshots/<name>/repo_catalog.json`.
    Catalog,
    /// `metadata/inventory.json`.
    Inventory,
    /// The url_index source document.
    UrlIndex,
    /// The report `sync` and `check` print with `--format json`.
    Report,
    /// The report of `cascade check|repair --format json`.
    CascadeReport,
    /// The report of `copy --format json`.
    CopyReport,
    /// The report of `export --format json`.
    ExportReport,
    /// The report of `import --format json`.
    ImportReport,
    /// What `bundle ls|verify --format json` print.
    BundleListing,
    /// The report of `mirror --format json`.
    PackagesReport,
}

#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// The spec file (default: --config).
    pub spec: Option<PathBuf>,
    /// Only this mirror (repeatable; `--chart` is accepted too, as lazyoci spells it, and
    /// `--syncer`, as shard hosts do).
    #[arg(long = "only", visible_aliases = ["chart", "syncer"], value_name = "KEY")]
    pub only: Vec<String>,
    /// Every mirror (the default; accepted for lazyoci's `--all`).
    #[arg(long, conflicts_with = "only")]
    pub all: bool,
    /// Only these versions (comma-separated or repeated), as the source names them. Chart
    /// mirrors: exactly these chart versions, even outside `versions:`.
    #[arg(long = "version", value_name = "V", value_delimiter = ',', value_parser = version_name)]
    pub versions: Vec<String>,
    /// Only the highest version, after every other filter.
    #[arg(long)]
    pub latest: bool,
    /// When another run holds the work dir, exit at once (75) instead of waiting for it.
    #[arg(long)]
    pub no_wait: bool,
    /// A registry to speak plain HTTP to, source or target (repeatable; a spec's
    /// `registries: {HOST: {insecure: true}}` does the same).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Print the plan and stop: no download, no push.
    #[arg(long)]
    pub dry_run: bool,
    /// Stop at the first failure.
    #[arg(long)]
    pub fail_fast: bool,
    /// Helm mirrors: push the charts, not the images they use.
    #[arg(long, conflicts_with = "images_only")]
    pub charts_only: bool,
    /// Helm mirrors: push the images the charts use, not the charts.
    #[arg(long)]
    pub images_only: bool,
    /// Versions prepared (downloaded and packaged) at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Work directory: downloads and packaged layers, kept between runs for resuming
    /// (default: the spec's `work_dir`, else ./.mirrorkit).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Plain)]
    pub format: Format,
}

/// A `--version` value: an empty one (`--version ''`, `--version 1.0,`) is a usage error, not
/// "every version".
fn version_name(s: &str) -> Result<String, String> {
    let v = s.trim();
    if v.is_empty() {
        return Err("a version cannot be empty (omit --version to mirror every version)".into());
    }
    Ok(v.to_string())
}

/// Bundle layout on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum BundleFormatArg {
    /// A directory.
    OciLayout,
    /// A tar of the layout.
    OciArchive,
}

/// Archive compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum CompressArg {
    /// zstd.
    Zstd,
    /// gzip.
    Gzip,
    /// None.
    None,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// A spec file, or image references (docker://HOST/REPO:TAG, oci:DIR:TAG).
    #[arg(required = true, value_name = "SPEC|REF")]
    pub sources: Vec<String>,
    /// Where to write the bundle (a new directory, or an archive file).
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: PathBuf,
    /// Directory or archive.
    #[arg(long, value_enum, default_value_t = BundleFormatArg::OciArchive)]
    pub format: BundleFormatArg,
    /// Compression of an archive.
    #[arg(long, value_enum, default_value_t = CompressArg::None)]
    pub compress: CompressArg,
    /// Leave out blobs an earlier bundle (directory, archive or its mirrorkit-bundle.json)
    /// already carried: a delta bundle, importable on top of it.
    #[arg(long, value_name = "PREVIOUS")]
    pub since: Option<PathBuf>,
    /// Split an archive into parts of at most this size (e.g. 4GiB, 700MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub split: Option<u64>,
    /// Only this mirror of the spec (repeatable).
    #[arg(long = "only", value_name = "KEY")]
    pub only: Vec<String>,
    /// A registry to talk plain HTTP to (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Certificates for the registries: `*.crt` CAs to trust, `NAME.cert` + `NAME.key` a client
    /// certificate (as skopeo's `--cert-dir` and docker's `certs.d/HOST/`).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The bundle: a directory, an archive, or the first of its parts.
    pub path: PathBuf,
    /// Where to: docker://HOST[:PORT][/NAMESPACE], oci:DIR, or packages:DIR (the bundle's
    /// package trees published as static registries). With --spec: where everything but the
    /// package trees goes.
    #[arg(long, value_name = "TARGET", required_unless_present = "spec")]
    pub to: Option<String>,
    /// Publish the bundle's package trees into this spec's package targets (each tree into the
    /// `packages` directory of the same name, served at the target's `base_url`), as a sync of
    /// the spec would have.
    #[arg(long, value_name = "SPEC")]
    pub spec: Option<PathBuf>,
    /// With --to packages:DIR: the URL the tree will be served at (npm tarball URLs and
    /// cargo's `dl` point under it); default: the URL the exported tree was served at.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Verify and say what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Repository for entries of a layout written by another tool that name only a tag.
    #[arg(long, value_name = "NAME")]
    pub repository: Option<String>,
    /// A registry to talk plain HTTP to (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Certificates for the registries: `*.crt` CAs to trust, `NAME.cert` + `NAME.key` a client
    /// certificate (as skopeo's `--cert-dir` and docker's `certs.d/HOST/`).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Plain)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RepoCommand {
    /// Snapshot the current mirror trees of the spec's apt mirrors: an immutable tree of hard
    /// links, `snapshots/<YYYYMMDD-HHMMSS>/<prefix>/`, made current
    /// (`state/current_snapshot.txt`).
    Snapshot {
        /// The spec (default: --config).
        spec: Option<PathBuf>,
    },
    /// Publish a snapshot: `public/<prefix>` becomes a link into it, switched atomically
    /// (default: the current snapshot).
    PublishSnapshot {
        /// The spec (default: --config).
        spec: Option<PathBuf>,
        /// Publish this snapshot instead of the current one.
        #[arg(long, value_name = "NAME")]
        snapshot: Option<String>,
        /// Also publish every snapshot at `public/snapshots/<name>/<prefix>`.
        #[arg(long)]
        all: bool,
    },
    /// Write `metadata/inventory.json`: the snapshots (current, published, sizes) and the
    /// repositories of each root (`mirrorkit schema inventory`).
    PublishInventory {
        /// The spec (default: --config).
        spec: Option<PathBuf>,
    },
    /// Write `metadata/snapshots/<snapshot>/repo_catalog.json` for the current snapshot
    /// (`mirrorkit schema catalog`).
    PublishCatalog {
        /// The spec (default: --config).
        spec: Option<PathBuf>,
        /// Catalog this snapshot instead of the current one.
        #[arg(long, value_name = "NAME", conflicts_with = "rebuild")]
        snapshot: Option<String>,
        /// Catalog every snapshot again.
        #[arg(long)]
        rebuild: bool,
    },
    /// Apply the target's retention (`repos.keep`, `repos.keep_days`; never the current or the
    /// published snapshot), then remove pool files nothing links to.
    CleanupState {
        /// The spec (default: --config).
        spec: Option<PathBuf>,
    },
    /// Catalog the repositories of any tree on disk (no spec, no network): per suite its
    /// dates and signer, every package with version, architecture, size, SHA-256 and path.
    Catalog {
        /// The tree (a snapshot, a mirror tree, a plain repository).
        #[arg(long, value_name = "DIR")]
        root_dir: PathBuf,
        /// Write the catalog here (JSON) instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Repository formats to catalog (repeatable; default both).
        #[arg(long = "format", value_enum)]
        formats: Vec<CatalogFormat>,
        /// Print the counts as JSON on stdout.
        #[arg(long)]
        summary_json: bool,
    },
}

/// A repository format `repo catalog` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum CatalogFormat {
    /// apt (`dists/`, `Packages`).
    Apt,
    /// rpm (`repodata/repomd.xml`, `primary`).
    Rpm,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BundleCommand {
    /// Check a bundle: every blob against its digest, every image complete, the format known.
    Verify {
        /// The bundle.
        path: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Plain)]
        format: Format,
    },
    /// List what a bundle holds.
    Ls {
        /// The bundle.
        path: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Plain)]
        format: Format,
    },
}

/// `4GiB`, `700MiB`, `1G`, `1048576`: a size in bytes.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 4GiB, 700MiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("unknown size unit {other:?} in {s:?}")),
    };
    let bytes = (n * mult as f64) as u64;
    if bytes < 1 << 20 {
        return Err(format!("{s:?}: parts must be at least 1MiB"));
    }
    Ok(bytes)
}

/// What `cascade` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum CascadeAction {
    /// Report drift; exit 1 when any rolling tag is wrong or missing.
    Check,
    /// Push the expected index for every rolling tag that is wrong or missing.
    Repair,
}

#[derive(Debug, Args)]
pub(crate) struct CascadeArgs {
    /// check or repair.
    #[arg(value_enum)]
    pub action: CascadeAction,
    /// The spec file.
    pub spec: PathBuf,
    /// Only this mirror (repeatable).
    #[arg(long = "only", value_name = "KEY")]
    pub only: Vec<String>,
    /// Work directory (for the source's request cache; default: the spec's `work_dir`, else
    /// ./.mirrorkit).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Plain)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct CopyArgs {
    /// Source reference.
    pub src: String,
    /// Destination reference.
    pub dst: String,
    /// A registry to talk plain HTTP to (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Certificates for the registries: `*.crt` CAs to trust, `NAME.cert` + `NAME.key` a client
    /// certificate (as skopeo's `--cert-dir` and docker's `certs.d/HOST/`).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Only this platform of an index (repeatable); a subset is written as a new index.
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    pub platforms: Vec<String>,
    /// Also copy the referrers (signatures, SBOMs, attestations) of every copied manifest.
    #[arg(long)]
    pub referrers: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Plain)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct MirrorArgs {
    /// Package URLs: `pkg:npm/left-pad@1.3.0`, `pkg:npm/%40scope/name` (every version).
    #[arg(value_name = "PURL")]
    pub purls: Vec<String>,
    /// An SBOM whose packages to mirror: CycloneDX JSON or XML, SPDX JSON or tag-value
    /// (repeatable). Its own subject is reported and skipped.
    #[arg(long = "sbom", value_name = "FILE")]
    pub sboms: Vec<PathBuf>,
    /// The published tree: `npm/` under it is the npm registry.
    #[arg(long = "to", value_name = "DIR", default_value = "packages")]
    pub to: PathBuf,
    /// The URL the tree is served at; documents point their files under it. Required unless
    /// --dry-run.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The registry of an ecosystem, instead of the public one (repeatable):
    /// `npm=https://npm.internal/`.
    #[arg(long = "upstream", value_name = "ECOSYSTEM=URL")]
    pub upstreams: Vec<String>,
    /// Mirror every package a private upstream lists (pypi: the index's root page, given with
    /// --upstream pypi=URL; the version policy applies). Public registries are never mirrored
    /// whole, and npm and cargo registries cannot list themselves: refused (64).
    #[arg(long, value_name = "ECOSYSTEM")]
    pub registry: Option<String>,
    /// Also mirror what the mirrored versions depend on, transitively: the highest version
    /// satisfying each range, as the clients pick (PyPI: `Requires-Dist` with its markers
    /// evaluated for the --python and --platform-tag targets, every common one by default).
    #[arg(long)]
    pub dependencies: bool,
    /// PyPI: only files for this CPython (`3.11`; repeatable): wheels by their tags, any file
    /// by its Requires-Python. Default: every Python.
    #[arg(long = "python", value_name = "MAJOR.MINOR")]
    pub pythons: Vec<String>,
    /// PyPI: only wheels for this platform tag, `*` for any run (`manylinux*_x86_64`,
    /// `win_amd64`; repeatable); pure wheels always. Default: every platform.
    #[arg(long = "platform-tag", value_name = "TAG")]
    pub platform_tags: Vec<String>,
    /// PyPI: leave out source distributions.
    #[arg(long)]
    pub no_sdist: bool,
    /// With --dependencies: follow them to at most this many packages, then stop and fail
    /// naming the first left out (an upstream naming ever new dependencies cannot keep a run
    /// crawling).
    #[arg(long, value_name = "N", default_value_t = mirrorkit_packages::MAX_PACKAGES)]
    pub max_packages: usize,
    /// Include prereleases when a PURL names no version.
    #[arg(long)]
    pub prereleases: bool,
    /// For PURLs without a version: only versions in this range, in the ecosystem's syntax
    /// (npm `^1.2`, cargo `>=1.2, <2`, PyPI `>=1.2,<2`).
    #[arg(long, value_name = "RANGE")]
    pub versions: Option<String>,
    /// For PURLs without a version: only the highest N (after `--versions` and `--since`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub latest: Option<u32>,
    /// For PURLs without a version: only versions published on or after this date
    /// (`2026-01-31`, or an RFC 3339 instant); upstream must say when (npm does; cargo indexes
    /// with `pubtime`; PyPI JSON pages with `upload-time`).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Say what would be mirrored; fetch the metadata, download and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Packages mirrored at once (16: as many connections as npm opens; with 4, a 20 ms round
    /// trip made a cold run of 200 packages 1.8× slower, BENCHMARKS.md). Per-host limits of the
    /// HTTP client still apply.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// The work dir (store and metadata cache).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Certificates for the upstreams: `*.crt` CAs to trust, `NAME.cert` + `NAME.key` a client
    /// certificate.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Plain)]
    pub format: Format,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
