//! The interface every ecosystem implements, one file each (npm.rs, pypi.rs, cargo.rs): where a package's metadata lives,
//! which versions and files it lists with which digests, where the files go in the published
//! tree, and the documents that make the tree a registry its clients install from. The engine
//! ([`crate::engine`]) does the rest the same way for all: conditional metadata fetches, version
//! selection, verified downloads into the store, files before documents.

pub(crate) mod cargo;
pub(crate) mod generic;
pub(crate) mod npm;
pub(crate) mod pypi;

use std::collections::BTreeSet;
use std::path::PathBuf;

use mirrorkit_core::digest::Digest;
use url::Url;

use crate::engine::Dependency;
use crate::tree::Tree;

/// A file of a version: where to get it, what it must hash to, where it goes in the tree.
#[derive(Clone, Debug)]
pub(crate) struct RemoteFile {
    /// Where the upstream serves it.
    pub(crate) url: Url,
    /// The registry's own digest of it (SHA-256 or SHA-512); `None` when the registry gives
    /// none mirrorkit can check, and then the file is refused.
    pub(crate) digest: Option<Digest>,
    /// Its path in the published tree (slash-separated, relative).
    pub(crate) tree_path: String,
    /// Digests it must also have, in another algorithm than `digest` (a PURL's `checksum`
    /// qualifier): checked once it is downloaded.
    pub(crate) also: Vec<Digest>,
}

/// One ecosystem's registry format.
pub(crate) trait Registry: Sync {
    /// A parsed metadata document.
    type Meta: Send + Sync;

    /// The default upstream.
    const DEFAULT_UPSTREAM: &'static str;
    /// `ETag` cache entries of this ecosystem are named with this.
    const CACHE_KIND: &'static str;

    /// The URL of `name`'s metadata document under `upstream`.
    fn metadata_url(&self, upstream: &Url, name: &str) -> Result<Url, String>;

    /// The `Accept` header for it.
    fn accept(&self) -> &'static str;

    /// Parse the document read from `url`.
    fn parse(&self, name: &str, url: &Url, bytes: &[u8]) -> Result<Self::Meta, String>;

    /// Every version the document lists.
    fn versions(&self, meta: &Self::Meta) -> Vec<String>;

    /// Whether `version` is a prerelease (left out of "every version" unless asked for).
    fn is_prerelease(&self, version: &str) -> bool;

    /// Whether `range` is a range in this ecosystem's syntax; why not when it is not.
    fn check_range(&self, range: &str) -> Result<(), String>;

    /// Whether `version` is inside `range` (one [`Registry::check_range`] accepts); a version
    /// that does not parse is not.
    fn in_range(&self, version: &str, range: &str) -> bool;

    /// `a` against `b` in this ecosystem's version order (what does not parse sorts first).
    fn compare(&self, a: &str, b: &str) -> std::cmp::Ordering;

    /// When upstream published `version`, if its metadata says.
    fn released_at(&self, meta: &Self::Meta, version: &str) -> Option<time::OffsetDateTime>;

    /// The files of `version`.
    fn files(&self, meta: &Self::Meta, version: &str) -> Result<Vec<RemoteFile>, String>;

    /// The versions of `name` the tree already publishes.
    fn published(&self, tree: &Tree, name: &str) -> Vec<String>;

    /// Write `name`'s documents so that they list `versions` (whose files are in the tree) and
    /// nothing else new, keeping what the tree published before; URLs point under `base_url`.
    fn publish(
        &self,
        tree: &Tree,
        name: &str,
        meta: &Self::Meta,
        versions: &[String],
        base_url: &Url,
    ) -> Result<(), String>;

    /// Whether `version` has a file this mirror would take (PyPI: one for the target Pythons
    /// and platforms); what has none is not picked for a range or a version policy.
    fn installable(&self, _meta: &Self::Meta, _version: &str) -> bool {
        true
    }

    /// The packages `version` needs to install (same ecosystem and upstream), with the range
    /// each must satisfy, with `extras` of it asked for. `local` gives the path on disk of a
    /// file of the tree (by tree path) when it is there: PyPI reads the metadata from them.
    /// Why they cannot be told, when they cannot.
    fn dependencies(
        &self,
        _meta: &Self::Meta,
        _version: &str,
        _extras: &BTreeSet<String>,
        _local: &dyn Fn(&str) -> Option<PathBuf>,
    ) -> Result<Vec<Dependency>, String> {
        Ok(Vec::new())
    }

    /// The versions a client picks for `range`: the highest the document lists that satisfies
    /// it (prereleases only when the range names one; never a yanked one); PyPI: the highest for
    /// each target Python.
    fn satisfying(&self, _meta: &Self::Meta, _range: &str) -> Vec<String> {
        Vec::new()
    }

    /// Write what spans every package of the tree (PyPI's root index), once per run after all
    /// packages.
    fn finish(&self, _tree: &Tree) -> Result<(), String> {
        Ok(())
    }
}

/// An RFC 3339 timestamp as registries write them (npm's `time`, PEP 700's `upload-time`,
/// cargo's `pubtime`).
pub(crate) fn rfc3339(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// Order two parsed versions, what did not parse first (then by text, to be total).
pub(crate) fn order_parsed<V: Ord>(
    a: (&str, Option<V>),
    b: (&str, Option<V>),
) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.1, b.1) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.0.cmp(b.0)),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => a.0.cmp(b.0),
    }
}

/// `base_url` joined with the tree path `rel`.
pub(crate) fn public_url(base_url: &Url, rel: &str) -> Result<Url, String> {
    let mut base = base_url.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(rel).map_err(|e| {
        format!(
            "cannot place {rel:?} under {}: {e}",
            mirrorkit_core::http::redact::SafeUrl::new(&base)
        )
    })
}
