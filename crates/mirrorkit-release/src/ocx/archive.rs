//! Reading release archives: format detection by magic bytes and a streaming walk over entries.
//!
//! The walk hands every entry, in archive order, to a callback together with a reader over its
//! data, so nothing is ever extracted to disk or held whole in memory. Entries are reported as
//! the archive states them; deciding what is safe to repack is [`super::entry`]'s job.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;

use super::error::PackageError;

/// The container/compression formats recognised as archive input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// An uncompressed tar.
    Tar,
    /// A gzip-compressed tar (`.tar.gz`, `.tgz`).
    TarGzip,
    /// An xz-compressed tar (`.tar.xz`, `.txz`).
    TarXz,
    /// A zstd-compressed tar (`.tar.zst`).
    TarZstd,
    /// A bzip2-compressed tar (`.tar.bz2`, `.tbz`).
    TarBzip2,
    /// A zip archive.
    Zip,
}

impl ArchiveFormat {
    /// The format's usual file extension, used in messages (`tar.gz`, `zip`).
    pub fn label(self) -> &'static str {
        match self {
            ArchiveFormat::Tar => "tar",
            ArchiveFormat::TarGzip => "tar.gz",
            ArchiveFormat::TarXz => "tar.xz",
            ArchiveFormat::TarZstd => "tar.zst",
            ArchiveFormat::TarBzip2 => "tar.bz2",
            ArchiveFormat::Zip => "zip",
        }
    }

    /// Recognise the format from the first bytes of a file (up to 512 are looked at).
    ///
    /// Magic bytes rather than file names decide, because release asset names lie often enough
    /// (`.tgz` files that are plain tars, extension-less downloads). Whether the compressed
    /// stream really holds a tar is only found out while reading it.
    pub fn detect(head: &[u8]) -> Option<ArchiveFormat> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(ArchiveFormat::TarGzip)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(ArchiveFormat::TarXz)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(ArchiveFormat::TarZstd)
        } else if head.starts_with(b"BZh") {
            Some(ArchiveFormat::TarBzip2)
        } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            // A local file header, or the end-of-central-directory record of an empty zip.
            Some(ArchiveFormat::Zip)
        } else if is_tar_header(head) {
            Some(ArchiveFormat::Tar)
        } else {
            None
        }
    }
}

/// Whether `head` starts with a tar header: the `ustar` magic at offset 257, or (for old v7
/// tars without it) a valid header checksum.
fn is_tar_header(head: &[u8]) -> bool {
    if head.len() < 512 {
        return false;
    }
    if &head[257..262] == b"ustar" {
        return true;
    }
    // The checksum field (offset 148, 8 bytes, octal) is the sum of all header bytes with the
    // field itself counted as spaces.
    let field = &head[148..156];
    let digits: String = field
        .iter()
        .take_while(|b| **b != 0 && **b != b' ')
        .map(|b| char::from(*b))
        .skip_while(|c| *c == ' ')
        .collect();
    let Ok(stored) = u32::from_str_radix(digits.trim(), 8) else {
        return false;
    };
    let sum: u32 = head[..512]
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(*b)
            }
        })
        .sum();
    // An all-zero block would "match" with checksum 256 only if stored said so; require a name.
    head[0] != 0 && sum == stored
}

/// What an archive entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// A regular file; its data follows.
    File,
    /// A directory.
    Directory,
    /// A symbolic link with its target as written.
    Symlink(String),
    /// A hard link to an earlier entry, named as written.
    HardLink(String),
    /// A character or block device.
    Device,
    /// A named pipe.
    Fifo,
    /// Anything else (sparse files, unknown tar types), described in words.
    Unsupported(String),
}

/// One entry of an input archive, as the archive states it.
pub(crate) struct InputEntry<'a> {
    /// The entry's name as written (`/` separated; not yet checked or normalised).
    pub name: String,
    /// What the entry is.
    pub kind: EntryKind,
    /// Unix permission bits, if the archive records them.
    pub mode: Option<u32>,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
    /// Size of the data in bytes (0 for anything but files).
    pub size: u64,
    /// The entry's data.
    pub data: &'a mut dyn Read,
}

/// The largest symlink target read from a zip member (zip stores link targets as file data).
const MAX_ZIP_LINK_TARGET: u64 = 4096;

