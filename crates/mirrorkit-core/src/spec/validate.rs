//! From parsed YAML ([`super::model`]) to a validated [`Spec`]: every rule that can be checked
//! offline, each failure naming file:line:column and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::located::Located;
use super::model::{
    AssetPatterns, ConcurrencySpec, ExcludeSpec, GeneratorSpec, LazyociFile, LazyociKind,
    MirrorSpec, PackageFile, PlatformSpec, SizeValue, SourceKind, SourceSpec, SpecFile, TargetSpec,
    VerifySpec,
};
use super::{
    AssetTypeSpec, Concurrency, ExcludeRule, Mirror, PlatformAssets, SourceConfig, Spec, SpecError,
    TargetConfig, VerifyPolicy, VersionPolicy,
};
use crate::platform::Platform;
use crate::source::url_index::{self, Generator, IndexOrigin};

/// Default time a generator command may run.
const DEFAULT_GENERATOR_TIMEOUT: Duration = Duration::from_secs(300);

struct Ctx<'a> {
    path: &'a Path,
    /// The spec's directory, absolute, for resolving relative paths.
    dir: PathBuf,
    /// `custom_platforms:`: `os/arch` pairs allowed beyond the known ones.
    custom_platforms: Vec<String>,
}

impl Ctx<'_> {
    /// Refuse a platform whose OS or architecture is unknown, unless `custom_platforms:` lists it.
    fn known_platform<T>(
        &self,
        at: &Located<T>,
        field: &str,
        p: &Platform,
    ) -> Result<(), SpecError> {
        let pair = format!("{}/{}", p.os, p.architecture);
        match p.unknown_part() {
            Some(why) if !self.custom_platforms.contains(&pair) => {
                Err(self.err(at, field, format!("{p}: {why}")))
            }
            _ => Ok(()),
        }
    }

    fn err<T>(
        &self,
        at: &Located<T>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> SpecError {
        SpecError::Invalid {
            path: self.path.to_path_buf(),
            line: at.line,
            column: at.column,
            field: field.into(),
            message: message.into(),
        }
    }

    fn err_nowhere(&self, field: impl Into<String>, message: impl Into<String>) -> SpecError {
        SpecError::Invalid {
            path: self.path.to_path_buf(),
            line: 0,
            column: 0,
            field: field.into(),
            message: message.into(),
        }
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }
}

fn yaml_error(path: &Path, e: &serde_saphyr::Error) -> SpecError {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    let mut message = e.without_snippet().to_string();
    // The parser appends "at line L, column C"; the error already leads with file:line:col.
    if let Some(i) = message.rfind(" at line ")
        && message[i..].contains(", column ")
    {
        message.truncate(i);
    }
    SpecError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        field: String::new(),
        message,
    }
}

/// Peek at the top level to tell the two spec shapes apart.
#[derive(Deserialize)]
struct Shape {
    mirrors: Option<serde::de::IgnoredAny>,
    upstreams: Option<serde::de::IgnoredAny>,
}

