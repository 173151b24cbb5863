//! From parsed YAML ([`super::model`]) to a validated [`Spec`]: every rule that can be checked
//! offline, each failure naming file:line:column and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::located::Located;
use super::model::{
    AssetPatterns, GeneratorSpec, MirrorSpec, PackageFile, SourceKind, SourceSpec, SpecFile,
    TargetSpec,
};
use super::{Mirror, PlatformAssets, SourceConfig, Spec, SpecError, TargetConfig};
use crate::platform::Platform;
use crate::source::url_index::{self, Generator, IndexOrigin};

/// Default time a generator command may run.
const DEFAULT_GENERATOR_TIMEOUT: Duration = Duration::from_secs(300);

struct Ctx<'a> {
    path: &'a Path,
    /// The spec's directory, absolute, for resolving relative paths.
    dir: PathBuf,
}

impl Ctx<'_> {
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
    let ctx = Ctx { path, dir };

    let shape: Shape = serde_saphyr::from_str(text).map_err(|e| yaml_error(path, &e))?;
    if shape.mirrors.is_some() {
        let file: SpecFile = serde_saphyr::from_str(text).map_err(|e| yaml_error(path, &e))?;
        if file.mirrors.is_empty() {
            return Err(ctx.err_nowhere("mirrors", "no mirrors defined"));
        }
        let mut mirrors = Vec::new();
        for (key, m) in &file.mirrors {
            mirrors.push(mirror(&ctx, key, m.into(), file.target.as_ref())?);
        }
        check_unique_repositories(&ctx, &mirrors)?;
        check_registries(&ctx, &file.registries)?;
        Ok(Spec {
            path: path.to_path_buf(),
            work_dir: file.work_dir.as_deref().map(|p| ctx.resolve(p)),
            registries: file.registries,
            mirrors,
        })
    } else {
        let file: PackageFile = serde_saphyr::from_str(text).map_err(|e| yaml_error(path, &e))?;
        let m = mirror(&ctx, &file.name, (&file).into(), None)?;
        check_registries(&ctx, &file.registries)?;
        Ok(Spec {
            path: path.to_path_buf(),
            work_dir: file.work_dir.as_deref().map(|p| ctx.resolve(p)),
            registries: file.registries.clone(),
            mirrors: vec![m],
        })
    }
}

/// The mirror fields shared by both shapes, borrowed.
struct MirrorFields<'a> {
    prefix: &'static str,
    source: &'a SourceSpec,
    assets: &'a AssetPatterns,
    asset_type: super::AssetTypeSpec,
    compression: super::CompressionSpec,
    strip_components: Option<&'a Located<u32>>,
    repository: Option<&'a Located<String>>,
    target: Option<&'a TargetSpec>,
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
                    asset_type: m.asset_type,
                    compression: m.compression,
                    strip_components: m.strip_components.as_ref(),
                    repository: m.repository.as_ref(),
                    target: m.target.as_ref(),
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
    let repo = match m.repository {
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
        None => key.value.clone(),
    };
    let repository = match namespace {
        Some(ns) => format!("{ns}/{repo}"),
        None => repo,
    };
    let source = source(ctx, m.source, &field("source"))?;
    let platforms = platforms(ctx, m.assets, &field("assets"))?;
    Ok(Mirror {
        key: key.value.clone(),
        repository,
        target,
        source,
        platforms,
        asset_type: m.asset_type,
        compression: m.compression,
        strip_components: m.strip_components.map(|s| s.value).unwrap_or(0),
    })
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
    match s.kind.value {
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
                let document = url_index::IndexDocument {
                    versions: v.value.clone(),
                };
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