/// Walk every entry of the archive at `path`, in archive order.
///
/// `on_entry` returns `Ok(())` to go on; an error from it stops the walk and is returned as is.
/// Read failures and malformed archives become [`PackageError::Corrupt`] naming `asset_name`.
pub(crate) fn for_each_entry(
    path: &Path,
    asset_name: &str,
    mut on_entry: impl FnMut(InputEntry<'_>) -> Result<(), PackageError>,
) -> Result<(), PackageError> {
    let corrupt = |reason: String| PackageError::Corrupt {
        asset: asset_name.to_string(),
        reason,
    };
    let mut file = File::open(path).map_err(|e| corrupt(format!("cannot open: {e}")))?;
    let mut head = Vec::with_capacity(512);
    (&mut file)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| corrupt(format!("cannot read: {e}")))?;
    file.rewind()
        .map_err(|e| corrupt(format!("cannot read: {e}")))?;
    let format = ArchiveFormat::detect(&head).ok_or_else(|| {
        corrupt(
            "not a recognised archive (expected tar, tar.gz, tar.xz, tar.zst, tar.bz2 or zip)"
                .to_string(),
        )
    })?;
    tracing::debug!(asset = asset_name, ?format, "reading archive");
    let file = BufReader::with_capacity(256 * 1024, file);
    match format {
        ArchiveFormat::Tar => walk_tar(file, format, asset_name, &mut on_entry),
        ArchiveFormat::TarGzip => walk_tar(
            flate2::bufread::MultiGzDecoder::new(file),
            format,
            asset_name,
            &mut on_entry,
        ),
        ArchiveFormat::TarXz => walk_tar(
            liblzma::bufread::XzDecoder::new_multi_decoder(file),
            format,
            asset_name,
            &mut on_entry,
        ),
        ArchiveFormat::TarZstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(file)
                .map_err(|e| corrupt(format!("cannot start zstd decoding: {e}")))?;
            walk_tar(decoder, format, asset_name, &mut on_entry)
        }
        ArchiveFormat::TarBzip2 => walk_tar(
            bzip2::bufread::MultiBzDecoder::new(file),
            format,
            asset_name,
            &mut on_entry,
        ),
        ArchiveFormat::Zip => walk_zip(file, asset_name, &mut on_entry),
    }
}

/// Describe a read error in the context of the format, e.g. a truncated xz stream.
fn read_error(format: ArchiveFormat, e: &io::Error) -> String {
    let what = format.label();
    if e.kind() == io::ErrorKind::UnexpectedEof {
        format!("{what} archive is truncated: {e}")
    } else {
        format!("{what} archive is corrupt: {e}")
    }
}

fn walk_tar<R: Read>(
    reader: R,
    format: ArchiveFormat,
    asset_name: &str,
    on_entry: &mut dyn FnMut(InputEntry<'_>) -> Result<(), PackageError>,
) -> Result<(), PackageError> {
    let corrupt = |reason: String| PackageError::Corrupt {
        asset: asset_name.to_string(),
        reason,
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| corrupt(read_error(format, &e)))?;
    let mut seen_any = false;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(read_error(format, &e)))?;
        seen_any = true;
        let name_bytes = entry.path_bytes().into_owned();
        let Ok(name) = String::from_utf8(name_bytes) else {
            return Err(PackageError::UnsupportedEntry {
                asset: asset_name.to_string(),
                entry: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
                reason: "the name is not UTF-8".to_string(),
            });
        };
        let header = entry.header();
        let entry_type = header.entry_type();
        let link_target = || -> Result<String, PackageError> {
            let bytes = entry
                .link_name_bytes()
                .ok_or_else(|| corrupt(format!("link entry {name:?} has no target")))?;
            String::from_utf8(bytes.into_owned()).map_err(|_| PackageError::UnsupportedEntry {
                asset: asset_name.to_string(),
                entry: name.clone(),
                reason: "the link target is not UTF-8".to_string(),
            })
        };
        use tar::EntryType as T;
        let kind = match entry_type {
            T::Regular | T::Continuous => EntryKind::File,
            T::Directory => EntryKind::Directory,
            T::Symlink => EntryKind::Symlink(link_target()?),
            T::Link => EntryKind::HardLink(link_target()?),
            T::Char | T::Block => EntryKind::Device,
            T::Fifo => EntryKind::Fifo,
            // A pax global header only carries defaults for later entries; nothing to repack.
            T::XGlobalHeader => continue,
            T::GNUSparse => EntryKind::Unsupported("sparse files are not supported".to_string()),
            other => EntryKind::Unsupported(format!("tar entry type {:?}", other.as_byte())),
        };
        // Old tars mark directories only by a trailing slash on a "regular" entry.
        let kind = if kind == EntryKind::File && name.ends_with('/') {
            EntryKind::Directory
        } else {
            kind
        };
        let mode = header.mode().ok();
        let mtime = header.mtime().unwrap_or(0);
        let size = if kind == EntryKind::File {
            entry.size()
        } else {
            0
        };
        on_entry(InputEntry {
            name,
            kind,
            mode,
            mtime,
            size,
            data: &mut entry,
        })?;
    }
    // Read the rest of the stream: the tar walk stops at the end-of-archive marker, but the
    // compressed formats only verify their checksum (gzip CRC, xz check, zstd checksum) and
    // notice truncation when read to their very end.
    io::copy(&mut archive.into_inner(), &mut io::sink())
        .map_err(|e| corrupt(read_error(format, &e)))?;
    if !seen_any {
        // tar-rs accepts a stream that ends before the first header; a release archive with no
        // entries at all is far more likely a broken download than an intentionally empty one.
        return Err(corrupt(format!(
            "{} archive holds no entries",
            format.label()
        )));
    }
    Ok(())
}

