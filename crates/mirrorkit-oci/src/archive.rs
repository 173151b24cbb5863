//! OCI archives (`oci-archive:FILE`): a tar of an OCI image layout.
//!
//! Reading extracts into a directory, streaming entry by entry, and refuses anything that could
//! escape it or is not plain content: absolute paths, `..`, symlinks, hard links, devices, FIFOs.
//! Writing is deterministic (sorted names, zero mtimes/owners, fixed modes), so the same layout
//! always gives the same tar bytes, and goes through a temp file + rename.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write as _};
use std::path::{Component, Path, PathBuf};

use crate::error::OciError;
use crate::layout::TEMP_PREFIX;

/// Extract the archive at `archive` into the directory `dest` (created). Blocking: call it from
/// `spawn_blocking` in async code.
pub fn extract(archive: &Path, dest: &Path) -> Result<(), OciError> {
    let file = File::open(archive).map_err(|e| OciError::io(archive, e))?;
    std::fs::create_dir_all(dest).map_err(|e| OciError::io(dest, e))?;
    let mut tar = tar::Archive::new(BufReader::new(file));
    let what = archive.display().to_string();
    let entries = tar.entries().map_err(|e| OciError::io(archive, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| OciError::malformed(&what, e))?;
        let kind = entry.header().entry_type();
        let raw_path = entry
            .path()
            .map_err(|e| OciError::malformed(&what, e))?
            .into_owned();
        let rel = safe_relative(&raw_path).ok_or_else(|| {
            OciError::malformed(
                &what,
                format!(
                    "entry {:?} is absolute or contains `..`",
                    raw_path.display()
                ),
            )
        })?;
        let target = dest.join(&rel);
        match kind {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target).map_err(|e| OciError::io(&target, e))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if rel.as_os_str().is_empty() {
                    return Err(OciError::malformed(&what, "a file entry without a name"));
                }
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| OciError::io(parent, e))?;
                }
                let mut out = File::create(&target).map_err(|e| OciError::io(&target, e))?;
                std::io::copy(&mut entry, &mut out).map_err(|e| OciError::io(&target, e))?;
            }
            // PAX/GNU metadata entries are consumed by the tar crate itself; a global PAX header
            // may still show up and carries no content.
            tar::EntryType::XGlobalHeader => {}
            other => {
                return Err(OciError::malformed(
                    &what,
                    format!(
                        "entry {:?} is a {other:?}; only files and directories are allowed",
                        raw_path.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `path` as a relative path of normal components (`./` allowed), or `None` when it is absolute
/// or climbs with `..`.
fn safe_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Tar the layout at `layout_dir` into `archive`, deterministically, replacing it atomically.
/// Temp files of an interrupted write in the layout are left out. Blocking.
pub fn write(layout_dir: &Path, archive: &Path) -> Result<(), OciError> {
    let mut files = Vec::new();
    collect(layout_dir, Path::new(""), &mut files)?;
    files.sort();
    let parent = match archive.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(&parent)
        .map_err(|e| OciError::io(&parent, e))?;
    let mut builder = tar::Builder::new(BufWriter::new(temp.as_file()));
    for (rel, is_dir) in &files {
        let full = layout_dir.join(rel);
        let mut header = tar::Header::new_ustar();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        if *is_dir {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            builder
                .append_data(&mut header, rel, std::io::empty())
                .map_err(|e| OciError::io(archive, e))?;
        } else {
            let file = File::open(&full).map_err(|e| OciError::io(&full, e))?;
            let len = file.metadata().map_err(|e| OciError::io(&full, e))?.len();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(len);
            builder
                .append_data(&mut header, rel, BufReader::new(file))
                .map_err(|e| OciError::io(archive, e))?;
        }
    }
    let mut out = builder.into_inner().map_err(|e| OciError::io(archive, e))?;
    out.flush().map_err(|e| OciError::io(archive, e))?;
    drop(out);
    temp.as_file()
        .sync_all()
        .map_err(|e| OciError::io(temp.path(), e))?;
    temp.persist(archive)
        .map_err(|e| OciError::io(archive, e.error))?;
    Ok(())
}

/// Every file and directory under `dir` as (relative path, is_dir), skipping temp files.
fn collect(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, bool)>) -> Result<(), OciError> {
    let dir = root.join(rel);
    let entries = std::fs::read_dir(&dir).map_err(|e| OciError::io(&dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| OciError::io(&dir, e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(TEMP_PREFIX) {
            continue;
        }
        let child = rel.join(&name);
        let kind = entry
            .file_type()
            .map_err(|e| OciError::io(entry.path(), e))?;
        if kind.is_dir() {
            out.push((child.clone(), true));
            collect(root, &child, out)?;
        } else if kind.is_file() {
            out.push((child, false));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> tempfile::NamedTempFile {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        let bytes = b.into_inner().unwrap();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&bytes).unwrap();
        f
    }

    fn file_header(size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h
    }

    /// Write `name` into a header's raw name field, bypassing the tar crate's own checks (which
    /// refuse `..`), as a hostile archive would.
    fn raw_name(h: &mut tar::Header, name: &str) {
        let field = &mut h.as_old_mut().name;
        field.fill(0);
        field[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
    }

    #[test]
    fn refuses_parent_dir_absolute_links_and_devices() {
        let cases: Vec<(&str, tempfile::NamedTempFile)> = vec![
            (
                "dotdot",
                tar_with(|b| {
                    let mut h = file_header(1);
                    raw_name(&mut h, "../evil");
                    b.append(&h, &b"x"[..]).unwrap();
                }),
            ),
            (
                "absolute",
                tar_with(|b| {
                    let mut h = file_header(1);
                    raw_name(&mut h, "/tmp/evil");
                    b.append(&h, &b"x"[..]).unwrap();
                }),
            ),
            (
                "symlink",
                tar_with(|b| {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, "blobs", "/etc").unwrap();
                }),
            ),
            (
                "hardlink",
                tar_with(|b| {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, "index.json", "oci-layout").unwrap();
                }),
            ),
            (
                "chardev",
                tar_with(|b| {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Char);
                    h.set_size(0);
                    raw_name(&mut h, "dev");
                    b.append(&h, std::io::empty()).unwrap();
                }),
            ),
        ];
        for (name, file) in cases {
            let dest = tempfile::tempdir().unwrap();
            let r = extract(file.path(), dest.path());
            assert!(
                matches!(r, Err(OciError::Malformed { .. })),
                "{name}: {r:?}"
            );
        }
    }

    #[test]
    fn write_is_deterministic_and_round_trips() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("blobs/sha256")).unwrap();
        std::fs::write(src.path().join("oci-layout"), "{}").unwrap();
        std::fs::write(src.path().join("blobs/sha256/ab"), "blob").unwrap();
        std::fs::write(src.path().join("blobs/sha256/.tmp-x"), "partial").unwrap();
        let out = tempfile::tempdir().unwrap();
        let a = out.path().join("a.tar");
        let b = out.path().join("b.tar");
        write(src.path(), &a).unwrap();
        write(src.path(), &b).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let dest = tempfile::tempdir().unwrap();
        extract(&a, dest.path()).unwrap();
        assert_eq!(
            std::fs::read(dest.path().join("blobs/sha256/ab")).unwrap(),
            b"blob"
        );
        assert!(!dest.path().join("blobs/sha256/.tmp-x").exists());
    }
}
