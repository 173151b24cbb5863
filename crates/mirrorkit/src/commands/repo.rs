//! `repo snapshot|publish-snapshot|publish-inventory|publish-catalog|cleanup-state SPEC`: the
//! stages after `sync` for a spec's apt mirrors, per repository root (most specs have one); and
//! `repo catalog --root-dir DIR`, which needs no spec.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mirrorkit_core::exit::ExitCode;
use mirrorkit_core::source::distro::DistroSource;
use mirrorkit_core::spec::{self, FamilySource, Spec, TargetConfig};
use mirrorkit_distro::cleanup::{self, Retention};
use mirrorkit_distro::root::Root;
use mirrorkit_distro::snapshots::Backend;
use mirrorkit_distro::{catalog, inventory, snapshots};

use crate::cli::{CatalogFormat, RepoCommand};
use crate::{diagnostics, output};

/// One repository root of a spec: its retention and the distribution mirrors kept under it.
#[derive(Default)]
struct RootOf<'s> {
    retention: Retention,
    backend: Backend,
    sources: Vec<DistroSource<'s>>,
}

impl RootOf<'_> {
    fn prefixes(&self) -> Vec<String> {
        self.sources
            .iter()
            .map(|s| s.prefix().to_string())
            .collect()
    }
}

/// Load the spec at `path`.
fn load(path: &Path) -> Result<Spec, ExitCode> {
    spec::load(path).map_err(|e| diagnostics::spec_error(&e))
}

/// The spec's repository roots.
fn roots<'s>(spec: &'s Spec, path: &Path) -> Result<BTreeMap<PathBuf, RootOf<'s>>, ExitCode> {
    let mut roots: BTreeMap<PathBuf, RootOf<'s>> = BTreeMap::new();
    for m in &spec.mirrors {
        if let (
            FamilySource::Distro(source),
            TargetConfig::Repos {
                root,
                keep,
                keep_days,
                zfs_dataset,
            },
        ) = (m.source.family(), &m.target)
        {
            let r = roots.entry(root.clone()).or_default();
            r.retention = Retention {
                keep: *keep,
                keep_days: *keep_days,
            };
            r.backend = Backend::for_root(root, zfs_dataset.as_deref());
            r.sources.push(source);
        }
    }

    if roots.is_empty() {
        return Err(output::message(
            &format!(
                "{}: no distribution mirror (type: apt or rpm) to work on",
                path.display()
            ),
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
        RepoCommand::Snapshot { spec: path } => {
            let path = crate::cli::spec_path(&path)?;
            let spec = load(&path)?;
            for (dir, of) in roots(&spec, &path)? {
                let prefixes = of.prefixes();
                let root = Root::open(&dir).await.map_err(fail)?;
                let name = snapshots::take(&root, &prefixes, &of.backend)
                    .map_err(|e: String| output::message(&e, ExitCode::ItemFailed))?;
                output::stdout(&format!(
                    "snapshot {name} of {} in {}\n",
                    prefixes.join(", "),
                    dir.display()
                ));
            }
        }
        RepoCommand::PublishSnapshot {
            spec: path,
            snapshot,
            all,
        } => {
            let path = crate::cli::spec_path(&path)?;
            let spec = load(&path)?;
            for (dir, of) in roots(&spec, &path)? {
                let prefixes = of.prefixes();
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
        RepoCommand::PublishInventory { spec: path } => {
            let path = crate::cli::spec_path(&path)?;
            let spec = load(&path)?;
            for (dir, of) in roots(&spec, &path)? {
                let doc = inventory::build(&dir, &of.sources);
                let path = dir.join("metadata/inventory.json");
                inventory::write_json(&path, &doc).map_err(fail)?;
                output::stdout(&format!(
                    "{}: {} snapshot(s), {} repositor(y/ies)\n",
                    path.display(),
                    doc.snapshots.len(),
                    doc.repositories.len()
                ));
            }
        }
        RepoCommand::PublishCatalog {
            spec: path,
            snapshot,
            rebuild,
        } => {
            let path = crate::cli::spec_path(&path)?;
            let spec = load(&path)?;
            for (dir, _) in roots(&spec, &path)? {
                let names = if rebuild {
                    snapshots::list(&dir)
                } else {
                    match snapshot.clone().or_else(|| snapshots::current(&dir)) {
                        Some(n) => vec![n],
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
                    }
                };
                for name in names {
                    let tree = dir.join("snapshots").join(&name);
                    if !snapshots::is_snapshot_name(&name) || !tree.is_dir() {
                        return Err(output::message(
                            &format!("{}: no such snapshot", tree.display()),
                            ExitCode::Usage,
                        ));
                    }
                    let doc = catalog::build(&tree, &["apt", "rpm"])
                        .map_err(|e: String| output::message(&e, ExitCode::Data))?;
                    let path = dir
                        .join("metadata/snapshots")
                        .join(&name)
                        .join("repo_catalog.json");
                    inventory::write_json(&path, &doc).map_err(fail)?;
                    output::stdout(&format!(
                        "{}: {} repositor(y/ies), {} package(s)\n",
                        path.display(),
                        doc.summary.repositories,
                        doc.summary.packages
                    ));
                }
            }
        }
        RepoCommand::CleanupState { spec: path } => {
            let path = crate::cli::spec_path(&path)?;
            let spec = load(&path)?;
            for (dir, of) in roots(&spec, &path)? {
                let root = Root::open(&dir).await.map_err(fail)?;
                let cleaned = cleanup::run(&root, of.retention, &of.backend).map_err(fail)?;
                output::stdout(&format!(
                    "{}: removed {} snapshot(s){}; {} pool file(s) nothing links to ({})\n",
                    dir.display(),
                    cleaned.snapshots.len(),
                    if cleaned.snapshots.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", cleaned.snapshots.join(", "))
                    },
                    cleaned.pool_files,
                    mirrorkit_core::report::human_bytes(cleaned.bytes)
                ));
            }
        }
        RepoCommand::Catalog {
            root_dir,
            output: out_path,
            formats,
            summary_json,
        } => {
            let mut wanted: Vec<&str> = formats
                .iter()
                .map(|f| match f {
                    CatalogFormat::Apt => "apt",
                    CatalogFormat::Rpm => "rpm",
                })
                .collect();
            if wanted.is_empty() {
                wanted = vec!["apt", "rpm"];
            }
            let doc = catalog::build(&root_dir, &wanted)
                .map_err(|e: String| output::message(&e, ExitCode::Data))?;
            match &out_path {
                Some(path) => inventory::write_json(path, &doc).map_err(fail)?,
                None if !summary_json => {
                    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
                    output::stdout(&(text + "\n"));
                }
                None => {}
            }
            if summary_json {
                let text = serde_json::to_string(&doc.summary).unwrap_or_default();
                output::stdout(&(text + "\n"));
            }
        }
    }
    Ok(())
}
