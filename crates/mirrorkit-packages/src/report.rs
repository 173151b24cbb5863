//! What a `mirror` run did, per package and version: the report printed as plain text or JSON
//! (`mirrorkit schema packages-report`).

use std::path::PathBuf;

use mirrorkit_core::exit::{ExitCode, HasExitCode};
use serde::Serialize;

use crate::purl::Ecosystem;

/// What happened to a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// Fetched, verified and published in this run.
    Published,
    /// Already published with every file in place; nothing fetched.
    Unchanged,
    /// Would be fetched and published (`--dry-run`).
    Planned,
    /// Not published: see `error`.
    Failed,
}

/// One version of a package.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct VersionReport {
    /// The version.
    pub version: String,
    /// What happened.
    pub status: VersionStatus,
    /// Files of the version (tarballs, wheels, crates).
    pub files: usize,
    /// Bytes of its files placed in the tree in this run (downloaded, or taken from the store
    /// when an earlier run had verified them).
    pub bytes: u64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One package.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PackageReport {
    /// `npm`, `pypi`, `cargo` or `generic`.
    #[schemars(with = "String")]
    pub ecosystem: Ecosystem,
    /// The name as the registry spells it.
    pub name: String,
    /// The upstream metadata document (credentials removed).
    pub upstream: String,
    /// Versions selected.
    pub versions: Vec<VersionReport>,
    /// Why the package as a whole failed (its metadata could not be read, say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The exit code this package's failure stands for (0 when it did not fail).
    #[serde(skip)]
    pub failure: Option<ExitCode>,
}

impl PackageReport {
    /// Whether the package or any of its versions failed.
    pub fn failed(&self) -> bool {
        self.error.is_some()
            || self
                .versions
                .iter()
                .any(|v| v.status == VersionStatus::Failed)
    }
}

/// Counts over the run.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Summary {
    /// Packages mirrored.
    pub packages: usize,
    /// Versions published in this run.
    pub published: usize,
    /// Versions already published.
    pub unchanged: usize,
    /// Versions planned (dry run).
    pub planned: usize,
    /// Versions (or whole packages) that failed.
    pub failed: usize,
    /// Bytes of files placed in the tree.
    pub bytes: u64,
}

/// A `mirror` run.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PackagesReport {
    /// Nothing was fetched or written.
    pub dry_run: bool,
    /// Wall-clock time of the run.
    pub duration_ms: u64,
    /// The published tree.
    pub output: PathBuf,
    /// SBOM subjects (the projects the SBOMs describe), reported and not mirrored.
    pub skipped_subjects: Vec<String>,
    /// Every package, sorted by ecosystem and name.
    pub packages: Vec<PackageReport>,
    /// Counts.
    pub summary: Summary,
    /// The exit code of the run.
    pub exit_code: ExitCode,
}

impl PackagesReport {
    /// Fill in the summary and the exit code from the packages: 0 when nothing failed; when
    /// every package failed for one reason that is not the items' own (upstream unreachable,
    /// credentials refused), that reason's code; otherwise 1.
    pub fn finish(&mut self) {
        let mut s = Summary {
            packages: self.packages.len(),
            ..Summary::default()
        };
        for p in &self.packages {
            if p.error.is_some() {
                s.failed += 1;
            }
            for v in &p.versions {
                s.bytes += v.bytes;
                match v.status {
                    VersionStatus::Published => s.published += 1,
                    VersionStatus::Unchanged => s.unchanged += 1,
                    VersionStatus::Planned => s.planned += 1,
                    VersionStatus::Failed => s.failed += 1,
                }
            }
        }
        let failures: Vec<Option<ExitCode>> = self
            .packages
            .iter()
            .filter(|p| p.failed())
            .map(|p| p.failure)
            .collect();
        self.exit_code = if failures.is_empty() {
            ExitCode::Success
        } else if failures.len() == self.packages.len()
            && let Some(Some(first)) = failures.first()
            && failures.iter().all(|f| f == &Some(*first))
        {
            *first
        } else {
            ExitCode::ItemFailed
        };
        self.summary = s;
    }
}

impl HasExitCode for PackagesReport {
    fn exit_code(&self) -> ExitCode {
        self.exit_code
    }
}
