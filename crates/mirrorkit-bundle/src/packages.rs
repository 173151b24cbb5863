//! Import into a package tree (`--to packages:DIR`): every tag of the bundle that is a package
//! tree artifact (what `export` makes of a spec's `type: packages` mirrors) is published into
//! the directory — files first, documents last, rebased onto `--base-url` — so the clients of
//! the air-gapped site install from it as from the mirror it came from. Other tags are refused:
//! they belong in a registry or layouts.

use std::path::Path;

use mirrorkit_packages::artifact;
use mirrorkit_packages::tree::Tree;
use url::Url;

use crate::BundleError;
use crate::import::{ImportReport, TagOutcome};
use crate::open::OpenBundle;

/// Publish the package trees of `bundle` into `dir`.
pub(crate) async fn import(
    bundle: &OpenBundle,
    dir: &Path,
    base_url: Option<&Url>,
    dry_run: bool,
) -> Result<ImportReport, BundleError> {
    let io = |e: String| {
        BundleError::Oci(mirrorkit_oci::error::OciError::io(
            dir,
            std::io::Error::other(e),
        ))
    };
    // A dry run reads the tree as it is (or an empty one) and writes nothing.
    let empty = tempfile::tempdir().map_err(|e| io(e.to_string()))?;
    let tree = if dry_run {
        Tree::existing(dir)
            .or_else(|| Tree::existing(empty.path()))
            .ok_or_else(|| io("no directory to read".into()))?
    } else {
        Tree::open(dir).await.map_err(io)?
    };
    let fresh = tree.is_empty();
    let mut report = ImportReport::new(bundle, dry_run);
    for (repo, tag, digest, media_type) in &bundle.tags {
        let mut outcome = TagOutcome {
            repository: repo.clone(),
            tag: tag.clone(),
            digest: digest.to_string(),
            status: "refused",
            reason: None,
        };
        if !artifact::is_tree(bundle.dir(), digest, media_type) {
            outcome.reason = Some(
                "not a package tree: import it into a registry (docker://) or layouts (oci:DIR)"
                    .into(),
            );
            report.tags.push(outcome);
            continue;
        }
        match artifact::into_tree(bundle.dir(), digest, &tree, base_url, dry_run) {
            Ok(done) => {
                outcome.status = if done.placed == 0 && done.documents == 0 {
                    "unchanged"
                } else if fresh {
                    "added"
                } else {
                    "updated"
                };
                report.blobs_sent += done.placed as u64;
                report.blobs_present += done.unchanged as u64;
                report.bytes += done.bytes;
            }
            Err(e) => outcome.reason = Some(e),
        }
        report.tags.push(outcome);
    }
    Ok(report)
}
