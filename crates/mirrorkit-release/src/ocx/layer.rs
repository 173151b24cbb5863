//! Building a package layer: a compressed tar of the package root, written in one streaming pass.
//!
//! ```text
//! asset ─► archive walk ─► entry rules ─► tar::Builder ─► diff_id hasher ─► encoder ─► blob hasher ─► temp file
//! ```
//! The tar is hashed before compression (the diff_id) and the blob after it (the layer digest)
//! while it is written; nothing is read back and no entry is held in memory.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mirrorkit_core::digest::{Digest, HashingWriter};

use super::archive::{self, EntryKind, InputEntry};
use super::compress::{Compression, Encoder};
use super::entry::{EntryRules, Placement};
use super::error::PackageError;

/// What kind of file a release asset is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AssetType {
    /// An archive (tar, tar.gz, tar.xz, tar.zst, tar.bz2, zip) whose contents become the package.
    #[default]
    Archive,
    /// A single executable that becomes the package's only file.
    Binary,
}

/// How to turn an asset into a layer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerOptions {
    /// Whether the asset is an archive to repack or a single binary.
    pub asset_type: AssetType,
    /// The layer's compression.
    pub compression: Compression,
    /// Leading path components removed from every archive entry, like
    /// `tar --strip-components`; entries with no components left are dropped. Ignored for
    /// binaries.
    pub strip_components: u32,
    /// Compression level; `None` is the compression's default (see [`Compression::default_level`]).
    pub level: Option<u32>,
    /// Compression threads for xz and zstd; `None` is all available cores. The output does not
    /// depend on it.
    pub threads: Option<u32>,
    /// File name of a binary inside the layer; `None` uses the asset name. Ignored for archives.
    pub binary_name: Option<String>,
}

/// A layer blob written to disk, with everything a manifest needs about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltLayer {
    /// Where the compressed blob is (`<out_dir>/<hex>.<tar.xz|tar.zst|tar.gz>`).
    pub path: PathBuf,
    /// SHA-256 of the compressed blob: the layer descriptor's digest.
    pub digest: Digest,
    /// Size of the compressed blob in bytes.
    pub size: u64,
    /// The layer media type (see [`Compression::media_type`]).
    pub media_type: String,
    /// SHA-256 of the uncompressed tar (the OCI `diff_id`).
    pub uncompressed_digest: Digest,
}

/// Modification time of the single file in a binary layer. The upstream download's own mtime is
/// whenever it was fetched, so using it would make every run produce a new digest.
pub const BINARY_MTIME: u64 = 0;

/// Mode of the single file in a binary layer.
pub const BINARY_MODE: u32 = 0o755;

