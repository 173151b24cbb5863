//! A family of mirrors (releases, images, charts, and next language packages and distribution
//! repositories) and what a run gives each of them.
//!
//! A run (the `mirrorkit-run` crate) selects the mirrors of a spec and hands each one to its
//! family through [`Family::sync`]: discover what upstream has, plan against what the target
//! holds, execute the plan (or stop at the plan for a dry run), and say what happened in a
//! [`MirrorReport`]. A family never prints and never exits: the report carries its outcome and
//! the exit code it stands for.
//!
//! Adding a family: a variant of [`crate::spec::FamilySource`] (and the spec fields it reads), a
//! crate implementing [`Family`] for it, and one arm in `mirrorkit-run`.

use std::path::PathBuf;

use crate::exit::{ExitCode, HasExitCode};
use crate::http::HttpClient;
use crate::http::credentials::Credentials;
use crate::report::{MirrorReport, Status};
use crate::spec::{Mirror, Spec};

/// What the command line asks of a run.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// Only the mirrors with these keys (`--only`); empty = all.
    pub only: Vec<String>,
    /// Version filters (`--version`, `--latest`).
    pub filter: VersionFilter,
    /// Plan only (`check`, `--dry-run`).
    pub dry_run: bool,
    /// Stop at the first failure.
    pub fail_fast: bool,
    /// Versions prepared at once.
    pub concurrency: usize,
    /// Work directory (store, task files, caches).
    pub work_dir: PathBuf,
}

/// What a family tells a progress display while it runs.
#[derive(Clone, Debug)]
pub enum Progress<'a> {
    /// A mirror has been planned: `to_mirror` versions will be downloaded and pushed.
    MirrorPlanned {
        /// The mirror's key in the spec.
        key: &'a str,
        /// How many versions will be mirrored.
        to_mirror: usize,
    },
    /// A version reached its final status.
    VersionDone {
        /// The mirror's key in the spec.
        key: &'a str,
        /// The version.
        version: &'a str,
        /// Its final status.
        status: Status,
    },
}

/// What every family of one run shares: settings decided once, and where progress goes.
pub struct RunContext<'a> {
    /// The shared client: one connection pool and one set of per-host limits for the run.
    pub http: &'a HttpClient,
    /// Registry credentials.
    pub credentials: &'a Credentials,
    /// Registries spoken to over plain HTTP.
    pub insecure_hosts: &'a [String],
    /// The command line's options.
    pub options: &'a SyncOptions,
    /// Where documents are kept with their `ETag` between runs (`<work dir>/cache`).
    pub cache_dir: &'a std::path::Path,
    /// Progress events (a display; nothing when not on a terminal).
    pub progress: &'a (dyn Fn(Progress<'_>) + Sync),
}

/// One family of mirrors.
#[allow(async_fn_in_trait)]
pub trait Family {
    /// The family's part of a mirror's spec (its source settings), as
    /// [`crate::spec::SourceConfig::family`] hands it out.
    type Source<'s>;

    /// Discover → plan → execute → report, for one mirror of this family. A dry run stops at
    /// the plan. Never panics on upstream data; failures are in the report.
    async fn sync(
        &self,
        mirror: &Mirror,
        source: Self::Source<'_>,
        ctx: &RunContext<'_>,
    ) -> MirrorReport;
}

/// Which versions the command line asks for.
#[derive(Clone, Debug, Default)]
pub struct VersionFilter {
    /// Only these versions (`--version`); empty = all.
    pub versions: Vec<String>,
    /// Only the highest version left after every other filter (`--latest`).
    pub latest: bool,
}

impl VersionFilter {
    /// Whether neither `--version` nor `--latest` was given.
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty() && !self.latest
    }

    /// Narrow the versions (or tags) of an image or chart mirror, sorted lowest first, as
    /// `--version` and `--latest` ask: only those named; of those left, the highest stable
    /// version (else the highest version, else the last).
    pub fn narrow(&self, mut sorted: Vec<String>) -> Vec<String> {
        if !self.versions.is_empty() {
            sorted.retain(|v| self.versions.contains(v));
        }
        if self.latest {
            let semver = |t: &String| crate::source::images::tag_semver(t);
            let keep = sorted
                .iter()
                .rposition(|t| semver(t).is_some_and(|v| v.pre.is_empty()))
                .or_else(|| sorted.iter().rposition(|t| semver(t).is_some()))
                .or(sorted.len().checked_sub(1));
            sorted = keep
                .map(|i| vec![sorted.swap_remove(i)])
                .unwrap_or_default();
        }
        sorted
    }
}

/// A failure that stops the whole run before any mirror starts.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `--only` names a mirror the spec does not have.
    #[error("--only {key}: no such mirror in the spec (mirrors: {known})")]
    UnknownMirror {
        /// The key given.
        key: String,
        /// The spec's mirror keys, comma-separated.
        known: String,
    },
    /// The work directory cannot be used.
    #[error("work directory {}: {reason}", path.display())]
    WorkDir {
        /// The work directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl HasExitCode for RunError {
    /// The exit code it stands for.
    fn exit_code(&self) -> ExitCode {
        match self {
            RunError::UnknownMirror { .. } => ExitCode::Usage,
            RunError::WorkDir { .. } => ExitCode::Io,
        }
    }
}

/// Refuse `--only` keys the spec does not have.
pub fn check_only(spec: &Spec, only: &[String]) -> Result<(), RunError> {
    for key in only {
        if !spec.mirrors.iter().any(|m| &m.key == key) {
            return Err(RunError::UnknownMirror {
                key: key.clone(),
                known: spec
                    .mirrors
                    .iter()
                    .map(|m| m.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(())
}
