//! The command line, defined once: help text, man page and shell completions are generated from
//! these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// mirrorkit keeps your own verified copy of what you pull from outside: binary releases,
/// images, charts, packages — published to an OCI registry or an OCI image layout.
#[derive(Debug, Parser)]
#[command(name = "mirrorkit", version)]
pub struct Cli {
    /// Log verbosity (logs go to stderr).
    #[arg(long, global = true, value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
    /// When to use colours.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    #[command(subcommand)]
    pub command: Command,
}

/// Log verbosity.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Colour choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// Output format of commands that report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table and a summary line.
    Plain,
    /// The report as JSON (documented in docs/report.md).
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Mirror what the spec selects: discover, plan, download, verify, package, push.
    Sync(SyncArgs),
    /// Show what `sync` would do, without downloading or pushing (= sync --dry-run).
    Check(SyncArgs),
    /// Validate a spec offline: schema, regexes, platforms, repositories.
    Validate {
        /// The spec file.
        spec: PathBuf,
    },
    /// Print a JSON Schema (draft 2020-12) to stdout.
    Schema {
        /// Which schema.
        #[arg(value_enum)]
        target: SchemaTarget,
    },
    /// Copy one image or index (all platforms, digests preserved) between references:
    /// docker://host/repo:tag|@digest, oci:DIR[:tag], oci-archive:FILE[:tag].
    Copy(CopyArgs),
    /// Check the rolling tags (X.Y, X, latest) of every mirror against what is published, or
    /// repair them: each should hold, per platform, the highest published version under it.
    Cascade(CascadeArgs),
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
pub enum SchemaTarget {
    /// The spec file (mirror.yml), both forms.
    Spec,
    /// The url_index source document.
    UrlIndex,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The spec file.
    pub spec: PathBuf,
    /// Only this mirror (repeatable).
    #[arg(long = "only", value_name = "KEY")]
    pub only: Vec<String>,
    /// Only these versions (comma-separated or repeated), as the source names them.
    #[arg(long = "version", value_name = "V", value_delimiter = ',')]
    pub versions: Vec<String>,
    /// Only the highest version, after every other filter.
    #[arg(long)]
    pub latest: bool,
    /// Print the plan and stop: no download, no push.
    #[arg(long)]
    pub dry_run: bool,
    /// Stop at the first failure.
    #[arg(long)]
    pub fail_fast: bool,
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

/// What `cascade` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CascadeAction {
    /// Report drift; exit 1 when any rolling tag is wrong or missing.
    Check,
    /// Push the expected index for every rolling tag that is wrong or missing.
    Repair,
}

#[derive(Debug, Args)]
pub struct CascadeArgs {
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
pub struct CopyArgs {
    /// Source reference.
    pub src: String,
    /// Destination reference.
    pub dst: String,
    /// A registry to talk plain HTTP to (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
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