/// Build the layer for `asset` (a verified download named `asset_name` upstream) into `out_dir`.
///
/// The blob is written to a temp file in `out_dir`, synced, and renamed into place only when
/// complete, so a crash never leaves a partial layer under the final name. The same asset and
/// options always give the same bytes, hence the same digest.
///
/// # Errors
/// [`PackageError::Corrupt`], [`PackageError::UnsafeEntry`] or [`PackageError::UnsupportedEntry`]
/// when the asset cannot be repacked (an item failure), [`PackageError::Output`] when writing
/// fails, [`PackageError::InvalidOptions`] for a bad level, thread count or binary name.
pub fn build_layer(
    asset: &Path,
    asset_name: &str,
    opts: &LayerOptions,
    out_dir: &Path,
) -> Result<BuiltLayer, PackageError> {
    let output_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source: io::Error| PackageError::Output {
            path: path.clone(),
            source,
        }
    };
    let temp = tempfile::Builder::new()
        .prefix(".layer-")
        .suffix(".partial")
        .tempfile_in(out_dir)
        .map_err(output_err(out_dir))?;
    let (file, temp_path) = temp.into_parts();

    // Write errors and read errors both surface as `io::Error`, often through tar-rs. The sink
    // remembers that it failed, so a failure can be blamed on the right side afterwards.
    let output_failed = Arc::new(AtomicBool::new(false));
    let sink = WatchedWriter {
        inner: BufWriter::with_capacity(256 * 1024, file),
        failed: Arc::clone(&output_failed),
    };
    let blob = HashingWriter::new(sink);
    let encoder = Encoder::new(blob, opts.compression, opts.level, opts.threads)?;
    let mut tar = tar::Builder::new(HashingWriter::new(encoder));

    let classify = |e: io::Error| -> PackageError {
        if output_failed.load(Ordering::Relaxed) {
            PackageError::Output {
                path: temp_path.to_path_buf(),
                source: e,
            }
        } else {
            PackageError::Corrupt {
                asset: asset_name.to_string(),
                reason: format!("reading the asset failed: {e}"),
            }
        }
    };

    match opts.asset_type {
        AssetType::Binary => append_binary(&mut tar, asset, asset_name, opts, &classify)?,
        AssetType::Archive => repack_archive(&mut tar, asset, asset_name, opts, &classify)?,
    }

    let finish_err = output_err(&temp_path);
    // `into_inner` writes the end-of-archive marker (two zero blocks).
    let (encoder, uncompressed_digest, _tar_size) = tar.into_inner().map_err(&classify)?.finish();
    let blob = encoder.finish().map_err(&finish_err)?;
    let (sink, digest, size) = blob.finish();
    let file = sink
        .inner
        .into_inner()
        .map_err(|e| finish_err(e.into_error()))?;
    file.sync_all().map_err(&finish_err)?;
    drop(file);

    let path = out_dir.join(format!("{}.{}", digest.hex(), opts.compression.extension()));
    temp_path.persist(&path).map_err(|e| PackageError::Output {
        path: path.clone(),
        source: e.error,
    })?;
    tracing::debug!(asset = asset_name, %digest, size, path = %path.display(), "layer built");
    Ok(BuiltLayer {
        path,
        digest,
        size,
        media_type: opts.compression.media_type().to_string(),
        uncompressed_digest,
    })
}

/// The tar builder every entry goes through: tar → diff_id hasher → encoder → blob hasher → file.
type LayerTar = tar::Builder<HashingWriter<Encoder<HashingWriter<WatchedWriter>>>>;

/// Write a single binary as the layer's only entry.
fn append_binary(
    tar: &mut LayerTar,
    asset: &Path,
    asset_name: &str,
    opts: &LayerOptions,
    classify: &dyn Fn(io::Error) -> PackageError,
) -> Result<(), PackageError> {
    let name = match &opts.binary_name {
        Some(configured) => {
            if !is_plain_file_name(configured) {
                return Err(PackageError::InvalidOptions(format!(
                    "binary name {configured:?} must be a plain file name (no `/`, `.` or `..`)"
                )));
            }
            configured.as_str()
        }
        None => {
            if !is_plain_file_name(asset_name) {
                return Err(PackageError::UnsafeEntry {
                    asset: asset_name.to_string(),
                    entry: asset_name.to_string(),
                    reason: "a binary's asset name must be a plain file name".to_string(),
                });
            }
            asset_name
        }
    };
    let corrupt = |e: io::Error| PackageError::Corrupt {
        asset: asset_name.to_string(),
        reason: format!("cannot read: {e}"),
    };
    let mut file = File::open(asset).map_err(corrupt)?;
    let size = file.metadata().map_err(corrupt)?.len();
    let mut header = new_header(tar::EntryType::Regular, BINARY_MODE, BINARY_MTIME, size);
    let mut data = ExactReader::new(&mut file, size);
    tar.append_data(&mut header, name, &mut data)
        .map_err(classify)
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !(name.len() >= 2 && name.as_bytes()[1] == b':')
}