pub(super) fn validate(text: &str, path: &Path) -> Result<Spec, SpecError> {
    let dir = path
        .parent()
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .unwrap_or(Path::new("."));
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut ctx = Ctx {
        path,
        dir,
        custom_platforms: Vec::new(),
    };

    let shape: Shape = serde_saphyr::from_str(text).map_err(|e| yaml_error(path, &e))?;
    if shape.upstreams.is_some() && shape.mirrors.is_none() {
        let file: LazyociFile = serde_saphyr::from_str(text).map_err(|e| yaml_error(path, &e))?;
        return lazyoci(&ctx, &file);
    }
    if shape.mirrors.is_some() {
        let file: SpecFile = serde_saphyr::from_str(text).map_err(|e| yaml_error(path, &e))?;
        ctx.custom_platforms = file.custom_platforms.clone();
        if file.mirrors.is_empty() {
            return Err(ctx.err_nowhere("mirrors", "no mirrors defined"));
        }
        let mut mirrors = Vec::new();
        for (key, m) in &file.mirrors {
            mirrors.push(mirror(&ctx, key, m.into(), file.target.as_ref())?);
        }
        check_unique_repositories(&ctx, &mirrors)?;
        check_registries(&ctx, &file.registries)?;
        share_insecure_hosts(&mut mirrors, &file.registries);
        Ok(Spec {
            path: path.to_path_buf(),
            work_dir: file.work_dir.as_deref().map(|p| ctx.resolve(p)),
            registries: file.registries,
            max_asset_size: max_asset_size(&ctx, file.max_asset_size.as_ref())?,
            mirrors,
        })
    } else {
        let file: PackageFile = serde_saphyr::from_str(text).map_err(|e| yaml_error(path, &e))?;
        ctx.custom_platforms = file.custom_platforms.clone();
        let m = mirror(&ctx, &file.name, (&file).into(), None)?;
        check_registries(&ctx, &file.registries)?;
        let mut mirrors = vec![m];
        share_insecure_hosts(&mut mirrors, &file.registries);
        Ok(Spec {
            path: path.to_path_buf(),
            work_dir: file.work_dir.as_deref().map(|p| ctx.resolve(p)),
            registries: file.registries.clone(),
            max_asset_size: max_asset_size(&ctx, file.max_asset_size.as_ref())?,
            mirrors,
        })
    }
}

/// Tell GitHub sources which hosts the spec marks insecure (the only plain-HTTP API hosts the
/// token may go to).
fn share_insecure_hosts(
    mirrors: &mut [Mirror],
    registries: &BTreeMap<String, super::RegistrySettings>,
) {
    let insecure: Vec<String> = registries
        .iter()
        .filter(|(_, s)| s.insecure)
        .map(|(h, _)| h.clone())
        .collect();
    for m in mirrors {
        if let SourceConfig::Github(g) = &mut m.source {
            g.insecure_hosts = insecure.clone();
        }
    }
}

/// A lazyoci `mirror.yaml`: `target.url` is the registry and namespace, each upstream a
/// `type: helm` mirror of its chart with `images: true`, under `<url>/<charts-prefix>/<chart>`.
fn lazyoci(ctx: &Ctx<'_>, file: &LazyociFile) -> Result<Spec, SpecError> {
    if file.upstreams.is_empty() {
        return Err(ctx.err_nowhere("upstreams", "no upstreams defined"));
    }
    let url = &file.target.url;
    let bare = url.value.trim_end_matches('/');
    let bare = bare
        .strip_prefix("https://")
        .or_else(|| bare.strip_prefix("oci://"))
        .unwrap_or(bare);
    let (host, namespace) = match bare.split_once('/') {
        Some((h, ns)) => (h, Some(ns)),
        None => (bare, None),
    };
    let at = |value: &str| Located {
        value: value.to_string(),
        line: url.line,
        column: url.column,
    };
    let target = TargetSpec {
        registry: Some(at(host)),
        namespace: namespace.map(at),
        insecure: Some(file.target.insecure),
        repository: None,
        layout: None,
    };
    // lazyoci puts charts right under the URL unless `charts-prefix` says otherwise.
    let charts_prefix = file
        .target
        .charts_prefix
        .clone()
        .unwrap_or_else(|| Located::unplaced(String::new()));
    let no_assets = AssetPatterns::new();
    let mut mirrors = Vec::new();
    for (key, up) in &file.upstreams {
        let field = |f: &str| format!("upstreams.{}.{f}", key.value);
        let mut source = SourceSpec::of_kind(Located {
            value: SourceKind::Helm,
            line: up.kind.line,
            column: up.kind.column,
        });
        let needs = |given: &Option<Located<String>>, name: &str, kind: &str| {
            given.clone().ok_or_else(|| {
                ctx.err(
                    &up.kind,
                    field(name),
                    format!("`type: {kind}` needs `{name}`"),
                )
            })
        };
        match up.kind.value {
            LazyociKind::Repo => source.repo = Some(needs(&up.repo, "repo", "repo")?),
            LazyociKind::Oci => {
                let registry = needs(&up.registry, "registry", "oci")?;
                let value = if registry.value.starts_with("oci://") {
                    registry.value.clone()
                } else {
                    format!("oci://{}", registry.value)
                };
                source.repo = Some(Located { value, ..registry });
            }
            LazyociKind::Local => {
                source.path = Some(up.path.clone().ok_or_else(|| {
                    ctx.err(&up.kind, field("path"), "`type: local` needs `path`")
                })?);
            }
        }
        source.chart = Some(up.chart.clone());
        source.versions = up.versions.clone();
        source.images = Some(true);
        source.charts_prefix = Some(charts_prefix.clone());
        let fields = MirrorFields::for_source("upstreams.", &source, &no_assets);
        mirrors.push(mirror(ctx, key, fields, Some(&target))?);
    }
    check_unique_repositories(ctx, &mirrors)?;
    Ok(Spec {
        path: ctx.path.to_path_buf(),
        work_dir: None,
        registries: BTreeMap::new(),
        max_asset_size: crate::store::DEFAULT_MAX_ASSET_SIZE,
        mirrors,
    })
}

