//! How errors and progress reach people: spec errors with the offending line shown (miette),
//! a spinner on a terminal only.

use std::io::IsTerminal;

use miette::{LabeledSpan, MietteDiagnostic, NamedSource};
use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::spec::SpecError;

/// Configure miette's renderer once.
pub fn init(color: bool) {
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(color)
                .unicode(color)
                .context_lines(1)
                .build(),
        )
    }));
}

/// Print a spec error (one `error:` line naming file:line:col and the field, then the offending
/// line when known) and return its exit code.
pub fn spec_error(e: &SpecError) -> ExitCode {
    eprintln!("error: {e}");
    if let SpecError::Invalid {
        path,
        line,
        column,
        field,
        ..
    } = e
        && *line > 0
        && let Ok(text) = std::fs::read_to_string(path)
        && let Some(offset) = byte_offset(&text, *line, *column)
    {
        let label = if field.is_empty() {
            "here".to_string()
        } else {
            field.clone()
        };
        let diag = MietteDiagnostic::new("in the spec")
            .with_label(LabeledSpan::at(offset..offset + 1, label));
        let report = miette::Report::new(diag)
            .with_source_code(NamedSource::new(path.display().to_string(), text));
        eprintln!("{report:?}");
    }
    e.exit_code()
}

/// Byte offset of a 1-based line and column (columns count characters).
fn byte_offset(text: &str, line: u64, column: u64) -> Option<usize> {
    let mut offset = 0usize;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i as u64 + 1 == line {
            let col = column.saturating_sub(1) as usize;
            let within = l
                .char_indices()
                .nth(col)
                .map(|(b, _)| b)
                .unwrap_or(l.trim_end().len());
            return Some((offset + within).min(text.len().saturating_sub(1)));
        }
        offset += l.len();
    }
    None
}

/// A spinner on stderr when it is a terminal; nothing when piped.
pub fn spinner(message: &'static str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(message);
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(pb)
}