/// Repack every entry of the archive at `asset` that survives the entry rules.
fn repack_archive(
    tar: &mut LayerTar,
    asset: &Path,
    asset_name: &str,
    opts: &LayerOptions,
    classify: &dyn Fn(io::Error) -> PackageError,
) -> Result<(), PackageError> {
    let mut rules = EntryRules::new(opts.strip_components);
    let mut kept = 0u64;
    archive::for_each_entry(asset, asset_name, |entry: InputEntry<'_>| {
        let unsafe_entry = |reason: String| PackageError::UnsafeEntry {
            asset: asset_name.to_string(),
            entry: entry.name.clone(),
            reason,
        };
        match &entry.kind {
            EntryKind::Device => {
                return Err(unsafe_entry(
                    "device files are not allowed in a package".into(),
                ));
            }
            EntryKind::Fifo => {
                return Err(unsafe_entry("fifos are not allowed in a package".into()));
            }
            EntryKind::Unsupported(what) => {
                return Err(PackageError::UnsupportedEntry {
                    asset: asset_name.to_string(),
                    entry: entry.name.clone(),
                    reason: what.clone(),
                });
            }
            EntryKind::File
            | EntryKind::Directory
            | EntryKind::Symlink(_)
            | EntryKind::HardLink(_) => {}
        }
        let path = match rules.place(&entry.name).map_err(unsafe_entry)? {
            Placement::Keep(path) => path,
            Placement::Drop => {
                tracing::trace!(entry = %entry.name, "dropped by strip_components");
                return Ok(());
            }
        };
        // Only permission bits are kept: setuid, setgid and sticky bits from a download are
        // not something a package should install.
        let mode = |default: u32| entry.mode.map_or(default, |m| m & 0o777);
        match &entry.kind {
            EntryKind::File => {
                let mut header = new_header(
                    tar::EntryType::Regular,
                    mode(0o644),
                    entry.mtime,
                    entry.size,
                );
                let mut data = ExactReader::new(entry.data, entry.size);
                tar.append_data(&mut header, &path, &mut data)
                    .map_err(classify)?;
                rules.wrote_file(&path);
            }
            EntryKind::Directory => {
                let mut header = new_header(tar::EntryType::Directory, mode(0o755), entry.mtime, 0);
                tar.append_data(&mut header, format!("{path}/"), io::empty())
                    .map_err(classify)?;
                rules.wrote_directory(&path);
            }
            EntryKind::Symlink(target) => {
                rules.check_symlink(&path, target).map_err(unsafe_entry)?;
                let mut header = new_header(tar::EntryType::Symlink, 0o777, entry.mtime, 0);
                tar.append_link(&mut header, &path, target)
                    .map_err(classify)?;
                rules.wrote_symlink(&path);
            }
            EntryKind::HardLink(target) => {
                let placed_target = rules.check_hard_link(target).map_err(unsafe_entry)?;
                let mut header = new_header(tar::EntryType::Link, mode(0o644), entry.mtime, 0);
                tar.append_link(&mut header, &path, &placed_target)
                    .map_err(classify)?;
                rules.wrote_file(&path);
            }
            EntryKind::Device | EntryKind::Fifo | EntryKind::Unsupported(_) => {}
        }
        kept += 1;
        Ok(())
    })?;
    if kept == 0 {
        // An empty layer installs nothing; almost always a strip_components set one too high.
        return Err(PackageError::Corrupt {
            asset: asset_name.to_string(),
            reason: format!(
                "no entries left after strip_components = {}",
                opts.strip_components
            ),
        });
    }
    Ok(())
}

/// A tar header with everything but the path set, owned by root, with no user or group names.
fn new_header(kind: tar::EntryType, mode: u32, mtime: u64, size: u64) -> tar::Header {
    // GNU headers, because tar-rs writes names over 100 bytes as GNU long-name entries.
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_size(size);
    header
}

/// Reads exactly `expected` bytes and then checks the source is really at its end.
///
/// tar-rs copies an entry's data until EOF and pads to the size it read, so a truncated input
/// would otherwise produce a layer whose header size and data disagree. The final probe read
/// also makes the zip reader verify the member's CRC, which it only does at EOF.
struct ExactReader<'a> {
    inner: &'a mut dyn Read,
    remaining: u64,
}

impl<'a> ExactReader<'a> {
    fn new(inner: &'a mut dyn Read, expected: u64) -> ExactReader<'a> {
        ExactReader {
            inner,
            remaining: expected,
        }
    }
}

impl Read for ExactReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "entry data is longer than its header says",
                )),
            };
        }
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "entry data ends before the size its header says",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// The file end of the pipeline; records whether a write to the output failed.
struct WatchedWriter {
    inner: BufWriter<File>,
    failed: Arc<AtomicBool>,
}

impl Write for WatchedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).inspect_err(|_| {
            self.failed.store(true, Ordering::Relaxed);
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(|_| {
            self.failed.store(true, Ordering::Relaxed);
        })
    }
}
