//! ZFS snapshots as the snapshot backend (`repos.zfs_dataset`): the root is the mountpoint of a
//! dataset; a snapshot is `zfs snapshot DATASET@NAME` (atomic, read-only, free of copying),
//! seen at `ROOT/.zfs/snapshot/NAME/`, and retention destroys it with `zfs destroy`. The `zfs`
//! command on `PATH` is run for each; nothing is parsed from it but the mountpoint.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A dataset whose mountpoint is a repository root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zfs {
    /// `pool/fs`.
    pub dataset: String,
}

impl Zfs {
    fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("zfs").args(args).output().map_err(|e| {
            format!(
                "zfs {}: cannot run the zfs command ({e}); is ZFS installed?",
                args.join(" ")
            )
        })?;
        if !out.status.success() {
            return Err(format!(
                "zfs {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Check that `root` is where the dataset is mounted.
    pub fn check_mountpoint(&self, root: &Path) -> Result<(), String> {
        let out = self.run(&["get", "-H", "-o", "value", "mountpoint", &self.dataset])?;
        let mounted = PathBuf::from(out.trim());
        let same = match (std::fs::canonicalize(&mounted), std::fs::canonicalize(root)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same {
            Ok(())
        } else {
            Err(format!(
                "{}: repos.zfs_dataset {} is mounted at {}, not at the root; no snapshot was \
                 taken",
                root.display(),
                self.dataset,
                mounted.display()
            ))
        }
    }

    /// Where snapshot `name` of the dataset mounted at `root` is seen.
    pub fn snapshot_dir(root: &Path, name: &str) -> PathBuf {
        root.join(".zfs/snapshot").join(name)
    }

    /// `zfs snapshot DATASET@NAME`.
    pub fn snapshot(&self, name: &str) -> Result<(), String> {
        self.run(&["snapshot", &format!("{}@{name}", self.dataset)])
            .map(drop)
    }

    /// `zfs destroy DATASET@NAME`.
    pub fn destroy(&self, name: &str) -> Result<(), String> {
        self.run(&["destroy", &format!("{}@{name}", self.dataset)])
            .map(drop)
    }
}
