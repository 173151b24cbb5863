//! What the apt and rpm tests share: a corrupted byte, a file looked up in a repository root's
//! pool.

#![allow(dead_code)] // each test file uses a different subset

use std::path::Path;

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
