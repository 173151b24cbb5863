//! btrfs snapshots: when the repository root is a btrfs subvolume, a snapshot is a read-only
//! snapshot of it, `btrfs subvolume snapshot -r ROOT ROOT/snapshots/.btrfs/NAME` (atomic, no
//! link per file; the pool and the mirror trees must share one subvolume, as hard links cannot
//! cross subvolumes, so the whole root is snapshotted), and retention deletes it with `btrfs
//! subvolume delete`. The `btrfs` command on `PATH` (btrfs-progs) is run for each.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `statfs`'s `f_type` for btrfs.
const BTRFS_SUPER_MAGIC: i128 = 0x9123_683E;
/// The inode number of the top directory of every btrfs subvolume.
const SUBVOLUME_INODE: u64 = 256;

/// Whether `root` is the top of a btrfs subvolume.
pub fn is_subvolume(root: &Path) -> bool {
    let on_btrfs = rustix::fs::statfs(root).is_ok_and(|s| s.f_type as i128 == BTRFS_SUPER_MAGIC);
    on_btrfs && std::fs::metadata(root).is_ok_and(|m| m.ino() == SUBVOLUME_INODE)
}

/// Where snapshot `name` of the subvolume `root` is kept.
pub fn snapshot_dir(root: &Path, name: &str) -> PathBuf {
    root.join("snapshots/.btrfs").join(name)
}

fn run(args: &[&std::ffi::OsStr]) -> Result<(), String> {
    let shown = args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("btrfs").args(args).output().map_err(|e| {
        format!("btrfs {shown}: cannot run the btrfs command ({e}); install btrfs-progs")
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "btrfs {shown}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A read-only snapshot of the subvolume `root`, as snapshot `name`.
pub fn snapshot(root: &Path, name: &str) -> Result<(), String> {
    let at = snapshot_dir(root, name);
    if let Some(parent) = at.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    run(&[
        "subvolume".as_ref(),
        "snapshot".as_ref(),
        "-r".as_ref(),
        root.as_os_str(),
        at.as_os_str(),
    ])
}

/// Delete snapshot `name` of the subvolume `root`.
pub fn delete(root: &Path, name: &str) -> Result<(), String> {
    let at = snapshot_dir(root, name);
    run(&["subvolume".as_ref(), "delete".as_ref(), at.as_os_str()])
}
