//! `repo snapshot|publish-snapshot SPEC`: the stages after `sync` for a spec's apt mirrors,
//! per repository root (most specs have one).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::spec::{self, FamilySource, TargetConfig};
use mirrorkit_distro::root::Root;
use mirrorkit_distro::snapshots;

use crate::cli::RepoCommand;
use crate::{diagnostics, output};

/// The spec's repository roots and the prefixes of the apt mirrors kept under each.
fn roots(path: &Path) -> Result<BTreeMap<PathBuf, Vec<String>>, ExitCode> {
    let spec = spec::load(path).map_err(|e| diagnostics::spec_error(&e))?;
    let mut roots: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for m in &spec.mirrors {
        if let (FamilySource::Apt(source), TargetConfig::Repos { root }) =
            (m.source.family(), &m.target)
        {
            roots
                .entry(root.clone())
                .or_default()
                .push(source.prefix.clone());
        }
    }
    if roots.is_empty() {
        return Err(output::message(
            &format!("{}: no apt mirror (type: apt) to work on", path.display()),
            ExitCode::Usage,
        ));
    }
    Ok(roots)
}

/// `repo …`.
pub(crate) async fn run(cmd: RepoCommand) -> ExitCode {
    match run_inner(cmd).await {
        Ok(()) => ExitCode::Success,
        Err(code) => code,
    }
}

async fn run_inner(cmd: RepoCommand) -> Result<(), ExitCode> {
    let fail = |e: String| output::message(&e, ExitCode::Io);
    match cmd {
        RepoCommand::Snapshot { spec } => {
            for (dir, prefixes) in roots(&spec)? {
                let root = Root::open(&dir).await.map_err(fail)?;
                let name = snapshots::take(&root, &prefixes)
                    .map_err(|e: String| output::message(&e, ExitCode::ItemFailed))?;
                output::stdout(&format!(
                    "snapshot {name} of {} in {}\n",
                    prefixes.join(", "),
                    dir.display()
                ));
            }
        }
        RepoCommand::PublishSnapshot {
            spec,
            snapshot,
            all,
        } => {
            for (dir, prefixes) in roots(&spec)? {
                let root = Root::open(&dir).await.map_err(fail)?;
                let name = match snapshot.clone().or_else(|| snapshots::current(&dir)) {
                    Some(n) => n,
                    None => {
                        return Err(output::message(
                            &format!(
                                "{}: no current snapshot (run `repo snapshot` first, or give \
                                 --snapshot NAME)",
                                dir.display()
                            ),
                            ExitCode::Usage,
                        ));
                    }
                };
                snapshots::publish(&root, &name, &prefixes, all)
                    .map_err(|e: String| output::message(&e, ExitCode::Usage))?;
                output::stdout(&format!(
                    "published {name} at {}\n",
                    dir.join("public").display()
                ));
            }
        }
    }
    Ok(())
}
