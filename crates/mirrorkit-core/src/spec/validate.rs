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

mod distro;
mod helm;
mod images;
mod lazyoci;
mod mirror;
mod packages;
mod packaging;
mod release;
mod sources;

use distro::*;
use helm::*;
use images::*;
use lazyoci::*;
use mirror::*;
use packages::*;
use release::*;
use sources::*;

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
        check_prefixes(&ctx, &mirrors)?;
        let shared = Shared {
            work_dir: file.work_dir.as_deref(),
            registries: file.registries.clone(),
            max_asset_size: file.max_asset_size.as_ref(),
        };
        shared.into_spec(&ctx, mirrors)
    } else {
        let file: PackageFile = serde_saphyr::from_str(text).map_err(|e| yaml_error(path, &e))?;
        ctx.custom_platforms = file.custom_platforms.clone();
        let m = mirror(&ctx, &file.name, (&file).into(), None)?;
        let shared = Shared {
            work_dir: file.work_dir.as_deref(),
            registries: file.registries.clone(),
            max_asset_size: file.max_asset_size.as_ref(),
        };
        shared.into_spec(&ctx, vec![m])
    }
}

/// The top-level settings both spec shapes have, besides their mirrors.
struct Shared<'f> {
    work_dir: Option<&'f Path>,
    registries: BTreeMap<String, super::RegistrySettings>,
    max_asset_size: Option<&'f Located<SizeValue>>,
}

impl Shared<'_> {
    /// The spec: these settings checked, and the GitHub sources told the insecure hosts.
    fn into_spec(self, ctx: &Ctx<'_>, mut mirrors: Vec<Mirror>) -> Result<Spec, SpecError> {
        let registries = check_registries(ctx, self.registries)?;
        share_insecure_hosts(&mut mirrors, &registries);
        Ok(Spec {
            path: ctx.path.to_path_buf(),
            work_dir: self.work_dir.map(|p| ctx.resolve(p)),
            registries,
            max_asset_size: max_asset_size(ctx, self.max_asset_size)?,
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

/// Check `registries:` and resolve its files against the spec's directory. A certificate file
/// that is missing or not PEM is named here, offline, not at the first TLS handshake.
fn check_registries(
    ctx: &Ctx<'_>,
    mut registries: BTreeMap<String, super::RegistrySettings>,
) -> Result<BTreeMap<String, super::RegistrySettings>, SpecError> {
    for (host, settings) in &mut registries {
        for file in [
            &mut settings.ca_file,
            &mut settings.client_cert,
            &mut settings.client_key,
        ]
        .into_iter()
        .flatten()
        {
            *file = ctx.resolve(file);
        }
        check_tls_files(settings).map_err(|(field, message)| {
            ctx.err_nowhere(format!("registries.{host}.{field}"), message)
        })?;
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
        check_auth_env(settings).map_err(|(field, message)| {
            ctx.err_nowhere(format!("registries.{host}.{field}"), message)
        })?;
        if settings.concurrency == Some(0) {
            return Err(ctx.err_nowhere(
                format!("registries.{host}.concurrency"),
                "must be at least 1",
            ));
        }
    }
    Ok(registries)
}

/// A registry's credentials are named once, by environment variable names (the spec never
/// holds a secret): `Err((field, message))` otherwise. Whether the variables are set is checked
/// when a run starts.
fn check_auth_env(settings: &super::RegistrySettings) -> Result<(), (&'static str, String)> {
    let given = [
        ("token_env", &settings.token_env),
        ("username_env", &settings.username_env),
        ("authorization_env", &settings.authorization_env),
    ];
    let named: Vec<&str> = given
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| *k)
        .collect();
    if named.len() > 1 {
        return Err((
            named[1],
            format!("give one of {}, not several", named.join(", ")),
        ));
    }
    if settings.username_env.is_some() != settings.password_env.is_some() {
        return Err((
            "username_env",
            "username_env and password_env go together".to_string(),
        ));
    }
    for (field, value) in [
        ("token_env", &settings.token_env),
        ("username_env", &settings.username_env),
        ("password_env", &settings.password_env),
        ("authorization_env", &settings.authorization_env),
    ] {
        if let Some(v) = value {
            let ok = !v.is_empty()
                && !v.starts_with(|c: char| c.is_ascii_digit())
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err((
                    field,
                    format!(
                        "{v:?} is not an environment variable name (the variable holds the \
                         secret; the spec names it)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A registry's certificate files exist and are PEM: `Err((field, message))` otherwise.
fn check_tls_files(settings: &super::RegistrySettings) -> Result<(), (&'static str, String)> {
    use crate::http::trust::HostTls;
    if let Some(ca) = &settings.ca_file {
        HostTls::default()
            .with_ca_file(ca)
            .map_err(|e| ("ca_file", e))?;
    }
    match (&settings.client_cert, &settings.client_key) {
        (Some(cert), Some(key)) => HostTls::default()
            .with_client_cert(cert, key)
            .map(|_| ())
            .map_err(|e| ("client_cert", e)),
        (None, None) => Ok(()),
        (Some(_), None) | (None, Some(_)) => Err((
            "client_cert",
            "client_cert and client_key go together".to_string(),
        )),
    }
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
