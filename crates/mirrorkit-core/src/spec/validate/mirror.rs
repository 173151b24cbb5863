//! One mirror: the fields every family shares (key, repository, target) and the order its fields
//! are checked in.

use super::*;

/// The mirror fields shared by both shapes, borrowed.
pub(super) struct MirrorFields<'a> {
    pub(super) prefix: &'static str,
    pub(super) source: &'a SourceSpec,
    pub(super) assets: &'a AssetPatterns,
    pub(super) asset_type: Option<&'a Located<serde_json::Value>>,
    pub(super) compression: Option<crate::spec::CompressionSpec>,
    pub(super) strip_components: Option<&'a Located<serde_json::Value>>,
    pub(super) metadata: Option<&'a Located<serde_json::Value>>,
    pub(super) repository: Option<&'a Located<String>>,
    pub(super) target: Option<&'a TargetSpec>,
    pub(super) build_timestamp: Option<crate::spec::BuildTimestampSpec>,
    pub(super) cascade: Option<bool>,
    pub(super) versions: Option<&'a Located<serde_json::Value>>,
    pub(super) skip_prereleases: Option<bool>,
    pub(super) exclude: Option<&'a Located<Vec<ExcludeSpec>>>,
    pub(super) verify: Option<&'a VerifySpec>,
    pub(super) concurrency: Option<&'a ConcurrencySpec>,
    pub(super) platforms: Option<&'a Located<serde_json::Value>>,
    pub(super) tags: Option<&'a Located<crate::spec::model::TagsSpec>>,
    pub(super) digests: Option<&'a Located<Vec<String>>>,
    pub(super) referrers: Option<bool>,
    pub(super) include_host: Option<bool>,
    pub(super) chart: Option<&'a Located<String>>,
    pub(super) images: Option<bool>,
    pub(super) extra_images: Option<&'a Located<Vec<String>>>,
    pub(super) charts_prefix: Option<&'a Located<String>>,
    /// The ocx-mirror CI fields (`tests`, `notify`, …) that are set: accepted, not used.
    pub(super) compat_only: Vec<&'static str>,
}

impl<'a> MirrorFields<'a> {
    /// A mirror given by its source alone (every other field at its default).
    pub(super) fn for_source(
        prefix: &'static str,
        source: &'a SourceSpec,
        assets: &'a AssetPatterns,
    ) -> MirrorFields<'a> {
        MirrorFields {
            prefix,
            source,
            assets,
            asset_type: None,
            compression: None,
            strip_components: None,
            metadata: None,
            repository: None,
            target: None,
            build_timestamp: None,
            cascade: None,
            versions: None,
            skip_prereleases: None,
            exclude: None,
            verify: None,
            concurrency: None,
            platforms: None,
            tags: None,
            digests: None,
            referrers: None,
            include_host: None,
            chart: None,
            images: None,
            extra_images: None,
            charts_prefix: None,
            compat_only: Vec::new(),
        }
    }
}

/// Both shapes carry the same mirror fields (see `mirror_fields!` in the model).
macro_rules! mirror_fields_of {
    ($shape:ty, $prefix:expr) => {
        impl<'a> From<&'a $shape> for MirrorFields<'a> {
            fn from(m: &'a $shape) -> Self {
                MirrorFields {
                    prefix: $prefix,
                    source: &m.source,
                    assets: &m.assets,
                    asset_type: m.asset_type.as_ref(),
                    compression: m.compression,
                    strip_components: m.strip_components.as_ref(),
                    metadata: m.metadata.as_ref(),
                    repository: m.repository.as_ref(),
                    target: m.target.as_ref(),
                    build_timestamp: m.build_timestamp,
                    cascade: m.cascade,
                    versions: m.versions.as_ref(),
                    skip_prereleases: m.skip_prereleases,
                    exclude: m.exclude.as_ref(),
                    verify: m.verify.as_ref(),
                    concurrency: m.concurrency.as_ref(),
                    platforms: m.platforms.as_ref(),
                    tags: m.tags.as_ref(),
                    digests: m.digests.as_ref(),
                    referrers: m.referrers,
                    include_host: m.include_host,
                    chart: m.chart.as_ref(),
                    images: m.images,
                    extra_images: m.extra_images.as_ref(),
                    charts_prefix: m.charts_prefix.as_ref(),
                    compat_only: [
                        ("tests", m.tests.is_some()),
                        ("notify", m.notify.is_some()),
                        ("catalog", m.catalog.is_some()),
                        ("ocx_mirror", m.ocx_mirror.is_some()),
                        ("allow_manual_edits", m.allow_manual_edits.is_some()),
                    ]
                    .into_iter()
                    .filter_map(|(name, set)| set.then_some(name))
                    .collect(),
                }
            }
        }
    };
}

