//! Mirroring one image a chart uses into `<namespace>/<path>` of the mirror's target, with every
//! platform, digests preserved: skipped when the target's tag already points at the source's
//! digest, else copied with [`mirrorkit_oci::copy::copy`].

use mirrorkit_core::digest::Digest;
use mirrorkit_core::report::Status;
use mirrorkit_core::spec::Mirror;
use mirrorkit_oci::target::Target;

use super::image_ref::ImageRef;
use super::oci_repo::source_registry;
use mirrorkit_images::SyncContext;
use mirrorkit_oci::reference::{ImageReference, is_valid_repository};

/// The registry host that serves `host`'s images (Docker Hub's API is on another name).
pub(crate) fn api_host(host: &str) -> &str {
    if host == "docker.io" {
        "registry-1.docker.io"
    } else {
        host
    }
}

/// The repository an image gets in the target: its path under the mirror's namespace.
pub(crate) fn target_repository(image: &ImageRef, mirror: &Mirror) -> String {
    match &mirror.namespace {
        Some(ns) => format!("{ns}/{}", image.path),
        None => image.path.clone(),
    }
}

/// Where `image` goes in the mirror's target, for the report: `<repository>:<tag>`, with
/// `@<digest>` when it is pinned.
pub(crate) fn report_target(image: &ImageRef, mirror: &Mirror) -> String {
    let mut out = target_repository(image, mirror);
    if let Some(tag) = &image.tag {
        out.push(':');
        out.push_str(tag);
    }
    if let Some(digest) = &image.digest {
        out.push('@');
        out.push_str(&digest.to_string());
    }
    out
}

/// Mirror `image`; the outcome and, when it failed, why.
pub(crate) async fn mirror_image(
    image: &ImageRef,
    mirror: &Mirror,
    target: &impl Target,
    ctx: &SyncContext<'_>,
) -> (Status, Option<String>) {
    match try_mirror(image, mirror, target, ctx).await {
        Ok(status) => (status, None),
        Err(reason) => (Status::Failed, Some(reason)),
    }
}

async fn try_mirror(
    image: &ImageRef,
    mirror: &Mirror,
    target: &impl Target,
    ctx: &SyncContext<'_>,
) -> Result<Status, String> {
    let repository = target_repository(image, mirror);
    if !is_valid_repository(&repository) {
        return Err(format!("{repository:?} is not a valid target repository"));
    }
    let host = api_host(&image.host);
    let registry = source_registry(host, ctx).map_err(|e| e.to_string())?;
    let reference = image
        .digest
        .as_ref()
        .map(Digest::to_string)
        .or_else(|| image.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let head = registry
        .head_manifest(&image.path, &reference)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{image} not found"))?;
    let source_digest = match (head.digest, &image.digest) {
        (_, Some(d)) => d.clone(),
        (Some(d), None) => d,
        (None, None) => {
            registry
                .get_manifest(&image.path, &reference)
                .await
                .map_err(|e| e.to_string())?
                .digest
        }
    };
    // The tag (or, for a digest-only reference, the digest) the image gets in the target.
    let dest_ref = image
        .tag
        .clone()
        .unwrap_or_else(|| source_digest.to_string());
    let present = match &image.tag {
        Some(tag) => {
            target
                .resolve_tag(&repository, tag)
                .await
                .map_err(|e| e.to_string())?
                == Some(source_digest.clone())
        }
        None => target
            .fetch_manifest(&repository, &source_digest.to_string())
            .await
            .map_err(|e| e.to_string())?
            .is_some(),
    };
    if present {
        return Ok(Status::Skipped);
    }
    if ctx.dry_run {
        return Ok(Status::Planned);
    }
    let src = ImageReference::Docker {
        host: host.to_string(),
        repository: image.path.clone(),
        tag: image.tag.clone(),
        digest: Some(source_digest.clone()),
    };
    let dst = mirrorkit_oci::target::reference_in(&mirror.target, &repository, &dest_ref)
        .map_err(|e| e.to_string())?;
    let mut opts = ctx.copy_options();
    // Signatures, SBOMs and attestations come along unless the mirror says `referrers: false`.
    opts.referrers = helm_referrers(mirror);
    let report = mirrorkit_oci::copy::copy(&src, &dst, &opts)
        .await
        .map_err(|e| e.to_string())?;
    if report.digest != source_digest {
        return Err(format!(
            "copied {} but the source is {source_digest}",
            report.digest
        ));
    }
    Ok(Status::Pushed)
}

/// The mirror's `referrers:` setting (default true).
pub(crate) fn helm_referrers(mirror: &mirrorkit_core::spec::Mirror) -> bool {
    match &mirror.source {
        mirrorkit_core::spec::SourceConfig::Helm(h) => h.referrers,
        _ => true,
    }
}
