//! `sync` and `check`: run every selected mirror of a spec through its family and print the
//! report.

use mirrorkit_core::engine::{self, SyncOptions};
use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::plan::VersionFilter;
use mirrorkit_core::report::{MirrorError, MirrorReport, Report};
use mirrorkit_core::spec;
use mirrorkit_core::work_dir::WorkDirLock;

use crate::cli::SyncArgs;
use crate::diagnostics;
use crate::output::{self, Render};
use crate::settings::{Flags, Settings};

impl Render for Report {
    fn to_plain(&self) -> String {
        Report::to_plain(self)
    }
    fn exit_code(&self) -> ExitCode {
        HasExitCode::exit_code(self)
    }
}

/// `sync` (or `check` when `force_dry_run`).
pub(crate) async fn run(args: SyncArgs, force_dry_run: bool) -> ExitCode {
    let spec = match spec::load(&args.spec) {
        Ok(s) => s,
        Err(e) => return diagnostics::spec_error(&e),
    };
    let flags = Flags {
        insecure_registries: &args.insecure_registries,
        work_dir: args.work_dir.as_deref(),
    };
    let settings = match Settings::for_spec(&spec, &flags) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let dry_run = force_dry_run || args.dry_run;
    // One run at a time per work dir (a dry run downloads nothing and needs no lock).
    let _work_dir_lock = if dry_run {
        None
    } else {
        let work_dir = &settings.work_dir;
        match WorkDirLock::acquire(work_dir, !args.no_wait, |holder| {
            eprintln!(
                "waiting: the work dir {} is in use by {holder} (--no-wait to exit instead)",
                work_dir.display()
            )
        })
        .await
        {
            Ok(lock) => Some(lock),
            Err(e) => return output::error(&e),
        }
    };
    let options = SyncOptions {
        only: args.only.clone(),
        filter: VersionFilter {
            versions: args.versions.clone(),
            latest: args.latest,
        },
        dry_run,
        fail_fast: args.fail_fast,
        concurrency: usize::from(args.concurrency),
        work_dir: settings.work_dir.clone(),
    };
    let progress = diagnostics::SyncProgress::new(options.dry_run);
    let known_blobs = mirrorkit_oci::images::KnownBlobs::default();
    let cli_filter = options.filter.clone();
    let cache_dir = options.work_dir.join("cache");
    let ctx = mirrorkit_oci::images::SyncContext {
        http: &settings.http,
        credentials: &settings.credentials,
        insecure_hosts: &settings.insecure_hosts,
        dry_run: options.dry_run,
        fail_fast: options.fail_fast,
        known_blobs: &known_blobs,
        filter: &cli_filter,
        cache_dir: Some(&cache_dir),
    };
    let parts = mirrorkit_oci::helm::HelmParts {
        skip_charts: args.images_only,
        skip_images: args.charts_only,
    };
    let copy_mirror = async |m: &spec::Mirror| match &m.source {
        spec::SourceConfig::Oci(src) => mirrorkit_oci::images::sync_oci_mirror(m, src, &ctx).await,
        spec::SourceConfig::Helm(src) => {
            mirrorkit_oci::helm::sync_helm_mirror(m, src, parts, &ctx).await
        }
        // The engine builds release mirrors itself and never hands them here.
        _ => MirrorReport {
            error: Some(MirrorError::new(
                "internal: a release mirror reached the image copier",
                ExitCode::ItemFailed,
            )),
            ..MirrorReport::for_mirror(m)
        },
    };
    let report = engine::sync(
        &spec,
        &options,
        &settings.http,
        |t| settings.open(t),
        &|e| progress.update(e),
        copy_mirror,
    )
    .await;
    progress.finish();
    let report = match report {
        Ok(r) => r,
        Err(e) => return output::error(&e),
    };
    output::mirror_errors(
        report
            .mirrors
            .iter()
            .map(|m| (m.key.as_str(), m.error.as_ref())),
    );
    output::report(args.format, &report)
}
