//! OCI archives (`oci-archive:FILE`): a tar of an OCI image layout, optionally compressed (gzip or
//! zstd, recognised by their magic bytes when reading) and optionally split into parts
//! (`FILE.part000`, `FILE.part001`, …) for removable media.
//!
//! Reading extracts into a directory, streaming entry by entry, and refuses anything that could
//! escape it or is not plain content: absolute paths, `..`, symlinks, hard links, devices, FIFOs.
//! In strict mode (bundles) only the layout's own names are allowed and every blob is hashed
//! while it is written, so a blob whose content does not match its name is refused.
//! Writing is deterministic (sorted names, zero mtimes/owners, fixed modes, fixed compression
//! settings), so the same layout always gives the same bytes, and goes through temp files +
//! renames.

use std::fs::File;
use std::io::{BufRead as _, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use mirrorkit_core::digest::{Digest, Hasher};

use crate::error::OciError;
use crate::layout::TEMP_PREFIX;

/// Compression of a whole archive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ArchiveCompression {
    /// A plain tar.
    #[default]
    None,
    /// gzip (level 6, no name, zero mtime).
    Gzip,
    /// zstd (level 3, single-threaded so the bytes do not depend on the machine).
    Zstd,
}

/// The files an archive at `path` consists of: `path` itself, or its parts `path.part000`, …
/// (`path` may also name the first part).
pub fn parts_of(path: &Path) -> Vec<PathBuf> {
    if path.is_file() && !path.to_string_lossy().ends_with(".part000") {
        return vec![path.to_path_buf()];
    }
    let base = path
        .to_string_lossy()
        .strip_suffix(".part000")
        .map(PathBuf::from)
        .unwrap_or_else(|| path.to_path_buf());
    let mut parts = Vec::new();
    for i in 0.. {
        let p = PathBuf::from(format!("{}.part{i:03}", base.display()));
        if !p.is_file() {
            break;
        }
        parts.push(p);
    }
    if parts.is_empty() {
        parts.push(path.to_path_buf());
    }
    parts
}

/// The parts of an archive read one after another.
struct Concat {
    parts: std::vec::IntoIter<PathBuf>,
    current: Option<(PathBuf, File)>,
}

impl Read for Concat {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.current.is_none() {
                match self.parts.next() {
                    Some(p) => {
                        let f = File::open(&p)?;
                        self.current = Some((p, f));
                    }
                    None => return Ok(0),
                }
            }
            if let Some((_, f)) = self.current.as_mut() {
                let n = f.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
            }
            self.current = None;
        }
    }
}

/// Open the archive at `path` (or its parts) as one decompressed tar stream.
pub fn open_reader(path: &Path) -> Result<Box<dyn Read + Send>, OciError> {
    let parts = parts_of(path);
    for p in &parts {
        if !p.is_file() {
            return Err(OciError::io(
                p,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such archive"),
            ));
        }
    }
    let mut reader = BufReader::with_capacity(
        1 << 20,
        Concat {
            parts: parts.into_iter(),
            current: None,
        },
    );
    let head = reader.fill_buf().map_err(|e| OciError::io(path, e))?;
    Ok(if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(
            zstd::stream::read::Decoder::with_buffer(reader).map_err(|e| OciError::io(path, e))?,
        )
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

/// Extract the archive at `archive` into the directory `dest` (created). Blocking: call it from
/// `spawn_blocking` in async code.
pub fn extract(archive: &Path, dest: &Path) -> Result<(), OciError> {
    let reader = open_reader(archive)?;
    extract_reader(reader, &archive.display().to_string(), dest, false)
}

/// Whether `rel` is a name an OCI image layout (or a bundle) holds.
fn is_layout_name(rel: &Path, is_dir: bool) -> bool {
    let parts: Vec<&str> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => n.to_str(),
            _ => None,
        })
        .collect();
    let hexish = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    match (parts.as_slice(), is_dir) {
        (["blobs"], true) | (["blobs", "sha256" | "sha512"], true) => true,
        (["oci-layout" | "index.json" | "mirrorkit-bundle.json"], false) => true,
        (["blobs", "sha256" | "sha512", hex], false) => hexish(hex),
        _ => false,
    }
}

