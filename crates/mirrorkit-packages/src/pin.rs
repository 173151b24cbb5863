//! What a versioned PURL's qualifiers pin of a registry package (`pkg:pypi/x@1.0?file_name=…`,
//! `checksum=sha256:…`, `download_url=…`): which of the version's files are mirrored, the digest
//! each must have besides the registry's own, and where one is downloaded from. The registry's
//! digest is always checked; a pin only narrows and adds.

use mirrorkit_core::digest::Digest;
use mirrorkit_core::http::redact::SafeUrl;
use url::Url;

use crate::ecosystem::RemoteFile;

/// The qualifiers of one PURL naming a version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pin {
    /// Only this file of the version.
    pub(crate) file_name: Option<String>,
    /// Digests the file must have.
    pub(crate) checksums: Vec<Digest>,
    /// Download the file from here (it is still checked against the registry's digest).
    pub(crate) download_url: Option<Url>,
    /// The PURL and where it was written, for messages.
    pub(crate) origin: String,
}

impl Pin {
    /// Whether the PURL pins anything.
    pub(crate) fn is_empty(&self) -> bool {
        self.file_name.is_none() && self.checksums.is_empty() && self.download_url.is_none()
    }
}

fn file_name(f: &RemoteFile) -> &str {
    f.tree_path.rsplit('/').next().unwrap_or_default()
}

/// The files of `version` the PURLs naming it ask for, with the digests each must also have
/// and the URL to fetch it from; why not, when a pin matches nothing. Each PURL's pin is applied
/// to every file of the version and the results are joined (two PURLs may pin two wheels); a PURL
/// with no pin asks for every file. A companion file (PyPI's `.metadata`) goes with its file.
pub(crate) fn apply(
    files: Vec<RemoteFile>,
    pins: &[Pin],
    version: &str,
) -> Result<Vec<RemoteFile>, String> {
    if pins.is_empty() || pins.iter().any(Pin::is_empty) {
        return Ok(files);
    }
    let names: Vec<String> = files.iter().map(|f| file_name(f).to_string()).collect();
    let is_companion = |f: &RemoteFile| {
        file_name(f)
            .strip_suffix(".metadata")
            .is_some_and(|base| names.iter().any(|n| n == base))
    };
    let (mains, companions): (Vec<RemoteFile>, Vec<RemoteFile>) =
        files.into_iter().partition(|f| !is_companion(f));
    let mut kept: Vec<RemoteFile> = Vec::new();
    for pin in pins {
        for f in one_pin(mains.clone(), pin, version, &names)? {
            match kept.iter_mut().find(|k| k.tree_path == f.tree_path) {
                Some(k) => {
                    for d in f.also {
                        if !k.also.contains(&d) {
                            k.also.push(d);
                        }
                    }
                }
                None => kept.push(f),
            }
        }
    }
    let kept_names: Vec<String> = kept.iter().map(|f| file_name(f).to_string()).collect();
    kept.extend(companions.into_iter().filter(|c| {
        file_name(c)
            .strip_suffix(".metadata")
            .is_some_and(|base| kept_names.iter().any(|k| k == base))
    }));
    Ok(kept)
}

/// The files one PURL's pin leaves of `mains`.
fn one_pin(
    mut mains: Vec<RemoteFile>,
    pin: &Pin,
    version: &str,
    names: &[String],
) -> Result<Vec<RemoteFile>, String> {
    if let Some(wanted) = &pin.file_name {
        mains.retain(|f| file_name(f) == wanted);
        if mains.is_empty() {
            return Err(format!(
                "{}: {version} has no file {wanted:?} (it has {})",
                pin.origin,
                list(names)
            ));
        }
    }
    if !pin.checksums.is_empty() {
        mains = by_checksum(mains, pin, version)?;
    }
    if let Some(url) = &pin.download_url {
        let [f] = mains.as_mut_slice() else {
            return Err(format!(
                "{}: download_url names one file, and {version} has {} ({}); add file_name",
                pin.origin,
                mains.len(),
                list(
                    &mains
                        .iter()
                        .map(|f| file_name(f).to_string())
                        .collect::<Vec<_>>()
                )
            ));
        };
        tracing::debug!(file = %file_name(f), url = %SafeUrl::new(url), "download_url");
        f.url = url.clone();
    }
    Ok(mains)
}

