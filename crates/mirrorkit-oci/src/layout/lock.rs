//! Locks that make one layout safe for several processes at once.
//!
//! Two `flock(2)` locks, both on directories so that the layout holds no extra file that OCI
//! tools could trip over:
//! - **the index lock**, exclusive, on the layout directory, held around every read-modify-write
//!   of `index.json`. Without it two runs writing into one layout each read the index, add their
//!   tags and rename their copy over the other's: tags both reported pushed were lost.
//! - **the use lock**, shared, on `blobs/`, held by every process that has the layout open, for
//!   as long as it runs. A process that gets it exclusively knows that nobody else can be writing
//!   into the layout, so the `.tmp-*` files it finds were left by a process that died (kill -9
//!   mid-push) and can be removed.
//!
//! flock locks belong to an open file and go away when the process dies, so a lock left by a
//! killed process is never in the way.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::TEMP_PREFIX;
use crate::error::OciError;

/// The use locks this process holds, by layout directory: kept until the process exits.
static IN_USE: Mutex<Option<HashMap<PathBuf, File>>> = Mutex::new(None);

/// Held while `index.json` is read, changed and written back.
pub(super) struct IndexLock {
    _dir: File,
}

/// Take the index lock of the layout at `dir`, waiting for another process's update to finish
/// (updates take milliseconds).
pub(super) fn lock_index(dir: &Path) -> Result<IndexLock, OciError> {
    let file = File::open(dir).map_err(|e| OciError::io(dir, e))?;
    file.lock().map_err(|e| OciError::io(dir, e))?;
    Ok(IndexLock { _dir: file })
}

/// Register this process as a user of the layout at `dir` (once per process and layout). The
/// first user, when no other process has the layout open, removes the temp files that earlier,
/// interrupted runs left behind.
pub(super) fn claim(dir: &Path) -> Result<(), OciError> {
    let blobs = dir.join("blobs");
    let key = std::fs::canonicalize(&blobs).unwrap_or_else(|_| blobs.clone());
    let mut held = IN_USE.lock().unwrap_or_else(|p| p.into_inner());
    let held = held.get_or_insert_with(HashMap::new);
    if held.contains_key(&key) {
        return Ok(());
    }
    let file = match File::open(&blobs) {
        Ok(f) => f,
        // A layout without `blobs/` has no temp files to protect (or is not ours to write).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(OciError::io(&blobs, e)),
    };
    match file.try_lock() {
        Ok(()) => {
            remove_abandoned_temp_files(dir);
            // Downgrade to shared: other processes may now use the layout too.
            file.lock_shared().map_err(|e| OciError::io(&blobs, e))?;
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            file.lock_shared().map_err(|e| OciError::io(&blobs, e))?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(OciError::io(&blobs, e)),
    }
    held.insert(key, file);
    Ok(())
}

/// Remove `.tmp-*` files and directories in the layout directory and under `blobs/`. Only called
/// while holding the use lock exclusively. Failures are logged, not fatal: a leftover temp file
/// costs disk, never correctness.
fn remove_abandoned_temp_files(dir: &Path) {
    let mut dirs = vec![dir.to_path_buf()];
    if let Ok(algs) = std::fs::read_dir(dir.join("blobs")) {
        dirs.extend(algs.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    let mut removed = 0u64;
    let mut bytes = 0u64;
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            if !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                continue;
            }
            let path = entry.path();
            let meta = entry.metadata().ok();
            let result = if meta.as_ref().is_some_and(|m| m.is_dir()) {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match result {
                Ok(()) => {
                    removed += 1;
                    bytes += meta.map_or(0, |m| m.len());
                }
                Err(e) => tracing::warn!("cannot remove the abandoned {}: {e}", path.display()),
            }
        }
    }
    if removed > 0 {
        tracing::info!(
            "{}: removed {removed} temp file(s) ({bytes} bytes) left by an interrupted run",
            dir.display()
        );
    }
}
