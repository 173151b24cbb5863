//! The published tree: static registries under one directory (`npm/`, `pypi/`, `cargo/`), served
//! by any web server from its root.
//!
//! Every file appears by an atomic rename (a reader sees the old file or the new one, never a
//! part), and an ecosystem writes a package's files before the documents that name them, so a
//! reader never finds a document naming a missing file. Files are hard links to the verified
//! blobs of the store when the tree is on the store's filesystem, copies otherwise. The whole tree
//! is `flock`ed for the run: two runs publishing into one tree take turns (documents are merged
//! with what is there, so the second must read what the first wrote).

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use mirrorkit_core::fsutil::temp_file_in;

/// Where files are written before they are renamed into place: one directory at the tree's
/// root (the same filesystem, so the rename is atomic), emptied when a run opens the tree, so a
/// run killed mid-write leaves nothing beside the files it published. Hidden: exports skip it.
const TEMP_DIR: &str = ".mirrorkit-tmp";

/// A published tree: locked for this run when opened to write ([`Tree::open`]), or only read
/// ([`Tree::existing`], for a dry run).
pub struct Tree {
    root: PathBuf,
    _lock: Option<File>,
}

impl Tree {
    /// Open (creating) the tree at `root` and lock it, waiting for another run to finish.
    pub async fn open(root: &Path) -> Result<Tree, String> {
        std::fs::create_dir_all(root).map_err(|e| format!("{}: {e}", root.display()))?;
        let lock = File::open(root).map_err(|e| format!("{}: {e}", root.display()))?;
        let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
            .await
            .map_err(|e| format!("{}: {e}", root.display()))?
            .map_err(|e| format!("{}: cannot lock: {e}", root.display()))?;
        // What a killed run was writing; no other run writes while we hold the lock. Made again
        // only when something is written, so a tree that is only read (an export) may be
        // read-only; leftovers that cannot be removed there are only hidden temp files.
        let temp = root.join(TEMP_DIR);
        if let Err(e) = std::fs::remove_dir_all(&temp)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %temp.display(), error = %e, "cannot remove what a killed run was writing");
        }
        Ok(Tree {
            root: root.to_path_buf(),
            _lock: Some(lock),
        })
    }

    /// The tree at `root` to read what it publishes, if it exists; nothing is locked or written
    /// (a dry run).
    pub fn existing(root: &Path) -> Option<Tree> {
        root.is_dir().then(|| Tree {
            root: root.to_path_buf(),
            _lock: None,
        })
    }

    /// Whether the tree publishes nothing yet.
    pub fn is_empty(&self) -> bool {
        std::fs::read_dir(&self.root).map_or(true, |entries| {
            !entries.flatten().any(|e| e.file_name() != TEMP_DIR)
        })
    }

    /// The tree's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of `rel` (slash-separated, relative) in the tree; `None` if it would leave it.
    pub fn path(&self, rel: &str) -> Option<PathBuf> {
        let rel = Path::new(rel);
        rel.components()
            .all(|c| matches!(c, Component::Normal(_)))
            .then(|| self.root.join(rel))
    }

    /// The bytes of `rel`, if it exists.
    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(rel)?).ok()
    }

    /// Whether `rel` exists with `size` bytes.
    pub fn has(&self, rel: &str, size: u64) -> bool {
        self.path(rel)
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| m.is_file() && m.len() == size)
    }

    /// Write a document at `rel`, atomically; untouched when it already holds these bytes.
    /// Returns whether it changed.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<bool, String> {
        let path = self.checked(rel)?;
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            return Ok(false);
        }
        let io = |e: std::io::Error| format!("{}: {e}", path.display());
        let mut temp = temp_file_in(&self.temp_dir()?, "doc-").map_err(io)?;
        std::io::Write::write_all(temp.as_file_mut(), bytes)
            .and_then(|()| temp.as_file().sync_all())
            .map_err(io)?;
        temp.persist(&path).map_err(|e| io(e.error))?;
        Ok(true)
    }

    /// Put the verified blob at `blob` into the tree at `rel` (a hard link, or a copy across
    /// filesystems), atomically.
    pub fn place(&self, rel: &str, blob: &Path) -> Result<(), String> {
        let path = self.checked(rel)?;
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let io = |e: std::io::Error| format!("{}: {e}", path.display());
        let temp = temp_file_in(&self.temp_dir()?, "file-").map_err(io)?;
        let temp_path = temp.into_temp_path();
        std::fs::remove_file(&temp_path).map_err(io)?;
        if std::fs::hard_link(blob, &temp_path).is_err() {
            std::fs::copy(blob, &temp_path).map_err(io)?;
            File::open(&temp_path)
                .and_then(|f| f.sync_all())
                .map_err(io)?;
        }
        temp_path.persist(&path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// The directory files are written in before they are renamed into place.
    fn temp_dir(&self) -> Result<PathBuf, String> {
        let temp = self.root.join(TEMP_DIR);
        std::fs::create_dir_all(&temp).map_err(|e| format!("{}: {e}", temp.display()))?;
        Ok(temp)
    }

    fn checked(&self, rel: &str) -> Result<PathBuf, String> {
        let path = self
            .path(rel)
            .ok_or_else(|| format!("{rel:?} is not a path inside the tree"))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn what_a_killed_run_was_writing_goes_when_the_tree_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        std::fs::create_dir_all(root.join(TEMP_DIR)).unwrap();
        std::fs::write(root.join(TEMP_DIR).join("doc-half"), b"{\"ver").unwrap();
        let tree = Tree::open(&root).await.unwrap();
        assert!(!root.join(TEMP_DIR).exists());
        assert!(tree.is_empty());
        assert!(tree.write("npm/a/index.html", b"{}").unwrap());
        assert!(!tree.is_empty());
        // Only the document and the (empty) temp directory: nothing beside it.
        let mut names: Vec<_> = std::fs::read_dir(root.join("npm/a"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["index.html"]);
        assert_eq!(std::fs::read_dir(root.join(TEMP_DIR)).unwrap().count(), 0);
    }
}
