//! Index and metadata files as repositories compress them, read as a stream by their suffix:
//! plain, `.gz`, `.xz`, `.bz2`, `.zst`.

use std::io::{BufRead, BufReader};
use std::path::Path;

/// The compression suffix of `name` (`""` for none).
pub fn suffix(name: &str) -> &'static str {
    [".gz", ".xz", ".bz2", ".zst"]
        .into_iter()
        .find(|s| name.ends_with(s))
        .unwrap_or("")
}

/// `path` decompressed as its name (or `name`, when the file is stored under another, such as
/// the pool's hash) says.
pub fn open(path: &Path, name: &str) -> Result<Box<dyn BufRead>, String> {
    let io = |e: std::io::Error| format!("{}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(io)?;
    Ok(match suffix(name) {
        ".gz" => Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file))),
        ".xz" => Box::new(BufReader::new(liblzma::read::XzDecoder::new(file))),
        ".bz2" => Box::new(BufReader::new(bzip2::read::MultiBzDecoder::new(file))),
        ".zst" => Box::new(BufReader::new(
            zstd::stream::read::Decoder::new(file).map_err(io)?,
        )),
        _ => Box::new(BufReader::new(file)),
    })
}
