//! The image family's source (`type: oci`).

use super::*;

/// `host[:port]/path` of an image, Docker Hub names expanded as docker does (`nginx` →
/// `docker.io/library/nginx`, `user/app` → `docker.io/user/app`).
pub(crate) fn split_image(image: &str) -> Option<(String, String)> {
    let image = image.strip_prefix("docker://").unwrap_or(image);
    let (first, rest) = match image.split_once('/') {
        Some((f, r)) if f.contains('.') || f.contains(':') || f == "localhost" => {
            (f.to_string(), r.to_string())
        }
        Some(_) => ("docker.io".to_string(), image.to_string()),
        None => ("docker.io".to_string(), format!("library/{image}")),
    };
    (is_host_port(&first) && is_repository_path(&rest)).then_some((first, rest))
}

pub(super) fn oci_source(
    ctx: &Ctx<'_>,
    s: &SourceSpec,
    field: &str,
) -> Result<SourceConfig, SpecError> {
    use crate::source::images::{OciSource, TagFilter};
    let Some(image) = &s.image else {
        return Err(ctx.err(
            &s.kind,
            format!("{field}.image"),
            "an oci source needs `image` (host[:port]/repository)",
        ));
    };
    let (registry, repository) = split_image(&image.value).ok_or_else(|| {
        ctx.err(
            image,
            format!("{field}.image"),
            format!(
                "{:?} is not host[:port]/repository (no tag or digest: select them with `tags` or `digests`)",
                image.value
            ),
        )
    })?;
    let regex =
        |r: &Option<Located<String>>, name: &str| -> Result<Option<regex::Regex>, SpecError> {
            r.as_ref()
                .map(|r| {
                    regex::RegexBuilder::new(&r.value)
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| {
                            ctx.err(
                                r,
                                format!("{field}.tags.{name}"),
                                format!("invalid regex: {e}"),
                            )
                        })
                })
                .transpose()
        };
    let mut tags = TagFilter::default();
    if let Some(t) = &s.tags {
        tags.include = t.value.include.clone().unwrap_or_default();
        tags.regex = regex(&t.value.regex, "regex")?;
        tags.exclude_regex = regex(&t.value.exclude_regex, "exclude_regex")?;
        if let Some(r) = &t.value.semver {
            tags.semver = Some(semver::VersionReq::parse(&r.value).map_err(|e| {
                ctx.err(
                    r,
                    format!("{field}.tags.semver"),
                    format!("invalid semver range: {e}"),
                )
            })?);
        }
        if let Some(n) = &t.value.latest {
            if n.value == 0 {
                return Err(ctx.err(n, format!("{field}.tags.latest"), "must be at least 1"));
            }
            tags.latest = Some(n.value);
        }
    }
    let mut digests = Vec::new();
    if let Some(d) = &s.digests {
        if s.tags.is_some() {
            return Err(ctx.err(
                d,
                format!("{field}.digests"),
                "give either `tags` or `digests`",
            ));
        }
        for (i, x) in d.value.iter().enumerate() {
            digests.push(x.parse().map_err(|e: crate::digest::DigestParseError| {
                ctx.err(d, format!("{field}.digests[{i}]"), e.to_string())
            })?);
        }
    }
    let platforms = match &s.platforms {
        Some(list) => {
            let mut out = Vec::new();
            for p in &list.value {
                let parsed = p
                    .value
                    .parse::<Platform>()
                    .map_err(|e| ctx.err(p, format!("{field}.platforms"), e.to_string()))?;
                ctx.known_platform(p, &format!("{field}.platforms"), &parsed)?;
                out.push(parsed);
            }
            if out.is_empty() {
                return Err(ctx.err(
                    list,
                    format!("{field}.platforms"),
                    "list at least one platform, or leave it out for all",
                ));
            }
            Some(out)
        }
        None => None,
    };
    Ok(SourceConfig::Oci(OciSource {
        registry,
        repository,
        tags,
        digests,
        platforms,
        referrers: s.referrers.unwrap_or(true),
    }))
}