/// `max_asset_size` in bytes (the default when absent).
fn max_asset_size(ctx: &Ctx<'_>, value: Option<&Located<SizeValue>>) -> Result<u64, SpecError> {
    let Some(v) = value else {
        return Ok(crate::store::DEFAULT_MAX_ASSET_SIZE);
    };
    let bytes = match &v.value {
        SizeValue::Bytes(n) => Ok(*n),
        SizeValue::Text(t) => super::size::parse(t),
    }
    .map_err(|e| ctx.err(v, "max_asset_size", e))?;
    if bytes == 0 {
        return Err(ctx.err(v, "max_asset_size", "must be more than 0 bytes"));
    }
    Ok(bytes)
}

/// The mirror fields shared by both shapes, borrowed.
struct MirrorFields<'a> {
    prefix: &'static str,
    source: &'a SourceSpec,
    assets: &'a AssetPatterns,
    asset_type: Option<&'a Located<serde_json::Value>>,
    compression: super::CompressionSpec,
    strip_components: Option<&'a Located<serde_json::Value>>,
    metadata: Option<&'a Located<serde_json::Value>>,
    repository: Option<&'a Located<String>>,
    target: Option<&'a TargetSpec>,
    build_timestamp: super::BuildTimestampSpec,
    cascade: Option<bool>,
    versions: Option<&'a Located<serde_json::Value>>,
    skip_prereleases: bool,
    exclude: Option<&'a Located<Vec<ExcludeSpec>>>,
    verify: Option<&'a VerifySpec>,
    concurrency: Option<&'a ConcurrencySpec>,
    platforms: Option<&'a Located<serde_json::Value>>,
    tags: Option<&'a Located<super::model::TagsSpec>>,
    digests: Option<&'a Located<Vec<String>>>,
    referrers: Option<bool>,
    include_host: Option<bool>,
    chart: Option<&'a Located<String>>,
    images: Option<bool>,
    extra_images: Option<&'a Located<Vec<String>>>,
    charts_prefix: Option<&'a Located<String>>,
}

impl<'a> MirrorFields<'a> {
    /// A mirror given by its source alone (every other field at its default).
    fn for_source(
        prefix: &'static str,
        source: &'a SourceSpec,
        assets: &'a AssetPatterns,
    ) -> MirrorFields<'a> {
        MirrorFields {
            prefix,
            source,
            assets,
            asset_type: None,
            compression: Default::default(),
            strip_components: None,
            metadata: None,
            repository: None,
            target: None,
            build_timestamp: Default::default(),
            cascade: None,
            versions: None,
            skip_prereleases: false,
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
                }
            }
        }
    };
}

mirror_fields_of!(MirrorSpec, "mirrors.");
mirror_fields_of!(PackageFile, "");

fn mirror(
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
    let target_spec = m.target.or(default_target);
    let (target, namespace) = target(ctx, target_spec, &field("target"))?;
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
    let source = source(ctx, &eff, &field("source"))?;
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
        compression: m.compression,
        policy,
        build_timestamp: m.build_timestamp,
        cascade: m.cascade.unwrap_or(true),
        verify,
        concurrency,
    })
}

