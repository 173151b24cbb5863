//! `sync` and `check`: run every selected mirror of a spec through its family
//! ([`mirrorkit_run::sync`]) and print the report.

use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::family::SyncOptions;
use mirrorkit_core::family::VersionFilter;
use mirrorkit_core::report::Report;
use mirrorkit_core::spec;
use mirrorkit_core::work_dir::WorkDirLock;
use mirrorkit_helm::HelmParts;

use crate::cli::SyncArgs;
use crate::diagnostics;
use crate::output;
use crate::settings::{self, Flags};

output::render_mirror_run!(Report);

/// `sync` (or `check` when `force_dry_run`).
pub(crate) async fn run(args: SyncArgs, force_dry_run: bool) -> ExitCode {
    let path = match crate::cli::spec_path(&args.spec) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let spec = match spec::load(&path) {
        Ok(s) => s,
        Err(e) => return diagnostics::spec_error(&e),
    };
    // What the families read besides the spec (PURLs, SBOMs) is refused as `validate` refuses
    // it, before anything runs.
    if let Err(e) = mirrorkit_run::check_inputs(&spec) {
        return output::message(&format!("{}: {e}", path.display()), ExitCode::Data);
    }
    let flags = Flags {
        insecure_registries: &args.insecure_registries,
        work_dir: args.work_dir.as_deref(),
        ..Flags::default()
    };
    let settings = match settings::for_spec(&spec, &flags) {
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
    let parts = HelmParts {
        skip_charts: args.images_only,
        skip_images: args.charts_only,
    };
    let report =
        mirrorkit_run::sync(&spec, &options, &settings, parts, &|e| progress.update(e)).await;
    progress.finish();
    let report = match report {
        Ok(r) => r,
        Err(e) => return output::error(&e),
    };
    output::report(args.format, &report)
}
