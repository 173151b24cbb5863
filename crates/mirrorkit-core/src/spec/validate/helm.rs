//! The chart family's source (`type: helm`).

use super::*;

pub(super) fn helm_source(
    ctx: &Ctx<'_>,
    s: &SourceSpec,
    field: &str,
) -> Result<SourceConfig, SpecError> {
    use crate::source::images::{ChartVersions, HelmRepo, HelmSource};
    let repo = match (&s.repo, &s.path) {
        (Some(_), Some(p)) => {
            return Err(ctx.err(p, format!("{field}.path"), "give either `repo` or `path`"));
        }
        (Some(r), None) => {
            if let Some(rest) = r.value.strip_prefix("oci://") {
                let (registry, path) = match rest.trim_end_matches('/').split_once('/') {
                    Some((h, p)) => (h.to_string(), p.to_string()),
                    None => (rest.to_string(), String::new()),
                };
                if !is_host_port(&registry) || (!path.is_empty() && !is_repository_path(&path)) {
                    return Err(ctx.err(
                        r,
                        format!("{field}.repo"),
                        format!("{:?} is not oci://host[:port]/path", r.value),
                    ));
                }
                HelmRepo::Oci { registry, path }
            } else {
                match Url::parse(&r.value) {
                    Ok(u) if matches!(u.scheme(), "http" | "https" | "file") => HelmRepo::Http(u),
                    _ => {
                        return Err(ctx.err(
                            r,
                            format!("{field}.repo"),
                            format!(
                                "{:?} is not an http(s)://, file:// or oci:// chart repository",
                                r.value
                            ),
                        ));
                    }
                }
            }
        }
        (None, Some(p)) => HelmRepo::Path(ctx.resolve(&p.value)),
        (None, None) => {
            return Err(ctx.err(
                &s.kind,
                format!("{field}.repo"),
                "a helm source needs `repo` or `path`",
            ));
        }
    };
    let chart = match (&s.chart, &repo) {
        (Some(c), _) => {
            if !is_repository_component(&c.value) {
                return Err(ctx.err(
                    c,
                    format!("{field}.chart"),
                    format!("{:?} is not a chart name", c.value),
                ));
            }
            Some(c.value.clone())
        }
        (None, HelmRepo::Path(_)) => None,
        (None, _) => {
            return Err(ctx.err(
                &s.kind,
                format!("{field}.chart"),
                "a helm source needs `chart`",
            ));
        }
    };
    let versions = match &s.versions {
        None => ChartVersions::All,
        Some(v) => match &v.value {
            serde_json::Value::Array(items) => ChartVersions::List(
                items
                    .iter()
                    .map(|i| match i {
                        serde_json::Value::String(x) => Ok(x.clone()),
                        other => Ok(other.to_string()),
                    })
                    .collect::<Result<_, SpecError>>()?,
            ),
            serde_json::Value::String(r) => {
                ChartVersions::Range(semver::VersionReq::parse(r).map_err(|e| {
                    ctx.err(
                        v,
                        format!("{field}.versions"),
                        format!("invalid semver range {r:?}: {e}"),
                    )
                })?)
            }
            serde_json::Value::Object(o)
                if o.len() == 1
                    && o.get("latest")
                        .and_then(|n| n.as_u64())
                        .is_some_and(|n| n > 0) =>
            {
                ChartVersions::Latest(o.get("latest").and_then(|n| n.as_u64()).unwrap_or(1) as usize)
            }
            _ => {
                return Err(ctx.err(
                    v,
                    format!("{field}.versions"),
                    "expected a list of versions, a semver range, or {latest: N}",
                ));
            }
        },
    };
    let mut extra_images = Vec::new();
    if let Some(list) = &s.extra_images {
        for (i, image) in list.value.iter().enumerate() {
            let base = image.split('@').next().unwrap_or(image);
            let without_tag = match base.rsplit_once(':') {
                Some((b, t)) if !t.contains('/') => b,
                _ => base,
            };
            if split_image(without_tag).is_none() {
                return Err(ctx.err(
                    list,
                    format!("{field}.extra_images[{i}]"),
                    format!("{image:?} is not an image reference"),
                ));
            }
            extra_images.push(image.clone());
        }
    }
    if let Some(p) = &s.charts_prefix
        && !p.value.is_empty()
        && !is_repository_path(&p.value)
    {
        return Err(ctx.err(
            p,
            format!("{field}.charts_prefix"),
            "not a valid repository path",
        ));
    }
    Ok(SourceConfig::Helm(HelmSource {
        repo,
        chart,
        versions,
        images: s.images.unwrap_or(false),
        extra_images,
        referrers: s.referrers.unwrap_or(true),
        helm_template: s.helm_template.unwrap_or_default(),
    }))
}

/// The `name` a chart directory's Chart.yaml gives (to name its repository); `None` when it
/// cannot be read: the sync then fails that mirror naming the file and the reason.
pub(super) fn chart_dir_name(dir: &Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        name: String,
    }
    let text = std::fs::read_to_string(dir.join("Chart.yaml")).ok()?;
    let named: Named = serde_saphyr::from_str(&text).ok()?;
    Some(named.name).filter(|n| is_repository_path(n))
}