mirror_fields_of!(MirrorSpec, "mirrors.");
mirror_fields_of!(PackageFile, "");

pub(super) fn mirror(
    ctx: &Ctx<'_>,
    key: &Located<String>,
    m: MirrorFields<'_>,
    default_target: Option<&TargetSpec>,
) -> Result<Mirror, SpecError> {
    // In the one-package form the fields sit at the top level.
    let field = |f: &str| {
        if m.prefix.is_empty() {
            f.to_string()
        } else {
            format!("{}{}.{f}", m.prefix, key.value)
        }
    };
    if !is_repository_component(&key.value) {
        return Err(ctx.err(
            key,
            if m.prefix.is_empty() {
                "name".to_string()
            } else {
                format!("mirrors.{}", key.value)
            },
            "a mirror key must be lower-case letters, digits and . _ - (it names the repository)",
        ));
    }
    let kind = m.source.kind.value;
    let is_packages = kind == SourceKind::Packages;
    let (target, namespace) = if matches!(kind, SourceKind::Apt | SourceKind::Rpm) {
        if let Some(r) = m.repository {
            return Err(ctx.err(
                r,
                field("repository"),
                "`repository` does not apply to a distribution mirror (its place is \
                 `source.prefix` under the target's `repos.root`)",
            ));
        }
        (
            repos_target(ctx, m.target, default_target, &field("target"))?,
            None,
        )
    } else if is_packages {
        if let Some(r) = m.repository {
            return Err(ctx.err(
                r,
                field("repository"),
                "`repository` does not apply to a packages mirror (it publishes static \
                 registries under the target's `packages` directory)",
            ));
        }
        let t = packages_target(ctx, m.target, default_target, &field("target"))?;
        (t, None)
    } else {
        only_target_fields(
            ctx,
            m.target,
            &["registry", "namespace", "insecure", "repository", "layout"],
            "this mirror (it publishes to an OCI registry or layout)",
            &field("target"),
        )?;
        target(ctx, m.target.or(default_target), &field("target"))?
    };
    // `target.repository` (the ocx-mirror spelling) names the repository of this mirror only.
    let own_target_repo = m.target.and_then(|t| t.repository.as_ref());
    if let (Some(a), Some(_)) = (m.repository, own_target_repo) {
        return Err(ctx.err(
            a,
            field("repository"),
            "give either `repository` or `target.repository`, not both",
        ));
    }
    if m.target.is_none()
        && let Some(r) = default_target.and_then(|t| t.repository.as_ref())
    {
        return Err(ctx.err(
            r,
            "target.repository",
            "the shared target cannot name a repository; set `repository` on each mirror",
        ));
    }
    let repo = match m.repository.or(own_target_repo) {
        Some(r) => {
            if !is_repository_path(&r.value) {
                return Err(ctx.err(
                    r,
                    field("repository"),
                    format!("{:?} is not a valid repository path (lower-case a-z0-9 separated by / . _ -)", r.value),
                ));
            }
            r.value.clone()
        }
        None => String::new(),
    };
    let eff = effective_source(ctx, &m, &field)?;
    let source = source(ctx, &eff, &key.value, &field("source"))?;
    // The default repository: the key for releases; the source path for images (with the host
    // first under `include_host`); `<charts_prefix>/<chart>` for charts.
    let repo = if !repo.is_empty() {
        repo
    } else {
        match &source {
            SourceConfig::Oci(o) => {
                if eff.include_host == Some(true) {
                    format!("{}/{}", o.registry.replace(':', "_"), o.repository)
                } else {
                    o.repository.clone()
                }
            }
            SourceConfig::Helm(h) => {
                let prefix = eff
                    .charts_prefix
                    .as_ref()
                    .map_or("charts", |p| p.value.as_str());
                let chart = h
                    .chart
                    .clone()
                    .or_else(|| match &h.repo {
                        crate::source::images::HelmRepo::Path(dir) => chart_dir_name(dir),
                        _ => None,
                    })
                    .unwrap_or_else(|| key.value.clone());
                if prefix.is_empty() {
                    chart
                } else {
                    format!("{prefix}/{chart}")
                }
            }
            _ => key.value.clone(),
        }
    };
    if !is_repository_path(&repo) {
        return Err(ctx.err(
            key,
            field("repository"),
            format!(
                "the target repository {repo:?} is not a valid repository path; set `repository`"
            ),
        ));
    }
    let repository = match &namespace {
        Some(ns) => format!("{ns}/{repo}"),
        None => repo,
    };
    if !source.is_release() {
        release_only_fields(ctx, &m, &source, &field)?;
    }
    let mut platforms = if source.is_release() {
        platforms(ctx, m.assets, &field("assets"))?
    } else {
        if let Some((p, _)) = m.assets.iter().next() {
            return Err(ctx.err(
                p,
                field("assets"),
                "`assets` applies to url_index and github_release sources only",
            ));
        }
        Vec::new()
    };
    packaging::apply(ctx, &m, &mut platforms, &field)?;
    let policy = version_policy(ctx, &m, &field)?;
    if source.is_release() {
        platform_settings(ctx, m.platforms, &mut platforms, &field("platforms"))?;
    } else if let Some(v) = m
        .versions
        .filter(|_| matches!(source, SourceConfig::Oci(_)))
    {
        return Err(ctx.err(
            v,
            field("versions"),
            "`versions` does not apply to oci sources (use `tags`)",
        ));
    }
    let verify = verify_policy(ctx, m.verify, &field("verify"))?;
    let concurrency = concurrency(ctx, m.concurrency, &field("concurrency"))?;
    Ok(Mirror {
        key: key.value.clone(),
        repository,
        namespace,
        target,
        source,
        platforms,
        compression: m.compression.unwrap_or_default(),
        policy,
        build_timestamp: m.build_timestamp.unwrap_or_default(),
        cascade: m.cascade.unwrap_or(true),
        verify,
        concurrency,
        compat_only: compat_only(&m, &field),
    })
}

