//! Manifest media types (OCI and Docker v2 schema 2) and how to tell an index from a manifest.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (the Docker form of an index).
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// `Accept` header for manifest requests: every manifest and index type we can copy. Without it a
/// registry may convert to (or refuse with) Docker schema 1.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// Largest manifest we read into memory (containerd uses the same bound): a manifest is a small
/// JSON document, and a larger body is refused instead of buffered.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// Whether `media_type` is an index (OCI index or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    matches!(base(media_type), OCI_INDEX | DOCKER_LIST)
}

/// Whether `media_type` is an image manifest (OCI or Docker schema 2).
pub fn is_manifest(media_type: &str) -> bool {
    matches!(base(media_type), OCI_MANIFEST | DOCKER_MANIFEST)
}

/// `media_type` without parameters (`; charset=utf-8`).
pub fn base(media_type: &str) -> &str {
    media_type.split(';').next().unwrap_or("").trim()
}

/// The media type a manifest document declares (its `mediaType` field), or a guess from its
/// shape (`manifests` → OCI index, `config` → OCI manifest) for OCI documents that omit it.
pub fn sniff(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Shape {
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
    }
    let shape: Shape = serde_json::from_slice(bytes).ok()?;
    match shape {
        Shape {
            media_type: Some(m),
            ..
        } => Some(m),
        Shape {
            manifests: Some(_), ..
        } => Some(OCI_INDEX.to_string()),
        Shape {
            config: Some(_), ..
        } => Some(OCI_MANIFEST.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_manifest_media_types() {
        assert!(is_index(OCI_INDEX));
        assert!(is_index(DOCKER_LIST));
        assert!(is_manifest(OCI_MANIFEST));
        assert!(is_manifest(
            "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"
        ));
        assert!(!is_index(OCI_MANIFEST));
        assert!(!is_manifest("application/json"));
    }

    #[test]
    fn sniffs_declared_or_shaped_media_type() {
        assert_eq!(sniff(br#"{"mediaType":"x/y"}"#).as_deref(), Some("x/y"));
        assert_eq!(sniff(br#"{"manifests":[]}"#).as_deref(), Some(OCI_INDEX));
        assert_eq!(sniff(br#"{"config":{}}"#).as_deref(), Some(OCI_MANIFEST));
        assert_eq!(sniff(b"not json"), None);
    }
}
