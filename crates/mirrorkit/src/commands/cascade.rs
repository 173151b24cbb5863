//! `cascade check|repair`: compare every rolling tag (`latest`, `1`, `1.2`) with the versions
//! published, and repair the ones that drifted.

use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::report::MirrorError;
use mirrorkit_core::spec;
use mirrorkit_release::CascadeReport;

use crate::cli::{CascadeAction, CascadeArgs};
use crate::diagnostics;
use crate::output::{self, Render};
use crate::settings::{self, Flags};

impl Render for CascadeReport {
    fn to_plain(&self) -> String {
        CascadeReport::to_plain(self)
    }
    fn exit_code(&self) -> ExitCode {
        HasExitCode::exit_code(self)
    }
    fn mirror_errors(&self) -> Vec<(&str, &MirrorError)> {
        self.mirrors
            .iter()
            .filter_map(|m| Some((m.key.as_str(), m.error.as_ref()?)))
            .collect()
    }
}

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
