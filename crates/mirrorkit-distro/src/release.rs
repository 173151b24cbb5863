//! A suite's `Release` (the text `InRelease` signs): its dates and the indexes it lists with
//! their sizes and SHA-256 (and SHA-512) digests, every one of which is checked before use.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::deb822::Paragraphs;

/// An index a `Release` lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
    /// Its SHA-512, lowercase hex, when the `Release` has a `SHA512` list.
    pub sha512: Option<String>,
}

/// A parsed `Release`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Release {
    /// `Suite`.
    pub suite: Option<String>,
    /// `Codename`.
    pub codename: Option<String>,
    /// `Date`.
    pub date: Option<OffsetDateTime>,
    /// `Valid-Until`.
    pub valid_until: Option<OffsetDateTime>,
    /// `Acquire-By-Hash: yes`: indexes are also served at `by-hash/SHA256/<hash>`.
    pub acquire_by_hash: bool,
    /// Every index, by its path under `dists/<suite>/`.
    pub files: BTreeMap<String, Listed>,
}

/// An RFC 2822 date as `Release` files write it (`Sat, 10 Aug 2024 09:42:31 UTC`).
pub fn parse_date(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    // `UTC` is what dak and apt-ftparchive write; RFC 2822 spells it `+0000`.
    let normalised = match text
        .strip_suffix(" UTC")
        .or_else(|| text.strip_suffix(" GMT"))
    {
        Some(rest) => format!("{rest} +0000"),
        None => text.to_string(),
    };
    OffsetDateTime::parse(&normalised, &time::format_description::well_known::Rfc2822).ok()
}

/// The lines of a checksum list (`<hex> <size> <path>`: `Release`'s `SHA256`, a `Sources`
/// stanza's `Checksums-Sha256`).
pub(crate) fn checksums(
    value: &str,
    hex_len: usize,
    field: &str,
) -> Result<Vec<(String, u64, String)>, String> {
    let mut out = Vec::new();
    for line in value.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut parts = line.split_whitespace();
        let (Some(hash), Some(size), Some(path), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("{field}: {line:?} is not `<hash> <size> <path>`"));
        };
        let hash = hash.to_ascii_lowercase();
        if hash.len() != hex_len || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{field}: {hash:?} is not a {field} digest"));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| format!("{field}: {size:?} is not a size"))?;
        if !is_safe_path(path) {
            return Err(format!("{field}: {path:?} is not a path inside the suite"));
        }
        out.push((hash, size, path.to_string()));
    }
    Ok(out)
}

/// A relative path with no `.`/`..`/empty segment and no backslash or NUL: it can be joined
/// under a directory without leaving it.
pub fn is_safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        // `file:x` or `https:host` would change scheme when joined to a URL.
        && !path.split('/').next().is_some_and(|first| first.contains(':'))
        && !path.contains(['\\', '\0'])
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

impl Release {
    /// Parse the text of a `Release` (or the signed text of an `InRelease`).
    pub fn parse(text: &str) -> Result<Release, String> {
        let mut paragraphs = Paragraphs::new(text.as_bytes());
        let p = match paragraphs.next_paragraph() {
            Some(p) => p?,
            None => return Err("empty".to_string()),
        };
        let date = |name: &str| -> Result<Option<OffsetDateTime>, String> {
            p.get(name)
                .map(|d| parse_date(d).ok_or_else(|| format!("{name}: {d:?} is not a date")))
                .transpose()
        };
        let sha256 = checksums(p.get("SHA256").unwrap_or_default(), 64, "SHA256")?;
        if sha256.is_empty() {
            return Err("no SHA256 list: its indexes cannot be verified".to_string());
        }
        let sha512: BTreeMap<String, (String, u64)> =
            checksums(p.get("SHA512").unwrap_or_default(), 128, "SHA512")?
                .into_iter()
                .map(|(h, s, path)| (path, (h, s)))
                .collect();
        let mut files = BTreeMap::new();
        for (hash, size, path) in sha256 {
            let sha512 = match sha512.get(&path) {
                Some((h, s)) if *s == size => Some(h.clone()),
                Some((_, s)) => {
                    return Err(format!("{path}: SHA256 says {size} bytes, SHA512 says {s}"));
                }
                None => None,
            };
            files.insert(
                path,
                Listed {
                    size,
                    sha256: hash,
                    sha512,
                },
            );
        }
        Ok(Release {
            suite: p.get("Suite").map(str::to_string),
            codename: p.get("Codename").map(str::to_string),
            date: date("Date")?,
            valid_until: date("Valid-Until")?,
            acquire_by_hash: p
                .get("Acquire-By-Hash")
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RELEASE: &str = "Origin: Test\nSuite: stable\nCodename: bookworm\nDate: Sat, 10 Aug 2024 09:42:31 UTC\nValid-Until: Sat, 17 Aug 2024 09:42:31 UTC\nAcquire-By-Hash: yes\nArchitectures: amd64\nComponents: main\nSHA256:\n 0000000000000000000000000000000000000000000000000000000000000000 12 main/binary-amd64/Packages\n 1111111111111111111111111111111111111111111111111111111111111111 7 main/binary-amd64/Packages.xz\n";

    #[test]
    fn dates_hashes_and_by_hash() {
        let r = Release::parse(RELEASE).unwrap();
        assert_eq!(r.codename.as_deref(), Some("bookworm"));
        assert_eq!(r.date.unwrap().unix_timestamp(), 1_723_282_951);
        assert_eq!(
            r.valid_until.unwrap() - r.date.unwrap(),
            time::Duration::days(7)
        );
        assert!(r.acquire_by_hash);
        assert_eq!(r.files.len(), 2);
        assert_eq!(r.files["main/binary-amd64/Packages.xz"].size, 7);
    }

    #[test]
    fn what_cannot_be_verified_or_escapes_is_refused() {
        assert!(Release::parse("Suite: x\n").unwrap_err().contains("SHA256"));
        let escaping = RELEASE.replace("main/binary-amd64/Packages.xz", "../../etc/passwd");
        assert!(
            Release::parse(&escaping)
                .unwrap_err()
                .contains("not a path")
        );
        let short = RELEASE.replace("1111", "11");
        assert!(Release::parse(&short).is_err());
        let bad_date = RELEASE.replace("Sat, 10 Aug 2024", "someday");
        assert!(Release::parse(&bad_date).unwrap_err().contains("Date"));
    }

    proptest! {
        #[test]
        fn any_text_parses_or_is_refused(text in "\\PC{0,400}") {
            let _ = Release::parse(&text);
        }
    }
}
