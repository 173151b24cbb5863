//! The repository root (`target.repos.root`): a content-addressed pool of every file
//! (`pool/sha256/ab/<hex>`), and per prefix the mirror tree `mirror/<prefix>`, a symbolic link to
//! one complete tree under `mirror/.trees/<prefix>/`. A sync builds a new tree of hard links
//! into the pool beside the current one and switches the link with one atomic rename, so a
//! reader sees the old tree or the new one, never a mix; a sync that fails leaves the old one.
//! One sync at a time per root (a lock on `.lock`).

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use mirrorkit_core::fsutil;

/// A locked repository root.
pub struct Root {
    dir: PathBuf,
    _lock: Option<File>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

impl Root {
    /// Open (create) the root at `dir`, waiting for another sync of it to finish.
    pub async fn open(dir: &Path) -> Result<Root, String> {
        std::fs::create_dir_all(dir.join("pool/sha256")).map_err(io(dir))?;
        std::fs::create_dir_all(dir.join("mirror/.trees")).map_err(io(dir))?;
        let lock_path = dir.join(".lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
            .await
            .map_err(|e| format!("{}: {e}", lock_path.display()))?
            .map_err(|e| format!("{}: cannot lock: {e}", lock_path.display()))?;
        Ok(Root {
            dir: dir.to_path_buf(),
            _lock: Some(lock),
        })
    }

    /// The root at `dir` as it is, read only (a dry run).
    pub fn existing(dir: &Path) -> Root {
        Root {
            dir: dir.to_path_buf(),
            _lock: None,
        }
    }

    /// The root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The pool file of the SHA-256 `hex`.
    pub fn pool_path(&self, hex: &str) -> PathBuf {
        let shard = hex.get(..2).unwrap_or("00");
        self.dir.join("pool/sha256").join(shard).join(hex)
    }

    /// Whether the pool holds `hex` with `size` bytes.
    pub fn pool_has(&self, hex: &str, size: u64) -> bool {
        std::fs::metadata(self.pool_path(hex)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// Put the verified file `from` into the pool as `hex` (a hard link when it can, a copy
    /// synced to disk otherwise); its pool path.
    pub fn pool_add(&self, hex: &str, from: &Path) -> Result<PathBuf, String> {
        let path = self.pool_path(hex);
        let dir = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        // A hard link appears whole or not at all, so it goes straight to its name (no
        // temp file: creating and deleting one per file made ext4 scan its recently deleted
        // inodes on every create, a quarter of a cold sync's time). Another adder of the same
        // digest may have won the race: its file is the same bytes — unless what holds the
        // name is not a file of the right length (a crash, a hand edit): then it is replaced.
        let len = std::fs::metadata(from).map_err(io(from))?.len();
        match std::fs::hard_link(from, &path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let sound = std::fs::symlink_metadata(&path)
                    .is_ok_and(|m| m.file_type().is_file() && m.len() == len);
                if sound {
                    return Ok(path);
                }
            }
            Err(_) => {}
        }
        // Not linkable (another filesystem) or a bad entry: a copy, readable as any file the
        // user makes, synced, renamed into place.
        let mut temp = fsutil::temp_file_in(dir, ".tmp-").map_err(io(dir))?;
        let mut src = File::open(from).map_err(io(from))?;
        std::io::copy(&mut src, temp.as_file_mut()).map_err(io(temp.path()))?;
        temp.as_file().sync_all().map_err(io(temp.path()))?;
        temp.persist(&path)
            .map_err(|e| format!("{}: {}", path.display(), e.error))?;
        Ok(path)
    }

    /// Put `bytes` (verified: a signed document) into the pool; its pool path. Written to a
    /// file in `tmp` (mode as any file the user makes, synced) that is linked in.
    pub fn pool_add_bytes(&self, bytes: &[u8], tmp: &Path) -> Result<PathBuf, String> {
        let hex = mirrorkit_core::digest::Digest::sha256_of(bytes)
            .hex()
            .to_string();
        let mut temp = fsutil::temp_file_in(tmp, ".doc-").map_err(io(tmp))?;
        std::io::Write::write_all(temp.as_file_mut(), bytes)
            .and_then(|()| temp.as_file().sync_all())
            .map_err(io(temp.path()))?;
        self.pool_add(&hex, temp.path())
    }

    /// Where the settings the tree of `prefix` was built with are kept (outside every tree).
    fn settings_path(&self, prefix: &str) -> PathBuf {
        self.dir
            .join("state/settings")
            .join(format!("{prefix}.txt"))
    }

    /// Whether the tree of `prefix` was built with `settings`.
    pub fn settings_match(&self, prefix: &str, settings: &str) -> bool {
        std::fs::read_to_string(self.settings_path(prefix)).is_ok_and(|s| s == settings)
    }

    /// The current tree of `prefix` if it was built with `settings`: it was verified under
    /// them as a whole (the record is cleared, durably, before a switch and written after it,
    /// so a crash in between leaves no record rather than a wrong one).
    pub fn verified_tree(&self, prefix: &str, settings: &str) -> Option<PathBuf> {
        self.settings_match(prefix, settings)
            .then(|| self.current(prefix))
            .flatten()
    }

    /// The link `mirror/<prefix>`.
    fn link_path(&self, prefix: &str) -> PathBuf {
        self.dir.join("mirror").join(prefix)
    }

    /// The tree `mirror/<prefix>` points at, if there is one.
    pub fn current(&self, prefix: &str) -> Option<PathBuf> {
        let link = self.link_path(prefix);
        std::fs::read_link(&link).ok()?;
        std::fs::canonicalize(&link).ok().filter(|p| p.is_dir())
    }

    /// A new, empty tree for `prefix`, removed again unless it is switched into place.
    pub fn stage(&self, prefix: &str) -> Result<Staging, String> {
        let trees = self.dir.join("mirror/.trees").join(prefix);
        std::fs::create_dir_all(&trees).map_err(io(&trees))?;
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]-[hour][minute][second]"
            ))
            .unwrap_or_default();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{stamp}-"))
            .tempdir_in(&trees)
            .map_err(io(&trees))?;
        Ok(Staging { dir: Some(dir) })
    }

