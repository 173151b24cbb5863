//! How every command's result reaches people: its report rendered as a table or as JSON the
//! same way for every command, and errors printed in one place with the exit code they stand
//! for.

use std::io::Write as _;

use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::report::MirrorError;

use crate::cli::Format;

/// A command's report: a table for people, JSON for programs, and the exit code it stands for.
pub(crate) trait Render: serde::Serialize {
    /// The plain-text form.
    fn to_plain(&self) -> String;
    /// The exit code of the command, from what the report says.
    fn exit_code(&self) -> ExitCode;
    /// The errors that stopped single mirrors, by mirror key (none for reports without mirrors).
    fn mirror_errors(&self) -> Vec<(&str, &MirrorError)> {
        Vec::new()
    }
}

/// [`Render`] for the report of a run over mirrors (`sync`, `cascade`): the report's own
/// `to_plain()` and exit code, and the errors of its `mirrors` (each has a `key` and an `error`).
macro_rules! render_mirror_run {
    ($report:ty) => {
        impl $crate::output::Render for $report {
            fn to_plain(&self) -> String {
                <$report>::to_plain(self)
            }
            fn exit_code(&self) -> mirrorkit_core::exit::ExitCode {
                mirrorkit_core::exit::HasExitCode::exit_code(self)
            }
            fn mirror_errors(&self) -> Vec<(&str, &mirrorkit_core::report::MirrorError)> {
                self.mirrors
                    .iter()
                    .filter_map(|m| Some((m.key.as_str(), m.error.as_ref()?)))
                    .collect()
            }
        }
    };
}
pub(crate) use render_mirror_run;

/// Print `report` in `format` (and first, on stderr, the errors that stopped single mirrors:
/// the report lists them too); the command's exit code unless stdout cannot be written.
pub(crate) fn report(format: Format, report: &impl Render) -> ExitCode {
    for (key, e) in report.mirror_errors() {
        eprintln!("error: mirror {key}: {}", e.message);
    }
    let out = match format {
        Format::Plain => report.to_plain(),
        Format::Json => match serde_json::to_string_pretty(report) {
            Ok(s) => s + "\n",
            Err(e) => return message(&format!("cannot render the report: {e}"), ExitCode::Io),
        },
    };
    match stdout(&out) {
        ExitCode::Success => report.exit_code(),
        other => other,
    }
}

/// Print `error` and return the exit code it stands for.
pub(crate) fn error<E: std::fmt::Display + HasExitCode>(error: &E) -> ExitCode {
    message(&error.to_string(), error.exit_code())
}

/// Print an error message and return `code`.
pub(crate) fn message(text: &str, code: ExitCode) -> ExitCode {
    eprintln!("error: {text}");
    code
}

/// One `info` line naming the fields the spec sets that are accepted only so that ocx-mirror
/// specs load unchanged (README, "Accepted and not used"); nothing when there are none.
pub(crate) fn compat_notice(spec: &mirrorkit_core::spec::Spec) {
    let fields = spec.compat_only();
    if !fields.is_empty() {
        eprintln!(
            "info: {}: accepted for ocx-mirror compatibility and not used: {}",
            spec.path.display(),
            fields.join(", ")
        );
    }
}

/// Write to stdout; a closed pipe (`| head`) is a normal end, not an error.
pub(crate) fn stdout(s: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::Success,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::Success,
        Err(e) => message(&format!("cannot write to stdout: {e}"), ExitCode::Io),
    }
}
