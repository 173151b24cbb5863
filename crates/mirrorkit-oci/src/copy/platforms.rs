//! Platform subsets: which entries of an index are kept for a list of wanted platforms, and the
//! new index that holds only them.
//!
//! When every entry is kept the original index is used byte for byte (same digest). Otherwise
//! the new index is the original document with its `manifests` list filtered — same media type,
//! same annotations and other fields, entries exactly as they were — written as compact JSON, so
//! the same source and the same platforms always give the same digest.

use bytes::Bytes;
use mirrorkit_core::digest::Digest;
use mirrorkit_core::platform::Platform;
use serde_json::Value;

use oci_spec::image::ImageManifest;

use super::store::{Store, descriptor_digest};
use crate::error::OciError;
use crate::media;
use crate::registry::manifests::RawManifest;

/// Docker buildx marks the attestation manifest of an image with these annotations.
const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";

/// What a platform filter makes of an index.
#[derive(Debug)]
pub enum Selection {
    /// Keep the index as it is.
    Whole,
    /// Keep some entries: a new index.
    Subset {
        /// The new index.
        index: RawManifest,
        /// Platforms kept.
        kept: Vec<String>,
        /// Platforms dropped.
        dropped: Vec<String>,
    },
    /// No entry has a wanted platform; the reason says what the index has.
    NoMatch(String),
}

/// Whether an entry's `have` platform is one of `wanted`: os and architecture equal; the variant
/// only when the wanted one names it (`arm64` and `arm64/v8` are the same); features only when
/// the wanted one lists some.
pub fn matches(wanted: &Platform, have: &Platform) -> bool {
    let norm = |p: &Platform| -> Option<String> {
        match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", Some("v8")) | ("arm64", None) => None,
            (_, v) => v.map(str::to_string),
        }
    };
    wanted.os == have.os
        && wanted.architecture == have.architecture
        && (wanted.variant.is_none() || norm(wanted) == norm(have))
        && (wanted.features.is_empty() || wanted.features == have.features)
}

/// Whether `have` is any of `wanted`.
pub fn any_matches(wanted: &[Platform], have: &Platform) -> bool {
    wanted.iter().any(|w| matches(w, have))
}

/// The platform an index entry declares; `None` for none or `unknown/unknown`.
pub fn entry_platform(entry: &Value) -> Option<Platform> {
    entry
        .get("platform")
        .and_then(Platform::from_oci)
        .filter(|p| p.os != "unknown" || p.architecture != "unknown")
}

/// Apply `wanted` to the index `m`.
///
/// Entries with a platform are kept when it matches; a buildx attestation manifest is kept with
/// the image it describes; entries without a platform are kept (nothing says they do not
/// belong). An index none of whose entries has a platform (an index of artifacts) is kept whole.
pub fn select(m: &RawManifest, wanted: &[Platform]) -> Result<Selection, OciError> {
    let what = || format!("index {}", m.digest);
    let doc: Value =
        serde_json::from_slice(&m.bytes).map_err(|e| OciError::malformed(what(), e))?;
    let Value::Object(mut doc) = doc else {
        return Err(OciError::malformed(what(), "not a JSON object"));
    };
    let entries = match doc.get("manifests") {
        Some(Value::Array(a)) => a.clone(),
        _ => return Err(OciError::malformed(what(), "no `manifests` list")),
    };
    let platforms: Vec<Option<Platform>> = entries.iter().map(entry_platform).collect();
    if platforms.iter().all(Option::is_none) {
        return Ok(Selection::Whole);
    }
    let mut keep: Vec<bool> = platforms
        .iter()
        .map(|p| p.as_ref().is_none_or(|p| any_matches(wanted, p)))
        .collect();
    let kept_digests: Vec<&str> = entries
        .iter()
        .zip(&platforms)
        .zip(&keep)
        .filter(|((_, p), k)| p.is_some() && **k)
        .filter_map(|((e, _), _)| e.get("digest").and_then(Value::as_str))
        .collect();
    if kept_digests.is_empty() {
        let mut have: Vec<String> = platforms.iter().flatten().map(|p| p.to_string()).collect();
        have.dedup();
        return Ok(Selection::NoMatch(format!(
            "no manifest for {} in the index (it has {})",
            join(wanted),
            have.join(", ")
        )));
    }
    // Attestations follow the image they describe.
    for (i, e) in entries.iter().enumerate() {
        let annotations = e.get("annotations");
        let refers = annotations
            .and_then(|a| a.get(REFERENCE_DIGEST))
            .and_then(Value::as_str);
        let is_attestation = annotations
            .and_then(|a| a.get(REFERENCE_TYPE))
            .and_then(Value::as_str)
            .is_some();
        if platforms[i].is_none()
            && is_attestation
            && let Some(target) = refers
        {
            keep[i] = kept_digests.contains(&target);
        }
    }
    if keep.iter().all(|k| *k) {
        return Ok(Selection::Whole);
    }
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for (p, k) in platforms.iter().zip(&keep) {
        if let Some(p) = p {
            if *k {
                kept.push(p.to_string());
            } else {
                dropped.push(p.to_string());
            }
        }
    }
    let filtered: Vec<Value> = entries
        .into_iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(e, _)| e)
        .collect();
    doc.insert("manifests".into(), Value::Array(filtered));
    let bytes =
        serde_json::to_vec(&Value::Object(doc)).map_err(|e| OciError::malformed(what(), e))?;
    Ok(Selection::Subset {
        index: RawManifest {
            digest: Digest::sha256_of(&bytes),
            bytes: Bytes::from(bytes),
            media_type: m.media_type.clone(),
        },
        kept,
        dropped,
    })
}

