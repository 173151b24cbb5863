//! The ocx package shape: the config blob, the image manifest and the image index, as exact bytes.
//!
//! An ocx package version is one image index whose entries are one image manifest per platform;
//! each manifest has the package config (ocx's `metadata.json`) as config and exactly one layer,
//! the compressed tar of the package root. The documents are built here once, from plain structs
//! with a fixed field order, and from then on only ever copied as raw bytes (so the digests the
//! engine computes over these bytes are the digests the registry serves). `docs/package-format.md`
//! describes the result for people.

use std::collections::BTreeMap;

use serde::Serialize;

use mirrorkit_core::digest::Digest;
use mirrorkit_core::platform::Platform;
use mirrorkit_core::spec::ocx_metadata;

use super::error::PackageError;

/// The `artifactType` of an ocx package manifest and index.
pub const ARTIFACT_TYPE_PACKAGE: &str = "application/vnd.sh.ocx.package.v1";
/// The media type of the package config blob (ocx's package metadata).
pub const MEDIA_TYPE_PACKAGE_CONFIG: &str = "application/vnd.sh.ocx.package.v1+json";
/// OCI image manifest.
pub const MEDIA_TYPE_IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const MEDIA_TYPE_IMAGE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// An xz-compressed tar layer. Not defined by the OCI image spec (which has gzip and zstd); it is
/// the ocx convention, and what ocx writes by default.
pub const MEDIA_TYPE_LAYER_TAR_XZ: &str = "application/vnd.oci.image.layer.v1.tar+xz";
/// A zstd-compressed tar layer (OCI image spec).
pub const MEDIA_TYPE_LAYER_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// A gzip-compressed tar layer (OCI image spec).
pub const MEDIA_TYPE_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// OCI annotation: human-readable title (on a layer: the file name it came from).
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// OCI annotation: the packaged software's version.
pub const ANNOTATION_VERSION: &str = "org.opencontainers.image.version";
/// OCI annotation: where the packaged software comes from (release URL or repository).
pub const ANNOTATION_SOURCE: &str = "org.opencontainers.image.source";
/// OCI annotation: creation time, RFC 3339.
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// A content descriptor: what a manifest says about a blob or another manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the referenced content.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Optional annotations (sorted by key when written).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// A descriptor for `bytes` (a config or manifest built here) with no annotations.
    pub fn for_bytes(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: Digest::sha256_of(bytes),
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
        }
    }

    /// The layer descriptor for a built layer, titled with the asset name it was made from
    /// (`org.opencontainers.image.title`).
    pub fn for_layer(layer: &super::BuiltLayer, asset_name: &str) -> Descriptor {
        Descriptor {
            media_type: layer.media_type.clone(),
            digest: layer.digest.clone(),
            size: layer.size,
            annotations: BTreeMap::from([(ANNOTATION_TITLE.to_string(), asset_name.to_string())]),
        }
    }
}

