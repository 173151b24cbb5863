//! What the apt and rpm tests share: a tree read back as a client sees it, a corrupted byte, a
//! file looked up in a repository root's pool.

#![allow(dead_code)] // each test file uses a different subset

use std::collections::BTreeMap;
use std::path::Path;

/// Every file under `dir` (following the mirror link) with its bytes: the tree as a client
/// sees it.
pub(crate) fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(base).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Flip the middle byte of the file at `path`.
pub(crate) fn flip_middle_byte(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0xff;
    std::fs::write(path, b).unwrap();
}

/// Whether the pool of the repository root `root` holds the file with `digest`
/// (`sha256:<hex>`).
pub(crate) fn pooled(root: &Path, digest: &str) -> bool {
    let hex = &digest["sha256:".len()..];
    root.join("pool/sha256").join(&hex[..2]).join(hex).is_file()
}