/// Largest image config read to learn its platform.
const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Apply `wanted` to `top` as found in `store`: an index through [`select`]; a single image
/// manifest is kept when its config names a wanted platform, or names none (an artifact, or a
/// config we cannot read as one: nothing says it does not belong).
pub async fn choose(
    store: &Store,
    top: &RawManifest,
    wanted: &[Platform],
) -> Result<Selection, OciError> {
    if media::is_index(&top.media_type) {
        return select(top, wanted);
    }
    match image_platform(store, top).await? {
        Some(p) if !any_matches(wanted, &p) => Ok(Selection::NoMatch(format!(
            "the image is {p}, not {}",
            join(wanted)
        ))),
        _ => Ok(Selection::Whole),
    }
}

/// The platform of a single image manifest, read from its config blob in `store`; `None` for an
/// index, an artifact, or a config that names none.
pub async fn image_platform(store: &Store, m: &RawManifest) -> Result<Option<Platform>, OciError> {
    if !media::is_manifest(&m.media_type) {
        return Ok(None);
    }
    let manifest: ImageManifest = serde_json::from_slice(&m.bytes)
        .map_err(|e| OciError::malformed(format!("manifest {}", m.digest), e))?;
    let config = manifest.config();
    if !is_image_config(config.media_type().as_ref()) || config.size() > MAX_CONFIG_BYTES {
        return Ok(None);
    }
    let digest = descriptor_digest(config)?;
    let bytes = store.read_blob_bytes(&digest, MAX_CONFIG_BYTES).await?;
    Ok(config_platform(&bytes))
}

/// Bytes of the blobs (config and layers) an image manifest refers to; 0 for anything else.
pub fn image_bytes(m: &RawManifest) -> u64 {
    serde_json::from_slice::<ImageManifest>(&m.bytes)
        .map(|im| im.config().size() + im.layers().iter().map(|l| l.size()).sum::<u64>())
        .unwrap_or(0)
}

/// The platform an image config says (`os`, `architecture`, `variant`), if it says one.
pub fn config_platform(config: &[u8]) -> Option<Platform> {
    let v: Value = serde_json::from_slice(config).ok()?;
    Platform::from_oci(&v)
}

/// Whether a config media type is an image config (one that names a platform).
pub fn is_image_config(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.config.v1+json"
            | "application/vnd.docker.container.image.v1+json"
    )
}