/// The package config blob (media type [`MEDIA_TYPE_PACKAGE_CONFIG`]), as exact bytes.
///
/// This is ocx's bundle metadata, the document ocx reads to install and run a package:
/// `{"type": "bundle", "version": 1, …}` with the keys of `metadata` (ocx's `env`,
/// `entrypoints`, `dependencies`, …) merged in unchanged. Top-level keys are written sorted, so
/// the same metadata always gives the same bytes.
///
/// The package's name, version and platform are deliberately *not* written here: ocx reads
/// `version` as the metadata format version (the integer 1), so a package version there would
/// make ocx refuse the config; name, version and platform live in the manifest annotations and
/// the index's platform field instead. `strip_components` is not written either, because the
/// layer is already stripped and ocx would strip it a second time on install.
///
/// # Errors
/// [`PackageError::InvalidMetadata`] when `metadata` is not a JSON object, declares another
/// `type` or `version`, or sets `strip_components`.
pub fn package_config(metadata: Option<&serde_json::Value>) -> Result<Vec<u8>, PackageError> {
    let mut config: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    if let Some(metadata) = metadata {
        ocx_metadata::check(metadata).map_err(PackageError::InvalidMetadata)?;
        for (key, value) in metadata.as_object().into_iter().flatten() {
            config.insert(key.clone(), value.clone());
        }
    }
    config.insert("type".to_string(), serde_json::Value::from("bundle"));
    config.insert(
        "version".to_string(),
        serde_json::Value::from(ocx_metadata::FORMAT_VERSION),
    );
    Ok(to_json(&config))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageManifest<'a> {
    schema_version: u32,
    media_type: &'static str,
    artifact_type: &'static str,
    config: &'a Descriptor,
    layers: [&'a Descriptor; 1],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

/// The image manifest of one platform's package, as exact bytes: schema version 2,
/// `artifactType` [`ARTIFACT_TYPE_PACKAGE`], the config and the single layer, plus `annotations`
/// (typically [`ANNOTATION_VERSION`], [`ANNOTATION_SOURCE`], [`ANNOTATION_CREATED`],
/// [`ANNOTATION_TITLE`]; written sorted by key, omitted when empty).
pub fn image_manifest(
    config: &Descriptor,
    layer: &Descriptor,
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    to_json(&ImageManifest {
        schema_version: 2,
        media_type: MEDIA_TYPE_IMAGE_MANIFEST,
        artifact_type: ARTIFACT_TYPE_PACKAGE,
        config,
        layers: [layer],
        annotations,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageIndex<'a> {
    schema_version: u32,
    media_type: &'static str,
    artifact_type: &'static str,
    manifests: Vec<IndexEntry<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexEntry<'a> {
    #[serde(flatten)]
    descriptor: &'a Descriptor,
    platform: PlatformField<'a>,
}

/// The OCI `platform` object (`os`, `architecture`, optional `variant`).
#[derive(Serialize)]
struct PlatformField<'a> {
    architecture: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    #[serde(rename = "os.features", skip_serializing_if = "no_features")]
    os_features: &'a [String],
}

fn no_features(features: &&[String]) -> bool {
    features.is_empty()
}

/// The image index of one package version, as exact bytes: one entry per platform (the
/// manifest's descriptor plus its `platform`), in the order given, with `artifactType`
/// [`ARTIFACT_TYPE_PACKAGE`] and `annotations` (sorted, omitted when empty).
///
/// Callers pass platforms in a stable order (e.g. sorted) so the same set of manifests always
/// gives the same index digest.
pub fn image_index(
    manifests: &[(Platform, Descriptor)],
    annotations: &BTreeMap<String, String>,
) -> Vec<u8> {
    to_json(&ImageIndex {
        schema_version: 2,
        media_type: MEDIA_TYPE_IMAGE_INDEX,
        artifact_type: ARTIFACT_TYPE_PACKAGE,
        manifests: manifests
            .iter()
            .map(|(platform, descriptor)| IndexEntry {
                descriptor,
                platform: PlatformField {
                    architecture: &platform.architecture,
                    os: &platform.os,
                    variant: platform.variant.as_deref(),
                    os_features: &platform.features,
                },
            })
            .collect(),
        annotations,
    })
}

/// Compact JSON. Serialising these plain structs (strings, integers, maps with string keys)
/// cannot fail; the fallback only exists so that library code has no panic path.
fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn digest_of(s: &str) -> Digest {
        Digest::sha256_of(s.as_bytes())
    }

    fn sample_layer() -> Descriptor {
        Descriptor {
            media_type: MEDIA_TYPE_LAYER_TAR_XZ.to_string(),
            digest: digest_of("layer"),
            size: 1234,
            annotations: BTreeMap::from([(
                ANNOTATION_TITLE.to_string(),
                "cmake-3.29.1-linux-x86_64.tar.gz".to_string(),
            )]),
        }
    }

    #[test]
    fn config_is_ocx_bundle_metadata_with_sorted_keys() {
        let metadata = json!({
            "env": [{"key": "PATH", "type": "path", "required": true, "value": "${installPath}/bin"}],
            "entrypoints": {"cmake": "bin/cmake"}
        });
        let bytes = package_config(Some(&metadata)).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"entrypoints":{"cmake":"bin/cmake"},"env":[{"key":"PATH","required":true,"type":"path","value":"${installPath}/bin"}],"type":"bundle","version":1}"#
        );
        assert_eq!(
            package_config(None).unwrap(),
            br#"{"type":"bundle","version":1}"#.to_vec()
        );
        // An ocx-style metadata file that already says type and version is accepted as is.
        let ocx_file = json!({"type": "bundle", "version": 1});
        assert_eq!(
            package_config(Some(&ocx_file)).unwrap(),
            package_config(None).unwrap()
        );
    }

    #[test]
    fn config_refuses_metadata_ocx_would_misread() {
        for bad in [
            json!([1, 2]),
            json!({"version": "3.29.1"}),
            json!({"type": "image"}),
            json!({"strip_components": 1}),
        ] {
            assert!(package_config(Some(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn manifest_has_the_ocx_package_shape() {
        let config_bytes = package_config(None).unwrap();
        let config = Descriptor::for_bytes(MEDIA_TYPE_PACKAGE_CONFIG, &config_bytes);
        let annotations = BTreeMap::from([
            (ANNOTATION_VERSION.to_string(), "3.29.1".to_string()),
            (
                ANNOTATION_CREATED.to_string(),
                "2024-01-01T00:00:00Z".to_string(),
            ),
        ]);
        let bytes = image_manifest(&config, &sample_layer(), &annotations);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v,
            json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "artifactType": "application/vnd.sh.ocx.package.v1",
                "config": {
                    "mediaType": "application/vnd.sh.ocx.package.v1+json",
                    "digest": Digest::sha256_of(&config_bytes).to_string(),
                    "size": config_bytes.len(),
                },
                "layers": [{
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+xz",
                    "digest": digest_of("layer").to_string(),
                    "size": 1234,
                    "annotations": {"org.opencontainers.image.title": "cmake-3.29.1-linux-x86_64.tar.gz"},
                }],
                "annotations": {
                    "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
                    "org.opencontainers.image.version": "3.29.1",
                },
            })
        );
        // The byte layout (field order) is fixed, not only the JSON value.
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.sh.ocx.package.v1","config":{"mediaType":"#
        ));
        assert_eq!(
            bytes,
            image_manifest(&config, &sample_layer(), &annotations)
        );
    }

    #[test]
    fn index_lists_every_platform_with_its_platform_field() {
        let m1 = Descriptor::for_bytes(MEDIA_TYPE_IMAGE_MANIFEST, b"one");
        let m2 = Descriptor::for_bytes(MEDIA_TYPE_IMAGE_MANIFEST, b"two");
        let manifests = vec![
            ("darwin/arm64".parse().unwrap(), m1.clone()),
            ("linux/arm/v7".parse().unwrap(), m2.clone()),
        ];
        let annotations = BTreeMap::from([(ANNOTATION_VERSION.to_string(), "1.0.0".to_string())]);
        let bytes = image_index(&manifests, &annotations);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v,
            json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "artifactType": "application/vnd.sh.ocx.package.v1",
                "manifests": [
                    {"mediaType": MEDIA_TYPE_IMAGE_MANIFEST, "digest": m1.digest.to_string(), "size": 3,
                     "platform": {"architecture": "arm64", "os": "darwin"}},
                    {"mediaType": MEDIA_TYPE_IMAGE_MANIFEST, "digest": m2.digest.to_string(), "size": 3,
                     "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
                ],
                "annotations": {"org.opencontainers.image.version": "1.0.0"},
            })
        );
        assert_eq!(bytes, image_index(&manifests, &annotations));
    }

    #[test]
    fn empty_annotations_are_omitted() {
        let d = Descriptor::for_bytes(MEDIA_TYPE_IMAGE_MANIFEST, b"x");
        let v: Value = serde_json::from_slice(&image_index(&[], &BTreeMap::new())).unwrap();
        assert!(v.get("annotations").is_none());
        assert_eq!(v["manifests"], json!([]));
        let v: Value = serde_json::from_slice(&image_manifest(&d, &d, &BTreeMap::new())).unwrap();
        assert!(v.get("annotations").is_none());
        assert!(v["config"].get("annotations").is_none());
    }
}
