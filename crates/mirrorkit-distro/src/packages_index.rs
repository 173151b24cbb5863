//! A `Packages` index (`Filename`, `Size`, `SHA256` per stanza) or a `Sources` index
//! (`Directory` and the `Checksums-Sha256` list per stanza): the files of the pool it names,
//! read one stanza at a time from the (decompressed) index.

use std::io::BufRead;

use crate::deb822::Paragraphs;
use crate::release::{checksums, is_safe_path};

/// A pool file a `Packages` stanza names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolFile {
    /// The package name.
    pub package: String,
    /// Its version.
    pub version: String,
    /// Its architecture.
    pub architecture: String,
    /// The path under the repository root (`pool/main/h/hello/hello_1.0_amd64.deb`).
    pub filename: String,
    /// Its size.
    pub size: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
}

/// Every stanza of `index` as a pool file; `Err` names the stanza (by package) or line.
pub fn read(index: impl BufRead) -> Result<Vec<PoolFile>, String> {
    let mut out = Vec::new();
    for p in Paragraphs::new(index) {
        let p = p?;
        let field = |name: &str| -> Result<String, String> {
            p.get(name).map(str::to_string).ok_or_else(|| {
                format!(
                    "package {}: no {name} field",
                    p.get("Package").unwrap_or("(unnamed)")
                )
            })
        };
        let package = field("Package")?;
        let filename = field("Filename")?;
        if !is_safe_path(&filename) {
            return Err(format!(
                "package {package}: Filename {filename:?} is not a path inside the repository"
            ));
        }
        let size = field("Size")?
            .parse::<u64>()
            .map_err(|_| format!("package {package}: Size is not a number"))?;
        let sha256 = field("SHA256")?.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "package {package}: SHA256 {sha256:?} is not a digest"
            ));
        }
        out.push(PoolFile {
            package,
            version: field("Version")?,
            architecture: field("Architecture")?,
            filename,
            size,
            sha256,
        });
    }
    Ok(out)
}

/// Every file of every stanza of the `Sources` index `index` (the `.dsc` and the tarballs
/// under the stanza's `Directory`); `Err` names the stanza or line.
pub fn read_sources(index: impl BufRead) -> Result<Vec<PoolFile>, String> {
    let mut out = Vec::new();
    for p in Paragraphs::new(index) {
        let p = p?;
        let package = p
            .get("Package")
            .ok_or("a stanza with no Package field")?
            .to_string();
        let field = |name: &str| {
            p.get(name)
                .ok_or_else(|| format!("source {package}: no {name} field"))
        };
        let directory = field("Directory")?;
        if !is_safe_path(directory) {
            return Err(format!(
                "source {package}: Directory {directory:?} is not a path inside the repository"
            ));
        }
        let version = field("Version")?.to_string();
        let files = checksums(field("Checksums-Sha256")?, 64, "Checksums-Sha256")
            .map_err(|e| format!("source {package}: {e}"))?;
        if files.is_empty() {
            return Err(format!("source {package}: Checksums-Sha256 lists no file"));
        }
        for (sha256, size, name) in files {
            if name.contains('/') {
                return Err(format!(
                    "source {package}: {name:?} is not a file name in its Directory"
                ));
            }
            out.push(PoolFile {
                package: package.clone(),
                version: version.clone(),
                architecture: "source".to_string(),
                filename: format!("{directory}/{name}"),
                size,
                sha256,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SOURCE: &str = "Package: hello\nBinary: hello\nVersion: 1.0\nDirectory: pool/main/h/hello\nChecksums-Sha256:\n aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 500 hello_1.0.dsc\n bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 7000 hello_1.0.tar.xz\n";

    #[test]
    fn source_stanzas_become_their_files() {
        let files = read_sources(SOURCE.as_bytes()).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].filename, "pool/main/h/hello/hello_1.0.dsc");
        assert_eq!(files[1].size, 7000);
        assert_eq!(files[1].architecture, "source");
        let e = read_sources(SOURCE.replace("pool/main/h/hello", "../x").as_bytes()).unwrap_err();
        assert!(e.contains("hello") && e.contains("Directory"), "{e}");
        let e = read_sources(
            SOURCE
                .replace(" hello_1.0.dsc", " ../hello_1.0.dsc")
                .as_bytes(),
        )
        .unwrap_err();
        assert!(e.contains("hello"), "{e}");
        let e = read_sources("Package: x\nVersion: 1\nDirectory: pool/x\n".as_bytes()).unwrap_err();
        assert!(e.contains("Checksums-Sha256"), "{e}");
    }

    const STANZA: &str = "Package: hello\nVersion: 1.0\nArchitecture: amd64\nFilename: pool/main/h/hello/hello_1.0_amd64.deb\nSize: 1234\nSHA256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nDescription: hi\n there\n";

    #[test]
    fn stanzas_become_pool_files() {
        let files =
            read(format!("{STANZA}\n{}", STANZA.replace("hello", "bye")).as_bytes()).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].filename, "pool/main/h/hello/hello_1.0_amd64.deb");
        assert_eq!(files[1].package, "bye");
        assert_eq!(files[0].size, 1234);
    }

    #[test]
    fn a_filename_leaving_the_repository_or_a_bad_digest_is_refused() {
        let e = read(STANZA.replace("pool/main", "../../etc").as_bytes()).unwrap_err();
        assert!(e.contains("hello") && e.contains("not a path"), "{e}");
        let e = read(STANZA.replace("SHA256: aaaa", "SHA256: zz").as_bytes()).unwrap_err();
        assert!(e.contains("not a digest"), "{e}");
        let e = read("Package: x\nVersion: 1\n".as_bytes()).unwrap_err();
        assert!(e.contains("no Filename"), "{e}");
    }

    proptest! {
        #[test]
        fn any_index_is_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = read(&bytes[..]);
            let _ = read_sources(&bytes[..]);
        }
    }
}
