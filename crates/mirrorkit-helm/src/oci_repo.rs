//! OCI chart repositories (`oci://host/path`, the chart at `path/<chart>`): tags are chart
//! versions with `+` written as `_`; a chart is copied into the target as it is (manifest bytes
//! and digests preserved), and its chart layer is read when its images are wanted. Also where
//! a reference into the mirror's target is built (`docker://…` or `oci:DIR`).

use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt as _;
use mirrorkit_core::digest::{Algorithm, Digest, Hasher};
use mirrorkit_core::source::images::tag_semver;
use mirrorkit_core::spec::TargetConfig;
use tokio::io::AsyncWriteExt as _;

use super::artifact::{Blob, chart_layer_of};
use super::chart::MAX_CHART_BYTES;
use mirrorkit_images::SyncContext;
use mirrorkit_oci::error::OciError;
use mirrorkit_oci::reference::ImageReference;
use mirrorkit_oci::registry::Registry;

/// One chart version in an OCI repository.
#[derive(Clone)]
pub(crate) struct OciChart {
    /// The source registry.
    pub registry: Arc<Registry>,
    /// The chart's repository on it.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// The manifest's digest.
    pub manifest_digest: Digest,
    /// The chart layer's digest and size.
    pub layer: (Digest, u64),
}

/// A client for a source registry (plain HTTP when the spec marks it insecure).
pub(crate) fn source_registry(host: &str, ctx: &SyncContext<'_>) -> Result<Registry, OciError> {
    ctx.access().registry(host, false)
}

/// The chart versions among `tags`: tags that read as versions once `_` is `+` again (as Helm
/// lists them), paired with their tag. Signature and referrer tags (`sha256-…`) are left out.
pub(crate) fn versions_of(tags: &[String]) -> Vec<(String, String)> {
    tags.iter()
        .filter(|t| !t.starts_with("sha256-"))
        .map(|t| (t.replace('_', "+"), t.clone()))
        .filter(|(v, _)| tag_semver(v).is_some())
        .collect()
}

/// Read the manifest of `tag` and check it is a Helm chart.
pub(crate) async fn resolve(
    registry: &Arc<Registry>,
    repository: &str,
    tag: &str,
) -> Result<OciChart, String> {
    let m = registry
        .get_manifest(repository, tag)
        .await
        .map_err(|e| e.to_string())?;
    let layer = chart_layer_of(&m.bytes)?;
    Ok(OciChart {
        registry: registry.clone(),
        repository: repository.to_string(),
        tag: tag.to_string(),
        manifest_digest: m.digest,
        layer,
    })
}

/// Download the chart layer into `dest`, hashed on the way and checked against its descriptor.
pub(crate) async fn fetch_layer(chart: &OciChart, dest: &Path) -> Result<Blob, String> {
    let (digest, size) = &chart.layer;
    if *size > MAX_CHART_BYTES {
        return Err(format!(
            "the chart layer is {size} bytes, more than {MAX_CHART_BYTES}"
        ));
    }
    let mut stream = chart
        .registry
        .get_blob(&chart.repository, digest)
        .await
        .map_err(|e| e.to_string())?;
    let io_err = |e: std::io::Error| format!("{}: {e}", dest.display());
    let mut file = tokio::fs::File::create(dest).await.map_err(io_err)?;
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let mut got = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        got += chunk.len() as u64;
        if got > *size {
            return Err(format!(
                "the chart layer is larger than its declared {size} bytes"
            ));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(io_err)?;
    }
    file.flush().await.map_err(io_err)?;
    let actual = hasher.finish();
    if actual != *digest || got != *size {
        return Err(format!(
            "digest mismatch for the chart layer: expected {digest} ({size} bytes), got {actual} ({got} bytes)"
        ));
    }
    Ok(Blob {
        path: dest.to_path_buf(),
        digest: actual,
        size: got,
    })
}

/// Copy the chart into `repository` of the target under its tag, byte for byte.
pub(crate) async fn copy_chart(
    chart: &OciChart,
    referrers: bool,
    target: &TargetConfig,
    repository: &str,
    ctx: &SyncContext<'_>,
) -> Result<Digest, String> {
    let src = ImageReference::Docker {
        host: chart.registry.host().to_string(),
        repository: chart.repository.clone(),
        tag: Some(chart.tag.clone()),
        digest: Some(chart.manifest_digest.clone()),
    };
    let dst = mirrorkit_oci::target::reference_in(target, repository, &chart.tag)
        .map_err(|e| e.to_string())?;
    let mut opts = ctx.copy_options();
    // Signatures, SBOMs and attestations come along unless the mirror says `referrers: false`.
    opts.referrers = referrers;
    let report = mirrorkit_oci::copy::copy(&src, &dst, &opts)
        .await
        .map_err(|e| e.to_string())?;
    if report.digest != chart.manifest_digest {
        return Err(format!(
            "copied {} but the source manifest is {}",
            report.digest, chart.manifest_digest
        ));
    }
    Ok(report.digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_versions_with_plus_as_underscore() {
        let tags: Vec<String> = [
            "1.0.0",
            "1.1.0_build.5",
            "latest",
            "sha256-abc.sig",
            "v2.0.0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            versions_of(&tags),
            [
                ("1.0.0".to_string(), "1.0.0".to_string()),
                ("1.1.0+build.5".to_string(), "1.1.0_build.5".to_string()),
                ("v2.0.0".to_string(), "v2.0.0".to_string()),
            ]
        );
    }
}
