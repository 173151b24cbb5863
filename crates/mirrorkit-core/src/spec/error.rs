//! Spec errors: every one names the file, the line and column, and the field.

use std::path::PathBuf;

use crate::exit::{ExitCode, HasExitCode};

/// What went wrong with a spec file.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The spec file does not exist (exit 79).
    #[error("spec file {} not found", path.display())]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The spec file exists but cannot be read (exit 74).
    #[error("cannot read spec file {}: {source}", path.display())]
    Unreadable {
        /// The spec file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The spec is invalid: bad YAML, unknown field, bad value (exit 65).
    #[error("{}", render_invalid(path, *line, *column, field, message))]
    Invalid {
        /// The spec file (or the file it includes).
        path: PathBuf,
        /// 1-based line, 0 when unknown.
        line: u64,
        /// 1-based column, 0 when unknown.
        column: u64,
        /// Dotted path of the field (`mirrors.cmake.assets.linux/amd64[0]`), empty when unknown.
        field: String,
        /// What was wrong and what was expected.
        message: String,
    },
}

fn render_invalid(
    path: &std::path::Path,
    line: u64,
    column: u64,
    field: &str,
    message: &str,
) -> String {
    let mut out = path.display().to_string();
    if line > 0 {
        out.push_str(&format!(":{line}:{column}"));
    }
    out.push_str(": ");
    if !field.is_empty() {
        out.push_str(field);
        out.push_str(": ");
    }
    out.push_str(message);
    out
}

impl HasExitCode for SpecError {
    /// The exit code this error stands for: 79 not found, 74 unreadable, 65 invalid.
    fn exit_code(&self) -> ExitCode {
        match self {
            SpecError::NotFound { .. } => ExitCode::SpecNotFound,
            SpecError::Unreadable { .. } => ExitCode::Io,
            SpecError::Invalid { .. } => ExitCode::Data,
        }
    }
}
