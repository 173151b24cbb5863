//! The release family's fields: version policy, platforms and their asset patterns, verification,
//! concurrency.

use super::*;

pub(super) fn version_policy(
    ctx: &Ctx<'_>,
    m: &MirrorFields<'_>,
    field: &dyn Fn(&str) -> String,
) -> Result<VersionPolicy, SpecError> {
    let mut policy = VersionPolicy {
        skip_prereleases: m.skip_prereleases.unwrap_or(false),
        ..VersionPolicy::default()
    };
    if let Some(v) = m.versions.filter(|_| is_release(m.source)) {
        let f = field("versions");
        let Some(obj) = v.value.as_object() else {
            return Err(ctx.err(
                v,
                &f,
                "expected {min, max, new_per_run, backfill} for a release source",
            ));
        };
        let text = |name: &str| -> Result<Option<String>, SpecError> {
            match obj.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(t)) => version_text(
                    ctx,
                    &Located {
                        value: t.clone(),
                        line: v.line,
                        column: v.column,
                    },
                    &format!("{f}.{name}"),
                )
                .map(Some),
                Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
                Some(other) => Err(ctx.err(
                    v,
                    format!("{f}.{name}"),
                    format!("expected a version, got {other}"),
                )),
            }
        };
        for key in obj.keys() {
            if !["min", "max", "new_per_run", "backfill", "poll_interval"].contains(&key.as_str()) {
                return Err(ctx.err(
                    v,
                    format!("{f}.{key}"),
                    "unknown field (expected min, max, new_per_run, backfill, poll_interval)",
                ));
            }
        }
        policy.min = text("min")?;
        policy.max = text("max")?;
        if let (Some(min), Some(max)) = (&policy.min, &policy.max)
            && crate::version::compare(min, max) != std::cmp::Ordering::Less
        {
            return Err(ctx.err(
                v,
                format!("{f}.max"),
                format!("max {max} must be above min {min} (min is inclusive, max exclusive)"),
            ));
        }
        match obj.get("new_per_run") {
            None | Some(serde_json::Value::Null) => {}
            Some(n) => match n.as_u64() {
                Some(n) if n >= 1 => policy.new_per_run = Some(n as usize),
                _ => {
                    return Err(ctx.err(
                        v,
                        format!("{f}.new_per_run"),
                        "must be a number, at least 1",
                    ));
                }
            },
        }
        policy.backfill = match obj.get("backfill").and_then(|b| b.as_str()) {
            None => crate::spec::BackfillSpec::NewestFirst,
            Some("newest_first") => crate::spec::BackfillSpec::NewestFirst,
            Some("oldest_first") => crate::spec::BackfillSpec::OldestFirst,
            Some(other) => {
                return Err(ctx.err(
                    v,
                    format!("{f}.backfill"),
                    format!("{other:?}: expected newest_first or oldest_first"),
                ));
            }
        };
    }
    if let Some(rules) = m.exclude {
        for (i, r) in rules.value.iter().enumerate() {
            let f = field(&format!("exclude[{i}]"));
            let given = [
                r.version.is_some(),
                r.min_version.is_some() || r.max_version.is_some(),
            ];
            if given.iter().filter(|g| **g).count() != 1 {
                return Err(ctx.err(
                    rules,
                    &f,
                    "an exclude rule needs either `version`, or `min_version` and/or `max_version`",
                ));
            }
            let text = |v: &Option<Located<String>>, name: &str| {
                v.as_ref()
                    .map(|x| version_text(ctx, x, &format!("{f}.{name}")))
                    .transpose()
            };
            policy.exclude.push(ExcludeRule {
                version: text(&r.version, "version")?,
                min_version: text(&r.min_version, "min_version")?,
                max_version: text(&r.max_version, "max_version")?,
                reason: r.reason.clone(),
            });
        }
    }
    Ok(policy)
}