/// The files that have the pin's checksums: one whose registry digest is of the same
/// algorithm must equal it; one of another algorithm is checked after the download
/// ([`RemoteFile::also`]). With several files (PyPI), only those whose registry digest confirms
/// a checksum are kept.
fn by_checksum(
    mains: Vec<RemoteFile>,
    pin: &Pin,
    version: &str,
) -> Result<Vec<RemoteFile>, String> {
    let several = mains.len() > 1;
    let mut kept = Vec::new();
    let mut refused = Vec::new();
    for mut f in mains {
        let same: Vec<&Digest> = pin
            .checksums
            .iter()
            .filter(|c| {
                f.digest
                    .as_ref()
                    .is_some_and(|d| d.algorithm() == c.algorithm())
            })
            .collect();
        if let Some(bad) = same.iter().find(|c| f.digest.as_ref() != Some(**c)) {
            refused.push(format!(
                "{}: the registry's digest is {}, not {bad}",
                file_name(&f),
                f.digest
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ));
            continue;
        }
        if several && same.is_empty() {
            refused.push(format!(
                "{}: the registry gives no digest of the checksum's algorithm",
                file_name(&f)
            ));
            continue;
        }
        f.also
            .extend(pin.checksums.iter().filter(|c| !same.contains(c)).cloned());
        kept.push(f);
    }
    if kept.is_empty() {
        return Err(format!(
            "{}: no file of {version} has the checksum ({})",
            pin.origin,
            refused.join("; ")
        ));
    }
    Ok(kept)
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// Why the file at `path` does not have every digest of `also`, if it does not.
pub(crate) fn check_also(
    path: &std::path::Path,
    also: &[Digest],
    what: &str,
) -> Result<(), String> {
    for want in also {
        let (got, _) = mirrorkit_core::digest::hash_file(path, want.algorithm())
            .map_err(|e| format!("{what}: {e}"))?;
        if &got != want {
            return Err(format!(
                "{what}: {got}, not the checksum qualifier's {want}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, digest: &str) -> RemoteFile {
        RemoteFile {
            url: Url::parse(&format!("http://up.test/{name}")).unwrap(),
            digest: Some(digest.parse().unwrap()),
            tree_path: format!("pypi/files/x/{name}"),
            also: Vec::new(),
        }
    }

    fn sha256(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn sha512(c: char) -> String {
        format!("sha512:{}", c.to_string().repeat(128))
    }

    fn pin(file_name: Option<&str>, checksums: &[String], url: Option<&str>) -> Pin {
        Pin {
            file_name: file_name.map(str::to_string),
            checksums: checksums.iter().map(|c| c.parse().unwrap()).collect(),
            download_url: url.map(|u| Url::parse(u).unwrap()),
            origin: "pkg:pypi/x@1.0 (argument 1)".into(),
        }
    }

    fn names(files: &[RemoteFile]) -> Vec<&str> {
        files.iter().map(file_name).collect()
    }

    fn pypi_files() -> Vec<RemoteFile> {
        vec![
            file("x-1.0-py3-none-any.whl", &sha256('a')),
            file("x-1.0-py3-none-any.whl.metadata", &sha256('b')),
            file("x-1.0.tar.gz", &sha256('c')),
        ]
    }

    #[test]
    fn file_name_and_checksum_narrow_the_files_and_companions_follow() {
        let kept = apply(pypi_files(), &[pin(Some("x-1.0.tar.gz"), &[], None)], "1.0").unwrap();
        assert_eq!(names(&kept), ["x-1.0.tar.gz"]);
        let kept = apply(pypi_files(), &[pin(None, &[sha256('a')], None)], "1.0").unwrap();
        assert_eq!(
            names(&kept),
            ["x-1.0-py3-none-any.whl", "x-1.0-py3-none-any.whl.metadata"]
        );
        let e = apply(pypi_files(), &[pin(Some("x-2.0.tar.gz"), &[], None)], "1.0").unwrap_err();
        assert!(
            e.contains("has no file \"x-2.0.tar.gz\"") && e.contains("argument 1"),
            "{e}"
        );
        let e = apply(pypi_files(), &[pin(None, &[sha256('f')], None)], "1.0").unwrap_err();
        assert!(e.contains("no file of 1.0 has the checksum"), "{e}");
        // Several files and only a SHA-512: none can be told by the registry's digest.
        assert!(apply(pypi_files(), &[pin(None, &[sha512('a')], None)], "1.0").is_err());
    }

    #[test]
    fn pins_of_several_purls_join_and_an_unpinned_purl_takes_every_file() {
        let wheel = pin(Some("x-1.0-py3-none-any.whl"), &[], None);
        let sdist = pin(Some("x-1.0.tar.gz"), &[], None);
        let kept = apply(pypi_files(), &[wheel.clone(), sdist], "1.0").unwrap();
        assert_eq!(
            names(&kept),
            [
                "x-1.0-py3-none-any.whl",
                "x-1.0.tar.gz",
                "x-1.0-py3-none-any.whl.metadata"
            ]
        );
        let all = pin(None, &[], None);
        assert_eq!(apply(pypi_files(), &[wheel, all], "1.0").unwrap().len(), 3);
    }

    #[test]
    fn one_file_is_checked_now_or_after_its_download() {
        let npm = || vec![file("x-1.0.tgz", &sha512('a'))];
        let e = apply(npm(), &[pin(None, &[sha512('b')], None)], "1.0").unwrap_err();
        assert!(e.contains("the registry's digest is sha512:aaa"), "{e}");
        let kept = apply(npm(), &[pin(None, &[sha256('c')], None)], "1.0").unwrap();
        assert_eq!(kept[0].also, [sha256('c').parse::<Digest>().unwrap()]);
    }

    #[test]
    fn download_url_moves_one_file() {
        let kept = apply(
            pypi_files(),
            &[pin(
                Some("x-1.0.tar.gz"),
                &[],
                Some("https://cdn.test/x.tgz"),
            )],
            "1.0",
        )
        .unwrap();
        assert_eq!(kept[0].url.as_str(), "https://cdn.test/x.tgz");
        let e = apply(
            pypi_files(),
            &[pin(None, &[], Some("https://cdn.test/x"))],
            "1.0",
        )
        .unwrap_err();
        assert!(e.contains("add file_name"), "{e}");
    }

    #[test]
    fn check_also_hashes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        let good = Digest::sha256_of(b"hello");
        assert!(check_also(&p, std::slice::from_ref(&good), "f").is_ok());
        let bad = Digest::sha256_of(b"other");
        assert!(
            check_also(&p, &[bad], "f")
                .unwrap_err()
                .contains("not the checksum")
        );
    }
}
