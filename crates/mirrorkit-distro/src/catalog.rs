//! A catalog of the repositories in a tree on disk (`repo catalog --root-dir DIR`, and
//! `metadata/snapshots/<name>/repo_catalog.json`): per apt suite its dates, the key that
//! signed it, and every package with name, version, architecture, size, SHA-256 and path. It
//! needs no spec and no network: it reads what is there.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Serialize;

use crate::packages_index;
use crate::release::Release;

/// The catalog of one tree (`mirrorkit schema catalog`).
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Catalog {
    /// When it was made (RFC 3339, UTC).
    pub generated_at: String,
    /// The tree it describes.
    pub root: String,
    /// Every repository found, by path.
    pub repositories: Vec<Repository>,
    /// Counts.
    pub summary: Summary,
}

/// Counts over a catalog (`--summary-json` prints this).
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Summary {
    /// Repositories (apt suites).
    pub repositories: usize,
    /// Package entries.
    pub packages: usize,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// One apt suite.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Repository {
    /// `apt`.
    pub format: String,
    /// The directory holding `dists/`, relative to the root (`debian`; empty for the root).
    pub path: String,
    /// The suite's directory under `dists/`.
    pub suite: String,
    /// `Codename`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codename: Option<String>,
    /// `Date` (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// `Valid-Until` (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// The key fingerprints (or key ids) the signatures name (read, not checked here: `sync`
    /// checked them against the keyring).
    pub signed_by: Vec<String>,
    /// Every component × architecture index and its packages.
    pub indexes: Vec<Index>,
    /// Package entries over every index.
    pub packages: usize,
}

/// One `Packages` index.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Index {
    /// The component.
    pub component: String,
    /// The architecture.
    pub architecture: String,
    /// Its packages.
    pub packages: Vec<Package>,
}

/// One package entry.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Package {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its architecture.
    pub architecture: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: String,
    /// Its path under the repository (`pool/…`).
    pub path: String,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Every `dists/<suite>` directory under `root` (following links, at most `depth` levels).
fn suites(
    root: &Path,
    dir: &Path,
    depth: usize,
    seen: &mut BTreeSet<PathBuf>,
    out: &mut Vec<(PathBuf, String)>,
) {
    let Ok(real) = std::fs::canonicalize(dir) else {
        return;
    };
    if depth == 0 || !seen.insert(real) {
        return;
    }
    let dists = dir.join("dists");
    if dists.is_dir() {
        let rel = dir
            .strip_prefix(root)
            .unwrap_or(Path::new(""))
            .to_path_buf();
        let mut names: Vec<String> = std::fs::read_dir(&dists)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("InRelease").is_file() || e.path().join("Release").is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        out.extend(names.into_iter().map(|n| (rel.clone(), n)));
        return;
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    entries.sort();
    for e in entries {
        suites(root, &e, depth - 1, seen, out);
    }
}

/// The release of a suite directory: from `InRelease` (signers named) or `Release`.
fn release_of(suite_dir: &Path) -> Result<(Release, Vec<String>), String> {
    let inrelease = suite_dir.join("InRelease");
    let (text, signers) = if inrelease.is_file() {
        let bytes =
            std::fs::read(&inrelease).map_err(|e| format!("{}: {e}", inrelease.display()))?;
        crate::signature::read_clearsigned(&bytes)
            .map_err(|e| format!("{}: {e}", inrelease.display()))?
    } else {
        let release = suite_dir.join("Release");
        let text =
            std::fs::read_to_string(&release).map_err(|e| format!("{}: {e}", release.display()))?;
        (text, Vec::new())
    };
    let release = Release::parse(&text).map_err(|e| format!("{}: {e}", suite_dir.display()))?;
    Ok((release, signers))
}

/// Read one index file (plain, `.gz` or `.xz`).
fn read_index(path: &Path) -> Result<Vec<packages_index::PoolFile>, String> {
    crate::compressed::open(path, &path.to_string_lossy())
        .and_then(packages_index::read)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The catalog of every apt repository under `root`.
pub fn build(root: &Path) -> Result<Catalog, String> {
    if !root.is_dir() {
        return Err(format!("{}: not a directory", root.display()));
    }
    let mut found = Vec::new();
    suites(root, root, 8, &mut BTreeSet::new(), &mut found);
    let mut repositories = Vec::new();
    let mut summary = Summary::default();
    for (rel, suite) in found {
        let suite_dir = root.join(&rel).join("dists").join(&suite);
        let (release, signed_by) = release_of(&suite_dir)?;
        // One index per component/architecture: the first variant present (plain, gz, xz).
        let mut indexes = Vec::new();
        let mut done: BTreeSet<String> = BTreeSet::new();
        for path in release.files.keys() {
            let Some((dir, file)) = path.rsplit_once('/') else {
                continue;
            };
            let base = file.trim_end_matches(".xz").trim_end_matches(".gz");
            let Some((component, arch)) = dir.split_once("/binary-") else {
                continue;
            };
            if base != "Packages" || done.contains(dir) {
                continue;
            }
            let variant = ["Packages", "Packages.gz", "Packages.xz"]
                .iter()
                .map(|v| suite_dir.join(dir).join(v))
                .find(|p| p.is_file());
            let Some(variant) = variant else { continue };
            done.insert(dir.to_string());
            let packages: Vec<Package> = read_index(&variant)?
                .into_iter()
                .map(|f| Package {
                    name: f.package,
                    version: f.version,
                    architecture: f.architecture,
                    size: f.size,
                    sha256: f.sha256,
                    path: f.filename,
                })
                .collect();
            indexes.push(Index {
                component: component.to_string(),
                architecture: arch.to_string(),
                packages,
            });
        }
        let packages: usize = indexes.iter().map(|i| i.packages.len()).sum();
        summary.repositories += 1;
        summary.packages += packages;
        summary.bytes += indexes
            .iter()
            .flat_map(|i| i.packages.iter())
            .map(|p| p.size)
            .sum::<u64>();
        repositories.push(Repository {
            format: "apt".to_string(),
            path: rel.to_string_lossy().into_owned(),
            suite,
            codename: release.codename.clone(),
            date: release.date.map(rfc3339),
            valid_until: release.valid_until.map(rfc3339),
            signed_by,
            indexes,
            packages,
        });
    }
    Ok(Catalog {
        generated_at: rfc3339(time::OffsetDateTime::now_utc()),
        root: root.display().to_string(),
        repositories,
        summary,
    })
}
