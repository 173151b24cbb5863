//! What a `type: apt` source names: the repository URL, the suites, components and
//! architectures mirrored, the keyring their `InRelease` must be signed with, package filters,
//! and the repository's place (`prefix`) under the target's root. Validated offline; the
//! distribution family (`mirrorkit-distro`) does the rest.

use url::Url;

/// A validated `type: apt` source.
#[derive(Clone, Debug)]
pub struct AptSource {
    /// The repository's base URL (the directory holding `dists/` and `pool/`), ending in `/`.
    pub url: Url,
    /// The suites (`bookworm`, `stable`, …).
    pub suites: Vec<String>,
    /// The components (`main`, `contrib`, …).
    pub components: Vec<String>,
    /// The architectures (`amd64`, …, and `all`).
    pub architectures: Vec<String>,
    /// The keys the suites' signatures are checked against.
    pub keys: super::distro::Keys,
    /// Only packages whose name matches one of these (all when empty).
    pub include: Vec<regex::Regex>,
    /// Never packages whose name matches one of these.
    pub exclude: Vec<regex::Regex>,
    /// Accept a `Release` past its `Valid-Until`.
    pub ignore_valid_until: bool,
    /// What is mirrored besides the binary packages.
    pub extras: AptExtras,
    /// The repository's place under the target root (`mirror/<prefix>/`).
    pub prefix: String,
}

/// The parts of an apt repository mirrored besides `Packages` and the `.deb`s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AptExtras {
    /// `Sources` and the files each source package names.
    pub sources: bool,
    /// `debian-installer/binary-<arch>/Packages` and its `.udeb`s.
    pub udebs: bool,
    /// The `i18n/Translation-<lang>` indexes for these languages.
    pub translations: Vec<String>,
    /// The `Contents-<arch>` indexes.
    pub contents: bool,
    /// The AppStream metadata under `dep11/`.
    pub dep11: bool,
}

impl AptSource {
    /// Whether the package `name` is mirrored by the include/exclude filters.
    pub fn wants(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(name)))
            && !self.exclude.iter().any(|r| r.is_match(name))
    }
}
