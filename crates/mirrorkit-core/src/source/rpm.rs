//! What a `type: rpm` source names: the repository URL (the directory holding `repodata/`),
//! the keyring its `repomd.xml.asc` must be signed with, package filters, and the repository's
//! place (`prefix`) under the target's root.

use url::Url;

/// A validated `type: rpm` source.
#[derive(Clone, Debug)]
pub struct RpmSource {
    /// The repository's base URL (holds `repodata/`), ending in `/`; with `mirrorlist`, the
    /// URL of the mirror list.
    pub url: Url,
    /// `url` is a mirror list: one base URL per line, tried in order.
    pub mirrorlist: bool,
    /// The keys `repomd.xml.asc` is checked against.
    pub keys: super::distro::Keys,
    /// Only packages whose name matches one of these (all when empty).
    pub include: Vec<regex::Regex>,
    /// Never packages whose name matches one of these.
    pub exclude: Vec<regex::Regex>,
    /// The repository's place under the target root (`mirror/<prefix>/`).
    pub prefix: String,
    /// Also check each package's own signature (its header signature) against the keyring.
    pub gpgcheck: bool,
}

impl RpmSource {
    /// Whether the package `name` is mirrored by the include/exclude filters.
    pub fn wants(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(name)))
            && !self.exclude.iter().any(|r| r.is_match(name))
    }
}
