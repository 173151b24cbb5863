//! Small file-system helpers shared by the caches, the store and the OCI layouts.

use std::path::Path;

/// A named temp file in `dir` whose name starts with `prefix`, created with mode `0666` less the
/// process umask — the mode any other file the user creates gets.
///
/// `tempfile` creates files `0600` by default. That is right for secrets, wrong for published
/// content: layout blobs, `index.json` and bundles written `0600` could not be served by a web
/// server or read by the other users of a shared mirror (skopeo writes them `0644`).
pub fn temp_file_in(dir: &Path, prefix: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // open(2) applies the umask to this mode.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// A temp directory in `parent` whose name starts with `prefix`, created with mode `0777` less
/// the umask (see [`temp_file_in`]; a staged bundle becomes the published one by a rename).
pub fn temp_dir_in(parent: &Path, prefix: &str) -> std::io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o777));
    }
    builder.tempdir_in(parent)
}

/// Write `bytes` to `path` so that a reader sees the old file or the whole new one, never a
/// part: a temp file in `path`'s directory (created if missing), synced, then renamed over it.
/// The file gets the umask's mode (see [`temp_file_in`]).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = temp_file_in(dir, ".tmp")?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn temp_files_take_the_umask_mode_not_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomically(&path, b"x").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let umask = process_umask();
        assert_eq!(mode, 0o666 & !umask, "mode {mode:o} with umask {umask:o}");
    }

    /// This process's umask, as a child shell inherits it.
    fn process_umask() -> u32 {
        let out = std::process::Command::new("sh")
            .args(["-c", "umask"])
            .output()
            .unwrap();
        u32::from_str_radix(String::from_utf8_lossy(&out.stdout).trim(), 8).unwrap()
    }
}