/// Extract a tar stream into `dest`. With `strict`, only layout names are allowed and every blob
/// is verified against its name while it is written (a mismatch is refused and removed).
pub fn extract_reader(
    reader: impl Read,
    what: &str,
    dest: &Path,
    strict: bool,
) -> Result<(), OciError> {
    std::fs::create_dir_all(dest).map_err(|e| OciError::io(dest, e))?;
    let mut tar = tar::Archive::new(reader);
    let entries = tar.entries().map_err(|e| OciError::malformed(what, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| OciError::malformed(what, e))?;
        let kind = entry.header().entry_type();
        let raw_path = entry
            .path()
            .map_err(|e| OciError::malformed(what, e))?
            .into_owned();
        let rel = safe_relative(&raw_path).ok_or_else(|| {
            OciError::malformed(
                what,
                format!(
                    "entry {:?} is absolute or contains `..`",
                    raw_path.display()
                ),
            )
        })?;
        let target = dest.join(&rel);
        let is_dir = kind == tar::EntryType::Directory;
        if strict
            && !rel.as_os_str().is_empty()
            && matches!(
                kind,
                tar::EntryType::Directory | tar::EntryType::Regular | tar::EntryType::Continuous
            )
            && !is_layout_name(&rel, is_dir)
        {
            return Err(OciError::malformed(
                what,
                format!(
                    "entry {:?} is not part of an OCI image layout",
                    raw_path.display()
                ),
            ));
        }
        match kind {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target).map_err(|e| OciError::io(&target, e))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if rel.as_os_str().is_empty() {
                    return Err(OciError::malformed(what, "a file entry without a name"));
                }
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| OciError::io(parent, e))?;
                }
                let expected = strict.then(|| blob_digest(&rel)).flatten();
                let mut out = File::create(&target).map_err(|e| OciError::io(&target, e))?;
                match expected {
                    None => {
                        std::io::copy(&mut entry, &mut out)
                            .map_err(|e| read_error(what, &target, e))?;
                    }
                    Some(expected) => {
                        let mut hasher = Hasher::new(expected.algorithm());
                        let mut buf = vec![0u8; 1 << 16];
                        loop {
                            let n = match entry.read(&mut buf) {
                                Ok(n) => n,
                                Err(e) => {
                                    // Never leave a partial blob under its digest's name.
                                    let _ = std::fs::remove_file(&target);
                                    return Err(read_error(what, &target, e));
                                }
                            };
                            if n == 0 {
                                break;
                            }
                            hasher.update(&buf[..n]);
                            out.write_all(&buf[..n])
                                .map_err(|e| OciError::io(&target, e))?;
                        }
                        let actual = hasher.finish();
                        if actual != expected {
                            drop(out);
                            let _ = std::fs::remove_file(&target);
                            return Err(OciError::DigestMismatch {
                                what: format!("{} in {what}", rel.display()),
                                expected: expected.to_string(),
                                actual: actual.to_string(),
                            });
                        }
                    }
                }
            }
            // PAX/GNU metadata entries are consumed by the tar crate itself; a global PAX header
            // may still show up and carries no content.
            tar::EntryType::XGlobalHeader => {}
            other => {
                return Err(OciError::malformed(
                    what,
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

/// A read error inside the archive is bad data (truncated, corrupt), not a local I/O problem.
fn read_error(what: &str, target: &Path, e: std::io::Error) -> OciError {
    OciError::malformed(
        what,
        format!(
            "cannot read {}: {e} (truncated or corrupt)",
            target.display()
        ),
    )
}

/// The digest a blob path names (`blobs/sha256/<hex>`), when it is one.
fn blob_digest(rel: &Path) -> Option<Digest> {
    let parts: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
    match parts.as_slice() {
        ["blobs", alg, hex] => format!("{alg}:{hex}").parse().ok(),
        _ => None,
    }
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
    let temp_dir = match archive.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    write_with(
        layout_dir,
        archive,
        temp_dir,
        ArchiveCompression::None,
        None,
    )
    .map(|_| ())
}

/// Writes into numbered part files of at most `limit` bytes each (all of it into one file when
/// there is no limit), as temp files until [`SplitWriter::finish`] renames them into place.
struct SplitWriter {
    base: PathBuf,
    dir: PathBuf,
    limit: Option<u64>,
    parts: Vec<tempfile::NamedTempFile>,
    current: Option<BufWriter<File>>,
    in_part: u64,
}

impl SplitWriter {
    fn new(base: &Path, temp_dir: &Path, limit: Option<u64>) -> SplitWriter {
        SplitWriter {
            base: base.to_path_buf(),
            dir: temp_dir.to_path_buf(),
            limit,
            parts: Vec::new(),
            current: None,
            in_part: 0,
        }
    }

    fn open_next(&mut self) -> std::io::Result<()> {
        if let Some(mut w) = self.current.take() {
            w.flush()?;
        }
        let temp = mirrorkit_core::fsutil::temp_file_in(&self.dir, TEMP_PREFIX)?;
        self.current = Some(BufWriter::with_capacity(1 << 20, temp.reopen()?));
        self.parts.push(temp);
        self.in_part = 0;
        Ok(())
    }

    /// Flush, sync and rename the parts into place; returns their final paths.
    fn finish(mut self) -> Result<Vec<PathBuf>, OciError> {
        if self.current.is_none() {
            self.open_next().map_err(|e| OciError::io(&self.dir, e))?;
        }
        if let Some(mut w) = self.current.take() {
            w.flush().map_err(|e| OciError::io(&self.base, e))?;
        }
        let split = self.limit.is_some();
        // Every part complete and on disk before the first rename: a failure here leaves the
        // previous archive's parts as they were.
        for temp in &self.parts {
            temp.as_file()
                .sync_all()
                .map_err(|e| OciError::io(temp.path(), e))?;
        }
        let mut out = Vec::new();
        for (i, temp) in self.parts.into_iter().enumerate() {
            let target = if split {
                PathBuf::from(format!("{}.part{i:03}", self.base.display()))
            } else {
                self.base.clone()
            };
            temp.persist(&target)
                .map_err(|e| OciError::io(&target, e.error))?;
            out.push(target);
        }
        Ok(out)
    }
}

impl Write for SplitWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.current.is_none() || self.limit.is_some_and(|l| self.in_part >= l) {
            self.open_next()?;
        }
        let room = self.limit.map_or(buf.len() as u64, |l| l - self.in_part);
        let n = (buf.len() as u64).min(room) as usize;
        let written = match self.current.as_mut() {
            Some(w) => w.write(&buf[..n])?,
            None => return Err(std::io::Error::other("no open part")),
        };
        self.in_part += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.current.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

/// Tar the layout at `layout_dir` into `archive` with `compression`, split into parts of at most
/// `split` bytes (`archive.part000`, …) when given; deterministic. The parts are written as temp
/// files in `temp_dir` (on `archive`'s filesystem) and renamed into place once all are complete.
/// Returns the files written. Stale parts of an earlier, longer archive with the same name are
/// removed. Blocking.
pub fn write_with(
    layout_dir: &Path,
    archive: &Path,
    temp_dir: &Path,
    compression: ArchiveCompression,
    split: Option<u64>,
) -> Result<Vec<PathBuf>, OciError> {
    let mut files = Vec::new();
    collect(layout_dir, Path::new(""), &mut files)?;
    files.sort();
    let sink = SplitWriter::new(archive, temp_dir, split.filter(|s| *s > 0));
    let io = |e| OciError::io(archive, e);
    let sink = match compression {
        ArchiveCompression::None => tar_into(layout_dir, &files, sink, archive)?,
        ArchiveCompression::Gzip => {
            let enc = flate2::GzBuilder::new()
                .mtime(0)
                .write(sink, flate2::Compression::new(6));
            tar_into(layout_dir, &files, enc, archive)?
                .finish()
                .map_err(io)?
        }
        ArchiveCompression::Zstd => {
            let enc = zstd::stream::write::Encoder::new(sink, 3).map_err(io)?;
            tar_into(layout_dir, &files, enc, archive)?
                .finish()
                .map_err(io)?
        }
    };
    let written = sink.finish()?;
    // An earlier archive of the same name in more parts would leave stray parts behind.
    for i in written.len().. {
        let stale = PathBuf::from(format!("{}.part{i:03}", archive.display()));
        if !stale.exists() {
            break;
        }
        let _ = std::fs::remove_file(stale);
    }
    Ok(written)
}

/// Append every file of the layout to a tar on `sink` and return the sink.
fn tar_into<W: Write>(
    layout_dir: &Path,
    files: &[(PathBuf, bool)],
    sink: W,
    archive: &Path,
) -> Result<W, OciError> {
    let mut builder = tar::Builder::new(sink);
    for (rel, is_dir) in files {
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
                .append_data(&mut header, rel, BufReader::with_capacity(1 << 20, file))
                .map_err(|e| OciError::io(archive, e))?;
        }
    }
    builder.into_inner().map_err(|e| OciError::io(archive, e))
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
