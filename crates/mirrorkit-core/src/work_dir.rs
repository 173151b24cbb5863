//! The work dir's lock: one run at a time per work dir.
//!
//! Two runs sharing a work dir used to corrupt each other's downloads: both resumed the same
//! `tmp/<key>.part`, one renamed what the other was still writing, and each removed store blobs
//! the other was about to package (seen as `corrupt deflate stream` and digest mismatches). A
//! run therefore takes an exclusive `flock(2)` on `<work_dir>/lock` for as long as it works there.
//! The lock belongs to the open file, so the kernel releases it when the holder exits or is
//! killed: a lock left by a dead process is simply taken over. The file's text names the holder
//! (pid and command line) for the message a waiting run prints.

use std::fs::File;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use crate::exit::{ExitCode, HasExitCode};

/// The lock file's name inside the work dir.
pub const LOCK_FILE: &str = "lock";

/// Why the work dir could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum WorkDirLockError {
    /// Another process holds the lock and the caller asked not to wait.
    #[error(
        "the work dir {dir} is in use by another run ({holder}); wait for it, drop --no-wait to \
         queue behind it, or give this run its own --work-dir"
    )]
    Busy {
        /// The work dir.
        dir: PathBuf,
        /// Who holds it, as its lock file says.
        holder: String,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock the work dir {dir}: {source}")]
    Io {
        /// The work dir.
        dir: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

impl HasExitCode for WorkDirLockError {
    /// The documented exit code: 75 (try again later) when busy, 74 for an I/O failure.
    fn exit_code(&self) -> ExitCode {
        match self {
            WorkDirLockError::Busy { .. } => ExitCode::TempFail,
            WorkDirLockError::Io { .. } => ExitCode::Io,
        }
    }
}

/// An exclusive hold on a work dir, released on drop (or when the process dies).
#[derive(Debug)]
pub struct WorkDirLock {
    _file: File,
}

impl WorkDirLock {
    /// Lock `dir` (created when missing). When another run holds it: with `wait`, say so through
    /// `waiting` (once, naming the holder) and block until it is released; without, fail with
    /// [`WorkDirLockError::Busy`] at once.
    pub async fn acquire(
        dir: &Path,
        wait: bool,
        waiting: impl FnOnce(&str),
    ) -> Result<WorkDirLock, WorkDirLockError> {
        let io = |source| WorkDirLockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = holder(&mut file);
                if !wait {
                    return Err(WorkDirLockError::Busy {
                        dir: dir.to_path_buf(),
                        holder,
                    });
                }
                waiting(&holder);
                // flock blocks the thread: wait on a blocking thread, not the runtime's.
                file = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
                    .await
                    .map_err(|e| io(std::io::Error::other(e)))?
                    .map_err(io)?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let me = format!(
            "pid {} ({})",
            std::process::id(),
            std::env::args().collect::<Vec<_>>().join(" ")
        );
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(me.as_bytes()))
            .map_err(io)?;
        Ok(WorkDirLock { _file: file })
    }
}

/// What the lock file says of its holder (its text is written by the holder once locked).
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file
        .rewind()
        .and_then(|_| file.take(4096).read_to_string(&mut text));
    let text = text.trim();
    if text.is_empty() {
        "a process that is starting".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_is_refused_without_wait_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let first = WorkDirLock::acquire(dir.path(), false, |_| {})
            .await
            .unwrap();
        let err = WorkDirLock::acquire(dir.path(), false, |_| {})
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::TempFail);
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        WorkDirLock::acquire(dir.path(), false, |_| {})
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_waiting_run_gets_the_lock_when_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = WorkDirLock::acquire(dir.path(), false, |_| {})
            .await
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let path = dir.path().to_path_buf();
        let second = tokio::spawn(async move {
            WorkDirLock::acquire(&path, true, move |h| {
                let _ = tx.send(h.to_string());
            })
            .await
        });
        let holder = rx.await.unwrap();
        assert!(holder.contains("pid"), "{holder}");
        drop(first);
        second.await.unwrap().unwrap();
    }
}
