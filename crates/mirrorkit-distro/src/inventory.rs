//! `metadata/inventory.json`: what a repository root holds — its snapshots (which is current,
//! which is published, each prefix's size) and the repositories mirrored into it. Together with
//! `metadata/snapshots/<name>/repo_catalog.json` it is the stable HTTP metadata contract; both
//! live outside the published tree (`mirrorkit schema inventory`, `schema catalog`).

use std::path::Path;

use mirrorkit_core::http::redact::SafeUrl;
use mirrorkit_core::source::distro::DistroSource;
use schemars::JsonSchema;
use serde::Serialize;

use crate::snapshots;

/// The inventory of a root.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Inventory {
    /// When it was made (RFC 3339, UTC).
    pub generated_at: String,
    /// The snapshot `state/current_snapshot.txt` names.
    pub current_snapshot: Option<String>,
    /// The snapshot `public/` serves.
    pub published_snapshot: Option<String>,
    /// Every snapshot, oldest first.
    pub snapshots: Vec<Snapshot>,
    /// The repositories mirrored into the root.
    pub repositories: Vec<Repository>,
}

/// One snapshot.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Snapshot {
    /// Its name (`YYYYMMDD-HHMMSS`, UTC).
    pub name: String,
    /// Whether it is the current one.
    pub current: bool,
    /// Whether `public/` serves it.
    pub published: bool,
    /// What it holds per prefix.
    pub prefixes: Vec<PrefixSize>,
}

/// The files of one prefix in a snapshot.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PrefixSize {
    /// The prefix.
    pub prefix: String,
    /// Files.
    pub files: u64,
    /// Their size in bytes (each file counted once per snapshot, though shared by links).
    pub bytes: u64,
}

/// One mirrored repository.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Repository {
    /// Its prefix under the root.
    pub prefix: String,
    /// `apt` or `rpm`.
    pub format: String,
    /// Its upstream (credentials masked).
    pub url: String,
    /// Suites (apt).
    pub suites: Vec<String>,
    /// Components (apt).
    pub components: Vec<String>,
    /// Architectures (apt).
    pub architectures: Vec<String>,
    /// Whether a sync has produced its tree.
    pub mirrored: bool,
}

fn count(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            let (f, b) = count(&e.path());
            files += f;
            bytes += b;
        } else if kind.is_file() {
            files += 1;
            bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    (files, bytes)
}

/// The inventory of `root`, whose repositories are `sources`.
pub fn build(root: &Path, sources: &[DistroSource<'_>]) -> Inventory {
    let current = snapshots::current(root);
    let published = snapshots::published(root);
    let snapshots = snapshots::list(root)
        .into_iter()
        .map(|name| {
            let dir = root.join("snapshots").join(&name);
            let prefixes = sources
                .iter()
                .filter(|s| dir.join(s.prefix()).is_dir())
                .map(|s| {
                    let (files, bytes) = count(&dir.join(s.prefix()));
                    PrefixSize {
                        prefix: s.prefix().to_string(),
                        files,
                        bytes,
                    }
                })
                .collect();
            Snapshot {
                current: current.as_deref() == Some(name.as_str()),
                published: published.as_deref() == Some(name.as_str()),
                name,
                prefixes,
            }
        })
        .collect();
    let repositories = sources
        .iter()
        .map(|s| {
            let (suites, components, architectures) = match s {
                DistroSource::Apt(a) => (
                    a.suites.clone(),
                    a.components.clone(),
                    a.architectures.clone(),
                ),
                DistroSource::Rpm(_) => (Vec::new(), Vec::new(), Vec::new()),
            };
            Repository {
                prefix: s.prefix().to_string(),
                format: s.format().to_string(),
                url: SafeUrl::new(s.url()).to_string(),
                suites,
                components,
                architectures,
                mirrored: root.join("mirror").join(s.prefix()).exists(),
            }
        })
        .collect();
    Inventory {
        generated_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        current_snapshot: current,
        published_snapshot: published,
        snapshots,
        repositories,
    }
}

/// Write `value` as pretty JSON at `path`, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    snapshots::write_atomically(path, &(text + "\n"))
}