/// The ocx-mirror fields this mirror sets that mirrorkit accepts and does not use, by path.
fn compat_only(m: &MirrorFields<'_>, field: &dyn Fn(&str) -> String) -> Vec<String> {
    let mut out: Vec<String> = m.compat_only.iter().map(|f| field(f)).collect();
    if let Some(c) = m.concurrency {
        for (name, set) in [
            ("rate_limit_ms", c.rate_limit_ms.is_some()),
            ("max_retries", c.max_retries.is_some()),
        ] {
            if set {
                out.push(field(&format!("concurrency.{name}")));
            }
        }
    }
    if let Some(platforms) = m.platforms.and_then(|p| p.value.as_object()) {
        for (platform, settings) in platforms {
            for name in ["runner", "containers"] {
                if settings.get(name).is_some() {
                    out.push(field(&format!("platforms.{platform}.{name}")));
                }
            }
        }
    }
    out
}

/// Refuse, naming it, a field an image or chart mirror would otherwise ignore: the release
/// settings (packaging, tags, version policy, download concurrency), `verify` beyond what the
/// family checks, and `platforms` on a chart.
fn release_only_fields(
    ctx: &Ctx<'_>,
    m: &MirrorFields<'_>,
    source: &SourceConfig,
    field: &dyn Fn(&str) -> String,
) -> Result<(), SpecError> {
    // (kind, whether it keeps `platforms`, whether it reads `verify`)
    let (kind, keeps_platforms, reads_verify) = match source {
        SourceConfig::Oci(_) => ("oci", true, false),
        SourceConfig::Helm(_) => ("helm", false, true),
        SourceConfig::Packages(_) => ("packages", false, false),
        SourceConfig::Apt(_) => ("apt", false, false),
        SourceConfig::Rpm(_) => ("rpm", false, false),
        _ => return Ok(()),
    };
    // (field, where it is when the spec keeps its position, whether it is set)
    let given = [
        (
            "asset_type",
            m.asset_type.map(|l| (l.line, l.column)),
            m.asset_type.is_some(),
        ),
        ("compression", None, m.compression.is_some()),
        (
            "strip_components",
            m.strip_components.map(|l| (l.line, l.column)),
            m.strip_components.is_some(),
        ),
        (
            "metadata",
            m.metadata.map(|l| (l.line, l.column)),
            m.metadata.is_some(),
        ),
        ("build_timestamp", None, m.build_timestamp.is_some()),
        ("cascade", None, m.cascade.is_some()),
        ("skip_prereleases", None, m.skip_prereleases.is_some()),
        (
            "exclude",
            m.exclude.map(|l| (l.line, l.column)),
            m.exclude.is_some(),
        ),
        ("concurrency", None, m.concurrency.is_some()),
        ("verify", None, !reads_verify && m.verify.is_some()),
        // Images keep the platforms listed; a chart has none to choose.
        (
            "platforms",
            m.platforms.map(|l| (l.line, l.column)),
            !keeps_platforms && m.platforms.is_some(),
        ),
        // A package mirror's version policy is its source's `versions`.
        (
            "versions",
            m.versions.map(|l| (l.line, l.column)),
            matches!(kind, "packages" | "apt" | "rpm") && m.versions.is_some(),
        ),
        // A chart uses `verify.require` only (its archive against the repository's digest).
        (
            "verify.github_asset_digest",
            None,
            m.verify.is_some_and(|v| v.github_asset_digest.is_some()),
        ),
        (
            "verify.url_index_digest",
            None,
            m.verify.is_some_and(|v| v.url_index_digest.is_some()),
        ),
        (
            "verify.checksums_file",
            m.verify
                .and_then(|v| v.checksums_file.as_ref())
                .map(|l| (l.line, l.column)),
            m.verify.is_some_and(|v| v.checksums_file.is_some()),
        ),
    ];
    let Some((name, position, _)) = given.into_iter().find(|(_, _, set)| *set) else {
        return Ok(());
    };
    let mut error = ctx.err_nowhere(
        field(name),
        format!(
            "`{name}` does not apply to {kind} mirrors (README: \"Which settings apply to which mirrors\"); remove it"
        ),
    );
    if let (SpecError::Invalid { line, column, .. }, Some((l, c))) = (&mut error, position) {
        (*line, *column) = (l, c);
    }
    Err(error)
}

