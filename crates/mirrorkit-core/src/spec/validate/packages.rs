//! `type: packages` sources (PURLs, SBOMs, upstreams, the version policy) and the `packages`
//! target they publish to. The PURLs are parsed by the package family, which names each by the
//! place recorded here; everything else is checked now, offline.

use super::*;
use crate::source::packages::{
    NamedPurl, PackageVersions, PackagesSource, PypiTargets, UPSTREAM_ECOSYSTEMS, is_upstream_url,
    parse_instant, whole_registry_refusal,
};
use crate::spec::model::{PackageVersionsSpec, PypiSpec};

pub(super) fn packages_source(
    ctx: &Ctx<'_>,
    s: &SourceSpec,
    field: &str,
) -> Result<SourceConfig, SpecError> {
    let mut purls = Vec::new();
    for (i, p) in s.purls.iter().flat_map(|l| l.value.iter()).enumerate() {
        if p.value.trim().is_empty() {
            return Err(ctx.err(p, format!("{field}.purls[{i}]"), "an empty PURL"));
        }
        purls.push(NamedPurl {
            purl: p.value.clone(),
            origin: format!("{}:{}:{}", ctx.path.display(), p.line, p.column),
        });
    }
    let mut sboms = Vec::new();
    for (i, f) in s.sboms.iter().flat_map(|l| l.value.iter()).enumerate() {
        let path = ctx.resolve(&f.value);
        if !path.is_file() {
            return Err(ctx.err(
                f,
                format!("{field}.sboms[{i}]"),
                format!("{}: no such file", path.display()),
            ));
        }
        sboms.push(path);
    }
    let mut upstreams = BTreeMap::new();
    for (ecosystem, url) in s.upstreams.iter().flat_map(|l| l.value.iter()) {
        let f = format!("{field}.upstreams.{ecosystem}");
        if !UPSTREAM_ECOSYSTEMS.contains(&ecosystem.as_str()) {
            return Err(ctx.err(
                url,
                f,
                format!(
                    "{ecosystem:?} is not an ecosystem with an upstream ({})",
                    UPSTREAM_ECOSYSTEMS.join(", ")
                ),
            ));
        }
        let parsed = Url::parse(&url.value)
            .ok()
            .filter(|u| is_upstream_url(ecosystem, u));
        let Some(parsed) = parsed else {
            let expected = if ecosystem == "cargo" {
                "an http(s) URL (or sparse+http(s), as cargo writes it)"
            } else {
                "an http(s) URL"
            };
            return Err(ctx.err(url, f, format!("{:?} is not {expected}", url.value)));
        };
        upstreams.insert(ecosystem.clone(), parsed);
    }
    let registry = match &s.registry {
        Some(r) => {
            let upstream = upstreams.get(r.value.as_str());
            if let Some(why) = whole_registry_refusal(&r.value, upstream) {
                return Err(ctx.err(r, format!("{field}.registry"), why));
            }
            Some(r.value.clone())
        }
        None => None,
    };
    if purls.is_empty() && sboms.is_empty() && registry.is_none() {
        return Err(ctx.err(
            &s.kind,
            field,
            "a packages source needs `purls`, `sboms` or `registry` (what to mirror)",
        ));
    }
    let versions = match &s.versions {
        Some(v) => package_versions(ctx, v, &format!("{field}.versions"))?,
        None => PackageVersions::default(),
    };
    let pypi = match &s.pypi {
        Some(p) => pypi_targets(ctx, p, &format!("{field}.pypi"))?,
        None => PypiTargets::default(),
    };
    Ok(SourceConfig::Packages(PackagesSource {
        purls,
        sboms,
        upstreams,
        dependencies: s.dependencies.unwrap_or(false),
        prereleases: s.prereleases.unwrap_or(false),
        versions,
        pypi,
        registry,
    }))
}

