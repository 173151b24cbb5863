//! The work directory of an export: `.mirrorkit-export-XXXXXX/` beside the output, holding the
//! staging layout (`layout/`) and the archive's parts while they are written. Nothing appears at
//! the output path until the bundle is whole.
//!
//! The directory is `flock`ed for as long as its export runs. An export killed with SIGKILL leaves
//! its work directory behind, unlocked (the kernel drops the lock with the process); the next
//! export beside the same output adopts it, so the blobs it had already copied (each written to a
//! temp file, verified, then renamed) are not fetched again, and removes any other abandoned one.
//! A work directory another running export holds is never touched.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use mirrorkit_core::digest::Digest;
use mirrorkit_oci::error::OciError;

/// Names of export work directories start with this.
const PREFIX: &str = ".mirrorkit-export-";
/// The staging layout inside a work directory.
const LAYOUT: &str = "layout";

/// A locked work directory, removed on drop unless its layout was kept.
pub(crate) struct Staging {
    dir: PathBuf,
    /// The lock; released when dropped (after the directory is gone).
    _lock: File,
}

impl Staging {
    /// Adopt an abandoned work directory in `parent`, or make a new one. Other abandoned ones are
    /// removed.
    pub(crate) fn new_in(parent: &Path) -> Result<Staging, OciError> {
        std::fs::create_dir_all(parent).map_err(|e| OciError::io(parent, e))?;
        let mut adopted: Option<Staging> = None;
        for dir in work_dirs(parent) {
            let Some(lock) = try_lock(&dir) else {
                continue; // another export is using it
            };
            if adopted.is_none() {
                tracing::info!(
                    "{}: resuming from the work directory an interrupted export left",
                    dir.display()
                );
                clear_except_layout(&dir);
                adopted = Some(Staging { dir, _lock: lock });
            } else {
                tracing::info!("{}: removing an abandoned export", dir.display());
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    tracing::warn!("cannot remove {}: {e}", dir.display());
                }
            }
        }
        if let Some(s) = adopted {
            return Ok(s);
        }
        let dir = mirrorkit_core::fsutil::temp_dir_in(parent, PREFIX)
            .map_err(|e| OciError::io(parent, e))?
            .keep();
        let lock = try_lock(&dir).ok_or_else(|| {
            OciError::io(
                &dir,
                std::io::Error::other("cannot lock a new work directory"),
            )
        })?;
        Ok(Staging { dir, _lock: lock })
    }

    /// The staging layout's directory.
    pub(crate) fn layout(&self) -> PathBuf {
        self.dir.join(LAYOUT)
    }

    /// The work directory (for the archive's parts while they are written).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Remove every blob of the staging layout that is not in `keep`: an adopted directory may
    /// hold blobs of an export that asked for other images.
    pub(crate) fn prune_blobs(&self, keep: &BTreeSet<Digest>) {
        for alg in ["sha256", "sha512"] {
            let d = self.layout().join("blobs").join(alg);
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let wanted = format!("{alg}:{name}")
                    .parse::<Digest>()
                    .is_ok_and(|digest| keep.contains(&digest));
                if !wanted {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    /// Move the staging layout to `output` (a new or empty directory) and remove the rest.
    pub(crate) fn publish_layout(self, output: &Path) -> Result<(), OciError> {
        if output.exists() {
            let _ = std::fs::remove_dir(output);
        }
        std::fs::rename(self.layout(), output).map_err(|e| OciError::io(output, e))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The export work directories in `parent`.
fn work_dirs(parent: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(PREFIX))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// The directory's exclusive lock, if nobody holds it.
fn try_lock(dir: &Path) -> Option<File> {
    let f = File::open(dir).ok()?;
    f.try_lock().ok()?;
    Some(f)
}

/// Remove what an interrupted export left beside its layout (half-written archive parts).
fn clear_except_layout(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name() == LAYOUT {
            continue;
        }
        let p = e.path();
        let _ = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
    }
}
