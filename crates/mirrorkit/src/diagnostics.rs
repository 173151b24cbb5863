//! How errors and progress reach people: spec errors with the offending line shown (miette),
//! a spinner on a terminal only.

use std::io::IsTerminal;

use miette::{LabeledSpan, MietteDiagnostic, NamedSource};
use mirrorkit_core::exit::{ExitCode, HasExitCode};
use mirrorkit_core::spec::SpecError;

/// Configure miette's renderer once.
pub(crate) fn init(color: bool) {
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
pub(crate) fn spec_error(e: &SpecError) -> ExitCode {
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

/// Progress of a sync on stderr: a spinner while planning, then a bar per mirror counting the
/// versions it mirrors. Nothing at all when stderr is not a terminal.
pub(crate) struct SyncProgress {
    bars: Option<indicatif::MultiProgress>,
    current: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl SyncProgress {
    /// Start showing progress (if stderr is a terminal).
    pub(crate) fn new(dry_run: bool) -> SyncProgress {
        let bars = std::io::stderr()
            .is_terminal()
            .then(indicatif::MultiProgress::new);
        let current = bars.as_ref().map(|m| {
            let pb = m.add(indicatif::ProgressBar::new_spinner());
            pb.set_message(if dry_run { "planning" } else { "discovering" });
            pb.enable_steady_tick(std::time::Duration::from_millis(120));
            pb
        });
        SyncProgress {
            bars,
            current: std::sync::Mutex::new(current),
        }
    }

    /// Apply one engine event.
    pub(crate) fn update(&self, event: mirrorkit_core::family::Progress<'_>) {
        use mirrorkit_core::family::Progress;
        let Some(bars) = &self.bars else { return };
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match event {
            Progress::MirrorPlanned { key, to_mirror } => {
                if let Some(old) = current.take() {
                    old.finish_and_clear();
                }
                let pb = bars.add(indicatif::ProgressBar::new(to_mirror as u64));
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{spinner} {msg:20} [{bar:30}] {pos}/{len} versions ({elapsed})",
                ) {
                    pb.set_style(style.progress_chars("=> "));
                }
                pb.set_message(key.to_string());
                pb.enable_steady_tick(std::time::Duration::from_millis(120));
                *current = Some(pb);
            }
            Progress::VersionDone { .. } => {
                if let Some(pb) = current.as_ref() {
                    pb.inc(1);
                }
            }
        }
    }

    /// Clear whatever is still shown.
    pub(crate) fn finish(&self) {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(pb) = current.take() {
            pb.finish_and_clear();
        }
    }
}
