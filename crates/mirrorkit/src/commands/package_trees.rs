//! The package trees of a spec as a bundle names them: one per directory its `type: packages`
//! mirrors publish to (several mirrors may share one), in repository `packages`, tagged by the
//! directory's name (`tree`; on a clash `tree-2`, …). `export` puts each tree in the bundle
//! under that tag; `import --spec` finds each by it on the other side.

use std::path::{Path, PathBuf};

use mirrorkit_core::spec::{Spec, TargetConfig};
use url::Url;

/// The repository every package tree artifact is filed under.
pub(crate) const REPOSITORY: &str = "packages";

/// One package tree of a spec.
pub(crate) struct PackageTree<'a> {
    /// The first mirror (in the spec's order) that publishes to it.
    pub(crate) mirror: &'a str,
    /// The directory.
    pub(crate) path: &'a Path,
    /// The URL it is served at.
    pub(crate) base_url: &'a Url,
    /// Its tag in a bundle.
    pub(crate) tag: String,
}

/// The package trees of the mirrors of `spec` (those in `only`, when it names any).
pub(crate) fn of_spec<'a>(spec: &'a Spec, only: &[String]) -> Vec<PackageTree<'a>> {
    let mut trees: Vec<(PathBuf, PackageTree<'a>)> = Vec::new();
    for m in spec
        .mirrors
        .iter()
        .filter(|m| only.is_empty() || only.contains(&m.key))
    {
        let TargetConfig::Packages { path, base_url } = &m.target else {
            continue;
        };
        let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
        if trees.iter().any(|(p, _)| *p == canonical) {
            continue;
        }
        let base = tag_of(path);
        let mut tag = base.clone();
        let mut n = 1;
        while trees.iter().any(|(_, t)| t.tag == tag) {
            n += 1;
            tag = format!("{base}-{n}");
        }
        trees.push((
            canonical,
            PackageTree {
                mirror: &m.key,
                path,
                base_url,
                tag,
            },
        ));
    }
    trees.into_iter().map(|(_, t)| t).collect()
}

/// The bundle tag of the package tree at `path`: its directory name, as a tag may spell it.
fn tag_of(path: &Path) -> String {
    let name: String = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(100)
        .collect();
    match name.trim_start_matches(['.', '-']) {
        "" => "tree".to_string(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_is_tagged_by_its_directory_name_as_a_tag_may_spell_it() {
        assert_eq!(tag_of(Path::new("/srv/packages")), "packages");
        assert_eq!(tag_of(Path::new("/srv/.my tree")), "my-tree");
        assert_eq!(tag_of(Path::new("/")), "tree");
    }
}
