//! `cascade check|repair`: compare every rolling tag (`latest`, `1`, `1.2`) with the versions
//! published, and repair the ones that drifted.

use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::spec;
use mirrorkit_release::CascadeReport;

use crate::cli::{CascadeAction, CascadeArgs};
use crate::diagnostics;
use crate::output;
use crate::settings::{self, Flags};

output::render_mirror_run!(CascadeReport);

/// `cascade check|repair SPEC`.
pub(crate) async fn run(args: CascadeArgs) -> ExitCode {
    let spec = match spec::load(&args.spec) {
        Ok(s) => s,
        Err(e) => return diagnostics::spec_error(&e),
    };
    let flags = Flags {
        work_dir: args.work_dir.as_deref(),
        ..Flags::default()
    };
    let settings = match settings::for_spec(&spec, &flags) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let report = match mirrorkit_run::cascade(
        &spec,
        &args.only,
        args.action == CascadeAction::Repair,
        &settings,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return output::error(&e),
    };
    output::report(args.format, &report)
}
