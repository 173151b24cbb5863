//! The distribution family: apt repositories mirrored with everything verified — the suite's
//! `InRelease` (or `Release` + `Release.gpg`) against the keyring, every index against the
//! `Release`, every pool file against its `Packages` entry — kept in a content-addressed pool
//! under the target's `repos.root` and switched into `mirror/<prefix>` atomically.
//!
//! - [`deb822`]: control-file paragraphs, streamed.
//! - [`release`]: a suite's `Release`: dates and the indexes with their digests.
//! - [`packages_index`]: a `Packages` index → the pool files it names.
//! - [`signature`]: the keyring and the signature checks (rpgp, pure Rust).
//! - [`root`]: the repository root: pool, staged trees, the atomic switch.
//! - [`apt`]: one apt mirror, suite by suite.
//! - [`rpm_md`]: rpm-md metadata (`repomd.xml`, `primary.xml`); [`rpm_sig`]: a package's
//!   own signature; [`rpm`]: one rpm mirror.
//! - [`fetch`], [`compressed`]: verified downloads into the pool; compressed indexes read.
//! - [`snapshots`]: immutable snapshots of the mirror trees, and their atomic publication.
//! - [`catalog`]: what the apt repositories of a tree on disk hold (no spec, no network).
//! - [`inventory`]: the snapshots and repositories of a root (`metadata/inventory.json`).
//! - [`cleanup`]: snapshot retention and pool files nothing links to.
//!
//! Built so far: apt and rpm sync into `mirror/<prefix>`, snapshots and their publication,
//! catalogs (apt), the inventory and retention.

// A library reports through `tracing` and its return values; only the binary prints.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod apt;
pub mod btrfs;
pub mod catalog;
pub mod cleanup;
pub mod compressed;
pub mod deb822;
pub mod fetch;
pub mod inventory;
pub mod mirrorlist;
pub mod packages_index;
pub mod release;
pub mod root;
pub mod rpm;
pub mod rpm_md;
pub mod rpm_sig;
pub mod signature;
pub mod snapshots;
pub mod zfs;

use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::family::{Family, RunContext};
use mirrorkit_core::report::{MirrorError, MirrorReport, Status, VersionReport};
use mirrorkit_core::source::distro::DistroSource;
use mirrorkit_core::spec::{Mirror, TargetConfig};
use mirrorkit_core::store::Store;

use crate::fetch::SuiteOutcome;
use crate::root::Root;

/// The distribution family.
pub struct Distro;

impl Family for Distro {
    type Source<'s> = DistroSource<'s>;

    async fn sync(
        &self,
        mirror: &Mirror,
        source: Self::Source<'_>,
        ctx: &RunContext<'_>,
    ) -> MirrorReport {
        let mut report = MirrorReport::for_mirror(mirror);
        report.repository = source.prefix().to_string();
        let stop = |mut report: MirrorReport, message: String, code: ExitCode| {
            report.error = Some(MirrorError::new(message, code));
            report
        };
        let TargetConfig::Repos { root, .. } = &mirror.target else {
            return stop(
                report,
                format!(
                    "target {}: a distribution mirror is kept under `repos.root`",
                    mirror.target
                ),
                ExitCode::Usage,
            );
        };
        if !ctx.options.filter.is_empty() {
            return stop(
                report,
                "--version and --latest do not apply to a distribution mirror: it mirrors what \
                 its repository lists"
                    .to_string(),
                ExitCode::Usage,
            );
        }
        let store = match Store::open(&ctx.options.work_dir) {
            Ok(s) => s,
            Err(e) => return stop(report, e.to_string(), ExitCode::Io),
        };
        if let Err(e) = std::fs::create_dir_all(ctx.cache_dir) {
            return stop(
                report,
                format!("{}: {e}", ctx.cache_dir.display()),
                ExitCode::Io,
            );
        }
        let root = if ctx.options.dry_run {
            Root::existing(root)
        } else {
            match Root::open(root).await {
                Ok(r) => r,
                Err(e) => return stop(report, e, ExitCode::Io),
            }
        };
        let actx = fetch::Context {
            http: ctx.http,
            store: &store,
            cache_dir: ctx.cache_dir,
            dry_run: ctx.options.dry_run,
        };
        let result = match source {
            DistroSource::Apt(apt) => apt::sync(&actx, apt, &root).await,
            DistroSource::Rpm(r) => rpm::sync(&actx, r, &root)
                .await
                .map(|o| vec![("repodata".to_string(), o)]),
        };
        match result {
            Ok(outcomes) => {
                for (suite, outcome) in outcomes {
                    let (status, note) = match outcome {
                        SuiteOutcome::Unchanged => (
                            Status::Skipped,
                            "signed metadata unchanged: the tree is current".to_string(),
                        ),
                        SuiteOutcome::Staged {
                            files,
                            fetched,
                            bytes,
                        } => (
                            Status::Pushed,
                            format!(
                                "{files} pool files, {fetched} downloaded ({})",
                                mirrorkit_core::report::human_bytes(bytes)
                            ),
                        ),
                        SuiteOutcome::Planned { files, missing } => (
                            Status::Planned,
                            format!("{files} pool files, {missing} to download"),
                        ),
                    };
                    let mut v = VersionReport::new(suite, "", status);
                    v.reason = Some(note);
                    report.versions.push(v);
                }
            }
            Err(failures) => {
                for f in failures {
                    let mut v = VersionReport::new(f.what, "", Status::Failed);
                    v.reason = Some(f.reason);
                    if !matches!(f.code, ExitCode::ItemFailed) && report.error.is_none() {
                        report.error = Some(MirrorError::new(
                            v.reason.clone().unwrap_or_default(),
                            f.code,
                        ));
                    }
                    report.versions.push(v);
                }
            }
        }
        report
    }
}
