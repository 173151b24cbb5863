//! Layer compression: xz (multi-threaded, the default), zstd (multi-threaded) and gzip.
//!
//! All three encoders are deterministic for a given level, so the same tar always compresses to
//! the same blob and therefore the same layer digest — on any machine, with any thread count:
//! - xz always goes through liblzma's multi-threaded encoder, whose block size depends on the
//!   preset, not on the number of threads (the single-threaded encoder writes one block and would
//!   give different bytes, so it is never used, even for `threads: 1`);
//! - zstd always runs with at least one worker; zstd's output with workers ≥ 1 does not depend on
//!   how many there are;
//! - gzip (flate2) writes a header with mtime 0 and no file name.

use std::io::{self, Write};

use liblzma::stream::{Check, MtStreamBuilder};

use super::error::PackageError;
use super::manifest::{
    MEDIA_TYPE_LAYER_TAR_GZIP, MEDIA_TYPE_LAYER_TAR_XZ, MEDIA_TYPE_LAYER_TAR_ZSTD,
};

/// Memory the xz encoder may use for its worker threads before it uses fewer of them.
const XZ_THREADING_MEMLIMIT: u64 = 1 << 30;

/// How a layer's tar is compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// xz (LZMA2), multi-threaded; the ocx convention and the default.
    #[default]
    Xz,
    /// zstd, multi-threaded.
    Zstd,
    /// gzip (deflate), single-threaded; the most widely readable.
    Gzip,
}

impl Compression {
    /// The layer media type for a tar compressed this way.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Xz => MEDIA_TYPE_LAYER_TAR_XZ,
            Compression::Zstd => MEDIA_TYPE_LAYER_TAR_ZSTD,
            Compression::Gzip => MEDIA_TYPE_LAYER_TAR_GZIP,
        }
    }

    /// The file extension of a tar compressed this way (`tar.xz`, `tar.zst`, `tar.gz`).
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Xz => "tar.xz",
            Compression::Zstd => "tar.zst",
            Compression::Gzip => "tar.gz",
        }
    }

    /// The level used when none is configured: xz preset 6, zstd 3, gzip 6 (each tool's own
    /// default).
    pub fn default_level(self) -> u32 {
        match self {
            Compression::Xz => 6,
            Compression::Zstd => 3,
            Compression::Gzip => 6,
        }
    }

    /// The highest level the encoder accepts.
    fn max_level(self) -> u32 {
        match self {
            Compression::Xz => 9,
            Compression::Zstd => 22,
            Compression::Gzip => 9,
        }
    }
}

/// A compressing writer of any of the supported kinds.
pub(crate) enum Encoder<W: Write> {
    Xz(liblzma::write::XzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    Gzip(flate2::write::GzEncoder<W>),
}

impl<W: Write> Encoder<W> {
    /// An encoder writing into `inner`. `threads` of `None` means all available cores.
    pub(crate) fn new(
        inner: W,
        compression: Compression,
        level: Option<u32>,
        threads: Option<u32>,
    ) -> Result<Encoder<W>, PackageError> {
        let level = level.unwrap_or(compression.default_level());
        let min_level = if compression == Compression::Zstd {
            1
        } else {
            0
        };
        if level < min_level || level > compression.max_level() {
            return Err(PackageError::InvalidOptions(format!(
                "{compression:?} level {level} is out of range {min_level}..={}",
                compression.max_level()
            )));
        }
        let threads = match threads {
            Some(0) => {
                return Err(PackageError::InvalidOptions(
                    "threads must be at least 1".to_string(),
                ));
            }
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
                .unwrap_or(1),
        };
        let setup = |e: io::Error| {
            PackageError::InvalidOptions(format!("cannot set up the {compression:?} encoder: {e}"))
        };
        Ok(match compression {
            Compression::Xz => {
                let stream = MtStreamBuilder::new()
                    .threads(threads)
                    .preset(level)
                    // CRC64 is what the `xz` tool writes by default.
                    .check(Check::Crc64)
                    // Each xz worker needs roughly 3 × the block size (about 170 MiB at preset
                    // 6); on a many-core machine that adds up to gigabytes. liblzma lowers the
                    // thread count to stay under this limit, which leaves the output unchanged.
                    .memlimit_threading(XZ_THREADING_MEMLIMIT)
                    .encoder()
                    .map_err(|e| setup(e.into()))?;
                Encoder::Xz(liblzma::write::XzEncoder::new_stream(inner, stream))
            }
            Compression::Zstd => {
                // `level` was range-checked above, so the conversion cannot fail.
                let level = i32::try_from(level).unwrap_or(3);
                let mut enc = zstd::stream::write::Encoder::new(inner, level).map_err(setup)?;
                enc.multithread(threads).map_err(setup)?;
                enc.include_checksum(true).map_err(setup)?;
                Encoder::Zstd(enc)
            }
            Compression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                inner,
                flate2::Compression::new(level),
            )),
        })
    }

    /// Flush everything, write the stream trailer and give the inner writer back.
    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Xz(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
            Encoder::Gzip(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Xz(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Gzip(e) => e.write(buf),
        }
    }

    /// Deliberately does nothing. A flush in the middle of an xz, zstd or gzip stream ends a
    /// block early, so the compressed bytes (and the layer digest) would depend on when a caller
    /// happened to flush; [`Encoder::finish`] writes everything out instead.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