    /// Make `staging`, built and verified with `settings`, the tree of `prefix`: one atomic
    /// rename of a new link over the old one, with the settings record cleared before and
    /// written after; then the trees of `prefix` nothing points at any more are removed.
    pub fn switch(&self, prefix: &str, mut staging: Staging, settings: &str) -> Result<(), String> {
        let Some(dir) = staging.dir.take() else {
            return Err("the staged tree is gone".to_string());
        };
        let record = self.settings_path(prefix);
        match std::fs::remove_file(&record) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("{}: {e}", record.display()));
            }
            // Durable before the switch: a crash must not keep the old record with the new tree.
            Ok(()) => {
                if let Some(d) = record.parent() {
                    File::open(d).and_then(|d| d.sync_all()).map_err(io(d))?;
                }
            }
            Err(_) => {}
        }
        let tree = dir.keep();
        let link = self.link_path(prefix);
        if link.exists() && std::fs::read_link(&link).is_err() {
            return Err(format!(
                "{}: a directory, not the link mirrorkit keeps there; move it away",
                link.display()
            ));
        }
        let parent = link.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        // Relative, so the root can move: `../` per level of the prefix, then the tree.
        let depth = Path::new(prefix).components().count().saturating_sub(1);
        let rel_tree = tree
            .strip_prefix(self.dir.join("mirror"))
            .map_err(|_| format!("{}: not under the root", tree.display()))?;
        let target = PathBuf::from("../".repeat(depth)).join(rel_tree);
        let temp = parent.join(format!(
            ".link-{}-{}",
            link.file_name().and_then(|n| n.to_str()).unwrap_or("x"),
            std::process::id()
        ));
        let _ = std::fs::remove_file(&temp);
        std::os::unix::fs::symlink(&target, &temp).map_err(io(&temp))?;
        std::fs::rename(&temp, &link).map_err(io(&link))?;
        if let Ok(d) = File::open(parent) {
            let _ = d.sync_all();
        }
        crate::snapshots::write_atomically(&record, settings)?;
        // Older trees of this prefix: nothing points at them now.
        let trees = self.dir.join("mirror/.trees").join(prefix);
        if let Ok(entries) = std::fs::read_dir(&trees) {
            for e in entries.flatten() {
                if e.path() != tree {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(())
    }
}

/// A tree being built; removed when dropped unless [`Root::switch`] took it.
pub struct Staging {
    dir: Option<tempfile::TempDir>,
}

impl Staging {
    /// Link the pool file `from` at `rel` in the tree (slash-separated, checked to stay
    /// inside it).
    pub fn link(&self, rel: &str, from: &Path) -> Result<(), String> {
        let root = self
            .dir
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .ok_or("the staged tree is gone")?;
        let rel_path = Path::new(rel);
        if !rel_path
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(format!("{rel:?} is not a path inside the tree"));
        }
        let path = root.join(rel_path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        if let Ok(existing) = std::fs::symlink_metadata(&path) {
            // Linked already (an index and its by-hash name, one file in two suites): fine when
            // it is this very file; anything else (another file, a directory) is a conflict.
            use std::os::unix::fs::MetadataExt as _;
            let same = std::fs::metadata(from).is_ok_and(|m| {
                existing.is_file()
                    && ((m.dev() == existing.dev() && m.ino() == existing.ino())
                        || (m.len() == existing.len() && same_bytes(from, &path)))
            });
            return if same {
                Ok(())
            } else {
                Err(format!("{rel:?} is already in the tree as something else"))
            };
        }
        if std::fs::hard_link(from, &path).is_err() {
            std::fs::copy(from, &path).map_err(io(&path))?;
        }
        Ok(())
    }
}

/// Whether two files hold the same bytes (a copy, where hard links were not possible).
fn same_bytes(a: &Path, b: &Path) -> bool {
    match (crate::fetch::sha256_file(a), crate::fetch::sha256_file(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pool_entry_of_the_wrong_length_is_replaced_and_documents_are_readable() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).await.unwrap();
        let bytes = b"Origin: test\n";
        let hex = mirrorkit_core::digest::Digest::sha256_of(bytes)
            .hex()
            .to_string();
        // What a crash can leave: the name, short.
        let path = root.pool_path(&hex);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"Orig").unwrap();
        let p = root.pool_add_bytes(bytes, dir.path()).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), bytes);
        // Served by a web server that is not its owner: readable by all (umask permitting).
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_ne!(mode & 0o044, 0, "mode {mode:o}");
        // The same again: the sound entry stays as it is.
        let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
        let before = ino(&p);
        root.pool_add_bytes(bytes, dir.path()).unwrap();
        assert_eq!(ino(&p), before);
    }

    #[tokio::test]
    async fn a_switch_replaces_the_tree_at_once_and_a_dropped_stage_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).await.unwrap();
        let src = dir.path().join("f");
        std::fs::write(&src, b"one").unwrap();
        let p = root.pool_add("ab12", &src).unwrap();
        assert!(root.pool_has("ab12", 3));
        let s = root.stage("deb/ian").unwrap();
        s.link("dists/x/InRelease", &p).unwrap();
        assert!(s.link("../escape", &p).is_err());
        root.switch("deb/ian", s, "settings").unwrap();
        let current = root.current("deb/ian").unwrap();
        assert_eq!(
            std::fs::read(current.join("dists/x/InRelease")).unwrap(),
            b"one"
        );
        assert_eq!(
            std::fs::read(dir.path().join("mirror/deb/ian/dists/x/InRelease")).unwrap(),
            b"one"
        );
        // A second tree replaces the first, which is removed.
        let s = root.stage("deb/ian").unwrap();
        s.link("dists/y/InRelease", &p).unwrap();
        root.switch("deb/ian", s, "settings").unwrap();
        assert!(!current.exists());
        assert!(
            dir.path()
                .join("mirror/deb/ian/dists/y/InRelease")
                .is_file()
        );
        // A stage dropped without a switch is gone.
        let s = root.stage("deb/ian").unwrap();
        drop(s);
        let trees: Vec<_> = std::fs::read_dir(dir.path().join("mirror/.trees/deb/ian"))
            .unwrap()
            .collect();
        assert_eq!(trees.len(), 1);
    }
}
