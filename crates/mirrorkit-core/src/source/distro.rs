//! The distribution repositories a spec names (`type: apt`, `type: rpm`), as the distribution
//! family and the `repo` stages see them.

use std::path::PathBuf;

use url::Url;

use super::apt::AptSource;
use super::rpm::RpmSource;

/// An apt or rpm source.
#[derive(Clone, Copy, Debug)]
pub enum DistroSource<'a> {
    /// An apt repository.
    Apt(&'a AptSource),
    /// An rpm repository.
    Rpm(&'a RpmSource),
}

impl DistroSource<'_> {
    /// Its place under the target root.
    pub fn prefix(&self) -> &str {
        match self {
            DistroSource::Apt(a) => &a.prefix,
            DistroSource::Rpm(r) => &r.prefix,
        }
    }

    /// Its upstream URL.
    pub fn url(&self) -> &Url {
        match self {
            DistroSource::Apt(a) => &a.url,
            DistroSource::Rpm(r) => &r.url,
        }
    }

    /// `apt` or `rpm`.
    pub fn format(&self) -> &'static str {
        match self {
            DistroSource::Apt(_) => "apt",
            DistroSource::Rpm(_) => "rpm",
        }
    }
}

/// The keys a repository's metadata must be signed with: a keyring file, the keys with these
/// fingerprints (taken from the file, or from the system's keyrings when no file is given), or
/// both (the file's keys narrowed to these).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keys {
    /// A keyring (`.gpg` binary or `.asc` armored).
    pub file: Option<PathBuf>,
    /// Primary or subkey fingerprints, upper-case hex without spaces (40 or 64 digits).
    pub fingerprints: Vec<String>,
}

impl Keys {
    /// `fingerprint` as kept: spaces removed, upper case; `None` when it is not 40 (v4) or 64
    /// (v6) hex digits.
    pub fn normalise_fingerprint(fingerprint: &str) -> Option<String> {
        let fp: String = fingerprint
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        let fp = fp.strip_prefix("0X").map(str::to_string).unwrap_or(fp);
        ((fp.len() == 40 || fp.len() == 64) && fp.bytes().all(|b| b.is_ascii_hexdigit()))
            .then_some(fp)
    }

    /// The keys in words, for messages: the file, or the fingerprints.
    pub fn describe(&self) -> String {
        match (&self.file, self.fingerprints.as_slice()) {
            (Some(f), []) => f.display().to_string(),
            (Some(f), fps) => format!("{} (keys {})", f.display(), fps.join(", ")),
            (None, fps) => format!("the system keyrings (keys {})", fps.join(", ")),
        }
    }
}
