//! Snapshots of a repository root and their publication.
//!
//! - `snapshots/<name>/<prefix>/…`: an immutable tree of hard links (into the pool, through the
//!   mirror trees), named by UTC time (`20260603-120000`), taken of the current, fully verified
//!   mirror trees; `state/current_snapshot.txt` names the newest. With the ZFS backend the
//!   snapshot is the dataset's own (`zfs snapshot`), on a btrfs subvolume a read-only snapshot
//!   of it (`snapshots/.btrfs/<name>`), and `snapshots/<name>/<prefix>` is a link to the tree
//!   as that snapshot shows it.
//! - `public/`: what the web server serves — a symbolic link to a tree of symbolic links
//!   (`<prefix>` → that snapshot's `<prefix>`; with `--all` also `snapshots/<name>/<prefix>` for
//!   every snapshot), built beside the current one under `.public/` and switched with one atomic
//!   rename. Nothing of mirrorkit's own is written into it.

use std::path::{Path, PathBuf};

use crate::btrfs;
use crate::root::Root;
use crate::zfs::Zfs;

/// How snapshots are made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// A tree of hard links under `snapshots/<name>/` (any filesystem).
    #[default]
    HardLinks,
    /// A snapshot of the ZFS dataset mounted at the root.
    Zfs(Zfs),
    /// A read-only snapshot of the btrfs subvolume the root is.
    Btrfs,
}

impl Backend {
    /// The backend for `root`: ZFS when a dataset is configured, btrfs when the root is a
    /// btrfs subvolume, hard links otherwise.
    pub fn for_root(root: &Path, zfs_dataset: Option<&str>) -> Backend {
        match zfs_dataset {
            Some(dataset) => Backend::Zfs(Zfs {
                dataset: dataset.to_string(),
            }),
            None if btrfs::is_subvolume(root) => Backend::Btrfs,
            None => Backend::HardLinks,
        }
    }

    /// Where snapshot `name` of `root` is seen, for the backends that keep it apart.
    fn seen_at(&self, root: &Path, name: &str) -> Option<PathBuf> {
        match self {
            Backend::HardLinks => None,
            Backend::Zfs(_) => Some(Zfs::snapshot_dir(root, name)),
            Backend::Btrfs => Some(btrfs::snapshot_dir(root, name)),
        }
    }

    /// Take the filesystem's own snapshot `name` of `root` (nothing for hard links).
    fn snapshot(&self, root: &Path, name: &str) -> Result<(), String> {
        match self {
            Backend::HardLinks => Ok(()),
            Backend::Zfs(zfs) => {
                zfs.check_mountpoint(root)?;
                zfs.snapshot(name)
            }
            Backend::Btrfs => btrfs::snapshot(root, name),
        }
    }

    /// Remove snapshot `name`'s own copy (the ZFS or btrfs snapshot), if it has one.
    /// Whether there was one to remove.
    pub(crate) fn destroy(&self, root: &Path, name: &str) -> Result<bool, String> {
        if !self.seen_at(root, name).is_some_and(|d| d.is_dir()) {
            return Ok(false);
        }
        match self {
            Backend::HardLinks => Ok(false),
            Backend::Zfs(zfs) => zfs.destroy(name).map(|()| true),
            Backend::Btrfs => btrfs::delete(root, name).map(|()| true),
        }
    }
}

/// `state/current_snapshot.txt`.
const CURRENT: &str = "state/current_snapshot.txt";
/// `state/published_snapshot.txt`: the snapshot `public/` serves.
const PUBLISHED: &str = "state/published_snapshot.txt";

fn io(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

/// Write `text` at `path` atomically.
pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut temp = tempfile::NamedTempFile::with_prefix_in(".tmp-", dir).map_err(io(dir))?;
    std::io::Write::write_all(&mut temp, text.as_bytes()).map_err(io(path))?;
    temp.as_file().sync_all().map_err(io(path))?;
    temp.persist(path)
        .map_err(|e| format!("{}: {}", path.display(), e.error))?;
    Ok(())
}