fn walk_zip<R: Read + Seek>(
    reader: R,
    asset_name: &str,
    on_entry: &mut dyn FnMut(InputEntry<'_>) -> Result<(), PackageError>,
) -> Result<(), PackageError> {
    let corrupt = |reason: String| PackageError::Corrupt {
        asset: asset_name.to_string(),
        reason,
    };
    // The zip reader reads the central directory (one small record per member) up front and then
    // seeks to each member; member data is still streamed.
    let mut archive = zip::ZipArchive::new(reader)
        .map_err(|e| corrupt(format!("zip archive is corrupt: {e}")))?;
    for index in 0..archive.len() {
        let mut member = archive
            .by_index(index)
            .map_err(|e| corrupt(format!("zip archive is corrupt: {e}")))?;
        let name = member
            .name()
            .map_err(|e| corrupt(format!("zip member {index} has an unreadable name: {e}")))?
            // Zips written on Windows sometimes use backslashes as separators.
            .replace('\\', "/");
        if member.encrypted() {
            return Err(PackageError::UnsupportedEntry {
                asset: asset_name.to_string(),
                entry: name,
                reason: "encrypted zip members are not supported".to_string(),
            });
        }
        let mode = member.unix_mode();
        let mtime = member.last_modified().map(zip_mtime).unwrap_or(0);
        let kind = if member.is_symlink() {
            let mut target = String::new();
            (&mut member)
                .take(MAX_ZIP_LINK_TARGET)
                .read_to_string(&mut target)
                .map_err(|e| corrupt(format!("zip member {name:?}: {e}")))?;
            EntryKind::Symlink(target)
        } else if member.is_dir() {
            EntryKind::Directory
        } else {
            match mode.map(|m| m & 0o170000) {
                Some(0o020000) | Some(0o060000) => EntryKind::Device,
                Some(0o010000) => EntryKind::Fifo,
                _ => EntryKind::File,
            }
        };
        let size = if kind == EntryKind::File {
            member.size()
        } else {
            0
        };
        on_entry(InputEntry {
            name,
            kind,
            mode,
            mtime,
            size,
            data: &mut member,
        })?;
    }
    Ok(())
}

/// A zip member's DOS timestamp as seconds since the epoch. DOS time has no zone; it is read as
/// UTC so the result does not depend on the machine doing the packaging.
fn zip_mtime(dt: zip::DateTime) -> u64 {
    let Ok(month) = time::Month::try_from(dt.month()) else {
        return 0;
    };
    let Ok(date) = time::Date::from_calendar_date(i32::from(dt.year()), month, dt.day()) else {
        return 0;
    };
    let Ok(clock) = time::Time::from_hms(dt.hour(), dt.minute(), dt.second()) else {
        return 0;
    };
    let seconds = time::PrimitiveDateTime::new(date, clock)
        .assume_utc()
        .unix_timestamp();
    u64::try_from(seconds).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats_by_magic_bytes() {
        let mut ustar = vec![0u8; 512];
        ustar[0] = b'a';
        ustar[257..262].copy_from_slice(b"ustar");
        let cases: [(&[u8], Option<ArchiveFormat>); 8] = [
            (&[0x1f, 0x8b, 8, 0], Some(ArchiveFormat::TarGzip)),
            (b"\xfd7zXZ\x00\x00", Some(ArchiveFormat::TarXz)),
            (&[0x28, 0xb5, 0x2f, 0xfd, 0], Some(ArchiveFormat::TarZstd)),
            (b"BZh91AY", Some(ArchiveFormat::TarBzip2)),
            (b"PK\x03\x04rest", Some(ArchiveFormat::Zip)),
            (&ustar, Some(ArchiveFormat::Tar)),
            (b"#!/bin/sh\n", None),
            (&[], None),
        ];
        for (head, want) in cases {
            assert_eq!(ArchiveFormat::detect(head), want, "{head:?}");
        }
    }
}
