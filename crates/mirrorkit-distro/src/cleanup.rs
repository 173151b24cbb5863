//! `repo cleanup-state`: retention of snapshots (keep the newest N, or those younger than D
//! days) that never removes the current or the published snapshot, then the pool files nothing
//! links to any more. A pool file's link count says it: the pool's own name is its only link
//! when no mirror tree and no snapshot holds it.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use crate::root::Root;
use crate::snapshots::{self, Backend};

/// How many snapshots to keep.
#[derive(Clone, Copy, Debug, Default)]
pub struct Retention {
    /// Keep the newest N.
    pub keep: Option<usize>,
    /// Keep those younger than this many days.
    pub keep_days: Option<u64>,
}

/// What a cleanup removed.
#[derive(Clone, Debug, Default)]
pub struct Cleaned {
    /// Snapshots removed.
    pub snapshots: Vec<String>,
    /// Pool files removed.
    pub pool_files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// The UTC time a snapshot name stands for.
fn taken_at(name: &str) -> Option<time::OffsetDateTime> {
    let stamp = name.get(..15)?;
    time::PrimitiveDateTime::parse(
        stamp,
        time::macros::format_description!("[year][month][day]-[hour][minute][second]"),
    )
    .ok()
    .map(|t| t.assume_utc())
}

/// Apply `retention` to `root`'s snapshots, then remove unreferenced pool files.
pub fn run(root: &Root, retention: Retention, backend: &Backend) -> Result<Cleaned, String> {
    let dir = root.dir();
    let mut cleaned = Cleaned::default();
    cleaned
        .snapshots
        .extend(snapshots::drop_interrupted(dir, backend)?);
    let all = snapshots::list(dir);
    // The current snapshot, and every snapshot a publication links to (the published one,
    // `--all`'s, and the previous publication kept for requests in flight).
    let mut protected = served(dir);
    protected.extend(snapshots::current(dir));
    protected.extend(snapshots::published(dir));
    let now = time::OffsetDateTime::now_utc();
    let newest: Vec<&String> = match retention.keep {
        Some(n) => all.iter().rev().take(n).collect(),
        None => all.iter().collect(),
    };
    if retention.keep.is_some() || retention.keep_days.is_some() {
        for name in &all {
            if protected.contains(name) {
                continue;
            }
            let too_many = retention.keep.is_some() && !newest.contains(&name);
            // A keep_days too large for a duration keeps everything.
            let max_age = retention
                .keep_days
                .and_then(|d| i64::try_from(d).ok()?.checked_mul(86_400))
                .map(time::Duration::seconds);
            let too_old = retention.keep_days.is_some()
                && max_age.is_some_and(|age| taken_at(name).is_some_and(|t| now - t > age));
            if too_many || too_old {
                let path = dir.join("snapshots").join(name);
                std::fs::remove_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                // A ZFS or btrfs snapshot goes with its links.
                backend.destroy(dir, name)?;
                let _ = std::fs::remove_dir_all(dir.join("metadata/snapshots").join(name));
                cleaned.snapshots.push(name.clone());
            }
        }
    }
    // Leftovers of runs that were killed: staging directories and temporary files.
    for e in std::fs::read_dir(dir.join("snapshots"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with(".tmp-") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let pool = dir.join("pool/sha256");
    for shard in std::fs::read_dir(&pool).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(shard.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(meta) = f.metadata() else { continue };
            let temp = f.file_name().to_string_lossy().starts_with(".tmp-");
            if meta.is_file() && (meta.nlink() == 1 || temp) {
                std::fs::remove_file(f.path())
                    .map_err(|e| format!("{}: {e}", f.path().display()))?;
                cleaned.pool_files += 1;
                cleaned.bytes += meta.len();
            }
        }
    }
    Ok(cleaned)
}

/// The snapshots the publications under `.public/` link to.
fn served(root: &Path) -> std::collections::BTreeSet<String> {
    fn walk(dir: &Path, depth: usize, out: &mut std::collections::BTreeSet<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_symlink() {
                if let Ok(target) = std::fs::read_link(e.path()) {
                    let parts: Vec<String> = target
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect();
                    if let Some(i) = parts.iter().position(|p| p == "snapshots")
                        && let Some(name) = parts.get(i + 1)
                    {
                        out.insert(name.clone());
                    }
                }
            } else if kind.is_dir() && depth > 0 {
                walk(&e.path(), depth - 1, out);
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(&root.join(".public"), 12, &mut out);
    out
}

/// Whether `root` looks like a repository root (has a pool).
pub fn is_root(root: &Path) -> bool {
    root.join("pool/sha256").is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_give_their_time() {
        let t = taken_at("20260603-120000-2").unwrap();
        assert_eq!(t.unix_timestamp(), 1_780_488_000);
        assert!(taken_at("junk").is_none());
    }
}
