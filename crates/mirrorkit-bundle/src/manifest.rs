//! `mirrorkit-bundle.json`: what a bundle holds, readable without importing it, and reading it
//! back (from a bundle directory, an archive, or the file itself).

use std::path::Path;

use serde::{Deserialize, Serialize};

use mirrorkit_oci::archive::{self};
use mirrorkit_oci::error::OciError;

use crate::{BUNDLE_FILE, BundleError, FORMAT_VERSION};

/// `mirrorkit-bundle.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct BundleManifest {
    /// Format version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// Content id: SHA-256 of the items and blob lists (a delta names its base by it).
    pub id: String,
    /// `mirrorkit <version>`.
    pub created_by: String,
    /// The spec the bundle was exported from, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<SpecOrigin>,
    /// The bundle this one is a delta on top of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// What it holds: one entry per repository and digest.
    pub items: Vec<BundleItem>,
    /// Every blob in the bundle (manifests included), sorted by digest.
    pub blobs: Vec<BlobRef>,
    /// Blobs the items need that a delta leaves to its base (the importing side must have them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base_blobs: Vec<BlobRef>,
}

/// Which spec a bundle came from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct SpecOrigin {
    /// The spec file's name.
    pub file: String,
    /// SHA-256 of its content.
    pub digest: String,
}

/// One image of a bundle.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct BundleItem {
    /// Where it was exported from (a reference, credential-free).
    pub source: String,
    /// Its repository (no host).
    pub repository: String,
    /// Digest of the manifest or index.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Size of the manifest or index.
    pub size: u64,
    /// Tags pointing at it.
    pub tags: Vec<String>,
}

/// A blob and its size.
#[derive(
    Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, schemars::JsonSchema,
)]
pub struct BlobRef {
    /// `sha256:…`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
}

/// Parse `mirrorkit-bundle.json`, refusing a newer format with both versions named.
pub fn parse_manifest(bytes: &[u8], what: &str) -> Result<BundleManifest, BundleError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| BundleError::Refused(format!("{what}: not valid JSON: {e}")))?;
    let format = value
        .get("format")
        .and_then(|f| f.as_u64())
        .ok_or_else(|| {
            BundleError::Refused(format!(
                "{what}: no `format` version; not a mirrorkit bundle"
            ))
        })?;
    if format > u64::from(FORMAT_VERSION) {
        return Err(BundleError::Refused(format!(
            "{what}: bundle format {format} is newer than this mirrorkit understands (format {FORMAT_VERSION}); upgrade mirrorkit to import it"
        )));
    }
    serde_json::from_value(value).map_err(|e| BundleError::Refused(format!("{what}: {e}")))
}

/// Load the manifest of an earlier bundle: a directory, an archive, or the JSON file itself.
pub fn load_manifest(path: &Path) -> Result<BundleManifest, BundleError> {
    let what = path.display().to_string();
    if path.is_dir() {
        let p = path.join(BUNDLE_FILE);
        let bytes = std::fs::read(&p).map_err(|e| {
            BundleError::Refused(format!("{}: not a mirrorkit bundle ({e})", p.display()))
        })?;
        return parse_manifest(&bytes, &what);
    }
    if path.extension().is_some_and(|e| e == "json") {
        let bytes = std::fs::read(path).map_err(|e| OciError::io(path, e))?;
        return parse_manifest(&bytes, &what);
    }
    // An archive: read entries until the manifest (it is small; nothing else is kept).
    let reader = archive::open_reader(path)?;
    let mut tar = tar::Archive::new(reader);
    let entries = tar
        .entries()
        .map_err(|e| BundleError::Refused(format!("{what}: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| BundleError::Refused(format!("{what}: {e}")))?;
        let is_manifest = entry
            .path()
            .ok()
            .is_some_and(|p| p.components().count() == 1 && p.ends_with(BUNDLE_FILE));
        if is_manifest {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::Read::take(&mut entry, 64 << 20), &mut bytes)
                .map_err(|e| BundleError::Refused(format!("{what}: {e}")))?;
            return parse_manifest(&bytes, &what);
        }
    }
    Err(BundleError::Refused(format!(
        "{what}: no {BUNDLE_FILE}; not a mirrorkit bundle"
    )))
}
