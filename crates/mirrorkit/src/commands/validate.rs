//! `validate SPEC`: load the spec offline and say what it holds, or where it is wrong.

use std::path::Path;

use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::spec;

use crate::{diagnostics, output};

/// `validate SPEC`.
pub(crate) fn run(path: &Path) -> ExitCode {
    match spec::load(path) {
        Ok(s) => {
            if let Err(e) = mirrorkit_run::check_inputs(&s) {
                return output::message(&format!("{}: {e}", path.display()), ExitCode::Data);
            }
            output::compat_notice(&s);
            let keys: Vec<&str> = s.mirrors.iter().map(|m| m.key.as_str()).collect();
            output::stdout(&format!(
                "{}: valid ({} mirror(s): {})\n",
                path.display(),
                keys.len(),
                keys.join(", ")
            ))
        }
        Err(e) => diagnostics::spec_error(&e),
    }
}
