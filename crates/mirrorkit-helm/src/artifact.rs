//! A chart as a Helm OCI artifact, built and pushed without the helm binary: the config blob is
//! the chart metadata as JSON, the one content layer is the `.tgz` exactly as upstream made it
//! (its digest is the one `index.yaml` gives), an optional second layer is the provenance file,
//! and the manifest is an OCI image manifest carrying Helm's annotations. Blobs go first, then
//! the manifest by digest, then the tag.

use std::path::{Path, PathBuf};

use mirrorkit_core::digest::Digest;
use mirrorkit_oci::OciError;
use mirrorkit_oci::target::Target;
use serde::{Deserialize, Serialize};

use super::chart::ChartMeta;
use mirrorkit_oci::media::OCI_MANIFEST;

/// Media type of the Helm config blob.
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
/// Media type of the chart archive layer.
pub const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// Media type of the provenance layer.
pub const HELM_PROV: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";

/// A verified file to push as a blob.
#[derive(Clone, Debug)]
pub(crate) struct Blob {
    /// Where it is.
    pub path: PathBuf,
    /// Its digest (verified).
    pub digest: Digest,
    /// Its size.
    pub size: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    annotations: std::collections::BTreeMap<String, String>,
}

/// The parts of a manifest read back from a target.
#[derive(Deserialize)]
struct ManifestShape {
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// A chart artifact ready to push.
pub(crate) struct Artifact {
    config: Blob,
    layers: Vec<(Blob, &'static str)>,
    /// The manifest bytes.
    pub manifest: Vec<u8>,
    /// Their digest.
    pub digest: Digest,
}

/// Build the artifact for `chart` (the `.tgz`) and its optional provenance file; the config
/// blob is written into `dir`.
pub(crate) fn build(
    meta: &ChartMeta,
    chart: Blob,
    prov: Option<Blob>,
    dir: &Path,
) -> Result<Artifact, OciError> {
    let config_bytes = meta.config_json();
    let config_path = dir.join(format!("config-{}.json", chart.digest.hex()));
    std::fs::write(&config_path, &config_bytes).map_err(|source| OciError::Io {
        path: config_path.clone(),
        source,
    })?;
    let config = Blob {
        path: config_path,
        digest: Digest::sha256_of(&config_bytes),
        size: config_bytes.len() as u64,
    };
    let mut layers = vec![(chart, HELM_CHART)];
    if let Some(p) = prov {
        layers.push((p, HELM_PROV));
    }
    let descriptor = |b: &Blob, media_type: &str| Descriptor {
        media_type: media_type.to_string(),
        digest: b.digest.to_string(),
        size: b.size,
    };
    let manifest = Manifest {
        schema_version: 2,
        media_type: OCI_MANIFEST,
        config: descriptor(&config, HELM_CONFIG),
        layers: layers.iter().map(|(b, m)| descriptor(b, m)).collect(),
        annotations: meta.oci_annotations(),
    };
    let manifest = serde_json::to_vec(&manifest).map_err(|e| OciError::Rejected {
        target: "helm artifact".into(),
        what: "manifest".into(),
        reason: e.to_string(),
    })?;
    Ok(Artifact {
        digest: Digest::sha256_of(&manifest),
        config,
        layers,
        manifest,
    })
}

impl Artifact {
    /// Every blob's digest (config first).
    pub(crate) fn blob_digests(&self) -> Vec<Digest> {
        std::iter::once(&self.config)
            .chain(self.layers.iter().map(|(b, _)| b))
            .map(|b| b.digest.clone())
            .collect()
    }

    /// Push blobs, the manifest by digest, then `tag`.
    pub(crate) async fn push(
        &self,
        target: &impl Target,
        repository: &str,
        tag: &str,
    ) -> Result<(), OciError> {
        for blob in std::iter::once(&self.config).chain(self.layers.iter().map(|(b, _)| b)) {
            target
                .push_blob(repository, &blob.digest, blob.size, &blob.path)
                .await?;
        }
        target
            .push_manifest(
                repository,
                &self.digest.to_string(),
                OCI_MANIFEST,
                &self.manifest,
            )
            .await?;
        target
            .push_manifest(repository, tag, OCI_MANIFEST, &self.manifest)
            .await?;
        Ok(())
    }
}

/// What a tag of the target holds, as far as charts are concerned.
#[derive(Clone, Debug)]
pub(crate) struct Existing {
    /// The manifest's digest.
    pub digest: Digest,
    /// The digest of its chart layer, if it is a Helm chart.
    pub chart_layer: Option<Digest>,
}

/// Read `tag` of `repository` on the target: `None` when it does not exist.
pub(crate) async fn existing(
    target: &impl Target,
    repository: &str,
    tag: &str,
) -> Result<Option<Existing>, OciError> {
    let Some((_, bytes)) = target.fetch_manifest(repository, tag).await? else {
        return Ok(None);
    };
    let chart_layer = serde_json::from_slice::<ManifestShape>(&bytes)
        .ok()
        .filter(|m| {
            m.config
                .as_ref()
                .is_some_and(|c| c.media_type == HELM_CONFIG)
        })
        .and_then(|m| {
            m.layers
                .into_iter()
                .find(|l| l.media_type == HELM_CHART)
                .and_then(|l| l.digest.parse().ok())
        });
    Ok(Some(Existing {
        digest: Digest::sha256_of(&bytes),
        chart_layer,
    }))
}

/// The chart layer of a manifest (`None` if the manifest is not a Helm chart), with its size.
pub(crate) fn chart_layer_of(manifest: &[u8]) -> Result<(Digest, u64), String> {
    let m: ManifestShape =
        serde_json::from_slice(manifest).map_err(|e| format!("manifest is not JSON: {e}"))?;
    let config = m
        .config
        .map(|c| c.media_type)
        .unwrap_or_else(|| "none".into());
    if config != HELM_CONFIG {
        return Err(format!("not a Helm chart (config media type {config})"));
    }
    let layer = m
        .layers
        .into_iter()
        .find(|l| l.media_type == HELM_CHART)
        .ok_or("the Helm chart manifest has no chart layer")?;
    let digest = layer
        .digest
        .parse()
        .map_err(|_| format!("bad chart layer digest {:?}", layer.digest))?;
    Ok((digest, layer.size))
}

/// Check a provenance file against the archive it signs: when it records a SHA-256 for
/// `file_name`, that must be `digest`. (The PGP signature itself is not checked here.)
pub(crate) fn check_provenance(
    prov: &[u8],
    file_name: &str,
    digest: &Digest,
) -> Result<(), String> {
    let text = String::from_utf8_lossy(prov);
    for line in text.lines() {
        if let Some((name, value)) = line.trim().split_once(':')
            && name.trim().trim_matches(['"', '\'']) == file_name
        {
            let recorded = value.trim().trim_matches(['"', '\'']);
            if recorded != digest.to_string() {
                return Err(format!(
                    "the provenance file records {recorded} for {file_name}, the archive is {digest}"
                ));
            }
        }
    }
    Ok(())
}