/// `pypi`: `{python, platforms, sdist}`.
fn pypi_targets(
    ctx: &Ctx<'_>,
    p: &Located<serde_json::Value>,
    field: &str,
) -> Result<PypiTargets, SpecError> {
    let spec: PypiSpec = serde_json::from_value(p.value.clone()).map_err(|e| {
        ctx.err(
            p,
            field,
            format!("expected {{python, platforms, sdist}}: {e}"),
        )
    })?;
    let python = spec.python.clone().unwrap_or_default();
    let platforms = spec.platforms.clone().unwrap_or_default();
    for (i, v) in python.iter().enumerate() {
        PypiTargets::check_python(v).map_err(|e| ctx.err(p, format!("{field}.python[{i}]"), e))?;
    }
    for (i, v) in platforms.iter().enumerate() {
        PypiTargets::check_platform(v)
            .map_err(|e| ctx.err(p, format!("{field}.platforms[{i}]"), e))?;
    }
    for (name, empty) in [
        ("python", spec.python.as_ref().is_some_and(Vec::is_empty)),
        (
            "platforms",
            spec.platforms.as_ref().is_some_and(Vec::is_empty),
        ),
    ] {
        if empty {
            return Err(ctx.err(
                p,
                format!("{field}.{name}"),
                "an empty list would match no file; leave it out for every one",
            ));
        }
    }
    Ok(PypiTargets {
        python,
        platforms,
        sdist: spec.sdist.unwrap_or(true),
    })
}

/// `versions`: a range, or `{semver, latest, since}`.
fn package_versions(
    ctx: &Ctx<'_>,
    v: &Located<serde_json::Value>,
    field: &str,
) -> Result<PackageVersions, SpecError> {
    let spec: PackageVersionsSpec = match &v.value {
        serde_json::Value::String(range) => PackageVersionsSpec {
            semver: Some(range.clone()),
            ..PackageVersionsSpec::default()
        },
        other => serde_json::from_value(other.clone()).map_err(|e| {
            ctx.err(
                v,
                field,
                format!("expected a range or {{semver, latest, since}}: {e}"),
            )
        })?,
    };
    if spec.semver.as_deref().is_some_and(|r| r.trim().is_empty()) {
        return Err(ctx.err(v, format!("{field}.semver"), "an empty range"));
    }
    if spec.latest == Some(0) {
        return Err(ctx.err(v, format!("{field}.latest"), "must be at least 1"));
    }
    let since = spec
        .since
        .as_deref()
        .map(|t| {
            parse_instant(t).ok_or_else(|| {
                ctx.err(
                    v,
                    format!("{field}.since"),
                    format!("{t:?} is not a date (2026-01-31) or an RFC 3339 instant"),
                )
            })
        })
        .transpose()?;
    Ok(PackageVersions {
        range: spec.semver.map(|r| r.trim().to_string()),
        latest: spec.latest,
        since,
    })
}

/// The target of a package mirror: `packages` (default `./packages`) and `base_url` from the
/// mirror's own target or the shared one.
pub(super) fn packages_target(
    ctx: &Ctx<'_>,
    own: Option<&TargetSpec>,
    shared: Option<&TargetSpec>,
    field: &str,
) -> Result<TargetConfig, SpecError> {
    only_target_fields(
        ctx,
        own,
        &["packages", "base_url"],
        "a packages mirror (it publishes static registries under `packages`)",
        field,
    )?;
    let t = own.or(shared);
    let path = t
        .and_then(|t| t.packages.as_ref())
        .map(|p| ctx.resolve(&p.value))
        .unwrap_or_else(|| PathBuf::from("packages"));
    let Some(base) = t.and_then(|t| t.base_url.as_ref()) else {
        return Err(ctx.err_nowhere(
            format!("{field}.base_url"),
            "a packages mirror needs the URL its tree is served at (`target: {packages: DIR, \
             base_url: http://HOST/PATH/}`): its documents point their files under it",
        ));
    };
    let base_url = Url::parse(&base.value)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    let Some(base_url) = base_url else {
        return Err(ctx.err(
            base,
            format!("{field}.base_url"),
            format!("{:?} is not an http(s) URL", base.value),
        ));
    };
    Ok(TargetConfig::Packages { path, base_url })
}