pub(super) fn platform_settings(
    ctx: &Ctx<'_>,
    settings: Option<&Located<serde_json::Value>>,
    platforms: &mut [PlatformAssets],
    field: &str,
) -> Result<(), SpecError> {
    let Some(settings) = settings else {
        return Ok(());
    };
    let Some(map) = settings.value.as_object() else {
        return Err(ctx.err(
            settings,
            field,
            "expected a map of os/arch → {min_version, max_version} for a release source",
        ));
    };
    for (key, s) in map {
        let pfield = format!("{field}.{key}");
        let parsed: Platform = key
            .parse()
            .map_err(|e: crate::platform::PlatformParseError| {
                ctx.err(settings, &pfield, e.to_string())
            })?;
        let Some(p) = platforms.iter_mut().find(|p| p.platform == parsed) else {
            return Err(ctx.err(
                settings,
                &pfield,
                format!("{key} is not one of the platforms under `assets`"),
            ));
        };
        let spec: PlatformSpec = serde_json::from_value(s.clone())
            .map_err(|e| ctx.err(settings, &pfield, e.to_string()))?;
        let text = |v: &Option<Located<String>>, name: &str| {
            v.as_ref()
                .map(|x| {
                    version_text(
                        ctx,
                        &Located {
                            value: x.value.clone(),
                            line: settings.line,
                            column: settings.column,
                        },
                        &format!("{pfield}.{name}"),
                    )
                })
                .transpose()
        };
        p.min_version = text(&spec.min_version, "min_version")?;
        p.max_version = text(&spec.max_version, "max_version")?;
    }
    Ok(())
}

pub(super) fn is_release(s: &SourceSpec) -> bool {
    matches!(
        s.kind.value,
        SourceKind::UrlIndex | SourceKind::GithubRelease
    )
}

/// The source with the fields DESIGN.md places beside it (`tags`, `platforms`, `referrers`,
/// `chart`, `versions`, `images`, …) moved in, so one validation serves both placements.
pub(super) fn effective_source(
    ctx: &Ctx<'_>,
    m: &MirrorFields<'_>,
    field: &dyn Fn(&str) -> String,
) -> Result<SourceSpec, SpecError> {
    let mut eff = m.source.clone();
    let kind = eff.kind.value;
    let both = |name: &str, at: (u64, u64)| SpecError::Invalid {
        path: ctx.path.to_path_buf(),
        line: at.0,
        column: at.1,
        field: field(name),
        message: format!("`{name}` is given both beside and inside `source`; keep one"),
    };
    let not_for = |name: &str, at: (u64, u64), kinds: &str| SpecError::Invalid {
        path: ctx.path.to_path_buf(),
        line: at.0,
        column: at.1,
        field: field(name),
        message: format!("`{name}` applies to {kinds} sources only"),
    };
    macro_rules! carry {
        ($name:literal, $mirror:expr, $slot:expr, $at:expr, $allowed:expr, $kinds:literal) => {
            if let Some(v) = $mirror {
                if !$allowed {
                    return Err(not_for($name, $at, $kinds));
                }
                if $slot.is_some() {
                    return Err(both($name, $at));
                }
                $slot = Some(v.clone());
            }
        };
    }
    let oci = kind == SourceKind::Oci;
    let helm = kind == SourceKind::Helm;
    let kind_at = (m.source.kind.line, m.source.kind.column);
    carry!(
        "tags",
        m.tags,
        eff.tags,
        m.tags.map_or(kind_at, |t| (t.line, t.column)),
        oci,
        "oci"
    );
    carry!(
        "digests",
        m.digests,
        eff.digests,
        m.digests.map_or(kind_at, |t| (t.line, t.column)),
        oci,
        "oci"
    );
    carry!(
        "include_host",
        m.include_host,
        eff.include_host,
        kind_at,
        oci,
        "oci"
    );
    carry!(
        "referrers",
        m.referrers,
        eff.referrers,
        kind_at,
        oci || helm,
        "oci and helm"
    );
    carry!(
        "chart",
        m.chart,
        eff.chart,
        m.chart.map_or(kind_at, |t| (t.line, t.column)),
        helm,
        "helm"
    );
    carry!("images", m.images, eff.images, kind_at, helm, "helm");
    carry!(
        "extra_images",
        m.extra_images,
        eff.extra_images,
        m.extra_images.map_or(kind_at, |t| (t.line, t.column)),
        helm,
        "helm"
    );
    carry!(
        "charts_prefix",
        m.charts_prefix,
        eff.charts_prefix,
        m.charts_prefix.map_or(kind_at, |t| (t.line, t.column)),
        helm,
        "helm"
    );
    if helm && let Some(v) = m.versions {
        if eff.versions.is_some() {
            return Err(both("versions", (v.line, v.column)));
        }
        eff.versions = Some(v.clone());
    }
    if oci && let Some(p) = m.platforms {
        if eff.platforms.is_some() {
            return Err(both("platforms", (p.line, p.column)));
        }
        let Some(list) = p.value.as_array() else {
            return Err(ctx.err(
                p,
                field("platforms"),
                "expected a list of os/arch[/variant] for an oci source",
            ));
        };
        let mut out = Vec::new();
        for item in list {
            let Some(text) = item.as_str() else {
                return Err(ctx.err(
                    p,
                    field("platforms"),
                    format!("{item} is not a platform string"),
                ));
            };
            out.push(Located {
                value: text.to_string(),
                line: p.line,
                column: p.column,
            });
        }
        eff.platforms = Some(Located {
            value: out,
            line: p.line,
            column: p.column,
        });
    }
    Ok(eff)
}

