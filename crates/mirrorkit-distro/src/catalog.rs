//! A catalog of the repositories in a tree on disk (`repo catalog --root-dir DIR`, and
//! `metadata/snapshots/<name>/repo_catalog.json`): per apt suite or rpm repository its dates,
//! the key that signed it, and every package with name, version (rpm: EVR), architecture,
//! size, checksum and path. It needs no spec and no network: it reads what is there.

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

/// One apt suite or rpm repository.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Repository {
    /// `apt` or `rpm`.
    pub format: String,
    /// The directory holding `dists/` (apt) or `repodata/` (rpm), relative to the root
    /// (`debian`; empty for the root).
    pub path: String,
    /// apt: the suite's directory under `dists/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// rpm: `repomd.xml`'s revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
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

/// One `Packages` index (apt) or the `primary` data (rpm).
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Index {
    /// apt: the component.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// apt: the architecture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// Its packages.
    pub packages: Vec<Package>,
}

/// One package entry.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Package {
    /// Its name.
    pub name: String,
    /// Its version (rpm: `[epoch:]version-release`).
    pub version: String,
    /// Its architecture.
    pub architecture: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its checksum: `sha256:<hex>` (rpm repositories may give `sha512:<hex>`).
    pub checksum: String,
    /// Its path under the repository (`pool/…`).
    pub path: String,
    /// Whether the file is in the tree (a filtered mirror keeps the upstream's signed index,
    /// which still lists what `include`/`exclude` left out).
    pub present: bool,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A repository found in the tree: where (relative to the root), and an apt suite's name or
/// `None` for an rpm repository.
type Found = (PathBuf, Option<String>);

/// Every `dists/<suite>` (apt) and `repodata/repomd.xml` (rpm) under `root` (following links,
/// at most `depth` levels).
fn suites(
    root: &Path,
    dir: &Path,
    depth: usize,
    seen: &mut BTreeSet<PathBuf>,
    out: &mut Vec<Found>,
) {
    let Ok(real) = std::fs::canonicalize(dir) else {
        return;
    };
    if depth == 0 || !seen.insert(real) {
        return;
    }
    let rel = dir
        .strip_prefix(root)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    if dir.join("repodata/repomd.xml").is_file() {
        out.push((rel, None));
        return;
    }
    let dists = dir.join("dists");
    if dists.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(&dists)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("InRelease").is_file() || e.path().join("Release").is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        out.extend(names.into_iter().map(|n| (rel.clone(), Some(n))));
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

/// The apt suite at `root/rel/dists/<suite>`.
fn apt_repository(root: &Path, rel: &Path, suite: String) -> Result<Repository, String> {
    let suite_dir = root.join(rel).join("dists").join(&suite);
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
                checksum: format!("sha256:{}", f.sha256),
                present: root.join(rel).join(&f.filename).is_file(),
                path: f.filename,
            })
            .collect();
        indexes.push(Index {
            component: Some(component.to_string()),
            architecture: Some(arch.to_string()),
            packages,
        });
    }
    Ok(Repository {
        format: "apt".to_string(),
        path: rel.to_string_lossy().into_owned(),
        suite: Some(suite),
        revision: None,
        codename: release.codename.clone(),
        date: release.date.map(rfc3339),
        valid_until: release.valid_until.map(rfc3339),
        signed_by,
        packages: indexes.iter().map(|i| i.packages.len()).sum(),
        indexes,
    })
}

/// The rpm repository at `root/rel` (`repodata/repomd.xml`).
fn rpm_repository(root: &Path, rel: &Path) -> Result<Repository, String> {
    let dir = root.join(rel);
    let repomd_path = dir.join("repodata/repomd.xml");
    let repomd =
        std::fs::read(&repomd_path).map_err(|e| format!("{}: {e}", repomd_path.display()))?;
    let data =
        crate::rpm_md::repomd(&repomd).map_err(|e| format!("{}: {e}", repomd_path.display()))?;
    let signed_by = std::fs::read(dir.join("repodata/repomd.xml.asc"))
        .map(|sig| crate::signature::detached_issuers(&sig))
        .unwrap_or_default();
    let revision = String::from_utf8_lossy(&repomd)
        .split("<revision>")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .map(|r| r.trim().to_string());
    let primary = data
        .iter()
        .find(|d| d.kind == "primary")
        .ok_or_else(|| format!("{}: no primary data", repomd_path.display()))?;
    let primary_path = dir.join(&primary.href);
    let packages: Vec<Package> = crate::compressed::open(&primary_path, &primary.href)
        .and_then(crate::rpm_md::primary)
        .map_err(|e| format!("{}: {e}", primary_path.display()))?
        .into_iter()
        .map(|p| Package {
            checksum: p
                .checksum
                .map(|c| format!("{}:{}", c.kind, c.hex))
                .unwrap_or_default(),
            name: p.name,
            version: p.evr,
            architecture: p.arch,
            size: p.size,
            present: dir.join(&p.href).is_file(),
            path: p.href,
        })
        .collect();
    Ok(Repository {
        format: "rpm".to_string(),
        path: rel.to_string_lossy().into_owned(),
        suite: None,
        revision,
        codename: None,
        date: None,
        valid_until: None,
        signed_by,
        packages: packages.len(),
        indexes: vec![Index {
            component: None,
            architecture: None,
            packages,
        }],
    })
}

/// The catalog of every repository of the `formats` asked for (`apt`, `rpm`) under `root`.
pub fn build(root: &Path, formats: &[&str]) -> Result<Catalog, String> {
    if !root.is_dir() {
        return Err(format!("{}: not a directory", root.display()));
    }
    let mut found = Vec::new();
    suites(root, root, 8, &mut BTreeSet::new(), &mut found);
    let mut repositories = Vec::new();
    let mut summary = Summary::default();
    for (rel, suite) in found {
        let repository = match suite {
            Some(suite) if formats.contains(&"apt") => apt_repository(root, &rel, suite)?,
            None if formats.contains(&"rpm") => rpm_repository(root, &rel)?,
            _ => continue,
        };
        summary.repositories += 1;
        summary.packages += repository.packages;
        summary.bytes += repository
            .indexes
            .iter()
            .flat_map(|i| i.packages.iter())
            .map(|p| p.size)
            .sum::<u64>();
        repositories.push(repository);
    }
    Ok(Catalog {
        generated_at: rfc3339(time::OffsetDateTime::now_utc()),
        root: root.display().to_string(),
        repositories,
        summary,
    })
}
