//! The blobs an image reaches inside a layout directory, with their declared sizes: what export
//! checks before it publishes a bundle and what open checks before an import writes anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mirrorkit_core::digest::Digest;

use mirrorkit_oci::media;

use crate::BundleError;

pub(crate) fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs")
        .join(digest.algorithm().name())
        .join(digest.hex())
}

/// Every blob reachable from `top` in the layout at `dir`: (manifest digests, other blobs with
/// their declared sizes). Missing manifests are errors; missing other blobs are returned in the
/// second map all the same (the caller decides).
pub(crate) fn graph(
    dir: &Path,
    top: &Digest,
    top_media_type: &str,
    manifests: &mut BTreeMap<Digest, u64>,
    blobs: &mut BTreeMap<Digest, u64>,
    depth: usize,
) -> Result<(), BundleError> {
    if depth > 8 {
        return Err(BundleError::Refused(format!(
            "index {top}: indexes nested too deep"
        )));
    }
    let path = blob_path(dir, top);
    let bytes = std::fs::read(&path).map_err(|_| {
        BundleError::Refused(format!(
            "manifest {top} is missing from the bundle ({})",
            path.display()
        ))
    })?;
    if bytes.len() > media::MAX_MANIFEST_BYTES {
        return Err(BundleError::Refused(format!("manifest {top} is too large")));
    }
    manifests.insert(top.clone(), bytes.len() as u64);
    let doc: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| BundleError::Refused(format!("manifest {top} is not JSON: {e}")))?;
    let media_type = doc
        .get("mediaType")
        .and_then(|m| m.as_str())
        .unwrap_or(top_media_type)
        .to_string();
    let descriptor = |d: &serde_json::Value| -> Result<(Digest, u64, String), BundleError> {
        let digest = d
            .get("digest")
            .and_then(|x| x.as_str())
            .and_then(|x| x.parse::<Digest>().ok())
            .ok_or_else(|| {
                BundleError::Refused(format!("manifest {top}: a descriptor has no valid digest"))
            })?;
        let size = d.get("size").and_then(|x| x.as_u64()).ok_or_else(|| {
            BundleError::Refused(format!("manifest {top}: descriptor {digest} has no size"))
        })?;
        let mt = d
            .get("mediaType")
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string();
        Ok((digest, size, mt))
    };
    if media::is_index(&media_type) || doc.get("manifests").is_some() {
        for child in doc
            .get("manifests")
            .and_then(|m| m.as_array())
            .into_iter()
            .flatten()
        {
            let (digest, size, mt) = descriptor(child)?;
            check_size(dir, &digest, size)?;
            if !manifests.contains_key(&digest) {
                graph(dir, &digest, &mt, manifests, blobs, depth + 1)?;
            }
        }
    } else {
        let mut all = Vec::new();
        if let Some(c) = doc.get("config") {
            all.push(c.clone());
        }
        if let Some(layers) = doc.get("layers").and_then(|l| l.as_array()) {
            all.extend(layers.iter().cloned());
        }
        for d in all {
            let (digest, size, mt) = descriptor(&d)?;
            // Non-distributable layers are not carried (as copy does not copy them).
            if (mt.contains("foreign") || mt.contains("nondistributable"))
                && d.get("urls").is_some()
            {
                continue;
            }
            check_size(dir, &digest, size)?;
            blobs.insert(digest, size);
        }
    }
    Ok(())
}

/// A blob present in the bundle must have exactly its declared size.
pub(crate) fn check_size(dir: &Path, digest: &Digest, declared: u64) -> Result<(), BundleError> {
    if let Ok(meta) = std::fs::metadata(blob_path(dir, digest))
        && meta.len() != declared
    {
        return Err(BundleError::Refused(format!(
            "blob {digest} is {} bytes but its descriptor declares {declared}",
            meta.len()
        )));
    }
    Ok(())
}