/// A snapshot name: `YYYYMMDD-HHMMSS` (a suffix `-N` when two are taken in one second).
pub fn is_snapshot_name(name: &str) -> bool {
    let (stamp, suffix) = match name.get(15..) {
        Some(rest) if !rest.is_empty() => (&name[..15], Some(rest)),
        _ => (name, None),
    };
    stamp.len() == 15
        && stamp.bytes().enumerate().all(|(i, b)| {
            if i == 8 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
        && suffix.is_none_or(|s| {
            s.strip_prefix('-')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// The snapshots of `root`, oldest first.
pub fn list(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("snapshots"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_snapshot_name(n))
        .collect();
    names.sort_by_key(|n| order_key(n));
    names
}

/// A snapshot name's place in time: its stamp, then its suffix as a number (`-10` after `-9`).
pub fn order_key(name: &str) -> (String, u64) {
    let stamp = name.get(..15).unwrap_or(name).to_string();
    let n = name.get(16..).and_then(|n| n.parse().ok()).unwrap_or(1);
    (stamp, n)
}

/// `state/taking_snapshot.txt`: the name of the filesystem snapshot (ZFS, btrfs) being taken,
/// written before it is made and removed once `snapshots/<name>` names it. A take killed in
/// between leaves a filesystem snapshot nothing names; the next take or cleanup destroys it.
const TAKING: &str = "state/taking_snapshot.txt";

/// `state/last_snapshot.txt`: the newest name ever taken, so a name is never used twice (not
/// even after retention removed it).
const LAST: &str = "state/last_snapshot.txt";

/// The snapshot `state/current_snapshot.txt` names, if any.
pub fn current(root: &Path) -> Option<String> {
    read_name(&root.join(CURRENT))
}

/// The snapshot `public/` serves, if any.
pub fn published(root: &Path) -> Option<String> {
    // The link is the truth: a publication killed between its switch and writing the record
    // left the record one behind.
    std::fs::read_link(root.join("public"))
        .ok()
        .and_then(|t| {
            let dir = t.file_name()?.to_str()?.to_string();
            let (name, _random) = dir.rsplit_once('-')?;
            is_snapshot_name(name).then(|| name.to_string())
        })
        .or_else(|| read_name(&root.join(PUBLISHED)))
}

fn read_name(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let name = text.trim();
    is_snapshot_name(name).then(|| name.to_string())
}

/// Hard-link every file under `from` into `to` (directories created, links kept as links).
fn link_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for e in std::fs::read_dir(from).map_err(io(from))? {
        let e = e.map_err(io(from))?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let kind = e.file_type().map_err(io(&src))?;
        if kind.is_dir() {
            link_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&src).map_err(io(&src))?;
            std::os::unix::fs::symlink(target, &dst).map_err(io(&dst))?;
        } else {
            std::fs::hard_link(&src, &dst).map_err(io(&dst))?;
        }
    }
    Ok(())
}

/// Take a snapshot of the current trees of `prefixes`: its name. Every prefix must have a
/// tree (a sync finished); the snapshot appears whole or not at all, then becomes current.
pub fn take(root: &Root, prefixes: &[String], backend: &Backend) -> Result<String, String> {
    let dir = root.dir();
    drop_interrupted(dir, backend)?;
    let mut trees = Vec::new();
    for p in prefixes {
        let tree = root.current(p).ok_or_else(|| {
            format!("{p}: no mirror tree yet (run sync first); no snapshot was taken")
        })?;
        trees.push((p, tree));
    }
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .map_err(|e| e.to_string())?;
    let snapshots = dir.join("snapshots");
    std::fs::create_dir_all(&snapshots).map_err(io(&snapshots))?;
    // After every name taken before (existing, or recorded as the last even if removed since),
    // whatever the clock says: names sort in the order snapshots were taken, and never repeat.
    let latest = list(dir)
        .into_iter()
        .chain(read_name(&dir.join(LAST)))
        .map(|n| order_key(&n))
        .max();
    let name = match latest {
        Some((last, n)) if last >= stamp => format!("{last}-{}", n + 1),
        _ => stamp.clone(),
    };
    let staging = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempdir_in(&snapshots)
        .map_err(io(&snapshots))?;
    // Reserved before anything is made: not even an interrupted take's name comes back.
    write_atomically(&dir.join(LAST), &format!("{name}\n"))?;
    match backend {
        Backend::HardLinks => {
            for (p, tree) in &trees {
                link_tree(tree, &staging.path().join(p))?;
            }
        }
        Backend::Zfs(_) | Backend::Btrfs => {
            write_atomically(&dir.join(TAKING), &format!("{name}\n"))?;
            backend.snapshot(dir, &name)?;
            let linked = backend
                .seen_at(dir, &name)
                .ok_or_else(|| "no snapshot directory".to_string())
                .and_then(|seen| link_into_snapshot(dir, &seen, &name, &trees, staging.path()));
            if let Err(e) = linked {
                let _ = backend.destroy(dir, &name);
                return Err(e);
            }
        }
    }
    let final_dir = snapshots.join(&name);
    std::fs::rename(staging.path(), &final_dir).map_err(io(&final_dir))?;
    let _ = staging.keep();
    write_atomically(&dir.join(CURRENT), &format!("{name}\n"))?;
    let _ = std::fs::remove_file(dir.join(TAKING));
    Ok(name)
}

/// Destroy the filesystem snapshot a take killed between making it and naming it left behind
/// (`state/taking_snapshot.txt` names one that `snapshots/` does not): its name, if there was
/// one. Only a snapshot mirrorkit recorded before making it is ever destroyed this way.
pub(crate) fn drop_interrupted(dir: &Path, backend: &Backend) -> Result<Option<String>, String> {
    let record = dir.join(TAKING);
    let Some(name) = read_name(&record) else {
        let _ = std::fs::remove_file(&record);
        return Ok(None);
    };
    let destroyed = if dir.join("snapshots").join(&name).exists() {
        false
    } else {
        backend.destroy(dir, &name).map_err(|e| {
            format!(
                "snapshot {name} was interrupted before it was named ({}), and what it left \
                 cannot be destroyed: {e}; destroy it by hand, then remove that file",
                record.display()
            )
        })?
    };
    if destroyed {
        tracing::warn!(snapshot = %name, "destroyed a snapshot that was interrupted before it was named");
    }
    std::fs::remove_file(&record).map_err(io(&record))?;
    Ok(destroyed.then_some(name))
}

/// `staging/<prefix>` → the prefix's tree as the filesystem snapshot `name`, seen at `seen`,
/// shows it (`<seen>/mirror/.trees/<prefix>/<id>`), relative to the root.
fn link_into_snapshot(
    dir: &Path,
    seen: &Path,
    name: &str,
    trees: &[(&String, PathBuf)],
    staging: &Path,
) -> Result<(), String> {
    let real_root = std::fs::canonicalize(dir).map_err(io(dir))?;
    let seen_rel = seen
        .strip_prefix(dir)
        .map_err(|_| format!("{}: not under the root", seen.display()))?;
    for (p, tree) in trees {
        let rel = tree
            .strip_prefix(&real_root)
            .map_err(|_| format!("{}: not under the root", tree.display()))?;
        if !seen.join(rel).is_dir() {
            return Err(format!(
                "{}: snapshot {name} does not show the tree of {p} (is the root the \
                 dataset's mountpoint, or the subvolume?)",
                seen.join(rel).display()
            ));
        }
        let at = staging.join(p);
        if let Some(parent) = at.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        // From `snapshots/<name>/<prefix>` up to the root.
        let target = PathBuf::from("../".repeat(1 + Path::new(p.as_str()).components().count()))
            .join(seen_rel)
            .join(rel);
        std::os::unix::fs::symlink(&target, &at).map_err(io(&at))?;
    }
    Ok(())
}

/// `../` enough times to climb from a link at `rel` (inside the publication) to its top.
fn up(rel: &Path) -> PathBuf {
    PathBuf::from("../".repeat(rel.components().count().saturating_sub(1)))
}

/// Publish `name`: `public/<prefix>` → `snapshots/<name>/<prefix>` for every prefix it holds
/// (and with `all`, `public/snapshots/<snapshot>/<prefix>` for every snapshot), switched in at
/// once. Readers see the previous publication or this one, never a mix.
pub fn publish(root: &Root, name: &str, prefixes: &[String], all: bool) -> Result<(), String> {
    let dir = root.dir();
    let snapshot = dir.join("snapshots").join(name);
    if !is_snapshot_name(name) || !snapshot.is_dir() {
        return Err(format!(
            "{}: no such snapshot (snapshots: {})",
            snapshot.display(),
            list(dir).join(", ")
        ));
    }
    let publications = dir.join(".public");
    std::fs::create_dir_all(&publications).map_err(io(&publications))?;
    // A publication killed between making its link and renaming it left the link (the root is
    // locked: no other publication is running).
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(".public-link-") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let building = tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir_in(&publications)
        .map_err(io(&publications))?;
    // A link at `rel` in the publication to `snapshots/<snap>/<prefix>` of the root: relative,
    // through `.public/<this>/` → root.
    let link = |rel: &Path, snap: &str, prefix: &str| -> Result<(), String> {
        let at = building.path().join(rel);
        if let Some(parent) = at.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let target = up(rel)
            .join("../..")
            .join("snapshots")
            .join(snap)
            .join(prefix);
        std::os::unix::fs::symlink(&target, &at).map_err(io(&at))
    };
    for p in prefixes {
        if snapshot.join(p).is_dir() {
            link(Path::new(p), name, p)?;
        }
    }
    if all {
        for snap in list(dir) {
            for p in prefixes {
                if dir.join("snapshots").join(&snap).join(p).is_dir() {
                    link(&Path::new("snapshots").join(&snap).join(p), &snap, p)?;
                }
            }
        }
    }
    let replaced = std::fs::canonicalize(dir.join("public")).ok();
    let built = building.keep();
    let public = dir.join("public");
    if public.exists() && std::fs::read_link(&public).is_err() {
        return Err(format!(
            "{}: a directory, not the link mirrorkit keeps there; move it away",
            public.display()
        ));
    }
    let rel = built
        .strip_prefix(dir)
        .map_err(|_| format!("{}: not under the root", built.display()))?
        .to_path_buf();
    let temp = dir.join(format!(".public-link-{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(&rel, &temp).map_err(io(&temp))?;
    std::fs::rename(&temp, &public).map_err(io(&public))?;
    write_atomically(&dir.join(PUBLISHED), &format!("{name}\n"))?;
    // Earlier publications: nothing points at them now. The one just replaced stays until the
    // next publication, for a request that resolved `public` an instant before the switch.
    let previous = replaced.filter(|p| p.starts_with(&publications) && *p != built);
    for e in std::fs::read_dir(&publications)
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.path() != built && Some(e.path()) != previous {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_order_by_time_then_suffix() {
        let mut names = vec![
            "20260603-120000-10",
            "20260603-120001",
            "20260603-120000-9",
            "20260603-120000",
        ];
        names.sort_by_key(|n| order_key(n));
        assert_eq!(
            names,
            [
                "20260603-120000",
                "20260603-120000-9",
                "20260603-120000-10",
                "20260603-120001"
            ]
        );
    }

    #[test]
    fn snapshot_names_are_utc_stamps() {
        assert!(is_snapshot_name("20260603-120000"));
        assert!(is_snapshot_name("20260603-120000-2"));
        for bad in [
            "",
            "2026-06-03",
            "20260603_120000",
            "20260603-12000",
            "20260603-120000-",
            "20260603-120000-x",
            "../x",
        ] {
            assert!(!is_snapshot_name(bad), "{bad:?}");
        }
    }
}
