//! OCI fixtures shared by the image tests: hand-written layouts pushed with skopeo, and
//! referrers (an SBOM artifact with a `subject`, the tag-schema index, a cosign-style signature).

#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};

use mirrorkit_testkit::registry::{Registry, sha256_digest, skopeo_copy};
use serde_json::{Value, json};

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Push an image of a config and `layers` layers of 4 MiB of noise (seeded by `seed`) to
/// `registry` as `reference`, built in `dir`; the layers' digests in manifest order. Big enough
/// that a kill can land between blobs.
pub(crate) fn push_layered_image(
    registry: &Registry,
    dir: &Path,
    reference: &str,
    layers: u64,
    seed: u64,
) -> Vec<String> {
    let mut l = LayoutWriter::new(dir.to_path_buf());
    let mut descriptors = Vec::new();
    for i in 0..layers {
        let (d, s) = l.blob(&crate::common::noise(seed + i, 4 << 20));
        descriptors.push(
            json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s}),
        );
    }
    let config = l
        .blob(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    l.manifest(
        &json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1},
            "layers": descriptors,
        }),
        "image",
    );
    skopeo_copy(&l.oci_ref("image"), &registry.docker_ref(reference)).unwrap();
    descriptors
        .iter()
        .filter_map(|d| d["digest"].as_str().map(str::to_string))
        .collect()
}

/// A hand-written OCI layout for fixtures skopeo then pushes.
pub(crate) struct LayoutWriter {
    dir: PathBuf,
    entries: Vec<Value>,
}

impl LayoutWriter {
    pub(crate) fn new(dir: PathBuf) -> LayoutWriter {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        LayoutWriter {
            dir,
            entries: Vec::new(),
        }
    }

    /// Store a blob; its descriptor fields (digest, size).
    pub(crate) fn blob(&self, bytes: &[u8]) -> (String, usize) {
        let digest = sha256_digest(bytes);
        std::fs::write(
            self.dir
                .join("blobs/sha256")
                .join(&digest["sha256:".len()..]),
            bytes,
        )
        .unwrap();
        (digest, bytes.len())
    }

    /// Store a manifest document (compact JSON) and tag it; its digest and size.
    pub(crate) fn manifest(&mut self, doc: &Value, tag: &str) -> (String, usize) {
        let bytes = serde_json::to_vec(doc).unwrap();
        let (digest, size) = self.blob(&bytes);
        self.entries.push(json!({
            "mediaType": doc["mediaType"],
            "digest": digest,
            "size": size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": self.entries})).unwrap(),
        )
        .unwrap();
        (digest, size)
    }

    /// Store an SBOM artifact (SPDX, named `name`) whose `subject` is (digest, media type, size),
    /// tagged `tag`; its digest and size.
    pub(crate) fn sbom(
        &mut self,
        name: &str,
        subject: (&str, &str, usize),
        tag: &str,
    ) -> (String, usize) {
        let (subject_digest, subject_type, subject_size) = subject;
        let empty = self.blob(b"{}");
        let sbom =
            self.blob(format!("{{\"spdxVersion\":\"SPDX-2.3\",\"name\":\"{name}\"}}").as_bytes());
        self.manifest(
            &json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": "application/spdx+json",
                "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.0, "size": empty.1},
                "layers": [{"mediaType": "application/spdx+json", "digest": sbom.0, "size": sbom.1}],
                "subject": {"mediaType": subject_type, "digest": subject_digest, "size": subject_size},
            }),
            tag,
        )
    }

    pub(crate) fn oci_ref(&self, tag: &str) -> String {
        format!("oci:{}:{tag}", self.dir.display())
    }
}

/// Attach to `subject` (a manifest of `media_type`/`size` in the source repository `repo`):
/// an SBOM artifact whose `subject` is it, listed in the tag-schema index `sha256-<hex>`, and a
/// cosign-style signature under `sha256-<hex>.sig`. Returns (artifact digest, signature digest).
pub(crate) fn attach_referrers(
    src: &Registry,
    dir: &Path,
    repo: &str,
    subject: (&str, &str, usize),
    seed: &str,
) -> (String, String) {
    let subject_digest = subject.0;
    let hex = &subject_digest["sha256:".len()..];
    let mut l = LayoutWriter::new(dir.join(format!("referrers-{seed}")));
    let (artifact, artifact_size) = l.sbom(seed, subject, "artifact");
    let empty = l.blob(b"{}");
    // skopeo 1.9 cannot push an index entry carrying `artifactType` unchanged; the tag schema
    // does not need it.
    l.manifest(
        &json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": artifact, "size": artifact_size}],
        }),
        "fallback",
    );
    let payload = l.blob(
        format!(
            "{{\"critical\":{{\"image\":{{\"docker-manifest-digest\":\"{subject_digest}\"}}}}}}"
        )
        .as_bytes(),
    );
    let (signature, _) = l.manifest(
        &json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": empty.0, "size": empty.1},
            "layers": [{
                "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "digest": payload.0,
                "size": payload.1,
                "annotations": {"dev.cosignproject.cosign/signature": format!("MEUC-{seed}")},
            }],
        }),
        "sig",
    );
    skopeo_copy(
        &l.oci_ref("artifact"),
        &src.docker_ref(&format!("{repo}@{artifact}")),
    )
    .unwrap();
    skopeo_copy(
        &l.oci_ref("fallback"),
        &src.docker_ref(&format!("{repo}:sha256-{hex}")),
    )
    .unwrap();
    skopeo_copy(
        &l.oci_ref("sig"),
        &src.docker_ref(&format!("{repo}:sha256-{hex}.sig")),
    )
    .unwrap();
    (artifact, signature)
}