/// `linux/amd64, linux/arm64`.
pub fn join(platforms: &[Platform]) -> String {
    platforms
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    fn index(entries: Value) -> RawManifest {
        let bytes = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "annotations": {"org.example": "kept"},
            "manifests": entries,
        }))
        .unwrap();
        RawManifest {
            digest: Digest::sha256_of(&bytes),
            bytes: Bytes::from(bytes),
            media_type: "application/vnd.oci.image.index.v1+json".into(),
        }
    }

    fn entry(digest: char, platform: Option<(&str, &str)>) -> Value {
        let mut e = serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", digest.to_string().repeat(64)),
            "size": 10,
        });
        if let Some((os, arch)) = platform {
            e["platform"] = serde_json::json!({"os": os, "architecture": arch});
        }
        e
    }

    #[test]
    fn variants_and_features_match_only_when_asked_for() {
        assert!(matches(&p("linux/arm"), &p("linux/arm/v7")));
        assert!(!matches(&p("linux/arm/v6"), &p("linux/arm/v7")));
        assert!(matches(&p("linux/arm64/v8"), &p("linux/arm64")));
        assert!(matches(&p("linux/arm64"), &p("linux/arm64/v8")));
        assert!(!matches(&p("linux/amd64"), &p("linux/arm64")));
        assert!(!matches(&p("linux/amd64+libc.musl"), &p("linux/amd64")));
        assert!(matches(&p("linux/amd64"), &p("linux/amd64+libc.musl")));
    }

    #[test]
    fn every_platform_kept_is_the_whole_index() {
        let m = index(serde_json::json!([
            entry('a', Some(("linux", "amd64"))),
            entry('b', Some(("linux", "arm64")))
        ]));
        let s = select(&m, &[p("linux/amd64"), p("linux/arm64")]).unwrap();
        assert!(matches!(s, Selection::Whole), "{s:?}");
    }

    #[test]
    fn a_subset_is_a_new_deterministic_index_with_the_same_fields() {
        let m = index(serde_json::json!([
            entry('a', Some(("linux", "amd64"))),
            entry('b', Some(("linux", "arm64"))),
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": format!("sha256:{}", "c".repeat(64)),
                "size": 10,
                "platform": {"os": "unknown", "architecture": "unknown"},
                "annotations": {
                    "vnd.docker.reference.type": "attestation-manifest",
                    "vnd.docker.reference.digest": format!("sha256:{}", "b".repeat(64))
                }
            }
        ]));
        let Selection::Subset {
            index: new,
            kept,
            dropped,
        } = select(&m, &[p("linux/arm64")]).unwrap()
        else {
            panic!("expected a subset");
        };
        assert_eq!(kept, ["linux/arm64"]);
        assert_eq!(dropped, ["linux/amd64"]);
        assert_ne!(new.digest, m.digest);
        assert_eq!(new.media_type, m.media_type);
        let doc: Value = serde_json::from_slice(&new.bytes).unwrap();
        assert_eq!(doc["annotations"]["org.example"], "kept");
        assert_eq!(doc["mediaType"], m.media_type.as_str());
        let digests: Vec<&str> = doc["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["digest"].as_str().unwrap())
            .collect();
        assert_eq!(
            digests,
            [
                format!("sha256:{}", "b".repeat(64)),
                format!("sha256:{}", "c".repeat(64))
            ],
            "the attestation of the kept image stays"
        );
        // Compact JSON, and the same input gives the same bytes.
        assert!(!new.bytes.contains(&b'\n'));
        let Selection::Subset { index: again, .. } = select(&m, &[p("linux/arm64")]).unwrap()
        else {
            panic!("expected a subset");
        };
        assert_eq!(again.bytes, new.bytes);
    }

    #[test]
    fn no_match_names_what_the_index_has_and_artifact_indexes_stay_whole() {
        let m = index(serde_json::json!([
            entry('a', Some(("linux", "amd64"))),
            entry('b', Some(("linux", "arm64")))
        ]));
        match select(&m, &[p("linux/s390x")]).unwrap() {
            Selection::NoMatch(r) => {
                assert!(
                    r.contains("linux/s390x") && r.contains("linux/amd64, linux/arm64"),
                    "{r}"
                )
            }
            s => panic!("{s:?}"),
        }
        let artifacts = index(serde_json::json!([entry('a', None), entry('b', None)]));
        assert!(matches!(
            select(&artifacts, &[p("linux/s390x")]).unwrap(),
            Selection::Whole
        ));
    }

    #[test]
    fn config_platform_reads_os_and_architecture() {
        let c = br#"{"architecture":"arm","os":"linux","variant":"v7","config":{}}"#;
        assert_eq!(config_platform(c), Some(p("linux/arm/v7")));
        assert_eq!(config_platform(b"{}"), None);
    }
}