/// A version bound or excluded version: any non-empty version text without spaces.
pub(super) fn version_text(
    ctx: &Ctx<'_>,
    v: &Located<String>,
    field: &str,
) -> Result<String, SpecError> {
    let t = v.value.trim();
    if t.is_empty() || t.contains(char::is_whitespace) {
        return Err(ctx.err(v, field, format!("{:?} is not a version", v.value)));
    }
    Ok(t.to_string())
}

pub(super) fn target(
    ctx: &Ctx<'_>,
    t: Option<&TargetSpec>,
    field: &str,
) -> Result<(TargetConfig, Option<String>), SpecError> {
    let Some(t) = t else {
        return Ok((
            TargetConfig::Layout {
                path: PathBuf::from("oci"),
            },
            None,
        ));
    };
    match (&t.registry, &t.layout) {
        (Some(_), Some(l)) => Err(ctx.err(
            l,
            format!("{field}.layout"),
            "give either `registry` or `layout`, not both",
        )),
        (Some(r), None) => {
            if !is_host_port(&r.value) {
                return Err(ctx.err(
                    r,
                    format!("{field}.registry"),
                    format!("{:?} is not host[:port] (no scheme, no path)", r.value),
                ));
            }
            let namespace = match &t.namespace {
                Some(ns) if !is_repository_path(&ns.value) => {
                    return Err(ctx.err(
                        ns,
                        format!("{field}.namespace"),
                        format!("{:?} is not a valid repository path prefix", ns.value),
                    ));
                }
                Some(ns) => Some(ns.value.clone()),
                None => None,
            };
            Ok((
                TargetConfig::Registry {
                    host: r.value.clone(),
                    insecure: t.insecure.unwrap_or(false),
                },
                namespace,
            ))
        }
        (None, layout) => {
            if let Some(ns) = &t.namespace {
                return Err(ctx.err(
                    ns,
                    format!("{field}.namespace"),
                    "`namespace` applies to a registry target only",
                ));
            }
            let path = layout
                .as_ref()
                .map(|l| ctx.resolve(&l.value))
                .unwrap_or_else(|| PathBuf::from("oci"));
            Ok((TargetConfig::Layout { path }, None))
        }
    }
}

/// Refuse, naming it, a field of a mirror's own target that its family does not publish to
/// (`allowed` are the ones it reads). A shared `target:` may hold fields for every family.
pub(super) fn only_target_fields(
    ctx: &Ctx<'_>,
    own: Option<&TargetSpec>,
    allowed: &[&str],
    what: &str,
    field: &str,
) -> Result<(), SpecError> {
    let Some(t) = own else { return Ok(()) };
    let at = |l: &Option<Located<String>>| l.as_ref().map(|l| (l.line, l.column));
    let at_path = |l: &Option<Located<PathBuf>>| l.as_ref().map(|l| (l.line, l.column));
    // (field, where it is written when the model keeps it, whether it is given)
    type Given<'a> = (&'a str, Option<(u64, u64)>, bool);
    let set: [Given<'_>; 8] = [
        ("registry", at(&t.registry), t.registry.is_some()),
        ("namespace", at(&t.namespace), t.namespace.is_some()),
        ("insecure", None, t.insecure.is_some()),
        ("repository", at(&t.repository), t.repository.is_some()),
        ("layout", at_path(&t.layout), t.layout.is_some()),
        ("packages", at_path(&t.packages), t.packages.is_some()),
        ("base_url", at(&t.base_url), t.base_url.is_some()),
        (
            "repos",
            t.repos.as_ref().map(|r| (r.root.line, r.root.column)),
            t.repos.is_some(),
        ),
    ];
    let Some((name, position, _)) = set
        .into_iter()
        .find(|(name, _, given)| *given && !allowed.contains(name))
    else {
        return Ok(());
    };
    let (line, column) = position.unwrap_or((0, 0));
    Err(SpecError::Invalid {
        path: ctx.path.to_path_buf(),
        line,
        column,
        field: format!("{field}.{name}"),
        message: format!("`{name}` does not apply to {what}"),
    })
}