/// A version bound or excluded version: any non-empty version text without spaces.
fn version_text(ctx: &Ctx<'_>, v: &Located<String>, field: &str) -> Result<String, SpecError> {
    let t = v.value.trim();
    if t.is_empty() || t.contains(char::is_whitespace) {
        return Err(ctx.err(v, field, format!("{:?} is not a version", v.value)));
    }
    Ok(t.to_string())
}

fn version_policy(
    ctx: &Ctx<'_>,
    m: &MirrorFields<'_>,
    field: &dyn Fn(&str) -> String,
) -> Result<VersionPolicy, SpecError> {
    let mut policy = VersionPolicy {
        skip_prereleases: m.skip_prereleases,
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
            None => super::BackfillSpec::NewestFirst,
            Some("newest_first") => super::BackfillSpec::NewestFirst,
            Some("oldest_first") => super::BackfillSpec::OldestFirst,
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

fn platform_settings(
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

fn is_release(s: &SourceSpec) -> bool {
    matches!(
        s.kind.value,
        SourceKind::UrlIndex | SourceKind::GithubRelease
    )
}

/// The source with the fields DESIGN.md places beside it (`tags`, `platforms`, `referrers`,
/// `chart`, `versions`, `images`, …) moved in, so one validation serves both placements.
fn effective_source(
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

fn verify_policy(
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

fn concurrency(
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

fn target(
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

fn source(ctx: &Ctx<'_>, s: &SourceSpec, field: &str) -> Result<SourceConfig, SpecError> {
    // Fields of the other kind are mistakes worth naming.
    let given: [(&str, bool); 20] = [
        ("url", s.url.is_some()),
        ("versions", s.versions.is_some()),
        ("generator", s.generator.is_some()),
        ("owner", s.owner.is_some()),
        ("repo", s.repo.is_some()),
        ("tag_pattern", s.tag_pattern.is_some()),
        ("api_url", s.api_url.is_some()),
        (
            "max_rate_limit_wait_seconds",
            s.max_rate_limit_wait_seconds.is_some(),
        ),
        ("image", s.image.is_some()),
        ("tags", s.tags.is_some()),
        ("digests", s.digests.is_some()),
        ("platforms", s.platforms.is_some()),
        ("referrers", s.referrers.is_some()),
        ("include_host", s.include_host.is_some()),
        ("chart", s.chart.is_some()),
        ("path", s.path.is_some()),
        ("images", s.images.is_some()),
        ("extra_images", s.extra_images.is_some()),
        ("helm_template", s.helm_template.is_some()),
        ("charts_prefix", s.charts_prefix.is_some()),
    ];
    let allowed: &[&str] = match s.kind.value {
        SourceKind::UrlIndex => &["url", "versions", "generator"],
        SourceKind::GithubRelease => &[
            "owner",
            "repo",
            "tag_pattern",
            "api_url",
            "max_rate_limit_wait_seconds",
        ],
        SourceKind::Oci => &[
            "image",
            "tags",
            "digests",
            "platforms",
            "referrers",
            "include_host",
        ],
        SourceKind::Helm => &[
            "repo",
            "chart",
            "path",
            "versions",
            "images",
            "extra_images",
            "helm_template",
            "charts_prefix",
            "referrers",
        ],
    };
    if let Some((name, _)) = given
        .iter()
        .find(|(name, given)| *given && !allowed.contains(name))
    {
        return Err(ctx.err(
            &s.kind,
            format!("{field}.{name}"),
            format!("`{name}` does not apply to this source type"),
        ));
    }
    match s.kind.value {
        SourceKind::GithubRelease => github_source(ctx, s, field),
        SourceKind::Oci => oci_source(ctx, s, field),
        SourceKind::Helm => helm_source(ctx, s, field),
        SourceKind::UrlIndex => {
            let given = [s.url.is_some(), s.versions.is_some(), s.generator.is_some()];
            if given.iter().filter(|g| **g).count() != 1 {
                return Err(ctx.err(
                    &s.kind,
                    field,
                    "a url_index source needs exactly one of `url`, `versions` or `generator`",
                ));
            }
            let origin = if let Some(u) = &s.url {
                IndexOrigin::Url(index_url(ctx, u, &format!("{field}.url"))?)
            } else if let Some(v) = &s.versions {
                let base = Url::from_directory_path(&ctx.dir).map_err(|()| {
                    ctx.err(
                        v,
                        format!("{field}.versions"),
                        "spec directory is not absolute",
                    )
                })?;
                let versions = serde_json::from_value(v.value.clone()).map_err(|e| {
                    ctx.err(
                        v,
                        format!("{field}.versions"),
                        format!("expected a map of version → {{assets: …}}: {e}"),
                    )
                })?;
                let document = url_index::IndexDocument { versions };
                // Check URLs and checksums now, so `validate` catches them offline.
                url_index::releases(&document, &base, "inline versions")
                    .map_err(|e| ctx.err(v, format!("{field}.versions"), e.to_string()))?;
                IndexOrigin::Inline { document, base }
            } else if let Some(g) = &s.generator {
                IndexOrigin::Generator(generator(ctx, g, &format!("{field}.generator"))?)
            } else {
                unreachable!("exactly one origin was checked above")
            };
            Ok(SourceConfig::UrlIndex(origin))
        }
    }
}

fn github_source(ctx: &Ctx<'_>, s: &SourceSpec, field: &str) -> Result<SourceConfig, SpecError> {
    use crate::source::github::{DEFAULT_TAG_PATTERN, GithubSource};
    let name = |v: Option<&Located<String>>, f: &str| -> Result<String, SpecError> {
        let Some(v) = v else {
            return Err(ctx.err(
                &s.kind,
                format!("{field}.{f}"),
                format!("a github_release source needs `{f}`"),
            ));
        };
        let ok = !v.value.is_empty()
            && v.value.len() <= 100
            && v.value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && v.value != "."
            && v.value != "..";
        if !ok {
            return Err(ctx.err(
                v,
                format!("{field}.{f}"),
                format!("{:?} is not a GitHub {f} name", v.value),
            ));
        }
        Ok(v.value.clone())
    };
    let owner = name(s.owner.as_ref(), "owner")?;
    let repo = name(s.repo.as_ref(), "repo")?;
    let tag_pattern = match &s.tag_pattern {
        Some(p) => {
            let re = regex::RegexBuilder::new(&p.value)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| {
                    ctx.err(
                        p,
                        format!("{field}.tag_pattern"),
                        format!("invalid regex: {e}"),
                    )
                })?;
            if !re.capture_names().any(|n| n == Some("version")) {
                return Err(ctx.err(
                    p,
                    format!("{field}.tag_pattern"),
                    "must contain a named group (?P<version>…) that captures the version",
                ));
            }
            re
        }
        None => regex::Regex::new(DEFAULT_TAG_PATTERN).map_err(|e| {
            ctx.err(
                &s.kind,
                format!("{field}.tag_pattern"),
                format!("default pattern: {e}"),
            )
        })?,
    };
    let api_url = match &s.api_url {
        Some(u) => match Url::parse(&u.value) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.username().is_empty()
                    && url.password().is_none() =>
            {
                Some(url)
            }
            Ok(_) => {
                return Err(ctx.err(
                    u,
                    format!("{field}.api_url"),
                    "must be an http(s) URL without credentials (the token comes from GITHUB_TOKEN)",
                ));
            }
            Err(e) => {
                return Err(ctx.err(u, format!("{field}.api_url"), format!("invalid URL: {e}")));
            }
        },
        None => None,
    };
    Ok(SourceConfig::Github(GithubSource {
        owner,
        repo,
        tag_pattern,
        api_url,
        max_rate_limit_wait: Duration::from_secs(
            s.max_rate_limit_wait_seconds
                .as_ref()
                .map_or(900, |w| w.value),
        ),
        // Filled in once every mirror is built (see `share_insecure_hosts`).
        insecure_hosts: Vec::new(),
    }))
}

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

fn oci_source(ctx: &Ctx<'_>, s: &SourceSpec, field: &str) -> Result<SourceConfig, SpecError> {
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

fn helm_source(ctx: &Ctx<'_>, s: &SourceSpec, field: &str) -> Result<SourceConfig, SpecError> {
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
fn chart_dir_name(dir: &Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        name: String,
    }
    let text = std::fs::read_to_string(dir.join("Chart.yaml")).ok()?;
    let named: Named = serde_saphyr::from_str(&text).ok()?;
    Some(named.name).filter(|n| is_repository_path(n))
}

fn index_url(ctx: &Ctx<'_>, u: &Located<String>, field: &str) -> Result<Url, SpecError> {
    match Url::parse(&u.value) {
        Ok(url) if matches!(url.scheme(), "http" | "https" | "file") => Ok(url),
        Ok(url) => Err(ctx.err(
            u,
            field,
            format!(
                "unsupported URL scheme {:?} (http, https, file, or a relative path)",
                url.scheme()
            ),
        )),
        // Not a URL: a path relative to the spec file.
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            Url::from_file_path(ctx.resolve(Path::new(&u.value)))
                .map_err(|()| ctx.err(u, field, "not a usable file path"))
        }
        Err(e) => Err(ctx.err(u, field, format!("invalid URL: {e}"))),
    }
}

fn generator(
    ctx: &Ctx<'_>,
    g: &Located<GeneratorSpec>,
    field: &str,
) -> Result<Generator, SpecError> {
    if g.value.command.value.is_empty() || g.value.command.value[0].is_empty() {
        return Err(ctx.err(
            &g.value.command,
            format!("{field}.command"),
            "the command is empty",
        ));
    }
    if g.value.timeout_seconds == Some(0) {
        return Err(ctx.err(g, format!("{field}.timeout_seconds"), "must be at least 1"));
    }
    Ok(Generator {
        command: g.value.command.value.clone(),
        working_directory: g
            .value
            .working_directory
            .as_deref()
            .map(|p| ctx.resolve(p))
            .unwrap_or_else(|| ctx.dir.clone()),
        timeout: g
            .value
            .timeout_seconds
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_GENERATOR_TIMEOUT),
    })
}

fn platforms(
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

fn check_unique_repositories(ctx: &Ctx<'_>, mirrors: &[Mirror]) -> Result<(), SpecError> {
    let mut seen: BTreeMap<(&TargetConfig, &str), &str> = BTreeMap::new();
    for m in mirrors {
        if let Some(other) = seen.insert((&m.target, &m.repository), &m.key) {
            return Err(ctx.err_nowhere(
                format!("mirrors.{}", m.key),
                format!(
                    "mirrors {other} and {} publish to the same repository {}",
                    m.key, m.repository
                ),
            ));
        }
    }
    Ok(())
}

fn check_registries(
    ctx: &Ctx<'_>,
    registries: &BTreeMap<String, super::RegistrySettings>,
) -> Result<(), SpecError> {
    for (host, settings) in registries {
        if !is_host_port(host) {
            return Err(ctx.err_nowhere(
                format!("registries.{host}"),
                format!("{host:?} is not host[:port] (no scheme, no path)"),
            ));
        }
        if settings
            .rate_limit
            .is_some_and(|r| !r.is_finite() || r <= 0.0)
        {
            return Err(ctx.err_nowhere(
                format!("registries.{host}.rate_limit"),
                "must be a positive number of requests per second",
            ));
        }
        if settings.concurrency == Some(0) {
            return Err(ctx.err_nowhere(
                format!("registries.{host}.concurrency"),
                "must be at least 1",
            ));
        }
    }
    Ok(())
}

/// One path component of an OCI repository name: `[a-z0-9]+([._-][a-z0-9]+)*` (the
/// distribution spec's grammar, with `__` and `-`-runs folded into one separator for simplicity).
fn is_repository_component(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
        && !s.contains("..")
}

fn is_repository_path(s: &str) -> bool {
    s.len() <= 255 && s.split('/').all(is_repository_component)
}

fn is_host_port(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0))
}

/// `asset_type`, `strip_components` and `metadata`: each a single value for every platform, or a
/// `default` plus per-platform values (the ocx-mirror forms). They arrive as raw YAML values so
/// every form gets a precise message.
mod packaging {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use serde_json::Value;

    use super::{Ctx, Located, MirrorFields, Platform, PlatformAssets, SpecError};
    use crate::spec::AssetTypeSpec;

    /// A value for every platform: the default and the per-platform overrides.
    struct PerPlatform<T> {
        default: Option<T>,
        platforms: BTreeMap<Platform, T>,
    }

    impl<T: Clone> PerPlatform<T> {
        fn get(&self, p: &Platform) -> Option<T> {
            self.platforms
                .get(p)
                .cloned()
                .or_else(|| self.default.clone())
        }
    }

    /// Split `{default, platforms}` or a single value (`single` decides what counts as one).
    fn per_platform<T>(
        ctx: &Ctx<'_>,
        at: &Located<Value>,
        field: &str,
        platforms: &[PlatformAssets],
        is_map_form: bool,
        parse: &dyn Fn(&Value, &str) -> Result<T, String>,
    ) -> Result<PerPlatform<T>, SpecError> {
        let err = |f: &str, m: String| ctx.err(at, f, m);
        if !is_map_form {
            return Ok(PerPlatform {
                default: Some(parse(&at.value, field).map_err(|m| err(field, m))?),
                platforms: BTreeMap::new(),
            });
        }
        let Some(obj) = at.value.as_object() else {
            return Err(err(
                field,
                "expected a value or {default, platforms}".into(),
            ));
        };
        let mut out = PerPlatform {
            default: None,
            platforms: BTreeMap::new(),
        };
        for (k, v) in obj {
            match k.as_str() {
                "default" => {
                    let f = format!("{field}.default");
                    out.default = Some(parse(v, &f).map_err(|m| err(&f, m))?);
                }
                "platforms" => {
                    let Some(map) = v.as_object() else {
                        return Err(err(
                            &format!("{field}.platforms"),
                            "expected a map of os/arch → value".into(),
                        ));
                    };
                    for (pk, pv) in map {
                        let f = format!("{field}.platforms.{pk}");
                        let p: Platform =
                            pk.parse()
                                .map_err(|e: crate::platform::PlatformParseError| {
                                    err(&f, e.to_string())
                                })?;
                        if !platforms.iter().any(|x| x.platform == p) {
                            return Err(err(
                                &f,
                                format!("{pk} is not one of the platforms under `assets`"),
                            ));
                        }
                        out.platforms
                            .insert(p, parse(pv, &f).map_err(|m| err(&f, m))?);
                    }
                }
                other => {
                    return Err(err(
                        &format!("{field}.{other}"),
                        "unknown field (expected `default` or `platforms`)".into(),
                    ));
                }
            }
        }
        Ok(out)
    }

    #[derive(Clone)]
    struct AssetType {
        kind: AssetTypeSpec,
        strip: Option<u32>,
        name: Option<String>,
    }

    fn strip_number(v: &Value, _f: &str) -> Result<u32, String> {
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n <= 64)
            .ok_or_else(|| format!("expected a number of path components (0–64), got {v}"))
    }

    fn asset_type(v: &Value, _f: &str) -> Result<AssetType, String> {
        let kind = |s: &str| match s {
            "archive" => Ok(AssetTypeSpec::Archive),
            "binary" => Ok(AssetTypeSpec::Binary),
            other => Err(format!("unknown asset type {other:?} (archive or binary)")),
        };
        match v {
            Value::String(s) => Ok(AssetType {
                kind: kind(s)?,
                strip: None,
                name: None,
            }),
            Value::Object(o) => {
                let mut t = AssetType {
                    kind: AssetTypeSpec::Archive,
                    strip: None,
                    name: None,
                };
                let Some(Value::String(k)) = o.get("type") else {
                    return Err("expected `type: archive` or `type: binary`".into());
                };
                t.kind = kind(k)?;
                for (key, val) in o {
                    match key.as_str() {
                        "type" => {}
                        "strip_components" if t.kind == AssetTypeSpec::Archive => {
                            t.strip = Some(strip_number(val, "")?);
                        }
                        "name" if t.kind == AssetTypeSpec::Binary => {
                            let name = val.as_str().unwrap_or_default();
                            if name.is_empty()
                                || name.contains('/')
                                || name.contains('\\')
                                || name == "."
                                || name == ".."
                            {
                                return Err(format!("binary name {val} must be a plain file name"));
                            }
                            t.name = Some(name.to_string());
                        }
                        other => {
                            return Err(format!("unknown field {other:?} for a {k} asset type"));
                        }
                    }
                }
                Ok(t)
            }
            other => Err(format!("expected archive, binary or a map, got {other}")),
        }
    }

    fn is_per_platform(v: &Value) -> bool {
        v.as_object()
            .is_some_and(|o| o.contains_key("default") || o.contains_key("platforms"))
    }

    pub(super) fn apply(
        ctx: &Ctx<'_>,
        m: &MirrorFields<'_>,
        platforms: &mut [PlatformAssets],
        field: &dyn Fn(&str) -> String,
    ) -> Result<(), SpecError> {
        let types = match m.asset_type {
            Some(at) => {
                let map_form = is_per_platform(&at.value);
                if map_form && at.value.as_object().is_some_and(|o| o.contains_key("type")) {
                    return Err(ctx.err(
                        at,
                        field("asset_type"),
                        "give either `type` or `default`/`platforms`, not both",
                    ));
                }
                Some(per_platform(
                    ctx,
                    at,
                    &field("asset_type"),
                    platforms,
                    map_form,
                    &asset_type,
                )?)
            }
            None => None,
        };
        let strips = match m.strip_components {
            Some(at) => Some(per_platform(
                ctx,
                at,
                &field("strip_components"),
                platforms,
                at.value.is_object(),
                &strip_number,
            )?),
            None => None,
        };
        let metadata = match m.metadata {
            Some(at) => {
                let read = |v: &Value, f: &str| -> Result<Arc<Value>, String> {
                    let Some(p) = v.as_str() else {
                        return Err(format!("expected a path to a JSON file, got {v}"));
                    };
                    let path = ctx.resolve(std::path::Path::new(p));
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    let value: Value = serde_json::from_str(&text)
                        .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
                    if !value.is_object() {
                        return Err(format!("{} must hold a JSON object", path.display()));
                    }
                    let _ = f;
                    Ok(Arc::new(value))
                };
                Some(per_platform(
                    ctx,
                    at,
                    &field("metadata"),
                    platforms,
                    at.value.is_object(),
                    &read,
                )?)
            }
            None => None,
        };
        for p in platforms.iter_mut() {
            let t = types.as_ref().and_then(|t| t.get(&p.platform));
            if let Some(t) = &t {
                p.asset_type = t.kind;
                p.binary_name = t.name.clone();
            }
            let mut strip = strips
                .as_ref()
                .and_then(|s| s.get(&p.platform))
                .or(t.as_ref().and_then(|t| t.strip));
            if let Some(meta) = metadata.as_ref().and_then(|m| m.get(&p.platform)) {
                let mut value = (*meta).clone();
                // ocx metadata files may carry `strip_components`; it is a packaging setting
                // here (the layer is stripped), so it moves out of the config.
                if let Some(obj) = value.as_object_mut()
                    && let Some(s) = obj.remove("strip_components")
                    && strip.is_none()
                {
                    strip = s.as_u64().and_then(|n| u32::try_from(n).ok());
                }
                if let Err(e) = crate::package::ocx::package_config(Some(&value)) {
                    let at = m.metadata.map_or((0, 0), |a| (a.line, a.column));
                    return Err(SpecError::Invalid {
                        path: ctx.path.to_path_buf(),
                        line: at.0,
                        column: at.1,
                        field: field("metadata"),
                        message: format!("{}: {e}", p.platform),
                    });
                }
                p.metadata = Some(Arc::new(value));
            }
            p.strip_components = strip.unwrap_or(0);
        }
        Ok(())
    }
}