pub(super) fn verify_policy(
    ctx: &Ctx<'_>,
    v: Option<&VerifySpec>,
    field: &str,
) -> Result<VerifyPolicy, SpecError> {
    let mut policy = VerifyPolicy::default();
    let Some(v) = v else {
        return Ok(policy);
    };
    if let Some(p) = v.github_asset_digest {
        policy.github_asset_digest = p;
    }
    if let Some(p) = v.url_index_digest {
        policy.url_index_digest = p;
    }
    if let Some(c) = &v.checksums_file {
        let t = c.value.trim();
        if t.is_empty() {
            return Err(ctx.err(c, format!("{field}.checksums_file"), "is empty"));
        }
        if t.contains("://") {
            match Url::parse(&t.replace("{version}", "0")) {
                Ok(u) if matches!(u.scheme(), "http" | "https" | "file") => {}
                _ => {
                    return Err(ctx.err(
                        c,
                        format!("{field}.checksums_file"),
                        format!("{t:?} is neither an asset name nor an http(s) or file URL"),
                    ));
                }
            }
        } else if t.contains('/') {
            return Err(ctx.err(
                c,
                format!("{field}.checksums_file"),
                "an asset name cannot contain `/` (give a full URL for a file elsewhere)",
            ));
        }
        policy.checksums_file = Some(t.to_string());
    }
    if let Some(r) = v.require {
        policy.require = r;
    }
    Ok(policy)
}

pub(super) fn concurrency(
    ctx: &Ctx<'_>,
    c: Option<&ConcurrencySpec>,
    field: &str,
) -> Result<Concurrency, SpecError> {
    let mut out = Concurrency::default();
    let Some(c) = c else {
        return Ok(out);
    };
    let at_least_one = |v: &Located<usize>, name: &str| {
        if v.value == 0 {
            Err(ctx.err(v, format!("{field}.{name}"), "must be at least 1"))
        } else {
            Ok(v.value)
        }
    };
    if let Some(v) = &c.max_downloads {
        out.max_downloads = at_least_one(v, "max_downloads")?;
    }
    if let Some(v) = &c.max_bundles {
        out.max_bundles = at_least_one(v, "max_bundles")?;
    }
    if let Some(v) = &c.compression_threads {
        // 0 is ocx-mirror's "automatic".
        out.compression_threads = (v.value > 0).then_some(v.value);
    }
    Ok(out)
}

pub(super) fn platforms(
    ctx: &Ctx<'_>,
    assets: &AssetPatterns,
    field: &str,
) -> Result<Vec<PlatformAssets>, SpecError> {
    if assets.is_empty() {
        return Err(ctx.err_nowhere(field, "at least one platform is needed"));
    }
    let mut out = Vec::new();
    for (platform, patterns) in assets {
        let pfield = format!("{field}.{}", platform.value);
        let parsed: Platform =
            platform
                .value
                .parse()
                .map_err(|e: crate::platform::PlatformParseError| {
                    ctx.err(platform, &pfield, e.to_string())
                })?;
        ctx.known_platform(platform, &pfield, &parsed)?;
        if patterns.value.is_empty() {
            return Err(ctx.err(patterns, &pfield, "at least one pattern is needed"));
        }
        let mut compiled = Vec::new();
        for (i, p) in patterns.value.iter().enumerate() {
            let re = regex::RegexBuilder::new(&p.value)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| ctx.err(p, format!("{pfield}[{i}]"), format!("invalid regex: {e}")))?;
            compiled.push(re);
        }
        out.push(PlatformAssets {
            platform: parsed,
            patterns: compiled,
            asset_type: AssetTypeSpec::Archive,
            binary_name: None,
            strip_components: 0,
            metadata: None,
            min_version: None,
            max_version: None,
        });
    }
    Ok(out)
}
